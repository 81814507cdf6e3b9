//! An end-to-end test bed: a private Open vSwitch and network namespaces, built and torn down by
//! the tests that use them.
//!
//! Everything lives in objects that clean up after themselves on `Drop` (also when a test panics):
//!
//! - [`Ovs`]: a private `ovsdb-server` (database and socket in a fresh run directory) and an
//!   `ovs-vswitchd` running inside its own *switch namespace*. Bridges use the userspace datapath
//!   (`datapath_type=netdev`), OpenFlow 1.0 only, `fail_mode=secure` and a pinned datapath id.
//!   `ovs-vsctl` and `ovs-ofctl` reach the daemons through their unix sockets.
//! - [`Netns`]: a named network namespace, with helpers to run commands in it, ping, make TCP and
//!   UDP exchanges and record what arrives (through the `netns-probe` helper binary of this crate),
//!   and read the neighbour table.
//! - [`Cloud`]: the seed's topology: hypervisor bridges whose uplinks are joined by an outside
//!   segment (a Linux bridge in the switch namespace) where an outside host namespace lives, and
//!   instances as namespaces whose veth port on the bridge is named after the instance id.
//!
//! Why `ovs-vswitchd` runs in a namespace of its own: the userspace datapath creates kernel tap
//! devices (`ovs-netdev`, one per bridge), so two daemons in one namespace collide
//! (`ovs-netdev: creating tap device failed: Device or resource busy`). In its own namespace each
//! test bed is isolated from the host and from test beds running in parallel, and instance ports
//! can be named after instance ids without colliding with anything. The daemon cannot reach the
//! host's loopback from there, so [`Ovs::set_controller`] points the bridge at a unix socket and a
//! relay thread forwards each connection to the controller's TCP address (which also lets fault
//! tests cut or block a switch's connection: [`Ovs::cut_controller`], [`Ovs::block_controller`]).
//!
//! Names are unique per test bed: `<prefix><pid>-<counter>-<role>`; [`cleanup_stale`] removes the
//! leftovers of crashed runs (names whose pid is no longer alive).
//!
//! Prerequisites (checked by [`check_prerequisites`], which fails loudly naming what is missing):
//! root, `ip` (iproute2), `ethtool`, `ping`, `kill`, the Open vSwitch daemons and tools, and
//! `/usr/share/openvswitch/vswitch.ovsschema`.
//!
//! ```no_run
//! use std::time::Duration;
//! use examples::testbed::{Cloud, InstanceSpec};
//!
//! # fn main() -> Result<(), examples::testbed::TestbedError> {
//! let mut cloud = Cloud::seed().start()?;
//! cloud.add_instance("hv1", InstanceSpec::new("i-0a1b2c3d", "10.0.0.2/24".parse().unwrap()))?;
//! cloud.add_instance("hv2", InstanceSpec::new("i-0b1c2d3e", "10.0.0.3/24".parse().unwrap()))?;
//! for bridge in ["hv1", "hv2"] {
//!     cloud.ovs().add_flow(bridge, "actions=NORMAL")?;
//! }
//! let a = cloud.instance("i-0a1b2c3d")?;
//! assert!(a.netns().ping("10.0.0.3".parse().unwrap(), 1, Duration::from_secs(2))?.all_received());
//! # Ok(())
//! # }
//! ```

mod cloud;
mod flows;
mod netns;
mod ovs;
pub mod probe;
pub mod process;
mod relay;

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use cloud::{
    Cloud, CloudBuilder, HypervisorSpec, Instance, InstanceSpec, OutsideHost, OutsideSpec,
    OUTSIDE_HOST_PORT, OUTSIDE_SEGMENT,
};
pub use flows::{parse_dump_flows, parse_flow_line, FlowEntry};
pub use netns::{Arrival, Background, Exchange, Listener, Neighbour, Netns, PingOutcome, Protocol};
pub use ovs::{BridgeSpec, Ovs};
pub use process::{CommandOutput, COMMAND_TIMEOUT};

/// The name prefix used when none is given: every namespace and run directory of a test bed
/// starts with it.
pub const DEFAULT_PREFIX: &str = "oetb";

