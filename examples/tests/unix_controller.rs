//! A real Open vSwitch bridge pointed straight at the controller's unix socket
//! (`ovs-vsctl set-controller BR unix:PATH`, no relay, no TCP): the handshake completes, the
//! compiled table is installed (checked with `ovs-ofctl dump-flows`, cookie by cookie), a
//! change is acknowledged and installed, and the bridge reconnecting after a cut is
//! reconciled without losing a flow.
//!
//! Needs root and Open vSwitch (`scripts/test.sh` installs it): the test fails, naming what is
//! missing, when a prerequisite is absent.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use examples::core::{Config, Controller};
use examples::shell::{self, Handle, Listen};
use examples::speed::startup::model;
use examples::testbed::{BridgeSpec, Ovs};
use netrules::compile::{compile, CompileOptions};
use netrules::model::{Direction, GroupId, Model, Peer, Permission, PortRange, Protocol};

fn wait(rt: &tokio::runtime::Runtime, h: &Handle, what: &str, f: fn(&Controller) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rt.block_on(h.inspect(f)).unwrap() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Cookie -> number of flows, installed on `bridge` and compiled for datapath 1.
fn tables(ovs: &Ovs, bridge: &str, m: &Model) -> (BTreeMap<u64, usize>, BTreeMap<u64, usize>) {
    let mut installed = BTreeMap::new();
    for f in ovs.dump_flows(bridge).unwrap() {
        *installed.entry(f.cookie).or_default() += 1;
    }
    let mut compiled = BTreeMap::new();
    for f in &compile(m, &CompileOptions::default())[&1] {
        *compiled.entry(f.cookie).or_default() += 1;
    }
    (installed, compiled)
}

#[test]
fn a_bridge_on_the_controllers_unix_socket_gets_its_flows_and_changes() {
    let ovs = Ovs::start_with_prefix("oeux").unwrap();
    let bridge = "ux1";
    ovs.add_bridge(&BridgeSpec::new(bridge, 1)).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let m = model(40).unwrap();
    let mut controller = Controller::new(m.clone(), Config::default());
    for id in m.instances().keys() {
        controller.pin(id.clone(), true);
    }
    // Open vSwitch accepts `unix:` controller targets inside its run directory only.
    let path = ovs.dir().join("ovs-ec2-test.sock");
    let h = rt
        .block_on(shell::spawn_on(
            controller,
            None,
            &[Listen::Unix(path.clone())],
        ))
        .unwrap();
    assert!(h.local_addrs().is_empty());
    ovs.set_unix_controller(bridge, &path).unwrap();
    wait(&rt, &h, "the bridge reconciled", |c| c.is_ready(1));
    // The reconciliation's barrier: a change with nothing to do on the switch still waits
    // for a barrier behind the reconciliation's flow_mods.
    let web = GroupId::new("sg-web").unwrap();
    let https = Permission::new(Protocol::Tcp(PortRange::single(443)), Peer::anywhere()).unwrap();
    let applied = rt
        .block_on(h.change(move |m| m.authorize(&web, Direction::Ingress, https)))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1], "{applied:?}");
    assert_eq!(applied.errors, 0);
    let m = rt.block_on(h.inspect(|c| c.model().clone())).unwrap();
    let (installed, compiled) = tables(&ovs, bridge, &m);
    assert!(compiled.values().sum::<usize>() > 40 * 5);
    assert_eq!(installed, compiled);
    assert!(
        ovs.dump_flows(bridge)
            .unwrap()
            .iter()
            .any(|f| f.has_match("tp_dst=443")),
        "the authorized port has its flows"
    );

    // Restarting the daemon drops the connection; it comes back to the same socket and is
    // reconciled: the table is the compiled one again.
    let before = rt.block_on(h.inspect(|c| c.counters())).unwrap();
    ovs.stop_vswitchd().unwrap();
    wait(&rt, &h, "the bridge gone", |c| !c.is_ready(1));
    ovs.start_vswitchd().unwrap();
    wait(&rt, &h, "the bridge back", |c| c.is_ready(1));
    let after = rt.block_on(h.inspect(|c| c.counters())).unwrap();
    assert_eq!(after.reconciliations, before.reconciliations + 1);
    let web = GroupId::new("sg-web").unwrap();
    let https = Permission::new(Protocol::Tcp(PortRange::single(443)), Peer::anywhere()).unwrap();
    let applied = rt
        .block_on(h.change(move |m| m.revoke(&web, Direction::Ingress, &https)))
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1], "{applied:?}");
    // The session records the steps of the switch's start, in order; the reconciliation's
    // barrier was answered before the change's.
    let s = rt
        .block_on(h.inspect(|c| c.switch_session(1)))
        .unwrap()
        .unwrap();
    let (features, reconciled, synced) = (
        s.features_at.unwrap(),
        s.reconciled_at.unwrap(),
        s.synced_at.unwrap(),
    );
    assert!(s.connected_at <= features && features <= reconciled && reconciled <= synced);
    let m = rt.block_on(h.inspect(|c| c.model().clone())).unwrap();
    let (installed, compiled) = tables(&ovs, bridge, &m);
    assert_eq!(installed, compiled);
}
