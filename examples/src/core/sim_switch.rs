//! A simulated OpenFlow 1.0 switch speaking bytes, for tests of the controller core.
//!
//! [`SimSwitch`] is the switch side of a connection: it decodes what the controller sends,
//! answers the handshake (`HELLO`, features, echo, barrier), keeps a real flow table
//! ([`netrules::sim::FlowTable`], with Open vSwitch's semantics: normalised matches, ADD
//! replacing, strict deletes, idle timeouts with `FLOW_REMOVED`), answers flow stats
//! requests (optionally in many small parts, to exercise reassembly), records packet_outs,
//! and makes packet_ins and port status messages on demand. Responses can be held back
//! ([`SimSwitch::set_mute`]) to model a switch that stopped answering.

use super::frame;
use bytes::{Bytes, BytesMut};
use core::net::Ipv4Addr;
use core::time::Duration;
use ipnetwork::Ipv4Network;
use netrules::model::{Dpid, Settings};
use netrules::sim::FlowTable;
use netrules::Packet;
use openflow_proto::error_msg::{ErrorType, FlowModFailedCode};
use openflow_proto::stats::StatsRequestBody;
use openflow_proto::stats::{FlowStats, StatsReplyBody};
use openflow_proto::{
    ActionBitmap, Capabilities, ErrorMsg, FlowRemoved, FlowRemovedReason, Framer, MacAddr, Message,
    PacketIn, PacketInReason, PacketOut, PhyPort, PortConfig, PortFeatures, PortNo, PortReason,
    PortState, PortStatus, StatsReply, StpState, SwitchConfig, SwitchFeatures, NO_BUFFER,
};

/// Network settings for tests and examples: subnet 10.0.0.0/16, gateway 10.0.0.1, public
/// gateway 198.51.100.1, locally administered MACs.
pub fn test_settings() -> Settings {
    Settings {
        subnet: Ipv4Network::new(Ipv4Addr::new(10, 0, 0, 0), 16)
            .unwrap_or_else(|_| Ipv4Network::from(Ipv4Addr::new(10, 0, 0, 0))),
        gateway: Ipv4Addr::new(10, 0, 0, 1),
        router_mac: MacAddr([2, 0, 0, 0, 0, 0xfe]),
        public_gateway: Ipv4Addr::new(198, 51, 100, 1),
        public_gateway_mac: MacAddr([2, 0, 0, 0, 0, 0xfd]),
        elastic_ip_mac: MacAddr([2, 0, 0, 0, 0, 0xfc]),
    }
}

/// A port description as a switch reports it (up, no STP).
pub fn phy_port(no: u16, name: &str) -> PhyPort {
    PhyPort {
        port_no: PortNo(no),
        hw_addr: MacAddr([2, 0xaa, 0, 0, (no >> 8) as u8, (no & 0xff) as u8]),
        name: name.to_owned(),
        config: PortConfig::empty(),
        state: PortState {
            link_down: false,
            stp: StpState::Listen,
            other_bits: 0,
        },
        curr: PortFeatures::empty(),
        advertised: PortFeatures::empty(),
        supported: PortFeatures::empty(),
        peer: PortFeatures::empty(),
    }
}

/// The switch side of one controller connection (see the module docs).
#[derive(Debug)]
pub struct SimSwitch {
    dpid: Dpid,
    ports: Vec<PhyPort>,
    table: FlowTable,
    framer: Framer,
    out: BytesMut,
    held: BytesMut,
    mute: bool,
    now: Duration,
    xid: u32,
    config: SwitchConfig,
    stats_part_len: usize,
    packet_outs: Vec<PacketOut>,
    errors_received: Vec<ErrorMsg>,
    flow_mods_seen: usize,
    barriers_seen: usize,
    version: u8,
}

impl SimSwitch {
    /// A switch with this datapath id and these `(port number, name)` ports.
    pub fn new(dpid: Dpid, ports: &[(u16, &str)]) -> Self {
        SimSwitch {
            dpid,
            ports: ports.iter().map(|(n, s)| phy_port(*n, s)).collect(),
            table: FlowTable::new(),
            framer: Framer::new(),
            out: BytesMut::new(),
            held: BytesMut::new(),
            mute: false,
            now: Duration::ZERO,
            xid: 0x1000,
            config: SwitchConfig::default(),
            stats_part_len: openflow_proto::stats::MAX_MESSAGE_LEN,
            packet_outs: Vec::new(),
            errors_received: Vec::new(),
            flow_mods_seen: 0,
            barriers_seen: 0,
            version: openflow_proto::OFP_VERSION,
        }
    }

