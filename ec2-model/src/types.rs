//! Validated EC2 values: resource ids, API versions, protocols, port ranges, CIDR ranges.
//!
//! Each type parses from the text a client sends and displays as EC2 writes it, so that
//! `parse(display(x)) == x`. Parse errors are [`Ec2Error`]s carrying the EC2 code a client expects
//! and a message naming the parameter and the value.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnetwork::{Ipv4Network, Ipv6Network};

use crate::error::{quote, Ec2Error, ErrorCode};

/// Longest hexadecimal suffix accepted in a resource id. EC2 issues 8 or 17 digits; shorter ones
/// (`i-1`) are accepted too, so hand-written ids in scripts and tests work.
pub const MAX_ID_HEX_DIGITS: usize = 32;

macro_rules! resource_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $code:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The prefix of every id of this kind.
            pub const PREFIX: &'static str = $prefix;

            /// Parses an id: the prefix followed by 1 to [`MAX_ID_HEX_DIGITS`] lowercase
            /// hexadecimal digits. `param` names the parameter in the error message.
            pub fn parse_param(param: impl fmt::Display, value: &str) -> Result<Self, Ec2Error> {
                let ok = value.strip_prefix($prefix).is_some_and(|hex| {
                    !hex.is_empty()
                        && hex.len() <= MAX_ID_HEX_DIGITS
                        && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                });
                if ok {
                    Ok($name(value.to_owned()))
                } else {
                    Err(Ec2Error::new(
                        $code,
                        format!(
                            "Invalid id: \"{}\" (parameter {param}; expecting \"{}...\" followed by hexadecimal digits)",
                            quote(value),
                            $prefix
                        ),
                    ))
                }
            }

            /// Builds an id from a number, as a server allocating ids does (17 hex digits).
            pub fn from_u64(n: u64) -> Self {
                $name(format!("{}{:017x}", $prefix, n))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Ec2Error;
            fn from_str(s: &str) -> Result<Self, Ec2Error> {
                $name::parse_param(stringify!($name), s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

resource_id!(
    /// An instance id, `i-` + hex (`i-cd1743c145aa773d6`). Malformed: `InvalidInstanceID.Malformed`.
    InstanceId, "i-", ErrorCode::InvalidInstanceIdMalformed
);
resource_id!(
    /// A security group id, `sg-` + hex. Malformed: `InvalidGroupId.Malformed`.
    GroupId, "sg-", ErrorCode::InvalidGroupIdMalformed
);
resource_id!(
    /// An elastic IP allocation id, `eipalloc-` + hex. Malformed: `InvalidAllocationID.Malformed`.
    AllocationId, "eipalloc-", ErrorCode::InvalidAllocationIdMalformed
);
resource_id!(
    /// An elastic IP association id, `eipassoc-` + hex. Malformed: `InvalidAssociationID.Malformed`.
    AssociationId, "eipassoc-", ErrorCode::InvalidAssociationIdMalformed
);
resource_id!(
    /// An image id, `ami-` + hex (`ami-03cf127a`). Malformed: `InvalidAMIID.Malformed`.
    ImageId, "ami-", ErrorCode::InvalidAmiIdMalformed
);
resource_id!(
    /// A reservation id, `r-` + hex. Malformed: `InvalidParameterValue`.
    ReservationId, "r-", ErrorCode::InvalidParameterValue
);
resource_id!(
    /// A network interface id, `eni-` + hex. Malformed: `InvalidParameterValue`.
    NetworkInterfaceId, "eni-", ErrorCode::InvalidParameterValue
);

/// Two parts of a parameter name (`IpPermissions.1.` + `FromPort`), joined only when displayed,
/// so that names cost nothing unless an error message needs them.
#[derive(Debug)]
pub(crate) struct Cat<'a, P: ?Sized>(pub(crate) &'a P, pub(crate) &'a str);

impl<P: ?Sized> Clone for Cat<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: ?Sized> Copy for Cat<'_, P> {}

impl<P: fmt::Display + ?Sized> fmt::Display for Cat<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.0, self.1)
    }
}

