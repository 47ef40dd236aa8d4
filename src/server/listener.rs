//! The accept loop: bounded connections, header and keep-alive timeouts, and a graceful
//! drain when told to close.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use warp::http::Request;
use warp::reply::Response;

use crate::settings::ServerSettings;

/// Per-connection bounds, shared by both listeners.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    max_connections: usize,
    header_read_timeout: Duration,
    max_header_bytes: usize,
    drain_timeout: Duration,
}

impl From<&ServerSettings> for ConnectionLimits {
    fn from(server: &ServerSettings) -> Self {
        Self {
            max_connections: server.max_connections,
            header_read_timeout: server.header_read_timeout,
            max_header_bytes: server.max_header_bytes,
            drain_timeout: server.shutdown_timeout,
        }
    }
}

/// Serves connections until `closed` turns true, then drains them; returns whether
/// every connection finished within the drain timeout.
pub async fn serve<S>(
    listener: TcpListener,
    service: S,
    limits: ConnectionLimits,
    mut closed: watch::Receiver<bool>,
) -> bool
where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let builder = builder(&limits);
    loop {
        // A connection slot is taken before accepting, so that excess connections wait
        // in the kernel's backlog instead of holding memory here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = closed.wait_for(|closed| *closed) => break,
        };
        let Ok(slot) = slot else { break };
        let stream = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = closed.wait_for(|closed| *closed) => break,
        };
        let stream = match stream {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, "connection ended with an error");
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::time::timeout(limits.drain_timeout, graceful.shutdown())
        .await
        .is_ok()
}

fn builder(limits: &ConnectionLimits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .keep_alive(true);
    builder
}
