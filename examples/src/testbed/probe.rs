//! `netns-probe`: the tiny traffic tool the test bed runs inside namespaces (through
//! `ip netns exec`) to make TCP and UDP exchanges and record what arrives.
//!
//! It is a binary of this crate (`src/bin/netns-probe.rs` calls [`run`]); the test bed finds it
//! next to the running test executable (Cargo builds it for the crate's integration tests), or at
//! the path in the `OVS_EC2_NETNS_PROBE` environment variable.
//!
//! Commands, each printing tab-separated lines on standard output:
//!
//! - `listen tcp|udp ADDR:PORT`: prints `ready<TAB>LOCAL`, then one
//!   `tcp|udp<TAB>PEER<TAB>LOCAL<TAB>HEXDATA` line per connection (after the peer's end of data,
//!   at most 64 KiB, or 5 s without data) or datagram, and echoes the data back.
//! - `connect tcp ADDR:PORT TIMEOUT_MS HEXDATA`: connects, sends the data, ends its side, reads the
//!   reply until the peer closes; prints `ok<TAB>LOCAL<TAB>HEXREPLY` or
//!   `err<TAB>timeout|refused|unreachable|error<TAB>MESSAGE` (exit status 0, respectively 1).
//! - `send udp ADDR:PORT TIMEOUT_MS HEXDATA`: sends one datagram and waits for one reply; prints
//!   the same outcome lines.
//! - `stream udp ADDR:PORT INTERVAL_US COUNT`: sends COUNT datagrams, one every INTERVAL_US
//!   microseconds (on a fixed schedule), each carrying its sequence number (0, 1, ...) as 8
//!   big-endian bytes; prints `done<TAB>SENT` (a send error is counted, not fatal: a stream
//!   measures loss).
//! - `stream tcp ADDR:PORT INTERVAL_US COUNT`: the same numbered records over one TCP
//!   connection; prints `done<TAB>COUNT`, or `err<TAB>KIND<TAB>after N records...` when the
//!   connection breaks (exit status 1).
//! - `listen tcp-records ADDR:PORT`: like `listen tcp`, but one line per 8-byte record as it
//!   arrives (for `stream tcp`), without echo.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::TestbedError;

/// The environment variable that overrides where the probe binary is.
pub const PROBE_ENV: &str = "OVS_EC2_NETNS_PROBE";

/// The probe binary's file name.
pub const PROBE_NAME: &str = "netns-probe";

/// The most a listener records per connection, and a client reads as a reply.
pub const MAX_DATA: usize = 64 * 1024;

const IDLE_READ: Duration = Duration::from_secs(5);

/// Finds the probe binary: `$OVS_EC2_NETNS_PROBE`, else next to the running executable or one
/// directory up (integration tests run from `target/<profile>/deps/`).
pub fn locate() -> Result<PathBuf, TestbedError> {
    if let Some(path) = std::env::var_os(PROBE_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(TestbedError::Prerequisite {
            missing: vec![format!(
                "{PROBE_ENV} points at {}, which is not a file",
                path.display()
            )],
        });
    }
    let exe = std::env::current_exe().map_err(|source| TestbedError::Io {
        what: "finding the running executable".to_owned(),
        path: PathBuf::from("/proc/self/exe"),
        source,
    })?;
    let mut tried = Vec::new();
    for dir in exe.ancestors().skip(1).take(2) {
        let candidate = dir.join(PROBE_NAME);
        if candidate.is_file() {
            return Ok(candidate);
        }
        tried.push(candidate.display().to_string());
    }
    Err(TestbedError::Prerequisite {
        missing: vec![format!(
            "the {PROBE_NAME} binary (build it with `cargo build -p examples --bin {PROBE_NAME}`, \
             or set {PROBE_ENV}); looked at {}",
            tried.join(", ")
        )],
    })
}

