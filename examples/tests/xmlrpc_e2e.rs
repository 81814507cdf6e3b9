//! The XML-RPC drop-in end to end with real Open vSwitch: the controller (in-process, as the
//! `controller` binary runs it) drives the seed's two hypervisor bridges, and Python's
//! standard `xmlrpc.client` replays the 2012 deployment's call sequence: register two
//! instances on the two bridges (ports named `vm-a` and `vm-b`, not after the instance ids:
//! the calls name the switch and port), associate an elastic IP, authorize and revoke a
//! port, move the address, disassociate, terminate. After each call the switches' tables
//! are the compiled ones and real traffic between the instances' namespaces and the outside
//! host passes exactly as the calls say.
//!
//! Needs root, iproute2, ethtool, Open vSwitch and a Python 3 interpreter (`OVS_EC2_PYTHON`,
//! set by `scripts/test.sh`, or the workspace's `.venv`); a missing prerequisite fails the test, naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use examples::testbed::{Cloud, Exchange, InstanceSpec, MacAddr, OutsideSpec, Protocol};
use netrules::compile::{compile, cookie, CompileOptions};
use netrules::model::Model;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(1500);
/// The outside host is the public gateway.
const OUTSIDE_MAC: &str = "02:00:cb:00:71:01";

const CONFIG: &str = r#"
[api]
pool = ["203.0.113.100-203.0.113.109"]

[[accounts]]
access_key = "AKIAXMLRPCE2E0000001"
secret_key = "secret-key-of-the-xml-rpc-e2e-account"
owner = "111122223333"

