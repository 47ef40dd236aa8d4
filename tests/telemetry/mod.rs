//! Support for the telemetry tests: real OTLP receivers (gRPC with tonic, HTTP/protobuf
//! with warp and prost), collectors that fail, and plain webhook requests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use tokio::runtime::Runtime;

/// The trace of the incoming `traceparent`.
pub const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
/// The parent span of the incoming `traceparent`.
pub const PARENT_SPAN_ID: &str = "00f067aa0ba902b7";

/// The server span's name.
pub const SERVER_SPAN: &str = "POST /api/webhooks";

/// A sampled W3C `traceparent` naming `TRACE_ID` and `PARENT_SPAN_ID`.
pub fn traceparent() -> String {
    format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01")
}

/// A runtime for the receivers and the client; the tests themselves stay synchronous.
pub fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

// === receivers ===

/// The two OTLP transports the service offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }
}

/// Everything a receiver got: export requests, and for HTTP the content types sent.
#[derive(Clone, Default)]
pub struct Received {
    pub requests: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    pub content_types: Arc<Mutex<Vec<String>>>,
}

/// One exported span with the resource of its batch.
#[derive(Clone, Debug)]
pub struct Exported {
    pub resource: Vec<KeyValue>,
    pub span: Span,
}

impl Received {
    fn push(&self, request: ExportTraceServiceRequest) {
        self.requests.lock().expect("lock").push(request);
    }

    pub fn spans(&self) -> Vec<Exported> {
        let requests = self.requests.lock().expect("lock");
        let mut out = Vec::new();
        for request in requests.iter() {
            for resource_spans in &request.resource_spans {
                let resource = resource_spans
                    .resource
                    .clone()
                    .unwrap_or_default()
                    .attributes;
                for scope_spans in &resource_spans.scope_spans {
                    for span in &scope_spans.spans {
                        out.push(Exported {
                            resource: resource.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Waits until `done` holds for the spans received so far.
    pub fn wait_for(&self, what: &str, limit: Duration, done: impl Fn(&[Exported]) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let spans = self.spans();
            if done(&spans) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what} not received in {limit:?}: {spans:#?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A running OTLP receiver.
pub struct Receiver {
    /// What `OTEL_EXPORTER_OTLP_ENDPOINT` should say: a base URL.
    pub endpoint: String,
    pub received: Received,
}

struct GrpcSink(Received);

#[tonic::async_trait]
impl TraceService for GrpcSink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.0.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

impl Receiver {
    pub fn start(runtime: &Runtime, protocol: Protocol) -> Self {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("receiver binds");
        let addr = listener.local_addr().expect("receiver address");
        let received = Received::default();
        match protocol {
            Protocol::Grpc => {
                let service = TraceServiceServer::new(GrpcSink(received.clone()));
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let server = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming(incoming);
                runtime.spawn(server);
            }
            Protocol::HttpProtobuf => {
                runtime.spawn(
                    warp::serve(http_route(received.clone()))
                        .incoming(listener)
                        .run(),
                );
            }
        }
        Self {
            endpoint: format!("http://{addr}"),
            received,
        }
    }
}

/// `POST /v1/traces` with an `ExportTraceServiceRequest` in protobuf.
fn http_route(
    received: Received,
) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    use warp::Filter as _;
    warp::path!("v1" / "traces")
        .and(warp::post())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .map(move |content_type: Option<String>, body: bytes::Bytes| {
            let content_type = content_type.unwrap_or_default();
            received
                .content_types
                .lock()
                .expect("lock")
                .push(content_type);
            let status = match ExportTraceServiceRequest::decode(body) {
                Ok(request) => {
                    received.push(request);
                    warp::http::StatusCode::OK
                }
                Err(_) => warp::http::StatusCode::BAD_REQUEST,
            };
            let answer = ExportTraceServiceResponse::default().encode_to_vec();
            let reply = warp::reply::with_status(answer, status);
            warp::reply::with_header(reply, "content-type", "application/x-protobuf")
        })
}

/// A collector that accepts connections and never answers; counts the connections.
pub fn black_hole(runtime: &Runtime) -> (String, Arc<AtomicUsize>) {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("black hole binds");
    let addr = listener.local_addr().expect("black hole address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    runtime.spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            held.push(stream);
        }
    });
    (format!("http://{addr}"), accepted)
}

/// An endpoint nobody listens on.
pub fn unreachable_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binds");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

// === requests ===

/// Posts `body` to the webhook route with `signature` and extra headers; the status.
pub async fn post(
    client: &reqwest::Client,
    public: SocketAddr,
    body: &str,
    signature: &str,
    headers: &[(&str, &str)],
) -> u16 {
    let mut request = client
        .post(format!("http://{public}/api/webhooks"))
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .send()
        .await
        .expect("request sent")
        .status()
        .as_u16()
}

/// A request whose body never finishes: answered 503 once `server.request_timeout` passes.
pub fn unfinished_request(public: SocketAddr) -> u16 {
    let mut stream = TcpStream::connect(public).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "POST /api/webhooks HTTP/1.1\r\nhost: {public}\r\ncontent-type: application/json\r\n\
         x-signature: {}\r\ncontent-length: 1000\r\n\r\n{{\"type\":",
        "0".repeat(64)
    );
    stream.write_all(head.as_bytes()).expect("writes");
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).expect("status line");
    let line = String::from_utf8_lossy(&answer);
    line.trim_start_matches("HTTP/1.1 ")
        .trim()
        .parse()
        .expect("status code")
}

// === reading spans ===

pub fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

pub fn str_attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attributes, key)? {
        any_value::Value::StringValue(text) => Some(text),
        _ => None,
    }
}

pub fn int_attr(attributes: &[KeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key)? {
        any_value::Value::IntValue(value) => Some(*value),
        _ => None,
    }
}

pub fn status_code(span: &Span) -> i32 {
    span.status
        .as_ref()
        .map_or(StatusCode::Unset as i32, |s| s.code)
}

/// The server span that answered `status`.
pub fn server_span(spans: &[Exported], status: i64) -> Option<&Exported> {
    spans.iter().find(|e| {
        e.span.name == SERVER_SPAN
            && int_attr(&e.span.attributes, "http.response.status_code") == Some(status)
    })
}

pub fn server_spans_with(statuses: &[i64]) -> impl Fn(&[Exported]) -> bool + '_ {
    move |spans| {
        statuses
            .iter()
            .all(|status| server_span(spans, *status).is_some())
    }
}

pub fn children<'a>(spans: &'a [Exported], parent: &Span) -> Vec<&'a Span> {
    let parent_id = &parent.span_id;
    spans
        .iter()
        .map(|e| &e.span)
        .filter(|s| &s.parent_span_id == parent_id)
        .collect()
}
