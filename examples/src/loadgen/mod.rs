//! A cbench-style load generator: emulated OpenFlow 1.0 switches that connect to a
//! controller over TCP and send it packet_ins, counting what comes back.
//!
//! Each emulated switch ([`session::SwitchSession`]) connects, says `HELLO`, answers the
//! features request with its datapath id and ports (an uplink and one port per instance,
//! named after it), the configuration requests, flow stats requests (an empty table),
//! barriers and echo requests. Once the controller is done setting it up, every switch
//! starts at the same instant and sends packet_ins for [`LoadConfig::duration`]:
//!
//! - [`Mode::Throughput`]: up to `window` packet_ins outstanding per switch, topped up as
//!   answers come back;
//! - [`Mode::Latency`]: one at a time; the time from sending to the answer is recorded.
//!
//! Each packet_in is the first packet of a new outbound TCP connection from one of the
//! switch's instances ([`fleet`]), so a controller serving the [`fleet::Fleet::model`] runs
//! its whole reactive path: decide from the model, install two pinholes, send the packet on.
//! A *response* is the packet_out carrying the packet_in's frame back unchanged (the frame's
//! TCP sequence number names the packet_in it answers); flow_mods and packet_outs are
//! counted separately, and so are packet_outs that answer nothing (gratuitous ARPs).
//!
//! [`responder`] is the baseline: a controller that only answers. [`compare`] runs the load
//! against the real controller ([`crate::shell`]) and against the responder, each on a
//! runtime of one worker thread, the load on another thread, and reports both.
//!
//! # Example
//!
//! ```
//! use examples::loadgen::{compare, CompareConfig, LoadConfig, Mode};
//! use std::time::Duration;
//!
//! let cfg = CompareConfig {
//!     switches: 2,
//!     instances: 2,
//!     load: LoadConfig { duration: Duration::from_millis(100), ..LoadConfig::default() },
//! };
//! let c = compare(&cfg).unwrap();
//! // Every packet_in answered was a new connection with two pinholes.
//! assert_eq!(c.controller.totals.pinhole_adds, 2 * c.controller.totals.responses);
//! println!("{c}");
//! ```

pub mod cpu;
pub mod fleet;
pub mod histogram;
pub mod responder;
pub mod session;

use crate::core::{Config, Controller};
use cpu::{busy_percent, CpuSet, ThreadCpu};
use fleet::{Fleet, FleetError, FleetSwitch};
use histogram::Histogram;
use netrules::model::Settings;
use session::{Counters, SessionError, SwitchSession};
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// How packet_ins are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Keep up to `window` packet_ins outstanding per switch.
    Throughput {
        /// Packet_ins outstanding per switch (at least 1).
        window: usize,
    },
    /// One packet_in outstanding per switch at a time.
    Latency,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Throughput { window } => write!(f, "throughput (window {window})"),
            Mode::Latency => f.write_str("latency"),
        }
    }
}

/// How to run the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadConfig {
    /// Throughput or latency.
    pub mode: Mode,
    /// How long packet_ins are sent and answers counted.
    pub duration: Duration,
    /// The longest the switches may take to connect and be set up.
    pub setup_timeout: Duration,
    /// After the load, the longest the switches wait for answers still outstanding.
    pub drain_timeout: Duration,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            mode: Mode::Throughput { window: 64 },
            duration: Duration::from_secs(1),
            setup_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(2),
        }
    }
}

