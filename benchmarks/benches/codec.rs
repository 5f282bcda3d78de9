//! The shared tier's record format (MessagePack) against postcard: encode and decode
//! of a 1.2 KiB record; the sizes are printed.
//!
//! `cargo bench -p benchmarks --bench codec`

use std::hint::black_box;

use benchmarks::codec::{Format, thing};
use criterion::Criterion;

fn codec(c: &mut Criterion) {
    let thing = thing();
    let mut group = c.benchmark_group("codec");
    for format in Format::ALL {
        let bytes = format.encode(&thing);
        println!("{}: {} bytes", format.name(), bytes.len());
        group.bench_function(format!("{}/encode", format.id()), |b| {
            b.iter(|| format.encode(black_box(&thing)));
        });
        group.bench_function(format!("{}/decode", format.id()), |b| {
            b.iter(|| format.decode(black_box(&bytes)));
        });
    }
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    codec(&mut c);
    c.final_summary();
}
