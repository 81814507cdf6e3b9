//! The headers of a packet as an OpenFlow 1.0 switch sees them.
//!
//! [`Packet`] is the common currency of the reference model, the compiler's pinhole
//! decisions and the simulator: the twelve `ofp_match` fields of one frame (minus the input
//! port, which belongs to where the packet is, not to the packet), and the ARP sender
//! hardware address, which OpenFlow 1.0 cannot match but the controller checks.

use core::hash::{Hash, Hasher};
use core::net::Ipv4Addr;
use openflow_proto::flow_match::{ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP};
use openflow_proto::MacAddr;

/// ARP opcode of a request.
pub const ARP_REQUEST: u8 = 1;
/// ARP opcode of a reply.
pub const ARP_REPLY: u8 = 2;

/// The header fields of one frame, in OpenFlow 1.0's terms.
///
/// For ARP frames (`dl_type` 0x0806), `nw_proto` is the opcode, `nw_src`/`nw_dst` are the
/// sender and target protocol addresses and `arp_sha` the sender hardware address (`tp_*`
/// are 0). For ICMP, `tp_src` is the type and `tp_dst` the code. Fields a frame does not have
/// are 0: `arp_sha` is [`MacAddr::ZERO`] for every frame but ARP.
///
/// [`Packet::arp`] takes the sender hardware address to be the Ethernet source, as in every
/// honest ARP frame; [`Packet::with_arp_sha`] sets another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Packet {
    /// Ethernet source.
    pub dl_src: MacAddr,
    /// Ethernet destination.
    pub dl_dst: MacAddr,
    /// 802.1Q VLAN id, `None` for an untagged frame.
    pub dl_vlan: Option<u16>,
    /// 802.1Q priority (0 for untagged frames).
    pub dl_vlan_pcp: u8,
    /// Ethernet type.
    pub dl_type: u16,
    /// IPv4 ToS byte (0 for non-IP).
    pub nw_tos: u8,
    /// IP protocol, or ARP opcode.
    pub nw_proto: u8,
    /// IPv4 source, or ARP sender protocol address.
    pub nw_src: Ipv4Addr,
    /// IPv4 destination, or ARP target protocol address.
    pub nw_dst: Ipv4Addr,
    /// TCP/UDP source port, or ICMP type.
    pub tp_src: u16,
    /// TCP/UDP destination port, or ICMP code.
    pub tp_dst: u16,
    /// ARP sender hardware address (`MacAddr::ZERO` for frames other than ARP). Not an
    /// OpenFlow 1.0 match field: switches neither match nor rewrite it.
    pub arp_sha: MacAddr,
}

/// The OpenFlow fields packed into four words (an injective packing: equal words, equal
/// fields), then the ARP sender hardware address for ARP frames only. The controller's
/// TCP/UDP fast path hashes a packet per packet_in (its memoised decisions are keyed by
/// one): four word writes cost it what a write per OpenFlow field did, and the ARP-only
/// field costs it nothing. Leaving a field out keeps equal packets hashing equal.
impl Hash for Packet {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A MAC address and two more bytes in one word.
        let word = |m: MacAddr, [g, h]: [u8; 2]| {
            let [a, b, c, d, e, f] = m.0;
            u64::from_le_bytes([a, b, c, d, e, f, g, h])
        };
        let (vlan_present, vlan) = match self.dl_vlan {
            Some(v) => (1u8, v),
            None => (0, 0),
        };
        let [v0, v1] = vlan.to_le_bytes();
        let [s0, s1, s2, s3] = self.nw_src.octets();
        let [d0, d1, d2, d3] = self.nw_dst.octets();
        let [p0, p1] = self.tp_dst.to_le_bytes();
        state.write_u64(word(self.dl_src, self.dl_type.to_le_bytes()));
        state.write_u64(word(self.dl_dst, self.tp_src.to_le_bytes()));
        state.write_u64(u64::from_le_bytes([s0, s1, s2, s3, d0, d1, d2, d3]));
        state.write_u64(u64::from_le_bytes([
            p0,
            p1,
            v0,
            v1,
            vlan_present,
            self.dl_vlan_pcp,
            self.nw_tos,
            self.nw_proto,
        ]));
        if self.is_arp() {
            state.write_u64(word(self.arp_sha, [0, 0]));
        }
    }
}

impl Packet {
    /// An untagged IPv4 packet with the given protocol and transport fields.
    #[allow(clippy::too_many_arguments)]
    pub fn ipv4(
        dl_src: MacAddr,
        dl_dst: MacAddr,
        nw_src: Ipv4Addr,
        nw_dst: Ipv4Addr,
        nw_proto: u8,
        tp_src: u16,
        tp_dst: u16,
    ) -> Self {
        Packet {
            dl_src,
            dl_dst,
            dl_vlan: None,
            dl_vlan_pcp: 0,
            dl_type: ETH_TYPE_IPV4,
            nw_tos: 0,
            nw_proto,
            nw_src,
            nw_dst,
            tp_src,
            tp_dst,
            arp_sha: MacAddr::ZERO,
        }
    }

