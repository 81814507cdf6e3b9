//! Flow installation at start-up: a fresh bridge filled with the compiled flows of many
//! instances by the controller when the bridge connects (handshake, flow stats, reconcile,
//! flow_mods, up to the reconciliation's barrier reply), timed from the bridge's connection
//! reaching the controller (on its unix socket, as a co-located controller is configured;
//! `--relay` goes through the test bed's relay to TCP instead) and from the switch's features
//! reply. Next to it, in the same run, on fresh bridges of the same Open vSwitch: the same
//! flow_mods pre-encoded and written at once to the bridge's management socket (the floor:
//! Open vSwitch's own pace, timed from the connect), the same written by a do-nothing
//! controller as soon as it has the features reply, and `ovs-ofctl add-flows` of the same
//! flows (`netrules::compile`, printed in `ovs-ofctl` syntax). Also the controller's own part
//! in-process (no sockets), next to a copy of the pre-encoded flow_mods.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ipnetwork::Ipv4Network;
use netrules::compile::{compile, CompileOptions};
use netrules::model::{
    Attachment, Direction, GroupId, Instance, InstanceId, Model, OwnerId, Peer, Permission,
    PortRange, Protocol, SecurityGroup, Settings, Switch,
};
use openflow_proto::{MacAddr, Message, PortNo};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use super::dataplane::{ofctl, ofctl_line, scratch_dir};
use super::{ms, ratio, Row, SpeedError, Stats};
use crate::core::{Config, Controller};
use crate::shell::{self, Listen};
use crate::testbed::{BridgeSpec, Ovs};

/// Options of the start-up measurement.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Instances on the one switch.
    pub instances: usize,
    /// Runs of each (fresh bridges every time).
    pub runs: usize,
    /// Connect the bridge through the test bed's relay to the controller's TCP address
    /// instead of straight to its unix socket.
    pub relay: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instances: 10_000,
            runs: 3,
            relay: false,
        }
    }
}

fn mac(s: &str) -> Result<MacAddr, SpeedError> {
    s.parse()
        .map_err(|_| SpeedError::Controller(format!("bad MAC {s}")))
}

/// `n` instances on switch 1 (ports 2..), in a group that lets SSH and HTTP in from anywhere
/// and everything out (a new group's default); every instance pinned to its port.
pub fn model(n: usize) -> Result<Model, SpeedError> {
    let settings = Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16)
            .map_err(|e| SpeedError::Controller(e.to_string()))?,
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: mac("02:00:00:00:00:01")?,
        public_gateway: Ipv4Addr::new(203, 0, 113, 1),
        public_gateway_mac: mac("02:00:00:00:00:02")?,
        elastic_ip_mac: mac("02:00:00:00:00:03")?,
    };
    let mut m = Model::new(settings)?;
    m.add_switch(Switch {
        dpid: 1,
        uplink: PortNo(1),
    })?;
    let owner = OwnerId::new("111122223333")?;
    let web = GroupId::new("sg-web")?;
    m.add_group(SecurityGroup::new(web.clone(), "web", owner.clone(), "web"))?;
    for port in [22, 80] {
        let p = Permission::new(Protocol::Tcp(PortRange::single(port)), Peer::anywhere())?;
        m.authorize(&web, Direction::Ingress, p)?;
    }
    for i in 0..n {
        let host = u32::try_from(i + 2).unwrap_or(u32::MAX);
        let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + host);
        let o = ip.octets();
        m.add_instance(Instance {
            id: InstanceId::new(format!("i-{:08x}", i + 1))?,
            owner: owner.clone(),
            mac: MacAddr([0x02, 0x0e, o[0], o[1], o[2], o[3]]),
            ip,
            groups: BTreeSet::from([web.clone()]),
            attachment: Some(Attachment {
                switch: 1,
                port: PortNo(u16::try_from(i + 2).unwrap_or(u16::MAX - 0x100)),
            }),
        })?;
    }
    Ok(m)
}

fn flow_count(ovs: &Ovs, bridge: &str) -> Result<usize, SpeedError> {
    let text = ovs.ofctl("dump-aggregate", bridge, &[])?;
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("flow_count=")?.parse().ok())
        .ok_or_else(|| SpeedError::Command {
            command: format!("ovs-ofctl dump-aggregate {bridge}"),
            detail: format!("no flow_count in {text:?}"),
        })
}

