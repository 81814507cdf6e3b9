//! The controller's decisions on punted packets, and the pinholes it installs.
//!
//! A switch sends a packet to the controller when its compiled flows cannot decide it alone
//! (see the crate docs): an ARP request it must answer, or IPv4 traffic that the rules at
//! that switch allow one way but whose replies need tracked state (or whose ports exceed the
//! expansion budget, or that goes between two instances on the same switch). [`Pinholes`]
//! decides from the model exactly as [`crate::reference::hop`] does, keeps the tracked
//! connections of each switch, and returns what to send: pinhole flows for both directions
//! (exact on everything but the ToS and VLAN priority, an idle timeout, `SEND_FLOW_REM`,
//! removed together) and a packet_out for the packet itself. It does no I/O: the controller
//! only transports what it returns.
//!
//! The new connections of a busy instance differ only by their source port, and so do their
//! decisions: [`Pinholes`] memoises the model's part of a TCP/UDP decision (the drop, or the
//! transit with its actions, rules and reply) per switch, port and packet without its source
//! port, for as long as the model is unchanged (every mutation gives a
//! [`Model`] a fresh stamp, and the memo starts afresh when the stamp it was made for is not
//! the model's).

use crate::compile::{priority, CompileOptions};
use crate::diff::Update;
use crate::model::{Dpid, InstanceId, Model, Touched};
use crate::packet::Packet;
use crate::reference::{hop, hop_with, ConnKey, DropReason, Duty, FiveTuple, Hop, Path, Transit};
use openflow_proto::flow_match::{ETH_TYPE_IPV4, IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP};
use openflow_proto::{
    Action, Actions, FlowMod, FlowModCommand, FlowModFlags, Ipv4Match, MacAddr, Match, PortNo,
    VlanMatch, NO_BUFFER,
};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use table::ConnTable;

mod table;

/// The connection tables' hasher: keys come from packets that instances (or the outside)
/// choose, so it is keyed with per-process random keys (`ahash`'s `RandomState`, resistant to
/// precomputed collisions), and much cheaper than the standard library's SipHash on these
/// small fixed-size keys.
type Hasher = ahash::RandomState;

/// A packet the controller sends (`OFPT_PACKET_OUT`, unbuffered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOut {
    /// The switch.
    pub switch: Dpid,
    /// The packet's notional input port.
    pub in_port: PortNo,
    /// The actions.
    pub actions: Actions,
    /// The packet.
    pub packet: Packet,
}

/// What the controller decided about a punted packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It goes on: it belongs to a tracked connection.
    Tracked,
    /// It goes on: the rules at this switch allow it (a connection is tracked if it has
    /// replies).
    Allowed,
    /// An ARP request the controller answers (or ignores, if it knows no answer).
    Arp(Duty),
    /// It is dropped.
    Dropped(DropReason),
}

/// The controller's answer to a packet_in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// What was decided.
    pub outcome: Outcome,
    /// The pinholes of the connection this packet opens, to send first (all at the deciding
    /// switch); [`Decision::flow_mods`] gives them as flow_mods.
    pub wire: Option<PinholeWire>,
    /// The packet_out to send after them.
    pub packet_out: Option<PacketOut>,
}

impl Decision {
    /// The flow_mods to send first: the pinholes of [`Decision::wire`], if any.
    pub fn flow_mods(&self) -> Vec<Update> {
        self.wire
            .as_ref()
            .map(PinholeWire::updates)
            .unwrap_or_default()
    }
}

/// The pinhole flow_mods of a connection a packet_in opens, in the form a controller sends
/// fastest: the encoding of its plan's (shared by every connection the plan opens), into
/// which [`PinholeWire::encode`] puts the connection's cookie, its source port (for a
/// memoised TCP/UDP plan, whose matches are those of any source port) and the xids. It
/// encodes exactly what [`PinholeWire::flow_mods`] gives, byte for byte; making those costs
/// a copy of each flow_mod, which the fast path never needs. Two are equal when they have
/// the same switch and flow_mods.
#[derive(Clone, Debug)]
pub struct PinholeWire {
    template: Arc<WireTemplate>,
    switch: Dpid,
    cookie: u64,
    sport: u16,
}

/// The pinhole flow_mods of a plan (cookie 0), and their encoding one after the other with
/// xid 0 (and, if `templated`, source port 0).
#[derive(Debug)]
struct WireTemplate {
    mods: Vec<FlowMod>,
    /// `None` if a flow_mod cannot be encoded (then [`PinholeWire::encode`] encodes them one
    /// by one and reports the encoder's error) or, `templated`, its port to fill in is not
    /// matched exactly (never, for the pinholes of a memoised plan).
    bytes: Option<Vec<u8>>,
    /// Where each flow_mod starts in `bytes` (the opening direction's first).
    starts: Vec<usize>,
    /// Put the connection's source port in: the opening direction's `tp_src`, the reply's
    /// `tp_dst` (as [`Record::flows`] does).
    templated: bool,
}

/// Offsets in an OpenFlow 1.0 `ofp_flow_mod`: the header's xid, the match's `tp_src` and
/// `tp_dst` (the 8-byte header, then the 40-byte `ofp_match` whose last four bytes they are),
/// and the cookie right after the match.
const XID_AT: usize = 4;
const TP_SRC_AT: usize = 8 + 36;
const TP_DST_AT: usize = 8 + 38;
const COOKIE_AT: usize = 8 + 40;

/// Write `v` at `at` in `out` (nothing if out of range, which the templates never are).
fn put<const N: usize>(out: &mut [u8], at: usize, v: [u8; N]) {
    if let Some(d) = out.get_mut(at..at.saturating_add(N)) {
        d.copy_from_slice(&v);
    }
}

