//! The OpenFlow 1.0 match (`ofp_match`): twelve fields, each either wildcarded or exact,
//! with the IPv4 addresses matched by prefix.
//!
//! A [`Match`] holds what is on the wire, faithfully: decoding never drops a field whose
//! prerequisites are not met. [`Match::normalized`] applies the OpenFlow 1.0 prerequisite
//! rules the way Open vSwitch does, explicitly, and reports what it dropped.

use crate::port::PortNo;
use crate::MacAddr;
use core::net::Ipv4Addr;

/// How a match treats the 802.1Q VLAN id (`dl_vlan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum VlanMatch {
    /// Any frame, tagged or not (the `OFPFW_DL_VLAN` wildcard bit set).
    #[default]
    Any,
    /// Only frames without an 802.1Q tag (`dl_vlan` = `0xffff`, `OFP_VLAN_NONE`).
    Untagged,
    /// Only frames tagged with this VLAN id. The wire carries 16 bits; values above
    /// `0xfff` other than `0xffff` cannot match any frame but are kept as decoded.
    Vid(u16),
}

/// An IPv4 address matched by prefix, as `ofp_match` encodes it: the address and a 6-bit
/// count of ignored low-order bits. Any count of 32 or more means "any address".
///
/// The raw count is kept so that a decoded match re-encodes to the same bytes; compare
/// matches by [`Ipv4Match::prefix_len`] (which clamps), never by the raw count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Match {
    addr: Ipv4Addr,
    wildcard_bits: u8,
}

impl Ipv4Match {
    /// Match any address (encoded with a count of 32, as Open vSwitch does).
    pub const ANY: Ipv4Match = Ipv4Match {
        addr: Ipv4Addr::UNSPECIFIED,
        wildcard_bits: 32,
    };

    /// Match exactly one address.
    pub const fn exact(addr: Ipv4Addr) -> Self {
        Ipv4Match {
            addr,
            wildcard_bits: 0,
        }
    }

    /// Match a CIDR prefix of length `len` (`0..=32`); host bits of `addr` are cleared.
    /// Lengths above 32 are clamped to 32.
    pub fn prefix(addr: Ipv4Addr, len: u8) -> Self {
        let len = len.min(32);
        let mask = if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        };
        Ipv4Match {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            wildcard_bits: 32 - len,
        }
    }

    /// Build from the wire representation: the address and the raw 6-bit wildcard count
    /// (only the low 6 bits of `wildcard_bits` are kept). Nothing is normalised.
    pub const fn from_raw(addr: Ipv4Addr, wildcard_bits: u8) -> Self {
        Ipv4Match {
            addr,
            wildcard_bits: wildcard_bits & 0x3f,
        }
    }

    /// The address as carried on the wire (host bits may be set in a decoded match).
    pub const fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// The raw 6-bit count of ignored low-order bits, as carried on the wire (`0..=63`).
    pub const fn raw_wildcard_bits(&self) -> u8 {
        self.wildcard_bits
    }

    /// The effective prefix length, `0..=32` (0 means any address).
    pub const fn prefix_len(&self) -> u8 {
        32_u8.saturating_sub(self.wildcard_bits)
    }

    /// True if this matches every address.
    pub const fn is_any(&self) -> bool {
        self.wildcard_bits >= 32
    }

    /// The network mask of the effective prefix.
    pub const fn mask(&self) -> u32 {
        let len = self.prefix_len();
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len as u32)
        }
    }

    /// True if `ip` falls within the effective prefix.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = self.mask();
        (u32::from(ip) & m) == (u32::from(self.addr) & m)
    }
}

impl Default for Ipv4Match {
    fn default() -> Self {
        Ipv4Match::ANY
    }
}

