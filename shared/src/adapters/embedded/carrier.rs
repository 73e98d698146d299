//! The sandbox carrier of local mode: an `SmsProvider` that accepts sends like Twilio does,
//! keeps them for `/_sandbox/messages`, and posts signed status callbacks (`sent`, then
//! `delivered`) to the message's status callback URL, as Twilio would.
//!
//! Twilio's documented magic test numbers produce their documented errors:
//!
//! | From           | error |   | To             | error |
//! |----------------|-------|---|----------------|-------|
//! | +15005550001   | 21212 invalid From | | +15005550001 | 21211 invalid To |
//! | +15005550007   | 21606 not owned / not SMS capable | | +15005550002 | 21612 cannot route |
//! | +15005550008   | 21611 sender queue full (rate limited) | | +15005550003 | 21408 no permission for region |
//! | +15005550006   | passes | | +15005550004 | 21610 recipient unsubscribed |
//! |                |        | | +15005550009 | 21614 not a mobile number |
//!
//! Every other number is accepted and delivered.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::{DbError, EmbeddedDb, open_read_table};
use crate::domain::twilio_signature;
use crate::domain::{MessageStatus, Timestamp, TwilioCredentials};
use crate::ports::{
    Clock, IdGenerator, OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider,
};

/// `message id (ULID)` → accepted message, so iteration order is acceptance order.
const MESSAGES: TableDefinition<&str, &[u8]> = TableDefinition::new("sandbox_carrier_messages");

/// One message the sandbox carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierMessage {
    pub sid: String,
    pub account_sid: String,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media_urls: Vec<String>,
    pub status_callback: Option<String>,
    pub accepted_at: Timestamp,
}

/// A Twilio-shaped SID (a two-letter prefix and 32 hex digits) made from a fresh ULID: its
/// random tail makes it unique.
pub fn sandbox_sid(prefix: &str, ulid: &str) -> String {
    format!(
        "{prefix}{}",
        hex::encode(&ulid.as_bytes()[ulid.len().saturating_sub(16)..])
    )
}

/// A magic number's documented refusal, if `sms` uses one.
fn magic_error(sms: &OutboundSms) -> Option<SmsError> {
    let rejected = |code: u32, message: &str| SmsError::Rejected {
        code,
        message: message.to_string(),
        http_status: 400,
    };
    if let Sender::Number(from) = &sms.sender {
        match from.as_str() {
            "+15005550001" => {
                return Some(rejected(
                    21212,
                    "The 'From' number is not a valid phone number",
                ));
            }
            "+15005550007" => {
                return Some(rejected(
                    21606,
                    "The 'From' phone number is not a valid, SMS-capable inbound phone number for your account",
                ));
            }
            "+15005550008" => {
                return Some(SmsError::RateLimited {
                    code: 21611,
                    retry_after: None,
                });
            }
            _ => {}
        }
    }
    match sms.to.as_str() {
        "+15005550001" => Some(rejected(
            21211,
            "The 'To' number is not a valid phone number",
        )),
        "+15005550002" => Some(rejected(
            21612,
            "The 'To' phone number is not currently reachable via SMS",
        )),
        "+15005550003" => Some(rejected(
            21408,
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number",
        )),
        "+15005550004" => Some(rejected(21610, "Attempt to send to unsubscribed recipient")),
        "+15005550009" => Some(rejected(21614, "'To' number is not a valid mobile number")),
        _ => None,
    }
}

pub struct SandboxCarrier {
    db: EmbeddedDb,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Pause between the status callbacks, like a real carrier's reports.
    callback_delay: Duration,
}

impl SandboxCarrier {
    pub fn new(
        db: EmbeddedDb,
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        SandboxCarrier {
            db,
            http,
            clock,
            ids,
            callback_delay: Duration::from_millis(200),
        }
    }

    /// Sets the pause before each status callback (tests use a short one).
    pub fn with_callback_delay(mut self, delay: Duration) -> Self {
        self.callback_delay = delay;
        self
    }

    /// Everything the carrier accepted, newest first.
    pub async fn messages(&self, limit: usize) -> Result<Vec<CarrierMessage>, DbError> {
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, MESSAGES)? else {
                    return Ok(vec![]);
                };
                let mut out = Vec::new();
                for entry in table.iter()?.rev().take(limit) {
                    let (_, value) = entry?;
                    out.push(
                        serde_json::from_slice(value.value())
                            .map_err(|e| DbError(format!("corrupt carrier message: {e}")))?,
                    );
                }
                Ok(out)
            })
            .await
    }

    /// Posts `sent` then `delivered` for `message`, signed with the account's auth token.
    async fn report_delivery(
        http: reqwest::Client,
        auth_token: String,
        message: CarrierMessage,
        delay: Duration,
    ) {
        let Some(url) = message.status_callback.clone() else {
            return;
        };
        for status in [MessageStatus::Sent, MessageStatus::Delivered] {
            tokio::time::sleep(delay).await;
            let params: Vec<(String, String)> = vec![
                ("AccountSid".into(), message.account_sid.clone()),
                ("ApiVersion".into(), "2010-04-01".into()),
                ("From".into(), message.from.clone()),
                ("MessageSid".into(), message.sid.clone()),
                ("MessageStatus".into(), status.as_str().into()),
                ("SmsSid".into(), message.sid.clone()),
                ("SmsStatus".into(), status.as_str().into()),
                ("To".into(), message.to.clone()),
            ];
            let signature = twilio_signature::sign(&auth_token, &url, &params);
            let result = http
                .post(&url)
                .header("X-Twilio-Signature", signature)
                .form(&params)
                .send()
                .await;
            match result {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    tracing::warn!(sid = %message.sid, status = %r.status(), "status callback refused")
                }
                Err(e) => tracing::warn!(sid = %message.sid, error = %e, "status callback failed"),
            }
        }
    }
}

