//! Property tests: every valid request gets a reply that parses, swaps the right fields and echoes
//! the tag; arbitrary bytes never panic; the table agrees with a naive model.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::Ipv4Addr;

use arp_responder::{
    write_reply, ArpFrame, Decision, Ignored, Location, MacAddr, Operation, ParseError,
    ResponderTable, Scope, VlanTag,
};
use proptest::prelude::*;

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn ipv4() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// A request written byte by byte here, independently of the crate's writer.
#[derive(Debug, Clone)]
struct Request {
    eth_dst: MacAddr,
    eth_src: MacAddr,
    tci: Option<u16>,
    sha: MacAddr,
    spa: Ipv4Addr,
    tha: MacAddr,
    tpa: Ipv4Addr,
    trailer: Vec<u8>,
}

impl Request {
    fn bytes(&self) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&self.eth_dst.0);
        b.extend_from_slice(&self.eth_src.0);
        if let Some(tci) = self.tci {
            b.extend_from_slice(&[0x81, 0x00]);
            b.extend_from_slice(&tci.to_be_bytes());
        }
        b.extend_from_slice(&[0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01]);
        b.extend_from_slice(&self.sha.0);
        b.extend_from_slice(&self.spa.octets());
        b.extend_from_slice(&self.tha.0);
        b.extend_from_slice(&self.tpa.octets());
        b.extend_from_slice(&self.trailer);
        b
    }
}

/// An address, `0.0.0.0` one time in eight.
fn ipv4_or_unspecified() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![7 => ipv4(), 1 => Just(Ipv4Addr::UNSPECIFIED)]
}

/// The sender IP: any address, `0.0.0.0` (an RFC 5227 probe) or the target IP (a gratuitous
/// announcement), each with a real probability; `None` stands for the target IP.
fn sender_ip() -> impl Strategy<Value = Option<Ipv4Addr>> {
    prop_oneof![
        4 => ipv4().prop_map(Some),
        2 => Just(Some(Ipv4Addr::UNSPECIFIED)),
        1 => Just(None),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        mac(),
        mac(),
        proptest::option::of(any::<u16>()),
        mac(),
        sender_ip(),
        mac(),
        ipv4_or_unspecified(),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(eth_dst, eth_src, tci, sha, spa, tha, tpa, trailer)| Request {
                eth_dst,
                eth_src,
                tci,
                sha,
                spa: spa.unwrap_or(tpa),
                tha,
                tpa,
                trailer,
            },
        )
}

/// The MAC the table answers with: any MAC, or (one time in three) the requester's own.
#[derive(Debug, Clone, Copy)]
enum AnswerMac {
    Other(MacAddr),
    Requesters,
}

fn answer_mac() -> impl Strategy<Value = AnswerMac> {
    prop_oneof![2 => mac().prop_map(AnswerMac::Other), 1 => Just(AnswerMac::Requesters)]
}

/// What `decide` must conclude, computed here from the policies as the README states them.
#[derive(Debug, PartialEq)]
enum Expected {
    Reply,
    Announcement { conflict: bool },
    BadSender,
    NotOurs,
    RequesterIsOwner,
}

fn expected(req: &Request, ours: bool, answer: MacAddr) -> Expected {
    let probe = req.spa.is_unspecified();
    if !probe && req.spa == req.tpa {
        return Expected::Announcement {
            conflict: ours && answer != req.sha,
        };
    }
    let sender_ok = req.sha.is_unicast()
        && !req.spa.is_multicast()
        && !req.spa.is_broadcast()
        && !req.spa.is_loopback();
    if !sender_ok {
        Expected::BadSender
    } else if !ours || req.tpa.is_unspecified() {
        Expected::NotOurs
    } else if answer == req.sha {
        Expected::RequesterIsOwner
    } else {
        Expected::Reply
    }
}