/// An EC2 API version, as sent in the `Version` parameter.
///
/// Every version from 2014-10-01 (boto 2.49) to 2016-11-15 (botocore, the AWS CLI) is accepted;
/// the response namespace echoes it ([`ApiVersion::namespace`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiVersion(&'static str);

impl ApiVersion {
    /// 2014-10-01, sent by boto 2.49.
    pub const V2014_10_01: ApiVersion = ApiVersion("2014-10-01");
    /// 2015-03-01.
    pub const V2015_03_01: ApiVersion = ApiVersion("2015-03-01");
    /// 2015-04-15.
    pub const V2015_04_15: ApiVersion = ApiVersion("2015-04-15");
    /// 2015-10-01.
    pub const V2015_10_01: ApiVersion = ApiVersion("2015-10-01");
    /// 2016-04-01.
    pub const V2016_04_01: ApiVersion = ApiVersion("2016-04-01");
    /// 2016-09-15.
    pub const V2016_09_15: ApiVersion = ApiVersion("2016-09-15");
    /// 2016-11-15, sent by botocore and the AWS CLI (the current EC2 API version).
    pub const V2016_11_15: ApiVersion = ApiVersion("2016-11-15");

    /// Every supported version, oldest first.
    pub const ALL: &'static [ApiVersion] = &[
        ApiVersion::V2014_10_01,
        ApiVersion::V2015_03_01,
        ApiVersion::V2015_04_15,
        ApiVersion::V2015_10_01,
        ApiVersion::V2016_04_01,
        ApiVersion::V2016_09_15,
        ApiVersion::V2016_11_15,
    ];

    /// Parses a `Version` value; an unknown one is `NoSuchVersion`.
    pub fn parse(value: &str) -> Result<ApiVersion, Ec2Error> {
        ApiVersion::ALL
            .iter()
            .copied()
            .find(|v| v.0 == value)
            .ok_or_else(|| {
                Ec2Error::new(
                    ErrorCode::NoSuchVersion,
                    format!(
                        "The requested version ({}) of service AmazonEC2 does not exist",
                        quote(value)
                    ),
                )
            })
    }

    /// The version text (`2016-11-15`).
    pub fn as_str(self) -> &'static str {
        self.0
    }

    /// The response namespace, `http://ec2.amazonaws.com/doc/<version>/`.
    pub fn namespace(self) -> String {
        format!("http://ec2.amazonaws.com/doc/{}/", self.0)
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The IP protocol of a security group rule.
///
/// Parsing accepts what EC2 accepts: `tcp`, `udp`, `icmp`, `icmpv6` (any case), `-1` or `all`
/// for every protocol, or a number 0-255. Numbers of named protocols become the name (6 is
/// `tcp`), as EC2 reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// Every protocol (`-1`).
    All,
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// Another IP protocol number; never 1, 6, 17 or 58.
    Number(u8),
}

impl Protocol {
    /// Parses a protocol; `param` names the parameter in the error message.
    pub fn parse_param(param: impl fmt::Display, value: &str) -> Result<Protocol, Ec2Error> {
        let lower = value.to_ascii_lowercase();
        let p = match lower.as_str() {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            "icmp" => Protocol::Icmp,
            "icmpv6" => Protocol::Icmpv6,
            "-1" | "all" => Protocol::All,
            digits
                if !digits.is_empty()
                    && digits.len() <= 3
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                match digits.parse::<u16>() {
                    Ok(n) if n <= 255 => Protocol::from_number(n as u8),
                    _ => return Err(bad_protocol(param, value)),
                }
            }
            _ => return Err(bad_protocol(param, value)),
        };
        Ok(p)
    }

    /// The protocol with this IP protocol number (names for 1, 6, 17 and 58).
    pub fn from_number(n: u8) -> Protocol {
        match n {
            1 => Protocol::Icmp,
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            58 => Protocol::Icmpv6,
            n => Protocol::Number(n),
        }
    }

    /// The IP protocol number, `None` for [`Protocol::All`].
    pub fn number(self) -> Option<u8> {
        match self {
            Protocol::All => None,
            Protocol::Tcp => Some(6),
            Protocol::Udp => Some(17),
            Protocol::Icmp => Some(1),
            Protocol::Icmpv6 => Some(58),
            Protocol::Number(n) => Some(n),
        }
    }
}

