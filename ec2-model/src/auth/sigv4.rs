//! AWS Signature Version 4: the canonical request, the string to sign, the signing key, and the
//! verification of `Authorization` headers and presigned query strings.

use std::borrow::Cow;
use std::fmt::Write as _;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};

use super::encoding::{canonical_path, canonical_query, count_param, find_param};
use super::timestamp::parse_amz_date;
use super::{check_session_token, AuthError, Authenticated, CredentialSource, Scheme, Verifier};
use crate::error::quote;
use crate::http::HttpRequest;

/// The only SigV4 algorithm EC2 clients use.
pub(crate) const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// The last element of every credential scope.
pub(crate) const TERMINATOR: &str = "aws4_request";

/// The payload hash a presigned request may declare instead of the body's.
pub(crate) const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// HMAC-SHA256.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of every length (RFC 2104 hashes long keys and pads short ones), so
    // `new_from_slice` cannot fail for `Hmac<Sha256>`.
    #[allow(clippy::expect_used)]
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex of a 32-byte digest, without going character by character.
fn hex32(digest: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    // 64 bytes of output for 32 of input, all ASCII: neither step can fail, and the fallback
    // (the slow character iterator) gives the same text.
    match hex::encode_to_slice(digest, &mut buf).map(|()| std::str::from_utf8(&buf)) {
        Ok(Ok(s)) => s.to_owned(),
        _ => hex::encode(digest),
    }
}

/// The hex SHA-256 of some bytes.
pub(crate) fn sha256_hex(data: &[u8]) -> String {
    hex32(&Sha256::digest(data).into())
}

/// The SigV4 signing key: HMAC chain over the date, region, service and `aws4_request`.
pub(crate) fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let mut k_secret = Vec::with_capacity(4 + secret.len());
    k_secret.extend_from_slice(b"AWS4");
    k_secret.extend_from_slice(secret.as_bytes());
    let k_date = hmac_sha256(&k_secret, date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, TERMINATOR.as_bytes())
}

/// The string to sign: algorithm, timestamp, scope and the hash of the canonical request.
pub(crate) fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let mut s = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    s.push_str(ALGORITHM);
    s.push('\n');
    s.push_str(amz_date);
    s.push('\n');
    s.push_str(scope);
    s.push('\n');
    s.push_str(&sha256_hex(canonical_request.as_bytes()));
    s
}

/// The hex signature of a string to sign.
pub(crate) fn signature(key: &[u8; 32], string_to_sign: &str) -> String {
    hex32(&hmac_sha256(key, string_to_sign.as_bytes()))
}

/// A credential as a client sent it: `AKID/YYYYMMDD/region/service/aws4_request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Credential<'a> {
    pub(crate) access_key_id: &'a str,
    /// `YYYYMMDD/region/service/aws4_request`, verbatim.
    pub(crate) scope: &'a str,
    pub(crate) date: &'a str,
    pub(crate) region: &'a str,
    pub(crate) service: &'a str,
}

pub(crate) fn parse_credential(scheme: Scheme, s: &str) -> Result<Credential<'_>, AuthError> {
    let malformed = || AuthError::Malformed {
        scheme,
        part: "Credential",
        expected: "ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request",
        found: quote(s),
    };
    let (access_key_id, scope) = s.split_once('/').ok_or_else(malformed)?;
    let mut parts = scope.split('/');
    let (Some(date), Some(region), Some(service), Some(terminator), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(malformed());
    };
    if access_key_id.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || service.is_empty()
        || terminator != TERMINATOR
    {
        return Err(malformed());
    }
    Ok(Credential {
        access_key_id,
        scope,
        date,
        region,
        service,
    })
}