/// Encodes bytes as lower-case hex, `-` for none (so that no field is empty).
pub fn encode_data(data: &[u8]) -> String {
    if data.is_empty() {
        "-".to_owned()
    } else {
        hex::encode(data)
    }
}

/// Decodes [`encode_data`]'s output.
pub fn decode_data(text: &str) -> Result<Vec<u8>, TestbedError> {
    if text == "-" {
        return Ok(Vec::new());
    }
    hex::decode(text).map_err(|error| TestbedError::Parse {
        what: "probe data",
        input: text.to_owned(),
        reason: error.to_string(),
    })
}

/// Where the probe writes its lines (standard output, or a sink in unit tests).
type Out = Arc<Mutex<Box<dyn Write + Send>>>;

fn emit(out: &Out, line: &str) {
    let mut handle = match out.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    };
    // If the test bed went away there is nobody to tell.
    let _ = writeln!(handle, "{line}");
    let _ = handle.flush();
}

fn read_bounded(stream: &mut TcpStream, deadline: Option<Instant>) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 8192];
    while data.len() < MAX_DATA {
        if let Some(deadline) = deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
        }
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_DATA - data.len();
                data.extend_from_slice(buffer.get(..n.min(room)).unwrap_or_default());
            }
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    data
}

fn serve_tcp(mut stream: TcpStream, peer: SocketAddr, out: Out) {
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let _ = stream.set_read_timeout(Some(IDLE_READ));
    let data = read_bounded(&mut stream, None);
    emit(
        &out,
        &format!("tcp\t{peer}\t{local}\t{}", encode_data(&data)),
    );
    let _ = stream.write_all(&data);
    let _ = stream.shutdown(Shutdown::Both);
}

/// Serves one connection of a `tcp-records` listener: one line per 8-byte record, as it arrives.
fn serve_tcp_records(mut stream: TcpStream, peer: SocketAddr, out: Out) {
    let local = stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".to_owned());
    let mut record = [0u8; 8];
    while stream.read_exact(&mut record).is_ok() {
        emit(
            &out,
            &format!("tcp\t{peer}\t{local}\t{}", encode_data(&record)),
        );
    }
}

fn listen(protocol: &str, addr: SocketAddr) -> Result<(), String> {
    let out: Out = Arc::new(Mutex::new(Box::new(io::stdout())));
    match protocol {
        "tcp" | "tcp-records" => {
            let records = protocol == "tcp-records";
            let listener = TcpListener::bind(addr).map_err(|e| format!("bind tcp {addr}: {e}"))?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            emit(&out, &format!("ready\t{local}"));
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Ok(peer) = stream.peer_addr() else {
                    continue;
                };
                let out = Arc::clone(&out);
                if records {
                    thread::spawn(move || serve_tcp_records(stream, peer, out));
                } else {
                    thread::spawn(move || serve_tcp(stream, peer, out));
                }
            }
            Ok(())
        }
        "udp" => {
            let socket = UdpSocket::bind(addr).map_err(|e| format!("bind udp {addr}: {e}"))?;
            let local = socket.local_addr().map_err(|e| e.to_string())?;
            emit(&out, &format!("ready\t{local}"));
            let mut buffer = vec![0u8; 65536];
            loop {
                let (n, peer) = socket
                    .recv_from(&mut buffer)
                    .map_err(|e| format!("recv udp: {e}"))?;
                let data = buffer.get(..n).unwrap_or_default();
                emit(
                    &out,
                    &format!("udp\t{peer}\t{local}\t{}", encode_data(data)),
                );
                let _ = socket.send_to(data, peer);
            }
        }
        other => Err(format!("unknown protocol {other:?}")),
    }
}

fn error_kind(error: &io::Error) -> &'static str {
    match error.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timeout",
        io::ErrorKind::ConnectionRefused => "refused",
        io::ErrorKind::HostUnreachable | io::ErrorKind::NetworkUnreachable => "unreachable",
        _ => "error",
    }
}

