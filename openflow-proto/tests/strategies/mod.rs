//! Proptest strategies for every OpenFlow 1.0 value of the crate, shared by the property
//! tests and the `ovs-ofctl` oracle.
//!
//! Two families:
//! - `any_*`: every value that encodes and decodes back to itself, including values outside
//!   the specification that the codec keeps faithfully (unknown commands, reasons, flags,
//!   stats types, raw IPv4 wildcard counts, VLAN ids above 0xfff...);
//! - `ovs_*`: values Open vSwitch accepts and prints back unchanged (prerequisites met,
//!   values in range), for comparing our text with `ovs-ofctl`'s.
#![allow(dead_code, unreachable_pub)]

use bytes::Bytes;
use core::net::Ipv4Addr;
use openflow_proto::error_msg::ErrorType;
use openflow_proto::messages::{ConfigFlags, FragHandling};
use openflow_proto::port::StpState;
use openflow_proto::queue::PacketQueue;
use openflow_proto::stats::{
    AggregateStats, DescStats, FlowStats, FlowStatsRequest, PortStats, PortStatsRequest,
    QueueStats, QueueStatsRequest, StatsReplyFlags, StatsRequestFlags, TableStats,
};
use openflow_proto::{
    Action, ActionBitmap, Capabilities, ErrorMsg, FlowMod, FlowModCommand, FlowModFlags,
    FlowRemoved, FlowRemovedReason, Ipv4Match, MacAddr, Match, Message, PacketIn, PacketInReason,
    PacketOut, PhyPort, PortConfig, PortFeatures, PortMod, PortNo, PortReason, PortState,
    PortStatus, QueueGetConfigReply, QueueGetConfigRequest, QueueProperty, StatsReply,
    StatsReplyBody, StatsRequest, StatsRequestBody, SwitchConfig, SwitchFeatures, VendorMsg,
    VlanMatch,
};
use proptest::collection::vec;
use proptest::prelude::*;

pub fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..=max).prop_map(Bytes::from)
}

/// Bytes whose length is a multiple of 8 (vendor action data, queue property data).
pub fn bytes8(max_words: usize) -> impl Strategy<Value = Bytes> {
    (0..=max_words).prop_flat_map(|n| vec(any::<u8>(), n * 8).prop_map(Bytes::from))
}

pub fn port() -> impl Strategy<Value = PortNo> {
    prop_oneof![
        (1u16..64).prop_map(PortNo),
        (0xfff8u16..=0xffff).prop_map(PortNo),
        any::<u16>().prop_map(PortNo),
    ]
}

pub fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

pub fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Any raw 6-bit wildcard count, with the address as on the wire.
pub fn any_ipv4_match() -> impl Strategy<Value = Ipv4Match> {
    prop_oneof![
        Just(Ipv4Match::ANY),
        (ipv4(), 0u8..=63).prop_map(|(a, bits)| Ipv4Match::from_raw(a, bits)),
    ]
}

pub fn any_vlan() -> impl Strategy<Value = VlanMatch> {
    prop_oneof![
        Just(VlanMatch::Any),
        Just(VlanMatch::Untagged),
        (0u16..0xffff).prop_map(VlanMatch::Vid),
    ]
}

