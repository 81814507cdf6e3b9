//! The headers of a packet as an OpenFlow 1.0 switch sees them.
//!
//! [`Packet`] is the common currency of the reference model, the compiler's pinhole
//! decisions and the simulator: the twelve `ofp_match` fields of one frame (minus the input
//! port, which belongs to where the packet is, not to the packet), and the ARP sender
//! hardware address, which OpenFlow 1.0 cannot match but the controller checks.

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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
}
