//! `/_sandbox/...`: what the sandbox carrier, outbox and CRM did, as JSON, plus ways to
//! play the other parties: a person texting one of the account's numbers, and people
//! working in the CRM (creating contacts, logging calls), a teammate answering a forward
//! by e-mail. For sandbox accounts only (see `sandbox_scope`): the others answer 403 and
//! their data is not listed.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::LocalRuntime;
use super::sandbox_api::{
    CONTACTS_PATH, EMAILS_PATH, GOALS_PATH, HEALTH_PATH, INBOUND_TEXT_PATH, InboundText, Limit,
    MEDIA_PATH, MESSAGES_PATH, NOTES_PATH, NewSandboxContact, NewSandboxNote, OUTAGE_PATH, Outage,
    account_id, answer, backend, crm_refused, inbound_params, invalid, json_body,
};
use super::sandbox_email::{EMAIL_PATH, VerdictQuery, delivered_email};
use super::sandbox_scope::{SandboxScope, is_sandbox_account, not_sandbox};
use crate::adapters::embedded::carrier::sandbox_sid;
use crate::adapters::embedded::crm::InAccount;
use crate::domain::email_reply::read_email;
use crate::domain::reply_address::ReplyToken;
use crate::domain::twilio_signature;
use crate::domain::{Account, AccountId, PhoneNumber, Timestamp};
use crate::handlers::ApiError;
use crate::ports::{Crm, NewNote};
use crate::routes::INBOUND_PATH;
use crate::usecases::email_reply::answer_by_email;

pub fn router(runtime: Arc<LocalRuntime>) -> Router {
    Router::new()
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
        .route(MEDIA_PATH, get(media))
        .with_state(runtime)
}

async fn scope(rt: &LocalRuntime) -> Result<SandboxScope, ApiError> {
    SandboxScope::load(&*rt.app.store).await.map_err(backend)
}

/// The carrier's messages sent on sandbox accounts' Twilio accounts.
async fn messages(
    State(rt): State<Arc<LocalRuntime>>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&rt).await?;
    let messages = rt
        .carrier
        .messages_where(limit.get(), move |m| scope.shows_message(m))
        .await
        .map_err(backend)?;
    Ok(answer(json!({ "messages": messages })))
}

/// The outbox's e-mails to sandbox accounts' addresses.
async fn emails(
    State(rt): State<Arc<LocalRuntime>>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let scope = scope(&rt).await?;
    let emails = rt
        .outbox
        .list_where(limit.get(), move |e| scope.shows_email(e))
        .await
        .map_err(backend)?;
    Ok(answer(json!({ "emails": emails })))
}

async fn contacts(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = listed_account(&rt, &account).await?;
    let contacts = rt.crm.contacts(Some(&id)).await.map_err(backend)?;
    Ok(answer(json!({ "contacts": contacts })))
}

async fn notes(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = listed_account(&rt, &account).await?;
    let notes = rt.crm.notes(Some(&id)).await.map_err(backend)?;
    Ok(answer(json!({ "notes": notes })))
}

async fn goals(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
    Query(limit): Query<Limit>,
) -> Result<Json<Value>, ApiError> {
    let id = listed_account(&rt, &account).await?;
    let goals = rt
        .crm
        .goals(Some(&id), limit.get())
        .await
        .map_err(backend)?;
    Ok(answer(json!({ "goals": goals })))
}

/// The account a sandbox CRM listing is for: a 403 for a stored account that is not a
/// sandbox account; an unknown one lists nothing, as an account without records does.
async fn listed_account(rt: &LocalRuntime, raw: &str) -> Result<AccountId, ApiError> {
    let id = account_id(raw)?;
    match rt.app.store.account(&id).await.map_err(backend)? {
        Some(account) if !is_sandbox_account(&account) => {
            Err(not_sandbox(&account, &format!("'{id}'")))
        }
        _ => Ok(id),
    }
}

/// A configured sandbox account (the sandbox CRM acts for those only).
async fn configured_account(rt: &LocalRuntime, raw: &str) -> Result<Account, ApiError> {
    let account = stored_account(rt, raw).await?;
    if !is_sandbox_account(&account) {
        return Err(not_sandbox(&account, &format!("'{}'", account.id)));
    }
    Ok(account)
}

/// The stored account named by a path's `{account}`: 400 for a malformed id, 404 for an
/// unknown one.
pub(super) async fn stored_account(rt: &LocalRuntime, raw: &str) -> Result<Account, ApiError> {
    let id = account_id(raw)?;
    rt.app
        .store
        .account(&id)
        .await
        .map_err(backend)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_account",
                format!("no configured account '{id}'"),
            )
        })
}

/// Takes the sandbox CRM down (every account's: the local server has one) or brings it up.
async fn outage(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    configured_account(&rt, &account).await?;
    let Outage { down } = json_body(&body)?;
    rt.crm.set_unavailable(down);
    Ok(answer(json!({ "down": down })))
}

