//! `demo`: the whole story on one machine, in about half a minute (run it as root through
//! `scripts/demo.sh`, which installs what it needs).
//!
//! It builds the two-hypervisor cloud of the test bed (a private Open vSwitch in its own
//! network namespace, bridges `hv1` and `hv2`, an outside segment with an outside host, and
//! instances as namespaces), starts the controller in this process, and runs the original
//! boto 2 calls step by step through a real boto 2.49 (the Python of `OVS_EC2_PYTHON`, or the
//! workspace's `.venv`). After each call it shows what the outside host sees: which
//! connections to the elastic IP get through, to which instance, and from which address the
//! instance's own connections arrive outside.
//!
//! Each observation is also checked: the demo exits with status 1 if the network did not do
//! what the step says, so it doubles as an end-to-end test. Everything it built is removed when
//! it ends, also on Ctrl-C or SIGTERM (it stops after the current step); leftovers of a run
//! that was killed are removed by the next one.
//!
//! Options: `--verbose` shows the controller's log on stderr.

use examples::app::App;
use examples::shell::cli::{Args, FileConfig};
use examples::testbed::{
    check_prerequisites, cleanup_stale, Cloud, Exchange, InstanceSpec, Listener, MacAddr,
    OutsideSpec, Protocol,
};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Names of everything the demo builds start with this.
const PREFIX: &str = "oedemo";
const ACCESS_KEY: &str = "AKIADEMOEXAMPLE00001";
const SECRET_KEY: &str = "demoSecretKeyForTheOvsEc2Controller00000";
const OWNER: &str = "111122223333";
/// The outside host: the public gateway of the cloud.
const OUTSIDE_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const OUTSIDE_MAC: &str = "02:00:cb:00:71:01";
const ELASTIC_IP_MAC: &str = "02:00:00:00:00:03";
const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// How long a connection that must not get through is given.
const SHORT: Duration = Duration::from_millis(1500);
/// How long a connection that must get through may take.
const LONG: Duration = Duration::from_secs(5);

static STOP: AtomicBool = AtomicBool::new(false);

fn config() -> String {
    format!(
        r#"
[api]
pool = ["203.0.113.100-203.0.113.104"]

[[accounts]]
access_key = "{ACCESS_KEY}"
secret_key = "{SECRET_KEY}"
owner = "{OWNER}"

[model.settings]
subnet = "10.0.0.0/24"
gateway = "{GATEWAY}"
router_mac = "02:00:00:00:00:01"
public_gateway = "{OUTSIDE_IP}"
public_gateway_mac = "{OUTSIDE_MAC}"
elastic_ip_mac = "{ELASTIC_IP_MAC}"

[[model.switches]]
dpid = 1
uplink = 1

[[model.switches]]
dpid = 2
uplink = 1
"#
    )
}

