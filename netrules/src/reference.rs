//! The reference semantics: what happens to a packet, decided directly from the [`Model`],
//! without flows.
//!
//! [`hop`] decides what one switch must do with a packet arriving on one of its ports;
//! [`Reference`] follows a packet from where it enters the network to where it leaves it,
//! keeping the tracked connections ([`ConnTrack`]) that make the security groups stateful.
//! The semantics are described in the crate documentation; this module is their executable
//! form, and the compiled flows (with the controller's pinhole decisions) are tested to give
//! exactly its verdicts.

use crate::model::{Direction, Dpid, Instance, InstanceId, Model, Peer, Touched};
use crate::packet::{Packet, ARP_REPLY, ARP_REQUEST};
use core::net::Ipv4Addr;
use core::time::Duration;
use openflow_proto::flow_match::{IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP};
use openflow_proto::{Action, PortNo};
use std::collections::HashMap;

/// Where a packet enters the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Entry {
    /// On this port of this switch: an instance's port, the uplink, or any other port.
    Port {
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
    },
    /// From the public gateway, onto the physical network that joins the uplinks: every
    /// switch sees it on its uplink.
    Outside,
}

/// Who receives a packet that leaves the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// This instance, on its port.
    Instance(InstanceId),
    /// The public gateway (the outside world).
    Outside,
}

/// Which addresses a packet travels with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Path {
    /// Private addresses between instances.
    Private,
    /// Between an instance and the outside, through this elastic IP.
    ElasticIp(Ipv4Addr),
}

/// A packet's protocol, addresses and ports as the instance sees them (private addresses:
/// for traffic through an elastic IP, the instance's private address stands for the public
/// one). For ICMP the ports are the type and the code; for protocols other than TCP, UDP and
/// ICMP they are 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FiveTuple {
    /// IP protocol.
    pub proto: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// TCP/UDP source port, or ICMP type.
    pub src_port: u16,
    /// TCP/UDP destination port, or ICMP code.
    pub dst_port: u16,
}

/// The ICMP type of the reply to a query message of type `t` (echo, timestamp,
/// information, address mask), or `None` if `t` is not a query or reply message.
pub const fn icmp_reply_type(t: u16) -> Option<u16> {
    match t {
        8 => Some(0),
        0 => Some(8),
        13 => Some(14),
        14 => Some(13),
        15 => Some(16),
        16 => Some(15),
        17 => Some(18),
        18 => Some(17),
        _ => None,
    }
}

impl FiveTuple {
    /// The five-tuple of an IPv4 packet (ports zeroed for protocols without them).
    pub fn of(p: &Packet) -> Self {
        let (src_port, dst_port) = match p.nw_proto {
            IP_PROTO_TCP | IP_PROTO_UDP | IP_PROTO_ICMP => (p.tp_src, p.tp_dst),
            _ => (0, 0),
        };
        FiveTuple {
            proto: p.nw_proto,
            src: p.nw_src,
            dst: p.nw_dst,
            src_port,
            dst_port,
        }
    }

    /// The reply's five-tuple: addresses (and TCP/UDP ports) swapped; for ICMP the reply
    /// type of a query (echo request 8 and reply 0, and so on) with the same code, and `None`
    /// for other ICMP messages (errors are not connections). The mapping is an involution.
    pub fn reply(&self) -> Option<FiveTuple> {
        let (src_port, dst_port) = match self.proto {
            IP_PROTO_TCP | IP_PROTO_UDP => (self.dst_port, self.src_port),
            IP_PROTO_ICMP => (icmp_reply_type(self.src_port)?, self.dst_port),
            _ => (0, 0),
        };
        Some(FiveTuple {
            proto: self.proto,
            src: self.dst,
            dst: self.src,
            src_port,
            dst_port,
        })
    }

    /// The address of the peer of `instance_ip` in this tuple for a direction: the
    /// destination for egress, the source for ingress.
    pub fn peer(&self, direction: Direction) -> Ipv4Addr {
        match direction {
            Direction::Egress => self.dst,
            Direction::Ingress => self.src,
        }
    }
}

/// True if the permissions of `instance` in `direction` allow `tuple` on `path`: some
/// permission of some group of the instance matches the protocol and ports (destination port
/// for TCP/UDP, type and code for ICMP) and its peer contains the tuple's peer address (a
/// CIDR, on any path; a group, through its members' private addresses, on the private path
/// only).
pub fn allows(
    model: &Model,
    instance: &Instance,
    direction: Direction,
    path: Path,
    tuple: &FiveTuple,
) -> bool {
    let peer = tuple.peer(direction);
    model.permissions_of(instance, direction).any(|(_, p)| {
        p.protocol()
            .matches(tuple.proto, tuple.src_port, tuple.dst_port)
            && match p.peer() {
                Peer::Cidr(net) => net.contains(peer),
                Peer::Group(g) => path == Path::Private && model.is_member_ip(g, peer),
            }
    })
}

