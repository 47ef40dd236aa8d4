//! Stream's own signature test vectors and captured bodies (`tests/fixtures/`, copied from
//! `shared/stream/`), sent byte for byte to the real server.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::{TestApp, sign, spawn_app_with, test_settings};
use serde::Deserialize;
use serde_json::{Value, json};
use stream_webhooks::processor::Acknowledge;

const VECTORS: &str = include_str!("fixtures/vectors.json");
const CAPTURED: [&str; 2] = [
    include_str!("fixtures/bodies_2023.jsonl"),
    include_str!("fixtures/bodies_2026.jsonl"),
];

#[derive(Deserialize)]
struct Vectors {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    id: String,
    secret: Option<String>,
    signature: String,
    expected_valid: bool,
    #[serde(default)]
    body_base64: Option<String>,
    #[serde(default)]
    gzip_body_base64: Option<String>,
}

fn vectors() -> Vec<Vector> {
    let parsed: Vectors = serde_json::from_str(VECTORS).expect("vectors parse");
    parsed.vectors
}

fn decode(text: &str) -> Vec<u8> {
    STANDARD.decode(text).expect("fixture base64")
}

/// One app that knows every secret of the vectors, as rotation allows.
async fn app_with_vector_secrets() -> TestApp {
    let secrets: BTreeSet<String> = vectors().into_iter().filter_map(|v| v.secret).collect();
    assert!(
        secrets.iter().all(|s| !s.contains(',')),
        "secrets are list-separable"
    );
    let joined = secrets.into_iter().collect::<Vec<_>>().join(",");
    let settings = test_settings(&[("STREAM_WEBHOOKS__WEBHOOK__PREVIOUS_SECRETS", &joined)]);
    spawn_app_with(settings, Arc::new(Acknowledge)).await
}

async fn send(app: &TestApp, body: Vec<u8>, signature: &str, gzip: bool) -> (u16, Value) {
    let mut request = app
        .client
        .post(app.url())
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .body(body);
    if gzip {
        request = request.header("content-encoding", "gzip");
    }
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON answer"))
}

/// What a correct receiver answers for a verified body: the type, or invalid JSON.
fn verdict_for_verified(body: &[u8]) -> (u16, Option<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    match parsed
        .as_ref()
        .and_then(|v| v.get("type"))
        .and_then(Value::as_str)
    {
        Some(event_type) => (200, Some(event_type.to_owned())),
        None => (400, None),
    }
}

#[tokio::test]
async fn every_vector_gets_the_verdict_of_streams_sdks() {
    let app = app_with_vector_secrets().await;
    let mut checked = 0;
    for vector in vectors() {
        let Some(_) = &vector.secret else { continue };
        let body = vector
            .body_base64
            .as_deref()
            .map(decode)
            .unwrap_or_default();
        let (status, answer) = send(&app, body.clone(), &vector.signature, false).await;
        let id = &vector.id;
        if !vector.expected_valid {
            assert_eq!(
                (status, &answer),
                (400, &json!({"error": "Invalid webhook signature"})),
                "{id}"
            );
        } else {
            match verdict_for_verified(&body) {
                (200, event_type) => {
                    assert_eq!(status, 200, "{id}: {answer}");
                    assert_eq!(answer["event_type"].as_str(), event_type.as_deref(), "{id}");
                }
                _ => assert_eq!(
                    (status, &answer),
                    (400, &json!({"error": "Invalid JSON payload"})),
                    "{id}"
                ),
            }
        }
        checked += 1;
    }
    assert!(checked >= 20, "most vectors carry a secret: {checked}");
    app.stop().await;
}

#[tokio::test]
async fn gzip_variants_verify_over_the_inflated_bytes() {
    let app = app_with_vector_secrets().await;
    let mut checked = 0;
    for vector in vectors() {
        let Some(packed) = vector.gzip_body_base64.as_deref().map(decode) else {
            continue;
        };
        let id = &vector.id;
        let (status, answer) = send(&app, packed, &vector.signature, true).await;
        if id.ends_with("bad_compression") {
            assert_eq!(
                (status, answer),
                (400, json!({"error": "Invalid gzip body"})),
                "{id}"
            );
        } else {
            assert_eq!(status, 200, "{id}: {answer}");
        }
        checked += 1;
    }
    assert!(
        checked >= 10,
        "the stream-py vectors carry gzip variants: {checked}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_sdk_edge_cases_are_named_explicitly() {
    let app = app_with_vector_secrets().await;
    let expected = [
        ("stream-py/_invalid/unknown_type", 200),
        ("stream-py/_invalid/empty_body", 400),
        ("stream-py/_invalid/malformed_json", 400),
        ("stream-py/_invalid/missing_type", 400),
        ("stream-py/_invalid/tampered_body", 400),
        ("stream-chat-js/signing/json-tampered", 400),
    ];
    let all = vectors();
    for (id, status) in expected {
        let vector = all.iter().find(|v| v.id == id).expect("vector present");
        let body = vector
            .body_base64
            .as_deref()
            .map(decode)
            .unwrap_or_default();
        let (got, answer) = send(&app, body, &vector.signature, false).await;
        assert_eq!(got, status, "{id}: {answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn captured_bodies_are_accepted_as_their_type() {
    let app = app_with_vector_secrets().await;
    let mut seen = 0;
    for line in CAPTURED
        .iter()
        .flat_map(|file| file.lines())
        .filter(|l| !l.is_empty())
    {
        let body = line.as_bytes().to_vec();
        let event: Value = serde_json::from_str(line).expect("captured body is JSON");
        let (status, answer) = send(&app, body.clone(), &sign(&body), false).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["event_type"], event["type"]);
        let cid = event["call_cid"].as_str();
        let expected_call = cid.and_then(|c| c.split_once(':')).map(|(_, id)| id);
        assert_eq!(answer["call_id"].as_str(), expected_call);
        seen += 1;
    }
    assert_eq!(seen, 5);
    app.stop().await;
}
