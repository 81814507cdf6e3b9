//! The thin tokio shell around the sans-IO [`crate::core::Controller`].
//!
//! [`spawn`] binds the OpenFlow listeners and starts one *core task* that owns the
//! controller. Per switch connection there are two tasks:
//!
//! - a **reader** that reads whatever arrives and hands it to the core task, at most a small
//!   budget of bytes ahead of the core (so that one switch flooding the controller cannot
//!   crowd the others out of the shared input queue); it never waits on the writer (Open
//!   vSwitch stops reading while about 100 replies are queued unsent, so a controller whose
//!   reading waits on its writing can deadlock with it);
//! - a **writer** that writes what the core produced, in order, from a queue whose bytes are
//!   counted: a peer that leaves more than [`Config::send_backlog_limit`] unwritten (it sends
//!   but does not read) is closed and what was queued for it dropped.
//!
//! [`Config::send_backlog_limit`]: crate::core::Config::send_backlog_limit
//!
//! The listeners are TCP addresses or unix socket paths ([`Listen`]; Open vSwitch connects to
//! a `unix:` controller target as well as a `tcp:` one, which suits a controller on the same
//! host: no TCP stack on the way). TCP sockets get `TCP_NODELAY` (barriers and echo replies
//! are small and latency-bound). The
//! core task sleeps until the core's [`poll_timeout`](crate::core::Controller::poll_timeout),
//! and after every input drains the core's transmits (to the writers) and events (to
//! `tracing`, one line per switch event, and to the waiters of [`Handle::change`]).
//!
//! The [`Handle`] is how an API layer talks to the controller: [`Handle::change`] applies a
//! model change and resolves when the affected switches acknowledged it (or the bounded wait
//! ended), [`Handle::inspect`] reads the controller's state.

pub mod cli;

use crate::core::{
    Applied, CloseReason, Completion, ConnId, Controller, Event, FlowQuery, FlowQueryError,
};
use crate::store::{model_writes, Store, StoreError, Write};
use bytes::{Bytes, BytesMut};
use netrules::model::{Model, ModelError, Touched};
use openflow_proto::stats::FlowStats;
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

type Call = Box<dyn FnOnce(&mut Core, Instant) + Send>;

/// Changes waiting for their completion.
type Waiters = HashMap<Completion, oneshot::Sender<Result<Applied, ChangeError>>>;

/// Flow reads waiting for their reply.
type FlowWaiters = HashMap<FlowQuery, oneshot::Sender<Result<Vec<FlowStats>, FlowQueryError>>>;

/// What the core task owns.
struct Core {
    ctl: Controller,
    store: Option<Box<dyn Store + Send>>,
    waiters: Waiters,
    flow_waiters: FlowWaiters,
}

enum Input {
    Connect {
        conn: ConnId,
        peer: String,
        conn_tasks: Conn,
    },
    Bytes {
        conn: ConnId,
        data: Bytes,
    },
    Disconnect {
        conn: ConnId,
        error: Option<String>,
    },
    Call(Call),
}

/// Why a change through the [`Handle`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The model refused it; nothing changed.
    #[error("model refused the change: {0}")]
    Model(#[from] ModelError),
    /// The store could not commit it; nothing changed.
    #[error("the change could not be stored: {0}")]
    Store(#[from] StoreError),
    /// The controller task is gone.
    #[error("the controller is not running")]
    Stopped,
}

/// Where the controller listens for OpenFlow switches: a TCP address or a unix socket path.
///
/// Parsed from `unix:PATH`, `tcp:ADDR` or a bare socket address (`127.0.0.1:6653`), as Open
/// vSwitch spells its controller targets (`ovs-vsctl set-controller br0 unix:/run/ctl.sock`).
///
/// ```
/// use examples::shell::Listen;
/// let l: Listen = "unix:/run/ovs-ec2/ctl.sock".parse().unwrap();
/// assert_eq!(l, Listen::Unix("/run/ovs-ec2/ctl.sock".into()));
/// let t: Listen = "0.0.0.0:6653".parse().unwrap();
/// assert_eq!(t.to_string(), "tcp:0.0.0.0:6653");
/// assert!("unix:".parse::<Listen>().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Listen {
    /// A TCP address (port 0: any free port, see [`Handle::local_addrs`]).
    Tcp(SocketAddr),
    /// A unix stream socket at this path. A socket file left there by a process that is
    /// gone is replaced; one with a live listener behind it is an error (address in use).
    Unix(PathBuf),
}

