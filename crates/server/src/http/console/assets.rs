//! The console's style sheet and script, served by the binary itself (nothing is fetched from
//! elsewhere). Their addresses carry a hash of their text, so a browser keeps them for a year
//! and a new build's are fetched at once. They hold no data, so the sign-in page may load them.

use super::App;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::LazyLock;

pub(super) const CSS: &str = include_str!("assets/app.css");
pub(super) const JS: &str = include_str!("assets/app.js");

/// The first 12 hex digits of the SHA-256 of both files.
pub(super) static VERSION: LazyLock<String> =
    LazyLock::new(|| backroom_core::util::sha256_hex(&format!("{CSS}\n{JS}"))[..12].to_string());

pub(super) fn routes() -> Router<App> {
    Router::new().route("/console/assets/{file}", get(asset))
}

async fn asset(Path(file): Path<String>) -> Response {
    let (body, kind) = if file == format!("app-{}.css", *VERSION) {
        (CSS, "text/css; charset=utf-8")
    } else if file == format!("app-{}.js", *VERSION) {
        (JS, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    r
}
