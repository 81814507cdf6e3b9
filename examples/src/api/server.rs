//! The HTTP front end of the EC2 API (axum on hyper).
//!
//! Requests are accepted at `/` and at `/services/compute` (the path Eucalyptus and
//! OpenNebula's EC2 servers used, which boto 2 scripts of that era still carry), by GET with a
//! query string or POST with a form body. Each one is:
//!
//! 1. read with a size limit (larger bodies are refused before they are buffered);
//! 2. authenticated: SigV4 (Authorization header or presigned query) or SigV2, against the
//!    accounts' secrets, with the clock skew EC2 allows;
//! 3. parsed by `ec2_model` into a typed request;
//! 4. executed by the [`Ec2Service`] for the account that signed it;
//! 5. answered with the action's XML, or EC2's error envelope and HTTP status.
//!
//! One log line per call: action, account, outcome (the EC2 error code on failure), duration.
//! The same routes serve `/metrics` and `/health`, and every call is counted and timed
//! ([`crate::ops`]).
//!
//! Requests of API versions before 2016-11-15 (boto 2's) get EC2-Classic defaults: an
//! elastic IP allocated without `Domain` is a `standard` one.

use super::Ec2Service;
use crate::ops::{self, ApiAction, ApiOutcome};
use axum::body::{to_bytes, Body};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::any;
use axum::Router;
use ec2_model::auth::Verifier;
use ec2_model::{
    parse_request, render, ApiVersion, Domain, Ec2Error, HttpRequest, Limits, Request, CONTENT_TYPE,
};
use rand::Rng;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use tracing::info;

/// The largest request accepted (query string and body together), as `ec2_model`'s limit.
pub const MAX_REQUEST_BYTES: usize = Limits::DEFAULT.max_input_bytes;

#[derive(Debug)]
struct AppState {
    service: Ec2Service,
    verifier: Verifier<super::Accounts>,
}

/// The API's routes, ready to serve.
pub fn router(service: Ec2Service) -> Router {
    let verifier = Verifier::new(service.accounts().clone());
    let metrics =
        Arc::new(ops::Metrics::new(service.handle().clone()).with_pool(service.pool().clone()));
    let state = Arc::new(AppState { service, verifier });
    let api = Router::new()
        .route("/", any(handle))
        .route("/services/compute", any(handle))
        .route("/services/compute/", any(handle))
        .with_state(state);
    ops::wrap(api, metrics)
}

/// Serve the API on `listener`, within the limits of its configuration
/// ([`crate::api::ApiConfig::http_limits`]), until the task is dropped or `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    service: Ec2Service,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = service.config().http_limits();
    crate::httpd::serve(listener, router(service), limits, shutdown).await
}

/// Requests of API versions before 2016-11-15 (boto 2 sends 2014-10-01) come from the
/// EC2-Classic era: an `AllocateAddress` without `Domain` gets a `standard` address, which
/// `associate_address(instance, ip)` moves between instances as the 2012 scripts expect.
/// botocore (2016-11-15) gets `vpc` addresses, as EC2 gives today.
fn classic_defaults(version: ApiVersion, req: Request) -> Request {
    match req {
        Request::AllocateAddress(mut r)
            if r.domain.is_none() && version.as_str() < "2016-11-15" =>
        {
            r.domain = Some(Domain::Standard);
            Request::AllocateAddress(r)
        }
        other => other,
    }
}

fn request_id() -> String {
    let mut rng = rand::thread_rng();
    let a: u32 = rng.gen();
    let b: u16 = rng.gen();
    let c: u16 = rng.gen();
    let d: u16 = rng.gen();
    let e: u64 = rng.gen::<u64>() & 0xffff_ffff_ffff;
    format!(
        "{a:08x}-{b:04x}-4{:03x}-{:04x}-{e:012x}",
        c & 0xfff,
        (d & 0x3fff) | 0x8000
    )
}

