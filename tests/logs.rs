//! Logs, read from the real binary's standard output: one info line per accepted event,
//! one warn line per rejection, error lines for 5xx, trace and span ids that join the
//! exported spans, the level from `RUST_LOG` or `log.level`, and the format per environment.
//! The subscriber is global to a process, so each case starts its own binary; the one case
//! the binary cannot reach (a failing processor) runs in-process under a thread-local
//! subscriber.

mod common;
mod telemetry;

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Binary, SECRET, sign};
use serde_json::Value;
use stream_webhooks::event::WebhookEvent;
use stream_webhooks::processor::{EventProcessor, ProcessFuture};
use stream_webhooks::settings::LogFormat;
use stream_webhooks::telemetry::log_layer;
use telemetry::{
    Protocol, Receiver, SERVER_SPAN, TRACE_ID, int_attr, post, runtime, server_span,
    server_spans_with, str_attr, traceparent, unfinished_request,
};
use tokio::runtime::Runtime;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Registry};

/// A `call.ended` event; `body-marker` must never reach a log line.
const EVENT: &str = concat!(
    r#"{"type":"call.ended","call_cid":"default:log-call","call":{"id":"log-call","#,
    r#""type":"default","cid":"default:log-call"},"custom":{"note":"body-marker"}}"#
);

/// Text no log line may contain: the secret, a body's content.
const NEVER_LOGGED: [&str; 2] = [SECRET, "body-marker"];

/// Shows every line when an assertion fails.
fn dump(lines: &[String]) -> String {
    lines.join("\n")
}

/// Every line as JSON; any line that is not JSON fails the test.
fn json(lines: &[String]) -> Vec<Value> {
    let parse = |line: &String| {
        serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
    };
    lines.iter().map(parse).collect()
}

fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == message)
        .collect()
}

fn at_level<'a>(lines: &'a [Value], level: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["level"] == level).collect()
}

fn assert_nothing_secret(lines: &[String], signatures: &[&str]) {
    for line in lines {
        for secret in NEVER_LOGGED.iter().chain(signatures) {
            assert!(!line.contains(secret), "`{secret}` logged: {line}");
        }
    }
}

/// Starts the binary (JSON logs), runs `requests` against its public address, stops it
/// with SIGTERM and returns every line it printed after start-up.
fn run(extra: &[(&str, &str)], requests: impl FnOnce(&Runtime, SocketAddr)) -> Vec<String> {
    let binary = Binary::start(extra);
    stop_after(binary, requests)
}

fn stop_after(mut binary: Binary, requests: impl FnOnce(&Runtime, SocketAddr)) -> Vec<String> {
    let runtime = runtime();
    requests(&runtime, binary.public);
    binary.terminate();
    assert!(binary.wait(Duration::from_secs(10)).success());
    binary.remaining_lines()
}

fn send_event(runtime: &Runtime, public: SocketAddr, headers: &[(&str, &str)]) -> u16 {
    let client = reqwest::Client::new();
    let signature = sign(EVENT.as_bytes());
    runtime.block_on(post(&client, public, EVENT, &signature, headers))
}

/// A request refused for `reason`, sent by `send`.
struct Refusal {
    reason: &'static str,
    status: u16,
    send: fn(&reqwest::Client, SocketAddr) -> reqwest::RequestBuilder,
}

fn webhook(client: &reqwest::Client, public: SocketAddr) -> reqwest::RequestBuilder {
    client.post(format!("http://{public}/api/webhooks"))
}

