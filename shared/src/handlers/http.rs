//! The HTTP routes of DESIGN §3, one axum `Router` per Lambda function. The same routers
//! run on Lambda (`lambda_http::run(router)`) and merged into the local server.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;

use super::error::{ApiError, route_not_found};
use crate::app::App;

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

async fn inbound(State(_app): State<Arc<App>>) -> ApiError {
    ApiError::not_implemented("inbound SMS processing", 3)
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
