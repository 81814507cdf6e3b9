//! Allocation bounds, measured with a counting global allocator (`stats_alloc`, which wraps
//! `System`; the workspace forbids unsafe code and this needs none of ours).
//!
//! - Decoding any input allocates at most a small multiple of its size: arbitrary bytes,
//!   mutated valid messages, and the worst shapes an attacker can choose (the most
//!   elements per byte: empty queues, 8-byte actions, minimal flow stats entries).
//! - Decoding a packet_in frame taken from the framer allocates nothing (the frame data is a
//!   slice of the received buffer), and neither does encoding one into a buffer with room.
//! - Nor does decoding a flow_mod (its actions are copied in place when short, else kept as
//!   a slice of the frame), and encoding it again into a buffer with room gives the frame's
//!   bytes without allocating. A short list of standard actions decoded from a plain slice
//!   allocates nothing either.
//!
//! Everything runs in one `#[test]` so that no other test thread allocates meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod strategies;

use bytes::{BufMut, Bytes, BytesMut};
use openflow_proto::{
    Action, FlowMod, Framer, Match, Message, PacketIn, PacketInReason, PortNo, NO_BUFFER,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use std::alloc::System;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Allowed: this many bytes per input byte, plus a constant.
const PER_BYTE: usize = 16;
const CONSTANT: usize = 1024;

/// Bytes allocated (reallocation growth included) while decoding `frame`, and whether it
/// decoded.
fn decode_cost(frame: &Bytes) -> (usize, bool) {
    let region = Region::new(GLOBAL);
    let result = Message::decode(frame);
    let change = region.change();
    let ok = result.is_ok();
    drop(result);
    let grown = usize::try_from(change.bytes_reallocated.max(0)).unwrap();
    (change.bytes_allocated + grown, ok)
}

fn check_bound(frame: &Bytes, what: &str, worst: &mut f64) {
    let (cost, _) = decode_cost(frame);
    let bound = PER_BYTE * frame.len() + CONSTANT;
    assert!(
        cost <= bound,
        "{what}: decoding {} bytes allocated {cost} bytes (bound {bound})",
        frame.len()
    );
    if frame.len() >= 256 {
        *worst = worst.max(cost as f64 / frame.len() as f64);
    }
}

fn message(t: u8, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_u8(1);
    b.put_u8(t);
    b.put_u16(u16::try_from(8 + body.len()).unwrap());
    b.put_u32(1);
    b.put_slice(body);
    b.freeze()
}

/// Inputs chosen for the most decoded elements per byte.
fn adversarial() -> Vec<(&'static str, Bytes)> {
    let mut out = Vec::new();
    // QUEUE_GET_CONFIG_REPLY: 8 bytes of header fields then as many empty queues as fit.
    let mut body = vec![0u8; 8];
    for q in 0..8188u32 {
        body.extend_from_slice(&q.to_be_bytes());
        body.extend_from_slice(&[0, 8, 0, 0]);
    }
    out.push(("queue config reply of empty queues", message(21, &body)));
    // The same with one unknown 8-byte property per queue.
    let mut body = vec![0u8; 8];
    for q in 0..4094u32 {
        body.extend_from_slice(&q.to_be_bytes());
        body.extend_from_slice(&[0, 16, 0, 0, 0, 9, 0, 8, 0, 0, 0, 0]);
    }
    out.push((
        "queue config reply of 8-byte properties",
        message(21, &body),
    ));
    // PACKET_OUT whose actions are all 8-byte strip_vlan.
    let n = 8000usize;
    let mut body = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xfd];
    body.extend_from_slice(&u16::try_from(8 * n).unwrap().to_be_bytes());
    for _ in 0..n {
        body.extend_from_slice(&[0, 3, 0, 8, 0, 0, 0, 0]);
    }
    out.push(("packet_out of 8000 actions", message(13, &body)));
    // PACKET_OUT of 8-byte vendor actions (each keeps a Bytes).
    let mut body = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xfd];
    body.extend_from_slice(&u16::try_from(8 * n).unwrap().to_be_bytes());
    for _ in 0..n {
        body.extend_from_slice(&[0xff, 0xff, 0, 8, 0, 0, 0x23, 0x20]);
    }
    out.push(("packet_out of 8000 vendor actions", message(13, &body)));
    // FLOW stats reply of minimal entries (88 bytes, no actions).
    let mut body = vec![0, 1, 0, 0];
    for _ in 0..740 {
        let mut e = vec![0u8; 88];
        e[1] = 88;
        body.extend_from_slice(&e);
    }
    out.push(("flow stats reply of 740 empty flows", message(17, &body)));
    // FEATURES_REPLY with as many ports as fit.
    let mut body = vec![0u8; 24];
    body.extend(std::iter::repeat_n(0x41u8, 48 * 1300));
    out.push(("features reply of 1300 ports", message(6, &body)));
    // TABLE stats reply of 1000 tables with full names.
    let mut body = vec![0, 3, 0, 0];
    body.extend(std::iter::repeat_n(0x41u8, 64 * 1000));
    out.push(("table stats reply of 1000 tables", message(17, &body)));
    // QUEUE stats reply of 2000 queues.
    let mut body = vec![0, 5, 0, 0];
    body.extend(std::iter::repeat_n(0u8, 32 * 2000));
    out.push(("queue stats reply of 2000 queues", message(17, &body)));
    out
}

