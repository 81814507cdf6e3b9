//! Real EC2 clients against responses rendered by this crate.
//!
//! A tiny HTTP/1.1 responder on 127.0.0.1 (a std `TcpListener`, one thread per connection)
//! parses each request with [`parse_request`], verifies its signature with [`auth::Verifier`],
//! and answers with XML rendered from canned typed responses, or with the error envelope. The
//! Python script `tests/py/drive_clients.py` drives boto3/botocore, boto 2.49 and the AWS CLI v1
//! through every action (the describe calls with filters) and four error cases
//! (InvalidGroup.NotFound, AuthFailure from a wrong secret, a canned UnauthorizedOperation at
//! HTTP 403, and RequestExpired from a second responder whose clock runs 20 minutes ahead), and
//! prints what the clients returned as JSON; this test checks those values, and the typed
//! requests (filters included) the clients' calls parsed into.
//!
//! The Python interpreter comes from `OVS_EC2_PYTHON` (set by `scripts/test.sh` to its
//! virtualenv, with `scripts/requirements-test.txt` installed). The test fails if it is unset or
//! the clients cannot be imported: it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ec2_model::auth::{Credential, InMemoryCredentials, Scheme, Verifier};
use ec2_model::filters::{AddressFilter, Filter, InstanceFilter, SecurityGroupFilter};
use ec2_model::request::{AddressRef, GroupRef, IpPermission, IpRange, UserIdGroupPair};
use ec2_model::response::{
    Address, GroupIdentifier, Image, Instance, InstanceStateChange, Reservation, SecurityGroup,
};
use ec2_model::types::{AllocationId, AssociationId, GroupId, ImageId, InstanceId, ReservationId};
use ec2_model::{
    parse_request, render, Action, Domain, Ec2Error, ErrorCode, HttpRequest, InstanceState, Ports,
    Protocol, Request, Response,
};
use serde_json::Value;

const ACCESS_KEY: &str = "AKIDREALCLIENTS";
const SECRET_KEY: &str = "kWcrlUX5JEDGM/LtmEENI/aVmYvHNif5zB+d9+ct";
const ACCOUNT: &str = "123456789012";
const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const PRIVATE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 5);

fn allocation() -> AllocationId {
    "eipalloc-0123456789abcdef0".parse().unwrap()
}
fn association() -> AssociationId {
    "eipassoc-0123456789abcdef0".parse().unwrap()
}
fn group_id() -> GroupId {
    "sg-0123456789abcdef0".parse().unwrap()
}
fn other_group_id() -> GroupId {
    "sg-0fedcba9876543210".parse().unwrap()
}
fn instance_id() -> InstanceId {
    "i-0123456789abcdef0".parse().unwrap()
}
fn image_id() -> ImageId {
    "ami-0123456789abcdef0".parse().unwrap()
}
/// The image the responder refuses with `UnauthorizedOperation` (HTTP 403).
fn unauthorized_image() -> ImageId {
    "ami-0000000000000403".parse().unwrap()
}

/// One request the responder answered.
#[derive(Debug, Clone)]
struct Seen {
    user_agent: String,
    method: String,
    scheme: Scheme,
    region: Option<String>,
    request: Request,
}

impl Seen {
    fn client(&self) -> &'static str {
        if self.user_agent.starts_with("Boto3/") || self.user_agent.contains("Botocore/") {
            "boto3"
        } else if self.user_agent.starts_with("Boto/2.") {
            "boto2"
        } else if self.user_agent.starts_with("aws-cli/1.") {
            "awscli"
        } else {
            "other"
        }
    }
}

fn instance(state: InstanceState, groups: Vec<GroupIdentifier>) -> Instance {
    Instance {
        instance_id: instance_id(),
        image_id: image_id(),
        state,
        private_dns_name: Some("ip-10-0-0-5.ec2.internal".to_owned()),
        dns_name: None,
        reason: None,
        key_name: None,
        ami_launch_index: 0,
        instance_type: "t2.micro".to_owned(),
        launch_time: "2026-11-26T06:50:11.000Z".to_owned(),
        availability_zone: Some("us-east-1a".to_owned()),
        monitoring: false,
        subnet_id: None,
        vpc_id: None,
        private_ip_address: Some(PRIVATE_IP),
        ip_address: (state == InstanceState::Running).then_some(PUBLIC_IP),
        source_dest_check: Some(true),
        architecture: Some("x86_64".to_owned()),
        root_device_type: Some("ebs".to_owned()),
        root_device_name: Some("/dev/sda1".to_owned()),
        virtualization_type: Some("hvm".to_owned()),
        client_token: None,
        hypervisor: Some("xen".to_owned()),
        mac_address: Some("02:0e:0a:00:00:05".to_owned()),
        groups,
    }
}

