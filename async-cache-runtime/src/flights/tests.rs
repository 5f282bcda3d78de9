//! The claim registry on its own: who leads, who joins, and what each waiter learns.

use std::sync::Arc;

use super::*;
use crate::store::{ErasedRecord, Record};

fn record(version: u64, value: &'static str) -> ErasedRecord {
    ErasedRecord::new(Arc::new(Record::new(version, value, 0)))
}

fn run(lead: Lead) -> Claim {
    match lead {
        Lead::Run(claim) => claim,
        Lead::Join(_) => panic!("expected to lead, joined"),
    }
}

fn join(lead: Lead) -> Arc<Flight> {
    match lead {
        Lead::Join(flight) => flight,
        Lead::Run(_) => panic!("expected to join, led"),
    }
}

fn lead(flights: &Arc<Flights>, locator: &str, version: u64) -> Lead {
    flights.lead_or_join::<u64, &'static str>(locator, &version, true)
}

#[test]
fn callers_of_the_same_or_an_older_version_join_newer_ones_lead() {
    let flights = Flights::new();
    let _leader = run(lead(&flights, "k", 5));
    join(lead(&flights, "k", 5));
    join(lead(&flights, "k", 4));
    let _newer = run(lead(&flights, "k", 6));
    // Another locator is independent.
    let _other = run(lead(&flights, "j", 5));
}

