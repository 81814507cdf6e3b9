//! Named scenarios at the edges of the semantics. Every packet goes through both the
//! simulated network (compiled flows, controller pinholes) and the reference model, which
//! must agree (see `common::Lockstep`); each test also states what the outcome must be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Lockstep;
use core::net::Ipv4Addr;
use netrules::compile::{cookie, CompileOptions};
use netrules::model::*;
use netrules::reference::{DropReason, Endpoint, Entry, Verdict};
use netrules::sim::{Destination, Point, TraceEvent};
use netrules::strategies::{settings, Change, UPLINK};
use netrules::Packet;
use openflow_proto::{MacAddr, PortNo};
use std::collections::BTreeSet;

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const EIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);
const FAR: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

fn owner() -> OwnerId {
    OwnerId::new("111122223333").unwrap()
}

fn gid(s: &str) -> GroupId {
    GroupId::new(s).unwrap()
}

fn iid(s: &str) -> InstanceId {
    InstanceId::new(s).unwrap()
}

fn perm(p: Protocol, peer: Peer) -> Permission {
    Permission::new(p, peer).unwrap()
}

fn cidr(a: [u8; 4], len: u8) -> Peer {
    Peer::cidr(Ipv4Addr::from(a), len).unwrap()
}

fn tcp_range(a: u16, b: u16) -> Protocol {
    Protocol::Tcp(PortRange::new(a, b).unwrap())
}

fn icmp(t: Option<u8>, c: Option<u8>) -> Protocol {
    Protocol::Icmp(IcmpSpec::new(t, c).unwrap())
}

/// Two switches; `web` (i-web, 10.0.1.2, switch 1 port 1, elastic IP 203.0.113.10) and
/// `db` (i-db, 10.0.1.3, switch 2 port 1), `app` (i-app, 10.0.1.4, switch 1 port 2); groups
/// as given (each created empty-ingress, allow-all egress) with the instances' membership.
struct World {
    groups: Vec<(GroupId, Vec<Permission>)>,
    membership: Vec<(&'static str, Vec<&'static str>)>,
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, n)
}

const PLACES: [(&str, u8, u64, u16); 3] =
    [("i-web", 2, 1, 1), ("i-db", 3, 2, 1), ("i-app", 4, 1, 2)];

fn build(w: World) -> Model {
    let mut m = Model::new(settings()).unwrap();
    for d in [1, 2] {
        m.add_switch(Switch {
            dpid: d,
            uplink: UPLINK,
        })
        .unwrap();
    }
    for (g, _) in &w.groups {
        m.add_group(SecurityGroup::new(
            g.clone(),
            g.as_str(),
            owner(),
            "scenario",
        ))
        .unwrap();
    }
    for (g, perms) in &w.groups {
        for p in perms {
            m.authorize(g, Direction::Ingress, p.clone()).unwrap();
        }
    }
    for (name, groups) in &w.membership {
        let (_, host, sw, port) = *PLACES.iter().find(|p| p.0 == *name).unwrap();
        m.add_instance(Instance {
            id: iid(name),
            owner: owner(),
            mac: mac(host),
            ip: ip(host),
            groups: groups.iter().map(|g| gid(g)).collect(),
            attachment: Some(Attachment {
                switch: sw,
                port: PortNo(port),
            }),
        })
        .unwrap();
    }
    m.allocate(ElasticIp {
        public_ip: EIP,
        allocation_id: AllocationId::new("eipalloc-1").unwrap(),
        owner: owner(),
        instance: Some(iid("i-web")),
    })
    .unwrap();
    m
}

fn at(name: &str) -> Entry {
    let (_, _, sw, port) = *PLACES.iter().find(|p| p.0 == name).unwrap();
    Entry::Port {
        switch: sw,
        port: PortNo(port),
    }
}

/// From an outside client to the elastic IP.
fn inbound(proto: u8, sport: u16, dport: u16) -> Packet {
    let s = settings();
    Packet::ipv4(
        s.public_gateway_mac,
        s.elastic_ip_mac,
        CLIENT,
        EIP,
        proto,
        sport,
        dport,
    )
}