/// Why a packet went no further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// No such switch.
    UnknownSwitch,
    /// A port with no instance attached that is not the uplink.
    UnknownPort,
    /// An 802.1Q-tagged frame (instance ports and uplinks carry untagged frames only).
    Tagged,
    /// From an instance, with a source MAC or IPv4 address that is not its own (for ARP:
    /// the Ethernet source, or the sender's hardware or protocol address).
    Spoofed,
    /// Neither IPv4 nor an ARP request the network handles.
    NotHandled,
    /// To a private address that is not another instance's, or with a destination MAC that
    /// is not that instance's.
    NoSuchDestination,
    /// To an instance that is not attached anywhere.
    NotAttached,
    /// To outside the private subnet, not addressed to the virtual router's MAC.
    NotRouted,
    /// To outside the private subnet from an instance without an elastic IP.
    NoElasticIp,
    /// On an uplink, not addressed to anything this switch serves.
    NotForUs,
    /// On an uplink, to an instance's private address from outside the private subnet, to
    /// an elastic IP from inside it, or from the address of an instance attached to this
    /// switch.
    WrongSide,
    /// The security groups do not allow it, and it belongs to no tracked connection.
    Denied,
}

/// What the controller is asked to do with a packet sent to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Duty {
    /// An ARP request from an instance: the controller answers for other instances (their
    /// MAC) and for the subnet's gateway (the virtual router's MAC), and ignores the rest.
    ArpFromInstance(InstanceId),
    /// An ARP request on the uplink of the switch hosting the instance an elastic IP is
    /// associated with: the controller answers with the elastic-IP MAC.
    ArpForElasticIp {
        /// The elastic IP asked for.
        ip: Ipv4Addr,
        /// The instance it is associated with.
        instance: InstanceId,
    },
}

/// What one switch must do with a packet that is neither dropped nor an ARP duty: the
/// security-group sides enforced at this switch and where the packet goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transit {
    /// The switch.
    pub switch: Dpid,
    /// The port it arrived on.
    pub in_port: PortNo,
    /// Public or private.
    pub path: Path,
    /// The five-tuple as the instance sees it.
    pub tuple: FiveTuple,
    /// The instance whose egress permissions this switch enforces (the sender, if it is
    /// attached here).
    pub egress_of: Option<InstanceId>,
    /// The instance whose ingress permissions this switch enforces (the receiver, if it is
    /// attached here).
    pub ingress_of: Option<InstanceId>,
    /// Every instance the packet is from or to (by private address), for cutting tracked
    /// connections when one of them changes.
    pub involved: Vec<InstanceId>,
    /// The port it leaves by (an instance's port, or the uplink).
    pub out_port: PortNo,
    /// Where it leaves the switch to: an instance, or the physical network (`None`).
    pub to_instance: Option<InstanceId>,
    /// The headers it leaves with.
    pub out_packet: Packet,
    /// The rewrites and the output that turn the packet into `out_packet` on `out_port`.
    pub actions: Vec<Action>,
}

impl Transit {
    /// True if the permissions enforced at this switch allow it (both sides, when the sender
    /// and the receiver are both attached here).
    pub fn allowed_by_rules(&self, model: &Model) -> bool {
        let side = |id: &Option<InstanceId>, d: Direction| match id {
            None => true,
            Some(id) => model
                .instance(id)
                .is_some_and(|i| allows(model, i, d, self.path, &self.tuple)),
        };
        side(&self.egress_of, Direction::Egress) && side(&self.ingress_of, Direction::Ingress)
    }

    /// True if the reply (if the tuple has one) would be allowed by the permissions enforced
    /// at this switch: the packet needs no tracked state here.
    pub fn reply_allowed_by_rules(&self, model: &Model) -> bool {
        let Some(reply) = self.tuple.reply() else {
            return true;
        };
        let side = |id: &Option<InstanceId>, d: Direction| match id {
            None => true,
            Some(id) => model
                .instance(id)
                .is_some_and(|i| allows(model, i, d, self.path, &reply)),
        };
        side(&self.egress_of, Direction::Ingress) && side(&self.ingress_of, Direction::Egress)
    }
}

/// What one switch must do with a packet arriving on a port, from the model alone (tracked
/// connections aside).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hop {
    /// Drop it.
    Drop(DropReason),
    /// Send it to the controller, which answers `reply` (if any) out the port it came in on.
    Controller {
        /// Why.
        duty: Duty,
        /// The ARP reply the controller sends back.
        reply: Option<Packet>,
    },
    /// It is subject to the security groups of the instances attached here.
    Transit(Box<Transit>),
}

