//! Misbehaving switches against the tokio shell over loopback TCP: raw clients speaking
//! OpenFlow send messages of the wrong version, unknown types, bad lengths, nothing at all, or
//! a flood of packet_ins, next to a well-behaved simulated switch. Each case checks what the
//! misbehaving peer gets back (the OpenFlow error, an echo request, the connection closed)
//! and that the controller keeps serving the good switch (a change touching it is
//! acknowledged by it) and the API (`Handle::inspect` answers).
//!
//! Timeouts are short (about a second) so the file runs in seconds; every wait has a
//! generous deadline and nothing asserts how fast anything happened.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use examples::core::sim_switch::{test_settings, SimSwitch};
use examples::core::{Config, Controller};
use examples::shell::{self, Handle};
use netrules::model::{
    Direction, GroupId, Instance, InstanceId, Model, OwnerId, Peer as RulePeer, Permission,
    PortRange, Protocol, SecurityGroup, Switch,
};
use netrules::Packet;
use openflow_proto::error_msg::{BadRequestCode, ErrorType, HelloFailedCode};
use openflow_proto::framing::FrameResult;
use openflow_proto::stats::{StatsReply, StatsReplyBody, StatsReplyFlags};
use openflow_proto::{
    ErrorMsg, FlowMod, Framer, Header, MacAddr, Match, Message, PacketIn, PacketInReason, PortNo,
    NO_BUFFER,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The good switch.
const GOOD: u64 = 1;
/// A switch in the model whose two instances (ports 2 and 3) may talk SSH: its packet_ins
/// make pinholes and packet_outs.
const FLOODER: u64 = 3;
/// The longest any single wait may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

fn config() -> Config {
    Config {
        echo_idle: Duration::from_millis(500),
        echo_timeout: Duration::from_millis(1000),
        handshake_timeout: Duration::from_millis(1500),
        apply_timeout: Duration::from_secs(10),
        send_backlog_limit: 1 << 20,
        ..Config::default()
    }
}

fn mac(n: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 1, n])
}

fn ip(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 1, n)
}

fn ssh() -> Permission {
    Permission::new(Protocol::Tcp(PortRange::single(22)), RulePeer::anywhere()).unwrap()
}

/// Switches 1 (the good one) and 3 (the flooder); `i-1` (group `sg-a`) on the good switch,
/// `i-f1` and `i-f2` (group `sg-f`, SSH allowed in) on the flooder. Other datapath ids are not
/// in the model.
fn model() -> Model {
    let mut m = Model::new(test_settings()).unwrap();
    for dpid in [GOOD, FLOODER] {
        m.add_switch(Switch {
            dpid,
            uplink: PortNo(1),
        })
        .unwrap();
    }
    let owner = OwnerId::new("111122223333").unwrap();
    for g in ["sg-a", "sg-f"] {
        m.add_group(SecurityGroup::new(
            GroupId::new(g).unwrap(),
            g,
            owner.clone(),
            g,
        ))
        .unwrap();
    }
    m.authorize(&GroupId::new("sg-f").unwrap(), Direction::Ingress, ssh())
        .unwrap();
    for (n, name, group) in [
        (1u8, "i-1", "sg-a"),
        (11, "i-f1", "sg-f"),
        (12, "i-f2", "sg-f"),
    ] {
        m.add_instance(Instance {
            id: InstanceId::new(name).unwrap(),
            owner: owner.clone(),
            mac: mac(n),
            ip: ip(n),
            groups: [GroupId::new(group).unwrap()].into(),
            attachment: None,
        })
        .unwrap();
    }
    m
}

/// A controller with a well-behaved switch connected, reconciled and answering.
struct Bed {
    h: Handle,
    stop: watch::Sender<bool>,
    good: tokio::task::JoinHandle<()>,
}

impl Bed {
    async fn start() -> Bed {
        Bed::with_config(config()).await
    }

