//! Typed responses and their XML, in the shape botocore and boto 2 parse.
//!
//! [`render`] writes `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/<version>/">` with
//! `<requestId>` first, then the action's elements in EC2's order. Inside every item, scalar
//! elements come before nested sets: boto 2's SAX handlers are order-sensitive (a nested `item`
//! its parser does not know ends the enclosing object early). Booleans are lowercase (boto 2 reads
//! anything but `true` as false, and raises on other spellings of `<return>`), instance state codes
//! are integers. All text is escaped.

use std::net::Ipv4Addr;

use crate::filters::{
    matches_all, AddressFilter, Filter, ImageFilter, InstanceFilter, SecurityGroupFilter,
};
use crate::request::{Action, IpPermission};
use crate::types::{
    AllocationId, ApiVersion, AssociationId, Domain, GroupId, ImageId, InstanceId, InstanceState,
    NetworkInterfaceId, ReservationId,
};
use crate::xml::XmlWriter;

/// The `Content-Type` EC2 answers with, for success bodies and error envelopes alike.
pub const CONTENT_TYPE: &str = "text/xml;charset=UTF-8";

/// An elastic IP as `DescribeAddresses` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// `publicIp`.
    pub public_ip: Ipv4Addr,
    /// `allocationId` (VPC addresses).
    pub allocation_id: Option<AllocationId>,
    /// `domain`.
    pub domain: Domain,
    /// `instanceId`, when associated with an instance.
    pub instance_id: Option<InstanceId>,
    /// `associationId` (associated VPC addresses).
    pub association_id: Option<AssociationId>,
    /// `networkInterfaceId`.
    pub network_interface_id: Option<NetworkInterfaceId>,
    /// `networkInterfaceOwnerId`.
    pub network_interface_owner_id: Option<String>,
    /// `privateIpAddress`: the private address the public one maps to.
    pub private_ip_address: Option<Ipv4Addr>,
}

/// A security group as `DescribeSecurityGroups` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityGroup {
    /// `ownerId`: the owning account.
    pub owner_id: String,
    /// `groupId`.
    pub group_id: GroupId,
    /// `groupName`.
    pub group_name: String,
    /// `groupDescription`.
    pub description: String,
    /// `vpcId`.
    pub vpc_id: Option<String>,
    /// `ipPermissions`: ingress rules.
    pub ip_permissions: Vec<IpPermission>,
    /// `ipPermissionsEgress`: egress rules.
    pub ip_permissions_egress: Vec<IpPermission>,
}

/// An image as `DescribeImages` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `imageId`.
    pub image_id: ImageId,
    /// `imageLocation`.
    pub location: Option<String>,
    /// `imageState` (`available`).
    pub state: String,
    /// `imageOwnerId`.
    pub owner_id: String,
    /// `creationDate` (ISO 8601, `2026-11-26T06:50:09.000Z`).
    pub creation_date: Option<String>,
    /// `isPublic`.
    pub is_public: bool,
    /// `architecture` (`x86_64`).
    pub architecture: String,
    /// `imageType` (`machine`).
    pub image_type: String,
    /// `platform` (`windows`; absent for Linux).
    pub platform: Option<String>,
    /// `imageOwnerAlias` (`amazon`).
    pub owner_alias: Option<String>,
    /// `name`.
    pub name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `rootDeviceType` (`ebs`).
    pub root_device_type: String,
    /// `rootDeviceName` (`/dev/sda1`).
    pub root_device_name: Option<String>,
    /// `virtualizationType` (`hvm`).
    pub virtualization_type: String,
    /// `hypervisor` (`xen`).
    pub hypervisor: String,
}

/// A security group an instance is in (`groupSet` item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupIdentifier {
    /// `groupId`.
    pub group_id: GroupId,
    /// `groupName`.
    pub group_name: String,
}

/// An instance as `RunInstances` and `DescribeInstances` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// `instanceId`.
    pub instance_id: InstanceId,
    /// `imageId`.
    pub image_id: ImageId,
    /// `instanceState` (integer code and name).
    pub state: InstanceState,
    /// `privateDnsName`.
    pub private_dns_name: Option<String>,
    /// `dnsName`: the public DNS name.
    pub dns_name: Option<String>,
    /// `reason`.
    pub reason: Option<String>,
    /// `keyName`.
    pub key_name: Option<String>,
    /// `amiLaunchIndex`.
    pub ami_launch_index: u32,
    /// `instanceType`.
    pub instance_type: String,
    /// `launchTime` (ISO 8601, `2026-11-26T06:50:11.000Z`).
    pub launch_time: String,
    /// `placement/availabilityZone`.
    pub availability_zone: Option<String>,
    /// `monitoring/state` is `enabled` when true.
    pub monitoring: bool,
    /// `subnetId`.
    pub subnet_id: Option<String>,
    /// `vpcId`.
    pub vpc_id: Option<String>,
    /// `privateIpAddress`.
    pub private_ip_address: Option<Ipv4Addr>,
    /// `ipAddress`: the public address (an elastic IP when one is associated).
    pub ip_address: Option<Ipv4Addr>,
    /// `sourceDestCheck`.
    pub source_dest_check: Option<bool>,
    /// `architecture`.
    pub architecture: Option<String>,
    /// `rootDeviceType`.
    pub root_device_type: Option<String>,
    /// `rootDeviceName`.
    pub root_device_name: Option<String>,
    /// `virtualizationType`.
    pub virtualization_type: Option<String>,
    /// `clientToken`.
    pub client_token: Option<String>,
    /// `hypervisor`.
    pub hypervisor: Option<String>,
    /// `groupSet`.
    pub groups: Vec<GroupIdentifier>,
    /// The MAC of the instance's one network interface, when known: rendered as a
    /// `networkInterfaceSet` item (`macAddress`, `privateIpAddress`, `status`), where boto 2
    /// (`instance.interfaces[0].mac_address`) and botocore (`NetworkInterfaces[0].MacAddress`)
    /// read it.
    pub mac_address: Option<String>,
}