/// Why a listen address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad listen address {input:?}: {reason} (expected unix:PATH, tcp:IP:PORT or IP:PORT)")]
pub struct ListenParseError {
    /// What was given.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl std::str::FromStr for Listen {
    type Err = ListenParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ListenParseError {
            input: s.to_owned(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(err("the unix socket path is empty"));
            }
            return Ok(Listen::Unix(PathBuf::from(path)));
        }
        let addr = s.strip_prefix("tcp:").unwrap_or(s);
        addr.parse()
            .map(Listen::Tcp)
            .map_err(|_| err("not a socket address"))
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listen::Tcp(a) => write!(f, "tcp:{a}"),
            Listen::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl From<SocketAddr> for Listen {
    fn from(a: SocketAddr) -> Self {
        Listen::Tcp(a)
    }
}

impl<'de> serde::Deserialize<'de> for Listen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A handle on a running controller (cheap to clone).
#[derive(Clone, Debug)]
pub struct Handle {
    tx: mpsc::Sender<Input>,
    local_addrs: Arc<Vec<SocketAddr>>,
    unix_paths: Arc<Vec<PathBuf>>,
}

impl Handle {
    /// The addresses the OpenFlow TCP listeners are bound to (with the real port when port 0
    /// was asked for).
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The paths of the OpenFlow unix socket listeners.
    pub fn unix_paths(&self) -> &[PathBuf] {
        &self.unix_paths
    }

    /// Every listener, TCP (with its real port) then unix.
    pub fn listeners(&self) -> Vec<Listen> {
        self.local_addrs
            .iter()
            .map(|a| Listen::Tcp(*a))
            .chain(self.unix_paths.iter().map(|p| Listen::Unix(p.clone())))
            .collect()
    }

    /// Apply a change to the model (see [`Controller::change`]); resolves with its
    /// completion once every connected affected switch acknowledged it, or the controller's
    /// bounded wait ended.
    pub async fn change<F>(&self, f: F) -> Result<Applied, ChangeError>
    where
        F: FnOnce(&mut Model) -> Result<Touched, ModelError> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel();
        let call: Call = Box::new(move |core, now| {
            let store = &mut core.store;
            let result = core.ctl.change_committed(
                now,
                |m| f(m).map_err(ChangeError::Model),
                |before, after| match store {
                    Some(s) => Ok(s.commit(&model_writes(before, after))?),
                    None => Ok(()),
                },
            );
            match result {
                Ok(token) => {
                    core.waiters.insert(token, done_tx);
                }
                Err(e) => {
                    let _ = done_tx.send(Err(e));
                }
            }
        });
        self.tx
            .send(Input::Call(call))
            .await
            .map_err(|_| ChangeError::Stopped)?;
        done_rx.await.map_err(|_| ChangeError::Stopped)?
    }

