//! The HTTP routes (README "HTTP routes"), one axum `Router` per Lambda function. The same routers
//! run on Lambda (`lambda_http::run(router)`) and merged into the local server.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use super::error::{ApiError, HttpStatus, json_errors, route_not_found};
use super::http_errors::Undone;
use crate::app::{App, AppSettings};
use crate::domain::Account;
use crate::domain::send_request::{FieldsError, SendFields};
use crate::usecases::sequence::{self, StartFields};
use crate::usecases::status as status_usecase;
use crate::usecases::{WebhookRequest, accounts, goals, inbound, received, send_request};

use crate::routes::{GOALS_RESET_PATH, INBOUND_PATH, INSTASENT_CALLBACK_PATH};
use crate::routes::{RECEIVED_PATH, SEND_PATH, SEQUENCE_START_PATH, STATUS_PATH};

/// `POST /twilio/inbound`: Twilio's incoming-message webhook.
pub fn inbound_sms(app: Arc<App>) -> Router {
    Router::new()
        .route(INBOUND_PATH, post(inbound))
        .with_state(app)
}

/// `POST /twilio/status`: Twilio's delivery status callbacks; and
/// `POST /instasent/callback/{account}/{secret}`: Instasent's delivery reports.
pub fn status_callback(app: Arc<App>) -> Router {
    Router::new()
        .route(STATUS_PATH, post(status))
        .route(INSTASENT_CALLBACK_PATH, post(instasent_report))
        .with_state(app)
}

/// `POST /crm/{account}/send`: CRM campaign send requests;
/// `POST /crm/{account}/received`: whether a contact has received SMS (a goal tells the
/// campaign); and `POST /crm/{account}/goals/reset`: forget the goals the CRM said were
/// not configured (after an operator adds them in the CRM).
pub fn campaign_send(app: Arc<App>) -> Router {
    Router::new()
        .route(SEND_PATH, post(send))
        .route(RECEIVED_PATH, post(check_received))
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

/// The URL Twilio called and signed: the public base with the request's path and query.
fn signed_url(settings: &AppSettings, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    format!("{}{path}", public_base(settings, headers, uri))
}

/// Where the public reached this function: the configured public base URL (custom domains,
/// tunnels), else `https://` + the request's host (API Gateway and function URLs are
/// https only). Twilio signs URLs on it; the inbox's sign-in links point at it.
pub(crate) fn public_base(settings: &AppSettings, headers: &HeaderMap, uri: &Uri) -> String {
    if let Some(base) = &settings.public_base_url {
        return base.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    format!("https://{host}")
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
) -> Result<impl IntoResponse, ApiError> {
    let request = twilio_request(&app.settings, &headers, &uri, &body)?;
    let twiml = inbound::receive(&app, &request).await?;
    Ok(([(header::CONTENT_TYPE, "text/xml")], twiml))
}

/// Answers 204 once the status is stored and what it sets off is recorded or queued.
async fn status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let request = twilio_request(&app.settings, &headers, &uri, &body)?;
    status_usecase::receive(&app, &request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One Instasent delivery report: 200 once applied (or acknowledged and ignored), fast,
/// as Instasent asks (it retries anything else).
async fn instasent_report(
    State(app): State<Arc<App>>,
    Path((account, secret)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    status_usecase::instasent::receive(&app, &account, &secret, &body).await?;
    Ok(StatusCode::OK)
}

/// A CRM's send request: the account's key authenticates it; fields come from the query
/// string and the body (form or JSON, by `Content-Type`), the body's winning.
async fn send(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (account, fields) = keyed_fields(&app, &account, &headers, &uri, &body).await?;
    let reply = send_request::request_send(&app, &account, &fields)
        .await
        .map_err(Undone::answer(
            &account.id,
            "send request",
            "nothing was queued",
        ))?;
    tracing::info!(account = %account.id, outcome = ?reply.outcome, code = reply.code.as_deref(), repeated = reply.repeated, "send request");
    Ok((reply.outcome.status(), axum::Json(reply)).into_response())
}

/// A CRM's "has received SMS" check: authenticated and read like a send request; answers
/// 200 with the tally and the goal it queued.
async fn check_received(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (account, fields) = keyed_fields(&app, &account, &headers, &uri, &body).await?;
    let reply = received::check_received(&app, &account, &fields)
        .await
        .map_err(Undone::answer(
            &account.id,
            "received check",
            "no goal was queued",
        ))?;
    tracing::info!(account = %account.id, outcome = ?reply.outcome, received = reply.tally.as_ref().map(|t| t.received), repeated = reply.repeated, "received check");
    Ok((reply.outcome.status(), axum::Json(reply)).into_response())
}

/// A CRM request's account, authenticated by its key, and its fields: the query string's,
/// then the body's (form or JSON, by `Content-Type`) over them.
async fn keyed_fields(
    app: &App,
    account: &str,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<(Account, SendFields), ApiError> {
    let query = uri.query().unwrap_or_default();
    let query_pairs = query_pairs(query)?;
    let is_json = is_json(headers);
    let form_body = form_body(is_json, body);
    let account = authenticated(app, account, query_key(&query_pairs)?, form_body).await?;
    let fields = send_fields(query, is_json, body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e.to_string()))?;
    Ok((account, fields))
}

/// A send request's fields: the query string's, then the body's (form or JSON) over them.
fn send_fields(query: &str, is_json: bool, body: &[u8]) -> Result<SendFields, FieldsError> {
    let mut fields = SendFields::from_form(query.as_bytes())?;
    let from_body = if is_json {
        SendFields::from_json(body)
    } else {
        SendFields::from_form(body)
    }?;
    fields.merge(from_body);
    Ok(fields)
}

/// Whether the body is JSON by its `Content-Type` (else a form).
fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"))
}

/// The body where the key may sit: only form bodies (Keap's name/value pairs) carry one.
fn form_body(is_json: bool, body: &[u8]) -> &[u8] {
    if is_json { b"" } else { body }
}

/// A query string's name/value pairs.
fn query_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    serde_urlencoded::from_str(query).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("the query string cannot be read: {e}"),
        )
    })
}

