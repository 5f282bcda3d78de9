//! The load benchmark in its seconds-long smoke mode, so it cannot rot: the binary runs
//! every variant end to end, and its figures must say what the service really did.
//! (The targets of the full run are reported by it, not asserted here.)

use std::process::Command;

use serde_json::Value;

fn f(phase: &Value, field: &str) -> f64 {
    phase[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} in {phase}"))
}

#[test]
fn smoke_run_measures_every_variant() {
    let json = std::env::temp_dir().join(format!(
        "async-cache-load-smoke-{}.json",
        std::process::id()
    ));
    let output = Command::new(env!("CARGO_BIN_EXE_load"))
        .args(["--smoke", "--json"])
        .arg(&json)
        .output()
        .expect("the load binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "load --smoke failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON report"))
            .expect("the report is JSON");
    let _ = std::fs::remove_file(&json);

    let render = f(&report, "render_ms");
    let things = f(&report, "things");
    let scheduled = (f(&report, "rate") * f(&report, "duration_s")).round();
    let phases = report["phases"].as_array().expect("phases");
    let kinds: Vec<&str> = phases.iter().map(|p| p["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "ours", "ours", "cached", "cached", "moka", "moka", "no_cache"
        ],
        "every variant ran, the TTL ones twice"
    );
    for phase in phases {
        let label = phase["label"].as_str().unwrap();
        assert!(stdout.contains(label), "the table has a row for {label}");
        assert_eq!(
            f(phase, "errors"),
            0.0,
            "{label}: {}",
            phase["error_samples"]
        );
        assert_eq!(
            f(phase, "answered"),
            scheduled,
            "{label}: every request answered"
        );
        assert_eq!(
            f(phase, "cold_renders"),
            things,
            "{label}: one render per thing to fill"
        );
        assert!(
            f(phase, "capacity_rps") > 0.0,
            "{label}: the closed loop was answered"
        );
        assert!(f(phase, "p50_ms") <= f(phase, "p99_ms"));
        assert!(f(phase, "p99_ms") <= f(phase, "p999_ms"));
        if phase["edits_on"].as_bool().unwrap() {
            assert!(f(phase, "edits") > 0.0, "{label}: the editor edited");
            assert_eq!(
                f(phase, "edits_failed"),
                0.0,
                "{label}: {}",
                phase["error_samples"]
            );
            assert!(f(phase, "edits_seen") > 0.0, "{label}: some edit showed");
            // A new body comes from a render that loaded the row after the commit.
            assert!(
                f(phase, "staleness_min_ms") >= render,
                "{label}: an edit showed {} ms after its commit, sooner than a render",
                f(phase, "staleness_min_ms")
            );
            assert!(f(phase, "staleness_min_ms") <= f(phase, "staleness_max_ms"));
        }
    }

    let [
        base,
        ours,
        cached_matched,
        cached_short,
        moka_matched,
        moka_short,
        none,
    ] = <[&Value; 7]>::try_from(phases.iter().collect::<Vec<_>>()).unwrap();
    // Ours without edits: every read after the fill was a hit.
    assert_eq!(
        f(base, "load_renders"),
        0.0,
        "ours renders nothing unless edited"
    );
    assert!(
        f(base, "p50_ms") < render && f(ours, "p50_ms") < render,
        "ours answers from memory"
    );
    // Ours with edits: at most one render per edit read.
    assert!(
        f(ours, "load_renders") <= f(ours, "edits_read"),
        "ours rendered {} times for {} edits read",
        f(ours, "load_renders"),
        f(ours, "edits_read")
    );
    assert!(f(ours, "load_renders") > 0.0, "edits read were rendered");
    // No cache: every request renders, and waits for it; so its closed loop answers
    // at most one request per connection per render, and ours more.
    assert_eq!(f(none, "load_renders"), scheduled);
    assert!(f(none, "p50_ms") >= render);
    let most = f(&report, "connections") * 1000.0 / render;
    assert!(
        f(none, "capacity_rps") <= most * 1.05,
        "{} > {most}",
        f(none, "capacity_rps")
    );
    assert!(f(ours, "capacity_rps") > f(none, "capacity_rps"));
    // The TTL variants: the TTLs they say, and fewer renders than no cache.
    for short in [cached_short, moka_short] {
        assert_eq!(short["ttl_choice"], "short");
        assert_eq!(f(short, "ttl_ms"), f(&report, "short_ttl_ms"));
    }
    for (phase, kind) in [
        (cached_matched, "cached"),
        (cached_short, "cached"),
        (moka_matched, "moka"),
        (moka_short, "moka"),
    ] {
        assert_eq!(phase["kind"], kind);
        assert!(f(phase, "ttl_ms") > 0.0);
        assert!(f(phase, "load_renders") < f(none, "load_renders"));
    }
    assert_ne!(cached_matched["ttl_choice"], "short");
    assert_ne!(moka_matched["ttl_choice"], "short");
    assert!(!report["pinning"].as_str().unwrap().is_empty());
}
