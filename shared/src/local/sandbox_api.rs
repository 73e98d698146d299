//! The `/_sandbox` API's requests, listing limit and error answers, shared by the local
//! server's sandbox and the stack runner's, so a scenario's request means the same thing and
//! gets the same answer in both shapes.

use axum::Json;
use axum::body::Bytes;
use axum::http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::{AccountId, EmailAddress, PhoneNumber};
use crate::handlers::ApiError;
use crate::ports::{CrmError, NewContact};

// The routes, served by both sandboxes.
pub const HEALTH_PATH: &str = "/healthz";
pub const MESSAGES_PATH: &str = "/_sandbox/messages";
pub const EMAILS_PATH: &str = "/_sandbox/emails";
pub const CONTACTS_PATH: &str = "/_sandbox/crm/{account}/contacts";
pub const NOTES_PATH: &str = "/_sandbox/crm/{account}/notes";
pub const GOALS_PATH: &str = "/_sandbox/crm/{account}/goals";
pub const OUTAGE_PATH: &str = "/_sandbox/crm/{account}/outage";
pub const INBOUND_TEXT_PATH: &str = "/_sandbox/inbound";
/// A teammate's e-mail reply, delivered as SES receiving would (`sandbox_email`).
pub const EMAIL_PATH: &str = "/_sandbox/email";
/// The operator's read API of `smsflow serve` (`operator_api`).
pub const OPERATOR_CONVERSATIONS_PATH: &str = "/_local/accounts/{account}/conversations";
pub const OPERATOR_THREAD_PATH: &str = "/_local/accounts/{account}/conversations/{phone}";
pub const OPERATOR_DEAD_LETTERS_PATH: &str = "/_local/dead-letters/{queue}";
/// A reply's picture, where the sandbox carrier's MMS point (`adapters/embedded/media.rs`).
pub const MEDIA_PATH: &str = "/_sandbox/media/{key}";

/// Most items one sandbox listing returns (enough for a benchmark's backlog).
pub const MAX_LIMIT: usize = 10_000;

/// `?limit=`: how many items a listing returns (100 unless asked, at most [`MAX_LIMIT`]).
#[derive(Debug, Deserialize)]
pub struct Limit {
    limit: Option<usize>,
}

impl Limit {
    pub fn get(&self) -> usize {
        self.limit.unwrap_or(100).min(MAX_LIMIT)
    }
}

/// A sandbox answer, each time in it also given in RFC 3339 (see [`with_rfc3339_times`]).
pub fn answer(value: Value) -> Json<Value> {
    Json(with_rfc3339_times(value))
}

/// Adds next to every time the answer gives in epoch milliseconds (an integer field named
/// `at`, `…_at` or `…_ms`) the same time in RFC 3339, UTC: `<name>_rfc3339`, a trailing
/// `_ms` left out (`sent_at` → `sent_at_rfc3339`). The milliseconds stay for scripts that
/// compare them; the text is for people reading the answer.
pub fn with_rfc3339_times(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(object_with_rfc3339_times(fields)),
        Value::Array(items) => Value::Array(items.into_iter().map(with_rfc3339_times).collect()),
        other => other,
    }
}

fn object_with_rfc3339_times(fields: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, value) in fields {
        let text = is_time_name(&name)
            .then(|| value.as_i64().and_then(rfc3339))
            .flatten();
        if let Some(text) = text {
            let stem = name.strip_suffix("_ms").unwrap_or(&name);
            out.insert(format!("{stem}_rfc3339"), Value::String(text));
        }
        out.insert(name, with_rfc3339_times(value));
    }
    out
}

fn is_time_name(name: &str) -> bool {
    name == "at" || name.ends_with("_at") || name.ends_with("_ms")
}

fn rfc3339(millis: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(millis)
        .ok()
        .map(|t| t.to_string())
}

/// A 500 for a read the sandbox could not make.
pub fn backend(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("sandbox read failed: {e}"))
}

/// The account id in a sandbox path, or a 400.
pub fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_account", e.to_string()))
}

/// A JSON body, or a 400 that says what is wrong with it.
pub fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))
}

/// A CRM's refusal of a sandbox write: 404 for what it lacks, 400 for what it rejects.
pub fn crm_refused(e: CrmError) -> ApiError {
    match e {
        CrmError::NotFound(what) => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("the sandbox CRM has no {what}"),
        ),
        CrmError::Rejected(why) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", why),
        other => ApiError::internal(other.to_string()),
    }
}

/// A 400 naming the field that is wrong.
pub fn invalid(field: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("{field}: {e}"),
    )
}

