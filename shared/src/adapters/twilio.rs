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
use crate::domain::twilio_errors::{ErrorClass, classify_error_code};
use crate::domain::{MessageStatus, Timestamp, TwilioCredentials};
use crate::ports::sms::{OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider};

mod sent_lookup;

/// Twilio's production API host.
pub const TWILIO_API_BASE_URL: &str = "https://api.twilio.com";

/// Twilio's "Too Many Requests" code, used when a 429 carries no code of its own.
const TOO_MANY_REQUESTS: u32 = 20429;

/// How much of an unexpected response body goes into an error message.
const BODY_SNIPPET_CHARS: usize = 200;

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

#[async_trait]
impl SmsProvider for TwilioClient {
    async fn send(
        &self,
        credentials: &TwilioCredentials,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError> {
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

        let status = response.status();
        let retry_after = retry_after(response.headers());
        if status.is_success() {
            // Twilio has created the message: a body we cannot read leaves us without its
            // SID, which is an unknown outcome, not a failure to retry.
            let body = response.bytes().await.map_err(|e| {
                SmsError::OutcomeUnknown(format!("HTTP {status}, body unreadable: {e}"))
            })?;
            parse_created(status, &body)
        } else {
            // The status alone decides an error; the body only adds detail.
            let body = response.bytes().await.unwrap_or_default();
            Err(error_from_response(status, retry_after, &body))
        }
    }

    async fn find_sent(
        &self,
        credentials: &TwilioCredentials,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError> {
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

/// Maps a request that got no HTTP response.
///
/// reqwest tells the phases apart: `is_connect()` means the TCP/TLS connection was never
/// established, so no byte of the request reached Twilio (a `connect_timeout` is reported
/// as both `is_connect()` and `is_timeout()`, and connect wins). `is_builder()` means the
/// request was never built. Anything else (`is_timeout()` from the overall timeout, a
/// connection reset while writing or reading, `is_body()`, `is_decode()`) happened once
/// the request may have been written, and Twilio may have created the message.
fn transport_error(err: reqwest::Error) -> SmsError {
    if err.is_connect() || err.is_builder() {
        SmsError::Unavailable(format!("request not sent: {err}"))
    } else if err.is_timeout() {
        SmsError::OutcomeUnknown(format!("no response in time: {err}"))
    } else {
        SmsError::OutcomeUnknown(format!("request failed after it may have been sent: {err}"))
    }
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
        other => {
            tracing::warn!(%sid, status = ?other, "Twilio returned an unexpected status; assuming queued");
            MessageStatus::Queued
        }
    };
    Ok(ProviderAccepted {
        sid,
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
        return SmsError::Rejected {
            code: code.unwrap_or(0),
            message,
            http_status: status.as_u16(),
        };
    }
    // 1xx/3xx: Twilio never answers a create like this; we cannot tell what happened.
    SmsError::OutcomeUnknown(format!("unexpected HTTP {status}: {detail}"))
}

/// The start of a body for error messages, cut on a character boundary.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut cut: String = text.chars().take(BODY_SNIPPET_CHARS).collect();
    if text.chars().nth(BODY_SNIPPET_CHARS).is_some() {
        cut.push('…');
    }
    if cut.is_empty() {
        "(empty body)".to_string()
    } else {
        cut
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use serde_json::json;
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::domain::{PhoneNumber, Secret, TwilioApiKey};

    const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
    const MESSAGES_PATH: &str =
        "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";
    const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

    fn phone(e164: &str) -> PhoneNumber {
        PhoneNumber::parse_e164(e164).expect("test numbers are valid E.164")
    }

    fn token_credentials() -> TwilioCredentials {
        TwilioCredentials {
            account_sid: ACCOUNT_SID.into(),
            auth_token: Secret::new("auth-token-1"),
            api_key: None,
            messaging_service_sids: vec![],
        }
    }

    fn api_key_credentials() -> TwilioCredentials {
        TwilioCredentials {
            api_key: Some(TwilioApiKey {
                sid: "SK00000000000000000000000000000009".into(),
                secret: Secret::new("key-secret"),
            }),
            ..token_credentials()
        }
    }

    fn sms(sender: Sender) -> OutboundSms {
        OutboundSms {
            to: phone("+14155552671"),
            sender,
            body: "Hi & welcome + 👍 50%".into(),
            media_urls: vec![],
            status_callback: None,
        }
    }

    fn http_client(timeout: Duration) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(timeout)
            .build()
            .expect("test HTTP client builds")
    }

    fn client_for(server: &MockServer) -> TwilioClient {
        // A trailing slash on the base URL must not double up in the path.
        TwilioClient::new(
            http_client(Duration::from_secs(5)),
            format!("{}/", server.uri()),
        )
    }

    fn created(status: &str, num_segments: serde_json::Value) -> ResponseTemplate {
        ResponseTemplate::new(201).set_body_json(json!({
            "account_sid": ACCOUNT_SID,
            "api_version": "2010-04-01",
            "sid": "SM0123456789abcdef0123456789abcdef",
            "status": status,
            "num_segments": num_segments,
            "num_media": "0",
            "price": null,
            "error_code": null,
        }))
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
    }

    /// The one request the mock received: its method, path, headers and decoded form.
    async fn only_request(server: &MockServer) -> wiremock::Request {
        let mut requests = server
            .received_requests()
            .await
            .expect("request recording is on");
        assert_eq!(requests.len(), 1, "exactly one request");
        requests.remove(0)
    }

    fn form_of(request: &wiremock::Request) -> Vec<(String, String)> {
        serde_urlencoded::from_bytes(&request.body).expect("form-encoded body")
    }

    fn header<'a>(request: &'a wiremock::Request, name: &str) -> &'a str {
        request
            .headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} header present"))
            .to_str()
            .expect("ASCII header")
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn sends_the_exact_create_request_for_each_sender_and_auth_mode() {
        let with_media = OutboundSms {
            media_urls: vec![
                "https://cdn.example.com/a.png".into(),
                "https://cdn.example.com/b.jpg?x=1&y=2".into(),
            ],
            status_callback: Some("https://hooks.example.com/twilio/status".into()),
            ..sms(Sender::MessagingService(SERVICE_SID.into()))
        };
        let media_only = OutboundSms {
            body: String::new(),
            media_urls: vec!["https://cdn.example.com/a.png".into()],
            ..sms(Sender::Number(phone("+14155550100")))
        };
        let body = "Hi & welcome + 👍 50%";
        // (case, credentials, message, expected Authorization, expected form)
        let cases = [
            (
                "API key, Messaging Service, two media, status callback",
                api_key_credentials(),
                with_media,
                basic("SK00000000000000000000000000000009", "key-secret"),
                owned(&[
                    ("To", "+14155552671"),
                    ("MessagingServiceSid", SERVICE_SID),
                    ("Body", body),
                    ("MediaUrl", "https://cdn.example.com/a.png"),
                    ("MediaUrl", "https://cdn.example.com/b.jpg?x=1&y=2"),
                    ("StatusCallback", "https://hooks.example.com/twilio/status"),
                ]),
            ),
            (
                "auth token, phone number sender",
                token_credentials(),
                sms(Sender::Number(phone("+14155550100"))),
                basic(ACCOUNT_SID, "auth-token-1"),
                owned(&[
                    ("To", "+14155552671"),
                    ("From", "+14155550100"),
                    ("Body", body),
                ]),
            ),
            (
                "alphanumeric sender goes in From",
                token_credentials(),
                sms(Sender::Alphanumeric("Acme Shop".into())),
                basic(ACCOUNT_SID, "auth-token-1"),
                owned(&[
                    ("To", "+14155552671"),
                    ("From", "Acme Shop"),
                    ("Body", body),
                ]),
            ),
            (
                "media without text: no empty Body",
                token_credentials(),
                media_only,
                basic(ACCOUNT_SID, "auth-token-1"),
                owned(&[
                    ("To", "+14155552671"),
                    ("From", "+14155550100"),
                    ("MediaUrl", "https://cdn.example.com/a.png"),
                ]),
            ),
        ];
        for (case, credentials, message, authorization, form) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(MESSAGES_PATH))
                .respond_with(created("queued", json!("1")))
                .mount(&server)
                .await;

            let accepted = client_for(&server)
                .send(&credentials, &message)
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(accepted.sid, "SM0123456789abcdef0123456789abcdef", "{case}");

            let request = only_request(&server).await;
            assert_eq!(request.method.as_str(), "POST", "{case}");
            assert_eq!(request.url.path(), MESSAGES_PATH, "{case}");
            assert_eq!(request.url.query(), None, "{case}");
            assert_eq!(header(&request, "authorization"), authorization, "{case}");
            assert_eq!(
                header(&request, "content-type"),
                "application/x-www-form-urlencoded",
                "{case}"
            );
            assert_eq!(form_of(&request), form, "{case}");
        }
    }

    #[tokio::test]
    async fn parses_the_created_message() {
        // (case, status, num_segments, expected status, expected segments)
        let cases = [
            (
                "plain send",
                "queued",
                json!("1"),
                MessageStatus::Queued,
                Some(1),
            ),
            (
                "long message",
                "queued",
                json!("3"),
                MessageStatus::Queued,
                Some(3),
            ),
            (
                "Messaging Service: sender not chosen yet",
                "accepted",
                json!("0"),
                MessageStatus::Accepted,
                None,
            ),
            (
                "scheduled",
                "scheduled",
                json!(null),
                MessageStatus::Scheduled,
                None,
            ),
            (
                "count as a JSON number",
                "queued",
                json!(2),
                MessageStatus::Queued,
                Some(2),
            ),
            (
                "count unreadable",
                "queued",
                json!("many"),
                MessageStatus::Queued,
                None,
            ),
            (
                "status outside our enum",
                "partially_delivered",
                json!("1"),
                MessageStatus::Queued,
                Some(1),
            ),
        ];
        for (case, status, segments, expected_status, expected_segments) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(created(status, segments))
                .mount(&server)
                .await;
            let accepted = client_for(&server)
                .send(
                    &token_credentials(),
                    &sms(Sender::Number(phone("+14155550100"))),
                )
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                accepted,
                ProviderAccepted {
                    sid: "SM0123456789abcdef0123456789abcdef".into(),
                    status: expected_status,
                    segments: expected_segments,
                },
                "{case}"
            );
        }
    }

    fn twilio_error(http: u16, code: u32, message: &str) -> ResponseTemplate {
        ResponseTemplate::new(http).set_body_json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": http,
        }))
    }

    #[tokio::test]
    async fn maps_error_responses() {
        let cases = [
            (
                "invalid To",
                twilio_error(
                    400,
                    21211,
                    "The 'To' number +1415 is not a valid phone number.",
                ),
                SmsError::Rejected {
                    code: 21211,
                    message: "The 'To' number +1415 is not a valid phone number.".into(),
                    http_status: 400,
                },
            ),
            (
                "opted out",
                twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
                SmsError::Rejected {
                    code: 21610,
                    message: "Attempt to send to unsubscribed recipient".into(),
                    http_status: 400,
                },
            ),
            (
                "bad credentials",
                twilio_error(401, 20003, "Authenticate"),
                SmsError::Rejected {
                    code: 20003,
                    message: "Authenticate".into(),
                    http_status: 401,
                },
            ),
            (
                "429 with Retry-After",
                twilio_error(429, 20429, "Too Many Requests").insert_header("Retry-After", "3"),
                SmsError::RateLimited {
                    code: 20429,
                    retry_after: Some(Duration::from_secs(3)),
                },
            ),
            (
                "429 without a body",
                ResponseTemplate::new(429),
                SmsError::RateLimited {
                    code: 20429,
                    retry_after: None,
                },
            ),
            (
                "Retry-After as an HTTP date is ignored",
                twilio_error(429, 20429, "Too Many Requests")
                    .insert_header("Retry-After", "Wed, 21 Oct 2015 07:28:00 GMT"),
                SmsError::RateLimited {
                    code: 20429,
                    retry_after: None,
                },
            ),
            (
                "code 20429 on a 400",
                twilio_error(400, 20429, "Too Many Requests"),
                SmsError::RateLimited {
                    code: 20429,
                    retry_after: None,
                },
            ),
            (
                "sender queue full",
                twilio_error(
                    400,
                    21611,
                    "This 'From' number has exceeded the maximum number of queued messages",
                )
                .insert_header("Retry-After", "60"),
                SmsError::RateLimited {
                    code: 21611,
                    retry_after: Some(Duration::from_secs(60)),
                },
            ),
            (
                "4xx without a JSON body",
                ResponseTemplate::new(404).set_body_string("<html>not found</html>"),
                SmsError::Rejected {
                    code: 0,
                    message: "HTTP 404 Not Found: <html>not found</html>".into(),
                    http_status: 404,
                },
            ),
            (
                "4xx with an empty body",
                ResponseTemplate::new(403),
                SmsError::Rejected {
                    code: 0,
                    message: "HTTP 403 Forbidden: (empty body)".into(),
                    http_status: 403,
                },
            ),
            (
                "server error",
                twilio_error(500, 20500, "Internal Server Error"),
                SmsError::Unavailable(
                    "HTTP 500 Internal Server Error: Internal Server Error".into(),
                ),
            ),
            (
                "bad gateway without a body",
                ResponseTemplate::new(502),
                SmsError::Unavailable("HTTP 502 Bad Gateway: (empty body)".into()),
            ),
        ];
        for (case, response, expected) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path(MESSAGES_PATH))
                .respond_with(response)
                .mount(&server)
                .await;
            let result = client_for(&server)
                .send(
                    &token_credentials(),
                    &sms(Sender::Number(phone("+14155550100"))),
                )
                .await;
            assert_eq!(result, Err(expected), "{case}");
        }
    }

    #[tokio::test]
    async fn unreadable_success_is_an_unknown_outcome() {
        let cases = [
            (
                "not JSON",
                ResponseTemplate::new(201).set_body_string("<Response/>"),
            ),
            (
                "no sid",
                ResponseTemplate::new(201).set_body_json(json!({"status": "queued"})),
            ),
        ];
        for (case, response) in cases {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(response)
                .mount(&server)
                .await;
            let result = client_for(&server)
                .send(
                    &token_credentials(),
                    &sms(Sender::Number(phone("+14155550100"))),
                )
                .await;
            assert!(
                matches!(result, Err(SmsError::OutcomeUnknown(_))),
                "{case}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn connection_refused_is_unavailable() {
        // Bind a port, then free it: nothing listens there any more.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        let address = listener.local_addr().expect("bound address");
        drop(listener);
        let client = TwilioClient::new(
            http_client(Duration::from_secs(5)),
            format!("http://{address}"),
        );
        let result = client
            .send(
                &token_credentials(),
                &sms(Sender::Number(phone("+14155550100"))),
            )
            .await;
        assert!(
            matches!(result, Err(SmsError::Unavailable(_))),
            "{result:?}"
        );
    }

    #[tokio::test]
    async fn no_answer_in_time_is_an_unknown_outcome() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(created("queued", json!("1")).set_delay(Duration::from_secs(3)))
            .mount(&server)
            .await;
        let client = TwilioClient::new(http_client(Duration::from_millis(300)), server.uri());
        let result = client
            .send(
                &token_credentials(),
                &sms(Sender::Number(phone("+14155550100"))),
            )
            .await;
        assert!(
            matches!(result, Err(SmsError::OutcomeUnknown(_))),
            "{result:?}"
        );
        // The request did reach the server: exactly the case that must not be retried.
        only_request(&server).await;
    }

    #[tokio::test]
    async fn refuses_an_account_sid_that_would_change_the_path() {
        let server = MockServer::start().await;
        let credentials = TwilioCredentials {
            account_sid: "AC1/../../other".into(),
            ..token_credentials()
        };
        let result = client_for(&server)
            .send(&credentials, &sms(Sender::Number(phone("+14155550100"))))
            .await;
        assert!(
            matches!(
                result,
                Err(SmsError::Rejected {
                    code: 0,
                    http_status: 0,
                    ..
                })
            ),
            "{result:?}"
        );
        let requests = server.received_requests().await.expect("recording is on");
        assert!(requests.is_empty(), "nothing was sent");
    }

    #[test]
    fn snippets_are_cut_on_character_boundaries() {
        let long = "é".repeat(BODY_SNIPPET_CHARS + 5);
        let cut = snippet(long.as_bytes());
        assert_eq!(cut.chars().count(), BODY_SNIPPET_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(snippet(b"short"), "short");
        assert_eq!(snippet(b""), "(empty body)");
    }
}
