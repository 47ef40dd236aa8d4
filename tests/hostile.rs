//! Hostile and broken input against the real server on a real port: a table of bad
//! requests, each with its exact answer; slow clients; overload; a hanging processor.

mod common;
mod support;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::{Compress, Compression, Crc, FlushCompress};
use stream_webhooks::event::WebhookEvent;
use stream_webhooks::processor::{EventProcessor, ProcessFuture};
use stream_webhooks::settings::Secret;
use stream_webhooks::webhook::signature;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use common::{TestApp, sign, spawn_app_with, test_settings};
use support::{
    LAST_CHUNK, Outcome, Raw, RawResponse, Sending, chunk, exchange, exchange_then, mib,
    peak_rss_bytes, rss_bytes,
};

/// `webhook.max_body_bytes` by default.
const LIMIT: usize = 1 << 20;
/// The body read timeout of the table's server, short so that stalled bodies end fast.
const BODY_TIMEOUT: Duration = Duration::from_secs(1);
const VALID: &[u8] = br#"{"type":"call.created","call":{"id":"call_123","type":"default"}}"#;

// === the table ===

/// What a row expects.
enum Expect {
    /// A documented error: the status and `{"error": message}` exactly.
    Error(u16, &'static str),
    /// The documented 200 for this event type and call id.
    Accepted(&'static str, Option<&'static str>),
    /// hyper's own answer before the service sees the request: the status, an empty
    /// body, and the connection closed.
    Hyper(u16),
    /// hyper closes the connection without a response byte (an HTTP/2 preface on an
    /// HTTP/1 server: hyper's http1 codec names no status for it).
    Closed,
}

struct Case {
    name: String,
    sending: Sending,
    expect: Expect,
    /// The answer must come within this time of the request's start.
    within: Duration,
    /// At most this many bytes may have been written when the answer came: the
    /// server refused without reading the rest.
    refused_before: Option<u64>,
}

fn case(name: &str, raw: Raw, expect: Expect) -> Case {
    Case {
        name: name.to_owned(),
        sending: Sending::Whole(raw.bytes()),
        expect,
        within: Duration::from_secs(5),
        refused_before: None,
    }
}

fn bytes_case(name: &str, bytes: &[u8], expect: Expect) -> Case {
    Case {
        sending: Sending::Whole(bytes.to_vec()),
        ..case(name, Raw::new("POST", "/"), expect)
    }
}

/// `POST /api/webhooks`, JSON, signed with the test secret over `body`.
fn signed(body: impl Into<Vec<u8>>) -> Raw {
    let body = body.into();
    Raw::new("POST", "/api/webhooks")
        .add("content-type", "application/json")
        .add("x-signature", sign(&body))
        .body(body)
}

/// As `signed`, with a signature header of the caller's choosing.
fn with_signature(body: &[u8], value: impl AsRef<[u8]>) -> Raw {
    signed(body.to_vec()).set("x-signature", value)
}

fn error(status: u16, message: &'static str) -> Expect {
    Expect::Error(status, message)
}

const INVALID_JSON: Expect = Expect::Error(400, "Invalid JSON payload");
const INVALID_SIGNATURE: Expect = Expect::Error(400, "Invalid webhook signature");
const MISSING_SIGNATURE: Expect = Expect::Error(400, "Missing X-Signature header");
const NOT_JSON: Expect = Expect::Error(415, "Content-Type must be application/json");
const TOO_LARGE: Expect = Expect::Error(413, "Payload too large");
const INVALID_GZIP: Expect = Expect::Error(400, "Invalid gzip body");
const NOT_FOUND: Expect = Expect::Error(404, "Not found");
const NOT_ALLOWED: Expect = Expect::Error(405, "Method not allowed");
const CREATED: Expect = Expect::Accepted("call.created", Some("call_123"));

/// A `call.created` body of exactly `len` bytes, padded in an unknown field.
fn body_of_len(len: usize) -> Vec<u8> {
    let head = br#"{"type":"call.created","call":{"id":"call_limit"},"pad":""#;
    let tail = br#""}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'a');
    body.extend_from_slice(tail);
    assert_eq!(body.len(), len);
    body
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("finishes")
}

/// A gzip stream inflating to `segments` MiB of zeros, built without compressing them
/// all: one fully flushed deflate segment of 1 MiB (independent of what precedes it),
/// repeated, then an empty final block and the real CRC and size.
fn gzip_bomb(segments: usize) -> Vec<u8> {
    let zeros = vec![0u8; 1 << 20];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut segment = Vec::with_capacity(64 * 1024);
    deflate
        .compress_vec(&zeros, &mut segment, FlushCompress::Full)
        .expect("deflates");
    assert_eq!(
        deflate.total_in(),
        zeros.len() as u64,
        "one call took it all"
    );
    let mut one = Crc::new();
    one.update(&zeros);
    let mut crc = Crc::new();
    let mut bomb = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    for _ in 0..segments {
        bomb.extend_from_slice(&segment);
        crc.combine(&one);
    }
    bomb.extend_from_slice(&[0x03, 0x00]);
    bomb.extend_from_slice(&crc.sum().to_le_bytes());
    bomb.extend_from_slice(&((segments as u64) << 20).to_le_bytes()[..4]);
    bomb
}

#[test]
fn the_gzip_bomb_is_a_real_gzip_stream() {
    let small = gzip_bomb(3);
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&small[..]), &mut inflated)
        .expect("inflates with a valid CRC and size");
    assert_eq!(inflated.len(), 3 << 20);
    assert!(inflated.iter().all(|&b| b == 0));
}

