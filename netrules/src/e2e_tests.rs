//! End-to-end checks of the compiler and the pinhole decisions against the reference, in
//! the simulator: random models, random traces, random changes (with a small seeded
//! generator, so that a failure names its seed).

use crate::compile::{check_invariants, CompileOptions, Compiler};
use crate::diff::Update;
use crate::model::*;
use crate::packet::{Packet, ARP_REPLY, ARP_REQUEST};
use crate::pinhole::Pinholes;
use crate::reference::{Endpoint, Entry, Reference, Verdict};
use crate::sim::{
    Controller, ControllerMessage, Destination, FlowRemoved, Network, PacketIn, Point,
};
use core::net::Ipv4Addr;
use core::time::Duration;
use ipnetwork::Ipv4Network;
use openflow_proto::{MacAddr, PortNo};
use std::collections::BTreeSet;

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

pub(crate) fn settings() -> Settings {
    Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16).unwrap(),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfe]),
        public_gateway: Ipv4Addr::new(198, 51, 100, 1),
        public_gateway_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfd]),
        elastic_ip_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfc]),
    }
}

const UPLINK: u16 = 100;
const OUTSIDE_HOSTS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(192, 0, 2, 7),
    Ipv4Addr::new(192, 0, 2, 200),
    Ipv4Addr::new(8, 8, 8, 8),
];

fn gid(n: u64) -> GroupId {
    GroupId::new(format!("sg-{n}")).unwrap()
}

fn iid(n: u64) -> InstanceId {
    InstanceId::new(format!("i-{n}")).unwrap()
}

fn owner() -> OwnerId {
    OwnerId::new("111122223333").unwrap()
}

fn eip_addr(n: u64) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10 + n as u8)
}

fn random_protocol(r: &mut Rng) -> Protocol {
    match r.below(12) {
        0 => Protocol::Any,
        1 => Protocol::Tcp(PortRange::single(22)),
        2 => Protocol::Tcp(PortRange::new(80, 82).unwrap()),
        3 => Protocol::Tcp(PortRange::ALL),
        4 => Protocol::Udp(PortRange::single(53)),
        5 => Protocol::Udp(PortRange::new(1000, 1100).unwrap()),
        6 => Protocol::Icmp(IcmpSpec::ANY),
        7 => Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap()),
        8 => Protocol::Icmp(IcmpSpec::new(Some(0), Some(0)).unwrap()),
        9 => Protocol::Icmp(IcmpSpec::new(Some(3), Some(4)).unwrap()),
        10 => Protocol::Number(47),
        _ => Protocol::Tcp(PortRange::new(5000, 5001).unwrap()),
    }
}

fn random_peer(r: &mut Rng, groups: u64) -> Peer {
    match r.below(6) {
        0 => Peer::anywhere(),
        1 => Peer::cidr(Ipv4Addr::new(10, 0, 1, 0), 29).unwrap(),
        2 => Peer::cidr(Ipv4Addr::new(192, 0, 2, 0), 25).unwrap(),
        3 => Peer::cidr(Ipv4Addr::new(10, 0, 0, 0), 16).unwrap(),
        _ => Peer::Group(gid(r.below(groups))),
    }
}

pub(crate) fn random_permission(r: &mut Rng, groups: u64) -> Permission {
    Permission::new(random_protocol(r), random_peer(r, groups)).unwrap()
}