impl WireTemplate {
    /// The template of `mods` (a plan's pinholes, with cookie 0).
    fn new(mods: Vec<FlowMod>, templated: bool) -> WireTemplate {
        let mut buf = bytes::BytesMut::new();
        let mut starts = Vec::with_capacity(mods.len());
        let mut encodable = true;
        for (i, fm) in mods.iter().enumerate() {
            let port = if i == 0 {
                fm.r#match.tp_src
            } else {
                fm.r#match.tp_dst
            };
            starts.push(buf.len());
            encodable &= !(templated && port.is_none())
                && openflow_proto::Message::FlowMod(fm.clone())
                    .encode(0, &mut buf)
                    .is_ok();
        }
        WireTemplate {
            mods,
            bytes: encodable.then(|| buf.to_vec()),
            starts,
            templated,
        }
    }
}

impl PinholeWire {
    /// The number of flow_mods.
    pub fn len(&self) -> usize {
        self.template.mods.len()
    }

    /// True if none (never, for a decision's).
    pub fn is_empty(&self) -> bool {
        self.template.mods.is_empty()
    }

    /// The switch the pinholes go to (the deciding switch).
    pub fn switch(&self) -> Dpid {
        self.switch
    }

    /// The connection's cookie (every pinhole of the connection has it).
    pub fn cookie(&self) -> u64 {
        self.cookie
    }

    /// The encoded length, in bytes (0 if they cannot be encoded).
    pub fn wire_len(&self) -> usize {
        self.template.bytes.as_ref().map_or(0, Vec::len)
    }

    /// The flow_mods: the opening direction's pinhole, then the reply's if it has one.
    pub fn flow_mods(&self) -> Vec<FlowMod> {
        let t = &*self.template;
        let mut mods = t.mods.clone();
        for (i, fm) in mods.iter_mut().enumerate() {
            fm.cookie = self.cookie;
            if t.templated {
                if i == 0 {
                    fm.r#match.tp_src = Some(self.sport);
                } else {
                    fm.r#match.tp_dst = Some(self.sport);
                }
            }
        }
        mods
    }

    /// [`PinholeWire::flow_mods`] as updates of [`PinholeWire::switch`].
    pub fn updates(&self) -> Vec<Update> {
        let switch = self.switch;
        self.flow_mods()
            .into_iter()
            .map(|flow_mod| Update { switch, flow_mod })
            .collect()
    }

    /// Append the flow_mods to `dst`, each with the xid `xid` gives next (in order, as
    /// encoding [`PinholeWire::flow_mods`] one by one would); returns how many. The error is
    /// the encoder's, for flow_mods that cannot be encoded (the semantics make none such);
    /// then nothing is appended.
    pub fn encode(
        &self,
        mut xid: impl FnMut() -> u32,
        dst: &mut bytes::BytesMut,
    ) -> Result<usize, openflow_proto::EncodeError> {
        let t = &*self.template;
        let Some(bytes) = &t.bytes else {
            let mut buf = bytes::BytesMut::new();
            for fm in self.flow_mods() {
                openflow_proto::Message::FlowMod(fm).encode(xid(), &mut buf)?;
            }
            dst.extend_from_slice(&buf);
            return Ok(t.mods.len());
        };
        let at = dst.len();
        dst.extend_from_slice(bytes);
        let out = dst.get_mut(at..).unwrap_or_default();
        for (i, &s) in t.starts.iter().enumerate() {
            put(out, s + XID_AT, xid().to_be_bytes());
            put(out, s + COOKIE_AT, self.cookie.to_be_bytes());
            if t.templated {
                let port_at = if i == 0 { TP_SRC_AT } else { TP_DST_AT };
                put(out, s + port_at, self.sport.to_be_bytes());
            }
        }
        Ok(t.starts.len())
    }
}

impl PartialEq for PinholeWire {
    fn eq(&self, other: &Self) -> bool {
        self.switch == other.switch && self.flow_mods() == other.flow_mods()
    }
}

impl Eq for PinholeWire {}

#[derive(Clone, Debug)]
struct Record {
    /// The opening packet's five-tuple is the key's (else it is the key's reply).
    opened_canonical: bool,
    /// What the connection shares with the others its plan opened (one allocation per plan,
    /// not per connection: the table of a busy switch holds many).
    shape: Arc<Shape>,
    /// The opening packet's source port.
    sport: u16,
}

/// The pinholes of the connections a plan opens, and whom they involve.
#[derive(Debug)]
struct Shape {
    /// [`Transit::involved`].
    involved: Arc<[InstanceId]>,
    /// The pinhole match of the opening direction, and of the reply's if it has one.
    fwd: Match,
    rev: Option<Match>,
    /// The matches are those of any source port (a memoised TCP/UDP plan's): the record's
    /// goes in the opening direction's `tp_src` and the reply's `tp_dst`. Otherwise they are
    /// the record's own.
    templated: bool,
}

/// Decide `packet` by its plan: worked out from this packet, or (`memoised`) from one with
/// the same [`plan_key`], the TCP/UDP packet's source port then put in the tuple and the
/// reply frame. A new connection goes into `conns` (see [`Pinholes`]).
fn decide(
    conns: &mut ConnTable<Record>,
    plan: &Plan,
    memoised: bool,
    switch: Dpid,
    in_port: PortNo,
    packet: &Packet,
) -> Decision {
    let nothing = |outcome| Decision {
        outcome,
        wire: None,
        packet_out: None,
    };
    let t = match plan {
        Plan::Drop(reason) => return nothing(Outcome::Dropped(*reason)),
        Plan::Controller { duty, reply } => {
            return Decision {
                outcome: Outcome::Arp(duty.clone()),
                wire: None,
                packet_out: reply.map(|r| PacketOut {
                    switch,
                    in_port: PortNo::NONE,
                    actions: vec![Action::output(in_port)].into(),
                    packet: r,
                }),
            }
        }
        Plan::Transit(t) => t,
    };
    let mut tuple = t.tuple;
    if memoised {
        tuple.src_port = packet.tp_src;
    }
    let out = |outcome, wire| Decision {
        outcome,
        wire,
        packet_out: Some(PacketOut {
            switch,
            in_port,
            actions: t.actions.clone(),
            packet: *packet,
        }),
    };
    let (opening, opened_canonical) = canonical(&tuple);
    let key = ConnKey {
        switch,
        path: t.path,
        opening,
    };
    // One probe: the connection if it is tracked, else where it goes.
    let vacant = match conns.entry(key) {
        table::Entry::Occupied => return out(Outcome::Tracked, None),
        table::Entry::Vacant(v) => Some(v),
        table::Entry::Full => None,
    };
    if !t.allowed {
        return nothing(Outcome::Dropped(DropReason::Denied));
    }
    let opens = t.opens.as_ref().filter(|_| tuple.reply().is_some());
    // A table with no room (see `ConnTable`) lets the packet on untracked: its replies
    // are punted and refused, as with 2^32 connections.
    let (Some(vacant), Some((shape, template))) = (vacant, opens) else {
        return out(Outcome::Allowed, None);
    };
    // Everything with an atomic reference count is made before the new entry is
    // written: the entry's cache line is usually cold (the table is large), and a locked
    // instruction behind that store would wait for it.
    let shape = Arc::clone(shape);
    let mut decision = out(
        Outcome::Allowed,
        Some(PinholeWire {
            template: Arc::clone(template),
            switch,
            cookie: 0,
            sport: packet.tp_src,
        }),
    );
    let record = Record {
        opened_canonical,
        shape,
        sport: packet.tp_src,
    };
    match (vacant.insert(record), decision.wire.as_mut()) {
        (Ok(ck), Some(w)) => w.cookie = ck,
        // 2^32 connections tracked: this one goes on untracked (its replies punted and
        // refused) rather than with a cookie that names another.
        _ => decision.wire = None,
    }
    decision
}