/// Check that `bridge` holds `want` flows, then delete it; `how` names what installed them
/// (for the error).
fn check_and_remove(
    ovs: &Ovs,
    bridge: &str,
    want: usize,
    how: impl FnOnce() -> String,
) -> Result<(), SpeedError> {
    let n = flow_count(ovs, bridge)?;
    if n != want {
        return Err(SpeedError::Command {
            command: how(),
            detail: format!("{n} flows installed, {want} expected"),
        });
    }
    ovs.vsctl(&["del-br", bridge])?;
    Ok(())
}

/// Sends `blob` (pre-encoded flow_mods) to the bridge's management socket as an OpenFlow 1.0
/// client after HELLO, then a barrier; returns when the barrier reply arrives: as fast as Open
/// vSwitch takes flow_mods, with nothing else on the way. Timed from the connect.
fn blast(ovs: &Ovs, bridge: &str, blob: &[u8]) -> Result<Duration, SpeedError> {
    let path = ovs.mgmt_socket(bridge);
    let t0 = Instant::now();
    let sock = UnixStream::connect(&path).map_err(|source| SpeedError::Io {
        what: format!("connecting to {}", path.display()),
        source,
    })?;
    send_all_and_wait(sock, t0, bridge, &path, blob, true)
}

/// The same from a controller doing nothing else: the bridge is pointed at a unix socket
/// whose listener, on accepting the bridge's connection, says HELLO and asks for the features
/// (as a controller must, to learn which switch it is), then writes `blob` and a barrier at
/// once and waits for the barrier reply. Timed from the features reply: the floor on a
/// controller connection (Open vSwitch serves a controller's connection and a management
/// client's differently).
fn blast_as_controller(ovs: &Ovs, bridge: &str, blob: &[u8]) -> Result<Duration, SpeedError> {
    let path = ovs.dir().join(format!("blast-{bridge}.sock"));
    let _ = std::fs::remove_file(&path);
    let listener =
        std::os::unix::net::UnixListener::bind(&path).map_err(|source| SpeedError::Io {
            what: format!("binding {}", path.display()),
            source,
        })?;
    // Accepting and writing at once, as a controller does (Open vSwitch waits for the
    // controller's HELLO, and retries only after a pause when it is not there yet).
    let blob = blob.to_vec();
    let (bridge_name, sock_path) = (bridge.to_owned(), path.clone());
    let server = std::thread::spawn(move || {
        let (sock, _) = listener.accept().map_err(|source| SpeedError::Io {
            what: format!("accepting on {}", sock_path.display()),
            source,
        })?;
        let t0 = features(&sock, &sock_path)?;
        send_all_and_wait(sock, t0, &bridge_name, &sock_path, &blob, false)
    });
    if let Err(e) = ovs.set_unix_controller(bridge, &path) {
        // Unblock the accept (the connection closes at once) before giving up.
        drop(UnixStream::connect(&path));
        let _ = server.join();
        return Err(e.into());
    }
    let r = server
        .join()
        .map_err(|_| SpeedError::Controller("the blasting thread panicked".to_owned()))?;
    let _ = std::fs::remove_file(&path);
    r
}

/// Say HELLO and ask for the switch's features on `sock`; returns when the features reply
/// arrives (what a controller waits for before it knows the switch).
fn features(sock: &UnixStream, path: &std::path::Path) -> Result<Instant, SpeedError> {
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| SpeedError::Io { what, source }
    };
    let mut out = BytesMut::new();
    for (xid, m) in [
        (1, Message::Hello(Bytes::new())),
        (2, Message::FeaturesRequest),
    ] {
        m.encode(xid, &mut out)
            .map_err(|e| SpeedError::Controller(format!("encoding {m:?}: {e}")))?;
    }
    let mut sock = sock;
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(io("setting a timeout on"))?;
    sock.write_all(&out).map_err(io("writing to"))?;
    let mut head = [0u8; 8];
    loop {
        sock.read_exact(&mut head).map_err(io("reading from"))?;
        let len = usize::from(u16::from_be_bytes([head[2], head[3]])).max(8);
        let mut body = vec![0u8; len - 8];
        sock.read_exact(&mut body).map_err(io("reading from"))?;
        // OFPT_FEATURES_REPLY
        if head[1] == 6 {
            return Ok(Instant::now());
        }
    }
}

