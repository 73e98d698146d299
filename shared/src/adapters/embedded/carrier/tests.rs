//! The sandbox carrier: Twilio's magic numbers, signed status callbacks (routed or not),
//! and what it keeps of the messages it accepted.

use super::*;
use crate::domain::{PhoneNumber, Secret, TwilioCredentials, twilio_signature};

fn sms(from: &str, to: &str) -> OutboundSms {
    OutboundSms {
        to: PhoneNumber::parse_e164(to).expect("valid to"),
        sender: Sender::Number(PhoneNumber::parse_e164(from).expect("valid from")),
        body: "hello".into(),
        media_urls: vec![],
        status_callback: None,
        client_id: None,
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
        auth_token: Secret::new("token-123"),
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
            .send(ProviderCredentials::Twilio(&credentials()), &message)
            .await
            .expect("accepted");

        let reports: Vec<(String, String)> = received(&callbacks, 2)
            .await
            .iter()
            .map(|r| {
                let params = signed_form(r, &url);
                assert_eq!(accepted.sid, field(&params, "MessageSid"));
                (field(&params, "MessageStatus"), field(&params, "ErrorCode"))
            })
            .collect();
        let expected = expected.map(|(s, c)| (s.to_string(), c.to_string()));
        assert_eq!(reports, expected, "{to}");

        let kept = carrier.messages(10).await.expect("readable");
        assert_eq!(kept.len(), 1);
        assert_eq!(accepted.sid, kept[0].sid);
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
        .send(ProviderCredentials::Twilio(&credentials()), &message)
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

fn instasent() -> InstasentCredentials {
    InstasentCredentials {
        api_token: Secret::new("instasent-token"),
        base_url: None,
        callback_secret: Some(Secret::new("callback-secret-0123")),
    }
}

/// Playing Instasent: no magic number refuses, the id is Instasent-shaped, and JSON
/// delivery reports with our `clientId` go to the callback URL, unsigned.
#[tokio::test]
async fn plays_instasent_with_json_delivery_reports() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    // (recipient, the reports' statuses in order)
    let cases = [
        ("+34600000001", ["sent", "delivered"]),
        (UNDELIVERABLE_LANDLINE, ["sent", "failed"]),
        (INSTASENT_OPTING_OUT, ["sent", "stop"]),
    ];
    for (to, expected) in cases {
        let callbacks = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/instasent/callback/acme/callback-secret-0123"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&callbacks)
            .await;
        let carrier = carrier();
        let mut message = sms("+15005550006", to);
        message.status_callback = Some(format!(
            "{}/instasent/callback/acme/callback-secret-0123",
            callbacks.uri()
        ));
        message.client_id = Some("01JCLIENT".into());
        let credentials = instasent();
        let accepted = carrier
            .send(ProviderCredentials::Instasent(&credentials), &message)
            .await
            .expect("accepted");
        assert!(accepted.sid.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        let reports = received(&callbacks, 2).await;
        let statuses: Vec<String> = reports
            .iter()
            .map(|r| {
                assert!(r.headers.get("X-Twilio-Signature").is_none());
                let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
                assert_eq!(body["id"], accepted.sid.as_str());
                assert_eq!(body["clientId"], "01JCLIENT");
                assert!(body["eventAt"].is_string());
                body["status"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(statuses, expected, "{to}");
        let kept = carrier.messages(10).await.expect("readable");
        assert_eq!(kept[0].provider, SmsProviderKind::Instasent);
        assert_eq!(kept[0].account_sid, instasent_account_key(&credentials));
        let found = carrier
            .find_sent(
                ProviderCredentials::Instasent(&credentials),
                &message,
                Timestamp::from_millis(0),
            )
            .await
            .expect("answers");
        assert_eq!(found.map(|f| f.sid), Some(accepted.sid), "{to}");
    }
}

#[tokio::test]
async fn playing_instasent_refuses_media() {
    let mut message = sms("+15005550006", "+34600000001");
    message.media_urls = vec!["https://example.com/a.jpg".into()];
    let refused = carrier()
        .send(ProviderCredentials::Instasent(&instasent()), &message)
        .await;
    assert!(
        matches!(refused, Err(SmsError::Rejected { .. })),
        "{refused:?}"
    );
}
