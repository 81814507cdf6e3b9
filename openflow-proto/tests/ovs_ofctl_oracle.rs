//! The live oracle: what we encode, `ovs-ofctl ofp-print` (Open vSwitch) decodes without
//! complaint and prints with the values we set; and our `ovs-ofctl` text syntax is exactly
//! what it prints for flow_mods, flow stats and flow_removed messages.
//!
//! Needs `ovs-ofctl` (Debian package openvswitch-common; `scripts/test.sh` installs it). A
//! missing tool fails the tests, it never skips them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod strategies;

use bytes::Bytes;
use core::net::Ipv4Addr;
use openflow_proto::display::DisplayFlow;
use openflow_proto::error_msg::{BadRequestCode, ErrorType};
use openflow_proto::messages::{ConfigFlags, FragHandling};
use openflow_proto::port::StpState;
use openflow_proto::queue::PacketQueue;
use openflow_proto::stats::{
    AggregateStats, DescStats, FlowStats, FlowStatsRequest, PortStats, PortStatsRequest,
    QueueStats, QueueStatsRequest, TableStats,
};
use openflow_proto::{
    Action, ActionBitmap, Capabilities, ErrorMsg, FlowMod, FlowModCommand, FlowModFlags,
    FlowRemoved, FlowRemovedReason, Ipv4Match, MacAddr, Match, Message, PacketIn, PacketInReason,
    PacketOut, PhyPort, PortConfig, PortFeatures, PortMod, PortNo, PortReason, PortState,
    PortStatus, QueueGetConfigReply, QueueGetConfigRequest, QueueProperty, StatsReply,
    StatsReplyBody, StatsRequest, StatsRequestBody, SwitchConfig, SwitchFeatures, VendorMsg,
    VlanMatch, NO_BUFFER,
};
use proptest::prelude::*;
use std::process::Command;

/// `ovs-ofctl ofp-print HEX`: its standard output, after checking that it exited well and
/// reported neither a decode error nor a warning.
fn ofp_print(wire: &[u8]) -> String {
    let out = Command::new("ovs-ofctl")
        .arg("ofp-print")
        .arg(hex::encode(wire))
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run ovs-ofctl ({e}): these tests need Open vSwitch's ovs-ofctl \
                 (Debian package openvswitch-common; scripts/test.sh installs it)"
            )
        });
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "ovs-ofctl failed: {stdout}{stderr}");
    // The one "***" mark that is not an error: a packet_in whose data length differs from its
    // total_len (as when the switch truncates it to miss_send_len).
    let checked = stdout.replace("(***total_len != data_len***)", "");
    for bad in ["decode error", "***", "|WARN|", "|ERR|"] {
        assert!(
            !checked.contains(bad) && !stderr.contains(bad),
            "ovs-ofctl reported {bad:?} for {}:\n{stdout}{stderr}",
            hex::encode(wire)
        );
    }
    stdout
}

/// `ovs-ofctl -O OpenFlow10 parse-flow TEXT`: the text after "(xid=0x1): " of the flow_mod
/// it builds, after checking that it accepted the text.
fn parse_flow(text: &str) -> String {
    let out = Command::new("ovs-ofctl")
        .args(["-O", "OpenFlow10", "parse-flow", text])
        .output()
        .expect("ovs-ofctl is required (openvswitch-common)");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        out.status.success() && stderr.is_empty(),
        "ovs-ofctl refused {text:?}: {stdout}{stderr}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("OFPT_FLOW_MOD"))
        .unwrap_or_else(|| panic!("no flow_mod for {text:?}: {stdout}"));
    first_line_rest(line).to_owned()
}

fn print_msg(msg: &Message, xid: u32) -> String {
    ofp_print(&msg.to_bytes(xid).unwrap())
}

/// The text after "(xid=0x..): " on the first line.
fn first_line_rest(text: &str) -> &str {
    let first = text.lines().next().unwrap();
    first.split_once("): ").map_or("", |(_, r)| r)
}

fn has(text: &str, want: &str) {
    assert!(text.contains(want), "expected {want:?} in:\n{text}");
}

fn arp_request() -> Bytes {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 1, 0, 1]);
    f.extend_from_slice(&[0, 0, 0, 0, 0, 0, 10, 1, 0, 2]);
    Bytes::from(f)
}

