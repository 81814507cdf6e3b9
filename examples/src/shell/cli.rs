//! The `controller` binary's command line and configuration file.
//!
//! Flags override the file; the file overrides the defaults. The file is TOML:
//!
//! ```toml
//! listen = ["0.0.0.0:6653"]
//! log_level = "info"
//! state_file = "/var/lib/ovs-ec2/state.sqlite3"
//! pinhole_idle_timeout = 60
//! port_budget = 64
//! send_backlog_limit = 16777216   # unread bytes a switch may leave before it is disconnected
//! max_tracked_per_switch = 262144 # stateful connections tracked per switch
//! default_uplink = 1          # switches not listed below join with this uplink port
//!
//! # The EC2 API.
//! [api]
//! listen = "127.0.0.1:8773"
//! pool = ["203.0.113.100-203.0.113.149", "198.51.100.0/28"]
//! max_addresses_per_account = 5
//! body_timeout_secs = 30       # a request body that takes longer is refused
//! header_timeout_secs = 20     # a request head that takes longer (or an idle connection) is closed
//! max_connections = 1024       # per HTTP listener; more wait to be accepted
//! images = [{ id = "ami-00000001", name = "debian-12" }]
//!
//! # The XML-RPC drop-in of the 2012 deployment (OpenNebula's hooks), localhost by default.
//! [xmlrpc]
//! listen = "127.0.0.1:8000"
//! path = "/RPC2"
//! account = "AKIAIOSFODNN7EXAMPLE"   # the access key whose account the calls act as
//!
//! # The JSON admin API (bearer token; without one configured or stored, the first start
//! # creates one and prints it).
//! [admin]
//! listen = "127.0.0.1:8774"
//! token = "change-me"
//!
//! # Access keys (with none configured or stored, the first start creates one and prints it).
//! [[accounts]]
//! access_key = "AKIAIOSFODNN7EXAMPLE"
//! secret_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
//! owner = "111122223333"
//!
//! # The network (netrules' model): settings, switches, security groups, instances and
//! # elastic IPs. Instances bind to the switch port named after their id.
//! [model.settings]
//! subnet = "10.0.0.0/24"
//! gateway = "10.0.0.1"
//! router_mac = "02:00:00:00:00:01"
//! public_gateway = "203.0.113.1"
//! public_gateway_mac = "02:00:00:00:00:02"
//! elastic_ip_mac = "02:00:00:00:00:03"
//!
//! [[model.switches]]
//! dpid = 1
//! uplink = 1
//!
//! [[model.groups]]
//! id = "sg-ssh"
//! name = "ssh"
//! owner = "111122223333"
//! description = "SSH from anywhere"
//! ingress = [{ protocol = { tcp = { from = 22, to = 22 } }, peer = { cidr = "0.0.0.0/0" } }]
//! egress = [{ protocol = "any", peer = { cidr = "0.0.0.0/0" } }]
//!
//! [[model.instances]]
//! id = "i-0a1b2c3d"
//! owner = "111122223333"
//! mac = "02:00:0a:00:00:02"
//! ip = "10.0.0.2"
//! groups = ["sg-ssh"]
//! ```

