//! Typed requests: what each supported action asks for, validated.
//!
//! [`parse_request`] takes an [`HttpRequest`] and returns the API version and the typed
//! [`Request`]; [`parse_params`] does the same from already decoded [`Params`] (a server that
//! also verifies a signature decodes once). [`Request::to_params`] writes a request back the way
//! botocore does (`Name.N` lists, `IpPermissions.N.*`), so that `parse(to_params(r)) == r`.
//!
//! Parsing is lenient where clients differ and strict where meaning is at stake:
//! * top-level parameters an action does not know (`ClientToken` of other actions, signature
//!   parameters, boto 2's `Monitoring.Enabled`...) are ignored;
//! * inside the structures this crate reads (`IpPermissions.N.*`, `Filter.N.*`, `Name.N` lists),
//!   an unknown field is an `UnknownParameter` error, and an index that is not a positive decimal
//!   number is `InvalidParameterValue`;
//! * values are validated into types ([`crate::types`]) with the error codes EC2 uses.
//!
//! The old flat parameters of `AuthorizeSecurityGroupIngress` and friends (`IpProtocol`,
//! `FromPort`, `ToPort`, `CidrIp`, `SourceSecurityGroupName`, `SourceSecurityGroupOwnerId`, sent by
//! boto 2) become one [`IpPermission`]; a source group given without a protocol means all TCP, UDP
//! and ICMP, as in EC2-Classic, and becomes three permissions.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnetwork::{Ipv4Network, Ipv6Network};

use crate::error::{quote, Ec2Error, ErrorCode};
use crate::filters::{
    parse_filter, AddressFilter, Filter, FilterKey, ImageFilter, InstanceFilter,
    SecurityGroupFilter,
};
use crate::http::HttpRequest;
use crate::params::Params;
use crate::types::{
    parse_bool, parse_cidr_v4, parse_cidr_v6, parse_ipv4, AllocationId, ApiVersion, AssociationId,
    Cat, Domain, GroupId, ImageId, InstanceId, NetworkInterfaceId, Ports, Protocol,
};

/// Largest `N` accepted in `Name.N` parameters.
pub const MAX_INDEX: u32 = 10_000;
/// Longest group name, description or rule description, in characters (EC2's limit).
pub const MAX_NAME_CHARS: usize = 255;
/// Largest `UserData`, in bytes after base64 decoding (EC2's limit).
pub const MAX_USER_DATA_BYTES: usize = 16 * 1024;

/// The supported actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `AllocateAddress`.
    AllocateAddress,
    /// `AssociateAddress`.
    AssociateAddress,
    /// `DisassociateAddress`.
    DisassociateAddress,
    /// `ReleaseAddress`.
    ReleaseAddress,
    /// `DescribeAddresses`.
    DescribeAddresses,
    /// `CreateSecurityGroup`.
    CreateSecurityGroup,
    /// `DeleteSecurityGroup`.
    DeleteSecurityGroup,
    /// `AuthorizeSecurityGroupIngress`.
    AuthorizeSecurityGroupIngress,
    /// `AuthorizeSecurityGroupEgress`.
    AuthorizeSecurityGroupEgress,
    /// `RevokeSecurityGroupIngress`.
    RevokeSecurityGroupIngress,
    /// `RevokeSecurityGroupEgress`.
    RevokeSecurityGroupEgress,
    /// `DescribeSecurityGroups`.
    DescribeSecurityGroups,
    /// `DescribeImages`.
    DescribeImages,
    /// `RunInstances`.
    RunInstances,
    /// `DescribeInstances`.
    DescribeInstances,
    /// `TerminateInstances`.
    TerminateInstances,
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = &[
        Action::AllocateAddress,
        Action::AssociateAddress,
        Action::DisassociateAddress,
        Action::ReleaseAddress,
        Action::DescribeAddresses,
        Action::CreateSecurityGroup,
        Action::DeleteSecurityGroup,
        Action::AuthorizeSecurityGroupIngress,
        Action::AuthorizeSecurityGroupEgress,
        Action::RevokeSecurityGroupIngress,
        Action::RevokeSecurityGroupEgress,
        Action::DescribeSecurityGroups,
        Action::DescribeImages,
        Action::RunInstances,
        Action::DescribeInstances,
        Action::TerminateInstances,
    ];

    /// The action name (`DescribeAddresses`).
    pub fn as_str(self) -> &'static str {
        match self {
            Action::AllocateAddress => "AllocateAddress",
            Action::AssociateAddress => "AssociateAddress",
            Action::DisassociateAddress => "DisassociateAddress",
            Action::ReleaseAddress => "ReleaseAddress",
            Action::DescribeAddresses => "DescribeAddresses",
            Action::CreateSecurityGroup => "CreateSecurityGroup",
            Action::DeleteSecurityGroup => "DeleteSecurityGroup",
            Action::AuthorizeSecurityGroupIngress => "AuthorizeSecurityGroupIngress",
            Action::AuthorizeSecurityGroupEgress => "AuthorizeSecurityGroupEgress",
            Action::RevokeSecurityGroupIngress => "RevokeSecurityGroupIngress",
            Action::RevokeSecurityGroupEgress => "RevokeSecurityGroupEgress",
            Action::DescribeSecurityGroups => "DescribeSecurityGroups",
            Action::DescribeImages => "DescribeImages",
            Action::RunInstances => "RunInstances",
            Action::DescribeInstances => "DescribeInstances",
            Action::TerminateInstances => "TerminateInstances",
        }
    }

    /// The action with this name (exact, case-sensitive), `None` if unsupported.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == name)
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An elastic IP, named by its public address (EC2-Classic style, boto 2) or allocation id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressRef {
    /// `PublicIp`.
    PublicIp(Ipv4Addr),
    /// `AllocationId`.
    AllocationId(AllocationId),
}

/// An association, named by the public address or the association id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AssociationRef {
    /// `PublicIp`.
    PublicIp(Ipv4Addr),
    /// `AssociationId`.
    AssociationId(AssociationId),
}

/// A security group, named by id or by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupRef {
    /// `GroupId`.
    Id(GroupId),
    /// `GroupName`.
    Name(String),
}

/// `AllocateAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocateAddress {
    /// `Domain`: `vpc` or `standard`; `None` lets the server choose.
    pub domain: Option<Domain>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `AssociateAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssociateAddress {
    /// `PublicIp` or `AllocationId` (exactly one).
    pub address: AddressRef,
    /// `InstanceId`.
    pub instance_id: Option<InstanceId>,
    /// `NetworkInterfaceId`.
    pub network_interface_id: Option<NetworkInterfaceId>,
    /// `PrivateIpAddress`.
    pub private_ip_address: Option<Ipv4Addr>,
    /// `AllowReassociation`; `None` when absent (EC2 then reassociates for `standard`
    /// addresses and refuses for VPC addresses).
    pub allow_reassociation: Option<bool>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DisassociateAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisassociateAddress {
    /// `PublicIp` or `AssociationId` (exactly one).
    pub association: AssociationRef,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `ReleaseAddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseAddress {
    /// `PublicIp` or `AllocationId` (exactly one).
    pub address: AddressRef,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DescribeAddresses`.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeAddresses {
    /// `PublicIp.N`.
    pub public_ips: Vec<Ipv4Addr>,
    /// `AllocationId.N`.
    pub allocation_ids: Vec<AllocationId>,
    /// `Filter.N`.
    pub filters: Vec<Filter<AddressFilter>>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `CreateSecurityGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    /// `GroupName`: 1-255 characters, not starting with `sg-`.
    pub group_name: String,
    /// `GroupDescription`: 0-255 characters.
    pub description: String,
    /// `VpcId`.
    pub vpc_id: Option<String>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DeleteSecurityGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSecurityGroup {
    /// `GroupId` or `GroupName` (exactly one).
    pub group: GroupRef,
    /// `DryRun`.
    pub dry_run: bool,
}

/// An IPv4 source or destination of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpRange {
    /// `CidrIp`, canonical (host bits cleared).
    pub cidr: Ipv4Network,
    /// `Description`.
    pub description: Option<String>,
}

/// An IPv6 source or destination of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ipv6Range {
    /// `CidrIpv6`, canonical (host bits cleared).
    pub cidr: Ipv6Network,
    /// `Description`.
    pub description: Option<String>,
}

/// A security group as the source or destination of a rule (`Groups.M.*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserIdGroupPair {
    /// `GroupId`.
    pub group_id: Option<GroupId>,
    /// `GroupName` (at least one of id and name is present).
    pub group_name: Option<String>,
    /// `UserId`: the account owning the group.
    pub user_id: Option<String>,
    /// `Description`.
    pub description: Option<String>,
}

