//! Fuzz the EC2 Query API parser: arbitrary method, target and body never panic; whatever parses
//! re-serialises (`Request::to_params`) to parameters that parse back identically; errors always
//! render to a well-formed envelope with a 4xx status.
#![no_main]

use ec2_model::{parse_params, parse_request, HttpRequest};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Layout: [flags] [method len] method [target len] target body.
    let (&flags, rest) = match data.split_first() {
        Some(x) => x,
        None => return,
    };
    let (method, rest) = take(rest);
    let (target, body) = take(rest);
    let method = String::from_utf8_lossy(method);
    let target = String::from_utf8_lossy(target);
    let mut req = HttpRequest::new(method.as_ref(), &target).with_body(body.to_vec());
    if flags & 1 == 1 {
        req = req.with_header(
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        );
    }
    match parse_request(&req) {
        Ok((version, request)) => {
            let params = request.to_params(version);
            assert_eq!(parse_params(&params), Ok((version, request.clone())));
            let again = HttpRequest::form_post(params.to_urlencoded());
            assert_eq!(parse_request(&again), Ok((version, request)));
        }
        Err(e) => {
            assert!((400..500).contains(&e.http_status()), "{e}");
            let xml = e.render_xml("fuzz");
            assert!(xml.contains("<Code>") && xml.ends_with("</Response>"));
        }
    }
});

/// Splits a length-prefixed field off the front (length byte, then up to that many bytes).
fn take(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => rest.split_at(usize::from(n).min(rest.len())),
        None => (&[], &[]),
    }
}