use crate::api::{ApiConfig, ImageSpec};
use crate::core::Config;
use crate::shell::Listen;
use crate::store::{initial_writes, model_writes, Account, SqliteStore, Store, StoreError};
use clap::Parser;
use ipnetwork::Ipv4Network;
use netrules::model::OwnerId;
use netrules::model::{Model, Settings};
use openflow_proto::{MacAddr, PortNo};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// The ovs-ec2 controller: Open vSwitch bridges connect to it over OpenFlow 1.0, and it
/// installs the flows that implement elastic IPs and security groups.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "controller",
    version,
    about = "The ovs-ec2 controller: elastic IPs and security groups on Open vSwitch over OpenFlow 1.0",
    long_about = None
)]
pub struct Args {
    /// TOML configuration file (listen addresses, options, and the network model).
    #[arg(long, short = 'c', env = "OVS_EC2_CONFIG")]
    pub config: Option<PathBuf>,
    /// Where to listen for OpenFlow switches: IP:PORT, tcp:IP:PORT or unix:PATH (a unix
    /// socket, for switches on this host: `ovs-vsctl set-controller BR unix:PATH`); repeat
    /// for several [default: 0.0.0.0:6653].
    #[arg(long = "listen", short = 'l', value_name = "ADDR")]
    pub listen: Vec<Listen>,
    /// SQLite database holding the state (accounts, address pool, groups, rules, instances,
    /// elastic IPs); created if missing. A stored model wins over the configuration file's;
    /// network setting flags still apply to it [default: ovs-ec2.sqlite3].
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,
    /// Log filter (tracing's EnvFilter syntax: "info", "examples=debug"...); RUST_LOG wins.
    #[arg(long)]
    pub log_level: Option<String>,
    /// Idle timeout of stateful pinholes, seconds [default: 60].
    #[arg(long)]
    pub pinhole_idle_timeout: Option<u16>,
    /// Most flows one rule's port range may expand to before its traffic is decided by the
    /// controller [default: 64].
    #[arg(long)]
    pub port_budget: Option<u32>,
    /// Switches not in the model join it with this uplink port number.
    #[arg(long)]
    pub default_uplink: Option<u16>,
    /// Bytes a switch may leave unread (queued for it) beyond the controller's own largest
    /// burst to it, before it is disconnected [default: 16777216].
    #[arg(long, value_name = "BYTES")]
    pub send_backlog_limit: Option<usize>,
    /// Stateful connections tracked per switch; past it the oldest is forgotten and its
    /// pinholes deleted [default: 262144].
    #[arg(long, value_name = "N")]
    pub max_tracked_per_switch: Option<usize>,
    /// The instances' private subnet [default: 10.0.0.0/24].
    #[arg(long)]
    pub subnet: Option<Ipv4Network>,
    /// The subnet's gateway address, answered by the controller [default: 10.0.0.1].
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// The virtual router's MAC (the gateway's) [default: 02:00:00:00:00:01].
    #[arg(long)]
    pub router_mac: Option<MacAddr>,
    /// The public gateway's address [default: 203.0.113.1].
    #[arg(long)]
    pub public_gateway: Option<Ipv4Addr>,
    /// The public gateway's MAC [default: 02:00:00:00:00:02].
    #[arg(long)]
    pub public_gateway_mac: Option<MacAddr>,
    /// The MAC that answers for elastic IPs [default: 02:00:00:00:00:03].
    #[arg(long)]
    pub elastic_ip_mac: Option<MacAddr>,
    /// Address of the EC2 Query API (HTTP; served at `/` and `/services/compute`)
    /// [default: 127.0.0.1:8773].
    #[arg(long, value_name = "ADDR")]
    pub api_listen: Option<SocketAddr>,
    /// Public addresses handed out as elastic IPs: `A.B.C.D`, `A.B.C.D-A.B.C.E` or a CIDR
    /// (repeat for several). Replaces the stored pool (allocated addresses stay allocated)
    /// [default on first start: 203.0.113.100-203.0.113.149].
    #[arg(long = "pool", value_name = "RANGE")]
    pub pool: Vec<String>,
    /// Address of the XML-RPC drop-in of the 2012 deployment's control API
    /// [default: 127.0.0.1:8000, or a free port (logged) if another process has it].
    #[arg(long, value_name = "ADDR")]
    pub xmlrpc_listen: Option<SocketAddr>,
    /// HTTP path of the XML-RPC endpoint [default: /RPC2].
    #[arg(long, value_name = "PATH")]
    pub xmlrpc_path: Option<String>,
    /// Access key of the account the XML-RPC calls act as [default: the first account by
    /// access key].
    #[arg(long, value_name = "ACCESS_KEY")]
    pub xmlrpc_account: Option<String>,
    /// Address of the JSON admin API [default: 127.0.0.1:8774, or a free port (logged) if
    /// another process has it].
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Bearer token of the admin API [default: the stored one; the first start creates one
    /// and prints it].
    #[arg(
        long,
        env = "OVS_EC2_ADMIN_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
}

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Addresses to listen on (`IP:PORT`, `tcp:IP:PORT`, `unix:PATH`).
    #[serde(default)]
    pub listen: Vec<Listen>,
    /// Log filter.
    pub log_level: Option<String>,
    /// The state database.
    pub state_file: Option<PathBuf>,
    /// Pinhole idle timeout, seconds.
    pub pinhole_idle_timeout: Option<u16>,
    /// Port-range budget.
    pub port_budget: Option<u32>,
    /// Uplink of switches not in the model.
    pub default_uplink: Option<u16>,
    /// Unread bytes allowed per switch (beyond the controller's own bursts).
    pub send_backlog_limit: Option<usize>,
    /// Stateful connections tracked per switch.
    pub max_tracked_per_switch: Option<usize>,
    /// The network model.
    pub model: Option<Model>,
    /// The EC2 API.
    #[serde(default)]
    pub api: ApiFileConfig,
    /// API accounts (access keys); stored on start. With none configured or stored, the first
    /// start creates one and prints it.
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    /// The XML-RPC drop-in.
    #[serde(default)]
    pub xmlrpc: XmlRpcFileConfig,
    /// The admin API.
    #[serde(default)]
    pub admin: AdminFileConfig,
}