/// Why a load run failed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The fleet could not be built.
    #[error(transparent)]
    Fleet(#[from] FleetError),
    /// The model could not be built.
    #[error("building the model: {0}")]
    Model(#[from] netrules::model::ModelError),
    /// A switch could not connect.
    #[error("switch {dpid:#x}: connecting to {addr}: {source}")]
    Connect {
        /// The switch.
        dpid: u64,
        /// The controller's address.
        addr: SocketAddr,
        /// The error.
        source: io::Error,
    },
    /// Reading or writing failed.
    #[error("switch {dpid:#x}: {source}")]
    Io {
        /// The switch.
        dpid: u64,
        /// The error.
        source: io::Error,
    },
    /// The controller closed a connection.
    #[error("switch {dpid:#x}: the controller closed the connection ({phase})")]
    Closed {
        /// The switch.
        dpid: u64,
        /// What the switch was doing.
        phase: &'static str,
    },
    /// The switch side of the protocol failed.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// Not every switch was set up in time.
    #[error("{ready} of {switches} switches set up within {timeout:?}")]
    SetupTimeout {
        /// Switches set up.
        ready: usize,
        /// Switches.
        switches: usize,
        /// The time allowed.
        timeout: Duration,
    },
    /// The runtime could not be built or a task died.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// What one load run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The mode.
    pub mode: Mode,
    /// Switches.
    pub switches: usize,
    /// The measurement window.
    pub duration: Duration,
    /// Counted within the window (all switches).
    pub window: Counters,
    /// Counted over the whole run: setup, window and drain.
    pub totals: Counters,
    /// Packet_ins still unanswered after the drain.
    pub outstanding: u64,
    /// Latencies of the responses within the window.
    pub latency: Histogram,
    /// Time the serving threads spent on a CPU within the window, if they were given
    /// ([`run_observed`]).
    pub server_cpu: Option<Duration>,
    /// Time the load generator's thread spent on a CPU within the window (`None` where
    /// `/proc` cannot tell).
    pub load_cpu: Option<Duration>,
}

impl Report {
    /// Responses per second within the window.
    pub fn responses_per_sec(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.window.responses as f64 / s
        } else {
            0.0
        }
    }

    /// The serving threads' CPU time within the window as a share of it, in percent.
    pub fn server_busy(&self) -> Option<f64> {
        self.server_cpu.map(|c| busy_percent(c, self.duration))
    }

    /// The load generator's CPU time within the window as a share of it, in percent.
    pub fn load_busy(&self) -> Option<f64> {
        self.load_cpu.map(|c| busy_percent(c, self.duration))
    }

    /// The serving threads' CPU time per response within the window.
    pub fn server_cpu_per_response(&self) -> Option<Duration> {
        let n = u32::try_from(self.window.responses)
            .ok()
            .filter(|&n| n > 0)?;
        Some(self.server_cpu? / n)
    }
}

fn us(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e6))
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.window;
        write!(
            f,
            "{} switches, {}, {:.2} s: {:.0} responses/s ({} packet_ins, {} responses, \
             {} flow_mods, {} packet_outs, {} other packet_outs, {} errors); \
             latency us mean {} p50 {} p99 {} max {}",
            self.switches,
            self.mode,
            self.duration.as_secs_f64(),
            self.responses_per_sec(),
            w.packet_ins,
            w.responses,
            w.flow_mods,
            w.packet_outs,
            w.other_packet_outs,
            w.errors,
            us(self.latency.mean()),
            us(self.latency.quantile(0.5)),
            us(self.latency.quantile(0.99)),
            us(self.latency.max()),
        )?;
        if let Some(b) = self.server_busy() {
            write!(f, "; server threads {b:.0}% busy")?;
        }
        if let Some(c) = self.server_cpu_per_response() {
            write!(f, " ({:.2} us CPU per response)", c.as_secs_f64() * 1e6)?;
        }
        if let Some(b) = self.load_busy() {
            write!(f, "; load generator {b:.0}% busy")?;
        }
        Ok(())
    }
}

struct SwitchResult {
    window: Counters,
    totals: Counters,
    outstanding: usize,
    latency: Histogram,
}

/// The packet_ins to add so that the mode's number is outstanding.
fn refill(mode: Mode, outstanding: usize) -> usize {
    let want = match mode {
        Mode::Throughput { window } => window.max(1),
        Mode::Latency => 1,
    };
    want.saturating_sub(outstanding)
}

struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    dpid: u64,
}

impl Conn {
    async fn flush(&mut self, s: &mut SwitchSession) -> Result<(), LoadError> {
        if s.has_output() {
            let out = s.take_output();
            self.stream
                .write_all(&out)
                .await
                .map_err(|source| LoadError::Io {
                    dpid: self.dpid,
                    source,
                })?;
        }
        Ok(())
    }

