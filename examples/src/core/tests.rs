//! Tests of the controller core against simulated switches.

use super::sim_switch::{test_settings, SimSwitch};
use super::*;
use arp_responder::Operation;
use core::net::Ipv4Addr;
use netrules::compile::{compile, priority};
use netrules::model::{
    Direction, ElasticIp, GroupId, Instance, OwnerId, Peer, Permission, PortRange, Protocol,
    SecurityGroup,
};
use netrules::reference::DropReason;
use netrules::Packet;
use openflow_proto::error_msg::HelloFailedCode;
use openflow_proto::{FlowModFlags, Framer, MacAddr};
use proptest::prelude::*;
use std::collections::BTreeMap;

const UPLINK: u16 = 1;

fn iid(s: &str) -> InstanceId {
    InstanceId::new(s).unwrap()
}

fn gid(s: &str) -> GroupId {
    GroupId::new(s).unwrap()
}

fn ssh() -> Permission {
    Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap()
}

fn web() -> Permission {
    Permission::new(Protocol::Tcp(PortRange::single(80)), Peer::anywhere()).unwrap()
}

fn inst_mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, n])
}

fn inst_ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, n)
}

/// i-a's TCP packet from `sport` to i-b's SSH port.
fn ssh_a_to_b(sport: u16) -> Packet {
    Packet::ipv4(
        inst_mac(1),
        inst_mac(2),
        inst_ip(1),
        inst_ip(2),
        6,
        sport,
        22,
    )
}

/// True if `events` report a packet_in decided [`Outcome::Allowed`].
fn allowed_reported(events: &[Event]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            Event::PacketIn {
                outcome: Outcome::Allowed,
                ..
            }
        )
    })
}

/// Two switches (dpid 1 and 2, uplink port 1), group `sg-ssh` allowing TCP 22 from
/// anywhere, instances i-a, i-b, i-c (unattached: the ports bind them), an unassociated
/// elastic IP 203.0.113.10.
fn base_model() -> Model {
    let mut m = Model::new(test_settings()).unwrap();
    for dpid in [1, 2] {
        m.add_switch(Switch {
            dpid,
            uplink: PortNo(UPLINK),
        })
        .unwrap();
    }
    let owner = OwnerId::new("111122223333").unwrap();
    m.add_group(SecurityGroup::new(
        gid("sg-ssh"),
        "ssh",
        owner.clone(),
        "ssh",
    ))
    .unwrap();
    m.add_group(SecurityGroup::new(
        gid("sg-web"),
        "web",
        owner.clone(),
        "web",
    ))
    .unwrap();
    m.authorize(&gid("sg-ssh"), Direction::Ingress, ssh())
        .unwrap();
    for (n, name) in [(1u8, "i-a"), (2, "i-b"), (3, "i-c")] {
        m.add_instance(Instance {
            id: iid(name),
            owner: owner.clone(),
            mac: inst_mac(n),
            ip: inst_ip(n),
            groups: [gid("sg-ssh")].into(),
            attachment: None,
        })
        .unwrap();
    }
    m.allocate(ElasticIp {
        public_ip: eip(),
        allocation_id: netrules::model::AllocationId::new("eipalloc-1").unwrap(),
        owner,
        instance: None,
    })
    .unwrap();
    m
}

fn eip() -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10)
}

/// Switch 1 hosts i-a (port 2) and i-b (port 3); switch 2 hosts i-c (port 2).
fn switch(dpid: Dpid) -> SimSwitch {
    match dpid {
        1 => SimSwitch::new(1, &[(UPLINK, "hv1-up"), (2, "i-a"), (3, "i-b")]),
        _ => SimSwitch::new(dpid, &[(UPLINK, "hv2-up"), (2, "i-c")]),
    }
}

struct Net {
    ctl: Controller,
    switches: BTreeMap<ConnId, SimSwitch>,
    now: Instant,
    events: Vec<Event>,
}

impl Net {
    fn new(model: Model) -> Self {
        Net::with_config(model, Config::default())
    }

    fn with_config(model: Model, config: Config) -> Self {
        Net {
            ctl: Controller::new(model, config),
            switches: BTreeMap::new(),
            now: Instant::now(),
            events: Vec::new(),
        }
    }

    fn connect(&mut self, conn: ConnId, mut sw: SimSwitch) {
        self.ctl.handle_connect(conn, self.now);
        let hello = sw.hello();
        self.ctl.handle_bytes(conn, &hello, self.now);
        self.switches.insert(conn, sw);
        self.pump();
    }

    fn disconnect(&mut self, conn: ConnId) -> SimSwitch {
        self.ctl.handle_disconnect(conn);
        self.pump();
        let mut sw = self.switches.remove(&conn).unwrap();
        sw.reconnect();
        sw
    }

    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Some((conn, bytes)) = self.ctl.poll_transmit() {
                if let Some(sw) = self.switches.get_mut(&conn) {
                    sw.receive(&bytes);
                }
                moved = true;
            }
            let conns: Vec<ConnId> = self.switches.keys().copied().collect();
            for c in conns {
                let out = self.switches.get_mut(&c).unwrap().take_output();
                if !out.is_empty() {
                    self.ctl.handle_bytes(c, &out, self.now);
                    moved = true;
                }
            }
            while let Some(e) = self.ctl.poll_event() {
                if let Event::Close { conn, .. } = &e {
                    self.switches.remove(conn);
                }
                self.events.push(e);
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("the controller and switches never settle");
    }

    fn advance(&mut self, d: Duration) {
        let target = self.now + d;
        // Step through every deadline on the way, as a shell would.
        while let Some(t) = self.ctl.poll_timeout() {
            if t > target {
                break;
            }
            self.now = self.now.max(t);
            self.ctl.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
        self.ctl.handle_timeout(self.now);
        self.pump();
    }

    fn sw(&mut self, conn: u64) -> &mut SimSwitch {
        self.switches.get_mut(&ConnId(conn)).unwrap()
    }

    fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    fn change(
        &mut self,
        f: impl FnOnce(&mut Model) -> Result<Touched, netrules::model::ModelError>,
    ) -> Completion {
        let t = self.ctl.change(self.now, f).unwrap();
        self.pump();
        t
    }
}

/// A table as a comparable set: our non-pinhole flows, normalised.
fn installed(sw: &SimSwitch) -> BTreeSet<String> {
    sw.table()
        .entries()
        .iter()
        .filter(|e| is_ours(e.cookie) && e.cookie & cookie::KIND_MASK != cookie::PINHOLE)
        .map(|e| {
            format!(
                "{} {:?} {:?} {:#x} {} {}",
                e.priority, e.r#match, e.actions, e.cookie, e.idle_timeout, e.hard_timeout
            )
        })
        .collect()
}

fn compiled(model: &Model, dpid: Dpid) -> BTreeSet<String> {
    compile(model, &CompileOptions::default())
        .remove(&dpid)
        .unwrap_or_default()
        .iter()
        .map(|f| {
            format!(
                "{} {:?} {:?} {:#x} {} {}",
                f.priority,
                normalize(&f.r#match).0,
                f.actions.to_vec(),
                f.cookie,
                f.idle_timeout,
                f.hard_timeout
            )
        })
        .collect()
}

fn assert_consistent(net: &Net, conn: u64, dpid: Dpid) {
    let sw = &net.switches[&ConnId(conn)];
    let want = compiled(net.ctl.model(), dpid);
    let have = installed(sw);
    assert_eq!(
        have.difference(&want).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "extra flows on switch {dpid}"
    );
    assert_eq!(
        want.difference(&have).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "missing flows on switch {dpid}"
    );
}

fn reconciled(events: &[Event]) -> Vec<(Dpid, usize, usize, usize, usize)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Reconciled {
                dpid,
                added,
                deleted,
                kept,
                foreign,
                ..
            } => Some((*dpid, *added, *deleted, *kept, *foreign)),
            _ => None,
        })
        .collect()
}

fn applied(events: &[Event]) -> Vec<Applied> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Applied(a) => Some(a.clone()),
            _ => None,
        })
        .collect()
}

fn closes(events: &[Event]) -> Vec<(ConnId, CloseReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Close { conn, reason } => Some((*conn, reason.clone())),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------------------

#[test]
fn handshake_binds_ports_and_installs_the_compiled_table() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let ev = net.take_events();
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::SwitchUp {
            dpid: 1,
            ports: 3,
            known: true,
            ..
        }
    )));
    for name in ["i-a", "i-b"] {
        assert!(
            ev.iter().any(|e| matches!(e, Event::PortBound { dpid: 1, instance, .. } if instance.as_str() == name)),
            "{name} bound"
        );
    }
    let model = net.ctl.model();
    assert_eq!(
        model.instance(&iid("i-a")).unwrap().attachment,
        Some(Attachment {
            switch: 1,
            port: PortNo(2)
        })
    );
    assert_eq!(model.instance(&iid("i-c")).unwrap().attachment, None);
    let want = compiled(model, 1).len();
    assert_eq!(reconciled(&ev), vec![(1, want, 0, 0, 0)]);
    assert!(net.ctl.is_ready(1));
    let sw = net.sw(1);
    assert_eq!(sw.config().miss_send_len, u16::MAX);
    // The early barrier and the reconciliation's.
    assert_eq!(sw.barriers_seen(), 2);
    assert_consistent(&net, 1, 1);
}

#[test]
fn hello_without_a_common_version_fails() {
    let mut net = Net::new(base_model());
    let mut sw = switch(1);
    sw.set_version(0);
    net.connect(ConnId(1), sw);
    let ev = net.take_events();
    assert!(matches!(
        closes(&ev).as_slice(),
        [(ConnId(1), CloseReason::HelloFailed(_))]
    ));
    assert!(!net.ctl.is_ready(1));
    assert!(net.ctl.switches().is_empty());
}

