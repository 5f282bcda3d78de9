//! What `#[async_cached]` expansions name, by absolute path. Not a public API.

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

pub use crate::Cache;
use crate::FetchOptions;
/// The text of a panic's payload (the tests' panic hook reads it the same way).
pub use crate::engine::panic_message;
pub use crate::global;
use crate::store::{Backend, Store};

/// Options for one call of an annotated function: `force_sync`, then the `Duration`
/// arguments in the order `expires_in`, `refresh_after`, `fail_safe`,
/// `soft_timeout` (each `None` when not given), then the body's fingerprint.
pub fn options(
    force_sync: bool,
    expires_in: Option<Duration>,
    refresh_after: Option<Duration>,
    fail_safe: Option<Duration>,
    soft_timeout: Option<Duration>,
    fingerprint: u64,
) -> FetchOptions {
    // Unset ones stay unset: the cache's defaults fill them in.
    FetchOptions {
        force_sync,
        expires_in,
        refresh_after,
        fail_safe,
        soft_timeout,
        fingerprint,
    }
}

/// What a version must be.
pub trait Version: Ord + Clone + Send + Sync + 'static {}

impl<V: Ord + Clone + Send + Sync + 'static> Version for V {}

// The expansion checks a `version` expression's type one bound at a time, so that a
// type lacking several of them gets one error, about the first it lacks:
// `VersionCheck::of(&v)` is probed through five levels of references (autoderef
// specialization), the first level whose bounds hold wins, and all but the first
// yield `No` with a `where` clause that fails on exactly one bound. `Yes` moves the
// version on; `No` yields `()` (a version), so the mistake does not also fail every
// bound of the fetch.

/// The first bound a version must have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `version`: it is not `Ord`",
    label = "this `version` is a `{Self}`, which is not `Ord`",
    note = "versions are compared to tell a stale entry: use an integer such as an `updated_at` timestamp, a string, or a tuple of them (floats are not `Ord`)"
)]
pub trait VersionOrd: Ord {}
impl<V: Ord> VersionOrd for V {}

/// The first two bounds a version must have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `version`: it is not `Clone`",
    label = "this `version` is a `{Self}`, which is not `Clone`",
    note = "a version must be `Ord + Clone + Send + Sync + 'static`: derive `Clone`"
)]
pub trait VersionClone: Ord + Clone {}
impl<V: Ord + Clone> VersionClone for V {}

/// The first three bounds a version must have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `version`: it is not `Send`",
    label = "this `version` is a `{Self}`, which is not `Send`",
    note = "a version must be `Ord + Clone + Send + Sync + 'static`: it goes with a background refresh"
)]
pub trait VersionSend: Ord + Clone + Send + 'static {}
impl<V: Ord + Clone + Send + 'static> VersionSend for V {}

/// Every bound a version must have.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a `version`: it is not `Sync`",
    label = "this `version` is a `{Self}`, which is not `Sync`",
    note = "a version must be `Ord + Clone + Send + Sync + 'static`: it is shared with a background refresh"
)]
pub trait VersionSync: Version {}
impl<V: Version> VersionSync for V {}

/// See the comment above [`VersionOrd`].
pub struct VersionCheck<V>(PhantomData<fn() -> V>);

impl<V> VersionCheck<V> {
    /// The check of `version`'s type.
    #[inline(always)]
    pub fn of(_version: &V) -> Self {
        VersionCheck(PhantomData)
    }
}

/// The version is a [`Version`].
pub struct Yes;

impl Yes {
    /// The version, moved on.
    #[inline(always)]
    pub fn take<V>(self, version: V) -> V {
        version
    }
}

/// The version is not a [`Version`]: an error was reported.
pub struct No;

impl No {
    /// A stand-in version.
    pub fn take<V>(self, _: V) {}
}

/// See the comment above [`VersionOrd`].
pub trait IsVersion {
    /// [`Yes`].
    fn __async_cached_version(&self) -> Yes;
}

impl<V: Version> IsVersion for &&&&VersionCheck<V> {
    #[inline(always)]
    fn __async_cached_version(&self) -> Yes {
        Yes
    }
}

/// See the comment above [`VersionOrd`].
pub trait NotSync<V> {
    /// The error.
    fn __async_cached_version(&self) -> No
    where
        V: VersionSync;
}

impl<V: Ord + Clone + Send + 'static> NotSync<V> for &&&VersionCheck<V> {
    fn __async_cached_version(&self) -> No
    where
        V: VersionSync,
    {
        No
    }
}

