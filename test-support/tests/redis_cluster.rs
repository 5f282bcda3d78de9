//! The cluster fixture is a working Redis Cluster: every slot served, keys spread over
//! the primaries, a key only on the node that serves its slot, and a killed node
//! back with its slots after a restart.

use test_support::redis_server::{RedisCluster, SLOTS};

fn set(cluster: &RedisCluster, node: usize, key: &str) -> redis::RedisResult<()> {
    redis::cmd("SET")
        .arg(key)
        .arg("v")
        .query(&mut cluster.node(node).admin())
}

#[test]
fn a_cluster_serves_every_slot_over_its_primaries() {
    let cluster = RedisCluster::start(3);
    assert_eq!(cluster.urls().len(), 3);
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut cluster.node(2).admin())
        .unwrap();
    assert!(info.contains("cluster_state:ok"), "{info}");
    assert!(
        info.contains(&format!("cluster_slots_assigned:{SLOTS}")),
        "{info}"
    );

    // Locators' keys share a slot through their hash tag, and spread over the nodes.
    let mut serving = [0_u32; 3];
    for i in 0..60 {
        let (value, lock) = (format!("{{things/{i}}}:v"), format!("{{things/{i}}}:lock"));
        assert_eq!(cluster.keyslot(&value), cluster.keyslot(&lock));
        let node = cluster.node_serving(&value);
        serving[node] += 1;
        set(&cluster, node, &value).expect("the serving node takes the write");
        let other = (node + 1) % 3;
        let moved = set(&cluster, other, &value).expect_err("another node redirects");
        assert!(
            moved.to_string().to_uppercase().contains("MOVED"),
            "{moved}"
        );
    }
    assert!(serving.iter().all(|&n| n > 0), "{serving:?}");
}

#[test]
fn a_restarted_node_serves_its_slots_again() {
    let mut cluster = RedisCluster::start(3);
    let key = "{k}:v";
    let node = cluster.node_serving(key);
    set(&cluster, node, key).unwrap();
    cluster.node_mut(node).kill();
    cluster.node_mut(node).restart();
    cluster.wait_until_up();
    assert_eq!(cluster.node_serving(key), node, "it kept its slots");
    let value: Option<String> = redis::cmd("GET")
        .arg(key)
        .query(&mut cluster.node(node).admin())
        .unwrap();
    assert_eq!(value, None, "but not its data");
    set(&cluster, node, key).expect("it serves writes again");
}
