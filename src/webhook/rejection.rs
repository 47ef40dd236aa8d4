//! Every way a webhook request can fail, and the one place each becomes a status, a
//! documented JSON body, a log line and a count.

use std::convert::Infallible;

use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::{Reply, Response};
use warp::{Rejection, reject};

use crate::metrics::Metrics;
use crate::telemetry::propagation::TraceIds;

/// A failed webhook request. The message is what the client reads; 5xx say nothing
/// about internals.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No route at that path.
    #[error("Not found")]
    NotFound,
    /// The path exists, the method does not.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// `Content-Type` is missing or not `application/json`.
    #[error("Content-Type must be application/json")]
    UnsupportedMediaType,
    /// `X-Signature` is missing or empty.
    #[error("Missing X-Signature header")]
    MissingSignature,
    /// `X-Signature` is malformed or does not match the body.
    #[error("Invalid webhook signature")]
    InvalidSignature,
    /// `X-Api-Key` names no configured app.
    #[error("Unknown API key")]
    UnknownApiKey,
    /// The body is over `webhook.max_body_bytes`, on the wire or inflated.
    #[error("Payload too large")]
    PayloadTooLarge,
    /// The body starts like gzip but does not inflate.
    #[error("Invalid gzip body")]
    InvalidGzip,
    /// The body did not arrive within `server.body_read_timeout`.
    #[error("Request body timed out")]
    BodyTimeout,
    /// The connection failed while the body was read.
    #[error("Invalid request body")]
    BodyInterrupted,
    /// The body is not a JSON object with a string `type`.
    #[error("Invalid JSON payload")]
    InvalidJson,
    /// The event processor failed; Stream retries on the 500.
    #[error("Failed to process webhook")]
    ProcessingFailed(#[source] anyhow::Error),
    /// `server.max_concurrent_requests` are already in progress.
    #[error("Service overloaded")]
    Overloaded,
    /// The request ran past `server.request_timeout`.
    #[error("Request timed out")]
    Timeout,
    /// A rejection no arm above knows: a bug, answered as an internal failure.
    #[error("Failed to process webhook")]
    Unexpected(String),
}

impl reject::Reject for WebhookError {}

impl WebhookError {
    /// The HTTP status of this failure.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ProcessingFailed(_) | Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Overloaded | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            Self::MissingSignature
            | Self::InvalidSignature
            | Self::UnknownApiKey
            | Self::InvalidGzip
            | Self::BodyInterrupted
            | Self::InvalidJson => StatusCode::BAD_REQUEST,
        }
    }

    /// The `reason` label of `stream_webhooks_rejected_total`: a closed set.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::UnknownApiKey => "unknown_api_key",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidGzip => "invalid_gzip",
            Self::BodyTimeout => "body_timeout",
            Self::BodyInterrupted => "body_interrupted",
            Self::InvalidJson => "invalid_json",
            Self::ProcessingFailed(_) => "processing_failed",
            Self::Overloaded => "overloaded",
            Self::Timeout => "timeout",
            Self::Unexpected(_) => "internal",
        }
    }

    /// Logs the failure once, counts it, and builds the documented response.
    pub fn respond(&self, metrics: &Metrics) -> Response {
        metrics.rejected(self.reason());
        tracing::Span::current().record("error.type", self.reason());
        self.log();
        let status = self.status();
        let body = warp::reply::json(&serde_json::json!({ "error": self.to_string() }));
        let mut response = warp::reply::with_status(body, status).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // Stream retries a 5xx anyway; the header tells other clients when.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }

    fn log(&self) {
        let reason = self.reason();
        let status = self.status().as_u16();
        let ids = TraceIds::current();
        let (trace_id, span_id) = (ids.trace_id(), ids.span_id());
        match self {
            Self::ProcessingFailed(cause) => {
                let error = format!("{cause:#}");
                tracing::error!(reason, status, error, trace_id, span_id, "webhook failed");
            }
            Self::Unexpected(rejection) => {
                tracing::error!(
                    reason,
                    status,
                    rejection,
                    trace_id,
                    span_id,
                    "unexpected rejection"
                );
            }
            Self::Overloaded | Self::Timeout => {
                tracing::error!(reason, status, trace_id, span_id, "webhook refused");
            }
            Self::NotFound | Self::MethodNotAllowed => {
                tracing::debug!(reason, status, trace_id, span_id, "webhook refused");
            }
            _ => tracing::warn!(reason, status, trace_id, span_id, "webhook refused"),
        }
    }

    /// The failure for one of warp's own rejections (no route, wrong method).
    fn from_warp(rejection: &Rejection) -> Self {
        if rejection.is_not_found() {
            Self::NotFound
        } else if rejection.find::<reject::MethodNotAllowed>().is_some() {
            Self::MethodNotAllowed
        } else {
            Self::Unexpected(format!("{rejection:?}"))
        }
    }
}

/// Turns every rejection of the webhook filter chain into its response.
pub async fn recover(rejection: Rejection, metrics: &Metrics) -> Result<Response, Infallible> {
    let response = match rejection.find::<WebhookError>() {
        Some(error) => error.respond(metrics),
        None => WebhookError::from_warp(&rejection).respond(metrics),
    };
    Ok(response)
}
