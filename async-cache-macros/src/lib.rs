//! Implementation detail of `async-cache-runtime`: use `async_cache_runtime::async_cached`.
//!
//! The attribute is parsed (`attr`), validated (`valid`) and expanded (`expand`) in
//! three separate steps; every misuse is a spanned error, emitted after the original
//! function so that IDEs keep working.

mod attr;
mod expand;
mod self_visitor;
mod uses;
mod valid;

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;

/// Caches an `async fn` with version-based stale-while-revalidate: the body becomes
/// the generator of the entry under `locator`, made for `version`.
///
/// ```
/// use async_cache_runtime::async_cached;
/// # #[derive(Debug)] struct Error;
/// # struct Thing { updated_at: u64 }
/// # async fn load_thing(id: u64) -> Result<Thing, Error> { Ok(Thing { updated_at: 7 }) }
/// # fn render(thing: &Thing) -> String { format!("{}", thing.updated_at) }
///
/// #[async_cached(locator = format!("things/{id}"), version = load_thing(id).await?.updated_at)]
/// async fn render_thing(id: u64) -> Result<String, Error> {
///     // Runs on a miss (in the caller) or to refresh a stale entry (in the background).
///     let thing = load_thing(id).await?;
///     Ok(render(&thing))
/// }
/// # #[tokio::main] async fn main() { assert_eq!(render_thing(1).await.unwrap(), "7"); }
/// ```
///
/// Per call, `locator` and `version` are evaluated first; then the stored entry is
/// served if it was made for that version or a newer one (a *hit*); if it was made for
/// an older one it is served at once while one background refresh regenerates it
/// (*stale*); if there is none, the body runs now (*miss*). Concurrent misses run the
/// body once. See the crate documentation of `async_cache_runtime` for the whole model.
///
/// # Arguments
///
/// In any order, each at most once:
///
/// | argument | required | meaning |
/// | --- | --- | --- |
/// | `locator = <expr>` | yes | the key: any `AsRef<str>` value, e.g. `format!("things/{id}")` or `key.as_str()` |
/// | `version = <expr>` | yes, unless `refresh_after` is given (it is then `()`: caching by time alone) | any `Ord + Clone + Send + Sync + 'static` value, e.g. `thing.updated_at` |
/// | `force_sync` or `force_sync = <bool>` | no | regenerate a stale entry in the caller instead of serving it stale; evaluated per call, e.g. `force_sync = user.is_editor()` |
/// | `expires_in = <Duration>` | no | hard expiry of what this function writes, e.g. `Duration::from_secs(3600)` |
/// | `refresh_after = <Duration>` | no | an entry this old is stale even at a current version |
/// | `fail_safe = <Duration>` | no | keep an expired entry this long as a fallback for a failed generation |
/// | `soft_timeout = <Duration>` | no | a caller waiting this long on a generation is answered with the fallback |
/// | `cache = <expr>` | no | an expression that coerces to `&Cache<S>` for any store `S` (the in-memory `Cache`, or `Cache<Redis>` with the `redis` feature), e.g. `&MY_CACHE` or `&self.cache`; default `async_cache_runtime::global()` |
/// | `crate = <path>` | no | where the runtime is, for a renamed dependency: a path or a string, e.g. `crate = ::my_cache` or `crate = "::my_cache"` |
///
/// `locator`, `version`, `force_sync`, the `Duration`s and `cache` are ordinary
/// expressions evaluated in the function, before the fetch (a literal where a
/// `Duration` is expected, `refresh_after = 60`, is an error naming `Duration`):
/// they may use the arguments, `.await`, and `?` (when the function returns `Result`
/// or `Option`). `refresh_after`, `fail_safe` and `soft_timeout` are the per-call
/// options of the same names (contract §6 in the `async_cache_runtime` docs).
///
/// ```
/// use std::sync::LazyLock;
/// use std::time::Duration;
/// use async_cache_runtime::{Cache, async_cached};
///
/// static PAGES: LazyLock<Cache> = LazyLock::new(Cache::new);
///
/// #[async_cached(
///     locator = format!("pages/{slug}"),
///     version = revision,
///     force_sync = preview,                     // an editor sees their edit at once
///     expires_in = Duration::from_secs(3600),   // what this writes expires in an hour
///     cache = &PAGES,                           // not the global cache
/// )]
/// async fn page(slug: &str, revision: u64, preview: bool) -> String {
///     format!("<h1>{slug}</h1> at revision {revision}")
/// }
/// # #[tokio::main] async fn main() { assert_eq!(page("a", 1, false).await, "<h1>a</h1> at revision 1"); }
/// ```
///
/// # What it expands to
///
/// The function keeps its signature, visibility, attributes, docs, generics and
/// `where` clause; its body becomes roughly (names simplified; the generated locals
/// are hygienic, so they cannot collide with yours, and every path is absolute):
///
/// ```ignore
/// async fn render_thing(id: u64) -> Result<String, Error> {
///     let locator = format!("things/{id}");
///     // Checked first: a type that cannot be a version is one error, here.
///     let version = __private::checked_version(load_thing(id).await?.updated_at);
///     // force_sync, then expires_in, refresh_after, fail_safe, soft_timeout.
///     let options = __private::options(false, None, None, None, None, FINGERPRINT);
///     let cache: &Cache<_> = __private::global();
///     // `fetch` instead when the return type is not a `Result`.
///     __private::try_fetch(cache, locator, version, options, || {
///         // Runs only when a generation runs: a hit copies no argument.
///         // The locator is an owned `String` and the version cannot borrow: `id`
///         // is moved (`__private::cloned(&id)` where a locator may borrow it).
///         let id = __private::owned(id);
///         async move {
///             let thing = load_thing(id).await?;  // the original body
///             Ok(render(&thing))
///         }
///     })
///     .await
/// }
/// ```
///
/// `FINGERPRINT` is a hash of the function's tokens: with the shared (Redis) tier,
/// an entry written by another build of the function is stale whatever its version.
/// Doc comments and attributes that cannot change the value are left out of it
/// (`#[doc]`/`///`, `#[allow]`, `#[warn]`, `#[deny]`, `#[forbid]`, `#[expect]`,
/// `#[inline]`, `#[cold]`, `#[must_use]`, `#[track_caller]`, `#[deprecated]`, and the
/// `clippy::`, `rustfmt::` and `diagnostic::` tool attributes), so editing a `///`
/// line does not make every shared entry stale. Other attributes count, attribute
/// macros such as `#[tracing::instrument]` included: one may rewrite the body.
///
/// # Arguments of the function, and their bounds
///
/// The body may run in a background refresh after the call has returned, so it owns
/// what it uses. The generator is two-staged: a closure the runtime calls only when a
/// generation actually runs (a miss, or to start a refresh), which owns the arguments
/// *the body refers to* and returns a `'static` future. A fresh hit copies nothing.
///
/// - An argument the body refers to is **moved** into the generation, so it must be
///   `Send + 'static`. That includes arguments `version`, `force_sync` or a
///   `Duration` argument mention (their values, a `'static` version, a `bool` and a
///   `Duration`, cannot borrow anything), and arguments a `locator` whose value is an
///   owned `String` mentions: `format!(..)`, `x.to_string()`, `x.to_owned()`,
///   `String::from(..)`, `x.clone()` of a place, a string literal. So generic and
///   `impl Trait` arguments used this way need no `Clone`:
///
///   ```
///   # use async_cache_runtime::async_cached;
///   #[async_cached(locator = format!("g/{x}"), version = 1u64)]
///   async fn g<T: std::fmt::Display + Send + Sync + 'static>(x: T) -> String {
///       format!("<{x}>")
///   }
///   # #[tokio::main] async fn main() { assert_eq!(g(1).await, "<1>"); }
///   ```
/// - An argument mentioned by a `locator` whose value may still borrow it
///   (`locator = key.as_str()`, any expression not listed above) or by `cache`
///   (`cache = &self.cache`) is **cloned** instead, when a generation runs: it must be
///   `Clone + Send + Sync + 'static`. A locator that names a place (`locator = key`,
///   `locator = self.key`) is borrowed, not moved out of it, so the body may use
///   `key` too (cloned for it). A version that names a place (`version = rev`,
///   `version = thing.rev`) rooted at an argument the body also uses is cloned out
///   of it rather than moved (versions are `Clone`; a `Copy` one is just copied).
///   Other expressions are evaluated as written, before the generator takes the
///   arguments: `version = compute(rev)` moves `rev` as Rust would.
/// - A borrowed argument `x: &str`, `x: &[T]` or `x: &T` is owned through `ToOwned`
///   (`String`, `Vec<T>`, `T`) and re-borrowed in the body under the same name with
///   the same type. `&'static T` arguments are simply copied.
/// - `&self` is cloned: `Self` must be `Clone + Send + Sync + 'static` (make it cheap,
///   e.g. an `Arc` inside). `self` in the body, including inside macro invocations
///   such as `format!("{}", self.name)` and `macro_rules!` defined in the body,
///   means the clone; the `self` of a nested item (`fn`, `impl`, `trait`) is its
///   own. By-value `self`, `self: Arc<Self>` and the like are moved (cloned if
///   `locator` or `cache` may borrow `self`).
/// - `&mut` arguments and `&mut self` cannot be shared with a background refresh: they
///   are an error. Take the value, a shared reference, or keep the state behind a lock.
/// - Arguments the body does not refer to are never copied. Rust's scoping decides:
///   an argument the body only shadows (`let x = 5;` before any use, a closure or
///   `match` parameter of the same name, a nested `fn`'s parameter) is not taken and
///   needs no bound. `let x = x.to_string();` does use the argument (the right side
///   is evaluated before the new `x` exists), so that argument is moved. Names in a
///   macro invocation count as uses. Patterns such as `(a, b): (u8, u8)` are
///   supported, `ref` bindings are not.
///
/// A missing bound is one error that points at what needs it: the argument, the
/// `version` expression (a version that is not `Ord`, `Clone`, `Send` or `Sync` is
/// reported once, for the first of these it lacks), or the return type.
///
/// # Any store
///
/// `cache` may be any `&Cache<S>`, so one function can serve both the in-memory
/// store and the shared tier: be generic over the store with the
/// `async_cache_runtime::store::Store<V, T>` trait. The shared tier encodes values and
/// versions with serde, so there (and only there) they must also be
/// `serde::Serialize + serde::de::DeserializeOwned`.
///
/// ```
/// use async_cache_runtime::store::Store;
/// use async_cache_runtime::{Cache, async_cached};
///
/// #[async_cached(locator = format!("things/{id}"), version = updated_at, cache = cache)]
/// async fn render<S: Store<u64, String>>(cache: &Cache<S>, id: u64, updated_at: u64) -> String {
///     format!("{id} at {updated_at}")
/// }
/// # #[tokio::main] async fn main() {
/// let memory = Cache::new();
/// assert_eq!(render(&memory, 1, 7).await, "1 at 7");
/// // With the `redis` feature, `render(&shared, 1, 7)` for a `Cache<Redis>` too.
/// # }
/// ```
///
/// The value (the return type, or the `Ok` type of a `Result`) must be
/// `Clone + Send + Sync + 'static`, and an error type `Send + 'static`.
///
/// # `Result`
///
/// When the return type's last path segment is `Result` (`Result<T, E>`,
/// `io::Result<T>`, your own alias), the function uses `try_fetch`: only `Ok` values
/// are cached; an `Err` goes to the caller that ran the body, and a background refresh
/// that fails keeps the stale value. Any other return type (including `Option`, whose
/// `None` is cached like any value) uses `fetch`.
///
/// # Recursion
///
/// A generation may call other cached functions and fetch other locators of the same
/// cache: no lock is held while the body runs. A cached `async fn` cannot await itself
/// directly (rustc cannot prove the recursive future `Send`, as with any recursive
/// async fn); go through a boxed `Send` future:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use async_cache_runtime::async_cached;
///
/// fn fib_boxed(n: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
///     Box::pin(fib(n))
/// }
///
/// #[async_cached(locator = format!("fib/{n}"), version = 0)]
/// async fn fib(n: u64) -> u64 {
///     if n < 2 { n } else { fib_boxed(n - 1).await + fib_boxed(n - 2).await }
/// }
/// # #[tokio::main] async fn main() { assert_eq!(fib(30).await, 832040); }
/// ```
///
/// # Methods
///
/// ```
/// use async_cache_runtime::{Cache, async_cached};
///
/// #[derive(Clone)]
/// struct Repo {
///     cache: Cache,
///     name: String,
/// }
///
/// impl Repo {
///     #[async_cached(locator = format!("{}/{key}", self.name), version = 1, cache = &self.cache)]
///     async fn describe(&self, key: &str) -> String {
///         format!("{key} in {}", self.name)
///     }
/// }
/// # #[tokio::main] async fn main() {
/// # let repo = Repo { cache: Cache::new(), name: "r".into() };
/// # assert_eq!(repo.describe("k").await, "k in r");
/// # }
/// ```
///
/// # Errors
///
/// Misuse is one compile error on the offending token, and the original function is
/// still emitted: a non-`async` fn, a missing `locator` or `version`, an unknown or
/// repeated argument, a `force_sync` that is not a bool, a literal where a
/// `Duration` is expected, an `impl Trait` return type, `&mut` arguments, `ref`
/// bindings, a version, value or borrowed argument lacking a bound.
#[proc_macro_attribute]
pub fn async_cached(args: TokenStream, item: TokenStream) -> TokenStream {
    expand_attribute(args.into(), item.into()).into()
}

