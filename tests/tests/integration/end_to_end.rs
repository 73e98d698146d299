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

/// The title of the survey's conversation note.
const SURVEY_NOTE: &str = "SMS sequence: survey";

/// Runs `scenario` on a fresh deployment of `shape` on `config`, then stops it.
async fn run(shape: Shape, config: ExampleConfig, scenario: impl AsyncFnOnce(&Deployment)) {
    let deployment = Deployment::start(shape, config).await;
    scenario(&deployment).await;
    deployment.stop().await;
}

/// `scenario` as two tests: `<scenario>::local` and `<scenario>::stack`, on the example
/// configuration or, with `on <expr>`, on an edited one.
macro_rules! in_both_shapes {
    ($($scenario:ident $(on $config:expr)?),* $(,)?) => {$(
        mod $scenario {
            use super::*;

            fn config() -> ExampleConfig {
                in_both_shapes!(@config $($config)?)
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                run(Shape::Local, config(), super::$scenario).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stack() {
                run(Shape::Stack, config(), super::$scenario).await;
            }
        }
    )*};
    (@config) => { ExampleConfig::new() };
    (@config $config:expr) => { $config };
}

in_both_shapes!(
    an_inbound_text_is_forwarded_and_fires_goals_once,
    a_crm_send_is_sent_delivered_and_fires_its_goals,
    magic_numbers_fail_as_twilio_says,
    stop_wins_over_a_later_send,
    // On the stack, campaign-send gives the refused request's claim back (DeleteItem).
    a_send_for_an_unknown_contact_is_sent_when_the_crm_retries_it_corrected,
    a_crm_outage_delays_goals_and_loses_none,
    sends_from_one_number_are_paced,
    a_rate_limited_send_is_retried_then_dead_lettered on with_rate_limited_number(),
    a_keyword_walks_the_survey_through_its_branches_to_its_closing_message,
    a_repeated_crm_start_gets_the_first_answer_and_starts_nothing_more,
    // On the stack, the status-callback function ends the run (`end_session`: DynamoDB
    // DeleteItem): the scenario that proves template.yaml grants it.
    a_landline_reported_undelivered_ends_the_run_with_the_invalid_number_tag,
    stop_mid_run_ends_it_with_the_opt_out_tag,
    texts_are_routed_by_the_four_rules_of_seed_001,
    text_sqs_cannot_carry_as_is_is_still_processed,
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

/// The bodies sent to `to`, oldest first, once there are at least `count`.
async fn sent_to(d: &Deployment, to: &str, count: usize) -> Vec<String> {
    let path = "/_sandbox/messages?limit=1000";
    let messages = d
        .eventually_sandbox(path, PATIENCE, |b| bodies_to(b, to).len() >= count)
        .await;
    bodies_to(&messages, to)
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

/// The bodies of the survey notes on `contact`.
fn survey_notes(notes: &Value, contact: &str) -> Vec<String> {
    notes["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["title"] == SURVEY_NOTE && n["contact_id"] == contact)
        .filter_map(|n| n["body"].as_str().map(str::to_string))
        .collect()
}

/// The survey notes on `contact` once one ends with `end`.
async fn survey_notes_ending(d: &Deployment, contact: &str, end: &str) -> Vec<String> {
    let notes = d
        .eventually_sandbox("/_sandbox/crm/acme/notes", PATIENCE, |b| {
            survey_notes(b, contact).iter().any(|n| n.ends_with(end))
        })
        .await;
    survey_notes(&notes, contact)
}

async fn an_inbound_text_is_forwarded_and_fires_goals_once(d: &Deployment) {
    let text = twilio::text_to_acme(
        "SM0123456789abcdef0123456789abcdef",
        ANN,
        "Hi! It's Ann, my email is Ann.Lee@Example.com ",
    );
    let (status, answer) = d.twilio_inbound(&text).await;
    assert_eq!(status, 200, "{answer}");
    let expected = NEW_TEXT_WITH_EMAIL_GOALS;
    assert_eq!(goals(d, None, expected.len()).await, expected);
    let emails = d
        .eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
            b["emails"].as_array().is_some_and(|e| !e.is_empty())
        })
        .await;
    assert_eq!(emails["emails"][0]["to"], json!(["office@acme.example"]));
    let forwarded = emails["emails"][0]["text"].as_str().unwrap_or_default();
    assert!(
        forwarded.contains("my email is Ann.Lee@Example.com"),
        "{forwarded}"
    );

    // Twilio retries the same MessageSid: the same answer, and nothing happens again.
    let (status, again) = d.twilio_inbound(&text).await;
    assert_eq!((status, again.as_str()), (200, answer.as_str()));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(goals(d, None, expected.len()).await, expected);
    let emails = d.sandbox_json("/_sandbox/emails").await;
    assert_eq!(emails["emails"].as_array().map(Vec::len), Some(1));
}

async fn a_crm_send_is_sent_delivered_and_fires_its_goals(d: &Deployment) {
    let ben = crm_contact(d, "Ben", BEN).await;
    let request = [
        ("contactId", ben.as_str()),
        ("message", "Hi ~Contact.FirstName~, see you at 3."),
        ("type", "transactional"),
        ("requestId", "req-1"),
    ];
    let (status, answer) = send(d, &request).await;
    assert_eq!(status, 202, "{answer}");
    let messages = d
        .eventually_sandbox("/_sandbox/messages", PATIENCE, |b| {
            b["messages"].as_array().is_some_and(|m| !m.is_empty())
        })
        .await;
    let sent = &messages["messages"][0];
    assert_eq!(sent["to"], BEN);
    assert_eq!(sent["body"], "Hi Ben, see you at 3.");
    assert_eq!(
        goals(d, Some(&ben), 3).await,
        ["GoodNumber", "SMSsendRequestReceived", "SendAuto"]
    );
    // The CRM retries the request: the first answer, no second message.
    let (status, again) = send(d, &request).await;
    assert_eq!((status, &again["repeated"]), (202, &json!(true)), "{again}");
    assert_eq!(again["message_id"], answer["message_id"]);
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 1);
}

async fn magic_numbers_fail_as_twilio_says(d: &Deployment) {
    // (recipient, the goal its send ends in)
    let cases = [
        ("+15005550009", "BadNumber"),
        ("+15005550004", "BlockedNumber"),
    ];
    for (phone, goal) in cases {
        let contact = crm_contact(d, "Test", phone).await;
        let (status, answer) = send(
            d,
            &[
                ("contactId", &contact),
                ("message", "Hello"),
                ("type", "transactional"),
            ],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
        let fired = goals_including(d, &contact, &["SMSsendRequestReceived", goal]).await;
        assert!(
            !fired.contains(&"GoodNumber".to_string()),
            "{phone}: {fired:?}"
        );
    }
}

async fn stop_wins_over_a_later_send(d: &Deployment) {
    let ann = crm_contact(d, "Ann", ANN).await;
    text(d, ANN, "SMfedcba9876543210fedcba9876543210", " Stop. ").await;
    let (status, answer) = send(
        d,
        &[
            ("contactId", &ann),
            ("message", "Our spring sale!"),
            ("type", "transactional"),
        ],
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (409, Some("opted_out")),
        "{answer}"
    );
    goals_including(
        d,
        &ann,
        &["OptOut", "SMSsendRequestReceived", "BlockedNumber"],
    )
    .await;
    let messages = d.sandbox_json("/_sandbox/messages").await;
    assert_eq!(messages["messages"], json!([]), "nothing sent to Ann");
}

async fn a_send_for_an_unknown_contact_is_sent_when_the_crm_retries_it_corrected(d: &Deployment) {
    let (status, refused) = send(
        d,
        &[
            ("contactId", "999999"),
            ("message", "Hi ~Contact.FirstName~, see you at 3."),
            ("type", "transactional"),
            ("requestId", "req-ben"),
        ],
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (404, Some("unknown_contact")),
        "{refused}"
    );
    // A refusal a corrected retry can fix is not kept: the same requestId is handled afresh.
    let ben = crm_contact(d, "Ben", BEN).await;
    let (status, answer) = send(
        d,
        &[
            ("contactId", &ben),
            ("message", "Hi ~Contact.FirstName~, see you at 3."),
            ("type", "transactional"),
            ("requestId", "req-ben"),
        ],
    )
    .await;
    assert_eq!(
        (status, &answer["repeated"]),
        (202, &Value::Null),
        "{answer}"
    );
    assert_eq!(sent_to(d, BEN, 1).await, ["Hi Ben, see you at 3."]);
}

async fn a_crm_outage_delays_goals_and_loses_none(d: &Deployment) {
    d.crm_outage(true).await;
    // The webhook does not touch the CRM: it answers at once.
    text(
        d,
        "+14155552673",
        "SM00000000000000000000000000000777",
        "Anyone there?",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let goals_so_far = d.sandbox_json("/_sandbox/crm/acme/goals").await;
    assert_eq!(
        goals_so_far["goals"],
        json!([]),
        "nothing reaches a CRM that is down"
    );

    d.crm_outage(false).await;
    assert_eq!(
        goals(d, None, NEW_TEXT_GOALS.len()).await,
        NEW_TEXT_GOALS,
        "each goal exactly once after the outage"
    );
    let contacts = d.sandbox_json("/_sandbox/crm/acme/contacts").await;
    assert_eq!(
        contacts["contacts"].as_array().map(Vec::len),
        Some(1),
        "one contact, not one per retry"
    );
}

async fn sends_from_one_number_are_paced(d: &Deployment) {
    // The long code sends one segment a second; three requests arrive at once.
    let phones = ["+14155550161", "+14155550162", "+14155550163"];
    let requested_at = now_ms();
    for phone in phones {
        let (status, answer) = send(
            d,
            &[
                ("phone", phone),
                ("message", "Your roof is done."),
                ("type", "transactional"),
            ],
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    let messages = d
        .eventually_sandbox("/_sandbox/messages", PATIENCE, |b| {
            b["messages"]
                .as_array()
                .is_some_and(|m| m.len() == phones.len())
        })
        .await;
    let last_accepted = messages["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["accepted_at"].as_i64())
        .max()
        .expect("accept times");
    // No message leaves before its slot, a second after the one before: the third cannot
    // be accepted sooner than two seconds after the requests (a slow instance only delays).
    assert!(
        last_accepted - requested_at >= 2000,
        "three texts from one long code within {} ms",
        last_accepted - requested_at
    );
}

/// Now, in epoch milliseconds (the carrier stamps acceptance on the same clock).
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

async fn a_rate_limited_send_is_retried_then_dead_lettered(d: &Deployment) {
    let (status, answer) = send(
        d,
        &[
            ("phone", ANN),
            ("message", "Hello"),
            ("type", "transactional"),
            ("from", RATE_LIMITED_FROM),
        ],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let message_id = answer["message_id"]
        .as_str()
        .expect("message id")
        .to_string();
    // Twilio refuses every try for now (21611). Each try gives its attempt back, so the next
    // one sends again instead of being skipped as "already attempted"; after the queue's
    // tries the job waits in the dead-letter queue for an operator.
    let dead = eventually(DEAD_LETTER_PATIENCE, async || {
        let bodies = d.dead_letter_bodies(QueueName::Send).await;
        if bodies.iter().any(|b| b.contains(&message_id)) {
            Ok(bodies)
        } else {
            Err(format!(
                "{:?}: {message_id} not dead-lettered yet: {bodies:?}",
                d.shape
            ))
        }
    })
    .await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let messages = d.sandbox_json("/_sandbox/messages").await;
    assert_eq!(messages["messages"], json!([]), "Twilio accepted nothing");
}

async fn a_keyword_walks_the_survey_through_its_branches_to_its_closing_message(d: &Deployment) {
    d.apply_sequence(SURVEY).await;
    let ann = crm_contact(d, "Ann", ANN).await;

    text(d, ANN, "SM00000000000000000000000000000001", "Survey").await;
    assert_eq!(
        sent_to(d, ANN, 1).await,
        ["Hi Ann! How would you rate us, 1-10?"]
    );
    text(d, ANN, "SM00000000000000000000000000000002", "9, love it").await;
    sent_to(d, ANN, 2).await;
    // Twilio repeats the webhook of that reply: nothing advances.
    text(d, ANN, "SM00000000000000000000000000000002", "9, love it").await;
    text(d, ANN, "SM00000000000000000000000000000003", "Yes, sure").await;
    assert_eq!(
        sent_to(d, ANN, 3).await,
        [
            "Hi Ann! How would you rate us, 1-10?",
            "Glad to hear it, Ann! May we quote you? YES or NO",
            "Thanks, Ann: you rated us 9, love it.",
        ]
    );

    let contact = contact_when(d, &ann, |c| {
        tags(c).len() == 2 && c["custom_fields"]["QuoteOk"] == "Yes, sure"
    })
    .await;
    assert_eq!(tags(&contact), ["Promoter", "Quote OK"]);
    assert_eq!(contact["custom_fields"]["Rating"], "9, love it");
    let conversation = "Sent: Hi Ann! How would you rate us, 1-10?\n\
                        Reply: 9, love it\n\
                        Sent: Glad to hear it, Ann! May we quote you? YES or NO\n\
                        Reply: Yes, sure\n\
                        Sent: Thanks, Ann: you rated us 9, love it.";
    assert_eq!(
        survey_notes_ending(d, &ann, "you rated us 9, love it.").await,
        [conversation]
    );

    // The texts the run took fired the inbound goals (the repeated webhook none) and were
    // not forwarded by e-mail.
    let inbound = goals_when(d, Some(&ann), |names| {
        names.iter().filter(|n| *n == "Inbound").count() >= 3
    })
    .await;
    assert_eq!(inbound.iter().filter(|n| *n == "Inbound").count(), 3);
    assert_eq!(
        d.sandbox_json("/_sandbox/emails").await["emails"],
        json!([])
    );

    // The run is over: the keyword starts a new one, whose lines join the same note.
    text(d, ANN, "SM00000000000000000000000000000004", "SURVEY").await;
    sent_to(d, ANN, 4).await;
    let again = format!("{conversation}\nSent: Hi Ann! How would you rate us, 1-10?");
    assert_eq!(survey_notes_ending(d, &ann, &again).await, [again]);
}

async fn a_repeated_crm_start_gets_the_first_answer_and_starts_nothing_more(d: &Deployment) {
    d.apply_sequence(SURVEY).await;
    let ben = crm_contact(d, "Ben", BEN).await;
    let start = [("contactId", ben.as_str()), ("requestId", "start-ben-1")];
    let (status, first) = d
        .start_sequence("acme", "survey", ACME_SEND_KEY, &start)
        .await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        (&first["sequence"], &first["contact_id"], &first["step"]),
        (&json!("survey"), &json!(ben), &json!("ask-rating")),
        "{first}"
    );
    assert_eq!(
        sent_to(d, BEN, 1).await,
        ["Hi Ben! How would you rate us, 1-10?"]
    );

    // The CRM lost the answer and posts again: the first answer, marked as a repeat.
    let (status, again) = d
        .start_sequence("acme", "survey", ACME_SEND_KEY, &start)
        .await;
    assert_eq!(status, 202, "{again}");
    let mut expected = first.clone();
    expected["repeated"] = json!(true);
    assert_eq!(again, expected);
    // Another request while the run is on is refused: there is one run, and one message.
    let other = [("contactId", ben.as_str()), ("requestId", "start-ben-2")];
    let (status, refused) = d
        .start_sequence("acme", "survey", ACME_SEND_KEY, &other)
        .await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("already_in_sequence")),
        "{refused}"
    );
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 1);
}

async fn a_landline_reported_undelivered_ends_the_run_with_the_invalid_number_tag(d: &Deployment) {
    d.apply_sequence(SURVEY).await;
    let ivy = crm_contact(d, "Ivy", UNDELIVERABLE_LANDLINE).await;
    let start = [("contactId", ivy.as_str()), ("requestId", "start-ivy-1")];
    let (status, started) = d
        .start_sequence("acme", "survey", ACME_SEND_KEY, &start)
        .await;
    assert_eq!(status, 202, "{started}");
    // The carrier accepts the first question, then reports it sent and undelivered (30006).
    assert_eq!(
        sent_to(d, UNDELIVERABLE_LANDLINE, 1).await,
        ["Hi Ivy! How would you rate us, 1-10?"]
    );
    let contact = contact_when(d, &ivy, |c| tags(c).contains(&"Survey invalid number")).await;
    assert_eq!(tags(&contact), ["Survey invalid number"]);
    assert_eq!(
        survey_notes_ending(d, &ivy, "the sequence ended.").await,
        ["Sent: Hi Ivy! How would you rate us, 1-10?\n\
          Not a valid mobile number: the sequence ended."]
    );
    let fired = goals_including(d, &ivy, &["BadNumber"]).await;
    assert!(!fired.contains(&"GoodNumber".to_string()), "{fired:?}");

    // The run ended in storage: the contact may start again (a new request, not a repeat;
    // the tag job may land a moment before the run's end is written, and a refusal is not
    // remembered, so the start is tried until it is taken).
    let restart = [("contactId", ivy.as_str()), ("requestId", "start-ivy-2")];
    let restarted = eventually(PATIENCE, async || {
        match d
            .start_sequence("acme", "survey", ACME_SEND_KEY, &restart)
            .await
        {
            (202, answer) => Ok(answer),
            (status, answer) => Err(format!("{:?}: the restart: {status} {answer}", d.shape)),
        }
    })
    .await;
    assert_ne!(restarted["session_id"], started["session_id"]);
}

async fn stop_mid_run_ends_it_with_the_opt_out_tag(d: &Deployment) {
    const BEN: &str = "+14155552672";
    d.apply_sequence(SURVEY).await;
    let ben = crm_contact(d, "Ben", BEN).await;
    text(d, BEN, "SM00000000000000000000000000000011", "survey").await;
    sent_to(d, BEN, 1).await;
    text(d, BEN, "SM00000000000000000000000000000012", "3").await;
    assert_eq!(
        sent_to(d, BEN, 2).await,
        [
            "Hi Ben! How would you rate us, 1-10?",
            "What could we do better?"
        ]
    );
    text(d, BEN, "SM00000000000000000000000000000013", "STOP").await;
    let contact = contact_when(d, &ben, |c| tags(c).contains(&"Survey opted out")).await;
    assert_eq!(tags(&contact), ["Detractor", "Survey opted out"]);
    let notes = survey_notes_ending(d, &ben, "the sequence ended.").await;
    assert!(
        notes[0].ends_with(
            "Reply: 3\nSent: What could we do better?\nOpted out (STOP): the sequence ended."
        ),
        "{notes:?}"
    );
    // The run is over: a later text is an ordinary one (forwarded), and nothing more is sent.
    text(d, BEN, "SM00000000000000000000000000000014", "Too slow").await;
    d.eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| {
            e.iter()
                .any(|m| m["text"].as_str().is_some_and(|t| t.contains("Too slow")))
        })
    })
    .await;
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 2);
    let contact = contact_when(d, &ben, |_| true).await;
    assert_eq!(contact["custom_fields"].get("Feedback"), None, "{contact}");
}