/// The canned answer to each typed request.
fn canned(request: &Request) -> Result<Response, Ec2Error> {
    Ok(match request {
        Request::AllocateAddress(a) => {
            let domain = a.domain.unwrap_or(Domain::Standard);
            Response::AllocateAddress {
                public_ip: PUBLIC_IP,
                domain,
                allocation_id: (domain == Domain::Vpc).then(allocation),
            }
        }
        Request::AssociateAddress(a) => Response::AssociateAddress {
            association_id: matches!(a.address, AddressRef::AllocationId(_)).then(association),
        },
        Request::DisassociateAddress(_) => Response::DisassociateAddress,
        Request::ReleaseAddress(_) => Response::ReleaseAddress,
        Request::DescribeAddresses(_) => Response::DescribeAddresses(vec![Address {
            public_ip: PUBLIC_IP,
            allocation_id: Some(allocation()),
            domain: Domain::Vpc,
            instance_id: Some(instance_id()),
            association_id: Some(association()),
            network_interface_id: None,
            network_interface_owner_id: None,
            private_ip_address: Some(PRIVATE_IP),
        }]),
        Request::CreateSecurityGroup(_) => Response::CreateSecurityGroup {
            group_id: group_id(),
        },
        Request::DeleteSecurityGroup(d) => {
            if d.group == GroupRef::Name("missing".to_owned()) {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidGroupNotFound,
                    "The security group 'missing' does not exist",
                ));
            }
            Response::DeleteSecurityGroup
        }
        Request::AuthorizeSecurityGroupIngress(_) => Response::AuthorizeSecurityGroupIngress,
        Request::AuthorizeSecurityGroupEgress(_) => Response::AuthorizeSecurityGroupEgress,
        Request::RevokeSecurityGroupIngress(_) => Response::RevokeSecurityGroupIngress,
        Request::RevokeSecurityGroupEgress(_) => Response::RevokeSecurityGroupEgress,
        Request::DescribeSecurityGroups(_) => {
            Response::DescribeSecurityGroups(vec![SecurityGroup {
                owner_id: ACCOUNT.to_owned(),
                group_id: group_id(),
                group_name: "web".to_owned(),
                description: "web servers".to_owned(),
                vpc_id: None,
                ip_permissions: vec![
                    IpPermission {
                        protocol: Protocol::Tcp,
                        ports: Ports::Range { from: 22, to: 22 },
                        ip_ranges: vec![IpRange {
                            cidr: "0.0.0.0/0".parse().unwrap(),
                            description: None,
                        }],
                        ipv6_ranges: vec![],
                        groups: vec![],
                    },
                    IpPermission {
                        protocol: Protocol::Tcp,
                        ports: Ports::Range { from: 80, to: 90 },
                        ip_ranges: vec![],
                        ipv6_ranges: vec![],
                        groups: vec![UserIdGroupPair {
                            group_id: Some(other_group_id()),
                            group_name: Some("other".to_owned()),
                            user_id: Some(ACCOUNT.to_owned()),
                            description: None,
                        }],
                    },
                ],
                ip_permissions_egress: vec![IpPermission {
                    protocol: Protocol::All,
                    ports: Ports::Any,
                    ip_ranges: vec![IpRange {
                        cidr: "10.0.0.0/8".parse().unwrap(),
                        description: None,
                    }],
                    ipv6_ranges: vec![],
                    groups: vec![],
                }],
            }])
        }
        Request::DescribeImages(d) if d.image_ids.contains(&unauthorized_image()) => {
            return Err(Ec2Error::unauthorized());
        }
        Request::DescribeImages(_) => Response::DescribeImages(vec![Image {
            image_id: image_id(),
            location: Some("amazon/ubuntu".to_owned()),
            state: "available".to_owned(),
            owner_id: ACCOUNT.to_owned(),
            creation_date: Some("2026-11-26T06:50:09.000Z".to_owned()),
            is_public: true,
            architecture: "x86_64".to_owned(),
            image_type: "machine".to_owned(),
            platform: None,
            owner_alias: None,
            name: Some("ubuntu".to_owned()),
            description: None,
            root_device_type: "ebs".to_owned(),
            root_device_name: Some("/dev/sda1".to_owned()),
            virtualization_type: "hvm".to_owned(),
            hypervisor: "xen".to_owned(),
        }]),
        Request::RunInstances(r) => {
            let mut groups: Vec<GroupIdentifier> = r
                .security_group_ids
                .iter()
                .map(|id| GroupIdentifier {
                    group_id: id.clone(),
                    group_name: "by-id".to_owned(),
                })
                .collect();
            groups.extend(r.security_groups.iter().map(|name| GroupIdentifier {
                group_id: group_id(),
                group_name: name.clone(),
            }));
            Response::RunInstances(Reservation {
                reservation_id: "r-0123456789abcdef0".parse::<ReservationId>().unwrap(),
                owner_id: ACCOUNT.to_owned(),
                groups: vec![],
                instances: vec![instance(InstanceState::Pending, groups)],
            })
        }
        Request::DescribeInstances(_) => Response::DescribeInstances {
            reservations: vec![Reservation {
                reservation_id: "r-0123456789abcdef0".parse().unwrap(),
                owner_id: ACCOUNT.to_owned(),
                groups: vec![],
                instances: vec![instance(
                    InstanceState::Running,
                    vec![GroupIdentifier {
                        group_id: group_id(),
                        group_name: "web".to_owned(),
                    }],
                )],
            }],
            next_token: None,
        },
        Request::TerminateInstances(t) => Response::TerminateInstances(
            t.instance_ids
                .iter()
                .map(|id| InstanceStateChange {
                    instance_id: id.clone(),
                    current: InstanceState::ShuttingDown,
                    previous: InstanceState::Running,
                })
                .collect(),
        ),
    })
}

