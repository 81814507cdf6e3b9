//! [`Ec2Service`]: EC2 requests executed against the controller's model and store.

use super::Accounts;
use crate::shell::{ChangeError, Handle, InFlight};
use crate::store::{Account, Stored, Write};
use core::net::Ipv4Addr;
use ec2_model::request::{
    AddressRef, AllocateAddress, AssociateAddress, AssociationRef, CreateSecurityGroup,
    DeleteSecurityGroup, DescribeAddresses, DescribeImages, DescribeInstances,
    DescribeSecurityGroups, DisassociateAddress, GroupRef, IpPermission, IpRange, ReleaseAddress,
    RunInstances, SecurityGroupRules, TerminateInstances, UserIdGroupPair,
};
use ec2_model::response::{
    Address, GroupIdentifier, Image, Instance as Ec2Instance, InstanceStateChange, Reservation,
    SecurityGroup as Ec2Group,
};
use ec2_model::types::{
    AllocationId as Ec2AllocationId, AssociationId, GroupId as Ec2GroupId, ImageId,
    InstanceId as Ec2InstanceId, ReservationId,
};
use ec2_model::{Domain, Ec2Error, ErrorCode, InstanceState, Ports, Request, Response};
use netrules::model::{
    AllocationId, Direction, ElasticIp, GroupId, IcmpSpec, Instance, InstanceId, Model, ModelError,
    OwnerId, Peer, Permission, PortRange, Protocol, SecurityGroup, Touched,
};
use openflow_proto::MacAddr;
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tracing::warn;

/// Record kind of instance metadata in the store.
const INSTANCE_RECORD: &str = "instance";
/// Record kind of an elastic IP's domain (only `standard` addresses have one).
const DOMAIN_RECORD: &str = "address-domain";
/// How long terminated instances stay visible to `DescribeInstances` (EC2: about an hour).
const TERMINATED_VISIBLE: Duration = Duration::from_secs(3600);

/// An image of the catalog that `DescribeImages` lists and `RunInstances` accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSpec {
    /// The image id (`ami-` and hexadecimal digits).
    pub id: String,
    /// Its name.
    pub name: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The architecture [default: x86_64].
    #[serde(default = "default_architecture")]
    pub architecture: String,
}

fn default_architecture() -> String {
    "x86_64".to_owned()
}

/// The API's settings.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The image catalog.
    pub images: Vec<ImageSpec>,
    /// Elastic IPs an account may hold (EC2's default is 5).
    pub max_addresses_per_account: usize,
    /// Instances an account may run.
    pub max_instances_per_account: usize,
    /// Rules per security group and direction (EC2's default is 60).
    pub max_rules_per_group: usize,
    /// Security groups per account.
    pub max_groups_per_account: usize,
    /// Instance type reported when `RunInstances` names none.
    pub default_instance_type: String,
    /// The availability zone reported for instances.
    pub availability_zone: String,
    /// How long a request's body may take to arrive before the call is refused.
    pub body_timeout: Duration,
    /// How long a request's head (request line and headers) may take to arrive, and how long
    /// a kept-alive connection may stay idle, before the connection is closed; it applies to
    /// the XML-RPC and admin listeners too ([`crate::httpd`]).
    pub header_timeout: Duration,
    /// Connections open at once on each HTTP listener; more wait to be accepted.
    pub max_connections: usize,
}

impl ApiConfig {
    /// The limits of the HTTP listeners ([`crate::httpd::serve`]).
    pub fn http_limits(&self) -> crate::httpd::HttpLimits {
        crate::httpd::HttpLimits {
            header_timeout: self.header_timeout,
            max_connections: self.max_connections,
            ..crate::httpd::HttpLimits::DEFAULT
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            images: vec![ImageSpec {
                id: "ami-00000001".to_owned(),
                name: "ovs-ec2-default".to_owned(),
                description: Some("The default image: instances are attached by the hypervisor as Open vSwitch ports named after their ids".to_owned()),
                architecture: default_architecture(),
            }],
            max_addresses_per_account: 5,
            max_instances_per_account: 100,
            max_rules_per_group: 60,
            max_groups_per_account: 500,
            default_instance_type: "m1.small".to_owned(),
            availability_zone: "ovs-ec2a".to_owned(),
            body_timeout: Duration::from_secs(30),
            header_timeout: crate::httpd::HttpLimits::DEFAULT.header_timeout,
            max_connections: crate::httpd::HttpLimits::DEFAULT.max_connections,
        }
    }
}

/// What EC2 reports about an instance beyond the network model (stored as a record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceMeta {
    /// The owner.
    pub owner: String,
    /// The image it was launched from.
    pub image_id: String,
    /// Its instance type.
    pub instance_type: String,
    /// The reservation (one per `RunInstances` call).
    pub reservation_id: String,
    /// Launch time, ISO 8601 UTC.
    pub launch_time: String,
    /// Position within its reservation.
    pub launch_index: u32,
    /// The key pair name given at launch.
    pub key_name: Option<String>,
    /// The idempotency token given at launch.
    pub client_token: Option<String>,
    /// Set when terminated: the time, and what it was (private address, groups).
    pub terminated: Option<Terminated>,
}

/// What remains of a terminated instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terminated {
    /// When (Unix seconds).
    pub at: u64,
    /// Its groups (id, name) at termination.
    pub groups: Vec<(String, String)>,
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A catalog image id is malformed.
    #[error("image {id:?} in the catalog: {reason}")]
    Image {
        /// The id.
        id: String,
        /// Why.
        reason: String,
    },
    /// A stored record cannot be read.
    #[error("stored {kind} record {key:?}: {reason}")]
    Record {
        /// Its kind.
        kind: String,
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The default groups could not be created.
    #[error("creating default security groups: {0}")]
    Change(String),
}

/// State of the API beside the model, guarded by one lock.
#[derive(Debug, Default)]
struct ApiState {
    meta: BTreeMap<String, InstanceMeta>,
    standard: BTreeSet<Ipv4Addr>,
}

/// The EC2 API on a running controller (cheap to clone).
#[derive(Clone, Debug)]
pub struct Ec2Service {
    handle: Handle,
    accounts: Accounts,
    pool: Arc<BTreeSet<Ipv4Addr>>,
    config: Arc<ApiConfig>,
    images: Arc<Vec<Image>>,
    state: Arc<Mutex<ApiState>>,
}

impl From<ChangeError> for Ec2Error {
    fn from(e: ChangeError) -> Self {
        match e {
            ChangeError::Model(m) => model_error(m),
            ChangeError::Store(s) => {
                warn!(error = %s, "the state store refused a change");
                Ec2Error::internal("the change could not be stored; nothing changed")
            }
            ChangeError::Stopped => {
                Ec2Error::new(ErrorCode::Unavailable, "the controller is shutting down")
            }
        }
    }
}