/// How much bigger than the default random models to make them: `E2E_SCALE`, or 1.
fn scale() -> u64 {
    std::env::var("E2E_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

pub(crate) fn random_model(r: &mut Rng) -> Model {
    let mut m = Model::new(settings()).unwrap();
    let switches = 1 + r.below(3 * scale());
    for d in 1..=switches {
        m.add_switch(Switch {
            dpid: d,
            uplink: PortNo(UPLINK),
        })
        .unwrap();
    }
    let groups = 1 + r.below(3 * scale());
    for g in 0..groups {
        let mut sg = SecurityGroup::new(gid(g), format!("g{g}"), owner(), "");
        if r.chance(40) {
            sg.egress.clear();
        }
        for _ in 0..r.below(4) {
            sg.ingress.insert(random_permission(r, groups));
        }
        for _ in 0..r.below(3) {
            sg.egress.insert(random_permission(r, groups));
        }
        // Insert without permissions first so that references resolve.
        let perms = (sg.ingress.clone(), sg.egress.clone());
        sg.ingress.clear();
        sg.egress.clear();
        m.add_group(sg).unwrap();
        let _ = perms;
        for p in perms.0 {
            let _ = m.authorize(&gid(g), Direction::Ingress, p);
        }
        for p in perms.1 {
            let _ = m.authorize(&gid(g), Direction::Egress, p);
        }
    }
    let instances = 2 + r.below(5 * scale());
    for n in 0..instances {
        let mut gs = BTreeSet::new();
        for g in 0..groups {
            if r.chance(50) {
                gs.insert(gid(g));
            }
        }
        let attachment = (!r.chance(10)).then(|| Attachment {
            switch: 1 + r.below(switches),
            port: PortNo(1 + n as u16),
        });
        m.add_instance(Instance {
            id: iid(n),
            owner: owner(),
            mac: MacAddr([0x02, 0, 0, 0, 1, n as u8 + 1]),
            ip: Ipv4Addr::new(10, 0, 1, n as u8 + 2),
            groups: gs,
            attachment,
        })
        .unwrap();
        if r.chance(50) {
            m.allocate(ElasticIp {
                public_ip: eip_addr(n),
                allocation_id: AllocationId::new(format!("eipalloc-{n}")).unwrap(),
                owner: owner(),
                instance: Some(iid(n)),
            })
            .unwrap();
        }
    }
    m
}

struct Ctl {
    model: Model,
    pins: Pinholes,
}

fn to_messages(u: Vec<Update>) -> Vec<ControllerMessage> {
    u.into_iter()
        .map(|u| ControllerMessage::FlowMod {
            switch: u.switch,
            flow_mod: u.flow_mod,
        })
        .collect()
}

impl Controller for Ctl {
    fn packet_in(&mut self, _now: Duration, ev: &PacketIn) -> Vec<ControllerMessage> {
        let d = self
            .pins
            .packet_in(&self.model, ev.switch, ev.in_port, &ev.packet);
        let mut msgs = to_messages(d.flow_mods());
        if let Some(po) = d.packet_out {
            msgs.push(ControllerMessage::PacketOut {
                switch: po.switch,
                in_port: po.in_port,
                actions: po.actions.into_vec(),
                packet: po.packet,
            });
        }
        msgs
    }

    fn flow_removed(
        &mut self,
        _now: Duration,
        switch: u64,
        removed: &FlowRemoved,
    ) -> Vec<ControllerMessage> {
        to_messages(
            self.pins
                .flow_removed(switch, removed.cookie, &removed.r#match),
        )
    }
}

struct World {
    model: Model,
    compiler: Compiler,
    net: Network<Ctl>,
    reference: Reference,
    opts: CompileOptions,
}

impl World {
    fn new(model: Model, opts: CompileOptions) -> Self {
        let compiler = Compiler::new(&model, opts);
        let mut net = Network::new(Ctl {
            model: model.clone(),
            pins: Pinholes::new(opts),
        });
        net.set_gateway(model.settings().public_gateway_mac);
        for s in model.switches().values() {
            net.add_switch(s.dpid, Some(s.uplink)).unwrap();
        }
        for i in model.instances().values() {
            if let Some(a) = i.attachment {
                net.attach_host(i.id.as_str(), a.switch, a.port).unwrap();
            }
        }
        for (d, t) in compiler.tables() {
            check_invariants(&t).unwrap();
            for f in t {
                net.apply_flow_mod(d, &f.to_add()).unwrap();
            }
        }
        let reference = Reference::new(Duration::from_secs(u64::from(opts.pinhole_idle_timeout)));
        World {
            model,
            compiler,
            net,
            reference,
            opts,
        }
    }

    fn change(&mut self, f: impl FnOnce(&mut Model) -> Result<Touched, ModelError>) {
        let Ok(t) = f(&mut self.model) else { return };
        // Host attachments follow the model.
        for id in &t.instances {
            let want = self.model.instance(id).and_then(|i| i.attachment);
            let have = self.net.host_location(id.as_str());
            if want.map(|a| (a.switch, a.port)) != have {
                if have.is_some() {
                    self.net.detach_host(id.as_str()).unwrap();
                }
                if let Some(a) = want {
                    self.net.attach_host(id.as_str(), a.switch, a.port).unwrap();
                }
            }
        }
        let mods = self.compiler.update(&self.model, &t);
        self.net.controller_mut().model = self.model.clone();
        let cuts = self.net.controller_mut().pins.cut(&t);
        self.reference.cut(&t);
        for u in mods.into_iter().chain(cuts) {
            self.net.apply_flow_mod(u.switch, &u.flow_mod).unwrap();
        }
        // Incremental equals full.
        let full = crate::compile::compile(&self.model, &self.opts);
        let inc = self.compiler.tables();
        for (d, t) in &full {
            let mut a: Vec<_> = t.iter().map(|f| (f.key(), f.actions.clone())).collect();
            let mut b: Vec<_> = inc[d]
                .iter()
                .map(|f| (f.key(), f.actions.clone()))
                .collect();
            a.sort_by_key(|x| format!("{x:?}"));
            b.sort_by_key(|x| format!("{x:?}"));
            assert_eq!(a, b, "incremental != full on switch {d}");
            check_invariants(t).unwrap();
        }
    }

    fn advance(&mut self, secs: u64) {
        let now = self.net.now() + Duration::from_secs(secs);
        self.net.advance_to(now).unwrap();
        self.reference.expire(now);
    }

    /// Send a packet both ways and compare.
    fn send(&mut self, entry: Entry, p: Packet) -> Verdict {
        let now = self.net.now();
        let v = self.reference.inject(&self.model, now, entry, p);
        let point = match entry {
            Entry::Outside => Point::Outside,
            Entry::Port { switch, port } => Point::Port { switch, port },
        };
        let trace = self.net.inject(point, p).unwrap();
        if std::env::var("E2E_LOG").is_ok() {
            eprintln!(
                "t={:?} {entry:?} {p:?}\n  ref={v:?}\n  sim={:?}",
                now,
                trace.deliveries().collect::<Vec<_>>()
            );
            for ev in &trace.events {
                eprintln!("    {ev:?}");
            }
        }
        assert_eq!(
            trace.ambiguous_lookups().count(),
            0,
            "ambiguous lookup: {trace:?}"
        );
        assert_eq!(
            trace.rejected_flow_mods().count(),
            0,
            "rejected flow_mod: {trace:?}"
        );
        let got: Vec<(Destination, Packet)> = trace
            .deliveries()
            .map(|d| (d.to.clone(), d.packet))
            .collect();
        let want: Vec<(Destination, Packet)> = match &v {
            Verdict::Delivered { to, packet } => vec![(
                match to {
                    Endpoint::Instance(id) => Destination::Host(id.as_str().to_owned()),
                    Endpoint::Outside => Destination::Outside,
                },
                *packet,
            )],
            Verdict::Controller {
                reply: Some(r),
                duty,
                ..
            } => match duty {
                crate::reference::Duty::ArpFromInstance(id) => {
                    vec![(Destination::Host(id.as_str().to_owned()), *r)]
                }
                crate::reference::Duty::ArpForElasticIp { .. } => {
                    if r.dl_dst == self.model.settings().public_gateway_mac {
                        vec![(Destination::Outside, *r)]
                    } else {
                        Vec::new()
                    }
                }
            },
            _ => Vec::new(),
        };
        assert_eq!(
            got, want,
            "entry {entry:?} packet {p:?}\nreference: {v:?}\nref conns: {:?}\npinholes: {:?}\nnow {:?}\ntrace: {trace:#?}",
            self.reference.conns().iter().collect::<Vec<_>>(),
            self.net.controller().pins.connections(),
            self.net.now(),
        );
        v
    }
}

fn endpoint_packet(r: &mut Rng, m: &Model, history: &[(Entry, Packet)]) -> Option<(Entry, Packet)> {
    let s = *m.settings();
    let insts: Vec<&Instance> = m
        .instances()
        .values()
        .filter(|i| i.attachment.is_some())
        .collect();
    let all: Vec<&Instance> = m.instances().values().collect();
    if insts.is_empty() {
        return None;
    }
    let proto_ports = |r: &mut Rng| -> (u8, u16, u16) {
        match r.below(6) {
            0 => (
                6,
                *r.pick(&[40000, 22, 80, 5000]),
                *r.pick(&[22, 80, 81, 82, 83, 5001, 40000]),
            ),
            1 => (
                17,
                *r.pick(&[53, 1000, 40000]),
                *r.pick(&[53, 999, 1000, 1100, 1101, 40000]),
            ),
            2 => (1, *r.pick(&[8, 0, 3, 13, 11]), *r.pick(&[0, 4])),
            3 => (47, 0, 0),
            4 => (6, 0, *r.pick(&[0, 65535])),
            _ => (6, 40000 + r.below(3) as u16, 22),
        }
    };
    Some(match r.below(10) {
        // A reply to something sent before.
        0 | 1 if !history.is_empty() => {
            let (_, p) = *r.pick(history);
            let mut rp = crate::reference::FiveTuple::of(&p);
            let reply = rp.reply()?;
            rp = reply;
            // Who sends it: the instance with the reply's source private address, or the
            // outside (to the elastic IP).
            if let Some(i) = m.instance_by_ip(rp.src) {
                let at = i.attachment?;
                let dst_mac = if s.subnet.contains(rp.dst) {
                    m.instance_by_ip(rp.dst)
                        .map(|d| d.mac)
                        .unwrap_or(MacAddr([2, 9, 9, 9, 9, 9]))
                } else {
                    s.router_mac
                };
                (
                    Entry::Port {
                        switch: at.switch,
                        port: at.port,
                    },
                    Packet::ipv4(
                        i.mac,
                        dst_mac,
                        rp.src,
                        rp.dst,
                        rp.proto,
                        rp.src_port,
                        rp.dst_port,
                    ),
                )
            } else {
                // From outside: to the elastic IP of the instance with the destination address.
                let i = m.instance_by_ip(rp.dst)?;
                let eip = m.elastic_ip_of(&i.id).or(Some(p.nw_src))?;
                (
                    Entry::Outside,
                    Packet::ipv4(
                        s.public_gateway_mac,
                        s.elastic_ip_mac,
                        rp.src,
                        eip,
                        rp.proto,
                        rp.src_port,
                        rp.dst_port,
                    ),
                )
            }
        }
        // Instance to instance.
        0..=4 => {
            let a = *r.pick(&insts);
            let b = *r.pick(&all);
            let at = a.attachment?;
            let (proto, sp, dp) = proto_ports(r);
            let mut p = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, proto, sp, dp);
            if r.chance(5) {
                p.dl_src = MacAddr([2, 7, 7, 7, 7, 7]);
            }
            if r.chance(5) {
                p.nw_src = Ipv4Addr::new(10, 0, 1, 99);
            }
            if r.chance(5) {
                p.dl_dst = s.router_mac;
            }
            if r.chance(3) {
                p.dl_vlan = Some(5);
            }
            (
                Entry::Port {
                    switch: at.switch,
                    port: at.port,
                },
                p,
            )
        }
        // Instance to outside.
        5 | 6 => {
            let a = *r.pick(&insts);
            let at = a.attachment?;
            let (proto, sp, dp) = proto_ports(r);
            let dst = *r.pick(&OUTSIDE_HOSTS);
            let p = Packet::ipv4(a.mac, s.router_mac, a.ip, dst, proto, sp, dp);
            (
                Entry::Port {
                    switch: at.switch,
                    port: at.port,
                },
                p,
            )
        }
        // Outside to an elastic IP (or to a private address, or an unknown address).
        7 | 8 => {
            let (proto, sp, dp) = proto_ports(r);
            let src = if r.chance(10) {
                Ipv4Addr::new(10, 0, 1, 2)
            } else {
                *r.pick(&OUTSIDE_HOSTS)
            };
            let (dmac, dst) = match r.below(5) {
                0 => {
                    let b = *r.pick(&all);
                    (b.mac, b.ip)
                }
                _ => (s.elastic_ip_mac, eip_addr(r.below(6))),
            };
            (
                Entry::Outside,
                Packet::ipv4(s.public_gateway_mac, dmac, src, dst, proto, sp, dp),
            )
        }
        // ARP.
        _ => {
            if r.chance(50) {
                let a = *r.pick(&insts);
                let at = a.attachment?;
                let tpa = match r.below(3) {
                    0 => s.gateway,
                    1 => r.pick(&all).ip,
                    _ => Ipv4Addr::new(10, 0, 9, 9),
                };
                let op = if r.chance(90) { ARP_REQUEST } else { ARP_REPLY };
                let mut p = Packet::arp(op, a.mac, MacAddr::BROADCAST, a.ip, tpa);
                if r.chance(10) {
                    p.nw_src = Ipv4Addr::new(10, 0, 1, 99);
                }
                if r.chance(10) {
                    p.arp_sha = r.pick(&all).mac;
                }
                (
                    Entry::Port {
                        switch: at.switch,
                        port: at.port,
                    },
                    p,
                )
            } else {
                let tpa = eip_addr(r.below(6));
                (
                    Entry::Outside,
                    Packet::arp(
                        ARP_REQUEST,
                        s.public_gateway_mac,
                        MacAddr::BROADCAST,
                        s.public_gateway,
                        tpa,
                    ),
                )
            }
        }
    })
}

/// Something random changes can be made to: the model, and what follows it.
trait Changes {
    fn model(&self) -> &Model;
    fn change(&mut self, f: impl FnOnce(&mut Model) -> Result<Touched, ModelError>);
}

impl Changes for World {
    fn model(&self) -> &Model {
        &self.model
    }
    fn change(&mut self, f: impl FnOnce(&mut Model) -> Result<Touched, ModelError>) {
        World::change(self, f);
    }
}

fn random_change(r: &mut Rng, w: &mut impl Changes) {
    let groups = w.model().groups().len() as u64;
    let instances = w.model().instances().len() as u64;
    match r.below(7) {
        0 => {
            let p = random_permission(r, groups);
            let g = gid(r.below(groups));
            let d = if r.chance(50) {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            w.change(|m| m.authorize(&g, d, p));
        }
        1 => {
            let g = gid(r.below(groups));
            let d = if r.chance(50) {
                Direction::Ingress
            } else {
                Direction::Egress
            };
            let Some(perm) = w.model().group(&g).and_then(|sg| {
                let v: Vec<_> = sg.permissions(d).iter().cloned().collect();
                (!v.is_empty()).then(|| v[r.below(v.len() as u64) as usize].clone())
            }) else {
                return;
            };
            w.change(|m| m.revoke(&g, d, &perm));
        }
        2 => {
            let i = iid(r.below(instances));
            let g = gid(r.below(groups));
            if r.chance(50) {
                w.change(|m| m.join_group(&i, &g));
            } else {
                w.change(|m| m.leave_group(&i, &g));
            }
        }
        3 => {
            let ip = eip_addr(r.below(instances));
            let i = iid(r.below(instances));
            if w.model().elastic_ip(ip).is_some() {
                if r.chance(70) {
                    w.change(|m| m.associate(ip, &i, true));
                } else {
                    w.change(|m| m.disassociate(ip));
                }
            }
        }
        4 => {
            let i = iid(r.below(instances));
            let sw = 1 + r.below(w.model().switches().len() as u64);
            let port = PortNo(20 + r.below(5) as u16);
            w.change(|m| m.attach(&i, Some(Attachment { switch: sw, port })));
        }
        5 => {
            let i = iid(r.below(instances));
            w.change(|m| m.remove_instance(&i));
        }
        _ => {
            let n = 50 + r.below(1000);
            let sw = 1 + r.below(w.model().switches().len() as u64);
            w.change(|m| {
                m.add_instance(Instance {
                    id: iid(n),
                    owner: owner(),
                    mac: MacAddr([0x02, 0, 0, 1, (n >> 8) as u8, n as u8]),
                    ip: Ipv4Addr::new(10, 0, 2 + (n >> 8) as u8, n as u8),
                    groups: [gid(0)].into(),
                    attachment: Some(Attachment {
                        switch: sw,
                        port: PortNo(40 + (n % 50) as u16),
                    }),
                })
            });
        }
    }
}

fn run_seed(seed: u64, steps: usize, with_changes: bool) {
    if std::env::var("E2E_LOG").is_ok() {
        eprintln!("=== seed {seed}");
    }
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let model = random_model(&mut r);
    let opts = CompileOptions {
        port_budget: if r.chance(50) { 16 } else { 256 },
        // Sometimes pinholes that never idle out (and connections that never expire).
        pinhole_idle_timeout: if r.chance(15) { 0 } else { 60 },
        ..CompileOptions::default()
    };
    let mut w = World::new(model, opts);
    let mut history: Vec<(Entry, Packet)> = Vec::new();
    for _ in 0..steps {
        match r.below(20) {
            0 => w.advance(1 + r.below(30)),
            1 if with_changes => random_change(&mut r, &mut w),
            _ => {
                if let Some((e, p)) = endpoint_packet(&mut r, &w.model, &history) {
                    let v = w.send(e, p);
                    if matches!(v, Verdict::Delivered { .. }) {
                        history.push((e, p));
                    }
                }
            }
        }
    }
}

/// How many seeds to run: `E2E_SEEDS` in the environment, or `default`.
fn seeds(default: u64) -> u64 {
    std::env::var("E2E_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_traces_agree_without_changes() {
    for seed in 0..seeds(150) {
        run_seed(seed, 120, false);
    }
}

#[test]
fn random_traces_agree_with_changes() {
    for seed in 0..seeds(150) {
        run_seed(1_000_000 + seed, 150, true);
    }
}

/// The model and two controllers' pinholes: one memoising plans, one deciding every packet
/// afresh.
struct Twins {
    model: Model,
    memo: Pinholes,
    fresh: Pinholes,
}

impl Changes for Twins {
    fn model(&self) -> &Model {
        &self.model
    }
    fn change(&mut self, f: impl FnOnce(&mut Model) -> Result<Touched, ModelError>) {
        // A refused change still gives the model a new stamp: harmless, and tested too.
        if let Ok(t) = f(&mut self.model) {
            assert_eq!(self.memo.cut(&t), self.fresh.cut(&t));
        }
    }
}

/// Memoised decisions are the decisions: random models, packets (many differing only by
/// their TCP/UDP source port) and changes, every decision of the memoising controller equal
/// to that of one deciding afresh, connection for connection.
#[test]
fn memoised_plans_decide_as_afresh() {
    for seed in 0..seeds(150) {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let model = random_model(&mut r);
        let opts = CompileOptions::default();
        let mut w = Twins {
            model,
            memo: Pinholes::new(opts),
            fresh: Pinholes::without_memo(opts),
        };
        let mut history: Vec<(Entry, Packet)> = Vec::new();
        for _ in 0..300 {
            if r.chance(8) {
                random_change(&mut r, &mut w);
                continue;
            }
            let Some((e, mut p)) = endpoint_packet(&mut r, &w.model, &history) else {
                continue;
            };
            if p.is_ipv4() && matches!(p.nw_proto, 6 | 17) && r.chance(50) {
                p.tp_src = 30000 + r.below(40) as u16;
            }
            let at: Vec<(Dpid, PortNo)> = match e {
                Entry::Port { switch, port } => vec![(switch, port)],
                Entry::Outside => w
                    .model
                    .switches()
                    .values()
                    .map(|s| (s.dpid, s.uplink))
                    .collect(),
            };
            for (sw, port) in at {
                let a = w.memo.packet_in(&w.model, sw, port, &p);
                let b = w.fresh.packet_in(&w.model, sw, port, &p);
                assert_eq!(a, b, "seed {seed}: {p:?} at {sw}/{port:?}");
                if a.packet_out.is_some() {
                    history.push((e, p));
                }
            }
            assert_eq!(w.memo.connections(), w.fresh.connections(), "seed {seed}");
        }
    }
}

/// A small fixed model for scenario tests: switches 1 and 2 (uplink 100); groups `web`
/// (ingress tcp 22 and 80-82 from anywhere, icmp echo from anywhere, tcp 5432 from `db`;
/// default egress) and `db` (ingress tcp 5432 from `web`, everything from `db` itself; no
/// egress); instances `a` (web, switch 1 port 1, elastic IP 203.0.113.10), `b` (web,
/// switch 1 port 2), `c` (db, switch 2 port 1), `d` (db, switch 2 port 2).
pub(crate) fn fixture() -> Model {
    let mut m = Model::new(settings()).unwrap();
    for d in [1, 2] {
        m.add_switch(Switch {
            dpid: d,
            uplink: PortNo(UPLINK),
        })
        .unwrap();
    }
    let web = GroupId::new("web").unwrap();
    let db = GroupId::new("db").unwrap();
    m.add_group(SecurityGroup::new(web.clone(), "web", owner(), ""))
        .unwrap();
    let mut dbg = SecurityGroup::new(db.clone(), "db", owner(), "");
    dbg.egress.clear();
    m.add_group(dbg).unwrap();
    let p = |proto, peer| Permission::new(proto, peer).unwrap();
    for perm in [
        p(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()),
        p(
            Protocol::Tcp(PortRange::new(80, 82).unwrap()),
            Peer::anywhere(),
        ),
        p(
            Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap()),
            Peer::anywhere(),
        ),
        p(
            Protocol::Tcp(PortRange::single(5432)),
            Peer::Group(db.clone()),
        ),
    ] {
        m.authorize(&web, Direction::Ingress, perm).unwrap();
    }
    m.authorize(
        &db,
        Direction::Ingress,
        p(
            Protocol::Tcp(PortRange::single(5432)),
            Peer::Group(web.clone()),
        ),
    )
    .unwrap();
    m.authorize(
        &db,
        Direction::Ingress,
        p(Protocol::Any, Peer::Group(db.clone())),
    )
    .unwrap();
    let inst = |name: &str, n: u8, g: &GroupId, sw: u64, port: u16| Instance {
        id: InstanceId::new(name).unwrap(),
        owner: owner(),
        mac: MacAddr([0x02, 0, 0, 0, 1, n]),
        ip: Ipv4Addr::new(10, 0, 1, n),
        groups: [g.clone()].into(),
        attachment: Some(Attachment {
            switch: sw,
            port: PortNo(port),
        }),
    };
    m.add_instance(inst("a", 10, &web, 1, 1)).unwrap();
    m.add_instance(inst("b", 11, &web, 1, 2)).unwrap();
    m.add_instance(inst("c", 12, &db, 2, 1)).unwrap();
    m.add_instance(inst("d", 13, &db, 2, 2)).unwrap();
    m.allocate(ElasticIp {
        public_ip: Ipv4Addr::new(203, 0, 113, 10),
        allocation_id: AllocationId::new("eipalloc-a").unwrap(),
        owner: owner(),
        instance: Some(InstanceId::new("a").unwrap()),
    })
    .unwrap();
    m
}

fn at(m: &Model, name: &str) -> Entry {
    let a = m
        .instance(&InstanceId::new(name).unwrap())
        .unwrap()
        .attachment
        .unwrap();
    Entry::Port {
        switch: a.switch,
        port: a.port,
    }
}

fn inst<'m>(m: &'m Model, name: &str) -> &'m Instance {
    m.instance(&InstanceId::new(name).unwrap()).unwrap()
}

fn tcp(m: &Model, from: &str, to: &str, sport: u16, dport: u16) -> Packet {
    let (a, b) = (inst(m, from), inst(m, to));
    Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, sport, dport)
}

