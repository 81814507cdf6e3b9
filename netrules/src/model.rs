//! The model: network settings, switches, instances, security groups and elastic IPs.
//!
//! Everything here is plain data with serde support, and a [`Model`] that holds it together
//! and keeps it valid: every way into a [`Model`] (its constructor, its mutators, and
//! deserialisation) checks the whole set of invariants listed on [`Model`] and returns a
//! [`ModelError`] that names the offending object and value. The mutators return the
//! [`Touched`] set: the instances and switches whose flows (and tracked connections) the change
//! can affect, which is what the incremental compiler and the connection tracker work from.

use crate::serde_util;
use core::fmt;
use core::net::Ipv4Addr;
use ipnetwork::Ipv4Network;
use openflow_proto::flow_match::{IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP};
use openflow_proto::{MacAddr, PortNo};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A switch's datapath id.
pub type Dpid = u64;

/// The longest identifier (instance, group, allocation, owner) the model accepts, in bytes.
pub const MAX_ID_LEN: usize = 255;
/// The longest group name or description the model accepts, in bytes.
pub const MAX_TEXT_LEN: usize = 255;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        ///
        /// Validated on construction: 1 to [`MAX_ID_LEN`] bytes of printable ASCII, no spaces.
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validate and wrap an identifier.
            pub fn new(s: impl Into<String>) -> Result<Self, ModelError> {
                let s = s.into();
                if s.is_empty()
                    || s.len() > MAX_ID_LEN
                    || !s.bytes().all(|b| b.is_ascii_graphic())
                {
                    return Err(ModelError::InvalidId { kind: $what, found: truncate(&s) });
                }
                Ok($name(s))
            }

            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ModelError;
            fn try_from(s: String) -> Result<Self, ModelError> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ModelError;
            fn try_from(s: &str) -> Result<Self, ModelError> {
                $name::new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl core::str::FromStr for $name {
            type Err = ModelError;
            fn from_str(s: &str) -> Result<Self, ModelError> {
                $name::new(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// An instance id (`i-...`).
    InstanceId,
    "instance id"
);
id_type!(
    /// A security group id (`sg-...`).
    GroupId,
    "security group id"
);
id_type!(
    /// An elastic IP allocation id (`eipalloc-...`).
    AllocationId,
    "allocation id"
);
id_type!(
    /// An owner (account) id.
    OwnerId,
    "owner id"
);

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Everything that can be wrong with a model or a change to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// An identifier is empty, too long or has non-printable characters.
    #[error(
        "invalid {kind} {found:?}: expected 1 to 255 printable ASCII characters without spaces"
    )]
    InvalidId {
        /// Which kind of identifier.
        kind: &'static str,
        /// The text (truncated to 64 characters).
        found: String,
    },
    /// A free-text field is too long.
    #[error("{field} of security group {group} is {len} bytes long (at most 255)")]
    TextTooLong {
        /// Which field.
        field: &'static str,
        /// The group.
        group: GroupId,
        /// Its length.
        len: usize,
    },
    /// A TCP/UDP port range with `from > to`.
    #[error("invalid port range {from}-{to}: expected from <= to")]
    PortRange {
        /// The first port.
        from: u16,
        /// The last port.
        to: u16,
    },
    /// An ICMP code given without an ICMP type.
    #[error("invalid ICMP match: code {code} given with type -1 (any); a code needs a type")]
    IcmpCodeWithoutType {
        /// The code.
        code: u8,
    },
    /// A protocol number that has a named form (1, 6, 17) used as a raw number.
    #[error("protocol number {0} must be given as tcp, udp or icmp (with ports)")]
    NonCanonicalProtocol(u8),
    /// An EC2-style protocol or port argument could not be understood.
    #[error("invalid {what}: {found:?} ({expected})")]
    Ec2Argument {
        /// Which argument.
        what: &'static str,
        /// The value given.
        found: String,
        /// What was expected.
        expected: &'static str,
    },
    /// The network settings are inconsistent.
    #[error("invalid network settings: {0}")]
    Settings(String),
    /// An object with this key exists already.
    #[error("{kind} {key} already exists")]
    Duplicate {
        /// What kind of object.
        kind: &'static str,
        /// Its key.
        key: String,
    },
    /// No object with this key.
    #[error("{kind} {key} does not exist")]
    NotFound {
        /// What kind of object.
        kind: &'static str,
        /// Its key.
        key: String,
    },
    /// The object is still used by another one.
    #[error("{kind} {key} is still in use by {user}")]
    InUse {
        /// What kind of object.
        kind: &'static str,
        /// Its key.
        key: String,
        /// Who uses it.
        user: String,
    },
    /// An instance address that does not fit the private subnet.
    #[error(
        "instance {instance}: private address {ip} is not a usable host address of subnet {subnet}"
    )]
    AddressOutsideSubnet {
        /// The instance.
        instance: InstanceId,
        /// Its address.
        ip: Ipv4Addr,
        /// The subnet.
        subnet: Ipv4Network,
    },
    /// A MAC address that cannot be an instance's (multicast, zero, or one of the router's).
    #[error("{owner}: MAC address {mac} cannot be used ({why})")]
    BadMac {
        /// Whose MAC.
        owner: String,
        /// The MAC.
        mac: MacAddr,
        /// Why not.
        why: &'static str,
    },
    /// An attachment to a port that cannot hold an instance.
    #[error("instance {instance}: cannot attach to switch {switch:#x} port {port} ({why})")]
    BadAttachment {
        /// The instance.
        instance: InstanceId,
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
        /// Why not.
        why: &'static str,
    },
    /// An elastic IP inside the private subnet or otherwise unusable.
    #[error("elastic IP {ip}: {why}")]
    BadElasticIp {
        /// The address.
        ip: Ipv4Addr,
        /// Why not.
        why: &'static str,
    },
    /// The address is associated and reassociation was not allowed.
    #[error("elastic IP {ip} is already associated with {instance}")]
    AlreadyAssociated {
        /// The address.
        ip: Ipv4Addr,
        /// The instance it is associated with.
        instance: InstanceId,
    },
    /// A switch's uplink is not a physical port.
    #[error("switch {switch:#x}: uplink {port} is not a physical port (1..=0xfeff)")]
    BadUplink {
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
    },
    /// The permission exists already in that direction of that group.
    #[error("security group {group}: the {direction} permission {permission} exists already")]
    DuplicatePermission {
        /// The group.
        group: GroupId,
        /// The direction.
        direction: Direction,
        /// The permission.
        permission: String,
    },
    /// The permission to revoke does not exist.
    #[error("security group {group}: no {direction} permission {permission}")]
    PermissionNotFound {
        /// The group.
        group: GroupId,
        /// The direction.
        direction: Direction,
        /// The permission.
        permission: String,
    },
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

/// An inclusive TCP/UDP port range.
///
/// OpenFlow 1.0 cannot mask transport ports: a range that covers every port (`0-65535` or
/// `1-65535`, see [`PortRange::is_all`]) matches *any* port, 0 included, and compiles to a
/// wildcard; any other range matches exactly its ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "PortRangeRepr", into = "PortRangeRepr")]
pub struct PortRange {
    from: u16,
    to: u16,
}

#[derive(Serialize, Deserialize)]
struct PortRangeRepr {
    from: u16,
    to: u16,
}

impl TryFrom<PortRangeRepr> for PortRange {
    type Error = ModelError;
    fn try_from(r: PortRangeRepr) -> Result<Self, ModelError> {
        PortRange::new(r.from, r.to)
    }
}

impl From<PortRange> for PortRangeRepr {
    fn from(r: PortRange) -> Self {
        PortRangeRepr {
            from: r.from,
            to: r.to,
        }
    }
}

impl PortRange {
    /// Every port, `0-65535`.
    pub const ALL: PortRange = PortRange { from: 0, to: 65535 };

    /// The range `from..=to`; `from > to` is an error. A full range is stored as `0-65535`.
    pub fn new(from: u16, to: u16) -> Result<Self, ModelError> {
        if from > to {
            return Err(ModelError::PortRange { from, to });
        }
        if from <= 1 && to == 65535 {
            return Ok(PortRange::ALL);
        }
        Ok(PortRange { from, to })
    }

    /// One port.
    pub const fn single(port: u16) -> Self {
        PortRange {
            from: port,
            to: port,
        }
    }

    /// The first port.
    pub const fn from(&self) -> u16 {
        self.from
    }

    /// The last port.
    pub const fn to(&self) -> u16 {
        self.to
    }

    /// True if this is every port (it compiles to a wildcard and matches port 0 too).
    pub const fn is_all(&self) -> bool {
        self.from == 0 && self.to == 65535
    }

    /// The number of ports in the range.
    pub const fn len(&self) -> u32 {
        self.to as u32 - self.from as u32 + 1
    }

    /// Always false: a range has at least one port.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// True if `port` is in the range.
    pub const fn contains(&self, port: u16) -> bool {
        self.is_all() || (self.from <= port && port <= self.to)
    }

    /// The intersection of two ranges, if not empty.
    pub fn intersect(&self, other: &PortRange) -> Option<PortRange> {
        let from = self.from.max(other.from);
        let to = self.to.min(other.to);
        (from <= to).then_some(PortRange { from, to })
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_all() {
            f.write_str("all ports")
        } else if self.from == self.to {
            write!(f, "port {}", self.from)
        } else {
            write!(f, "ports {}-{}", self.from, self.to)
        }
    }
}