/// The reply to ARP request `req` saying its target is at `mac`, sent to the requester's
/// hardware address (its sender hardware address, as ARP replies are).
fn arp_reply(mac: openflow_proto::MacAddr, req: &Packet) -> Packet {
    Packet::arp(ARP_REPLY, mac, req.arp_sha, req.nw_dst, req.nw_src)
}

/// The answer to an ARP request for `target` from an instance: another instance's MAC, or
/// the virtual router's for the subnet's gateway.
pub fn arp_answer(
    model: &Model,
    asker: &InstanceId,
    target: Ipv4Addr,
) -> Option<openflow_proto::MacAddr> {
    if target == model.settings().gateway {
        return Some(model.settings().router_mac);
    }
    model
        .instance_by_ip(target)
        .filter(|i| &i.id != asker)
        .map(|i| i.mac)
}

/// Decide what switch `switch` must do with `packet` arriving on `in_port`.
pub fn hop(model: &Model, switch: Dpid, in_port: PortNo, packet: &Packet) -> Hop {
    hop_with(model, switch, in_port, packet, true)
}

/// [`hop`], leaving a transit's [`Transit::involved`] empty unless `with_involved` (the
/// controller works out a reply's transit for its actions only).
pub(crate) fn hop_with(
    model: &Model,
    switch: Dpid,
    in_port: PortNo,
    packet: &Packet,
    with_involved: bool,
) -> Hop {
    let Some(sw) = model.switch(switch) else {
        return Hop::Drop(DropReason::UnknownSwitch);
    };
    if in_port == sw.uplink {
        return from_uplink(model, switch, in_port, packet, with_involved);
    }
    match model.instance_at(switch, in_port) {
        Some(i) => from_instance(model, i, switch, in_port, sw.uplink, packet, with_involved),
        None => Hop::Drop(DropReason::UnknownPort),
    }
}

/// The instances a tuple's addresses belong to, sorted, without repeats.
fn involved(model: &Model, t: &FiveTuple) -> Vec<InstanceId> {
    let id = |ip| model.instance_by_ip(ip).map(|i| &i.id);
    match (id(t.src), id(t.dst)) {
        (Some(a), Some(b)) if a == b => vec![a.clone()],
        (Some(a), Some(b)) if a < b => vec![a.clone(), b.clone()],
        (Some(a), Some(b)) => vec![b.clone(), a.clone()],
        (Some(x), None) | (None, Some(x)) => vec![x.clone()],
        (None, None) => Vec::new(),
    }
}

fn from_instance(
    model: &Model,
    a: &Instance,
    switch: Dpid,
    in_port: PortNo,
    uplink: PortNo,
    p: &Packet,
    with_involved: bool,
) -> Hop {
    let involved = |t: &FiveTuple| {
        if with_involved {
            involved(model, t)
        } else {
            Vec::new()
        }
    };
    let s = model.settings();
    if p.dl_vlan.is_some() {
        return Hop::Drop(DropReason::Tagged);
    }
    if p.dl_src != a.mac
        || ((p.is_ipv4() || p.is_arp()) && p.nw_src != a.ip)
        || (p.is_arp() && p.arp_sha != a.mac)
    {
        return Hop::Drop(DropReason::Spoofed);
    }
    if p.is_arp() {
        if p.nw_proto != ARP_REQUEST {
            return Hop::Drop(DropReason::NotHandled);
        }
        let reply = arp_answer(model, &a.id, p.nw_dst).map(|mac| arp_reply(mac, p));
        return Hop::Controller {
            duty: Duty::ArpFromInstance(a.id.clone()),
            reply,
        };
    }
    if !p.is_ipv4() {
        return Hop::Drop(DropReason::NotHandled);
    }
    let tuple = FiveTuple::of(p);
    if s.subnet.contains(p.nw_dst) {
        let Some(b) = model.instance_by_ip(p.nw_dst) else {
            return Hop::Drop(DropReason::NoSuchDestination);
        };
        if b.id == a.id || b.mac != p.dl_dst {
            return Hop::Drop(DropReason::NoSuchDestination);
        }
        let Some(at) = b.attachment else {
            return Hop::Drop(DropReason::NotAttached);
        };
        let (out_port, to_instance, ingress_of) = if at.switch == switch {
            (at.port, Some(b.id.clone()), Some(b.id.clone()))
        } else {
            (uplink, None, None)
        };
        return Hop::Transit(Box::new(Transit {
            switch,
            in_port,
            path: Path::Private,
            tuple,
            egress_of: Some(a.id.clone()),
            ingress_of,
            involved: involved(&tuple),
            out_port,
            to_instance,
            out_packet: *p,
            actions: vec![Action::output(out_port)],
        }));
    }
    if p.dl_dst != s.router_mac {
        return Hop::Drop(DropReason::NotRouted);
    }
    let Some(eip) = model.elastic_ip_of(&a.id) else {
        return Hop::Drop(DropReason::NoElasticIp);
    };
    let mut out = *p;
    out.nw_src = eip;
    out.dl_src = s.elastic_ip_mac;
    out.dl_dst = s.public_gateway_mac;
    Hop::Transit(Box::new(Transit {
        switch,
        in_port,
        path: Path::ElasticIp(eip),
        tuple,
        egress_of: Some(a.id.clone()),
        ingress_of: None,
        involved: if with_involved {
            vec![a.id.clone()]
        } else {
            Vec::new()
        },
        out_port: uplink,
        to_instance: None,
        out_packet: out,
        actions: eip_out_actions(model, eip, uplink),
    }))
}

