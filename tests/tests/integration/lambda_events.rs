//! Handler tests from the committed `events/` fixtures: the exact payloads API Gateway,
//! function URLs and SQS hand to the Lambda binaries, through the same routers and consumers
//! the binaries run (request in -> status, body, effects out).

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use axum::Router;
use serde_json::{Value, json};
use smsflow_shared::domain::Account;
use smsflow_shared::domain::{MessageId, MessageSid};
use smsflow_shared::handlers::{consumer, http};
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::{NewContact, QueueName};
use smsflow_tests::example::ExampleConfig;
use smsflow_tests::fixtures::{message, new_contact, phone};
use smsflow_tests::handler;
use smsflow_tests::runtime::{self, Drain, drain};

/// The example account with the fixtures' auth token (`events/README.md`), behind a given
/// public base URL (`None`: rebuilt from the request's host, as on Lambda).
async fn runtime_at(public_base_url: Option<&str>) -> Arc<LocalRuntime> {
    let config = ExampleConfig::new()
        .twilio_auth_token("test-auth-token")
        // The fixtures' key `test-send-key`, stored as its SHA-256 as in production.
        .replace(
            "send_key = \"local-dev-key-change-me-0123456789\"",
            "send_key_sha256 = \"95ca8e1b9947c9832602eb6d6794a4b2638b6a10b34fd2404c327df2c0517add\"",
        )
        .parse();
    Arc::new(runtime::in_memory(&config, public_base_url).await)
}

/// acme, and the fixtures' contact 1 (Jane, +14155552671), the sandbox CRM's first.
async fn acme_with_jane(rt: &LocalRuntime) -> Account {
    let acme = runtime::account(&rt.app, "acme").await;
    let contact = runtime::add_contact(&rt.app, &acme, new_contact("Jane", "+14155552671")).await;
    assert_eq!(contact.id, "1");
    acme
}

async fn runtime() -> Arc<LocalRuntime> {
    runtime_at(Some("https://sms.example.com")).await
}

/// Status, content type and body of the router's answer to a Lambda HTTP event.
async fn call_raw(router: Router, event: &str) -> (u16, String, String) {
    let request = lambda_http::request::from_str(event).expect("fixture is a Lambda HTTP event");
    let answer = handler::respond(router, request).await;
    (answer.status, answer.content_type, answer.body)
}

async fn call(router: Router, event: &str) -> (u16, Value) {
    let (status, _, body) = call_raw(router, event).await;
    (status, serde_json::from_str(&body).expect("JSON body"))
}

#[tokio::test]
async fn each_function_serves_only_its_own_routes() {
    let rt = runtime().await;
    let app = rt.app.clone();
    // Each function serves only its own route: another function's event is a JSON 404.
    let (status, body) = call(
        http::with_fallback(http::inbound_sms(app)),
        include_str!("../../../events/function-url-campaign-send.json"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found"))
    );
}

#[tokio::test]
async fn campaign_send_event_queues_one_send() {
    let rt = runtime().await;
    // The fixture's contactId=1.
    acme_with_jane(&rt).await;
    let event = include_str!("../../../events/function-url-campaign-send.json");
    let (status, body) = call(
        http::with_fallback(http::campaign_send(rt.app.clone())),
        event,
    )
    .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], "queued");
    let queued = drain(rt.queue.as_ref(), QueueName::Send, Drain::Hide).await;
    assert_eq!(queued.len(), 1);
    let job: smsflow_shared::jobs::SendJob =
        serde_json::from_str(&queued[0].body).expect("send job");
    assert_eq!(job.to.as_str(), "+14155552671");
    assert_eq!(job.contact_id.as_deref(), Some("1"));
    assert_eq!(
        job.body,
        "Hi Jane, your appointment is tomorrow at 3pm. Reply STOP to opt out."
    );
    assert_eq!(body["message_id"].as_str(), Some(job.message_id.as_str()));

    // Lambda's retry of the same event is answered the same, and sends nothing more.
    let (status, again) = call(
        http::with_fallback(http::campaign_send(rt.app.clone())),
        event,
    )
    .await;
    assert_eq!((status, &again["message_id"]), (202, &body["message_id"]));
    assert_eq!(again["repeated"], true);
}

