//! The OpenFlow 1.0 match (`ofp_match`): twelve fields, each either wildcarded or exact,
//! with the IPv4 addresses matched by prefix.
//!
//! A [`Match`] holds what is on the wire, faithfully: decoding never drops a field whose
//! prerequisites are not met. [`Match::normalized`] applies the OpenFlow 1.0 prerequisite
//! rules the way Open vSwitch does, explicitly, and reports what it dropped.

use crate::codec::{Fixed, Reader};
use crate::error::DecodeError;
use crate::header::MessageType;
use crate::port::PortNo;
use crate::MacAddr;
use bytes::BufMut;
use core::net::Ipv4Addr;

/// How a match treats the 802.1Q VLAN id (`dl_vlan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(from = "Ipv4MatchRepr", into = "Ipv4MatchRepr")
)]
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

/// The serde form of [`Ipv4Match`]: the address and the raw count (masked to 6 bits when
/// deserialised, as [`Ipv4Match::from_raw`] does).
#[cfg(feature = "serde")]
#[derive(serde::Serialize, serde::Deserialize)]
struct Ipv4MatchRepr {
    addr: Ipv4Addr,
    wildcard_bits: u8,
}

#[cfg(feature = "serde")]
impl From<Ipv4MatchRepr> for Ipv4Match {
    fn from(r: Ipv4MatchRepr) -> Self {
        Ipv4Match::from_raw(r.addr, r.wildcard_bits)
    }
}

#[cfg(feature = "serde")]
impl From<Ipv4Match> for Ipv4MatchRepr {
    fn from(m: Ipv4Match) -> Self {
        Ipv4MatchRepr {
            addr: m.addr,
            wildcard_bits: m.wildcard_bits,
        }
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
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
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
/// Ethernet type of RARP.
pub const ETH_TYPE_RARP: u16 = 0x8035;
/// Ethernet type of IPv6.
pub const ETH_TYPE_IPV6: u16 = 0x86dd;
/// IP protocol number of SCTP.
pub const IP_PROTO_SCTP: u8 = 132;
/// IP protocol number of ICMPv6.
pub const IP_PROTO_ICMPV6: u8 = 58;

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

/// The `ofp_flow_wildcards` bits of the match's `wildcards` word.
pub mod wildcards {
    /// `OFPFW_IN_PORT`.
    pub const IN_PORT: u32 = 1 << 0;
    /// `OFPFW_DL_VLAN`.
    pub const DL_VLAN: u32 = 1 << 1;
    /// `OFPFW_DL_SRC`.
    pub const DL_SRC: u32 = 1 << 2;
    /// `OFPFW_DL_DST`.
    pub const DL_DST: u32 = 1 << 3;
    /// `OFPFW_DL_TYPE`.
    pub const DL_TYPE: u32 = 1 << 4;
    /// `OFPFW_NW_PROTO`.
    pub const NW_PROTO: u32 = 1 << 5;
    /// `OFPFW_TP_SRC`.
    pub const TP_SRC: u32 = 1 << 6;
    /// `OFPFW_TP_DST`.
    pub const TP_DST: u32 = 1 << 7;
    /// Shift of the 6-bit `nw_src` wildcard count (`OFPFW_NW_SRC_SHIFT`).
    pub const NW_SRC_SHIFT: u32 = 8;
    /// Shift of the 6-bit `nw_dst` wildcard count (`OFPFW_NW_DST_SHIFT`).
    pub const NW_DST_SHIFT: u32 = 14;
    /// Mask of the `nw_src` count (`OFPFW_NW_SRC_MASK`).
    pub const NW_SRC_MASK: u32 = 0x3f << NW_SRC_SHIFT;
    /// Mask of the `nw_dst` count (`OFPFW_NW_DST_MASK`).
    pub const NW_DST_MASK: u32 = 0x3f << NW_DST_SHIFT;
    /// `OFPFW_DL_VLAN_PCP`.
    pub const DL_VLAN_PCP: u32 = 1 << 20;
    /// `OFPFW_NW_TOS`.
    pub const NW_TOS: u32 = 1 << 21;
    /// Every defined bit (`OFPFW_ALL`, with counts of 63). Bits 22-31 are undefined:
    /// ignored on decode, written as 0.
    pub const ALL: u32 = (1 << 22) - 1;
}

/// `OFP_VLAN_NONE`: the `dl_vlan` value meaning "no 802.1Q tag".
pub const VLAN_NONE: u16 = 0xffff;

bitflags::bitflags! {
    /// What [`Match::normalized`] dropped or changed.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct DroppedFields: u16 {
        /// `dl_vlan_pcp`, ignored for untagged frames.
        const DL_VLAN_PCP = 1 << 0;
        /// `nw_tos`, which needs `dl_type` IPv4.
        const NW_TOS = 1 << 1;
        /// `nw_proto`, which needs `dl_type` IPv4 or ARP.
        const NW_PROTO = 1 << 2;
        /// `nw_src`, which needs `dl_type` IPv4 or ARP.
        const NW_SRC = 1 << 3;
        /// `nw_dst`, which needs `dl_type` IPv4 or ARP.
        const NW_DST = 1 << 4;
        /// `tp_src`, which needs IPv4 with `nw_proto` TCP, UDP or ICMP.
        const TP_SRC = 1 << 5;
        /// `tp_dst`, which needs IPv4 with `nw_proto` TCP, UDP or ICMP.
        const TP_DST = 1 << 6;
        /// The two ECN bits of `nw_tos` (OpenFlow 1.0 matches the DSCP bits only).
        const NW_TOS_ECN = 1 << 7;
        /// Bits of `dl_vlan` above the 12-bit VLAN id, or of `dl_vlan_pcp` above the
        /// 3-bit priority (Open vSwitch masks them off).
        const VLAN_HIGH_BITS = 1 << 8;
    }
}

impl DroppedFields {
    /// The ovs-ofctl names of the dropped fields, for logging.
    pub fn field_names(self) -> Vec<&'static str> {
        let names = [
            (DroppedFields::DL_VLAN_PCP, "dl_vlan_pcp"),
            (DroppedFields::NW_TOS, "nw_tos"),
            (DroppedFields::NW_PROTO, "nw_proto"),
            (DroppedFields::NW_SRC, "nw_src"),
            (DroppedFields::NW_DST, "nw_dst"),
            (DroppedFields::TP_SRC, "tp_src"),
            (DroppedFields::TP_DST, "tp_dst"),
            (DroppedFields::NW_TOS_ECN, "nw_tos_ecn"),
            (DroppedFields::VLAN_HIGH_BITS, "vlan_high_bits"),
        ];
        names
            .iter()
            .filter(|(f, _)| self.contains(*f))
            .map(|(_, n)| *n)
            .collect()
    }
}

