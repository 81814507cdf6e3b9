//! The JSON admin API for operators and cloud managers: what the controller knows and what
//! the switches hold, over HTTP with a bearer token, on a listener of its own
//! (`--admin-listen`, 127.0.0.1:8774 by default).
//!
//! Every request needs `Authorization: Bearer <token>` (the configured `--admin-token`, or
//! the one the first start created, stored and printed); without it, or with another, the
//! answer is `401` with a JSON error. All endpoints are `GET` and answer JSON:
//!
//! | path | answer |
//! | --- | --- |
//! | `/v1/instances` | every instance: id, owner, private IP and MAC, groups, binding (switch, port, and whether it is pinned by the XML-RPC drop-in), elastic IP, state |
//! | `/v1/instances/{id}/rules` | an instance's effective rules (the union over its groups, with the group each comes from), ingress and egress |
//! | `/v1/groups` | every security group: id, name, owner, description, ingress and egress rules, members |
//! | `/v1/addresses` | every elastic IP: address, allocation id, owner, instance and its private IP |
//! | `/v1/switches` | every switch in the model or connected: datapath id (16 hex digits), uplink, connection state (`connected`, `ready`), instances bound |
//! | `/v1/switches/{dpid}/flows` | the switch's desired flows (compiled from the model) next to the installed ones (read from the switch now, with a flow stats request), both in `ovs-ofctl dump-flows` syntax, and their difference |
//!
//! A rule is `{"group", "protocol", "from_port", "to_port", "peer"}` with EC2's conventions
//! (`protocol` `tcp`/`udp`/`icmp`/`-1`/a number; ports `-1` for every port, ICMP type and
//! code for ICMP; `peer` a CIDR block or a group id). Errors are `{"error": "..."}` with
//! 400 (a malformed id), 401, 404 (unknown instance or switch) or 503 (the switch did not
//! answer in time, or the controller is stopping).

use crate::shell::{FlowsError, Handle};
use crate::store::{Stored, Write};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use netrules::compile::{cookie, Flow};
use netrules::model::{Direction, Dpid, InstanceId, Model, Peer, Permission, PortRange, Protocol};
use netrules::sim::matching::normalize;
use openflow_proto::display::{DisplayActions, DisplayFlow};
use openflow_proto::stats::FlowStats;
use openflow_proto::Match;
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Store record kind of the admin token (key [`TOKEN_KEY`]).
pub const TOKEN_RECORD: &str = "admin";
/// Store record key of the admin token.
pub const TOKEN_KEY: &str = "token";

/// How long a flow read waits for the switch.
const FLOWS_TIMEOUT: Duration = Duration::from_secs(10);

/// The token to use: the configured one, else the stored one, else a new one. Returns it,
/// the write that stores it (when it is not stored yet or changed), and whether it was
/// created now (to be printed once).
pub fn token(stored: &Stored, configured: Option<&str>) -> (String, Option<Write>, bool) {
    let saved = stored
        .records
        .get(&(TOKEN_RECORD.to_owned(), TOKEN_KEY.to_owned()))
        .cloned();
    let (token, created) = match (configured, saved.as_deref()) {
        (Some(t), _) => (t.trim().to_owned(), false),
        (None, Some(s)) => (s.to_owned(), false),
        (None, None) => (generate_token(), true),
    };
    let write = (saved.as_deref() != Some(token.as_str())).then(|| Write::PutRecord {
        kind: TOKEN_RECORD.to_owned(),
        key: TOKEN_KEY.to_owned(),
        value: token.clone(),
    });
    (token, write, created)
}

/// 32 random hexadecimal digits (128 bits).
pub fn generate_token() -> String {
    let bytes: [u8; 16] = rand::thread_rng().gen();
    hex::encode(bytes)
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, Debug)]
struct AdminState {
    handle: Handle,
    token: Arc<str>,
}

/// An error answer.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

type Answer = Result<Json<Value>, ApiError>;

fn stopped<E: std::fmt::Display>(e: E) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
}

/// The admin API's router, for the controller behind `handle`, guarded by `token`.
pub fn router(handle: Handle, token: &str) -> Router {
    let state = AdminState {
        handle,
        token: Arc::from(token),
    };
    Router::new()
        .route("/v1/instances", get(instances))
        .route("/v1/instances/{id}/rules", get(instance_rules))
        .route("/v1/groups", get(groups))
        .route("/v1/addresses", get(addresses))
        .route("/v1/switches", get(switches))
        .route("/v1/switches/{dpid}/flows", get(flows))
        .fallback(|| async {
            ApiError(
                StatusCode::NOT_FOUND,
                "no such endpoint (see /v1/...)".into(),
            )
        })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state)
}