/// A reservation: instances launched by one `RunInstances` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// `reservationId`.
    pub reservation_id: ReservationId,
    /// `ownerId`.
    pub owner_id: String,
    /// `groupSet` (EC2-Classic reservation groups; usually empty).
    pub groups: Vec<GroupIdentifier>,
    /// `instancesSet`.
    pub instances: Vec<Instance>,
}

/// A state change reported by `TerminateInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceStateChange {
    /// `instanceId`.
    pub instance_id: InstanceId,
    /// `currentState`.
    pub current: InstanceState,
    /// `previousState`.
    pub previous: InstanceState,
}

/// A successful response of one of the supported actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `AllocateAddress`: the new address.
    AllocateAddress {
        /// `publicIp`.
        public_ip: Ipv4Addr,
        /// `domain`.
        domain: Domain,
        /// `allocationId` (VPC addresses).
        allocation_id: Option<AllocationId>,
    },
    /// `AssociateAddress`: `return` and, for VPC addresses, the association id.
    AssociateAddress {
        /// `associationId`.
        association_id: Option<AssociationId>,
    },
    /// `DisassociateAddress`: `return`.
    DisassociateAddress,
    /// `ReleaseAddress`: `return`.
    ReleaseAddress,
    /// `DescribeAddresses`.
    DescribeAddresses(Vec<Address>),
    /// `CreateSecurityGroup`: `return` and the new group's id.
    CreateSecurityGroup {
        /// `groupId`.
        group_id: GroupId,
    },
    /// `DeleteSecurityGroup`: `return`.
    DeleteSecurityGroup,
    /// `AuthorizeSecurityGroupIngress`: `return`.
    AuthorizeSecurityGroupIngress,
    /// `AuthorizeSecurityGroupEgress`: `return`.
    AuthorizeSecurityGroupEgress,
    /// `RevokeSecurityGroupIngress`: `return`.
    RevokeSecurityGroupIngress,
    /// `RevokeSecurityGroupEgress`: `return`.
    RevokeSecurityGroupEgress,
    /// `DescribeSecurityGroups`.
    DescribeSecurityGroups(Vec<SecurityGroup>),
    /// `DescribeImages`.
    DescribeImages(Vec<Image>),
    /// `RunInstances`: the reservation.
    RunInstances(Reservation),
    /// `DescribeInstances`.
    DescribeInstances {
        /// `reservationSet`.
        reservations: Vec<Reservation>,
        /// `nextToken`, when more results remain.
        next_token: Option<String>,
    },
    /// `TerminateInstances`.
    TerminateInstances(Vec<InstanceStateChange>),
}

impl Response {
    /// The action this responds to.
    pub fn action(&self) -> Action {
        match self {
            Response::AllocateAddress { .. } => Action::AllocateAddress,
            Response::AssociateAddress { .. } => Action::AssociateAddress,
            Response::DisassociateAddress => Action::DisassociateAddress,
            Response::ReleaseAddress => Action::ReleaseAddress,
            Response::DescribeAddresses(_) => Action::DescribeAddresses,
            Response::CreateSecurityGroup { .. } => Action::CreateSecurityGroup,
            Response::DeleteSecurityGroup => Action::DeleteSecurityGroup,
            Response::AuthorizeSecurityGroupIngress => Action::AuthorizeSecurityGroupIngress,
            Response::AuthorizeSecurityGroupEgress => Action::AuthorizeSecurityGroupEgress,
            Response::RevokeSecurityGroupIngress => Action::RevokeSecurityGroupIngress,
            Response::RevokeSecurityGroupEgress => Action::RevokeSecurityGroupEgress,
            Response::DescribeSecurityGroups(_) => Action::DescribeSecurityGroups,
            Response::DescribeImages(_) => Action::DescribeImages,
            Response::RunInstances(_) => Action::RunInstances,
            Response::DescribeInstances { .. } => Action::DescribeInstances,
            Response::TerminateInstances(_) => Action::TerminateInstances,
        }
    }
}

// --- Filtering: what a server needs to answer the describe calls ----------------------------
//
// Each resource gives its values for a filter key, as strings in the form EC2 reports them, and
// `matches` applies `Filter.N` with EC2's semantics (AND over filters, OR over values, wildcards).
// Tags are not modelled: `tag:<key>` and `tag-key` filters match nothing.

