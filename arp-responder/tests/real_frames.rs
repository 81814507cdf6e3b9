//! The ARP frames of a real Open vSwitch 3.1 conversation (see tests/data/README.md): they parse, and
//! our replies to them are checked field by field, and against the reply the real Linux host sent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;

use arp_responder::{
    write_reply, ArpFrame, ArpKind, Binding, Decision, Ignored, Location, MacAddr, Operation,
    ResponderTable, Scope, VlanTag,
};

const REQUEST: &str = include_str!("data/ovs-3.1-packet-in-arp-request.hex");
const REPLY: &str = include_str!("data/ovs-3.1-packet-in-arp-reply.hex");

const H1: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 1]);
const H2: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 2]);
const IP1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const IP2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
/// The datapath id of the bridge in the fixture (from its FEATURES_REPLY).
const DPID: u64 = 0xc1;

fn bytes(hex_line: &str) -> Vec<u8> {
    hex::decode(hex_line.trim()).unwrap()
}

#[test]
fn real_request_parses_field_by_field() {
    let req = bytes(REQUEST);
    assert_eq!(req.len(), 42);
    let f = ArpFrame::parse(&req).unwrap();
    assert_eq!(f.eth_dst, MacAddr::BROADCAST);
    assert_eq!(f.eth_src, H1);
    assert_eq!(f.vlan, None);
    assert_eq!(f.operation, Operation::Request);
    assert_eq!(f.sender_mac, H1);
    assert_eq!(f.sender_ip, IP1);
    assert_eq!(f.target_mac, MacAddr::ZERO);
    assert_eq!(f.target_ip, IP2);
    assert_eq!(f.kind(), ArpKind::Request);
}

#[test]
fn real_reply_parses_field_by_field() {
    let f = ArpFrame::parse(&bytes(REPLY)).unwrap();
    assert_eq!(f.eth_dst, H1);
    assert_eq!(f.eth_src, H2);
    assert_eq!(f.vlan, None);
    assert_eq!(f.operation, Operation::Reply);
    assert_eq!((f.sender_mac, f.sender_ip), (H2, IP2));
    assert_eq!((f.target_mac, f.target_ip), (H1, IP1));
    assert_eq!(f.kind(), ArpKind::Reply);
}

#[test]
fn our_reply_to_the_real_request_is_what_the_real_host_sent() {
    let mut buf = [0u8; 64];
    let n = write_reply(&bytes(REQUEST), H2, &mut buf).unwrap();
    assert_eq!(n, 60);
    // Linux handed the switch the same 42 bytes; we add the zero padding a NIC adds.
    assert_eq!(&buf[..42], &bytes(REPLY)[..]);
    assert_eq!(&buf[42..60], &[0u8; 18]);
}

#[test]
fn our_reply_to_the_real_request_field_by_field() {
    let eip_mac: MacAddr = "02:ee:00:00:00:02".parse().unwrap();
    let mut table = ResponderTable::new();
    table.insert(
        Scope::Port {
            datapath: DPID,
            port: 1,
        },
        IP2,
        eip_mac,
    );
    let Decision::Reply(reply) = table.decide(&bytes(REQUEST), Location::new(DPID, 1)) else {
        panic!("the request for 10.1.0.2 on port 1 must be answered");
    };
    let mut buf = [0u8; 64];
    let n = reply.write(&mut buf).unwrap();
    let r = ArpFrame::parse(&buf[..n]).unwrap();
    assert_eq!(r.eth_dst, H1, "to the requester");
    assert_eq!(r.eth_src, eip_mac, "from the answered MAC");
    assert_eq!(r.vlan, None);
    assert_eq!(r.operation, Operation::Reply);
    assert_eq!(r.sender_mac, eip_mac);
    assert_eq!(r.sender_ip, IP2, "the requested address");
    assert_eq!(r.target_mac, H1);
    assert_eq!(r.target_ip, IP1);
    // Raw bytes: EtherType, fixed ARP fields, opcode.
    assert_eq!(&buf[12..22], &[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    // On another port the address is not ours.
    assert_eq!(
        table.decide(&bytes(REQUEST), Location::new(DPID, 2)),
        Decision::Ignore(Ignored::NotOurs(IP2))
    );
    // The real reply is never answered.
    assert_eq!(
        table.decide(&bytes(REPLY), Location::new(DPID, 1)),
        Decision::Ignore(Ignored::NotARequest(ArpKind::Reply))
    );
}

#[test]
fn real_request_with_a_vlan_tag_gets_a_tagged_reply() {
    let untagged = bytes(REQUEST);
    let mut tagged = untagged[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x2a]); // pcp 1, vid 42
    tagged.extend_from_slice(&untagged[12..]);
    let mut buf = [0u8; 64];
    let n = write_reply(&tagged, H2, &mut buf).unwrap();
    assert_eq!(n, 64);
    let r = ArpFrame::parse(&buf[..n]).unwrap();
    assert_eq!(r.vlan, Some(VlanTag::new(42, 1, false).unwrap()));
    // Without the tag, the reply is the real host's reply plus padding.
    let mut popped = buf[..12].to_vec();
    popped.extend_from_slice(&buf[16..n]);
    assert_eq!(popped.len(), 60);
    assert_eq!(&popped[..42], &bytes(REPLY)[..]);
}

#[test]
fn real_frames_pass_the_anti_spoofing_check_of_their_ports() {
    let port1 = Binding { mac: H1, ip: IP1 };
    let port2 = Binding { mac: H2, ip: IP2 };
    let req = ArpFrame::parse(&bytes(REQUEST)).unwrap();
    let rep = ArpFrame::parse(&bytes(REPLY)).unwrap();
    assert_eq!(port1.check(&req), Ok(()));
    assert_eq!(port2.check(&rep), Ok(()));
    // The same frames arriving on the other port are spoofed on every sender field.
    let e = port2.check(&req).unwrap_err();
    assert!(e.eth_src.is_some() && e.sender_mac.is_some() && e.sender_ip.is_some());
}

#[test]
fn every_truncation_of_the_real_frames_is_a_typed_error() {
    for frame in [bytes(REQUEST), bytes(REPLY)] {
        for len in 0..frame.len() {
            let err = ArpFrame::parse(&frame[..len]).unwrap_err();
            assert!(
                matches!(err, arp_responder::ParseError::Truncated { .. }),
                "{len}: {err}"
            );
        }
    }
}
