//! The service's settings: their types, their defaults and how they are layered.

mod duration;
mod load;
mod secret;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::{Layers, SettingsError, load};
pub use secret::Secret;

/// The secret `config/development.toml` carries; refused outside development.
pub const DEVELOPMENT_SECRET: &str = "dev-secret-do-not-use-in-production";

/// Shortest secret accepted outside development, in bytes.
pub const MIN_SECRET_BYTES: usize = 16;

/// Where the service runs; picks `config/<environment>.toml`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local work: readable logs, the development secret allowed.
    #[default]
    Development,
    /// Anything real: JSON logs, a real secret required.
    Production,
}

/// Every setting of the service, merged from all layers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Chosen by `STREAM_WEBHOOKS_ENV`, not by a file.
    #[serde(skip_deserializing)]
    pub environment: Environment,
    /// The public listener, which serves webhooks only.
    pub server: ServerSettings,
    /// The admin listener: health, readiness and metrics.
    pub admin: AdminSettings,
    /// Verification and delivery handling.
    pub webhook: WebhookSettings,
    /// Log level and format.
    pub log: LogSettings,
    /// Trace export.
    pub telemetry: TelemetrySettings,
}

/// Settings of the public listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Time between a stop signal and closing the listener.
    #[serde(with = "duration")]
    pub shutdown_delay: Duration,
    /// Time in-flight requests get to finish after the listener closes.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
    /// Bound on a whole request; past it the answer is 503.
    #[serde(with = "duration")]
    pub request_timeout: Duration,
    /// Bound on reading a header section, and on keep-alive idleness.
    #[serde(with = "duration")]
    pub header_read_timeout: Duration,
    /// Bound on reading a body.
    #[serde(with = "duration")]
    pub body_read_timeout: Duration,
    /// Largest header section, in bytes.
    pub max_header_bytes: usize,
    /// Open connections at most.
    pub max_connections: usize,
    /// Requests in progress at most; beyond it, 503.
    pub max_concurrent_requests: usize,
}

/// Settings of the admin listener.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
}

/// Settings of webhook verification and delivery handling.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// The app's API secret, which signs every body.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Secrets still accepted while a rotation is under way.
    #[serde(default)]
    pub previous_secrets: Vec<Secret>,
    /// Largest body, before and after inflating.
    pub max_body_bytes: usize,
    /// How long a processed `X-Webhook-Id` is remembered.
    #[serde(with = "duration")]
    pub dedupe_ttl: Duration,
    /// How many ids are remembered at most.
    pub dedupe_capacity: usize,
    /// When set, `X-Api-Key` must equal it.
    #[serde(default)]
    pub api_key: Option<String>,
    /// Several apps: each API key with its own secret.
    #[serde(default)]
    pub api_keys: BTreeMap<String, Secret>,
}

/// Settings of the logs.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Default filter when `RUST_LOG` is unset, e.g. `info`.
    pub level: String,
    /// `json` or `text`.
    pub format: LogFormat,
    /// Lines waiting for the writer thread at most; beyond it a request waits for the
    /// writer rather than lose its line.
    pub buffer_lines: usize,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object a line.
    Json,
    /// Readable lines.
    Text,
}

/// Settings of the trace export.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `service.name` unless `OTEL_SERVICE_NAME` is set.
    pub service_name: String,
    /// OTLP endpoint unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set; none: no export.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL` is set.
    pub otlp_protocol: String,
    /// Bound on the final flush at shutdown.
    #[serde(with = "duration")]
    pub shutdown_timeout: Duration,
}

// === impl Settings ===

impl Settings {
    /// Every secret that may sign a body: the current one first.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.webhook
            .secret
            .iter()
            .chain(&self.webhook.previous_secrets)
    }
}

impl ServerSettings {
    /// The address to bind, or an error naming the setting.
    pub fn addr(&self) -> Result<SocketAddr, SettingsError> {
        socket_addr("server", &self.host, self.port)
    }
}

impl AdminSettings {
    /// The address to bind, or an error naming the setting.
    pub fn addr(&self) -> Result<SocketAddr, SettingsError> {
        socket_addr("admin", &self.host, self.port)
    }
}

fn socket_addr(section: &str, host: &str, port: u16) -> Result<SocketAddr, SettingsError> {
    let ip = host.parse().map_err(|_| SettingsError::Invalid {
        key: format!("{section}.host"),
        reason: format!("`{host}` is not an IP address"),
    })?;
    Ok(SocketAddr::new(ip, port))
}
