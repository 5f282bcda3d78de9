//! A generation in the caller: run it under a claim, or join one of the same or a
//! newer version already running (miss coalescing).

use std::future::Future;
use std::sync::Arc;

use super::Engine;
use crate::FetchOptions;
use crate::flights::Lead;
use crate::store::{Backend, ErasedRecord, Record, Store};

/// How a caller that had to generate was answered.
pub(super) enum InCaller<T, E> {
    /// By a generation: its own, or one it joined.
    Generated(Result<T, E>),
    /// By the store: another caller's generation landed just before its own began.
    AlreadyStored(T),
}

impl<S: Backend> Engine<S> {
    /// `None` when the generation it joined failed.
    pub(super) async fn generate_in_caller<V, T, E, G, Fut>(
        &self,
        locator: &str,
        version: &V,
        options: &FetchOptions,
        generate: &mut Option<G>,
    ) -> Option<InCaller<T, E>>
    where
        S: Store<V, T>,
        V: Ord + Clone + Send + Sync + 'static,
        T: Clone + Send + Sync + 'static,
        G: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.flights.lead_or_join::<V, T>(locator, version) {
            Lead::Join(flight) => {
                let record = flight.wait().await?.typed::<V, T>()?;
                Some(InCaller::Generated(Ok(record.value.clone())))
            }
            Lead::Run(claim) => {
                // Another leader may have stored it and left between this caller's
                // read and its claim: then there is nothing to generate.
                if let Some(stored) = self.read::<V, T>(locator).await {
                    if self.store.is_current(&stored, version, options.fingerprint) {
                        let value = stored.value.clone();
                        claim.complete(ErasedRecord::new(stored));
                        return Some(InCaller::AlreadyStored(value));
                    }
                }
                let generate = generate
                    .take()
                    .expect("a caller leads one generation at most");
                // On `Err` or a panic the claim drops unfinished and the waiters take over.
                let value = match generate().await {
                    Ok(value) => value,
                    Err(error) => return Some(InCaller::Generated(Err(error))),
                };
                let record = Arc::new(Record::new(version.clone(), value, options.fingerprint));
                self.write(&claim, &record, options.expires_in).await;
                let value = record.value.clone();
                claim.complete(ErasedRecord::new(record));
                Some(InCaller::Generated(Ok(value)))
            }
        }
    }
}
