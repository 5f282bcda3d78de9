//! Validating the parsed arguments and the annotated function: everything the
//! expansion cannot serve is a spanned error here, so `expand` cannot fail.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{
    Expr, ExprLit, FnArg, Ident, ItemFn, Lit, Pat, Path, ReturnType, Type, parse_quote,
    parse_quote_spanned,
};

use crate::attr::{self, Args, ForceSync, Named};

/// A function the expansion can serve, with everything it needs.
pub(crate) struct Model {
    /// The function as it will be emitted (with `mut` moved off the parameters).
    pub(crate) func: ItemFn,
    pub(crate) locator: Expr,
    pub(crate) version: Expr,
    pub(crate) force_sync: Option<Expr>,
    pub(crate) expires_in: Option<Expr>,
    pub(crate) refresh_after: Option<Expr>,
    pub(crate) fail_safe: Option<Expr>,
    pub(crate) soft_timeout: Option<Expr>,
    pub(crate) cache: Option<Expr>,
    pub(crate) krate: Path,
    pub(crate) receiver: Option<SelfParam>,
    pub(crate) bindings: Vec<Binding>,
    /// The return type (`()` when none is written).
    pub(crate) output: Type,
    /// Whether the return type's last path segment is `Result`: `try_fetch`.
    pub(crate) fallible: bool,
}

/// How `self` is taken.
pub(crate) struct SelfParam {
    pub(crate) by_ref: bool,
    pub(crate) mutable: bool,
    pub(crate) span: Span,
}

/// One name bound by the function's parameters.
pub(crate) struct Binding {
    pub(crate) ident: Ident,
    pub(crate) mutable: bool,
    /// `x: &T` (not `&'static`): owned through `ToOwned`, re-borrowed in the body.
    pub(crate) borrowed: bool,
}

