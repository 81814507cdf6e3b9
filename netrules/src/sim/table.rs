//! One OpenFlow 1.0 flow table with the specification's semantics.

use super::matching::{covers, matches, normalize, overlaps, DroppedField};
use crate::packet::Packet;
use core::time::Duration;
use openflow_proto::{Action, FlowMod, FlowModCommand, FlowModFlags, Match, PortNo, NO_BUFFER};

/// The priority an exact-match flow gets, whatever the flow_mod said (Open vSwitch reports
/// exact-match flows of OpenFlow 1.0 with this priority).
pub const EXACT_MATCH_PRIORITY: u16 = 0xffff;

/// Identifies one installed flow within its table (unique for the table's lifetime; a flow
/// replaced by an identical ADD gets a new id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowId(pub u64);

/// An installed flow, with its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FlowEntry {
    /// This flow's id in its table.
    pub id: FlowId,
    /// The match, as normalised by the switch (see [`super::matching::normalize`]).
    pub r#match: Match,
    /// True if the flow_mod's match had no wildcard: the flow ranks above every wildcarded flow.
    pub exact: bool,
    /// The priority ([`EXACT_MATCH_PRIORITY`] for exact-match flows).
    pub priority: u16,
    /// The controller's cookie.
    pub cookie: u64,
    /// Idle timeout in seconds (0: none).
    pub idle_timeout: u16,
    /// Hard timeout in seconds (0: none).
    pub hard_timeout: u16,
    /// The flow_mod flags it was installed with.
    pub flags: FlowModFlags,
    /// The actions (empty: drop).
    pub actions: Vec<Action>,
    /// When it was installed.
    pub installed_at: Duration,
    /// When a packet last matched it (the installation time if none did).
    pub last_used: Duration,
    /// Packets matched.
    pub packet_count: u64,
    /// Bytes matched.
    pub byte_count: u64,
    seq: u64,
}

impl FlowEntry {
    /// True if one of the actions outputs (or enqueues) to `port`; [`PortNo::NONE`] means
    /// "no filter" and is always true (the `out_port` filter of DELETE commands).
    pub fn outputs_to(&self, port: PortNo) -> bool {
        port == PortNo::NONE
            || self.actions.iter().any(|a| match a {
                Action::Output { port: p, .. } | Action::Enqueue { port: p, .. } => *p == port,
                _ => false,
            })
    }

    /// The time at which this flow expires if nothing matches it any more, and why.
    pub fn deadline(&self) -> Option<(Duration, RemovedReason)> {
        let hard = (self.hard_timeout > 0).then(|| {
            (
                self.installed_at + Duration::from_secs(u64::from(self.hard_timeout)),
                RemovedReason::HardTimeout,
            )
        });
        let idle = (self.idle_timeout > 0).then(|| {
            (
                self.last_used + Duration::from_secs(u64::from(self.idle_timeout)),
                RemovedReason::IdleTimeout,
            )
        });
        match (hard, idle) {
            (Some(h), Some(i)) => Some(if i.0 < h.0 { i } else { h }),
            (h, i) => h.or(i),
        }
    }

    /// The `OFPFC_ADD` flow_mod that installs this flow as it is now (normalised match,
    /// effective priority, current actions and cookie, timeouts and flags).
    pub fn to_flow_mod(&self) -> FlowMod {
        FlowMod {
            cookie: self.cookie,
            idle_timeout: self.idle_timeout,
            hard_timeout: self.hard_timeout,
            flags: self.flags,
            ..FlowMod::add(self.r#match, self.priority, self.actions.clone())
        }
    }

    // Sort key: exact-match flows first, then priority descending, then age.
    fn rank(&self) -> (bool, core::cmp::Reverse<u16>, u64) {
        (!self.exact, core::cmp::Reverse(self.priority), self.seq)
    }

    fn removed(&self, reason: RemovedReason, at: Duration) -> FlowRemoved {
        FlowRemoved {
            r#match: self.r#match,
            cookie: self.cookie,
            priority: self.priority,
            reason,
            duration: at.saturating_sub(self.installed_at),
            idle_timeout: self.idle_timeout,
            packet_count: self.packet_count,
            byte_count: self.byte_count,
        }
    }
}

/// Why a flow was removed (`ofp_flow_removed_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RemovedReason {
    /// `OFPRR_IDLE_TIMEOUT`.
    IdleTimeout,
    /// `OFPRR_HARD_TIMEOUT`.
    HardTimeout,
    /// `OFPRR_DELETE`.
    Delete,
}

