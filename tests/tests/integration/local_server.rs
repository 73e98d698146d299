//! End to end: the local server as a user runs it, over HTTP on a random loopback port.

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::domain::{GoalName, MessageId, MessageSid};
use smsflow_shared::jobs::SendJob;
use smsflow_shared::jobs::{self, AutomationJob};
use smsflow_shared::local::RunningServer;
use smsflow_tests::example::{ExampleConfig, NEW_TEXT_GOALS, NEW_TEXT_WITH_EMAIL_GOALS};
use smsflow_tests::fixtures::{new_contact, phone, send_job};
use smsflow_tests::local_server::{
    ExampleServer, eventually_json, get_json, post_json, post_signed_inbound, post_text_to_acme,
};
use smsflow_tests::poll::{self, Patience, eventually};
use smsflow_tests::{runtime, twilio};

const PATIENCE: Patience = poll::LOCAL_SERVER;

/// Waits until the sandbox CRM has at least `count` achieved goals; their call names, sorted.
async fn goal_names(server: &RunningServer, count: usize) -> Vec<String> {
    let goals = eventually_json(server, "/_sandbox/crm/acme/goals", PATIENCE, |b| {
        b["goals"].as_array().is_some_and(|g| g.len() >= count)
    })
    .await;
    let mut names: Vec<String> = goals["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .filter_map(|g| g["call_name"].as_str().map(str::to_string))
        .collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_with_json() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let http = reqwest::Client::new();

    let (status, body) = get_json(&server, "/healthz").await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));

    // A status callback without Twilio's fields is refused.
    let r = http
        .post(format!("{}/twilio/status", server.base_url()))
        .form(&[("Body", "hi")])
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    let (status, body) = get_json(&server, "/no/such/route").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"], "route_not_found");

    let (status, body) = get_json(&server, "/_sandbox/messages").await;
    assert_eq!((status, body), (200, json!({"messages": []})));

    // The inbound webhook refuses what is not a signed Twilio request.
    let r = http
        .post(format!("{}/twilio/inbound", server.base_url()))
        .form(&[
            ("To", "+19523142318"),
            ("From", "+14155552671"),
            ("Body", "hi"),
        ])
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 403);

    // Playing a person texting: the sandbox signs and posts Twilio's webhook.
    let (status, body) = post_json(
        &server,
        "/_sandbox/inbound",
        &json!({"from": "+14155552671", "to": "+19523142318", "body": "hello"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["webhook"]["status"], 200, "{body}");
    assert!(
        body["webhook"]["body"]
            .as_str()
            .is_some_and(|b| b.ends_with("<Response/>")),
        "{body}"
    );
    assert!(
        body["webhook"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/twilio/inbound"))
    );

    let r = http
        .post(format!("{}/_sandbox/inbound", server.base_url()))
        .json(&json!({"from": "+14155552671", "to": "+14155550000", "body": "hello"}))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 400, "unknown number is refused");

    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_consumers_run_and_state_survives_restart() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let app = server.runtime.app.clone();
    let acme = runtime::account(&app, "acme").await;

    // Automation: a goal for a CRM contact, and an e-mail.
    let contact = runtime::add_contact(&app, &acme, new_contact("Ann", "+14155552671")).await;
    jobs::enqueue(
        &app,
        AutomationJob::AchieveGoal {
            account: acme.id.clone(),
            contact_id: contact.id.clone(),
            call_name: GoalName::parse("Inbound").expect("goal name"),
            about: None,
        },
    )
    .await
    .expect("enqueued");
    let goals = eventually_json(&server, "/_sandbox/crm/acme/goals", PATIENCE, |b| {
        b["goals"].as_array().is_some_and(|g| !g.is_empty())
    })
    .await;
    assert!(goals.to_string().contains("Inbound"), "{goals}");

    jobs::enqueue(
        &app,
        AutomationJob::SendEmail {
            email: smsflow_shared::ports::Email {
                from: "smsflow@acme.example".parse().expect("email"),
                to: vec!["mary@acme.example".parse().expect("email")],
                reply_to: None,
                subject: "Reply from Ann".into(),
                text: "hello".into(),
            },
        },
    )
    .await
    .expect("enqueued");
    eventually_json(&server, "/_sandbox/emails", PATIENCE, |b| {
        b.to_string().contains("Reply from Ann")
    })
    .await;

    // A send job goes through the sandbox carrier and gets its provider SID.
    let to = phone("+14155552672");
    let job = SendJob {
        user_id: Some("mary".into()),
        manual: true,
        ..send_job(app.ids.new_id(), &acme, to.clone(), "Your roof is ready")
    };
    runtime::enqueue_send(&app, &job).await;
    let carrier = eventually_json(&server, "/_sandbox/messages", PATIENCE, |b| {
        b["messages"].as_array().is_some_and(|m| !m.is_empty())
    })
    .await;
    assert_eq!(carrier["messages"][0]["to"], "+14155552672");
    assert_eq!(carrier["messages"][0]["body"], "Your roof is ready");
    let sid = carrier["messages"][0]["sid"]
        .as_str()
        .expect("sid")
        .to_string();
    let sent = eventually(PATIENCE, async || {
        let conversation = app
            .store
            .conversation(&acme.id, &to, 10)
            .await
            .expect("store");
        match conversation.first() {
            Some(m) if m.provider_sid.as_deref() == Some(sid.as_str()) => Ok(m.clone()),
            _ => Err(format!("SID never attached: {conversation:?}")),
        }
    })
    .await;
    assert_eq!(sent.user_id.as_deref(), Some("mary"));
    drop(app);

    // Restart on the same data directory: everything is still there.
    let server = server.restart().await;
    let (_, messages) = get_json(&server, "/_sandbox/messages").await;
    assert_eq!(messages["messages"][0]["sid"], sid.as_str());
    let (_, goals) = get_json(&server, "/_sandbox/crm/acme/goals").await;
    assert!(goals.to_string().contains("Inbound"), "{goals}");
    let stored = server
        .runtime
        .app
        .store
        .message_by_sid(&MessageSid::new(sid))
        .await
        .expect("store");
    assert!(stored.is_some(), "conversation survives restart");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inbound_text_creates_the_contact_forwards_it_and_fires_goals_once() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let text = [
        &twilio::text_to_acme(
            "SM0123456789abcdef0123456789abcdef",
            "+14155552671",
            "Hi! It's Ann, my email is Ann.Lee@Example.com ",
        )[..],
        &[
            ("NumMedia", "1"),
            ("MediaUrl0", "https://api.twilio.com/media/ME1"),
        ],
    ]
    .concat();
    let (status, answer) = post_signed_inbound(&server, &text).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.ends_with("<Response/>"), "{answer}");

    let expected_goals = NEW_TEXT_WITH_EMAIL_GOALS;
    assert_eq!(
        goal_names(&server, expected_goals.len()).await,
        expected_goals
    );

    let (_, contacts) = get_json(&server, "/_sandbox/crm/acme/contacts").await;
    let contacts = contacts["contacts"].as_array().expect("contacts").clone();
    assert_eq!(contacts.len(), 1, "{contacts:?}");
    assert_eq!(contacts[0]["first_name"], "(auto-created)");
    assert_eq!(contacts[0]["email"], "Ann.Lee@example.com");
    assert_eq!(contacts[0]["phone"], "+14155552671");

    let emails = eventually_json(&server, "/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| !e.is_empty())
    })
    .await;
    let email = &emails["emails"][0];
    assert_eq!(email["to"], json!(["office@acme.example"]));
    let body = email["text"].as_str().expect("text");
    for part in [
        "+14155552671",
        "my email is Ann.Lee@Example.com",
        "https://api.twilio.com/media/ME1",
        "backup",
    ] {
        assert!(body.contains(part), "forward lacks {part:?}: {body}");
    }

    // Twilio retries the same MessageSid: same answer, and nothing happens again.
    let (status, again) = post_signed_inbound(&server, &text).await;
    assert_eq!((status, again.as_str()), (200, answer.as_str()));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, goals) = get_json(&server, "/_sandbox/crm/acme/goals").await;
    assert_eq!(
        goals["goals"].as_array().map(Vec::len),
        Some(expected_goals.len())
    );
    let (_, emails) = get_json(&server, "/_sandbox/emails").await;
    assert_eq!(emails["emails"].as_array().map(Vec::len), Some(1));

    // STOP is recorded at once, before the answer.
    let (status, _) = post_text_to_acme(
        &server,
        "SMfedcba9876543210fedcba9876543210",
        "+14155552671",
        " Stop. ",
    )
    .await;
    assert_eq!(status, 200);
    let consent = server
        .runtime
        .app
        .store
        .consent(&"acme".parse().expect("id"), &phone("+14155552671"))
        .await
        .expect("store")
        .expect("consent recorded");
    assert!(consent.opted_out);
    let goals = eventually_json(&server, "/_sandbox/crm/acme/goals", PATIENCE, |b| {
        b.to_string().contains("\"OptOut\"")
    })
    .await;
    assert!(goals.to_string().contains("OptOut"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crm_outage_delays_goals_and_loses_none() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    server.runtime.crm.set_unavailable(true);
    // The webhook does not touch the CRM: it answers at once.
    let (status, _) = post_text_to_acme(
        &server,
        "SM00000000000000000000000000000777",
        "+14155552673",
        "Is anyone there?",
    )
    .await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, goals) = get_json(&server, "/_sandbox/crm/acme/goals").await;
    assert_eq!(
        goals["goals"],
        json!([]),
        "nothing reaches a CRM that is down"
    );

    server.runtime.crm.set_unavailable(false);
    assert_eq!(
        goal_names(&server, NEW_TEXT_GOALS.len()).await,
        NEW_TEXT_GOALS,
        "each goal exactly once after the outage"
    );
    let (_, contacts) = get_json(&server, "/_sandbox/crm/acme/contacts").await;
    assert_eq!(
        contacts["contacts"].as_array().map(Vec::len),
        Some(1),
        "one contact, not one per retry"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_the_crm_lacks_are_disabled_until_reset() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let acme: smsflow_shared::domain::AccountId = "acme".parse().expect("id");
    server
        .runtime
        .crm
        .disable_goal_in_crm(&acme, "smsflow", "Inbound")
        .await
        .expect("sandbox control");
    let sid = "SM00000000000000000000000000000888";
    let (status, _) = post_text_to_acme(&server, sid, "+14155552674", "hello").await;
    assert_eq!(status, 200);
    let store = &server.runtime.app.store;
    let disabled_goals = async || store.disabled_goals(&acme).await.expect("store");
    eventually(PATIENCE, async || {
        let disabled = disabled_goals().await;
        if disabled.contains("Inbound") {
            Ok(())
        } else {
            Err(format!("Inbound never disabled: {disabled:?}"))
        }
    })
    .await;

    let http = reqwest::Client::new();
    let reset = |query: &'static str| {
        let url = format!("{}/crm/acme/goals/reset{query}", server.base_url());
        let http = http.clone();
        async move {
            let r = http.post(url).send().await.expect("answers");
            (r.status().as_u16(), r.json::<Value>().await.expect("JSON"))
        }
    };
    let (status, body) = reset("").await;
    assert_eq!((status, body["error"].as_str()), (401, Some("missing_key")));
    let (status, body) = reset("?key=wrong-key-0123456789").await;
    assert_eq!((status, body["error"].as_str()), (403, Some("invalid_key")));
    let (status, body) = reset("?key=local-dev-key-change-me-0123456789").await;
    assert_eq!(
        (status, body),
        (200, json!({"account": "acme", "reset": 1}))
    );
    let disabled = disabled_goals().await;
    assert!(disabled.is_empty(), "{disabled:?}");

    // The conversation logs what became of the text's goals.
    let from = smsflow_shared::domain::PhoneNumber::parse_e164("+14155552674").expect("phone");
    let logged = server
        .runtime
        .app
        .store
        .goals_fired(&acme, &from, &MessageId::new(""))
        .await
        .expect("goal log");
    let inbound = logged
        .iter()
        .find(|g| g.goal == "Inbound")
        .expect("Inbound logged");
    assert_eq!(
        inbound.outcome,
        smsflow_shared::ports::GoalResult::NotConfigured
    );
    let thread = server
        .runtime
        .app
        .store
        .conversation(&acme, &from, 10)
        .await
        .expect("conversation");
    assert!(
        logged.iter().all(|g| g.message_id == thread[0].id),
        "every goal is about the text: {logged:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_numbers_of_a_messaging_service_find_their_account() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let text = |sid: &'static str, service: Option<&'static str>, account_sid: &'static str| {
        let mut params = vec![
            ("AccountSid", account_sid),
            ("MessageSid", sid),
            ("From", "+14155552675"),
            // Not listed on any account: a number in the service's pool.
            ("To", "+19525550199"),
            ("Body", "hi from the pool"),
        ];
        if let Some(service) = service {
            params.push(("MessagingServiceSid", service));
        }
        params
    };
    let service = Some("MG00000000000000000000000000000001");
    let ours = "AC00000000000000000000000000000001";
    let cases = [
        (
            "listed service",
            text("SM000000000000000000000000000000p1", service, ours),
            200,
        ),
        (
            "no service",
            text("SM000000000000000000000000000000p2", None, ours),
            404,
        ),
        (
            "another Twilio account",
            text(
                "SM000000000000000000000000000000p3",
                service,
                "AC00000000000000000000000000000002",
            ),
            404,
        ),
        (
            "unknown service",
            text(
                "SM000000000000000000000000000000p4",
                Some("MG00000000000000000000000000000009"),
                ours,
            ),
            404,
        ),
    ];
    for (what, params, status) in cases {
        let (got, body) = post_signed_inbound(&server, &params).await;
        assert_eq!(got, status, "{what}: {body}");
    }
    let stored = server
        .runtime
        .app
        .store
        .message_by_sid(&MessageSid::new("SM000000000000000000000000000000p1"))
        .await
        .expect("store")
        .expect("the pool text is recorded");
    assert_eq!(stored.our_sender, "+19525550199");
    server.stop().await;
}

