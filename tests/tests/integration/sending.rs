//! End to end on the local server: CRM send requests become paced sends through the sandbox
//! carrier, with the CRM told (goals, SMS notes).

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::domain::MessageId;
use smsflow_shared::local::RunningServer;
use smsflow_tests::example::{ACME_SEND_KEY, ExampleConfig, OtherAccount};
use smsflow_tests::fixtures::{new_contact, phone, send_job};
use smsflow_tests::local_server::{ExampleServer, crm_send, eventually_json};
use smsflow_tests::poll::Patience;
use smsflow_tests::runtime;

const BRAVO_KEY: &str = "bravo-key-0123456789abcdef";
/// The rate of acme's long code in these tests.
const RATE: f64 = 5.0;

const PATIENCE: Patience = Patience {
    within: Duration::from_secs(20),
    every: Duration::from_millis(100),
};

/// The example with acme's long code at [`RATE`], plus a second account "bravo" with its
/// own number.
fn config() -> ExampleConfig {
    ExampleConfig::new()
        .long_code_rate(RATE)
        .with_account(&OtherAccount {
            id: "bravo",
            name: "Bravo Dental",
            send_key: BRAVO_KEY,
            auth_token: "bravo-auth-token",
            number: "+16125550111",
            backup_email: "front@bravo.example",
            crm: "kind = \"sandbox\"",
        })
}

