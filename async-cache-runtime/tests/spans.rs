//! Contract §8 (crate docs), the spans: with a `tracing-subscriber` layer that records
//! spans, every generator run (and only a generator run) is inside one
//! `async_cache.generate` span at INFO, target `async_cache_runtime`, with the fields
//! `cache`, `locator`, `kind` and `outcome`; a run in the caller is a child of the
//! caller's span, a background refresh a root that follows from the scheduling span.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use async_cache_runtime::{Cache, FetchOptions, Served};
use common::Gate;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Instrument, Level, Span, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug, Default)]
struct Seen {
    name: &'static str,
    target: String,
    level: Option<Level>,
    fields: BTreeMap<String, String>,
    parent: Option<u64>,
    follows_from: Vec<u64>,
}

/// Every span made, by id, in the order made.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(u64, Seen)>>>);

impl Recorder {
    fn generate_spans(&self) -> Vec<(u64, Seen)> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.name == "async_cache.generate")
            .cloned()
            .collect()
    }
    fn with(&self, id: &Id, f: impl FnOnce(&mut Seen)) {
        let mut spans = self.0.lock().unwrap();
        let (_, seen) = spans
            .iter_mut()
            .find(|(i, _)| *i == id.into_u64())
            .expect("a span this layer saw made");
        f(seen);
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut seen = Seen {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().to_owned(),
            level: Some(*attrs.metadata().level()),
            parent: ctx
                .span(id)
                .and_then(|span| span.parent())
                .map(|parent| parent.id().into_u64()),
            ..Seen::default()
        };
        attrs.record(&mut Fields(&mut seen.fields));
        self.0.lock().unwrap().push((id.into_u64(), seen));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        self.with(id, |seen| values.record(&mut Fields(&mut seen.fields)));
    }
    fn on_follows_from(&self, id: &Id, follows: &Id, _: Context<'_, S>) {
        self.with(id, |seen| seen.follows_from.push(follows.into_u64()));
    }
}

fn recording() -> (Recorder, tracing::subscriber::DefaultGuard) {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    (recorder, tracing::subscriber::set_default(subscriber))
}

fn id_of(span: &Span) -> u64 {
    span.id().expect("the test's span is enabled").into_u64()
}

/// The name of the span current where the generator runs.
fn current_name() -> Option<&'static str> {
    Span::current().metadata().map(|m| m.name())
}

fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn a_miss_is_a_child_of_the_callers_span_and_a_refresh_follows_from_its_scheduler() {
    let (recorder, _guard) = recording();
    let cache = Cache::builder().name("spans").build();
    let inside = Arc::new(Mutex::new(Vec::new()));
    let generator = |value: &'static str| {
        let inside = inside.clone();
        move || async move {
            inside.lock().unwrap().push(current_name());
            value
        }
    };

    let request = tracing::info_span!("request");
    let (_, served) = cache
        .fetch_served("things/1", 1, FetchOptions::new(), generator("v1"))
        .instrument(request.clone())
        .await;
    assert_eq!(served, Served::Miss);
    let spans = recorder.generate_spans();
    assert_eq!(spans.len(), 1, "one span for one miss: {spans:?}");
    let miss = &spans[0].1;
    assert_eq!(miss.target, "async_cache_runtime");
    assert_eq!(miss.level, Some(Level::INFO));
    assert_eq!(miss.parent, Some(id_of(&request)));
    assert_eq!(
        miss.fields,
        fields(&[
            ("cache", "spans"),
            ("locator", "things/1"),
            ("kind", "miss"),
            ("outcome", "ok"),
        ])
    );

    // A hit runs no generator: no span.
    cache
        .fetch("things/1", 1, generator("unused"))
        .instrument(request.clone())
        .await;
    assert_eq!(recorder.generate_spans().len(), 1);

    let scheduling = tracing::info_span!("scheduling");
    let (_, served) = cache
        .fetch_served("things/1", 2, FetchOptions::new(), generator("v2"))
        .instrument(scheduling.clone())
        .await;
    assert_eq!(served, Served::Stale);
    cache.wait_for_refreshes().await;
    let spans = recorder.generate_spans();
    assert_eq!(spans.len(), 2, "one more span for the refresh: {spans:?}");
    let refresh = &spans[1].1;
    assert_eq!(refresh.parent, None, "a refresh's span is a root");
    assert_eq!(refresh.follows_from, vec![id_of(&scheduling)]);
    assert_eq!(refresh.target, "async_cache_runtime");
    assert_eq!(refresh.level, Some(Level::INFO));
    assert_eq!(
        refresh.fields,
        fields(&[
            ("cache", "spans"),
            ("locator", "things/1"),
            ("kind", "refresh"),
            ("outcome", "ok"),
        ])
    );
    assert_eq!(
        *inside.lock().unwrap(),
        vec![Some("async_cache.generate"); 2],
        "each generator ran inside its span"
    );
}

#[tokio::test]
async fn outcomes_say_how_each_run_ended() {
    let (recorder, _guard) = recording();
    let cache = Cache::new();
    let outcome_and_kind = || {
        let spans = recorder.generate_spans();
        let last = &spans.last().expect("a span").1;
        (last.fields["kind"].clone(), last.fields["outcome"].clone())
    };

    let failed = cache
        .try_fetch("k", 1, || async { Err::<u32, &str>("down") })
        .await;
    assert_eq!(failed, Err("down"));
    assert_eq!(outcome_and_kind(), ("miss".into(), "err".into()));

    cache.fetch("k", 1, || async { 1_u32 }).await;
    let _ = cache
        .fetch_with("k", 2, FetchOptions::new().force_sync(true), || async {
            2_u32
        })
        .await;
    assert_eq!(outcome_and_kind(), ("sync".into(), "ok".into()));

    // Invalidated while it runs: answers its caller, is not stored.
    let (started, release) = (Gate::new(), Gate::new());
    let run = {
        let cache = cache.clone();
        let (started, release) = (started.clone(), release.clone());
        tokio::spawn(async move {
            cache
                .fetch("other", 1, move || async move {
                    started.open();
                    release.wait().await;
                    7_u32
                })
                .await
        })
    };
    started.wait().await;
    cache.invalidate("other").await;
    release.open();
    assert_eq!(run.await.unwrap(), 7);
    assert_eq!(outcome_and_kind(), ("miss".into(), "discarded".into()));

    // A background refresh that panics.
    cache.fetch("k", 3, || async { blow_up() }).await;
    cache.wait_for_refreshes().await;
    assert_eq!(outcome_and_kind(), ("refresh".into(), "panic".into()));
    assert_eq!(cache.stats().refreshes_failed, 1);
}

fn blow_up() -> u32 {
    panic!("refresh blew up")
}

#[tokio::test(start_paused = true)]
async fn a_refresh_abandoned_by_its_timeout_says_timeout() {
    let (recorder, _guard) = recording();
    let cache = Cache::builder()
        .refresh_timeout(std::time::Duration::from_secs(1))
        .build();
    cache.fetch("slow", 1, || async { 1_u32 }).await;
    let stale = cache.fetch("slow", 2, std::future::pending::<u32>).await;
    assert_eq!(stale, 1);
    cache.wait_for_refreshes().await;
    let spans = recorder.generate_spans();
    let last = &spans.last().expect("the refresh's span").1;
    assert_eq!(
        (
            last.fields["kind"].as_str(),
            last.fields["outcome"].as_str()
        ),
        ("refresh", "timeout")
    );
    assert_eq!(cache.stats().refreshes_failed, 1);
}
