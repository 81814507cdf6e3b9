//! AWS Signature Version 2: `SignatureVersion=2` parameters in the query string or form body,
//! an HMAC-SHA256 (or HMAC-SHA1) over the method, host, path and sorted parameters, in base64.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::encoding::{canonical_query, count_param, find_param};
use super::sigv4::hmac_sha256;
use super::timestamp::parse_iso8601;
use super::{check_session_token, AuthError, Authenticated, CredentialSource, Scheme, Verifier};
use crate::error::quote;
use crate::http::HttpRequest;

const SCHEME: Scheme = Scheme::SigV2;

/// The parameter sources of a SigV2 request: the query string, and the form body of a `POST`.
pub(crate) fn sources(request: &HttpRequest) -> Result<Vec<&str>, AuthError> {
    let mut sources = vec![request.query.as_str()];
    if request.has_form_body() {
        let body = std::str::from_utf8(&request.body).map_err(|e| AuthError::Malformed {
            scheme: SCHEME,
            part: "form body",
            expected: "URL-encoded ASCII",
            found: format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        })?;
        sources.push(body);
    }
    Ok(sources)
}

/// Whether a request carries SigV2 parameters.
pub(crate) fn is_sigv2(request: &HttpRequest) -> bool {
    let body = if request.has_form_body() {
        std::str::from_utf8(&request.body).unwrap_or("")
    } else {
        ""
    };
    [request.query.as_str(), body].iter().any(|source| {
        ["Signature", "SignatureVersion", "AWSAccessKeyId"]
            .iter()
            .any(|name| find_param(source, name).is_some())
    })
}

/// One parameter across the sources: at most once, UTF-8.
fn param(sources: &[&str], name: &'static str) -> Result<Option<String>, AuthError> {
    let count: usize = sources.iter().map(|s| count_param(s, name)).sum();
    if count > 1 {
        return Err(AuthError::Malformed {
            scheme: SCHEME,
            part: name,
            expected: "a single value",
            found: "several".to_owned(),
        });
    }
    match sources.iter().find_map(|s| find_param(s, name)) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(raw)) => Err(AuthError::Malformed {
            scheme: SCHEME,
            part: name,
            expected: "UTF-8 text",
            found: quote(raw),
        }),
    }
}

fn required(sources: &[&str], name: &'static str) -> Result<String, AuthError> {
    param(sources, name)?.ok_or(AuthError::MissingPart {
        scheme: SCHEME,
        part: name,
    })
}

/// The SigV2 string to sign: method, lowercase host (with its port, as sent), path, and the
/// canonical parameters without `Signature`.
pub(crate) fn string_to_sign(method: &str, host: &str, path: &str, sources: &[&str]) -> String {
    let query = canonical_query(sources.iter().copied(), |k| k == b"Signature");
    let path = if path.is_empty() { "/" } else { path };
    let mut s = String::with_capacity(method.len() + host.len() + path.len() + query.len() + 3);
    s.push_str(method);
    s.push('\n');
    s.push_str(&host.to_ascii_lowercase());
    s.push('\n');
    s.push_str(path);
    s.push('\n');
    s.push_str(&query);
    s
}

/// The HMAC of a SigV2 signature (`SignatureMethod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigV2Method {
    /// `HmacSHA256`, what every current client sends.
    #[default]
    HmacSha256,
    /// `HmacSHA1`, what older tools send.
    HmacSha1,
}

impl SigV2Method {
    /// The `SignatureMethod` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SigV2Method::HmacSha256 => "HmacSHA256",
            SigV2Method::HmacSha1 => "HmacSHA1",
        }
    }

    /// Parses a `SignatureMethod` value (exact, as AWS).
    pub fn from_name(name: &str) -> Option<SigV2Method> {
        match name {
            "HmacSHA256" => Some(SigV2Method::HmacSha256),
            "HmacSHA1" => Some(SigV2Method::HmacSha1),
            _ => None,
        }
    }
}

