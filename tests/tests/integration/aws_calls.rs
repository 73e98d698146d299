//! AWS calls per event on the hot paths, counted against moto. The counts are part of the
//! design (BENCHMARKS.md reports them against the minimum); a change that adds a call to a
//! hot path has to change this test and say why.

use smsflow_shared::usecases::WebhookRequest;
use smsflow_shared::usecases::inbound;
use smsflow_tests::aws_app::{MotoApp, MotoCrm};
use smsflow_tests::example::ACME_TWILIO_SID;
use smsflow_tests::twilio;

const URL: &str = "https://sms.example.com/twilio/inbound";

/// acme's Messaging Service (in the example configuration).
const ACME_SERVICE_SID: &str = "MG00000000000000000000000000000001";

/// A text to acme's long code or, with `via_pool`, to a number of its Messaging Service's
/// pool that the account does not list.
fn signed(sid: &str, body: &str, via_pool: bool) -> WebhookRequest {
    let mut params = vec![
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", sid),
        ("From", "+14155552671"),
        (
            "To",
            if via_pool {
                "+19525550199"
            } else {
                "+19523142318"
            },
        ),
        ("Body", body),
        ("NumMedia", "0"),
    ];
    if via_pool {
        params.push(("MessagingServiceSid", ACME_SERVICE_SID));
    }
    twilio::webhook_request(URL, &params)
}

#[tokio::test]
async fn inbound_webhook_aws_calls() {
    // The webhook never reaches the CRM.
    let moto = MotoApp::start("calls", MotoCrm::None, Some("https://sms.example.com")).await;
    let app = &moto.app;
    moto.take_calls();

    let cases: &[(&str, &str, &str, bool, &[&str])] = &[
        (
            "a new text",
            "SM00000000000000000000000000000a01",
            "Hello there",
            false,
            // The number's claim carries its account.
            &["GetItem", "TransactWriteItems", "SendMessage"],
        ),
        (
            // The number's claim (none) and the service's, which carries its account, in
            // one read however many accounts the table holds.
            "a text to a pool number of the account's Messaging Service",
            "SM00000000000000000000000000000a03",
            "Hello from the pool",
            true,
            &["BatchGetItem", "TransactWriteItems", "SendMessage"],
        ),
        (
            // The consent change, conditional on being newer, in the message's transaction.
            "an opt-out (consent written before the answer)",
            "SM00000000000000000000000000000a02",
            "STOP",
            false,
            &["GetItem", "TransactWriteItems", "SendMessage"],
        ),
        (
            "Twilio's retry of the first text (rare path: finds the stored id, re-queues a job that will be skipped)",
            "SM00000000000000000000000000000a01",
            "Hello there",
            false,
            &[
                "GetItem",
                "TransactWriteItems",
                "GetItem",
                "GetItem",
                "SendMessage",
            ],
        ),
    ];
    for (what, sid, body, via_pool, expected) in cases {
        inbound::receive(app, &signed(sid, body, *via_pool))
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let calls = moto.take_calls();
        println!("{what}: {} calls: {}", calls.len(), calls.join(", "));
        assert_eq!(calls, *expected, "{what}");
    }
}

#[tokio::test]
async fn send_request_send_and_status_aws_calls() {
    use smsflow_shared::domain::send_request::SendFields;
    use smsflow_shared::jobs::SendJob;
    use smsflow_shared::ports::{QueueName, QueueReceiver};
    use smsflow_shared::usecases::deliver;
    use smsflow_shared::usecases::send_request;

    // The sandbox CRM, so the contact lookup is not an AWS call.
    let moto = MotoApp::start("sends", MotoCrm::Sandbox, None).await;
    let (app, account, queue) = (&moto.app, &moto.account, &moto.queue);
    moto.take_calls();

    let fields =
        SendFields::from_form(b"phone=%2B14155552671&message=Hi&type=transactional").expect("form");
    let reply = send_request::request_send(app, account, &fields)
        .await
        .expect("handled");
    assert!(reply.message_id.is_some(), "{reply:?}");
    let calls = moto.take_calls();
    println!("send request: {} calls: {}", calls.len(), calls.join(", "));
    assert_eq!(
        calls,
        [
            "BatchGetItem",       // the request's claim, opt-out, phone health, contact cache
            "TransactWriteItems", // the claim with the admission: the message's slot and the counter
            "UpdateItem",         // the sender's next slot
            "SendMessage",        // the send job, delayed until its slot
            "UpdateItem",         // the request's answer, for repeats
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
    moto.take_calls();
    assert_eq!(
        deliver::deliver(app, &job).await,
        smsflow_shared::usecases::JobOutcome::Done
    );
    let calls = moto.take_calls();
    println!("send: {} calls: {}", calls.len(), calls.join(", "));
    assert_eq!(
        calls,
        [
            "GetItem",            // account
            "BatchGetItem", // an earlier attempt (a redelivered job), opt-out and phone health
            "UpdateItem",   // a slot among the sender's actual sends
            "TransactWriteItems", // the attempt against the phone's opt-out, and the message
            "TransactWriteItems", // its provider SID, the admission slot back, the outcome
        ]
    );

    // Twilio's `delivered` callback for it, at the URL the worker gave Twilio.
    let sent = app
        .store
        .message(&job.account, &job.to, &job.message_id)
        .await
        .expect("read")
        .expect("the message");
    let sid = sent.provider_sid.expect("sent with a SID");
    let url = format!(
        "https://sms.example.com/twilio/status?account={}&message={}",
        job.account, job.message_id
    );
    let callback = twilio::webhook_request(
        &url,
        &[
            ("AccountSid", ACME_TWILIO_SID),
            ("MessageSid", sid.as_str()),
            ("MessageStatus", "delivered"),
            ("To", sent.contact_phone.as_str()),
            ("From", &sent.our_sender),
        ],
    );
    moto.take_calls();
    smsflow_shared::usecases::status::receive(app, &callback)
        .await
        .expect("applied");
    let calls = moto.take_calls();
    println!(
        "delivered callback: {} calls: {}",
        calls.len(),
        calls.join(", ")
    );
    assert_eq!(
        calls,
        [
            "GetItem",    // the SID's pointer
            "GetItem",    // the message it points at: its account
            "GetItem",    // the account: the token the signature is checked with
            "UpdateItem", // the status, forward only, addressed by the message's key
            "PutItem",    // the claim that records the phone event once
            "GetItem",    // the phone's health
            "UpdateItem", // the claim's answer, for repeats
        ]
    );
}