/// One rule specification: a protocol, its ports, and sources (ingress) or destinations (egress).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpPermission {
    /// `IpProtocol`.
    pub protocol: Protocol,
    /// `FromPort`/`ToPort`, validated for the protocol.
    pub ports: Ports,
    /// `IpRanges.M`.
    pub ip_ranges: Vec<IpRange>,
    /// `Ipv6Ranges.M`.
    pub ipv6_ranges: Vec<Ipv6Range>,
    /// `Groups.M`.
    pub groups: Vec<UserIdGroupPair>,
}

/// `AuthorizeSecurityGroupIngress`, `AuthorizeSecurityGroupEgress`,
/// `RevokeSecurityGroupIngress` and `RevokeSecurityGroupEgress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroupRules {
    /// `GroupId` or `GroupName`; always an id for the egress actions.
    pub group: GroupRef,
    /// `IpPermissions.N` (or the flat parameters), at least one.
    pub permissions: Vec<IpPermission>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DescribeSecurityGroups`.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeSecurityGroups {
    /// `GroupName.N`.
    pub group_names: Vec<String>,
    /// `GroupId.N`.
    pub group_ids: Vec<GroupId>,
    /// `Filter.N`.
    pub filters: Vec<Filter<SecurityGroupFilter>>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DescribeImages`.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeImages {
    /// `ImageId.N`.
    pub image_ids: Vec<ImageId>,
    /// `Owner.N` (`self`, `amazon`, account ids).
    pub owners: Vec<String>,
    /// `ExecutableBy.N`.
    pub executable_by: Vec<String>,
    /// `Filter.N`.
    pub filters: Vec<Filter<ImageFilter>>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `RunInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunInstances {
    /// `ImageId`.
    pub image_id: ImageId,
    /// `MinCount` (at least 1).
    pub min_count: u32,
    /// `MaxCount` (at least `min_count`).
    pub max_count: u32,
    /// `InstanceType` (`t2.micro`).
    pub instance_type: Option<String>,
    /// `KeyName`.
    pub key_name: Option<String>,
    /// `UserData`, base64 as sent (validated as base64, at most 16 KiB decoded).
    pub user_data: Option<String>,
    /// `SecurityGroup.N`: group names.
    pub security_groups: Vec<String>,
    /// `SecurityGroupId.N`: group ids.
    pub security_group_ids: Vec<GroupId>,
    /// `ClientToken` (idempotency, at most 64 ASCII characters).
    pub client_token: Option<String>,
    /// `SubnetId`.
    pub subnet_id: Option<String>,
    /// `PrivateIpAddress`.
    pub private_ip_address: Option<Ipv4Addr>,
    /// `Placement.AvailabilityZone`.
    pub availability_zone: Option<String>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `DescribeInstances`.
#[derive(Debug, Clone, PartialEq)]
pub struct DescribeInstances {
    /// `InstanceId.N`.
    pub instance_ids: Vec<InstanceId>,
    /// `Filter.N`.
    pub filters: Vec<Filter<InstanceFilter>>,
    /// `MaxResults` (5-1000; not with `InstanceId.N`).
    pub max_results: Option<u32>,
    /// `NextToken`.
    pub next_token: Option<String>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// `TerminateInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminateInstances {
    /// `InstanceId.N`, at least one.
    pub instance_ids: Vec<InstanceId>,
    /// `DryRun`.
    pub dry_run: bool,
}

/// A typed request of one of the supported actions.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `AllocateAddress`.
    AllocateAddress(AllocateAddress),
    /// `AssociateAddress`.
    AssociateAddress(AssociateAddress),
    /// `DisassociateAddress`.
    DisassociateAddress(DisassociateAddress),
    /// `ReleaseAddress`.
    ReleaseAddress(ReleaseAddress),
    /// `DescribeAddresses`.
    DescribeAddresses(DescribeAddresses),
    /// `CreateSecurityGroup`.
    CreateSecurityGroup(CreateSecurityGroup),
    /// `DeleteSecurityGroup`.
    DeleteSecurityGroup(DeleteSecurityGroup),
    /// `AuthorizeSecurityGroupIngress`.
    AuthorizeSecurityGroupIngress(SecurityGroupRules),
    /// `AuthorizeSecurityGroupEgress`.
    AuthorizeSecurityGroupEgress(SecurityGroupRules),
    /// `RevokeSecurityGroupIngress`.
    RevokeSecurityGroupIngress(SecurityGroupRules),
    /// `RevokeSecurityGroupEgress`.
    RevokeSecurityGroupEgress(SecurityGroupRules),
    /// `DescribeSecurityGroups`.
    DescribeSecurityGroups(DescribeSecurityGroups),
    /// `DescribeImages`.
    DescribeImages(DescribeImages),
    /// `RunInstances`.
    RunInstances(RunInstances),
    /// `DescribeInstances`.
    DescribeInstances(DescribeInstances),
    /// `TerminateInstances`.
    TerminateInstances(TerminateInstances),
}

/// Parses an HTTP request into its API version and typed request.
///
/// Errors: `MalformedQueryString` (bad encoding), `MissingAction`, `InvalidAction`,
/// `MissingParameter` (`Version` or a required parameter), `NoSuchVersion`, and the validation
/// errors of each action (`InvalidParameterValue`, `InvalidParameterCombination`, the
/// `*.Malformed` id errors...).
pub fn parse_request(req: &HttpRequest) -> Result<(ApiVersion, Request), Ec2Error> {
    let params = Params::from_request(req)?;
    parse_params(&params)
}