const FORGED: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn refusals() -> Vec<Refusal> {
    vec![
        Refusal {
            reason: "invalid_signature",
            status: 400,
            send: |client, public| {
                webhook(client, public)
                    .header("content-type", "application/json")
                    .header("x-signature", FORGED)
                    .body(EVENT)
            },
        },
        Refusal {
            reason: "missing_signature",
            status: 400,
            send: |client, public| {
                webhook(client, public)
                    .header("content-type", "application/json")
                    .body(EVENT)
            },
        },
        Refusal {
            reason: "invalid_json",
            status: 400,
            send: |client, public| {
                let body = "body-marker, not JSON";
                webhook(client, public)
                    .header("content-type", "application/json")
                    .header("x-signature", sign(body.as_bytes()))
                    .body(body)
            },
        },
        Refusal {
            reason: "unsupported_media_type",
            status: 415,
            send: |client, public| {
                webhook(client, public)
                    .header("content-type", "text/plain")
                    .header("x-signature", sign(EVENT.as_bytes()))
                    .body(EVENT)
            },
        },
    ]
}

// === accepted and refused ===

#[test]
fn an_accepted_event_logs_one_info_line_with_its_delivery() {
    let lines = run(&[], |runtime, public| {
        let headers = [("x-webhook-id", "wh-log-1"), ("x-webhook-attempt", "3")];
        assert_eq!(send_event(runtime, public, &headers), 200);
    });
    let values = json(&lines);
    let accepted = with_message(&values, "webhook accepted");
    assert_eq!(accepted.len(), 1, "{}", dump(&lines));
    let line = accepted[0];
    let fields = &line["fields"];
    assert_eq!(line["level"], "INFO");
    assert_eq!(fields["event_type"], "call.ended");
    assert_eq!(fields["call_cid"], "default:log-call");
    assert_eq!(fields["webhook_id"], "wh-log-1");
    assert_eq!(fields["attempt"], 3);
    assert_eq!(fields["status"], 200);
    let duration = fields["duration_seconds"]
        .as_f64()
        .expect("duration_seconds");
    assert!((0.0..5.0).contains(&duration), "{line}");
    assert!(at_level(&values, "WARN").is_empty(), "{}", dump(&lines));
    assert!(at_level(&values, "ERROR").is_empty(), "{}", dump(&lines));
    assert_nothing_secret(&lines, &[&sign(EVENT.as_bytes())]);
}

#[test]
fn each_rejection_logs_one_warn_line_with_its_reason() {
    let refusals = refusals();
    let lines = run(&[], |runtime, public| {
        let client = reqwest::Client::new();
        for refusal in &refusals {
            let response = runtime.block_on((refusal.send)(&client, public).send());
            let status = response.expect("answered").status().as_u16();
            assert_eq!(status, refusal.status, "{}", refusal.reason);
        }
    });
    let values = json(&lines);
    let warnings = at_level(&values, "WARN");
    assert_eq!(warnings.len(), refusals.len(), "{}", dump(&lines));
    for refusal in &refusals {
        let reason = refusal.reason;
        let lines_for: Vec<_> = warnings
            .iter()
            .filter(|l| l["fields"]["reason"] == reason)
            .collect();
        assert_eq!(
            lines_for.len(),
            1,
            "one line for {reason}: {}",
            dump(&lines)
        );
        assert_eq!(lines_for[0]["fields"]["status"], refusal.status, "{reason}");
        assert_eq!(
            lines_for[0]["fields"]["message"], "webhook refused",
            "{reason}"
        );
    }
    assert!(with_message(&values, "webhook accepted").is_empty());
    let signatures = [
        FORGED.to_owned(),
        sign(b"body-marker, not JSON"),
        sign(EVENT.as_bytes()),
    ];
    let signatures: Vec<&str> = signatures.iter().map(String::as_str).collect();
    assert_nothing_secret(&lines, &signatures);
}

#[test]
fn a_request_timeout_logs_one_error_line() {
    let extra = [("STREAM_WEBHOOKS__SERVER__REQUEST_TIMEOUT", "300ms")];
    let lines = run(&extra, |_, public| {
        assert_eq!(unfinished_request(public), 503)
    });
    let values = json(&lines);
    let errors = at_level(&values, "ERROR");
    assert_eq!(errors.len(), 1, "{}", dump(&lines));
    assert_eq!(errors[0]["fields"]["reason"], "timeout");
    assert_eq!(errors[0]["fields"]["status"], 503);
}

/// A processor that fails with a two-level cause.
struct Refuse;

