//! Operations: Prometheus metrics at `GET /metrics` and a health check at `GET /health`,
//! served on the EC2 API's address next to the API (which answers at `/` and
//! `/services/compute`, so the paths do not collide).
//!
//! Metrics come from two places:
//!
//! - **API calls**, recorded as they are answered by a layer around the API's routes:
//!   `ovs_ec2_api_requests_total{action,outcome}` (outcome `ok` or the EC2 error code; action
//!   `none` when the request was refused before it was parsed: bad signature, too large...),
//!   `ovs_ec2_api_request_duration_seconds{action}` (a histogram) and
//!   `ovs_ec2_api_requests_in_flight`. The API handler says which action and outcome a
//!   response carries with the [`ApiAction`] and [`ApiOutcome`] response extensions; labels
//!   only ever take values from those fixed sets, so a client cannot grow the series.
//! - **The controller core**, read at each scrape through [`Handle::inspect`]: switches
//!   connected and ready, flows compiled for them, tracked connections (pinholes), packet_in,
//!   packet_out, flow_mod and barrier counts, errors from switches, malformed messages,
//!   reconciliations, tracked connections evicted, unsolicited stats replies, and the model's instances, elastic IPs and security groups;
//!   `ovs_ec2_switch_up{dpid}` for every switch of the model or connected (1 when reconciled),
//!   so that an alert can name the hypervisor that is away; and the public address pool's size
//!   and free addresses. Rates (packet_ins per second...) are Prometheus' `rate()` over the
//!   counters.
//!
//! The text is Prometheus' exposition format 0.0.4 (`text/plain; version=0.0.4`), which every
//! Prometheus-compatible scraper reads. Neither endpoint needs a signature: bind the API to
//! an address only the operator's network reaches (it is `127.0.0.1:8773` by default).
//!
//! `/health` answers `200` with `{"status":"ok", "switches_connected": .., ...}` while the
//! controller core answers within [`HEALTH_TIMEOUT`], and `503` with
//! `{"status":"unavailable", "reason": ..}` otherwise.

use crate::core::Controller;
use crate::shell::Handle;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::{prometheus_text, EncodeLabelSet};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The path of the metrics.
pub const METRICS_PATH: &str = "/metrics";
/// The path of the health check.
pub const HEALTH_PATH: &str = "/health";
/// How long a scrape or a health check waits for the controller core.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// The content type of the metrics (Prometheus text format 0.0.4).
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Response extension: the EC2 action a response answered (absent when the request was
/// refused before it was parsed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiAction(pub &'static str);

/// Response extension: the outcome of an API call, `"ok"` or the EC2 error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiOutcome(pub &'static str);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    action: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabel {
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DpidLabel {
    dpid: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

fn latency_histogram() -> Histogram {
    // 0.25 ms to about 8 s, doubling.
    Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
}

/// The API's metrics, and the controller handle the core's are read from.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    latency: Family<ActionLabel, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    handle: Handle,
    started: Instant,
    pool: BTreeSet<Ipv4Addr>,
}

/// What the controller core reports at one instant (see [`Metrics::core_snapshot`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CoreSnapshot {
    /// Switches whose handshake is done.
    pub switches_connected: usize,
    /// Of those, switches whose flows are reconciled.
    pub switches_ready: usize,
    /// Flows compiled from the model, all switches together (pinholes not included).
    pub flows: usize,
    /// Tracked connections (each has a pinhole flow per direction).
    pub pinholes: usize,
    /// Instances in the model.
    pub instances: usize,
    /// Elastic IPs allocated.
    pub elastic_ips: usize,
    /// Of those, associated with an instance.
    pub elastic_ips_associated: usize,
    /// Security groups.
    pub security_groups: usize,
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
    /// Undecodable messages received.
    pub malformed: u64,
    /// Reconciliations done.
    pub reconciliations: u64,
    /// Tracked connections forgotten because a switch reached its tracking bound.
    pub tracking_evicted: u64,
    /// Stats replies that answered no request of ours (dropped).
    pub unsolicited: u64,
    /// Every switch of the model or connected, by datapath id (16 hex digits): whether its
    /// flows are reconciled.
    pub switches: BTreeMap<String, bool>,
    /// The allocated elastic IPs (to count the pool's free addresses).
    #[serde(skip)]
    pub allocated: BTreeSet<Ipv4Addr>,
}