/// Parses decoded parameters into the API version and typed request.
pub fn parse_params(p: &Params) -> Result<(ApiVersion, Request), Ec2Error> {
    let action_name = p.get("Action").ok_or_else(|| {
        Ec2Error::new(
            ErrorCode::MissingAction,
            "The request must contain the parameter Action",
        )
    })?;
    let action = Action::from_name(action_name).ok_or_else(|| {
        Ec2Error::new(
            ErrorCode::InvalidAction,
            format!(
                "The action {} is not valid for this web service.",
                quote(action_name)
            ),
        )
    })?;
    let version = ApiVersion::parse(
        p.get("Version")
            .ok_or_else(|| Ec2Error::missing_parameter("Version"))?,
    )?;
    let dry_run = opt(p, "DryRun", parse_bool)?.unwrap_or(false);
    let request = match action {
        Action::AllocateAddress => Request::AllocateAddress(AllocateAddress {
            domain: opt(p, "Domain", Domain::parse_param)?,
            dry_run,
        }),
        Action::AssociateAddress => {
            let address = address_ref(p)?;
            let instance_id = opt(p, "InstanceId", InstanceId::parse_param)?;
            let network_interface_id =
                opt(p, "NetworkInterfaceId", NetworkInterfaceId::parse_param)?;
            if instance_id.is_none() && network_interface_id.is_none() {
                return Err(Ec2Error::missing_parameter(
                    "InstanceId (or NetworkInterfaceId)",
                ));
            }
            Request::AssociateAddress(AssociateAddress {
                address,
                instance_id,
                network_interface_id,
                private_ip_address: opt(p, "PrivateIpAddress", parse_ipv4)?,
                allow_reassociation: opt(p, "AllowReassociation", parse_bool)?,
                dry_run,
            })
        }
        Action::DisassociateAddress => {
            let ip = opt(p, "PublicIp", parse_ipv4)?;
            let id = opt(p, "AssociationId", AssociationId::parse_param)?;
            let association = match (ip, id) {
                (Some(ip), None) => AssociationRef::PublicIp(ip),
                (None, Some(id)) => AssociationRef::AssociationId(id),
                (Some(_), Some(_)) => {
                    return Err(Ec2Error::invalid_combination(
                        "The parameters PublicIp and AssociationId cannot be used together",
                    ))
                }
                (None, None) => {
                    return Err(Ec2Error::missing_parameter("PublicIp or AssociationId"))
                }
            };
            Request::DisassociateAddress(DisassociateAddress {
                association,
                dry_run,
            })
        }
        Action::ReleaseAddress => Request::ReleaseAddress(ReleaseAddress {
            address: address_ref(p)?,
            dry_run,
        }),
        Action::DescribeAddresses => Request::DescribeAddresses(DescribeAddresses {
            public_ips: list(p, "PublicIp", |n, v| parse_ipv4(n, v))?,
            allocation_ids: list(p, "AllocationId", |n, v| AllocationId::parse_param(n, v))?,
            filters: filters(p)?,
            dry_run,
        }),
        Action::CreateSecurityGroup => {
            let group_name = req(p, "GroupName", group_name)?;
            if group_name.starts_with("sg-") {
                return Err(Ec2Error::invalid_value(
                    "GroupName",
                    &group_name,
                    "Group names may not be in the format sg-*.",
                ));
            }
            Request::CreateSecurityGroup(CreateSecurityGroup {
                group_name,
                description: req(p, "GroupDescription", |n, v| text(n, v, 0))?,
                vpc_id: opt(p, "VpcId", |n, v| text(n, v, 1))?,
                dry_run,
            })
        }
        Action::DeleteSecurityGroup => Request::DeleteSecurityGroup(DeleteSecurityGroup {
            group: group_ref(p, false)?,
            dry_run,
        }),
        Action::AuthorizeSecurityGroupIngress => {
            Request::AuthorizeSecurityGroupIngress(rules(p, false, dry_run)?)
        }
        Action::AuthorizeSecurityGroupEgress => {
            Request::AuthorizeSecurityGroupEgress(rules(p, true, dry_run)?)
        }
        Action::RevokeSecurityGroupIngress => {
            Request::RevokeSecurityGroupIngress(rules(p, false, dry_run)?)
        }
        Action::RevokeSecurityGroupEgress => {
            Request::RevokeSecurityGroupEgress(rules(p, true, dry_run)?)
        }
        Action::DescribeSecurityGroups => Request::DescribeSecurityGroups(DescribeSecurityGroups {
            group_names: list(p, "GroupName", |n, v| group_name(n, v))?,
            group_ids: list(p, "GroupId", |n, v| GroupId::parse_param(n, v))?,
            filters: filters(p)?,
            dry_run,
        }),
        Action::DescribeImages => Request::DescribeImages(DescribeImages {
            image_ids: list(p, "ImageId", |n, v| ImageId::parse_param(n, v))?,
            owners: list(p, "Owner", |n, v| text(n, v, 1))?,
            executable_by: list(p, "ExecutableBy", |n, v| text(n, v, 1))?,
            filters: filters(p)?,
            dry_run,
        }),
        Action::RunInstances => Request::RunInstances(run_instances(p, dry_run)?),
        Action::DescribeInstances => {
            let instance_ids = list(p, "InstanceId", |n, v| InstanceId::parse_param(n, v))?;
            let max_results = opt(p, "MaxResults", |n, v| {
                let m = parse_u32(n, v)?;
                if !(5..=1000).contains(&m) {
                    return Err(Ec2Error::invalid_value(
                        n,
                        v,
                        "It must be between 5 and 1000.",
                    ));
                }
                Ok(m)
            })?;
            if max_results.is_some() && !instance_ids.is_empty() {
                return Err(Ec2Error::invalid_combination(
                    "The parameter instancesSet cannot be used with the parameter maxResults",
                ));
            }
            Request::DescribeInstances(DescribeInstances {
                instance_ids,
                filters: filters(p)?,
                max_results,
                next_token: opt(p, "NextToken", |n, v| text(n, v, 1))?,
                dry_run,
            })
        }
        Action::TerminateInstances => {
            let instance_ids = list(p, "InstanceId", |n, v| InstanceId::parse_param(n, v))?;
            if instance_ids.is_empty() {
                return Err(Ec2Error::missing_parameter("InstanceId.1"));
            }
            Request::TerminateInstances(TerminateInstances {
                instance_ids,
                dry_run,
            })
        }
    };
    Ok((version, request))
}

impl Request {
    /// The action of this request.
    pub fn action(&self) -> Action {
        match self {
            Request::AllocateAddress(_) => Action::AllocateAddress,
            Request::AssociateAddress(_) => Action::AssociateAddress,
            Request::DisassociateAddress(_) => Action::DisassociateAddress,
            Request::ReleaseAddress(_) => Action::ReleaseAddress,
            Request::DescribeAddresses(_) => Action::DescribeAddresses,
            Request::CreateSecurityGroup(_) => Action::CreateSecurityGroup,
            Request::DeleteSecurityGroup(_) => Action::DeleteSecurityGroup,
            Request::AuthorizeSecurityGroupIngress(_) => Action::AuthorizeSecurityGroupIngress,
            Request::AuthorizeSecurityGroupEgress(_) => Action::AuthorizeSecurityGroupEgress,
            Request::RevokeSecurityGroupIngress(_) => Action::RevokeSecurityGroupIngress,
            Request::RevokeSecurityGroupEgress(_) => Action::RevokeSecurityGroupEgress,
            Request::DescribeSecurityGroups(_) => Action::DescribeSecurityGroups,
            Request::DescribeImages(_) => Action::DescribeImages,
            Request::RunInstances(_) => Action::RunInstances,
            Request::DescribeInstances(_) => Action::DescribeInstances,
            Request::TerminateInstances(_) => Action::TerminateInstances,
        }
    }

    /// Whether `DryRun=true` was given.
    pub fn dry_run(&self) -> bool {
        match self {
            Request::AllocateAddress(r) => r.dry_run,
            Request::AssociateAddress(r) => r.dry_run,
            Request::DisassociateAddress(r) => r.dry_run,
            Request::ReleaseAddress(r) => r.dry_run,
            Request::DescribeAddresses(r) => r.dry_run,
            Request::CreateSecurityGroup(r) => r.dry_run,
            Request::DeleteSecurityGroup(r) => r.dry_run,
            Request::AuthorizeSecurityGroupIngress(r)
            | Request::AuthorizeSecurityGroupEgress(r)
            | Request::RevokeSecurityGroupIngress(r)
            | Request::RevokeSecurityGroupEgress(r) => r.dry_run,
            Request::DescribeSecurityGroups(r) => r.dry_run,
            Request::DescribeImages(r) => r.dry_run,
            Request::RunInstances(r) => r.dry_run,
            Request::DescribeInstances(r) => r.dry_run,
            Request::TerminateInstances(r) => r.dry_run,
        }
    }

    /// The request as Query API parameters (with `Action` and `Version`), written the way
    /// botocore writes them: `parse_params(&r.to_params(v)) == Ok((v, r))`.
    pub fn to_params(&self, version: ApiVersion) -> Params {
        let mut w = Writer::default();
        w.put("Action", self.action().as_str());
        w.put("Version", version.as_str());
        match self {
            Request::AllocateAddress(r) => {
                w.opt("Domain", r.domain.map(|d| d.as_str().to_owned()));
            }
            Request::AssociateAddress(r) => {
                write_address_ref(&mut w, &r.address);
                w.opt(
                    "InstanceId",
                    r.instance_id.as_ref().map(ToString::to_string),
                );
                w.opt(
                    "NetworkInterfaceId",
                    r.network_interface_id.as_ref().map(ToString::to_string),
                );
                w.opt(
                    "PrivateIpAddress",
                    r.private_ip_address.map(|a| a.to_string()),
                );
                w.opt(
                    "AllowReassociation",
                    r.allow_reassociation.map(|b| b.to_string()),
                );
            }
            Request::DisassociateAddress(r) => match &r.association {
                AssociationRef::PublicIp(ip) => w.put("PublicIp", &ip.to_string()),
                AssociationRef::AssociationId(id) => w.put("AssociationId", id.as_str()),
            },
            Request::ReleaseAddress(r) => write_address_ref(&mut w, &r.address),
            Request::DescribeAddresses(r) => {
                w.list("PublicIp", &r.public_ips);
                w.list("AllocationId", &r.allocation_ids);
                w.filters(&r.filters);
            }
            Request::CreateSecurityGroup(r) => {
                w.put("GroupName", &r.group_name);
                w.put("GroupDescription", &r.description);
                w.opt("VpcId", r.vpc_id.clone());
            }
            Request::DeleteSecurityGroup(r) => write_group_ref(&mut w, &r.group),
            Request::AuthorizeSecurityGroupIngress(r)
            | Request::AuthorizeSecurityGroupEgress(r)
            | Request::RevokeSecurityGroupIngress(r)
            | Request::RevokeSecurityGroupEgress(r) => {
                write_group_ref(&mut w, &r.group);
                for (i, perm) in r.permissions.iter().enumerate() {
                    write_permission(&mut w, &format!("IpPermissions.{}.", i + 1), perm);
                }
            }
            Request::DescribeSecurityGroups(r) => {
                w.list("GroupName", &r.group_names);
                w.list("GroupId", &r.group_ids);
                w.filters(&r.filters);
            }
            Request::DescribeImages(r) => {
                w.list("ImageId", &r.image_ids);
                w.list("Owner", &r.owners);
                w.list("ExecutableBy", &r.executable_by);
                w.filters(&r.filters);
            }
            Request::RunInstances(r) => {
                w.put("ImageId", r.image_id.as_str());
                w.put("MinCount", &r.min_count.to_string());
                w.put("MaxCount", &r.max_count.to_string());
                w.opt("InstanceType", r.instance_type.clone());
                w.opt("KeyName", r.key_name.clone());
                w.opt("UserData", r.user_data.clone());
                w.list("SecurityGroup", &r.security_groups);
                w.list("SecurityGroupId", &r.security_group_ids);
                w.opt("ClientToken", r.client_token.clone());
                w.opt("SubnetId", r.subnet_id.clone());
                w.opt(
                    "PrivateIpAddress",
                    r.private_ip_address.map(|a| a.to_string()),
                );
                w.opt("Placement.AvailabilityZone", r.availability_zone.clone());
            }
            Request::DescribeInstances(r) => {
                w.list("InstanceId", &r.instance_ids);
                w.filters(&r.filters);
                w.opt("MaxResults", r.max_results.map(|m| m.to_string()));
                w.opt("NextToken", r.next_token.clone());
            }
            Request::TerminateInstances(r) => w.list("InstanceId", &r.instance_ids),
        }
        if self.dry_run() {
            w.put("DryRun", "true");
        }
        Params::from_unique_pairs(w.pairs)
    }
}