/// A CRM's send request, which the server must take (202): its answer.
async fn send(server: &RunningServer, account: &str, key: &str, form: &[(&str, &str)]) -> Value {
    let (status, answer) = crm_send(server, account, key, form).await;
    assert_eq!(status, 202, "{form:?}: {answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_paced_and_does_not_hold_up_another_account() {
    let server = ExampleServer::start(config()).await;
    let backlog = 15;
    for i in 0..backlog {
        let to = format!("+1415555{:04}", 3000 + i);
        let body = format!("Reminder {i}");
        send(
            &server,
            "acme",
            ACME_SEND_KEY,
            &[
                ("phone", to.as_str()),
                ("message", body.as_str()),
                ("type", "transactional"),
            ],
        )
        .await;
    }
    send(
        &server,
        "bravo",
        BRAVO_KEY,
        &[
            ("phone", "+16125550199"),
            ("message", "Your cleaning is at 9"),
            ("type", "transactional"),
        ],
    )
    .await;

    let carrier = eventually_json(&server, "/_sandbox/messages", PATIENCE, |b| {
        b["messages"].as_array().is_some_and(|m| m.len() > backlog)
    })
    .await;
    let messages = carrier["messages"].as_array().expect("messages");
    let sent_at = |m: &Value| m["accepted_at"].as_i64().expect("accepted_at");
    let mut acme: Vec<i64> = messages
        .iter()
        .filter(|m| m["from"] == "+19523142318")
        .map(sent_at)
        .collect();
    acme.sort_unstable();
    assert_eq!(acme.len(), backlog);
    // Paced, not sent at once: the sender's calendar spaces the slots 1/RATE apart and
    // nothing is sent before its slot. (Only the first send may be later than its slot,
    // by the worker's pick-up time: the allowance. Achieved rates are in BENCHMARKS.md.)
    let span_ms = acme[backlog - 1] - acme[0];
    let minimum_ms = ((backlog - 1) as f64 * 1000.0 / RATE) as i64;
    assert!(
        span_ms >= minimum_ms - 200,
        "{backlog} sends in {span_ms} ms, faster than {RATE}/s"
    );
    // Bravo's message did not wait behind acme's backlog (3 s of it at this rate).
    let bravo = messages
        .iter()
        .find(|m| m["from"] == "+16125550111")
        .map(sent_at)
        .expect("bravo's message was sent");
    assert!(
        bravo < acme[backlog - 1],
        "bravo sent at {bravo}, after acme's backlog ended at {}",
        acme[backlog - 1]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_message_fires_its_goal_and_leaves_a_note() {
    let server = ExampleServer::start(config()).await;
    let app = server.runtime.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let ann = runtime::add_contact(&app, &acme, new_contact("Ann", "+14155552671")).await;

    // A manual send by Mary, then a campaign send.
    let manual = send(
        &server,
        "acme",
        ACME_SEND_KEY,
        &[
            ("contactId", ann.id.as_str()),
            ("message", "Hi ~Contact.FirstName~, Mary here"),
            ("user", "mary"),
            ("type", "transactional"),
        ],
    )
    .await;
    send(
        &server,
        "acme",
        ACME_SEND_KEY,
        &[
            ("contactId", ann.id.as_str()),
            ("message", "Spring sale!"),
            ("subscription", "subscribed"),
            ("campaign", "spring"),
            ("reply", "john"),
        ],
    )
    .await;

    let goals = eventually_json(&server, "/_sandbox/crm/acme/goals", PATIENCE, |b| {
        let names = b.to_string();
        names.contains("SendManual") && names.contains("SendAuto")
    })
    .await;
    let mut names: Vec<&str> = goals["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .filter_map(|g| g["call_name"].as_str())
        .filter(|n| n.starts_with("Send") || n.starts_with("SMS"))
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "SMSsendRequestReceived",
            "SMSsendRequestReceived",
            "SendAuto",
            "SendManual"
        ]
    );

    // Each SMS is a note on the contact, assigned to the sending user's CRM user.
    let notes = eventually_json(&server, "/_sandbox/crm/acme/notes", PATIENCE, |b| {
        b["notes"].as_array().is_some_and(|n| n.len() >= 2)
    })
    .await;
    let notes = notes["notes"].as_array().expect("notes");
    let by_mary = notes
        .iter()
        .find(|n| n["body"].as_str().is_some_and(|b| b.contains("Mary here")))
        .expect("note of the manual send");
    assert_eq!(by_mary["contact_id"], json!(ann.id));
    assert_eq!(by_mary["user_id"], "1", "Mary's CRM user");

    // The conversation records who sent what: replies route to them.
    let conversation = app
        .store
        .conversation(
            &acme.id,
            &acme.parse_phone("+14155552671").expect("phone"),
            10,
        )
        .await
        .expect("store");
    let manual_record = conversation
        .iter()
        .find(|m| Some(m.id.as_str()) == manual["message_id"].as_str())
        .expect("manual send recorded");
    assert_eq!(manual_record.user_id.as_deref(), Some("mary"));
    assert_eq!(manual_record.body, "Hi Ann, Mary here");
    let campaign_record = conversation
        .iter()
        .find(|m| m.campaign.as_deref() == Some("spring"))
        .expect("campaign send recorded");
    assert_eq!(campaign_record.user_id.as_deref(), Some("john"));
    assert_eq!(campaign_record.contact_id.as_deref(), Some(ann.id.as_str()));
    server.stop().await;
}

/// The worker on its own (no consumers running): a job ahead of its slot goes back on the
/// queue; a due job is sent once, and its redelivery is not sent again.
#[tokio::test]
async fn the_worker_keeps_slots_and_never_sends_twice() {
    use smsflow_shared::jobs::SendJob;
    use smsflow_shared::ports::{QueueName, QueueReceiver};
    use smsflow_shared::usecases::JobOutcome;
    use smsflow_shared::usecases::deliver;

    let rt = runtime::in_memory(&config().parse(), None).await;
    let app = rt.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let now = app.clock.now();
    let job = SendJob {
        not_before: Some(now.plus(Duration::from_secs(30))),
        ..send_job(app.ids.new_id(), &acme, phone("+14155552671"), "Later")
    };
    let outcome = deliver::deliver(&app, &job).await;
    assert!(matches!(outcome, JobOutcome::Skipped(_)), "{outcome:?}");
    assert!(rt.carrier.messages(100).await.expect("carrier").is_empty());
    // Back on the queue, invisible until its slot.
    let visible = rt
        .queue
        .receive(QueueName::Send, 10, Duration::from_secs(30), Duration::ZERO)
        .await
        .expect("receive");
    assert!(visible.is_empty(), "{visible:?}");

    let due = SendJob {
        message_id: MessageId::new(app.ids.new_id()),
        not_before: Some(now),
        body: "Now".into(),
        ..job
    };
    assert_eq!(deliver::deliver(&app, &due).await, JobOutcome::Done);
    let again = deliver::deliver(&app, &due).await;
    assert!(matches!(again, JobOutcome::Skipped(_)), "{again:?}");
    let sent = rt.carrier.messages(100).await.expect("carrier");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, "Now");
}

/// A queued send whose sender's provider has no credentials on the account any more (an
/// operator took them away after it was queued) is dropped before any attempt, its
/// admission slot given back; nothing reaches a carrier.
#[tokio::test]
async fn a_send_without_its_providers_credentials_is_dropped_and_its_slot_given_back() {
    use smsflow_shared::domain::SmsProviderKind;
    use smsflow_shared::usecases::JobOutcome;
    use smsflow_shared::usecases::deliver;

    let rt = runtime::in_memory(&config().parse(), None).await;
    let app = rt.app.clone();
    let mut acme = runtime::account(&app, "acme").await;
    let job = send_job(app.ids.new_id(), &acme, phone("+14155552671"), "Hi");
    assert!(
        app.store
            .try_admit(&acme.id, &job.message_id, 10)
            .await
            .expect("admitted")
    );
    acme.provider = SmsProviderKind::Instasent;
    acme.instasent = None;
    app.store.put_account(&acme).await.expect("stored");
    let outcome = deliver::deliver(&app, &job).await;
    assert!(
        matches!(&outcome, JobOutcome::Dropped(why) if why.contains("no instasent credentials")),
        "{outcome:?}"
    );
    assert!(rt.carrier.messages(10).await.expect("carrier").is_empty());
    assert_eq!(app.store.pending_sends(&acme.id).await.expect("pending"), 0);
    let attempt = app
        .store
        .send_attempt(&job.message_id)
        .await
        .expect("attempt");
    assert_eq!(attempt, None, "no attempt recorded");
}

/// The sandbox carrier's magic numbers, through the whole path: a CRM POST, the paced send,
/// the provider's answer or its status callbacks, and the goal the CRM gets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magic_numbers_produce_their_failures_and_goals() {
    let server = ExampleServer::start(config()).await;
    let app = server.runtime.app.clone();
    let acme = runtime::account(&app, "acme").await;
    // (recipient, the goal its send ends in, the stored status and error code)
    let cases = [
        ("+14155550142", "GoodNumber", "delivered", None),
        ("+15005550009", "BadNumber", "failed", Some(21614)),
        ("+15005550002", "BadNumber", "failed", Some(21612)),
        ("+15005550004", "BlockedNumber", "failed", Some(21610)),
    ];
    let mut contacts = Vec::new();
    for (to, _, _, _) in cases {
        let contact = runtime::add_contact(&app, &acme, new_contact("Test", to)).await;
        send(
            &server,
            "acme",
            ACME_SEND_KEY,
            &[
                ("contactId", contact.id.as_str()),
                ("message", "Hello"),
                ("type", "transactional"),
            ],
        )
        .await;
        contacts.push(contact.id);
    }
    for ((to, goal, status, code), contact_id) in cases.into_iter().zip(contacts) {
        let goals = eventually_json(
            &server,
            "/_sandbox/crm/acme/goals?limit=1000",
            PATIENCE,
            |b| {
                b["goals"].as_array().is_some_and(|g| {
                    g.iter()
                        .any(|g| g["contact_id"] == contact_id.as_str() && g["call_name"] == goal)
                })
            },
        )
        .await;
        let fired: Vec<&str> = goals["goals"]
            .as_array()
            .expect("goals")
            .iter()
            .filter(|g| g["contact_id"] == contact_id.as_str())
            .filter_map(|g| g["call_name"].as_str())
            .collect();
        for other in ["GoodNumber", "BadNumber", "BlockedNumber", "SpamBlock"] {
            let times = fired.iter().filter(|n| **n == other).count();
            assert_eq!(
                times,
                usize::from(other == goal),
                "{to}: {other} in {fired:?}"
            );
        }
        let phone = acme.parse_phone(to).expect("phone");
        let conversation = app
            .store
            .conversation(&acme.id, &phone, 10)
            .await
            .expect("store");
        assert_eq!(conversation[0].status.as_str(), status, "{to}");
        assert_eq!(conversation[0].error_code, code, "{to}");
    }
    // 21610 also records the opt-out: the next request is refused.
    let opted_out = app
        .store
        .consent(&acme.id, &acme.parse_phone("+15005550004").expect("phone"))
        .await
        .expect("store");
    assert!(opted_out.is_some_and(|c| c.opted_out));
    drop(app);
    server.stop().await;
}

