//! The `controller` binary as operators run it: Prometheus metrics at `/metrics` that move with
//! what happens (a simulated switch connecting, signed EC2 calls and refused ones), the health
//! check at `/health`, and a graceful shutdown on SIGTERM: no new API calls, the call in
//! progress finishes, exit status 0.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ec2_model::auth::SigV4Signer;
use ec2_model::HttpRequest;
use examples::core::sim_switch::SimSwitch;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const GROUP: &str = "sg-0a1b2c3d";
const INSTANCE: &str = "i-0a1b2c3d";

fn config() -> String {
    format!(
        r#"
[[accounts]]
access_key = "{KEY}"
secret_key = "{SECRET}"
owner = "111122223333"

[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:00:00:00:02"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 7
uplink = 1

[[model.groups]]
id = "{GROUP}"
name = "ssh"
owner = "111122223333"
description = "SSH from anywhere"
ingress = [{{ protocol = {{ tcp = {{ from = 22, to = 22 }} }}, peer = {{ cidr = "0.0.0.0/0" }} }}]
egress = [{{ protocol = "any", peer = {{ cidr = "0.0.0.0/0" }} }}]

[[model.instances]]
id = "{INSTANCE}"
owner = "111122223333"
mac = "02:00:0a:00:00:02"
ip = "10.0.0.2"
groups = ["{GROUP}"]
"#
    )
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    openflow: SocketAddr,
    api: SocketAddr,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn logged_addr(line: &str, key: &str) -> SocketAddr {
    let at = line.find(key).expect("the address is logged") + key.len();
    line[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap()
}

impl Running {
    fn start(dir: &std::path::Path) -> Running {
        let config_path = dir.join("controller.toml");
        std::fs::write(&config_path, config()).unwrap();
        let state = dir.join("state.sqlite3");
        let bin = env!("CARGO_BIN_EXE_controller");
        let mut cmd = Command::new(bin);
        cmd.args(["--listen", "127.0.0.1:0", "--api-listen", "127.0.0.1:0"])
            .args(["--log-level", "info"])
            .args(["--config", config_path.to_str().unwrap()])
            .args(["--state-file", state.to_str().unwrap()]);
        // Other front ends beside the EC2 API listen on loopback port 0 too, when the binary
        // has them (a fixed default port would collide with tests running in parallel).
        let help = Command::new(bin).arg("--help").output().unwrap();
        if String::from_utf8_lossy(&help.stdout).contains("--xmlrpc-listen") {
            cmd.args(["--xmlrpc-listen", "127.0.0.1:0"]);
        }
        let mut child = cmd
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut r = Running {
            child,
            lines,
            openflow: SocketAddr::from(([127, 0, 0, 1], 0)),
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
        };
        let line = r.wait_line("listening for OpenFlow switches");
        r.openflow = logged_addr(&line, "local=");
        let line = r.wait_line("serving the EC2 API");
        r.api = logged_addr(&line, "api=");
        r
    }

    fn wait_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} in time"),
            }
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name}");
    }

    fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the controller did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One HTTP/1.1 exchange (Connection: close): (status, body).
fn http(addr: SocketAddr, head_and_body: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(head_and_body)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_owned();
    Ok((status, body))
}

fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    http(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap()
}

/// A signed EC2 call (SigV4, form POST to `/`), as bytes on the wire.
fn ec2_request(addr: SocketAddr, body: &str, secret: &str) -> Vec<u8> {
    let mut r =
        HttpRequest::form_post(body.as_bytes().to_vec()).with_header("Host", addr.to_string());
    r.path = "/".to_owned();
    SigV4Signer::new(KEY, secret, "us-east-1", "ec2")
        .sign(&mut r, time::OffsetDateTime::now_utc())
        .unwrap();
    let mut out = String::from("POST / HTTP/1.1\r\n");
    for (k, v) in &r.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        r.body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&r.body);
    bytes
}

fn ec2(addr: SocketAddr, body: &str, secret: &str) -> (u16, String) {
    http(addr, &ec2_request(addr, body, secret)).unwrap()
}

/// The scraped series, keyed by name and labels as written; the text format is checked on
/// the way (every sample line parses, every sampled metric has a TYPE line).
fn scrape(api: SocketAddr) -> BTreeMap<String, f64> {
    let (status, text) = get(api, "/metrics");
    assert_eq!(status, 200, "{text}");
    let mut types = Vec::new();
    let mut series = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            let name = parts.next().unwrap();
            let kind = parts.next().unwrap();
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            types.push(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.is_empty() {
            continue;
        }
        let (key, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("{line}"));
        let name = key.split('{').next().unwrap();
        assert!(
            types.iter().any(|t| name == t
                || name
                    .strip_prefix(t.as_str())
                    .is_some_and(|s| ["_bucket", "_sum", "_count"].contains(&s))),
            "{name} has no TYPE line before it"
        );
        series.insert(key.to_owned(), value);
    }
    series
}