/// The `[xmlrpc]` table of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XmlRpcFileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// HTTP path.
    pub path: Option<String>,
    /// Access key of the account the calls act as.
    pub account: Option<String>,
}

/// The `[admin]` table of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminFileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// Bearer token.
    pub token: Option<String>,
}

/// The `[api]` table of the configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiFileConfig {
    /// Listen address.
    pub listen: Option<SocketAddr>,
    /// The public address pool (ranges as for `--pool`).
    #[serde(default)]
    pub pool: Vec<String>,
    /// The image catalog (replaces the default one-image catalog).
    #[serde(default)]
    pub images: Vec<ImageSpec>,
    /// Elastic IPs per account [default: 5].
    pub max_addresses_per_account: Option<usize>,
    /// Instances per account [default: 100].
    pub max_instances_per_account: Option<usize>,
    /// Rules per group and direction [default: 60].
    pub max_rules_per_group: Option<usize>,
    /// Availability zone reported for instances [default: ovs-ec2a].
    pub availability_zone: Option<String>,
    /// Seconds a request body may take to arrive [default: 30].
    pub body_timeout_secs: Option<u64>,
    /// Seconds a request head may take to arrive, and a kept-alive connection may stay
    /// idle, on every HTTP listener [default: 20].
    pub header_timeout_secs: Option<u64>,
    /// Connections open at once on each HTTP listener [default: 1024].
    pub max_connections: Option<usize>,
}

/// One `[[accounts]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The access key id.
    pub access_key: String,
    /// The secret access key.
    pub secret_key: String,
    /// The account (owner) id, 12 digits by convention.
    pub owner: String,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration (or its model is invalid).
    #[error("parsing {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Box<toml::de::Error>,
    },
    /// The network settings are invalid.
    #[error("network settings: {0}")]
    Settings(#[from] netrules::model::ModelError),
    /// A pool range or an account is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The state database cannot be used.
    #[error("state file {path}: {source}")]
    State {
        /// The file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
}

/// Everything the binary needs to run.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// Listen addresses.
    pub listen: Vec<Listen>,
    /// Log filter.
    pub log_level: String,
    /// The state database.
    pub state_file: PathBuf,
    /// The core's configuration.
    pub config: Config,
    /// The initial model.
    pub model: Model,
    /// The EC2 API's address.
    pub api_listen: SocketAddr,
    /// The EC2 API's settings.
    pub api: ApiConfig,
    /// The configured pool (`None`: keep the stored one, or the default on first start).
    pub pool: Option<BTreeSet<Ipv4Addr>>,
    /// The configured accounts.
    pub accounts: Vec<Account>,
    /// The XML-RPC drop-in's address (`None`: [`DEFAULT_XMLRPC_LISTEN`], or a free port if
    /// that one is taken).
    pub xmlrpc_listen: Option<SocketAddr>,
    /// Its HTTP path.
    pub xmlrpc_path: String,
    /// Access key of the account the XML-RPC calls act as (`None`: the first by access key).
    pub xmlrpc_account: Option<String>,
    /// The admin API's address (`None`: [`DEFAULT_ADMIN_LISTEN`], or a free port if that
    /// one is taken).
    pub admin_listen: Option<SocketAddr>,
    /// The admin API's token (`None`: the stored one, or a new one on first start).
    pub admin_token: Option<String>,
}