/// The fixture's "has received SMS" check for contact 1, who was sent nothing: answered
/// `received: false` with `NotReceivedSMS` queued; Lambda's retry of the event gets the
/// same answer and queues nothing more.
#[tokio::test]
async fn received_check_event_answers_and_queues_one_goal() {
    use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};

    let rt = runtime().await;
    acme_with_jane(&rt).await;
    let event = include_str!("../../../events/function-url-crm-received.json");
    let router = || http::with_fallback(http::campaign_send(rt.app.clone()));
    let (status, body) = call(router(), event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["received"], &body["count"], &body["goal"]),
        (&json!(false), &json!(0), &json!("NotReceivedSMS")),
        "{body}"
    );
    let (status, again) = call(router(), event).await;
    assert_eq!((status, &again["repeated"]), (200, &json!(true)), "{again}");
    let queued = drain(rt.queue.as_ref(), QueueName::Automation, Drain::Hide).await;
    let goals: Vec<String> = queued
        .iter()
        .filter_map(|m| serde_json::from_str::<AutomationEnvelope>(&m.body).ok())
        .filter_map(|envelope| match envelope.job {
            AutomationJob::AchieveGoal {
                call_name,
                contact_id,
                ..
            } => Some(format!("{call_name} for {contact_id}")),
            _ => None,
        })
        .collect();
    assert_eq!(goals, ["NotReceivedSMS for 1"]);
}

/// The fixture's CRM start of `appointment` (the example sequence) at `ask-day` for
/// contact 1: a run starts, its first message is queued as an automation job, and the
/// same POST again is refused with 409 while the run is active.
#[tokio::test]
async fn sequence_start_event_starts_one_run() {
    use smsflow_shared::domain::sequence::Sequence;
    use smsflow_shared::jobs::{AutomationEnvelope, AutomationJob};
    use smsflow_shared::usecases::sequence;

    let rt = runtime().await;
    let appointment = Sequence::load(
        "appointment.yaml",
        include_str!("../../../examples/sequences/appointment.yaml"),
    )
    .expect("the example sequence is valid");
    sequence::apply(rt.app.store.as_ref(), &appointment)
        .await
        .expect("applies to the example account");
    acme_with_jane(&rt).await;

    let event = include_str!("../../../events/function-url-sequence-start.json");
    let router = || http::with_fallback(http::sequence_start(rt.app.clone()));
    let (status, body) = call(router(), event).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["sequence"], "appointment");
    assert_eq!(body["contact_id"], "1");
    assert_eq!(body["step"], "ask-day");

    // The automation jobs queued so far (hidden once taken).
    let queued_jobs = || drain(rt.queue.as_ref(), QueueName::Automation, Drain::Hide);
    let queued = queued_jobs().await;
    let jobs: Vec<AutomationJob> = queued
        .iter()
        .map(|m| {
            serde_json::from_str::<AutomationEnvelope>(&m.body)
                .expect("automation job")
                .job
        })
        .collect();
    let sent: Vec<&str> = jobs
        .iter()
        .filter_map(|job| match job {
            AutomationJob::SequenceSend { message, .. } => Some(message.body.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        ["Thanks Jane! Which weekday would suit you for a visit?"]
    );
    assert!(
        jobs.iter()
            .any(|job| matches!(job, AutomationJob::SequenceNote { .. })),
        "the example keeps a note: {jobs:?}"
    );

    // The CRM retrying the same request gets the first answer; nothing more is queued.
    let (status, again) = call(router(), event).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["repeated"], true, "{again}");
    assert_eq!(again["session_id"], body["session_id"]);
    let more = queued_jobs().await;
    assert!(more.is_empty(), "a repeat queues nothing: {more:?}");
}