fn value(series: &BTreeMap<String, f64>, key: &str) -> f64 {
    *series
        .get(key)
        .unwrap_or_else(|| panic!("no series {key} in {series:#?}"))
}

enum SwitchCmd {
    /// Hold back (or release) every answer; acknowledged once in effect.
    Mute(bool, mpsc::Sender<()>),
}

/// A simulated switch on its own thread, connected to the controller over TCP.
struct Switch {
    tx: mpsc::Sender<SwitchCmd>,
}

impl Switch {
    fn mute(&self, mute: bool) {
        let (done, acked) = mpsc::channel();
        self.tx.send(SwitchCmd::Mute(mute, done)).unwrap();
        acked.recv_timeout(Duration::from_secs(5)).unwrap();
    }
}

fn connect_switch(openflow: SocketAddr) -> Switch {
    let (tx, rx) = mpsc::channel();
    let mut s = TcpStream::connect(openflow).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    std::thread::spawn(move || {
        let mut sw = SimSwitch::new(7, &[(1, "uplink"), (3, INSTANCE)]);
        if s.write_all(&sw.hello()).is_err() {
            return;
        }
        let mut buf = vec![0u8; 65536];
        loop {
            loop {
                match rx.try_recv() {
                    Ok(SwitchCmd::Mute(m, done)) => {
                        sw.set_mute(m);
                        let _ = done.send(());
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            }
            match s.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => sw.receive(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
            let out = sw.take_output();
            if !out.is_empty() && s.write_all(&out).is_err() {
                return;
            }
        }
    });
    Switch { tx }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn metrics_and_health_follow_switches_and_api_calls() {
    let dir = temp_dir("metrics");
    let mut c = Running::start(&dir);
    let api = c.api;

    // Health: up, nothing connected.
    let (status, body) = get(api, "/health");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok", "{body}");
    assert_eq!(health["switches_connected"], 0, "{body}");
    assert_eq!(health["instances"], 1, "{body}");

    let before = scrape(api);
    assert_eq!(value(&before, "ovs_ec2_core_up"), 1.0);
    assert_eq!(value(&before, "ovs_ec2_switches_connected"), 0.0);
    assert_eq!(value(&before, "ovs_ec2_pinholes"), 0.0);
    assert_eq!(value(&before, "ovs_ec2_packet_ins_total"), 0.0);
    assert_eq!(value(&before, "ovs_ec2_api_requests_in_flight"), 0.0);
    // The configured group and the account's default group (created at start).
    assert_eq!(value(&before, "ovs_ec2_security_groups"), 2.0);
    let up = r#"ovs_ec2_switch_up{dpid="0000000000000007"}"#;
    assert_eq!(value(&before, up), 0.0, "the configured switch is away");
    // The default pool: 203.0.113.100-149, nothing allocated.
    assert_eq!(value(&before, "ovs_ec2_pool_addresses"), 50.0);
    assert_eq!(value(&before, "ovs_ec2_pool_free_addresses"), 50.0);
    let flows = value(&before, "ovs_ec2_flows");
    assert!(flows > 0.0, "the configured model compiles to flows");
    // Scrapes and health checks are not API calls.
    assert!(
        !before
            .keys()
            .any(|k| k.starts_with("ovs_ec2_api_requests_total")),
        "{before:#?}"
    );

    // A switch connects: handshake, reconciliation (flow_mods), the port binds the instance.
    let _switch = connect_switch(c.openflow);
    wait_for("the switch to be reconciled", || {
        value(&scrape(api), "ovs_ec2_switches_ready") == 1.0
    });
    let after = scrape(api);
    assert_eq!(value(&after, "ovs_ec2_switches_connected"), 1.0);
    assert_eq!(value(&after, up), 1.0);
    assert!(value(&after, "ovs_ec2_flow_mods_total") > 0.0);
    assert!(value(&after, "ovs_ec2_barriers_total") > 0.0);
    assert_eq!(value(&after, "ovs_ec2_reconciliations_total"), 1.0);
    assert_eq!(value(&after, "ovs_ec2_switch_errors_total"), 0.0);
    // The bound instance adds its flows.
    assert!(value(&after, "ovs_ec2_flows") > flows);
    let (_, body) = get(api, "/health");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["switches_connected"], 1, "{body}");
    assert_eq!(health["switches_ready"], 1, "{body}");
    assert_eq!(health["switches"]["0000000000000007"], true, "{body}");

    // Signed calls are counted by action and outcome, and timed.
    for _ in 0..2 {
        let (status, body) = ec2(api, "Action=DescribeAddresses&Version=2016-11-15", SECRET);
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = ec2(
        api,
        "Action=ReleaseAddress&Version=2016-11-15&AllocationId=eipalloc-0000dead",
        SECRET,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = ec2(
        api,
        "Action=AllocateAddress&Version=2016-11-15&Domain=vpc",
        SECRET,
    );
    assert_eq!(status, 200, "{body}");
    // A wrong secret is refused before the request is parsed: no action.
    let (status, body) = ec2(
        api,
        "Action=DescribeAddresses&Version=2016-11-15",
        "not-the-secret",
    );
    assert_eq!(status, 401, "{body}");
    let m = scrape(api);
    assert_eq!(
        value(
            &m,
            r#"ovs_ec2_api_requests_total{action="DescribeAddresses",outcome="ok"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            r#"ovs_ec2_api_requests_total{action="ReleaseAddress",outcome="InvalidAllocationID.NotFound"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            r#"ovs_ec2_api_requests_total{action="none",outcome="AuthFailure"}"#
        ),
        1.0
    );
    assert_eq!(value(&m, "ovs_ec2_elastic_ips"), 1.0);
    assert_eq!(value(&m, "ovs_ec2_pool_free_addresses"), 49.0);
    assert_eq!(
        value(
            &m,
            r#"ovs_ec2_api_request_duration_seconds_count{action="DescribeAddresses"}"#
        ),
        2.0
    );
    assert_eq!(
        value(
            &m,
            r#"ovs_ec2_api_request_duration_seconds_bucket{action="DescribeAddresses",le="+Inf"}"#
        ),
        2.0
    );
    assert!(
        value(
            &m,
            r#"ovs_ec2_api_request_duration_seconds_sum{action="DescribeAddresses"}"#
        ) > 0.0
    );

    // Unknown paths are not the API's and not counted as its actions.
    let (status, _) = get(api, "/nonexistent");
    assert_eq!(status, 404);

    c.signal("TERM");
    let status = c.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sigterm_lets_the_call_in_progress_finish_refuses_new_ones_and_exits_0() {
    let dir = temp_dir("sigterm");
    let mut c = Running::start(&dir);
    let api = c.api;
    let switch = connect_switch(c.openflow);
    wait_for("the switch to be reconciled", || {
        value(&scrape(api), "ovs_ec2_switches_ready") == 1.0
    });

    // The switch stops answering: a change waits for its barrier (the bounded apply wait).
    switch.mute(true);
    let authorize = format!(
        "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupId={GROUP}\
         &IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=80&IpPermissions.1.ToPort=80\
         &IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
    );
    let request = ec2_request(api, &authorize, SECRET);
    let call = std::thread::spawn(move || http(api, &request));
    wait_for("the call to be in progress", || {
        assert!(
            !call.is_finished(),
            "the call did not wait for the muted switch"
        );
        value(&scrape(api), "ovs_ec2_api_requests_in_flight") == 1.0
    });

    let signalled = Instant::now();
    c.signal("TERM");
    c.wait_line("shutting down");
    // New calls are refused soon after (the listener closes), while the call in progress goes
    // on.
    wait_for("new calls to be refused", || {
        http(
            api,
            &ec2_request(api, "Action=DescribeAddresses&Version=2016-11-15", SECRET),
        )
        .is_err()
    });
    assert!(
        !call.is_finished(),
        "the call in progress was not waited for"
    );

    // The call in progress is answered, and it succeeded.
    let (status, body) = call.join().unwrap().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<return>true</return>"), "{body}");
    let status = c.wait_exit(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(signalled.elapsed() < Duration::from_secs(15));

    // The change is in the state file: a restart serves it.
    drop(c);
    let c = Running::start(&dir);
    let (status, body) = ec2(
        c.api,
        &format!("Action=DescribeSecurityGroups&Version=2016-11-15&GroupId.1={GROUP}"),
        SECRET,
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<fromPort>80</fromPort>"), "{body}");
    drop(c);
    std::fs::remove_dir_all(&dir).unwrap();
}
