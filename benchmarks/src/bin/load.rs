//! The load benchmark (see the `benchmarks::load` module): the web example's service
//! under a fixed request rate while things change, ours against `cached`, moka and no
//! cache. Prints the README's "Under load" table and its targets.
//!
//! ```text
//! cargo run --release -p benchmarks --bin load
//! cargo run --release -p benchmarks --bin load -- --smoke --json /tmp/load.json
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use benchmarks::load::{self, Config};
use benchmarks::machine;

const USAGE: &str = "\
usage: load [--smoke] [--rate N] [--seconds N] [--no-pin] [--json PATH]

  --smoke      seconds long, at a low rate (what the test runs)
  --rate N     requests per second (default 2000; smoke 300)
  --seconds N  seconds of load per variant (default 20; smoke 2)
  --no-pin     do not pin the server and the load generator to different CPUs
  --json PATH  also write the figures as JSON";

fn main() -> ExitCode {
    let mut config = Config::full();
    let mut json = None;
    let mut args = std::env::args().skip(1);
    let mut overrides = Vec::new();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--smoke" => {
                config = Config {
                    pin: config.pin,
                    ..Config::smoke()
                }
            }
            "--no-pin" => config.pin = false,
            "--rate" | "--seconds" | "--json" => match args.next() {
                Some(value) => overrides.push((flag, value)),
                None => return usage(&format!("{flag} needs a value")),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    for (flag, value) in overrides {
        match flag.as_str() {
            "--json" => json = Some(value),
            "--rate" => match value.parse::<f64>() {
                Ok(rate) if rate > 0.0 => config.rate = rate,
                _ => return usage(&format!("--rate {value:?}: expected requests per second")),
            },
            _ => match value.parse::<u64>() {
                Ok(s) if s > 0 => config.duration = Duration::from_secs(s),
                _ => return usage(&format!("--seconds {value:?}: expected seconds")),
            },
        }
    }

    let started = Instant::now();
    let load_before = machine::load_average();
    let report = load::run(&config, |phase| eprintln!("{phase} ..."));
    let load_after = machine::load_average();

    println!("{}", report.table());
    println!("{}", report.targets());
    println!(
        "{} things (Zipf s = {}), {:.0} requests/s offered for {:.0} s per variant, an edit of one \
         of the {} most popular every {:.0} ms, {:.0} ms render; {}.",
        report.things,
        report.zipf,
        report.rate,
        report.duration_s,
        report.popular,
        report.edit_every_ms,
        report.render_ms,
        report.pinning
    );
    println!(
        "Ran in {:.0} s on {} ({} CPUs), {}; load average {} before, {} after.",
        started.elapsed().as_secs_f64(),
        machine::cpu_model(),
        report.cpus,
        machine::rustc_version(),
        load_before,
        load_after
    );
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&report).expect("the report as JSON");
        if let Err(error) = std::fs::write(&path, text) {
            eprintln!("error: writing {path}: {error}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{USAGE}");
    ExitCode::from(2)
}
