//! A Redis Cluster of real `redis-server`s on loopback, for the shared tier's cluster
//! tests (contract §7.4 (crate docs)).

use std::time::{Duration, Instant};

use super::{RedisServer, START_ATTEMPTS, StartError, free_port};

/// The slots of a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// How long the nodes may take to agree that the cluster is up.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(20);

/// A Redis Cluster of [`RedisServer`]s with cluster mode on: primaries with the slots
/// split evenly between them, and optionally replicas of each
/// ([`start_with_replicas`](Self::start_with_replicas)) that take over a primary that
/// dies (within about a second: the nodes' `cluster-node-timeout` is short); killed
/// when dropped. Nodes `0..primaries` are the primaries as started, the replicas
/// follow.
///
/// A node can be stalled, killed and restarted like any `RedisServer`
/// ([`node_mut`](Self::node_mut)); a restarted node keeps its identity and slots (its
/// `nodes.conf` stays in its directory) but not its data.
///
/// ```no_run
/// use test_support::redis_server::RedisCluster;
///
/// let cluster = RedisCluster::start(3);
/// let urls = cluster.urls(); // for a cluster client
/// let serving = cluster.node_serving("{things/1}:v");
/// let _: () = redis::cmd("SET")
///     .arg("{things/1}:v")
///     .arg("x")
///     .query(&mut cluster.node(serving).admin())
///     .unwrap();
/// # drop(urls);
/// ```
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
    /// For each node, the index of the primary it was started as a replica of.
    replica_of: Vec<Option<usize>>,
}

/// Starts one node, its cluster bus on a port of its own (by default the bus is its
/// port + 10000, which may be taken or past 65535); the bus port.
fn start_node() -> (RedisServer, u16) {
    let mut attempt = 1;
    loop {
        let bus = free_port().unwrap_or_else(|error| panic!("{error}"));
        let started = RedisServer::try_start_with(&[
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-port",
            &bus.to_string(),
            "--cluster-node-timeout",
            "1000",
        ]);
        match started {
            Ok(node) => return (node, bus),
            Err(StartError::PortInUse(_)) if attempt < START_ATTEMPTS => attempt += 1,
            Err(error) => panic!("{error}"),
        }
    }
}

impl RedisCluster {
    /// Starts `primaries` nodes, gives each an equal share of the slots, joins them
    /// and waits until every node reports the cluster up.
    ///
    /// # Panics
    ///
    /// If `primaries` is zero, a node does not start, or the cluster is not up within
    /// 20 s.
    pub fn start(primaries: usize) -> Self {
        Self::start_with_replicas(primaries, 0)
    }

    /// [`start`](Self::start), with `replicas` replicas of each primary, in sync
    /// with it when this returns.
    ///
    /// # Panics
    ///
    /// As [`start`](Self::start), or if the replicas are not in sync within 20 s.
    pub fn start_with_replicas(primaries: usize, replicas: usize) -> Self {
        assert!(primaries > 0, "a cluster needs a primary");
        let total = primaries * (1 + replicas);
        let (nodes, buses): (Vec<RedisServer>, Vec<u16>) = (0..total).map(|_| start_node()).unzip();
        let replica_of = (0..total)
            .map(|i| (i >= primaries).then(|| (i - primaries) % primaries))
            .collect();
        let cluster = RedisCluster { nodes, replica_of };
        let share = usize::from(SLOTS).div_ceil(primaries);
        for (i, node) in cluster.nodes.iter().take(primaries).enumerate() {
            let first = i * share;
            let last = ((i + 1) * share).min(usize::from(SLOTS)) - 1;
            let _: () = redis::cmd("CLUSTER")
                .arg("ADDSLOTSRANGE")
                .arg(first)
                .arg(last)
                .query(&mut node.admin())
                .unwrap_or_else(|error| panic!("slots {first}-{last} to node {i}: {error}"));
        }
        let mut first = cluster.nodes[0].admin();
        for (node, bus) in cluster.nodes.iter().zip(&buses).skip(1) {
            let _: () = redis::cmd("CLUSTER")
                .arg("MEET")
                .arg("127.0.0.1")
                .arg(node.port())
                .arg(bus)
                .query(&mut first)
                .expect("CLUSTER MEET");
        }
        cluster.wait_until_up();
        for (i, primary) in cluster.replica_of.iter().enumerate() {
            let Some(primary) = *primary else { continue };
            let id: String = redis::cmd("CLUSTER")
                .arg("MYID")
                .query(&mut cluster.nodes[primary].admin())
                .expect("CLUSTER MYID");
            let _: () = redis::cmd("CLUSTER")
                .arg("REPLICATE")
                .arg(&id)
                .query(&mut cluster.nodes[i].admin())
                .unwrap_or_else(|error| panic!("node {i} replicating node {primary}: {error}"));
        }
        cluster.wait_for_replicas();
        cluster.wait_until_up();
        cluster
    }