struct Responder {
    verifier: Verifier<InMemoryCredentials>,
    /// How far this responder's clock runs ahead of the real one.
    clock_ahead: time::Duration,
    seen: Mutex<Vec<Seen>>,
    failures: Mutex<Vec<String>>,
    next_id: AtomicU64,
}

impl Responder {
    /// Status and body for one request.
    fn answer(&self, http: &HttpRequest) -> (u16, String) {
        let id = format!(
            "5e1f0c2a-0000-4000-8000-{:012x}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let now = time::OffsetDateTime::now_utc() + self.clock_ahead;
        let who = match self.verifier.verify(http, now) {
            Ok(who) => who,
            Err(e) => {
                let e = Ec2Error::from(e);
                return (e.http_status(), e.render_xml(&id));
            }
        };
        let (version, request) = match parse_request(http) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.failures
                    .lock()
                    .unwrap()
                    .push(format!("{e} for {http:?}"));
                return (e.http_status(), e.render_xml(&id));
            }
        };
        self.seen.lock().unwrap().push(Seen {
            user_agent: http.header("user-agent").unwrap_or_default().to_owned(),
            method: http.method.clone(),
            scheme: who.scheme,
            region: who.region.clone(),
            request: request.clone(),
        });
        match canned(&request) {
            Ok(response) => (200, render(&response, version, &id)),
            Err(e) => (e.http_status(), e.render_xml(&id)),
        }
    }
}

/// Reads one HTTP/1.1 request; `None` at end of stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?, parts.next()?);
    let mut request = HttpRequest::new(method, target);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        request
            .headers
            .push((name.to_owned(), value.trim().to_owned()));
    }
    let length: usize = request
        .header("content-length")
        .map_or(0, |v| v.trim().parse().unwrap_or(0));
    assert!(length <= 1 << 20, "body too large: {length}");
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

fn serve(stream: TcpStream, responder: &Responder) {
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let (status, body) = responder.answer(&request);
        let reason = match status {
            200 => "OK",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "Error",
        };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: text/xml;charset=UTF-8\r\n\
             Content-Length: {}\r\nServer: ec2-model-test\r\n\r\n",
            body.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn python() -> String {
    let python = std::env::var("OVS_EC2_PYTHON").unwrap_or_else(|_| {
        panic!(
            "OVS_EC2_PYTHON is not set: it must name a Python with boto3 and boto 2.49 \
             (scripts/test.sh sets it; locally: python3 -m venv .venv && \
             .venv/bin/pip install -r scripts/requirements-test.txt && \
             export OVS_EC2_PYTHON=$PWD/.venv/bin/python)"
        )
    });
    let probe = Command::new(&python)
        .args([
            "-W",
            "ignore",
            "-c",
            "import boto, boto.ec2, boto3, botocore, awscli",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run OVS_EC2_PYTHON={python}: {e}"));
    assert!(
        probe.status.success(),
        "OVS_EC2_PYTHON={python} cannot import boto, boto3 or awscli (install scripts/requirements-test.txt): {}",
        String::from_utf8_lossy(&probe.stderr)
    );
    python
}

/// A responder on a fresh loopback port, its clock `clock_ahead` ahead; returns it and the port.
fn spawn_responder(clock_ahead: time::Duration) -> (Arc<Responder>, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let responder = Arc::new(Responder {
        verifier: Verifier::new(
            InMemoryCredentials::new().with(ACCESS_KEY, Credential::new(SECRET_KEY, ACCOUNT)),
        ),
        clock_ahead,
        seen: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        next_id: AtomicU64::new(1),
    });
    let r = Arc::clone(&responder);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let r = Arc::clone(&r);
            std::thread::spawn(move || serve(stream, &r));
        }
    });
    (responder, port)
}

