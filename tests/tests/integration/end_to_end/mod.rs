//! End to end, in both shapes: each scenario runs against the local server and against the
//! deployed shape (template.yaml's functions, roles and triggers on the stack runner), over
//! HTTP only, through [`Deployment`]. A scenario that passes locally but not on the stack is
//! a deployment defect (a missing grant, a trigger setting, an environment variable); the
//! stack shape also fails any scenario during which a function was denied an AWS call.

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::carrier::UNDELIVERABLE_LANDLINE;
use smsflow_shared::ports::QueueName;
use smsflow_tests::example::{
    ACME_SEND_KEY, ExampleConfig, NEW_TEXT_GOALS, NEW_TEXT_WITH_EMAIL_GOALS,
};
use smsflow_tests::fixtures::SURVEY;
use smsflow_tests::local_server::created_contact_id;
use smsflow_tests::poll::{Patience, eventually};
use smsflow_tests::shape::{Deployment, Shape};
use smsflow_tests::twilio;

mod inbox;
mod instasent;
mod received;
mod replies;
mod sends;
mod survey;
mod texts;

/// Cold starts and queue polling make the stack slower to settle than the local server.
const PATIENCE: Patience = Patience {
    within: Duration::from_secs(30),
    every: Duration::from_millis(200),
};

/// Five tries with 1, 2, 4 and 8 s between them.
const DEAD_LETTER_PATIENCE: Patience = Patience {
    within: Duration::from_secs(60),
    every: Duration::from_millis(500),
};

const ANN: &str = "+14155552671";
const BEN: &str = "+14155550142";

/// Runs `scenario` on a fresh deployment of `shape` on `config`, then stops it.
async fn run(shape: Shape, config: ExampleConfig, scenario: impl AsyncFnOnce(&Deployment)) {
    let deployment = Deployment::start(shape, config).await;
    scenario(&deployment).await;
    deployment.stop().await;
}

/// `group::scenario` as two tests: `<scenario>::local` and `<scenario>::stack`, on the
/// example configuration or, with `on <expr>`, on an edited one.
macro_rules! in_both_shapes {
    ($($group:ident :: $scenario:ident $(on $config:expr)?),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            fn config() -> ExampleConfig {
                in_both_shapes!(@config $($config)?)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                run(Shape::Local, config(), super::$group::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stack() {
                run(Shape::Stack, config(), super::$group::$scenario).await;
            }
        }
    )*};
    (@config) => { ExampleConfig::new() };
    (@config $config:expr) => { $config };
}

in_both_shapes!(
    texts::an_inbound_text_is_forwarded_and_fires_goals_once,
    sends::a_crm_send_is_sent_delivered_and_fires_its_goals,
    sends::magic_numbers_fail_as_twilio_says,
    sends::stop_wins_over_a_later_send,
    // On the stack, campaign-send gives the refused request's claim back (DeleteItem).
    sends::a_send_for_an_unknown_contact_is_sent_when_the_crm_retries_it_corrected,
    texts::a_crm_outage_delays_goals_and_loses_none,
    sends::sends_from_one_number_are_paced,
    sends::a_rate_limited_send_is_retried_then_dead_lettered on with_rate_limited_number(),
    survey::a_keyword_walks_the_survey_through_its_branches_to_its_closing_message,
    survey::a_repeated_crm_start_gets_the_first_answer_and_starts_nothing_more,
    // On the stack, the status-callback function ends the run (`end_session`: DynamoDB
    // DeleteItem): the scenario that proves template.yaml grants it.
    survey::a_landline_reported_undelivered_ends_the_run_with_the_invalid_number_tag,
    survey::stop_mid_run_ends_it_with_the_opt_out_tag,
    texts::texts_are_routed_by_the_four_rules_of_seed_001,
    texts::text_sqs_cannot_carry_as_is_is_still_processed,
    // On the stack, campaign-send reads the conversation (DynamoDB Query).
    received::a_received_check_fires_the_goal_each_filter_calls_for,
    // On the stack, the automation worker reads the conversation (DynamoDB Query).
    received::a_sequence_branches_on_what_the_contact_has_received,
    // On the stack, SES receiving's rule: the message in S3 (inbound-email's GetObject),
    // then the reply through the send path (its DynamoDB and SQS grants).
    replies::a_reply_by_email_is_texted_from_the_number_the_contact_texted,
    // On the stack, the inbox function on its function URL: sign-in (SES, DynamoDB), the
    // pages' reads, the reply through the send path (SQS).
    inbox::a_rep_signs_in_sees_an_alert_and_replies on inbox::with_globex(),
    instasent::an_instasent_account_sends_is_reported_and_bounces_as_twilio_would
        on instasent::acme_on_instasent(),
    instasent::a_stop_report_mid_survey_ends_the_run_with_the_opt_out_tag
        on instasent::acme_on_instasent(),
);

/// Twilio's magic From number that is always "rate limited" (21611), as an acme number.
const RATE_LIMITED_FROM: &str = "+15005550008";

fn with_rate_limited_number() -> ExampleConfig {
    ExampleConfig::new().append(&format!(
        "\n[[accounts.numbers]]\nnumber = \"{RATE_LIMITED_FROM}\"\nkind = \"long_code\"\n\
         backup_email = \"office@acme.example\"\n"
    ))
}

