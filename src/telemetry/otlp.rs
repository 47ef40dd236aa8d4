//! The OTLP span exporter, configured by the OpenTelemetry variables or the settings.

use opentelemetry_otlp::{Protocol, SpanExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::settings::TelemetrySettings;

/// A tracer provider exporting in batches, or `None` when no endpoint is configured.
pub fn provider(settings: &TelemetrySettings) -> anyhow::Result<Option<SdkTracerProvider>> {
    let from_env = env("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some();
    let endpoint = settings.otlp_endpoint.clone().filter(|e| !e.is_empty());
    if !from_env && endpoint.is_none() {
        return Ok(None);
    }
    let protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or(settings.otlp_protocol.clone());
    // The variables win; the exporter reads them itself.
    let endpoint = if from_env { None } else { endpoint };
    let exporter = exporter(&protocol, endpoint)?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource(settings))
        .build();
    Ok(Some(provider))
}

fn exporter(protocol: &str, endpoint: Option<String>) -> anyhow::Result<SpanExporter> {
    let exporter = match protocol {
        "grpc" => {
            let builder = SpanExporter::builder()
                .with_tonic()
                .with_protocol(Protocol::Grpc);
            match endpoint {
                Some(endpoint) => builder.with_endpoint(endpoint).build()?,
                None => builder.build()?,
            }
        }
        "http/protobuf" => {
            let builder = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary);
            // A configured endpoint is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is.
            match endpoint {
                Some(base) => {
                    let url = format!("{}/v1/traces", base.trim_end_matches('/'));
                    builder.with_endpoint(url).build()?
                }
                None => builder.build()?,
            }
        }
        other => {
            anyhow::bail!("OTLP protocol `{other}` is not supported: use grpc or http/protobuf")
        }
    };
    Ok(exporter)
}

/// `service.name` from `OTEL_SERVICE_NAME` or the settings, `service.version` from the
/// build; `OTEL_RESOURCE_ATTRIBUTES` is read by the default detectors.
fn resource(settings: &TelemetrySettings) -> Resource {
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if env("OTEL_SERVICE_NAME").is_some() {
        builder.build()
    } else {
        builder
            .with_service_name(settings.service_name.clone())
            .build()
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
