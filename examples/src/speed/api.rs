//! EC2 API requests per second with SigV4 signature verification: the controller's API
//! ([`App`], in-process, its state in SQLite, no switch connected) next to moto's server
//! (`python -m moto.server`, from `OVS_EC2_PYTHON`) on the same machine, both driven by the same
//! client ([`Ec2Client`]: every request signed afresh, kept-alive connections where the server
//! allows them) with the same requests, one client at a time and several at once. moto's
//! server closes the connection after every answer, so one more run opens a new connection
//! per request to both.
//!
//! moto parses the SigV4 `Authorization` header but does not verify the signature (it has no
//! secret to verify it against unless its IAM emulation is switched on): the baseline does
//! less work than the controller per request.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

use super::dataplane::{scratch_dir, ACCESS_KEY, OWNER, SECRET_KEY};
use super::http::{field, Ec2Client};
use super::{Row, SpeedError};
use crate::app::App;
use crate::shell::cli::{Args, FileConfig};

/// Options of the API measurement.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// How long each workload runs against each server.
    pub duration: Duration,
    /// Concurrent clients of the concurrent runs.
    pub clients: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            duration: Duration::from_secs(3),
            clients: 8,
        }
    }
}

/// What the clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    /// DescribeAddresses (one address allocated).
    Describe,
    /// AuthorizeSecurityGroupIngress then RevokeSecurityGroupIngress of the same rule (each
    /// client its own port), counted as two requests.
    AuthorizeRevoke,
}

/// moto's server, stopped on drop.
#[derive(Debug)]
struct Moto {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<SocketAddr, SpeedError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|source| SpeedError::Io {
        what: "finding a free loopback port".to_owned(),
        source,
    })?;
    l.local_addr().map_err(|source| SpeedError::Io {
        what: "finding a free loopback port".to_owned(),
        source,
    })
}

