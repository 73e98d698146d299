//! What each callback leaves behind: the message's status and error code, the goal, the
//! phone's health and consent; refusals, duplicates, reordering, late failures, the
//! callback that beats the SID bookkeeping, and bounces.

use super::*;
use smsflow_shared::domain::{MessageId, MessageSid};

/// One callback and what it must leave behind.
struct Case {
    what: &'static str,
    form: &'static str,
    status: MessageStatus,
    error_code: Option<u32>,
    goals: &'static [&'static str],
    hard_failures: u32,
    opted_out: bool,
}

const fn case(
    what: &'static str,
    form: &'static str,
    status: MessageStatus,
    error_code: Option<u32>,
    goals: &'static [&'static str],
) -> Case {
    Case {
        what,
        form,
        status,
        error_code,
        goals,
        hard_failures: 0,
        opted_out: false,
    }
}

#[tokio::test]
async fn each_status_sets_off_its_goal_phone_event_and_opt_out() {
    use MessageStatus::*;
    let cases = [
        case("queued", QUEUED, Queued, None, &[]),
        case("sent", SENT, Sent, None, &[]),
        case("delivered", DELIVERED, Delivered, None, &["GoodNumber"]),
        Case {
            hard_failures: 1,
            ..case(
                "landline",
                UNDELIVERED_30006,
                Undelivered,
                Some(30006),
                &["BadNumber"],
            )
        },
        Case {
            hard_failures: 1,
            ..case(
                "unknown handset",
                UNDELIVERED_30005,
                Undelivered,
                Some(30005),
                &["BadNumber"],
            )
        },
        case(
            "handset off",
            UNDELIVERED_30003,
            Undelivered,
            Some(30003),
            &["SendFailed"],
        ),
        Case {
            opted_out: true,
            ..case(
                "opted out",
                FAILED_21610,
                Failed,
                Some(21610),
                &["BlockedNumber"],
            )
        },
        case(
            "filtered",
            FAILED_30007,
            Failed,
            Some(30007),
            &["SpamBlock"],
        ),
        case(
            "unregistered sender",
            FAILED_30034,
            Failed,
            Some(30034),
            &["SpamBlock"],
        ),
    ];
    for c in cases {
        let what = c.what;
        let h = harness(None).await;
        h.sent_message(0, CONTACT, true).await;
        h.callback(c.form, 0, CONTACT).await;
        let stored = h.stored(0, CONTACT).await;
        assert_eq!(
            (stored.status, stored.error_code),
            (c.status, c.error_code),
            "{what}"
        );
        // The opt-out is durable before the answer, not left to a queued job.
        assert_eq!(h.opted_out(CONTACT).await, c.opted_out, "{what}");
        assert_eq!(
            h.health(CONTACT).await,
            health(PhoneStatus::Active, c.hard_failures),
            "{what}"
        );
        h.run_jobs().await;
        assert_eq!(h.goals().await, c.goals, "{what}");
    }
}