impl EventProcessor for Refuse {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        Box::pin(async { Err(anyhow::anyhow!("disk full").context("sink unavailable")) })
    }
}

/// Log lines written to memory.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The binary's processor never fails, so this runs in-process: the current-thread
/// runtime keeps the service, the client and the thread-local subscriber on one thread.
#[tokio::test]
async fn a_processor_failure_logs_an_error_with_its_cause_chain() {
    let capture = Capture::default();
    let writer = capture.clone();
    // The service's own log layer, writing into the capture.
    let logs = log_layer(LogFormat::Json, EnvFilter::new("info"), move || {
        writer.clone()
    });
    let _guard = tracing::subscriber::set_default(Registry::default().with(logs));
    let settings = common::test_settings(&[]);
    let app = common::spawn_app_with(settings, Arc::new(Refuse)).await;
    let response = app.post_signed(EVENT.as_bytes()).await;
    assert_eq!(response.status().as_u16(), 500);
    let body = response.text().await.expect("body");
    assert!(
        !body.contains("disk full"),
        "internals in the answer: {body}"
    );
    app.stop().await;

    let text = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let values = json(&lines);
    let errors = at_level(&values, "ERROR");
    assert_eq!(errors.len(), 1, "{text}");
    let fields = &errors[0]["fields"];
    assert_eq!(fields["reason"], "processing_failed");
    assert_eq!(fields["status"], 500);
    assert_eq!(
        fields["error"], "sink unavailable: disk full",
        "the cause chain"
    );
    assert!(
        with_message(&values, "webhook accepted").is_empty(),
        "{text}"
    );
    assert_nothing_secret(&lines, &[&sign(EVENT.as_bytes())]);
}

// === trace ids ===

/// Starts the binary exporting over gRPC to a fresh receiver.
fn start_traced(runtime: &Runtime, extra: &[(&str, &str)]) -> (Receiver, Binary) {
    let receiver = Receiver::start(runtime, Protocol::Grpc);
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    env.extend_from_slice(extra);
    let binary = Binary::start(&env);
    (receiver, binary)
}

/// The trace and span id a JSON line carries, from its span or its top level.
fn ids(line: &Value) -> (Option<&str>, Option<&str>) {
    let find = |key: &str| line["fields"][key].as_str();
    (find("trace_id"), find("span_id"))
}

#[test]
fn json_lines_carry_the_trace_and_span_ids_of_the_exported_spans() {
    let runtime = runtime();
    let (receiver, mut binary) = start_traced(&runtime, &[]);
    let traceparent = traceparent();
    let child = [
        ("traceparent", traceparent.as_str()),
        ("x-webhook-id", "wh-child"),
    ];
    assert_eq!(send_event(&runtime, binary.public, &child), 200);
    assert_eq!(
        send_event(&runtime, binary.public, &[("x-webhook-id", "wh-root")]),
        200
    );
    let client = reqwest::Client::new();
    let forged = runtime.block_on(post(&client, binary.public, EVENT, FORGED, &[]));
    assert_eq!(forged, 400);
    receiver
        .received
        .wait_for("the spans", Duration::from_secs(15), |spans| {
            let servers = spans.iter().filter(|e| e.span.name == SERVER_SPAN).count();
            servers == 3 && server_spans_with(&[200, 400])(spans)
        });
    binary.terminate();
    assert!(binary.wait(Duration::from_secs(10)).success());
    let lines = binary.remaining_lines();
    let values = json(&lines);
    let spans = receiver.received.spans();

    let by_webhook_id = |id: &str| {
        let found = spans.iter().find(|e| {
            e.span.name == SERVER_SPAN
                && str_attr(&e.span.attributes, "stream.webhook_id") == Some(id)
        });
        &found
            .unwrap_or_else(|| panic!("no span for {id}: {spans:#?}"))
            .span
    };
    let accepted = with_message(&values, "webhook accepted");
    assert_eq!(accepted.len(), 2, "{}", dump(&lines));
    for id in ["wh-child", "wh-root"] {
        let span = by_webhook_id(id);
        let line = accepted
            .iter()
            .find(|l| l["fields"]["webhook_id"] == id)
            .expect("line");
        let (trace_id, span_id) = ids(line);
        assert_eq!(
            trace_id,
            Some(hex::encode(&span.trace_id).as_str()),
            "{id}: {line}"
        );
        assert_eq!(
            span_id,
            Some(hex::encode(&span.span_id).as_str()),
            "{id}: {line}"
        );
    }
    assert_eq!(hex::encode(&by_webhook_id("wh-child").trace_id), TRACE_ID);

    let refused = &server_span(&spans, 400).expect("400 span").span;
    let warnings = at_level(&values, "WARN");
    assert_eq!(warnings.len(), 1, "{}", dump(&lines));
    let (trace_id, span_id) = ids(warnings[0]);
    assert_eq!(
        trace_id,
        Some(hex::encode(&refused.trace_id).as_str()),
        "{}",
        warnings[0]
    );
    assert_eq!(
        span_id,
        Some(hex::encode(&refused.span_id).as_str()),
        "{}",
        warnings[0]
    );
    assert_eq!(
        int_attr(&refused.attributes, "http.response.status_code"),
        Some(400)
    );
}

