//! The compiler: from the [`Model`] to one OpenFlow 1.0 flow table per switch.
//!
//! The tables enforce, at each switch, the security-group sides of the instances attached
//! there (see the crate documentation for the semantics and the band layout). Flows are
//! grouped in *fragments*: the flows an instance contributes to its switch, and each switch's
//! base flows. A change recompiles only the fragments of the instances it [`Touched`], and
//! [`Compiler::update`] returns the flow_mods that turn the installed tables into the new
//! ones (adds before deletes).

use crate::diff::{diff, Update};
use crate::model::{
    Direction, Dpid, GroupId, Instance, InstanceId, Model, Peer, Permission, Protocol, Touched,
};
use crate::packet::ARP_REQUEST;
use crate::reference::{eip_in_actions, eip_out_actions, icmp_reply_type};
use core::hash::{BuildHasherDefault, Hasher};
use core::net::Ipv4Addr;
use ipnetwork::Ipv4Network;
use openflow_proto::flow_match::{
    ETH_TYPE_ARP, ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP,
};
use openflow_proto::MacAddr;
use openflow_proto::{
    Action, FlowMod, FlowModCommand, FlowModFlags, Ipv4Match, Match, PortNo, VlanMatch, NO_BUFFER,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The priority bands, highest first. Every compiled flow has one of these priorities; two
/// flows of the same band that overlap always have the same actions.
pub mod priority {
    /// Pinholes: exact flows of tracked connections, installed by the controller.
    pub const PINHOLE: u16 = 40000;
    /// ARP requests the controller answers (from instances, and for hosted elastic IPs).
    pub const ARP: u16 = 36000;
    /// From the uplink: drop traffic to elastic IPs claiming a private source address, and
    /// traffic claiming the address of an instance attached to this switch.
    pub const UPLINK_GUARD: u16 = 34000;
    /// From the uplink: forward what the receiver's rules allow both ways.
    pub const INGRESS_FORWARD: u16 = 32000;
    /// From the uplink: send what the receiver's rules allow one way to the controller.
    pub const INGRESS_PUNT: u16 = 31000;
    /// From the uplink: drop everything else.
    pub const UPLINK_DROP: u16 = 30000;
    /// To an instance attached to this switch from any other port: to the controller (both
    /// sides are enforced here, and the controller installs pinholes).
    pub const LOCAL_PUNT: u16 = 28000;
    /// From an instance to other instances: forward what its rules allow both ways.
    pub const EGRESS_PRIVATE_FORWARD: u16 = 26000;
    /// From an instance to other instances: the rest its egress rules allow, to the
    /// controller.
    pub const EGRESS_PRIVATE_PUNT: u16 = 25000;
    /// From an instance, to the private subnet: drop the rest (so the outside bands below
    /// never see private destinations).
    pub const EGRESS_SUBNET_DROP: u16 = 24000;
    /// From an instance to the outside through its elastic IP: forward, rewritten, what its
    /// rules allow both ways.
    pub const EGRESS_OUTSIDE_FORWARD: u16 = 23000;
    /// From an instance to the outside: the rest its egress rules allow, to the controller.
    pub const EGRESS_OUTSIDE_PUNT: u16 = 22000;
    /// Everything else is dropped (OpenFlow 1.0 would send table misses to the controller).
    pub const TABLE_MISS: u16 = 0;

    /// Every compiled band, highest first.
    pub const ALL: [u16; 12] = [
        ARP,
        UPLINK_GUARD,
        INGRESS_FORWARD,
        INGRESS_PUNT,
        UPLINK_DROP,
        LOCAL_PUNT,
        EGRESS_PRIVATE_FORWARD,
        EGRESS_PRIVATE_PUNT,
        EGRESS_SUBNET_DROP,
        EGRESS_OUTSIDE_FORWARD,
        EGRESS_OUTSIDE_PUNT,
        TABLE_MISS,
    ];
}

/// Cookie layout: the top byte says where a flow comes from, the rest identifies the object.
pub mod cookie {
    /// A flow of an instance's fragment; low 56 bits: a hash of the instance id.
    pub const INSTANCE: u64 = 0x01 << 56;
    /// A switch's base flows; low 56 bits: the datapath id's low bits.
    pub const SWITCH: u64 = 0x02 << 56;
    /// A pinhole; low 56 bits: its connection's slot in the controller's table (a 24-bit
    /// generation, then a 32-bit index), see [`crate::pinhole::Pinholes`].
    pub const PINHOLE: u64 = 0x80 << 56;
    /// The mask of the kind byte.
    pub const KIND_MASK: u64 = 0xff << 56;

    /// True for the cookie of a pinhole (installed by the controller, not compiled: leave
    /// pinholes out of a flow dump before diffing it against compiled tables).
    pub const fn is_pinhole(cookie: u64) -> bool {
        cookie & KIND_MASK == PINHOLE
    }
}

/// The hard ceiling on [`CompileOptions::port_budget`]: whatever the option says, one
/// permission (or pair) never expands to more port combinations than this.
pub const MAX_EXPANSION: u32 = 65536;

/// Compiler options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// The most flows one permission (or one pair of permissions) may expand to for its
    /// ports (at most [`MAX_EXPANSION`]); beyond it the traffic goes to the controller,
    /// which decides and installs pinholes.
    pub port_budget: u32,
    /// The idle timeout of pinholes, in seconds (and of tracked connections).
    pub pinhole_idle_timeout: u16,
    /// How many bytes of a punted packet the switch sends to the controller.
    pub punt_max_len: u16,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            port_budget: 64,
            pinhole_idle_timeout: 60,
            punt_max_len: 0xffff,
        }
    }
}

/// One flow of a table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Priority (one of the [`priority`] bands).
    pub priority: u16,
    /// Match.
    pub r#match: Match,
    /// Actions (empty: drop); shared between the flows that have the same.
    pub actions: Arc<[Action]>,
    /// Cookie (see [`cookie`]).
    pub cookie: u64,
    /// Idle timeout, seconds.
    pub idle_timeout: u16,
    /// Hard timeout, seconds.
    pub hard_timeout: u16,
    /// Flags.
    pub flags: FlowModFlags,
}

impl Flow {
    /// A permanent flow.
    pub fn new(priority: u16, r#match: Match, actions: Arc<[Action]>, cookie: u64) -> Self {
        Flow {
            priority,
            r#match,
            actions,
            cookie,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: FlowModFlags::empty(),
        }
    }

    /// The flow's identity in a switch: OpenFlow replaces a flow added with the same match
    /// and priority.
    pub fn key(&self) -> (u16, Match) {
        (self.priority, self.r#match)
    }

    /// The `OFPFC_ADD` that installs it.
    pub fn to_add(&self) -> FlowMod {
        FlowMod {
            r#match: self.r#match,
            cookie: self.cookie,
            command: FlowModCommand::Add,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            priority: self.priority,
            buffer_id: NO_BUFFER,
            out_port: PortNo::NONE,
            flags: self.flags,
            actions: self.actions.to_vec().into(),
        }
    }

    /// The `OFPFC_DELETE_STRICT` that removes it.
    pub fn to_delete(&self) -> FlowMod {
        let mut fm = FlowMod::delete_strict(self.r#match, self.priority);
        fm.cookie = self.cookie;
        fm
    }
}

/// One switch's compiled flows, in a deterministic order.
pub type FlowTable = Vec<Flow>;

/// The compiled tables of every switch.
pub type Tables = BTreeMap<Dpid, FlowTable>;

/// FNV-1a, for stable cookies.
fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The cookie of an instance's flows.
pub fn instance_cookie(id: &InstanceId) -> u64 {
    cookie::INSTANCE | (fnv(id.as_str()) & !cookie::KIND_MASK)
}

/// The cookie of a switch's base flows.
pub fn switch_cookie(dpid: Dpid) -> u64 {
    cookie::SWITCH | (dpid & !cookie::KIND_MASK)
}

/// Shared action lists, and scratch space reused between instances (and, in a [`Compiler`],
/// between updates: the flows of a recompiled fragment then share the action lists of its
/// previous version, and compare equal to them by pointer).
#[derive(Clone)]
struct Acts {
    drop: Arc<[Action]>,
    punt: Arc<[Action]>,
    /// `output(port)`, one list per port number.
    outputs: HashMap<PortNo, Arc<[Action]>, FxBuild>,
    /// Scratch set of emitted keys.
    seen: HashSet<[u64; 6], FxBuild>,
    /// Scratch: the classes of the pair of permissions being expanded.
    classes: Vec<L4>,
    /// Scratch: the punt classes of the permission being expanded.
    punts: Vec<L4>,
    /// Scratch: the members of the peer being expanded.
    members: Vec<Member>,
}

impl Acts {
    fn new(o: &CompileOptions) -> Self {
        Acts {
            drop: Arc::from(Vec::new()),
            punt: Arc::from(vec![Action::to_controller(o.punt_max_len)]),
            outputs: HashMap::default(),
            seen: HashSet::with_capacity_and_hasher(256, FxBuild::default()),
            classes: Vec::new(),
            punts: Vec::new(),
            members: Vec::new(),
        }
    }
}

impl core::fmt::Debug for Acts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Acts")
            .field("drop", &self.drop)
            .field("punt", &self.punt)
            .field("outputs", &self.outputs)
            .finish_non_exhaustive()
    }
}

