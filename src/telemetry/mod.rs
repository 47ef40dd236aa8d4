//! Logs and traces: a `tracing` subscriber writing JSON or text lines, and, when an
//! OTLP endpoint is configured, an OpenTelemetry layer exporting spans in batches.

mod json;
mod otlp;
pub mod propagation;

pub use json::JsonLines;

use std::time::Duration;

use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::settings::{LogFormat, Settings};

/// Spans exported over OTLP: the request span and its children, whatever `RUST_LOG` says.
const TRACE_FILTER: &str = "stream_webhooks=info";

/// Bytes of log lines gathered before one write: the writer thread writes a batch at a
/// time, and at once whenever it has caught up.
const LOG_WRITE_BUFFER: usize = 64 * 1024;

/// Keeps the trace exporter and the log writer alive; `shutdown` flushes the traces,
/// dropping it flushes the logs.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    flush_timeout: Duration,
    _log_writer: WorkerGuard,
}

/// Installs the global subscriber. Logs and traces have their own filters, so that a
/// quiet `RUST_LOG` does not silence the traces.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    let provider = otlp::provider(&settings.telemetry)?;
    let traces = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        use opentelemetry::trace::TracerProvider as _;
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("stream-webhooks"))
            .with_filter(EnvFilter::new(TRACE_FILTER))
    });
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(settings.log.buffer_lines)
        .thread_name("log-writer")
        .finish(std::io::BufWriter::with_capacity(
            LOG_WRITE_BUFFER,
            std::io::stdout(),
        ));
    let logs = log_layer(settings.log.format, filter, writer);
    // Without an exporter there is no trace layer at all: an absent `Option` layer would
    // enable every span, and the spans would be built for nobody.
    let subscriber = Registry::default().with(logs);
    match traces {
        Some(traces) => subscriber.with(traces).try_init()?,
        None => subscriber.try_init()?,
    }
    let flush_timeout = settings.telemetry.shutdown_timeout;
    Ok(Telemetry {
        provider,
        flush_timeout,
        _log_writer: guard,
    })
}

/// The log layer `init` installs: events only, in `format`, through `writer`. Each line
/// carries its own fields and trace ids, so the logs keep no span state, and with no
/// exporter a span costs next to nothing.
pub fn log_layer<S, W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let filter = filter.and(filter_fn(|metadata| metadata.is_event()));
    match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .event_format(JsonLines)
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_writer(writer)
            .with_filter(filter)
            .boxed(),
    }
}

impl Telemetry {
    /// Whether spans are exported.
    pub fn exporting(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes pending spans, giving up after the configured bound. Runs on a thread of
    /// its own: the exporter's shutdown blocks, and on a runtime worker it stalls. Not on
    /// the runtime's blocking pool either, since dropping the runtime waits for that pool,
    /// which would hold the exit past the bound while a collector does not answer.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else {
            return;
        };
        let (done, flushed) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Handle::current();
        let spawned = std::thread::Builder::new()
            .name("trace-flush".into())
            .spawn(move || {
                let _runtime = runtime.enter();
                let _ = done.send(provider.shutdown());
            });
        if let Err(err) = spawned {
            tracing::warn!(error = %err, "trace flush thread failed to start");
            return;
        }
        match tokio::time::timeout(self.flush_timeout, flushed).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(err))) => tracing::warn!(error = %err, "trace flush failed"),
            Ok(Err(_)) => tracing::warn!("trace flush panicked"),
            Err(_) => tracing::warn!(timeout = ?self.flush_timeout, "trace flush timed out"),
        }
    }
}
