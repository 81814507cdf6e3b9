//! A network of simulated OpenFlow 1.0 switches, their hosts, an outside segment and a
//! controller.

use super::actions::apply_actions;
use super::table::{FlowId, FlowModError, FlowModOutcome, FlowRemoved, FlowTable, TableConfig};
use crate::packet::Packet;
use core::time::Duration;
use openflow_proto::flow_match::{IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP};
use openflow_proto::{Action, FlowMod, MacAddr, PortNo};
use std::collections::{BTreeMap, VecDeque};

/// A switch's datapath id.
pub type Dpid = u64;

/// What is plugged into a switch port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PortPeer {
    /// A host (an instance's virtual interface), by name.
    Host(String),
    /// The uplink to the outside segment shared by every switch.
    Uplink,
}

/// Where a frame enters the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Point {
    /// Sent by this host, on the switch port it is attached to.
    Host(String),
    /// Sent onto the outside segment by the public gateway (traffic from the outside world).
    Outside,
    /// Arriving on this switch port (as if from whatever is plugged in).
    Port {
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
    },
}

/// Where a frame left the network.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Destination {
    /// The host of this name received it on its port.
    Host(String),
    /// The public gateway received it (it is on its way to the outside world).
    Outside,
    /// The switch's local port received it.
    Local(Dpid),
}

/// A frame that left the network, with its headers as they were on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Delivery {
    /// Who received it.
    pub to: Destination,
    /// The headers it arrived with.
    pub packet: Packet,
}

/// Why a switch sent a packet to the controller (`ofp_packet_in_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketInReason {
    /// No flow matched (`OFPR_NO_MATCH`).
    NoMatch,
    /// A flow's action output to `CONTROLLER` (`OFPR_ACTION`).
    Action,
}

/// A packet_in, as the controller receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketIn {
    /// The switch that sent it.
    pub switch: Dpid,
    /// The port the packet arrived on (or the packet_out's `in_port`).
    pub in_port: PortNo,
    /// Why.
    pub reason: PacketInReason,
    /// The packet's headers (as modified by the actions before the output, for `Action`).
    pub packet: Packet,
}

/// A message from the controller to a switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ControllerMessage {
    /// Apply a flow_mod.
    FlowMod {
        /// The switch.
        switch: Dpid,
        /// The flow_mod.
        flow_mod: FlowMod,
    },
    /// Send a packet (`OFPT_PACKET_OUT`, never buffered): apply `actions` to it as if it had
    /// arrived on `in_port` (which may be [`PortNo::NONE`] or [`PortNo::CONTROLLER`]); an
    /// output to [`PortNo::TABLE`] submits it to the flow table.
    PacketOut {
        /// The switch.
        switch: Dpid,
        /// The packet's notional input port.
        in_port: PortNo,
        /// The actions.
        actions: Vec<Action>,
        /// The packet.
        packet: Packet,
    },
}

/// The controller, as a participant of the simulation: it receives packet_ins and
/// flow_removed messages and answers with flow_mods and packet_outs, which the network applies
/// at once, in order (the controller is modelled as infinitely fast).
pub trait Controller {
    /// A switch sent a packet to the controller.
    fn packet_in(&mut self, now: Duration, event: &PacketIn) -> Vec<ControllerMessage>;

    /// A switch removed a flow installed with `SEND_FLOW_REM`.
    fn flow_removed(
        &mut self,
        now: Duration,
        switch: Dpid,
        removed: &FlowRemoved,
    ) -> Vec<ControllerMessage>;
}

/// A controller that answers nothing: punted packets go no further (the trace still records
/// the packet_in). For testing proactive tables alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SilentController;

impl Controller for SilentController {
    fn packet_in(&mut self, _now: Duration, _event: &PacketIn) -> Vec<ControllerMessage> {
        Vec::new()
    }

    fn flow_removed(
        &mut self,
        _now: Duration,
        _switch: Dpid,
        _removed: &FlowRemoved,
    ) -> Vec<ControllerMessage> {
        Vec::new()
    }
}

/// What a switch does with a packet no flow matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MissBehavior {
    /// Send it to the controller (`OFPR_NO_MATCH`), as OpenFlow 1.0 specifies.
    #[default]
    Controller,
    /// Drop it.
    Drop,
}

/// Why a frame went no further.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// The matching flow has no output action (the empty action list is a drop).
    NoOutput(FlowId),
    /// No flow matched and the switch drops misses.
    TableMiss,
    /// An output named the input port itself, which OpenFlow 1.0 does not send to (only
    /// `IN_PORT` does).
    OutputToInPort(PortNo),
    /// An output to a port the switch does not have.
    NoSuchPort(PortNo),
    /// An output to a reserved port that is not simulated (`NORMAL`, `NONE`, `TABLE` outside
    /// a packet_out, `IN_PORT` when there is no input port).
    Unsupported(PortNo),
    /// The frame crossed more switches than the hop limit allows (a loop).
    HopLimit,
    /// The trace reached its work limit (a flood storm).
    WorkLimit,
}