    /// Like [`Handle::change`], for an API layer with state of its own: `f` returns what it
    /// touched, further [`Write`]s to commit in the same transaction as the model's (instance
    /// metadata, accounts...), and a value for the caller. `f` runs on the controller task
    /// against a copy of the model; if it fails, or the commit fails, nothing changes and the
    /// error comes back.
    ///
    /// Resolves as soon as the change is committed, with the value and an [`InFlight`] to
    /// await the switches' acknowledgements: a caller that serialises its own calls (to keep
    /// its state in step with the model) can release its lock before waiting on the network.
    pub async fn change_with<R, E, F>(&self, f: F) -> Result<(R, InFlight), E>
    where
        R: Send + 'static,
        E: From<ChangeError> + Send + 'static,
        F: FnOnce(&mut Model) -> Result<(Touched, Vec<Write>, R), E> + Send + 'static,
    {
        let (done_tx, done_rx) = oneshot::channel();
        let (value_tx, value_rx) = oneshot::channel::<Result<R, E>>();
        let call: Call = Box::new(move |core, now| {
            let store = &mut core.store;
            let extra = std::cell::RefCell::new(Vec::new());
            let mut value = None;
            let result = core.ctl.change_committed(
                now,
                |m| {
                    let (touched, writes, r) = f(m)?;
                    *extra.borrow_mut() = writes;
                    value = Some(r);
                    Ok(touched)
                },
                |before, after| match store {
                    Some(s) => {
                        let mut writes = model_writes(before, after);
                        writes.append(&mut extra.borrow_mut());
                        s.commit(&writes)
                            .map_err(|e| E::from(ChangeError::Store(e)))
                    }
                    None => Ok(()),
                },
            );
            match (result, value) {
                (Ok(token), Some(v)) => {
                    core.waiters.insert(token, done_tx);
                    let _ = value_tx.send(Ok(v));
                }
                (Ok(_), None) => {
                    let _ = value_tx.send(Err(E::from(ChangeError::Stopped)));
                }
                (Err(e), _) => {
                    let _ = value_tx.send(Err(e));
                }
            }
        });
        self.tx
            .send(Input::Call(call))
            .await
            .map_err(|_| E::from(ChangeError::Stopped))?;
        let value = value_rx
            .await
            .map_err(|_| E::from(ChangeError::Stopped))??;
        Ok((value, InFlight { rx: done_rx }))
    }

    /// Run `f` on the controller (to read its model, switches or counters).
    pub async fn inspect<R, F>(&self, f: F) -> Result<R, ChangeError>
    where
        R: Send + 'static,
        F: FnOnce(&Controller) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let call: Call = Box::new(move |core, _| {
            let _ = tx.send(f(&core.ctl));
        });
        self.tx
            .send(Input::Call(call))
            .await
            .map_err(|_| ChangeError::Stopped)?;
        rx.await.map_err(|_| ChangeError::Stopped)
    }
}

/// Why [`Handle::flows`] has no answer.
#[derive(Debug, thiserror::Error)]
pub enum FlowsError {
    /// The switch is not connected (or its handshake is not done).
    #[error("switch {0:016x} is not connected")]
    NotConnected(netrules::model::Dpid),
    /// The switch did not answer in time.
    #[error("switch {0:016x} did not answer the flow stats request in time")]
    Timeout(netrules::model::Dpid),
    /// The read failed.
    #[error(transparent)]
    Query(#[from] FlowQueryError),
    /// The controller task is gone.
    #[error("the controller is not running")]
    Stopped,
}

impl Handle {
    /// Read the flows installed on switch `dpid` (a flow stats request of everything, see
    /// [`Controller::request_flows`]), waiting at most `timeout` for the whole reply.
    pub async fn flows(
        &self,
        dpid: netrules::model::Dpid,
        timeout: std::time::Duration,
    ) -> Result<Vec<FlowStats>, FlowsError> {
        let (tx, rx) = oneshot::channel();
        let (query_tx, query_rx) = oneshot::channel();
        let call: Call = Box::new(move |core, _| {
            let token = core.ctl.request_flows(dpid);
            if let Some(t) = token {
                core.flow_waiters.insert(t, tx);
            }
            let _ = query_tx.send(token);
        });
        self.tx
            .send(Input::Call(call))
            .await
            .map_err(|_| FlowsError::Stopped)?;
        let token = query_rx.await.map_err(|_| FlowsError::Stopped)?;
        let Some(token) = token else {
            return Err(FlowsError::NotConnected(dpid));
        };
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(r)) => Ok(r?),
            Ok(Err(_)) => Err(FlowsError::Stopped),
            Err(_) => {
                // Forget the waiter; a late reply is dropped.
                let call: Call = Box::new(move |core, _| {
                    core.flow_waiters.remove(&token);
                });
                let _ = self.tx.send(Input::Call(call)).await;
                Err(FlowsError::Timeout(dpid))
            }
        }
    }

    /// Pin or unpin an instance (see [`Controller::pin`]): a pinned instance keeps its
    /// explicit attachment whatever its switch's ports are named.
    pub async fn pin(
        &self,
        id: netrules::model::InstanceId,
        pinned: bool,
    ) -> Result<(), ChangeError> {
        self.inspect_mut(move |c| c.pin(id, pinned)).await
    }

    /// Run `f` on the controller with write access, between inputs (for settings that are
    /// not model changes, such as [`Controller::pin`]).
    async fn inspect_mut<R, F>(&self, f: F) -> Result<R, ChangeError>
    where
        R: Send + 'static,
        F: FnOnce(&mut Controller) -> R + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let call: Call = Box::new(move |core, _| {
            let _ = tx.send(f(&mut core.ctl));
        });
        self.tx
            .send(Input::Call(call))
            .await
            .map_err(|_| ChangeError::Stopped)?;
        rx.await.map_err(|_| ChangeError::Stopped)
    }
}