fn delivered_to(v: &Verdict) -> Option<Endpoint> {
    match v {
        Verdict::Delivered { to, .. } => Some(to.clone()),
        _ => None,
    }
}

const EIP_A: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);
const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

fn from_outside(m: &Model, dst: Ipv4Addr, proto: u8, sport: u16, dport: u16) -> Packet {
    let s = m.settings();
    Packet::ipv4(
        s.public_gateway_mac,
        s.elastic_ip_mac,
        CLIENT,
        dst,
        proto,
        sport,
        dport,
    )
}

#[test]
fn scenario_elastic_ip_in_and_out_with_groups() {
    let m = fixture();
    let mut w = World::new(m.clone(), CompileOptions::default());
    let a = inst(&m, "a").clone();
    // SSH in through the elastic IP: rewritten to a's private address and MAC.
    let v = w.send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 22));
    match v {
        Verdict::Delivered { to, packet } => {
            assert_eq!(to, Endpoint::Instance(a.id.clone()));
            assert_eq!(packet.nw_dst, a.ip);
            assert_eq!(packet.dl_dst, a.mac);
            assert_eq!(packet.dl_src, m.settings().router_mac);
            assert_eq!(packet.nw_src, CLIENT);
        }
        other => panic!("{other:?}"),
    }
    // The reply leaves with the elastic IP, to the public gateway.
    let reply = Packet::ipv4(a.mac, m.settings().router_mac, a.ip, CLIENT, 6, 22, 40000);
    match w.send(at(&m, "a"), reply) {
        Verdict::Delivered { to, packet } => {
            assert_eq!(to, Endpoint::Outside);
            assert_eq!(packet.nw_src, EIP_A);
            assert_eq!(packet.dl_src, m.settings().elastic_ip_mac);
            assert_eq!(packet.dl_dst, m.settings().public_gateway_mac);
        }
        other => panic!("{other:?}"),
    }
    // Security groups apply to elastic-IP traffic: port 23 is closed, 80-82 open, 83 closed.
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 23))
        .is_dropped());
    assert!(!w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 80))
        .is_dropped());
    assert!(!w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 82))
        .is_dropped());
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 83))
        .is_dropped());
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 79))
        .is_dropped());
    // Echo request in, not echo reply (unsolicited).
    assert!(!w
        .send(Entry::Outside, from_outside(&m, EIP_A, 1, 8, 0))
        .is_dropped());
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 1, 0, 0))
        .is_dropped());
    // b has no elastic IP: it does not reach the outside.
    let b = inst(&m, "b").clone();
    let out = Packet::ipv4(b.mac, m.settings().router_mac, b.ip, CLIENT, 6, 40000, 443);
    assert!(matches!(
        w.send(at(&m, "b"), out),
        Verdict::Dropped {
            reason: crate::reference::DropReason::NoElasticIp,
            ..
        }
    ));
    // a connects out (default egress): the reply comes back through the tracked
    // connection although a's ingress does not allow it.
    let out = Packet::ipv4(a.mac, m.settings().router_mac, a.ip, CLIENT, 6, 40001, 443);
    assert!(!w.send(at(&m, "a"), out).is_dropped());
    assert!(!w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 443, 40001))
        .is_dropped());
    // ... but not to another port.
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 443, 40002))
        .is_dropped());
    // After the idle timeout the connection is gone.
    w.advance(61);
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 443, 40001))
        .is_dropped());
}