fn opt_string(v: Option<impl ToString>) -> Vec<String> {
    v.map(|x| x.to_string()).into_iter().collect()
}

impl Address {
    /// This address's values for a `DescribeAddresses` filter key.
    pub fn filter_values(&self, key: &AddressFilter) -> Vec<String> {
        match key {
            AddressFilter::AllocationId => opt_string(self.allocation_id.as_ref()),
            AddressFilter::AssociationId => opt_string(self.association_id.as_ref()),
            AddressFilter::Domain => vec![self.domain.to_string()],
            AddressFilter::InstanceId => opt_string(self.instance_id.as_ref()),
            AddressFilter::NetworkInterfaceId => opt_string(self.network_interface_id.as_ref()),
            AddressFilter::NetworkInterfaceOwnerId => {
                opt_string(self.network_interface_owner_id.as_ref())
            }
            AddressFilter::PrivateIpAddress => opt_string(self.private_ip_address),
            AddressFilter::PublicIp => vec![self.public_ip.to_string()],
            _ => Vec::new(),
        }
    }

    /// Whether this address passes every filter.
    pub fn matches(&self, filters: &[Filter<AddressFilter>]) -> bool {
        matches_all(filters, |k| self.filter_values(k))
    }
}

fn permission_values(
    perms: &[IpPermission],
    f: impl Fn(&IpPermission) -> Vec<String>,
) -> Vec<String> {
    perms.iter().flat_map(f).collect()
}

fn rule_values(perms: &[IpPermission], what: RuleField) -> Vec<String> {
    permission_values(perms, |p| match what {
        RuleField::Cidr => p.ip_ranges.iter().map(|r| r.cidr.to_string()).collect(),
        RuleField::Ipv6Cidr => p.ipv6_ranges.iter().map(|r| r.cidr.to_string()).collect(),
        RuleField::FromPort => p
            .ports
            .wire()
            .map(|(f, _)| f.to_string())
            .into_iter()
            .collect(),
        RuleField::ToPort => p
            .ports
            .wire()
            .map(|(_, t)| t.to_string())
            .into_iter()
            .collect(),
        RuleField::Protocol => vec![p.protocol.to_string()],
        RuleField::GroupId => p
            .groups
            .iter()
            .filter_map(|g| g.group_id.as_ref().map(ToString::to_string))
            .collect(),
        RuleField::GroupName => p
            .groups
            .iter()
            .filter_map(|g| g.group_name.clone())
            .collect(),
        RuleField::UserId => p.groups.iter().filter_map(|g| g.user_id.clone()).collect(),
    })
}

#[derive(Clone, Copy)]
enum RuleField {
    Cidr,
    Ipv6Cidr,
    FromPort,
    ToPort,
    Protocol,
    GroupId,
    GroupName,
    UserId,
}

impl SecurityGroup {
    /// This group's values for a `DescribeSecurityGroups` filter key (`ip-permission.*` over
    /// the ingress rules, `egress.ip-permission.*` over the egress rules; ports as EC2 writes
    /// them, `-1` for ICMP any).
    pub fn filter_values(&self, key: &SecurityGroupFilter) -> Vec<String> {
        use SecurityGroupFilter as K;
        let (rules, field) = match key {
            K::Description => return vec![self.description.clone()],
            K::GroupId => return vec![self.group_id.to_string()],
            K::GroupName => return vec![self.group_name.clone()],
            K::OwnerId => return vec![self.owner_id.clone()],
            K::VpcId => return opt_string(self.vpc_id.as_ref()),
            K::IpPermissionCidr => (&self.ip_permissions, RuleField::Cidr),
            K::IpPermissionFromPort => (&self.ip_permissions, RuleField::FromPort),
            K::IpPermissionToPort => (&self.ip_permissions, RuleField::ToPort),
            K::IpPermissionProtocol => (&self.ip_permissions, RuleField::Protocol),
            K::IpPermissionGroupId => (&self.ip_permissions, RuleField::GroupId),
            K::IpPermissionGroupName => (&self.ip_permissions, RuleField::GroupName),
            K::IpPermissionUserId => (&self.ip_permissions, RuleField::UserId),
            K::IpPermissionIpv6Cidr => (&self.ip_permissions, RuleField::Ipv6Cidr),
            K::EgressCidr => (&self.ip_permissions_egress, RuleField::Cidr),
            K::EgressFromPort => (&self.ip_permissions_egress, RuleField::FromPort),
            K::EgressToPort => (&self.ip_permissions_egress, RuleField::ToPort),
            K::EgressProtocol => (&self.ip_permissions_egress, RuleField::Protocol),
            K::EgressGroupId => (&self.ip_permissions_egress, RuleField::GroupId),
            K::EgressGroupName => (&self.ip_permissions_egress, RuleField::GroupName),
            K::EgressUserId => (&self.ip_permissions_egress, RuleField::UserId),
            K::EgressIpv6Cidr => (&self.ip_permissions_egress, RuleField::Ipv6Cidr),
            _ => return Vec::new(),
        };
        rule_values(rules, field)
    }

    /// Whether this group passes every filter.
    pub fn matches(&self, filters: &[Filter<SecurityGroupFilter>]) -> bool {
        matches_all(filters, |k| self.filter_values(k))
    }
}