/// The three parts of an `Authorization: AWS4-HMAC-SHA256 ...` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HeaderParts<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Result<HeaderParts<'_>, AuthError> {
    let scheme = Scheme::SigV4Header;
    let value = value.trim();
    let (algorithm, rest) = value
        .split_once(|c: char| c.is_ascii_whitespace())
        .unwrap_or((value, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::Unsupported {
            what: "Authorization scheme",
            found: quote(algorithm),
        });
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for component in rest.split(',') {
        let component = component.trim();
        if component.is_empty() {
            continue;
        }
        let Some((name, v)) = component.split_once('=') else {
            return Err(AuthError::Malformed {
                scheme,
                part: "Authorization header",
                expected: "comma-separated Name=Value components",
                found: quote(component),
            });
        };
        let slot = match name.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.replace(v.trim()).is_some() {
            return Err(AuthError::Malformed {
                scheme,
                part: "Authorization header",
                expected: "each of Credential, SignedHeaders and Signature once",
                found: quote(component),
            });
        }
    }
    let missing = |part| AuthError::MissingPart { scheme, part };
    Ok(HeaderParts {
        credential: credential.ok_or_else(|| missing("Credential in the Authorization header"))?,
        signed_headers: signed_headers
            .ok_or_else(|| missing("SignedHeaders in the Authorization header"))?,
        signature: signature.ok_or_else(|| missing("Signature in the Authorization header"))?,
    })
}

/// Checks the `SignedHeaders` list: non-empty names separated by `;`, including `host`.
fn check_signed_headers(scheme: Scheme, signed_headers: &str) -> Result<(), AuthError> {
    let malformed = |expected| AuthError::Malformed {
        scheme,
        part: "SignedHeaders",
        expected,
        found: quote(signed_headers),
    };
    if signed_headers.split(';').any(str::is_empty) {
        return Err(malformed("header names separated by ';'"));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(malformed("a list that includes host"));
    }
    Ok(())
}

/// The canonical request. `signed_headers` is used verbatim (clients send it lowercase and
/// sorted); the query is canonicalised without `X-Amz-Signature` when `presigned`.
pub(crate) fn canonical_request(
    scheme: Scheme,
    request: &HttpRequest,
    signed_headers: &str,
    payload_hash: &str,
) -> Result<String, AuthError> {
    let presigned = scheme == Scheme::SigV4Query;
    let query = canonical_query([request.query.as_str()], |k| {
        presigned && k == b"X-Amz-Signature"
    });
    let path = canonical_path(&request.path);
    let mut out = String::with_capacity(
        request.method.len() + path.len() + query.len() + 2 * signed_headers.len() + 256,
    );
    out.push_str(&request.method);
    out.push('\n');
    out.push_str(&path);
    out.push('\n');
    out.push_str(&query);
    out.push('\n');
    for name in signed_headers.split(';') {
        out.push_str(name);
        out.push(':');
        let mut found = false;
        for value in request.header_values(name) {
            if found {
                out.push(',');
            }
            found = true;
            for (i, word) in value.split_whitespace().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(word);
            }
        }
        if !found {
            return Err(AuthError::SignedHeaderAbsent {
                scheme,
                name: quote(name),
            });
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(payload_hash);
    Ok(out)
}

/// The payload hash of the canonical request: `X-Amz-Content-Sha256` when present (it must be
/// the body's hash, or `UNSIGNED-PAYLOAD` for an empty body), else the body's hash.
pub(crate) fn payload_hash(request: &HttpRequest) -> Result<Cow<'_, str>, AuthError> {
    let actual = sha256_hex(&request.body);
    match request.header("x-amz-content-sha256") {
        None => Ok(Cow::Owned(actual)),
        Some(declared) if declared == actual => Ok(Cow::Borrowed(declared)),
        Some(declared) if declared == UNSIGNED_PAYLOAD && request.body.is_empty() => {
            Ok(Cow::Borrowed(declared))
        }
        Some(declared) => Err(AuthError::PayloadHashMismatch {
            declared: quote(declared),
            actual,
        }),
    }
}

/// The parsed parts common to both SigV4 forms.
struct Parts<'a> {
    scheme: Scheme,
    credential: Credential<'a>,
    amz_date: &'a str,
    signed_at: OffsetDateTime,
    signed_headers: &'a str,
    signature: &'a str,
    session_token: Option<&'a str>,
}

