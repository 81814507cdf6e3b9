//! The controller end to end with real Open vSwitch: two hypervisor bridges connect to it (through
//! the test bed's relay), the handshake completes, instance ports bind by name, the compiled tables
//! are installed (checked with `ovs-ofctl dump-flows`) and real traffic between the instances'
//! namespaces passes exactly as the security group says. A cut connection is reconciled without a
//! single flow_mod, and a rule added through the controller's handle opens the port. An elastic
//! IP is answered (ARP: the outside host, its neighbour table emptied and `arp_accept=0`, learns
//! the elastic IP's MAC from the reply) and reaches its instance on allowed ports only, the
//! instance reaches the outside as the elastic IP, and moving the address to the other
//! hypervisor moves the traffic (the controller's gratuitous ARPs re-teach the outside segment,
//! and overwrite a wrong neighbour entry planted in the outside host). A change made while a switch
//! is away is acknowledged by the others, deferred for it, and reaches it when it returns.
//!
//! Needs root, iproute2, ethtool, iputils-ping and Open vSwitch (`scripts/test.sh` installs them):
//! the test fails, naming what is missing, when a prerequisite is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use examples::core::{Config, Controller};
use examples::shell::{self, Handle};
use examples::testbed::{Cloud, Exchange, InstanceSpec, MacAddr, OutsideSpec, Protocol};
use ipnetwork::Ipv4Network;
use netrules::compile::{compile, cookie, CompileOptions};
use netrules::model::{
    AllocationId, Direction, ElasticIp, GroupId, Instance, InstanceId, Model, OwnerId, Peer,
    Permission, PortRange, SecurityGroup, Settings, Switch,
};
use openflow_proto::PortNo;

const A: &str = "i-0a1b2c3d";
const B: &str = "i-0b1c2d3e";
const SHORT: Duration = Duration::from_millis(1500);

fn tcp(port: u16) -> Permission {
    Permission::new(
        netrules::model::Protocol::Tcp(PortRange::single(port)),
        Peer::anywhere(),
    )
    .unwrap()
}

/// The outside host is the public gateway.
const OUTSIDE_MAC: &str = "02:00:cb:00:71:01";
/// The MAC the controller answers elastic IPs with.
const EIP_MAC: &str = "02:00:00:00:00:03";

fn model() -> Model {
    let settings = Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 24).unwrap(),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: "02:00:00:00:00:01".parse().unwrap(),
        public_gateway: Ipv4Addr::new(203, 0, 113, 1),
        public_gateway_mac: OUTSIDE_MAC.parse().unwrap(),
        elastic_ip_mac: EIP_MAC.parse().unwrap(),
    };
    let mut m = Model::new(settings).unwrap();
    for dpid in [1, 2] {
        m.add_switch(Switch {
            dpid,
            uplink: PortNo(1),
        })
        .unwrap();
    }
    let owner = OwnerId::new("111122223333").unwrap();
    let sg = GroupId::new("sg-ssh").unwrap();
    m.add_group(SecurityGroup::new(
        sg.clone(),
        "ssh",
        owner.clone(),
        "SSH from anywhere",
    ))
    .unwrap();
    m.authorize(&sg, Direction::Ingress, tcp(22)).unwrap();
    for (id, last) in [(A, 2u8), (B, 3)] {
        m.add_instance(Instance {
            id: InstanceId::new(id).unwrap(),
            owner: owner.clone(),
            mac: format!("02:00:0a:00:00:{last:02x}").parse().unwrap(),
            ip: Ipv4Addr::new(10, 0, 0, last),
            groups: [sg.clone()].into(),
            attachment: None,
        })
        .unwrap();
    }
    m
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn ready(rt: &tokio::runtime::Runtime, h: &Handle) -> bool {
    rt.block_on(h.inspect(|c| {
        let attached = c
            .model()
            .instances()
            .values()
            .all(|i| i.attachment.is_some());
        c.is_ready(1) && c.is_ready(2) && attached
    }))
    .unwrap()
}

/// (cookie, priority) -> count, of what the switch has (pinholes aside) and of what the model
/// compiles to.
fn flow_census(cloud: &Cloud, bridge: &str) -> BTreeMap<(u64, u16), usize> {
    let mut m = BTreeMap::new();
    for f in cloud.ovs().dump_flows(bridge).unwrap() {
        if f.cookie & cookie::KIND_MASK == cookie::PINHOLE {
            continue;
        }
        *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
    }
    m
}