/// An ICMP type and code to match; `None` is EC2's `-1` (any).
///
/// A code needs a type: `(None, Some(_))` is rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "IcmpRepr", into = "IcmpRepr")]
pub struct IcmpSpec {
    icmp_type: Option<u8>,
    code: Option<u8>,
}

#[derive(Serialize, Deserialize)]
struct IcmpRepr {
    #[serde(rename = "type")]
    icmp_type: Option<u8>,
    code: Option<u8>,
}

impl TryFrom<IcmpRepr> for IcmpSpec {
    type Error = ModelError;
    fn try_from(r: IcmpRepr) -> Result<Self, ModelError> {
        IcmpSpec::new(r.icmp_type, r.code)
    }
}

impl From<IcmpSpec> for IcmpRepr {
    fn from(s: IcmpSpec) -> Self {
        IcmpRepr {
            icmp_type: s.icmp_type,
            code: s.code,
        }
    }
}

impl IcmpSpec {
    /// Any ICMP type and code.
    pub const ANY: IcmpSpec = IcmpSpec {
        icmp_type: None,
        code: None,
    };

    /// A type (or any) and a code (or any); a code without a type is an error.
    pub fn new(icmp_type: Option<u8>, code: Option<u8>) -> Result<Self, ModelError> {
        match (icmp_type, code) {
            (None, Some(code)) => Err(ModelError::IcmpCodeWithoutType { code }),
            _ => Ok(IcmpSpec { icmp_type, code }),
        }
    }

    /// The type, `None` for any.
    pub const fn icmp_type(&self) -> Option<u8> {
        self.icmp_type
    }

    /// The code, `None` for any.
    pub const fn code(&self) -> Option<u8> {
        self.code
    }

    /// True if an ICMP message of this type and code matches.
    pub fn matches(&self, icmp_type: u8, code: u8) -> bool {
        self.icmp_type.is_none_or(|t| t == icmp_type) && self.code.is_none_or(|c| c == code)
    }
}

/// The traffic a permission allows: a protocol and, for TCP/UDP, destination ports, for
/// ICMP, a type and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Every IPv4 packet (EC2's protocol `-1`).
    Any,
    /// TCP to these destination ports.
    Tcp(PortRange),
    /// UDP to these destination ports.
    Udp(PortRange),
    /// ICMP of this type and code.
    Icmp(IcmpSpec),
    /// Another IP protocol, by number (not 1, 6 or 17: those have their named forms).
    Number(u8),
}

impl Protocol {
    /// Parse EC2's `IpProtocol`, `FromPort` and `ToPort` (`-1` for "any"):
    /// `tcp`/`udp`/`6`/`17` with a port range (`-1`/`-1` or missing: every port),
    /// `icmp`/`1` with type and code, `-1`/`all` for every protocol, or another number.
    pub fn from_ec2(
        protocol: &str,
        from_port: Option<i32>,
        to_port: Option<i32>,
    ) -> Result<Self, ModelError> {
        let p = protocol.trim().to_ascii_lowercase();
        let number = match p.as_str() {
            "-1" | "all" => return Ok(Protocol::Any),
            "tcp" => IP_PROTO_TCP,
            "udp" => IP_PROTO_UDP,
            "icmp" => IP_PROTO_ICMP,
            other => other.parse::<u8>().map_err(|_| ModelError::Ec2Argument {
                what: "IpProtocol",
                found: protocol.to_owned(),
                expected: "tcp, udp, icmp, -1 or a protocol number 0-255",
            })?,
        };
        let arg =
            |what: &'static str, v: Option<i32>, max: i32| -> Result<Option<i32>, ModelError> {
                match v {
                    None | Some(-1) => Ok(None),
                    Some(v) if (0..=max).contains(&v) => Ok(Some(v)),
                    Some(v) => Err(ModelError::Ec2Argument {
                        what,
                        found: v.to_string(),
                        expected: if max == 255 {
                            "-1 or 0-255 for ICMP"
                        } else {
                            "-1 or 0-65535"
                        },
                    }),
                }
            };
        match number {
            IP_PROTO_TCP | IP_PROTO_UDP => {
                let from = arg("FromPort", from_port, 65535)?;
                let to = arg("ToPort", to_port, 65535)?;
                let range = match (from, to) {
                    (None, None) => PortRange::ALL,
                    (Some(f), Some(t)) => PortRange::new(f as u16, t as u16)?,
                    _ => {
                        return Err(ModelError::Ec2Argument {
                            what: "FromPort/ToPort",
                            found: format!("{from_port:?}/{to_port:?}"),
                            expected: "both -1 or both a port",
                        })
                    }
                };
                Ok(if number == IP_PROTO_TCP {
                    Protocol::Tcp(range)
                } else {
                    Protocol::Udp(range)
                })
            }
            IP_PROTO_ICMP => {
                let t = arg("FromPort (ICMP type)", from_port, 255)?;
                let c = arg("ToPort (ICMP code)", to_port, 255)?;
                Ok(Protocol::Icmp(IcmpSpec::new(
                    t.map(|v| v as u8),
                    c.map(|v| v as u8),
                )?))
            }
            n => Ok(Protocol::Number(n)),
        }
    }

    /// The IP protocol number, `None` for [`Protocol::Any`].
    pub const fn ip_proto(&self) -> Option<u8> {
        match self {
            Protocol::Any => None,
            Protocol::Tcp(_) => Some(IP_PROTO_TCP),
            Protocol::Udp(_) => Some(IP_PROTO_UDP),
            Protocol::Icmp(_) => Some(IP_PROTO_ICMP),
            Protocol::Number(n) => Some(*n),
        }
    }

    /// True if an IPv4 packet with this protocol and transport fields matches (`tp_src` is
    /// the ICMP type and `tp_dst` the code for ICMP; the destination port for TCP/UDP).
    pub fn matches(&self, nw_proto: u8, tp_src: u16, tp_dst: u16) -> bool {
        match self {
            Protocol::Any => true,
            Protocol::Tcp(r) => nw_proto == IP_PROTO_TCP && r.contains(tp_dst),
            Protocol::Udp(r) => nw_proto == IP_PROTO_UDP && r.contains(tp_dst),
            Protocol::Icmp(s) => {
                nw_proto == IP_PROTO_ICMP
                    && s.icmp_type.is_none_or(|t| u16::from(t) == tp_src)
                    && s.code.is_none_or(|c| u16::from(c) == tp_dst)
            }
            Protocol::Number(n) => nw_proto == *n,
        }
    }

    fn validate(&self) -> Result<(), ModelError> {
        match self {
            Protocol::Number(n @ (1 | 6 | 17)) => Err(ModelError::NonCanonicalProtocol(*n)),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::Any => f.write_str("all traffic"),
            Protocol::Tcp(r) => write!(f, "tcp {r}"),
            Protocol::Udp(r) => write!(f, "udp {r}"),
            Protocol::Icmp(s) => {
                f.write_str("icmp")?;
                match s.icmp_type {
                    Some(t) => write!(f, " type {t}")?,
                    None => f.write_str(" any type")?,
                }
                match s.code {
                    Some(c) => write!(f, " code {c}"),
                    None => Ok(()),
                }
            }
            Protocol::Number(n) => write!(f, "protocol {n}"),
        }
    }
}

/// Who is on the other side of a permission: the source for ingress, the destination for
/// egress.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    /// Addresses in this CIDR block (canonical: host bits clear). It applies to private
    /// traffic between instances and to traffic with the outside through elastic IPs.
    Cidr(Ipv4Network),
    /// The private addresses of the members of this group (private traffic only).
    Group(GroupId),
}

impl Peer {
    /// A CIDR peer, canonicalised (host bits cleared).
    pub fn cidr(addr: Ipv4Addr, prefix: u8) -> Result<Self, ModelError> {
        let net = Ipv4Network::new(addr, prefix).map_err(|_| ModelError::Ec2Argument {
            what: "CidrIp",
            found: format!("{addr}/{prefix}"),
            expected: "an IPv4 CIDR block with a prefix length 0-32",
        })?;
        Ok(Peer::Cidr(canonical(net)))
    }

    /// Every address, `0.0.0.0/0`.
    pub fn anywhere() -> Self {
        Peer::Cidr(any_network())
    }

    fn canonicalised(self) -> Self {
        match self {
            Peer::Cidr(n) => Peer::Cidr(canonical(n)),
            g => g,
        }
    }
}

/// `0.0.0.0/0`.
pub fn any_network() -> Ipv4Network {
    match Ipv4Network::new(Ipv4Addr::UNSPECIFIED, 0) {
        Ok(n) => n,
        Err(_) => Ipv4Network::from(Ipv4Addr::UNSPECIFIED),
    }
}

/// `net` with its host bits cleared.
pub fn canonical(net: Ipv4Network) -> Ipv4Network {
    Ipv4Network::new(net.network(), net.prefix()).unwrap_or(net)
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Cidr(n) => write!(f, "{}/{}", n.network(), n.prefix()),
            Peer::Group(g) => write!(f, "group {g}"),
        }
    }
}

/// One permission of a security group: a protocol (with ports or ICMP type and code) and one
/// peer. EC2's `IpPermission`, which lists several CIDRs and groups, is several of these.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "PermissionRepr", into = "PermissionRepr")]
pub struct Permission {
    protocol: Protocol,
    peer: Peer,
}

#[derive(Serialize, Deserialize)]
struct PermissionRepr {
    protocol: Protocol,
    peer: Peer,
}

impl TryFrom<PermissionRepr> for Permission {
    type Error = ModelError;
    fn try_from(r: PermissionRepr) -> Result<Self, ModelError> {
        Permission::new(r.protocol, r.peer)
    }
}