/// The attribute over `proc_macro2` tokens, so tests can call it.
pub(crate) fn expand_attribute(args: TokenStream2, item: TokenStream2) -> TokenStream2 {
    let fingerprint = fingerprint(&args, &item);
    let result = syn::parse2::<attr::Args>(args)
        .and_then(|args| valid::validate(args, item.clone()))
        .map(|model| expand::expand(model, fingerprint));
    match result {
        Ok(tokens) => tokens,
        Err(error) => {
            let mut tokens = item;
            tokens.extend(error.to_compile_error());
            tokens
        }
    }
}

/// A stable, nonzero FNV-1a hash of the attribute and the function as written, less
/// what cannot change the value it makes (see [`neutral`]), so that editing a doc
/// comment does not make every entry the shared tier holds for it stale.
fn fingerprint(args: &TokenStream2, item: &TokenStream2) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in without_neutral_attributes(args.clone())
        .to_string()
        .bytes()
        .chain([0])
        .chain(without_neutral_attributes(item.clone()).to_string().bytes())
    {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash.max(1)
}

/// Removes every `#[..]` / `#![..]` attribute that [`neutral`] allows, wherever it
/// is (on the function, its parameters, statements, nested items).
fn without_neutral_attributes(tokens: TokenStream2) -> TokenStream2 {
    use proc_macro2::{Delimiter, Group, TokenTree};
    let tokens: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if let TokenTree::Punct(pound) = &tokens[i] {
            if pound.as_char() == '#' {
                let bang =
                    matches!(&tokens.get(i + 1), Some(TokenTree::Punct(p)) if p.as_char() == '!');
                let at = i + 1 + usize::from(bang);
                if let Some(TokenTree::Group(group)) = tokens.get(at) {
                    if group.delimiter() == Delimiter::Bracket && neutral(&group.stream()) {
                        i = at + 1;
                        continue;
                    }
                }
            }
        }
        out.push(match &tokens[i] {
            TokenTree::Group(group) => {
                let mut new = Group::new(
                    group.delimiter(),
                    without_neutral_attributes(group.stream()),
                );
                new.set_span(group.span());
                TokenTree::Group(new)
            }
            other => other.clone(),
        });
        i += 1;
    }
    out.into_iter().collect()
}

/// Whether an attribute's contents (`doc = ".."`, `allow(..)`, ...) leave the value a
/// function makes unchanged: docs (`///` included), lint levels, code-generation
/// hints and tool attributes. Anything else is kept in the fingerprint, including
/// attribute macros such as `#[tracing::instrument]`: they may rewrite the body, and
/// one that does not costs only one re-generation per entry when it changes.
fn neutral(contents: &TokenStream2) -> bool {
    use proc_macro2::TokenTree;
    let Some(TokenTree::Ident(first)) = contents.clone().into_iter().next() else {
        return false;
    };
    let first = first.to_string();
    let tool = {
        let mut tokens = contents.clone().into_iter().skip(1);
        matches!(
            (tokens.next(), tokens.next()),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b))) if a.as_char() == ':' && b.as_char() == ':'
        )
    };
    if tool {
        matches!(first.as_str(), "clippy" | "rustfmt" | "diagnostic")
    } else {
        matches!(
            first.as_str(),
            "doc"
                | "allow"
                | "warn"
                | "deny"
                | "forbid"
                | "expect"
                | "inline"
                | "cold"
                | "must_use"
                | "track_caller"
                | "deprecated"
        )
    }
}

#[cfg(test)]
mod tests;
