//! The flow table's lookup checked against Open vSwitch itself: random OpenFlow 1.0 tables are
//! installed both in a `FlowTable` and in a private `ovs-vswitchd` (dummy datapath, started
//! for this test in a temporary directory), and for random packets `ofproto/trace` must pick
//! the same flow (identified by its cookie) as the simulator, or no flow when it finds none,
//! and that flow's rewrites must leave the same headers and send the packet out of the same
//! ports. Where the specification leaves the
//! choice open (several flows of the winning priority match), Open vSwitch must pick one of
//! them.
//!
//! Needs `ovsdb-tool`, `ovsdb-server`, `ovs-vswitchd`, `ovs-vsctl`, `ovs-ofctl` and
//! `ovs-appctl` (Debian: openvswitch-switch); the test fails if they are missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use netrules::sim::matching::{matches, normalize};
use netrules::sim::{apply_actions, rewrite, FlowTable};
use netrules::strategies::{actions, exact_match, flow_match, packet, small_port};
use netrules::Packet;
use openflow_proto::display::{DisplayActions, DisplayFlow};
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::{Action, FlowMod, Ipv4Match, Match, PortNo, VlanMatch};
use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestRunner};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// A private Open vSwitch: its own database, daemons and sockets in a temporary directory.
/// Dropping it stops the two daemons it started.
struct Ovs {
    dir: PathBuf,
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(cmd)
        .args(args)
        .env("OVS_RUNDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_SYSCONFDIR", dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd} (install openvswitch-switch): {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Ovs {
    fn start() -> Ovs {
        assert!(
            Path::new(SCHEMA).exists(),
            "{SCHEMA} is missing: install openvswitch-switch"
        );
        let dir = std::env::temp_dir().join(format!("netrules-ovs-oracle-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let db = p("conf.db");
        run("ovsdb-tool", &["create", &db, SCHEMA], &dir);
        run(
            "ovsdb-server",
            &[
                &db,
                &format!("--remote=punix:{}", p("db.sock")),
                &format!("--unixctl={}", p("ovsdb-server.ctl")),
                &format!("--pidfile={}", p("ovsdb-server.pid")),
                &format!("--log-file={}", p("ovsdb-server.log")),
                "--detach",
                "--no-chdir",
            ],
            &dir,
        );
        let ovs = Ovs { dir: dir.clone() };
        let dbs = format!("--db=unix:{}", p("db.sock"));
        run("ovs-vsctl", &[&dbs, "--no-wait", "init"], &dir);
        run(
            "ovs-vswitchd",
            &[
                &format!("unix:{}", p("db.sock")),
                "--enable-dummy=override",
                "--disable-system",
                &format!("--unixctl={}", p("ovs-vswitchd.ctl")),
                &format!("--pidfile={}", p("ovs-vswitchd.pid")),
                &format!("--log-file={}", p("ovs-vswitchd.log")),
                "--detach",
                "--no-chdir",
            ],
            &dir,
        );
        let mut args: Vec<String> = vec![
            dbs,
            "--timeout=30".into(),
            "add-br".into(),
            "br0".into(),
            "--".into(),
            "set".into(),
            "bridge".into(),
            "br0".into(),
            "datapath_type=dummy".into(),
            "fail-mode=secure".into(),
            "protocols=OpenFlow10".into(),
        ];
        for n in 1..=4 {
            args.extend([
                "--".to_owned(),
                "add-port".into(),
                "br0".into(),
                format!("p{n}"),
                "--".into(),
                "set".into(),
                "interface".into(),
                format!("p{n}"),
                "type=dummy".into(),
                format!("ofport_request={n}"),
            ]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        run("ovs-vsctl", &refs, &dir);
        ovs
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    fn replace_flows(&self, text: &str) {
        let file = self.path("flows.txt");
        std::fs::write(&file, text).unwrap();
        let mgmt = format!("unix:{}", self.path("br0.mgmt"));
        run(
            "ovs-ofctl",
            &["-O", "OpenFlow10", "del-flows", &mgmt],
            &self.dir,
        );
        run(
            "ovs-ofctl",
            &["-O", "OpenFlow10", "add-flows", &mgmt, &file],
            &self.dir,
        );
    }

    /// The cookie of the flow `ofproto/trace` matches for this packet, or `None` for no match.
    fn trace(&self, in_port: PortNo, p: &Packet) -> (Option<u64>, String) {
        let out = run(
            "ovs-appctl",
            &[
                "-t",
                &self.path("ovs-vswitchd.ctl"),
                "ofproto/trace",
                "br0",
                &flow_text(in_port, p),
            ],
            &self.dir,
        );
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("0. "))
            .unwrap_or_else(|| panic!("no table 0 line in trace:\n{out}"));
        if line.contains("No match") {
            return (None, out);
        }
        let cookie = line
            .split("cookie 0x")
            .nth(1)
            .and_then(|s| u64::from_str_radix(s.trim(), 16).ok())
            .unwrap_or_else(|| panic!("no cookie in {line:?}:\n{out}"));
        (Some(cookie), out)
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for d in ["ovs-vswitchd", "ovsdb-server"] {
            let _ = Command::new("ovs-appctl")
                .args(["-t", &self.path(&format!("{d}.ctl")), "exit"])
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The packet as `ofproto/trace` takes it (protocol shorthand first: the parser checks
/// prerequisites field by field).
fn flow_text(in_port: PortNo, p: &Packet) -> String {
    let mut s = match (p.dl_type, p.nw_proto) {
        (ETH_TYPE_IPV4, IP_PROTO_TCP) => "tcp".to_owned(),
        (ETH_TYPE_IPV4, IP_PROTO_UDP) => "udp".to_owned(),
        (ETH_TYPE_IPV4, IP_PROTO_ICMP) => "icmp".to_owned(),
        (ETH_TYPE_IPV4, proto) => format!("ip,nw_proto={proto}"),
        (ETH_TYPE_ARP, _) => "arp".to_owned(),
        (t, _) => format!("dl_type={t:#06x}"),
    };
    s += &format!(
        ",in_port={},dl_src={},dl_dst={}",
        in_port.0, p.dl_src, p.dl_dst
    );
    if let Some(v) = p.dl_vlan {
        s += &format!(",dl_vlan={v},dl_vlan_pcp={}", p.dl_vlan_pcp);
    }
    match p.dl_type {
        ETH_TYPE_IPV4 => {
            s += &format!(
                ",nw_src={},nw_dst={},nw_tos={},nw_ecn={}",
                p.nw_src,
                p.nw_dst,
                p.nw_tos & 0xfc,
                p.nw_tos & 0x03
            );
            match p.nw_proto {
                IP_PROTO_TCP => s += &format!(",tcp_src={},tcp_dst={}", p.tp_src, p.tp_dst),
                IP_PROTO_UDP => s += &format!(",udp_src={},udp_dst={}", p.tp_src, p.tp_dst),
                IP_PROTO_ICMP => s += &format!(",icmp_type={},icmp_code={}", p.tp_src, p.tp_dst),
                _ => {}
            }
        }
        ETH_TYPE_ARP => {
            s += &format!(
                ",arp_spa={},arp_tpa={},arp_op={},arp_sha={}",
                p.nw_src, p.nw_dst, p.nw_proto, p.arp_sha
            )
        }
        _ => {}
    }
    s
}

/// The packet's headers after the actions, from the trace's `Final flow:` line.
fn final_packet(trace: &str, input: &Packet) -> Packet {
    let line = trace
        .lines()
        .find_map(|l| l.strip_prefix("Final flow: "))
        .unwrap_or_else(|| panic!("no final flow in trace:\n{trace}"));
    let mut p = *input;
    if line.trim() == "unchanged" {
        return p;
    }
    let transport =
        p.is_ipv4() && matches!(p.nw_proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP);
    let mut vlan = None;
    let mut pcp = 0;
    let mut ecn = p.nw_tos & 0x03;
    let mut dscp = p.nw_tos & 0xfc;
    for kv in line.split(',') {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        let num = || -> u16 { v.parse().unwrap_or_else(|_| panic!("{k}={v} in {line}")) };
        match k {
            "dl_src" => p.dl_src = v.parse().unwrap(),
            "dl_dst" => p.dl_dst = v.parse().unwrap(),
            "dl_vlan" => vlan = Some(num()),
            "dl_vlan_pcp" => pcp = num() as u8,
            "nw_src" | "arp_spa" => p.nw_src = v.parse().unwrap(),
            "nw_dst" | "arp_tpa" => p.nw_dst = v.parse().unwrap(),
            // Not an OpenFlow 1.0 field: no action may change it.
            "arp_sha" => p.arp_sha = v.parse().unwrap(),
            "nw_tos" => dscp = num() as u8,
            "nw_ecn" => ecn = num() as u8,
            // Open vSwitch's flow has transport fields for every IP protocol, and set_tp_*
            // writes them, but only TCP, UDP and ICMP have them on the wire.
            "tp_src" | "icmp_type" if transport => p.tp_src = num(),
            "tp_dst" | "icmp_code" if transport => p.tp_dst = num(),
            _ => {}
        }
    }
    p.dl_vlan = vlan;
    p.dl_vlan_pcp = if vlan.is_some() { pcp } else { 0 };
    if p.is_ipv4() {
        p.nw_tos = dscp | ecn;
    }
    p
}

/// ICMP fields hold 8-bit values.
fn icmp_fit(m: &Match) -> bool {
    !m.is_icmp() || (m.tp_src.is_none_or(|v| v < 256) && m.tp_dst.is_none_or(|v| v < 256))
}

fn fit_packet(mut p: Packet) -> Packet {
    if p.is_icmp() {
        p.tp_src &= 0xff;
        p.tp_dst &= 0xff;
    }
    p
}

/// No output to the controller: Open vSwitch would need one to say what it does.
fn plain(actions: Vec<Action>) -> Vec<Action> {
    actions
        .into_iter()
        .filter(|a| !matches!(a, Action::Output { port, .. } if *port == PortNo::CONTROLLER))
        .collect()
}

/// The datapath port numbers of the dummy bridge: ofport n is datapath port n, the local
/// port is 100 (as `dpif/show` says).
const LOCAL_ODP: u32 = 100;

/// The ports a packet leaves by, from the trace's `Datapath actions:` line, sorted.
fn datapath_outputs(trace: &str) -> Vec<PortNo> {
    let line = trace
        .lines()
        .find_map(|l| l.strip_prefix("Datapath actions: "))
        .unwrap_or_else(|| panic!("no datapath actions in trace:\n{trace}"));
    let mut out = Vec::new();
    let (mut depth, mut item) = (0i32, String::new());
    for c in line.chars().chain(core::iter::once(',')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if let Ok(n) = item.trim().parse::<u32>() {
                    out.push(if n == LOCAL_ODP {
                        PortNo::LOCAL
                    } else {
                        PortNo(n as u16)
                    });
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    out.sort();
    out
}

/// The ports the simulator's actions send the packet out of, sorted: an output to the input
/// port sends nothing, `IN_PORT` sends to it, `FLOOD` and `ALL` to every other port of the
/// bridge (1 to 4 and the local port).
fn sim_outputs(actions: &[Action], in_port: PortNo, p: &Packet) -> Vec<PortNo> {
    let mut out = Vec::new();
    for e in apply_actions(actions, p) {
        match e.port {
            PortNo::IN_PORT => out.push(in_port),
            PortNo::FLOOD | PortNo::ALL => {
                out.push(PortNo::LOCAL);
                out.extend((1..=4).map(PortNo).filter(|q| *q != in_port));
            }
            q if q == in_port => {}
            q => out.push(q),
        }
    }
    out.sort();
    out
}

/// A match made from a probe: each field kept or wildcarded, addresses cut to a prefix, so
/// that the flows of a case hit its probes and overlap one another.
fn derived(probe: &(PortNo, Packet), keep: u16, src_len: u8, dst_len: u8) -> Match {
    let (port, p) = probe;
    let e = exact_match(p, *port);
    let k = |bit: u16| keep & (1 << bit) != 0;
    let m = Match {
        in_port: e.in_port.filter(|_| k(0)),
        dl_src: e.dl_src.filter(|_| k(1)),
        dl_dst: e.dl_dst.filter(|_| k(2)),
        dl_vlan: if k(3) { e.dl_vlan } else { VlanMatch::Any },
        dl_vlan_pcp: e.dl_vlan_pcp.filter(|_| k(4)),
        dl_type: e.dl_type.filter(|_| k(5) || k(7)),
        nw_tos: e.nw_tos.filter(|_| k(6)),
        nw_proto: e.nw_proto.filter(|_| k(7)),
        nw_src: Ipv4Match::prefix(p.nw_src, src_len),
        nw_dst: Ipv4Match::prefix(p.nw_dst, dst_len),
        tp_src: e.tp_src.filter(|_| k(8)),
        tp_dst: e.tp_dst.filter(|_| k(9)),
    };
    normalize(&m).0
}

fn table_case() -> impl Strategy<Value = Case> {
    let probes = prop::collection::vec((small_port(), packet().prop_map(fit_packet)), 8);
    probes.prop_flat_map(|probes| {
        let exacts: Vec<Match> = probes
            .iter()
            .filter(|(_, p)| {
                p.is_ipv4() && matches!(p.nw_proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP)
            })
            .map(|(port, p)| exact_match(p, *port))
            .collect();
        let len = prop::sample::select(vec![0u8, 0, 8, 16, 24, 32, 32]);
        let pr = probes.clone();
        let from_probe = (any::<prop::sample::Index>(), any::<u16>(), len.clone(), len)
            .prop_map(move |(i, keep, a, b)| derived(&pr[i.index(pr.len())], keep, a, b));
        let m = if exacts.is_empty() {
            prop_oneof![1 => flow_match().prop_map(|m| normalize(&m).0), 3 => from_probe].boxed()
        } else {
            prop_oneof![
                1 => flow_match().prop_map(|m| normalize(&m).0),
                3 => from_probe,
                1 => prop::sample::select(exacts),
            ]
            .boxed()
        };
        let flow = (
            m.prop_filter("icmp values fit", icmp_fit),
            prop::sample::select(vec![0u16, 1, 10, 100, 0xffff]),
            actions().prop_map(plain),
        );
        (prop::collection::vec(flow, 1..12), Just(probes))
    })
}

type Case = (Vec<(Match, u16, Vec<Action>)>, Vec<(PortNo, Packet)>);

fn check(ovs: &Ovs, (flows, probes): Case) -> Result<(), TestCaseError> {
    let mut table = FlowTable::new();
    let mut text = String::new();
    for (i, (m, prio, acts)) in flows.iter().enumerate() {
        let cookie = i as u64 + 1;
        let mut fm = FlowMod::add(*m, *prio, acts.clone());
        fm.cookie = cookie;
        table.apply(&fm, Duration::ZERO).unwrap();
        // Open vSwitch gets the normalised match: its text parser reads an untagged match
        // with a VLAN priority differently from the wire format.
        let shown = normalize(m).0;
        text += &format!(
            "cookie={cookie:#x},{} actions={}\n",
            DisplayFlow::new(&shown, *prio),
            DisplayActions(acts)
        );
    }
    ovs.replace_flows(&text);
    for (port, p) in &probes {
        let (theirs, out) = ovs.trace(*port, p);
        let mine = table.lookup(*port, p).map(|l| l.entry.clone());
        // Where several flows of the winning priority match, the specification leaves the
        // choice open (Open vSwitch gives exact-match flows priority 65535 and ranks them
        // with the wildcarded flows of that priority): Open vSwitch must pick one of them.
        let allowed: Vec<u64> = match &mine {
            None => Vec::new(),
            Some(w) => table
                .entries()
                .iter()
                .filter(|e| e.priority == w.priority && matches(&e.r#match, *port, p))
                .map(|e| e.cookie)
                .collect(),
        };
        let ok = match (mine.as_ref().map(|w| w.cookie), theirs) {
            (None, None) => true,
            (Some(m), Some(t)) => m == t || (allowed.len() > 1 && allowed.contains(&t)),
            _ => false,
        };
        // The rewrites of the flow Open vSwitch picked give the same headers.
        if let (true, Some(t)) = (ok, theirs) {
            let flow = table.entries().iter().find(|e| e.cookie == t).unwrap();
            let mut mine_after = *p;
            for a in &flow.actions {
                rewrite(&mut mine_after, a);
            }
            prop_assert_eq!(
                sim_outputs(&flow.actions, *port, p),
                datapath_outputs(&out),
                "outputs of {:?} differ for {:?} on {}\ntrace:\n{}",
                flow.actions,
                p,
                port.0,
                out
            );
            let mut theirs_after = final_packet(&out, p);
            if theirs_after.is_icmp() {
                // Open vSwitch's flow keeps 16 bits; the packet's type and code are 8.
                theirs_after.tp_src &= 0xff;
                theirs_after.tp_dst &= 0xff;
            }
            prop_assert_eq!(
                mine_after,
                theirs_after,
                "headers after {:?} differ for {:?}\ntrace:\n{}",
                flow.actions,
                p,
                out
            );
        }
        prop_assert!(
            ok,
            "packet {:?} on port {}: simulator picks {:?} (ties: {:?}), Open vSwitch {:?}\nflows:\n{}\ntrace:\n{}",
            p,
            port.0,
            mine.map(|w| w.cookie),
            allowed,
            theirs,
            text,
            out
        );
    }
    Ok(())
}

#[test]
fn lookup_agrees_with_open_vswitch() {
    // The daemons live as long as this function: dropping `ovs` stops them, also on failure.
    let ovs = Ovs::start();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        ..ProptestConfig::default()
    });
    let result = runner.run(&table_case(), |case| check(&ovs, case));
    if let Err(e) = result {
        panic!("{e}");
    }
}