impl From<Permission> for PermissionRepr {
    fn from(p: Permission) -> Self {
        PermissionRepr {
            protocol: p.protocol,
            peer: p.peer,
        }
    }
}

impl Permission {
    /// A permission; the protocol is validated and a CIDR peer canonicalised.
    pub fn new(protocol: Protocol, peer: Peer) -> Result<Self, ModelError> {
        protocol.validate()?;
        Ok(Permission {
            protocol,
            peer: peer.canonicalised(),
        })
    }

    /// The permissions EC2-Classic grants for a source group given without protocol or
    /// ports: all TCP, all UDP and all ICMP from (or to) the group.
    pub fn classic_group(group: GroupId) -> [Permission; 3] {
        let peer = Peer::Group(group);
        [
            Permission {
                protocol: Protocol::Tcp(PortRange::ALL),
                peer: peer.clone(),
            },
            Permission {
                protocol: Protocol::Udp(PortRange::ALL),
                peer: peer.clone(),
            },
            Permission {
                protocol: Protocol::Icmp(IcmpSpec::ANY),
                peer,
            },
        ]
    }

    /// One permission per peer, for EC2's `IpPermission` (one protocol and port range, several
    /// CIDRs and groups). Duplicates (after canonicalisation) collapse.
    pub fn for_peers(
        protocol: Protocol,
        peers: impl IntoIterator<Item = Peer>,
    ) -> Result<Vec<Permission>, ModelError> {
        let set: BTreeSet<Permission> = peers
            .into_iter()
            .map(|p| Permission::new(protocol, p))
            .collect::<Result<_, _>>()?;
        Ok(set.into_iter().collect())
    }

    /// Every protocol to or from everywhere: what a new group allows out.
    pub fn allow_all() -> Self {
        Permission {
            protocol: Protocol::Any,
            peer: Peer::anywhere(),
        }
    }

    /// The protocol.
    pub fn protocol(&self) -> &Protocol {
        &self.protocol
    }

    /// The peer.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} with {}", self.protocol, self.peer)
    }
}

/// The direction of a permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Traffic to the instance (the peer is the source).
    Ingress,
    /// Traffic from the instance (the peer is the destination).
    Egress,
}

impl Direction {
    /// The other direction.
    pub const fn reverse(self) -> Self {
        match self {
            Direction::Ingress => Direction::Egress,
            Direction::Egress => Direction::Ingress,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

/// A security group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    /// Its id.
    pub id: GroupId,
    /// Its name.
    pub name: String,
    /// The owning account.
    pub owner: OwnerId,
    /// Free text.
    pub description: String,
    /// What it lets in.
    pub ingress: BTreeSet<Permission>,
    /// What it lets out.
    pub egress: BTreeSet<Permission>,
}

impl SecurityGroup {
    /// A new group as EC2 (VPC) creates it: nothing in, everything out.
    pub fn new(
        id: GroupId,
        name: impl Into<String>,
        owner: OwnerId,
        description: impl Into<String>,
    ) -> Self {
        SecurityGroup {
            id,
            name: name.into(),
            owner,
            description: description.into(),
            ingress: BTreeSet::new(),
            egress: BTreeSet::from([Permission::allow_all()]),
        }
    }

    /// The permissions in one direction.
    pub fn permissions(&self, direction: Direction) -> &BTreeSet<Permission> {
        match direction {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    fn permissions_mut(&mut self, direction: Direction) -> &mut BTreeSet<Permission> {
        match direction {
            Direction::Ingress => &mut self.ingress,
            Direction::Egress => &mut self.egress,
        }
    }

    /// The groups its permissions name as peers.
    pub fn referenced_groups(&self) -> impl Iterator<Item = &GroupId> {
        self.ingress
            .iter()
            .chain(&self.egress)
            .filter_map(|p| match &p.peer {
                Peer::Group(g) => Some(g),
                Peer::Cidr(_) => None,
            })
    }
}

// ---------------------------------------------------------------------------------------------
// Topology, instances, elastic IPs, settings
// ---------------------------------------------------------------------------------------------

/// A switch (an Open vSwitch bridge on one hypervisor).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Switch {
    /// Its datapath id.
    pub dpid: Dpid,
    /// The port towards the physical network shared by the switches and the public gateway.
    #[serde(with = "serde_util::port")]
    pub uplink: PortNo,
}

/// Where an instance's interface is plugged in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Attachment {
    /// The switch.
    pub switch: Dpid,
    /// The port on that switch.
    #[serde(with = "serde_util::port")]
    pub port: PortNo,
}

/// An instance (a virtual machine with one interface).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// Its id.
    pub id: InstanceId,
    /// The owning account.
    pub owner: OwnerId,
    /// Its interface's MAC address.
    #[serde(with = "serde_util::mac")]
    pub mac: MacAddr,
    /// Its private address, in the private subnet.
    pub ip: Ipv4Addr,
    /// The security groups it belongs to.
    pub groups: BTreeSet<GroupId>,
    /// Where it is plugged in, once known.
    pub attachment: Option<Attachment>,
}

/// An elastic IP address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ElasticIp {
    /// The public address.
    pub public_ip: Ipv4Addr,
    /// Its allocation id.
    pub allocation_id: AllocationId,
    /// The owning account.
    pub owner: OwnerId,
    /// The instance it is associated with.
    pub instance: Option<InstanceId>,
}

/// The network's fixed parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// The private subnet every instance address is in.
    pub subnet: Ipv4Network,
    /// The subnet's gateway address (the virtual router the instances use).
    pub gateway: Ipv4Addr,
    /// The virtual router's MAC: the controller answers ARP for the gateway (and instances
    /// see traffic from outside coming from it).
    #[serde(with = "serde_util::mac")]
    pub router_mac: MacAddr,
    /// The public gateway's address, behind the uplinks.
    pub public_gateway: Ipv4Addr,
    /// The public gateway's MAC: traffic to the outside is sent to it.
    #[serde(with = "serde_util::mac")]
    pub public_gateway_mac: MacAddr,
    /// The MAC the controller announces elastic IPs with (ARP replies and gratuitous ARP):
    /// traffic from the outside to an elastic IP arrives addressed to it, and traffic to the
    /// outside leaves from it.
    #[serde(with = "serde_util::mac")]
    pub elastic_ip_mac: MacAddr,
}

impl Settings {
    /// Check the settings: the subnet is canonical with room for hosts (prefix at most 30),
    /// the gateway is a host address in it, the public gateway is outside it, and the three
    /// MACs are distinct unicast non-zero addresses.
    pub fn validate(&self) -> Result<(), ModelError> {
        let bad = |s: String| Err(ModelError::Settings(s));
        if canonical(self.subnet) != self.subnet {
            return bad(format!("subnet {} has host bits set", self.subnet));
        }
        if self.subnet.prefix() > 30 {
            return bad(format!(
                "subnet {} is too small (prefix at most /30)",
                self.subnet
            ));
        }
        if !is_host_of(self.subnet, self.gateway) {
            return bad(format!(
                "gateway {} is not a host address of {}",
                self.gateway, self.subnet
            ));
        }
        if self.subnet.contains(self.public_gateway) {
            return bad(format!(
                "public gateway {} is inside the private subnet {}",
                self.public_gateway, self.subnet
            ));
        }
        let macs = [
            ("router MAC", self.router_mac),
            ("public gateway MAC", self.public_gateway_mac),
            ("elastic IP MAC", self.elastic_ip_mac),
        ];
        for (name, m) in macs {
            if m.is_multicast() || m == MacAddr::ZERO {
                return bad(format!("{name} {m} is not a unicast address"));
            }
        }
        if self.router_mac == self.public_gateway_mac
            || self.router_mac == self.elastic_ip_mac
            || self.public_gateway_mac == self.elastic_ip_mac
        {
            return bad("router, public gateway and elastic IP MACs must differ".to_owned());
        }
        Ok(())
    }
}

/// True if `ip` is a usable host address of `net`: inside it, and neither its network nor
/// its broadcast address.
pub fn is_host_of(net: Ipv4Network, ip: Ipv4Addr) -> bool {
    net.contains(ip) && ip != net.network() && ip != net.broadcast()
}

// ---------------------------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------------------------

/// What a change to the model can affect.
///
/// The incremental compiler recomputes the flows of exactly these instances (and the base
/// flows of these switches); the connection tracker and the controller's pinhole table cut
/// the tracked connections of these instances (see the crate docs on revocation).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// Everything (the settings changed, or the model was replaced).
    pub all: bool,
    /// Instances whose flows or connections may change (including removed ones).
    pub instances: BTreeSet<InstanceId>,
    /// Switches whose base flows may change (added, removed, uplink changed).
    pub switches: BTreeSet<Dpid>,
    /// Private addresses that appeared or disappeared (instances added or removed): tracked
    /// connections with these addresses are cut too.
    pub addresses: BTreeSet<Ipv4Addr>,
}

impl Touched {
    /// Nothing touched.
    pub fn none() -> Self {
        Touched::default()
    }

    /// Everything touched.
    pub fn everything() -> Self {
        Touched {
            all: true,
            ..Touched::default()
        }
    }

    /// Merge another set into this one.
    pub fn merge(&mut self, other: Touched) {
        self.all |= other.all;
        self.instances.extend(other.instances);
        self.switches.extend(other.switches);
        self.addresses.extend(other.addresses);
    }

    /// True if the instance is touched.
    pub fn touches(&self, id: &InstanceId) -> bool {
        self.all || self.instances.contains(id)
    }

