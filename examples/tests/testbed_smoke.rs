//! The end-to-end test bed, proven with real Open vSwitch and real traffic: the seed's topology
//! forwards with static OpenFlow 1.0 flows and forwards nothing without them; the controller
//! relay carries a real switch connection; everything is cleaned up, also after a panic.
//!
//! Needs root, iproute2, ethtool, iputils-ping and Open vSwitch (`scripts/test.sh` installs them):
//! these tests fail, naming what is missing, when a prerequisite is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use examples::testbed::{
    cleanup_stale, process, BridgeSpec, Cloud, Exchange, InstanceSpec, MacAddr, Netns, OutsideSpec,
    Ovs, Protocol,
};

const A: &str = "i-0a1b2c3d";
const B: &str = "i-0b1c2d3e";
const SHORT: Duration = Duration::from_millis(700);
const LONG: Duration = Duration::from_secs(5);

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

fn seed_cloud() -> Cloud {
    let outside = OutsideSpec {
        // The public address, and one on the instances' segment so that plain L2 flows reach it.
        addresses: vec![
            "203.0.113.10/24".parse().unwrap(),
            "10.0.0.100/24".parse().unwrap(),
        ],
        gateway: None,
        mac: Some("02:00:00:00:00:64".parse().unwrap()),
    };
    let mut cloud = Cloud::seed().outside(outside).start().unwrap();
    let mac_a: MacAddr = "02:00:0a:00:00:02".parse().unwrap();
    cloud
        .add_instance(
            "hv1",
            InstanceSpec::new(A, "10.0.0.2/24".parse().unwrap())
                .mac(mac_a)
                .gateway(ip("10.0.0.1"))
                .ofport(10),
        )
        .unwrap();
    cloud
        .add_instance(
            "hv2",
            InstanceSpec::new(B, "10.0.0.3/24".parse().unwrap()).ofport(10),
        )
        .unwrap();
    cloud
}

/// Nothing passes: ping between the instances and to the outside host, and TCP between the
/// instances (checked at the same time, to keep the test short).
fn assert_blocked(cloud: &Cloud, port: u16) {
    let a = cloud.instance(A).unwrap().netns();
    let b = cloud.instance(B).unwrap().netns();
    let listener = b.listen(Protocol::Tcp, port).unwrap();
    thread::scope(|scope| {
        let pings = [
            scope.spawn(|| a.ping(ip("10.0.0.3"), 1, SHORT).unwrap()),
            scope.spawn(|| b.ping(ip("10.0.0.100"), 1, SHORT).unwrap()),
        ];
        let outcome = a
            .tcp_exchange(SocketAddr::from(([10, 0, 0, 3], port)), b"blocked?", SHORT)
            .unwrap();
        assert!(
            matches!(outcome, Exchange::TimedOut | Exchange::Unreachable),
            "{outcome:?}"
        );
        for ping in pings {
            let ping = ping.join().unwrap();
            assert!(ping.none_received(), "{ping:?}");
        }
    });
    assert!(listener.arrivals().is_empty(), "{:?}", listener.arrivals());
}