fn connect_tcp(addr: SocketAddr, timeout: Duration, data: &[u8]) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("err\t{}\tconnect {addr}: {e}", error_kind(&e)))?;
    let local = stream
        .local_addr()
        .map_err(|e| format!("err\terror\t{e}"))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(data)
        .map_err(|e| format!("err\t{}\tsend to {addr}: {e}", error_kind(&e)))?;
    let _ = stream.shutdown(Shutdown::Write);
    let reply = read_bounded(&mut stream, Some(deadline));
    Ok(format!("ok\t{local}\t{}", encode_data(&reply)))
}

/// The local address a UDP client binds: `source` (which must be local, or the namespace must
/// allow `ip_nonlocal_bind`) or the unspecified address, with any port.
fn udp_bind_address(addr: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    match source {
        Some(source) => SocketAddr::new(source, 0),
        None if addr.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
        None => SocketAddr::from(([0u16; 8], 0)),
    }
}

fn send_udp(
    addr: SocketAddr,
    timeout: Duration,
    data: &[u8],
    source: Option<IpAddr>,
) -> Result<String, String> {
    let bind = udp_bind_address(addr, source);
    let socket = UdpSocket::bind(bind).map_err(|e| format!("err\terror\tbind {bind}: {e}"))?;
    socket
        .connect(addr)
        .map_err(|e| format!("err\t{}\tconnect {addr}: {e}", error_kind(&e)))?;
    let local = socket
        .local_addr()
        .map_err(|e| format!("err\terror\t{e}"))?;
    socket
        .send(data)
        .map_err(|e| format!("err\t{}\tsend to {addr}: {e}", error_kind(&e)))?;
    let deadline = Instant::now() + timeout;
    let mut buffer = vec![0u8; 65536];
    let n = loop {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        socket
            .set_read_timeout(Some(left))
            .map_err(|e| format!("err\terror\t{e}"))?;
        match socket.recv(&mut buffer) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted && Instant::now() < deadline => {}
            Err(e) => {
                return Err(format!(
                    "err\t{}\tno reply from {addr}: {e}",
                    error_kind(&e)
                ))
            }
        }
    };
    Ok(format!(
        "ok\t{local}\t{}",
        encode_data(buffer.get(..n).unwrap_or_default())
    ))
}