/// Runs the driver script against a fresh responder (and one whose clock is 20 minutes ahead,
/// beyond the 15 minutes of allowed skew); returns its JSON and what was served.
fn drive() -> (Value, Vec<Seen>, Vec<String>) {
    let python = python();
    let (responder, port) = spawn_responder(time::Duration::ZERO);
    let (skewed, skewed_port) = spawn_responder(time::Duration::minutes(20));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/drive_clients.py");
    let mut child = Command::new(&python)
        .arg(script)
        .args([
            &port.to_string(),
            &skewed_port.to_string(),
            ACCESS_KEY,
            SECRET_KEY,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes on threads so neither can fill up, and bound the run.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("drive_clients.py did not finish in 180 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap().unwrap();
    let stderr = err_t.join().unwrap().unwrap();
    assert!(
        status.success(),
        "drive_clients.py failed ({status}):\n{stderr}\n{stdout}"
    );
    let json: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("drive_clients.py printed no JSON ({e}):\n{stdout}\n{stderr}"));
    let seen = responder.seen.lock().unwrap().clone();
    let failures = responder.failures.lock().unwrap().clone();
    // Nothing gets past the skewed responder's verifier.
    assert!(skewed.seen.lock().unwrap().is_empty());
    (json, seen, failures)
}

/// The value a call returned; panics with the client's error or exception otherwise.
fn ok<'a>(json: &'a Value, client: &str, call: &str) -> &'a Value {
    let entry = &json[client][call];
    match entry.get("ok") {
        Some(v) => v,
        None => panic!("{client}.{call} did not return a value: {entry:#}"),
    }
}

fn error<'a>(json: &'a Value, client: &str, call: &str) -> &'a Value {
    let entry = &json[client][call];
    match entry.get("error") {
        Some(v) => v,
        None => panic!("{client}.{call} did not fail with an EC2 error: {entry:#}"),
    }
}