/// The XML-RPC drop-in's address when none is configured (the 2012 deployment's port).
pub const DEFAULT_XMLRPC_LISTEN: SocketAddr =
    SocketAddr::V4(std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8000));

/// The admin API's address when none is configured.
pub const DEFAULT_ADMIN_LISTEN: SocketAddr =
    SocketAddr::V4(std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8774));

/// The pool used when none is configured or stored.
pub fn default_pool() -> BTreeSet<Ipv4Addr> {
    (100..150).map(|i| Ipv4Addr::new(203, 0, 113, i)).collect()
}

/// The most addresses a pool may list (a /16).
pub const MAX_POOL: usize = 65536;

/// Parse pool ranges: `A.B.C.D`, `A.B.C.D-A.B.C.E` (inclusive) or a CIDR.
pub fn parse_pool(ranges: &[String]) -> Result<BTreeSet<Ipv4Addr>, ConfigError> {
    let bad = |r: &str, why: &str| ConfigError::Invalid(format!("pool range {r:?}: {why}"));
    let mut out = BTreeSet::new();
    for r in ranges {
        let r = r.trim();
        let (first, last) = if let Some((a, b)) = r.split_once('-') {
            let a: Ipv4Addr = a
                .trim()
                .parse()
                .map_err(|_| bad(r, "not an IPv4 address range"))?;
            let b: Ipv4Addr = b
                .trim()
                .parse()
                .map_err(|_| bad(r, "not an IPv4 address range"))?;
            (u32::from(a), u32::from(b))
        } else if r.contains('/') {
            let n: Ipv4Network = r.parse().map_err(|_| bad(r, "not an IPv4 CIDR"))?;
            (u32::from(n.network()), u32::from(n.broadcast()))
        } else {
            let a: Ipv4Addr = r.parse().map_err(|_| bad(r, "not an IPv4 address"))?;
            (u32::from(a), u32::from(a))
        };
        if first > last {
            return Err(bad(r, "the range is empty (first > last)"));
        }
        if (last - first) as usize >= MAX_POOL || out.len() + ((last - first) as usize) >= MAX_POOL
        {
            return Err(bad(r, "the pool may hold at most 65536 addresses"));
        }
        out.extend((first..=last).map(Ipv4Addr::from));
    }
    Ok(out)
}

fn default_settings() -> Settings {
    Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 24)
            .unwrap_or_else(|_| Ipv4Network::from(Ipv4Addr::new(10, 0, 0, 0))),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: MacAddr([2, 0, 0, 0, 0, 1]),
        public_gateway: Ipv4Addr::new(203, 0, 113, 1),
        public_gateway_mac: MacAddr([2, 0, 0, 0, 0, 2]),
        elastic_ip_mac: MacAddr([2, 0, 0, 0, 0, 3]),
    }
}

