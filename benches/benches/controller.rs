//! The controller core (`examples::core`): what it adds on top of the libraries it drives.
//!
//! - `change`: a rule change on a group of 50 instances on a connected switch (authorize a
//!   64-port range, then revoke it), through `Controller::change` with its flow_mods and
//!   barrier encoded and drained, against the baseline of the same two changes through
//!   `netrules::Compiler::update` with each flow_mod encoded by `openflow-proto` (the work any
//!   controller must do). Throughput in flow_mods.
//! - `packet_in`: a punted TCP SYN between two instances on one switch, from its bytes to the
//!   encoded pinholes and packet_out, against the baseline of `netrules::Pinholes::packet_in`
//!   on the already extracted headers plus encoding its output.
//!
//! The ratio core / baseline is the core's overhead (sessions, token bookkeeping, frame
//! extraction, transmit queues).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::BytesMut;
use core::net::Ipv4Addr;
use criterion::{black_box, criterion_group, Criterion, Throughput};
use examples::core::sim_switch::{test_settings, SimSwitch};
use examples::core::{frame, Config, ConnId, Controller};
use netrules::compile::{CompileOptions, Compiler};
use netrules::model::*;
use netrules::{Packet, Pinholes};
use openflow_proto::{MacAddr, Message, PacketIn, PacketInReason, PortNo, NO_BUFFER};
use std::time::Instant;

const MEMBERS: u8 = 50;

fn sg() -> GroupId {
    GroupId::new("sg-bench").unwrap()
}

fn range_rule() -> Permission {
    Permission::new(
        Protocol::Tcp(PortRange::new(2000, 2063).unwrap()),
        Peer::anywhere(),
    )
    .unwrap()
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, n)
}

fn model() -> Model {
    let mut m = Model::new(test_settings()).unwrap();
    m.add_switch(Switch {
        dpid: 1,
        uplink: PortNo(1),
    })
    .unwrap();
    let owner = OwnerId::new("111122223333").unwrap();
    m.add_group(SecurityGroup::new(sg(), "bench", owner.clone(), "bench"))
        .unwrap();
    let ssh = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
    m.authorize(&sg(), Direction::Ingress, ssh).unwrap();
    for n in 0..MEMBERS {
        m.add_instance(Instance {
            id: InstanceId::new(format!("i-{n}")).unwrap(),
            owner: owner.clone(),
            mac: mac(n + 2),
            ip: ip(n + 2),
            groups: [sg()].into(),
            attachment: Some(Attachment {
                switch: 1,
                port: PortNo(u16::from(n) + 2),
            }),
        })
        .unwrap();
    }
    m
}

/// A controller whose switch 1 finished its handshake and reconciliation.
fn connected() -> Controller {
    let ports: Vec<(u16, String)> = (0..MEMBERS)
        .map(|n| (u16::from(n) + 2, format!("i-{n}")))
        .chain([(1, "up".to_owned())])
        .collect();
    let refs: Vec<(u16, &str)> = ports.iter().map(|(p, s)| (*p, s.as_str())).collect();
    let mut sw = SimSwitch::new(1, &refs);
    let mut ctl = Controller::new(model(), Config::default());
    let now = Instant::now();
    ctl.handle_connect(ConnId(1), now);
    ctl.handle_bytes(ConnId(1), &sw.hello(), now);
    loop {
        let mut moved = false;
        while let Some((_, b)) = ctl.poll_transmit() {
            sw.receive(&b);
            moved = true;
        }
        let back = sw.take_output();
        if !back.is_empty() {
            ctl.handle_bytes(ConnId(1), &back, now);
            moved = true;
        }
        while ctl.poll_event().is_some() {}
        if !moved {
            break;
        }
    }
    assert!(ctl.is_ready(1));
    ctl
}

fn drain(ctl: &mut Controller) -> usize {
    let mut n = 0;
    while let Some((_, b)) = ctl.poll_transmit() {
        n += b.len();
    }
    while ctl.poll_event().is_some() {}
    n
}

