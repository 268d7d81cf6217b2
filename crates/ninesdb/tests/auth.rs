//! Authentication and permissions on a real cluster: the security review's "anyone who
//! reaches a client port is an admin" incident, and ACL changes that hold on every node.

mod common;

use std::time::{Duration, Instant};

use common::{Client, Cluster, Reply};

fn ok() -> Reply {
    Reply::Simple("OK".to_owned())
}

fn error_starting(reply: Reply, prefix: &str) {
    match reply {
        Reply::Error(e) if e.starts_with(prefix) => {}
        other => panic!("wanted an error starting {prefix}, got {other:?}"),
    }
}

// Goal: once a password is set, an unauthenticated client runs nothing but AUTH and HELLO;
// the default user (with the password) keeps the data commands but not the cluster's
// administration (NINESDB JOIN/DRAIN/DEBUG, ACL SETUSER), which the admin user has; a user
// made through one node can log in on another, with its key patterns enforced there.
// Method: servers with --requirepass and --admin-password; commands before and after AUTH
// on every node.
#[test]
fn a_password_closes_the_door_and_users_hold_cluster_wide() {
    let cluster = Cluster::start_with(
        3,
        25001,
        "auth",
        &[
            "--groups",
            "3",
            "--requirepass",
            "s3cret",
            "--admin-password",
            "adm1n",
        ],
        |_| None,
    );
    // The requirepass change reaches every node within the refresh interval.
    let deadline = Instant::now() + Duration::from_secs(20);
    for &address in &cluster.clients {
        loop {
            let reply = Client::connect(address).and_then(|mut c| c.call(&[b"GET", b"k"]).ok());
            if let Some(Reply::Error(e)) = reply {
                if e.starts_with("NOAUTH") {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{address} never asked for a password"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mut anonymous = Client::connect(cluster.clients[0]).expect("connects");
    for command in [
        &[&b"SET"[..], b"k", b"v"][..],
        &[b"PING"],
        &[b"KEYS", b"*"],
        &[b"NINESDB", b"JOIN", b"9", b"127.0.0.1:1/127.0.0.1:2"],
        &[b"NINESDB", b"DRAIN", b"2"],
        &[b"ACL", b"LIST"],
        &[b"CLUSTER", b"SLOTS"],
    ] {
        error_starting(anonymous.call(command).unwrap(), "NOAUTH");
    }
    error_starting(anonymous.call(&[b"AUTH", b"wrong"]).unwrap(), "WRONGPASS");
    error_starting(
        anonymous
            .call(&[b"HELLO", b"3", b"AUTH", b"default", b"wrong"])
            .unwrap(),
        "WRONGPASS",
    );
    assert_eq!(anonymous.call(&[b"AUTH", b"s3cret"]).unwrap(), ok());
    assert_eq!(anonymous.call(&[b"SET", b"k", b"v"]).unwrap(), ok());
    let mut default = anonymous;
    for command in [
        &[&b"NINESDB"[..], b"DRAIN", b"2"][..],
        &[b"NINESDB", b"DEBUG", b"SLOW-DISK", b"100"],
        &[b"ACL", b"SETUSER", b"mallory", b"on", b"nopass", b"+@all"],
        &[b"SHUTDOWN"],
    ] {
        error_starting(default.call(command).unwrap(), "NOPERM");
    }
    // The admin user, on node 2, makes a user; it can log in on node 3.
    let mut admin = Client::connect(cluster.clients[1]).expect("connects");
    assert_eq!(admin.call(&[b"AUTH", b"admin", b"adm1n"]).unwrap(), ok());
    assert_eq!(
        admin
            .call(&[
                b"ACL",
                b"SETUSER",
                b"alice",
                b"on",
                b">pw",
                b"~cache:*",
                b"+get",
                b"+set"
            ])
            .unwrap(),
        ok()
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut alice = Client::connect(cluster.clients[2]).expect("connects");
    while alice.call(&[b"AUTH", b"alice", b"pw"]).unwrap() != ok() {
        assert!(Instant::now() < deadline, "alice never reached node 3");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(alice.call(&[b"SET", b"cache:1", b"x"]).unwrap(), ok());
    assert_eq!(
        alice.call(&[b"GET", b"cache:1"]).unwrap(),
        Reply::Bulk(Some(b"x".to_vec()))
    );
    error_starting(alice.call(&[b"SET", b"other", b"x"]).unwrap(), "NOPERM");
    error_starting(alice.call(&[b"DEL", b"cache:1"]).unwrap(), "NOPERM");
    // Node 3 logged the refusals in its ACL LOG.
    let mut admin3 = Client::connect(cluster.clients[2]).expect("connects");
    assert_eq!(admin3.call(&[b"AUTH", b"admin", b"adm1n"]).unwrap(), ok());
    match admin3.call(&[b"ACL", b"LOG"]).unwrap() {
        Reply::Array(entries) => assert!(entries.len() >= 2, "{entries:?}"),
        other => panic!("ACL LOG: {other:?}"),
    }
    // Deleting the user ends its logins everywhere.
    assert_eq!(
        admin.call(&[b"ACL", b"DELUSER", b"alice"]).unwrap(),
        Reply::Integer(1)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Client::connect(cluster.clients[0]).expect("connects");
        if let Reply::Error(e) = again.call(&[b"AUTH", b"alice", b"pw"]).unwrap() {
            assert!(e.starts_with("WRONGPASS"));
            break;
        }
        assert!(Instant::now() < deadline, "alice still logs in on node 1");
        std::thread::sleep(Duration::from_millis(100));
    }
    // `ctl` logs in as the admin user when given the password, and says so when it is not.
    let ctl = |password: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ninesdb"));
        command.args(["ctl", "--port", &cluster.clients[0].port().to_string()]);
        if let Some(password) = password {
            command.args(["--password", password]);
        }
        command
            .args(["status", "--json"])
            .env_remove("NINESDB_PASSWORD")
            .output()
            .expect("ctl runs")
    };
    let refused = ctl(None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("NOAUTH"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let allowed = ctl(Some("adm1n"));
    assert!(
        allowed.status.success(),
        "{}",
        String::from_utf8_lossy(&allowed.stderr)
    );
    // redis-cli with the password works as it does against Redis.
    if let Ok(out) = std::process::Command::new("redis-cli")
        .args([
            "-p",
            &cluster.clients[0].port().to_string(),
            "-a",
            "s3cret",
            "--no-auth-warning",
            "GET",
            "k",
        ])
        .output()
    {
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    }
}