/// The Open vSwitch database schema the private database is created from.
pub const VSWITCH_SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// Everything that can go wrong while building, using or tearing down a test bed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestbedError {
    /// Something the test bed needs is missing on this machine.
    #[error("end-to-end test bed prerequisites missing: {}", .missing.join("; "))]
    Prerequisite {
        /// One entry per missing thing, saying what to install or do.
        missing: Vec<String>,
    },
    /// A command could not be started.
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command exited with a failure.
    #[error("`{command}` failed ({status}); stderr: {stderr:?}; stdout: {stdout:?}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// A command did not finish in time and was killed.
    #[error("`{command}` did not finish within {timeout:?} and was killed")]
    Timeout {
        /// The command line.
        command: String,
        /// The bound it exceeded.
        timeout: Duration,
    },
    /// Waiting for something to become ready took too long.
    #[error("timed out after {timeout:?} waiting for {what}{}", detail_suffix(.detail))]
    NotReady {
        /// What was awaited.
        what: String,
        /// The bound.
        timeout: Duration,
        /// The last observation or error, if any.
        detail: String,
    },
    /// A file system operation failed.
    #[error("{what} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        what: String,
        /// On which path.
        path: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// A name (prefix, bridge, port, instance id) is not acceptable.
    #[error("invalid {kind} name {name:?}: {reason}")]
    InvalidName {
        /// What kind of name.
        kind: &'static str,
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tool's output could not be understood.
    #[error("could not parse {what} from {input:?}: {reason}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The offending text.
        input: String,
        /// What was expected.
        reason: String,
    },
    /// A bridge, instance or hypervisor that this test bed does not have.
    #[error("this test bed has no {kind} named {name:?}")]
    Unknown {
        /// What kind of object.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// An object with this name already exists in the test bed.
    #[error("this test bed already has a {kind} named {name:?}")]
    Duplicate {
        /// What kind of object.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" (last: {detail})")
    }
}

/// A result with a [`TestbedError`].
pub type Result<T, E = TestbedError> = std::result::Result<T, E>;

/// Checks that this machine can host the test bed: running as root, and every tool present.
/// Returns one error listing everything that is missing, with what to install.
pub fn check_prerequisites() -> Result<()> {
    let mut missing = Vec::new();
    match effective_uid() {
        Some(0) => {}
        Some(uid) => missing.push(format!(
            "must run as root (effective uid is {uid}): network namespaces and Open vSwitch need it"
        )),
        None => missing.push("cannot read the effective uid from /proc/self/status".to_owned()),
    }
    let tools: [(&str, &str); 11] = [
        ("ip", "iproute2"),
        ("ethtool", "ethtool"),
        ("ping", "iputils-ping"),
        ("kill", "procps"),
        ("sh", "dash"),
        ("ovsdb-tool", "openvswitch-common"),
        ("ovs-vsctl", "openvswitch-common"),
        ("ovs-ofctl", "openvswitch-common"),
        ("ovs-appctl", "openvswitch-common"),
        ("ovsdb-server", "openvswitch-switch"),
        ("ovs-vswitchd", "openvswitch-switch"),
    ];
    for (tool, package) in tools {
        if find_in_path(tool).is_none() {
            missing.push(format!(
                "`{tool}` not found in PATH or /usr/sbin, /sbin (Debian package {package})"
            ));
        }
    }
    if !std::path::Path::new(VSWITCH_SCHEMA).is_file() {
        missing.push(format!(
            "{VSWITCH_SCHEMA} is missing (Debian package openvswitch-common)"
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(TestbedError::Prerequisite { missing })
    }
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Finds `program` in `PATH`, then in the sbin directories (often missing from a test's PATH).
pub(crate) fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Checks a test bed name prefix: ASCII lower-case letters, digits and `-`, starting with a
/// letter, not ending with a digit (the pid follows it), at most 16 bytes.
pub fn validate_prefix(prefix: &str) -> Result<()> {
    let invalid = |reason: &str| TestbedError::InvalidName {
        kind: "prefix",
        name: prefix.to_owned(),
        reason: reason.to_owned(),
    };
    if prefix.is_empty() || prefix.len() > 16 {
        return Err(invalid("must be 1 to 16 bytes long"));
    }
    if !prefix
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(invalid("only a-z, 0-9 and - are allowed"));
    }
    if !prefix.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(invalid("must start with a letter"));
    }
    if prefix.ends_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid(
            "must not end with a digit (the process id follows it)",
        ));
    }
    Ok(())
}

