//! ec2-model: what one EC2 Query API request costs a server.
//!
//! For a DescribeAddresses and an AuthorizeSecurityGroupIngress request as boto3 sends them
//! (POST form, SigV4 `Authorization` header), measured side by side in the same run:
//!
//! - `full`: SigV4 verification + parsing into a typed request + rendering the XML response,
//!   i.e. everything `ec2-model` does for one request;
//! - `verify_sigv4`, `parse`, `render`: the three steps alone;
//! - baselines: `copy_request` (cloning the request: method, path, headers and body, the least
//!   a server does with it) and `sha256_body` (the hash every SigV4 verification computes).
//!
//! Throughput is in requests (elements) per second, single-threaded.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ec2_model::auth::{Credential, InMemoryCredentials, SigV4Signer, Verifier};
use ec2_model::response::Address;
use ec2_model::{parse_request, render, Domain, HttpRequest, Request, Response};
use sha2::Digest;
use time::OffsetDateTime;

const ACCESS_KEY: &str = "AKIDBENCH";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn signed(body: &str, now: OffsetDateTime) -> HttpRequest {
    let mut req = HttpRequest::form_post(body)
        .with_header("Host", "ec2.us-east-1.amazonaws.com")
        .with_header("Accept-Encoding", "identity")
        .with_header(
            "User-Agent",
            "Boto3/1.43.11 md/Botocore#1.43.11 ua/2.1 os/linux lang/python#3.11.7 Botocore/1.43.11",
        )
        .with_header("Content-Length", body.len().to_string());
    SigV4Signer::new(ACCESS_KEY, SECRET_KEY, "us-east-1", "ec2")
        .sign(&mut req, now)
        .unwrap();
    req
}

/// The canned answer a server would compute from its state.
fn respond(request: &Request) -> Response {
    match request {
        Request::DescribeAddresses(_) => Response::DescribeAddresses(vec![Address {
            public_ip: Ipv4Addr::new(198, 51, 100, 7),
            allocation_id: Some("eipalloc-0123456789abcdef0".parse().unwrap()),
            domain: Domain::Vpc,
            instance_id: Some("i-0123456789abcdef0".parse().unwrap()),
            association_id: Some("eipassoc-0123456789abcdef0".parse().unwrap()),
            network_interface_id: None,
            network_interface_owner_id: None,
            private_ip_address: Some(Ipv4Addr::new(10, 0, 0, 5)),
        }]),
        Request::AuthorizeSecurityGroupIngress(_) => Response::AuthorizeSecurityGroupIngress,
        other => panic!("not benchmarked: {other:?}"),
    }
}

fn ec2(c: &mut Criterion) {
    let now = time::macros::datetime!(2026-11-26 07:03:18 UTC);
    let verifier = Verifier::new(
        InMemoryCredentials::new().with(ACCESS_KEY, Credential::new(SECRET_KEY, "123456789012")),
    );
    let cases = [
        (
            "describe_addresses",
            signed(
                "Action=DescribeAddresses&Version=2016-11-15&PublicIp.1=198.51.100.7",
                now,
            ),
        ),
        (
            "authorize_security_group_ingress",
            signed(
                "Action=AuthorizeSecurityGroupIngress&Version=2016-11-15&GroupName=web+group\
                 &IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort=22\
                 &IpPermissions.1.ToPort=22&IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0%2F0\
                 &IpPermissions.1.IpRanges.1.Description=ssh+from+anywhere",
                now,
            ),
        ),
    ];
    for (name, req) in &cases {
        // Sanity: every step succeeds on this request.
        verifier.verify(req, now).unwrap();
        let (version, parsed) = parse_request(req).unwrap();
        let response = respond(&parsed);
        assert!(render(&response, version, "req-1").contains("requestId"));

        let mut g = c.benchmark_group(format!("ec2/{name}"));
        g.throughput(Throughput::Elements(1));
        g.bench_function("full", |b| {
            b.iter(|| {
                let req = black_box(req);
                let who = verifier.verify(req, now).unwrap();
                let (version, parsed) = parse_request(req).unwrap();
                let xml = render(
                    &respond(&parsed),
                    version,
                    "5e1f0c2a-0000-4000-8000-000000000001",
                );
                black_box((who, xml))
            })
        });
        g.bench_function("verify_sigv4", |b| {
            b.iter(|| black_box(verifier.verify(black_box(req), now).unwrap()))
        });
        g.bench_function("parse", |b| {
            b.iter(|| black_box(parse_request(black_box(req)).unwrap()))
        });
        g.bench_function("render", |b| {
            b.iter(|| black_box(render(black_box(&response), version, "req-1")))
        });
        g.bench_function("baseline_copy_request", |b| {
            b.iter(|| black_box(black_box(req).clone()))
        });
        g.bench_function("baseline_sha256_body", |b| {
            b.iter(|| black_box(sha2::Sha256::digest(black_box(&req.body))))
        });
        g.finish();
    }
}

criterion_group!(benches, ec2);
criterion_main!(benches);