/// Write HELLO (if `hello`), `blob` and a barrier to `sock` (from another thread, while
/// reading), answer echo requests, and return the time from `t0` to the barrier reply.
fn send_all_and_wait(
    mut sock: UnixStream,
    t0: Instant,
    bridge: &str,
    path: &std::path::Path,
    blob: &[u8],
    hello: bool,
) -> Result<Duration, SpeedError> {
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| SpeedError::Io { what, source }
    };
    let mut out = BytesMut::new();
    let encode = |m: &Message, xid: u32, out: &mut BytesMut| {
        m.encode(xid, out)
            .map_err(|e| SpeedError::Controller(format!("encoding {m:?}: {e}")))
    };
    if hello {
        encode(&Message::Hello(Bytes::new()), 1, &mut out)?;
    }
    let hello = out.split().freeze();
    encode(&Message::BarrierRequest, 0xb0b0, &mut out)?;
    let barrier = out.split().freeze();
    sock.set_read_timeout(Some(Duration::from_secs(300)))
        .map_err(io("setting a timeout on"))?;
    let mut writer = sock.try_clone().map_err(io("cloning"))?;
    let payload: Vec<u8> = [&hello[..], blob, &barrier[..]].concat();
    let sender = std::thread::spawn(move || writer.write_all(&payload));
    let mut head = [0u8; 8];
    let result = loop {
        if let Err(e) = sock.read_exact(&mut head) {
            break Err(io("reading from")(e));
        }
        let len = usize::from(u16::from_be_bytes([head[2], head[3]])).max(8);
        let mut body = vec![0u8; len - 8];
        if let Err(e) = sock.read_exact(&mut body) {
            break Err(io("reading from")(e));
        }
        match head[1] {
            // OFPT_ERROR: a flow_mod was refused.
            1 => {
                break Err(SpeedError::Command {
                    command: format!("flow_mods to {bridge}"),
                    detail: format!("OpenFlow error {}", hex::encode(&body)),
                })
            }
            // OFPT_ECHO_REQUEST: answer it.
            2 => {
                let mut reply = head;
                reply[1] = 3;
                let mut msg = reply.to_vec();
                msg.extend_from_slice(&body);
                if let Err(e) = sock.write_all(&msg) {
                    break Err(io("writing to")(e));
                }
            }
            // OFPT_BARRIER_REPLY
            19 => break Ok(t0.elapsed()),
            _ => {}
        }
    };
    let sent = sender
        .join()
        .map_err(|_| SpeedError::Controller("the sender thread panicked".to_owned()))?;
    sent.map_err(io("writing to"))?;
    result
}

/// The controller's own work for a fresh switch, in-process and without sockets: from the
/// switch's features reply handed to the core to every flow_mod of the reconciliation encoded
/// in its transmit queue (`handle_bytes` of the features reply, then of the barrier reply and
/// the empty flow stats reply, then `poll_transmit`), with a simulated switch answering.
/// Returns the times and the bytes queued in the last run.
pub fn core_only(model: &Model, runs: usize) -> Result<(Vec<Duration>, usize), SpeedError> {
    use crate::core::sim_switch::SimSwitch;
    use crate::core::ConnId;
    let mut times = Vec::new();
    let mut bytes = 0;
    let config = Config {
        apply_timeout: Duration::from_secs(300),
        reconcile_timeout: Duration::from_secs(300),
        ..Config::default()
    };
    let mut ctl = Controller::new(model.clone(), config);
    for id in model.instances().keys() {
        ctl.pin(id.clone(), true);
    }
    let drain = |ctl: &mut Controller| {
        let mut out = Vec::new();
        while let Some((_, b)) = ctl.poll_transmit() {
            out.push(b);
        }
        while ctl.poll_event().is_some() {}
        out
    };
    for run in 0..runs.max(1) {
        let conn = ConnId(run as u64 + 1);
        let mut sw = SimSwitch::new(1, &[]);
        let now = Instant::now();
        ctl.handle_connect(conn, now);
        for b in drain(&mut ctl) {
            sw.receive(&b);
        }
        ctl.handle_bytes(conn, &sw.hello(), now);
        for b in drain(&mut ctl) {
            sw.receive(&b);
        }
        let features = sw.take_output();
        // Only the controller is timed: the simulated switch's answers to set_config, the
        // barrier and the flow stats request (it is empty) are made between the two halves.
        let t0 = Instant::now();
        ctl.handle_bytes(conn, &features, t0);
        let asked = drain(&mut ctl);
        let first = t0.elapsed();
        for b in &asked {
            sw.receive(b);
        }
        let replies = sw.take_output();
        let t1 = Instant::now();
        ctl.handle_bytes(conn, &replies, t1);
        let queued = drain(&mut ctl);
        let elapsed = first + t1.elapsed();
        times.push(elapsed);
        bytes = queued.iter().map(Bytes::len).sum();
        if !ctl.is_ready(1) {
            return Err(SpeedError::Controller(
                "the simulated switch was not reconciled".to_owned(),
            ));
        }
        ctl.handle_disconnect(conn);
        while ctl.poll_event().is_some() {}
    }
    Ok((times, bytes))
}