impl CoreSnapshot {
    /// Read it from the controller.
    pub fn of(c: &Controller) -> CoreSnapshot {
        let switches = c.switches();
        let model = c.model();
        let counters = c.counters();
        CoreSnapshot {
            switches_connected: switches.len(),
            switches_ready: switches.keys().filter(|d| c.is_ready(**d)).count(),
            flows: c.flow_count(),
            pinholes: c.pinholes().len(),
            instances: model.instances().len(),
            elastic_ips: model.elastic_ips().len(),
            elastic_ips_associated: model
                .elastic_ips()
                .values()
                .filter(|e| e.instance.is_some())
                .count(),
            security_groups: model.groups().len(),
            packet_ins: counters.packet_ins,
            packet_outs: counters.packet_outs,
            flow_mods: counters.flow_mods,
            barriers: counters.barriers,
            switch_errors: counters.switch_errors,
            malformed: counters.malformed,
            reconciliations: counters.reconciliations,
            tracking_evicted: counters.tracking_evicted,
            unsolicited: counters.unsolicited,
            switches: model
                .switches()
                .keys()
                .chain(switches.keys())
                .map(|d| (format!("{d:016x}"), c.is_ready(*d)))
                .collect(),
            allocated: model.elastic_ips().keys().copied().collect(),
        }
    }
}

/// Why the core could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoreUnavailable {
    /// The core task has stopped.
    #[error("the controller core has stopped")]
    Stopped,
    /// The core did not answer in time.
    #[error("the controller core did not answer within {0:?}")]
    Timeout(Duration),
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Metrics {
    /// Metrics for the controller behind `handle`.
    pub fn new(handle: Handle) -> Metrics {
        let mut registry = Registry::with_prefix("ovs_ec2");
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "api_requests",
            "EC2 API requests answered, by action and outcome (ok or the EC2 error code)",
            calls.clone(),
        );
        let latency = Family::<ActionLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "api_request_duration_seconds",
            "Time from receiving an EC2 API request to its answer (a change's answer waits for the switches' barriers)",
            latency.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "api_requests_in_flight",
            "EC2 API requests being answered",
            in_flight.clone(),
        );
        let build = Family::<VersionLabel, Gauge>::default();
        build
            .get_or_create(&VersionLabel {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register("build_info", "The controller's version", build);
        let start_time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        registry.register(
            "start_time_seconds",
            "When the controller started, seconds since the Unix epoch",
            ConstGauge::new(start_time),
        );
        Metrics {
            registry,
            calls,
            latency,
            in_flight,
            handle,
            started: Instant::now(),
            pool: BTreeSet::new(),
        }
    }

    /// Report this public address pool's size and free addresses (builder style).
    pub fn with_pool(mut self, pool: BTreeSet<Ipv4Addr>) -> Metrics {
        self.pool = pool;
        self
    }

    /// Record one answered API call.
    pub fn record_call(&self, action: &'static str, outcome: &'static str, took: Duration) {
        self.calls
            .get_or_create(&CallLabels { action, outcome })
            .inc();
        self.latency
            .get_or_create(&ActionLabel { action })
            .observe(took.as_secs_f64());
    }

    /// Read the controller core, waiting at most [`HEALTH_TIMEOUT`].
    pub async fn core_snapshot(&self) -> Result<CoreSnapshot, CoreUnavailable> {
        match tokio::time::timeout(HEALTH_TIMEOUT, self.handle.inspect(CoreSnapshot::of)).await {
            Ok(Ok(s)) => Ok(s),
            Ok(Err(_)) => Err(CoreUnavailable::Stopped),
            Err(_) => Err(CoreUnavailable::Timeout(HEALTH_TIMEOUT)),
        }
    }

    /// How long since these metrics were created (the controller started).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The metrics in Prometheus' text format: the API's, then the core's as read now
    /// (`ovs_ec2_core_up` is 0, and the core's series are absent, when it cannot be read).
    pub async fn render(&self) -> String {
        let core = self.core_snapshot().await;
        let mut text = String::new();
        // Writing to a String cannot fail; the encoder's Result only carries fmt errors.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        let _ = prometheus_text::encode(&mut text, &core_registry(core.as_ref().ok(), &self.pool));
        text
    }
}