fn bad_protocol(param: impl fmt::Display, value: &str) -> Ec2Error {
    Ec2Error::new(
        ErrorCode::InvalidParameterValue,
        format!(
            "Invalid value '{}' for {param}. Unknown protocol: expecting tcp, udp, icmp, icmpv6, -1 (all) or a protocol number 0-255",
            quote(value)
        ),
    )
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Protocol::All => f.write_str("-1"),
            Protocol::Tcp => f.write_str("tcp"),
            Protocol::Udp => f.write_str("udp"),
            Protocol::Icmp => f.write_str("icmp"),
            Protocol::Icmpv6 => f.write_str("icmpv6"),
            Protocol::Number(n) => write!(f, "{n}"),
        }
    }
}

/// What a rule matches beyond its protocol: a port range (TCP, UDP), an ICMP type and code, or
/// nothing (every other protocol, where EC2 ignores ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ports {
    /// No port restriction (protocol `-1` or a protocol without ports).
    Any,
    /// TCP or UDP ports `from..=to` (`from <= to`).
    Range {
        /// First port.
        from: u16,
        /// Last port.
        to: u16,
    },
    /// ICMP (or ICMPv6) type and code; `None` is any (`-1` on the wire).
    Icmp {
        /// The type, `None` for any.
        icmp_type: Option<u8>,
        /// The code, `None` for any. Always `None` when the type is.
        code: Option<u8>,
    },
}

impl Ports {
    /// The `(FromPort, ToPort)` values EC2 reports for these ports, `None` for [`Ports::Any`].
    pub fn wire(self) -> Option<(i32, i32)> {
        let icmp = |v: Option<u8>| v.map_or(-1, i32::from);
        match self {
            Ports::Any => None,
            Ports::Range { from, to } => Some((i32::from(from), i32::from(to))),
            Ports::Icmp { icmp_type, code } => Some((icmp(icmp_type), icmp(code))),
        }
    }