fn change(c: &mut Criterion) {
    let mut ctl = connected();
    let now = Instant::now();
    let before = ctl.counters().flow_mods;
    ctl.change(now, |m| {
        m.authorize(&sg(), Direction::Ingress, range_rule())
    })
    .unwrap();
    ctl.change(now, |m| m.revoke(&sg(), Direction::Ingress, &range_rule()))
        .unwrap();
    drain(&mut ctl);
    let per_iter = ctl.counters().flow_mods - before;
    println!("change: {per_iter} flow_mods per authorize + revoke of a 64-port rule on {MEMBERS} members");

    let mut g = c.benchmark_group("controller/change");
    g.throughput(Throughput::Elements(per_iter));
    g.bench_function("core", |b| {
        b.iter(|| {
            ctl.change(now, |m| {
                m.authorize(&sg(), Direction::Ingress, range_rule())
            })
            .unwrap();
            ctl.change(now, |m| m.revoke(&sg(), Direction::Ingress, &range_rule()))
                .unwrap();
            black_box(drain(&mut ctl))
        })
    });
    let mut m = model();
    let mut compiler = Compiler::new(&m, CompileOptions::default());
    let mut buf = BytesMut::new();
    g.bench_function("baseline_compiler_and_encode", |b| {
        b.iter(|| {
            for revoke in [false, true] {
                let t = if revoke {
                    m.revoke(&sg(), Direction::Ingress, &range_rule()).unwrap()
                } else {
                    m.authorize(&sg(), Direction::Ingress, range_rule())
                        .unwrap()
                };
                let ups = compiler.update(&m, &t);
                for (i, u) in ups.into_iter().enumerate() {
                    Message::FlowMod(u.flow_mod)
                        .encode(i as u32, &mut buf)
                        .unwrap();
                }
                Message::BarrierRequest.encode(0, &mut buf).unwrap();
            }
            black_box(buf.split().len())
        })
    });
    g.finish();
}

/// Connections never seen before: (source instance, source port), in order.
struct Fresh {
    member: u8,
    port: u16,
}

impl Fresh {
    fn next(&mut self) -> (u8, u16) {
        self.port = self.port.wrapping_add(1);
        if self.port < 1024 {
            self.port = 1024;
            self.member = (self.member + 1) % MEMBERS;
            // Instance 1 (ip(3)) is the server.
            if self.member == 1 {
                self.member = 2;
            }
        }
        (self.member, self.port)
    }
}

fn packet_in(c: &mut Criterion) {
    let mut ctl = connected();
    let now = Instant::now();
    let mut g = c.benchmark_group("controller/packet_in");
    g.throughput(Throughput::Elements(1));
    // One packet_in message per source instance; the source port is patched in place.
    let templates: Vec<Vec<u8>> = (0..MEMBERS)
        .map(|n| {
            let syn = Packet::ipv4(mac(n + 2), mac(3), ip(n + 2), ip(3), 6, 1024, 22);
            Message::PacketIn(PacketIn {
                buffer_id: NO_BUFFER,
                total_len: 60,
                in_port: PortNo(u16::from(n) + 2),
                reason: PacketInReason::Action,
                data: frame::synthesize(&syn).into(),
            })
            .to_bytes(0)
            .unwrap()
            .to_vec()
        })
        .collect();
    // Offset of the TCP source port: OpenFlow header 8 + packet_in fields 10 + Ethernet 14
    // + IPv4 20.
    const TP_SRC: usize = 8 + 10 + 14 + 20;
    let mut fresh = Fresh {
        member: 0,
        port: 1023,
    };
    let mut msg = Vec::new();
    g.bench_function("core", |b| {
        b.iter(|| {
            let (n, port) = fresh.next();
            msg.clear();
            msg.extend_from_slice(&templates[usize::from(n)]);
            msg[TP_SRC..TP_SRC + 2].copy_from_slice(&port.to_be_bytes());
            ctl.handle_bytes(ConnId(1), &msg, now);
            black_box(drain(&mut ctl))
        })
    });
    println!(
        "packet_in (core): {} tracked connections at the end",
        ctl.pinholes().len()
    );
    let m = model();
    let mut pinholes = Pinholes::new(CompileOptions::default());
    let mut buf = BytesMut::new();
    let mut fresh = Fresh {
        member: 0,
        port: 1023,
    };
    g.bench_function("baseline_pinholes_and_encode", |b| {
        b.iter(|| {
            let (n, port) = fresh.next();
            let syn = Packet::ipv4(mac(n + 2), mac(3), ip(n + 2), ip(3), 6, port, 22);
            let d = pinholes.packet_in(&m, 1, PortNo(u16::from(n) + 2), &syn);
            if let Some(w) = &d.wire {
                w.encode(|| 1, &mut buf).unwrap();
            }
            if let Some(po) = d.packet_out {
                Message::PacketOut(openflow_proto::PacketOut {
                    buffer_id: NO_BUFFER,
                    in_port: po.in_port,
                    actions: po.actions,
                    data: frame::synthesize(&po.packet).into(),
                })
                .encode(1, &mut buf)
                .unwrap();
            }
            black_box(buf.split().len())
        })
    });
    g.finish();
}

