//! The JSON admin API and its command-line client against an in-process controller with a
//! simulated switch connected over TCP (the controller's real OpenFlow listener): a token
//! is required (401 without it or with another), the switches, instances, rules and
//! addresses read back what the model holds, and a switch's desired flows are shown next
//! to the flows read from it on demand. The `ovs-ec2-admin` binary prints the same.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use dxr::Value as X;
use examples::app::App;
use examples::core::sim_switch::SimSwitch;
use examples::shell::cli::{Args, FileConfig};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CONFIG: &str = r#"
[api]
pool = ["203.0.113.100-203.0.113.109"]

[[accounts]]
access_key = "AKIAADMINTEST0000001"
secret_key = "secret-key-of-the-admin-test-account"
owner = "111122223333"

[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:00:00:00:02"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 1
uplink = 1
"#;

fn state_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-admin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.sqlite3")
}

async fn start(state: &Path, extra: &[&str]) -> App {
    let mut argv = vec![
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--xmlrpc-listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--state-file",
        state.to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let args = Args::parse_from(argv);
    let mut resolved = args.merge(FileConfig::parse(CONFIG).unwrap()).unwrap();
    let store = resolved.open_state(&args).unwrap();
    App::start(resolved, store).await.unwrap()
}

/// A simulated switch connected to the controller over TCP, until the task is aborted.
fn connect(addr: SocketAddr, mut sw: SimSwitch) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(&sw.hello()).await.unwrap();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            sw.receive(&buf[..n]);
            let out = sw.take_output();
            if !out.is_empty() && s.write_all(&out).await.is_err() {
                return;
            }
        }
    })
}