pub fn any_match() -> impl Strategy<Value = Match> {
    (
        (
            proptest::option::of(port()),
            proptest::option::of(mac()),
            proptest::option::of(mac()),
            any_vlan(),
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u16>()),
        ),
        (
            proptest::option::of(any::<u8>()),
            proptest::option::of(any::<u8>()),
            any_ipv4_match(),
            any_ipv4_match(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(any::<u16>()),
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

/// Every action type, any values (vendor data a multiple of 8 bytes, as the wire requires).
pub fn any_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (port(), any::<u16>()).prop_map(|(port, max_len)| Action::Output { port, max_len }),
        any::<u16>().prop_map(Action::SetVlanVid),
        any::<u8>().prop_map(Action::SetVlanPcp),
        Just(Action::StripVlan),
        mac().prop_map(Action::SetDlSrc),
        mac().prop_map(Action::SetDlDst),
        ipv4().prop_map(Action::SetNwSrc),
        ipv4().prop_map(Action::SetNwDst),
        any::<u8>().prop_map(Action::SetNwTos),
        any::<u16>().prop_map(Action::SetTpSrc),
        any::<u16>().prop_map(Action::SetTpDst),
        (port(), any::<u32>()).prop_map(|(port, queue_id)| Action::Enqueue { port, queue_id }),
        (any::<u32>(), bytes8(3)).prop_map(|(vendor, data)| Action::Vendor { vendor, data }),
    ]
}

pub fn any_actions() -> impl Strategy<Value = Vec<Action>> {
    vec(any_action(), 0..6)
}

pub fn any_command() -> impl Strategy<Value = FlowModCommand> {
    any::<u16>().prop_map(FlowModCommand::from_u16)
}

pub fn any_flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        any_match(),
        any::<u64>(),
        any_command(),
        (any::<u16>(), any::<u16>(), any::<u16>()),
        any::<u32>(),
        port(),
        any::<u16>(),
        any_actions(),
    )
        .prop_map(
            |(
                m,
                cookie,
                command,
                (idle_timeout, hard_timeout, priority),
                buffer_id,
                out_port,
                flags,
                actions,
            )| {
                FlowMod {
                    r#match: m,
                    cookie,
                    command,
                    idle_timeout,
                    hard_timeout,
                    priority,
                    buffer_id,
                    out_port,
                    flags: FlowModFlags::from_bits_retain(flags),
                    actions: actions.into(),
                }
            },
        )
}

/// A NUL-free string of at most `max` bytes (fixed-size string fields keep `N - 1` bytes).
pub fn name(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[a-zA-Z0-9 ._-]{{0,{max}}}")).unwrap()
}

pub fn port_state() -> impl Strategy<Value = PortState> {
    (
        any::<bool>(),
        prop_oneof![
            Just(StpState::Listen),
            Just(StpState::Learn),
            Just(StpState::Forward),
            Just(StpState::Block)
        ],
        any::<u32>(),
    )
        .prop_map(|(link_down, stp, other)| PortState {
            link_down,
            stp,
            other_bits: other & !(PortState::LINK_DOWN | PortState::STP_MASK),
        })
}

pub fn phy_port() -> impl Strategy<Value = PhyPort> {
    (
        port(),
        mac(),
        name(15),
        any::<u32>(),
        port_state(),
        any::<[u32; 4]>(),
    )
        .prop_map(|(port_no, hw_addr, name, config, state, f)| PhyPort {
            port_no,
            hw_addr,
            name,
            config: PortConfig::from_bits_retain(config),
            state,
            curr: PortFeatures::from_bits_retain(f[0]),
            advertised: PortFeatures::from_bits_retain(f[1]),
            supported: PortFeatures::from_bits_retain(f[2]),
            peer: PortFeatures::from_bits_retain(f[3]),
        })
}

pub fn error_msg() -> impl Strategy<Value = ErrorMsg> {
    (any::<u16>(), any::<u16>(), bytes(80)).prop_map(|(t, c, data)| ErrorMsg {
        error: ErrorType::from_wire(t, c),
        data,
    })
}

pub fn switch_config() -> impl Strategy<Value = SwitchConfig> {
    (any::<u16>(), any::<u16>()).prop_map(|(flags, miss_send_len)| SwitchConfig {
        flags: ConfigFlags::from_u16(flags),
        miss_send_len,
    })
}

pub fn features() -> impl Strategy<Value = SwitchFeatures> {
    (
        any::<u64>(),
        any::<u32>(),
        any::<u8>(),
        any::<u32>(),
        any::<u32>(),
        vec(phy_port(), 0..4),
    )
        .prop_map(
            |(datapath_id, n_buffers, n_tables, caps, acts, ports)| SwitchFeatures {
                datapath_id,
                n_buffers,
                n_tables,
                capabilities: Capabilities::from_bits_retain(caps),
                actions: ActionBitmap::from_bits_retain(acts),
                ports,
            },
        )
}