/// The actions that send an instance's packet to the outside through elastic IP `eip`.
pub fn eip_out_actions(model: &Model, eip: Ipv4Addr, uplink: PortNo) -> Vec<Action> {
    let s = model.settings();
    vec![
        Action::SetNwSrc(eip),
        Action::SetDlSrc(s.elastic_ip_mac),
        Action::SetDlDst(s.public_gateway_mac),
        Action::output(uplink),
    ]
}

/// The actions that deliver a packet from the outside, sent to an elastic IP, to `instance`.
pub fn eip_in_actions(model: &Model, instance: &Instance, port: PortNo) -> Vec<Action> {
    let s = model.settings();
    vec![
        Action::SetNwDst(instance.ip),
        Action::SetDlSrc(s.router_mac),
        Action::SetDlDst(instance.mac),
        Action::output(port),
    ]
}

fn from_uplink(
    model: &Model,
    switch: Dpid,
    in_port: PortNo,
    p: &Packet,
    with_involved: bool,
) -> Hop {
    let involved = |t: &FiveTuple| {
        if with_involved {
            involved(model, t)
        } else {
            Vec::new()
        }
    };
    let s = model.settings();
    if p.dl_vlan.is_some() {
        return Hop::Drop(DropReason::Tagged);
    }
    let hosted = |ip: Ipv4Addr| {
        model
            .elastic_ip_host(ip)
            .filter(|b| b.attachment.is_some_and(|a| a.switch == switch))
    };
    if p.is_arp() {
        if p.nw_proto == ARP_REQUEST {
            if let Some(b) = hosted(p.nw_dst) {
                return Hop::Controller {
                    duty: Duty::ArpForElasticIp {
                        ip: p.nw_dst,
                        instance: b.id.clone(),
                    },
                    reply: Some(arp_reply(s.elastic_ip_mac, p)),
                };
            }
        }
        return Hop::Drop(DropReason::NotForUs);
    }
    if !p.is_ipv4() {
        return Hop::Drop(DropReason::NotForUs);
    }
    // An instance attached here never sends through the uplink.
    if model
        .instance_by_ip(p.nw_src)
        .is_some_and(|a| a.attachment.is_some_and(|at| at.switch == switch))
    {
        return Hop::Drop(DropReason::WrongSide);
    }
    if p.dl_dst == s.elastic_ip_mac {
        let Some(b) = hosted(p.nw_dst) else {
            return Hop::Drop(DropReason::NotForUs);
        };
        if s.subnet.contains(p.nw_src) {
            return Hop::Drop(DropReason::WrongSide);
        }
        let Some(at) = b.attachment else {
            return Hop::Drop(DropReason::NotAttached);
        };
        let eip = p.nw_dst;
        let mut out = *p;
        out.nw_dst = b.ip;
        out.dl_src = s.router_mac;
        out.dl_dst = b.mac;
        let mut tuple = FiveTuple::of(p);
        tuple.dst = b.ip;
        return Hop::Transit(Box::new(Transit {
            switch,
            in_port,
            path: Path::ElasticIp(eip),
            tuple,
            egress_of: None,
            ingress_of: Some(b.id.clone()),
            involved: if with_involved {
                vec![b.id.clone()]
            } else {
                Vec::new()
            },
            out_port: at.port,
            to_instance: Some(b.id.clone()),
            out_packet: out,
            actions: eip_in_actions(model, b, at.port),
        }));
    }
    let Some(b) = model.instance_by_ip(p.nw_dst).filter(|b| b.mac == p.dl_dst) else {
        return Hop::Drop(DropReason::NotForUs);
    };
    let Some(at) = b.attachment.filter(|a| a.switch == switch) else {
        return Hop::Drop(DropReason::NotForUs);
    };
    if !s.subnet.contains(p.nw_src) {
        return Hop::Drop(DropReason::WrongSide);
    }
    let tuple = FiveTuple::of(p);
    Hop::Transit(Box::new(Transit {
        switch,
        in_port,
        path: Path::Private,
        tuple,
        egress_of: None,
        ingress_of: Some(b.id.clone()),
        involved: involved(&tuple),
        out_port: at.port,
        to_instance: Some(b.id.clone()),
        out_packet: *p,
        actions: vec![Action::output(at.port)],
    }))
}

