//! The XML-RPC drop-in for the 2012 deployment's control API: the methods OpenNebula's hook
//! scripts and cloud called on the old controller (port 8000, path `/RPC2`), with their
//! argument shapes and answers, on today's model, store and flow pipeline.
//!
//! Every change goes through [`Ec2Service::apply`]: serialised with the EC2 API's changes,
//! validated on a copy of the model, committed to the store, then sent to the switches (the
//! call answers once they acknowledged, as EC2 calls do). An instance registered here is an
//! instance of the model, visible to `DescribeInstances` of the account the calls act as
//! ([`XmlRpc::owner`]), and the other way round.
//!
//! # Methods
//!
//! Each change answers the string `SUCCESS`, or a failure string that starts with
//! `ERROR: ` and says what was wrong (wrong arity, a wrong type, a malformed address or
//! datapath id, an unknown instance or group, a refusal of the model); after a failure
//! nothing has changed. Datapath ids are hexadecimal strings (`"0000000000000001"`, `"0x1"`
//! or `"00:00:00:00:00:00:00:01"`), ports ints, addresses strings.
//!
//! | method | arguments | effect |
//! | --- | --- | --- |
//! | `RunInstance` | `private_ip, private_mac, switch_dpid, port, groups` | registers an instance (a new `i-` + 8 hex id) with that address and MAC, attached to `port` of the switch, in `groups`; an instance already registered with that address and MAC is updated (groups, attachment) |
//! | `TerminateInstance` | `private_ip` | removes the instance with that address (its elastic IP stays allocated; one launched through the EC2 API then shows `terminated` there, as after `TerminateInstances`) |
//! | `AssociateAddress` | `elastic_ip, private_ip, private_mac, switch_dpid, ovs_port, vlan_id, gateway_ip` | allocates the address to the account if it is not yet (it must be in the controller's pool), registers and attaches the instance if it is unknown (in the account's `default` group), and associates the address with it, moving it from another instance if needed |
//! | `DisassociateAddress` | `elastic_ip` | disassociates the address (it stays allocated to the account, as after an EC2 `DisassociateAddress`) |
//! | `AuthorizeSecurityGroupIngress` | `group_id, protocol, from_port, to_port, cidr` | adds an ingress rule |
//! | `RevokeSecurityGroupIngress` | same | removes it |
//! | `GetElasticIpMap` | none | struct: elastic IP -> private IP, for every associated address |
//! | `GetElasticIpReverseMap` | none | struct: private IP -> elastic IP |
//! | `GetSwitchesMap` | none | struct: datapath id (16 hex digits) -> struct `{connected: boolean, uplink: int, ports: struct port -> struct {instance, private_ip, private_mac, elastic_ip?}}` |
//! | `DumpGroupInstance` | `group_id` | struct `{id, name, rules: [[protocol, from_port, to_port, cidr]...], instances: [struct {instance, private_ip, private_mac}...]}` |
//!
//! `groups` is an array of structs `{name: string, id: group id, rules: [[protocol,
//! from_port, to_port, cidr]...]}`; an empty array puts the instance in the account's
//! `default` group. A group id is `sg-` and hex digits, or a number (int or decimal string,
//! as OpenNebula numbers groups) `n`, taken as `sg-` and `n` in 8 hex digits. A group that
//! does not exist is created with those ingress rules (and all egress allowed); one that
//! exists (and belongs to the account) gets exactly those ingress rules (its name is kept).
//! Rules: protocol `tcp`, `udp`, `icmp`, `-1`/`all` or a number; ports `-1` for every port
//! (for ICMP: type and code, `-1` for any); the peer is a CIDR block.
//!
//! A group holds at most as many ingress rules as the EC2 API allows
//! (`max_rules_per_group`, 60 by default). The EC2 API's per-account limits on addresses and
//! instances do not apply: the XML-RPC account acts for the whole cloud.
//!
//! `vlan_id` must be an int from -1 to 4095 and is otherwise ignored: the model switches
//! untagged frames. `gateway_ip` must be the private subnet's gateway the controller
//! answers for. The read-outs cover every account's instances and addresses (they are the
//! operator's view); changes act only on the account's own instances, groups and
//! addresses.
//!
//! Instances registered here are attached to an explicit (datapath, port) rather than to the
//! port named after them: they are pinned ([`crate::core::Controller::pin`]) so that the
//! controller never detaches them when the port's name does not match; the pins are stored
//! (record kind [`PIN_RECORD`]) and restored at start ([`pinned`]).