#[test]
fn hello_failed_is_sent_on_the_wire() {
    let mut ctl = Controller::new(base_model(), Config::default());
    let now = Instant::now();
    ctl.handle_connect(ConnId(9), now);
    let (_, hello) = ctl.poll_transmit().unwrap();
    assert_eq!(
        Message::decode(&hello).unwrap().1,
        Message::Hello(Bytes::new())
    );
    // An OpenFlow 1.3 hello whose version bitmap lacks 1.0.
    let mut their = vec![4, 0, 0, 16, 0, 0, 0, 7];
    their.extend_from_slice(&[0, 1, 0, 8, 0, 0, 0, 0x10]);
    ctl.handle_bytes(ConnId(9), &their, now);
    let (_, bytes) = ctl.poll_transmit().unwrap();
    let (h, msg) = Message::decode(&bytes).unwrap();
    assert_eq!(h.xid, 7);
    match msg {
        Message::Error(e) => {
            assert_eq!(
                e.error,
                ErrorType::HelloFailed(HelloFailedCode::Incompatible)
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        ctl.poll_event(),
        Some(Event::Close {
            reason: CloseReason::HelloFailed(_),
            ..
        })
    ));
}

#[test]
fn a_newer_peer_negotiates_down_to_1_0() {
    let mut net = Net::new(base_model());
    let mut sw = switch(1);
    sw.set_version(4);
    net.connect(ConnId(1), sw);
    assert!(net.ctl.is_ready(1));
}

#[test]
fn anything_before_hello_is_refused() {
    let mut ctl = Controller::new(base_model(), Config::default());
    let now = Instant::now();
    ctl.handle_connect(ConnId(1), now);
    let _ = ctl.poll_transmit();
    let barrier = Message::BarrierReply.to_bytes(3).unwrap();
    ctl.handle_bytes(ConnId(1), &barrier, now);
    let (_, bytes) = ctl.poll_transmit().unwrap();
    assert!(matches!(
        Message::decode(&bytes).unwrap().1,
        Message::Error(ErrorMsg {
            error: ErrorType::HelloFailed(HelloFailedCode::Eperm),
            ..
        })
    ));
    assert!(matches!(
        ctl.poll_event(),
        Some(Event::Close {
            reason: CloseReason::NoHello,
            ..
        })
    ));
}

#[test]
fn malformed_messages_get_the_right_error_and_the_session_goes_on() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    // Unknown type 0xee: BAD_REQUEST/BAD_TYPE, same xid.
    let unknown = [1u8, 0xee, 0, 8, 0, 0, 0, 42];
    net.ctl.handle_bytes(ConnId(1), &unknown, net.now);
    // A barrier reply with a body: BAD_REQUEST/BAD_LEN.
    let bad_len = [1u8, 19, 0, 12, 0, 0, 0, 43, 0, 0, 0, 0];
    net.ctl.handle_bytes(ConnId(1), &bad_len, net.now);
    // A flow_mod from the switch: BAD_REQUEST/BAD_TYPE (switches do not send those).
    let fm = Message::FlowMod(FlowMod::add(Match::any(), 1, vec![]))
        .to_bytes(44)
        .unwrap();
    net.ctl.handle_bytes(ConnId(1), &fm, net.now);
    net.pump();
    let errs: Vec<(ErrorType, usize)> = net
        .sw(1)
        .errors_received()
        .iter()
        .map(|e| (e.error, e.data.len()))
        .collect();
    assert_eq!(
        errs,
        vec![
            (ErrorType::BadRequest(BadRequestCode::BadType), 8),
            (ErrorType::BadRequest(BadRequestCode::BadLen), 12),
            (ErrorType::BadRequest(BadRequestCode::BadType), 64),
        ]
    );
    let ev = net.take_events();
    assert_eq!(
        ev.iter()
            .filter(|e| matches!(e, Event::Malformed { .. }))
            .count(),
        2
    );
    assert!(closes(&ev).is_empty());
    assert!(net.ctl.is_ready(1));
}

#[test]
fn a_stream_out_of_sync_is_closed() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    net.ctl
        .handle_bytes(ConnId(1), &[1, 2, 0, 4, 0, 0, 0, 1], net.now);
    net.pump();
    assert!(matches!(
        closes(&net.take_events()).as_slice(),
        [(ConnId(1), CloseReason::OutOfSync(_))]
    ));
    assert!(!net.ctl.is_ready(1));
}

#[test]
fn a_stream_out_of_sync_after_a_partial_read_is_answered_and_closed() {
    // A packet_in split across two reads (so the second is handled in the framer's buffer),
    // then a header that cannot be skipped: the packet_in is answered, then the error
    // quotes the bad header, and the connection closes.
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    while net.ctl.poll_transmit().is_some() {}
    net.sw(1).send_packet_in(PortNo(2), &ssh_a_to_b(40000));
    let pi = net.sw(1).take_output();
    let bad = [1u8, 10, 0, 3, 0, 0, 0, 9];
    let now = net.now;
    net.ctl.handle_bytes(ConnId(1), &pi[..5], now);
    let mut second = pi[5..].to_vec();
    second.extend_from_slice(&bad);
    net.ctl.handle_bytes(ConnId(1), &second, now);
    assert_eq!(net.ctl.pinholes().len(), 1);
    let mut sw = switch(1);
    while let Some((_, out)) = net.ctl.poll_transmit() {
        sw.receive(&out);
    }
    let errors = sw.errors_received();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].data.as_ref(), &bad[..]);
    let ev: Vec<Event> = std::iter::from_fn(|| net.ctl.poll_event()).collect();
    assert!(matches!(
        closes(&ev).as_slice(),
        [(ConnId(1), CloseReason::OutOfSync(_))]
    ));
    // Nothing more is read from it.
    net.ctl.handle_bytes(ConnId(1), &pi, now);
    assert_eq!(net.ctl.pinholes().len(), 1);
}

#[test]
fn a_bad_header_cut_across_reads_is_quoted_whole() {
    // A bad header (and bytes after it) split at every point inside the header: nothing
    // happens until the header is whole, then the error quotes it and what followed it in
    // that read, as when it all comes in one read.
    let bad = [1u8, 10, 0, 3, 0, 0, 0, 9, 0xaa, 0xbb];
    for cut in 1..openflow_proto::Header::LEN {
        let mut net = Net::new(base_model());
        net.connect(ConnId(1), switch(1));
        net.take_events();
        while net.ctl.poll_transmit().is_some() {}
        let now = net.now;
        net.ctl.handle_bytes(ConnId(1), &bad[..cut], now);
        assert!(net.ctl.poll_transmit().is_none(), "cut {cut}");
        net.ctl.handle_bytes(ConnId(1), &bad[cut..], now);
        let mut sw = switch(1);
        while let Some((_, out)) = net.ctl.poll_transmit() {
            sw.receive(&out);
        }
        let errors = sw.errors_received();
        assert_eq!(errors.len(), 1, "cut {cut}: {errors:?}");
        assert_eq!(errors[0].data.as_ref(), &bad[..], "cut {cut}");
        let ev: Vec<Event> = std::iter::from_fn(|| net.ctl.poll_event()).collect();
        assert!(matches!(
            closes(&ev).as_slice(),
            [(ConnId(1), CloseReason::OutOfSync(_))]
        ));
    }
}

#[test]
fn a_stream_out_of_sync_is_answered_with_the_offending_header() {
    let mut ctl = Controller::new(base_model(), Config::default());
    let now = Instant::now();
    ctl.handle_connect(ConnId(1), now);
    let _ = ctl.poll_transmit();
    // A HELLO, then a header saying 4 bytes (below the header itself) with xid 0x0a0b0c0d.
    let mut bytes = Message::Hello(Bytes::new()).to_bytes(1).unwrap().to_vec();
    bytes.extend_from_slice(&[1, 2, 0, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0xee]);
    ctl.handle_bytes(ConnId(1), &bytes, now);
    let (_, out) = ctl.poll_transmit().unwrap();
    let mut framer = Framer::new();
    framer.extend_from_slice(&out);
    let mut last = None;
    while let Ok(Some(Ok(m))) = framer.next_message() {
        last = Some(m);
    }
    let (h, msg) = last.unwrap();
    assert_eq!(h.xid, 0x0a0b_0c0d);
    assert_eq!(
        msg,
        Message::Error(ErrorMsg {
            error: ErrorType::BadRequest(BadRequestCode::BadLen),
            data: Bytes::from_static(&[1, 2, 0, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0xee]),
        })
    );
    let ev: Vec<Event> = std::iter::from_fn(|| ctl.poll_event()).collect();
    assert!(matches!(
        closes(&ev).as_slice(),
        [(ConnId(1), CloseReason::OutOfSync(_))]
    ));
    // Nothing more for the closed connection, and its buffer is gone.
    assert!(ctl.poll_transmit().is_none());
    assert!(ctl.out.is_empty());
}

#[test]
fn a_malformed_message_before_hello_is_refused_and_closed() {
    // Version 4 (an echo request of a newer peer that skipped HELLO), and an unknown type.
    for first in [[4u8, 2, 0, 8, 0, 0, 0, 7], [1, 0xee, 0, 8, 0, 0, 0, 7]] {
        let mut ctl = Controller::new(base_model(), Config::default());
        let now = Instant::now();
        ctl.handle_connect(ConnId(1), now);
        let _ = ctl.poll_transmit();
        ctl.handle_bytes(ConnId(1), &first, now);
        let (_, bytes) = ctl.poll_transmit().unwrap();
        let (h, msg) = Message::decode(&bytes).unwrap();
        assert_eq!(h.xid, 7);
        assert!(
            matches!(
                msg,
                Message::Error(ErrorMsg {
                    error: ErrorType::HelloFailed(HelloFailedCode::Eperm),
                    ..
                })
            ),
            "{msg:?}"
        );
        let ev: Vec<Event> = std::iter::from_fn(|| ctl.poll_event()).collect();
        assert!(ev.iter().any(|e| matches!(e, Event::Malformed { .. })));
        assert_eq!(closes(&ev), vec![(ConnId(1), CloseReason::NoHello)]);
        assert_eq!(ctl.counters().malformed, 1);
        assert!(ctl.out.is_empty());
    }
}

#[test]
fn a_version_mismatch_after_hello_is_bad_version_and_the_session_goes_on() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let mut echo = Message::EchoRequest(Bytes::from_static(b"v4"))
        .to_bytes(9)
        .unwrap()
        .to_vec();
    echo[0] = 4;
    net.ctl.handle_bytes(ConnId(1), &echo, net.now);
    net.pump();
    let errs = net.sw(1).errors_received().to_vec();
    assert_eq!(
        errs,
        vec![ErrorMsg {
            error: ErrorType::BadRequest(BadRequestCode::BadVersion),
            data: Bytes::from(echo),
        }]
    );
    assert!(closes(&net.take_events()).is_empty());
    assert!(net.ctl.is_ready(1));
}