#[test]
fn scenario_private_traffic_groups_and_state() {
    let m = fixture();
    let mut w = World::new(m.clone(), CompileOptions::default());
    // web -> db on 5432 across switches: db lets web in; the reply needs state at c's
    // switch (db has no egress), which the controller keeps.
    let v = w.send(at(&m, "a"), tcp(&m, "a", "c", 40000, 5432));
    assert_eq!(
        delivered_to(&v),
        Some(Endpoint::Instance(inst(&m, "c").id.clone()))
    );
    let v = w.send(at(&m, "c"), tcp(&m, "c", "a", 5432, 40000));
    assert_eq!(
        delivered_to(&v),
        Some(Endpoint::Instance(inst(&m, "a").id.clone()))
    );
    // db cannot open a connection to web on another port (no egress).
    assert!(w
        .send(at(&m, "c"), tcp(&m, "c", "a", 5432, 40001))
        .is_dropped());
    // Same switch: a -> b on 22 (web lets anyone in on 22).
    let v = w.send(at(&m, "a"), tcp(&m, "a", "b", 40000, 22));
    assert_eq!(
        delivered_to(&v),
        Some(Endpoint::Instance(inst(&m, "b").id.clone()))
    );
    let v = w.send(at(&m, "b"), tcp(&m, "b", "a", 22, 40000));
    assert_eq!(
        delivered_to(&v),
        Some(Endpoint::Instance(inst(&m, "a").id.clone()))
    );
    // a -> b on 23: closed.
    assert!(w
        .send(at(&m, "a"), tcp(&m, "a", "b", 40000, 23))
        .is_dropped());
    // A group referencing itself: db members reach each other on anything... but db has
    // no egress, so c cannot send to d at all.
    assert!(w.send(at(&m, "c"), tcp(&m, "c", "d", 1, 2)).is_dropped());
}

