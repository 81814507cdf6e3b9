//! Signature verification against requests signed by real clients, and property tests of the
//! signers and verifier.
//!
//! `tests/data/signed-requests.json` holds six requests captured from boto3, botocore and
//! boto 2.49 (SigV4 header, session token, presigned query, SigV2, boto 2's odd scope, boto 2's
//! GET): each must verify at its capture time and fail when any signed byte changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use ec2_model::auth::{
    AuthError, Credential, InMemoryCredentials, Scheme, SigV2Method, SigV2Signer, SigV4Signer,
    Verifier,
};
use ec2_model::HttpRequest;
use proptest::prelude::*;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

const ACCOUNT: &str = "123456789012";

struct Fixture {
    access_key: String,
    secret_key: String,
    captured_at: OffsetDateTime,
    requests: Vec<(String, HttpRequest)>,
}

fn fixture() -> Fixture {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/signed-requests.json"
    ))
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let captured_at =
        OffsetDateTime::parse(v["captured_at_utc"].as_str().unwrap(), &Rfc3339).unwrap();
    let requests = v["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            // The presigned URL was fetched with GET but signed for POST (see the fixture's
            // note): the canonical request must use the method it was signed with.
            let method = r
                .get("sign_method")
                .and_then(|m| m.as_str())
                .unwrap_or_else(|| r["method"].as_str().unwrap());
            let mut req = HttpRequest::new(method, r["target"].as_str().unwrap());
            for h in r["headers"].as_array().unwrap() {
                req.headers.push((
                    h[0].as_str().unwrap().to_owned(),
                    h[1].as_str().unwrap().to_owned(),
                ));
            }
            req.body = base64::engine::general_purpose::STANDARD
                .decode(r["body_b64"].as_str().unwrap())
                .unwrap();
            (r["client"].as_str().unwrap().to_owned(), req)
        })
        .collect();
    Fixture {
        access_key: v["access_key"].as_str().unwrap().to_owned(),
        secret_key: v["secret_key"].as_str().unwrap().to_owned(),
        captured_at,
        requests,
    }
}

fn verifier_for(f: &Fixture) -> Verifier<InMemoryCredentials> {
    Verifier::new(
        InMemoryCredentials::new().with(&f.access_key, Credential::new(&f.secret_key, ACCOUNT)),
    )
}

fn code(e: &AuthError) -> &'static str {
    e.error_code().as_str()
}

#[test]
fn every_captured_request_verifies_at_capture_time() {
    let f = fixture();
    assert_eq!(f.requests.len(), 6);
    let v = verifier_for(&f);
    let mut schemes = Vec::new();
    for (client, req) in &f.requests {
        let who = v
            .verify(req, f.captured_at)
            .unwrap_or_else(|e| panic!("{client}: {e}"));
        assert_eq!(who.access_key_id, "AKIDEXAMPLE", "{client}");
        assert_eq!(who.account_id, ACCOUNT, "{client}");
        schemes.push((who.scheme, who.region.clone(), who.service.clone()));
        if client.contains("session token") {
            assert_eq!(
                who.session_token.as_deref(),
                Some("FQoGZXIvYXdzEXAMPLETOKEN")
            );
        } else {
            assert_eq!(who.session_token, None, "{client}");
        }
    }
    let s = |r: &str, sv: &str| (Some(r.to_owned()), Some(sv.to_owned()));
    assert_eq!(
        schemes,
        vec![
            (
                Scheme::SigV4Header,
                s("us-east-1", "ec2").0,
                s("us-east-1", "ec2").1
            ),
            (
                Scheme::SigV4Header,
                s("eu-west-1", "ec2").0,
                s("eu-west-1", "ec2").1
            ),
            (
                Scheme::SigV4Query,
                s("us-east-1", "ec2").0,
                s("us-east-1", "ec2").1
            ),
            (Scheme::SigV2, None, None),
            // boto 2 derives the scope from the host 127.0.0.1.
            (Scheme::SigV4Header, s("0", "127").0, s("0", "127").1),
            (
                Scheme::SigV4Header,
                s("us-east-1", "ec2").0,
                s("us-east-1", "ec2").1
            ),
        ]
    );
}