#[test]
fn a_peer_that_does_not_read_is_closed_past_the_send_backlog_limit() {
    let config = Config {
        send_backlog_limit: 1000,
        ..Config::default()
    };
    let mut net = Net::with_config(base_model(), config);
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.take_events();
    // Switch 1 stops answering; a change waits for it.
    net.sw(1).set_mute(true);
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    // The limit comes on top of twice the largest burst the controller sent on its own (here
    // the reconciliation: the whole table).
    let burst = net.ctl.own_burst[&ConnId(1)];
    assert!(burst > 0);
    let limit = 1000 + 2 * burst;
    // At the limit nothing happens; past it the connection is closed and the change deferred.
    net.ctl.handle_unsent(ConnId(1), limit);
    net.pump();
    assert!(closes(&net.take_events()).is_empty());
    // Bytes queued but not yet polled are dropped with the connection.
    net.ctl.handle_bytes(
        ConnId(1),
        &Message::EchoRequest(Bytes::new()).to_bytes(3).unwrap(),
        net.now,
    );
    net.ctl.handle_unsent(ConnId(1), limit + 1);
    assert!(net.ctl.poll_transmit().is_none());
    let ev: Vec<Event> = std::iter::from_fn(|| net.ctl.poll_event()).collect();
    assert_eq!(
        closes(&ev),
        vec![(
            ConnId(1),
            CloseReason::SendBacklog {
                unsent: limit + 1,
                limit
            }
        )]
    );
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            conn: ConnId(1),
            dpid: Some(1),
            ..
        }
    )));
    let a = applied(&ev);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].token, a[0].deferred.clone()), (token, vec![1]));
    assert_eq!(
        net.ctl.switches().keys().copied().collect::<Vec<_>>(),
        vec![2]
    );
    assert!(!net.ctl.out.contains_key(&ConnId(1)));
    assert!(!net.ctl.own_burst.contains_key(&ConnId(1)));
    // Reports about a connection that is gone change nothing.
    net.ctl.handle_unsent(ConnId(1), usize::MAX);
    assert!(net.ctl.poll_event().is_none());
    assert!(CloseReason::SendBacklog {
        unsent: 1001,
        limit: 1000
    }
    .to_string()
    .contains("1001 bytes unsent"));
}

#[test]
fn stats_replies_nobody_asked_for_are_dropped_not_held() {
    use openflow_proto::stats::{StatsReply, StatsReplyFlags};
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    // Parts of multi-part flow stats replies for xids the controller never used.
    for xid in 900..910 {
        let part = Message::StatsReply(StatsReply {
            flags: StatsReplyFlags::MORE,
            body: StatsReplyBody::Flow(Vec::new()),
        })
        .to_bytes(xid)
        .unwrap();
        net.ctl.handle_bytes(ConnId(1), &part, net.now);
    }
    net.pump();
    assert_eq!(net.ctl.sessions[&ConnId(1)].stats.held_bytes(), 0);
    assert_eq!(net.ctl.sessions[&ConnId(1)].stats.pending(), 0);
    assert_eq!(net.ctl.counters().unsolicited, 10);
    assert!(closes(&net.take_events()).is_empty());
    assert!(net.ctl.is_ready(1));
    // The reconciliation's own reply (in many parts) is still reassembled.
    let mut sw = net.disconnect(ConnId(1));
    sw.set_stats_part_len(200);
    net.connect(ConnId(2), sw);
    assert_eq!(reconciled(&net.take_events()).len(), 1);
    assert!(net.ctl.is_ready(1));
    assert_eq!(net.ctl.counters().unsolicited, 10);
}

#[test]
fn switch_errors_are_reported() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let e = Message::Error(ErrorMsg::for_request(
        ErrorType::BadRequest(BadRequestCode::Eperm),
        &[1, 2, 3],
    ))
    .to_bytes(77)
    .unwrap();
    net.ctl.handle_bytes(ConnId(1), &e, net.now);
    net.pump();
    assert!(net.take_events().iter().any(|e| matches!(
        e,
        Event::SwitchError {
            xid: 77,
            dpid: Some(1),
            ..
        }
    )));
    assert_eq!(net.ctl.counters().switch_errors, 1);
}

// ---------------------------------------------------------------------------------------
// Liveness
// ---------------------------------------------------------------------------------------

#[test]
fn echo_on_idle_keeps_a_live_switch_and_drops_a_silent_one() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.take_events();
    // Both answer echoes: nothing closes over a minute.
    net.advance(Duration::from_secs(60));
    assert!(closes(&net.take_events()).is_empty());
    assert!(net.ctl.is_ready(1) && net.ctl.is_ready(2));
    // Switch 2 goes silent: echo after 5 s, closed 10 s later.
    net.sw(2).set_mute(true);
    net.advance(Duration::from_secs(14));
    assert!(closes(&net.take_events()).is_empty());
    net.advance(Duration::from_secs(2));
    assert_eq!(
        closes(&net.take_events()),
        vec![(ConnId(2), CloseReason::Silence)]
    );
    assert!(net.ctl.is_ready(1));
}

/// The earliest of every session's own deadline, the change deadlines and the announcer's:
/// what `Controller::poll_timeout` must say.
fn earliest_deadline(ctl: &Controller) -> Option<Instant> {
    ctl.sessions
        .values()
        .filter_map(|s| s.deadline(&ctl.config))
        .chain(ctl.changes.values().map(|c| c.deadline))
        .chain(ctl.announcer.next_deadline())
        .min()
}

#[test]
fn poll_timeout_is_the_earliest_deadline_of_every_kind() {
    let mut net = Net::new(base_model());
    assert_eq!(net.ctl.poll_timeout(), None);
    net.connect(ConnId(1), switch(1));
    assert_eq!(net.ctl.poll_timeout(), earliest_deadline(&net.ctl));
    net.advance(Duration::from_secs(2));
    net.connect(ConnId(2), switch(2));
    assert_eq!(net.ctl.poll_timeout(), earliest_deadline(&net.ctl));
    // Switch 2 goes silent: an echo goes out to it, not to switch 1.
    net.sw(2).set_mute(true);
    net.advance(Duration::from_secs(6));
    assert!(net.ctl.sessions.values().any(|s| s.echo_sent));
    assert!(net.ctl.sessions.values().any(|s| !s.echo_sent));
    assert_eq!(net.ctl.poll_timeout(), earliest_deadline(&net.ctl));
    // A connection in its handshake.
    net.ctl.handle_connect(ConnId(3), net.now);
    assert_eq!(net.ctl.poll_timeout(), earliest_deadline(&net.ctl));
    for _ in 0..6 {
        net.advance(Duration::from_millis(1700));
        assert_eq!(net.ctl.poll_timeout(), earliest_deadline(&net.ctl));
    }
}

#[test]
fn echo_requests_are_answered() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let echo = Message::EchoRequest(Bytes::from_static(b"ping"))
        .to_bytes(5)
        .unwrap();
    net.ctl.handle_bytes(ConnId(1), &echo, net.now);
    let (_, bytes) = net.ctl.poll_transmit().unwrap();
    let (h, msg) = Message::decode(&bytes).unwrap();
    assert_eq!(
        (h.xid, msg),
        (5, Message::EchoReply(Bytes::from_static(b"ping")))
    );
}

#[test]
fn a_handshake_that_stalls_times_out() {
    let mut ctl = Controller::new(base_model(), Config::default());
    let t0 = Instant::now();
    ctl.handle_connect(ConnId(1), t0);
    let deadline = ctl.poll_timeout().unwrap();
    assert!(deadline <= t0 + Duration::from_secs(10));
    ctl.handle_timeout(t0 + Duration::from_secs(10));
    let ev: Vec<Event> = std::iter::from_fn(|| ctl.poll_event()).collect();
    assert!(closes(&ev)
        .iter()
        .any(|(_, r)| *r == CloseReason::HandshakeTimeout));
}

#[test]
fn a_reconciliation_that_never_completes_times_out() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let mut sw = net.disconnect(ConnId(1));
    net.ctl.handle_connect(ConnId(2), net.now);
    let hello = sw.hello();
    net.ctl.handle_bytes(ConnId(2), &hello, net.now);
    net.switches.insert(ConnId(2), sw);
    // Features go through; then the switch stops answering stats but keeps echoing.
    let (_, bytes) = net.ctl.poll_transmit().unwrap(); // HELLO + FEATURES_REQUEST
    net.sw(2).receive(&bytes);
    let out = net.sw(2).take_output();
    net.ctl.handle_bytes(ConnId(2), &out, net.now);
    let _ = net.ctl.poll_transmit(); // SET_CONFIG, BARRIER, STATS_REQUEST: dropped
    net.take_events();
    for _ in 0..6 {
        net.advance(Duration::from_secs(5));
    }
    let ev = net.take_events();
    assert_eq!(
        closes(&ev),
        vec![(ConnId(2), CloseReason::ReconcileTimeout)],
        "{ev:?}"
    );
}

#[test]
fn a_second_connection_for_a_datapath_replaces_the_first() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(1));
    let ev = net.take_events();
    assert_eq!(
        closes(&ev),
        vec![(ConnId(1), CloseReason::Replaced { by: ConnId(2) })]
    );
    assert_eq!(net.ctl.switches().get(&1), Some(&ConnId(2)));
    // The second (a fresh simulated switch, empty) got the whole table.
    let want = compiled(net.ctl.model(), 1).len();
    assert_eq!(reconciled(&ev).last(), Some(&(1, want, 0, 0, 0)));
    assert_consistent(&net, 2, 1);
}

// ---------------------------------------------------------------------------------------
// Reconciliation
// ---------------------------------------------------------------------------------------

