//! The stand-in driven by smsflow's own Twilio adapter, and over raw HTTP where the
//! adapter would hide what Twilio answers.

use std::time::Instant;

use smsflow_shared::adapters::twilio::TwilioClient;
use smsflow_shared::domain::{MessageStatus, Secret, TwilioApiKey};

use super::*;
use crate::test_accounts::{ACME_SID, acme_signed_form, acme_twilio};

const OTHER: &str = "AC00000000000000000000000000000002";
const SERVICE: &str = "MG0123456789abcdef0123456789abcdef";
const PUBLIC_ORIGIN: &str = "https://abc123.execute-api.us-east-1.amazonaws.com";

/// An account that authenticates with an API key.
fn other() -> TwilioCredentials {
    TwilioCredentials {
        account_sid: OTHER.into(),
        auth_token: Secret::new("other-token"),
        api_key: Some(TwilioApiKey {
            sid: "SK00000000000000000000000000000009".into(),
            secret: Secret::new("other-key-secret"),
        }),
        messaging_service_sids: vec![],
    }
}

fn sms(from: &str, to: &str) -> OutboundSms {
    OutboundSms {
        to: PhoneNumber::parse_e164(to).expect("valid To"),
        sender: Sender::Number(PhoneNumber::parse_e164(from).expect("valid From")),
        body: "Your roof is ready".into(),
        media_urls: vec![],
        status_callback: None,
        client_id: None,
    }
}

fn carrier() -> SandboxCarrier {
    SandboxCarrier::new(
        EmbeddedDb::in_memory().expect("in-memory db"),
        reqwest::Client::new(),
        Arc::new(SystemClock),
        Arc::new(UlidIds::default()),
    )
    .with_callback_delay(Duration::from_millis(10))
}

async fn stand_in_with(carrier: SandboxCarrier) -> TwilioStandIn {
    TwilioStandIn::start_with_carrier(vec![acme_twilio(), other()], carrier)
        .await
        .expect("the stand-in starts")
}

async fn stand_in() -> TwilioStandIn {
    stand_in_with(carrier()).await
}

fn adapter(base_url: String) -> TwilioClient {
    TwilioClient::new(reqwest::Client::new(), base_url)
}

fn messages_url(stand_in: &TwilioStandIn, account_sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
        stand_in.base_url()
    )
}

