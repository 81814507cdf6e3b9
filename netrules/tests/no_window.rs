//! Updates without a window: while the incremental compiler's flow_mods for a model change are
//! applied one by one, a packet that the proactive flows deliver both before and after the
//! change is delivered, with the same headers, after every single flow_mod.
//!
//! Note on its power: with the current compiler, the flows that carry such packets are rarely
//! the ones a change replaces, so reordering the flow_mods (deletes first) was not caught by
//! this test when tried; it guards the property, the ordering itself is checked directly in
//! `tests/incremental.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use netrules::compile::{compile, CompileOptions, Compiler};
use netrules::model::{Direction, Model, Permission};
use netrules::reference::Entry;
use netrules::sim::{Delivery, MissBehavior, Network, Point, SilentController};
use netrules::strategies::{changes, model, outside_hosts};
use netrules::Packet;
use proptest::prelude::*;

/// The network of `m` with its compiled tables, a controller that answers nothing and misses
/// dropped: only what the proactive flows do.
fn proactive(m: &Model, opts: &CompileOptions) -> Network<SilentController> {
    let mut net = Network::new(SilentController);
    net.set_gateway(m.settings().public_gateway_mac);
    for s in m.switches().values() {
        net.add_switch(s.dpid, Some(s.uplink)).unwrap();
        net.set_miss_behavior(s.dpid, MissBehavior::Drop).unwrap();
    }
    for (d, flows) in compile(m, opts) {
        for f in flows {
            net.apply_flow_mod(d, &f.to_add()).unwrap();
        }
    }
    net
}

/// Packets between every pair of attached instances and from outside to every elastic IP.
fn probes(m: &Model) -> Vec<(Entry, Packet)> {
    let s = m.settings();
    let mut v = Vec::new();
    let attached: Vec<_> = m
        .instances()
        .values()
        .filter(|i| i.attachment.is_some())
        .collect();
    for a in &attached {
        let at = a.attachment.unwrap();
        let entry = Entry::Port {
            switch: at.switch,
            port: at.port,
        };
        for b in &attached {
            if a.id != b.id {
                for (proto, port) in [(6, 22), (6, 80), (17, 53), (1, 8)] {
                    let (sp, dp) = if proto == 1 { (8, 0) } else { (40000, port) };
                    v.push((entry, Packet::ipv4(a.mac, b.mac, a.ip, b.ip, proto, sp, dp)));
                }
            }
        }
        v.push((
            entry,
            Packet::ipv4(a.mac, s.router_mac, a.ip, outside_hosts()[0], 6, 40000, 443),
        ));
    }
    for eip in m.elastic_ips().keys() {
        for port in [22, 80] {
            v.push((
                Entry::Outside,
                Packet::ipv4(
                    s.public_gateway_mac,
                    s.elastic_ip_mac,
                    outside_hosts()[0],
                    *eip,
                    6,
                    40000,
                    port,
                ),
            ));
        }
    }
    v
}

fn deliveries(net: &mut Network<SilentController>, e: Entry, p: Packet) -> Vec<Delivery> {
    let t = net.inject(Point::from(e), p).unwrap();
    let mut d: Vec<Delivery> = t.deliveries().cloned().collect();
    d.sort();
    d
}

/// A random model where every group also lets everything in from everywhere, with all
/// egress allowed: most probes are then forwarded proactively, and the changes (revoking that
/// rule among others) move flows between bands.
fn open_model() -> impl Strategy<Value = Model> {
    model().prop_map(|mut m| {
        let groups: Vec<_> = m.groups().keys().cloned().collect();
        for g in groups {
            let all = Permission::allow_all();
            let _ = m.authorize(&g, Direction::Ingress, all.clone());
            let _ = m.authorize(&g, Direction::Egress, all);
        }
        m
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn no_window_while_updating((m, cs) in open_model().prop_flat_map(|m| { let c = changes(&m, 6); (Just(m), c) })) {
        let opts = CompileOptions::default();
        let mut m = m;
        let mut compiler = Compiler::new(&m, opts);
        let mut net = proactive(&m, &opts);
        for c in &cs {
            let old = m.clone();
            let Ok(touched) = c.apply(&mut m) else { continue };
            // Moving an instance changes where its frames enter: compare only packets whose
            // entry exists before and after, from instances that did not move.
            let updates = compiler.update(&m, &touched);
            let mut after = net.clone();
            for u in &updates {
                after.apply_flow_mod(u.switch, &u.flow_mod).unwrap();
            }
            let stable: Vec<(Entry, Packet, Vec<Delivery>)> = probes(&old)
                .into_iter()
                .filter(|(e, p)| match e {
                    Entry::Port { switch, port } => m.instance_at(*switch, *port).is_some_and(|i| i.mac == p.dl_src),
                    Entry::Outside => true,
                })
                .filter_map(|(e, p)| {
                    let before = deliveries(&mut net.clone(), e, p);
                    let later = deliveries(&mut after.clone(), e, p);
                    (!before.is_empty() && before == later).then_some((e, p, before))
                })
                .collect();
            for (i, u) in updates.iter().enumerate() {
                net.apply_flow_mod(u.switch, &u.flow_mod).unwrap();
                for (e, p, want) in &stable {
                    let got = deliveries(&mut net.clone(), *e, *p);
                    prop_assert_eq!(&got, want, "{:?}: after flow_mod {} of {} ({:?}) {:?} is not delivered", c, i + 1, updates.len(), u.flow_mod, p);
                }
            }
        }
    }
}