/// A model refusal the API's own checks did not anticipate, as an EC2 error.
fn model_error(e: ModelError) -> Ec2Error {
    match &e {
        ModelError::AlreadyAssociated { ip, instance } => {
            Ec2Error::already_associated(ip, instance)
        }
        ModelError::InUse { key, user, .. } => Ec2Error::group_in_use(key, user),
        ModelError::DuplicatePermission { permission, .. } => {
            Ec2Error::permission_duplicate(permission)
        }
        ModelError::PermissionNotFound { permission, .. } => {
            Ec2Error::permission_not_found(permission)
        }
        _ => Ec2Error::new(ErrorCode::InvalidParameterValue, e.to_string()),
    }
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn iso8601(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(0))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A fresh id `prefix` + 8 hex digits that `taken` does not know.
fn fresh_id(prefix: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut rng = rand::thread_rng();
    loop {
        let id = format!("{prefix}{:08x}", rng.gen::<u32>());
        if !taken(&id) {
            return id;
        }
    }
}

/// The association id of an allocation (`eipalloc-X` is associated as `eipassoc-X`).
fn association_id(allocation: &AllocationId) -> String {
    let hex = allocation
        .as_str()
        .strip_prefix("eipalloc-")
        .unwrap_or(allocation.as_str());
    format!("eipassoc-{hex}")
}

/// The MAC of an instance: locally administered, derived from its private address (unique
/// because the address is).
fn instance_mac(ip: Ipv4Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([0x02, 0x0e, o[0], o[1], o[2], o[3]])
}

fn conv<T: std::str::FromStr>(what: &str, s: &str) -> Result<T, Ec2Error> {
    s.parse()
        .map_err(|_| Ec2Error::internal(format!("stored {what} {s:?} is not valid")))
}

fn mid<T: AsRef<str>>(id: &T) -> Result<InstanceId, Ec2Error> {
    InstanceId::new(id.as_ref()).map_err(model_error)
}

fn gid<T: AsRef<str>>(id: &T) -> Result<GroupId, Ec2Error> {
    GroupId::new(id.as_ref()).map_err(model_error)
}

/// Does `owner` own this group, or may it name it (another account's group named with that
/// account's id, as EC2 allows in rules)?
fn group_of<'m>(
    m: &'m Model,
    owner: &OwnerId,
    r: &GroupRef,
) -> Result<&'m SecurityGroup, Ec2Error> {
    match r {
        GroupRef::Id(id) => m
            .group(&gid(id)?)
            .filter(|g| &g.owner == owner)
            .ok_or_else(|| Ec2Error::group_not_found(id)),
        GroupRef::Name(name) => m
            .groups()
            .values()
            .find(|g| &g.owner == owner && &g.name == name)
            .ok_or_else(|| Ec2Error::group_not_found(name)),
    }
}

fn peer_group(m: &Model, owner: &OwnerId, pair: &UserIdGroupPair) -> Result<GroupId, Ec2Error> {
    let account = match &pair.user_id {
        Some(u) => OwnerId::new(u.as_str()).map_err(model_error)?,
        None => owner.clone(),
    };
    let g = match (&pair.group_id, &pair.group_name) {
        (Some(id), _) => m
            .group(&gid(id)?)
            .filter(|g| g.owner == *owner || g.owner == account)
            .ok_or_else(|| Ec2Error::group_not_found(id))?,
        (None, Some(name)) => m
            .groups()
            .values()
            .find(|g| g.owner == account && &g.name == name)
            .ok_or_else(|| Ec2Error::group_not_found(name))?,
        (None, None) => return Err(Ec2Error::missing_parameter("Groups.N.GroupId")),
    };
    Ok(g.id.clone())
}

/// EC2's protocol and ports as the model's protocol.
fn protocol_of(p: &IpPermission) -> Result<Protocol, Ec2Error> {
    use ec2_model::Protocol as P;
    let bad = |why: &str| Ec2Error::new(ErrorCode::InvalidParameterValue, why.to_owned());
    let range = |ports: Ports| -> Result<PortRange, Ec2Error> {
        match ports {
            Ports::Range { from, to } => PortRange::new(from, to).map_err(model_error),
            _ => Ok(PortRange::ALL),
        }
    };
    Ok(match p.protocol {
        P::All => Protocol::Any,
        P::Tcp => Protocol::Tcp(range(p.ports)?),
        P::Udp => Protocol::Udp(range(p.ports)?),
        P::Icmp => match p.ports {
            Ports::Icmp { icmp_type, code } => {
                Protocol::Icmp(IcmpSpec::new(icmp_type, code).map_err(model_error)?)
            }
            _ => Protocol::Icmp(IcmpSpec::ANY),
        },
        P::Icmpv6 => {
            return Err(bad(
                "IPv6 (icmpv6) rules are not supported: this cloud is IPv4 only",
            ))
        }
        P::Number(n) => Protocol::Number(n),
    })
}

/// One request's permissions as the model's (one per peer).
fn permissions_of(
    m: &Model,
    owner: &OwnerId,
    perms: &[IpPermission],
) -> Result<Vec<Permission>, Ec2Error> {
    let mut out = Vec::new();
    for p in perms {
        if !p.ipv6_ranges.is_empty() {
            return Err(Ec2Error::new(
                ErrorCode::InvalidParameterValue,
                "IPv6 ranges are not supported: this cloud is IPv4 only",
            ));
        }
        let protocol = protocol_of(p)?;
        let mut peers: Vec<Peer> = p.ip_ranges.iter().map(|r| Peer::Cidr(r.cidr)).collect();
        for pair in &p.groups {
            peers.push(Peer::Group(peer_group(m, owner, pair)?));
        }
        if peers.is_empty() {
            return Err(Ec2Error::new(
                ErrorCode::MissingParameter,
                "a rule needs a source or destination: IpRanges or Groups (CidrIp or SourceSecurityGroupName)",
            ));
        }
        out.extend(Permission::for_peers(protocol, peers).map_err(model_error)?);
    }
    Ok(out)
}

/// The model's rules of a group in EC2's shape: one `IpPermission` per protocol and ports,
/// with all its CIDRs and groups.
fn ip_permissions(m: &Model, rules: &BTreeSet<Permission>) -> Vec<IpPermission> {
    let mut by_proto: BTreeMap<(ec2_model::Protocol, Ports), (Vec<IpRange>, Vec<UserIdGroupPair>)> =
        BTreeMap::new();
    for r in rules {
        let (proto, ports) = match r.protocol() {
            Protocol::Any => (ec2_model::Protocol::All, Ports::Any),
            Protocol::Tcp(pr) => (
                ec2_model::Protocol::Tcp,
                Ports::Range {
                    from: pr.from(),
                    to: pr.to(),
                },
            ),
            Protocol::Udp(pr) => (
                ec2_model::Protocol::Udp,
                Ports::Range {
                    from: pr.from(),
                    to: pr.to(),
                },
            ),
            Protocol::Icmp(spec) => (
                ec2_model::Protocol::Icmp,
                Ports::Icmp {
                    icmp_type: spec.icmp_type(),
                    code: spec.code(),
                },
            ),
            Protocol::Number(n) => (ec2_model::Protocol::from_number(*n), Ports::Any),
        };
        let entry = by_proto.entry((proto, ports)).or_default();
        match r.peer() {
            Peer::Cidr(net) => entry.0.push(IpRange {
                cidr: *net,
                description: None,
            }),
            Peer::Group(g) => {
                let group = m.group(g);
                entry.1.push(UserIdGroupPair {
                    group_id: Ec2GroupId::parse_param("GroupId", g.as_str()).ok(),
                    group_name: group.map(|g| g.name.clone()),
                    user_id: group.map(|g| g.owner.as_str().to_owned()),
                    description: None,
                });
            }
        }
    }
    by_proto
        .into_iter()
        .map(|((protocol, ports), (ip_ranges, groups))| IpPermission {
            protocol,
            ports,
            ip_ranges,
            ipv6_ranges: Vec::new(),
            groups,
        })
        .collect()
}