/// JSON nested `depth` deep: `open` repeated, then `close` repeated.
fn nested(prefix: &str, open: &str, close: &str, suffix: &str, depth: usize) -> Vec<u8> {
    let mut body = prefix.as_bytes().to_vec();
    body.extend(open.as_bytes().repeat(depth));
    body.extend(close.as_bytes().repeat(depth));
    body.extend_from_slice(suffix.as_bytes());
    body
}

fn table() -> Vec<Case> {
    let other_secret = signature::sign(&Secret::new("some-other-secret-0123456789"), VALID);
    let good = sign(VALID);
    let at_limit = body_of_len(LIMIT);
    let over_limit = body_of_len(LIMIT + 1);
    let gzipped = gzip(VALID);
    let bomb = gzip_bomb(900);
    assert!(
        bomb.len() < LIMIT,
        "the bomb fits on the wire: {} bytes",
        bomb.len()
    );
    let mut corrupt = gzipped.clone();
    corrupt[12..20].copy_from_slice(b"garbage!");
    let mut truncated = gzipped.clone();
    truncated.truncate(gzipped.len() / 2);

    let mut cases = vec![
        // The route: other methods and paths.
        case(
            "GET on the path",
            Raw::new("GET", "/api/webhooks"),
            NOT_ALLOWED,
        ),
        case(
            "PUT on the path",
            signed(VALID).tap_method("PUT"),
            NOT_ALLOWED,
        ),
        case(
            "DELETE on the path",
            Raw::new("DELETE", "/api/webhooks"),
            NOT_ALLOWED,
        ),
        case(
            "PATCH on the path",
            signed(VALID).tap_method("PATCH"),
            NOT_ALLOWED,
        ),
        case(
            "OPTIONS on the path",
            Raw::new("OPTIONS", "/api/webhooks"),
            NOT_ALLOWED,
        ),
        case("POST /", signed(VALID).tap_target("/"), NOT_FOUND),
        case(
            "POST /api/webhook",
            signed(VALID).tap_target("/api/webhook"),
            NOT_FOUND,
        ),
        case(
            "POST below the path",
            signed(VALID).tap_target("/api/webhooks/x"),
            NOT_FOUND,
        ),
        case(
            "path in capitals",
            signed(VALID).tap_target("/API/WEBHOOKS"),
            NOT_FOUND,
        ),
        case(
            "admin route on the public port",
            Raw::new("GET", "/metrics"),
            NOT_FOUND,
        ),
        // Content-Type, on signed valid bodies.
        case(
            "no Content-Type",
            signed(VALID).remove("content-type"),
            NOT_JSON,
        ),
        case(
            "text/plain",
            signed(VALID).set("content-type", "text/plain"),
            NOT_JSON,
        ),
        case(
            "form encoded",
            signed(VALID).set("content-type", "application/x-www-form-urlencoded"),
            NOT_JSON,
        ),
        case(
            "application/jsonx",
            signed(VALID).set("content-type", "application/jsonx"),
            NOT_JSON,
        ),
        case(
            "empty Content-Type",
            signed(VALID).set("content-type", ""),
            NOT_JSON,
        ),
        case(
            "non-UTF-8 Content-Type",
            signed(VALID).set("content-type", b"application/json\xff"),
            NOT_JSON,
        ),
        case(
            "text/plain then application/json",
            signed(VALID)
                .set("content-type", "text/plain")
                .add("content-type", "application/json"),
            NOT_JSON,
        ),
        case(
            "odd-case Content-Type",
            signed(VALID).set("content-type", "APPLICATION/Json"),
            CREATED,
        ),
        case(
            "odd-case Content-Type with parameters",
            signed(VALID).set("content-type", "Application/JSON ; Charset=UTF-8"),
            CREATED,
        ),
        // X-Signature, on valid bodies.
        case(
            "no X-Signature",
            signed(VALID).remove("x-signature"),
            MISSING_SIGNATURE,
        ),
        case(
            "empty X-Signature",
            with_signature(VALID, ""),
            MISSING_SIGNATURE,
        ),
        case(
            "blank X-Signature",
            with_signature(VALID, "   "),
            MISSING_SIGNATURE,
        ),
        case(
            "63 hex digits",
            with_signature(VALID, &good[..63]),
            INVALID_SIGNATURE,
        ),
        case(
            "65 hex digits",
            with_signature(VALID, format!("{good}0")),
            INVALID_SIGNATURE,
        ),
        case(
            "64 non-hex characters",
            with_signature(VALID, "z".repeat(64)),
            INVALID_SIGNATURE,
        ),
        case(
            "non-ASCII X-Signature",
            with_signature(VALID, [&good.as_bytes()[..62], "é".as_bytes()].concat()),
            INVALID_SIGNATURE,
        ),
        case(
            "two X-Signature headers, both right",
            signed(VALID).add("x-signature", &good),
            INVALID_SIGNATURE,
        ),
        case(
            "sha256= and nothing",
            with_signature(VALID, "sha256="),
            INVALID_SIGNATURE,
        ),
        case(
            "sha1= prefix",
            with_signature(VALID, format!("sha1={good}")),
            INVALID_SIGNATURE,
        ),
        case(
            "signed with another secret",
            with_signature(VALID, other_secret),
            INVALID_SIGNATURE,
        ),
        case(
            "signature of another body",
            with_signature(VALID, sign(b"{\"type\":\"call.ended\"}")),
            INVALID_SIGNATURE,
        ),
        case(
            "two signatures in one header",
            with_signature(VALID, format!("{good},{good}")),
            INVALID_SIGNATURE,
        ),
        case(
            "SHA256= prefix, upper-case hex",
            with_signature(VALID, format!("SHA256={}", good.to_ascii_uppercase())),
            CREATED,
        ),
        case(
            "gzip signed over the compressed bytes",
            with_signature(&gzipped, sign(&gzipped)).body(gzipped.clone()),
            INVALID_SIGNATURE,
        ),
        // Bodies that are not a JSON object with a string type, each signed.
        case("empty body", signed(b"".to_vec()), INVALID_JSON),
        case(
            "whitespace body",
            signed(b" \r\n\t ".to_vec()),
            INVALID_JSON,
        ),
        case(
            "JSON array",
            signed(br#"[{"type":"call.created"}]"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "JSON string",
            signed(br#""call.created""#.to_vec()),
            INVALID_JSON,
        ),
        case("JSON number", signed(b"42".to_vec()), INVALID_JSON),
        case("JSON null", signed(b"null".to_vec()), INVALID_JSON),
        case(
            "object without type",
            signed(br#"{"call":{"id":"c"}}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "numeric type",
            signed(br#"{"type":7}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "null type",
            signed(br#"{"type":null}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "array type",
            signed(br#"{"type":["call.created"]}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "truncated JSON",
            signed(br#"{"type":"call.created","call":{"id":"c"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "invalid UTF-8",
            signed(b"{\"type\":\"call.\xff\xfe\"}".to_vec()),
            INVALID_JSON,
        ),
        case(
            "invalid UTF-8 in an unknown field",
            signed(b"{\"type\":\"call.created\",\"x\":\"\xc3\x28\"}".to_vec()),
            INVALID_JSON,
        ),
        case(
            "garbage after the object",
            signed(br#"{"type":"call.created"} {"type":"x"}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "byte-order mark",
            signed(b"\xef\xbb\xbf{\"type\":\"call.created\"}".to_vec()),
            INVALID_JSON,
        ),
        case(
            "arrays nested 100 000 deep in an unknown field",
            signed(nested(
                r#"{"type":"call.created","x":"#,
                "[",
                "]",
                "}",
                100_000,
            )),
            Expect::Accepted("call.created", None),
        ),
        case(
            "arrays nested 100 000 deep as the type",
            signed(nested(r#"{"type":"#, "[", "]", "}", 100_000)),
            INVALID_JSON,
        ),
        case(
            "objects nested 100 000 deep, no type",
            signed(nested("", r#"{"a":"#, "}", "", 100_000).tap_inner_null()),
            INVALID_JSON,
        ),
        case(
            "objects nested 100 000 deep in the call",
            signed(
                nested(
                    r#"{"type":"call.updated","call":{"id":"c","settings":"#,
                    r#"{"a":"#,
                    "}",
                    "}}",
                    100_000,
                )
                .tap_inner_null(),
            ),
            Expect::Accepted("call.updated", Some("c")),
        ),
        case(
            "number out of range in a typed field",
            signed(
                br#"{"type":"call.ended","call":{"id":"c","duration_seconds":1e999999}}"#.to_vec(),
            ),
            Expect::Accepted("call.ended", Some("c")),
        ),
        case(
            "100 000-digit number",
            signed(format!(
                r#"{{"type":"call.ended","n":{}}}"#,
                "9".repeat(100_000)
            )),
            Expect::Accepted("call.ended", None),
        ),
        case(
            "duplicate type keys",
            signed(br#"{"type":"call.created","type":"call.ended"}"#.to_vec()),
            INVALID_JSON,
        ),
        case(
            "duplicate keys in an unknown field",
            signed(br#"{"type":"call.created","x":{"a":1,"a":2}}"#.to_vec()),
            Expect::Accepted("call.created", None),
        ),
        // Size.
        case(
            "body exactly the limit",
            signed(at_limit),
            Expect::Accepted("call.created", Some("call_limit")),
        ),
        case(
            "body one byte over the limit",
            signed(over_limit.clone()),
            TOO_LARGE,
        ),
        case(
            "gzip bomb",
            with_signature(&bomb, sign(&bomb)).body(bomb),
            TOO_LARGE,
        ),
        case(
            "gzip inflating to one byte over the limit",
            with_signature(&over_limit, sign(&over_limit))
                .body(gzip(&over_limit))
                .add("content-encoding", "gzip"),
            TOO_LARGE,
        ),
        case(
            "gzip inflating to exactly the limit",
            signed(body_of_len(LIMIT))
                .body(gzip(&body_of_len(LIMIT)))
                .add("content-encoding", "gzip"),
            Expect::Accepted("call.created", Some("call_limit")),
        ),
        case(
            "corrupt gzip",
            with_signature(VALID, &good)
                .body(corrupt)
                .add("content-encoding", "gzip"),
            INVALID_GZIP,
        ),
        case(
            "truncated gzip",
            with_signature(VALID, &good)
                .body(truncated)
                .add("content-encoding", "gzip"),
            INVALID_GZIP,
        ),
        case(
            "gzip magic and nothing else",
            signed(vec![0x1f, 0x8b]),
            INVALID_GZIP,
        ),
        case(
            "gzip declared, plain body",
            signed(VALID).add("content-encoding", "gzip"),
            CREATED,
        ),
        case(
            "gzip body without Content-Encoding",
            signed(VALID).body(gzipped),
            CREATED,
        ),
        // Framing that hyper refuses before the service sees it.
        case(
            "header section over the limit",
            signed(VALID).add("x-filler", "a".repeat(20 * 1024)),
            Expect::Hyper(431),
        ),
        case(
            "200 headers",
            (0..200).fold(signed(VALID), |raw, i| raw.add(format!("x-h{i}"), "v")),
            Expect::Hyper(431),
        ),
        case(
            "space in a header name",
            signed(VALID).add("x bad", "v"),
            Expect::Hyper(400),
        ),
        case(
            "control byte in a header value",
            signed(VALID).add("x-bad", b"a\x01b"),
            Expect::Hyper(400),
        ),
        case(
            "two different Content-Length",
            signed(VALID)
                .add("content-length", VALID.len().to_string())
                .add("content-length", "3"),
            Expect::Hyper(400),
        ),
        case(
            "non-numeric Content-Length",
            signed(VALID).add("content-length", "abc"),
            Expect::Hyper(400),
        ),
        case(
            "negative Content-Length",
            signed(VALID).add("content-length", "-1"),
            Expect::Hyper(400),
        ),
        case(
            "Transfer-Encoding other than chunked",
            signed(VALID).add("transfer-encoding", "gzip"),
            Expect::Hyper(400),
        ),
        case(
            "non-ASCII path",
            signed(VALID).tap_target(b"/api/webhooks\xff"),
            Expect::Hyper(400),
        ),
        bytes_case("garbage request line", b"HELLO\r\n\r\n", Expect::Hyper(400)),
        bytes_case(
            "HTTP/2 preface on the HTTP/1 port",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            Expect::Closed,
        ),
        bytes_case(
            "HTTP/1.0 with Transfer-Encoding",
            &http10_chunked(),
            Expect::Hyper(400),
        ),
    ];

    // Bodies that arrive oddly: chunked, too long, never finished.
    let mut chunked = signed(VALID).add("transfer-encoding", "chunked");
    chunked.auto_length = false;
    let chunked_body = [
        chunk(&VALID[..10]),
        chunk(&VALID[10..]),
        LAST_CHUNK.to_vec(),
    ]
    .concat();
    cases.push(case(
        "chunked body",
        chunked.clone().body(chunked_body.clone()),
        CREATED,
    ));
    cases.push(case(
        "chunked and a false Content-Length (chunked wins)",
        chunked
            .clone()
            .add("content-length", "3")
            .body(chunked_body),
        CREATED,
    ));
    let limit_body = body_of_len(LIMIT);
    let mut exact = signed(limit_body.clone()).add("transfer-encoding", "chunked");
    exact.auto_length = false;
    cases.push(Case {
        sending: Sending::Repeat {
            head: exact.head(),
            piece: Vec::new(),
            count: 0,
            tail: [
                limit_body.chunks(64 * 1024).flat_map(chunk).collect(),
                LAST_CHUNK.to_vec(),
            ]
            .concat(),
        },
        ..case(
            "chunked body of exactly the limit",
            Raw::new("POST", "/"),
            Expect::Accepted("call.created", Some("call_limit")),
        )
    });
    let hundred_mb = 100 * LIMIT as u64;
    cases.push(Case {
        sending: Sending::Repeat {
            head: chunked.head(),
            piece: chunk(&[b' '; 64 * 1024]),
            count: 1600,
            tail: LAST_CHUNK.to_vec(),
        },
        within: Duration::from_secs(3),
        refused_before: Some(hundred_mb / 4),
        ..case("100 MB chunked stream", Raw::new("POST", "/"), TOO_LARGE)
    });
    let declared = signed(VALID).add("content-length", hundred_mb.to_string());
    cases.push(Case {
        sending: Sending::Stall([declared.head(), vec![b' '; 64 * 1024]].concat()),
        within: Duration::from_millis(500),
        ..case(
            "100 MB Content-Length, 64 KiB sent",
            Raw::new("POST", "/"),
            TOO_LARGE,
        )
    });
    let unsigned = declared.remove("x-signature");
    cases.push(Case {
        sending: Sending::Stall(unsigned.head()),
        within: Duration::from_millis(500),
        ..case(
            "100 MB Content-Length, no signature",
            Raw::new("POST", "/"),
            MISSING_SIGNATURE,
        )
    });
    let stalled = signed(VALID).set("content-length", "1000");
    cases.push(Case {
        sending: Sending::Stall([stalled.head(), VALID[..10].to_vec()].concat()),
        within: BODY_TIMEOUT + Duration::from_secs(2),
        ..case(
            "body that never finishes",
            Raw::new("POST", "/"),
            error(408, "Request body timed out"),
        )
    });
    cases.push(Case {
        sending: Sending::Stall([chunked.head(), chunk(&VALID[..10])].concat()),
        within: BODY_TIMEOUT + Duration::from_secs(2),
        ..case(
            "chunked body that never finishes",
            Raw::new("POST", "/"),
            error(408, "Request body timed out"),
        )
    });
    cases
}

fn http10_chunked() -> Vec<u8> {
    let mut raw = signed(VALID).add("transfer-encoding", "chunked");
    raw.auto_length = false;
    let bytes = raw
        .body([chunk(VALID), LAST_CHUNK.to_vec()].concat())
        .bytes();
    let text = String::from_utf8(bytes).expect("ascii");
    text.replacen("HTTP/1.1", "HTTP/1.0", 1).into_bytes()
}

/// Small conveniences for the table.
trait Tap {
    fn tap_method(self, method: &str) -> Self;
    fn tap_target(self, target: impl AsRef<[u8]>) -> Self;
}

impl Tap for Raw {
    fn tap_method(mut self, method: &str) -> Self {
        method.clone_into(&mut self.method);
        self
    }

    fn tap_target(mut self, target: impl AsRef<[u8]>) -> Self {
        self.target = target.as_ref().to_vec();
        self
    }
}

trait InnerNull {
    fn tap_inner_null(self) -> Self;
}

impl InnerNull for Vec<u8> {
    /// `{"a":{"a":}}` into `{"a":{"a":null}}`: a value at the innermost key.
    fn tap_inner_null(mut self) -> Self {
        let at = self
            .windows(2)
            .position(|w| w == b":}")
            .expect("an innermost key");
        self.splice(at + 1..at + 1, b"null".iter().copied());
        self
    }
}

fn check(case: &Case, outcome: Outcome, closed: bool) {
    let name = &case.name;
    if let Expect::Closed = case.expect {
        match outcome {
            Outcome::Closed { after } => {
                assert!(after <= case.within, "{name}: closed after {after:?}")
            }
            other => panic!("{name}: expected the connection closed, got {other:?}"),
        }
        return;
    }
    let response = outcome.response(name);
    assert!(
        response.elapsed <= case.within,
        "{name}: answered after {:?}, allowed {:?}",
        response.elapsed,
        case.within
    );
    match case.expect {
        Expect::Error(status, message) => check_error(name, &response, status, message),
        Expect::Accepted(event_type, call_id) => {
            check_accepted(name, &response, event_type, call_id);
        }
        Expect::Closed => unreachable!("handled above"),
        Expect::Hyper(status) => {
            assert_eq!(response.status, status, "{name}: {}", response.text());
            assert!(
                response.body.is_empty(),
                "{name}: body {:?}",
                response.text()
            );
            assert!(
                closed,
                "{name}: connection left open after hyper's {status}"
            );
        }
    }
}

fn check_error(name: &str, response: &RawResponse, status: u16, message: &str) {
    assert_eq!(response.status, status, "{name}: body {}", response.text());
    let expected = serde_json::json!({ "error": message }).to_string();
    assert_eq!(response.text(), expected, "{name}");
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{name}"
    );
    if status == 503 {
        assert_eq!(response.header("retry-after"), Some("1"), "{name}");
    }
}

fn check_accepted(name: &str, response: &RawResponse, event_type: &str, call_id: Option<&str>) {
    assert_eq!(response.status, 200, "{name}: body {}", response.text());
    let json: serde_json::Value = serde_json::from_slice(&response.body).expect("JSON answer");
    let mut keys: Vec<_> = json.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    let expected_keys = [
        "call_id",
        "duration",
        "event_type",
        "processed_at",
        "received",
    ];
    assert_eq!(keys, expected_keys, "{name}: {json}");
    assert_eq!(json["received"], true, "{name}");
    assert_eq!(json["event_type"], event_type, "{name}");
    assert_eq!(json["call_id"].as_str(), call_id, "{name}: {json}");
    let processed_at = json["processed_at"].as_str().expect("processed_at");
    assert!(processed_at.ends_with('Z'), "{name}: {processed_at}");
    chrono::DateTime::parse_from_rfc3339(processed_at).expect("RFC 3339 processed_at");
    let duration = json["duration"].as_str().expect("duration");
    let seconds = duration.strip_suffix('s').expect("duration in seconds");
    assert!(
        seconds.parse::<f64>().is_ok_and(|s| s >= 0.0),
        "{name}: {duration}"
    );
}

async fn hostile_app() -> TestApp {
    let timeout = format!("{}ms", BODY_TIMEOUT.as_millis());
    let settings = test_settings(&[("STREAM_WEBHOOKS__SERVER__BODY_READ_TIMEOUT", &timeout)]);
    spawn_app_with(settings, Arc::new(stream_webhooks::processor::Acknowledge)).await
}

fn addr(app: &TestApp) -> std::net::SocketAddr {
    app.base
        .trim_start_matches("http://")
        .parse()
        .expect("socket address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_request_gets_its_documented_answer_and_memory_stays_flat() {
    let app = hostile_app().await;
    let server = addr(&app);
    // Warm up: the first requests allocate pools, buffers and lazy statics.
    for _ in 0..20 {
        assert_eq!(app.post_signed(VALID).await.status(), 200);
    }
    let cases = table();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let rss_before = rss_bytes();
    let peak_before = peak_rss_bytes();

    for round in 0..2 {
        for mut case in table() {
            let hyper = matches!(case.expect, Expect::Hyper(_) | Expect::Closed);
            let close_wait = hyper.then_some(Duration::from_secs(2));
            let deadline = case.within + Duration::from_secs(2);
            let sending = std::mem::replace(&mut case.sending, Sending::Whole(Vec::new()));
            let (outcome, written, closed) =
                exchange_then(server, sending, deadline, close_wait).await;
            check(&case, outcome, closed);
            if let Some(bound) = case.refused_before {
                assert!(
                    written.bytes < bound,
                    "{} (round {round}): {} bytes were taken before the refusal",
                    case.name,
                    written.bytes
                );
            }
        }
    }

    // Still serving, and no rejection fell through to the internal-failure arm.
    let response = app.post_signed(VALID).await;
    assert_eq!(response.status(), 200);
    let metrics = app.metrics().await;
    let internal = common::sample(
        &metrics,
        r#"stream_webhooks_rejected_total{reason="internal"}"#,
    );
    assert_eq!(internal, 0.0, "a rejection reached the fallback arm");

    let (rss_after, peak_after) = (rss_bytes(), peak_rss_bytes());
    eprintln!(
        "RSS {:.1} MiB -> {:.1} MiB, peak {:.1} MiB -> {:.1} MiB",
        mib(rss_before),
        mib(rss_after),
        mib(peak_before),
        mib(peak_after)
    );
    // Generous: the test itself builds 1 MiB bodies; the gzip bomb alone would add
    // 900 MiB if it were inflated, a 100 MB body 100 MiB if it were buffered.
    let bound = 96 << 20;
    assert!(
        rss_after.saturating_sub(rss_before) < bound,
        "RSS grew from {:.1} MiB to {:.1} MiB",
        mib(rss_before),
        mib(rss_after)
    );
    assert!(
        peak_after.saturating_sub(peak_before) < 2 * bound,
        "peak RSS grew from {:.1} MiB to {:.1} MiB",
        mib(peak_before),
        mib(peak_after)
    );
    app.stop().await;
}

// === slow clients ===

/// Starts an app with extra settings and the default processor.
async fn app_with(extra: &[(&str, &str)]) -> TestApp {
    let processor = Arc::new(stream_webhooks::processor::Acknowledge);
    spawn_app_with(test_settings(extra), processor).await
}

#[tokio::test]
async fn a_trickled_header_section_is_cut_off_at_the_header_read_timeout() {
    let app = app_with(&[("STREAM_WEBHOOKS__SERVER__HEADER_READ_TIMEOUT", "1s")]).await;
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let start = Instant::now();
    stream
        .write_all(b"POST /api/webhooks HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("request line");
    // One byte every 100 ms: the connection is busy, but the head never completes.
    let mut cut_off = None;
    let filler = b"X-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    for &byte in filler.take(100) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if stream.write_all(&[byte]).await.is_err() {
            cut_off = Some(start.elapsed());
            break;
        }
        let mut probe = [0u8; 64];
        if let Ok(read) = tokio::time::timeout(Duration::ZERO, stream.peek(&mut probe)).await {
            let read = read.unwrap_or(0);
            assert_eq!(
                read,
                0,
                "hyper answered a timed-out head: {:?}",
                &probe[..read]
            );
            cut_off = Some(start.elapsed());
            break;
        }
    }
    let cut_off = cut_off.expect("the trickling client was never cut off");
    assert!(
        cut_off >= Duration::from_millis(900) && cut_off < Duration::from_secs(3),
        "cut off after {cut_off:?} with a 1 s header read timeout"
    );
    assert_eq!(app.post_signed(VALID).await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn idle_connections_cannot_hold_the_connection_bound() {
    let app = app_with(&[
        ("STREAM_WEBHOOKS__SERVER__HEADER_READ_TIMEOUT", "1s"),
        ("STREAM_WEBHOOKS__SERVER__MAX_CONNECTIONS", "4"),
    ])
    .await;
    let server = addr(&app);
    // Fill every connection slot with a client that never sends a byte.
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server).await.expect("connects"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let start = Instant::now();
    let (outcome, _) = exchange(
        server,
        Sending::Whole(signed(VALID).bytes()),
        Duration::from_secs(6),
    )
    .await;
    let response = outcome.response("request behind idle connections");
    check_accepted(
        "request behind idle connections",
        &response,
        "call.created",
        Some("call_123"),
    );
    let waited = start.elapsed();
    assert!(
        waited < Duration::from_secs(3),
        "answered only after {waited:?}"
    );
    for mut stream in idle {
        assert!(
            support::closes_within(&mut stream, Duration::from_secs(2)).await,
            "an idle connection outlived the header read timeout"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_trickled_body_is_cut_off_at_the_body_read_timeout() {
    let app = hostile_app().await;
    let mut stream = TcpStream::connect(addr(&app)).await.expect("connects");
    let body = body_of_len(4096);
    let raw = signed(body.clone());
    stream.write_all(&raw.head()).await.expect("head");
    let start = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in body {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if write.write_all(&[byte]).await.is_err() {
                break;
            }
        }
    });
    let outcome = support::read_response(&mut read, Duration::from_secs(5)).await;
    trickle.abort();
    let response = outcome.response("trickled body");
    check_error("trickled body", &response, 408, "Request body timed out");
    let took = start.elapsed();
    assert!(
        took < BODY_TIMEOUT + Duration::from_secs(1),
        "408 only after {took:?}"
    );
    app.stop().await;
}

// === overload and a hanging processor ===

/// Holds every event until released, counting the ones it holds.
struct Gate {
    entered: AtomicUsize,
    open: tokio::sync::Semaphore,
}

impl EventProcessor for Gate {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        Box::pin(async move {
            self.entered.fetch_add(1, Ordering::SeqCst);
            self.open.acquire().await.expect("open").forget();
            Ok(())
        })
    }
}

/// Never finishes.
struct Hang;

impl EventProcessor for Hang {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        Box::pin(std::future::pending())
    }
}

async fn post(app: &TestApp) -> RawResponse {
    let (outcome, _) = exchange(
        addr(app),
        Sending::Whole(signed(VALID).bytes()),
        Duration::from_secs(10),
    )
    .await;
    outcome.response("post")
}

#[tokio::test]
async fn beyond_max_concurrent_requests_the_answer_is_503_with_retry_after() {
    let gate = Arc::new(Gate {
        entered: AtomicUsize::new(0),
        open: tokio::sync::Semaphore::new(0),
    });
    let settings = test_settings(&[("STREAM_WEBHOOKS__SERVER__MAX_CONCURRENT_REQUESTS", "2")]);
    let app = Arc::new(spawn_app_with(settings, gate.clone()).await);
    let held: Vec<_> = (0..2)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { post(&app).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gate.entered.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the two requests never reached the processor"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        let refused = post(&app).await;
        check_error("over the bound", &refused, 503, "Service overloaded");
        assert!(
            refused.elapsed < Duration::from_secs(1),
            "503 took {:?}",
            refused.elapsed
        );
    }
    gate.open.add_permits(2);
    for request in held {
        let response = request.await.expect("joins");
        check_accepted("held request", &response, "call.created", Some("call_123"));
    }
    // The slots are free again.
    gate.open.add_permits(1);
    check_accepted(
        "after the burst",
        &post(&app).await,
        "call.created",
        Some("call_123"),
    );
    let metrics = app.metrics().await;
    let overloaded = r#"stream_webhooks_rejected_total{reason="overloaded"}"#;
    assert_eq!(common::sample(&metrics, overloaded), 3.0);
    Arc::try_unwrap(app).ok().expect("sole owner").stop().await;
}

#[tokio::test]
async fn a_hanging_processor_is_cut_off_by_the_request_timeout_with_503() {
    let settings = test_settings(&[
        ("STREAM_WEBHOOKS__SERVER__REQUEST_TIMEOUT", "1s"),
        ("STREAM_WEBHOOKS__SERVER__MAX_CONCURRENT_REQUESTS", "1"),
        ("STREAM_WEBHOOKS__SERVER__SHUTDOWN_TIMEOUT", "1s"),
    ]);
    let app = spawn_app_with(settings, Arc::new(Hang)).await;
    // Twice: a timed-out request gives its concurrency slot back.
    for attempt in 0..2 {
        let response = post(&app).await;
        check_error("hanging processor", &response, 503, "Request timed out");
        let took = response.elapsed;
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(3),
            "attempt {attempt}: 503 after {took:?} with a 1 s request timeout"
        );
    }
    app.stop().await;
}

#[test]
fn the_default_request_timeout_answers_within_streams_six_seconds() {
    let settings = test_settings(&[]);
    assert!(settings.server.request_timeout < Duration::from_secs(6));
    assert!(settings.server.header_read_timeout <= Duration::from_secs(30));
    assert_eq!(settings.webhook.max_body_bytes, LIMIT);
}

// === findings ===

/// The spec: `call_id` is `call.id` if present. A sibling field of another type (here
/// `call.type` as a number) must not make the service forget the id; it does today,
/// because the ids of the call are read all-or-nothing (`CallIds` in src/event/mod.rs).
#[tokio::test]
async fn call_id_survives_a_mistyped_sibling_field() {
    let app = app_with(&[]).await;
    let body = br#"{"type":"call.created","call":{"id":"call_123","type":5}}"#;
    let (outcome, _) = exchange(
        addr(&app),
        Sending::Whole(signed(body.to_vec()).bytes()),
        Duration::from_secs(5),
    )
    .await;
    let response = outcome.response("mistyped call.type");
    check_accepted(
        "mistyped call.type",
        &response,
        "call.created",
        Some("call_123"),
    );
    app.stop().await;
}
