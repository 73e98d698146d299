//! Handler tests from the committed `events/` fixtures: the exact payloads API Gateway,
//! function URLs and SQS hand to the Lambda binaries, through the same routers and consumers
//! the binaries run (request in -> status, body, effects out).

use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use axum::Router;
use serde_json::Value;
use smsflow_shared::adapters::embedded::EmbeddedDb;
use smsflow_shared::app::App;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::handlers::{consumer, http};
use smsflow_shared::local::LocalRuntime;
use smsflow_shared::ports::NewContact;
use tower::ServiceExt;

const EXAMPLE: &str = include_str!("../../smsflow.example.toml");

async fn runtime() -> Arc<LocalRuntime> {
    let config = LocalConfig::parse(Path::new("example.toml"), EXAMPLE).expect("valid example");
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    Arc::new(
        LocalRuntime::build_on(db, &config, "https://sms.example.com".into())
            .await
            .expect("runtime"),
    )
}

async fn call(router: Router, event: &str) -> (u16, Value) {
    let request = lambda_http::request::from_str(event).expect("fixture is a Lambda HTTP event");
    let response = router.oneshot(request).await.expect("router answers");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (status, serde_json::from_slice(&bytes).expect("JSON body"))
}

#[tokio::test]
async fn http_events_reach_their_function_routes() {
    let rt = runtime().await;
    let app = rt.app.clone();
    type Build = fn(Arc<App>) -> Router;
    let cases: &[(&str, &str, Build, u32)] = &[
        (
            "inbound webhook",
            include_str!("../../events/apigw-http-twilio-inbound.json"),
            http::inbound_sms,
            3,
        ),
        (
            "status callback",
            include_str!("../../events/apigw-http-twilio-status.json"),
            http::status_callback,
            4,
        ),
        (
            "campaign send",
            include_str!("../../events/function-url-campaign-send.json"),
            http::campaign_send,
            4,
        ),
        (
            "sequence start",
            include_str!("../../events/function-url-sequence-start.json"),
            http::sequence_start,
            5,
        ),
    ];
    for (what, event, build, issue) in cases {
        let (status, body) = call(http::with_fallback(build(app.clone())), event).await;
        assert_eq!(status, 501, "{what}: {body}");
        assert_eq!(body["error"], "not_implemented", "{what}");
        let detail = body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains(&format!("issue #{issue}")),
            "{what}: {detail}"
        );
    }

    // Each function serves only its own route: another function's event is a JSON 404.
    let (status, body) = call(
        http::with_fallback(http::inbound_sms(app)),
        include_str!("../../events/function-url-campaign-send.json"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("route_not_found"))
    );
}

fn sqs(event: &str) -> SqsEvent {
    serde_json::from_str(event).expect("fixture is an SQS event")
}

#[tokio::test]
async fn automation_batch_fires_goal_and_email_once() {
    let rt = runtime().await;
    let acme = rt
        .app
        .store
        .account(&"acme".parse().expect("id"))
        .await
        .expect("store")
        .expect("acme");
    // The fixture's contact id "1": the sandbox CRM's first contact.
    let contact = rt
        .app
        .crm
        .create_contact(
            &acme,
            &NewContact {
                first_name: Some("Jane".into()),
                phone: Some(acme.parse_phone("+14155552671").expect("phone")),
                ..NewContact::default()
            },
        )
        .await
        .expect("contact");
    assert_eq!(contact.id, "1");

    let event = include_str!("../../events/sqs-automation-batch.json");
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
    let event = include_str!("../../events/sqs-send-batch.json");
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
    assert!(
        sent.iter()
            .all(|m| m.status_callback.as_deref() == Some("https://sms.example.com/twilio/status"))
    );
}

#[tokio::test]
async fn undecodable_jobs_are_reported_failed_for_the_dead_letter_queue() {
    let rt = runtime().await;
    let mut event = sqs(include_str!("../../events/sqs-automation-batch.json"));
    event.records[0].body = Some("{\"kind\":\"no_such_job\"}".into());
    let response = consumer::automation_worker(&rt.app, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["c80e8021-a70a-47e0-ba42-35d4d0b8c7f1"]);
}