pub mod args;

use crate::api::Ec2Service;
use crate::store::{Stored, Write};
use args::{Args, GroupSpec};
use dxr::Value;
use dxr_server::{async_trait, Handler, HandlerResult, RouteBuilder};
use ec2_model::{Ec2Error, ErrorCode};
use netrules::model::{
    AllocationId, Attachment, Direction, Dpid, ElasticIp, GroupId, Instance, InstanceId, Model,
    OwnerId, Permission, PortRange, Protocol, SecurityGroup, Touched,
};
use openflow_proto::MacAddr;
use rand::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use tracing::info;

/// Store record kind of an instance attached by XML-RPC (key: the instance id).
pub const PIN_RECORD: &str = "xmlrpc-instance";

/// The answer of a change that worked.
pub const SUCCESS: &str = "SUCCESS";

/// The methods served, in the order of the module docs.
pub const METHODS: [&str; 10] = [
    "RunInstance",
    "TerminateInstance",
    "AssociateAddress",
    "DisassociateAddress",
    "AuthorizeSecurityGroupIngress",
    "RevokeSecurityGroupIngress",
    "GetElasticIpMap",
    "GetElasticIpReverseMap",
    "GetSwitchesMap",
    "DumpGroupInstance",
];

/// The instances pinned by earlier XML-RPC calls, from the store's records.
pub fn pinned(stored: &Stored) -> Vec<InstanceId> {
    stored
        .records
        .keys()
        .filter(|(kind, _)| kind == PIN_RECORD)
        .filter_map(|(_, key)| InstanceId::new(key.as_str()).ok())
        .collect()
}

/// The XML-RPC methods, acting as one account.
#[derive(Clone, Debug)]
pub struct XmlRpc {
    service: Ec2Service,
    owner: OwnerId,
    max_rules_per_group: usize,
}

/// A failure: the text after `ERROR: `.
type Fail = String;

fn fail(e: Ec2Error) -> Fail {
    e.message().to_owned()
}

fn refuse(msg: impl Into<String>) -> Ec2Error {
    Ec2Error::new(ErrorCode::InvalidParameterValue, msg)
}

/// A model refusal, with what was attempted.
fn model(what: &str) -> impl Fn(netrules::model::ModelError) -> Ec2Error + '_ {
    move |e| refuse(format!("{what}: {e}"))
}

fn fresh_hex_id(prefix: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::thread_rng();
    loop {
        let id = format!("{prefix}{:08x}", rng.gen::<u32>());
        if !taken(&id) {
            return id;
        }
    }
}

fn pin_record(id: &InstanceId, at: Attachment) -> Write {
    Write::PutRecord {
        kind: PIN_RECORD.to_owned(),
        key: id.as_str().to_owned(),
        value: serde_json::json!({ "switch": format!("{:016x}", at.switch), "port": at.port.0 })
            .to_string(),
    }
}

fn unpin_record(id: &InstanceId) -> Write {
    Write::DeleteRecord {
        kind: PIN_RECORD.to_owned(),
        key: id.as_str().to_owned(),
    }
}

