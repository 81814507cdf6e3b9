//! The controller's speed under real conditions (`examples::speed`), each next to a baseline
//! measured in the same run:
//!
//! - elastic IP move across hypervisors, EC2 API call to the first packet at the new instance,
//!   through real Open vSwitch (goal < 100 ms), against the same flow changes and gratuitous ARP
//!   applied with `ovs-ofctl`;
//! - authorize to the port open and revoke to the port closed (goal < 50 ms), likewise;
//! - flow installation for 10k instances at start-up, against `ovs-ofctl add-flows` of the same
//!   flows and against the same flow_mods pre-encoded and written at once (how fast Open vSwitch
//!   takes them);
//! - EC2 API requests per second with signature verification, against moto's server.
//!
//! Needs root, Open vSwitch, the `netns-probe` binary next to the bench's directory (`cargo
//! build --release -p examples --bin netns-probe` before `cargo bench`; `cargo test` builds it
//! for the test profile) and `OVS_EC2_PYTHON` naming a Python with moto[server]
//! (`scripts/test.sh` sets it up). A missing prerequisite fails the run, naming it.
//!
//! `cargo bench -p benches --bench speed` runs the full measurement (`SPEED_ITERATIONS`,
//! `SPEED_INSTANCES`, `SPEED_SECONDS`, `SPEED_ONLY=eip-move,rules,startup,api` override);
//! without `--bench` (as under `cargo test --benches`) it is a smoke run: two changes of each
//! kind, 200 instances, a fraction of a second of API load.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use examples::speed::{api, dataplane, print_table, startup, Row};

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let only = std::env::var("SPEED_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    let (iterations, instances, runs, seconds, clients) = if full {
        (
            env_or("SPEED_ITERATIONS", 20usize),
            env_or("SPEED_INSTANCES", 10_000usize),
            3,
            env_or("SPEED_SECONDS", 3.0f64),
            8,
        )
    } else {
        (2, 200, 1, 0.3, 2)
    };
    let data = dataplane::Options {
        iterations,
        ..dataplane::Options::default()
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut run = |name: &str, f: &dyn Fn() -> Result<Vec<Row>, examples::speed::SpeedError>| {
        if wanted(name) {
            match f() {
                Ok(r) => rows.extend(r),
                Err(e) => panic!("speed {name}: {e}"),
            }
        }
    };
    run("eip-move", &|| dataplane::eip_move(&data));
    run("rules", &|| dataplane::rules(&data));
    run("startup", &|| {
        startup::startup(&startup::Options {
            instances,
            runs,
            relay: false,
        })
    });
    run("api", &|| {
        api::api(&api::Options {
            duration: Duration::from_secs_f64(seconds),
            clients,
        })
    });
    // A run that measured nothing must not pass for one that did.
    assert!(!rows.is_empty(), "SPEED_ONLY={only:?} selected nothing");
    for r in &rows {
        assert!(r.ratio.is_finite() && r.ratio > 0.0, "{r:?}");
    }
    print_table(
        &format!(
            "speed{}: median / p90 (n); ratio = result / baseline (medians; rates: ours / theirs)",
            if full { "" } else { " (smoke run)" }
        ),
        &rows,
    );
}