/// The start-up measurement; see the module docs. Rows: the controller's install time (from
/// the switch's connection reaching it, and from its features reply, to the reconciliation's
/// barrier reply, as [`Controller::switch_session`] records them) against the same flow_mods
/// pre-encoded and written at once to the bridge's management socket and by a do-nothing
/// controller; the end-to-end time from `ovs-vsctl set-controller`; `ovs-ofctl add-flows` of
/// the same flows; the controller's own part in-process.
pub fn startup(options: &Options) -> Result<Vec<Row>, SpeedError> {
    if options.instances + 2 > usize::from(PortNo::MAX.0) {
        return Err(SpeedError::Controller(format!(
            "{} instances do not fit the switch's port numbers",
            options.instances
        )));
    }
    let dir = scratch_dir("startup")?;
    let model = model(options.instances)?;
    let compile_options = CompileOptions::default();
    let tables = compile(&model, &compile_options);
    let flows = tables.get(&1).map_or(&[][..], |t| &t[..]);
    let text: String = flows
        .iter()
        .map(|f| ofctl_line(&f.to_add()) + "\n")
        .collect();
    let file = dir.join("startup.flows");
    std::fs::write(&file, text).map_err(|source| SpeedError::Io {
        what: format!("writing {}", file.display()),
        source,
    })?;
    let file = file.to_string_lossy().into_owned();
    let mut blob = BytesMut::new();
    for (i, f) in flows.iter().enumerate() {
        let xid = u32::try_from(i + 2).unwrap_or(u32::MAX);
        Message::FlowMod(f.to_add())
            .encode(xid, &mut blob)
            .map_err(|e| SpeedError::Controller(format!("encoding a flow_mod: {e}")))?;
    }
    let (core_times, core_bytes) = core_only(&model, options.runs.max(1))?;
    let copy_time = {
        let t0 = Instant::now();
        let copy = Bytes::copy_from_slice(&blob);
        let d = t0.elapsed();
        drop(std::hint::black_box(copy));
        d
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| SpeedError::Io {
            what: "starting a tokio runtime".to_owned(),
            source,
        })?;
    let config = Config {
        compile: compile_options,
        apply_timeout: Duration::from_secs(300),
        reconcile_timeout: Duration::from_secs(300),
        ..Config::default()
    };
    let mut controller = Controller::new(model, config);
    for id in controller
        .model()
        .instances()
        .keys()
        .cloned()
        .collect::<Vec<_>>()
    {
        controller.pin(id, true);
    }
    let ovs = Ovs::start_with_prefix("oesu")?;
    // Open vSwitch takes `unix:` controller targets only inside its run directory.
    let socket = ovs.dir().join("ovs-ec2-controller.sock");
    let handle = rt
        .block_on(shell::spawn_on(
            controller,
            None,
            &[
                Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 0))),
                Listen::Unix(socket.clone()),
            ],
        ))
        .map_err(|source| SpeedError::Io {
            what: "starting the controller".to_owned(),
            source,
        })?;
    let addr = handle
        .local_addrs()
        .first()
        .copied()
        .ok_or_else(|| SpeedError::Controller("no OpenFlow listener".to_owned()))?;

    let mut install = Vec::new();
    let mut from_features = Vec::new();
    let mut end_to_end = Vec::new();
    let mut theirs = Vec::new();
    let mut raw = Vec::new();
    let mut raw_ctl = Vec::new();
    let mut features = Vec::new();
    let mut stats_reply = Vec::new();
    let mut vsctl = Vec::new();
    for run in 0..options.runs.max(1) {
        // The baseline: ovs-ofctl into a fresh bridge.
        let base = format!("base{run}");
        ovs.add_bridge(&BridgeSpec::new(&base, 0x100 + run as u64))?;
        let t0 = Instant::now();
        ofctl(&ovs, "add-flows", &base, &[&file])?;
        theirs.push(t0.elapsed());
        check_and_remove(&ovs, &base, flows.len(), || {
            format!("ovs-ofctl add-flows {base}")
        })?;

        // The floor: the same flow_mods, pre-encoded, written to a fresh bridge at once.
        let bare = format!("raw{run}");
        ovs.add_bridge(&BridgeSpec::new(&bare, 0x200 + run as u64))?;
        raw.push(blast(&ovs, &bare, &blob)?);
        check_and_remove(&ovs, &bare, flows.len(), || format!("flow_mods to {bare}"))?;

        // The floor on a controller connection: the same, written by a do-nothing
        // controller as soon as the bridge connects to it.
        let bare = format!("rawc{run}");
        ovs.add_bridge(&BridgeSpec::new(&bare, 0x300 + run as u64))?;
        raw_ctl.push(blast_as_controller(&ovs, &bare, &blob)?);
        check_and_remove(&ovs, &bare, flows.len(), || {
            format!("flow_mods to {bare} as its controller")
        })?;

        // The controller: a fresh bridge with datapath id 1 connects, straight to the
        // controller's unix socket (as `blast` to the bridge's), or through the test bed's
        // relay to its TCP address.
        let bridge = format!("ctl{run}");
        ovs.add_bridge(&BridgeSpec::new(&bridge, 1))?;
        let t0 = Instant::now();
        if options.relay {
            ovs.set_controller(&bridge, addr)?;
        } else {
            ovs.set_unix_controller(&bridge, &socket)?;
        }
        vsctl.push(t0.elapsed());
        let timeout = Duration::from_secs(300);
        // Until the reconciliation's barrier reply: every flow_mod handled by the switch
        // (the controller notes the instant the reply came).
        let (session, done) = loop {
            let session = rt
                .block_on(handle.inspect(|c| c.switch_session(1)))
                .map_err(|e| SpeedError::Controller(e.to_string()))?;
            if let Some(s) = session {
                if let Some(done) = s.synced_at {
                    break (s, done);
                }
            }
            if t0.elapsed() > timeout {
                return Err(SpeedError::Timeout {
                    what: format!("{bridge} to be reconciled"),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        let errors = rt
            .block_on(handle.inspect(|c| c.counters().switch_errors))
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        if errors != 0 {
            return Err(SpeedError::Controller(format!(
                "{bridge}: {errors} errors from the switch"
            )));
        }
        end_to_end.push(done.saturating_duration_since(t0));
        install.push(done.saturating_duration_since(session.connected_at));
        from_features.push(
            session
                .features_at
                .map_or(Duration::ZERO, |f| done.saturating_duration_since(f)),
        );
        let since = |t: Option<Instant>| {
            t.map(|t| t.saturating_duration_since(session.connected_at))
                .unwrap_or_default()
        };
        features.push(since(session.features_at));
        stats_reply.push(since(session.reconciled_at));
        let n = flow_count(&ovs, &bridge)?;
        if n != flows.len() {
            return Err(SpeedError::Controller(format!(
                "{bridge}: {n} flows installed, {} expected",
                flows.len()
            )));
        }
        ovs.vsctl(&["del-br", &bridge])?;
        // The switch is gone: wait until the controller noticed, for the next run.
        let deadline = Instant::now() + Duration::from_secs(30);
        while rt
            .block_on(handle.inspect(|c| c.is_ready(1)))
            .map_err(|e| SpeedError::Controller(e.to_string()))?
        {
            if Instant::now() > deadline {
                return Err(SpeedError::Timeout {
                    what: format!("the controller to notice {bridge} gone"),
                    timeout: Duration::from_secs(30),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(ovs);
    let _ = std::fs::remove_dir_all(&dir);
    let none = || SpeedError::Controller("no runs".to_owned());
    let of = |d: &[Duration]| Stats::of(d).ok_or_else(none);
    let (i, e, t, w) = (of(&install)?, of(&end_to_end)?, of(&theirs)?, of(&raw)?);
    let (f, q, v, c) = (
        of(&features)?,
        of(&stats_reply)?,
        of(&vsctl)?,
        of(&core_times)?,
    );
    let wc = of(&raw_ctl)?;
    let ff = of(&from_features)?;
    let rate = |d: Duration| flows.len() as f64 / d.as_secs_f64();
    let r = ratio(i.median, w.median);
    let path = if options.relay {
        "through the test bed's relay to TCP"
    } else {
        "on the controller's unix socket"
    };
    let spread = |s: &Stats| format!("{}-{} ms", ms(s.min), ms(s.max));
    Ok(vec![
        Row {
            what: format!(
                "startup: {} instances, {} flows: switch connected -> barrier reply",
                options.instances,
                flows.len()
            ),
            result: i.to_string(),
            baseline: w.to_string(),
            ratio: r,
            note: format!(
                "baseline: the same flow_mods pre-encoded and written at once to the bridge's \
                 management socket, connect -> barrier reply ({:.0} flows/s: Open vSwitch's \
                 pace); goal ratio <= 1: {}; ranges {} vs {}; connection {path}; features reply \
                 {} ms and flow stats reply {} ms after the connection",
                rate(w.median),
                if r <= 1.0 { "met" } else { "NOT met" },
                spread(&i),
                spread(&w),
                ms(f.median),
                ms(q.median),
            ),
        },
        Row {
            what: "startup: the switch's features reply -> barrier reply".to_owned(),
            result: ff.to_string(),
            baseline: w.to_string(),
            ratio: ratio(ff.median, w.median),
            note: format!(
                "the same without the wait for Open vSwitch to complete its connection to a \
                 controller (it takes the controller's HELLO and answers the features request \
                 at once in some runs, ~500 ms later in others, whoever the controller is); \
                 range {}",
                spread(&ff)
            ),
        },
        Row {
            what: "startup: features reply -> barrier reply, vs a do-nothing controller".to_owned(),
            result: ff.to_string(),
            baseline: wc.to_string(),
            ratio: ratio(ff.median, wc.median),
            note: format!(
                "baseline: a listener the bridge connects to as its controller says HELLO, asks \
                 for the features, and on the reply writes the pre-encoded flow_mods and a \
                 barrier at once: Open vSwitch's pace on a controller connection (range {})",
                spread(&wc)
            ),
        },
        Row {
            what: "startup: end to end, ovs-vsctl set-controller -> barrier reply".to_owned(),
            result: e.to_string(),
            baseline: w.to_string(),
            ratio: ratio(e.median, w.median),
            note: format!(
                "includes Open vSwitch reconfiguring and connecting (ovs-vsctl itself: {} ms); \
                 range {}",
                ms(v.median),
                spread(&e)
            ),
        },
        Row {
            what: "startup: vs ovs-ofctl add-flows of the same flows".to_owned(),
            result: i.to_string(),
            baseline: t.to_string(),
            ratio: ratio(i.median, t.median),
            note: format!("{:.0} vs {:.0} flows/s", rate(i.median), rate(t.median)),
        },
        Row {
            what: "startup: the controller's own part, in-process".to_owned(),
            result: c.to_string(),
            baseline: format!("{} ms", ms(copy_time)),
            ratio: ratio(c.median, copy_time),
            note: format!(
                "features reply in -> all {} bytes of flow_mods queued, simulated empty switch, \
                 no sockets; baseline: copying the pre-encoded flow_mods ({} bytes)",
                core_bytes,
                blob.len()
            ),
        },
        Row {
            what: "startup: fastest run".to_owned(),
            result: format!("{} ms", ms(i.min)),
            baseline: format!("{} ms", ms(w.min)),
            ratio: ratio(i.min, w.min),
            note: String::new(),
        },
    ])
}