/// The `[protocol, from_port, to_port, cidr]` form of a permission (EC2's conventions: -1
/// for every port or every ICMP type/code).
fn rule_array(p: &Permission) -> Value {
    let (proto, from, to) = match *p.protocol() {
        Protocol::Any => ("-1".to_owned(), -1, -1),
        Protocol::Tcp(r) | Protocol::Udp(r) => {
            let name = if matches!(p.protocol(), Protocol::Tcp(_)) {
                "tcp"
            } else {
                "udp"
            };
            if r == PortRange::ALL {
                (name.to_owned(), -1, -1)
            } else {
                (name.to_owned(), i32::from(r.from()), i32::from(r.to()))
            }
        }
        Protocol::Icmp(spec) => (
            "icmp".to_owned(),
            spec.icmp_type().map_or(-1, i32::from),
            spec.code().map_or(-1, i32::from),
        ),
        Protocol::Number(n) => (n.to_string(), -1, -1),
    };
    let peer = match p.peer() {
        netrules::model::Peer::Cidr(n) => n.to_string(),
        netrules::model::Peer::Group(g) => g.as_str().to_owned(),
    };
    Value::Array(vec![
        Value::String(proto),
        Value::Integer(from),
        Value::Integer(to),
        Value::String(peer),
    ])
}

fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

/// The instance that a call registers or updates.
struct Registration {
    ip: Ipv4Addr,
    mac: MacAddr,
    at: Attachment,
}

impl XmlRpc {
    /// The methods on `service`, acting as the account `owner`, with the EC2 API's bound on
    /// the rules of a group and direction (`ApiConfig::max_rules_per_group`).
    pub fn new(service: Ec2Service, owner: OwnerId, max_rules_per_group: usize) -> Self {
        XmlRpc {
            service,
            owner,
            max_rules_per_group,
        }
    }

    /// The account the calls act as.
    pub fn owner(&self) -> &OwnerId {
        &self.owner
    }

    /// An axum router serving the methods at `path` (POST, `text/xml`).
    pub fn router(&self, path: &str) -> axum::Router {
        let mut builder = RouteBuilder::new().set_path(path);
        for name in METHODS {
            builder = builder.add_method(
                name,
                Box::new(Method {
                    rpc: Arc::new(self.clone()),
                    name,
                }),
            );
        }
        builder.build()
    }

