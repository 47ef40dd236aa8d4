//! The command line: `serve` (the default), `sign` and `config`.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::processor::Acknowledge;
use crate::server::{App, stop_signal};
use crate::settings::{self, Layers, Secret, Settings};
use crate::telemetry;
use crate::webhook::signature::sign;

/// Exit code of a configuration error (`EX_CONFIG` in sysexits.h).
const EXIT_CONFIG: u8 = 78;

/// Receives GetStream.io video webhooks.
#[derive(Debug, Parser)]
#[command(name = "stream-webhooks", version, about)]
pub struct Cli {
    /// A TOML file layered over config/ and under environment variables.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Print the X-Signature Stream would send for a body.
    Sign {
        /// Secret to sign with; by default the configured one.
        #[arg(long)]
        secret: Option<String>,
        /// File holding the body; `-` or nothing reads standard input.
        file: Option<PathBuf>,
    },
    /// Print the effective configuration, secrets redacted.
    Config,
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("stream-webhooks: {err:#}");
            let config_error = err.downcast_ref::<settings::SettingsError>().is_some();
            ExitCode::from(if config_error { EXIT_CONFIG } else { 1 })
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let layers = Layers::from_process(cli.config);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings::load(&layers)?),
        Command::Sign { secret, file } => {
            let secret = match secret {
                Some(secret) => Secret::new(secret),
                None => configured_secret(&layers)?,
            };
            println!("{}", sign(&secret, &read_body(file)?));
            Ok(())
        }
        Command::Config => {
            let settings = settings::load(&layers)?;
            print!("{}", settings_json(&settings)?);
            Ok(())
        }
    }
}

fn configured_secret(layers: &Layers) -> anyhow::Result<Secret> {
    let settings = settings::load(layers)?;
    settings.webhook.secret.context("no secret is configured")
}

fn read_body(file: Option<PathBuf>) -> anyhow::Result<Vec<u8>> {
    match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
        }
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .context("cannot read standard input")?;
            Ok(body)
        }
    }
}

fn settings_json(settings: &Settings) -> anyhow::Result<String> {
    let value = serde_json::to_value(settings)?;
    Ok(serde_json::to_string_pretty(&value)? + "\n")
}

fn serve(settings: Settings) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let telemetry = telemetry::init(&settings)?;
        let environment = settings.environment;
        let app = App::bind(settings, Arc::new(Acknowledge)).await?;
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            public = %app.public_addr(),
            admin = %app.admin_addr(),
            environment = ?environment,
            traces_exported = telemetry.exporting(),
            "stream-webhooks started"
        );
        app.run(stop_signal()).await?;
        telemetry.shutdown().await;
        Ok(())
    })
}
