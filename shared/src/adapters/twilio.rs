//! Twilio's REST API (2010-04-01) as an [`SmsProvider`]: one `POST …/Messages.json` per
//! message.
//!
//! The base URL is configuration: [`TWILIO_API_BASE_URL`] in production, a mock server in
//! tests. Timeouts belong to the injected `reqwest::Client`: give it a `connect_timeout`
//! shorter than its overall `timeout`, so a stalled connect is reported as `Unavailable`
//! (safe to retry) rather than `OutcomeUnknown`.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use serde::Deserialize;

use super::http_retry::retry_after;
use super::sms_http::{SendAnswer, read_send_answer, snippet, transport_error};
use crate::domain::MessageSid;
use crate::domain::TwilioCredentials;
use crate::domain::twilio_errors::{ErrorClass, classify_error_code};
use crate::domain::{MessageStatus, ProviderCredentials, SmsProviderKind, Timestamp};
use crate::ports::sms::{OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider};

pub mod numbers;
mod sent_lookup;

/// Twilio's production API host.
pub const TWILIO_API_BASE_URL: &str = "https://api.twilio.com";

/// Twilio's "Too Many Requests" code, used when a 429 carries no code of its own.
const TOO_MANY_REQUESTS: u32 = 20429;

/// Sends SMS/MMS through Twilio's Messages resource.
#[derive(Debug, Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    base_url: String,
}

impl TwilioClient {
    /// `base_url` is scheme and host (and port), e.g. [`TWILIO_API_BASE_URL`]; a trailing
    /// `/` is ignored.
    pub fn new(http: reqwest::Client, base_url: String) -> Self {
        let base_url = base_url.trim_end_matches('/').to_string();
        TwilioClient { http, base_url }
    }

    fn messages_url(&self, account_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            self.base_url
        )
    }
}

/// Twilio's credentials, or the refusal of a message meant for another provider.
fn twilio_credentials(
    credentials: ProviderCredentials<'_>,
) -> Result<&TwilioCredentials, SmsError> {
    match credentials {
        ProviderCredentials::Twilio(twilio) => Ok(twilio),
        other => Err(SmsError::wrong_provider(
            SmsProviderKind::Twilio,
            other.kind(),
        )),
    }
}

#[async_trait]
impl SmsProvider for TwilioClient {
    async fn send(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        let credentials = twilio_credentials(credentials)?;
        let sid = checked_account_sid(credentials)?;
        let (user, password) = basic_auth(credentials);
        let response = self
            .http
            .post(self.messages_url(sid))
            .basic_auth(user, Some(password))
            .form(&form_fields(sms))
            .send()
            .await
            .map_err(transport_error)?;

        match read_send_answer(response).await? {
            SendAnswer::Created(status, body) => parse_created(status, &body),
            SendAnswer::Refused(status, headers, body) => {
                Err(error_from_response(status, retry_after(&headers), &body))
            }
        }
    }

    async fn find_sent(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        let credentials = twilio_credentials(credentials)?;
        self.find_sent_message(credentials, sms, since).await
    }
}

/// The account SID, checked: it goes into the path, where anything but a plain SID could
/// redirect the request.
fn checked_account_sid(credentials: &TwilioCredentials) -> Result<&str, SmsError> {
    let sid = &credentials.account_sid;
    if sid.is_empty() || !sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(SmsError::Rejected {
            code: 0,
            class: ErrorClass::Other,
            message: format!("'{sid}' is not a Twilio account SID"),
            http_status: 0,
        });
    }
    Ok(sid)
}

/// API key (`SK…`:secret) when the account has one, Twilio's recommendation; otherwise
/// the account SID and auth token.
fn basic_auth(credentials: &TwilioCredentials) -> (&str, &str) {
    match &credentials.api_key {
        Some(key) => (&key.sid, key.secret.expose()),
        None => (&credentials.account_sid, credentials.auth_token.expose()),
    }
}

