//! Real EC2 clients behind one interface: boto3 and boto 2.49 through a long-lived Python
//! driver (`tests/clients/ec2_driver.py`), and the AWS CLI run once per call.
//!
//! The Python interpreter is `OVS_EC2_PYTHON` (`scripts/test.sh` exports its virtualenv's
//! python, with `scripts/requirements-test.txt` installed); the AWS CLI is run as
//! `$OVS_EC2_PYTHON -m awscli`. A missing interpreter or package fails the test, naming what
//! to install.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one client call may take before the test gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// An error answer of the service, as the client parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The EC2 error code (`InvalidGroup.NotFound`...).
    pub(crate) code: String,
    /// The message.
    pub(crate) message: String,
}

/// A call's outcome: its data, or the service's error.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A security group as the scenario knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Group {
    /// `sg-...`.
    pub(crate) id: String,
    /// Its name.
    pub(crate) name: String,
}

/// An instance started by `RunInstances`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Launched {
    /// `i-...`.
    pub(crate) id: String,
    /// Its private address.
    pub(crate) private_ip: Ipv4Addr,
}

/// An elastic IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Eip {
    /// The public address.
    pub(crate) public_ip: Ipv4Addr,
    /// The allocation id (VPC-style addresses; boto 2's classic addresses have none).
    pub(crate) allocation_id: Option<String>,
}

/// One ingress rule from a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CidrRule {
    /// `tcp`, `udp` or `icmp`.
    pub(crate) protocol: &'static str,
    /// First port.
    pub(crate) from: u16,
    /// Last port.
    pub(crate) to: u16,
    /// The source CIDR.
    pub(crate) cidr: String,
}

impl CidrRule {
    /// TCP `port` from `cidr`.
    pub(crate) fn tcp(port: u16, cidr: &str) -> CidrRule {
        CidrRule {
            protocol: "tcp",
            from: port,
            to: port,
            cidr: cidr.to_owned(),
        }
    }
}

/// The scenario's operations, each made the way a user of the client makes it.
pub(crate) trait Ec2Client {
    /// The client's name, for messages.
    fn name(&self) -> &'static str;
    /// Whether the client uses EC2-Classic addressing (public IPs, no allocation or
    /// association ids): boto 2's original calls.
    fn classic(&self) -> bool;
    /// `CreateSecurityGroup`.
    fn create_group(&mut self, name: &str, description: &str) -> ApiResult<Group>;
    /// `RunInstances` of one instance of `image` in `group`.
    fn run_instance(&mut self, image: &str, group: &Group) -> ApiResult<Launched>;
    /// The state name `DescribeInstances` gives for `instance`.
    fn instance_state(&mut self, instance: &str) -> ApiResult<String>;
    /// `AllocateAddress`.
    fn allocate(&mut self) -> ApiResult<Eip>;
    /// `AssociateAddress` (with `AllowReassociation=true` when `reassociate`: classic
    /// addressing moves freely and has no such flag); the association id, if the client's
    /// addressing has one.
    fn associate(
        &mut self,
        eip: &Eip,
        instance: &str,
        reassociate: bool,
    ) -> ApiResult<Option<String>>;
    /// `DisassociateAddress` (by association id, or by public IP in classic addressing).
    fn disassociate(&mut self, eip: &Eip, association: Option<&str>) -> ApiResult<()>;
    /// `ReleaseAddress`.
    fn release(&mut self, eip: &Eip) -> ApiResult<()>;
    /// `DescribeAddresses`: (public IP, instance id).
    fn addresses(&mut self) -> ApiResult<Vec<(Ipv4Addr, Option<String>)>>;
    /// `AuthorizeSecurityGroupIngress` of a CIDR rule.
    fn authorize_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()>;
    /// `RevokeSecurityGroupIngress` of a CIDR rule.
    fn revoke_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()>;
    /// `AuthorizeSecurityGroupIngress` of all traffic from the members of `source`.
    fn authorize_group(&mut self, group: &Group, source: &Group) -> ApiResult<()>;
    /// `DescribeSecurityGroups`: the names, sorted.
    fn group_names(&mut self) -> ApiResult<Vec<String>>;
    /// `DescribeSecurityGroups` of `group`: its ingress grants as the client parsed them, one
    /// `PROTOCOL:FROM-TO:SOURCE` each (`*` for an absent port), sorted.
    fn ingress(&mut self, group: &Group) -> ApiResult<Vec<String>>;
    /// The same client with another secret key (for the bad-signature check).
    fn with_secret(&self, secret: &str) -> Box<dyn Ec2Client>;
}

