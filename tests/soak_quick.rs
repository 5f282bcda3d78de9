//! The soak's quick mode, so that `cargo test --workspace` (and CI) runs it.

#[path = "../examples/soak.rs"]
mod soak;

#[test]
fn quick_soak_keeps_every_promise() {
    let config = soak::Config::quick();
    match soak::run(&config) {
        Ok(report) => {
            println!("{report}");
            assert_eq!(report.completed, config.fetches);
        }
        Err(violations) => panic!("{violations:#?}"),
    }
}