/// From one instance to another's private address.
fn private(from: u8, to: u8, proto: u8, sport: u16, dport: u16) -> Packet {
    Packet::ipv4(mac(from), mac(to), ip(from), ip(to), proto, sport, dport)
}

fn delivered_to(v: &Verdict, who: &str) -> bool {
    matches!(v, Verdict::Delivered { to: Endpoint::Instance(i), .. } if i.as_str() == who)
}

fn web_with(perms: Vec<Permission>) -> Lockstep {
    Lockstep::new(
        build(World {
            groups: vec![(gid("sg-web"), perms)],
            membership: vec![
                ("i-web", vec!["sg-web"]),
                ("i-db", vec!["sg-web"]),
                ("i-app", vec!["sg-web"]),
            ],
        }),
        CompileOptions::default(),
    )
}

#[test]
fn port_range_boundaries_and_neighbours() {
    // 21-23 expands to three flows; 1000-1100 (101 ports) is over the budget of 64 and is
    // enforced reactively; 1-65535 is all ports.
    let mut l = web_with(vec![
        perm(tcp_range(21, 23), Peer::anywhere()),
        perm(tcp_range(1000, 1100), Peer::anywhere()),
        perm(
            Protocol::Udp(PortRange::new(1, 65535).unwrap()),
            cidr([192, 0, 2, 0], 24),
        ),
    ]);
    for (port, open) in [
        (20, false),
        (21, true),
        (22, true),
        (23, true),
        (24, false),
        (999, false),
        (1000, true),
        (1050, true),
        (1100, true),
        (1101, false),
    ] {
        let (v, _) = l.send(Entry::Outside, inbound(TCP, 40000, port));
        assert_eq!(
            delivered_to(&v, "i-web"),
            open,
            "tcp {port} from outside: {v:?}"
        );
        let (v, _) = l.send(at("i-app"), private(4, 3, TCP, 40001, port));
        assert_eq!(
            delivered_to(&v, "i-db"),
            open,
            "tcp {port} between instances: {v:?}"
        );
    }
    // 1-65535 is every port, 0 included; only from 192.0.2.0/24.
    for port in [0, 1, 65535] {
        let (v, _) = l.send(Entry::Outside, inbound(UDP, 5353, port));
        assert!(delivered_to(&v, "i-web"), "udp {port}: {v:?}");
    }
    let mut far = inbound(UDP, 5353, 53);
    far.nw_src = FAR;
    assert!(l.send(Entry::Outside, far).0.is_dropped());
    // The small range is proactive; the over-budget range goes to the controller first,
    // then its pinholes carry the connection.
    for port in [21, 22, 23] {
        let (_, t) = l.send(Entry::Outside, inbound(TCP, 40100, port));
        assert_eq!(
            t.packet_ins().count(),
            0,
            "tcp {port} is forwarded proactively"
        );
    }
    let (_, t) = l.send(Entry::Outside, inbound(TCP, 40100, 1050));
    assert_eq!(t.packet_ins().count(), 1);
    let (_, t) = l.send(Entry::Outside, inbound(TCP, 40100, 1050));
    assert_eq!(t.packet_ins().count(), 0);
}