pub fn packet_in() -> impl Strategy<Value = PacketIn> {
    (any::<u32>(), any::<u16>(), port(), any::<u8>(), bytes(200)).prop_map(
        |(buffer_id, total_len, in_port, reason, data)| PacketIn {
            buffer_id,
            total_len,
            in_port,
            reason: PacketInReason::from_u8(reason),
            data,
        },
    )
}

pub fn flow_removed() -> impl Strategy<Value = FlowRemoved> {
    (
        any_match(),
        any::<u64>(),
        any::<u16>(),
        any::<u8>(),
        (any::<u32>(), any::<u32>(), any::<u16>()),
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(m, cookie, priority, reason, (sec, nsec, idle), (pkts, bytes))| FlowRemoved {
                r#match: m,
                cookie,
                priority,
                reason: FlowRemovedReason::from_u8(reason),
                duration_sec: sec,
                duration_nsec: nsec,
                idle_timeout: idle,
                packet_count: pkts,
                byte_count: bytes,
            },
        )
}

pub fn port_status() -> impl Strategy<Value = PortStatus> {
    (any::<u8>(), phy_port()).prop_map(|(reason, desc)| PortStatus {
        reason: PortReason::from_u8(reason),
        desc,
    })
}

pub fn packet_out() -> impl Strategy<Value = PacketOut> {
    (any::<u32>(), port(), any_actions(), bytes(200)).prop_map(
        |(buffer_id, in_port, actions, data)| PacketOut {
            buffer_id,
            in_port,
            actions: actions.into(),
            data,
        },
    )
}

pub fn port_mod() -> impl Strategy<Value = PortMod> {
    (port(), mac(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(port_no, hw_addr, config, mask, advertise)| PortMod {
            port_no,
            hw_addr,
            config: PortConfig::from_bits_retain(config),
            mask: PortConfig::from_bits_retain(mask),
            advertise: PortFeatures::from_bits_retain(advertise),
        },
    )
}

pub fn flow_stats_request() -> impl Strategy<Value = FlowStatsRequest> {
    (any_match(), any::<u8>(), port()).prop_map(|(m, table_id, out_port)| FlowStatsRequest {
        r#match: m,
        table_id,
        out_port,
    })
}

/// A stats type outside OpenFlow 1.0's (0-5 and 0xffff).
pub fn unknown_stats_type() -> impl Strategy<Value = u16> {
    6u16..0xffff
}

pub fn stats_request() -> impl Strategy<Value = StatsRequest> {
    let body = prop_oneof![
        Just(StatsRequestBody::Desc),
        flow_stats_request().prop_map(StatsRequestBody::Flow),
        flow_stats_request().prop_map(StatsRequestBody::Aggregate),
        Just(StatsRequestBody::Table),
        port().prop_map(|port_no| StatsRequestBody::Port(PortStatsRequest { port_no })),
        (port(), any::<u32>()).prop_map(|(port_no, queue_id)| StatsRequestBody::Queue(
            QueueStatsRequest { port_no, queue_id }
        )),
        (any::<u32>(), bytes(40))
            .prop_map(|(vendor, data)| StatsRequestBody::Vendor { vendor, data }),
        (unknown_stats_type(), bytes(40))
            .prop_map(|(stats_type, body)| StatsRequestBody::Unknown { stats_type, body }),
    ];
    (any::<u16>(), body).prop_map(|(flags, body)| StatsRequest {
        flags: StatsRequestFlags::from_bits_retain(flags),
        body,
    })
}

pub fn flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        any::<u8>(),
        any_match(),
        (any::<u32>(), any::<u32>()),
        (any::<u16>(), any::<u16>(), any::<u16>()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        any_actions(),
    )
        .prop_map(
            |(table_id, m, (sec, nsec), (priority, idle, hard), (cookie, pkts, bytes), actions)| {
                FlowStats {
                    table_id,
                    r#match: m,
                    duration_sec: sec,
                    duration_nsec: nsec,
                    priority,
                    idle_timeout: idle,
                    hard_timeout: hard,
                    cookie,
                    packet_count: pkts,
                    byte_count: bytes,
                    actions: actions.into(),
                }
            },
        )
}

