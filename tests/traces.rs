//! Traces, proven through the real binary against real OTLP receivers: a gRPC one (a tonic
//! server implementing the `opentelemetry-proto` TraceService) and an HTTP/protobuf one (a
//! warp server decoding the same messages with prost). The tracing subscriber is global to
//! a process, so every case starts its own binary.

mod common;
mod telemetry;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Binary, sign};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use telemetry::{
    PARENT_SPAN_ID, Protocol, Receiver, SERVER_SPAN, TRACE_ID, attr, black_hole, children,
    int_attr, post, runtime, server_span, server_spans_with, status_code, str_attr, traceparent,
    unfinished_request, unreachable_endpoint,
};

/// A `call.ended` event with a call cid.
const EVENT: &str = concat!(
    r#"{"type":"call.ended","call_cid":"default:trace-call","call":{"id":"trace-call","#,
    r#""type":"default","cid":"default:trace-call","duration_seconds":61}}"#
);

/// How long the binary may take to exit after SIGTERM when the collector answers:
/// drain (instant here) plus the final flush.
const EXIT_BOUND: Duration = Duration::from_secs(8);

// === the binary and its requests ===

/// Starts the binary exporting to `endpoint` with `protocol` from the OTEL variables.
fn start_exporting(endpoint: &str, protocol: Protocol, extra: &[(&str, &str)]) -> Binary {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(extra);
    Binary::start(&env)
}

// === the cases ===

#[test]
fn grpc_export_carries_server_spans_children_and_resource() {
    let extra = [
        ("OTEL_SERVICE_NAME", "hooks-under-test"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=platform,deployment.environment.name=ci",
        ),
    ];
    exports_request_spans(Protocol::Grpc, &extra, "hooks-under-test");
}

#[test]
fn http_protobuf_export_carries_server_spans_children_and_resource() {
    let extra = [
        (
            "STREAM_WEBHOOKS__TELEMETRY__SERVICE_NAME",
            "hooks-from-settings",
        ),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "team=platform,deployment.environment.name=ci",
        ),
    ];
    exports_request_spans(Protocol::HttpProtobuf, &extra, "hooks-from-settings");
}

/// A signed event with a `traceparent`, a bad signature and a request timeout (503):
/// their server spans, the accepted one's children, and the resource.
fn exports_request_spans(protocol: Protocol, extra: &[(&str, &str)], service_name: &str) {
    let runtime = runtime();
    let receiver = Receiver::start(&runtime, protocol);
    let mut env = vec![("STREAM_WEBHOOKS__SERVER__REQUEST_TIMEOUT", "300ms")];
    env.extend_from_slice(extra);
    let mut binary = start_exporting(&receiver.endpoint, protocol, &env);
    let client = reqwest::Client::new();
    let traceparent = traceparent();
    let delivery = [
        ("traceparent", traceparent.as_str()),
        ("x-webhook-id", "wh-trace-1"),
        ("x-webhook-attempt", "2"),
    ];
    let accepted = runtime.block_on(post(
        &client,
        binary.public,
        EVENT,
        &sign(EVENT.as_bytes()),
        &delivery,
    ));
    assert_eq!(accepted, 200);
    let forged = "0".repeat(64);
    let refused = runtime.block_on(post(&client, binary.public, EVENT, &forged, &[]));
    assert_eq!(refused, 400);
    assert_eq!(unfinished_request(binary.public), 503);

    // Exported in the background, before any shutdown.
    receiver.received.wait_for(
        "the three server spans",
        Duration::from_secs(15),
        server_spans_with(&[200, 400, 503]),
    );
    binary.terminate();
    assert!(binary.wait(EXIT_BOUND).success());
    let spans = receiver.received.spans();

    let ok = server_span(&spans, 200).expect("200 span");
    let span = &ok.span;
    let attributes = &span.attributes;
    assert_eq!(span.kind, SpanKind::Server as i32, "{span:#?}");
    assert_eq!(
        hex::encode(&span.trace_id),
        TRACE_ID,
        "trace id from traceparent"
    );
    assert_eq!(
        hex::encode(&span.parent_span_id),
        PARENT_SPAN_ID,
        "parent from traceparent"
    );
    assert_eq!(
        str_attr(attributes, "http.request.method"),
        Some("POST"),
        "{span:#?}"
    );
    assert_eq!(
        str_attr(attributes, "http.route"),
        Some("/api/webhooks"),
        "{span:#?}"
    );
    assert_eq!(
        str_attr(attributes, "url.scheme"),
        Some("http"),
        "{span:#?}"
    );
    assert_eq!(
        str_attr(attributes, "stream.event_type"),
        Some("call.ended"),
        "{span:#?}"
    );
    assert_eq!(
        str_attr(attributes, "stream.call_cid"),
        Some("default:trace-call")
    );
    assert_eq!(
        str_attr(attributes, "stream.webhook_id"),
        Some("wh-trace-1")
    );
    assert_eq!(attr(attributes, "error.type"), None, "{span:#?}");
    assert_ne!(status_code(span), StatusCode::Error as i32);
    assert!(span.end_time_unix_nano >= span.start_time_unix_nano);

    let kids = children(&spans, span);
    for name in ["verify_signature", "parse_event", "process_event"] {
        let child = kids.iter().find(|s| s.name == name);
        let child = child.unwrap_or_else(|| panic!("no child span {name}: {kids:#?}"));
        assert_eq!(child.trace_id, span.trace_id, "{name} in the same trace");
        assert_eq!(child.kind, SpanKind::Internal as i32, "{name} is internal");
    }

    let refused = &server_span(&spans, 400).expect("400 span").span;
    assert_eq!(
        str_attr(&refused.attributes, "error.type"),
        Some("invalid_signature")
    );
    assert_ne!(
        status_code(refused),
        StatusCode::Error as i32,
        "a 4xx is not a span error"
    );
    assert!(
        refused.parent_span_id.is_empty(),
        "no traceparent: a root span"
    );
    assert_ne!(
        hex::encode(&refused.trace_id),
        TRACE_ID,
        "a trace of its own"
    );

    let failed = &server_span(&spans, 503).expect("503 span").span;
    assert_eq!(
        str_attr(&failed.attributes, "error.type"),
        Some("timeout"),
        "{failed:#?}"
    );
    assert_eq!(
        status_code(failed),
        StatusCode::Error as i32,
        "a 5xx is a span error"
    );

    let resource = &ok.resource;
    assert_eq!(
        str_attr(resource, "service.name"),
        Some(service_name),
        "{resource:#?}"
    );
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        str_attr(resource, "service.version"),
        Some(version),
        "{resource:#?}"
    );
    assert_eq!(
        str_attr(resource, "team"),
        Some("platform"),
        "{resource:#?}"
    );
    assert_eq!(
        str_attr(resource, "deployment.environment.name"),
        Some("ci")
    );
    // A number, as X-Webhook-Attempt is: tracing-opentelemetry exports a u32 field as a
    // string, so the handler must record it as an i64.
    let attempt = attr(attributes, "stream.webhook_attempt");
    assert_eq!(
        int_attr(attributes, "stream.webhook_attempt"),
        Some(2),
        "{attempt:?}"
    );
    if protocol == Protocol::HttpProtobuf {
        let types = receiver
            .received
            .content_types
            .lock()
            .expect("lock")
            .clone();
        assert!(
            types.iter().all(|t| t == "application/x-protobuf"),
            "{types:?}"
        );
    }
}

