//! The inbox's style sheet and script, built into the binary: nothing to install or fetch.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::handlers::ApiError;

const STYLE: &str = include_str!("assets/inbox.css");
const SCRIPT: &str = include_str!("assets/inbox.js");

/// `GET /inbox/_assets/{name}`.
pub(super) async fn asset(Path(name): Path<String>) -> Response {
    let (body, kind) = match name.as_str() {
        "inbox.css" => (STYLE, "text/css; charset=utf-8"),
        "inbox.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        _ => {
            return ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no asset {name}"),
            )
            .into_response();
        }
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // An hour: a new release's assets reach open pages soon enough.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
