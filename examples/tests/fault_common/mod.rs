//! Shared by the fault and API tests: the `controller` binary as a child process (killable with
//! SIGKILL and restartable on the same OpenFlow port), a signing EC2 client speaking raw
//! HTTP/1.1, and the comparison of a bridge's installed flows with the compiled model.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ec2_model::auth::{SigV2Signer, SigV4Signer};
use ec2_model::HttpRequest;
use examples::testbed::Cloud;
use netrules::compile::{compile, cookie, CompileOptions};
use netrules::model::{Attachment, InstanceId, Model};
use netrules::sim::matching::normalize;
use openflow_proto::display::DisplayActions;
use openflow_proto::PortNo;
use time::OffsetDateTime;

/// The account every test configures (and a second one, for cross-account checks).
pub const OWNER: &str = "111122223333";
pub const ACCESS: &str = "AKIDFAULTTESTS000001";
pub const SECRET: &str = "faultTestsSecretKey0000000000000000000001";
pub const OWNER2: &str = "444455556666";
pub const ACCESS2: &str = "AKIDFAULTTESTS000002";
pub const SECRET2: &str = "faultTestsSecretKey0000000000000000000002";

/// A scratch directory removed on drop (kept when the test panics, for its logs).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ovs-ec2-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.0.join(file)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The `controller` binary running as a child process; its stderr (the log) is collected.
pub struct ControllerProcess {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: Arc<Mutex<Vec<String>>>,
    /// The OpenFlow listener's address.
    pub openflow: SocketAddr,
    /// The EC2 API's address.
    pub api: SocketAddr,
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("controller log:\n{}", self.log.lock().unwrap().join("\n"));
        }
    }
}

fn address_after(line: &str, key: &str) -> SocketAddr {
    let at = line.find(key).unwrap_or_else(|| panic!("{key} in {line}")) + key.len();
    line[at..]
        .split(|c: char| c.is_whitespace() || c == ',' || c == ']')
        .next()
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|e| panic!("an address after {key} in {line}: {e}"))
}

impl ControllerProcess {
    /// Starts `controller --listen LISTEN --api-listen API --state-file STATE [--config CONFIG]`
    /// and waits until both listeners are bound.
    pub fn start(
        listen: SocketAddr,
        api: SocketAddr,
        state: &Path,
        config: Option<&Path>,
    ) -> ControllerProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_controller"));
        command
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--api-listen")
            .arg(api.to_string())
            .arg("--state-file")
            .arg(state)
            .args(["--log-level", "info"])
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command.spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                keep.lock().unwrap().push(line.clone());
                let _ = tx.send(line);
            }
        });
        let mut p = ControllerProcess {
            child: Some(child),
            lines,
            log,
            openflow: listen,
            api,
        };
        let line = p.wait_line("listening for OpenFlow switches", Duration::from_secs(30));
        p.openflow = address_after(&line, "local=");
        let line = p.wait_line("serving the EC2 API", Duration::from_secs(30));
        p.api = address_after(&line, "api=");
        p
    }

    /// Waits for a log line containing `needle` (consuming the lines before it).
    pub fn wait_line(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no log line with {needle:?} in {timeout:?}; log:\n{}",
                    self.log.lock().unwrap().join("\n")
                ),
            }
        }
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL, as a crash or an OOM kill would; waits until the process is gone.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "killed: {status}");
    }
}

/// What the API answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Reply {
    /// The EC2 error code, if it is an error.
    pub fn code(&self) -> Option<String> {
        tag(&self.body, "Code")
    }

    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// The first `<name>` element's text.
    pub fn tag(&self, name: &str) -> Option<String> {
        tag(&self.body, name)
    }

    /// Every `<name>` element's text, in order.
    pub fn tags(&self, name: &str) -> Vec<String> {
        tags(&self.body, name)
    }

    #[track_caller]
    pub fn expect_ok(&self) -> &Reply {
        assert!(self.ok(), "expected success, got {self:?}");
        self
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status, self.code().as_deref()),
            (status, Some(code)),
            "{self:?}"
        );
    }
}