/// Which parts of a request its signature covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Method,
    Path,
    Query,
    Body,
    Header(usize),
}

fn signed_parts(req: &HttpRequest) -> (Vec<Part>, Vec<usize>) {
    let mut parts = vec![Part::Method, Part::Path, Part::Query, Part::Body];
    let mut unsigned = Vec::new();
    let signed_names: Vec<String> = if let Some(auth) = req.header("authorization") {
        let sh = auth
            .split(',')
            .find_map(|c| c.trim().strip_prefix("SignedHeaders="))
            .unwrap();
        sh.split(';').map(str::to_owned).collect()
    } else if req.query.contains("X-Amz-SignedHeaders=host") {
        vec!["host".to_owned()]
    } else {
        // SigV2 signs the host (the content type only decides whether the body is a form, and
        // a body without one is a form too).
        vec!["host".to_owned()]
    };
    for (i, (name, _)) in req.headers.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        if signed_names.contains(&lower) || lower == "authorization" {
            parts.push(Part::Header(i));
        } else {
            unsigned.push(i);
        }
    }
    (parts, unsigned)
}

/// Applies `f` to the bytes of one part; header parts cover name and value (`name\0value`).
fn mutate(req: &HttpRequest, part: Part, at: usize, mask: u8) -> Option<HttpRequest> {
    let flip = |s: &str| -> Option<String> {
        let mut b = s.as_bytes().to_vec();
        let byte = b.get_mut(at)?;
        if !byte.is_ascii() {
            return Some(s.to_owned());
        }
        *byte ^= mask;
        String::from_utf8(b).ok()
    };
    let mut r = req.clone();
    match part {
        Part::Method => r.method = flip(&req.method)?,
        Part::Path => r.path = flip(&req.path)?,
        Part::Query => r.query = flip(&req.query)?,
        Part::Body => {
            let byte = r.body.get_mut(at)?;
            *byte ^= mask;
        }
        Part::Header(i) => {
            let (name, value) = &req.headers[i];
            if at < name.len() {
                r.headers[i].0 = flip(name)?;
            } else {
                let mut v = value.as_bytes().to_vec();
                let byte = v.get_mut(at - name.len())?;
                *byte ^= mask;
                r.headers[i].1 = String::from_utf8(v).ok()?;
            }
        }
    }
    Some(r)
}

fn part_len(req: &HttpRequest, part: Part) -> usize {
    match part {
        Part::Method => req.method.len(),
        Part::Path => req.path.len(),
        Part::Query => req.query.len(),
        Part::Body => req.body.len(),
        Part::Header(i) => req.headers[i].0.len() + req.headers[i].1.len(),
    }
}

#[test]
fn flipping_any_signed_byte_fails() {
    let f = fixture();
    let v = verifier_for(&f);
    let mut checked = 0usize;
    for (client, req) in &f.requests {
        let (parts, _) = signed_parts(req);
        for part in parts {
            for at in 0..part_len(req, part) {
                for mask in [0x01u8, 0x02, 0x10] {
                    let Some(m) = mutate(req, part, at, mask) else {
                        continue;
                    };
                    if m == *req {
                        continue;
                    }
                    checked += 1;
                    if let Ok(who) = v.verify(&m, f.captured_at) {
                        panic!(
                            "{client}: flipping byte {at} of {part:?} with {mask:#04x} still \
                             verifies ({who:?}): {m:?}"
                        );
                    }
                }
            }
        }
    }
    // Every byte of six requests, three masks each.
    assert!(checked > 5000, "only {checked} mutations checked");
}

#[test]
fn unsigned_headers_do_not_matter_for_sigv4() {
    let f = fixture();
    let v = verifier_for(&f);
    for (client, req) in &f.requests {
        if req.header("authorization").is_none() {
            continue;
        }
        let (_, unsigned) = signed_parts(req);
        assert!(!unsigned.is_empty(), "{client}");
        for i in unsigned {
            let mut m = req.clone();
            m.headers[i].1.push_str("-changed");
            v.verify(&m, f.captured_at)
                .unwrap_or_else(|e| panic!("{client}: changing {:?}: {e}", req.headers[i].0));
        }
    }
}