fn bounded_allocation_on_any_input() {
    let mut worst = 0.0f64;
    for (what, frame) in adversarial() {
        let (cost, ok) = decode_cost(&frame);
        assert!(ok, "{what} should decode");
        println!(
            "{what}: {} bytes in, {cost} bytes allocated ({:.2} per byte)",
            frame.len(),
            cost as f64 / frame.len() as f64
        );
        check_bound(&frame, what, &mut worst);
    }
    let mut runner = TestRunner::new(Config::with_cases(3000));
    let arbitrary = (0u8..=21, proptest::collection::vec(any::<u8>(), 0..2000));
    runner
        .run(&arbitrary, |(t, body)| {
            let mut w = 0.0;
            check_bound(&message(t, &body), "arbitrary body", &mut w);
            Ok(())
        })
        .unwrap();
    let mutated = (
        strategies::any_message(),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
    );
    runner
        .run(&mutated, |(msg, edits)| {
            let mut data = msg.to_bytes(3).unwrap().to_vec();
            for (i, b) in edits {
                let at = i.index(data.len());
                // Keep the header's length right so the body decoders run.
                if !(2..4).contains(&at) {
                    data[at] = b;
                }
            }
            let mut w = 0.0;
            check_bound(&Bytes::from(data), "mutated message", &mut w);
            Ok(())
        })
        .unwrap();
    println!("worst allocation per input byte on the adversarial inputs: {worst:.2}");
}

fn packet_in_frame(frame_len: usize) -> Vec<u8> {
    let pi = PacketIn {
        buffer_id: NO_BUFFER,
        total_len: u16::try_from(frame_len).unwrap(),
        in_port: PortNo(1),
        reason: PacketInReason::Action,
        data: Bytes::from(vec![0x5a; frame_len]),
    };
    Message::PacketIn(pi).to_bytes(0).unwrap().to_vec()
}