pub fn tag(body: &str, name: &str) -> Option<String> {
    tags(body, name).into_iter().next()
}

pub fn tags(body: &str, name: &str) -> Vec<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        let Some(end) = rest.find(&close) else { break };
        out.push(rest[..end].to_owned());
        rest = &rest[end + close.len()..];
    }
    out
}

/// The query-string encoding of `params` (EC2's: RFC 3986 unreserved characters kept).
pub fn form(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A signing client of the EC2 API.
#[derive(Clone, Debug)]
pub struct Client {
    pub addr: SocketAddr,
    pub access: String,
    pub secret: String,
}

/// The transport failed (connection refused or reset, e.g. the controller died).
#[derive(Debug)]
pub struct Transport(pub std::io::Error);

impl Client {
    pub fn new(addr: SocketAddr, access: &str, secret: &str) -> Client {
        Client {
            addr,
            access: access.to_owned(),
            secret: secret.to_owned(),
        }
    }

    /// A form POST of `params` (with `Version`), SigV4-signed now.
    pub fn request(&self, params: &[(&str, &str)]) -> HttpRequest {
        self.request_at(params, OffsetDateTime::now_utc())
    }

    /// Like [`Client::request`], signed as if at `at`.
    pub fn request_at(&self, params: &[(&str, &str)], at: OffsetDateTime) -> HttpRequest {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if !all.iter().any(|(k, _)| *k == "Version") {
            all.push(("Version", "2016-11-15"));
        }
        let mut r = HttpRequest::form_post(form(&all)).with_header("Host", self.addr.to_string());
        SigV4Signer::new(&self.access, &self.secret, "us-east-1", "ec2")
            .sign(&mut r, at)
            .unwrap();
        r
    }

    /// A GET with SigV2 in the query (the boto 2 way).
    pub fn request_v2(&self, params: &[(&str, &str)], at: OffsetDateTime) -> HttpRequest {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("Version", "2012-12-01"));
        let mut r = HttpRequest::new("GET", &format!("/?{}", form(&all)))
            .with_header("Host", self.addr.to_string());
        SigV2Signer::new(&self.access, &self.secret)
            .sign(&mut r, at)
            .unwrap();
        r
    }

    /// Sends a signed call; panics on a transport failure.
    pub fn call(&self, params: &[(&str, &str)]) -> Reply {
        self.try_call(params).unwrap()
    }

    pub fn try_call(&self, params: &[(&str, &str)]) -> Result<Reply, Transport> {
        send(self.addr, &self.request(params))
    }
}

/// The request's bytes as HTTP/1.1 (`Content-Length` from the body, `Connection: close`).
pub fn wire(r: &HttpRequest) -> Vec<u8> {
    let target = if r.query.is_empty() {
        r.path.clone()
    } else {
        format!("{}?{}", r.path, r.query)
    };
    let mut out = format!("{} {target} HTTP/1.1\r\n", r.method).into_bytes();
    for (k, v) in &r.headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            r.body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(&r.body);
    out
}

/// Sends one request on a fresh connection and reads the whole response.
pub fn send(addr: SocketAddr, r: &HttpRequest) -> Result<Reply, Transport> {
    send_bytes(addr, &wire(r))
}

/// Sends raw bytes and reads the response (the server may answer before reading all of it).
pub fn send_bytes(addr: SocketAddr, bytes: &[u8]) -> Result<Reply, Transport> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(Transport)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(Transport)?;
    s.set_write_timeout(Some(Duration::from_secs(60)))
        .map_err(Transport)?;
    // A server that refuses early may close while we still write: keep what it answered.
    let wrote = s.write_all(bytes);
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        return Err(Transport(match (wrote, read) {
            (Err(e), _) | (_, Err(e)) => e,
            _ => std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no response"),
        }));
    }
    Ok(parse_response(&raw))
}

