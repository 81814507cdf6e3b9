//! Property tests of the codec: every message type round-trips, arbitrary and mutated bytes
//! never panic and never loop, the framer is indifferent to how a stream is cut, and stats
//! splitting then reassembly is the identity with no part above its limit.
//!
//! The allocation bound on arbitrary input is in `tests/alloc_bounds.rs` (it needs a counting
//! global allocator, hence its own test binary).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod strategies;

use bytes::{Bytes, BytesMut};
use openflow_proto::display::DisplayActions;
use openflow_proto::stats::{StatsReplyFlags, MAX_MESSAGE_LEN};
use openflow_proto::{Framer, Header, Message, StatsReassembler, StatsReply, StatsReplyBody};
use proptest::collection::vec;
use proptest::prelude::*;
use strategies::*;

fn encode(msg: &Message, xid: u32) -> Bytes {
    msg.to_bytes(xid).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Every value of every message type encodes with the exact length in its header and
    /// decodes back to itself, from `Bytes` (zero-copy) and from a slice.
    #[test]
    fn every_message_round_trips(msg in any_message(), xid in any::<u32>()) {
        let wire = encode(&msg, xid);
        let header = Header::parse(&wire).unwrap();
        prop_assert_eq!(usize::from(header.length), wire.len());
        prop_assert_eq!(header.xid, xid);
        prop_assert_eq!(header.msg_type, msg.msg_type());
        let (h, back) = Message::decode(&wire).unwrap();
        prop_assert_eq!(h, header);
        prop_assert_eq!(&back, &msg);
        prop_assert_eq!(Message::decode_slice(&wire).unwrap().1, msg);
    }

    /// Encoding appends to what the buffer holds and leaves it alone on error.
    #[test]
    fn encoding_appends(msg in any_message(), prefix in vec(any::<u8>(), 0..16)) {
        let mut buf = BytesMut::from(&prefix[..]);
        msg.encode(1, &mut buf).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
        prop_assert_eq!(&buf[prefix.len()..], &encode(&msg, 1)[..]);
    }

    /// The text forms never panic and are stable.
    #[test]
    fn display_is_total(fm in any_flow_mod(), fs in flow_stats(), fr in flow_removed()) {
        let text = fm.to_string();
        prop_assert_eq!(&text, &fm.to_string());
        prop_assert!(text.contains(" actions="));
        prop_assert!(fs.to_string().contains(" actions=") || fs.to_string().contains(", actions="));
        prop_assert!(fr.to_string().contains(" reason="));
        prop_assert!(!fm.actions.to_string().is_empty());
        prop_assert_eq!(fm.actions.to_string(), DisplayActions(&fm.actions.to_vec()).to_string());
    }

    /// Arbitrary bytes never panic; what decodes re-encodes to a frame that decodes to the
    /// same value (the codec is faithful, so usually to the same bytes).
    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..600)) {
        check_decode(&data)?;
    }

    /// Bytes with a plausible header (version 1, a known type, the right length) reach the
    /// body decoders, which are where the bugs hide.
    #[test]
    fn arbitrary_bodies_never_panic(t in 0u8..=21, body in vec(any::<u8>(), 0..600), xid in any::<u32>()) {
        let mut data = vec![1, t, 0, 0];
        data.extend_from_slice(&xid.to_be_bytes());
        data.extend_from_slice(&body);
        let len = u16::try_from(data.len()).unwrap();
        data[2..4].copy_from_slice(&len.to_be_bytes());
        check_decode(&data)?;
    }

    /// Decoding then encoding again gives every valid message back byte for byte.
    #[test]
    fn decode_then_encode_is_byte_identical(msg in any_message(), xid in any::<u32>()) {
        let wire = encode(&msg, xid);
        let (h, back) = Message::decode(&wire).unwrap();
        prop_assert_eq!(&encode(&back, h.xid)[..], &wire[..]);
        let (h, back) = Message::decode_slice(&wire).unwrap();
        prop_assert_eq!(&encode(&back, h.xid)[..], &wire[..]);
    }

    /// A flow_mod's action list is re-encoded exactly as it came, whatever its actions'
    /// padding and argument bytes: every byte after each action's type and length is
    /// overwritten with arbitrary values, and decoding then encoding gives the frame back.
    #[test]
    fn flow_mod_actions_re_encode_exactly(
        fm in any_flow_mod(),
        noise in vec(any::<u8>(), 0..2048),
        xid in any::<u32>(),
    ) {
        let mut wire = encode(&Message::FlowMod(fm), xid).to_vec();
        let mut noise = noise.into_iter().cycle();
        let mut at = openflow_proto::FlowMod::FIXED_LEN;
        while at + 4 <= wire.len() {
            let len = usize::from(u16::from_be_bytes([wire[at + 2], wire[at + 3]]));
            for b in &mut wire[at + 4..at + len] {
                *b = noise.next().unwrap_or(0xa5);
            }
            at += len;
        }
        prop_assert_eq!(at, wire.len());
        let frame = Bytes::from(wire);
        let (h, back) = Message::decode(&frame).unwrap();
        prop_assert_eq!(&encode(&back, h.xid), &frame);
        // And a copy of the decoded list, built, equals it.
        let Message::FlowMod(back) = back else { panic!("not a flow_mod") };
        let built = openflow_proto::Actions::from(back.actions.to_vec());
        prop_assert_eq!(&built, &back.actions);
        prop_assert_eq!(built.len(), back.actions.len());
    }

    /// Valid messages with some bytes overwritten, truncated or extended never panic.
    #[test]
    fn mutated_messages_never_panic(
        msg in any_message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
        fix_length in any::<bool>(),
    ) {
        let mut data = encode(&msg, 7).to_vec();
        for (i, b) in edits {
            let at = i.index(data.len());
            data[at] = b;
        }
        if let Some(c) = cut {
            data.truncate(c.index(data.len() + 1));
        }
        if fix_length && data.len() >= 4 {
            let len = u16::try_from(data.len()).unwrap();
            data[2..4].copy_from_slice(&len.to_be_bytes());
        }
        check_decode(&data)?;
    }

    /// The framer on arbitrary bytes: every message it yields consumed at least a header, so
    /// the number of calls before it needs more input or fails is bounded.
    #[test]
    fn the_framer_always_makes_progress(data in vec(any::<u8>(), 0..2000), chunk in 1usize..300) {
        let mut framer = Framer::new();
        let mut results = 0usize;
        let mut failed = false;
        for piece in data.chunks(chunk) {
            framer.extend_from_slice(piece);
            let mut calls = 0usize;
            loop {
                calls += 1;
                prop_assert!(calls <= data.len() / Header::LEN + 2, "the framer loops");
                match framer.next_message() {
                    Ok(Some(_)) => results += 1,
                    Ok(None) => break,
                    Err(e) => {
                        prop_assert!(e.is_fatal());
                        // A fatal error sticks.
                        prop_assert_eq!(framer.next_message().unwrap_err(), e);
                        failed = true;
                        break;
                    }
                }
            }
            if failed {
                break;
            }
        }
        prop_assert!(results <= data.len() / Header::LEN);
    }

    /// However a stream of valid messages is cut into reads, the framer yields the same
    /// messages in the same order and nothing is left over.
    #[test]
    fn the_framer_is_indifferent_to_read_boundaries(
        msgs in vec((any_message(), any::<u32>()), 1..8),
        cuts in vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|(m, x)| encode(m, *x).to_vec()).collect();
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut framer = Framer::new();
        let mut got = Vec::new();
        for w in points.windows(2) {
            framer.extend_from_slice(&stream[w[0]..w[1]]);
            while let Some(result) = framer.next_message().unwrap() {
                let (h, m) = result.unwrap();
                got.push((m, h.xid));
            }
        }
        prop_assert_eq!(framer.buffered(), 0);
        prop_assert_eq!(got, msgs);
    }

    /// Peeking and skipping frames where they lie (`peek_frame`, `skip_frame`, `frame_len`)
    /// sees the same frames as splitting them off (`next_frame`), however the stream is
    /// cut, and the same fatal error on garbage.
    #[test]
    fn peeking_frames_agrees_with_splitting_them(
        msgs in vec((any_message(), any::<u32>()), 0..6),
        garbage in vec(any::<u8>(), 0..40),
        cuts in vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut stream: Vec<u8> = msgs.iter().flat_map(|(m, x)| encode(m, *x).to_vec()).collect();
        stream.extend_from_slice(&garbage);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let (mut peeking, mut splitting) = (Framer::new(), Framer::new());
        let (mut peeked, mut split) = (Vec::new(), Vec::new());
        let (mut peek_err, mut split_err) = (None, None);
        for w in points.windows(2) {
            peeking.extend_from_slice(&stream[w[0]..w[1]]);
            splitting.extend_from_slice(&stream[w[0]..w[1]]);
            while peek_err.is_none() {
                let rest = peeking.buffer_mut().to_vec();
                match peeking.peek_frame() {
                    Ok(Some(f)) => {
                        prop_assert_eq!(
                            openflow_proto::framing::frame_len(&rest, 65535).unwrap(),
                            Some(f.len())
                        );
                        peeked.push(f.to_vec());
                        prop_assert!(peeking.skip_frame());
                    }
                    Ok(None) => {
                        prop_assert!(!peeking.skip_frame());
                        break;
                    }
                    Err(e) => {
                        prop_assert!(!peeking.skip_frame());
                        prop_assert_eq!(peeking.peek_frame().unwrap_err(), e.clone());
                        peek_err = Some(e);
                    }
                }
            }
            while split_err.is_none() {
                match splitting.next_frame() {
                    Ok(Some(f)) => split.push(f.to_vec()),
                    Ok(None) => break,
                    Err(e) => split_err = Some(e),
                }
            }
        }
        prop_assert_eq!(&peeked, &split);
        prop_assert_eq!(peek_err, split_err);
        prop_assert!(peeked.len() >= msgs.len());
    }

    /// A packet_in read in place is the packet_in `Message::decode` reads, and anything else
    /// is left to it.
    #[test]
    fn packet_in_views_agree_with_decode(
        msg in prop_oneof![packet_in().prop_map(Message::PacketIn), any_message()],
        xid in any::<u32>(),
        noise in vec(any::<u8>(), 0..40),
    ) {
        let wire = encode(&msg, xid);
        let view = openflow_proto::PacketInRef::parse(&wire);
        match &msg {
            Message::PacketIn(pi) => {
                let view = view.unwrap();
                prop_assert_eq!(view.xid, xid);
                prop_assert_eq!(&view.to_packet_in(), pi);
            }
            _ => prop_assert_eq!(view, None),
        }
        // Arbitrary bytes: a view exactly when decode gives a packet_in of the whole frame.
        let decoded = Message::decode_slice(&noise);
        match openflow_proto::PacketInRef::parse(&noise) {
            Some(v) => {
                let (h, m) = decoded.unwrap();
                prop_assert_eq!(h.xid, v.xid);
                prop_assert_eq!(m, Message::PacketIn(v.to_packet_in()));
            }
            None => prop_assert!(
                !matches!(decoded, Ok((h, Message::PacketIn(_))) if h.version == 1 && usize::from(h.length) == noise.len())
            ),
        }
    }

    /// A packet_out encoded from borrowed parts is the `Message::encode` of the same
    /// packet_out, appended; a frame too long for a message writes nothing.
    #[test]
    fn unbuffered_packet_outs_encode_as_messages(
        po in packet_out(),
        xid in any::<u32>(),
        prefix in vec(any::<u8>(), 0..16),
        long in any::<bool>(),
    ) {
        let mut po = po;
        po.buffer_id = openflow_proto::NO_BUFFER;
        if long {
            po.data = Bytes::from(vec![7u8; MAX_MESSAGE_LEN]);
        }
        let mut buf = BytesMut::from(&prefix[..]);
        let got = openflow_proto::PacketOut::encode_unbuffered(xid, po.in_port, &po.actions, &po.data, &mut buf);
        let want = Message::PacketOut(po.clone()).to_bytes(xid);
        match want {
            Ok(w) => {
                prop_assert!(got.is_ok());
                prop_assert_eq!(&buf[..prefix.len()], &prefix[..]);
                prop_assert_eq!(&buf[prefix.len()..], &w[..]);
            }
            Err(_) => {
                prop_assert!(got.is_err());
                prop_assert_eq!(&buf[..], &prefix[..]);
            }
        }
    }

    /// Splitting a stats reply at any message size then reassembling it is the identity;
    /// every part fits, all but the last say MORE, and each part is a valid message.
    #[test]
    fn stats_split_then_reassembly_is_the_identity(
        body in stats_reply_body(40),
        other_flags in any::<u16>(),
        max in prop_oneof![Just(MAX_MESSAGE_LEN), 300usize..4000, 1200usize..1300],
        xid in any::<u32>(),
    ) {
        let flags = StatsReplyFlags::from_bits_retain(other_flags) - StatsReplyFlags::MORE;
        let reply = StatsReply { flags, body };
        let parts = match reply.split(max) {
            Ok(parts) => parts,
            Err(_) => {
                // Only when one entry (or an unsplittable body) cannot fit.
                let fits = |n: usize| n + StatsReply::FIXED_LEN <= max;
                let all_fit = match &reply.body {
                    StatsReplyBody::Flow(v) => v.iter().all(|f| fits(f.wire_len())),
                    StatsReplyBody::Table(_) => fits(64),
                    StatsReplyBody::Port(_) => fits(104),
                    StatsReplyBody::Queue(_) => fits(32),
                    other => fits(other.wire_len()),
                };
                prop_assert!(!all_fit, "split failed although every entry fits");
                return Ok(());
            }
        };
        prop_assert!(!parts.is_empty());
        let mut reassembler = StatsReassembler::default();
        let mut whole = None;
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            prop_assert_eq!(part.more(), !last);
            let wire = encode(&Message::StatsReply(part.clone()), xid);
            prop_assert!(wire.len() <= max.min(MAX_MESSAGE_LEN), "part of {} bytes, max {}", wire.len(), max);
            let (_, Message::StatsReply(decoded)) = Message::decode(&wire).unwrap() else {
                panic!("not a stats reply");
            };
            let out = reassembler.push(xid, decoded).unwrap();
            prop_assert_eq!(out.is_some(), last);
            whole = out.or(whole);
        }
        prop_assert_eq!(reassembler.pending(), 0);
        prop_assert_eq!(reassembler.held_bytes(), 0);
        prop_assert_eq!(whole.unwrap(), reply);
    }
}

