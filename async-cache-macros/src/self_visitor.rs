//! Rewrites `self` in the body of a method to a hygienic local that holds (or borrows)
//! the clone of `self` made when a generation runs: `self` itself cannot be rebound.

use proc_macro2::{Group, Ident, Span, TokenStream, TokenTree};
use syn::visit_mut::{self, VisitMut};
use syn::{ExprPath, Item, Macro};

/// The local the generator binds `self` to.
pub(crate) fn self_ident(location: Span) -> Ident {
    Ident::new(
        "__async_cached_self",
        Span::mixed_site().located_at(location),
    )
}

/// Replaces the value `self` (not `self::path`) everywhere in a body, including
/// inside macro invocations and `macro_rules!` definitions (token by token), but not
/// inside other nested items (`fn`, `impl`, `trait`, ...), whose `self` is their
/// own. Counts replacements.
#[derive(Default)]
pub(crate) struct SelfVisitor {
    pub(crate) replaced: usize,
}

impl SelfVisitor {
    fn tokens(&mut self, tokens: TokenStream) -> TokenStream {
        let mut out = Vec::new();
        let mut iter = tokens.into_iter().peekable();
        while let Some(token) = iter.next() {
            match token {
                TokenTree::Ident(ident) if ident == "self" => {
                    let is_path =
                        matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == ':');
                    if is_path {
                        out.push(TokenTree::Ident(ident));
                    } else {
                        self.replaced += 1;
                        out.push(TokenTree::Ident(self_ident(ident.span())));
                    }
                }
                TokenTree::Group(group) => {
                    let mut new = Group::new(group.delimiter(), self.tokens(group.stream()));
                    new.set_span(group.span());
                    out.push(TokenTree::Group(new));
                }
                other => out.push(other),
            }
        }
        out.into_iter().collect()
    }
}

impl VisitMut for SelfVisitor {
    fn visit_expr_path_mut(&mut self, node: &mut ExprPath) {
        if node.qself.is_none()
            && node.path.leading_colon.is_none()
            && node.path.segments.len() == 1
            && node.path.segments[0].ident == "self"
        {
            let span = node.path.segments[0].ident.span();
            node.path.segments[0].ident = self_ident(span);
            self.replaced += 1;
        }
        visit_mut::visit_expr_path_mut(self, node);
    }

    fn visit_macro_mut(&mut self, node: &mut Macro) {
        node.tokens = self.tokens(std::mem::take(&mut node.tokens));
    }

    /// A nested item has its own `self`, if any, and is left alone; but a
    /// `macro_rules!` defined in the body may name the method's `self` (its locals
    /// resolve where it is defined), so its tokens are rewritten, as async-trait
    /// does.
    fn visit_item_mut(&mut self, item: &mut Item) {
        if let Item::Macro(item) = item {
            if item.mac.path.is_ident("macro_rules") {
                self.visit_macro_mut(&mut item.mac);
            }
        }
    }
}
