//! The filter chain, in the order a request meets it: route, content type, delivery
//! headers, signature header, body, signature check, JSON, then the handler. Cheap
//! checks come first, and nothing is parsed before it is authenticated.

use std::convert::Infallible;
use std::time::Instant;

use bytes::Bytes;
use futures_util::Stream;
use warp::http::{HeaderMap, HeaderValue};
use warp::reply::Response;
use warp::{Filter, Rejection, reject};

use super::SharedState;
use super::body::{self, BodyError, RawBody};
use super::handler::{self, Delivery};
use super::rejection::{WebhookError, recover};
use super::signature::{Signature, VerifyError};
use crate::event::WebhookEvent;

/// The whole public route: every request ends in a response, never a rejection.
pub fn webhook(
    state: SharedState,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let metrics = state.metrics.clone();
    arrival()
        .and(route())
        .and(json_content_type())
        .and(delivery())
        .and(event(state.clone()))
        .and(with_state(state))
        .and_then(handler::accept)
        .recover(move |rejection| {
            let metrics = metrics.clone();
            async move { recover(rejection, &metrics).await }
        })
        .unify()
}

/// When the request met the chain: the `duration` of the answer counts from here.
fn arrival() -> impl Filter<Extract = (Instant,), Error = Infallible> + Copy {
    warp::any().map(Instant::now)
}

/// `POST /api/webhooks`; the path comes first so that other paths get 404, not 405.
fn route() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    warp::path!("api" / "webhooks").and(warp::post())
}

/// `Content-Type: application/json`, parameters and letter case allowed.
fn json_content_type() -> impl Filter<Extract = (), Error = Rejection> + Copy {
    optional_header("content-type")
        .and_then(|value: Option<HeaderValue>| async move {
            match value {
                Some(value) if is_json(&value) => Ok(()),
                _ => Err(reject::custom(WebhookError::UnsupportedMediaType)),
            }
        })
        .untuple_one()
}

fn is_json(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    let end = bytes.iter().position(|&b| b == b';').unwrap_or(bytes.len());
    bytes[..end]
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
}

/// `X-Webhook-Id` and `X-Webhook-Attempt`: read, not yet trusted.
fn delivery() -> impl Filter<Extract = (Delivery,), Error = Infallible> + Copy {
    optional_header("x-webhook-id")
        .and(optional_header("x-webhook-attempt"))
        .map(Delivery::from_headers)
}

/// The verified and parsed event.
fn event(state: SharedState) -> impl Filter<Extract = (WebhookEvent,), Error = Rejection> + Clone {
    verified_body(state).and_then(parse_event)
}

/// The body, once its signature checks out with the secret the API key selects.
fn verified_body(state: SharedState) -> impl Filter<Extract = (Bytes,), Error = Rejection> + Clone {
    optional_header("x-api-key")
        .and(signature())
        .and(raw_body(state.clone()))
        .and(with_state(state))
        .and_then(verify_signature)
}

/// `X-Signature`: present, non-empty, and given once.
fn signature() -> impl Filter<Extract = (Signature,), Error = Rejection> + Copy {
    warp::header::headers_cloned().and_then(|headers: HeaderMap| async move {
        let mut values = headers.get_all("x-signature").iter();
        let first = values
            .next()
            .map(|v| v.as_bytes().trim_ascii())
            .unwrap_or_default();
        if first.is_empty() {
            return Err(reject::custom(WebhookError::MissingSignature));
        }
        if values.next().is_some() {
            return Err(reject::custom(WebhookError::InvalidSignature));
        }
        Signature::parse(first).map_err(|_| reject::custom(WebhookError::InvalidSignature))
    })
}

/// The body, bounded on the wire and once inflated.
fn raw_body(state: SharedState) -> impl Filter<Extract = (RawBody,), Error = Rejection> + Clone {
    warp::header::optional::<u64>("content-length")
        .and(warp::body::stream())
        .and(with_state(state))
        .and_then(read_body)
}

async fn read_body(
    content_length: Option<u64>,
    stream: impl Stream<Item = Result<impl bytes::Buf, warp::Error>>,
    state: SharedState,
) -> Result<RawBody, Rejection> {
    let limit = state.max_body_bytes;
    body::check_declared_length(content_length, limit).map_err(body_rejection)?;
    let wire = body::collect(stream, limit, state.body_read_timeout)
        .await
        .map_err(body_rejection)?;
    let body = body::decode(wire, limit).map_err(body_rejection)?;
    state.metrics.body(body.encoding.as_str(), body.wire_bytes);
    Ok(body)
}

fn body_rejection(error: BodyError) -> Rejection {
    reject::custom(match error {
        BodyError::TooLarge { .. } => WebhookError::PayloadTooLarge,
        BodyError::InvalidGzip => WebhookError::InvalidGzip,
        BodyError::Timeout(_) => WebhookError::BodyTimeout,
        BodyError::Interrupted => WebhookError::BodyInterrupted,
    })
}

async fn verify_signature(
    api_key: Option<HeaderValue>,
    signature: Signature,
    body: RawBody,
    state: SharedState,
) -> Result<Bytes, Rejection> {
    let _span = tracing::info_span!("verify_signature").entered();
    let api_key = api_key.as_ref().map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match state.verifier.verify(api_key, &body.bytes, &signature) {
        Ok(()) => Ok(body.bytes),
        Err(VerifyError::UnknownApiKey) => Err(reject::custom(WebhookError::UnknownApiKey)),
        Err(VerifyError::Mismatch) => Err(reject::custom(WebhookError::InvalidSignature)),
    }
}

async fn parse_event(body: Bytes) -> Result<WebhookEvent, Rejection> {
    let _span = tracing::info_span!("parse_event").entered();
    WebhookEvent::parse(&body).map_err(|_| reject::custom(WebhookError::InvalidJson))
}

/// A header's first value if present, without requiring it to be text.
fn optional_header(
    name: &'static str,
) -> impl Filter<Extract = (Option<HeaderValue>,), Error = Infallible> + Copy {
    warp::header::value(name)
        .map(Some)
        .or(warp::any().map(|| None))
        .unify()
}

fn with_state(
    state: SharedState,
) -> impl Filter<Extract = (SharedState,), Error = Infallible> + Clone {
    warp::any().map(move || state.clone())
}
