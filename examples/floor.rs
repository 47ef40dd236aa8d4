//! The floor of the load benchmark: a warp server that reads the body of
//! `POST /api/webhooks` and writes a JSON answer of the service's size, and does nothing
//! else. What the HTTP stack alone costs.
//!
//! `cargo run --release --example floor -- [PORT]` (or `PORT=`); port 0 picks a free one.

#[allow(
    dead_code,
    reason = "the floor checks no signature, so reads no secret"
)]
mod baseline;

use std::convert::Infallible;

use bytes::Bytes;
use warp::Filter;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    baseline::serve(routes(), baseline::port()).await
}

fn routes() -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    warp::path!("api" / "webhooks")
        .and(warp::post())
        .and(warp::body::bytes())
        .map(|body: Bytes| {
            drop(body);
            baseline::answer()
        })
        .recover(|_| async { Ok::<_, Infallible>(StatusCode::NOT_FOUND.into_response()) })
        .unify()
}
