//! Strategies for the `proptest` crate (feature `proptest`).
//!
//! - OpenFlow level: [`packet`], [`flow_match`], [`actions`], [`flow_mod`], drawn from small
//!   universes of values so that random matches and random packets meet often.
//! - Model level: [`model`] (instances on several switches, groups with random protocols,
//!   ports, ranges, CIDRs and group references, self-references included, elastic IP
//!   associations, all with the [`settings`] of a test network), and [`scenario`]: a model
//!   and a random trace of [`Step`]s against it (new connections in both directions,
//!   replies, unrelated packets, spoofed sources (ARP sender hardware addresses included),
//!   ARP, tagged frames, the passing of time and
//!   changes to the model).
//!
//! A property in the style of the crate's own tests: on a random model and trace, whatever
//! the simulated network delivers, the reference model delivers too.
//!
//! ```
//! use netrules::compile::CompileOptions;
//! use netrules::reference::{Reference, Verdict};
//! use netrules::sim::ModelNetwork;
//! use netrules::strategies::{scenario, Step};
//! use proptest::strategy::{Strategy, ValueTree};
//! use proptest::test_runner::TestRunner;
//! use std::time::Duration;
//!
//! let mut runner = TestRunner::deterministic();
//! for _ in 0..4 {
//!     let (model, steps) = scenario(10).new_tree(&mut runner).unwrap().current();
//!     let mut net = ModelNetwork::new(model.clone(), CompileOptions::default()).unwrap();
//!     let mut reference = Reference::new(Duration::from_secs(60));
//!     for step in steps {
//!         if let Step::Send(source, packet) = step {
//!             let Some(entry) = source.entry(net.model()) else { continue };
//!             let trace = net.inject(entry, packet).unwrap();
//!             let verdict = reference.inject(net.model(), Duration::ZERO, entry, packet);
//!             if !trace.is_dropped() {
//!                 assert!(matches!(verdict, Verdict::Delivered { .. } | Verdict::Controller { .. }));
//!             }
//!         }
//!     }
//! }
//! ```

use crate::packet::Packet;
use core::net::Ipv4Addr;
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::{
    Action, FlowMod, FlowModCommand, FlowModFlags, Ipv4Match, MacAddr, Match, PortNo, VlanMatch,
    NO_BUFFER,
};
use proptest::prelude::*;

/// The switch ports the OpenFlow-level strategies use (1 to 4).
pub fn small_port() -> impl Strategy<Value = PortNo> {
    (1u16..=4).prop_map(PortNo)
}

fn small_mac() -> impl Strategy<Value = MacAddr> {
    prop_oneof![
        4 => (1u8..=4).prop_map(|n| MacAddr([2, 0, 0, 0, 0, n])),
        1 => Just(MacAddr::BROADCAST),
    ]
}

fn small_ip() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        (1u8..=4).prop_map(|n| Ipv4Addr::new(10, 0, 0, n)),
        (1u8..=2).prop_map(|n| Ipv4Addr::new(10, 0, 1, n)),
        Just(Ipv4Addr::new(192, 0, 2, 1)),
    ]
}

fn small_prefix() -> impl Strategy<Value = Ipv4Match> {
    prop_oneof![
        2 => Just(Ipv4Match::ANY),
        3 => small_ip().prop_map(Ipv4Match::exact),
        2 => (small_ip(), prop::sample::select(vec![8u8, 16, 24, 30, 31])).prop_map(|(a, l)| Ipv4Match::prefix(a, l)),
        // Raw encodings: host bits set, counts of 32 and more.
        1 => (small_ip(), 0u8..64).prop_map(|(a, w)| Ipv4Match::from_raw(a, w)),
    ]
}

fn small_tp() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![0u16, 3, 8, 22, 80, 443, 1024, 65535])
}

fn small_dl_type() -> impl Strategy<Value = u16> {
    prop::sample::select(vec![ETH_TYPE_IPV4, ETH_TYPE_IPV4, ETH_TYPE_ARP, 0x86dd])
}

fn small_nw_proto() -> impl Strategy<Value = u8> {
    prop::sample::select(vec![IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP, 1, 2, 47])
}

