//! Shared test harness: the real service on port 0, in-process or as the real binary.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use stream_webhooks::processor::{Acknowledge, EventProcessor};
use stream_webhooks::server::App;
use stream_webhooks::settings::{self, Layers, Secret, Settings};
use stream_webhooks::webhook::signature;
use tokio::sync::oneshot;

/// The secret every test app is configured with.
pub const SECRET: &str = "integration-test-secret-0123456789";

/// A running in-process service.
pub struct TestApp {
    /// `http://127.0.0.1:<port>` of the public listener.
    pub base: String,
    /// `http://127.0.0.1:<port>` of the admin listener.
    pub admin: String,
    /// A client without connection reuse surprises.
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Environment for a test app: loopback, free ports, the test secret.
pub fn test_env() -> HashMap<String, String> {
    [
        ("STREAM_WEBHOOKS__SERVER__HOST", "127.0.0.1"),
        ("STREAM_WEBHOOKS__SERVER__PORT", "0"),
        ("STREAM_WEBHOOKS__ADMIN__HOST", "127.0.0.1"),
        ("STREAM_WEBHOOKS__ADMIN__PORT", "0"),
        ("WEBHOOK_SECRET", SECRET),
        ("STREAM_WEBHOOKS_CONFIG_DIR", "/nonexistent"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// Settings for a test app, with extra variables on top.
pub fn test_settings(extra: &[(&str, &str)]) -> Settings {
    let mut env = test_env();
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    settings::load(&Layers {
        env,
        config_file: None,
    })
    .expect("test settings load")
}

/// Starts the service with the default processor.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_settings(&[]), Arc::new(Acknowledge)).await
}

/// Starts the service with given settings and processor.
pub async fn spawn_app_with(settings: Settings, processor: Arc<dyn EventProcessor>) -> TestApp {
    let app = App::bind(settings, processor).await.expect("binds");
    let base = format!("http://{}", app.public_addr());
    let admin = format!("http://{}", app.admin_addr());
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        admin,
        client: reqwest::Client::new(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestApp {
    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("{}/api/webhooks", self.base)
    }

    /// Posts a body signed with the test secret.
    pub async fn post_signed(&self, body: &[u8]) -> reqwest::Response {
        self.client
            .post(self.url())
            .header("content-type", "application/json")
            .header("x-signature", sign(body))
            .body(body.to_vec())
            .send()
            .await
            .expect("request sent")
    }

    /// The metrics exposition.
    pub async fn metrics(&self) -> String {
        let url = format!("{}/metrics", self.admin);
        self.client
            .get(url)
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// Stops the service and waits for it to drain.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("joins").expect("runs cleanly");
        }
    }
}

/// The signature Stream would send with the test secret.
pub fn sign(body: &[u8]) -> String {
    signature::sign(&Secret::new(SECRET), body)
}

/// The value of a sample line such as `name{labels} 3` in an exposition.
pub fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no sample {series} in exposition"))
}

/// The real binary, started with JSON logs on free ports.
pub struct Binary {
    pub child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    /// Log lines after the start-up line.
    pub lines: std::sync::mpsc::Receiver<String>,
}

impl Binary {
    /// Starts the binary with the test environment plus `extra`, and waits for its
    /// start-up line to learn the ports.
    pub fn start(extra: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stream-webhooks"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        command
            .envs(test_env())
            .env("STREAM_WEBHOOKS__LOG__FORMAT", "json");
        command.envs(extra.iter().copied());
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("binary starts");
        let stdout = child.stdout.take().expect("stdout");
        let (public, admin, lines) = read_startup(stdout);
        Self {
            child,
            public,
            admin,
            lines,
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    /// Waits for exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "binary did not exit in {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every log line printed until exit.
    pub fn remaining_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            out.push(line);
        }
        out
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines a child prints, read on a thread of their own as they come.
pub fn lines_of(stdout: ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn read_startup(
    stdout: ChildStdout,
) -> (SocketAddr, SocketAddr, std::sync::mpsc::Receiver<String>) {
    let rx = lines_of(stdout);
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("start-up line");
        let Ok(json) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        let fields = &json["fields"];
        if fields["message"] == "stream-webhooks started" {
            let addr = |key: &str| {
                let text = fields[key].as_str().expect("address field");
                text.parse::<SocketAddr>().expect("socket address")
            };
            return (addr("public"), addr("admin"), rx);
        }
    }
}