#[test]
fn seed_cloud_forwards_with_static_flows_and_nothing_without_them() {
    let cloud = seed_cloud();
    let ovs = cloud.ovs();
    let a = cloud.instance(A).unwrap();
    let b = cloud.instance(B).unwrap();
    assert_eq!((a.ofport(), b.ofport()), (10, 10));
    assert_eq!(a.mac().to_string(), "02:00:0a:00:00:02");
    assert_eq!(a.netns().mac("eth0").unwrap(), a.mac());
    assert_eq!(ovs.ofport("hv1-up").unwrap(), 1);
    assert!(ovs
        .ofctl("show", "hv1", &[])
        .unwrap()
        .contains("dpid:0000000000000001"));
    assert!(ovs
        .ofctl("show", "hv2", &[])
        .unwrap()
        .contains(&format!("10({B})")));

    // fail_mode=secure with an empty table: nothing passes.
    assert!(ovs.dump_flows("hv1").unwrap().is_empty());
    assert_blocked(&cloud, 8080);

    // hv1 as a learning switch; hv2 with explicit OpenFlow 1.0 output flows.
    ovs.add_flow("hv1", "priority=10,actions=NORMAL").unwrap();
    ovs.add_flows(
        "hv2",
        &[
            "cookie=0x2a,priority=100,in_port=10,actions=output:1",
            "cookie=0x2a,priority=100,in_port=1,actions=output:10",
        ],
    )
    .unwrap();
    let hv2 = ovs.dump_flows("hv2").unwrap();
    assert_eq!(hv2.len(), 2, "{hv2:?}");
    assert!(hv2.iter().all(|f| f.cookie == 0x2a && f.priority == 100));
    assert!(hv2
        .iter()
        .any(|f| f.match_fields == "in_port=10" && f.actions == "output:1"));
    assert_eq!(
        ovs.dump_flows_matching("hv2", "cookie=0x2a/-1").unwrap(),
        hv2
    );
    assert!(ovs
        .dump_flows_matching("hv2", "cookie=0x2b/-1")
        .unwrap()
        .is_empty());

    // Ping across both bridges and the outside segment, and to the outside host.
    assert!(a
        .netns()
        .ping(ip("10.0.0.3"), 2, LONG)
        .unwrap()
        .all_received());
    assert!(a
        .netns()
        .ping(ip("10.0.0.100"), 1, LONG)
        .unwrap()
        .all_received());
    assert!(b
        .netns()
        .ping(ip("10.0.0.100"), 1, LONG)
        .unwrap()
        .all_received());

    // TCP between the instances across the bridges: the listener sees A's address and data.
    let on_b = b.netns().listen(Protocol::Tcp, 8080).unwrap();
    let outcome = a
        .netns()
        .tcp_exchange("10.0.0.3:8080".parse().unwrap(), b"hello b", LONG)
        .unwrap();
    let Exchange::Answered { local, reply } = outcome else {
        panic!("TCP A->B did not connect: {outcome:?}");
    };
    assert_eq!(reply, b"hello b");
    assert_eq!(local.ip(), ip("10.0.0.2"));
    let arrival = on_b.wait_for(LONG, |a| a.data == b"hello b").unwrap();
    assert_eq!(arrival.peer, local);
    assert_eq!(
        arrival.local,
        "10.0.0.3:8080".parse::<SocketAddr>().unwrap()
    );

    // TCP from the outside host to instance B (through hv2's explicit flows), and UDP back out.
    let on_b22 = b.netns().listen(Protocol::Tcp, 22).unwrap();
    let outcome = cloud
        .outside_host()
        .tcp_exchange("10.0.0.3:22".parse().unwrap(), b"ssh?", LONG)
        .unwrap();
    assert!(outcome.is_answered(), "{outcome:?}");
    let arrival = on_b22.wait_for(LONG, |a| a.data == b"ssh?").unwrap();
    assert_eq!(arrival.peer.ip(), ip("10.0.0.100"));
    let on_outside = cloud.outside_host().listen(Protocol::Udp, 5353).unwrap();
    let outcome = b
        .netns()
        .udp_exchange("10.0.0.100:5353".parse().unwrap(), b"dgram", LONG)
        .unwrap();
    assert_eq!(
        outcome,
        Exchange::Answered {
            local: outcome_local(&outcome),
            reply: b"dgram".to_vec()
        }
    );
    let arrival = on_outside.wait_for(LONG, |a| a.data == b"dgram").unwrap();
    assert_eq!(arrival.peer.ip(), ip("10.0.0.3"));
    // A steady numbered stream from A (on hv1) to the outside host: every datagram arrives.
    on_outside.take_arrivals();
    let stream = a
        .netns()
        .udp_stream(
            "10.0.0.100:5353".parse().unwrap(),
            Duration::from_millis(1),
            100,
        )
        .unwrap();
    let output = stream.wait(LONG).unwrap().into_success().unwrap();
    assert_eq!(output.stdout.trim(), "done\t100");
    let arrivals = on_outside.wait_for_count(100, LONG);
    let mut sequences: Vec<u64> = arrivals.iter().filter_map(|a| a.sequence()).collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (0..100).collect::<Vec<u64>>());
    assert!(arrivals.iter().all(|a| a.peer.ip() == ip("10.0.0.2")));

    // A numbered stream over one TCP connection from the outside host to B.
    let records = b.netns().listen(Protocol::TcpRecords, 9000).unwrap();
    let stream = cloud
        .outside_host()
        .tcp_stream(
            "10.0.0.3:9000".parse().unwrap(),
            Duration::from_millis(1),
            50,
        )
        .unwrap();
    let output = stream.wait(LONG).unwrap().into_success().unwrap();
    assert_eq!(output.stdout.trim(), "done\t50");
    let arrivals = records.wait_for_count(50, LONG);
    let sequences: Vec<u64> = arrivals.iter().filter_map(|a| a.sequence()).collect();
    assert_eq!(sequences, (0..50).collect::<Vec<u64>>());
    assert!(arrivals.iter().all(|a| a.peer.ip() == ip("10.0.0.100")));

    // A port nobody listens on is refused (a reset crossed the switch).
    let outcome = a
        .netns()
        .tcp_exchange("10.0.0.3:9".parse().unwrap(), b"x", LONG)
        .unwrap();
    assert_eq!(outcome, Exchange::Refused);

    // The outside host learnt A's MAC; the flow counters moved.
    let neighbour = cloud
        .outside_host()
        .neighbour(ip("10.0.0.2"))
        .unwrap()
        .unwrap();
    assert_eq!(neighbour.mac, Some(a.mac()));
    assert_eq!(neighbour.dev, "eth0");
    assert!(ovs
        .dump_flows("hv2")
        .unwrap()
        .iter()
        .all(|f| f.n_packets > 0));
    assert!(ovs.trace("hv2", "in_port=10").unwrap().contains("output:1"));

    // Without flows, nothing passes again.
    ovs.del_flows("hv1", None).unwrap();
    ovs.del_flows("hv2", Some("in_port=10")).unwrap();
    assert_eq!(ovs.dump_flows("hv2").unwrap().len(), 1);
    ovs.del_flows("hv2", None).unwrap();
    assert!(ovs.dump_flows("hv2").unwrap().is_empty());
    a.netns().flush_neighbours().unwrap();
    b.netns().flush_neighbours().unwrap();
    assert_blocked(&cloud, 8081);
}

