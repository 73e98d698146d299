//! Twilio status callbacks through the status function's router, from the `events/`
//! fixtures (request in -> status, body, effects out): signatures, lookups, each error
//! class's goal and phone health, opt-outs, duplicates and reordering, the callback that
//! beats the send worker's SID bookkeeping, bounces, and the signed delivery events.
//! Queued jobs are run in-test by draining the automation queue.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use serde_json::Value;
use smsflow_shared::adapters::webhook_crm::{
    EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature,
};
use smsflow_shared::domain::consent::{PhoneHealth, PhoneStatus};
use smsflow_shared::domain::keywords::KeywordClass;
use smsflow_shared::domain::{
    Account, Direction, MessageRecord, MessageStatus, Timestamp, twilio_signature,
};
use smsflow_shared::handlers::automation;
use smsflow_shared::handlers::http;
use smsflow_shared::jobs::AutomationEnvelope;
use smsflow_shared::jobs::InboundText;
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::{QueueName, QueueReceiver};
use smsflow_shared::usecases::JobOutcome;
use smsflow_shared::usecases::inbound::process_inner;
use smsflow_shared::usecases::status;
use smsflow_tests::example::ExampleConfig;
use smsflow_tests::fixtures::{self, new_contact, phone};
use smsflow_tests::local_server::ExampleServer;
use smsflow_tests::poll::{self, eventually};
use smsflow_tests::{handler, runtime};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

const BASE: &str = "https://sms.example.com";
const TOKEN: &str = "test-auth-token";
/// The `MessageSid` and `To` of every status fixture.
const FIXTURE_SID: &str = "SMb7c0a2ce80504485a6f653a2c2c4e0ea";
const CONTACT: &str = "+14155552671";
const EVENT_SECRET: &str = "event-signing-secret";

const QUEUED: &str = include_str!("../../../events/twilio-status-queued.form");
const SENT: &str = include_str!("../../../events/twilio-status-sent.form");
const DELIVERED: &str = include_str!("../../../events/twilio-status-delivered.form");
const UNDELIVERED_30006: &str =
    include_str!("../../../events/twilio-status-undelivered-30006.form");
const UNDELIVERED_30005: &str =
    include_str!("../../../events/twilio-status-undelivered-30005.form");
const UNDELIVERED_30003: &str =
    include_str!("../../../events/twilio-status-undelivered-30003.form");
const FAILED_21610: &str = include_str!("../../../events/twilio-status-failed-21610.form");
const FAILED_30007: &str = include_str!("../../../events/twilio-status-failed-30007.form");
const FAILED_30034: &str = include_str!("../../../events/twilio-status-failed-30034.form");

struct Harness {
    rt: Arc<LocalRuntime>,
    acme: Account,
}

/// The example account with the fixtures' auth token, its contact `1` (+14155552671) in the
/// sandbox CRM, and optionally an event webhook at `events_url`.
async fn harness(events_url: Option<&str>) -> Harness {
    let mut config = ExampleConfig::new().twilio_auth_token(TOKEN);
    if let Some(url) = events_url {
        config = config.append(&format!(
            "\n[accounts.event_webhook]\nurl = \"{url}\"\nsigning_secret = \"{EVENT_SECRET}\"\n"
        ));
    }
    harness_of(config).await
}

async fn harness_of(config: ExampleConfig) -> Harness {
    let rt = Arc::new(runtime::in_memory(&config.parse(), Some(BASE)).await);
    let acme = runtime::account(&rt.app, "acme").await;
    let contact = runtime::add_contact(&rt.app, &acme, new_contact("Jane", CONTACT)).await;
    assert_eq!(contact.id, "1");
    Harness { rt, acme }
}

/// A ULID-shaped id of our own for message `n`.
fn message_id(n: u32) -> String {
    format!("01JSTATVS{n:017}")
}

/// A Twilio-shaped SID for message `n` (message 0 is the fixtures' SID).
fn sid(n: u32) -> String {
    if n == 0 {
        FIXTURE_SID.to_string()
    } else {
        format!("SM{n:032x}")
    }
}

impl Harness {
    /// Stores outbound message `n` to `to` as the send worker does (queued, for contact 1),
    /// with its SID attached unless `attached` is false.
    async fn sent_message(&self, n: u32, to: &str, attached: bool) -> MessageRecord {
        let at = Timestamp::from_millis(1_795_000_000_000);
        let message = MessageRecord {
            body: "Your appointment is tomorrow".into(),
            provider_sid: attached.then(|| sid(n)),
            campaign: Some("reminders".into()),
            contact_id: Some("1".into()),
            ..fixtures::message(message_id(n), &self.acme.id, to, Direction::Outbound, at)
        };
        self.rt
            .app
            .store
            .record_message(&message)
            .await
            .expect("store");
        message
    }

