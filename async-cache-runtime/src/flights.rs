//! Generations in flight, per locator: what miss coalescing, refresh deduplication and
//! "invalidation wins" are built on.
//!
//! A flight is registered before its generator runs and removed by its [`Claim`]'s
//! drop, so a cancelled caller or a panicking generator never strands a waiter. How
//! the flight ended tells the waiters what to do: a result is theirs; a *failure*
//! (`Err` or panic) sends each to run its own generation, so no caller queues behind
//! a chain of failures (contract §2.11); an *abandoned* flight (its caller was
//! cancelled) lets them coalesce again.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::watch;

use crate::store::ErasedRecord;

mod reentry;
pub(crate) use reentry::{generating, is_generating};
#[cfg(test)]
mod tests;

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
    /// A background refresh's trailing refresh (contract §6.5): the newest version a
    /// stale read asked while it ran, and what runs it (opaque here).
    trailing: Mutex<Trailing>,
}

enum Trailing {
    /// Offers are taken: the refresh has not ended.
    Open(Option<Kept>),
    /// The refresh released its claim (handing over what was kept, or dropping it):
    /// a later offer is refused, and its read claims a refresh of its own.
    Closed,
}

struct Kept {
    version: Box<dyn Any + Send + Sync>,
    run: Box<dyn Any + Send>,
    /// An invalidation came after the read that asked for it: it will not run, and
    /// any later read's offer replaces it.
    voided: bool,
}

#[derive(Clone)]
enum State {
    Running,
    Done(ErasedRecord),
    Failed,
    Abandoned,
}

/// How a joined flight ended, for its waiter.
pub(crate) enum Landed {
    /// Its result, shared by its runner.
    Done(ErasedRecord),
    /// Its generator returned `Err` or panicked: the waiter runs its own generation.
    Failed,
    /// Its runner went away without a result: the waiters coalesce again.
    Abandoned,
}

/// Ownership of a registered flight. Dropping it without [`Claim::complete`] or
/// [`Claim::fail`] abandons the flight, which wakes its waiters to take over.
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
    /// does (only if `may_join`), or claim a new one.
    pub(crate) fn lead_or_join<V, T>(
        self: &Arc<Self>,
        locator: &str,
        version: &V,
        may_join: bool,
    ) -> Lead
    where
        V: Ord + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let types = TypeId::of::<(V, T)>();
        let mut shard = lock(self.shard(locator));
        let flights = flights_of(&mut shard, locator);
        // An invalidated flight is not joined: its result predates the invalidation.
        let joinable = flights.iter().filter(|_| may_join).find(|f| {
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
    /// flight (then `Err` with it, if it is of these types, for a trailing refresh)
    /// or another flight already generates `version` or newer (`Err(None)`).
    pub(crate) fn claim_refresh<V, T>(
        self: &Arc<Self>,
        locator: &str,
        version: &V,
    ) -> Result<Claim, Option<Arc<Flight>>>
    where
        V: Ord + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let mut shard = lock(self.shard(locator));
        let flights = flights_of(&mut shard, locator);
        let claimed = claim_background::<V, T>(flights, version);
        if flights.is_empty() {
            shard.remove(locator);
        }
        drop(shard);
        claimed.map(|flight| self.claim(locator, flight))
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

/// The one background refresh of a locator whose flights are `flights`, pushed there,
/// unless one is there already (`Err` with it, if of these types) or another flight
/// that will store its result generates `version` or newer (`Err(None)`).
fn claim_background<V, T>(
    flights: &mut Vec<Arc<Flight>>,
    version: &V,
) -> Result<Arc<Flight>, Option<Arc<Flight>>>
where
    V: Ord + Clone + Send + Sync + 'static,
    T: 'static,
{
    let types = TypeId::of::<(V, T)>();
    // One background refresh per locator, even an invalidated one; another flight
    // covers this refresh only if its result will be stored.
    if let Some(running) = flights.iter().find(|f| f.kind == Kind::Background) {
        return Err(Some(running.clone()).filter(|f| f.types == types));
    }
    let covered = flights
        .iter()
        .any(|f| f.types == types && !f.invalidated.load(SeqCst) && f.generates_at_least(version));
    if covered {
        return Err(None);
    }
    let flight = Flight::new::<V, T>(Kind::Background, version, false);
    flights.push(flight.clone());
    Ok(flight)
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
            trailing: Mutex::new(Trailing::Open(None)),
        })
    }

    fn trailing(&self) -> MutexGuard<'_, Trailing> {
        // Nothing user-supplied runs under this lock either: displaced runs are
        // dropped after it is released.
        self.trailing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether a stale read of `version` should make its refresh's future to offer
    /// it: `version` is newer than the one refreshed and than any trailing one kept
    /// already, or the refresh has released its claim (the offer is then refused and
    /// the read claims its own). Asked before the read makes the future, so that
    /// reads of a version already covered make none.
    pub(crate) fn wants_trailing<V: Ord + 'static>(&self, version: &V) -> bool {
        match &*self.trailing() {
            Trailing::Open(_) if self.generates_at_least(version) => false,
            Trailing::Open(kept) => kept.as_ref().is_none_or(|kept| kept.yields_to(version)),
            Trailing::Closed => true,
        }
    }

    /// Keeps `run` as this refresh's trailing refresh if `version` is newer than the
    /// one it refreshes and than any trailing one kept already; `Err(run)` if the
    /// refresh has released its claim (then the locator is free of it, and the caller
    /// claims its own).
    pub(crate) fn offer_trailing<V: Ord + Send + Sync + 'static>(
        &self,
        version: V,
        run: Box<dyn Any + Send>,
    ) -> Result<(), Box<dyn Any + Send>> {
        let displaced = {
            let mut trailing = self.trailing();
            let Trailing::Open(kept) = &mut *trailing else {
                return Err(run);
            };
            if self.generates_at_least(&version) {
                // No trailing refresh for the version already being refreshed.
                Some(run)
            } else if kept.as_ref().is_none_or(|kept| kept.yields_to(&version)) {
                kept.replace(Kept {
                    version: Box::new(version),
                    run,
                    voided: false,
                })
                .map(|kept| kept.run)
            } else {
                Some(run)
            }
        };
        drop(displaced);
        Ok(())
    }

    pub(crate) fn generates_at_least<V: Ord + 'static>(&self, version: &V) -> bool {
        self.version
            .downcast_ref::<V>()
            .is_some_and(|v| v >= version)
    }

    fn invalidate(self: &Arc<Self>) {
        self.invalidated.store(true, SeqCst);
        // Voided, not dropped: its future is user code, not dropped under the shard
        // lock. A read after the invalidation may still offer one that runs.
        if let Trailing::Open(Some(kept)) = &mut *self.trailing() {
            kept.voided = true;
        }
    }

    /// How the flight ended.
    pub(crate) async fn wait(&self) -> Landed {
        let mut state = self.state.subscribe();
        let Ok(state) = state.wait_for(|s| !matches!(s, State::Running)).await else {
            return Landed::Abandoned;
        };
        match &*state {
            State::Done(result) => Landed::Done(result.clone()),
            State::Failed => Landed::Failed,
            State::Running | State::Abandoned => Landed::Abandoned,
        }
    }
}