#[test]
fn extra_outside_hosts_and_forged_sources() {
    let mut cloud = Cloud::seed().start().unwrap();
    cloud
        .add_instance(
            "hv1",
            InstanceSpec::new(A, "203.0.113.2/24".parse().unwrap()).ofport(7),
        )
        .unwrap();
    let second = OutsideSpec {
        addresses: vec!["203.0.113.20/24".parse().unwrap()],
        gateway: None,
        mac: None,
    };
    let host = cloud.add_outside_host("second", second.clone()).unwrap();
    assert_eq!(host.ip(), Some(ip("203.0.113.20")));
    assert!(cloud.add_outside_host("second", second.clone()).is_err());
    assert!(cloud
        .add_outside_host("much-too-long-name", second)
        .is_err());
    cloud.ovs().add_flow("hv1", "actions=NORMAL").unwrap();
    let a = cloud.instance(A).unwrap().netns();
    let second = cloud.outside_host_named("second").unwrap().netns();

    // Both outside hosts reach the instance, each seen with its own address.
    let on_a = a.listen(Protocol::Tcp, 22).unwrap();
    for (netns, source) in [
        (cloud.outside_host(), "203.0.113.10"),
        (second, "203.0.113.20"),
    ] {
        let outcome = netns
            .tcp_exchange("203.0.113.2:22".parse().unwrap(), source.as_bytes(), LONG)
            .unwrap();
        assert!(outcome.is_answered(), "{outcome:?}");
        let arrival = on_a
            .wait_for(LONG, |a| a.data == source.as_bytes())
            .unwrap();
        assert_eq!(arrival.peer.ip(), ip(source));
    }

    // A forged source address leaves the instance as such (the switch must be what stops it).
    a.add_address("eth0", "203.0.113.99/32".parse().unwrap())
        .unwrap();
    let on_outside = cloud.outside_host().listen(Protocol::Udp, 53).unwrap();
    let outcome = a
        .udp_exchange_from(
            "203.0.113.99".parse().unwrap(),
            "203.0.113.10:53".parse().unwrap(),
            b"forged",
            SHORT,
        )
        .unwrap();
    // With plain NORMAL flows nothing stops it, and the echo comes back to the forged address.
    assert!(outcome.is_answered(), "{outcome:?}");
    let arrival = on_outside.wait_for(LONG, |a| a.data == b"forged").unwrap();
    assert_eq!(arrival.peer.ip(), ip("203.0.113.99"));
}