/// The Python interpreter with the clients, from `OVS_EC2_PYTHON`; panics, saying what to do,
/// when it is not set, missing, or lacks a client.
pub(crate) fn python() -> PathBuf {
    let Some(python) = std::env::var_os("OVS_EC2_PYTHON") else {
        panic!(
            "OVS_EC2_PYTHON is not set: it must name a Python 3.11 with boto3, boto 2.49 and \
             awscli (scripts/test.sh sets it up; by hand: python3.11 -m venv .venv && \
             .venv/bin/pip install -r scripts/requirements-test.txt && \
             export OVS_EC2_PYTHON=$PWD/.venv/bin/python)"
        );
    };
    let python = PathBuf::from(python);
    let out = Command::new(&python)
        .args([
            "-c",
            "import warnings; warnings.simplefilter('ignore'); import boto, boto3, awscli",
        ])
        .output()
        .unwrap_or_else(|e| panic!("cannot run OVS_EC2_PYTHON={}: {e}", python.display()));
    assert!(
        out.status.success(),
        "OVS_EC2_PYTHON={} cannot import boto, boto3 or awscli (install \
         scripts/requirements-test.txt): {}",
        python.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    python
}

fn driver_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/ec2_driver.py")
}

/// The endpoint and credentials clients are given.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The API's address.
    pub(crate) addr: SocketAddr,
    /// The access key id.
    pub(crate) access_key: String,
    /// The secret key.
    pub(crate) secret_key: String,
}

impl Endpoint {
    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn ipv4(value: &Value, what: &str) -> Ipv4Addr {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{what}: not an IPv4 address: {value}"))
}

fn string(value: &Value, what: &str) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what}: not a string: {value}"))
        .to_owned()
}

