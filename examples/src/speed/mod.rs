//! Speed measurements of the whole controller under real conditions, each next to a baseline
//! measured in the same run (the `ovs-ec2-speed` binary and `benches/benches/speed.rs`):
//!
//! - [`dataplane::eip_move`]: an elastic IP moved between hypervisors through the EC2 API, from
//!   the call to the first packet delivered to the new instance, through real Open vSwitch
//!   (the [`testbed`](crate::testbed)); next to the same move made through the controller's
//!   handle (no HTTP, no signature), and the same flow changes and gratuitous ARP applied with
//!   `ovs-ofctl` (the baseline), all observed by the same traffic probe.
//! - [`dataplane::rules`]: authorize to the port open, revoke to the port closed, the same three
//!   ways.
//! - [`startup::startup`]: a fresh bridge filled with the compiled flows of many instances by the
//!   controller on connect (to its barrier reply), next to the same flow_mods pre-encoded and
//!   written at once to another fresh bridge (Open vSwitch's own pace) and `ovs-ofctl
//!   add-flows` of the same flows.
//! - [`api::api`]: EC2 API requests per second with signature verification, next to moto's
//!   server (`moto_server`) on the same machine, driven by the same client with the same
//!   signed requests.
//!
//! Each returns [`Row`]s: a result, a baseline and their ratio; [`print_table`] prints them.
//! Everything here needs root and Open vSwitch (the data-plane and start-up measurements) or
//! a Python with moto (the API measurement): a missing prerequisite is an error naming it.

pub mod api;
pub mod dataplane;
pub mod http;
pub mod startup;

use std::fmt;
use std::time::Duration;

use crate::testbed::TestbedError;

/// Something that stopped a measurement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpeedError {
    /// The test bed (Open vSwitch, namespaces, probes) failed.
    #[error("test bed: {0}")]
    Testbed(#[from] TestbedError),
    /// The controller could not start.
    #[error("controller: {0}")]
    Controller(String),
    /// An EC2 API call did not answer as expected.
    #[error("{server}: {action} answered {status}: {body}")]
    Api {
        /// Which server (`controller`, `moto`).
        server: String,
        /// The action.
        action: String,
        /// The HTTP status.
        status: u16,
        /// The body (truncated).
        body: String,
    },
    /// A response lacked a field the measurement needs.
    #[error("{action}: no <{field}> in the response: {body}")]
    MissingField {
        /// The action.
        action: String,
        /// The XML element.
        field: String,
        /// The body (truncated).
        body: String,
    },
    /// An HTTP exchange failed.
    #[error("HTTP to {addr}: {what}: {source}")]
    Http {
        /// The server.
        addr: std::net::SocketAddr,
        /// What was being done.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// An HTTP response could not be understood.
    #[error("HTTP from {addr}: malformed response: {detail}")]
    BadResponse {
        /// The server.
        addr: std::net::SocketAddr,
        /// What was wrong.
        detail: String,
    },
    /// A model change was refused.
    #[error("model: {0}")]
    Model(#[from] netrules::model::ModelError),
    /// Something expected did not happen in time.
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        timeout: Duration,
    },
    /// A prerequisite (a program, a Python package) is missing.
    #[error("prerequisite missing: {0}")]
    Prerequisite(String),
    /// A local file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command failed.
    #[error("`{command}` failed: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its standard error.
        detail: String,
    },
}

/// Order statistics of a set of latencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Number of samples.
    pub count: usize,
    /// Smallest.
    pub min: Duration,
    /// Median (the lower middle of an even count).
    pub median: Duration,
    /// 90th percentile (nearest rank).
    pub p90: Duration,
    /// Largest.
    pub max: Duration,
}

impl Stats {
    /// The statistics of `samples`; `None` when there are none.
    pub fn of(samples: &[Duration]) -> Option<Stats> {
        let mut s = samples.to_vec();
        s.sort_unstable();
        let last = s.len().checked_sub(1)?;
        let rank = |q: f64| -> Duration {
            // Nearest rank: the smallest sample with at least q of the samples at or below it.
            let r = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
            s.get(r - 1).copied().unwrap_or_default()
        };
        Some(Stats {
            count: s.len(),
            min: s.first().copied().unwrap_or_default(),
            median: s.get(last / 2).copied().unwrap_or_default(),
            p90: rank(0.9),
            max: s.get(last).copied().unwrap_or_default(),
        })
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} / {} ms (n={})",
            ms(self.median),
            ms(self.p90),
            self.count
        )
    }
}

/// Milliseconds with one decimal.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

/// One line of a result table: what was measured, the result, the baseline measured in the
/// same run, and result / baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The result, with its unit.
    pub result: String,
    /// The baseline, with its unit.
    pub baseline: String,
    /// result / baseline (for rates: result rate / baseline rate).
    pub ratio: f64,
    /// The goal and whether it is met, or other remarks.
    pub note: String,
}

/// The ratio of two durations (`NaN` when the baseline is zero).
pub fn ratio(result: Duration, baseline: Duration) -> f64 {
    result.as_secs_f64() / baseline.as_secs_f64()
}

/// Prints rows as an aligned table on standard output.
pub fn print_table(title: &str, rows: &[Row]) {
    println!("{title}");
    let w0 = rows
        .iter()
        .map(|r| r.what.len())
        .chain([4])
        .max()
        .unwrap_or(4);
    let w1 = rows
        .iter()
        .map(|r| r.result.len())
        .chain([6])
        .max()
        .unwrap_or(6);
    let w2 = rows
        .iter()
        .map(|r| r.baseline.len())
        .chain([8])
        .max()
        .unwrap_or(8);
    println!(
        "{:<w0$}  {:>w1$}  {:>w2$}  {:>7}  note",
        "what", "result", "baseline", "ratio"
    );
    for r in rows {
        println!(
            "{:<w0$}  {:>w1$}  {:>w2$}  {:>7.2}  {}",
            r.what, r.result, r.baseline, r.ratio, r.note
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_are_order_statistics() {
        let d = |n: u64| Duration::from_millis(n);
        let s = Stats::of(&(1..=20).rev().map(d).collect::<Vec<_>>()).unwrap();
        assert_eq!((s.count, s.min, s.max), (20, d(1), d(20)));
        assert_eq!(s.median, d(10));
        assert_eq!(s.p90, d(18));
        let one = Stats::of(&[d(7)]).unwrap();
        assert_eq!((one.median, one.p90), (d(7), d(7)));
        assert!(Stats::of(&[]).is_none());
    }
}