fn port(no: u16, name: &str) -> PhyPort {
    PhyPort {
        port_no: PortNo(no),
        hw_addr: MacAddr([0x0a, 0x80, 0xf0, 0xe0, 0x73, 0x21]),
        name: name.to_owned(),
        config: PortConfig::NO_FLOOD,
        state: PortState {
            link_down: true,
            stp: StpState::Listen,
            other_bits: 0,
        },
        curr: PortFeatures::F_10GB_FD | PortFeatures::COPPER,
        advertised: PortFeatures::empty(),
        supported: PortFeatures::empty(),
        peer: PortFeatures::empty(),
    }
}

fn tcp_match() -> Match {
    Match {
        in_port: Some(PortNo(1)),
        dl_type: Some(0x0800),
        nw_proto: Some(6),
        nw_dst: Ipv4Match::exact(Ipv4Addr::new(203, 0, 113, 10)),
        tp_dst: Some(22),
        ..Match::any()
    }
}

/// Every action type, with values OVS accepts.
fn every_action() -> Vec<Action> {
    vec![
        Action::output(PortNo(2)),
        Action::to_controller(128),
        Action::output(PortNo::IN_PORT),
        Action::output(PortNo::NORMAL),
        Action::output(PortNo::FLOOD),
        Action::output(PortNo::ALL),
        Action::output(PortNo::LOCAL),
        Action::SetVlanVid(20),
        Action::SetVlanPcp(5),
        Action::StripVlan,
        Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 0xff])),
        Action::SetDlDst(MacAddr([2, 0, 0, 0, 0, 2])),
        Action::SetNwSrc(Ipv4Addr::new(203, 0, 113, 11)),
        Action::SetNwDst(Ipv4Addr::new(10, 1, 0, 2)),
        Action::SetNwTos(32),
        Action::SetTpSrc(1000),
        Action::SetTpDst(2000),
        Action::Enqueue {
            port: PortNo(1),
            queue_id: 7,
        },
    ]
}