#[test]
fn warn_lines_keep_their_trace_id_when_info_lines_are_filtered_out() {
    let runtime = runtime();
    let extra = [("RUST_LOG", "warn,stream_webhooks::cli=info")];
    let (receiver, mut binary) = start_traced(&runtime, &extra);
    let client = reqwest::Client::new();
    let forged = runtime.block_on(post(&client, binary.public, EVENT, FORGED, &[]));
    assert_eq!(forged, 400);
    receiver.received.wait_for(
        "the 400 span",
        Duration::from_secs(15),
        server_spans_with(&[400]),
    );
    binary.terminate();
    assert!(binary.wait(Duration::from_secs(10)).success());
    let lines = binary.remaining_lines();
    let values = json(&lines);
    let spans = receiver.received.spans();
    let refused = &server_span(&spans, 400).expect("400 span").span;
    let warnings = at_level(&values, "WARN");
    assert_eq!(warnings.len(), 1, "{}", dump(&lines));
    let (trace_id, _) = ids(warnings[0]);
    assert_eq!(
        trace_id,
        Some(hex::encode(&refused.trace_id).as_str()),
        "{}",
        warnings[0]
    );
}

// === level ===

#[test]
fn rust_log_sets_the_level_over_the_setting() {
    let extra = [
        ("RUST_LOG", "warn,stream_webhooks::cli=info"),
        ("STREAM_WEBHOOKS__LOG__LEVEL", "debug"),
    ];
    let lines = run(&extra, |runtime, public| {
        assert_eq!(send_event(runtime, public, &[]), 200);
        let client = reqwest::Client::new();
        assert_eq!(
            runtime.block_on(post(&client, public, EVENT, FORGED, &[])),
            400
        );
    });
    let values = json(&lines);
    assert!(
        with_message(&values, "webhook accepted").is_empty(),
        "{}",
        dump(&lines)
    );
    assert_eq!(at_level(&values, "WARN").len(), 1, "{}", dump(&lines));
    assert!(at_level(&values, "DEBUG").is_empty(), "{}", dump(&lines));
}

#[test]
fn the_level_setting_lowers_the_level() {
    let extra = [(
        "STREAM_WEBHOOKS__LOG__LEVEL",
        "warn,stream_webhooks::cli=info",
    )];
    let lines = run(&extra, |runtime, public| {
        assert_eq!(send_event(runtime, public, &[]), 200);
    });
    let values = json(&lines);
    assert!(
        with_message(&values, "webhook accepted").is_empty(),
        "{}",
        dump(&lines)
    );
}