#[test]
fn reconnect_sends_exactly_the_difference() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let total = compiled(net.ctl.model(), 1).len();
    let mut sw = net.disconnect(ConnId(1));
    net.take_events();

    // Behind the controller's back: one of our flows disappears, one gets other actions,
    // a stale flow with our cookie appears, and a foreign flow (cookie 0) appears.
    let entries: Vec<_> = sw.table().entries().to_vec();
    let victim = entries
        .iter()
        .find(|e| !e.actions.is_empty())
        .unwrap()
        .clone();
    let changed = entries
        .iter()
        .find(|e| e.id != victim.id && !e.actions.is_empty())
        .unwrap()
        .clone();
    let t = sw.table_mut();
    t.apply(
        &FlowMod::delete_strict(victim.r#match, victim.priority),
        Duration::ZERO,
    )
    .unwrap();
    let mut fm = changed.to_flow_mod();
    fm.actions = Default::default();
    t.apply(&fm, Duration::ZERO).unwrap();
    let mut stale_match = Match::any();
    stale_match.in_port = Some(PortNo(77));
    let mut stale = FlowMod::add(stale_match, priority::INGRESS_FORWARD, vec![]);
    stale.cookie = netrules::compile::instance_cookie(&iid("i-gone"));
    t.apply(&stale, Duration::ZERO).unwrap();
    let mut foreign_match = Match::any();
    foreign_match.in_port = Some(PortNo(99));
    t.apply(&FlowMod::add(foreign_match, 5, vec![]), Duration::ZERO)
        .unwrap();
    let before = sw.flow_mods_seen();

    net.connect(ConnId(2), sw);
    let ev = net.take_events();
    assert_eq!(reconciled(&ev), vec![(1, 2, 1, total - 2, 1)]);
    assert_eq!(net.sw(2).flow_mods_seen() - before, 3);
    assert_consistent(&net, 2, 1);
    // The foreign flow is still there.
    assert!(net
        .sw(2)
        .table()
        .entries()
        .iter()
        .any(|e| e.cookie == 0 && e.priority == 5));

    // And once more: nothing to do.
    let sw = net.disconnect(ConnId(2));
    let before = sw.flow_mods_seen();
    net.take_events();
    net.connect(ConnId(3), sw);
    assert_eq!(reconciled(&net.take_events()), vec![(1, 0, 0, total, 1)]);
    assert_eq!(net.sw(3).flow_mods_seen(), before);
}

#[test]
fn changes_while_disconnected_are_deferred_then_reconciled() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let sw = net.disconnect(ConnId(1));
    net.take_events();
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].token, token);
    assert_eq!(a[0].deferred, vec![1]);
    assert!(a[0].acknowledged.is_empty());
    net.connect(ConnId(2), sw);
    let r = reconciled(&net.take_events());
    assert_eq!(r.len(), 1);
    assert!(r[0].1 > 0, "the new rule's flows are added: {r:?}");
    assert_consistent(&net, 2, 1);
}

#[test]
fn multi_part_flow_stats_are_reassembled() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let total = compiled(net.ctl.model(), 1).len();
    let mut sw = net.disconnect(ConnId(1));
    sw.set_stats_part_len(300);
    net.take_events();
    net.connect(ConnId(2), sw);
    assert_eq!(reconciled(&net.take_events()), vec![(1, 0, 0, total, 0)]);
}

#[test]
fn a_change_during_reconciliation_completes_with_it() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let mut sw = net.disconnect(ConnId(1));
    net.take_events();
    // Reconnect but hold the switch's answers: the handshake stops before the stats reply.
    net.ctl.handle_connect(ConnId(2), net.now);
    let hello = sw.hello();
    net.ctl.handle_bytes(ConnId(2), &hello, net.now);
    net.switches.insert(ConnId(2), sw);
    net.pump(); // features, stats request
    net.sw(2).set_mute(true);
    net.pump();
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    assert!(applied(&net.take_events()).is_empty());
    net.sw(2).set_mute(false);
    net.pump();
    let ev = net.take_events();
    let a = applied(&ev);
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].token, a[0].acknowledged.clone()), (token, vec![1]));
    assert_consistent(&net, 2, 1);
}

// ---------------------------------------------------------------------------------------
// Changes and barriers
// ---------------------------------------------------------------------------------------

#[test]
fn a_change_completes_when_every_affected_switch_acknowledges() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.take_events();
    // i-c on switch 2 binds through port status; both switches host sg-ssh members.
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].token, token);
    assert_eq!(a[0].acknowledged, vec![1, 2]);
    assert!(a[0].is_complete());
    assert_consistent(&net, 1, 1);
    assert_consistent(&net, 2, 2);
}

#[test]
fn a_change_touching_no_flows_completes_at_once() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let owner = OwnerId::new("111122223333").unwrap();
    let token =
        net.change(|m| m.add_group(SecurityGroup::new(gid("sg-empty"), "e", owner, "empty")));
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].token, token);
    assert!(a[0].acknowledged.is_empty() && a[0].deferred.is_empty());
}

#[test]
fn a_silent_switch_times_the_change_out() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    net.sw(1).set_mute(true);
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    assert!(applied(&net.take_events()).is_empty());
    net.advance(Duration::from_secs(5));
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].token, a[0].timed_out.clone()), (token, vec![1]));
    assert!(!a[0].is_complete());
}

#[test]
fn a_disconnect_defers_a_waiting_change() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    net.sw(1).set_mute(true);
    let token = net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    net.disconnect(ConnId(1));
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].token, a[0].deferred.clone()), (token, vec![1]));
}

#[test]
fn errors_before_the_barrier_are_counted_in_the_completion() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    // The switch will answer the change's flow_mods, then an error arrives before the
    // barrier reply.
    net.sw(1).set_mute(true);
    net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    let e = Message::Error(ErrorMsg::for_request(
        ErrorType::FlowModFailed(openflow_proto::error_msg::FlowModFailedCode::AllTablesFull),
        &[],
    ))
    .to_bytes(1)
    .unwrap();
    net.ctl.handle_bytes(ConnId(1), &e, net.now);
    net.sw(1).set_mute(false);
    net.pump();
    let a = applied(&net.take_events());
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].errors, 1);
    assert!(!a[0].is_complete());
}

// ---------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------

#[test]
fn port_status_binds_and_unbinds_instances() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(2), switch(2));
    assert!(net
        .ctl
        .model()
        .instance(&iid("i-c"))
        .unwrap()
        .attachment
        .is_some());
    net.take_events();
    // i-c's port goes away.
    net.sw(2).port_status(PortReason::Delete, 2, "i-c");
    net.pump();
    assert!(net
        .take_events()
        .iter()
        .any(|e| matches!(e, Event::PortUnbound { dpid: 2, .. })));
    assert_eq!(
        net.ctl.model().instance(&iid("i-c")).unwrap().attachment,
        None
    );
    assert_consistent(&net, 2, 2);
    // It comes back on another port.
    net.sw(2).port_status(PortReason::Add, 5, "i-c");
    net.pump();
    assert_eq!(
        net.ctl.model().instance(&iid("i-c")).unwrap().attachment,
        Some(Attachment {
            switch: 2,
            port: PortNo(5)
        })
    );
    assert_consistent(&net, 2, 2);
    // A port with a name that is no instance changes nothing.
    net.sw(2).port_status(PortReason::Add, 6, "tap-other");
    net.pump();
    assert_consistent(&net, 2, 2);
}

#[test]
fn ports_gone_while_disconnected_are_unbound_on_reconnect() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.disconnect(ConnId(1));
    net.take_events();
    // It comes back without i-b.
    let sw = SimSwitch::new(1, &[(UPLINK, "hv1-up"), (2, "i-a")]);
    net.connect(ConnId(2), sw);
    assert_eq!(
        net.ctl.model().instance(&iid("i-b")).unwrap().attachment,
        None
    );
    assert_consistent(&net, 2, 1);
}

#[test]
fn unknown_switches_join_with_the_default_uplink() {
    let config = Config {
        default_uplink: Some(PortNo(1)),
        ..Config::default()
    };
    let mut net = Net::with_config(base_model(), config);
    net.connect(ConnId(1), SimSwitch::new(9, &[(1, "up"), (4, "i-c")]));
    assert!(net.ctl.model().switch(9).is_some());
    assert_eq!(
        net.ctl.model().instance(&iid("i-c")).unwrap().attachment,
        Some(Attachment {
            switch: 9,
            port: PortNo(4)
        })
    );
    assert_consistent(&net, 1, 9);
    // Without a default uplink, an unknown switch is left out of the model.
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), SimSwitch::new(9, &[(1, "up")]));
    assert!(net.ctl.model().switch(9).is_none());
    assert!(net.take_events().iter().any(|e| matches!(
        e,
        Event::SwitchUp {
            dpid: 9,
            known: false,
            ..
        }
    )));
}

// ---------------------------------------------------------------------------------------
// Punted packets
// ---------------------------------------------------------------------------------------

fn pinhole_flows(sw: &SimSwitch) -> usize {
    sw.table()
        .entries()
        .iter()
        .filter(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .count()
}

/// Without packet_in events: the same pinholes, packet_out and counters, no event.
#[test]
fn packet_in_events_can_be_off() {
    let mut net = Net::new(base_model());
    net.ctl.set_packet_in_events(false);
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let syn = ssh_a_to_b(40000);
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn));
    net.pump();
    let ev = net.take_events();
    assert!(
        !ev.iter().any(|e| matches!(e, Event::PacketIn { .. })),
        "{ev:?}"
    );
    assert_eq!(pinhole_flows(net.sw(1)), 2);
    assert_eq!(net.ctl.pinholes().len(), 1);
    assert_eq!(net.sw(1).packet_outs().len(), 1);
    assert_eq!(net.ctl.counters().packet_ins, 1);
    // Back on: reported again.
    net.ctl.set_packet_in_events(true);
    let syn = ssh_a_to_b(40001);
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn));
    net.pump();
    assert!(allowed_reported(&net.take_events()));
    assert_eq!(pinhole_flows(net.sw(1)), 4);
}