fn packet_in_decode_and_encode_allocate_nothing() {
    for frame_len in [60, 128, 1500] {
        let wire = packet_in_frame(frame_len);
        // Frames as the framer yields them: slices of the receive buffer.
        let mut framer = Framer::new();
        framer.extend_from_slice(&wire);
        framer.extend_from_slice(&wire);
        let first = framer.next_frame().unwrap().unwrap();
        let second = framer.next_frame().unwrap().unwrap();

        let region = Region::new(GLOBAL);
        let decoded = Message::decode(&first).unwrap();
        let change = region.change();
        assert_eq!(
            (change.allocations, change.reallocations),
            (0, 0),
            "decoding a {frame_len}-byte packet_in from the framer allocated"
        );
        let Message::PacketIn(pi) = &decoded.1 else {
            panic!("not a packet_in")
        };
        assert_eq!(pi.data.len(), frame_len);
        // The data is a view into the frame, not a copy.
        assert_eq!(pi.data.as_ptr(), first[18..].as_ptr());

        // Decoding a static frame allocates nothing either.
        let leaked: &'static [u8] = Box::leak(wire.clone().into_boxed_slice());
        let stat = Bytes::from_static(leaked);
        let region = Region::new(GLOBAL);
        let decoded_static = Message::decode(&stat).unwrap();
        assert_eq!(region.change().allocations, 0);
        drop(decoded_static);

        // Encoding into a buffer with room allocates nothing.
        let mut out = BytesMut::with_capacity(4096);
        let region = Region::new(GLOBAL);
        decoded.1.encode(decoded.0.xid, &mut out).unwrap();
        let change = region.change();
        assert_eq!((change.allocations, change.reallocations), (0, 0));
        assert_eq!(&out[..], &second[..]);
    }
}

fn flow_mod_decode_and_encode_allocate_nothing() {
    let vendor = Action::Vendor {
        vendor: 0x2320,
        data: Bytes::from_static(&[0, 1, 2, 3, 4, 5, 6, 7]),
    };
    let short = vec![
        Action::SetVlanVid(20),
        Action::SetVlanPcp(5),
        Action::output(PortNo(1)),
    ];
    let long: Vec<Action> = (1..=6).map(|p| Action::output(PortNo(p))).collect();
    // (actions, kept as a slice of the frame: else copied in place)
    let cases = [
        (
            vec![Action::SetVlanVid(20), vendor, Action::output(PortNo(1))],
            true,
        ),
        (short.clone(), false),
        (long, true),
    ];
    for (actions, sliced) in cases {
        let fm = FlowMod::add(Match::any(), 7, actions);
        let wire = Message::FlowMod(fm.clone()).to_bytes(9).unwrap();
        let mut framer = Framer::new();
        framer.extend_from_slice(&wire);
        let frame = framer.next_frame().unwrap().unwrap();

        let region = Region::new(GLOBAL);
        let (header, decoded) = Message::decode(&frame).unwrap();
        let change = region.change();
        assert_eq!(
            (change.allocations, change.reallocations),
            (0, 0),
            "decoding a flow_mod from the framer allocated"
        );
        let Message::FlowMod(back) = &decoded else {
            panic!("not a flow_mod")
        };
        assert_eq!(back, &fm);
        assert_eq!(back.actions.as_wire(), Some(&frame[FlowMod::FIXED_LEN..]));
        assert_eq!(
            back.actions.as_wire().map(<[u8]>::as_ptr)
                == Some(frame[FlowMod::FIXED_LEN..].as_ptr()),
            sliced,
            "{fm:?}"
        );

        let mut out = BytesMut::with_capacity(4096);
        let region = Region::new(GLOBAL);
        decoded.encode(header.xid, &mut out).unwrap();
        let change = region.change();
        assert_eq!((change.allocations, change.reallocations), (0, 0));
        assert_eq!(&out[..], &wire[..]);
    }

    // A short list of standard actions is copied in place even from a plain slice.
    let wire = Message::FlowMod(FlowMod::add(Match::any(), 7, short))
        .to_bytes(9)
        .unwrap();
    let region = Region::new(GLOBAL);
    let decoded = Message::decode_slice(&wire).unwrap();
    let change = region.change();
    assert_eq!((change.allocations, change.reallocations), (0, 0));
    drop(decoded);
}

#[test]
fn allocation_bounds() {
    packet_in_decode_and_encode_allocate_nothing();
    flow_mod_decode_and_encode_allocate_nothing();
    bounded_allocation_on_any_input();
}