fn start_moto() -> Result<Moto, SpeedError> {
    let python = std::env::var_os("OVS_EC2_PYTHON").ok_or_else(|| {
        SpeedError::Prerequisite(
            "OVS_EC2_PYTHON is not set: it must name a Python with moto[server] (scripts/test.sh \
             sets it up; by hand: python3 -m venv .venv && .venv/bin/pip install -r \
             scripts/requirements-test.txt && export OVS_EC2_PYTHON=$PWD/.venv/bin/python)"
                .to_owned(),
        )
    })?;
    let addr = free_port()?;
    let port = addr.port().to_string();
    let child = Command::new(&python)
        .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            SpeedError::Prerequisite(format!(
                "cannot run OVS_EC2_PYTHON={}: {e}",
                python.to_string_lossy()
            ))
        })?;
    let mut moto = Moto { child, addr };
    let timeout = Duration::from_secs(60);
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = moto.child.try_wait() {
            return Err(SpeedError::Prerequisite(format!(
                "`{} -m moto.server` exited ({status}): install moto[server] into it \
                 (pip install -r scripts/requirements-test.txt)",
                python.to_string_lossy()
            )));
        }
        if TcpStream::connect_timeout(&moto.addr, Duration::from_millis(200)).is_ok() {
            return Ok(moto);
        }
        if Instant::now() > deadline {
            let _ = moto.child.kill();
            return Err(SpeedError::Timeout {
                what: "moto's server to listen".to_owned(),
                timeout,
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Prepares a server: one address, one group; returns the group id.
fn prepare(client: &mut Ec2Client) -> Result<String, SpeedError> {
    client.call("AllocateAddress", "Domain=vpc")?;
    let r = client.call(
        "CreateSecurityGroup",
        "GroupName=speed&GroupDescription=speed",
    )?;
    field("CreateSecurityGroup", &r.body, "groupId")
}

/// Runs `clients` clients for `duration`; returns requests per second.
fn drive(
    addr: SocketAddr,
    server: &str,
    group: &str,
    workload: Workload,
    clients: usize,
    duration: Duration,
    close: bool,
) -> Result<f64, SpeedError> {
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients.max(1))
        .map(|k| {
            let stop = Arc::clone(&stop);
            let (server, group) = (server.to_owned(), group.to_owned());
            std::thread::spawn(move || -> Result<u64, SpeedError> {
                let mut c = Ec2Client::new(addr, &server, ACCESS_KEY, SECRET_KEY);
                if close {
                    c = c.closing();
                }
                let port = 20000 + k;
                let rule = format!(
                    "GroupId={group}&IpPermissions.1.IpProtocol=tcp&IpPermissions.1.FromPort={port}\
                     &IpPermissions.1.ToPort={port}&IpPermissions.1.IpRanges.1.CidrIp=10.9.0.0/16"
                );
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    match workload {
                        Workload::Describe => {
                            c.call("DescribeAddresses", "")?;
                            n += 1;
                        }
                        Workload::AuthorizeRevoke => {
                            c.call("AuthorizeSecurityGroupIngress", &rule)?;
                            c.call("RevokeSecurityGroupIngress", &rule)?;
                            n += 2;
                        }
                    }
                }
                Ok(n)
            })
        })
        .collect();
    std::thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    for t in threads {
        total += t
            .join()
            .map_err(|_| SpeedError::Controller("a client thread panicked".to_owned()))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// The API measurement; see the module docs. Rows: requests per second of the controller
/// against moto's, per workload, sequential and concurrent; the ratio is controller / moto
/// (higher is better).
pub fn api(options: &Options) -> Result<Vec<Row>, SpeedError> {
    let moto = start_moto()?;
    let dir = scratch_dir("api")?;
    let state = dir.join("state.sqlite3");
    let args = Args::parse_from([
        "controller",
        "--listen",
        "127.0.0.1:0",
        "--api-listen",
        "127.0.0.1:0",
        "--state-file",
        &state.to_string_lossy(),
    ]);
    let file = FileConfig::parse(&format!(
        "[[accounts]]\naccess_key = \"{ACCESS_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\n\
         owner = \"{OWNER}\"\n"
    ))
    .map_err(|e| SpeedError::Controller(format!("config: {e}")))?;
    let mut resolved = args
        .merge(file)
        .map_err(|e| SpeedError::Controller(e.to_string()))?;
    let store = resolved
        .open_state(&args)
        .map_err(|e| SpeedError::Controller(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| SpeedError::Io {
            what: "starting a tokio runtime".to_owned(),
            source,
        })?;
    let app = rt
        .block_on(App::start(resolved, store))
        .map_err(|e| SpeedError::Controller(e.to_string()))?;
    let ours = app.api;
    let our_group = prepare(&mut Ec2Client::new(
        ours,
        "controller",
        ACCESS_KEY,
        SECRET_KEY,
    ))?;
    let moto_group = prepare(&mut Ec2Client::new(
        moto.addr, "moto", ACCESS_KEY, SECRET_KEY,
    ))?;
    let mut rows = Vec::new();
    for workload in [Workload::Describe, Workload::AuthorizeRevoke] {
        for clients in [1, options.clients] {
            let a = drive(
                ours,
                "controller",
                &our_group,
                workload,
                clients,
                options.duration,
                false,
            )?;
            let b = drive(
                moto.addr,
                "moto",
                &moto_group,
                workload,
                clients,
                options.duration,
                false,
            )?;
            let name = match workload {
                Workload::Describe => "DescribeAddresses",
                Workload::AuthorizeRevoke => "Authorize+Revoke",
            };
            rows.push(Row {
                what: format!("api: {name}, {clients} client(s)"),
                result: format!("{a:.0} req/s"),
                baseline: format!("{b:.0} req/s (moto)"),
                ratio: a / b,
                note: "ratio = controller / moto rate (higher is better)".to_owned(),
            });
        }
    }
    // moto answers every request with `Connection: close`; the controller keeps connections
    // open. The same client, a new connection per request to both:
    let a = drive(
        ours,
        "controller",
        &our_group,
        Workload::Describe,
        1,
        options.duration,
        true,
    )?;
    let b = drive(
        moto.addr,
        "moto",
        &moto_group,
        Workload::Describe,
        1,
        options.duration,
        true,
    )?;
    rows.push(Row {
        what: "api: DescribeAddresses, 1 client, a connection per request".to_owned(),
        result: format!("{a:.0} req/s"),
        baseline: format!("{b:.0} req/s (moto)"),
        ratio: a / b,
        note: "ratio = controller / moto rate (higher is better)".to_owned(),
    });
    rt.block_on(app.shutdown());
    drop(moto);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}
