//! `POST /api/webhooks`: the filter chain, the signature, the body and the answer.

pub mod body;
mod filters;
mod handler;
pub mod rejection;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

pub use filters::webhook;
pub use rejection::WebhookError;

use crate::dedupe::Dedupe;
use crate::metrics::Metrics;
use crate::processor::Pipeline;
use signature::Verifier;

/// What the filter chain and the handler share.
pub struct WebhookState {
    /// The secrets that may sign a body.
    pub verifier: Verifier,
    /// Where verified events go.
    pub pipeline: Pipeline,
    /// Delivery ids already processed.
    pub dedupe: Dedupe,
    /// The service's metrics.
    pub metrics: Metrics,
    /// Largest body, on the wire and inflated.
    pub max_body_bytes: usize,
    /// Bound on reading a body.
    pub body_read_timeout: Duration,
}

/// The state as the filters hold it.
pub type SharedState = Arc<WebhookState>;