#[test]
fn every_message_type_is_decoded_by_ovs_with_our_values() {
    // 0 HELLO
    let text = print_msg(&Message::Hello(Bytes::new()), 0x10);
    has(&text, "OFPT_HELLO (xid=0x10):");

    // 1 ERROR, carrying the start of an echo request.
    let request = Message::EchoRequest(Bytes::from_static(b"ping"))
        .to_bytes(0x11)
        .unwrap();
    let error = ErrorMsg::for_request(ErrorType::BadRequest(BadRequestCode::BadLen), &request);
    let text = print_msg(&Message::Error(error), 0x11);
    has(&text, "OFPT_ERROR (xid=0x11): OFPBRC_BAD_LEN");
    has(&text, "OFPT_ECHO_REQUEST (xid=0x11): 4 bytes of payload");

    // 2, 3 ECHO
    let text = print_msg(&Message::EchoRequest(Bytes::from_static(b"hello")), 0x12);
    has(&text, "OFPT_ECHO_REQUEST (xid=0x12): 5 bytes of payload");
    let text = print_msg(&Message::EchoReply(Bytes::from_static(b"hello!")), 0x13);
    has(&text, "OFPT_ECHO_REPLY (xid=0x13): 6 bytes of payload");

    // 4 VENDOR: a Nicira role request (subtype 10, role 1), which OVS knows.
    let mut data = 10u32.to_be_bytes().to_vec();
    data.extend_from_slice(&1u32.to_be_bytes());
    let vendor = VendorMsg {
        vendor: 0x2320,
        data: Bytes::from(data),
    };
    let text = print_msg(&Message::Vendor(vendor), 0x14);
    has(&text, "NXT_ROLE_REQUEST (xid=0x14): role=primary");

    // 5, 7, 18, 19: header only.
    for (msg, name) in [
        (Message::FeaturesRequest, "OFPT_FEATURES_REQUEST"),
        (Message::GetConfigRequest, "OFPT_GET_CONFIG_REQUEST"),
        (Message::BarrierRequest, "OFPT_BARRIER_REQUEST"),
        (Message::BarrierReply, "OFPT_BARRIER_REPLY"),
    ] {
        let text = print_msg(&msg, 0x15);
        has(&text, &format!("{name} (xid=0x15):"));
    }

    // 6 FEATURES_REPLY
    let features = SwitchFeatures {
        datapath_id: 0xc1,
        n_buffers: 256,
        n_tables: 254,
        capabilities: Capabilities::FLOW_STATS | Capabilities::ARP_MATCH_IP,
        actions: ActionBitmap::OUTPUT | ActionBitmap::ENQUEUE | ActionBitmap::SET_NW_TOS,
        ports: vec![port(1, "veth7")],
    };
    let text = print_msg(&Message::FeaturesReply(features), 0x16);
    has(
        &text,
        "OFPT_FEATURES_REPLY (xid=0x16): dpid:00000000000000c1",
    );
    has(&text, "n_tables:254, n_buffers:256");
    has(&text, "capabilities: FLOW_STATS ARP_MATCH_IP");
    has(&text, "actions: output enqueue mod_nw_tos");
    has(&text, " 1(veth7): addr:0a:80:f0:e0:73:21");
    has(&text, "config:     NO_FLOOD");
    has(&text, "state:      LINK_DOWN");
    has(&text, "current:    10GB-FD COPPER");

    // 8, 9 CONFIG
    for (frag, name) in [
        (FragHandling::Normal, "normal"),
        (FragHandling::Drop, "drop"),
        (FragHandling::Reasm, "reassemble"),
        (FragHandling::NxMatch, "nx-match"),
    ] {
        let config = SwitchConfig {
            flags: ConfigFlags {
                frag,
                other_bits: 0,
            },
            miss_send_len: 200,
        };
        let text = print_msg(&Message::GetConfigReply(config), 0x17);
        has(
            &text,
            &format!("OFPT_GET_CONFIG_REPLY (xid=0x17): frags={name} miss_send_len=200"),
        );
        let text = print_msg(&Message::SetConfig(config), 0x18);
        has(
            &text,
            &format!("OFPT_SET_CONFIG (xid=0x18): frags={name} miss_send_len=200"),
        );
    }

    // 10 PACKET_IN, buffered and not.
    let frame = arp_request();
    let pi = PacketIn {
        buffer_id: NO_BUFFER,
        total_len: 42,
        in_port: PortNo(3),
        reason: PacketInReason::NoMatch,
        data: frame.clone(),
    };
    let text = print_msg(&Message::PacketIn(pi.clone()), 0x19);
    assert_eq!(first_line_rest(&text), pi.to_string());
    has(
        &text,
        "OFPT_PACKET_IN (xid=0x19): total_len=42 in_port=3 (via no_match) data_len=42 (unbuffered)",
    );
    has(
        &text,
        "arp,vlan_tci=0x0000,dl_src=02:00:00:00:00:01,dl_dst=ff:ff:ff:ff:ff:ff,",
    );
    has(&text, "arp_spa=10.1.0.1,arp_tpa=10.1.0.2,arp_op=1");
    let buffered = PacketIn {
        buffer_id: 0x55,
        reason: PacketInReason::Action,
        ..pi
    };
    let text = print_msg(&Message::PacketIn(buffered.clone()), 0x19);
    assert_eq!(first_line_rest(&text), buffered.to_string());
    has(
        &text,
        "total_len=42 in_port=3 (via action) data_len=42 buffer=0x00000055",
    );

    // 11 FLOW_REMOVED: our text exactly.
    let fr = FlowRemoved {
        r#match: tcp_match(),
        cookie: 0xabc,
        priority: 500,
        reason: FlowRemovedReason::HardTimeout,
        duration_sec: 2,
        duration_nsec: 60_000_000,
        idle_timeout: 2,
        packet_count: 7,
        byte_count: 700,
    };
    let text = print_msg(&Message::FlowRemoved(fr.clone()), 0x1a);
    assert_eq!(first_line_rest(&text), fr.to_string());

    // 12 PORT_STATUS
    for (reason, word) in [
        (PortReason::Add, "ADD"),
        (PortReason::Delete, "DEL"),
        (PortReason::Modify, "MOD"),
    ] {
        let ps = PortStatus {
            reason,
            desc: port(7, "eth7"),
        };
        let text = print_msg(&Message::PortStatus(ps), 0x1b);
        has(
            &text,
            &format!("OFPT_PORT_STATUS (xid=0x1b): {word}: 7(eth7): addr:0a:80:f0:e0:73:21"),
        );
        has(&text, "config:     NO_FLOOD");
    }

    // 13 PACKET_OUT with every action.
    let po = PacketOut {
        buffer_id: NO_BUFFER,
        in_port: PortNo::CONTROLLER,
        actions: every_action().into(),
        data: frame,
    };
    let text = print_msg(&Message::PacketOut(po.clone()), 0x1c);
    assert_eq!(
        first_line_rest(&text),
        format!("in_port=CONTROLLER actions={} data_len=42", po.actions)
    );
    assert_eq!(first_line_rest(&text), po.to_string());

    // 14 FLOW_MOD with every action: our text exactly.
    let mut fm = FlowMod::add(tcp_match(), 200, every_action());
    fm.cookie = 0x1234;
    fm.idle_timeout = 10;
    fm.hard_timeout = 20;
    fm.flags = FlowModFlags::SEND_FLOW_REM | FlowModFlags::CHECK_OVERLAP;
    let text = print_msg(&Message::FlowMod(fm.clone()), 0x1d);
    assert_eq!(first_line_rest(&text), fm.to_string());

    // 15 PORT_MOD
    let pm = PortMod {
        port_no: PortNo(2),
        hw_addr: MacAddr([0xf2, 0x3b, 0x71, 0x18, 0x25, 0x67]),
        config: PortConfig::NO_FLOOD,
        mask: PortConfig::NO_FLOOD | PortConfig::PORT_DOWN,
        advertise: PortFeatures::empty(),
    };
    let text = print_msg(&Message::PortMod(pm), 0x1e);
    has(
        &text,
        "OFPT_PORT_MOD (xid=0x1e): port: 2: addr:f2:3b:71:18:25:67",
    );
    has(&text, "config: NO_FLOOD");
    has(&text, "mask:   PORT_DOWN NO_FLOOD");
    has(&text, "advertise: UNCHANGED");

    // 16 STATS_REQUEST, every standard body.
    let requests = [
        (StatsRequestBody::Desc, "OFPST_DESC request (xid=0x1f):"),
        (StatsRequestBody::Table, "OFPST_TABLE request (xid=0x1f):"),
        (
            StatsRequestBody::Flow(FlowStatsRequest {
                r#match: Match {
                    in_port: Some(PortNo(1)),
                    ..Match::any()
                },
                table_id: 3,
                out_port: PortNo(5),
            }),
            "OFPST_FLOW request (xid=0x1f): table=3 out_port=5 in_port=1",
        ),
        (
            StatsRequestBody::Aggregate(FlowStatsRequest::all()),
            "OFPST_AGGREGATE request (xid=0x1f):",
        ),
        (
            StatsRequestBody::Port(PortStatsRequest { port_no: PortNo(4) }),
            "OFPST_PORT request (xid=0x1f): port_no=4",
        ),
        (
            StatsRequestBody::Queue(QueueStatsRequest {
                port_no: PortNo(1),
                queue_id: 2,
            }),
            "OFPST_QUEUE request (xid=0x1f): port=1 queue=2",
        ),
    ];
    for (body, want) in requests {
        let text = print_msg(&Message::StatsRequest(StatsRequest::new(body)), 0x1f);
        has(&text, want);
    }

    // 17 STATS_REPLY, every standard body.
    let desc = DescStats {
        mfr_desc: "Example Networks".to_owned(),
        hw_desc: "hw 1".to_owned(),
        sw_desc: "sw 2".to_owned(),
        serial_num: "S3".to_owned(),
        dp_desc: "br0".to_owned(),
    };
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Desc(desc))),
        0x20,
    );
    for want in [
        "Manufacturer: Example Networks",
        "Hardware: hw 1",
        "Software: sw 2",
        "Serial Num: S3",
        "DP Description: br0",
    ] {
        has(&text, want);
    }
    let agg = AggregateStats {
        packet_count: 19,
        byte_count: 1517,
        flow_count: 11,
    };
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Aggregate(agg))),
        0x20,
    );
    has(
        &text,
        "OFPST_AGGREGATE reply (xid=0x20): packet_count=19 byte_count=1517 flow_count=11",
    );
    let tables = vec![TableStats {
        table_id: 0,
        name: "classifier".to_owned(),
        wildcards: 0x3f_ffff,
        max_entries: 1000,
        active_count: 5,
        lookup_count: 100,
        matched_count: 90,
    }];
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Table(tables))),
        0x20,
    );
    has(&text, "table 0 (\"classifier\"):");
    has(&text, "active=5, lookup=100, matched=90");
    has(&text, "max_entries=1000");
    let ports = vec![PortStats {
        port_no: PortNo(1),
        rx_packets: 11,
        tx_packets: 17,
        rx_bytes: 873,
        tx_bytes: 1390,
        rx_dropped: 1,
        tx_dropped: 20,
        rx_errors: 2,
        tx_errors: 3,
        rx_frame_err: 4,
        rx_over_err: 5,
        rx_crc_err: 6,
        collisions: 7,
    }];
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Port(ports))),
        0x20,
    );
    has(&text, "OFPST_PORT reply (xid=0x20): 1 ports");
    has(
        &text,
        "port  1: rx pkts=11, bytes=873, drop=1, errs=2, frame=4, over=5, crc=6",
    );
    has(&text, "tx pkts=17, bytes=1390, drop=20, errs=3, coll=7");
    let queues = vec![QueueStats {
        port_no: PortNo(1),
        queue_id: 2,
        tx_bytes: 3,
        tx_packets: 4,
        tx_errors: 5,
    }];
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Queue(queues))),
        0x20,
    );
    has(&text, "OFPST_QUEUE reply (xid=0x20): 1 queues");
    has(&text, "port 1 queue 2: bytes=3, pkts=4, errors=5");
    let flow = FlowStats {
        table_id: 0,
        r#match: tcp_match(),
        duration_sec: 1,
        duration_nsec: 500_000_000,
        priority: 200,
        idle_timeout: 10,
        hard_timeout: 0,
        cookie: 0x1234,
        packet_count: 3,
        byte_count: 210,
        actions: every_action().into(),
    };
    let text = print_msg(
        &Message::StatsReply(StatsReply::new(StatsReplyBody::Flow(vec![flow.clone()]))),
        0x20,
    );
    assert_eq!(text.lines().nth(1).unwrap().trim(), flow.to_string());

    // 20, 21 QUEUE_GET_CONFIG
    let text = print_msg(
        &Message::QueueGetConfigRequest(QueueGetConfigRequest { port: PortNo(5) }),
        0x21,
    );
    has(&text, "OFPT_QUEUE_GET_CONFIG_REQUEST (xid=0x21): port=5");
    let reply = QueueGetConfigReply {
        port: PortNo(1),
        queues: vec![PacketQueue {
            queue_id: 7,
            properties: vec![QueueProperty::MinRate(500)],
        }],
    };
    let text = print_msg(&Message::QueueGetConfigReply(reply), 0x22);
    has(&text, "OFPT_QUEUE_GET_CONFIG_REPLY (xid=0x22): port=1");
    has(&text, "queue 7: min_rate:50.0%");
}