/// The shared `output(port)` action list.
fn output_to(outputs: &mut HashMap<PortNo, Arc<[Action]>, FxBuild>, port: PortNo) -> Arc<[Action]> {
    Arc::clone(
        outputs
            .entry(port)
            .or_insert_with(|| Arc::from(vec![Action::output(port)])),
    )
}

/// A transport class: IP protocol (None: any) and the transport fields (None: any).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct L4 {
    proto: Option<u8>,
    tp_src: Option<u16>,
    tp_dst: Option<u16>,
}

impl L4 {
    fn apply(&self, m: &mut Match) {
        m.nw_proto = self.proto;
        m.tp_src = self.tp_src;
        m.tp_dst = self.tp_dst;
    }
}

/// The destination (or source) port values of a range: `None` (wildcard) for all ports.
fn ports(r: &crate::model::PortRange) -> impl Iterator<Item = Option<u16>> + Clone {
    let all = r.is_all();
    let singles = (!all).then(|| (r.from()..=r.to()).map(Some));
    all.then_some(None)
        .into_iter()
        .chain(singles.into_iter().flatten())
}

fn port_count(r: &crate::model::PortRange) -> u32 {
    if r.is_all() {
        1
    } else {
        r.len()
    }
}

/// The classes of a permission's own traffic, into `out` (cleared first); `false` if its
/// ports exceed the budget.
fn own_classes(p: &Protocol, budget: u32, out: &mut Vec<L4>) -> bool {
    out.clear();
    match p {
        Protocol::Any => out.push(L4 {
            proto: None,
            tp_src: None,
            tp_dst: None,
        }),
        Protocol::Tcp(r) | Protocol::Udp(r) => {
            if port_count(r) > budget {
                return false;
            }
            let proto = p.ip_proto();
            let class = |d| L4 {
                proto,
                tp_src: None,
                tp_dst: d,
            };
            if r.is_all() {
                out.push(class(None));
            } else {
                out.extend((r.from()..=r.to()).map(|d| class(Some(d))));
            }
        }
        Protocol::Icmp(s) => out.push(L4 {
            proto: Some(IP_PROTO_ICMP),
            tp_src: s.icmp_type().map(u16::from),
            tp_dst: s.code().map(u16::from),
        }),
        Protocol::Number(n) => out.push(L4 {
            proto: Some(*n),
            tp_src: None,
            tp_dst: None,
        }),
    }
    true
}

/// The punt classes of a permission, into `out` (cleared first): its own classes, or,
/// beyond the budget, its protocol with the ports wildcarded.
fn punt_classes(p: &Protocol, budget: u32, out: &mut Vec<L4>) {
    if !own_classes(p, budget, out) {
        out.clear();
        out.push(L4 {
            proto: p.ip_proto(),
            tp_src: None,
            tp_dst: None,
        });
    }
}

/// True if `reverse` allows every reply of every packet `primary` allows (on protocol and
/// ports).
fn reverse_covers(primary: &Protocol, reverse: &Protocol) -> bool {
    match (primary, reverse) {
        (_, Protocol::Any) => true,
        (Protocol::Tcp(_), Protocol::Tcp(r)) | (Protocol::Udp(_), Protocol::Udp(r)) => r.is_all(),
        (Protocol::Icmp(_), Protocol::Icmp(s)) => s.icmp_type().is_none() && s.code().is_none(),
        (Protocol::Number(a), Protocol::Number(b)) => a == b,
        _ => false,
    }
}

const ICMP_QUERY_TYPES: [u16; 8] = [0, 8, 13, 14, 15, 16, 17, 18];

/// `self_sufficient_classes_into` as a new list (`None` beyond the budget).
#[cfg(test)]
fn self_sufficient_classes(primary: &Protocol, reverse: &Protocol, budget: u32) -> Option<Vec<L4>> {
    let mut v = Vec::new();
    self_sufficient_classes_into(primary, reverse, budget, &mut v).then_some(v)
}

/// The classes of packets `primary` allows whose replies `reverse` allows (on protocol and
/// ports): the packets that need no tracked state, into `out` (cleared first); `false` if the
/// expansion exceeds the budget. The classes may cover only part of that set (never more).
fn self_sufficient_classes_into(
    primary: &Protocol,
    reverse: &Protocol,
    budget: u32,
    out: &mut Vec<L4>,
) -> bool {
    if reverse_covers(primary, reverse) {
        return own_classes(primary, budget, out);
    }
    out.clear();
    let icmp = |t: u16, code: Option<u16>| L4 {
        proto: Some(IP_PROTO_ICMP),
        tp_src: Some(t),
        tp_dst: code,
    };
    match (primary, reverse) {
        // Every protocol out, only some replies back: the packets whose replies are those.
        (Protocol::Any, Protocol::Tcp(r)) | (Protocol::Any, Protocol::Udp(r)) => {
            if port_count(r) > budget {
                return false;
            }
            let proto = reverse.ip_proto();
            out.extend(ports(r).map(|s| L4 {
                proto,
                tp_src: s,
                tp_dst: None,
            }));
        }
        (Protocol::Any, Protocol::Icmp(s)) => {
            let code = s.code().map(u16::from);
            match s.icmp_type() {
                Some(rt) => {
                    if let Some(t) = icmp_reply_type(u16::from(rt)) {
                        out.push(icmp(t, code));
                    }
                }
                None => out.extend(ICMP_QUERY_TYPES.iter().map(|t| icmp(*t, code))),
            }
        }
        (Protocol::Any, Protocol::Number(n)) => out.push(L4 {
            proto: Some(*n),
            tp_src: None,
            tp_dst: None,
        }),
        (Protocol::Tcp(d), Protocol::Tcp(r)) | (Protocol::Udp(d), Protocol::Udp(r)) => {
            if u64::from(port_count(d)) * u64::from(port_count(r)) > u64::from(budget) {
                return false;
            }
            let proto = primary.ip_proto();
            for dp in ports(d) {
                out.extend(ports(r).map(|sp| L4 {
                    proto,
                    tp_src: sp,
                    tp_dst: dp,
                }));
            }
        }
        (Protocol::Icmp(ps), Protocol::Icmp(rs)) => {
            // The reply keeps the code: it must satisfy both.
            let code = match (ps.code(), rs.code()) {
                (None, c) | (c, None) => c.map(u16::from),
                (Some(a), Some(b)) if a == b => Some(u16::from(a)),
                _ => return true,
            };
            let one;
            let types: &[u16] = match ps.icmp_type() {
                Some(t) => {
                    one = [u16::from(t)];
                    &one
                }
                None => &ICMP_QUERY_TYPES,
            };
            out.extend(types.iter().filter_map(|&t| {
                match icmp_reply_type(t) {
                    // No reply (an error): nothing to track, allowed as it is.
                    None => Some(icmp(t, ps.code().map(u16::from))),
                    Some(rt) => rs
                        .icmp_type()
                        .is_none_or(|x| u16::from(x) == rt)
                        .then_some(icmp(t, code)),
                }
            }));
        }
        _ => {}
    }
    true
}

