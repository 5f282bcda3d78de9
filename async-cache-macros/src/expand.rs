//! The expansion of a validated function. See the rustdoc of `async_cached` for its
//! shape.

use std::collections::HashSet;

use proc_macro2::{Delimiter, Group, Ident, Literal, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::Expr;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;

use crate::self_visitor::{SelfVisitor, self_ident};
use crate::uses::{Uses, mentioned};
use crate::valid::Model;

pub(crate) fn expand(model: Model, fingerprint: u64) -> TokenStream {
    let Model {
        func,
        locator,
        version,
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
    } = model;
    let private = quote!(#krate::__private);

    let mut body = (*func.block).clone();
    let mut visitor = SelfVisitor::default();
    if receiver.is_some() {
        visitor.visit_block_mut(&mut body);
    }
    // The arguments the body refers to (scoping respected): only those are owned by
    // the generator.
    let inner = Uses::of_block(&body);
    let self_used = receiver.is_some() && visitor.replaced > 0;

    // The arguments whose value may still be borrowed by the `locator` or `cache`
    // results when the generator takes the arguments: those are cloned, not moved.
    // `version` (`'static`), `force_sync` (`bool`) and the `Duration`s (`expires_in`,
    // `refresh_after`, `fail_safe`, `soft_timeout`) cannot borrow anything, and neither can a locator whose value is owned.
    let mut borrowed = HashSet::new();
    let locator_kind = LocatorKind::of(&locator);
    if locator_kind != LocatorKind::Owned {
        borrowed.extend(mentioned(&locator));
    }
    if let Some(cache) = &cache {
        borrowed.extend(mentioned(cache));
    }

    let mut own = Vec::new();
    let mut rebind = Vec::new();
    for binding in &bindings {
        let ident = &binding.ident;
        if !inner.contains(&ident.to_string()) {
            continue;
        }
        let span = ident.span();
        if binding.borrowed {
            // Checked as the version is (see `__private::OwnCheck`): one error, on
            // the argument, when its type cannot be owned.
            let check = Ident::new("__async_cached_to_owned", span);
            own.push(quote_spanned! {span=>
                let #ident = {
                    #[allow(unused_imports)]
                    use #private::{
                        BorrowedNotSend as _, BorrowedNotSync as _, BorrowedNotToOwned as _,
                        CanOwn as _,
                    };
                    (&&&&#private::OwnCheck(#ident)).#check()
                };
            });
            let mutability = binding.mutable.then(|| quote!(mut));
            rebind.push(quote_spanned! {span=>
                #[allow(unused_variables, unused_mut)]
                let #mutability #ident = #private::Reborrow::get(&#ident);
            });
        } else {
            if borrowed.contains(&ident.to_string()) {
                own.push(quote_spanned! {span=>
                    let #ident = #private::cloned(&#ident);
                });
            } else {
                own.push(quote_spanned! {span=>
                    let #ident = #private::owned(#ident);
                });
            }
            if binding.mutable {
                rebind.push(quote_spanned! {span=>
                    #[allow(unused_variables, unused_mut)]
                    let mut #ident = #ident;
                });
            }
        }
    }
    if let Some(receiver) = receiver.as_ref().filter(|_| self_used) {
        let span = receiver.span;
        let self_value = Ident::new("self", span);
        let owned_self = Ident::new(
            "__async_cached_self_owned",
            Span::mixed_site().located_at(span),
        );
        let local_self = self_ident(span);
        if receiver.by_ref {
            own.push(quote_spanned! {span=>
                let #owned_self = #private::cloned(#self_value);
            });
            rebind.push(quote_spanned! {span=>
                let #local_self = &#owned_self;
            });
        } else {
            if borrowed.contains("self") {
                own.push(quote_spanned! {span=>
                    let #owned_self = #private::cloned(&#self_value);
                });
            } else {
                own.push(quote_spanned! {span=>
                    let #owned_self = #private::owned(#self_value);
                });
            }
            let mutability = receiver.mutable.then(|| quote!(mut));
            rebind.push(quote_spanned! {span=>
                #[allow(unused_mut)]
                let #mutability #local_self = #owned_self;
            });
        }
    }

    // A locator naming a place (`locator = key`) is borrowed rather than moved out
    // of it, so the body may use `key` too (cloned for it only when a generation
    // runs).
    let locator_span = locator.span();
    let locator = match locator_kind {
        LocatorKind::Place => quote_spanned!(locator_span=> &#locator),
        _ => locator.to_token_stream(),
    };
    // A version naming a place rooted at an argument the generator takes (or at
    // `self`) is cloned out of it rather than moved (`Clone` is required of versions
    // anyway, and a `Copy` version is just copied).
    let version_span = version.span();
    let version_value = match place_root(&version) {
        Some(root) if root == "self" || inner.contains(&root) => {
            quote_spanned!(version_span=> ::core::clone::Clone::clone(&#version))
        }
        _ => version.to_token_stream(),
    };
    // The version goes through a check whose failure is the one error about it,
    // spanned on it (see `__private::VersionCheck`).
    let check = Ident::new("__async_cached_version", version_span);
    let value = Ident::new(
        "__async_cached_value",
        Span::mixed_site().located_at(version_span),
    );
    let version = quote! {
        {
            #[allow(unused_imports)]
            use #private::{IsVersion as _, NotClone as _, NotOrd as _, NotSend as _, NotSync as _};
            let #value = #version_value;
            (&&&&&#private::VersionCheck::of(&#value)).#check().take(#value)
        }
    };

    // Generated locals are hygienic (invisible to the user's code, and the user's
    // names invisible to them), located at what they hold for rustc's errors.
    let hygienic = |name: &str, at: Span| Ident::new(name, Span::mixed_site().located_at(at));
    let output_span = match &func.sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => Span::call_site(),
    };
    let ret = hygienic("__async_cached_ret", output.span());
    let locator_var = hygienic("__async_cached_locator", locator_span);
    let version_var = hygienic("__async_cached_version", version_span);
    let options_var = hygienic("__async_cached_options", Span::call_site());
    let cache_var = hygienic(
        "__async_cached_cache",
        cache.as_ref().map_or_else(Span::call_site, Spanned::span),
    );

    let force_sync = match force_sync {
        Some(expr) => expr.to_token_stream(),
        None => quote!(false),
    };
    let duration = |expr: Option<Expr>| match expr {
        Some(expr) => quote!(::core::option::Option::Some(#expr)),
        None => quote!(::core::option::Option::None),
    };
    let expires_in = duration(expires_in);
    let refresh_after = duration(refresh_after);
    let fail_safe = duration(fail_safe);
    let soft_timeout = duration(soft_timeout);
    let cache = match cache {
        Some(expr) => expr.to_token_stream(),
        None => quote!(#private::global()),
    };
    let fingerprint = Literal::u64_suffixed(fingerprint);
    // Located at the return type: a value (or error) type that cannot be cached is
    // reported there.
    let fetch = Ident::new(if fallible { "try_fetch" } else { "fetch" }, output_span);
    let stmts = &body.stmts;
    // The check that the cache stores such values, located at the return type (see
    // `__private::StoreCheck`).
    let value_type = if fallible {
        quote_spanned!(output_span=> <#output as #private::Fallible>::Ok)
    } else {
        output.to_token_stream()
    };
    let store_method = Ident::new("__async_cached_store", output_span);
    let value_method = Ident::new("__async_cached_value", output_span);
    // Located at the return type: the cache as the fetch gets it, so that a store
    // bound the value fails is reported there too.
    let checked_cache = hygienic("__async_cached_checked_cache", output_span);
    let value_ok = hygienic("__async_cached_value_ok", output_span);
    let checks = quote! {
        let #value_ok = {
            #[allow(unused_imports)]
            use #private::value_check::*;
            (&&&&#private::ValueCheck::<#value_type>::of()).#value_method()
        };
        let #checked_cache = {
            #[allow(unused_imports)]
            use #private::store_check::*;
            (&&&&&&&#value_ok.store_check::<#value_type, _, _>(#cache_var, &#version_var))
                .#store_method()
                .take(#cache_var)
        };
    };
    let args = quote! {
                #checked_cache,
                #locator_var,
                #version_var,
                #options_var,
                || {
                    #(#own)*
                    async move {
                        if let ::core::option::Option::Some(#ret) =
                            ::core::option::Option::None::<#output>
                        {
                            #[allow(unreachable_code)]
                            return #ret;
                        }
                        #(#rebind)*
                        #(#stmts)*
                    }
                },
    };
    // The call and its `.await` are located at the return type, where rustc then
    // reports (once) a bound of the fetch that no argument explains: the error's.
    let mut parens = Group::new(Delimiter::Parenthesis, args);
    parens.set_span(output_span);
    let call = quote_spanned!(output_span=> (#value_ok).#fetch #parens.await);

    let (inner_attrs, outer_attrs): (Vec<_>, Vec<_>) = func
        .attrs
        .iter()
        .partition(|attr| matches!(attr.style, syn::AttrStyle::Inner(_)));
    let vis = &func.vis;
    let sig = &func.sig;
    quote! {
        #(#outer_attrs)*
        #vis #sig {
            #(#inner_attrs)*
            let #locator_var = #locator;
            let #version_var = #version;
            let #options_var = #private::options(
                #force_sync,
                #expires_in,
                #refresh_after,
                #fail_safe,
                #soft_timeout,
                #fingerprint,
            );
            let #cache_var: &#private::Cache<_> = #cache;
            #checks
            #call
        }
    }
}

/// What a `locator` expression's value may borrow.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LocatorKind {
    /// An owned `String` (or a literal): it borrows nothing, so the arguments it
    /// mentions may be moved into the generator once it is computed.
    Owned,
    /// A place (`key`, `self.key`): borrowed, so the body may use it too.
    Place,
    /// Anything else (`key.as_str()`): may borrow what it mentions.
    Other,
}

impl LocatorKind {
    fn of(expr: &Expr) -> Self {
        if place_root(expr).is_some() {
            LocatorKind::Place
        } else if owns(expr) {
            LocatorKind::Owned
        } else {
            LocatorKind::Other
        }
    }
}

/// Whether an expression's value is certainly owned: `format!(..)`, a string
/// literal, `String::from(..)`, or a method that makes a `String` (`to_string`,
/// `to_owned`, ..., and `clone` of a place). A wrong "owned" could only be a
/// borrow-check error, never unsound; anything unrecognized is "may borrow".
fn owns(expr: &Expr) -> bool {
    const MAKES_STRING: &[&str] = &[
        "to_string",
        "to_owned",
        "into_owned",
        "to_lowercase",
        "to_uppercase",
        "to_ascii_lowercase",
        "to_ascii_uppercase",
        "replace",
        "replacen",
        "repeat",
        "join",
        "concat",
    ];
    match expr {
        Expr::Paren(paren) => owns(&paren.expr),
        Expr::Group(group) => owns(&group.expr),
        Expr::Lit(lit) => matches!(lit.lit, syn::Lit::Str(_)),
        Expr::Macro(mac) => mac
            .mac
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "format"),
        Expr::MethodCall(call) => {
            let method = call.method.to_string();
            MAKES_STRING.contains(&method.as_str())
                || (method == "clone" && place_root(&call.receiver).is_some())
        }
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) if path.qself.is_none() => {
                let names: Vec<String> = path
                    .path
                    .segments
                    .iter()
                    .map(|segment| segment.ident.to_string())
                    .collect();
                let names: Vec<&str> = names.iter().map(String::as_str).collect();
                matches!(
                    names.as_slice(),
                    [.., "String", "from" | "new"] | [.., "ToString", "to_string"]
                )
            }
            _ => false,
        },
        _ => false,
    }
}

/// The root name of a place expression (`x`, `x.field`, `x.0.field`, `self.x`).
fn place_root(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            path.path.get_ident().map(ToString::to_string)
        }
        Expr::Field(field) => place_root(&field.base),
        Expr::Paren(paren) => place_root(&paren.expr),
        Expr::Group(group) => place_root(&group.expr),
        _ => None,
    }
}
