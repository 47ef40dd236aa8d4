//! The running service: both listeners, the public request wrapper, and the lifecycle
//! from start to a drained, flushed stop.

mod admin;
mod listener;
mod public;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::dedupe::Dedupe;
use crate::metrics::Metrics;
use crate::processor::{EventProcessor, Pipeline};
use crate::settings::Settings;
use crate::webhook::signature::Verifier;
use crate::webhook::{WebhookState, webhook};
use listener::ConnectionLimits;

/// A bound, not yet serving, service.
pub struct App {
    settings: Settings,
    public: TcpListener,
    admin: TcpListener,
    metrics: Metrics,
    processor: Arc<dyn EventProcessor>,
}

impl App {
    /// Binds both listeners; port 0 picks free ports (see `public_addr`, `admin_addr`).
    pub async fn bind(
        settings: Settings,
        processor: Arc<dyn EventProcessor>,
    ) -> anyhow::Result<Self> {
        let public_addr = settings.server.addr()?;
        let admin_addr = settings.admin.addr()?;
        let public = TcpListener::bind(public_addr)
            .await
            .with_context(|| format!("cannot listen on {public_addr} (server)"))?;
        let admin = TcpListener::bind(admin_addr)
            .await
            .with_context(|| format!("cannot listen on {admin_addr} (admin)"))?;
        let metrics = Metrics::new().context("cannot register metrics")?;
        Ok(Self {
            settings,
            public,
            admin,
            metrics,
            processor,
        })
    }

    /// The public listener's address.
    pub fn public_addr(&self) -> SocketAddr {
        self.public
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
    }

    /// The admin listener's address.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .local_addr()
            .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into())
    }

    /// The service's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Serves until `stop` resolves, then: not ready at once, still serving for
    /// `shutdown_delay`, then no new connections, in-flight requests drained within
    /// `shutdown_timeout`.
    pub async fn run(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let server = &self.settings.server;
        let ready = Arc::new(AtomicBool::new(true));
        let (close, closed) = watch::channel(false);
        let limits = ConnectionLimits::from(server);
        let public_service = public::PublicService::new(
            webhook(Arc::new(self.webhook_state())),
            self.metrics.clone(),
            server.max_concurrent_requests,
            server.request_timeout,
        );
        let public = tokio::spawn(listener::serve(
            self.public,
            public_service,
            limits,
            closed.clone(),
        ));
        let admin_service = admin::service(ready.clone(), self.metrics.clone());
        let admin = tokio::spawn(listener::serve(self.admin, admin_service, limits, closed));

        stop.await;
        ready.store(false, Ordering::SeqCst);
        tracing::info!(delay = ?server.shutdown_delay, "stopping: readiness withdrawn");
        tokio::time::sleep(server.shutdown_delay).await;
        let _ = close.send(true);
        let drained = public.await.context("public listener task failed")?;
        let _ = admin.await;
        if drained {
            tracing::info!("stopped: every in-flight request answered");
        } else {
            tracing::warn!(timeout = ?server.shutdown_timeout, "stopped: drain timed out");
        }
        Ok(())
    }

    fn webhook_state(&self) -> WebhookState {
        let webhook = &self.settings.webhook;
        WebhookState {
            verifier: Verifier::new(webhook),
            pipeline: Pipeline::new(self.processor.clone(), self.metrics.clone()),
            dedupe: Dedupe::new(webhook.dedupe_capacity, webhook.dedupe_ttl),
            metrics: self.metrics.clone(),
            max_body_bytes: webhook.max_body_bytes,
            body_read_timeout: self.settings.server.body_read_timeout,
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "stop signal received"),
        () = terminate => tracing::info!(signal = "SIGTERM", "stop signal received"),
    }
}