/// Serve the admin API on `listener` within `limits` until `shutdown` resolves.
pub fn serve(
    listener: tokio::net::TcpListener,
    handle: Handle,
    token: &str,
    limits: crate::httpd::HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> impl std::future::Future<Output = std::io::Result<()>> + Send + 'static {
    let router = router(handle, token);
    async move { crate::httpd::serve(listener, router, limits, shutdown).await }
}

async fn authorize(State(state): State<AdminState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(t) if same(t.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        _ => {
            let mut r = ApiError(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer <admin token>)".into(),
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            r
        }
    }
}

fn hex_dpid(d: Dpid) -> String {
    format!("{d:016x}")
}

/// A rule as JSON (see the module docs).
pub fn rule_json(group: Option<&str>, p: &Permission) -> Value {
    let (proto, from, to) = match *p.protocol() {
        Protocol::Any => ("-1".to_owned(), -1, -1),
        Protocol::Tcp(r) | Protocol::Udp(r) => {
            let name = if matches!(p.protocol(), Protocol::Tcp(_)) {
                "tcp"
            } else {
                "udp"
            };
            if r == PortRange::ALL {
                (name.to_owned(), -1, -1)
            } else {
                (name.to_owned(), i32::from(r.from()), i32::from(r.to()))
            }
        }
        Protocol::Icmp(spec) => (
            "icmp".to_owned(),
            spec.icmp_type().map_or(-1, i32::from),
            spec.code().map_or(-1, i32::from),
        ),
        Protocol::Number(n) => (n.to_string(), -1, -1),
    };
    let peer = match p.peer() {
        Peer::Cidr(n) => n.to_string(),
        Peer::Group(g) => g.as_str().to_owned(),
    };
    let mut v = json!({ "protocol": proto, "from_port": from, "to_port": to, "peer": peer });
    if let (Some(g), Some(obj)) = (group, v.as_object_mut()) {
        obj.insert("group".to_owned(), json!(g));
    }
    v
}

fn instance_json(m: &Model, i: &netrules::model::Instance, pinned: bool) -> Value {
    json!({
        "id": i.id.as_str(),
        "owner": i.owner.as_str(),
        "private_ip": i.ip.to_string(),
        "mac": i.mac.to_string(),
        "groups": i.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "binding": i.attachment.map(|a| json!({
            "switch": hex_dpid(a.switch),
            "port": a.port.0,
            "pinned": pinned,
        })),
        "elastic_ip": m.elastic_ip_of(&i.id).map(|e| e.to_string()),
        "state": if i.attachment.is_some() { "running" } else { "pending" },
    })
}

async fn instances(State(s): State<AdminState>) -> Answer {
    s.handle
        .inspect(|c| {
            let m = c.model();
            let list: Vec<Value> = m
                .instances()
                .values()
                .map(|i| instance_json(m, i, c.pinned().contains(&i.id)))
                .collect();
            Json(json!({ "instances": list }))
        })
        .await
        .map_err(stopped)
}

async fn instance_rules(State(s): State<AdminState>, Path(id): Path<String>) -> Answer {
    let iid = InstanceId::new(id.as_str())
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("instance id: {e}")))?;
    s.handle
        .inspect(move |c| {
            let m = c.model();
            let i = m
                .instance(&iid)
                .ok_or_else(|| ApiError(StatusCode::NOT_FOUND, format!("no instance {iid}")))?;
            let rules = |dir| -> Vec<Value> {
                m.permissions_of(i, dir)
                    .map(|(g, p)| rule_json(Some(g.as_str()), p))
                    .collect()
            };
            Ok(Json(json!({
                "instance": instance_json(m, i, c.pinned().contains(&i.id)),
                "ingress": rules(Direction::Ingress),
                "egress": rules(Direction::Egress),
            })))
        })
        .await
        .map_err(stopped)?
}

