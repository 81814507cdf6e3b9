//! Signing requests, as clients do: for tests, load generators and Rust clients of an EC2-style
//! endpoint. The signers share the canonicalisation code of the verifier; that the result is
//! what real clients produce is shown by the fixtures of real boto3, botocore and boto 2
//! requests verifying.

use std::fmt;

use time::OffsetDateTime;

use super::encoding::uri_encode;
use super::sigv2::{self, SigV2Method};
use super::sigv4::{
    authorization_value, canonical_request, payload_hash, signature, signing_key, string_to_sign,
    ALGORITHM, TERMINATOR,
};
use super::timestamp::{format_amz_date, format_iso8601};
use super::{AuthError, Scheme};
use crate::http::HttpRequest;

/// Headers a [`SigV4Signer`] signs when the request has them (`host` is always signed).
const SIGNED_IF_PRESENT: [&str; 5] = [
    "content-type",
    "host",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-security-token",
];

/// Signs requests with SigV4, as botocore does for EC2.
///
/// `Debug` never prints the secret key or the session token.
#[derive(Clone)]
pub struct SigV4Signer {
    access_key_id: String,
    secret_access_key: String,
    region: String,
    service: String,
    session_token: Option<String>,
}

impl fmt::Debug for SigV4Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV4Signer")
            .field("access_key_id", &self.access_key_id)
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

impl SigV4Signer {
    /// A signer for an access key, with the credential scope's region and service (`ec2`).
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        region: impl Into<String>,
        service: impl Into<String>,
    ) -> Self {
        SigV4Signer {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            region: region.into(),
            service: service.into(),
            session_token: None,
        }
    }

    /// Sends (and signs) this session token with every request (builder style).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    fn scope(&self, date: &str) -> String {
        format!("{date}/{}/{}/{TERMINATOR}", self.region, self.service)
    }

    /// Signs a request in place with an `Authorization` header.
    ///
    /// Replaces any `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token` header, then signs
    /// `host`, `x-amz-date` and, when present, `content-type`, `x-amz-content-sha256` and
    /// `x-amz-security-token`.
    ///
    /// # Errors
    ///
    /// `MissingPart` if the request has no `Host` header.
    pub fn sign(&self, request: &mut HttpRequest, now: OffsetDateTime) -> Result<(), AuthError> {
        let scheme = Scheme::SigV4Header;
        if request.header("host").is_none() {
            return Err(AuthError::MissingPart {
                scheme,
                part: "Host header",
            });
        }
        request.headers.retain(|(n, _)| {
            !n.eq_ignore_ascii_case("authorization")
                && !n.eq_ignore_ascii_case("x-amz-date")
                && !n.eq_ignore_ascii_case("x-amz-security-token")
        });
        let amz_date = format_amz_date(now);
        request
            .headers
            .push(("X-Amz-Date".to_owned(), amz_date.clone()));
        if let Some(token) = &self.session_token {
            request
                .headers
                .push(("X-Amz-Security-Token".to_owned(), token.clone()));
        }
        let signed: Vec<&str> = SIGNED_IF_PRESENT
            .iter()
            .copied()
            .filter(|h| request.header(h).is_some())
            .collect();
        let signed_headers = signed.join(";");
        let payload = payload_hash(request)?;
        let canonical = canonical_request(scheme, request, &signed_headers, &payload)?;
        let date = amz_date.get(..8).unwrap_or_default();
        let scope = self.scope(date);
        let key = signing_key(&self.secret_access_key, date, &self.region, &self.service);
        let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical));
        let value = authorization_value(&self.access_key_id, &scope, &signed_headers, &sig);
        request.headers.push(("Authorization".to_owned(), value));
        Ok(())
    }

    /// Presigns a request in place: appends the SigV4 query-authentication parameters (signing
    /// the `host` header only) to its query string, valid for `expires_secs` seconds.
    ///
    /// The query must not already carry `X-Amz-*` authentication parameters.
    ///
    /// # Errors
    ///
    /// `MissingPart` if the request has no `Host` header.
    pub fn presign(
        &self,
        request: &mut HttpRequest,
        now: OffsetDateTime,
        expires_secs: u32,
    ) -> Result<(), AuthError> {
        let scheme = Scheme::SigV4Query;
        if request.header("host").is_none() {
            return Err(AuthError::MissingPart {
                scheme,
                part: "Host header",
            });
        }
        let amz_date = format_amz_date(now);
        let date = amz_date.get(..8).unwrap_or_default();
        let scope = self.scope(date);
        let mut query = std::mem::take(&mut request.query);
        let mut push = |k: &str, v: &str| {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(k);
            query.push('=');
            query.push_str(&uri_encode(v));
        };
        push("X-Amz-Algorithm", ALGORITHM);
        push(
            "X-Amz-Credential",
            &format!("{}/{scope}", self.access_key_id),
        );
        push("X-Amz-Date", &amz_date);
        push("X-Amz-Expires", &expires_secs.to_string());
        push("X-Amz-SignedHeaders", "host");
        if let Some(token) = &self.session_token {
            push("X-Amz-Security-Token", token);
        }
        request.query = query;
        let payload = payload_hash(request)?;
        let canonical = canonical_request(scheme, request, "host", &payload)?;
        let key = signing_key(&self.secret_access_key, date, &self.region, &self.service);
        let sig = signature(&key, &string_to_sign(&amz_date, &scope, &canonical));
        request.query.push_str("&X-Amz-Signature=");
        request.query.push_str(&sig);
        Ok(())
    }
}

