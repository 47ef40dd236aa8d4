//! Building the collectors: names in the service's namespace, buckets, registration.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use super::{LENGTH_BUCKETS, NAMESPACE};

pub fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

pub fn counter_vec(name: &str, help: &str, label: &str) -> IntCounterVec {
    IntCounterVec::new(opts(name, help), &[label]).unwrap_or_else(|e| invalid_definition(e))
}

pub fn histogram_vec(name: &str, help: &str, label: &str, buckets: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(buckets.to_vec());
    HistogramVec::new(opts, &[label]).unwrap_or_else(|e| invalid_definition(e))
}

pub fn histogram(name: &str, help: &str) -> prometheus::Result<Histogram> {
    let opts = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(LENGTH_BUCKETS.to_vec());
    Histogram::with_opts(opts)
}

pub fn register<M: prometheus::core::Collector + Clone + 'static>(
    registry: &Registry,
    metric: M,
) -> prometheus::Result<M> {
    registry.register(Box::new(metric.clone()))?;
    Ok(metric)
}

/// The definitions above are constants; a bad one is a programming error.
fn invalid_definition(err: prometheus::Error) -> ! {
    panic!("invalid metric definition: {err}")
}