// The wire form is 40 bytes.
const _: () = assert!(Match::WIRE_LEN == 40);

impl Match {
    /// Size of `ofp_match` on the wire.
    pub const WIRE_LEN: usize = 40;

    /// The `wildcards` word this match encodes to (bits 22-31 always 0; the address
    /// counts are the raw counts kept in [`Ipv4Match`]).
    pub fn wildcards(&self) -> u32 {
        use wildcards as w;
        let mut bits = 0u32;
        // Each flag's bit is the boolean times its (power of two) value: independent
        // shifts combined, without a chain of conditional moves.
        let mut flag = |absent: bool, bit: u32| bits |= u32::from(absent) * bit;
        flag(self.in_port.is_none(), w::IN_PORT);
        flag(self.dl_vlan == VlanMatch::Any, w::DL_VLAN);
        flag(self.dl_src.is_none(), w::DL_SRC);
        flag(self.dl_dst.is_none(), w::DL_DST);
        flag(self.dl_type.is_none(), w::DL_TYPE);
        flag(self.nw_proto.is_none(), w::NW_PROTO);
        flag(self.tp_src.is_none(), w::TP_SRC);
        flag(self.tp_dst.is_none(), w::TP_DST);
        flag(self.dl_vlan_pcp.is_none(), w::DL_VLAN_PCP);
        flag(self.nw_tos.is_none(), w::NW_TOS);
        bits |= u32::from(self.nw_src.raw_wildcard_bits() & 0x3f) << w::NW_SRC_SHIFT;
        bits |= u32::from(self.nw_dst.raw_wildcard_bits() & 0x3f) << w::NW_DST_SHIFT;
        bits
    }

