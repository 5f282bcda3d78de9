//! The connection to Redis: made lazily, every command under the command timeout,
//! and a short back-off after a fault so a dead Redis does not cost every fetch a
//! full timeout.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::RedisResult;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::runtime::Handle;

use crate::store::StoreError;

pub(super) struct Link {
    client: Result<redis::Client, String>,
    manager: OnceLock<ConnectionManager>,
    timeout: Duration,
    backoff: Duration,
    runtime: Option<Handle>,
    start: Instant,
    /// Milliseconds since `start` until which Redis counts as down; 0 when up.
    down_until: AtomicU64,
}

impl Link {
    pub(super) fn new(
        url: &str,
        timeout: Duration,
        backoff: Duration,
        runtime: Option<Handle>,
    ) -> Self {
        let client = redis::Client::open(url).map_err(|error| {
            tracing::error!(%error, "invalid Redis URL: the cache will run without its store");
            format!("invalid Redis URL: {error}")
        });
        Link {
            client,
            manager: OnceLock::new(),
            timeout,
            backoff,
            runtime,
            start: Instant::now(),
            down_until: AtomicU64::new(0),
        }
    }

    /// The builder's runtime, if it was given one.
    pub(super) fn runtime(&self) -> Option<Handle> {
        self.runtime.clone()
    }

    pub(super) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client, for the connections that are not commands (the subscription).
    pub(super) fn client(&self) -> Option<redis::Client> {
        self.client.as_ref().ok().cloned()
    }

    pub(super) fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The connection manager, made on first use (inside a tokio runtime: it spawns
    /// its driver there). It connects on its first command and reconnects by itself
    /// after an I/O error.
    fn manager(&self) -> Result<ConnectionManager, StoreError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
        let client = self.client.as_ref().map_err(|e| StoreError(e.clone()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            // The crate's own default would cap every command at half a second,
            // whatever `command_timeout` says; ours governs.
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(10))
            .set_max_delay(self.timeout);
        let manager = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(|error| StoreError(format!("redis: {error}")))?;
        // A racing caller's manager may win: either serves.
        Ok(self.manager.get_or_init(|| manager).clone())
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Whether a command may go to Redis: not within the back-off after a fault.
    /// When the back-off has passed, one caller probes while the others keep failing
    /// fast until the probe's answer (or its timeout).
    fn admit(&self) -> Result<(), StoreError> {
        loop {
            let until = self.down_until.load(SeqCst);
            if until == 0 {
                return Ok(());
            }
            let now = self.now_ms();
            if now < until {
                return Err(StoreError(
                    "redis: unavailable after a fault, retrying after a back-off".into(),
                ));
            }
            let probe = now + duration_ms(self.timeout);
            if self
                .down_until
                .compare_exchange(until, probe, SeqCst, SeqCst)
                .is_ok()
            {
                return Ok(());
            }
        }
    }

    fn up(&self) {
        if self.down_until.swap(0, SeqCst) != 0 {
            tracing::info!("redis reachable again");
        }
    }

    fn down(&self, error: &str) {
        let until = self.now_ms() + duration_ms(self.backoff);
        if self.down_until.swap(until, SeqCst) == 0 {
            tracing::warn!(
                error,
                backoff = ?self.backoff,
                "redis unavailable: fetches generate in the caller until it answers again"
            );
        }
    }

    /// Runs one command, or one script, under the command timeout. Inside a tokio
    /// runtime it runs in the caller; outside one, on the builder's runtime if it was
    /// given one; otherwise it fails (the cache then goes on without its store).
    pub(super) async fn run<R, F, Fut>(self: &Arc<Self>, command: F) -> Result<R, StoreError>
    where
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<R>> + Send + 'static,
        R: Send + 'static,
    {
        self.admit()?;
        let link = self.clone();
        let task = async move {
            let manager = link.manager()?;
            match tokio::time::timeout(link.timeout, command(manager)).await {
                Ok(Ok(answer)) => {
                    link.up();
                    Ok(answer)
                }
                Ok(Err(error)) => {
                    let message = format!("redis: {error}");
                    if error.is_io_error()
                        || error.is_connection_dropped()
                        || error.is_connection_refusal()
                        || error.is_timeout()
                    {
                        link.down(&message);
                    } else {
                        // Redis answered: it is up, the command was refused.
                        link.up();
                    }
                    Err(StoreError(message))
                }
                Err(_) => {
                    let message = format!("redis: no answer within {:?}", link.timeout);
                    link.down(&message);
                    Err(StoreError(message))
                }
            }
        };
        if Handle::try_current().is_ok() {
            task.await
        } else if let Some(runtime) = &self.runtime {
            runtime
                .spawn(task)
                .await
                .unwrap_or_else(|error| Err(StoreError(format!("redis: {error}"))))
        } else {
            Err(StoreError(
                "redis: no tokio runtime: fetch inside one, or give the builder one with `runtime(handle)`"
                    .into(),
            ))
        }
    }
}

pub(super) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}
