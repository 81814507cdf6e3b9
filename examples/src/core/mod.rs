//! The controller's sans-IO core: switch sessions, the model, pinholes, pending barriers and
//! ARP duties, driven by inputs and polled for outputs.
//!
//! Like `quinn-proto` under `quinn`, the [`Controller`] never opens a socket, reads a clock
//! or spawns a task. A shell (the tokio one in [`crate::shell`], or a test) feeds it:
//!
//! - [`Controller::handle_connect`] when a switch connects, [`Controller::handle_bytes`]
//!   with what it sent, [`Controller::handle_disconnect`] when the connection is gone;
//! - [`Controller::handle_timeout`] when the instant [`Controller::poll_timeout`] named has
//!   come;
//! - [`Controller::change`] to change the [`Model`] (an API call),
//!
//! and drains its outputs after each input: [`Controller::poll_transmit`] (bytes for a
//! connection, in order), then [`Controller::poll_event`] (log lines, completions, and
//! [`Event::Close`] orders to close a connection once its bytes are written).
//!
//! # What a session does
//!
//! On connect the controller sends `HELLO`; on the switch's `HELLO` it negotiates OpenFlow
//! 1.0 (or answers `HELLO_FAILED` and closes), asks for the features, and on the reply it
//! learns the datapath id and ports, binds ports named after instances to them, sets the
//! miss length (`SET_CONFIG`), sends an early `BARRIER_REQUEST` (Open vSwitch treats a
//! connection as up only after something beyond the handshake), and reads the switch's flows
//! (`OFPST_FLOW`). When the (possibly multi-part) reply is complete it reconciles: the
//! switch's flows that carry one of the controller's cookies are compared with the compiled
//! table for that datapath, and only the difference is sent, adds before deletes, then a
//! barrier. Flows with other cookies are left alone; the table is never wiped.
//!
//! Echo requests are answered; after [`Config::echo_idle`] of silence the controller sends
//! one, and after [`Config::echo_timeout`] more it gives up on the connection. Errors from the
//! switch are reported ([`Event::SwitchError`]); messages it cannot decode are answered with
//! the OpenFlow error the specification asks for (before the switch's `HELLO`, anything else
//! is refused with `HELLO_FAILED/EPERM` and the connection closed; a header length below 8
//! puts the stream out of sync and closes it). A switch that does not take what is sent to it
//! is closed once the shell holds more than [`Config::send_backlog_limit`] bytes for it
//! ([`Controller::handle_unsent`]).
//!
//! # Changes and completions
//!
//! [`Controller::change`] runs a mutation on the model, recompiles what it touched
//! ([`netrules::Compiler::update`]), cuts the pinholes of touched connections, and sends each
//! affected connected switch its flow_mods followed by a barrier. It returns a [`Completion`]
//! token; [`Event::Applied`] reports it once every connected affected switch acknowledged its
//! barrier, or when [`Config::apply_timeout`] passed. A switch that is not connected (or
//! disconnects meanwhile) is reported as deferred: it is reconciled when it returns.
//!
//! # Punted packets
//!
//! A `PACKET_IN` is decided by [`netrules::Pinholes::packet_in`]: pinholes are installed
//! first, then the packet goes on with a `PACKET_OUT` (its own bytes, as it arrived); ARP
//! requests the controller must answer get a reply built by [`arp_responder`] (the reply a
//! real host sends). A pinhole's `FLOW_REMOVED` deletes its sibling. When an elastic IP
//! becomes hosted on another switch (associated, moved, or its instance attached elsewhere),
//! gratuitous ARPs announce it out of that switch's uplink on an
//! [`arp_responder::Schedule`]; they are sent again whenever that switch is reconciled.
//!
//! # Pinned instances and flow reads
//!
//! Instances bind to the port named after them. A front end that attaches an instance to an
//! explicit (datapath, port) instead (the XML-RPC drop-in) pins it ([`Controller::pin`]): the
//! controller then never detaches it on its own, neither when the port's name does not match
//! nor when the port goes away; only model changes move it.
//!
//! [`Controller::request_flows`] reads a switch's installed flows on demand (an `OFPST_FLOW`
//! request of everything); the reassembled reply, or why there is none, comes back as
//! [`Event::Flows`] with the request's [`FlowQuery`] token.
//!
//! # Example
//!
//! ```
//! use std::time::Instant;
//! use examples::core::{Config, ConnId, Controller, Event};
//! use examples::core::sim_switch::SimSwitch;
//! use netrules::model::{Model, Switch};
//! use openflow_proto::PortNo;
//!
//! let mut model = Model::new(examples::core::sim_switch::test_settings()).unwrap();
//! model.add_switch(Switch { dpid: 7, uplink: PortNo(1) }).unwrap();
//! let mut ctl = Controller::new(model, Config::default());
//! let mut sw = SimSwitch::new(7, &[(1, "uplink")]);
//! let now = Instant::now();
//! let conn = ConnId(1);
//! ctl.handle_connect(conn, now);
//! ctl.handle_bytes(conn, &sw.hello(), now);
//! // Shuttle bytes both ways until nothing moves.
//! loop {
//!     let mut moved = false;
//!     while let Some((_, bytes)) = ctl.poll_transmit() {
//!         sw.receive(&bytes);
//!         moved = true;
//!     }
//!     let back = sw.take_output();
//!     if !back.is_empty() {
//!         ctl.handle_bytes(conn, &back, now);
//!         moved = true;
//!     }
//!     if !moved { break; }
//! }
//! // The switch now holds exactly the compiled table.
//! assert!(std::iter::from_fn(|| ctl.poll_event()).any(|e| matches!(e, Event::Reconciled { .. })));
//! assert_eq!(sw.table().len(), netrules::compile(ctl.model(), &Default::default())[&7].len());
//! ```

pub mod frame;
mod session;
pub mod sim_switch;
#[cfg(test)]
mod tests;

use arp_responder::{Announcement, Announcer, ArpFrame, Schedule};
use bytes::{Bytes, BytesMut};
use netrules::compile::{cookie, CompileOptions, Flow};
use netrules::model::{Attachment, Dpid, InstanceId, Model, Switch, Touched};
use netrules::pinhole::Outcome;
use netrules::sim::matching::normalize;
use netrules::{Compiler, Pinholes, Update};
use openflow_proto::error_msg::{BadRequestCode, ErrorType, HelloFailedCode};
use openflow_proto::stats::{FlowStats, FlowStatsRequest, StatsReplyBody};
use openflow_proto::{
    negotiate_version, Action, ConfigFlags, DecodeError, ErrorMsg, FlowMod, FlowModCommand, Match,
    Message, PacketInRef, PacketOut, PortNo, PortReason, StatsRequest, StatsRequestBody,
    SwitchConfig, NO_BUFFER,
};
use session::{Barrier, Session, State};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

/// The per-packet tables (keyed by connection or switch): ahash, much cheaper than SipHash
/// on these small keys, and still keyed per process.
type FastMap<K, V> = HashMap<K, V, ahash::RandomState>;
type FastSet<K> = HashSet<K, ahash::RandomState>;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Identifies one switch connection (the shell picks the numbers; they must not be reused
/// while the connection is known to the core).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// A change's completion token (see [`Controller::change`] and [`Event::Applied`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Completion(pub u64);

/// A flow read's token (see [`Controller::request_flows`] and [`Event::Flows`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowQuery(pub u64);

/// Why a flow read ([`Controller::request_flows`]) has no answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowQueryError {
    /// The switch refused the flow stats request.
    #[error("the switch refused the flow stats request: {0:?}")]
    Refused(ErrorType),
    /// The connection went away before the reply was complete.
    #[error("the switch disconnected before its flow stats reply was complete")]
    Disconnected,
    /// The multi-part reply could not be reassembled (too large, or inconsistent parts).
    #[error("the flow stats reply could not be reassembled: {0}")]
    Reassembly(String),
}

/// The controller's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Compiler options (port budget, pinhole idle timeout, punt length).
    pub compile: CompileOptions,
    /// Silence after which the controller sends an echo request (Open vSwitch uses 5 s).
    pub echo_idle: Duration,
    /// Further silence after the echo request after which the connection is closed.
    pub echo_timeout: Duration,
    /// Time from connect to the features reply before the connection is closed.
    pub handshake_timeout: Duration,
    /// Time from the flow stats request to its (whole) reply before the connection is closed
    /// (the switch reconnects and the reconciliation starts over).
    pub reconcile_timeout: Duration,
    /// The longest a change waits for barrier replies before it is reported anyway.
    pub apply_timeout: Duration,
    /// A switch that connects without being in the model is added with this uplink port;
    /// `None`: it is left out of the model (its flows with our cookies are removed).
    pub default_uplink: Option<PortNo>,
    /// `miss_send_len` set on every switch.
    pub miss_send_len: u16,
    /// Gratuitous ARP schedule for elastic IPs that moved.
    pub announce: Schedule,
    /// The most bytes of multi-part stats replies held per connection.
    pub stats_limit: usize,
    /// The most bytes a shell may hold for a connection that the peer has not taken yet
    /// (see [`Controller::handle_unsent`]), beyond twice the largest burst the controller
    /// itself queued for it at once (a reconciliation or a change: a switch with a large
    /// table is not closed for taking its table at its own pace); beyond it the connection is
    /// closed ([`CloseReason::SendBacklog`]). A switch that stops reading while it keeps
    /// sending (packet_ins, echo requests) would otherwise make the controller queue replies
    /// without bound until the echo timeout.
    pub send_backlog_limit: usize,
    /// The most connections tracked (with pinholes) per switch. Opening one more forgets
    /// the switch's oldest tracked connection and deletes its pinholes (counted in
    /// [`Counters::tracking_evicted`]), as a full connection tracking table drops entries
    /// early: new connections keep working, and a later packet of the forgotten one is
    /// decided afresh. Without a bound, a switch punting packets of ever new connections (and
    /// never reporting their pinholes removed) would grow the controller's memory for as long
    /// as it does.
    pub max_tracked_per_switch: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compile: CompileOptions::default(),
            echo_idle: Duration::from_secs(5),
            echo_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            reconcile_timeout: Duration::from_secs(30),
            apply_timeout: Duration::from_secs(5),
            default_uplink: None,
            miss_send_len: u16::MAX,
            announce: Schedule::default(),
            stats_limit: 64 << 20,
            send_backlog_limit: 16 << 20,
            max_tracked_per_switch: 1 << 18,
        }
    }
}