/// The form of a create-message request, in a stable order.
fn form_fields(sms: &OutboundSms) -> Vec<(&'static str, &str)> {
    let mut fields = vec![("To", sms.to.as_str())];
    match &sms.sender {
        Sender::Number(number) => fields.push(("From", number.as_str())),
        Sender::Alphanumeric(name) => fields.push(("From", name.as_str())),
        Sender::MessagingService(sid) => fields.push(("MessagingServiceSid", sid.as_str())),
    }
    // Twilio wants Body or MediaUrl; an empty Body next to media is left out.
    if !sms.body.is_empty() || sms.media_urls.is_empty() {
        fields.push(("Body", sms.body.as_str()));
    }
    fields.extend(sms.media_urls.iter().map(|url| ("MediaUrl", url.as_str())));
    if let Some(callback) = &sms.status_callback {
        fields.push(("StatusCallback", callback.as_str()));
    }
    fields
}

/// The part of Twilio's 201 reply we use.
#[derive(Debug, Deserialize)]
struct CreatedMessage {
    sid: Option<String>,
    status: Option<String>,
    num_segments: Option<Count>,
}

/// Twilio sends counts as JSON strings (`"1"`); mocks sometimes send numbers.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Count {
    Text(String),
    Number(u64),
}

impl Count {
    fn value(&self) -> Option<u32> {
        match self {
            Count::Text(text) => text.parse().ok(),
            Count::Number(n) => u32::try_from(*n).ok(),
        }
    }
}

fn parse_created(status: StatusCode, body: &[u8]) -> Result<ProviderAccepted, SmsError> {
    let created: CreatedMessage = serde_json::from_slice(body).map_err(|e| {
        SmsError::OutcomeUnknown(format!(
            "HTTP {status} with an unreadable message ({e}): {}",
            snippet(body)
        ))
    })?;
    let sid = created
        .sid
        .filter(|sid| !sid.is_empty())
        .ok_or_else(|| SmsError::OutcomeUnknown(format!("HTTP {status} without a message sid")))?;
    // The message exists whatever its status says: an unknown or missing one must not
    // turn the send into an error. `queued` is where every outbound message starts.
    let message_status = match created.status.as_deref().map(str::parse::<MessageStatus>) {
        Some(Ok(parsed)) => parsed,
        _ => {
            let status = created.status.as_deref();
            tracing::warn!(%sid, status, "Twilio returned an unexpected status; assuming queued");
            MessageStatus::Queued
        }
    };
    Ok(ProviderAccepted {
        sid: MessageSid::new(sid),
        status: message_status,
        // With a Messaging Service Twilio reports "0" until it picks a sender: no
        // message has zero segments, so 0 means "not known yet".
        segments: created
            .num_segments
            .and_then(|count| count.value())
            .filter(|&n| n > 0),
    })
}

/// Twilio's JSON error body: `{code, message, more_info, status}`.
#[derive(Debug, Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    message: Option<String>,
}

fn error_from_response(status: StatusCode, retry_after: Option<Duration>, body: &[u8]) -> SmsError {
    let parsed: Option<TwilioErrorBody> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|b| b.code);
    // Twilio's own words when there are some, else what came back (a proxy's HTML page...).
    let detail = parsed
        .and_then(|b| b.message)
        .unwrap_or_else(|| snippet(body));

    let rate_or_queue = code.is_some_and(|c| classify_error_code(c) == ErrorClass::RateOrQueue);
    if status == StatusCode::TOO_MANY_REQUESTS || rate_or_queue {
        return SmsError::RateLimited {
            code: code.unwrap_or(TOO_MANY_REQUESTS),
            retry_after,
        };
    }
    if status.is_server_error() {
        return SmsError::Unavailable(format!("HTTP {status}: {detail}"));
    }
    if status.is_client_error() {
        let message = match code {
            Some(_) => detail,
            None => format!("HTTP {status}: {detail}"),
        };
        let code = code.unwrap_or(0);
        return SmsError::Rejected {
            code,
            class: classify_error_code(code),
            message,
            http_status: status.as_u16(),
        };
    }
    // 1xx/3xx: Twilio never answers a create like this; we cannot tell what happened.
    SmsError::OutcomeUnknown(format!("unexpected HTTP {status}: {detail}"))
}

#[cfg(test)]
mod tests;
