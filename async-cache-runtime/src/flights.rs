//! Generations in flight, per locator: what miss coalescing, refresh deduplication and
//! "invalidation wins" are built on.
//!
//! A flight is registered before its generator runs and removed by its [`Claim`]'s
//! drop, so a cancelled caller or a panicking generator never strands a waiter: the
//! waiters see the flight fail and take over among themselves.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::store::ErasedRecord;

type Shard = HashMap<Arc<str>, Vec<Arc<Flight>>, foldhash::fast::RandomState>;

pub(crate) struct Flights {
    hasher: foldhash::fast::RandomState,
    shards: Box<[Mutex<Shard>]>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Run by a caller that waits for it.
    InCaller,
    /// Run by the refresh worker.
    Background,
}

pub(crate) struct Flight {
    kind: Kind,
    /// `TypeId` of `(V, T)`: only callers of the same types may join.
    types: TypeId,
    version: Box<dyn Any + Send + Sync>,
    /// A queued background refresh is not joinable: its caller could be holding the
    /// very worker slot it is waiting for.
    started: AtomicBool,
    invalidated: AtomicBool,
    state: watch::Sender<State>,
}

#[derive(Clone)]
enum State {
    Running,
    Done(ErasedRecord),
    Failed,
}

/// Ownership of a registered flight. Dropping it without [`Claim::complete`] fails the
/// flight, which wakes its waiters to take over.
pub(crate) struct Claim {
    flights: Arc<Flights>,
    locator: Arc<str>,
    flight: Arc<Flight>,
}

pub(crate) enum Lead {
    /// Run the generator under this claim.
    Run(Claim),
    /// Wait for this flight, which generates the same or a newer version.
    Join(Arc<Flight>),
}

fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // Nothing user-supplied runs under these locks, so a poisoned one still holds a
    // consistent map.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Flights {
    pub(crate) fn new() -> Arc<Self> {
        let shards = std::thread::available_parallelism().map_or(8, |n| n.get() * 4);
        Arc::new(Flights {
            hasher: foldhash::fast::RandomState::default(),
            shards: (0..shards.next_power_of_two())
                .map(|_| Mutex::default())
                .collect(),
        })
    }

    fn shard(&self, locator: &str) -> &Mutex<Shard> {
        let hash = self.hasher.hash_one(locator) as usize;
        &self.shards[hash & (self.shards.len() - 1)]
    }

    /// For a caller that must generate `version` or newer: join a running flight that
    /// does, or claim a new one.
    pub(crate) fn lead_or_join<V, T>(self: &Arc<Self>, locator: &str, version: &V) -> Lead
    where
        V: Ord + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let types = TypeId::of::<(V, T)>();
        let mut shard = lock(self.shard(locator));
        let flights = flights_of(&mut shard, locator);
        // An invalidated flight is not joined: its result predates the invalidation.
        let joinable = flights.iter().find(|f| {
            f.types == types
                && f.started.load(SeqCst)
                && !f.invalidated.load(SeqCst)
                && f.generates_at_least(version)
        });
        if let Some(flight) = joinable {
            return Lead::Join(flight.clone());
        }
        let flight = Flight::new::<V, T>(Kind::InCaller, version, true);
        flights.push(flight.clone());
        Lead::Run(self.claim(locator, flight))
    }

    /// Claims the one background refresh of `locator`, unless one is already in
    /// flight or another flight already generates `version` or newer.
    pub(crate) fn claim_refresh<V, T>(self: &Arc<Self>, locator: &str, version: &V) -> Option<Claim>
    where
        V: Ord + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let types = TypeId::of::<(V, T)>();
        let mut shard = lock(self.shard(locator));
        let flights = flights_of(&mut shard, locator);
        // One background refresh per locator, even an invalidated one; another
        // flight covers this refresh only if its result will be stored.
        let covered = flights.iter().any(|f| {
            f.kind == Kind::Background
                || (f.types == types
                    && !f.invalidated.load(SeqCst)
                    && f.generates_at_least(version))
        });
        if covered {
            return None;
        }
        let flight = Flight::new::<V, T>(Kind::Background, version, false);
        flights.push(flight.clone());
        Some(self.claim(locator, flight))
    }

    /// Marks every flight of `locator` so that none of them stores its result.
    pub(crate) fn invalidate(&self, locator: &str) {
        if let Some(flights) = lock(self.shard(locator)).get(locator) {
            flights.iter().for_each(Flight::invalidate);
        }
    }

    pub(crate) fn invalidate_all(&self) {
        for shard in self.shards.iter() {
            lock(shard).values().flatten().for_each(Flight::invalidate);
        }
    }

    fn claim(self: &Arc<Self>, locator: &str, flight: Arc<Flight>) -> Claim {
        Claim {
            flights: self.clone(),
            locator: Arc::from(locator),
            flight,
        }
    }
}

/// The flights of `locator`, an empty list made if there are none. Only callers about
/// to push a flight use it, so no empty list is left behind.
fn flights_of<'a>(shard: &'a mut Shard, locator: &str) -> &'a mut Vec<Arc<Flight>> {
    if !shard.contains_key(locator) {
        shard.insert(Arc::from(locator), Vec::with_capacity(1));
    }
    shard.get_mut(locator).expect("inserted above")
}

impl Flight {
    fn new<V, T>(kind: Kind, version: &V, started: bool) -> Arc<Self>
    where
        V: Clone + Send + Sync + 'static,
        T: 'static,
    {
        Arc::new(Flight {
            kind,
            types: TypeId::of::<(V, T)>(),
            version: Box::new(version.clone()),
            started: AtomicBool::new(started),
            invalidated: AtomicBool::new(false),
            state: watch::Sender::new(State::Running),
        })
    }

    fn generates_at_least<V: Ord + 'static>(&self, version: &V) -> bool {
        self.version
            .downcast_ref::<V>()
            .is_some_and(|v| v >= version)
    }

    fn invalidate(self: &Arc<Self>) {
        self.invalidated.store(true, SeqCst);
    }

    /// The flight's result, shared by its runner; `None` if it failed or was
    /// abandoned, in which case the waiter should try again.
    pub(crate) async fn wait(&self) -> Option<ErasedRecord> {
        let mut state = self.state.subscribe();
        let state = state
            .wait_for(|s| !matches!(s, State::Running))
            .await
            .ok()?;
        match &*state {
            State::Done(result) => Some(result.clone()),
            State::Running | State::Failed => None,
        }
    }
}

impl Claim {
    /// Whether its result may still be stored: no invalidation since it was claimed.
    pub(crate) fn is_valid(&self) -> bool {
        !self.flight.invalidated.load(SeqCst)
    }

    /// A background refresh that leaves the queue becomes joinable.
    pub(crate) fn start(&self) {
        self.flight.started.store(true, SeqCst);
    }

    pub(crate) fn locator(&self) -> &str {
        &self.locator
    }

    /// Hands `result` to every waiter; dropping the claim then releases it.
    pub(crate) fn complete(&self, result: ErasedRecord) {
        self.flight.state.send_replace(State::Done(result));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Out of the list before it fails, so that a waiter woken by the failure
        // cannot find it again and spin on it.
        {
            let mut shard = lock(self.flights.shard(&self.locator));
            if let Some(flights) = shard.get_mut(&*self.locator) {
                flights.retain(|f| !Arc::ptr_eq(f, &self.flight));
                if flights.is_empty() {
                    shard.remove(&*self.locator);
                }
            }
        }
        self.flight.state.send_if_modified(|state| match state {
            State::Running => {
                *state = State::Failed;
                true
            }
            State::Done(_) | State::Failed => false,
        });
    }
}