#[tokio::test]
async fn refused_callbacks_answer_json_and_change_nothing() {
    let h = harness(None).await;
    h.sent_message(1, CONTACT, true).await;
    // A second account, with its own auth token.
    let mut beta = h.acme.clone();
    beta.id = "beta".parse().expect("id");
    beta.numbers.clear();
    let twilio = beta.twilio.as_mut().expect("Twilio");
    twilio.messaging_service_sids.clear();
    twilio.auth_token = smsflow_shared::domain::Secret::new("beta-token");
    h.rt.app.store.put_account(&beta).await.expect("beta");

    let hinted = hint(1);
    let signed_url = format!("{BASE}/twilio/status?{hinted}");
    let other_message = format!("account=acme&message={}", message_id(99));
    let unknown_account = format!("account=nobody&message={}", message_id(1));
    let bad_code = format!(
        "ErrorCode=abc&MessageSid={}&MessageStatus=failed&To=%2B14155552671",
        sid(1)
    );
    let no_status = format!("MessageSid={}&To=%2B14155552671", sid(1));
    let cases: &[(&str, &str, &str, Signature, u16, &str)] = &[
        (
            "wrong signature",
            DELIVERED,
            &hinted,
            Signature::For("https://sms.example.com/twilio/inbound"),
            403,
            "invalid_signature",
        ),
        (
            "missing signature",
            DELIVERED,
            &hinted,
            Signature::Missing,
            403,
            "invalid_signature",
        ),
        (
            "signed with another token",
            DELIVERED,
            &hinted,
            Signature::Token("beta-token"),
            403,
            "invalid_signature",
        ),
        // The query is signed too: a signed callback pointed at another message fails.
        (
            "query changed after signing",
            DELIVERED,
            &other_message,
            Signature::For(&signed_url),
            403,
            "invalid_signature",
        ),
        // Another account cannot move this account's message, even with its own token.
        (
            "another account's callback",
            DELIVERED,
            "account=beta",
            Signature::Token("beta-token"),
            404,
            "unknown_message",
        ),
        (
            "unknown account",
            DELIVERED,
            &unknown_account,
            Signature::Valid,
            404,
            "unknown_account",
        ),
        (
            "malformed account",
            DELIVERED,
            "account=No%20Such",
            Signature::Valid,
            404,
            "unknown_account",
        ),
        (
            "missing MessageSid",
            "MessageStatus=delivered&To=%2B14155552671",
            &hinted,
            Signature::Valid,
            400,
            "invalid_request",
        ),
        (
            "missing MessageStatus",
            &no_status,
            &hinted,
            Signature::Valid,
            400,
            "invalid_request",
        ),
        (
            "ErrorCode not a number",
            &bad_code,
            &hinted,
            Signature::Valid,
            400,
            "invalid_request",
        ),
    ];
    for &(what, form, query, signature, want_status, want_code) in cases {
        let (status, body) = h.post(form, 1, CONTACT, query, signature).await;
        let body: Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(
            (status, body["error"].as_str()),
            (want_status, Some(want_code)),
            "{what}: {body}"
        );
    }
    // Unknown message: a SID nobody stored, without hints or with a hint naming nothing.
    for query in ["", other_message.as_str()] {
        let (status, body) = h.post(DELIVERED, 7, CONTACT, query, Signature::Valid).await;
        let body: Value = serde_json::from_str(&body).expect("JSON error");
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("unknown_message")),
            "{query:?}: {body}"
        );
    }
    assert_eq!(h.stored(1, CONTACT).await.status, MessageStatus::Queued);
    assert!(h.run_jobs().await.is_empty(), "nothing was queued");
    assert_eq!(h.health(CONTACT).await, PhoneHealth::default());
}

#[tokio::test]
async fn a_callback_without_hints_finds_the_message_by_its_sid() {
    // Twilio's Console-configured callbacks (a Messaging Service's) carry no query string.
    let h = harness(None).await;
    h.sent_message(0, CONTACT, true).await;
    let (status, body) = h.post(DELIVERED, 0, CONTACT, "", Signature::Valid).await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(h.stored(0, CONTACT).await.status, MessageStatus::Delivered);
}

#[tokio::test]
async fn duplicate_callbacks_set_off_everything_once() {
    let h = harness(None).await;
    h.sent_message(1, CONTACT, true).await;
    h.sent_message(2, CONTACT, true).await;
    for _ in 0..3 {
        h.callback(DELIVERED, 1, CONTACT).await;
        h.callback(UNDELIVERED_30006, 2, CONTACT).await;
        h.run_jobs().await;
    }
    assert_eq!(h.goals().await, ["BadNumber", "GoodNumber"]);
    // Three undelivered callbacks for one message are one hard failure, and repeats of
    // message 1's old delivery do not clear it.
    assert_eq!(h.health(CONTACT).await, health(PhoneStatus::Active, 1));
}

