//! The dashboard: one page, its script and its style, built into the
//! binary (no build step, nothing fetched from elsewhere).

use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};

use super::http::{not_allowed, problem, with_body};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");
/// A folder, so the browser asks for no favicon.ico.
const ICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
    <path d=\"M1 3h5l2 2h7v9H1z\" fill=\"#0047ab\"/></svg>";

/// Only this origin's script and style, no inline script, no framing, no
/// forms posted anywhere; the API on the same origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

pub(super) fn serve(
    method: &Method,
    path: &str,
) -> hyper::Response<http_body_util::Full<hyper::body::Bytes>> {
    let (content_type, body) = match path {
        "/" | "/index.html" => ("text/html; charset=utf-8", INDEX),
        "/dashboard.js" => ("text/javascript; charset=utf-8", SCRIPT),
        "/dashboard.css" => ("text/css; charset=utf-8", STYLE),
        "/favicon.svg" => ("image/svg+xml", ICON),
        _ => return problem(StatusCode::NOT_FOUND, "no such page"),
    };
    if method != Method::GET && method != Method::HEAD {
        return not_allowed("GET, HEAD");
    }
    let mut reply = with_body(StatusCode::OK, content_type, body);
    let headers = reply.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    reply
}
