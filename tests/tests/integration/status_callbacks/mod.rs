//! Twilio status callbacks through the status function's router, from the `events/`
//! fixtures (request in -> status, body, effects out): signatures, lookups, each error
//! class's goal and phone health, opt-outs, duplicates and reordering, the callback that
//! beats the send worker's SID bookkeeping, bounces, and the signed delivery events.
//! Queued jobs are run in-test by draining the automation queue.

use smsflow_shared::domain::MessageSid;
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

mod events;
mod instasent;
mod outcomes;

const BASE: &str = "https://sms.example.com";
const TOKEN: &str = "test-auth-token";
/// The `MessageSid` and `To` of every status fixture.
const FIXTURE_SID: &str = "SMb7c0a2ce80504485a6f653a2c2c4e0ea";
const CONTACT: &str = "+14155552671";
const EVENT_SECRET: &str = "event-signing-secret";

const QUEUED: &str = include_str!("../../../../events/twilio-status-queued.form");
const SENT: &str = include_str!("../../../../events/twilio-status-sent.form");
const DELIVERED: &str = include_str!("../../../../events/twilio-status-delivered.form");
const UNDELIVERED_30006: &str =
    include_str!("../../../../events/twilio-status-undelivered-30006.form");
const UNDELIVERED_30005: &str =
    include_str!("../../../../events/twilio-status-undelivered-30005.form");
const UNDELIVERED_30003: &str =
    include_str!("../../../../events/twilio-status-undelivered-30003.form");
const FAILED_21610: &str = include_str!("../../../../events/twilio-status-failed-21610.form");
const FAILED_30007: &str = include_str!("../../../../events/twilio-status-failed-30007.form");
const FAILED_30034: &str = include_str!("../../../../events/twilio-status-failed-30034.form");

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
            provider_sid: attached.then(|| sid(n)).map(MessageSid::new),
            campaign: Some("reminders".into()),
            kind: None,
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

/// A phone health of `status` after a run of `failures` hard failures.
fn health(status: PhoneStatus, failures: u32) -> PhoneHealth {
    PhoneHealth {
        status,
        consecutive_hard_failures: failures,
    }
}