/// Decode `data` (must not panic); if it decodes, its re-encoding has the same length and
/// decodes to the same value.
fn check_decode(data: &[u8]) -> Result<(), TestCaseError> {
    let frame = Bytes::copy_from_slice(data);
    let from_bytes = Message::decode(&frame);
    let from_slice = Message::decode_slice(data);
    prop_assert_eq!(&from_bytes, &from_slice);
    if let Ok((header, msg)) = from_bytes {
        let again = encode(&msg, header.xid);
        prop_assert_eq!(again.len(), data.len());
        prop_assert_eq!(Message::decode(&again).unwrap().1, msg);
    }
    Ok(())
}

/// Found by `arbitrary_bodies_never_panic`: a port name filling its 16 bytes without a NUL
/// (as a peer may send it) used to come back cut to 15. It round-trips now, bytes and all.
#[test]
fn an_unterminated_port_name_round_trips() {
    let mut wire = vec![1u8, 12, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    wire.extend_from_slice(&[0; 6]);
    wire.extend_from_slice(b"0123456789abcdef");
    wire.extend_from_slice(&[0; 24]);
    assert_eq!(wire.len(), 64);
    let (_, msg) = Message::decode_slice(&wire).unwrap();
    let Message::PortStatus(ps) = &msg else {
        panic!("not a port_status")
    };
    assert_eq!(ps.desc.name, "0123456789abcdef");
    assert_eq!(&msg.to_bytes(0).unwrap()[..], &wire[..]);
}

/// A flow stats reply too big for one message, split at the real limit: 700 flows with
/// 5 actions each (128 bytes a flow, 89600 bytes in all) need two parts.
#[test]
fn a_large_flow_stats_reply_splits_under_65535() {
    use openflow_proto::stats::FlowStats;
    use openflow_proto::{Action, Match, PortNo};
    let flows: Vec<FlowStats> = (0..700u32)
        .map(|i| FlowStats {
            table_id: 0,
            r#match: Match {
                in_port: Some(PortNo(u16::try_from(i % 60_000).unwrap() + 1)),
                ..Match::any()
            },
            duration_sec: i,
            duration_nsec: 0,
            priority: 100,
            idle_timeout: 0,
            hard_timeout: 0,
            cookie: u64::from(i),
            packet_count: 0,
            byte_count: 0,
            actions: vec![Action::output(PortNo(1)); 5].into(),
        })
        .collect();
    let reply = StatsReply::new(StatsReplyBody::Flow(flows));
    let mut buf = BytesMut::new();
    let n = Message::encode_stats_reply(&reply, 9, &mut buf).unwrap();
    assert_eq!(n, 2);
    let mut framer = Framer::new();
    framer.extend_from_slice(&buf);
    let mut reassembler = StatsReassembler::default();
    let mut whole = None;
    while let Some(result) = framer.next_message().unwrap() {
        let (h, msg) = result.unwrap();
        assert!(usize::from(h.length) <= MAX_MESSAGE_LEN);
        let Message::StatsReply(part) = msg else {
            panic!("not a stats reply")
        };
        whole = reassembler.push(h.xid, part).unwrap().or(whole);
    }
    assert_eq!(whole.unwrap(), reply);
}
