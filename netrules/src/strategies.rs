//! [`proptest`] strategies (feature `proptest`).
//!
//! - OpenFlow level: [`packet`], [`flow_match`], [`actions`], [`flow_mod`], drawn from small
//!   universes of values so that random matches and random packets meet often.
//!
//! ```
//! use netrules::strategies;
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//!
//! let mut runner = TestRunner::deterministic();
//! let m = strategies::flow_match().new_tree(&mut runner).unwrap().current();
//! let p = strategies::packet().new_tree(&mut runner).unwrap().current();
//! let _ = netrules::sim::matching::matches(&netrules::sim::matching::normalize(&m).0,
//!     openflow_proto::PortNo(1), &p);
//! ```

use crate::packet::Packet;
use core::net::Ipv4Addr;
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::{
    Action, FlowMod, FlowModCommand, FlowModFlags, Ipv4Match, MacAddr, Match, PortNo, VlanMatch,
    NO_BUFFER,
};
use proptest::prelude::*;

/// The switch ports the OpenFlow-level strategies use (1 to 4).
pub fn small_port() -> impl Strategy<Value = PortNo> {
    (1u16..=4).prop_map(PortNo)
}

fn small_mac() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        4 => (1u8..=4).prop_map(|n| MacAddr([2, 0, 0, 0, 0, n])),
        1 => Just(MacAddr::BROADCAST),
    ]
}

fn small_ip() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        (1u8..=4).prop_map(|n| Ipv4Addr::new(10, 0, 0, n)),
        (1u8..=2).prop_map(|n| Ipv4Addr::new(10, 0, 1, n)),
        Just(Ipv4Addr::new(192, 0, 2, 1)),
    ]
}

fn small_prefix() -> impl Strategy<Value = Ipv4Match> {
    prop_oneof![
        2 => Just(Ipv4Match::ANY),
        3 => small_ip().prop_map(Ipv4Match::exact),
        2 => (small_ip(), prop::sample::select(vec![8u8, 16, 24, 30, 31])).prop_map(|(a, l)| Ipv4Match::prefix(a, l)),
        // Raw encodings: host bits set, counts of 32 and more.
        1 => (small_ip(), 0u8..64).prop_map(|(a, w)| Ipv4Match::from_raw(a, w)),
    ]
}

fn small_tp() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![0u16, 3, 8, 22, 80, 443, 1024, 65535])
}

fn small_dl_type() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![ETH_TYPE_IPV4, ETH_TYPE_IPV4, ETH_TYPE_ARP, 0x86dd])
}

fn small_nw_proto() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP, 1, 2, 47])
}

/// A packet with header values from small universes (addresses in 10.0.0.1-4, 10.0.1.1-2 and
/// 192.0.2.1, ports among 0, 3, 8, 22, 80, 443, 1024, 65535, untagged or VLAN 5 or 7, IPv4,
/// ARP or IPv6).
pub fn packet() -> impl Strategy<Value = Packet> {
    (
        (
            small_mac(),
            small_mac(),
            prop::option::of(prop::sample::select(vec![5u16, 7])),
            0u8..8,
        ),
        small_dl_type(),
        prop::sample::select(vec![0u8, 0x10, 0x13, 0xb8]),
        small_nw_proto(),
        (small_ip(), small_ip()),
        (small_tp(), small_tp()),
    )
        .prop_map(
            |((src, dst, vlan, pcp), dl_type, tos, proto, (s, d), (ts, td))| {
                let mut p = Packet::ipv4(src, dst, s, d, proto, ts, td);
                p.dl_vlan = vlan;
                p.dl_vlan_pcp = if vlan.is_some() { pcp } else { 0 };
                p.dl_type = dl_type;
                match dl_type {
                    ETH_TYPE_IPV4 => {
                        p.nw_tos = tos;
                        if !matches!(proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP) {
                            p.tp_src = 0;
                            p.tp_dst = 0;
                        }
                    }
                    ETH_TYPE_ARP => {
                        p.nw_proto = 1 + (proto & 1);
                        p.tp_src = 0;
                        p.tp_dst = 0;
                    }
                    _ => {
                        p.nw_proto = 0;
                        p.nw_src = Ipv4Addr::UNSPECIFIED;
                        p.nw_dst = Ipv4Addr::UNSPECIFIED;
                        p.tp_src = 0;
                        p.tp_dst = 0;
                    }
                }
                p
            },
        )
}