    /// True if nothing is touched.
    pub fn is_empty(&self) -> bool {
        !self.all
            && self.instances.is_empty()
            && self.switches.is_empty()
            && self.addresses.is_empty()
    }
}

/// The hot lookup indexes' map (every punted packet looks up addresses and ports): ahash's
/// randomly keyed hasher, several times cheaper than SipHash on these small keys.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;

#[derive(Clone, Debug, Default)]
struct Indexes {
    by_ip: FastMap<Ipv4Addr, InstanceId>,
    by_mac: FastMap<MacAddr, InstanceId>,
    by_port: FastMap<(Dpid, PortNo), InstanceId>,
    on_switch: BTreeMap<Dpid, BTreeSet<InstanceId>>,
    /// Group -> its members, with their private address and MAC (so that expanding a group
    /// peer needs no instance lookups).
    members: FastMap<GroupId, BTreeMap<InstanceId, (Ipv4Addr, MacAddr)>>,
    /// Group -> the groups whose permissions name it, with how many permissions do.
    referrers: HashMap<GroupId, BTreeMap<GroupId, usize>>,
    eip_of: FastMap<InstanceId, Ipv4Addr>,
    by_allocation: HashMap<AllocationId, Ipv4Addr>,
}

/// The whole model: settings, switches, security groups, instances and elastic IPs, kept
/// valid and indexed.
///
/// Invariants (checked on every construction, mutation and deserialisation):
/// - the [`Settings`] are valid ([`Settings::validate`]);
/// - switch uplinks are physical ports;
/// - permissions are canonical, and every group a permission names exists (a group may name
///   itself);
/// - instance ids, MACs and private addresses are unique; each private address is a host
///   address of the subnet other than the gateway; each MAC is unicast, non-zero and none of
///   the settings' MACs; every group an instance names exists; an attachment is to an
///   existing switch, on a physical port other than its uplink, not shared with another
///   instance;
/// - elastic IPs are unique by address and allocation id, outside the private subnet and not
///   the public gateway; an associated instance exists and has only that elastic IP.
///
/// Lookups by address, MAC, port, group membership and group reference are indexed, so the
/// reference function and the compiler never scan all instances.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "ModelRepr", into = "ModelRepr")]
pub struct Model {
    settings: Settings,
    switches: BTreeMap<Dpid, Switch>,
    groups: BTreeMap<GroupId, SecurityGroup>,
    instances: BTreeMap<InstanceId, Instance>,
    elastic_ips: BTreeMap<Ipv4Addr, ElasticIp>,
    idx: Indexes,
    /// Names this content: a value no other model content had in this process. Every
    /// mutator takes a fresh one (from [`next_stamp`]) before it changes anything, and the
    /// fields are private, so two models with the same stamp are equal (a clone keeps its
    /// original's stamp until either changes). Decisions memoised per model key on it.
    stamp: u64,
}

/// A stamp no model has had yet in this process.
fn next_stamp() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// The serialised form of a [`Model`]: plain lists.
#[derive(Serialize, Deserialize)]
struct ModelRepr {
    settings: Settings,
    #[serde(default)]
    switches: Vec<Switch>,
    #[serde(default)]
    groups: Vec<SecurityGroup>,
    #[serde(default)]
    instances: Vec<Instance>,
    #[serde(default)]
    elastic_ips: Vec<ElasticIp>,
}

impl TryFrom<ModelRepr> for Model {
    type Error = ModelError;
    fn try_from(r: ModelRepr) -> Result<Self, ModelError> {
        Model::from_parts(r.settings, r.switches, r.groups, r.instances, r.elastic_ips)
    }
}

impl From<Model> for ModelRepr {
    fn from(m: Model) -> Self {
        ModelRepr {
            settings: m.settings,
            switches: m.switches.into_values().collect(),
            groups: m.groups.into_values().collect(),
            instances: m.instances.into_values().collect(),
            elastic_ips: m.elastic_ips.into_values().collect(),
        }
    }
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.settings == other.settings
            && self.switches == other.switches
            && self.groups == other.groups
            && self.instances == other.instances
            && self.elastic_ips == other.elastic_ips
    }
}

impl Eq for Model {}

fn not_found(kind: &'static str, key: impl fmt::Display) -> ModelError {
    ModelError::NotFound {
        kind,
        key: key.to_string(),
    }
}

impl Model {
    /// An empty model with these settings.
    pub fn new(settings: Settings) -> Result<Self, ModelError> {
        settings.validate()?;
        Ok(Model {
            settings,
            switches: BTreeMap::new(),
            groups: BTreeMap::new(),
            instances: BTreeMap::new(),
            elastic_ips: BTreeMap::new(),
            idx: Indexes::default(),
            stamp: next_stamp(),
        })
    }

    /// A model from its parts, validated as if they were added one by one (groups first, so
    /// that permissions may name groups listed later).
    pub fn from_parts(
        settings: Settings,
        switches: impl IntoIterator<Item = Switch>,
        groups: impl IntoIterator<Item = SecurityGroup>,
        instances: impl IntoIterator<Item = Instance>,
        elastic_ips: impl IntoIterator<Item = ElasticIp>,
    ) -> Result<Self, ModelError> {
        let mut m = Model::new(settings)?;
        for s in switches {
            m.add_switch(s)?;
        }
        let groups: Vec<SecurityGroup> = groups.into_iter().collect();
        // Insert all groups without permissions, then their permissions, so that references
        // in any order resolve.
        for g in &groups {
            let mut bare = g.clone();
            bare.ingress.clear();
            bare.egress.clear();
            m.add_group(bare)?;
        }
        for g in groups {
            for dir in [Direction::Ingress, Direction::Egress] {
                for p in g.permissions(dir) {
                    m.authorize(&g.id, dir, p.clone())?;
                }
            }
        }
        for i in instances {
            m.add_instance(i)?;
        }
        for e in elastic_ips {
            m.allocate(e)?;
        }
        Ok(m)
    }

    // ----- read access -----

    /// A value naming this model's content in this process: every mutation (even one that
    /// fails) gives the model a stamp that no model had before, and a clone shares its
    /// original's until either changes. Equal stamps mean equal models, so a decision
    /// worked out from a model holds for as long as its stamp is the same.
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The switches, by datapath id.
    pub fn switches(&self) -> &BTreeMap<Dpid, Switch> {
        &self.switches
    }

    /// One switch.
    pub fn switch(&self, dpid: Dpid) -> Option<&Switch> {
        self.switches.get(&dpid)
    }

    /// The security groups, by id.
    pub fn groups(&self) -> &BTreeMap<GroupId, SecurityGroup> {
        &self.groups
    }

    /// One group.
    pub fn group(&self, id: &GroupId) -> Option<&SecurityGroup> {
        self.groups.get(id)
    }

    /// The instances, by id.
    pub fn instances(&self) -> &BTreeMap<InstanceId, Instance> {
        &self.instances
    }

    /// One instance.
    pub fn instance(&self, id: &InstanceId) -> Option<&Instance> {
        self.instances.get(id)
    }

    /// The elastic IPs, by public address.
    pub fn elastic_ips(&self) -> &BTreeMap<Ipv4Addr, ElasticIp> {
        &self.elastic_ips
    }

    /// One elastic IP.
    pub fn elastic_ip(&self, public_ip: Ipv4Addr) -> Option<&ElasticIp> {
        self.elastic_ips.get(&public_ip)
    }

    /// The elastic IP with this allocation id.
    pub fn elastic_ip_by_allocation(&self, id: &AllocationId) -> Option<&ElasticIp> {
        self.idx
            .by_allocation
            .get(id)
            .and_then(|ip| self.elastic_ips.get(ip))
    }

    /// The instance with this private address.
    pub fn instance_by_ip(&self, ip: Ipv4Addr) -> Option<&Instance> {
        self.idx
            .by_ip
            .get(&ip)
            .and_then(|id| self.instances.get(id))
    }

    /// The instance with this MAC.
    pub fn instance_by_mac(&self, mac: MacAddr) -> Option<&Instance> {
        self.idx
            .by_mac
            .get(&mac)
            .and_then(|id| self.instances.get(id))
    }

    /// The instance attached to this port of this switch.
    pub fn instance_at(&self, switch: Dpid, port: PortNo) -> Option<&Instance> {
        self.idx
            .by_port
            .get(&(switch, port))
            .and_then(|id| self.instances.get(id))
    }

    /// The instances attached to a switch.
    pub fn instances_on(&self, switch: Dpid) -> impl Iterator<Item = &Instance> {
        self.idx
            .on_switch
            .get(&switch)
            .into_iter()
            .flatten()
            .filter_map(|id| self.instances.get(id))
    }

