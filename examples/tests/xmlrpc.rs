//! The XML-RPC drop-in against a real XML-RPC client: Python's standard `xmlrpc.client`
//! (the interpreter named by `OVS_EC2_PYTHON`, which `scripts/test.sh` sets to its
//! virtualenv; the test fails if it is missing) replays the 2012 deployment's call sequence
//! against an in-process controller, and each result is checked through the EC2 API and the
//! model: one source of truth. Malformed calls each get a failure string and change
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use clap::Parser;
use ec2_model::{parse_params, Params, Request, Response};
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use netrules::model::{Model, OwnerId};
use serde_json::{json, Value};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;

const OWNER: &str = "111122223333";

const CONFIG: &str = r#"
[api]
pool = ["203.0.113.100-203.0.113.109"]

[[accounts]]
access_key = "AKIAXMLRPCTEST000001"
secret_key = "secret-key-of-the-xml-rpc-test-account"
owner = "111122223333"

[[accounts]]
access_key = "AKIAXMLRPCTEST000002"
secret_key = "secret-key-of-another-account-entirely"
owner = "444455556666"

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

[[model.switches]]
dpid = 2
uplink = 1
"#;

/// The Python interpreter with the standard library's `xmlrpc.client`.
pub fn python() -> String {
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

/// What a call through `xmlrpc.client` answered: its value as JSON, or the client's
/// exception (a fault, a protocol error) as `{"exception": "..."}`.
const CALL: &str = r#"
import json, sys, xmlrpc.client
url, method, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
proxy = xmlrpc.client.ServerProxy(url)
try:
    print(json.dumps(getattr(proxy, method)(*args)))
except Exception as e:
    print(json.dumps({"exception": "%s: %s" % (type(e).__name__, e)}))
"#;

#[derive(Debug)]
pub struct Rpc {
    py: String,
    url: String,
}

impl Rpc {
    pub fn new(addr: SocketAddr, path: &str) -> Self {
        Rpc {
            py: python(),
            url: format!("http://{addr}{path}"),
        }
    }

    /// Call `method` with `args` (a JSON array; Python passes ints, strings, lists, dicts,
    /// booleans and floats as the XML-RPC types).
    pub fn call(&self, method: &str, args: Value) -> Value {
        let out = Command::new(&self.py)
            .args(["-c", CALL, &self.url, method, &args.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
    }
}

fn state_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-xmlrpc-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("state.sqlite3")
}

async fn start(name: &str) -> App {
    let state = state_file(name);
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
    App::start(resolved, store).await.unwrap()
}

async fn model(app: &App) -> Model {
    app.handle.inspect(|c| c.model().clone()).await.unwrap()
}

/// The model as comparable JSON.
async fn snapshot(app: &App) -> Value {
    serde_json::to_value(model(app).await).unwrap()
}

/// An EC2 request from its parameters.
fn req(pairs: &[(&str, &str)]) -> Request {
    let mut all: Vec<(&str, &str)> = vec![("Version", "2016-11-15")];
    all.extend_from_slice(pairs);
    parse_params(&Params::from_pairs(all).unwrap()).unwrap().1
}

fn owner() -> OwnerId {
    OwnerId::new(OWNER).unwrap()
}

/// (instance id, private ip, public ip, state) of the account's instances, by EC2.
async fn described(app: &App) -> Vec<(String, Option<Ipv4Addr>, Option<Ipv4Addr>, String)> {
    let r = app
        .service
        .execute(&owner(), req(&[("Action", "DescribeInstances")]))
        .await
        .unwrap();
    let Response::DescribeInstances { reservations, .. } = r else {
        panic!("{r:?}")
    };
    let mut out: Vec<_> = reservations
        .into_iter()
        .flat_map(|r| r.instances)
        .map(|i| {
            (
                i.instance_id.as_str().to_owned(),
                i.private_ip_address,
                i.ip_address,
                format!("{:?}", i.state),
            )
        })
        .collect();
    out.sort_by_key(|i| i.1);
    out
}

/// (public ip, private ip of its instance) of the account's addresses, by EC2.
async fn addresses(app: &App) -> Vec<(Ipv4Addr, Option<Ipv4Addr>)> {
    let r = app
        .service
        .execute(&owner(), req(&[("Action", "DescribeAddresses")]))
        .await
        .unwrap();
    let Response::DescribeAddresses(list) = r else {
        panic!("{r:?}")
    };
    list.into_iter()
        .map(|a| (a.public_ip, a.private_ip_address))
        .collect()
}

fn web_group(rules: Value) -> Value {
    json!([{"name": "web", "id": 7, "rules": rules}])
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_call_sequence_through_python_xmlrpc_client() {
    let app = start("seed").await;
    let rpc = Rpc::new(app.xmlrpc, "/RPC2");
    let call = |m: &str, a: Value| {
        let rpc = &rpc;
        let m = m.to_owned();
        async move { tokio::task::block_in_place(|| rpc.call(&m, a)) }
    };
    let ok = json!("SUCCESS");

    // Two instances, one on each hypervisor bridge, in group 7 (TCP 22 from anywhere).
    let ssh = json!([["tcp", 22, 22, "0.0.0.0/0"]]);
    assert_eq!(
        call(
            "RunInstance",
            json!([
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "0000000000000001",
                5,
                web_group(ssh.clone())
            ])
        )
        .await,
        ok
    );
    assert_eq!(
        call(
            "RunInstance",
            json!([
                "10.0.0.3",
                "02:00:0a:00:00:03",
                "0000000000000002",
                6,
                web_group(ssh)
            ])
        )
        .await,
        ok
    );
    let m = model(&app).await;
    let a = m.instance_by_ip(ip("10.0.0.2")).unwrap().clone();
    let b = m.instance_by_ip(ip("10.0.0.3")).unwrap().clone();
    assert!(
        a.id.as_str().starts_with("i-") && a.id.as_str().len() == 10,
        "{}",
        a.id
    );
    assert_eq!(a.mac.to_string(), "02:00:0a:00:00:02");
    assert_eq!(a.attachment.map(|x| (x.switch, x.port.0)), Some((1, 5)));
    assert_eq!(b.attachment.map(|x| (x.switch, x.port.0)), Some((2, 6)));
    assert_eq!(
        a.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        ["sg-00000007"]
    );
    let pinned = app.handle.inspect(|c| c.pinned().clone()).await.unwrap();
    assert!(pinned.contains(&a.id) && pinned.contains(&b.id));
    // EC2 sees them (running: they are attached), and the group with its rule.
    let d = described(&app).await;
    assert_eq!(
        d,
        vec![
            (
                a.id.to_string(),
                Some(ip("10.0.0.2")),
                None,
                "Running".to_owned()
            ),
            (
                b.id.to_string(),
                Some(ip("10.0.0.3")),
                None,
                "Running".to_owned()
            ),
        ]
    );
    let r = app
        .service
        .execute(&owner(), req(&[("Action", "DescribeSecurityGroups")]))
        .await
        .unwrap();
    let text = format!("{r:?}");
    assert!(
        text.contains("sg-00000007") && text.contains("\"web\""),
        "{text}"
    );

    // An elastic IP for A.
    assert_eq!(
        call(
            "AssociateAddress",
            json!([
                "203.0.113.100",
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "0000000000000001",
                5,
                -1,
                "10.0.0.1"
            ])
        )
        .await,
        ok
    );
    assert_eq!(
        addresses(&app).await,
        vec![(ip("203.0.113.100"), Some(ip("10.0.0.2")))]
    );
    assert_eq!(
        call("GetElasticIpMap", json!([])).await,
        json!({"203.0.113.100": "10.0.0.2"})
    );
    assert_eq!(
        call("GetElasticIpReverseMap", json!([])).await,
        json!({"10.0.0.2": "203.0.113.100"})
    );
    let d = described(&app).await;
    assert_eq!(d[0].2, Some(ip("203.0.113.100")));

    // Authorize and revoke a port.
    let http = json!(["sg-00000007", "tcp", 80, 80, "0.0.0.0/0"]);
    assert_eq!(
        call("AuthorizeSecurityGroupIngress", http.clone()).await,
        ok
    );
    let dump = call("DumpGroupInstance", json!([7])).await;
    assert_eq!(dump["id"], "sg-00000007");
    assert_eq!(dump["name"], "web");
    assert_eq!(
        dump["rules"],
        json!([["tcp", 22, 22, "0.0.0.0/0"], ["tcp", 80, 80, "0.0.0.0/0"]])
    );
    assert_eq!(dump["instances"].as_array().unwrap().len(), 2);
    // Authorizing it twice is refused (and changes nothing).
    let again = call("AuthorizeSecurityGroupIngress", http.clone()).await;
    assert!(again.as_str().unwrap().starts_with("ERROR: "), "{again}");
    assert_eq!(call("RevokeSecurityGroupIngress", http.clone()).await, ok);
    let dump = call("DumpGroupInstance", json!(["7"])).await;
    assert_eq!(dump["rules"], json!([["tcp", 22, 22, "0.0.0.0/0"]]));

    // Move the address to B: it leaves A.
    assert_eq!(
        call(
            "AssociateAddress",
            json!([
                "203.0.113.100",
                "10.0.0.3",
                "02:00:0a:00:00:03",
                "0000000000000002",
                6,
                -1,
                "10.0.0.1"
            ])
        )
        .await,
        ok
    );
    assert_eq!(
        addresses(&app).await,
        vec![(ip("203.0.113.100"), Some(ip("10.0.0.3")))]
    );
    let switches = call("GetSwitchesMap", json!([])).await;
    assert_eq!(
        switches["0000000000000002"]["ports"]["6"]["elastic_ip"],
        "203.0.113.100"
    );
    assert_eq!(
        switches["0000000000000001"]["ports"]["5"]["instance"],
        a.id.as_str()
    );
    assert_eq!(switches["0000000000000001"]["connected"], false);
    assert_eq!(switches["0000000000000001"]["uplink"], 1);

    // Disassociate: the address stays allocated to the account.
    assert_eq!(
        call("DisassociateAddress", json!(["203.0.113.100"])).await,
        ok
    );
    assert_eq!(addresses(&app).await, vec![(ip("203.0.113.100"), None)]);
    assert_eq!(call("GetElasticIpMap", json!([])).await, json!({}));

    // Terminate both.
    assert_eq!(call("TerminateInstance", json!(["10.0.0.2"])).await, ok);
    assert_eq!(call("TerminateInstance", json!(["10.0.0.3"])).await, ok);
    assert!(described(&app).await.is_empty());
    let m = model(&app).await;
    assert!(m.instances().is_empty());
    let pinned = app.handle.inspect(|c| c.pinned().clone()).await.unwrap();
    assert!(pinned.is_empty(), "{pinned:?}");
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn associate_registers_an_unknown_instance_and_ec2_instances_are_visible() {
    let app = start("assoc").await;
    let rpc = Rpc::new(app.xmlrpc, "/RPC2");
    let call = |m: &str, a: Value| tokio::task::block_in_place(|| rpc.call(m, a));
    // The hook may associate before anything registered the instance: it is registered,
    // attached there, in the account's default group.
    assert_eq!(
        call(
            "AssociateAddress",
            json!([
                "203.0.113.101",
                "10.0.0.9",
                "02:00:0a:00:00:09",
                "0x1",
                4,
                0,
                "10.0.0.1"
            ])
        ),
        json!("SUCCESS")
    );
    let m = model(&app).await;
    let i = m.instance_by_ip(ip("10.0.0.9")).unwrap();
    assert_eq!(i.attachment.map(|x| (x.switch, x.port.0)), Some((1, 4)));
    let g = m.group(i.groups.iter().next().unwrap()).unwrap();
    assert_eq!(g.name, "default");
    assert_eq!(
        m.elastic_ip(ip("203.0.113.101")).unwrap().instance.as_ref(),
        Some(&i.id)
    );
    // The same instance registered again by RunInstance keeps its id.
    let id = i.id.clone();
    assert_eq!(
        call(
            "RunInstance",
            json!(["10.0.0.9", "02:00:0a:00:00:09", "1", 4, []])
        ),
        json!("SUCCESS")
    );
    assert!(model(&app).await.instance(&id).is_some());
    // An instance launched by EC2 belongs to the same account and shows in the read-outs.
    let r = app
        .service
        .execute(
            &owner(),
            req(&[
                ("Action", "RunInstances"),
                ("ImageId", "ami-00000001"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
            ]),
        )
        .await;
    assert!(r.is_ok(), "{r:?}");
    let dump = call("DumpGroupInstance", json!([g.id.as_str()]));
    assert_eq!(dump["instances"].as_array().unwrap().len(), 2, "{dump}");
    // The hook terminates the EC2-launched instance: EC2 sees it terminated (with its
    // groups), not vanished, exactly as after TerminateInstances.
    let launched = model(&app)
        .await
        .instances()
        .values()
        .find(|x| x.id != id)
        .cloned()
        .unwrap();
    assert_eq!(
        call("TerminateInstance", json!([launched.ip.to_string()])),
        json!("SUCCESS")
    );
    assert!(model(&app).await.instance(&launched.id).is_none());
    let metas = app.service.instance_meta().await;
    let t = metas[launched.id.as_str()].terminated.as_ref().unwrap();
    assert_eq!(
        t.groups,
        vec![(g.id.as_str().to_owned(), "default".to_owned())]
    );
    let r = app
        .service
        .execute(
            &owner(),
            req(&[
                ("Action", "DescribeInstances"),
                ("InstanceId.1", launched.id.as_str()),
            ]),
        )
        .await;
    let shown = format!("{r:?}");
    assert!(r.is_ok(), "{shown}");
    assert!(shown.contains("Terminated"), "{shown}");
    // The hook's own instance (no EC2 metadata) is unaffected by that bookkeeping.
    assert!(!metas.contains_key(id.as_str()));
    // Addresses outside the pool, or another account's, are refused.
    let r = call(
        "AssociateAddress",
        json!([
            "198.51.100.7",
            "10.0.0.9",
            "02:00:0a:00:00:09",
            "1",
            4,
            0,
            "10.0.0.1"
        ]),
    );
    assert!(
        r.as_str()
            .unwrap()
            .contains("not in the controller's public address pool"),
        "{r}"
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_calls_get_a_failure_string_and_change_nothing() {
    let app = start("bad").await;
    let rpc = Rpc::new(app.xmlrpc, "/RPC2");
    let call = |m: &str, a: Value| tokio::task::block_in_place(|| rpc.call(m, a));
    // Something to refer to.
    assert_eq!(
        call(
            "RunInstance",
            json!([
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "1",
                5,
                web_group(json!([["tcp", 22, 22, "0.0.0.0/0"]]))
            ])
        ),
        json!("SUCCESS")
    );
    let before = snapshot(&app).await;
    let mac = "02:00:0a:00:00:04";
    let bad: Vec<(&str, Value, &str)> = vec![
        // Wrong arity.
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7]),
            "takes 5 arguments",
        ),
        ("TerminateInstance", json!([]), "takes 1 argument"),
        (
            "DisassociateAddress",
            json!(["203.0.113.100", 1]),
            "takes 1 argument",
        ),
        ("GetElasticIpMap", json!([1]), "takes 0 arguments"),
        (
            "AuthorizeSecurityGroupIngress",
            json!([7, "tcp", 80, 80]),
            "takes 5 arguments",
        ),
        // Wrong types.
        (
            "RunInstance",
            json!([10, mac, "1", 7, []]),
            "expected a string, found int",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, 1, 7, []]),
            "expected a string, found int",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", "7", []]),
            "expected an int, found string",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7.5, []]),
            "found double",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, {"name": "x"}]),
            "array of group structs",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "x", "id": 9, "rules": [["tcp", "22", 22, "0.0.0.0/0"]]}]]),
            "from_port must be an int",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "x", "id": true}]]),
            "group id",
        ),
        (
            "AuthorizeSecurityGroupIngress",
            json!([7, "tcp", true, 80, "0.0.0.0/0"]),
            "found boolean",
        ),
        // Malformed addresses, MACs, dpids, ports, groups, rules.
        (
            "RunInstance",
            json!(["10.0.0.999", mac, "1", 7, []]),
            "expected an IPv4 address",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", "02:00:0a:00:00", "1", 7, []]),
            "expected a MAC address",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", "01:00:5e:00:00:01", "1", 7, []]),
            "unicast MAC",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "not-hex", 7, []]),
            "datapath id",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "12345678901234567", 7, []]),
            "datapath id",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 0, []]),
            "port number",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 65535, []]),
            "port number",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "x", "id": "web"}]]),
            "group id",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "x", "id": 9, "rules": [["tcp", 22, 22, "10.0.0.0/40"]]}]]),
            "CIDR",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "x", "id": 9, "rules": [["bogus", 22, 22, "0.0.0.0/0"]]}]]),
            "IpProtocol",
        ),
        (
            "AuthorizeSecurityGroupIngress",
            json!([7, "tcp", 80, 70000, "0.0.0.0/0"]),
            "ToPort",
        ),
        (
            "AssociateAddress",
            json!([
                "203.0.113.300",
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "1",
                5,
                -1,
                "10.0.0.1"
            ]),
            "expected an IPv4 address",
        ),
        (
            "AssociateAddress",
            json!([
                "203.0.113.100",
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "1",
                5,
                5000,
                "10.0.0.1"
            ]),
            "vlan_id",
        ),
        // Unknown ids and refusals of the model.
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "3", 7, []]),
            "no switch 0000000000000003",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 1, []]),
            "uplink",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 5, []]),
            "taken by instance",
        ),
        (
            "RunInstance",
            json!(["192.168.1.4", mac, "1", 7, []]),
            "registering the instance",
        ),
        (
            "RunInstance",
            json!(["10.0.0.2", mac, "1", 5, []]),
            "registered with the MAC",
        ),
        (
            "RunInstance",
            json!(["10.0.0.4", "02:00:0a:00:00:02", "1", 7, []]),
            "registering the instance",
        ),
        (
            "TerminateInstance",
            json!(["10.0.0.99"]),
            "no instance has the private address 10.0.0.99",
        ),
        (
            "DisassociateAddress",
            json!(["203.0.113.100"]),
            "not allocated",
        ),
        (
            "AuthorizeSecurityGroupIngress",
            json!([99, "tcp", 80, 80, "0.0.0.0/0"]),
            "no security group sg-00000063",
        ),
        (
            "RevokeSecurityGroupIngress",
            json!([7, "tcp", 80, 80, "0.0.0.0/0"]),
            "revoking",
        ),
        (
            "DumpGroupInstance",
            json!(["sg-ffff"]),
            "no security group sg-ffff",
        ),
        (
            "AssociateAddress",
            json!([
                "203.0.113.100",
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "1",
                5,
                -1,
                "10.0.0.254"
            ]),
            "gateway is 10.0.0.1",
        ),
        (
            "AssociateAddress",
            json!([
                "10.0.0.50",
                "10.0.0.2",
                "02:00:0a:00:00:02",
                "1",
                5,
                -1,
                "10.0.0.1"
            ]),
            "not in the controller's public address pool",
        ),
        // A failing group in a RunInstance leaves the other groups it named alone.
        (
            "RunInstance",
            json!(["10.0.0.4", mac, "1", 7, [{"name": "web", "id": 7, "rules": []}, {"name": "x", "id": 9, "rules": [["tcp", 1, 2, "0.0.0.0/0"]]}, {"name": "y", "id": 9}]]),
            "given twice",
        ),
    ];
    // More rules than a group may hold.
    let many: Vec<Value> = (1..=61)
        .map(|p| json!(["tcp", p, p, "0.0.0.0/0"]))
        .collect();
    let mut bad = bad;
    bad.push((
        "RunInstance",
        json!(["10.0.0.4", mac, "1", 7, [{"name": "big", "id": 12, "rules": many}]]),
        "at most 60",
    ));
    for (method, args, expected) in bad {
        let r = call(method, args.clone());
        let text = r
            .as_str()
            .unwrap_or_else(|| panic!("{method}{args}: not a string: {r}"));
        assert!(
            text.starts_with("ERROR: ") && text.contains(expected),
            "{method}{args}: {text:?} does not say {expected:?}"
        );
        assert_eq!(
            snapshot(&app).await,
            before,
            "{method}{args} changed the model"
        );
    }
    // An unknown method is an XML-RPC fault, which the client raises.
    let r = call("NoSuchMethod", json!([]));
    assert!(r["exception"].as_str().unwrap().contains("Fault"), "{r}");
    // And the endpoint still works.
    assert_eq!(
        call("TerminateInstance", json!(["10.0.0.2"])),
        json!("SUCCESS")
    );
    app.shutdown().await;
}

