//! The front never answers with what moka no longer holds: evicted, removed,
//! replaced, or swept after a clear.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

use super::{Expiry, Slots};
use crate::store::record::Record;

fn offer(slots: &Slots, locator: &str, version: u64) -> bool {
    let record = Arc::new(Record::new(version, format!("{locator}@{version}"), 0));
    slots.offer(locator, &record, Expiry::default(), None, None, || true)
}

fn served(slots: &Slots, locator: &str) -> Option<u64> {
    slots
        .lookup::<u64, String>(locator)
        .map(|found| found.record.version)
}

#[test]
fn past_capacity_the_front_serves_exactly_what_moka_kept() {
    let slots = Slots::new(64);
    let locators: Vec<String> = (0..2_000).map(|i| format!("things/{i}")).collect();
    for locator in &locators {
        offer(&slots, locator, 1);
    }
    slots.map.run_pending_tasks();
    let kept = slots.map.entry_count();
    assert!(kept <= 64, "moka bounds the entries: {kept}");
    let mut in_front = 0;
    for locator in &locators {
        let in_moka = slots.map.contains_key(locator.as_str());
        assert_eq!(
            served(&slots, locator).is_some(),
            in_moka,
            "{locator}: the front serves it exactly when moka holds it"
        );
        in_front += usize::from(in_moka);
    }
    assert_eq!(in_front as u64, kept);
    assert_eq!(
        slots.front.len() as u64,
        kept,
        "evicted slots left the front"
    );
}

#[test]
fn removed_replaced_marked_and_cleared_slots_leave_the_front() {
    let slots = Slots::new(1_000);
    assert!(offer(&slots, "a", 1));
    assert!(offer(&slots, "b", 1));
    assert_eq!(served(&slots, "a"), Some(1));

    assert!(offer(&slots, "a", 2));
    assert_eq!(served(&slots, "a"), Some(2), "the replacement is served");
    assert!(!offer(&slots, "a", 1), "no downgrade through the front");
    assert_eq!(served(&slots, "a"), Some(2));

    slots.mark("a");
    let found = slots
        .lookup::<u64, String>("a")
        .expect("marked, still held");
    assert!(found.marked, "the front serves the marked slot");

    slots.remove("a");
    assert_eq!(served(&slots, "a"), None, "removed: gone from the front");

    let epoch = slots.clear();
    assert_eq!(served(&slots, "b"), None, "cleared: unreadable at once");
    slots.sweep(epoch);
    slots.map.run_pending_tasks();
    assert_eq!(slots.front.len(), 0, "swept slots left the front");
    assert!(offer(&slots, "b", 1));
    assert_eq!(served(&slots, "b"), Some(1));
}

/// A reader that starts after a removal returned never gets the removed version,
/// however the front and moka interleave with the writer.
#[test]
fn a_read_after_a_removal_never_sees_the_removed_version() {
    let slots = Arc::new(Slots::new(1_000));
    let removed = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (slots, removed, done) = (slots.clone(), removed.clone(), done.clone());
            std::thread::spawn(move || {
                let mut seen = 0_u64;
                while !done.load(SeqCst) {
                    let floor = removed.load(SeqCst);
                    if let Some(version) = served(&slots, "hot") {
                        assert!(
                            version > floor,
                            "version {version} served after its removal returned"
                        );
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    for version in 1..=20_000 {
        assert!(offer(&slots, "hot", version));
        if version % 2 == 0 {
            slots.mark("hot");
        }
        slots.remove("hot");
        removed.store(version, SeqCst);
    }
    done.store(true, SeqCst);
    let seen: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(seen > 0, "the readers met the entry while it was held");
}