/// The base64 HMAC signature of a string to sign.
pub(crate) fn signature(method: SigV2Method, secret: &str, string_to_sign: &str) -> String {
    let engine = base64::engine::general_purpose::STANDARD;
    match method {
        SigV2Method::HmacSha256 => {
            engine.encode(hmac_sha256(secret.as_bytes(), string_to_sign.as_bytes()))
        }
        SigV2Method::HmacSha1 => {
            // HMAC takes keys of every length: `new_from_slice` cannot fail.
            #[allow(clippy::expect_used)]
            let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
                .expect("HMAC accepts keys of any length");
            mac.update(string_to_sign.as_bytes());
            engine.encode(mac.finalize().into_bytes())
        }
    }
}

/// Verifies a SigV2 request.
pub(crate) fn verify<C: CredentialSource>(
    verifier: &Verifier<C>,
    request: &HttpRequest,
    now: OffsetDateTime,
) -> Result<Authenticated, AuthError> {
    let sources = sources(request)?;
    let version = required(&sources, "SignatureVersion")?;
    if version != "2" {
        return Err(AuthError::Unsupported {
            what: "SignatureVersion",
            found: quote(&version),
        });
    }
    let method_name = required(&sources, "SignatureMethod")?;
    let method = SigV2Method::from_name(&method_name).ok_or_else(|| AuthError::Unsupported {
        what: "SignatureMethod",
        found: quote(&method_name),
    })?;
    let access_key_id = required(&sources, "AWSAccessKeyId")?;
    let provided = required(&sources, "Signature")?;
    let signed_at = match (param(&sources, "Timestamp")?, param(&sources, "Expires")?) {
        (Some(_), Some(_)) => {
            return Err(AuthError::Malformed {
                scheme: SCHEME,
                part: "Timestamp and Expires",
                expected: "only one of Timestamp and Expires",
                found: "both".to_owned(),
            })
        }
        (None, None) => {
            return Err(AuthError::MissingPart {
                scheme: SCHEME,
                part: "Timestamp or Expires",
            })
        }
        (Some(ts), None) => {
            let t = parse_time("Timestamp", &ts)?;
            verifier.check_skew(SCHEME, t, now)?;
            t
        }
        (None, Some(ex)) => {
            let t = parse_time("Expires", &ex)?;
            if now > t {
                return Err(AuthError::Expired {
                    scheme: SCHEME,
                    expired_at: t,
                    now,
                });
            }
            t
        }
    };
    let session_token = param(&sources, "SecurityToken")?;
    let host = request.header("host").ok_or(AuthError::MissingPart {
        scheme: SCHEME,
        part: "Host header",
    })?;
    let credential = verifier.credential(&access_key_id)?;
    check_session_token(&credential, &access_key_id, session_token.as_deref())?;
    let to_sign = string_to_sign(&request.method, host.trim(), &request.path, &sources);
    let expected = signature(method, credential.secret_access_key(), &to_sign);
    if !bool::from(expected.as_bytes().ct_eq(provided.as_bytes())) {
        return Err(AuthError::SignatureMismatch {
            scheme: SCHEME,
            string_to_sign: to_sign,
        });
    }
    Ok(Authenticated {
        access_key_id,
        account_id: credential.account_id().to_owned(),
        scheme: SCHEME,
        region: None,
        service: None,
        session_token,
        signed_at,
    })
}

fn parse_time(part: &'static str, s: &str) -> Result<OffsetDateTime, AuthError> {
    parse_iso8601(s).ok_or_else(|| AuthError::Malformed {
        scheme: SCHEME,
        part,
        expected: "an ISO 8601 time (YYYY-MM-DDTHH:MM:SSZ)",
        found: quote(s),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_to_sign_shape() {
        let s = string_to_sign(
            "POST",
            "EC2.Example.com:8773",
            "",
            &["", "b=2&Signature=x&a=a+b"],
        );
        assert_eq!(s, "POST\nec2.example.com:8773\n/\na=a%20b&b=2");
    }

    #[test]
    fn detection() {
        assert!(is_sigv2(&HttpRequest::new("GET", "/?AWSAccessKeyId=A")));
        assert!(is_sigv2(&HttpRequest::form_post("Signature=x")));
        assert!(!is_sigv2(&HttpRequest::form_post(
            "Action=DescribeAddresses"
        )));
        // A GET body is not a form.
        assert!(!is_sigv2(
            &HttpRequest::new("GET", "/").with_body("Signature=x")
        ));
    }
}