/// Creates a contact in the account's sandbox CRM, as someone working in the CRM would.
async fn create_contact(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let account = configured_account(&rt, &account).await?;
    let new = json_body::<NewSandboxContact>(&body)?.checked()?;
    let contact = rt
        .crm
        .create_contact(&account, &new)
        .await
        .map_err(crm_refused)?;
    Ok((StatusCode::CREATED, answer(json!({ "contact": contact }))))
}

/// Adds a typed note to a contact, as a dialer logging a call would.
async fn log_note(
    State(rt): State<Arc<LocalRuntime>>,
    Path(account): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let account = configured_account(&rt, &account).await?;
    let new: NewSandboxNote = json_body(&body)?;
    let note = rt
        .crm
        .log_note(
            &account.id,
            &new.contact_id,
            &NewNote {
                title: new.title,
                body: new.body,
                user_id: new.user_id,
            },
            &new.note_type,
            new.created_at.map(Timestamp::from_millis),
        )
        .await
        .map_err(crm_refused)?;
    Ok((
        StatusCode::CREATED,
        answer(json!({ "note": InAccount { account: account.id, item: note } })),
    ))
}

/// Posts a signed Twilio inbound webhook for a text from `from` to `to`, exactly as Twilio
/// would, and answers with what the webhook answered.
async fn simulate_inbound(
    State(rt): State<Arc<LocalRuntime>>,
    Json(text): Json<InboundText>,
) -> Result<Json<Value>, ApiError> {
    let from = PhoneNumber::parse_e164(&text.from).map_err(|e| invalid("from", e))?;
    let to = PhoneNumber::parse_e164(&text.to).map_err(|e| invalid("to", e))?;
    let account = rt
        .app
        .store
        .account_by_number(&to)
        .await
        .map_err(backend)?
        .ok_or_else(|| {
            invalid(
                "to",
                format!("{to} is not a number of any configured account"),
            )
        })?;
    // Signing with a real account's token would forge its texts and fire its real goals.
    if !is_sandbox_account(&account) {
        return Err(not_sandbox(&account, &format!("{to}")));
    }
    let base = rt.app.settings.public_base_url.clone().unwrap_or_default();
    let url = format!("{base}{INBOUND_PATH}");
    let sid = sandbox_sid("SM", &rt.app.ids.new_id());
    let Some(twilio) = &account.twilio else {
        let why = format!(
            "{to} belongs to an account without Twilio: texts in through Instasent are not routed"
        );
        return Err(invalid("to", why));
    };
    let params = inbound_params(&twilio.account_sid, &sid, &from, &to, &text);
    let signature = twilio_signature::sign(twilio.auth_token.expose(), &url, &params);
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
    Ok(answer(json!({
        "message_sid": sid,
        "webhook": { "url": url, "status": status, "body": body },
    })))
}

/// A teammate's e-mail to a reply address, answered as `inbound-email` answers SES's
/// delivery (see `sandbox_email`): what became of the reply.
async fn deliver_email(
    State(rt): State<Arc<LocalRuntime>>,
    Query(verdicts): Query<VerdictQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Some(replies) = rt.app.settings.replies.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "replies_not_configured",
            "forwards carry no reply address: set [mail] reply_domain in the configuration",
        ));
    };
    let email = delivered_email(&headers, &verdicts, &body, &rt.app.ids.new_id())?;
    if let Some(account) = granted_account(&rt, replies.domain(), &email.raw).await?
        && !is_sandbox_account(&account)
    {
        return Err(not_sandbox(&account, "the reply address"));
    }
    let outcome = answer_by_email(&rt.app, replies.domain(), &email.raw, &email.verdicts)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e.0))?;
    Ok(answer(json!(outcome)))
}

/// The account a reply address in the e-mail grants, if it names a stored grant: the
/// sandbox answers for sandbox accounts only, as it texts for them only.
async fn granted_account(
    rt: &LocalRuntime,
    domain: &str,
    raw: &[u8],
) -> Result<Option<Account>, ApiError> {
    let Ok(email) = read_email(raw) else {
        return Ok(None);
    };
    let Some(token) = ReplyToken::find_in(&email.recipients, domain) else {
        return Ok(None);
    };
    let store = &rt.app.store;
    let Some(grant) = store
        .reply_grant(&token, rt.app.clock.now())
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    store.account(&grant.account).await.map_err(backend)
}

/// A reply's picture, as the carrier fetches an MMS's media.
async fn media(
    State(rt): State<Arc<LocalRuntime>>,
    Path(key): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let picture = rt.media.picture(&key).await.map_err(backend)?;
    let Some(picture) = picture else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no picture {key}"),
        ));
    };
    let content_type = [(axum::http::header::CONTENT_TYPE, picture.content_type)];
    Ok((content_type, picture.bytes).into_response())
}
