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
    "locator = \"k\", refresh_after = Duration::from_secs(60)",
    "locator = \"k\", refresh_after = 60",
    "locator = \"k\", version = 1, fail_safe = 1, soft_timeout = \"1s\"",
    "locator = \"k\", version = 1, refresh_after = a, fail_safe = b, soft_timeout = c",
    "locator = \"k\", refresh_after",
    "locator = \"k\", soft_timeout = d",
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

/// Expands `args` on `item` and checks the output; `false` when the input does not
/// tokenize (nothing to exercise), so callers count what they actually tried.
fn check(args: &str, item: &str) -> bool {
    let (Some(args_tokens), Some(item_tokens)) = (tokens(args), tokens(item)) else {
        return false;
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
    true
}

#[test]
fn table_of_inputs_never_panics() {
    let mut exercised = 0;
    for args in ARGS {
        for item in ITEMS {
            exercised += usize::from(check(args, item));
        }
    }
    // Every entry of the table tokenizes: none is skipped.
    assert_eq!(exercised, ARGS.len() * ITEMS.len());
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
    let mut rng = test_support::Rng::new(0x2545_f491_4f6c_dd1d);
    let mut next = move || rng.next_u64();
    let mut tried = 0;
    let mut exercised = 0;
    for _ in 0..4000 {
        let mut pick = |len: u64| {
            (0..next() % len)
                .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let args = pick(12);
        let body = pick(16);
        let mut run = |args: &str, item: &str| {
            tried += 1;
            exercised += usize::from(check(args, item));
        };
        run(&args, &format!("async fn f({body}) -> u8 {{ {body} }}"));
        run(&args, &format!("async fn f(x: u8) {body}"));
        run(&args, &body);
        for base in ARGS.iter().step_by(5) {
            run(
                &format!("{base}, {args}"),
                "async fn f(x: &str) -> u8 { 1 }",
            );
        }
    }
    // Random words often leave a bracket open, which does not tokenize; the seed is
    // fixed, so this many did tokenize and were expanded.
    assert_eq!((tried, exercised), (64_000, 31_144), "tried, exercised");
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
        output.contains(
            ":: async_cache_runtime :: __private :: OwnCheck (s)) . __async_cached_to_owned ()"
        ),
        "{output}"
    );
    assert!(!output.contains("(unused)"), "{output}");
    assert!(!output.contains("owned (v)"), "{output}");
    assert!(!output.contains("cloned (& v)"), "{output}");
}

/// The expansion of `args` on `item`, which must be accepted.
fn expand(args: &str, item: &str) -> String {
    let output = expand_attribute(tokens(args).unwrap(), tokens(item).unwrap()).to_string();
    assert!(!output.contains("compile_error"), "{output}");
    output
}

const PRIVATE: &str = ":: async_cache_runtime :: __private ::";

fn moves(output: &str, name: &str) -> bool {
    output.contains(&format!("let {name} = {PRIVATE} owned ({name})"))
}

fn clones(output: &str, name: &str) -> bool {
    output.contains(&format!("let {name} = {PRIVATE} cloned (& {name})"))
}

#[test]
fn an_owned_locator_and_the_version_borrow_nothing() {
    for locator in [
        "format!(\"g/{x}\")",
        "x.to_string()",
        "String::from(x.as_ref())",
        "x.clone()",
        "x.to_owned()",
        "\"constant\"",
    ] {
        let output = expand(
            &format!(
                "locator = {locator}, version = v.len(), force_sync = x.is_empty(), expires_in = d"
            ),
            "async fn g<T: Send + 'static>(x: T, v: Vec<u8>, d: Duration) -> String { format!(\"{x}{v:?}{d:?}\") }",
        );
        for name in ["x", "v", "d"] {
            assert!(
                moves(&output, name),
                "`{name}` with `locator = {locator}`: {output}"
            );
        }
        assert!(!output.contains("cloned"), "{output}");
    }
}

#[test]
fn a_locator_or_cache_that_may_borrow_clones_what_it_names() {
    let output = expand(
        "locator = key.as_str(), version = 1, cache = &app.cache",
        "async fn f(key: String, app: App, other: String) -> usize { key.len() + app.n + other.len() }",
    );
    assert!(clones(&output, "key"), "{output}");
    assert!(clones(&output, "app"), "{output}");
    assert!(moves(&output, "other"), "{output}");
}

#[test]
fn a_place_locator_is_borrowed_and_a_place_version_cloned() {
    let output = expand(
        "locator = key, version = rev",
        "async fn f(key: String, rev: String) -> String { format!(\"{key}{rev}\") }",
    );
    assert!(
        output.contains("let __async_cached_locator = & key ;"),
        "{output}"
    );
    assert!(clones(&output, "key"), "{output}");
    assert!(
        output.contains("let __async_cached_value = :: core :: clone :: Clone :: clone (& rev) ;"),
        "{output}"
    );
    assert!(moves(&output, "rev"), "{output}");

    // Not used by the body: the version is moved as written.
    let output = expand(
        "locator = key, version = rev",
        "async fn f(key: String, rev: String) -> u8 { 1 }",
    );
    assert!(
        output.contains("let __async_cached_value = rev ;"),
        "{output}"
    );
    assert!(
        !moves(&output, "key") && !clones(&output, "key"),
        "{output}"
    );
}

#[test]
fn arguments_the_body_only_shadows_are_not_taken() {
    let output = expand(
        "locator = \"k\", version = 1",
        "async fn f(a: Rc<u8>, b: Rc<u8>, c: Rc<u8>, d: Rc<u8>, e: Rc<u8>, used: u8, init: u8) -> u8 {
            let a = 1;
            let by_closure = |b: u8| b + 1;
            let by_arm = match Some(2) { Some(c) => c, None => 0 };
            if let Some(d) = Some(3) { let _ = d; }
            for e in 0..1 { let _ = e; }
            fn nested(used: u8) -> u8 { used }
            let init = init.to_string();
            a + by_closure(used) + by_arm + nested(0) + init.len() as u8
        }",
    );
    for name in ["a", "b", "c", "d", "e"] {
        assert!(
            !output.contains(&format!("let {name} = {PRIVATE}")),
            "`{name}`: {output}"
        );
    }
    // The right side of `let init = init..` is the argument.
    assert!(moves(&output, "used") && moves(&output, "init"), "{output}");

    // A use before the shadowing, or in a macro, is a use.
    let output = expand(
        "locator = \"k\", version = 1",
        "async fn f(a: u8, b: u8) -> u8 { let c = a; let a = 1; println!(\"{b}\"); a + c }",
    );
    assert!(moves(&output, "a") && moves(&output, "b"), "{output}");
}