/// `tuple` in the orientation its connection is kept under, whichever way it goes: the
/// smaller of it and its reply (the mapping is an involution, so both give the same), and
/// true if that is `tuple` itself.
fn canonical(tuple: &FiveTuple) -> (FiveTuple, bool) {
    match tuple.reply() {
        Some(r) if r < *tuple => (r, false),
        _ => (*tuple, true),
    }
}

impl Record {
    /// The five-tuple of the opening packet of the connection kept under `key`.
    fn opening(&self, key: &ConnKey) -> ConnKey {
        let mut k = *key;
        if !self.opened_canonical {
            // A key is never kept in the other orientation unless it has a reply.
            k.opening = key.opening.reply().unwrap_or(key.opening);
        }
        k
    }

    /// The installed pinholes (match) at the record's switch: the opening direction's, and
    /// the reply's if it has one.
    fn flows(&self) -> (Match, Option<Match>) {
        let (mut fwd, mut rev) = (self.shape.fwd, self.shape.rev);
        if self.shape.templated {
            fwd.tp_src = Some(self.sport);
            if let Some(r) = rev.as_mut() {
                r.tp_dst = Some(self.sport);
            }
        }
        (fwd, rev)
    }
}

/// The most memoised plans kept; past it the memo starts afresh (instances choose the
/// packets, so it must be bounded).
const MAX_PLANS: usize = 4096;

/// What [`hop`] (and, for a transit, the rules and the reply's transit) decide about a
/// packet at a switch, in the form [`Pinholes::packet_in`] applies to it and to every
/// packet that differs from it only by a TCP/UDP source port (see [`plan_key`]).
#[derive(Clone, Debug)]
enum Plan {
    Drop(DropReason),
    Controller { duty: Duty, reply: Option<Packet> },
    Transit(TransitPlan),
}

#[derive(Clone, Debug)]
struct TransitPlan {
    path: Path,
    /// The transit's five-tuple (for a memoised plan, its source port is the packet's).
    tuple: FiveTuple,
    /// [`Transit::allowed_by_rules`].
    allowed: bool,
    /// [`Transit::actions`] (in wire form: cheap to clone and to encode).
    actions: Actions,
    /// The pinholes of a connection this opens, and their flow_mods: `None` if none is
    /// tracked (not allowed, no reply, or a switch the model does not have, which no transit
    /// is at).
    opens: Option<(Arc<Shape>, Arc<WireTemplate>)>,
}

/// `actions` kept as their wire form (cloning copies a short list held in place, or shares a
/// long one's bytes; encoding copies them), or as
/// they are if they cannot be encoded (no action the semantics produce is such).
fn wire(actions: Vec<Action>) -> Actions {
    let actions = Actions::from(actions);
    let mut buf = bytes::BytesMut::with_capacity(actions.wire_len());
    if actions.encode(&mut buf).is_err() {
        return actions;
    }
    Actions::decode(&buf.freeze()).unwrap_or(actions)
}

/// The key a packet's plan is memoised under, or `None` if it is not memoised: an IPv4 TCP
/// or UDP packet, with its source port zeroed. Nothing [`hop`] decides depends on the source
/// port of such a packet but the five-tuple it reports (the address and MAC checks do not
/// look at ports; TCP and UDP permissions match destination ports only, see
/// [`crate::model::Protocol::matches`]; the reply's frame and transit carry the ports
/// through, swapped), so the plan of one packet serves all the others with the source port
/// put back where it goes (the tuple's source port, the reply frame's destination port).
fn plan_key(switch: Dpid, in_port: PortNo, p: &Packet) -> Option<(Dpid, PortNo, Packet)> {
    if !p.is_ipv4() || !matches!(p.nw_proto, IP_PROTO_TCP | IP_PROTO_UDP) {
        return None;
    }
    let mut k = *p;
    k.tp_src = 0;
    Some((switch, in_port, k))
}

