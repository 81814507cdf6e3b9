//! ARP parsing, reply synthesis and gratuitous announcements for SDN
//! controllers.
//!
//! An OpenFlow 1.0 switch cannot turn an ARP request into a reply, so a
//! controller that owns addresses (elastic IPs, a gateway, instances' own
//! addresses) answers ARP itself from `packet_in`s. This crate does that
//! work, sans-IO and without depending on any OpenFlow library:
//!
//! - [`ArpFrame::parse`] reads an Ethernet frame, untagged or with one
//!   802.1Q tag (via [`etherparse`]), into a typed view, rejecting anything
//!   that is not Ethernet/IPv4 ARP with a precise [`ParseError`];
//!   [`ArpFrame::kind`] tells requests, replies, gratuitous announcements and
//!   RFC 5227 probes apart.
//! - [`ResponderTable`] maps IPv4 addresses to the MAC that answers them,
//!   globally, per switch or per (switch, port), the most specific scope
//!   winning, in O(1). [`ResponderTable::decide`] applies the policies a
//!   controller needs (never answer announcements or a host's own address,
//!   answer probes only for our addresses) and yields a [`Decision`].
//! - [`ArpFrame::reply`] / [`Reply::write`] / [`write_reply`] write the
//!   exact reply a real host sends (VLAN tag echoed, zero-padded to the
//!   60-byte minimum) into a caller's buffer, without allocating.
//! - [`ArpFrame::gratuitous`] builds announcements in request and reply
//!   form; [`Announcer`] runs a [`Schedule`] (by default 3 rounds, 1 s
//!   apart) on the caller's clock: `poll(now)` and `next_deadline()`.
//! - [`Binding::check`] verifies that an ARP frame from an instance port
//!   carries exactly the MAC and IP bound to it ([`Spoofed`] says what
//!   differs).
//!
//! Nothing here panics or loops on input, and parsing, deciding, writing
//! frames and polling the announcer never allocate (a test holds them to it
//! with a counting allocator).
//!
//! # Example
//!
//! ```
//! use std::net::Ipv4Addr;
//! use arp_responder::{ArpFrame, Decision, Location, MacAddr, Operation, ResponderTable, Scope};
//!
//! // The elastic IP 203.0.113.10 is answered on port 1 of switch 0xc1 only.
//! let eip = Ipv4Addr::new(203, 0, 113, 10);
//! let eip_mac: MacAddr = "02:ee:00:00:00:0a".parse()?;
//! let mut table = ResponderTable::new();
//! table.insert(Scope::Port { datapath: 0xc1, port: 1 }, eip, eip_mac);
//!
//! // A router on the uplink asks "who has 203.0.113.10?" (the packet_in data).
//! let router: MacAddr = "02:00:00:00:00:01".parse()?;
//! let request = ArpFrame {
//!     eth_dst: MacAddr::BROADCAST,
//!     eth_src: router,
//!     vlan: None,
//!     operation: Operation::Request,
//!     sender_mac: router,
//!     sender_ip: Ipv4Addr::new(203, 0, 113, 1),
//!     target_mac: MacAddr::ZERO,
//!     target_ip: eip,
//! }
//! .to_bytes();
//!
//! let mut buf = [0u8; 64];
//! match table.decide(&request[..60], Location::new(0xc1, 1)) {
//!     Decision::Reply(reply) => {
//!         let len = reply.write(&mut buf)?; // no allocation
//!         let sent = ArpFrame::parse(&buf[..len])?;
//!         assert_eq!(len, 60);
//!         assert_eq!(sent.eth_dst, router);
//!         assert_eq!((sent.sender_mac, sent.sender_ip), (eip_mac, eip));
//!         assert_eq!(sent.target_ip, Ipv4Addr::new(203, 0, 113, 1));
//!     }
//!     other => panic!("expected a reply, got {other:?}"),
//! }
//!
//! // Elsewhere the address is not ours: no reply.
//! assert!(matches!(
//!     table.decide(&request[..60], Location::new(0xc2, 1)),
//!     Decision::Ignore(arp_responder::Ignored::NotOurs(_))
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Announcing a move, driven by the caller's clock:
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::time::{Duration, Instant};
//! use arp_responder::{Announcement, Announcer, MacAddr, Schedule};
//!
//! let mut announcer = Announcer::new();
//! let t0 = Instant::now();
//! let moved = Announcement {
//!     ip: Ipv4Addr::new(203, 0, 113, 10),
//!     mac: MacAddr::new([0x02, 0xee, 0, 0, 0, 0x0b]),
//!     vlan: None,
//! };
//! // Key: where to send (here, switch 0xc2 port 1).
//! announcer.announce(t0, (0xc2u64, 1u32), moved, Schedule::default());
//! let mut buf = [0u8; 64];
//! let mut sent = 0;
//! for second in 0..3 {
//!     let now = t0 + Duration::from_secs(second);
//!     while let Some(due) = announcer.poll(now) {
//!         let len = due.write(&mut buf)?; // send buf[..len] out of due.key
//!         assert_eq!(len, 60);
//!         sent += 1;
//!     }
//! }
//! assert_eq!(sent, 6); // 3 rounds, request and reply form each
//! assert_eq!(announcer.next_deadline(), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod addr;
mod announce;
mod frame;
mod spoof;
mod table;

pub use addr::{MacAddr, MacParseError, VlanTag, VlanTagError};
pub use announce::{Announcement, Announcer, Due, Forms, Schedule};
pub use frame::{
    write_reply, ArpField, ArpFrame, ArpKind, BufferTooSmall, GratuitousForm, Layer, Operation,
    ParseError, ReplyError, ARP_LEN, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, HTYPE_ETHERNET,
    MAX_FRAME_LEN, MIN_FRAME_LEN, PTYPE_IPV4, VLAN_TAG_LEN,
};
pub use spoof::{Binding, Mismatch, Spoofed};
pub use table::{Answer, Decision, Ignored, Location, Reply, ResponderTable, Scope};

/// The README's example, compiled and run as a doc test.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
