//! A [`Crm`] for CRMs without a Keap-style API: every change smsflow would make in the CRM
//! is POSTed as a signed JSON event to a URL the account configures
//! (`crm = { kind = "webhook", url, signing_secret }`).
//!
//! # Events
//!
//! One `POST <url>` per event, `Content-Type: application/json`, body:
//!
//! ```json
//! {"event":"goal.achieved","account":"acme","contact_id":"123",
//!  "integration":"smsflow","call_name":"Inbound","occurred_at":1767225600000}
//! ```
//!
//! `account` is the smsflow account id and `occurred_at` the time of sending in
//! milliseconds since the Unix epoch. The other fields, by `event`:
//!
//! | `event` | fields |
//! |---|---|
//! | `goal.achieved` | `contact_id`, `integration`, `call_name` |
//! | `tag.applied` | `contact_id`, `tag` |
//! | `note.created` | `note_id`, `contact_id`, `title`, `body`, `user_id` (or null) |
//! | `note.appended` | `note_id`, `text` (append it to that note's body) |
//! | `contact.email_changed` | `contact_id`, `email` |
//! | `contact.custom_field_changed` | `contact_id`, `field`, `value` |
//! | `contact.create_requested` | `contact_id`, `first_name`, `last_name`, `email`, `phone`, `owner_id` (each may be null) |
//!
//! A webhook CRM cannot be asked anything, so the lookups (`find_contact_by_phone`,
//! `contact`, `user`, `last_call_note`) answer "nobody" / "none": inbound routing then
//! falls through to the number's backup address. Contact and note ids are therefore smsflow's:
//! - `create_contact` sends `contact.create_requested` and, once the receiver accepts it
//!   (2xx), returns a contact whose id is its phone number in E.164 (`+14155552671`), or
//!   its e-mail address when it has no phone. Every later event about that person carries
//!   that id, so the receiver can match it to its own record. Since lookups find nobody,
//!   each inbound text from an unknown sender asks again: treat the event as an upsert
//!   keyed by phone.
//! - `create_note` mints a note id (a ULID) and sends it; `note.appended` names it.
//!
//! Goals always answer `Achieved` once the receiver accepts them: the receiver decides
//! what a goal does.
//!
//! # Signature
//!
//! Each request carries:
//! - `X-Smsflow-Timestamp`: the same milliseconds as `occurred_at`, as decimal digits;
//! - `X-Smsflow-Signature`: `sha256=` followed by the lower-case hex HMAC-SHA256, keyed
//!   with the account's signing secret (its UTF-8 bytes), of the timestamp header value,
//!   a `.`, and the raw request body bytes: `HMAC(secret, "<timestamp>.<body>")`;
//! - `X-Smsflow-Event`: the `event` value, for routing without parsing.
//!
//! To verify: recompute the HMAC over the raw body as received (before any JSON parsing),
//! compare in constant time, and reject timestamps more than five minutes from your
//! clock, which stops a captured request from being replayed later. [`verify_signature`]
//! does the HMAC part.
//!
//! # Answers
//!
//! 2xx: done. 429: `RateLimited` (with `Retry-After` seconds when sent). 408 and 5xx,
//! timeouts and connection failures: `Unavailable`; the job queue retries, so a receiver
//! can see an event more than once. 401/403: `Unauthorized`. Any other status:
//! `Rejected` (not retried).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use sha2::Sha256;

use super::crm_input::{check_field_name, check_goal_names, check_note_text, check_tag_name};
use super::http_retry::retry_after;
use crate::domain::{Account, CrmConnection, EmailAddress, PhoneNumber, Secret};
use crate::domain::{ContactId, GoalName};
use crate::ports::clock::{Clock, IdGenerator};
use crate::ports::crm::{
    CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact, NewNote, Note,
};

pub const SIGNATURE_HEADER: &str = "X-Smsflow-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Smsflow-Timestamp";
pub const EVENT_HEADER: &str = "X-Smsflow-Event";

/// How much of a refusing receiver's body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` of `HMAC-SHA256(secret, "<timestamp>.<body>")`.
pub fn signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = signing_mac(secret, timestamp, body).finalize().into_bytes();
    format!("sha256={}", hex::encode(digest))
}