    /// Read once and hand the bytes to the session.
    async fn read(&mut self, s: &mut SwitchSession, phase: &'static str) -> Result<(), LoadError> {
        let n = self
            .stream
            .read(&mut self.buf)
            .await
            .map_err(|source| LoadError::Io {
                dpid: self.dpid,
                source,
            })?;
        if n == 0 {
            return Err(LoadError::Closed {
                dpid: self.dpid,
                phase,
            });
        }
        s.handle_bytes(self.buf.get(..n).unwrap_or_default(), Instant::now())?;
        Ok(())
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

async fn drive(
    addr: SocketAddr,
    switch: FleetSwitch,
    settings: Settings,
    cfg: LoadConfig,
    ready: mpsc::Sender<()>,
    mut start: watch::Receiver<Option<(Instant, Instant)>>,
) -> Result<SwitchResult, LoadError> {
    let dpid = switch.dpid;
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| LoadError::Connect { dpid, addr, source })?;
    stream
        .set_nodelay(true)
        .map_err(|source| LoadError::Io { dpid, source })?;
    let mut conn = Conn {
        stream,
        buf: vec![0; 64 * 1024],
        dpid,
    };
    let mut s = SwitchSession::new(switch, settings);
    // Set-up.
    conn.flush(&mut s).await?;
    while !s.poll_ready(Instant::now()) {
        let deadline = s.ready_deadline();
        tokio::select! {
            r = conn.read(&mut s, "set-up") => r?,
            _ = sleep_until_opt(deadline) => {}
        }
        conn.flush(&mut s).await?;
    }
    let _ = ready.send(()).await;
    // Wait for the start, answering the controller meanwhile.
    let (t0, t1) = loop {
        if let Some(t) = *start.borrow_and_update() {
            break t;
        }
        tokio::select! {
            r = start.changed() => {
                if r.is_err() {
                    return Err(LoadError::Runtime("load generator stopped".to_owned()));
                }
            }
            r = conn.read(&mut s, "waiting for the start") => r?,
        }
        conn.flush(&mut s).await?;
    };
    tokio::time::sleep_until(t0.into()).await;
    let before = s.counters();
    s.set_recording(true);
    s.send_packet_ins(refill(cfg.mode, s.outstanding()), Instant::now());
    conn.flush(&mut s).await?;
    loop {
        tokio::select! {
            r = conn.read(&mut s, "load") => r?,
            _ = tokio::time::sleep_until(t1.into()) => break,
        }
        if Instant::now() < t1 {
            s.send_packet_ins(refill(cfg.mode, s.outstanding()), Instant::now());
        }
        conn.flush(&mut s).await?;
    }
    s.set_recording(false);
    let window = s.counters().since(&before);
    // Drain what is still outstanding.
    let drain_end = Instant::now() + cfg.drain_timeout;
    while s.outstanding() > 0 && Instant::now() < drain_end {
        tokio::select! {
            r = conn.read(&mut s, "drain") => r?,
            _ = tokio::time::sleep_until(drain_end.into()) => {}
        }
        conn.flush(&mut s).await?;
    }
    let _ = conn.stream.shutdown().await;
    Ok(SwitchResult {
        window,
        totals: s.counters(),
        outstanding: s.outstanding(),
        latency: s.latency().clone(),
    })
}

/// Run the load against the controller at `addr` with the fleet's switches (on the current
/// tokio runtime; every switch is a task).
pub async fn run(addr: SocketAddr, fleet: &Fleet, cfg: &LoadConfig) -> Result<Report, LoadError> {
    run_observed(addr, fleet, cfg, &CpuSet::default()).await
}

/// [`run`], also measuring the CPU time that `server`'s threads and the calling thread (the
/// load generator's, on a current-thread runtime) spend within the window.
pub async fn run_observed(
    addr: SocketAddr,
    fleet: &Fleet,
    cfg: &LoadConfig,
    server: &CpuSet,
) -> Result<Report, LoadError> {
    let n = fleet.switches.len();
    let (ready_tx, mut ready_rx) = mpsc::channel(n.max(1));
    let (start_tx, start_rx) = watch::channel(None);
    let mut tasks = JoinSet::new();
    for sw in &fleet.switches {
        tasks.spawn(drive(
            addr,
            sw.clone(),
            fleet.settings,
            *cfg,
            ready_tx.clone(),
            start_rx.clone(),
        ));
    }
    drop(ready_tx);
    let setup_end = tokio::time::Instant::now() + cfg.setup_timeout;
    let mut ready = 0;
    while ready < n {
        tokio::select! {
            r = ready_rx.recv() => match r {
                Some(()) => ready += 1,
                None => break,
            },
            Some(done) = tasks.join_next() => {
                // A switch ended before the start: it failed.
                let err = match done {
                    Ok(Err(e)) => e,
                    Ok(Ok(_)) => LoadError::Runtime("a switch ended before the start".to_owned()),
                    Err(e) => LoadError::Runtime(e.to_string()),
                };
                return Err(err);
            }
            _ = tokio::time::sleep_until(setup_end) => {
                return Err(LoadError::SetupTimeout {
                    ready,
                    switches: n,
                    timeout: cfg.setup_timeout,
                });
            }
        }
    }
    // A moment for every task to be back waiting on its socket.
    let t0 = Instant::now() + Duration::from_millis(5);
    let t1 = t0 + cfg.duration;
    let _ = start_tx.send(Some((t0, t1)));
    let load = ThreadCpu::current().ok().map(|t| CpuSet::new(vec![t]));
    let server = (!server.is_empty()).then_some(server);
    let sample = || (server.map(CpuSet::read), load.as_ref().map(CpuSet::read));
    let window_cpu = async {
        tokio::time::sleep_until(t0.into()).await;
        let at0 = sample();
        tokio::time::sleep_until(t1.into()).await;
        let at1 = sample();
        let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
        (diff(at0.0, at1.0), diff(at0.1, at1.1))
    };
    let mut report = Report {
        mode: cfg.mode,
        switches: n,
        duration: cfg.duration,
        window: Counters::default(),
        totals: Counters::default(),
        outstanding: 0,
        latency: Histogram::new(),
        server_cpu: None,
        load_cpu: None,
    };
    (report.server_cpu, report.load_cpu) = window_cpu.await;
    while let Some(done) = tasks.join_next().await {
        let r = done.map_err(|e| LoadError::Runtime(e.to_string()))??;
        report.window.add(&r.window);
        report.totals.add(&r.totals);
        report.outstanding += r.outstanding as u64;
        report.latency.merge(&r.latency);
    }
    Ok(report)
}

/// What [`compare`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompareConfig {
    /// Emulated switches.
    pub switches: u32,
    /// Instances per switch.
    pub instances: u16,
    /// The load.
    pub load: LoadConfig,
}