    /// Posts `form` (a fixture, made about message `n` and recipient `to`) to
    /// `/twilio/status?<query>`, signed as `signature` says, and returns status and body.
    async fn post(
        &self,
        form: &str,
        n: u32,
        to: &str,
        query: &str,
        signature: Signature<'_>,
    ) -> (u16, String) {
        let form = form
            .replace(FIXTURE_SID, &sid(n))
            .replace(&CONTACT.replace('+', "%2B"), &to.replace('+', "%2B"));
        let path = if query.is_empty() {
            "/twilio/status".to_string()
        } else {
            format!("/twilio/status?{query}")
        };
        let params: Vec<(String, String)> =
            serde_urlencoded::from_str(&form).expect("fixture is a form");
        let mut request = axum::http::Request::post(&path)
            .header("host", "sms.example.com")
            .header("content-type", "application/x-www-form-urlencoded");
        let url = format!("{BASE}{path}");
        let signed = |token: &str, url: &str| twilio_signature::sign(token, url, &params);
        request = match signature {
            Signature::Valid => request.header("x-twilio-signature", signed(TOKEN, &url)),
            Signature::For(other) => request.header("x-twilio-signature", signed(TOKEN, other)),
            Signature::Token(token) => request.header("x-twilio-signature", signed(token, &url)),
            Signature::Missing => request,
        };
        let request = request.body(Body::from(form)).expect("request");
        let router = http::with_fallback(http::status_callback(self.rt.app.clone()));
        let answer = handler::respond(router, request).await;
        (answer.status, answer.body)
    }

    /// Posts `form` for message `n` with the callback URL the send worker gives Twilio.
    async fn callback(&self, form: &str, n: u32, to: &str) -> u16 {
        let (status, body) = self.post(form, n, to, &hint(n), Signature::Valid).await;
        assert_eq!((status, body.as_str()), (204, ""), "message {n}");
        status
    }

