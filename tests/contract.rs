//! The endpoint's contract (`shared/spec/process-webhook.md`) against the real server on a
//! real port: every status, every error body, the success body's fields.

mod common;

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::DateTime;
use common::{SECRET, TestApp, sample, sign, spawn_app, spawn_app_with, test_settings};
use serde_json::{Value, json};
use stream_webhooks::event::WebhookEvent;
use stream_webhooks::processor::{EventProcessor, ProcessFuture};
use stream_webhooks::settings::Secret;
use stream_webhooks::webhook::signature;

/// The spec's seven examples, byte for byte as `process-webhook.md` prints them.
const SPEC_EXAMPLES: [(&str, &str); 7] = [
    (
        "call.created",
        include_str!("fixtures/spec/call.created.json"),
    ),
    (
        "call.updated",
        include_str!("fixtures/spec/call.updated.json"),
    ),
    ("call.ended", include_str!("fixtures/spec/call.ended.json")),
    (
        "call.participant_joined",
        include_str!("fixtures/spec/call.participant_joined.json"),
    ),
    (
        "call.participant_left",
        include_str!("fixtures/spec/call.participant_left.json"),
    ),
    (
        "call.recording_started",
        include_str!("fixtures/spec/call.recording_started.json"),
    ),
    (
        "call.recording_stopped",
        include_str!("fixtures/spec/call.recording_stopped.json"),
    ),
];

fn created(call_id: &str) -> Vec<u8> {
    json!({"type": "call.created", "call": {"id": call_id, "type": "default"}})
        .to_string()
        .into_bytes()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip writes");
    encoder.finish().expect("gzip finishes")
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/json", "every answer is JSON");
    let body = response.json().await.expect("JSON body");
    (status, body)
}