fn sqs(event: &str) -> SqsEvent {
    serde_json::from_str(event).expect("fixture is an SQS event")
}

#[tokio::test]
async fn automation_batch_fires_goal_and_email_once() {
    let rt = runtime().await;
    // The fixture's contact id "1".
    let acme = acme_with_jane(&rt).await;

    let event = include_str!("../../../events/sqs-automation-batch.json");
    for attempt in 1..=2 {
        let response = consumer::automation_worker(&rt.app, sqs(event)).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "attempt {attempt}: {:?}",
            response.batch_item_failures
        );
    }
    let goals = rt.crm.goals(Some(&acme.id), 10).await.expect("goals");
    assert_eq!(
        goals.len(),
        1,
        "a redelivered batch fires the goal once: {goals:?}"
    );
    assert_eq!(goals[0].call_name, "Inbound");
    assert_eq!(goals[0].integration, "smsflow");
    let emails = rt.outbox.list(10).await.expect("outbox");
    assert_eq!(emails.len(), 1, "a redelivered batch sends the e-mail once");
    assert_eq!(emails[0].email.subject, "SMS from Jane (+1 415-555-2671)");
}

#[tokio::test]
async fn send_batch_sends_each_message_once() {
    let rt = runtime().await;
    let event = include_str!("../../../events/sqs-send-batch.json");
    for attempt in 1..=2 {
        let response = consumer::send_worker(&rt.app, sqs(event)).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "attempt {attempt}: {:?}",
            response.batch_item_failures
        );
    }
    let sent = rt.carrier.messages(10).await.expect("carrier");
    assert_eq!(sent.len(), 2, "redelivery sends nothing twice: {sent:?}");
    assert!(
        sent.iter().any(|m| m.sid.starts_with("MM")),
        "the media send is an MMS"
    );
    // Each callback URL names the account and our message (the signed URL includes them).
    for m in &sent {
        let url = m.status_callback.as_deref().unwrap_or_default();
        assert!(
            url.starts_with("https://sms.example.com/twilio/status?account=acme&message=01"),
            "{url}"
        );
    }
}

/// The status envelope as API Gateway delivers it, signed for the execute-api host (no
/// public base URL): the stored message becomes delivered; the envelope again changes
/// nothing.
#[tokio::test]
async fn status_envelope_applies_the_callback() {
    use smsflow_shared::domain::{Direction, MessageRecord, MessageStatus, Timestamp};

    let rt = runtime_at(None).await;
    let acme: smsflow_shared::domain::AccountId = "acme".parse().expect("id");
    let sid = "SMb7c0a2ce80504485a6f653a2c2c4e0ea";
    let sent_at = Timestamp::from_millis(1_795_357_800_000);
    rt.app
        .store
        .record_message(&MessageRecord {
            body: "Hello".into(),
            status: MessageStatus::Sent,
            provider_sid: Some(sid.into()),
            ..message(
                "01JDELIVERED00000000000001",
                &acme,
                "+14155552671",
                Direction::Outbound,
                sent_at,
            )
        })
        .await
        .expect("store");
    let event = include_str!("../../../events/apigw-http-twilio-status.json");
    for attempt in 1..=2 {
        let (status, _, body) = call_raw(
            http::with_fallback(http::status_callback(rt.app.clone())),
            event,
        )
        .await;
        assert_eq!((status, body.as_str()), (204, ""), "attempt {attempt}");
        let stored = rt
            .app
            .store
            .message_by_sid(&MessageSid::new(sid))
            .await
            .expect("store")
            .expect("message");
        assert_eq!(stored.status, MessageStatus::Delivered, "attempt {attempt}");
    }
}