    /// Runs every queued automation job, as the worker would: a job asking to be retried
    /// goes back on the queue (at most `rounds` passes). Returns the outcomes.
    async fn run_jobs(&self) -> Vec<JobOutcome> {
        let mut outcomes = Vec::new();
        for _ in 0..5 {
            let batch = self
                .rt
                .queue
                .receive(
                    QueueName::Automation,
                    10,
                    Duration::from_secs(30),
                    Duration::ZERO,
                )
                .await
                .expect("receive");
            if batch.is_empty() {
                break;
            }
            for message in batch {
                let envelope: AutomationEnvelope =
                    serde_json::from_str(&message.body).expect("an automation job");
                let outcome = automation::run(&self.rt.app, &envelope).await;
                if outcome.should_retry() {
                    self.rt
                        .queue
                        .change_visibility(QueueName::Automation, &message.receipt, Duration::ZERO)
                        .await
                        .expect("retry");
                } else {
                    self.rt
                        .queue
                        .delete(QueueName::Automation, &message.receipt)
                        .await
                        .expect("delete");
                }
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    /// Call names of the goals the CRM received, sorted.
    async fn goals(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .rt
            .crm
            .goals(Some(&self.acme.id), 100)
            .await
            .expect("goals")
            .into_iter()
            .map(|g| {
                assert_eq!(g.contact_id, "1", "goals fire on the message's contact");
                g.call_name
            })
            .collect();
        names.sort_unstable();
        names
    }

    async fn health(&self, to: &str) -> PhoneHealth {
        self.rt
            .app
            .store
            .phone_health(&self.acme.id, &phone(to))
            .await
            .expect("phone health")
    }

    async fn opted_out(&self, to: &str) -> bool {
        self.rt
            .app
            .store
            .consent(&self.acme.id, &phone(to))
            .await
            .expect("consent")
            .is_some_and(|c| c.opted_out)
    }

    /// Message `n` as stored, on the conversation with `to`.
    async fn stored(&self, n: u32, to: &str) -> MessageRecord {
        self.rt
            .app
            .store
            .conversation(&self.acme.id, &phone(to), 100)
            .await
            .expect("conversation")
            .into_iter()
            .find(|m| m.id == message_id(n))
            .expect("the message is stored")
    }
}

/// The query the send worker's callback URL carries for message `n`.
fn hint(n: u32) -> String {
    format!("account=acme&message={}", message_id(n))
}

#[derive(Clone, Copy)]
enum Signature<'a> {
    /// Signed for the URL the request goes to.
    Valid,
    /// Signed for another URL.
    For(&'a str),
    /// Signed for the right URL with another auth token.
    Token(&'a str),
    Missing,
}

fn health(status: PhoneStatus, failures: u32) -> PhoneHealth {
    PhoneHealth {
        status,
        consecutive_hard_failures: failures,
    }
}

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
    beta.twilio.messaging_service_sids.clear();
    beta.twilio.auth_token = smsflow_shared::domain::Secret::new("beta-token");
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
            .message_by_sid(&sid(1))
            .await
            .expect("store")
            .expect("the SID is attached from the callback");
    assert_eq!(
        (by_sid.id, by_sid.status),
        (message_id(1), MessageStatus::Delivered)
    );
    // The send worker attaching the same SID afterwards is fine.
    h.rt.app
        .store
        .attach_provider_sid(&h.acme.id, &phone(CONTACT), &message_id(1), &sid(1))
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
        message_id: message_id(91),
        from: phone(landline),
        to: phone("+19523142318"),
        body: "It's actually a mobile".into(),
        media_urls: vec![],
        keyword: KeywordClass::None,
        received_at: Timestamp::from_millis(1_795_000_100_000),
    };
    // The webhook stored the text before queueing its processing.
    let mut inbound = h.sent_message(90, landline, false).await;
    inbound.id = message_id(91);
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

/// What the event webhook received: (event header, JSON body), after checking each
/// request's signature.
async fn received_events(server: &MockServer) -> Vec<(String, Value)> {
    let requests = server.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| {
            let header = |name: &str| {
                r.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string()
            };
            assert!(
                verify_signature(
                    EVENT_SECRET,
                    &header(TIMESTAMP_HEADER),
                    &r.body,
                    &header(SIGNATURE_HEADER)
                ),
                "every event is signed with the account's secret"
            );
            (
                header(EVENT_HEADER),
                serde_json::from_slice(&r.body).expect("JSON event"),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_event_webhook_receives_each_status_change_once_as_signed_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let h = harness(Some(&format!("{}/events", server.uri()))).await;
    h.sent_message(1, CONTACT, true).await;
    h.sent_message(2, "+14155550188", true).await;
    for form in [QUEUED, SENT, DELIVERED, SENT, DELIVERED] {
        h.callback(form, 1, CONTACT).await;
    }
    h.callback(FAILED_21610, 2, "+14155550188").await;
    h.callback(FAILED_21610, 2, "+14155550188").await;
    h.run_jobs().await;

    let events = received_events(&server).await;
    let mut names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "message.delivered",
            "message.opted_out",
            "message.queued",
            "message.sent"
        ]
    );
    let (_, opted_out) = events
        .iter()
        .find(|(name, _)| name == "message.opted_out")
        .expect("opt-out event");
    // When the status was stored.
    let occurred_at = h.stored(2, "+14155550188").await.updated_at.as_millis();
    assert_eq!(
        opted_out,
        &serde_json::json!({
            "event": "message.opted_out",
            "type": "opted_out",
            "account": "acme",
            "message_id": message_id(2),
            "message_sid": sid(2),
            "phone": "+14155550188",
            "sender": "+19523142318",
            "status": "failed",
            "error_code": 21610,
            "error_class": "opted_out",
            "contact_id": "1",
            "campaign": "reminders",
            "occurred_at": occurred_at,
        })
    );
}

#[tokio::test]
async fn event_delivery_retries_receiver_trouble_and_drops_refusals() {
    let server = MockServer::start().await;
    // The first attempt meets an outage, the next is accepted.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .with_priority(2)
        .mount(&server)
        .await;
    let h = harness(Some(&format!("{}/events", server.uri()))).await;
    h.sent_message(1, CONTACT, true).await;
    h.callback(SENT, 1, CONTACT).await;
    let outcomes = h.run_jobs().await;
    assert!(matches!(outcomes[0], JobOutcome::Retry(_)), "{outcomes:?}");
    assert_eq!(outcomes.last(), Some(&JobOutcome::Done), "{outcomes:?}");
    assert_eq!(received_events(&server).await.len(), 2);

    let refusing = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400))
        .mount(&refusing)
        .await;
    let h = harness(Some(&format!("{}/events", refusing.uri()))).await;
    h.sent_message(1, CONTACT, true).await;
    h.callback(SENT, 1, CONTACT).await;
    let outcomes = h.run_jobs().await;
    assert!(
        matches!(outcomes.as_slice(), [JobOutcome::Dropped(_)]),
        "{outcomes:?}"
    );
    assert_eq!(received_events(&refusing).await.len(), 1, "not retried");
}

#[tokio::test]
async fn immediate_rejections_map_like_callbacks() {
    use MessageStatus::Failed;
    let h = harness(None).await;
    // Rejected at send time: no SID, and no stored status change.
    let unsubscribed = h.sent_message(1, "+15005550004", false).await;
    let landline = h.sent_message(2, "+15005550009", false).await;
    for _ in 0..2 {
        let outcome = status::on_outcome(&h.rt.app, &h.acme, &unsubscribed, Failed, Some(21610))
            .await
            .expect("mapped");
        assert!(outcome.record_opt_out);
        status::on_outcome(&h.rt.app, &h.acme, &landline, Failed, Some(21614))
            .await
            .expect("mapped");
    }
    h.run_jobs().await;
    assert!(h.opted_out("+15005550004").await);
    assert_eq!(
        h.health("+15005550009").await,
        health(PhoneStatus::Active, 1),
        "counted once"
    );
    assert_eq!(h.goals().await, ["BadNumber", "BlockedNumber"]);
    // A callback for the same message (were there one) fires and counts nothing again.
    let again =
        h.rt.app
            .store
            .attach_provider_sid(&h.acme.id, &phone("+15005550009"), &message_id(2), &sid(2))
            .await;
    assert!(again.is_ok());
    h.callback(UNDELIVERED_30006, 2, "+15005550009").await;
    h.run_jobs().await;
    assert_eq!(h.goals().await, ["BadNumber", "BlockedNumber"]);
    assert_eq!(
        h.health("+15005550009").await,
        health(PhoneStatus::Active, 1)
    );
}

/// The signatures `events/README.md` lists are those of the committed forms, and the forms
/// keep no trailing newline (it would become part of the last value).
#[test]
fn fixture_signatures_match_the_events_readme() {
    let readme = include_str!("../../../events/README.md");
    let url = "https://abc123defg.execute-api.us-east-1.amazonaws.com/twilio/status";
    let forms = [
        ("twilio-status-queued.form", QUEUED),
        ("twilio-status-sent.form", SENT),
        ("twilio-status-delivered.form", DELIVERED),
        ("twilio-status-undelivered-30006.form", UNDELIVERED_30006),
        ("twilio-status-undelivered-30005.form", UNDELIVERED_30005),
        ("twilio-status-undelivered-30003.form", UNDELIVERED_30003),
        ("twilio-status-failed-21610.form", FAILED_21610),
        ("twilio-status-failed-30007.form", FAILED_30007),
        ("twilio-status-failed-30034.form", FAILED_30034),
    ];
    for (name, form) in forms {
        assert!(!form.ends_with('\n'), "{name} ends with a newline");
        let params: Vec<(String, String)> = serde_urlencoded::from_str(form).expect("a form");
        let signature = twilio_signature::sign(TOKEN, url, &params);
        let row = format!("| `{name}` | `{url}` | `{signature}` |");
        assert!(readme.contains(&row), "events/README.md lacks {row}");
    }
}

/// End to end on the local server: a send goes out through the sandbox carrier, whose
/// signed callbacks (to the URL with `account=` and `message=`) bring the stored message to
/// `delivered`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_carrier_callbacks_reach_the_local_server() {
    use smsflow_shared::jobs::SendJob;
    use smsflow_tests::fixtures::send_job;

