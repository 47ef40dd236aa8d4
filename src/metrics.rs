//! The Prometheus metrics of the service, in their own registry, served on the admin
//! listener. Every label value comes from a closed set.

use std::collections::HashMap;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::event::{KNOWN_EVENT_TYPES, OTHER};

const NAMESPACE: &str = "stream_webhooks";

/// Request latency buckets, 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Body size buckets, 128 B to 1 MiB.
const BODY_BUCKETS: [f64; 8] = [
    128.0,
    512.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
];

/// Call, session and recording length buckets, 10 s to 8 h.
const LENGTH_BUCKETS: [f64; 10] = [
    10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0,
];

/// Every `reason` label value, counted from zero so that rates exist before a failure.
pub const REASONS: [&str; 15] = [
    "missing_signature",
    "invalid_signature",
    "invalid_json",
    "unsupported_media_type",
    "payload_too_large",
    "invalid_gzip",
    "processing_failed",
    "not_found",
    "method_not_allowed",
    "unknown_api_key",
    "overloaded",
    "timeout",
    "body_timeout",
    "body_interrupted",
    "internal",
];

/// The service's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    events: HashMap<&'static str, IntCounter>,
    rejected: IntCounterVec,
    request_duration: HistogramVec,
    in_flight: IntGauge,
    body_bytes: HistogramVec,
    attempts: IntCounterVec,
    duplicates: IntCounter,
    /// Lengths of calls, from `call.ended` / `call.session_ended`.
    pub call_duration: Histogram,
    /// Lengths of participant sessions, from participant-left events.
    pub participant_session_duration: Histogram,
    /// Lengths of recordings, from `call.recording_stopped` / `call.recording_ready`.
    pub recording_duration: Histogram,
}

/// Keeps `requests_in_flight` raised while it lives.
pub struct InFlight(IntGauge);

impl Metrics {
    /// Registers every metric, with the process collector, in a new registry.
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let events = register(
            &registry,
            counter_vec("events_total", "Events accepted.", "event_type"),
        )?;
        let metrics = Self {
            events: std::iter::once(OTHER)
                .chain(KNOWN_EVENT_TYPES)
                .map(|t| (t, events.with_label_values(&[t])))
                .collect(),
            rejected: register(
                &registry,
                counter_vec(
                    "rejected_total",
                    "Requests refused or failed, by reason.",
                    "reason",
                ),
            )?,
            request_duration: register(
                &registry,
                histogram_vec(
                    "request_duration_seconds",
                    "Time from arrival to response.",
                    "status",
                    &LATENCY_BUCKETS,
                ),
            )?,
            in_flight: register(
                &registry,
                IntGauge::with_opts(opts("requests_in_flight", "Requests being handled."))?,
            )?,
            body_bytes: register(
                &registry,
                histogram_vec(
                    "body_bytes",
                    "Body size as received, before inflating.",
                    "encoding",
                    &BODY_BUCKETS,
                ),
            )?,
            attempts: register(
                &registry,
                counter_vec(
                    "delivery_attempts_total",
                    "Verified deliveries by X-Webhook-Attempt.",
                    "attempt",
                ),
            )?,
            duplicates: register(
                &registry,
                IntCounter::with_opts(opts(
                    "duplicates_total",
                    "Deliveries answered from the dedupe cache.",
                ))?,
            )?,
            call_duration: register(
                &registry,
                histogram("call_duration_seconds", "Call lengths.")?,
            )?,
            participant_session_duration: register(
                &registry,
                histogram(
                    "participant_session_duration_seconds",
                    "How long participants stayed in a call session.",
                )?,
            )?,
            recording_duration: register(
                &registry,
                histogram("recording_duration_seconds", "Recording lengths.")?,
            )?,
            registry,
        };
        metrics.register_static()?;
        Ok(metrics)
    }

    fn register_static(&self) -> prometheus::Result<()> {
        let build = IntGaugeVec::new(opts("build_info", "Build of the service."), &["version"])?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        self.registry.register(Box::new(build))?;
        self.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        for reason in REASONS {
            self.rejected.with_label_values(&[reason]);
        }
        for attempt in ["1", "2", "3", "4+"] {
            self.attempts.with_label_values(&[attempt]);
        }
        // Statuses the service answers, present from the start so that ratios over
        // `rate()` count a young pod's first requests too.
        for status in [
            "200", "400", "404", "405", "408", "413", "415", "500", "503",
        ] {
            self.request_duration.with_label_values(&[status]);
        }
        Ok(())
    }

    /// Counts an accepted event under its `event_type` label.
    pub fn event(&self, label: &'static str) {
        if let Some(counter) = self.events.get(label) {
            counter.inc();
        }
    }

    /// Counts a refused or failed request.
    pub fn rejected(&self, reason: &'static str) {
        self.rejected.with_label_values(&[reason]).inc();
    }

    /// Records a finished request.
    pub fn request_finished(&self, status: u16, seconds: f64) {
        let digits = itoa_status(status);
        let label = std::str::from_utf8(&digits).unwrap_or("other");
        self.request_duration
            .with_label_values(&[label])
            .observe(seconds);
    }

    /// Raises `requests_in_flight` until the guard drops.
    pub fn in_flight(&self) -> InFlight {
        self.in_flight.inc();
        InFlight(self.in_flight.clone())
    }

    /// Records a body's size on the wire.
    pub fn body(&self, encoding: &'static str, bytes: usize) {
        self.body_bytes
            .with_label_values(&[encoding])
            .observe(bytes as f64);
    }

    /// Counts a verified delivery by its attempt number.
    pub fn attempt(&self, attempt: Option<u32>) {
        let label = match attempt {
            None | Some(0 | 1) => "1",
            Some(2) => "2",
            Some(3) => "3",
            Some(_) => "4+",
        };
        self.attempts.with_label_values(&[label]).inc();
    }

    /// Counts a delivery answered from the dedupe cache.
    pub fn duplicate(&self) {
        self.duplicates.inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into memory fails only on invalid metric families, which
        // registration already refused.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Three ASCII digits of an HTTP status (always 100..=999).
fn itoa_status(status: u16) -> [u8; 3] {
    let status = status.clamp(100, 999);
    [
        b'0' + (status / 100) as u8,
        b'0' + (status / 10 % 10) as u8,
        b'0' + (status % 10) as u8,
    ]
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help).namespace(NAMESPACE)
}