/// A raw create request as acme, and the stand-in's status and JSON answer.
async fn post_as_acme(stand_in: &TwilioStandIn, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(messages_url(stand_in, ACME_SID))
        .basic_auth(ACME_SID, Some("acme-token"))
        .form(form)
        .send()
        .await
        .expect("the stand-in answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

fn twilio_error(code: u32, message: &str, status: u16) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

#[tokio::test]
async fn accepts_sends_through_our_adapter_and_keeps_them() {
    let stand_in = stand_in().await;
    let client = adapter(stand_in.base_url());
    for credentials in [acme_twilio(), other()] {
        let accepted = client
            .send(
                ProviderCredentials::Twilio(&credentials),
                &sms("+15005550006", "+14155552671"),
            )
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", credentials.account_sid));
        assert!(accepted.sid.starts_with("SM") && accepted.sid.len() == 34);
        assert_eq!(
            (accepted.status, accepted.segments),
            (MessageStatus::Queued, Some(1))
        );
    }
    let kept = stand_in.messages(10).await.expect("readable");
    let seen: Vec<(&str, &str, &str, &str)> = kept
        .iter()
        .map(|m| {
            (
                m.account_sid.as_str(),
                m.from.as_str(),
                m.to.as_str(),
                m.body.as_str(),
            )
        })
        .collect();
    let one = |account| {
        (
            account,
            "+15005550006",
            "+14155552671",
            "Your roof is ready",
        )
    };
    assert_eq!(seen, [one(OTHER), one(ACME_SID)], "newest first");
}

#[tokio::test]
async fn magic_numbers_round_trip_to_the_carriers_own_errors() {
    let stand_in = stand_in().await;
    let client = adapter(stand_in.base_url());
    let direct = carrier();
    let cases = [
        ("+15005550006", "+15005550004"),
        ("+15005550006", "+15005550009"),
        ("+15005550001", "+14155552671"),
        ("+15005550008", "+14155552671"),
    ];
    for (from, to) in cases {
        let message = sms(from, to);
        let expected = direct
            .send(ProviderCredentials::Twilio(&acme_twilio()), &message)
            .await;
        assert!(expected.is_err(), "{from} -> {to} is a magic refusal");
        let through_http = client
            .send(ProviderCredentials::Twilio(&acme_twilio()), &message)
            .await;
        assert_eq!(through_http, expected, "{from} -> {to}");
    }
    assert!(stand_in.messages(10).await.expect("readable").is_empty());
}

#[tokio::test]
async fn every_carrier_error_round_trips_through_our_adapter() {
    let cases = [
        SmsError::Rejected {
            code: 21610,
            class: classify_error_code(21610),
            message: "Attempt to send to unsubscribed recipient".into(),
            http_status: 400,
        },
        SmsError::RateLimited {
            code: 21611,
            retry_after: Some(Duration::from_secs(60)),
        },
        SmsError::RateLimited {
            code: 20429,
            retry_after: Some(Duration::from_secs(3)),
        },
        SmsError::RateLimited {
            code: 30001,
            retry_after: None,
        },
    ];
    for error in cases {
        let answered = answer_once(TwilioFailure::from_sms_error(error.clone())).await;
        assert_eq!(answered, Err(error));
    }
    let answered = answer_once(TwilioFailure::from_sms_error(SmsError::Unavailable(
        "disk full".into(),
    )))
    .await;
    assert!(
        matches!(&answered, Err(SmsError::Unavailable(text)) if text.ends_with("disk full")),
        "{answered:?}"
    );
}

/// What our adapter makes of a server that answers every request with `failure`.
async fn answer_once(failure: TwilioFailure) -> Result<ProviderAccepted, SmsError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let app = Router::new().fallback(move || {
        let failure = failure.clone();
        async move { failure }
    });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let result = adapter(base_url)
        .send(
            ProviderCredentials::Twilio(&acme_twilio()),
            &sms("+15005550006", "+14155552671"),
        )
        .await;
    server.abort();
    result
}

#[tokio::test]
async fn wrong_credentials_get_twilios_401() {
    let stand_in = stand_in().await;
    let client = adapter(stand_in.base_url());
    let authenticate = Err(SmsError::Rejected {
        code: 20003,
        class: classify_error_code(20003),
        message: "Authenticate".into(),
        http_status: 401,
    });
    let wrong_token = TwilioCredentials {
        auth_token: Secret::new("not-the-token"),
        ..acme_twilio()
    };
    let someone_elses_key = TwilioCredentials {
        account_sid: ACME_SID.into(),
        ..other()
    };
    let unknown_account = TwilioCredentials {
        account_sid: "AC00000000000000000000000000000099".into(),
        ..acme_twilio()
    };
    for credentials in [wrong_token, someone_elses_key, unknown_account] {
        let result = client
            .send(
                ProviderCredentials::Twilio(&credentials),
                &sms("+15005550006", "+14155552671"),
            )
            .await;
        assert_eq!(result, authenticate, "{}", credentials.account_sid);
    }

    let response = reqwest::Client::new()
        .post(messages_url(&stand_in, ACME_SID))
        .form(&[
            ("To", "+14155552671"),
            ("From", "+15005550006"),
            ("Body", "hi"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, twilio_error(20003, "Authenticate", 401));
    assert!(stand_in.messages(10).await.expect("readable").is_empty());
}

#[tokio::test]
async fn refuses_missing_and_malformed_fields_with_twilios_codes() {
    let stand_in = stand_in().await;
    let to = ("To", "+14155552671");
    let from = ("From", "+15005550006");
    let body = ("Body", "hi");
    // (form, Twilio's code, Twilio's message)
    type Case<'a> = (&'a [(&'a str, &'a str)], u32, &'a str);
    let cases: [Case; 5] = [
        (&[from, body], 21604, "A 'To' phone number is required."),
        (&[to, body], 21603, "A 'From' phone number is required."),
        (
            &[to, from, ("Body", "")],
            21602,
            "Message body is required.",
        ),
        (
            &[("To", "4155552671x"), from, body],
            21211,
            "The 'To' number 4155552671x is not a valid phone number.",
        ),
        (
            &[to, ("From", "+1"), body],
            21212,
            "The 'From' number +1 is not a valid phone number, shortcode, or alphanumeric sender ID.",
        ),
    ];
    for (form, code, message) in cases {
        let answer = post_as_acme(&stand_in, form).await;
        assert_eq!(answer, (400, twilio_error(code, message, 400)), "{form:?}");
    }

    let json_body = reqwest::Client::new()
        .post(messages_url(&stand_in, ACME_SID))
        .basic_auth(ACME_SID, Some("acme-token"))
        .json(&json!({"To": "+14155552671", "From": "+15005550006", "Body": "hi"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(json_body.status().as_u16(), 400);
    let answer: Value = json_body.json().await.expect("JSON");
    assert_eq!(answer["code"], 21604, "JSON is not a form: {answer}");
}

#[tokio::test]
async fn answers_twilios_message_resource() {
    let stand_in = stand_in().await;
    let form = [
        ("To", "+14155552671"),
        ("MessagingServiceSid", SERVICE),
        ("Body", "Hi"),
        ("MediaUrl", "https://cdn.example.com/a.png"),
        ("MediaUrl", "https://cdn.example.com/b.png"),
        ("StatusCallback", "https://hooks.example.com/twilio/status"),
    ];
    let (status, message) = post_as_acme(&stand_in, &form).await;
    assert_eq!(status, 201, "{message}");
    let sid = message["sid"].as_str().expect("sid").to_string();
    assert!(sid.starts_with("MM"), "media makes an MMS: {sid}");
    let uri = format!("/2010-04-01/Accounts/{ACME_SID}/Messages/{sid}");
    let expected = json!({
        "account_sid": ACME_SID, "api_version": "2010-04-01", "body": "Hi",
        "date_sent": null, "direction": "outbound-api",
        "error_code": null, "error_message": null,
        "from": null, "messaging_service_sid": SERVICE,
        "num_media": "2", "num_segments": "0",
        "price": null, "price_unit": "USD",
        "sid": sid, "status": "queued",
        "subresource_uris": { "media": format!("{uri}/Media.json") },
        "to": "+14155552671", "uri": format!("{uri}.json"),
    });
    let mut without_dates = message.clone();
    for date in ["date_created", "date_updated"] {
        let text = without_dates[date].as_str().expect("a date").to_string();
        assert!(
            jiff::fmt::rfc2822::parse(&text).is_ok() && text.ends_with("+0000"),
            "{date}: {text}"
        );
        if let Some(fields) = without_dates.as_object_mut() {
            fields.remove(date);
        }
    }
    assert_eq!(without_dates, expected);

    let kept = stand_in.messages(1).await.expect("readable");
    assert_eq!(
        kept[0].from, SERVICE,
        "the carrier keeps the service as sender"
    );
    assert_eq!(kept[0].media_urls.len(), 2);
    assert_eq!(
        kept[0].status_callback.as_deref(),
        Some("https://hooks.example.com/twilio/status")
    );
}

#[tokio::test]
async fn routed_status_callbacks_reach_the_local_front_signed_for_the_public_url() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let front = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/twilio/status"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&front)
        .await;
    let route = CallbackRoute::new(PUBLIC_ORIGIN, &front.uri());
    let stand_in = stand_in_with(carrier().with_callback_route(route)).await;
    let public_url = format!("{PUBLIC_ORIGIN}/twilio/status");
    let message = OutboundSms {
        status_callback: Some(public_url.clone()),
        ..sms("+15005550006", "+14155552671")
    };
    adapter(stand_in.base_url())
        .send(ProviderCredentials::Twilio(&acme_twilio()), &message)
        .await
        .expect("accepted");

    let deadline = Instant::now() + Duration::from_secs(5);
    let requests = loop {
        let requests = front.received_requests().await.unwrap_or_default();
        if requests.len() >= 2 || Instant::now() > deadline {
            break requests;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(requests.len(), 2, "sent and delivered");
    for request in &requests {
        acme_signed_form(
            request,
            "abc123.execute-api.us-east-1.amazonaws.com",
            &public_url,
        );
    }
}