    let server = ExampleServer::start(ExampleConfig::new()).await;
    let app = server.runtime.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let to = phone("+14155552699");
    // Two earlier hard failures: the delivery will clear them.
    for _ in 0..2 {
        app.store
            .record_phone_event(
                &acme.id,
                &to,
                smsflow_shared::domain::consent::PhoneEvent::HardFailure,
                Default::default(),
            )
            .await
            .expect("phone health");
    }
    let job = SendJob {
        user_id: Some("mary".into()),
        manual: true,
        ..send_job(app.ids.new_id(), &acme, to.clone(), "Your roof is ready")
    };
    runtime::enqueue_send(&app, &job).await;
    eventually(poll::LOCAL_SERVER, async || {
        let conversation = app
            .store
            .conversation(&acme.id, &to, 10)
            .await
            .expect("store");
        let delivered = conversation
            .iter()
            .any(|m| m.id == job.message_id && m.status == MessageStatus::Delivered);
        let cleared = app
            .store
            .phone_health(&acme.id, &to)
            .await
            .expect("phone health")
            == PhoneHealth::default();
        if delivered && cleared {
            Ok(())
        } else {
            Err(format!(
                "the carrier's callbacks never delivered the message: {conversation:?}"
            ))
        }
    })
    .await;
    drop(app);
    server.stop().await;
}
