//! Instasent's Transactional API as an [`SmsProvider`]: one `POST {base}/sms` per message,
//! JSON in and out, `Authorization: Bearer <api token>`.
//!
//! What Instasent documents is followed; what it does not is assumed and marked (see
//! `README.md`, "Instasent"): the 201 body is read as `{"entity":{"id":…}}` or a bare
//! `{"id":…}`, the id as a string or a number; error bodies carry no code of their own, so a
//! refusal's code is the HTTP status. Timeouts belong to the injected `reqwest::Client`, as
//! for Twilio (`adapters/twilio.rs`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap};
use serde::{Deserialize, Serialize};

use super::http_retry::retry_after;
use super::sms_http::{SendAnswer, read_send_answer, snippet, transport_error};
use crate::domain::instasent_errors::refusal_detail;
use crate::domain::segments::{Encoding, encoding_of};
use crate::domain::twilio_errors::ErrorClass;
use crate::domain::{InstasentCredentials, MessageSid, MessageStatus, ProviderCredentials};
use crate::domain::{SmsProviderKind, Timestamp};
use crate::ports::sms::{OutboundSms, ProviderAccepted, SmsError, SmsProvider};

mod sent_lookup;
#[cfg(test)]
mod tests;

/// Instasent's limit on `clientId` ("40chars max, Unique per SMS").
const MAX_CLIENT_ID_CHARS: usize = 40;

/// Sends SMS through Instasent; the base URL comes with each account's credentials.
#[derive(Debug, Clone)]
pub struct InstasentClient {
    http: reqwest::Client,
}

impl InstasentClient {
    pub fn new(http: reqwest::Client) -> Self {
        InstasentClient { http }
    }
}

/// The body of `POST /sms`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SmsRequest<'a> {
    from: &'a str,
    to: &'a str,
    text: &'a str,
    /// True only for a text GSM-7 cannot carry: Instasent then sends UCS-2 (70 characters
    /// a part) rather than replacing the characters.
    allow_unicode: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

fn request_body(sms: &OutboundSms) -> SmsRequest<'_> {
    SmsRequest {
        from: sms.sender.as_str(),
        to: sms.to.as_str(),
        text: &sms.body,
        allow_unicode: encoding_of(&sms.body) == Encoding::Ucs2,
        client_id: sms
            .client_id
            .as_deref()
            .filter(|id| !id.is_empty() && id.chars().count() <= MAX_CLIENT_ID_CHARS),
    }
}

/// Instasent's credentials, or the refusal of a message meant for another provider.
fn instasent_credentials(
    credentials: ProviderCredentials<'_>,
) -> Result<&InstasentCredentials, SmsError> {
    match credentials {
        ProviderCredentials::Instasent(instasent) => Ok(instasent),
        other => Err(SmsError::wrong_provider(
            SmsProviderKind::Instasent,
            other.kind(),
        )),
    }
}

/// A refusal for good, with its class (Instasent gives no code: the HTTP status is it).
fn rejected(http_status: u16, class: ErrorClass, message: String) -> SmsError {
    SmsError::Rejected {
        code: u32::from(http_status),
        class,
        message,
        http_status,
    }
}

#[async_trait]
impl SmsProvider for InstasentClient {
    async fn send(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        let credentials = instasent_credentials(credentials)?;
        if !sms.media_urls.is_empty() {
            let why = "Instasent sends text only: the message has media".to_string();
            return Err(rejected(0, ErrorClass::Other, why));
        }
        let response = self
            .http
            .post(format!("{}/sms", credentials.api_base_url()))
            .bearer_auth(credentials.api_token.expose())
            .header(ACCEPT, "application/json")
            .json(&request_body(sms))
            .send()
            .await
            .map_err(transport_error)?;
        match read_send_answer(response).await? {
            SendAnswer::Created(status, body) => parse_created(status, &body),
            SendAnswer::Refused(status, headers, body) => {
                Err(error_from_response(status, &headers, &body, now_unix()))
            }
        }
    }

    async fn find_sent(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        let credentials = instasent_credentials(credentials)?;
        self.find_sent_message(credentials, sms, since).await
    }
}

/// An Instasent message id: documented as an id, unverified whether string or number.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum InstasentId {
    Text(String),
    Number(u64),
}

impl InstasentId {
    fn into_sid(self) -> Option<MessageSid> {
        let id = match self {
            InstasentId::Text(text) => text,
            InstasentId::Number(n) => n.to_string(),
        };
        (!id.is_empty()).then(|| MessageSid::new(id))
    }
}

#[derive(Debug, Deserialize)]
struct IdOnly {
    id: Option<InstasentId>,
}

/// `{"entity":{"id":…}}` (single resources are wrapped so) or a bare `{"id":…}`.
#[derive(Debug, Deserialize)]
struct Created {
    entity: Option<IdOnly>,
    id: Option<InstasentId>,
}

fn parse_created(status: StatusCode, body: &[u8]) -> Result<ProviderAccepted, SmsError> {
    let created: Created = serde_json::from_slice(body).map_err(|e| {
        SmsError::OutcomeUnknown(format!(
            "HTTP {status} with an unreadable message ({e}): {}",
            snippet(body)
        ))
    })?;
    let id = created.entity.and_then(|e| e.id).or(created.id);
    let sid = id
        .and_then(InstasentId::into_sid)
        .ok_or_else(|| SmsError::OutcomeUnknown(format!("HTTP {status} without a message id")))?;
    Ok(ProviderAccepted {
        sid,
        status: MessageStatus::Queued,
        segments: None,
    })
}

/// `{"message": …}` or `{"errors": …}`: either is only detail for the operator.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    message: Option<String>,
    errors: Option<serde_json::Value>,
}

fn error_detail(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            message: Some(message),
            ..
        }) => message,
        Ok(ErrorBody {
            errors: Some(errors),
            ..
        }) => errors.to_string(),
        _ => snippet(body),
    }
}

/// The status decides; the body only adds detail. `now` is the unix time in seconds, to
/// turn `X-RateLimit-Reset` (a unix time) into a wait.
fn error_from_response(status: StatusCode, headers: &HeaderMap, body: &[u8], now: u64) -> SmsError {
    let detail = error_detail(body);
    if status == StatusCode::TOO_MANY_REQUESTS {
        return SmsError::RateLimited {
            code: u32::from(status.as_u16()),
            retry_after: rate_limit_reset(headers, now).or_else(|| retry_after(headers)),
        };
    }
    if status.is_server_error() {
        return SmsError::Unavailable(format!("HTTP {status}: {detail}"));
    }
    if status.is_client_error() {
        let message = format!(
            "{} (HTTP {status}: {detail})",
            refusal_detail(status.as_u16())
        );
        return rejected(status.as_u16(), ErrorClass::Other, message);
    }
    SmsError::OutcomeUnknown(format!("unexpected HTTP {status}: {detail}"))
}

/// The wait until `X-RateLimit-Reset` (a unix time in seconds), none when absent or past.
fn rate_limit_reset(headers: &HeaderMap, now: u64) -> Option<Duration> {
    let reset: u64 = headers
        .get("x-ratelimit-reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(reset.saturating_sub(now)))
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
