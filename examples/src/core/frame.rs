//! From the bytes of a punted frame to the OpenFlow 1.0 header fields the rules speak of,
//! and back (for the simulated switch).
//!
//! [`extract`] reads a frame the way an OpenFlow 1.0 switch fills an `ofp_match` (Open
//! vSwitch's `flow_extract` for OpenFlow 1.0): Ethernet addresses and type (with one 802.1Q
//! tag read into the VLAN id and priority; 802.3 length fields become type `0x05ff`), the
//! IPv4 ToS (DSCP bits), protocol and addresses, TCP/UDP ports or ICMP type and code (zero for
//! non-first fragments and truncated headers), and for ARP the opcode and the sender and
//! target protocol addresses, plus the sender hardware address, which OpenFlow 1.0 does not
//! match but the controller checks against the instance's MAC (read for ARP frames only:
//! other frames pay nothing for it). It is written here rather than with a general packet parser
//! because these exact OpenFlow rules (what is zero when, which bits are kept) are the point.

use core::net::Ipv4Addr;
use netrules::Packet;
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::MacAddr;

/// The Ethernet type OpenFlow 1.0 reports for 802.3 frames (a length, not a type).
pub const DL_TYPE_NOT_ETH_TYPE: u16 = 0x05ff;
const ETH_TYPE_VLAN: u16 = 0x8100;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

fn ip_at(b: &[u8], at: usize) -> Option<Ipv4Addr> {
    let s = b.get(at..at.checked_add(4)?)?;
    let a: [u8; 4] = s.try_into().ok()?;
    Some(Ipv4Addr::from(a))
}

fn mac_at(b: &[u8], at: usize) -> Option<MacAddr> {
    let s = b.get(at..at.checked_add(6)?)?;
    let a: [u8; 6] = s.try_into().ok()?;
    Some(MacAddr(a))
}

/// The header fields of an Ethernet frame, or `None` if it is shorter than an Ethernet
/// header (14 bytes). Fields the frame is too short to carry are 0.
pub fn extract(frame: &[u8]) -> Option<Packet> {
    let dl_dst = mac_at(frame, 0)?;
    let dl_src = mac_at(frame, 6)?;
    let mut dl_type = u16_at(frame, 12)?;
    let mut l3 = 14;
    let mut dl_vlan = None;
    let mut dl_vlan_pcp = 0;
    if dl_type == ETH_TYPE_VLAN {
        let tci = u16_at(frame, 14)?;
        dl_vlan = Some(tci & 0x0fff);
        dl_vlan_pcp = u8::try_from(tci >> 13).unwrap_or(0);
        dl_type = u16_at(frame, 16)?;
        l3 = 18;
    }
    if dl_type < 0x0600 {
        dl_type = DL_TYPE_NOT_ETH_TYPE;
    }
    let mut p = Packet {
        dl_src,
        dl_dst,
        dl_vlan,
        dl_vlan_pcp,
        dl_type,
        nw_tos: 0,
        nw_proto: 0,
        nw_src: Ipv4Addr::UNSPECIFIED,
        nw_dst: Ipv4Addr::UNSPECIFIED,
        tp_src: 0,
        tp_dst: 0,
        arp_sha: MacAddr::ZERO,
    };
    let body = frame.get(l3..).unwrap_or_default();
    if dl_type == ETH_TYPE_IPV4 {
        ipv4(body, &mut p);
    } else if dl_type == ETH_TYPE_ARP {
        arp(body, &mut p);
    }
    Some(p)
}