    /// An untagged ARP frame (`op` 1 request, 2 reply) from Ethernet source `dl_src` and
    /// sender protocol address `spa` about `tpa`; its sender hardware address is `dl_src`
    /// (see [`Packet::with_arp_sha`]).
    pub fn arp(op: u8, dl_src: MacAddr, dl_dst: MacAddr, spa: Ipv4Addr, tpa: Ipv4Addr) -> Self {
        Packet {
            dl_src,
            dl_dst,
            dl_vlan: None,
            dl_vlan_pcp: 0,
            dl_type: ETH_TYPE_ARP,
            nw_tos: 0,
            nw_proto: op,
            nw_src: spa,
            nw_dst: tpa,
            tp_src: 0,
            tp_dst: 0,
            arp_sha: dl_src,
        }
    }

    /// The same frame with ARP sender hardware address `sha` (for an ARP frame whose sender
    /// hardware address is not its Ethernet source).
    #[must_use]
    pub fn with_arp_sha(self, sha: MacAddr) -> Self {
        Packet {
            arp_sha: sha,
            ..self
        }
    }

    /// True for IPv4.
    pub fn is_ipv4(&self) -> bool {
        self.dl_type == ETH_TYPE_IPV4
    }

    /// True for ARP.
    pub fn is_arp(&self) -> bool {
        self.dl_type == ETH_TYPE_ARP
    }

    /// True for ICMP over IPv4.
    pub fn is_icmp(&self) -> bool {
        self.is_ipv4() && self.nw_proto == IP_PROTO_ICMP
    }

    /// The same packet seen in the other direction: addresses and ports swapped (for ICMP,
    /// type and code are kept as they are: a caller maps echo request to reply itself; for
    /// ARP, the sender hardware address becomes the new Ethernet source).
    pub fn reversed(&self) -> Self {
        let mut r = *self;
        core::mem::swap(&mut r.dl_src, &mut r.dl_dst);
        core::mem::swap(&mut r.nw_src, &mut r.nw_dst);
        if !self.is_icmp() {
            core::mem::swap(&mut r.tp_src, &mut r.tp_dst);
        }
        if self.is_arp() {
            r.arp_sha = r.dl_src;
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_arp_sender_hardware_address() {
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let (x, y) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let req = Packet::arp(ARP_REQUEST, a, MacAddr::BROADCAST, x, y);
        assert_eq!(req.arp_sha, a);
        let forged = req.with_arp_sha(b);
        assert_eq!((forged.dl_src, forged.arp_sha), (a, b));
        assert_eq!(
            Packet {
                arp_sha: a,
                ..forged
            },
            req
        );
        // Other frames have none.
        assert_eq!(Packet::ipv4(a, b, x, y, 6, 1, 2).arp_sha, MacAddr::ZERO);
        // Reversed, the frame comes from the former destination, which is its sender.
        let reply = Packet::arp(ARP_REPLY, b, a, y, x).reversed();
        assert_eq!((reply.dl_src, reply.arp_sha, reply.nw_src), (a, a, x));
        let tcp = Packet::ipv4(a, b, x, y, 6, 1, 2);
        assert_eq!(tcp.reversed().arp_sha, MacAddr::ZERO);
    }

    fn hash_of(p: &Packet) -> u64 {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        p.hash(&mut h);
        h.finish()
    }

    #[test]
    fn the_hash_sees_every_field_and_the_sender_hardware_address_of_arp_only() {
        let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let (x, y) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let p = Packet::ipv4(a, b, x, y, 6, 1, 2);
        let one_field_changed = [
            Packet { dl_src: b, ..p },
            Packet { dl_dst: a, ..p },
            Packet {
                dl_vlan: Some(0),
                ..p
            },
            Packet {
                dl_vlan: Some(5),
                ..p
            },
            Packet {
                dl_vlan_pcp: 1,
                ..p
            },
            Packet {
                dl_type: ETH_TYPE_ARP,
                ..p
            },
            Packet { nw_tos: 4, ..p },
            Packet { nw_proto: 17, ..p },
            Packet { nw_src: y, ..p },
            Packet { nw_dst: x, ..p },
            Packet { tp_src: 2, ..p },
            Packet { tp_dst: 1, ..p },
        ];
        for q in one_field_changed {
            assert_ne!(hash_of(&p), hash_of(&q), "{q:?}");
        }
        // Equal packets, equal hashes: an IPv4 packet's stray arp_sha is not hashed...
        assert_eq!(hash_of(&p), hash_of(&p.with_arp_sha(a)));
        // ... an ARP frame's is.
        let req = Packet::arp(ARP_REQUEST, a, MacAddr::BROADCAST, x, y);
        assert_eq!(
            hash_of(&req),
            hash_of(&Packet::arp(ARP_REQUEST, a, MacAddr::BROADCAST, x, y))
        );
        assert_ne!(hash_of(&req), hash_of(&req.with_arp_sha(b)));
    }
}
