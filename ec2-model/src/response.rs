//! Typed responses and their XML, in the shape botocore and boto 2 parse.
//!
//! [`render`] writes `<{Action}Response xmlns="http://ec2.amazonaws.com/doc/<version>/">` with
//! `<requestId>` first, then the action's elements in EC2's order. Inside every item, scalar
//! elements come before nested sets: boto 2's SAX handlers are order-sensitive (a nested `item`
//! its parser does not know ends the enclosing object early). Booleans are lowercase (boto 2 reads
//! anything but `true` as false, and raises on other spellings of `<return>`), instance state codes
//! are integers. All text is escaped.

use std::net::Ipv4Addr;

use crate::request::{Action, IpPermission};
use crate::types::{
    AllocationId, ApiVersion, AssociationId, Domain, GroupId, ImageId, InstanceId, InstanceState,
    NetworkInterfaceId, ReservationId,
};
use crate::xml::XmlWriter;

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
}
