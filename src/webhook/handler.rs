//! The handler: a verified event is processed once and answered with the documented
//! JSON; a repeated delivery is answered without processing it again.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use tracing::{Instrument, Span};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Rejection, reject};

use super::{SharedState, WebhookError};
use crate::event::WebhookEvent;
use crate::telemetry::propagation::TraceIds;

/// Longest `X-Webhook-Id` kept; Stream's ids are UUIDs.
const MAX_WEBHOOK_ID_BYTES: usize = 256;

/// Stream's delivery headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// `X-Webhook-Id`: the same on every retry of one delivery.
    pub webhook_id: Option<String>,
    /// `X-Webhook-Attempt`: 1 for the first try.
    pub attempt: Option<u32>,
}

/// The 200 answer of the spec, with `duplicate` added for repeated deliveries.
#[derive(Serialize)]
struct Accepted<'a> {
    received: bool,
    event_type: &'a str,
    call_id: Option<&'a str>,
    processed_at: String,
    duration: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    duplicate: bool,
}

impl Delivery {
    /// Reads the headers leniently: an unreadable value counts as absent.
    pub fn from_headers(id: Option<HeaderValue>, attempt: Option<HeaderValue>) -> Self {
        let text = |v: &HeaderValue| v.to_str().ok().map(str::trim).map(str::to_owned);
        Self {
            webhook_id: id
                .as_ref()
                .and_then(text)
                .filter(|id| !id.is_empty() && id.len() <= MAX_WEBHOOK_ID_BYTES),
            attempt: attempt.as_ref().and_then(text).and_then(|a| a.parse().ok()),
        }
    }
}

/// Processes a verified event, or recognises it as already processed.
pub async fn accept(
    arrival: Instant,
    delivery: Delivery,
    event: WebhookEvent,
    state: SharedState,
) -> Result<Response, Rejection> {
    describe_span(&delivery, &event);
    state.metrics.attempt(delivery.attempt);
    if let Some(mismatch) = &event.mismatch {
        let (line, column) = (mismatch.line, mismatch.column);
        let event_type = event.event_type.as_str();
        let ids = TraceIds::current();
        tracing::warn!(
            event_type,
            line,
            column,
            trace_id = ids.trace_id(),
            span_id = ids.span_id(),
            "event does not fit its model; taken as generic"
        );
    }
    let duplicate = is_duplicate(&state, &delivery);
    if duplicate {
        state.metrics.duplicate();
    } else {
        process(&state, &delivery, &event).await?;
    }
    let duration = arrival.elapsed();
    log_accepted(&delivery, &event, duration, duplicate);
    Ok(answer(&event, duration, duplicate))
}

fn is_duplicate(state: &SharedState, delivery: &Delivery) -> bool {
    let id = delivery.webhook_id.as_deref();
    id.is_some_and(|id| state.dedupe.contains(id, Instant::now()))
}

async fn process(
    state: &SharedState,
    delivery: &Delivery,
    event: &WebhookEvent,
) -> Result<(), Rejection> {
    let span = tracing::info_span!("process_event");
    let result = state.pipeline.process(event).instrument(span).await;
    result.map_err(|cause| reject::custom(WebhookError::ProcessingFailed(cause)))?;
    // Only a success is remembered, so that Stream's retry of a failure is processed.
    if let Some(id) = &delivery.webhook_id {
        state.dedupe.insert(id, Instant::now());
    }
    Ok(())
}

fn describe_span(delivery: &Delivery, event: &WebhookEvent) {
    let span = Span::current();
    span.record("stream.event_type", event.event_type.as_str());
    if let Some(cid) = &event.call_cid {
        span.record("stream.call_cid", cid.as_str());
    }
    if let Some(id) = &delivery.webhook_id {
        span.record("stream.webhook_id", id.as_str());
    }
    if let Some(attempt) = delivery.attempt {
        // As i64: tracing-opentelemetry exports other integer widths as strings.
        span.record("stream.webhook_attempt", i64::from(attempt));
    }
}

fn log_accepted(delivery: &Delivery, event: &WebhookEvent, duration: Duration, duplicate: bool) {
    let ids = TraceIds::current();
    tracing::info!(
        event_type = event.event_type.as_str(),
        call_cid = event.call_cid.as_deref(),
        webhook_id = delivery.webhook_id.as_deref(),
        attempt = delivery.attempt,
        status = 200,
        duration_seconds = duration.as_secs_f64(),
        duplicate,
        trace_id = ids.trace_id(),
        span_id = ids.span_id(),
        "webhook accepted"
    );
}

fn answer(event: &WebhookEvent, duration: Duration, duplicate: bool) -> Response {
    let body = Accepted {
        received: true,
        event_type: &event.event_type,
        call_id: event.call_id.as_deref(),
        processed_at: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        duration: format!("{:.6}s", duration.as_secs_f64()),
        duplicate,
    };
    warp::reply::with_status(warp::reply::json(&body), StatusCode::OK).into_response()
}