impl Kept {
    /// Whether an offer of `version` replaces it: it is voided, of other types, or
    /// of an older version.
    fn yields_to<V: Ord + 'static>(&self, version: &V) -> bool {
        self.voided
            || self
                .version
                .downcast_ref::<V>()
                .is_none_or(|kept| kept < version)
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

    pub(crate) fn flight(&self) -> &Arc<Flight> {
        &self.flight
    }

    /// Hands `result` to every waiter; dropping the claim then releases it.
    pub(crate) fn complete(&self, result: ErasedRecord) {
        self.flight.state.send_replace(State::Done(result));
    }

    /// Tells the waiters that the generator failed, so that each runs its own.
    pub(crate) fn fail(&self) {
        self.end_unless_done(State::Failed);
    }

    fn end_unless_done(&self, end: State) {
        self.flight.state.send_if_modified(|state| match state {
            State::Running => {
                *state = end;
                true
            }
            State::Done(_) | State::Failed | State::Abandoned => false,
        });
    }
}

impl Claim {
    /// Releases this background refresh's claim and, in the same step, claims the
    /// trailing refresh kept beside it (contract §6.5), if there is one that no
    /// invalidation voided and no generation in flight covers: what runs it, with its
    /// claim. In one step under the locator's lock, so that no read finds the locator
    /// free in between (and claims a refresh the trailing one would then trail), and
    /// no invalidation falls between the two claims unseen.
    pub(crate) fn hand_over<V, T>(self) -> Option<(Box<dyn Any + Send>, Claim)>
    where
        V: Ord + Clone + Send + Sync + 'static,
        T: 'static,
    {
        let (kept, next) = {
            let mut shard = lock(self.flights.shard(&self.locator));
            let kept = self.leave(&mut shard).filter(|kept| !kept.voided);
            let version = kept
                .as_ref()
                .and_then(|kept| kept.version.downcast_ref::<V>());
            let next = version.and_then(|version| {
                let flights = flights_of(&mut shard, &self.locator);
                let claimed = claim_background::<V, T>(flights, version).ok();
                if flights.is_empty() {
                    shard.remove(&*self.locator);
                }
                claimed
            });
            (kept, next)
        };
        // Whatever is not handed over is dropped here, out of the lock (it holds user
        // futures); this claim's drop then finds itself gone.
        let next = next.map(|flight| self.flights.claim(&self.locator, flight));
        kept.zip(next).map(|(kept, next)| (kept.run, next))
    }

    /// Takes the flight out of the list and closes its trailing slot, handing back
    /// what it kept; once out, no read can offer it more, nor an invalidation void it.
    fn leave(&self, shard: &mut Shard) -> Option<Kept> {
        if let Some(flights) = shard.get_mut(&*self.locator) {
            flights.retain(|f| !Arc::ptr_eq(f, &self.flight));
            if flights.is_empty() {
                shard.remove(&*self.locator);
            }
        }
        match std::mem::replace(&mut *self.flight.trailing(), Trailing::Closed) {
            Trailing::Open(kept) => kept,
            Trailing::Closed => None,
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Out of the list before it fails, so that a waiter woken by the failure
        // cannot find it again and spin on it. A trailing refresh kept is dropped
        // with it, out of the lock: a claim given up without a hand-over (cancelled,
        // invalidated, backed off) runs none.
        let kept = {
            let mut shard = lock(self.flights.shard(&self.locator));
            self.leave(&mut shard)
        };
        drop(kept);
        // Neither completed nor failed: its runner was cancelled.
        self.end_unless_done(State::Abandoned);
    }
}