// ---------------------------------------------------------------------------------------------
// Connection tracking
// ---------------------------------------------------------------------------------------------

/// The key of a tracked connection: where the state lives and what the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// The switch that keeps the state (where the sides were enforced).
    pub switch: Dpid,
    /// The path.
    pub path: Path,
    /// The five-tuple of the packet that opened the connection.
    pub opening: FiveTuple,
}

/// A tracked connection at one switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conn {
    /// When a packet last went the opening way.
    pub last_forward: Duration,
    /// When a packet last went the reply way (the opening time until one does).
    pub last_reply: Duration,
    /// The instances it is from or to.
    pub involved: Vec<InstanceId>,
}

/// Which way a packet goes in a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Way {
    /// The way the opening packet went.
    Forward,
    /// The reply way.
    Reply,
}

/// Tracked connections, per switch, with an idle timeout in each direction.
///
/// A connection is alive while neither direction has been idle for `idle_timeout`: it
/// expires at `min(last_forward, last_reply) + idle_timeout` (the moment the first of its
/// two pinhole flows would time out, and the controller removes the other). An idle timeout
/// of zero means no expiry, as for OpenFlow flows.
#[derive(Clone, Debug)]
pub struct ConnTrack {
    idle_timeout: Duration,
    conns: HashMap<ConnKey, Conn>,
}

impl ConnTrack {
    /// An empty table.
    pub fn new(idle_timeout: Duration) -> Self {
        ConnTrack {
            idle_timeout,
            conns: HashMap::new(),
        }
    }

    /// The idle timeout.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The number of connections (expired ones included until [`ConnTrack::expire`]).
    pub fn len(&self) -> usize {
        self.conns.len()
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// The connections.
    pub fn iter(&self) -> impl Iterator<Item = (&ConnKey, &Conn)> {
        self.conns.iter()
    }

    /// True if `c` is still alive at `now` (an idle timeout of zero never expires, as in
    /// OpenFlow).
    fn alive(&self, c: &Conn, now: Duration) -> bool {
        self.idle_timeout.is_zero() || c.last_forward.min(c.last_reply) + self.idle_timeout > now
    }

    /// The live connection at `switch` on `path` that `tuple` belongs to, and which way.
    pub fn lookup(
        &self,
        now: Duration,
        switch: Dpid,
        path: Path,
        tuple: &FiveTuple,
    ) -> Option<(ConnKey, Way)> {
        let fwd = ConnKey {
            switch,
            path,
            opening: *tuple,
        };
        let live = |k: &ConnKey| self.conns.get(k).is_some_and(|c| self.alive(c, now));
        if live(&fwd) {
            return Some((fwd, Way::Forward));
        }
        let rev = ConnKey {
            switch,
            path,
            opening: tuple.reply()?,
        };
        live(&rev).then_some((rev, Way::Reply))
    }

    /// Record a packet going `way` in connection `key` at `now`.
    pub fn touch(&mut self, key: &ConnKey, way: Way, now: Duration) {
        if let Some(c) = self.conns.get_mut(key) {
            match way {
                Way::Forward => c.last_forward = c.last_forward.max(now),
                Way::Reply => c.last_reply = c.last_reply.max(now),
            }
        }
    }

    /// Open a connection (a packet with this tuple was allowed by the rules). Tuples without
    /// a reply (ICMP errors) are not tracked. Returns the key if tracked.
    pub fn open(
        &mut self,
        now: Duration,
        switch: Dpid,
        path: Path,
        tuple: &FiveTuple,
        involved: Vec<InstanceId>,
    ) -> Option<ConnKey> {
        tuple.reply()?;
        let key = ConnKey {
            switch,
            path,
            opening: *tuple,
        };
        self.conns.insert(
            key,
            Conn {
                last_forward: now,
                last_reply: now,
                involved,
            },
        );
        Some(key)
    }

    /// Remove one connection.
    pub fn remove(&mut self, key: &ConnKey) -> Option<Conn> {
        self.conns.remove(key)
    }

    /// Remove the connections that have expired at `now`, returning their keys.
    pub fn expire(&mut self, now: Duration) -> Vec<ConnKey> {
        let idle = self.idle_timeout;
        let mut gone: Vec<ConnKey> = Vec::new();
        self.conns.retain(|k, c| {
            let keep = idle.is_zero() || c.last_forward.min(c.last_reply) + idle > now;
            if !keep {
                gone.push(*k);
            }
            keep
        });
        gone.sort();
        gone
    }

    /// Cut the connections a model change touches: those involving a touched instance or a
    /// touched address, those at a touched switch, or all of them. Returns their keys.
    pub fn cut(&mut self, touched: &Touched) -> Vec<ConnKey> {
        let mut gone: Vec<ConnKey> = Vec::new();
        self.conns.retain(|k, c| {
            let hit = touched.all
                || touched.switches.contains(&k.switch)
                || c.involved.iter().any(|i| touched.instances.contains(i))
                || touched.addresses.contains(&k.opening.src)
                || touched.addresses.contains(&k.opening.dst);
            if hit {
                gone.push(*k);
            }
            !hit
        });
        gone.sort();
        gone
    }
}

// ---------------------------------------------------------------------------------------------
// End to end
// ---------------------------------------------------------------------------------------------

/// What happens to a packet entering the network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It reached `to` with these headers.
    Delivered {
        /// Who received it.
        to: Endpoint,
        /// The headers it arrived with.
        packet: Packet,
    },
    /// It went to the controller, which sent `reply` (if any) back out the port it came in
    /// on, at `switch`.
    Controller {
        /// The switch that sent it to the controller.
        switch: Dpid,
        /// Why.
        duty: Duty,
        /// The ARP reply.
        reply: Option<Packet>,
    },
    /// It went nowhere.
    Dropped {
        /// The switch that dropped it (`None` when no switch took a frame from outside).
        switch: Option<Dpid>,
        /// Why.
        reason: DropReason,
    },
}

