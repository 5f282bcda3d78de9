//! The expansion of a validated function. See the rustdoc of `async_cached` for its
//! shape.

use std::collections::HashSet;

use proc_macro2::{Ident, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;

use crate::self_visitor::{SelfVisitor, self_ident};
use crate::valid::Model;

pub(crate) fn expand(model: Model, fingerprint: u64) -> TokenStream {
    let Model {
        func,
        locator,
        version,
        force_sync,
        expires_in,
        cache,
        krate,
        receiver,
        bindings,
        output,
        fallible,
    } = model;
    let private = quote!(#krate::__private);

    // Names the expressions evaluated before the fetch mention: their results may
    // still borrow them, so the generator clones rather than moves them.
    let mut outer = Names::default();
    for expr in [
        Some(&locator),
        Some(&version),
        force_sync.as_ref(),
        expires_in.as_ref(),
        cache.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        outer.scan(expr.to_token_stream());
    }

    let mut body = (*func.block).clone();
    let mut visitor = SelfVisitor::default();
    if receiver.is_some() {
        visitor.visit_block_mut(&mut body);
    }
    // Names the body mentions: only those are owned by the generator.
    let mut inner = Names::default();
    inner.scan(body.to_token_stream());

    let mut own = Vec::new();
    let mut rebind = Vec::new();
    for binding in &bindings {
        let ident = &binding.ident;
        if !inner.contains(ident) {
            continue;
        }
        let span = ident.span();
        if binding.borrowed {
            own.push(quote_spanned! {span=>
                let #ident = #private::to_owned(#ident);
            });
            let mutability = binding.mutable.then(|| quote!(mut));
            rebind.push(quote_spanned! {span=>
                #[allow(unused_variables, unused_mut)]
                let #mutability #ident = #private::Borrowed::get(&#ident);
            });
        } else {
            if outer.contains(ident) {
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
    if let Some(receiver) = receiver.filter(|_| visitor.replaced > 0) {
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
            if outer.contains(&self_value) {
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

    // Generated locals are hygienic (invisible to the user's code, and the user's
    // names invisible to them), located at what they hold for rustc's errors.
    let hygienic = |name: &str, at: Span| Ident::new(name, Span::mixed_site().located_at(at));
    let ret = hygienic("__async_cached_ret", output.span());
    let locator_var = hygienic("__async_cached_locator", locator.span());
    let version_var = hygienic("__async_cached_version", version.span());
    let options_var = hygienic("__async_cached_options", Span::call_site());
    let cache_var = hygienic(
        "__async_cached_cache",
        cache.as_ref().map_or_else(Span::call_site, Spanned::span),
    );

    let force_sync = match force_sync {
        Some(expr) => expr.to_token_stream(),
        None => quote!(false),
    };
    let expires_in = match expires_in {
        Some(expr) => quote!(::core::option::Option::Some(#expr)),
        None => quote!(::core::option::Option::None),
    };
    let cache = match cache {
        Some(expr) => expr.to_token_stream(),
        None => quote!(#private::global()),
    };
    let fingerprint = Literal::u64_suffixed(fingerprint);
    let fetch = if fallible {
        quote!(try_fetch)
    } else {
        quote!(fetch)
    };
    let stmts = &body.stmts;

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
            let #options_var = #private::options(#force_sync, #expires_in, #fingerprint);
            let #cache_var: &#private::Cache<_> = #cache;
            #private::#fetch(
                #cache_var,
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
            )
            .await
        }
    }
}

/// The identifiers a token stream mentions, including inline format arguments
/// (`"{id}"`) in string literals.
#[derive(Default)]
struct Names(HashSet<String>);

impl Names {
    fn contains(&self, ident: &Ident) -> bool {
        self.0.contains(&ident.to_string())
    }

    fn scan(&mut self, tokens: TokenStream) {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => {
                    self.0.insert(ident.to_string());
                }
                TokenTree::Group(group) => self.scan(group.stream()),
                TokenTree::Literal(literal) => self.scan_format_string(&literal.to_string()),
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// `{name}` and `{name:spec}` in a string literal (over-approximated: any
    /// literal, `{{` skipped).
    fn scan_format_string(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '{' {
                continue;
            }
            if chars.peek() == Some(&'{') {
                chars.next();
                continue;
            }
            let mut name = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_alphanumeric() || c == '_' || c == '#' {
                    name.push(c);
                    chars.next();
                } else {
                    break;
                }
            }
            if !name.is_empty() && matches!(chars.peek(), Some('}' | ':')) {
                self.0.insert(name);
            }
        }
    }
}