/// Why a connection is closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// No common OpenFlow version (a `HELLO_FAILED` was sent).
    HelloFailed(String),
    /// The peer did not start with `HELLO`.
    NoHello,
    /// No features reply in time.
    HandshakeTimeout,
    /// Nothing received for the echo idle time plus the echo timeout.
    Silence,
    /// The byte stream is out of sync (a header length the framer cannot skip).
    OutOfSync(DecodeError),
    /// Another connection announced the same datapath id.
    Replaced {
        /// The newer connection.
        by: ConnId,
    },
    /// The switch refused the flow stats request needed to reconcile.
    ReconcileFailed(ErrorType),
    /// The flow stats reply did not complete in time.
    ReconcileTimeout,
    /// The shell reported the connection gone.
    PeerClosed,
    /// The peer did not take what was sent to it: more bytes were waiting to be written
    /// than [`Config::send_backlog_limit`] allows it.
    SendBacklog {
        /// Bytes waiting when the limit was passed.
        unsent: usize,
        /// The connection's limit ([`Config::send_backlog_limit`] plus twice its largest
        /// burst).
        limit: usize,
    },
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::HelloFailed(s) => write!(f, "hello failed: {s}"),
            CloseReason::NoHello => f.write_str("peer did not start with HELLO"),
            CloseReason::HandshakeTimeout => f.write_str("no features reply in time"),
            CloseReason::Silence => f.write_str("peer silent (echo unanswered)"),
            CloseReason::OutOfSync(e) => write!(f, "stream out of sync: {e}"),
            CloseReason::Replaced { by } => write!(f, "replaced by {by} (same datapath)"),
            CloseReason::ReconcileFailed(e) => write!(f, "flow stats refused: {e:?}"),
            CloseReason::ReconcileTimeout => f.write_str("flow stats reply not complete in time"),
            CloseReason::PeerClosed => f.write_str("closed by peer"),
            CloseReason::SendBacklog { unsent, limit } => write!(
                f,
                "peer not reading: {unsent} bytes unsent, more than the limit of {limit}"
            ),
        }
    }
}

/// The outcome of a change (see [`Controller::change`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The change's token.
    pub token: Completion,
    /// Switches that acknowledged the change's barrier (in datapath-id order, as are the
    /// other lists).
    pub acknowledged: Vec<Dpid>,
    /// Affected switches that were not connected or disconnected before acknowledging: they
    /// are reconciled when they (re)connect.
    pub deferred: Vec<Dpid>,
    /// Connected switches that had not acknowledged when [`Config::apply_timeout`] passed.
    pub timed_out: Vec<Dpid>,
    /// OpenFlow errors the switches sent before acknowledging.
    pub errors: usize,
}

impl Applied {
    /// True if every affected switch that was connected acknowledged without error.
    pub fn is_complete(&self) -> bool {
        self.timed_out.is_empty() && self.errors == 0
    }
}

/// What happened, for logs, metrics and the API layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Version negotiated and features received: the switch is known by its datapath id.
    SwitchUp {
        /// The connection.
        conn: ConnId,
        /// Its datapath id.
        dpid: Dpid,
        /// Number of ports it reported.
        ports: usize,
        /// True if the datapath is in the model.
        known: bool,
    },
    /// The switch's table was reconciled with the compiled one.
    Reconciled {
        /// The connection.
        conn: ConnId,
        /// The datapath.
        dpid: Dpid,
        /// Flows added (or replaced).
        added: usize,
        /// Flows deleted.
        deleted: usize,
        /// Our flows already right.
        kept: usize,
        /// Flows with other cookies, left alone.
        foreign: usize,
    },
    /// The shell must close this connection once the bytes polled so far are written.
    Close {
        /// The connection.
        conn: ConnId,
        /// Why.
        reason: CloseReason,
    },
    /// A connection is gone (closed by us or by the peer).
    Disconnected {
        /// The connection.
        conn: ConnId,
        /// Its datapath, if the handshake got that far.
        dpid: Option<Dpid>,
        /// Why.
        reason: CloseReason,
    },
    /// The switch sent an OpenFlow error.
    SwitchError {
        /// The connection.
        conn: ConnId,
        /// Its datapath, if known.
        dpid: Option<Dpid>,
        /// The xid of the request it answers.
        xid: u32,
        /// The error.
        error: ErrorType,
    },
    /// The switch sent a message that could not be decoded; it was answered with an error.
    Malformed {
        /// The connection.
        conn: ConnId,
        /// The decode error.
        error: DecodeError,
    },
    /// The switch sent a message a switch should not send; answered `BAD_REQUEST`.
    Unexpected {
        /// The connection.
        conn: ConnId,
        /// The message's type name.
        msg_type: &'static str,
    },
    /// A port named after an instance was bound to it.
    PortBound {
        /// The datapath.
        dpid: Dpid,
        /// The port.
        port: PortNo,
        /// The instance.
        instance: InstanceId,
    },
    /// An instance's port went away: the instance is detached.
    PortUnbound {
        /// The datapath.
        dpid: Dpid,
        /// The port.
        port: PortNo,
        /// The instance.
        instance: InstanceId,
    },
    /// A model change made by the controller itself (binding a port, adding a switch)
    /// failed.
    ModelRefused {
        /// What was attempted.
        what: String,
        /// The model's error.
        error: String,
    },
    /// A punted packet was decided.
    PacketIn {
        /// The datapath.
        dpid: Dpid,
        /// Its input port.
        in_port: PortNo,
        /// The decision.
        outcome: Outcome,
    },
    /// A gratuitous ARP was sent.
    Announced {
        /// The datapath it went out of.
        dpid: Dpid,
        /// The address announced.
        ip: core::net::Ipv4Addr,
    },
    /// A change completed (or its wait ended).
    Applied(Applied),
    /// A flow read ([`Controller::request_flows`]) completed.
    Flows {
        /// The read's token.
        token: FlowQuery,
        /// The datapath.
        dpid: Dpid,
        /// Its installed flows (all cookies, as the switch reported them), or why not.
        result: Result<Vec<FlowStats>, FlowQueryError>,
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packet_ins received.
    pub packet_ins: u64,
    /// Packet_outs sent.
    pub packet_outs: u64,
    /// Flow_mods sent.
    pub flow_mods: u64,
    /// Barriers sent.
    pub barriers: u64,
    /// Errors received from switches.
    pub switch_errors: u64,
    /// Messages received that could not be decoded.
    pub malformed: u64,
    /// Reconciliations done.
    pub reconciliations: u64,
    /// Tracked connections forgotten (their pinholes deleted) to make room for new ones
    /// past [`Config::max_tracked_per_switch`].
    pub tracking_evicted: u64,
    /// Stats replies received that answer no request of ours (dropped).
    pub unsolicited: u64,
}

/// A switch's connection and its start (see [`Controller::switch_session`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchSession {
    /// The connection.
    pub conn: ConnId,
    /// When the connection came ([`Controller::handle_connect`]).
    pub connected_at: Instant,
    /// When the features reply came.
    pub features_at: Option<Instant>,
    /// When the flow stats reply came whose handling diffed it against the compiled table
    /// and queued the reconciliation's flow_mods and barrier.
    pub reconciled_at: Option<Instant>,
    /// When the reconciliation's barrier reply came: the switch had handled every flow_mod
    /// of the reconciliation (its table is the compiled one, give or take later changes).
    pub synced_at: Option<Instant>,
}

struct PendingChange {
    deadline: Instant,
    waiting: BTreeSet<Dpid>,
    acknowledged: Vec<Dpid>,
    deferred: Vec<Dpid>,
    errors: usize,
    /// Elastic IPs this change moved (address, new host): announced again once the change is
    /// complete, when no old host can still be sending as the address.
    reannounce: Vec<(core::net::Ipv4Addr, Dpid)>,
}

/// A switch's compiled table as the `OFPFC_ADD`s that install it on a switch holding none
/// of it, each pre-encoded with xid 0, in the compiled order (flows added later at the end),
/// indexed by flow identity (priority, normalised match). Kept in step with every change the
/// way a switch applying the change's flow_mods would be, so that reconciling a fresh switch
/// is a copy (and an xid written into each header).
#[derive(Default)]
struct EncodedTable {
    /// The flow_mods in order; `None` where a flow was deleted.
    order: Vec<Option<Bytes>>,
    /// Where each flow is in `order`.
    index: FastMap<(u16, Match), usize>,
    /// Bytes of the flow_mods in `order`.
    bytes: usize,
}

