//! The HTTP endpoint: `/metrics`, `/health` and `/ready`.

use std::convert::Infallible;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use tokio::net::TcpListener;

use crate::Server;

/// Longest a metrics HTTP connection may stay open.
const CONNECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves `/metrics`, `/health` and `/ready` for `server` on `listener`
/// until the server stops accepting (after [`Server::shutdown`] or
/// [`Server::abort`]).
///
/// - `GET /metrics`: the Prometheus text format (OpenMetrics).
/// - `GET /health`: liveness, `200 ok` while the process answers; with
///   shared limits, a second line says whether they answer (the server
///   serves either way, deciding alone when they do not).
/// - `GET /ready`: readiness, `200 ready` when [`Server::check_ready`]
///   succeeds, else `503` with the reason (the storage cannot be reached).
pub async fn serve(server: Server, listener: TcpListener) {
    let stop = server.stop_token();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stop.cancelled() => return,
        };
        let server = server.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let server = server.clone();
                async move { Ok::<_, Infallible>(respond(&server, &req).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, service);
            // A scraper that stalls cannot hold the connection for long.
            match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection failed"),
                Err(_) => tracing::debug!("metrics connection timed out"),
                Ok(Ok(())) => {}
            }
        });
    }
}

async fn respond<B>(server: &Server, req: &Request<B>) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let (status, content_type, body) = match (req.method().as_str(), req.uri().path()) {
        ("GET", "/metrics") => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            server.shared().metrics.render(),
        ),
        ("GET", "/health") => {
            let mut body = "ok\n".to_owned();
            if let Some(shared) = &server.shared().config.shared_limits {
                body.push_str(&shared.health());
                body.push('\n');
            }
            (StatusCode::OK, TEXT, body)
        }
        ("GET", "/ready") => match server.check_ready().await {
            Ok(()) => (StatusCode::OK, TEXT, "ready\n".to_owned()),
            Err(e) => {
                tracing::debug!("not ready: {e}");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    TEXT,
                    format!("not ready: {e}\n"),
                )
            }
        },
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