fn opt_string(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// boto3 or boto 2 in a long-lived `ec2_driver.py` process.
pub(crate) struct PyDriver {
    kind: &'static str,
    endpoint: Endpoint,
    child: Child,
    stdin: ChildStdin,
    answers: mpsc::Receiver<String>,
}

impl PyDriver {
    /// Starts the driver for `kind` (`boto3` or `boto2`).
    pub(crate) fn start(kind: &'static str, endpoint: &Endpoint) -> PyDriver {
        let mut child = Command::new(python())
            .arg(driver_script())
            .args(["--client", kind, "--endpoint", &endpoint.url()])
            .args(["--access-key", &endpoint.access_key])
            .args(["--secret-key", &endpoint.secret_key])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_script().display()));
        let stdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, answers) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = PyDriver {
            kind,
            endpoint: endpoint.clone(),
            child,
            stdin,
            answers,
        };
        let ready = driver.answer("start");
        assert_eq!(ready["data"], "ready", "{kind} driver: {ready}");
        driver
    }

    fn answer(&mut self, what: &str) -> Value {
        let line = self
            .answers
            .recv_timeout(CALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("{} driver: no answer to {what}: {e}", self.kind));
        serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{} driver: bad answer to {what} ({e}): {line}", self.kind))
    }

    fn call(&mut self, command: Value) -> ApiResult<Value> {
        let what = command.to_string();
        writeln!(self.stdin, "{what}").unwrap();
        self.stdin.flush().unwrap();
        let answer = self.answer(&what);
        if answer["ok"] == true {
            return Ok(answer["data"].clone());
        }
        if let Some(exception) = answer["exception"].as_str() {
            panic!("{} raised on {what}:\n{exception}", self.kind);
        }
        Err(ApiError {
            code: string(&answer["code"], "error code"),
            message: answer["message"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

impl Drop for PyDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "name": g.name})
}

fn eip_json(e: &Eip) -> Value {
    json!({"public_ip": e.public_ip.to_string(), "allocation_id": e.allocation_id})
}

fn rule_json(r: &CidrRule) -> Value {
    json!({"protocol": r.protocol, "from": r.from, "to": r.to, "cidr": r.cidr})
}

impl Ec2Client for PyDriver {
    fn name(&self) -> &'static str {
        self.kind
    }

    fn classic(&self) -> bool {
        self.kind == "boto2"
    }

    fn create_group(&mut self, name: &str, description: &str) -> ApiResult<Group> {
        let d =
            self.call(json!({"op": "create_group", "name": name, "description": description}))?;
        Ok(Group {
            id: string(&d["id"], "group id"),
            name: string(&d["name"], "group name"),
        })
    }

    fn run_instance(&mut self, image: &str, group: &Group) -> ApiResult<Launched> {
        let d =
            self.call(json!({"op": "run_instance", "image": image, "group": group_json(group)}))?;
        Ok(Launched {
            id: string(&d["id"], "instance id"),
            private_ip: ipv4(&d["private_ip"], "private IP"),
        })
    }

    fn instance_state(&mut self, instance: &str) -> ApiResult<String> {
        let d = self.call(json!({"op": "instance_state", "instance": instance}))?;
        Ok(string(&d, "instance state"))
    }

    fn allocate(&mut self) -> ApiResult<Eip> {
        let d = self.call(json!({"op": "allocate"}))?;
        Ok(Eip {
            public_ip: ipv4(&d["public_ip"], "public IP"),
            allocation_id: opt_string(&d["allocation_id"]),
        })
    }

    fn associate(
        &mut self,
        eip: &Eip,
        instance: &str,
        reassociate: bool,
    ) -> ApiResult<Option<String>> {
        let d = self.call(json!({
            "op": "associate",
            "eip": eip_json(eip),
            "instance": instance,
            "reassociate": reassociate,
        }))?;
        Ok(opt_string(&d))
    }

    fn disassociate(&mut self, eip: &Eip, association: Option<&str>) -> ApiResult<()> {
        self.call(json!({"op": "disassociate", "eip": eip_json(eip), "association": association}))
            .map(drop)
    }

    fn release(&mut self, eip: &Eip) -> ApiResult<()> {
        self.call(json!({"op": "release", "eip": eip_json(eip)}))
            .map(drop)
    }

    fn addresses(&mut self) -> ApiResult<Vec<(Ipv4Addr, Option<String>)>> {
        let d = self.call(json!({"op": "addresses"}))?;
        Ok(d.as_array()
            .unwrap_or_else(|| panic!("addresses: {d}"))
            .iter()
            .map(|a| {
                (
                    ipv4(&a["public_ip"], "public IP"),
                    opt_string(&a["instance"]),
                )
            })
            .collect())
    }

    fn authorize_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()> {
        self.call(
            json!({"op": "authorize_cidr", "group": group_json(group), "rule": rule_json(rule)}),
        )
        .map(drop)
    }

    fn revoke_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()> {
        self.call(json!({"op": "revoke_cidr", "group": group_json(group), "rule": rule_json(rule)}))
            .map(drop)
    }

    fn authorize_group(&mut self, group: &Group, source: &Group) -> ApiResult<()> {
        self.call(json!({"op": "authorize_group", "group": group_json(group), "source": group_json(source)}))
            .map(drop)
    }

    fn group_names(&mut self) -> ApiResult<Vec<String>> {
        let d = self.call(json!({"op": "group_names"}))?;
        Ok(d.as_array()
            .unwrap_or_else(|| panic!("group names: {d}"))
            .iter()
            .map(|n| string(n, "group name"))
            .collect())
    }

    fn ingress(&mut self, group: &Group) -> ApiResult<Vec<String>> {
        let d = self.call(json!({"op": "ingress", "group": group_json(group)}))?;
        Ok(d.as_array()
            .unwrap_or_else(|| panic!("ingress: {d}"))
            .iter()
            .map(|n| string(n, "rule"))
            .collect())
    }

    fn with_secret(&self, secret: &str) -> Box<dyn Ec2Client> {
        let endpoint = Endpoint {
            secret_key: secret.to_owned(),
            ..self.endpoint.clone()
        };
        Box::new(PyDriver::start(self.kind, &endpoint))
    }
}