#[async_trait]
impl SmsProvider for SandboxCarrier {
    async fn send(
        &self,
        credentials: &TwilioCredentials,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
        if let Some(error) = magic_error(sms) {
            return Err(error);
        }
        let id = self.ids.new_id();
        // Twilio SIDs: a two-letter prefix and 32 hex digits; ours come from the ULID's
        // random tail, so they are unique.
        let prefix = if sms.media_urls.is_empty() {
            "SM"
        } else {
            "MM"
        };
        let sid = format!(
            "{prefix}{}",
            hex::encode(&id.as_bytes()[id.len().saturating_sub(16)..])
        );
        let message = CarrierMessage {
            sid: sid.clone(),
            account_sid: credentials.account_sid.clone(),
            from: sms.sender.as_str().to_string(),
            to: sms.to.to_string(),
            body: sms.body.clone(),
            media_urls: sms.media_urls.clone(),
            status_callback: sms.status_callback.clone(),
            accepted_at: self.clock.now(),
        };
        let stored = serde_json::to_vec(&message)
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))?;
        self.db
            .write(move |tx| {
                tx.open_table(MESSAGES)?
                    .insert(id.as_str(), stored.as_slice())?;
                Ok::<_, DbError>(())
            })
            .await
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))?;
        tokio::spawn(Self::report_delivery(
            self.http.clone(),
            credentials.auth_token.expose().to_string(),
            message,
            self.callback_delay,
        ));
        Ok(ProviderAccepted {
            sid,
            status: MessageStatus::Queued,
            segments: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PhoneNumber;

    fn sms(from: &str, to: &str) -> OutboundSms {
        OutboundSms {
            to: PhoneNumber::parse_e164(to).expect("valid to"),
            sender: Sender::Number(PhoneNumber::parse_e164(from).expect("valid from")),
            body: "hello".into(),
            media_urls: vec![],
            status_callback: None,
        }
    }

    #[test]
    fn magic_numbers_give_twilios_documented_errors() {
        let ok = "+15005550006";
        let cases: &[(&str, &str, Option<u32>)] = &[
            ("+15005550001", "+14155552671", Some(21212)),
            ("+15005550007", "+14155552671", Some(21606)),
            ("+15005550008", "+14155552671", Some(21611)),
            (ok, "+15005550001", Some(21211)),
            (ok, "+15005550002", Some(21612)),
            (ok, "+15005550003", Some(21408)),
            (ok, "+15005550004", Some(21610)),
            (ok, "+15005550009", Some(21614)),
            (ok, "+14155552671", None),
        ];
        for (from, to, expected) in cases {
            let code = magic_error(&sms(from, to)).map(|e| match e {
                SmsError::Rejected { code, .. } | SmsError::RateLimited { code, .. } => code,
                other => panic!("unexpected {other:?}"),
            });
            assert_eq!(code, *expected, "{from} -> {to}");
        }
        assert!(matches!(
            magic_error(&sms("+15005550008", "+14155552671")),
            Some(SmsError::RateLimited { .. })
        ));
    }

    #[tokio::test]
    async fn posts_signed_status_callbacks_and_keeps_what_it_accepted() {
        use crate::domain::Secret;
        use crate::ports::{SystemClock, UlidIds};
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};

        let callbacks = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/twilio/status"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&callbacks)
            .await;
        let carrier = SandboxCarrier::new(
            EmbeddedDb::in_memory().expect("db"),
            reqwest::Client::new(),
            Arc::new(SystemClock),
            Arc::new(UlidIds::default()),
        )
        .with_callback_delay(Duration::from_millis(10));
        let credentials = TwilioCredentials {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: Secret::new("token-123"),
            api_key: None,
            messaging_service_sids: vec![],
        };
        let url = format!("{}/twilio/status", callbacks.uri());
        let mut message = sms("+15005550006", "+14155552671");
        message.status_callback = Some(url.clone());
        let accepted = carrier
            .send(&credentials, &message)
            .await
            .expect("accepted");

        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let requests = loop {
            let requests = callbacks.received_requests().await.unwrap_or_default();
            if requests.len() >= 2 || std::time::Instant::now() > deadline {
                break requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let statuses: Vec<String> = requests
            .iter()
            .map(|r| {
                let params: Vec<(String, String)> =
                    serde_urlencoded::from_bytes(&r.body).expect("form body");
                let signature = r
                    .headers
                    .get("X-Twilio-Signature")
                    .and_then(|v| v.to_str().ok());
                assert!(
                    twilio_signature::validate("token-123", &url, &params, signature),
                    "callback signature must validate"
                );
                let field = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default()
                };
                assert_eq!(field("MessageSid"), accepted.sid);
                field("MessageStatus")
            })
            .collect();
        assert_eq!(statuses, ["sent", "delivered"]);

        let kept = carrier.messages(10).await.expect("readable");
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].sid, accepted.sid);
        assert_eq!(kept[0].to, "+14155552671");
    }
}
