//! Bad and hostile input to the EC2 API over HTTP: oversized bodies (sent, and only declared),
//! an oversized header, a request head that never finishes (slowloris), parameter floods, absurd indexes, a batch that breaks a limit halfway,
//! wrong and tampered signatures (SigV4 and SigV2), missing and malformed authentication,
//! expired and future-dated requests (signed, presigned, SigV2), and one account reaching for
//! another's addresses, associations, instances and groups.
//!
//! Each gets EC2's error code and HTTP status, and nothing changes: the live model and the
//! state file (model, records, pool, accounts) are the same before and after every one, and
//! the server goes on answering.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use ec2_model::auth::SigV4Signer;
use ec2_model::HttpRequest;
use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use examples::shell::Handle;
use fault_common::*;
use time::OffsetDateTime;

fn config() -> String {
    format!(
        r#"
[model.settings]
subnet = "10.0.0.0/24"
gateway = "10.0.0.1"
router_mac = "02:00:00:00:00:01"
public_gateway = "203.0.113.1"
public_gateway_mac = "02:00:00:00:00:02"
elastic_ip_mac = "02:00:00:00:00:03"

[[model.switches]]
dpid = 1
uplink = 1

[api]
pool = ["203.0.113.100-203.0.113.109"]
header_timeout_secs = 2

[[accounts]]
access_key = "{ACCESS}"
secret_key = "{SECRET}"
owner = "{OWNER}"

[[accounts]]
access_key = "{ACCESS2}"
secret_key = "{SECRET2}"
owner = "{OWNER2}"
"#
    )
}

/// Everything that must not change: the live model, and the state file's model, records,
/// pool and accounts.
fn snapshot(rt: &tokio::runtime::Runtime, handle: &Handle, state: &Path) -> String {
    let live = rt.block_on(handle.inspect(|c| c.model().clone())).unwrap();
    let (stored, s) = stored_model(state);
    format!(
        "live {}\nstored {}\nrecords {:?}\npool {:?}\naccounts {:?}",
        serde_json::to_string(&live).unwrap(),
        serde_json::to_string(&stored).unwrap(),
        s.records,
        s.pool,
        s.accounts
    )
}

/// (what, the call's parameters, HTTP status, EC2 code).
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

struct Fixture {
    rt: tokio::runtime::Runtime,
    handle: Handle,
    state: std::path::PathBuf,
    api: SocketAddr,
    before: String,
}

impl Fixture {
    #[track_caller]
    fn unchanged(&self, what: &str) {
        let now = snapshot(&self.rt, &self.handle, &self.state);
        assert!(now == self.before, "{what} changed the state");
        // And the server still answers.
        let r = Client::new(self.api, ACCESS, SECRET).call(&[("Action", "DescribeAddresses")]);
        r.expect_ok();
    }
}

/// Writes `head` then up to `body` bytes (stopping quietly if the server closes), and reads
/// the response.
fn send_streaming(addr: SocketAddr, head: &[u8], body: usize) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(head).unwrap();
    let mut writer = s.try_clone().unwrap();
    let feeder = std::thread::spawn(move || {
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < body {
            let n = chunk.len().min(body - sent);
            if writer.write_all(&chunk[..n]).is_err() {
                break;
            }
            sent += n;
        }
    });
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    // Read until the response is complete or the connection ends.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => {
                assert!(!raw.is_empty(), "no response: {e}");
                break;
            }
        }
        if complete(&raw) {
            break;
        }
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = feeder.join();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    Reply {
        status: head.split_whitespace().nth(1).unwrap().parse().unwrap(),
        body: body.to_owned(),
    }
}

/// A response with a `content-length` whose body has fully arrived.
fn complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .is_some_and(|n| body.len() >= n)
}

