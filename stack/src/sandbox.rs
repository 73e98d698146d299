//! The stack runner's `/_sandbox/...` API, served on its own port: the routes and JSON
//! shapes of the local server's sandbox (`shared/src/local/sandbox.rs`), so a scenario
//! written against `smsflow serve` drives the deployed shape unchanged. What local mode
//! reads from its embedded sandbox comes here from the stand-ins and moto:
//!
//! | route | local mode | here |
//! |---|---|---|
//! | `GET /_sandbox/messages` | the sandbox carrier | the same carrier, behind the Twilio and Instasent stand-ins |
//! | `GET /_sandbox/emails` | the outbox | the SES e-mails moto accepted, kept by the AWS proxy as they passed (`sent_emails`) |
//! | `GET/POST /_sandbox/crm/{account}/contacts`, `…/notes`, `GET …/goals` | the sandbox CRM | the Keap stand-in's app for the account's API key |
//! | `POST /_sandbox/inbound` | signed webhook to the local server | signed webhook to the HTTP API front |
//! | `POST /_sandbox/email` | answered in process | SES receiving played for the stack's receipt rule (`ses_receiving`) |
//!
//! Where the answers cannot be identical:
//! - **E-mails**: `id` is SES's message id, where the outbox has a ULID; `sent_at` is when
//!   moto accepted it.
//! - **CRM ids** are the Keap stand-in's: one counter per app for contacts, notes, tags
//!   and custom fields together, where the sandbox CRM counts contacts and notes apart.
//!   Read ids from answers, never assume `1`.
//! - **Notes**: a logged note's `user_id` must be a Keap user id (an integer); the sandbox
//!   CRM takes any text. A note's `created_at` is when it was created, though Keap's own
//!   API answers one fixed date for notes created through it (see `App::note_times` in
//!   `stack/src/keap.rs`, written in `keap/notes.rs`).
//! - **Accounts**: the runner gives the sandbox its stand-in accounts only (sandbox CRM
//!   moved to the Keap stand-in, no event webhook; see `stand_ins::sandbox_accounts`).
//!   Listings for another account are empty, as the sandbox CRM's are for an account with
//!   no records, and a text to its number is refused (400) where local mode answers
//!   `403 not_a_sandbox_account`. Messages and e-mails are all the stand-ins' and moto's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::carrier::sandbox_sid;
use smsflow_shared::adapters::embedded::crm::{AchievedGoal, InAccount};
use smsflow_shared::domain::twilio_signature;
use smsflow_shared::domain::{AccountId, PhoneNumber, Timestamp, TwilioCredentials};
use smsflow_shared::handlers::ApiError;
use smsflow_shared::handlers::http::with_fallback;
use smsflow_shared::local::sandbox_api::{
    CONTACTS_PATH, EMAILS_PATH, GOALS_PATH, HEALTH_PATH, INBOUND_TEXT_PATH, InboundText, Limit,
    MESSAGES_PATH, NOTES_PATH, NewSandboxContact, NewSandboxNote, OUTAGE_PATH, Outage, account_id,
    answer, backend, crm_refused, inbound_params, invalid, json_body,
};
use smsflow_shared::local::sandbox_email::{EMAIL_PATH, VerdictQuery, delivered_email};
use smsflow_shared::ports::{Clock, NewNote, SystemClock};
use smsflow_shared::routes::INBOUND_PATH;

use crate::instasent::InstasentStandIn;
use crate::keap::KeapMock;
use crate::sent_emails::SentEmails;
use crate::ses_receiving::{ReceiveError, SesReceiving};
use crate::twilio::TwilioStandIn;

/// What the sandbox reads from and acts on.
pub struct SandboxTargets {
    pub http_api: HttpApiTarget,
    /// The accounts the stack was deployed with.
    pub accounts: BTreeMap<AccountId, SandboxAccount>,
    pub twilio: Arc<TwilioStandIn>,
    pub instasent: Arc<InstasentStandIn>,
    pub keap: Arc<KeapMock>,
    /// The e-mails the functions sent (the AWS proxy keeps them as they pass).
    pub emails: Arc<SentEmails>,
    /// SES receiving for the stack's receipt rules (none without a reply domain).
    pub ses: Option<Arc<SesReceiving>>,
}

/// The HTTP API that Twilio's webhooks reach.
pub struct HttpApiTarget {
    /// Where its front listens (`http://127.0.0.1:4100`).
    pub local_url: String,
    /// Its public domain (`abc123.execute-api.us-east-1.amazonaws.com`): webhooks are
    /// signed for `https://<domain>/twilio/inbound` and sent with this `Host`.
    pub public_domain: String,
}