impl Default for CompareConfig {
    fn default() -> Self {
        CompareConfig {
            switches: 16,
            instances: 4,
            load: LoadConfig::default(),
        }
    }
}

/// The controller's and the responder's runs, side by side.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Against the controller.
    pub controller: Report,
    /// The controller's own counters at the end.
    pub controller_counters: crate::core::Counters,
    /// Tracked connections (each with its pinholes) in the controller at the end.
    pub tracked: usize,
    /// Against the responder.
    pub responder: Report,
}

impl Comparison {
    /// The controller's rate over the responder's.
    pub fn ratio(&self) -> f64 {
        let r = self.responder.responses_per_sec();
        if r > 0.0 {
            self.controller.responses_per_sec() / r
        } else {
            0.0
        }
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "controller: {}", self.controller)?;
        writeln!(f, "responder:  {}", self.responder)?;
        write!(
            f,
            "ratio controller/responder: {:.3} (goal >= 0.5: {})",
            self.ratio(),
            if self.ratio() >= 0.5 {
                "met"
            } else {
                "not met"
            }
        )
    }
}

/// The CPU clocks of the threads a runtime started, as they start.
type Started = Arc<Mutex<Vec<ThreadCpu>>>;

/// A runtime of one worker thread, and the CPU clocks of the threads it starts.
fn runtime_one_worker() -> Result<(tokio::runtime::Runtime, Started), LoadError> {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let started = threads.clone();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(move || {
            if let (Ok(clock), Ok(mut all)) = (ThreadCpu::current(), started.lock()) {
                all.push(clock);
            }
        })
        .enable_all()
        .build()
        .map_err(|e| LoadError::Runtime(e.to_string()))?;
    Ok((rt, threads))
}