/// One routing case: a text from `from` with a unique `body`, and where its forward goes.
struct Routed {
    name: &'static str,
    from: &'static str,
    body: &'static str,
    to: &'static str,
    /// The start of the forward's "Why you" line.
    why: &'static str,
}

/// A call `user` (a Keap user id) logged on `contact` `hours_ago`.
async fn logged_call(d: &Deployment, contact: &str, user: &str, hours_ago: i64) {
    let (status, body) = d
        .post_json(
            &format!("{}/_sandbox/crm/acme/notes", d.sandbox),
            &json!({
                "contact_id": contact, "type": "Call", "title": "Call", "body": "Left a message",
                "user_id": user, "created_at": now_ms() - hours_ago * 3_600_000
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// A contact created in the CRM with an owner (a Keap user id) or none.
async fn owned_contact(d: &Deployment, phone: &str, owner: Option<&str>) -> String {
    new_contact(
        d,
        json!({"first_name": "Ann", "last_name": "Lee", "phone": phone, "owner_id": owner}),
    )
    .await
}

/// A send request, waited for until the carrier accepted it (so a reply finds it).
async fn sent_before(d: &Deployment, contact: &str, phone: &str, fields: &[(&str, &str)]) {
    let mut form = vec![
        ("contactId", contact),
        ("message", "Your quote is ready."),
        ("type", "transactional"),
    ];
    form.extend_from_slice(fields);
    let (status, answer) = send(d, &form).await;
    assert_eq!(status, 202, "{answer}");
    sent_to(d, phone, 1).await;
}

async fn texts_are_routed_by_the_four_rules_of_seed_001(d: &Deployment) {
    // Case 1: a reply to John's manual SMS, though Mary owns the contact and logged a call.
    let c1 = owned_contact(d, "+14155550101", Some("1")).await;
    logged_call(d, &c1, "1", 2).await;
    sent_before(d, &c1, "+14155550101", &[("user", "john")]).await;
    // Case 4: a reply to a campaign SMS goes to the campaign's reply-to user.
    let c4 = owned_contact(d, "+14155550104", Some("1")).await;
    sent_before(
        d,
        &c4,
        "+14155550104",
        &[("campaign", "spring-promo"), ("reply", "john")],
    )
    .await;
    // Case 2, called: never texted; John logged the newest call (Mary an older one).
    let c2 = owned_contact(d, "+14155550102", Some("1")).await;
    logged_call(d, &c2, "1", 3).await;
    logged_call(d, &c2, "2", 1).await;
    // Case 2, not called: the owner. Then a contact nobody on the team is linked to.
    owned_contact(d, "+14155550103", Some("1")).await;
    owned_contact(d, "+14155550105", None).await;
    let cases = [
        Routed {
            name: "case 1: last manual SMS",
            from: "+14155550101",
            body: "Sounds good",
            to: "john@acme.example",
            why: "John Smith sent the last SMS to this contact",
        },
        Routed {
            name: "case 4: campaign reply-to",
            from: "+14155550104",
            body: "Tell me more",
            to: "john@acme.example",
            why: "John Smith is the reply-to user of campaign 'spring-promo'",
        },
        Routed {
            name: "case 2: last call note",
            from: "+14155550102",
            body: "Returning your call",
            to: "john@acme.example",
            why: "John Smith logged the last call with this contact",
        },
        Routed {
            name: "case 2: owner",
            from: "+14155550103",
            body: "Saw your e-mail",
            to: "mary@acme.example",
            why: "Mary Anders owns this contact in the CRM.",
        },
        Routed {
            name: "no owner: backup address",
            from: "+14155550105",
            body: "Hello?",
            to: "office@acme.example",
            why: "No teammate is linked to this contact",
        },
        Routed {
            name: "case 3: unknown number",
            from: "+14155550106",
            body: "Who is this?",
            to: "office@acme.example",
            why: "No teammate is linked to this contact",
        },
    ];
    for (i, case) in cases.iter().enumerate() {
        let sid = format!("SM000000000000000000000000000r{i:04}");
        text(d, case.from, &sid, case.body).await;
    }
    let emails = d
        .eventually_sandbox("/_sandbox/emails?limit=1000", PATIENCE, |b| {
            b["emails"]
                .as_array()
                .is_some_and(|e| e.len() >= cases.len())
        })
        .await;
    for case in &cases {
        let forward = emails["emails"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(case.body)))
            .unwrap_or_else(|| panic!("{}: no forward in {emails}", case.name));
        assert_eq!(forward["to"], json!([case.to]), "{}", case.name);
        let text = forward["text"].as_str().unwrap_or_default();
        assert!(
            text.contains(&format!("Why you: {}", case.why)),
            "{}: {text}",
            case.name
        );
    }
}

async fn text_sqs_cannot_carry_as_is_is_still_processed(d: &Deployment) {
    // SQS refuses U+FFFE and U+FFFF in a message body (the stack runner refuses them as SQS
    // does): the jobs carrying such a text escape them, and the text is processed.
    const DANA: &str = "+14155550177";
    text(
        d,
        DANA,
        "SM00000000000000000000000000000fff",
        "hi\u{FFFF} there",
    )
    .await;
    d.eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| {
            e.iter()
                .any(|m| m["text"].as_str().is_some_and(|t| t.contains(DANA)))
        })
    })
    .await;
    let (status, answer) = send(
        d,
        &[
            ("phone", "+14155550178"),
            ("message", "hi\u{FFFE} back"),
            ("type", "transactional"),
        ],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(sent_to(d, "+14155550178", 1).await, ["hi\u{FFFE} back"]);
}