/// One step of a trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A frame arrived on a switch port and was looked up.
    Lookup {
        /// The switch.
        switch: Dpid,
        /// The input port.
        in_port: PortNo,
        /// The headers.
        packet: Packet,
        /// The winning flow, if any.
        flow: Option<FlowId>,
        /// Flows that tie with the winner (equal rank, overlapping, different actions).
        ties: Vec<FlowId>,
    },
    /// A frame left the network.
    Delivered(Delivery),
    /// A frame went no further.
    Dropped {
        /// The switch where it stopped.
        switch: Option<Dpid>,
        /// The headers.
        packet: Packet,
        /// Why.
        reason: DropReason,
    },
    /// A switch sent a packet to the controller.
    PacketIn(PacketIn),
    /// The controller sent a flow_mod; `error` is set if the switch refused it.
    FlowMod {
        /// The switch.
        switch: Dpid,
        /// The flow_mod.
        flow_mod: FlowMod,
        /// The refusal, if the switch (or the network: unknown switch) refused it.
        error: Option<NetworkError>,
    },
    /// The controller sent a packet_out.
    PacketOut {
        /// The switch.
        switch: Dpid,
        /// The notional input port.
        in_port: PortNo,
        /// The packet.
        packet: Packet,
    },
    /// The controller sent more messages in this trace than the limit allows; the rest were
    /// not applied.
    MessageLimit,
    /// A switch removed a flow and told the controller.
    FlowRemoved {
        /// The switch.
        switch: Dpid,
        /// The notification.
        removed: FlowRemoved,
    },
}

/// Everything that happened to a frame (and to whatever the controller did about it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// The frames that left the network.
    pub fn deliveries(&self) -> impl Iterator<Item = &Delivery> {
        self.events.iter().filter_map(|e| match e {
            TraceEvent::Delivered(d) => Some(d),
            _ => None,
        })
    }

    /// The headers of the frames that reached `to`.
    pub fn delivered_to(&self, to: &Destination) -> Vec<Packet> {
        self.deliveries()
            .filter(|d| &d.to == to)
            .map(|d| d.packet)
            .collect()
    }

    /// True if nothing left the network.
    pub fn is_dropped(&self) -> bool {
        self.deliveries().next().is_none()
    }

    /// The packet_ins the controller received.
    pub fn packet_ins(&self) -> impl Iterator<Item = &PacketIn> {
        self.events.iter().filter_map(|e| match e {
            TraceEvent::PacketIn(p) => Some(p),
            _ => None,
        })
    }

    /// Lookups where equal-rank flows with different actions matched: the table's behaviour
    /// is undefined there, so a correct table set has none.
    pub fn ambiguous_lookups(&self) -> impl Iterator<Item = &TraceEvent> {
        self.events
            .iter()
            .filter(|e| matches!(e, TraceEvent::Lookup { ties, .. } if !ties.is_empty()))
    }

    /// Flow_mods the switches refused.
    pub fn rejected_flow_mods(&self) -> impl Iterator<Item = (&FlowMod, &NetworkError)> {
        self.events.iter().filter_map(|e| match e {
            TraceEvent::FlowMod {
                flow_mod,
                error: Some(err),
                ..
            } => Some((flow_mod, err)),
            _ => None,
        })
    }

    /// True if a frame hit the hop or work limit, or the controller the message limit.
    pub fn hit_limit(&self) -> bool {
        self.events.iter().any(|e| {
            matches!(
                e,
                TraceEvent::Dropped {
                    reason: DropReason::HopLimit | DropReason::WorkLimit,
                    ..
                } | TraceEvent::MessageLimit
            )
        })
    }
}

/// A misuse of the network's API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    /// No switch with this datapath id.
    #[error("no switch with datapath id {0:#x}")]
    UnknownSwitch(Dpid),
    /// A switch with this datapath id exists already.
    #[error("a switch with datapath id {0:#x} exists already")]
    DuplicateSwitch(Dpid),
    /// The port is not a physical port number (`1..=0xfeff`).
    #[error("switch {switch:#x}: port {port} is not a physical port (expected 1..=0xfeff)")]
    NotPhysical {
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
    },
    /// Something is plugged into that port already.
    #[error("switch {switch:#x}: port {port} is taken by {peer:?}")]
    PortInUse {
        /// The switch.
        switch: Dpid,
        /// The port.
        port: PortNo,
        /// What is plugged in.
        peer: PortPeer,
    },
    /// No host of this name is attached.
    #[error("no host named {0:?} is attached")]
    UnknownHost(String),
    /// A host of this name is attached already.
    #[error("a host named {0:?} is attached already")]
    DuplicateHost(String),
    /// Time cannot go backwards.
    #[error("time cannot go backwards: now is {now:?}, asked for {asked:?}")]
    TimeWentBackwards {
        /// The network's time.
        now: Duration,
        /// The time asked for.
        asked: Duration,
    },
    /// A switch refused a flow_mod.
    #[error("switch {switch:#x} refused a flow_mod")]
    FlowMod {
        /// The switch.
        switch: Dpid,
        /// Why.
        #[source]
        source: FlowModError,
    },
}

/// One simulated switch.
#[derive(Clone, Debug)]
pub struct Switch {
    table: FlowTable,
    ports: BTreeMap<PortNo, PortPeer>,
    uplink: Option<PortNo>,
    miss: MissBehavior,
}

impl Switch {
    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The ports and what is plugged into them.
    pub fn ports(&self) -> &BTreeMap<PortNo, PortPeer> {
        &self.ports
    }

    /// The uplink port, if any.
    pub fn uplink(&self) -> Option<PortNo> {
        self.uplink
    }
}

/// Limits that keep a trace finite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum switches one frame (and its copies) may cross, counting packet_outs.
    pub hop_limit: u32,
    /// Maximum frames processed in one trace.
    pub max_work: usize,
    /// Maximum controller messages processed in one trace.
    pub max_messages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hop_limit: 16,
            max_work: 10_000,
            max_messages: 10_000,
        }
    }
}

enum Work {
    Arrive {
        switch: Dpid,
        in_port: PortNo,
        packet: Packet,
        hops: u32,
    },
    Segment {
        from: Option<Dpid>,
        packet: Packet,
        hops: u32,
    },
    PacketOut {
        switch: Dpid,
        in_port: PortNo,
        actions: Vec<Action>,
        packet: Packet,
        hops: u32,
    },
}

