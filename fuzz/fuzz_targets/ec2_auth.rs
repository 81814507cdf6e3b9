//! Fuzz EC2 request authentication: arbitrary methods, targets, headers and bodies never make
//! `auth::Verifier::verify` panic, and it only ever accepts a request whose signature was made
//! with the one known secret.
//!
//! Two modes (first byte): raw requests built from the input, and a request signed by
//! `SigV4Signer`/`SigV2Signer` whose bytes the input then changes (a changed body can never
//! verify: it is hashed byte for byte).
#![no_main]

use ec2_model::auth::{Credential, InMemoryCredentials, SigV2Signer, SigV4Signer, Verifier};
use ec2_model::HttpRequest;
use libfuzzer_sys::fuzz_target;
use time::macros::datetime;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fuzz_target!(|data: &[u8]| {
    let now = datetime!(2026-11-26 07:03:18 UTC);
    let verifier = Verifier::new(
        InMemoryCredentials::new().with("AKIDFUZZ", Credential::new(SECRET, "123456789012")),
    );
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        // Raw: method, target, then "name: value" header lines, an empty line and the body.
        let (method, rest) = take(rest);
        let (target, rest) = take(rest);
        let mut req = HttpRequest::new(
            String::from_utf8_lossy(method).as_ref(),
            &String::from_utf8_lossy(target),
        );
        let (head, body) = take(rest);
        for line in String::from_utf8_lossy(head).split('\n') {
            if let Some((n, v)) = line.split_once(':') {
                req.headers.push((n.to_owned(), v.to_owned()));
            }
        }
        req.body = body.to_vec();
        let skew = i64::from(mode >> 1) * 60 - 3600;
        if let Ok(who) = verifier.verify(&req, now + time::Duration::seconds(skew)) {
            assert_eq!(who.access_key_id, "AKIDFUZZ");
        }
    } else {
        // Signed, then changed: XOR the body bytes with the input.
        let (params, mask) = take(rest);
        let mut req = HttpRequest::form_post(params.to_vec()).with_header("Host", "127.0.0.1:8773");
        let sigv4 = mode & 4 == 0;
        let signed = match (sigv4, mode & 2 == 0) {
            (true, true) => {
                SigV4Signer::new("AKIDFUZZ", SECRET, "us-east-1", "ec2").sign(&mut req, now)
            }
            (true, false) => {
                SigV4Signer::new("AKIDFUZZ", SECRET, "0", "127").presign(&mut req, now, 60)
            }
            (false, _) => SigV2Signer::new("AKIDFUZZ", SECRET).sign(&mut req, now),
        };
        if signed.is_err() {
            return; // A SigV2 form body that is not UTF-8 cannot be signed.
        }
        let before = req.body.clone();
        for (b, m) in req.body.iter_mut().zip(mask) {
            *b ^= m;
        }
        let result = verifier.verify(&req, now);
        if req.body == before && sigv4 {
            // Unchanged SigV4 requests verify (SigV2 also needs its parameters well-formed).
            assert!(result.is_ok(), "{result:?}");
        }
        if req.body != before && sigv4 {
            assert!(result.is_err(), "a changed body verified: {req:?}");
        }
    }
});

/// Splits a length-prefixed chunk off the front.
fn take(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&[], &[]),
    }
}
