//! A function's router called in-process, as its Lambda binary calls it.

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use serde_json::Value;
use tower::ServiceExt;

/// What a router answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The `content-type` header (empty when there is none).
    pub content_type: String,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// `router`'s answer to `request` (an axum request, or a Lambda event's).
pub async fn respond<B>(router: Router, request: http::Request<B>) -> Answer
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let response = router.oneshot(request).await.expect("router answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    Answer {
        status,
        content_type,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// POSTs `body` of `content_type` to `uri`: the status and the JSON answer.
pub async fn post(router: Router, uri: &str, content_type: &str, body: String) -> (u16, Value) {
    let request = http::Request::post(uri)
        .header("content-type", content_type)
        .body(Body::from(body))
        .expect("request");
    let answer = respond(router, request).await;
    (answer.status, answer.json())
}
