//! Instasent's delivery reports through the status function's router: each status's
//! stored status, goals, phone health and opt-out; and what is refused (a wrong secret, an
//! unreadable report) or acknowledged and ignored (an unknown status or message, an
//! inbound text), or asked again (a message still being sent).

use serde_json::json;
use smsflow_shared::domain::{InstasentCredentials, MessageId, Secret, SmsProviderKind};

use super::*;

const SECRET: &str = "status-test-callback-secret";

/// The harness's acme moved to Instasent, with a known callback secret.
async fn on_instasent() -> Harness {
    let h = harness(None).await;
    let mut acme = h.acme.clone();
    acme.provider = SmsProviderKind::Instasent;
    acme.instasent = Some(InstasentCredentials {
        api_token: Secret::new("token"),
        base_url: None,
        callback_secret: Some(Secret::new(SECRET)),
    });
    h.rt.app
        .store
        .put_account(&acme)
        .await
        .expect("acme on Instasent");
    Harness { acme, ..h }
}

impl Harness {
    /// Posts `body` (raw) to the callback URL of `account` with `secret`.
    async fn report_raw(&self, account: &str, secret: &str, body: &str) -> (u16, String) {
        let path = format!("/instasent/callback/{account}/{secret}");
        let request = axum::http::Request::post(&path)
            .header("host", "sms.example.com")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let router = http::with_fallback(http::status_callback(self.rt.app.clone()));
        let answer = handler::respond(router, request).await;
        (answer.status, answer.body)
    }

    /// Instasent's report of `status` for message `n`, as it posts it.
    async fn report(&self, n: u32, status: &str) -> (u16, String) {
        let body = json!({
            "id": sid(n), "clientId": message_id(n), "status": status,
            "code": null, "eventAt": "2026-11-22T14:31:30+00:00",
        });
        self.report_raw("acme", SECRET, &body.to_string()).await
    }
}

#[tokio::test]
async fn each_status_sets_off_what_twilios_would() {
    use MessageStatus::{Delivered, Failed, Queued, Sent, Undelivered};
    // (Instasent status, stored status, goals, hard failures counted, opted out)
    let cases: &[(&str, MessageStatus, &[&str], u32, bool)] = &[
        ("sent", Sent, &[], 0, false),
        ("accepted", Sent, &[], 0, false),
        ("buffered", Sent, &[], 0, false),
        ("delivered", Delivered, &["GoodNumber"], 0, false),
        ("failed", Undelivered, &["BadNumber"], 1, false),
        ("rejected", Undelivered, &["SendFailed"], 1, false),
        ("expired", Undelivered, &["SendFailed"], 0, false),
        ("error", Failed, &["SendFailed"], 0, false),
        ("canceled", Failed, &["SendFailed"], 0, false),
        ("stop", Queued, &["OptOut"], 0, true),
        ("unknown", Queued, &[], 0, false),
    ];
    for &(reported, stored, goals, failures, opted_out) in cases {
        let h = on_instasent().await;
        h.sent_message(1, CONTACT, true).await;
        // Twice: Instasent repeats a report it thinks failed; nothing happens twice.
        for attempt in 1..=2 {
            let (status, body) = h.report(1, reported).await;
            assert_eq!(status, 200, "{reported} (attempt {attempt}): {body}");
        }
        h.run_jobs().await;
        assert_eq!(h.stored(1, CONTACT).await.status, stored, "{reported}");
        assert_eq!(h.goals().await, goals, "{reported}");
        let health = h.health(CONTACT).await;
        assert_eq!(health.consecutive_hard_failures, failures, "{reported}");
        assert_eq!(h.opted_out(CONTACT).await, opted_out, "{reported}");
    }
}

#[tokio::test]
async fn refused_reports_change_nothing_and_ignored_ones_are_acknowledged() {
    let report = |status: &str| {
        json!({"id": sid(1), "clientId": message_id(1), "status": status}).to_string()
    };
    let inbound = json!({"id": "mo-1", "status": "delivered", "message": "hola"}).to_string();
    let unknown = json!({"id": "nobody-knows", "status": "delivered"}).to_string();
    // (what, account, secret, body, HTTP status, error code)
    type Case<'a> = (&'a str, &'a str, &'a str, String, u16, Option<&'a str>);
    let cases: &[Case] = &[
        (
            "another secret",
            "acme",
            "status-test-callback-secreT",
            report("stop"),
            403,
            Some("invalid_secret"),
        ),
        (
            "no such account",
            "nobody",
            SECRET,
            report("stop"),
            403,
            Some("invalid_secret"),
        ),
        (
            "not an account id",
            "Acme_Inc",
            SECRET,
            report("stop"),
            403,
            Some("invalid_secret"),
        ),
        (
            "not JSON",
            "acme",
            SECRET,
            "status=stop".into(),
            400,
            Some("invalid_request"),
        ),
        (
            "no status",
            "acme",
            SECRET,
            json!({"id": sid(1)}).to_string(),
            400,
            Some("invalid_request"),
        ),
        (
            "an empty id",
            "acme",
            SECRET,
            json!({"id": "", "status": "stop"}).to_string(),
            400,
            Some("invalid_request"),
        ),
        ("an inbound text", "acme", SECRET, inbound, 200, None),
        ("an unknown message", "acme", SECRET, unknown, 200, None),
    ];
    for (what, account, secret, body, want, code) in cases {
        let h = on_instasent().await;
        h.sent_message(1, CONTACT, true).await;
        let (status, answer) = h.report_raw(account, secret, body).await;
        assert_eq!(status, *want, "{what}: {answer}");
        if let Some(code) = code {
            let error: Value = serde_json::from_str(&answer).expect("JSON error");
            assert_eq!(error["error"], *code, "{what}: {answer}");
        }
        h.run_jobs().await;
        assert_eq!(
            h.stored(1, CONTACT).await.status,
            MessageStatus::Queued,
            "{what}"
        );
        assert!(!h.opted_out(CONTACT).await, "{what}");
        assert_eq!(h.goals().await, Vec::<String>::new(), "{what}");
    }
}

/// A report that beats the send worker (the message's id not stored yet, its send still
/// in flight) is answered 503 so that Instasent reports again; once the id is stored, the
/// repeat is applied.
#[tokio::test]
async fn a_report_on_a_message_still_being_sent_is_asked_again() {
    let h = on_instasent().await;
    h.sent_message(1, CONTACT, false).await;
    let now = h.rt.app.clock.now();
    let (account, to, id) = (&h.acme.id, phone(CONTACT), MessageId::new(message_id(1)));
    let begun =
        h.rt.app
            .store
            .begin_attempt(account, &to, &id, None, now)
            .await;
    begun.expect("attempt recorded");
    let (status, body) = h.report(1, "delivered").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("not_yet"), "{body}");
    let sid = MessageSid::new(sid(1));
    let attached =
        h.rt.app
            .store
            .attach_provider_sid(account, &to, &id, &sid)
            .await;
    attached.expect("the worker stores the id");
    let (status, body) = h.report(1, "delivered").await;
    assert_eq!(status, 200, "{body}");
    h.run_jobs().await;
    assert_eq!(h.stored(1, CONTACT).await.status, MessageStatus::Delivered);
    assert_eq!(h.goals().await, ["GoodNumber"]);
}