/// The distinct TCP destination ports switch 1's compiled (non-pinhole) flows match in
/// `from..=to`.
fn compiled_tcp_ports(l: &Lockstep, from: u16, to: u16) -> BTreeSet<u16> {
    l.net.network().switches()[&1]
        .table()
        .entries()
        .iter()
        .filter(|e| !cookie::is_pinhole(e.cookie) && e.r#match.nw_proto == Some(TCP))
        .filter_map(|e| e.r#match.tp_dst)
        .filter(|p| (from..=to).contains(p))
        .collect()
}

#[test]
fn port_budget_edge() {
    // The default budget is 64 ports per permission: a 64-port range is expanded into
    // flows, a 65-port range is enforced reactively (its protocol goes to the controller,
    // which decides and installs pinholes).
    assert_eq!(CompileOptions::default().port_budget, 64);
    for (from, to, proactive) in [(1000u16, 1063u16, true), (1000, 1064, false)] {
        let mut l = web_with(vec![perm(tcp_range(from, to), Peer::anywhere())]);
        let expanded = compiled_tcp_ports(&l, 0, u16::MAX);
        if proactive {
            assert_eq!(expanded, (from..=to).collect::<BTreeSet<u16>>());
        } else {
            assert!(expanded.is_empty(), "{expanded:?}");
        }
        for port in [from - 1, from, from + 1, to - 1, to, to + 1] {
            let open = (from..=to).contains(&port);
            let what = format!("tcp {port}, range {from}-{to}");
            let (v, t) = l.send(Entry::Outside, inbound(TCP, 40000, port));
            assert_eq!(
                delivered_to(&v, "i-web"),
                open,
                "{what} from outside: {v:?}"
            );
            let punted = t.packet_ins().count();
            if proactive {
                assert_eq!(punted, 0, "{what}: forwarded or dropped by the flows alone");
            } else {
                assert_eq!(punted, 1, "{what}: decided by the controller");
            }
            if open {
                // The same connection again: proactive flows, or now its pinholes.
                let (v, t) = l.send(Entry::Outside, inbound(TCP, 40000, port));
                assert!(delivered_to(&v, "i-web"), "{what} again: {v:?}");
                assert_eq!(t.packet_ins().count(), 0, "{what} again: {t:?}");
            }
            let (v, _) = l.send(at("i-app"), private(4, 3, TCP, 40001, port));
            assert_eq!(
                delivered_to(&v, "i-db"),
                open,
                "{what} between instances: {v:?}"
            );
        }
    }
}

#[test]
fn icmp_any_type_and_any_code() {
    // Any type (and so any code) from 192.0.2.0/24; type 3 with any code from anywhere.
    let mut l = web_with(vec![
        perm(icmp(None, None), cidr([192, 0, 2, 0], 24)),
        perm(icmp(Some(3), None), Peer::anywhere()),
    ]);
    for (t, c) in [
        (0, 0),
        (3, 1),
        (8, 0),
        (8, 255),
        (11, 0),
        (13, 0),
        (255, 255),
    ] {
        let (v, tr) = l.send(Entry::Outside, inbound(ICMP, t, c));
        assert!(
            delivered_to(&v, "i-web"),
            "icmp {t}/{c} from the /24: {v:?}"
        );
        assert_eq!(
            tr.packet_ins().count(),
            0,
            "icmp {t}/{c}: one wildcard flow"
        );
    }
    for ((t, c), open) in [
        ((3, 0), true),
        ((3, 4), true),
        ((3, 13), true),
        ((3, 255), true),
        ((2, 0), false),
        ((4, 0), false),
        ((8, 0), false),
        ((0, 3), false),
    ] {
        let mut p = inbound(ICMP, t, c);
        p.nw_src = FAR;
        let (v, _) = l.send(Entry::Outside, p);
        assert_eq!(
            delivered_to(&v, "i-web"),
            open,
            "icmp {t}/{c} from far: {v:?}"
        );
    }
    // Other protocols are not ICMP.
    assert!(l.send(Entry::Outside, inbound(UDP, 8, 0)).0.is_dropped());
    // Between instances: the any-type rule does not cover the subnet, type 3 does.
    assert!(l
        .send(at("i-app"), private(4, 3, ICMP, 8, 0))
        .0
        .is_dropped());
    assert!(delivered_to(
        &l.send(at("i-app"), private(4, 3, ICMP, 3, 9)).0,
        "i-db"
    ));
}

#[test]
fn icmp_type_and_code() {
    let mut l = web_with(vec![
        perm(icmp(Some(8), None), Peer::anywhere()),
        perm(icmp(Some(3), Some(4)), Peer::anywhere()),
    ]);
    for ((t, c), open) in [
        ((8, 0), true),
        ((8, 7), true),
        ((0, 0), false),
        ((3, 4), true),
        ((3, 3), false),
        ((3, 5), false),
        ((13, 0), false),
    ] {
        let (v, _) = l.send(Entry::Outside, inbound(ICMP, t, c));
        assert_eq!(delivered_to(&v, "i-web"), open, "icmp {t}/{c}: {v:?}");
    }
    // The echo reply goes back out, rewritten to the elastic IP, as a tracked reply.
    let (v, _) = l.send(
        at("i-web"),
        Packet::ipv4(mac(2), settings().router_mac, ip(2), CLIENT, ICMP, 0, 0),
    );
    match v {
        Verdict::Delivered {
            to: Endpoint::Outside,
            packet,
        } => {
            assert_eq!(packet.nw_src, EIP);
            assert_eq!(packet.dl_dst, settings().public_gateway_mac);
        }
        other => panic!("echo reply: {other:?}"),
    }
}

#[test]
fn protocol_minus_one_allows_everything() {
    let mut l = web_with(vec![perm(Protocol::Any, cidr([192, 0, 2, 0], 24))]);
    for (proto, sp, dp) in [
        (TCP, 1, 0),
        (TCP, 2, 65535),
        (UDP, 3, 53),
        (ICMP, 8, 0),
        (47, 0, 0),
        (132, 0, 0),
    ] {
        let (v, _) = l.send(Entry::Outside, inbound(proto, sp, dp));
        assert!(delivered_to(&v, "i-web"), "proto {proto}: {v:?}");
    }
    let mut far = inbound(47, 0, 0);
    far.nw_src = FAR;
    assert!(l.send(Entry::Outside, far).0.is_dropped());
}

#[test]
fn overlapping_groups_are_additive() {
    let mut l = Lockstep::new(
        build(World {
            groups: vec![
                (
                    gid("sg-a"),
                    vec![
                        perm(tcp_range(20, 25), cidr([192, 0, 2, 0], 24)),
                        perm(tcp_range(22, 22), cidr([10, 0, 0, 0], 16)),
                    ],
                ),
                (
                    gid("sg-b"),
                    vec![
                        perm(tcp_range(22, 22), Peer::anywhere()),
                        perm(tcp_range(25, 30), cidr([192, 0, 2, 7], 32)),
                    ],
                ),
            ],
            membership: vec![
                ("i-web", vec!["sg-a", "sg-b"]),
                ("i-db", vec!["sg-a"]),
                ("i-app", vec!["sg-b"]),
            ],
        }),
        CompileOptions::default(),
    );
    for (port, src, open) in [
        (22, CLIENT, true),
        (22, FAR, true),
        (20, CLIENT, true),
        (20, FAR, false),
        (26, CLIENT, true),
        (30, CLIENT, true),
        (31, CLIENT, false),
        (26, Ipv4Addr::new(192, 0, 2, 8), false),
    ] {
        let mut p = inbound(TCP, 40000, port);
        p.nw_src = src;
        let (v, _) = l.send(Entry::Outside, p);
        assert_eq!(delivered_to(&v, "i-web"), open, "{src}:{port}: {v:?}");
    }
    // i-db has only sg-a: 22 from inside the subnet, not 23.
    assert!(delivered_to(
        &l.send(at("i-app"), private(4, 3, TCP, 1, 22)).0,
        "i-db"
    ));
    assert!(l
        .send(at("i-app"), private(4, 3, TCP, 1, 23))
        .0
        .is_dropped());
}

#[test]
fn group_referencing_itself() {
    let g = gid("sg-self");
    let mut l = Lockstep::new(
        build(World {
            groups: vec![
                (g.clone(), vec![perm(Protocol::Any, Peer::Group(g.clone()))]),
                (gid("sg-other"), vec![]),
            ],
            membership: vec![
                ("i-web", vec!["sg-self"]),
                ("i-db", vec!["sg-self"]),
                ("i-app", vec!["sg-other"]),
            ],
        }),
        CompileOptions::default(),
    );
    // Members reach each other (across switches), a non-member does not.
    assert!(delivered_to(
        &l.send(at("i-web"), private(2, 3, UDP, 9, 9)).0,
        "i-db"
    ));
    assert!(delivered_to(
        &l.send(at("i-db"), private(3, 2, TCP, 9, 80)).0,
        "i-web"
    ));
    assert!(l
        .send(at("i-app"), private(4, 3, TCP, 9, 80))
        .0
        .is_dropped());
    // The group reference covers private addresses only: not the elastic IP path.
    assert!(l.send(Entry::Outside, inbound(TCP, 9, 80)).0.is_dropped());
    // Joining lets i-app in; leaving takes i-db out.
    assert!(l.change(&Change::Join(iid("i-app"), g.clone())));
    assert!(delivered_to(
        &l.send(at("i-app"), private(4, 3, TCP, 10, 80)).0,
        "i-db"
    ));
    assert!(l.change(&Change::Leave(iid("i-db"), g)));
    assert!(l
        .send(at("i-web"), private(2, 3, TCP, 11, 80))
        .0
        .is_dropped());
}

#[test]
fn elastic_ip_moved_between_switches() {
    let mut l = web_with(vec![perm(tcp_range(80, 80), Peer::anywhere())]);
    let s = settings();
    let arp_for_eip = Packet::arp(
        1,
        s.public_gateway_mac,
        MacAddr::BROADCAST,
        s.public_gateway,
        EIP,
    );
    let (v, trace) = l.send(Entry::Outside, arp_for_eip);
    assert!(matches!(v, Verdict::Controller { switch: 1, .. }), "{v:?}");
    assert_eq!(
        trace.delivered_to(&Destination::Outside).len(),
        1,
        "the ARP reply reaches the gateway"
    );
    assert!(delivered_to(
        &l.send(Entry::Outside, inbound(TCP, 5000, 80)).0,
        "i-web"
    ));

    // Move the address to i-db on switch 2: the controller announces it from there.
    let (touched, trace) = l
        .net
        .change(|m| Change::Associate(EIP, iid("i-db")).apply(m))
        .unwrap()
        .unwrap();
    l.reference.cut(&touched);
    l.check_tables("after the move");
    let garp = trace.delivered_to(&Destination::Outside);
    assert_eq!(garp.len(), 1, "{:#?}", trace.events);
    assert_eq!(
        (garp[0].dl_src, garp[0].nw_src, garp[0].nw_dst),
        (s.elastic_ip_mac, EIP, EIP)
    );
    assert!(trace
        .events
        .iter()
        .any(|e| matches!(e, TraceEvent::PacketOut { switch: 2, .. })));
    let (v, _) = l.send(Entry::Outside, arp_for_eip);
    assert!(matches!(v, Verdict::Controller { switch: 2, .. }), "{v:?}");
    match l.send(Entry::Outside, inbound(TCP, 5001, 80)).0 {
        Verdict::Delivered {
            to: Endpoint::Instance(i),
            packet,
        } => {
            assert_eq!(i.as_str(), "i-db");
            assert_eq!((packet.nw_dst, packet.dl_dst), (ip(3), mac(3)));
        }
        other => panic!("{other:?}"),
    }
    // i-db leaves with the address; i-web has none any more and does not reach outside.
    let out = |from: u8| Packet::ipv4(mac(from), s.router_mac, ip(from), FAR, UDP, 53, 53);
    match l.send(at("i-db"), out(3)).0 {
        Verdict::Delivered {
            to: Endpoint::Outside,
            packet,
        } => assert_eq!(packet.nw_src, EIP),
        other => panic!("{other:?}"),
    }
    assert!(l.send(at("i-web"), out(2)).0.is_dropped());
}

fn pinholes_installed(l: &Lockstep) -> usize {
    l.net
        .network()
        .switches()
        .values()
        .flat_map(|s| s.table().entries())
        .filter(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .count()
}

#[test]
fn revoke_with_live_pinholes_cuts_the_connection() {
    let ssh = perm(tcp_range(22, 22), Peer::anywhere());
    let mut l = web_with(vec![ssh.clone()]);
    assert!(l.change(&Change::Revoke(gid("sg-web"), Direction::Egress, 0)));
    // With no egress rule left, the reply needs state: a pinhole pair.
    assert!(delivered_to(
        &l.send(Entry::Outside, inbound(TCP, 40000, 22)).0,
        "i-web"
    ));
    let reply = Packet::ipv4(mac(2), settings().router_mac, ip(2), CLIENT, TCP, 22, 40000);
    assert!(matches!(
        l.send(at("i-web"), reply).0,
        Verdict::Delivered {
            to: Endpoint::Outside,
            ..
        }
    ));
    assert_eq!(pinholes_installed(&l), 2);
    // Revoking the rule cuts the connection (documented choice): the pinholes go, the next
    // packet of the connection is dropped both ways.
    let sg = l.model().group(&gid("sg-web")).unwrap().clone();
    let n = sg.ingress.iter().position(|p| *p == ssh).unwrap();
    assert!(l.change(&Change::Revoke(gid("sg-web"), Direction::Ingress, n)));
    assert_eq!(pinholes_installed(&l), 0);
    assert!(l.send(at("i-web"), reply).0.is_dropped());
    assert!(l
        .send(Entry::Outside, inbound(TCP, 40000, 22))
        .0
        .is_dropped());
}

#[test]
fn tracked_connections_expire_with_their_pinholes() {
    let mut l = web_with(vec![perm(tcp_range(22, 22), Peer::anywhere())]);
    assert!(l.change(&Change::Revoke(gid("sg-web"), Direction::Egress, 0)));
    assert!(delivered_to(
        &l.send(Entry::Outside, inbound(TCP, 40000, 22)).0,
        "i-web"
    ));
    let reply = Packet::ipv4(mac(2), settings().router_mac, ip(2), CLIENT, TCP, 22, 40000);
    l.wait(59);
    assert!(
        !l.send(at("i-web"), reply).0.is_dropped(),
        "within the idle timeout"
    );
    // The forward direction has now been idle 60 s: both pinholes go, together.
    l.wait(1);
    assert_eq!(pinholes_installed(&l), 0);
    assert!(l.send(at("i-web"), reply).0.is_dropped());
}

#[test]
fn anti_spoofing() {
    let mut l = web_with(vec![perm(Protocol::Any, Peer::anywhere())]);
    let good = private(2, 3, UDP, 1, 2);
    assert!(delivered_to(&l.send(at("i-web"), good).0, "i-db"));
    let mut other_mac = good;
    other_mac.dl_src = mac(4);
    let mut other_ip = good;
    other_ip.nw_src = ip(4);
    let mut made_up = good;
    made_up.nw_src = Ipv4Addr::new(10, 0, 9, 9);
    for p in [other_mac, other_ip, made_up] {
        let (v, t) = l.send(at("i-web"), p);
        assert!(v.is_dropped() && t.is_dropped(), "{p:?}: {v:?}");
    }
    // ARP with another sender address is not answered.
    let arp = Packet::arp(1, mac(2), MacAddr::BROADCAST, ip(4), ip(3));
    let (v, t) = l.send(at("i-web"), arp);
    assert!(v.is_dropped() && t.is_dropped(), "{v:?}");
    // Its own ARP is answered with i-db's MAC.
    let arp = Packet::arp(1, mac(2), MacAddr::BROADCAST, ip(2), ip(3));
    let (_, t) = l.send(at("i-web"), arp);
    let replies = t.delivered_to(&Destination::Host("i-web".into()));
    assert_eq!(replies.len(), 1);
    assert_eq!((replies[0].dl_src, replies[0].nw_src), (mac(3), ip(3)));
    assert_eq!(replies[0].arp_sha, mac(3));
    // The same request with another sender hardware address (another instance's MAC, a
    // made-up one) and its own Ethernet source and sender address: OpenFlow 1.0 cannot
    // match that field, so the switch punts the request and the controller drops it.
    for sha in [mac(3), mac(4), MacAddr([2, 0, 0, 0, 9, 9]), MacAddr::ZERO] {
        let forged = arp.with_arp_sha(sha);
        let (v, t) = l.send(at("i-web"), forged);
        assert!(
            matches!(
                v,
                Verdict::Dropped {
                    reason: DropReason::Spoofed,
                    ..
                }
            ),
            "sha {sha}: {v:?}"
        );
        assert!(t.is_dropped(), "sha {sha}: {t:?}");
        assert_eq!(
            t.packet_ins().count(),
            1,
            "sha {sha}: decided by the controller"
        );
    }
    // A forged ARP reply is dropped by the switch like every ARP reply from an instance.
    let reply = Packet::arp(2, mac(2), mac(3), ip(2), ip(3)).with_arp_sha(mac(4));
    let (v, t) = l.send(at("i-web"), reply);
    assert!(v.is_dropped() && t.is_dropped(), "{v:?}");
    assert_eq!(t.packet_ins().count(), 0);
    // Directly on an instance port of the simulator, too.
    let t = l
        .net
        .network_mut()
        .inject(Point::Host("i-web".into()), other_ip)
        .unwrap();
    assert!(t.is_dropped());
}
