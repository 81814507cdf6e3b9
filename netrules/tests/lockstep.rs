//! Random models and random traces: the simulated network running the compiled flows and the
//! controller's pinhole decisions delivers exactly what the reference model says, with the
//! same headers, for every packet; the tables keep their invariants; and after every model
//! change the incrementally updated tables equal a full recompile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Lockstep;
use netrules::compile::CompileOptions;
use netrules::strategies::{model, scenario};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn simulation_agrees_with_the_reference((model, steps) in scenario(40)) {
        let mut l = Lockstep::new(model, CompileOptions::default());
        for s in &steps {
            l.step(s);
        }
    }

    /// A tiny port budget sends most ranged permissions down the reactive path.
    #[test]
    fn simulation_agrees_with_a_tiny_port_budget((model, steps) in scenario(30)) {
        let opts = CompileOptions { port_budget: 2, ..CompileOptions::default() };
        let mut l = Lockstep::new(model, opts);
        for s in &steps {
            l.step(s);
        }
    }

    #[test]
    fn compiled_tables_keep_their_invariants(m in model()) {
        for (dpid, flows) in netrules::compile(&m, &CompileOptions::default()) {
            prop_assert!(netrules::check_invariants(&flows).is_ok(), "switch {}", dpid);
            for f in &flows {
                prop_assert!(netrules::sim::matching::normalize(&f.r#match).1.is_empty(),
                    "switch {}: unmet prerequisites in {:?}", dpid, f);
            }
        }
    }
}