/// A packet with header values from small universes (addresses in 10.0.0.1-4, 10.0.1.1-2 and
/// 192.0.2.1, ports among 0, 3, 8, 22, 80, 443, 1024, 65535, untagged or VLAN 5 or 7, IPv4,
/// ARP or IPv6; an ARP frame's sender hardware address is its Ethernet source, or now and
/// then its Ethernet destination).
pub fn packet() -> impl Strategy<Value = Packet> {
    (
        (
            small_mac(),
            small_mac(),
            prop::option::of(prop::sample::select(vec![5u16, 7])),
            0u8..8,
        ),
        small_dl_type(),
        prop::sample::select(vec![0u8, 0x10, 0x13, 0xb8]),
        small_nw_proto(),
        (small_ip(), small_ip()),
        (small_tp(), small_tp(), prop::bool::weighted(0.2)),
    )
        .prop_map(
            |((src, dst, vlan, pcp), dl_type, tos, proto, (s, d), (ts, td, sha_other))| {
                let mut p = Packet::ipv4(src, dst, s, d, proto, ts, td);
                p.dl_vlan = vlan;
                p.dl_vlan_pcp = if vlan.is_some() { pcp } else { 0 };
                p.dl_type = dl_type;
                match dl_type {
                    ETH_TYPE_IPV4 => {
                        p.nw_tos = tos;
                        if !matches!(proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP) {
                            p.tp_src = 0;
                            p.tp_dst = 0;
                        }
                    }
                    ETH_TYPE_ARP => {
                        p.nw_proto = 1 + (proto & 1);
                        p.tp_src = 0;
                        p.tp_dst = 0;
                        // The sender hardware address: mostly the Ethernet source.
                        p.arp_sha = if sha_other { dst } else { src };
                    }
                    _ => {
                        p.nw_proto = 0;
                        p.nw_src = Ipv4Addr::UNSPECIFIED;
                        p.nw_dst = Ipv4Addr::UNSPECIFIED;
                        p.tp_src = 0;
                        p.tp_dst = 0;
                    }
                }
                p
            },
        )
}

/// A match over the same universes, each field wildcarded half of the time, prerequisites
/// not necessarily met (as a switch may be sent).
pub fn flow_match() -> impl Strategy<Value = Match> {
    let vlan = prop_oneof![
        3 => Just(VlanMatch::Any),
        1 => Just(VlanMatch::Untagged),
        1 => prop::sample::select(vec![5u16, 7]).prop_map(VlanMatch::Vid),
    ];
    (
        (
            prop::option::of(small_port()),
            prop::option::of(small_mac()),
            prop::option::of(small_mac()),
            vlan,
            prop::option::weighted(0.2, 0u8..8),
            prop::option::weighted(0.8, small_dl_type()),
        ),
        (
            prop::option::weighted(0.2, prop::sample::select(vec![0u8, 0x10, 0xb8])),
            prop::option::of(small_nw_proto()),
            small_prefix(),
            small_prefix(),
            prop::option::of(small_tp()),
            prop::option::of(small_tp()),
        ),
    )
        .prop_map(
            |(
                (in_port, dl_src, dl_dst, dl_vlan, dl_vlan_pcp, dl_type),
                (nw_tos, nw_proto, nw_src, nw_dst, tp_src, tp_dst),
            )| Match {
                in_port,
                dl_src,
                dl_dst,
                dl_vlan,
                dl_vlan_pcp,
                dl_type,
                nw_tos,
                nw_proto,
                nw_src,
                nw_dst,
                tp_src,
                tp_dst,
            },
        )
}

/// An exact match for `pkt` arriving on `in_port` (no wildcard at all).
pub fn exact_match(pkt: &Packet, in_port: PortNo) -> Match {
    Match {
        in_port: Some(in_port),
        dl_src: Some(pkt.dl_src),
        dl_dst: Some(pkt.dl_dst),
        dl_vlan: pkt.dl_vlan.map_or(VlanMatch::Untagged, VlanMatch::Vid),
        dl_vlan_pcp: Some(pkt.dl_vlan_pcp),
        dl_type: Some(pkt.dl_type),
        nw_tos: Some(pkt.nw_tos & 0xfc),
        nw_proto: Some(pkt.nw_proto),
        nw_src: Ipv4Match::exact(pkt.nw_src),
        nw_dst: Ipv4Match::exact(pkt.nw_dst),
        tp_src: Some(pkt.tp_src),
        tp_dst: Some(pkt.tp_dst),
    }
}

/// An action list: up to four rewrites and outputs (physical ports 1-4, `IN_PORT`, `FLOOD`,
/// `CONTROLLER`), possibly empty (drop).
pub fn actions() -> impl Strategy<Value = Vec<Action>> {
    let a = prop_oneof![
        4 => small_port().prop_map(Action::output),
        1 => prop::sample::select(vec![PortNo::IN_PORT, PortNo::FLOOD, PortNo::CONTROLLER]).prop_map(Action::output),
        1 => small_mac().prop_map(Action::SetDlDst),
        1 => small_mac().prop_map(Action::SetDlSrc),
        1 => small_ip().prop_map(Action::SetNwSrc),
        1 => small_ip().prop_map(Action::SetNwDst),
        1 => small_tp().prop_map(Action::SetTpDst),
        1 => prop::sample::select(vec![0u16, 5]).prop_map(Action::SetVlanVid),
        1 => Just(Action::StripVlan),
    ];
    prop::collection::vec(a, 0..4)
}