fn compiled_census(model: &Model, dpid: u64) -> BTreeMap<(u64, u16), usize> {
    let mut m = BTreeMap::new();
    for f in &compile(model, &CompileOptions::default())[&dpid] {
        *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
    }
    m
}

fn exchange(cloud: &Cloud, from: &str, to: Ipv4Addr, port: u16) -> Exchange {
    let ns = cloud.instance(from).unwrap().netns();
    ns.tcp_exchange(SocketAddr::from((to, port)), b"hello", SHORT)
        .unwrap()
}

/// The controller (on its own runtime) and the seed cloud with A on hv1 and B on hv2, both
/// switches reconciled and both ports bound.
fn start() -> (tokio::runtime::Runtime, Handle, Cloud) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt
        .block_on(shell::spawn(
            Controller::new(model(), Config::default()),
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
        ))
        .unwrap();
    let mut cloud = Cloud::seed().start().unwrap();
    for (bridge, id, last) in [("hv1", A, 2u8), ("hv2", B, 3)] {
        let mac: MacAddr = format!("02:00:0a:00:00:{last:02x}").parse().unwrap();
        cloud
            .add_instance(
                bridge,
                InstanceSpec::new(id, format!("10.0.0.{last}/24").parse().unwrap())
                    .mac(mac)
                    .gateway(Ipv4Addr::new(10, 0, 0, 1))
                    .ofport(10),
            )
            .unwrap();
    }
    cloud.set_controller(handle.local_addrs()[0]).unwrap();
    wait_for("both switches reconciled and both ports bound", || {
        ready(&rt, &handle).then_some(())
    });
    (rt, handle, cloud)
}

#[test]
fn a_change_while_a_switch_is_away_is_deferred_and_reconciled_on_its_return() {
    let (rt, handle, cloud) = start();
    let b_ip = Ipv4Addr::new(10, 0, 0, 3);
    let _b80 = cloud
        .instance(B)
        .unwrap()
        .netns()
        .listen(Protocol::Tcp, 80)
        .unwrap();
    cloud.ovs().block_controller("hv2", true).unwrap();
    wait_for("hv2 to be gone", || {
        (!rt.block_on(handle.inspect(|c| c.is_ready(2))).unwrap()).then_some(())
    });
    let sg = GroupId::new("sg-ssh").unwrap();
    let applied = rt
        .block_on(handle.change(move |m| m.authorize(&sg, Direction::Ingress, tcp(80))))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1], "{applied:?}");
    assert_eq!(applied.deferred, vec![2], "{applied:?}");
    // hv2 enforces B's ingress with its old table: port 80 is still closed.
    let ex = exchange(&cloud, A, b_ip, 80);
    assert!(!ex.is_answered(), "A -> B:80 while hv2 is away {ex:?}");
    // It returns: reconciled, the port opens, its table is the compiled one.
    cloud.ovs().block_controller("hv2", false).unwrap();
    wait_for("hv2 to return", || ready(&rt, &handle).then_some(()));
    let ex = exchange(&cloud, A, b_ip, 80);
    assert!(ex.is_answered(), "A -> B:80 after hv2 returned {ex:?}");
    let model = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    assert_eq!(flow_census(&cloud, "hv2"), compiled_census(&model, 2));
}