fn parse_amz(scheme: Scheme, part: &'static str, s: &str) -> Result<OffsetDateTime, AuthError> {
    parse_amz_date(s).ok_or_else(|| AuthError::Malformed {
        scheme,
        part,
        expected: "an ISO 8601 basic-format UTC time (YYYYMMDD'T'HHMMSS'Z')",
        found: quote(s),
    })
}

/// Verifies a request signed with an `Authorization` header.
pub(crate) fn verify_header<C: CredentialSource>(
    verifier: &Verifier<C>,
    request: &HttpRequest,
    authorization: &str,
    now: OffsetDateTime,
) -> Result<Authenticated, AuthError> {
    let scheme = Scheme::SigV4Header;
    let header = parse_authorization(authorization)?;
    let credential = parse_credential(scheme, header.credential)?;
    check_signed_headers(scheme, header.signed_headers)?;
    let amz_date = request
        .header("x-amz-date")
        .ok_or(AuthError::MissingPart {
            scheme,
            part: "X-Amz-Date header",
        })?
        .trim();
    let signed_at = parse_amz(scheme, "X-Amz-Date header", amz_date)?;
    verifier.check_skew(scheme, signed_at, now)?;
    let parts = Parts {
        scheme,
        credential,
        amz_date,
        signed_at,
        signed_headers: header.signed_headers,
        signature: header.signature,
        session_token: request.header("x-amz-security-token"),
    };
    finish(verifier, request, &parts)
}

/// Reads one presigned parameter: required, once, UTF-8.
fn query_param(query: &str, name: &'static str) -> Result<String, AuthError> {
    let scheme = Scheme::SigV4Query;
    if count_param(query, name) > 1 {
        return Err(AuthError::Malformed {
            scheme,
            part: name,
            expected: "a single value",
            found: "several".to_owned(),
        });
    }
    match find_param(query, name) {
        None => Err(AuthError::MissingPart { scheme, part: name }),
        Some(Ok(v)) => Ok(v),
        Some(Err(raw)) => Err(AuthError::Malformed {
            scheme,
            part: name,
            expected: "UTF-8 text",
            found: quote(raw),
        }),
    }
}

/// Verifies a presigned request (SigV4 query authentication).
pub(crate) fn verify_query<C: CredentialSource>(
    verifier: &Verifier<C>,
    request: &HttpRequest,
    now: OffsetDateTime,
) -> Result<Authenticated, AuthError> {
    let scheme = Scheme::SigV4Query;
    let query = request.query.as_str();
    let algorithm = query_param(query, "X-Amz-Algorithm")?;
    if algorithm != ALGORITHM {
        return Err(AuthError::Unsupported {
            what: "X-Amz-Algorithm",
            found: quote(&algorithm),
        });
    }
    let credential_s = query_param(query, "X-Amz-Credential")?;
    let amz_date = query_param(query, "X-Amz-Date")?;
    let expires_s = query_param(query, "X-Amz-Expires")?;
    let signed_headers = query_param(query, "X-Amz-SignedHeaders")?;
    let signature = query_param(query, "X-Amz-Signature")?;
    let session_token = match find_param(query, "X-Amz-Security-Token") {
        None => None,
        Some(_) => Some(query_param(query, "X-Amz-Security-Token")?),
    };
    let credential = parse_credential(scheme, &credential_s)?;
    check_signed_headers(scheme, &signed_headers)?;
    let signed_at = parse_amz(scheme, "X-Amz-Date", &amz_date)?;
    let expires = expires_s
        .parse::<i64>()
        .ok()
        .filter(|e| (1..=super::MAX_PRESIGNED_EXPIRES).contains(e))
        .ok_or_else(|| AuthError::Malformed {
            scheme,
            part: "X-Amz-Expires",
            expected: "a number of seconds from 1 to 604800",
            found: quote(&expires_s),
        })?;
    // Valid from X-Amz-Date (with the clock skew for a client ahead of us) until it expires.
    if signed_at - verifier.max_skew() > now {
        return Err(AuthError::Skewed {
            scheme,
            signed_at,
            now,
            max_skew: verifier.max_skew(),
        });
    }
    let expired_at = signed_at + Duration::seconds(expires);
    if now > expired_at {
        return Err(AuthError::Expired {
            scheme,
            expired_at,
            now,
        });
    }
    let parts = Parts {
        scheme,
        credential,
        amz_date: &amz_date,
        signed_at,
        signed_headers: &signed_headers,
        signature: &signature,
        session_token: session_token.as_deref(),
    };
    finish(verifier, request, &parts)
}

