//! Flow installation at start-up: a fresh bridge filled with the compiled flows of many
//! instances by the controller when the bridge connects (handshake, flow stats, reconcile,
//! flow_mods, up to the barrier reply), next to `ovs-ofctl add-flows` of the same flows
//! (`netrules::compile`, printed in `ovs-ofctl` syntax) into another fresh bridge of the same
//! Open vSwitch: as fast as Open vSwitch accepts flow_mods from its own tool.

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
use crate::shell;
use crate::testbed::{BridgeSpec, Ovs};

/// Options of the start-up measurement.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Instances on the one switch.
    pub instances: usize,
    /// Runs of each (fresh bridges every time).
    pub runs: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instances: 10_000,
            runs: 3,
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
    m.add_group(SecurityGroup::new(
        GroupId::new("sg-marker")?,
        "marker",
        owner.clone(),
        "marker",
    ))?;
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

/// Sends `blob` (pre-encoded flow_mods) to the bridge's management socket as an OpenFlow 1.0
/// client after HELLO, then a barrier; returns when the barrier reply arrives: as fast as Open
/// vSwitch takes flow_mods, with nothing else on the way.
fn blast(ovs: &Ovs, bridge: &str, blob: &[u8]) -> Result<Duration, SpeedError> {
    let path = ovs.mgmt_socket(bridge);
    let io = |what: &str| {
        let what = format!("{what} {}", path.display());
        move |source| SpeedError::Io { what, source }
    };
    let mut out = BytesMut::new();
    let encode = |m: &Message, xid: u32, out: &mut BytesMut| {
        m.encode(xid, out)
            .map_err(|e| SpeedError::Controller(format!("encoding {m:?}: {e}")))
    };
    encode(&Message::Hello(Bytes::new()), 1, &mut out)?;
    let hello = out.split().freeze();
    encode(&Message::BarrierRequest, 0xb0b0, &mut out)?;
    let barrier = out.split().freeze();
    let t0 = Instant::now();
    let mut sock = UnixStream::connect(&path).map_err(io("connecting to"))?;
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

/// The start-up measurement; see the module docs. Rows: the controller's time to a full table
/// against `ovs-ofctl add-flows` of the same flows, and the flow rate of each.
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
    let marker_id = InstanceId::new("i-ffffffff")?;
    controller.pin(marker_id.clone(), true);
    let handle = rt
        .block_on(shell::spawn(
            controller,
            &[SocketAddr::from(([127, 0, 0, 1], 0))],
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
    let ovs = Ovs::start_with_prefix("oesu")?;

    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    let mut raw = Vec::new();
    let mut queued = Vec::new();
    let mut vsctl = Vec::new();
    let mut features = Vec::new();
    let mut marker_port = 0xfe00u16;
    for run in 0..options.runs.max(1) {
        // The baseline: ovs-ofctl into a fresh bridge.
        let base = format!("base{run}");
        ovs.add_bridge(&BridgeSpec::new(&base, 0x100 + run as u64))?;
        let t0 = Instant::now();
        ofctl(&ovs, "add-flows", &base, &[&file])?;
        theirs.push(t0.elapsed());
        let n = flow_count(&ovs, &base)?;
        if n != flows.len() {
            return Err(SpeedError::Command {
                command: format!("ovs-ofctl add-flows {base}"),
                detail: format!("{n} flows installed, {} expected", flows.len()),
            });
        }
        ovs.vsctl(&["del-br", &base])?;

        // The floor: the same flow_mods, pre-encoded, written to a fresh bridge at once.
        let bare = format!("raw{run}");
        ovs.add_bridge(&BridgeSpec::new(&bare, 0x200 + run as u64))?;
        raw.push(blast(&ovs, &bare, &blob)?);
        let n = flow_count(&ovs, &bare)?;
        if n != flows.len() {
            return Err(SpeedError::Command {
                command: format!("flow_mods to {bare}"),
                detail: format!("{n} flows installed, {} expected", flows.len()),
            });
        }
        ovs.vsctl(&["del-br", &bare])?;

        // The controller: a fresh bridge with datapath id 1 connects.
        let bridge = format!("ctl{run}");
        ovs.add_bridge(&BridgeSpec::new(&bridge, 1))?;
        let t0 = Instant::now();
        ovs.set_controller(&bridge, addr)?;
        vsctl.push(t0.elapsed());
        let timeout = Duration::from_secs(300);
        loop {
            let (known, ready) = rt
                .block_on(handle.inspect(|c| (c.switches().contains_key(&1), c.is_ready(1))))
                .map_err(|e| SpeedError::Controller(e.to_string()))?;
            if known && features.len() <= run {
                features.push(t0.elapsed());
            }
            if ready {
                break;
            }
            if t0.elapsed() > timeout {
                return Err(SpeedError::Timeout {
                    what: format!("{bridge} to be reconciled"),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        queued.push(t0.elapsed());
        // The reconciliation's flow_mods are queued, then its barrier: one more change to
        // this switch is acknowledged after them (the switch handles its messages in order).
        marker_port -= 1;
        let marker = Instance {
            id: marker_id.clone(),
            owner: OwnerId::new("111122223333")?,
            mac: mac("02:0e:0a:00:ff:fe")?,
            ip: Ipv4Addr::new(10, 0, 255, 254),
            groups: BTreeSet::from([GroupId::new("sg-marker")?]),
            attachment: Some(Attachment {
                switch: 1,
                port: PortNo(marker_port),
            }),
        };
        let mid = marker_id.clone();
        let applied = rt
            .block_on(handle.change(move |m| {
                if m.instance(&mid).is_some() {
                    m.attach(&mid, marker.attachment)
                } else {
                    m.add_instance(marker)
                }
            }))
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        let elapsed = t0.elapsed();
        if applied.acknowledged != [1] || applied.errors != 0 {
            return Err(SpeedError::Controller(format!(
                "the marker change was not acknowledged cleanly: {applied:?}"
            )));
        }
        ours.push(elapsed);
        let n = flow_count(&ovs, &bridge)?;
        if n < flows.len() {
            return Err(SpeedError::Controller(format!(
                "{bridge}: {n} flows installed, at least {} expected",
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
    let q = Stats::of(&queued).ok_or_else(none)?;
    let v = Stats::of(&vsctl).ok_or_else(none)?;
    let f = Stats::of(&features).ok_or_else(none)?;
    let (o, t, w) = (
        Stats::of(&ours).ok_or_else(none)?,
        Stats::of(&theirs).ok_or_else(none)?,
        Stats::of(&raw).ok_or_else(none)?,
    );
    let rate = |d: Duration| flows.len() as f64 / d.as_secs_f64();
    let r = ratio(o.median, t.median);
    Ok(vec![
        Row {
            what: format!(
                "startup: {} instances, {} flows, connect -> barrier",
                options.instances,
                flows.len()
            ),
            result: o.to_string(),
            baseline: t.to_string(),
            ratio: r,
            note: format!(
                "{:.0} vs {:.0} flows/s; goal: not slower than ovs-ofctl (ratio <= 1): {}",
                rate(o.median),
                rate(t.median),
                if r <= 1.0 { "met" } else { "NOT met" }
            ),
        },
        Row {
            what: "startup: vs pre-encoded flow_mods + barrier".to_owned(),
            result: o.to_string(),
            baseline: w.to_string(),
            ratio: ratio(o.median, w.median),
            note: format!(
                "{:.0} flows/s: how fast Open vSwitch takes flow_mods from a client doing \
                 nothing else; the controller had queued them all {} ms after the start \
                 (`ovs-vsctl set-controller` itself: {} ms; features reply: {} ms)",
                rate(w.median),
                ms(q.median),
                ms(v.median),
                ms(f.median)
            ),
        },
        Row {
            what: "startup: fastest run".to_owned(),
            result: format!("{} ms", ms(o.min)),
            baseline: format!("{} ms", ms(t.min)),
            ratio: ratio(o.min, t.min),
            note: String::new(),
        },
    ])
}