fn net(m: Ipv4Network) -> Ipv4Match {
    Ipv4Match::prefix(m.network(), m.prefix())
}

/// The intersection of two CIDR blocks (one contains the other, or they are disjoint).
fn cidr_and(a: Ipv4Network, b: Ipv4Network) -> Option<Ipv4Network> {
    if a.prefix() >= b.prefix() {
        b.contains(a.network()).then_some(a)
    } else {
        a.contains(b.network()).then_some(b)
    }
}

/// A member's private address and MAC.
#[derive(Clone, Copy)]
struct Member {
    ip: Ipv4Addr,
    mac: MacAddr,
}

/// The addresses a pair of peers both contain: a CIDR block, or listed instances (in a
/// scratch list the caller passed).
#[derive(Clone, Copy)]
enum PeerSet {
    Cidr(Ipv4Network),
    Members,
}

fn members_of(model: &Model, g: &GroupId, out: &mut Vec<Member>) {
    out.clear();
    out.extend(
        model
            .member_addresses(g)
            .map(|(_, ip, mac)| Member { ip, mac }),
    );
}

/// A peer restricted to the private subnet (members into `ms`).
fn private_peer(model: &Model, p: &Peer, ms: &mut Vec<Member>) -> Option<PeerSet> {
    let subnet = model.settings().subnet;
    match p {
        Peer::Cidr(c) => cidr_and(*c, subnet).map(PeerSet::Cidr),
        Peer::Group(g) => {
            members_of(model, g, ms);
            Some(PeerSet::Members)
        }
    }
}

/// Two peers' common private addresses (members into `ms`).
fn private_peer_and(model: &Model, a: &Peer, b: &Peer, ms: &mut Vec<Member>) -> Option<PeerSet> {
    let subnet = model.settings().subnet;
    match (a, b) {
        (Peer::Cidr(x), Peer::Cidr(y)) => cidr_and(*x, *y)
            .and_then(|c| cidr_and(c, subnet))
            .map(PeerSet::Cidr),
        (Peer::Group(g), Peer::Cidr(c)) | (Peer::Cidr(c), Peer::Group(g)) => {
            ms.clear();
            ms.extend(
                model
                    .member_addresses(g)
                    .filter(|(_, ip, _)| c.contains(*ip))
                    .map(|(_, ip, mac)| Member { ip, mac }),
            );
            Some(PeerSet::Members)
        }
        (Peer::Group(g), Peer::Group(h)) if g == h => {
            members_of(model, g, ms);
            Some(PeerSet::Members)
        }
        (Peer::Group(g), Peer::Group(h)) => {
            let (small, other) = if model.member_count(g) <= model.member_count(h) {
                (g, h)
            } else {
                (h, g)
            };
            ms.clear();
            ms.extend(
                model
                    .member_addresses(small)
                    .filter(|(id, _, _)| model.is_member(other, id))
                    .map(|(_, ip, mac)| Member { ip, mac }),
            );
            Some(PeerSet::Members)
        }
    }
}

/// `c`, unless it lies inside the private subnet (traffic with the outside never has such
/// an address: the guards drop it before the elastic-IP bands).
fn outside_part(c: Ipv4Network, subnet: Ipv4Network) -> Option<Ipv4Network> {
    let inside = c.prefix() >= subnet.prefix() && subnet.contains(c.network());
    (!inside).then_some(c)
}

/// A CIDR peer's block, if it reaches outside the private subnet.
fn outside_peer(p: &Peer, subnet: Ipv4Network) -> Option<Ipv4Network> {
    match p {
        Peer::Cidr(c) => outside_part(*c, subnet),
        Peer::Group(_) => None,
    }
}

/// True if peer `outer` contains every private address of peer `inner`.
fn peer_covers(outer: &Peer, inner: &Peer, model: &Model) -> bool {
    match (outer, inner) {
        (Peer::Cidr(o), Peer::Cidr(i)) => o.prefix() <= i.prefix() && o.contains(i.network()),
        (Peer::Cidr(o), Peer::Group(_)) => {
            // Private addresses of members are in the subnet.
            let s = model.settings().subnet;
            o.prefix() <= s.prefix() && o.contains(s.network())
        }
        (Peer::Group(o), Peer::Group(i)) => o == i,
        (Peer::Group(_), Peer::Cidr(_)) => false,
    }
}

/// True if CIDR peer `outer` contains CIDR peer `inner` (for elastic-IP paths).
fn cidr_covers(outer: &Peer, inner: &Peer) -> bool {
    matches!((outer, inner), (Peer::Cidr(o), Peer::Cidr(i)) if o.prefix() <= i.prefix() && o.contains(i.network()))
}

/// A fast, non-cryptographic hasher (the FxHash mix) for the compiler's own sets: the keys
/// are compiler-made matches, not attacker-chosen.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        for b in chunks.remainder() {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

fn opt16(v: Option<u16>) -> u64 {
    v.map_or(0, |x| 0x1_0000 | u64::from(x))
}

fn opt8(v: Option<u8>) -> u64 {
    v.map_or(0, |x| 0x100 | u64::from(x))
}

fn opt_mac(v: Option<MacAddr>) -> u64 {
    v.map_or(0, |m| {
        let o = m.octets();
        let mut b = [0u8; 8];
        b[..6].copy_from_slice(&o);
        b[6] = 1;
        u64::from_le_bytes(b)
    })
}

/// A (priority, match) packed into six words, injectively: a cheap key to deduplicate by.
pub(crate) fn packed_key(priority: u16, m: &Match) -> [u64; 6] {
    let vlan = match m.dl_vlan {
        VlanMatch::Any => 0,
        VlanMatch::Untagged => 1 << 16,
        VlanMatch::Vid(v) => (2 << 16) | u64::from(v),
    };
    [
        opt16(m.in_port.map(|p| p.0))
            | vlan << 17
            | opt8(m.dl_vlan_pcp) << 35
            | opt8(m.nw_tos) << 44,
        opt_mac(m.dl_src),
        opt_mac(m.dl_dst),
        opt16(m.dl_type) | opt16(m.tp_src) << 17 | opt16(m.tp_dst) << 34 | opt8(m.nw_proto) << 51,
        u64::from(u32::from(m.nw_src.addr())) << 32 | u64::from(u32::from(m.nw_dst.addr())),
        u64::from(m.nw_src.raw_wildcard_bits())
            | u64::from(m.nw_dst.raw_wildcard_bits()) << 8
            | u64::from(priority) << 16,
    ]
}

/// Emits an instance's flows, deduplicated by (priority, match).
struct Emitter<'s> {
    flows: &'s mut Vec<Flow>,
    seen: &'s mut HashSet<[u64; 6], FxBuild>,
    cookie: u64,
}

impl Emitter<'_> {
    fn push(&mut self, priority: u16, m: Match, actions: &Arc<[Action]>) {
        if self.seen.insert(packed_key(priority, &m)) {
            self.flows
                .push(Flow::new(priority, m, Arc::clone(actions), self.cookie));
        }
    }
}

fn untagged_ip() -> Match {
    let mut m = Match::any();
    m.dl_vlan = VlanMatch::Untagged;
    m.dl_type = Some(ETH_TYPE_IPV4);
    m
}

/// The flows instance `inst` contributes to the switch it is attached to (none if it is not
/// attached).
pub fn instance_flows(model: &Model, inst: &Instance, options: &CompileOptions) -> FlowTable {
    let mut acts = Acts::new(options);
    let mut out = Vec::new();
    instance_flows_with(model, inst, options, &mut acts, &mut out);
    out
}

