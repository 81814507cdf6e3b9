//! OpenFlow 1.0 match semantics: prerequisites, packet matching, subsumption and overlap.
//!
//! These are the rules a switch applies to an `ofp_match`, written as pure functions so that
//! the flow table, the compiler's invariant checks and tests can share them:
//!
//! - [`normalize`] applies the field prerequisites the way Open vSwitch does when it accepts a
//!   flow_mod: a field whose prerequisite is not met is dropped (wildcarded), and the values
//!   that the switch cannot distinguish are put in canonical form (host bits of a prefix
//!   cleared, the ECN bits of `nw_tos` cleared, `dl_vlan_pcp` dropped for untagged frames).
//! - [`matches()`] decides whether a packet arriving on a port matches a (normalised) match.
//! - [`covers`] is the subsumption used by non-strict MODIFY and DELETE: every packet the
//!   narrower match accepts, the wider one accepts too, field by field.
//! - [`overlaps`] says whether some packet could match both (the `CHECK_OVERLAP` test).

use crate::packet::Packet;
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::{Ipv4Match, Match, PortNo, VlanMatch};

/// A match field that [`normalize`] dropped because its prerequisite was not met.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DroppedField {
    /// `nw_src` without `dl_type` IPv4 or ARP.
    NwSrc,
    /// `nw_dst` without `dl_type` IPv4 or ARP.
    NwDst,
    /// `nw_proto` without `dl_type` IPv4 or ARP.
    NwProto,
    /// `nw_tos` without `dl_type` IPv4.
    NwTos,
    /// `tp_src` without `dl_type` IPv4 and `nw_proto` TCP, UDP or ICMP.
    TpSrc,
    /// `tp_dst` without `dl_type` IPv4 and `nw_proto` TCP, UDP or ICMP.
    TpDst,
    /// `dl_vlan_pcp` together with `dl_vlan` untagged (an untagged frame has no priority).
    DlVlanPcp,
}

impl DroppedField {
    /// The field's name as `ovs-ofctl` prints it.
    pub const fn name(self) -> &'static str {
        match self {
            DroppedField::NwSrc => "nw_src",
            DroppedField::NwDst => "nw_dst",
            DroppedField::NwProto => "nw_proto",
            DroppedField::NwTos => "nw_tos",
            DroppedField::TpSrc => "tp_src",
            DroppedField::TpDst => "tp_dst",
            DroppedField::DlVlanPcp => "dl_vlan_pcp",
        }
    }
}