    /// Call `method` with `params`: the answer (`SUCCESS`, a read-out, or a failure string).
    pub async fn call(&self, method: &str, params: &[Value]) -> Value {
        let started = std::time::Instant::now();
        let result = self.dispatch(method, params).await;
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.clone(),
        };
        info!(
            method,
            account = %self.owner,
            outcome,
            ms = started.elapsed().as_millis() as u64,
            "xml-rpc call"
        );
        match result {
            Ok(v) => v,
            Err(e) => Value::String(format!("ERROR: {e}")),
        }
    }

    async fn dispatch(&self, method: &str, params: &[Value]) -> Result<Value, Fail> {
        match method {
            "RunInstance" => self.run_instance(params).await,
            "TerminateInstance" => self.terminate_instance(params).await,
            "AssociateAddress" => self.associate(params).await,
            "DisassociateAddress" => self.disassociate(params).await,
            "AuthorizeSecurityGroupIngress" => self.rule(params, true).await,
            "RevokeSecurityGroupIngress" => self.rule(params, false).await,
            "GetElasticIpMap" => self.eip_map(params, false).await,
            "GetElasticIpReverseMap" => self.eip_map(params, true).await,
            "GetSwitchesMap" => self.switches_map(params).await,
            "DumpGroupInstance" => self.dump_group(params).await,
            other => Err(format!("unknown method {other:?}")),
        }
    }

    /// Run a change and pin/unpin instances around it: `pin` before (so that no switch event
    /// can detach them in between), and the change's own result's pins after.
    async fn change<F>(&self, pin_first: Option<InstanceId>, f: F) -> Result<Value, Fail>
    where
        F: FnOnce(&mut Model) -> Result<(Touched, Vec<Write>, Pins), Ec2Error> + Send + 'static,
    {
        let handle = self.service.handle().clone();
        if let Some(id) = &pin_first {
            handle
                .pin(id.clone(), true)
                .await
                .map_err(|e| e.to_string())?;
        }
        let result = self.service.apply(f).await;
        match result {
            Ok(pins) => {
                for id in pins.pin {
                    let _ = handle.pin(id, true).await;
                }
                for id in pins.unpin {
                    let _ = handle.pin(id, false).await;
                }
                if let Some(id) = pin_first.filter(|id| !pins.used.contains(id)) {
                    let _ = handle.pin(id, false).await;
                }
                Ok(string(SUCCESS))
            }
            Err(e) => {
                if let Some(id) = pin_first {
                    let _ = handle.pin(id, false).await;
                }
                Err(fail(e))
            }
        }
    }

    /// A fresh instance id (checked against the model inside the change: a collision
    /// refuses the call).
    fn fresh_instance_id() -> Result<InstanceId, Fail> {
        InstanceId::new(fresh_hex_id("i-", |_| false).as_str()).map_err(|e| e.to_string())
    }

    async fn run_instance(&self, params: &[Value]) -> Result<Value, Fail> {
        let a = Args::new(
            "RunInstance",
            params,
            &["private_ip", "private_mac", "switch_dpid", "port", "groups"],
        )?;
        let ip = a.ipv4(0, "private_ip")?;
        let mac = a.mac(1, "private_mac")?;
        let switch = a.dpid(2, "switch_dpid")?;
        let port = a.port(3, "port")?;
        let groups = args::groups_value(a.value(4)?)
            .map_err(|e| format!("{}: argument 5 (groups): {e}", a.method()))?;
        let owner = self.owner.clone();
        let limit = self.max_rules_per_group;
        let fresh = Self::fresh_instance_id()?;
        let fresh_c = fresh.clone();
        self.change(Some(fresh), move |m| {
            let mut t = Touched::none();
            let ids = upsert_groups(m, &owner, &groups, limit, &mut t)?;
            let reg = Registration {
                ip,
                mac,
                at: Attachment { switch, port },
            };
            let (id, writes) = register(m, &owner, &reg, Some(ids), fresh_c, &mut t)?;
            Ok((t, writes, Pins::pin(id)))
        })
        .await
    }

    async fn terminate_instance(&self, params: &[Value]) -> Result<Value, Fail> {
        let a = Args::new("TerminateInstance", params, &["private_ip"])?;
        let ip = a.ipv4(0, "private_ip")?;
        let owner = self.owner.clone();
        self.change(None, move |m| {
            let id = own_instance(m, &owner, ip)?.id.clone();
            let t = m
                .remove_instance(&id)
                .map_err(model("removing the instance"))?;
            Ok((t, vec![unpin_record(&id)], Pins::unpin(id)))
        })
        .await
    }

    async fn associate(&self, params: &[Value]) -> Result<Value, Fail> {
        let a = Args::new(
            "AssociateAddress",
            params,
            &[
                "elastic_ip",
                "private_ip",
                "private_mac",
                "switch_dpid",
                "ovs_port",
                "vlan_id",
                "gateway_ip",
            ],
        )?;
        let eip = a.ipv4(0, "elastic_ip")?;
        let ip = a.ipv4(1, "private_ip")?;
        let mac = a.mac(2, "private_mac")?;
        let switch = a.dpid(3, "switch_dpid")?;
        let port = a.port(4, "ovs_port")?;
        let vlan = a.int(5, "vlan_id")?;
        if !(-1..=4095).contains(&vlan) {
            return Err(format!(
                "AssociateAddress: argument 6 (vlan_id): expected -1 to 4095, found {vlan}"
            ));
        }
        let gateway = a.ipv4(6, "gateway_ip")?;
        let owner = self.owner.clone();
        let pool = self.service.pool().clone();
        let fresh = Self::fresh_instance_id()?;
        let fresh_c = fresh.clone();
        self.change(Some(fresh), move |m| {
            let settings = *m.settings();
            if gateway != settings.gateway {
                return Err(refuse(format!(
                    "AssociateAddress: argument 7 (gateway_ip): the private subnet's gateway is {}, not {gateway}",
                    settings.gateway
                )));
            }
            let mut t = Touched::none();
            let mut writes = Vec::new();
            // The address: allocated to the account, or allocated now from the pool.
            match m.elastic_ip(eip) {
                Some(e) if e.owner != owner => {
                    return Err(refuse(format!(
                        "the address {eip} is allocated to another account"
                    )))
                }
                Some(_) => {}
                None => {
                    if !pool.contains(&eip) {
                        return Err(refuse(format!(
                            "the address {eip} is not in the controller's public address pool"
                        )));
                    }
                    let alloc = fresh_hex_id("eipalloc-", |s| {
                        AllocationId::new(s).is_ok_and(|a| m.elastic_ip_by_allocation(&a).is_some())
                    });
                    let allocation_id =
                        AllocationId::new(alloc.as_str()).map_err(model("allocation id"))?;
                    t.merge(
                        m.allocate(ElasticIp {
                            public_ip: eip,
                            allocation_id,
                            owner: owner.clone(),
                            instance: None,
                        })
                        .map_err(model("allocating the address"))?,
                    );
                }
            }
            // The instance: registered (and attached there) if unknown.
            let reg = Registration {
                ip,
                mac,
                at: Attachment { switch, port },
            };
            let (id, mut w) = register(m, &owner, &reg, None, fresh_c, &mut t)?;
            writes.append(&mut w);
            // One address per instance: a previous one is disassociated first.
            if let Some(old) = m.elastic_ip_of(&id).filter(|old| *old != eip) {
                t.merge(
                    m.disassociate(old)
                        .map_err(model("disassociating the instance's previous address"))?,
                );
            }
            if m.elastic_ip(eip).and_then(|e| e.instance.as_ref()) != Some(&id) {
                t.merge(
                    m.associate(eip, &id, true)
                        .map_err(model("associating the address"))?,
                );
            }
            Ok((t, writes, Pins::pin(id)))
        })
        .await
    }

    async fn disassociate(&self, params: &[Value]) -> Result<Value, Fail> {
        let a = Args::new("DisassociateAddress", params, &["elastic_ip"])?;
        let eip = a.ipv4(0, "elastic_ip")?;
        let owner = self.owner.clone();
        self.change(None, move |m| {
            match m.elastic_ip(eip) {
                None => {
                    return Err(refuse(format!("the address {eip} is not allocated")));
                }
                Some(e) if e.owner != owner => {
                    return Err(refuse(format!(
                        "the address {eip} is allocated to another account"
                    )))
                }
                Some(e) if e.instance.is_none() => {
                    return Err(refuse(format!("the address {eip} is not associated")));
                }
                Some(_) => {}
            }
            let t = m
                .disassociate(eip)
                .map_err(model("disassociating the address"))?;
            Ok((t, Vec::new(), Pins::default()))
        })
        .await
    }

    async fn rule(&self, params: &[Value], authorize: bool) -> Result<Value, Fail> {
        let method = if authorize {
            "AuthorizeSecurityGroupIngress"
        } else {
            "RevokeSecurityGroupIngress"
        };
        let a = Args::new(
            method,
            params,
            &["group_id", "protocol", "from_port", "to_port", "cidr"],
        )?;
        let gid = a.group_id(0, "group_id")?;
        let protocol = match a.value(1)? {
            Value::Integer(n) => n.to_string(),
            _ => a.string(1, "protocol")?.to_owned(),
        };
        let from = a.int(2, "from_port")?;
        let to = a.int(3, "to_port")?;
        let cidr = a.string(4, "cidr")?;
        let permission =
            args::rule(&protocol, from, to, cidr).map_err(|e| format!("{method}: {e}"))?;
        let owner = self.owner.clone();
        let limit = self.max_rules_per_group;
        self.change(None, move |m| {
            let rules = own_group(m, &owner, &gid)?.ingress.len();
            let t = if authorize {
                if rules >= limit {
                    return Err(refuse(format!(
                        "{method}: the group {gid} has {rules} rules, the most a group may have"
                    )));
                }
                m.authorize(&gid, Direction::Ingress, permission)
                    .map_err(model("authorizing"))?
            } else {
                m.revoke(&gid, Direction::Ingress, &permission)
                    .map_err(model("revoking"))?
            };
            Ok((t, Vec::new(), Pins::default()))
        })
        .await
    }

    async fn eip_map(&self, params: &[Value], reverse: bool) -> Result<Value, Fail> {
        let name = if reverse {
            "GetElasticIpReverseMap"
        } else {
            "GetElasticIpMap"
        };
        Args::new(name, params, &[])?;
        self.service
            .handle()
            .inspect(move |c| {
                let m = c.model();
                let mut out = BTreeMap::new();
                for (ip, e) in m.elastic_ips() {
                    let Some(inst) = e.instance.as_ref().and_then(|i| m.instance(i)) else {
                        continue;
                    };
                    let (k, v) = if reverse {
                        (inst.ip.to_string(), ip.to_string())
                    } else {
                        (ip.to_string(), inst.ip.to_string())
                    };
                    out.insert(k, Value::String(v));
                }
                Value::Struct(out)
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn switches_map(&self, params: &[Value]) -> Result<Value, Fail> {
        Args::new("GetSwitchesMap", params, &[])?;
        self.service
            .handle()
            .inspect(|c| {
                let m = c.model();
                let connected = c.switches();
                let dpids: BTreeSet<Dpid> = m
                    .switches()
                    .keys()
                    .chain(connected.keys())
                    .copied()
                    .collect();
                let mut out = BTreeMap::new();
                for d in dpids {
                    let mut sw = BTreeMap::new();
                    sw.insert(
                        "connected".to_owned(),
                        Value::Boolean(connected.contains_key(&d)),
                    );
                    if let Some(s) = m.switch(d) {
                        sw.insert("uplink".to_owned(), Value::Integer(i32::from(s.uplink.0)));
                    }
                    let mut ports = BTreeMap::new();
                    for inst in m.instances_on(d) {
                        let Some(at) = inst.attachment else { continue };
                        let mut p = BTreeMap::new();
                        p.insert("instance".to_owned(), string(inst.id.as_str()));
                        p.insert("private_ip".to_owned(), string(inst.ip.to_string()));
                        p.insert("private_mac".to_owned(), string(inst.mac.to_string()));
                        if let Some(e) = m.elastic_ip_of(&inst.id) {
                            p.insert("elastic_ip".to_owned(), string(e.to_string()));
                        }
                        ports.insert(at.port.0.to_string(), Value::Struct(p));
                    }
                    sw.insert("ports".to_owned(), Value::Struct(ports));
                    out.insert(format!("{d:016x}"), Value::Struct(sw));
                }
                Value::Struct(out)
            })
            .await
            .map_err(|e| e.to_string())
    }

    async fn dump_group(&self, params: &[Value]) -> Result<Value, Fail> {
        let a = Args::new("DumpGroupInstance", params, &["group_id"])?;
        let gid = a.group_id(0, "group_id")?;
        self.service
            .handle()
            .inspect(move |c| {
                let m = c.model();
                let g = m
                    .group(&gid)
                    .ok_or_else(|| format!("DumpGroupInstance: no security group {gid}"))?;
                let mut out = BTreeMap::new();
                out.insert("id".to_owned(), string(g.id.as_str()));
                out.insert("name".to_owned(), string(g.name.clone()));
                out.insert(
                    "rules".to_owned(),
                    Value::Array(g.ingress.iter().map(rule_array).collect()),
                );
                let members = m
                    .members(&gid)
                    .map(|i| {
                        let mut s = BTreeMap::new();
                        s.insert("instance".to_owned(), string(i.id.as_str()));
                        s.insert("private_ip".to_owned(), string(i.ip.to_string()));
                        s.insert("private_mac".to_owned(), string(i.mac.to_string()));
                        Value::Struct(s)
                    })
                    .collect();
                out.insert("instances".to_owned(), Value::Array(members));
                Ok(Value::Struct(out))
            })
            .await
            .map_err(|e| e.to_string())?
    }
}

/// What to pin and unpin after a change; `used`: the instance the change registered.
#[derive(Debug, Default)]
struct Pins {
    pin: Vec<InstanceId>,
    unpin: Vec<InstanceId>,
    used: Vec<InstanceId>,
}

impl Pins {
    fn pin(id: InstanceId) -> Self {
        Pins {
            pin: vec![id.clone()],
            unpin: Vec::new(),
            used: vec![id],
        }
    }

    fn unpin(id: InstanceId) -> Self {
        Pins {
            pin: Vec::new(),
            unpin: vec![id],
            used: Vec::new(),
        }
    }
}

/// The account's instance with private address `ip`.
fn own_instance<'m>(m: &'m Model, owner: &OwnerId, ip: Ipv4Addr) -> Result<&'m Instance, Ec2Error> {
    match m.instance_by_ip(ip) {
        Some(i) if &i.owner == owner => Ok(i),
        Some(_) => Err(refuse(format!(
            "the instance with address {ip} belongs to another account"
        ))),
        None => Err(refuse(format!("no instance has the private address {ip}"))),
    }
}

