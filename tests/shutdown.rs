//! SIGTERM under load, against the real binary: every request is either answered in full
//! (and logged exactly once) or refused at connect; the process exits 0 within its bound.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Binary, sign, spawn_app_with, test_settings};
use serde_json::Value;
use stream_webhooks::event::WebhookEvent;
use stream_webhooks::processor::{EventProcessor, ProcessFuture};

#[derive(Debug, Default)]
struct Outcomes {
    accepted: Vec<String>,
    refused: usize,
    other: Vec<String>,
}

async fn drive(base: String, worker: usize, stop: Arc<AtomicBool>) -> Outcomes {
    // One connection per request: a refused connect is then the only other outcome.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut outcomes = Outcomes::default();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let id = format!("w{worker}-{n}");
        let body = format!(r#"{{"type":"call.created","call":{{"id":"{id}"}}}}"#);
        let sent = client
            .post(format!("{base}/api/webhooks"))
            .header("content-type", "application/json")
            .header("x-signature", sign(body.as_bytes()))
            .header("x-webhook-id", &id)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status() == 200 => {
                let answer: Value = response.json().await.expect("a complete 200 body");
                assert_eq!(answer["call_id"], id.as_str());
                outcomes.accepted.push(id);
            }
            Ok(response) => outcomes.other.push(format!("status {}", response.status())),
            Err(err) if err.is_connect() => {
                outcomes.refused += 1;
                // Stream would retry later; so does this worker, until told to stop.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(err) => outcomes.other.push(format!("{err:?}")),
        }
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_loses_nothing_and_exits_cleanly() {
    let mut binary = Binary::start(&[
        ("STREAM_WEBHOOKS__SERVER__SHUTDOWN_DELAY", "500ms"),
        ("STREAM_WEBHOOKS__SERVER__SHUTDOWN_TIMEOUT", "5s"),
    ]);
    let base = format!("http://{}", binary.public);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|worker| tokio::spawn(drive(base.clone(), worker, stop.clone())))
        .collect();

    tokio::time::sleep(Duration::from_millis(700)).await;
    binary.terminate();
    let status = tokio::task::spawn_blocking(move || {
        let status = binary.wait(Duration::from_secs(10));
        (status, binary)
    });
    let (status, binary) = status.await.expect("waits");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);

    let mut accepted = Vec::new();
    let mut refused = 0;
    for worker in workers {
        let outcomes = worker.await.expect("worker finishes");
        assert!(
            outcomes.other.is_empty(),
            "neither reset nor 5xx: {:?}",
            outcomes.other
        );
        accepted.extend(outcomes.accepted);
        refused += outcomes.refused;
    }
    assert_eq!(status.code(), Some(0), "clean exit");
    assert!(
        accepted.len() > 20,
        "traffic ran before the signal: {}",
        accepted.len()
    );
    assert!(refused > 0, "traffic went on after the listener closed");

    let logs = binary.remaining_lines();
    let mut logged: Vec<String> = logs
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["fields"]["message"] == "webhook accepted")
        .map(|line| {
            line["fields"]["webhook_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    logged.sort();
    accepted.sort();
    assert_eq!(logged, accepted, "every answered event logged exactly once");
}

/// Holds each event until told, after saying that it has one.
struct Held {
    arrived: Arc<tokio::sync::Notify>,
}

impl EventProcessor for Held {
    fn process<'a>(&'a self, _event: &'a WebhookEvent) -> ProcessFuture<'a> {
        Box::pin(async move {
            self.arrived.notify_one();
            tokio::time::sleep(Duration::from_millis(800)).await;
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_request_in_flight_when_the_stop_comes_still_gets_its_200() {
    let arrived = Arc::new(tokio::sync::Notify::new());
    let processor = Arc::new(Held {
        arrived: arrived.clone(),
    });
    let app = spawn_app_with(test_settings(&[]), processor).await;
    let body = br#"{"type":"call.created","call":{"id":"in-flight","type":"default"}}"#;
    let request = app
        .client
        .post(app.url())
        .header("content-type", "application/json")
        .header("x-signature", sign(body))
        .body(body.to_vec())
        .send();
    let pending = tokio::spawn(request);
    arrived.notified().await;
    app.stop().await;
    let response = pending
        .await
        .expect("joins")
        .expect("answered, not cut off");
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.expect("JSON answer");
    assert_eq!(answer["call_id"], "in-flight");
}
