//! Data-plane latency through real Open vSwitch: elastic IP moves and security group rule
//! changes, from the call to the first (or last) packet, each made three ways in the same
//! run and observed by the same probe:
//!
//! - **api**: a SigV4-signed EC2 call over HTTP to the in-process controller
//!   ([`App`]): signature, service, SQLite commit, incremental compile, flow_mods,
//!   gratuitous ARP, barriers;
//! - **handle**: the same model change through the controller's [`Handle`]
//!   (no HTTP, no signature, no API bookkeeping; still the commit and the OpenFlow path);
//! - **ovs-ofctl** (the baseline): the same flow changes (`netrules::compile` before and after,
//!   `netrules::diff`, printed in `ovs-ofctl` syntax, prepared before the clock starts) applied
//!   with `ovs-ofctl add-flows` (and `packet-out` for the gratuitous ARP of a move), which is
//!   as fast as Open vSwitch's own tool gets a change in.
//!
//! The probe is a numbered UDP stream (one datagram per `interval`) recorded by a listener in
//! the receiving instance's namespace ([`Netns::udp_stream`], [`Netns::listen`]); its own delay
//! is reported as the *probe floor*: from an arbitrary instant to the next arrival on a path
//! that is already open (about half the interval plus the pipeline).

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use netrules::compile::{compile, cookie, CompileOptions};
use netrules::diff::diff;
use netrules::model::{
    Direction, GroupId, InstanceId, Model, Peer, Permission, PortRange, Protocol as RuleProtocol,
};
use openflow_proto::display::DisplayFlow;
use openflow_proto::{FlowMod, FlowModCommand, FlowModFlags};

use super::http::{field, Ec2Client};
use super::{ms, ratio, Row, SpeedError, Stats};
use crate::app::App;
use crate::shell::cli::{Args, FileConfig};
use crate::shell::Handle;
use crate::testbed::{
    Arrival, Background, Cloud, InstanceSpec, Listener, MacAddr, Netns, OutsideSpec, Protocol,
};

/// The access key of the account the measurements use.
pub const ACCESS_KEY: &str = "AKIAOVSEC2SPEED00001";
/// Its secret.
pub const SECRET_KEY: &str = "speedspeedspeedspeedspeedspeedspeed00001";
/// Its account id.
pub const OWNER: &str = "111122223333";
/// The outside host's MAC (the public gateway's).
const OUTSIDE_MAC: &str = "02:00:cb:00:71:01";
/// The MAC that answers for elastic IPs.
const EIP_MAC: &str = "02:00:00:00:00:03";
/// The UDP port the probes use.
const PORT: u16 = 7000;

/// How a change is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path3 {
    /// A signed EC2 API call over HTTP.
    Api,
    /// The controller's handle.
    Handle,
    /// `ovs-ofctl` with the same flow changes (the baseline).
    Ofctl,
}

impl Path3 {
    fn name(self) -> &'static str {
        match self {
            Path3::Api => "EC2 API",
            Path3::Handle => "controller handle",
            Path3::Ofctl => "ovs-ofctl",
        }
    }
}

/// Options of the data-plane measurements.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Changes per path (rounded up to an even number: every pair returns to the start).
    pub iterations: usize,
    /// The probe stream's interval.
    pub interval: Duration,
    /// Pause between two changes.
    pub settle: Duration,
    /// How long a port must stay silent to count as closed.
    pub quiet: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            iterations: 20,
            interval: Duration::from_millis(1),
            settle: Duration::from_millis(250),
            quiet: Duration::from_millis(250),
        }
    }
}

impl Options {
    fn pairs(&self) -> usize {
        self.iterations.div_ceil(2).max(1)
    }
}

/// An instance launched through the API and plugged into a bridge.
#[derive(Debug, Clone)]
struct Launched {
    id: String,
    ip: Ipv4Addr,
    dpid: u64,
    bridge: &'static str,
}

/// The controller (in-process, with its API) and the seed cloud connected to it.
struct Bed {
    rt: tokio::runtime::Runtime,
    app: Option<App>,
    client: Ec2Client,
    cloud: Cloud,
    compile: CompileOptions,
    dir: PathBuf,
}

impl std::fmt::Debug for Bed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bed").field("dir", &self.dir).finish()
    }
}

static BED_COUNTER: AtomicU32 = AtomicU32::new(0);

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> SpeedError {
    let what = what.into();
    move |source| SpeedError::Io { what, source }
}

