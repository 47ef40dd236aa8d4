//! Layered configuration: embedded defaults, per-environment files, `config/` on disk,
//! `--config`, environment variables and the secret file, lowest first; and the binary's
//! answer to a configuration it refuses.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use stream_webhooks::settings::{self, Layers, LogFormat, Settings, SettingsError};

const STRONG: &str = "a-production-secret-of-32-bytes!";

fn load(vars: &[(&str, &str)], config_file: Option<&std::path::Path>) -> Result<Settings, String> {
    let mut env: HashMap<String, String> = [(
        "STREAM_WEBHOOKS_CONFIG_DIR".to_owned(),
        "/nonexistent".to_owned(),
    )]
    .into();
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let layers = Layers {
        env,
        config_file: config_file.map(Into::into),
    };
    settings::load(&layers).map_err(|err: SettingsError| err.to_string())
}

fn file_with(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile()
        .expect("temp file");
    file.write_all(text.as_bytes()).expect("writes");
    file
}

#[test]
fn the_embedded_defaults_run_in_development_with_no_setup() {
    let settings = load(&[], None).expect("defaults load");
    assert_eq!(settings.server.port, 3000);
    assert_eq!(settings.admin.port, 3001);
    assert_eq!(settings.webhook.max_body_bytes, 1024 * 1024);
    assert_eq!(settings.webhook.dedupe_ttl, Duration::from_secs(600));
    assert_eq!(settings.webhook.dedupe_capacity, 100_000);
    assert_eq!(settings.log.format, LogFormat::Text);
    let secret = settings
        .webhook
        .secret
        .as_ref()
        .expect("development secret");
    assert_eq!(secret.expose(), settings::DEVELOPMENT_SECRET);
}

#[test]
fn production_needs_a_real_secret_and_logs_json() {
    let error = load(&[("STREAM_WEBHOOKS_ENV", "production")], None).expect_err("no secret");
    assert!(error.contains("no secret is set"), "{error}");
    let vars = [
        ("STREAM_WEBHOOKS_ENV", "production"),
        ("WEBHOOK_SECRET", settings::DEVELOPMENT_SECRET),
    ];
    let error = load(&vars, None).expect_err("development secret refused");
    assert!(error.contains("development secret"), "{error}");
    let vars = [
        ("STREAM_WEBHOOKS_ENV", "production"),
        ("WEBHOOK_SECRET", "short"),
    ];
    assert!(
        load(&vars, None).is_err(),
        "a short secret is refused in production"
    );
    let vars = [
        ("STREAM_WEBHOOKS_ENV", "production"),
        ("WEBHOOK_SECRET", STRONG),
    ];
    let settings = load(&vars, None).expect("production loads");
    assert_eq!(settings.log.format, LogFormat::Json);
    assert_eq!(settings.server.shutdown_delay, Duration::from_secs(5));
}

#[test]
fn each_layer_overrides_the_one_below() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("default.toml"),
        "[server]\nport = 4000\nhost = \"::1\"\n",
    )
    .expect("writes");
    std::fs::write(
        dir.path().join("development.toml"),
        "[server]\nport = 4001\n",
    )
    .expect("writes");
    let config_dir = dir.path().to_str().expect("utf-8 path");
    let on_disk = [("STREAM_WEBHOOKS_CONFIG_DIR", config_dir)];
    let settings = load(&on_disk, None).expect("loads");
    assert_eq!(
        (settings.server.host.as_str(), settings.server.port),
        ("::1", 4001)
    );

    let explicit = file_with("[server]\nport = 4002\n[log]\nlevel = \"debug\"\n");
    let settings = load(&on_disk, Some(explicit.path())).expect("loads");
    assert_eq!(
        (settings.server.port, settings.log.level.as_str()),
        (4002, "debug")
    );

    let mut vars = on_disk.to_vec();
    vars.push(("STREAM_WEBHOOKS__SERVER__PORT", "4003"));
    vars.push(("STREAM_WEBHOOKS__WEBHOOK__DEDUPE_TTL", "90s"));
    let settings = load(&vars, Some(explicit.path())).expect("loads");
    assert_eq!(settings.server.port, 4003);
    assert_eq!(settings.webhook.dedupe_ttl, Duration::from_secs(90));
    assert_eq!(
        settings.log.level, "debug",
        "untouched keys keep the file's value"
    );
}