/// Whether `signature` (the `X-Smsflow-Signature` value) signs `timestamp` and `body`
/// with `secret`, compared in constant time. Checking the timestamp's age is the
/// caller's part.
pub fn verify_signature(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    signing_mac(secret, timestamp, body)
        .verify_slice(&expected)
        .is_ok()
}

fn signing_mac(secret: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// One event, tagged by its `event` name.
#[derive(Debug, Serialize)]
#[serde(tag = "event")]
enum Event<'a> {
    #[serde(rename = "goal.achieved")]
    GoalAchieved {
        contact_id: &'a str,
        integration: &'a str,
        call_name: &'a str,
    },
    #[serde(rename = "tag.applied")]
    TagApplied { contact_id: &'a str, tag: &'a str },
    #[serde(rename = "note.created")]
    NoteCreated {
        note_id: &'a str,
        contact_id: &'a str,
        title: &'a str,
        body: &'a str,
        user_id: Option<&'a str>,
    },
    #[serde(rename = "note.appended")]
    NoteAppended { note_id: &'a str, text: &'a str },
    #[serde(rename = "contact.email_changed")]
    EmailChanged {
        contact_id: &'a str,
        email: &'a EmailAddress,
    },
    #[serde(rename = "contact.custom_field_changed")]
    CustomFieldChanged {
        contact_id: &'a str,
        field: &'a str,
        value: &'a str,
    },
    #[serde(rename = "contact.create_requested")]
    CreateRequested {
        contact_id: &'a str,
        first_name: Option<&'a str>,
        last_name: Option<&'a str>,
        email: Option<&'a EmailAddress>,
        phone: Option<&'a PhoneNumber>,
        owner_id: Option<&'a str>,
    },
}

impl Event<'_> {
    fn name(&self) -> &'static str {
        match self {
            Event::GoalAchieved { .. } => "goal.achieved",
            Event::TagApplied { .. } => "tag.applied",
            Event::NoteCreated { .. } => "note.created",
            Event::NoteAppended { .. } => "note.appended",
            Event::EmailChanged { .. } => "contact.email_changed",
            Event::CustomFieldChanged { .. } => "contact.custom_field_changed",
            Event::CreateRequested { .. } => "contact.create_requested",
        }
    }
}

#[derive(Debug, Serialize)]
struct Envelope<'a> {
    #[serde(flatten)]
    event: &'a Event<'a>,
    account: &'a str,
    occurred_at: i64,
}

/// Posts CRM events to each webhook account's URL.
pub struct WebhookCrm {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
}

impl WebhookCrm {
    /// `http` should carry a connect timeout and an overall timeout well inside the
    /// function's own. `ids` mints note ids.
    pub fn new(http: reqwest::Client, clock: Arc<dyn Clock>, ids: Arc<dyn IdGenerator>) -> Self {
        WebhookCrm { http, clock, ids }
    }

    async fn post(&self, account: &Account, event: &Event<'_>) -> CrmResult<()> {
        let (url, secret) = webhook_target(account)?;
        let occurred_at = self.clock.now().as_millis();
        let body = serde_json::to_vec(&Envelope {
            event,
            account: account.id.as_str(),
            occurred_at,
        })
        .map_err(|e| CrmError::Rejected(format!("cannot encode the event: {e}")))?;
        let timestamp = occurred_at.to_string();
        let signature = signature(secret.expose(), &timestamp, &body);
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_HEADER, event.name())
            .body(body)
            .send()
            .await
            .map_err(|e| {
                CrmError::Unavailable(if e.is_timeout() {
                    format!("CRM webhook did not answer in time: {e}")
                } else {
                    format!("cannot reach the CRM webhook: {e}")
                })
            })?;
        let status = response.status();
        if status.is_success() {
            tracing::debug!(account = %account.id, event = event.name(), "CRM webhook accepted the event");
            return Ok(());
        }
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let error = error_for_status(status, retry_after, &body);
        tracing::warn!(account = %account.id, event = event.name(), %status, "CRM webhook refused the event");
        Err(error)
    }
}