impl Args {
    /// Read the file (if any) and merge: flags over file over defaults.
    pub fn resolve(&self) -> Result<Resolved, ConfigError> {
        let file = match &self.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                FileConfig::parse(&text).map_err(|source| ConfigError::Parse {
                    path: path.clone(),
                    source: Box::new(source),
                })?
            }
        };
        self.merge(file)
    }

    /// Merge with an already parsed file.
    pub fn merge(&self, file: FileConfig) -> Result<Resolved, ConfigError> {
        let listen = if !self.listen.is_empty() {
            self.listen.clone()
        } else if !file.listen.is_empty() {
            file.listen
        } else {
            vec![Listen::Tcp(SocketAddr::from(([0, 0, 0, 0], 6653)))]
        };
        let mut config = Config::default();
        if let Some(t) = self.pinhole_idle_timeout.or(file.pinhole_idle_timeout) {
            config.compile.pinhole_idle_timeout = t;
        }
        if let Some(b) = self.port_budget.or(file.port_budget) {
            config.compile.port_budget = b;
        }
        config.default_uplink = self.default_uplink.or(file.default_uplink).map(PortNo);
        if let Some(v) = self.send_backlog_limit.or(file.send_backlog_limit) {
            config.send_backlog_limit = v;
        }
        if let Some(v) = self.max_tracked_per_switch.or(file.max_tracked_per_switch) {
            config.max_tracked_per_switch = v.max(1);
        }
        let mut model = match file.model {
            Some(m) => m,
            None => Model::new(default_settings())?,
        };
        apply_setting_flags(self, &mut model)?;
        let ranges = if !self.pool.is_empty() {
            self.pool.clone()
        } else {
            file.api.pool.clone()
        };
        let pool = if ranges.is_empty() {
            None
        } else {
            Some(parse_pool(&ranges)?)
        };
        let mut api = ApiConfig::default();
        if !file.api.images.is_empty() {
            api.images = file.api.images.clone();
        }
        if let Some(v) = file.api.max_addresses_per_account {
            api.max_addresses_per_account = v;
        }
        if let Some(v) = file.api.max_instances_per_account {
            api.max_instances_per_account = v;
        }
        if let Some(v) = file.api.max_rules_per_group {
            api.max_rules_per_group = v;
        }
        if let Some(v) = &file.api.availability_zone {
            api.availability_zone = v.clone();
        }
        if let Some(v) = file.api.body_timeout_secs {
            api.body_timeout = std::time::Duration::from_secs(v.max(1));
        }
        if let Some(v) = file.api.header_timeout_secs {
            api.header_timeout = std::time::Duration::from_secs(v.max(1));
        }
        if let Some(v) = file.api.max_connections {
            api.max_connections = v.max(1);
        }
        let mut accounts = Vec::new();
        for a in &file.accounts {
            accounts.push(Account {
                access_key: a.access_key.clone(),
                secret_key: a.secret_key.clone(),
                owner: OwnerId::new(a.owner.as_str()).map_err(|e| {
                    ConfigError::Invalid(format!("account {:?}: owner: {e}", a.access_key))
                })?,
            });
        }
        let xmlrpc_path = self
            .xmlrpc_path
            .clone()
            .or(file.xmlrpc.path.clone())
            .unwrap_or_else(|| "/RPC2".to_owned());
        if !xmlrpc_path.starts_with('/') {
            return Err(ConfigError::Invalid(format!(
                "xmlrpc path {xmlrpc_path:?}: must start with /"
            )));
        }
        let admin_token = self.admin_token.clone().or(file.admin.token.clone());
        if admin_token.as_ref().is_some_and(|t| t.trim().len() < 8) {
            return Err(ConfigError::Invalid(
                "admin token: at least 8 characters".to_owned(),
            ));
        }
        Ok(Resolved {
            xmlrpc_listen: self.xmlrpc_listen.or(file.xmlrpc.listen),
            xmlrpc_path,
            xmlrpc_account: self.xmlrpc_account.clone().or(file.xmlrpc.account.clone()),
            admin_listen: self.admin_listen.or(file.admin.listen),
            admin_token,
            api_listen: self
                .api_listen
                .or(file.api.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8773))),
            api,
            pool,
            accounts,
            listen,
            state_file: self
                .state_file
                .clone()
                .or(file.state_file)
                .unwrap_or_else(|| PathBuf::from("ovs-ec2.sqlite3")),
            log_level: self
                .log_level
                .clone()
                .or(file.log_level)
                .unwrap_or_else(|| "info".to_owned()),
            config,
            model,
        })
    }
}

/// Apply the network setting flags to `model` (nothing if none is given).
fn apply_setting_flags(args: &Args, model: &mut Model) -> Result<(), ConfigError> {
    let mut s = *model.settings();
    let before = s;
    if let Some(v) = args.subnet {
        s.subnet = v;
    }
    if let Some(v) = args.gateway {
        s.gateway = v;
    }
    if let Some(v) = args.router_mac {
        s.router_mac = v;
    }
    if let Some(v) = args.public_gateway {
        s.public_gateway = v;
    }
    if let Some(v) = args.public_gateway_mac {
        s.public_gateway_mac = v;
    }
    if let Some(v) = args.elastic_ip_mac {
        s.elastic_ip_mac = v;
    }
    if s != before {
        model.set_settings(s)?;
    }
    Ok(())
}