fn core_registry(core: Option<&CoreSnapshot>, pool: &BTreeSet<Ipv4Addr>) -> Registry {
    let mut r = Registry::with_prefix("ovs_ec2");
    r.register(
        "core_up",
        "1 when the controller core answered this scrape in time",
        ConstGauge::new(i64::from(core.is_some())),
    );
    let Some(s) = core else {
        return r;
    };
    let gauges: [(&str, &str, usize); 8] = [
        (
            "switches_connected",
            "Switches connected whose OpenFlow handshake is done",
            s.switches_connected,
        ),
        (
            "switches_ready",
            "Connected switches whose flow table is reconciled",
            s.switches_ready,
        ),
        (
            "flows",
            "Flows compiled from the model for all switches (what connected switches are reconciled to; pinholes not included)",
            s.flows,
        ),
        (
            "pinholes",
            "Tracked connections, each with a pinhole flow per direction",
            s.pinholes,
        ),
        ("instances", "Instances in the model", s.instances),
        ("elastic_ips", "Elastic IPs allocated", s.elastic_ips),
        (
            "elastic_ips_associated",
            "Elastic IPs associated with an instance",
            s.elastic_ips_associated,
        ),
        ("security_groups", "Security groups", s.security_groups),
    ];
    for (name, help, v) in gauges {
        r.register(name, help, ConstGauge::new(as_i64(v)));
    }
    let counters: [(&str, &str, u64); 9] = [
        ("packet_ins", "OpenFlow packet_ins received", s.packet_ins),
        ("packet_outs", "OpenFlow packet_outs sent", s.packet_outs),
        ("flow_mods", "OpenFlow flow_mods sent", s.flow_mods),
        ("barriers", "OpenFlow barrier requests sent", s.barriers),
        (
            "switch_errors",
            "OpenFlow error messages received from switches",
            s.switch_errors,
        ),
        (
            "malformed_messages",
            "OpenFlow messages received that could not be decoded",
            s.malformed,
        ),
        (
            "reconciliations",
            "Flow table reconciliations done (switch connects and reconnects)",
            s.reconciliations,
        ),
        (
            "tracking_evicted",
            "Tracked connections forgotten (pinholes deleted) because a switch reached max_tracked_per_switch",
            s.tracking_evicted,
        ),
        (
            "unsolicited_stats_replies",
            "Stats replies from switches that answered no request (dropped)",
            s.unsolicited,
        ),
    ];
    for (name, help, v) in counters {
        r.register(name, help, ConstCounter::new(v));
    }
    let up = Family::<DpidLabel, Gauge>::default();
    for (dpid, ready) in &s.switches {
        up.get_or_create(&DpidLabel { dpid: dpid.clone() })
            .set(i64::from(*ready));
    }
    r.register(
        "switch_up",
        "1 for a switch connected with its flows reconciled, 0 for a switch of the model that is not",
        up,
    );
    if !pool.is_empty() {
        r.register(
            "pool_addresses",
            "Public addresses in the elastic IP pool",
            ConstGauge::new(as_i64(pool.len())),
        );
        r.register(
            "pool_free_addresses",
            "Public addresses of the pool not allocated",
            ConstGauge::new(as_i64(pool.difference(&s.allocated).count())),
        );
    }
    r
}

/// Decrements the in-flight gauge when the call ends, also when it is cancelled.
struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

async fn track(State(m): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == METRICS_PATH || path == HEALTH_PATH {
        return next.run(req).await;
    }
    let started = Instant::now();
    m.in_flight.inc();
    let _guard = InFlight(m.in_flight.clone());
    let resp = next.run(req).await;
    let action = resp.extensions().get::<ApiAction>().map_or("none", |a| a.0);
    let outcome = match resp.extensions().get::<ApiOutcome>() {
        Some(o) => o.0,
        None if resp.status().is_success() => "ok",
        None => resp.status().canonical_reason().unwrap_or("http_error"),
    };
    m.record_call(action, outcome, started.elapsed());
    resp
}

async fn serve_metrics(State(m): State<Arc<Metrics>>) -> Response {
    let mut r = m.render().await.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(METRICS_CONTENT_TYPE),
    );
    r
}

#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    version: &'static str,
    uptime_seconds: u64,
    #[serde(flatten)]
    core: Option<CoreSnapshot>,
}

async fn serve_health(State(m): State<Arc<Metrics>>) -> Response {
    let (status, body) = match m.core_snapshot().await {
        Ok(s) => (
            StatusCode::OK,
            Health {
                status: "ok",
                reason: None,
                version: env!("CARGO_PKG_VERSION"),
                uptime_seconds: m.uptime().as_secs(),
                core: Some(s),
            },
        ),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Health {
                status: "unavailable",
                reason: Some(e.to_string()),
                version: env!("CARGO_PKG_VERSION"),
                uptime_seconds: m.uptime().as_secs(),
                core: None,
            },
        ),
    };
    (status, axum::Json(body)).into_response()
}

/// Add `/metrics` and `/health` to `api` (the EC2 API's routes), and count and time every
/// request to `api`'s routes with `metrics`.
pub fn wrap(api: Router, metrics: Arc<Metrics>) -> Router {
    let ops = Router::new()
        .route(METRICS_PATH, get(serve_metrics))
        .route(HEALTH_PATH, get(serve_health))
        .with_state(metrics.clone());
    api.merge(ops)
        .layer(middleware::from_fn_with_state(metrics, track))
}

#[cfg(test)]
mod tests;