impl EncodedTable {
    /// The table `desired` would leave on an empty switch (the first of flows with the same
    /// identity, as [`reconcile_mods`] sends); `None` if a flow cannot be encoded.
    fn build(desired: &[Flow]) -> Option<EncodedTable> {
        let mut t = EncodedTable {
            order: Vec::with_capacity(desired.len()),
            index: FastMap::with_capacity_and_hasher(desired.len(), Default::default()),
            bytes: 0,
        };
        // One allocation shared by all the flows' bytes.
        let mut buf = BytesMut::with_capacity(desired.len().saturating_mul(96));
        for f in desired {
            let key = (f.priority, normalize(&f.r#match).0);
            if t.index.contains_key(&key) {
                continue;
            }
            Message::FlowMod(f.to_add()).encode(0, &mut buf).ok()?;
            let b = buf.split().freeze();
            t.bytes += b.len();
            t.index.insert(key, t.order.len());
            t.order.push(Some(b));
        }
        Some(t)
    }

    /// How many flows the table has.
    fn len(&self) -> usize {
        self.index.len()
    }

    /// Follow a flow_mod the compiler sent for this switch; false if it is not one a
    /// table can follow (then the table must be built again).
    fn apply(&mut self, fm: &FlowMod) -> bool {
        let key = (fm.priority, normalize(&fm.r#match).0);
        match fm.command {
            FlowModCommand::Add => {
                let mut buf = BytesMut::new();
                if Message::FlowMod(fm.clone()).encode(0, &mut buf).is_err() {
                    return false;
                }
                let b = buf.freeze();
                self.bytes += b.len();
                let slot = match self.index.get(&key) {
                    Some(at) => self.order.get_mut(*at),
                    None => {
                        self.index.insert(key, self.order.len());
                        self.order.push(None);
                        self.order.last_mut()
                    }
                };
                match slot {
                    Some(slot) => {
                        if let Some(old) = slot.replace(b) {
                            self.bytes -= old.len();
                        }
                        true
                    }
                    None => false,
                }
            }
            FlowModCommand::DeleteStrict => {
                if let Some(at) = self.index.remove(&key) {
                    if let Some(old) = self.order.get_mut(at).and_then(Option::take) {
                        self.bytes -= old.len();
                    }
                }
                // Mostly holes: close them up.
                if self.order.len() > 64 && self.order.len() > 2 * self.index.len() {
                    self.compact();
                }
                true
            }
            _ => false,
        }
    }

    fn compact(&mut self) {
        let mut at_new = vec![usize::MAX; self.order.len()];
        let mut order = Vec::with_capacity(self.index.len());
        for (i, b) in self.order.drain(..).enumerate() {
            if let Some(b) = b {
                if let Some(slot) = at_new.get_mut(i) {
                    *slot = order.len();
                }
                order.push(Some(b));
            }
        }
        for at in self.index.values_mut() {
            *at = at_new.get(*at).copied().unwrap_or(usize::MAX);
        }
        self.order = order;
    }

    /// Append every flow_mod to `out` in order, each with the xid `xid` gives; returns how
    /// many.
    fn write_to(&self, out: &mut BytesMut, mut xid: impl FnMut() -> u32) -> usize {
        out.reserve(self.bytes);
        let mut n = 0;
        for b in self.order.iter().flatten() {
            let at = out.len();
            out.extend_from_slice(b);
            if let Some(x) = out.get_mut(at + 4..at + 8) {
                x.copy_from_slice(&xid().to_be_bytes());
            }
            n += 1;
        }
        n
    }
}

/// Where gratuitous ARPs go: a switch and its uplink.
type AnnounceKey = (Dpid, u16);

/// The sans-IO controller (see the module docs).
pub struct Controller {
    config: Config,
    model: Model,
    compiler: Compiler,
    pinholes: Pinholes,
    sessions: FastMap<ConnId, Session>,
    by_dpid: FastMap<Dpid, ConnId>,
    out: FastMap<ConnId, BytesMut>,
    ready: VecDeque<ConnId>,
    events: VecDeque<Event>,
    /// Whether a decided packet_in is reported ([`Controller::set_packet_in_events`]).
    packet_in_events: bool,
    changes: BTreeMap<u64, PendingChange>,
    /// The latest time an input brought (for work that completes on an input without one).
    clock: Option<Instant>,
    next_token: u64,
    announcer: Announcer<AnnounceKey>,
    counters: Counters,
    /// Connections tracked per switch: exact, or an upper bound while `tracked_stale`
    /// (after a cut, which does not say whose connections it removed).
    tracked: FastMap<Dpid, usize>,
    tracked_stale: bool,
    /// Per switch, the cookies of the connections it opened, oldest first (some already
    /// forgotten: skipped when met, and swept out when they outnumber the live ones).
    opened: FastMap<Dpid, VecDeque<u64>>,
    /// Per connection, the most bytes queued at once on the controller's own initiative (a
    /// reconciliation, a change): allowed on top of [`Config::send_backlog_limit`].
    own_burst: HashMap<ConnId, usize>,
    /// Instances attached explicitly, never detached by port events (see [`Controller::pin`]).
    pinned: BTreeSet<InstanceId>,
    /// Flow reads in flight: (connection, stats xid) -> token.
    flow_queries: HashMap<(ConnId, u32), (u64, Dpid)>,
    next_query: u64,
    /// Per switch, its compiled table pre-encoded for a fresh switch (see [`EncodedTable`]):
    /// built for every switch of the model at start (before switches connect), kept in step
    /// with changes, built again at a reconciliation that finds it missing.
    encoded: FastMap<Dpid, EncodedTable>,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("sessions", &self.sessions.len())
            .field("switches", &self.by_dpid.len())
            .field("pending_changes", &self.changes.len())
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// The packet_out that sends a decided packet on (its bytes, not a switch buffer).
fn packet_out_message(po: netrules::pinhole::PacketOut, data: Bytes) -> Message {
    Message::PacketOut(PacketOut {
        buffer_id: NO_BUFFER,
        in_port: po.in_port,
        actions: po.actions,
        data,
    })
}

/// The longest frame accepted from a switch: what a header can say.
const MAX_FRAME_LEN: usize = u16::MAX as usize;

fn is_ours(c: u64) -> bool {
    matches!(
        c & cookie::KIND_MASK,
        cookie::INSTANCE | cookie::SWITCH | cookie::PINHOLE
    )
}

fn to_flow(s: &FlowStats) -> Flow {
    Flow {
        priority: s.priority,
        r#match: s.r#match,
        actions: Arc::from(s.actions.to_vec()),
        cookie: s.cookie,
        idle_timeout: s.idle_timeout,
        hard_timeout: s.hard_timeout,
        flags: openflow_proto::FlowModFlags::empty(),
    }
}

/// The flow_mods that turn the switch's `installed` flows into `desired`: like
/// [`netrules::diff`], but flows are identified by their normalised match (as the switch
/// reports them), flags (which flow stats do not report) are not compared, and deletes name
/// the match as the switch reported it. Returns (mods, added, deleted, kept).
fn reconcile_mods(installed: &[Flow], desired: &[Flow]) -> (Vec<FlowMod>, usize, usize, usize) {
    let key = |f: &Flow| (f.priority, normalize(&f.r#match).0);
    let have: FastMap<(u16, Match), &Flow> = installed.iter().map(|f| (key(f), f)).collect();
    let mut wanted: FastSet<(u16, Match)> =
        FastSet::with_capacity_and_hasher(desired.len(), Default::default());
    let mut adds = Vec::new();
    let mut kept = 0;
    for f in desired {
        let k = key(f);
        if !wanted.insert(k) {
            continue;
        }
        match have.get(&k) {
            Some(o)
                if o.actions == f.actions
                    && o.cookie == f.cookie
                    && o.idle_timeout == f.idle_timeout
                    && o.hard_timeout == f.hard_timeout =>
            {
                kept += 1;
            }
            _ => adds.push(f.to_add()),
        }
    }
    let mut deletes = Vec::new();
    let mut gone: FastSet<(u16, Match)> = FastSet::default();
    for f in installed {
        let k = key(f);
        if !wanted.contains(&k) && gone.insert(k) {
            deletes.push(f.to_delete());
        }
    }
    let (a, d) = (adds.len(), deletes.len());
    adds.extend(deletes);
    (adds, a, d, kept)
}

impl Controller {
    /// A controller for `model`.
    pub fn new(model: Model, config: Config) -> Self {
        let compiler = Compiler::new(&model, config.compile);
        let pinholes = Pinholes::new(config.compile);
        let encoded = compiler
            .tables()
            .iter()
            .filter_map(|(d, t)| Some((*d, EncodedTable::build(t)?)))
            .collect();
        Controller {
            config,
            model,
            compiler,
            pinholes,
            sessions: FastMap::default(),
            by_dpid: FastMap::default(),
            out: FastMap::default(),
            ready: VecDeque::new(),
            events: VecDeque::new(),
            packet_in_events: true,
            changes: BTreeMap::new(),
            clock: None,
            next_token: 0,
            announcer: Announcer::new(),
            counters: Counters::default(),
            tracked: FastMap::default(),
            tracked_stale: false,
            opened: FastMap::default(),
            own_burst: HashMap::new(),
            pinned: BTreeSet::new(),
            flow_queries: HashMap::new(),
            next_query: 0,
            encoded,
        }
    }

    /// Pin (`true`) or unpin an instance: a pinned instance keeps the attachment the model
    /// gives it whatever the names and presence of the switch's ports (see the module docs).
    /// Pinning an instance the model does not know is allowed (it takes effect when it is
    /// added).
    pub fn pin(&mut self, id: InstanceId, pinned: bool) {
        if pinned {
            self.pinned.insert(id);
        } else {
            self.pinned.remove(&id);
        }
    }

    /// The pinned instances.
    pub fn pinned(&self) -> &BTreeSet<InstanceId> {
        &self.pinned
    }

    /// The flows compiled for switch `dpid` (what it is reconciled to; pinholes, which
    /// come and go with traffic, are not included).
    pub fn compiled_flows(&self, dpid: Dpid) -> Vec<Flow> {
        self.compiler.table(dpid)
    }

    /// Ask the switch `dpid` for all its flows. Returns `None` if it is not connected (or
    /// its handshake is not done); otherwise [`Event::Flows`] reports the token with the
    /// whole reply, the switch's refusal, or the disconnection.
    pub fn request_flows(&mut self, dpid: Dpid) -> Option<FlowQuery> {
        let conn = self.by_dpid.get(&dpid).copied()?;
        let msg = Message::StatsRequest(StatsRequest::new(StatsRequestBody::Flow(
            FlowStatsRequest::all(),
        )));
        let xid = self.request(conn, &msg)?;
        self.next_query += 1;
        self.flow_queries
            .insert((conn, xid), (self.next_query, dpid));
        Some(FlowQuery(self.next_query))
    }

    /// Report a flow read's outcome, if `(conn, xid)` is one.
    fn flows_done(
        &mut self,
        conn: ConnId,
        xid: u32,
        result: Result<Vec<FlowStats>, FlowQueryError>,
    ) -> bool {
        let Some((token, dpid)) = self.flow_queries.remove(&(conn, xid)) else {
            return false;
        };
        self.events.push_back(Event::Flows {
            token: FlowQuery(token),
            dpid,
            result,
        });
        true
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Report every decided packet_in as an [`Event::PacketIn`] (`true`, the default) or not:
    /// one event per packet_in is a noticeable part of a busy reactive controller's work,
    /// wasted if nothing consumes it (the shell only logs it, at debug level). The decisions
    /// and [`Counters::packet_ins`] are the same either way.
    pub fn set_packet_in_events(&mut self, on: bool) {
        self.packet_in_events = on;
    }

    /// The counters.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The tracked connections and their pinholes.
    pub fn pinholes(&self) -> &Pinholes {
        &self.pinholes
    }

    /// The number of flows compiled from the model, all switches together (pinholes not
    /// included): what connected switches are reconciled to.
    pub fn flow_count(&self) -> usize {
        self.compiler.flow_count()
    }

    /// The datapaths whose handshake is done, with their connections.
    pub fn switches(&self) -> BTreeMap<Dpid, ConnId> {
        self.by_dpid.iter().map(|(d, c)| (*d, *c)).collect()
    }

    /// The connection of switch `dpid` and when it reached each step of its start (the
    /// instants are those the shell passed with the inputs), if its handshake is done.
    pub fn switch_session(&self, dpid: Dpid) -> Option<SwitchSession> {
        let conn = *self.by_dpid.get(&dpid)?;
        let s = self.sessions.get(&conn)?;
        Some(SwitchSession {
            conn,
            connected_at: s.connected_at,
            features_at: s.features_at,
            reconciled_at: s.reconciled_at,
            synced_at: s.synced_at,
        })
    }

    /// True if the switch's handshake and reconciliation are done.
    pub fn is_ready(&self, dpid: Dpid) -> bool {
        self.by_dpid
            .get(&dpid)
            .and_then(|c| self.sessions.get(c))
            .is_some_and(|s| s.state == State::Ready)
    }

    // ----------------------------------------------------------------------------------
    // Outputs
    // ----------------------------------------------------------------------------------

    /// The next bytes to write to a connection (everything queued for it so far, in order).
    pub fn poll_transmit(&mut self) -> Option<(ConnId, Bytes)> {
        while let Some(conn) = self.ready.pop_front() {
            let Some(buf) = self.out.get_mut(&conn) else {
                continue;
            };
            let data = buf.split().freeze();
            // A closed connection's last bytes (an error before closing): its buffer goes.
            if !self.sessions.contains_key(&conn) {
                self.out.remove(&conn);
            }
            if !data.is_empty() {
                return Some((conn, data));
            }
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Controller::handle_timeout`] should be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // The earliest of every session's `Session::deadline`, found without one addition
        // per session (the shell asks after every batch of inputs): a ready session's
        // deadline is its liveness, `last_rx + echo_idle` (`+ echo_timeout` once an echo is
        // out), so the earliest is the earliest `last_rx` of each kind plus the same
        // durations; sessions still in their handshake give their own.
        let mut quiet: Option<Instant> = None;
        let mut echoing: Option<Instant> = None;
        let mut handshakes: Option<Instant> = None;
        for s in self.sessions.values() {
            if s.state == State::Ready {
                let earliest = if s.echo_sent {
                    &mut echoing
                } else {
                    &mut quiet
                };
                *earliest = Some(earliest.map_or(s.last_rx, |t| t.min(s.last_rx)));
            } else if let Some(d) = s.deadline(&self.config) {
                handshakes = Some(handshakes.map_or(d, |h| h.min(d)));
            }
        }
        let idle = self.config.echo_idle;
        let sessions = quiet
            .map(|t| t + idle)
            .into_iter()
            .chain(echoing.map(|t| t + idle + self.config.echo_timeout))
            .chain(handshakes);
        let changes = self.changes.values().map(|c| c.deadline);
        sessions
            .chain(changes)
            .chain(self.announcer.next_deadline())
            .min()
    }

    fn send(&mut self, conn: ConnId, xid: u32, msg: &Message) {
        let buf = self.out.entry(conn).or_default();
        let was_empty = buf.is_empty();
        match msg.encode(xid, buf) {
            Ok(()) => {
                if was_empty {
                    self.ready.push_back(conn);
                }
                match msg {
                    Message::FlowMod(_) => self.counters.flow_mods += 1,
                    Message::PacketOut(_) => self.counters.packet_outs += 1,
                    Message::BarrierRequest => self.counters.barriers += 1,
                    _ => {}
                }
            }
            Err(e) => self.events.push_back(Event::ModelRefused {
                what: format!("encoding {} for {conn}", msg.msg_type().name()),
                error: e.to_string(),
            }),
        }
    }

    /// Send a request with a fresh xid; returns the xid.
    fn request(&mut self, conn: ConnId, msg: &Message) -> Option<u32> {
        let xid = self.sessions.get_mut(&conn)?.next_xid();
        self.send(conn, xid, msg);
        Some(xid)
    }

    /// Bytes queued for `conn` and not yet polled.
    fn queued(&self, conn: ConnId) -> usize {
        self.out.get(&conn).map_or(0, BytesMut::len)
    }

    /// The controller queued bytes for `conn` on its own initiative since [`Self::queued`]
    /// said `before`: remember the largest such burst.
    fn note_burst(&mut self, conn: ConnId, before: usize) {
        let burst = self.queued(conn).saturating_sub(before);
        if self.sessions.contains_key(&conn) {
            let b = self.own_burst.entry(conn).or_default();
            *b = (*b).max(burst);
        }
    }

    fn barrier(&mut self, conn: ConnId, tokens: Vec<u64>) {
        if let Some(xid) = self.request(conn, &Message::BarrierRequest) {
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.barriers.push_back(Barrier { xid, tokens });
            }
        }
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.events.push_back(Event::Close {
            conn,
            reason: reason.clone(),
        });
        self.forget(conn, reason);
    }

    fn forget(&mut self, conn: ConnId, reason: CloseReason) {
        let Some(s) = self.sessions.remove(&conn) else {
            return;
        };
        self.own_burst.remove(&conn);
        let queries: Vec<u32> = self
            .flow_queries
            .keys()
            .filter(|(c, _)| *c == conn)
            .map(|(_, x)| *x)
            .collect();
        for xid in queries {
            self.flows_done(conn, xid, Err(FlowQueryError::Disconnected));
        }
        // Bytes still queued are polled once more ([`Controller::poll_transmit`] then drops
        // the buffer); an empty buffer goes now.
        if self.out.get(&conn).is_some_and(|b| b.is_empty()) {
            self.out.remove(&conn);
        }
        if let Some(d) = s.dpid {
            if self.by_dpid.get(&d) == Some(&conn) {
                self.by_dpid.remove(&d);
                // Changes waiting for this switch: deferred to its reconciliation.
                let mut tokens: Vec<u64> = s.after_reconcile.clone();
                tokens.extend(s.barriers.iter().flat_map(|b| b.tokens.iter().copied()));
                for t in tokens {
                    if let Some(c) = self.changes.get_mut(&t) {
                        if c.waiting.remove(&d) {
                            c.deferred.push(d);
                        }
                    }
                }
                self.finish_changes();
            }
        }
        self.events.push_back(Event::Disconnected {
            conn,
            dpid: s.dpid,
            reason,
        });
    }

    // ----------------------------------------------------------------------------------
    // Inputs
    // ----------------------------------------------------------------------------------

    /// A switch connected: the controller says `HELLO`.
    pub fn handle_connect(&mut self, conn: ConnId, now: Instant) {
        self.clock = Some(now);
        if self.sessions.contains_key(&conn) {
            self.forget(conn, CloseReason::PeerClosed);
        }
        self.sessions
            .insert(conn, Session::new(now, self.config.stats_limit));
        self.out.remove(&conn);
        self.request(conn, &Message::Hello(Bytes::new()));
    }

    /// The connection is gone. Queued bytes for it are dropped.
    pub fn handle_disconnect(&mut self, conn: ConnId) {
        self.out.remove(&conn);
        self.forget(conn, CloseReason::PeerClosed);
    }

    /// The shell holds `unsent` bytes for `conn` that the peer has not taken yet (polled
    /// with [`Controller::poll_transmit`] but not written). Above
    /// [`Config::send_backlog_limit`] the connection is closed with
    /// [`CloseReason::SendBacklog`]: the shell should then drop what it holds rather than
    /// wait to write it.
    pub fn handle_unsent(&mut self, conn: ConnId, unsent: usize) {
        let burst = self.own_burst.get(&conn).copied().unwrap_or(0);
        let limit = self
            .config
            .send_backlog_limit
            .saturating_add(burst.saturating_mul(2));
        if unsent > limit && self.sessions.contains_key(&conn) {
            self.out.remove(&conn);
            self.close(conn, CloseReason::SendBacklog { unsent, limit });
        }
    }

    /// Bytes arrived from a switch at `now`.
    pub fn handle_bytes(&mut self, conn: ConnId, data: &[u8], now: Instant) {
        self.clock = Some(now);
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        s.heard(now);
        // Frames are handled where they lie, in `data` itself; only a frame cut by the end of
        // a read is copied, into the framer, and completed there from the next read. The
        // framer is taken out while its frame is handled (a frame's handler may need the
        // whole controller) and put back unless the connection closed.
        let mut data = data;
        if s.framer.buffered() > 0 {
            let mut framer = core::mem::take(&mut s.framer);
            // What the cut frame still needs: the rest of its header, then of its length (a
            // length below the header's is left for `handle_frames` to refuse, whole header
            // in hand).
            loop {
                let held = framer.buffer_mut();
                let len = match held.get(2..4) {
                    Some(&[l0, l1]) => usize::from(u16::from_be_bytes([l0, l1])),
                    _ => 0,
                };
                let need = len
                    .max(openflow_proto::Header::LEN)
                    .saturating_sub(held.len());
                if need == 0 || data.is_empty() {
                    break;
                }
                let (head, rest) = data.split_at(need.min(data.len()));
                framer.extend_from_slice(head);
                data = rest;
            }
            let held = framer.buffer_mut();
            match self.handle_frames(conn, held, now) {
                Ok(n) => bytes::Buf::advance(held, n),
                Err((at, e)) => {
                    let mut rest = held.get(at..).unwrap_or_default().to_vec();
                    rest.extend_from_slice(data.get(..64).unwrap_or(data));
                    self.out_of_sync(conn, &rest, e);
                    return;
                }
            }
            let Some(s) = self.sessions.get_mut(&conn) else {
                return;
            };
            let cut = framer.buffered() > 0;
            s.framer = framer;
            if cut {
                // `data` is used up and the frame is still not whole.
                return;
            }
        }
        match self.handle_frames(conn, data, now) {
            Ok(n) => {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.framer
                        .extend_from_slice(data.get(n..).unwrap_or_default());
                }
            }
            Err((at, e)) => self.out_of_sync(conn, data.get(at..).unwrap_or_default(), e),
        }
    }

    /// Handle the whole frames at the front of `buf`, up to the connection's close if one
    /// closes it; the bytes they took, or where the stream went out of sync and why.
    ///
    /// A `PACKET_IN` on a switch past its handshake (the bulk of what a switch sends) is
    /// read in place and decided from the borrowed frame; any other frame is copied into a
    /// message of its own.
    fn handle_frames(
        &mut self,
        conn: ConnId,
        buf: &[u8],
        now: Instant,
    ) -> Result<usize, (usize, openflow_proto::DecodeError)> {
        let mut at = 0;
        loop {
            let Some(s) = self.sessions.get(&conn) else {
                return Ok(at);
            };
            let rest = buf.get(at..).unwrap_or_default();
            let len = match openflow_proto::framing::frame_len(rest, MAX_FRAME_LEN) {
                Ok(Some(len)) => len,
                Ok(None) => return Ok(at),
                Err(e) => return Err((at, e)),
            };
            let frame = rest.get(..len).unwrap_or_default();
            let decided_here = matches!(s.state, State::Ready | State::Reconciling { .. });
            match (s.dpid, PacketInRef::parse(frame)) {
                (Some(dpid), Some(pi)) if decided_here => self.packet_in(dpid, pi),
                _ => self.handle_frame(conn, Bytes::copy_from_slice(frame), now),
            }
            at += len;
        }
    }

    /// The stream of `conn` is out of sync at `rest` (a header length that cannot be
    /// skipped): answer with the offending header (and up to 64 bytes after it) and its
    /// xid, as for any request that cannot be read, and close.
    fn out_of_sync(&mut self, conn: ConnId, rest: &[u8], e: openflow_proto::DecodeError) {
        self.counters.malformed += 1;
        let offending = Bytes::copy_from_slice(rest.get(..64).unwrap_or(rest));
        let xid = openflow_proto::Header::peek_xid(&offending).unwrap_or(0);
        let reply = ErrorMsg::for_request(e.ofp_error(), &offending);
        self.send(conn, xid, &Message::Error(reply));
        self.close(conn, CloseReason::OutOfSync(e));
    }

    fn handle_frame(&mut self, conn: ConnId, frame: Bytes, now: Instant) {
        // The frame is moved, not shared: the rare answers that quote it re-encode the message
        // (the codec gives back the bytes it decoded), and the common path changes no
        // reference count.
        let (header, msg) = match openflow_proto::framing::decode_frame(frame) {
            Ok(m) => m,
            Err(invalid) => {
                self.counters.malformed += 1;
                let awaiting_hello = self
                    .sessions
                    .get(&conn)
                    .is_some_and(|s| s.state == State::AwaitHello);
                self.events.push_back(Event::Malformed {
                    conn,
                    error: invalid.error.clone(),
                });
                if awaiting_hello {
                    // Nothing but a HELLO may come first (a HELLO of any version decodes).
                    self.refuse_before_hello(conn, invalid.xid());
                } else {
                    let (xid, reply) = invalid.error_reply();
                    self.send(conn, xid, &reply);
                }
                return;
            }
        };
        let xid = header.xid;
        let Some(state) = self.sessions.get(&conn).map(|s| s.state.clone()) else {
            return;
        };
        let dpid = self.sessions.get(&conn).and_then(|s| s.dpid);
        // Messages handled the same way in every state.
        match &msg {
            Message::EchoRequest(data) => {
                self.send(conn, xid, &Message::EchoReply(data.clone()));
                return;
            }
            Message::EchoReply(_) => return,
            Message::Error(e) => {
                self.counters.switch_errors += 1;
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.errors_since_barrier += 1;
                }
                self.events.push_back(Event::SwitchError {
                    conn,
                    dpid,
                    xid,
                    error: e.error,
                });
                if self.flows_done(conn, xid, Err(FlowQueryError::Refused(e.error))) {
                    return;
                }
                match state {
                    State::AwaitHello => self.close(
                        conn,
                        CloseReason::HelloFailed(String::from_utf8_lossy(&e.data).into_owned()),
                    ),
                    State::Reconciling { stats_xid } if stats_xid == xid => {
                        self.close(conn, CloseReason::ReconcileFailed(e.error));
                    }
                    _ => {}
                }
                return;
            }
            _ => {}
        }
        match (state, msg) {
            (State::AwaitHello, Message::Hello(body)) => {
                match negotiate_version(header.version, &body) {
                    Ok(_) => {
                        if let Some(xid) = self.request(conn, &Message::FeaturesRequest) {
                            if let Some(s) = self.sessions.get_mut(&conn) {
                                s.state = State::AwaitFeatures { xid };
                            }
                        }
                    }
                    Err(e) => {
                        let text = String::from_utf8_lossy(&e.data).into_owned();
                        self.send(conn, xid, &Message::Error(e));
                        self.close(conn, CloseReason::HelloFailed(text));
                    }
                }
            }
            (State::AwaitHello, _) => self.refuse_before_hello(conn, xid),
            (State::AwaitFeatures { .. }, Message::FeaturesReply(f)) => {
                self.switch_up(conn, f, now);
            }
            (_, Message::Hello(_))
            | (_, Message::FeaturesReply(_))
            | (_, Message::GetConfigReply(_))
            | (_, Message::QueueGetConfigReply(_)) => {}
            (_, Message::BarrierReply) => self.barrier_reply(conn, xid, now),
            (_, Message::StatsReply(part)) => {
                if !self.solicited_stats(conn, xid) {
                    // Nobody asked for it: dropped, not held (a switch sending multi-part
                    // replies nobody asked for would otherwise fill the reassembly bound).
                    self.counters.unsolicited += 1;
                    return;
                }
                let whole = match self.sessions.get_mut(&conn) {
                    Some(s) => s.stats.push(xid, part),
                    None => return,
                };
                match whole {
                    Ok(Some(reply)) if self.flow_queries.contains_key(&(conn, xid)) => {
                        let result = match reply.body {
                            StatsReplyBody::Flow(flows) => Ok(flows),
                            _ => Err(FlowQueryError::Reassembly(
                                "the reply is not a flow stats reply".to_owned(),
                            )),
                        };
                        self.flows_done(conn, xid, result);
                    }
                    Err(e) if self.flow_queries.contains_key(&(conn, xid)) => {
                        self.flows_done(conn, xid, Err(FlowQueryError::Reassembly(e.to_string())));
                    }
                    Ok(Some(reply)) => {
                        let is_reconcile = matches!(
                            self.sessions.get(&conn).map(|s| &s.state),
                            Some(State::Reconciling { stats_xid }) if *stats_xid == xid
                        );
                        if let (true, StatsReplyBody::Flow(flows)) = (is_reconcile, reply.body) {
                            self.reconcile(conn, &flows, now);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => self.events.push_back(Event::ModelRefused {
                        what: format!("reassembling a stats reply from {conn}"),
                        error: e.to_string(),
                    }),
                }
            }
            (State::AwaitFeatures { .. }, _) => {}
            (_, Message::PacketIn(pi)) => {
                if let Some(d) = dpid {
                    let view = PacketInRef {
                        xid,
                        buffer_id: pi.buffer_id,
                        total_len: pi.total_len,
                        in_port: pi.in_port,
                        reason: pi.reason,
                        data: &pi.data,
                    };
                    self.packet_in(d, view);
                }
            }
            (_, Message::FlowRemoved(fr)) => {
                if let Some(d) = dpid {
                    let stale = (fr.cookie, normalize(&fr.r#match).0);
                    let ours = self
                        .sessions
                        .get_mut(&conn)
                        .is_some_and(|s| s.stale_pinholes.remove(&stale));
                    if fr.cookie & cookie::KIND_MASK == cookie::PINHOLE && !ours {
                        let dels = self.pinhole_removed(d, fr.cookie, &fr.r#match);
                        self.send_updates(dels);
                    }
                }
            }
            (_, Message::PortStatus(ps)) => {
                if let Some(d) = dpid {
                    let port = (ps.desc.port_no, ps.desc.name.clone());
                    match ps.reason {
                        PortReason::Delete => {
                            if let Some(s) = self.sessions.get_mut(&conn) {
                                s.ports.remove(&port.0);
                            }
                            self.unbind_port(d, port.0, now);
                        }
                        _ => {
                            if let Some(s) = self.sessions.get_mut(&conn) {
                                s.ports.insert(port.0, port.1.clone());
                            }
                            self.bind_ports(d, &[port], false, now);
                        }
                    }
                }
            }
            (_, vendor @ Message::Vendor(_)) => {
                let frame = vendor.to_bytes(xid).unwrap_or_default();
                let e =
                    ErrorMsg::for_request(ErrorType::BadRequest(BadRequestCode::BadVendor), &frame);
                self.send(conn, xid, &Message::Error(e));
            }
            (_, other) => {
                let frame = other.to_bytes(xid).unwrap_or_default();
                let e =
                    ErrorMsg::for_request(ErrorType::BadRequest(BadRequestCode::BadType), &frame);
                self.send(conn, xid, &Message::Error(e));
                self.events.push_back(Event::Unexpected {
                    conn,
                    msg_type: other.msg_type().name(),
                });
            }
        }
    }

    /// True if `xid` is one of our stats requests on `conn` still waiting for its reply
    /// (every kind of stats request the controller sends must be recognised here).
    fn solicited_stats(&self, conn: ConnId, xid: u32) -> bool {
        matches!(
            self.sessions.get(&conn).map(|s| &s.state),
            Some(State::Reconciling { stats_xid }) if *stats_xid == xid
        ) || self.flow_queries.contains_key(&(conn, xid))
    }

    /// Something other than a `HELLO` came first: `HELLO_FAILED/EPERM`, then close (as Open
    /// vSwitch drops a peer that does not start with `HELLO`).
    fn refuse_before_hello(&mut self, conn: ConnId, xid: u32) {
        let e = ErrorMsg {
            error: ErrorType::HelloFailed(HelloFailedCode::Eperm),
            data: Bytes::from_static(b"expected HELLO first"),
        };
        self.send(conn, xid, &Message::Error(e));
        self.close(conn, CloseReason::NoHello);
    }

    fn switch_up(&mut self, conn: ConnId, f: openflow_proto::SwitchFeatures, now: Instant) {
        let dpid = f.datapath_id;
        if let Some(old) = self.by_dpid.get(&dpid).copied() {
            if old != conn {
                self.close(old, CloseReason::Replaced { by: conn });
            }
        }
        self.by_dpid.insert(dpid, conn);
        let ports: Vec<(PortNo, String)> = f
            .ports
            .iter()
            .map(|p| (p.port_no, p.name.clone()))
            .collect();
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.dpid = Some(dpid);
            s.ports = ports.iter().cloned().collect();
            s.features_at = Some(now);
        }
        let mut known = self.model.switch(dpid).is_some();
        if !known {
            if let Some(uplink) = self.config.default_uplink {
                let r = self.change(now, |m| m.add_switch(Switch { dpid, uplink }));
                known = r.is_ok();
                if let Err(e) = r {
                    self.events.push_back(Event::ModelRefused {
                        what: format!("adding switch {dpid:#x}"),
                        error: e.to_string(),
                    });
                }
            }
        }
        self.events.push_back(Event::SwitchUp {
            conn,
            dpid,
            ports: ports.len(),
            known,
        });
        let config = SwitchConfig {
            flags: ConfigFlags::default(),
            miss_send_len: self.config.miss_send_len,
        };
        self.request(conn, &Message::SetConfig(config));
        self.barrier(conn, Vec::new());
        if let Some(stats_xid) = self.request(
            conn,
            &Message::StatsRequest(StatsRequest::new(StatsRequestBody::Flow(
                FlowStatsRequest::all(),
            ))),
        ) {
            let tracked = self.tracked_pinholes(dpid);
            if let Some(s) = self.sessions.get_mut(&conn) {
                s.state = State::Reconciling { stats_xid };
                s.reconcile_started = now;
                s.pinholes_at_stats = tracked;
            }
        }
        // Bind after the state change: the bindings' flows are part of the reconciliation.
        self.bind_ports(dpid, &ports, true, now);
    }

    fn reconcile(&mut self, conn: ConnId, flows: &[FlowStats], now: Instant) {
        let Some(dpid) = self.sessions.get(&conn).and_then(|s| s.dpid) else {
            return;
        };
        // Connections tracked since before the flow stats request; those punted since have
        // pinholes the reply cannot show (and must neither be forgotten nor shield stale
        // flows that carry the same cookie).
        let at_stats = self
            .sessions
            .get_mut(&conn)
            .map(|s| std::mem::take(&mut s.pinholes_at_stats))
            .unwrap_or_default();
        let live_pinholes: HashSet<u64> = self
            .tracked_pinholes(dpid)
            .intersection(&at_stats)
            .copied()
            .collect();
        let mut foreign = 0;
        let installed: Vec<Flow> = flows
            .iter()
            .filter(|f| {
                if !is_ours(f.cookie) {
                    foreign += 1;
                    return false;
                }
                // Pinholes of connections we track stay; others are stale.
                !(f.cookie & cookie::KIND_MASK == cookie::PINHOLE
                    && live_pinholes.contains(&f.cookie))
            })
            .map(to_flow)
            .collect();
        let stale: HashSet<(u64, Match)> = installed
            .iter()
            .filter(|f| f.cookie & cookie::KIND_MASK == cookie::PINHOLE)
            .map(|f| (f.cookie, normalize(&f.r#match).0))
            .collect();
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.stale_pinholes = stale;
        }
        // Tracked connections whose pinholes are all gone (they idled out while the switch
        // was away, and the flow_removed messages were lost): forget them.
        let present: HashSet<u64> = flows.iter().map(|f| f.cookie).collect();
        for c in live_pinholes.difference(&present) {
            let _ = self.pinhole_removed(dpid, *c, &Match::any());
        }
        let queued = self.queued(conn);
        let (added, deleted, kept) = if installed.is_empty() {
            // None of the table is there (a fresh switch): the pre-encoded table, copied.
            if !self.encoded.contains_key(&dpid) {
                if let Some(t) = EncodedTable::build(&self.compiler.table(dpid)) {
                    self.encoded.insert(dpid, t);
                }
            }
            match (self.encoded.get(&dpid), self.sessions.get_mut(&conn)) {
                (Some(t), Some(s)) if t.len() > 0 => {
                    let buf = self.out.entry(conn).or_default();
                    let was_empty = buf.is_empty();
                    let n = t.write_to(buf, || s.next_xid());
                    if was_empty {
                        self.ready.push_back(conn);
                    }
                    self.counters.flow_mods += n as u64;
                    (n, 0, 0)
                }
                _ => self.send_reconcile_mods(conn, dpid, &installed),
            }
        } else {
            self.send_reconcile_mods(conn, dpid, &installed)
        };
        self.note_burst(conn, queued);
        let tokens = match self.sessions.get_mut(&conn) {
            Some(s) => {
                s.state = State::Ready;
                s.reconciled_at = Some(now);
                std::mem::take(&mut s.after_reconcile)
            }
            None => Vec::new(),
        };
        self.barrier(conn, tokens);
        if let Some(s) = self.sessions.get_mut(&conn) {
            s.reconcile_barrier = s.barriers.back().map(|b| b.xid);
        }
        self.counters.reconciliations += 1;
        // The outside segment may have forgotten (or never learnt) where the elastic IPs
        // hosted here are: announce them again.
        let hosted: Vec<(core::net::Ipv4Addr, Dpid)> = self
            .eip_hosts()
            .into_iter()
            .filter(|(_, d)| *d == dpid)
            .collect();
        self.announce(now, hosted);
        self.events.push_back(Event::Reconciled {
            conn,
            dpid,
            added,
            deleted,
            kept,
            foreign,
        });
    }

    /// Queue the flow_mods that turn `installed` into the compiled table of `dpid`; returns
    /// (added, deleted, kept).
    fn send_reconcile_mods(
        &mut self,
        conn: ConnId,
        dpid: Dpid,
        installed: &[Flow],
    ) -> (usize, usize, usize) {
        let desired = self.compiler.table(dpid);
        let (mods, added, deleted, kept) = reconcile_mods(installed, &desired);
        for fm in mods {
            self.request(conn, &Message::FlowMod(fm));
        }
        (added, deleted, kept)
    }

    fn barrier_reply(&mut self, conn: ConnId, xid: u32, now: Instant) {
        let Some(s) = self.sessions.get_mut(&conn) else {
            return;
        };
        let Some(dpid) = s.dpid else {
            return;
        };
        if !s.barriers.iter().any(|b| b.xid == xid) {
            return;
        }
        let errors = std::mem::take(&mut s.errors_since_barrier);
        let mut done = Vec::new();
        while let Some(b) = s.barriers.pop_front() {
            let last = b.xid == xid;
            if s.reconcile_barrier == Some(b.xid) {
                s.reconcile_barrier = None;
                s.synced_at = Some(now);
            }
            done.extend(b.tokens);
            if last {
                break;
            }
        }
        for t in done {
            if let Some(c) = self.changes.get_mut(&t) {
                if c.waiting.remove(&dpid) {
                    c.acknowledged.push(dpid);
                    c.errors += errors;
                }
            }
        }
        self.finish_changes();
    }

    fn finish_changes(&mut self) {
        let done: Vec<u64> = self
            .changes
            .iter()
            .filter(|(_, c)| c.waiting.is_empty())
            .map(|(t, _)| *t)
            .collect();
        for t in done {
            if let Some(mut c) = self.changes.remove(&t) {
                c.acknowledged.sort_unstable();
                c.deferred.sort_unstable();
                self.reannounce(std::mem::take(&mut c.reannounce));
                self.events.push_back(Event::Applied(Applied {
                    token: Completion(t),
                    acknowledged: c.acknowledged,
                    deferred: c.deferred,
                    timed_out: Vec::new(),
                    errors: c.errors,
                }));
            }
        }
    }

    /// Announce again the elastic IPs a completed change moved, if they are still where it
    /// put them: until the old host's switch applied the change, the old instance's packets
    /// could still leave as the address and re-teach the outside segment the old path.
    fn reannounce(&mut self, moved: Vec<(core::net::Ipv4Addr, Dpid)>) {
        let Some(now) = self.clock else {
            return;
        };
        if moved.is_empty() {
            return;
        }
        let hosts = self.eip_hosts();
        let still: Vec<(core::net::Ipv4Addr, Dpid)> = moved
            .into_iter()
            .filter(|(ip, d)| hosts.get(ip) == Some(d))
            .collect();
        self.announce(now, still);
    }

    /// Time passed: echo requests, silent connections, handshake deadlines, change
    /// deadlines, gratuitous ARPs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = Some(now);
        let mut conns: Vec<ConnId> = self.sessions.keys().copied().collect();
        conns.sort();
        for conn in conns {
            let Some(s) = self.sessions.get_mut(&conn) else {
                continue;
            };
            if !matches!(s.state, State::Ready | State::Reconciling { .. })
                && now >= s.connected_at + self.config.handshake_timeout
            {
                self.close(conn, CloseReason::HandshakeTimeout);
                continue;
            }
            if matches!(s.state, State::Reconciling { .. })
                && now >= s.reconcile_started + self.config.reconcile_timeout
            {
                self.close(conn, CloseReason::ReconcileTimeout);
                continue;
            }
            let idle_at = s.last_rx + self.config.echo_idle;
            if now >= idle_at + self.config.echo_timeout {
                self.close(conn, CloseReason::Silence);
                continue;
            }
            if now >= idle_at && !s.echo_sent {
                s.echo_sent = true;
                self.request(conn, &Message::EchoRequest(Bytes::new()));
            }
        }
        let expired: Vec<u64> = self
            .changes
            .iter()
            .filter(|(_, c)| now >= c.deadline)
            .map(|(t, _)| *t)
            .collect();
        for t in expired {
            if let Some(mut c) = self.changes.remove(&t) {
                c.acknowledged.sort_unstable();
                c.deferred.sort_unstable();
                self.reannounce(std::mem::take(&mut c.reannounce));
                self.events.push_back(Event::Applied(Applied {
                    token: Completion(t),
                    acknowledged: c.acknowledged,
                    deferred: c.deferred,
                    timed_out: c.waiting.into_iter().collect(),
                    errors: c.errors,
                }));
            }
        }
        let mut buf = [0u8; arp_responder::MAX_FRAME_LEN];
        while let Some(due) = self.announcer.poll(now) {
            let (dpid, uplink) = due.key;
            let Some(conn) = self.by_dpid.get(&dpid).copied() else {
                continue;
            };
            let Ok(len) = due.write(&mut buf) else {
                continue;
            };
            let po = PacketOut {
                buffer_id: NO_BUFFER,
                in_port: PortNo::NONE,
                actions: vec![Action::output(PortNo(uplink))].into(),
                data: Bytes::copy_from_slice(buf.get(..len).unwrap_or_default()),
            };
            self.request(conn, &Message::PacketOut(po));
            self.events.push_back(Event::Announced {
                dpid,
                ip: due.announcement.ip,
            });
        }
    }

    // ----------------------------------------------------------------------------------
    // Changes
    // ----------------------------------------------------------------------------------

    fn eip_hosts(&self) -> BTreeMap<core::net::Ipv4Addr, Dpid> {
        self.model
            .elastic_ips()
            .keys()
            .filter_map(|ip| {
                let host = self.model.elastic_ip_host(*ip)?;
                Some((*ip, host.attachment?.switch))
            })
            .collect()
    }

    /// Change the model with `f` (one of [`Model`]'s mutators, or several whose
    /// [`Touched`] sets are merged), and bring the switches along: the flow_mods of what it
    /// touched and the deletes of cut pinholes go to each affected connected switch, then a
    /// barrier. Returns the token that [`Event::Applied`] reports.
    ///
    /// `f` must leave the model unchanged when it fails (each mutator of [`Model`] does):
    /// on `Err` nothing is sent.
    pub fn change<E>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Model) -> Result<Touched, E>,
    ) -> Result<Completion, E> {
        let before = self.eip_hosts();
        let touched = f(&mut self.model)?;
        Ok(self.apply(now, &touched, &before))
    }

    /// Like [`Controller::change`], with a commit step between the mutation and its effect:
    /// `f` runs on a copy of the model, `commit` sees the model before and after (to persist
    /// the difference), and only if it succeeds does the copy become the model and the
    /// switches follow. On any error the model is unchanged and nothing is sent.
    ///
    /// The copy costs time linear in the model's size.
    pub fn change_committed<E>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Model) -> Result<Touched, E>,
        commit: impl FnOnce(&Model, &Model) -> Result<(), E>,
    ) -> Result<Completion, E> {
        let mut next = self.model.clone();
        let touched = f(&mut next)?;
        commit(&self.model, &next)?;
        let before = self.eip_hosts();
        self.model = next;
        Ok(self.apply(now, &touched, &before))
    }

    fn apply(
        &mut self,
        now: Instant,
        touched: &Touched,
        eips_before: &BTreeMap<core::net::Ipv4Addr, Dpid>,
    ) -> Completion {
        self.clock = Some(now);
        let mut updates = self.compiler.update(&self.model, touched);
        for u in &updates {
            if let Some(t) = self.encoded.get_mut(&u.switch) {
                if !t.apply(&u.flow_mod) {
                    self.encoded.remove(&u.switch);
                }
            }
        }
        let tracked = self.pinholes.len();
        updates.extend(self.pinholes.cut(touched));
        self.tracked_stale |= self.pinholes.len() != tracked;
        let affected: BTreeSet<Dpid> = updates.iter().map(|u| u.switch).collect();
        self.next_token += 1;
        let token = self.next_token;
        let mut change = PendingChange {
            deadline: now + self.config.apply_timeout,
            waiting: BTreeSet::new(),
            acknowledged: Vec::new(),
            deferred: Vec::new(),
            errors: 0,
            reannounce: Vec::new(),
        };
        let conns: Vec<(ConnId, usize)> = affected
            .iter()
            .filter_map(|d| self.by_dpid.get(d).copied())
            .map(|c| (c, self.queued(c)))
            .collect();
        self.send_updates(updates);
        for (c, queued) in conns {
            self.note_burst(c, queued);
        }
        for d in affected {
            let session = self
                .by_dpid
                .get(&d)
                .copied()
                .and_then(|c| self.sessions.get(&c).map(|s| (c, s.state.clone())));
            match session {
                Some((conn, State::Ready)) => {
                    self.barrier(conn, vec![token]);
                    change.waiting.insert(d);
                }
                Some((conn, State::Reconciling { .. })) => {
                    if let Some(s) = self.sessions.get_mut(&conn) {
                        s.after_reconcile.push(token);
                    }
                    change.waiting.insert(d);
                }
                _ => change.deferred.push(d),
            }
        }
        // Gratuitous ARP where an elastic IP's host switch changed: at once (the new host
        // has its flows as soon as it handles them), and again when every affected switch
        // acknowledged (the old host stopped sending as the address).
        let moved: Vec<(core::net::Ipv4Addr, Dpid)> = self
            .eip_hosts()
            .into_iter()
            .filter(|(ip, d)| eips_before.get(ip) != Some(d))
            .collect();
        if !change.waiting.is_empty() {
            change.reannounce = moved.clone();
        }
        self.changes.insert(token, change);
        self.announce(now, moved);
        self.finish_changes();
        Completion(token)
    }

    /// Start announcing each elastic IP out of the uplink of the switch that hosts it.
    fn announce(&mut self, now: Instant, hosts: Vec<(core::net::Ipv4Addr, Dpid)>) {
        let mac = arp_responder::MacAddr(self.model.settings().elastic_ip_mac.0);
        for (ip, d) in hosts {
            let Some(uplink) = self.model.switch(d).map(|s| s.uplink) else {
                continue;
            };
            // Only the host announces: a schedule still running on another switch (the
            // address moved away and back within its rounds) would send the outside segment
            // to where the address no longer is.
            let elsewhere: Vec<AnnounceKey> = self
                .model
                .switches()
                .values()
                .filter(|s| s.dpid != d)
                .map(|s| (s.dpid, s.uplink.0))
                .collect();
            for key in &elsewhere {
                self.announcer.cancel(key, ip);
            }
            self.announcer.announce(
                now,
                (d, uplink.0),
                Announcement {
                    ip,
                    mac,
                    vlan: None,
                },
                self.config.announce,
            );
        }
    }

    /// The pinhole cookies of the connections tracked on `dpid`.
    fn tracked_pinholes(&self, dpid: Dpid) -> HashSet<u64> {
        self.pinholes
            .connections()
            .into_iter()
            .filter(|(k, _)| k.switch == dpid)
            .map(|(_, c)| c)
            .collect()
    }

    /// Send flow_mods to the ready (or reconciling, for pinholes) sessions of their switches.
    fn send_updates(&mut self, updates: Vec<Update>) {
        for u in updates {
            let Some(conn) = self.by_dpid.get(&u.switch).copied() else {
                continue;
            };
            let pinhole = u.flow_mod.cookie & cookie::KIND_MASK == cookie::PINHOLE;
            // While reconciling, the reconciliation computes compiled flows afresh.
            let send = self.sessions.get(&conn).is_some_and(|s| match s.state {
                State::Ready => true,
                State::Reconciling { .. } => pinhole,
                _ => false,
            });
            if send {
                self.request(conn, &Message::FlowMod(u.flow_mod));
            }
        }
    }

    fn bind_ports(&mut self, dpid: Dpid, ports: &[(PortNo, String)], full: bool, now: Instant) {
        let Some(uplink) = self.model.switch(dpid).map(|s| s.uplink) else {
            return;
        };
        let mut present: HashSet<InstanceId> = HashSet::new();
        for (port, name) in ports {
            let Ok(id) = InstanceId::new(name.as_str()) else {
                continue;
            };
            let Some(inst) = self.model.instance(&id) else {
                continue;
            };
            if !port.is_physical() || *port == uplink {
                continue;
            }
            present.insert(id.clone());
            let at = Attachment {
                switch: dpid,
                port: *port,
            };
            if inst.attachment == Some(at) {
                continue;
            }
            // Another instance on that port (renamed port): detach it first.
            let squatter = self
                .model
                .instance_at(dpid, *port)
                .filter(|i| i.id != id)
                .map(|i| i.id.clone());
            if let Some(other) = squatter {
                let _ = self.change(now, |m| m.attach(&other, None));
            }
            match self.change(now, |m| m.attach(&id, Some(at))) {
                Ok(_) => self.events.push_back(Event::PortBound {
                    dpid,
                    port: *port,
                    instance: id,
                }),
                Err(e) => self.events.push_back(Event::ModelRefused {
                    what: format!("binding {id} to port {} of {dpid:#x}", port.0),
                    error: e.to_string(),
                }),
            }
        }
        if full {
            let gone: Vec<(InstanceId, PortNo)> = self
                .model
                .instances_on(dpid)
                .filter(|i| !present.contains(&i.id) && !self.pinned.contains(&i.id))
                .filter_map(|i| Some((i.id.clone(), i.attachment?.port)))
                .collect();
            for (id, port) in gone {
                if self.change(now, |m| m.attach(&id, None)).is_ok() {
                    self.events.push_back(Event::PortUnbound {
                        dpid,
                        port,
                        instance: id,
                    });
                }
            }
        }
    }

    fn unbind_port(&mut self, dpid: Dpid, port: PortNo, now: Instant) {
        let Some(id) = self.model.instance_at(dpid, port).map(|i| i.id.clone()) else {
            return;
        };
        if self.pinned.contains(&id) {
            return;
        }
        if self.change(now, |m| m.attach(&id, None)).is_ok() {
            self.events.push_back(Event::PortUnbound {
                dpid,
                port,
                instance: id,
            });
        }
    }

    // ----------------------------------------------------------------------------------
    // Punted packets
    // ----------------------------------------------------------------------------------

    /// [`Pinholes::flow_removed`], keeping the per-switch count.
    fn pinhole_removed(&mut self, dpid: Dpid, cookie: u64, removed: &Match) -> Vec<Update> {
        let before = self.pinholes.len();
        let deletes = self.pinholes.flow_removed(dpid, cookie, removed);
        let gone = before.saturating_sub(self.pinholes.len());
        if let Some(n) = self.tracked.get_mut(&dpid) {
            *n = n.saturating_sub(gone);
        }
        deletes
    }

    /// Recount the tracked connections per switch if a cut made the counts stale (or they
    /// disagree with the total, whatever forgot connections without saying).
    fn recount_tracked(&mut self) {
        if self.tracked_stale || self.tracked.values().sum::<usize>() != self.pinholes.len() {
            self.tracked.clear();
            for k in self.pinholes.connections().keys() {
                *self.tracked.entry(k.switch).or_default() += 1;
            }
            self.tracked_stale = false;
        }
    }

    /// `dpid` opened the connection with pinhole cookie `cookie`: count it, and past the
    /// bound forget the switch's oldest connection (its pinhole deletes are sent).
    fn opened(&mut self, dpid: Dpid, cookie: u64) {
        let count = {
            let n = self.tracked.entry(dpid).or_default();
            *n += 1;
            *n
        };
        let queue = self.opened.entry(dpid).or_default();
        queue.push_back(cookie);
        // Forgotten cookies are swept out once they outnumber the live ones (amortised).
        if queue.len() > 2 * count.max(512) {
            let live: HashSet<u64> = self
                .pinholes
                .connections()
                .into_iter()
                .filter(|(k, _)| k.switch == dpid)
                .map(|(_, c)| c)
                .collect();
            if let Some(q) = self.opened.get_mut(&dpid) {
                q.retain(|c| live.contains(c));
            }
        }
        if count <= self.config.max_tracked_per_switch {
            return;
        }
        self.recount_tracked();
        if self.tracked.get(&dpid).copied().unwrap_or(0) <= self.config.max_tracked_per_switch {
            return;
        }
        while let Some(oldest) = self.opened.get_mut(&dpid).and_then(VecDeque::pop_front) {
            if oldest == cookie {
                // Only the new one is left (a bound of 0): it stays.
                self.opened.entry(dpid).or_default().push_back(oldest);
                return;
            }
            // A live connection's pinholes never match everything: a non-empty answer means
            // it was still tracked.
            let deletes = self.pinhole_removed(dpid, oldest, &Match::any());
            if !deletes.is_empty() {
                self.counters.tracking_evicted += 1;
                self.send_updates(deletes);
                return;
            }
        }
    }

    /// Send a packet_in's decision, made at `dpid`: its flow_mods (as [`Self::send_updates`]
    /// does), then its packet_out (as [`Self::request`] does), each with a fresh xid. The
    /// common case (everything for `dpid`, pinholes only) looks the connection up once and
    /// encodes straight into its transmit buffer.
    fn send_decision(
        &mut self,
        dpid: Dpid,
        wire: Option<netrules::pinhole::PinholeWire>,
        packet_out: Option<(netrules::pinhole::PacketOut, &[u8])>,
    ) {
        let direct = wire.as_ref().is_none_or(|w| w.switch() == dpid)
            && packet_out.as_ref().is_none_or(|(po, _)| po.switch == dpid);
        let conn = self.by_dpid.get(&dpid).copied();
        let session = conn.and_then(|c| Some((c, self.sessions.get_mut(&c)?)));
        let (Some((conn, s)), true) = (session, direct) else {
            // Elsewhere, or no session: the general path.
            if let Some(w) = wire {
                self.send_updates(w.updates());
            }
            if let Some((po, data)) = packet_out {
                if let Some(conn) = self.by_dpid.get(&po.switch).copied() {
                    let data = Bytes::copy_from_slice(data);
                    self.request(conn, &packet_out_message(po, data));
                }
            }
            return;
        };
        // Pinholes go to ready and reconciling sessions (see `send_updates`).
        let send_mods = matches!(s.state, State::Ready | State::Reconciling { .. });
        let buf = self.out.entry(conn).or_default();
        let was_empty = buf.is_empty();
        let mut fail = |what: &'static str, e: openflow_proto::EncodeError| {
            self.events.push_back(Event::ModelRefused {
                what: format!("encoding {what} for {conn}"),
                error: e.to_string(),
            });
        };
        if let (true, Some(w)) = (send_mods, wire) {
            // The connection's pinholes in wire form: the same bytes, copied and patched.
            buf.reserve(w.wire_len());
            match w.encode(|| s.next_xid(), buf) {
                Ok(n) => self.counters.flow_mods += n as u64,
                Err(e) => fail(openflow_proto::MessageType::FlowMod.name(), e),
            }
        }
        if let Some((po, data)) = packet_out {
            let xid = s.next_xid();
            match PacketOut::encode_unbuffered(xid, po.in_port, &po.actions, data, buf) {
                Ok(()) => self.counters.packet_outs += 1,
                Err(e) => fail(openflow_proto::MessageType::PacketOut.name(), e),
            }
        }
        if was_empty && !buf.is_empty() {
            self.ready.push_back(conn);
        }
    }

    fn packet_in(&mut self, dpid: Dpid, pi: PacketInRef<'_>) {
        self.counters.packet_ins += 1;
        let Some(packet) = frame::extract(pi.data) else {
            return;
        };
        let decision = self
            .pinholes
            .packet_in(&self.model, dpid, pi.in_port, &packet);
        if let Some(w) = &decision.wire {
            // A new connection (its pinholes are at the deciding switch).
            self.opened(w.switch(), w.cookie());
        }
        let mut arp_reply = [0u8; arp_responder::MAX_FRAME_LEN];
        let packet_out = match decision.packet_out {
            Some(po) => {
                let data = match decision.outcome {
                    Outcome::Arp(_) => {
                        let Ok(request) = ArpFrame::parse(pi.data) else {
                            return;
                        };
                        let reply = request.reply(arp_responder::MacAddr(po.packet.dl_src.0));
                        match reply.write(&mut arp_reply) {
                            Ok(len) => arp_reply.get(..len).unwrap_or_default(),
                            Err(_) => return,
                        }
                    }
                    // The frame goes back out as it came, copied from where it was read.
                    _ => pi.data,
                };
                Some((po, data))
            }
            None => None,
        };
        self.send_decision(dpid, decision.wire, packet_out);
        if self.packet_in_events {
            self.events.push_back(Event::PacketIn {
                dpid,
                in_port: pi.in_port,
                outcome: decision.outcome,
            });
        }
    }
}
