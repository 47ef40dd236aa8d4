//! The request span: created per public request with the OpenTelemetry HTTP attributes,
//! made a child of an incoming W3C `traceparent`.

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::{SpanId, TraceContextExt, TraceId};
use tracing::Span;
use tracing::field::{DisplayValue, Empty, display};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use warp::http::{HeaderMap, Method};

/// The one route of the public listener.
pub const WEBHOOK_ROUTE: &str = "/api/webhooks";

struct HeaderExtractor<'a>(&'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// A server span for one request; fields the handler learns later start empty.
pub fn request_span(method: &Method, path: &str, headers: &HeaderMap) -> Span {
    let route = (path == WEBHOOK_ROUTE).then_some(WEBHOOK_ROUTE);
    let name = match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    let span = tracing::info_span!(
        "request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method.as_str(),
        http.route = route,
        url.scheme = "http",
        http.response.status_code = Empty,
        error.type = Empty,
        stream.event_type = Empty,
        stream.call_cid = Empty,
        stream.webhook_id = Empty,
        stream.webhook_attempt = Empty,
    );
    if headers.contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(headers))
        });
        let _ = span.set_parent(parent);
    }
    span
}

/// The ids that join a log line to its trace: those of the current span when it is
/// traced. Taken per line, not from the span's fields, so that a line keeps them when
/// `RUST_LOG` filters the request span out of the logs.
#[derive(Clone, Copy, Debug)]
pub struct TraceIds(Option<(TraceId, SpanId)>);

impl TraceIds {
    /// The current span's ids; none when tracing is off.
    pub fn current() -> Self {
        let context = Span::current().context();
        let span = context.span();
        let ids = span.span_context();
        Self(ids.is_valid().then(|| (ids.trace_id(), ids.span_id())))
    }

    /// The `trace_id` field: 32 lowercase hex digits.
    pub fn trace_id(&self) -> Option<DisplayValue<TraceId>> {
        self.0.map(|(trace, _)| display(trace))
    }

    /// The `span_id` field: 16 lowercase hex digits.
    pub fn span_id(&self) -> Option<DisplayValue<SpanId>> {
        self.0.map(|(_, span)| display(span))
    }
}

/// Records the response on the span; a 5xx marks it as an error, a 4xx does not.
pub fn record_status(span: &Span, status: u16) {
    // As an i64: tracing-opentelemetry exports unsigned fields as strings.
    span.record("http.response.status_code", i64::from(status));
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}