/// Instasent's report as API Gateway delivers it (JSON as text): authenticated by the
/// secret in the path, the stored message becomes delivered; again, nothing changes; with
/// another secret, 403 and nothing changes.
#[tokio::test]
async fn instasent_report_envelope_applies_the_report() {
    use smsflow_shared::domain::{Direction, MessageRecord, MessageStatus, Timestamp};
    use smsflow_shared::domain::{InstasentCredentials, Secret, SmsProviderKind};
    let rt = runtime_at(None).await;
    let mut acme = runtime::account(&rt.app, "acme").await;
    acme.provider = SmsProviderKind::Instasent;
    acme.instasent = Some(InstasentCredentials {
        api_token: Secret::new("test-instasent-token"),
        base_url: None,
        callback_secret: Some(Secret::new("test-callback-secret-0001")),
    });
    rt.app
        .store
        .put_account(&acme)
        .await
        .expect("acme on Instasent");
    let sid = "6501b2c3d4e5f60718293a4b";
    rt.app
        .store
        .record_message(&MessageRecord {
            body: "Hola".into(),
            status: MessageStatus::Sent,
            provider_sid: Some(sid.into()),
            ..message(
                "01JDELIVERED00000000000002",
                &acme.id,
                "+14155552671",
                Direction::Outbound,
                Timestamp::from_millis(1_795_357_800_000),
            )
        })
        .await
        .expect("store");
    let event = include_str!("../../../events/apigw-http-instasent-callback.json");
    let router = || http::with_fallback(http::status_callback(rt.app.clone()));
    let stored = || async {
        let found = rt.app.store.message_by_sid(&MessageSid::new(sid)).await;
        found.expect("store").expect("message").status
    };
    let forged = event.replace("test-callback-secret-0001", "test-callback-secret-0002");
    let (status, _, body) = call_raw(router(), &forged).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("invalid_secret"), "{body}");
    assert_eq!(
        stored().await,
        MessageStatus::Sent,
        "a forged report changes nothing"
    );
    for attempt in 1..=2 {
        let (status, _, body) = call_raw(router(), event).await;
        assert_eq!(status, 200, "attempt {attempt}: {body}");
        assert_eq!(
            stored().await,
            MessageStatus::Delivered,
            "attempt {attempt}"
        );
    }
}

#[tokio::test]
async fn undecodable_jobs_are_reported_failed_for_the_dead_letter_queue() {
    let rt = runtime().await;
    let mut event = sqs(include_str!("../../../events/sqs-automation-batch.json"));
    event.records[0].body = Some("{\"kind\":\"no_such_job\"}".into());
    let response = consumer::automation_worker(&rt.app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["c80e8021-a70a-47e0-ba42-35d4d0b8c7f1"]);
    // Why it failed is kept for `smsflow dlq list`; the jobs that ran record nothing.
    let ids: Vec<String> = sqs(include_str!("../../../events/sqs-automation-batch.json"))
        .records
        .into_iter()
        .filter_map(|r| r.message_id)
        .collect();
    let now = rt.app.clock.now();
    for (i, id) in ids.iter().enumerate() {
        let recorded = rt
            .app
            .store
            .job_failure(QueueName::Automation, id, now)
            .await
            .expect("job_failure");
        match recorded {
            Some(failure) if i == 0 => {
                assert!(failure.error.starts_with("not a valid job"), "{failure:?}")
            }
            other => assert_eq!(other, None, "{id}"),
        }
    }
}

const INBOUND_EVENT: &str = include_str!("../../../events/apigw-http-twilio-inbound.json");

/// The inbound fixture with its JSON edited (e.g. a header or the body replaced).
fn edited_inbound(edit: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(INBOUND_EVENT).expect("fixture JSON");
    edit(&mut event);
    event.to_string()
}