/// Opens one TCP connection and sends `count` 8-byte sequence numbers over it on a fixed
/// schedule; a broken connection ends it with an error line saying how many were sent.
fn stream_tcp(addr: SocketAddr, interval: Duration, count: u64) -> Result<String, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("err\t{}\tconnect {addr}: {e}", error_kind(&e)))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let start = Instant::now();
    for sequence in 0..count {
        let due = u32::try_from(sequence)
            .ok()
            .and_then(|n| interval.checked_mul(n))
            .and_then(|offset| start.checked_add(offset));
        if let Some(due) = due {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        stream.write_all(&sequence.to_be_bytes()).map_err(|e| {
            format!(
                "err\t{}\tafter {sequence} records to {addr}: {e}",
                error_kind(&e)
            )
        })?;
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(format!("done\t{count}"))
}

fn stream_udp(
    addr: SocketAddr,
    interval: Duration,
    count: u64,
    source: Option<IpAddr>,
) -> Result<String, String> {
    let bind = udp_bind_address(addr, source);
    let socket = UdpSocket::bind(bind).map_err(|e| format!("bind {bind}: {e}"))?;
    socket
        .connect(addr)
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let start = Instant::now();
    let mut sent = 0u64;
    for sequence in 0..count {
        let due = u32::try_from(sequence)
            .ok()
            .and_then(|n| interval.checked_mul(n))
            .and_then(|offset| start.checked_add(offset));
        if let Some(due) = due {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
        }
        // Errors (no route, refused by an ICMP error) are loss, as on the wire.
        if socket.send(&sequence.to_be_bytes()).is_ok() {
            sent += 1;
        }
    }
    Ok(format!("done\t{sent}"))
}

type ClientArgs = (SocketAddr, Duration, Vec<u8>, Option<IpAddr>);

fn parse_client_args(args: &[String]) -> Result<ClientArgs, String> {
    let (addr, timeout, data, source) = match args {
        [addr, timeout, data] => (addr, timeout, data, None),
        [addr, timeout, data, source] => (addr, timeout, data, Some(source)),
        _ => return Err("expected ADDR:PORT TIMEOUT_MS HEXDATA [SOURCE_IP]".to_owned()),
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let timeout: u64 = timeout
        .parse()
        .map_err(|e| format!("timeout {timeout:?}: {e}"))?;
    let data = decode_data(data).map_err(|e| e.to_string())?;
    let source = source
        .map(|text| {
            text.parse::<IpAddr>()
                .map_err(|e| format!("source {text:?}: {e}"))
        })
        .transpose()?;
    Ok((addr, Duration::from_millis(timeout), data, source))
}

fn parse_stream_args(
    args: &[String],
) -> Result<(SocketAddr, Duration, u64, Option<IpAddr>), String> {
    let (addr, interval, count, source) = match args {
        [addr, interval, count] => (addr, interval, count, None),
        [addr, interval, count, source] => (addr, interval, count, Some(source)),
        _ => return Err("expected ADDR:PORT INTERVAL_US COUNT [SOURCE_IP]".to_owned()),
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("address {addr:?}: {e}"))?;
    let interval: u64 = interval
        .parse()
        .map_err(|e| format!("interval {interval:?}: {e}"))?;
    let count: u64 = count.parse().map_err(|e| format!("count {count:?}: {e}"))?;
    let source = source
        .map(|text| {
            text.parse::<IpAddr>()
                .map_err(|e| format!("source {text:?}: {e}"))
        })
        .transpose()?;
    Ok((addr, Duration::from_micros(interval), count, source))
}

/// The probe's command line entry point; returns the process exit status.
pub fn run(args: &[String]) -> i32 {
    let usage = "usage: netns-probe listen tcp|udp ADDR:PORT \
                 | connect tcp ADDR:PORT TIMEOUT_MS HEX \
                 | send udp ADDR:PORT TIMEOUT_MS HEX [SOURCE_IP] \
                 | stream udp ADDR:PORT INTERVAL_US COUNT [SOURCE_IP] \\
                 | stream tcp ADDR:PORT INTERVAL_US COUNT";
    let command: Vec<&str> = args.iter().take(2).map(String::as_str).collect();
    let rest = args.get(2..).unwrap_or_default();
    let outcome = match command.as_slice() {
        ["listen", protocol] => match rest {
            [addr] => match addr.parse() {
                Ok(addr) => listen(protocol, addr).map(|()| String::new()),
                Err(error) => Err(format!("address {addr:?}: {error}")),
            },
            _ => Err(usage.to_owned()),
        },
        ["connect", "tcp"] => match parse_client_args(rest) {
            Ok((addr, timeout, data, None)) => return finish(connect_tcp(addr, timeout, &data)),
            Ok((_, _, _, Some(_))) => Err("connect tcp takes no source address".to_owned()),
            Err(error) => Err(error),
        },
        ["send", "udp"] => match parse_client_args(rest) {
            Ok((addr, timeout, data, source)) => {
                return finish(send_udp(addr, timeout, &data, source))
            }
            Err(error) => Err(error),
        },
        ["stream", "tcp"] => match parse_stream_args(rest) {
            Ok((addr, interval, count, None)) => return finish(stream_tcp(addr, interval, count)),
            Ok((_, _, _, Some(_))) => Err("stream tcp takes no source address".to_owned()),
            Err(error) => Err(error),
        },
        ["stream", "udp"] => match parse_stream_args(rest) {
            Ok((addr, interval, count, source)) => {
                match stream_udp(addr, interval, count, source) {
                    Ok(line) => {
                        println!("{line}");
                        return 0;
                    }
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        },
        _ => Err(usage.to_owned()),
    };
    match outcome {
        Ok(_) => 0,
        Err(message) => {
            eprintln!("netns-probe: {message}");
            2
        }
    }
}

fn finish(outcome: Result<String, String>) -> i32 {
    match outcome {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(line) => {
            println!("{line}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_encoding_round_trips() {
        assert_eq!(encode_data(b""), "-");
        assert_eq!(encode_data(b"hi"), "6869");
        assert_eq!(decode_data("-").unwrap(), b"");
        assert_eq!(decode_data("6869").unwrap(), b"hi");
        assert!(decode_data("zz").is_err());
    }

    #[test]
    fn client_arguments_are_checked() {
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(parse_client_args(&args(&["127.0.0.1:1", "100", "-"])).is_ok());
        assert!(parse_client_args(&args(&["127.0.0.1", "100", "-"])).is_err());
        assert!(parse_client_args(&args(&["127.0.0.1:1", "x", "-"])).is_err());
        assert!(parse_client_args(&args(&["127.0.0.1:1", "100"])).is_err());
        assert_eq!(
            parse_client_args(&args(&["127.0.0.1:1", "100", "-", "10.0.0.9"]))
                .unwrap()
                .3,
            Some("10.0.0.9".parse().unwrap())
        );
        assert!(parse_client_args(&args(&["127.0.0.1:1", "100", "-", "nope"])).is_err());
        assert!(parse_stream_args(&args(&["127.0.0.1:1", "1000", "5"])).is_ok());
        assert!(parse_stream_args(&args(&["127.0.0.1:1", "1000"])).is_err());
        assert_eq!(
            run(&args(&[
                "connect",
                "tcp",
                "127.0.0.1:1",
                "10",
                "-",
                "10.0.0.9"
            ])),
            2
        );
        assert_eq!(run(&args(&["bogus"])), 2);
    }

    #[test]
    fn tcp_client_reports_refused_and_echo() {
        // Refused: a port nobody listens on (bind then drop to find one).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let refused = connect_tcp(port, Duration::from_secs(2), b"x").unwrap_err();
        assert!(refused.starts_with("err\trefused\t"), "{refused}");

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, peer) = listener.accept().unwrap();
            serve_tcp(stream, peer, Arc::new(Mutex::new(Box::new(io::sink()))));
        });
        let line = connect_tcp(addr, Duration::from_secs(5), b"hello").unwrap();
        server.join().unwrap();
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(fields[0], "ok");
        assert_eq!(decode_data(fields[2]).unwrap(), b"hello");
    }

    #[test]
    fn udp_stream_sends_numbered_datagrams() {
        let sink = UdpSocket::bind("127.0.0.1:0").unwrap();
        let line = stream_udp(
            sink.local_addr().unwrap(),
            Duration::from_micros(100),
            5,
            Some("127.0.0.1".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(line, "done\t5");
        let mut buffer = [0u8; 16];
        for expected in 0u64..5 {
            let (n, _) = sink.recv_from(&mut buffer).unwrap();
            assert_eq!(buffer[..n], expected.to_be_bytes());
        }
    }

    #[test]
    fn tcp_stream_sends_numbered_records_over_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut all = Vec::new();
            stream.read_to_end(&mut all).unwrap();
            all
        });
        let line = stream_tcp(addr, Duration::from_micros(100), 4).unwrap();
        assert_eq!(line, "done\t4");
        let all = server.join().unwrap();
        let expected: Vec<u8> = (0u64..4).flat_map(u64::to_be_bytes).collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn udp_client_times_out_without_a_reply() {
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let line = send_udp(
            silent.local_addr().unwrap(),
            Duration::from_millis(100),
            b"x",
            None,
        )
        .unwrap_err();
        assert!(line.starts_with("err\ttimeout\t"), "{line}");
        let mut buffer = [0u8; 8];
        let (n, _) = silent.recv_from(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"x");
    }
}
