//! The hot paths allocate nothing: parsing, deciding, writing a reply or an announcement, polling
//! the announcer and checking a binding, all measured with a counting global allocator.
//! This file holds a single test so that no other test thread allocates during the measurement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::System;
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use arp_responder::{
    write_reply, Announcement, Announcer, ArpFrame, Binding, Decision, GratuitousForm, Location,
    MacAddr, ResponderTable, Schedule, Scope, VlanTag,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const REQUEST: &str = include_str!("data/ovs-3.1-packet-in-arp-request.hex");

#[test]
fn hot_paths_do_not_allocate() {
    // Set-up allocates (the table, the fixture, the announcer's queue); the measured part must not.
    let request = hex::decode(REQUEST.trim()).unwrap();
    let mut tagged = request[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x2a]);
    tagged.extend_from_slice(&request[12..]);
    let mac: MacAddr = "02:ee:00:00:00:02".parse().unwrap();
    let mut table = ResponderTable::new();
    for i in 0..1000u32 {
        table.insert(Scope::Switch(u64::from(i)), Ipv4Addr::from(i), mac);
    }
    table.insert(Scope::Global, Ipv4Addr::new(10, 1, 0, 2), mac);
    let binding = Binding {
        mac: "02:00:00:00:00:01".parse().unwrap(),
        ip: Ipv4Addr::new(10, 1, 0, 1),
    };
    let t0 = Instant::now();
    let mut announcer = Announcer::new();
    announcer.announce(
        t0,
        1u32,
        Announcement {
            ip: Ipv4Addr::new(10, 1, 0, 2),
            mac,
            vlan: Some(VlanTag::new(42, 0, false).unwrap()),
        },
        Schedule::default(),
    );
    let mut buf = [0u8; 64];
    let mut frames = 0;

    let region = Region::new(GLOBAL);
    for frame in [&request[..], &tagged[..]] {
        let parsed = black_box(ArpFrame::parse(black_box(frame))).unwrap();
        assert!(binding.check(&parsed).is_ok());
        let Decision::Reply(reply) = table.decide(frame, Location::new(7, 1)) else {
            panic!("expected a reply");
        };
        black_box(reply.write(&mut buf).unwrap());
        black_box(write_reply(frame, mac, &mut buf).unwrap());
        let g = ArpFrame::gratuitous(GratuitousForm::Reply, mac, parsed.target_ip, parsed.vlan);
        black_box(g.write(&mut buf).unwrap());
        assert!(matches!(
            table.decide(&frame[..20], Location::new(7, 1)),
            Decision::Invalid(_)
        ));
    }
    for s in 0..3 {
        while let Some(due) = announcer.poll(t0 + Duration::from_secs(s)) {
            black_box(due.write(&mut buf).unwrap());
            frames += 1;
        }
    }
    let stats = region.change();

    assert_eq!(frames, 6);
    assert_eq!(stats.allocations, 0, "{stats:?}");
    assert_eq!(stats.reallocations, 0, "{stats:?}");
    assert_eq!(stats.bytes_allocated, 0, "{stats:?}");
}