fn outcome_local(outcome: &Exchange) -> SocketAddr {
    match outcome {
        Exchange::Answered { local, .. } => *local,
        other => panic!("no answer: {other:?}"),
    }
}

/// Accepts one connection within `timeout`.
fn accept_within(listener: &TcpListener, timeout: Duration) -> TcpStream {
    let listener = listener.try_clone().unwrap();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let _ = sender.send(listener.accept().map(|(stream, _)| stream));
    });
    let stream = receiver
        .recv_timeout(timeout)
        .expect("the switch did not connect in time")
        .unwrap();
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream
}

/// Reads one OpenFlow message: (version, type, whole message).
fn read_message(stream: &mut TcpStream) -> (u8, u8, Vec<u8>) {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).unwrap();
    let length = usize::from(u16::from_be_bytes([header[2], header[3]]));
    assert!(length >= 8, "bad OpenFlow length {length}");
    let mut message = header.to_vec();
    message.resize(length, 0);
    stream.read_exact(&mut message[8..]).unwrap();
    (header[0], header[1], message)
}

#[test]
fn controller_relay_carries_a_real_switch_connection() {
    let ovs = Ovs::start().unwrap();
    ovs.add_bridge(&BridgeSpec::new("br0", 0xfeed)).unwrap();
    ovs.add_flow("br0", "priority=1,actions=drop").unwrap();
    assert_eq!(ovs.dump_flows("br0").unwrap().len(), 1);

    let controller = TcpListener::bind("127.0.0.1:0").unwrap();
    ovs.set_controller("br0", controller.local_addr().unwrap())
        .unwrap();
    // Open vSwitch flushes the table when a bridge gets its first controller.
    assert!(ovs.dump_flows("br0").unwrap().is_empty());

    let mut switch = accept_within(&controller, LONG);
    let (version, kind, _) = read_message(&mut switch);
    assert_eq!((version, kind), (1, 0), "expected an OpenFlow 1.0 HELLO");
    // HELLO, then FEATURES_REQUEST: the reply carries the pinned datapath id.
    switch
        .write_all(&[1, 0, 0, 8, 0, 0, 0, 1, 1, 5, 0, 8, 0, 0, 0, 2])
        .unwrap();
    let (version, kind, reply) = read_message(&mut switch);
    assert_eq!((version, kind), (1, 6), "expected FEATURES_REPLY");
    assert_eq!(reply[8..16], 0xfeed_u64.to_be_bytes());
    assert_eq!(ovs.controller_connections("br0").unwrap(), (1, 1));

    // A flow added now survives cutting the connection (the target did not change).
    ovs.add_flow("br0", "priority=1,actions=drop").unwrap();
    ovs.cut_controller("br0").unwrap();
    let mut rest = Vec::new();
    let _ = switch.read_to_end(&mut rest);
    let mut again = accept_within(&controller, LONG);
    let (version, kind, _) = read_message(&mut again);
    assert_eq!((version, kind), (1, 0));
    assert_eq!(ovs.controller_connections("br0").unwrap().1, 2);
    assert_eq!(ovs.dump_flows("br0").unwrap().len(), 1);

    // Restarting ovs-vswitchd: the bridge comes back from the database, with an empty table.
    assert!(!ovs.controller_connected("nobridge").unwrap());
    let old_pid = ovs.vswitchd_pid().unwrap();
    ovs.stop_vswitchd().unwrap();
    assert!(!process::pid_alive(old_pid));
    ovs.start_vswitchd().unwrap();
    assert_ne!(ovs.vswitchd_pid().unwrap(), old_pid);
    assert!(ovs.dump_flows("br0").unwrap().is_empty());
    let mut third = accept_within(&controller, LONG);
    let (_, kind, _) = read_message(&mut third);
    assert_eq!(kind, 0);
}

