//! The tokio shell over real loopback TCP, with simulated switches on the other end: the
//! handshake and reconciliation run through the reader and writer tasks, a change resolves when
//! the switches acknowledge it, a switch that never reads does not stop the controller from
//! serving another, a peer without a common version is answered and disconnected, and a
//! switch that goes silent is dropped.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use examples::core::sim_switch::{test_settings, SimSwitch};
use examples::core::{Applied, Config, Controller};
use examples::shell::{self, Handle, Listen};
use netrules::compile::{compile, CompileOptions};
use netrules::model::{
    Direction, GroupId, Instance, InstanceId, Model, OwnerId, Peer, Permission, PortRange,
    Protocol, SecurityGroup, Switch,
};
use openflow_proto::error_msg::{ErrorType, HelloFailedCode};
use openflow_proto::{Message, PortNo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

fn model() -> Model {
    let mut m = Model::new(test_settings()).unwrap();
    for dpid in [1, 2] {
        m.add_switch(Switch {
            dpid,
            uplink: PortNo(1),
        })
        .unwrap();
    }
    let owner = OwnerId::new("111122223333").unwrap();
    let sg = GroupId::new("sg-a").unwrap();
    m.add_group(SecurityGroup::new(sg.clone(), "a", owner.clone(), "a"))
        .unwrap();
    for n in [2u8, 3] {
        m.add_instance(Instance {
            id: InstanceId::new(format!("i-{n}")).unwrap(),
            owner: owner.clone(),
            mac: openflow_proto::MacAddr([2, 0, 0, 0, 1, n]),
            ip: Ipv4Addr::new(10, 0, 1, n),
            groups: [sg.clone()].into(),
            attachment: None,
        })
        .unwrap();
    }
    m
}

/// Run a simulated switch over `stream` until `stop` says so: read, feed, write back.
async fn drive<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut sw: SimSwitch,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> SimSwitch {
    let hello = sw.hello();
    stream.write_all(&hello).await.unwrap();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            n = stream.read(&mut buf) => {
                let n = n.unwrap_or(0);
                if n == 0 {
                    return sw;
                }
                sw.receive(&buf[..n]);
                let out = sw.take_output();
                if !out.is_empty() && stream.write_all(&out).await.is_err() {
                    return sw;
                }
            }
            _ = stop.changed() => return sw,
        }
    }
}

