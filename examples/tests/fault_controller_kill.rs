//! The `controller` binary killed with SIGKILL, twice, against real Open vSwitch (fail_mode
//! secure): first while a TCP stream and a UDP stream run between two instances on different
//! hypervisors, then in the middle of a burst of API calls from four clients.
//!
//! - While it is dead, the established streams keep flowing (the switches keep their flows).
//! - Restarted from its state file on the same ports, the switches reconnect and are
//!   reconciled: every bridge has exactly the flows the stored model compiles to (nothing
//!   missing, nothing stale, no duplicate, pinholes at most one flow per direction), and the
//!   TCP stream is still the same connection, its records consecutive.
//! - Every API call that was answered with success is in the restored state and visible
//!   through the API; the calls cut by the kill are all or nothing (a two-rule authorize has
//!   both rules or neither, a two-instance launch both instances with their records or none);
//!   an authorized port is open through the real switches afterwards.
//!
//! Needs root and Open vSwitch (fails naming what is missing).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use examples::testbed::{Cloud, InstanceSpec, MacAddr, Protocol};
use fault_common::*;
use netrules::model::{GroupId, InstanceId, Peer, PortRange, Protocol as Proto};

const A: &str = "i-0a1b2c3d";
const B: &str = "i-0b1c2d3e";
const INTERVAL: Duration = Duration::from_millis(20);

fn config() -> String {
    format!(
        r#"
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

[[model.groups]]
id = "sg-0000aaaa"
name = "app"
owner = "{OWNER}"
description = "ssh and udp 7000"
ingress = [
  {{ protocol = {{ tcp = {{ from = 22, to = 22 }} }}, peer = {{ cidr = "0.0.0.0/0" }} }},
  {{ protocol = {{ udp = {{ from = 7000, to = 7000 }} }}, peer = {{ cidr = "0.0.0.0/0" }} }},
]
egress = [{{ protocol = "any", peer = {{ cidr = "0.0.0.0/0" }} }}]

[[model.instances]]
id = "{A}"
owner = "{OWNER}"
mac = "02:00:0a:00:00:02"
ip = "10.0.0.2"
groups = ["sg-0000aaaa"]

[[model.instances]]
id = "{B}"
owner = "{OWNER}"
mac = "02:00:0a:00:00:03"
ip = "10.0.0.3"
groups = ["sg-0000aaaa"]

[api]
pool = ["203.0.113.100-203.0.113.119"]

[[accounts]]
access_key = "{ACCESS}"
secret_key = "{SECRET}"
owner = "{OWNER}"
"#
    )
}

/// Waits for a "flows reconciled" log line of each of the two switches.
fn wait_reconciled(ctl: &mut ControllerProcess) {
    let mut seen = BTreeSet::new();
    while seen.len() < 2 {
        let line = ctl.wait_line("flows reconciled", Duration::from_secs(30));
        for dpid in ["0000000000000001", "0000000000000002"] {
            if line.contains(&format!("dpid={dpid}")) {
                seen.insert(dpid);
            }
        }
    }
}

fn times(l: &examples::testbed::Listener) -> Vec<Instant> {
    l.arrivals().iter().map(|a| a.at).collect()
}

/// The records of the TCP stream arrived in order, from 0, without a hole: one connection
/// throughout.
fn assert_one_unbroken_stream(records: &examples::testbed::Listener) -> usize {
    let arrivals = records.arrivals();
    let peers: BTreeSet<SocketAddr> = arrivals.iter().map(|a| a.peer).collect();
    assert_eq!(peers.len(), 1, "one connection: {peers:?}");
    for (i, a) in arrivals.iter().enumerate() {
        assert_eq!(a.sequence(), Some(i as u64), "record {i} of the stream");
    }
    arrivals.len()
}

/// What a worker saw: the values of the calls answered with success, and whether its last
/// call was cut by the kill (sent, no answer).
#[derive(Debug, Default)]
struct Outcome {
    ok: Vec<String>,
    cut: bool,
}

/// Calls `call(i)` for i = 0, 1, ... until the transport fails (the controller died); each
/// success adds `call`'s value.
fn worker(
    client: Client,
    done: Arc<AtomicUsize>,
    max: usize,
    call: impl Fn(&Client, usize) -> Result<Option<String>, Transport> + Send + 'static,
) -> std::thread::JoinHandle<Outcome> {
    std::thread::spawn(move || {
        let mut out = Outcome::default();
        for i in 0..max {
            match call(&client, i) {
                Ok(Some(v)) => {
                    out.ok.push(v);
                    done.fetch_add(1, Ordering::SeqCst);
                }
                Ok(None) => {}
                Err(_) => {
                    out.cut = true;
                    break;
                }
            }
        }
        out
    })
}

