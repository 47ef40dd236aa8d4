//! The least correct receiver of the load benchmark: the floor plus what no correct
//! receiver can skip. It inflates a gzip body (the signature covers the uncompressed
//! bytes), checks `X-Signature` as an HMAC-SHA256 of the raw body, and checks with
//! `serde_json` that the body is an object with a string `type`. Nothing more: no typed
//! model, metrics, logs or tracing.
//!
//! `cargo run --release --example least_correct -- [PORT] [SECRET]`
//! (or `PORT=`, `WEBHOOK_SECRET=`); port 0 picks a free one.

mod baseline;

use std::convert::Infallible;
use std::io::Read;
use std::sync::Arc;

use bytes::Bytes;
use flate2::read::GzDecoder;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use warp::Filter;
use warp::http::{HeaderValue, StatusCode};
use warp::reply::{Reply, Response};

/// Inflated bodies larger than this are refused, as the service refuses them.
const MAX_BODY_BYTES: u64 = 1 << 20;

/// The one field every event must have; the rest of the body is only checked to be JSON.
#[derive(Deserialize)]
struct Typed {
    #[serde(rename = "type")]
    _event_type: String,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port = baseline::port();
    let secret: Arc<[u8]> = baseline::secret().into_bytes().into();
    baseline::serve(routes(secret), port).await
}

fn routes(secret: Arc<[u8]>) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::path!("api" / "webhooks")
        .and(warp::post())
        .and(warp::header::optional::<HeaderValue>("x-signature"))
        .and(warp::body::bytes())
        .map(move |signature: Option<HeaderValue>, body: Bytes| {
            let status = check(&secret, signature.as_ref(), &body);
            if status == StatusCode::OK {
                baseline::answer()
            } else {
                status.into_response()
            }
        })
        .recover(|_| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response()) })
        .unify()
}

fn check(secret: &[u8], signature: Option<&HeaderValue>, wire: &Bytes) -> StatusCode {
    let Some(body) = inflate(wire) else {
        return StatusCode::BAD_REQUEST;
    };
    if !signed(secret, signature, &body) {
        return StatusCode::UNAUTHORIZED;
    }
    let object = body.trim_ascii_start().starts_with(b"{");
    if object && serde_json::from_slice::<Typed>(&body).is_ok() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Gzip is recognised by its magic bytes, as Stream's SDKs do.
fn inflate(wire: &Bytes) -> Option<Bytes> {
    if !wire.starts_with(&[0x1f, 0x8b]) {
        return Some(wire.clone());
    }
    let mut body = Vec::with_capacity(wire.len() * 4);
    let mut decoder = GzDecoder::new(&wire[..]).take(MAX_BODY_BYTES + 1);
    decoder.read_to_end(&mut body).ok()?;
    (body.len() as u64 <= MAX_BODY_BYTES).then(|| body.into())
}

fn signed(secret: &[u8], signature: Option<&HeaderValue>, body: &[u8]) -> bool {
    let mut tag = [0u8; 32];
    let Some(signature) = signature else {
        return false;
    };
    if hex::decode_to_slice(signature.as_bytes(), &mut tag).is_err() {
        return false;
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&tag).is_ok()
}