impl core::fmt::Display for DroppedField {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

/// The canonical form of an address prefix: host bits cleared, "any" as [`Ipv4Match::ANY`].
pub fn canonical_prefix(m: Ipv4Match) -> Ipv4Match {
    if m.is_any() {
        Ipv4Match::ANY
    } else {
        Ipv4Match::prefix(m.addr(), m.prefix_len())
    }
}

/// Normalise a match the way an Open vSwitch switch does on accepting a flow_mod, and report
/// the fields it dropped because their prerequisites were not met.
///
/// Prerequisites (OpenFlow 1.0, section 3.4, as Open vSwitch enforces them):
/// `nw_src`, `nw_dst` and `nw_proto` need `dl_type` IPv4 or ARP; `nw_tos` needs IPv4;
/// `tp_src` and `tp_dst` need IPv4 and `nw_proto` TCP, UDP or ICMP. Besides, `dl_vlan_pcp`
/// means nothing for untagged frames and is dropped with `dl_vlan` untagged (not reported as
/// a prerequisite failure: it is harmless).
pub fn normalize(m: &Match) -> (Match, Vec<DroppedField>) {
    let mut n = *m;
    let mut dropped = Vec::new();
    let ip = n.dl_type == Some(ETH_TYPE_IPV4);
    let arp = n.dl_type == Some(ETH_TYPE_ARP);
    if !(ip || arp) {
        if !n.nw_src.is_any() {
            dropped.push(DroppedField::NwSrc);
        }
        if !n.nw_dst.is_any() {
            dropped.push(DroppedField::NwDst);
        }
        if n.nw_proto.is_some() {
            dropped.push(DroppedField::NwProto);
        }
        n.nw_src = Ipv4Match::ANY;
        n.nw_dst = Ipv4Match::ANY;
        n.nw_proto = None;
    }
    if !ip && n.nw_tos.is_some() {
        dropped.push(DroppedField::NwTos);
        n.nw_tos = None;
    }
    let transport = ip
        && matches!(
            n.nw_proto,
            Some(IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP)
        );
    if !transport {
        if n.tp_src.is_some() {
            dropped.push(DroppedField::TpSrc);
        }
        if n.tp_dst.is_some() {
            dropped.push(DroppedField::TpDst);
        }
        n.tp_src = None;
        n.tp_dst = None;
    }
    if n.dl_vlan == VlanMatch::Untagged {
        n.dl_vlan_pcp = None;
    }
    n.nw_tos = n.nw_tos.map(|t| t & 0xfc);
    n.dl_vlan_pcp = n.dl_vlan_pcp.map(|p| p & 0x07);
    n.nw_src = canonical_prefix(n.nw_src);
    n.nw_dst = canonical_prefix(n.nw_dst);
    (n, dropped)
}

fn field<T: PartialEq>(want: Option<T>, have: T) -> bool {
    want.is_none_or(|w| w == have)
}

/// True if `pkt`, arriving on `in_port`, matches `m`.
///
/// `m` is taken as the switch would see it after [`normalize`]: call this on normalised
/// matches (a flow table stores only those). Semantics: a wildcarded field matches anything;
/// `dl_vlan` untagged matches frames without a tag, `Vid(v)` frames tagged `v`; `dl_vlan_pcp`
/// requires a tagged frame with that priority; `nw_tos` compares the DSCP bits; addresses
/// compare by prefix; for ARP, `nw_proto` is the opcode and `nw_src`/`nw_dst` the sender and
/// target protocol addresses; for ICMP, `tp_src` is the type and `tp_dst` the code.
pub fn matches(m: &Match, in_port: PortNo, pkt: &Packet) -> bool {
    let vlan_ok = match m.dl_vlan {
        VlanMatch::Any => true,
        VlanMatch::Untagged => pkt.dl_vlan.is_none(),
        VlanMatch::Vid(v) => pkt.dl_vlan == Some(v),
    };
    let pcp_ok = match m.dl_vlan_pcp {
        None => true,
        Some(p) => pkt.dl_vlan.is_some() && (pkt.dl_vlan_pcp & 0x07) == (p & 0x07),
    };
    vlan_ok
        && pcp_ok
        && field(m.in_port, in_port)
        && field(m.dl_src, pkt.dl_src)
        && field(m.dl_dst, pkt.dl_dst)
        && field(m.dl_type, pkt.dl_type)
        && m.nw_tos.is_none_or(|t| (t & 0xfc) == (pkt.nw_tos & 0xfc))
        && field(m.nw_proto, pkt.nw_proto)
        && m.nw_src.contains(pkt.nw_src)
        && m.nw_dst.contains(pkt.nw_dst)
        && field(m.tp_src, pkt.tp_src)
        && field(m.tp_dst, pkt.tp_dst)
}

fn covers_field<T: PartialEq>(wide: Option<T>, narrow: Option<T>) -> bool {
    match (wide, narrow) {
        (None, _) => true,
        (Some(w), Some(n)) => w == n,
        (Some(_), None) => false,
    }
}

fn covers_prefix(wide: Ipv4Match, narrow: Ipv4Match) -> bool {
    wide.prefix_len() <= narrow.prefix_len() && wide.contains(narrow.addr())
}

/// True if every packet that `narrow` matches is also matched by `wide`, judged field by field
/// as OpenFlow 1.0 defines it for non-strict MODIFY and DELETE (both matches normalised).
pub fn covers(wide: &Match, narrow: &Match) -> bool {
    let vlan = match (wide.dl_vlan, narrow.dl_vlan) {
        (VlanMatch::Any, _) => true,
        (w, n) => w == n,
    };
    vlan && covers_field(wide.in_port, narrow.in_port)
        && covers_field(wide.dl_src, narrow.dl_src)
        && covers_field(wide.dl_dst, narrow.dl_dst)
        && covers_field(wide.dl_vlan_pcp, narrow.dl_vlan_pcp)
        && covers_field(wide.dl_type, narrow.dl_type)
        && covers_field(wide.nw_tos, narrow.nw_tos)
        && covers_field(wide.nw_proto, narrow.nw_proto)
        && covers_prefix(wide.nw_src, narrow.nw_src)
        && covers_prefix(wide.nw_dst, narrow.nw_dst)
        && covers_field(wide.tp_src, narrow.tp_src)
        && covers_field(wide.tp_dst, narrow.tp_dst)
}

fn compatible<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn prefixes_intersect(a: Ipv4Match, b: Ipv4Match) -> bool {
    let m = a.mask() & b.mask();
    (u32::from(a.addr()) & m) == (u32::from(b.addr()) & m)
}

/// True if some packet could match both `a` and `b` (both normalised): the test behind
/// `OFPFF_CHECK_OVERLAP`, and the one the compiler's equal-priority invariant needs.
pub fn overlaps(a: &Match, b: &Match) -> bool {
    let vlan = match (a.dl_vlan, b.dl_vlan) {
        (VlanMatch::Any, _) | (_, VlanMatch::Any) => true,
        (x, y) => x == y,
    };
    // A priority match requires a tag: it cannot meet an untagged-only match.
    let pcp_vs_untagged = (a.dl_vlan_pcp.is_some() && b.dl_vlan == VlanMatch::Untagged)
        || (b.dl_vlan_pcp.is_some() && a.dl_vlan == VlanMatch::Untagged);
    vlan && !pcp_vs_untagged
        && compatible(a.in_port, b.in_port)
        && compatible(a.dl_src, b.dl_src)
        && compatible(a.dl_dst, b.dl_dst)
        && compatible(a.dl_vlan_pcp, b.dl_vlan_pcp)
        && compatible(a.dl_type, b.dl_type)
        && compatible(a.nw_tos, b.nw_tos)
        && compatible(a.nw_proto, b.nw_proto)
        && prefixes_intersect(a.nw_src, b.nw_src)
        && prefixes_intersect(a.nw_dst, b.nw_dst)
        && compatible(a.tp_src, b.tp_src)
        && compatible(a.tp_dst, b.tp_dst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use openflow_proto::MacAddr;

    fn tcp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16) -> Packet {
        Packet::ipv4(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::from(src),
            Ipv4Addr::from(dst),
            IP_PROTO_TCP,
            sport,
            dport,
        )
    }

    #[test]
    fn prerequisites_drop_fields_like_ovs() {
        let mut m = Match::any();
        m.nw_src = Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 1));
        m.tp_dst = Some(22);
        let (n, dropped) = normalize(&m);
        assert_eq!(n, Match::any());
        assert_eq!(dropped, vec![DroppedField::NwSrc, DroppedField::TpDst]);

