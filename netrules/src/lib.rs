//! EC2-style elastic IPs and security groups, compiled to OpenFlow 1.0 flows.
//!
//! - [`model`]: the [`Model`] of switches, instances, security groups, elastic IPs and
//!   network settings, serde-serialisable and validated on every way in.
//! - [`reference`](mod@reference): the semantics below as an executable reference, deciding from the model
//!   alone what happens to a packet.
//! - [`compile`](mod@compile): the compiler to one OpenFlow 1.0 table per switch, incremental, with its
//!   checked invariants; [`diff`](mod@diff): the flow_mods between two tables.
//! - [`pinhole`]: the controller's decision on a punted packet and the pinholes it installs.
//! - [`sim`]: an OpenFlow 1.0 simulator to show that the flows do what the reference says.
//!
//! # Semantics
//!
//! **The network.** Each switch (an Open vSwitch bridge on a hypervisor) has instance ports
//! and one uplink. The uplinks share one physical Ethernet segment with the public gateway:
//! a frame sent out an uplink to the public gateway's MAC reaches the gateway (the outside
//! world); any other frame reaches the uplinks of the other switches. Instance ports and
//! uplinks carry untagged frames only: tagged frames are dropped.
//!
//! **Anti-spoofing.** An instance's port only emits frames with the instance's MAC as
//! Ethernet source and, for IPv4 and ARP, its private address as (sender) source; an ARP
//! frame's sender hardware address ([`Packet::arp_sha`]) must be the instance's MAC too.
//! Anything else is dropped. OpenFlow 1.0 cannot match the ARP sender hardware address, so
//! the flows check the Ethernet source and sender address of an instance's ARP requests and
//! punt them, and the controller checks the sender hardware address before it answers
//! (an instance's ARP replies are dropped by the flows whatever their fields).
//!
//! **ARP.** ARP requests from an instance go to the controller, which answers for other
//! instances (their MAC) and for the subnet's gateway address (the virtual router's MAC).
//! ARP requests arriving on the uplink of the switch that hosts the instance an elastic IP is
//! associated with, for that address, go to the controller, which answers with the
//! elastic-IP MAC. Replies go to the request's sender hardware address. Every other ARP
//! frame is dropped.
//!
//! **Where packets go.** IPv4 from an instance to a private address goes to the instance with
//! that address if the frame is addressed to its MAC and it is attached: directly when it is
//! on the same switch, through the uplinks otherwise. IPv4 from an instance to an address
//! outside the private subnet, addressed to the virtual router's MAC, leaves through the
//! uplink to the public gateway with the instance's elastic IP as source (from the
//! elastic-IP MAC to the gateway's MAC); an instance without an elastic IP does not reach the
//! outside. IPv4 arriving on an uplink, addressed to the elastic-IP MAC and an elastic IP
//! whose instance is attached to that switch, from outside the private subnet, is rewritten
//! to the instance's private address and MAC (from the virtual router's MAC) and delivered
//! to it; private traffic arriving on an uplink (from inside the subnet but not from an
//! instance attached to that switch, to an instance attached there, at its MAC) is delivered
//! as it is. Everything else is dropped.
//!
//! **Security groups.** Permissions are allow-only and additive over all the groups of an
//! instance; whatever no permission allows is dropped. A new group allows all egress and no
//! ingress. A permission names a protocol (TCP or UDP with a destination port range, ICMP
//! with a type and code (`-1`: any), every protocol (`-1`), or a protocol number) and a peer:
//! a CIDR block (canonicalised; it matches private and outside addresses alike) or a group
//! (it matches the private addresses of the group's members, on private traffic only).
//! Ingress permissions match the source, egress permissions the destination, as the instance
//! sees them (its private address stands for its elastic IP). A port range that covers every
//! port (`0-65535` or `1-65535`) matches any port, 0 included. Security groups apply to
//! elastic-IP traffic exactly as to private traffic.
//!
//! **Where they are enforced.** Each switch enforces the sides of the instances attached to
//! it: the sender's egress permissions where the sender is attached, the receiver's ingress
//! permissions where the receiver is attached (both at once for two instances on one
//! switch). A frame that arrives on an uplink has passed its sender's switch already: the
//! physical segment is trusted for private addresses.
//!
//! **State.** Security groups are stateful, with the state kept per switch like EC2 keeps it
//! per network interface. When a packet passes a switch because the permissions enforced
//! there allow it, that switch tracks the connection (its five-tuple as the instance sees
//! it: TCP and UDP ports, ICMP echo, timestamp, information and address-mask queries with
//! their replies; ICMP errors are not connections). Packets of a tracked connection, either
//! way, pass that switch whatever the permissions. A tracked connection ends when either
//! direction has been idle for the pinhole idle timeout (60 s by default).
//!
//! **Rule changes cut connections.** AWS keeps tracked connections alive when a rule is
//! removed; this crate does not. A change to the model cuts every tracked connection of every
//! instance it touches ([`model::Touched`]: the members of a group whose permissions change;
//! an instance whose groups, attachment or elastic IP change, and the members of the groups
//! whose permissions name a group it joins or leaves; added and removed instances and their
//! addresses), and the packets that follow are decided afresh by the new permissions.
//! Connections of untouched instances are kept. The reason: without conntrack, flows that
//! forward a connection in both directions proactively carry no state, so only cutting
//! everything touched keeps the switches and these semantics in exact agreement.
//! [`reference::Reference::cut`] and [`pinhole::Pinholes::cut`] implement it, the first on
//! the reference's state, the second by deleting pinholes.
//!
//! # How the flows implement it
//!
//! OpenFlow 1.0 has one table, no conntrack, and cannot mask transport ports. At each switch,
//! for each side enforced there, traffic falls into three classes: packets the permissions
//! allow *whose replies the permissions allow too* need no state and are forwarded by
//! proactive flows; packets the permissions allow but whose replies would need state go to
//! the controller, which decides them from the model ([`pinhole::Pinholes::packet_in`]),
//! tracks the connection and installs two pinholes (one per direction, exact on everything
//! but ToS and VLAN priority, so never exact-match flows, with an idle timeout and
//! `SEND_FLOW_REM`; when one is removed the controller deletes the other); everything else is
//! dropped. Traffic between two instances on the same switch always goes through the
//! controller first (both sides are enforced by one flow, which would need a flow per pair
//! of instances). Port ranges expand to one flow per port up to
//! [`compile::CompileOptions::port_budget`] per permission (and per pair of permissions for
//! the forward class); beyond it the permission's traffic goes to the controller. Group peers
//! expand to their members' addresses through the model's membership index. The priority
//! bands are listed in [`compile::priority`].
//!
//! # Limits
//!
//! - ICMP errors about a tracked connection are not "related" traffic: they pass only if
//!   the permissions allow them. OpenFlow 1.0 cannot rewrite the header inside an ICMP error
//!   either, nor decrement the TTL.
//! - The first packet of every connection between two instances on the same switch goes
//!   through the controller, and so does the first packet to a private CIDR destination that
//!   needs state (a flow cannot pin the destination MAC of a whole block without one flow
//!   per instance in it); group destinations are pinned per member and stay proactive.
//! - Changing the rules of a group recompiles the flows of each of its members (and of the
//!   members of groups naming it) in full: the cost is proportional to those instances'
//!   flows, not to the size of the model.
//! - State lives in the switches' pinholes and the controller's table: a controller restart
//!   forgets tracked connections. When resynchronising a switch, delete the pinholes its flow
//!   dump still holds (otherwise they live on, beyond any cut, until they idle out).
//!
//! # Driving it from a controller
//!
//! - At start: [`Compiler::new`], then send each switch its table (`Flow::to_add`), or,
//!   when a switch (re)connects, [`diff()`] its flow dump (minus pinholes,
//!   [`compile::cookie::is_pinhole`]) against [`Compiler::tables`].
//! - On a change: apply it to the [`Model`] (its mutators return the [`model::Touched`]
//!   set), send [`Compiler::update`]'s flow_mods, then [`Pinholes::cut`]'s deletes; after an
//!   elastic IP moves, send [`pinhole::gratuitous_arp`].
//! - On a packet_in: read the frame's [`Packet`] (for ARP, the sender hardware address
//!   too), send [`Pinholes::packet_in`]'s pinholes ([`Decision::wire`]: copied into
//!   a transmit buffer with [`pinhole::PinholeWire::encode`], or as [`Decision::flow_mods`]), then
//!   its packet_out.
//! - On a flow_removed of a pinhole: send [`Pinholes::flow_removed`]'s deletes.
//!
//! ```
//! use core::net::Ipv4Addr;
//! use netrules::compile::{check_invariants, compile, CompileOptions};
//! use netrules::model::*;
//! use netrules::reference::{decide, Endpoint, Entry, Verdict};
//! use netrules::Packet;
//! use ipnetwork::Ipv4Network;
//! use openflow_proto::{MacAddr, PortNo};
//!
//! let settings = Settings {
//!     subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16).unwrap(),
//!     gateway: Ipv4Addr::new(10, 0, 0, 1),
//!     router_mac: "02:00:00:00:00:fe".parse().unwrap(),
//!     public_gateway: Ipv4Addr::new(198, 51, 100, 1),
//!     public_gateway_mac: "02:00:00:00:00:fd".parse().unwrap(),
//!     elastic_ip_mac: "02:00:00:00:00:fc".parse().unwrap(),
//! };
//! let mut model = Model::new(settings).unwrap();
//! model.add_switch(Switch { dpid: 1, uplink: PortNo(100) }).unwrap();
//! let owner = OwnerId::new("111122223333").unwrap();
//! let web = GroupId::new("sg-web").unwrap();
//! model.add_group(SecurityGroup::new(web.clone(), "web", owner.clone(), "web servers")).unwrap();
//! let ssh = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
//! model.authorize(&web, Direction::Ingress, ssh).unwrap();
//! let id = InstanceId::new("i-1").unwrap();
//! model.add_instance(Instance {
//!     id: id.clone(),
//!     owner: owner.clone(),
//!     mac: "02:00:00:00:01:01".parse().unwrap(),
//!     ip: Ipv4Addr::new(10, 0, 1, 1),
//!     groups: [web.clone()].into(),
//!     attachment: Some(Attachment { switch: 1, port: PortNo(1) }),
//! }).unwrap();
//! let eip = Ipv4Addr::new(203, 0, 113, 10);
//! model.allocate(ElasticIp {
//!     public_ip: eip,
//!     allocation_id: AllocationId::new("eipalloc-1").unwrap(),
//!     owner,
//!     instance: Some(id.clone()),
//! }).unwrap();
//!
//! // SSH from the outside to the elastic IP reaches the instance, rewritten.
//! let client = Ipv4Addr::new(192, 0, 2, 7);
//! let ssh_in = Packet::ipv4(
//!     model.settings().public_gateway_mac,
//!     model.settings().elastic_ip_mac,
//!     client, eip, 6, 40000, 22,
//! );
//! match decide(&model, Entry::Outside, ssh_in) {
//!     Verdict::Delivered { to, packet } => {
//!         assert_eq!(to, Endpoint::Instance(id.clone()));
//!         assert_eq!(packet.nw_dst, Ipv4Addr::new(10, 0, 1, 1));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! // Port 23 is not open.
//! let telnet = Packet { tp_dst: 23, ..ssh_in };
//! assert!(decide(&model, Entry::Outside, telnet).is_dropped());
//!
//! // The compiled table keeps its invariants.
//! let tables = compile(&model, &CompileOptions::default());
//! check_invariants(&tables[&1]).unwrap();
//! ```
// The one exception, behind the `huge-pages` feature: `madvise` in `pinhole::table`.
#![cfg_attr(not(feature = "huge-pages"), forbid(unsafe_code))]
#![cfg_attr(feature = "huge-pages", deny(unsafe_code))]
#![deny(missing_docs)]

pub mod compile;
pub mod diff;
#[cfg(test)]
mod e2e_tests;
pub mod model;
pub mod packet;
pub mod pinhole;
pub mod reference;
mod serde_util;
pub mod sim;
#[cfg(feature = "proptest")]
pub mod strategies;

pub use compile::{check_invariants, compile, CompileOptions, Compiler, Flow, Tables};
pub use diff::{diff, diff_tables, Update};
pub use model::Model;
pub use packet::Packet;
pub use pinhole::{Decision, Pinholes};
pub use reference::{decide, Entry, Reference, Verdict};
