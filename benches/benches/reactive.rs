//! The controller's reactive path under a cbench-style load, against a do-nothing responder
//! in the same run (`examples::loadgen`).
//!
//! Emulated switches connect over loopback TCP and send packet_ins, each the first packet of
//! a new outbound TCP connection of one of their instances; the real controller (the tokio
//! shell around `examples::core`, on a runtime of one worker thread) decides it from the
//! model, installs two pinholes and sends the packet on. The baseline is
//! `examples::loadgen::responder`, which only answers each packet_in with a packet_out
//! (same libraries, same runtime shape). Reported: responses per second of each, in
//! throughput mode (64 outstanding per switch) and latency mode (one at a time), and the
//! ratio controller / responder. Goal: 0.5 or better.
//!
//! `cargo bench -p benches --bench reactive` runs 3 rounds of 2 s per measurement with 16
//! switches (`REACTIVE_ROUNDS`, `REACTIVE_SECONDS`, `REACTIVE_SWITCHES` override); each round
//! measures the controller then the responder, and the medians over the rounds are
//! reported (the machine is shared: rounds differ). `REACTIVE_MODE=throughput` or
//! `latency` runs one mode only. Without `--bench` (as under `cargo test --benches`) it is a
//! smoke run of a few hundred milliseconds.
//!
//! Next to the rates, each mode reports how busy the serving threads were within the window
//! (`ctl busy`, `resp busy`: their time on a CPU, from `/proc`), how busy the load generator
//! was in the responder's run (`load busy*`), and `cpu ratio`: the responder's CPU time per
//! response over the controller's, the cost ratio of the two whatever bounds their rates.
//! A responder well below 100% busy while the load generator is near it was bounded by the
//! load generator: its rate is the load generator's ceiling, not its own.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use examples::loadgen::{compare, CompareConfig, LoadConfig, Mode};
use std::time::Duration;

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
    let (switches, seconds, rounds) = if full {
        (
            env_or("REACTIVE_SWITCHES", 16u32),
            env_or("REACTIVE_SECONDS", 2.0f64),
            env_or("REACTIVE_ROUNDS", 3usize).max(1),
        )
    } else {
        (2, 0.05, 1)
    };
    let duration = Duration::from_secs_f64(seconds);
    println!(
        "reactive: {switches} switches x 4 instances, {rounds} rounds of {seconds} s per run{}",
        if full { "" } else { " (smoke run)" }
    );
    println!(
        "{:<22} {:>14} {:>14} {:>8} {:>12} {:>12} {:>9} {:>9} {:>10} {:>10}",
        "mode",
        "controller/s",
        "responder/s",
        "ratio",
        "ctl p50 us",
        "ctl p99 us",
        "ctl busy",
        "resp busy",
        "load busy*",
        "cpu ratio"
    );
    let only = std::env::var("REACTIVE_MODE").ok();
    let modes = [Mode::Throughput { window: 64 }, Mode::Latency];
    let chosen = |m: &Mode| match (only.as_deref(), m) {
        (None | Some("both"), _) => true,
        (Some("throughput"), Mode::Throughput { .. }) | (Some("latency"), Mode::Latency) => true,
        (Some("throughput" | "latency"), _) => false,
        (Some(other), _) => panic!("REACTIVE_MODE={other:?}: expected throughput, latency or both"),
    };
    for mode in modes.into_iter().filter(chosen) {
        let cfg = CompareConfig {
            switches,
            instances: 4,
            load: LoadConfig {
                mode,
                duration,
                ..LoadConfig::default()
            },
        };
        let mut runs = Vec::new();
        for _ in 0..rounds {
            let c = compare(&cfg).unwrap();
            // A run that went wrong must not print a number.
            for r in [&c.controller, &c.responder] {
                let t = &r.totals;
                assert_eq!(t.errors + t.malformed + t.mismatched_packet_outs, 0, "{r}");
                assert!(r.window.responses > 0, "{r}");
                assert_eq!(r.outstanding, 0, "{r}");
            }
            assert_eq!(
                c.controller.totals.pinhole_adds,
                2 * c.controller.totals.responses
            );
            if full {
                println!("  {}", c.to_string().replace('\n', "\n  "));
            }
            runs.push(c);
        }
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let ctl = median(
            runs.iter()
                .map(|c| c.controller.responses_per_sec())
                .collect(),
        );
        let resp = median(
            runs.iter()
                .map(|c| c.responder.responses_per_sec())
                .collect(),
        );
        let us = |q: f64| {
            median(
                runs.iter()
                    .map(|c| {
                        c.controller
                            .latency
                            .quantile(q)
                            .map_or(0.0, |d| d.as_secs_f64() * 1e6)
                    })
                    .collect(),
            )
        };
        // How busy each side's serving thread was, and the load generator in the
        // responder's run (the asterisk): a baseline whose thread idles while the load
        // generator is near 100% is bounded by the load generator, not by itself.
        let pct = |f: &dyn Fn(&examples::loadgen::Comparison) -> Option<f64>| {
            median(runs.iter().map(|c| f(c).unwrap_or(f64::NAN)).collect())
        };
        // The responder's CPU time per response over the controller's: the cost ratio of
        // the two on their own threads, whatever bounds their rates.
        let cpu_ratio = pct(&|c| {
            let a = c.controller.server_cpu_per_response()?.as_secs_f64();
            let b = c.responder.server_cpu_per_response()?.as_secs_f64();
            (a > 0.0).then(|| b / a)
        });
        println!(
            "{:<22} {:>14.0} {:>14.0} {:>8.3} {:>12.1} {:>12.1} {:>8.0}% {:>8.0}% {:>9.0}% {:>10.3}",
            mode.to_string(),
            ctl,
            resp,
            ctl / resp,
            us(0.5),
            us(0.99),
            pct(&|c| c.controller.server_busy()),
            pct(&|c| c.responder.server_busy()),
            pct(&|c| c.responder.load_busy()),
            cpu_ratio,
        );
    }
}
