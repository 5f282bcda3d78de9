//! Version-based stale-while-revalidate caching for async Rust. A slightly stale value
//! is served at once while an up-to-date one is generated in the background.
//!
//! ```
//! use async_cache_runtime::Cache;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let cache = Cache::new();
//! let updated_at = 20151210063911_u64;
//! let json = cache
//!     .fetch("things/123", updated_at, || async { r#"{"id":123}"#.to_string() })
//!     .await;
//! assert_eq!(json, r#"{"id":123}"#);
//! # }
//! ```
//!
//! The rest of this page is the behaviour contract: what users and the tests rely on.
//! Tests cite it by section, as "contract §2.11 (crate docs)"; `ARCHITECTURE.md` at the
//! repository root says which file enforces each guarantee and which test checks it.
//! Where the contract is silent, the cache does what a careful user of tokio, moka and
//! serde would expect, and documents it on the item.
//!
//! # 1. The model
//!
//! An entry has three parts:
//!
//! | part | example | role |
//! | --- | --- | --- |
//! | locator | `"things/123"` | constant key; always finds the record, whatever its age |
//! | version | `thing.updated_at` as an integer | which state of the thing the value was made from |
//! | value | the rendered JSON | what the caller wants |
//!
//! [`fetch(locator, version, generate)`](Cache::fetch) decides, for the entry stored
//! under `locator`:
//!
//! | stored entry | requested version vs stored | worker available | `force_sync` | action | caller gets |
//! | --- | --- | --- | --- | --- | --- |
//! | none (or expired, or of another type) | - | - | - | run `generate` now, store, return | fresh value |
//! | present | requested <= stored | - | - | nothing | stored value (hit) |
//! | present | requested > stored | yes | false | schedule one background refresh | stored (stale) value, at once |
//! | present | requested > stored | no | false | run `generate` now, store, return | fresh value |
//! | present | requested > stored | - | true | run `generate` now (or join an in-flight refresh of that version), store, return | fresh value |
//!
//! Versions are ordered ([`Ord`]): an equal or *older* requested version counts as
//! current, so a lagging replica never causes a refresh storm or a downgrade.
//!
//! "Worker available" means a background refresh can actually run: a tokio runtime is
//! reachable (the one given to [`CacheBuilder::runtime`], or the current one) and the
//! cache's refresh worker is not shut down. Called from a non-tokio executor (e.g.
//! `futures::executor::block_on`) there is no worker, and stale entries are
//! regenerated synchronously, never left stale forever.
//!
//! # 2. Guarantees
//!
//! **2.1 Miss coalescing.** Concurrent fetches of one missing locator run `generate`
//! once, and every caller gets that value. If the caller running it is cancelled (its
//! future dropped) or its generator panics, the others do not hang: one of them takes
//! over. A value already made when its caller is cancelled (during the store write,
//! say) is not lost: the waiters get it, and it is stored.
//!
//! **2.2 Refresh deduplication.** At most one background refresh per locator is in
//! flight in a process, however many callers see the entry stale. (With a shared store,
//! at most one across processes: see section 5.)
//!
//! **2.3 Stale reads never wait** for a refresh: their latency is a store read, whatever
//! the generator costs.
//!
//! **2.4 No lost or downgraded data.** A refresh result is written only if the stored
//! entry still holds an older version than the one refreshed; if the entry was
//! invalidated or a newer version was written meanwhile, the result is discarded. No
//! write ever replaces a newer version with an older one.
//!
//! **2.5 Failures keep the old value.** A background refresh whose generator returns
//! `Err` or panics leaves the stale entry in place, is counted, is logged with
//! `tracing`, and releases its claim so a later stale read tries again. A synchronous
//! generation that fails returns the error to its caller ([`try_fetch`](Cache::try_fetch))
//! or resumes the panic in its caller; nothing is cached.
//!
//! **2.6 Only successes are cached.** [`try_fetch`](Cache::try_fetch) caches `Ok` values
//! only. `Option` values are ordinary values (`None` is cached like any other value).
//!
//! **2.7 Bounded work.** Background refreshes run with bounded concurrency and a bounded
//! queue; when both are full the stale value is served, the refresh is dropped and
//! counted, and a later read retries. Memory is bounded by the store's capacity.
//!
//! **2.8 Hot path.** A fresh hit costs a store read and a clone of the value (cache
//! `Arc`s for large values): no allocation of its own beyond the store's amortized
//! housekeeping, no copy of the attribute's arguments, no lock that a generator holds,
//! no await on a generator.
//!
//! **2.9 No lock across user code.** No lock is held while a generator runs, so a
//! generator may fetch other locators of the same cache and call other cached functions
//! without deadlock. (A cached `async fn` that awaits itself directly cannot be proven
//! `Send` by rustc; recursion goes through a boxed `Send` future, as with any recursive
//! async fn.)
//!
//! **2.10 Invalidation wins.** A generation or refresh that started before
//! [`invalidate`](Cache::invalidate) of its locator (or
//! [`invalidate_all`](Cache::invalidate_all)) still answers its callers, but its result
//! is not stored.
//!
//! **2.11 Callers get what they asked for.** A caller that misses, or regenerates in the
//! caller, gets a value generated for at least its requested version, and never waits
//! on a generation or refresh of an older version: it runs its own (coalesced with
//! callers of the same or a newer version), and the no-downgrade rule (2.4) settles
//! which result stays stored. If a coalesced generation fails (`Err` or panic), its
//! error goes to the caller that ran it, and each waiter generates again. No caller
//! waits behind more than one failed generation that it did not run: a caller whose
//! joined generation failed runs its own next instead of queueing again, so under a
//! failing backend every caller is answered within about two generator run times,
//! however many wait.
//!
//! **2.12 A generation never waits on itself.** A generator (in the caller or in a
//! background refresh) that fetches its own locator in a way that would join its own
//! generation panics with a message naming the locator, instead of hanging.
//!
//! Details that follow from the above: a background refresh stores with the
//! `expires_in` of the call that scheduled it; a refresh "queued" is accepted but not
//! yet running; [`refresh_concurrency(0)`](CacheBuilder::refresh_concurrency) means no
//! background worker (stale entries are regenerated in the caller); a builder runtime
//! that has shut down means no worker; failed refreshes log at `warn`, type mismatches
//! at `debug`. Section 6 refines 2.4 (a newer make of the same version) and 2.5
//! (fail-safe answers instead of errors), only where its options are set.
//!
//! # 3. The API
//!
//! This crate is the one users depend on; it re-exports the attribute (feature
//! `macros`, on by default) as `tokio` re-exports `tokio-macros`.
//!
//! - [`Cache`] is cheap to clone (clones share one cache), and one cache holds entries of
//!   any value and version types. [`Cache::new`] is the in-memory (moka) store with the
//!   defaults, [`Cache::builder`] configures one.
//! - Fetching: [`fetch`](Cache::fetch), [`fetch_with`](Cache::fetch_with),
//!   [`try_fetch`](Cache::try_fetch) and [`try_fetch_with`](Cache::try_fetch_with) (with
//!   [`fetch_served`](Cache::fetch_served) and [`try_fetch_served`](Cache::try_fetch_served),
//!   which also return a [`Served`]). Versions are `Ord + Clone + Send + Sync + 'static`,
//!   values `Clone + Send + Sync + 'static`, errors `Send + 'static`; the generator is
//!   an `FnOnce` returning a `Send + 'static` future; the locator is any `AsRef<str>`.
//! - [`invalidate`](Cache::invalidate) removes one entry, [`invalidate_all`](Cache::invalidate_all)
//!   every entry; [`wait_for_refreshes`](Cache::wait_for_refreshes) resolves once no
//!   refresh is queued or running; [`stats`](Cache::stats) returns the [`Stats`].
//! - [`FetchOptions`] holds per-call [`force_sync`](FetchOptions::force_sync) (regenerate
//!   stale entries in the caller) and [`expires_in`](FetchOptions::expires_in) (hard
//!   expiry of what this call writes).
//! - [`CacheBuilder`] sets [`max_capacity`](CacheBuilder::max_capacity),
//!   [`refresh_concurrency`](CacheBuilder::refresh_concurrency) (background refreshes at
//!   once), [`refresh_queue_capacity`](CacheBuilder::refresh_queue_capacity) (waiting
//!   refreshes), [`runtime`](CacheBuilder::runtime) (where refreshes run: a runtime
//!   someone drives); [`build`](CacheBuilder::build) makes the cache.
//! - In [`Stats`], every completed fetch counts exactly once in
//!   [`hits`](Stats::hits), [`stale_hits`](Stats::stale_hits), [`misses`](Stats::misses),
//!   [`sync_refreshes`](Stats::sync_refreshes) or
//!   [`fail_safe_hits`](Stats::fail_safe_hits) (section 6); misses and sync refreshes count every
//!   caller so served, whether it ran the generator or waited for another caller's run
//!   of it.
//! - [`global`] is the process-wide default, created lazily; [`set_global`] configures
//!   it once, before first use.
//!
//! An entry stored under a locator with other value or version types than the caller's
//! is treated as a miss and overwritten (and logged at `debug`).
//!
//! # 4. The attribute
//!
//! `#[async_cached(locator = .., version = ..)]` turns an `async fn` into a cached one:
//! its body becomes the generator. Its arguments, expansion and errors are documented on
//! [`async_cached`]. In short: `locator` and `version` are required expressions that may
//! use the arguments, `.await` and `?`; `force_sync`, `expires_in`, `cache` (default
//! [`global()`](global)) and `crate` are optional; a return type whose last path segment
//! is `Result` uses `try_fetch` (only `Ok` is cached); the function stays an `async fn`
//! with the same signature, visibility, attributes, docs, generics and `where` clause.
//! A fresh hit copies no argument: arguments are owned (moved, or cloned where a
//! `locator`/`version` expression still borrows them) only when a generation actually
//! runs, and must then be `Send + 'static`; borrowed arguments (`&str`, `&[T]`, `&T`,
//! `&self`) are owned automatically, while `&mut` arguments and `&mut self` are an
//! error that says what to write. Every misuse is a compile error spanned on the
//! offending token, in lowercase, naming the valid forms, emitted after the original
//! function so IDEs keep working.
//!
//! # 5. The shared tier
//!
//! With the feature `redis`, the same [`Cache`] runs over Redis (or Valkey) through the
//! `redis` crate: [`CacheBuilder::redis`](struct.CacheBuilder.html#method.redis) turns the builder into one that builds a
//! `Cache<`[`Redis`](store/struct.Redis.html)`>` (it connects lazily and reconnects after faults), with
//! [`key_prefix`](struct.CacheBuilder.html#method.key_prefix) (its namespace in Redis) and
//! [`near_cache`](struct.CacheBuilder.html#method.near_cache) (an optional local tier in front of Redis).
//! Entries are serialized with serde, and refresh
//! deduplication holds across processes. If Redis is slow or unreachable, fetches still
//! return values (generated in the caller), within a bounded delay, and count the fault
//! in [`Stats::store_errors`]. An entry that cannot be decoded is a miss. An entry
//! written by an older build of the function (a different body fingerprint) is stale,
//! as "Builds" below says exactly.
//!
//! **Keys.** Everything the cache writes in Redis lies under `{prefix}` followed by a
//! marker segment of the cache's own (for example `{prefix}swr:`), and the sweep after
//! `invalidate_all` deletes only keys of that namespace: any other key under the same
//! prefix (the application's own `myapp:1:cart`, say) is never touched, and an empty
//! prefix never makes the cache delete keys it did not write.
//!
//! **Nothing acknowledged is lost to a fault.** An `invalidate` (or `expire`, section 6)
//! made while Redis is unreachable or backing off is kept and applied once Redis answers
//! again, and until then this process never serves the entry it invalidated.
//!
//! **Builds.** A record written by an older build of the function (another body
//! fingerprint) is stale at an equal or newer requested version (at an older requested
//! version the lagging-replica rule of section 1 still serves it as current: no refresh
//! could replace it without a downgrade). During a rolling deploy, where two builds
//! serve at once, they do not fight: the newer build's records are current for the older
//! build (the older build is on its way out), and the newer build's refresh replaces the
//! older build's record of the same version, so each hot locator is re-rendered once per
//! version, not on every read. "Newer" is the build that the shared tier saw first
//! later: each build's fingerprint registers, once, the time it was first seen (Redis's
//! clock; ties broken by the fingerprint's value). Doc comments are not part of the
//! fingerprint. In one process (the memory store) two functions sharing a locator with
//! different bodies are a user error: the last writer's record wins under the version
//! rules, nothing more is promised.
//!
//! On the shared tier, values and versions must also be `serde::Serialize +
//! DeserializeOwned`. That bound appears only where a shared-tier cache is used:
//! features stay additive (turning on `redis` never breaks code that caches
//! non-serializable values in memory), and the in-memory `Cache` never serializes:
//! [`Cache`] is `Cache<S = Memory>`, and only `Cache<Redis>`'s fetch methods carry the
//! serde bound (through [`Store`](crate::store::Store)). Annotated functions reach a
//! shared cache with `cache = &SHARED`.
//!
//! # 6. Time and failure
//!
//! Versions say *what* is current; time and failures say how long a value may be served
//! and what happens when making a new one fails or is slow. `refresh_after`,
//! `expires_in`, `fail_safe` and `soft_timeout` exist on [`CacheBuilder`] (the cache's
//! default), on [`FetchOptions`] (one call, overriding the default) and as attribute
//! arguments of the same name taking `Duration` expressions evaluated per call
//! (`refresh_after = Duration::from_secs(60)`); `fail_safe_throttle` and
//! `refresh_backoff` on [`CacheBuilder`] only:
//!
//! [`CacheBuilder::refresh_after`], [`CacheBuilder::expires_in`],
//! [`CacheBuilder::fail_safe`], [`CacheBuilder::fail_safe_throttle`] (default
//! [`DEFAULT_FAIL_SAFE_THROTTLE`]), [`CacheBuilder::soft_timeout`],
//! [`CacheBuilder::refresh_backoff`]; [`FetchOptions::refresh_after`],
//! [`FetchOptions::fail_safe`], [`FetchOptions::soft_timeout`]; [`Cache::put`],
//! [`Cache::put_with`], [`Cache::expire`]; [`Served::FailSafe`] (`as_str()`
//! `"fail_safe"`); and [`Stats::fail_safe_hits`], [`Stats::soft_timeouts`],
//! [`Stats::refreshes_backed_off`].
//!
//! *Status.* §6.1-§6.6 hold on the in-memory store and on the shared tier (there,
//! ages are measured on Redis's clock, the same in every process; a fallback stays in
//! Redis for `expires_in + fail_safe`; `expire` marks the record in place).
//!
//! [`Stats`] gains `fail_safe_hits`, `soft_timeouts` and `refreshes_backed_off`. Every
//! completed fetch counts exactly once in `hits`, `stale_hits`, `misses`,
//! `sync_refreshes` or `fail_safe_hits` (a fetch answered with a fallback counts there
//! only). `stale_hits` includes stale reads whose refresh was scheduled, joined,
//! dropped or backed off.
//!
//! **Clock.** An entry remembers when it was written (when its value landed, not when
//! its generation began). Ages and expiry in memory are measured with tokio's clock
//! (`tokio::time::Instant`, read at each use, never cached in a clock source of the
//! library's own), so a test runtime with paused time
//! (`#[tokio::test(start_paused = true)]` and `tokio::time::advance`, with tokio's
//! `test-util` feature on in the test build) controls them; outside a runtime the std
//! clock is used. On the shared tier, ages hold across processes (never read off one
//! machine's clock alone: Redis's clock or relative TTLs). Boundaries: an entry whose
//! age is at least its `refresh_after` is stale; one whose age is at least its
//! `expires_in` is expired; a fallback is kept while its time past expiry is less than
//! `fail_safe`'s `max`; a window (throttle, back-off) opened at t covers [t, t + d).
//!
//! **Whose options.** `refresh_after` is judged by the reading call (an entry is stale
//! for a call when its age reaches that call's effective `refresh_after`). `expires_in`
//! and `fail_safe(max)` are set by the writing call (a background refresh writes with
//! the options of the call that scheduled it); a call uses a fallback only if its own
//! effective `fail_safe` is set.
//!
//! **6.1 Refresh by age.** With `refresh_after(age)`, an entry whose age is at least
//! `age` is stale even at a current version, for a caller whose version is at least the
//! stored one (a caller of an older version is served it as a hit, since its refresh
//! could never be stored): it is served at once and refreshed in the background,
//! exactly like an outdated version (deduplicated, bounded, regenerated in the caller
//! where section 1 says so). The refresh runs the generator of the call that found the
//! entry stale and writes under the no-downgrade rule, which here allows a same-version
//! result to replace the entry it found stale (one written no later than when the
//! refresh was scheduled); a same-version value written since then (a `put`, another
//! refresh) stays, and a newer version is never replaced by an older one. With both
//! `refresh_after` and `expires_in`, a hot entry is refreshed before it expires and
//! never blocks a caller; a cold one expires (Caffeine's refreshAfterWrite +
//! expireAfterWrite). For caching by time alone the version is `()`; in the attribute,
//! `version` may be left out only when `refresh_after` is given (it is then `()`).
//!
//! **6.2 Fail-safe.** With `fail_safe(max)`, an entry that expires is kept for up to
//! `max` more as a *fallback*; an outdated entry is a fallback too. When a generation
//! run for a caller fails (`Err`, panic, or the soft timeout below) and a fallback of
//! the caller's types is stored under the locator, the caller gets the fallback instead
//! of the error or panic (`Served::FailSafe`, counted in `fail_safe_hits`), the failure
//! is logged at `warn`, and nothing new is cached. Callers that were waiting on that
//! generation get the fallback too. The *throttle* then opens: for `fail_safe_throttle`
//! from that first fallback answer (later answers do not extend it), every fetch of the
//! locator that would generate in the caller is answered with the fallback
//! (`Served::FailSafe`) without running a generator, so a dead backend is not
//! hammered; a value stored under the locator (a landing generation, a refresh, a
//! `put`) closes it. A `force_sync` caller whose own generation fails gets the
//! fallback, but the throttle never answers a `force_sync` caller: it always runs its
//! generator. Without a fallback (a true miss), the error or panic reaches the caller as
//! in section 2. Without `fail_safe`, expired entries are misses and a failed
//! generation's `Err` or panic reaches its caller even if an outdated entry is stored,
//! as before.
//!
//! **6.3 Soft timeout.** With `soft_timeout(d)`, a caller waiting on a generation (its
//! own or one it joined) that has a fallback (an outdated entry, or an expired one under
//! `fail_safe`) is answered with the fallback once it has waited `d`
//! (`Served::FailSafe`, counted in `soft_timeouts` and `fail_safe_hits`).
//! `soft_timeout` alone makes an outdated entry a fallback for slowness only. The
//! generation is not cancelled: it goes on in a task of the caller's runtime (even with
//! `refresh_concurrency(0)`), counted in `refreshes_started` / `completed` / `failed`
//! but taking no refresh place; [`wait_for_refreshes`](Cache::wait_for_refreshes)
//! waits for it; its result is stored when it lands (no-downgrade and invalidation
//! rules apply); if it fails, the old entry stays. No second generation of that locator
//! for the same or an older version starts meanwhile (such callers join it); a caller
//! of a newer version generates its own (2.11). A caller with `force_sync` is never
//! answered by a soft timeout: it asked for the latest. A true miss (no fallback) waits.
//! Outside a tokio runtime there is no soft timeout.
//!
//! **6.4 Refresh back-off.** With `refresh_backoff(first, max)`, after a background
//! refresh of a locator fails (`Err`, panic, or abandoned by
//! [`refresh_timeout`](CacheBuilder::refresh_timeout)), stale reads of it, whatever
//! version they ask, within the back-off window serve the stale value and do not
//! schedule a refresh (counted in `refreshes_backed_off`); the window opens when the
//! failed refresh ends, starts at `first` and doubles with each consecutive failure up
//! to `max`; only a successful background refresh resets it. The back-off is per
//! locator and never holds back a caller that generates itself (`force_sync`, no
//! worker, a miss). Without it, the next stale read after a failure retries (2.5).
//!
//! **6.5 Trailing refresh.** A stale read that asks for a newer version than the
//! background refresh already running for its locator is not forgotten: once that
//! refresh ends (landed, or failed unless back-off holds the locator), one more refresh
//! runs for the newest version asked meanwhile, with the generator and options of the
//! read that asked for it, so the entry converges to the newest version seen without
//! waiting for another read. It is an ordinary refresh: bounded, deduplicated, counted,
//! and queued before the first one gives up its place, so `wait_for_refreshes` waits
//! for both. No trailing refresh runs for the version already being refreshed.
//!
//! **6.6 Write-through and soft invalidation.** `put(locator, version, value)` stores a
//! value made elsewhere (say, rendered right after an edit): it replaces an entry of an
//! equal (a newer make) or older version, never a newer one; a generation or refresh of
//! an older version already running is then discarded when it lands; a stored `put`
//! closes the fail-safe throttle and clears an `expire` mark. It returns whether the
//! value was stored. `expire(locator)` makes the entry outdated for every requested
//! version: everything section 1 says of an outdated entry then applies (served stale
//! and refreshed, or regenerated in the caller without a worker); its refresh may store
//! the same version, but a refresh of an older version is discarded (no-downgrade), so
//! the mark stays until a caller of at least the stored version refreshes it. Running
//! generations are not discarded by `expire`. The entry stays a fallback until its own
//! expiry plus `fail_safe`. `expire` of a missing locator does nothing. `invalidate`
//! removes (no fallback).
//!
//! Attribute misuse: a literal where a `Duration` is expected (`refresh_after = 60`) is
//! one spanned error naming `Duration`; leaving out `version` without `refresh_after` is
//! the "missing `version`" error, which mentions `refresh_after`.
//!
//! Every option works the same on the in-memory store and on the shared tier.
//!
//! # 7. The fleet
//!
//! What section 5 promises must hold when the application runs as many processes on
//! many machines, on the deployments people actually run. (Separate `Cache<Redis>`
//! values over one server and prefix behave as separate processes.)
//!
//! **7.1 One generation per cold locator across processes.** Concurrent misses of one
//! locator in several processes run the generator once per version: a process that
//! finds another process's generation of that locator (of the same or a newer version)
//! under way waits for its result instead of generating, and is answered with it
//! (counted as a miss). The miss lock lives at most `miss_lock_timeout` (default 5 s,
//! set with `CacheBuilder<Redis>::miss_lock_timeout(wait: Duration)`); a holder whose
//! generation returns `Err`, panics or is cancelled releases it at once; a waiter takes
//! over within about 100 ms of the release, and at the latest `miss_lock_timeout` after
//! it began waiting. A caller of a newer version than the one under way never waits on
//! it (2.11).
//!
//! **7.2 Coherent near caches.** With [`near_cache(ttl)`](struct.CacheBuilder.html#method.near_cache), a
//! write, `put`, `invalidate`, `expire` or `invalidate_all` in one process reaches every
//! other process's near cache within 100 ms on a healthy link (a Redis pub/sub channel
//! under the prefix; the subscription is in place before the cache's first store access
//! returns). On a write message naming version v, a copy older than v is served as stale
//! and refreshed from Redis, a copy of v or newer is kept; on an `invalidate`, `expire`
//! or `invalidate_all` message the copy is dropped (for `expire`: marked stale). If the
//! subscription is lost, the near cache falls back to its `ttl` and is cleared when the
//! subscription is restored, so a lost message never makes a copy live longer than
//! `ttl`.
//!
//! **7.3 Long refreshes stay single.** A refresh that runs longer than
//! [`refresh_lock_ttl`](struct.CacheBuilder.html#method.refresh_lock_ttl) keeps its lock (renewed about
//! every third of `refresh_lock_ttl` while it runs), so no second process starts the
//! same refresh; a crashed holder's lock expires within `refresh_lock_ttl` of its last
//! renewal.
//!
//! **7.4 Redis Cluster.** `CacheBuilder<Memory>::redis_cluster(self, urls: &[&str]) ->
//! CacheBuilder<Redis>` builds a `Cache<Redis>` over a Redis (or Valkey) Cluster, with
//! every `CacheBuilder<Redis>` option applying: each locator's keys share one hash slot
//! while different locators hash to their own slots (entries spread over the
//! primaries), every script touches one slot, and every guarantee of sections 5, 6 and
//! 7 holds there (`invalidate_all` included). Moved slots and a failed-over primary are
//! faults: counted, served by generating in the caller, and recovered from without a
//! restart.
//!
//! *Status.* Built:
//! [`CacheBuilder::redis_cluster`](struct.CacheBuilder.html#method.redis_cluster). A
//! locator's keys, and the generation they are read under, share the hash tag of its
//! bucket (one of 1024); `invalidate_all` bumps every bucket's generation; the sweep
//! scans each primary; the near cache subscribes to one node at a time (a cluster
//! broadcasts `PUBLISH` to all of them). `ARCHITECTURE.md` explains the layout.
//!
//! # 8. Observability
//!
//! An operator must see, without writing code, what the cache is doing and how stale
//! what it serves is.
//!
//! - `CacheBuilder::name(&str)` names a cache (default `"default"`); the name is the
//!   `cache` label of everything below.
//! - Feature `metrics`: the cache reports through the `metrics` crate facade (version
//!   0.24), so any exporter works (Prometheus, OpenTelemetry). The library installs no
//!   recorder. Names and labels are part of the contract (dashboards depend on them):
//!
//!   | metric | kind | labels | what |
//!   | --- | --- | --- | --- |
//!   | `async_cache_fetches_total` | counter | `cache`, `served` = hit, stale, miss, sync, fail_safe | completed fetches, as in `Stats` |
//!   | `async_cache_refreshes_total` | counter | `cache`, `outcome` = started, completed, failed, dropped, backed_off, elsewhere | background refreshes, as in `Stats` |
//!   | `async_cache_store_errors_total` | counter | `cache` | store reads/writes that failed or timed out |
//!   | `async_cache_generation_seconds` | histogram | `cache`, `kind` = miss, sync, refresh | time a generator ran |
//!   | `async_cache_stale_age_seconds` | histogram | `cache` | for each stale answer, the age of the entry served |
//!   | `async_cache_refresh_lag_seconds` | histogram | `cache` | from the first stale read of a version to its fresh write |
//!   | `async_cache_refreshes_running` | gauge | `cache` | background refreshes running now |
//!   | `async_cache_refreshes_queued` | gauge | `cache` | background refreshes waiting for a place |
//!
//!   Each counter moves exactly as the [`Stats`] field it mirrors, and each metric has
//!   exactly the labels in the table. Caches given the same name share series (their
//!   values add up). `generation_seconds` gets one sample per generator run, whatever
//!   its outcome (callers that joined another's run add none). `stale_age_seconds` is
//!   the age of the entry served, measured as in section 6 "Clock".
//!   `refresh_lag_seconds` gets one sample each time a background refresh's result is
//!   stored: the time since the first stale read of that entry since it was last
//!   written (failed, dropped or discarded refreshes, regenerations in the caller and
//!   `put`s record none). `refreshes_running` counts background refreshes only (not
//!   the continuations of soft timeouts). The README lists every metric.
//! - Tracing: every generator run (and only a generator run) is inside a span named
//!   `async_cache.generate`, at level INFO, target `async_cache_runtime`, with fields
//!   `cache`, `locator`, `kind` (miss, sync, refresh) and `outcome` (ok, err, panic,
//!   timeout, discarded = returned `Ok` but not stored, being invalidated or
//!   superseded), so a `tracing-opentelemetry` subscriber exports it as a trace span
//!   with no extra code; a generation run in the caller is a child of the caller's
//!   current span; a background refresh's span is a root span with a `follows_from`
//!   link to the span current at the stale read that scheduled it.
#![warn(missing_docs)]

mod builder;
mod cache;
mod decision;
mod engine;
mod flights;
mod global;
mod options;
mod served;
mod stats;
pub mod store;
mod telemetry;
mod worker;

#[cfg(feature = "macros")]
pub use async_cache_macros::async_cached;
pub use builder::{
    CacheBuilder, DEFAULT_MAX_CAPACITY, DEFAULT_NAME, DEFAULT_REFRESH_CONCURRENCY,
    DEFAULT_REFRESH_QUEUE_CAPACITY,
};
pub use cache::Cache;
pub use global::{global, set_global};
pub use options::{DEFAULT_FAIL_SAFE_THROTTLE, FetchOptions};
pub use served::Served;
pub use stats::Stats;
#[cfg(feature = "redis")]
pub use store::{
    DEFAULT_COMMAND_TIMEOUT, DEFAULT_FAULT_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_VALUE_BYTES,
    DEFAULT_REFRESH_LOCK_TTL, Redis,
};

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