/// A simulated network: OpenFlow 1.0 switches with hosts on their ports, every switch's uplink
/// joined to one outside segment where the public gateway lives, and a controller.
///
/// The outside segment behaves like an Ethernet switch that knows only the gateway's MAC: a
/// frame addressed to the gateway reaches only the gateway, any other frame reaches every
/// other switch's uplink (and the gateway too if it is broadcast or multicast). A frame the
/// gateway receives is [`Destination::Outside`]; frames injected at [`Point::Outside`] come
/// from the gateway.
///
/// Time is explicit: [`Network::advance_to`] expires flows and hands flow_removed messages
/// to the controller. The controller answers instantly; its flow_mods are applied in order,
/// before its packet_outs go on their way.
#[derive(Clone, Debug)]
pub struct Network<C> {
    switches: BTreeMap<Dpid, Switch>,
    hosts: BTreeMap<String, (Dpid, PortNo)>,
    gateway: Option<MacAddr>,
    controller: C,
    now: Duration,
    limits: Limits,
    table_config: TableConfig,
}

/// A nominal frame length for the byte counters: the Ethernet, IP and transport headers,
/// padded to the 60-byte minimum.
pub fn nominal_len(p: &Packet) -> u64 {
    let l2 = if p.dl_vlan.is_some() { 18 } else { 14 };
    let l3 = if p.is_arp() {
        28
    } else if p.is_ipv4() {
        20 + match p.nw_proto {
            IP_PROTO_TCP => 20,
            IP_PROTO_UDP | IP_PROTO_ICMP => 8,
            _ => 0,
        }
    } else {
        0
    };
    (l2 + l3).max(60)
}

impl<C: Controller> Network<C> {
    /// An empty network at time zero with this controller.
    pub fn new(controller: C) -> Self {
        Network {
            switches: BTreeMap::new(),
            hosts: BTreeMap::new(),
            gateway: None,
            controller,
            now: Duration::ZERO,
            limits: Limits::default(),
            table_config: TableConfig::default(),
        }
    }

    /// Use this configuration for the tables of switches added from now on.
    pub fn set_table_config(&mut self, config: TableConfig) {
        self.table_config = config;
    }

    /// Set the limits that keep traces finite.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Put the public gateway, with this MAC, on the outside segment.
    pub fn set_gateway(&mut self, mac: MacAddr) {
        self.gateway = Some(mac);
    }

    /// Add a switch, with its uplink port (if it has one) joined to the outside segment.
    pub fn add_switch(&mut self, dpid: Dpid, uplink: Option<PortNo>) -> Result<(), NetworkError> {
        if self.switches.contains_key(&dpid) {
            return Err(NetworkError::DuplicateSwitch(dpid));
        }
        let mut ports = BTreeMap::new();
        if let Some(port) = uplink {
            if !port.is_physical() {
                return Err(NetworkError::NotPhysical { switch: dpid, port });
            }
            ports.insert(port, PortPeer::Uplink);
        }
        self.switches.insert(
            dpid,
            Switch {
                table: FlowTable::with_config(self.table_config),
                ports,
                uplink,
                miss: MissBehavior::default(),
            },
        );
        Ok(())
    }

    /// Remove a switch, its table and the hosts attached to it.
    pub fn remove_switch(&mut self, dpid: Dpid) -> Result<(), NetworkError> {
        self.switches
            .remove(&dpid)
            .ok_or(NetworkError::UnknownSwitch(dpid))?;
        self.hosts.retain(|_, (d, _)| *d != dpid);
        Ok(())
    }

    /// Set what a switch does on a table miss.
    pub fn set_miss_behavior(
        &mut self,
        dpid: Dpid,
        miss: MissBehavior,
    ) -> Result<(), NetworkError> {
        self.switch_mut(dpid)?.miss = miss;
        Ok(())
    }

    /// Attach a host, by name, to a switch port.
    pub fn attach_host(
        &mut self,
        name: &str,
        dpid: Dpid,
        port: PortNo,
    ) -> Result<(), NetworkError> {
        if self.hosts.contains_key(name) {
            return Err(NetworkError::DuplicateHost(name.to_owned()));
        }
        if !port.is_physical() {
            return Err(NetworkError::NotPhysical { switch: dpid, port });
        }
        let sw = self.switch_mut(dpid)?;
        if let Some(peer) = sw.ports.get(&port) {
            return Err(NetworkError::PortInUse {
                switch: dpid,
                port,
                peer: peer.clone(),
            });
        }
        sw.ports.insert(port, PortPeer::Host(name.to_owned()));
        self.hosts.insert(name.to_owned(), (dpid, port));
        Ok(())
    }

    /// Detach a host; returns where it was.
    pub fn detach_host(&mut self, name: &str) -> Result<(Dpid, PortNo), NetworkError> {
        let (dpid, port) = self
            .hosts
            .remove(name)
            .ok_or_else(|| NetworkError::UnknownHost(name.to_owned()))?;
        if let Some(sw) = self.switches.get_mut(&dpid) {
            sw.ports.remove(&port);
        }
        Ok((dpid, port))
    }

    /// Where a host is attached.
    pub fn host_location(&self, name: &str) -> Option<(Dpid, PortNo)> {
        self.hosts.get(name).copied()
    }

