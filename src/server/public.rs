//! What every public request goes through around the filter chain: its span, the
//! concurrency bound, the request timeout, and the latency and in-flight metrics.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use tokio::sync::Semaphore;
use tower_service::Service as _;
use tracing::Instrument;
use warp::http::Request;
use warp::reply::Response;

use crate::metrics::Metrics;
use crate::telemetry::propagation::{record_status, request_span};
use crate::webhook::WebhookError;

/// The public listener's service: the webhook filter chain, bounded and observed.
#[derive(Clone)]
pub struct PublicService<F> {
    routes: F,
    metrics: Metrics,
    slots: Arc<Semaphore>,
    request_timeout: Duration,
}

impl<F> PublicService<F>
where
    F: warp::Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
{
    /// Wraps the filter chain.
    pub fn new(routes: F, metrics: Metrics, max_concurrent: usize, timeout: Duration) -> Self {
        Self {
            routes,
            metrics,
            slots: Arc::new(Semaphore::new(max_concurrent)),
            request_timeout: timeout,
        }
    }
}

impl<F> hyper::service::Service<Request<Incoming>> for PublicService<F>
where
    F: warp::Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let span = request_span(request.method(), request.uri().path(), request.headers());
        // Beyond the bound the answer is an immediate 503, which Stream retries,
        // rather than a queue that grows without limit.
        let slot = self.slots.clone().try_acquire_owned().ok();
        let mut routes = warp::service(self.routes.clone());
        let metrics = self.metrics.clone();
        let timeout = self.request_timeout;
        let respond = async move {
            let _in_flight = metrics.in_flight();
            let start = Instant::now();
            let response = match slot {
                None => WebhookError::Overloaded.respond(&metrics),
                Some(_slot) => match tokio::time::timeout(timeout, routes.call(request)).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => WebhookError::Timeout.respond(&metrics),
                },
            };
            let status = response.status().as_u16();
            metrics.request_finished(status, start.elapsed().as_secs_f64());
            record_status(&tracing::Span::current(), status);
            Ok(response)
        };
        Box::pin(respond.instrument(span))
    }
}