/// A flow_mod of any of the five commands, with a priority among a few values (so that
/// equal priorities are common), an optional `out_port` filter, small timeouts and flags.
pub fn flow_mod() -> impl Strategy<Value = FlowMod> {
    (
        flow_match(),
        prop::sample::select(vec![0u16, 1, 10, 100, 0xffff]),
        actions(),
        prop::sample::select(vec![
            FlowModCommand::Add,
            FlowModCommand::Add,
            FlowModCommand::Add,
            FlowModCommand::Modify,
            FlowModCommand::ModifyStrict,
            FlowModCommand::Delete,
            FlowModCommand::DeleteStrict,
        ]),
        prop::option::weighted(0.3, small_port()),
        (0u16..3, 0u16..3, any::<bool>(), 0u64..4),
    )
        .prop_map(
            |(m, priority, actions, command, out_port, (idle, hard, rem, cookie))| FlowMod {
                r#match: m,
                cookie,
                command,
                idle_timeout: idle * 5,
                hard_timeout: hard * 7,
                priority,
                buffer_id: NO_BUFFER,
                out_port: out_port.unwrap_or(PortNo::NONE),
                flags: if rem {
                    FlowModFlags::SEND_FLOW_REM
                } else {
                    FlowModFlags::empty()
                },
                actions: actions.into(),
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Models
// ---------------------------------------------------------------------------------------------

use crate::model::{
    AllocationId, Attachment, Direction, ElasticIp, GroupId, IcmpSpec, Instance, InstanceId, Model,
    ModelError, OwnerId, Peer, Permission, PortRange, Protocol, SecurityGroup, Settings, Switch,
    Touched,
};
use crate::reference::{icmp_reply_type, Endpoint, Entry};
use ipnetwork::Ipv4Network;
use std::collections::BTreeSet;

/// The uplink port of every switch of the generated models.
pub const UPLINK: PortNo = PortNo(100);

/// The elastic IPs the generated models allocate from (`203.0.113.10` to `.13`).
pub fn elastic_ip_pool() -> Vec<Ipv4Addr> {
    (10..14).map(|n| Ipv4Addr::new(203, 0, 113, n)).collect()
}

/// Addresses outside the private subnet the traces use (inside and outside the CIDRs the
/// models name).
pub fn outside_hosts() -> Vec<Ipv4Addr> {
    vec![
        Ipv4Addr::new(192, 0, 2, 7),
        Ipv4Addr::new(192, 0, 2, 200),
        Ipv4Addr::new(198, 51, 100, 20),
        Ipv4Addr::new(8, 8, 8, 8),
    ]
}

/// The transport ports the models and the traces draw from: range boundaries and their
/// neighbours.
pub const PORTS: [u16; 12] = [0, 1, 21, 22, 23, 79, 80, 81, 443, 1023, 1024, 65535];

fn mac_of(n: u8, host: u8) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, n, host])
}

/// The settings of the generated models: private subnet `10.0.0.0/16` with gateway
/// `10.0.0.1`, public gateway `198.51.100.1`, and three distinct MACs.
pub fn settings() -> Settings {
    Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16)
            .unwrap_or(Ipv4Network::from(Ipv4Addr::new(10, 0, 0, 0))),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: mac_of(0, 0xfe),
        public_gateway: Ipv4Addr::new(198, 51, 100, 1),
        public_gateway_mac: mac_of(0, 0xfd),
        elastic_ip_mac: mac_of(0, 0xfc),
    }
}

fn port_range() -> impl Strategy<Value = PortRange> {
    let bounds = prop::sample::select(vec![
        (0u16, 65535u16),
        (1, 65535),
        (21, 23),
        (79, 81),
        (1, 1023),
        (1000, 1100),
    ]);
    prop_oneof![
        3 => prop::sample::select(PORTS.to_vec()).prop_map(PortRange::single),
        4 => bounds.prop_filter_map("valid range", |(a, b)| PortRange::new(a, b).ok()),
    ]
}

/// The protocol numbers [`protocol`] draws for [`Protocol::Number`] most of the time (the
/// rest: any number the model accepts, every one but ICMP 1, TCP 6 and UDP 17).
pub const PROTOCOL_NUMBERS: [u8; 6] = [0, 2, 47, 50, 132, 255];