impl Image {
    /// This image's values for a `DescribeImages` filter key.
    pub fn filter_values(&self, key: &ImageFilter) -> Vec<String> {
        match key {
            ImageFilter::Architecture => vec![self.architecture.clone()],
            ImageFilter::Description => opt_string(self.description.as_ref()),
            ImageFilter::ImageId => vec![self.image_id.to_string()],
            ImageFilter::ImageType => vec![self.image_type.clone()],
            ImageFilter::IsPublic => vec![self.is_public.to_string()],
            ImageFilter::Name => opt_string(self.name.as_ref()),
            ImageFilter::OwnerAlias => opt_string(self.owner_alias.as_ref()),
            ImageFilter::OwnerId => vec![self.owner_id.clone()],
            ImageFilter::RootDeviceType => vec![self.root_device_type.clone()],
            ImageFilter::State => vec![self.state.clone()],
            ImageFilter::VirtualizationType => vec![self.virtualization_type.clone()],
            _ => Vec::new(),
        }
    }

    /// Whether this image passes every filter.
    pub fn matches(&self, filters: &[Filter<ImageFilter>]) -> bool {
        matches_all(filters, |k| self.filter_values(k))
    }
}

impl Instance {
    /// This instance's values for a `DescribeInstances` filter key, in `reservation`
    /// (which gives `reservation-id` and `owner-id`).
    pub fn filter_values(&self, key: &InstanceFilter, reservation: &Reservation) -> Vec<String> {
        use InstanceFilter as K;
        match key {
            K::AvailabilityZone => opt_string(self.availability_zone.as_ref()),
            K::DnsName => opt_string(self.dns_name.as_ref()),
            K::GroupId | K::InstanceGroupId => {
                self.groups.iter().map(|g| g.group_id.to_string()).collect()
            }
            K::GroupName | K::InstanceGroupName => {
                self.groups.iter().map(|g| g.group_name.clone()).collect()
            }
            K::ImageId => vec![self.image_id.to_string()],
            K::InstanceId => vec![self.instance_id.to_string()],
            K::InstanceStateCode => vec![self.state.code().to_string()],
            K::InstanceStateName => vec![self.state.name().to_owned()],
            K::InstanceType => vec![self.instance_type.clone()],
            K::IpAddress => opt_string(self.ip_address),
            K::KeyName => opt_string(self.key_name.as_ref()),
            K::LaunchIndex => vec![self.ami_launch_index.to_string()],
            K::OwnerId => vec![reservation.owner_id.clone()],
            K::PrivateDnsName => opt_string(self.private_dns_name.as_ref()),
            K::PrivateIpAddress => opt_string(self.private_ip_address),
            K::ReservationId => vec![reservation.reservation_id.to_string()],
            K::SubnetId => opt_string(self.subnet_id.as_ref()),
            K::VpcId => opt_string(self.vpc_id.as_ref()),
            K::Architecture => opt_string(self.architecture.as_ref()),
            K::RootDeviceType => opt_string(self.root_device_type.as_ref()),
            K::RootDeviceName => opt_string(self.root_device_name.as_ref()),
            K::VirtualizationType => opt_string(self.virtualization_type.as_ref()),
            K::Hypervisor => opt_string(self.hypervisor.as_ref()),
            K::ClientToken => opt_string(self.client_token.as_ref()),
            K::AssociationPublicIp | K::NetworkInterfaceAddressesAssociationPublicIp => {
                opt_string(self.ip_address)
            }
            K::NetworkInterfaceMacAddress => opt_string(self.mac_address.as_ref()),
            _ => Vec::new(),
        }
    }
}

impl Reservation {
    /// The reservation with only the instances that pass every filter, `None` when none does
    /// (EC2 leaves such reservations out of `DescribeInstances`).
    pub fn filtered(&self, filters: &[Filter<InstanceFilter>]) -> Option<Reservation> {
        let instances: Vec<Instance> = self
            .instances
            .iter()
            .filter(|i| matches_all(filters, |k| i.filter_values(k, self)))
            .cloned()
            .collect();
        (!instances.is_empty()).then(|| Reservation {
            instances,
            ..self.clone()
        })
    }
}