#[test]
fn pinhole_life_cycle() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    // i-a opens SSH to i-b on the same switch: punted, allowed, two pinholes, packet_out.
    let syn = ssh_a_to_b(40000);
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn));
    net.pump();
    assert!(allowed_reported(&net.take_events()));
    assert_eq!(pinhole_flows(net.sw(1)), 2);
    assert_eq!(net.ctl.pinholes().len(), 1);
    let po = net.sw(1).packet_outs().to_vec();
    assert_eq!(po.len(), 1);
    assert_eq!(po[0].in_port, PortNo(2));
    assert_eq!(po[0].data.as_ref(), frame::synthesize(&syn).as_slice());
    assert!(po[0].actions.contains(&Action::output(PortNo(3))));
    // The reply now takes its pinhole without the controller.
    assert!(!net.sw(1).packet_arrives(PortNo(3), &syn.reversed()));
    for e in net.sw(1).table().entries() {
        if e.cookie & cookie::KIND_MASK == cookie::PINHOLE {
            assert_eq!(e.idle_timeout, 60);
            assert!(e.flags.contains(FlowModFlags::SEND_FLOW_REM));
        }
    }
    // One pinhole idles out: the controller deletes its sibling and forgets the connection.
    let first = net
        .sw(1)
        .table()
        .entries()
        .iter()
        .find(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .cloned()
        .unwrap();
    assert!(net.sw(1).remove_flow(&first.r#match, first.priority));
    net.pump();
    assert_eq!(pinhole_flows(net.sw(1)), 0);
    assert!(net.ctl.pinholes().is_empty());

    // Telnet is not allowed: dropped, no pinhole, no packet_out.
    net.sw(1).clear_packet_outs();
    let telnet = Packet { tp_dst: 23, ..syn };
    if net.sw(1).packet_arrives(PortNo(2), &telnet) {
        net.pump();
    }
    assert_eq!(pinhole_flows(net.sw(1)), 0);
    assert!(net.sw(1).packet_outs().is_empty());

    // A rule change touching the connection's instances cuts its pinholes.
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn));
    net.pump();
    assert_eq!(pinhole_flows(net.sw(1)), 2);
    net.change(|m| m.revoke(&gid("sg-ssh"), Direction::Ingress, &ssh()));
    assert_eq!(pinhole_flows(net.sw(1)), 0);
    assert!(net.ctl.pinholes().is_empty());
    assert_consistent(&net, 1, 1);
}