// --- Writing -------------------------------------------------------------------------------

#[derive(Default)]
struct Writer {
    pairs: Vec<(String, String)>,
}

impl Writer {
    fn put(&mut self, name: &str, value: &str) {
        self.pairs.push((name.to_owned(), value.to_owned()));
    }

    fn opt(&mut self, name: &str, value: Option<String>) {
        if let Some(v) = value {
            self.pairs.push((name.to_owned(), v));
        }
    }

    fn list<T: ToString>(&mut self, name: &str, items: &[T]) {
        for (i, item) in items.iter().enumerate() {
            self.pairs
                .push((format!("{name}.{}", i + 1), item.to_string()));
        }
    }

    fn filters<K: FilterKey>(&mut self, filters: &[Filter<K>]) {
        for (i, f) in filters.iter().enumerate() {
            let n = i + 1;
            self.pairs
                .push((format!("Filter.{n}.Name"), f.key.name().into_owned()));
            for (j, v) in f.values.iter().enumerate() {
                self.pairs
                    .push((format!("Filter.{n}.Value.{}", j + 1), v.clone()));
            }
        }
    }
}

fn write_address_ref(w: &mut Writer, a: &AddressRef) {
    match a {
        AddressRef::PublicIp(ip) => w.put("PublicIp", &ip.to_string()),
        AddressRef::AllocationId(id) => w.put("AllocationId", id.as_str()),
    }
}

fn write_group_ref(w: &mut Writer, g: &GroupRef) {
    match g {
        GroupRef::Id(id) => w.put("GroupId", id.as_str()),
        GroupRef::Name(n) => w.put("GroupName", n),
    }
}

fn write_permission(w: &mut Writer, prefix: &str, p: &IpPermission) {
    w.put(&format!("{prefix}IpProtocol"), &p.protocol.to_string());
    if let Some((from, to)) = p.ports.wire() {
        w.put(&format!("{prefix}FromPort"), &from.to_string());
        w.put(&format!("{prefix}ToPort"), &to.to_string());
    }
    for (j, r) in p.ip_ranges.iter().enumerate() {
        let q = format!("{prefix}IpRanges.{}.", j + 1);
        w.put(&format!("{q}CidrIp"), &r.cidr.to_string());
        w.opt(&format!("{q}Description"), r.description.clone());
    }
    for (j, r) in p.ipv6_ranges.iter().enumerate() {
        let q = format!("{prefix}Ipv6Ranges.{}.", j + 1);
        w.put(&format!("{q}CidrIpv6"), &r.cidr.to_string());
        w.opt(&format!("{q}Description"), r.description.clone());
    }
    for (j, g) in p.groups.iter().enumerate() {
        let q = format!("{prefix}Groups.{}.", j + 1);
        w.opt(
            &format!("{q}GroupId"),
            g.group_id.as_ref().map(ToString::to_string),
        );
        w.opt(&format!("{q}GroupName"), g.group_name.clone());
        w.opt(&format!("{q}UserId"), g.user_id.clone());
        w.opt(&format!("{q}Description"), g.description.clone());
    }
}

// --- Reading -------------------------------------------------------------------------------

/// An optional parameter, validated.
fn opt<T>(
    p: &Params,
    name: &'static str,
    parse: impl FnOnce(&'static str, &str) -> Result<T, Ec2Error>,
) -> Result<Option<T>, Ec2Error> {
    p.get(name).map(|v| parse(name, v)).transpose()
}

/// A required parameter, validated.
fn req<T>(
    p: &Params,
    name: &'static str,
    parse: impl FnOnce(&'static str, &str) -> Result<T, Ec2Error>,
) -> Result<T, Ec2Error> {
    match p.get(name) {
        Some(v) => parse(name, v),
        None => Err(Ec2Error::missing_parameter(name)),
    }
}

/// Parses the `N` of `Name.N`: a positive decimal number up to [`MAX_INDEX`].
pub(crate) fn parse_index(prefix: impl fmt::Display, s: &str) -> Result<u32, Ec2Error> {
    let n = if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse::<u32>().ok()
    } else {
        None
    };
    match n {
        Some(n) if (1..=MAX_INDEX).contains(&n) => Ok(n),
        _ => Err(Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "Invalid list index in parameter {prefix}{}: expecting a number from 1 to {MAX_INDEX}",
                quote(s)
            ),
        )),
    }
}

/// The members of a `Name.N` list, ordered by `N`.
fn list<T>(
    p: &Params,
    name: &str,
    parse: impl Fn(Cat<'_, str>, &str) -> Result<T, Ec2Error>,
) -> Result<Vec<T>, Ec2Error> {
    let prefix = format!("{name}.");
    let mut items: BTreeMap<u32, (&str, &str)> = BTreeMap::new();
    for (rest, value) in p.with_prefix(&prefix) {
        if rest.contains('.') {
            return Err(Ec2Error::new(
                ErrorCode::UnknownParameter,
                format!("The parameter {prefix}{} is not recognized", quote(rest)),
            ));
        }
        let n = parse_index(&prefix, rest)?;
        if items.insert(n, (rest, value)).is_some() {
            return Err(duplicate_index(&prefix, n));
        }
    }
    items
        .into_values()
        .map(|(rest, value)| parse(Cat(prefix.as_str(), rest), value))
        .collect()
}

fn duplicate_index(prefix: impl fmt::Display, n: u32) -> Ec2Error {
    Ec2Error::new(
        ErrorCode::InvalidParameterValue,
        format!("The list index {prefix}{n} is given more than once"),
    )
}

/// `(field, value)` pairs of one structure member, the member prefix removed.
type Fields<'a> = Vec<(&'a str, &'a str)>;

/// The fields of a `Name.N.Field...` structure list, grouped by `N` in order.
fn structs<'a>(p: &'a Params, prefix: &str) -> Result<Vec<(u32, Fields<'a>)>, Ec2Error> {
    let mut entries: Vec<(u32, &str, &str, &str)> = Vec::new();
    for (name, value) in p.iter() {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            return Err(Ec2Error::new(
                ErrorCode::UnknownParameter,
                format!("The parameter {prefix}{} is not recognized", quote(rest)),
            ));
        };
        entries.push((parse_index(prefix, idx)?, idx, field, value));
    }
    // Stable: fields keep their order within a member.
    entries.sort_by_key(|e| e.0);
    let mut out: Vec<(u32, Fields<'a>)> = Vec::new();
    let mut spelling = "";
    for (n, idx, field, value) in entries {
        match out.last_mut() {
            Some((last, fields)) if *last == n => {
                // "1" and "01" are the same index: refuse the ambiguity.
                if idx != spelling {
                    return Err(duplicate_index(prefix, n));
                }
                fields.push((field, value));
            }
            _ => {
                spelling = idx;
                out.push((n, vec![(field, value)]));
            }
        }
    }
    Ok(out)
}

fn filters<K: FilterKey>(p: &Params) -> Result<Vec<Filter<K>>, Ec2Error> {
    structs(p, "Filter.")?
        .into_iter()
        .map(|(n, fields)| parse_filter(n, &fields))
        .collect()
}