/// A simulated switch connected to the controller over TCP, until the task is aborted.
fn connect_switch(
    addr: SocketAddr,
    mut sw: examples::core::sim_switch::SimSwitch,
) -> tokio::task::JoinHandle<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_attachments_survive_a_restart_and_a_switch_whose_ports_are_named_otherwise() {
    let state = state_file("restart");
    let start_on = |state: PathBuf| async move {
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
        App::start(resolved, store).await.unwrap()
    };
    let app = start_on(state.clone()).await;
    let s = |v: &str| dxr::Value::String(v.to_owned());
    let r = app
        .xmlrpc_rpc
        .call(
            "RunInstance",
            &[
                s("10.0.0.2"),
                s("02:00:0a:00:00:02"),
                s("1"),
                dxr::Value::Integer(5),
                dxr::Value::Array(vec![]),
            ],
        )
        .await;
    assert_eq!(r, s("SUCCESS"));
    let id = model(&app)
        .await
        .instance_by_ip(ip("10.0.0.2"))
        .unwrap()
        .id
        .clone();
    app.shutdown().await;

    // Restarted from the state file alone: the instance is attached and pinned.
    let app = start_on(state).await;
    let m = model(&app).await;
    let at = m.instance(&id).unwrap().attachment;
    assert_eq!(at.map(|a| (a.switch, a.port.0)), Some((1, 5)));
    let pinned = app.handle.inspect(|c| c.pinned().clone()).await.unwrap();
    assert!(pinned.contains(&id), "{pinned:?}");
    // Switch 1 connects with port 5 named "vnet0": the instance stays attached there, and
    // the switch is reconciled with its flows.
    let sw = connect_switch(
        app.openflow[0],
        examples::core::sim_switch::SimSwitch::new(1, &[(1, "hv1-up"), (5, "vnet0")]),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !app.handle.inspect(|c| c.is_ready(1)).await.unwrap() {
        assert!(std::time::Instant::now() < deadline, "switch 1 never ready");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let m = model(&app).await;
    assert_eq!(m.instance(&id).unwrap().attachment, at);
    let d = described(&app).await;
    assert_eq!(d[0].3, "Running");
    sw.abort();
    app.shutdown().await;
}
