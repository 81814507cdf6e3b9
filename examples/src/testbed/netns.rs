//! Network namespaces: creation, commands inside them, traffic helpers, neighbour tables.

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::process::{self, run_with_timeout, CommandOutput, COMMAND_TIMEOUT};
use super::{probe, MacAddr, Result, TestbedError};

/// The transport protocol of a probe exchange or listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// TCP: a listener records one arrival per connection (its data, echoed back).
    Tcp,
    /// UDP: one arrival per datagram (echoed back).
    Udp,
    /// TCP records: a listener records one arrival per 8-byte record as it arrives, for
    /// [`Netns::tcp_stream`] (arrivals have protocol [`Protocol::Tcp`]); nothing is echoed.
    TcpRecords,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::TcpRecords => "tcp-records",
        }
    }

    /// The protocol of the arrivals a listener of this kind records.
    fn arrival_protocol(self) -> Protocol {
        match self {
            Protocol::TcpRecords => Protocol::Tcp,
            other => other,
        }
    }
}

/// What a listener received: one TCP connection's data, or one UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Who sent it, as seen by the listener (after any address rewriting on the way).
    pub peer: SocketAddr,
    /// The listener's address it arrived at.
    pub local: SocketAddr,
    /// The data (at most [`probe::MAX_DATA`] bytes).
    pub data: Vec<u8>,
    /// When the test bed learnt of it (within about a millisecond of its arrival; for TCP, of
    /// the end of the connection's data).
    pub at: Instant,
}

impl Arrival {
    /// The sequence number of a datagram sent by [`Netns::udp_stream`].
    pub fn sequence(&self) -> Option<u64> {
        let bytes: [u8; 8] = self.data.as_slice().try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    }
}

/// The outcome of a TCP or UDP exchange from a namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exchange {
    /// Connected (TCP) or answered (UDP); the listener echoes, so `reply` is normally the payload.
    Answered {
        /// The client's own address, as bound in its namespace.
        local: SocketAddr,
        /// What came back before the peer closed or the time ran out.
        reply: Vec<u8>,
    },
    /// Nothing answered in time (for example, dropped by the flow table).
    TimedOut,
    /// The peer refused the connection (a TCP reset).
    Refused,
    /// No route, or the neighbour could not be resolved.
    Unreachable,
    /// Any other failure, with the message.
    Failed(String),
}

impl Exchange {
    /// Whether the exchange got through.
    pub fn is_answered(&self) -> bool {
        matches!(self, Exchange::Answered { .. })
    }
}

/// Counts of a `ping` run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingOutcome {
    /// Echo requests sent.
    pub transmitted: u32,
    /// Echo replies received.
    pub received: u32,
}

impl PingOutcome {
    /// Every request got its reply (and at least one was sent).
    pub fn all_received(&self) -> bool {
        self.transmitted > 0 && self.received == self.transmitted
    }

    /// No reply at all.
    pub fn none_received(&self) -> bool {
        self.received == 0
    }
}

/// One entry of a namespace's IPv4 neighbour (ARP) table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The neighbour's address.
    pub ip: IpAddr,
    /// The interface.
    pub dev: String,
    /// Its link-layer address, if resolved.
    pub mac: Option<MacAddr>,
    /// The state words (`REACHABLE`, `STALE`, `FAILED`, `PERMANENT`...).
    pub state: String,
}

/// A named network namespace. Deleted on drop (after killing whatever still runs in it) when this
/// value created it.
#[derive(Debug)]
pub struct Netns {
    name: String,
    owned: bool,
}

fn validate_netns_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(TestbedError::InvalidName {
            kind: "namespace",
            name: name.to_owned(),
            reason: "1 to 200 bytes of A-Z, a-z, 0-9, '-', '_', '.', not starting with '.'"
                .to_owned(),
        })
    }
}

fn ip(args: &[&str]) -> Result<String> {
    process::run_ok("ip", args)
}

