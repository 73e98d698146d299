//! The Twilio client against a local mock: the exact create request for each sender and
//! auth mode, the created message read, and each kind of failure mapped.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::adapters::test_support::{http_client, phone, unreachable_origin};
use crate::domain::{Secret, TwilioApiKey};

pub(super) const ACCOUNT_SID: &str = "AC00000000000000000000000000000001";
const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";
pub(super) const SERVICE_SID: &str = "MG0123456789abcdef0123456789abcdef";

pub(super) fn token_credentials() -> TwilioCredentials {
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
    sms_saying(sender, "Hi & welcome + 👍 50%")
}

/// A text to the test recipient, without media or status callback.
pub(super) fn sms_saying(sender: Sender, body: &str) -> OutboundSms {
    OutboundSms {
        to: phone("+14155552671"),
        sender,
        body: body.into(),
        media_urls: vec![],
        status_callback: None,
        client_id: None,
    }
}

/// Sends the plain test text: from a number, with the auth token.
async fn send_plain(client: &TwilioClient) -> Result<ProviderAccepted, SmsError> {
    let from_number = sms(Sender::Number(phone("+14155550100")));
    client
        .send(
            ProviderCredentials::Twilio(&token_credentials()),
            &from_number,
        )
        .await
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
            .send(ProviderCredentials::Twilio(&credentials), &message)
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
        let accepted = send_plain(&client_for(&server))
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
                class: classify_error_code(21211),
                message: "The 'To' number +1415 is not a valid phone number.".into(),
                http_status: 400,
            },
        ),
        (
            "opted out",
            twilio_error(400, 21610, "Attempt to send to unsubscribed recipient"),
            SmsError::Rejected {
                code: 21610,
                class: classify_error_code(21610),
                message: "Attempt to send to unsubscribed recipient".into(),
                http_status: 400,
            },
        ),
        (
            "bad credentials",
            twilio_error(401, 20003, "Authenticate"),
            SmsError::Rejected {
                code: 20003,
                class: classify_error_code(20003),
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
                class: classify_error_code(0),
                message: "HTTP 404 Not Found: <html>not found</html>".into(),
                http_status: 404,
            },
        ),
        (
            "4xx with an empty body",
            ResponseTemplate::new(403),
            SmsError::Rejected {
                code: 0,
                class: classify_error_code(0),
                message: "HTTP 403 Forbidden: (empty body)".into(),
                http_status: 403,
            },
        ),
        (
            "server error",
            twilio_error(500, 20500, "Internal Server Error"),
            SmsError::Unavailable("HTTP 500 Internal Server Error: Internal Server Error".into()),
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
        let result = send_plain(&client_for(&server)).await;
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
        let result = send_plain(&client_for(&server)).await;
        assert!(
            matches!(result, Err(SmsError::OutcomeUnknown(_))),
            "{case}: {result:?}"
        );
    }
}

#[tokio::test]
async fn connection_refused_is_unavailable() {
    let client = TwilioClient::new(http_client(Duration::from_secs(5)), unreachable_origin());
    let result = send_plain(&client).await;
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
    let result = send_plain(&client).await;
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
        .send(
            ProviderCredentials::Twilio(&credentials),
            &sms(Sender::Number(phone("+14155550100"))),
        )
        .await;
    assert!(
        matches!(
            result,
            Err(SmsError::Rejected {
                code: 0,
                class: ErrorClass::Other,
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
    let long = "é".repeat(200 + 5);
    let cut = snippet(long.as_bytes());
    assert_eq!(cut.chars().count(), 200 + 1);
    assert!(cut.ends_with('…'));
    assert_eq!(snippet(b"short"), "short");
    assert_eq!(snippet(b""), "(empty body)");
}
