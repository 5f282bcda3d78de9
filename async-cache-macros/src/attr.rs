//! Parsing the attribute's arguments: `#[async_cached(locator = .., version = .., ..)]`.
//!
//! Every value is parsed as a real Rust expression (or path) so that its spans survive
//! into the expansion and rustc's own errors point into the user's code.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::{Expr, Ident, LitStr, Path, Token};

/// The valid argument names, for error messages.
pub(crate) const EXPECTED: &str = "expected one of `locator`, `version`, `force_sync`, `expires_in`, `refresh_after`, `fail_safe`, `soft_timeout`, `cache`, `crate`";

/// An argument's value with the span of its name, for errors about the argument.
pub(crate) struct Named<T> {
    pub(crate) name: Ident,
    pub(crate) value: T,
}

/// `force_sync` alone, or `force_sync = <bool expr>`.
pub(crate) enum ForceSync {
    Bare,
    Expr(Expr),
}

/// The arguments as written: each at most once, in any order. Whether the required
/// ones are present is checked by `valid`.
#[derive(Default)]
pub(crate) struct Args {
    pub(crate) locator: Option<Named<Expr>>,
    pub(crate) version: Option<Named<Expr>>,
    pub(crate) force_sync: Option<Named<ForceSync>>,
    pub(crate) expires_in: Option<Named<Expr>>,
    pub(crate) refresh_after: Option<Named<Expr>>,
    pub(crate) fail_safe: Option<Named<Expr>>,
    pub(crate) soft_timeout: Option<Named<Expr>>,
    pub(crate) cache: Option<Named<Expr>>,
    pub(crate) krate: Option<Named<Path>>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = Args::default();
        while !input.is_empty() {
            if !input.peek(Ident::peek_any) {
                return Err(input.error(format!("expected an argument name; {EXPECTED}")));
            }
            let name = input.call(Ident::parse_any)?;
            let key = name.to_string();
            match key.as_str() {
                "locator" => {
                    let value = expr_value(input, &name, "locator = format!(\"things/{id}\")")?;
                    set(&mut args.locator, name, value)?;
                }
                "version" => {
                    let value = expr_value(input, &name, "version = thing.updated_at")?;
                    set(&mut args.version, name, value)?;
                }
                "expires_in" | "refresh_after" | "fail_safe" | "soft_timeout" => {
                    let example = format!("{key} = std::time::Duration::from_secs(60)");
                    let value = expr_value(input, &name, &example)?;
                    let slot = match key.as_str() {
                        "expires_in" => &mut args.expires_in,
                        "refresh_after" => &mut args.refresh_after,
                        "fail_safe" => &mut args.fail_safe,
                        _ => &mut args.soft_timeout,
                    };
                    set(slot, name, value)?;
                }
                "cache" => {
                    let value = expr_value(input, &name, "cache = &MY_CACHE")?;
                    set(&mut args.cache, name, value)?;
                }
                "force_sync" => {
                    let value = if input.peek(Token![=]) {
                        input.parse::<Token![=]>()?;
                        ForceSync::Expr(parse_expr(input, &name)?)
                    } else {
                        ForceSync::Bare
                    };
                    set(&mut args.force_sync, name, value)?;
                }
                "crate" => {
                    if !input.peek(Token![=]) {
                        return Err(needs_value(&name, "crate = ::my_renamed_runtime"));
                    }
                    input.parse::<Token![=]>()?;
                    // A string, as tokio and serde accept it, or a path.
                    let path = if input.peek(LitStr) {
                        let lit: LitStr = input.parse()?;
                        lit.parse_with(Path::parse_mod_style).map_err(|_| {
                            syn::Error::new(
                                lit.span(),
                                "`crate` expects a path, e.g. `crate = ::my_renamed_runtime` or `crate = \"::my_renamed_runtime\"`",
                            )
                        })?
                    } else if input.is_empty() || input.peek(Token![,]) {
                        return Err(syn::Error::new(
                            name.span(),
                            "`crate` expects a path: `crate = ::my_renamed_runtime` or `crate = \"::my_renamed_runtime\"`",
                        ));
                    } else {
                        input.call(Path::parse_mod_style)?
                    };
                    set(&mut args.krate, name, path)?;
                }
                _ => {
                    let name_text = name.unraw();
                    return Err(syn::Error::new(
                        name.span(),
                        format!("unknown argument `{name_text}`; {EXPECTED}"),
                    ));
                }
            }
            if input.is_empty() {
                break;
            }
            if !input.peek(Token![,]) {
                return Err(input.error(format!(
                    "expected `,` after the value of `{key}`, then the next argument"
                )));
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

fn needs_value(name: &Ident, example: &str) -> syn::Error {
    syn::Error::new(
        name.span(),
        format!("`{name}` needs a value, e.g. `{example}`"),
    )
}

/// `= <expr>` after an argument name.
fn expr_value(input: ParseStream, name: &Ident, example: &str) -> syn::Result<Expr> {
    if !input.peek(Token![=]) || input.peek(Token![==]) || input.peek(Token![=>]) {
        return Err(needs_value(name, example));
    }
    input.parse::<Token![=]>()?;
    parse_expr(input, name)
}

fn parse_expr(input: ParseStream, name: &Ident) -> syn::Result<Expr> {
    if input.is_empty() || input.peek(Token![,]) {
        return Err(syn::Error::new(
            name.span(),
            format!("`{name} =` needs an expression after `=`"),
        ));
    }
    input.parse()
}

fn set<T>(slot: &mut Option<Named<T>>, name: Ident, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(
            name.span(),
            format!("duplicate argument `{name}`; each argument may be given once"),
        ));
    }
    *slot = Some(Named { name, value });
    Ok(())
}

/// The span errors about a missing argument point at: the attribute itself.
pub(crate) fn attribute_span() -> Span {
    Span::call_site()
}