/// One account, as the sandbox needs it.
pub struct SandboxAccount {
    /// Signs the webhooks of texts to the account's numbers.
    pub twilio: TwilioCredentials,
    /// The numbers people text (E.164).
    pub numbers: Vec<PhoneNumber>,
    /// The account's app in the Keap stand-in (see [`KeapMock::add_app`]).
    pub keap_api_key: String,
}

/// Why the sandbox cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot build the sandbox's HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

struct Sandbox {
    targets: SandboxTargets,
    http: reqwest::Client,
}

type Shared = Arc<Sandbox>;

/// The sandbox API, with the local server's answers for unknown routes and errors.
pub fn router(targets: SandboxTargets) -> Result<Router, SandboxError> {
    // Long enough for a cold start of the inbound function behind the front.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let sandbox = Arc::new(Sandbox { targets, http });
    let routes = Router::new()
        .route(
            HEALTH_PATH,
            get(|| async { answer(json!({"status": "ok"})) }),
        )
        .route(MESSAGES_PATH, get(messages))
        .route(EMAILS_PATH, get(emails))
        .route(CONTACTS_PATH, get(contacts).post(create_contact))
        .route(NOTES_PATH, get(notes).post(log_note))
        .route(GOALS_PATH, get(goals))
        .route(OUTAGE_PATH, put(outage))
        .route(INBOUND_TEXT_PATH, post(simulate_inbound))
        .route(EMAIL_PATH, post(deliver_email))
        .with_state(sandbox);
    Ok(with_fallback(routes))
}

async fn messages(
    State(sandbox): State<Shared>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let targets = &sandbox.targets;
    let mut messages = targets
        .twilio
        .messages(limit.get())
        .await
        .map_err(backend)?;
    let instasent = targets.instasent.messages(limit.get()).await;
    messages.extend(instasent.map_err(backend)?);
    // Newest first across both stand-ins, as the one carrier of local mode lists them.
    messages.sort_by_key(|m| std::cmp::Reverse(m.accepted_at));
    messages.truncate(limit.get());
    Ok(answer(json!({ "messages": messages })))
}

async fn emails(State(sandbox): State<Shared>, Query(limit): Query<Limit>) -> Json<Value> {
    let emails = sandbox.targets.emails.newest_first(limit.get());
    answer(json!({ "emails": emails }))
}

/// The Keap app of a given account, if the runner was given the account.
fn keap_key<'a>(sandbox: &'a Sandbox, account: &AccountId) -> Option<&'a str> {
    sandbox
        .targets
        .accounts
        .get(account)
        .map(|a| a.keap_api_key.as_str())
}

fn in_account<T>(account: &AccountId, items: Vec<T>) -> Vec<InAccount<T>> {
    items
        .into_iter()
        .map(|item| InAccount {
            account: account.clone(),
            item,
        })
        .collect()
}

async fn contacts(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    keap_records(&sandbox, &account, "contacts", KeapMock::contacts)
}

async fn notes(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    keap_records(&sandbox, &account, "notes", KeapMock::notes)
}

/// The account's records `read` from its Keap app (none when it has no app), in the
/// sandbox CRM's shape: `{ "<name>": [{ "account", ... }] }`.
fn keap_records<T: Serialize>(
    sandbox: &Sandbox,
    raw_account: &str,
    name: &str,
    read: fn(&KeapMock, &str) -> Vec<T>,
) -> Result<Json<Value>, ApiError> {
    let account = account_id(raw_account)?;
    let records = keap_key(sandbox, &account)
        .map(|key| read(&sandbox.targets.keap, key))
        .unwrap_or_default();
    Ok(answer(json!({ name: in_account(&account, records) })))
}

async fn goals(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let account = account_id(&account)?;
    let goals: Vec<AchievedGoal> = keap_key(&sandbox, &account)
        .map(|key| sandbox.targets.keap.goals(key, limit.get()))
        .unwrap_or_default()
        .into_iter()
        .map(|goal| AchievedGoal {
            account: account.clone(),
            integration: goal.integration,
            call_name: goal.call_name,
            contact_id: goal.contact_id.to_string(),
            achieved_at: goal.achieved_at,
        })
        .collect();
    Ok(answer(json!({ "goals": goals })))
}

/// An account the runner was given, and its Keap app (the CRM acts for those only).
fn configured_account<'a>(
    sandbox: &'a Sandbox,
    raw: &str,
) -> Result<(AccountId, &'a str), ApiError> {
    let id = account_id(raw)?;
    match keap_key(sandbox, &id) {
        Some(key) => Ok((id, key)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_account",
            format!("no configured account '{id}'"),
        )),
    }
}