/// The AWS CLI (v1), one `python -m awscli ec2 ...` per call, configured only by its
/// environment (no configuration or credential files).
pub(crate) struct AwsCli {
    python: PathBuf,
    endpoint: Endpoint,
}

impl AwsCli {
    /// The CLI against `endpoint`.
    pub(crate) fn new(endpoint: &Endpoint) -> AwsCli {
        AwsCli {
            python: python(),
            endpoint: endpoint.clone(),
        }
    }

    /// Runs `aws ec2 ARGS --output json` and parses its output (or its error).
    fn run(&self, args: &[&str]) -> ApiResult<Value> {
        let mut command = Command::new(&self.python);
        command
            .args([
                "-W",
                "ignore",
                "-m",
                "awscli",
                "--endpoint-url",
                &self.endpoint.url(),
            ])
            .args(["--output", "json", "ec2"])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", std::env::temp_dir())
            .env("AWS_ACCESS_KEY_ID", &self.endpoint.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.endpoint.secret_key)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_MAX_ATTEMPTS", "1")
            .stdin(Stdio::null());
        let text = format!("aws ec2 {}", args.join(" "));
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run {text}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            if stdout.trim().is_empty() {
                return Ok(Value::Null);
            }
            return Ok(serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("{text}: output is not JSON ({e}): {stdout}")));
        }
        // "An error occurred (Code) when calling the Operation operation: message"
        let marker = "An error occurred (";
        let Some(at) = stderr.find(marker) else {
            panic!(
                "{text} failed ({}) without an EC2 error: {stderr}",
                out.status
            );
        };
        let rest = &stderr[at + marker.len()..];
        let close = rest
            .find(')')
            .unwrap_or_else(|| panic!("{text}: unreadable error: {stderr}"));
        let message = rest
            .split_once(": ")
            .map(|(_, m)| m.trim().to_owned())
            .unwrap_or_default();
        Err(ApiError {
            code: rest[..close].to_owned(),
            message,
        })
    }

    fn rule_args(group: &Group, rule: &CidrRule) -> Vec<String> {
        let port = if rule.from == rule.to {
            rule.from.to_string()
        } else {
            format!("{}-{}", rule.from, rule.to)
        };
        vec![
            "--group-id".into(),
            group.id.clone(),
            "--protocol".into(),
            rule.protocol.into(),
            "--port".into(),
            port,
            "--cidr".into(),
            rule.cidr.clone(),
        ]
    }

    fn run_owned(&self, args: &[String]) -> ApiResult<Value> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args)
    }
}

