//! The Prometheus metrics of the service, in their own registry, served on the admin
//! listener. Every label value comes from a closed set.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Registry,
    TextEncoder,
};

use crate::event::{KNOWN_EVENT_TYPES, OTHER};

mod definitions;

use definitions::{counter_vec, histogram, histogram_vec, opts, register};

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

/// The service's metrics: a handle that is cheap to clone, one per request.
#[derive(Clone)]
pub struct Metrics(Arc<Collectors>);

/// The collectors behind `Metrics`.
pub struct Collectors {
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
        let collectors = Collectors {
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
        let metrics = Self(Arc::new(collectors));
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

impl Deref for Metrics {
    type Target = Collectors;

    fn deref(&self) -> &Collectors {
        &self.0
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

#[cfg(test)]
mod tests;