    /// Decode a match from the first 40 bytes of `buf` (faithfully: nothing is normalised).
    pub fn decode(buf: &[u8]) -> Result<Match, DecodeError> {
        let mut r = Reader::from_slice(buf, MessageType::FlowMod);
        Match::read(&mut r)
    }

    #[inline]
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Match, DecodeError> {
        // All 40 bytes behind one bounds check (the pads are ignored).
        let m = r.fixed::<{ Match::WIRE_LEN }>("match.wildcards")?;
        Ok(Match::from_wire(&m.0))
    }

    /// The match of a 40-byte wire form (the pads are ignored; nothing is normalised).
    #[inline(always)]
    pub(crate) fn from_wire(m: &[u8; Match::WIRE_LEN]) -> Match {
        use wildcards as w;
        let m = Fixed(*m);
        let wc = m.u32::<0>();
        let in_port = m.u16::<4>();
        let dl_src = m.mac::<6>();
        let dl_dst = m.mac::<12>();
        let dl_vlan = m.u16::<18>();
        let dl_vlan_pcp = m.u8::<20>();
        let dl_type = m.u16::<22>();
        let nw_tos = m.u8::<24>();
        let nw_proto = m.u8::<25>();
        let nw_src = m.u32::<28>();
        let nw_dst = m.u32::<32>();
        let tp_src = m.u16::<36>();
        let tp_dst = m.u16::<38>();
        let unless = |bit: u32| wc & bit == 0;
        Match {
            in_port: unless(w::IN_PORT).then_some(PortNo(in_port)),
            dl_src: unless(w::DL_SRC).then_some(MacAddr(dl_src)),
            dl_dst: unless(w::DL_DST).then_some(MacAddr(dl_dst)),
            dl_vlan: if !unless(w::DL_VLAN) {
                VlanMatch::Any
            } else if dl_vlan == VLAN_NONE {
                VlanMatch::Untagged
            } else {
                VlanMatch::Vid(dl_vlan)
            },
            dl_vlan_pcp: unless(w::DL_VLAN_PCP).then_some(dl_vlan_pcp),
            dl_type: unless(w::DL_TYPE).then_some(dl_type),
            nw_tos: unless(w::NW_TOS).then_some(nw_tos),
            nw_proto: unless(w::NW_PROTO).then_some(nw_proto),
            nw_src: Ipv4Match::from_raw(
                Ipv4Addr::from(nw_src),
                ((wc & w::NW_SRC_MASK) >> w::NW_SRC_SHIFT) as u8,
            ),
            nw_dst: Ipv4Match::from_raw(
                Ipv4Addr::from(nw_dst),
                ((wc & w::NW_DST_MASK) >> w::NW_DST_SHIFT) as u8,
            ),
            tp_src: unless(w::TP_SRC).then_some(tp_src),
            tp_dst: unless(w::TP_DST).then_some(tp_dst),
        }
    }

    /// Write the 40-byte wire form. Wildcarded fields are written as zero; the IPv4
    /// addresses are written as held (a decoded match re-encodes byte for byte).
    pub fn encode(&self, dst: &mut impl BufMut) {
        dst.put_slice(&self.to_wire());
    }

    /// The 40-byte wire form, built on the stack (the pads are zero).
    #[inline]
    pub(crate) fn to_wire(self) -> [u8; Match::WIRE_LEN] {
        let mut m = Fixed::<{ Match::WIRE_LEN }>::zeroed();
        m.set_u32::<0>(self.wildcards());
        m.set_u16::<4>(self.in_port.map_or(0, |p| p.0));
        m.set_bytes::<6, 6>(self.dl_src.unwrap_or(MacAddr::ZERO).0);
        m.set_bytes::<12, 6>(self.dl_dst.unwrap_or(MacAddr::ZERO).0);
        m.set_u16::<18>(match self.dl_vlan {
            VlanMatch::Any => 0,
            VlanMatch::Untagged => VLAN_NONE,
            VlanMatch::Vid(v) => v,
        });
        m.set_u8::<20>(self.dl_vlan_pcp.unwrap_or(0));
        m.set_u16::<22>(self.dl_type.unwrap_or(0));
        m.set_u8::<24>(self.nw_tos.unwrap_or(0));
        m.set_u8::<25>(self.nw_proto.unwrap_or(0));
        m.set_u32::<28>(u32::from(self.nw_src.addr()));
        m.set_u32::<32>(u32::from(self.nw_dst.addr()));
        m.set_u16::<36>(self.tp_src.unwrap_or(0));
        m.set_u16::<38>(self.tp_dst.unwrap_or(0));
        m.0
    }