async fn post(app: &TestApp, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, Value) {
    let mut request = app.client.post(app.url()).body(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    json_of(request.send().await.expect("request sent")).await
}

fn assert_accepted(body: &Value, event_type: &str, call_id: Option<&str>) {
    assert_eq!(body["received"], true);
    assert_eq!(body["event_type"], event_type);
    assert_eq!(body["call_id"].as_str(), call_id);
    let processed_at = body["processed_at"]
        .as_str()
        .expect("processed_at is a string");
    assert!(processed_at.ends_with('Z'), "UTC: {processed_at}");
    DateTime::parse_from_rfc3339(processed_at).expect("processed_at is RFC 3339");
    let duration = body["duration"].as_str().expect("duration is a string");
    let seconds: f64 = duration
        .strip_suffix('s')
        .expect("ends in s")
        .parse()
        .expect("number");
    assert!(
        seconds > 0.0 && seconds < 5.0,
        "a fast answer still shows its time: {duration}"
    );
    assert!(
        body.get("duplicate").is_none(),
        "first deliveries carry no duplicate flag"
    );
}

#[tokio::test]
async fn the_specs_seven_examples_are_accepted_with_the_documented_body() {
    let app = spawn_app().await;
    for (event_type, text) in SPEC_EXAMPLES {
        let (status, answer) = json_of(app.post_signed(text.as_bytes()).await).await;
        assert_eq!(status, 200, "{event_type}: {answer}");
        let example: Value = serde_json::from_str(text).expect("spec example is JSON");
        let call_id = example["call"]["id"].as_str();
        assert!(call_id.is_some(), "every spec example names its call");
        assert_accepted(&answer, event_type, call_id);
    }
    let metrics = app.metrics().await;
    for (event_type, _) in SPEC_EXAMPLES {
        let series = format!("stream_webhooks_events_total{{event_type=\"{event_type}\"}}");
        assert_eq!(sample(&metrics, &series), 1.0, "{series}");
    }
    app.stop().await;
}

#[tokio::test]
async fn signature_forms_stream_and_the_spec_use_are_accepted() {
    let app = spawn_app().await;
    let body = created("call_forms");
    let hex = sign(&body);
    for header in [hex.clone(), format!("sha256={hex}"), hex.to_uppercase()] {
        let headers = [
            ("content-type", "application/json"),
            ("x-signature", header.as_str()),
        ];
        let (status, answer) = post(&app, &headers, body.clone()).await;
        assert_eq!(status, 200, "{header}: {answer}");
        assert_accepted(&answer, "call.created", Some("call_forms"));
    }
    app.stop().await;
}

/// A named request (headers, body) and the status and error it must get.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[tokio::test]
async fn every_rejection_has_its_documented_status_and_error() {
    let app = spawn_app().await;
    let body = created("call_rejections");
    let good = sign(&body);
    let wrong = "ab".repeat(32);
    let json_type = ("content-type", "application/json");
    let cases: Vec<Case> = vec![
        (
            "no signature",
            vec![json_type],
            body.clone(),
            400,
            "Missing X-Signature header",
        ),
        (
            "empty signature",
            vec![json_type, ("x-signature", "")],
            body.clone(),
            400,
            "Missing X-Signature header",
        ),
        (
            "wrong signature",
            vec![json_type, ("x-signature", &wrong)],
            body.clone(),
            400,
            "Invalid webhook signature",
        ),
        (
            "signature of another body",
            vec![json_type, ("x-signature", &good)],
            created("call_other"),
            400,
            "Invalid webhook signature",
        ),
        (
            "text/plain",
            vec![("content-type", "text/plain"), ("x-signature", &good)],
            body.clone(),
            415,
            "Content-Type must be application/json",
        ),
        (
            "no content type",
            vec![("x-signature", &good)],
            body.clone(),
            415,
            "Content-Type must be application/json",
        ),
    ];
    for (name, headers, body, status, error) in cases {
        let (got, answer) = post(&app, &headers, body).await;
        assert_eq!((got, answer), (status, json!({ "error": error })), "{name}");
    }
    app.stop().await;
}

#[tokio::test]
async fn content_type_parameters_and_case_are_accepted() {
    let app = spawn_app().await;
    let body = created("call_ct");
    let signature = sign(&body);
    for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
        let headers = [
            ("content-type", content_type),
            ("x-signature", signature.as_str()),
        ];
        let (status, answer) = post(&app, &headers, body.clone()).await;
        assert_eq!(status, 200, "{content_type}: {answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_a_typed_json_object_are_invalid_json() {
    let app = spawn_app().await;
    let bodies: [&[u8]; 7] = [
        b"",
        b"{not json",
        b"[]",
        b"\"call.created\"",
        b"{\"call\":{\"id\":\"c\"}}",
        b"{\"type\":7}",
        b"{\"type\":\"call.created\"",
    ];
    for body in bodies {
        let (status, answer) = json_of(app.post_signed(body).await).await;
        let text = String::from_utf8_lossy(body);
        assert_eq!(
            (status, answer),
            (400, json!({"error": "Invalid JSON payload"})),
            "{text}"
        );
    }
    let metrics = app.metrics().await;
    let series = "stream_webhooks_rejected_total{reason=\"invalid_json\"}";
    assert_eq!(sample(&metrics, series), bodies.len() as f64);
    app.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(format!("{}/nope", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json_of(response).await,
        (404, json!({"error": "Not found"}))
    );
    let response = app.client.get(app.url()).send().await.expect("sent");
    assert_eq!(
        json_of(response).await,
        (405, json!({"error": "Method not allowed"}))
    );
    let response = app
        .client
        .put(app.url())
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        json_of(response).await,
        (405, json!({"error": "Method not allowed"}))
    );
    app.stop().await;
}

#[tokio::test]
async fn unknown_types_and_call_cids_are_accepted() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"type": "call.brand_new_thing"}),
            "call.brand_new_thing",
            None,
        ),
        (
            json!({"type": "call.live_started", "call_cid": "default:abc"}),
            "call.live_started",
            { Some("abc") },
        ),
        (
            json!({"type": "call.created", "call": {"id": "x"}, "call_cid": "default:y"}),
            { "call.created" },
            Some("x"),
        ),
        (
            json!({"type": "call.ended", "call": null, "created_at": null}),
            "call.ended",
            None,
        ),
    ];
    for (event, event_type, call_id) in cases {
        let body = event.to_string().into_bytes();
        let (status, answer) = json_of(app.post_signed(&body).await).await;
        assert_eq!(status, 200, "{event}: {answer}");
        assert_accepted(&answer, event_type, call_id);
    }
    let metrics = app.metrics().await;
    assert_eq!(
        sample(
            &metrics,
            "stream_webhooks_events_total{event_type=\"other\"}"
        ),
        1.0
    );
    app.stop().await;
}

