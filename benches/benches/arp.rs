//! arp-responder: parse + reply into a stack buffer, against the physical floor of copying the
//! same 60 bytes, measured in the same run. Also the full decision (table lookup and policies) with
//! a small and a large table, to show the lookup cost does not grow with the table.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;

use arp_responder::{
    write_reply, ArpFrame, Decision, Location, MacAddr, Operation, ResponderTable, Scope, VlanTag,
};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

const ANSWER: MacAddr = MacAddr([0x02, 0xee, 0, 0, 0, 0x42]);
const TARGET: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);

fn request(vlan: Option<VlanTag>) -> [u8; 64] {
    ArpFrame {
        eth_dst: MacAddr::BROADCAST,
        eth_src: MacAddr([0x02, 0, 0, 0, 0, 1]),
        vlan,
        operation: Operation::Request,
        sender_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
        sender_ip: Ipv4Addr::new(10, 1, 0, 1),
        target_mac: MacAddr::ZERO,
        target_ip: TARGET,
    }
    .to_bytes()
}

fn table(size: u32) -> ResponderTable {
    let mut t = ResponderTable::new();
    for i in 0..size {
        let ip = Ipv4Addr::from(0x0b00_0000 + i);
        t.insert(
            Scope::Port {
                datapath: u64::from(i % 16),
                port: i % 48,
            },
            ip,
            MacAddr([0x02, 0, 0, 0, 0, 1]),
        );
    }
    t.insert(Scope::Global, TARGET, ANSWER);
    t
}

fn arp(c: &mut Criterion) {
    let untagged = request(None);
    let tagged = request(Some(VlanTag::new(42, 0, false).unwrap()));
    let frame60: [u8; 60] = untagged[..60].try_into().unwrap();

    let mut g = c.benchmark_group("arp");
    g.throughput(Throughput::Elements(1));

    // The floor: copy the same 60 bytes into a stack buffer.
    g.bench_function("copy_60_bytes", |b| {
        let mut buf = [0u8; 64];
        b.iter(|| {
            buf[..60].copy_from_slice(black_box(&frame60));
            black_box(&mut buf);
        })
    });
    g.bench_function("parse", |b| {
        b.iter(|| black_box(ArpFrame::parse(black_box(&untagged[..60]))))
    });
    g.bench_function("parse_and_reply", |b| {
        let mut buf = [0u8; 64];
        b.iter(|| {
            let n = write_reply(black_box(&untagged[..60]), black_box(ANSWER), &mut buf).ok();
            black_box((n, &mut buf));
        })
    });
    g.bench_function("parse_and_reply_vlan", |b| {
        let mut buf = [0u8; 64];
        b.iter(|| {
            let n = write_reply(black_box(&tagged[..]), black_box(ANSWER), &mut buf).ok();
            black_box((n, &mut buf));
        })
    });
    for size in [10u32, 100_000] {
        let t = table(size);
        g.bench_function(format!("decide_and_reply_table_{size}"), |b| {
            let mut buf = [0u8; 64];
            b.iter(|| {
                if let Decision::Reply(r) =
                    t.decide(black_box(&untagged[..60]), Location::new(3, 7))
                {
                    black_box(r.write(&mut buf).ok());
                }
                black_box(&mut buf);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, arp);
criterion_main!(benches);