/// A match over the same universes, each field wildcarded half of the time, prerequisites
/// not necessarily met (as a switch may be sent).
pub fn flow_match() -> impl Strategy<Value = Match> {
    let vlan = prop_oneof![
        3 => Just(VlanMatch::Any),
        1 => Just(VlanMatch::Untagged),
        1 => prop::sample::select(vec![5u16, 7]).prop_map(VlanMatch::Vid),
    ];
    (
        (
            prop::option::of(small_port()),
            prop::option::of(small_mac()),
            prop::option::of(small_mac()),
            vlan,
            prop::option::weighted(0.2, 0u8..8),
            prop::option::weighted(0.8, small_dl_type()),
        ),
        (
            prop::option::weighted(0.2, prop::sample::select(vec![0u8, 0x10, 0xb8])),
            prop::option::of(small_nw_proto()),
            small_prefix(),
            small_prefix(),
            prop::option::of(small_tp()),
            prop::option::of(small_tp()),
        ),
    )
        .prop_map(
            |(
                (in_port, dl_src, dl_dst, dl_vlan, dl_vlan_pcp, dl_type),
                (nw_tos, nw_proto, nw_src, nw_dst, tp_src, tp_dst),
            )| Match {
                in_port,
                dl_src,
                dl_dst,
                dl_vlan,
                dl_vlan_pcp,
                dl_type,
                nw_tos,
                nw_proto,
                nw_src,
                nw_dst,
                tp_src,
                tp_dst,
            },
        )
}

/// An exact match for `pkt` arriving on `in_port` (no wildcard at all).
pub fn exact_match(pkt: &Packet, in_port: PortNo) -> Match {
    Match {
        in_port: Some(in_port),
        dl_src: Some(pkt.dl_src),
        dl_dst: Some(pkt.dl_dst),
        dl_vlan: pkt.dl_vlan.map_or(VlanMatch::Untagged, VlanMatch::Vid),
        dl_vlan_pcp: Some(pkt.dl_vlan_pcp),
        dl_type: Some(pkt.dl_type),
        nw_tos: Some(pkt.nw_tos & 0xfc),
        nw_proto: Some(pkt.nw_proto),
        nw_src: Ipv4Match::exact(pkt.nw_src),
        nw_dst: Ipv4Match::exact(pkt.nw_dst),
        tp_src: Some(pkt.tp_src),
        tp_dst: Some(pkt.tp_dst),
    }
}

/// An action list: up to four rewrites and outputs (physical ports 1-4, `IN_PORT`, `FLOOD`,
/// `CONTROLLER`), possibly empty (drop).
pub fn actions() -> impl Strategy<Value = Vec<Action>> {
    let a = prop_oneof![
        4 => small_port().prop_map(Action::output),
        1 => prop::sample::select(vec![PortNo::IN_PORT, PortNo::FLOOD, PortNo::CONTROLLER]).prop_map(Action::output),
        1 => small_mac().prop_map(Action::SetDlDst),
        1 => small_mac().prop_map(Action::SetDlSrc),
        1 => small_ip().prop_map(Action::SetNwSrc),
        1 => small_ip().prop_map(Action::SetNwDst),
        1 => small_tp().prop_map(Action::SetTpDst),
        1 => prop::sample::select(vec![0u16, 5]).prop_map(Action::SetVlanVid),
        1 => Just(Action::StripVlan),
    ];
    prop::collection::vec(a, 0..4)
}

/// A flow_mod of any of the five commands, with a priority among a few values (so that
/// equal priorities are common), an optional `out_port` filter, small timeouts and flags.
pub fn flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        flow_match(),
        prop::sample::select(vec![0u16, 1, 10, 100, 0xffff]),
        actions(),
        prop::sample::select(vec![
            FlowModCommand::Add,
            FlowModCommand::Add,
            FlowModCommand::Add,
            FlowModCommand::Modify,
            FlowModCommand::ModifyStrict,
            FlowModCommand::Delete,
            FlowModCommand::DeleteStrict,
        ]),
        prop::option::weighted(0.3, small_port()),
        (0u16..3, 0u16..3, any::<bool>(), 0u64..4),
    )
        .prop_map(
            |(m, priority, actions, command, out_port, (idle, hard, rem, cookie))| FlowMod {
                r#match: m,
                cookie,
                command,
                idle_timeout: idle * 5,
                hard_timeout: hard * 7,
                priority,
                buffer_id: NO_BUFFER,
                out_port: out_port.unwrap_or(PortNo::NONE),
                flags: if rem {
                    FlowModFlags::SEND_FLOW_REM
                } else {
                    FlowModFlags::empty()
                },
                actions,
            },
        )
}