fn parse_u32(name: &str, value: &str) -> Result<u32, Ec2Error> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Ec2Error::invalid_value(
            name,
            value,
            "It must be a non-negative integer.",
        ));
    }
    value
        .parse()
        .map_err(|_| Ec2Error::invalid_value(name, value, "It is too large."))
}

/// Free text: at most [`MAX_NAME_CHARS`] characters, at least `min`, no control characters.
fn text(name: impl fmt::Display, value: &str, min: usize) -> Result<String, Ec2Error> {
    let chars = value.chars().count();
    if chars < min {
        return Err(Ec2Error::invalid_value(
            name,
            value,
            "It must not be empty.",
        ));
    }
    if chars > MAX_NAME_CHARS {
        return Err(Ec2Error::invalid_value(
            name,
            value,
            &format!("It is {chars} characters long; at most {MAX_NAME_CHARS} are allowed."),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Ec2Error::invalid_value(
            name,
            value,
            "It must not contain control characters.",
        ));
    }
    Ok(value.to_owned())
}

fn group_name(name: impl fmt::Display, value: &str) -> Result<String, Ec2Error> {
    text(name, value, 1)
}

fn address_ref(p: &Params) -> Result<AddressRef, Ec2Error> {
    let ip = opt(p, "PublicIp", parse_ipv4)?;
    let id = opt(p, "AllocationId", AllocationId::parse_param)?;
    match (ip, id) {
        (Some(ip), None) => Ok(AddressRef::PublicIp(ip)),
        (None, Some(id)) => Ok(AddressRef::AllocationId(id)),
        (Some(_), Some(_)) => Err(Ec2Error::invalid_combination(
            "The parameters PublicIp and AllocationId cannot be used together",
        )),
        (None, None) => Err(Ec2Error::missing_parameter("PublicIp or AllocationId")),
    }
}

fn group_ref(p: &Params, id_only: bool) -> Result<GroupRef, Ec2Error> {
    let id = opt(p, "GroupId", GroupId::parse_param)?;
    if id_only {
        return id
            .map(GroupRef::Id)
            .ok_or_else(|| Ec2Error::missing_parameter("GroupId"));
    }
    let name = opt(p, "GroupName", group_name)?;
    match (id, name) {
        (Some(id), None) => Ok(GroupRef::Id(id)),
        (None, Some(name)) => Ok(GroupRef::Name(name)),
        (Some(_), Some(_)) => Err(Ec2Error::invalid_combination(
            "The parameters GroupId and GroupName cannot be used together",
        )),
        (None, None) => Err(Ec2Error::missing_parameter("GroupId or GroupName")),
    }
}

const FLAT: &[&str] = &[
    "IpProtocol",
    "FromPort",
    "ToPort",
    "CidrIp",
    "SourceSecurityGroupName",
    "SourceSecurityGroupOwnerId",
];

fn rules(p: &Params, egress: bool, dry_run: bool) -> Result<SecurityGroupRules, Ec2Error> {
    let group = group_ref(p, egress)?;
    let structured = structs(p, "IpPermissions.")?;
    let has_flat = FLAT.iter().any(|n| p.get(n).is_some());
    let permissions = if has_flat {
        if !structured.is_empty() {
            return Err(Ec2Error::invalid_combination(
                "The parameter IpPermissions cannot be used with the parameters IpProtocol, FromPort, ToPort, CidrIp, SourceSecurityGroupName or SourceSecurityGroupOwnerId",
            ));
        }
        flat_permissions(p)?
    } else {
        structured
            .into_iter()
            .map(|(n, fields)| permission(n, &fields))
            .collect::<Result<Vec<_>, _>>()?
    };
    if permissions.is_empty() {
        return Err(Ec2Error::missing_parameter("IpPermissions"));
    }
    Ok(SecurityGroupRules {
        group,
        permissions,
        dry_run,
    })
}

/// The flat parameters of the 2009-era API, still sent by boto 2.
fn flat_permissions(p: &Params) -> Result<Vec<IpPermission>, Ec2Error> {
    let source_group = opt(p, "SourceSecurityGroupName", group_name)?;
    let owner = opt(p, "SourceSecurityGroupOwnerId", |n, v| text(n, v, 1))?;
    let cidr = opt(p, "CidrIp", parse_cidr_v4)?;
    if owner.is_some() && source_group.is_none() {
        return Err(Ec2Error::permission_malformed(
            "SourceSecurityGroupOwnerId is given without SourceSecurityGroupName: \
             the source group pair names no security group",
        ));
    }
    if cidr.is_some() && source_group.is_some() {
        return Err(Ec2Error::invalid_combination(
            "The parameter CidrIp cannot be used with the parameter SourceSecurityGroupName",
        ));
    }
    let groups: Vec<UserIdGroupPair> = source_group
        .map(|name| UserIdGroupPair {
            group_id: None,
            group_name: Some(name),
            user_id: owner,
            description: None,
        })
        .into_iter()
        .collect();
    let ip_ranges: Vec<IpRange> = cidr
        .map(|cidr| IpRange {
            cidr,
            description: None,
        })
        .into_iter()
        .collect();
    match p.get("IpProtocol") {
        Some(proto) => {
            let protocol = Protocol::parse_param("IpProtocol", proto)?;
            let ports = Ports::from_wire(protocol, "", p.get("FromPort"), p.get("ToPort"))?;
            if ip_ranges.is_empty() && groups.is_empty() {
                return Err(Ec2Error::new(
                    ErrorCode::MissingParameter,
                    "Missing source specification: include source security group or CIDR \
                     information (CidrIp or SourceSecurityGroupName)",
                ));
            }
            Ok(vec![IpPermission {
                protocol,
                ports,
                ip_ranges,
                ipv6_ranges: Vec::new(),
                groups,
            }])
        }
        None => {
            if groups.is_empty() || !ip_ranges.is_empty() {
                return Err(Ec2Error::missing_parameter("IpProtocol"));
            }
            if p.get("FromPort").is_some() || p.get("ToPort").is_some() {
                return Err(Ec2Error::missing_parameter("IpProtocol"));
            }
            // EC2-Classic: a source group alone opens all TCP, UDP and ICMP.
            let all = |protocol, ports| IpPermission {
                protocol,
                ports,
                ip_ranges: Vec::new(),
                ipv6_ranges: Vec::new(),
                groups: groups.clone(),
            };
            Ok(vec![
                all(Protocol::Tcp, Ports::Range { from: 0, to: 65535 }),
                all(Protocol::Udp, Ports::Range { from: 0, to: 65535 }),
                all(
                    Protocol::Icmp,
                    Ports::Icmp {
                        icmp_type: None,
                        code: None,
                    },
                ),
            ])
        }
    }
}

fn unknown_field(prefix: impl fmt::Display, field: &str) -> Ec2Error {
    Ec2Error::new(
        ErrorCode::UnknownParameter,
        format!("The parameter {prefix}{} is not recognized", quote(field)),
    )
}

/// `{prefix}{n}.`: the name of list member `n`, formatted only when displayed.
#[derive(Debug)]
struct Idx<'a, P: ?Sized>(&'a P, u32);

impl<P: ?Sized> Clone for Idx<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: ?Sized> Copy for Idx<'_, P> {}

impl<P: fmt::Display + ?Sized> fmt::Display for Idx<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}.", self.0, self.1)
    }
}