#[test]
fn wrong_secret_and_unknown_key_are_auth_failures() {
    let f = fixture();
    let wrong = Verifier::new(InMemoryCredentials::new().with(
        &f.access_key,
        Credential::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ", ACCOUNT),
    ));
    let nobody = Verifier::new(InMemoryCredentials::new());
    for (client, req) in &f.requests {
        let e = wrong.verify(req, f.captured_at).unwrap_err();
        assert!(
            matches!(e, AuthError::SignatureMismatch { .. }),
            "{client}: {e}"
        );
        assert_eq!(code(&e), "AuthFailure");
        let e = nobody.verify(req, f.captured_at).unwrap_err();
        assert!(
            matches!(e, AuthError::UnknownAccessKey { .. }),
            "{client}: {e}"
        );
        assert_eq!(code(&e), "AuthFailure");
        let ec2: ec2_model::Ec2Error = e.into();
        assert_eq!(ec2.http_status(), 401);
        assert_eq!(
            ec2.message(),
            "AWS was not able to validate the provided access credentials"
        );
    }
}

#[test]
fn clock_skew_is_fifteen_minutes() {
    let mut f = fixture();
    // The requests carry the capture time truncated to the second.
    f.captured_at = f.captured_at.replace_nanosecond(0).unwrap();
    let v = verifier_for(&f);
    let fifteen = Duration::minutes(15);
    for (client, req) in &f.requests {
        let presigned = req.query.contains("X-Amz-Signature");
        for now in [f.captured_at - fifteen, f.captured_at + fifteen] {
            if presigned && now > f.captured_at {
                continue; // Governed by X-Amz-Expires instead (below).
            }
            v.verify(req, now)
                .unwrap_or_else(|e| panic!("{client} at {now}: {e}"));
        }
        let second = Duration::seconds(1);
        for now in [
            f.captured_at - fifteen - second,
            f.captured_at + fifteen + second,
        ] {
            let e = v.verify(req, now).unwrap_err();
            assert_eq!(code(&e), "RequestExpired", "{client} at {now}: {e}");
            let ec2: ec2_model::Ec2Error = e.into();
            assert_eq!(ec2.http_status(), 400);
        }
        // A verifier with a tighter window.
        let tight = verifier_for(&f).with_max_skew(Duration::seconds(30));
        assert_eq!(
            code(
                &tight
                    .verify(req, f.captured_at - Duration::seconds(31))
                    .unwrap_err()
            ),
            "RequestExpired"
        );
    }
}

#[test]
fn presigned_requests_expire() {
    let mut f = fixture();
    f.captured_at = f.captured_at.replace_nanosecond(0).unwrap();
    let v = verifier_for(&f);
    let (_, req) = f
        .requests
        .iter()
        .find(|(c, _)| c.contains("presigned"))
        .unwrap();
    assert!(req.query.contains("X-Amz-Expires=900"));
    v.verify(req, f.captured_at + Duration::seconds(900))
        .unwrap();
    let e = v
        .verify(req, f.captured_at + Duration::seconds(901))
        .unwrap_err();
    assert!(matches!(e, AuthError::Expired { .. }), "{e}");
    assert_eq!(code(&e), "RequestExpired");

    // Our own presigned URLs, for 60 seconds.
    let signer = SigV4Signer::new(&f.access_key, &f.secret_key, "us-east-1", "ec2");
    let mut own = HttpRequest::new("GET", "/?Action=DescribeAddresses&Version=2016-11-15")
        .with_header("Host", "localhost:8773");
    signer.presign(&mut own, f.captured_at, 60).unwrap();
    v.verify(&own, f.captured_at + Duration::seconds(60))
        .unwrap();
    assert_eq!(
        code(
            &v.verify(&own, f.captured_at + Duration::seconds(61))
                .unwrap_err()
        ),
        "RequestExpired"
    );
    // Dated more than the skew in the future.
    assert_eq!(
        code(
            &v.verify(&own, f.captured_at - Duration::minutes(16))
                .unwrap_err()
        ),
        "RequestExpired"
    );
}