/// The account's group `gid`.
fn own_group<'m>(
    m: &'m Model,
    owner: &OwnerId,
    gid: &GroupId,
) -> Result<&'m SecurityGroup, Ec2Error> {
    match m.group(gid) {
        Some(g) if &g.owner == owner => Ok(g),
        Some(_) => Err(refuse(format!(
            "the security group {gid} belongs to another account"
        ))),
        None => Err(refuse(format!("no security group {gid}"))),
    }
}

/// Create or update the groups of a `RunInstance`; returns their ids (the account's
/// `default` group for none).
fn upsert_groups(
    m: &mut Model,
    owner: &OwnerId,
    groups: &[GroupSpec],
    max_rules: usize,
    t: &mut Touched,
) -> Result<BTreeSet<GroupId>, Ec2Error> {
    let mut ids = BTreeSet::new();
    for spec in groups {
        if spec.rules.len() > max_rules {
            return Err(refuse(format!(
                "RunInstance: group {} has {} rules; a group may have at most {max_rules}",
                spec.id,
                spec.rules.len()
            )));
        }
        if !ids.insert(spec.id.clone()) {
            return Err(refuse(format!(
                "RunInstance: the group {} is given twice",
                spec.id
            )));
        }
        let wanted: BTreeSet<Permission> = spec.rules.iter().cloned().collect();
        match m.group(&spec.id) {
            Some(_) => {
                let existing = own_group(m, owner, &spec.id)?.ingress.clone();
                for p in existing.difference(&wanted) {
                    t.merge(
                        m.revoke(&spec.id, Direction::Ingress, p)
                            .map_err(model("updating the group's rules"))?,
                    );
                }
                for p in wanted.difference(&existing) {
                    t.merge(
                        m.authorize(&spec.id, Direction::Ingress, p.clone())
                            .map_err(model("updating the group's rules"))?,
                    );
                }
            }
            None => {
                if let Some(other) = m
                    .groups()
                    .values()
                    .find(|g| &g.owner == owner && g.name == spec.name)
                {
                    return Err(refuse(format!(
                        "RunInstance: the account already has a group named {:?} ({}); group {} cannot take that name",
                        spec.name, other.id, spec.id
                    )));
                }
                let mut g = SecurityGroup::new(
                    spec.id.clone(),
                    spec.name.clone(),
                    owner.clone(),
                    format!("{} (registered over XML-RPC)", spec.name),
                );
                g.ingress = wanted;
                t.merge(m.add_group(g).map_err(model("creating the group"))?);
            }
        }
    }
    if ids.is_empty() {
        let default = m
            .groups()
            .values()
            .find(|g| &g.owner == owner && g.name == "default")
            .map(|g| g.id.clone())
            .ok_or_else(|| refuse("the account has no default security group"))?;
        ids.insert(default);
    }
    Ok(ids)
}