/// The checks common to both forms: scope date, credential, session token, signature.
fn finish<C: CredentialSource>(
    verifier: &Verifier<C>,
    request: &HttpRequest,
    parts: &Parts<'_>,
) -> Result<Authenticated, AuthError> {
    let scheme = parts.scheme;
    if parts.amz_date.get(..8) != Some(parts.credential.date) {
        return Err(AuthError::ScopeDateMismatch {
            scheme,
            scope_date: parts.credential.date.to_owned(),
            request_time: parts.amz_date.to_owned(),
        });
    }
    let credential = verifier.credential(parts.credential.access_key_id)?;
    check_session_token(
        &credential,
        parts.credential.access_key_id,
        parts.session_token,
    )?;
    let payload = payload_hash(request)?;
    let canonical = canonical_request(scheme, request, parts.signed_headers, &payload)?;
    let to_sign = string_to_sign(parts.amz_date, parts.credential.scope, &canonical);
    let key = verifier.signing_key(
        credential.secret_access_key(),
        parts.credential.date,
        parts.credential.region,
        parts.credential.service,
    );
    let expected = signature(&key, &to_sign);
    if !bool::from(expected.as_bytes().ct_eq(parts.signature.as_bytes())) {
        return Err(AuthError::SignatureMismatch {
            scheme,
            string_to_sign: to_sign,
        });
    }
    Ok(Authenticated {
        access_key_id: parts.credential.access_key_id.to_owned(),
        account_id: credential.account_id().to_owned(),
        scheme,
        region: Some(parts.credential.region.to_owned()),
        service: Some(parts.credential.service.to_owned()),
        session_token: parts.session_token.map(str::to_owned),
        signed_at: parts.signed_at,
    })
}

