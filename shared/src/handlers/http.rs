//! The HTTP routes (README "HTTP routes"), one axum `Router` per Lambda function. The same routers
//! run on Lambda (`lambda_http::run(router)`) and merged into the local server.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::error::{ApiError, json_errors, route_not_found};
use crate::app::{App, AppSettings};
use crate::domain::send_request::SendFields;
use crate::usecases::WebhookRequest;
use crate::usecases::inbound::{self, InboundError};
use crate::usecases::send_request::{self, SendOutcome};
use crate::usecases::sequence::{self, StartFields, StartRefusal};
use crate::usecases::status::{self as status_usecase, StatusError};

use crate::routes::{GOALS_RESET_PATH, INBOUND_PATH, SEND_PATH, SEQUENCE_START_PATH, STATUS_PATH};

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

/// `POST /crm/{account}/send`: CRM campaign send requests; and
/// `POST /crm/{account}/goals/reset`: forget the goals the CRM said were not configured
/// (after an operator adds them in the CRM).
pub fn campaign_send(app: Arc<App>) -> Router {
    Router::new()
        .route(SEND_PATH, post(send))
        .route(GOALS_RESET_PATH, post(reset_goals))
        .with_state(app)
}

/// `POST /crm/{account}/sequences/{sequence}/start`: start a conversational sequence.
pub fn sequence_start(app: Arc<App>) -> Router {
    Router::new()
        .route(SEQUENCE_START_PATH, post(start_sequence))
        .with_state(app)
}

/// Adds the JSON 404 for unknown paths and makes every error answer `{error, detail}` JSON
/// (see [`json_errors`]); each Lambda's router and the local server end with it.
pub fn with_fallback(router: Router) -> Router {
    router
        .fallback(route_not_found)
        .layer(axum::middleware::from_fn(json_errors))
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

/// A Twilio webhook as the use cases check it: the signed URL, the signature header and the
/// form fields.
fn twilio_request(
    settings: &AppSettings,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<WebhookRequest, ApiError> {
    Ok(WebhookRequest {
        url: signed_url(settings, headers, uri),
        signature: headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        params: form_params(body)?,
    })
}

async fn inbound(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let request = match twilio_request(&app.settings, &headers, &uri, &body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    match inbound::receive(&app, &request).await {
        Ok(twiml) => ([(header::CONTENT_TYPE, "text/xml")], twiml).into_response(),
        Err(e) => {
            let (status, code) = match &e {
                InboundError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                InboundError::UnknownNumber(_) => (StatusCode::NOT_FOUND, "unknown_number"),
                InboundError::BadSignature => (StatusCode::FORBIDDEN, "invalid_signature"),
                InboundError::Backend(detail) => {
                    tracing::error!(detail, "inbound webhook failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            };
            ApiError::new(status, code, e.to_string()).into_response()
        }
    }
}

/// Answers 204 once the status is stored and what it sets off is recorded or queued.
async fn status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let request = match twilio_request(&app.settings, &headers, &uri, &body) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    match status_usecase::receive(&app, &request).await {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            let (status, code) = match &e {
                StatusError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
                StatusError::UnknownAccount(_) => (StatusCode::NOT_FOUND, "unknown_account"),
                StatusError::UnknownMessage(_) => (StatusCode::NOT_FOUND, "unknown_message"),
                StatusError::BadSignature => (StatusCode::FORBIDDEN, "invalid_signature"),
                StatusError::Backend(detail) => {
                    tracing::error!(detail, "status callback failed");
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal")
                }
            };
            ApiError::new(status, code, e.to_string()).into_response()
        }
    }
}

/// A CRM's send request: the account's key authenticates it; fields come from the query
/// string and the body (form or JSON, by `Content-Type`), the body's winning.
async fn send(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or_default();
    let query_key = serde_urlencoded::from_str::<KeyQuery>(query)
        .ok()
        .and_then(|q| q.key);
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    // The key may sit in the body only for form bodies (Keap's name/value pairs).
    let form_body: &[u8] = if is_json { b"" } else { &body };
    let account = match authenticate(&app, &account, query_key.as_deref(), form_body).await {
        Ok(account) => account,
        Err(e) => return e.into_response(),
    };
    let fields = SendFields::from_form(query.as_bytes()).and_then(|mut fields| {
        let from_body = if is_json {
            SendFields::from_json(&body)
        } else {
            SendFields::from_form(&body)
        }?;
        fields.merge(from_body);
        Ok(fields)
    });
    let fields = match fields {
        Ok(fields) => fields,
        Err(e) => {
            return ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string())
                .into_response();
        }
    };
    match send_request::request_send(&app, &account, &fields).await {
        Ok(reply) => {
            let status = match reply.outcome {
                SendOutcome::Queued => StatusCode::ACCEPTED,
                SendOutcome::Invalid => StatusCode::BAD_REQUEST,
                SendOutcome::UnknownContact => StatusCode::NOT_FOUND,
                SendOutcome::Refused => StatusCode::CONFLICT,
                SendOutcome::QueueFull => StatusCode::TOO_MANY_REQUESTS,
                SendOutcome::InProgress => StatusCode::CONFLICT,
            };
            tracing::info!(account = %account.id, outcome = ?reply.outcome, code = ?reply.code, repeated = reply.repeated, "send request");
            (status, axum::Json(reply)).into_response()
        }
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "send request could not be handled");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{e}; nothing was queued, retry later"),
            )
            .into_response()
        }
    }
}