#[test]
fn drop_removes_everything_even_after_a_panic() {
    let (sender, receiver) = mpsc::channel();
    let outcome = thread::spawn(move || {
        let mut cloud = Cloud::seed().prefix("oetbpanic-").start().unwrap();
        cloud
            .add_instance("hv1", InstanceSpec::new(A, "10.0.0.2/24".parse().unwrap()))
            .unwrap();
        let ovs = cloud.ovs();
        sender
            .send((
                ovs.base_name().to_owned(),
                ovs.dir().to_owned(),
                ovs.vswitchd_pid().unwrap(),
            ))
            .unwrap();
        panic!("a test failing half-way");
    })
    .join();
    assert!(outcome.is_err());
    let (base, dir, pid) = receiver.recv().unwrap();
    assert!(!process::pid_alive(pid), "ovs-vswitchd {pid} survived");
    let left = process::run_ok("ip", ["netns", "list"]).unwrap();
    assert!(!left.contains(&base), "namespaces left: {left}");
    // The run directory is kept after a panic, for its logs.
    assert!(dir.join("ovs-vswitchd.log").is_file());
    std::fs::remove_dir_all(&dir).unwrap();

    // Invalid requests fail cleanly and leave the cloud usable.
    let mut cloud = Cloud::seed().prefix("oetbpanic-").start().unwrap();
    let base = cloud.ovs().base_name().to_owned();
    let dir = cloud.ovs().dir().to_owned();
    let long = InstanceSpec::new("i-0123456789abcdef", "10.0.0.2/24".parse().unwrap());
    assert!(cloud
        .add_instance("hv1", long)
        .unwrap_err()
        .to_string()
        .contains("15"));
    let unknown = InstanceSpec::new(A, "10.0.0.2/24".parse().unwrap());
    assert!(cloud.add_instance("hv9", unknown).is_err());
    cloud
        .add_instance("hv2", InstanceSpec::new(A, "10.0.0.2/24".parse().unwrap()))
        .unwrap();
    let again = InstanceSpec::new(A, "10.0.0.4/24".parse().unwrap());
    assert!(cloud.add_instance("hv1", again).is_err());
    cloud.remove_instance(A).unwrap();
    assert!(cloud.ovs().vsctl(&["list-ports", "hv2"]).unwrap().trim() == "hv2-up");
    drop(cloud);
    let left = process::run_ok("ip", ["netns", "list"]).unwrap();
    assert!(!left.contains(&base), "namespaces left: {left}");
    assert!(!dir.exists());
}