    async fn with_config(config: Config) -> Bed {
        let h = shell::spawn(
            Controller::new(model(), config),
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
        )
        .await
        .unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let stream = TcpStream::connect(h.local_addrs()[0]).await.unwrap();
        let good = tokio::spawn(drive(
            stream,
            SimSwitch::new(GOOD, &[(1, "hv1-up"), (2, "i-1")]),
            stop_rx,
        ));
        let bed = Bed { h, stop, good };
        bed.until("the good switch ready", |c| c.is_ready(GOOD))
            .await;
        bed
    }

    fn addr(&self) -> SocketAddr {
        self.h.local_addrs()[0]
    }

    async fn until(&self, what: &str, f: impl Fn(&Controller) -> bool + Send + Clone + 'static) {
        let start = Instant::now();
        while start.elapsed() < DEADLINE {
            let f = f.clone();
            if self.h.inspect(move |c| f(c)).await.unwrap() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    /// The controller still serves the good switch and the API: a change that touches the
    /// good switch (a new port opened to `sg-a`) is acknowledged by it, and `inspect`
    /// answers. Returns how long the change took.
    async fn assert_served(&self) -> Duration {
        static PORT: AtomicU16 = AtomicU16::new(1000);
        let port = PORT.fetch_add(1, Ordering::Relaxed);
        let p =
            Permission::new(Protocol::Tcp(PortRange::single(port)), RulePeer::anywhere()).unwrap();
        let sg = GroupId::new("sg-a").unwrap();
        let start = Instant::now();
        let applied = tokio::time::timeout(
            DEADLINE,
            self.h
                .change(move |m| m.authorize(&sg, Direction::Ingress, p)),
        )
        .await
        .expect("a change completes while a peer misbehaves")
        .unwrap();
        let took = start.elapsed();
        assert_eq!(applied.acknowledged, vec![GOOD], "{applied:?}");
        assert!(applied.is_complete(), "{applied:?}");
        let ready = tokio::time::timeout(DEADLINE, self.h.inspect(|c| c.is_ready(GOOD)))
            .await
            .expect("inspect answers while a peer misbehaves")
            .unwrap();
        assert!(ready);
        took
    }

    async fn finish(self) {
        self.stop.send(true).unwrap();
        self.good.await.unwrap();
    }
}

/// Run a simulated switch over `stream` until `stop` says so: read, feed, write back.
async fn drive(mut stream: TcpStream, mut sw: SimSwitch, mut stop: watch::Receiver<bool>) {
    let hello = sw.hello();
    stream.write_all(&hello).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            n = stream.read(&mut buf) => {
                let n = n.expect("the good switch's connection stays up");
                assert!(n > 0, "the controller closed the good switch's connection");
                sw.receive(&buf[..n]);
                let out = sw.take_output();
                if !out.is_empty() {
                    stream.write_all(&out).await.unwrap();
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// A raw OpenFlow peer.
struct RawPeer {
    s: TcpStream,
    framer: Framer,
}

impl RawPeer {
    async fn connect(addr: SocketAddr) -> RawPeer {
        RawPeer {
            s: TcpStream::connect(addr).await.unwrap(),
            framer: Framer::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.unwrap();
    }

    async fn send_msg(&mut self, xid: u32, msg: &Message) {
        let bytes = msg.to_bytes(xid).unwrap();
        self.send(&bytes).await;
    }

    /// The next message from the controller, or `None` once it closed the connection.
    async fn next(&mut self) -> Option<FrameResult> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(m) = self.framer.next_message().unwrap() {
                return Some(m);
            }
            let n = tokio::time::timeout(DEADLINE, self.s.read(&mut buf))
                .await
                .expect("the controller says something or closes")
                .unwrap_or(0); // a reset is a close
            if n == 0 {
                return None;
            }
            self.framer.extend_from_slice(&buf[..n]);
        }
    }

    /// Skip messages until one is of this type; fails if the connection closes first.
    async fn expect(&mut self, name: &str) -> (Header, Message) {
        loop {
            match self.next().await {
                Some(Ok((h, m))) if m.msg_type().name() == name => return (h, m),
                Some(_) => {}
                None => panic!("connection closed while waiting for {name}"),
            }
        }
    }

    /// The next message must be this error, with this xid and data.
    async fn expect_error(&mut self, xid: u32, error: ErrorType, data: &[u8]) {
        let (h, m) = self.expect("OFPT_ERROR").await;
        assert_eq!(h.xid, xid);
        assert_eq!(
            m,
            Message::Error(ErrorMsg {
                error,
                data: Bytes::copy_from_slice(data)
            })
        );
    }

    /// Read until the controller closes the connection; the types of what came before.
    async fn until_closed(&mut self) -> Vec<String> {
        let mut seen = Vec::new();
        while let Some(m) = self.next().await {
            seen.push(match m {
                Ok((_, m)) => m.msg_type().name().to_owned(),
                Err(e) => format!("undecodable: {e}"),
            });
        }
        seen
    }

    /// Complete the handshake and reconciliation as the simulated switch `sw` would,
    /// until the controller says the datapath is ready. Later messages are left to the
    /// caller.
    async fn handshake(&mut self, bed: &Bed, dpid: u64, mut sw: SimSwitch) {
        let hello = sw.hello();
        self.send(&hello).await;
        let start = Instant::now();
        let mut buf = vec![0u8; 65536];
        loop {
            assert!(start.elapsed() < DEADLINE, "handshake of {dpid} timed out");
            if bed.h.inspect(move |c| c.is_ready(dpid)).await.unwrap() {
                return;
            }
            if let Ok(n) =
                tokio::time::timeout(Duration::from_millis(20), self.s.read(&mut buf)).await
            {
                let n = n.unwrap();
                assert!(n > 0, "closed during the handshake");
                sw.receive(&buf[..n]);
                let out = sw.take_output();
                self.send(&out).await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Versions
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_versions_before_and_after_hello() {
    let bed = Bed::start().await;

    // Before HELLO, an echo request of version 4: HELLO_FAILED/EPERM with its xid, closed.
    let mut early = RawPeer::connect(bed.addr()).await;
    let mut v4 = Message::EchoRequest(Bytes::new())
        .to_bytes(7)
        .unwrap()
        .to_vec();
    v4[0] = 4;
    early.send(&v4).await;
    early.expect("OFPT_HELLO").await;
    let (h, m) = early.expect("OFPT_ERROR").await;
    assert_eq!(h.xid, 7);
    assert!(
        matches!(&m, Message::Error(e) if e.error == ErrorType::HelloFailed(HelloFailedCode::Eperm)),
        "{m:?}"
    );
    assert_eq!(early.until_closed().await, Vec::<String>::new());

    // A HELLO of version 0: nothing in common, HELLO_FAILED/INCOMPATIBLE, closed.
    let mut v0 = RawPeer::connect(bed.addr()).await;
    let mut hello = Message::Hello(Bytes::new()).to_bytes(8).unwrap().to_vec();
    hello[0] = 0;
    v0.send(&hello).await;
    v0.expect("OFPT_HELLO").await;
    let (h, m) = v0.expect("OFPT_ERROR").await;
    assert_eq!(h.xid, 8);
    assert!(
        matches!(&m, Message::Error(e) if e.error == ErrorType::HelloFailed(HelloFailedCode::Incompatible)),
        "{m:?}"
    );
    assert_eq!(v0.until_closed().await, Vec::<String>::new());

    // After the handshake, a message of version 4: BAD_REQUEST/BAD_VERSION carrying it; the
    // session goes on (an echo request is answered).
    let mut late = RawPeer::connect(bed.addr()).await;
    late.handshake(&bed, 2, SimSwitch::new(2, &[(1, "up")]))
        .await;
    let mut v4 = Message::EchoRequest(Bytes::from_static(b"four"))
        .to_bytes(9)
        .unwrap()
        .to_vec();
    v4[0] = 4;
    late.send(&v4).await;
    late.expect_error(9, ErrorType::BadRequest(BadRequestCode::BadVersion), &v4)
        .await;
    late.send_msg(10, &Message::EchoRequest(Bytes::from_static(b"one")))
        .await;
    let (h, m) = late.expect("OFPT_ECHO_REPLY").await;
    assert_eq!(
        (h.xid, m),
        (10, Message::EchoReply(Bytes::from_static(b"one")))
    );
    assert!(bed.h.inspect(|c| c.is_ready(2)).await.unwrap());

    bed.assert_served().await;
    bed.finish().await;
}

// ---------------------------------------------------------------------------------------
// Types and lengths
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_unexpected_types_get_bad_type() {
    let bed = Bed::start().await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, 2, SimSwitch::new(2, &[(1, "up")]))
        .await;

    // Type 0xee with a 4-byte body: BAD_REQUEST/BAD_TYPE carrying the whole message.
    let unknown = [1u8, 0xee, 0, 12, 0, 0, 0, 42, 0xde, 0xad, 0xbe, 0xef];
    peer.send(&unknown).await;
    peer.expect_error(42, ErrorType::BadRequest(BadRequestCode::BadType), &unknown)
        .await;
    // A flow_mod (a controller's message) from the switch: BAD_TYPE with its first 64 bytes.
    let fm = Message::FlowMod(FlowMod::add(Match::any(), 1, vec![]))
        .to_bytes(43)
        .unwrap();
    peer.send(&fm).await;
    peer.expect_error(
        43,
        ErrorType::BadRequest(BadRequestCode::BadType),
        &fm[..64],
    )
    .await;
    // Parts of multi-part stats replies nobody asked for: dropped without an answer (and
    // not held).
    for xid in 900..910 {
        let part = Message::StatsReply(StatsReply {
            flags: StatsReplyFlags::MORE,
            body: StatsReplyBody::Flow(Vec::new()),
        });
        peer.send_msg(xid, &part).await;
    }
    // All answered (no error before the echo reply), the session goes on.
    peer.send_msg(44, &Message::EchoRequest(Bytes::new())).await;
    loop {
        match peer.next().await {
            Some(Ok((h, Message::EchoReply(_)))) => {
                assert_eq!(h.xid, 44);
                break;
            }
            Some(Ok((_, Message::Error(e)))) => panic!("unexpected error {e:?}"),
            Some(_) => {}
            None => panic!("closed"),
        }
    }
    assert!(bed.h.inspect(|c| c.is_ready(2)).await.unwrap());
    let counters = bed.h.inspect(|c| c.counters()).await.unwrap();
    assert_eq!((counters.malformed, counters.unsolicited), (1, 10));

    bed.assert_served().await;
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_of_the_wrong_length_get_bad_len() {
    let bed = Bed::start().await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, 2, SimSwitch::new(2, &[(1, "up")]))
        .await;

    // A barrier reply with a body (it has none).
    let barrier = [1u8, 19, 0, 12, 0, 0, 0, 50, 1, 2, 3, 4];
    peer.send(&barrier).await;
    peer.expect_error(50, ErrorType::BadRequest(BadRequestCode::BadLen), &barrier)
        .await;
    // A port status cut short (16 bytes where 64 are due).
    let mut port_status = vec![1u8, 12, 0, 16, 0, 0, 0, 51];
    port_status.extend_from_slice(&[0; 8]);
    peer.send(&port_status).await;
    peer.expect_error(
        51,
        ErrorType::BadRequest(BadRequestCode::BadLen),
        &port_status,
    )
    .await;
    // A packet_in shorter than its fixed part.
    let packet_in = [1u8, 10, 0, 12, 0, 0, 0, 52, 0xff, 0xff, 0xff, 0xff];
    peer.send(&packet_in).await;
    peer.expect_error(
        52,
        ErrorType::BadRequest(BadRequestCode::BadLen),
        &packet_in,
    )
    .await;
    peer.send_msg(53, &Message::EchoRequest(Bytes::new())).await;
    assert_eq!(peer.expect("OFPT_ECHO_REPLY").await.0.xid, 53);
    assert!(bed.h.inspect(|c| c.is_ready(2)).await.unwrap());

    bed.assert_served().await;
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_length_below_8_closes_the_stream() {
    let bed = Bed::start().await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, 2, SimSwitch::new(2, &[(1, "up")]))
        .await;
    // Length 4: nothing after it can be framed. BAD_REQUEST/BAD_LEN with the bytes from the
    // bad header on, then the connection is closed.
    let bad = [1u8, 2, 0, 4, 0, 0, 0, 60, 1, 2];
    peer.send(&bad).await;
    peer.expect_error(60, ErrorType::BadRequest(BadRequestCode::BadLen), &bad)
        .await;
    // (The reconciliation's trailing messages may still be in flight before the close.)
    let rest = peer.until_closed().await;
    assert!(
        !rest.iter().any(|m| m.starts_with("undecodable")),
        "{rest:?}"
    );
    bed.until("the out-of-sync switch gone", |c| {
        !c.switches().contains_key(&2)
    })
    .await;

    bed.assert_served().await;
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_longer_than_what_was_sent_waits_then_times_out() {
    let bed = Bed::start().await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, 2, SimSwitch::new(2, &[(1, "up")]))
        .await;
    // A header promising 1000 bytes, and 100 of them. The controller waits for the rest
    // (anything sent now would be taken as part of it), probes with an echo request, and
    // closes after the echo timeout.
    let mut partial = vec![1u8, 2, 0x03, 0xe8, 0, 0, 0, 70];
    partial.resize(100, 0xab);
    peer.send(&partial).await;
    // Meanwhile the controller serves the good switch.
    bed.assert_served().await;
    let seen = peer.until_closed().await;
    assert!(seen.iter().any(|m| m == "OFPT_ECHO_REQUEST"), "{seen:?}");
    assert!(!seen.iter().any(|m| m == "OFPT_ERROR"), "{seen:?}");
    bed.until("the stalled switch gone", |c| {
        !c.switches().contains_key(&2)
    })
    .await;

    bed.assert_served().await;
    bed.finish().await;
}

// ---------------------------------------------------------------------------------------
// Silence
// ---------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_peers_are_closed() {
    let bed = Bed::start().await;

    // Connects and never says anything: HELLO, then closed after the handshake timeout.
    let mut mute = RawPeer::connect(bed.addr()).await;
    // Completes the handshake, then never answers: an echo request, then closed.
    let mut deaf = RawPeer::connect(bed.addr()).await;
    deaf.handshake(&bed, 4, SimSwitch::new(4, &[(1, "up")]))
        .await;
    // While both are silent, the controller serves the good switch.
    bed.assert_served().await;

    let seen = mute.until_closed().await;
    assert_eq!(
        seen.first().map(String::as_str),
        Some("OFPT_HELLO"),
        "{seen:?}"
    );
    assert!(
        !seen.iter().any(|m| m == "OFPT_FEATURES_REQUEST"),
        "{seen:?}"
    );
    let seen = deaf.until_closed().await;
    assert!(seen.iter().any(|m| m == "OFPT_ECHO_REQUEST"), "{seen:?}");
    bed.until("the deaf switch gone", |c| !c.switches().contains_key(&4))
        .await;

    bed.assert_served().await;
    bed.finish().await;
}

// ---------------------------------------------------------------------------------------
// Floods
// ---------------------------------------------------------------------------------------

const FLOOD: usize = 100_000;

/// `FLOOD` packet_ins of an SSH packet from `i-f1` (port 2) to `i-f2` (port 3) on the
/// flooder, padded to 400 bytes: each is answered with a packet_out of the same size.
fn flood_bytes() -> Vec<u8> {
    let syn = Packet::ipv4(mac(11), mac(12), ip(11), ip(12), 6, 40000, 22);
    let mut frame = examples::core::frame::synthesize(&syn);
    frame.resize(400, 0);
    let pi = Message::PacketIn(PacketIn {
        buffer_id: NO_BUFFER,
        total_len: 400,
        in_port: PortNo(2),
        reason: PacketInReason::Action,
        data: Bytes::from(frame),
    })
    .to_bytes(0)
    .unwrap();
    pi.repeat(FLOOD)
}

fn flooder() -> SimSwitch {
    SimSwitch::new(FLOODER, &[(1, "hv3-up"), (2, "i-f1"), (3, "i-f2")])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_a_peer_that_does_not_read_is_cut_off() {
    let bed = Bed::start().await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, FLOODER, flooder()).await;
    let flood = flood_bytes();
    let total = flood.len();
    // Write as fast as possible, never read: the packet_outs pile up in the controller until
    // the send backlog limit (1 MiB here) closes the connection, and the writes fail.
    let (_rd, mut wr) = peer.s.into_split();
    let writer = tokio::spawn(async move {
        let mut sent = 0;
        for chunk in flood.chunks(64 * 1024) {
            if wr.write_all(chunk).await.is_err() {
                return sent;
            }
            sent += chunk.len();
        }
        sent
    });
    // While it floods, the good switch is served.
    let took = bed.assert_served().await;
    eprintln!("a change during the unread flood took {took:?}");
    bed.until("the flooder cut off", |c| {
        !c.switches().contains_key(&FLOODER)
    })
    .await;
    let sent = tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the flooder's writes end")
        .unwrap();
    assert!(sent < total, "the whole flood ({total} bytes) was taken");
    let handled = bed.h.inspect(|c| c.counters().packet_ins).await.unwrap();
    eprintln!("{handled} packet_ins handled before the cut, {sent} of {total} bytes sent");
    assert!(handled > 0);

    bed.assert_served().await;
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_from_a_peer_that_reads_is_handled_while_others_are_served() {
    // The default send backlog limit (16 MiB): a peer that reads about as fast as it sends
    // stays well below it.
    let bed = Bed::with_config(Config {
        send_backlog_limit: Config::default().send_backlog_limit,
        ..config()
    })
    .await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, FLOODER, flooder()).await;
    let flood = flood_bytes();
    let (mut rd, mut wr) = peer.s.into_split();
    // Read and count the packet_outs by their headers alone (a full decode would make this
    // debug-built reader the bottleneck); nothing is answered: the flood itself keeps the
    // connection alive.
    let reader = tokio::spawn(async move {
        let mut pending: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut packet_outs = 0usize;
        while packet_outs < FLOOD {
            let n = rd.read(&mut buf).await.unwrap();
            assert!(n > 0, "the controller closed a flooder that reads");
            pending.extend_from_slice(&buf[..n]);
            let mut at = 0;
            while let Some(h) = pending.get(at..at + 8) {
                let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
                assert!(len >= 8, "out of sync");
                if pending.len() < at + len {
                    break;
                }
                if h[1] == 13 {
                    packet_outs += 1;
                }
                at += len;
            }
            pending.drain(..at);
        }
        packet_outs
    });
    let writer = tokio::spawn(async move {
        wr.write_all(&flood).await.unwrap();
        wr
    });
    // While the flood goes on, changes to the good switch complete.
    let mut worst = Duration::ZERO;
    for _ in 0..3 {
        worst = worst.max(bed.assert_served().await);
    }
    eprintln!("slowest change during the read flood: {worst:?}");
    let outs = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("every packet_in answered")
        .unwrap();
    assert_eq!(outs, FLOOD);
    let _wr = writer.await.unwrap();
    assert_eq!(
        bed.h.inspect(|c| c.counters().packet_ins).await.unwrap(),
        FLOOD as u64
    );
    assert!(bed.h.inspect(|c| c.is_ready(FLOODER)).await.unwrap());

    bed.assert_served().await;
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_new_connections_is_tracked_only_up_to_the_bound() {
    // Each new connection goes on; past the bound the oldest ones are forgotten.
    const CONNECTIONS: u16 = 20_000;
    const BOUND: usize = 1000;
    let bed = Bed::with_config(Config {
        max_tracked_per_switch: BOUND,
        send_backlog_limit: Config::default().send_backlog_limit,
        ..config()
    })
    .await;
    let mut peer = RawPeer::connect(bed.addr()).await;
    peer.handshake(&bed, FLOODER, flooder()).await;
    // SSH from i-f1 to i-f2 from ever new source ports, each a new connection to track.
    let mut flood = Vec::new();
    for sport in 1..=CONNECTIONS {
        let syn = Packet::ipv4(mac(11), mac(12), ip(11), ip(12), 6, sport, 22);
        let frame = examples::core::frame::synthesize(&syn);
        let pi = PacketIn {
            buffer_id: NO_BUFFER,
            total_len: u16::try_from(frame.len()).unwrap(),
            in_port: PortNo(2),
            reason: PacketInReason::Action,
            data: Bytes::from(frame),
        };
        flood.extend_from_slice(&Message::PacketIn(pi).to_bytes(0).unwrap());
    }
    let (mut rd, mut wr) = peer.s.into_split();
    // Take whatever comes (pinholes and packet_outs) so that nothing backs up.
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 256 * 1024];
        while rd.read(&mut buf).await.is_ok_and(|n| n > 0) {}
    });
    wr.write_all(&flood).await.unwrap();
    let took = bed.assert_served().await;
    eprintln!("a change during the new-connection flood took {took:?}");
    bed.until("every packet_in handled", |c| {
        c.counters().packet_ins >= u64::from(CONNECTIONS)
    })
    .await;
    let (tracked, evicted, packet_outs) = bed
        .h
        .inspect(|c| {
            let n = c.counters();
            (c.pinholes().len(), n.tracking_evicted, n.packet_outs)
        })
        .await
        .unwrap();
    assert_eq!(tracked, BOUND);
    assert_eq!(evicted, u64::from(CONNECTIONS) - BOUND as u64);
    assert_eq!(packet_outs, u64::from(CONNECTIONS));
    // The survivors are the newest.
    let oldest = bed
        .h
        .inspect(|c| {
            c.pinholes()
                .connections()
                .keys()
                .map(|k| k.opening.src_port)
                .min()
        })
        .await
        .unwrap();
    assert_eq!(oldest, Some(CONNECTIONS - BOUND as u16 + 1));
    assert!(bed.h.inspect(|c| c.is_ready(FLOODER)).await.unwrap());

    bed.assert_served().await;
    drop(wr);
    drain.abort();
    bed.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_larger_than_the_backlog_limit_is_taken_at_the_switch_pace() {
    // A send backlog limit below the good switch's table (but above the handshake's few
    // messages): what the controller sends on its own (the reconciliation, a change) is
    // allowed on top of it, so the switch is reconciled and served, not closed.
    const LIMIT: usize = 256;
    let bed = Bed::with_config(Config {
        send_backlog_limit: LIMIT,
        ..config()
    })
    .await;
    let flow_mods = bed.h.inspect(|c| c.counters().flow_mods).await.unwrap();
    // A flow_mod is at least 72 bytes.
    assert!(flow_mods * 72 > LIMIT as u64, "{flow_mods} flow_mods");
    bed.assert_served().await;
    bed.assert_served().await;
    assert!(bed.h.inspect(|c| c.is_ready(GOOD)).await.unwrap());
    bed.finish().await;
}