/// See the comment above [`VersionOrd`].
pub trait NotSend<V> {
    /// The error.
    fn __async_cached_version(&self) -> No
    where
        V: VersionSend;
}

impl<V: Ord + Clone> NotSend<V> for &&VersionCheck<V> {
    fn __async_cached_version(&self) -> No
    where
        V: VersionSend,
    {
        No
    }
}

/// See the comment above [`VersionOrd`].
pub trait NotClone<V> {
    /// The error.
    fn __async_cached_version(&self) -> No
    where
        V: VersionClone;
}

impl<V: Ord> NotClone<V> for &VersionCheck<V> {
    fn __async_cached_version(&self) -> No
    where
        V: VersionClone,
    {
        No
    }
}

/// See the comment above [`VersionOrd`].
pub trait NotOrd<V> {
    /// The error.
    fn __async_cached_version(&self) -> No
    where
        V: VersionOrd;
}

impl<V> NotOrd<V> for VersionCheck<V> {
    fn __async_cached_version(&self) -> No
    where
        V: VersionOrd,
    {
        No
    }
}

/// A store that can hold values of type `T` made for versions of type `V`: the
/// in-memory one holds any, the shared tier those that serde can encode.
#[diagnostic::on_unimplemented(
    message = "`Cache<{Self}>` cannot cache `{T}` values made for `{V}` versions",
    label = "this cache",
    note = "values and versions must be `Send + Sync + 'static`; the shared tier (`Cache<Redis>`) also encodes both with serde, so there they must be `serde::Serialize + serde::de::DeserializeOwned`"
)]
pub trait Stores<V, T>: Backend + Store<V, T> {}

impl<S: Backend + Store<V, T>, V, T> Stores<V, T> for S {}

/// The `Ok` type of a function returning a `Result` (or an alias of one).
pub trait Fallible {
    /// What is cached.
    type Ok;
}

impl<T, E> Fallible for Result<T, E> {
    type Ok = T;
}

// The expansion checks that the cache can store the function's values the way it
// checks the version (see the comment above `VersionOrd`): `StoreCheck::of(cache,
// &version)` for the value type `T`, probed through seven levels of references. A
// cache that stores them (the memory store, for any value the fetch accepts) passes
// the first; the shared tier's serde bounds are then checked one at a time, so that
// a value lacking them gets one error, about the first, and `No` hands on a
// stand-in cache instead so that the fetch adds none. The check is located at the
// return type, like the fetch's own bounds on the value, so a value that is not
// `Send` (say) is reported there once.

/// See the comment above [`Fallible`].
pub struct StoreCheck<'a, S: Backend, V, T>(PhantomData<&'a Cache<S>>, PhantomData<fn() -> (V, T)>);

impl<'a, S: Backend, V, T> StoreCheck<'a, S, V, T> {
    /// The check of `cache` for `version`'s type and the value type `T`.
    #[inline(always)]
    pub fn of(_cache: &'a Cache<S>, _version: &V) -> Self {
        StoreCheck(PhantomData, PhantomData)
    }
}

/// The traits of the store check, for the expansion to bring into scope with a glob
/// (which of them exist depends on the features), under names no user type has: the
/// glob is in scope where the function's return type is written.
pub mod store_check {
    #[cfg(feature = "redis")]
    pub use super::shared::{
        SharedNotStore as __AsyncCachedSharedNotStore,
        SharedValueNotDe as __AsyncCachedSharedValueNotDe,
        SharedValueNotSer as __AsyncCachedSharedValueNotSer,
        SharedVersionNotDe as __AsyncCachedSharedVersionNotDe,
        SharedVersionNotSer as __AsyncCachedSharedVersionNotSer,
    };
    pub use super::{IsStore as __AsyncCachedIsStore, NotStore as __AsyncCachedNotStore};
}

/// The cache stores the values: it is handed on.
pub struct Stored;

impl Stored {
    /// The cache.
    #[inline(always)]
    pub fn take<S: Backend>(self, cache: &Cache<S>) -> &Cache<S> {
        cache
    }
}

/// The cache cannot store the values: an error was reported.
pub struct NotStored;

impl NotStored {
    /// A stand-in cache.
    pub fn take<S: Backend>(self, _: &Cache<S>) -> &'static Cache {
        global()
    }
}

