//! What leaves smsflow about a status: the signed delivery events of the account's event
//! webhook, immediate rejections mapped like callbacks, the committed fixtures' signatures,
//! and the sandbox carrier's callbacks reaching the local server.

use super::*;
use smsflow_shared::domain::delivery::DeliveryFailure;
use smsflow_shared::domain::{MessageId, MessageSid};

/// An event webhook that answers every POST with `status`.
async fn event_receiver(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&server)
        .await;
    server
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
    let server = event_receiver(204).await;
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

    let refusing = event_receiver(400).await;
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
        let outcome = status::on_outcome(
            &h.rt.app,
            &h.acme,
            &unsubscribed,
            Failed,
            Some(DeliveryFailure::twilio(21610)),
        )
        .await
        .expect("mapped");
        assert!(outcome.record_opt_out);
        status::on_outcome(
            &h.rt.app,
            &h.acme,
            &landline,
            Failed,
            Some(DeliveryFailure::twilio(21614)),
        )
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
            .attach_provider_sid(
                &h.acme.id,
                &phone("+15005550009"),
                &MessageId::new(message_id(2)),
                &MessageSid::new(sid(2)),
            )
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
    let readme = include_str!("../../../../events/README.md");
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