/// `{"down": true}` takes the account's CRM down (every call answers 503) until
/// `{"down": false}`.
async fn outage(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (_, key) = configured_account(&sandbox, &account)?;
    let Outage { down } = json_body(&body)?;
    sandbox.targets.keap.set_down(key, down);
    Ok(answer(json!({ "down": down })))
}

/// Creates a contact in the account's Keap app, as someone working in the CRM would.
async fn create_contact(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (_, key) = configured_account(&sandbox, &account)?;
    let new = json_body::<NewSandboxContact>(&body)?.checked()?;
    let contact = sandbox
        .targets
        .keap
        .create_contact(key, &new)
        .map_err(crm_refused)?;
    Ok((StatusCode::CREATED, answer(json!({ "contact": contact }))))
}

/// Adds a typed note to a contact, as a dialer logging a call would.
async fn log_note(
    State(sandbox): State<Shared>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (account, key) = configured_account(&sandbox, &account)?;
    let new: NewSandboxNote = json_body(&body)?;
    let created_at = new
        .created_at
        .map_or_else(|| SystemClock.now(), Timestamp::from_millis);
    let note = NewNote {
        title: new.title,
        body: new.body,
        user_id: new.user_id,
    };
    let note = sandbox
        .targets
        .keap
        .log_note(key, &new.contact_id, &note, &new.note_type, created_at)
        .map_err(crm_refused)?;
    Ok((
        StatusCode::CREATED,
        answer(json!({ "note": InAccount { account, item: note } })),
    ))
}

/// Posts a signed Twilio inbound webhook for a text from `from` to `to` to the HTTP API
/// front, signed for the API's public URL as Twilio would, and answers with what the
/// webhook answered.
async fn simulate_inbound(
    State(sandbox): State<Shared>,
    Json(text): Json<InboundText>,
) -> Result<Json<Value>, ApiError> {
    let from = PhoneNumber::parse_e164(&text.from).map_err(|e| invalid("from", e))?;
    let to = PhoneNumber::parse_e164(&text.to).map_err(|e| invalid("to", e))?;
    let account = sandbox
        .targets
        .accounts
        .values()
        .find(|a| a.numbers.contains(&to))
        .ok_or_else(|| {
            invalid(
                "to",
                format!("{to} is not a number of any configured account"),
            )
        })?;
    let sid = sandbox_sid("SM", &ulid::Ulid::new().to_string());
    let params = inbound_params(&account.twilio.account_sid, &sid, &from, &to, &text);
    let api = &sandbox.targets.http_api;
    let url = format!("https://{}{INBOUND_PATH}", api.public_domain);
    let signature = twilio_signature::sign(account.twilio.auth_token.expose(), &url, &params);
    let front = format!("{}{INBOUND_PATH}", api.local_url.trim_end_matches('/'));
    let response = sandbox
        .http
        .post(&front)
        .header(header::HOST, &api.public_domain)
        .header(twilio_signature::SIGNATURE_HEADER, signature)
        .form(&params)
        .send()
        .await
        .map_err(|e| ApiError::internal(format!("cannot reach {url} at {front}: {e}")))?;
    let status = response.status().as_u16();
    let body = response.text().await.unwrap_or_default();
    Ok(answer(json!({
        "message_sid": sid,
        "webhook": { "url": url, "status": status, "body": body },
    })))
}

#[cfg(test)]
mod tests;

/// A teammate's e-mail to a reply address, received as SES receives it for the stack's
/// receipt rule: what `inbound-email` answered.
async fn deliver_email(
    State(sandbox): State<Shared>,
    Query(verdicts): Query<VerdictQuery>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(ses) = &sandbox.targets.ses else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "replies_not_configured",
            "the stack has no receipt rule: set [mail] reply_domain in the configuration (the ReplyDomain parameter)",
        ));
    };
    let email = delivered_email(&headers, &verdicts, &body, &ulid::Ulid::new().to_string())?;
    let outcomes = ses
        .receive(&email.raw, &email.verdicts)
        .await
        .map_err(|e| match e {
            ReceiveError::NoRule(_) => invalid("to", e),
            other => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                other.to_string(),
            ),
        })?;
    // inbound-email answers one outcome per SES record; SES delivers one per event.
    let outcome = outcomes.get(0).cloned().unwrap_or(Value::Null);
    Ok(answer(outcome))
}
