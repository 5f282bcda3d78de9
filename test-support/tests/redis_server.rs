//! The fixture does what the fault tests rely on: a stalled server answers nothing, a
//! resumed one answers again, a restarted one is empty on the same port, and a server
//! is killed with its owner but not with a value that merely attached to it.

use std::time::Duration;

use test_support::RedisServer;

fn set(server: &RedisServer, key: &str) {
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg("v")
        .query(&mut server.admin())
        .unwrap();
}

fn exists(server: &RedisServer, key: &str) -> bool {
    redis::cmd("EXISTS")
        .arg(key)
        .query(&mut server.admin())
        .unwrap()
}

#[test]
fn stall_resume_kill_restart() {
    let mut server = RedisServer::start();
    assert!(server.ping());
    set(&server, "k");

    server.stall();
    assert!(!server.ping(), "a stalled server answers nothing");
    server.resume();
    assert!(server.ping(), "a resumed server answers again");
    assert!(exists(&server, "k"), "stalling loses nothing");

    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert!(!server.ping(), "a killed server answers nothing");

    server.restart();
    assert_eq!(server.port(), port, "restarted on the same port");
    assert!(server.ping());
    assert!(!exists(&server, "k"), "a restarted server starts empty");
}

#[test]
fn a_stalled_server_is_killed_all_the_same() {
    let mut server = RedisServer::start();
    server.stall();
    server.kill();
    server.restart();
    assert!(server.ping());
}

#[test]
fn attached_values_do_not_kill_on_drop_but_owners_do() {
    let server = RedisServer::start();
    drop(RedisServer::attach(server.port()));
    assert!(
        server.ping(),
        "dropping an attached value leaves the server running"
    );

    let probe = RedisServer::attach(server.port());
    drop(server);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while probe.ping() {
        assert!(
            std::time::Instant::now() < deadline,
            "the owner's drop kills the server"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn extra_arguments_reach_the_server() {
    let server = RedisServer::start_with(&["--maxmemory", "7mb"]);
    let config: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxmemory")
        .query(&mut server.admin())
        .unwrap();
    assert_eq!(config, ["maxmemory", &(7 * 1024 * 1024).to_string()]);
}