pub fn table_stats() -> impl Strategy<Value = TableStats> {
    (
        any::<u8>(),
        name(31),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
    )
        .prop_map(
            |(
                table_id,
                name,
                wildcards,
                max_entries,
                active_count,
                lookup_count,
                matched_count,
            )| {
                TableStats {
                    table_id,
                    name,
                    wildcards,
                    max_entries,
                    active_count,
                    lookup_count,
                    matched_count,
                }
            },
        )
}

pub fn port_stats() -> impl Strategy<Value = PortStats> {
    (port(), any::<[u64; 12]>()).prop_map(|(port_no, c)| PortStats {
        port_no,
        rx_packets: c[0],
        tx_packets: c[1],
        rx_bytes: c[2],
        tx_bytes: c[3],
        rx_dropped: c[4],
        tx_dropped: c[5],
        rx_errors: c[6],
        tx_errors: c[7],
        rx_frame_err: c[8],
        rx_over_err: c[9],
        rx_crc_err: c[10],
        collisions: c[11],
    })
}

pub fn queue_stats() -> impl Strategy<Value = QueueStats> {
    (port(), any::<u32>(), any::<[u64; 3]>()).prop_map(|(port_no, queue_id, c)| QueueStats {
        port_no,
        queue_id,
        tx_bytes: c[0],
        tx_packets: c[1],
        tx_errors: c[2],
    })
}

pub fn desc_stats() -> impl Strategy<Value = DescStats> {
    (name(255), name(255), name(255), name(31), name(255)).prop_map(
        |(mfr_desc, hw_desc, sw_desc, serial_num, dp_desc)| DescStats {
            mfr_desc,
            hw_desc,
            sw_desc,
            serial_num,
            dp_desc,
        },
    )
}

pub fn stats_reply_body(max_entries: usize) -> impl Strategy<Value = StatsReplyBody> {
    prop_oneof![
        desc_stats().prop_map(StatsReplyBody::Desc),
        vec(flow_stats(), 0..=max_entries).prop_map(StatsReplyBody::Flow),
        (any::<u64>(), any::<u64>(), any::<u32>()).prop_map(|(p, b, f)| {
            StatsReplyBody::Aggregate(AggregateStats {
                packet_count: p,
                byte_count: b,
                flow_count: f,
            })
        }),
        vec(table_stats(), 0..=max_entries).prop_map(StatsReplyBody::Table),
        vec(port_stats(), 0..=max_entries).prop_map(StatsReplyBody::Port),
        vec(queue_stats(), 0..=max_entries).prop_map(StatsReplyBody::Queue),
        (any::<u32>(), bytes(40))
            .prop_map(|(vendor, data)| StatsReplyBody::Vendor { vendor, data }),
        (unknown_stats_type(), bytes(40))
            .prop_map(|(stats_type, body)| StatsReplyBody::Unknown { stats_type, body }),
    ]
}

pub fn stats_reply() -> impl Strategy<Value = StatsReply> {
    (any::<u16>(), stats_reply_body(4)).prop_map(|(flags, body)| StatsReply {
        flags: StatsReplyFlags::from_bits_retain(flags),
        body,
    })
}

pub fn queue_property() -> impl Strategy<Value = QueueProperty> {
    prop_oneof![
        any::<u16>().prop_map(QueueProperty::MinRate),
        (
            any::<u16>().prop_filter("not min_rate", |p| *p != 1),
            bytes8(2)
        )
            .prop_map(|(property, data)| QueueProperty::Unknown { property, data }),
    ]
}

pub fn queue_get_config_reply() -> impl Strategy<Value = QueueGetConfigReply> {
    (
        port(),
        vec(
            (any::<u32>(), vec(queue_property(), 0..3)).prop_map(|(queue_id, properties)| {
                PacketQueue {
                    queue_id,
                    properties,
                }
            }),
            0..4,
        ),
    )
        .prop_map(|(port, queues)| QueueGetConfigReply { port, queues })
}

