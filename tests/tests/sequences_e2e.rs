//! End to end on the local server: people text a sequence's keyword and their replies walk
//! it; the sandbox carrier, CRM and outbox show what happened. The keyword walk through the
//! survey's branches, a repeated CRM start and an invalid number run in both shapes, in
//! `tests/tests/end_to_end.rs`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::local::RunningServer;
use smsflow_shared::usecases::sequence;
use smsflow_tests::example::{ACME_LONG_CODE, ACME_TWILIO_SID, ExampleConfig};
use smsflow_tests::fixtures::new_contact;
use smsflow_tests::local_server::{self, eventually_json, get_body, post_signed_inbound};
use smsflow_tests::poll::Patience;
use smsflow_tests::runtime;

const ANN: &str = "+14155552671";
const BEN: &str = "+14155552672";

/// Three questions with branching, a closing message, a note and an opt-out tag.
const SURVEY: &str = r#"
account: acme
name: survey
start: keyword
keywords: [SURVEY]
sender: "+19523142318"
collect_email_first: false
note: true
opted_out_tag: Survey opted out
steps:
  - name: ask-rating
    message: "Hi ~Contact.FirstName~! How would you rate us, 1-10?"
    save_to: Contact._Rating
    next:
      conditions:
        - greater_than: 7
          tag: Promoter
          goto: ask-quote
      fallback: ask-why
      fallback_tag: Detractor
  - name: ask-why
    message: What could we do better?
    save_to: Contact._Feedback
    next: thanks
  - name: ask-quote
    message: Glad to hear it, ~Contact.FirstName~! May we quote you? YES or NO
    save_to: Contact._QuoteOk
    next:
      conditions:
        - equals_any: ["yes*", "*sure*"]
          tag: Quote OK
          goto: thanks
      fallback: thanks
  - name: thanks
    message: "Thanks, ~Contact.FirstName~: you rated us ~Contact._Rating~."
    await_reply: false
"#;

const PATIENCE: Patience = Patience {
    within: Duration::from_secs(20),
    every: Duration::from_millis(50),
};

/// The example config on a random port; the long code sends fast here (its default 1
/// segment/s would make each step wait for its slot).
fn config(data_dir: &Path) -> LocalConfig {
    ExampleConfig::served_from(data_dir)
        .long_code_rate(100)
        .parse()
}

/// Posts Twilio's signed inbound webhook for a text with a given `MessageSid` (so a test
/// can repeat it, as Twilio does when it retries).
async fn text(server: &RunningServer, from: &str, sid: &str, body: &str) {
    let params = [
        ("AccountSid", ACME_TWILIO_SID),
        ("Body", body),
        ("From", from),
        ("MessageSid", sid),
        ("NumMedia", "0"),
        ("To", ACME_LONG_CODE),
    ];
    let (status, _) = post_signed_inbound(server, &params).await;
    assert_eq!(status, 200, "{body}");
}

/// The bodies the carrier accepted for `to`, oldest first.
fn sent_to(carrier: &Value, to: &str) -> Vec<String> {
    let mut messages: Vec<(i64, String)> = carrier["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["to"] == to)
        .map(|m| {
            (
                m["accepted_at"].as_i64().expect("accepted_at"),
                m["body"].as_str().expect("body").to_string(),
            )
        })
        .collect();
    messages.sort();
    messages.into_iter().map(|(_, body)| body).collect()
}

/// Waits until the carrier has sent `count` messages to `to`; their bodies.
async fn wait_for_messages(server: &RunningServer, to: &str, count: usize) -> Vec<String> {
    let carrier = eventually_json(server, "/_sandbox/messages?limit=1000", PATIENCE, |b| {
        sent_to(b, to).len() >= count
    })
    .await;
    sent_to(&carrier, to)
}

fn contact<'a>(contacts: &'a Value, phone: &str) -> &'a Value {
    contacts["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .find(|c| c["phone"] == phone)
        .unwrap_or_else(|| panic!("no contact {phone}: {contacts}"))
}

fn tags(contact: &Value) -> Vec<&str> {
    let mut tags: Vec<&str> = contact["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    tags.sort_unstable();
    tags
}

/// The survey notes (one per contact), by contact id.
fn survey_notes(notes: &Value) -> Vec<(String, String)> {
    notes["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .filter(|n| n["title"] == "SMS sequence: survey")
        .map(|n| {
            (
                n["contact_id"].as_str().unwrap_or_default().to_string(),
                n["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

async fn start_server(dir: &Path) -> RunningServer {
    let server = local_server::start(&config(dir)).await;
    let app = server.runtime.app.clone();
    let survey = Sequence::load("survey.yaml", SURVEY).expect("valid sequence");
    sequence::apply(app.store.as_ref(), &survey)
        .await
        .expect("applies");
    let acme = runtime::account(&app, "acme").await;
    for (name, phone) in [("Ann", ANN), ("Ben", BEN)] {
        runtime::add_contact(&app, &acme, new_contact(name, phone)).await;
    }
    server
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_mid_run_ends_it_with_the_tag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_server(dir.path()).await;

    text(&server, BEN, "SM00000000000000000000000000000011", "survey").await;
    wait_for_messages(&server, BEN, 1).await;
    text(&server, BEN, "SM00000000000000000000000000000012", "3").await;
    assert_eq!(
        wait_for_messages(&server, BEN, 2).await,
        [
            "Hi Ben! How would you rate us, 1-10?",
            "What could we do better?"
        ]
    );
    text(&server, BEN, "SM00000000000000000000000000000013", "STOP").await;
    let contacts = eventually_json(&server, "/_sandbox/crm/acme/contacts", PATIENCE, |b| {
        tags(contact(b, BEN)).contains(&"Survey opted out")
    })
    .await;
    assert_eq!(
        tags(contact(&contacts, BEN)),
        ["Detractor", "Survey opted out"]
    );
    let notes = eventually_json(&server, "/_sandbox/crm/acme/notes", PATIENCE, |b| {
        survey_notes(b)
            .first()
            .is_some_and(|(_, body)| body.ends_with("the sequence ended."))
    })
    .await;
    assert!(survey_notes(&notes)[0].1.ends_with(
        "Reply: 3\nSent: What could we do better?\nOpted out (STOP): the sequence ended."
    ));

    // The run is over: a later text is an ordinary one (forwarded), and nothing more is sent.
    text(
        &server,
        BEN,
        "SM00000000000000000000000000000014",
        "Too slow",
    )
    .await;
    eventually_json(&server, "/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| {
            e.iter()
                .any(|m| m["text"].as_str().is_some_and(|t| t.contains("Too slow")))
        })
    })
    .await;
    let sent = sent_to(
        &get_body(&server, "/_sandbox/messages?limit=1000").await,
        BEN,
    );
    assert_eq!(sent.len(), 2, "{sent:?}");
    let ben = contact(&get_body(&server, "/_sandbox/crm/acme/contacts").await, BEN).clone();
    assert_eq!(ben["custom_fields"].get("Feedback"), None, "{ben}");
    server.shutdown().await.expect("clean shutdown");
}