/// Checks a Linux interface name: 1 to 15 bytes, no `/`, whitespace, `:` or NUL.
pub fn validate_ifname(kind: &'static str, name: &str) -> Result<()> {
    let invalid = |reason: String| TestbedError::InvalidName {
        kind,
        name: name.to_owned(),
        reason,
    };
    if name.is_empty() || name.len() > MAX_IFNAME_LEN {
        return Err(invalid(format!(
            "interface names are 1 to {MAX_IFNAME_LEN} bytes long, this one has {}",
            name.len()
        )));
    }
    if name == "." || name == ".." {
        return Err(invalid("reserved name".to_owned()));
    }
    if name
        .chars()
        .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(invalid(
            "must not contain '/', ':', whitespace or control characters".to_owned(),
        ));
    }
    Ok(())
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The base names this process created: a name carrying our pid but not in here was left by an
/// earlier process that had the same pid (pids are reused) and is stale.
static CREATED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn created() -> std::sync::MutexGuard<'static, BTreeSet<String>> {
    match CREATED.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// A fresh base name `<prefix><pid>-<counter>` unique within this machine for this process.
pub(crate) fn unique_base(prefix: &str) -> Result<String> {
    validate_prefix(prefix)?;
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed) + 1;
    let base = format!("{prefix}{}-{counter}", std::process::id());
    created().insert(base.clone());
    Ok(base)
}

/// The owner pid and base name (`<prefix><pid>-<counter>`) of a name made by [`unique_base`]
/// with `prefix`, if it is one.
pub(crate) fn parse_owned(prefix: &str, name: &str) -> Option<(u32, String)> {
    let rest = name.strip_prefix(prefix)?;
    let mut parts = rest.split('-');
    let digits = parts.next()?;
    let counter = parts.next()?;
    let all_digits = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(digits) || !all_digits(counter) {
        return None;
    }
    Some((digits.parse().ok()?, format!("{prefix}{digits}-{counter}")))
}

/// Whether a name made with `prefix` belongs to a run that is gone: its pid is dead, or it is
/// our pid but this process did not create it.
fn is_stale(prefix: &str, name: &str) -> bool {
    match parse_owned(prefix, name) {
        None => false,
        Some((pid, base)) if pid == std::process::id() => !created().contains(&base),
        Some((pid, _)) => !process::pid_alive(pid),
    }
}

/// What [`cleanup_stale`] removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StaleReport {
    /// Network namespaces deleted.
    pub namespaces: Vec<String>,
    /// Run directories removed (their daemons stopped first).
    pub directories: Vec<PathBuf>,
    /// Daemon pids stopped.
    pub pids: Vec<u32>,
}