pub(crate) fn validate(args: Args, item: TokenStream) -> syn::Result<Model> {
    let mut func: ItemFn = parse_item(item)?;
    let mut errors = Errors::default();

    let sig = &func.sig;
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "`#[async_cached]` needs an `async fn`, not a `const fn`: write `async fn`",
        ));
    } else if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span,
            "`#[async_cached]` needs an `async fn`: write `async fn` (the body becomes the generator of a cached future)",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new(
            variadic.dots.spans[0],
            "`#[async_cached]` cannot cache a variadic function",
        ));
    }

    let output: Type = match &sig.output {
        ReturnType::Default => parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Some(span) = find_impl_trait(&output.to_token_stream()) {
        errors.push(syn::Error::new(
            span,
            "`#[async_cached]` cannot cache an `impl Trait` return type: the cached value needs a type that is `Clone + Send + Sync + 'static`; name the type",
        ));
    }
    let fallible = is_result(&output);

    let mut receiver = None;
    let mut bindings = Vec::new();
    for input in func.sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => {
                let ty = peel(&r.ty);
                match ty {
                    Type::Reference(reference) if reference.mutability.is_some() => {
                        let span = match &r.reference {
                            Some((and, _)) => and.span,
                            None => reference.and_token.span,
                        };
                        errors.push(syn::Error::new(
                            span,
                            "`&mut self` cannot be shared with a background refresh, which runs after the call returns; take `&self` (`Self` is cloned when a generation runs) and keep mutable state behind a lock",
                        ));
                    }
                    Type::Reference(_) => {
                        receiver = Some(SelfParam {
                            by_ref: true,
                            mutable: false,
                            span: r.self_token.span,
                        });
                    }
                    _ => {
                        let mutable = r.mutability.is_some() && r.reference.is_none();
                        if r.reference.is_none() {
                            r.mutability = None;
                        }
                        receiver = Some(SelfParam {
                            by_ref: false,
                            mutable,
                            span: r.self_token.span,
                        });
                    }
                }
            }
            FnArg::Typed(typed) => {
                let ty = peel(&typed.ty).clone();
                if let Type::Reference(reference) = &ty {
                    if let Some(mutability) = &reference.mutability {
                        errors.push(syn::Error::new(
                            mutability.span,
                            format!(
                                "`&mut` arguments cannot be shared with a background refresh, which runs after the call returns; take the value (`{pat}: {elem}`) or a shared reference (`{pat}: &{elem}`), or keep the state behind a lock",
                                pat = typed.pat.to_token_stream(),
                                elem = reference.elem.to_token_stream(),
                            ),
                        ));
                        continue;
                    }
                }
                let borrowed = match &ty {
                    Type::Reference(reference) => reference
                        .lifetime
                        .as_ref()
                        .is_none_or(|lifetime| lifetime.ident != "static"),
                    _ => false,
                };
                if let Err(error) = collect(&mut typed.pat, borrowed, &mut bindings) {
                    errors.push(error);
                }
            }
        }
    }

    // Without a `version`, `refresh_after` caches by time alone: the version is `()`.
    let version = match (args.version, &args.refresh_after) {
        (None, Some(refresh_after)) => Some(Named {
            name: refresh_after.name.clone(),
            value: parse_quote_spanned!(refresh_after.name.span()=> ()),
        }),
        (version, _) => version,
    };
    let (locator, version) = match (args.locator, version) {
        (Some(locator), Some(version)) => (locator, version),
        (locator, version) => {
            let missing = match (&locator, &version) {
                (None, None) => {
                    "missing `locator` and `version`; write `#[async_cached(locator = <expr>, version = <expr>)]`, e.g. `locator = format!(\"things/{id}\"), version = thing.updated_at` (`version` may be left out only with `refresh_after = <Duration>`, to cache by time alone)"
                }
                (None, _) => {
                    "missing `locator`; add `locator = <expr>`, any `AsRef<str>` value, e.g. `locator = format!(\"things/{id}\")`"
                }
                _ => {
                    "missing `version`; add `version = <expr>`, any `Ord` value, e.g. `version = thing.updated_at`, or `refresh_after = <Duration>` to cache by time alone"
                }
            };
            errors.push(syn::Error::new(attr::attribute_span(), missing));
            return Err(errors.finish().unwrap_err());
        }
    };
    check_locator(&locator, &mut errors);
    let force_sync = match args.force_sync {
        None => None,
        Some(Named {
            value: ForceSync::Bare,
            name,
        }) => Some(Expr::Lit(ExprLit {
            attrs: Vec::new(),
            lit: Lit::Bool(syn::LitBool::new(true, name.span())),
        })),
        Some(Named {
            value: ForceSync::Expr(expr),
            ..
        }) => {
            if let Some(lit) = literal(&expr) {
                if !matches!(lit, Lit::Bool(_)) {
                    errors.push(syn::Error::new(
                        lit.span(),
                        "`force_sync` expects a bool: write `force_sync`, `force_sync = true` or an expression such as `force_sync = user.is_editor()`",
                    ));
                }
            }
            Some(expr)
        }
    };
    let mut duration = |named: Option<Named<Expr>>| {
        named.map(|named| {
            if let Some(lit) = literal(&named.value) {
                let name = &named.name;
                errors.push(syn::Error::new(
                    lit.span(),
                    format!(
                        "`{name}` expects a `std::time::Duration`, e.g. `{name} = Duration::from_secs(60)`"
                    ),
                ));
            }
            named.value
        })
    };
    let expires_in = duration(args.expires_in);
    let refresh_after = duration(args.refresh_after);
    let fail_safe = duration(args.fail_safe);
    let soft_timeout = duration(args.soft_timeout);
    let cache = args.cache.map(|named| {
        if let Some(lit) = literal(&named.value) {
            errors.push(syn::Error::new(
                lit.span(),
                "`cache` expects a reference to a cache, e.g. `cache = &MY_CACHE` or `cache = &self.cache`",
            ));
        }
        named.value
    });
    let krate = match args.krate {
        Some(named) => named.value,
        None => parse_quote!(::async_cache_runtime),
    };
    errors.finish()?;

    Ok(Model {
        func,
        locator: locator.value,
        version: version.value,
        force_sync,
        expires_in,
        refresh_after,
        fail_safe,
        soft_timeout,
        cache,
        krate,
        receiver,
        bindings,
        output,
        fallible,
    })
}