async fn until(
    h: &Handle,
    what: &str,
    f: impl Fn(&Controller) -> bool + Send + Sync + Clone + 'static,
) {
    for _ in 0..300 {
        let f = f.clone();
        if h.inspect(move |c| f(c)).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Wait until switches 1 and 2 are ready and every instance is bound to its port.
async fn both_ready(h: &Handle) {
    until(h, "both switches ready and bound", |c| {
        c.is_ready(1)
            && c.is_ready(2)
            && c.model()
                .instances()
                .values()
                .all(|i| i.attachment.is_some())
    })
    .await;
}

/// Authorize SSH into `sg-a`: both switches acknowledge it.
async fn authorize_ssh(h: &Handle) -> Applied {
    let sg = GroupId::new("sg-a").unwrap();
    let ssh = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
    let applied = h
        .change(move |m| m.authorize(&sg, Direction::Ingress, ssh))
        .await
        .unwrap();
    assert_eq!(applied.acknowledged, vec![1, 2]);
    applied
}

/// Each stopped switch's table holds exactly the controller's compiled flows for it.
async fn tables_are_compiled(h: &Handle, switches: [(tokio::task::JoinHandle<SimSwitch>, u64); 2]) {
    let model = h.inspect(|c| c.model().clone()).await.unwrap();
    for (task, dpid) in switches {
        let sw = task.await.unwrap();
        let want = compile(&model, &CompileOptions::default())[&dpid].len();
        assert!(want > 0);
        assert_eq!(sw.table().len(), want, "switch {dpid}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_over_a_unix_socket_is_reconciled_and_acknowledges_changes() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-shell-unix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ctl.sock");
    // A socket file left behind by a process that is gone is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let h = shell::spawn_on(
        Controller::new(model(), Config::default()),
        None,
        &[
            Listen::Unix(path.clone()),
            Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
        ],
    )
    .await
    .unwrap();
    assert_eq!(h.unix_paths(), std::slice::from_ref(&path));
    assert_eq!(h.local_addrs().len(), 1);
    assert_eq!(
        h.listeners(),
        vec![Listen::Tcp(h.local_addrs()[0]), Listen::Unix(path.clone())]
    );
    // A live listener is not taken over.
    let err = shell::spawn_on(
        Controller::new(model(), Config::default()),
        None,
        &[Listen::Unix(path.clone())],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    // Nor is a file that is not a socket.
    let plain = dir.join("not-a-socket");
    std::fs::write(&plain, b"x").unwrap();
    let err = shell::spawn_on(
        Controller::new(model(), Config::default()),
        None,
        &[Listen::Unix(plain.clone())],
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    assert_eq!(std::fs::read(&plain).unwrap(), b"x");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let s1 = tokio::spawn(drive(
        tokio::net::UnixStream::connect(&path).await.unwrap(),
        SimSwitch::new(1, &[(1, "up"), (2, "i-2")]),
        stop_rx.clone(),
    ));
    let s2 = tokio::spawn(drive(
        TcpStream::connect(h.local_addrs()[0]).await.unwrap(),
        SimSwitch::new(2, &[(1, "up"), (5, "i-3")]),
        stop_rx,
    ));
    both_ready(&h).await;
    // The session says when the switch connected, answered the features request and had
    // its flows reconciled, in that order.
    let session = h.inspect(|c| c.switch_session(1)).await.unwrap().unwrap();
    let features = session.features_at.unwrap();
    let reconciled = session.reconciled_at.unwrap();
    assert!(session.connected_at <= features && features <= reconciled);
    assert!(h.inspect(|c| c.switch_session(3)).await.unwrap().is_none());

    authorize_ssh(&h).await;
    stop_tx.send(true).unwrap();
    tables_are_compiled(&h, [(s1, 1), (s2, 2)]).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switches_over_tcp_handshake_reconcile_and_acknowledge_changes() {
    let h = shell::spawn(
        Controller::new(model(), Config::default()),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
    )
    .await
    .unwrap();
    let addr = h.local_addrs()[0];
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let s1 = tokio::spawn(drive(
        TcpStream::connect(addr).await.unwrap(),
        SimSwitch::new(1, &[(1, "up"), (2, "i-2")]),
        stop_rx.clone(),
    ));
    // A second connection that never reads anything: the controller must go on serving s1.
    let mut deaf = TcpStream::connect(addr).await.unwrap();
    deaf.write_all(&Message::Hello(Default::default()).to_bytes(1).unwrap())
        .await
        .unwrap();
    let s2 = tokio::spawn(drive(
        TcpStream::connect(addr).await.unwrap(),
        SimSwitch::new(2, &[(1, "up"), (5, "i-3")]),
        stop_rx,
    ));
    both_ready(&h).await;

    let applied = authorize_ssh(&h).await;
    assert!(applied.is_complete());
    // A change the model refuses changes nothing and says why.
    let missing = GroupId::new("sg-missing").unwrap();
    let err = h
        .change(move |m| {
            m.authorize(
                &missing,
                Direction::Ingress,
                Permission::new(Protocol::Any, Peer::anywhere()).unwrap(),
            )
        })
        .await
        .unwrap_err();
    assert!(matches!(err, shell::ChangeError::Model(_)), "{err}");

    stop_tx.send(true).unwrap();
    tables_are_compiled(&h, [(s1, 1), (s2, 2)]).await;
    drop(deaf);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_without_a_common_version_is_answered_and_closed() {
    let h = shell::spawn(
        Controller::new(model(), Config::default()),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(h.local_addrs()[0]).await.unwrap();
    let mut hello = Message::Hello(Default::default())
        .to_bytes(9)
        .unwrap()
        .to_vec();
    hello[0] = 0; // version 0: nothing in common
    s.write_all(&hello).await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("the controller closes the connection")
        .unwrap();
    // Its HELLO, then HELLO_FAILED/INCOMPATIBLE with our xid, then EOF.
    let mut framer = openflow_proto::Framer::new();
    framer.extend_from_slice(&got);
    let (_, first) = framer.next_message().unwrap().unwrap().unwrap();
    assert!(matches!(first, Message::Hello(_)));
    let (hdr, second) = framer.next_message().unwrap().unwrap().unwrap();
    assert_eq!(hdr.xid, 9);
    match second {
        Message::Error(e) => assert_eq!(
            e.error,
            ErrorType::HelloFailed(HelloFailedCode::Incompatible)
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_switch_is_dropped_after_the_echo_timeout() {
    let config = Config {
        echo_idle: Duration::from_millis(200),
        echo_timeout: Duration::from_millis(300),
        ..Config::default()
    };
    let h = shell::spawn(
        Controller::new(model(), config),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
    )
    .await
    .unwrap();
    let mut s = TcpStream::connect(h.local_addrs()[0]).await.unwrap();
    s.write_all(&Message::Hello(Default::default()).to_bytes(1).unwrap())
        .await
        .unwrap();
    // Say nothing more: an echo request comes, then the connection closes.
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut got))
        .await
        .expect("the controller drops a silent switch")
        .unwrap();
    let mut framer = openflow_proto::Framer::new();
    framer.extend_from_slice(&got);
    let mut kinds = Vec::new();
    while let Ok(Some(Ok((_, m)))) = framer.next_message() {
        kinds.push(m.msg_type().name());
    }
    assert!(kinds.contains(&"OFPT_ECHO_REQUEST"), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_committed_to_the_store_before_they_take_effect() {
    use examples::store::{initial_writes, SqliteStore, Store};
    let dir = std::env::temp_dir().join(format!("ovs-ec2-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.sqlite3");
    let _ = std::fs::remove_file(&path);
    let mut store = SqliteStore::open(&path).unwrap();
    store.commit(&initial_writes(&model())).unwrap();
    let h = shell::spawn_with_store(
        Controller::new(model(), Config::default()),
        Box::new(store),
        &[SocketAddr::from(([127, 0, 0, 1], 0))],
    )
    .await
    .unwrap();
    let sg = GroupId::new("sg-a").unwrap();
    let ssh = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
    let (g, p) = (sg.clone(), ssh.clone());
    let applied = h
        .change(move |m| m.authorize(&g, Direction::Ingress, p))
        .await
        .unwrap();
    // No switch is connected: nothing to wait for.
    assert!(applied.acknowledged.is_empty());
    // Another reader of the database sees the change (a restart would restore it).
    let stored = SqliteStore::open(&path)
        .unwrap()
        .load()
        .unwrap()
        .model
        .unwrap();
    assert!(stored.group(&sg).unwrap().ingress.contains(&ssh));
    std::fs::remove_dir_all(&dir).unwrap();
}
