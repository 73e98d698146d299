//! The HTTP routes of DESIGN §3, one axum `Router` per Lambda function. The same routers
//! run on Lambda (`lambda_http::run(router)`) and merged into the local server.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::error::{ApiError, route_not_found};
use crate::app::{App, AppSettings};
use crate::usecases::inbound::{self, InboundError, WebhookRequest};

pub const INBOUND_PATH: &str = "/twilio/inbound";
pub const STATUS_PATH: &str = "/twilio/status";
pub const SEND_PATH: &str = "/crm/{account}/send";
pub const SEQUENCE_START_PATH: &str = "/crm/{account}/sequences/{sequence}/start";

/// `POST /twilio/inbound`: Twilio's incoming-message webhook.
pub fn inbound_sms(app: Arc<App>) -> Router {
    Router::new()
        .route(INBOUND_PATH, post(inbound))
        .with_state(app)
}

/// `POST /twilio/status`: Twilio's delivery status callbacks.
pub fn status_callback(app: Arc<App>) -> Router {
    Router::new()
        .route(STATUS_PATH, post(status))
        .with_state(app)
}

/// `POST /crm/{account}/send`: CRM campaign send requests.
pub fn campaign_send(app: Arc<App>) -> Router {
    Router::new().route(SEND_PATH, post(send)).with_state(app)
}

/// `POST /crm/{account}/sequences/{sequence}/start`: start a conversational sequence.
pub fn sequence_start(app: Arc<App>) -> Router {
    Router::new()
        .route(SEQUENCE_START_PATH, post(start_sequence))
        .with_state(app)
}

/// Adds the JSON 404 for unknown paths; each Lambda's router and the local server end
/// with it.
pub fn with_fallback(router: Router) -> Router {
    router.fallback(route_not_found)
}

/// The URL Twilio called and signed: the configured public base URL (custom domains,
/// tunnels) with the request's path and query, else `https://` + the request's host.
fn signed_url(settings: &AppSettings, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match &settings.public_base_url {
        Some(base) => format!("{base}{path}"),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .unwrap_or_default();
            format!("https://{host}{path}")
        }
    }
}

/// Twilio's form fields, in order, values exactly as sent (no trimming).
fn form_params(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            format!("body is not application/x-www-form-urlencoded: {e}"),
        )
    })
}

async fn inbound(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let params = match form_params(&body) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let request = WebhookRequest {
        url: signed_url(&app.settings, &headers, &uri),
        signature: headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        params,
    };
    match inbound::receive(&app, &request).await {
        Ok(twiml) => ([(header::CONTENT_TYPE, "text/xml")], twiml).into_response(),
        Err(e) => {
            let (status, code) = match &e {
                InboundError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                InboundError::UnknownNumber(_) => (StatusCode::NOT_FOUND, "unknown_number"),
                InboundError::BadSignature => (StatusCode::FORBIDDEN, "invalid_signature"),
                InboundError::InProgress(_) => (StatusCode::SERVICE_UNAVAILABLE, "in_progress"),
                InboundError::Backend(detail) => {
                    tracing::error!(detail, "inbound webhook failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            };
            ApiError::new(status, code, e.to_string()).into_response()
        }
    }
}

async fn status(State(_app): State<Arc<App>>) -> ApiError {
    ApiError::not_implemented("status callback processing", 4)
}

async fn send(State(_app): State<Arc<App>>, Path(_account): Path<String>) -> ApiError {
    ApiError::not_implemented("CRM send requests", 4)
}

async fn start_sequence(
    State(_app): State<Arc<App>>,
    Path((_account, _sequence)): Path<(String, String)>,
) -> ApiError {
    ApiError::not_implemented("sequence starts", 5)
}