/// A protocol as a permission names it: every protocol, TCP or UDP with a range, ICMP with
/// a type and code (or any), or another protocol by number (mostly one of
/// [`PROTOCOL_NUMBERS`], sometimes any number but 1, 6 and 17).
pub fn protocol() -> impl Strategy<Value = Protocol> {
    let icmp = (
        prop::option::of(prop::sample::select(vec![0u8, 3, 8])),
        prop::option::of(0u8..2),
    )
        .prop_filter_map("type if code", |(t, c)| {
            IcmpSpec::new(t, if t.is_some() { c } else { None }).ok()
        });
    prop_oneof![
        1 => Just(Protocol::Any),
        4 => port_range().prop_map(Protocol::Tcp),
        2 => port_range().prop_map(Protocol::Udp),
        2 => icmp.prop_map(Protocol::Icmp),
        1 => number().prop_map(Protocol::Number),
    ]
}

/// A protocol number as [`Protocol::Number`] takes it (never 1, 6 or 17).
fn number() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(PROTOCOL_NUMBERS.to_vec()),
        1 => any::<u8>().prop_filter("ICMP, TCP and UDP have their own forms", |n| {
            !matches!(*n, IP_PROTO_ICMP | IP_PROTO_TCP | IP_PROTO_UDP)
        }),
    ]
}

fn cidr_peer() -> impl Strategy<Value = Peer> {
    prop::sample::select(vec![
        (Ipv4Addr::UNSPECIFIED, 0u8),
        (Ipv4Addr::UNSPECIFIED, 0u8),
        (Ipv4Addr::new(10, 0, 0, 0), 16),
        (Ipv4Addr::new(10, 0, 0, 0), 16),
        (Ipv4Addr::new(10, 0, 1, 0), 30),
        (Ipv4Addr::new(10, 0, 1, 3), 32),
        (Ipv4Addr::new(192, 0, 2, 0), 24),
        (Ipv4Addr::new(192, 0, 2, 7), 32),
        (Ipv4Addr::new(198, 51, 100, 0), 24),
    ])
    .prop_filter_map("valid cidr", |(a, l)| Peer::cidr(a, l).ok())
}

/// The shape of a random model before it is built: how many switches, groups and
/// instances, and which choices each makes (group references are indices).
#[derive(Clone, Debug)]
struct ModelSpec {
    switches: u8,
    groups: Vec<GroupSpec>,
    instances: Vec<InstanceSpec>,
}

#[derive(Clone, Debug)]
struct GroupSpec {
    ingress: Vec<(Protocol, PeerSpec)>,
    /// `None`: keep the default allow-all egress.
    egress: Option<Vec<(Protocol, PeerSpec)>>,
}

#[derive(Clone, Debug)]
enum PeerSpec {
    Cidr(Peer),
    Group(prop::sample::Index),
}

#[derive(Clone, Debug)]
struct InstanceSpec {
    switch: prop::sample::Index,
    attached: bool,
    groups: Vec<prop::sample::Index>,
    elastic_ip: bool,
}

fn permission_spec() -> impl Strategy<Value = (Protocol, PeerSpec)> {
    let peer = prop_oneof![
        3 => cidr_peer().prop_map(PeerSpec::Cidr),
        2 => any::<prop::sample::Index>().prop_map(PeerSpec::Group),
    ];
    (protocol(), peer)
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    let group = (
        prop::collection::vec(permission_spec(), 0..6),
        prop::option::weighted(0.4, prop::collection::vec(permission_spec(), 0..3)),
    )
        .prop_map(|(ingress, egress)| GroupSpec { ingress, egress });
    let instance = (
        any::<prop::sample::Index>(),
        prop::bool::weighted(0.9),
        prop::collection::vec(any::<prop::sample::Index>(), 1..3),
        any::<bool>(),
    )
        .prop_map(|(switch, attached, groups, elastic_ip)| InstanceSpec {
            switch,
            attached,
            groups,
            elastic_ip,
        });
    (
        1u8..=3,
        prop::collection::vec(group, 1..4),
        prop::collection::vec(instance, 1..6),
    )
        .prop_map(|(switches, groups, instances)| ModelSpec {
            switches,
            groups,
            instances,
        })
}

/// The id of the `n`th generated group (`sg-n`).
pub fn group_id(n: usize) -> Option<GroupId> {
    GroupId::new(format!("sg-{n}")).ok()
}

/// The id of the `n`th generated instance (`i-n`).
pub fn instance_id(n: usize) -> Option<InstanceId> {
    InstanceId::new(format!("i-{n}")).ok()
}