/// While `smsflow serve` holds the database, the CLI's read commands go through its
/// operator API (the token it wrote to `serve.json`); the API refuses anyone without it,
/// and commands that write still ask for the server to be stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_reads_through_the_running_server() {
    use smsflow_tests::shape::{Deployment, Shape};
    let d = Deployment::start(Shape::Local, ExampleConfig::new()).await;
    let text = json!({"from": "+14155552671", "to": "+19523142318", "body": "Still on for 3?"});
    let (status, _) = d
        .post_json(&format!("{}/_sandbox/inbound", d.sandbox), &text)
        .await;
    assert_eq!(status, 200);
    let listed = eventually(PATIENCE, async || {
        let out = d
            .smsflow(&["conversations", "list", "--account", "acme", "--json"])
            .await;
        match out.contains("+14155552671") {
            true => Ok(out),
            false => Err(format!("not listed yet: {out}")),
        }
    })
    .await;
    let listed: Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(listed[0]["opted_out"], false, "{listed}");
    let shown = d
        .smsflow(&[
            "conversations",
            "show",
            "--account",
            "acme",
            "(415) 555-2671",
        ])
        .await;
    assert!(shown.contains("Still on for 3?"), "{shown}");
    let dead = d
        .smsflow(&["dlq", "list", "--queue", "automation", "--json"])
        .await;
    assert_eq!(serde_json::from_str::<Value>(&dead).ok(), Some(json!([])));

    let url = format!("{}/_local/accounts/acme/conversations", d.sandbox);
    let (status, body) = d.get_with_bearer(&url, "not-the-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("invalid_token")),
        "{body}"
    );
    let refused = d
        .try_smsflow(&[
            "accounts",
            "set-limit",
            "--account",
            "acme",
            "--queue-limit",
            "10",
        ])
        .await
        .expect_err("a write needs the database");
    assert!(refused.contains("smsflow serve"), "{refused}");
    d.stop().await;
}
