//! The controller relay: `ovs-vswitchd` (in its own namespace) connects to a unix socket, and each
//! connection is forwarded to the controller's TCP address in the test's namespace.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::{Result, TestbedError};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug)]
struct Connection {
    switch_side: UnixStream,
    controller_side: TcpStream,
}

impl Connection {
    fn cut(&self) {
        let _ = self.switch_side.shutdown(Shutdown::Both);
        let _ = self.controller_side.shutdown(Shutdown::Both);
    }
}

#[derive(Debug, Default)]
struct Shared {
    stop: AtomicBool,
    blocked: AtomicBool,
    next_id: AtomicU64,
    accepted: AtomicU64,
    connections: Mutex<HashMap<u64, Connection>>,
}

impl Shared {
    fn connections(&self) -> MutexGuard<'_, HashMap<u64, Connection>> {
        match self.connections.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A unix-socket-to-TCP relay for one bridge's controller connection.
#[derive(Debug)]
pub(crate) struct Relay {
    path: PathBuf,
    target: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

fn pump(mut from: impl Read, mut to: impl Write) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                let Some(chunk) = buffer.get(..n) else { return };
                if to.write_all(chunk).is_err() {
                    return;
                }
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

fn serve(shared: &Arc<Shared>, switch_side: UnixStream, target: SocketAddr) -> io::Result<()> {
    let controller_side = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    controller_side.set_nodelay(true)?;
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    shared.connections().insert(
        id,
        Connection {
            switch_side: switch_side.try_clone()?,
            controller_side: controller_side.try_clone()?,
        },
    );
    shared.accepted.fetch_add(1, Ordering::Relaxed);
    // Either direction ending ends the whole connection, as a direct TCP connection would.
    let (up_from, up_to) = (switch_side.try_clone()?, controller_side.try_clone()?);
    let up_shared = Arc::clone(shared);
    thread::spawn(move || {
        pump(&up_from, &up_to);
        if let Some(connection) = up_shared.connections().remove(&id) {
            connection.cut();
        }
        let _ = up_from.shutdown(Shutdown::Both);
        let _ = up_to.shutdown(Shutdown::Both);
    });
    let down_shared = Arc::clone(shared);
    thread::spawn(move || {
        pump(&controller_side, &switch_side);
        if let Some(connection) = down_shared.connections().remove(&id) {
            connection.cut();
        }
        let _ = controller_side.shutdown(Shutdown::Both);
        let _ = switch_side.shutdown(Shutdown::Both);
    });
    Ok(())
}

impl Relay {
    /// Listens on `path` and forwards every connection to `target`.
    pub(crate) fn start(path: &Path, target: SocketAddr) -> Result<Relay> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).map_err(|source| TestbedError::Io {
            what: "binding the controller relay socket".to_owned(),
            path: path.to_owned(),
            source,
        })?;
        let shared = Arc::new(Shared::default());
        let accept_shared = Arc::clone(&shared);
        let acceptor = thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stop.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                if accept_shared.blocked.load(Ordering::SeqCst) {
                    let _ = stream.shutdown(Shutdown::Both);
                    continue;
                }
                // A refused or failed controller connection closes the switch's side at once,
                // and the switch retries with its back-off, as it would against TCP.
                let _ = serve(&accept_shared, stream, target);
            }
        });
        Ok(Relay {
            path: path.to_owned(),
            target,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// The controller address connections are forwarded to.
    pub(crate) fn target(&self) -> SocketAddr {
        self.target
    }

    /// How many connections are open right now.
    pub(crate) fn open_connections(&self) -> usize {
        self.shared.connections().len()
    }

    /// How many connections were forwarded in total.
    pub(crate) fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Closes every open connection (both sides), as a cut cable would; the switch reconnects.
    pub(crate) fn cut(&self) {
        let connections: Vec<Connection> =
            self.shared.connections().drain().map(|(_, c)| c).collect();
        for connection in connections {
            connection.cut();
        }
    }

    /// While blocked, every connection is cut and new ones are closed at once.
    pub(crate) fn set_blocked(&self, blocked: bool) {
        self.shared.blocked.store(blocked, Ordering::SeqCst);
        if blocked {
            self.cut();
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so that it sees the stop flag.
        let _ = UnixStream::connect(&self.path);
        self.cut();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn forwards_both_ways_and_can_be_cut_and_blocked() {
        let dir = std::env::temp_dir().join(format!("oetb-relay-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("relay.sock");
        let controller = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay::start(&path, controller.local_addr().unwrap()).unwrap();

        let mut switch = UnixStream::connect(&path).unwrap();
        let (mut accepted, _) = controller.accept().unwrap();
        switch.write_all(b"hello").unwrap();
        let mut buffer = [0u8; 5];
        accepted.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"hello");
        accepted.write_all(b"world").unwrap();
        switch.read_exact(&mut buffer).unwrap();
        assert_eq!(&buffer, b"world");
        assert_eq!(relay.open_connections(), 1);
        assert_eq!(relay.accepted(), 1);

        relay.cut();
        let mut rest = Vec::new();
        switch.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());
        accepted.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty());

        relay.set_blocked(true);
        let mut refused = UnixStream::connect(&path).unwrap();
        let mut rest = Vec::new();
        // Closed by the relay without a controller connection.
        let _ = refused.read_to_end(&mut rest);
        assert!(rest.is_empty());
        assert_eq!(relay.accepted(), 1);
        drop(relay);
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