fn build(spec: &ModelSpec) -> Result<Model, ModelError> {
    let owner = OwnerId::new("111122223333")?;
    let switches = (1..=u64::from(spec.switches)).map(|dpid| Switch {
        dpid,
        uplink: UPLINK,
    });
    let n_groups = spec.groups.len();
    let peer = |p: &PeerSpec| -> Result<Peer, ModelError> {
        match p {
            PeerSpec::Cidr(c) => Ok(c.clone()),
            PeerSpec::Group(i) => Ok(Peer::Group(group_id(i.index(n_groups)).ok_or(
                ModelError::Ec2Argument {
                    what: "group",
                    found: String::new(),
                    expected: "a generated group",
                },
            )?)),
        }
    };
    let mut groups = Vec::new();
    for (n, g) in spec.groups.iter().enumerate() {
        let id = group_id(n).ok_or(ModelError::Ec2Argument {
            what: "group",
            found: n.to_string(),
            expected: "a generated group",
        })?;
        let mut sg = SecurityGroup::new(id, format!("group {n}"), owner.clone(), "generated");
        for (proto, p) in &g.ingress {
            sg.ingress.insert(Permission::new(*proto, peer(p)?)?);
        }
        if let Some(egress) = &g.egress {
            sg.egress.clear();
            for (proto, p) in egress {
                sg.egress.insert(Permission::new(*proto, peer(p)?)?);
            }
        }
        groups.push(sg);
    }
    let mut instances = Vec::new();
    let mut eips = Vec::new();
    let mut next_port = std::collections::BTreeMap::<u64, u16>::new();
    let pool = elastic_ip_pool();
    for (n, i) in spec.instances.iter().enumerate() {
        let id = instance_id(n).ok_or(ModelError::Ec2Argument {
            what: "instance",
            found: n.to_string(),
            expected: "a generated instance",
        })?;
        let switch = 1 + i.switch.index(usize::from(spec.switches)) as u64;
        let port = next_port.entry(switch).or_insert(1);
        let attachment = i.attached.then_some(Attachment {
            switch,
            port: PortNo(*port),
        });
        *port += 1;
        let host = 2 + n as u8;
        let groups: BTreeSet<GroupId> = i
            .groups
            .iter()
            .filter_map(|g| group_id(g.index(n_groups)))
            .collect();
        if i.elastic_ip {
            if let Some(ip) = pool.get(eips.len()) {
                eips.push(ElasticIp {
                    public_ip: *ip,
                    allocation_id: AllocationId::new(format!("eipalloc-{n}"))?,
                    owner: owner.clone(),
                    instance: Some(id.clone()),
                });
            }
        }
        instances.push(Instance {
            id,
            owner: owner.clone(),
            mac: mac_of(1, host),
            ip: Ipv4Addr::new(10, 0, 1, host),
            groups,
            attachment,
        });
    }
    // One spare, unassociated elastic IP.
    if let Some(ip) = pool.get(eips.len()) {
        eips.push(ElasticIp {
            public_ip: *ip,
            allocation_id: AllocationId::new("eipalloc-spare")?,
            owner: owner.clone(),
            instance: None,
        });
    }
    Model::from_parts(settings(), switches, groups, instances, eips)
}

/// A random model: 1 to 3 switches (uplink port 100), 1 to 3 groups with up to 5 ingress
/// permissions each and either the default allow-all egress or up to 2 egress permissions
/// (protocols any, TCP and UDP with single ports, boundary ranges, all ports and ranges
/// wider than the default port budget, ICMP with or without type and code, other protocol
/// numbers; peers
/// CIDRs inside and outside the subnet or groups, the group itself included), 1 to 5
/// instances `i-n` at `10.0.1.(n+2)`, mostly attached, in 1 or 2 groups, about half with an
/// elastic IP, and one spare elastic IP.
pub fn model() -> impl Strategy<Value = Model> {
    model_spec().prop_filter_map("the generated model is valid", |s| build(&s).ok())
}

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

/// Where a step's frame comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The instance's port, wherever it is attached when the step runs.
    Instance(InstanceId),
    /// The public gateway, onto the segment of the uplinks.
    Outside,
    /// A switch's uplink port directly (the trusted physical network).
    Uplink(u64),
}

impl Source {
    /// Where this source is in `model` now (`None`: an unattached instance).
    pub fn entry(&self, model: &Model) -> Option<Entry> {
        match self {
            Source::Instance(id) => model.instance(id)?.attachment.map(|a| Entry::Port {
                switch: a.switch,
                port: a.port,
            }),
            Source::Outside => Some(Entry::Outside),
            Source::Uplink(d) => model.switch(*d).map(|s| Entry::Port {
                switch: *d,
                port: s.uplink,
            }),
        }
    }
}

/// A change to the model in the middle of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Add a permission to a group.
    Authorize(GroupId, Direction, Permission),
    /// Remove the `n`th permission (modulo their number) of a group in a direction.
    Revoke(GroupId, Direction, usize),
    /// Put an instance in a group.
    Join(InstanceId, GroupId),
    /// Take an instance out of a group.
    Leave(InstanceId, GroupId),
    /// Associate an elastic IP with an instance (moving it if it is associated already).
    Associate(Ipv4Addr, InstanceId),
    /// Disassociate an elastic IP.
    Disassociate(Ipv4Addr),
    /// Move an instance to a port of a switch (`None`: detach it).
    Attach(InstanceId, Option<Attachment>),
}

