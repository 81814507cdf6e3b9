//! A private Open vSwitch: `ovsdb-server` and `ovs-vswitchd` with their own run directory, the
//! switch daemon inside its own network namespace.

use std::collections::HashMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use super::flows::{parse_dump_flows, FlowEntry};
use super::netns::Netns;
use super::process::{self, run_with_timeout, wait_with_deadline, COMMAND_TIMEOUT};
use super::relay::Relay;
use super::{
    check_prerequisites, cleanup_stale, unique_base, validate_ifname, Result, TestbedError,
    DEFAULT_PREFIX, VSWITCH_SCHEMA,
};

/// How long a daemon may take to start and become ready.
const DAEMON_READY: Duration = Duration::from_secs(20);
/// How long a daemon gets to exit after SIGTERM before SIGKILL.
const DAEMON_GRACE: Duration = Duration::from_secs(3);

/// How a bridge is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BridgeSpec {
    /// The bridge name (a kernel tap device in the switch namespace: at most 15 bytes).
    pub name: String,
    /// The datapath id, pinned in `other-config:datapath-id` (otherwise adding ports may change it).
    pub datapath_id: u64,
    /// `fail_mode=secure` (flows stay, nothing is forwarded without them) if true, else
    /// `standalone` (a learning switch when no controller is connected).
    pub fail_secure: bool,
}

impl BridgeSpec {
    /// A secure OpenFlow 1.0 bridge with this name and datapath id.
    pub fn new(name: &str, datapath_id: u64) -> BridgeSpec {
        BridgeSpec {
            name: name.to_owned(),
            datapath_id,
            fail_secure: true,
        }
    }
}

/// A private Open vSwitch instance. Stopped, and its namespace and run directory removed, on drop
/// (the run directory with its logs is kept when the thread is panicking, and its path printed).
#[derive(Debug)]
pub struct Ovs {
    base: String,
    prefix: String,
    dir: PathBuf,
    switch_ns: Netns,
    ovsdb_pid: Option<u32>,
    vswitchd_pid: Mutex<Option<u32>>,
    relays: Mutex<HashMap<String, Relay>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    match mutex.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

impl Ovs {
    /// Starts a private Open vSwitch with the default name prefix.
    pub fn start() -> Result<Ovs> {
        Ovs::start_with_prefix(DEFAULT_PREFIX)
    }

    /// Starts a private Open vSwitch whose names start with `prefix`: checks the prerequisites,
    /// removes stale leftovers of crashed runs with this prefix, creates the database and the
    /// switch namespace, and starts both daemons, waiting until they answer.
    pub fn start_with_prefix(prefix: &str) -> Result<Ovs> {
        check_prerequisites()?;
        cleanup_stale(prefix)?;
        let base = unique_base(prefix)?;
        let switch_ns = Netns::create(&format!("{base}-sw"))?;
        let dir = std::env::temp_dir().join(&base);
        std::fs::create_dir_all(&dir).map_err(|source| TestbedError::Io {
            what: "creating the run directory".to_owned(),
            path: dir.clone(),
            source,
        })?;
        // From here on, Drop cleans up whatever was set up.
        let mut ovs = Ovs {
            prefix: prefix.to_owned(),
            switch_ns,
            ovsdb_pid: None,
            vswitchd_pid: Mutex::new(None),
            relays: Mutex::new(HashMap::new()),
            dir,
            base,
        };
        let db = ovs.dir.join("conf.db");
        let mut create = ovs.ovs_command("ovsdb-tool");
        create.arg("create").arg(&db).arg(VSWITCH_SCHEMA);
        run_with_timeout(create, COMMAND_TIMEOUT)?.into_success()?;

        let mut server = ovs.ovs_command("ovsdb-server");
        server
            .arg(&db)
            .arg(format!("--remote=punix:{}", ovs.db_socket().display()))
            .args(ovs.daemon_args("ovsdb-server"));
        ovs.ovsdb_pid = Some(ovs.start_daemon("ovsdb-server", server)?);
        ovs.wait_answering("ovsdb-server")?;
        ovs.vsctl(&["--no-wait", "init"])?;
        ovs.start_vswitchd()?;
        Ok(ovs)
    }

    fn daemon_args(&self, daemon: &str) -> Vec<String> {
        let path = |ext: &str| {
            self.dir
                .join(format!("{daemon}.{ext}"))
                .display()
                .to_string()
        };
        vec![
            format!("--pidfile={}", path("pid")),
            format!("--log-file={}", path("log")),
            format!("--unixctl={}", path("ctl")),
            "--detach".to_owned(),
            "--no-chdir".to_owned(),
        ]
    }

