use reqwest::header::HeaderValue;

use super::*;
use crate::domain::PhoneNumber;
use crate::ports::Sender;

fn sms(body: &str, client_id: Option<&str>) -> OutboundSms {
    OutboundSms {
        to: PhoneNumber::parse_e164("+34600000001").expect("valid number"),
        sender: Sender::Alphanumeric("ACME".into()),
        body: body.into(),
        media_urls: vec![],
        status_callback: None,
        client_id: client_id.map(String::from),
    }
}

#[test]
fn the_body_allows_unicode_only_when_gsm_7_cannot_carry_the_text() {
    let long_id = "x".repeat(41);
    // (text, client id given, allowUnicode, clientId sent)
    let cases = [
        (
            "Hola, tu cita es mañana",
            Some("01JABC"),
            false,
            Some("01JABC"),
        ),
        ("Price: 5€ {ok}", None, false, None),
        ("Confirmed ✓", Some("01JABC"), true, Some("01JABC")),
        ("ç is not GSM-7", Some(""), true, None),
        ("Plain", Some(long_id.as_str()), false, None),
    ];
    for (text, client_id, unicode, sent_id) in cases {
        let message = sms(text, client_id);
        let body = serde_json::to_value(request_body(&message)).expect("serialises");
        let mut want = serde_json::json!({
            "from": "ACME",
            "to": "+34600000001",
            "text": text,
            "allowUnicode": unicode,
        });
        if let Some(id) = sent_id {
            want["clientId"] = id.into();
        }
        assert_eq!(body, want, "{text}");
    }
}

#[test]
fn a_created_message_is_read_wrapped_or_bare() {
    let created = StatusCode::CREATED;
    let cases: [(&str, Option<&str>); 6] = [
        (r#"{"entity":{"id":"6501b2c3"}}"#, Some("6501b2c3")),
        (
            r#"{"entity":{"id":12345,"status":"enqueued"}}"#,
            Some("12345"),
        ),
        (r#"{"id":"abc"}"#, Some("abc")),
        (r#"{"entity":{}}"#, None),
        (r#"{"entity":{"id":""}}"#, None),
        ("not json", None),
    ];
    for (body, want) in cases {
        match (parse_created(created, body.as_bytes()), want) {
            (Ok(accepted), Some(id)) => {
                assert_eq!(accepted.sid.as_str(), id, "{body}");
                assert_eq!(accepted.status, MessageStatus::Queued);
            }
            (Err(SmsError::OutcomeUnknown(_)), None) => {}
            (other, _) => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn each_documented_error_status_is_mapped() {
    let now = 1_700_000_000;
    let mut reset = HeaderMap::new();
    reset.insert("x-ratelimit-reset", HeaderValue::from(now + 30));
    let none = HeaderMap::new();
    let json = br#"{"message":"Problems parsing JSON"}"#;
    let check = |status: u16, headers: &HeaderMap, body: &[u8]| {
        let status = StatusCode::from_u16(status).expect("status");
        error_from_response(status, headers, body, now)
    };
    for (status, words) in [
        (400u16, "Problems parsing JSON"),
        (401, "API token"),
        (402, "out of balance"),
        (404, "does not know"),
        (413, "too large"),
        (422, "refused"),
    ] {
        match check(status, &none, json) {
            SmsError::Rejected {
                code,
                class,
                message,
                http_status,
            } => {
                assert_eq!((code, http_status), (u32::from(status), status));
                assert_eq!(class, ErrorClass::Other, "{status}");
                assert!(message.contains(words), "{status}: {message}");
            }
            other => panic!("{status}: {other:?}"),
        }
    }
    assert!(matches!(
        check(429, &reset, b""),
        SmsError::RateLimited { code: 429, retry_after: Some(wait) } if wait == Duration::from_secs(30)
    ));
    assert!(matches!(
        check(429, &none, b""),
        SmsError::RateLimited {
            retry_after: None,
            ..
        }
    ));
    for status in [500, 502, 503] {
        assert!(matches!(
            check(status, &none, b"oops"),
            SmsError::Unavailable(_)
        ));
    }
}