/// Removes the leftovers of crashed runs that used `prefix`: namespaces (killing what runs in
/// them) and run directories (stopping the daemons of their pid files) whose owning process is
/// no longer alive (or carry this process's pid without having been created by it: pids are
/// reused). Test beds of live processes, including this one's, are left alone.
pub fn cleanup_stale(prefix: &str) -> Result<StaleReport> {
    validate_prefix(prefix)?;
    let mut report = StaleReport::default();
    let dir = std::env::temp_dir();
    let entries = std::fs::read_dir(&dir).map_err(|source| TestbedError::Io {
        what: "listing the temporary directory".to_owned(),
        path: dir.clone(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !is_stale(prefix, &name) || !entry.path().is_dir() {
            continue;
        }
        let path = entry.path();
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            if let Some(daemon_pid) = process::read_pidfile(&path.join(format!("{daemon}.pid"))) {
                let marker = path.to_string_lossy().into_owned();
                if process::pid_alive(daemon_pid)
                    && process::pid_cmdline(daemon_pid).contains(&marker)
                {
                    process::stop_pid(daemon_pid, &marker, Duration::from_secs(2));
                    report.pids.push(daemon_pid);
                }
            }
        }
        std::fs::remove_dir_all(&path).map_err(|source| TestbedError::Io {
            what: "removing a stale run directory".to_owned(),
            path: path.clone(),
            source,
        })?;
        report.directories.push(path);
    }
    for name in netns::list_namespaces()? {
        if !is_stale(prefix, &name) {
            continue;
        }
        netns::delete_namespace(&name)?;
        report.namespaces.push(name);
    }
    Ok(report)
}

/// A 48-bit Ethernet address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl FromStr for MacAddr {
    type Err = TestbedError;

    fn from_str(text: &str) -> Result<Self> {
        let invalid = || TestbedError::Parse {
            what: "a MAC address",
            input: text.to_owned(),
            reason: "expected six hex octets separated by ':'".to_owned(),
        };
        let mut octets = [0u8; 6];
        let mut parts = text.split(':');
        for octet in &mut octets {
            let part = parts.next().ok_or_else(invalid)?;
            if part.is_empty() || part.len() > 2 {
                return Err(invalid());
            }
            *octet = u8::from_str_radix(part, 16).map_err(|_| invalid())?;
        }
        if parts.next().is_some() {
            return Err(invalid());
        }
        Ok(MacAddr(octets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
        parse_owned(prefix, name).map(|(pid, _)| pid)
    }

    #[test]
    fn prefixes_are_validated() {
        assert!(validate_prefix("oetb").is_ok());
        assert!(validate_prefix("my-run-").is_ok());
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("run1").is_err());
        assert!(validate_prefix("1run").is_err());
        assert!(validate_prefix("Run").is_err());
        assert!(validate_prefix("a/b").is_err());
        assert!(validate_prefix("abcdefghijklmnopq").is_err());
    }

    #[test]
    fn interface_names_respect_the_kernel_limit() {
        assert!(validate_ifname("port", "i-0a1b2c3d").is_ok());
        assert!(validate_ifname("port", "abcdefghijklmno").is_ok());
        let error = validate_ifname("port", "abcdefghijklmnop").unwrap_err();
        assert!(error.to_string().contains("16"), "{error}");
        assert!(validate_ifname("port", "").is_err());
        assert!(validate_ifname("port", "a b").is_err());
        assert!(validate_ifname("port", "a/b").is_err());
    }

    #[test]
    fn unique_names_carry_our_pid_and_parse_back() {
        let first = unique_base("oetb").unwrap();
        let second = unique_base("oetb").unwrap();
        assert_ne!(first, second);
        assert_eq!(owner_pid("oetb", &first), Some(std::process::id()));
        assert_eq!(
            owner_pid("oetb", &format!("{first}-i-0a1b2c3d")),
            Some(std::process::id())
        );
        assert_eq!(owner_pid("oetb", "oetbx-1"), None);
        assert_eq!(owner_pid("oetb", "oetb12"), None);
        assert_eq!(owner_pid("oetb", "other12-1"), None);
        assert_eq!(owner_pid("oetb", "oetb12-"), None);
        assert_eq!(
            parse_owned("oetb", "oetb12-3-i-0a1b2c3d"),
            Some((12, "oetb12-3".to_owned()))
        );
        assert!(!is_stale("oetb", &first));
        // Our pid, but not created by this process: a leftover of an earlier process.
        assert!(is_stale(
            "oetb",
            &format!("oetb{}-999999-sw", std::process::id())
        ));
        // Pid 1 is always alive.
        assert!(!is_stale("oetb", "oetb1-1-sw"));
        assert!(!is_stale("oetb", "unrelated"));
    }

    #[test]
    fn missing_prerequisites_are_named_in_one_message() {
        let error = TestbedError::Prerequisite {
            missing: vec![
                "must run as root (effective uid is 1000)".to_owned(),
                "`ethtool` not found (Debian package ethtool)".to_owned(),
            ],
        };
        let text = error.to_string();
        assert!(text.contains("must run as root"), "{text}");
        assert!(text.contains("; `ethtool` not found"), "{text}");
        assert!(find_in_path("sh").is_some());
        assert!(find_in_path("no-such-tool-ovs-ec2").is_none());
    }

    #[test]
    fn mac_addresses_round_trip() {
        let mac: MacAddr = "02:00:0a:00:00:02".parse().unwrap();
        assert_eq!(mac, MacAddr([2, 0, 10, 0, 0, 2]));
        assert_eq!(mac.to_string(), "02:00:0a:00:00:02");
        assert!("02:00:0a:00:00".parse::<MacAddr>().is_err());
        assert!("02:00:0a:00:00:02:03".parse::<MacAddr>().is_err());
        assert!("02:00:0a:00:00:zz".parse::<MacAddr>().is_err());
        assert!("02:00:0a:00:00:123".parse::<MacAddr>().is_err());
    }
}
