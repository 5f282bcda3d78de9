//! Three servers of the web example over one Redis Cluster (contract §7.1 and §7.4,
//! crate docs; the README's cluster walkthrough): a cold start where every server is
//! asked for every thing at once renders each thing once for the whole fleet, and
//! every server answers with that one render.
#![cfg(all(feature = "redis", unix))]

#[allow(dead_code, unused_imports)] // shared with `web.rs`, which uses all of it
mod web_support;

use test_support::redis_server::RedisCluster;
use web_support::{TempDir, WebServer, count, get, stats};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_over_one_cluster_render_each_thing_once_from_cold() {
    let cluster = RedisCluster::start(3);
    let dir = TempDir::new("cluster-web");
    let db = dir.path().join("things.db");
    let urls = cluster.urls().join(",");
    let args = [
        "--db",
        db.to_str().expect("a UTF-8 path"),
        "--render-ms",
        "300",
        "--redis-cluster",
        &urls,
    ];
    let servers: Vec<WebServer> = (0..3).map(|_| WebServer::start(&args)).collect();

    let mut requests = Vec::new();
    for id in 1..=3 {
        for server in &servers {
            let addr = server.addr;
            requests.push(tokio::spawn(async move {
                (id, get(addr, &format!("/things/{id}")).await)
            }));
        }
    }
    let mut rendered_by = std::collections::HashMap::new();
    for request in requests {
        let (id, reply) = request.await.expect("the request task");
        assert_eq!(reply.status, 200, "{reply:?}");
        let pid = reply.json()["rendered_by_pid"].clone();
        let first = rendered_by.entry(id).or_insert_with(|| pid.clone());
        assert_eq!(*first, pid, "thing {id} was rendered by two servers");
    }

    let mut renders = 0;
    for server in &servers {
        let now = stats(server.addr).await;
        assert_eq!(count(&now, "store_errors"), 0, "{now}");
        renders += count(&now, "renders");
    }
    assert_eq!(
        renders, 3,
        "each of the three things rendered once by the fleet"
    );
}