fn xml(status: StatusCode, body: String, request_id: &str) -> HttpResponse {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-amzn-requestid", v);
    }
    r
}

fn error(e: &Ec2Error, request_id: &str) -> HttpResponse {
    let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = xml(status, e.render_xml(request_id), request_id);
    r.extensions_mut().insert(ApiOutcome(e.code()));
    r
}

/// The body length a request declares (`Content-Length`), if it declares a valid one.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(axum::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn handle(
    State(app): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> HttpResponse {
    let started = Instant::now();
    let id = request_id();
    // A body declared larger than the limit is refused before waiting for any of it (a
    // client declaring gigabytes and sending nothing would otherwise hold the call open).
    let declared_too_large =
        declared_length(&headers).is_some_and(|n| n > MAX_REQUEST_BYTES as u64);
    // A body that does not arrive in time is refused too: a client that declares a small
    // body and stalls must not hold the call (and its connection) forever.
    let limit = app.service.config().body_timeout;
    let read = if declared_too_large {
        Err(false)
    } else {
        match tokio::time::timeout(limit, to_bytes(body, MAX_REQUEST_BYTES)).await {
            Ok(r) => r.map_err(|_| false),
            Err(_) => Err(true),
        }
    };
    let body = match read {
        Ok(b) => b,
        Err(timed_out) => {
            let why = if timed_out {
                format!(
                    "the request body did not arrive within {} s",
                    limit.as_secs_f64()
                )
            } else {
                format!("the request is larger than {MAX_REQUEST_BYTES} bytes")
            };
            let e = Ec2Error::invalid_value("request body", "", &why);
            info!(outcome = e.code(), reason = %why, "api call refused: body");
            return error(&e, &id);
        }
    };
    let request = HttpRequest {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
    };
    let who = match app
        .verifier
        .verify(&request, time::OffsetDateTime::now_utc())
    {
        Ok(a) => a,
        Err(e) => {
            let e = Ec2Error::from(e);
            info!(
                outcome = e.code(),
                reason = e.message(),
                "api call refused: authentication"
            );
            return error(&e, &id);
        }
    };
    let Some(account) = app.service.accounts().get(&who.access_key_id) else {
        let e = Ec2Error::new(
            ec2_model::ErrorCode::AuthFailure,
            "AWS was not able to validate the provided access credentials",
        );
        return error(&e, &id);
    };
    let (version, req) = match parse_request(&request) {
        Ok(p) => p,
        Err(e) => {
            info!(account = %account.owner, outcome = e.code(), reason = e.message(), "api call refused: request");
            return error(&e, &id);
        }
    };
    let action = req.action();
    let req = classic_defaults(version, req);
    let mut answer = match app.service.execute(&account.owner, req).await {
        Ok(resp) => {
            info!(
                %action, account = %account.owner, outcome = "ok",
                ms = started.elapsed().as_secs_f64() * 1e3, "api call"
            );
            let mut r = xml(StatusCode::OK, render(&resp, version, &id), &id);
            r.extensions_mut().insert(ApiOutcome("ok"));
            r
        }
        Err(e) => {
            info!(
                %action, account = %account.owner, outcome = e.code(), reason = e.message(),
                ms = started.elapsed().as_secs_f64() * 1e3, "api call"
            );
            error(&e, &id)
        }
    };
    answer.extensions_mut().insert(ApiAction(action.as_str()));
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length_reads_content_length() {
        let mut h = HeaderMap::new();
        assert_eq!(declared_length(&h), None);
        h.insert("content-length", HeaderValue::from_static("4294967296"));
        assert_eq!(declared_length(&h), Some(4 << 30));
        assert!(declared_length(&h).is_some_and(|n| n > MAX_REQUEST_BYTES as u64));
        h.insert("content-length", HeaderValue::from_static("not a number"));
        assert_eq!(declared_length(&h), None);
    }
}
