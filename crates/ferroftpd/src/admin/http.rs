//! HTTP: the accept loop, the checks every request goes through (origin,
//! token, body size), and the routes.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use ipnet::IpNet;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::Semaphore;

use super::json::{self, BanJson, BanMade, Info, NewBan, Problem};
use super::{assets, Inner};

/// Longest an admin connection may stay open (one request each: no
/// keep-alive).
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections served at once; more wait in the listener's backlog.
const MAX_CONNECTIONS: usize = 64;
/// The largest request body read.
const MAX_BODY: usize = 4096;

pub(super) enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

pub(super) async fn serve(inner: Arc<Inner>, listener: Listener) {
    let stop = inner.server.stop_token();
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            a = accept(&listener) => a,
            () = stop.cancelled() => return,
        };
        let (io, client) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "admin listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            serve_connection(inner, io, client).await;
            drop(permit);
        });
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The next connection and its client's address (`None` on a Unix socket).
async fn accept(listener: &Listener) -> std::io::Result<(Box<dyn Io>, Option<IpAddr>)> {
    Ok(match listener {
        Listener::Tcp(l) => {
            let (stream, peer) = l.accept().await?;
            let ip = ferroftpd_proto::address::canonical_ip(peer.ip());
            (Box::new(stream), Some(ip))
        }
        Listener::Unix(l) => (Box::new(l.accept().await?.0), None),
    })
}

async fn serve_connection(inner: Arc<Inner>, io: Box<dyn Io>, client: Option<IpAddr>) {
    let service = hyper::service::service_fn(move |req| {
        let inner = inner.clone();
        async move { Ok::<_, Infallible>(respond(&inner, req, client).await) }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(16 * 1024)
        .serve_connection(hyper_util::rt::TokioIo::new(io), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Err(e)) => tracing::debug!(error = %e, "admin connection failed"),
        Err(_) => tracing::debug!("admin connection timed out"),
        Ok(Ok(())) => {}
    }
}

type Reply = Response<Full<Bytes>>;

async fn respond(inner: &Inner, req: Request<Incoming>, client: Option<IpAddr>) -> Reply {
    let path = req.uri().path().to_owned();
    if !path.starts_with("/api/") {
        return assets::serve(req.method(), &path);
    }
    let mut reply = api(inner, req, client, &path).await;
    let headers = reply.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    reply
}

async fn api(inner: &Inner, req: Request<Incoming>, client: Option<IpAddr>, path: &str) -> Reply {
    if !same_origin(&req) {
        return problem(StatusCode::FORBIDDEN, "cross-origin requests are refused");
    }
    if let Some(wait) = inner.failures.refused(client) {
        let mut reply = problem(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests with a wrong token; try again later",
        );
        let secs = wait.as_secs().max(1).to_string();
        if let Ok(v) = HeaderValue::from_str(&secs) {
            reply.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return reply;
    }
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if !inner.token.accepts(authorization) {
        inner.failures.record(client);
        tracing::warn!(client = %client.map_or_else(|| "unix socket".to_owned(), |ip| ip.to_string()), %path, "admin request with a missing or wrong token");
        let mut reply = problem(StatusCode::UNAUTHORIZED, "a valid bearer token is needed");
        reply.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"ferroftpd\""),
        );
        return reply;
    }
    let method = req.method().clone();
    let route: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    if !path.starts_with("/api/v1/") {
        return problem(StatusCode::NOT_FOUND, "no such route");
    }
    let server = &inner.server;
    match (&method, route.as_slice()) {
        (&Method::GET, ["info"]) => ok(&Info::new(inner)),
        (&Method::GET, ["sessions"]) => {
            let list: Vec<json::Session> = server.sessions().into_iter().map(Into::into).collect();
            ok(&list)
        }
        (&Method::GET, ["sessions", id]) => match id.parse().ok().and_then(|id| server.session(id))
        {
            Some(s) => ok(&json::Session::from(s)),
            None => no_session(id),
        },
        (&Method::DELETE, ["sessions", id]) => match id.parse() {
            Ok(n) if server.kick(n) => {
                tracing::info!(session = n, "session kicked by the administrator");
                empty(StatusCode::NO_CONTENT)
            }
            _ => no_session(id),
        },
        (&Method::GET, ["bans"]) => {
            let list: Vec<BanJson> = server
                .bans_everywhere()
                .await
                .into_iter()
                .map(Into::into)
                .collect();
            ok(&list)
        }
        (&Method::POST, ["bans"]) => ban(inner, req).await,
        (&Method::DELETE, ["bans", rest @ ..]) if !rest.is_empty() => {
            let text = percent_decode(&rest.join("/"));
            match parse_network(&text) {
                Ok(net) if server.unban_everywhere(net).await => {
                    tracing::info!(%net, "ban lifted by the administrator");
                    empty(StatusCode::NO_CONTENT)
                }
                Ok(_) => problem(StatusCode::NOT_FOUND, "no such ban"),
                Err(e) => problem(StatusCode::BAD_REQUEST, &e),
            }
        }
        (&Method::POST, ["reload"]) => reload(inner).await,
        (_, ["info" | "sessions"]) => not_allowed("GET"),
        (_, ["sessions", _]) => not_allowed("GET, DELETE"),
        (_, ["bans"]) => not_allowed("GET, POST"),
        (_, ["bans", _, ..]) => not_allowed("DELETE"),
        (_, ["reload"]) => not_allowed("POST"),
        _ => problem(StatusCode::NOT_FOUND, "no such route"),
    }
}

