//! End to end, in both shapes: each scenario runs against the local server and against the
//! deployed shape (template.yaml's functions, roles and triggers on the stack runner), over
//! HTTP only, through [`Deployment`]. A scenario that passes locally but not on the stack is
//! a deployment defect (a missing grant, a trigger setting, an environment variable); the
//! stack shape also fails any scenario during which a function was denied an AWS call.

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::ports::QueueName;
use smsflow_tests::example::{ACME_LONG_CODE, ACME_SEND_KEY, ACME_TWILIO_SID, ExampleConfig};
use smsflow_tests::poll::{Patience, eventually};
use smsflow_tests::shape::{Deployment, Shape};

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
    a_crm_outage_delays_goals_and_loses_none,
    sends_from_one_number_are_paced,
    a_rate_limited_send_is_retried_then_dead_lettered on with_rate_limited_number(),
);

/// Twilio's magic From number that is always "rate limited" (21611), as an acme number.
const RATE_LIMITED_FROM: &str = "+15005550008";

fn with_rate_limited_number() -> ExampleConfig {
    ExampleConfig::new().append(&format!(
        "\n[[accounts.numbers]]\nnumber = \"{RATE_LIMITED_FROM}\"\nkind = \"long_code\"\n\
         backup_email = \"office@acme.example\"\n"
    ))
}

/// What a new text's automation sets off on the example account (no e-mail in the text).
const NEW_TEXT_GOALS: [&str; 4] = [
    "ContactAutoCreated",
    "Inbound",
    "Inbound19523142318",
    "officeacmeexample",
];

/// A text from `from` with `sid`, as Twilio posts it.
fn text<'a>(sid: &'a str, from: &'a str, body: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", sid),
        ("From", from),
        ("To", ACME_LONG_CODE),
        ("Body", body),
    ]
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

/// A contact created in the CRM, as a person working in it would: its id.
async fn crm_contact(d: &Deployment, first_name: &str, phone: &str) -> String {
    let (status, body) = d
        .post_json(
            &format!("{}/_sandbox/crm/acme/contacts", d.sandbox),
            &json!({"first_name": first_name, "phone": phone}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["contact"]["id"]
        .as_str()
        .expect("contact id")
        .to_string()
}

async fn an_inbound_text_is_forwarded_and_fires_goals_once(d: &Deployment) {
    let text = [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("From", ANN),
        ("To", ACME_LONG_CODE),
        ("Body", "Hi! It's Ann, my email is Ann.Lee@Example.com "),
    ];
    let (status, answer) = d.twilio_inbound(&text).await;
    assert_eq!(status, 200, "{answer}");
    let expected = [
        "ContactAutoCreated",
        "EmailInstalled",
        "Inbound",
        "Inbound19523142318",
        "officeacmeexample",
    ];
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
    let ben = crm_contact(d, "Ben", "+14155550142").await;
    let (status, answer) = d
        .crm_send(
            "acme",
            ACME_SEND_KEY,
            &[
                ("contactId", &ben),
                ("message", "Hi ~Contact.FirstName~, see you at 3."),
                ("type", "transactional"),
                ("requestId", "req-1"),
            ],
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let messages = d
        .eventually_sandbox("/_sandbox/messages", PATIENCE, |b| {
            b["messages"].as_array().is_some_and(|m| !m.is_empty())
        })
        .await;
    let sent = &messages["messages"][0];
    assert_eq!(sent["to"], "+14155550142");
    assert_eq!(sent["body"], "Hi Ben, see you at 3.");
    assert_eq!(
        goals(d, Some(&ben), 3).await,
        ["GoodNumber", "SMSsendRequestReceived", "SendAuto"]
    );
    // The CRM retries the request: the first answer, no second message.
    let (status, again) = d
        .crm_send(
            "acme",
            ACME_SEND_KEY,
            &[
                ("contactId", &ben),
                ("message", "Hi ~Contact.FirstName~, see you at 3."),
                ("type", "transactional"),
                ("requestId", "req-1"),
            ],
        )
        .await;
    assert_eq!((status, &again["repeated"]), (202, &json!(true)), "{again}");
    assert_eq!(again["message_id"], answer["message_id"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let messages = d.sandbox_json("/_sandbox/messages").await;
    assert_eq!(messages["messages"].as_array().map(Vec::len), Some(1));
}

async fn magic_numbers_fail_as_twilio_says(d: &Deployment) {
    // (recipient, the goal its send ends in)
    let cases = [
        ("+15005550009", "BadNumber"),
        ("+15005550004", "BlockedNumber"),
    ];
    for (phone, goal) in cases {
        let contact = crm_contact(d, "Test", phone).await;
        let (status, answer) = d
            .crm_send(
                "acme",
                ACME_SEND_KEY,
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
    let stop = [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", "SMfedcba9876543210fedcba9876543210"),
        ("From", ANN),
        ("To", ACME_LONG_CODE),
        ("Body", " Stop. "),
    ];
    let (status, _) = d.twilio_inbound(&stop).await;
    assert_eq!(status, 200);
    let (status, answer) = d
        .crm_send(
            "acme",
            ACME_SEND_KEY,
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

async fn a_crm_outage_delays_goals_and_loses_none(d: &Deployment) {
    d.crm_outage(true).await;
    // The webhook does not touch the CRM: it answers at once.
    let (status, _) = d
        .twilio_inbound(&text(
            "SM00000000000000000000000000000777",
            "+14155552673",
            "Anyone there?",
        ))
        .await;
    assert_eq!(status, 200);
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
    for phone in phones {
        let (status, answer) = d
            .crm_send(
                "acme",
                ACME_SEND_KEY,
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
    let mut accepted: Vec<i64> = messages["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["accepted_at"].as_i64())
        .collect();
    accepted.sort_unstable();
    for pair in accepted.windows(2) {
        // Slots are a second apart; the carrier stamps acceptance a little after the slot.
        assert!(
            pair[1] - pair[0] >= 900,
            "sent closer than the rate allows: {accepted:?}"
        );
    }
}

async fn a_rate_limited_send_is_retried_then_dead_lettered(d: &Deployment) {
    let (status, answer) = d
        .crm_send(
            "acme",
            ACME_SEND_KEY,
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
