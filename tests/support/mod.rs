//! Raw HTTP/1.1 over TCP, for requests a well-behaved client cannot make, and the
//! process's own resident memory and open file descriptors.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// A request as bytes: request line, headers in order (repeats allowed), body.
#[derive(Clone, Debug)]
pub struct Raw {
    pub method: String,
    pub target: Vec<u8>,
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Add `Content-Length: <body length>` unless a header of that name is present
    /// or the request is chunked.
    pub auto_length: bool,
}

impl Raw {
    /// `METHOD target HTTP/1.1` with a `Host` header.
    pub fn new(method: &str, target: impl AsRef<[u8]>) -> Self {
        Self {
            method: method.to_owned(),
            target: target.as_ref().to_vec(),
            headers: vec![(b"host".to_vec(), b"localhost".to_vec())],
            body: Vec::new(),
            auto_length: true,
        }
    }

    /// Appends a header, even when one of that name is present.
    pub fn add(mut self, name: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Self {
        self.headers
            .push((name.as_ref().to_vec(), value.as_ref().to_vec()));
        self
    }

    /// Removes every header of that name (ASCII case-insensitive).
    pub fn remove(mut self, name: &str) -> Self {
        self.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name.as_bytes()));
        self
    }

    /// Replaces every header of that name with one value.
    pub fn set(self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.remove(name).add(name, value)
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    fn has(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request line and header section, ending with the blank line.
    pub fn head(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&self.target);
        out.extend_from_slice(b" HTTP/1.1\r\n");
        for (name, value) in &self.headers {
            out.extend_from_slice(name);
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        let framed = self.has("content-length") || self.has("transfer-encoding");
        if self.auto_length && !framed {
            out.extend_from_slice(format!("content-length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The whole request.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = self.head();
        out.extend_from_slice(&self.body);
        out
    }
}

/// One chunk of a chunked body, framed.
pub fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk of a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A response as read from the socket.
#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the head was complete, measured from the start of the exchange.
    pub elapsed: Duration,
}

impl RawResponse {
    /// The first header of that name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, for messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What came back on a connection.
#[derive(Debug)]
pub enum Outcome {
    /// A complete response.
    Response(RawResponse),
    /// The server closed (or reset) the connection without a response byte.
    Closed { after: Duration },
    /// Nothing at all within the deadline.
    Silent,
}

impl Outcome {
    /// The response, or a panic naming the case.
    pub fn response(self, case: &str) -> RawResponse {
        match self {
            Self::Response(response) => response,
            other => panic!("{case}: expected a response, got {other:?}"),
        }
    }
}

/// How the request bytes go out.
pub enum Sending {
    /// All at once.
    Whole(Vec<u8>),
    /// These bytes, then nothing more while the connection stays open.
    Stall(Vec<u8>),
    /// The head, then `count` copies of `piece` as they can be written.
    Repeat {
        head: Vec<u8>,
        piece: Vec<u8>,
        count: usize,
        tail: Vec<u8>,
    },
}

/// What the writer managed to send.
#[derive(Clone, Copy, Debug, Default)]
pub struct Written {
    pub bytes: u64,
    pub failed: bool,
}

/// Sends a request while reading the answer, so that a server answering early (and
/// closing) never deadlocks the test. Returns the outcome and what was written.
pub async fn exchange(
    addr: SocketAddr,
    sending: Sending,
    deadline: Duration,
) -> (Outcome, Written) {
    let (outcome, written, _) = exchange_then(addr, sending, deadline, None).await;
    (outcome, written)
}

/// As `exchange`, then waits up to `close_wait` for the server to close the
/// connection; the third value says whether it did.
pub async fn exchange_then(
    addr: SocketAddr,
    sending: Sending,
    deadline: Duration,
    close_wait: Option<Duration>,
) -> (Outcome, Written, bool) {
    let stream = TcpStream::connect(addr).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut read, write) = stream.into_split();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write_all(write, sending, stop_rx));
    let outcome = read_response(&mut read, deadline).await;
    let closed = match (close_wait, &outcome) {
        (Some(wait), Outcome::Response(_)) => closes_within(&mut read, wait).await,
        (_, Outcome::Closed { .. }) => true,
        _ => false,
    };
    let _ = stop_tx.send(());
    let written = writer.await.expect("writer task");
    (outcome, written, closed)
}

async fn write_all(
    mut write: OwnedWriteHalf,
    sending: Sending,
    stop: tokio::sync::oneshot::Receiver<()>,
) -> Written {
    let mut written = Written::default();
    let send = async {
        match sending {
            Sending::Whole(bytes) => {
                put(&mut write, &bytes, &mut written).await;
            }
            Sending::Stall(bytes) => {
                if put(&mut write, &bytes, &mut written).await {
                    std::future::pending::<()>().await;
                }
            }
            Sending::Repeat {
                head,
                piece,
                count,
                tail,
            } => {
                if !put(&mut write, &head, &mut written).await {
                    return;
                }
                for _ in 0..count {
                    if !put(&mut write, &piece, &mut written).await {
                        return;
                    }
                }
                put(&mut write, &tail, &mut written).await;
            }
        }
        // Keep the write side open (no half-close) until the reader is done.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = send => {}
        _ = stop => {}
    }
    written
}

async fn put(write: &mut OwnedWriteHalf, bytes: &[u8], written: &mut Written) -> bool {
    match write.write_all(bytes).await {
        Ok(()) => {
            written.bytes += bytes.len() as u64;
            true
        }
        Err(_) => {
            written.failed = true;
            false
        }
    }
}

/// Reads one response: the head, then the body by `Content-Length`, or to the end.
pub async fn read_response(read: &mut (impl AsyncReadExt + Unpin), deadline: Duration) -> Outcome {
    let start = Instant::now();
    let mut buf = Vec::new();
    let mut head: Option<(RawResponse, usize, Option<usize>)> = None;
    loop {
        if let Some((response, body_start, Some(length))) = &head
            && buf.len() >= body_start + length
        {
            let mut response = response.clone();
            response.body = buf[*body_start..body_start + length].to_vec();
            return Outcome::Response(response);
        }
        let left = deadline.saturating_sub(start.elapsed());
        let mut chunk = [0u8; 16 * 1024];
        let read = match tokio::time::timeout(left, read.read(&mut chunk)).await {
            Err(_) => None,
            Ok(Ok(0)) | Ok(Err(_)) => Some(0),
            Ok(Ok(n)) => Some(n),
        };
        match read {
            None | Some(0) => {
                return match head {
                    Some((mut response, body_start, _)) => {
                        response.body = buf[body_start..].to_vec();
                        Outcome::Response(response)
                    }
                    None if buf.is_empty() && read.is_some() => Outcome::Closed {
                        after: start.elapsed(),
                    },
                    None if buf.is_empty() => Outcome::Silent,
                    None => panic!("partial response head: {:?}", String::from_utf8_lossy(&buf)),
                };
            }
            Some(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if head.is_none()
            && let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n")
        {
            let response = parse_head(&buf[..end], start.elapsed());
            let length = response
                .header("content-length")
                .map(|v| v.trim().parse().expect("numeric content-length"));
            head = Some((response, end + 4, length));
        }
    }
}

fn parse_head(head: &[u8], elapsed: Duration) -> RawResponse {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse {
        status,
        headers,
        body: Vec::new(),
        elapsed,
    }
}

/// Whether the server closes an open connection within `limit` (reads to the end,
/// ignoring any bytes it still sends).
pub async fn closes_within(read: &mut (impl AsyncReadExt + Unpin), limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    let mut sink = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, read.read(&mut sink)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// A field of `/proc/self/status` in KiB, e.g. `VmRSS` or `VmHWM`.
pub fn proc_status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Resident memory of this process, in bytes.
pub fn rss_bytes() -> u64 {
    proc_status_kib("VmRSS") * 1024
}

/// Peak resident memory of this process, in bytes.
pub fn peak_rss_bytes() -> u64 {
    proc_status_kib("VmHWM") * 1024
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Bytes as MiB, for messages.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