#[test]
fn controller_installs_the_model_and_traffic_follows_the_rules() {
    let (rt, handle, cloud) = start();

    // The installed tables are the compiled ones: same cookies and priorities, flow for flow,
    // and nothing else.
    let model = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    for (bridge, dpid) in [("hv1", 1), ("hv2", 2)] {
        let want = compiled_census(&model, dpid);
        wait_for("the flows to be installed", || {
            (flow_census(&cloud, bridge) == want).then_some(())
        });
    }

    // Traffic: TCP 22 passes both ways (the replies are stateful), TCP 80 does not, ping
    // does not.
    let a_ip = Ipv4Addr::new(10, 0, 0, 2);
    let b_ip = Ipv4Addr::new(10, 0, 0, 3);
    let a_ns = cloud.instance(A).unwrap().netns();
    let b_ns = cloud.instance(B).unwrap().netns();
    let b22 = b_ns.listen(Protocol::Tcp, 22).unwrap();
    let b80 = b_ns.listen(Protocol::Tcp, 80).unwrap();
    let a22 = a_ns.listen(Protocol::Tcp, 22).unwrap();
    let ok = exchange(&cloud, A, b_ip, 22);
    assert!(ok.is_answered(), "A -> B:22 {ok:?}");
    let ok = exchange(&cloud, B, a_ip, 22);
    assert!(ok.is_answered(), "B -> A:22 {ok:?}");
    let blocked = exchange(&cloud, A, b_ip, 80);
    assert!(
        matches!(blocked, Exchange::TimedOut | Exchange::Unreachable),
        "A -> B:80 {blocked:?}"
    );
    assert!(b80.arrivals().is_empty(), "{:?}", b80.arrivals());
    assert!(!b22.arrivals().is_empty());
    assert!(!a22.arrivals().is_empty());
    let ping = a_ns.ping(b_ip, 1, SHORT).unwrap();
    assert!(ping.none_received(), "{ping:?}");

    // Cut hv1's connection: it reconnects and is reconciled without a single flow_mod.
    let before = rt.block_on(handle.inspect(|c| c.counters())).unwrap();
    cloud.ovs().cut_controller("hv1").unwrap();
    wait_for("hv1 to reconnect and be reconciled", || {
        let now = rt.block_on(handle.inspect(|c| c.counters())).unwrap();
        (now.reconciliations > before.reconciliations && ready(&rt, &handle)).then_some(now)
    });
    let after = rt.block_on(handle.inspect(|c| c.counters())).unwrap();
    assert_eq!(
        after.flow_mods, before.flow_mods,
        "a reconnect with nothing changed sends no flow_mod"
    );
    assert_eq!(flow_census(&cloud, "hv1"), compiled_census(&model, 1));
    // The connections' pinholes survived the reconnect (the controller still tracks them).
    let pinholes = cloud
        .ovs()
        .dump_flows("hv1")
        .unwrap()
        .into_iter()
        .filter(|f| f.cookie & cookie::KIND_MASK == cookie::PINHOLE)
        .count();
    let tracked = rt
        .block_on(handle.inspect(|c| {
            c.pinholes()
                .connections()
                .keys()
                .filter(|k| k.switch == 1)
                .count()
        }))
        .unwrap();
    assert_eq!(pinholes, 2 * tracked);
    assert!(tracked > 0);

    // Open TCP 80 through the controller: the change is acknowledged by both switches, and
    // the port opens.
    let sg = GroupId::new("sg-ssh").unwrap();
    let applied = rt
        .block_on(handle.change(move |m| m.authorize(&sg, Direction::Ingress, tcp(80))))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1, 2], "{applied:?}");
    assert!(applied.is_complete(), "{applied:?}");
    let ok = exchange(&cloud, A, b_ip, 80);
    assert!(ok.is_answered(), "A -> B:80 after authorize {ok:?}");
    let model = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    assert_eq!(flow_census(&cloud, "hv2"), compiled_census(&model, 2));

    let errors = rt
        .block_on(handle.inspect(|c| c.counters().switch_errors))
        .unwrap();
    assert_eq!(
        errors, 0,
        "Open vSwitch refused none of the controller's messages"
    );
}