/// Work out the plan of `packet` arriving at `switch` on `in_port`; `template`: for any
/// source port (a TCP/UDP packet whose plan is memoised).
fn plan(
    model: &Model,
    options: &CompileOptions,
    switch: Dpid,
    in_port: PortNo,
    packet: &Packet,
    template: bool,
) -> Plan {
    match hop(model, switch, in_port, packet) {
        Hop::Drop(reason) => Plan::Drop(reason),
        Hop::Controller { duty, reply } => Plan::Controller { duty, reply },
        Hop::Transit(mut t) => {
            let allowed = t.allowed_by_rules(model);
            let uplink = model.switch(t.switch).map(|s| s.uplink);
            // The reply is only needed for a connection that can be tracked.
            let (shape, reply_actions) = match uplink {
                Some(uplink) if allowed && t.tuple.reply().is_some() => {
                    let reply = reply_transit(model, &t);
                    let shape = Shape {
                        involved: core::mem::take(&mut t.involved).into(),
                        fwd: pinhole_match(in_port, uplink, packet),
                        rev: reply
                            .as_ref()
                            .map(|(rin, rp, _)| pinhole_match(*rin, uplink, rp)),
                        templated: template,
                    };
                    (
                        Some(Arc::new(shape)),
                        reply.map(|(_, _, rt)| wire(rt.actions)),
                    )
                }
                _ => (None, None),
            };
            let t = *t;
            let actions = wire(t.actions);
            let opens = shape.map(|sh| {
                let mods = pinhole_mods(options, sh.fwd, sh.rev, &actions, &reply_actions);
                let template = WireTemplate::new(mods, sh.templated);
                (sh, Arc::new(template))
            });
            Plan::Transit(TransitPlan {
                path: t.path,
                tuple: t.tuple,
                allowed,
                actions,
                opens,
            })
        }
    }
}

/// A pinhole flow (an add of match `m` with `actions`; cookie 0: each connection's goes in
/// when it is sent, see [`PinholeWire`]).
fn pinhole(options: &CompileOptions, m: Match, actions: Actions) -> FlowMod {
    FlowMod {
        r#match: m,
        cookie: 0,
        command: FlowModCommand::Add,
        idle_timeout: options.pinhole_idle_timeout,
        hard_timeout: 0,
        priority: priority::PINHOLE,
        buffer_id: NO_BUFFER,
        out_port: PortNo::NONE,
        flags: FlowModFlags::SEND_FLOW_REM,
        actions,
    }
}

/// The pinholes of a connection of `shape` (its matches `fwd` and `rev`): the opening
/// direction's with `actions`, then the reply's, if it has a match and `reply_actions`.
fn pinhole_mods(
    options: &CompileOptions,
    fwd: Match,
    rev: Option<Match>,
    actions: &Actions,
    reply_actions: &Option<Actions>,
) -> Vec<FlowMod> {
    let mut mods = Vec::with_capacity(2);
    mods.push(pinhole(options, fwd, actions.clone()));
    if let (Some(m), Some(ra)) = (rev, reply_actions) {
        mods.push(pinhole(options, m, ra.clone()));
    }
    mods
}

/// The controller's tracked connections and their pinholes.
///
/// A connection is kept once, under its five-tuple in one canonical orientation (the smaller
/// of it and its reply): one probe finds it from a packet of either direction, and a new
/// connection costs one probe, which finds where it goes too. A pinhole's cookie names the
/// connection's slot in the table and leads back to it from a flow_removed.
#[derive(Clone, Debug)]
pub struct Pinholes {
    options: CompileOptions,
    conns: ConnTable<Record>,
    /// Plans memoised for the model whose stamp is `plans_of` (see [`plan_key`]).
    plans: HashMap<(Dpid, PortNo, Packet), Plan, Hasher>,
    plans_of: u64,
    memoise: bool,
}

/// The pinhole match of a packet arriving on `in_port` at a switch whose uplink is `uplink`:
/// every field exact but the ToS and VLAN priority (so that it is never an exact-match flow
/// and ranks by priority), and the source MAC of frames from the uplink (which the semantics
/// do not constrain).
pub fn pinhole_match(in_port: PortNo, uplink: PortNo, p: &Packet) -> Match {
    let mut m = Match::any();
    m.in_port = Some(in_port);
    if in_port != uplink {
        m.dl_src = Some(p.dl_src);
    }
    m.dl_dst = Some(p.dl_dst);
    m.dl_vlan = VlanMatch::Untagged;
    m.dl_type = Some(ETH_TYPE_IPV4);
    m.nw_proto = Some(p.nw_proto);
    m.nw_src = Ipv4Match::exact(p.nw_src);
    m.nw_dst = Ipv4Match::exact(p.nw_dst);
    if matches!(p.nw_proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP) {
        m.tp_src = Some(p.tp_src);
        m.tp_dst = Some(p.tp_dst);
    }
    m
}

/// The reply to transit `t` as it arrives at `t.switch`: the port and the frame, if the
/// reply is a valid transit there on the same path.
pub fn reply_frame(model: &Model, t: &Transit) -> Option<(PortNo, Packet)> {
    reply_transit(model, t).map(|(in_port, p, _)| (in_port, p))
}

/// [`reply_frame`], with the reply's transit.
fn reply_transit(model: &Model, t: &Transit) -> Option<(PortNo, Packet, Box<Transit>)> {
    let r = t.tuple.reply()?;
    let s = model.settings();
    let uplink = model.switch(t.switch)?.uplink;
    let frame = |in_port, dl_src, dl_dst, nw_src, nw_dst| -> (PortNo, Packet) {
        let mut p = Packet::ipv4(
            dl_src, dl_dst, nw_src, nw_dst, r.proto, r.src_port, r.dst_port,
        );
        if !matches!(r.proto, IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP) {
            p.tp_src = 0;
            p.tp_dst = 0;
        }
        (in_port, p)
    };
    let mac_of = |ip| model.instance_by_ip(ip).map(|i| i.mac);
    let (in_port, p) = match (&t.egress_of, &t.ingress_of, t.path) {
        (Some(a), Some(b), Path::Private) => {
            let a = model.instance(a)?;
            let b = model.instance(b)?;
            frame(b.attachment?.port, b.mac, a.mac, r.src, r.dst)
        }
        (Some(a), None, Path::Private) => {
            let a = model.instance(a)?;
            frame(
                uplink,
                mac_of(r.src).unwrap_or(MacAddr::ZERO),
                a.mac,
                r.src,
                r.dst,
            )
        }
        (Some(_), None, Path::ElasticIp(eip)) => {
            frame(uplink, s.public_gateway_mac, s.elastic_ip_mac, r.src, eip)
        }
        (None, Some(b), Path::Private) => {
            let b = model.instance(b)?;
            frame(b.attachment?.port, b.mac, mac_of(r.dst)?, r.src, r.dst)
        }
        (None, Some(b), Path::ElasticIp(_)) => {
            let b = model.instance(b)?;
            frame(b.attachment?.port, b.mac, s.router_mac, r.src, r.dst)
        }
        _ => return None,
    };
    // The reply's transit is wanted for its decision and actions only.
    match hop_with(model, t.switch, in_port, &p, false) {
        Hop::Transit(rt) if rt.path == t.path && rt.tuple == r => Some((in_port, p, rt)),
        _ => None,
    }
}