/// See the comment above [`Fallible`].
pub trait IsStore {
    /// [`Stored`].
    fn __async_cached_store(&self) -> Stored;
}

impl<S: Stores<V, T>, V, T> IsStore for &&&&&&StoreCheck<'_, S, V, T> {
    #[inline(always)]
    fn __async_cached_store(&self) -> Stored {
        Stored
    }
}

/// See the comment above [`Fallible`]: whatever else a store needs.
pub trait NotStore<S, V, T> {
    /// The error.
    fn __async_cached_store(&self) -> NotStored
    where
        S: Stores<V, T>;
}

impl<S: Backend, V, T> NotStore<S, V, T> for StoreCheck<'_, S, V, T> {
    fn __async_cached_store(&self) -> NotStored
    where
        S: Stores<V, T>,
    {
        NotStored
    }
}

#[cfg(feature = "redis")]
pub use shared::*;

#[cfg(feature = "redis")]
mod shared {
    use serde::Serialize;
    use serde::de::DeserializeOwned;

    use super::{NotStored, StoreCheck, Stores};
    use crate::Redis;

    /// What the shared tier needs of a value, first.
    #[diagnostic::on_unimplemented(
        message = "`Cache<Redis>` cannot cache `{Self}` values: they are not `serde::Serialize`",
        label = "the shared tier encodes this `{Self}` with serde",
        note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`, or cache it in memory"
    )]
    pub trait SharedValue: Serialize {}
    impl<T: Serialize> SharedValue for T {}

    /// What the shared tier needs of a value, then.
    #[diagnostic::on_unimplemented(
        message = "`Cache<Redis>` cannot cache `{Self}` values: they are not `serde::de::DeserializeOwned`",
        label = "the shared tier decodes this `{Self}` with serde",
        note = "derive `serde::Deserialize` for `{Self}` (with no borrowed fields), or cache it in memory"
    )]
    pub trait SharedValueDe: Serialize + DeserializeOwned {}
    impl<T: Serialize + DeserializeOwned> SharedValueDe for T {}

    /// What the shared tier needs of a version, first.
    #[diagnostic::on_unimplemented(
        message = "`Cache<Redis>` cannot store `{Self}` versions: they are not `serde::Serialize`",
        label = "the shared tier encodes the version, a `{Self}`, with serde",
        note = "derive `serde::Serialize` and `serde::Deserialize` for `{Self}`, or use an integer"
    )]
    pub trait SharedVersion: Serialize {}
    impl<V: Serialize> SharedVersion for V {}

    /// What the shared tier needs of a version, then.
    #[diagnostic::on_unimplemented(
        message = "`Cache<Redis>` cannot store `{Self}` versions: they are not `serde::de::DeserializeOwned`",
        label = "the shared tier decodes the version, a `{Self}`, with serde",
        note = "derive `serde::Deserialize` for `{Self}` (with no borrowed fields), or use an integer"
    )]
    pub trait SharedVersionDe: Serialize + DeserializeOwned {}
    impl<V: Serialize + DeserializeOwned> SharedVersionDe for V {}

    /// See the comment above [`Fallible`](super::Fallible): serde holds, something
    /// else (the value's `Send`, say) does not.
    pub trait SharedNotStore<V, T> {
        /// The error.
        fn __async_cached_store(&self) -> NotStored
        where
            Redis: Stores<V, T>;
    }

    impl<V, T> SharedNotStore<V, T> for &&&&&StoreCheck<'_, Redis, V, T>
    where
        V: Serialize + DeserializeOwned,
        T: Serialize + DeserializeOwned,
    {
        fn __async_cached_store(&self) -> NotStored
        where
            Redis: Stores<V, T>,
        {
            NotStored
        }
    }

    macro_rules! shared_check {
        ($name:ident, $receiver:ty, [$($holds:tt)*], $param:ident: $fails:ident) => {
            /// See the comment above [`Fallible`](super::Fallible).
            pub trait $name<V, T> {
                /// The error.
                fn __async_cached_store(&self) -> NotStored
                where
                    $param: $fails;
            }

            impl<V, T> $name<V, T> for $receiver
            where
                $($holds)*
            {
                fn __async_cached_store(&self) -> NotStored
                where
                    $param: $fails,
                {
                    NotStored
                }
            }
        };
    }

    shared_check!(SharedVersionNotDe, &&&&StoreCheck<'_, Redis, V, T>,
        [V: Serialize, T: Serialize + DeserializeOwned], V: SharedVersionDe);
    shared_check!(SharedVersionNotSer, &&&StoreCheck<'_, Redis, V, T>,
        [T: Serialize + DeserializeOwned], V: SharedVersion);
    shared_check!(SharedValueNotDe, &&StoreCheck<'_, Redis, V, T>,
        [T: Serialize], T: SharedValueDe);
    shared_check!(SharedValueNotSer, &StoreCheck<'_, Redis, V, T>, [], T: SharedValue);
}

// The value type is checked the same way, at the return type, one bound at a time
// (`Clone`, then `Send`, then `Sync`): `ValueCheck::<T>::of()` yields `Cacheable`,
// whose `fetch` is the real one, or one error and `NotCacheable`, whose `fetch` has
// no bounds (and never runs), so the mistake is reported once. `Cacheable` also
// makes the store check; `NotCacheable` skips it (the value is the problem).

/// The first bound a cached value needs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it is not `Clone`",
    label = "the cached value is a `{Self}`",
    note = "every hit hands out a clone of the stored value: derive `Clone`, or cache an `Arc`"
)]
pub trait ValueClone: Clone {}
impl<T: Clone> ValueClone for T {}

/// The first two bounds a cached value needs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it is not `Send`",
    label = "the cached value is a `{Self}`",
    note = "values are made in background refreshes and read from any thread: use `Arc` rather than `Rc`"
)]
pub trait ValueSend: Clone + Send + 'static {}
impl<T: Clone + Send + 'static> ValueSend for T {}

/// Every bound a cached value needs.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached: it is not `Sync`",
    label = "the cached value is a `{Self}`",
    note = "the stored value is shared between threads: use a lock rather than a `Cell`, `Arc` rather than `Rc`"
)]
pub trait ValueSync: Clone + Send + Sync + 'static {}
impl<T: Clone + Send + Sync + 'static> ValueSync for T {}

/// See the comment above [`ValueClone`].
pub struct ValueCheck<T>(PhantomData<fn() -> T>);

impl<T> ValueCheck<T> {
    /// The check of the value type `T`.
    #[inline(always)]
    pub fn of() -> Self {
        ValueCheck(PhantomData)
    }
}

/// See the comment above [`ValueClone`].
pub trait IsValue {
    /// [`Cacheable`].
    fn __async_cached_value(&self) -> Cacheable;
}

impl<T: ValueSync> IsValue for &&&ValueCheck<T> {
    #[inline(always)]
    fn __async_cached_value(&self) -> Cacheable {
        Cacheable
    }
}

/// See the comment above [`ValueClone`].
pub trait ValueNotSync<T> {
    /// The error.
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueSync;
}

impl<T: Clone + Send + 'static> ValueNotSync<T> for &&ValueCheck<T> {
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueSync,
    {
        NotCacheable
    }
}

/// See the comment above [`ValueClone`].
pub trait ValueNotSend<T> {
    /// The error.
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueSend;
}

impl<T: Clone> ValueNotSend<T> for &ValueCheck<T> {
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueSend,
    {
        NotCacheable
    }
}

/// See the comment above [`ValueClone`].
pub trait ValueNotClone<T> {
    /// The error.
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueClone;
}

impl<T> ValueNotClone<T> for ValueCheck<T> {
    fn __async_cached_value(&self) -> NotCacheable
    where
        T: ValueClone,
    {
        NotCacheable
    }
}

/// The traits of the value check, for a glob import (see [`store_check`]).
pub mod value_check {
    pub use super::{
        IsValue as __AsyncCachedIsValue, ValueNotClone as __AsyncCachedValueNotClone,
        ValueNotSend as __AsyncCachedValueNotSend, ValueNotSync as __AsyncCachedValueNotSync,
    };
}

/// The value type can be cached. The expansion calls its methods with method
/// syntax; they are inherent, so no user trait in scope can change what they mean.
pub struct Cacheable;

impl Cacheable {
    /// The store check (see the comment above [`Fallible`]) for values of type `T`.
    #[inline(always)]
    pub fn store_check<'a, T, S: Backend, V>(
        &self,
        cache: &'a Cache<S>,
        version: &V,
    ) -> StoreCheck<'a, S, V, T> {
        StoreCheck::of(cache, version)
    }

    /// [`fetch`]: its future, with none of ours around it.
    #[inline(always)]
    pub fn fetch<S, V, T, G, Fut>(
        self,
        cache: &Cache<S>,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> impl Future<Output = T>
    where
        S: Stores<V, T>,
        V: Version,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = T> + Send + 'static,
    {
        fetch(cache, locator, version, options, generate)
    }

    /// [`try_fetch`]: its future, as above.
    #[inline(always)]
    pub fn try_fetch<S, V, T, E, G, Fut>(
        self,
        cache: &Cache<S>,
        locator: impl AsRef<str>,
        version: V,
        options: FetchOptions,
        generate: G,
    ) -> impl Future<Output = Result<T, E>>
    where
        S: Stores<V, T>,
        V: Version,
        T: Clone + Send + Sync + 'static,
        E: Send + 'static,
        G: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        try_fetch(cache, locator, version, options, generate)
    }
}

/// The value type cannot be cached: an error was reported.
pub struct NotCacheable;

/// What [`NotCacheable`] hands on instead of a store check.
pub struct StoreSkipped;

impl StoreSkipped {
    /// A stand-in: no second error about the store.
    pub fn __async_cached_store(&self) -> NotStored {
        NotStored
    }
}

impl NotCacheable {
    /// No store check.
    pub fn store_check<T, S: Backend, V>(&self, _: &Cache<S>, _: &V) -> StoreSkipped {
        StoreSkipped
    }

    /// A stand-in with no bounds: never runs.
    pub async fn fetch<S: Backend, V, T, G, Fut>(
        self,
        _: &Cache<S>,
        _: impl AsRef<str>,
        _: V,
        _: FetchOptions,
        _: G,
    ) -> T
    where
        G: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        unreachable!("`NotCacheable` is only named by code that does not compile")
    }

    /// A stand-in with no bounds: never runs.
    pub async fn try_fetch<S: Backend, V, T, E, G, Fut>(
        self,
        _: &Cache<S>,
        _: impl AsRef<str>,
        _: V,
        _: FetchOptions,
        _: G,
    ) -> Result<T, E>
    where
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        unreachable!("`NotCacheable` is only named by code that does not compile")
    }
}

/// `Cache::fetch_with`, reached without method syntax so that no user trait or
/// type in scope can change what it means; its future, with none of ours around it.
pub fn fetch<S, V, T, G, Fut>(
    cache: &Cache<S>,
    locator: impl AsRef<str>,
    version: V,
    options: FetchOptions,
    generate: G,
) -> impl Future<Output = T>
where
    S: Stores<V, T>,
    V: Version,
    T: Clone + Send + Sync + 'static,
    G: FnOnce() -> Fut + Send,
    Fut: Future<Output = T> + Send + 'static,
{
    Cache::fetch_with(cache, locator, version, options, generate)
}

/// `Cache::try_fetch_with`, for functions returning `Result`; its future, as above.
pub fn try_fetch<S, V, T, E, G, Fut>(
    cache: &Cache<S>,
    locator: impl AsRef<str>,
    version: V,
    options: FetchOptions,
    generate: G,
) -> impl Future<Output = Result<T, E>>
where
    S: Stores<V, T>,
    V: Version,
    T: Clone + Send + Sync + 'static,
    E: Send + 'static,
    G: FnOnce() -> Fut + Send,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    Cache::try_fetch_with(cache, locator, version, options, generate)
}

/// An argument moved into a generation: it must be `Send + 'static` to outlive the
/// call in a background refresh. (The expansion spans this call on the argument, so
/// a missing bound points at it.)
#[inline(always)]
pub fn owned<T: Send + 'static>(value: T) -> T {
    value
}

