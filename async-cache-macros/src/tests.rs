//! The attribute never panics, whatever tokens it is given, and every rejected input
//! yields the original item plus `compile_error!`.

use proc_macro2::TokenStream;

use crate::expand_attribute;

const ARGS: &[&str] = &[
    "",
    ",",
    ",,",
    "=",
    "locator",
    "locator =",
    "locator = ,",
    "locator = \"k\"",
    "locator = \"k\", version",
    "locator = \"k\", version =",
    "locator = \"k\", version = 1",
    "locator = \"k\", version = 1,",
    "locator = \"k\", version = 1 ,,",
    "locator = \"k\" version = 1",
    "locator == \"k\", version = 1",
    "locator => \"k\", version = 1",
    "locator: \"k\", version = 1",
    "locator(\"k\"), version = 1",
    "locator = \"k\", version = 1, locator = \"k\"",
    "locator = \"k\", version = 1, colour = red",
    "locator = \"k\", version = 1, force_sync",
    "locator = \"k\", version = 1, force_sync =",
    "locator = \"k\", version = 1, force_sync = \"yes\"",
    "locator = \"k\", version = 1, force_sync = 1",
    "locator = \"k\", version = 1, force_sync = a.b()",
    "locator = \"k\", version = 1, force_sync, force_sync",
    "locator = \"k\", version = 1, expires_in = 60",
    "locator = \"k\", version = 1, expires_in = Duration::from_secs(1)",
    "locator = \"k\", version = 1, cache",
    "locator = \"k\", version = 1, cache = \"c\"",
    "locator = \"k\", version = 1, cache = &C",
    "locator = \"k\", version = 1, crate",
    "locator = \"k\", version = 1, crate =",
    "locator = \"k\", version = 1, crate = \"x\"",
    "locator = \"k\", version = 1, crate = ::x::y",
    "locator = \"k\", version = 1, crate = x<T>",
    "locator = \"k\", version = 1, crate = 1",
    "locator = 1, version = 1",
    "locator = (1), version = (1)",
    "locator = format!(\"{id}\"), version = x.await?",
    "locator = |x| x, version = async { 1 }",
    "locator = { , }, version = 1",
    "1 = 2",
    "\"locator\" = 1",
    "r#locator = \"k\", version = 1",
    "r#type = 1",
    "type = 1",
    "self = 1",
    "crate::x = 1",
    "locator = \"k\"; version = 1",
    "locator = \"k\", version = 1, #",
    "locator = \"k\", version = 1, 'a",
    "locator = 'a, version = 1",
    "(locator = \"k\")",
    "[]",
    "{}",
    "locator = \"k\", version = 1, force_sync = true, expires_in = d, cache = &C, crate = c",
];

const ITEMS: &[&str] = &[
    "",
    "fn",
    "async fn",
    "async fn f",
    "async fn f()",
    "async fn f() {}",
    "async fn f() -> u8 { 1 }",
    "fn f() -> u8 { 1 }",
    "const fn f() -> u8 { 1 }",
    "const async fn f() -> u8 { 1 }",
    "async unsafe fn f() -> u8 { 1 }",
    "pub(crate) async fn f<T: Clone, 'a, const N: usize>(x: &'a [T; N]) -> Vec<T> where T: Send { x.to_vec() }",
    "async fn f(x: &mut u8) {}",
    "async fn f(&mut self) {}",
    "async fn f(self: &mut Self) {}",
    "async fn f(&self) -> u8 { self.x + format!(\"{}\", self.y).len() as u8 }",
    "async fn f(mut self, mut a: u8) -> u8 { self::g(); a += 1; a }",
    "async fn f(self: Arc<Self>) -> u8 { self.0 }",
    "async fn f((a, b): (u8, u8), S { c, mut d }: S, [e, ..]: [u8; 2], &g: &u8, _: u8, h @ Some(_): Option<u8>) {}",
    "async fn f(ref x: u8) {}",
    "async fn f(x @ ref y: u8) {}",
    "async fn f(A | B: E) {}",
    "async fn f(m!(): u8) {}",
    "async fn f(1: u8) {}",
    "async fn f(x: impl Trait) -> impl Trait { x }",
    "async fn f() -> Result<u8, E> { Ok(1) }",
    "async fn f() -> io::Result<u8> { Ok(1) }",
    "async fn f() -> (Result) { Ok(1) }",
    "async fn f() -> <T as X>::Result { todo!() }",
    "async fn f(args: ...) {}",
    "unsafe extern \"C\" fn f(x: u8, ...) {}",
    "async fn f() { #![allow(unused)] fn inner(&self) { self } impl X { fn g(&self) {} } }",
    "async fn f();",
    "async fn f(&self) -> String;",
    "struct S;",
    "impl S {}",
    "mod m {}",
    "#[doc = \"x\"] /// docs\n pub async fn f() {}",
    "async fn f() { m!(self, self::x, {{self}}) }",
    "fn f() { { { ( [ ] ) } } }",
];

