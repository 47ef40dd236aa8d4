//! The whole public filter chain in-process (`warp::test`) for a signed 1 KB `call.ended`:
//! route, content type, delivery headers, signature, body, verification, parsing, dedupe,
//! metrics and the JSON answer. Every request carries a new `X-Webhook-Id`, as Stream's do.
//!
//! Beside it: the same request through a floor filter that only reads the body and answers
//! a fixed JSON of the same size, so that the cost of `warp::test` itself can be subtracted;
//! the chain with gzip; and the chain with the service's JSON log layer installed (writing
//! to a sink), which shows what the info line per event and the spans cost.

use std::convert::Infallible;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::Compression;
use flate2::write::GzEncoder;
use tokio::runtime::Runtime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Registry};
use warp::http::StatusCode;
use warp::reply::Response;
use warp::{Filter, Reply};

use stream_webhooks::dedupe::Dedupe;
use stream_webhooks::metrics::Metrics;
use stream_webhooks::processor::{Acknowledge, Pipeline};
use stream_webhooks::settings::{LogFormat, Secret};
use stream_webhooks::telemetry::log_layer;
use stream_webhooks::webhook::signature::{Verifier, sign};
use stream_webhooks::webhook::{WebhookState, webhook};

const SECRET: &str = "benchmark-secret-0123456789abcdef";
const BODY: &[u8] = include_bytes!("data/call_ended_1k.json");

/// What the service answers for `BODY`, in size: the floor answers this many bytes.
const ANSWER: &str = concat!(
    r#"{"received":true,"event_type":"call.ended","call_id":"standup-7f3k2q","#,
    r#""processed_at":"2024-01-15T11:30:00.912Z","duration":"0.000012s"}"#
);

/// One signed delivery as the benchmark sends it.
struct Delivery {
    wire: Bytes,
    signature: String,
    gzip: bool,
}

/// Numbers each request's `X-Webhook-Id`, so that no request is a duplicate.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl Delivery {
    fn new(body: &[u8], gzip: bool) -> Self {
        let signature = sign(&Secret::new(SECRET), body);
        let wire = if gzip {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(body).expect("gzip into memory");
            Bytes::from(encoder.finish().expect("gzip into memory"))
        } else {
            Bytes::copy_from_slice(body)
        };
        Self {
            wire,
            signature,
            gzip,
        }
    }

    fn request(&self) -> warp::test::RequestBuilder {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let request = warp::test::request()
            .method("POST")
            .path("/api/webhooks")
            .header("content-type", "application/json")
            .header("x-signature", &self.signature)
            .header("x-webhook-id", format!("bench-{id:016x}"))
            .header("x-webhook-attempt", "1")
            .body(&self.wire);
        if self.gzip {
            request.header("content-encoding", "gzip")
        } else {
            request
        }
    }
}

/// The service's state as `App` builds it from the default settings.
fn state() -> Arc<WebhookState> {
    let metrics = Metrics::new().expect("metrics register");
    Arc::new(WebhookState {
        verifier: Verifier::single(&Secret::new(SECRET)),
        pipeline: Pipeline::new(Arc::new(Acknowledge), metrics.clone()),
        dedupe: Dedupe::new(100_000, Duration::from_secs(600)),
        metrics,
        max_body_bytes: 1 << 20,
        body_read_timeout: Duration::from_secs(10),
    })
}

/// Reads the body and answers a fixed JSON of the service's size: `warp::test`'s own cost.
fn floor() -> impl Route {
    warp::path!("api" / "webhooks")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(|body: Bytes| {
            std::hint::black_box(body);
            let reply = warp::reply::with_header(ANSWER, "content-type", "application/json");
            reply.into_response()
        })
        .recover(|_| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response()) })
        .unify()
}

/// The service's JSON log layer, as `telemetry::init` installs it, writing to a sink.
fn json_log_subscriber() -> impl tracing::Subscriber + Send + Sync {
    let logs = log_layer(LogFormat::Json, EnvFilter::new("info"), std::io::sink);
    Registry::default().with(logs)
}

/// A filter that answers every request, as both the chain and the floor do.
trait Route: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {}

impl<F> Route for F where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static
{
}

/// Sends `iters` requests one after another and returns the time they took.
fn run(runtime: &Runtime, filter: &impl Route, delivery: &Delivery, iters: u64) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            let response = delivery.request().reply(filter).await;
            std::hint::black_box(response);
        }
        start.elapsed()
    })
}

fn assert_accepted(runtime: &Runtime, filter: &impl Route, delivery: &Delivery) {
    let response = runtime.block_on(delivery.request().reply(filter));
    let status = response.status();
    assert_eq!(status, StatusCode::OK, "{:?}", response.body());
}

fn filter_chain(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let plain = Delivery::new(BODY, false);
    let gzip = Delivery::new(BODY, true);
    let chain = webhook(state());
    let floor = floor();
    assert_accepted(&runtime, &chain, &plain);
    assert_accepted(&runtime, &chain, &gzip);
    assert_accepted(&runtime, &floor, &plain);

    let mut group = c.benchmark_group("filter_chain");
    group.throughput(Throughput::Elements(1));
    group.bench_function("floor/1k", |b| {
        b.iter_custom(|iters| run(&runtime, &floor, &plain, iters))
    });
    group.bench_function("webhook/1k", |b| {
        b.iter_custom(|iters| run(&runtime, &chain, &plain, iters))
    });
    group.bench_function("webhook/1k_gzip", |b| {
        b.iter_custom(|iters| run(&runtime, &chain, &gzip, iters))
    });
    group.bench_function("webhook/1k_json_log", |b| {
        let _logs = tracing::subscriber::set_default(json_log_subscriber());
        b.iter_custom(|iters| run(&runtime, &chain, &plain, iters))
    });
    group.finish();
}

criterion_group!(benches, filter_chain);
criterion_main!(benches);
