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
//! |                |        | | +15005550010 | sandbox only: accepted, then `sent` and `undelivered` 30006 |
//!
//! Every magic number above fails at once, when the send is made. Twilio's test
//! credentials have no number for a failure reported after acceptance, which is how a real
//! landline fails (`sent`, then `undelivered` 30006: landline or unreachable carrier), so
//! the sandbox adds [`UNDELIVERABLE_LANDLINE`], a number of Twilio's test range that no
//! magic number uses: its messages are accepted and reported `sent`, then `undelivered`
//! with `ErrorCode` 30006. Every other number is accepted and delivered.
//!
//! Callbacks are posted to the URL the message names, unless a [`CallbackRoute`] says that
//! URL's public origin is served elsewhere (the stack runner's API front on a loopback
//! port): then the callback still carries the signature of the public URL, as Twilio's
//! would, but travels to the local origin with the public `Host`.

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

/// The sandbox's landline: accepted, then reported `sent` and `undelivered` with 30006.
pub const UNDELIVERABLE_LANDLINE: &str = "+15005550010";

/// The status callbacks the carrier posts for a message it accepted, in order, each with
/// its `ErrorCode`.
fn delivery_reports(to: &str) -> &'static [(MessageStatus, Option<u32>)] {
    match to {
        UNDELIVERABLE_LANDLINE => &[
            (MessageStatus::Sent, None),
            (MessageStatus::Undelivered, Some(30006)),
        ],
        _ => &[
            (MessageStatus::Sent, None),
            (MessageStatus::Delivered, None),
        ],
    }
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

/// Status callbacks to `public_origin` (scheme and authority, e.g.
/// `https://abc.execute-api.us-east-1.amazonaws.com`) are posted to `local_origin` (e.g.
/// `http://127.0.0.1:4100`) instead, with the public authority as `Host`; they are still
/// signed for the public URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackRoute {
    public_origin: String,
    local_origin: String,
}

/// Where one callback goes: the URL to connect to, and the `Host` to send when it is not
/// that URL's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallbackTarget {
    pub url: String,
    pub host: Option<String>,
}

impl CallbackRoute {
    /// A trailing `/` on either origin is ignored.
    pub fn new(public_origin: &str, local_origin: &str) -> Self {
        CallbackRoute {
            public_origin: public_origin.trim_end_matches('/').to_string(),
            local_origin: local_origin.trim_end_matches('/').to_string(),
        }
    }

