//! openflow-proto: decoding, encoding and framing, each next to the physical floor (a plain
//! copy of the same bytes) and to the peer crates `rust_ofp` 0.2.1 and `tenjin_sdn` 1.0.6 on
//! the paths where they produce correct results (`benches/tests/peers.rs` checks which).
//!
//! Run: `cargo bench -p benches --bench openflow -- --warm-up-time 1 --measurement-time 3`.
//! Read the results as ratios within a group (same machine, same run).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use openflow_proto::stats::FlowStats;
use openflow_proto::{
    Action, Framer, MacAddr, Match, Message, PacketIn, PacketInReason, PortNo, StatsReply,
    StatsReplyBody, VlanMatch, NO_BUFFER,
};
use rust_ofp::ofp_message::OfpMessage;
use rust_ofp::openflow0x01 as rofp;
use rust_ofp::openflow0x01::MessageType;
use std::hint::black_box;
use tenjin_sdn::openflow::ofp10 as tenjin;
use tenjin_sdn::openflow::ofp10::OpenflowHeader;

mod peers;
use peers::{rust_ofp_vlan_flow_mod, tenjin_encode, tenjin_vlan_flow_mod};

/// The Open vSwitch 3.1 conversation of `openflow-proto/tests/data`.
const FIXTURE: &str = include_str!("../../openflow-proto/tests/data/ovs-3.1-conversation.jsonl");

fn fixture_messages() -> Vec<Vec<u8>> {
    FIXTURE
        .lines()
        .map(|l| {
            let start = l
                .find("\"hex\": \"")
                .or_else(|| l.find("\"hex\":\""))
                .unwrap();
            let rest = &l[start..];
            let q = rest.find(":").unwrap();
            let rest = rest[q + 1..].trim_start().trim_start_matches('"');
            hex::decode(&rest[..rest.find('"').unwrap()]).unwrap()
        })
        .collect()
}