fn instance_flows_with(
    model: &Model,
    inst: &Instance,
    options: &CompileOptions,
    acts: &mut Acts,
    out: &mut Vec<Flow>,
) {
    let Some(at) = inst.attachment else {
        return;
    };
    let Some(sw) = model.switch(at.switch) else {
        return;
    };
    let s = model.settings();
    let uplink = sw.uplink;
    let budget = options.port_budget.min(MAX_EXPANSION);
    let Acts {
        drop: drop_acts,
        punt: punt_acts,
        outputs,
        seen,
        classes,
        punts,
        members,
    } = acts;
    let (drop_acts, punt_acts) = (&*drop_acts, &*punt_acts);
    seen.clear();
    let mut e = Emitter {
        flows: out,
        seen,
        cookie: instance_cookie(&inst.id),
    };
    let eip = model.elastic_ip_of(&inst.id);
    let to_me = output_to(outputs, at.port);
    let to_uplink = output_to(outputs, uplink);
    let eip_in: Option<Arc<[Action]>> =
        eip.map(|_| Arc::from(eip_in_actions(model, inst, at.port)));
    let eip_out: Option<Arc<[Action]>> =
        eip.map(|ip| Arc::from(eip_out_actions(model, ip, uplink)));

    // ARP: requests from the instance (with its own addresses) and for its elastic IP.
    let mut m = Match::any();
    m.in_port = Some(at.port);
    m.dl_src = Some(inst.mac);
    m.dl_vlan = VlanMatch::Untagged;
    m.set_arp_opcode(ARP_REQUEST);
    m.nw_src = Ipv4Match::exact(inst.ip);
    e.push(priority::ARP, m, punt_acts);
    if let Some(ip) = eip {
        let mut m = Match::any();
        m.in_port = Some(uplink);
        m.dl_vlan = VlanMatch::Untagged;
        m.set_arp_opcode(ARP_REQUEST);
        m.nw_dst = Ipv4Match::exact(ip);
        e.push(priority::ARP, m, punt_acts);
    }

    // Its address never comes in through the uplink.
    let mut m = untagged_ip();
    m.in_port = Some(uplink);
    m.nw_src = Ipv4Match::exact(inst.ip);
    e.push(priority::UPLINK_GUARD, m, drop_acts);

    // Traffic to this instance from any port but the uplink: both sides are here.
    let mut m = untagged_ip();
    m.nw_dst = Ipv4Match::exact(inst.ip);
    e.push(priority::LOCAL_PUNT, m, punt_acts);

    let ingress = distinct_permissions(model, inst, Direction::Ingress);
    let egress = distinct_permissions(model, inst, Direction::Egress);

    // ----- Ingress side, from the uplink -----
    let mut priv_in = untagged_ip();
    priv_in.in_port = Some(uplink);
    priv_in.dl_dst = Some(inst.mac);
    priv_in.nw_dst = Ipv4Match::exact(inst.ip);
    let eip_in_base = eip.map(|ip| {
        let mut m = untagged_ip();
        m.in_port = Some(uplink);
        m.dl_dst = Some(s.elastic_ip_mac);
        m.nw_dst = Ipv4Match::exact(ip);
        m
    });
    for i in &ingress {
        let mut priv_covered = false;
        let mut eip_covered = false;
        for r in &egress {
            if !self_sufficient_classes_into(i.protocol(), r.protocol(), budget, classes) {
                continue;
            }
            if classes.is_empty() {
                continue;
            }
            let proto_cover = reverse_covers(i.protocol(), r.protocol());
            // Private path.
            if let Some(set) = private_peer_and(model, i.peer(), r.peer(), members) {
                emit_src(
                    &mut e,
                    priority::INGRESS_FORWARD,
                    &priv_in,
                    (set, members),
                    classes,
                    &to_me,
                );
                priv_covered |= proto_cover && peer_covers(r.peer(), i.peer(), model);
            }
            // Elastic-IP path.
            if let (Some(base), Some(acts_in), Peer::Cidr(a), Peer::Cidr(b)) =
                (&eip_in_base, &eip_in, i.peer(), r.peer())
            {
                if let Some(c) = cidr_and(*a, *b).and_then(|c| outside_part(c, s.subnet)) {
                    let mut m = *base;
                    m.nw_src = net(c);
                    for l4 in classes.iter() {
                        let mut m = m;
                        l4.apply(&mut m);
                        e.push(priority::INGRESS_FORWARD, m, acts_in);
                    }
                    eip_covered |= proto_cover && cidr_covers(r.peer(), i.peer());
                }
            }
        }
        punt_classes(i.protocol(), budget, punts);
        let punt = &*punts;
        if !priv_covered {
            if let Some(set) = private_peer(model, i.peer(), members) {
                emit_src(
                    &mut e,
                    priority::INGRESS_PUNT,
                    &priv_in,
                    (set, members),
                    punt,
                    punt_acts,
                );
            }
        }
        if !eip_covered {
            if let (Some(base), Some(c)) = (&eip_in_base, outside_peer(i.peer(), s.subnet)) {
                let mut m = *base;
                m.nw_src = net(c);
                for l4 in punt {
                    let mut m = m;
                    l4.apply(&mut m);
                    e.push(priority::INGRESS_PUNT, m, punt_acts);
                }
            }
        }
    }

    // ----- Egress side, from the instance's port -----
    let mut eg = untagged_ip();
    eg.in_port = Some(at.port);
    eg.dl_src = Some(inst.mac);
    eg.nw_src = Ipv4Match::exact(inst.ip);
    let mut eg_out = eg;
    eg_out.dl_dst = Some(s.router_mac);
    for x in &egress {
        let mut priv_covered = false;
        let mut out_covered = false;
        for r in &ingress {
            if !self_sufficient_classes_into(x.protocol(), r.protocol(), budget, classes) {
                continue;
            }
            if classes.is_empty() {
                continue;
            }
            let proto_cover = reverse_covers(x.protocol(), r.protocol());
            // Private: only destinations whose MAC is known (group members) are forwarded
            // here; CIDR destinations go to the controller, which pins the MAC.
            if let Some(PeerSet::Members) = private_peer_and(model, x.peer(), r.peer(), members) {
                for mbr in members.iter().filter(|mbr| mbr.ip != inst.ip) {
                    let mut m = eg;
                    m.dl_dst = Some(mbr.mac);
                    m.nw_dst = Ipv4Match::exact(mbr.ip);
                    for l4 in classes.iter() {
                        let mut m = m;
                        l4.apply(&mut m);
                        e.push(priority::EGRESS_PRIVATE_FORWARD, m, &to_uplink);
                    }
                }
                priv_covered |= proto_cover
                    && matches!(x.peer(), Peer::Group(_))
                    && peer_covers(r.peer(), x.peer(), model);
            }
            if let (Some(acts_out), Peer::Cidr(a), Peer::Cidr(b)) = (&eip_out, x.peer(), r.peer()) {
                if let Some(c) = cidr_and(*a, *b).and_then(|c| outside_part(c, s.subnet)) {
                    let mut m = eg_out;
                    m.nw_dst = net(c);
                    for l4 in classes.iter() {
                        let mut m = m;
                        l4.apply(&mut m);
                        e.push(priority::EGRESS_OUTSIDE_FORWARD, m, acts_out);
                    }
                    out_covered |= proto_cover && cidr_covers(r.peer(), x.peer());
                }
            }
        }
        punt_classes(x.protocol(), budget, punts);
        let punt = &*punts;
        if !priv_covered {
            match private_peer(model, x.peer(), members) {
                Some(PeerSet::Cidr(c)) => {
                    let mut m = eg;
                    m.nw_dst = net(c);
                    for l4 in punt {
                        let mut m = m;
                        l4.apply(&mut m);
                        e.push(priority::EGRESS_PRIVATE_PUNT, m, punt_acts);
                    }
                }
                Some(PeerSet::Members) => {
                    for mbr in members.iter().filter(|mbr| mbr.ip != inst.ip) {
                        let mut m = eg;
                        m.dl_dst = Some(mbr.mac);
                        m.nw_dst = Ipv4Match::exact(mbr.ip);
                        for l4 in punt {
                            let mut m = m;
                            l4.apply(&mut m);
                            e.push(priority::EGRESS_PRIVATE_PUNT, m, punt_acts);
                        }
                    }
                }
                None => {}
            }
        }
        if !out_covered && eip.is_some() {
            if let Some(c) = outside_peer(x.peer(), s.subnet) {
                let mut m = eg_out;
                m.nw_dst = net(c);
                for l4 in punt {
                    let mut m = m;
                    l4.apply(&mut m);
                    e.push(priority::EGRESS_OUTSIDE_PUNT, m, punt_acts);
                }
            }
        }
    }
    // Private destinations never reach the outside bands.
    if eip.is_some() {
        let mut m = eg;
        m.nw_dst = net(s.subnet);
        e.push(priority::EGRESS_SUBNET_DROP, m, drop_acts);
    }
}