    /// Waits until every running replica's link to its primary is up.
    fn wait_for_replicas(&self) {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        for (i, primary) in self.replica_of.iter().enumerate() {
            if primary.is_none() || !self.nodes[i].is_running() {
                continue;
            }
            loop {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query(&mut self.nodes[i].admin())
                    .unwrap_or_default();
                if info.contains("role:slave") && info.contains("master_link_status:up") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "replica {i} not in sync within {CONVERGE_TIMEOUT:?}: {info}"
                );
                // Polling processes we do not control: there is nothing to be notified by.
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// The replicas started for node `primary` (empty for a replica, or without
    /// replicas).
    pub fn replicas_of(&self, primary: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.replica_of[i] == Some(primary))
            .collect()
    }

    /// Waits until every running node reports `cluster_state:ok` and knows all the
    /// others (after [`start`](Self::start), or after restarting a node).
    ///
    /// # Panics
    ///
    /// If that takes more than 20 s.
    pub fn wait_until_up(&self) {
        let deadline = Instant::now() + CONVERGE_TIMEOUT;
        let known = format!("cluster_known_nodes:{}", self.nodes.len());
        loop {
            let up = self
                .nodes
                .iter()
                .filter(|node| node.is_running())
                .all(|node| {
                    let info: String = redis::cmd("CLUSTER")
                        .arg("INFO")
                        .query(&mut node.admin())
                        .unwrap_or_default();
                    info.contains("cluster_state:ok") && info.contains(&known)
                });
            if up {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the cluster was not up within {CONVERGE_TIMEOUT:?}"
            );
            // Polling processes we do not control: there is nothing to be notified by.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's URL, the seed list a cluster client takes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    pub fn node(&self, i: usize) -> &RedisServer {
        &self.nodes[i]
    }

    /// For fault tests: stall, kill or restart one node.
    pub fn node_mut(&mut self, i: usize) -> &mut RedisServer {
        &mut self.nodes[i]
    }

    /// The hash slot of `key` (`CLUSTER KEYSLOT`, so hash tags count as Redis counts
    /// them).
    pub fn keyslot(&self, key: &str) -> u16 {
        redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.running_node().admin())
            .expect("CLUSTER KEYSLOT")
    }

    /// The index of the node serving `key`'s slot now, as the cluster sees it.
    ///
    /// # Panics
    ///
    /// If no node serves it.
    pub fn node_serving(&self, key: &str) -> usize {
        let slot = i64::from(self.keyslot(key));
        let ranges: redis::Value = redis::cmd("CLUSTER")
            .arg("SLOTS")
            .query(&mut self.running_node().admin())
            .expect("CLUSTER SLOTS");
        // Each entry: [first slot, last slot, [host, port, id, ...], replicas...].
        let port = as_array(&ranges)
            .iter()
            .map(as_array)
            .find(|range| int(&range[0]) <= slot && slot <= int(&range[1]))
            .map(|range| int(&as_array(&range[2])[1]))
            .unwrap_or_else(|| panic!("no node serves slot {slot}"));
        self.nodes
            .iter()
            .position(|node| i64::from(node.port()) == port)
            .unwrap_or_else(|| panic!("slot {slot} is served on port {port}, not ours"))
    }

    fn running_node(&self) -> &RedisServer {
        self.nodes
            .iter()
            .find(|node| node.is_running())
            .expect("a running node")
    }
}

fn as_array(value: &redis::Value) -> &[redis::Value] {
    match value {
        redis::Value::Array(items) => items,
        other => panic!("not an array: {other:?}"),
    }
}

fn int(value: &redis::Value) -> i64 {
    match value {
        redis::Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}