#[test]
fn sigv2_expires_instead_of_timestamp() {
    let f = fixture();
    let v = verifier_for(&f);
    // A SigV2 request valid until an explicit Expires, signed by hand the way clients do.
    let body = "Action=DescribeAddresses&Version=2014-10-01&AWSAccessKeyId=AKIDEXAMPLE\
                &SignatureVersion=2&SignatureMethod=HmacSHA256&Expires=2026-11-26T08%3A00%3A00Z";
    let to_sign = format!(
        "POST\n127.0.0.1:5007\n/\n{}",
        "AWSAccessKeyId=AKIDEXAMPLE&Action=DescribeAddresses&Expires=2026-11-26T08%3A00%3A00Z\
         &SignatureMethod=HmacSHA256&SignatureVersion=2&Version=2014-10-01"
    );
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(f.secret_key.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig: String =
        percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC).to_string();
    let req = HttpRequest::form_post(format!("{body}&Signature={sig}"))
        .with_header("Host", "127.0.0.1:5007");
    let t = time::macros::datetime!(2026-11-26 08:00:00 UTC);
    let who = v.verify(&req, t - Duration::hours(3)).unwrap();
    assert_eq!((who.scheme, who.signed_at), (Scheme::SigV2, t));
    v.verify(&req, t).unwrap();
    assert_eq!(
        code(&v.verify(&req, t + Duration::seconds(1)).unwrap_err()),
        "RequestExpired"
    );
}