fn expect_ok(r: Reply) -> Reply {
    assert!(r.ok(), "an API call failed while the controller ran: {r:?}");
    r
}

#[test]
fn sigkill_during_traffic_and_api_calls_loses_nothing_and_reconciles_exactly() {
    let started = Instant::now();
    let scratch = Scratch::new("fault-kill");
    let config_path = scratch.path("controller.toml");
    std::fs::write(&config_path, config()).unwrap();
    let state = scratch.path("state.sqlite3");
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut ctl = ControllerProcess::start(any, any, &state, Some(&config_path));
    let (of_addr, api_addr) = (ctl.openflow, ctl.api);

    let mut cloud = Cloud::seed().start().unwrap();
    for (bridge, id, last) in [("hv1", A, 2u8), ("hv2", B, 3)] {
        let mac: MacAddr = format!("02:00:0a:00:00:{last:02x}").parse().unwrap();
        cloud
            .add_instance(
                bridge,
                InstanceSpec::new(id, format!("10.0.0.{last}/24").parse().unwrap())
                    .mac(mac)
                    .gateway(Ipv4Addr::new(10, 0, 0, 1))
                    .ofport(10),
            )
            .unwrap();
    }
    cloud.set_controller(of_addr).unwrap();
    fast_reconnect(&cloud);
    wait_reconciled(&mut ctl);
    let (model, _) = stored_model(&state);
    wait_tables_match(&cloud, &attached(&model, &cloud), Duration::from_secs(30));

    // Two streams from A (hv1) to B (hv2): one TCP connection and UDP datagrams.
    let b_ip = Ipv4Addr::new(10, 0, 0, 3);
    let b_ns = cloud.instance(B).unwrap().netns();
    let a_ns = cloud.instance(A).unwrap().netns();
    let records = b_ns.listen(Protocol::TcpRecords, 22).unwrap();
    let datagrams = b_ns.listen(Protocol::Udp, 7000).unwrap();
    let _tcp = a_ns
        .tcp_stream(SocketAddr::from((b_ip, 22)), INTERVAL, 1_000_000)
        .unwrap();
    let _udp = a_ns
        .udp_stream(SocketAddr::from((b_ip, 7000)), INTERVAL, 1_000_000)
        .unwrap();
    let flowing = records.wait_for_count(20, Duration::from_secs(20));
    assert!(flowing.len() >= 20, "the TCP stream flows: {flowing:?}");
    let flowing = datagrams.wait_for_count(20, Duration::from_secs(20));
    assert!(flowing.len() >= 20, "the UDP stream flows");

    // 1. SIGKILL during traffic; dead for 3 s.
    let before = *sequences(&datagrams).last().unwrap();
    let killed = Instant::now();
    ctl.kill9();
    std::thread::sleep(Duration::from_secs(3));
    let dead = (killed, Instant::now());
    let window = dead.1 - dead.0;
    let expected = (window.as_millis() / INTERVAL.as_millis()) as u64;
    // UDP, counted in the stream's own numbers: it advanced, without a long hole.
    let seqs = sequences(&datagrams);
    let upto = *seqs.last().unwrap();
    let (run, lost) = missing(&seqs, before, upto);
    assert!(
        upto - before >= expected / 2 && run * 2 < expected && lost * 4 < upto - before,
        "the UDP stream kept flowing while the controller was dead for {window:?}: datagrams \
         {before}..{upto} arrived ({lost} missing, at most {run} in a row; about {expected} sent)"
    );
    // TCP: records went on arriving on the same connection.
    let t = times(&records);
    let inside = t.iter().filter(|x| **x >= dead.0 && **x <= dead.1).count() as u64;
    let gap = largest_gap(&t, dead.0, dead.1);
    assert!(
        inside * 4 >= expected && gap < window * 3 / 4,
        "the TCP stream kept flowing while the controller was dead for {window:?}: {inside} \
         records (about {expected} sent), largest gap {gap:?}"
    );
    let mut ctl = ControllerProcess::start(of_addr, api_addr, &state, Some(&config_path));
    wait_reconciled(&mut ctl);
    wait_tables_match(&cloud, &attached(&model, &cloud), Duration::from_secs(30));
    let before = records.arrivals().len();
    let after = records.wait_for_count(before + 25, Duration::from_secs(20));
    assert!(
        after.len() >= before + 25,
        "the TCP stream flows after the restart"
    );
    assert_one_unbroken_stream(&records);

    // 2. SIGKILL in the middle of API calls from four clients.
    let client = Client::new(api_addr, ACCESS, SECRET);
    let done = Arc::new(AtomicUsize::new(0));
    // Each call authorizes two rules at once (TCP and UDP, port 10000 + i): all or nothing.
    let rules = worker(client.clone(), done.clone(), 1000, |c, i| {
        let port = (10_000 + i).to_string();
        let r = c.try_call(&[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupId", "sg-0000aaaa"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", &port),
            ("IpPermissions.1.ToPort", &port),
            ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
            ("IpPermissions.2.IpProtocol", "udp"),
            ("IpPermissions.2.FromPort", &port),
            ("IpPermissions.2.ToPort", &port),
            ("IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0"),
        ])?;
        expect_ok(r);
        Ok(Some(port))
    });
    // Each call launches two instances (with their metadata records): all or nothing.
    let launches = worker(client.clone(), done.clone(), 40, |c, _| {
        let r = c.try_call(&[
            ("Action", "RunInstances"),
            ("ImageId", "ami-00000001"),
            ("MinCount", "2"),
            ("MaxCount", "2"),
        ])?;
        let r = expect_ok(r);
        let ids = r.tags("instanceId");
        assert_eq!(ids.len(), 2, "{r:?}");
        Ok(Some(ids.join(",")))
    });
    let groups = worker(client.clone(), done.clone(), 1000, |c, i| {
        let name = format!("g{i}");
        let r = c.try_call(&[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", &name),
            ("GroupDescription", "made before the kill"),
        ])?;
        Ok(Some(expect_ok(r).tag("groupId").unwrap()))
    });
    // Addresses (the account may hold 5): allocate, then associate alternately with A and B (values "ip" then
    // "ip>instance").
    let addresses = worker(client.clone(), done.clone(), 5, |c, i| {
        let r = c.try_call(&[("Action", "AllocateAddress"), ("Domain", "vpc")])?;
        let r = expect_ok(r);
        let ip = r.tag("publicIp").unwrap();
        let alloc = r.tag("allocationId").unwrap();
        let to = if i % 2 == 0 { A } else { B };
        let r = c.try_call(&[
            ("Action", "AssociateAddress"),
            ("AllocationId", &alloc),
            ("InstanceId", to),
        ])?;
        expect_ok(r);
        Ok(Some(format!("{ip}>{to}")))
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(Ordering::SeqCst) < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    ctl.kill9();
    let rules = rules.join().unwrap();
    let launches = launches.join().unwrap();
    let groups = groups.join().unwrap();
    let addresses = addresses.join().unwrap();
    assert!(
        rules.cut && groups.cut,
        "the kill cut the busy clients' calls"
    );
    assert!(!rules.ok.is_empty() && !launches.ok.is_empty() && !groups.ok.is_empty());

    let mut ctl = ControllerProcess::start(of_addr, api_addr, &state, Some(&config_path));
    wait_reconciled(&mut ctl);
    let (stored, records_of) = stored_model(&state);

    // Nothing acknowledged is lost; the cut calls are all or nothing.
    let app = GroupId::new("sg-0000aaaa").unwrap();
    let ingress = &stored.group(&app).unwrap().ingress;
    let mut tcp_ports = BTreeSet::new();
    let mut udp_ports = BTreeSet::new();
    for p in ingress {
        assert_eq!(p.peer(), &Peer::Cidr("0.0.0.0/0".parse().unwrap()));
        match p.protocol() {
            Proto::Tcp(r) if r.from() >= 10_000 => tcp_ports.insert(r.from()),
            Proto::Udp(r) if r.from() >= 10_000 => udp_ports.insert(r.from()),
            _ => true,
        };
    }
    assert_eq!(
        tcp_ports, udp_ports,
        "a two-rule authorize is all or nothing"
    );
    for port in &rules.ok {
        let port: u16 = port.parse().unwrap();
        assert!(tcp_ports.contains(&port), "acknowledged rule {port} lost");
    }
    assert!(
        tcp_ports.len() <= rules.ok.len() + 1,
        "at most the one cut call beyond the acknowledged: {tcp_ports:?}"
    );
    let launched: BTreeSet<String> = launches
        .ok
        .iter()
        .flat_map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let model_ids: BTreeSet<String> = stored
        .instances()
        .keys()
        .map(|i| i.as_str().to_owned())
        .filter(|i| i != A && i != B)
        .collect();
    assert!(
        launched.is_subset(&model_ids),
        "acknowledged launches lost: {:?}",
        launched.difference(&model_ids).collect::<Vec<_>>()
    );
    let mut reservations: BTreeMap<String, usize> = BTreeMap::new();
    let recorded: BTreeSet<String> = records_of
        .records
        .iter()
        .filter(|((kind, _), _)| kind == "instance")
        .map(|((_, key), value)| {
            let meta: serde_json::Value = serde_json::from_str(value).unwrap();
            *reservations
                .entry(meta["reservation_id"].as_str().unwrap().to_owned())
                .or_insert(0) += 1;
            key.clone()
        })
        .collect();
    assert_eq!(
        recorded, model_ids,
        "every instance has its metadata record and every record its instance"
    );
    assert!(
        reservations.values().all(|n| *n == 2),
        "each two-instance launch is whole: {reservations:?}"
    );
    for g in &groups.ok {
        let id = GroupId::new(g.as_str()).unwrap();
        assert!(stored.group(&id).is_some(), "acknowledged group {g} lost");
    }
    let made: usize = stored
        .groups()
        .values()
        .filter(|g| g.name.starts_with('g'))
        .count();
    assert!(made <= groups.ok.len() + 1, "no phantom group");
    // An instance holds one elastic IP (associating another moves it, as in EC2): the last
    // acknowledged one, or one whose association the kill cut.
    let acked: BTreeSet<Ipv4Addr> = addresses
        .ok
        .iter()
        .map(|v| v.split_once('>').unwrap().0.parse().unwrap())
        .collect();
    for ip in &acked {
        assert!(
            stored.elastic_ip(*ip).is_some(),
            "acknowledged address {ip} lost"
        );
    }
    for to in [A, B] {
        let Some(last) = addresses.ok.iter().rev().find(|v| v.ends_with(to)) else {
            continue;
        };
        let last: Ipv4Addr = last.split_once('>').unwrap().0.parse().unwrap();
        let holds = stored.elastic_ip_of(&InstanceId::new(to).unwrap());
        assert!(
            holds == Some(last) || (addresses.cut && holds.is_some_and(|h| !acked.contains(&h))),
            "{to} holds {holds:?}; last acknowledged {last}"
        );
    }

    // The API sees the same after the restart.
    let client = Client::new(ctl.api, ACCESS, SECRET);
    let described = client.call(&[("Action", "DescribeInstances")]);
    let described: BTreeSet<String> = described
        .expect_ok()
        .tags("instanceId")
        .into_iter()
        .collect();
    assert!(launched.is_subset(&described), "{described:?}");
    let described = client.call(&[("Action", "DescribeSecurityGroups")]);
    let described: BTreeSet<String> = described.expect_ok().tags("groupId").into_iter().collect();
    for g in &groups.ok {
        assert!(described.contains(g), "{g} described after the restart");
    }

    // The data plane is exactly the stored model, and an acknowledged port is open.
    let desired = attached(&stored, &cloud);
    wait_tables_match(&cloud, &desired, Duration::from_secs(30));
    let port: u16 = rules.ok.last().unwrap().parse().unwrap();
    let _open = b_ns.listen(Protocol::Tcp, port).unwrap();
    let ex = a_ns
        .tcp_exchange(
            SocketAddr::from((b_ip, port)),
            b"after",
            Duration::from_secs(3),
        )
        .unwrap();
    assert!(ex.is_answered(), "A -> B:{port} after the restart: {ex:?}");
    let closed = 9_999;
    let _closed = b_ns.listen(Protocol::Tcp, closed).unwrap();
    let ex = a_ns
        .tcp_exchange(
            SocketAddr::from((b_ip, closed)),
            b"no",
            Duration::from_millis(1500),
        )
        .unwrap();
    assert!(!ex.is_answered(), "A -> B:{closed} stays closed: {ex:?}");
    assert!(stored
        .group(&app)
        .unwrap()
        .ingress
        .iter()
        .all(|p| p.protocol() != &Proto::Tcp(PortRange::single(closed))));

    // The TCP stream survived both kills as one connection.
    let before = records.arrivals().len();
    let after = records.wait_for_count(before + 10, Duration::from_secs(20));
    assert!(after.len() >= before + 10);
    let n = assert_one_unbroken_stream(&records);
    eprintln!(
        "{n} records over one TCP connection; test took {:?}",
        started.elapsed()
    );
}