    /// Validates `FromPort`/`ToPort` for a protocol. `prefix` is prepended to the parameter
    /// names in messages (`IpPermissions.1.`).
    pub fn from_wire(
        protocol: Protocol,
        prefix: impl fmt::Display,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Ports, Ec2Error> {
        // Names are only formatted when an error needs them.
        let from_name = Cat(&prefix, "FromPort");
        let to_name = Cat(&prefix, "ToPort");
        let from = from.map(|v| parse_port_number(from_name, v)).transpose()?;
        let to = to.map(|v| parse_port_number(to_name, v)).transpose()?;
        match protocol {
            Protocol::Tcp | Protocol::Udp => {
                let (from, to) = match (from, to) {
                    (Some(f), Some(t)) => (f, t),
                    (None, _) => return Err(Ec2Error::missing_parameter(from_name)),
                    (_, None) => return Err(Ec2Error::missing_parameter(to_name)),
                };
                let port = |name: Cat<'_, _>, v: i64| {
                    u16::try_from(v).map_err(|_| {
                        Ec2Error::invalid_value(
                            name,
                            &v.to_string(),
                            "TCP and UDP ports must be between 0 and 65535.",
                        )
                    })
                };
                let (f, t) = (port(from_name, from)?, port(to_name, to)?);
                if f > t {
                    return Err(Ec2Error::new(
                        ErrorCode::InvalidParameterValue,
                        format!(
                            "Invalid port range: {from_name} ({f}) is greater than {to_name} ({t})"
                        ),
                    ));
                }
                Ok(Ports::Range { from: f, to: t })
            }
            Protocol::Icmp | Protocol::Icmpv6 => {
                let field = |name: Cat<'_, _>, v: Option<i64>| match v {
                    None | Some(-1) => Ok(None),
                    Some(n) => u8::try_from(n).map(Some).map_err(|_| {
                        Ec2Error::invalid_value(
                            name,
                            &n.to_string(),
                            "ICMP type and code must be -1 (any) or between 0 and 255.",
                        )
                    }),
                };
                match (from, to) {
                    (Some(_), None) => return Err(Ec2Error::missing_parameter(to_name)),
                    (None, Some(_)) => return Err(Ec2Error::missing_parameter(from_name)),
                    _ => {}
                }
                let icmp_type = field(from_name, from)?;
                let code = field(to_name, to)?;
                if icmp_type.is_none() && code.is_some() {
                    return Err(Ec2Error::new(
                        ErrorCode::InvalidParameterValue,
                        format!(
                            "Invalid ICMP code {} in {to_name}: a code needs a specific ICMP type, but {from_name} is -1",
                            to.unwrap_or_default()
                        ),
                    ));
                }
                Ok(Ports::Icmp { icmp_type, code })
            }
            Protocol::All | Protocol::Number(_) => Ok(Ports::Any),
        }
    }
}

/// Parses a `FromPort`/`ToPort` value as an integer (range checked by the caller).
fn parse_port_number(name: impl fmt::Display, value: &str) -> Result<i64, Ec2Error> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || digits.len() > 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Ec2Error::invalid_value(
            &name,
            value,
            "It must be an integer.",
        ));
    }
    let n: i64 = value
        .parse()
        .map_err(|_| Ec2Error::invalid_value(&name, value, "It must be an integer."))?;
    if n < -1 {
        return Err(Ec2Error::invalid_value(
            &name,
            value,
            "Ports must be -1 (ICMP any) or between 0 and 65535.",
        ));
    }
    Ok(n)
}

/// Parses an IPv4 CIDR block (`10.0.0.0/8`) and canonicalises it: host bits are cleared
/// (`10.1.2.3/8` becomes `10.0.0.0/8`), as EC2 stores rules. The prefix length is required.
pub fn parse_cidr_v4(param: impl fmt::Display, value: &str) -> Result<Ipv4Network, Ec2Error> {
    let bad = || {
        Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "CIDR block {} is malformed (parameter {param}; expecting a.b.c.d/n with n 0-32)",
                quote(value)
            ),
        )
    };
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || len.len() > 2 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let net = Ipv4Network::new(addr, len).map_err(|_| bad())?;
    Ipv4Network::new(net.network(), len).map_err(|_| bad())
}

/// Parses an IPv6 CIDR block and canonicalises it (host bits cleared).
pub fn parse_cidr_v6(param: impl fmt::Display, value: &str) -> Result<Ipv6Network, Ec2Error> {
    let bad = || {
        Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "CIDR block {} is malformed (parameter {param}; expecting an IPv6 address/n with n 0-128)",
                quote(value)
            ),
        )
    };
    let (addr, len) = value.split_once('/').ok_or_else(bad)?;
    let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
    if len.is_empty() || len.len() > 3 || !len.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let len: u8 = len.parse().map_err(|_| bad())?;
    let net = Ipv6Network::new(addr, len).map_err(|_| bad())?;
    Ipv6Network::new(net.network(), len).map_err(|_| bad())
}

