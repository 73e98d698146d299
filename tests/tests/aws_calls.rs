//! AWS calls per event on the hot paths, counted against moto. The counts are part of the
//! design (BENCHMARKS.md reports them against the minimum); a change that adds a call to a
//! hot path has to change this test and say why.

use std::path::Path;
use std::sync::Arc;

use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::{SqsQueue, create_queues};
use smsflow_shared::adapters::crm_router::CrmRouter;
use smsflow_shared::adapters::embedded::{EmbeddedDb, Outbox, SandboxCarrier};
use smsflow_shared::adapters::event_webhook::WebhookEvents;
use smsflow_shared::app::{App, AppSettings};
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::twilio_signature;
use smsflow_shared::ports::{AccountStore, SystemClock, UlidIds};
use smsflow_shared::usecases::inbound::{self, WebhookRequest};
use smsflow_tests::moto::{OperationLog, serialized_sdk_config, unique_name};

const EXAMPLE: &str = include_str!("../../smsflow.example.toml");
const URL: &str = "https://sms.example.com/twilio/inbound";

fn signed(sid: &str, body: &str) -> WebhookRequest {
    let params: Vec<(String, String)> = [
        ("AccountSid", "AC00000000000000000000000000000001"),
        ("MessageSid", sid),
        ("From", "+14155552671"),
        ("To", "+19523142318"),
        ("Body", body),
        ("NumMedia", "0"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    WebhookRequest {
        url: URL.into(),
        signature: Some(twilio_signature::sign("sandbox-auth-token", URL, &params)),
        params,
    }
}

fn take(log: &OperationLog) -> Vec<String> {
    std::mem::take(&mut *log.lock().unwrap_or_else(|p| p.into_inner()))
        .into_iter()
        .map(|op| op.rsplit('.').next().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn inbound_webhook_aws_calls() {
    let log = OperationLog::default();
    let config = serialized_sdk_config(Some(log.clone())).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = unique_name("calls");
    create_table(&dynamodb, &table).await.expect("table");
    let queues = create_queues(&sqs, &unique_name("calls"), 3)
        .await
        .expect("queues");
    let local = LocalConfig::parse(Path::new("example.toml"), EXAMPLE).expect("example");
    let db = EmbeddedDb::in_memory().expect("db");
    let ids = Arc::new(UlidIds::default());
    let clock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamodb, table);
    store
        .put_account(&local.accounts[0])
        .await
        .expect("account");
    let app = App {
        store: Arc::new(store),
        queue: Arc::new(SqsQueue::new(sqs, queues)),
        mailer: Arc::new(Outbox::new(db.clone(), clock.clone(), ids.clone())),
        sms: Arc::new(SandboxCarrier::new(
            db,
            reqwest::Client::new(),
            clock.clone(),
            ids.clone(),
        )),
        crm: Arc::new(CrmRouter::default()),
        events: Arc::new(WebhookEvents::new(reqwest::Client::new(), clock.clone())),
        clock,
        ids,
        settings: AppSettings {
            public_base_url: Some("https://sms.example.com".into()),
            mail_from: None,
        },
    };
    take(&log);

    let cases: &[(&str, &str, &str, &[&str])] = &[
        (
            "a new text",
            "SM00000000000000000000000000000a01",
            "Hello there",
            &["GetItem", "GetItem", "TransactWriteItems", "SendMessage"],
        ),
        (
            "an opt-out (consent written before the answer)",
            "SM00000000000000000000000000000a02",
            "STOP",
            &[
                "GetItem",
                "GetItem",
                "TransactWriteItems",
                "PutItem",
                "SendMessage",
            ],
        ),
        (
            "Twilio's retry of the first text (rare path: finds the stored id, re-queues a job that will be skipped)",
            "SM00000000000000000000000000000a01",
            "Hello there",
            &[
                "GetItem",
                "GetItem",
                "TransactWriteItems",
                "GetItem",
                "GetItem",
                "SendMessage",
            ],
        ),
    ];
    for (what, sid, body, expected) in cases {
        inbound::receive(&app, &signed(sid, body))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let calls = take(&log);
        println!("{what}: {} calls: {}", calls.len(), calls.join(", "));
        assert_eq!(calls, *expected, "{what}");
    }
}

#[tokio::test]
async fn send_request_and_send_aws_calls() {
    use smsflow_shared::domain::send_request::SendFields;
    use smsflow_shared::ports::{QueueName, QueueReceiver};
    use smsflow_shared::usecases::deliver::{self, SendJob};
    use smsflow_shared::usecases::send_request;

    let log = OperationLog::default();
    let config = serialized_sdk_config(Some(log.clone())).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let table = unique_name("sends");
    create_table(&dynamodb, &table).await.expect("table");
    let queues = create_queues(&sqs, &unique_name("sends"), 3)
        .await
        .expect("queues");
    let local = LocalConfig::parse(Path::new("example.toml"), EXAMPLE).expect("example");
    let db = EmbeddedDb::in_memory().expect("db");
    let ids = Arc::new(UlidIds::default());
    let clock = Arc::new(SystemClock);
    let store = DynamoStore::new(dynamodb, table);
    let account = local.accounts[0].clone();
    store.put_account(&account).await.expect("account");
    let queue = Arc::new(SqsQueue::new(sqs, queues));
    let app = App {
        store: Arc::new(store),
        queue: queue.clone(),
        mailer: Arc::new(Outbox::new(db.clone(), clock.clone(), ids.clone())),
        sms: Arc::new(SandboxCarrier::new(
            db.clone(),
            reqwest::Client::new(),
            clock.clone(),
            ids.clone(),
        )),
        events: Arc::new(WebhookEvents::new(reqwest::Client::new(), clock.clone())),
        // The sandbox CRM, so the contact lookup is not an AWS call.
        crm: Arc::new(CrmRouter::with_real_crms(
            reqwest::Client::new(),
            clock.clone(),
            ids.clone(),
            Arc::new(smsflow_shared::adapters::embedded::EmbeddedStore::new(
                db.clone(),
            )),
            Some(Arc::new(
                smsflow_shared::adapters::embedded::SandboxCrm::new(db, clock.clone()),
            )),
        )),
        clock,
        ids,
        settings: AppSettings {
            public_base_url: None,
            mail_from: None,
        },
    };
    take(&log);

    let fields =
        SendFields::from_form(b"phone=%2B14155552671&message=Hi&type=transactional").expect("form");
    let reply = send_request::request_send(&app, &account, &fields)
        .await
        .expect("handled");
    assert!(reply.message_id.is_some(), "{reply:?}");
    let calls = take(&log);
    println!("send request: {} calls: {}", calls.len(), calls.join(", "));
    assert_eq!(
        calls,
        [
            "PutItem",      // claim the request (idempotency)
            "GetItem",      // contact cache (the CRM is asked on a miss)
            "BatchGetItem", // opt-out and phone health
            "UpdateItem",   // admission counter
            "UpdateItem",   // the sender's next slot
            "SendMessage",  // the send job, delayed until its slot
            "UpdateItem",   // the request's answer, for repeats
        ]
    );

    let received = queue
        .receive(
            QueueName::Send,
            1,
            std::time::Duration::from_secs(30),
            std::time::Duration::from_secs(2),
        )
        .await
        .expect("receive");
    let job: SendJob = serde_json::from_str(&received[0].body).expect("job");
    take(&log);
    assert_eq!(
        deliver::deliver(&app, &job).await,
        smsflow_shared::usecases::JobOutcome::Done
    );
    let calls = take(&log);
    println!("send: {} calls: {}", calls.len(), calls.join(", "));
    assert_eq!(
        calls,
        [
            "GetItem",            // account
            "PutItem",            // the attempt, before the provider call
            "BatchGetItem",       // opt-out and phone health
            "TransactWriteItems", // the message on the conversation
            "UpdateItem",         // a slot among the sender's actual sends
            "TransactWriteItems", // its provider SID
            "UpdateItem",         // the attempt's outcome
            "UpdateItem",         // admission slot given back
        ]
    );
}
