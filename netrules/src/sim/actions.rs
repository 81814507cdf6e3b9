//! OpenFlow 1.0 action application: rewrites and outputs, in order.

use crate::packet::Packet;
use openflow_proto::flow_match::{ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP};
use openflow_proto::{Action, PortNo};

/// One output produced by an action list: the port as the action named it (reserved ports
/// such as `IN_PORT`, `FLOOD` or `CONTROLLER` are left for the switch to resolve) and the
/// packet as modified by the actions before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emit {
    /// The port named by the output (or enqueue) action.
    pub port: PortNo,
    /// For output to the controller, the number of bytes to send.
    pub max_len: u16,
    /// The packet as it leaves.
    pub packet: Packet,
}

/// Apply one rewrite action to `pkt`. Output, enqueue and vendor actions change nothing.
///
/// As in Open vSwitch, a rewrite whose layer the packet does not have is a no-op at run
/// time: `set_nw_*` applies to IPv4 only, `set_tp_*` to TCP and UDP ports and, as Open
/// vSwitch does it (the specification names only ports), to the ICMP type and code (the low
/// 8 bits of the value). Setting a VLAN id or priority on an untagged frame pushes a tag
/// (id 0 / priority 0 for the other field); `set_nw_tos` replaces the DSCP bits and keeps the
/// ECN bits. The `ovs_oracle` test checks these against Open vSwitch 3.1.
pub fn rewrite(pkt: &mut Packet, action: &Action) {
    let ip = pkt.dl_type == ETH_TYPE_IPV4;
    let l4 = ip && matches!(pkt.nw_proto, IP_PROTO_TCP | IP_PROTO_UDP);
    let icmp = ip && pkt.nw_proto == IP_PROTO_ICMP;
    match action {
        Action::SetVlanVid(v) => {
            if pkt.dl_vlan.is_none() {
                pkt.dl_vlan_pcp = 0;
            }
            pkt.dl_vlan = Some(v & 0x0fff);
        }
        Action::SetVlanPcp(p) => {
            if pkt.dl_vlan.is_none() {
                pkt.dl_vlan = Some(0);
            }
            pkt.dl_vlan_pcp = p & 0x07;
        }
        Action::StripVlan => {
            pkt.dl_vlan = None;
            pkt.dl_vlan_pcp = 0;
        }
        Action::SetDlSrc(m) => pkt.dl_src = *m,
        Action::SetDlDst(m) => pkt.dl_dst = *m,
        Action::SetNwSrc(a) if ip => pkt.nw_src = *a,
        Action::SetNwDst(a) if ip => pkt.nw_dst = *a,
        Action::SetNwTos(t) if ip => pkt.nw_tos = (t & 0xfc) | (pkt.nw_tos & 0x03),
        Action::SetTpSrc(p) if l4 => pkt.tp_src = *p,
        Action::SetTpDst(p) if l4 => pkt.tp_dst = *p,
        Action::SetTpSrc(p) if icmp => pkt.tp_src = p & 0xff,
        Action::SetTpDst(p) if icmp => pkt.tp_dst = p & 0xff,
        _ => {}
    }
}

/// Apply an action list to a packet, in order, as OpenFlow 1.0 does: each output sends the
/// packet as modified by the actions before it. An empty list drops the packet (no output).
/// Vendor actions are not interpreted and are skipped.
pub fn apply_actions(actions: &[Action], pkt: &Packet) -> Vec<Emit> {
    let mut cur = *pkt;
    let mut out = Vec::new();
    for a in actions {
        match a {
            Action::Output { port, max_len } => out.push(Emit {
                port: *port,
                max_len: *max_len,
                packet: cur,
            }),
            Action::Enqueue { port, .. } => out.push(Emit {
                port: *port,
                max_len: 0,
                packet: cur,
            }),
            other => rewrite(&mut cur, other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use openflow_proto::MacAddr;

    fn tcp() -> Packet {
        Packet::ipv4(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            IP_PROTO_TCP,
            1000,
            80,
        )
    }

    #[test]
    fn outputs_see_rewrites_so_far() {
        let pub_ip = Ipv4Addr::new(203, 0, 113, 5);
        let acts = [
            Action::output(PortNo(1)),
            Action::SetNwSrc(pub_ip),
            Action::SetDlDst(MacAddr([2, 9, 9, 9, 9, 9])),
            Action::output(PortNo(2)),
            Action::SetTpDst(8080),
            Action::to_controller(128),
        ];
        let out = apply_actions(&acts, &tcp());
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].packet, tcp());
        assert_eq!(out[1].packet.nw_src, pub_ip);
        assert_eq!(out[1].packet.dl_dst, MacAddr([2, 9, 9, 9, 9, 9]));
        assert_eq!(out[1].packet.tp_dst, 80);
        assert_eq!(out[2].packet.tp_dst, 8080);
        assert_eq!((out[2].port, out[2].max_len), (PortNo::CONTROLLER, 128));
    }

    #[test]
    fn empty_is_drop() {
        assert!(apply_actions(&[], &tcp()).is_empty());
        assert!(apply_actions(&[Action::SetNwTos(8)], &tcp()).is_empty());
    }

    #[test]
    fn layer_conditional_rewrites() {
        let arp = Packet::arp(
            1,
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr::BROADCAST,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
        );
        let mut p = arp;
        rewrite(&mut p, &Action::SetNwSrc(Ipv4Addr::new(1, 1, 1, 1)));
        rewrite(&mut p, &Action::SetTpSrc(5));
        assert_eq!(p, arp);
        // The Ethernet source is rewritten, the ARP sender hardware address is not.
        rewrite(&mut p, &Action::SetDlSrc(MacAddr([2, 0, 0, 0, 0, 9])));
        assert_eq!(p.dl_src, MacAddr([2, 0, 0, 0, 0, 9]));
        assert_eq!(p.arp_sha, arp.dl_src);
        // Open vSwitch sets the ICMP type and code (8 bits) through set_tp_src/dst.
        let mut icmp = tcp();
        icmp.nw_proto = 1;
        icmp.tp_src = 8;
        rewrite(&mut icmp, &Action::SetTpSrc(0));
        rewrite(&mut icmp, &Action::SetTpDst(0x1bb));
        assert_eq!((icmp.tp_src, icmp.tp_dst), (0, 0xbb));
        // Other IP protocols have no transport header to rewrite.
        let mut gre = tcp();
        gre.nw_proto = 47;
        gre.tp_src = 0;
        gre.tp_dst = 0;
        rewrite(&mut gre, &Action::SetTpDst(5));
        assert_eq!(gre.tp_dst, 0);
        let mut t = tcp();
        t.nw_tos = 0x03;
        rewrite(&mut t, &Action::SetNwTos(0xb8));
        assert_eq!(t.nw_tos, 0xbb);
    }

    #[test]
    fn vlan_push_set_strip() {
        let mut p = tcp();
        rewrite(&mut p, &Action::SetVlanPcp(5));
        assert_eq!((p.dl_vlan, p.dl_vlan_pcp), (Some(0), 5));
        rewrite(&mut p, &Action::SetVlanVid(100));
        assert_eq!((p.dl_vlan, p.dl_vlan_pcp), (Some(100), 5));
        rewrite(&mut p, &Action::StripVlan);
        assert_eq!((p.dl_vlan, p.dl_vlan_pcp), (None, 0));
        rewrite(&mut p, &Action::SetVlanVid(7));
        assert_eq!((p.dl_vlan, p.dl_vlan_pcp), (Some(7), 0));
    }
}