/// One `IpPermissions.N.*` structure.
fn permission(n: u32, fields: &[(&str, &str)]) -> Result<IpPermission, Ec2Error> {
    let prefix = Idx("IpPermissions.", n);
    let mut protocol = None;
    let mut from = None;
    let mut to = None;
    let mut ranges: Vec<(&str, &str)> = Vec::new();
    let mut ranges6: Vec<(&str, &str)> = Vec::new();
    let mut groups: Vec<(&str, &str)> = Vec::new();
    for &(field, value) in fields {
        match field {
            "IpProtocol" => protocol = Some(value),
            "FromPort" => from = Some(value),
            "ToPort" => to = Some(value),
            _ => {
                if let Some(rest) = field.strip_prefix("IpRanges.") {
                    ranges.push((rest, value));
                } else if let Some(rest) = field.strip_prefix("Ipv6Ranges.") {
                    ranges6.push((rest, value));
                } else if let Some(rest) = field.strip_prefix("Groups.") {
                    groups.push((rest, value));
                } else {
                    return Err(unknown_field(prefix, field));
                }
            }
        }
    }
    let proto_name = Cat(&prefix, "IpProtocol");
    let protocol = Protocol::parse_param(
        proto_name,
        protocol.ok_or_else(|| Ec2Error::missing_parameter(proto_name))?,
    )?;
    let ports = Ports::from_wire(protocol, prefix, from, to)?;

    let list = Cat(&prefix, "IpRanges.");
    let ip_ranges = sub_structs(list, &ranges)?
        .into_iter()
        .map(|(m, fields)| {
            let q = Idx(&list, m);
            let mut cidr = None;
            let mut description = None;
            for (f, v) in fields {
                match f {
                    "CidrIp" => cidr = Some(parse_cidr_v4(Cat(&q, "CidrIp"), v)?),
                    "Description" => description = Some(text(Cat(&q, "Description"), v, 0)?),
                    other => return Err(unknown_field(q, other)),
                }
            }
            let cidr = cidr.ok_or_else(|| Ec2Error::missing_parameter(Cat(&q, "CidrIp")))?;
            Ok(IpRange { cidr, description })
        })
        .collect::<Result<Vec<_>, Ec2Error>>()?;
    let list6 = Cat(&prefix, "Ipv6Ranges.");
    let ipv6_ranges = sub_structs(list6, &ranges6)?
        .into_iter()
        .map(|(m, fields)| {
            let q = Idx(&list6, m);
            let mut cidr = None;
            let mut description = None;
            for (f, v) in fields {
                match f {
                    "CidrIpv6" => cidr = Some(parse_cidr_v6(Cat(&q, "CidrIpv6"), v)?),
                    "Description" => description = Some(text(Cat(&q, "Description"), v, 0)?),
                    other => return Err(unknown_field(q, other)),
                }
            }
            let cidr = cidr.ok_or_else(|| Ec2Error::missing_parameter(Cat(&q, "CidrIpv6")))?;
            Ok(Ipv6Range { cidr, description })
        })
        .collect::<Result<Vec<_>, Ec2Error>>()?;
    let glist = Cat(&prefix, "Groups.");
    let groups = sub_structs(glist, &groups)?
        .into_iter()
        .map(|(m, fields)| {
            let q = Idx(&glist, m);
            let mut pair = UserIdGroupPair {
                group_id: None,
                group_name: None,
                user_id: None,
                description: None,
            };
            for (f, v) in fields {
                let name = Cat(&q, f);
                match f {
                    "GroupId" => pair.group_id = Some(GroupId::parse_param(name, v)?),
                    "GroupName" => pair.group_name = Some(group_name(name, v)?),
                    "UserId" => pair.user_id = Some(text(name, v, 1)?),
                    "Description" => pair.description = Some(text(name, v, 0)?),
                    other => return Err(unknown_field(q, other)),
                }
            }
            if pair.group_id.is_none() && pair.group_name.is_none() {
                return Err(Ec2Error::permission_malformed(format_args!(
                    "{q}* names no security group (give {q}GroupId or {q}GroupName)"
                )));
            }
            Ok(pair)
        })
        .collect::<Result<Vec<_>, Ec2Error>>()?;
    if ip_ranges.is_empty() && ipv6_ranges.is_empty() && groups.is_empty() {
        return Err(Ec2Error::new(
            ErrorCode::MissingParameter,
            format!(
                "Missing source specification: include source security group or CIDR information \
                 ({prefix}IpRanges, {prefix}Ipv6Ranges or {prefix}Groups)"
            ),
        ));
    }
    Ok(IpPermission {
        protocol,
        ports,
        ip_ranges,
        ipv6_ranges,
        groups,
    })
}

/// Groups `M.Field` pairs by `M`, in order of `M`.
fn sub_structs<'a>(
    prefix: impl fmt::Display + Copy,
    pairs: &[(&'a str, &'a str)],
) -> Result<Vec<(u32, Fields<'a>)>, Ec2Error> {
    let mut out: BTreeMap<u32, (&str, Fields<'a>)> = BTreeMap::new();
    for &(rest, value) in pairs {
        let Some((idx, field)) = rest.split_once('.') else {
            return Err(unknown_field(prefix, rest));
        };
        let m = parse_index(prefix, idx)?;
        let entry = out.entry(m).or_insert((idx, Vec::new()));
        if entry.0 != idx {
            return Err(duplicate_index(prefix, m));
        }
        entry.1.push((field, value));
    }
    Ok(out
        .into_iter()
        .map(|(m, (_, fields))| (m, fields))
        .collect())
}

fn run_instances(p: &Params, dry_run: bool) -> Result<RunInstances, Ec2Error> {
    let image_id = req(p, "ImageId", ImageId::parse_param)?;
    let count = |n: &str, v: &str| {
        let c = parse_u32(n, v)?;
        if c == 0 {
            return Err(Ec2Error::invalid_value(n, v, "It must be at least 1."));
        }
        Ok(c)
    };
    let min_count = req(p, "MinCount", count)?;
    let max_count = req(p, "MaxCount", count)?;
    if min_count > max_count {
        return Err(Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!("MinCount ({min_count}) must not be greater than MaxCount ({max_count})"),
        ));
    }
    let ascii_token = |n: &str, v: &str| {
        if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Ec2Error::invalid_value(
                n,
                v,
                "It must be 1 to 64 printable ASCII characters.",
            ));
        }
        Ok(v.to_owned())
    };
    Ok(RunInstances {
        image_id,
        min_count,
        max_count,
        instance_type: opt(p, "InstanceType", ascii_token)?,
        key_name: opt(p, "KeyName", |n, v| text(n, v, 1))?,
        user_data: opt(p, "UserData", user_data)?,
        security_groups: list(p, "SecurityGroup", |n, v| group_name(n, v))?,
        security_group_ids: list(p, "SecurityGroupId", |n, v| GroupId::parse_param(n, v))?,
        client_token: opt(p, "ClientToken", ascii_token)?,
        subnet_id: opt(p, "SubnetId", ascii_token)?,
        private_ip_address: opt(p, "PrivateIpAddress", parse_ipv4)?,
        availability_zone: opt(p, "Placement.AvailabilityZone", ascii_token)?,
        dry_run,
    })
}