fn parse_response(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an HTTP response: {text:?}"));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line: {head:?}"));
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || after.len() < n {
                break;
            }
            out.push_str(&after[..n]);
            rest = after[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        body.to_owned()
    };
    Reply { status, body }
}

/// `model` with each of the cloud's instances attached where the test bed put it (the bridge's
/// datapath id and the port's number), as the controller binds them.
pub fn attached(model: &Model, cloud: &Cloud) -> Model {
    let mut m = model.clone();
    let ids: Vec<InstanceId> = m.instances().keys().cloned().collect();
    for id in ids {
        m.attach(&id, None).unwrap();
    }
    for i in cloud.instances() {
        let id = InstanceId::new(i.id()).unwrap();
        if m.instance(&id).is_none() {
            continue;
        }
        let dpid = cloud.hypervisor(i.hypervisor()).unwrap().datapath_id;
        m.attach(
            &id,
            Some(Attachment {
                switch: dpid,
                port: PortNo(i.ofport()),
            }),
        )
        .unwrap();
    }
    m
}

/// A table as (cookie, priority, match, actions) -> count; pinholes left out.
pub type Census = BTreeMap<(u64, u16), usize>;

/// What `bridge` has installed (pinholes aside), by (cookie, priority), with multiplicity.
pub fn installed_census(cloud: &Cloud, bridge: &str) -> Census {
    let mut m = Census::new();
    for f in cloud.ovs().dump_flows(bridge).unwrap() {
        if cookie::is_pinhole(f.cookie) {
            continue;
        }
        *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
    }
    m
}

/// What the model compiles to for `dpid`, the same way.
pub fn compiled_census(model: &Model, dpid: u64) -> Census {
    let mut m = Census::new();
    for f in compile(model, &CompileOptions::default())
        .get(&dpid)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        *m.entry((f.cookie, f.priority)).or_insert(0) += 1;
    }
    m
}

/// The pinhole flows of `bridge` by cookie: each connection has at most one flow per
/// direction, so no cookie may appear more than twice.
pub fn pinhole_cookies(cloud: &Cloud, bridge: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for f in cloud.ovs().dump_flows(bridge).unwrap() {
        if cookie::is_pinhole(f.cookie) {
            *m.entry(f.cookie).or_insert(0) += 1;
        }
    }
    m
}

/// Describes how two censuses differ (for assertion messages).
pub fn census_diff(have: &Census, want: &Census) -> String {
    let mut out = Vec::new();
    for (k, n) in have {
        match want.get(k) {
            Some(w) if w == n => {}
            Some(w) => out.push(format!("{:#018x}/{}: {n} installed, {w} wanted", k.0, k.1)),
            None => out.push(format!("{:#018x}/{}: {n} stale", k.0, k.1)),
        }
    }
    for (k, w) in want {
        if !have.contains_key(k) {
            out.push(format!("{:#018x}/{}: {w} missing", k.0, k.1));
        }
    }
    out.join("; ")
}

/// A table flow by flow: (cookie, priority, match, actions) in `ovs-ofctl` syntax -> count;
/// pinholes left out.
pub type Exact = BTreeMap<(u64, u16, String, String), usize>;

/// What `bridge` has installed, flow by flow (pinholes aside).
pub fn installed_exact(cloud: &Cloud, bridge: &str) -> Exact {
    let mut m = Exact::new();
    for f in cloud.ovs().dump_flows(bridge).unwrap() {
        if cookie::is_pinhole(f.cookie) {
            continue;
        }
        *m.entry((f.cookie, f.priority, f.match_fields, f.actions))
            .or_insert(0) += 1;
    }
    m
}