/// A committed change on its way to the switches (see [`Handle::change_with`]).
#[derive(Debug)]
pub struct InFlight {
    rx: oneshot::Receiver<Result<Applied, ChangeError>>,
}

impl InFlight {
    /// Wait until every connected affected switch acknowledged the change, or the
    /// controller's bounded wait ended.
    pub async fn applied(self) -> Result<Applied, ChangeError> {
        self.rx.await.map_err(|_| ChangeError::Stopped)?
    }
}

/// Bind the listeners and start the controller's tasks on the current tokio runtime, without
/// durable state (changes live as long as the process).
pub async fn spawn(controller: Controller, listen: &[SocketAddr]) -> io::Result<Handle> {
    start(controller, None, &tcp(listen)).await
}

fn tcp(listen: &[SocketAddr]) -> Vec<Listen> {
    listen.iter().copied().map(Listen::Tcp).collect()
}

/// Like [`spawn`] (or [`spawn_with_store`] with a store), on TCP addresses and unix socket
/// paths.
pub async fn spawn_on(
    controller: Controller,
    store: Option<Box<dyn Store + Send>>,
    listen: &[Listen],
) -> io::Result<Handle> {
    start(controller, store, listen).await
}

/// Like [`spawn`], committing every change made through the [`Handle`] to `store` before it
/// takes effect (a change the store refuses is refused). Commits run on the core task: a slow
/// store delays switch handling by as much.
pub async fn spawn_with_store(
    controller: Controller,
    store: Box<dyn Store + Send>,
    listen: &[SocketAddr],
) -> io::Result<Handle> {
    start(controller, Some(store), &tcp(listen)).await
}

/// Bind a unix listener at `path`, replacing a socket file nobody listens on any more (left
/// by a process that died); a live one is `AddrInUse`, anything else there is left alone.
fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    match UnixListener::bind(path) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            use std::os::unix::fs::FileTypeExt;
            let is_socket =
                std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket());
            let live = std::os::unix::net::UnixStream::connect(path).is_ok();
            if !is_socket || live {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "{}: {}",
                        path.display(),
                        if live {
                            "another process listens there"
                        } else {
                            "exists and is not a socket"
                        }
                    ),
                ));
            }
            std::fs::remove_file(path)?;
            UnixListener::bind(path)
        }
        r => r,
    }
}

