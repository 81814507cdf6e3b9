//! Property tests of the simulator's OpenFlow 1.0 semantics: the match functions agree with
//! each other, lookups pick the best-ranked flow, and flow_mods change exactly what the
//! specification says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use netrules::sim::matching::{covers, matches, normalize, overlaps};
use netrules::sim::{FlowTable, EXACT_MATCH_PRIORITY};
use netrules::strategies::{exact_match, flow_match, flow_mod, packet, small_port};
use netrules::Packet;
use openflow_proto::{FlowModCommand, Ipv4Match, Match, PortNo, VlanMatch};
use proptest::prelude::*;

/// A packet that matches both `a` and `b`, built from their fields, if they overlap.
fn witness(a: &Match, b: &Match, base: &Packet) -> (PortNo, Packet) {
    let mut p = *base;
    let pick = |x: Option<u16>, y: Option<u16>, d: u16| x.or(y).unwrap_or(d);
    let in_port = a.in_port.or(b.in_port).unwrap_or(PortNo(1));
    p.dl_src = a.dl_src.or(b.dl_src).unwrap_or(p.dl_src);
    p.dl_dst = a.dl_dst.or(b.dl_dst).unwrap_or(p.dl_dst);
    p.dl_vlan = match (a.dl_vlan, b.dl_vlan) {
        (VlanMatch::Vid(v), _) | (_, VlanMatch::Vid(v)) => Some(v),
        (VlanMatch::Untagged, _) | (_, VlanMatch::Untagged) => None,
        _ if a.dl_vlan_pcp.is_some() || b.dl_vlan_pcp.is_some() => Some(1),
        _ => p.dl_vlan,
    };
    p.dl_vlan_pcp = a.dl_vlan_pcp.or(b.dl_vlan_pcp).unwrap_or(p.dl_vlan_pcp);
    p.dl_type = pick(a.dl_type, b.dl_type, p.dl_type);
    p.nw_tos = a.nw_tos.or(b.nw_tos).unwrap_or(p.nw_tos);
    p.nw_proto = a.nw_proto.or(b.nw_proto).unwrap_or(p.nw_proto);
    // The longer prefix lies inside the shorter one when they intersect.
    let longer = |x: Ipv4Match, y: Ipv4Match, d| {
        let l = if x.prefix_len() >= y.prefix_len() {
            x
        } else {
            y
        };
        let host = u32::from(d) & !l.mask();
        core::net::Ipv4Addr::from((u32::from(l.addr()) & l.mask()) | host)
    };
    p.nw_src = longer(a.nw_src, b.nw_src, p.nw_src);
    p.nw_dst = longer(a.nw_dst, b.nw_dst, p.nw_dst);
    p.tp_src = pick(a.tp_src, b.tp_src, p.tp_src);
    p.tp_dst = pick(a.tp_dst, b.tp_dst, p.tp_dst);
    (in_port, p)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn normalize_is_idempotent_and_only_widens(m in flow_match(), p in packet(), port in small_port()) {
        let (n, _) = normalize(&m);
        prop_assert_eq!(normalize(&n).0, n);
        if matches(&m, port, &p) {
            prop_assert!(matches(&n, port, &p));
        }
    }

    #[test]
    fn covers_is_sound(a in flow_match(), b in flow_match(), p in packet(), port in small_port()) {
        let (a, b) = (normalize(&a).0, normalize(&b).0);
        prop_assert!(covers(&a, &a));
        prop_assert!(covers(&Match::any(), &a));
        if covers(&a, &b) && matches(&b, port, &p) {
            prop_assert!(matches(&a, port, &p));
        }
        if covers(&a, &b) && covers(&b, &a) {
            prop_assert_eq!(a, b);
        }
    }

    #[test]
    fn overlaps_is_exact(a in flow_match(), b in flow_match(), base in packet(), port in small_port()) {
        let (a, b) = (normalize(&a).0, normalize(&b).0);
        prop_assert_eq!(overlaps(&a, &b), overlaps(&b, &a));
        if matches(&a, port, &base) && matches(&b, port, &base) {
            prop_assert!(overlaps(&a, &b));
        }
        if overlaps(&a, &b) {
            let (in_port, w) = witness(&a, &b, &base);
            prop_assert!(matches(&a, in_port, &w) && matches(&b, in_port, &w),
                "overlap claimed but witness {:?} on {:?} fails", w, in_port);
        }
    }

    #[test]
    fn exact_match_matches_only_its_packet(p in packet(), q in packet(), port in small_port()) {
        let m = exact_match(&p, port);
        prop_assert!(m.is_exact());
        prop_assert!(matches(&normalize(&m).0, port, &p));
        let mut qq = q;
        qq.nw_tos &= 0xfc;
        let mut pp = p;
        pp.nw_tos &= 0xfc;
        if matches(&normalize(&m).0, port, &q) && p.dl_type == 0x0800 && matches!(p.nw_proto, 1 | 6 | 17) {
            prop_assert_eq!(pp, qq);
        }
    }

    #[test]
    fn flow_mods_do_what_the_spec_says(fms in prop::collection::vec(flow_mod(), 1..24), probes in prop::collection::vec((small_port(), packet()), 8)) {
        let mut t = FlowTable::new();
        for (i, fm) in fms.iter().enumerate() {
            let now = Duration::from_secs(i as u64);
            let before: Vec<_> = t.entries().to_vec();
            let (m, _) = normalize(&fm.r#match);
            let exact = fm.r#match.is_exact();
            let prio = if exact { EXACT_MATCH_PRIORITY } else { fm.priority };
            let same = |e: &netrules::sim::FlowEntry| e.exact == exact && e.priority == prio && e.r#match == m;
            let out = t.apply(fm, now).unwrap();
            match fm.command {
                FlowModCommand::Add => {
                    prop_assert_eq!(out.added.len(), 1);
                    let e = t.find_strict(&fm.r#match, fm.priority).unwrap();
                    prop_assert_eq!(&e.actions, &fm.actions);
                    prop_assert_eq!(e.packet_count, 0);
                    prop_assert_eq!(t.len(), before.len() + 1 - out.removed.len());
                }
                FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                    let strict = fm.command == FlowModCommand::DeleteStrict;
                    let hit = |e: &netrules::sim::FlowEntry| {
                        (if strict { same(e) } else { covers(&m, &e.r#match) }) && e.outputs_to(fm.out_port)
                    };
                    let expect: Vec<_> = before.iter().filter(|e| !hit(e)).cloned().collect();
                    prop_assert_eq!(t.entries(), &expect[..]);
                    prop_assert_eq!(out.removed.len(), before.len() - expect.len());
                }
                FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                    let strict = fm.command == FlowModCommand::ModifyStrict;
                    let hit = |e: &netrules::sim::FlowEntry| if strict { same(e) } else { covers(&m, &e.r#match) };
                    let n = before.iter().filter(|e| hit(e)).count();
                    if n == 0 {
                        prop_assert_eq!(out.added.len(), 1);
                        prop_assert_eq!(t.len(), before.len() + 1);
                    } else {
                        prop_assert_eq!(out.modified.len(), n);
                        prop_assert_eq!(t.len(), before.len());
                        for (old, new) in before.iter().zip(t.entries()) {
                            prop_assert_eq!(old.id, new.id);
                            if hit(old) {
                                prop_assert_eq!(&new.actions, &fm.actions);
                                prop_assert_eq!(new.cookie, fm.cookie);
                                prop_assert_eq!(new.packet_count, old.packet_count);
                            } else {
                                prop_assert_eq!(old, new);
                            }
                        }
                    }
                }
                FlowModCommand::Unknown(_) => unreachable!(),
            }
            // Lookup picks a flow of the best rank among those that match.
            for (port, p) in &probes {
                let all: Vec<_> = t.entries().iter().filter(|e| matches(&e.r#match, *port, p)).collect();
                let best = all.iter().map(|e| (e.exact, e.priority)).max();
                let got = t.lookup(*port, p);
                prop_assert_eq!(got.as_ref().map(|l| (l.entry.exact, l.entry.priority)), best);
                if let Some(l) = got {
                    // Rivals: same priority (an exact-match winner ties with wildcarded flows of
                    // priority 65535, as in Open vSwitch).
                    let rivals = all.iter().filter(|e| e.priority == l.entry.priority && e.id != l.entry.id && e.actions != l.entry.actions).count();
                    prop_assert_eq!(l.ties.len(), rivals);
                }
            }
        }
    }

    #[test]
    fn expiry_removes_exactly_the_expired(fms in prop::collection::vec(flow_mod(), 1..16), uses in prop::collection::vec((small_port(), packet(), 0u64..20), 0..10), at in 0u64..30) {
        let mut t = FlowTable::new();
        for fm in &fms {
            let mut fm = fm.clone();
            fm.command = FlowModCommand::Add;
            t.apply(&fm, Duration::ZERO).unwrap();
        }
        let mut uses = uses;
        uses.sort_by_key(|u| u.2);
        for (port, p, s) in &uses {
            let now = Duration::from_secs(*s);
            t.expire(now);
            t.process(*port, p, 60, now);
        }
        let now = Duration::from_secs(20 + at);
        let before: Vec<_> = t.entries().to_vec();
        let removed = t.expire(now);
        for e in t.entries() {
            prop_assert!(e.deadline().is_none_or(|(d, _)| d > now));
        }
        let gone: Vec<_> = before.iter().filter(|e| e.deadline().is_some_and(|(d, _)| d <= now)).collect();
        prop_assert_eq!(t.len() + gone.len(), before.len());
        let notified = gone.iter().filter(|e| e.flags.contains(openflow_proto::FlowModFlags::SEND_FLOW_REM)).count();
        prop_assert_eq!(removed.len(), notified);
        // Everything was installed at 0: notifications come in order of expiry.
        prop_assert!(removed.windows(2).all(|w| w[0].duration <= w[1].duration));
    }
}