/// An argument cloned into a generation, because an expression evaluated before the
/// fetch (`locator`, `version`, ...) may still borrow it; also `&self`.
#[inline(always)]
pub fn cloned<T: Clone + Send + Sync + 'static>(value: &T) -> T {
    T::clone(value)
}

// The expansion checks a borrowed argument `&B` the way it checks a version (see
// the comment above `VersionOrd`), one bound at a time: `B: ToOwned` (for a sized
// `B`, that is `Clone`), then `B: Sync + 'static`, then an owned form that is
// `Send + 'static`. `OwnCheck(x)` is probed through four levels of references; the
// first yields the owned form ([`Borrowed`]), the others one error on the argument
// and a stand-in ([`Unowned`]) that keeps the body free of further errors.

/// The first bound a borrowed argument needs.
#[diagnostic::on_unimplemented(
    message = "the borrowed argument cannot be owned by a generation: `{Self}` is not `ToOwned` (for a sized type, `Clone`)",
    label = "this argument is a `&{Self}`",
    note = "a generation may run in a background refresh after the call returns, so it owns a copy of each borrowed argument it uses; derive `Clone`, or take the argument by value"
)]
pub trait OwnableToOwned: ToOwned {}
impl<B: ?Sized + ToOwned> OwnableToOwned for B {}