/// A message of each of the 22 types, any values that round-trip.
pub fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        bytes(16).prop_map(Message::Hello),
        error_msg().prop_map(Message::Error),
        bytes(64).prop_map(Message::EchoRequest),
        bytes(64).prop_map(Message::EchoReply),
        (any::<u32>(), bytes(64))
            .prop_map(|(vendor, data)| Message::Vendor(VendorMsg { vendor, data })),
        Just(Message::FeaturesRequest),
        features().prop_map(Message::FeaturesReply),
        Just(Message::GetConfigRequest),
        switch_config().prop_map(Message::GetConfigReply),
        switch_config().prop_map(Message::SetConfig),
        packet_in().prop_map(Message::PacketIn),
        flow_removed().prop_map(Message::FlowRemoved),
        port_status().prop_map(Message::PortStatus),
        packet_out().prop_map(Message::PacketOut),
        any_flow_mod().prop_map(Message::FlowMod),
        port_mod().prop_map(Message::PortMod),
        stats_request().prop_map(Message::StatsRequest),
        stats_reply().prop_map(Message::StatsReply),
        Just(Message::BarrierRequest),
        Just(Message::BarrierReply),
        port().prop_map(|port| Message::QueueGetConfigRequest(QueueGetConfigRequest { port })),
        queue_get_config_reply().prop_map(Message::QueueGetConfigReply),
    ]
}

/// Frag handling values, for tests that name them.
pub const FRAGS: [FragHandling; 4] = [
    FragHandling::Normal,
    FragHandling::Drop,
    FragHandling::Reasm,
    FragHandling::NxMatch,
];

// ---------------------------------------------------------------------------------------------
// Values Open vSwitch accepts and prints back unchanged.

/// A match whose every field meets its prerequisites, with values in range, that is not an
/// exact-match flow (OVS reports those at priority 65535).
pub fn ovs_match() -> impl Strategy<Value = Match> {
    let l2 = (
        proptest::option::of(prop_oneof![
            (1u16..0xff00).prop_map(PortNo),
            Just(PortNo::LOCAL)
        ]),
        proptest::option::of(mac()),
        proptest::option::of(mac()),
        prop_oneof![
            Just(VlanMatch::Any),
            Just(VlanMatch::Untagged),
            (0u16..=0xfff).prop_map(VlanMatch::Vid)
        ],
        proptest::option::of(0u8..=7),
    );
    let prefix = prop_oneof![
        Just(Ipv4Match::ANY),
        (ipv4(), 0u8..=32).prop_map(|(a, len)| Ipv4Match::prefix(a, len)),
        (ipv4(), 0u8..=63).prop_map(|(a, bits)| Ipv4Match::from_raw(a, bits)),
    ];
    let l3 =
        prop_oneof![
            // Not IP: only layer 2.
            Just((None, None, None, Ipv4Match::ANY, Ipv4Match::ANY, None, None)),
            Just((
                Some(0x88cc_u16),
                None,
                None,
                Ipv4Match::ANY,
                Ipv4Match::ANY,
                None,
                None
            )),
            // IPv4, any protocol or a transport one with ports.
            (
                prefix.clone(),
                prefix.clone(),
                proptest::option::of((0u8..64).prop_map(|d| d << 2)),
                prop_oneof![
                    Just(None),
                    Just(Some(47u8)),
                    Just(Some(6u8)),
                    Just(Some(17u8)),
                    Just(Some(132u8)),
                    Just(Some(1u8))
                ],
                proptest::option::of(any::<u8>()),
                proptest::option::of(any::<u8>()),
                proptest::option::of(any::<u16>()),
                proptest::option::of(any::<u16>()),
            )
                .prop_map(|(src, dst, tos, proto, t8s, t8d, t16s, t16d)| {
                    let (tp_src, tp_dst) = match proto {
                        Some(1) => (t8s.map(u16::from), t8d.map(u16::from)),
                        Some(6 | 17 | 132) => (t16s, t16d),
                        _ => (None, None),
                    };
                    (Some(0x0800), tos, proto, src, dst, tp_src, tp_dst)
                }),
            // ARP: addresses and opcode.
            (prefix.clone(), prefix, proptest::option::of(any::<u8>()))
                .prop_map(|(src, dst, op)| (Some(0x0806), None, op, src, dst, None, None)),
        ];
    (l2, l3)
        .prop_map(
            |(
                (in_port, dl_src, dl_dst, dl_vlan, pcp),
                (dl_type, nw_tos, nw_proto, nw_src, nw_dst, tp_src, tp_dst),
            )| {
                Match {
                    in_port,
                    dl_src,
                    dl_dst,
                    dl_vlan,
                    // OVS cannot keep a priority on an untagged match.
                    dl_vlan_pcp: if dl_vlan == VlanMatch::Untagged {
                        None
                    } else {
                        pcp
                    },
                    dl_type,
                    nw_tos,
                    nw_proto,
                    nw_src,
                    nw_dst,
                    tp_src,
                    tp_dst,
                }
            },
        )
        .prop_filter("not an exact-match flow", |m| !m.is_exact())
}