#[test]
fn every_action_type_alone_prints_as_we_print_it() {
    let mut actions = every_action();
    actions.push(Action::output(PortNo::TABLE));
    for action in actions {
        // TABLE is only valid in a packet_out.
        let po = PacketOut {
            buffer_id: NO_BUFFER,
            in_port: PortNo(1),
            actions: vec![action.clone()].into(),
            data: Bytes::new(),
        };
        let text = print_msg(&Message::PacketOut(po), 1);
        assert_eq!(
            first_line_rest(&text),
            format!("in_port=1 actions={action} data_len=0"),
            "{action:?}"
        );
        if action != Action::output(PortNo::TABLE) {
            let fm = FlowMod::add(Match::any(), 1, vec![action.clone()]);
            let text = print_msg(&Message::FlowMod(fm.clone()), 1);
            assert_eq!(first_line_rest(&text), fm.to_string(), "{action:?}");
        }
    }
}

/// The vendor action type (0xffff): a Nicira resubmit (subtype 1, port 5), which OVS knows.
#[test]
fn a_vendor_action_reaches_ovs_intact() {
    let resubmit = Action::Vendor {
        vendor: 0x2320,
        data: Bytes::from_static(&[0, 1, 0, 5, 0, 0, 0, 0]),
    };
    let fm = FlowMod::add(
        Match::any(),
        1,
        vec![resubmit.clone(), Action::output(PortNo(2))],
    );
    let text = print_msg(&Message::FlowMod(fm), 6);
    assert_eq!(
        first_line_rest(&text),
        "ADD priority=1 actions=resubmit:5,output:2"
    );
    assert_eq!(resubmit.to_string(), "vendor:0x2320:0001000500000000");
}