    /// The members of a group.
    pub fn members(&self, group: &GroupId) -> impl Iterator<Item = &Instance> {
        self.idx
            .members
            .get(group)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|id| self.instances.get(id))
    }

    /// The members of a group as (id, private address, MAC), from the membership index.
    pub fn member_addresses(
        &self,
        group: &GroupId,
    ) -> impl Iterator<Item = (&InstanceId, Ipv4Addr, MacAddr)> {
        self.idx
            .members
            .get(group)
            .into_iter()
            .flat_map(|m| m.iter().map(|(id, (ip, mac))| (id, *ip, *mac)))
    }

    /// True if `id` is a member of `group`.
    pub fn is_member(&self, group: &GroupId, id: &InstanceId) -> bool {
        self.idx
            .members
            .get(group)
            .is_some_and(|m| m.contains_key(id))
    }

    /// The number of members of a group.
    pub fn member_count(&self, group: &GroupId) -> usize {
        self.idx.members.get(group).map_or(0, BTreeMap::len)
    }

    /// True if the instance with this private address is a member of `group`.
    pub fn is_member_ip(&self, group: &GroupId, ip: Ipv4Addr) -> bool {
        self.idx
            .by_ip
            .get(&ip)
            .and_then(|id| self.instances.get(id))
            .is_some_and(|i| i.groups.contains(group))
    }

    /// The groups whose permissions name `group` as a peer.
    pub fn referrers(&self, group: &GroupId) -> impl Iterator<Item = &GroupId> {
        self.idx
            .referrers
            .get(group)
            .into_iter()
            .flat_map(|m| m.keys())
    }

    /// The elastic IP associated with an instance.
    pub fn elastic_ip_of(&self, instance: &InstanceId) -> Option<Ipv4Addr> {
        self.idx.eip_of.get(instance).copied()
    }

    /// The instance associated with this public address, if it is attached to `switch`.
    pub fn elastic_ip_host(&self, public_ip: Ipv4Addr) -> Option<&Instance> {
        self.elastic_ips
            .get(&public_ip)
            .and_then(|e| e.instance.as_ref())
            .and_then(|id| self.instances.get(id))
    }

    /// The permissions of an instance in one direction: the union over its groups (with the
    /// group each comes from; a permission two groups share appears twice).
    pub fn permissions_of<'a>(
        &'a self,
        instance: &'a Instance,
        direction: Direction,
    ) -> impl Iterator<Item = (&'a GroupId, &'a Permission)> + 'a {
        instance
            .groups
            .iter()
            .filter_map(|g| self.groups.get(g))
            .flat_map(move |g| g.permissions(direction).iter().map(move |p| (&g.id, p)))
    }

    // ----- touched sets -----

    /// The instances a change to `group`'s membership affects besides the member itself:
    /// the members of every group whose permissions name `group`.
    fn referrer_members(&self, group: &GroupId, out: &mut BTreeSet<InstanceId>) {
        for r in self.referrers(group) {
            if let Some(ms) = self.idx.members.get(r) {
                out.extend(ms.keys().cloned());
            }
        }
    }

    fn touched_by_instance(&self, inst: &Instance) -> Touched {
        let mut t = Touched::none();
        t.instances.insert(inst.id.clone());
        t.addresses.insert(inst.ip);
        for g in &inst.groups {
            self.referrer_members(g, &mut t.instances);
        }
        t
    }

    // ----- mutations -----

    /// Replace the settings (everything is touched).
    pub fn set_settings(&mut self, settings: Settings) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        settings.validate()?;
        for i in self.instances.values() {
            check_instance_addresses(&settings, i)?;
        }
        for e in self.elastic_ips.values() {
            check_eip_address(&settings, e.public_ip)?;
        }
        self.settings = settings;
        Ok(Touched::everything())
    }

    /// Add a switch.
    pub fn add_switch(&mut self, switch: Switch) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if !switch.uplink.is_physical() {
            return Err(ModelError::BadUplink {
                switch: switch.dpid,
                port: switch.uplink,
            });
        }
        if self.switches.contains_key(&switch.dpid) {
            return Err(ModelError::Duplicate {
                kind: "switch",
                key: format!("{:#x}", switch.dpid),
            });
        }
        self.switches.insert(switch.dpid, switch);
        Ok(Touched {
            switches: BTreeSet::from([switch.dpid]),
            ..Touched::none()
        })
    }

    /// Remove a switch that has no instance attached.
    pub fn remove_switch(&mut self, dpid: Dpid) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if !self.switches.contains_key(&dpid) {
            return Err(not_found("switch", format!("{dpid:#x}")));
        }
        if let Some(i) = self.instances_on(dpid).next() {
            return Err(ModelError::InUse {
                kind: "switch",
                key: format!("{dpid:#x}"),
                user: format!("instance {}", i.id),
            });
        }
        self.switches.remove(&dpid);
        self.idx.on_switch.remove(&dpid);
        Ok(Touched {
            switches: BTreeSet::from([dpid]),
            ..Touched::none()
        })
    }

    /// Add a security group (its permissions are checked like [`Model::authorize`]'s; it
    /// may name itself).
    pub fn add_group(&mut self, group: SecurityGroup) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if self.groups.contains_key(&group.id) {
            return Err(ModelError::Duplicate {
                kind: "security group",
                key: group.id.to_string(),
            });
        }
        check_group_text(&group)?;
        let mut bare = group.clone();
        bare.ingress.clear();
        bare.egress.clear();
        self.groups.insert(group.id.clone(), bare);
        for dir in [Direction::Ingress, Direction::Egress] {
            for p in group.permissions(dir) {
                if let Err(e) = self.authorize(&group.id, dir, p.clone()) {
                    // Undo: nothing references a group that was just added but itself.
                    if let Some(g) = self.groups.remove(&group.id) {
                        for r in g.referenced_groups() {
                            if let Some(m) = self.idx.referrers.get_mut(r) {
                                m.remove(&group.id);
                            }
                        }
                    }
                    return Err(e);
                }
            }
        }
        // A new group has no members: nothing to recompile.
        Ok(Touched::none())
    }

    /// Remove a group that has no members and that no other group names.
    pub fn remove_group(&mut self, id: &GroupId) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let Some(group) = self.groups.get(id) else {
            return Err(not_found("security group", id));
        };
        if let Some(m) = self.idx.members.get(id).and_then(|m| m.keys().next()) {
            return Err(ModelError::InUse {
                kind: "security group",
                key: id.to_string(),
                user: format!("instance {m}"),
            });
        }
        if let Some(r) = self.referrers(id).find(|r| *r != id) {
            return Err(ModelError::InUse {
                kind: "security group",
                key: id.to_string(),
                user: format!("security group {r}"),
            });
        }
        let refs: Vec<GroupId> = group.referenced_groups().cloned().collect();
        for r in refs {
            if let Some(m) = self.idx.referrers.get_mut(&r) {
                m.remove(id);
                if m.is_empty() {
                    self.idx.referrers.remove(&r);
                }
            }
        }
        self.groups.remove(id);
        self.idx.members.remove(id);
        Ok(Touched::none())
    }

    /// Add a permission to a group. Touches the group's members.
    pub fn authorize(
        &mut self,
        group: &GroupId,
        direction: Direction,
        permission: Permission,
    ) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if let Peer::Group(peer) = permission.peer() {
            if !self.groups.contains_key(peer) && peer != group {
                return Err(not_found("security group", peer));
            }
        }
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| not_found("security group", group))?;
        let set = g.permissions_mut(direction);
        if set.contains(&permission) {
            return Err(ModelError::DuplicatePermission {
                group: group.clone(),
                direction,
                permission: permission.to_string(),
            });
        }
        if let Peer::Group(peer) = permission.peer() {
            *self
                .idx
                .referrers
                .entry(peer.clone())
                .or_default()
                .entry(group.clone())
                .or_insert(0) += 1;
        }
        set.insert(permission);
        Ok(self.touched_members(group))
    }

    /// Remove a permission from a group. Touches the group's members.
    pub fn revoke(
        &mut self,
        group: &GroupId,
        direction: Direction,
        permission: &Permission,
    ) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let g = self
            .groups
            .get_mut(group)
            .ok_or_else(|| not_found("security group", group))?;
        if !g.permissions_mut(direction).remove(permission) {
            return Err(ModelError::PermissionNotFound {
                group: group.clone(),
                direction,
                permission: permission.to_string(),
            });
        }
        if let Peer::Group(peer) = permission.peer() {
            if let Some(m) = self.idx.referrers.get_mut(peer) {
                if let Some(n) = m.get_mut(group) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        m.remove(group);
                    }
                }
                if m.is_empty() {
                    self.idx.referrers.remove(peer);
                }
            }
        }
        Ok(self.touched_members(group))
    }

    fn touched_members(&self, group: &GroupId) -> Touched {
        Touched {
            instances: self
                .idx
                .members
                .get(group)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default(),
            ..Touched::none()
        }
    }

    /// Add an instance. Touches it and the members of groups that name its groups.
    pub fn add_instance(&mut self, instance: Instance) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if self.instances.contains_key(&instance.id) {
            return Err(ModelError::Duplicate {
                kind: "instance",
                key: instance.id.to_string(),
            });
        }
        check_instance_addresses(&self.settings, &instance)?;
        if let Some(other) = self.idx.by_ip.get(&instance.ip) {
            return Err(ModelError::InUse {
                kind: "private address",
                key: instance.ip.to_string(),
                user: format!("instance {other}"),
            });
        }
        if let Some(other) = self.idx.by_mac.get(&instance.mac) {
            return Err(ModelError::InUse {
                kind: "MAC address",
                key: instance.mac.to_string(),
                user: format!("instance {other}"),
            });
        }
        for g in &instance.groups {
            if !self.groups.contains_key(g) {
                return Err(not_found("security group", g));
            }
        }
        if let Some(a) = instance.attachment {
            self.check_attachment(&instance.id, a)?;
        }
        let id = instance.id.clone();
        self.idx.by_ip.insert(instance.ip, id.clone());
        self.idx.by_mac.insert(instance.mac, id.clone());
        if let Some(a) = instance.attachment {
            self.idx.by_port.insert((a.switch, a.port), id.clone());
            self.idx
                .on_switch
                .entry(a.switch)
                .or_default()
                .insert(id.clone());
        }
        for g in &instance.groups {
            self.idx
                .members
                .entry(g.clone())
                .or_default()
                .insert(id.clone(), (instance.ip, instance.mac));
        }
        self.instances.insert(id.clone(), instance);
        let inst = self
            .instances
            .get(&id)
            .ok_or_else(|| not_found("instance", &id))?;
        Ok(self.touched_by_instance(inst))
    }

    /// Remove an instance (its elastic IP, if any, is disassociated and stays allocated).
    pub fn remove_instance(&mut self, id: &InstanceId) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let inst = self
            .instances
            .get(id)
            .ok_or_else(|| not_found("instance", id))?;
        let t = self.touched_by_instance(inst);
        let inst = inst.clone();
        if let Some(ip) = self.idx.eip_of.remove(id) {
            if let Some(e) = self.elastic_ips.get_mut(&ip) {
                e.instance = None;
            }
        }
        self.idx.by_ip.remove(&inst.ip);
        self.idx.by_mac.remove(&inst.mac);
        if let Some(a) = inst.attachment {
            self.idx.by_port.remove(&(a.switch, a.port));
            if let Some(s) = self.idx.on_switch.get_mut(&a.switch) {
                s.remove(id);
            }
        }
        for g in &inst.groups {
            if let Some(m) = self.idx.members.get_mut(g) {
                m.remove(id);
            }
        }
        self.instances.remove(id);
        Ok(t)
    }

    /// Replace an instance's set of groups. Touches it and the members of groups that name
    /// any group it leaves or joins.
    pub fn set_groups(
        &mut self,
        id: &InstanceId,
        groups: BTreeSet<GroupId>,
    ) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        for g in &groups {
            if !self.groups.contains_key(g) {
                return Err(not_found("security group", g));
            }
        }
        let inst = self
            .instances
            .get(id)
            .ok_or_else(|| not_found("instance", id))?;
        let mut t = Touched::none();
        t.instances.insert(id.clone());
        for g in inst.groups.symmetric_difference(&groups) {
            self.referrer_members(g, &mut t.instances);
        }
        let old = inst.groups.clone();
        let addrs = (inst.ip, inst.mac);
        for g in old.difference(&groups) {
            if let Some(m) = self.idx.members.get_mut(g) {
                m.remove(id);
            }
        }
        for g in groups.difference(&old) {
            self.idx
                .members
                .entry(g.clone())
                .or_default()
                .insert(id.clone(), addrs);
        }
        if let Some(inst) = self.instances.get_mut(id) {
            inst.groups = groups;
        }
        Ok(t)
    }

    /// Add an instance to one group.
    pub fn join_group(&mut self, id: &InstanceId, group: &GroupId) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let mut groups = self
            .instances
            .get(id)
            .ok_or_else(|| not_found("instance", id))?
            .groups
            .clone();
        groups.insert(group.clone());
        self.set_groups(id, groups)
    }

    /// Remove an instance from one group.
    pub fn leave_group(&mut self, id: &InstanceId, group: &GroupId) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let mut groups = self
            .instances
            .get(id)
            .ok_or_else(|| not_found("instance", id))?
            .groups
            .clone();
        groups.remove(group);
        self.set_groups(id, groups)
    }

    fn check_attachment(&self, id: &InstanceId, a: Attachment) -> Result<(), ModelError> {
        let bad = |why| ModelError::BadAttachment {
            instance: id.clone(),
            switch: a.switch,
            port: a.port,
            why,
        };
        let sw = self
            .switches
            .get(&a.switch)
            .ok_or_else(|| bad("no such switch"))?;
        if !a.port.is_physical() {
            return Err(bad("not a physical port"));
        }
        if sw.uplink == a.port {
            return Err(bad("it is the switch's uplink"));
        }
        match self.idx.by_port.get(&(a.switch, a.port)) {
            Some(other) if other != id => Err(bad("another instance is attached there")),
            _ => Ok(()),
        }
    }

    /// Attach an instance to a port, move it, or detach it (`None`). Touches it.
    pub fn attach(
        &mut self,
        id: &InstanceId,
        attachment: Option<Attachment>,
    ) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if !self.instances.contains_key(id) {
            return Err(not_found("instance", id));
        }
        if let Some(a) = attachment {
            self.check_attachment(id, a)?;
        }
        let Some(inst) = self.instances.get_mut(id) else {
            return Err(not_found("instance", id));
        };
        if let Some(old) = inst.attachment.take() {
            self.idx.by_port.remove(&(old.switch, old.port));
            if let Some(s) = self.idx.on_switch.get_mut(&old.switch) {
                s.remove(id);
            }
        }
        inst.attachment = attachment;
        if let Some(a) = attachment {
            self.idx.by_port.insert((a.switch, a.port), id.clone());
            self.idx
                .on_switch
                .entry(a.switch)
                .or_default()
                .insert(id.clone());
        }
        Ok(Touched {
            instances: BTreeSet::from([id.clone()]),
            ..Touched::none()
        })
    }

    /// Allocate an elastic IP (possibly already associated). Touches the instance it is
    /// associated with.
    pub fn allocate(&mut self, eip: ElasticIp) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        check_eip_address(&self.settings, eip.public_ip)?;
        if self.elastic_ips.contains_key(&eip.public_ip) {
            return Err(ModelError::Duplicate {
                kind: "elastic IP",
                key: eip.public_ip.to_string(),
            });
        }
        if let Some(ip) = self.idx.by_allocation.get(&eip.allocation_id) {
            return Err(ModelError::InUse {
                kind: "allocation id",
                key: eip.allocation_id.to_string(),
                user: format!("elastic IP {ip}"),
            });
        }
        let assoc = eip.instance.clone();
        let mut plain = eip;
        plain.instance = None;
        let ip = plain.public_ip;
        self.idx
            .by_allocation
            .insert(plain.allocation_id.clone(), ip);
        self.elastic_ips.insert(ip, plain);
        match assoc {
            None => Ok(Touched::none()),
            Some(id) => match self.associate(ip, &id, false) {
                Ok(t) => Ok(t),
                Err(e) => {
                    if let Some(e) = self.elastic_ips.remove(&ip) {
                        self.idx.by_allocation.remove(&e.allocation_id);
                    }
                    Err(e)
                }
            },
        }
    }

    /// Release an elastic IP (disassociating it first). Touches the instance it was
    /// associated with.
    pub fn release(&mut self, public_ip: Ipv4Addr) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let t = self.disassociate(public_ip)?;
        if let Some(e) = self.elastic_ips.remove(&public_ip) {
            self.idx.by_allocation.remove(&e.allocation_id);
        }
        Ok(t)
    }

    /// Associate an elastic IP with an instance. If the address is associated already, it
    /// moves when `allow_reassociation` is true and fails with
    /// [`ModelError::AlreadyAssociated`] otherwise. An instance has at most one elastic IP:
    /// one it has already is disassociated. Touches every instance whose association
    /// changes.
    pub fn associate(
        &mut self,
        public_ip: Ipv4Addr,
        instance: &InstanceId,
        allow_reassociation: bool,
    ) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        if !self.instances.contains_key(instance) {
            return Err(not_found("instance", instance));
        }
        let e = self
            .elastic_ips
            .get(&public_ip)
            .ok_or_else(|| not_found("elastic IP", public_ip))?;
        let mut t = Touched::none();
        match &e.instance {
            Some(cur) if cur == instance => return Ok(t),
            Some(cur) if !allow_reassociation => {
                return Err(ModelError::AlreadyAssociated {
                    ip: public_ip,
                    instance: cur.clone(),
                })
            }
            _ => {}
        }
        t.merge(self.disassociate(public_ip)?);
        if let Some(old) = self.idx.eip_of.get(instance).copied() {
            t.merge(self.disassociate(old)?);
        }
        if let Some(e) = self.elastic_ips.get_mut(&public_ip) {
            e.instance = Some(instance.clone());
        }
        self.idx.eip_of.insert(instance.clone(), public_ip);
        t.instances.insert(instance.clone());
        Ok(t)
    }

    /// Disassociate an elastic IP (nothing happens if it is not associated). Touches the
    /// instance it was associated with.
    pub fn disassociate(&mut self, public_ip: Ipv4Addr) -> Result<Touched, ModelError> {
        self.stamp = next_stamp();
        let e = self
            .elastic_ips
            .get_mut(&public_ip)
            .ok_or_else(|| not_found("elastic IP", public_ip))?;
        let mut t = Touched::none();
        if let Some(id) = e.instance.take() {
            self.idx.eip_of.remove(&id);
            t.instances.insert(id);
        }
        Ok(t)
    }
}

