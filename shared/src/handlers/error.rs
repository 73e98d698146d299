//! The JSON error every HTTP handler answers with: `{"error": code, "detail": text}`, and
//! the middleware that makes every other error answer the same shape.

use axum::Json;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Longest path and query answered. Twilio's and the CRMs' URLs are far shorter, and
/// proxies commonly stop near 8 KiB; a longer one gets a JSON 414 here. (Past 64 KiB hyper
/// answers an empty 414 itself, before any route runs; on AWS the front answers first.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Most bytes of a plain-text error body kept as the detail: axum's rejection texts are a
/// line long.
const MAX_DETAIL_BYTES: usize = 4 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: StatusCode,
    /// A stable, machine-readable code (`not_found`, `invalid_signature`...).
    pub error: String,
    /// What went wrong, for a person.
    pub detail: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.to_string(),
            detail: detail.into(),
        }
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// An error named after its status (`405` → `method_not_allowed`), for answers no
    /// handler made: axum's extractor rejections, 405, 414.
    pub fn from_status(status: StatusCode, detail: impl Into<String>) -> Self {
        let code: String = status
            .canonical_reason()
            .unwrap_or("error")
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        ApiError::new(status, &code, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(&self)).into_response()
    }
}

/// What a use case's answer means over HTTP: its status.
pub trait HttpStatus {
    fn status(&self) -> StatusCode;
}

/// A use case's error as an HTTP answer: its status, a stable code, and its text as the
/// detail. Each use-case error says this once (below), so a route is
/// `usecase(...).await?` and answers it as [`ApiError`].
pub trait HttpError: HttpStatus + std::fmt::Display {
    fn code(&self) -> &'static str;
    /// Logs what the answer does not tell (a backend's failure); nothing by default.
    fn report(&self) {}
}

impl<E: HttpError> From<E> for ApiError {
    fn from(e: E) -> Self {
        e.report();
        ApiError::new(e.status(), e.code(), e.to_string())
    }
}

/// Answer for paths no router knows.
pub async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route for {}", uri.path()),
    )
}

/// Middleware: every error answer is `{error, detail}` JSON, but the inbox's HTML pages.
/// What the handlers answer already is; what axum answers for them (405 with no body, extractor rejections as plain
/// text: 400, 413, 415, 422) is rewritten here, with the status kept and the text as the
/// detail. One place, so a new route or extractor cannot answer otherwise.
pub async fn json_errors(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        let detail = format!("the URL is {uri_bytes} bytes; at most {MAX_URI_BYTES} are read");
        return ApiError::from_status(StatusCode::URI_TOO_LONG, detail).into_response();
    }
    let target = format!("{} {}", request.method(), request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    // JSON is already the shape; HTML is a page answering a browser (the team inbox).
    let answered = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if answered || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    as_json_error(response, &target).await
}

/// `response` (an error that is not JSON) as an [`ApiError`], its other headers (`Allow`
/// on a 405) kept.
async fn as_json_error(response: Response, target: &str) -> Response {
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_DETAIL_BYTES)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let detail = if text.is_empty() {
        let reason = parts.status.canonical_reason().unwrap_or("error");
        format!("{reason}: {target}")
    } else {
        text
    };
    let (json_parts, json_body) = ApiError::from_status(parts.status, detail)
        .into_response()
        .into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_named_after_the_status() {
        let code = |s| ApiError::from_status(s, "").error;
        assert_eq!(code(StatusCode::METHOD_NOT_ALLOWED), "method_not_allowed");
        assert_eq!(code(StatusCode::URI_TOO_LONG), "uri_too_long");
        assert_eq!(code(StatusCode::PAYLOAD_TOO_LARGE), "payload_too_large");
        assert_eq!(
            code(StatusCode::UNPROCESSABLE_ENTITY),
            "unprocessable_entity"
        );
    }
}