/// `POST /_sandbox/crm/{account}/contacts`: a contact created as someone working in the
/// CRM would.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSandboxContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    /// The owning user's CRM id (an account user's `crm_user_id`).
    pub owner_id: Option<String>,
    /// IANA time zone (`America/Denver`), as a CRM records it.
    pub time_zone: Option<String>,
}

impl NewSandboxContact {
    /// The contact to create, or a 400 naming the field that is wrong.
    pub fn checked(self) -> Result<NewContact, ApiError> {
        let phone = self
            .phone
            .as_deref()
            .map(PhoneNumber::parse_e164)
            .transpose()
            .map_err(|e| invalid("phone", e))?;
        let email = self
            .email
            .as_deref()
            .map(EmailAddress::parse)
            .transpose()
            .map_err(|e| invalid("email", e))?;
        if let Some(zone) = &self.time_zone
            && jiff::tz::TimeZone::get(zone).is_err()
        {
            return Err(invalid(
                "time_zone",
                format!("'{zone}' is not an IANA time zone (e.g. America/Denver)"),
            ));
        }
        Ok(NewContact {
            first_name: self.first_name,
            last_name: self.last_name,
            email,
            phone,
            owner_id: self.owner_id,
            time_zone: self.time_zone,
        })
    }
}

/// `POST /_sandbox/crm/{account}/notes`: a typed note, as a dialer logging a call would.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSandboxNote {
    pub contact_id: String,
    /// `Call` for a logged phone call (what inbound routing looks for), `Email`, `Other`...
    #[serde(rename = "type")]
    pub note_type: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: String,
    /// The CRM user the note is assigned to.
    pub user_id: Option<String>,
    /// Creation time in epoch milliseconds; now when left out.
    pub created_at: Option<i64>,
}

/// `POST /_sandbox/inbound`: a person texting one of the account's numbers.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundText {
    /// The person's phone (E.164).
    pub from: String,
    /// One of the account's numbers (E.164).
    pub to: String,
    pub body: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
}

/// The form of Twilio's inbound webhook for `text`.
pub fn inbound_params(
    account_sid: &str,
    sid: &str,
    from: &PhoneNumber,
    to: &PhoneNumber,
    text: &InboundText,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = vec![
        ("AccountSid".into(), account_sid.to_string()),
        ("ApiVersion".into(), "2010-04-01".into()),
        ("Body".into(), text.body.clone()),
        ("From".into(), from.to_string()),
        ("MessageSid".into(), sid.to_string()),
        ("NumMedia".into(), text.media_urls.len().to_string()),
        ("NumSegments".into(), "1".into()),
        ("SmsMessageSid".into(), sid.to_string()),
        ("SmsSid".into(), sid.to_string()),
        ("SmsStatus".into(), "received".into()),
        ("To".into(), to.to_string()),
    ];
    for (i, media) in text.media_urls.iter().enumerate() {
        params.push((format!("MediaUrl{i}"), media.clone()));
        params.push((format!("MediaContentType{i}"), "image/jpeg".into()));
    }
    params
}

/// `PUT /_sandbox/crm/{account}/outage`: `{"down": true}` takes the CRM down (every call
/// fails as in an outage) until `{"down": false}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outage {
    pub down: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_epoch_time_gets_its_rfc3339_sibling() {
        let cases = [
            (
                json!({"sent_at": 1_714_564_980_000_i64, "id": "e1"}),
                json!({"sent_at": 1_714_564_980_000_i64, "sent_at_rfc3339": "2024-05-01T12:03:00Z", "id": "e1"}),
            ),
            (
                json!({"goals": [{"achieved_at": 1_714_564_980_250_i64, "at": 0}]}),
                json!({"goals": [{
                    "achieved_at": 1_714_564_980_250_i64,
                    "achieved_at_rfc3339": "2024-05-01T12:03:00.25Z",
                    "at": 0, "at_rfc3339": "1970-01-01T00:00:00Z",
                }]}),
            ),
            (
                json!({"note": {"created_at_ms": 7, "item": {"created_at": null}}}),
                json!({"note": {
                    "created_at_ms": 7, "created_at_rfc3339": "1970-01-01T00:00:00.007Z",
                    "item": {"created_at": null},
                }}),
            ),
            // Not times: other names, and values that are not epoch milliseconds.
            (
                json!({"status": 200, "format": "x", "seen_at": "yesterday", "huge_at": i64::MAX}),
                json!({"status": 200, "format": "x", "seen_at": "yesterday", "huge_at": i64::MAX}),
            ),
        ];
        for (given, want) in cases {
            assert_eq!(with_rfc3339_times(given.clone()), want, "{given}");
        }
    }
}