/// An instance's permissions in one direction, each once, in first-occurrence order. A
/// permission two of its groups share yields the same flows twice (the emitter would drop the
/// second copies one by one): skipping it up front leaves the output unchanged.
fn distinct_permissions<'a>(
    model: &'a Model,
    inst: &'a Instance,
    direction: Direction,
) -> Vec<&'a Permission> {
    // The same order as `Model::permissions_of`: its groups in order, each group's set in
    // order. One group's permissions are a set: a repeat is one an earlier group has.
    let groups: Vec<&BTreeSet<Permission>> = inst
        .groups
        .iter()
        .filter_map(|g| model.group(g))
        .map(|g| g.permissions(direction))
        .collect();
    let mut v = Vec::with_capacity(groups.iter().map(|g| g.len()).sum());
    for (k, g) in groups.iter().enumerate() {
        let earlier = groups.get(..k).unwrap_or_default();
        v.extend(g.iter().filter(|p| !earlier.iter().any(|h| h.contains(*p))));
    }
    v
}

fn emit_src(
    e: &mut Emitter<'_>,
    prio: u16,
    base: &Match,
    (set, ms): (PeerSet, &[Member]),
    classes: &[L4],
    actions: &Arc<[Action]>,
) {
    match set {
        PeerSet::Cidr(c) => {
            let mut m = *base;
            m.nw_src = net(c);
            for l4 in classes {
                let mut m = m;
                l4.apply(&mut m);
                e.push(prio, m, actions);
            }
        }
        PeerSet::Members => {
            for mbr in ms {
                let mut m = *base;
                m.nw_src = Ipv4Match::exact(mbr.ip);
                for l4 in classes {
                    let mut m = m;
                    l4.apply(&mut m);
                    e.push(prio, m, actions);
                }
            }
        }
    }
}

/// A switch's base flows: the uplink's guard and default drop, and the table-miss drop.
pub fn switch_flows(model: &Model, dpid: Dpid) -> FlowTable {
    let Some(sw) = model.switch(dpid) else {
        return Vec::new();
    };
    let s = model.settings();
    let c = switch_cookie(dpid);
    let drop: Arc<[Action]> = Arc::from(Vec::new());
    let mut guard = untagged_ip();
    guard.in_port = Some(sw.uplink);
    guard.dl_dst = Some(s.elastic_ip_mac);
    guard.nw_src = net(s.subnet);
    let mut up = Match::any();
    up.in_port = Some(sw.uplink);
    vec![
        Flow::new(priority::UPLINK_GUARD, guard, Arc::clone(&drop), c),
        Flow::new(priority::UPLINK_DROP, up, Arc::clone(&drop), c),
        Flow::new(priority::TABLE_MISS, Match::any(), drop, c),
    ]
}

/// Compile the whole model: one table per switch, base flows first, then each attached
/// instance's fragment in instance-id order.
pub fn compile(model: &Model, options: &CompileOptions) -> Tables {
    let mut acts = Acts::new(options);
    let mut tables: Tables = model
        .switches()
        .keys()
        .map(|d| (*d, switch_flows(model, *d)))
        .collect();
    // The instances still to compile on each switch: once the flows per instance are known,
    // a table that fills up grows once to what its remaining instances need.
    let mut left: HashMap<Dpid, usize, FxBuild> = HashMap::default();
    for inst in model.instances().values() {
        if let Some(at) = inst.attachment {
            *left.entry(at.switch).or_default() += 1;
        }
    }
    let (mut done, mut emitted) = (0usize, 0usize);
    for inst in model.instances().values() {
        if let Some(at) = inst.attachment {
            if let Some(t) = tables.get_mut(&at.switch) {
                let remaining = left.get_mut(&at.switch).map_or(1, |n| {
                    let r = *n;
                    *n = n.saturating_sub(1);
                    r
                });
                if let Some(per) = emitted.checked_div(done).map(|a| a + 1) {
                    if t.capacity() - t.len() < per {
                        t.reserve_exact(remaining.saturating_mul(per + per / 8));
                    }
                }
                let before = t.len();
                instance_flows_with(model, inst, options, &mut acts, t);
                done += 1;
                emitted += t.len() - before;
            }
        }
    }
    tables
}

#[derive(Clone, Debug)]
struct Fragment {
    switch: Dpid,
    flows: FlowTable,
}

/// The incremental compiler: the compiled fragments of the current model, kept to turn a
/// model change into flow_mods for only what it touches.
#[derive(Clone, Debug)]
pub struct Compiler {
    options: CompileOptions,
    fragments: HashMap<InstanceId, Fragment, FxBuild>,
    bases: BTreeMap<Dpid, FlowTable>,
    acts: Acts,
}

impl Compiler {
    /// Compile `model` in full.
    pub fn new(model: &Model, options: CompileOptions) -> Self {
        let mut c = Compiler {
            options,
            fragments: HashMap::default(),
            bases: BTreeMap::new(),
            acts: Acts::new(&options),
        };
        c.rebuild(model);
        c
    }

    fn rebuild(&mut self, model: &Model) {
        let acts = &mut self.acts;
        self.bases = model
            .switches()
            .keys()
            .map(|d| (*d, switch_flows(model, *d)))
            .collect();
        self.fragments.clear();
        for inst in model.instances().values() {
            if let Some(at) = inst.attachment {
                let mut flows = Vec::with_capacity(64);
                instance_flows_with(model, inst, &self.options, acts, &mut flows);
                self.fragments.insert(
                    inst.id.clone(),
                    Fragment {
                        switch: at.switch,
                        flows,
                    },
                );
            }
        }
    }

    /// The options.
    pub fn options(&self) -> &CompileOptions {
        &self.options
    }

    /// The compiled tables (the same as [`compile`] of the current model).
    pub fn tables(&self) -> Tables {
        let mut tables: Tables = self.bases.clone();
        let mut ids: Vec<&InstanceId> = self.fragments.keys().collect();
        ids.sort();
        for id in ids {
            if let Some(f) = self.fragments.get(id) {
                if let Some(t) = tables.get_mut(&f.switch) {
                    t.extend(f.flows.iter().cloned());
                }
            }
        }
        tables
    }

    /// The compiled table of one switch (the same as [`compile`] of the current model's
    /// entry for `dpid`; empty for a switch the model does not have), without building the
    /// other switches' tables.
    pub fn table(&self, dpid: Dpid) -> FlowTable {
        let Some(base) = self.bases.get(&dpid) else {
            return Vec::new();
        };
        let mut ids: Vec<&InstanceId> = self
            .fragments
            .iter()
            .filter(|(_, f)| f.switch == dpid)
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        let mut table = base.clone();
        for id in ids {
            if let Some(f) = self.fragments.get(id) {
                table.extend(f.flows.iter().cloned());
            }
        }
        table
    }

    /// The number of flows in all tables.
    pub fn flow_count(&self) -> usize {
        self.bases.values().map(Vec::len).sum::<usize>()
            + self
                .fragments
                .values()
                .map(|f| f.flows.len())
                .sum::<usize>()
    }