#[tokio::test]
async fn reordered_callbacks_converge() {
    use MessageStatus::*;
    let good: &[&str] = &["GoodNumber"];
    // (what, callbacks in arrival order, final status and error code, goals)
    let cases = [
        (
            "in order",
            vec![QUEUED, SENT, DELIVERED],
            (Delivered, None),
            good,
        ),
        (
            "delivered first",
            vec![DELIVERED, SENT, QUEUED],
            (Delivered, None),
            good,
        ),
        (
            "delivered around sent",
            vec![DELIVERED, SENT, DELIVERED],
            (Delivered, None),
            good,
        ),
        // One final status wins (the first); a later contradicting one changes nothing,
        // its error code included.
        (
            "undelivered then delivered",
            vec![UNDELIVERED_30006, DELIVERED, SENT],
            (Undelivered, Some(30006)),
            &["BadNumber"],
        ),
        (
            "delivered then undelivered",
            vec![SENT, DELIVERED, UNDELIVERED_30006],
            (Delivered, None),
            good,
        ),
    ];
    for (what, forms, want, goals) in cases {
        let h = harness(None).await;
        h.sent_message(1, CONTACT, true).await;
        for form in forms {
            h.callback(form, 1, CONTACT).await;
        }
        h.run_jobs().await;
        let stored = h.stored(1, CONTACT).await;
        assert_eq!((stored.status, stored.error_code), want, "{what}");
        assert_eq!(h.goals().await, goals, "{what}");
    }
}

/// A `read` receipt (RCS/WhatsApp) made from the delivered fixture.
fn read_form() -> String {
    DELIVERED.replace("Status=delivered", "Status=read")
}

/// Callbacks in arrival order, and what they leave: status, error code, goals fired and
/// the phone's run of hard failures.
struct Sequence<'a> {
    what: &'a str,
    callbacks: Vec<&'a str>,
    status: MessageStatus,
    error_code: Option<u32>,
    goals: &'a [&'a str],
    hard_failures: u32,
}

#[tokio::test]
async fn nothing_follows_a_failure_and_a_late_failure_changes_nothing() {
    use MessageStatus::*;
    let read = read_form();
    let sequences = [
        Sequence {
            what: "undelivered 30006, then read",
            callbacks: vec![SENT, UNDELIVERED_30006, &read],
            status: Undelivered,
            error_code: Some(30006),
            goals: &["BadNumber"],
            hard_failures: 1,
        },
        Sequence {
            what: "failed 30007, then read",
            callbacks: vec![FAILED_30007, &read],
            status: Failed,
            error_code: Some(30007),
            goals: &["SpamBlock"],
            hard_failures: 0,
        },
        Sequence {
            what: "delivered, then undelivered 30006",
            callbacks: vec![SENT, DELIVERED, UNDELIVERED_30006],
            status: Delivered,
            error_code: None,
            goals: &["GoodNumber"],
            hard_failures: 0,
        },
        Sequence {
            what: "read, then undelivered 30006",
            callbacks: vec![DELIVERED, &read, UNDELIVERED_30006],
            status: Read,
            error_code: None,
            goals: &["GoodNumber"],
            hard_failures: 0,
        },
        Sequence {
            what: "read without delivered",
            callbacks: vec![SENT, &read],
            status: Read,
            error_code: None,
            goals: &["GoodNumber"],
            hard_failures: 0,
        },
    ];
    for seq in sequences {
        let what = seq.what;
        let h = harness(None).await;
        h.sent_message(1, CONTACT, true).await;
        for form in &seq.callbacks {
            h.callback(form, 1, CONTACT).await;
            h.run_jobs().await;
        }
        let stored = h.stored(1, CONTACT).await;
        assert_eq!(
            (stored.status, stored.error_code),
            (seq.status, seq.error_code),
            "{what}"
        );
        assert_eq!(h.goals().await, seq.goals, "{what}");
        assert_eq!(
            h.health(CONTACT).await,
            health(PhoneStatus::Active, seq.hard_failures),
            "{what}"
        );
    }
}