[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:cb:00:71:01"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 1
uplink = 1

[[model.switches]]
dpid = 2
uplink = 1
"#;

fn python() -> String {
    let py = std::env::var("OVS_EC2_PYTHON").unwrap_or_else(|_| {
        // The workspace's virtualenv, as scripts/test.sh makes it.
        let local = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
        if std::path::Path::new(local).exists() {
            local.to_owned()
        } else {
            panic!(
                "OVS_EC2_PYTHON is not set (scripts/test.sh sets it to its virtualenv's python): \
                 the XML-RPC tests need a Python 3 interpreter"
            )
        }
    });
    let ok = Command::new(&py)
        .args(["-c", "import xmlrpc.client"])
        .status()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(ok.success(), "{py} cannot import xmlrpc.client");
    py
}

const CALL: &str = r#"
import json, sys, xmlrpc.client
url, method, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(json.dumps(getattr(xmlrpc.client.ServerProxy(url), method)(*args)))
"#;

/// One call through Python's `xmlrpc.client`; its answer as JSON.
fn call(py: &str, url: &str, method: &str, args: Value) -> Value {
    let out = Command::new(py)
        .args(["-c", CALL, url, method, &args.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{method}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// (cookie, priority) -> count of a bridge's flows (pinholes aside).
fn census(cloud: &Cloud, bridge: &str) -> BTreeMap<(u64, u16), usize> {
    let mut m = BTreeMap::new();
    for f in cloud.ovs().dump_flows(bridge).unwrap() {
        if f.cookie & cookie::KIND_MASK != cookie::PINHOLE {
            *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
        }
    }
    m
}

fn compiled(model: &Model, dpid: u64) -> BTreeMap<(u64, u16), usize> {
    let mut m = BTreeMap::new();
    for f in compile(model, &CompileOptions::default())
        .get(&dpid)
        .into_iter()
        .flatten()
    {
        *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
    }
    m
}

struct Env {
    rt: tokio::runtime::Runtime,
    app: App,
    cloud: Cloud,
    py: String,
    url: String,
}

impl Env {
    fn call(&self, method: &str, args: Value) {
        let r = call(&self.py, &self.url, method, args.clone());
        assert_eq!(r, json!("SUCCESS"), "{method}{args}");
        self.check_tables(method);
    }

    fn model(&self) -> Model {
        self.rt
            .block_on(self.app.handle.inspect(|c| c.model().clone()))
            .unwrap()
    }

    /// Both bridges hold exactly the compiled tables.
    fn check_tables(&self, after: &str) {
        let model = self.model();
        for (bridge, dpid) in [("hv1", 1), ("hv2", 2)] {
            let want = compiled(&model, dpid);
            wait_for(&format!("{bridge}'s table after {after}"), || {
                (census(&self.cloud, bridge) == want).then_some(())
            });
        }
    }

    fn exchange(&self, from: &str, to: Ipv4Addr, port: u16) -> Exchange {
        self.cloud
            .instance(from)
            .unwrap()
            .netns()
            .tcp_exchange(SocketAddr::from((to, port)), b"hello", SHORT)
            .unwrap()
    }

    fn outside_to(&self, to: Ipv4Addr, port: u16) -> Exchange {
        self.cloud
            .outside_host()
            .tcp_exchange(SocketAddr::from((to, port)), b"hello", SHORT)
            .unwrap()
    }
}

fn start() -> Env {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("ovs-ec2-xmlrpc-e2e-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.sqlite3");
    let args = Args::parse_from([
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
    ]);
    let mut resolved = args.merge(FileConfig::parse(CONFIG).unwrap()).unwrap();
    let store = resolved.open_state(&args).unwrap();
    let app = rt.block_on(App::start(resolved, store)).unwrap();
    let outside = OutsideSpec {
        addresses: vec!["203.0.113.1/24".parse().unwrap()],
        gateway: None,
        mac: Some(OUTSIDE_MAC.parse().unwrap()),
    };
    let mut cloud = Cloud::seed().outside(outside).start().unwrap();
    for (bridge, name, last) in [("hv1", "vm-a", 2u8), ("hv2", "vm-b", 3)] {
        let mac: MacAddr = format!("02:00:0a:00:00:{last:02x}").parse().unwrap();
        cloud
            .add_instance(
                bridge,
                InstanceSpec::new(name, format!("10.0.0.{last}/24").parse().unwrap())
                    .mac(mac)
                    .gateway(Ipv4Addr::new(10, 0, 0, 1))
                    .ofport(10),
            )
            .unwrap();
    }
    cloud.set_controller(app.openflow[0]).unwrap();
    let h = app.handle.clone();
    wait_for("both switches reconciled", || {
        rt.block_on(h.inspect(|c| c.is_ready(1) && c.is_ready(2)))
            .unwrap()
            .then_some(())
    });
    let url = format!("http://{}/RPC2", app.xmlrpc);
    Env {
        rt,
        app,
        cloud,
        py: python(),
        url,
    }
}

#[test]
fn the_seed_call_sequence_drives_real_open_vswitch() {
    let env = start();
    let (a_ip, b_ip) = (Ipv4Addr::new(10, 0, 0, 2), Ipv4Addr::new(10, 0, 0, 3));
    let eip = Ipv4Addr::new(203, 0, 113, 100);
    let a_ns = env.cloud.instance("vm-a").unwrap().netns();
    let b_ns = env.cloud.instance("vm-b").unwrap().netns();
    let a22 = a_ns.listen(Protocol::Tcp, 22).unwrap();
    let b22 = b_ns.listen(Protocol::Tcp, 22).unwrap();
    let _a80 = a_ns.listen(Protocol::Tcp, 80).unwrap();
    let _b80 = b_ns.listen(Protocol::Tcp, 80).unwrap();
    let group = json!([{"name": "web", "id": 7, "rules": [["tcp", 22, 22, "0.0.0.0/0"]]}]);

    // Nothing is registered: the switches let nothing through.
    assert!(!env.exchange("vm-a", b_ip, 22).is_answered());
    // That exchange left A's kernel resolving B (three ARP requests, a second apart): if the
    // last of them went out before B was registered, the kernel would fail the next exchange
    // on that stale attempt. Start the next one from a clean neighbour table.
    a_ns.flush_neighbours().unwrap();

    // Register the two instances on the two hypervisor bridges, at their ports.
    env.call(
        "RunInstance",
        json!([
            "10.0.0.2",
            "02:00:0a:00:00:02",
            "0000000000000001",
            10,
            group
        ]),
    );
    env.call(
        "RunInstance",
        json!([
            "10.0.0.3",
            "02:00:0a:00:00:03",
            "0000000000000002",
            10,
            group
        ]),
    );
    let m = env.model();
    for ip in [a_ip, b_ip] {
        let i = m.instance_by_ip(ip).unwrap();
        assert_eq!(i.attachment.map(|a| a.port.0), Some(10), "{i:?}");
    }
    let ex = env.exchange("vm-a", b_ip, 22);
    assert!(ex.is_answered(), "A -> B:22 {ex:?}");
    let ex = env.exchange("vm-b", a_ip, 22);
    assert!(ex.is_answered(), "B -> A:22 {ex:?}");
    let ex = env.exchange("vm-a", b_ip, 80);
    assert!(!ex.is_answered(), "A -> B:80 {ex:?}");

    // An elastic IP for A: the outside reaches A on 22 only.
    env.call(
        "AssociateAddress",
        json!([
            "203.0.113.100",
            "10.0.0.2",
            "02:00:0a:00:00:02",
            "0000000000000001",
            10,
            -1,
            "10.0.0.1"
        ]),
    );
    a22.take_arrivals();
    let ex = env.outside_to(eip, 22);
    assert!(ex.is_answered(), "outside -> eip:22 (A) {ex:?}");
    assert_eq!(a22.take_arrivals().len(), 1);
    let ex = env.outside_to(eip, 80);
    assert!(!ex.is_answered(), "outside -> eip:80 {ex:?}");

    // Authorize port 80: it opens, between the instances and from the outside.
    env.call(
        "AuthorizeSecurityGroupIngress",
        json!([7, "tcp", 80, 80, "0.0.0.0/0"]),
    );
    let ex = env.outside_to(eip, 80);
    assert!(ex.is_answered(), "outside -> eip:80 after authorize {ex:?}");
    let ex = env.exchange("vm-a", b_ip, 80);
    assert!(ex.is_answered(), "A -> B:80 after authorize {ex:?}");

    // Revoke it: closed again (new connections).
    env.call(
        "RevokeSecurityGroupIngress",
        json!([7, "tcp", 80, 80, "0.0.0.0/0"]),
    );
    let ex = env.outside_to(eip, 80);
    assert!(!ex.is_answered(), "outside -> eip:80 after revoke {ex:?}");

    // Move the address to B on the other hypervisor: the outside now reaches B.
    env.call(
        "AssociateAddress",
        json!([
            "203.0.113.100",
            "10.0.0.3",
            "02:00:0a:00:00:03",
            "0000000000000002",
            10,
            -1,
            "10.0.0.1"
        ]),
    );
    std::thread::sleep(Duration::from_millis(300));
    b22.take_arrivals();
    a22.take_arrivals();
    let ex = env.outside_to(eip, 22);
    assert!(ex.is_answered(), "outside -> eip:22 (B) {ex:?}");
    assert_eq!(b22.take_arrivals().len(), 1);
    assert!(a22.take_arrivals().is_empty());

    // Disassociate: the address reaches nobody.
    env.call("DisassociateAddress", json!(["203.0.113.100"]));
    let ex = env.outside_to(eip, 22);
    assert!(
        !ex.is_answered(),
        "outside -> eip:22 after disassociate {ex:?}"
    );
    let ex = env.exchange("vm-a", b_ip, 22);
    assert!(ex.is_answered(), "A -> B:22 still {ex:?}");

    // Terminate A: B no longer reaches it; then B.
    env.call("TerminateInstance", json!(["10.0.0.2"]));
    let ex = env.exchange("vm-b", a_ip, 22);
    assert!(!ex.is_answered(), "B -> A:22 after terminate {ex:?}");
    env.call("TerminateInstance", json!(["10.0.0.3"]));
    assert!(env.model().instances().is_empty());

    let errors = env
        .rt
        .block_on(env.app.handle.inspect(|c| c.counters().switch_errors))
        .unwrap();
    assert_eq!(
        errors, 0,
        "Open vSwitch refused none of the controller's messages"
    );
}