fn check_group_text(g: &SecurityGroup) -> Result<(), ModelError> {
    for (field, s) in [("name", &g.name), ("description", &g.description)] {
        if s.len() > MAX_TEXT_LEN {
            return Err(ModelError::TextTooLong {
                field,
                group: g.id.clone(),
                len: s.len(),
            });
        }
    }
    Ok(())
}

fn check_instance_addresses(s: &Settings, i: &Instance) -> Result<(), ModelError> {
    if !is_host_of(s.subnet, i.ip) || i.ip == s.gateway {
        return Err(ModelError::AddressOutsideSubnet {
            instance: i.id.clone(),
            ip: i.ip,
            subnet: s.subnet,
        });
    }
    let bad = |why| {
        Err(ModelError::BadMac {
            owner: format!("instance {}", i.id),
            mac: i.mac,
            why,
        })
    };
    if i.mac.is_multicast() || i.mac == MacAddr::ZERO {
        return bad("not a unicast address");
    }
    if i.mac == s.router_mac || i.mac == s.public_gateway_mac || i.mac == s.elastic_ip_mac {
        return bad("it is one of the network's own MACs");
    }
    Ok(())
}

fn check_eip_address(s: &Settings, ip: Ipv4Addr) -> Result<(), ModelError> {
    let bad = |why| Err(ModelError::BadElasticIp { ip, why });
    if s.subnet.contains(ip) {
        return bad("it is inside the private subnet");
    }
    if ip == s.public_gateway {
        return bad("it is the public gateway's address");
    }
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
        return bad("it is not a unicast address");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn settings() -> Settings {
        Settings {
            subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16).unwrap(),
            gateway: Ipv4Addr::new(10, 0, 0, 1),
            router_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfe]),
            public_gateway: Ipv4Addr::new(198, 51, 100, 1),
            public_gateway_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfd]),
            elastic_ip_mac: MacAddr([0x02, 0, 0, 0, 0, 0xfc]),
        }
    }

    fn gid(s: &str) -> GroupId {
        GroupId::new(s).unwrap()
    }

    fn iid(s: &str) -> InstanceId {
        InstanceId::new(s).unwrap()
    }

    fn owner() -> OwnerId {
        OwnerId::new("111122223333").unwrap()
    }

    fn inst(id: &str, n: u8, groups: &[&str], at: Option<(Dpid, u16)>) -> Instance {
        Instance {
            id: iid(id),
            owner: owner(),
            mac: MacAddr([0x02, 0, 0, 0, 1, n]),
            ip: Ipv4Addr::new(10, 0, 1, n),
            groups: groups.iter().map(|g| gid(g)).collect(),
            attachment: at.map(|(switch, port)| Attachment {
                switch,
                port: PortNo(port),
            }),
        }
    }

    fn model() -> Model {
        let mut m = Model::new(settings()).unwrap();
        m.add_switch(Switch {
            dpid: 1,
            uplink: PortNo(100),
        })
        .unwrap();
        m.add_switch(Switch {
            dpid: 2,
            uplink: PortNo(100),
        })
        .unwrap();
        m.add_group(SecurityGroup::new(gid("sg-a"), "a", owner(), "A"))
            .unwrap();
        m.add_group(SecurityGroup::new(gid("sg-b"), "b", owner(), "B"))
            .unwrap();
        m.add_instance(inst("i-1", 1, &["sg-a"], Some((1, 1))))
            .unwrap();
        m.add_instance(inst("i-2", 2, &["sg-b"], Some((2, 1))))
            .unwrap();
        m
    }

    #[test]
    fn ids_are_validated() {
        assert!(InstanceId::new("i-123").is_ok());
        assert!(matches!(
            InstanceId::new(""),
            Err(ModelError::InvalidId {
                kind: "instance id",
                ..
            })
        ));
        assert!(GroupId::new("a b").is_err());
        assert!(GroupId::new("x".repeat(256)).is_err());
        assert!(GroupId::new("x".repeat(255)).is_ok());
    }

    #[test]
    fn port_ranges() {
        assert_eq!(PortRange::new(1, 65535).unwrap(), PortRange::ALL);
        assert!(PortRange::ALL.contains(0));
        assert!(PortRange::new(2, 65535).unwrap().contains(65535));
        assert!(!PortRange::new(2, 65535).unwrap().contains(1));
        assert_eq!(
            PortRange::new(10, 9),
            Err(ModelError::PortRange { from: 10, to: 9 })
        );
        let r = PortRange::new(80, 90).unwrap();
        assert_eq!(r.len(), 11);
        assert!(!r.contains(79) && r.contains(80) && r.contains(90) && !r.contains(91));
        assert_eq!(
            r.intersect(&PortRange::new(85, 100).unwrap()),
            Some(PortRange::new(85, 90).unwrap())
        );
        assert_eq!(r.intersect(&PortRange::single(91)), None);
    }

    #[test]
    fn ec2_protocols() {
        assert_eq!(Protocol::from_ec2("-1", None, None).unwrap(), Protocol::Any);
        assert_eq!(
            Protocol::from_ec2("tcp", Some(22), Some(22)).unwrap(),
            Protocol::Tcp(PortRange::single(22))
        );
        assert_eq!(
            Protocol::from_ec2("6", Some(-1), Some(-1)).unwrap(),
            Protocol::Tcp(PortRange::ALL)
        );
        assert_eq!(
            Protocol::from_ec2("icmp", Some(8), Some(-1)).unwrap(),
            Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap())
        );
        assert!(Protocol::from_ec2("icmp", Some(-1), Some(0)).is_err());
        assert!(Protocol::from_ec2("icmp", Some(256), Some(0)).is_err());
        assert!(Protocol::from_ec2("tcp", Some(100), Some(99)).is_err());
        assert!(Protocol::from_ec2("tcp", Some(100), None).is_err());
        assert!(Protocol::from_ec2("bogus", None, None).is_err());
        assert_eq!(
            Protocol::from_ec2("47", None, None).unwrap(),
            Protocol::Number(47)
        );
        assert_eq!(
            Permission::new(Protocol::Number(6), Peer::anywhere()),
            Err(ModelError::NonCanonicalProtocol(6))
        );
    }

    #[test]
    fn protocol_matching() {
        let tcp = Protocol::Tcp(PortRange::new(80, 81).unwrap());
        assert!(tcp.matches(6, 1234, 80));
        assert!(!tcp.matches(6, 80, 82));
        assert!(!tcp.matches(17, 1234, 80));
        let icmp = Protocol::Icmp(IcmpSpec::new(Some(8), Some(0)).unwrap());
        assert!(icmp.matches(1, 8, 0));
        assert!(!icmp.matches(1, 8, 1));
        assert!(!icmp.matches(1, 0, 0));
        assert!(Protocol::Any.matches(47, 0, 0));
        assert!(Protocol::Number(47).matches(47, 0, 0));
    }

    #[test]
    fn cidrs_are_canonicalised() {
        let p = Peer::cidr(Ipv4Addr::new(10, 1, 2, 3), 16).unwrap();
        assert_eq!(p.to_string(), "10.1.0.0/16");
        assert!(Peer::cidr(Ipv4Addr::new(10, 1, 2, 3), 33).is_err());
        let a = Permission::new(
            Protocol::Any,
            Peer::Cidr(Ipv4Network::new(Ipv4Addr::new(10, 1, 2, 3), 8).unwrap()),
        )
        .unwrap();
        let b = Permission::new(
            Protocol::Any,
            Peer::cidr(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap(),
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(Peer::anywhere().to_string(), "0.0.0.0/0");
    }

    #[test]
    fn ec2_permission_helpers() {
        let ps = Permission::classic_group(gid("sg-a"));
        assert_eq!(ps[0].protocol(), &Protocol::Tcp(PortRange::ALL));
        assert_eq!(ps[2].protocol(), &Protocol::Icmp(IcmpSpec::ANY));
        let v = Permission::for_peers(
            Protocol::Tcp(PortRange::single(22)),
            [
                Peer::cidr(Ipv4Addr::new(10, 1, 2, 3), 8).unwrap(),
                Peer::cidr(Ipv4Addr::new(10, 0, 0, 0), 8).unwrap(),
                Peer::Group(gid("sg-b")),
            ],
        )
        .unwrap();
        assert_eq!(v.len(), 2);
        assert!(Permission::for_peers(Protocol::Number(17), [Peer::anywhere()]).is_err());
    }

    #[test]
    fn new_group_allows_all_egress_only() {
        let g = SecurityGroup::new(gid("sg-x"), "x", owner(), "");
        assert!(g.ingress.is_empty());
        assert_eq!(g.egress, BTreeSet::from([Permission::allow_all()]));
    }

    #[test]
    fn settings_are_validated() {
        let mut s = settings();
        s.gateway = Ipv4Addr::new(10, 0, 255, 254);
        assert!(s.validate().is_ok());
        s.gateway = Ipv4Addr::new(10, 0, 255, 255);
        assert!(s.validate().is_err());
        s.gateway = Ipv4Addr::new(11, 0, 0, 1);
        assert!(matches!(s.validate(), Err(ModelError::Settings(_))));
        let mut s = settings();
        s.router_mac = s.elastic_ip_mac;
        assert!(s.validate().is_err());
        let mut s = settings();
        s.public_gateway = Ipv4Addr::new(10, 0, 9, 9);
        assert!(s.validate().is_err());
        let mut s = settings();
        s.subnet = Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 1), 16).unwrap();
        assert!(s.validate().is_err());
    }

    #[test]
    fn instances_are_validated() {
        let mut m = model();
        // Duplicate address, MAC, port.
        assert!(matches!(
            m.add_instance(Instance {
                id: iid("i-3"),
                ..inst("i-3", 1, &[], None)
            }),
            Err(ModelError::InUse {
                kind: "private address",
                ..
            })
        ));
        let mut i = inst("i-3", 3, &[], Some((1, 1)));
        assert!(matches!(
            m.add_instance(i.clone()),
            Err(ModelError::BadAttachment { .. })
        ));
        i.attachment = Some(Attachment {
            switch: 1,
            port: PortNo(100),
        });
        assert!(matches!(
            m.add_instance(i.clone()),
            Err(ModelError::BadAttachment {
                why: "it is the switch's uplink",
                ..
            })
        ));
        i.attachment = Some(Attachment {
            switch: 9,
            port: PortNo(1),
        });
        assert!(m.add_instance(i.clone()).is_err());
        i.attachment = None;
        i.ip = Ipv4Addr::new(10, 0, 0, 1);
        assert!(matches!(
            m.add_instance(i.clone()),
            Err(ModelError::AddressOutsideSubnet { .. })
        ));
        i.ip = Ipv4Addr::new(10, 0, 1, 3);
        i.groups.insert(gid("sg-none"));
        assert!(matches!(
            m.add_instance(i.clone()),
            Err(ModelError::NotFound { .. })
        ));
        i.groups.clear();
        i.mac = settings().router_mac;
        assert!(matches!(
            m.add_instance(i.clone()),
            Err(ModelError::BadMac { .. })
        ));
        i.mac = MacAddr([0x02, 0, 0, 0, 1, 3]);
        m.add_instance(i).unwrap();
        assert_eq!(
            m.instance_by_ip(Ipv4Addr::new(10, 0, 1, 3)).unwrap().id,
            iid("i-3")
        );
    }

    #[test]
    fn touched_sets_follow_references() {
        let mut m = model();
        // sg-b lets in sg-a.
        let p = Permission::new(
            Protocol::Tcp(PortRange::single(22)),
            Peer::Group(gid("sg-a")),
        )
        .unwrap();
        let t = m
            .authorize(&gid("sg-b"), Direction::Ingress, p.clone())
            .unwrap();
        assert_eq!(t.instances, BTreeSet::from([iid("i-2")]));
        assert!(matches!(
            m.authorize(&gid("sg-b"), Direction::Ingress, p.clone()),
            Err(ModelError::DuplicatePermission { .. })
        ));
        assert_eq!(
            m.referrers(&gid("sg-a")).collect::<Vec<_>>(),
            vec![&gid("sg-b")]
        );
        // A new member of sg-a touches itself and sg-b's members.
        let t = m
            .add_instance(inst("i-3", 3, &["sg-a"], Some((1, 2))))
            .unwrap();
        assert_eq!(t.instances, BTreeSet::from([iid("i-2"), iid("i-3")]));
        let t = m.leave_group(&iid("i-3"), &gid("sg-a")).unwrap();
        assert_eq!(t.instances, BTreeSet::from([iid("i-2"), iid("i-3")]));
        assert!(m.is_member_ip(&gid("sg-a"), Ipv4Addr::new(10, 0, 1, 1)));
        assert!(!m.is_member_ip(&gid("sg-a"), Ipv4Addr::new(10, 0, 1, 3)));
        // sg-a is in use by sg-b and by i-1.
        assert!(matches!(
            m.remove_group(&gid("sg-a")),
            Err(ModelError::InUse { .. })
        ));
        m.revoke(&gid("sg-b"), Direction::Ingress, &p).unwrap();
        assert_eq!(m.referrers(&gid("sg-a")).count(), 0);
        assert!(m.revoke(&gid("sg-b"), Direction::Ingress, &p).is_err());
        m.set_groups(&iid("i-1"), BTreeSet::new()).unwrap();
        m.remove_group(&gid("sg-a")).unwrap();
    }

    #[test]
    fn elastic_ips() {
        let mut m = model();
        let ip = Ipv4Addr::new(203, 0, 113, 10);
        let e = ElasticIp {
            public_ip: ip,
            allocation_id: AllocationId::new("eipalloc-1").unwrap(),
            owner: owner(),
            instance: Some(iid("i-1")),
        };
        let t = m.allocate(e.clone()).unwrap();
        assert_eq!(t.instances, BTreeSet::from([iid("i-1")]));
        assert_eq!(m.elastic_ip_of(&iid("i-1")), Some(ip));
        assert!(m.allocate(e).is_err());
        assert!(matches!(
            m.associate(ip, &iid("i-2"), false),
            Err(ModelError::AlreadyAssociated { .. })
        ));
        let t = m.associate(ip, &iid("i-2"), true).unwrap();
        assert_eq!(t.instances, BTreeSet::from([iid("i-1"), iid("i-2")]));
        assert_eq!(m.elastic_ip_of(&iid("i-1")), None);
        assert_eq!(m.elastic_ip_host(ip).unwrap().id, iid("i-2"));
        let bad = ElasticIp {
            public_ip: Ipv4Addr::new(10, 0, 5, 5),
            allocation_id: AllocationId::new("eipalloc-2").unwrap(),
            owner: owner(),
            instance: None,
        };
        assert!(matches!(
            m.allocate(bad),
            Err(ModelError::BadElasticIp { .. })
        ));
        let t = m.remove_instance(&iid("i-2")).unwrap();
        assert!(t.instances.contains(&iid("i-2")));
        assert!(m.elastic_ip(ip).unwrap().instance.is_none());
        m.release(ip).unwrap();
        assert!(m.elastic_ips().is_empty());
    }

    #[test]
    fn serde_round_trip_validates() {
        let mut m = model();
        let p = Permission::new(
            Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap()),
            Peer::Group(gid("sg-b")),
        )
        .unwrap();
        m.authorize(&gid("sg-a"), Direction::Ingress, p).unwrap();
        let p = Permission::new(
            Protocol::Tcp(PortRange::new(8, 9).unwrap()),
            Peer::anywhere(),
        )
        .unwrap();
        m.authorize(&gid("sg-b"), Direction::Ingress, p).unwrap();
        m.allocate(ElasticIp {
            public_ip: Ipv4Addr::new(203, 0, 113, 10),
            allocation_id: AllocationId::new("eipalloc-1").unwrap(),
            owner: owner(),
            instance: Some(iid("i-2")),
        })
        .unwrap();
        let json = serde_json::to_string(&m).unwrap();
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.elastic_ip_of(&iid("i-2")),
            Some(Ipv4Addr::new(203, 0, 113, 10))
        );
        assert_eq!(back.member_count(&gid("sg-a")), 1);
        // An invalid document is refused with the model's error.
        let bad = json.replace("10.0.1.2", "10.0.1.1");
        let err = serde_json::from_str::<Model>(&bad).unwrap_err().to_string();
        assert!(
            err.contains("private address 10.0.1.1 is still in use"),
            "{err}"
        );
        // So is a port range inside it that runs backwards.
        let range = r#"{"tcp":{"from":8,"to":9}}"#;
        assert!(json.contains(range), "{json}");
        let bad = json.replace(range, r#"{"tcp":{"from":9,"to":8}}"#);
        let err = serde_json::from_str::<Model>(&bad).unwrap_err().to_string();
        assert!(err.contains("invalid port range 9-8"), "{err}");
        let bad_range = r#"{"from":9,"to":8}"#;
        assert!(serde_json::from_str::<PortRange>(bad_range).is_err());
    }

    #[test]
    fn a_handwritten_document_parses() {
        let doc = r#"{
          "settings": {
            "subnet": "10.0.0.0/16", "gateway": "10.0.0.1",
            "router_mac": "02:00:00:00:00:fe",
            "public_gateway": "198.51.100.1", "public_gateway_mac": "02:00:00:00:00:fd",
            "elastic_ip_mac": "02:00:00:00:00:fc"
          },
          "switches": [{"dpid": 1, "uplink": 100}],
          "groups": [{
            "id": "sg-1", "name": "web", "owner": "111122223333", "description": "",
            "ingress": [
              {"protocol": {"tcp": {"from": 22, "to": 22}}, "peer": {"cidr": "0.0.0.0/0"}},
              {"protocol": {"icmp": {"type": 8, "code": null}}, "peer": {"group": "sg-1"}},
              {"protocol": "any", "peer": {"cidr": "192.0.2.9/24"}}
            ],
            "egress": [{"protocol": {"number": 47}, "peer": {"cidr": "0.0.0.0/0"}}]
          }],
          "instances": [{
            "id": "i-1", "owner": "111122223333", "mac": "02:00:00:00:01:01",
            "ip": "10.0.1.1", "groups": ["sg-1"],
            "attachment": {"switch": 1, "port": 1}
          }],
          "elastic_ips": [{
            "public_ip": "203.0.113.10", "allocation_id": "eipalloc-1",
            "owner": "111122223333", "instance": "i-1"
          }]
        }"#;
        let m: Model = serde_json::from_str(doc).unwrap();
        let g = m.group(&gid("sg-1")).unwrap();
        assert_eq!(g.ingress.len(), 3);
        // The CIDR was canonicalised.
        assert!(g
            .ingress
            .iter()
            .any(|p| p.peer().to_string() == "192.0.2.0/24"));
        assert_eq!(
            m.elastic_ip_of(&iid("i-1")),
            Some(Ipv4Addr::new(203, 0, 113, 10))
        );
        assert_eq!(m.instance_at(1, PortNo(1)).unwrap().id, iid("i-1"));
        // Invalid documents are refused with the model's reasons.
        for (from, to, why) in [
            (r#""to": 22}"#, r#""to": 21}"#, "invalid port range"),
            (r#""number": 47"#, r#""number": 6"#, "protocol number 6"),
            (r#""port": 1}"#, r#""port": 100}"#, "uplink"),
            (
                r#""ip": "10.0.1.1""#,
                r#""ip": "10.1.0.1""#,
                "not a usable host address",
            ),
            (r#""group": "sg-1""#, r#""group": "sg-2""#, "does not exist"),
            (
                r#""mac": "02:00:00:00:01:01""#,
                r#""mac": "01:00:00:00:01:01""#,
                "unicast",
            ),
        ] {
            assert!(doc.contains(from), "{from}");
            let bad = doc.replace(from, to);
            let err = serde_json::from_str::<Model>(&bad).unwrap_err().to_string();
            assert!(err.contains(why), "{why}: {err}");
        }
    }
}