/// Parses a dotted-quad IPv4 address (no leading zeros, no CIDR suffix).
pub fn parse_ipv4(param: impl fmt::Display, value: &str) -> Result<Ipv4Addr, Ec2Error> {
    value.parse().map_err(|_| {
        Ec2Error::invalid_value(
            param,
            value,
            "It must be an IPv4 address in dotted-quad form.",
        )
    })
}

/// Parses an EC2 boolean: `true` or `false`, any case.
pub fn parse_bool(param: impl fmt::Display, value: &str) -> Result<bool, Ec2Error> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(Ec2Error::invalid_value(
            param,
            value,
            "It must be true or false.",
        ))
    }
}

/// The address domain: `vpc` (allocation ids) or `standard` (EC2-Classic, addressed by IP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A VPC address, with an allocation id.
    Vpc,
    /// A classic address, addressed by its public IP.
    Standard,
}

impl Domain {
    /// Parses `vpc` or `standard`.
    pub fn parse_param(param: impl fmt::Display, value: &str) -> Result<Domain, Ec2Error> {
        match value {
            "vpc" => Ok(Domain::Vpc),
            "standard" => Ok(Domain::Standard),
            _ => Err(Ec2Error::invalid_value(
                param,
                value,
                "It must be vpc or standard.",
            )),
        }
    }

    /// `vpc` or `standard`.
    pub fn as_str(self) -> &'static str {
        match self {
            Domain::Vpc => "vpc",
            Domain::Standard => "standard",
        }
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An instance state, with the integer code EC2 reports (boto 2 reads it as an integer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// Code 0.
    Pending,
    /// Code 16.
    Running,
    /// Code 32.
    ShuttingDown,
    /// Code 48.
    Terminated,
    /// Code 64.
    Stopping,
    /// Code 80.
    Stopped,
}

impl InstanceState {
    /// Every state.
    pub const ALL: &'static [InstanceState] = &[
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::ShuttingDown,
        InstanceState::Terminated,
        InstanceState::Stopping,
        InstanceState::Stopped,
    ];

    /// The state code (0, 16, 32, 48, 64, 80).
    pub fn code(self) -> u16 {
        match self {
            InstanceState::Pending => 0,
            InstanceState::Running => 16,
            InstanceState::ShuttingDown => 32,
            InstanceState::Terminated => 48,
            InstanceState::Stopping => 64,
            InstanceState::Stopped => 80,
        }
    }

    /// The state name (`running`, `shutting-down`...).
    pub fn name(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::ShuttingDown => "shutting-down",
            InstanceState::Terminated => "terminated",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
        }
    }

    /// The state with this name.
    pub fn from_name(name: &str) -> Option<InstanceState> {
        InstanceState::ALL
            .iter()
            .copied()
            .find(|s| s.name() == name)
    }

    /// The state with this code (the low byte only, as EC2 defines it: the high byte is
    /// reserved for internal use).
    pub fn from_code(code: u16) -> Option<InstanceState> {
        let low = code & 0xff;
        InstanceState::ALL.iter().copied().find(|s| s.code() == low)
    }
}