#[test]
fn match_shapes_print_as_we_print_them() {
    let ip = |f: &dyn Fn(&mut Match)| {
        let mut m = Match {
            dl_type: Some(0x0800),
            ..Match::any()
        };
        f(&mut m);
        m
    };
    let shapes = vec![
        Match::any(),
        Match {
            dl_vlan: VlanMatch::Untagged,
            ..Match::any()
        },
        Match {
            dl_vlan: VlanMatch::Vid(10),
            dl_vlan_pcp: Some(3),
            ..Match::any()
        },
        Match {
            dl_type: Some(0x88cc),
            dl_src: Some(MacAddr([1, 2, 3, 4, 5, 6])),
            ..Match::any()
        },
        ip(&|m| m.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 10, 1, 0), 24)),
        ip(&|m| m.nw_dst = Ipv4Match::from_raw(Ipv4Addr::new(129, 2, 3, 5), 1)),
        ip(&|m| m.nw_tos = Some(32)),
        ip(&|m| m.nw_proto = Some(47)),
        ip(&|m| {
            m.nw_proto = Some(17);
            m.tp_src = Some(53);
            m.tp_dst = Some(5353);
        }),
        ip(&|m| {
            m.nw_proto = Some(132);
            m.tp_dst = Some(9);
        }),
        {
            let mut m = Match::any();
            m.set_icmp(Some(8), Some(0));
            m
        },
        {
            let mut m = Match::any();
            m.set_arp_opcode(2);
            m.nw_src = Ipv4Match::exact(Ipv4Addr::new(10, 1, 0, 1));
            m.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(10, 1, 0, 0), 16);
            m
        },
        Match {
            dl_type: Some(0x86dd),
            nw_proto: Some(58),
            tp_src: Some(135),
            ..Match::any()
        },
        Match {
            in_port: Some(PortNo::LOCAL),
            ..Match::any()
        },
    ];
    for m in shapes {
        for priority in [0, 100, 0x8000, 65535] {
            let fm = FlowMod::add(m, priority, Vec::new());
            let text = print_msg(&Message::FlowMod(fm.clone()), 6);
            assert_eq!(first_line_rest(&text), fm.to_string(), "{m:?}");
        }
    }
}