/// The names of all network namespaces (`ip netns list`).
pub(crate) fn list_namespaces() -> Result<Vec<String>> {
    Ok(ip(&["netns", "list"])?
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

fn namespace_pids(name: &str) -> Result<Vec<u32>> {
    Ok(ip(&["netns", "pids", name])?
        .split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect())
}

/// Kills every process in namespace `name` and deletes it.
pub(crate) fn delete_namespace(name: &str) -> Result<()> {
    for pid in namespace_pids(name)? {
        process::kill_pid(pid);
    }
    ip(&["netns", "delete", name]).map(|_| ())
}

impl Netns {
    /// Creates namespace `name` with its loopback up. Fails if it already exists.
    pub fn create(name: &str) -> Result<Netns> {
        validate_netns_name(name)?;
        ip(&["netns", "add", name])?;
        let netns = Netns {
            name: name.to_owned(),
            owned: true,
        };
        netns.exec_ok("ip", &["link", "set", "lo", "up"])?;
        Ok(netns)
    }

    /// Refers to an existing namespace without owning it (it is not deleted on drop).
    pub fn existing(name: &str) -> Result<Netns> {
        validate_netns_name(name)?;
        if !list_namespaces()?.iter().any(|n| n == name) {
            return Err(TestbedError::Unknown {
                kind: "network namespace",
                name: name.to_owned(),
            });
        }
        Ok(Netns {
            name: name.to_owned(),
            owned: false,
        })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside this namespace (`ip netns exec NAME program`).
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Runs `program args...` in the namespace, at most `timeout`; any exit status is returned.
    pub fn exec(&self, program: &str, args: &[&str], timeout: Duration) -> Result<CommandOutput> {
        let mut command = self.command(program);
        command.args(args);
        run_with_timeout(command, timeout)
    }

    /// Runs `program args...` in the namespace and requires success; returns standard output.
    pub fn exec_ok(&self, program: &str, args: &[&str]) -> Result<String> {
        Ok(self
            .exec(program, args, COMMAND_TIMEOUT)?
            .into_success()?
            .stdout)
    }

    /// The pids of the processes running in this namespace.
    pub fn pids(&self) -> Result<Vec<u32>> {
        namespace_pids(&self.name)
    }

    /// Sets a sysctl inside the namespace, e.g. `("net.ipv4.conf.all.arp_accept", "1")`.
    pub fn set_sysctl(&self, key: &str, value: &str) -> Result<()> {
        validate_sysctl_key(key)?;
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.exec_ok(
            "sh",
            &["-c", "printf '%s\\n' \"$1\" > \"$2\"", "sh", value, &path],
        )
        .map(|_| ())
    }

    /// Reads a sysctl inside the namespace (its value, trimmed), e.g.
    /// `net.ipv4.conf.eth0.arp_accept`.
    pub fn sysctl(&self, key: &str) -> Result<String> {
        validate_sysctl_key(key)?;
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        Ok(self.exec_ok("cat", &[&path])?.trim().to_owned())
    }

    /// Sets the IPv4 interface setting `name` (e.g. `arp_accept`) to `value` for every entry of
    /// `net.ipv4.conf` in the namespace (`all`, `default` and each interface), then reads each
    /// back. Returns `(key, value read back)` for every key set.
    pub fn set_ipv4_conf_everywhere(
        &self,
        name: &str,
        value: &str,
    ) -> Result<Vec<(String, String)>> {
        let entries = self.exec_ok("ls", &["/proc/sys/net/ipv4/conf"])?;
        let keys: Vec<String> = entries
            .split_whitespace()
            .map(|entry| format!("net.ipv4.conf.{entry}.{name}"))
            .collect();
        for key in &keys {
            self.set_sysctl(key, value)?;
        }
        keys.into_iter()
            .map(|key| {
                let read = self.sysctl(&key)?;
                Ok((key, read))
            })
            .collect()
    }

    /// Pings `dst` `count` times (0.1 s apart), waiting at most `timeout` for each reply.
    pub fn ping(&self, dst: Ipv4Addr, count: u32, timeout: Duration) -> Result<PingOutcome> {
        let count = count.max(1);
        let wait = format!("{:.3}", timeout.as_secs_f64().max(0.001));
        let count_text = count.to_string();
        let dst_text = dst.to_string();
        let bound = timeout + Duration::from_millis(100) * count + Duration::from_secs(5);
        let output = self.exec(
            "ping",
            &[
                "-n",
                "-q",
                "-c",
                &count_text,
                "-i",
                "0.1",
                "-W",
                &wait,
                &dst_text,
            ],
            bound,
        )?;
        // Exit 0: all replies, 1: some missing; anything else is a usage or system error.
        if !matches!(output.status.code(), Some(0) | Some(1)) {
            return Err(output.into_success().err().unwrap_or(TestbedError::Parse {
                what: "ping output",
                input: String::new(),
                reason: "unexpected exit status".to_owned(),
            }));
        }
        parse_ping(&output.stdout)
    }

    fn probe_outcome(&self, args: &[&str], timeout: Duration) -> Result<Exchange> {
        let probe = probe::locate()?;
        let mut command = self.command(&probe.to_string_lossy());
        command.args(args);
        let output = run_with_timeout(command, timeout + Duration::from_secs(5))?;
        if !matches!(output.status.code(), Some(0) | Some(1)) {
            output.clone().into_success()?;
        }
        parse_outcome(&output.stdout)
    }

    /// Opens a TCP connection to `dst` from this namespace (at most `timeout` to connect and get
    /// the reply), sends `payload`, ends the sending side and collects the reply.
    pub fn tcp_exchange(
        &self,
        dst: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Exchange> {
        let millis = timeout.as_millis().to_string();
        let data = probe::encode_data(payload);
        self.probe_outcome(
            &["connect", "tcp", &dst.to_string(), &millis, &data],
            timeout,
        )
    }

    /// Sends one UDP datagram to `dst` and waits at most `timeout` for one reply.
    pub fn udp_exchange(
        &self,
        dst: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Exchange> {
        let millis = timeout.as_millis().to_string();
        let data = probe::encode_data(payload);
        self.probe_outcome(&["send", "udp", &dst.to_string(), &millis, &data], timeout)
    }

    /// Like [`Netns::udp_exchange`], from source address `source`, which must be an address of
    /// the namespace (to forge a source, add it first with [`Netns::add_address`]).
    pub fn udp_exchange_from(
        &self,
        source: IpAddr,
        dst: SocketAddr,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Exchange> {
        let millis = timeout.as_millis().to_string();
        let data = probe::encode_data(payload);
        let source = source.to_string();
        self.probe_outcome(
            &["send", "udp", &dst.to_string(), &millis, &data, &source],
            timeout,
        )
    }

    /// Adds an address to interface `dev` (for example a forged source as a `/32`).
    /// (`ip_nonlocal_bind` would not do for sending: the kernel's route lookup refuses a source
    /// address that is not local.)
    pub fn add_address(&self, dev: &str, address: ipnetwork::Ipv4Network) -> Result<()> {
        self.exec_ok("ip", &["addr", "add", &address.to_string(), "dev", dev])
            .map(|_| ())
    }

    /// Starts sending `count` UDP datagrams to `dst` in the background, one every `interval`,
    /// each carrying its sequence number (see [`Arrival::sequence`]): a steady stream to measure
    /// loss and gaps (while flows change, a controller restarts, a link is cut...).
    pub fn udp_stream(
        &self,
        dst: SocketAddr,
        interval: Duration,
        count: u64,
    ) -> Result<Background> {
        let probe = probe::locate()?;
        let micros = interval.as_micros().to_string();
        self.spawn(
            &probe.to_string_lossy(),
            &[
                "stream",
                "udp",
                &dst.to_string(),
                &micros,
                &count.to_string(),
            ],
        )
    }

    /// Opens one TCP connection to `dst` in the background and sends `count` 8-byte sequence
    /// numbers over it, one every `interval` (see [`Arrival::sequence`]; listen with
    /// [`Protocol::TcpRecords`]): does an established connection keep flowing while the network
    /// changes? Its output is `done<TAB>COUNT`, or an `err` line if the connection broke.
    pub fn tcp_stream(
        &self,
        dst: SocketAddr,
        interval: Duration,
        count: u64,
    ) -> Result<Background> {
        let probe = probe::locate()?;
        let micros = interval.as_micros().to_string();
        self.spawn(
            &probe.to_string_lossy(),
            &[
                "stream",
                "tcp",
                &dst.to_string(),
                &micros,
                &count.to_string(),
            ],
        )
    }

    /// Starts `program args...` in the namespace in the background; killed on drop.
    pub fn spawn(&self, program: &str, args: &[&str]) -> Result<Background> {
        let mut command = self.command(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let text = process::describe(&command);
        let mut child = command.spawn().map_err(|source| TestbedError::Spawn {
            command: text.clone(),
            source,
        })?;
        let readers = [
            spawn_collector(child.stdout.take()),
            spawn_collector(child.stderr.take()),
        ];
        Ok(Background {
            command: text,
            child,
            readers: Some(readers),
        })
    }

    /// Starts a listener on `0.0.0.0:port` in this namespace that records (and echoes) what
    /// arrives. Returns once it is bound.
    pub fn listen(&self, protocol: Protocol, port: u16) -> Result<Listener> {
        Listener::start(self, protocol, port)
    }

    /// The namespace's IPv4 neighbour table.
    pub fn neighbours(&self) -> Result<Vec<Neighbour>> {
        let output = self.exec_ok("ip", &["-4", "neigh", "show"])?;
        output
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(parse_neighbour)
            .collect()
    }

    /// The neighbour entry for `ip`, if any.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Result<Option<Neighbour>> {
        Ok(self
            .neighbours()?
            .into_iter()
            .find(|n| n.ip == IpAddr::V4(ip)))
    }

    /// Writes (or overwrites) the neighbour entry for `ip` on `dev`: `mac` in state `nud`
    /// (`stale`, `reachable`, `permanent`...), as `ip neigh replace` does.
    pub fn replace_neighbour(
        &self,
        dev: &str,
        ip: Ipv4Addr,
        mac: MacAddr,
        nud: &str,
    ) -> Result<()> {
        self.exec_ok(
            "ip",
            &[
                "neigh",
                "replace",
                &ip.to_string(),
                "lladdr",
                &mac.to_string(),
                "dev",
                dev,
                "nud",
                nud,
            ],
        )
        .map(|_| ())
    }

    /// Empties the neighbour table of every interface.
    pub fn flush_neighbours(&self) -> Result<()> {
        self.exec_ok("ip", &["-4", "neigh", "flush", "all"])
            .map(|_| ())
    }

    /// Makes the namespace learn neighbours only by asking: sets `arp_accept=0` on every
    /// interface (and `all`, `default`), checks each reads back 0, and empties the neighbour
    /// table. From then on an entry appears only when a reply answers the namespace's own ARP
    /// request (an unsolicited or gratuitous ARP may still update an entry that exists).
    pub fn learn_neighbours_only_from_replies(&self) -> Result<()> {
        let set = self.set_ipv4_conf_everywhere("arp_accept", "0")?;
        let all_set = set
            .iter()
            .any(|(key, _)| key == "net.ipv4.conf.all.arp_accept");
        if let Some((key, value)) = set.iter().find(|(_, value)| value != "0") {
            return Err(TestbedError::Parse {
                what: "arp_accept read back",
                input: format!("{key} = {value}"),
                reason: format!("expected 0 in namespace {}", self.name()),
            });
        }
        if !all_set {
            return Err(TestbedError::Parse {
                what: "the arp_accept keys set",
                input: format!("{set:?}"),
                reason: "expected net.ipv4.conf.all.arp_accept among them".to_owned(),
            });
        }
        self.flush_neighbours()
    }

    /// The link-layer address of interface `dev`.
    pub fn mac(&self, dev: &str) -> Result<MacAddr> {
        let output = self.exec_ok("ip", &["-o", "link", "show", "dev", dev])?;
        let mut words = output.split_whitespace();
        while let Some(word) = words.next() {
            if word == "link/ether" {
                if let Some(mac) = words.next() {
                    return mac.parse();
                }
            }
        }
        Err(TestbedError::Parse {
            what: "a link address",
            input: output,
            reason: "no link/ether in it".to_owned(),
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if self.owned {
            if let Err(error) = delete_namespace(&self.name) {
                eprintln!(
                    "test bed: could not delete namespace {}: {error}",
                    self.name
                );
            }
        }
    }
}

fn parse_ping(stdout: &str) -> Result<PingOutcome> {
    let invalid = || TestbedError::Parse {
        what: "ping statistics",
        input: stdout.to_owned(),
        reason: "expected `N packets transmitted, M received`".to_owned(),
    };
    let line = stdout
        .lines()
        .find(|line| line.contains("packets transmitted"))
        .ok_or_else(invalid)?;
    let mut parts = line.split(',');
    let first_number =
        |part: Option<&str>| -> Option<u32> { part?.split_whitespace().next()?.parse().ok() };
    let transmitted = first_number(parts.next()).ok_or_else(invalid)?;
    let received = first_number(parts.next()).ok_or_else(invalid)?;
    Ok(PingOutcome {
        transmitted,
        received,
    })
}

fn parse_outcome(stdout: &str) -> Result<Exchange> {
    let line = stdout.lines().next().unwrap_or_default();
    let mut fields = line.splitn(3, '\t');
    let invalid = |reason: &str| TestbedError::Parse {
        what: "a netns-probe outcome",
        input: stdout.to_owned(),
        reason: reason.to_owned(),
    };
    match (fields.next(), fields.next(), fields.next()) {
        (Some("ok"), Some(local), Some(data)) => Ok(Exchange::Answered {
            local: local.parse().map_err(|_| invalid("bad local address"))?,
            reply: probe::decode_data(data.trim())?,
        }),
        (Some("err"), Some("timeout"), _) => Ok(Exchange::TimedOut),
        (Some("err"), Some("refused"), _) => Ok(Exchange::Refused),
        (Some("err"), Some("unreachable"), _) => Ok(Exchange::Unreachable),
        (Some("err"), Some(_), message) => Ok(Exchange::Failed(
            message.unwrap_or_default().trim().to_owned(),
        )),
        _ => Err(invalid(
            "expected `ok\\tLOCAL\\tHEX` or `err\\tKIND\\tMESSAGE`",
        )),
    }
}

fn validate_sysctl_key(key: &str) -> Result<()> {
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(TestbedError::InvalidName {
            kind: "sysctl",
            name: key.to_owned(),
            reason: "only letters, digits, '.', '_' and '-'".to_owned(),
        });
    }
    Ok(())
}

fn parse_neighbour(line: &str) -> Result<Neighbour> {
    let mut words = line.split_whitespace();
    let invalid = || TestbedError::Parse {
        what: "a neighbour entry",
        input: line.to_owned(),
        reason: "expected `IP dev DEV [lladdr MAC] STATE`".to_owned(),
    };
    let ip: IpAddr = words
        .next()
        .and_then(|w| w.parse().ok())
        .ok_or_else(invalid)?;
    let mut dev = String::new();
    let mut mac = None;
    let mut state = Vec::new();
    while let Some(word) = words.next() {
        match word {
            "dev" => dev = words.next().ok_or_else(invalid)?.to_owned(),
            "lladdr" => mac = Some(words.next().ok_or_else(invalid)?.parse()?),
            "router" | "proxy" | "extern_learn" => {}
            other => state.push(other),
        }
    }
    Ok(Neighbour {
        ip,
        dev,
        mac,
        state: state.join(" "),
    })
}

fn spawn_collector<R: Read + Send + 'static>(source: Option<R>) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        if let Some(mut source) = source {
            let _ = source.read_to_end(&mut buffer);
        }
        buffer
    })
}

/// A process running in a namespace in the background ([`Netns::spawn`], [`Netns::udp_stream`]).
/// Killed on drop if still running.
#[derive(Debug)]
pub struct Background {
    command: String,
    child: Child,
    readers: Option<[JoinHandle<Vec<u8>>; 2]>,
}

impl Background {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits at most `timeout` for it to exit (killing it after that) and returns its output.
    pub fn wait(mut self, timeout: Duration) -> Result<CommandOutput> {
        let status = process::wait_with_deadline(&mut self.child, &self.command, timeout)?;
        let [stdout, stderr] = match self.readers.take() {
            Some([out, err]) => [
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default(),
            ],
            None => [Vec::new(), Vec::new()],
        };
        Ok(CommandOutput {
            command: self.command.clone(),
            status,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(readers) = self.readers.take() {
            for reader in readers {
                let _ = reader.join();
            }
        }
    }
}

#[derive(Debug, Default)]
struct ListenerState {
    ready: Option<SocketAddr>,
    arrivals: Vec<Arrival>,
    closed: bool,
    bad_lines: Vec<String>,
}

type Shared = Arc<(Mutex<ListenerState>, Condvar)>;

fn lock(shared: &Shared) -> MutexGuard<'_, ListenerState> {
    match shared.0.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A TCP or UDP listener running in a namespace, recording what arrives. Stopped on drop.
#[derive(Debug)]
pub struct Listener {
    protocol: Protocol,
    local: SocketAddr,
    child: Child,
    shared: Shared,
    reader: Option<JoinHandle<()>>,
}

fn parse_arrival(protocol: Protocol, line: &str) -> Option<Arrival> {
    let mut fields = line.split('\t');
    let kind = fields.next()?;
    if kind != protocol.as_str() {
        return None;
    }
    let peer = fields.next()?.parse().ok()?;
    let local = fields.next()?.parse().ok()?;
    let data = probe::decode_data(fields.next()?.trim()).ok()?;
    Some(Arrival {
        protocol,
        peer,
        local,
        data,
        at: Instant::now(),
    })
}

impl Listener {
    fn start(netns: &Netns, protocol: Protocol, port: u16) -> Result<Listener> {
        let probe = probe::locate()?;
        let mut command = netns.command(&probe.to_string_lossy());
        command
            .args(["listen", protocol.as_str(), &format!("0.0.0.0:{port}")])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let text = process::describe(&command);
        let mut child = command.spawn().map_err(|source| TestbedError::Spawn {
            command: text.clone(),
            source,
        })?;
        let shared: Shared = Arc::default();
        let stdout = child.stdout.take();
        let reader_shared = Arc::clone(&shared);
        let reader = thread::spawn(move || {
            if let Some(stdout) = stdout {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut state = lock(&reader_shared);
                    if let Some(addr) = line.strip_prefix("ready\t") {
                        state.ready = addr.trim().parse().ok();
                    } else if let Some(arrival) = parse_arrival(protocol.arrival_protocol(), &line)
                    {
                        state.arrivals.push(arrival);
                    } else {
                        state.bad_lines.push(line);
                    }
                    reader_shared.1.notify_all();
                }
            }
            lock(&reader_shared).closed = true;
            reader_shared.1.notify_all();
        });
        let mut listener = Listener {
            protocol,
            local: SocketAddr::from(([0, 0, 0, 0], port)),
            child,
            shared,
            reader: Some(reader),
        };
        let timeout = Duration::from_secs(10);
        let deadline = Instant::now() + timeout;
        let mut state = lock(&listener.shared);
        while state.ready.is_none() && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match listener.shared.1.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let ready = state.ready;
        drop(state);
        match ready {
            Some(local) => {
                listener.local = local;
                Ok(listener)
            }
            None => {
                let _ = listener.child.kill();
                let _ = listener.child.wait();
                let mut stderr = String::new();
                if let Some(mut pipe) = listener.child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                Err(TestbedError::NotReady {
                    what: format!("`{text}` to bind"),
                    timeout,
                    detail: stderr.trim().to_owned(),
                })
            }
        }
    }

    /// The protocol it listens for.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// The address it is bound to inside its namespace.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Everything that arrived so far.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared).arrivals.clone()
    }

    /// Everything that arrived so far, forgetting it (the next phase of a test starts empty).
    pub fn take_arrivals(&self) -> Vec<Arrival> {
        std::mem::take(&mut lock(&self.shared).arrivals)
    }

    /// Waits at most `timeout` until an arrival satisfies `predicate`, and returns it.
    pub fn wait_for(
        &self,
        timeout: Duration,
        mut predicate: impl FnMut(&Arrival) -> bool,
    ) -> Option<Arrival> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared);
        loop {
            if let Some(found) = state.arrivals.iter().find(|a| predicate(a)) {
                return Some(found.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || state.closed {
                return None;
            }
            state = match self.shared.1.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits at most `timeout` until at least `count` arrivals were recorded; returns them all.
    pub fn wait_for_count(&self, count: usize, timeout: Duration) -> Vec<Arrival> {
        let deadline = Instant::now() + timeout;
        let mut state = lock(&self.shared);
        while state.arrivals.len() < count && !state.closed {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = match self.shared.1.wait_timeout(state, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        state.arrivals.clone()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // `ip netns exec` replaced itself with the probe, so this is the probe's pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ping_statistics() {
        let out = "PING 10.0.0.3 (10.0.0.3) 56(84) bytes of data.\n\n--- 10.0.0.3 ping statistics ---\n3 packets transmitted, 2 received, 33.3333% packet loss, time 203ms\n";
        let outcome = parse_ping(out).unwrap();
        assert_eq!(
            outcome,
            PingOutcome {
                transmitted: 3,
                received: 2
            }
        );
        assert!(!outcome.all_received());
        let none =
            parse_ping("1 packets transmitted, 0 received, +1 errors, 100% packet loss\n").unwrap();
        assert!(none.none_received());
        assert!(parse_ping("garbage").is_err());
    }

    #[test]
    fn parses_neighbour_entries() {
        let n = parse_neighbour("10.0.0.2 dev eth0 lladdr da:1d:a8:5b:e4:71 REACHABLE").unwrap();
        assert_eq!(n.ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!(n.dev, "eth0");
        assert_eq!(n.mac, Some("da:1d:a8:5b:e4:71".parse().unwrap()));
        assert_eq!(n.state, "REACHABLE");
        let failed = parse_neighbour("10.0.0.9 dev eth0 FAILED").unwrap();
        assert_eq!(failed.mac, None);
        assert_eq!(failed.state, "FAILED");
        let router =
            parse_neighbour("10.0.0.1 dev eth0 lladdr 02:00:00:00:00:01 router STALE").unwrap();
        assert_eq!(router.state, "STALE");
        assert!(parse_neighbour("nonsense dev").is_err());
        assert!(parse_neighbour("10.0.0.1 dev eth0 lladdr zz STALE").is_err());
    }

    #[test]
    fn parses_probe_outcomes() {
        assert_eq!(
            parse_outcome("ok\t10.0.0.2:40000\t6869\n").unwrap(),
            Exchange::Answered {
                local: "10.0.0.2:40000".parse().unwrap(),
                reply: b"hi".to_vec()
            }
        );
        assert_eq!(
            parse_outcome("err\ttimeout\tconnect: timed out\n").unwrap(),
            Exchange::TimedOut
        );
        assert_eq!(
            parse_outcome("err\trefused\tx\n").unwrap(),
            Exchange::Refused
        );
        assert_eq!(
            parse_outcome("err\tunreachable\tx\n").unwrap(),
            Exchange::Unreachable
        );
        assert_eq!(
            parse_outcome("err\terror\tboom\n").unwrap(),
            Exchange::Failed("boom".to_owned())
        );
        assert!(parse_outcome("").is_err());
        assert!(parse_outcome("ok\tnot-an-addr\t-\n").is_err());
    }

    #[test]
    fn parses_arrivals() {
        let a = parse_arrival(Protocol::Tcp, "tcp\t10.0.0.2:4000\t10.0.0.3:80\t6869").unwrap();
        assert_eq!(a.peer, "10.0.0.2:4000".parse().unwrap());
        assert_eq!(a.data, b"hi");
        assert_eq!(a.sequence(), None);
        let n = parse_arrival(
            Protocol::Udp,
            "udp\t10.0.0.2:4000\t10.0.0.3:80\t0000000000000107",
        )
        .unwrap();
        assert_eq!(n.sequence(), Some(263));
        assert!(parse_arrival(Protocol::Udp, "tcp\t10.0.0.2:4000\t10.0.0.3:80\t-").is_none());
        assert!(parse_arrival(Protocol::Tcp, "tcp\tbad").is_none());
    }

    #[test]
    fn namespace_names_are_checked() {
        assert!(validate_netns_name("oetb1-2-i-0a1b2c3d").is_ok());
        assert!(validate_netns_name("").is_err());
        assert!(validate_netns_name("a/b").is_err());
        assert!(validate_netns_name(".hidden").is_err());
    }
}