async fn start(
    controller: Controller,
    store: Option<Box<dyn Store + Send>>,
    listen: &[Listen],
) -> io::Result<Handle> {
    let (tx, rx) = mpsc::channel::<Input>(1024);
    let next_conn = Arc::new(AtomicU64::new(1));
    let mut local_addrs = Vec::new();
    let mut unix_paths = Vec::new();
    for l in listen {
        match l {
            Listen::Tcp(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let local = listener.local_addr()?;
                info!(%local, "listening for OpenFlow switches");
                local_addrs.push(local);
                tokio::spawn(accept_loop(listener, tx.clone(), next_conn.clone()));
            }
            Listen::Unix(path) => {
                let listener = bind_unix(path)?;
                info!(path = %path.display(), "listening for OpenFlow switches");
                unix_paths.push(path.clone());
                tokio::spawn(accept_unix_loop(listener, tx.clone(), next_conn.clone()));
            }
        }
    }
    let mut controller = controller;
    // Packet_in events are only logged (at debug level): not made unless they would be.
    controller.set_packet_in_events(tracing::enabled!(tracing::Level::DEBUG));
    let core = Core {
        ctl: controller,
        store,
        waiters: HashMap::new(),
        flow_waiters: HashMap::new(),
    };
    tokio::spawn(core_task(core, rx));
    Ok(Handle {
        tx,
        local_addrs: Arc::new(local_addrs),
        unix_paths: Arc::new(unix_paths),
    })
}

async fn accept_loop(listener: TcpListener, tx: mpsc::Sender<Input>, next: Arc<AtomicU64>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            warn!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let (rd, wr) = stream.into_split();
        if !connected(rd, wr, peer.to_string(), &tx, &next).await {
            return;
        }
    }
}

async fn accept_unix_loop(listener: UnixListener, tx: mpsc::Sender<Input>, next: Arc<AtomicU64>) {
    let name = listener
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
        .unwrap_or_else(|| "unix".to_owned());
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let (rd, wr) = stream.into_split();
        if !connected(rd, wr, name.clone(), &tx, &next).await {
            return;
        }
    }
}

/// Start a new connection's reader and writer and tell the core task; false if the core
/// task is gone.
async fn connected<R, W>(
    rd: R,
    wr: W,
    peer: String,
    tx: &mpsc::Sender<Input>,
    next: &AtomicU64,
) -> bool
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let conn = ConnId(next.fetch_add(1, Ordering::Relaxed));
    let (wtx, wrx) = mpsc::unbounded_channel();
    let unsent = Arc::new(AtomicUsize::new(0));
    let unread = Arc::new(Semaphore::new(INPUT_BUDGET));
    let writer_task = tokio::spawn(writer(conn, wr, wrx, unsent.clone()));
    let reader = tokio::spawn(reader(conn, rd, tx.clone(), unread.clone()));
    let input = Input::Connect {
        conn,
        peer,
        conn_tasks: Conn {
            writer: wtx,
            unsent,
            unread,
            writer_task,
            reader,
        },
    };
    tx.send(input).await.is_ok()
}

/// The most bytes one read hands to the core.
const READ_CHUNK: usize = 32 * 1024;

/// The most bytes of one connection read but not yet handled by the core. The input
/// channel is shared: without a per-connection budget, one switch sending as fast as it can
/// would fill it, and every other switch's messages (echo and barrier replies) would wait
/// behind up to the whole channel of its packet_ins, long enough for their echo timeout.
/// With it, they wait behind at most this much of each busy switch's input (about 800
/// minimal packet_ins), and a switch that sends faster than the core handles is slowed by
/// TCP (its reader stops reading). Two chunks: one being handled, the next one read.
const INPUT_BUDGET: usize = 2 * READ_CHUNK;

async fn reader<R: AsyncRead + Unpin>(
    conn: ConnId,
    mut rd: R,
    tx: mpsc::Sender<Input>,
    unread: Arc<Semaphore>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        // At most READ_CHUNK bytes, so that a read always fits in the budget.
        let mut limited = (&mut rd).take(READ_CHUNK as u64);
        match limited.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.send(Input::Disconnect { conn, error: None }).await;
                return;
            }
            Ok(n) => {
                // Wait until the core has handled enough of what came before (the core
                // gives the bytes back after handling them; it never waits on this task).
                let Ok(permits) = u32::try_from(n) else {
                    return;
                };
                match unread.acquire_many(permits).await {
                    Ok(p) => p.forget(),
                    Err(_) => return,
                }
                let data = buf.split().freeze();
                if tx.send(Input::Bytes { conn, data }).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                let error = Some(e.to_string());
                let _ = tx.send(Input::Disconnect { conn, error }).await;
                return;
            }
        }
    }
}