#[test]
fn grpc_shutdown_flushes_pending_spans() {
    let extra = [("STREAM_WEBHOOKS__TELEMETRY__OTLP_PROTOCOL", "grpc")];
    shutdown_flushes(Protocol::Grpc, &extra);
}

#[test]
fn http_protobuf_shutdown_flushes_pending_spans() {
    let extra = [("STREAM_WEBHOOKS__TELEMETRY__OTLP_PROTOCOL", "http/protobuf")];
    shutdown_flushes(Protocol::HttpProtobuf, &extra);
}

/// With a long batch delay, nothing is exported until SIGTERM, and SIGTERM exports it.
/// The endpoint and protocol come from the settings here, not the OTEL variables.
fn shutdown_flushes(protocol: Protocol, extra: &[(&str, &str)]) {
    let runtime = runtime();
    let receiver = Receiver::start(&runtime, protocol);
    let mut env = vec![
        (
            "STREAM_WEBHOOKS__TELEMETRY__OTLP_ENDPOINT",
            receiver.endpoint.as_str(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000"),
    ];
    env.extend_from_slice(extra);
    let mut binary = Binary::start(&env);
    let client = reqwest::Client::new();
    let status = runtime.block_on(post(
        &client,
        binary.public,
        EVENT,
        &sign(EVENT.as_bytes()),
        &[],
    ));
    assert_eq!(status, 200);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        receiver.received.spans().is_empty(),
        "exported before the batch delay"
    );

    let stopping = Instant::now();
    binary.terminate();
    assert!(binary.wait(EXIT_BOUND).success());
    eprintln!(
        "{protocol:?}: exited {:?} after SIGTERM",
        stopping.elapsed()
    );
    let spans = receiver.received.spans();
    let server = server_span(&spans, 200).unwrap_or_else(|| panic!("flushed: {spans:#?}"));
    assert_eq!(children(&spans, &server.span).len(), 3, "{spans:#?}");
}

#[test]
fn sampler_variables_are_honoured() {
    let runtime = runtime();
    let receiver = Receiver::start(&runtime, Protocol::Grpc);
    let extra = [
        ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
        ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ];
    let mut binary = start_exporting(&receiver.endpoint, Protocol::Grpc, &extra);
    let client = reqwest::Client::new();
    let signature = sign(EVENT.as_bytes());
    let unsampled = [("x-webhook-id", "wh-root")];
    let status = runtime.block_on(post(&client, binary.public, EVENT, &signature, &unsampled));
    assert_eq!(status, 200);
    let traceparent = traceparent();
    let sampled = [
        ("traceparent", traceparent.as_str()),
        ("x-webhook-id", "wh-child"),
    ];
    let status = runtime.block_on(post(&client, binary.public, EVENT, &signature, &sampled));
    assert_eq!(status, 200);
    receiver.received.wait_for(
        "the sampled span",
        Duration::from_secs(15),
        server_spans_with(&[200]),
    );
    binary.terminate();
    assert!(binary.wait(EXIT_BOUND).success());

    let spans = receiver.received.spans();
    let servers: Vec<_> = spans
        .iter()
        .filter(|e| e.span.name == SERVER_SPAN)
        .collect();
    assert_eq!(
        servers.len(),
        1,
        "ratio 0 drops roots, a sampled parent wins: {servers:#?}"
    );
    let attributes = &servers[0].span.attributes;
    assert_eq!(str_attr(attributes, "stream.webhook_id"), Some("wh-child"));
    assert_eq!(hex::encode(&servers[0].span.trace_id), TRACE_ID);
}

/// Median of a sample, in place.
fn median(sample: &mut [Duration]) -> Duration {
    sample.sort();
    sample[sample.len() / 2]
}

#[test]
fn a_black_holed_or_unreachable_collector_neither_slows_nor_fails_webhooks() {
    const ROUNDS: usize = 150;
    const WARM_UP: usize = 20;
    let runtime = runtime();
    let (hole, accepted) = black_hole(&runtime);
    let closed = unreachable_endpoint();
    let shutdown = [("STREAM_WEBHOOKS__TELEMETRY__SHUTDOWN_TIMEOUT", "2s")];
    let mut binaries = vec![
        ("no exporter", Binary::start(&shutdown)),
        (
            "black hole, grpc",
            start_exporting(&hole, Protocol::Grpc, &shutdown),
        ),
        (
            "black hole, http",
            start_exporting(&hole, Protocol::HttpProtobuf, &shutdown),
        ),
        (
            "closed port, grpc",
            start_exporting(&closed, Protocol::Grpc, &shutdown),
        ),
        (
            "closed port, http",
            start_exporting(&closed, Protocol::HttpProtobuf, &shutdown),
        ),
    ];
    let clients: Vec<_> = binaries.iter().map(|_| reqwest::Client::new()).collect();
    let signature = sign(EVENT.as_bytes());
    let mut latencies = vec![Vec::with_capacity(ROUNDS); binaries.len()];
    runtime.block_on(async {
        for round in 0..WARM_UP + ROUNDS {
            // Interleaved, in a rotating order, so that load on the machine hits all alike.
            for k in 0..binaries.len() {
                let i = (round + k) % binaries.len();
                let start = Instant::now();
                let status = post(&clients[i], binaries[i].1.public, EVENT, &signature, &[]).await;
                let elapsed = start.elapsed();
                assert_eq!(status, 200, "{}: a webhook failed", binaries[i].0);
                if round >= WARM_UP {
                    latencies[i].push(elapsed);
                }
            }
        }
    });
    let medians: Vec<Duration> = latencies.iter_mut().map(|l| median(l)).collect();
    let baseline = medians[0];
    for ((name, _), median) in binaries.iter().zip(&medians) {
        eprintln!("{name}: median {median:?} over {ROUNDS} requests");
    }
    for ((name, _), median) in binaries.iter().zip(&medians).skip(1) {
        let bound = baseline * 2 + Duration::from_millis(5);
        assert!(
            *median <= bound,
            "{name}: median {median:?} > {bound:?} (none: {baseline:?})"
        );
    }
    assert!(
        accepted.load(Ordering::SeqCst) > 0,
        "the exporters never reached the black hole"
    );

    // Exit within the flush bound (2 s) plus a margin, whatever the collector does. (The
    // SDK's own shutdown waits about 5 s for a collector that does not answer.)
    let stopping = Instant::now();
    for (_, binary) in &binaries {
        binary.terminate();
    }
    let bound = Duration::from_secs(2) + Duration::from_millis(1500);
    let exits = exits(&mut binaries, stopping, Duration::from_secs(30));
    let mut late = Vec::new();
    for ((name, _), (status, took)) in binaries.iter().zip(exits) {
        eprintln!("{name}: exited ({status:?}) {took:?} after SIGTERM");
        if !status.is_some_and(|s| s.success()) || took > bound {
            late.push(format!("{name}: {status:?} after {took:?}"));
        }
    }
    assert!(
        late.is_empty(),
        "not a clean exit within {bound:?}: {late:#?}"
    );
}

/// Waits at most `limit` from `since` for every binary to exit: status and time of each.
fn exits(
    binaries: &mut [(&str, Binary)],
    since: Instant,
    limit: Duration,
) -> Vec<(Option<std::process::ExitStatus>, Duration)> {
    let mut out = vec![(None, limit); binaries.len()];
    while since.elapsed() < limit && out.iter().any(|(status, _)| status.is_none()) {
        for ((_, binary), exit) in binaries.iter_mut().zip(&mut out) {
            if exit.0.is_none() {
                if let Some(status) = binary.child.try_wait().expect("try_wait") {
                    *exit = (Some(status), since.elapsed());
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    out
}