impl Resolved {
    /// Open the state database and decide the starting model: the stored one if there is
    /// one (with the setting flags applied), else the configured one, which is then stored.
    pub fn open_state(&mut self, args: &Args) -> Result<SqliteStore, ConfigError> {
        let state = |source| ConfigError::State {
            path: self.state_file.clone(),
            source,
        };
        let mut store = SqliteStore::open(&self.state_file).map_err(state)?;
        let stored = store.load().map_err(state)?;
        match stored.model {
            Some(mut m) => {
                let before = m.clone();
                merge_declared(&mut m, &self.model)?;
                apply_setting_flags(args, &mut m)?;
                store.commit(&model_writes(&before, &m)).map_err(state)?;
                self.model = m;
            }
            None => store.commit(&initial_writes(&self.model)).map_err(state)?,
        }
        Ok(store)
    }
}

/// Bring what the configuration file declares into a stored model: switches (the file's
/// uplink wins), and security groups and instances the store does not have (instances
/// managed elsewhere, as OpenNebula managed them, are declared in the file). What the store
/// has stays as the API left it.
fn merge_declared(stored: &mut Model, declared: &Model) -> Result<(), ConfigError> {
    for sw in declared.switches().values() {
        match stored.switch(sw.dpid) {
            Some(s) if s == sw => {}
            Some(_) => {
                stored.remove_switch(sw.dpid)?;
                stored.add_switch(*sw)?;
            }
            None => {
                stored.add_switch(*sw)?;
            }
        }
    }
    // Groups first (instances and rules refer to them), without their rules, which may name
    // groups declared later.
    let new_groups: Vec<_> = declared
        .groups()
        .values()
        .filter(|g| stored.group(&g.id).is_none())
        .cloned()
        .collect();
    for g in &new_groups {
        let mut bare = g.clone();
        bare.ingress.clear();
        bare.egress.clear();
        stored.add_group(bare)?;
    }
    for g in &new_groups {
        for (direction, rules) in [
            (netrules::model::Direction::Ingress, &g.ingress),
            (netrules::model::Direction::Egress, &g.egress),
        ] {
            for p in rules {
                stored.authorize(&g.id, direction, p.clone())?;
            }
        }
    }
    for i in declared.instances().values() {
        if stored.instance(&i.id).is_none() {
            stored.add_instance(i.clone())?;
        }
    }
    Ok(())
}

