//! The baseline: a controller that does nothing but answer, built from the same libraries
//! (`openflow-proto`'s framer and codec, tokio).
//!
//! Per connection, one task: it says `HELLO`, asks for the features, answers echo requests,
//! and answers each `PACKET_IN` with a `PACKET_OUT` of the same frame flooded out (or of the
//! same buffer, when the switch buffered it). No model, no flows, no state: the rate a
//! controller reaches when its only cost is reading, decoding, encoding and writing.

use bytes::{Bytes, BytesMut};
use openflow_proto::{Action, Framer, Message, PacketOut, PortNo, NO_BUFFER};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What the responder did, across its connections.
#[derive(Debug, Default)]
pub struct ResponderCounters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Packet_ins received.
    pub packet_ins: AtomicU64,
    /// Packet_outs sent.
    pub packet_outs: AtomicU64,
    /// Messages that could not be decoded, and out-of-sync streams.
    pub malformed: AtomicU64,
}

/// A running responder; dropping it stops accepting (open connections run until closed).
#[derive(Debug)]
pub struct Responder {
    local_addr: SocketAddr,
    counters: Arc<ResponderCounters>,
    accept: JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl Responder {
    /// Bind `addr` and answer every switch that connects, on the current tokio runtime.
    pub async fn spawn(addr: SocketAddr) -> io::Result<Responder> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let counters = Arc::new(ResponderCounters::default());
        let c = counters.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                c.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, c.clone()));
            }
        });
        Ok(Responder {
            local_addr,
            counters,
            accept,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Its counters.
    pub fn counters(&self) -> &ResponderCounters {
        &self.counters
    }
}

/// The answer to one message from a switch, if any.
pub fn answer(xid: u32, msg: Message) -> Option<(u32, Message)> {
    match msg {
        Message::EchoRequest(d) => Some((xid, Message::EchoReply(d))),
        Message::PacketIn(pi) => {
            let data = if pi.buffer_id == NO_BUFFER {
                pi.data
            } else {
                Bytes::new()
            };
            Some((
                xid,
                Message::PacketOut(PacketOut {
                    buffer_id: pi.buffer_id,
                    in_port: pi.in_port,
                    actions: vec![Action::Output {
                        port: PortNo::FLOOD,
                        max_len: 0,
                    }]
                    .into(),
                    data,
                }),
            ))
        }
        _ => None,
    }
}

async fn serve(mut stream: TcpStream, counters: Arc<ResponderCounters>) {
    let _ = stream.set_nodelay(true);
    let mut out = BytesMut::with_capacity(64 * 1024);
    let _ = Message::Hello(Bytes::new()).encode(1, &mut out);
    let _ = Message::FeaturesRequest.encode(2, &mut out);
    if stream.write_all(&out.split()).await.is_err() {
        return;
    }
    let mut framer = Framer::new();
    loop {
        framer.buffer_mut().reserve(64 * 1024);
        match stream.read_buf(framer.buffer_mut()).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            match framer.next_message() {
                Ok(None) => break,
                Ok(Some(Ok((header, msg)))) => {
                    let is_pi = matches!(msg, Message::PacketIn(_));
                    if is_pi {
                        counters.packet_ins.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some((xid, reply)) = answer(header.xid, msg) {
                        if reply.encode(xid, &mut out).is_ok() && is_pi {
                            counters.packet_outs.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(Some(Err(_))) => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counters.malformed.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        if !out.is_empty() && stream.write_all(&out.split()).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openflow_proto::{PacketIn, PacketInReason};

    fn pi(buffer_id: u32) -> Message {
        Message::PacketIn(PacketIn {
            buffer_id,
            total_len: 3,
            in_port: PortNo(4),
            reason: PacketInReason::NoMatch,
            data: Bytes::from_static(b"abc"),
        })
    }

    #[test]
    fn packet_in_is_flooded_back() {
        let (xid, m) = answer(5, pi(NO_BUFFER)).unwrap();
        assert_eq!(xid, 5);
        let Message::PacketOut(po) = m else {
            panic!("{m:?}")
        };
        assert_eq!(
            (po.buffer_id, po.in_port, po.data.as_ref()),
            (NO_BUFFER, PortNo(4), &b"abc"[..])
        );
        assert_eq!(
            po.actions,
            vec![Action::Output {
                port: PortNo::FLOOD,
                max_len: 0
            }]
        );
    }

    #[test]
    fn buffered_packet_in_is_released_by_buffer() {
        let Some((_, Message::PacketOut(po))) = answer(5, pi(77)) else {
            panic!()
        };
        assert_eq!((po.buffer_id, po.data.len()), (77, 0));
    }

    #[test]
    fn echo_is_answered_and_the_rest_ignored() {
        assert_eq!(
            answer(3, Message::EchoRequest(Bytes::from_static(b"e"))),
            Some((3, Message::EchoReply(Bytes::from_static(b"e"))))
        );
        assert_eq!(answer(3, Message::BarrierReply), None);
        assert_eq!(answer(3, Message::Hello(Bytes::new())), None);
    }
}
