//! Which of the function's arguments a piece of code refers to, with Rust's scoping:
//! a name bound inside the code (`let x = ..;` before a use, a closure or match
//! parameter, an `if let` or `for` pattern) hides the argument of that name, and
//! nested items (`fn`, `impl`, ...) cannot see the function's locals at all.
//!
//! Over-approximating is always safe: an argument reported used is moved into the
//! generation (needing `Send + 'static`) even if, say, a macro only shadows it; an
//! argument reported unused while it is used would be captured by the generator's
//! `async move` all the same, only without the error spanned on the argument. So
//! the tokens of a macro invocation count as uses (a macro may expand them to
//! anything), `macro_rules!` bodies too (their locals resolve where the macro is
//! defined), and a `let` counts its right side before its pattern:
//! `let x = x.to_string();` uses the argument `x`.

use std::collections::HashSet;

use proc_macro2::{TokenStream, TokenTree};
use quote::ToTokens;
use syn::visit::{self, Visit};
use syn::{
    Arm, Block, Expr, ExprClosure, ExprForLoop, ExprIf, ExprPath, ExprWhile, Item, Local, Macro,
    Pat, Stmt,
};

/// The names the code refers to that are not bound inside it.
#[derive(Default)]
pub(crate) struct Uses {
    used: HashSet<String>,
    /// Names bound by the code at the current point, innermost last.
    bound: Vec<String>,
}

impl Uses {
    pub(crate) fn of_block(block: &Block) -> Self {
        let mut uses = Uses::default();
        uses.visit_block(block);
        uses
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.used.contains(name)
    }

    fn use_name(&mut self, name: String) {
        if !self.bound.contains(&name) {
            self.used.insert(name);
        }
    }

    fn bind(&mut self, pat: &Pat) {
        let mut binder = Binder(Vec::new());
        binder.visit_pat(pat);
        self.bound.extend(binder.0);
    }

    /// Every identifier of a macro's tokens, and every inline format argument
    /// (`"{id}"`, `"{id:?}"`) of its string literals.
    fn tokens(&mut self, tokens: TokenStream) {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) => self.use_name(ident.to_string()),
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Literal(literal) => {
                    for name in format_arguments(&literal.to_string()) {
                        self.use_name(name);
                    }
                }
                TokenTree::Punct(_) => {}
            }
        }
    }

    /// An `if`/`while` condition: the patterns of its `let`s are bound in what the
    /// condition guards (and in the rest of a `&&` chain).
    fn condition(&mut self, cond: &Expr) {
        match cond {
            Expr::Let(expr_let) => {
                self.visit_expr(&expr_let.expr);
                self.bind(&expr_let.pat);
            }
            Expr::Binary(binary) if matches!(binary.op, syn::BinOp::And(_)) => {
                self.condition(&binary.left);
                self.condition(&binary.right);
            }
            Expr::Paren(paren) => self.condition(&paren.expr),
            other => self.visit_expr(other),
        }
    }
}

impl<'ast> Visit<'ast> for Uses {
    fn visit_block(&mut self, block: &'ast Block) {
        let scope = self.bound.len();
        for stmt in &block.stmts {
            match stmt {
                Stmt::Local(local) => self.visit_local(local),
                other => self.visit_stmt(other),
            }
        }
        self.bound.truncate(scope);
    }

    /// Binds for the rest of the enclosing block, which truncates.
    fn visit_local(&mut self, local: &'ast Local) {
        for attr in &local.attrs {
            self.visit_attribute(attr);
        }
        if let Some(init) = &local.init {
            self.visit_expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
        }
        self.bind(&local.pat);
    }

    fn visit_expr_closure(&mut self, closure: &'ast ExprClosure) {
        let scope = self.bound.len();
        for input in &closure.inputs {
            self.bind(input);
        }
        self.visit_expr(&closure.body);
        self.bound.truncate(scope);
    }

    fn visit_arm(&mut self, arm: &'ast Arm) {
        let scope = self.bound.len();
        self.bind(&arm.pat);
        if let Some((_, guard)) = &arm.guard {
            self.visit_expr(guard);
        }
        self.visit_expr(&arm.body);
        self.bound.truncate(scope);
    }

    fn visit_expr_if(&mut self, expr: &'ast ExprIf) {
        let scope = self.bound.len();
        self.condition(&expr.cond);
        self.visit_block(&expr.then_branch);
        self.bound.truncate(scope);
        if let Some((_, else_branch)) = &expr.else_branch {
            self.visit_expr(else_branch);
        }
    }

    fn visit_expr_while(&mut self, expr: &'ast ExprWhile) {
        let scope = self.bound.len();
        self.condition(&expr.cond);
        self.visit_block(&expr.body);
        self.bound.truncate(scope);
    }

    fn visit_expr_for_loop(&mut self, expr: &'ast ExprForLoop) {
        self.visit_expr(&expr.expr);
        let scope = self.bound.len();
        self.bind(&expr.pat);
        self.visit_block(&expr.body);
        self.bound.truncate(scope);
    }

    fn visit_expr_path(&mut self, expr: &'ast ExprPath) {
        if expr.qself.is_none() {
            if let Some(ident) = expr.path.get_ident() {
                self.use_name(ident.to_string());
            }
        }
        visit::visit_expr_path(self, expr);
    }

    fn visit_macro(&mut self, mac: &'ast Macro) {
        self.tokens(mac.tokens.clone());
    }

    /// A nested item cannot see the function's locals; a `macro_rules!` defined
    /// here can (its locals resolve at its definition).
    fn visit_item(&mut self, item: &'ast Item) {
        if let Item::Macro(item) = item {
            self.visit_macro(&item.mac);
        }
    }

    /// Types and patterns never refer to locals.
    fn visit_type(&mut self, _: &'ast syn::Type) {}

    fn visit_pat(&mut self, _: &'ast Pat) {}
}

/// Collects the names a pattern binds. (A path-like identifier such as `None` is
/// collected too: hiding an argument of that name is harmless.)
struct Binder(Vec<String>);

impl<'ast> Visit<'ast> for Binder {
    fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
        self.0.push(pat.ident.to_string());
        visit::visit_pat_ident(self, pat);
    }

    /// `m!(..)` in a pattern binds nothing we can see.
    fn visit_macro(&mut self, _: &'ast Macro) {}
}

/// `{name}` and `{name:spec}` in a string literal's text (over-approximated: any
/// literal, `{{` skipped).
pub(crate) fn format_arguments(text: &str) -> Vec<String> {
    let mut names = Vec::new();
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
            names.push(name);
        }
    }
    names
}

/// Every name the tokens mention, scoping ignored (for expressions evaluated
/// before the fetch, where over-approximating only clones more).
pub(crate) fn mentioned(tokens: &impl ToTokens) -> HashSet<String> {
    let mut uses = Uses::default();
    uses.tokens(tokens.to_token_stream());
    uses.used
}