/// The `Authorization` header value for a canonical request.
pub(crate) fn authorization_value(
    access_key_id: &str,
    scope: &str,
    signed_headers: &str,
    signature: &str,
) -> String {
    let mut s = String::with_capacity(160 + access_key_id.len() + scope.len());
    let _ = write!(
        s,
        "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_exact() {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37);
        }
        assert_eq!(hex32(&d), hex::encode(d));
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn aws_documented_signing_key() {
        // The example of AWS's SigV4 documentation (IAM, 2015-08-30, us-east-1).
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex::encode(key),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
    }

    #[test]
    fn aws_documented_get_example() {
        // AWS's documented GET ListUsers example: canonical request and signature.
        let request = HttpRequest::new("GET", "/?Action=ListUsers&Version=2010-05-08")
            .with_header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .with_header("X-Amz-Date", "20150830T123600Z")
            .with_header("Host", "iam.amazonaws.com");
        let canonical = canonical_request(
            Scheme::SigV4Header,
            &request,
            "content-type;host;x-amz-date",
            &payload_hash(&request).unwrap(),
        )
        .unwrap();
        assert_eq!(
            canonical,
            "GET\n/\nAction=ListUsers&Version=2010-05-08\n\
             content-type:application/x-www-form-urlencoded; charset=utf-8\n\
             host:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
             content-type;host;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let to_sign = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/iam/aws4_request",
            &canonical,
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            signature(&key, &to_sign),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    #[test]
    fn authorization_header_forms() {
        let p = parse_authorization(
            "AWS4-HMAC-SHA256 Credential=A/20261126/0/127/aws4_request,SignedHeaders=host;x-amz-date,Signature=ab",
        )
        .unwrap();
        assert_eq!(p.credential, "A/20261126/0/127/aws4_request");
        assert_eq!(p.signed_headers, "host;x-amz-date");
        assert_eq!(p.signature, "ab");
        let q = parse_authorization(
            "AWS4-HMAC-SHA256  Signature=ab ,  Credential=A/20261126/0/127/aws4_request, SignedHeaders=host;x-amz-date",
        )
        .unwrap();
        assert_eq!(p, q);
        let code = |v: &str| parse_authorization(v).unwrap_err().error_code().as_str();
        assert_eq!(code("AWS AKID:sig"), "IncompleteSignature");
        assert_eq!(
            code("AWS4-HMAC-SHA256 Credential=a, SignedHeaders=host"),
            "IncompleteSignature"
        );
        assert_eq!(
            code("AWS4-HMAC-SHA256 Credential=a, Credential=b"),
            "IncompleteSignature"
        );
        assert_eq!(code("AWS4-HMAC-SHA256 garbage"), "IncompleteSignature");
        assert_eq!(code(""), "IncompleteSignature");
    }

    #[test]
    fn credentials() {
        let c = parse_credential(Scheme::SigV4Header, "AK/20261126/0/127/aws4_request").unwrap();
        assert_eq!(
            (c.access_key_id, c.scope, c.date, c.region, c.service),
            ("AK", "20261126/0/127/aws4_request", "20261126", "0", "127")
        );
        for bad in [
            "AK",
            "AK/20261126/r/s",
            "AK/20261126/r/s/aws4_request/x",
            "/20261126/r/s/aws4_request",
            "AK/2026112/r/s/aws4_request",
            "AK/2026112x/r/s/aws4_request",
            "AK/20261126//s/aws4_request",
            "AK/20261126/r//aws4_request",
            "AK/20261126/r/s/aws3_request",
        ] {
            assert!(parse_credential(Scheme::SigV4Header, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn signed_headers_must_include_host() {
        assert!(check_signed_headers(Scheme::SigV4Header, "host;x-amz-date").is_ok());
        assert!(check_signed_headers(Scheme::SigV4Header, "x-amz-date").is_err());
        assert!(check_signed_headers(Scheme::SigV4Header, "host;;x-amz-date").is_err());
        assert!(check_signed_headers(Scheme::SigV4Header, "").is_err());
    }

    #[test]
    fn header_values_are_trimmed_collapsed_and_joined() {
        let request = HttpRequest::new("POST", "/")
            .with_header("Host", "h")
            .with_header("X-Multi", "  a   b\t c ")
            .with_header("x-multi", "d");
        let c = canonical_request(Scheme::SigV4Header, &request, "host;x-multi", "H").unwrap();
        assert_eq!(c, "POST\n/\n\nhost:h\nx-multi:a b c,d\n\nhost;x-multi\nH");
        let e = canonical_request(Scheme::SigV4Header, &request, "host;x-absent", "H");
        assert!(matches!(e, Err(AuthError::SignedHeaderAbsent { .. })));
    }

    #[test]
    fn payload_hash_header_must_match_the_body() {
        let r = HttpRequest::form_post("a=b");
        assert_eq!(payload_hash(&r).unwrap(), sha256_hex(b"a=b"));
        let good = r
            .clone()
            .with_header("X-Amz-Content-Sha256", sha256_hex(b"a=b"));
        assert!(payload_hash(&good).is_ok());
        let bad = r
            .clone()
            .with_header("X-Amz-Content-Sha256", sha256_hex(b"a=c"));
        assert!(matches!(
            payload_hash(&bad),
            Err(AuthError::PayloadHashMismatch { .. })
        ));
        let unsigned = r.with_header("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD);
        assert!(payload_hash(&unsigned).is_err());
        let get =
            HttpRequest::new("GET", "/?a=b").with_header("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD);
        assert_eq!(payload_hash(&get).unwrap(), UNSIGNED_PAYLOAD);
    }
}