impl Verdict {
    /// True for [`Verdict::Dropped`].
    pub fn is_dropped(&self) -> bool {
        matches!(self, Verdict::Dropped { .. })
    }
}

/// The reference model run over time: the model's verdict for each packet, with the tracked
/// connections that make the security groups stateful.
#[derive(Clone, Debug)]
pub struct Reference {
    conns: ConnTrack,
}

impl Reference {
    /// A reference with no tracked connections, whose connections idle out after
    /// `idle_timeout` (use the pinhole idle timeout the controller uses).
    pub fn new(idle_timeout: Duration) -> Self {
        Reference {
            conns: ConnTrack::new(idle_timeout),
        }
    }

    /// The tracked connections.
    pub fn conns(&self) -> &ConnTrack {
        &self.conns
    }

    /// A model change happened: cut the connections it touches (see the crate docs).
    pub fn cut(&mut self, touched: &Touched) -> Vec<ConnKey> {
        self.conns.cut(touched)
    }

    /// Forget connections that expired at `now`.
    pub fn expire(&mut self, now: Duration) -> Vec<ConnKey> {
        self.conns.expire(now)
    }

    /// What happens to `packet` entering at `entry` at time `now`; tracked connections are
    /// opened and refreshed as it goes.
    pub fn inject(
        &mut self,
        model: &Model,
        now: Duration,
        entry: Entry,
        packet: Packet,
    ) -> Verdict {
        match entry {
            Entry::Port { switch, port } => self.at_switch(model, now, switch, port, packet, 0),
            Entry::Outside => self.on_segment(model, now, None, packet, 0),
        }
    }

    fn at_switch(
        &mut self,
        model: &Model,
        now: Duration,
        switch: Dpid,
        port: PortNo,
        packet: Packet,
        depth: u8,
    ) -> Verdict {
        match hop(model, switch, port, &packet) {
            Hop::Drop(reason) => Verdict::Dropped {
                switch: Some(switch),
                reason,
            },
            Hop::Controller { duty, reply } => Verdict::Controller {
                switch,
                duty,
                reply,
            },
            Hop::Transit(t) => {
                if !self.pass(model, now, &t) {
                    return Verdict::Dropped {
                        switch: Some(switch),
                        reason: DropReason::Denied,
                    };
                }
                match &t.to_instance {
                    Some(id) => Verdict::Delivered {
                        to: Endpoint::Instance(id.clone()),
                        packet: t.out_packet,
                    },
                    None => self.on_segment(model, now, Some(switch), t.out_packet, depth + 1),
                }
            }
        }
    }

    /// Decide a transit at its switch: a tracked connection, or the rules (which open one).
    fn pass(&mut self, model: &Model, now: Duration, t: &Transit) -> bool {
        if let Some((key, way)) = self.conns.lookup(now, t.switch, t.path, &t.tuple) {
            self.conns.touch(&key, way, now);
            return true;
        }
        if t.allowed_by_rules(model) {
            self.conns
                .open(now, t.switch, t.path, &t.tuple, t.involved.clone());
            return true;
        }
        false
    }