fn counter_vec(name: &str, help: &str, label: &str) -> IntCounterVec {
    IntCounterVec::new(opts(name, help), &[label]).unwrap_or_else(|e| invalid_definition(e))
}

fn histogram_vec(name: &str, help: &str, label: &str, buckets: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(buckets.to_vec());
    HistogramVec::new(opts, &[label]).unwrap_or_else(|e| invalid_definition(e))
}

fn histogram(name: &str, help: &str) -> prometheus::Result<Histogram> {
    let opts = HistogramOpts::new(name, help)
        .namespace(NAMESPACE)
        .buckets(LENGTH_BUCKETS.to_vec());
    Histogram::with_opts(opts)
}

fn register<M: prometheus::core::Collector + Clone + 'static>(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposes_every_documented_metric() {
        let metrics = Metrics::new().expect("registers");
        metrics.event("call.created");
        metrics.request_finished(200, 0.001);
        metrics.body("identity", 100);
        let text = metrics.render();
        for name in [
            "stream_webhooks_events_total{event_type=\"call.created\"} 1",
            "stream_webhooks_rejected_total{reason=\"invalid_signature\"} 0",
            "stream_webhooks_request_duration_seconds_bucket{status=\"200\",le=\"0.0001\"}",
            "stream_webhooks_requests_in_flight 0",
            "stream_webhooks_body_bytes_count{encoding=\"identity\"} 1",
            "stream_webhooks_delivery_attempts_total{attempt=\"4+\"} 0",
            "stream_webhooks_duplicates_total 0",
            "stream_webhooks_call_duration_seconds_count 0",
            "stream_webhooks_participant_session_duration_seconds_count 0",
            "stream_webhooks_recording_duration_seconds_count 0",
            "stream_webhooks_build_info{version=\"",
            "process_resident_memory_bytes",
        ] {
            assert!(text.contains(name), "missing {name}");
        }
    }

    #[test]
    fn in_flight_falls_back_when_the_guard_drops() {
        let metrics = Metrics::new().expect("registers");
        let guard = metrics.in_flight();
        assert!(
            metrics
                .render()
                .contains("stream_webhooks_requests_in_flight 1")
        );
        drop(guard);
        assert!(
            metrics
                .render()
                .contains("stream_webhooks_requests_in_flight 0")
        );
    }
}