#[test]
fn real_clients_parse_every_response() {
    let (json, seen, failures) = drive();
    eprintln!("client versions: {}", json["versions"]);
    assert!(
        failures.is_empty(),
        "requests the crate could not parse: {failures:#?}"
    );
    for client in ["boto3", "boto2", "awscli"] {
        for (call, entry) in json[client].as_object().unwrap() {
            assert!(
                entry.get("exception").is_none(),
                "{client}.{call} raised: {}",
                entry["exception"].as_str().unwrap_or_default()
            );
        }
    }

    // ---------------------------------------------------------------- boto3 / botocore
    let b3 = |call| ok(&json, "boto3", call);
    assert_eq!(
        b3("AllocateAddress"),
        &serde_json::json!({"PublicIp": "198.51.100.7", "AllocationId": "eipalloc-0123456789abcdef0", "Domain": "vpc"})
    );
    assert_eq!(b3("AssociateAddress"), "eipassoc-0123456789abcdef0");
    assert_eq!(b3("DisassociateAddress"), 200);
    assert_eq!(b3("ReleaseAddress"), 200);
    let addresses = b3("DescribeAddresses");
    assert_eq!(addresses.as_array().unwrap().len(), 1);
    assert_eq!(addresses[0]["PublicIp"], "198.51.100.7");
    assert_eq!(addresses[0]["AllocationId"], "eipalloc-0123456789abcdef0");
    assert_eq!(addresses[0]["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(addresses[0]["AssociationId"], "eipassoc-0123456789abcdef0");
    assert_eq!(addresses[0]["Domain"], "vpc");
    assert_eq!(addresses[0]["PrivateIpAddress"], "10.0.0.5");
    assert_eq!(b3("CreateSecurityGroup"), "sg-0123456789abcdef0");
    for call in [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
    ] {
        assert_eq!(b3(call), true, "boto3.{call}");
    }
    let groups = b3("DescribeSecurityGroups");
    let g = &groups[0];
    assert_eq!(
        (
            &g["GroupId"],
            &g["GroupName"],
            &g["Description"],
            &g["OwnerId"]
        ),
        (
            &Value::from("sg-0123456789abcdef0"),
            &Value::from("web"),
            &Value::from("web servers"),
            &Value::from(ACCOUNT)
        )
    );
    assert_eq!(
        g["IpPermissions"],
        serde_json::json!([
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIps": ["0.0.0.0/0"], "Groups": []},
            {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 90, "CidrIps": [],
             "Groups": [{"GroupId": "sg-0fedcba9876543210", "GroupName": "other", "UserId": ACCOUNT}]}
        ])
    );
    assert_eq!(
        g["IpPermissionsEgress"],
        serde_json::json!([{"IpProtocol": "-1", "FromPort": null, "ToPort": null, "CidrIps": ["10.0.0.0/8"], "Groups": []}])
    );
    assert_eq!(b3("DeleteSecurityGroup"), 200);
    let images = b3("DescribeImages");
    assert_eq!(
        images[0],
        serde_json::json!({"ImageId": "ami-0123456789abcdef0", "State": "available",
                           "Architecture": "x86_64", "Public": true, "Name": "ubuntu"})
    );
    let run = b3("RunInstances");
    assert_eq!(run["ReservationId"], "r-0123456789abcdef0");
    assert_eq!(run["OwnerId"], ACCOUNT);
    let i = &run["Instances"][0];
    assert_eq!(i["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(
        (&i["StateCode"], &i["StateName"]),
        (&Value::from(0), &Value::from("pending"))
    );
    assert_eq!(i["InstanceType"], "t2.micro");
    assert_eq!(i["PublicIpAddress"], Value::Null);
    assert_eq!(
        i["Groups"],
        serde_json::json!(["sg-0123456789abcdef0", "sg-0123456789abcdef0"])
    );
    assert_eq!(i["LaunchTime"], "2026-11-26T06:50:11+00:00");
    let described = b3("DescribeInstances");
    let i = &described[0]["Instances"][0];
    assert_eq!(
        (&i["StateCode"], &i["StateName"]),
        (&Value::from(16), &Value::from("running"))
    );
    assert_eq!(i["PublicIpAddress"], "198.51.100.7");
    assert_eq!(i["PrivateIpAddress"], "10.0.0.5");
    assert_eq!(i["MacAddress"], serde_json::json!(["02:0e:0a:00:00:05"]));
    assert_eq!(
        b3("TerminateInstances"),
        &serde_json::json!([{"InstanceId": "i-0123456789abcdef0", "Current": 32,
                             "CurrentName": "shutting-down", "Previous": 16}])
    );
    let e = error(&json, "boto3", "ErrorNotFound");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("InvalidGroup.NotFound"), &Value::from(400))
    );
    assert_eq!(e["message"], "The security group 'missing' does not exist");
    assert!(
        e["request_id"].as_str().unwrap().starts_with("5e1f0c2a-"),
        "{e}"
    );
    let e = error(&json, "boto3", "ErrorAuth");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("AuthFailure"), &Value::from(401))
    );
    check_refused_and_expired(&json, "boto3");

    // ---------------------------------------------------------------- boto 2.49
    let b2 = |call| ok(&json, "boto2", call);
    assert_eq!(
        b2("AllocateAddress"),
        &serde_json::json!({"public_ip": "198.51.100.7", "domain": "standard", "allocation_id": null})
    );
    assert_eq!(
        b2("AllocateAddressVpc"),
        &serde_json::json!({"public_ip": "198.51.100.7", "domain": "vpc", "allocation_id": "eipalloc-0123456789abcdef0"})
    );
    assert_eq!(b2("AssociateAddress"), true);
    assert_eq!(
        b2("AssociateAddressObject"),
        &serde_json::json!({"return": "true", "association_id": "eipassoc-0123456789abcdef0"})
    );
    assert_eq!(b2("DisassociateAddress"), true);
    assert_eq!(b2("ReleaseAddress"), true);
    assert_eq!(
        b2("DescribeAddresses"),
        &serde_json::json!([{"public_ip": "198.51.100.7", "instance_id": "i-0123456789abcdef0",
            "domain": "vpc", "allocation_id": "eipalloc-0123456789abcdef0",
            "association_id": "eipassoc-0123456789abcdef0", "private_ip_address": "10.0.0.5"}])
    );
    assert_eq!(
        b2("CreateSecurityGroup"),
        &serde_json::json!({"id": "sg-0123456789abcdef0", "name": "web", "description": "web servers"})
    );
    for call in [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupIngressSourceGroup",
        "AuthorizeSecurityGroupDeprecated",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "DeleteSecurityGroup",
    ] {
        assert_eq!(b2(call), true, "boto2.{call}");
    }
    let g = &b2("DescribeSecurityGroups")[0];
    assert_eq!(g["id"], "sg-0123456789abcdef0");
    assert_eq!(g["name"], "web");
    assert_eq!(g["owner_id"], ACCOUNT);
    assert_eq!(g["description"], "web servers");
    // boto 2 keeps rule ports as the text it parsed.
    assert_eq!(
        g["rules"],
        serde_json::json!([
            {"ip_protocol": "tcp", "from_port": "22", "to_port": "22",
             "grants": [{"cidr_ip": "0.0.0.0/0", "group_id": null, "name": null, "owner_id": null}]},
            {"ip_protocol": "tcp", "from_port": "80", "to_port": "90",
             "grants": [{"cidr_ip": null, "group_id": "sg-0fedcba9876543210", "name": "other", "owner_id": ACCOUNT}]}
        ])
    );
    assert_eq!(
        g["rules_egress"],
        serde_json::json!([{"ip_protocol": "-1", "from_port": null, "to_port": null,
            "grants": [{"cidr_ip": "10.0.0.0/8", "group_id": null, "name": null, "owner_id": null}]}])
    );
    let run = b2("DescribeImagesAndRun");
    assert_eq!(
        run["image"],
        serde_json::json!({"id": "ami-0123456789abcdef0", "state": "available",
                           "architecture": "x86_64", "is_public": true})
    );
    assert_eq!(run["reservation"], "r-0123456789abcdef0");
    assert_eq!(run["owner_id"], ACCOUNT);
    let i = &run["instances"][0];
    assert_eq!(i["id"], "i-0123456789abcdef0");
    assert_eq!(
        (&i["state"], &i["state_code"]),
        (&Value::from("pending"), &Value::from(0))
    );
    assert_eq!(i["instance_type"], "t2.micro");
    assert_eq!(i["groups"], serde_json::json!(["sg-0123456789abcdef0"]));
    let run = b2("RunInstances");
    assert_eq!(
        run["instances"][0]["groups"],
        serde_json::json!(["sg-0123456789abcdef0"])
    );
    let i = &b2("DescribeInstances")[0]["instances"][0];
    assert_eq!(
        (&i["state"], &i["state_code"]),
        (&Value::from("running"), &Value::from(16))
    );
    assert_eq!(i["ip_address"], "198.51.100.7");
    assert_eq!(i["private_ip_address"], "10.0.0.5");
    assert_eq!(i["mac_address"], serde_json::json!(["02:0e:0a:00:00:05"]));
    assert_eq!(i["launch_time"], "2026-11-26T06:50:11.000Z");
    assert_eq!(
        b2("TerminateInstances"),
        &serde_json::json!([{"id": "i-0123456789abcdef0", "state": "shutting-down",
            "state_code": 32, "previous_state": "running", "previous_state_code": 16}])
    );
    let e = error(&json, "boto2", "ErrorNotFound");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("InvalidGroup.NotFound"), &Value::from(400))
    );
    assert_eq!(e["message"], "The security group 'missing' does not exist");
    let e = error(&json, "boto2", "ErrorAuth");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("AuthFailure"), &Value::from(401))
    );
    check_refused_and_expired(&json, "boto2");

    // ---------------------------------------------------------------- AWS CLI v1
    let cli = |call| ok(&json, "awscli", call);
    assert_eq!(
        cli("AllocateAddress"),
        &serde_json::json!({"PublicIp": "198.51.100.7", "AllocationId": "eipalloc-0123456789abcdef0", "Domain": "vpc"})
    );
    assert_eq!(
        cli("AssociateAddress"),
        &serde_json::json!({"AssociationId": "eipassoc-0123456789abcdef0"})
    );
    // Nothing but the request id in the answer: the CLI prints nothing.
    assert_eq!(cli("DisassociateAddress"), &Value::Null);
    assert_eq!(cli("ReleaseAddress"), &Value::Null);
    assert_eq!(
        cli("DescribeAddresses"),
        &serde_json::json!({"Addresses": [{"PublicIp": "198.51.100.7",
            "AllocationId": "eipalloc-0123456789abcdef0", "Domain": "vpc",
            "InstanceId": "i-0123456789abcdef0", "AssociationId": "eipassoc-0123456789abcdef0",
            "PrivateIpAddress": "10.0.0.5"}]})
    );
    assert_eq!(
        cli("CreateSecurityGroup"),
        &serde_json::json!({"GroupId": "sg-0123456789abcdef0"})
    );
    for call in [
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "DeleteSecurityGroup",
    ] {
        assert_eq!(cli(call)["Return"], true, "awscli.{call}");
    }
    let g = &cli("DescribeSecurityGroups")["SecurityGroups"][0];
    assert_eq!(g["GroupId"], "sg-0123456789abcdef0");
    assert_eq!(g["GroupName"], "web");
    assert_eq!(g["OwnerId"], ACCOUNT);
    assert_eq!(g["IpPermissions"][0]["FromPort"], 22);
    assert_eq!(
        g["IpPermissions"][0]["IpRanges"],
        serde_json::json!([{"CidrIp": "0.0.0.0/0"}])
    );
    assert_eq!(g["IpPermissions"][1]["ToPort"], 90);
    assert_eq!(
        g["IpPermissions"][1]["UserIdGroupPairs"],
        serde_json::json!([{"GroupId": "sg-0fedcba9876543210", "GroupName": "other", "UserId": ACCOUNT}])
    );
    assert_eq!(g["IpPermissionsEgress"][0]["IpProtocol"], "-1");
    assert_eq!(g["IpPermissionsEgress"][0]["FromPort"], Value::Null);
    let images = &cli("DescribeImages")["Images"];
    assert_eq!(images.as_array().unwrap().len(), 1);
    assert_eq!(
        (
            &images[0]["ImageId"],
            &images[0]["State"],
            &images[0]["Public"],
            &images[0]["RootDeviceType"]
        ),
        (
            &Value::from("ami-0123456789abcdef0"),
            &Value::from("available"),
            &Value::from(true),
            &Value::from("ebs")
        )
    );
    let run = cli("RunInstances");
    assert_eq!(run["ReservationId"], "r-0123456789abcdef0");
    let i = &run["Instances"][0];
    assert_eq!(i["InstanceId"], "i-0123456789abcdef0");
    assert_eq!(
        i["State"],
        serde_json::json!({"Code": 0, "Name": "pending"})
    );
    assert_eq!(
        i["SecurityGroups"],
        serde_json::json!([{"GroupId": "sg-0123456789abcdef0", "GroupName": "by-id"},
                           {"GroupId": "sg-0123456789abcdef0", "GroupName": "web"}])
    );
    // The CLI prints the time as the XML carried it.
    assert_eq!(i["LaunchTime"], "2026-11-26T06:50:11.000Z");
    let i = &cli("DescribeInstances")["Reservations"][0]["Instances"][0];
    assert_eq!(
        i["State"],
        serde_json::json!({"Code": 16, "Name": "running"})
    );
    assert_eq!(i["PublicIpAddress"], "198.51.100.7");
    assert_eq!(i["PrivateIpAddress"], "10.0.0.5");
    assert_eq!(i["Placement"]["AvailabilityZone"], "us-east-1a");
    assert_eq!(
        cli("TerminateInstances"),
        &serde_json::json!({"TerminatingInstances": [{"InstanceId": "i-0123456789abcdef0",
            "CurrentState": {"Code": 32, "Name": "shutting-down"},
            "PreviousState": {"Code": 16, "Name": "running"}}]})
    );
    let e = error(&json, "awscli", "ErrorNotFound");
    assert_eq!(e["code"], "InvalidGroup.NotFound");
    assert_eq!(e["operation"], "DeleteSecurityGroup");
    assert_eq!(e["message"], "The security group 'missing' does not exist");
    // AWS CLI v1 exits with 255 on a service error.
    assert_eq!(e["exit"], 255);
    let e = error(&json, "awscli", "ErrorUnauthorized");
    assert_eq!(
        (&e["code"], &e["operation"], &e["exit"]),
        (
            &Value::from("UnauthorizedOperation"),
            &Value::from("DescribeImages"),
            &Value::from(255)
        )
    );
    assert_eq!(
        e["message"],
        "You are not authorized to perform this operation."
    );
    let e = error(&json, "awscli", "ErrorExpired");
    assert_eq!(
        (&e["code"], &e["operation"]),
        (
            &Value::from("RequestExpired"),
            &Value::from("DescribeAddresses")
        )
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Request has expired"),
        "{e}"
    );

    // ---------------------------------------------------------------- what the server saw
    let all: BTreeSet<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
    for client in ["boto3", "boto2", "awscli"] {
        let actions: BTreeSet<&str> = seen
            .iter()
            .filter(|s| s.client() == client)
            .map(|s| s.request.action().as_str())
            .collect();
        assert_eq!(actions, all, "{client} did not reach every action");
    }
    assert!(seen.iter().all(|s| s.client() != "other"), "{seen:#?}");
    // Every client signs with SigV4 in the Authorization header; boto 2 derives its scope from
    // the host name 127.0.0.1.
    assert!(seen.iter().all(|s| s.scheme == Scheme::SigV4Header));
    assert!(seen
        .iter()
        .filter(|s| s.client() == "boto3")
        .all(|s| s.region.as_deref() == Some("us-east-1")));
    // boto 2's deprecated authorize is a GET with the parameters in the query string.
    let deprecated = seen
        .iter()
        .find(|s| s.client() == "boto2" && s.method == "GET")
        .expect("boto 2's GET authorize");
    let Request::AuthorizeSecurityGroupIngress(rules) = &deprecated.request else {
        panic!("{deprecated:?}")
    };
    assert_eq!(rules.group, GroupRef::Name("web".to_owned()));
    assert_eq!(
        rules.permissions[0].groups[0].group_name.as_deref(),
        Some("other")
    );
    assert_eq!(
        rules.permissions[0].groups[0].user_id.as_deref(),
        Some(ACCOUNT)
    );
    // The CLI's shortcuts: --port 80-90 --cidr 10.0.0.0/8.
    let cli_ingress = seen
        .iter()
        .find_map(|s| match (&s.request, s.client()) {
            (Request::AuthorizeSecurityGroupIngress(r), "awscli") => Some(r),
            _ => None,
        })
        .expect("the CLI's authorize");
    assert_eq!(cli_ingress.group, GroupRef::Name("web".to_owned()));
    assert_eq!(
        cli_ingress.permissions[0].ports,
        Ports::Range { from: 80, to: 90 }
    );
    assert_eq!(
        cli_ingress.permissions[0].ip_ranges[0].cidr.to_string(),
        "10.0.0.0/8"
    );
    // The 16 actions and the two errors the responder answers after parsing (not found, 403).
    assert_eq!(seen.iter().filter(|s| s.client() == "awscli").count(), 18);
    // boto3's ingress with a description and a group pair.
    let ingress = seen
        .iter()
        .find_map(|s| match (&s.request, s.client()) {
            (Request::AuthorizeSecurityGroupIngress(r), "boto3") => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(ingress.group, GroupRef::Id(group_id()));
    assert_eq!(ingress.permissions.len(), 2);
    assert_eq!(
        ingress.permissions[0].ports,
        Ports::Range { from: 22, to: 22 }
    );
    assert_eq!(
        ingress.permissions[0].ip_ranges[0].description.as_deref(),
        Some("ssh")
    );
    assert_eq!(
        ingress.permissions[1].groups[0].group_id,
        Some(other_group_id())
    );

    // ---------------------------------------------------------------- filters as sent
    fn filter<K>(key: K, values: &[&str]) -> Filter<K> {
        Filter {
            key,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }
    let requests = |client: &str, action: Action| -> Vec<Request> {
        seen.iter()
            .filter(|s| s.client() == client && s.request.action() == action)
            .map(|s| s.request.clone())
            .collect()
    };
    for client in ["boto3", "boto2", "awscli"] {
        let [Request::DescribeAddresses(d)] = &requests(client, Action::DescribeAddresses)[..]
        else {
            panic!("{client}: one DescribeAddresses expected")
        };
        assert_eq!(d.public_ips, [PUBLIC_IP], "{client}");
        assert_eq!(
            d.filters,
            [filter(AddressFilter::Domain, &["vpc"])],
            "{client}"
        );
        let [Request::DescribeInstances(d)] = &requests(client, Action::DescribeInstances)[..]
        else {
            panic!("{client}: one DescribeInstances expected")
        };
        assert_eq!(d.instance_ids, [instance_id()], "{client}");
        // boto 2 sends a list value as Filter.1.Value.1, Filter.1.Value.2.
        let states: &[&str] = if client == "boto2" {
            &["running", "pending"]
        } else {
            &["running"]
        };
        assert_eq!(
            d.filters,
            [filter(InstanceFilter::InstanceStateName, states)],
            "{client}"
        );
        let [Request::DescribeSecurityGroups(d)] =
            &requests(client, Action::DescribeSecurityGroups)[..]
        else {
            panic!("{client}: one DescribeSecurityGroups expected")
        };
        assert_eq!(d.group_names, ["web"], "{client}");
        let cidr = filter(SecurityGroupFilter::IpPermissionCidr, &["0.0.0.0/0"]);
        if client == "boto3" {
            assert_eq!(
                d.filters,
                [
                    filter(SecurityGroupFilter::GroupName, &["web", "db*"]),
                    cidr
                ],
                "{client}"
            );
        } else {
            assert_eq!(d.filters, [cidr], "{client}");
        }
    }
}

/// The canned 403 and the RequestExpired of the skewed responder, as a client reported them.
fn check_refused_and_expired(json: &Value, client: &str) {
    let e = error(json, client, "ErrorUnauthorized");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("UnauthorizedOperation"), &Value::from(403)),
        "{client}"
    );
    assert_eq!(
        e["message"],
        "You are not authorized to perform this operation."
    );
    assert!(
        e["request_id"].as_str().unwrap().starts_with("5e1f0c2a-"),
        "{client}: {e}"
    );
    let e = error(json, client, "ErrorExpired");
    assert_eq!(
        (&e["code"], &e["status"]),
        (&Value::from("RequestExpired"), &Value::from(400)),
        "{client}"
    );
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .starts_with("Request has expired"),
        "{client}: {e}"
    );
}