#[test]
fn only_callers_of_the_same_types_join() {
    let flights = Flights::new();
    let _leader = run(lead(&flights, "k", 5));
    run(flights.lead_or_join::<u64, String>("k", &5, true));
    run(flights.lead_or_join::<u32, &'static str>("k", &5, true));
}

#[test]
fn a_caller_that_may_not_join_leads_beside_the_running_flight() {
    let flights = Flights::new();
    let _leader = run(lead(&flights, "k", 5));
    let _own = run(flights.lead_or_join::<u64, &'static str>("k", &5, false));
    // Both are registered: a later caller still joins one of them.
    join(lead(&flights, "k", 5));
}

#[tokio::test]
async fn a_completed_flight_hands_its_record_to_waiters() {
    let flights = Flights::new();
    let leader = run(lead(&flights, "k", 5));
    let flight = join(lead(&flights, "k", 5));
    leader.complete(record(5, "made"));
    match flight.wait().await {
        Landed::Done(record) => {
            let record = record.typed::<u64, &'static str>().expect("its types");
            assert_eq!((record.version, record.value), (5, "made"));
        }
        _ => panic!("expected the result"),
    }
}

#[tokio::test]
async fn a_failed_flight_says_so_and_a_dropped_one_is_abandoned() {
    let flights = Flights::new();
    let failing = run(lead(&flights, "k", 5));
    let waiting = join(lead(&flights, "k", 5));
    failing.fail();
    drop(failing);
    assert!(matches!(waiting.wait().await, Landed::Failed));

    let cancelled = run(lead(&flights, "k", 5));
    let waiting = join(lead(&flights, "k", 5));
    drop(cancelled);
    assert!(matches!(waiting.wait().await, Landed::Abandoned));
}

#[test]
fn a_released_claim_leaves_the_registry() {
    let flights = Flights::new();
    drop(run(lead(&flights, "k", 5)));
    let _next = run(lead(&flights, "k", 5));
    assert_eq!(lock(flights.shard("k")).get("k").map(Vec::len), Some(1));
    drop(_next);
    assert!(
        lock(flights.shard("k")).get("k").is_none(),
        "no empty list left"
    );
}

#[test]
fn an_invalidated_flight_is_not_joined_and_stores_nothing() {
    let flights = Flights::new();
    let leader = run(lead(&flights, "k", 5));
    flights.invalidate("k");
    assert!(!leader.is_valid());
    let fresh = run(lead(&flights, "k", 5));
    assert!(fresh.is_valid());
    flights.invalidate_all();
    assert!(!fresh.is_valid());
}

#[test]
fn one_background_refresh_per_locator_joinable_once_started() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .expect("the first claims it");
    let running = flights
        .claim_refresh::<u64, &'static str>("k", &6)
        .err()
        .expect("one per locator");
    assert!(running.is_some(), "handed back, for a trailing refresh");
    // Queued, it is not joined: its caller could hold the very place it waits for.
    let _own = run(lead(&flights, "k", 5));
    refresh.start();
    join(lead(&flights, "k", 5));
}

#[test]
fn a_running_generation_covers_a_refresh_of_its_version_or_older() {
    let flights = Flights::new();
    let _leader = run(lead(&flights, "k", 5));
    assert!(matches!(
        flights.claim_refresh::<u64, &'static str>("k", &5),
        Err(None)
    ));
    assert!(flights.claim_refresh::<u64, &'static str>("k", &6).is_ok());
}

#[tokio::test]
async fn a_task_knows_the_flights_it_generates() {
    let flights = Flights::new();
    let outer = run(lead(&flights, "outer", 1));
    let inner = run(lead(&flights, "inner", 1));
    let (outer_flight, inner_flight) = (outer.flight().clone(), inner.flight().clone());
    assert!(!is_generating(&outer_flight));
    let seen = generating(&outer_flight, true, async {
        generating(&inner_flight, true, async {
            (is_generating(&outer_flight), is_generating(&inner_flight))
        })
        .await
    })
    .await;
    assert_eq!(seen, (true, true), "nested generations see their parents");
    let detached = generating(&outer_flight, true, async {
        generating(&inner_flight, false, async { is_generating(&outer_flight) }).await
    })
    .await;
    assert!(
        !detached,
        "a background refresh is not nested in its scheduler"
    );
}

/// The trailing refresh a released claim hands over, by its run's label and the
/// version its new claim refreshes.
fn handed_over(refresh: Claim) -> Option<(&'static str, Claim)> {
    refresh
        .hand_over::<u64, &'static str>()
        .map(|(run, claim)| (*run.downcast::<&str>().unwrap(), claim))
}

#[test]
fn a_refresh_keeps_the_newest_trailing_version_asked_and_no_older_one() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    let flight = refresh.flight().clone();
    assert!(
        !flight.wants_trailing(&5_u64),
        "not for the version being refreshed"
    );
    assert!(
        flight
            .offer_trailing(5_u64, Box::new("same version"))
            .is_ok()
    );
    assert!(flight.wants_trailing(&7_u64));
    assert!(flight.offer_trailing(7_u64, Box::new("seven")).is_ok());
    assert!(!flight.wants_trailing(&6_u64) && !flight.wants_trailing(&7_u64));
    assert!(flight.offer_trailing(6_u64, Box::new("six")).is_ok());
    assert!(flight.offer_trailing(8_u64, Box::new("eight")).is_ok());
    let (kept, next) = handed_over(refresh).expect("the newest");
    assert_eq!(kept, "eight");
    // Handed over with its claim: the locator is never free in between.
    assert!(next.flight().generates_at_least(&8_u64) && !next.flight().generates_at_least(&9_u64));
    assert!(matches!(
        flights.claim_refresh::<u64, &'static str>("k", &9),
        Err(Some(_))
    ));
    assert!(
        flight.offer_trailing(9_u64, Box::new("nine")).is_err(),
        "the first one takes no more"
    );
    assert!(handed_over(next).is_none(), "taken once");
    assert!(flights.claim_refresh::<u64, &'static str>("k", &9).is_ok());
}

#[test]
fn a_released_refresh_refuses_offers_and_frees_its_locator() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    let running = flights
        .claim_refresh::<u64, &'static str>("k", &6)
        .err()
        .flatten()
        .expect("the running refresh, to trail");
    // It ends between the read's claim and its offer.
    assert!(handed_over(refresh).is_none());
    assert!(running.wants_trailing(&6_u64), "made, to be refused");
    let refused = running
        .offer_trailing(6_u64, Box::new("six"))
        .expect_err("refused once released");
    assert_eq!(*refused.downcast::<&str>().unwrap(), "six");
    assert!(
        flights.claim_refresh::<u64, &'static str>("k", &6).is_ok(),
        "the refused read claims its own"
    );
}

#[test]
fn a_refresh_dropped_without_a_hand_over_runs_no_trailing_refresh() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    let flight = refresh.flight().clone();
    assert!(flight.offer_trailing(6_u64, Box::new("six")).is_ok());
    drop(refresh);
    assert!(
        flight.offer_trailing(7_u64, Box::new("seven")).is_err(),
        "closed"
    );
    assert!(flights.claim_refresh::<u64, &'static str>("k", &6).is_ok());
}

#[test]
fn a_generation_in_flight_covers_the_trailing_refresh() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    assert!(
        refresh
            .flight()
            .offer_trailing(6_u64, Box::new("six"))
            .is_ok()
    );
    let _leader = run(lead(&flights, "k", 7));
    assert!(handed_over(refresh).is_none());
}

#[test]
fn an_invalidation_voids_the_trailing_refresh_asked_before_it_only() {
    let flights = Flights::new();
    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    let flight = refresh.flight().clone();
    assert!(flight.offer_trailing(7_u64, Box::new("seven")).is_ok());
    flights.invalidate("k");
    assert!(
        flight.wants_trailing(&6_u64),
        "a voided one yields to any newer read"
    );
    assert!(handed_over(refresh).is_none(), "asked before: voided");

    let refresh = flights
        .claim_refresh::<u64, &'static str>("k", &5)
        .ok()
        .unwrap();
    let flight = refresh.flight().clone();
    assert!(flight.offer_trailing(7_u64, Box::new("seven")).is_ok());
    flights.invalidate("k");
    assert!(flight.offer_trailing(6_u64, Box::new("six, after")).is_ok());
    let (kept, next) = handed_over(refresh).expect("asked after the invalidation");
    assert_eq!(kept, "six, after");
    assert!(
        next.is_valid(),
        "a claim of its own, after the invalidation"
    );
}
