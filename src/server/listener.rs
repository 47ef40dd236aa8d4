//! The accept loop: bounded connections, header and keep-alive timeouts, and a graceful
//! drain when told to close.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
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

/// After close, a connection that has not sent its first request yet gets this long to
/// send it: a request already on its way is answered rather than reset.
const FIRST_REQUEST_GRACE: Duration = Duration::from_millis(500);

/// How often the drain checks whether every connection has finished.
const DRAIN_POLL: Duration = Duration::from_millis(10);

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
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let for_connections = closed.clone();
    let spawn = |stream: TcpStream, slot: OwnedSemaphorePermit| {
        let closed = for_connections.clone();
        let connection = serve_connection(stream, service.clone(), limits, closed);
        tokio::spawn(async move {
            connection.await;
            drop(slot);
        });
    };
    loop {
        // A connection slot is taken before accepting, so that excess connections wait
        // in the kernel's backlog instead of holding memory here.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = closed.wait_for(|closed| *closed) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = closed.wait_for(|closed| *closed) => break,
        };
        match accepted {
            Ok((stream, _)) => spawn(stream, slot),
            Err(err) => {
                // Out of file descriptors and the like: pause rather than spin.
                tracing::warn!(error = %err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Connections the kernel already completed would be reset by closing the listener:
    // take them in and answer them too. The accept calls go straight to the socket, so
    // that none waits on a readiness event the reactor has not seen yet.
    match listener.into_std() {
        Ok(listener) => {
            while let Ok(slot) = slots.clone().try_acquire_owned() {
                let Ok((stream, _)) = listener.accept() else {
                    break;
                };
                let stream = stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream));
                match stream {
                    Ok(stream) => spawn(stream, slot),
                    Err(err) => tracing::warn!(error = %err, "a queued connection was lost"),
                }
            }
        }
        Err(err) => tracing::warn!(error = %err, "queued connections could not be drained"),
    }
    let drain = async {
        while slots.available_permits() < limits.max_connections {
            tokio::time::sleep(DRAIN_POLL).await;
        }
    };
    tokio::time::timeout(limits.drain_timeout, drain)
        .await
        .is_ok()
}

/// Serves one connection; once `closed` turns true, finishes the request in progress and
/// closes instead of waiting for another.
async fn serve_connection<S>(
    stream: TcpStream,
    service: S,
    limits: ConnectionLimits,
    mut closed: watch::Receiver<bool>,
) where
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let _ = stream.set_nodelay(true);
    let started = Arc::new(AtomicBool::new(false));
    let service = FirstRequest {
        inner: service,
        started: started.clone(),
    };
    let connection = builder(&limits).serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = closed.wait_for(|closed| *closed) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            let grace = FIRST_REQUEST_GRACE.min(limits.header_read_timeout);
            let first = async {
                if started.load(Ordering::SeqCst) {
                    return None;
                }
                tokio::time::timeout(grace, connection.as_mut()).await.ok()
            };
            match first.await {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    };
    log_end(result);
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// Notes that a connection has begun its first request.
struct FirstRequest<S> {
    inner: S,
    started: Arc<AtomicBool>,
}

impl<S: Service<Request<Incoming>>> Service<Request<Incoming>> for FirstRequest<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        self.started.store(true, Ordering::SeqCst);
        self.inner.call(request)
    }
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