async fn writer<W: AsyncWrite + Unpin>(
    conn: ConnId,
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    unsent: Arc<AtomicUsize>,
) {
    while let Some(data) = rx.recv().await {
        if let Err(e) = wr.write_all(&data).await {
            debug!(%conn, error = %e, "write failed");
            return;
        }
        unsent.fetch_sub(data.len(), Ordering::Relaxed);
    }
    // The core closed the connection: everything queued is written; say goodbye.
    let _ = wr.shutdown().await;
}

/// One connection's tasks, as the core task holds them.
struct Conn {
    /// The writer's queue.
    writer: mpsc::UnboundedSender<Bytes>,
    /// Bytes in the writer's queue or being written: added when queued, taken off by the
    /// writer once written; the core closes the connection past
    /// [`crate::core::Config::send_backlog_limit`].
    unsent: Arc<AtomicUsize>,
    /// What remains of the reader's budget of bytes read but not yet handled
    /// ([`INPUT_BUDGET`]): the reader takes from it, the core gives back.
    unread: Arc<Semaphore>,
    writer_task: JoinHandle<()>,
    reader: JoinHandle<()>,
}

impl Conn {
    /// Stop reading now. With `flush`, the writer writes what is queued and shuts the
    /// connection down, but is stopped after `grace` if the peer does not take it; without,
    /// it is stopped now and what is queued is dropped.
    fn retire(self, flush: bool, grace: std::time::Duration) {
        self.reader.abort();
        drop(self.writer);
        if flush {
            let writer_task = self.writer_task;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                writer_task.abort();
            });
        } else {
            self.writer_task.abort();
        }
    }
}

/// The most inputs the core task handles before it hands the transmits to the writers and
/// looks at the events (inputs already waiting are handled together: one write per
/// connection for all of them, one look at the timers).
const INPUT_BATCH: usize = 64;

async fn core_task(mut core: Core, mut rx: mpsc::Receiver<Input>) {
    let mut conns: HashMap<ConnId, Conn> = HashMap::new();
    loop {
        let deadline = core.ctl.poll_timeout().map(tokio::time::Instant::from_std);
        let mut input = tokio::select! {
            input = rx.recv() => match input {
                Some(i) => Some(i),
                None => return,
            },
            _ = sleep_until(deadline) => None,
        };
        let mut handled = 0;
        loop {
            handle_input(&mut core, &mut conns, input, Instant::now());
            handled += 1;
            // Nothing taken from the queue is left unhandled.
            if handled == INPUT_BATCH {
                break;
            }
            match rx.try_recv() {
                Ok(i) => input = Some(i),
                Err(_) => break,
            }
        }
        let ctl = &mut core.ctl;
        while let Some((conn, data)) = ctl.poll_transmit() {
            if let Some(c) = conns.get(&conn) {
                let len = data.len();
                // Counted before the writer can take it off, so the count never wraps.
                let unsent = c
                    .unsent
                    .fetch_add(len, Ordering::Relaxed)
                    .saturating_add(len);
                if c.writer.send(data).is_ok() {
                    // Past the limit the core closes the connection (an Event::Close below).
                    ctl.handle_unsent(conn, unsent);
                }
            }
        }
        while let Some(event) = ctl.poll_event() {
            if let Event::Close { conn, reason } = &event {
                if let Some(c) = conns.remove(conn) {
                    // A peer that does not read gets nothing more; others get what is queued
                    // (an error message before the close), for as long as a live peer needs.
                    let flush = !matches!(reason, CloseReason::SendBacklog { .. });
                    c.retire(flush, ctl.config().echo_timeout);
                }
            }
            if let Event::Applied(a) = &event {
                if let Some(w) = core.waiters.remove(&a.token) {
                    let _ = w.send(Ok(a.clone()));
                }
            }
            if let Event::Flows { token, result, .. } = &event {
                if let Some(w) = core.flow_waiters.remove(token) {
                    let _ = w.send(result.clone());
                }
            }
            log_event(&event);
        }
    }
}