    /// A frame on the physical network: to the public gateway if addressed to it, else to
    /// the uplink of every switch but `from`.
    fn on_segment(
        &mut self,
        model: &Model,
        now: Duration,
        from: Option<Dpid>,
        packet: Packet,
        depth: u8,
    ) -> Verdict {
        if from.is_some() && packet.dl_dst == model.settings().public_gateway_mac {
            return Verdict::Delivered {
                to: Endpoint::Outside,
                packet,
            };
        }
        let mut result = Verdict::Dropped {
            switch: None,
            reason: DropReason::NotForUs,
        };
        if depth > 2 {
            return result;
        }
        let switches: Vec<(Dpid, PortNo)> = model
            .switches()
            .values()
            .filter(|s| Some(s.dpid) != from)
            .map(|s| (s.dpid, s.uplink))
            .collect();
        for (dpid, uplink) in switches {
            let v = self.at_switch(model, now, dpid, uplink, packet, depth);
            let better = match (&result, &v) {
                (
                    _,
                    Verdict::Dropped {
                        reason: DropReason::NotForUs,
                        ..
                    },
                ) => false,
                (Verdict::Dropped { .. }, _) => true,
                _ => false,
            };
            if better {
                result = v;
            }
        }
        result
    }
}

/// The verdict for one packet with no tracked connections: the rules alone.
pub fn decide(model: &Model, entry: Entry, packet: Packet) -> Verdict {
    Reference::new(Duration::from_secs(60)).inject(model, Duration::ZERO, entry, packet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e_tests::fixture;
    use openflow_proto::MacAddr;

    fn inst<'m>(m: &'m Model, n: &str) -> &'m Instance {
        m.instance(&InstanceId::new(n).unwrap()).unwrap()
    }

    #[test]
    fn icmp_replies_are_an_involution() {
        for t in 0..=255u16 {
            if let Some(r) = icmp_reply_type(t) {
                assert_eq!(icmp_reply_type(r), Some(t));
            }
        }
        let echo = FiveTuple {
            proto: 1,
            src: Ipv4Addr::new(1, 1, 1, 1),
            dst: Ipv4Addr::new(2, 2, 2, 2),
            src_port: 8,
            dst_port: 0,
        };
        let r = echo.reply().unwrap();
        assert_eq!(
            (r.src, r.dst, r.src_port, r.dst_port),
            (echo.dst, echo.src, 0, 0)
        );
        assert_eq!(r.reply(), Some(echo));
        assert_eq!(
            FiveTuple {
                src_port: 3,
                ..echo
            }
            .reply(),
            None
        );
        let gre = FiveTuple { proto: 47, ..echo };
        assert_eq!(gre.reply().unwrap().src, echo.dst);
        let p = Packet::ipv4(MacAddr::ZERO, MacAddr::ZERO, echo.src, echo.dst, 47, 5, 6);
        assert_eq!(FiveTuple::of(&p).src_port, 0);
    }

    #[test]
    fn connections_expire_per_direction_and_are_cut() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut r = Reference::new(Duration::from_secs(10));
        let e_a = Entry::Port {
            switch: 1,
            port: PortNo(1),
        };
        let e_b = Entry::Port {
            switch: 1,
            port: PortNo(2),
        };
        let req = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22);
        let rep = Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, 22, 40000);
        // b cannot open to a's port 40000 (web lets in 22, 80-82, echo and 5432 only)...
        assert!(r.inject(&m, Duration::ZERO, e_b, rep).is_dropped());
        // ... but replies once a opened.
        assert!(!r.inject(&m, Duration::ZERO, e_a, req).is_dropped());
        assert!(!r.inject(&m, Duration::from_secs(5), e_b, rep).is_dropped());
        // Forward traffic keeps going, but the reply direction idles out after 10 s from
        // its last packet (5 s): at 15 s it is gone.
        assert!(!r.inject(&m, Duration::from_secs(12), e_a, req).is_dropped());
        assert!(!r.inject(&m, Duration::from_secs(14), e_b, rep).is_dropped());
        assert!(r.inject(&m, Duration::from_secs(25), e_b, rep).is_dropped());
        // Cut.
        assert!(!r.inject(&m, Duration::from_secs(30), e_a, req).is_dropped());
        let mut t = Touched::none();
        t.instances.insert(a.id.clone());
        assert_eq!(r.cut(&t).len(), 1);
        assert!(r.inject(&m, Duration::from_secs(31), e_b, rep).is_dropped());
        assert!(r.conns().is_empty());
    }

    #[test]
    fn a_zero_idle_timeout_never_expires() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let mut r = Reference::new(Duration::ZERO);
        let e_a = Entry::Port {
            switch: 1,
            port: PortNo(1),
        };
        let e_b = Entry::Port {
            switch: 1,
            port: PortNo(2),
        };
        let req = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22);
        let rep = Packet::ipv4(b.mac, a.mac, b.ip, a.ip, 6, 22, 40000);
        assert!(!r.inject(&m, Duration::ZERO, e_a, req).is_dropped());
        let late = Duration::from_secs(1_000_000);
        assert!(r.expire(late).is_empty());
        assert!(!r.inject(&m, late, e_b, rep).is_dropped());
    }

    #[test]
    fn arp_sender_fields_are_checked_and_replies_go_to_the_sender() {
        let m = fixture();
        let (a, b) = (inst(&m, "a"), inst(&m, "b"));
        let req = Packet::arp(ARP_REQUEST, a.mac, MacAddr::BROADCAST, a.ip, b.ip);
        match hop(&m, 1, PortNo(1), &req) {
            Hop::Controller {
                duty: Duty::ArpFromInstance(id),
                reply: Some(r),
            } => {
                assert_eq!(id, a.id);
                assert_eq!((r.dl_src, r.arp_sha, r.dl_dst), (b.mac, b.mac, a.mac));
                assert_eq!((r.nw_src, r.nw_dst, r.nw_proto), (b.ip, a.ip, ARP_REPLY));
            }
            other => panic!("{other:?}"),
        }
        for forged in [
            req.with_arp_sha(b.mac),
            req.with_arp_sha(MacAddr::ZERO),
            Packet {
                nw_src: b.ip,
                ..req
            },
            Packet {
                dl_src: b.mac,
                ..req
            },
        ] {
            assert_eq!(
                hop(&m, 1, PortNo(1), &forged),
                Hop::Drop(DropReason::Spoofed),
                "{forged:?}"
            );
        }
        // IPv4 frames carry no sender hardware address: a stray value is not looked at.
        let p = Packet::ipv4(a.mac, b.mac, a.ip, b.ip, 6, 40000, 22).with_arp_sha(b.mac);
        assert!(matches!(hop(&m, 1, PortNo(1), &p), Hop::Transit(_)));
        // The reply to a request from the physical network goes to its sender hardware
        // address.
        let eip = m.elastic_ip_of(&a.id).unwrap();
        let s = *m.settings();
        let who = MacAddr([2, 0, 0, 0, 7, 7]);
        let req = Packet::arp(
            ARP_REQUEST,
            s.public_gateway_mac,
            MacAddr::BROADCAST,
            s.public_gateway,
            eip,
        )
        .with_arp_sha(who);
        match hop(&m, 1, PortNo(100), &req) {
            Hop::Controller { reply: Some(r), .. } => {
                assert_eq!((r.dl_src, r.dl_dst, r.nw_src), (s.elastic_ip_mac, who, eip));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hops_name_the_sides_enforced_at_each_switch() {
        let m = fixture();
        let (a, c) = (inst(&m, "a"), inst(&m, "c"));
        let p = Packet::ipv4(a.mac, c.mac, a.ip, c.ip, 6, 40000, 5432);
        let Hop::Transit(t) = hop(&m, 1, PortNo(1), &p) else {
            panic!()
        };
        assert_eq!(t.egress_of, Some(a.id.clone()));
        assert_eq!(t.ingress_of, None);
        assert_eq!(t.out_port, PortNo(100));
        let Hop::Transit(t) = hop(&m, 2, PortNo(100), &p) else {
            panic!()
        };
        assert_eq!(t.egress_of, None);
        assert_eq!(t.ingress_of, Some(c.id.clone()));
        assert!(t.allowed_by_rules(&m));
        // db has no egress: the reply needs state.
        assert!(!t.reply_allowed_by_rules(&m));
        // a's own address cannot come in through switch 1's uplink.
        let back = Packet::ipv4(c.mac, a.mac, a.ip, a.ip, 6, 1, 2);
        assert_eq!(
            hop(&m, 1, PortNo(100), &back),
            Hop::Drop(DropReason::WrongSide)
        );
        assert_eq!(
            hop(&m, 9, PortNo(1), &p),
            Hop::Drop(DropReason::UnknownSwitch)
        );
        assert_eq!(
            hop(&m, 1, PortNo(7), &p),
            Hop::Drop(DropReason::UnknownPort)
        );
        let mut tagged = p;
        tagged.dl_vlan = Some(1);
        assert_eq!(
            hop(&m, 1, PortNo(1), &tagged),
            Hop::Drop(DropReason::Tagged)
        );
    }
}
