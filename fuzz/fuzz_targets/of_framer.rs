//! Fuzz the stream framer: the first byte picks the read size, the rest is the stream. No
//! input may panic or loop, every frame yielded is exactly as long as its header says, and a
//! fatal error sticks. Peeking at a frame where it lies sees what splitting it off takes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use openflow_proto::{Framer, Header, Message};

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(first) + 1;
    let mut framer = Framer::with_max_frame_len(usize::from(first) * 256 + 8);
    let mut consumed = 0usize;
    'feed: for piece in stream.chunks(chunk) {
        framer.extend_from_slice(piece);
        // Each frame is at least a header long, so this many calls always suffice.
        for _ in 0..=stream.len() / Header::LEN + 1 {
            // Peeking sees what splitting then takes.
            let peeked = framer.peek_frame().map(|f| f.map(<[u8]>::to_vec));
            let next = framer.next_frame();
            assert_eq!(peeked, next.clone().map(|f| f.map(|b| b.to_vec())));
            match next {
                Ok(Some(frame)) => {
                    let header = Header::parse(&frame).expect("a frame has a header");
                    assert_eq!(usize::from(header.length), frame.len());
                    consumed += frame.len();
                    if let Ok((_, msg)) = Message::decode(&frame) {
                        let again = msg.to_bytes(header.xid).expect("encodes");
                        assert_eq!(again.len(), frame.len());
                    }
                }
                Ok(None) => continue 'feed,
                Err(e) => {
                    assert!(e.is_fatal());
                    assert_eq!(framer.next_frame(), Err(e));
                    return;
                }
            }
        }
        panic!("the framer did not make progress");
    }
    assert_eq!(consumed + framer.buffered(), stream.len());
});