/// 405, with the methods the route takes (RFC 9110 asks for them).
pub(super) fn not_allowed(allow: &'static str) -> Reply {
    let mut reply = problem(StatusCode::METHOD_NOT_ALLOWED, "method not allowed here");
    reply
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    reply
}

fn no_session(id: &str) -> Reply {
    if id.parse::<u64>().is_err() {
        return problem(StatusCode::BAD_REQUEST, "a session id is a number");
    }
    problem(StatusCode::NOT_FOUND, "no such session")
}

async fn ban(inner: &Inner, req: Request<Incoming>) -> Reply {
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return problem(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/json",
        );
    }
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "the body is too large or was cut short",
            )
        }
    };
    let new: NewBan = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &format!("bad ban: {e}")),
    };
    let network = match parse_network(&new.address) {
        Ok(n) => n,
        Err(e) => return problem(StatusCode::BAD_REQUEST, &e),
    };
    if new.duration.is_some_and(|d| d > json::MAX_BAN_SECONDS) {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!(
                "duration: at most {} seconds (ten years); give none for a ban until lifted",
                json::MAX_BAN_SECONDS
            ),
        );
    }
    let duration = new.duration.map(Duration::from_secs);
    if !inner.server.ban(network, duration) {
        return problem(StatusCode::INSUFFICIENT_STORAGE, "the ban list is full");
    }
    let kicked = if new.kick {
        inner.server.kick_from(network)
    } else {
        0
    };
    tracing::info!(%network, ?duration, kicked, "address banned by the administrator");
    let mut reply = ok(&BanMade::new(network, new.duration, kicked));
    *reply.status_mut() = StatusCode::CREATED;
    reply
}

async fn reload(inner: &Inner) -> Reply {
    let Some(reload) = &inner.reload else {
        return problem(
            StatusCode::NOT_IMPLEMENTED,
            "this server cannot reload its settings",
        );
    };
    tracing::info!("reload asked by the administrator");
    match reload().await {
        Ok(()) => ok(&serde_json::json!({ "reloaded": true })),
        Err(e) => problem(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("not reloaded: {e}"),
        ),
    }
}

/// An address (`192.0.2.7`, `2001:db8::1`) or a network (`192.0.2.0/24`).
fn parse_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(IpNet::from(ferroftpd_proto::address::canonical_ip(ip)));
    }
    text.parse::<IpNet>()
        .map(|n| n.trunc())
        .map_err(|_| format!("not an address or network: {:?}", truncated(text)))
}

fn truncated(text: &str) -> String {
    text.chars().take(64).collect()
}

/// `%2F` and the like decoded; invalid escapes are kept as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// True unless the request names an `Origin` other than the listener it
/// came to (`Host`): a page of another site cannot drive the API, even
/// with a token it somehow had.
fn same_origin<B>(req: &Request<B>) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = req.headers().get(header::HOST) else {
        return false;
    };
    let (Ok(origin), Ok(host)) = (origin.to_str(), host.to_str()) else {
        return false;
    };
    origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

fn ok<T: serde::Serialize>(value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => with_body(StatusCode::OK, "application/json", body),
        Err(e) => {
            tracing::error!(error = %e, "admin reply not serialized");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

pub(super) fn problem(status: StatusCode, error: &str) -> Reply {
    let body = serde_json::to_vec(&Problem { error }).unwrap_or_default();
    with_body(status, "application/json", body)
}

fn empty(status: StatusCode) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::new()));
    *reply.status_mut() = status;
    reply
}

pub(super) fn with_body(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Reply {
    let mut reply = Response::new(Full::new(body.into()));
    *reply.status_mut() = status;
    reply
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_and_escapes() {
        assert_eq!(
            parse_network("192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("::ffff:192.0.2.7").unwrap().to_string(),
            "192.0.2.7/32"
        );
        assert_eq!(
            parse_network("192.0.2.9/24").unwrap().to_string(),
            "192.0.2.0/24"
        );
        assert!(parse_network("example.com").is_err());
        assert_eq!(percent_decode("192.0.2.0%2F24"), "192.0.2.0/24");
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
    }

    #[test]
    fn origins() {
        let req = |origin: Option<&str>, host: Option<&str>| {
            let mut b = Request::builder();
            if let Some(o) = origin {
                b = b.header(header::ORIGIN, o);
            }
            if let Some(h) = host {
                b = b.header(header::HOST, h);
            }
            b.body(()).unwrap()
        };
        assert!(same_origin(&req(None, Some("127.0.0.1:9180"))));
        assert!(same_origin(&req(
            Some("http://127.0.0.1:9180"),
            Some("127.0.0.1:9180")
        )));
        assert!(!same_origin(&req(
            Some("http://evil.example"),
            Some("127.0.0.1:9180")
        )));
        assert!(!same_origin(&req(Some("null"), Some("127.0.0.1:9180"))));
        assert!(!same_origin(&req(Some("http://127.0.0.1:9180"), None)));
    }
}
