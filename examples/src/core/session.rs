//! One switch connection's state.

use super::Config;
use netrules::model::Dpid;
use openflow_proto::{Framer, PortNo, StatsReassembler};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::Instant;

/// Where the handshake is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// `HELLO` sent, waiting for the switch's.
    AwaitHello,
    /// `FEATURES_REQUEST` sent with this xid.
    AwaitFeatures { xid: u32 },
    /// Flow stats requested with this xid; compiled flows are not sent until the reply.
    Reconciling { stats_xid: u32 },
    /// Reconciled: changes are sent as they happen.
    Ready,
}

/// A barrier request in flight and the changes waiting for it.
#[derive(Clone, Debug)]
pub(super) struct Barrier {
    pub(super) xid: u32,
    pub(super) tokens: Vec<u64>,
}

#[derive(Debug)]
pub(super) struct Session {
    pub(super) state: State,
    pub(super) framer: Framer,
    next_xid: u32,
    pub(super) connected_at: Instant,
    /// When the features reply arrived (the switch's datapath id became known).
    pub(super) features_at: Option<Instant>,
    /// When the reconciliation's flow_mods and barrier were queued.
    pub(super) reconciled_at: Option<Instant>,
    /// The xid of the reconciliation's barrier, until its reply comes.
    pub(super) reconcile_barrier: Option<u32>,
    /// When the reconciliation's barrier reply came.
    pub(super) synced_at: Option<Instant>,
    pub(super) reconcile_started: Instant,
    pub(super) last_rx: Instant,
    pub(super) echo_sent: bool,
    pub(super) dpid: Option<Dpid>,
    pub(super) ports: BTreeMap<PortNo, String>,
    pub(super) stats: StatsReassembler,
    pub(super) barriers: VecDeque<Barrier>,
    /// Changes made while reconciling: they complete with the reconciliation's barrier.
    pub(super) after_reconcile: Vec<u64>,
    /// The pinhole cookies of the connections tracked on this switch when its flow stats were
    /// requested: only their flows can be in the reply. (A connection punted meanwhile gets
    /// pinholes the reply predates; after a controller restart its cookie may even be one
    /// that the dead controller's stale pinholes still carry.)
    pub(super) pinholes_at_stats: HashSet<u64>,
    /// Stale pinholes (cookie, normalised match) the last reconciliation deleted: their
    /// `FLOW_REMOVED` is not news, and must not end a tracked connection that reuses the
    /// cookie (a restarted controller numbers its connections from the start again).
    pub(super) stale_pinholes: HashSet<(u64, openflow_proto::Match)>,
    pub(super) errors_since_barrier: usize,
}

impl Session {
    pub(super) fn new(now: Instant, stats_limit: usize) -> Self {
        Session {
            state: State::AwaitHello,
            framer: Framer::new(),
            next_xid: 0,
            connected_at: now,
            features_at: None,
            reconciled_at: None,
            reconcile_barrier: None,
            synced_at: None,
            reconcile_started: now,
            last_rx: now,
            echo_sent: false,
            dpid: None,
            ports: BTreeMap::new(),
            stats: StatsReassembler::new(stats_limit),
            barriers: VecDeque::new(),
            after_reconcile: Vec::new(),
            pinholes_at_stats: HashSet::new(),
            stale_pinholes: HashSet::new(),
            errors_since_barrier: 0,
        }
    }

    /// A fresh transaction id (never 0, which unsolicited messages use).
    pub(super) fn next_xid(&mut self) -> u32 {
        self.next_xid = self.next_xid.wrapping_add(1).max(1);
        self.next_xid
    }

    pub(super) fn heard(&mut self, now: Instant) {
        if now > self.last_rx {
            self.last_rx = now;
        }
        self.echo_sent = false;
    }

    /// The next instant this session needs attention.
    pub(super) fn deadline(&self, config: &Config) -> Option<Instant> {
        let idle_at = self.last_rx + config.echo_idle;
        let liveness = if self.echo_sent {
            idle_at + config.echo_timeout
        } else {
            idle_at
        };
        let handshake = match self.state {
            State::Ready => None,
            State::Reconciling { .. } => Some(self.reconcile_started + config.reconcile_timeout),
            _ => Some(self.connected_at + config.handshake_timeout),
        };
        Some(handshake.map_or(liveness, |h| h.min(liveness)))
    }
}