/// Quiet hours hold bulk messages (back on the queue, not sent, not dropped) and let
/// transactional ones through.
#[tokio::test]
async fn quiet_hours_hold_bulk_messages_only() {
    use smsflow_shared::domain::consent::SendKind;
    use smsflow_shared::jobs::SendJob;
    use smsflow_shared::usecases::JobOutcome;
    use smsflow_shared::usecases::deliver;

    let hour = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        / 3600)
        % 24;
    // Quiet from an hour ago to two hours from now, in UTC (the zone of numbers from
    // countries smsflow has no zones for, like Nigeria's).
    let mut config = config().parse();
    config.accounts[0].quiet_hours = Some(
        smsflow_shared::domain::quiet_hours::QuietHours::new(
            format!("{:02}:00", (hour + 23) % 24)
                .parse()
                .expect("start"),
            format!("{:02}:00", (hour + 2) % 24).parse().expect("end"),
            "UTC",
        )
        .expect("quiet hours"),
    );
    let rt = runtime::in_memory(&config, None).await;
    let app = rt.app.clone();
    let acme = runtime::account(&app, "acme").await;
    let job = |kind, body: &str| SendJob {
        campaign: Some("night".into()),
        kind,
        ..send_job(app.ids.new_id(), &acme, phone("+2348031234567"), body)
    };
    let held = deliver::deliver(&app, &job(SendKind::Bulk, "Sale!")).await;
    assert!(
        matches!(&held, JobOutcome::Skipped(why) if why.contains("quiet hours")),
        "{held:?}"
    );
    assert!(rt.carrier.messages(10).await.expect("carrier").is_empty());
    assert_eq!(
        deliver::deliver(&app, &job(SendKind::Transactional, "Your code is 1234")).await,
        JobOutcome::Done
    );
    let sent = rt.carrier.messages(10).await.expect("carrier");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].body, "Your code is 1234");

    // The CRM knows the recipient is six hours ahead, where the window is open: it goes.
    // A zone that is not a time zone is ignored: the number's guess holds it.
    let zoned = |zone: &str, body: &str| SendJob {
        time_zone: Some(zone.into()),
        ..job(SendKind::Bulk, body)
    };
    // (zone, body, sent now)
    let cases = [
        ("Asia/Dhaka", "Sale in Dhaka!", true),
        ("Mars/Olympus_Mons", "Sale on Mars!", false),
    ];
    for (zone, body, sent_now) in cases {
        let outcome = deliver::deliver(&app, &zoned(zone, body)).await;
        let held = matches!(&outcome, JobOutcome::Skipped(why) if why.contains("quiet hours"));
        assert_eq!(
            (outcome == JobOutcome::Done, held),
            (sent_now, !sent_now),
            "{zone}: {outcome:?}"
        );
    }
    let sent = rt.carrier.messages(10).await.expect("carrier");
    let bodies: Vec<&str> = sent.iter().map(|m| m.body.as_str()).collect();
    assert!(bodies.contains(&"Sale in Dhaka!"), "{bodies:?}");
    assert!(!bodies.contains(&"Sale on Mars!"), "{bodies:?}");
}