/// An output port OVS accepts in an output action.
pub fn ovs_output_port() -> impl Strategy<Value = PortNo> {
    prop_oneof![
        (0u16..0xff00).prop_map(PortNo),
        prop::sample::select(vec![
            PortNo::IN_PORT,
            PortNo::TABLE,
            PortNo::NORMAL,
            PortNo::FLOOD,
            PortNo::ALL,
            PortNo::CONTROLLER,
            PortNo::LOCAL,
        ]),
    ]
}

/// Every standard action type with values OVS accepts.
pub fn ovs_action() -> impl Strategy<Value = Action> {
    prop_oneof![
        (ovs_output_port(), any::<u16>())
            .prop_map(|(port, max_len)| Action::Output { port, max_len }),
        (0u16..=0xfff).prop_map(Action::SetVlanVid),
        (0u8..=7).prop_map(Action::SetVlanPcp),
        Just(Action::StripVlan),
        mac().prop_map(Action::SetDlSrc),
        mac().prop_map(Action::SetDlDst),
        ipv4().prop_map(Action::SetNwSrc),
        ipv4().prop_map(Action::SetNwDst),
        (0u8..64).prop_map(|d| Action::SetNwTos(d << 2)),
        any::<u16>().prop_map(Action::SetTpSrc),
        any::<u16>().prop_map(Action::SetTpDst),
        (
            prop_oneof![
                (1u16..0xff00).prop_map(PortNo),
                Just(PortNo::IN_PORT),
                Just(PortNo::LOCAL)
            ],
            any::<u32>()
        )
            .prop_map(|(port, queue_id)| Action::Enqueue { port, queue_id }),
    ]
}

/// A flow_mod OVS accepts and prints back as it is (cookie not all ones, known flags
/// except the emergency table, which OVS refuses).
pub fn ovs_flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        ovs_match(),
        any::<u64>().prop_filter("OVS hides an all-ones cookie", |c| *c != u64::MAX),
        (0u16..=4).prop_map(FlowModCommand::from_u16),
        (any::<u16>(), any::<u16>(), any::<u16>()),
        prop_oneof![Just(openflow_proto::NO_BUFFER), any::<u32>()],
        prop_oneof![Just(PortNo::NONE), (1u16..0xff00).prop_map(PortNo)],
        0u16..=3,
        vec(ovs_action(), 0..5),
    )
        .prop_map(
            |(
                m,
                cookie,
                command,
                (idle_timeout, hard_timeout, priority),
                buffer_id,
                out_port,
                flags,
                actions,
            )| {
                FlowMod {
                    r#match: m,
                    cookie,
                    command,
                    idle_timeout,
                    hard_timeout,
                    priority,
                    buffer_id,
                    out_port,
                    flags: FlowModFlags::from_bits_retain(flags),
                    actions: actions.into(),
                }
            },
        )
}