    /// The attached hosts and where they are, by name.
    pub fn hosts(&self) -> impl Iterator<Item = (String, (Dpid, PortNo))> + '_ {
        self.hosts.iter().map(|(n, at)| (n.clone(), *at))
    }

    /// The switches.
    pub fn switches(&self) -> &BTreeMap<Dpid, Switch> {
        &self.switches
    }

    /// One switch's flow table.
    pub fn table(&self, dpid: Dpid) -> Option<&FlowTable> {
        self.switches.get(&dpid).map(|s| &s.table)
    }

    /// The controller.
    pub fn controller(&self) -> &C {
        &self.controller
    }

    /// The controller, mutably (to change its state between traces).
    pub fn controller_mut(&mut self) -> &mut C {
        &mut self.controller
    }

    /// The current time.
    pub fn now(&self) -> Duration {
        self.now
    }

    fn switch_mut(&mut self, dpid: Dpid) -> Result<&mut Switch, NetworkError> {
        self.switches
            .get_mut(&dpid)
            .ok_or(NetworkError::UnknownSwitch(dpid))
    }

    /// Apply a flow_mod to a switch directly (as a controller would, outside any trace), for
    /// loading compiled tables. Flow_removed messages it causes are returned, not sent to
    /// the controller.
    pub fn apply_flow_mod(
        &mut self,
        dpid: Dpid,
        fm: &FlowMod,
    ) -> Result<FlowModOutcome, NetworkError> {
        let now = self.now;
        self.switch_mut(dpid)?
            .table
            .apply(fm, now)
            .map_err(|source| NetworkError::FlowMod {
                switch: dpid,
                source,
            })
    }

    /// Move time forward to `now`: every table expires its flows, and the controller receives
    /// the flow_removed messages (in switch order, then expiry order) and acts on them.
    pub fn advance_to(&mut self, now: Duration) -> Result<Trace, NetworkError> {
        if now < self.now {
            return Err(NetworkError::TimeWentBackwards {
                now: self.now,
                asked: now,
            });
        }
        self.now = now;
        let mut run = Run::default();
        let mut removed = Vec::new();
        for (dpid, sw) in self.switches.iter_mut() {
            for r in sw.table.expire(now) {
                removed.push((*dpid, r));
            }
        }
        for (dpid, r) in removed {
            self.notify_removed(&mut run, dpid, r);
        }
        self.drain(&mut run);
        Ok(run.trace)
    }

    /// Send a frame into the network at `at` and follow it (and everything the controller
    /// does about it) until nothing moves any more.
    pub fn inject(&mut self, at: Point, packet: Packet) -> Result<Trace, NetworkError> {
        let mut run = Run::default();
        match at {
            Point::Host(name) => {
                let (switch, in_port) = self
                    .host_location(&name)
                    .ok_or(NetworkError::UnknownHost(name))?;
                run.queue.push_back(Work::Arrive {
                    switch,
                    in_port,
                    packet,
                    hops: 0,
                });
            }
            Point::Outside => run.queue.push_back(Work::Segment {
                from: None,
                packet,
                hops: 0,
            }),
            Point::Port { switch, port } => {
                if !self.switches.contains_key(&switch) {
                    return Err(NetworkError::UnknownSwitch(switch));
                }
                run.queue.push_back(Work::Arrive {
                    switch,
                    in_port: port,
                    packet,
                    hops: 0,
                });
            }
        }
        self.drain(&mut run);
        Ok(run.trace)
    }

    /// Have the controller send these messages now, in order (flow_mods are applied,
    /// flow_removed messages they cause go to the controller, packet_outs are followed).
    pub fn send(&mut self, messages: Vec<ControllerMessage>) -> Result<Trace, NetworkError> {
        let mut run = Run::default();
        self.handle_messages(&mut run, messages, 0);
        self.drain(&mut run);
        Ok(run.trace)
    }

    /// Have the controller send a packet_out now, and follow it.
    pub fn packet_out(
        &mut self,
        switch: Dpid,
        in_port: PortNo,
        actions: Vec<Action>,
        packet: Packet,
    ) -> Result<Trace, NetworkError> {
        if !self.switches.contains_key(&switch) {
            return Err(NetworkError::UnknownSwitch(switch));
        }
        let mut run = Run::default();
        self.handle_messages(
            &mut run,
            vec![ControllerMessage::PacketOut {
                switch,
                in_port,
                actions,
                packet,
            }],
            0,
        );
        self.drain(&mut run);
        Ok(run.trace)
    }

    fn drain(&mut self, run: &mut Run) {
        while let Some(w) = run.queue.pop_front() {
            run.work += 1;
            if run.work > self.limits.max_work {
                let (switch, packet) = match &w {
                    Work::Arrive { switch, packet, .. }
                    | Work::PacketOut { switch, packet, .. } => (Some(*switch), *packet),
                    Work::Segment { packet, .. } => (None, *packet),
                };
                run.trace.events.push(TraceEvent::Dropped {
                    switch,
                    packet,
                    reason: DropReason::WorkLimit,
                });
                run.queue.clear();
                return;
            }
            match w {
                Work::Arrive {
                    switch,
                    in_port,
                    packet,
                    hops,
                } => self.arrive(run, switch, in_port, packet, hops),
                Work::Segment { from, packet, hops } => self.segment(run, from, packet, hops),
                Work::PacketOut {
                    switch,
                    in_port,
                    actions,
                    packet,
                    hops,
                } => {
                    for e in apply_actions(&actions, &packet) {
                        self.output(run, switch, in_port, e.port, e.packet, hops, true);
                    }
                }
            }
        }
    }

    fn arrive(&mut self, run: &mut Run, switch: Dpid, in_port: PortNo, packet: Packet, hops: u32) {
        if hops >= self.limits.hop_limit {
            run.trace.events.push(TraceEvent::Dropped {
                switch: Some(switch),
                packet,
                reason: DropReason::HopLimit,
            });
            return;
        }
        let now = self.now;
        let Some(sw) = self.switches.get_mut(&switch) else {
            return;
        };
        let hit = sw
            .table
            .process(in_port, &packet, nominal_len(&packet), now);
        let miss = sw.miss;
        match hit {
            Some((id, actions, ties)) => {
                run.trace.events.push(TraceEvent::Lookup {
                    switch,
                    in_port,
                    packet,
                    flow: Some(id),
                    ties,
                });
                let emits = apply_actions(&actions, &packet);
                if emits.is_empty() {
                    run.trace.events.push(TraceEvent::Dropped {
                        switch: Some(switch),
                        packet,
                        reason: DropReason::NoOutput(id),
                    });
                }
                for e in emits {
                    if e.port == PortNo::CONTROLLER {
                        self.punt(run, switch, in_port, PacketInReason::Action, e.packet, hops);
                    } else {
                        self.output(run, switch, in_port, e.port, e.packet, hops + 1, false);
                    }
                }
            }
            None => {
                run.trace.events.push(TraceEvent::Lookup {
                    switch,
                    in_port,
                    packet,
                    flow: None,
                    ties: Vec::new(),
                });
                match miss {
                    MissBehavior::Controller => {
                        self.punt(run, switch, in_port, PacketInReason::NoMatch, packet, hops)
                    }
                    MissBehavior::Drop => run.trace.events.push(TraceEvent::Dropped {
                        switch: Some(switch),
                        packet,
                        reason: DropReason::TableMiss,
                    }),
                }
            }
        }
    }

    fn punt(
        &mut self,
        run: &mut Run,
        switch: Dpid,
        in_port: PortNo,
        reason: PacketInReason,
        packet: Packet,
        hops: u32,
    ) {
        let pi = PacketIn {
            switch,
            in_port,
            reason,
            packet,
        };
        run.trace.events.push(TraceEvent::PacketIn(pi.clone()));
        let msgs = self.controller.packet_in(self.now, &pi);
        self.handle_messages(run, msgs, hops + 1);
    }

    fn notify_removed(&mut self, run: &mut Run, switch: Dpid, removed: FlowRemoved) {
        let msgs = self.controller.flow_removed(self.now, switch, &removed);
        run.trace
            .events
            .push(TraceEvent::FlowRemoved { switch, removed });
        self.handle_messages(run, msgs, 0);
    }

    fn handle_messages(&mut self, run: &mut Run, msgs: Vec<ControllerMessage>, hops: u32) {
        let mut pending: VecDeque<ControllerMessage> = msgs.into();
        while let Some(m) = pending.pop_front() {
            run.messages += 1;
            if run.messages > self.limits.max_messages {
                run.trace.events.push(TraceEvent::MessageLimit);
                return;
            }
            match m {
                ControllerMessage::FlowMod { switch, flow_mod } => {
                    let now = self.now;
                    let result = match self.switches.get_mut(&switch) {
                        Some(sw) => sw
                            .table
                            .apply(&flow_mod, now)
                            .map_err(|source| NetworkError::FlowMod { switch, source }),
                        None => Err(NetworkError::UnknownSwitch(switch)),
                    };
                    let (error, notes) = match result {
                        Ok(o) => (None, o.notifications),
                        Err(e) => (Some(e), Vec::new()),
                    };
                    run.trace.events.push(TraceEvent::FlowMod {
                        switch,
                        flow_mod,
                        error,
                    });
                    for r in notes {
                        let more = self.controller.flow_removed(self.now, switch, &r);
                        run.trace
                            .events
                            .push(TraceEvent::FlowRemoved { switch, removed: r });
                        pending.extend(more);
                    }
                }
                ControllerMessage::PacketOut {
                    switch,
                    in_port,
                    actions,
                    packet,
                } => {
                    run.trace.events.push(TraceEvent::PacketOut {
                        switch,
                        in_port,
                        packet,
                    });
                    run.queue.push_back(Work::PacketOut {
                        switch,
                        in_port,
                        actions,
                        packet,
                        hops,
                    });
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn output(
        &mut self,
        run: &mut Run,
        switch: Dpid,
        in_port: PortNo,
        port: PortNo,
        packet: Packet,
        hops: u32,
        from_packet_out: bool,
    ) {
        let drop = |run: &mut Run, reason| {
            run.trace.events.push(TraceEvent::Dropped {
                switch: Some(switch),
                packet,
                reason,
            });
        };
        let Some(sw) = self.switches.get(&switch) else {
            return;
        };
        match port {
            PortNo::IN_PORT => {
                if sw.ports.contains_key(&in_port) {
                    self.send_port(run, switch, in_port, packet, hops);
                } else {
                    drop(run, DropReason::Unsupported(port));
                }
            }
            PortNo::FLOOD | PortNo::ALL => {
                // Every port but the input port, the local port included (as Open vSwitch
                // floods; the specification names physical ports only).
                let ports: Vec<PortNo> =
                    sw.ports.keys().copied().filter(|p| *p != in_port).collect();
                if in_port != PortNo::LOCAL {
                    run.trace.events.push(TraceEvent::Delivered(Delivery {
                        to: Destination::Local(switch),
                        packet,
                    }));
                }
                for p in ports {
                    self.send_port(run, switch, p, packet, hops);
                }
            }
            PortNo::CONTROLLER => {
                self.punt(run, switch, in_port, PacketInReason::Action, packet, hops)
            }
            PortNo::LOCAL => run.trace.events.push(TraceEvent::Delivered(Delivery {
                to: Destination::Local(switch),
                packet,
            })),
            PortNo::TABLE if from_packet_out => run.queue.push_back(Work::Arrive {
                switch,
                in_port,
                packet,
                hops: hops + 1,
            }),
            p if p.is_physical() => {
                if p == in_port {
                    drop(run, DropReason::OutputToInPort(p));
                } else {
                    self.send_port(run, switch, p, packet, hops);
                }
            }
            other => drop(run, DropReason::Unsupported(other)),
        }
    }

    fn send_port(&mut self, run: &mut Run, switch: Dpid, port: PortNo, packet: Packet, hops: u32) {
        let peer = self
            .switches
            .get(&switch)
            .and_then(|s| s.ports.get(&port))
            .cloned();
        match peer {
            Some(PortPeer::Host(name)) => run.trace.events.push(TraceEvent::Delivered(Delivery {
                to: Destination::Host(name),
                packet,
            })),
            Some(PortPeer::Uplink) => run.queue.push_back(Work::Segment {
                from: Some(switch),
                packet,
                hops,
            }),
            None => run.trace.events.push(TraceEvent::Dropped {
                switch: Some(switch),
                packet,
                reason: DropReason::NoSuchPort(port),
            }),
        }
    }

    fn segment(&mut self, run: &mut Run, from: Option<Dpid>, packet: Packet, hops: u32) {
        let to_gateway = self.gateway == Some(packet.dl_dst);
        if from.is_some()
            && (to_gateway || (self.gateway.is_some() && packet.dl_dst.is_multicast()))
        {
            run.trace.events.push(TraceEvent::Delivered(Delivery {
                to: Destination::Outside,
                packet,
            }));
        }
        if to_gateway {
            return;
        }
        for (dpid, sw) in &self.switches {
            if Some(*dpid) == from {
                continue;
            }
            if let Some(up) = sw.uplink {
                run.queue.push_back(Work::Arrive {
                    switch: *dpid,
                    in_port: up,
                    packet,
                    hops,
                });
            }
        }
    }
}

#[derive(Default)]
struct Run {
    trace: Trace,
    queue: VecDeque<Work>,
    work: usize,
    messages: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::table::RemovedReason;
    use core::net::Ipv4Addr;
    use openflow_proto::flow_match::ETH_TYPE_IPV4;
    use openflow_proto::{FlowModCommand, FlowModFlags, Ipv4Match, Match};

    const UP: PortNo = PortNo(100);
    const GW: MacAddr = MacAddr([0x02, 0xee, 0, 0, 0, 1]);

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    fn udp(src: u8, dst: u8) -> Packet {
        Packet::ipv4(
            mac(src),
            mac(dst),
            Ipv4Addr::new(10, 0, 0, src),
            Ipv4Addr::new(10, 0, 0, dst),
            IP_PROTO_UDP,
            5000,
            53,
        )
    }

    fn to_ip(dst: u8) -> Match {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_dst = Ipv4Match::exact(Ipv4Addr::new(10, 0, 0, dst));
        m
    }

    fn host(n: u8) -> Destination {
        Destination::Host(format!("h{n}"))
    }

    /// Two switches: h1, h2 on switch 1 (ports 1, 2); h3 on switch 2 (port 1).
    fn two_switches<C: Controller>(c: C) -> Network<C> {
        let mut net = Network::new(c);
        net.add_switch(1, Some(UP)).unwrap();
        net.add_switch(2, Some(UP)).unwrap();
        net.set_gateway(GW);
        net.attach_host("h1", 1, PortNo(1)).unwrap();
        net.attach_host("h2", 1, PortNo(2)).unwrap();
        net.attach_host("h3", 2, PortNo(1)).unwrap();
        net
    }

    fn add(net: &mut Network<impl Controller>, sw: Dpid, m: Match, prio: u16, acts: Vec<Action>) {
        net.apply_flow_mod(sw, &FlowMod::add(m, prio, acts))
            .unwrap();
    }

    #[test]
    fn across_the_uplinks_with_rewrite() {
        let mut net = two_switches(SilentController);
        for sw in [1, 2] {
            net.set_miss_behavior(sw, MissBehavior::Drop).unwrap();
        }
        let mut m = to_ip(3);
        m.in_port = Some(PortNo(1));
        add(&mut net, 1, m, 10, vec![Action::output(UP)]);
        let mut m = to_ip(3);
        m.in_port = Some(UP);
        add(
            &mut net,
            2,
            m,
            10,
            vec![Action::SetDlDst(mac(33)), Action::output(PortNo(1))],
        );
        let t = net.inject(Point::Host("h1".into()), udp(1, 3)).unwrap();
        let mut expect = udp(1, 3);
        expect.dl_dst = mac(33);
        assert_eq!(t.delivered_to(&host(3)), vec![expect]);
        assert_eq!(t.deliveries().count(), 1);
        // The same packet from h2 (port 2) has no flow on switch 1.
        let t = net.inject(Point::Host("h2".into()), udp(2, 3)).unwrap();
        assert!(t.is_dropped());
        assert!(t.events.iter().any(|e| matches!(
            e,
            TraceEvent::Dropped {
                reason: DropReason::TableMiss,
                ..
            }
        )));
    }

    #[test]
    fn gateway_gets_its_frames_and_broadcasts() {
        let mut net = two_switches(SilentController);
        add(&mut net, 1, Match::any(), 1, vec![Action::output(UP)]);
        let mut p = udp(1, 9);
        p.dl_dst = GW;
        let t = net.inject(Point::Host("h1".into()), p).unwrap();
        assert_eq!(t.delivered_to(&Destination::Outside), vec![p]);
        // Addressed to the gateway: switch 2 never sees it.
        assert_eq!(
            t.events
                .iter()
                .filter(|e| matches!(e, TraceEvent::Lookup { switch: 2, .. }))
                .count(),
            0
        );
        // A broadcast reaches the gateway and switch 2's uplink (a miss there: packet_in).
        p.dl_dst = MacAddr::BROADCAST;
        let t = net.inject(Point::Host("h1".into()), p).unwrap();
        assert_eq!(t.delivered_to(&Destination::Outside), vec![p]);
        assert_eq!(t.packet_ins().count(), 1);
        assert_eq!(t.packet_ins().next().unwrap().in_port, UP);
        // From outside, frames reach every uplink but not the gateway itself: switch 1 sends
        // it back to its input port (not done), switch 2 misses.
        let t = net.inject(Point::Outside, udp(9, 1)).unwrap();
        assert!(t.delivered_to(&Destination::Outside).is_empty());
        assert_eq!(t.packet_ins().count(), 1);
        assert!(t.events.iter().any(|e| matches!(
            e,
            TraceEvent::Dropped {
                switch: Some(1),
                reason: DropReason::OutputToInPort(UP),
                ..
            }
        )));
    }

    #[test]
    fn flood_in_port_and_output_to_in_port() {
        let mut net = two_switches(SilentController);
        net.set_miss_behavior(2, MissBehavior::Drop).unwrap();
        let mut m = Match::any();
        m.in_port = Some(PortNo(1));
        add(&mut net, 1, m, 1, vec![Action::output(PortNo::FLOOD)]);
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert_eq!(t.delivered_to(&host(2)), vec![udp(1, 2)]);
        assert!(
            t.delivered_to(&host(1)).is_empty(),
            "FLOOD skips the input port"
        );
        assert_eq!(t.delivered_to(&Destination::Local(1)), vec![udp(1, 2)]);
        // The uplink copy reaches switch 2, which drops it.
        assert!(t
            .events
            .iter()
            .any(|e| matches!(e, TraceEvent::Lookup { switch: 2, .. })));

        let mut m = Match::any();
        m.in_port = Some(PortNo(2));
        add(
            &mut net,
            1,
            m,
            1,
            vec![Action::output(PortNo(2)), Action::output(PortNo::IN_PORT)],
        );
        let t = net.inject(Point::Host("h2".into()), udp(2, 1)).unwrap();
        assert_eq!(t.delivered_to(&host(2)), vec![udp(2, 1)]);
        assert!(t.events.iter().any(|e| matches!(
            e,
            TraceEvent::Dropped {
                reason: DropReason::OutputToInPort(PortNo(2)),
                ..
            }
        )));
    }

    #[test]
    fn empty_actions_and_missing_ports() {
        let mut net = two_switches(SilentController);
        add(&mut net, 1, to_ip(2), 5, vec![]);
        add(&mut net, 1, to_ip(7), 5, vec![Action::output(PortNo(7))]);
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert!(matches!(
            t.events.last(),
            Some(TraceEvent::Dropped {
                reason: DropReason::NoOutput(_),
                ..
            })
        ));
        let t = net.inject(Point::Host("h1".into()), udp(1, 7)).unwrap();
        assert!(matches!(
            t.events.last(),
            Some(TraceEvent::Dropped {
                reason: DropReason::NoSuchPort(PortNo(7)),
                ..
            })
        ));
    }

    #[test]
    fn loops_stop_at_the_hop_limit() {
        let mut net = two_switches(SilentController);
        // Both switches bounce everything from the uplink back out of it.
        for sw in [1, 2] {
            add(
                &mut net,
                sw,
                Match::any(),
                1,
                vec![Action::output(PortNo::IN_PORT)],
            );
        }
        let t = net.inject(Point::Outside, udp(9, 1)).unwrap();
        assert!(t.hit_limit());
        assert!(t.events.len() < 200, "{}", t.events.len());
        // A flood storm is bounded by the work limit.
        let mut net = Network::new(SilentController);
        for sw in 1..=6 {
            net.add_switch(sw, Some(UP)).unwrap();
            add(
                &mut net,
                sw,
                Match::any(),
                1,
                vec![Action::output(PortNo::IN_PORT)],
            );
        }
        net.set_limits(Limits {
            hop_limit: 64,
            max_work: 500,
            max_messages: 10,
        });
        let t = net.inject(Point::Outside, udp(9, 1)).unwrap();
        assert!(t.hit_limit());
    }

    /// A controller that answers a punted packet to 10.0.0.x by installing an exact-ish flow
    /// towards port x on the switch (with an idle timeout and SEND_FLOW_REM) and sending the
    /// packet through the table; it records flow_removed messages.
    #[derive(Default, Debug)]
    struct Installer {
        removed: Vec<(Dpid, FlowRemoved)>,
    }

    impl Controller for Installer {
        fn packet_in(&mut self, _now: Duration, ev: &PacketIn) -> Vec<ControllerMessage> {
            let port = PortNo(u16::from(ev.packet.nw_dst.octets()[3]));
            let mut fm = FlowMod::add(
                to_ip(ev.packet.nw_dst.octets()[3]),
                50,
                vec![Action::output(port)],
            );
            fm.idle_timeout = 10;
            fm.flags = FlowModFlags::SEND_FLOW_REM;
            fm.cookie = 0xc0ffee;
            vec![
                ControllerMessage::FlowMod {
                    switch: ev.switch,
                    flow_mod: fm,
                },
                ControllerMessage::PacketOut {
                    switch: ev.switch,
                    in_port: ev.in_port,
                    actions: vec![Action::output(PortNo::TABLE)],
                    packet: ev.packet,
                },
            ]
        }

        fn flow_removed(
            &mut self,
            _now: Duration,
            sw: Dpid,
            r: &FlowRemoved,
        ) -> Vec<ControllerMessage> {
            self.removed.push((sw, r.clone()));
            Vec::new()
        }
    }

    #[test]
    fn reactive_controller_installs_and_flows_expire() {
        let mut net = two_switches(Installer::default());
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert_eq!(t.delivered_to(&host(2)), vec![udp(1, 2)]);
        assert_eq!(t.packet_ins().count(), 1);
        assert!(t.rejected_flow_mods().next().is_none());
        // Now the flow is there: no controller involvement.
        net.advance_to(Duration::from_secs(5)).unwrap();
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert_eq!(t.delivered_to(&host(2)), vec![udp(1, 2)]);
        assert_eq!(t.packet_ins().count(), 0);
        // Idle since 5 s: still there at 14 s, gone at 15 s with a flow_removed.
        assert!(net
            .advance_to(Duration::from_secs(14))
            .unwrap()
            .events
            .is_empty());
        let t = net.advance_to(Duration::from_secs(15)).unwrap();
        assert_eq!(t.events.len(), 1);
        let (sw, r) = &net.controller().removed[0];
        assert_eq!(
            (*sw, r.reason, r.cookie, r.packet_count),
            (1, RemovedReason::IdleTimeout, 0xc0ffee, 2)
        );
        assert_eq!(r.duration, Duration::from_secs(15));
        assert!(net.table(1).unwrap().is_empty());
        assert!(matches!(
            net.advance_to(Duration::from_secs(1)),
            Err(NetworkError::TimeWentBackwards { .. })
        ));
    }

    #[test]
    fn controller_deletes_report_flow_removed_and_unknown_switch_is_refused() {
        #[derive(Debug)]
        struct Deleter;
        impl Controller for Deleter {
            fn packet_in(&mut self, _now: Duration, _ev: &PacketIn) -> Vec<ControllerMessage> {
                let mut del = FlowMod::add(Match::any(), 0, Vec::new());
                del.command = FlowModCommand::Delete;
                vec![
                    ControllerMessage::FlowMod {
                        switch: 1,
                        flow_mod: del.clone(),
                    },
                    ControllerMessage::FlowMod {
                        switch: 99,
                        flow_mod: del,
                    },
                ]
            }
            fn flow_removed(
                &mut self,
                _now: Duration,
                _sw: Dpid,
                _r: &FlowRemoved,
            ) -> Vec<ControllerMessage> {
                Vec::new()
            }
        }
        let mut net = two_switches(Deleter);
        let mut fm = FlowMod::add(to_ip(3), 5, vec![Action::to_controller(64)]);
        fm.flags = FlowModFlags::SEND_FLOW_REM;
        net.apply_flow_mod(1, &fm).unwrap();
        let t = net.inject(Point::Host("h1".into()), udp(1, 3)).unwrap();
        let pi = t.packet_ins().next().unwrap();
        assert_eq!(pi.reason, PacketInReason::Action);
        assert!(t.events.iter().any(|e| matches!(
            e,
            TraceEvent::FlowRemoved { switch: 1, removed } if removed.reason == RemovedReason::Delete
        )));
        let rejected: Vec<_> = t.rejected_flow_mods().collect();
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].1, &NetworkError::UnknownSwitch(99));
        assert!(net.table(1).unwrap().is_empty());
    }

    /// Sends every punted packet back through the table: with no flow, a loop through the
    /// controller.
    #[derive(Debug)]
    struct Resubmitter;

    impl Controller for Resubmitter {
        fn packet_in(&mut self, _now: Duration, ev: &PacketIn) -> Vec<ControllerMessage> {
            vec![ControllerMessage::PacketOut {
                switch: ev.switch,
                in_port: ev.in_port,
                actions: vec![Action::output(PortNo::TABLE)],
                packet: ev.packet,
            }]
        }

        fn flow_removed(
            &mut self,
            _now: Duration,
            _sw: Dpid,
            _r: &FlowRemoved,
        ) -> Vec<ControllerMessage> {
            Vec::new()
        }
    }

    #[test]
    fn controller_loops_are_bounded() {
        let mut net = two_switches(Resubmitter);
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert!(t.hit_limit());
        assert!(t.packet_ins().count() <= 16);
        net.set_limits(Limits {
            hop_limit: 1000,
            max_work: 100_000,
            max_messages: 3,
        });
        let t = net.inject(Point::Host("h1".into()), udp(1, 2)).unwrap();
        assert!(t.events.contains(&TraceEvent::MessageLimit));
        assert_eq!(t.packet_ins().count(), 4);
    }

    #[test]
    fn topology_errors() {
        let mut net = two_switches(SilentController);
        assert_eq!(
            net.add_switch(1, None),
            Err(NetworkError::DuplicateSwitch(1))
        );
        assert!(matches!(
            net.attach_host("x", 1, UP),
            Err(NetworkError::PortInUse { .. })
        ));
        assert!(matches!(
            net.attach_host("x", 1, PortNo::LOCAL),
            Err(NetworkError::NotPhysical { .. })
        ));
        assert_eq!(
            net.attach_host("h1", 2, PortNo(9)),
            Err(NetworkError::DuplicateHost("h1".into()))
        );
        assert_eq!(
            net.attach_host("x", 7, PortNo(9)),
            Err(NetworkError::UnknownSwitch(7))
        );
        assert_eq!(net.detach_host("h3"), Ok((2, PortNo(1))));
        assert!(matches!(
            net.inject(Point::Host("h3".into()), udp(3, 1)),
            Err(NetworkError::UnknownHost(_))
        ));
        net.attach_host("h3", 1, PortNo(3)).unwrap();
        assert_eq!(net.host_location("h3"), Some((1, PortNo(3))));
    }

    #[test]
    fn packet_out_directly() {
        let mut net = two_switches(SilentController);
        let p = Packet::arp(
            2,
            mac(50),
            mac(1),
            Ipv4Addr::new(10, 0, 0, 50),
            Ipv4Addr::new(10, 0, 0, 1),
        );
        let t = net
            .packet_out(1, PortNo::NONE, vec![Action::output(PortNo(1))], p)
            .unwrap();
        assert_eq!(t.delivered_to(&host(1)), vec![p]);
        // IN_PORT without an input port goes nowhere.
        let t = net
            .packet_out(1, PortNo::NONE, vec![Action::output(PortNo::IN_PORT)], p)
            .unwrap();
        assert!(t.is_dropped());
    }

    #[test]
    fn nominal_lengths() {
        assert_eq!(nominal_len(&udp(1, 2)), 60);
        let mut t = udp(1, 2);
        t.nw_proto = IP_PROTO_TCP;
        t.dl_vlan = Some(5);
        assert_eq!(nominal_len(&t), 60);
    }
}