/// `UserData`: standard base64 with padding, at most [`MAX_USER_DATA_BYTES`] decoded.
fn user_data(name: impl fmt::Display, value: &str) -> Result<String, Ec2Error> {
    let bytes = value.as_bytes();
    let pad = bytes.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &bytes[..bytes.len() - pad];
    let valid = bytes.len().is_multiple_of(4)
        && pad <= 2
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if !valid {
        return Err(Ec2Error::invalid_value(
            name,
            value,
            "Invalid BASE64 encoding of user data.",
        ));
    }
    let decoded = bytes.len() / 4 * 3 - pad;
    if decoded > MAX_USER_DATA_BYTES {
        return Err(Ec2Error::invalid_value(
            name,
            &format!("{decoded} bytes"),
            &format!("User data is limited to {MAX_USER_DATA_BYTES} bytes."),
        ));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<(ApiVersion, Request), Ec2Error> {
        parse_request(&HttpRequest::form_post(body))
    }

    fn code(body: &str) -> String {
        parse(body).unwrap_err().code().to_owned()
    }

    const V: &str = "Version=2016-11-15";

    #[test]
    fn action_and_version_are_required_and_known() {
        assert_eq!(code(V), "MissingAction");
        assert_eq!(
            code(&format!("Action=RebootInstances&{V}")),
            "InvalidAction"
        );
        assert_eq!(code("Action=DescribeAddresses"), "MissingParameter");
        assert_eq!(
            code("Action=DescribeAddresses&Version=2010-01-01"),
            "NoSuchVersion"
        );
        let (v, r) = parse("Action=DescribeAddresses&Version=2014-10-01").unwrap();
        assert_eq!(v, ApiVersion::V2014_10_01);
        assert_eq!(r.action(), Action::DescribeAddresses);
    }

    #[test]
    fn flat_source_group_expands_to_tcp_udp_icmp() {
        let req = HttpRequest::new(
            "GET",
            "/?Action=AuthorizeSecurityGroupIngress&GroupName=web&SourceSecurityGroupName=other%20group&SourceSecurityGroupOwnerId=123456789012&Version=2014-10-01",
        );
        let (_, r) = parse_request(&req).unwrap();
        let Request::AuthorizeSecurityGroupIngress(r) = r else {
            panic!()
        };
        assert_eq!(r.group, GroupRef::Name("web".into()));
        let protos: Vec<_> = r.permissions.iter().map(|p| p.protocol).collect();
        assert_eq!(protos, [Protocol::Tcp, Protocol::Udp, Protocol::Icmp]);
        for p in &r.permissions {
            assert_eq!(p.groups.len(), 1);
            assert_eq!(p.groups[0].group_name.as_deref(), Some("other group"));
            assert_eq!(p.groups[0].user_id.as_deref(), Some("123456789012"));
        }
        assert_eq!(r.permissions[0].ports, Ports::Range { from: 0, to: 65535 });
    }

    #[test]
    fn rule_errors() {
        let base = format!("Action=AuthorizeSecurityGroupIngress&{V}&GroupId=sg-1");
        let c = |rest: &str| code(&format!("{base}&{rest}"));
        assert_eq!(c("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=x&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"), "InvalidParameterValue");
        assert_eq!(c("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=9&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"), "InvalidParameterValue");
        assert_eq!(c("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/33"), "InvalidParameterValue");
        assert_eq!(c("IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=1&IpPermissions.1.ToPort=1"), "MissingParameter");
        assert_eq!(
            c("IpPermissions.1.IpProtocol=xyz&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"),
            "InvalidParameterValue"
        );
        assert_eq!(
            c("IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"),
            "MissingParameter"
        );
        assert_eq!(c("IpPermissions.1.IpProtocol=-1&IpPermissions.1.Bogus=1&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0"), "UnknownParameter");
        assert_eq!(c("IpPermissions.0.IpProtocol=-1"), "InvalidParameterValue");
        assert_eq!(c("IpPermissions.x.IpProtocol=-1"), "InvalidParameterValue");
        assert_eq!(c("IpPermissions.1=-1"), "UnknownParameter");
        assert_eq!(
            c("IpPermissions.1.IpProtocol=-1&IpPermissions.01.IpRanges.1.CidrIp=0.0.0.0/0"),
            "InvalidParameterValue"
        );
        assert_eq!(
            c("IpPermissions.1.IpProtocol=-1&IpPermissions.1.Groups.1.UserId=1"),
            "InvalidPermission.Malformed"
        );
        assert_eq!(
            c("IpProtocol=tcp&FromPort=1&ToPort=2&CidrIp=1.0.0.0/8&IpPermissions.1.IpProtocol=-1"),
            "InvalidParameterCombination"
        );
        assert_eq!(c("IpProtocol=tcp&FromPort=1&ToPort=2"), "MissingParameter");
        assert_eq!(
            c("FromPort=1&ToPort=2&CidrIp=1.0.0.0/8"),
            "MissingParameter"
        );
        assert_eq!(
            c("IpProtocol=tcp&FromPort=1&ToPort=2&CidrIp=1.0.0.0/8&SourceSecurityGroupName=g"),
            "InvalidParameterCombination"
        );
        assert_eq!(
            c("SourceSecurityGroupOwnerId=123456789012"),
            "InvalidPermission.Malformed"
        );
        assert_eq!(
            code(&format!(
                "Action=AuthorizeSecurityGroupIngress&{V}&GroupId=sg-1"
            )),
            "MissingParameter"
        );
        assert_eq!(code(&format!("Action=AuthorizeSecurityGroupIngress&{V}&GroupId=sg-x&IpProtocol=-1&CidrIp=0.0.0.0/0")), "InvalidGroupId.Malformed");
        assert_eq!(code(&format!("Action=AuthorizeSecurityGroupEgress&{V}&GroupName=web&IpProtocol=-1&CidrIp=0.0.0.0/0")), "MissingParameter");
        assert_eq!(code(&format!("Action=AuthorizeSecurityGroupIngress&{V}&GroupName=web&GroupId=sg-1&IpProtocol=-1&CidrIp=0.0.0.0/0")), "InvalidParameterCombination");
        let e = parse(&format!("{base}&IpPermissions.2.IpProtocol=tcp&IpPermissions.2.FromPort=80&IpPermissions.2.ToPort=x8&IpPermissions.2.IpRanges.1.CidrIp=0.0.0.0/0")).unwrap_err();
        assert!(
            e.message().contains("IpPermissions.2.ToPort") && e.message().contains("x8"),
            "{e}"
        );
    }

    #[test]
    fn cidr_host_bits_are_cleared() {
        let (_, r) = parse(&format!("Action=RevokeSecurityGroupIngress&{V}&GroupName=web&IpProtocol=tcp&FromPort=22&ToPort=22&CidrIp=10.1.2.3/8")).unwrap();
        let Request::RevokeSecurityGroupIngress(r) = r else {
            panic!()
        };
        assert_eq!(r.permissions[0].ip_ranges[0].cidr.to_string(), "10.0.0.0/8");
    }

    #[test]
    fn address_errors() {
        assert_eq!(
            code(&format!("Action=AllocateAddress&{V}&Domain=foo")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("Action=ReleaseAddress&{V}")),
            "MissingParameter"
        );
        assert_eq!(
            code(&format!(
                "Action=ReleaseAddress&{V}&PublicIp=1.2.3.4&AllocationId=eipalloc-1"
            )),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(&format!(
                "Action=ReleaseAddress&{V}&AllocationId=eipassoc-1"
            )),
            "InvalidAllocationID.Malformed"
        );
        assert_eq!(
            code(&format!("Action=DisassociateAddress&{V}&AssociationId=x")),
            "InvalidAssociationID.Malformed"
        );
        assert_eq!(
            code(&format!("Action=AssociateAddress&{V}&PublicIp=1.2.3.4")),
            "MissingParameter"
        );
        assert_eq!(
            code(&format!(
                "Action=AssociateAddress&{V}&PublicIp=1.2.3.4&InstanceId=i-zz"
            )),
            "InvalidInstanceID.Malformed"
        );
        assert_eq!(
            code(&format!(
                "Action=AssociateAddress&{V}&PublicIp=1.2.3.400&InstanceId=i-1"
            )),
            "InvalidParameterValue"
        );
        assert_eq!(code(&format!("Action=AssociateAddress&{V}&PublicIp=1.2.3.4&InstanceId=i-1&AllowReassociation=maybe")), "InvalidParameterValue");
        assert_eq!(
            code(&format!("Action=DescribeAddresses&{V}&PublicIp.1=x")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!(
                "Action=DescribeAddresses&{V}&Filter.1.Name=bogus&Filter.1.Value.1=x"
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("Action=DescribeAddresses&{V}&DryRun=perhaps")),
            "InvalidParameterValue"
        );
    }

    #[test]
    fn group_and_instance_errors() {
        assert_eq!(
            code(&format!(
                "Action=CreateSecurityGroup&{V}&GroupName=sg-web&GroupDescription=d"
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("Action=CreateSecurityGroup&{V}&GroupName=web")),
            "MissingParameter"
        );
        assert_eq!(
            code(&format!(
                "Action=CreateSecurityGroup&{V}&GroupName=&GroupDescription=d"
            )),
            "InvalidParameterValue"
        );
        let long = "a".repeat(256);
        assert_eq!(
            code(&format!(
                "Action=CreateSecurityGroup&{V}&GroupName={long}&GroupDescription=d"
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!(
                "Action=CreateSecurityGroup&{V}&GroupName=a%01&GroupDescription=d"
            )),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("Action=DeleteSecurityGroup&{V}")),
            "MissingParameter"
        );
        assert_eq!(
            code(&format!("Action=TerminateInstances&{V}")),
            "MissingParameter"
        );
        assert_eq!(
            code(&format!(
                "Action=TerminateInstances&{V}&InstanceId.1=i-1&InstanceId.1.x=2"
            )),
            "UnknownParameter"
        );
        assert_eq!(
            code(&format!(
                "Action=DescribeInstances&{V}&InstanceId.1=i-1&MaxResults=10"
            )),
            "InvalidParameterCombination"
        );
        assert_eq!(
            code(&format!("Action=DescribeInstances&{V}&MaxResults=4")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("Action=DescribeInstances&{V}&InstanceId.1=bad")),
            "InvalidInstanceID.Malformed"
        );
        assert_eq!(
            code(&format!("Action=DescribeImages&{V}&ImageId.1=img-1")),
            "InvalidAMIID.Malformed"
        );
        let run = format!("Action=RunInstances&{V}&ImageId=ami-1");
        assert_eq!(code(&run), "MissingParameter");
        assert_eq!(
            code(&format!("{run}&MinCount=2&MaxCount=1")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("{run}&MinCount=0&MaxCount=1")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("{run}&MinCount=x&MaxCount=1")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!("{run}&MinCount=1&MaxCount=1&UserData=abc")),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(&format!(
                "{run}&MinCount=1&MaxCount=1&SecurityGroupId.1=web"
            )),
            "InvalidGroupId.Malformed"
        );
        let big = "A".repeat(16 * 1024 / 3 * 4 + 8);
        assert_eq!(
            code(&format!("{run}&MinCount=1&MaxCount=1&UserData={big}")),
            "InvalidParameterValue"
        );
        let (_, r) = parse(&format!("{run}&MinCount=1&MaxCount=3&UserData=aGk%3D&KeyName=k&Placement.AvailabilityZone=az1&PrivateIpAddress=10.0.0.5&SubnetId=subnet-1")).unwrap();
        let Request::RunInstances(r) = r else {
            panic!()
        };
        assert_eq!((r.min_count, r.max_count), (1, 3));
        assert_eq!(r.user_data.as_deref(), Some("aGk="));
        assert_eq!(r.availability_zone.as_deref(), Some("az1"));
    }

    #[test]
    fn lists_are_ordered_by_index() {
        let (_, r) = parse(&format!("Action=DescribeInstances&{V}&InstanceId.10=i-a&InstanceId.2=i-b&Filter.2.Name=instance-state-name&Filter.2.Value.1=running&Filter.1.Name=tag:Name&Filter.1.Value.1=web*")).unwrap();
        let Request::DescribeInstances(r) = r else {
            panic!()
        };
        assert_eq!(
            r.instance_ids
                .iter()
                .map(InstanceId::as_str)
                .collect::<Vec<_>>(),
            ["i-b", "i-a"]
        );
        assert_eq!(r.filters[0].key, InstanceFilter::Tag("Name".into()));
        assert_eq!(r.filters[1].key, InstanceFilter::InstanceStateName);
    }

    /// The parameter parts of the requests real clients signed (the signature fixtures):
    /// signature parameters are ignored, every one parses.
    #[test]
    fn signed_client_requests_parse() {
        let boto3 = "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=web+group&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22&IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0&IpPermissions.1.IpRanges.1.Description=ssh+from+anywhere%3B+a%2Bb%3Dc+~%C3%BC";
        let (_, r) = parse(boto3).unwrap();
        let Request::AuthorizeSecurityGroupIngress(r) = r else {
            panic!()
        };
        assert_eq!(r.group, GroupRef::Name("web group".into()));
        assert_eq!(
            r.permissions[0].ip_ranges[0].description.as_deref(),
            Some("ssh from anywhere; a+b=c ~\u{fc}")
        );
        let presigned = HttpRequest::new("GET", "/?Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261126%2Fus-east-1%2Fec2%2Faws4_request&X-Amz-Date=20261126T070318Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=b7cf33fdf7587f96d8d637efeef5902db90b1c22f79f17082c9b2ef285e08101");
        let (_, r) = parse_request(&presigned).unwrap();
        assert_eq!(r.action(), Action::DescribeInstances);
        let sigv2 = HttpRequest::new("POST", "/")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body("Action=DescribeAddresses&Version=2014-10-01&PublicIp.1=1.2.3.4&AWSAccessKeyId=AKIDEXAMPLE&SignatureVersion=2&SignatureMethod=HmacSHA256&Timestamp=2026-11-26T07%3A03%3A18Z&Signature=HMQgScSqoK2vi5h9Tm%2BJRMBXxUVYzN4lmphWlLg4O%2FA%3D");
        let (v, r) = parse_request(&sigv2).unwrap();
        assert_eq!(v, ApiVersion::V2014_10_01);
        let Request::DescribeAddresses(r) = r else {
            panic!()
        };
        assert_eq!(r.public_ips, [Ipv4Addr::new(1, 2, 3, 4)]);
        let boto2 = HttpRequest::new("POST", "/")
            .with_header("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
            .with_body("Action=CreateSecurityGroup&GroupDescription=desc%20with%20spaces%20%26%20symbols%20%2B%2F%3D&GroupName=web%20group&Version=2014-10-01");
        let (_, r) = parse_request(&boto2).unwrap();
        let Request::CreateSecurityGroup(r) = r else {
            panic!()
        };
        assert_eq!(r.group_name, "web group");
        assert_eq!(r.description, "desc with spaces & symbols +/=");
    }

    #[test]
    fn many_parameters_are_accepted_up_to_the_limit() {
        let ids: String = (1..=1997)
            .map(|i| format!("&InstanceId.{i}=i-{i:x}"))
            .collect();
        let (_, r) = parse(&format!("Action=DescribeInstances&{V}{ids}")).unwrap();
        let Request::DescribeInstances(r) = r else {
            panic!()
        };
        assert_eq!(r.instance_ids.len(), 1997);
        let e = parse(&format!("Action=DescribeInstances&{V}{ids}&a=1&b=2")).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(e.message().contains("2000"));
        let e = parse(&format!(
            "Action=DescribeInstances&{V}{ids}&InstanceId.5=i-5"
        ))
        .unwrap_err();
        assert!(e.message().contains("InstanceId.5"));
    }

    #[test]
    fn text_fields_are_bounded_and_printable() {
        let perm = format!(
            "Action=AuthorizeSecurityGroupIngress&{V}&GroupId=sg-1&IpPermissions.1.IpProtocol=-1"
        );
        let long = "d".repeat(256);
        let e = parse(&format!(
            "{perm}&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpPermissions.1.IpRanges.1.Description={long}"
        ))
        .unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(
            e.message()
                .contains("IpPermissions.1.IpRanges.1.Description"),
            "{e}"
        );
        let ok = "d".repeat(255);
        assert!(parse(&format!(
            "{perm}&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0&IpPermissions.1.IpRanges.1.Description={ok}"
        ))
        .is_ok());
        let e = parse(&format!(
            "{perm}&IpPermissions.1.Groups.1.GroupId=sg-2&IpPermissions.1.Groups.1.UserId=a%0Ab"
        ))
        .unwrap_err();
        assert!(
            e.message().contains("IpPermissions.1.Groups.1.UserId"),
            "{e}"
        );
        let e = parse(&format!("{perm}&IpPermissions.1.Groups.1.GroupId=sg-x")).unwrap_err();
        assert_eq!(e.code(), "InvalidGroupId.Malformed");
        assert!(
            e.message().contains("IpPermissions.1.Groups.1.GroupId"),
            "{e}"
        );
        let e = parse(&format!("{perm}&IpPermissions.1.Ipv6Ranges.1.CidrIpv6=zz")).unwrap_err();
        assert!(
            e.message()
                .contains("IpPermissions.1.Ipv6Ranges.1.CidrIpv6"),
            "{e}"
        );
        let e = parse(&format!("{perm}&IpPermissions.1.IpRanges.1.Description=x")).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::MissingParameter);
        assert!(
            e.message().contains("IpPermissions.1.IpRanges.1.CidrIp"),
            "{e}"
        );
        let e = parse(&format!("{perm}&IpPermissions.1.IpRanges.1.Cidr=0.0.0.0/0")).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::UnknownParameter);
        // A group pair that names no group is a malformed rule, named in the message; a bad
        // CIDR block stays InvalidParameterValue.
        let e = parse(&format!(
            "{perm}&IpPermissions.1.Groups.1.UserId=123456789012&IpPermissions.1.Groups.1.Description=x"
        ))
        .unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidPermissionMalformed);
        assert_eq!(e.http_status(), 400);
        assert!(
            e.message().contains("IpPermissions.1.Groups.1.GroupId")
                && e.message().contains("malformed"),
            "{e}"
        );
        let e = parse(
            "Action=AuthorizeSecurityGroupIngress&Version=2014-10-01&GroupName=web\
             &SourceSecurityGroupOwnerId=123456789012",
        )
        .unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidPermissionMalformed);
        assert!(e.message().contains("SourceSecurityGroupName"), "{e}");
        let e = parse(&format!(
            "{perm}&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/33"
        ))
        .unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);

        let run = format!("Action=RunInstances&{V}&ImageId=ami-1&MinCount=1&MaxCount=1");
        for bad in [
            "ClientToken=%C3%BC",
            "InstanceType=t2%20micro",
            "ClientToken=",
            "KeyName=",
        ] {
            let e = parse(&format!("{run}&{bad}")).unwrap_err();
            assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue, "{bad}");
        }
        let e = parse(&format!("{run}&SecurityGroup.1=web&SecurityGroup.3=")).unwrap_err();
        assert!(e.message().contains("SecurityGroup.3"), "{e}");
    }

    #[test]
    fn dry_run_round_trips() {
        let (v, r) = parse(&format!(
            "Action=AllocateAddress&{V}&Domain=vpc&DryRun=true"
        ))
        .unwrap();
        assert!(r.dry_run());
        assert_eq!(parse_params(&r.to_params(v)).unwrap(), (v, r));
    }
}