#[test]
fn connections_tracked_per_switch_are_bounded_oldest_forgotten_first() {
    let config = Config {
        max_tracked_per_switch: 3,
        ..Config::default()
    };
    let mut net = Net::with_config(base_model(), config);
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let syn = ssh_a_to_b;
    let tracked_ports = |net: &Net| -> Vec<u16> {
        net.ctl
            .pinholes()
            .connections()
            .keys()
            .map(|k| k.opening.src_port)
            .collect()
    };
    // Five new connections: each goes on (a packet_out each); the switch keeps the pinholes
    // of the last three, the first two were forgotten and their pinholes deleted.
    for sport in 40000..40005 {
        assert!(net.sw(1).packet_arrives(PortNo(2), &syn(sport)));
        net.pump();
    }
    assert_eq!(net.sw(1).packet_outs().len(), 5);
    assert_eq!(tracked_ports(&net), vec![40002, 40003, 40004]);
    assert_eq!(pinhole_flows(net.sw(1)), 6);
    assert_eq!(net.ctl.counters().tracking_evicted, 2);
    // A forgotten connection's next packet is decided afresh (and the oldest goes).
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn(40000)));
    net.pump();
    assert_eq!(tracked_ports(&net), vec![40000, 40003, 40004]);
    assert_eq!(pinhole_flows(net.sw(1)), 6);
    // A pinhole idles out: its connection is forgotten, and a new one fits without eviction.
    let first = net
        .sw(1)
        .table()
        .entries()
        .iter()
        .find(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .cloned()
        .unwrap();
    assert!(net.sw(1).remove_flow(&first.r#match, first.priority));
    net.pump();
    assert_eq!(net.ctl.pinholes().len(), 2);
    assert!(net.sw(1).packet_arrives(PortNo(2), &syn(40010)));
    net.pump();
    assert_eq!(net.ctl.pinholes().len(), 3);
    assert_eq!(net.ctl.counters().tracking_evicted, 3);
    // A rule change cuts them all: three new ones fit again, the fourth evicts the first.
    net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    assert!(net.ctl.pinholes().is_empty());
    for sport in 40020..40024 {
        assert!(net.sw(1).packet_arrives(PortNo(2), &syn(sport)));
        net.pump();
    }
    assert_eq!(tracked_ports(&net), vec![40021, 40022, 40023]);
    assert_eq!(pinhole_flows(net.sw(1)), 6);
    assert_eq!(net.ctl.counters().tracking_evicted, 4);
    // Another switch has a bound of its own.
    net.connect(ConnId(2), switch(2));
    let to_a = Packet::ipv4(
        inst_mac(3),
        inst_mac(1),
        inst_ip(3),
        inst_ip(1),
        6,
        50000,
        22,
    );
    net.sw(2).send_packet_in(PortNo(2), &to_a);
    net.pump();
    assert_eq!(net.ctl.pinholes().len(), 4);
    assert_eq!(net.ctl.counters().tracking_evicted, 4);
    // Many more: the bound holds and the bookkeeping stays small.
    for sport in 1000..3000 {
        net.sw(1).send_packet_in(PortNo(2), &syn(sport));
    }
    net.pump();
    assert_eq!(net.ctl.pinholes().len(), 4);
    assert_eq!(pinhole_flows(net.sw(1)), 6);
    assert!(net.ctl.opened[&1].len() <= 2 * 512 + 1);
}

#[test]
fn stale_pinholes_are_removed_on_reconnect_and_live_ones_kept() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let syn = ssh_a_to_b(40000);
    net.sw(1).packet_arrives(PortNo(2), &syn);
    net.pump();
    let total = compiled(net.ctl.model(), 1).len();
    let sw = net.disconnect(ConnId(1));
    net.take_events();
    net.connect(ConnId(2), sw);
    // Known pinholes are not ours to reconcile: kept as they are.
    assert_eq!(reconciled(&net.take_events()), vec![(1, 0, 0, total, 0)]);
    assert_eq!(pinhole_flows(net.sw(2)), 2);
    // A new controller (restart) does not know them: they go.
    let sw = net.disconnect(ConnId(2));
    let mut fresh = Net::new(net.ctl.model().clone());
    fresh.connect(ConnId(1), sw);
    assert_eq!(reconciled(&fresh.take_events()), vec![(1, 0, 2, total, 0)]);
    assert_eq!(pinhole_flows(fresh.sw(1)), 0);
}

/// Whether `bytes` hold an OpenFlow 1.0 `STATS_REPLY` (type 17).
fn has_stats_reply(bytes: &[u8]) -> bool {
    let mut at = 0;
    while let Some(header) = bytes.get(at..at + 4) {
        if header[1] == 17 {
            return true;
        }
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        if len < 8 {
            return false;
        }
        at += len;
    }
    false
}

#[test]
fn a_connection_punted_while_a_restarted_controller_reconciles_neither_shields_stale_pinholes_nor_is_forgotten(
) {
    // A controller tracks a connection (pinhole serial 1) and dies; the switch keeps its table.
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let old = ssh_a_to_b(40000);
    net.sw(1).packet_arrives(PortNo(2), &old);
    net.pump();
    assert_eq!(pinhole_flows(net.sw(1)), 2);
    let mut sw = net.disconnect(ConnId(1));
    // The restarted controller numbers its connections from the start again. A new
    // connection is punted while the switch's flow stats reply is on its way: the packet_in
    // reaches the controller first, and its pinholes (the same cookie as the dead
    // controller's first connection) are installed after the reply was taken.
    let mut fresh = Net::new(net.ctl.model().clone());
    let now = fresh.now;
    fresh.ctl.handle_connect(ConnId(1), now);
    let hello = sw.hello();
    fresh.ctl.handle_bytes(ConnId(1), &hello, now);
    let new = ssh_a_to_b(40001);
    let mut injected = false;
    for _ in 0..1000 {
        let mut moved = false;
        while let Some((_, bytes)) = fresh.ctl.poll_transmit() {
            sw.receive(&bytes);
            moved = true;
        }
        let out = sw.take_output();
        if !out.is_empty() {
            if !injected && has_stats_reply(&out) {
                sw.send_packet_in(PortNo(2), &new);
                let packet_in = sw.take_output();
                fresh.ctl.handle_bytes(ConnId(1), &packet_in, now);
                injected = true;
            }
            fresh.ctl.handle_bytes(ConnId(1), &out, now);
            moved = true;
        }
        while fresh.ctl.poll_event().is_some() {
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(injected, "the switch answered the flow stats request");
    fresh.switches.insert(ConnId(1), sw);
    fresh.pump();
    // The new connection is tracked, and the switch holds its two pinholes and nothing of
    // the dead controller's.
    assert_eq!(fresh.ctl.pinholes().len(), 1);
    let pinholes: Vec<String> = fresh
        .sw(1)
        .table()
        .entries()
        .iter()
        .filter(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .map(|e| format!("{:?}", e.r#match))
        .collect();
    assert_eq!(pinholes.len(), 2, "{pinholes:#?}");
    assert!(
        pinholes.iter().all(|m| m.contains("40001")),
        "only the new connection's pinholes: {pinholes:#?}"
    );
    // The stale pinholes' removals (the reconciliation deleted them) did not end it; one of
    // its own idling out does, and takes its sibling along.
    let first = fresh
        .sw(1)
        .table()
        .entries()
        .iter()
        .find(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .cloned()
        .unwrap();
    assert!(fresh.sw(1).remove_flow(&first.r#match, first.priority));
    fresh.pump();
    assert!(fresh.ctl.pinholes().is_empty());
    assert_eq!(pinhole_flows(fresh.sw(1)), 0);
}

#[test]
fn connections_whose_pinholes_vanished_while_away_are_forgotten() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let syn = ssh_a_to_b(40000);
    net.sw(1).packet_arrives(PortNo(2), &syn);
    net.pump();
    assert_eq!(net.ctl.pinholes().len(), 1);
    let mut sw = net.disconnect(ConnId(1));
    // Both pinholes idle out while the controller is away (their flow_removed are lost).
    let holes: Vec<_> = sw
        .table()
        .entries()
        .iter()
        .filter(|e| e.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .map(|e| (e.r#match, e.priority))
        .collect();
    assert_eq!(holes.len(), 2);
    for (m, p) in holes {
        sw.table_mut()
            .apply(&FlowMod::delete_strict(m, p), Duration::ZERO)
            .unwrap();
    }
    net.connect(ConnId(2), sw);
    assert!(net.ctl.pinholes().is_empty());
    // The same connection opens afresh.
    assert!(net.sw(2).packet_arrives(PortNo(2), &syn));
    net.pump();
    assert_eq!(pinhole_flows(net.sw(2)), 2);
}

#[test]
fn elastic_ips_are_announced_again_when_their_switch_reconnects() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    let sw = net.disconnect(ConnId(1));
    // Associated while its switch is away: nowhere to announce it.
    net.change(|m| m.associate(eip(), &iid("i-a"), false));
    net.advance(Duration::from_secs(3));
    net.connect(ConnId(2), sw);
    net.advance(Duration::from_secs(3));
    let garps: Vec<_> = net
        .sw(2)
        .packet_outs()
        .iter()
        .filter_map(|po| ArpFrame::parse(&po.data).ok())
        .filter(|f| f.sender_ip == eip())
        .collect();
    assert_eq!(garps.len(), 6);
}

#[test]
fn arp_requests_for_the_gateway_are_answered() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let req = Packet::arp(
        netrules::packet::ARP_REQUEST,
        inst_mac(1),
        MacAddr::BROADCAST,
        inst_ip(1),
        Ipv4Addr::new(10, 0, 0, 1),
    );
    assert!(net.sw(1).packet_arrives(PortNo(2), &req));
    net.pump();
    let po = net.sw(1).packet_outs().to_vec();
    assert_eq!(po.len(), 1);
    assert_eq!(po[0].actions, vec![Action::output(PortNo(2))]);
    assert_eq!(po[0].in_port, PortNo::NONE);
    let reply = ArpFrame::parse(&po[0].data).unwrap();
    assert_eq!(reply.operation, Operation::Reply);
    assert_eq!(reply.sender_ip, Ipv4Addr::new(10, 0, 0, 1));
    assert_eq!(reply.sender_mac.0, test_settings().router_mac.0);
    assert_eq!(reply.target_ip, inst_ip(1));
    assert_eq!(reply.eth_dst.0, inst_mac(1).0);
    // And for another instance: its MAC.
    net.sw(1).clear_packet_outs();
    let req = Packet::arp(
        netrules::packet::ARP_REQUEST,
        inst_mac(1),
        MacAddr::BROADCAST,
        inst_ip(1),
        inst_ip(2),
    );
    net.sw(1).packet_arrives(PortNo(2), &req);
    net.pump();
    let reply = ArpFrame::parse(&net.sw(1).packet_outs()[0].data).unwrap();
    assert_eq!(reply.sender_mac.0, inst_mac(2).0);
}

/// The outcomes of the packet_ins `events` report, in order.
fn packet_in_outcomes(events: &[Event]) -> Vec<Outcome> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PacketIn { outcome, .. } => Some(outcome.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn arp_requests_with_a_forged_sender_hardware_address_are_dropped() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    // i-a asks for i-b with its own MAC and address, but i-b's MAC (then a made-up one) as
    // the sender hardware address: OpenFlow 1.0 cannot match that field, so the switch punts
    // the request; the controller drops it, unanswered.
    let honest = Packet::arp(
        netrules::packet::ARP_REQUEST,
        inst_mac(1),
        MacAddr::BROADCAST,
        inst_ip(1),
        inst_ip(2),
    );
    for sha in [inst_mac(2), MacAddr([2, 0, 0, 0, 9, 9])] {
        let forged = honest.with_arp_sha(sha);
        let frame = frame::synthesize(&forged);
        assert_eq!(frame::extract(&frame), Some(forged));
        assert!(net.sw(1).packet_arrives(PortNo(2), &forged));
        net.pump();
    }
    assert!(net.sw(1).packet_outs().is_empty());
    // Counted and reported like a spoofed IPv4 packet that reaches the controller.
    let mut spoofed_ip = ssh_a_to_b(40000);
    spoofed_ip.nw_src = inst_ip(3);
    net.sw(1).send_packet_in(PortNo(2), &spoofed_ip);
    net.pump();
    assert!(net.sw(1).packet_outs().is_empty());
    assert_eq!(net.ctl.counters().packet_ins, 3);
    assert_eq!(net.ctl.counters().packet_outs, 0);
    assert_eq!(
        packet_in_outcomes(&net.take_events()),
        vec![Outcome::Dropped(DropReason::Spoofed); 3]
    );
    assert!(net.ctl.pinholes().is_empty());
    // The honest request is answered, to i-a.
    assert!(net.sw(1).packet_arrives(PortNo(2), &honest));
    net.pump();
    let po = net.sw(1).packet_outs().to_vec();
    assert_eq!(po.len(), 1);
    let reply = ArpFrame::parse(&po[0].data).unwrap();
    assert_eq!(reply.sender_mac.0, inst_mac(2).0);
    assert_eq!(reply.eth_dst.0, inst_mac(1).0);
    assert!(matches!(
        packet_in_outcomes(&net.take_events()).as_slice(),
        [Outcome::Arp(_)]
    ));
}

#[test]
fn elastic_ip_association_is_announced_where_it_lands() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.take_events();
    net.change(|m| m.associate(eip(), &iid("i-a"), false));
    net.advance(Duration::from_secs(3));
    let garps: Vec<_> = net.sw(1).packet_outs().to_vec();
    assert_eq!(garps.len(), 6, "3 rounds, request and reply forms");
    for po in &garps {
        assert_eq!(po.actions, vec![Action::output(PortNo(UPLINK))]);
        let f = ArpFrame::parse(&po.data).unwrap();
        assert_eq!(f.sender_ip, eip());
        assert_eq!(f.sender_mac.0, test_settings().elastic_ip_mac.0);
    }
    assert!(net.sw(2).packet_outs().is_empty());
    // It moves to i-c on switch 2.
    net.change(|m| m.associate(eip(), &iid("i-c"), true));
    net.advance(Duration::from_secs(3));
    assert_eq!(net.sw(2).packet_outs().len(), 6);
    assert_eq!(net.sw(1).packet_outs().len(), 6);
    assert_consistent(&net, 1, 1);
    assert_consistent(&net, 2, 2);
    // The outside asks for it on switch 2's uplink: answered with the elastic-IP MAC.
    net.sw(2).clear_packet_outs();
    let who_has = Packet::arp(
        netrules::packet::ARP_REQUEST,
        test_settings().public_gateway_mac,
        MacAddr::BROADCAST,
        test_settings().public_gateway,
        eip(),
    );
    assert!(net.sw(2).packet_arrives(PortNo(UPLINK), &who_has));
    net.pump();
    let reply = ArpFrame::parse(&net.sw(2).packet_outs()[0].data).unwrap();
    assert_eq!(reply.sender_mac.0, test_settings().elastic_ip_mac.0);
}

#[test]
fn an_address_that_moves_back_is_no_longer_announced_from_where_it_left() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.change(|m| m.associate(eip(), &iid("i-a"), false));
    net.advance(Duration::from_secs(3));
    // To switch 2, and back to switch 1 within switch 2's announcement rounds.
    net.change(|m| m.associate(eip(), &iid("i-c"), true));
    net.advance(Duration::from_millis(300));
    assert_eq!(
        net.sw(2).packet_outs().len(),
        2,
        "the first round, both forms"
    );
    net.sw(1).clear_packet_outs();
    net.sw(2).clear_packet_outs();
    net.change(|m| m.associate(eip(), &iid("i-a"), true));
    net.advance(Duration::from_secs(3));
    // Switch 2's remaining rounds would send the outside segment back to switch 2, where
    // the address no longer is.
    assert!(
        net.sw(2).packet_outs().is_empty(),
        "{:?}",
        net.sw(2).packet_outs()
    );
    assert_eq!(net.sw(1).packet_outs().len(), 6);
}

#[test]
fn a_moved_address_is_announced_again_once_the_old_host_applied_the_move() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.connect(ConnId(2), switch(2));
    net.change(|m| m.associate(eip(), &iid("i-a"), false));
    net.advance(Duration::from_secs(3));
    net.sw(1).clear_packet_outs();
    net.sw(2).clear_packet_outs();
    // The move reaches switch 2 at once; switch 1 (the old host) is slow to apply it.
    let mut held = Vec::new();
    let deliver = |net: &mut Net, held: &mut Vec<bytes::Bytes>| {
        while let Some((conn, bytes)) = net.ctl.poll_transmit() {
            if conn == ConnId(1) {
                held.push(bytes);
            } else {
                net.sw(2).receive(&bytes);
            }
        }
        let out = net.sw(2).take_output();
        if !out.is_empty() {
            let now = net.now;
            net.ctl.handle_bytes(ConnId(2), &out, now);
        }
    };
    let token = net
        .ctl
        .change(net.now, |m| m.associate(eip(), &iid("i-c"), true))
        .unwrap();
    deliver(&mut net, &mut held);
    let now = net.now;
    net.ctl.handle_timeout(now);
    deliver(&mut net, &mut held);
    assert_eq!(net.sw(2).packet_outs().len(), 2, "announced at once");
    // 300 ms later the old host applies the move and acknowledges it.
    net.now += Duration::from_millis(300);
    let now = net.now;
    net.ctl.handle_timeout(now);
    deliver(&mut net, &mut held);
    assert_eq!(
        net.sw(2).packet_outs().len(),
        2,
        "the next round is 1 s away"
    );
    for bytes in std::mem::take(&mut held) {
        net.sw(1).receive(&bytes);
    }
    let out = net.sw(1).take_output();
    net.ctl.handle_bytes(ConnId(1), &out, now);
    let mut applied = false;
    while let Some(e) = net.ctl.poll_event() {
        applied |= matches!(&e, Event::Applied(a) if a.token == token && a.acknowledged == [1, 2]);
    }
    assert!(applied, "the move is acknowledged by both switches");
    net.ctl.handle_timeout(now);
    deliver(&mut net, &mut held);
    // Announced again from the new host as soon as the old one stopped sending as the
    // address; never from the old host.
    assert_eq!(net.sw(2).packet_outs().len(), 4);
    assert!(net.sw(1).packet_outs().is_empty());
}

// ---------------------------------------------------------------------------------------
// API change to flow consistency, at random
// ---------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Op {
    Authorize(u8, u16),
    Revoke(u8, u16),
    Join(u8, u8),
    Leave(u8, u8),
    Associate(u8),
    Disassociate,
    Detach(u8),
    PortBack(u8),
    Reconnect(u8),
    /// The switch is replaced by a fresh one (an empty table, the same ports).
    Fresh(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (
            0..2u8,
            prop_oneof![Just(22u16), Just(80), Just(443), 1000..1010u16]
        )
            .prop_map(|(g, p)| Op::Authorize(g, p)),
        (0..2u8, prop_oneof![Just(22u16), Just(80), Just(443)]).prop_map(|(g, p)| Op::Revoke(g, p)),
        (0..3u8, 0..2u8).prop_map(|(i, g)| Op::Join(i, g)),
        (0..3u8, 0..2u8).prop_map(|(i, g)| Op::Leave(i, g)),
        (0..3u8).prop_map(Op::Associate),
        Just(Op::Disassociate),
        (0..3u8).prop_map(Op::Detach),
        (0..3u8).prop_map(Op::PortBack),
        (0..2u8).prop_map(Op::Reconnect),
        (0..2u8).prop_map(Op::Fresh),
    ]
}

const NAMES: [&str; 3] = ["i-a", "i-b", "i-c"];
const GROUPS: [&str; 2] = ["sg-ssh", "sg-web"];
/// (switch, port) each instance's port is on.
const HOMES: [(Dpid, u16); 3] = [(1, 2), (1, 3), (2, 2)];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// After any sequence of API changes, port events and reconnections, and the outputs
    /// flushed, every switch's table equals the compiled table of the model.
    #[test]
    fn tables_follow_the_model(ops in proptest::collection::vec(op(), 1..12)) {
        let mut net = Net::new(base_model());
        net.connect(ConnId(1), switch(1));
        net.connect(ConnId(2), switch(2));
        let mut conn_of: BTreeMap<Dpid, ConnId> = [(1, ConnId(1)), (2, ConnId(2))].into();
        let mut next_conn = 3;
        for op in ops {
            match op {
                Op::Authorize(g, port) => {
                    let p = Permission::new(Protocol::Tcp(PortRange::single(port)), Peer::anywhere()).unwrap();
                    let _ = net.ctl.change(net.now, |m| m.authorize(&gid(GROUPS[usize::from(g)]), Direction::Ingress, p));
                }
                Op::Revoke(g, port) => {
                    let p = Permission::new(Protocol::Tcp(PortRange::single(port)), Peer::anywhere()).unwrap();
                    let _ = net.ctl.change(net.now, |m| m.revoke(&gid(GROUPS[usize::from(g)]), Direction::Ingress, &p));
                }
                Op::Join(i, g) => {
                    let _ = net.ctl.change(net.now, |m| m.join_group(&iid(NAMES[usize::from(i)]), &gid(GROUPS[usize::from(g)])));
                }
                Op::Leave(i, g) => {
                    let _ = net.ctl.change(net.now, |m| m.leave_group(&iid(NAMES[usize::from(i)]), &gid(GROUPS[usize::from(g)])));
                }
                Op::Associate(i) => {
                    let _ = net.ctl.change(net.now, |m| m.associate(eip(), &iid(NAMES[usize::from(i)]), true));
                }
                Op::Disassociate => {
                    let _ = net.ctl.change(net.now, |m| m.disassociate(eip()));
                }
                Op::Detach(i) => {
                    let (d, port) = HOMES[usize::from(i)];
                    if let Some(c) = conn_of.get(&d) {
                        if let Some(sw) = net.switches.get_mut(c) {
                            sw.port_status(PortReason::Delete, port, NAMES[usize::from(i)]);
                        }
                    }
                }
                Op::PortBack(i) => {
                    let (d, port) = HOMES[usize::from(i)];
                    if let Some(c) = conn_of.get(&d) {
                        if let Some(sw) = net.switches.get_mut(c) {
                            sw.port_status(PortReason::Add, port, NAMES[usize::from(i)]);
                        }
                    }
                }
                Op::Reconnect(s) => {
                    let d = Dpid::from(s) + 1;
                    let old = conn_of[&d];
                    let sw = net.disconnect(old);
                    // A change while it is away.
                    let _ = net.ctl.change(net.now, |m| m.authorize(&gid("sg-web"), Direction::Ingress, ssh()));
                    net.pump();
                    let c = ConnId(next_conn);
                    next_conn += 1;
                    net.connect(c, sw);
                    conn_of.insert(d, c);
                }
                Op::Fresh(s) => {
                    let d = Dpid::from(s) + 1;
                    let old = conn_of[&d];
                    let _ = net.disconnect(old);
                    let _ = net.ctl.change(net.now, |m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
                    net.pump();
                    let c = ConnId(next_conn);
                    next_conn += 1;
                    net.connect(c, switch(d));
                    conn_of.insert(d, c);
                    // Exactly the table, each flow once.
                    prop_assert_eq!(net.switches[&c].flow_mods_seen(), net.switches[&c].table().len());
                }
            }
            net.pump();
            for (d, c) in &conn_of {
                prop_assert!(net.ctl.is_ready(*d));
                let want = compiled(net.ctl.model(), *d);
                let have = installed(&net.switches[c]);
                prop_assert_eq!(have, want);
            }
        }
        prop_assert!(closes(&net.events).is_empty());
        prop_assert_eq!(net.ctl.counters().switch_errors, 0);
    }
}

/// A fresh switch is reconciled from the pre-encoded table, kept in step with changes made
/// while no switch was connected, with distinct xids, and gets exactly the compiled table.
#[test]
fn a_fresh_switch_gets_the_pre_encoded_table_kept_in_step_with_changes() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    assert_consistent(&net, 1, 1);
    let first = net.sw(1).flow_mods_seen();
    assert_eq!(first, net.sw(1).table().len());
    let _ = net.disconnect(ConnId(1));
    // Changes while away: a rule added, another removed, an instance gone from its port.
    net.change(|m| m.authorize(&gid("sg-ssh"), Direction::Ingress, web()));
    net.change(|m| m.revoke(&gid("sg-ssh"), Direction::Ingress, &ssh()));
    net.change(|m| m.attach(&iid("i-b"), None));
    net.take_events();
    // A fresh switch without i-b's port.
    let fresh = SimSwitch::new(1, &[(UPLINK, "hv1-up"), (2, "i-a")]);
    net.connect(ConnId(2), fresh);
    assert_consistent(&net, 2, 1);
    let (seen, len) = {
        let sw = &net.switches[&ConnId(2)];
        (sw.flow_mods_seen(), sw.table().len())
    };
    assert_eq!(seen, len);
    assert_ne!(len, first);
    assert_eq!(reconciled(&net.take_events()), vec![(1, len, 0, 0, 0)]);
    assert_eq!(net.ctl.compiled_flows(1).len(), len);
    // A switch that has part of the table is diffed, not refilled.
    let mut back = net.disconnect(ConnId(2));
    let some = back.table().entries()[0].clone();
    assert!(back.remove_flow(&some.r#match, some.priority));
    net.connect(ConnId(3), back);
    assert_consistent(&net, 3, 1);
    let r = reconciled(&net.take_events());
    assert_eq!(r.len(), 1);
    assert_eq!((r[0].1, r[0].2), (1, 0), "{r:?}");
}

/// The pre-encoded table follows adds, replacements and deletes as a switch would, keeps
/// the compiled order (new flows at the end), and closes up its holes.
#[test]
fn the_pre_encoded_table_follows_changes_in_order() {
    // 20 instances on switch 1: more than enough flows for the holes to be closed up.
    let model = crate::speed::startup::model(20).unwrap();
    let flows = compile(&model, &CompileOptions::default())
        .remove(&1)
        .unwrap();
    assert!(flows.len() > 100);
    let mut t = EncodedTable::build(&flows).unwrap();
    let decode = |t: &EncodedTable| -> Vec<FlowMod> {
        let mut out = BytesMut::new();
        let mut xid = 0;
        let n = t.write_to(&mut out, || {
            xid += 1;
            xid
        });
        let mut framer = Framer::new();
        framer.extend_from_slice(&out);
        let mut mods = Vec::new();
        let mut xids = Vec::new();
        while let Ok(Some(r)) = framer.next_message() {
            let (h, msg) = r.unwrap();
            xids.push(h.xid);
            if let Message::FlowMod(fm) = msg {
                mods.push(fm);
            }
        }
        assert_eq!(n, mods.len());
        assert_eq!(xids, (1..=n as u32).collect::<Vec<_>>());
        mods
    };
    let adds: Vec<FlowMod> = flows.iter().map(Flow::to_add).collect();
    assert_eq!(decode(&t), adds);
    // Replace the first flow's actions, delete all but the first two, add one more.
    let mut first = flows[0].to_add();
    first.actions = Vec::<Action>::new().into();
    assert!(t.apply(&first));
    for f in &flows[2..] {
        assert!(t.apply(&f.to_delete()));
    }
    let mut extra = flows[5].to_add();
    extra.priority = extra.priority.wrapping_add(1);
    assert!(t.apply(&extra));
    assert_eq!(t.len(), 3);
    assert_eq!(decode(&t), vec![first, flows[1].to_add(), extra.clone()]);
    // Deleting what is not there changes nothing; a command the compiler never sends is
    // refused (the table is then built again).
    assert!(t.apply(&flows[3].to_delete()));
    assert_eq!(t.len(), 3);
    let mut modify = extra;
    modify.command = openflow_proto::FlowModCommand::Modify;
    assert!(!t.apply(&modify));
}

/// The pre-encoded flow_mods of a reconciliation carry fresh, distinct xids in order.
#[test]
fn pre_encoded_flow_mods_get_fresh_xids() {
    let mut ctl = Controller::new(base_model(), Config::default());
    let mut sw = switch(1);
    let now = Instant::now();
    ctl.handle_connect(ConnId(1), now);
    let mut sent = Vec::new();
    let exchange = |ctl: &mut Controller, sw: &mut SimSwitch, sent: &mut Vec<u8>| {
        while let Some((_, b)) = ctl.poll_transmit() {
            sent.extend_from_slice(&b);
            sw.receive(&b);
        }
        let out = sw.take_output();
        ctl.handle_bytes(ConnId(1), &out, now);
        !out.is_empty()
    };
    ctl.handle_bytes(ConnId(1), &sw.hello(), now);
    while exchange(&mut ctl, &mut sw, &mut sent) {}
    assert!(ctl.is_ready(1));
    let mut framer = Framer::new();
    framer.extend_from_slice(&sent);
    let mut xids = Vec::new();
    let mut flow_mods = 0;
    while let Ok(Some(r)) = framer.next_message() {
        let (h, msg) = r.unwrap();
        xids.push(h.xid);
        flow_mods += usize::from(matches!(msg, Message::FlowMod(_)));
    }
    assert_eq!(flow_mods, sw.table().len());
    assert!(flow_mods > 10);
    assert!(xids.iter().all(|x| *x != 0));
    assert!(xids.windows(2).all(|w| w[0] < w[1]), "{xids:?}");
}

#[test]
fn a_failed_commit_leaves_the_model_and_the_switches_alone() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.take_events();
    let flows = net.sw(1).flow_mods_seen();
    let r: Result<Completion, String> = net.ctl.change_committed(
        net.now,
        |m| {
            m.authorize(&gid("sg-ssh"), Direction::Ingress, web())
                .map_err(|e| e.to_string())
        },
        |_, _| Err("disk full".to_owned()),
    );
    assert_eq!(r, Err("disk full".to_owned()));
    net.pump();
    assert_eq!(net.sw(1).flow_mods_seen(), flows);
    assert!(!net
        .ctl
        .model()
        .group(&gid("sg-ssh"))
        .unwrap()
        .ingress
        .contains(&web()));
    // A commit that succeeds sees both models and the change takes effect.
    let r: Result<Completion, String> = net.ctl.change_committed(
        net.now,
        |m| {
            m.authorize(&gid("sg-ssh"), Direction::Ingress, web())
                .map_err(|e| e.to_string())
        },
        |before, after| {
            assert!(!before
                .group(&gid("sg-ssh"))
                .unwrap()
                .ingress
                .contains(&web()));
            assert!(after
                .group(&gid("sg-ssh"))
                .unwrap()
                .ingress
                .contains(&web()));
            Ok(())
        },
    );
    assert!(r.is_ok());
    net.pump();
    assert_consistent(&net, 1, 1);
}

// ----- Flow reads on demand and pinned instances -----

fn flows_of(events: &[Event], token: FlowQuery) -> Option<Result<Vec<FlowStats>, FlowQueryError>> {
    events.iter().find_map(|e| match e {
        Event::Flows {
            token: t, result, ..
        } if *t == token => Some(result.clone()),
        _ => None,
    })
}

#[test]
fn flows_are_read_on_demand_in_several_parts() {
    let mut net = Net::new(base_model());
    let mut sw = switch(1);
    // Small parts: the reply comes in many messages and is reassembled.
    sw.set_stats_part_len(300);
    net.connect(ConnId(1), sw);
    assert!(net.ctl.is_ready(1));
    assert_eq!(net.ctl.request_flows(2), None, "switch 2 is not connected");
    let token = net.ctl.request_flows(1).unwrap();
    net.pump();
    let flows = flows_of(&net.take_events(), token).unwrap().unwrap();
    let table = net.sw(1).table().entries().len();
    assert!(table > 10, "the switch holds the compiled table");
    assert_eq!(flows.len(), table);
    // The same flows the compiler wants (ours, normalised), read back through the reply.
    let read: BTreeSet<String> = flows
        .iter()
        .filter(|f| is_ours(f.cookie))
        .map(|f| {
            format!(
                "{} {:?} {:?} {:#x} {} {}",
                f.priority, f.r#match, f.actions, f.cookie, f.idle_timeout, f.hard_timeout
            )
        })
        .collect();
    assert_eq!(read, installed(&net.switches[&ConnId(1)]));
    // A second read gets a fresh token; a reply answers only its own.
    let t2 = net.ctl.request_flows(1).unwrap();
    assert_ne!(t2, token);
    net.pump();
    let events = net.take_events();
    assert!(flows_of(&events, t2).unwrap().is_ok());
    assert!(flows_of(&events, token).is_none());
}

#[test]
fn a_flow_read_fails_when_the_switch_goes_away() {
    let mut net = Net::new(base_model());
    net.connect(ConnId(1), switch(1));
    net.sw(1).set_mute(true);
    let token = net.ctl.request_flows(1).unwrap();
    net.pump();
    assert!(
        flows_of(&net.take_events(), token).is_none(),
        "no reply yet"
    );
    net.disconnect(ConnId(1));
    assert_eq!(
        flows_of(&net.take_events(), token),
        Some(Err(FlowQueryError::Disconnected))
    );
}

#[test]
fn pinned_instances_keep_their_explicit_port() {
    // i-a is attached explicitly to port 5 of switch 1, whose name ("vnet0") is not its id.
    let mut model = base_model();
    let at = Attachment {
        switch: 1,
        port: PortNo(5),
    };
    model.attach(&iid("i-a"), Some(at)).unwrap();
    let ports = [(UPLINK, "hv1-up"), (3, "i-b"), (5, "vnet0")];
    // Unpinned, the switch's features reply detaches it (no port is named after it).
    let mut net = Net::new(model.clone());
    net.connect(ConnId(1), SimSwitch::new(1, &ports));
    assert_eq!(
        net.ctl.model().instance(&iid("i-a")).unwrap().attachment,
        None
    );
    // Pinned, it stays attached, its flows are installed, and i-b still binds by name.
    let mut net = Net::new(model);
    net.ctl.pin(iid("i-a"), true);
    assert!(net.ctl.pinned().contains(&iid("i-a")));
    net.connect(ConnId(1), SimSwitch::new(1, &ports));
    let m = net.ctl.model();
    assert_eq!(m.instance(&iid("i-a")).unwrap().attachment, Some(at));
    assert_eq!(
        m.instance(&iid("i-b")).unwrap().attachment.map(|a| a.port),
        Some(PortNo(3))
    );
    assert_consistent(&net, 1, 1);
    // Its port going away does not detach it either; reconnecting does not.
    net.sw(1).port_status(PortReason::Delete, 5, "vnet0");
    net.pump();
    assert_eq!(
        net.ctl.model().instance(&iid("i-a")).unwrap().attachment,
        Some(at)
    );
    let sw = net.disconnect(ConnId(1));
    net.connect(ConnId(2), sw);
    assert_eq!(
        net.ctl.model().instance(&iid("i-a")).unwrap().attachment,
        Some(at)
    );
    assert_consistent(&net, 2, 1);
    // Unpinned again, the next reconnect detaches it.
    net.ctl.pin(iid("i-a"), false);
    let sw = net.disconnect(ConnId(2));
    net.connect(ConnId(3), sw);
    assert_eq!(
        net.ctl.model().instance(&iid("i-a")).unwrap().attachment,
        None
    );
}

/// A burst of packet_ins in one read, with an unexpected message and a partial frame among
/// them, gets exactly the bytes it gets frame by frame, and an unexpected message's error
/// quotes its bytes as received (the core re-encodes the decoded message to quote it).
#[test]
fn a_burst_in_one_read_is_answered_as_frame_by_frame() {
    let ready = || {
        let mut net = Net::new(base_model());
        net.connect(ConnId(1), switch(1));
        net.take_events();
        while net.ctl.poll_transmit().is_some() {}
        net
    };
    let (mut one_read, mut by_frame) = (ready(), ready());
    // 40 new connections, one of them twice, then a
    // FEATURES_REQUEST (not a switch's message), then half of one more packet_in.
    for sport in (40000..40040).chain([40000]) {
        one_read.sw(1).send_packet_in(PortNo(2), &ssh_a_to_b(sport));
    }
    let mut blob = one_read.sw(1).take_output().to_vec();
    let unexpected = [1u8, 5, 0, 8, 0, 0, 0x12, 0x34];
    blob.extend_from_slice(&unexpected);
    one_read.sw(1).send_packet_in(PortNo(2), &ssh_a_to_b(50000));
    let last = one_read.sw(1).take_output();
    blob.extend_from_slice(&last[..last.len() / 2]);

    let now = one_read.now;
    one_read.ctl.handle_bytes(ConnId(1), &blob, now);
    let mut rest = blob.as_slice();
    while rest.len() >= 4 {
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len());
        by_frame.ctl.handle_bytes(ConnId(1), &rest[..len], now);
        rest = &rest[len..];
    }
    // Reads that end inside frames (frames completed in the framer's buffer, the rest read
    // in place): byte by byte, and 37 bytes at a time.
    let mut chunked: Vec<Net> = [1, 37]
        .into_iter()
        .map(|size| {
            let mut net = ready();
            for chunk in blob.chunks(size) {
                net.ctl.handle_bytes(ConnId(1), chunk, now);
            }
            net
        })
        .collect();
    let sent = |net: &mut Net| {
        let mut all = Vec::new();
        while let Some((conn, bytes)) = net.ctl.poll_transmit() {
            assert_eq!(conn, ConnId(1));
            all.extend_from_slice(&bytes);
        }
        all
    };
    let (a, b) = (sent(&mut one_read), sent(&mut by_frame));
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(one_read.ctl.pinholes().len(), 40);
    assert_eq!(by_frame.ctl.pinholes().len(), 40);
    for net in &mut chunked {
        assert_eq!(sent(net), a);
        assert_eq!(net.ctl.pinholes().len(), 40);
        // The half packet_in waits in the framer, and its other half completes it.
        net.ctl
            .handle_bytes(ConnId(1), &last[last.len() / 2..], now);
        assert_eq!(net.ctl.pinholes().len(), 41);
    }
    // The error quotes the unexpected message as it came.
    let mut sw = switch(1);
    sw.receive(&a);
    let errors = sw.errors_received();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].data.as_ref(), &unexpected[..]);
}