        // IPv4 without a transport protocol keeps addresses, drops ports.
        m.dl_type = Some(ETH_TYPE_IPV4);
        let (n, dropped) = normalize(&m);
        assert_eq!(n.nw_src.prefix_len(), 32);
        assert_eq!(n.tp_dst, None);
        assert_eq!(dropped, vec![DroppedField::TpDst]);

        // ARP keeps the addresses and the opcode, drops ToS and ports.
        let mut a = Match::any();
        a.set_arp_opcode(1);
        a.nw_tos = Some(4);
        a.tp_src = Some(1);
        let (n, dropped) = normalize(&a);
        assert_eq!(n.nw_proto, Some(1));
        assert_eq!(dropped, vec![DroppedField::NwTos, DroppedField::TpSrc]);
    }

    #[test]
    fn canonical_forms() {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_src = Ipv4Match::from_raw(Ipv4Addr::new(10, 1, 2, 3), 8);
        m.nw_dst = Ipv4Match::from_raw(Ipv4Addr::new(1, 2, 3, 4), 63);
        m.nw_tos = Some(0xff);
        m.dl_vlan = VlanMatch::Untagged;
        m.dl_vlan_pcp = Some(3);
        let (n, dropped) = normalize(&m);
        assert!(dropped.is_empty());
        assert_eq!(n.nw_src, Ipv4Match::prefix(Ipv4Addr::new(10, 1, 2, 0), 24));
        assert_eq!(n.nw_dst, Ipv4Match::ANY);
        assert_eq!(n.nw_tos, Some(0xfc));
        assert_eq!(n.dl_vlan_pcp, None);
    }

    #[test]
    fn packet_matching() {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_proto = Some(IP_PROTO_TCP);
        m.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 24);
        m.tp_dst = Some(80);
        let p = tcp([1, 1, 1, 1], [10, 0, 0, 9], 1000, 80);
        assert!(matches(&m, PortNo(1), &p));
        assert!(!matches(
            &m,
            PortNo(1),
            &tcp([1, 1, 1, 1], [10, 0, 1, 9], 1000, 80)
        ));
        assert!(!matches(
            &m,
            PortNo(1),
            &tcp([1, 1, 1, 1], [10, 0, 0, 9], 1000, 81)
        ));
        m.in_port = Some(PortNo(2));
        assert!(!matches(&m, PortNo(1), &p));
        assert!(matches(&m, PortNo(2), &p));
    }

    #[test]
    fn vlan_and_pcp() {
        let mut p = tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
        let mut m = Match::any();
        m.dl_vlan = VlanMatch::Untagged;
        assert!(matches(&m, PortNo(1), &p));
        m.dl_vlan = VlanMatch::Vid(5);
        assert!(!matches(&m, PortNo(1), &p));
        p.dl_vlan = Some(5);
        p.dl_vlan_pcp = 3;
        assert!(matches(&m, PortNo(1), &p));
        let mut q = Match::any();
        q.dl_vlan_pcp = Some(3);
        assert!(matches(&q, PortNo(1), &p));
        p.dl_vlan = None;
        assert!(
            !matches(&q, PortNo(1), &p),
            "a priority match requires a tag"
        );
        let mut u = Match::any();
        u.dl_vlan = VlanMatch::Untagged;
        assert!(!overlaps(&q, &u));
    }

    #[test]
    fn tos_compares_dscp_only() {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_tos = Some(0x10);
        let mut p = tcp([1, 1, 1, 1], [2, 2, 2, 2], 1, 2);
        p.nw_tos = 0x13;
        assert!(matches(&m, PortNo(1), &p));
        p.nw_tos = 0x14;
        assert!(!matches(&m, PortNo(1), &p));
    }

    #[test]
    fn covers_and_overlaps() {
        let mut wide = Match::any();
        wide.dl_type = Some(ETH_TYPE_IPV4);
        wide.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 8);
        let mut narrow = wide;
        narrow.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 1, 0, 0), 16);
        narrow.nw_proto = Some(IP_PROTO_UDP);
        assert!(covers(&wide, &narrow));
        assert!(!covers(&narrow, &wide));
        assert!(covers(&Match::any(), &narrow));
        assert!(overlaps(&wide, &narrow));
        let mut other = wide;
        other.nw_src = Ipv4Match::prefix(Ipv4Addr::new(11, 0, 0, 0), 8);
        assert!(!overlaps(&wide, &other));
        assert!(!covers(&wide, &other));
        let mut tcp_only = narrow;
        tcp_only.nw_proto = Some(IP_PROTO_TCP);
        assert!(!overlaps(&tcp_only, &narrow));
    }
}