/// With `CONTROLLER_OP="operation,count"` in the environment (operation `pinholes`: fresh
/// connections through `Pinholes::packet_in`, as in the baseline above without the encoding;
/// `core`: the same through the controller core, from the packet_in's bytes to the encoded
/// pinholes and packet_out), run it `count` times and exit instead of benchmarking;
/// instructions per packet_in are then `(Ir(count) - Ir(0)) / count` under
/// `valgrind --tool=callgrind --callgrind-out-file=/dev/null BENCH_BINARY`, which stays the
/// same however loaded the machine is.
fn run_op(op: &str, n: usize) {
    let mut fresh = Fresh {
        member: 0,
        port: 1023,
    };
    match op {
        "pinholes" => {
            let m = model();
            let mut pinholes = Pinholes::new(CompileOptions::default());
            for _ in 0..n {
                let (k, port) = fresh.next();
                let syn = Packet::ipv4(mac(k + 2), mac(3), ip(k + 2), ip(3), 6, port, 22);
                black_box(pinholes.packet_in(&m, 1, PortNo(u16::from(k) + 2), &syn));
            }
        }
        "core" => {
            let mut ctl = connected();
            let now = Instant::now();
            let templates: Vec<Vec<u8>> = (0..MEMBERS)
                .map(|k| {
                    let syn = Packet::ipv4(mac(k + 2), mac(3), ip(k + 2), ip(3), 6, 1024, 22);
                    Message::PacketIn(PacketIn {
                        buffer_id: NO_BUFFER,
                        total_len: 60,
                        in_port: PortNo(u16::from(k) + 2),
                        reason: PacketInReason::Action,
                        data: frame::synthesize(&syn).into(),
                    })
                    .to_bytes(0)
                    .unwrap()
                    .to_vec()
                })
                .collect();
            // The TCP source port: OpenFlow header, packet_in fields, Ethernet, IPv4.
            const TP_SRC: usize = 8 + 10 + 14 + 20;
            let mut msg = Vec::new();
            for _ in 0..n {
                let (k, port) = fresh.next();
                msg.clear();
                msg.extend_from_slice(&templates[usize::from(k)]);
                msg[TP_SRC..TP_SRC + 2].copy_from_slice(&port.to_be_bytes());
                ctl.handle_bytes(ConnId(1), &msg, now);
                black_box(drain(&mut ctl));
            }
        }
        other => panic!("unknown operation {other:?} (pinholes, core)"),
    }
}

criterion_group!(benches, change, packet_in);

fn main() {
    if let Ok(spec) = std::env::var("CONTROLLER_OP") {
        let mut parts = spec.split(',');
        let op = parts.next().unwrap_or_default();
        let n = parts.next().map_or(0, |v| v.parse().unwrap());
        run_op(op, n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