/// A flow_removed notification, as the switch would send it (only for flows installed with
/// `OFPFF_SEND_FLOW_REM`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowRemoved {
    /// The flow's match.
    pub r#match: Match,
    /// The flow's cookie.
    pub cookie: u64,
    /// The flow's priority.
    pub priority: u16,
    /// Why it was removed.
    pub reason: RemovedReason,
    /// How long it was installed.
    pub duration: Duration,
    /// Its idle timeout.
    pub idle_timeout: u16,
    /// Packets it matched.
    pub packet_count: u64,
    /// Bytes it matched.
    pub byte_count: u64,
}

/// A flow_mod the table refused, with the OpenFlow error a switch would answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowModError {
    /// A command outside ADD, MODIFY, MODIFY_STRICT, DELETE, DELETE_STRICT
    /// (`OFPET_FLOW_MOD_FAILED`/`OFPFMFC_BAD_COMMAND`).
    #[error("flow_mod: command {0} is not ADD (0), MODIFY (1), MODIFY_STRICT (2), DELETE (3) or DELETE_STRICT (4)")]
    BadCommand(u16),
    /// `CHECK_OVERLAP` was set and an installed flow of the same priority overlaps
    /// (`OFPFMFC_OVERLAP`).
    #[error("flow_mod: CHECK_OVERLAP is set and installed flow {existing:?} of priority {priority} overlaps the new match")]
    Overlap {
        /// The priority of both flows.
        priority: u16,
        /// The installed flow that overlaps.
        existing: FlowId,
    },
    /// The table holds its configured maximum of flows (`OFPFMFC_ALL_TABLES_FULL`).
    #[error("flow_mod: table full ({capacity} flows)")]
    TableFull {
        /// The table's capacity.
        capacity: usize,
    },
    /// An emergency flow with a timeout (`OFPFMFC_BAD_EMERG_TIMEOUT`).
    #[error(
        "flow_mod: emergency flow with idle timeout {idle} / hard timeout {hard} (expected both 0)"
    )]
    BadEmergencyTimeout {
        /// The idle timeout given.
        idle: u16,
        /// The hard timeout given.
        hard: u16,
    },
    /// A buffer id other than "none": the simulated switch never buffers packets, like Open
    /// vSwitch (`OFPET_BAD_REQUEST`/`OFPBRC_BUFFER_UNKNOWN`).
    #[error(
        "flow_mod: buffer id {0:#x} is unknown (the switch buffers nothing; expected 0xffffffff)"
    )]
    BufferUnknown(u32),
    /// The table is configured to reject matches whose fields lack their prerequisites
    /// (a real switch drops such fields silently, see [`TableConfig::strict_prerequisites`]).
    #[error("flow_mod: match sets {} without the prerequisites that give them meaning (found {found:?})", fields_list(.fields))]
    UnmetPrerequisites {
        /// The fields that would be dropped.
        fields: Vec<DroppedField>,
        /// The match as given.
        found: Match,
    },
}

fn fields_list(fields: &[DroppedField]) -> String {
    fields
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// How a table behaves where the specification leaves a choice.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableConfig {
    /// Maximum number of flows (`None`: unbounded).
    pub capacity: Option<usize>,
    /// Reject a flow_mod whose match sets fields without their prerequisites instead of
    /// silently dropping those fields as Open vSwitch does. Useful to check generated flows.
    pub strict_prerequisites: bool,
}

/// The result of a lookup: the winning flow and any other flow that ties with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lookup<'a> {
    /// The winning flow (the oldest among equals).
    pub entry: &'a FlowEntry,
    /// Other flows of the same priority that match too and whose actions differ: the
    /// specification leaves the winner undefined, so a correct table has none. For an
    /// exact-match winner these include wildcarded flows of priority 65535: the specification
    /// ranks the exact-match flow above them, but Open vSwitch only gives it priority 65535
    /// and may pick either.
    pub ties: Vec<FlowId>,
}

/// What applying one flow_mod did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowModOutcome {
    /// Flows added (an ADD, or a MODIFY that matched nothing).
    pub added: Vec<FlowId>,
    /// Flows whose actions (and cookie) were changed.
    pub modified: Vec<FlowId>,
    /// Flows removed by a delete or replaced by an identical ADD.
    pub removed: Vec<FlowId>,
    /// The flow_removed messages the switch sends (deleted flows with `SEND_FLOW_REM`).
    pub notifications: Vec<FlowRemoved>,
    /// Match fields the switch dropped for lack of prerequisites.
    pub dropped_fields: Vec<DroppedField>,
}