    /// The OpenFlow version this switch puts in its `HELLO` (default 1).
    pub fn set_version(&mut self, version: u8) {
        self.version = version;
    }

    /// Split flow stats replies into messages of at most this many bytes.
    pub fn set_stats_part_len(&mut self, len: usize) {
        self.stats_part_len = len;
    }

    /// Hold back every response while `mute` (they are released when unmuted).
    pub fn set_mute(&mut self, mute: bool) {
        self.mute = mute;
        if !mute {
            let held = self.held.split();
            self.out.extend_from_slice(&held);
        }
    }

    /// The flow table.
    pub fn table(&self) -> &FlowTable {
        &self.table
    }

    /// The flow table, to change behind the controller's back (a stale or foreign flow).
    pub fn table_mut(&mut self) -> &mut FlowTable {
        &mut self.table
    }

    /// The switch configuration last set.
    pub fn config(&self) -> SwitchConfig {
        self.config
    }

    /// Packet_outs received so far.
    pub fn packet_outs(&self) -> &[PacketOut] {
        &self.packet_outs
    }

    /// Forget the packet_outs received so far.
    pub fn clear_packet_outs(&mut self) {
        self.packet_outs.clear();
    }

    /// Errors the controller sent.
    pub fn errors_received(&self) -> &[ErrorMsg] {
        &self.errors_received
    }

    /// Flow_mods received so far.
    pub fn flow_mods_seen(&self) -> usize {
        self.flow_mods_seen
    }

    /// Barrier requests received so far.
    pub fn barriers_seen(&self) -> usize {
        self.barriers_seen
    }

    fn emit(&mut self, xid: u32, msg: &Message) {
        let dst = if self.mute {
            &mut self.held
        } else {
            &mut self.out
        };
        // Encoding what this module builds cannot fail but for oversize payloads, which
        // tests do not make; a failure leaves nothing behind.
        let _ = msg.encode(xid, dst);
    }

    fn fresh_xid(&mut self) -> u32 {
        self.xid = self.xid.wrapping_add(1);
        self.xid
    }

    /// The switch's `HELLO` (it sends one as soon as it connects).
    pub fn hello(&mut self) -> Bytes {
        let mut b = BytesMut::new();
        let xid = self.fresh_xid();
        let _ = Message::Hello(Bytes::new()).encode(xid, &mut b);
        if let Some(v) = b.first_mut() {
            *v = self.version;
        }
        b.freeze()
    }

    /// What the switch has to send.
    pub fn take_output(&mut self) -> Bytes {
        self.out.split().freeze()
    }

    /// Set the simulated clock (for idle timeouts).
    pub fn set_time(&mut self, now: Duration) {
        self.now = now;
    }

