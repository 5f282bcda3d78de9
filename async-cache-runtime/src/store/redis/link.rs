//! The connection to Redis: made lazily, every command under the command timeout,
//! and a short back-off after a fault so a dead Redis does not cost every fetch a
//! full timeout. One server goes through a `ConnectionManager`, a Redis Cluster
//! through the crate's `ClusterConnection` (which follows moved slots and refreshes
//! its view of the cluster by itself); both are a [`Conn`] to the rest of the tier,
//! so every command and script is written once for both deployments.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};
use tokio::runtime::Handle;

use crate::store::StoreError;

/// Where the tier's keys live.
#[derive(Clone, Debug)]
pub(super) enum Deployment {
    /// One server (or a primary with replicas), by URL.
    Server(String),
    /// A Redis Cluster, by the URLs of some of its nodes.
    Cluster(Vec<String>),
}

/// A connection of either deployment: what every command and script runs on.
#[derive(Clone)]
pub(super) enum Conn {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Server(conn) => conn.req_packed_command(cmd),
            Conn::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Server(conn) => conn.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Server(conn) => conn.get_db(),
            Conn::Cluster(conn) => conn.get_db(),
        }
    }
}

/// A node to send a command that names no key to (`SCAN`): the server, or one
/// primary of the cluster.
#[derive(Clone, Debug)]
pub(super) enum Node {
    Server,
    Primary { host: String, port: u16 },
}

impl Conn {
    /// The nodes that hold the keys: the server, or every primary of the cluster
    /// (from `CLUSTER SLOTS`, asked of any node).
    pub(super) async fn primaries(&mut self) -> RedisResult<Vec<Node>> {
        let Conn::Cluster(conn) = self else {
            return Ok(vec![Node::Server]);
        };
        let slots: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
        let mut nodes: Vec<(String, u16)> = Vec::new();
        for range in slots {
            // [first slot, last slot, [host, port, id, ..] of the primary, replicas..]
            let Value::Array(range) = range else { continue };
            let Some(Value::Array(primary)) = range.get(2) else {
                continue;
            };
            let host = match primary.first() {
                Some(Value::BulkString(host)) => String::from_utf8_lossy(host).into_owned(),
                Some(Value::SimpleString(host)) => host.clone(),
                _ => continue,
            };
            let Some(Value::Int(port)) = primary.get(1) else {
                continue;
            };
            let Ok(port) = u16::try_from(*port) else {
                continue;
            };
            if !nodes.contains(&(host.clone(), port)) {
                nodes.push((host, port));
            }
        }
        Ok(nodes
            .into_iter()
            .map(|(host, port)| Node::Primary { host, port })
            .collect())
    }

    /// `cmd` on `node` (on one server: the server).
    pub(super) async fn query_on<T: redis::FromRedisValue>(
        &mut self,
        node: &Node,
        cmd: &Cmd,
    ) -> RedisResult<T> {
        match (self, node) {
            (Conn::Cluster(conn), Node::Primary { host, port }) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                let value = conn.route_command(cmd.clone(), routing).await?;
                Ok(redis::from_redis_value(value)?)
            }
            (conn, _) => cmd.query_async(conn).await,
        }
    }
}

enum Clients {
    Server(redis::Client),
    /// The cluster client, and one plain client per node URL given (the
    /// subscription's candidates).
    Cluster(ClusterClient, Vec<redis::Client>),
}

pub(super) struct Link {
    clients: Result<Clients, String>,
    manager: OnceLock<ConnectionManager>,
    /// Made by the first command that finds none: connecting to a cluster asks it
    /// for its slots, so it cannot be lazy the way the `ConnectionManager` is.
    cluster: tokio::sync::OnceCell<ClusterConnection>,
    timeout: Duration,
    backoff: Duration,
    runtime: Option<Handle>,
    start: Instant,
    /// Milliseconds since `start` until which Redis counts as down; 0 when up.
    down_until: AtomicU64,
}