impl Change {
    /// Apply the change to `model` (errors are legitimate: the change may not apply).
    pub fn apply(&self, model: &mut Model) -> Result<Touched, ModelError> {
        match self {
            Change::Authorize(g, d, p) => model.authorize(g, *d, p.clone()),
            Change::Revoke(g, d, n) => {
                let p = model
                    .group(g)
                    .and_then(|grp| {
                        let ps = grp.permissions(*d);
                        let len = ps.len();
                        if len == 0 {
                            None
                        } else {
                            ps.iter().nth(n % len).cloned()
                        }
                    })
                    .ok_or(ModelError::Ec2Argument {
                        what: "permission",
                        found: format!("{g:?} {d:?} #{n}"),
                        expected: "an existing permission",
                    })?;
                model.revoke(g, *d, &p)
            }
            Change::Join(i, g) => model.join_group(i, g),
            Change::Leave(i, g) => model.leave_group(i, g),
            Change::Associate(ip, i) => model.associate(*ip, i, true),
            Change::Disassociate(ip) => model.disassociate(*ip),
            Change::Attach(i, a) => model.attach(i, *a),
        }
    }
}

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this frame from this source.
    Send(Source, Packet),
    /// Reply to what step `n` (modulo the steps so far) delivered, if it delivered an IPv4
    /// packet: the reverse packet, from where it was delivered.
    Reply(usize),
    /// Let this many seconds pass.
    Wait(u64),
    /// Change the model.
    Change(Change),
}

/// The packet that answers `delivered` (an IPv4 packet received by `to`), and where it comes
/// from: addresses, MACs and (for TCP and UDP) ports swapped, for ICMP queries the reply
/// type. `None` for non-IPv4 packets and ICMP messages that have no reply.
pub fn reply_to(to: &Endpoint, delivered: &Packet) -> Option<(Source, Packet)> {
    if !delivered.is_ipv4() {
        return None;
    }
    let mut r = delivered.reversed();
    if delivered.is_icmp() {
        r.tp_src = icmp_reply_type(delivered.tp_src)?;
    }
    let src = match to {
        Endpoint::Instance(id) => Source::Instance(id.clone()),
        Endpoint::Outside => Source::Outside,
    };
    Some((src, r))
}

fn ipv4_frame(
    proto: u8,
    ports: (u16, u16),
    icmp: (u8, u8),
) -> impl Fn(MacAddr, MacAddr, Ipv4Addr, Ipv4Addr) -> Packet {
    move |ds, dd, s, d| {
        let (tp_src, tp_dst) = match proto {
            IP_PROTO_TCP | IP_PROTO_UDP => ports,
            IP_PROTO_ICMP => (u16::from(icmp.0), u16::from(icmp.1)),
            _ => (0, 0),
        };
        Packet::ipv4(ds, dd, s, d, proto, tp_src, tp_dst)
    }
}