fn ec2_group(m: &Model, g: &SecurityGroup) -> Result<Ec2Group, Ec2Error> {
    Ok(Ec2Group {
        owner_id: g.owner.as_str().to_owned(),
        group_id: Ec2GroupId::parse_param("GroupId", g.id.as_str())?,
        group_name: g.name.clone(),
        description: g.description.clone(),
        vpc_id: None,
        ip_permissions: ip_permissions(m, &g.ingress),
        ip_permissions_egress: ip_permissions(m, &g.egress),
    })
}

/// The default group of an account: every protocol from its own members in, everything out.
fn default_group(m: &Model, owner: &OwnerId) -> Result<SecurityGroup, Ec2Error> {
    let id = fresh_id("sg-", |s| {
        GroupId::new(s).is_ok_and(|g| m.group(&g).is_some())
    });
    let id = gid(&id)?;
    let mut g = SecurityGroup::new(
        id.clone(),
        "default",
        owner.clone(),
        "default group: members reach each other",
    );
    g.ingress
        .insert(Permission::new(Protocol::Any, Peer::Group(id)).map_err(model_error)?);
    Ok(g)
}

/// Add the default group of `owner` to the model if it has none; returns its id.
fn ensure_default_group(m: &mut Model, owner: &OwnerId) -> Result<(GroupId, Touched), Ec2Error> {
    if let Some(g) = m
        .groups()
        .values()
        .find(|g| &g.owner == owner && g.name == "default")
    {
        return Ok((g.id.clone(), Touched::none()));
    }
    let g = default_group(m, owner)?;
    let id = g.id.clone();
    let t = m.add_group(g).map_err(model_error)?;
    Ok((id, t))
}

fn record(kind: &str, key: &str, value: &impl Serialize) -> Write {
    Write::PutRecord {
        kind: kind.to_owned(),
        key: key.to_owned(),
        value: serde_json::to_string(value).unwrap_or_default(),
    }
}

fn delete_record(kind: &str, key: &str) -> Write {
    Write::DeleteRecord {
        kind: kind.to_owned(),
        key: key.to_owned(),
    }
}

type Change<R> = Result<(Touched, Vec<Write>, R), Ec2Error>;

impl Ec2Service {
    /// The API on `handle`'s controller: `accounts` may call it, `pool` are the public
    /// addresses it hands out, `stored` the records read at start (instance metadata,
    /// address domains). Every account gets its `default` security group if it has none.
    pub async fn start(
        handle: Handle,
        accounts: Accounts,
        pool: BTreeSet<Ipv4Addr>,
        config: ApiConfig,
        stored: &Stored,
    ) -> Result<Ec2Service, StartError> {
        let mut images = Vec::new();
        for spec in &config.images {
            let image_id =
                ImageId::parse_param("image id", &spec.id).map_err(|e| StartError::Image {
                    id: spec.id.clone(),
                    reason: e.message().to_owned(),
                })?;
            images.push(Image {
                image_id,
                location: Some(format!("ovs-ec2/{}", spec.name)),
                state: "available".to_owned(),
                owner_id: "000000000000".to_owned(),
                creation_date: None,
                is_public: true,
                architecture: spec.architecture.clone(),
                image_type: "machine".to_owned(),
                platform: None,
                owner_alias: Some("ovs-ec2".to_owned()),
                name: Some(spec.name.clone()),
                description: spec.description.clone(),
                root_device_type: "instance-store".to_owned(),
                root_device_name: None,
                virtualization_type: "hvm".to_owned(),
                hypervisor: "xen".to_owned(),
            });
        }
        let mut state = ApiState::default();
        let horizon = now_unix().saturating_sub(TERMINATED_VISIBLE.as_secs());
        for ((kind, key), value) in &stored.records {
            let bad = |reason: String| StartError::Record {
                kind: kind.clone(),
                key: key.clone(),
                reason,
            };
            match kind.as_str() {
                INSTANCE_RECORD => {
                    let meta: InstanceMeta =
                        serde_json::from_str(value).map_err(|e| bad(e.to_string()))?;
                    if meta.terminated.as_ref().is_some_and(|t| t.at < horizon) {
                        continue;
                    }
                    state.meta.insert(key.clone(), meta);
                }
                DOMAIN_RECORD => {
                    let ip: Ipv4Addr = key.parse().map_err(|_| bad("not an address".into()))?;
                    state.standard.insert(ip);
                }
                _ => {}
            }
        }
        let service = Ec2Service {
            handle,
            accounts,
            pool: Arc::new(pool),
            config: Arc::new(config),
            images: Arc::new(images),
            state: Arc::new(Mutex::new(state)),
        };
        for owner in service.accounts.owners() {
            service
                .ensure_default(&owner)
                .await
                .map_err(|e| StartError::Change(e.to_string()))?;
        }
        Ok(service)
    }

    /// The accounts allowed to call.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The controller handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The API's settings.
    pub fn config(&self) -> &ApiConfig {
        &self.config
    }

    /// The public address pool.
    pub fn pool(&self) -> &BTreeSet<Ipv4Addr> {
        &self.pool
    }

    /// Add an account (already stored by the caller) and give it its default group.
    pub async fn add_account(&self, account: Account) -> Result<(), Ec2Error> {
        let owner = account.owner.clone();
        self.accounts.insert(account);
        self.ensure_default(&owner).await
    }

    async fn ensure_default(&self, owner: &OwnerId) -> Result<(), Ec2Error> {
        let owner = owner.clone();
        let _guard = self.state.lock().await;
        let (_, inflight) = self
            .handle
            .change_with(move |m| {
                let (_, t) = ensure_default_group(m, &owner)?;
                Ok::<_, Ec2Error>((t, Vec::new(), ()))
            })
            .await?;
        drop(_guard);
        inflight.applied().await?;
        Ok(())
    }