async fn groups(State(s): State<AdminState>) -> Answer {
    s.handle
        .inspect(|c| {
            let m = c.model();
            let list: Vec<Value> = m
                .groups()
                .values()
                .map(|g| {
                    json!({
                        "id": g.id.as_str(),
                        "name": g.name,
                        "owner": g.owner.as_str(),
                        "description": g.description,
                        "ingress": g.ingress.iter().map(|p| rule_json(None, p)).collect::<Vec<_>>(),
                        "egress": g.egress.iter().map(|p| rule_json(None, p)).collect::<Vec<_>>(),
                        "members": m.members(&g.id).map(|i| i.id.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Json(json!({ "groups": list }))
        })
        .await
        .map_err(stopped)
}

async fn addresses(State(s): State<AdminState>) -> Answer {
    s.handle
        .inspect(|c| {
            let m = c.model();
            let list: Vec<Value> = m
                .elastic_ips()
                .values()
                .map(|e| {
                    let inst = e.instance.as_ref().and_then(|i| m.instance(i));
                    json!({
                        "public_ip": e.public_ip.to_string(),
                        "allocation_id": e.allocation_id.as_str(),
                        "owner": e.owner.as_str(),
                        "instance": e.instance.as_ref().map(|i| i.as_str()),
                        "private_ip": inst.map(|i| i.ip.to_string()),
                    })
                })
                .collect();
            Json(json!({ "addresses": list }))
        })
        .await
        .map_err(stopped)
}

async fn switches(State(s): State<AdminState>) -> Answer {
    s.handle
        .inspect(|c| {
            let m = c.model();
            let connected = c.switches();
            let dpids: BTreeSet<Dpid> = m
                .switches()
                .keys()
                .chain(connected.keys())
                .copied()
                .collect();
            let list: Vec<Value> = dpids
                .into_iter()
                .map(|d| {
                    json!({
                        "dpid": hex_dpid(d),
                        "in_model": m.switch(d).is_some(),
                        "uplink": m.switch(d).map(|s| s.uplink.0),
                        "connected": connected.contains_key(&d),
                        "ready": c.is_ready(d),
                        "instances": m.instances_on(d).map(|i| i.id.as_str()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            Json(json!({ "switches": list }))
        })
        .await
        .map_err(stopped)
}

/// A compiled flow in `ovs-ofctl dump-flows` syntax (without the counters a switch adds).
pub fn desired_line(f: &Flow) -> String {
    let mut s = format!("cookie={:#x}, ", f.cookie);
    if f.idle_timeout != 0 {
        s.push_str(&format!("idle_timeout={}, ", f.idle_timeout));
    }
    if f.hard_timeout != 0 {
        s.push_str(&format!("hard_timeout={}, ", f.hard_timeout));
    }
    let flow = DisplayFlow::new(&f.r#match, f.priority).to_string();
    if !flow.is_empty() {
        s.push_str(&flow);
        s.push(' ');
    }
    s.push_str(&format!("actions={}", DisplayActions(&f.actions)));
    s
}

/// What identifies a flow on a switch: priority and normalised match.
fn key(priority: u16, m: &Match) -> (u16, Match) {
    (priority, normalize(m).0)
}

/// Desired flows missing (or different) on the switch, and installed flows of ours that are
/// not desired (pinholes and other cookies aside).
fn compare(desired: &[Flow], installed: &[FlowStats]) -> (Vec<String>, Vec<String>) {
    let have: HashMap<(u16, Match), &FlowStats> = installed
        .iter()
        .map(|f| (key(f.priority, &f.r#match), f))
        .collect();
    let mut wanted = std::collections::HashSet::new();
    let mut missing = Vec::new();
    for f in desired {
        let k = key(f.priority, &f.r#match);
        let same = have
            .get(&k)
            .is_some_and(|o| o.actions == *f.actions && o.cookie == f.cookie);
        if !same {
            missing.push(desired_line(f));
        }
        wanted.insert(k);
    }
    let ours = |c: u64| matches!(c & cookie::KIND_MASK, cookie::INSTANCE | cookie::SWITCH);
    let unexpected = installed
        .iter()
        .filter(|f| ours(f.cookie) && !wanted.contains(&key(f.priority, &f.r#match)))
        .map(ToString::to_string)
        .collect();
    (missing, unexpected)
}

async fn flows(State(s): State<AdminState>, Path(dpid): Path<String>) -> Answer {
    let d = crate::xmlrpc::args::parse_dpid(&dpid).ok_or_else(|| {
        ApiError(
            StatusCode::BAD_REQUEST,
            format!("{dpid:?} is not a datapath id (hexadecimal)"),
        )
    })?;
    let (desired, known) = s
        .handle
        .inspect(move |c| {
            (
                c.compiled_flows(d),
                c.model().switch(d).is_some() || c.switches().contains_key(&d),
            )
        })
        .await
        .map_err(stopped)?;
    if !known {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no switch {}", hex_dpid(d)),
        ));
    }
    let read = s.handle.flows(d, FLOWS_TIMEOUT).await;
    let (installed, error) = match read {
        Ok(f) => (Some(f), None),
        Err(FlowsError::Stopped) => return Err(stopped(FlowsError::Stopped)),
        Err(e) => (None, Some(e.to_string())),
    };
    let (missing, unexpected) = match &installed {
        Some(i) => {
            let (m, u) = compare(&desired, i);
            (Some(m), Some(u))
        }
        None => (None, None),
    };
    let pinholes = installed.as_ref().map(|i| {
        i.iter()
            .filter(|f| f.cookie & cookie::KIND_MASK == cookie::PINHOLE)
            .count()
    });
    let mut counts = BTreeMap::new();
    counts.insert("desired", Some(desired.len()));
    counts.insert("installed", installed.as_ref().map(Vec::len));
    counts.insert("pinholes", pinholes);
    Ok(Json(json!({
        "dpid": hex_dpid(d),
        "connected": installed.is_some(),
        "error": error,
        "counts": counts,
        "desired": desired.iter().map(desired_line).collect::<Vec<_>>(),
        "installed": installed.map(|i| i.iter().map(ToString::to_string).collect::<Vec<_>>()),
        "missing": missing,
        "unexpected": unexpected,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Stored {
        Stored {
            accounts: Vec::new(),
            pool: BTreeSet::new(),
            model: None,
            records: BTreeMap::new(),
        }
    }

    #[test]
    fn tokens() {
        let stored = empty();
        let (t, w, created) = token(&stored, None);
        assert_eq!(t.len(), 32);
        assert!(created && w.is_some());
        let mut stored = empty();
        stored
            .records
            .insert((TOKEN_RECORD.into(), TOKEN_KEY.into()), t.clone());
        assert_eq!(token(&stored, None), (t.clone(), None, false));
        let (c, w, created) = token(&stored, Some("configured-token"));
        assert_eq!(c, "configured-token");
        assert!(!created && w.is_some());
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    fn flow(priority: u16, tp_dst: u16, cookie: u64, port: u16) -> Flow {
        let mut m = Match::any();
        m.dl_type = Some(0x0800);
        m.nw_proto = Some(6);
        m.tp_dst = Some(tp_dst);
        Flow {
            priority,
            r#match: m,
            actions: Arc::from(vec![openflow_proto::Action::output(
                openflow_proto::PortNo(port),
            )]),
            cookie,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: openflow_proto::FlowModFlags::empty(),
        }
    }

    fn stats(f: &Flow) -> FlowStats {
        FlowStats {
            table_id: 0,
            r#match: f.r#match,
            duration_sec: 1,
            duration_nsec: 0,
            priority: f.priority,
            idle_timeout: f.idle_timeout,
            hard_timeout: f.hard_timeout,
            cookie: f.cookie,
            packet_count: 0,
            byte_count: 0,
            actions: f.actions.to_vec().into(),
        }
    }

    #[test]
    fn desired_and_installed_are_compared_by_priority_and_match() {
        let inst = cookie::INSTANCE | 1;
        let kept = flow(100, 22, inst, 2);
        let changed = flow(100, 80, inst, 2);
        let absent = flow(100, 443, inst, 2);
        let desired = vec![kept.clone(), changed.clone(), absent.clone()];
        let installed = vec![
            stats(&kept),
            // The same flow with other actions: missing (the desired one is not there).
            stats(&flow(100, 80, inst, 3)),
            // Ours and not desired: unexpected.
            stats(&flow(200, 8080, cookie::SWITCH | 1, 1)),
            // Pinholes and other controllers' flows are neither.
            stats(&flow(40000, 5000, cookie::PINHOLE | 7, 2)),
            stats(&flow(10, 9, 0x1234, 2)),
        ];
        let (missing, unexpected) = compare(&desired, &installed);
        assert_eq!(missing, vec![desired_line(&changed), desired_line(&absent)]);
        assert_eq!(unexpected.len(), 1);
        assert!(unexpected[0].contains("tp_dst=8080"), "{unexpected:?}");
        let (missing, unexpected) =
            compare(&desired, &desired.iter().map(stats).collect::<Vec<_>>());
        assert!(missing.is_empty() && unexpected.is_empty());
    }

    #[test]
    fn desired_lines_read_like_dump_flows() {
        let mut m = Match::any();
        m.dl_type = Some(0x0806);
        let f = Flow {
            priority: 100,
            r#match: m,
            actions: Arc::from(vec![openflow_proto::Action::output(
                openflow_proto::PortNo(2),
            )]),
            cookie: 0x12,
            idle_timeout: 0,
            hard_timeout: 0,
            flags: openflow_proto::FlowModFlags::empty(),
        };
        assert_eq!(
            desired_line(&f),
            "cookie=0x12, priority=100,arp actions=output:2"
        );
    }
}