impl FileConfig {
    /// Parse the TOML text.
    pub fn parse(text: &str) -> Result<FileConfig, toml::de::Error> {
        toml::from_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in the module docs parses and gives a valid model.
    #[test]
    fn documented_example_parses() {
        let doc = include_str!("cli.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let file = FileConfig::parse(&example).unwrap();
        let args = Args::parse_from(["controller"]);
        let r = args.merge(file).unwrap();
        assert_eq!(
            r.listen,
            vec![Listen::Tcp(SocketAddr::from(([0, 0, 0, 0], 6653)))]
        );
        assert_eq!(r.config.default_uplink, Some(PortNo(1)));
        assert_eq!(r.model.switches().len(), 1);
        assert_eq!(r.model.instances().len(), 1);
        assert_eq!(r.model.groups().len(), 1);
        assert_eq!(r.pool.as_ref().map(BTreeSet::len), Some(50 + 16));
        assert_eq!(r.accounts.len(), 1);
        assert_eq!(r.api.images[0].name, "debian-12");
        assert_eq!(r.api_listen, SocketAddr::from(([127, 0, 0, 1], 8773)));
        assert_eq!(r.xmlrpc_listen, Some(DEFAULT_XMLRPC_LISTEN));
        assert_eq!(r.xmlrpc_path, "/RPC2");
        assert_eq!(r.xmlrpc_account.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
        assert_eq!(r.admin_listen, Some(DEFAULT_ADMIN_LISTEN));
        assert_eq!(r.admin_token.as_deref(), Some("change-me"));
        // Flags win; a bad path or a short token is refused.
        let args = Args::parse_from([
            "controller",
            "--xmlrpc-listen",
            "127.0.0.1:9000",
            "--admin-token",
            "0123456789abcdef",
        ]);
        let r = args.merge(FileConfig::default()).unwrap();
        assert_eq!(r.xmlrpc_listen.map(|a| a.port()), Some(9000));
        assert_eq!(r.admin_listen, None);
        assert_eq!(r.admin_token.as_deref(), Some("0123456789abcdef"));
        assert!(Args::parse_from(["controller", "--xmlrpc-path", "RPC2"])
            .merge(FileConfig::default())
            .is_err());
        assert!(Args::parse_from(["controller", "--admin-token", "short"])
            .merge(FileConfig::default())
            .is_err());
    }

    #[test]
    fn listen_addresses_tcp_and_unix() {
        // Flags: bare, tcp: and unix: forms.
        let args = Args::parse_from([
            "controller",
            "--listen",
            "127.0.0.1:6653",
            "-l",
            "tcp:[::1]:6654",
            "--listen",
            "unix:/run/ovs-ec2/ctl.sock",
        ]);
        let r = args.merge(FileConfig::default()).unwrap();
        assert_eq!(
            r.listen,
            vec![
                Listen::Tcp(SocketAddr::from(([127, 0, 0, 1], 6653))),
                Listen::Tcp("[::1]:6654".parse().unwrap()),
                Listen::Unix(PathBuf::from("/run/ovs-ec2/ctl.sock")),
            ]
        );
        assert_eq!(r.listen[2].to_string(), "unix:/run/ovs-ec2/ctl.sock");
        // The file takes the same forms.
        let file =
            FileConfig::parse("listen = [\"unix:/tmp/ctl.sock\", \"tcp:0.0.0.0:6653\"]\n").unwrap();
        let r = Args::parse_from(["controller"]).merge(file).unwrap();
        assert_eq!(
            r.listen,
            vec![
                Listen::Unix(PathBuf::from("/tmp/ctl.sock")),
                Listen::Tcp(SocketAddr::from(([0, 0, 0, 0], 6653))),
            ]
        );
        // Bad ones are refused with the input named.
        for bad in ["unix:", "tcp:nowhere", "6653", "ssl:1.2.3.4:6653"] {
            assert!(
                Args::try_parse_from(["controller", "--listen", bad]).is_err(),
                "{bad}"
            );
            let e = bad.parse::<Listen>().unwrap_err();
            assert!(e.to_string().contains(bad), "{e}");
        }
        let e = FileConfig::parse("listen = [\"unix:\"]\n").unwrap_err();
        assert!(e.to_string().contains("unix socket path is empty"), "{e}");
    }

    #[test]
    fn pool_ranges() {
        let p = parse_pool(&[
            "10.1.0.1".into(),
            "10.1.0.5-10.1.0.7".into(),
            "10.2.0.0/30".into(),
        ])
        .unwrap();
        assert_eq!(p.len(), 1 + 3 + 4);
        assert!(p.contains(&Ipv4Addr::new(10, 1, 0, 6)));
        assert!(parse_pool(&["10.1.0.7-10.1.0.5".into()]).is_err());
        assert!(parse_pool(&["10.0.0.0/8".into()]).is_err());
        assert!(parse_pool(&["nope".into()]).is_err());
    }

    #[test]
    fn flags_override_file_and_defaults() {
        let file = FileConfig::parse("listen = [\"127.0.0.1:7000\"]\nport_budget = 8\n").unwrap();
        let args = Args::parse_from([
            "controller",
            "--listen",
            "127.0.0.1:7001",
            "--listen",
            "127.0.0.1:7002",
            "--pinhole-idle-timeout",
            "30",
            "--subnet",
            "10.9.0.0/16",
            "--gateway",
            "10.9.0.1",
        ]);
        let r = args.merge(file).unwrap();
        assert_eq!(r.listen.len(), 2);
        assert_eq!(r.config.compile.port_budget, 8);
        assert_eq!(r.config.compile.pinhole_idle_timeout, 30);
        assert_eq!(r.model.settings().gateway, Ipv4Addr::new(10, 9, 0, 1));
        // No configuration at all works.
        let r = Args::parse_from(["controller"]).resolve().unwrap();
        assert_eq!(r.log_level, "info");
        assert_eq!(r.state_file, PathBuf::from("ovs-ec2.sqlite3"));
        assert!(r.model.switches().is_empty());
    }

    #[test]
    fn the_state_file_wins_over_the_configuration_on_restart() {
        let dir = std::env::temp_dir().join(format!("ovs-ec2-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.sqlite3");
        let _ = std::fs::remove_file(&path);
        let p = path.to_str().unwrap();
        // First start: the configured model (one switch) is stored.
        let file = FileConfig::parse("[model.settings]\nsubnet = \"10.0.0.0/24\"\ngateway = \"10.0.0.1\"\nrouter_mac = \"02:00:00:00:00:01\"\npublic_gateway = \"203.0.113.1\"\npublic_gateway_mac = \"02:00:00:00:00:02\"\nelastic_ip_mac = \"02:00:00:00:00:03\"\n[[model.switches]]\ndpid = 1\nuplink = 1\n").unwrap();
        let args = Args::parse_from(["controller", "--state-file", p]);
        let mut r = args.merge(file.clone()).unwrap();
        let mut store = r.open_state(&args).unwrap();
        assert_eq!(r.model.switches().len(), 1);
        // The running controller adds a switch (through the store).
        let before = r.model.clone();
        let mut after = before.clone();
        after
            .add_switch(netrules::model::Switch {
                dpid: 2,
                uplink: PortNo(1),
            })
            .unwrap();
        store.commit(&model_writes(&before, &after)).unwrap();
        drop(store);
        // Restart with the same file and configuration, and a new router MAC flag: the
        // stored model (two switches) comes back, with the flag applied and stored.
        let args = Args::parse_from([
            "controller",
            "--state-file",
            p,
            "--router-mac",
            "02:00:00:00:00:09",
        ]);
        let mut r = args.merge(file).unwrap();
        let store = r.open_state(&args).unwrap();
        assert_eq!(r.model.switches().len(), 2);
        assert_eq!(r.model.settings().router_mac, MacAddr([2, 0, 0, 0, 0, 9]));
        let again = store.load().unwrap().model.unwrap();
        assert_eq!(again.settings().router_mac, MacAddr([2, 0, 0, 0, 0, 9]));
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instances_declared_later_in_the_file_join_the_stored_model() {
        let dir = std::env::temp_dir().join(format!("ovs-ec2-cli-decl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.sqlite3");
        let _ = std::fs::remove_file(&path);
        let p = path.to_str().unwrap();
        let settings = "[model.settings]\nsubnet = \"10.0.0.0/24\"\ngateway = \"10.0.0.1\"\nrouter_mac = \"02:00:00:00:00:01\"\npublic_gateway = \"203.0.113.1\"\npublic_gateway_mac = \"02:00:00:00:00:02\"\nelastic_ip_mac = \"02:00:00:00:00:03\"\n[[model.switches]]\ndpid = 1\nuplink = 1\n";
        let args = Args::parse_from(["controller", "--state-file", p]);
        let mut r = args.merge(FileConfig::parse(settings).unwrap()).unwrap();
        drop(r.open_state(&args).unwrap());
        // The operator declares a group and an instance managed elsewhere, and changes the
        // switch's uplink.
        let later = format!(
            "{}{}",
            settings.replace("uplink = 1", "uplink = 3"),
            "[[model.groups]]\nid = \"sg-1\"\nname = \"web\"\nowner = \"111122223333\"\ndescription = \"d\"\ningress = [{ protocol = \"any\", peer = { group = \"sg-1\" } }]\negress = []\n[[model.instances]]\nid = \"i-0a1b2c3d\"\nowner = \"111122223333\"\nmac = \"02:00:0a:00:00:02\"\nip = \"10.0.0.2\"\ngroups = [\"sg-1\"]\n"
        );
        let mut r = args.merge(FileConfig::parse(&later).unwrap()).unwrap();
        let store = r.open_state(&args).unwrap();
        assert_eq!(r.model.instances().len(), 1);
        assert_eq!(r.model.groups().len(), 1);
        assert_eq!(r.model.switch(1).unwrap().uplink, PortNo(3));
        let stored = store.load().unwrap().model.unwrap();
        assert_eq!(stored.instances().len(), 1);
        assert_eq!(stored.groups().values().next().unwrap().ingress.len(), 1);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_settings_and_unknown_keys_are_refused() {
        let args = Args::parse_from(["controller", "--gateway", "192.168.1.1"]);
        assert!(matches!(
            args.merge(FileConfig::default()),
            Err(ConfigError::Settings(_))
        ));
        assert!(FileConfig::parse("lisen = []").is_err());
    }
}