/// Table counters (`ofp_table_stats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Packets looked up.
    pub lookup_count: u64,
    /// Packets that matched a flow.
    pub matched_count: u64,
}

/// An OpenFlow 1.0 flow table.
///
/// Semantics (OpenFlow 1.0.0, sections 3.4, 3.6 and 4.6, as Open vSwitch implements them):
///
/// - **Lookup.** An exact-match flow (no wildcard in its flow_mod) wins over every wildcarded
///   flow, whatever the priorities; among wildcarded flows the highest priority wins. Equal
///   rank with overlapping matches is undefined by the specification: the oldest flow wins
///   here and [`Lookup::ties`] reports the others, so that tests can reject such tables.
///   Open vSwitch implements the exact-match rule only by giving such flows priority 65535,
///   so an exact-match flow and a wildcarded flow of priority 65535 are reported as a tie.
///   (Checked against Open vSwitch 3.1's `ofproto/trace` by the `ovs_oracle` test.)
/// - **ADD** replaces a flow with the identical (normalised) match and priority, counters
///   reset; with `CHECK_OVERLAP`, an overlapping flow of the same priority is an error.
/// - **MODIFY** changes the actions and cookie of every flow the match covers (non-strict),
///   **MODIFY_STRICT** of the flow with the identical match and priority; counters and
///   timeouts stay. If nothing is modified, the flow_mod acts as an ADD.
/// - **DELETE** removes every flow the match covers, **DELETE_STRICT** the flow with the
///   identical match and priority; both honour the `out_port` filter (a flow must output to
///   that port; [`PortNo::NONE`] disables the filter).
/// - **Timeouts** are driven by explicit time: [`FlowTable::expire`] removes flows whose hard
///   timeout (since installation) or idle timeout (since the last match) has passed.
/// - **Prerequisites**: fields without them are dropped on installation (see
///   [`super::matching::normalize`]), or refused with [`TableConfig::strict_prerequisites`].
/// - Emergency flows (`OFPFF_EMERG`) are kept apart and never used for lookups.
#[derive(Clone, Debug, Default)]
pub struct FlowTable {
    config: TableConfig,
    entries: Vec<FlowEntry>,
    emergency: Vec<FlowEntry>,
    next_seq: u64,
    stats: TableStats,
}

impl FlowTable {
    /// An empty, unbounded table with Open vSwitch's behaviour.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table with this configuration.
    pub fn with_config(config: TableConfig) -> Self {
        FlowTable {
            config,
            ..Self::default()
        }
    }

    /// The configuration.
    pub fn config(&self) -> TableConfig {
        self.config
    }

    /// The installed flows, in lookup order (exact-match first, then by descending priority,
    /// then oldest first).
    pub fn entries(&self) -> &[FlowEntry] {
        &self.entries
    }

    /// The emergency flows (installed with `OFPFF_EMERG`; never looked up).
    pub fn emergency_entries(&self) -> &[FlowEntry] {
        &self.emergency
    }

    /// Number of installed (non-emergency) flows.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if no flow is installed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The table counters.
    pub fn stats(&self) -> TableStats {
        self.stats
    }

    /// The flow with this id.
    pub fn get(&self, id: FlowId) -> Option<&FlowEntry> {
        self.entries.iter().find(|e| e.id == id)
    }