#[test]
fn sigv2_hmac_sha1() {
    let f = fixture();
    let v = verifier_for(&f);
    // A GET, signed by hand with HMAC-SHA1 as older EC2 tools do.
    let query = "AWSAccessKeyId=AKIDEXAMPLE&Action=DescribeInstances&SignatureMethod=HmacSHA1\
                 &SignatureVersion=2&Timestamp=2026-11-26T07%3A03%3A18Z&Version=2014-10-01";
    let to_sign = format!("GET\nec2.example.com\n/\n{query}");
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(f.secret_key.as_bytes()).unwrap();
    mac.update(to_sign.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = percent_encoding::utf8_percent_encode(&sig, percent_encoding::NON_ALPHANUMERIC);
    let req = HttpRequest::new("GET", &format!("/?{query}&Signature={sig}"))
        .with_header("Host", "EC2.example.com");
    let who = v.verify(&req, f.captured_at).unwrap();
    assert_eq!(who.scheme, Scheme::SigV2);
    // The same request claiming HMAC-SHA256 fails.
    let mut other = req.clone();
    other.query = other.query.replace("HmacSHA1", "HmacSHA256");
    assert_eq!(
        code(&v.verify(&other, f.captured_at).unwrap_err()),
        "AuthFailure"
    );
}

#[test]
fn missing_and_incomplete_signatures() {
    let f = fixture();
    let v = verifier_for(&f);
    let (_, boto3) = &f.requests[0];

    let mut none = boto3.clone();
    none.headers.retain(|(n, _)| n != "Authorization");
    let e = v.verify(&none, f.captured_at).unwrap_err();
    assert_eq!(code(&e), "MissingAuthenticationToken");
    let ec2: ec2_model::Ec2Error = e.into();
    assert_eq!(ec2.http_status(), 401);

    let auth = boto3.header("authorization").unwrap().to_owned();
    let with_auth = |value: &str| {
        let mut r = none.clone();
        r.headers
            .push(("Authorization".to_owned(), value.to_owned()));
        r
    };
    let without_signature = auth.split(", Signature=").next().unwrap();
    for (value, what) in [
        (without_signature.to_owned(), "no Signature"),
        (
            auth.replace("SignedHeaders=content-type;host;x-amz-date, ", ""),
            "no SignedHeaders",
        ),
        (auth.replace("Credential", "Credentials"), "no Credential"),
        (auth.replace("/aws4_request", ""), "short scope"),
        (auth.replace("host;", ""), "host not signed"),
        (
            auth.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"),
            "other algorithm",
        ),
        (
            "AWS AKIDEXAMPLE:c2lnbmF0dXJl".to_owned(),
            "S3-style SigV2 header",
        ),
        (String::new(), "empty"),
    ] {
        let e = v.verify(&with_auth(&value), f.captured_at).unwrap_err();
        assert_eq!(code(&e), "IncompleteSignature", "{what}: {e}");
    }

    let mut no_date = boto3.clone();
    no_date.headers.retain(|(n, _)| n != "X-Amz-Date");
    let e = v.verify(&no_date, f.captured_at).unwrap_err();
    assert_eq!(code(&e), "IncompleteSignature", "{e}");

    // Two Authorization headers, or a header and a presigned query at once.
    let twice = boto3.clone().with_header("authorization", &auth);
    assert_eq!(
        code(&v.verify(&twice, f.captured_at).unwrap_err()),
        "IncompleteSignature"
    );
    let (_, presigned) = &f.requests[2];
    let both = presigned.clone().with_header("Authorization", &auth);
    assert_eq!(
        code(&v.verify(&both, f.captured_at).unwrap_err()),
        "IncompleteSignature"
    );

    // The scope date must be the date of X-Amz-Date, whatever the signature.
    let mut other_day = boto3.clone();
    for h in &mut other_day.headers {
        if h.0 == "Authorization" {
            h.1 = h.1.replace("/20261126/", "/20261125/");
        }
    }
    let e = v.verify(&other_day, f.captured_at).unwrap_err();
    assert!(matches!(e, AuthError::ScopeDateMismatch { .. }), "{e}");
    assert_eq!(code(&e), "AuthFailure");
}

#[test]
fn sigv2_shape_errors() {
    let f = fixture();
    let v = verifier_for(&f);
    let (_, v2) = &f.requests[3];
    let body = String::from_utf8(v2.body.clone()).unwrap();
    let with_body = |b: String| {
        let mut r = v2.clone();
        r.body = b.into_bytes();
        r
    };
    for (b, expected) in [
        (
            body.replace("SignatureVersion=2", "SignatureVersion=1"),
            "IncompleteSignature",
        ),
        (
            body.replace("HmacSHA256", "HmacSHA512"),
            "IncompleteSignature",
        ),
        // Supported, but this signature is an HMAC-SHA256.
        (body.replace("HmacSHA256", "HmacSHA1"), "AuthFailure"),
        (
            body.replace("&SignatureMethod=HmacSHA256", ""),
            "IncompleteSignature",
        ),
        (body.replace("Timestamp", "Stamp"), "IncompleteSignature"),
        (
            body.replace("Timestamp=2026", "Timestamp=1026"),
            "RequestExpired",
        ),
        (
            body.replace("Timestamp=", "Timestamp=x"),
            "IncompleteSignature",
        ),
        (
            format!("{body}&Expires=2026-11-26T08%3A00%3A00Z"),
            "IncompleteSignature",
        ),
        (format!("{body}&Signature=x"), "IncompleteSignature"),
        (body.replace("AKIDEXAMPLE", "AKIDOTHER"), "AuthFailure"),
    ] {
        let e = v.verify(&with_body(b), f.captured_at).unwrap_err();
        assert_eq!(code(&e), expected, "{e}");
    }
    let mut no_host = v2.clone();
    no_host.headers.retain(|(n, _)| n != "Host");
    assert_eq!(
        code(&v.verify(&no_host, f.captured_at).unwrap_err()),
        "IncompleteSignature"
    );
}

#[test]
fn session_tokens_bound_to_a_credential() {
    let f = fixture();
    let (_, with_token) = &f.requests[1];
    let (_, without_token) = &f.requests[0];
    let bound = |token: &str| {
        Verifier::new(InMemoryCredentials::new().with(
            &f.access_key,
            Credential::new(&f.secret_key, ACCOUNT).with_session_token(token),
        ))
    };
    bound("FQoGZXIvYXdzEXAMPLETOKEN")
        .verify(with_token, f.captured_at)
        .unwrap();
    for (req, token) in [
        (with_token, "other"),
        (without_token, "FQoGZXIvYXdzEXAMPLETOKEN"),
    ] {
        let e = bound(token).verify(req, f.captured_at).unwrap_err();
        assert!(matches!(e, AuthError::SessionTokenMismatch { .. }), "{e}");
        assert_eq!(code(&e), "AuthFailure");
    }
}

#[test]
fn payload_hash_header_is_checked() {
    let f = fixture();
    let v = verifier_for(&f);
    let signer = SigV4Signer::new(&f.access_key, &f.secret_key, "us-east-1", "ec2");
    let body = "Action=DescribeAddresses&Version=2016-11-15";
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body.as_bytes()));
    let mut req = HttpRequest::form_post(body)
        .with_header("Host", "h")
        .with_header("X-Amz-Content-Sha256", &hash);
    signer.sign(&mut req, f.captured_at).unwrap();
    assert!(req
        .header("authorization")
        .unwrap()
        .contains("x-amz-content-sha256"));
    v.verify(&req, f.captured_at).unwrap();
    req.body.push(b'x');
    let e = v.verify(&req, f.captured_at).unwrap_err();
    assert!(matches!(e, AuthError::PayloadHashMismatch { .. }), "{e}");
}