#[test]
fn cleanup_stale_removes_only_dead_runs() {
    // A prefix of this process only, so that concurrent runs of this test do not meet.
    let prefix = &format!("oets{}x-", std::process::id());
    // A pid that is certainly dead: a child we waited for.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    let dead = child.id();
    let stale_ns = format!("{prefix}{dead}-1-sw");
    // Pid 1 is always alive: its run is live and must be kept.
    let live_ns = format!("{prefix}1-999-sw");
    // Our own pid, but not created by this process: an earlier process with the same pid.
    let reused_ns = format!("{prefix}{}-999-sw", std::process::id());
    let stale_dir = std::env::temp_dir().join(format!("{prefix}{dead}-1"));
    std::fs::create_dir_all(&stale_dir).unwrap();
    let stale = Netns::create(&stale_ns).unwrap();
    let live = Netns::create(&live_ns).unwrap();
    let reused = Netns::create(&reused_ns).unwrap();
    // Hand the stale ones over to cleanup_stale, as if their owners had crashed.
    std::mem::forget(stale);
    std::mem::forget(reused);

    let report = cleanup_stale(prefix).unwrap();
    let mut removed = report.namespaces.clone();
    removed.sort();
    let mut expected = vec![stale_ns.clone(), reused_ns.clone()];
    expected.sort();
    assert_eq!(removed, expected);
    assert_eq!(report.directories, vec![stale_dir.clone()]);
    assert!(!stale_dir.exists());
    let left = process::run_ok("ip", ["netns", "list"]).unwrap();
    assert!(!left.contains(&stale_ns), "{left}");
    assert!(left.contains(&live_ns), "{left}");
    drop(live);
    assert!(cleanup_stale("bad1").is_err());
}

/// Set in the child process of [`a_killed_run_is_cleaned_up_by_cleanup_stale`].
const CRASH_CHILD: &str = "OVS_EC2_TESTBED_CRASH_CHILD";

#[test]
fn a_killed_run_is_cleaned_up_by_cleanup_stale() {
    if let Ok(prefix) = std::env::var(CRASH_CHILD) {
        // The child: build a cloud, report it, and wait to be killed (at most a minute).
        let mut cloud = Cloud::seed().prefix(&prefix).start().unwrap();
        cloud
            .add_instance("hv1", InstanceSpec::new(A, "10.0.0.2/24".parse().unwrap()))
            .unwrap();
        let ovs = cloud.ovs();
        println!(
            "READY {} {} {}",
            ovs.base_name(),
            ovs.vswitchd_pid().unwrap(),
            ovs.ovsdb_pid().unwrap()
        );
        std::io::stdout().flush().unwrap();
        thread::sleep(Duration::from_secs(60));
        panic!("the parent did not kill this child");
    }
    let prefix = format!("oetk{}x-", std::process::id());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "a_killed_run_is_cleaned_up_by_cleanup_stale",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD, &prefix)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            // libtest may print `test NAME ... ` on the same line first.
            if let Some(at) = line.find("READY ") {
                let _ = sender.send(line[at + "READY ".len()..].to_owned());
            }
        }
    });
    let ready = receiver.recv_timeout(Duration::from_secs(30));
    child.kill().unwrap();
    child.wait().unwrap();
    let ready = ready.expect("the child did not build its cloud");
    let fields: Vec<&str> = ready.split(' ').collect();
    let (base, vswitchd, ovsdb) = (
        fields[0].to_owned(),
        fields[1].parse::<u32>().unwrap(),
        fields[2].parse::<u32>().unwrap(),
    );
    // SIGKILL left everything behind: the daemons and the namespaces.
    assert!(process::pid_alive(vswitchd) && process::pid_alive(ovsdb));
    let left = process::run_ok("ip", ["netns", "list"]).unwrap();
    assert!(left.contains(&format!("{base}-sw")), "{left}");
    assert!(left.contains(&format!("{base}-{A}")), "{left}");

    let report = cleanup_stale(&prefix).unwrap();
    assert_eq!(report.namespaces.len(), 3, "{report:?}");
    assert_eq!(report.directories, vec![std::env::temp_dir().join(&base)]);
    assert!(
        !process::pid_alive(vswitchd),
        "ovs-vswitchd {vswitchd} survived"
    );
    assert!(!process::pid_alive(ovsdb), "ovsdb-server {ovsdb} survived");
    let left = process::run_ok("ip", ["netns", "list"]).unwrap();
    assert!(!left.contains(&base), "{left}");
    assert_eq!(cleanup_stale(&prefix).unwrap(), Default::default());
}