#[tokio::test]
async fn a_callback_that_beats_the_sid_bookkeeping_attaches_it() {
    let h = harness(None).await;
    h.sent_message(1, CONTACT, false).await;
    h.callback(SENT, 1, CONTACT).await;
    h.callback(DELIVERED, 1, CONTACT).await;
    let by_sid =
        h.rt.app
            .store
            .message_by_sid(&MessageSid::new(sid(1)))
            .await
            .expect("store")
            .expect("the SID is attached from the callback");
    assert_eq!(
        (by_sid.id, by_sid.status),
        (MessageId::new(message_id(1)), MessageStatus::Delivered)
    );
    // The send worker attaching the same SID afterwards is fine.
    h.rt.app
        .store
        .attach_provider_sid(
            &h.acme.id,
            &phone(CONTACT),
            &MessageId::new(message_id(1)),
            &MessageSid::new(sid(1)),
        )
        .await
        .expect("idempotent attach");
    h.run_jobs().await;
    assert_eq!(h.goals().await, ["GoodNumber"]);
}

#[tokio::test]
async fn repeated_hard_failures_bounce_the_phone_and_signs_of_life_revive_it() {
    let h = harness(None).await;
    let landline = "+14155550123";
    for n in 1..=3 {
        h.sent_message(n, landline, true).await;
        h.callback(UNDELIVERED_30006, n, landline).await;
    }
    assert_eq!(h.health(landline).await, health(PhoneStatus::Bounced, 3));
    // Failures that say nothing about the phone (handset off) neither count nor revive.
    h.sent_message(4, landline, true).await;
    h.callback(UNDELIVERED_30003, 4, landline).await;
    assert_eq!(h.health(landline).await, health(PhoneStatus::Bounced, 3));

    // An inbound text from the phone makes it active again.
    let text = InboundText {
        account: h.acme.id.clone(),
        message_sid: "SM0000000000000000000000000000feed".into(),
        message_id: MessageId::new(message_id(91)),
        from: phone(landline),
        to: phone("+19523142318"),
        body: "It's actually a mobile".into(),
        media_urls: vec![],
        keyword: KeywordClass::None,
        received_at: Timestamp::from_millis(1_795_000_100_000),
    };
    // The webhook stored the text before queueing its processing.
    let mut inbound = h.sent_message(90, landline, false).await;
    inbound.id = MessageId::new(message_id(91));
    inbound.direction = Direction::Inbound;
    inbound.status = MessageStatus::Received;
    inbound.provider_sid = Some(text.message_sid.clone());
    h.rt.app
        .store
        .record_message(&inbound)
        .await
        .expect("store");
    process_inner(&h.rt.app, &text)
        .await
        .expect("inbound processed");
    assert_eq!(h.health(landline).await, health(PhoneStatus::Active, 0));

    // So does a delivery.
    for n in 5..=7 {
        h.sent_message(n, landline, true).await;
        h.callback(UNDELIVERED_30006, n, landline).await;
    }
    assert_eq!(h.health(landline).await.status, PhoneStatus::Bounced);
    h.sent_message(8, landline, true).await;
    h.callback(DELIVERED, 8, landline).await;
    assert_eq!(h.health(landline).await, health(PhoneStatus::Active, 0));
}

#[tokio::test]
async fn the_account_sets_how_many_failures_bounce_a_phone() {
    let strict = ExampleConfig::new()
        .twilio_auth_token(TOKEN)
        .replace("queue_limit = 500", "queue_limit = 500\nbounce_after = 1");
    let h = harness_of(strict).await;
    let landline = "+14155550123";
    h.sent_message(1, landline, true).await;
    h.callback(UNDELIVERED_30006, 1, landline).await;
    assert_eq!(h.health(landline).await, health(PhoneStatus::Bounced, 1));
}