fn webhook_target(account: &Account) -> CrmResult<(&str, &Secret)> {
    match &account.crm {
        CrmConnection::Webhook {
            url,
            signing_secret,
        } => Ok((url, signing_secret)),
        _ => Err(CrmError::Unsupported(format!(
            "account {} does not use a webhook CRM",
            account.id
        ))),
    }
}

fn error_for_status(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> CrmError {
    let detail = || {
        let text = String::from_utf8_lossy(body);
        let snippet: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
        format!("HTTP {status}: {}", snippet.trim())
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => CrmError::RateLimited { retry_after },
        StatusCode::REQUEST_TIMEOUT => CrmError::Unavailable(detail()),
        s if s.is_server_error() => CrmError::Unavailable(detail()),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => CrmError::Unauthorized(detail()),
        _ => CrmError::Rejected(detail()),
    }
}

#[async_trait]
impl Crm for WebhookCrm {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        _phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn contact(
        &self,
        account: &Account,
        _contact_id: &ContactId,
    ) -> CrmResult<Option<Contact>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact> {
        let id = match (&contact.phone, &contact.email) {
            (Some(phone), _) => phone.to_string(),
            (None, Some(email)) => email.to_string(),
            (None, None) => {
                return Err(CrmError::Rejected(
                    "a contact needs an e-mail address or a phone number".into(),
                ));
            }
        };
        self.post(
            account,
            &Event::CreateRequested {
                contact_id: &id,
                first_name: contact.first_name.as_deref(),
                last_name: contact.last_name.as_deref(),
                email: contact.email.as_ref(),
                phone: contact.phone.as_ref(),
                owner_id: contact.owner_id.as_deref(),
            },
        )
        .await?;
        Ok(Contact {
            id: ContactId::new(id),
            first_name: contact.first_name.clone(),
            last_name: contact.last_name.clone(),
            email: contact.email.clone(),
            phone: contact.phone.clone(),
            owner_id: contact.owner_id.clone(),
            tags: Vec::new(),
            custom_fields: Default::default(),
            time_zone: contact.time_zone.clone(),
        })
    }

    async fn set_email(
        &self,
        account: &Account,
        contact_id: &ContactId,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        self.post(account, &Event::EmailChanged { contact_id, email })
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &ContactId,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        check_field_name(field)?;
        self.post(
            account,
            &Event::CustomFieldChanged {
                contact_id,
                field,
                value,
            },
        )
        .await
    }

    async fn user(&self, account: &Account, _user_id: &str) -> CrmResult<Option<CrmUser>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn apply_tag(
        &self,
        account: &Account,
        contact_id: &ContactId,
        tag: &str,
    ) -> CrmResult<()> {
        check_tag_name(tag)?;
        self.post(account, &Event::TagApplied { contact_id, tag })
            .await
    }

    async fn create_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
        note: &NewNote,
    ) -> CrmResult<Note> {
        check_note_text(note)?;
        let note_id = self.ids.new_id();
        self.post(
            account,
            &Event::NoteCreated {
                note_id: &note_id,
                contact_id,
                title: &note.title,
                body: &note.body,
                user_id: note.user_id.as_deref(),
            },
        )
        .await?;
        Ok(Note {
            id: note_id,
            contact_id: contact_id.clone(),
            title: note.title.clone(),
            body: note.body.clone(),
            user_id: note.user_id.clone(),
        })
    }

    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()> {
        self.post(account, &Event::NoteAppended { note_id, text })
            .await
    }

    /// Call notes live in the receiver's CRM, which smsflow cannot ask: none.
    async fn last_call_note(
        &self,
        account: &Account,
        _contact_id: &ContactId,
    ) -> CrmResult<Option<CallNote>> {
        webhook_target(account)?;
        Ok(None)
    }

    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &ContactId,
        integration: &str,
        call_name: &GoalName,
    ) -> CrmResult<GoalOutcome> {
        check_goal_names(integration, call_name.as_str())?;
        self.post(
            account,
            &Event::GoalAchieved {
                contact_id,
                integration,
                call_name: call_name.as_str(),
            },
        )
        .await?;
        Ok(GoalOutcome::Achieved)
    }
}

#[cfg(test)]
mod tests;