#[test]
fn scenario_anti_spoofing_and_arp() {
    let m = fixture();
    let mut w = World::new(m.clone(), CompileOptions::default());
    let a = inst(&m, "a").clone();
    let b = inst(&m, "b").clone();
    let mut p = tcp(&m, "a", "b", 40000, 22);
    p.nw_src = Ipv4Addr::new(10, 0, 1, 99);
    assert!(w.send(at(&m, "a"), p).is_dropped());
    let mut p = tcp(&m, "a", "b", 40000, 22);
    p.dl_src = b.mac;
    assert!(w.send(at(&m, "a"), p).is_dropped());
    // ARP for b from a: answered with b's MAC; for the gateway: the router's MAC.
    let req = Packet::arp(ARP_REQUEST, a.mac, MacAddr::BROADCAST, a.ip, b.ip);
    match w.send(at(&m, "a"), req) {
        Verdict::Controller { reply: Some(r), .. } => {
            assert_eq!(r.dl_src, b.mac);
            assert_eq!(r.nw_src, b.ip);
            assert_eq!(r.nw_dst, a.ip);
            assert_eq!(r.nw_proto, ARP_REPLY);
        }
        other => panic!("{other:?}"),
    }
    let req = Packet::arp(
        ARP_REQUEST,
        a.mac,
        MacAddr::BROADCAST,
        a.ip,
        m.settings().gateway,
    );
    match w.send(at(&m, "a"), req) {
        Verdict::Controller { reply: Some(r), .. } => assert_eq!(r.dl_src, m.settings().router_mac),
        other => panic!("{other:?}"),
    }
    // ARP with a forged sender address is dropped.
    let req = Packet::arp(
        ARP_REQUEST,
        a.mac,
        MacAddr::BROADCAST,
        b.ip,
        m.settings().gateway,
    );
    assert!(w.send(at(&m, "a"), req).is_dropped());
    // So is ARP with a forged sender hardware address (the Ethernet source a's own).
    let req = Packet::arp(ARP_REQUEST, a.mac, MacAddr::BROADCAST, a.ip, b.ip).with_arp_sha(b.mac);
    assert!(matches!(
        w.send(at(&m, "a"), req),
        Verdict::Dropped {
            reason: crate::reference::DropReason::Spoofed,
            ..
        }
    ));
    // ARP for the elastic IP from the gateway: answered with the elastic-IP MAC, only by
    // switch 1 (which hosts a).
    let s = *m.settings();
    let req = Packet::arp(
        ARP_REQUEST,
        s.public_gateway_mac,
        MacAddr::BROADCAST,
        s.public_gateway,
        EIP_A,
    );
    match w.send(Entry::Outside, req) {
        Verdict::Controller {
            switch,
            reply: Some(r),
            ..
        } => {
            assert_eq!(switch, 1);
            assert_eq!(r.dl_src, s.elastic_ip_mac);
            assert_eq!(r.dl_dst, s.public_gateway_mac);
            assert_eq!(r.nw_src, EIP_A);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scenario_revoke_cuts_live_connections() {
    let m = fixture();
    let mut w = World::new(m.clone(), CompileOptions::default());
    let db = GroupId::new("db").unwrap();
    let web = GroupId::new("web").unwrap();
    assert!(!w
        .send(at(&m, "a"), tcp(&m, "a", "c", 40000, 5432))
        .is_dropped());
    assert!(!w
        .send(at(&m, "c"), tcp(&m, "c", "a", 5432, 40000))
        .is_dropped());
    // Tracked at both switches (neither side lets the reply in by its rules).
    assert_eq!(w.net.controller().pins.len(), 2);
    // Revoke db's 5432 from web: the pinholes go, and so does the reply.
    let perm = Permission::new(Protocol::Tcp(PortRange::single(5432)), Peer::Group(web)).unwrap();
    w.change(|m| m.revoke(&db, Direction::Ingress, &perm));
    assert_eq!(w.net.controller().pins.len(), 0);
    assert!(w
        .send(at(&m, "c"), tcp(&m, "c", "a", 5432, 40000))
        .is_dropped());
    assert!(w
        .send(at(&m, "a"), tcp(&m, "a", "c", 40000, 5432))
        .is_dropped());
}

#[test]
fn scenario_elastic_ip_moves_between_switches() {
    let m = fixture();
    let mut w = World::new(m.clone(), CompileOptions::default());
    assert!(!w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 22))
        .is_dropped());
    // Move a's address to c (db: nothing open from outside), on switch 2.
    let c = InstanceId::new("c").unwrap();
    w.change(|m| m.associate(EIP_A, &c, true));
    assert!(w
        .send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 22))
        .is_dropped());
    // Open 22 in db: now c gets it, on switch 2.
    let db = GroupId::new("db").unwrap();
    let perm = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
    w.change(|m| m.authorize(&db, Direction::Ingress, perm));
    let v = w.send(Entry::Outside, from_outside(&m, EIP_A, 6, 40000, 22));
    assert_eq!(delivered_to(&v), Some(Endpoint::Instance(c)));
    // ARP for it is answered by switch 2 now.
    let s = *w.model.settings();
    let req = Packet::arp(
        ARP_REQUEST,
        s.public_gateway_mac,
        MacAddr::BROADCAST,
        s.public_gateway,
        EIP_A,
    );
    assert!(matches!(
        w.send(Entry::Outside, req),
        Verdict::Controller { switch: 2, .. }
    ));
}

#[test]
fn scenario_port_budget_falls_back_to_the_controller() {
    let m = fixture();
    let web = GroupId::new("web").unwrap();
    let opts = CompileOptions {
        port_budget: 2,
        ..CompileOptions::default()
    };
    let mut w = World::new(m.clone(), opts);
    // 80-82 is over the budget of 2: enforced through the controller, same verdicts.
    for (port, open) in [(79, false), (80, true), (81, true), (82, true), (83, false)] {
        let v = w.send(
            Entry::Outside,
            from_outside(&m, EIP_A, 6, 40000 + port, port),
        );
        assert_eq!(!v.is_dropped(), open, "port {port}");
    }
    let punts = w
        .compiler
        .tables()
        .values()
        .flatten()
        .filter(|f| {
            f.priority == crate::compile::priority::INGRESS_PUNT
                && f.r#match.tp_dst.is_none()
                && f.r#match.nw_proto == Some(6)
        })
        .count();
    assert!(punts > 0);
    let _ = web;
}