impl Ec2Client for AwsCli {
    fn name(&self) -> &'static str {
        "awscli"
    }

    fn classic(&self) -> bool {
        false
    }

    fn create_group(&mut self, name: &str, description: &str) -> ApiResult<Group> {
        let d = self.run(&[
            "create-security-group",
            "--group-name",
            name,
            "--description",
            description,
        ])?;
        Ok(Group {
            id: string(&d["GroupId"], "GroupId"),
            name: name.to_owned(),
        })
    }

    fn run_instance(&mut self, image: &str, group: &Group) -> ApiResult<Launched> {
        let d = self.run(&[
            "run-instances",
            "--image-id",
            image,
            "--count",
            "1",
            "--security-groups",
            &group.name,
        ])?;
        let i = &d["Instances"][0];
        Ok(Launched {
            id: string(&i["InstanceId"], "InstanceId"),
            private_ip: ipv4(&i["PrivateIpAddress"], "PrivateIpAddress"),
        })
    }

    fn instance_state(&mut self, instance: &str) -> ApiResult<String> {
        let d = self.run(&["describe-instances", "--instance-ids", instance])?;
        Ok(string(
            &d["Reservations"][0]["Instances"][0]["State"]["Name"],
            "State.Name",
        ))
    }

    fn allocate(&mut self) -> ApiResult<Eip> {
        let d = self.run(&["allocate-address", "--domain", "vpc"])?;
        Ok(Eip {
            public_ip: ipv4(&d["PublicIp"], "PublicIp"),
            allocation_id: opt_string(&d["AllocationId"]),
        })
    }

    fn associate(
        &mut self,
        eip: &Eip,
        instance: &str,
        reassociate: bool,
    ) -> ApiResult<Option<String>> {
        let alloc = eip.allocation_id.as_deref().unwrap_or("eipalloc-none");
        let mut args = vec![
            "associate-address",
            "--allocation-id",
            alloc,
            "--instance-id",
            instance,
        ];
        if reassociate {
            args.push("--allow-reassociation");
        }
        let d = self.run(&args)?;
        Ok(opt_string(&d["AssociationId"]))
    }

    fn disassociate(&mut self, _eip: &Eip, association: Option<&str>) -> ApiResult<()> {
        let association = association.unwrap_or("eipassoc-none");
        self.run(&["disassociate-address", "--association-id", association])
            .map(drop)
    }

    fn release(&mut self, eip: &Eip) -> ApiResult<()> {
        let alloc = eip.allocation_id.as_deref().unwrap_or("eipalloc-none");
        self.run(&["release-address", "--allocation-id", alloc])
            .map(drop)
    }

    fn addresses(&mut self) -> ApiResult<Vec<(Ipv4Addr, Option<String>)>> {
        let d = self.run(&["describe-addresses"])?;
        Ok(d["Addresses"]
            .as_array()
            .unwrap_or_else(|| panic!("describe-addresses: {d}"))
            .iter()
            .map(|a| {
                (
                    ipv4(&a["PublicIp"], "PublicIp"),
                    opt_string(&a["InstanceId"]),
                )
            })
            .collect())
    }

    fn authorize_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()> {
        let mut args = vec!["authorize-security-group-ingress".to_owned()];
        args.extend(Self::rule_args(group, rule));
        self.run_owned(&args).map(drop)
    }

    fn revoke_cidr(&mut self, group: &Group, rule: &CidrRule) -> ApiResult<()> {
        let mut args = vec!["revoke-security-group-ingress".to_owned()];
        args.extend(Self::rule_args(group, rule));
        self.run_owned(&args).map(drop)
    }

    fn authorize_group(&mut self, group: &Group, source: &Group) -> ApiResult<()> {
        self.run(&[
            "authorize-security-group-ingress",
            "--group-id",
            &group.id,
            "--protocol",
            "all",
            "--source-group",
            &source.id,
        ])
        .map(drop)
    }

    fn group_names(&mut self) -> ApiResult<Vec<String>> {
        let d = self.run(&["describe-security-groups"])?;
        let mut names: Vec<String> = d["SecurityGroups"]
            .as_array()
            .unwrap_or_else(|| panic!("describe-security-groups: {d}"))
            .iter()
            .map(|g| string(&g["GroupName"], "GroupName"))
            .collect();
        names.sort();
        Ok(names)
    }

    fn ingress(&mut self, group: &Group) -> ApiResult<Vec<String>> {
        let d = self.run(&["describe-security-groups", "--group-ids", &group.id])?;
        let port = |v: &Value| v.as_i64().map_or("*".to_owned(), |p| p.to_string());
        let mut rules = Vec::new();
        for perm in d["SecurityGroups"][0]["IpPermissions"]
            .as_array()
            .unwrap_or_else(|| panic!("describe-security-groups: {d}"))
        {
            let head = format!(
                "{}:{}-{}",
                string(&perm["IpProtocol"], "IpProtocol"),
                port(&perm["FromPort"]),
                port(&perm["ToPort"])
            );
            let empty = Vec::new();
            for r in perm["IpRanges"].as_array().unwrap_or(&empty) {
                rules.push(format!("{head}:{}", string(&r["CidrIp"], "CidrIp")));
            }
            for g in perm["UserIdGroupPairs"].as_array().unwrap_or(&empty) {
                rules.push(format!("{head}:{}", string(&g["GroupId"], "GroupId")));
            }
        }
        rules.sort();
        Ok(rules)
    }

    fn with_secret(&self, secret: &str) -> Box<dyn Ec2Client> {
        Box::new(AwsCli {
            python: self.python.clone(),
            endpoint: Endpoint {
                secret_key: secret.to_owned(),
                ..self.endpoint.clone()
            },
        })
    }
}