#[test]
fn self_is_rewritten_in_macro_rules_but_not_in_nested_items() {
    let output = expand(
        "locator = \"k\", version = 1",
        "async fn f(&self) -> u8 {
            macro_rules! field { () => { self.x } }
            struct Inner;
            impl Inner { fn g(&self) -> &Self { self } }
            fn h(x: u8) -> u8 { x }
            field!() + format!(\"{}\", self.y).len() as u8 + self::k()
        }",
    );
    assert!(
        output.contains("macro_rules ! field { () => { __async_cached_self . x } }"),
        "{output}"
    );
    assert!(
        output.contains("fn g (& self) -> & Self { self }"),
        "{output}"
    );
    assert!(
        output.contains("(\"{}\" , __async_cached_self . y)"),
        "{output}"
    );
    assert!(output.contains("self :: k ()"), "{output}");
}

#[test]
fn crate_may_be_a_string_or_a_path() {
    for krate in ["\"::renamed\"", "::renamed", "\"renamed::inner\""] {
        let output = expand(
            &format!("locator = \"k\", version = 1, crate = {krate}"),
            "async fn f() -> u8 { 1 }",
        );
        assert!(output.contains("renamed"), "{output}");
        assert!(!output.contains("async_cache_runtime"), "{output}");
    }
    let output = expand_attribute(
        tokens("locator = \"k\", version = 1, crate = \"not a path\"").unwrap(),
        tokens("async fn f() -> u8 { 1 }").unwrap(),
    )
    .to_string();
    assert!(output.contains("compile_error"), "{output}");
}

#[test]
fn the_fingerprint_ignores_docs_and_lint_attributes_only() {
    let print = |item: &str| {
        crate::fingerprint(
            &tokens("locator = \"k\", version = 1").unwrap(),
            &tokens(item).unwrap(),
        )
    };
    let base = print("async fn f(x: u8) -> u8 { let y = x; y }");
    for same in [
        "/// Docs.\nasync fn f(x: u8) -> u8 { let y = x; y }",
        "/// Other docs.\n/// More.\n#[doc = \"x\"] async fn f(x: u8) -> u8 { let y = x; y }",
        "#[allow(clippy::all)] #[inline] #[must_use] async fn f(x: u8) -> u8 { #![warn(unused)] let y = x; y }",
        "async fn f(#[allow(unused)] x: u8) -> u8 { /// inner\n #[expect(unused)] let y = x; y }",
        "#[rustfmt::skip] #[clippy::cognitive_complexity = \"9\"] async fn f(x: u8) -> u8 { let y = x; y }",
    ] {
        assert_eq!(print(same), base, "{same}");
    }
    for different in [
        "async fn f(x: u8) -> u8 { let y = x + 1; y }",
        "#[tracing::instrument] async fn f(x: u8) -> u8 { let y = x; y }",
        "#[cfg_attr(test, allow(unused))] async fn f(x: u8) -> u8 { let y = x; y }",
        "async fn f(x: u8) -> u8 { let y = x; y.to_string(); y }",
    ] {
        assert_ne!(print(different), base, "{different}");
    }
}

#[test]
fn time_arguments_pass_through_and_refresh_after_alone_caches_by_time() {
    let output = expand(
        "locator = \"k\", refresh_after = age, fail_safe = keep, soft_timeout = wait",
        "async fn f(age: Duration, keep: Duration, wait: Duration) -> u8 { 1 }",
    );
    assert!(
        output.contains("let __async_cached_value = () ;"),
        "the version is `()`: {output}"
    );
    assert!(
        output.contains(
            "options (false , :: core :: option :: Option :: None , :: core :: option :: Option :: Some (age) , :: core :: option :: Option :: Some (keep) , :: core :: option :: Option :: Some (wait) ,"
        ),
        "{output}"
    );

    let error = |args: &str| {
        expand_attribute(
            tokens(args).unwrap(),
            tokens("async fn f() -> u8 { 1 }").unwrap(),
        )
        .to_string()
    };
    for name in ["refresh_after", "fail_safe", "soft_timeout", "expires_in"] {
        let output = error(&format!("locator = \"k\", version = 1, {name} = 60"));
        assert!(
            output.contains(&format!(
                "`{name}` expects a `std::time::Duration`, e.g. `{name} = Duration::from_secs(60)`"
            )),
            "{output}"
        );
        assert_eq!(output.matches("compile_error").count(), 1, "{output}");
    }
    let output = error("locator = \"k\", soft_timeout = d");
    assert!(
        output.contains("missing `version`") && output.contains("refresh_after"),
        "{output}"
    );
}
