//! The whole public filter chain on arbitrary requests: method, path, any number of
//! headers (repeated ones included) with arbitrary names and values, and a body that
//! is plain, gzip or streamed in chunks.
//!
//! Oracles: every answer is one of the documented statuses with its documented JSON
//! body; no request gets the internal-failure 500; nothing is accepted (200) unless it
//! carries the body's real signature; a signed, well-formed request is accepted.
#![no_main]

use std::io::Write;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use http_body_util::{BodyExt, Full, StreamBody};
use libfuzzer_sys::fuzz_target;
use stream_webhooks::dedupe::Dedupe;
use stream_webhooks::metrics::Metrics;
use stream_webhooks::processor::{Acknowledge, Pipeline};
use stream_webhooks::settings::Secret;
use stream_webhooks::webhook::signature::{Signature, Verifier, sign};
use stream_webhooks::webhook::{SharedState, WebhookState, webhook};
use tower_service::Service;
use warp::http::{HeaderName, HeaderValue, Method, Request, StatusCode};

const SECRET: &str = "fuzz-secret-0123456789abcdef";
const LIMIT: usize = 4096;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
});

static STATE: LazyLock<SharedState> = LazyLock::new(|| {
    let metrics = Metrics::new().expect("metrics");
    Arc::new(WebhookState {
        verifier: Verifier::single(&Secret::new(SECRET)),
        pipeline: Pipeline::new(Arc::new(Acknowledge), metrics.clone()),
        dedupe: Dedupe::new(1024, Duration::from_secs(600)),
        metrics,
        max_body_bytes: LIMIT,
        body_read_timeout: Duration::from_secs(5),
    })
});

#[derive(Arbitrary, Debug)]
enum Name {
    ContentType,
    Signature,
    WebhookId,
    Attempt,
    ApiKey,
    ContentEncoding,
    Traceparent,
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    method: Option<String>,
    path: Option<String>,
    headers: Vec<(Name, Vec<u8>)>,
    body: Vec<u8>,
    /// Add `Content-Type: application/json` first.
    json: bool,
    /// Add the body's real signature.
    signed: bool,
    /// Send the body gzip-compressed (the signature covers the inflated bytes).
    gzip: bool,
    /// Declare this length instead of the real one when it is over the limit: the
    /// service must refuse it before reading (a shorter false length cannot reach
    /// the service, hyper frames the body by it).
    declared: Option<u64>,
    /// Stream the body in chunks of these sizes, without a length.
    chunks: Vec<u8>,
}

impl Name {
    fn header(&self) -> Option<HeaderName> {
        Some(match self {
            Self::ContentType => HeaderName::from_static("content-type"),
            Self::Signature => HeaderName::from_static("x-signature"),
            Self::WebhookId => HeaderName::from_static("x-webhook-id"),
            Self::Attempt => HeaderName::from_static("x-webhook-attempt"),
            Self::ApiKey => HeaderName::from_static("x-api-key"),
            Self::ContentEncoding => HeaderName::from_static("content-encoding"),
            Self::Traceparent => HeaderName::from_static("traceparent"),
            Self::Other(name) => {
                let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
                // hyper owns the framing headers: fuzzing them here would build
                // requests hyper never hands to the service.
                let framing = ["content-length", "transfer-encoding", "host"];
                if framing.contains(&name.as_str()) {
                    return None;
                }
                name
            }
        })
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).expect("compresses");
    encoder.finish().expect("finishes")
}

const DOCUMENTED: [(u16, &str); 11] = [
    (404, "Not found"),
    (405, "Method not allowed"),
    (415, "Content-Type must be application/json"),
    (400, "Missing X-Signature header"),
    (400, "Invalid webhook signature"),
    (400, "Unknown API key"),
    (400, "Invalid gzip body"),
    (400, "Invalid JSON payload"),
    (400, "Invalid request body"),
    (413, "Payload too large"),
    (408, "Request body timed out"),
];

fuzz_target!(|input: Input| {
    let method = match &input.method {
        None => Method::POST,
        Some(m) => match Method::from_bytes(m.as_bytes()) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    let path = input.path.as_deref().unwrap_or("/api/webhooks");
    let mut builder = Request::builder().method(method.clone()).uri(path);
    if builder.uri_ref().is_none() {
        return;
    }
    let headers = builder.headers_mut().expect("valid so far");
    if input.json {
        headers.append("content-type", HeaderValue::from_static("application/json"));
    }
    let signature = sign(&Secret::new(SECRET), &input.body);
    if input.signed {
        headers.append("x-signature", HeaderValue::from_str(&signature).expect("hex"));
    }
    let real = Signature::parse(signature.as_bytes());
    let mut carries_real_signature = input.signed;
    for (name, value) in &input.headers {
        let (Some(name), Ok(value)) = (name.header(), HeaderValue::from_bytes(value)) else {
            continue;
        };
        if name == "x-signature" && Signature::parse(value.as_bytes().trim_ascii()) == real {
            carries_real_signature = true;
        }
        headers.append(name, value);
    }
    let single_signature = headers.get_all("x-signature").iter().count() == 1;
    let wire = if input.gzip { gzip(&input.body) } else { input.body.clone() };
    let wire_len = wire.len() as u64;
    let request = if input.chunks.is_empty() {
        let declared = input.declared.filter(|d| *d > LIMIT as u64).unwrap_or(wire_len);
        headers.append("content-length", HeaderValue::from(declared));
        builder.body(Full::new(Bytes::from(wire)).boxed())
    } else {
        let mut parts = Vec::new();
        let mut rest = &wire[..];
        for size in input.chunks.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let take = usize::from(*size).clamp(1, rest.len());
            let frame = hyper_frame(&rest[..take]);
            parts.push(Ok::<_, std::convert::Infallible>(frame));
            rest = &rest[take..];
        }
        let stream = futures_util::stream::iter(parts);
        builder.body(StreamBody::new(stream).boxed())
    };
    let Ok(request) = request else { return };
    let declared_over =
        input.chunks.is_empty() && input.declared.is_some_and(|d| d > LIMIT as u64);

    let mut service = warp::service(webhook(STATE.clone()));
    let (status, body) = RUNTIME.block_on(async {
        let response = service.call(request).await.expect("infallible");
        let status = response.status();
        let body = response.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    });

    let json: serde_json::Value = serde_json::from_slice(&body).expect("every answer is JSON");
    if status == StatusCode::OK {
        assert!(carries_real_signature, "accepted without the real signature");
        assert!(single_signature, "accepted with several X-Signature headers");
        assert!(!declared_over, "accepted with a declared length over the limit");
        assert_eq!(json["received"], true);
        assert!(json["event_type"].is_string());
        return;
    }
    let message = json["error"].as_str().expect("an error message");
    let documented = DOCUMENTED.contains(&(status.as_u16(), message));
    assert!(documented, "undocumented answer {status} {message}");
    let well_formed = method == Method::POST
        && path == "/api/webhooks"
        && input.json
        && input.signed
        && input.headers.is_empty()
        && !declared_over
        && input.body.len() <= LIMIT
        && wire_len <= LIMIT as u64
        && stream_webhooks::event::WebhookEvent::parse(&input.body).is_ok();
    assert!(!well_formed, "a signed, well-formed request was refused: {status} {message}");
});

fn hyper_frame(bytes: &[u8]) -> http_body::Frame<Bytes> {
    http_body::Frame::data(Bytes::copy_from_slice(bytes))
}