    /// The match as Open vSwitch would install it, and what was dropped to get there.
    ///
    /// Applies OpenFlow 1.0's prerequisites the way Open vSwitch does
    /// (`ofputil_match_from_ofp10_match` then `ofputil_normalize_match`):
    ///
    /// - `nw_src`/`nw_dst` need `dl_type` IPv4, ARP or RARP;
    /// - `nw_proto` needs IPv4, IPv6, ARP or RARP;
    /// - `nw_tos` needs IPv4 or IPv6, and loses its two ECN bits;
    /// - `tp_src`/`tp_dst` need IPv4 with `nw_proto` TCP, UDP, SCTP or ICMP, or IPv6 with
    ///   TCP, UDP, SCTP or ICMPv6 (`dl_type` and `nw_proto` must be exact);
    /// - `dl_vlan_pcp` is ignored for untagged frames; VLAN ids keep 12 bits, priorities 3.
    ///
    /// Prefixes are also made canonical (count clamped to 32, host bits cleared), which is
    /// not reported. The result is a fixed point (normalising it again changes nothing), so
    /// compare two matches, say a desired flow and one a switch reports, by normalising
    /// both. Decoding never normalises: call this explicitly.
    ///
    /// ```
    /// use openflow_proto::flow_match::{DroppedFields, ETH_TYPE_IPV4};
    /// use openflow_proto::Match;
    ///
    /// // "ip,tp_dst=22" without nw_proto: Open vSwitch installs plain "ip".
    /// let mut m = Match::any();
    /// m.dl_type = Some(ETH_TYPE_IPV4);
    /// m.tp_dst = Some(22);
    /// let (installed, dropped) = m.normalized();
    /// assert_eq!(installed.tp_dst, None);
    /// assert_eq!(dropped, DroppedFields::TP_DST);
    /// assert_eq!(dropped.field_names(), ["tp_dst"]);
    /// ```
    pub fn normalized(&self) -> (Match, DroppedFields) {
        let mut m = *self;
        let mut dropped = DroppedFields::empty();
        let is_ip = m.dl_type == Some(ETH_TYPE_IPV4);
        let is_ipv6 = m.dl_type == Some(ETH_TYPE_IPV6);
        let is_arp = matches!(m.dl_type, Some(ETH_TYPE_ARP) | Some(ETH_TYPE_RARP));
        let has_tp = match m.nw_proto {
            Some(IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_SCTP) => is_ip || is_ipv6,
            Some(IP_PROTO_ICMP) => is_ip,
            Some(IP_PROTO_ICMPV6) => is_ipv6,
            _ => false,
        };
        if m.dl_vlan == VlanMatch::Untagged && m.dl_vlan_pcp.take().is_some() {
            dropped |= DroppedFields::DL_VLAN_PCP;
        }
        if let VlanMatch::Vid(v @ 0x1000..) = m.dl_vlan {
            m.dl_vlan = VlanMatch::Vid(v & 0xfff);
            dropped |= DroppedFields::VLAN_HIGH_BITS;
        }
        if let Some(pcp) = m.dl_vlan_pcp {
            if pcp > 7 {
                m.dl_vlan_pcp = Some(pcp & 7);
                dropped |= DroppedFields::VLAN_HIGH_BITS;
            }
        }
        if !(is_ip || is_ipv6) && m.nw_tos.take().is_some() {
            dropped |= DroppedFields::NW_TOS;
        }
        if let Some(tos) = m.nw_tos {
            if tos & 0x03 != 0 {
                dropped |= DroppedFields::NW_TOS_ECN;
                m.nw_tos = Some(tos & 0xfc);
            }
        }
        if !(is_ip || is_ipv6 || is_arp) && m.nw_proto.take().is_some() {
            dropped |= DroppedFields::NW_PROTO;
        }
        if !(is_ip || is_arp) {
            if !m.nw_src.is_any() {
                dropped |= DroppedFields::NW_SRC;
            }
            if !m.nw_dst.is_any() {
                dropped |= DroppedFields::NW_DST;
            }
            m.nw_src = Ipv4Match::ANY;
            m.nw_dst = Ipv4Match::ANY;
        }
        if !has_tp {
            if m.tp_src.take().is_some() {
                dropped |= DroppedFields::TP_SRC;
            }
            if m.tp_dst.take().is_some() {
                dropped |= DroppedFields::TP_DST;
            }
        }
        m.nw_src = Ipv4Match::prefix(m.nw_src.addr(), m.nw_src.prefix_len());
        m.nw_dst = Ipv4Match::prefix(m.nw_dst.addr(), m.nw_dst.prefix_len());
        (m, dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn enc(m: &Match) -> Vec<u8> {
        let mut v = Vec::new();
        m.encode(&mut v);
        v
    }

    #[test]
    fn match_all_as_ovs_sends_it() {
        // Open vSwitch sends match-all as 0x003820ff (counts of 32).
        let mut v = enc(&Match::any());
        assert_eq!(v.len(), 40);
        assert_eq!(&v[..4], &[0x00, 0x38, 0x20, 0xff]);
        assert!(v[4..].iter().all(|&b| b == 0));
        // The spec's OFPFW_ALL (counts of 63) decodes to a match-all too, and re-encodes
        // to the same bytes.
        v[..4].copy_from_slice(&wildcards::ALL.to_be_bytes());
        let m = Match::decode(&v).unwrap();
        assert!(m.nw_src.is_any() && m.nw_dst.is_any());
        assert_eq!(m.nw_src.raw_wildcard_bits(), 63);
        assert_eq!(enc(&m), v);
        assert_eq!(m.nw_src.prefix_len(), Match::any().nw_src.prefix_len());
    }

    #[test]
    fn fixture_flow_mod_match() {
        // From the OVS 3.1 conversation: the match of
        // "priority=100,ip,in_port=1,dl_src=02:00:00:00:00:01,nw_src=10.1.0.1"
        // (wildcards 0x003800ea: nw_src count 0, nw_dst count 32).
        let b = hex(concat!(
            "003800ea0001020000000001000000000000000000000800",
            "000000000a0100010000000000000000"
        ));
        let m = Match::decode(&b).unwrap();
        assert_eq!(m.in_port, Some(PortNo(1)));
        assert_eq!(m.dl_src, Some(MacAddr([2, 0, 0, 0, 0, 1])));
        assert_eq!(m.dl_dst, None);
        assert_eq!(m.dl_vlan, VlanMatch::Any);
        assert_eq!(m.dl_type, Some(ETH_TYPE_IPV4));
        assert_eq!(m.nw_proto, None);
        assert_eq!(m.nw_src, Ipv4Match::exact(Ipv4Addr::new(10, 1, 0, 1)));
        assert!(m.nw_dst.is_any());
        assert_eq!(m.nw_dst.raw_wildcard_bits(), 32);
        assert_eq!(m.tp_src, None);
        assert_eq!(enc(&m), b);
    }

    #[test]
    fn bits_22_to_31_ignored_and_written_zero() {
        let mut v = enc(&Match::any());
        v[0] = 0xff; // bits 24-31
        v[1] |= 0xc0; // bits 22-23
        let m = Match::decode(&v).unwrap();
        assert_eq!(m, Match::any());
        assert_eq!(&enc(&m)[..4], &[0x00, 0x38, 0x20, 0xff]);
    }

    #[test]
    fn wildcarded_fields_are_encoded_as_zero_and_decode_ignores_them() {
        let mut v = enc(&Match::any());
        v[4..].iter_mut().for_each(|b| *b = 0xab);
        // Restore the address fields, which are kept (they are matched by prefix).
        v[28..36].iter_mut().for_each(|b| *b = 0);
        let m = Match::decode(&v).unwrap();
        assert_eq!(m, Match::any());
        assert!(enc(&m)[4..].iter().all(|&b| b == 0));
    }

    #[test]
    fn vlan_forms() {
        let mut m = Match::any();
        m.dl_vlan = VlanMatch::Untagged;
        let v = enc(&m);
        assert_eq!(&v[18..20], &[0xff, 0xff]);
        assert_eq!(Match::decode(&v).unwrap().dl_vlan, VlanMatch::Untagged);
        m.dl_vlan = VlanMatch::Vid(10);
        let v = enc(&m);
        assert_eq!(
            u32::from_be_bytes([v[0], v[1], v[2], v[3]]) & wildcards::DL_VLAN,
            0
        );
        assert_eq!(Match::decode(&v).unwrap().dl_vlan, VlanMatch::Vid(10));
        m.dl_vlan = VlanMatch::Any;
        assert_eq!(Match::decode(&enc(&m)).unwrap().dl_vlan, VlanMatch::Any);
    }

    #[test]
    fn prefix_counts_kept_raw() {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        for count in 0..64u8 {
            m.nw_src = Ipv4Match::from_raw(Ipv4Addr::new(10, 1, 2, 3), count);
            m.nw_dst = Ipv4Match::from_raw(Ipv4Addr::new(10, 4, 5, 6), 63 - count);
            let v = enc(&m);
            let d = Match::decode(&v).unwrap();
            assert_eq!(d, m);
            assert_eq!(enc(&d), v);
            assert_eq!(d.nw_src.prefix_len(), 32u8.saturating_sub(count));
        }
    }

    #[test]
    fn every_field_round_trips() {
        let m = Match {
            in_port: Some(PortNo(3)),
            dl_src: Some(MacAddr([1, 2, 3, 4, 5, 6])),
            dl_dst: Some(MacAddr([7, 8, 9, 10, 11, 12])),
            dl_vlan: VlanMatch::Vid(0x123),
            dl_vlan_pcp: Some(5),
            dl_type: Some(ETH_TYPE_IPV4),
            nw_tos: Some(0x20),
            nw_proto: Some(IP_PROTO_TCP),
            nw_src: Ipv4Match::exact(Ipv4Addr::new(1, 2, 3, 4)),
            nw_dst: Ipv4Match::prefix(Ipv4Addr::new(5, 6, 7, 0), 24),
            tp_src: Some(1234),
            tp_dst: Some(80),
        };
        let v = enc(&m);
        assert_eq!(Match::decode(&v).unwrap(), m);
        assert_eq!(m.wildcards(), 8 << wildcards::NW_DST_SHIFT);
        assert!(Match::decode(&v[..39]).is_err());
    }

    #[test]
    fn normalize_drops_unmet_prerequisites() {
        // tp_dst without nw_proto: dropped (Open vSwitch does the same).
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.tp_dst = Some(22);
        let (n, d) = m.normalized();
        assert_eq!(n.tp_dst, None);
        assert_eq!(d, DroppedFields::TP_DST);
        assert_eq!(d.field_names(), ["tp_dst"]);

        // nw_* without dl_type.
        let mut m = Match::any();
        m.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 8);
        m.nw_proto = Some(6);
        m.nw_tos = Some(0x20);
        m.tp_src = Some(1);
        let (n, d) = m.normalized();
        assert_eq!(n, Match::any());
        assert_eq!(
            d,
            DroppedFields::NW_SRC
                | DroppedFields::NW_PROTO
                | DroppedFields::NW_TOS
                | DroppedFields::TP_SRC
        );

        // ARP keeps nw_proto (opcode) and addresses, but not nw_tos or tp_*.
        let mut m = Match::any();
        m.set_arp_opcode(1);
        m.nw_dst = Ipv4Match::exact(Ipv4Addr::new(203, 0, 113, 10));
        m.nw_tos = Some(4);
        m.tp_dst = Some(1);
        let (n, d) = m.normalized();
        assert_eq!(n.nw_proto, Some(1));
        assert_eq!(n.nw_dst, m.nw_dst);
        assert_eq!(d, DroppedFields::NW_TOS | DroppedFields::TP_DST);

        // ICMP keeps type and code.
        let mut m = Match::any();
        m.set_icmp(Some(8), Some(0));
        let (n, d) = m.normalized();
        assert_eq!(n, m);
        assert!(d.is_empty());

        // Untagged drops pcp; ECN bits cleared; prefixes made canonical.
        let mut m = Match::any();
        m.dl_vlan = VlanMatch::Untagged;
        m.dl_vlan_pcp = Some(3);
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_tos = Some(0x23);
        m.nw_src = Ipv4Match::from_raw(Ipv4Addr::new(10, 1, 2, 3), 8);
        m.nw_dst = Ipv4Match::from_raw(Ipv4Addr::new(9, 9, 9, 9), 63);
        let (n, d) = m.normalized();
        assert_eq!(n.dl_vlan_pcp, None);
        assert_eq!(n.nw_tos, Some(0x20));
        assert_eq!(n.nw_src, Ipv4Match::prefix(Ipv4Addr::new(10, 1, 2, 0), 24));
        assert_eq!(n.nw_dst, Ipv4Match::ANY);
        assert_eq!(d, DroppedFields::DL_VLAN_PCP | DroppedFields::NW_TOS_ECN);
        // Normalising twice changes nothing more.
        assert_eq!(n.normalized(), (n, DroppedFields::empty()));
    }

    #[test]
    fn exact_match_means_no_wildcard_bit() {
        let mut m = Match {
            in_port: Some(PortNo(1)),
            dl_src: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            dl_dst: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            dl_vlan: VlanMatch::Untagged,
            dl_vlan_pcp: Some(0),
            dl_type: Some(ETH_TYPE_IPV4),
            nw_tos: Some(0),
            nw_proto: Some(IP_PROTO_UDP),
            nw_src: Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 1)),
            nw_dst: Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 2)),
            tp_src: Some(68),
            tp_dst: Some(67),
        };
        assert!(m.is_exact());
        assert_eq!(m.wildcards(), 0);
        m.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 31);
        assert!(!m.is_exact());
        assert_eq!(m.wildcards(), 1 << wildcards::NW_DST_SHIFT);
    }

    #[test]
    fn normalize_follows_ovs_for_sctp_rarp_ipv6_and_vlan_bits() {
        // IPv4 SCTP keeps its ports (Open vSwitch allows them, OF1.0 does not name SCTP).
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_proto = Some(IP_PROTO_SCTP);
        m.tp_dst = Some(9);
        assert_eq!(m.normalized(), (m, DroppedFields::empty()));
        // RARP keeps the ARP fields.
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_RARP);
        m.nw_proto = Some(3);
        m.nw_src = Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(m.normalized(), (m, DroppedFields::empty()));
        // IPv6 keeps nw_proto, nw_tos and TCP ports but no IPv4 addresses; ICMP (v4) has
        // no ports under IPv6, ICMPv6 has.
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV6);
        m.nw_proto = Some(IP_PROTO_TCP);
        m.nw_tos = Some(0x20);
        m.tp_dst = Some(443);
        m.nw_dst = Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 1));
        let (n, d) = m.normalized();
        assert_eq!(d, DroppedFields::NW_DST);
        assert_eq!(
            (n.nw_proto, n.nw_tos, n.tp_dst),
            (Some(6), Some(0x20), Some(443))
        );
        m.nw_proto = Some(IP_PROTO_ICMP);
        assert!(m.normalized().1.contains(DroppedFields::TP_DST));
        m.nw_proto = Some(IP_PROTO_ICMPV6);
        assert!(!m.normalized().1.contains(DroppedFields::TP_DST));
        // ICMP under IPv4 keeps type and code; any other protocol loses them.
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_proto = Some(47);
        m.tp_src = Some(1);
        assert_eq!(m.normalized().1, DroppedFields::TP_SRC);
        // VLAN id and priority keep 12 and 3 bits.
        let mut m = Match::any();
        m.dl_vlan = VlanMatch::Vid(0x1005);
        m.dl_vlan_pcp = Some(9);
        let (n, d) = m.normalized();
        assert_eq!((n.dl_vlan, n.dl_vlan_pcp), (VlanMatch::Vid(5), Some(1)));
        assert_eq!(d, DroppedFields::VLAN_HIGH_BITS);
        assert_eq!(n.normalized(), (n, DroppedFields::empty()));
    }

    #[test]
    fn normalizing_both_sides_compares_what_ovs_reports() {
        // Open vSwitch reports an untagged match with the pcp wildcard bit clear and pcp 0.
        let mut ours = Match::any();
        ours.dl_vlan = VlanMatch::Untagged;
        let mut reported = ours;
        reported.dl_vlan_pcp = Some(0);
        assert_ne!(ours, reported);
        assert_eq!(ours.normalized().0, reported.normalized().0);
    }

    #[test]
    fn decode_never_normalises() {
        let mut m = Match::any();
        m.tp_dst = Some(22);
        m.nw_src = Ipv4Match::from_raw(Ipv4Addr::new(10, 1, 2, 3), 8);
        assert_eq!(Match::decode(&enc(&m)).unwrap(), m);
    }
}
