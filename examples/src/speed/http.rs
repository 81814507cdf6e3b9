//! A small blocking HTTP/1.1 client for EC2 Query requests signed with SigV4, the same one for
//! every server measured: it keeps its connection open while the server allows it
//! (`Connection: keep-alive` in HTTP/1.1), and opens a new one otherwise.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use ec2_model::auth::SigV4Signer;
use ec2_model::HttpRequest;

use super::SpeedError;

/// The longest the client waits for a server.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest response body the client reads.
const MAX_BODY: usize = 16 << 20;

/// A signing EC2 client for one server.
#[derive(Debug)]
pub struct Ec2Client {
    addr: SocketAddr,
    server: String,
    signer: SigV4Signer,
    conn: Option<BufReader<TcpStream>>,
    close: bool,
    /// Connections opened so far.
    pub connections: u64,
}

/// A response: status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: String,
}

impl Ec2Client {
    /// A client for the EC2 endpoint at `addr` (called `server` in errors), signing with the
    /// given key for region `us-east-1`.
    pub fn new(addr: SocketAddr, server: &str, access_key: &str, secret_key: &str) -> Ec2Client {
        Ec2Client {
            addr,
            server: server.to_owned(),
            signer: SigV4Signer::new(access_key, secret_key, "us-east-1", "ec2"),
            conn: None,
            close: false,
            connections: 0,
        }
    }

    /// The same client asking for a new connection per request (`Connection: close`), as
    /// moto's server answers anyway.
    pub fn closing(mut self) -> Ec2Client {
        self.close = true;
        self
    }

    /// Signs and sends `Action=<action>&Version=2016-11-15&<params>` as a form POST to `/`;
    /// returns the response whatever its status.
    pub fn send(&mut self, action: &str, params: &str) -> Result<Response, SpeedError> {
        let mut body = format!("Action={action}&Version=2016-11-15");
        if !params.is_empty() {
            body.push('&');
            body.push_str(params);
        }
        let mut req =
            HttpRequest::form_post(body.into_bytes()).with_header("Host", self.addr.to_string());
        self.signer
            .sign(&mut req, time::OffsetDateTime::now_utc())
            .map_err(|e| SpeedError::BadResponse {
                addr: self.addr,
                detail: format!("signing failed: {e}"),
            })?;
        // A kept connection the server closed meanwhile fails on first use: retry once, fresh.
        match self.exchange(&req) {
            Ok(r) => Ok(r),
            Err(_) if self.conn.is_none() => self.exchange(&req),
            Err(e) => Err(e),
        }
    }

    /// Like [`Ec2Client::send`], requiring status 200.
    pub fn call(&mut self, action: &str, params: &str) -> Result<Response, SpeedError> {
        let r = self.send(action, params)?;
        if r.status != 200 {
            return Err(SpeedError::Api {
                server: self.server.clone(),
                action: action.to_owned(),
                status: r.status,
                body: truncate(&r.body),
            });
        }
        Ok(r)
    }

    fn exchange(&mut self, req: &HttpRequest) -> Result<Response, SpeedError> {
        let addr = self.addr;
        let io = |what: &'static str| move |source| SpeedError::Http { addr, what, source };
        let reused = self.conn.is_some();
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => {
                let s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT).map_err(io("connect"))?;
                s.set_nodelay(true).map_err(io("set TCP_NODELAY"))?;
                s.set_read_timeout(Some(HTTP_TIMEOUT))
                    .map_err(io("set a read timeout"))?;
                self.connections += 1;
                BufReader::new(s)
            }
        };
        let mut head = format!("{} {} HTTP/1.1\r\n", req.method, req.path);
        for (k, v) in &req.headers {
            head.push_str(k);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        if self.close {
            head.push_str("Connection: close\r\n");
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", req.body.len()));
        let mut out = head.into_bytes();
        out.extend_from_slice(&req.body);
        let sent = conn.get_mut().write_all(&out);
        if let Err(e) = sent {
            return Err(io("send")(e));
        }
        let (status, keep, body) = match read_response(&mut conn) {
            Ok(r) => r,
            Err(e) if reused => {
                // The server closed a kept connection: the caller retries on a new one.
                return Err(SpeedError::Http {
                    addr,
                    what: "read on a kept connection",
                    source: e,
                });
            }
            Err(e) => return Err(io("receive")(e)),
        };
        if keep && !self.close {
            self.conn = Some(conn);
        }
        Ok(Response { status, body })
    }
}

fn bad(detail: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, detail.into())
}

/// Reads one response: (status, whether the connection stays open, body).
fn read_response(conn: &mut BufReader<TcpStream>) -> std::io::Result<(u16, bool, String)> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(bad("connection closed before the status line"));
    }
    let mut parts = line.split_whitespace();
    let version = parts.next().unwrap_or_default().to_owned();
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("status line {line:?}")))?;
    let mut keep = version == "HTTP/1.1";
    let mut length: Option<usize> = None;
    let mut chunked = false;
    loop {
        line.clear();
        if conn.read_line(&mut line)? == 0 {
            return Err(bad("connection closed in the headers"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse().ok(),
            "connection" => keep = value.eq_ignore_ascii_case("keep-alive"),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| bad(format!("chunk size {line:?}")))?;
            if size == 0 {
                line.clear();
                conn.read_line(&mut line)?;
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(body.get_mut(start..).unwrap_or_default())?;
            line.clear();
            conn.read_line(&mut line)?;
        }
    } else if let Some(n) = length {
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        body.resize(n, 0);
        conn.read_exact(&mut body)?;
    } else {
        conn.take(MAX_BODY as u64).read_to_end(&mut body)?;
        keep = false;
    }
    Ok((status, keep, String::from_utf8_lossy(&body).into_owned()))
}

/// The text of every `<field>...</field>` in `body`, in order.
pub fn fields<'a>(body: &'a str, field: &str) -> Vec<&'a str> {
    let open = format!("<{field}>");
    let close = format!("</{field}>");
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = rest.get(i + open.len()..).unwrap_or_default();
        let Some(j) = after.find(&close) else { break };
        out.push(after.get(..j).unwrap_or_default());
        rest = after.get(j + close.len()..).unwrap_or_default();
    }
    out
}

/// The first `<field>` of a response, or an error naming the action.
pub fn field(action: &str, body: &str, name: &str) -> Result<String, SpeedError> {
    fields(body, name)
        .first()
        .map(|s| (*s).to_owned())
        .ok_or_else(|| SpeedError::MissingField {
            action: action.to_owned(),
            field: name.to_owned(),
            body: truncate(body),
        })
}

fn truncate(s: &str) -> String {
    s.chars().take(600).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_order() {
        let body = "<a><instanceId>i-1</instanceId><x/><instanceId>i-2</instanceId></a>";
        assert_eq!(fields(body, "instanceId"), ["i-1", "i-2"]);
        assert_eq!(field("Run", body, "instanceId").unwrap(), "i-1");
        assert!(field("Run", body, "groupId").is_err());
        assert!(fields("<instanceId>unclosed", "instanceId").is_empty());
    }
}