#[derive(serde::Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

/// Authenticates a CRM-facing request by the account's secret key, given as `key=` in the
/// query string or as a form field (Keap's HTTP Post cannot set headers). Only the key's
/// hash is stored; the comparison is constant-time.
async fn authenticate(
    app: &App,
    account: &str,
    query_key: Option<&str>,
    body: &[u8],
) -> Result<crate::domain::Account, ApiError> {
    let id = crate::domain::AccountId::parse(account)
        .map_err(|e| ApiError::new(StatusCode::NOT_FOUND, "unknown_account", e.to_string()))?;
    let account = app
        .store
        .account(&id)
        .await
        .map_err(|e| ApiError::internal(format!("account lookup failed: {e}")))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_account",
                format!("no account {id}"),
            )
        })?;
    let form_key = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "key").map(|(_, v)| v));
    let Some(key) = query_key.map(str::to_string).or(form_key) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_key",
            "give the account's key as ?key=... in the URL or as a key form field",
        ));
    };
    if !account.send_key_hash.matches(&key) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_key",
            "the key does not match this account's key",
        ));
    }
    Ok(account)
}

async fn reset_goals(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    axum::extract::Query(query): axum::extract::Query<KeyQuery>,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let account = authenticate(&app, &account, query.key.as_deref(), &body).await?;
    let reset = app
        .store
        .reset_disabled_goals(&account.id)
        .await
        .map_err(|e| ApiError::internal(format!("reset failed: {e}")))?;
    tracing::info!(account = %account.id, reset, "disabled goals reset");
    Ok(axum::Json(
        serde_json::json!({ "account": account.id, "reset": reset }),
    ))
}

/// A CRM's sequence start: authenticated by the account's key like a send request;
/// `contactId` and the optional `step` from the query string and the body (form or JSON).
/// 202 started, 404 unknown sequence or contact, 409 already in a run (or opted out),
/// 400 a bad step or request.
async fn start_sequence(
    State(app): State<Arc<App>>,
    Path((account, sequence_name)): Path<(String, String)>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let query = uri.query().unwrap_or_default();
    let query_pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
    let query_key = query_pairs
        .iter()
        .find(|(k, _)| k == "key")
        .map(|(_, v)| v.clone());
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let form_body: &[u8] = if is_json { b"" } else { &body };
    let account = match authenticate(&app, &account, query_key.as_deref(), form_body).await {
        Ok(account) => account,
        Err(e) => return e.into_response(),
    };
    let from_body = if is_json {
        StartFields::from_json(&body)
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .map(|pairs| StartFields::from_pairs(&pairs))
            .map_err(|e| format!("body is not application/x-www-form-urlencoded: {e}"))
    };
    let fields = match from_body {
        Ok(fields) => StartFields::from_pairs(&query_pairs).merge(fields),
        Err(e) => return ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e).into_response(),
    };
    let Some(contact_id) = fields.contact_id else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_contact_id",
            "give the contact as contactId (in Keap: ~Contact.Id~)",
        )
        .into_response();
    };
    let started = sequence::start_by_crm(
        &app,
        &account,
        &sequence_name,
        &contact_id,
        fields.step.as_deref(),
        fields.request_id.as_deref(),
    )
    .await;
    match started {
        Ok(Ok(started)) => (StatusCode::ACCEPTED, axum::Json(started)).into_response(),
        Ok(Err(refusal)) => {
            let status = match refusal {
                StartRefusal::UnknownSequence { .. } | StartRefusal::UnknownContact(_) => {
                    StatusCode::NOT_FOUND
                }
                StartRefusal::AlreadyActive { .. }
                | StartRefusal::InProgress
                | StartRefusal::OptedOut(_)
                | StartRefusal::InvalidSequence { .. } => StatusCode::CONFLICT,
                StartRefusal::UnknownStep { .. }
                | StartRefusal::CrmStartOff(_)
                | StartRefusal::NoPhone { .. } => StatusCode::BAD_REQUEST,
            };
            tracing::info!(account = %account.id, sequence = sequence_name, code = refusal.code(), "sequence start refused");
            ApiError::new(status, refusal.code(), refusal.to_string()).into_response()
        }
        Err(e) => {
            tracing::error!(account = %account.id, error = %e, "sequence start could not be handled");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("{e}; nothing was started, retry later"),
            )
            .into_response()
        }
    }
}
