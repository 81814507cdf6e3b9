//! Fuzz the ARP parser, the responder's decision and reply synthesis: no input may panic, and
//! whatever parses must re-serialise to a frame that parses back identically.
#![no_main]

use arp_responder::{ArpFrame, Decision, Location, MacAddr, ResponderTable, Scope};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let parsed = ArpFrame::parse(data);

    let mut buf = [0u8; 64];
    if let Ok(frame) = parsed {
        let n = frame.write(&mut buf).expect("64 bytes always suffice");
        assert_eq!(ArpFrame::parse(&buf[..n]), Ok(frame));
        let reply = frame.reply(MacAddr::new([0x02, 0, 0, 0, 0, 1]));
        let n = reply.write(&mut buf).expect("64 bytes always suffice");
        assert_eq!(ArpFrame::parse(&buf[..n]), Ok(reply));
        // A too-small buffer is an error, never a panic.
        assert!(reply.write(&mut buf[..n - 1]).is_err());
    }

    // Answer whatever the input asks for, at every scope level.
    let mut table = ResponderTable::new();
    if let Ok(frame) = parsed {
        table.insert(
            Scope::Global,
            frame.target_ip,
            MacAddr::new([0x02, 0, 0, 0, 0, 2]),
        );
        table.insert(
            Scope::Port {
                datapath: 1,
                port: 1,
            },
            frame.target_ip,
            MacAddr::new([0x02, 0, 0, 0, 0, 3]),
        );
    }
    for at in [Location::new(1, 1), Location::new(1, 2)] {
        match table.decide(data, at) {
            Decision::Reply(reply) => {
                let n = reply.write(&mut buf).expect("64 bytes always suffice");
                let sent = ArpFrame::parse(&buf[..n]).expect("our reply parses");
                assert_eq!(sent.sender_mac, reply.answer.mac);
            }
            Decision::Ignore(_) => {}
            Decision::Invalid(err) => {
                assert!(parsed.is_err());
                let _ = err.to_string();
            }
        }
    }
});