/// An OpenFlow 1.0 flow match: each field is `None` (wildcarded) or `Some(value)`.
///
/// Field meanings follow the specification, including its overloads:
/// for ARP (`dl_type` 0x0806) `nw_proto` carries the low 8 bits of the opcode and
/// `nw_src`/`nw_dst` the sender and target protocol addresses; for ICMP (`nw_proto` 1)
/// `tp_src` carries the ICMP type and `tp_dst` the code. `nw_tos` matches the DSCP bits
/// (the upper six bits of the ToS byte). The accessors below name these overloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Match {
    /// Input port.
    pub in_port: Option<PortNo>,
    /// Ethernet source address.
    pub dl_src: Option<MacAddr>,
    /// Ethernet destination address.
    pub dl_dst: Option<MacAddr>,
    /// 802.1Q VLAN id.
    pub dl_vlan: VlanMatch,
    /// 802.1Q priority (`0..=7`).
    pub dl_vlan_pcp: Option<u8>,
    /// Ethernet frame type.
    pub dl_type: Option<u16>,
    /// IP ToS (DSCP bits, the upper six bits).
    pub nw_tos: Option<u8>,
    /// IP protocol, or the low 8 bits of the ARP opcode.
    pub nw_proto: Option<u8>,
    /// IPv4 source address (or ARP sender protocol address), by prefix.
    pub nw_src: Ipv4Match,
    /// IPv4 destination address (or ARP target protocol address), by prefix.
    pub nw_dst: Ipv4Match,
    /// TCP/UDP source port, or ICMP type.
    pub tp_src: Option<u16>,
    /// TCP/UDP destination port, or ICMP code.
    pub tp_dst: Option<u16>,
}

/// Ethernet type of IPv4.
pub const ETH_TYPE_IPV4: u16 = 0x0800;
/// Ethernet type of ARP.
pub const ETH_TYPE_ARP: u16 = 0x0806;
/// IP protocol number of ICMP.
pub const IP_PROTO_ICMP: u8 = 1;
/// IP protocol number of TCP.
pub const IP_PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const IP_PROTO_UDP: u8 = 17;

impl Match {
    /// A match of every packet (all fields wildcarded).
    pub const fn any() -> Self {
        Match {
            in_port: None,
            dl_src: None,
            dl_dst: None,
            dl_vlan: VlanMatch::Any,
            dl_vlan_pcp: None,
            dl_type: None,
            nw_tos: None,
            nw_proto: None,
            nw_src: Ipv4Match::ANY,
            nw_dst: Ipv4Match::ANY,
            tp_src: None,
            tp_dst: None,
        }
    }

    /// The ARP opcode this match requires, if it is an ARP match with `nw_proto` set.
    pub fn arp_opcode(&self) -> Option<u8> {
        if self.dl_type == Some(ETH_TYPE_ARP) {
            self.nw_proto
        } else {
            None
        }
    }

    /// Require an ARP frame with this opcode (sets `dl_type` and `nw_proto`).
    pub fn set_arp_opcode(&mut self, op: u8) -> &mut Self {
        self.dl_type = Some(ETH_TYPE_ARP);
        self.nw_proto = Some(op);
        self
    }

    /// True if this match requires IPv4 ICMP.
    pub fn is_icmp(&self) -> bool {
        self.dl_type == Some(ETH_TYPE_IPV4) && self.nw_proto == Some(IP_PROTO_ICMP)
    }

    /// The ICMP type this match requires, if it is an ICMP match with `tp_src` set.
    pub fn icmp_type(&self) -> Option<u8> {
        if self.is_icmp() {
            self.tp_src.map(|v| v as u8)
        } else {
            None
        }
    }

    /// The ICMP code this match requires, if it is an ICMP match with `tp_dst` set.
    pub fn icmp_code(&self) -> Option<u8> {
        if self.is_icmp() {
            self.tp_dst.map(|v| v as u8)
        } else {
            None
        }
    }

    /// Require IPv4 ICMP, with an optional type and code (sets `dl_type`, `nw_proto`,
    /// `tp_src` and `tp_dst`).
    pub fn set_icmp(&mut self, icmp_type: Option<u8>, icmp_code: Option<u8>) -> &mut Self {
        self.dl_type = Some(ETH_TYPE_IPV4);
        self.nw_proto = Some(IP_PROTO_ICMP);
        self.tp_src = icmp_type.map(u16::from);
        self.tp_dst = icmp_code.map(u16::from);
        self
    }

    /// True if no field is wildcarded: the switch treats such a flow as exact-match and
    /// places it above every wildcarded flow whatever its priority.
    pub fn is_exact(&self) -> bool {
        self.in_port.is_some()
            && self.dl_src.is_some()
            && self.dl_dst.is_some()
            && self.dl_vlan != VlanMatch::Any
            && self.dl_vlan_pcp.is_some()
            && self.dl_type.is_some()
            && self.nw_tos.is_some()
            && self.nw_proto.is_some()
            && self.nw_src.prefix_len() == 32
            && self.nw_dst.prefix_len() == 32
            && self.tp_src.is_some()
            && self.tp_dst.is_some()
    }
}
