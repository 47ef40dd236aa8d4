//! Layering: embedded defaults, files on disk, `--config`, environment, secret file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use config::{Config, Environment as EnvSource, File, FileFormat};

use super::{DEVELOPMENT_SECRET, Environment, MIN_SECRET_BYTES, Secret, Settings};

const EMBEDDED_DEFAULT: &str = include_str!("../../config/default.toml");
const EMBEDDED_DEVELOPMENT: &str = include_str!("../../config/development.toml");
const EMBEDDED_PRODUCTION: &str = include_str!("../../config/production.toml");

/// Why settings could not be loaded; every one ends the process with exit code 78.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file or variable could not be read or does not fit the settings' types.
    #[error("configuration: {0}")]
    Config(#[from] config::ConfigError),
    /// A setting has a value the service refuses.
    #[error("{key}: {reason}")]
    Invalid {
        /// The setting, as `section.key`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `WEBHOOK_SECRET_FILE` names a file that cannot be read.
    #[error("WEBHOOK_SECRET_FILE: cannot read {path}: {source}")]
    SecretFile {
        /// The path given.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
}

/// What the settings are read from; `from_process` for the real process.
#[derive(Clone, Debug, Default)]
pub struct Layers {
    /// Environment variables (the process's, or a test's own map).
    pub env: HashMap<String, String>,
    /// The file given with `--config`, if any.
    pub config_file: Option<PathBuf>,
}

impl Layers {
    /// The process's environment and the `--config` file.
    pub fn from_process(config_file: Option<PathBuf>) -> Self {
        Self {
            env: std::env::vars().collect(),
            config_file,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn environment(&self) -> Result<Environment, SettingsError> {
        match self.var("STREAM_WEBHOOKS_ENV") {
            None | Some("development") => Ok(Environment::Development),
            Some("production") => Ok(Environment::Production),
            Some(other) => Err(invalid(
                "STREAM_WEBHOOKS_ENV",
                format!("`{other}` is neither development nor production"),
            )),
        }
    }

    fn config_dir(&self) -> PathBuf {
        PathBuf::from(self.var("STREAM_WEBHOOKS_CONFIG_DIR").unwrap_or("config"))
    }
}

/// Loads, merges and checks the settings, lowest layer first.
pub fn load(layers: &Layers) -> Result<Settings, SettingsError> {
    let environment = layers.environment()?;
    let (name, embedded) = match environment {
        Environment::Development => ("development", EMBEDDED_DEVELOPMENT),
        Environment::Production => ("production", EMBEDDED_PRODUCTION),
    };
    let dir = layers.config_dir();
    let mut builder = Config::builder()
        .add_source(File::from_str(EMBEDDED_DEFAULT, FileFormat::Toml))
        .add_source(File::from_str(embedded, FileFormat::Toml))
        .add_source(optional_file(&dir.join("default.toml")))
        .add_source(optional_file(&dir.join(format!("{name}.toml"))));
    if let Some(path) = &layers.config_file {
        builder = builder.add_source(File::from(path.as_path()).required(true));
    }
    let mut settings: Settings = builder
        .add_source(environment_variables(layers))
        .build()?
        .try_deserialize()?;
    settings.environment = environment;
    apply_secret_variables(&mut settings, layers)?;
    validate(&settings)?;
    Ok(settings)
}

fn optional_file(path: &Path) -> File<config::FileSourceFile, FileFormat> {
    File::from(path).format(FileFormat::Toml).required(false)
}

/// `STREAM_WEBHOOKS__SERVER__PORT` sets `server.port`. The prefix separator is `__` too,
/// so that `STREAM_WEBHOOKS_ENV` is not read as a setting.
fn environment_variables(layers: &Layers) -> EnvSource {
    EnvSource::with_prefix("STREAM_WEBHOOKS")
        .prefix_separator("__")
        .separator("__")
        .list_separator(",")
        .with_list_parse_key("webhook.previous_secrets")
        .try_parsing(true)
        .source(Some(layers.env.clone().into_iter().collect()))
}

fn apply_secret_variables(settings: &mut Settings, layers: &Layers) -> Result<(), SettingsError> {
    match (
        layers.var("WEBHOOK_SECRET"),
        layers.var("WEBHOOK_SECRET_FILE"),
    ) {
        (Some(_), Some(_)) => Err(invalid(
            "WEBHOOK_SECRET",
            "set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE, not both",
        )),
        (Some(secret), None) => {
            settings.webhook.secret = Some(Secret::new(secret));
            Ok(())
        }
        (None, Some(path)) => {
            settings.webhook.secret = Some(read_secret_file(Path::new(path))?);
            Ok(())
        }
        (None, None) => Ok(()),
    }
}

/// A mounted Kubernetes Secret often ends with a newline that is not part of the secret.
fn read_secret_file(path: &Path) -> Result<Secret, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::SecretFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(Secret::new(text.trim_end_matches(['\n', '\r'])))
}

fn validate(settings: &Settings) -> Result<(), SettingsError> {
    let secret = settings
        .webhook
        .secret
        .as_ref()
        .map(Secret::expose)
        .unwrap_or_default();
    if secret.is_empty() {
        return Err(invalid(
            "webhook.secret",
            "no secret is set: set WEBHOOK_SECRET or WEBHOOK_SECRET_FILE",
        ));
    }
    if settings.environment != Environment::Development {
        let extra = settings.webhook.previous_secrets.iter();
        let keyed = settings.webhook.api_keys.values();
        for secret in settings.webhook.secret.iter().chain(extra).chain(keyed) {
            check_production_secret(secret.expose())?;
        }
    }
    positive("webhook.max_body_bytes", settings.webhook.max_body_bytes)?;
    positive("server.max_connections", settings.server.max_connections)?;
    positive(
        "server.max_concurrent_requests",
        settings.server.max_concurrent_requests,
    )?;
    positive("server.max_header_bytes", settings.server.max_header_bytes)?;
    positive("log.buffer_lines", settings.log.buffer_lines)?;
    settings.server.addr()?;
    settings.admin.addr()?;
    Ok(())
}

fn check_production_secret(secret: &str) -> Result<(), SettingsError> {
    if secret == DEVELOPMENT_SECRET {
        return Err(invalid(
            "webhook.secret",
            "the development secret is refused here",
        ));
    }
    if secret.len() < MIN_SECRET_BYTES {
        let reason = format!("a secret shorter than {MIN_SECRET_BYTES} bytes is refused here");
        return Err(invalid("webhook.secret", reason));
    }
    Ok(())
}

fn positive(key: &str, value: usize) -> Result<(), SettingsError> {
    if value == 0 {
        return Err(invalid(key, "must be greater than 0"));
    }
    Ok(())
}

fn invalid(key: &str, reason: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key: key.to_owned(),
        reason: reason.into(),
    }
}
