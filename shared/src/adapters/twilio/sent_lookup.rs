//! Finding a message Twilio took when our process died before its answer came back:
//! `GET …/Messages.json` filtered by recipient (and sender, unless a Messaging Service
//! picked it), newest first, matched on sender, text and creation time.

use jiff::Timestamp as Instant;
use serde::Deserialize;

use super::{Count, TwilioClient, basic_auth, snippet, transport_error};
use crate::domain::MessageSid;
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
            sid: MessageSid::new(self.sid),
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

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::super::tests::{ACCOUNT_SID, SERVICE_SID, sms_saying, token_credentials};
    use super::*;
    use crate::adapters::test_support::phone;

    /// The sender of the tests' texts from a number.
    const NUMBER: &str = "+15005550006";

    /// A listed message as Twilio writes it (counts as strings, RFC 2822 dates).
    fn listed(
        sid: &str,
        from: Option<&str>,
        service: Option<&str>,
        body: &str,
        created: &str,
    ) -> serde_json::Value {
        json!({
            "sid": sid, "account_sid": ACCOUNT_SID, "to": "+14155552671", "from": from,
            "messaging_service_sid": service, "body": body, "status": "delivered",
            "num_segments": "1", "date_created": created, "date_sent": created,
            "direction": "outbound-api",
        })
    }

    /// A message Twilio lists as sent from [`NUMBER`].
    fn from_number(sid: &str, body: &str, created: &str) -> serde_json::Value {
        listed(sid, Some(NUMBER), None, body, created)
    }

    /// 2026-12-06 12:00:00 UTC.
    const ATTEMPT_MS: i64 = 1_796_558_400_000;

    #[tokio::test]
    async fn asks_for_the_recipient_and_sender_and_matches_text_and_time() {
        let server = MockServer::start().await;
        let messages = vec![
            from_number("SM3", "Other", "Sun, 06 Dec 2026 12:00:05 +0000"),
            from_number("SM2", "Booked", "Sun, 06 Dec 2026 12:00:00 +0000"),
            from_number("SM1", "Booked", "Sat, 05 Dec 2026 09:00:00 +0000"),
        ];
        Mock::given(method("GET"))
            .and(path(format!(
                "/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
            )))
            .and(query_param("To", "+14155552671"))
            .and(query_param("From", NUMBER))
            .and(query_param("PageSize", "50"))
            .and(header(
                "authorization",
                "Basic QUMwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMTphdXRoLXRva2VuLTE=",
            ))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"messages": messages, "page": 0})),
            )
            .expect(2)
            .mount(&server)
            .await;
        let client = TwilioClient::new(reqwest::Client::new(), server.uri());
        let number = Sender::Number(phone(NUMBER));
        // Whole seconds at Twilio: a send attempted 400 ms into a second is still found.
        let attempt = Timestamp::from_millis(ATTEMPT_MS + 400);
        let found = client
            .find_sent_message(
                &token_credentials(),
                &sms_saying(number.clone(), "Booked"),
                attempt,
            )
            .await
            .expect("answered");
        assert_eq!(found.map(|f| f.sid), Some("SM2".into()));
        let later = Timestamp::from_millis(ATTEMPT_MS + 3_000);
        let none = client
            .find_sent_message(&token_credentials(), &sms_saying(number, "Booked"), later)
            .await
            .expect("answered");
        assert_eq!(none, None, "yesterday's identical text is not the lost one");
    }

    #[tokio::test]
    async fn a_messaging_service_send_is_matched_by_its_service() {
        let server = MockServer::start().await;
        let messages = vec![
            from_number("SM9", "Hi", "Sun, 06 Dec 2026 12:00:01 +0000"),
            listed(
                "SM8",
                Some("+16125550111"),
                Some(SERVICE_SID),
                "Hi",
                "Sun, 06 Dec 2026 12:00:01 +0000",
            ),
        ];
        Mock::given(method("GET"))
            .and(query_param("To", "+14155552671"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"messages": messages})))
            .mount(&server)
            .await;
        let client = TwilioClient::new(reqwest::Client::new(), server.uri());
        let found = client
            .find_sent_message(
                &token_credentials(),
                &sms_saying(Sender::MessagingService(SERVICE_SID.into()), "Hi"),
                Timestamp::from_millis(ATTEMPT_MS),
            )
            .await
            .expect("answered");
        assert_eq!(found.map(|f| f.sid), Some("SM8".into()));
        let requests = server.received_requests().await.expect("recorded");
        assert!(
            !requests[0]
                .url
                .query()
                .unwrap_or_default()
                .contains("From="),
            "Twilio picks the service's number: no From filter"
        );
    }

    #[tokio::test]
    async fn an_error_answer_is_a_reason_to_ask_again() {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503))
            .mount(&server)
            .await;
        let client = TwilioClient::new(reqwest::Client::new(), server.uri());
        let number = Sender::Number(phone(NUMBER));
        let answer = client
            .find_sent_message(
                &token_credentials(),
                &sms_saying(number, "Hi"),
                Timestamp::from_millis(ATTEMPT_MS),
            )
            .await;
        assert!(
            matches!(answer, Err(SmsError::Unavailable(_))),
            "{answer:?}"
        );
    }
}