    /// Expire flows at the current time, sending `FLOW_REMOVED` for those that asked.
    pub fn expire(&mut self) {
        let removed = self.table.expire(self.now);
        for r in removed {
            self.flow_removed(&r.r#match, r.cookie, FlowRemovedReason::IdleTimeout);
        }
    }

    fn flow_removed(&mut self, m: &openflow_proto::Match, cookie: u64, reason: FlowRemovedReason) {
        let priority = self
            .table
            .entries()
            .iter()
            .find(|e| e.cookie == cookie)
            .map_or(0, |e| e.priority);
        let msg = Message::FlowRemoved(FlowRemoved {
            r#match: *m,
            cookie,
            priority,
            reason,
            duration_sec: 0,
            duration_nsec: 0,
            idle_timeout: 0,
            packet_count: 0,
            byte_count: 0,
        });
        self.emit(0, &msg);
    }

    /// A packet arrives on `in_port`: if the table sends it to the controller (or nothing
    /// matches), a `PACKET_IN` is queued. Returns true if one was.
    pub fn packet_arrives(&mut self, in_port: PortNo, packet: &Packet) -> bool {
        let to_controller = match self.table.lookup(in_port, packet) {
            None => false,
            Some(l) => l.entry.outputs_to(PortNo::CONTROLLER),
        };
        if to_controller {
            self.send_packet_in(in_port, packet);
        }
        to_controller
    }

    /// Queue a `PACKET_IN` of `packet` (as synthesised by [`frame::synthesize`]).
    pub fn send_packet_in(&mut self, in_port: PortNo, packet: &Packet) {
        let data = Bytes::from(frame::synthesize(packet));
        let pi = PacketIn {
            buffer_id: NO_BUFFER,
            total_len: u16::try_from(data.len()).unwrap_or(u16::MAX),
            in_port,
            reason: PacketInReason::Action,
            data,
        };
        self.emit(0, &Message::PacketIn(pi));
    }

    /// A port is added (or modified, or deleted): update the port list and queue a
    /// `PORT_STATUS`.
    pub fn port_status(&mut self, reason: PortReason, no: u16, name: &str) {
        let desc = phy_port(no, name);
        self.ports.retain(|p| p.port_no != desc.port_no);
        if reason != PortReason::Delete {
            self.ports.push(desc.clone());
        }
        self.emit(0, &Message::PortStatus(PortStatus { reason, desc }));
    }

    /// The connection dropped and a new one starts: buffered bytes both ways are lost; the
    /// table stays (as Open vSwitch keeps it in `fail_mode=secure`).
    pub fn reconnect(&mut self) {
        self.framer = Framer::new();
        self.out.clear();
        self.held.clear();
    }

    /// Remove a flow as if it timed out: a strict delete and, if it asked for one, a
    /// `FLOW_REMOVED`. Returns true if a flow was removed.
    pub fn remove_flow(&mut self, m: &openflow_proto::Match, priority: u16) -> bool {
        let Some(entry) = self.table.find_strict(m, priority).cloned() else {
            return false;
        };
        let del = openflow_proto::FlowMod::delete_strict(*m, priority);
        let _ = self.table.apply(&del, self.now);
        if entry
            .flags
            .contains(openflow_proto::FlowModFlags::SEND_FLOW_REM)
        {
            self.flow_removed(&entry.r#match, entry.cookie, FlowRemovedReason::IdleTimeout);
        }
        true
    }

    /// Bytes from the controller.
    pub fn receive(&mut self, data: &[u8]) {
        self.framer.extend_from_slice(data);
        while let Ok(Some(result)) = self.framer.next_message() {
            let Ok((header, msg)) = result else {
                continue;
            };
            self.handle(header.xid, msg);
        }
    }

    fn handle(&mut self, xid: u32, msg: Message) {
        match msg {
            Message::Hello(_) => {}
            Message::EchoRequest(d) => self.emit(xid, &Message::EchoReply(d)),
            Message::FeaturesRequest => {
                let f = SwitchFeatures {
                    datapath_id: self.dpid,
                    n_buffers: 0,
                    n_tables: 1,
                    capabilities: Capabilities::empty(),
                    actions: ActionBitmap::empty(),
                    ports: self.ports.clone(),
                };
                self.emit(xid, &Message::FeaturesReply(f));
            }
            Message::SetConfig(c) => self.config = c,
            Message::GetConfigRequest => self.emit(xid, &Message::GetConfigReply(self.config)),
            Message::BarrierRequest => {
                self.barriers_seen += 1;
                self.emit(xid, &Message::BarrierReply);
            }
            Message::FlowMod(fm) => {
                self.flow_mods_seen += 1;
                match self.table.apply(&fm, self.now) {
                    Ok(outcome) => {
                        for n in outcome.notifications {
                            self.flow_removed(&n.r#match, n.cookie, FlowRemovedReason::Delete);
                        }
                    }
                    Err(_) => {
                        let mut req = BytesMut::new();
                        let _ = Message::FlowMod(fm).encode(xid, &mut req);
                        let e = ErrorMsg::for_request(
                            ErrorType::FlowModFailed(FlowModFailedCode::BadCommand),
                            &req,
                        );
                        self.emit(xid, &Message::Error(e));
                    }
                }
            }
            Message::PacketOut(po) => self.packet_outs.push(po),
            Message::StatsRequest(req) => {
                if let StatsRequestBody::Flow(f) = req.body {
                    let flows: Vec<FlowStats> = self
                        .table
                        .flow_stats(&f.r#match, f.out_port)
                        .into_iter()
                        .map(|e| FlowStats {
                            table_id: 0,
                            r#match: e.r#match,
                            duration_sec: 0,
                            duration_nsec: 0,
                            priority: e.priority,
                            idle_timeout: e.idle_timeout,
                            hard_timeout: e.hard_timeout,
                            cookie: e.cookie,
                            packet_count: e.packet_count,
                            byte_count: e.byte_count,
                            actions: e.actions.clone().into(),
                        })
                        .collect();
                    let reply = StatsReply::new(StatsReplyBody::Flow(flows));
                    if let Ok(parts) = reply.split(self.stats_part_len) {
                        for p in parts {
                            self.emit(xid, &Message::StatsReply(p));
                        }
                    }
                }
            }
            Message::Error(e) => self.errors_received.push(e),
            _ => {}
        }
    }
}
