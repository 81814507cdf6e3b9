//! The incremental compiler: after any sequence of model changes, the flow_mods it emits turn
//! the installed tables into exactly the full compilation of the new model; per switch, every
//! add comes before any delete; and flows that stay the same are not touched.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;
use netrules::compile::{compile, CompileOptions, Compiler, Tables};
use netrules::sim::matching::normalize;
use netrules::sim::FlowTable;
use netrules::strategies::{changes, model};
use openflow_proto::{FlowMod, FlowModCommand};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn canon(fm: &FlowMod) -> String {
    let mut fm = fm.clone();
    fm.r#match = normalize(&fm.r#match).0;
    fm.command = FlowModCommand::Add;
    format!("{fm:?}")
}

fn installed(tables: &BTreeMap<u64, FlowTable>) -> BTreeMap<u64, BTreeSet<String>> {
    tables
        .iter()
        .map(|(d, t)| {
            (
                *d,
                t.entries()
                    .iter()
                    .map(|e| canon(&e.to_flow_mod()))
                    .collect(),
            )
        })
        .collect()
}

fn wanted(tables: &Tables) -> BTreeMap<u64, BTreeSet<String>> {
    tables
        .iter()
        .map(|(d, flows)| (*d, flows.iter().map(|f| canon(&f.to_add())).collect()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn incremental_updates_equal_full_recompile(
        (m, cs) in model().prop_flat_map(|m| { let c = changes(&m, 10); (Just(m), c) })
    ) {
        let opts = CompileOptions::default();
        let mut m = m;
        let mut compiler = Compiler::new(&m, opts);
        let mut tables: BTreeMap<u64, FlowTable> = BTreeMap::new();
        for (d, flows) in compile(&m, &opts) {
            let t = tables.entry(d).or_default();
            for f in flows {
                t.apply(&f.to_add(), Duration::ZERO).unwrap();
            }
        }
        for c in &cs {
            let before = installed(&tables);
            let Ok(touched) = c.apply(&mut m) else { continue };
            let updates = compiler.update(&m, &touched);
            // Adds before deletes, per switch.
            let mut deleting: BTreeSet<u64> = BTreeSet::new();
            for u in &updates {
                let is_delete = matches!(u.flow_mod.command, FlowModCommand::Delete | FlowModCommand::DeleteStrict);
                if is_delete {
                    deleting.insert(u.switch);
                } else {
                    prop_assert!(!deleting.contains(&u.switch), "{:?}: add after a delete on switch {}", c, u.switch);
                }
            }
            for u in &updates {
                let t = tables.entry(u.switch).or_default();
                t.apply(&u.flow_mod, Duration::ZERO).unwrap();
            }
            let after = installed(&tables);
            let full = wanted(&compile(&m, &opts));
            let nonempty = |x: BTreeMap<u64, BTreeSet<String>>| -> BTreeMap<u64, BTreeSet<String>> {
                x.into_iter().filter(|(_, s)| !s.is_empty()).collect()
            };
            prop_assert_eq!(nonempty(after.clone()), nonempty(full.clone()), "after {:?}", c);
            // Untouched: no add of a flow that was installed and stays, no delete of a flow
            // that stays.
            for u in &updates {
                let key = canon(&u.flow_mod);
                let was = before.get(&u.switch).is_some_and(|s| s.contains(&key));
                let stays = full.get(&u.switch).is_some_and(|s| s.contains(&key));
                let is_delete = matches!(u.flow_mod.command, FlowModCommand::Delete | FlowModCommand::DeleteStrict);
                if !is_delete {
                    prop_assert!(!(was && stays), "{:?}: re-added an unchanged flow {}", c, key);
                }
            }
        }
    }
}