    /// Execute `request` for the account `owner`.
    pub async fn execute(&self, owner: &OwnerId, request: Request) -> Result<Response, Ec2Error> {
        match request {
            Request::AllocateAddress(r) => self.allocate(owner, r).await,
            Request::AssociateAddress(r) => self.associate(owner, r).await,
            Request::DisassociateAddress(r) => self.disassociate(owner, r).await,
            Request::ReleaseAddress(r) => self.release(owner, r).await,
            Request::DescribeAddresses(r) => self.describe_addresses(owner, r).await,
            Request::CreateSecurityGroup(r) => self.create_group(owner, r).await,
            Request::DeleteSecurityGroup(r) => self.delete_group(owner, r).await,
            Request::AuthorizeSecurityGroupIngress(r) => self
                .rules(owner, r, Direction::Ingress, true)
                .await
                .map(|()| Response::AuthorizeSecurityGroupIngress),
            Request::AuthorizeSecurityGroupEgress(r) => self
                .rules(owner, r, Direction::Egress, true)
                .await
                .map(|()| Response::AuthorizeSecurityGroupEgress),
            Request::RevokeSecurityGroupIngress(r) => self
                .rules(owner, r, Direction::Ingress, false)
                .await
                .map(|()| Response::RevokeSecurityGroupIngress),
            Request::RevokeSecurityGroupEgress(r) => self
                .rules(owner, r, Direction::Egress, false)
                .await
                .map(|()| Response::RevokeSecurityGroupEgress),
            Request::DescribeSecurityGroups(r) => self.describe_groups(owner, r).await,
            Request::DescribeImages(r) => self.describe_images(r),
            Request::RunInstances(r) => self.run_instances(owner, r).await,
            Request::DescribeInstances(r) => self.describe_instances(owner, r).await,
            Request::TerminateInstances(r) => self.terminate(owner, r).await,
        }
    }