impl Link {
    pub(super) fn new(
        deployment: &Deployment,
        timeout: Duration,
        backoff: Duration,
        runtime: Option<Handle>,
    ) -> Self {
        let clients = match deployment {
            Deployment::Server(url) => redis::Client::open(url.as_str()).map(Clients::Server),
            Deployment::Cluster(urls) => cluster_clients(urls, timeout),
        }
        .map_err(|error| {
            tracing::error!(%error, "invalid Redis URL: the cache will run without its store");
            format!("invalid Redis URL: {error}")
        });
        Link {
            clients,
            manager: OnceLock::new(),
            cluster: tokio::sync::OnceCell::new(),
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

    /// Whether this is a Redis Cluster, where one script may touch one slot only.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self.clients, Ok(Clients::Cluster(..)))
    }

    /// The clients for the connections that are not commands (the subscription):
    /// the server's, or one per cluster node given, to be tried in turn (a cluster
    /// broadcasts `PUBLISH` to every node, so any node's subscription hears all).
    pub(super) fn subscription_clients(&self) -> Vec<redis::Client> {
        match &self.clients {
            Ok(Clients::Server(client)) => vec![client.clone()],
            Ok(Clients::Cluster(_, nodes)) => nodes.clone(),
            Err(_) => Vec::new(),
        }
    }

    pub(super) fn backoff(&self) -> Duration {
        self.backoff
    }

    /// The connection manager, made on first use (inside a tokio runtime: it spawns
    /// its driver there). It connects on its first command and reconnects by itself
    /// after an I/O error.
    fn manager(&self, client: &redis::Client) -> Result<ConnectionManager, StoreError> {
        if let Some(manager) = self.manager.get() {
            return Ok(manager.clone());
        }
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

    /// The connection of either deployment. A cluster's is made on first use and
    /// kept: it reconnects to nodes and follows moved slots by itself.
    async fn conn(&self) -> RedisResult<Conn> {
        match &self.clients {
            Ok(Clients::Server(client)) => {
                self.manager(client)
                    .map(Conn::Server)
                    .map_err(|StoreError(message)| {
                        redis::RedisError::from((redis::ErrorKind::Client, "redis", message))
                    })
            }
            Ok(Clients::Cluster(client, _)) => self
                .cluster
                .get_or_try_init(|| client.get_async_connection())
                .await
                .cloned()
                .map(Conn::Cluster),
            Err(message) => Err(redis::RedisError::from((
                redis::ErrorKind::Client,
                "redis",
                message.clone(),
            ))),
        }
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
        F: FnOnce(Conn) -> Fut + Send + 'static,
        Fut: Future<Output = RedisResult<R>> + Send + 'static,
        R: Send + 'static,
    {
        self.admit()?;
        let link = self.clone();
        let task = async move {
            let answer = tokio::time::timeout(link.timeout, async {
                let conn = link.conn().await?;
                command(conn).await
            });
            match answer.await {
                Ok(Ok(answer)) => {
                    link.up();
                    Ok(answer)
                }
                Ok(Err(error)) => {
                    let message = format!("redis: {error}");
                    if is_fault(&error) {
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

/// Whether an error says Redis (or part of the cluster) is unreachable, rather
/// than that it refused one command: a moved slot the client could not follow in
/// time, a cluster without a primary for the slot, a primary demoted mid-command.
fn is_fault(error: &redis::RedisError) -> bool {
    use redis::{ErrorKind, ServerErrorKind};
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_cluster_error()
        || matches!(
            error.kind(),
            ErrorKind::Server(ServerErrorKind::MasterDown | ServerErrorKind::ReadOnly)
                | ErrorKind::Server(ServerErrorKind::BusyLoading)
                | ErrorKind::ClusterConnectionNotFound
        )
}

/// The cluster client over the node URLs given, with the command timeout as its
/// own (its defaults would otherwise govern: a response timeout of its own, and
/// retries with waits that add up to far more than one command may take).
fn cluster_clients(urls: &[String], timeout: Duration) -> RedisResult<Clients> {
    let nodes = urls
        .iter()
        .map(|url| redis::Client::open(url.as_str()))
        .collect::<RedisResult<Vec<_>>>()?;
    let client = ClusterClient::builder(urls.iter().map(String::as_str))
        .connection_timeout(timeout)
        .response_timeout(timeout)
        .overall_response_timeout(Some(timeout))
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(duration_ms(timeout).max(10))
        .build()?;
    Ok(Clients::Cluster(client, nodes))
}

pub(super) fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX / 2)
}
