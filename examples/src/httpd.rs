//! The accept loop of the controller's HTTP servers (the EC2 API, the XML-RPC drop-in and the
//! admin API): HTTP/1.1 with a deadline on every request head, a cap on open connections and
//! a graceful shutdown with a bounded grace.
//!
//! `axum::serve` has no timer, so it never times out a request head: a client that opens
//! connections and sends its headers a byte at a time (slowloris), or opens them and sends
//! nothing, holds each connection and its file descriptor for as long as it likes. Here:
//! - a connection whose next request head has not fully arrived within
//!   [`HttpLimits::header_timeout`] is closed: the first request's and, on a kept-alive
//!   connection, each following one's (so idle connections are closed too);
//! - past [`HttpLimits::max_connections`] open connections the server stops accepting until
//!   one closes; new clients wait in the kernel's listen backlog instead of using up the
//!   process's file descriptors;
//! - on shutdown it stops accepting, lets requests in progress finish, closes idle
//!   connections, and gives up on the rest after [`HttpLimits::shutdown_grace`].
//!
//! Request bodies have their own deadline in the EC2 API's handler
//! ([`crate::api::ApiConfig::body_timeout`]).

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

/// Limits of one HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long a request head (request line and headers) may take to arrive, counted from
    /// the moment the server starts waiting for it (the connection's opening, or the end of
    /// the previous response on a kept-alive connection).
    pub header_timeout: Duration,
    /// Connections open at once; the server accepts no more until one closes.
    pub max_connections: usize,
    /// How long a shutdown waits for requests in progress.
    pub shutdown_grace: Duration,
}

impl HttpLimits {
    /// 20 s for a request head, 1024 connections, 10 s of grace at shutdown.
    pub const DEFAULT: HttpLimits = HttpLimits {
        header_timeout: Duration::from_secs(20),
        max_connections: 1024,
        shutdown_grace: Duration::from_secs(10),
    };
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Serve `router` on `listener` within `limits` until `shutdown` resolves (see the module
/// docs). Returns once the server has stopped and its connections are closed or given up.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let shutdown = std::pin::pin!(shutdown);
    let mut shutdown = shutdown;
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was
                    // accepted: wait a little rather than spin, and go on serving.
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, error = %e, "cannot set TCP_NODELAY");
        }
        let service = TowerToHyperService::new(router.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            warn!(grace = ?limits.shutdown_grace, "HTTP connections still open after the shutdown grace; dropping them");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    fn limits(header_ms: u64, max_connections: usize) -> HttpLimits {
        HttpLimits {
            header_timeout: Duration::from_millis(header_ms),
            max_connections,
            shutdown_grace: Duration::from_secs(2),
        }
    }

    async fn start(
        limits: HttpLimits,
    ) -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<io::Result<()>>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "hello" }));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, router, limits, async move {
            let _ = rx.await;
        }));
        (addr, tx, task)
    }

    /// Reads until the peer closes (or 10 s pass); returns what came and when it closed.
    async fn read_to_close(s: &mut TcpStream) -> (Vec<u8>, Duration) {
        let t0 = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (got, t0.elapsed()),
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => panic!("the server did not close the connection in 10 s"),
            }
        }
    }

    async fn get_ok(addr: std::net::SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let (got, _) = read_to_close(&mut s).await;
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn serves_requests() {
        let (addr, _stop, _task) = start(limits(2000, 8)).await;
        let r = get_ok(addr).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(r.ends_with("hello"), "{r}");
    }

    #[tokio::test]
    async fn a_trickled_request_head_is_cut_at_the_deadline() {
        let (addr, _stop, _task) = start(limits(400, 8)).await;
        let mut s = TcpStream::connect(addr).await.unwrap();
        let t0 = Instant::now();
        // One header byte every 50 ms: the head would take far longer than the deadline.
        let (mut rd, mut wr) = s.split();
        let trickle = async {
            for b in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                if wr.write_all(&[*b]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        let mut buf = [0u8; 64];
        let closed = async {
            loop {
                match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::select! {
            () = closed => {}
            () = trickle => panic!("the whole slow head was accepted"),
        }
        let took = t0.elapsed();
        assert!(
            took >= Duration::from_millis(350),
            "closed too early: {took:?}"
        );
        assert!(took < Duration::from_secs(3), "closed too late: {took:?}");
        // Others are served meanwhile and after.
        assert!(get_ok(addr).await.starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn a_silent_or_idle_connection_is_closed() {
        let (addr, _stop, _task) = start(limits(300, 8)).await;
        // Opened, nothing sent.
        let mut silent = TcpStream::connect(addr).await.unwrap();
        let (got, took) = read_to_close(&mut silent).await;
        assert!(got.is_empty());
        assert!(took < Duration::from_secs(3), "{took:?}");
        // One request answered on a kept-alive connection, then idle.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let (got, took) = read_to_close(&mut idle).await;
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }

    #[tokio::test]
    async fn connections_beyond_the_cap_wait_for_a_free_slot() {
        let (addr, _stop, _task) = start(limits(600, 2)).await;
        // Two silent connections take both slots.
        let mut a = TcpStream::connect(addr).await.unwrap();
        let mut b = TcpStream::connect(addr).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A third is queued by the kernel, and answered once a slot frees (when the
        // silent ones time out), not refused.
        let t0 = Instant::now();
        let r = get_ok(addr).await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        assert!(
            t0.elapsed() >= Duration::from_millis(300),
            "answered while both slots were taken ({:?})",
            t0.elapsed()
        );
        let _ = read_to_close(&mut a).await;
        let _ = read_to_close(&mut b).await;
    }

    #[tokio::test]
    async fn shutdown_stops_accepting_and_returns() {
        let (addr, stop, task) = start(limits(5000, 8)).await;
        assert!(get_ok(addr).await.starts_with("HTTP/1.1 200"));
        // An idle kept-alive connection does not hold the shutdown up.
        let mut idle = TcpStream::connect(addr).await.unwrap();
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = idle.read(&mut buf).await.unwrap();
        assert!(n > 0);
        let t0 = Instant::now();
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(3), task)
            .await
            .expect("the server did not stop")
            .unwrap()
            .unwrap();
        assert!(t0.elapsed() < Duration::from_secs(3));
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