/// The steps of a trace against `model`.
fn step(model: &Model) -> impl Strategy<Value = Step> {
    let s = model.settings();
    let insts: Vec<Instance> = model.instances().values().cloned().collect();
    let groups: Vec<GroupId> = model.groups().keys().cloned().collect();
    let switches: Vec<u64> = model.switches().keys().copied().collect();
    let eips = elastic_ip_pool();
    let outside = outside_hosts();
    let (router, gw_mac, eip_mac, gw_ip) = (
        s.router_mac,
        s.public_gateway_mac,
        s.elastic_ip_mac,
        s.gateway,
    );
    // Protocols: TCP, UDP, ICMP, GRE, and the numbers the model's permissions name.
    let mut protos = vec![IP_PROTO_TCP, IP_PROTO_TCP, IP_PROTO_UDP, IP_PROTO_ICMP, 47];
    for g in model.groups().values() {
        for d in [Direction::Ingress, Direction::Egress] {
            for p in g.permissions(d) {
                if let Protocol::Number(n) = p.protocol() {
                    protos.push(*n);
                }
            }
        }
    }
    let proto = prop::sample::select(protos);
    // Destination ports: the boundaries of the model's ranges and their neighbours, mostly.
    let mut edges: BTreeSet<u16> = BTreeSet::new();
    for g in model.groups().values() {
        for d in [Direction::Ingress, Direction::Egress] {
            for p in g.permissions(d) {
                if let Protocol::Tcp(r) | Protocol::Udp(r) = p.protocol() {
                    for v in [r.from(), r.to()] {
                        edges.extend([v.saturating_sub(1), v, v.saturating_add(1)]);
                    }
                }
            }
        }
    }
    edges.extend(PORTS);
    let edges: Vec<u16> = edges.into_iter().collect();
    let ports = (
        prop::sample::select(vec![1024u16, 40000, 22, 80]),
        prop::sample::select(edges),
    );
    let icmp = (prop::sample::select(vec![8u8, 0, 3, 13]), 0u8..2);
    let shape = (proto, ports, icmp);
    let pick = any::<prop::sample::Index>();

    let ii = insts.clone();
    let private = (shape.clone(), pick.clone(), pick.clone()).prop_map(move |(sh, a, b)| {
        // Two different instances when there are two.
        let n = ii.len();
        let ai = a.index(n);
        let a = &ii[ai];
        let b = &ii[(ai + 1 + b.index(n.max(2) - 1)) % n];
        let f = ipv4_frame(sh.0, sh.1, sh.2);
        Step::Send(Source::Instance(a.id.clone()), f(a.mac, b.mac, a.ip, b.ip))
    });
    let ii = insts.clone();
    let oo = outside.clone();
    let egress_out = (shape.clone(), pick.clone(), pick.clone()).prop_map(move |(sh, a, o)| {
        let a = &ii[a.index(ii.len())];
        let f = ipv4_frame(sh.0, sh.1, sh.2);
        Step::Send(
            Source::Instance(a.id.clone()),
            f(a.mac, router, a.ip, oo[o.index(oo.len())]),
        )
    });
    let ee = eips.clone();
    let oo = outside.clone();
    let from_outside = (shape.clone(), pick.clone(), pick.clone()).prop_map(move |(sh, o, e)| {
        let f = ipv4_frame(sh.0, sh.1, sh.2);
        Step::Send(
            Source::Outside,
            f(
                gw_mac,
                eip_mac,
                oo[o.index(oo.len())],
                ee[e.index(ee.len())],
            ),
        )
    });
    // Private traffic arriving on an uplink, as from an instance on another switch.
    let ii = insts.clone();
    let sw = switches.clone();
    let on_uplink =
        (shape.clone(), pick.clone(), pick.clone(), pick.clone()).prop_map(move |(sh, a, b, d)| {
            let a = &ii[a.index(ii.len())];
            let b = &ii[b.index(ii.len())];
            let f = ipv4_frame(sh.0, sh.1, sh.2);
            Step::Send(
                Source::Uplink(sw[d.index(sw.len())]),
                f(a.mac, b.mac, a.ip, b.ip),
            )
        });
    // Spoofed: another instance's MAC or address, or a made-up one; ARP requests with the
    // instance's own MAC and address but another sender hardware address.
    let ii = insts.clone();
    let spoofed =
        (shape.clone(), pick.clone(), pick.clone(), 0u8..5).prop_map(move |(sh, a, b, how)| {
            let a = &ii[a.index(ii.len())];
            let b = &ii[b.index(ii.len())];
            let f = ipv4_frame(sh.0, sh.1, sh.2);
            let (mac, ip) = match how {
                0 => (b.mac, a.ip),
                1 => (a.mac, b.ip),
                2 => (a.mac, Ipv4Addr::new(10, 0, 9, 9)),
                _ => {
                    let sha = if how == 3 && b.mac != a.mac {
                        b.mac
                    } else {
                        MacAddr([2, 0, 0, 0, 9, 9])
                    };
                    let req = Packet::arp(1, a.mac, MacAddr::BROADCAST, a.ip, b.ip);
                    return Step::Send(Source::Instance(a.id.clone()), req.with_arp_sha(sha));
                }
            };
            Step::Send(Source::Instance(a.id.clone()), f(mac, b.mac, ip, b.ip))
        });
    // ARP: requests from instances (for instances, the gateway, nobody), with a spoofed
    // sender now and then; requests from outside for elastic IPs; stray replies.
    let ii = insts.clone();
    let ee = eips.clone();
    let arp = (pick.clone(), pick.clone(), 0u8..6).prop_map(move |(a, bi, kind)| {
        let a = &ii[a.index(ii.len())];
        let b = &ii[bi.index(ii.len())];
        match kind {
            0 | 1 => Step::Send(
                Source::Instance(a.id.clone()),
                Packet::arp(1, a.mac, MacAddr::BROADCAST, a.ip, b.ip),
            ),
            2 => Step::Send(
                Source::Instance(a.id.clone()),
                Packet::arp(1, a.mac, MacAddr::BROADCAST, a.ip, gw_ip),
            ),
            3 => Step::Send(
                Source::Instance(a.id.clone()),
                Packet::arp(1, a.mac, MacAddr::BROADCAST, b.ip, gw_ip),
            ),
            4 => Step::Send(
                Source::Outside,
                Packet::arp(
                    1,
                    gw_mac,
                    MacAddr::BROADCAST,
                    Ipv4Addr::new(198, 51, 100, 1),
                    ee[bi.index(ee.len())],
                ),
            ),
            _ => Step::Send(
                Source::Instance(a.id.clone()),
                Packet::arp(2, a.mac, b.mac, a.ip, b.ip),
            ),
        }
    });
    // Frames no rule is about: random headers from anywhere, tagged frames.
    let ii = insts.clone();
    let unrelated = (packet(), pick.clone(), any::<bool>()).prop_map(move |(p, a, outside)| {
        let a = &ii[a.index(ii.len())];
        if outside {
            Step::Send(Source::Outside, p)
        } else {
            let mut p = p;
            p.dl_src = a.mac;
            p.nw_src = a.ip;
            Step::Send(Source::Instance(a.id.clone()), p)
        }
    });
    let wait = prop::sample::select(vec![1u64, 30, 59, 60, 61, 120]).prop_map(Step::Wait);
    let reply = any::<usize>().prop_map(Step::Reply);
    let change = change(insts, groups, switches);
    prop_oneof![
        5 => private,
        3 => egress_out,
        3 => from_outside,
        1 => on_uplink,
        1 => spoofed,
        2 => arp,
        1 => unrelated,
        6 => reply,
        1 => wait,
        1 => change,
    ]
}