    /// Where a callback to `url` is posted: on the local origin when `url` is on the
    /// public one (the same path and query), else `url` itself.
    pub fn target(&self, url: &str) -> CallbackTarget {
        let rest = url
            .strip_prefix(&self.public_origin)
            .filter(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
        match rest {
            Some(rest) => CallbackTarget {
                url: format!("{}{rest}", self.local_origin),
                host: self
                    .public_origin
                    .split_once("://")
                    .map(|(_, authority)| authority.to_string()),
            },
            None => CallbackTarget {
                url: url.to_string(),
                host: None,
            },
        }
    }
}

pub struct SandboxCarrier {
    db: EmbeddedDb,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    /// Pause between the status callbacks, like a real carrier's reports.
    callback_delay: Duration,
    /// Where callbacks to a public origin really go (none: to the URL as given).
    callback_route: Option<CallbackRoute>,
}

/// What posting one message's status callbacks needs.
struct DeliveryReport {
    http: reqwest::Client,
    auth_token: String,
    message: CarrierMessage,
    delay: Duration,
    route: Option<CallbackRoute>,
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
            callback_route: None,
        }
    }

    /// Posts callbacks for `route`'s public origin to its local origin (see
    /// [`CallbackRoute`]); local mode has none, its callback URLs are reachable as given.
    pub fn with_callback_route(mut self, route: CallbackRoute) -> Self {
        self.callback_route = Some(route);
        self
    }

    /// Sets the pause before each status callback (tests use a short one).
    pub fn with_callback_delay(mut self, delay: Duration) -> Self {
        self.callback_delay = delay;
        self
    }

    /// Everything the carrier accepted, newest first.
    pub async fn messages(&self, limit: usize) -> Result<Vec<CarrierMessage>, DbError> {
        self.messages_where(limit, |_| true).await
    }

    /// The `limit` newest messages that `keep` accepts, newest first.
    pub async fn messages_where(
        &self,
        limit: usize,
        keep: impl Fn(&CarrierMessage) -> bool + Send + 'static,
    ) -> Result<Vec<CarrierMessage>, DbError> {
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, MESSAGES)? else {
                    return Ok(vec![]);
                };
                let mut out = Vec::new();
                for entry in table.iter()?.rev() {
                    if out.len() == limit {
                        break;
                    }
                    let (_, value) = entry?;
                    let message: CarrierMessage = serde_json::from_slice(value.value())
                        .map_err(|e| DbError(format!("corrupt carrier message: {e}")))?;
                    if keep(&message) {
                        out.push(message);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Posts the message's [`delivery_reports`] (`sent` then `delivered`, unless its number
    /// says otherwise), signed with the account's auth token for its status callback URL.
    async fn report_delivery(report: DeliveryReport) {
        let Some(url) = report.message.status_callback.clone() else {
            return;
        };
        let target = match &report.route {
            Some(route) => route.target(&url),
            None => CallbackTarget {
                url: url.clone(),
                host: None,
            },
        };
        let message = &report.message;
        for (status, error_code) in delivery_reports(&message.to) {
            tokio::time::sleep(report.delay).await;
            let mut params: Vec<(String, String)> = vec![
                ("AccountSid".into(), message.account_sid.clone()),
                ("ApiVersion".into(), "2010-04-01".into()),
                ("From".into(), message.from.clone()),
                ("MessageSid".into(), message.sid.clone()),
                ("MessageStatus".into(), status.as_str().into()),
                ("SmsSid".into(), message.sid.clone()),
                ("SmsStatus".into(), status.as_str().into()),
                ("To".into(), message.to.clone()),
            ];
            if let Some(code) = error_code {
                params.push(("ErrorCode".into(), code.to_string()));
            }
            let signature = twilio_signature::sign(&report.auth_token, &url, &params);
            let mut request = report
                .http
                .post(&target.url)
                .header("X-Twilio-Signature", signature)
                .form(&params);
            if let Some(host) = &target.host {
                request = request.header(reqwest::header::HOST, host);
            }
            match request.send().await {
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
        tokio::spawn(Self::report_delivery(DeliveryReport {
            http: self.http.clone(),
            auth_token: credentials.auth_token.expose().to_string(),
            message,
            delay: self.callback_delay,
            route: self.callback_route.clone(),
        }));
        Ok(ProviderAccepted {
            sid,
            status: MessageStatus::Queued,
            segments: None,
        })
    }

    /// As Twilio's message list: the newest message of this account to this recipient
    /// from this sender with this text, accepted at or after `since`.
    async fn find_sent(
        &self,
        credentials: &TwilioCredentials,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
        let (account_sid, to) = (credentials.account_sid.clone(), sms.to.to_string());
        let (from, body) = (sms.sender.as_str().to_string(), sms.body.clone());
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, MESSAGES)? else {
                    return Ok(None);
                };
                for entry in table.iter()?.rev() {
                    let (_, value) = entry?;
                    let message: CarrierMessage = serde_json::from_slice(value.value())
                        .map_err(|e| DbError(format!("corrupt carrier message: {e}")))?;
                    if message.accepted_at >= since
                        && (
                            &message.account_sid,
                            &message.to,
                            &message.from,
                            &message.body,
                        ) == (&account_sid, &to, &from, &body)
                    {
                        return Ok(Some(ProviderAccepted {
                            sid: message.sid,
                            status: MessageStatus::Queued,
                            segments: None,
                        }));
                    }
                }
                Ok::<_, DbError>(None)
            })
            .await
            .map_err(|e| SmsError::Unavailable(format!("sandbox carrier: {e}")))
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
            (ok, UNDELIVERABLE_LANDLINE, None),
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

    fn credentials() -> TwilioCredentials {
        TwilioCredentials {
            account_sid: "AC00000000000000000000000000000001".into(),
            auth_token: crate::domain::Secret::new("token-123"),
            api_key: None,
            messaging_service_sids: vec![],
        }
    }

    fn carrier() -> SandboxCarrier {
        use crate::ports::{SystemClock, UlidIds};
        SandboxCarrier::new(
            EmbeddedDb::in_memory().expect("db"),
            reqwest::Client::new(),
            Arc::new(SystemClock),
            Arc::new(UlidIds::default()),
        )
        .with_callback_delay(Duration::from_millis(10))
    }

    /// A server answering 204 to `POST /twilio/status`, like our status route.
    async fn callback_server() -> wiremock::MockServer {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let callbacks = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/twilio/status"))
            .respond_with(ResponseTemplate::new(204))
            .mount(&callbacks)
            .await;
        callbacks
    }

    /// The callbacks `server` received once there are `count` (or after 5 s).
    async fn received(server: &wiremock::MockServer, count: usize) -> Vec<wiremock::Request> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let requests = server.received_requests().await.unwrap_or_default();
            if requests.len() >= count || std::time::Instant::now() > deadline {
                return requests;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The form of a callback, after checking its signature for `url`.
    fn signed_form(request: &wiremock::Request, url: &str) -> Vec<(String, String)> {
        let params: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&request.body).expect("form body");
        let signature = request
            .headers
            .get("X-Twilio-Signature")
            .and_then(|v| v.to_str().ok());
        assert!(
            twilio_signature::validate("token-123", url, &params, signature),
            "callback signature must validate for {url}"
        );
        params
    }

    fn field(params: &[(String, String)], name: &str) -> String {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    #[tokio::test]
    async fn posts_signed_status_callbacks_and_keeps_what_it_accepted() {
        // (recipient, the callbacks' MessageStatus and ErrorCode, in order)
        let cases: [(&str, [(&str, &str); 2]); 2] = [
            ("+14155552671", [("sent", ""), ("delivered", "")]),
            (
                UNDELIVERABLE_LANDLINE,
                [("sent", ""), ("undelivered", "30006")],
            ),
        ];
        for (to, expected) in cases {
            let callbacks = callback_server().await;
            let carrier = carrier();
            let url = format!("{}/twilio/status", callbacks.uri());
            let mut message = sms("+15005550006", to);
            message.status_callback = Some(url.clone());
            let accepted = carrier
                .send(&credentials(), &message)
                .await
                .expect("accepted");

            let reports: Vec<(String, String)> = received(&callbacks, 2)
                .await
                .iter()
                .map(|r| {
                    let params = signed_form(r, &url);
                    assert_eq!(field(&params, "MessageSid"), accepted.sid);
                    (field(&params, "MessageStatus"), field(&params, "ErrorCode"))
                })
                .collect();
            let expected = expected.map(|(s, c)| (s.to_string(), c.to_string()));
            assert_eq!(reports, expected, "{to}");

            let kept = carrier.messages(10).await.expect("readable");
            assert_eq!(kept.len(), 1);
            assert_eq!(kept[0].sid, accepted.sid);
            assert_eq!(kept[0].to, to);
        }
    }

    #[test]
    fn a_callback_route_moves_only_urls_on_its_public_origin() {
        let public = "https://abc123.execute-api.us-east-1.amazonaws.com";
        let route = CallbackRoute::new(&format!("{public}/"), "http://127.0.0.1:4100/");
        let moved = |url: &str, host: &str| CallbackTarget {
            url: url.into(),
            host: Some(host.into()),
        };
        let kept = |url: &str| CallbackTarget {
            url: url.into(),
            host: None,
        };
        let host = "abc123.execute-api.us-east-1.amazonaws.com";
        let cases = [
            (
                format!("{public}/twilio/status"),
                moved("http://127.0.0.1:4100/twilio/status", host),
            ),
            (
                format!("{public}/twilio/status?a=1"),
                moved("http://127.0.0.1:4100/twilio/status?a=1", host),
            ),
            (
                format!("{public}.evil.example/twilio/status"),
                kept(&format!("{public}.evil.example/twilio/status")),
            ),
            (
                "https://hooks.example.com/twilio/status".to_string(),
                kept("https://hooks.example.com/twilio/status"),
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(route.target(&url), expected, "{url}");
        }
    }

    #[tokio::test]
    async fn routed_callbacks_are_signed_for_the_public_url_and_carry_its_host() {
        let callbacks = callback_server().await;
        let public = "https://abc123.execute-api.us-east-1.amazonaws.com";
        let carrier = carrier().with_callback_route(CallbackRoute::new(public, &callbacks.uri()));
        let url = format!("{public}/twilio/status");
        let mut message = sms("+15005550006", "+14155552671");
        message.status_callback = Some(url.clone());
        carrier
            .send(&credentials(), &message)
            .await
            .expect("accepted");

        let requests = received(&callbacks, 2).await;
        assert_eq!(
            requests.len(),
            2,
            "sent and delivered reach the local origin"
        );
        for request in &requests {
            signed_form(request, &url);
            let host = request.headers.get("host").and_then(|h| h.to_str().ok());
            assert_eq!(host, Some("abc123.execute-api.us-east-1.amazonaws.com"));
        }
    }
}