#[test]
fn elastic_ip_reaches_its_instance_and_moves_with_gratuitous_arp() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let eip = Ipv4Addr::new(203, 0, 113, 20);
    let mut m = model();
    m.allocate(ElasticIp {
        public_ip: eip,
        allocation_id: AllocationId::new("eipalloc-1").unwrap(),
        owner: OwnerId::new("111122223333").unwrap(),
        instance: None,
    })
    .unwrap();
    let handle = rt
        .block_on(shell::spawn(
            Controller::new(m, Config::default()),
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
        ))
        .unwrap();
    let outside = OutsideSpec {
        addresses: vec!["203.0.113.1/24".parse().unwrap()],
        gateway: None,
        mac: Some(OUTSIDE_MAC.parse().unwrap()),
    };
    let mut cloud = Cloud::seed().outside(outside).start().unwrap();
    for (bridge, id, last) in [("hv1", A, 2u8), ("hv2", B, 3)] {
        let mac: MacAddr = format!("02:00:0a:00:00:{last:02x}").parse().unwrap();
        cloud
            .add_instance(
                bridge,
                InstanceSpec::new(id, format!("10.0.0.{last}/24").parse().unwrap())
                    .mac(mac)
                    .gateway(Ipv4Addr::new(10, 0, 0, 1))
                    .ofport(10),
            )
            .unwrap();
    }
    cloud.set_controller(handle.local_addrs()[0]).unwrap();
    wait_for("both switches reconciled and both ports bound", || {
        ready(&rt, &handle).then_some(())
    });

    // Associate with A (on hv1).
    let a_id = InstanceId::new(A).unwrap();
    let applied = rt
        .block_on(handle.change(move |m| m.associate(eip, &a_id, false)))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1], "{applied:?}");
    let out = cloud.outside_host();
    let a22 = cloud
        .instance(A)
        .unwrap()
        .netns()
        .listen(Protocol::Tcp, 22)
        .unwrap();
    let b22 = cloud
        .instance(B)
        .unwrap()
        .netns()
        .listen(Protocol::Tcp, 22)
        .unwrap();
    // The outside host must learn the elastic IP's MAC from the controller's ARP reply: its
    // table is emptied, and with arp_accept=0 no unsolicited ARP creates an entry (the
    // association's gratuitous announcements included); only a reply to its own request fills
    // the entry that request opened.
    out.learn_neighbours_only_from_replies().unwrap();
    assert_eq!(out.neighbour(eip).unwrap(), None);
    let ex = out
        .tcp_exchange(SocketAddr::from((eip, 22)), b"to a", SHORT)
        .unwrap();
    assert!(ex.is_answered(), "outside -> eip:22 (A) {ex:?}");
    let n = out.neighbour(eip).unwrap();
    assert_eq!(
        n.as_ref().and_then(|n| n.mac),
        Some(EIP_MAC.parse().unwrap()),
        "the outside host's entry for {eip}: {n:?}"
    );
    let arrivals = a22.take_arrivals();
    assert_eq!(arrivals.len(), 1, "{arrivals:?}");
    assert_eq!(
        arrivals[0].peer.ip(),
        std::net::IpAddr::from([203, 0, 113, 1])
    );
    // Port 80 is not open on the elastic IP either.
    let ex = out
        .tcp_exchange(SocketAddr::from((eip, 80)), b"no", SHORT)
        .unwrap();
    assert!(!ex.is_answered(), "outside -> eip:80 {ex:?}");
    // A reaches the outside, seen there as the elastic IP.
    let seen = out.listen(Protocol::Tcp, 8080).unwrap();
    let ex = cloud
        .instance(A)
        .unwrap()
        .netns()
        .tcp_exchange(SocketAddr::from(([203, 0, 113, 1], 8080)), b"from a", SHORT)
        .unwrap();
    assert!(ex.is_answered(), "A -> outside {ex:?}");
    let arrivals = seen.take_arrivals();
    assert_eq!(arrivals.len(), 1, "{arrivals:?}");
    assert_eq!(arrivals[0].peer.ip(), std::net::IpAddr::from(eip));
    // The outside host learnt the elastic IP at the elastic-IP MAC.
    let n = out.neighbours().unwrap();
    assert!(
        n.iter().any(|e| e.ip == std::net::IpAddr::from(eip)
            && e.mac == Some(EIP_MAC.parse().unwrap())),
        "{n:?}"
    );

    // Move it to B (on hv2): the gratuitous ARPs out of hv2's uplink move the outside
    // segment's forwarding to hv2, and the address now reaches B.
    // First a wrong entry that only an ARP from the elastic IP can correct (nothing is sent to
    // the address before the check), older than the kernel's lock time (1 s) so that the
    // update is taken.
    let bogus: MacAddr = "02:00:00:00:de:ad".parse().unwrap();
    out.replace_neighbour("eth0", eip, bogus, "stale").unwrap();
    assert_eq!(out.neighbour(eip).unwrap().and_then(|n| n.mac), Some(bogus));
    std::thread::sleep(Duration::from_millis(1200));
    let b_id = InstanceId::new(B).unwrap();
    let applied = rt
        .block_on(handle.change(move |m| m.associate(eip, &b_id, true)))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1, 2], "{applied:?}");
    wait_for(
        "the outside host to learn the elastic IP from the gratuitous ARP",
        || {
            let n = out.neighbour(eip).unwrap()?;
            (n.mac == Some(EIP_MAC.parse().unwrap())).then_some(())
        },
    );
    let ex = out
        .tcp_exchange(SocketAddr::from((eip, 22)), b"to b", SHORT)
        .unwrap();
    assert!(ex.is_answered(), "outside -> eip:22 (B) {ex:?}");
    assert_eq!(b22.take_arrivals().len(), 1);
    assert!(a22.take_arrivals().is_empty());
    let announced = rt
        .block_on(handle.inspect(|c| c.counters().packet_outs))
        .unwrap();
    assert!(announced > 0);
}
