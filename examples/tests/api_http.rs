//! The EC2 API over real HTTP on loopback: the in-process controller (`App::start`), requests
//! signed with SigV4 and SigV2 as clients sign them, sent over a TCP socket; the answers are
//! the XML and status codes EC2 gives. Authentication failures change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_common;

use ec2_model::auth::{SigV2Signer, SigV4Signer};
use ec2_model::HttpRequest;
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use std::net::SocketAddr;
use std::time::Duration;

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

async fn start(dir: &std::path::Path) -> App {
    let state = dir.join("state.sqlite3");
    let args = clap::Parser::parse_from([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--state-file",
        state.to_str().unwrap(),
        "--pool",
        "203.0.113.100-203.0.113.101",
    ]);
    let args: Args = args;
    let file = FileConfig::parse(&format!(
        "[[accounts]]\naccess_key = \"{KEY}\"\nsecret_key = \"{SECRET}\"\nowner = \"111122223333\"\n"
    ))
    .unwrap();
    let mut resolved = args.merge(file).unwrap();
    resolved.api.body_timeout = Duration::from_secs(1);
    let store = resolved.open_state(&args).unwrap();
    App::start(resolved, store).await.unwrap()
}

fn form(addr: SocketAddr, path: &str, body: &str) -> HttpRequest {
    let mut r =
        HttpRequest::form_post(body.as_bytes().to_vec()).with_header("Host", addr.to_string());
    r.path = path.to_owned();
    r
}

fn v4(addr: SocketAddr, path: &str, body: &str, secret: &str) -> HttpRequest {
    let mut r = form(addr, path, body);
    SigV4Signer::new(KEY, secret, "us-east-1", "ec2")
        .sign(&mut r, time::OffsetDateTime::now_utc())
        .unwrap();
    r
}

async fn call(addr: SocketAddr, req: HttpRequest) -> (u16, String) {
    let reply = tokio::task::spawn_blocking(move || fault_common::send(addr, &req))
        .await
        .unwrap()
        .unwrap();
    (reply.status, reply.body)
}

fn code(body: &str) -> String {
    fault_common::tag(body, "Code").unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_are_served_and_forgeries_change_nothing() {
    let dir = std::env::temp_dir().join(format!("ovs-ec2-api-http-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let app = start(&dir).await;
    let a = app.api;

    // SigV4 (botocore), at both paths.
    for path in ["/", "/services/compute"] {
        let (status, body) = call(
            a,
            v4(a, path, "Action=DescribeImages&Version=2016-11-15", SECRET),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("<imageId>ami-00000001</imageId>"), "{body}");
        assert!(body.contains("xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""));
    }

    // SigV2 (boto 2) on a GET: an address allocated without Domain by a 2014 client is a
    // standard (EC2-Classic) one.
    let mut r = HttpRequest::new(
        "GET",
        "/services/compute?Action=AllocateAddress&Version=2014-10-01",
    )
    .with_header("Host", a.to_string());
    SigV2Signer::new(KEY, SECRET)
        .sign(&mut r, time::OffsetDateTime::now_utc())
        .unwrap();
    let (status, body) = call(a, r).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<publicIp>203.0.113.100</publicIp>"),
        "{body}"
    );
    assert!(body.contains("<domain>standard</domain>"), "{body}");

    // A botocore client gets a VPC address with an allocation id.
    let (status, body) = call(
        a,
        v4(a, "/", "Action=AllocateAddress&Version=2016-11-15", SECRET),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<domain>vpc</domain>") && body.contains("<allocationId>eipalloc-"),
        "{body}"
    );

    // A wrong secret: refused, and the group does not exist afterwards.
    let (status, body) = call(
        a,
        v4(
            a,
            "/",
            "Action=CreateSecurityGroup&Version=2016-11-15&GroupName=evil&GroupDescription=x",
            "wrong-secret",
        ),
    )
    .await;
    // EC2 answers a bad signature with AuthFailure (401), as it does an unknown key.
    assert_eq!(
        (status, code(&body).as_str()),
        (401, "AuthFailure"),
        "{body}"
    );
    // No signature at all.
    let (status, body) = call(a, form(a, "/", "Action=DescribeImages&Version=2016-11-15")).await;
    assert_eq!(
        code(&body).as_str(),
        "MissingAuthenticationToken",
        "{status} {body}"
    );
    // An unknown key.
    let mut r = form(a, "/", "Action=DescribeImages&Version=2016-11-15");
    SigV4Signer::new("AKIAUNKNOWNKEY000000", SECRET, "us-east-1", "ec2")
        .sign(&mut r, time::OffsetDateTime::now_utc())
        .unwrap();
    let (status, body) = call(a, r).await;
    assert_eq!(
        (status, code(&body).as_str()),
        (401, "AuthFailure"),
        "{body}"
    );
    let groups = app
        .handle
        .inspect(|c| {
            c.model()
                .groups()
                .values()
                .map(|g| g.name.clone())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
    assert!(!groups.contains(&"evil".to_owned()), "{groups:?}");

    // EC2 errors come in EC2's envelope with its status.
    let (status, body) = call(
        a,
        v4(a, "/", "Action=AllocateAddress&Version=2016-11-15", SECRET),
    )
    .await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, "AddressLimitExceeded"),
        "{body}"
    );
    assert!(body.contains("<RequestID>"), "{body}");
    let (status, body) = call(
        a,
        v4(a, "/", "Action=Frobnicate&Version=2016-11-15", SECRET),
    )
    .await;
    assert_eq!(
        (status, code(&body).as_str()),
        (400, "InvalidAction"),
        "{body}"
    );

    // A body that stalls is refused after the body timeout, not waited for forever.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nAction=Desc"
    );
    let stalled = tokio::task::spawn_blocking(move || fault_common::send_bytes(a, head.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stalled.status, 400, "{}", stalled.body);
    assert!(
        stalled.body.contains("did not arrive within 1 s"),
        "{}",
        stalled.body
    );

    app.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