/// The first two bounds a borrowed argument needs.
#[diagnostic::on_unimplemented(
    message = "the borrowed argument cannot be owned by a generation: `{Self}` is not `Sync`",
    label = "this argument is a `&{Self}`",
    note = "the body, which may run in a background refresh, borrows the owned copy; use a `Sync` type (`Arc` rather than `Rc`, a lock rather than a `Cell`)"
)]
pub trait OwnableSync: ToOwned + Sync + 'static {}
impl<B: ?Sized + ToOwned + Sync + 'static> OwnableSync for B {}

/// Every bound a borrowed argument needs.
#[diagnostic::on_unimplemented(
    message = "the borrowed argument cannot be owned by a generation: the owned form of `{Self}` is not `Send`",
    label = "this argument is a `&{Self}`",
    note = "the owned copy moves to the generation, which may run in a background refresh"
)]
pub trait Ownable: ToOwned<Owned: Send + 'static> + Sync + 'static {}
impl<B> Ownable for B
where
    B: ?Sized + ToOwned + Sync + 'static,
    B::Owned: Send + 'static,
{
}

/// See the comment above [`OwnableToOwned`].
pub struct OwnCheck<'a, B: ?Sized>(pub &'a B);

/// See the comment above [`OwnableToOwned`].
pub trait CanOwn<B: ?Sized + ToOwned> {
    /// The owned form.
    fn __async_cached_to_owned(&self) -> Borrowed<B>;
}