/// Reads a big-endian u16 at `at`.
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn every_request_gets_a_correct_reply(req in request(), answer in mac()) {
        let wire = req.bytes();
        let parsed = ArpFrame::parse(&wire).unwrap();
        prop_assert_eq!(parsed.operation, Operation::Request);
        prop_assert_eq!(parsed.vlan.map(VlanTag::tci), req.tci);

        let mut buf = [0xa5u8; 64];
        let n = write_reply(&wire, answer, &mut buf).unwrap();
        let tagged = req.tci.is_some();
        prop_assert_eq!(n, if tagged { 64 } else { 60 });

        // Raw bytes, read here without the crate.
        let b = &buf[..n];
        prop_assert_eq!(&b[0..6], &req.sha.0[..], "Ethernet destination = requester");
        prop_assert_eq!(&b[6..12], &answer.0[..], "Ethernet source = answered MAC");
        let arp = if let Some(tci) = req.tci {
            prop_assert_eq!(be16(b, 12), 0x8100);
            prop_assert_eq!(be16(b, 14), tci, "tag echoed bit for bit");
            18
        } else {
            14
        };
        prop_assert_eq!(be16(b, arp - 2), 0x0806);
        prop_assert_eq!(&b[arp..arp + 8], &[0, 1, 8, 0, 6, 4, 0, 2][..]);
        prop_assert_eq!(&b[arp + 8..arp + 14], &answer.0[..], "sha = answered MAC");
        prop_assert_eq!(&b[arp + 14..arp + 18], &req.tpa.octets()[..], "spa = requested IP");
        prop_assert_eq!(&b[arp + 18..arp + 24], &req.sha.0[..], "tha = requester MAC");
        prop_assert_eq!(&b[arp + 24..arp + 28], &req.spa.octets()[..], "tpa = requester IP");
        prop_assert!(b[arp + 28..].iter().all(|&x| x == 0), "zero padding");

        // And through the parser.
        let r = ArpFrame::parse(b).unwrap();
        prop_assert_eq!(r, parsed.reply(answer));
        prop_assert_eq!(r.operation, Operation::Reply);
    }

    #[test]
    fn too_small_buffers_are_refused(req in request(), answer in mac(), len in 0usize..64) {
        let mut buf = vec![0x5au8; len];
        let needed = if req.tci.is_some() { 64 } else { 60 };
        let res = write_reply(&req.bytes(), answer, &mut buf);
        if len < needed {
            prop_assert!(res.is_err());
            prop_assert!(buf.iter().all(|&x| x == 0x5a), "nothing written");
        } else {
            prop_assert_eq!(res.unwrap(), needed);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        if let Ok(f) = ArpFrame::parse(&bytes) {
            // Whatever parses re-serialises to something that parses back the same.
            let mut buf = [0u8; 64];
            let n = f.write(&mut buf).unwrap();
            prop_assert_eq!(ArpFrame::parse(&buf[..n]).unwrap(), f);
        }
        let table = ResponderTable::new();
        let _ = table.decide(&bytes, Location::new(1, 1));
    }

    #[test]
    fn arp_shaped_garbage_never_panics(
        tagged in any::<bool>(),
        body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // Force the EtherType (and the tag) so the ARP checks run on random bodies.
        let mut bytes = vec![0xffu8; 12];
        if tagged {
            bytes.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        bytes.extend_from_slice(&[0x08, 0x06]);
        bytes.extend_from_slice(&body);
        let arp_at = bytes.len() - body.len();
        match ArpFrame::parse(&bytes) {
            Ok(f) => {
                prop_assert!(body.len() >= 28);
                prop_assert_eq!(&body[..6], &[0, 1, 8, 0, 6, 4][..]);
                prop_assert_eq!(f.operation.code(), be16(&body, 6));
            }
            Err(ParseError::Truncated { offset, needed, found, .. }) => {
                prop_assert_eq!((offset, needed, found), (arp_at, 28, body.len()));
            }
            Err(ParseError::Field { offset, expected, found, .. }) => {
                prop_assert!(offset >= arp_at && offset < arp_at + 6);
                prop_assert_ne!(expected, found);
            }
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }

    #[test]
    fn lookup_matches_a_naive_model(
        entries in proptest::collection::vec((0u8..3, 0u64..3, 0u32..3, 0u8..4, mac()), 0..40),
        at_dp in 0u64..3,
        at_port in 0u32..3,
        ip_last in 0u8..4,
    ) {
        let mut table = ResponderTable::new();
        let mut model: HashMap<(u8, u64, u32, u8), MacAddr> = HashMap::new();
        for (level, dp, port, last, m) in entries {
            let ip = Ipv4Addr::new(10, 0, 0, last);
            let (scope, key) = match level {
                0 => (Scope::Global, (0, 0, 0, last)),
                1 => (Scope::Switch(dp), (1, dp, 0, last)),
                _ => (Scope::Port { datapath: dp, port }, (2, dp, port, last)),
            };
            table.insert(scope, ip, m);
            model.insert(key, m);
        }
        let expected = model
            .get(&(2, at_dp, at_port, ip_last))
            .or_else(|| model.get(&(1, at_dp, 0, ip_last)))
            .or_else(|| model.get(&(0, 0, 0, ip_last)))
            .copied();
        let got = table.lookup(Ipv4Addr::new(10, 0, 0, ip_last), Location::new(at_dp, at_port));
        prop_assert_eq!(got.map(|a| a.mac), expected);
        prop_assert_eq!(table.len(), model.len());
    }

    #[test]
    fn decide_follows_the_policies(
        req in request(),
        ours in any::<bool>(),
        answer in answer_mac(),
    ) {
        let answer = match answer {
            AnswerMac::Other(m) => m,
            AnswerMac::Requesters => req.sha,
        };
        let mut table = ResponderTable::new();
        if ours {
            table.insert(Scope::Global, req.tpa, answer);
        }
        let want = expected(&req, ours, answer);
        match table.decide(&req.bytes(), Location::new(1, 1)) {
            Decision::Reply(r) => {
                prop_assert_eq!(want, Expected::Reply, "{:?}", r);
                let mut buf = [0u8; 64];
                let n = r.write(&mut buf).unwrap();
                let f = ArpFrame::parse(&buf[..n]).unwrap();
                prop_assert_eq!(f.eth_dst, req.sha);
                prop_assert_eq!((f.sender_mac, f.sender_ip), (answer, req.tpa));
                // A probe's reply goes back to 0.0.0.0, as Linux sends it.
                prop_assert_eq!((f.target_mac, f.target_ip), (req.sha, req.spa));
                prop_assert_eq!(f.vlan.map(VlanTag::tci), req.tci);
            }
            Decision::Ignore(Ignored::Announcement { conflict }) => {
                prop_assert_eq!(want, Expected::Announcement { conflict });
            }
            Decision::Ignore(Ignored::BadSender) => prop_assert_eq!(want, Expected::BadSender),
            Decision::Ignore(Ignored::NotOurs(ip)) => {
                prop_assert_eq!(want, Expected::NotOurs);
                prop_assert_eq!(ip, req.tpa);
            }
            Decision::Ignore(Ignored::RequesterIsOwner) => {
                prop_assert_eq!(want, Expected::RequesterIsOwner);
            }
            other => prop_assert!(false, "unexpected {:?} (wanted {:?})", other, want),
        }
    }
}

/// The weighting above makes every policy branch common, probes by the owner included: a run of
/// the strategies must reach each of them many times.
#[test]
fn the_strategies_reach_every_policy_branch() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = (request(), any::<bool>(), answer_mac());
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut owners_probes = 0;
    for _ in 0..4096 {
        let (req, ours, answer) = strategy.new_tree(&mut runner).unwrap().current();
        let answer = match answer {
            AnswerMac::Other(m) => m,
            AnswerMac::Requesters => req.sha,
        };
        let want = expected(&req, ours, answer);
        if req.spa.is_unspecified() && want == Expected::RequesterIsOwner {
            owners_probes += 1;
        }
        *seen.entry(format!("{want:?}")).or_default() += 1;
    }
    for branch in [
        "Reply",
        "Announcement { conflict: true }",
        "Announcement { conflict: false }",
        "BadSender",
        "NotOurs",
        "RequesterIsOwner",
    ] {
        let n = seen.get(branch).copied().unwrap_or(0);
        assert!(n >= 20, "{branch} reached {n} times in 4096: {seen:?}");
    }
    assert!(owners_probes >= 20, "owner's probes: {owners_probes}");
}