fn ovs_flow_removed() -> impl Strategy<Value = FlowRemoved> {
    (
        strategies::ovs_match(),
        any::<u64>().prop_filter("OVS hides an all-ones cookie", |c| *c != u64::MAX),
        any::<u16>(),
        0u8..=2,
        (
            any::<u32>(),
            prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                0u32..1_000_000_000
            ],
        ),
        (any::<u16>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(m, cookie, priority, reason, (sec, nsec), (idle, pkts, bytes))| FlowRemoved {
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

fn ovs_flow_stats() -> impl Strategy<Value = FlowStats> {
    (
        any::<u8>().prop_filter("OVS prints table 255 as 'all'", |t| *t != 0xff),
        strategies::ovs_match(),
        (
            any::<u32>(),
            prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                0u32..1_000_000_000
            ],
        ),
        (any::<u16>(), any::<u16>(), any::<u16>()),
        (any::<u64>(), any::<u64>(), any::<u64>()),
        proptest::collection::vec(strategies::ovs_action(), 0..4),
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random flow_mods that OVS accepts print exactly as our `Display` prints them.
    #[test]
    fn random_flow_mods_print_as_ovs_prints_them(fm in strategies::ovs_flow_mod()) {
        let text = print_msg(&Message::FlowMod(fm.clone()), 6);
        prop_assert_eq!(first_line_rest(&text), fm.to_string());
    }

    /// Random flow stats replies: each line of OVS's print is our `Display` of the entry.
    #[test]
    fn random_flow_stats_print_as_ovs_prints_them(flows in proptest::collection::vec(ovs_flow_stats(), 1..4)) {
        let msg = Message::StatsReply(StatsReply::new(StatsReplyBody::Flow(flows.clone())));
        let text = print_msg(&msg, 2);
        let lines: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
        let ours: Vec<String> = flows.iter().map(ToString::to_string).collect();
        prop_assert_eq!(lines, ours);
    }

    /// Our text is valid `ovs-ofctl` input that means the same flow: `ovs-ofctl parse-flow`
    /// of "DisplayFlow actions=DisplayActions" builds the flow_mod we print.
    #[test]
    fn our_flow_text_is_ovs_ofctl_input_for_the_same_flow(fm in strategies::ovs_flow_mod()) {
        let actions: Vec<Action> = fm
            .actions
            .into_iter()
            .filter(|a| *a != Action::output(PortNo::TABLE))
            .collect();
        let add = FlowMod::add(fm.r#match, fm.priority, actions);
        let text = format!(
            "{} actions={}",
            DisplayFlow::new(&add.r#match, add.priority),
            add.actions
        );
        prop_assert_eq!(parse_flow(text.trim_start()), add.to_string());
    }

    /// Random packet_ins print exactly as our `Display` prints them.
    #[test]
    fn random_packet_ins_print_as_ovs_prints_them(
        buffer_id in prop_oneof![Just(NO_BUFFER), any::<u32>()],
        total_len in any::<u16>(),
        in_port in strategies::port(),
        // Open vSwitch prints an empty reason for 6 and 7 (its internal ones).
        reason in any::<u8>().prop_filter("OVS prints nothing for 6 and 7", |r| !matches!(r, 6 | 7)),
        len in 0usize..80,
    ) {
        let pi = PacketIn {
            buffer_id,
            total_len,
            in_port,
            reason: PacketInReason::from_u8(reason),
            data: Bytes::from(vec![0; len]),
        };
        let text = print_msg(&Message::PacketIn(pi.clone()), 0);
        prop_assert_eq!(first_line_rest(&text), pi.to_string());
    }

    /// Random packet_outs print exactly as our `Display` prints them.
    #[test]
    fn random_packet_outs_print_as_ovs_prints_them(
        buffer_id in prop_oneof![Just(NO_BUFFER), any::<u32>()],
        in_port in prop_oneof![(1u16..0xff00).prop_map(PortNo), Just(PortNo::LOCAL), Just(PortNo::CONTROLLER), Just(PortNo::NONE)],
        actions in proptest::collection::vec(strategies::ovs_action(), 0..5),
        len in 0usize..80,
    ) {
        let po = PacketOut { buffer_id, in_port, actions: actions.into(), data: Bytes::from(vec![0; len]) };
        let text = print_msg(&Message::PacketOut(po.clone()), 0);
        prop_assert_eq!(first_line_rest(&text), po.to_string());
    }

    /// Random flow_removed messages print exactly as our `Display` prints them.
    #[test]
    fn random_flow_removed_print_as_ovs_prints_them(fr in ovs_flow_removed()) {
        let text = print_msg(&Message::FlowRemoved(fr.clone()), 0);
        prop_assert_eq!(first_line_rest(&text), fr.to_string());
    }
}

#[test]
fn the_command_words_are_ovs_words() {
    for (command, word) in [
        (FlowModCommand::Add, "ADD"),
        (FlowModCommand::Modify, "MOD"),
        (FlowModCommand::ModifyStrict, "MOD_STRICT"),
        (FlowModCommand::Delete, "DEL"),
        (FlowModCommand::DeleteStrict, "DEL_STRICT"),
    ] {
        let fm = FlowMod {
            command,
            ..FlowMod::add(tcp_match(), 7, vec![Action::output(PortNo(1))])
        };
        let text = print_msg(&Message::FlowMod(fm.clone()), 6);
        assert!(first_line_rest(&text).starts_with(word));
        assert_eq!(first_line_rest(&text), fm.to_string());
    }
}