#[tokio::test]
async fn inbound_webhook_verifies_records_and_acknowledges_once() {
    // No public base URL: the signed URL is rebuilt from the API Gateway host, as on Lambda.
    let rt = runtime_at(None).await;
    let router = || http::with_fallback(http::inbound_sms(rt.app.clone()));

    let (status, content_type, body) = call_raw(router(), INBOUND_EVENT).await;
    assert_eq!((status, content_type.as_str()), (200, "text/xml"), "{body}");
    assert!(body.ends_with("<Response/>"), "{body}");
    let stored = rt
        .app
        .store
        .message_by_sid(&MessageSid::new("SM1f0e8ae6ade43cb3c0ce4525424e404f"))
        .await
        .expect("store")
        .expect("the text is recorded before the answer");
    assert_eq!(stored.contact_phone.as_str(), "+14155552671");
    assert!(
        stored.body.contains("jane.doe@example.com"),
        "{}",
        stored.body
    );

    // Twilio retries: acknowledged the same way, nothing recorded twice.
    let (status, _, again) = call_raw(router(), INBOUND_EVENT).await;
    assert_eq!((status, again.as_str()), (200, body.as_str()));
    let conversation = rt
        .app
        .store
        .conversation(&stored.account, &stored.contact_phone, 10)
        .await
        .expect("store");
    assert_eq!(conversation.len(), 1);
}

#[tokio::test]
async fn inbound_webhook_refuses_bad_requests_and_stores_nothing() {
    let rt = runtime_at(None).await;
    let wrong_signature = edited_inbound(|e| {
        e["headers"]["x-twilio-signature"] = "bm90IHRoZSBzaWduYXR1cmU=".into();
    });
    let no_signature = edited_inbound(|e| {
        if let Some(h) = e["headers"].as_object_mut() {
            h.remove("x-twilio-signature");
        }
    });
    // A body edited after signing (From changed): the signature no longer matches.
    let tampered = edited_inbound(|e| {
        e["isBase64Encoded"] = false.into();
        let form = include_str!("../../../events/twilio-inbound.form")
            .replace("From=%2B14155552671", "From=%2B14155550199");
        e["body"] = form.into();
    });
    let unknown_number = edited_inbound(|e| {
        e["isBase64Encoded"] = false.into();
        let form = include_str!("../../../events/twilio-inbound.form")
            .replace("To=%2B19523142318", "To=%2B14155550000");
        e["body"] = form.into();
    });
    let no_fields = edited_inbound(|e| {
        e["isBase64Encoded"] = false.into();
        e["body"] = "Body=hello".into();
    });
    let cases = [
        ("wrong signature", wrong_signature, 403, "invalid_signature"),
        ("missing signature", no_signature, 403, "invalid_signature"),
        ("tampered body", tampered, 403, "invalid_signature"),
        ("unknown number", unknown_number, 404, "unknown_number"),
        ("no To field", no_fields, 400, "invalid_request"),
    ];
    for (what, event, status, code) in cases {
        let (got, body) = call(
            http::with_fallback(http::inbound_sms(rt.app.clone())),
            &event,
        )
        .await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
    }
    let stored = rt
        .app
        .store
        .message_by_sid(&MessageSid::new("SM1f0e8ae6ade43cb3c0ce4525424e404f"))
        .await
        .expect("store");
    assert!(stored.is_none(), "a refused webhook stores nothing");
}