fn tokens(text: &str) -> Option<TokenStream> {
    text.parse().ok()
}

fn check(args: &str, item: &str) {
    let (Some(args_tokens), Some(item_tokens)) = (tokens(args), tokens(item)) else {
        return;
    };
    let output = expand_attribute(args_tokens, item_tokens.clone()).to_string();
    let valid_args = syn::parse2::<crate::attr::Args>(args.parse().unwrap()).is_ok();
    if output.contains("compile_error") {
        assert!(
            output.starts_with(&item_tokens.to_string()),
            "on error the original item comes first: `{args}` on `{item}`"
        );
    } else {
        assert!(valid_args, "accepted invalid arguments `{args}`");
        assert!(
            syn::parse_str::<syn::ItemFn>(&output).is_ok(),
            "the expansion of `{args}` on `{item}` is not a function: {output}"
        );
    }
}

#[test]
fn table_of_inputs_never_panics() {
    for args in ARGS {
        for item in ITEMS {
            check(args, item);
        }
    }
}

#[test]
fn arbitrary_token_streams_never_panic() {
    const WORDS: &[&str] = &[
        "locator",
        "version",
        "force_sync",
        "expires_in",
        "cache",
        "crate",
        "=",
        ",",
        "\"k\"",
        "1",
        "x",
        "self",
        "&",
        "mut",
        "async",
        "fn",
        "f",
        "(",
        ")",
        "{",
        "}",
        "[",
        "]",
        "->",
        "Result",
        "<",
        ">",
        ":",
        "::",
        "?",
        ".await",
        "'a",
        "#",
        "!",
        "|",
        "impl",
        "ref",
        "@",
        "..",
        "_",
        ";",
        "where",
        "pub",
        "const",
        "Self",
        "format!",
        "u8",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..4000 {
        let mut pick = |len: u64| {
            (0..next() % len)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let args = pick(12);
        let body = pick(16);
        check(&args, &format!("async fn f({body}) -> u8 {{ {body} }}"));
        check(&args, &format!("async fn f(x: u8) {body}"));
        check(&args, &body);
        for base in ARGS.iter().step_by(5) {
            check(
                &format!("{base}, {args}"),
                "async fn f(x: &str) -> u8 { 1 }",
            );
        }
    }
}

#[test]
fn fingerprint_is_stable_and_nonzero() {
    let a = crate::fingerprint(
        &tokens("locator = k").unwrap(),
        &tokens("fn f() {}").unwrap(),
    );
    let b = crate::fingerprint(
        &tokens("locator = k").unwrap(),
        &tokens("fn f() {}").unwrap(),
    );
    let c = crate::fingerprint(
        &tokens("locator = k").unwrap(),
        &tokens("fn f() { 1 }").unwrap(),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, 0);
}

#[test]
fn expansion_owns_only_what_the_body_mentions() {
    let output = expand_attribute(
        tokens("locator = key.as_str(), version = v").unwrap(),
        tokens("async fn f(key: String, v: u8, unused: u8, moved: Vec<u8>, s: &str) -> u8 { key.len() as u8 + moved.len() as u8 + s.len() as u8 }").unwrap(),
    )
    .to_string();
    assert!(!output.contains("compile_error"), "{output}");
    assert!(
        output.contains("let key = :: async_cache_runtime :: __private :: cloned (& key)"),
        "{output}"
    );
    assert!(
        output.contains("let moved = :: async_cache_runtime :: __private :: owned (moved)"),
        "{output}"
    );
    assert!(
        output.contains("let s = :: async_cache_runtime :: __private :: to_owned (s)"),
        "{output}"
    );
    assert!(!output.contains("(unused)"), "{output}");
    assert!(!output.contains("(v)"), "{output}");
}