/// Renders a response as the XML document EC2 sends (HTTP 200, `Content-Type: text/xml`).
pub fn render(response: &Response, version: ApiVersion, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    let action = response.action().as_str();
    w.root(action, version.as_str());
    w.text("requestId", request_id);
    match response {
        Response::AllocateAddress {
            public_ip,
            domain,
            allocation_id,
        } => {
            w.display("publicIp", public_ip);
            w.text("domain", domain.as_str());
            w.opt_text(
                "allocationId",
                allocation_id.as_ref().map(AllocationId::as_str),
            );
        }
        Response::AssociateAddress { association_id } => {
            w.boolean("return", true);
            w.opt_text(
                "associationId",
                association_id.as_ref().map(AssociationId::as_str),
            );
        }
        Response::CreateSecurityGroup { group_id } => {
            w.boolean("return", true);
            w.text("groupId", group_id.as_str());
        }
        Response::DisassociateAddress
        | Response::ReleaseAddress
        | Response::DeleteSecurityGroup
        | Response::AuthorizeSecurityGroupIngress
        | Response::AuthorizeSecurityGroupEgress
        | Response::RevokeSecurityGroupIngress
        | Response::RevokeSecurityGroupEgress => w.boolean("return", true),
        Response::DescribeAddresses(addresses) => {
            set(&mut w, "addressesSet", addresses, write_address);
        }
        Response::DescribeSecurityGroups(groups) => {
            set(&mut w, "securityGroupInfo", groups, write_group);
        }
        Response::DescribeImages(images) => set(&mut w, "imagesSet", images, write_image),
        Response::RunInstances(r) => write_reservation_body(&mut w, r),
        Response::DescribeInstances {
            reservations,
            next_token,
        } => {
            set(
                &mut w,
                "reservationSet",
                reservations,
                write_reservation_body,
            );
            w.opt_text("nextToken", next_token.as_deref());
        }
        Response::TerminateInstances(changes) => {
            set(&mut w, "instancesSet", changes, |w, c| {
                w.text("instanceId", c.instance_id.as_str());
                write_state(w, "currentState", c.current);
                write_state(w, "previousState", c.previous);
            });
        }
    }
    w.close_root(action);
    w.finish()
}

/// Writes `<name>` with one `<item>` per element (`<name/>` when empty).
fn set<T>(w: &mut XmlWriter, name: &str, items: &[T], mut each: impl FnMut(&mut XmlWriter, &T)) {
    if items.is_empty() {
        w.empty(name);
        return;
    }
    w.open(name);
    for item in items {
        w.open("item");
        each(w, item);
        w.close("item");
    }
    w.close(name);
}

fn write_address(w: &mut XmlWriter, a: &Address) {
    w.display("publicIp", a.public_ip);
    w.opt_text(
        "allocationId",
        a.allocation_id.as_ref().map(AllocationId::as_str),
    );
    w.text("domain", a.domain.as_str());
    w.opt_text("instanceId", a.instance_id.as_ref().map(InstanceId::as_str));
    w.opt_text(
        "associationId",
        a.association_id.as_ref().map(AssociationId::as_str),
    );
    w.opt_text(
        "networkInterfaceId",
        a.network_interface_id
            .as_ref()
            .map(NetworkInterfaceId::as_str),
    );
    w.opt_text(
        "networkInterfaceOwnerId",
        a.network_interface_owner_id.as_deref(),
    );
    if let Some(ip) = a.private_ip_address {
        w.display("privateIpAddress", ip);
    }
}

fn write_group(w: &mut XmlWriter, g: &SecurityGroup) {
    w.text("ownerId", &g.owner_id);
    w.text("groupId", g.group_id.as_str());
    w.text("groupName", &g.group_name);
    w.text("groupDescription", &g.description);
    w.opt_text("vpcId", g.vpc_id.as_deref());
    set(w, "ipPermissions", &g.ip_permissions, write_permission);
    set(
        w,
        "ipPermissionsEgress",
        &g.ip_permissions_egress,
        write_permission,
    );
}

fn write_permission(w: &mut XmlWriter, p: &IpPermission) {
    w.display("ipProtocol", p.protocol);
    if let Some((from, to)) = p.ports.wire() {
        w.display("fromPort", from);
        w.display("toPort", to);
    }
    set(w, "groups", &p.groups, |w, g| {
        w.opt_text("userId", g.user_id.as_deref());
        w.opt_text("groupId", g.group_id.as_ref().map(GroupId::as_str));
        w.opt_text("groupName", g.group_name.as_deref());
        w.opt_text("description", g.description.as_deref());
    });
    set(w, "ipRanges", &p.ip_ranges, |w, r| {
        w.display("cidrIp", r.cidr);
        w.opt_text("description", r.description.as_deref());
    });
    set(w, "ipv6Ranges", &p.ipv6_ranges, |w, r| {
        w.display("cidrIpv6", r.cidr);
        w.opt_text("description", r.description.as_deref());
    });
    w.empty("prefixListIds");
}

fn write_image(w: &mut XmlWriter, i: &Image) {
    w.text("imageId", i.image_id.as_str());
    w.opt_text("imageLocation", i.location.as_deref());
    w.text("imageState", &i.state);
    w.text("imageOwnerId", &i.owner_id);
    w.opt_text("creationDate", i.creation_date.as_deref());
    w.boolean("isPublic", i.is_public);
    w.text("architecture", &i.architecture);
    w.text("imageType", &i.image_type);
    w.opt_text("platform", i.platform.as_deref());
    w.opt_text("imageOwnerAlias", i.owner_alias.as_deref());
    w.opt_text("name", i.name.as_deref());
    w.opt_text("description", i.description.as_deref());
    w.text("rootDeviceType", &i.root_device_type);
    w.opt_text("rootDeviceName", i.root_device_name.as_deref());
    w.text("virtualizationType", &i.virtualization_type);
    w.text("hypervisor", &i.hypervisor);
}

fn write_state(w: &mut XmlWriter, name: &str, s: InstanceState) {
    w.open(name);
    w.display("code", s.code());
    w.text("name", s.name());
    w.close(name);
}

