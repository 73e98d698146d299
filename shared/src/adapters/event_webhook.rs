//! Delivery events to an account's event webhook (`accounts.event_webhook`): one JSON POST
//! per event, signed like webhook CRM events (same headers, same HMAC; see
//! [`webhook_crm`](super::webhook_crm)), so one receiver can verify both.
//!
//! Body: the [`DeliveryEvent`] fields plus `event`, e.g.
//!
//! ```json
//! {"event":"message.undelivered","type":"undelivered","account":"acme",
//!  "message_id":"01J...","message_sid":"SM...","phone":"+14155552671",
//!  "sender":"+19523142318","status":"undelivered","error_code":30006,
//!  "error_class":"not_sms_capable","contact_id":"1","campaign":null,
//!  "occurred_at":1767225600000}
//! ```
//!
//! `X-Smsflow-Timestamp` is the time of sending (what a receiver checks against replay);
//! `occurred_at` is when the status was recorded. 2xx: done. 408, 429, 5xx, timeouts and
//! connection failures: `Unavailable` (the job is retried). Other answers: `Rejected`.

use std::sync::Arc;

use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;

use super::webhook_crm::{EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use crate::domain::EventWebhook;
use crate::domain::delivery::DeliveryEvent;
use crate::ports::clock::Clock;
use crate::ports::events::{EventError, EventPublisher};

/// How much of a refusing receiver's body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

#[derive(Serialize)]
struct Wire<'a> {
    event: &'a str,
    #[serde(flatten)]
    body: &'a DeliveryEvent,
}

/// Posts delivery events over HTTP.
pub struct WebhookEvents {
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

impl WebhookEvents {
    /// `http` should carry timeouts well inside the worker's own.
    pub fn new(http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        WebhookEvents { http, clock }
    }
}

#[async_trait]
impl EventPublisher for WebhookEvents {
    async fn publish(
        &self,
        webhook: &EventWebhook,
        event: &DeliveryEvent,
    ) -> Result<(), EventError> {
        let name = event.name();
        let body = serde_json::to_vec(&Wire {
            event: &name,
            body: event,
        })
        .map_err(|e| EventError::Rejected(format!("cannot encode the event: {e}")))?;
        let timestamp = self.clock.now().as_millis().to_string();
        let signed = signature(webhook.signing_secret.expose(), &timestamp, &body);
        let response = self
            .http
            .post(&webhook.url)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signed)
            .header(EVENT_HEADER, &name)
            .body(body)
            .send()
            .await
            .map_err(|e| EventError::Unavailable(format!("cannot reach {}: {e}", webhook.url)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        let detail = format!(
            "HTTP {status}: {}",
            text.chars()
                .take(BODY_SNIPPET_CHARS)
                .collect::<String>()
                .trim()
        );
        let transient = status.is_server_error()
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
            || status == reqwest::StatusCode::REQUEST_TIMEOUT;
        Err(if transient {
            EventError::Unavailable(detail)
        } else {
            EventError::Rejected(detail)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::webhook_crm::verify_signature;
    use crate::domain::delivery::DeliveryEventType;
    use crate::domain::{AccountId, MessageStatus, PhoneNumber, Secret, Timestamp};
    use crate::ports::ManualClock;
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    fn event() -> DeliveryEvent {
        DeliveryEvent {
            event_type: DeliveryEventType::Undelivered,
            account: AccountId::parse("acme").expect("id"),
            message_id: "01J00000000000000000000001".into(),
            message_sid: Some("SM1".into()),
            phone: PhoneNumber::parse_e164("+14155552671").expect("phone"),
            sender: "+19523142318".into(),
            status: MessageStatus::Undelivered,
            error_code: Some(30006),
            error_class: Some(crate::domain::twilio_errors::ErrorClass::NotSmsCapable),
            contact_id: Some("1".into()),
            campaign: None,
            occurred_at: Timestamp::from_millis(1_000),
        }
    }

    fn publisher() -> WebhookEvents {
        WebhookEvents::new(
            reqwest::Client::new(),
            Arc::new(ManualClock::at(Timestamp::from_millis(5_000))),
        )
    }

    fn webhook(url: String) -> EventWebhook {
        EventWebhook {
            url,
            signing_secret: Secret::new("event-secret"),
        }
    }

    #[tokio::test]
    async fn posts_signed_json() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/events"))
            .and(header(EVENT_HEADER, "message.undelivered"))
            .and(header(TIMESTAMP_HEADER, "5000"))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        publisher()
            .publish(&webhook(format!("{}/events", server.uri())), &event())
            .await
            .expect("accepted");
        let requests = server.received_requests().await.unwrap_or_default();
        let request = requests.first().expect("one request");
        let signed = request
            .headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(verify_signature(
            "event-secret",
            "5000",
            &request.body,
            signed
        ));
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
        assert_eq!(
            body,
            serde_json::json!({
                "event": "message.undelivered", "type": "undelivered", "account": "acme",
                "message_id": "01J00000000000000000000001", "message_sid": "SM1",
                "phone": "+14155552671", "sender": "+19523142318", "status": "undelivered",
                "error_code": 30006, "error_class": "not_sms_capable", "contact_id": "1",
                "campaign": null, "occurred_at": 1000
            })
        );
    }

    #[tokio::test]
    async fn answers_map_to_retry_or_drop() {
        let cases = [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (400, false),
            (404, false),
            (410, false),
        ];
        for (status, transient) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(status).set_body_string("nope"))
                .mount(&server)
                .await;
            let err = publisher()
                .publish(&webhook(server.uri()), &event())
                .await
                .expect_err("refused");
            assert_eq!(
                matches!(err, EventError::Unavailable(_)),
                transient,
                "{status}: {err}"
            );
            assert!(err.to_string().contains("nope"), "{status}: {err}");
        }
        // Nobody listening: retry later.
        let err = publisher()
            .publish(&webhook("http://127.0.0.1:9/events".into()), &event())
            .await
            .expect_err("unreachable");
        assert!(matches!(err, EventError::Unavailable(_)), "{err}");
    }
}