/// What the model compiles to for `dpid`, flow by flow, as Open vSwitch shows it: the match
/// normalised as the switch installs it.
pub fn compiled_exact(model: &Model, dpid: u64) -> Exact {
    let mut m = Exact::new();
    for f in compile(model, &CompileOptions::default())
        .get(&dpid)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let normal = normalize(&f.r#match).0;
        let text = normal.to_string();
        let actions = DisplayActions(&f.actions).to_string();
        *m.entry((f.cookie, f.priority, text, actions)).or_insert(0) += 1;
    }
    m
}

/// Polls until `f` gives a value, at most `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until every bridge of the cloud has exactly the flows `model` compiles to (pinholes
/// aside); panics with the difference otherwise.
pub fn wait_tables_match(cloud: &Cloud, model: &Model, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    for h in cloud.hypervisors() {
        let want = compiled_census(model, h.datapath_id);
        loop {
            let have = installed_census(cloud, &h.bridge);
            if have == want {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "bridge {} does not have the compiled flows: {}",
                h.bridge,
                census_diff(&have, &want)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let have = installed_exact(cloud, &h.bridge);
        let want = compiled_exact(model, h.datapath_id);
        if have != want {
            let extra: Vec<_> = have
                .iter()
                .filter(|(k, n)| want.get(*k) != Some(n))
                .collect();
            let missing: Vec<_> = want
                .iter()
                .filter(|(k, n)| have.get(*k) != Some(n))
                .collect();
            panic!(
                "bridge {}: installed flows differ from the compiled ones\ninstalled only: \
                 {extra:#?}\ncompiled only: {missing:#?}",
                h.bridge
            );
        }
        for (c, n) in pinhole_cookies(cloud, &h.bridge) {
            assert!(n <= 2, "pinhole {c:#x} installed {n} times on {}", h.bridge);
        }
    }
}

/// The model of a controller's state file, as a restart would load it.
pub fn stored_model(state: &Path) -> (Model, examples::store::Stored) {
    use examples::store::Store;
    let store = examples::store::SqliteStore::open(state).unwrap();
    let stored = store.load().unwrap();
    (stored.model.clone().expect("a stored model"), stored)
}

/// Makes every bridge retry its controller connection at least once a second (Open vSwitch's
/// back-off otherwise grows to 8 s), so that restarts are observed quickly.
pub fn fast_reconnect(cloud: &Cloud) {
    let rows = cloud
        .ovs()
        .vsctl(&["--bare", "--columns=_uuid", "find", "Controller"])
        .unwrap();
    for uuid in rows.split_whitespace() {
        cloud
            .ovs()
            .vsctl(&["set", "Controller", uuid, "max_backoff=1000"])
            .unwrap();
    }
}

/// The sequence numbers a stream's listener received so far.
pub fn sequences(l: &examples::testbed::Listener) -> std::collections::BTreeSet<u64> {
    l.arrivals().iter().filter_map(|a| a.sequence()).collect()
}

/// Over the sequence numbers in `(after, upto]`: the longest run of consecutive ones missing
/// (a stream's longest outage, counted in its own packets, whatever the receiver's
/// scheduling) and how many are missing in all.
pub fn missing(seqs: &std::collections::BTreeSet<u64>, after: u64, upto: u64) -> (u64, u64) {
    let mut last = after;
    let (mut run, mut total) = (0, 0);
    for s in seqs.range(after + 1..=upto) {
        run = run.max(s - last - 1);
        total += s - last - 1;
        last = *s;
    }
    run = run.max(upto - last);
    total += upto - last;
    (run, total)
}

/// The largest gap between consecutive instants (and the start and end of the window), within
/// `[from, to]`.
pub fn largest_gap(times: &[Instant], from: Instant, to: Instant) -> Duration {
    let mut inside: Vec<Instant> = times
        .iter()
        .copied()
        .filter(|t| *t >= from && *t <= to)
        .collect();
    inside.sort();
    let mut last = from;
    let mut gap = Duration::ZERO;
    for t in inside {
        gap = gap.max(t - last);
        last = t;
    }
    gap.max(to - last)
}