fn ipv4(b: &[u8], p: &mut Packet) {
    let (Some(&vihl), Some(&tos), Some(&proto)) = (b.first(), b.get(1), b.get(9)) else {
        return;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    if vihl >> 4 != 4 || ihl < 20 || b.len() < ihl {
        return;
    }
    let (Some(src), Some(dst), Some(frag)) = (ip_at(b, 12), ip_at(b, 16), u16_at(b, 6)) else {
        return;
    };
    p.nw_tos = tos & 0xfc;
    p.nw_proto = proto;
    p.nw_src = src;
    p.nw_dst = dst;
    if frag & 0x1fff != 0 {
        return; // a later fragment carries no transport header
    }
    let l4 = b.get(ihl..).unwrap_or_default();
    let need = match proto {
        IP_PROTO_TCP => 20,
        IP_PROTO_UDP => 8,
        IP_PROTO_ICMP => 4,
        _ => return,
    };
    if l4.len() < need {
        return;
    }
    if proto == IP_PROTO_ICMP {
        p.tp_src = l4.first().copied().map(u16::from).unwrap_or(0);
        p.tp_dst = l4.get(1).copied().map(u16::from).unwrap_or(0);
    } else {
        p.tp_src = u16_at(l4, 0).unwrap_or(0);
        p.tp_dst = u16_at(l4, 2).unwrap_or(0);
    }
}

fn arp(b: &[u8], p: &mut Packet) {
    // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
    if u16_at(b, 0) != Some(1)
        || u16_at(b, 2) != Some(ETH_TYPE_IPV4)
        || b.get(4) != Some(&6)
        || b.get(5) != Some(&4)
    {
        return;
    }
    let (Some(op), Some(sha), Some(spa), Some(tpa)) =
        (u16_at(b, 6), mac_at(b, 8), ip_at(b, 14), ip_at(b, 24))
    else {
        return;
    };
    if let Ok(op) = u8::try_from(op) {
        p.nw_proto = op;
    }
    p.arp_sha = sha;
    p.nw_src = spa;
    p.nw_dst = tpa;
}

fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for pair in header.chunks(2) {
        let hi = u32::from(pair.first().copied().unwrap_or(0));
        let lo = u32::from(pair.get(1).copied().unwrap_or(0));
        sum += (hi << 8) | lo;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(u16::try_from(sum).unwrap_or(0xffff))
}

/// A minimal frame carrying exactly these header fields, such that [`extract`] gives them
/// back: for IPv4 a 20-byte header with a correct checksum and a transport header (TCP, UDP:
/// ports; ICMP: type and code; transport checksums zero), for ARP an Ethernet/IPv4 ARP body
/// (sender hardware address `arp_sha`, target hardware address zero in a request and the
/// Ethernet destination otherwise). Padded to the 60-byte Ethernet minimum.
/// For simulated switches and tests.
pub fn synthesize(p: &Packet) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&p.dl_dst.0);
    f.extend_from_slice(&p.dl_src.0);
    if let Some(vid) = p.dl_vlan {
        f.extend_from_slice(&ETH_TYPE_VLAN.to_be_bytes());
        let tci = (u16::from(p.dl_vlan_pcp & 7) << 13) | (vid & 0x0fff);
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&p.dl_type.to_be_bytes());
    if p.dl_type == ETH_TYPE_IPV4 {
        let l4: Vec<u8> = match p.nw_proto {
            IP_PROTO_TCP => {
                let mut t = vec![0u8; 20];
                t[0..2].copy_from_slice(&p.tp_src.to_be_bytes());
                t[2..4].copy_from_slice(&p.tp_dst.to_be_bytes());
                t[12] = 5 << 4; // data offset
                t[13] = 0x02; // SYN
                t
            }
            IP_PROTO_UDP => {
                let mut u = vec![0u8; 8];
                u[0..2].copy_from_slice(&p.tp_src.to_be_bytes());
                u[2..4].copy_from_slice(&p.tp_dst.to_be_bytes());
                u[4..6].copy_from_slice(&8u16.to_be_bytes());
                u
            }
            IP_PROTO_ICMP => {
                let mut i = vec![0u8; 8];
                i[0] = u8::try_from(p.tp_src).unwrap_or(0);
                i[1] = u8::try_from(p.tp_dst).unwrap_or(0);
                i
            }
            _ => Vec::new(),
        };
        let total = u16::try_from(20 + l4.len()).unwrap_or(u16::MAX);
        let mut h = [0u8; 20];
        h[0] = 0x45;
        h[1] = p.nw_tos & 0xfc;
        h[2..4].copy_from_slice(&total.to_be_bytes());
        h[8] = 64;
        h[9] = p.nw_proto;
        h[12..16].copy_from_slice(&p.nw_src.octets());
        h[16..20].copy_from_slice(&p.nw_dst.octets());
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        f.extend_from_slice(&h);
        f.extend_from_slice(&l4);
    } else if p.dl_type == ETH_TYPE_ARP {
        f.extend_from_slice(&1u16.to_be_bytes());
        f.extend_from_slice(&ETH_TYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&[6, 4]);
        f.extend_from_slice(&u16::from(p.nw_proto).to_be_bytes());
        f.extend_from_slice(&p.arp_sha.0);
        f.extend_from_slice(&p.nw_src.octets());
        let tha = if p.nw_proto == netrules::packet::ARP_REQUEST {
            MacAddr::ZERO
        } else {
            p.dl_dst
        };
        f.extend_from_slice(&tha.0);
        f.extend_from_slice(&p.nw_dst.octets());
    }
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    #[test]
    fn tcp_udp_icmp_arp_round_trip() {
        let a = Ipv4Addr::new(10, 0, 0, 2);
        let b = Ipv4Addr::new(10, 0, 0, 3);
        for p in [
            Packet::ipv4(mac(1), mac(2), a, b, 6, 40000, 22),
            Packet::ipv4(mac(1), mac(2), a, b, 17, 53, 5353),
            Packet::ipv4(mac(1), mac(2), a, b, 1, 8, 0),
            Packet::ipv4(mac(1), mac(2), a, b, 47, 0, 0),
            Packet::arp(1, mac(1), MacAddr::BROADCAST, a, b),
            Packet::arp(1, mac(1), MacAddr::BROADCAST, a, b).with_arp_sha(mac(3)),
            Packet::arp(2, mac(1), mac(2), a, b),
        ] {
            assert_eq!(extract(&synthesize(&p)), Some(p), "{p:?}");
        }
    }

    #[test]
    fn short_and_odd_frames() {
        assert_eq!(extract(&[0; 13]), None);
        // 802.3 length field.
        let mut f = vec![0u8; 60];
        f[12] = 0x00;
        f[13] = 0x40;
        assert_eq!(extract(&f).map(|p| p.dl_type), Some(DL_TYPE_NOT_ETH_TYPE));
        // A truncated TCP header leaves the ports at zero, addresses kept.
        let p = Packet::ipv4(
            mac(1),
            mac(2),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
            6,
            1,
            2,
        );
        let full = synthesize(&p);
        let got = extract(&full[..14 + 20 + 10]).unwrap();
        assert_eq!((got.nw_proto, got.tp_src, got.tp_dst), (6, 0, 0));
        assert_eq!(got.nw_dst, p.nw_dst);
        // A later fragment has no ports.
        let mut frag = full.clone();
        frag[14 + 6] = 0x00;
        frag[14 + 7] = 0x10;
        let got = extract(&frag).unwrap();
        assert_eq!((got.tp_src, got.tp_dst), (0, 0));
        // ECN bits are not part of nw_tos.
        let mut ecn = full;
        ecn[14 + 1] = 0xb9;
        assert_eq!(extract(&ecn).unwrap().nw_tos, 0xb8);
    }

    #[test]
    fn the_arp_sender_hardware_address_is_read_from_the_arp_body() {
        let req = Packet::arp(
            1,
            mac(1),
            MacAddr::BROADCAST,
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
        );
        let mut f = synthesize(&req);
        // Ethernet header (14), then htype, ptype, hlen, plen, op (8): the sender hardware
        // address.
        assert_eq!(&f[22..28], &mac(1).0);
        f[22..28].copy_from_slice(&mac(7).0);
        let got = extract(&f).unwrap();
        assert_eq!((got.dl_src, got.arp_sha), (mac(1), mac(7)));
        // An ARP body too short for the addresses, or not Ethernet/IPv4: no fields read.
        let got = extract(&f[..14 + 20]).unwrap();
        assert_eq!(
            (got.arp_sha, got.nw_src),
            (MacAddr::ZERO, Ipv4Addr::UNSPECIFIED)
        );
        let mut other = f.clone();
        other[14 + 4] = 8; // hlen 8
        assert_eq!(extract(&other).unwrap().arp_sha, MacAddr::ZERO);
        // Not ARP: no sender hardware address, whatever the bytes where it would be.
        let mut ip = synthesize(&Packet::ipv4(
            mac(1),
            mac(2),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
            17,
            1,
            2,
        ));
        ip[22..28].copy_from_slice(&mac(7).0);
        assert_eq!(extract(&ip).unwrap().arp_sha, MacAddr::ZERO);
    }

    #[test]
    fn vlan_tag_is_read() {
        let mut p = Packet::ipv4(
            mac(1),
            mac(2),
            Ipv4Addr::new(10, 0, 0, 2),
            Ipv4Addr::new(10, 0, 0, 3),
            17,
            1,
            2,
        );
        p.dl_vlan = Some(100);
        p.dl_vlan_pcp = 5;
        assert_eq!(extract(&synthesize(&p)), Some(p));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = extract(&bytes);
        }

        #[test]
        fn round_trip(src in any::<u32>(), dst in any::<u32>(), proto in prop_oneof![Just(6u8), Just(17u8)],
                      sp in any::<u16>(), dp in any::<u16>(), tos in any::<u8>()) {
            let mut p = Packet::ipv4(mac(1), mac(2), Ipv4Addr::from(src), Ipv4Addr::from(dst), proto, sp, dp);
            p.nw_tos = tos & 0xfc;
            prop_assert_eq!(extract(&synthesize(&p)), Some(p));
        }
    }
}