/// The gratuitous ARP that announces elastic IP `ip` where it is now: the switch hosting its
/// instance, its uplink, and the frame (an ARP request from the elastic-IP MAC for the
/// address itself, broadcast). The controller sends it after an association moves the
/// address (a few times, a couple of seconds apart, as Neutron does). `None` if the address
/// is not associated with an attached instance.
pub fn gratuitous_arp(model: &Model, ip: core::net::Ipv4Addr) -> Option<PacketOut> {
    let inst = model.elastic_ip_host(ip)?;
    let at = inst.attachment?;
    let uplink = model.switch(at.switch)?.uplink;
    let mac = model.settings().elastic_ip_mac;
    Some(PacketOut {
        switch: at.switch,
        in_port: PortNo::NONE,
        actions: vec![Action::output(uplink)].into(),
        packet: Packet::arp(crate::packet::ARP_REQUEST, mac, MacAddr::BROADCAST, ip, ip),
    })
}

impl Pinholes {
    /// An empty table; pinholes get `options.pinhole_idle_timeout`.
    pub fn new(options: CompileOptions) -> Self {
        Pinholes {
            options,
            conns: ConnTable::default(),
            plans: HashMap::with_hasher(Hasher::new()),
            plans_of: 0,
            memoise: true,
        }
    }

    /// The same without memoised plans (every packet decided afresh), to test the memo.
    #[cfg(test)]
    pub(crate) fn without_memo(options: CompileOptions) -> Self {
        Pinholes {
            memoise: false,
            ..Pinholes::new(options)
        }
    }

    /// The number of tracked connections.
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True if none.
    pub fn is_empty(&self) -> bool {
        self.conns.len() == 0
    }

    /// The tracked connections, with their cookies.
    pub fn connections(&self) -> BTreeMap<ConnKey, u64> {
        self.conns
            .iter()
            .map(|(ck, k, r)| (r.opening(k), ck))
            .collect()
    }

    /// Decide a packet `switch` sent to the controller from `in_port`.
    pub fn packet_in(
        &mut self,
        model: &Model,
        switch: Dpid,
        in_port: PortNo,
        packet: &Packet,
    ) -> Decision {
        let key = if self.memoise {
            plan_key(switch, in_port, packet)
        } else {
            None
        };
        let Some(key) = key else {
            let p = plan(model, &self.options, switch, in_port, packet, false);
            return decide(&mut self.conns, &p, false, switch, in_port, packet);
        };
        if self.plans_of != model.stamp() {
            self.plans.clear();
            self.plans_of = model.stamp();
        }
        if self.plans.len() >= MAX_PLANS && !self.plans.contains_key(&key) {
            self.plans.clear();
        }
        // The plan is borrowed, not shared: a reference count changed here would wait for
        // the previous packet's new entry to be written (see `decide`).
        let (p, memoised) = match self.plans.entry(key) {
            Entry::Occupied(e) => (&*e.into_mut(), true),
            Entry::Vacant(v) => (
                &*v.insert(plan(model, &self.options, switch, in_port, packet, true)),
                false,
            ),
        };
        decide(&mut self.conns, p, memoised, switch, in_port, packet)
    }

    fn deletes(key: &ConnKey, cookie: u64, rec: &Record) -> Vec<Update> {
        let (fwd, rev) = rec.flows();
        core::iter::once(fwd)
            .chain(rev)
            .map(|m| {
                let mut fm = FlowMod::delete_strict(m, priority::PINHOLE);
                fm.cookie = cookie;
                Update {
                    switch: key.switch,
                    flow_mod: fm,
                }
            })
            .collect()
    }