/// Routing through the real use case: the last SMS we sent decides who gets the reply, then
/// the CRM owner, then the number's backup address.
#[tokio::test]
async fn replies_route_to_the_last_sender_then_the_owner_then_the_backup() {
    use smsflow_shared::domain::keywords::KeywordClass;
    use smsflow_shared::domain::{Direction, MessageRecord, MessageStatus, Timestamp};
    use smsflow_shared::jobs::InboundText;
    use smsflow_shared::usecases::inbound::process_inner;

    let rt = runtime().await;
    let app = &rt.app;
    let acme = runtime::account(app, "acme").await;
    let text = |from: &str, n: u32| InboundText {
        account: acme.id.clone(),
        message_sid: MessageSid::new(format!("SM{n:032x}")),
        message_id: MessageId::new(app.ids.new_id()),
        from: phone(from),
        to: phone("+19523142318"),
        body: "Thanks!".into(),
        media_urls: vec![],
        keyword: KeywordClass::None,
        received_at: Timestamp::from_millis(1_795_000_000_000),
    };
    let sent_by = |to: &str, user: Option<&str>, campaign: Option<&str>| MessageRecord {
        body: "Hello".into(),
        status: MessageStatus::Delivered,
        user_id: user.map(str::to_string),
        campaign: campaign.map(str::to_string),
        kind: None,
        ..message(
            app.ids.new_id(),
            &acme.id,
            to,
            Direction::Outbound,
            Timestamp::from_millis(1_794_000_000_000),
        )
    };
    // Case 1: John texted this contact last.
    app.store
        .record_message(&sent_by("+14155552681", Some("john"), None))
        .await
        .expect("store");
    // Case 4: a campaign SMS whose replies go to Mary.
    app.store
        .record_message(&sent_by("+14155552682", Some("mary"), Some("spring-promo")))
        .await
        .expect("store");
    // Case 3: no SMS, but the CRM owner is Mary (CRM user 1).
    let olga = NewContact {
        owner_id: Some("1".into()),
        ..new_contact("Olga", "+14155552683")
    };
    runtime::add_contact(app, &acme, olga).await;
    let cases = [
        ("+14155552681", 1, "john@acme.example"),
        ("+14155552682", 2, "mary@acme.example"),
        ("+14155552683", 3, "mary@acme.example"),
        // Case 2 ends at the backup: a new sender with no history and no owner.
        ("+14155552684", 4, "office@acme.example"),
    ];
    for (from, n, expected) in cases {
        let inbound = text(from, n);
        // The webhook records the text before queueing its processing.
        let mut record = sent_by(from, None, None);
        record.id = inbound.message_id.clone();
        record.direction = Direction::Inbound;
        record.provider_sid = Some(inbound.message_sid.clone());
        app.store.record_message(&record).await.expect("store");
        let processed = process_inner(app, &inbound)
            .await
            .unwrap_or_else(|o| panic!("{from}: {o:?}"));
        assert_eq!(processed.forwarded_to.as_deref(), Some(expected), "{from}");
        let stored = app
            .store
            .message_by_sid(&inbound.message_sid)
            .await
            .expect("store")
            .expect("recorded");
        let routing = stored
            .routing
            .expect("the decision is recorded on the conversation");
        assert_eq!(routing.to.as_str(), expected, "{from}");
        assert!(!routing.reason.is_empty());
    }
}

#[tokio::test]
async fn the_inbox_page_event_is_answered_for_its_sessions_user() {
    use smsflow_shared::domain::inbox::{InboxSecret, InboxSession};
    use smsflow_shared::domain::{AccountId, Timestamp};
    use smsflow_shared::handlers::inbox;

    let rt = runtime().await;
    let event = include_str!("../../../events/function-url-inbox-page.json");
    let router = || http::with_fallback(inbox::inbox(rt.app.clone()));
    // No session stored: the sign-in page.
    let request = lambda_http::request::from_str(event).expect("a Lambda HTTP event");
    let answer = handler::respond(router(), request).await;
    assert_eq!(answer.status, 303, "{}", answer.body);

    let secret = InboxSecret::parse("ZmFrZS1zZXNzaW9uLXNlY3JldC1mb3ItdGhlLXRlc3R")
        .expect("the fixture's secret");
    let acme = AccountId::parse("acme").expect("id");
    let now = Timestamp::from_millis(jiff::Timestamp::now().as_millisecond());
    let session = InboxSession::start(acme, "mary".into(), now);
    rt.app
        .store
        .put_inbox_session(&secret.digest(), &session)
        .await
        .expect("stored");
    let (status, content_type, body) = call_raw(router(), event).await;
    assert_eq!(status, 200, "{body}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    // Mary is the example's inbox admin.
    assert!(
        body.contains("Mary Anders") && body.contains("All conversations"),
        "{body}"
    );
}