    /// Run one model change under the API lock; `after` updates the API state once the
    /// change is committed; then wait for the switches outside the lock.
    async fn change<R, F, A>(&self, f: F, after: A) -> Result<R, Ec2Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Model) -> Change<R> + Send + 'static,
        A: FnOnce(&mut ApiState, &R),
    {
        self.change_seeing(|_| f, after).await
    }

    /// [`Self::change`] with a change made from the API's state as it is under the lock.
    async fn change_seeing<R, M, F, A>(&self, make: M, after: A) -> Result<R, Ec2Error>
    where
        R: Send + 'static,
        M: FnOnce(&ApiState) -> F,
        F: FnOnce(&mut Model) -> Change<R> + Send + 'static,
        A: FnOnce(&mut ApiState, &R),
    {
        let mut guard = self.state.lock().await;
        let f = make(&guard);
        let (value, inflight): (R, InFlight) = self.handle.change_with(f).await?;
        after(&mut guard, &value);
        drop(guard);
        let applied = inflight.applied().await?;
        if !applied.is_complete() {
            warn!(
                timed_out = ?applied.timed_out,
                errors = applied.errors,
                "change committed but not acknowledged by every switch in time; they will be reconciled"
            );
        }
        Ok(value)
    }

    async fn allocate(&self, owner: &OwnerId, r: AllocateAddress) -> Result<Response, Ec2Error> {
        let owner = owner.clone();
        let pool = self.pool.clone();
        let limit = self.config.max_addresses_per_account;
        let domain = r.domain.unwrap_or(Domain::Vpc);
        let dry_run = r.dry_run;
        let (ip, alloc) = self
            .change(
                move |m| {
                    let held = m
                        .elastic_ips()
                        .values()
                        .filter(|e| e.owner == owner)
                        .count();
                    if held >= limit {
                        return Err(Ec2Error::address_limit(limit));
                    }
                    let Some(ip) = pool.iter().copied().find(|ip| m.elastic_ip(*ip).is_none())
                    else {
                        return Err(Ec2Error::new(
                            ErrorCode::AddressLimitExceeded,
                            "The public address pool is exhausted: no elastic IP is free",
                        ));
                    };
                    if dry_run {
                        return Err(Ec2Error::dry_run_operation());
                    }
                    let alloc = fresh_id("eipalloc-", |s| {
                        AllocationId::new(s).is_ok_and(|a| m.elastic_ip_by_allocation(&a).is_some())
                    });
                    let allocation_id = AllocationId::new(alloc.as_str()).map_err(model_error)?;
                    let t = m
                        .allocate(ElasticIp {
                            public_ip: ip,
                            allocation_id,
                            owner,
                            instance: None,
                        })
                        .map_err(model_error)?;
                    let mut writes = Vec::new();
                    if domain == Domain::Standard {
                        writes.push(record(DOMAIN_RECORD, &ip.to_string(), &"standard"));
                    }
                    Ok((t, writes, (ip, alloc)))
                },
                |st, (ip, _)| {
                    if domain == Domain::Standard {
                        st.standard.insert(*ip);
                    }
                },
            )
            .await?;
        Ok(Response::AllocateAddress {
            public_ip: ip,
            domain,
            allocation_id: match domain {
                Domain::Vpc => Some(Ec2AllocationId::parse_param("allocationId", &alloc)?),
                Domain::Standard => None,
            },
        })
    }

    /// The elastic IP `r` names, owned by `owner`.
    fn address_of<'m>(
        m: &'m Model,
        owner: &OwnerId,
        r: &AddressRef,
    ) -> Result<&'m ElasticIp, Ec2Error> {
        match r {
            AddressRef::PublicIp(ip) => {
                let e = m
                    .elastic_ip(*ip)
                    .ok_or_else(|| Ec2Error::address_not_found(ip))?;
                if &e.owner != owner {
                    return Err(Ec2Error::new(
                        ErrorCode::AuthFailure,
                        format!("The address '{ip}' does not belong to you."),
                    ));
                }
                Ok(e)
            }
            AddressRef::AllocationId(id) => AllocationId::new(id.as_str())
                .ok()
                .and_then(|a| m.elastic_ip_by_allocation(&a))
                .filter(|e| &e.owner == owner)
                .ok_or_else(|| Ec2Error::allocation_not_found(id)),
        }
    }

    async fn associate(&self, owner: &OwnerId, r: AssociateAddress) -> Result<Response, Ec2Error> {
        let Some(instance) = r.instance_id.clone() else {
            if r.network_interface_id.is_some() {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidParameterValue,
                    "NetworkInterfaceId is not supported: associate with an InstanceId",
                ));
            }
            return Err(Ec2Error::missing_parameter("InstanceId"));
        };
        let standard = {
            let st = self.state.lock().await;
            match &r.address {
                AddressRef::PublicIp(ip) => st.standard.contains(ip),
                AddressRef::AllocationId(_) => false,
            }
        };
        let owner = owner.clone();
        let assoc = self
            .change(
                move |m| {
                    let e = Self::address_of(m, &owner, &r.address)?;
                    let ip = e.public_ip;
                    let iid = mid(&instance)?;
                    let inst = m
                        .instance(&iid)
                        .filter(|i| i.owner == owner)
                        .ok_or_else(|| Ec2Error::instance_not_found(&instance))?;
                    if let Some(p) = r.private_ip_address {
                        if p != inst.ip {
                            return Err(Ec2Error::invalid_value(
                                "PrivateIpAddress",
                                &p.to_string(),
                                "it is not the instance's private address",
                            ));
                        }
                    }
                    let allow = r.allow_reassociation.unwrap_or(standard);
                    if let Some(cur) = &e.instance {
                        if cur != &iid && !allow {
                            return Err(Ec2Error::already_associated(
                                ip,
                                association_id(&e.allocation_id),
                            ));
                        }
                    }
                    let assoc = association_id(&e.allocation_id);
                    if r.dry_run {
                        return Err(Ec2Error::dry_run_operation());
                    }
                    let t = m.associate(ip, &iid, true).map_err(model_error)?;
                    Ok((t, Vec::new(), assoc))
                },
                |_, _| {},
            )
            .await?;
        Ok(Response::AssociateAddress {
            association_id: if standard {
                None
            } else {
                Some(AssociationId::parse_param("associationId", &assoc)?)
            },
        })
    }

    async fn disassociate(
        &self,
        owner: &OwnerId,
        r: DisassociateAddress,
    ) -> Result<Response, Ec2Error> {
        let owner = owner.clone();
        self.change(
            move |m| {
                let ip = match &r.association {
                    AssociationRef::PublicIp(ip) => {
                        Self::address_of(m, &owner, &AddressRef::PublicIp(*ip))?.public_ip
                    }
                    AssociationRef::AssociationId(id) => m
                        .elastic_ips()
                        .values()
                        .find(|e| {
                            e.owner == owner
                                && e.instance.is_some()
                                && association_id(&e.allocation_id) == id.as_str()
                        })
                        .map(|e| e.public_ip)
                        .ok_or_else(|| Ec2Error::association_not_found(id))?,
                };
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                let t = m.disassociate(ip).map_err(model_error)?;
                Ok((t, Vec::new(), ()))
            },
            |_, _| {},
        )
        .await?;
        Ok(Response::DisassociateAddress)
    }

    async fn release(&self, owner: &OwnerId, r: ReleaseAddress) -> Result<Response, Ec2Error> {
        let owner = owner.clone();
        let standard = self.state.lock().await.standard.clone();
        self.change(
            move |m| {
                let e = Self::address_of(m, &owner, &r.address)?;
                let ip = e.public_ip;
                let is_standard = standard.contains(&ip);
                if e.instance.is_some() && !is_standard {
                    return Err(Ec2Error::address_in_use(ip));
                }
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                let t = m.release(ip).map_err(model_error)?;
                let writes = if is_standard {
                    vec![delete_record(DOMAIN_RECORD, &ip.to_string())]
                } else {
                    Vec::new()
                };
                Ok((t, writes, ip))
            },
            |st, ip| {
                st.standard.remove(ip);
            },
        )
        .await?;
        Ok(Response::ReleaseAddress)
    }

    async fn describe_addresses(
        &self,
        owner: &OwnerId,
        r: DescribeAddresses,
    ) -> Result<Response, Ec2Error> {
        let standard = self.state.lock().await.standard.clone();
        let owner = owner.clone();
        self.handle
            .inspect(move |c| {
                let m = c.model();
                for ip in &r.public_ips {
                    if m.elastic_ip(*ip).is_none_or(|e| e.owner != owner) {
                        return Err(Ec2Error::address_not_found(ip));
                    }
                }
                for id in &r.allocation_ids {
                    let found = AllocationId::new(id.as_str())
                        .ok()
                        .and_then(|a| m.elastic_ip_by_allocation(&a))
                        .is_some_and(|e| e.owner == owner);
                    if !found {
                        return Err(Ec2Error::allocation_not_found(id));
                    }
                }
                let mut out = Vec::new();
                for e in m.elastic_ips().values().filter(|e| e.owner == owner) {
                    if !r.public_ips.is_empty() && !r.public_ips.contains(&e.public_ip) {
                        continue;
                    }
                    if !r.allocation_ids.is_empty()
                        && !r
                            .allocation_ids
                            .iter()
                            .any(|a| a.as_str() == e.allocation_id.as_str())
                    {
                        continue;
                    }
                    let vpc = !standard.contains(&e.public_ip);
                    let inst = e.instance.as_ref().and_then(|i| m.instance(i));
                    let a = Address {
                        public_ip: e.public_ip,
                        allocation_id: if vpc {
                            Ec2AllocationId::parse_param("allocationId", e.allocation_id.as_str())
                                .ok()
                        } else {
                            None
                        },
                        domain: if vpc { Domain::Vpc } else { Domain::Standard },
                        instance_id: inst.and_then(|i| {
                            Ec2InstanceId::parse_param("instanceId", i.id.as_str()).ok()
                        }),
                        association_id: if vpc && inst.is_some() {
                            AssociationId::parse_param(
                                "associationId",
                                &association_id(&e.allocation_id),
                            )
                            .ok()
                        } else {
                            None
                        },
                        network_interface_id: None,
                        network_interface_owner_id: None,
                        private_ip_address: inst.map(|i| i.ip),
                    };
                    if a.matches(&r.filters) {
                        out.push(a);
                    }
                }
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                Ok(Response::DescribeAddresses(out))
            })
            .await?
    }

    async fn create_group(
        &self,
        owner: &OwnerId,
        r: CreateSecurityGroup,
    ) -> Result<Response, Ec2Error> {
        let name = r.group_name.clone();
        if name.is_empty() || name.len() > 255 {
            return Err(Ec2Error::invalid_value(
                "GroupName",
                &name,
                "a group name has 1 to 255 characters",
            ));
        }
        if name.starts_with("sg-") {
            return Err(Ec2Error::invalid_value(
                "GroupName",
                &name,
                "group names may not start with sg-",
            ));
        }
        if name == "default" {
            return Err(Ec2Error::new(
                ErrorCode::InvalidGroupDuplicate,
                "The security group 'default' already exists: every account has it",
            ));
        }
        let owner = owner.clone();
        let limit = self.config.max_groups_per_account;
        let id = self
            .change(
                move |m| {
                    let mine = m.groups().values().filter(|g| g.owner == owner);
                    let mut count = 0;
                    for g in mine {
                        if g.name == name {
                            return Err(Ec2Error::group_duplicate(&name));
                        }
                        count += 1;
                    }
                    if count >= limit {
                        return Err(Ec2Error::new(
                            ErrorCode::SecurityGroupLimitExceeded,
                            format!("You have reached the limit of {limit} security groups"),
                        ));
                    }
                    if r.dry_run {
                        return Err(Ec2Error::dry_run_operation());
                    }
                    let id = fresh_id("sg-", |s| {
                        GroupId::new(s).is_ok_and(|g| m.group(&g).is_some())
                    });
                    let g = SecurityGroup::new(gid(&id)?, name, owner, r.description);
                    let t = m.add_group(g).map_err(model_error)?;
                    Ok((t, Vec::new(), id))
                },
                |_, _| {},
            )
            .await?;
        Ok(Response::CreateSecurityGroup {
            group_id: Ec2GroupId::parse_param("groupId", &id)?,
        })
    }

    async fn delete_group(
        &self,
        owner: &OwnerId,
        r: DeleteSecurityGroup,
    ) -> Result<Response, Ec2Error> {
        let owner = owner.clone();
        self.change(
            move |m| {
                let g = group_of(m, &owner, &r.group)?;
                if g.name == "default" {
                    return Err(Ec2Error::new(
                        ErrorCode::InvalidParameterValue,
                        "The default security group cannot be deleted",
                    ));
                }
                let id = g.id.clone();
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                // EC2 answers DependencyViolation while instances are in the group (checked by
                // the model below) and InvalidGroup.InUse, naming them, while other groups'
                // rules reference it.
                if m.member_count(&id) == 0 {
                    let mut by: Vec<&GroupId> = m.referrers(&id).filter(|r| **r != id).collect();
                    if !by.is_empty() {
                        by.sort();
                        return Err(Ec2Error::group_referenced(&id, &by));
                    }
                }
                let t = m.remove_group(&id).map_err(model_error)?;
                Ok((t, Vec::new(), ()))
            },
            |_, _| {},
        )
        .await?;
        Ok(Response::DeleteSecurityGroup)
    }

    async fn rules(
        &self,
        owner: &OwnerId,
        r: SecurityGroupRules,
        direction: Direction,
        authorize: bool,
    ) -> Result<(), Ec2Error> {
        let owner = owner.clone();
        let limit = self.config.max_rules_per_group;
        self.change(
            move |m| {
                let id = group_of(m, &owner, &r.group)?.id.clone();
                let perms = permissions_of(m, &owner, &r.permissions)?;
                let mut t = Touched::none();
                for p in perms {
                    let step = if authorize {
                        m.authorize(&id, direction, p)
                    } else {
                        m.revoke(&id, direction, &p)
                    };
                    t.merge(step.map_err(model_error)?);
                }
                if authorize {
                    let n = m.group(&id).map_or(0, |g| g.permissions(direction).len());
                    if n > limit {
                        return Err(Ec2Error::rules_limit(limit));
                    }
                }
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                Ok((t, Vec::new(), ()))
            },
            |_, _| {},
        )
        .await
    }

    async fn describe_groups(
        &self,
        owner: &OwnerId,
        r: DescribeSecurityGroups,
    ) -> Result<Response, Ec2Error> {
        let owner = owner.clone();
        self.handle
            .inspect(move |c| {
                let m = c.model();
                for name in &r.group_names {
                    group_of(m, &owner, &GroupRef::Name(name.clone()))?;
                }
                for id in &r.group_ids {
                    group_of(m, &owner, &GroupRef::Id(id.clone()))?;
                }
                let mut out = Vec::new();
                for g in m.groups().values().filter(|g| g.owner == owner) {
                    if !r.group_names.is_empty() && !r.group_names.contains(&g.name) {
                        continue;
                    }
                    if !r.group_ids.is_empty()
                        && !r.group_ids.iter().any(|i| i.as_str() == g.id.as_str())
                    {
                        continue;
                    }
                    let eg = ec2_group(m, g)?;
                    if eg.matches(&r.filters) {
                        out.push(eg);
                    }
                }
                if r.dry_run {
                    return Err(Ec2Error::dry_run_operation());
                }
                Ok(Response::DescribeSecurityGroups(out))
            })
            .await?
    }

    fn describe_images(&self, r: DescribeImages) -> Result<Response, Ec2Error> {
        for id in &r.image_ids {
            if !self.images.iter().any(|i| &i.image_id == id) {
                return Err(Ec2Error::image_not_found(id));
            }
        }
        let out = self
            .images
            .iter()
            .filter(|i| r.image_ids.is_empty() || r.image_ids.contains(&i.image_id))
            .filter(|i| {
                r.owners.is_empty()
                    || r.owners
                        .iter()
                        .any(|o| o == &i.owner_id || Some(o) == i.owner_alias.as_ref())
            })
            .filter(|i| i.matches(&r.filters))
            .cloned()
            .collect();
        if r.dry_run {
            return Err(Ec2Error::dry_run_operation());
        }
        Ok(Response::DescribeImages(out))
    }

    async fn run_instances(&self, owner: &OwnerId, r: RunInstances) -> Result<Response, Ec2Error> {
        if !self.images.iter().any(|i| i.image_id == r.image_id) {
            return Err(Ec2Error::image_not_found(&r.image_id));
        }
        if r.min_count == 0 || r.min_count > r.max_count {
            return Err(Ec2Error::invalid_value(
                "MinCount",
                &r.min_count.to_string(),
                "MinCount must be at least 1 and at most MaxCount",
            ));
        }
        if r.private_ip_address.is_some() && r.max_count > 1 {
            return Err(Ec2Error::invalid_combination(
                "PrivateIpAddress can only be given when launching one instance",
            ));
        }
        // Idempotency: the same client token returns the instances it launched.
        if let Some(token) = &r.client_token {
            let existing: Vec<String> = {
                let st = self.state.lock().await;
                st.meta
                    .iter()
                    .filter(|(_, m)| {
                        m.owner == owner.as_str() && m.client_token.as_ref() == Some(token)
                    })
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            if !existing.is_empty() {
                let mut res = self.reservations(owner, &existing, &[]).await?;
                if let Some(first) = res.pop() {
                    return Ok(Response::RunInstances(first));
                }
            }
        }
        let owner_c = owner.clone();
        let config = self.config.clone();
        let now = now_unix();
        let ids = self
            .change(
                move |m| Self::launch(m, &owner_c, &r, &config, now),
                |st, metas| {
                    for (id, meta) in metas {
                        st.meta.insert(id.clone(), meta.clone());
                    }
                },
            )
            .await?;
        let ids: Vec<String> = ids.into_iter().map(|(id, _)| id).collect();
        let mut res = self.reservations(owner, &ids, &[]).await?;
        res.pop()
            .map(Response::RunInstances)
            .ok_or_else(|| Ec2Error::internal("the launched instances vanished"))
    }

    fn launch(
        m: &mut Model,
        owner: &OwnerId,
        r: &RunInstances,
        config: &ApiConfig,
        now: u64,
    ) -> Change<Vec<(String, InstanceMeta)>> {
        let mut t = Touched::none();
        let mut groups = BTreeSet::new();
        for name in &r.security_groups {
            groups.insert(
                group_of(m, owner, &GroupRef::Name(name.clone()))?
                    .id
                    .clone(),
            );
        }
        for id in &r.security_group_ids {
            groups.insert(group_of(m, owner, &GroupRef::Id(id.clone()))?.id.clone());
        }
        if groups.is_empty() {
            let (id, dt) = ensure_default_group(m, owner)?;
            t.merge(dt);
            groups.insert(id);
        }
        let running = m.instances().values().filter(|i| &i.owner == owner).count();
        let room = config.max_instances_per_account.saturating_sub(running);
        if room < r.min_count as usize {
            return Err(Ec2Error::new(
                ErrorCode::InstanceLimitExceeded,
                format!(
                    "You have requested more instances ({}) than your current instance limit of {} allows ({running} running)",
                    r.min_count, config.max_instances_per_account
                ),
            ));
        }
        // Private addresses: the one asked for, or the lowest free hosts of the subnet.
        let settings = *m.settings();
        let mut addresses = Vec::new();
        if let Some(ip) = r.private_ip_address {
            if !netrules::model::is_host_of(settings.subnet, ip) || ip == settings.gateway {
                return Err(Ec2Error::invalid_value(
                    "PrivateIpAddress",
                    &ip.to_string(),
                    "the address is not a free host address of the private subnet",
                ));
            }
            if m.instance_by_ip(ip).is_some() {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidIpAddressInUse,
                    format!("Address {ip} is in use"),
                ));
            }
            addresses.push(ip);
        } else {
            let want = (r.max_count as usize).min(room);
            for ip in settings.subnet.iter() {
                if addresses.len() == want {
                    break;
                }
                if netrules::model::is_host_of(settings.subnet, ip)
                    && ip != settings.gateway
                    && m.instance_by_ip(ip).is_none()
                {
                    addresses.push(ip);
                }
            }
            if addresses.len() < r.min_count as usize {
                return Err(Ec2Error::new(
                    ErrorCode::InstanceLimitExceeded,
                    format!(
                        "The private subnet {} has {} free addresses; {} instances were asked for",
                        settings.subnet,
                        addresses.len(),
                        r.min_count
                    ),
                ));
            }
        }
        if r.dry_run {
            return Err(Ec2Error::dry_run_operation());
        }
        let reservation = fresh_id("r-", |_| false);
        let mut writes = Vec::new();
        let mut metas = Vec::new();
        for (index, ip) in addresses.into_iter().enumerate() {
            let id = fresh_id("i-", |s| {
                InstanceId::new(s).is_ok_and(|i| m.instance(&i).is_some())
            });
            let instance = Instance {
                id: mid(&id)?,
                owner: owner.clone(),
                mac: instance_mac(ip),
                ip,
                groups: groups.clone(),
                attachment: None,
            };
            t.merge(m.add_instance(instance).map_err(model_error)?);
            let meta = InstanceMeta {
                owner: owner.as_str().to_owned(),
                image_id: r.image_id.as_str().to_owned(),
                instance_type: r
                    .instance_type
                    .clone()
                    .unwrap_or_else(|| config.default_instance_type.clone()),
                reservation_id: reservation.clone(),
                launch_time: iso8601(now),
                launch_index: u32::try_from(index).unwrap_or(u32::MAX),
                key_name: r.key_name.clone(),
                client_token: r.client_token.clone(),
                terminated: None,
            };
            writes.push(record(INSTANCE_RECORD, &id, &meta));
            metas.push((id, meta));
        }
        Ok((t, writes, metas))
    }

    /// The reservations holding `ids` (all of the owner's when empty), with their current
    /// state, filtered.
    async fn reservations(
        &self,
        owner: &OwnerId,
        ids: &[String],
        filters: &[ec2_model::Filter<ec2_model::filters::InstanceFilter>],
    ) -> Result<Vec<Reservation>, Ec2Error> {
        let metas = self.state.lock().await.meta.clone();
        let owner_c = owner.clone();
        // (id, private ip, elastic ip, attached, groups (id, name))
        type Live = (
            String,
            Ipv4Addr,
            Option<Ipv4Addr>,
            bool,
            MacAddr,
            Vec<(String, String)>,
        );
        let live: Vec<Live> = self
            .handle
            .inspect(move |c| {
                let m = c.model();
                m.instances()
                    .values()
                    .filter(|i| i.owner == owner_c)
                    .map(|i| {
                        let groups = i
                            .groups
                            .iter()
                            .map(|g| {
                                let name = m.group(g).map(|g| g.name.clone()).unwrap_or_default();
                                (g.as_str().to_owned(), name)
                            })
                            .collect();
                        (
                            i.id.as_str().to_owned(),
                            i.ip,
                            m.elastic_ip_of(&i.id),
                            i.attachment.is_some(),
                            i.mac,
                            groups,
                        )
                    })
                    .collect()
            })
            .await?;
        let live_ids: BTreeSet<&str> = live.iter().map(|l| l.0.as_str()).collect();
        for id in ids {
            let terminated = metas
                .get(id)
                .is_some_and(|m| m.owner == owner.as_str() && m.terminated.is_some());
            if !live_ids.contains(id.as_str()) && !terminated {
                return Err(Ec2Error::instance_not_found(id));
            }
        }
        let wanted = |id: &str| ids.is_empty() || ids.iter().any(|i| i == id);
        let mut by_reservation: BTreeMap<String, Vec<Ec2Instance>> = BTreeMap::new();
        let mut order: Vec<(String, String)> = Vec::new();
        let mut push = |meta: Option<&InstanceMeta>,
                        id: &str,
                        state: InstanceState,
                        private: Option<Ipv4Addr>,
                        public: Option<Ipv4Addr>,
                        mac: Option<MacAddr>,
                        groups: &[(String, String)]|
         -> Result<(), Ec2Error> {
            let reservation = meta.map_or_else(
                || format!("r-{}", id.trim_start_matches("i-")),
                |m| m.reservation_id.clone(),
            );
            let launch = meta.map_or_else(|| iso8601(0), |m| m.launch_time.clone());
            let inst = Ec2Instance {
                instance_id: Ec2InstanceId::parse_param("instanceId", id)?,
                image_id: ImageId::parse_param(
                    "imageId",
                    meta.map_or("ami-00000000", |m| m.image_id.as_str()),
                )?,
                state,
                private_dns_name: None,
                dns_name: None,
                reason: None,
                key_name: meta.and_then(|m| m.key_name.clone()),
                ami_launch_index: meta.map_or(0, |m| m.launch_index),
                instance_type: meta.map_or_else(
                    || self.config.default_instance_type.clone(),
                    |m| m.instance_type.clone(),
                ),
                launch_time: launch.clone(),
                availability_zone: Some(self.config.availability_zone.clone()),
                monitoring: false,
                subnet_id: None,
                vpc_id: None,
                private_ip_address: private,
                ip_address: public,
                source_dest_check: None,
                architecture: Some("x86_64".to_owned()),
                root_device_type: Some("instance-store".to_owned()),
                root_device_name: None,
                virtualization_type: Some("hvm".to_owned()),
                client_token: meta.and_then(|m| m.client_token.clone()),
                hypervisor: Some("xen".to_owned()),
                mac_address: mac.map(|m| m.to_string()),
                groups: groups
                    .iter()
                    .filter_map(|(gid, name)| {
                        Some(GroupIdentifier {
                            group_id: Ec2GroupId::parse_param("groupId", gid).ok()?,
                            group_name: name.clone(),
                        })
                    })
                    .collect(),
            };
            if !by_reservation.contains_key(&reservation) {
                order.push((launch, reservation.clone()));
            }
            by_reservation.entry(reservation).or_default().push(inst);
            Ok(())
        };
        for (id, ip, eip, attached, mac, groups) in &live {
            if !wanted(id) {
                continue;
            }
            let state = if *attached {
                InstanceState::Running
            } else {
                InstanceState::Pending
            };
            push(
                metas.get(id),
                id,
                state,
                Some(*ip),
                *eip,
                Some(*mac),
                groups,
            )?;
        }
        for (id, meta) in &metas {
            if meta.owner == owner.as_str() && wanted(id) && !live_ids.contains(id.as_str()) {
                if let Some(t) = &meta.terminated {
                    push(
                        Some(meta),
                        id,
                        InstanceState::Terminated,
                        None,
                        None,
                        None,
                        &t.groups,
                    )?;
                }
            }
        }
        order.sort();
        let mut out = Vec::new();
        for (_, rid) in order {
            let Some(mut instances) = by_reservation.remove(&rid) else {
                continue;
            };
            instances.sort_by_key(|i| i.ami_launch_index);
            let res = Reservation {
                reservation_id: conv::<ReservationId>("reservation id", &rid)?,
                owner_id: owner.as_str().to_owned(),
                groups: Vec::new(),
                instances,
            };
            if let Some(r) = res.filtered(filters) {
                out.push(r);
            }
        }
        Ok(out)
    }

    async fn describe_instances(
        &self,
        owner: &OwnerId,
        r: DescribeInstances,
    ) -> Result<Response, Ec2Error> {
        if r.max_results.is_some() && !r.instance_ids.is_empty() {
            return Err(Ec2Error::invalid_combination(
                "The parameter instancesSet cannot be used with the parameter maxResults",
            ));
        }
        if let Some(n) = r.max_results {
            if !(5..=1000).contains(&n) {
                return Err(Ec2Error::invalid_value(
                    "MaxResults",
                    &n.to_string(),
                    "MaxResults must be between 5 and 1000",
                ));
            }
        }
        let ids: Vec<String> = r
            .instance_ids
            .iter()
            .map(|i| i.as_str().to_owned())
            .collect();
        let all = self.reservations(owner, &ids, &r.filters).await?;
        if r.dry_run {
            return Err(Ec2Error::dry_run_operation());
        }
        let start = match &r.next_token {
            None => 0,
            Some(t) => t.parse::<usize>().map_err(|_| {
                Ec2Error::invalid_value("NextToken", t, "not a token this server issued")
            })?,
        };
        let (reservations, next_token) = match r.max_results {
            None => (all, None),
            Some(n) => {
                let n = n as usize;
                let total = all.len();
                let page: Vec<Reservation> = all.into_iter().skip(start).take(n).collect();
                let next = (start + n < total).then(|| (start + n).to_string());
                (page, next)
            }
        };
        Ok(Response::DescribeInstances {
            reservations,
            next_token,
        })
    }

    async fn terminate(
        &self,
        owner: &OwnerId,
        r: TerminateInstances,
    ) -> Result<Response, Ec2Error> {
        let owner_c = owner.clone();
        let metas = self.state.lock().await.meta.clone();
        let now = now_unix();
        let changes = self
            .change(
                move |m| {
                    let mut t = Touched::none();
                    let mut writes = Vec::new();
                    let mut out = Vec::new();
                    for id in &r.instance_ids {
                        let key = id.as_str().to_owned();
                        let meta = metas.get(&key).filter(|mm| mm.owner == owner_c.as_str());
                        let live = mid(id)
                            .ok()
                            .and_then(|i| m.instance(&i).cloned())
                            .filter(|i| i.owner == owner_c);
                        match live {
                            Some(inst) => {
                                let groups = inst
                                    .groups
                                    .iter()
                                    .map(|g| {
                                        (
                                            g.as_str().to_owned(),
                                            m.group(g).map(|g| g.name.clone()).unwrap_or_default(),
                                        )
                                    })
                                    .collect();
                                let previous = if inst.attachment.is_some() {
                                    InstanceState::Running
                                } else {
                                    InstanceState::Pending
                                };
                                if r.dry_run {
                                    continue;
                                }
                                t.merge(m.remove_instance(&inst.id).map_err(model_error)?);
                                let mut meta = meta.cloned().unwrap_or(InstanceMeta {
                                    owner: owner_c.as_str().to_owned(),
                                    image_id: "ami-00000000".to_owned(),
                                    instance_type: String::new(),
                                    reservation_id: format!("r-{}", key.trim_start_matches("i-")),
                                    launch_time: iso8601(0),
                                    launch_index: 0,
                                    key_name: None,
                                    client_token: None,
                                    terminated: None,
                                });
                                meta.terminated = Some(Terminated { at: now, groups });
                                writes.push(record(INSTANCE_RECORD, &key, &meta));
                                out.push((key, previous, meta));
                            }
                            None => match meta {
                                Some(mm) if mm.terminated.is_some() => {
                                    out.push((key, InstanceState::Terminated, mm.clone()))
                                }
                                _ => return Err(Ec2Error::instance_not_found(id)),
                            },
                        }
                    }
                    if r.dry_run {
                        return Err(Ec2Error::dry_run_operation());
                    }
                    Ok((t, writes, out))
                },
                |st, out| {
                    for (id, _, meta) in out {
                        st.meta.insert(id.clone(), meta.clone());
                    }
                },
            )
            .await?;
        let mut out = Vec::new();
        for (id, previous, _) in changes {
            out.push(InstanceStateChange {
                instance_id: Ec2InstanceId::parse_param("instanceId", &id)?,
                current: InstanceState::Terminated,
                previous,
            });
        }
        Ok(Response::TerminateInstances(out))
    }

    /// Run a model change of another front end (the XML-RPC drop-in, the admin API) in
    /// step with the EC2 API's own: serialised with them, committed with `f`'s extra writes,
    /// then awaited on the switches like any API change. `f` sees a copy of the model; on
    /// error nothing changes.
    ///
    /// An instance launched through the EC2 API that `f` removes is terminated as
    /// `TerminateInstances` would: its metadata record says so (with its groups at that
    /// moment) in the same commit, and `DescribeInstances` shows it `terminated` for an hour.
    pub async fn apply<R, F>(&self, f: F) -> Result<R, Ec2Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Model) -> Result<(Touched, Vec<Write>, R), Ec2Error> + Send + 'static,
    {
        let now = now_unix();
        let (value, _) = self
            .change_seeing(
                |st: &ApiState| {
                    let running: Vec<(String, InstanceMeta)> = st
                        .meta
                        .iter()
                        .filter(|(_, m)| m.terminated.is_none())
                        .map(|(id, m)| (id.clone(), m.clone()))
                        .collect();
                    move |m: &mut Model| {
                        // The groups of each, as they are before `f`.
                        let groups = |m: &Model, id: &str| -> Option<Vec<(String, String)>> {
                            let inst = m.instance(&mid(&id).ok()?)?;
                            Some(
                                inst.groups
                                    .iter()
                                    .map(|g| {
                                        let name = m.group(g).map(|g| g.name.clone());
                                        (g.as_str().to_owned(), name.unwrap_or_default())
                                    })
                                    .collect(),
                            )
                        };
                        let before: Vec<_> = running
                            .into_iter()
                            .filter_map(|(id, meta)| {
                                let g = groups(m, &id)?;
                                Some((id, meta, g))
                            })
                            .collect();
                        let (t, mut writes, value) = f(m)?;
                        let mut ended = Vec::new();
                        for (id, mut meta, groups) in before {
                            let gone = mid(&id).ok().and_then(|i| m.instance(&i)).is_none();
                            if gone {
                                meta.terminated = Some(Terminated { at: now, groups });
                                writes.push(record(INSTANCE_RECORD, &id, &meta));
                                ended.push((id, meta));
                            }
                        }
                        Ok((t, writes, (value, ended)))
                    }
                },
                |st, (_, ended): &(R, Vec<(String, InstanceMeta)>)| {
                    for (id, meta) in ended {
                        st.meta.insert(id.clone(), meta.clone());
                    }
                },
            )
            .await?;
        Ok(value)
    }

    /// The instance metadata the API keeps (for the admin API and tests).
    pub async fn instance_meta(&self) -> BTreeMap<String, InstanceMeta> {
        self.state.lock().await.meta.clone()
    }
}