    /// A switch removed a pinhole (it idled out, or was deleted): forget its connection and
    /// delete the connection's other pinhole.
    pub fn flow_removed(&mut self, switch: Dpid, cookie: u64, removed: &Match) -> Vec<Update> {
        let ours = self
            .conns
            .get_by_cookie(cookie)
            .is_some_and(|(k, _)| k.switch == switch);
        if !ours {
            return Vec::new();
        }
        let Some((key, rec)) = self.conns.remove_by_cookie(cookie) else {
            return Vec::new();
        };
        let mut out = Self::deletes(&key, cookie, &rec);
        out.retain(|u| &u.flow_mod.r#match != removed);
        out
    }

    /// The model changed: cut the tracked connections it touches (see the crate docs) and
    /// return the deletes of their pinholes.
    pub fn cut(&mut self, touched: &Touched) -> Vec<Update> {
        // In the order of the opening packets' keys (the deletes' order does not depend on
        // the table's).
        let mut hit: Vec<(ConnKey, u64)> = self
            .conns
            .iter()
            .filter(|(_, k, r)| {
                touched.all
                    || touched.switches.contains(&k.switch)
                    || r.shape
                        .involved
                        .iter()
                        .any(|i| touched.instances.contains(i))
                    || touched.addresses.contains(&k.opening.src)
                    || touched.addresses.contains(&k.opening.dst)
            })
            .map(|(ck, k, r)| (r.opening(k), ck))
            .collect();
        hit.sort();
        let mut out = Vec::new();
        for (_, ck) in hit {
            if let Some((k, rec)) = self.conns.remove_by_cookie(ck) {
                out.extend(Self::deletes(&k, ck, &rec));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::cookie;
    use crate::e2e_tests::fixture;
    use crate::model::InstanceId;
    use crate::packet::ARP_REQUEST;

    fn inst<'m>(m: &'m Model, n: &str) -> &'m crate::model::Instance {
        m.instance(&InstanceId::new(n).unwrap()).unwrap()
    }

    #[test]
    fn allowed_connections_get_two_pinholes_and_a_packet_out() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut p = Pinholes::new(CompileOptions::default());
        let pkt = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22);
        let d = p.packet_in(&m, 1, PortNo(1), &pkt);
        assert_eq!(d.outcome, Outcome::Allowed);
        let mods = d.flow_mods();
        assert_eq!(mods.len(), 2);
        for u in &mods {
            let fm = &u.flow_mod;
            assert_eq!(u.switch, 1);
            assert_eq!(fm.priority, priority::PINHOLE);
            assert_eq!(fm.idle_timeout, 60);
            assert!(fm.flags.contains(FlowModFlags::SEND_FLOW_REM));
            assert!(!fm.r#match.is_exact());
            assert_eq!(crate::compile::unmet_prerequisite(&fm.r#match), None);
            assert_eq!(fm.cookie & cookie::KIND_MASK, cookie::PINHOLE);
        }
        let fwd = &mods[0].flow_mod;
        let rev = &mods[1].flow_mod;
        assert_eq!(fwd.r#match.in_port, Some(PortNo(1)));
        assert_eq!(fwd.actions, vec![Action::output(PortNo(2))]);
        assert_eq!(rev.r#match.in_port, Some(PortNo(2)));
        assert_eq!(rev.r#match.tp_src, Some(22));
        assert_eq!(rev.r#match.tp_dst, Some(40000));
        assert_eq!(rev.actions, vec![Action::output(PortNo(1))]);
        let po = d.packet_out.unwrap();
        assert_eq!((po.switch, po.in_port, po.packet), (1, PortNo(1), pkt));
        assert_eq!(p.len(), 1);
        // The same packet again (in flight before the pinhole): tracked, no new flows.
        let d = p.packet_in(&m, 1, PortNo(1), &pkt);
        assert_eq!(d.outcome, Outcome::Tracked);
        assert!(d.flow_mods().is_empty());
        // The reply too.
        let d = p.packet_in(
            &m,
            1,
            PortNo(2),
            &Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, 22, 40000),
        );
        assert_eq!(d.outcome, Outcome::Tracked);
        // One pinhole idles out: the other is deleted, the connection forgotten.
        let dels = p.flow_removed(1, fwd.cookie, &fwd.r#match);
        assert_eq!(dels.len(), 1);
        assert_eq!(dels[0].flow_mod.command, FlowModCommand::DeleteStrict);
        assert_eq!(dels[0].flow_mod.r#match, rev.r#match);
        assert!(p.is_empty());
        assert!(p.flow_removed(1, fwd.cookie, &rev.r#match).is_empty());
    }

    /// A connection is found from either direction whichever orientation it was opened in;
    /// a late flow_removed (the second pinhole's, or a stale cookie whose slot was reused)
    /// or one from another switch forgets nothing.
    #[test]
    fn connections_are_kept_once_and_cookies_name_live_slots() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut p = Pinholes::new(CompileOptions::default());
        // b's port 22 from a high port of a, and the mirror image: one opened in each
        // orientation of the canonical key.
        let up = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22);
        let down = Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, 22, 40000);
        let t_up = FiveTuple {
            proto: 6,
            src: a.ip,
            dst: b.ip,
            src_port: 40000,
            dst_port: 22,
        };
        assert_eq!(canonical(&t_up), (t_up, true));
        assert_eq!(canonical(&t_up.reply().unwrap()), (t_up, false));
        let d = p.packet_in(&m, 1, PortNo(1), &up);
        assert_eq!(d.outcome, Outcome::Allowed);
        let first = d.wire.unwrap();
        let mods = first.flow_mods();
        assert_eq!(
            p.packet_in(&m, 1, PortNo(2), &down).outcome,
            Outcome::Tracked
        );
        assert_eq!(p.packet_in(&m, 1, PortNo(1), &up).outcome, Outcome::Tracked);
        let conns = p.connections();
        assert_eq!(conns.len(), 1);
        let (key, ck) = conns.iter().next().unwrap();
        assert_eq!((key.opening.src, key.opening.src_port), (a.ip, 40000));
        assert_eq!(*ck, first.cookie());
        // Another switch's flow_removed with this cookie: nothing.
        assert!(p
            .flow_removed(2, first.cookie(), &mods[0].r#match)
            .is_empty());
        assert_eq!(p.len(), 1);
        // The first pinhole idles out: the other is deleted.
        assert_eq!(p.flow_removed(1, first.cookie(), &mods[0].r#match).len(), 1);
        assert!(p.is_empty());
        // A new connection takes the freed slot, under another generation.
        let again = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40001, 22);
        let second = p.packet_in(&m, 1, PortNo(1), &again).wire.unwrap();
        assert_eq!(second.cookie() & 0xffff_ffff, first.cookie() & 0xffff_ffff);
        assert_ne!(second.cookie(), first.cookie());
        // The first connection's second flow_removed comes late: the new one stays.
        assert!(p
            .flow_removed(1, first.cookie(), &mods[1].r#match)
            .is_empty());
        assert_eq!(p.len(), 1);
        // Not a pinhole cookie, or out of range: nothing.
        assert!(p.flow_removed(1, 7, &mods[1].r#match).is_empty());
        assert!(p
            .flow_removed(1, cookie::PINHOLE | 0xffff, &mods[1].r#match)
            .is_empty());
        assert_eq!(p.len(), 1);
        // A connection opened in the other orientation (b to a's port 22: its reply's
        // tuple is the smaller).
        let b_to_a = Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, 40000, 22);
        let d = p.packet_in(&m, 1, PortNo(2), &b_to_a);
        assert_eq!(d.outcome, Outcome::Allowed, "b -> a:22");
        assert_eq!(p.len(), 2);
        let reply = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 22, 40000);
        assert_eq!(
            p.packet_in(&m, 1, PortNo(1), &reply).outcome,
            Outcome::Tracked
        );
        let opened: Vec<_> = p.connections().into_keys().collect();
        assert!(opened
            .iter()
            .any(|k| (k.opening.src, k.opening.dst_port) == (b.ip, 22)));
        // Slots of cut connections are freed too.
        let cut = p.cut(&Touched {
            all: true,
            ..Touched::default()
        });
        assert_eq!(cut.len(), 4);
        assert!(p.is_empty());
        assert_eq!(p.conns.free_slots(), 2);
    }

    /// `d`'s flow_mods encoded one by one (xids from `xid`), and its wire form (the same
    /// xids).
    fn encodings(d: &Decision, xid: u32) -> (Vec<u8>, Vec<u8>) {
        let mut fresh = bytes::BytesMut::new();
        for (i, u) in d.flow_mods().iter().enumerate() {
            openflow_proto::Message::FlowMod(u.flow_mod.clone())
                .encode(xid.wrapping_add(i as u32), &mut fresh)
                .unwrap();
        }
        let mut wire = bytes::BytesMut::from(&b"before"[..]);
        let mut next = xid;
        let n = d
            .wire
            .as_ref()
            .unwrap()
            .encode(
                || {
                    next = next.wrapping_add(1);
                    next.wrapping_sub(1)
                },
                &mut wire,
            )
            .unwrap();
        assert_eq!(n, d.flow_mods().len());
        assert_eq!(&wire[..6], b"before");
        (fresh.to_vec(), wire[6..].to_vec())
    }

    #[test]
    fn wire_pinholes_are_the_flow_mods_encoded() {
        let m = fixture();
        let (a, b) = (inst(&m, "a").clone(), inst(&m, "b").clone());
        for memo in [true, false] {
            let mut p = if memo {
                Pinholes::new(CompileOptions::default())
            } else {
                Pinholes::without_memo(CompileOptions::default())
            };
            // TCP (memoised plans patch the port in), ICMP echo (never patched: the
            // reply's type differs), and a tracked packet (no flow_mods, no wire form).
            for (proto, sport, dport) in [(6, 40000, 22), (6, 40001, 22), (1, 8, 0)] {
                let pkt = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, proto, sport, dport);
                let d = p.packet_in(&m, 1, PortNo(1), &pkt);
                assert_eq!(d.outcome, Outcome::Allowed, "{proto}/{sport}");
                assert_eq!(d.flow_mods().len(), 2);
                let w = d.wire.as_ref().unwrap();
                assert_eq!((w.len(), w.is_empty()), (2, false));
                let (fresh, wire) = encodings(&d, 7);
                assert_eq!(w.wire_len(), fresh.len());
                assert_eq!(fresh, wire, "memo {memo}, {proto}/{sport}");
                let again = p.packet_in(&m, 1, PortNo(1), &pkt);
                assert_eq!((again.outcome, again.wire), (Outcome::Tracked, None));
            }
        }
        // Denied: nothing.
        let mut p = Pinholes::new(CompileOptions::default());
        let pkt = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 23);
        assert_eq!(p.packet_in(&m, 1, PortNo(1), &pkt).wire, None);
    }

    proptest::proptest! {
        /// Whatever the source ports, their order, the cookies and the xids: the patched
        /// template is the freshly encoded flow_mods byte for byte, memoised or not.
        #[test]
        fn patched_templates_encode_as_the_flow_mods(
            conns in proptest::collection::vec((proptest::bool::ANY, 0u16..=u16::MAX), 1..40),
            xid in proptest::num::u32::ANY,
        ) {
            let m = fixture();
            let (a, b) = (inst(&m, "a").clone(), inst(&m, "b").clone());
            let mut p = Pinholes::new(CompileOptions::default());
            let mut fresh = Pinholes::without_memo(CompileOptions::default());
            for (ssh, sport) in conns {
                let (proto, dport) = if ssh { (6, 22) } else { (6, 80) };
                let pkt = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, proto, sport, dport);
                let d = p.packet_in(&m, 1, PortNo(1), &pkt);
                let f = fresh.packet_in(&m, 1, PortNo(1), &pkt);
                proptest::prop_assert_eq!(&d, &f);
                if d.flow_mods().is_empty() {
                    proptest::prop_assert!(d.wire.is_none());
                    continue;
                }
                let (one_by_one, wire) = encodings(&d, xid);
                proptest::prop_assert_eq!(one_by_one, wire);
                let (one_by_one, wire) = encodings(&f, xid);
                proptest::prop_assert_eq!(one_by_one, wire);
            }
        }
    }

    /// The decision a pinhole table that never memoises makes, next to `p`'s.
    fn both(
        p: &mut Pinholes,
        fresh: &mut Pinholes,
        m: &Model,
        port: u16,
        pkt: &Packet,
    ) -> Decision {
        let d = p.packet_in(m, 1, PortNo(port), pkt);
        assert_eq!(d, fresh.packet_in(m, 1, PortNo(port), pkt));
        d
    }

    #[test]
    fn memoised_plans_follow_the_model() {
        use crate::model::{Attachment, Direction, Peer, Permission, PortRange, Protocol};
        let mut m = fixture();
        let (a, b) = (inst(&m, "a").clone(), inst(&m, "b").clone());
        let web = crate::model::GroupId::new("web").unwrap();
        let ssh = Permission::new(Protocol::Tcp(PortRange::single(22)), Peer::anywhere()).unwrap();
        let mut p = Pinholes::new(CompileOptions::default());
        let mut fresh = Pinholes::without_memo(CompileOptions::default());
        let syn = |sport| Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, sport, 22);
        let d = both(&mut p, &mut fresh, &m, 1, &syn(40000));
        assert_eq!(d.outcome, Outcome::Allowed);
        // Another source port: the memoised plan, with this port in both pinholes.
        let d = both(&mut p, &mut fresh, &m, 1, &syn(40001));
        assert_eq!(d.outcome, Outcome::Allowed);
        assert_eq!(d.flow_mods()[0].flow_mod.r#match.tp_src, Some(40001));
        assert_eq!(d.flow_mods()[1].flow_mod.r#match.tp_dst, Some(40001));
        assert_eq!(p.plans.len(), 1);
        // A model change the plan depends on: never the stale plan.
        let mut t = m.revoke(&web, Direction::Ingress, &ssh).unwrap();
        assert_eq!(p.cut(&t), fresh.cut(&t));
        let d = both(&mut p, &mut fresh, &m, 1, &syn(40002));
        assert_eq!(d.outcome, Outcome::Dropped(DropReason::Denied));
        t = m.authorize(&web, Direction::Ingress, ssh.clone()).unwrap();
        assert_eq!(p.cut(&t), fresh.cut(&t));
        assert_eq!(
            both(&mut p, &mut fresh, &m, 1, &syn(40003)).outcome,
            Outcome::Allowed
        );
        // b moves to switch 2: a's packets to b now leave by the uplink.
        t = m
            .attach(
                &b.id,
                Some(Attachment {
                    switch: 2,
                    port: PortNo(9),
                }),
            )
            .unwrap();
        assert_eq!(p.cut(&t), fresh.cut(&t));
        let d = both(&mut p, &mut fresh, &m, 1, &syn(40004));
        assert_eq!(
            d.packet_out.unwrap().actions,
            vec![Action::output(PortNo(100))]
        );
        // Even a refused change gives the model a new stamp.
        let stamp = m.stamp();
        assert!(m
            .attach(
                &b.id,
                Some(Attachment {
                    switch: 9,
                    port: PortNo(9)
                })
            )
            .is_err());
        assert_ne!(m.stamp(), stamp);
        // Two models that differ, one a changed clone of the other, alternately: each gets
        // its own decision.
        let mut other = m.clone();
        assert_eq!(other.stamp(), m.stamp());
        other.revoke(&web, Direction::Ingress, &ssh).unwrap();
        for sport in 41000..41004 {
            // b, now behind switch 1's uplink, to a's ssh: allowed by `m`, not by `other`.
            let ssh_in = |sport| Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, sport, 22);
            let here = both(&mut p, &mut fresh, &m, 100, &ssh_in(sport));
            assert_eq!(here.outcome, Outcome::Allowed);
            let there = p.packet_in(&other, 1, PortNo(100), &ssh_in(sport + 500));
            assert_eq!(there.outcome, Outcome::Dropped(DropReason::Denied));
        }
    }

    #[test]
    fn the_memo_is_bounded() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut p = Pinholes::new(CompileOptions::default());
        for dport in 0..=u16::try_from(MAX_PLANS).unwrap() + 10 {
            p.packet_in(
                &m,
                1,
                PortNo(1),
                &Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 17, 1, dport),
            );
            assert!(p.plans.len() <= MAX_PLANS);
        }
    }

    #[test]
    fn denied_spoofed_and_arp() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut p = Pinholes::new(CompileOptions::default());
        let closed = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 23);
        let d = p.packet_in(&m, 1, PortNo(1), &closed);
        assert_eq!(d.outcome, Outcome::Dropped(DropReason::Denied));
        assert!(d.flow_mods().is_empty() && d.packet_out.is_none());
        let mut spoof = closed;
        spoof.nw_src = b.ip;
        assert_eq!(
            p.packet_in(&m, 1, PortNo(1), &spoof).outcome,
            Outcome::Dropped(DropReason::Spoofed)
        );
        let req = Packet::arp(ARP_REQUEST, a.mac, MacAddr::BROADCAST, a.ip, b.ip);
        let d = p.packet_in(&m, 1, PortNo(1), &req);
        let po = d.packet_out.unwrap();
        assert_eq!(po.in_port, PortNo::NONE);
        assert_eq!(po.actions, vec![Action::output(PortNo(1))]);
        assert_eq!(po.packet.dl_src, b.mac);
        assert!(p.is_empty());
        // The same request with b's MAC as its sender hardware address: dropped, unanswered.
        let d = p.packet_in(&m, 1, PortNo(1), &req.with_arp_sha(b.mac));
        assert_eq!(d.outcome, Outcome::Dropped(DropReason::Spoofed));
        assert!(d.packet_out.is_none() && d.wire.is_none());
    }

    #[test]
    fn gratuitous_arp_follows_the_address() {
        let mut m = fixture();
        let eip = core::net::Ipv4Addr::new(203, 0, 113, 10);
        let g = gratuitous_arp(&m, eip).unwrap();
        assert_eq!(g.switch, 1);
        assert_eq!(g.actions, vec![Action::output(PortNo(100))]);
        assert_eq!((g.packet.nw_src, g.packet.nw_dst), (eip, eip));
        assert_eq!(g.packet.dl_src, m.settings().elastic_ip_mac);
        assert!(g.packet.dl_dst.is_broadcast());
        m.associate(eip, &InstanceId::new("c").unwrap(), true)
            .unwrap();
        assert_eq!(gratuitous_arp(&m, eip).unwrap().switch, 2);
        m.disassociate(eip).unwrap();
        assert!(gratuitous_arp(&m, eip).is_none());
    }

    #[test]
    fn cut_deletes_the_pinholes_of_touched_instances() {
        let m = fixture();
        let (a, b, c) = (inst(&m, "a"), inst(&m, "b"), inst(&m, "c"));
        let mut p = Pinholes::new(CompileOptions::default());
        p.packet_in(
            &m,
            1,
            PortNo(1),
            &Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22),
        );
        p.packet_in(
            &m,
            1,
            PortNo(1),
            &Packet::ipv4(a.mac, c.mac, a.ip, c.ip, 6, 40000, 5432),
        );
        assert_eq!(p.len(), 2);
        let mut t = Touched::none();
        t.instances.insert(b.id.clone());
        let dels = p.cut(&t);
        assert_eq!(dels.len(), 2);
        assert!(dels
            .iter()
            .all(|u| u.flow_mod.command == FlowModCommand::DeleteStrict));
        assert_eq!(p.len(), 1);
        assert!(p.cut(&Touched::none()).is_empty());
        assert_eq!(p.cut(&Touched::everything()).len(), 2);
        assert!(p.is_empty());
    }
}