#[test]
fn hostile_requests_get_their_error_and_change_nothing() {
    let started = Instant::now();
    let scratch = Scratch::new("api-hostile");
    let state = scratch.path("state.sqlite3");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let args = Args::parse_from([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--state-file",
        state.to_str().unwrap(),
    ]);
    let mut resolved = args.merge(FileConfig::parse(&config()).unwrap()).unwrap();
    let store = resolved.open_state(&args).unwrap();
    let app = rt.block_on(App::start(resolved, store)).unwrap();
    let api = app.api;
    let one = Client::new(api, ACCESS, SECRET);
    let two = Client::new(api, ACCESS2, SECRET2);

    // Account one's resources: an instance with an elastic IP, and a group with a rule.
    let r = one.call(&[
        ("Action", "RunInstances"),
        ("ImageId", "ami-00000001"),
        ("MinCount", "1"),
        ("MaxCount", "1"),
    ]);
    let instance = r.expect_ok().tag("instanceId").unwrap();
    let r = one.call(&[("Action", "AllocateAddress"), ("Domain", "vpc")]);
    let ip = r.expect_ok().tag("publicIp").unwrap();
    let alloc = r.tag("allocationId").unwrap();
    let r = one.call(&[
        ("Action", "AssociateAddress"),
        ("AllocationId", &alloc),
        ("InstanceId", &instance),
    ]);
    let assoc = r.expect_ok().tag("associationId").unwrap();
    let r = one.call(&[
        ("Action", "CreateSecurityGroup"),
        ("GroupName", "web"),
        ("GroupDescription", "web"),
    ]);
    let group = r.expect_ok().tag("groupId").unwrap();
    let web = [
        ("GroupId", group.as_str()),
        ("IpPermissions.1.IpProtocol", "tcp"),
        ("IpPermissions.1.FromPort", "80"),
        ("IpPermissions.1.ToPort", "80"),
        ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
    ];
    let mut call = vec![("Action", "AuthorizeSecurityGroupIngress")];
    call.extend(web);
    one.call(&call).expect_ok();
    // Account two's: an instance and an address.
    let r = two.call(&[
        ("Action", "RunInstances"),
        ("ImageId", "ami-00000001"),
        ("MinCount", "1"),
        ("MaxCount", "1"),
    ]);
    let instance2 = r.expect_ok().tag("instanceId").unwrap();
    let r = two.call(&[("Action", "AllocateAddress"), ("Domain", "vpc")]);
    let alloc2 = r.expect_ok().tag("allocationId").unwrap();

    let f = Fixture {
        before: snapshot(&rt, app.service.handle(), &state),
        handle: app.service.handle().clone(),
        rt,
        state: state.clone(),
        api,
    };

    // --- Size. A body over the 1 MiB limit, sent: refused (without being buffered whole).
    let limit = examples::api::server::MAX_REQUEST_BYTES;
    let prefix = "Action=AllocateAddress&Version=2016-11-15&Pad=";
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{prefix}",
        limit + 1024
    );
    let r = send_streaming(api, head.as_bytes(), limit + 1024 - prefix.len());
    r.expect_error(400, "InvalidParameterValue");
    f.unchanged("an oversized body");
    // Only declared (4 GiB): refused at once, nothing sent.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {api}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        4u64 << 30
    );
    let r = send_streaming(api, head.as_bytes(), 0);
    r.expect_error(400, "InvalidParameterValue");
    f.unchanged("a declared 4 GiB body");
    // A 1 MiB header: refused by the HTTP layer.
    let mut signed = one.request(&[("Action", "AllocateAddress")]);
    signed
        .headers
        .push(("X-Padding".to_owned(), "p".repeat(1 << 20)));
    let r = send_streaming(api, &wire(&signed), 0);
    assert!(
        (400..500).contains(&r.status),
        "a 1 MiB header: {}",
        r.status
    );
    f.unchanged("an oversized header");
    // A valid signed call whose head never finishes (slowloris): the connection is closed at
    // the header deadline (2 s here), nothing is answered and nothing changes.
    let signed = one.request(&[("Action", "AllocateAddress"), ("Domain", "vpc")]);
    let raw = wire(&signed);
    let mut s = TcpStream::connect(api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t0 = Instant::now();
    s.write_all(&raw[..raw.len() / 3]).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "the half-sent head was not cut (after {:?}): {e}",
                t0.elapsed()
            ),
        }
    }
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "cut too early: {took:?}"
    );
    assert!(
        !String::from_utf8_lossy(&got).contains(" 200 "),
        "a half-sent head was answered: {}",
        String::from_utf8_lossy(&got)
    );
    f.unchanged("a request head that never finishes");

    // --- Parameter floods, signed (so that they reach the parser).
    let mut flood: Vec<(String, String)> = (0..2001)
        .map(|i| (format!("P{i}"), "x".to_owned()))
        .collect();
    flood.insert(0, ("Action".to_owned(), "AllocateAddress".to_owned()));
    let params: Vec<(&str, &str)> = flood
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = one.call(&params);
    r.expect_error(400, "InvalidParameterValue");
    assert!(r.tag("Message").unwrap().contains("parameters"), "{r:?}");
    f.unchanged("2001 parameters");
    let mut flood: Vec<(String, String)> = (0..150_000)
        .map(|i| (format!("{i}"), String::new()))
        .collect();
    flood.insert(0, ("Action".to_owned(), "AllocateAddress".to_owned()));
    let params: Vec<(&str, &str)> = flood
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = one.call(&params);
    assert_eq!(r.status, 400, "{r:?}");
    f.unchanged("150,000 parameters");
    // A value over 64 KiB.
    let long = "d".repeat(65 * 1024);
    let r = one.call(&[
        ("Action", "CreateSecurityGroup"),
        ("GroupName", "long"),
        ("GroupDescription", &long),
    ]);
    r.expect_error(400, "InvalidParameterValue");
    f.unchanged("a 65 KiB value");
    // Absurd list indexes.
    for index in ["99999999999999999999", "0", "-1", "1e9"] {
        let name = format!("IpPermissions.{index}.IpProtocol");
        let r = one.call(&[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupId", &group),
            (&name, "tcp"),
        ]);
        assert_eq!(r.status, 400, "index {index}: {r:?}");
        f.unchanged("an absurd index");
    }
    // A batch that breaks the rules limit halfway: all or nothing.
    let ports: Vec<String> = (0..100).map(|i| (1000 + i).to_string()).collect();
    let mut batch = vec![
        (
            "Action".to_owned(),
            "AuthorizeSecurityGroupIngress".to_owned(),
        ),
        ("GroupId".to_owned(), group.clone()),
    ];
    for (i, p) in ports.iter().enumerate() {
        let n = i + 1;
        batch.push((format!("IpPermissions.{n}.IpProtocol"), "tcp".to_owned()));
        batch.push((format!("IpPermissions.{n}.FromPort"), p.clone()));
        batch.push((format!("IpPermissions.{n}.ToPort"), p.clone()));
        batch.push((
            format!("IpPermissions.{n}.IpRanges.1.CidrIp"),
            "0.0.0.0/0".to_owned(),
        ));
    }
    let params: Vec<(&str, &str)> = batch
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    one.call(&params)
        .expect_error(400, "RulesPerSecurityGroupLimitExceeded");
    f.unchanged("a batch over the rules limit");
    // A batch whose last rule is a duplicate: nothing of it is added.
    let mut dup = vec![
        ("Action", "AuthorizeSecurityGroupIngress"),
        ("GroupId", group.as_str()),
        ("IpPermissions.1.IpProtocol", "tcp"),
        ("IpPermissions.1.FromPort", "81"),
        ("IpPermissions.1.ToPort", "81"),
        ("IpPermissions.1.IpRanges.1.CidrIp", "0.0.0.0/0"),
    ];
    dup.extend([
        ("IpPermissions.2.IpProtocol", "tcp"),
        ("IpPermissions.2.FromPort", "80"),
        ("IpPermissions.2.ToPort", "80"),
        ("IpPermissions.2.IpRanges.1.CidrIp", "0.0.0.0/0"),
    ]);
    one.call(&dup)
        .expect_error(400, "InvalidPermission.Duplicate");
    f.unchanged("a batch ending in a duplicate");

    // Garbage that is correctly signed: bad percent-encoding, invalid UTF-8, no action, an
    // unknown action.
    let signed_raw = |body: &str| {
        let mut r = HttpRequest::form_post(body).with_header("Host", api.to_string());
        SigV4Signer::new(ACCESS, SECRET, "us-east-1", "ec2")
            .sign(&mut r, OffsetDateTime::now_utc())
            .unwrap();
        send(api, &r).unwrap()
    };
    for (body, code) in [
        (
            "Action=AllocateAddress&Version=2016-11-15&Domain=%ZZ",
            "MalformedQueryString",
        ),
        (
            "Action=AllocateAddress&Version=2016-11-15&Domain=%FF%FE",
            "MalformedQueryString",
        ),
        ("Version=2016-11-15", "MissingAction"),
        ("Action=FormatAllDisks&Version=2016-11-15", "InvalidAction"),
    ] {
        let r = signed_raw(body);
        assert_eq!(
            (r.status, r.code().as_deref()),
            (400, Some(code)),
            "{body}: {r:?}"
        );
        f.unchanged(body);
    }

    // --- Signatures.
    let allocate = [("Action", "AllocateAddress")];
    let wrong = Client::new(api, ACCESS, "not-the-secret");
    wrong.call(&allocate).expect_error(401, "AuthFailure");
    f.unchanged("a wrong secret");
    let unknown = Client::new(api, "AKIDUNKNOWN000000000", SECRET);
    unknown.call(&allocate).expect_error(401, "AuthFailure");
    f.unchanged("an unknown access key");
    // Another account's key with this account's secret.
    Client::new(api, ACCESS2, SECRET)
        .call(&allocate)
        .expect_error(401, "AuthFailure");
    f.unchanged("a mixed-up key pair");
    // Tampered after signing: port 80 revoked becomes port 81... and the body is re-sent.
    let mut revoke = vec![("Action", "RevokeSecurityGroupIngress")];
    revoke.extend(web);
    let mut tampered = one.request(&revoke);
    let body = String::from_utf8(tampered.body.clone()).unwrap();
    tampered.body = body.replace("FromPort=80", "FromPort=79").into_bytes();
    send(api, &tampered)
        .unwrap()
        .expect_error(401, "AuthFailure");
    f.unchanged("a tampered body");
    // Tampered host header.
    let mut moved = one.request(&allocate);
    for (k, v) in &mut moved.headers {
        if k.eq_ignore_ascii_case("host") {
            *v = "ec2.example.com".to_owned();
        }
    }
    send(api, &moved).unwrap().expect_error(401, "AuthFailure");
    f.unchanged("a re-addressed request");
    // SigV2 with the wrong secret.
    let v2 = Client::new(api, ACCESS, "not-the-secret");
    send(api, &v2.request_v2(&allocate, OffsetDateTime::now_utc()))
        .unwrap()
        .expect_error(401, "AuthFailure");
    f.unchanged("SigV2 with a wrong secret");
    // No authentication, and a malformed one.
    let bare = HttpRequest::form_post("Action=AllocateAddress&Version=2016-11-15")
        .with_header("Host", api.to_string());
    send(api, &bare)
        .unwrap()
        .expect_error(401, "MissingAuthenticationToken");
    f.unchanged("an unsigned request");
    let garbled = bare
        .clone()
        .with_header("Authorization", "AWS4-HMAC-SHA256 Credential=garbage");
    send(api, &garbled)
        .unwrap()
        .expect_error(400, "IncompleteSignature");
    f.unchanged("a malformed Authorization header");
    let other_scheme = bare.with_header("Authorization", "Bearer abc");
    send(api, &other_scheme)
        .unwrap()
        .expect_error(400, "IncompleteSignature");
    f.unchanged("an unsupported scheme");

    // --- Expired and replayed requests.
    let now = OffsetDateTime::now_utc();
    let old = one.request_at(&allocate, now - time::Duration::minutes(20));
    send(api, &old).unwrap().expect_error(400, "RequestExpired");
    f.unchanged("a request signed 20 minutes ago");
    let future = one.request_at(&allocate, now + time::Duration::minutes(20));
    send(api, &future)
        .unwrap()
        .expect_error(400, "RequestExpired");
    f.unchanged("a request dated 20 minutes ahead");
    let mut presigned = HttpRequest::new("GET", "/?Action=AllocateAddress&Version=2016-11-15")
        .with_header("Host", api.to_string());
    SigV4Signer::new(ACCESS, SECRET, "us-east-1", "ec2")
        .presign(&mut presigned, now - time::Duration::minutes(5), 60)
        .unwrap();
    send(api, &presigned)
        .unwrap()
        .expect_error(400, "RequestExpired");
    f.unchanged("a presigned URL replayed after it expired");
    send(
        api,
        &one.request_v2(&allocate, now - time::Duration::minutes(20)),
    )
    .unwrap()
    .expect_error(400, "RequestExpired");
    f.unchanged("a SigV2 request signed 20 minutes ago");

    // --- Another account's resources (account two reaching for account one's).
    let cases: Vec<Case<'_>> = vec![
        (
            "release by address",
            vec![("Action", "ReleaseAddress"), ("PublicIp", &ip)],
            401,
            "AuthFailure",
        ),
        (
            "release by allocation",
            vec![("Action", "ReleaseAddress"), ("AllocationId", &alloc)],
            400,
            "InvalidAllocationID.NotFound",
        ),
        (
            "associate its allocation",
            vec![
                ("Action", "AssociateAddress"),
                ("AllocationId", &alloc),
                ("InstanceId", &instance2),
                ("AllowReassociation", "true"),
            ],
            400,
            "InvalidAllocationID.NotFound",
        ),
        (
            "associate with its instance",
            vec![
                ("Action", "AssociateAddress"),
                ("AllocationId", &alloc2),
                ("InstanceId", &instance),
            ],
            400,
            "InvalidInstanceID.NotFound",
        ),
        (
            "disassociate its association",
            vec![("Action", "DisassociateAddress"), ("AssociationId", &assoc)],
            400,
            "InvalidAssociationID.NotFound",
        ),
        (
            "disassociate its address",
            vec![("Action", "DisassociateAddress"), ("PublicIp", &ip)],
            401,
            "AuthFailure",
        ),
        (
            "describe its address",
            vec![("Action", "DescribeAddresses"), ("PublicIp.1", &ip)],
            400,
            "InvalidAddress.NotFound",
        ),
        (
            "terminate its instance",
            vec![
                ("Action", "TerminateInstances"),
                ("InstanceId.1", &instance),
            ],
            400,
            "InvalidInstanceID.NotFound",
        ),
        (
            "describe its instance",
            vec![("Action", "DescribeInstances"), ("InstanceId.1", &instance)],
            400,
            "InvalidInstanceID.NotFound",
        ),
        (
            "delete its group",
            vec![("Action", "DeleteSecurityGroup"), ("GroupId", &group)],
            400,
            "InvalidGroup.NotFound",
        ),
        (
            "launch into its group",
            vec![
                ("Action", "RunInstances"),
                ("ImageId", "ami-00000001"),
                ("MinCount", "1"),
                ("MaxCount", "1"),
                ("SecurityGroupId.1", &group),
            ],
            400,
            "InvalidGroup.NotFound",
        ),
    ];
    for (what, params, status, code) in cases {
        let r = two.call(&params);
        assert_eq!(
            (r.status, r.code().as_deref()),
            (status, Some(code)),
            "another account's resources: {what}: {r:?}"
        );
        f.unchanged(what);
    }
    for action in [
        "AuthorizeSecurityGroupIngress",
        "RevokeSecurityGroupIngress",
    ] {
        let mut call = vec![("Action", action)];
        call.extend(web);
        two.call(&call).expect_error(400, "InvalidGroup.NotFound");
        f.unchanged(action);
    }
    // Describing its groups by id: not found, and the listing holds only its own.
    two.call(&[("Action", "DescribeSecurityGroups"), ("GroupId.1", &group)])
        .expect_error(400, "InvalidGroup.NotFound");
    let r = two.call(&[("Action", "DescribeSecurityGroups")]);
    assert!(!r.expect_ok().tags("groupId").contains(&group));
    let r = two.call(&[("Action", "DescribeInstances")]);
    assert!(!r.expect_ok().tags("instanceId").contains(&instance));
    f.unchanged("describing");
    // Dry runs change nothing either.
    one.call(&[("Action", "AllocateAddress"), ("DryRun", "true")])
        .expect_error(412, "DryRunOperation");
    f.unchanged("a dry run");

    rt_shutdown(f, app);
    eprintln!("test took {:?}", started.elapsed());
}

fn rt_shutdown(f: Fixture, app: App) {
    f.rt.block_on(app.shutdown());
}