/// The call names of the goals fired on `contact` (any contact when `None`), sorted, once
/// `done` holds for them.
async fn goals_when(
    d: &Deployment,
    contact: Option<&str>,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let names = |body: &Value| -> Vec<String> {
        let mut names: Vec<String> = body["goals"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| contact.is_none_or(|c| g["contact_id"] == c))
            .filter_map(|g| g["call_name"].as_str().map(str::to_string))
            .collect();
        names.sort_unstable();
        names
    };
    let body = d
        .eventually_sandbox("/_sandbox/crm/acme/goals?limit=1000", PATIENCE, |b| {
            done(&names(b))
        })
        .await;
    names(&body)
}

/// The goals fired on `contact` once there are at least `count`.
async fn goals(d: &Deployment, contact: Option<&str>, count: usize) -> Vec<String> {
    goals_when(d, contact, |names| names.len() >= count).await
}

/// The goals fired on `contact` once all of `expected` are among them.
async fn goals_including(d: &Deployment, contact: &str, expected: &[&str]) -> Vec<String> {
    goals_when(d, Some(contact), |names| {
        expected.iter().all(|e| names.iter().any(|n| n == e))
    })
    .await
}

/// A send request of acme's CRM with the form `fields`.
async fn send(d: &Deployment, fields: &[(&str, &str)]) -> (u16, Value) {
    d.crm_send("acme", ACME_SEND_KEY, fields).await
}

/// A contact created in the CRM, as a person working in it would: its id.
async fn crm_contact(d: &Deployment, first_name: &str, phone: &str) -> String {
    new_contact(d, json!({"first_name": first_name, "phone": phone})).await
}

/// A contact created in acme's CRM from the sandbox's contact fields: its id.
async fn new_contact(d: &Deployment, fields: Value) -> String {
    let (status, body) = d
        .post_json(
            &format!("{}/_sandbox/crm/acme/contacts", d.sandbox),
            &fields,
        )
        .await;
    created_contact_id(status, &body)
}

/// A text from `from` with Twilio's `MessageSid` `sid` (a test repeats one to play
/// Twilio's retry): the webhook must take it.
async fn text(d: &Deployment, from: &str, sid: &str, body: &str) {
    let (status, answer) = d
        .twilio_inbound(&twilio::text_to_acme(sid, from, body))
        .await;
    assert_eq!(status, 200, "{body}: {answer}");
}

/// The bodies the carrier accepted for `to`, oldest first.
fn bodies_to(messages: &Value, to: &str) -> Vec<String> {
    let mut sent: Vec<(i64, String)> = messages["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["to"] == to)
        .filter_map(|m| Some((m["accepted_at"].as_i64()?, m["body"].as_str()?.to_string())))
        .collect();
    sent.sort();
    sent.into_iter().map(|(_, body)| body).collect()
}

/// Every epoch-milliseconds time of a sandbox answer (an integer `at`, `…_at`, `…_ms`)
/// comes with its `<name>_rfc3339` sibling, the same instant; returns how many there are.
fn rfc3339_times_in(answer: &Value) -> usize {
    match answer {
        Value::Array(items) => items.iter().map(rfc3339_times_in).sum(),
        Value::Object(fields) => {
            let mut checked = 0;
            for (name, value) in fields {
                checked += rfc3339_times_in(value);
                let is_time = name == "at" || name.ends_with("_at") || name.ends_with("_ms");
                let Some(millis) = value.as_i64().filter(|_| is_time) else {
                    continue;
                };
                let sibling = format!("{}_rfc3339", name.strip_suffix("_ms").unwrap_or(name));
                let text = fields[&sibling].as_str().unwrap_or_default();
                let read: jiff::Timestamp = text
                    .parse()
                    .unwrap_or_else(|e| panic!("{sibling} {text:?} in {answer}: {e}"));
                assert_eq!(read.as_millisecond(), millis, "{sibling} in {answer}");
                assert!(text.ends_with('Z'), "{sibling} is UTC: {text}");
                checked += 1;
            }
            checked
        }
        _ => 0,
    }
}

/// The bodies sent to `to`, oldest first, once there are at least `count`.
async fn sent_to(d: &Deployment, to: &str, count: usize) -> Vec<String> {
    let path = "/_sandbox/messages?limit=1000";
    let messages = d
        .eventually_sandbox(path, PATIENCE, |b| bodies_to(b, to).len() >= count)
        .await;
    bodies_to(&messages, to)
}

/// The number the carrier's first message to `to` came from.
async fn first_sender_to(d: &Deployment, to: &str) -> String {
    let messages = d.sandbox_json("/_sandbox/messages?limit=1000").await;
    (messages["messages"].as_array().into_iter().flatten())
        .find(|m| m["to"] == to)
        .and_then(|m| m["from"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The bodies sent to `to` now, after a pause in which nothing more should be sent.
async fn sent_to_after_a_pause(d: &Deployment, to: &str) -> Vec<String> {
    tokio::time::sleep(Duration::from_secs(2)).await;
    bodies_to(&d.sandbox_json("/_sandbox/messages?limit=1000").await, to)
}

/// Contact `id` of acme's CRM, once `done` holds for it.
async fn contact_when(d: &Deployment, id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let find = |contacts: &Value| {
        contacts["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["id"] == id)
            .cloned()
    };
    let contacts = d
        .eventually_sandbox("/_sandbox/crm/acme/contacts", PATIENCE, |b| {
            find(b).is_some_and(|c| done(&c))
        })
        .await;
    find(&contacts).expect("the contact")
}

/// A contact's tags, sorted.
fn tags(contact: &Value) -> Vec<&str> {
    let mut tags: Vec<&str> = contact["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    tags.sort_unstable();
    tags
}

/// Now, in epoch milliseconds (the carrier stamps acceptance on the same clock).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