impl<B: ?Sized + Ownable> CanOwn<B> for &&&OwnCheck<'_, B> {
    #[inline(always)]
    fn __async_cached_to_owned(&self) -> Borrowed<B> {
        Borrowed(B::to_owned(self.0))
    }
}

/// See the comment above [`OwnableToOwned`].
pub trait BorrowedNotSend<B: ?Sized> {
    /// The error, and a stand-in.
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: Ownable;
}

impl<B: ?Sized + ToOwned + Sync + 'static> BorrowedNotSend<B> for &&OwnCheck<'_, B> {
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: Ownable,
    {
        Unowned(PhantomData)
    }
}

/// See the comment above [`OwnableToOwned`].
pub trait BorrowedNotSync<B: ?Sized> {
    /// The error, and a stand-in.
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: OwnableSync;
}

impl<B: ?Sized + ToOwned> BorrowedNotSync<B> for &OwnCheck<'_, B> {
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: OwnableSync,
    {
        Unowned(PhantomData)
    }
}

/// See the comment above [`OwnableToOwned`].
pub trait BorrowedNotToOwned<B: ?Sized> {
    /// The error, and a stand-in.
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: OwnableToOwned;
}

impl<B: ?Sized> BorrowedNotToOwned<B> for OwnCheck<'_, B> {
    fn __async_cached_to_owned(&self) -> Unowned<B>
    where
        B: OwnableToOwned,
    {
        Unowned(PhantomData)
    }
}

/// The owned form of a borrowed argument; the body sees it re-borrowed, with its
/// original type, through [`Reborrow::get`].
pub struct Borrowed<B: ?Sized + ToOwned>(B::Owned);

/// The stand-in a failed [`OwnCheck`] yields: never made in a program that compiles.
pub struct Unowned<B: ?Sized>(PhantomData<fn() -> Box<B>>);

/// A borrowed argument as the body sees it.
pub trait Reborrow {
    /// The argument's type, behind the reference.
    type Target: ?Sized;
    /// The argument as the body sees it.
    fn get(&self) -> &Self::Target;
}

impl<B: ?Sized + ToOwned> Reborrow for Borrowed<B> {
    type Target = B;

    #[inline(always)]
    fn get(&self) -> &B {
        std::borrow::Borrow::borrow(&self.0)
    }
}

impl<B: ?Sized> Reborrow for Unowned<B> {
    type Target = B;

    fn get(&self) -> &B {
        unreachable!("`Unowned` is only named by code that does not compile")
    }
}
