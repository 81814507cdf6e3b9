//! From the flows installed on a switch to the flows it should have: the flow_mods to send.
//!
//! Flows are identified as OpenFlow identifies them, by priority and match. A desired flow
//! that is not installed, or installed with other actions, cookie, timeouts or flags, is
//! (re)installed with `OFPFC_ADD` (which replaces a flow of identical priority and match in
//! one step, so the traffic it carries never sees a gap); an installed flow that is not
//! desired is removed with `OFPFC_DELETE_STRICT`. All adds come before all deletes, so that a
//! connection moving from an old flow to a new one is never without a flow. Unchanged flows
//! produce nothing.
//!
//! To resynchronise a switch that reconnects, diff its flow dump (minus the pinholes, see
//! [`crate::compile::cookie::is_pinhole`]) against the compiled table: OpenFlow 1.0 cannot
//! delete by cookie, so the controller keeps the installed set itself.

use crate::compile::{packed_key, Flow, FxBuild, Tables};
use crate::model::Dpid;
use openflow_proto::FlowMod;
use std::collections::{BTreeSet, HashMap, HashSet};

/// A flow_mod for one switch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// The switch.
    pub switch: Dpid,
    /// The flow_mod.
    pub flow_mod: FlowMod,
}

/// The flow_mods that turn `installed` into `desired`: adds (in `desired`'s order), then
/// deletes (in `installed`'s order).
pub fn diff(installed: &[Flow], desired: &[Flow]) -> Vec<FlowMod> {
    let mut old: HashMap<[u64; 6], &Flow, FxBuild> =
        HashMap::with_capacity_and_hasher(installed.len(), FxBuild::default());
    for f in installed {
        old.entry(packed_key(f.priority, &f.r#match)).or_insert(f);
    }
    let mut keep: HashSet<[u64; 6], FxBuild> =
        HashSet::with_capacity_and_hasher(desired.len(), FxBuild::default());
    let mut out = Vec::new();
    for f in desired {
        let key = packed_key(f.priority, &f.r#match);
        if !keep.insert(key) {
            continue;
        }
        match old.get(&key) {
            Some(o) if *o == f => {}
            _ => out.push(f.to_add()),
        }
    }
    let mut deleted: HashSet<[u64; 6], FxBuild> = HashSet::default();
    for f in installed {
        let key = packed_key(f.priority, &f.r#match);
        if !keep.contains(&key) && deleted.insert(key) {
            out.push(f.to_delete());
        }
    }
    out
}

/// [`diff`] for every switch of two sets of tables (a switch missing on one side has an
/// empty table there). Switches in datapath-id order.
pub fn diff_tables(installed: &Tables, desired: &Tables) -> Vec<Update> {
    let switches: BTreeSet<Dpid> = installed.keys().chain(desired.keys()).copied().collect();
    let empty: Vec<Flow> = Vec::new();
    let mut out = Vec::new();
    for d in switches {
        let old = installed.get(&d).unwrap_or(&empty);
        let new = desired.get(&d).unwrap_or(&empty);
        out.extend(diff(old, new).into_iter().map(|flow_mod| Update {
            switch: d,
            flow_mod,
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow_proto::{Action, FlowModCommand, Match, PortNo};
    use std::sync::Arc;

    fn flow(port: u16, prio: u16, out: u16) -> Flow {
        let mut m = Match::any();
        m.in_port = Some(PortNo(port));
        Flow::new(prio, m, Arc::from(vec![Action::output(PortNo(out))]), 7)
    }

    #[test]
    fn adds_before_deletes_and_unchanged_untouched() {
        let installed = vec![flow(1, 10, 2), flow(2, 10, 3), flow(3, 10, 4)];
        let desired = vec![flow(1, 10, 2), flow(2, 10, 5), flow(4, 10, 4)];
        let mods = diff(&installed, &desired);
        let cmds: Vec<(FlowModCommand, Option<PortNo>)> = mods
            .iter()
            .map(|m| (m.command, m.r#match.in_port))
            .collect();
        assert_eq!(
            cmds,
            vec![
                // Changed actions: replaced in place by an add.
                (FlowModCommand::Add, Some(PortNo(2))),
                (FlowModCommand::Add, Some(PortNo(4))),
                (FlowModCommand::DeleteStrict, Some(PortNo(3))),
            ]
        );
        assert_eq!(mods[0].actions, vec![Action::output(PortNo(5))]);
        assert_eq!(mods[2].priority, 10);
        assert!(diff(&installed, &installed).is_empty());
    }

    #[test]
    fn priority_is_part_of_the_identity_and_tables_diff_per_switch() {
        let installed = vec![flow(1, 10, 2)];
        let desired = vec![flow(1, 11, 2)];
        let mods = diff(&installed, &desired);
        assert_eq!(mods.len(), 2);
        assert_eq!(mods[0].command, FlowModCommand::Add);
        assert_eq!(mods[1].command, FlowModCommand::DeleteStrict);
        let a: Tables = [(1, installed.clone()), (2, installed.clone())].into();
        let b: Tables = [(1, installed.clone()), (3, desired)].into();
        let u = diff_tables(&a, &b);
        assert_eq!(
            u.iter()
                .map(|u| (u.switch, u.flow_mod.command))
                .collect::<Vec<_>>(),
            vec![(2, FlowModCommand::DeleteStrict), (3, FlowModCommand::Add)]
        );
        // Duplicates in the desired table are added once.
        assert_eq!(diff(&[], &[flow(1, 1, 1), flow(1, 1, 1)]).len(), 1);
    }

    fn arb_table() -> impl proptest::strategy::Strategy<Value = Vec<Flow>> {
        use proptest::prelude::*;
        proptest::collection::vec((1u16..5, 0u16..3, 1u16..4, any::<bool>()), 0..12).prop_map(|v| {
            let mut seen = std::collections::HashSet::new();
            v.into_iter()
                .filter(|(port, prio, _, _)| seen.insert((*port, *prio)))
                .map(|(port, prio, out, cookie)| {
                    let mut f = flow(port, 10 + prio, out);
                    f.cookie = u64::from(cookie);
                    f
                })
                .collect()
        })
    }

    fn contents(t: &crate::sim::FlowTable) -> Vec<(u16, Option<PortNo>, Vec<Action>, u64)> {
        let mut v: Vec<_> = t
            .entries()
            .iter()
            .map(|e| (e.priority, e.r#match.in_port, e.actions.clone(), e.cookie))
            .collect();
        v.sort_by_key(|x| format!("{x:?}"));
        v
    }

    proptest::proptest! {
        /// Applying the diff to a switch that holds `installed` leaves exactly `desired`, and
        /// at no point between the first and the last flow_mod is a flow that both tables
        /// share missing.
        #[test]
        fn applying_the_diff_yields_the_desired_table(installed in arb_table(), desired in arb_table()) {
            let mut t = crate::sim::FlowTable::new();
            let now = core::time::Duration::ZERO;
            for f in &installed {
                t.apply(&f.to_add(), now).unwrap();
            }
            let shared: Vec<_> = desired
                .iter()
                .filter(|d| installed.iter().any(|i| i.key() == d.key()))
                .map(|d| d.key())
                .collect();
            for fm in diff(&installed, &desired) {
                t.apply(&fm, now).unwrap();
                for k in &shared {
                    proptest::prop_assert!(t.find_strict(&k.1, k.0).is_some());
                }
            }
            let mut want = crate::sim::FlowTable::new();
            for f in &desired {
                want.apply(&f.to_add(), now).unwrap();
            }
            proptest::prop_assert_eq!(contents(&t), contents(&want));
        }
    }
}