/// The query string's `key`, if any. Given twice it is refused rather than one picked:
/// every CRM-facing route answers the same (README "HTTP routes").
fn query_key(pairs: &[(String, String)]) -> Result<Option<&str>, ApiError> {
    let mut keys = pairs.iter().filter(|(k, _)| k == "key").map(|(_, v)| v);
    match (keys.next(), keys.next()) {
        (first, None) => Ok(first.map(String::as_str)),
        (_, Some(_)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the query string repeats `key`; give the account's key once",
        )),
    }
}

/// The account a CRM-facing request names, authenticated by the account's secret key, given
/// as `key=` in the query string or as a form field (Keap's HTTP Post cannot set headers).
async fn authenticated(
    app: &App,
    account: &str,
    query_key: Option<&str>,
    form_body: &[u8],
) -> Result<Account, ApiError> {
    let form_key = serde_urlencoded::from_bytes::<Vec<(String, String)>>(form_body)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "key").map(|(_, v)| v));
    let key = query_key.map(str::to_string).or(form_key);
    Ok(accounts::authenticate(&*app.store, account, key.as_deref()).await?)
}

async fn reset_goals(
    State(app): State<Arc<App>>,
    Path(account): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let query_pairs = query_pairs(uri.query().unwrap_or_default())?;
    let account = authenticated(&app, &account, query_key(&query_pairs)?, &body).await?;
    let reset = goals::reset_disabled(&*app.store, &account.id).await?;
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
) -> Result<Response, ApiError> {
    let query = uri.query().unwrap_or_default();
    let query_pairs = query_pairs(query)?;
    let is_json = is_json(&headers);
    let form_body = form_body(is_json, &body);
    let account = authenticated(&app, &account, query_key(&query_pairs)?, form_body).await?;
    let fields = start_fields(&query_pairs, is_json, &body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", e))?;
    let Some(contact_id) = fields.contact_id else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_contact_id",
            "give the contact as contactId (in Keap: ~Contact.Id~)",
        ));
    };
    let (step, request_id) = (fields.step.as_deref(), fields.request_id.as_deref());
    let started =
        sequence::start_by_crm(&app, &account, &sequence_name, &contact_id, step, request_id)
            .await
            .map_err(Undone::answer(&account.id, "sequence start", "nothing was started"))?
            .map_err(|refusal| {
                tracing::info!(account = %account.id, sequence = sequence_name, code = refusal.code(), "sequence start refused");
                ApiError::from(refusal)
            })?;
    Ok((StatusCode::ACCEPTED, axum::Json(started)).into_response())
}

/// A sequence start's fields: the body's (form or JSON) over the query string's.
fn start_fields(
    query_pairs: &[(String, String)],
    is_json: bool,
    body: &[u8],
) -> Result<StartFields, String> {
    let from_body = if is_json {
        StartFields::from_json(body)
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .map(|pairs| StartFields::from_pairs(&pairs))
            .map_err(|e| format!("body is not application/x-www-form-urlencoded: {e}"))
    }?;
    Ok(StartFields::from_pairs(query_pairs).merge(from_body))
}
