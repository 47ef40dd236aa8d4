//! The request span: created per public request with the OpenTelemetry HTTP attributes,
//! made a child of an incoming W3C `traceparent`.

use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::Span;
use tracing::field::Empty;
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
        trace_id = Empty,
    );
    if headers.contains_key("traceparent") {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.extract(&HeaderExtractor(headers))
        });
        let _ = span.set_parent(parent);
    }
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", trace_id.to_string());
    }
    span
}

/// Records the response on the span; a 5xx marks it as an error, a 4xx does not.
pub fn record_status(span: &Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
}
