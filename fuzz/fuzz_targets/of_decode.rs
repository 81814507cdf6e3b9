//! Fuzz the OpenFlow 1.0 decoder: no input may panic, decoding from `Bytes` and from a slice
//! agree, and whatever decodes re-encodes to a frame of the same length that decodes back to
//! the same value; a packet_in read in place (`PacketInRef`) is the one decoded. Errors and
//! the text forms are exercised too.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use openflow_proto::stats::StatsReplyBody;
use openflow_proto::{Message, PacketInRef};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let decoded = Message::decode(&frame);
    assert_eq!(decoded, Message::decode_slice(data));
    // A packet_in read in place is the one decoded (and the view never claims more).
    if let Some(view) = PacketInRef::parse(data) {
        let (header, msg) = decoded.clone().expect("a packet_in view decodes");
        assert_eq!(header.xid, view.xid);
        assert_eq!(msg, Message::PacketIn(view.to_packet_in()));
    }
    match decoded {
        Ok((header, msg)) => {
            let again = msg.to_bytes(header.xid).expect("a decoded message encodes");
            assert_eq!(again.len(), data.len());
            let (h2, back) = Message::decode(&again).expect("a re-encoded message decodes");
            // The encoder speaks OpenFlow 1.0; only a HELLO is accepted from other versions.
            assert_eq!(
                (h2.msg_type, h2.length, h2.xid),
                (header.msg_type, header.length, header.xid)
            );
            assert!(header.version == 1 || matches!(msg, Message::Hello(_)));
            assert_eq!(back, msg);
            // The text forms are total.
            match &msg {
                Message::FlowMod(fm) => drop(fm.to_string()),
                Message::FlowRemoved(fr) => drop(fr.to_string()),
                Message::StatsReply(r) => {
                    if let StatsReplyBody::Flow(flows) = &r.body {
                        for f in flows {
                            drop(f.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Err(e) => {
            drop(e.to_string());
            // The error reply to any rejected input encodes.
            let reply = Message::Error(e.error_reply(data));
            let wire = reply.to_bytes(0).expect("an error reply encodes");
            assert!(wire.len() <= 12 + 64);
        }
    }
});