/// Hand one input (`None`: the core's timer) to the core.
fn handle_input(
    core: &mut Core,
    conns: &mut HashMap<ConnId, Conn>,
    input: Option<Input>,
    now: Instant,
) {
    let ctl = &mut core.ctl;
    match input {
        None => ctl.handle_timeout(now),
        Some(Input::Connect {
            conn,
            peer,
            conn_tasks,
        }) => {
            info!(%conn, %peer, "switch connected");
            conns.insert(conn, conn_tasks);
            ctl.handle_connect(conn, now);
        }
        Some(Input::Bytes { conn, data }) => {
            ctl.handle_bytes(conn, &data, now);
            if let Some(c) = conns.get(&conn) {
                c.unread.add_permits(data.len());
            }
        }
        Some(Input::Disconnect { conn, error }) => {
            if let Some(e) = error {
                debug!(%conn, error = %e, "read failed");
            }
            if let Some(c) = conns.remove(&conn) {
                c.retire(true, ctl.config().echo_timeout);
            }
            ctl.handle_disconnect(conn);
        }
        Some(Input::Call(call)) => call(core, now),
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One log line per event.
fn log_event(e: &Event) {
    match e {
        Event::SwitchUp {
            conn,
            dpid,
            ports,
            known,
        } => info!(%conn, dpid = format_args!("{dpid:016x}"), ports, known, "switch up"),
        Event::Reconciled {
            conn,
            dpid,
            added,
            deleted,
            kept,
            foreign,
        } => info!(
            %conn, dpid = format_args!("{dpid:016x}"), added, deleted, kept, foreign,
            "flows reconciled"
        ),
        Event::Close { conn, reason } => info!(%conn, %reason, "closing connection"),
        Event::Disconnected { conn, dpid, reason } => info!(
            %conn, dpid = ?dpid.map(|d| format!("{d:016x}")), %reason, "switch disconnected"
        ),
        Event::SwitchError {
            conn,
            dpid,
            xid,
            error,
        } => warn!(
            %conn, dpid = ?dpid.map(|d| format!("{d:016x}")), xid,
            error = ?error, "error from switch"
        ),
        Event::Malformed { conn, error } => warn!(%conn, %error, "malformed message from switch"),
        Event::Unexpected { conn, msg_type } => {
            warn!(%conn, msg_type, "unexpected message from switch")
        }
        Event::PortBound {
            dpid,
            port,
            instance,
        } => info!(dpid = format_args!("{dpid:016x}"), port = port.0, %instance, "port bound"),
        Event::PortUnbound {
            dpid,
            port,
            instance,
        } => info!(dpid = format_args!("{dpid:016x}"), port = port.0, %instance, "port unbound"),
        Event::ModelRefused { what, error } => warn!(what, error, "model change refused"),
        Event::PacketIn {
            dpid,
            in_port,
            outcome,
        } => debug!(
            dpid = format_args!("{dpid:016x}"),
            in_port = in_port.0,
            ?outcome,
            "packet_in"
        ),
        Event::Announced { dpid, ip } => {
            debug!(dpid = format_args!("{dpid:016x}"), %ip, "gratuitous ARP sent")
        }
        Event::Flows { dpid, result, .. } => debug!(
            dpid = format_args!("{dpid:016x}"),
            flows = result.as_ref().map_or(0, Vec::len),
            ok = result.is_ok(),
            "flows read"
        ),
        Event::Applied(a) => debug!(
            token = a.token.0, acknowledged = ?a.acknowledged, deferred = ?a.deferred,
            timed_out = ?a.timed_out, errors = a.errors, "change applied"
        ),
    }
}