    /// A command for an Open vSwitch program with every directory pointed at the run directory,
    /// so that nothing touches the system installation.
    fn ovs_command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for var in ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"] {
            command.env(var, &self.dir);
        }
        command
    }

    /// Runs a `--detach` daemon command and waits until it has detached; returns the daemon's pid.
    fn start_daemon(&self, daemon: &str, mut command: Command) -> Result<u32> {
        let stderr_path = self.dir.join(format!("{daemon}.stderr"));
        let stderr = File::create(&stderr_path).map_err(|source| TestbedError::Io {
            what: format!("creating the {daemon} stderr file"),
            path: stderr_path.clone(),
            source,
        })?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(stderr));
        let text = process::describe(&command);
        let mut child = command.spawn().map_err(|source| TestbedError::Spawn {
            command: text.clone(),
            source,
        })?;
        let status = wait_with_deadline(&mut child, &text, DAEMON_READY)?;
        let log = self.dir.join(format!("{daemon}.log"));
        if !status.success() {
            return Err(TestbedError::Command {
                command: text,
                status: status.to_string(),
                stdout: log_tail(&log, 20),
                stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
            });
        }
        process::read_pidfile(&self.dir.join(format!("{daemon}.pid"))).ok_or_else(|| {
            TestbedError::NotReady {
                what: format!("{daemon} to write its pid file"),
                timeout: DAEMON_READY,
                detail: log_tail(&log, 5),
            }
        })
    }

    /// Polls `ovs-appctl version` on a daemon's control socket until it answers.
    fn wait_answering(&self, daemon: &str) -> Result<()> {
        let ctl = self.dir.join(format!("{daemon}.ctl"));
        let deadline = Instant::now() + DAEMON_READY;
        let mut pause = Duration::from_millis(1);
        loop {
            let mut command = self.ovs_command("ovs-appctl");
            command.arg("-t").arg(&ctl).arg("version");
            let last = match run_with_timeout(command, COMMAND_TIMEOUT) {
                Ok(output) if output.status.success() => return Ok(()),
                Ok(output) => output.stderr,
                Err(error) => error.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(TestbedError::NotReady {
                    what: format!("{daemon} to answer on {}", ctl.display()),
                    timeout: DAEMON_READY,
                    detail: format!(
                        "{}; log: {}",
                        last.trim(),
                        log_tail(&self.dir.join(format!("{daemon}.log")), 5)
                    ),
                });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Starts `ovs-vswitchd` in the switch namespace (after [`Ovs::stop_vswitchd`], this is a
    /// restart: it re-creates every bridge and port from the database). Waits until it answers.
    pub fn start_vswitchd(&self) -> Result<()> {
        let mut vswitchd_pid = lock(&self.vswitchd_pid);
        if let Some(pid) = *vswitchd_pid {
            if process::pid_alive(pid) {
                return Ok(());
            }
        }
        let mut command = self.ovs_command("ip");
        command
            .args(["netns", "exec", self.switch_netns().name(), "ovs-vswitchd"])
            .arg(format!("unix:{}", self.db_socket().display()))
            // Never the kernel datapath: bridges use the userspace one.
            .arg("--disable-system")
            .args(self.daemon_args("ovs-vswitchd"));
        *vswitchd_pid = Some(self.start_daemon("ovs-vswitchd", command)?);
        drop(vswitchd_pid);
        self.wait_answering("ovs-vswitchd")
    }

    /// Stops `ovs-vswitchd` (SIGTERM, then SIGKILL after a grace period). Bridges stop
    /// forwarding and controller connections close; the database keeps the configuration.
    pub fn stop_vswitchd(&self) -> Result<()> {
        self.signal_vswitchd(false)
    }

    /// Kills `ovs-vswitchd` with SIGKILL, as a crash would.
    pub fn kill_vswitchd(&self) -> Result<()> {
        self.signal_vswitchd(true)
    }

    fn signal_vswitchd(&self, kill: bool) -> Result<()> {
        let mut vswitchd_pid = lock(&self.vswitchd_pid);
        if let Some(pid) = vswitchd_pid.take() {
            let gone = if kill {
                process::kill_pid(pid);
                !process::pid_alive(pid)
            } else {
                process::stop_pid(pid, &self.dir.to_string_lossy(), DAEMON_GRACE)
            };
            if !gone {
                *vswitchd_pid = Some(pid);
                return Err(TestbedError::NotReady {
                    what: format!("ovs-vswitchd (pid {pid}) to exit"),
                    timeout: DAEMON_GRACE,
                    detail: String::new(),
                });
            }
        }
        Ok(())
    }

    /// The pid of `ovsdb-server`.
    pub fn ovsdb_pid(&self) -> Option<u32> {
        self.ovsdb_pid
    }

    /// The pid of the running `ovs-vswitchd`, if any.
    pub fn vswitchd_pid(&self) -> Option<u32> {
        *lock(&self.vswitchd_pid)
    }

    /// The unique base name of this instance (`<prefix><pid>-<counter>`), which starts the names
    /// of its namespaces.
    pub fn base_name(&self) -> &str {
        &self.base
    }

    /// The name prefix it was started with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The run directory: database, sockets, pid files and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a daemon's log file (`"ovs-vswitchd"` or `"ovsdb-server"`).
    pub fn log_path(&self, daemon: &str) -> PathBuf {
        self.dir.join(format!("{daemon}.log"))
    }

    /// The database socket (`ovs-vsctl --db=unix:<this>`).
    pub fn db_socket(&self) -> PathBuf {
        self.dir.join("db.sock")
    }

    /// A bridge's OpenFlow management socket (`ovs-ofctl ... unix:<this>`).
    pub fn mgmt_socket(&self, bridge: &str) -> PathBuf {
        self.dir.join(format!("{bridge}.mgmt"))
    }

    /// The namespace `ovs-vswitchd`, its bridges' devices and the switch ends of all veths live in.
    pub fn switch_netns(&self) -> &Netns {
        &self.switch_ns
    }

    /// Runs `ovs-vsctl` against this database (waiting for `ovs-vswitchd` to apply changes, at
    /// most 10 s). Returns its standard output.
    pub fn vsctl(&self, args: &[&str]) -> Result<String> {
        let mut command = self.ovs_command("ovs-vsctl");
        command
            .arg(format!("--db=unix:{}", self.db_socket().display()))
            .arg("--timeout=10")
            .args(args);
        Ok(run_with_timeout(command, COMMAND_TIMEOUT)?
            .into_success()?
            .stdout)
    }

    /// Runs `ovs-appctl` against `ovs-vswitchd`.
    pub fn appctl(&self, args: &[&str]) -> Result<String> {
        let mut command = self.ovs_command("ovs-appctl");
        command
            .arg("-t")
            .arg(self.dir.join("ovs-vswitchd.ctl"))
            .args(args);
        Ok(run_with_timeout(command, COMMAND_TIMEOUT)?
            .into_success()?
            .stdout)
    }

    /// Explains one packet's path through a bridge (`ovs-appctl ofproto/trace BRIDGE FLOW`).
    pub fn trace(&self, bridge: &str, flow: &str) -> Result<String> {
        self.appctl(&["ofproto/trace", bridge, flow])
    }

    /// Adds a bridge: userspace datapath, OpenFlow 1.0 only, the fail mode and pinned datapath id
    /// of `spec`, in-band control off.
    pub fn add_bridge(&self, spec: &BridgeSpec) -> Result<()> {
        validate_ifname("bridge", &spec.name)?;
        let dpid = format!("other-config:datapath-id={:016x}", spec.datapath_id);
        let fail_mode = if spec.fail_secure {
            "fail_mode=secure"
        } else {
            "fail_mode=standalone"
        };
        self.vsctl(&[
            "add-br",
            &spec.name,
            "--",
            "set",
            "Bridge",
            &spec.name,
            "datapath_type=netdev",
            "protocols=OpenFlow10",
            fail_mode,
            &dpid,
            "other-config:disable-in-band=true",
        ])?;
        let socket = self.mgmt_socket(&spec.name);
        if !socket.exists() {
            return Err(TestbedError::NotReady {
                what: format!(
                    "bridge {} management socket {}",
                    spec.name,
                    socket.display()
                ),
                timeout: COMMAND_TIMEOUT,
                detail: log_tail(&self.log_path("ovs-vswitchd"), 5),
            });
        }
        Ok(())
    }

    /// Adds the existing interface `port` (in the switch namespace) to `bridge`, asking for
    /// OpenFlow port number `ofport` if given, and checks that the switch opened it.
    pub fn add_port(&self, bridge: &str, port: &str, ofport: Option<u16>) -> Result<u16> {
        validate_ifname("port", port)?;
        let request = ofport.map(|n| format!("ofport_request={n}"));
        let mut args = vec!["add-port", bridge, port];
        if let Some(request) = &request {
            args.extend(["--", "set", "Interface", port, request.as_str()]);
        }
        self.vsctl(&args)?;
        let number = self.ofport(port)?;
        if let Some(wanted) = ofport {
            if number != wanted {
                return Err(TestbedError::Parse {
                    what: "the OpenFlow port number",
                    input: number.to_string(),
                    reason: format!("asked for {wanted} for {port} on {bridge}"),
                });
            }
        }
        Ok(number)
    }

    /// Removes `port` from `bridge`.
    pub fn del_port(&self, bridge: &str, port: &str) -> Result<()> {
        self.vsctl(&["del-port", bridge, port]).map(|_| ())
    }

    /// The OpenFlow port number of interface `port`; an error (with the switch's reason) if the
    /// switch could not open it.
    pub fn ofport(&self, port: &str) -> Result<u16> {
        let text = self.vsctl(&["get", "Interface", port, "ofport"])?;
        let number: i64 = text.trim().parse().map_err(|_| TestbedError::Parse {
            what: "an ofport",
            input: text.clone(),
            reason: format!("expected a number for interface {port}"),
        })?;
        match u16::try_from(number) {
            Ok(n) if n > 0 => Ok(n),
            _ => {
                let error = self
                    .vsctl(&["get", "Interface", port, "error"])
                    .unwrap_or_default();
                Err(TestbedError::Parse {
                    what: "an ofport",
                    input: text.trim().to_owned(),
                    reason: format!("the switch did not open {port}: {}", error.trim()),
                })
            }
        }
    }

    /// Runs `ovs-ofctl -O OpenFlow10 --no-names COMMAND unix:<bridge mgmt> ARGS...`; returns its
    /// standard output.
    pub fn ofctl(&self, command: &str, bridge: &str, args: &[&str]) -> Result<String> {
        let mut cmd = self.ovs_command("ovs-ofctl");
        cmd.args(["-O", "OpenFlow10", "--no-names", command])
            .arg(format!("unix:{}", self.mgmt_socket(bridge).display()))
            .args(args);
        Ok(run_with_timeout(cmd, COMMAND_TIMEOUT)?
            .into_success()?
            .stdout)
    }

    /// The bridge's flows (`dump-flows`), parsed.
    pub fn dump_flows(&self, bridge: &str) -> Result<Vec<FlowEntry>> {
        parse_dump_flows(&self.ofctl("dump-flows", bridge, &[])?)
    }

    /// The bridge's flows matching an `ovs-ofctl` flow filter (for example `cookie=0x1/-1` for one
    /// cookie, or `tcp,tp_dst=22`), parsed.
    pub fn dump_flows_matching(&self, bridge: &str, filter: &str) -> Result<Vec<FlowEntry>> {
        parse_dump_flows(&self.ofctl("dump-flows", bridge, &[filter])?)
    }

    /// Adds one flow in `ovs-ofctl` syntax, e.g. `priority=10,in_port=1,actions=output:2`.
    pub fn add_flow(&self, bridge: &str, flow: &str) -> Result<()> {
        self.ofctl("add-flow", bridge, &[flow]).map(|_| ())
    }

    /// Adds several flows in one `ovs-ofctl add-flows` run.
    pub fn add_flows(&self, bridge: &str, flows: &[&str]) -> Result<()> {
        let path = self.dir.join(format!("{bridge}.flows"));
        std::fs::write(&path, flows.join("\n") + "\n").map_err(|source| TestbedError::Io {
            what: "writing a flow file".to_owned(),
            path: path.clone(),
            source,
        })?;
        self.ofctl("add-flows", bridge, &[&path.to_string_lossy()])
            .map(|_| ())
    }

    /// Deletes the flows matching `matching` (all flows when `None`).
    pub fn del_flows(&self, bridge: &str, matching: Option<&str>) -> Result<()> {
        let args: Vec<&str> = matching.into_iter().collect();
        self.ofctl("del-flows", bridge, &args).map(|_| ())
    }

    fn relay_path(&self, bridge: &str) -> PathBuf {
        self.dir.join(format!("ctl-{bridge}.sock"))
    }

    /// Points `bridge` at a controller listening on TCP `addr` in the caller's namespace, through
    /// a relay (the switch connects to a unix socket in the run directory; each connection is
    /// forwarded to `addr`). Calling it again re-targets the relay (open connections are cut;
    /// the switch's configured target, and so its flow table, stay unchanged).
    ///
    /// Open vSwitch flushes a bridge's flow table when it gets its first controller (and when it
    /// loses its last one): set the controller before installing flows.
    pub fn set_controller(&self, bridge: &str, addr: SocketAddr) -> Result<()> {
        let path = self.relay_path(bridge);
        let mut relays = lock(&self.relays);
        // Drop the old relay first: it owns the socket path.
        let had_relay = relays.remove(bridge).is_some();
        let relay = Relay::start(&path, addr)?;
        relays.insert(bridge.to_owned(), relay);
        drop(relays);
        if !had_relay {
            let target = format!("unix:{}", path.display());
            self.vsctl(&["set-controller", bridge, &target])?;
        }
        Ok(())
    }

    /// Points `bridge` straight at a controller listening on the unix socket `path` (no
    /// relay: the daemon's namespace is a network namespace, the file system is shared), as a
    /// controller on the same host is configured (`ovs-vsctl set-controller BR unix:PATH`).
    /// The relay's fault injection ([`Ovs::cut_controller`]...) does not apply to it.
    pub fn set_unix_controller(&self, bridge: &str, path: &Path) -> Result<()> {
        lock(&self.relays).remove(bridge);
        let target = format!("unix:{}", path.display());
        self.vsctl(&["set-controller", bridge, &target])?;
        Ok(())
    }

    /// The controller address `bridge` is relayed to, if any.
    pub fn controller_target(&self, bridge: &str) -> Option<SocketAddr> {
        lock(&self.relays).get(bridge).map(Relay::target)
    }

    /// Removes the controller of `bridge` (which makes Open vSwitch flush its flow table).
    pub fn del_controller(&self, bridge: &str) -> Result<()> {
        self.vsctl(&["del-controller", bridge])?;
        lock(&self.relays).remove(bridge);
        Ok(())
    }

    fn with_relay<T>(&self, bridge: &str, f: impl FnOnce(&Relay) -> T) -> Result<T> {
        lock(&self.relays)
            .get(bridge)
            .map(f)
            .ok_or_else(|| TestbedError::Unknown {
                kind: "controller relay for bridge",
                name: bridge.to_owned(),
            })
    }

    /// Cuts `bridge`'s open controller connections, as a pulled cable would; the switch
    /// reconnects after its back-off.
    pub fn cut_controller(&self, bridge: &str) -> Result<()> {
        self.with_relay(bridge, Relay::cut)
    }

    /// Blocks (cuts and refuses) or unblocks `bridge`'s controller connections.
    pub fn block_controller(&self, bridge: &str, blocked: bool) -> Result<()> {
        self.with_relay(bridge, |relay| relay.set_blocked(blocked))
    }

    /// How many controller connections of `bridge` are open through the relay now, and how many
    /// were made in total.
    pub fn controller_connections(&self, bridge: &str) -> Result<(usize, u64)> {
        self.with_relay(bridge, |relay| (relay.open_connections(), relay.accepted()))
    }

    /// Whether the switch reports `bridge`'s controller connection as up (the `is_connected`
    /// column). The switch refreshes that column only every few seconds (about 5 s measured
    /// here): a controller's own view of its sessions is faster.
    pub fn controller_connected(&self, bridge: &str) -> Result<bool> {
        let target = format!("target=\"unix:{}\"", self.relay_path(bridge).display());
        let text = self.vsctl(&[
            "--bare",
            "--columns=is_connected",
            "find",
            "Controller",
            &target,
        ])?;
        Ok(text.trim() == "true")
    }

    /// Waits until the switch reports `bridge`'s controller connection up, at most `timeout`.
    pub fn wait_controller_connected(&self, bridge: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(5);
        while !self.controller_connected(bridge)? {
            if Instant::now() >= deadline {
                return Err(TestbedError::NotReady {
                    what: format!("bridge {bridge} to connect to its controller"),
                    timeout,
                    detail: log_tail(&self.log_path("ovs-vswitchd"), 3),
                });
            }
            thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
        Ok(())
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        lock(&self.relays).clear();
        let marker = self.dir.to_string_lossy().into_owned();
        if let Some(pid) = lock(&self.vswitchd_pid).take() {
            if !process::stop_pid(pid, &marker, DAEMON_GRACE) {
                eprintln!("test bed: ovs-vswitchd pid {pid} did not exit");
            }
        }
        if let Some(pid) = self.ovsdb_pid.take() {
            if !process::stop_pid(pid, &marker, DAEMON_GRACE) {
                eprintln!("test bed: ovsdb-server pid {pid} did not exit");
            }
        }
        // The switch namespace is deleted after this, when the fields are dropped.
        if thread::panicking() {
            eprintln!(
                "test bed: kept the Open vSwitch run directory with its logs: {}",
                self.dir.display()
            );
        } else if let Err(error) = std::fs::remove_dir_all(&self.dir) {
            eprintln!("test bed: could not remove {}: {error}", self.dir.display());
        }
    }
}