/// Signs requests with SigV2 (`SignatureMethod=HmacSHA256` by default), as botocore's `v2`
/// signer does.
///
/// `Debug` never prints the secret key.
#[derive(Clone)]
pub struct SigV2Signer {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    method: SigV2Method,
}

impl fmt::Debug for SigV2Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigV2Signer")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl SigV2Signer {
    /// A signer for an access key.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        SigV2Signer {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            method: SigV2Method::HmacSha256,
        }
    }

    /// Signs with this HMAC instead of HMAC-SHA256 (builder style).
    pub fn with_method(mut self, method: SigV2Method) -> Self {
        self.method = method;
        self
    }

    /// Sends (and signs) this session token (`SecurityToken`) with every request.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }

    /// Signs a request in place: appends `AWSAccessKeyId`, `SignatureVersion`,
    /// `SignatureMethod`, `Timestamp` (and `SecurityToken`) then `Signature` to its form body
    /// (for a form `POST`) or to its query string.
    ///
    /// # Errors
    ///
    /// `MissingPart` if the request has no `Host` header, `Malformed` if its form body is not
    /// UTF-8.
    pub fn sign(&self, request: &mut HttpRequest, now: OffsetDateTime) -> Result<(), AuthError> {
        let host = request
            .header("host")
            .ok_or(AuthError::MissingPart {
                scheme: Scheme::SigV2,
                part: "Host header",
            })?
            .trim()
            .to_owned();
        let mut params = String::new();
        let mut push = |k: &str, v: &str| {
            params.push('&');
            params.push_str(k);
            params.push('=');
            params.push_str(&uri_encode(v));
        };
        push("AWSAccessKeyId", &self.access_key_id);
        push("SignatureVersion", "2");
        push("SignatureMethod", self.method.as_str());
        push("Timestamp", &format_iso8601(now));
        if let Some(token) = &self.session_token {
            push("SecurityToken", token);
        }
        let into_body = request.has_form_body();
        if into_body {
            let params = if request.body.is_empty() {
                &params[1..]
            } else {
                &params[..]
            };
            request.body.extend_from_slice(params.as_bytes());
        } else {
            let params = if request.query.is_empty() {
                &params[1..]
            } else {
                &params[..]
            };
            request.query.push_str(params);
        }
        let sources = sigv2::sources(request)?;
        let to_sign = sigv2::string_to_sign(&request.method, &host, &request.path, &sources);
        let sig = format!(
            "&Signature={}",
            uri_encode(&sigv2::signature(
                self.method,
                &self.secret_access_key,
                &to_sign
            ))
        );
        if into_body {
            request.body.extend_from_slice(sig.as_bytes());
        } else {
            request.query.push_str(&sig);
        }
        Ok(())
    }
}
