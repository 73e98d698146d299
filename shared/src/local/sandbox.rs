//! `/_sandbox/...`: what the sandbox carrier, outbox and CRM did, as JSON, plus a way to
//! play the part of a person texting one of the account's numbers.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::LocalRuntime;
use crate::adapters::embedded::carrier::sandbox_sid;
use crate::domain::twilio_signature;
use crate::domain::{AccountId, PhoneNumber};
use crate::handlers::ApiError;
use crate::handlers::http::INBOUND_PATH;

pub fn router(runtime: Arc<LocalRuntime>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/_sandbox/messages", get(messages))
        .route("/_sandbox/emails", get(emails))
        .route("/_sandbox/crm/{account}/contacts", get(contacts))
        .route("/_sandbox/crm/{account}/notes", get(notes))
        .route("/_sandbox/crm/{account}/goals", get(goals))
        .route("/_sandbox/inbound", post(simulate_inbound))
        .with_state(runtime)
}

/// Most items one sandbox listing returns (enough for a benchmark's backlog).
const MAX_LIMIT: usize = 10_000;

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

impl Limit {
    fn get(&self) -> usize {
        self.limit.unwrap_or(100).min(MAX_LIMIT)
    }
}

fn backend(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("sandbox read failed: {e}"))
}

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_account", e.to_string()))
}

async fn messages(
    State(rt): State<Arc<LocalRuntime>>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let messages = rt.carrier.messages(limit.get()).await.map_err(backend)?;
    Ok(Json(json!({ "messages": messages })))
}

async fn emails(
    State(rt): State<Arc<LocalRuntime>>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let emails = rt.outbox.list(limit.get()).await.map_err(backend)?;
    Ok(Json(json!({ "emails": emails })))
}

async fn contacts(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let contacts = rt
        .crm
        .contacts(Some(&account_id(&account)?))
        .await
        .map_err(backend)?;
    Ok(Json(json!({ "contacts": contacts })))
}

async fn notes(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let notes = rt
        .crm
        .notes(Some(&account_id(&account)?))
        .await
        .map_err(backend)?;
    Ok(Json(json!({ "notes": notes })))
}

async fn goals(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let goals = rt
        .crm
        .goals(Some(&account_id(&account)?), limit.get())
        .await
        .map_err(backend)?;
    Ok(Json(json!({ "goals": goals })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundText {
    /// The person's phone (E.164).
    from: String,
    /// One of the account's numbers (E.164).
    to: String,
    body: String,
    #[serde(default)]
    media_urls: Vec<String>,
}

/// Posts a signed Twilio inbound webhook for a text from `from` to `to`, exactly as Twilio
/// would, and answers with what the webhook answered.
async fn simulate_inbound(
    State(rt): State<Arc<LocalRuntime>>,
    Json(text): Json<InboundText>,
) -> Result<Json<Value>, ApiError> {
    let bad = |field: &str, e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("{field}: {e}"),
        )
    };
    let from = PhoneNumber::parse_e164(&text.from).map_err(|e| bad("from", e.to_string()))?;
    let to = PhoneNumber::parse_e164(&text.to).map_err(|e| bad("to", e.to_string()))?;
    let account = rt
        .app
        .store
        .account_by_number(&to)
        .await
        .map_err(backend)?
        .ok_or_else(|| {
            bad(
                "to",
                format!("{to} is not a number of any configured account"),
            )
        })?;
    let base = rt.app.settings.public_base_url.clone().unwrap_or_default();
    let url = format!("{base}{INBOUND_PATH}");
    let sid = sandbox_sid("SM", &rt.app.ids.new_id());
    let mut params: Vec<(String, String)> = vec![
        ("AccountSid".into(), account.twilio.account_sid.clone()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("Body".into(), text.body),
        ("From".into(), from.to_string()),
        ("MessageSid".into(), sid.clone()),
        ("NumMedia".into(), text.media_urls.len().to_string()),
        ("NumSegments".into(), "1".into()),
        ("SmsMessageSid".into(), sid.clone()),
        ("SmsSid".into(), sid.clone()),
        ("SmsStatus".into(), "received".into()),
        ("To".into(), to.to_string()),
    ];
    for (i, media) in text.media_urls.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), media.clone()));
        params.push((format!("MediaContentType{i}"), "image/jpeg".into()));
    }
    let signature = twilio_signature::sign(account.twilio.auth_token.expose(), &url, &params);
    let response = rt
        .http
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("cannot reach {url}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(Json(json!({
        "message_sid": sid,
        "webhook": { "url": url, "status": status, "body": body },
    })))
}