/// Register the instance `reg` for `owner` (with id `fresh` if new, in `groups` or the
/// default group), or update the one registered with that address and MAC: its groups (if
/// given) and its attachment. Returns its id and the store writes (its pin record).
fn register(
    m: &mut Model,
    owner: &OwnerId,
    reg: &Registration,
    groups: Option<BTreeSet<GroupId>>,
    fresh: InstanceId,
    t: &mut Touched,
) -> Result<(InstanceId, Vec<Write>), Ec2Error> {
    let switch = m
        .switch(reg.at.switch)
        .ok_or_else(|| refuse(format!("no switch {:016x} is known", reg.at.switch)))?;
    if reg.at.port == switch.uplink {
        return Err(refuse(format!(
            "port {} of switch {:016x} is its uplink, not an instance port",
            reg.at.port.0, reg.at.switch
        )));
    }
    let existing = m
        .instance_by_ip(reg.ip)
        .map(|i| (i.id.clone(), i.owner.clone(), i.mac));
    let id = match existing {
        Some((id, o, mac)) => {
            if &o != owner {
                return Err(refuse(format!(
                    "the private address {} belongs to an instance of another account",
                    reg.ip
                )));
            }
            if mac != reg.mac {
                return Err(refuse(format!(
                    "the private address {} is registered with the MAC {mac}, not {}",
                    reg.ip, reg.mac
                )));
            }
            if let Some(g) = groups {
                if m.instance(&id).is_some_and(|i| i.groups != g) {
                    t.merge(m.set_groups(&id, g).map_err(model("setting the groups"))?);
                }
            }
            id
        }
        None => {
            if m.instance(&fresh).is_some() {
                return Err(refuse("an instance id collided; try again"));
            }
            let groups = match groups {
                Some(g) => g,
                None => upsert_groups(m, owner, &[], 0, t)?,
            };
            t.merge(
                m.add_instance(Instance {
                    id: fresh.clone(),
                    owner: owner.clone(),
                    mac: reg.mac,
                    ip: reg.ip,
                    groups,
                    attachment: None,
                })
                .map_err(model("registering the instance"))?,
            );
            fresh
        }
    };
    if m.instance(&id).and_then(|i| i.attachment) != Some(reg.at) {
        if let Some(squatter) = m
            .instance_at(reg.at.switch, reg.at.port)
            .filter(|i| i.id != id)
        {
            return Err(refuse(format!(
                "port {} of switch {:016x} is taken by instance {} ({})",
                reg.at.port.0, reg.at.switch, squatter.id, squatter.ip
            )));
        }
        t.merge(
            m.attach(&id, Some(reg.at))
                .map_err(model("attaching the instance"))?,
        );
    }
    let writes = vec![pin_record(&id, reg.at)];
    Ok((id, writes))
}

/// One method, for dxr's server.
struct Method {
    rpc: Arc<XmlRpc>,
    name: &'static str,
}

#[async_trait]
impl Handler for Method {
    async fn handle(&self, params: &[Value], _headers: axum::http::HeaderMap) -> HandlerResult {
        Ok(self.rpc.call(self.name, params).await)
    }
}

/// Serve `rpc` at `path` on `listener` within `limits` until `shutdown` resolves.
pub fn serve(
    listener: tokio::net::TcpListener,
    rpc: XmlRpc,
    path: &str,
    limits: crate::httpd::HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
    let router = rpc.router(path);
    async move { crate::httpd::serve(listener, router, limits, shutdown).await }
}