fn change(
    insts: Vec<Instance>,
    groups: Vec<GroupId>,
    switches: Vec<u64>,
) -> impl Strategy<Value = Step> {
    let pick = any::<prop::sample::Index>();
    let eips = elastic_ip_pool();
    let (gg, ii) = (groups.clone(), insts.clone());
    let dir = prop::sample::select(vec![Direction::Ingress, Direction::Egress]);
    let authorize = (pick.clone(), dir.clone(), permission_spec()).prop_filter_map(
        "valid permission",
        move |(g, d, (proto, peer))| {
            let peer = match peer {
                PeerSpec::Cidr(c) => c,
                PeerSpec::Group(i) => Peer::Group(gg[i.index(gg.len())].clone()),
            };
            let p = Permission::new(proto, peer).ok()?;
            Some(Change::Authorize(gg[g.index(gg.len())].clone(), d, p))
        },
    );
    let gg = groups.clone();
    let revoke = (pick.clone(), dir, any::<usize>())
        .prop_map(move |(g, d, n)| Change::Revoke(gg[g.index(gg.len())].clone(), d, n));
    let gg = groups.clone();
    let join = (pick.clone(), pick.clone(), any::<bool>()).prop_map(move |(i, g, join)| {
        let i = ii[i.index(ii.len())].id.clone();
        let g = gg[g.index(gg.len())].clone();
        if join {
            Change::Join(i, g)
        } else {
            Change::Leave(i, g)
        }
    });
    let ii = insts.clone();
    let associate = (pick.clone(), pick.clone(), any::<bool>()).prop_map(move |(e, i, on)| {
        let e = eips[e.index(eips.len())];
        if on {
            Change::Associate(e, ii[i.index(ii.len())].id.clone())
        } else {
            Change::Disassociate(e)
        }
    });
    let ii = insts;
    let attach = (pick.clone(), pick, 20u16..24, prop::bool::weighted(0.8)).prop_map(
        move |(i, s, port, on)| {
            let id = ii[i.index(ii.len())].id.clone();
            let a = on.then(|| Attachment {
                switch: switches[s.index(switches.len())],
                port: PortNo(port),
            });
            Change::Attach(id, a)
        },
    );
    prop_oneof![
        2 => authorize,
        2 => revoke,
        2 => join,
        2 => associate,
        1 => attach,
    ]
    .prop_map(Step::Change)
}

/// Up to `max` random changes to `model` (some may not apply to the model as it will be by
/// then: [`Change::apply`] says so).
pub fn changes(model: &Model, max: usize) -> impl Strategy<Value = Vec<Change>> {
    let insts: Vec<Instance> = model.instances().values().cloned().collect();
    let groups: Vec<GroupId> = model.groups().keys().cloned().collect();
    let switches: Vec<u64> = model.switches().keys().copied().collect();
    prop::collection::vec(change(insts, groups, switches), 1..max.max(2)).prop_map(|steps| {
        steps
            .into_iter()
            .filter_map(|s| match s {
                Step::Change(c) => Some(c),
                _ => None,
            })
            .collect()
    })
}

/// A random model and a random trace of up to `max_steps` steps against it.
pub fn scenario(max_steps: usize) -> impl Strategy<Value = (Model, Vec<Step>)> {
    model().prop_flat_map(move |m| {
        let steps = prop::collection::vec(step(&m), 1..max_steps.max(2));
        (Just(m), steps)
    })
}