#[tokio::test]
async fn gzip_bodies_are_inflated_and_verified_over_the_plain_bytes() {
    let app = spawn_app().await;
    let plain = created("call_gzip");
    let signature = sign(&plain);
    let packed = gzip(&plain);
    let declared = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("x-signature", signature.as_str()),
    ];
    let (status, answer) = post(&app, &declared, packed.clone()).await;
    assert_eq!(status, 200, "{answer}");
    assert_accepted(&answer, "call.created", Some("call_gzip"));
    let undeclared = [
        ("content-type", "application/json"),
        ("x-signature", signature.as_str()),
    ];
    let (status, _) = post(&app, &undeclared, packed.clone()).await;
    assert_eq!(status, 200, "gzip is recognised by its magic bytes too");
    let mut corrupt = packed;
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    corrupt.truncate(corrupt.len() - 4);
    let (status, answer) = post(&app, &declared, corrupt).await;
    assert_eq!(
        (status, answer),
        (400, json!({"error": "Invalid gzip body"}))
    );
    let metrics = app.metrics().await;
    let gzip_bodies = sample(
        &metrics,
        "stream_webhooks_body_bytes_count{encoding=\"gzip\"}",
    );
    assert!(
        gzip_bodies >= 2.0,
        "gzip bodies are measured: {gzip_bodies}"
    );
    app.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let settings = test_settings(&[("STREAM_WEBHOOKS__WEBHOOK__MAX_BODY_BYTES", "1024")]);
    let app = spawn_app_with(settings, Arc::new(Counting::default())).await;
    let filler = "x".repeat(1024);
    let large = json!({"type": "call.created", "pad": filler})
        .to_string()
        .into_bytes();
    let (status, answer) = json_of(app.post_signed(&large).await).await;
    assert_eq!(
        (status, answer),
        (413, json!({"error": "Payload too large"}))
    );
    let bomb = gzip(&large);
    assert!(bomb.len() < 1024, "the packed body itself fits");
    let signature = sign(&large);
    let headers = [
        ("content-type", "application/json"),
        ("content-encoding", "gzip"),
        ("x-signature", signature.as_str()),
    ];
    let (status, answer) = post(&app, &headers, bomb).await;
    assert_eq!(
        (status, answer),
        (413, json!({"error": "Payload too large"}))
    );
    app.stop().await;
}

/// Counts calls; fails while `failures` is above zero.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
    failures: AtomicUsize,
}

impl EventProcessor for Counting {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        Box::pin(async move {
            if failing {
                anyhow::bail!("sink unavailable: connection refused");
            }
            Ok(())
        })
    }
}

async fn deliver(app: &TestApp, id: &str, body: &[u8]) -> (u16, Value) {
    let signature = sign(body);
    let headers = [
        ("content-type", "application/json"),
        ("x-signature", signature.as_str()),
        ("x-webhook-id", id),
        ("x-webhook-attempt", "1"),
    ];
    post(app, &headers, body.to_vec()).await
}