fn parse_item(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => Ok(func),
        Err(error) => {
            if let Ok(method) = syn::parse2::<syn::TraitItemFn>(item.clone()) {
                if method.default.is_none() {
                    return Err(syn::Error::new(
                        method.sig.ident.span(),
                        "`#[async_cached]` needs a function body: the body becomes the generator; put the attribute on the method's implementation",
                    ));
                }
            }
            let span = item
                .into_iter()
                .next()
                .map_or_else(Span::call_site, |token| token.span());
            let mut out = syn::Error::new(
                span,
                "`#[async_cached]` applies to an `async fn` with a body",
            );
            if error.to_string() != "expected `fn`" {
                out.combine(error);
            }
            Err(out)
        }
    }
}

/// A string literal is the only literal that is a locator.
fn check_locator(locator: &Named<Expr>, errors: &mut Errors) {
    if let Some(lit) = literal(&locator.value) {
        if !matches!(lit, Lit::Str(_)) {
            errors.push(syn::Error::new(
                lit.span(),
                "`locator` expects a string (any `AsRef<str>` value), e.g. `locator = format!(\"things/{id}\")`",
            ));
        }
    }
}

fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(ExprLit { lit, .. }) => Some(lit),
        Expr::Paren(paren) => literal(&paren.expr),
        Expr::Group(group) => literal(&group.expr),
        _ => None,
    }
}

fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(paren) => peel(&paren.elem),
        Type::Group(group) => peel(&group.elem),
        ty => ty,
    }
}

fn is_result(ty: &Type) -> bool {
    match peel(ty) {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        _ => false,
    }
}

fn find_impl_trait(tokens: &TokenStream) -> Option<Span> {
    tokens.clone().into_iter().find_map(|token| match token {
        TokenTree::Ident(ident) if ident == "impl" => Some(ident.span()),
        TokenTree::Group(group) => find_impl_trait(&group.stream()),
        _ => None,
    })
}

/// Collects the names a parameter pattern binds, moving `mut` from the pattern to the
/// rebinding made inside the generator.
fn collect(pat: &mut Pat, borrowed: bool, out: &mut Vec<Binding>) -> syn::Result<()> {
    match pat {
        Pat::Ident(ident) => {
            if let Some(by_ref) = &ident.by_ref {
                return Err(syn::Error::new(
                    by_ref.span,
                    "`ref` bindings in parameters cannot be cached: bind the value (`x: T`) and borrow it in the body",
                ));
            }
            let nested = ident.subpat.is_some();
            out.push(Binding {
                ident: ident.ident.clone(),
                mutable: ident.mutability.take().is_some(),
                borrowed: borrowed && !nested,
            });
            if let Some((_, sub)) = &mut ident.subpat {
                collect(sub, false, out)?;
            }
            Ok(())
        }
        Pat::Wild(_) | Pat::Rest(_) => Ok(()),
        Pat::Paren(paren) => collect(&mut paren.pat, borrowed, out),
        Pat::Reference(reference) => collect(&mut reference.pat, false, out),
        Pat::Tuple(tuple) => tuple
            .elems
            .iter_mut()
            .try_for_each(|pat| collect(pat, false, out)),
        Pat::TupleStruct(tuple) => tuple
            .elems
            .iter_mut()
            .try_for_each(|pat| collect(pat, false, out)),
        Pat::Slice(slice) => slice
            .elems
            .iter_mut()
            .try_for_each(|pat| collect(pat, false, out)),
        Pat::Struct(strukt) => strukt
            .fields
            .iter_mut()
            .try_for_each(|field| collect(&mut field.pat, false, out)),
        other => Err(syn::Error::new(
            other.span(),
            "`#[async_cached]` does not support this parameter pattern; bind the argument to a name (`x: T`) and destructure it in the body",
        )),
    }
}

/// Every misuse found, reported together (one error each).
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}