#[test]
fn the_level_setting_raises_the_level() {
    let extra = [("STREAM_WEBHOOKS__LOG__LEVEL", "debug")];
    let lines = run(&extra, |runtime, public| {
        let url = format!("http://{public}/nowhere");
        let response = runtime.block_on(reqwest::Client::new().get(url).send());
        assert_eq!(response.expect("answered").status().as_u16(), 404);
    });
    let values = json(&lines);
    let debug = at_level(&values, "DEBUG");
    let not_found = debug.iter().find(|l| l["fields"]["reason"] == "not_found");
    assert!(not_found.is_some(), "{}", dump(&lines));
}

// === format ===

/// Starts the binary with the test environment plus `extra` and no log format forced,
/// reading the ports from its start-up line, JSON or text.
fn start_unformatted(extra: &[(&str, &str)]) -> Binary {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stream-webhooks"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command.envs(common::test_env()).envs(extra.iter().copied());
    command.stdout(Stdio::piped()).stderr(Stdio::null());
    let mut child = command.spawn().expect("binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let lines = common::lines_of(stdout);
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .expect("start-up line");
        if !line.contains("stream-webhooks started") {
            continue;
        }
        let (public, admin) = match serde_json::from_str::<Value>(&line) {
            Ok(json) => (
                address(&json["fields"]["public"]),
                address(&json["fields"]["admin"]),
            ),
            Err(_) => (
                text_address(&line, "public="),
                text_address(&line, "admin="),
            ),
        };
        return Binary {
            child,
            public,
            admin,
            lines,
        };
    }
}

fn address(value: &Value) -> SocketAddr {
    value
        .as_str()
        .expect("address")
        .parse()
        .expect("socket address")
}

fn text_address(line: &str, key: &str) -> SocketAddr {
    let start = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len();
    let token = line[start..].split_whitespace().next().expect("address");
    token.trim_matches('"').parse().expect("socket address")
}

fn accepted_and_refused(runtime: &Runtime, public: SocketAddr) {
    assert_eq!(
        send_event(runtime, public, &[("x-webhook-id", "wh-text-1")]),
        200
    );
    let client = reqwest::Client::new();
    assert_eq!(
        runtime.block_on(post(&client, public, EVENT, FORGED, &[])),
        400
    );
}

fn assert_text(lines: &[String]) {
    assert!(!lines.is_empty());
    for line in lines {
        assert!(
            serde_json::from_str::<Value>(line).is_err(),
            "a JSON line: {line}"
        );
    }
    let accepted = lines.iter().find(|l| l.contains("webhook accepted"));
    let accepted = accepted.unwrap_or_else(|| panic!("no accepted line: {}", dump(lines)));
    assert!(accepted.contains("INFO"), "{accepted}");
    for field in ["call.ended", "default:log-call", "wh-text-1", "status=200"] {
        assert!(accepted.contains(field), "{field} missing: {accepted}");
    }
    let refused = lines.iter().find(|l| l.contains("webhook refused"));
    let refused = refused.unwrap_or_else(|| panic!("no refused line: {}", dump(lines)));
    assert!(
        refused.contains("WARN") && refused.contains("invalid_signature"),
        "{refused}"
    );
}

#[test]
fn development_writes_readable_lines() {
    let lines = stop_after(start_unformatted(&[]), accepted_and_refused);
    assert_text(&lines);
}

/// Production without a delay before closing the listener, so that the test is quick.
const PRODUCTION: [(&str, &str); 2] = [
    ("STREAM_WEBHOOKS_ENV", "production"),
    ("STREAM_WEBHOOKS__SERVER__SHUTDOWN_DELAY", "0s"),
];

#[test]
fn production_writes_json_lines() {
    let lines = stop_after(start_unformatted(&PRODUCTION), accepted_and_refused);
    let values = json(&lines);
    assert_eq!(
        with_message(&values, "webhook accepted").len(),
        1,
        "{}",
        dump(&lines)
    );
}

#[test]
fn the_format_setting_overrides_the_environment() {
    let mut extra = PRODUCTION.to_vec();
    extra.push(("STREAM_WEBHOOKS__LOG__FORMAT", "text"));
    let lines = stop_after(start_unformatted(&extra), accepted_and_refused);
    assert_text(&lines);
}