/// A packet_in as Open vSwitch sends it: unbuffered, reason action, `frame_len` bytes of frame.
fn packet_in(frame_len: usize) -> Message {
    let mut frame = vec![0u8; frame_len];
    frame[..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    for (i, b) in frame[14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    Message::PacketIn(PacketIn {
        buffer_id: NO_BUFFER,
        total_len: u16::try_from(frame_len).unwrap(),
        in_port: PortNo(1),
        reason: PacketInReason::Action,
        data: Bytes::from(frame),
    })
}

/// The frame as the framer hands it over: a slice of the receive buffer.
fn framed(wire: &[u8]) -> Bytes {
    let mut framer = Framer::new();
    framer.extend_from_slice(wire);
    framer.next_frame().unwrap().unwrap()
}

fn bench_packet_in(c: &mut Criterion) {
    for frame_len in [60usize, 128, 1500] {
        let msg = packet_in(frame_len);
        let wire = msg.to_bytes(0).unwrap();
        let frame = framed(&wire);
        let wire_vec = wire.to_vec();

        let mut g = c.benchmark_group(format!("packet_in_decode/{frame_len}"));
        g.throughput(Throughput::Bytes(wire.len() as u64));
        g.bench_function("copy", |b| {
            b.iter(|| black_box(black_box(&wire_vec[..]).to_vec()))
        });
        g.bench_function("openflow-proto", |b| {
            b.iter(|| black_box(Message::decode(black_box(&frame)).unwrap()))
        });
        // From a plain slice, copying the frame as the peers do.
        g.bench_function("openflow-proto (slice)", |b| {
            b.iter(|| black_box(Message::decode_slice(black_box(&wire_vec[..])).unwrap()))
        });
        g.bench_function("rust_ofp", |b| {
            b.iter(|| {
                let w = black_box(&wire_vec);
                let h = rust_ofp::ofp_header::OfpHeader::parse(w[..8].try_into().unwrap());
                black_box((h.xid(), <rofp::PacketIn as MessageType>::parse(&w[8..])))
            })
        });
        g.bench_function("tenjin_sdn", |b| {
            let body = wire_vec[8..].to_vec();
            let head = wire_vec[..8].to_vec();
            b.iter(|| {
                let h = tenjin::OfpHeader::parse(black_box(&head)).unwrap();
                black_box((
                    h.xid(),
                    tenjin::PacketInEvent::parse(black_box(&body)).unwrap(),
                ))
            })
        });
        g.finish();

        // No peer encodes a packet_in correctly (rust_ofp drops the pad byte; tenjin_sdn has
        // no encoder): ours against the copy only.
        let mut g = c.benchmark_group(format!("packet_in_encode/{frame_len}"));
        g.throughput(Throughput::Bytes(wire.len() as u64));
        let mut buf = BytesMut::with_capacity(4096);
        g.bench_function("copy", |b| {
            b.iter(|| {
                buf.clear();
                buf.extend_from_slice(black_box(&wire_vec[..]));
                black_box(buf.len())
            })
        });
        g.bench_function("openflow-proto", |b| {
            b.iter(|| {
                buf.clear();
                black_box(&msg).encode(0, &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        g.finish();
    }
}

/// `ADD priority=204,dl_vlan=10,dl_vlan_pcp=3 actions=mod_vlan_vid:20,mod_vlan_pcp:5,output:1`
/// (fixture line 82): the flow_mod with three actions that both peers encode byte-exactly.
fn our_flow_mod() -> openflow_proto::FlowMod {
    let m = Match {
        dl_vlan: VlanMatch::Vid(10),
        dl_vlan_pcp: Some(3),
        ..Match::any()
    };
    openflow_proto::FlowMod::add(
        m,
        204,
        vec![
            Action::SetVlanVid(20),
            Action::SetVlanPcp(5),
            Action::output(PortNo(1)),
        ],
    )
}

fn bench_flow_mod(c: &mut Criterion) {
    let fm = our_flow_mod();
    let msg = Message::FlowMod(fm.clone());
    let wire = msg.to_bytes(6).unwrap();
    assert_eq!(
        hex::encode(&wire),
        "010e006000000006002820fd0000000000000000000000000000000a03000000000000000000000000\
         00000000000000000000000000000000000000000000ccffffffffffff000000010008001400000002\
         0008050000000000000800010000"
    );
    assert_eq!(
        rofp::message::Message::marshal(
            6,
            rofp::message::Message::FlowMod(rust_ofp_vlan_flow_mod())
        ),
        wire.to_vec()
    );
    assert_eq!(tenjin_encode(&tenjin_vlan_flow_mod(), 6), wire.to_vec());
    let frame = framed(&wire);
    let wire_vec = wire.to_vec();

    // Peers' flow_mod decoders are wrong (rust_ofp aborts, tenjin_sdn misreads wildcarded
    // matches): ours against the copy only.
    let mut g = c.benchmark_group("flow_mod_decode/3_actions");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("copy", |b| {
        b.iter(|| black_box(black_box(&wire_vec[..]).to_vec()))
    });
    g.bench_function("openflow-proto", |b| {
        b.iter(|| black_box(Message::decode(black_box(&frame)).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("flow_mod_encode/3_actions");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("copy", |b| {
        b.iter(|| black_box(black_box(&wire_vec[..]).to_vec()))
    });
    // Into a fresh Vec-backed buffer, as the peers do.
    g.bench_function("openflow-proto", |b| {
        b.iter(|| black_box(black_box(&msg).to_bytes(6).unwrap()))
    });
    // Into a reused send buffer, as a connection does: against a copy into the same kind
    // of buffer.
    let mut buf = BytesMut::with_capacity(4096);
    g.bench_function("copy (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&wire_vec[..]));
            black_box(buf.len())
        })
    });
    g.bench_function("openflow-proto (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&msg).encode(6, &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    // rust_ofp's encoder consumes the value: build and encode, for every encoder.
    g.bench_function("openflow-proto (build+encode)", |b| {
        b.iter(|| black_box(Message::FlowMod(our_flow_mod()).to_bytes(6).unwrap()))
    });
    g.bench_function("rust_ofp (build+encode)", |b| {
        b.iter(|| {
            black_box(rofp::message::Message::marshal(
                6,
                rofp::message::Message::FlowMod(rust_ofp_vlan_flow_mod()),
            ))
        })
    });
    let tfm = tenjin_vlan_flow_mod();
    g.bench_function("tenjin_sdn", |b| {
        b.iter(|| black_box(tenjin_encode(black_box(&tfm), 6)))
    });
    g.bench_function("tenjin_sdn (build+encode)", |b| {
        b.iter(|| black_box(tenjin_encode(&tenjin_vlan_flow_mod(), 6)))
    });
    g.finish();

    // The goal, measured as one operation: decode the frame, then encode the
    // message again, against copying the frame's bytes. Twice: each output into a fresh
    // buffer (one allocation for the copy, two for us: the action list and the output),
    // and each output into a reused send buffer (none for the copy, one for us: the
    // action list).
    let mut g = c.benchmark_group("flow_mod_decode+encode/3_actions");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("copy", |b| {
        b.iter(|| black_box(black_box(&wire_vec[..]).to_vec()))
    });
    g.bench_function("openflow-proto", |b| {
        b.iter(|| {
            let (h, m) = Message::decode(black_box(&frame)).unwrap();
            black_box(m.to_bytes(h.xid).unwrap())
        })
    });
    g.bench_function("copy (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            buf.extend_from_slice(black_box(&wire_vec[..]));
            black_box(buf.len())
        })
    });
    g.bench_function("openflow-proto (reused buffer)", |b| {
        b.iter(|| {
            buf.clear();
            let (h, m) = Message::decode(black_box(&frame)).unwrap();
            m.encode(h.xid, &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
}

/// A 100-entry flow stats reply, each flow with a TCP match and two actions.
fn flow_stats_reply() -> Message {
    let flows = (0..100u16)
        .map(|i| FlowStats {
            table_id: 0,
            r#match: Match {
                in_port: Some(PortNo(i % 4 + 1)),
                dl_src: Some(MacAddr([2, 0, 0, 0, 0, i as u8])),
                dl_type: Some(0x0800),
                nw_proto: Some(6),
                tp_dst: Some(1000 + i),
                ..Match::any()
            },
            duration_sec: u32::from(i),
            duration_nsec: 1_000_000,
            priority: 100 + i,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: u64::from(i),
            packet_count: 10,
            byte_count: 1000,
            actions: vec![Action::SetNwTos(32), Action::output(PortNo(2))].into(),
        })
        .collect();
    Message::StatsReply(StatsReply::new(StatsReplyBody::Flow(flows)))
}

fn bench_flow_stats(c: &mut Criterion) {
    let msg = flow_stats_reply();
    let wire = msg.to_bytes(2).unwrap();
    let frame = framed(&wire);
    let wire_vec = wire.to_vec();
    // No peer decodes or encodes stats replies.
    let mut g = c.benchmark_group("flow_stats_reply/100_flows");
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("copy", |b| {
        b.iter(|| black_box(black_box(&wire_vec[..]).to_vec()))
    });
    g.bench_function("decode", |b| {
        b.iter(|| black_box(Message::decode(black_box(&frame)).unwrap()))
    });
    let mut buf = BytesMut::with_capacity(wire.len());
    g.bench_function("encode", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&msg).encode(2, &mut buf).unwrap();
            black_box(buf.len())
        })
    });
    g.finish();
}

fn bench_framing(c: &mut Criterion) {
    // The whole Open vSwitch conversation (128 messages, 4 of them invalid), in 1500-byte
    // reads: framing alone, and framing plus decoding every message.
    let stream: Vec<u8> = fixture_messages().concat();
    let mut g = c.benchmark_group("framing/ovs_conversation");
    g.throughput(Throughput::Bytes(stream.len() as u64));
    // The floor: every byte copied once, into a reused receive buffer.
    let mut buf = BytesMut::with_capacity(1500);
    g.bench_function("copy", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for piece in black_box(&stream).chunks(1500) {
                buf.clear();
                buf.extend_from_slice(piece);
                n += buf.len();
            }
            black_box(n)
        })
    });
    g.bench_function(BenchmarkId::new("openflow-proto", "frames"), |b| {
        b.iter(|| {
            let mut framer = Framer::new();
            let mut n = 0usize;
            for piece in black_box(&stream).chunks(1500) {
                framer.extend_from_slice(piece);
                while let Some(f) = framer.next_frame().unwrap() {
                    n += f.len();
                }
            }
            assert_eq!(n, stream.len());
            black_box(n)
        })
    });
    g.bench_function(BenchmarkId::new("openflow-proto", "frames+decode"), |b| {
        b.iter(|| {
            let mut framer = Framer::new();
            let mut ok = 0usize;
            for piece in black_box(&stream).chunks(1500) {
                framer.extend_from_slice(piece);
                while let Some(result) = framer.next_message().unwrap() {
                    ok += usize::from(result.is_ok());
                }
            }
            assert_eq!(ok, 124);
            black_box(ok)
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_packet_in,
    bench_flow_mod,
    bench_flow_stats,
    bench_framing
);

/// One operation of the groups above, run `n` times outside criterion: for counting its
/// instructions with callgrind, which is repeatable on a loaded machine (see `main`).
fn run_op(op: &str, n: usize, frame_len: usize) {
    let pi = packet_in(frame_len);
    let pi_wire = pi.to_bytes(0).unwrap();
    let pi_frame = framed(&pi_wire);
    let pi_vec = pi_wire.to_vec();
    let (pi_head, pi_body) = (pi_vec[..8].to_vec(), pi_vec[8..].to_vec());
    let fm = Message::FlowMod(our_flow_mod());
    let fm_wire = fm.to_bytes(6).unwrap();
    let fm_frame = framed(&fm_wire);
    let fm_vec = fm_wire.to_vec();
    let tfm = tenjin_vlan_flow_mod();
    let fs = flow_stats_reply();
    let fs_wire = fs.to_bytes(2).unwrap();
    let fs_frame = framed(&fs_wire);
    let fs_vec = fs_wire.to_vec();
    let mut buf = BytesMut::with_capacity(16384);
    // Each operation is chosen once and then repeated, so that the count holds only it.
    macro_rules! rep {
        ($body:expr) => {
            for _ in 0..n {
                $body;
            }
        };
    }
    match op {
        "packet_in_decode/copy" => rep!(drop(black_box(black_box(&pi_vec[..]).to_vec()))),
        "packet_in_decode/openflow-proto" => {
            rep!({ drop(black_box(Message::decode(black_box(&pi_frame)).unwrap())) })
        }
        "packet_in_decode/openflow-proto (slice)" => rep!(drop(black_box(
            Message::decode_slice(black_box(&pi_vec[..])).unwrap(),
        ))),
        "packet_in_decode/rust_ofp" => rep!({
            let w = black_box(&pi_vec);
            let h = rust_ofp::ofp_header::OfpHeader::parse(w[..8].try_into().unwrap());
            drop(black_box((
                h.xid(),
                <rofp::PacketIn as MessageType>::parse(&w[8..]),
            )));
        }),
        "packet_in_decode/tenjin_sdn" => rep!({
            let h = tenjin::OfpHeader::parse(black_box(&pi_head)).unwrap();
            drop(black_box((
                h.xid(),
                tenjin::PacketInEvent::parse(black_box(&pi_body)).unwrap(),
            )));
        }),
        "packet_in_encode/openflow-proto" => rep!({
            buf.clear();
            black_box(&pi).encode(0, &mut buf).unwrap();
            black_box(buf.len());
        }),
        "flow_mod/copy"
        | "flow_mod_decode/copy"
        | "flow_mod_encode/copy"
        | "flow_mod_decode+encode/copy" => rep!(drop(black_box(black_box(&fm_vec[..]).to_vec()))),
        "flow_mod_decode/openflow-proto" => {
            rep!({ drop(black_box(Message::decode(black_box(&fm_frame)).unwrap())) })
        }
        "flow_mod_encode/openflow-proto" => {
            rep!({ drop(black_box(black_box(&fm).to_bytes(6).unwrap())) })
        }
        "flow_mod_encode/copy (reused buffer)" | "flow_mod_decode+encode/copy (reused buffer)" => {
            rep!({
                buf.clear();
                buf.extend_from_slice(black_box(&fm_vec[..]));
                black_box(buf.len());
            })
        }
        "flow_mod_encode/openflow-proto (reused buffer)" => rep!({
            buf.clear();
            black_box(&fm).encode(6, &mut buf).unwrap();
            black_box(buf.len());
        }),
        "flow_mod_decode+encode/openflow-proto" => rep!({
            let (h, m) = Message::decode(black_box(&fm_frame)).unwrap();
            drop(black_box(m.to_bytes(h.xid).unwrap()));
        }),
        "flow_mod_decode+encode/openflow-proto (reused buffer)" => rep!({
            buf.clear();
            let (h, m) = Message::decode(black_box(&fm_frame)).unwrap();
            m.encode(h.xid, &mut buf).unwrap();
            black_box(buf.len());
        }),
        "flow_mod_encode/openflow-proto (build+encode)" => rep!(drop(black_box(
            Message::FlowMod(our_flow_mod()).to_bytes(6).unwrap(),
        ))),
        "flow_mod_encode/rust_ofp (build+encode)" => rep!({
            drop(black_box(rofp::message::Message::marshal(
                6,
                rofp::message::Message::FlowMod(rust_ofp_vlan_flow_mod()),
            )))
        }),
        "flow_mod_encode/tenjin_sdn" => rep!(drop(black_box(tenjin_encode(black_box(&tfm), 6)))),
        "flow_mod_encode/tenjin_sdn (build+encode)" => {
            rep!({ drop(black_box(tenjin_encode(&tenjin_vlan_flow_mod(), 6))) })
        }
        "flow_stats_reply/copy" => rep!(drop(black_box(black_box(&fs_vec[..]).to_vec()))),
        "flow_stats_reply/decode" => {
            rep!({ drop(black_box(Message::decode(black_box(&fs_frame)).unwrap())) })
        }
        "flow_stats_reply/encode" => rep!({
            buf.clear();
            black_box(&fs).encode(2, &mut buf).unwrap();
            black_box(buf.len());
        }),
        other => panic!("unknown operation {other:?}"),
    }
}

/// With `OPENFLOW_OP="operation,count[,frame_len]"` in the environment, run that operation
/// `count` times and exit instead of benchmarking; instructions per operation are then
/// `(Ir(count) - Ir(0)) / count` under
/// `valgrind --tool=callgrind --callgrind-out-file=/dev/null BENCH_BINARY`, which stays
/// the same however loaded the machine is.
fn main() {
    if let Ok(spec) = std::env::var("OPENFLOW_OP") {
        let mut parts = spec.split(',');
        let op = parts.next().unwrap_or_default();
        let n = parts.next().map_or(0, |v| v.parse().unwrap());
        let frame_len = parts.next().map_or(60, |v| v.parse().unwrap());
        run_op(op, n, frame_len);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