#[tokio::test]
async fn a_failing_processor_answers_500_and_its_retry_is_processed() {
    let processor = Arc::new(Counting::default());
    processor.failures.store(1, Ordering::SeqCst);
    let app = spawn_app_with(test_settings(&[]), processor.clone()).await;
    let body = created("call_retry");
    let first = deliver(&app, "delivery-1", &body).await;
    assert_eq!(first, (500, json!({"error": "Failed to process webhook"})));
    let (status, answer) = deliver(&app, "delivery-1", &body).await;
    assert_eq!(
        status, 200,
        "the retry of a failed delivery is processed: {answer}"
    );
    assert_accepted(&answer, "call.created", Some("call_retry"));
    assert_eq!(processor.calls.load(Ordering::SeqCst), 2);
    let metrics = app.metrics().await;
    let failed = "stream_webhooks_rejected_total{reason=\"processing_failed\"}";
    assert_eq!(sample(&metrics, failed), 1.0);
    let created = "stream_webhooks_events_total{event_type=\"call.created\"}";
    assert_eq!(
        sample(&metrics, created),
        1.0,
        "only the processed delivery counts"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_delivery_is_answered_without_processing_it_again() {
    let processor = Arc::new(Counting::default());
    let app = spawn_app_with(test_settings(&[]), processor.clone()).await;
    let body = created("call_dup");
    let (status, first) = deliver(&app, "delivery-dup", &body).await;
    assert_eq!(status, 200);
    assert_accepted(&first, "call.created", Some("call_dup"));
    let (status, second) = deliver(&app, "delivery-dup", &body).await;
    assert_eq!(status, 200);
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(second["event_type"], "call.created");
    let (status, other) = deliver(&app, "delivery-other", &body).await;
    assert_eq!((status, other.get("duplicate")), (200, None));
    assert_eq!(processor.calls.load(Ordering::SeqCst), 2);
    let metrics = app.metrics().await;
    assert_eq!(sample(&metrics, "stream_webhooks_duplicates_total"), 1.0);
    assert_eq!(
        sample(
            &metrics,
            "stream_webhooks_delivery_attempts_total{attempt=\"1\"}"
        ),
        3.0
    );
    app.stop().await;
}

#[tokio::test]
async fn previous_secrets_verify_during_rotation() {
    let settings = test_settings(&[(
        "STREAM_WEBHOOKS__WEBHOOK__PREVIOUS_SECRETS",
        "old-secret-number-one-0000,old-secret-number-two-0000",
    )]);
    let app = spawn_app_with(settings, Arc::new(Counting::default())).await;
    let body = created("call_rotation");
    for secret in [
        SECRET,
        "old-secret-number-one-0000",
        "old-secret-number-two-0000",
    ] {
        let signature = signature::sign(&Secret::new(secret), &body);
        let headers = [
            ("content-type", "application/json"),
            ("x-signature", &signature),
        ];
        let (status, answer) = post(&app, &headers, body.clone()).await;
        assert_eq!(status, 200, "{answer}");
    }
    let stranger = signature::sign(&Secret::new("never-configured-secret-00"), &body);
    let headers = [
        ("content-type", "application/json"),
        ("x-signature", stranger.as_str()),
    ];
    let (status, _) = post(&app, &headers, body).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn api_keys_pick_the_secret_and_unknown_keys_are_refused() {
    let mut settings = test_settings(&[]);
    let keyed = "tenant-b-secret-0123456789";
    settings
        .webhook
        .api_keys
        .insert("key-b".into(), Secret::new(keyed));
    settings.webhook.api_key = Some("key-a".into());
    let app = spawn_app_with(settings, Arc::new(Counting::default())).await;
    let body = created("call_keys");
    let main = sign(&body);
    let tenant_b = signature::sign(&Secret::new(keyed), &body);
    let cases = [
        ("key-a", main.as_str(), 200, None),
        ("key-b", tenant_b.as_str(), 200, None),
        (
            "key-b",
            main.as_str(),
            400,
            Some("Invalid webhook signature"),
        ),
        ("key-c", main.as_str(), 400, Some("Unknown API key")),
    ];
    for (key, signature, status, error) in cases {
        let headers = [
            ("content-type", "application/json"),
            ("x-signature", signature),
            ("x-api-key", key),
        ];
        let (got, answer) = post(&app, &headers, body.clone()).await;
        assert_eq!(got, status, "{key}: {answer}");
        if let Some(error) = error {
            assert_eq!(answer, json!({ "error": error }), "{key}");
        }
    }
    app.stop().await;
}

/// Neither the secret, a signature nor anything of a body reaches the metrics or an
/// error answer, whatever the request.
#[tokio::test]
async fn no_secret_signature_or_body_reaches_metrics_or_answers() {
    let app = spawn_app().await;
    let marker = "body-marker-7c1e";
    let body = json!({"type": "call.created", "call": {"id": marker, "type": marker}}).to_string();
    let signature = sign(body.as_bytes());
    let mut answers = Vec::new();
    let requests = [
        (signature.clone(), "application/json", body.clone()),
        (
            signature.clone(),
            "application/json",
            format!("{body} trailing"),
        ),
        (
            format!("sha256={}", &signature[..63]),
            "application/json",
            body.clone(),
        ),
        (signature.clone(), "text/plain", body.clone()),
        (marker.to_owned(), "application/json", body.clone()),
    ];
    for (signature, content_type, body) in requests {
        let response = app
            .client
            .post(app.url())
            .header("content-type", content_type)
            .header("x-signature", signature)
            .header("x-webhook-id", marker)
            .body(body)
            .send()
            .await
            .expect("sends");
        let status = response.status().as_u16();
        let text = response.text().await.expect("answer");
        if status != 200 {
            answers.push(text);
        }
    }
    assert_eq!(answers.len(), 4, "{answers:?}");
    let metrics = app.metrics().await;
    let scraped = [metrics.as_str()]
        .into_iter()
        .chain(answers.iter().map(String::as_str));
    for text in scraped {
        for needle in [SECRET, &signature, &signature[..16], marker] {
            assert!(!text.contains(needle), "`{needle}` exposed in: {text}");
        }
    }
    app.stop().await;
}