fn write_group_identifier(w: &mut XmlWriter, g: &GroupIdentifier) {
    w.text("groupId", g.group_id.as_str());
    w.text("groupName", &g.group_name);
}

fn write_reservation_body(w: &mut XmlWriter, r: &Reservation) {
    w.text("reservationId", r.reservation_id.as_str());
    w.text("ownerId", &r.owner_id);
    set(w, "groupSet", &r.groups, write_group_identifier);
    set(w, "instancesSet", &r.instances, write_instance);
}

fn write_instance(w: &mut XmlWriter, i: &Instance) {
    w.text("instanceId", i.instance_id.as_str());
    w.text("imageId", i.image_id.as_str());
    write_state(w, "instanceState", i.state);
    w.text(
        "privateDnsName",
        i.private_dns_name.as_deref().unwrap_or(""),
    );
    w.text("dnsName", i.dns_name.as_deref().unwrap_or(""));
    w.opt_text("reason", i.reason.as_deref());
    w.opt_text("keyName", i.key_name.as_deref());
    w.display("amiLaunchIndex", i.ami_launch_index);
    w.text("instanceType", &i.instance_type);
    w.text("launchTime", &i.launch_time);
    if let Some(az) = &i.availability_zone {
        w.open("placement");
        w.text("availabilityZone", az);
        w.text("tenancy", "default");
        w.close("placement");
    }
    w.open("monitoring");
    w.text("state", if i.monitoring { "enabled" } else { "disabled" });
    w.close("monitoring");
    w.opt_text("subnetId", i.subnet_id.as_deref());
    w.opt_text("vpcId", i.vpc_id.as_deref());
    if let Some(ip) = i.private_ip_address {
        w.display("privateIpAddress", ip);
    }
    if let Some(ip) = i.ip_address {
        w.display("ipAddress", ip);
    }
    if let Some(b) = i.source_dest_check {
        w.boolean("sourceDestCheck", b);
    }
    w.opt_text("architecture", i.architecture.as_deref());
    w.opt_text("rootDeviceType", i.root_device_type.as_deref());
    w.opt_text("rootDeviceName", i.root_device_name.as_deref());
    w.opt_text("virtualizationType", i.virtualization_type.as_deref());
    w.opt_text("clientToken", i.client_token.as_deref());
    w.opt_text("hypervisor", i.hypervisor.as_deref());
    set(w, "groupSet", &i.groups, write_group_identifier);
    if let Some(mac) = &i.mac_address {
        w.open("networkInterfaceSet");
        w.open("item");
        w.text("macAddress", mac);
        if let Some(ip) = i.private_ip_address {
            w.display("privateIpAddress", ip);
        }
        w.text("status", "in-use");
        w.close("item");
        w.close("networkInterfaceSet");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{IpRange, UserIdGroupPair};
    use crate::types::{Ports, Protocol};

    #[test]
    fn simple_responses() {
        let v = ApiVersion::V2016_11_15;
        assert_eq!(
            render(&Response::ReleaseAddress, v, "r1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ReleaseAddressResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>r1</requestId><return>true</return></ReleaseAddressResponse>"
        );
        let x = render(
            &Response::AllocateAddress {
                public_ip: Ipv4Addr::new(203, 0, 113, 7),
                domain: Domain::Vpc,
                allocation_id: Some(AllocationId::from_u64(1)),
            },
            ApiVersion::V2014_10_01,
            "r2",
        );
        assert!(x.contains("xmlns=\"http://ec2.amazonaws.com/doc/2014-10-01/\""));
        assert!(x.contains("<publicIp>203.0.113.7</publicIp><domain>vpc</domain><allocationId>eipalloc-00000000000000001</allocationId>"));
        let x = render(
            &Response::CreateSecurityGroup {
                group_id: GroupId::from_u64(2),
            },
            v,
            "r",
        );
        assert!(x.contains("<return>true</return><groupId>sg-00000000000000002</groupId>"));
    }

    #[test]
    fn groups_put_scalars_first() {
        let g = SecurityGroup {
            owner_id: "123456789012".into(),
            group_id: GroupId::from_u64(1),
            group_name: "web & <co>".into(),
            description: "d".into(),
            vpc_id: None,
            ip_permissions: vec![IpPermission {
                protocol: Protocol::Tcp,
                ports: Ports::Range { from: 22, to: 22 },
                ip_ranges: vec![IpRange {
                    cidr: "10.0.0.0/8".parse().unwrap(),
                    description: Some("ssh".into()),
                }],
                ipv6_ranges: vec![],
                groups: vec![UserIdGroupPair {
                    group_id: Some(GroupId::from_u64(1)),
                    group_name: None,
                    user_id: Some("123456789012".into()),
                    description: None,
                }],
            }],
            ip_permissions_egress: vec![],
        };
        let x = render(
            &Response::DescribeSecurityGroups(vec![g]),
            ApiVersion::V2016_11_15,
            "r",
        );
        let pos = |s: &str| x.find(s).unwrap_or_else(|| panic!("{s} missing in {x}"));
        assert!(pos("<groupName>web &amp; &lt;co&gt;</groupName>") < pos("<ipPermissions>"));
        assert!(
            pos("<ipProtocol>tcp</ipProtocol><fromPort>22</fromPort><toPort>22</toPort>")
                < pos("<groups>")
        );
        assert!(x.contains("<ipRanges><item><cidrIp>10.0.0.0/8</cidrIp><description>ssh</description></item></ipRanges>"));
        assert!(x.contains("<ipPermissionsEgress/>"));
    }

    #[test]
    fn instance_states_are_integers() {
        let x = render(
            &Response::TerminateInstances(vec![InstanceStateChange {
                instance_id: InstanceId::from_u64(9),
                current: InstanceState::ShuttingDown,
                previous: InstanceState::Running,
            }]),
            ApiVersion::V2016_11_15,
            "r",
        );
        assert!(x.contains("<currentState><code>32</code><name>shutting-down</name></currentState><previousState><code>16</code><name>running</name></previousState>"));
    }

    fn filter<K>(key: K, values: &[&str]) -> Filter<K> {
        Filter {
            key,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    fn sample_instance(id: u64, state: InstanceState, group: &str) -> Instance {
        Instance {
            instance_id: InstanceId::from_u64(id),
            image_id: "ami-1".parse().unwrap(),
            state,
            private_dns_name: None,
            dns_name: None,
            reason: None,
            key_name: Some("k".into()),
            ami_launch_index: 0,
            instance_type: "t2.micro".into(),
            launch_time: "2026-11-26T06:50:11.000Z".into(),
            availability_zone: None,
            monitoring: false,
            subnet_id: None,
            vpc_id: None,
            private_ip_address: Some(Ipv4Addr::new(10, 0, 0, id as u8)),
            ip_address: None,
            source_dest_check: None,
            architecture: None,
            root_device_type: None,
            root_device_name: None,
            virtualization_type: None,
            client_token: None,
            hypervisor: None,
            mac_address: Some("02:0e:0a:00:00:02".into()),
            groups: vec![GroupIdentifier {
                group_id: GroupId::from_u64(7),
                group_name: group.into(),
            }],
        }
    }

    #[test]
    fn addresses_filter_like_ec2() {
        let a = Address {
            public_ip: Ipv4Addr::new(203, 0, 113, 7),
            allocation_id: Some(AllocationId::from_u64(1)),
            domain: Domain::Vpc,
            instance_id: None,
            association_id: None,
            network_interface_id: None,
            network_interface_owner_id: None,
            private_ip_address: None,
        };
        assert!(a.matches(&[]));
        assert!(a.matches(&[filter(AddressFilter::PublicIp, &["203.0.113.*"])]));
        assert!(a.matches(&[
            filter(AddressFilter::Domain, &["standard", "vpc"]),
            filter(AddressFilter::AllocationId, &["eipalloc-00000000000000001"]),
        ]));
        assert!(!a.matches(&[
            filter(AddressFilter::Domain, &["vpc"]),
            filter(AddressFilter::InstanceId, &["*"]),
        ]));
        assert!(!a.matches(&[filter(AddressFilter::Tag("Name".into()), &["*"])]));
    }

    #[test]
    fn groups_filter_on_rules() {
        let g = SecurityGroup {
            owner_id: "123456789012".into(),
            group_id: GroupId::from_u64(1),
            group_name: "web".into(),
            description: "web servers".into(),
            vpc_id: None,
            ip_permissions: vec![IpPermission {
                protocol: Protocol::Tcp,
                ports: Ports::Range { from: 22, to: 22 },
                ip_ranges: vec![IpRange {
                    cidr: "10.0.0.0/8".parse().unwrap(),
                    description: None,
                }],
                ipv6_ranges: vec![],
                groups: vec![],
            }],
            ip_permissions_egress: vec![IpPermission {
                protocol: Protocol::All,
                ports: Ports::Any,
                ip_ranges: vec![IpRange {
                    cidr: "0.0.0.0/0".parse().unwrap(),
                    description: None,
                }],
                ipv6_ranges: vec![],
                groups: vec![],
            }],
        };
        use SecurityGroupFilter as K;
        assert!(g.matches(&[
            filter(K::GroupName, &["w?b"]),
            filter(K::Description, &["web *"])
        ]));
        assert!(g.matches(&[filter(K::IpPermissionCidr, &["10.0.0.0/8"])]));
        assert!(g.matches(&[
            filter(K::IpPermissionFromPort, &["22"]),
            filter(K::IpPermissionProtocol, &["tcp"])
        ]));
        assert!(!g.matches(&[filter(K::IpPermissionCidr, &["0.0.0.0/0"])]));
        assert!(g.matches(&[
            filter(K::EgressCidr, &["0.0.0.0/0"]),
            filter(K::EgressProtocol, &["-1"])
        ]));
        assert!(!g.matches(&[filter(K::EgressFromPort, &["*"])]));
        assert!(!g.matches(&[filter(K::VpcId, &["*"])]));
    }

    #[test]
    fn reservations_keep_matching_instances() {
        let r = Reservation {
            reservation_id: "r-1".parse().unwrap(),
            owner_id: "123456789012".into(),
            groups: vec![],
            instances: vec![
                sample_instance(1, InstanceState::Running, "web"),
                sample_instance(2, InstanceState::Stopped, "db"),
            ],
        };
        let only_running = r
            .filtered(&[filter(InstanceFilter::InstanceStateName, &["running"])])
            .unwrap();
        assert_eq!(only_running.instances.len(), 1);
        assert_eq!(
            only_running.instances[0].instance_id,
            InstanceId::from_u64(1)
        );
        let by_code = r
            .filtered(&[filter(InstanceFilter::InstanceStateCode, &["80"])])
            .unwrap();
        assert_eq!(by_code.instances[0].instance_id, InstanceId::from_u64(2));
        assert_eq!(
            r.filtered(&[
                filter(InstanceFilter::GroupName, &["db"]),
                filter(InstanceFilter::PrivateIpAddress, &["10.0.0.1"])
            ]),
            None
        );
        assert_eq!(
            r.filtered(&[filter(InstanceFilter::ReservationId, &["r-1"])])
                .unwrap()
                .instances
                .len(),
            2
        );
        assert_eq!(
            r.filtered(&[
                filter(InstanceFilter::OwnerId, &["123456789012"]),
                filter(InstanceFilter::InstanceGroupId, &["sg-00000000000000007"])
            ])
            .unwrap()
            .instances
            .len(),
            2
        );
        assert_eq!(r.filtered(&[]).unwrap(), r);
    }

    #[test]
    fn instances_filter_by_platform_details_and_public_address() {
        let mut described = sample_instance(3, InstanceState::Running, "web");
        described.architecture = Some("arm64".into());
        described.root_device_type = Some("ebs".into());
        described.root_device_name = Some("/dev/xvda".into());
        described.virtualization_type = Some("hvm".into());
        described.hypervisor = Some("nitro".into());
        described.client_token = Some("launch-7f3a".into());
        described.ip_address = Some(Ipv4Addr::new(198, 51, 100, 9));
        let bare = sample_instance(4, InstanceState::Running, "web");
        let r = Reservation {
            reservation_id: "r-2".parse().unwrap(),
            owner_id: "123456789012".into(),
            groups: vec![],
            instances: vec![described, bare],
        };
        let only = |filters: &[Filter<InstanceFilter>]| -> Vec<InstanceId> {
            r.filtered(filters)
                .map(|r| r.instances.into_iter().map(|i| i.instance_id).collect())
                .unwrap_or_default()
        };
        let three = vec![InstanceId::from_u64(3)];
        // Each key selects the instance that has the value, and not the one without it.
        for (key, hit, miss) in [
            (InstanceFilter::Architecture, "arm64", "x86_64"),
            (InstanceFilter::RootDeviceType, "ebs", "instance-store"),
            (InstanceFilter::RootDeviceName, "/dev/xvda", "/dev/sda1"),
            (InstanceFilter::VirtualizationType, "hvm", "paravirtual"),
            (InstanceFilter::Hypervisor, "nitro", "xen"),
            (InstanceFilter::ClientToken, "launch-7f3a", "launch-7f3b"),
            (
                InstanceFilter::AssociationPublicIp,
                "198.51.100.9",
                "198.51.100.8",
            ),
            (
                InstanceFilter::NetworkInterfaceAddressesAssociationPublicIp,
                "198.51.100.*",
                "203.0.113.*",
            ),
        ] {
            assert_eq!(
                only(&[filter(key.clone(), &[hit])]),
                three,
                "{key:?} = {hit}"
            );
            assert_eq!(
                only(&[filter(key.clone(), &[miss])]),
                [],
                "{key:?} = {miss}"
            );
            assert_eq!(
                only(&[filter(key.clone(), &["*"])]),
                three,
                "{key:?}: any value"
            );
        }
        // Both instances share the sample MAC address.
        assert_eq!(
            only(&[filter(
                InstanceFilter::NetworkInterfaceMacAddress,
                &["02:0e:0a:00:00:02"]
            )])
            .len(),
            2
        );
        // The names parse as clients send them.
        for name in [
            "architecture",
            "root-device-type",
            "root-device-name",
            "virtualization-type",
            "hypervisor",
            "client-token",
            "association.public-ip",
            "network-interface.addresses.association.public-ip",
            "network-interface.mac-address",
        ] {
            assert!(
                <InstanceFilter as crate::filters::FilterKey>::from_name(name).is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn images_filter_by_name_and_state() {
        let i = Image {
            image_id: "ami-03cf127a".parse().unwrap(),
            location: None,
            state: "available".into(),
            owner_id: "801119661308".into(),
            creation_date: None,
            is_public: true,
            architecture: "x86_64".into(),
            image_type: "machine".into(),
            platform: None,
            owner_alias: None,
            name: Some("debian-12-amd64".into()),
            description: None,
            root_device_type: "ebs".into(),
            root_device_name: None,
            virtualization_type: "hvm".into(),
            hypervisor: "xen".into(),
        };
        assert!(i.matches(&[
            filter(ImageFilter::Name, &["debian-*"]),
            filter(ImageFilter::State, &["available"]),
            filter(ImageFilter::IsPublic, &["true"]),
        ]));
        assert!(!i.matches(&[filter(ImageFilter::Description, &["*"])]));
        assert!(!i.matches(&[filter(ImageFilter::ImageId, &["ami-1"])]));
    }
}