    /// The model changed (`touched` says what the change touched, as the [`Model`]'s
    /// mutators return it): recompile what it touched and return the flow_mods that bring the
    /// switches' tables from the previous state to the new one, per switch adds (and
    /// replacements) before deletes.
    pub fn update(&mut self, model: &Model, touched: &Touched) -> Vec<Update> {
        if touched.all {
            let before = self.tables();
            self.rebuild(model);
            let after = self.tables();
            let mut out = Vec::new();
            let empty: FlowTable = Vec::new();
            let switches: std::collections::BTreeSet<Dpid> =
                before.keys().chain(after.keys()).copied().collect();
            for d in switches {
                let old = before.get(&d).unwrap_or(&empty);
                let new = after.get(&d).unwrap_or(&empty);
                out.extend(diff(old, new).into_iter().map(|fm| Update {
                    switch: d,
                    flow_mod: fm,
                }));
            }
            return out;
        }
        let acts = &mut self.acts;
        // Per switch: the adds and the deletes of everything touched there.
        let mut changes: BTreeMap<Dpid, (Vec<FlowMod>, Vec<FlowMod>)> = BTreeMap::new();
        for d in &touched.switches {
            let old = self.bases.remove(d).unwrap_or_default();
            let new = switch_flows(model, *d);
            let (adds, dels) = changes.entry(*d).or_default();
            diff_fragment(&old, &new, adds, dels);
            if model.switch(*d).is_some() {
                self.bases.insert(*d, new);
            }
        }
        let empty: FlowTable = Vec::new();
        for id in &touched.instances {
            let old = self.fragments.remove(id);
            let mut new: Option<Fragment> = None;
            if let Some(inst) = model.instance(id) {
                if let Some(at) = inst.attachment.filter(|a| model.switch(a.switch).is_some()) {
                    let mut flows =
                        Vec::with_capacity(old.as_ref().map_or(64, |o| o.flows.len() + 8));
                    instance_flows_with(model, inst, &self.options, acts, &mut flows);
                    new = Some(Fragment {
                        switch: at.switch,
                        flows,
                    });
                }
            }
            match (&old, &new) {
                (Some(o), Some(n)) if o.switch == n.switch => {
                    let (adds, dels) = changes.entry(n.switch).or_default();
                    diff_fragment(&o.flows, &n.flows, adds, dels);
                }
                _ => {
                    if let Some(o) = &old {
                        let (adds, dels) = changes.entry(o.switch).or_default();
                        diff_fragment(&o.flows, &empty, adds, dels);
                    }
                    if let Some(n) = &new {
                        let (adds, dels) = changes.entry(n.switch).or_default();
                        diff_fragment(&empty, &n.flows, adds, dels);
                    }
                }
            }
            if let Some(n) = new {
                self.fragments.insert(id.clone(), n);
            }
        }
        let mut out = Vec::new();
        for (d, (adds, mut dels)) in changes {
            // A flow deleted from one fragment and added by another stays (the add replaces it).
            if !adds.is_empty() && !dels.is_empty() {
                let added: HashSet<[u64; 6], FxBuild> = adds
                    .iter()
                    .map(|fm| packed_key(fm.priority, &fm.r#match))
                    .collect();
                dels.retain(|fm| !added.contains(&packed_key(fm.priority, &fm.r#match)));
            }
            out.extend(adds.into_iter().chain(dels).map(|flow_mod| Update {
                switch: d,
                flow_mod,
            }));
        }
        out
    }
}

/// The adds and deletes between two versions of one fragment, each free of repeated keys:
/// the common prefix and suffix (what a recompilation usually leaves as it was) are skipped
/// without hashing, and the rest goes through [`diff`].
fn diff_fragment(old: &[Flow], new: &[Flow], adds: &mut Vec<FlowMod>, dels: &mut Vec<FlowMod>) {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (old, new) = (&old[prefix..], &new[prefix..]);
    let suffix = old
        .iter()
        .rev()
        .zip(new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old, new) = (&old[..old.len() - suffix], &new[..new.len() - suffix]);
    for fm in diff(old, new) {
        if fm.command == FlowModCommand::DeleteStrict {
            dels.push(fm);
        } else {
            adds.push(fm);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Invariants
// ---------------------------------------------------------------------------------------------

/// A compiled table breaks one of the invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvariantError {
    /// A match sets a field whose OpenFlow 1.0 prerequisite is not met (Open vSwitch would
    /// silently drop the field and widen the flow).
    #[error("flow {index} (priority {priority}): {field} is set but its prerequisite is not met")]
    Prerequisite {
        /// The flow's index in the table.
        index: usize,
        /// Its priority.
        priority: u16,
        /// The field.
        field: &'static str,
    },
    /// Two flows of the same priority overlap and have different actions: which one wins is
    /// undefined.
    #[error("flows {a} and {b} (priority {priority}) overlap with different actions")]
    AmbiguousOverlap {
        /// The first flow's index.
        a: usize,
        /// The second flow's index.
        b: usize,
        /// Their priority.
        priority: u16,
    },
    /// A flow with no wildcard: the switch would rank it above every priority.
    #[error("flow {index} (priority {priority}) wildcards nothing: it would be exact-match")]
    ExactMatch {
        /// The flow's index.
        index: usize,
        /// Its priority.
        priority: u16,
    },
    /// A compiled flow outside the priority bands.
    #[error("flow {index} has priority {priority}, which is not a band")]
    NotABand {
        /// The flow's index.
        index: usize,
        /// Its priority.
        priority: u16,
    },
    /// Two flows with the same priority and match.
    #[error("flows {a} and {b} have the same priority and match")]
    Duplicate {
        /// The first flow's index.
        a: usize,
        /// The second flow's index.
        b: usize,
    },
}

/// The first field of `m` set without its OpenFlow 1.0 prerequisite, if any: `nw_src`,
/// `nw_dst` and `nw_proto` need `dl_type` IPv4 or ARP, `nw_tos` needs IPv4, `tp_src` and
/// `tp_dst` need IPv4 with `nw_proto` TCP, UDP or ICMP. (These are the fields
/// `Match::normalized` would drop.)
pub fn unmet_prerequisite(m: &Match) -> Option<&'static str> {
    let ip = m.dl_type == Some(ETH_TYPE_IPV4);
    let ip_or_arp = ip || m.dl_type == Some(ETH_TYPE_ARP);
    if !ip_or_arp {
        if !m.nw_src.is_any() {
            return Some("nw_src");
        }
        if !m.nw_dst.is_any() {
            return Some("nw_dst");
        }
        if m.nw_proto.is_some() {
            return Some("nw_proto");
        }
    }
    if !ip && m.nw_tos.is_some() {
        return Some("nw_tos");
    }
    let l4 = ip
        && matches!(
            m.nw_proto,
            Some(IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP)
        );
    if !l4 {
        if m.tp_src.is_some() {
            return Some("tp_src");
        }
        if m.tp_dst.is_some() {
            return Some("tp_dst");
        }
    }
    None
}

fn opt_overlap<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn ip_overlap(a: &Ipv4Match, b: &Ipv4Match) -> bool {
    let m = a.mask() & b.mask();
    (u32::from(a.addr()) & m) == (u32::from(b.addr()) & m)
}

/// True if some packet matches both `a` and `b`.
pub fn overlaps(a: &Match, b: &Match) -> bool {
    let vlan = match (a.dl_vlan, b.dl_vlan) {
        (VlanMatch::Any, _) | (_, VlanMatch::Any) => true,
        (x, y) => x == y,
    };
    vlan && opt_overlap(&a.in_port, &b.in_port)
        && opt_overlap(&a.dl_src, &b.dl_src)
        && opt_overlap(&a.dl_dst, &b.dl_dst)
        && opt_overlap(&a.dl_vlan_pcp, &b.dl_vlan_pcp)
        && opt_overlap(&a.dl_type, &b.dl_type)
        && opt_overlap(&a.nw_tos, &b.nw_tos)
        && opt_overlap(&a.nw_proto, &b.nw_proto)
        && ip_overlap(&a.nw_src, &b.nw_src)
        && ip_overlap(&a.nw_dst, &b.nw_dst)
        && opt_overlap(&a.tp_src, &b.tp_src)
        && opt_overlap(&a.tp_dst, &b.tp_dst)
}

/// Check a compiled table: every priority is a band (or [`priority::PINHOLE`]), no match is
/// exact, every match meets the OpenFlow 1.0 prerequisites, no two flows share priority and
/// match, and no two flows of the same priority overlap with different actions.
pub fn check_invariants(table: &[Flow]) -> Result<(), InvariantError> {
    let mut keys: HashMap<(u16, Match), usize> = HashMap::with_capacity(table.len());
    let mut by_prio: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    for (index, f) in table.iter().enumerate() {
        if f.priority != priority::PINHOLE && !priority::ALL.contains(&f.priority) {
            return Err(InvariantError::NotABand {
                index,
                priority: f.priority,
            });
        }
        if f.r#match.is_exact() {
            return Err(InvariantError::ExactMatch {
                index,
                priority: f.priority,
            });
        }
        if let Some(field) = unmet_prerequisite(&f.r#match) {
            return Err(InvariantError::Prerequisite {
                index,
                priority: f.priority,
                field,
            });
        }
        if let Some(a) = keys.insert(f.key(), index) {
            return Err(InvariantError::Duplicate { a, b: index });
        }
        by_prio.entry(f.priority).or_default().push(index);
    }
    for (prio, idx) in by_prio {
        // Bucket by (in_port, dl_dst); only buckets that can overlap are compared.
        let mut buckets: HashMap<(Option<PortNo>, Option<openflow_proto::MacAddr>), Vec<usize>> =
            HashMap::new();
        for i in idx {
            let m = &table[i].r#match;
            buckets.entry((m.in_port, m.dl_dst)).or_default().push(i);
        }
        let mut keys: Vec<_> = buckets.keys().copied().collect();
        keys.sort();
        let wild: Vec<_> = keys
            .iter()
            .copied()
            .filter(|(p, d)| p.is_none() || d.is_none())
            .collect();
        let check = |a: usize, b: usize| -> Result<(), InvariantError> {
            let (fa, fb) = (&table[a], &table[b]);
            if fa.actions != fb.actions && overlaps(&fa.r#match, &fb.r#match) {
                return Err(InvariantError::AmbiguousOverlap {
                    a: a.min(b),
                    b: a.max(b),
                    priority: prio,
                });
            }
            Ok(())
        };
        for k in &keys {
            let Some(list) = buckets.get(k) else { continue };
            // Skip the common case: one action list in the bucket.
            let first = &table[list[0]].actions;
            if list.iter().any(|i| &table[*i].actions != first) {
                for (n, a) in list.iter().enumerate() {
                    for b in &list[n + 1..] {
                        check(*a, *b)?;
                    }
                }
            }
            for w in &wild {
                if w == k || (k.0.is_none() || k.1.is_none()) && w < k {
                    continue;
                }
                let compatible = opt_overlap(&k.0, &w.0) && opt_overlap(&k.1, &w.1);
                if !compatible {
                    continue;
                }
                let Some(wl) = buckets.get(w) else { continue };
                for a in list {
                    for b in wl {
                        check(*a, *b)?;
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e_tests::fixture;
    use crate::model::{IcmpSpec, PortRange};
    use openflow_proto::flow_match::ETH_TYPE_ARP;
    use std::collections::BTreeSet;

    fn flows_of(model: &Model, name: &str, opts: &CompileOptions) -> FlowTable {
        let i = model.instance(&InstanceId::new(name).unwrap()).unwrap();
        instance_flows(model, i, opts)
    }

    #[test]
    fn compiled_tables_keep_the_invariants() {
        let m = fixture();
        for budget in [1, 2, 64] {
            let opts = CompileOptions {
                port_budget: budget,
                ..CompileOptions::default()
            };
            let t = compile(&m, &opts);
            assert_eq!(t.len(), 2);
            for table in t.values() {
                check_invariants(table).unwrap();
                assert!(table.iter().all(|f| f.r#match.dl_vlan != VlanMatch::Any
                    || f.priority == priority::TABLE_MISS
                    || f.priority == priority::UPLINK_DROP));
            }
        }
    }

    #[test]
    fn compile_is_deterministic_and_incremental_equals_full() {
        let mut m = fixture();
        let opts = CompileOptions::default();
        assert_eq!(compile(&m, &opts), compile(&m, &opts));
        let mut c = Compiler::new(&m, opts);
        assert_eq!(c.tables(), compile(&m, &opts));
        let web = GroupId::new("web").unwrap();
        let p = Permission::new(Protocol::Udp(PortRange::single(53)), Peer::anywhere()).unwrap();
        let t = m.authorize(&web, Direction::Ingress, p).unwrap();
        let mods = c.update(&m, &t);
        assert!(!mods.is_empty());
        // Adds only: a new permission removes nothing here... except punt flows that are
        // now covered; in any case every add comes before every delete, per switch.
        for sw in [1, 2] {
            let cmds: Vec<_> = mods
                .iter()
                .filter(|u| u.switch == sw)
                .map(|u| u.flow_mod.command)
                .collect();
            if let Some(first_del) = cmds.iter().position(|c| *c == FlowModCommand::DeleteStrict) {
                assert!(cmds[first_del..]
                    .iter()
                    .all(|c| *c == FlowModCommand::DeleteStrict));
            }
        }
        let full = compile(&m, &opts);
        let inc = c.tables();
        for (d, t) in &full {
            let a: HashSet<_> = t.iter().map(|f| f.key()).collect();
            let b: HashSet<_> = inc[d].iter().map(|f| f.key()).collect();
            assert_eq!(a, b);
        }
        // One switch's table is that switch's entry of all the tables; an unknown switch's
        // is empty.
        for (d, t) in &inc {
            assert_eq!(&c.table(*d), t, "switch {d}");
        }
        assert!(c.table(0xdead).is_empty());
        // A change touching nothing produces nothing.
        assert!(c.update(&m, &Touched::none()).is_empty());
    }

    #[test]
    fn port_ranges_expand_per_port_within_budget() {
        let m = fixture();
        let opts = CompileOptions::default();
        let f = flows_of(&m, "a", &opts);
        let a = m.instance(&InstanceId::new("a").unwrap()).unwrap();
        let ports: BTreeSet<u16> = f
            .iter()
            .filter(|f| {
                f.priority == priority::INGRESS_FORWARD
                    && f.r#match.dl_dst == Some(a.mac)
                    && f.r#match.nw_proto == Some(IP_PROTO_TCP)
            })
            .filter_map(|f| f.r#match.tp_dst)
            .collect();
        assert!(ports.contains(&80) && ports.contains(&81) && ports.contains(&82));
        assert!(!ports.contains(&79) && !ports.contains(&83));
        // Beyond the budget: no per-port flows, a wildcard punt instead.
        let small = CompileOptions {
            port_budget: 2,
            ..opts
        };
        let f = flows_of(&m, "a", &small);
        assert!(!f.iter().any(|f| f.r#match.tp_dst == Some(81)));
        assert!(f.iter().any(|f| f.priority == priority::INGRESS_PUNT
            && f.r#match.nw_proto == Some(IP_PROTO_TCP)
            && f.r#match.tp_dst.is_none()));
    }

    #[test]
    fn elastic_ip_flows_rewrite_inside_allow_flows_only() {
        let m = fixture();
        let f = flows_of(&m, "a", &CompileOptions::default());
        let eip = Ipv4Addr::new(203, 0, 113, 10);
        let rewrites: Vec<&Flow> = f
            .iter()
            .filter(|f| f.actions.iter().any(|a| matches!(a, Action::SetNwDst(_))))
            .collect();
        assert!(!rewrites.is_empty());
        for fl in rewrites {
            // Never an unconditional rewrite: each names a protocol (and port when TCP).
            assert_eq!(fl.priority, priority::INGRESS_FORWARD);
            assert_eq!(fl.r#match.nw_dst, Ipv4Match::exact(eip));
            assert!(fl.r#match.nw_proto.is_some());
        }
        // ARP for the elastic IP on the uplink goes to the controller.
        assert!(f.iter().any(|f| f.priority == priority::ARP
            && f.r#match.dl_type == Some(ETH_TYPE_ARP)
            && f.r#match.nw_dst == Ipv4Match::exact(eip)
            && f.r#match.in_port == Some(PortNo(100))));
        // b has no elastic IP: no rewrite at all.
        let f = flows_of(&m, "b", &CompileOptions::default());
        assert!(!f.iter().any(|f| f.actions.len() > 1));
    }

    #[test]
    fn group_peers_expand_to_members() {
        let m = fixture();
        let f = flows_of(&m, "c", &CompileOptions::default());
        // db lets web (a 10.0.1.10, b 10.0.1.11) in on 5432: one source address each.
        let srcs: BTreeSet<Ipv4Addr> = f
            .iter()
            .filter(|f| f.r#match.tp_dst == Some(5432) && f.r#match.in_port == Some(PortNo(100)))
            .map(|f| f.r#match.nw_src.addr())
            .collect();
        assert_eq!(
            srcs,
            [Ipv4Addr::new(10, 0, 1, 10), Ipv4Addr::new(10, 0, 1, 11)].into()
        );
    }

    #[test]
    fn self_sufficient_classes_cover_only_what_replies_allow() {
        let tcp = |a, b| Protocol::Tcp(PortRange::new(a, b).unwrap());
        // Everything out, ssh in: out from port 22 needs no state.
        let c = self_sufficient_classes(&Protocol::Any, &tcp(22, 22), 64).unwrap();
        assert_eq!(
            c,
            vec![L4 {
                proto: Some(IP_PROTO_TCP),
                tp_src: Some(22),
                tp_dst: None
            }]
        );
        // Echo requests out, echo replies in.
        let echo_req = Protocol::Icmp(IcmpSpec::new(Some(8), None).unwrap());
        let echo_rep = Protocol::Icmp(IcmpSpec::new(Some(0), None).unwrap());
        let c = self_sufficient_classes(&echo_req, &echo_rep, 64).unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].tp_src, Some(8));
        // Echo requests out, only echo requests in: replies need state.
        assert!(self_sufficient_classes(&echo_req, &echo_req, 64)
            .unwrap()
            .is_empty());
        // ICMP errors have no replies: allowed as they are.
        let unreach = Protocol::Icmp(IcmpSpec::new(Some(3), Some(4)).unwrap());
        assert_eq!(
            self_sufficient_classes(&unreach, &tcp(1, 1), 64)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            self_sufficient_classes(&unreach, &echo_req, 64)
                .unwrap()
                .len(),
            1
        );
        // Over the budget: none.
        assert!(self_sufficient_classes(&tcp(1, 10), &tcp(1, 10), 99).is_none());
        assert_eq!(
            self_sufficient_classes(&tcp(1, 10), &tcp(1, 10), 100)
                .unwrap()
                .len(),
            100
        );
        assert!(
            self_sufficient_classes(&tcp(1, 1), &Protocol::Udp(PortRange::ALL), 9)
                .unwrap()
                .is_empty()
        );
    }

    fn flow(prio: u16, m: Match, actions: Vec<Action>) -> Flow {
        Flow::new(prio, m, Arc::from(actions), 0)
    }

    #[test]
    fn invariant_checker_catches_violations() {
        let mut ip = Match::any();
        ip.dl_type = Some(ETH_TYPE_IPV4);
        ip.in_port = Some(PortNo(1));
        let mut a = ip;
        a.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 8);
        let mut b = ip;
        b.nw_src = Ipv4Match::prefix(Ipv4Addr::new(10, 1, 0, 0), 16);
        let out1 = vec![Action::output(PortNo(2))];
        let out2 = vec![Action::output(PortNo(3))];
        let p = priority::INGRESS_FORWARD;
        // Overlapping, same priority, different actions.
        assert!(matches!(
            check_invariants(&[flow(p, a, out1.clone()), flow(p, b, out2.clone())]),
            Err(InvariantError::AmbiguousOverlap { a: 0, b: 1, .. })
        ));
        // Same actions, or different priorities, or disjoint: fine.
        check_invariants(&[flow(p, a, out1.clone()), flow(p, b, out1.clone())]).unwrap();
        check_invariants(&[
            flow(p, a, out1.clone()),
            flow(priority::INGRESS_PUNT, b, out2.clone()),
        ])
        .unwrap();
        let mut c = b;
        c.nw_src = Ipv4Match::prefix(Ipv4Addr::new(11, 0, 0, 0), 8);
        check_invariants(&[flow(p, a, out1.clone()), flow(p, c, out2.clone())]).unwrap();
        // Overlap through a wildcarded in_port.
        let mut w = a;
        w.in_port = None;
        assert!(check_invariants(&[flow(p, a, out1.clone()), flow(p, w, out2.clone())]).is_err());
        // Duplicate key.
        assert!(matches!(
            check_invariants(&[flow(p, a, out1.clone()), flow(p, a, out1.clone())]),
            Err(InvariantError::Duplicate { .. })
        ));
        // Not a band.
        assert!(matches!(
            check_invariants(&[flow(12345, a, out1.clone())]),
            Err(InvariantError::NotABand { .. })
        ));
        // Prerequisites: tp_dst without a transport protocol, nw_src without dl_type.
        let mut bad = ip;
        bad.tp_dst = Some(22);
        assert!(matches!(
            check_invariants(&[flow(p, bad, out1.clone())]),
            Err(InvariantError::Prerequisite {
                field: "tp_dst",
                ..
            })
        ));
        let mut bad = Match::any();
        bad.nw_src = Ipv4Match::exact(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(unmet_prerequisite(&bad), Some("nw_src"));
        let mut ok = ip;
        ok.nw_proto = Some(IP_PROTO_ICMP);
        ok.tp_src = Some(8);
        assert_eq!(unmet_prerequisite(&ok), None);
        // Exact match.
        let exact = Match {
            in_port: Some(PortNo(1)),
            dl_src: Some(MacAddr([2, 0, 0, 0, 0, 1])),
            dl_dst: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            dl_vlan: VlanMatch::Untagged,
            dl_vlan_pcp: Some(0),
            dl_type: Some(ETH_TYPE_IPV4),
            nw_tos: Some(0),
            nw_proto: Some(IP_PROTO_TCP),
            nw_src: Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 1)),
            nw_dst: Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 2)),
            tp_src: Some(1),
            tp_dst: Some(2),
        };
        assert!(matches!(
            check_invariants(&[flow(p, exact, out1)]),
            Err(InvariantError::ExactMatch { .. })
        ));
    }

    #[test]
    fn overlap_semantics() {
        let mut a = Match::any();
        a.dl_vlan = VlanMatch::Untagged;
        let mut b = Match::any();
        b.dl_vlan = VlanMatch::Vid(5);
        assert!(!overlaps(&a, &b));
        assert!(overlaps(&a, &Match::any()));
        let mut x = Match::any();
        x.nw_dst = Ipv4Match::prefix(Ipv4Addr::new(10, 0, 0, 0), 24);
        let mut y = Match::any();
        y.nw_dst = Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, 255));
        assert!(overlaps(&x, &y));
        y.nw_dst = Ipv4Match::exact(Ipv4Addr::new(10, 0, 1, 0));
        assert!(!overlaps(&x, &y));
    }

    #[test]
    fn packed_keys_are_injective_on_fields() {
        let base = Match::any();
        let mut seen = HashSet::new();
        let mut variants = vec![base];
        let mut m = base;
        m.in_port = Some(PortNo(0));
        variants.push(m);
        let mut m = base;
        m.tp_src = Some(0);
        variants.push(m);
        let mut m = base;
        m.tp_dst = Some(0);
        variants.push(m);
        let mut m = base;
        m.dl_vlan = VlanMatch::Untagged;
        variants.push(m);
        let mut m = base;
        m.dl_vlan = VlanMatch::Vid(0);
        variants.push(m);
        let mut m = base;
        m.nw_proto = Some(0);
        variants.push(m);
        let mut m = base;
        m.dl_src = Some(MacAddr::ZERO);
        variants.push(m);
        let mut m = base;
        m.dl_dst = Some(MacAddr::ZERO);
        variants.push(m);
        let mut m = base;
        m.nw_src = Ipv4Match::exact(Ipv4Addr::UNSPECIFIED);
        variants.push(m);
        for v in &variants {
            assert!(seen.insert(packed_key(1, v)), "{v:?}");
        }
        assert_ne!(packed_key(1, &base), packed_key(2, &base));
    }
}