/// The clocks of the threads `rt` has started so far (its worker: a task it ran ends only
/// after the worker's start hook).
fn cpu_set(rt: &tokio::runtime::Runtime, threads: &Mutex<Vec<ThreadCpu>>) -> CpuSet {
    let _ = rt.block_on(rt.spawn(async {}));
    CpuSet::new(threads.lock().map(|t| t.clone()).unwrap_or_default())
}

/// Run the load against the real controller (the [`crate::shell`] around a
/// [`Controller`] serving the fleet's model) and against the [`responder::Responder`], one
/// after the other, each served by a tokio runtime of one worker thread while the load runs
/// on the calling thread. Blocking: call it outside a runtime.
pub fn compare(cfg: &CompareConfig) -> Result<Comparison, LoadError> {
    let fleet = Fleet::new(
        crate::core::sim_switch::test_settings(),
        1,
        cfg.switches,
        cfg.instances,
    )?;
    let load = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LoadError::Runtime(e.to_string()))?;
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));

    let (served, threads) = runtime_one_worker()?;
    let controller = Controller::new(fleet.model()?, Config::default());
    let handle = served
        .block_on(crate::shell::spawn(controller, &[loopback]))
        .map_err(|source| LoadError::Io { dpid: 0, source })?;
    let addr = handle
        .local_addrs()
        .first()
        .copied()
        .ok_or_else(|| LoadError::Runtime("controller has no listener".to_owned()))?;
    let ctl_report = load.block_on(run_observed(
        addr,
        &fleet,
        &cfg.load,
        &cpu_set(&served, &threads),
    ))?;
    let (controller_counters, tracked) = served
        .block_on(handle.inspect(|c| (c.counters(), c.pinholes().len())))
        .map_err(|e| LoadError::Runtime(e.to_string()))?;
    drop(handle);
    served.shutdown_background();

    let (served, threads) = runtime_one_worker()?;
    let responder = served
        .block_on(responder::Responder::spawn(loopback))
        .map_err(|source| LoadError::Io { dpid: 0, source })?;
    let resp_report = load.block_on(run_observed(
        responder.local_addr(),
        &fleet,
        &cfg.load,
        &cpu_set(&served, &threads),
    ))?;
    drop(responder);
    served.shutdown_background();

    Ok(Comparison {
        controller: ctl_report,
        controller_counters,
        tracked,
        responder: resp_report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refill_tops_up_to_the_mode() {
        assert_eq!(refill(Mode::Throughput { window: 8 }, 3), 5);
        assert_eq!(refill(Mode::Throughput { window: 8 }, 9), 0);
        assert_eq!(refill(Mode::Throughput { window: 0 }, 0), 1);
        assert_eq!(refill(Mode::Latency, 0), 1);
        assert_eq!(refill(Mode::Latency, 1), 0);
    }

    #[test]
    fn load_against_the_responder() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fleet = Fleet::new(crate::core::sim_switch::test_settings(), 1, 2, 2).unwrap();
        let cfg = LoadConfig {
            mode: Mode::Latency,
            duration: Duration::from_millis(100),
            ..LoadConfig::default()
        };
        let report = rt.block_on(async {
            let r = responder::Responder::spawn(SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .unwrap();
            let report = run(r.local_addr(), &fleet, &cfg).await.unwrap();
            assert_eq!(
                r.counters()
                    .packet_ins
                    .load(std::sync::atomic::Ordering::Relaxed),
                report.totals.packet_ins
            );
            report
        });
        assert!(report.window.responses > 0);
        assert_eq!(report.outstanding, 0);
        assert_eq!(report.totals.responses, report.totals.packet_ins);
        assert_eq!(report.totals.flow_mods, 0);
        assert_eq!(report.latency.count(), report.window.responses);
        // Latency mode: never more than one outstanding per switch.
        assert!(report.window.packet_ins <= report.window.responses + 2);
    }

    #[test]
    fn nobody_listening_is_a_connect_error() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fleet = Fleet::new(crate::core::sim_switch::test_settings(), 1, 1, 1).unwrap();
        // Bind then drop a listener to get a port nobody listens on.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = rt
            .block_on(run(addr, &fleet, &LoadConfig::default()))
            .unwrap_err();
        assert!(matches!(err, LoadError::Connect { dpid: 1, .. }), "{err}");
    }
}