/// GET `path` with `token` (if any): status and JSON body.
fn get(admin: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut req = agent.get(&format!("http://{admin}{path}"));
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut r = req.call().unwrap();
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

async fn aget(admin: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let path = path.to_owned();
    let token = token.map(str::to_owned);
    tokio::task::spawn_blocking(move || get(admin, &path, token.as_deref()))
        .await
        .unwrap()
}

fn s(v: &str) -> X {
    X::String(v.to_owned())
}

/// Group 7 ("web": TCP 22 from anywhere), as the XML-RPC drop-in takes it.
fn web_group() -> X {
    let mut g = BTreeMap::new();
    g.insert("name".to_owned(), s("web"));
    g.insert("id".to_owned(), X::Integer(7));
    g.insert(
        "rules".to_owned(),
        X::Array(vec![X::Array(vec![
            s("tcp"),
            X::Integer(22),
            X::Integer(22),
            s("0.0.0.0/0"),
        ])]),
    );
    X::Array(vec![X::Struct(g)])
}

async fn wait_ready(app: &App) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.handle.inspect(|c| c.is_ready(1)).await.unwrap() {
        assert!(Instant::now() < deadline, "the switch never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cli(app: &App, token: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ovs-ec2-admin"))
        .args(["--url", &format!("http://{}", app.admin), "--token", token])
        .args(args)
        .env_remove("OVS_EC2_ADMIN_URL")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_and_its_cli() {
    let state = state_file("api");
    let app = start(&state, &[]).await;
    // No token was configured: one was created, to be printed, and it is stored.
    let token = app.created_admin_token.clone().expect("a created token");
    assert_eq!(token, app.admin_token);
    assert_eq!(token.len(), 32);
    let sw = connect(
        app.openflow[0],
        SimSwitch::new(1, &[(1, "hv1-up"), (5, "vnet0")]),
    );
    wait_ready(&app).await;
    // An instance attached by the XML-RPC drop-in to port 5 ("vnet0": not its id).
    let r = app
        .xmlrpc_rpc
        .call(
            "RunInstance",
            &[
                s("10.0.0.2"),
                s("02:00:0a:00:00:02"),
                s("1"),
                X::Integer(5),
                web_group(),
            ],
        )
        .await;
    assert_eq!(r, s("SUCCESS"));
    let r = app
        .xmlrpc_rpc
        .call(
            "AssociateAddress",
            &[
                s("203.0.113.100"),
                s("10.0.0.2"),
                s("02:00:0a:00:00:02"),
                s("1"),
                X::Integer(5),
                X::Integer(-1),
                s("10.0.0.1"),
            ],
        )
        .await;
    assert_eq!(r, s("SUCCESS"));

    // Without the token, or with another: 401, whatever the path.
    for path in ["/v1/switches", "/v1/instances", "/v1/nope"] {
        let (status, body) = aget(app.admin, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(body["error"].as_str().unwrap().contains("token"));
        let (status, _) = aget(app.admin, path, Some("not-the-token-at-all")).await;
        assert_eq!(status, 401, "{path}");
    }
    let t = Some(token.as_str());

    let (status, v) = aget(app.admin, "/v1/switches", t).await;
    assert_eq!(status, 200, "{v}");
    let sw1 = &v["switches"][0];
    assert_eq!(sw1["dpid"], "0000000000000001");
    assert_eq!(sw1["connected"], true);
    assert_eq!(sw1["ready"], true);
    assert_eq!(sw1["uplink"], 1);

    let (status, v) = aget(app.admin, "/v1/instances", t).await;
    assert_eq!(status, 200);
    let inst = &v["instances"][0];
    let id = inst["id"].as_str().unwrap().to_owned();
    assert_eq!(inst["private_ip"], "10.0.0.2");
    assert_eq!(inst["mac"], "02:00:0a:00:00:02");
    assert_eq!(inst["groups"], serde_json::json!(["sg-00000007"]));
    assert_eq!(
        inst["binding"],
        serde_json::json!({"switch": "0000000000000001", "port": 5, "pinned": true})
    );
    assert_eq!(inst["elastic_ip"], "203.0.113.100");
    assert_eq!(inst["state"], "running");

    let (status, v) = aget(app.admin, &format!("/v1/instances/{id}/rules"), t).await;
    assert_eq!(status, 200);
    assert_eq!(
        v["ingress"],
        serde_json::json!([{"group": "sg-00000007", "protocol": "tcp", "from_port": 22, "to_port": 22, "peer": "0.0.0.0/0"}])
    );
    assert_eq!(v["egress"][0]["protocol"], "-1");
    let (status, _) = aget(app.admin, "/v1/instances/i-00000000/rules", t).await;
    assert_eq!(status, 404);

    let (status, v) = aget(app.admin, "/v1/groups", t).await;
    assert_eq!(status, 200);
    let web = v["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == "sg-00000007")
        .unwrap();
    assert_eq!(web["name"], "web");
    assert_eq!(web["members"], serde_json::json!([id]));

    let (status, v) = aget(app.admin, "/v1/addresses", t).await;
    assert_eq!(status, 200);
    assert_eq!(v["addresses"][0]["public_ip"], "203.0.113.100");
    assert_eq!(v["addresses"][0]["private_ip"], "10.0.0.2");
    assert_eq!(v["addresses"][0]["instance"], id.as_str());

    // Desired next to installed: the switch holds exactly what the model compiles to.
    let (status, v) = aget(app.admin, "/v1/switches/0000000000000001/flows", t).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["connected"], true);
    let desired = v["desired"].as_array().unwrap();
    let installed = v["installed"].as_array().unwrap();
    assert!(desired.len() > 5, "{v}");
    assert_eq!(v["counts"]["desired"], desired.len());
    assert_eq!(installed.len(), desired.len(), "{v}");
    assert_eq!(v["missing"], serde_json::json!([]), "{v}");
    assert_eq!(v["unexpected"], serde_json::json!([]), "{v}");
    // ovs-ofctl dump-flows syntax: the elastic IP's rewrite to the instance on port 5.
    assert!(
        desired
            .iter()
            .any(|l| l.as_str().unwrap().contains("nw_dst=203.0.113.100")
                && l.as_str().unwrap().contains("mod_nw_dst:10.0.0.2")),
        "{v}"
    );
    assert!(installed
        .iter()
        .all(|l| l.as_str().unwrap().starts_with("cookie=0x")
            && l.as_str().unwrap().contains("n_packets=")));
    // Unknown and malformed switches.
    let (status, _) = aget(app.admin, "/v1/switches/2/flows", t).await;
    assert_eq!(status, 404);
    let (status, _) = aget(app.admin, "/v1/switches/zz/flows", t).await;
    assert_eq!(status, 400);

    // The command-line client.
    let c = |args: &'static [&'static str]| {
        let token = token.clone();
        let app = &app;
        tokio::task::block_in_place(move || cli(app, &token, args))
    };
    let (ok, out, err) = c(&["switches"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("DPID"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("0000000000000001") && l.contains("true") && l.contains(&id)),
        "{out}"
    );
    let (ok, out, err) = c(&["flows", "1"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("desired ({})", desired.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!("installed ({})", desired.len())),
        "{out}"
    );
    assert!(out.contains("missing on the switch (0)"), "{out}");
    assert!(out.contains("mod_nw_dst:10.0.0.2"), "{out}");
    let (ok, out, err) = c(&["flows", "--diff", "0x1"]);
    assert!(ok, "{err}");
    assert!(!out.contains("desired ("), "{out}");
    assert!(out.contains("unexpected on the switch (0)"), "{out}");
    let rules = tokio::task::block_in_place(|| cli(&app, &token, &["rules", &id]));
    assert!(rules.0, "{}", rules.2);
    assert!(
        rules.1.contains("switch 0000000000000001 port 5 (pinned)"),
        "{}",
        rules.1
    );
    assert!(rules.1.contains("tcp port 22"), "{}", rules.1);
    assert!(rules.1.contains("[sg-00000007]"), "{}", rules.1);
    let (ok, out, _) = c(&["--json", "addresses"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["addresses"][0]["public_ip"], "203.0.113.100");
    // A wrong token: failure, with the reason.
    let (ok, _, err) = tokio::task::block_in_place(|| cli(&app, "wrong-token-here", &["switches"]));
    assert!(!ok);
    assert!(err.contains("401"), "{err}");
    // A switch that is not connected: its installed flows cannot be read.
    sw.abort();
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.handle.inspect(|c| c.is_ready(1)).await.unwrap() {
        assert!(Instant::now() < deadline, "the switch never went away");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, v) = aget(app.admin, "/v1/switches/1/flows", t).await;
    assert_eq!(status, 200);
    assert_eq!(v["connected"], false);
    assert!(
        v["error"].as_str().unwrap().contains("not connected"),
        "{v}"
    );
    assert!(!v["desired"].as_array().unwrap().is_empty());
    app.shutdown().await;

    // Restarted: the stored token is used and not printed again.
    let app = start(&state, &[]).await;
    assert_eq!(app.admin_token, token);
    assert_eq!(app.created_admin_token, None);
    app.shutdown().await;
    // A configured token replaces it.
    let app = start(&state, &["--admin-token", "a-configured-admin-token"]).await;
    let (status, _) = aget(app.admin, "/v1/switches", Some(&token)).await;
    assert_eq!(status, 401);
    let (status, _) = aget(app.admin, "/v1/switches", Some("a-configured-admin-token")).await;
    assert_eq!(status, 200);
    app.shutdown().await;
}
