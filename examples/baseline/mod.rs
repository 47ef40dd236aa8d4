//! What the two baselines share: the command line, the answer they write and the same
//! HTTP/1.1 stack as the service (hyper's connection builder under a warp filter, with
//! `TCP_NODELAY`), so that a comparison measures the handler and nothing else.

use std::convert::Infallible;
use std::net::SocketAddr;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use warp::Filter;
use warp::reply::Response;

/// A JSON answer of the size the service writes for a typical event.
pub const ANSWER: &str = concat!(
    r#"{"received":true,"event_type":"call.ended","call_id":"standup-7f3k2q","#,
    r#""processed_at":"2024-01-15T11:30:00.912Z","duration":"0.000012s"}"#
);

/// The port from the first argument or `PORT`; 0 (any free port) when neither is set.
pub fn port() -> u16 {
    let text = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("PORT").ok());
    match text {
        Some(text) => text
            .parse()
            .unwrap_or_else(|_| usage(&format!("bad port `{text}`"))),
        None => 0,
    }
}

/// The secret from the second argument or `WEBHOOK_SECRET`; required.
pub fn secret() -> String {
    std::env::args()
        .nth(2)
        .or_else(|| std::env::var("WEBHOOK_SECRET").ok())
        .filter(|secret| !secret.is_empty())
        .unwrap_or_else(|| usage("no secret: pass it as the second argument or WEBHOOK_SECRET"))
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: <example> [PORT] [SECRET]   (or PORT=, WEBHOOK_SECRET=)");
    std::process::exit(2)
}

/// `ANSWER` with a JSON content type.
pub fn answer() -> Response {
    let mut response = Response::new(ANSWER.into());
    let json = warp::http::HeaderValue::from_static("application/json");
    response.headers_mut().insert("content-type", json);
    response
}

/// Serves `routes` on 127.0.0.1:`port` forever; prints `listening on <addr>` first.
pub async fn serve<F>(routes: F, port: u16) -> std::io::Result<()>
where
    F: Filter<Extract = (Response,), Error = Infallible> + Clone + Send + Sync + 'static,
    F::Future: Send,
{
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    println!("listening on {}", listener.local_addr()?);
    let builder = hyper::server::conn::http1::Builder::new();
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(warp::service(routes.clone()));
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(connection);
    }
}