/// A fresh scratch directory under the system's temporary directory.
pub(super) fn scratch_dir(kind: &str) -> Result<PathBuf, SpeedError> {
    let dir = std::env::temp_dir().join(format!(
        "ovs-ec2-speed-{kind}-{}-{}",
        std::process::id(),
        BED_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
    Ok(dir)
}

impl Bed {
    fn start() -> Result<Bed, SpeedError> {
        let dir = scratch_dir("bed")?;
        let state = dir.join("state.sqlite3");
        let args = Args::parse_from([
            "controller",
            "--listen",
            "127.0.0.1:0",
            "--api-listen",
            "127.0.0.1:0",
            "--state-file",
            &state.to_string_lossy(),
            "--pool",
            "203.0.113.100-203.0.113.109",
        ]);
        let toml = format!(
            "[[accounts]]\naccess_key = \"{ACCESS_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
             owner = \"{OWNER}\"\n\n[model.settings]\nsubnet = \"10.0.0.0/24\"\n\
             gateway = \"10.0.0.1\"\nrouter_mac = \"02:00:00:00:00:01\"\n\
             public_gateway = \"203.0.113.1\"\npublic_gateway_mac = \"{OUTSIDE_MAC}\"\n\
             elastic_ip_mac = \"{EIP_MAC}\"\n\n[[model.switches]]\ndpid = 1\nuplink = 1\n\n\
             [[model.switches]]\ndpid = 2\nuplink = 1\n"
        );
        let file =
            FileConfig::parse(&toml).map_err(|e| SpeedError::Controller(format!("config: {e}")))?;
        let mut resolved = args
            .merge(file)
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        let store = resolved
            .open_state(&args)
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        let compile = resolved.config.compile;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(io("starting a tokio runtime"))?;
        let app = rt
            .block_on(App::start(resolved, store))
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        let outside = OutsideSpec {
            addresses: vec![
                ipnetwork::Ipv4Network::new(Ipv4Addr::new(203, 0, 113, 1), 24)
                    .map_err(|e| SpeedError::Controller(e.to_string()))?,
            ],
            gateway: None,
            mac: Some(parse_mac(OUTSIDE_MAC)?),
        };
        let cloud = Cloud::seed().prefix("oesp").outside(outside).start()?;
        let openflow = app
            .openflow
            .first()
            .copied()
            .ok_or_else(|| SpeedError::Controller("no OpenFlow listener".to_owned()))?;
        cloud.set_controller(openflow)?;
        let client = Ec2Client::new(app.api, "controller", ACCESS_KEY, SECRET_KEY);
        Ok(Bed {
            rt,
            app: Some(app),
            client,
            cloud,
            compile,
            dir,
        })
    }

    fn handle(&self) -> Result<Handle, SpeedError> {
        self.app
            .as_ref()
            .map(|a| a.handle.clone())
            .ok_or_else(|| SpeedError::Controller("stopped".to_owned()))
    }

    fn model(&self) -> Result<Model, SpeedError> {
        let h = self.handle()?;
        self.rt
            .block_on(h.inspect(|c| c.model().clone()))
            .map_err(|e| SpeedError::Controller(e.to_string()))
    }

    /// RunInstances (in `group`, or the default group) and plug the instance into `bridge`.
    fn launch(
        &mut self,
        group: Option<&str>,
        bridge: &'static str,
    ) -> Result<Launched, SpeedError> {
        let params = match group {
            Some(g) => format!("ImageId=ami-00000001&MinCount=1&MaxCount=1&SecurityGroup.1={g}"),
            None => "ImageId=ami-00000001&MinCount=1&MaxCount=1".to_owned(),
        };
        let r = self.client.call("RunInstances", &params)?;
        let id = field("RunInstances", &r.body, "instanceId")?;
        let ip: Ipv4Addr = field("RunInstances", &r.body, "privateIpAddress")?
            .parse()
            .map_err(|e| SpeedError::BadResponse {
                addr: self.client_addr(),
                detail: format!("privateIpAddress: {e}"),
            })?;
        let o = ip.octets();
        let mac = parse_mac(&format!(
            "02:0e:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3]
        ))?;
        let net = ipnetwork::Ipv4Network::new(ip, 24)
            .map_err(|e| SpeedError::Controller(e.to_string()))?;
        self.cloud.add_instance(
            bridge,
            InstanceSpec::new(&id, net)
                .mac(mac)
                .gateway(Ipv4Addr::new(10, 0, 0, 1))
                .ofport(10),
        )?;
        let dpid = if bridge == "hv1" { 1 } else { 2 };
        Ok(Launched {
            id,
            ip,
            dpid,
            bridge,
        })
    }

    fn client_addr(&self) -> SocketAddr {
        self.app
            .as_ref()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |a| a.api)
    }

    /// Both switches reconciled and every instance bound to its port.
    fn wait_ready(&self) -> Result<(), SpeedError> {
        let h = self.handle()?;
        let timeout = Duration::from_secs(30);
        let deadline = Instant::now() + timeout;
        loop {
            let ready = self
                .rt
                .block_on(h.inspect(|c| {
                    c.is_ready(1)
                        && c.is_ready(2)
                        && c.model()
                            .instances()
                            .values()
                            .all(|i| i.attachment.is_some())
                }))
                .map_err(|e| SpeedError::Controller(e.to_string()))?;
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(SpeedError::Timeout {
                    what: "both switches reconciled and every instance bound".to_owned(),
                    timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn netns(&self, id: &str) -> Result<&Netns, SpeedError> {
        Ok(self.cloud.instance(id)?.netns())
    }

    /// Runs `ovs-ofctl -O OpenFlow10 COMMAND unix:<bridge> ARGS` directly (blocking wait, no
    /// polling), for the baseline.
    fn ofctl(&self, command: &str, bridge: &str, args: &[&str]) -> Result<(), SpeedError> {
        ofctl(self.cloud.ovs(), command, bridge, args)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            self.rt.block_on(app.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `ovs-ofctl -O OpenFlow10 COMMAND unix:<bridge mgmt socket> ARGS` against `ovs`, waiting
/// for it without polling.
pub(super) fn ofctl(
    ovs: &crate::testbed::Ovs,
    command: &str,
    bridge: &str,
    args: &[&str],
) -> Result<(), SpeedError> {
    let mut cmd = Command::new("ovs-ofctl");
    for var in ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"] {
        cmd.env(var, ovs.dir());
    }
    cmd.args(["-O", "OpenFlow10", command])
        .arg(format!("unix:{}", ovs.mgmt_socket(bridge).display()))
        .args(args);
    let text = format!("ovs-ofctl {command} {bridge} {}", args.join(" "));
    let out = cmd.output().map_err(io(format!("running {text}")))?;
    if !out.status.success() {
        return Err(SpeedError::Command {
            command: text,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(())
}

fn parse_mac(s: &str) -> Result<MacAddr, SpeedError> {
    s.parse()
        .map_err(|e: crate::testbed::TestbedError| SpeedError::Testbed(e))
}

/// A flow_mod in the syntax `ovs-ofctl add-flows` reads (with its command word).
pub fn ofctl_line(fm: &FlowMod) -> String {
    let flow = DisplayFlow::new(&fm.r#match, fm.priority);
    match fm.command {
        FlowModCommand::DeleteStrict => format!("delete_strict {flow}"),
        FlowModCommand::Delete => format!("delete {flow}"),
        command => {
            let word = match command {
                FlowModCommand::Modify => "modify",
                FlowModCommand::ModifyStrict => "modify_strict",
                _ => "add",
            };
            let mut extra = String::new();
            if fm.idle_timeout != 0 {
                extra.push_str(&format!("idle_timeout={},", fm.idle_timeout));
            }
            if fm.hard_timeout != 0 {
                extra.push_str(&format!("hard_timeout={},", fm.hard_timeout));
            }
            if fm.flags.contains(FlowModFlags::SEND_FLOW_REM) {
                extra.push_str("send_flow_rem,");
            }
            let flow = flow.to_string();
            let sep = if flow.is_empty() { "" } else { "," };
            format!(
                "{word} cookie={:#x},{extra}{flow}{sep} actions={}",
                fm.cookie, fm.actions
            )
            .replace(", actions=", " actions=")
        }
    }
}

/// The flow changes that turn `before` into `after`, per switch, as `ovs-ofctl add-flows` files
/// written into `dir`; switches without a change are left out.
fn ofctl_files(
    dir: &Path,
    before: &Model,
    after: &Model,
    options: &CompileOptions,
    extra: &[(u64, String)],
) -> Result<BTreeMap<u64, PathBuf>, SpeedError> {
    let old = compile(before, options);
    let new = compile(after, options);
    let empty = Vec::new();
    let mut files = BTreeMap::new();
    for dpid in old.keys().chain(new.keys()) {
        if files.contains_key(dpid) {
            continue;
        }
        let mods = diff(
            old.get(dpid).unwrap_or(&empty),
            new.get(dpid).unwrap_or(&empty),
        );
        let mut text: String = mods.iter().map(|m| ofctl_line(m) + "\n").collect();
        for (d, line) in extra {
            if d == dpid {
                text.push_str(line);
                text.push('\n');
            }
        }
        if text.is_empty() {
            continue;
        }
        let path = dir.join(format!("change-{dpid}.flows"));
        std::fs::write(&path, text).map_err(io(format!("writing {}", path.display())))?;
        files.insert(*dpid, path);
    }
    Ok(files)
}

fn bridge_of(dpid: u64) -> &'static str {
    if dpid == 1 {
        "hv1"
    } else {
        "hv2"
    }
}

/// Waits for the first arrival at or after `t0`.
fn first_after(l: &Listener, t0: Instant, what: &str) -> Result<Duration, SpeedError> {
    let timeout = Duration::from_secs(5);
    l.wait_for(timeout, |a: &Arrival| a.at >= t0)
        .map(|a| a.at.saturating_duration_since(t0))
        .ok_or_else(|| SpeedError::Timeout {
            what: what.to_owned(),
            timeout,
        })
}

/// Waits until nothing arrived for `quiet`; returns the time from `t0` to the last arrival
/// (zero when nothing arrived after `t0`).
fn last_after(
    l: &Listener,
    t0: Instant,
    quiet: Duration,
    what: &str,
) -> Result<Duration, SpeedError> {
    let timeout = Duration::from_secs(5);
    let deadline = t0 + timeout;
    loop {
        std::thread::sleep(quiet / 5);
        let last = l.arrivals().iter().map(|a| a.at).max();
        let now = Instant::now();
        match last {
            Some(at) if now.saturating_duration_since(at) < quiet && now > deadline => {
                return Err(SpeedError::Timeout {
                    what: what.to_owned(),
                    timeout,
                });
            }
            Some(at) if now.saturating_duration_since(at) < quiet => {}
            Some(at) => return Ok(at.saturating_duration_since(t0)),
            None if now.saturating_duration_since(t0) >= quiet => return Ok(Duration::ZERO),
            None => {}
        }
    }
}

/// The probe's own delay: from an arbitrary instant to the next arrival on an open path.
fn probe_floor(
    l: &Listener,
    samples: usize,
    settle: Duration,
) -> Result<Vec<Duration>, SpeedError> {
    let mut out = Vec::new();
    for i in 0..samples {
        // Spread the start instants over the stream's interval.
        std::thread::sleep(settle / 4 + Duration::from_micros(137 * i as u64));
        l.take_arrivals();
        let t0 = Instant::now();
        out.push(first_after(
            l,
            t0,
            "the next probe datagram on an open path",
        )?);
    }
    Ok(out)
}

fn stats(what: &str, samples: &[Duration]) -> Result<Stats, SpeedError> {
    Stats::of(samples).ok_or_else(|| SpeedError::Timeout {
        what: format!("samples of {what}"),
        timeout: Duration::ZERO,
    })
}

fn row(what: &str, result: &Stats, baseline: &Stats, goal: Option<Duration>) -> Row {
    let note = match goal {
        Some(g) if result.median < g && result.p90 < g => format!("goal < {} ms: met", ms(g)),
        Some(g) => format!("goal < {} ms: NOT met", ms(g)),
        None => String::new(),
    };
    Row {
        what: what.to_owned(),
        result: result.to_string(),
        baseline: baseline.to_string(),
        ratio: ratio(result.median, baseline.median),
        note,
    }
}

/// An elastic IP moved between instances on two hypervisors, from the call to the first
/// datagram delivered to the new instance (an outside host streams to the address); see the
/// module docs. Rows: each path against the `ovs-ofctl` baseline, the API call's own
/// duration, and the probe floor.
pub fn eip_move(options: &Options) -> Result<Vec<Row>, SpeedError> {
    let mut bed = Bed::start()?;
    let a = bed.launch(None, "hv1")?;
    let b = bed.launch(None, "hv2")?;
    bed.client.call(
        "AuthorizeSecurityGroupIngress",
        &format!(
            "GroupName=default&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort={PORT}\
             &IpPermissions.1.ToPort={PORT}&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
        ),
    )?;
    bed.wait_ready()?;
    let r = bed.client.call("AllocateAddress", "Domain=vpc")?;
    let allocation = field("AllocateAddress", &r.body, "allocationId")?;
    let eip: Ipv4Addr = field("AllocateAddress", &r.body, "publicIp")?
        .parse()
        .map_err(|e| SpeedError::Controller(format!("publicIp: {e}")))?;
    bed.client.call(
        "AssociateAddress",
        &format!("AllocationId={allocation}&InstanceId={}", a.id),
    )?;
    // The outside host keeps the address's MAC (which does not change on a move): what a move
    // changes is where the outside segment delivers that MAC.
    let out = bed.cloud.outside_host();
    out.exec_ok(
        "ip",
        &[
            "neigh",
            "replace",
            &eip.to_string(),
            "lladdr",
            EIP_MAC,
            "dev",
            "eth0",
            "nud",
            "permanent",
        ],
    )?;
    // The listeners echo every datagram; the echoes would leave the instances as the elastic
    // IP (source MAC: the elastic-IP MAC) and re-teach the outside segment where that MAC is.
    // An echo still in flight from the old host after the move's gratuitous ARP sends the
    // segment back to the old host until the next announcement: a real race, but not the
    // latency measured here, so the instances drop their echoes (a blackhole route).
    for id in [&a.id, &b.id] {
        bed.netns(id)?
            .exec_ok("ip", &["route", "add", "blackhole", "203.0.113.1/32"])?;
    }
    let la = bed.netns(&a.id)?.listen(Protocol::Udp, PORT)?;
    let lb = bed.netns(&b.id)?.listen(Protocol::Udp, PORT)?;
    let _stream: Background = out.udp_stream(
        SocketAddr::from((eip, PORT)),
        options.interval,
        u64::MAX / 2,
    )?;
    first_after(
        &la,
        Instant::now(),
        "the stream to reach the first instance",
    )?;
    let floor = probe_floor(&la, options.pairs() * 2, options.settle)?;

    let mut samples: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut calls = Vec::new();
    let handle = bed.handle()?;
    for path in [Path3::Api, Path3::Handle, Path3::Ofctl] {
        if path == Path3::Ofctl {
            // The controller's gratuitous ARP rounds for its last move must be over before
            // the baseline moves the address behind its back.
            std::thread::sleep(Duration::from_millis(2500));
        }
        let mut shadow = bed.model()?;
        for i in 0..options.pairs() * 2 {
            let (to, from, l_to) = if i % 2 == 0 {
                (&b, &a, &lb)
            } else {
                (&a, &b, &la)
            };
            std::thread::sleep(options.settle);
            la.take_arrivals();
            lb.take_arrivals();
            let target = InstanceId::new(to.id.as_str())?;
            let t0;
            match path {
                Path3::Api => {
                    let params = format!(
                        "AllocationId={allocation}&InstanceId={}&AllowReassociation=true",
                        to.id
                    );
                    t0 = Instant::now();
                    bed.client.call("AssociateAddress", &params)?;
                    calls.push(t0.elapsed());
                }
                Path3::Handle => {
                    t0 = Instant::now();
                    bed.rt
                        .block_on(handle.change(move |m| m.associate(eip, &target, true)))
                        .map_err(|e| SpeedError::Controller(e.to_string()))?;
                }
                Path3::Ofctl => {
                    let mut next = shadow.clone();
                    next.associate(eip, &target, true)?;
                    let files = ofctl_files(&bed.dir, &shadow, &next, &bed.compile, &[])?;
                    shadow = next;
                    let garp = garp_hex(eip)?;
                    let new_file = files
                        .get(&to.dpid)
                        .map(|p| p.to_string_lossy().into_owned());
                    let old_file = files
                        .get(&from.dpid)
                        .map(|p| p.to_string_lossy().into_owned());
                    t0 = Instant::now();
                    if let Some(f) = &new_file {
                        bed.ofctl("add-flows", to.bridge, &[f])?;
                    }
                    // The old host's flows go before the announcement: its flooded copy
                    // would otherwise reach the old host's ARP flows, and the controller
                    // (whose model still has the address there) would answer it from there.
                    if let Some(f) = &old_file {
                        bed.ofctl("add-flows", from.bridge, &[f])?;
                    }
                    bed.ofctl("packet-out", to.bridge, &[&garp])?;
                }
            }
            let d = first_after(
                l_to,
                t0,
                &format!("{} to deliver after a move", path.name()),
            )?;
            samples.entry(path.name()).or_default().push(d);
        }
    }
    let get = |p: Path3| stats(p.name(), samples.get(p.name()).map_or(&[][..], |v| v));
    let base = get(Path3::Ofctl)?;
    let floor = stats("probe floor", &floor)?;
    let goal = Some(Duration::from_millis(100));
    Ok(vec![
        row(
            "eip-move: EC2 API call -> first packet",
            &get(Path3::Api)?,
            &base,
            goal,
        ),
        row(
            "eip-move: handle.change -> first packet",
            &get(Path3::Handle)?,
            &base,
            goal,
        ),
        row(
            "eip-move: AssociateAddress answered",
            &stats("calls", &calls)?,
            &base,
            None,
        ),
        row("eip-move: probe floor (open path)", &floor, &base, None),
    ])
}

/// A packet-out (in `ovs-ofctl` syntax) of a gratuitous ARP for `ip` at the elastic-IP MAC out
/// of the uplink (port 1), as the controller sends it.
fn garp_hex(ip: Ipv4Addr) -> Result<String, SpeedError> {
    let mac = arp_responder::MacAddr(parse_mac(EIP_MAC)?.0);
    let frame =
        arp_responder::ArpFrame::gratuitous(arp_responder::GratuitousForm::Request, mac, ip, None);
    let mut buf = [0u8; arp_responder::MAX_FRAME_LEN];
    let n = frame
        .write(&mut buf)
        .map_err(|e| SpeedError::Controller(format!("gratuitous ARP: {e}")))?;
    Ok(format!(
        "in_port=none packet={} actions=output:1",
        hex::encode(buf.get(..n).unwrap_or_default())
    ))
}

/// A UDP port opened by authorizing an ingress rule (from anywhere) on the receiver's group,
/// and closed by revoking it, while an instance on the other hypervisor streams to it; see the
/// module docs. Rows: authorize to the first datagram, revoke to the last, each path against
/// the `ovs-ofctl` baseline, and the probe floor.
pub fn rules(options: &Options) -> Result<Vec<Row>, SpeedError> {
    let mut bed = Bed::start()?;
    let r = bed.client.call(
        "CreateSecurityGroup",
        "GroupName=speed&GroupDescription=speed",
    )?;
    let gid = field("CreateSecurityGroup", &r.body, "groupId")?;
    let a = bed.launch(None, "hv1")?;
    let b = bed.launch(Some("speed"), "hv2")?;
    bed.wait_ready()?;
    // The receiver drops its listener's echoes (a blackhole route to the sender): an echo
    // makes the exchange a tracked connection both ways, whose pinholes legitimately outlive
    // a revoke, which is not what is measured here.
    bed.netns(&b.id)?.exec_ok(
        "ip",
        &["route", "add", "blackhole", &format!("{}/32", a.ip)],
    )?;
    let lb = bed.netns(&b.id)?.listen(Protocol::Udp, PORT)?;
    let _stream = bed.netns(&a.id)?.udp_stream(
        SocketAddr::from((b.ip, PORT)),
        options.interval,
        u64::MAX / 2,
    )?;
    let params = format!(
        "GroupId={gid}&IpPermissions.1.IpProtocol=udp&IpPermissions.1.FromPort={PORT}\
         &IpPermissions.1.ToPort={PORT}&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"
    );
    // The probe floor, with the port open.
    bed.client.call("AuthorizeSecurityGroupIngress", &params)?;
    first_after(&lb, Instant::now(), "the stream to reach the receiver")?;
    let floor = probe_floor(&lb, options.pairs() * 2, options.settle)?;
    bed.client.call("RevokeSecurityGroupIngress", &params)?;
    last_after(&lb, Instant::now(), options.quiet, "the port to close")?;

    let group = GroupId::new(gid.as_str())?;
    let permission = Permission::new(RuleProtocol::Udp(PortRange::single(PORT)), Peer::anywhere())?;
    let handle = bed.handle()?;
    let mut open: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut close: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    // Cutting the pinholes, as the controller does for the rules it changes.
    let pinholes = format!(
        "delete cookie={:#x}/{:#x}",
        cookie::PINHOLE,
        cookie::KIND_MASK
    );
    let cut = [(1, pinholes.clone()), (2, pinholes)];
    for path in [Path3::Api, Path3::Handle, Path3::Ofctl] {
        let mut shadow = bed.model()?;
        for _ in 0..options.pairs() {
            for opening in [true, false] {
                std::thread::sleep(options.settle);
                lb.take_arrivals();
                let t0;
                match path {
                    Path3::Api => {
                        let action = if opening {
                            "AuthorizeSecurityGroupIngress"
                        } else {
                            "RevokeSecurityGroupIngress"
                        };
                        t0 = Instant::now();
                        bed.client.call(action, &params)?;
                    }
                    Path3::Handle => {
                        let (g, p) = (group.clone(), permission.clone());
                        t0 = Instant::now();
                        let applied = bed.rt.block_on(handle.change(move |m| {
                            if opening {
                                m.authorize(&g, Direction::Ingress, p)
                            } else {
                                m.revoke(&g, Direction::Ingress, &p)
                            }
                        }));
                        applied.map_err(|e| SpeedError::Controller(e.to_string()))?;
                    }
                    Path3::Ofctl => {
                        let mut next = shadow.clone();
                        if opening {
                            next.authorize(&group, Direction::Ingress, permission.clone())?;
                        } else {
                            next.revoke(&group, Direction::Ingress, &permission)?;
                        }
                        let extra = if opening { &[][..] } else { &cut[..] };
                        let files = ofctl_files(&bed.dir, &shadow, &next, &bed.compile, extra)?;
                        shadow = next;
                        let files: Vec<(&str, String)> = files
                            .iter()
                            .map(|(d, p)| (bridge_of(*d), p.to_string_lossy().into_owned()))
                            .collect();
                        t0 = Instant::now();
                        for (bridge, f) in &files {
                            bed.ofctl("add-flows", bridge, &[f])?;
                        }
                    }
                }
                if opening {
                    let d = first_after(&lb, t0, &format!("{} to open the port", path.name()))?;
                    open.entry(path.name()).or_default().push(d);
                } else {
                    let what = format!("{} to close the port", path.name());
                    let d = last_after(&lb, t0, options.quiet, &what)?;
                    close.entry(path.name()).or_default().push(d);
                }
            }
        }
    }
    let get = |m: &BTreeMap<&str, Vec<Duration>>, p: Path3| {
        stats(p.name(), m.get(p.name()).map_or(&[][..], |v| v))
    };
    let goal = Some(Duration::from_millis(50));
    let (ob, cb) = (get(&open, Path3::Ofctl)?, get(&close, Path3::Ofctl)?);
    let floor = stats("probe floor", &floor)?;
    Ok(vec![
        row(
            "rules: authorize (API) -> port open",
            &get(&open, Path3::Api)?,
            &ob,
            goal,
        ),
        row(
            "rules: authorize (handle) -> port open",
            &get(&open, Path3::Handle)?,
            &ob,
            goal,
        ),
        row(
            "rules: revoke (API) -> port closed",
            &get(&close, Path3::Api)?,
            &cb,
            goal,
        ),
        row(
            "rules: revoke (handle) -> port closed",
            &get(&close, Path3::Handle)?,
            &cb,
            goal,
        ),
        row("rules: probe floor (open path)", &floor, &ob, None),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow_proto::{Action, Match, PortNo};

    #[test]
    fn flow_mods_print_as_ovs_ofctl_input() {
        let mut m = Match::any();
        m.dl_type = Some(0x0800);
        m.nw_proto = Some(17);
        m.tp_dst = Some(7000);
        let mut add = FlowMod::add(m, 300, vec![Action::output(PortNo(10))]);
        add.cookie = 0x0100_0000_0000_0001;
        assert_eq!(
            ofctl_line(&add),
            "add cookie=0x100000000000001,priority=300,udp,tp_dst=7000 actions=output:10"
        );
        let del = FlowMod::delete_strict(m, 300);
        assert_eq!(
            ofctl_line(&del),
            "delete_strict priority=300,udp,tp_dst=7000"
        );
        let drop_all = FlowMod::add(Match::any(), 0, vec![]);
        assert_eq!(
            ofctl_line(&drop_all),
            "add cookie=0x0,priority=0 actions=drop"
        );
    }
}
