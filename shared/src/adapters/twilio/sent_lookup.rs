//! Finding a message Twilio took when our process died before its answer came back:
//! `GET …/Messages.json` filtered by recipient (and sender, unless a Messaging Service
//! picked it), newest first, matched on sender, text and creation time.

use jiff::Timestamp as Instant;
use serde::Deserialize;

use super::{Count, TwilioClient, basic_auth, snippet, transport_error};
use crate::domain::{MessageStatus, Timestamp, TwilioCredentials};
use crate::ports::sms::{OutboundSms, ProviderAccepted, Sender, SmsError};

/// Messages looked at: the newest to this recipient from this sender. A lost send is
/// looked up within minutes of the attempt, so it is among them unless the sender sent
/// the recipient this many messages since.
const PAGE_SIZE: &str = "50";
/// Twilio's `date_created` has whole seconds.
const CLOCK_SLACK_MS: i64 = 1_000;

#[derive(Debug, Deserialize)]
struct MessagePage {
    #[serde(default)]
    messages: Vec<ListedMessage>,
}

#[derive(Debug, Deserialize)]
struct ListedMessage {
    sid: String,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    messaging_service_sid: Option<String>,
    /// RFC 2822, e.g. `Thu, 30 Jul 2015 20:12:31 +0000`.
    #[serde(default)]
    date_created: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    num_segments: Option<Count>,
}

impl ListedMessage {
    fn matches(&self, sms: &OutboundSms, since: Timestamp) -> bool {
        let sender_matches = match &sms.sender {
            Sender::MessagingService(sid) => self.messaging_service_sid.as_deref() == Some(sid),
            Sender::Number(_) | Sender::Alphanumeric(_) => {
                self.from.as_deref() == Some(sms.sender.as_str())
            }
        };
        sender_matches
            && self.body.as_deref().unwrap_or_default() == sms.body
            && self
                .created_at_ms()
                .is_some_and(|ms| ms + CLOCK_SLACK_MS >= since.as_millis())
    }

    fn created_at_ms(&self) -> Option<i64> {
        let text = self.date_created.as_deref()?;
        let parsed: Instant = jiff::fmt::rfc2822::parse(text).ok()?.timestamp();
        Some(parsed.as_millisecond())
    }

    fn accepted(self) -> ProviderAccepted {
        ProviderAccepted {
            status: self
                .status
                .as_deref()
                .and_then(|s| s.parse().ok())
                .unwrap_or(MessageStatus::Queued),
            segments: self
                .num_segments
                .and_then(|count| count.value())
                .filter(|&n| n > 0),
            sid: self.sid,
        }
    }
}

impl TwilioClient {
    pub(super) async fn find_sent_message(
        &self,
        credentials: &TwilioCredentials,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        let sid = super::checked_account_sid(credentials)?;
        let mut query = vec![("To", sms.to.as_str()), ("PageSize", PAGE_SIZE)];
        if !matches!(sms.sender, Sender::MessagingService(_)) {
            query.push(("From", sms.sender.as_str()));
        }
        let (user, password) = basic_auth(credentials);
        let url = reqwest::Url::parse_with_params(&self.messages_url(sid), &query)
            .map_err(|e| SmsError::Unavailable(format!("message list URL: {e}")))?;
        let response = self
            .http
            .get(url)
            .basic_auth(user, Some(password))
            .send()
            .await
            // A lookup changes nothing at Twilio: any failure is safe to retry.
            .map_err(|e| SmsError::Unavailable(transport_error(e).to_string()))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| SmsError::Unavailable(format!("message list unreadable: {e}")))?;
        if !status.is_success() {
            return Err(SmsError::Unavailable(format!(
                "message list: HTTP {status}: {}",
                snippet(&body)
            )));
        }
        let page: MessagePage = serde_json::from_slice(&body).map_err(|e| {
            SmsError::Unavailable(format!("message list unreadable ({e}): {}", snippet(&body)))
        })?;
        Ok(page
            .messages
            .into_iter()
            .find(|m| m.matches(sms, since))
            .map(ListedMessage::accepted))
    }
}
