//! The admin listener: liveness, readiness and metrics, never served on the public port.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use hyper::body::Incoming;
use warp::http::{Request, StatusCode};
use warp::reply::{Reply, Response};
use warp::{Filter, Rejection};

use crate::metrics::Metrics;

/// The admin routes as a service for the listener.
pub fn service(
    ready: Arc<AtomicBool>,
    metrics: Metrics,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response,
    Error = Infallible,
    Future: Send + 'static,
> + Clone
+ Send
+ 'static {
    hyper_util::service::TowerToHyperService::new(warp::service(routes(ready, metrics)))
}

/// `GET /healthz`, `GET /readyz`, `GET /metrics`; anything else is a JSON 404.
pub fn routes(
    ready: Arc<AtomicBool>,
    metrics: Metrics,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static {
    let healthz = warp::path!("healthz").map(|| status(StatusCode::OK, "ok"));
    let readyz = warp::path!("readyz").map(move || {
        if ready.load(Ordering::SeqCst) {
            status(StatusCode::OK, "ready")
        } else {
            status(StatusCode::SERVICE_UNAVAILABLE, "stopping")
        }
    });
    let metrics = warp::path!("metrics").map(move || {
        let text = metrics.render();
        warp::reply::with_header(
            text,
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8",
        )
        .into_response()
    });
    warp::get()
        .and(healthz.or(readyz).unify().or(metrics).unify())
        .recover(not_found)
        .unify()
}

fn status(code: StatusCode, text: &'static str) -> Response {
    let body = warp::reply::json(&serde_json::json!({ "status": text }));
    warp::reply::with_status(body, code).into_response()
}

async fn not_found(_: Rejection) -> Result<Response, Infallible> {
    let body = warp::reply::json(&serde_json::json!({ "error": "Not found" }));
    Ok(warp::reply::with_status(body, StatusCode::NOT_FOUND).into_response())
}