#[test]
fn a_misspelt_key_in_a_file_is_refused() {
    let file = file_with("[webhook]\nmax_body_byte = 10\n");
    let error = load(&[], Some(file.path())).expect_err("unknown key");
    assert!(error.contains("max_body_byte"), "{error}");
}

#[test]
fn the_secret_file_is_read_and_its_newline_dropped() {
    let secret = file_with(&format!("{STRONG}\n"));
    let path = secret.path().to_str().expect("utf-8 path");
    let vars = [
        ("STREAM_WEBHOOKS_ENV", "production"),
        ("WEBHOOK_SECRET_FILE", path),
    ];
    let settings = load(&vars, None).expect("loads");
    assert_eq!(
        settings.webhook.secret.as_ref().map(|s| s.expose()),
        Some(STRONG)
    );

    let both = [("WEBHOOK_SECRET_FILE", path), ("WEBHOOK_SECRET", STRONG)];
    let error = load(&both, None).expect_err("ambiguous");
    assert!(error.contains("not both"), "{error}");
    let missing = [("WEBHOOK_SECRET_FILE", "/nonexistent/secret")];
    let error = load(&missing, None).expect_err("unreadable");
    assert!(error.contains("/nonexistent/secret"), "{error}");
}

#[test]
fn wrong_values_are_refused_with_the_key_named() {
    let cases = [
        (
            "STREAM_WEBHOOKS__WEBHOOK__MAX_BODY_BYTES",
            "0",
            "webhook.max_body_bytes",
        ),
        ("STREAM_WEBHOOKS__SERVER__PORT", "seventy", "port"),
        ("STREAM_WEBHOOKS__SERVER__REQUEST_TIMEOUT", "soon", "soon"),
        ("STREAM_WEBHOOKS_ENV", "staging", "staging"),
        ("STREAM_WEBHOOKS__SERVER__KEEP_ALIVE", "30s", "keep_alive"),
    ];
    for (name, value, mention) in cases {
        let error = load(&[(name, value)], None).expect_err(name);
        assert!(error.contains(mention), "{name}={value}: {error}");
    }
}

fn binary(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stream-webhooks"))
        .args(args)
        .env_clear()
        .env("STREAM_WEBHOOKS_CONFIG_DIR", "/nonexistent")
        .envs(vars.iter().copied())
        .output()
        .expect("binary runs")
}

#[test]
fn the_binary_exits_78_on_a_refused_configuration() {
    let output = binary(&[], &[("STREAM_WEBHOOKS_ENV", "production")]);
    assert_eq!(output.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("WEBHOOK_SECRET"),
        "the message says what to set: {stderr}"
    );
}

#[test]
fn the_config_command_prints_settings_without_secrets() {
    let vars = [
        ("WEBHOOK_SECRET", STRONG),
        (
            "STREAM_WEBHOOKS__WEBHOOK__PREVIOUS_SECRETS",
            "previous-secret-value-123456",
        ),
    ];
    let output = binary(&["config"], &vars);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let printed: serde_json::Value = serde_json::from_str(&stdout).expect("JSON settings");
    assert_eq!(printed["server"]["port"], 3000, "{stdout}");
    assert!(
        !stdout.contains(STRONG) && !stdout.contains("previous-secret-value"),
        "{stdout}"
    );
}

#[test]
fn the_sign_command_matches_what_the_server_verifies() {
    let body = file_with("{\"type\":\"call.created\"}");
    let path = body.path().to_str().expect("utf-8 path");
    let output = binary(&["sign", "--secret", common::SECRET, path], &[]);
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert_eq!(printed, common::sign(b"{\"type\":\"call.created\"}"));
}