// ----------------------------------------------------------------------------------------------
// Property tests.

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn verifier() -> Verifier<InMemoryCredentials> {
    Verifier::new(InMemoryCredentials::new().with("AKIDTEST", Credential::new(SECRET, ACCOUNT)))
}

fn base_time() -> OffsetDateTime {
    time::macros::datetime!(2026-11-26 07:03:18 UTC)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

prop_compose! {
    /// A request as EC2 clients send them: a GET with parameters in the query or a POST form,
    /// arbitrary parameter names and values (any Unicode), a path, extra headers.
    fn request()(
        post in any::<bool>(),
        segments in prop::collection::vec("[a-zA-Z0-9_-]{1,6}", 0..3),
        params in prop::collection::vec(("[A-Za-z][A-Za-z0-9.]{0,12}", any::<String>()), 0..6),
        extra in prop::collection::vec(("x-[a-z]{1,8}", "[ -~]{0,20}"), 0..3),
        host in "[a-z0-9.-]{1,20}(:[0-9]{1,5})?",
    ) -> HttpRequest {
        let encoded: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect();
        let path = format!("/{}", segments.join("/"));
        let mut r = if post {
            let mut r = HttpRequest::form_post(encoded.join("&"));
            r.path = path;
            r
        } else {
            HttpRequest::new("GET", &format!("{path}?{}", encoded.join("&")))
        };
        r.headers.push(("Host".to_owned(), host));
        for (n, v) in extra {
            r.headers.push((n, v));
        }
        r
    }
}

#[derive(Debug, Clone, Copy)]
enum How {
    V4,
    V4Token,
    Presigned,
    V2,
    V2Sha1,
}

fn how() -> impl Strategy<Value = How> {
    prop_oneof![
        Just(How::V4),
        Just(How::V4Token),
        Just(How::Presigned),
        Just(How::V2),
        Just(How::V2Sha1)
    ]
}

fn sign(req: &mut HttpRequest, how: How, region: &str, service: &str, at: OffsetDateTime) {
    let v4 = SigV4Signer::new("AKIDTEST", SECRET, region, service);
    match how {
        How::V4 => v4.sign(req, at).unwrap(),
        How::V4Token => v4.with_session_token("tok/en+=").sign(req, at).unwrap(),
        How::Presigned => v4.presign(req, at, 300).unwrap(),
        How::V2 => SigV2Signer::new("AKIDTEST", SECRET).sign(req, at).unwrap(),
        How::V2Sha1 => SigV2Signer::new("AKIDTEST", SECRET)
            .with_method(SigV2Method::HmacSha1)
            .sign(req, at)
            .unwrap(),
    }
}

/// The parts of a signed request that the signature covers, by scheme.
fn covered(req: &HttpRequest, how: How) -> Vec<Part> {
    let mut parts = vec![Part::Method, Part::Path, Part::Query, Part::Body];
    for (i, (n, _)) in req.headers.iter().enumerate() {
        let n = n.to_ascii_lowercase();
        let signed = match how {
            How::V4 | How::V4Token => matches!(
                n.as_str(),
                "host" | "content-type" | "x-amz-date" | "x-amz-security-token" | "authorization"
            ),
            How::Presigned => n == "host",
            How::V2 | How::V2Sha1 => n == "host",
        };
        if signed {
            parts.push(Part::Header(i));
        }
    }
    parts
}

proptest! {
    // 192 cases by default; PROPTEST_CASES=N runs more.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(192)
    ))]

    #[test]
    fn signed_requests_verify(
        mut req in request(),
        how in how(),
        region in "[a-z0-9-]{1,12}",
        service in "[a-z0-9]{1,8}",
        skew in -900i64..=900,
    ) {
        let at = base_time();
        sign(&mut req, how, &region, &service, at);
        let now = at + Duration::seconds(if matches!(how, How::Presigned) { skew.min(300) } else { skew });
        let who = verifier().verify(&req, now);
        prop_assert!(who.is_ok(), "{:?}: {:?}", req, who);
        let who = who.unwrap();
        prop_assert_eq!(who.account_id.as_str(), ACCOUNT);
        if !matches!(how, How::V2 | How::V2Sha1) {
            prop_assert_eq!(who.region.as_deref(), Some(region.as_str()));
            prop_assert_eq!(who.service.as_deref(), Some(service.as_str()));
        }
        if matches!(how, How::V4Token) {
            prop_assert_eq!(who.session_token.as_deref(), Some("tok/en+="));
        }
    }

    #[test]
    fn any_single_mutation_fails(
        mut req in request(),
        how in how(),
        pick in any::<prop::sample::Index>(),
        at_pick in any::<prop::sample::Index>(),
        mask in prop::sample::select(vec![0x01u8, 0x02, 0x04, 0x08, 0x10]),
    ) {
        let at = base_time();
        sign(&mut req, how, "us-east-1", "ec2", at);
        let parts: Vec<Part> = covered(&req, how)
            .into_iter()
            .filter(|p| part_len(&req, *p) > 0)
            .collect();
        let part = *pick.get(&parts);
        let offset = at_pick.index(part_len(&req, part));
        if let Some(m) = mutate(&req, part, offset, mask) {
            prop_assume!(m != req);
            let r = verifier().verify(&m, at);
            prop_assert!(r.is_err(), "{:?} byte {} ^ {:#04x} still verifies: {:?}", part, offset, mask, m);
        }
    }

    #[test]
    fn arbitrary_headers_never_panic(
        headers in prop::collection::vec(
            (
                prop_oneof![
                    Just("Authorization".to_owned()),
                    Just("X-Amz-Date".to_owned()),
                    Just("Host".to_owned()),
                    Just("X-Amz-Content-Sha256".to_owned()),
                    Just("X-Amz-Security-Token".to_owned()),
                    Just("Content-Type".to_owned()),
                    any::<String>(),
                ],
                prop_oneof![
                    any::<String>(),
                    "AWS4-HMAC-SHA256 ((Credential|SignedHeaders|Signature)=[A-Za-z0-9/;_-]{0,40}(, ?)?){0,4}",
                    "20261126T0703[0-9]{2}Z",
                ],
            ),
            0..8,
        ),
        query in prop_oneof![
            any::<String>(),
            "((X-Amz-(Algorithm|Credential|Date|Expires|SignedHeaders|Signature|Security-Token)|Signature|SignatureVersion|SignatureMethod|AWSAccessKeyId|Timestamp|Expires)=[A-Za-z0-9%/.:+-]{0,24}&?){0,8}",
        ],
        body in prop::collection::vec(any::<u8>(), 0..64),
        post in any::<bool>(),
        skew in any::<i32>(),
    ) {
        let mut req = HttpRequest::new(if post { "POST" } else { "GET" }, "/");
        req.query = query;
        req.headers = headers;
        req.body = body;
        let now = base_time() + Duration::seconds(i64::from(skew));
        // Never panics; any failure is one of the authentication codes.
        if let Err(e) = verifier().verify(&req, now) {
            prop_assert!(matches!(
                e.error_code().as_str(),
                "MissingAuthenticationToken" | "IncompleteSignature" | "AuthFailure" | "RequestExpired"
            ));
            let _ = e.to_string();
            let _ = e.client_message();
        }
    }
}