    /// The flow with exactly this match (normalised before comparing) and priority.
    pub fn find_strict(&self, m: &Match, priority: u16) -> Option<&FlowEntry> {
        let exact = m.is_exact();
        let (n, _) = normalize(m);
        let priority = if exact {
            EXACT_MATCH_PRIORITY
        } else {
            priority
        };
        self.entries
            .iter()
            .find(|e| e.exact == exact && e.priority == priority && e.r#match == n)
    }

    /// The flows a flow stats request with this match and `out_port` selects (non-strict:
    /// the flows the match covers, that output to `out_port` unless it is [`PortNo::NONE`]).
    pub fn flow_stats(&self, m: &Match, out_port: PortNo) -> Vec<&FlowEntry> {
        let (n, _) = normalize(m);
        self.entries
            .iter()
            .filter(|e| covers(&n, &e.r#match) && e.outputs_to(out_port))
            .collect()
    }

    /// Apply a flow_mod at time `now`.
    pub fn apply(&mut self, fm: &FlowMod, now: Duration) -> Result<FlowModOutcome, FlowModError> {
        if let FlowModCommand::Unknown(c) = fm.command {
            return Err(FlowModError::BadCommand(c));
        }
        if fm.buffer_id != NO_BUFFER {
            return Err(FlowModError::BufferUnknown(fm.buffer_id));
        }
        let exact = fm.r#match.is_exact();
        let (m, dropped) = normalize(&fm.r#match);
        if self.config.strict_prerequisites && !dropped.is_empty() {
            return Err(FlowModError::UnmetPrerequisites {
                fields: dropped,
                found: fm.r#match,
            });
        }
        let priority = if exact {
            EXACT_MATCH_PRIORITY
        } else {
            fm.priority
        };
        let mut out = match fm.command {
            FlowModCommand::Add => self.add(fm, m, exact, priority, now)?,
            FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
                let strict = fm.command == FlowModCommand::ModifyStrict;
                let mut modified = Vec::new();
                for e in self.entries.iter_mut() {
                    let hit = if strict {
                        e.exact == exact && e.priority == priority && e.r#match == m
                    } else {
                        covers(&m, &e.r#match)
                    };
                    if hit {
                        e.actions = fm.actions.to_vec();
                        e.cookie = fm.cookie;
                        modified.push(e.id);
                    }
                }
                if modified.is_empty() {
                    self.add(fm, m, exact, priority, now)?
                } else {
                    FlowModOutcome {
                        modified,
                        ..FlowModOutcome::default()
                    }
                }
            }
            FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
                let strict = fm.command == FlowModCommand::DeleteStrict;
                let mut out = FlowModOutcome::default();
                self.entries.retain(|e| {
                    let hit = if strict {
                        e.exact == exact && e.priority == priority && e.r#match == m
                    } else {
                        covers(&m, &e.r#match)
                    } && e.outputs_to(fm.out_port);
                    if hit {
                        out.removed.push(e.id);
                        if e.flags.contains(FlowModFlags::SEND_FLOW_REM) {
                            out.notifications
                                .push(e.removed(RemovedReason::Delete, now));
                        }
                    }
                    !hit
                });
                out
            }
            FlowModCommand::Unknown(c) => return Err(FlowModError::BadCommand(c)),
        };
        out.dropped_fields = dropped;
        Ok(out)
    }

    fn add(
        &mut self,
        fm: &FlowMod,
        m: Match,
        exact: bool,
        priority: u16,
        now: Duration,
    ) -> Result<FlowModOutcome, FlowModError> {
        let emergency = fm.flags.contains(FlowModFlags::EMERG);
        if emergency && (fm.idle_timeout != 0 || fm.hard_timeout != 0) {
            return Err(FlowModError::BadEmergencyTimeout {
                idle: fm.idle_timeout,
                hard: fm.hard_timeout,
            });
        }
        let list = if emergency {
            &self.emergency
        } else {
            &self.entries
        };
        let same = |e: &FlowEntry| e.exact == exact && e.priority == priority && e.r#match == m;
        let existing = list.iter().position(same);
        if fm.flags.contains(FlowModFlags::CHECK_OVERLAP) {
            if let Some(e) = list
                .iter()
                .find(|e| !same(e) && e.priority == priority && overlaps(&e.r#match, &m))
            {
                return Err(FlowModError::Overlap {
                    priority,
                    existing: e.id,
                });
            }
        }
        if let (None, Some(capacity)) = (existing, self.config.capacity) {
            if list.len() >= capacity {
                return Err(FlowModError::TableFull { capacity });
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let entry = FlowEntry {
            id: FlowId(seq),
            r#match: m,
            exact,
            priority,
            cookie: fm.cookie,
            idle_timeout: fm.idle_timeout,
            hard_timeout: fm.hard_timeout,
            flags: fm.flags,
            actions: fm.actions.to_vec(),
            installed_at: now,
            last_used: now,
            packet_count: 0,
            byte_count: 0,
            seq,
        };
        let list = if emergency {
            &mut self.emergency
        } else {
            &mut self.entries
        };
        let mut out = FlowModOutcome::default();
        if let Some(i) = existing {
            // Replaced, counters and all; no flow_removed for a replacement.
            out.removed.push(list.remove(i).id);
        }
        let key = entry.rank();
        let at = list.partition_point(|e| e.rank() < key);
        out.added.push(entry.id);
        list.insert(at, entry);
        Ok(out)
    }

    /// Find the flow a packet arriving on `in_port` would hit, without touching counters.
    pub fn lookup(&self, in_port: PortNo, pkt: &Packet) -> Option<Lookup<'_>> {
        let mut it = self.entries.iter();
        let entry = it.by_ref().find(|e| matches(&e.r#match, in_port, pkt))?;
        // Exact-match flows all have priority 65535 and come first: the flows that tie with an
        // exact-match winner are the other exact-match flows and the wildcarded flows of
        // priority 65535 (Open vSwitch does not rank exact-match flows above those).
        let ties = it
            .take_while(|e| e.priority == entry.priority)
            .filter(|e| e.actions != entry.actions && matches(&e.r#match, in_port, pkt))
            .map(|e| e.id)
            .collect();
        Some(Lookup { entry, ties })
    }

    /// Look a packet of `len` bytes up at time `now` and update the counters (table, flow,
    /// and the flow's idle timer). Returns the winning flow's id, its actions and any ties.
    /// Call [`FlowTable::expire`] with `now` first so that expired flows are gone.
    pub fn process(
        &mut self,
        in_port: PortNo,
        pkt: &Packet,
        len: u64,
        now: Duration,
    ) -> Option<(FlowId, Vec<Action>, Vec<FlowId>)> {
        self.stats.lookup_count += 1;
        let (id, ties) = {
            let l = self.lookup(in_port, pkt)?;
            (l.entry.id, l.ties)
        };
        self.stats.matched_count += 1;
        let e = self.entries.iter_mut().find(|e| e.id == id)?;
        e.packet_count += 1;
        e.byte_count += len;
        e.last_used = e.last_used.max(now);
        Some((id, e.actions.clone(), ties))
    }

    /// Remove every flow whose timeout has passed at `now`; return the flow_removed messages
    /// for those installed with `SEND_FLOW_REM`, in order of expiry. A flow whose hard and
    /// idle deadlines both passed is reported with the earlier one (hard on a tie).
    pub fn expire(&mut self, now: Duration) -> Vec<FlowRemoved> {
        let mut gone: Vec<(Duration, u64, FlowRemoved)> = Vec::new();
        self.entries.retain(|e| match e.deadline() {
            Some((at, reason)) if at <= now => {
                if e.flags.contains(FlowModFlags::SEND_FLOW_REM) {
                    gone.push((at, e.seq, e.removed(reason, at)));
                }
                false
            }
            _ => true,
        });
        gone.sort_by_key(|(at, seq, _)| (*at, *seq));
        gone.into_iter().map(|(_, _, r)| r).collect()
    }

    /// The earliest time at which some flow expires (if nothing matches it meanwhile).
    pub fn next_expiry(&self) -> Option<Duration> {
        self.entries
            .iter()
            .filter_map(|e| e.deadline().map(|d| d.0))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;
    use openflow_proto::flow_match::{ETH_TYPE_IPV4, IP_PROTO_TCP};
    use openflow_proto::{Ipv4Match, MacAddr};

    const T0: Duration = Duration::ZERO;

    fn pkt(dst: [u8; 4], dport: u16) -> Packet {
        Packet::ipv4(
            MacAddr([2, 0, 0, 0, 0, 1]),
            MacAddr([2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::from(dst),
            IP_PROTO_TCP,
            1234,
            dport,
        )
    }

    fn ip_to(net: [u8; 4], len: u8) -> Match {
        let mut m = Match::any();
        m.dl_type = Some(ETH_TYPE_IPV4);
        m.nw_dst = Ipv4Match::prefix(Ipv4Addr::from(net), len);
        m
    }

    fn out(p: u16) -> Vec<Action> {
        vec![Action::output(PortNo(p))]
    }

    fn exact_for(p: &Packet, in_port: u16) -> Match {
        Match {
            in_port: Some(PortNo(in_port)),
            dl_src: Some(p.dl_src),
            dl_dst: Some(p.dl_dst),
            dl_vlan: openflow_proto::VlanMatch::Untagged,
            dl_vlan_pcp: Some(0),
            dl_type: Some(p.dl_type),
            nw_tos: Some(p.nw_tos),
            nw_proto: Some(p.nw_proto),
            nw_src: Ipv4Match::exact(p.nw_src),
            nw_dst: Ipv4Match::exact(p.nw_dst),
            tp_src: Some(p.tp_src),
            tp_dst: Some(p.tp_dst),
        }
    }

    fn winner(t: &FlowTable, p: &Packet) -> Option<Vec<Action>> {
        t.lookup(PortNo(1), p).map(|l| l.entry.actions.clone())
    }

    #[test]
    fn priority_and_prefixes() {
        let mut t = FlowTable::new();
        t.apply(&FlowMod::add(ip_to([10, 0, 0, 0], 8), 10, out(1)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([10, 1, 0, 0], 16), 20, out(2)), T0)
            .unwrap();
        t.apply(&FlowMod::add(Match::any(), 0, vec![]), T0).unwrap();
        assert_eq!(winner(&t, &pkt([10, 1, 2, 3], 80)), Some(out(2)));
        assert_eq!(winner(&t, &pkt([10, 2, 2, 3], 80)), Some(out(1)));
        assert_eq!(winner(&t, &pkt([11, 2, 2, 3], 80)), Some(vec![]));
    }

    #[test]
    fn exact_match_beats_any_priority() {
        let mut t = FlowTable::new();
        let p = pkt([10, 0, 0, 2], 80);
        t.apply(&FlowMod::add(Match::any(), 0xffff, out(1)), T0)
            .unwrap();
        let o = t
            .apply(&FlowMod::add(exact_for(&p, 1), 1, out(2)), T0)
            .unwrap();
        assert_eq!(winner(&t, &p), Some(out(2)));
        // Open vSwitch would tie the two (both priority 65535): reported.
        assert_eq!(t.lookup(PortNo(1), &p).unwrap().ties.len(), 1);
        let e = t.get(o.added[0]).unwrap();
        assert_eq!(e.priority, EXACT_MATCH_PRIORITY);
        assert!(e.exact);
        // Strict delete finds it whatever priority it is given.
        let d = t
            .apply(&FlowMod::delete_strict(exact_for(&p, 1), 7), T0)
            .unwrap();
        assert_eq!(d.removed, o.added);
        assert_eq!(winner(&t, &p), Some(out(1)));
    }

    #[test]
    fn ties_are_reported() {
        let mut t = FlowTable::new();
        t.apply(&FlowMod::add(ip_to([10, 0, 0, 0], 8), 5, out(1)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(2)), T0)
            .unwrap();
        let l = t.lookup(PortNo(1), &pkt([10, 1, 0, 1], 1)).unwrap();
        assert_eq!(l.entry.actions, out(1), "oldest wins");
        assert_eq!(l.ties.len(), 1);
        let l = t.lookup(PortNo(1), &pkt([10, 2, 0, 1], 1)).unwrap();
        assert!(l.ties.is_empty());
    }

    #[test]
    fn add_replaces_identical_and_resets_counters() {
        let mut t = FlowTable::new();
        let m = ip_to([10, 0, 0, 0], 8);
        t.apply(&FlowMod::add(m, 5, out(1)), T0).unwrap();
        t.process(PortNo(1), &pkt([10, 0, 0, 1], 1), 60, T0)
            .unwrap();
        assert_eq!(t.entries()[0].packet_count, 1);
        // Host bits in the match do not make it different.
        let mut m2 = m;
        m2.nw_dst = Ipv4Match::from_raw(Ipv4Addr::new(10, 9, 9, 9), 24);
        t.apply(&FlowMod::add(m2, 5, out(2)), T0).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.entries()[0].packet_count, 0);
        assert_eq!(t.entries()[0].actions, out(2));
    }

    #[test]
    fn check_overlap() {
        let mut t = FlowTable::new();
        t.apply(&FlowMod::add(ip_to([10, 0, 0, 0], 8), 5, out(1)), T0)
            .unwrap();
        let mut fm = FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(2));
        fm.flags = FlowModFlags::CHECK_OVERLAP;
        assert!(matches!(
            t.apply(&fm, T0),
            Err(FlowModError::Overlap { priority: 5, .. })
        ));
        fm.priority = 6;
        t.apply(&fm, T0).unwrap();
        let mut fm = FlowMod::add(ip_to([11, 0, 0, 0], 8), 5, out(2));
        fm.flags = FlowModFlags::CHECK_OVERLAP;
        t.apply(&fm, T0).unwrap();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn modify_strict_and_not() {
        let mut t = FlowTable::new();
        t.apply(&FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(1)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([10, 2, 0, 0], 16), 6, out(1)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([11, 0, 0, 0], 8), 7, out(1)), T0)
            .unwrap();
        t.process(PortNo(1), &pkt([10, 1, 0, 1], 1), 100, T0)
            .unwrap();
        // Non-strict: every flow inside 10/8, whatever its priority.
        let mut fm = FlowMod::add(ip_to([10, 0, 0, 0], 8), 0, out(9));
        fm.command = FlowModCommand::Modify;
        fm.cookie = 42;
        let o = t.apply(&fm, T0).unwrap();
        assert_eq!(o.modified.len(), 2);
        assert!(o.added.is_empty());
        let e = t.lookup(PortNo(1), &pkt([10, 1, 0, 1], 1)).unwrap().entry;
        assert_eq!(
            (e.actions.clone(), e.cookie, e.packet_count),
            (out(9), 42, 1)
        );
        assert_eq!(winner(&t, &pkt([11, 0, 0, 1], 1)), Some(out(1)));
        // Strict with the wrong priority modifies nothing and so adds.
        let mut fm = FlowMod::add(ip_to([11, 0, 0, 0], 8), 8, out(3));
        fm.command = FlowModCommand::ModifyStrict;
        let o = t.apply(&fm, T0).unwrap();
        assert_eq!(o.added.len(), 1);
        assert_eq!(t.len(), 4);
        fm.priority = 7;
        let o = t.apply(&fm, T0).unwrap();
        assert_eq!(o.modified.len(), 1);
    }

    #[test]
    fn delete_with_out_port_filter() {
        let mut t = FlowTable::new();
        let mut a = FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(1));
        a.flags = FlowModFlags::SEND_FLOW_REM;
        a.cookie = 7;
        t.apply(&a, T0).unwrap();
        t.apply(&FlowMod::add(ip_to([10, 2, 0, 0], 16), 5, out(2)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([12, 2, 0, 0], 16), 5, out(1)), T0)
            .unwrap();
        let mut d = FlowMod::add(ip_to([10, 0, 0, 0], 8), 0, vec![]);
        d.command = FlowModCommand::Delete;
        d.out_port = PortNo(1);
        let o = t.apply(&d, Duration::from_secs(3)).unwrap();
        assert_eq!(o.removed.len(), 1);
        assert_eq!(o.notifications.len(), 1);
        assert_eq!(o.notifications[0].reason, RemovedReason::Delete);
        assert_eq!(o.notifications[0].cookie, 7);
        assert_eq!(o.notifications[0].duration, Duration::from_secs(3));
        assert_eq!(t.len(), 2);
        // Delete strict needs the identical match and priority.
        let mut ds = FlowMod::delete_strict(ip_to([10, 2, 0, 0], 16), 4);
        assert!(t.apply(&ds, T0).unwrap().removed.is_empty());
        ds.priority = 5;
        assert_eq!(t.apply(&ds, T0).unwrap().removed.len(), 1);
        // Match-all delete empties the table.
        let mut all = FlowMod::add(Match::any(), 0, vec![]);
        all.command = FlowModCommand::Delete;
        t.apply(&all, T0).unwrap();
        assert!(t.is_empty());
    }

    #[test]
    fn timeouts() {
        let mut t = FlowTable::new();
        let mut a = FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(1));
        a.idle_timeout = 10;
        a.hard_timeout = 25;
        a.flags = FlowModFlags::SEND_FLOW_REM;
        t.apply(&a, T0).unwrap();
        let mut b = FlowMod::add(ip_to([10, 2, 0, 0], 16), 5, out(1));
        b.idle_timeout = 10;
        t.apply(&b, T0).unwrap();
        let s = Duration::from_secs;
        assert_eq!(t.next_expiry(), Some(s(10)));
        t.process(PortNo(1), &pkt([10, 1, 0, 1], 1), 60, s(9))
            .unwrap();
        assert!(t.expire(s(9)).is_empty());
        // b expires silently at 10 (no SEND_FLOW_REM); a was used at 9.
        assert!(t.expire(s(10)).is_empty());
        assert_eq!(t.len(), 1);
        t.process(PortNo(1), &pkt([10, 1, 0, 1], 1), 60, s(18))
            .unwrap();
        assert!(t.expire(s(24)).is_empty());
        let r = t.expire(s(30));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reason, RemovedReason::HardTimeout);
        assert_eq!(r[0].duration, s(25));
        assert_eq!(r[0].packet_count, 2);
        assert!(t.is_empty());
        // An idle deadline before the hard one is reported as idle.
        a.hard_timeout = 100;
        t.apply(&a, s(30)).unwrap();
        let r = t.expire(s(200));
        assert_eq!(r[0].reason, RemovedReason::IdleTimeout);
        assert_eq!(r[0].duration, s(10));
    }

    #[test]
    fn errors() {
        let mut t = FlowTable::with_config(TableConfig {
            capacity: Some(1),
            strict_prerequisites: true,
        });
        let mut bad = FlowMod::add(Match::any(), 1, vec![]);
        bad.r#match.tp_dst = Some(80);
        let e = t.apply(&bad, T0).unwrap_err();
        assert!(e.to_string().contains("tp_dst"), "{e}");
        t.apply(&FlowMod::add(Match::any(), 1, vec![]), T0).unwrap();
        // Replacing the identical flow is not growth.
        t.apply(&FlowMod::add(Match::any(), 1, out(1)), T0).unwrap();
        assert_eq!(
            t.apply(&FlowMod::add(Match::any(), 2, vec![]), T0),
            Err(FlowModError::TableFull { capacity: 1 })
        );
        let mut u = FlowMod::add(Match::any(), 1, vec![]);
        u.command = FlowModCommand::Unknown(9);
        assert_eq!(t.apply(&u, T0), Err(FlowModError::BadCommand(9)));
        let mut b = FlowMod::add(Match::any(), 1, vec![]);
        b.buffer_id = 3;
        assert_eq!(t.apply(&b, T0), Err(FlowModError::BufferUnknown(3)));
        let mut em = FlowMod::add(Match::any(), 1, vec![]);
        em.flags = FlowModFlags::EMERG;
        em.idle_timeout = 1;
        assert!(matches!(
            t.apply(&em, T0),
            Err(FlowModError::BadEmergencyTimeout { idle: 1, hard: 0 })
        ));
        em.idle_timeout = 0;
        t.apply(&em, T0).unwrap();
        assert_eq!(t.emergency_entries().len(), 1);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn lenient_prerequisites_drop_fields() {
        let mut t = FlowTable::new();
        let mut m = Match::any();
        m.tp_dst = Some(80);
        let o = t.apply(&FlowMod::add(m, 1, out(1)), T0).unwrap();
        assert_eq!(o.dropped_fields, vec![DroppedField::TpDst]);
        assert_eq!(winner(&t, &pkt([1, 2, 3, 4], 81)), Some(out(1)));
    }

    #[test]
    fn flow_stats_and_round_trip() {
        let mut t = FlowTable::new();
        let mut a = FlowMod::add(ip_to([10, 1, 0, 0], 16), 5, out(1));
        a.idle_timeout = 3;
        a.cookie = 9;
        t.apply(&a, T0).unwrap();
        t.apply(&FlowMod::add(ip_to([10, 2, 0, 0], 16), 5, out(2)), T0)
            .unwrap();
        t.apply(&FlowMod::add(ip_to([11, 0, 0, 0], 8), 5, out(2)), T0)
            .unwrap();
        assert_eq!(t.flow_stats(&Match::any(), PortNo::NONE).len(), 3);
        assert_eq!(
            t.flow_stats(&ip_to([10, 0, 0, 0], 8), PortNo::NONE).len(),
            2
        );
        assert_eq!(t.flow_stats(&ip_to([10, 0, 0, 0], 8), PortNo(2)).len(), 1);
        let e = t.flow_stats(&ip_to([10, 1, 0, 0], 16), PortNo::NONE)[0];
        assert_eq!(e.to_flow_mod(), a);
    }

    #[test]
    fn stats_count_lookups() {
        let mut t = FlowTable::new();
        t.apply(&FlowMod::add(ip_to([10, 0, 0, 0], 8), 1, out(1)), T0)
            .unwrap();
        assert!(t
            .process(PortNo(1), &pkt([9, 0, 0, 1], 1), 60, T0)
            .is_none());
        assert!(t
            .process(PortNo(1), &pkt([10, 0, 0, 1], 1), 60, T0)
            .is_some());
        assert_eq!(
            t.stats(),
            TableStats {
                lookup_count: 2,
                matched_count: 1
            }
        );
    }
}