/// The boto 2 session: a Python process that runs the statements it is sent, in one
/// namespace, and answers each with one JSON line.
const DRIVER: &str = r#"
import json, os, sys, warnings
warnings.simplefilter("ignore", DeprecationWarning)
ns = {}
print(json.dumps({"ok": True}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    try:
        if cmd["eval"]:
            v = eval(cmd["code"], ns)
            try:
                json.dumps(v)
            except TypeError:
                v = None
            out = {"ok": True, "value": v, "repr": repr(v)}
        else:
            exec(cmd["code"], ns)
            out = {"ok": True}
    except Exception as e:
        out = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    print(json.dumps(out), flush=True)
"#;

/// Why the demo stopped.
#[derive(Debug)]
enum Failure {
    /// Something could not be set up or driven.
    Setup(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure::Setup(e.to_string())
    }
}

type Result<T> = std::result::Result<T, Failure>;

fn check_stop() -> Result<()> {
    if STOP.load(Ordering::SeqCst) {
        return Err(Failure::Interrupted);
    }
    Ok(())
}

struct Boto {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for Boto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Boto {
    fn start(python: &str) -> Result<Boto> {
        let mut child = Command::new(python)
            .args(["-u", "-c", DRIVER])
            .env("BOTO_CONFIG", "/dev/null")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| Failure::Setup(format!("cannot run {python}: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Failure::Setup("no pipes to the Python driver".into()));
        };
        let mut boto = Boto {
            child,
            stdin,
            stdout: BufReader::new(stdout),
        };
        boto.answer()?;
        Ok(boto)
    }

    fn answer(&mut self) -> Result<Value> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            check_stop()?;
            return Err(Failure::Setup("the Python driver exited".into()));
        }
        let v: Value = serde_json::from_str(&line)?;
        if v["ok"] != Value::Bool(true) {
            return Err(Failure::Setup(format!(
                "boto 2 raised {}",
                v["error"].as_str().unwrap_or("an error")
            )));
        }
        Ok(v)
    }

    fn send(&mut self, code: &str, eval: bool) -> Result<Value> {
        check_stop()?;
        let line = serde_json::json!({ "code": code, "eval": eval }).to_string();
        writeln!(self.stdin, "{line}")?;
        self.stdin.flush()?;
        self.answer()
    }

    /// The value of an expression, and how Python prints it.
    fn value(&mut self, code: &str) -> Result<(Value, String)> {
        let v = self.send(code, true)?;
        let repr = v["repr"].as_str().unwrap_or_default().to_owned();
        Ok((v.get("value").cloned().unwrap_or(Value::Null), repr))
    }

    /// Runs a statement quietly (setup).
    fn quiet(&mut self, code: &str) -> Result<()> {
        self.send(code, false).map(|_| ())
    }

    /// Shows and runs a statement.
    fn run(&mut self, code: &str) -> Result<()> {
        println!("    >>> {code}");
        self.quiet(code)
    }

    /// Shows an expression and its value.
    fn show(&mut self, code: &str) -> Result<Value> {
        println!("    >>> {code}");
        let (v, repr) = self.value(code)?;
        println!("    {repr}");
        Ok(v)
    }

    /// Evaluates quietly.
    fn eval(&mut self, code: &str) -> Result<Value> {
        self.value(code).map(|(v, _)| v)
    }
}

fn string(v: &Value, what: &str) -> Result<String> {
    v.as_str()
        .map(str::to_owned)
        .ok_or_else(|| Failure::Setup(format!("{what}: expected a string, got {v}")))
}

/// The demo's running state.
struct Demo {
    // On drop: the controller stops first (the switches keep their flows, fail_mode=secure),
    // then the boto session, then the cloud is torn down.
    boto: Boto,
    cloud: Cloud,
    app: Option<App>,
    rt: tokio::runtime::Runtime,
    state_dir: PathBuf,
    surprises: Vec<String>,
    step: usize,
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            self.rt.block_on(app.shutdown());
        }
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

impl Demo {
    fn step(&mut self, title: &str) -> Result<()> {
        check_stop()?;
        self.step += 1;
        println!("\n[{}] {title}", self.step);
        Ok(())
    }

    fn expect(&mut self, what: &str, expected: bool, observed: bool, detail: &str) {
        let verdict = if expected == observed {
            "as expected"
        } else {
            self.surprises.push(format!("step {}: {what}", self.step));
            "UNEXPECTED"
        };
        println!("    outside: {what}: {detail}  ({verdict})");
    }

    /// The outside host connects to `ip:port`; `listeners` are the instances' listeners on
    /// that port, named, to say which instance (if any) got the connection and from where.
    fn outside_connects(
        &mut self,
        ip: &str,
        port: u16,
        expect: Option<(&str, &Listener)>,
        others: &[(&str, &Listener)],
    ) -> Result<()> {
        check_stop()?;
        let addr: SocketAddr = format!("{ip}:{port}").parse()?;
        let timeout = if expect.is_some() { LONG } else { SHORT };
        if expect.is_none() {
            // The API answered once the switches' flow tables changed (barriers); Open
            // vSwitch's datapath keeps using its cached entries until its revalidators have
            // gone over them, moments later. Check a closed port once that moment is over.
            self.cloud.ovs().appctl(&["revalidator/wait"])?;
        }
        let ex = self
            .cloud
            .outside_host()
            .tcp_exchange(addr, b"hello from outside", timeout)?;
        let mut detail = describe(&ex);
        let mut reached_right = false;
        if let Some((name, l)) = expect {
            if let Some(a) = l.wait_for(Duration::from_secs(2), |_| true) {
                detail.push_str(&format!(", arrived at {name} from {}", a.peer.ip()));
                reached_right = a.peer.ip() == std::net::IpAddr::V4(OUTSIDE_IP);
            }
            l.take_arrivals();
        }
        // Where did an unexpected connection go? (Arrivals are recorded when the connection
        // ends, so give them a moment.)
        let wait = if ex.is_answered() {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
        };
        for (name, l) in others {
            if let Some(a) = l.wait_for(wait, |_| true) {
                detail.push_str(&format!(", arrived at {name} from {}", a.peer.ip()));
                reached_right = false;
            }
            l.take_arrivals();
        }
        let what = format!("TCP {OUTSIDE_IP} -> {addr}");
        let observed = ex.is_answered() && (expect.is_none() || reached_right);
        self.expect(&what, expect.is_some(), observed, &detail);
        if expect.is_some() != observed {
            self.diagnose();
        }
        Ok(())
    }

    /// Shows the bridges' flow tables (after an unexpected observation).
    fn diagnose(&self) {
        for bridge in ["hv1", "hv2"] {
            match self.cloud.ovs().ofctl("dump-flows", bridge, &[]) {
                Ok(text) => println!("    diagnostics: {bridge} flows:\n{text}"),
                Err(e) => println!("    diagnostics: cannot dump {bridge}'s flows: {e}"),
            }
        }
    }

    fn flows(&self) -> Result<String> {
        let hv1 = self.cloud.ovs().dump_flows("hv1")?.len();
        let hv2 = self.cloud.ovs().dump_flows("hv2")?.len();
        Ok(format!("flow tables: hv1 {hv1} flows, hv2 {hv2} flows"))
    }

    /// The hypervisor plugs the instance in: a namespace whose port on the bridge is named
    /// after the instance id, with the address and MAC the controller gave it.
    fn attach(&mut self, var: &str, bridge: &str) -> Result<(String, Ipv4Addr)> {
        let id = string(&self.boto.eval(&format!("{var}.id"))?, "instance id")?;
        let ip: Ipv4Addr =
            string(&self.boto.eval(&format!("{var}.private_ip_address"))?, "ip")?.parse()?;
        let [a, b, c, d] = ip.octets();
        let mac: MacAddr = format!("02:0e:{a:02x}:{b:02x}:{c:02x}:{d:02x}").parse()?;
        println!(
            "    hypervisor {bridge}: plugs {id} in (port \"{id}\", {ip}, MAC {mac}, gateway {GATEWAY})"
        );
        self.cloud.add_instance(
            bridge,
            InstanceSpec::new(&id, format!("{ip}/24").parse()?)
                .mac(mac)
                .gateway(GATEWAY),
        )?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            check_stop()?;
            let state = self.boto.eval(&format!("{var}.update()"))?;
            if state == "running" {
                break;
            }
            if Instant::now() > deadline {
                return Err(Failure::Setup(format!("{id} is still {state}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.boto.show(&format!("{var}.update()"))?;
        Ok((id, ip))
    }
}

fn describe(ex: &Exchange) -> String {
    match ex {
        Exchange::Answered { .. } => "connected".to_owned(),
        Exchange::TimedOut => "no answer (dropped)".to_owned(),
        Exchange::Refused => "refused".to_owned(),
        Exchange::Unreachable => "unreachable".to_owned(),
        Exchange::Failed(m) => format!("failed: {m}"),
    }
}

fn python() -> Result<String> {
    let python = match std::env::var("OVS_EC2_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => {
            let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
            if !venv.exists() {
                return Err(Failure::Setup(format!(
                    "no Python with boto 2: set OVS_EC2_PYTHON, or run scripts/demo.sh (it creates {})",
                    venv.display()
                )));
            }
            venv.to_string_lossy().into_owned()
        }
    };
    let ok = Command::new(&python)
        .args(["-c", "import warnings; warnings.simplefilter('ignore'); import boto; assert boto.__version__ == '2.49.0'"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        return Err(Failure::Setup(format!(
            "{python} cannot import boto 2.49.0: run scripts/demo.sh (it installs it)"
        )));
    }
    Ok(python)
}

fn http_get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default())
}

fn start(python: &str) -> Result<Demo> {
    let _ = cleanup_stale(PREFIX);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.spawn(async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        STOP.store(true, Ordering::SeqCst);
        eprintln!("\ninterrupted: stopping after this step and cleaning up");
    });

    println!("[setup] the controller: OpenFlow on 127.0.0.1, the EC2 API on 127.0.0.1, state in a temporary SQLite file");
    let state_dir = std::env::temp_dir().join(format!("{PREFIX}{}-state", std::process::id()));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir)?;
    let db = state_dir.join("state.sqlite3");
    let args: Args = clap::Parser::parse_from([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--state-file",
        &db.to_string_lossy(),
    ]);
    let mut resolved = args.merge(FileConfig::parse(&config())?)?;
    let store = resolved.open_state(&args)?;
    let app = rt.block_on(App::start(resolved, store))?;
    println!(
        "        OpenFlow {}   EC2 endpoint http://{}/   metrics http://{}/metrics",
        app.openflow
            .first()
            .map(ToString::to_string)
            .unwrap_or_default(),
        app.api,
        app.api
    );

    println!("[setup] the cloud: a private Open vSwitch (userspace datapath, OpenFlow 1.0, fail_mode=secure) in its own namespace");
    println!("        bridges hv1 and hv2 (two hypervisors), their uplinks on one outside segment with the outside host {OUTSIDE_IP}");
    let outside = OutsideSpec {
        addresses: vec![format!("{OUTSIDE_IP}/24").parse()?],
        gateway: None,
        mac: Some(OUTSIDE_MAC.parse()?),
    };
    let cloud = Cloud::seed().prefix(PREFIX).outside(outside).start()?;
    let openflow = app
        .openflow
        .first()
        .copied()
        .ok_or_else(|| Failure::Setup("the controller has no OpenFlow listener".into()))?;
    cloud.set_controller(openflow)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        check_stop()?;
        let ready = rt.block_on(app.handle.inspect(|c| c.is_ready(1) && c.is_ready(2)))?;
        if ready {
            break;
        }
        if Instant::now() > deadline {
            return Err(Failure::Setup(
                "the switches did not connect within 30 s".into(),
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("        both switches connected and reconciled");

    let mut boto = Boto::start(python)?;
    boto.quiet("import boto; from boto.ec2.connection import EC2Connection; from boto.regioninfo import RegionInfo")?;
    let demo = Demo {
        boto,
        cloud,
        app: Some(app),
        rt,
        state_dir,
        surprises: Vec::new(),
        step: 0,
    };
    let flows = demo.flows()?;
    println!("        {flows}");
    Ok(demo)
}

fn scenario(d: &mut Demo) -> Result<()> {
    let api = d
        .app
        .as_ref()
        .map(|a| a.api)
        .ok_or_else(|| Failure::Setup("no controller".into()))?;

    d.step("connect with boto 2.49, as the 2012 scripts did")?;
    let connect = |secret: &str| {
        format!(
            "conn = EC2Connection('{ACCESS_KEY}', '{secret}', is_secure=False, host='{}', port={}, path='/', region=RegionInfo(name='us-east-1', endpoint='{}'))",
            api.ip(),
            api.port(),
            api.ip()
        )
    };
    // Shown without the secret; run with it.
    println!("    >>> {}", connect("<secret key>"));
    d.boto.quiet(&connect(SECRET_KEY))?;
    d.boto.quiet("conn.num_retries = 0")?;
    d.boto.show("[i.id for i in conn.get_all_images()]")?;

    d.step("a security group, and two instances in it")?;
    d.boto
        .run("web = conn.create_security_group('web', 'web servers')")?;
    d.boto
        .run("i1 = conn.run_instances('ami-00000001', security_groups=['web']).instances[0]")?;
    d.boto.show("(i1.id, i1.private_ip_address, i1.state)")?;
    let (i1, _) = d.attach("i1", "hv1")?;
    d.boto
        .run("i2 = conn.run_instances('ami-00000001', security_groups=['web']).instances[0]")?;
    let (i2, _) = d.attach("i2", "hv2")?;
    // Both instances listen on 22 and 80.
    let (i1_22, i1_80, i2_22) = {
        let n1 = d.cloud.instance(&i1)?.netns();
        let n2 = d.cloud.instance(&i2)?.netns();
        (
            n1.listen(Protocol::Tcp, 22)?,
            n1.listen(Protocol::Tcp, 80)?,
            n2.listen(Protocol::Tcp, 22)?,
        )
    };
    println!("    {i1} and {i2} run servers on TCP 22 (and {i1} on 80)");
    let flows = d.flows()?;
    println!("    {flows}");

    d.step("an elastic IP for the first instance")?;
    let ip = string(
        &d.boto.show("conn.allocate_address().public_ip")?,
        "public ip",
    )?;
    d.boto.run(&format!("ip = '{ip}'"))?;
    d.boto
        .show(&format!("conn.associate_address('{i1}', ip)"))?;
    d.outside_connects(&ip, 22, None, &[(&i1, &i1_22), (&i2, &i2_22)])?;
    println!("    (no rule admits it yet: inbound traffic is closed by default)");

    d.step("open SSH to the world")?;
    d.boto.show("web.authorize('tcp', 22, 22, '0.0.0.0/0')")?;
    d.outside_connects(&ip, 22, Some((&i1, &i1_22)), &[(&i2, &i2_22)])?;
    d.outside_connects(&ip, 80, None, &[(&i1, &i1_80)])?;

    d.step("open HTTP too")?;
    d.boto.show("web.authorize('tcp', 80, 80, '0.0.0.0/0')")?;
    d.outside_connects(&ip, 80, Some((&i1, &i1_80)), &[])?;

    d.step("the instance connects out: the outside sees the elastic IP")?;
    {
        let seen = d.cloud.outside_host().listen(Protocol::Tcp, 8080)?;
        let ex = d.cloud.instance(&i1)?.netns().tcp_exchange(
            SocketAddr::from((OUTSIDE_IP, 8080)),
            b"hello from inside",
            LONG,
        )?;
        let from = seen
            .wait_for(Duration::from_secs(2), |_| true)
            .map(|a| a.peer.ip().to_string());
        let detail = format!(
            "{} (the reply came back without any inbound rule: stateful), source seen: {}",
            describe(&ex),
            from.as_deref().unwrap_or("nothing arrived")
        );
        let ok = ex.is_answered() && from.as_deref() == Some(ip.as_str());
        d.expect(&format!("{i1} -> TCP {OUTSIDE_IP}:8080"), true, ok, &detail);
    }

    d.step("move the address to the second instance, on the other hypervisor")?;
    d.boto
        .show(&format!("conn.associate_address('{i2}', ip)"))?;
    std::thread::sleep(Duration::from_millis(300));
    d.outside_connects(&ip, 22, Some((&i2, &i2_22)), &[(&i1, &i1_22)])?;
    let n = d.cloud.outside_host().neighbour(ip.parse()?)?;
    println!(
        "    outside: ARP entry for {ip}: {} (the elastic IPs' MAC; the controller's gratuitous ARPs out of hv2's uplink taught the segment where it lives now)",
        n.and_then(|n| n.mac)
            .map(|m| m.to_string())
            .unwrap_or_else(|| "none".into())
    );

    d.step("close SSH again")?;
    d.boto.show("web.revoke('tcp', 22, 22, '0.0.0.0/0')")?;
    d.outside_connects(&ip, 22, None, &[(&i1, &i1_22), (&i2, &i2_22)])?;

    d.step("disassociate and release the address")?;
    println!("    (SSH open again first, so that what closes it next is the disassociation)");
    d.boto.show("web.authorize('tcp', 22, 22, '0.0.0.0/0')")?;
    d.boto.show("conn.disassociate_address(ip)")?;
    d.outside_connects(&ip, 22, None, &[(&i1, &i1_22), (&i2, &i2_22)])?;
    d.boto.show("conn.release_address(ip)")?;
    d.boto
        .show("[(a.public_ip, a.instance_id) for a in conn.get_all_addresses()]")?;

    d.step("terminate the instances")?;
    d.boto.show(&format!(
        "[i.id for i in conn.terminate_instances(['{i1}', '{i2}'])]"
    ))?;
    d.cloud.remove_instance(&i1)?;
    d.cloud.remove_instance(&i2)?;
    println!("    hypervisors unplug them");
    let flows = d.flows()?;
    println!("    {flows}");

    d.step("what the operator sees: /health and a few of /metrics")?;
    let health = http_get(api, "/health")?;
    println!("    GET /health -> {}", health.trim());
    let metrics = http_get(api, "/metrics")?;
    for line in metrics.lines().filter(|l| {
        !l.starts_with('#')
            && (l.starts_with("ovs_ec2_switches_connected")
                || l.starts_with("ovs_ec2_flows ")
                || l.starts_with("ovs_ec2_packet_ins_total")
                || l.starts_with("ovs_ec2_flow_mods_total")
                || l.starts_with("ovs_ec2_api_requests_total{action=\"AssociateAddress\""))
    }) {
        println!("    {line}");
    }
    Ok(())
}

fn main() -> ExitCode {
    if std::env::args().any(|a| a == "--verbose") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
            .with_writer(std::io::stderr)
            .init();
    }
    if let Err(e) = check_prerequisites() {
        eprintln!("demo: {e}\n(run it as root through scripts/demo.sh, which installs the tools)");
        return ExitCode::from(2);
    }
    let python = match python() {
        Ok(p) => p,
        Err(Failure::Setup(e)) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
        Err(Failure::Interrupted) => return ExitCode::from(130),
    };
    let started = Instant::now();
    let outcome = start(&python).and_then(|mut d| {
        let r = scenario(&mut d);
        let surprises = std::mem::take(&mut d.surprises);
        println!(
            "\n[cleanup] removing the instances, the switch, the namespaces and the state file"
        );
        drop(d);
        r.map(|()| surprises)
    });
    match outcome {
        Ok(surprises) if surprises.is_empty() => {
            println!(
                "\nDone in {:.0} s: every step did what it says.",
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Ok(surprises) => {
            println!("\nThese steps did not do what they say:");
            for s in &surprises {
                println!("  {s}");
            }
            ExitCode::FAILURE
        }
        Err(Failure::Interrupted) => {
            println!("\nInterrupted; everything was cleaned up.");
            ExitCode::from(130)
        }
        Err(Failure::Setup(e)) => {
            eprintln!("\ndemo: {e}");
            ExitCode::FAILURE
        }
    }
}
