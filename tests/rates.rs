//! The `refresh_after` example (`examples/rates.rs`), run with its own durations: each
//! read is served as its step says, with the upstream answer and call count it must
//! have.

#[path = "../examples/rates.rs"]
mod rates;

use async_cache_runtime::Served;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_entry_refreshes_before_it_expires_and_an_outage_goes_unnoticed() {
    let (reads, stats) = rates::run(rates::Timing::quick()).await;
    for read in &reads {
        println!("{read}");
    }
    let seen: Vec<(Option<Served>, Option<u64>, u64)> = reads
        .iter()
        .map(|read| {
            (
                read.served,
                read.rates.as_ref().ok().map(|rates| rates.revision),
                read.upstream_calls,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some(Served::Miss), Some(1), 1),
            (Some(Served::Hit), Some(1), 1),
            // Stale by age: the old answer at once, the refresh behind it.
            (Some(Served::Stale), Some(1), 2),
            (Some(Served::Hit), Some(2), 2),
            // The upstream is down: its refresh fails, the reader sees the old answer.
            (Some(Served::Stale), Some(2), 3),
            // Expired, and the read's own call fails: the fallback.
            (Some(Served::FailSafe), Some(2), 4),
            // Throttled: no call at all.
            (Some(Served::FailSafe), Some(2), 4),
            // Back up: an expired entry is asked for again in the read.
            (Some(Served::Miss), Some(3), 5),
        ],
        "{reads:#?}"
    );
    let eur_usd = reads[3].rates.as_ref().expect("answer 2").eur_usd;
    assert!((eur_usd - 1.10).abs() < 1e-9, "{eur_usd}");
    assert_eq!(
        (
            stats.hits,
            stats.stale_hits,
            stats.misses,
            stats.fail_safe_hits,
            stats.refreshes_started,
            stats.refreshes_completed,
            stats.refreshes_failed,
        ),
        (2, 2, 2, 2, 2, 1, 1),
        "{stats:?}"
    );
}