impl fmt::Display for InstanceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_validate_prefix_and_hex() {
        assert!(InstanceId::parse_param("InstanceId", "i-cd1743c145aa773d6").is_ok());
        assert!(InstanceId::parse_param("InstanceId", "i-1").is_ok());
        for bad in [
            "",
            "i-",
            "i-xyz",
            "i-ABC",
            "sg-123",
            "i-12345678901234567890123456789012a",
        ] {
            let e = InstanceId::parse_param("InstanceId.1", bad).unwrap_err();
            assert_eq!(
                e.error_code(),
                ErrorCode::InvalidInstanceIdMalformed,
                "{bad}"
            );
            assert!(e.message().contains("InstanceId.1"));
        }
        assert_eq!(
            GroupId::parse_param("GroupId", "sg-zz").unwrap_err().code(),
            "InvalidGroupId.Malformed"
        );
        assert_eq!(
            AllocationId::parse_param("AllocationId", "eipalloc-")
                .unwrap_err()
                .code(),
            "InvalidAllocationID.Malformed"
        );
        assert_eq!(
            AssociationId::parse_param("AssociationId", "eipalloc-12")
                .unwrap_err()
                .code(),
            "InvalidAssociationID.Malformed"
        );
        assert_eq!(
            ImageId::parse_param("ImageId", "ami-").unwrap_err().code(),
            "InvalidAMIID.Malformed"
        );
        assert_eq!(GroupId::from_u64(255).as_str(), "sg-000000000000000ff");
        assert_eq!("sg-1".parse::<GroupId>().unwrap().to_string(), "sg-1");
    }

    #[test]
    fn versions() {
        assert_eq!(
            ApiVersion::parse("2014-10-01").unwrap(),
            ApiVersion::V2014_10_01
        );
        assert_eq!(
            ApiVersion::V2016_11_15.namespace(),
            "http://ec2.amazonaws.com/doc/2016-11-15/"
        );
        let e = ApiVersion::parse("2099-01-01").unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::NoSuchVersion);
        assert!(e.message().contains("2099-01-01"));
    }

    #[test]
    fn protocols() {
        fn p(s: &str) -> Result<Protocol, Ec2Error> {
            Protocol::parse_param("IpProtocol", s)
        }
        assert_eq!(p("tcp").unwrap(), Protocol::Tcp);
        assert_eq!(p("TCP").unwrap(), Protocol::Tcp);
        assert_eq!(p("Udp").unwrap(), Protocol::Udp);
        assert_eq!(p("icmp").unwrap(), Protocol::Icmp);
        assert_eq!(p("-1").unwrap(), Protocol::All);
        assert_eq!(p("all").unwrap(), Protocol::All);
        assert_eq!(p("6").unwrap(), Protocol::Tcp);
        assert_eq!(p("17").unwrap(), Protocol::Udp);
        assert_eq!(p("1").unwrap(), Protocol::Icmp);
        assert_eq!(p("58").unwrap(), Protocol::Icmpv6);
        assert_eq!(p("47").unwrap(), Protocol::Number(47));
        assert_eq!(p("0").unwrap(), Protocol::Number(0));
        assert_eq!(p("255").unwrap(), Protocol::Number(255));
        for bad in ["256", "-2", "", "tcpx", "1000", "+6", " tcp"] {
            let e = p(bad).unwrap_err();
            assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue, "{bad}");
            assert!(e.message().contains("IpProtocol"));
        }
        for proto in [
            Protocol::All,
            Protocol::Tcp,
            Protocol::Icmpv6,
            Protocol::Number(99),
        ] {
            assert_eq!(p(&proto.to_string()).unwrap(), proto);
        }
        assert_eq!(Protocol::Tcp.number(), Some(6));
        assert_eq!(Protocol::All.number(), None);
    }

    #[test]
    fn ports() {
        let f = |p, a: Option<&str>, b: Option<&str>| Ports::from_wire(p, "IpPermissions.1.", a, b);
        assert_eq!(
            f(Protocol::Tcp, Some("22"), Some("22")).unwrap(),
            Ports::Range { from: 22, to: 22 }
        );
        assert_eq!(
            f(Protocol::Udp, Some("0"), Some("65535")).unwrap(),
            Ports::Range { from: 0, to: 65535 }
        );
        let e = f(Protocol::Tcp, Some("abc"), Some("22")).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(e.message().contains("IpPermissions.1.FromPort") && e.message().contains("abc"));
        let e = f(Protocol::Tcp, Some("90"), Some("80")).unwrap_err();
        assert!(e.message().contains("90") && e.message().contains("80"));
        let e = f(Protocol::Tcp, Some("1"), Some("65536")).unwrap_err();
        assert!(e.message().contains("ToPort") && e.message().contains("65536"));
        assert!(f(Protocol::Tcp, Some("-1"), Some("-1")).is_err());
        assert!(f(Protocol::Tcp, Some("-5"), Some("1")).is_err());
        assert!(f(Protocol::Tcp, Some("99999999999"), Some("1")).is_err());
        assert_eq!(
            f(Protocol::Tcp, None, Some("1")).unwrap_err().error_code(),
            ErrorCode::MissingParameter
        );
        assert_eq!(
            f(Protocol::Icmp, Some("-1"), Some("-1")).unwrap(),
            Ports::Icmp {
                icmp_type: None,
                code: None
            }
        );
        assert_eq!(
            f(Protocol::Icmp, None, None).unwrap(),
            Ports::Icmp {
                icmp_type: None,
                code: None
            }
        );
        assert_eq!(
            f(Protocol::Icmp, Some("8"), Some("-1")).unwrap(),
            Ports::Icmp {
                icmp_type: Some(8),
                code: None
            }
        );
        assert_eq!(
            f(Protocol::Icmp, Some("3"), Some("4")).unwrap(),
            Ports::Icmp {
                icmp_type: Some(3),
                code: Some(4)
            }
        );
        assert!(f(Protocol::Icmp, Some("-1"), Some("4")).is_err());
        assert!(f(Protocol::Icmp, Some("256"), Some("-1")).is_err());
        assert!(f(Protocol::Icmp, Some("8"), None).is_err());
        assert_eq!(f(Protocol::All, Some("5"), Some("1")).unwrap(), Ports::Any);
        assert_eq!(f(Protocol::Number(47), None, None).unwrap(), Ports::Any);
        assert!(f(Protocol::All, Some("x"), None).is_err());
        assert_eq!(
            Ports::Icmp {
                icmp_type: Some(8),
                code: None
            }
            .wire(),
            Some((8, -1))
        );
        assert_eq!(Ports::Any.wire(), None);
    }

    #[test]
    fn cidrs() {
        let c = |s| parse_cidr_v4("CidrIp", s);
        assert_eq!(c("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(c("10.1.2.3/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(c("0.0.0.0/0").unwrap().to_string(), "0.0.0.0/0");
        assert_eq!(c("1.2.3.4/32").unwrap().to_string(), "1.2.3.4/32");
        for bad in [
            "0.0.0.0/33",
            "1.2.3.4",
            "1.2.3/8",
            "a/8",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "01.2.3.4/8",
            "1.2.3.4/008",
            "::/0",
        ] {
            let e = c(bad).unwrap_err();
            assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue, "{bad}");
            assert!(e.message().contains("CidrIp"));
        }
        assert_eq!(
            parse_cidr_v6("CidrIpv6", "2001:db8::1/32")
                .unwrap()
                .to_string(),
            "2001:db8::/32"
        );
        assert!(parse_cidr_v6("CidrIpv6", "::/129").is_err());
    }

    #[test]
    fn scalars() {
        assert!(parse_bool("DryRun", "TRUE").unwrap());
        assert!(!parse_bool("DryRun", "false").unwrap());
        assert!(parse_bool("DryRun", "yes").is_err());
        assert!(parse_ipv4("PublicIp", "1.2.3.4").is_ok());
        assert!(parse_ipv4("PublicIp", "1.2.3.4/32").is_err());
        assert_eq!(Domain::parse_param("Domain", "vpc").unwrap(), Domain::Vpc);
        assert!(Domain::parse_param("Domain", "VPC").is_err());
        assert_eq!(InstanceState::Running.code(), 16);
        assert_eq!(
            InstanceState::from_name("shutting-down"),
            Some(InstanceState::ShuttingDown)
        );
        for st in InstanceState::ALL {
            assert_eq!(InstanceState::from_code(st.code()), Some(*st));
            assert_eq!(InstanceState::from_code(st.code() | 0x100), Some(*st));
        }
        assert_eq!(InstanceState::from_code(1), None);
    }
}
