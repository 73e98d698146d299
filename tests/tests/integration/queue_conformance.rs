//! The queue conformance suite against the embedded queue and against SQS on moto, plus
//! the embedded queue's promise that queued work survives a restart.

use std::sync::Arc;
use std::time::Duration;

use smsflow_shared::adapters::aws::sqs::{SqsQueue, create_queues};
use smsflow_shared::adapters::embedded::queue::QueuePolicy;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue};
use smsflow_shared::ports::{JobQueue, OutgoingMessage, QueueName, QueueReceiver, SystemClock};
use smsflow_tests::conformance::queue::{Adapter, MAX_RECEIVES};
use smsflow_tests::{moto, queue_conformance};

fn embedded_on(db: EmbeddedDb) -> EmbeddedQueue {
    QueueName::ALL
        .into_iter()
        .fold(EmbeddedQueue::new(db, Arc::new(SystemClock)), |q, name| {
            q.with_policy(
                name,
                QueuePolicy {
                    max_receives: MAX_RECEIVES,
                },
            )
        })
}

async fn embedded() -> Adapter {
    Arc::new(embedded_on(
        EmbeddedDb::in_memory().expect("in-memory db opens"),
    ))
}

async fn sqs_on_moto() -> Adapter {
    let client = aws_sdk_sqs::Client::new(&moto::sdk_config().await);
    let urls = create_queues(&client, &moto::unique_name("smsflow-q"), MAX_RECEIVES)
        .await
        .expect("queues are created on moto");
    Arc::new(SqsQueue::new(client, urls))
}

queue_conformance!(embedded_queue, embedded);
queue_conformance!(sqs_queue, sqs_on_moto);

#[tokio::test]
async fn embedded_queue_keeps_messages_across_a_restart() {
    const HOUR: Duration = Duration::from_secs(3600);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("local.redb");
    let open = || embedded_on(EmbeddedDb::open(&path).expect("database file opens"));

    let (in_flight, waiting, delayed) = {
        let q = open();
        q.enqueue(QueueName::Send, OutgoingMessage::now("in flight"))
            .await
            .expect("enqueue");
        let in_flight = q
            .receive(QueueName::Send, 1, HOUR, Duration::ZERO)
            .await
            .expect("receive")
            .remove(0);
        let waiting = q
            .enqueue(QueueName::Send, OutgoingMessage::now("waiting"))
            .await
            .expect("enqueue");
        let delayed = q
            .enqueue(
                QueueName::Automation,
                OutgoingMessage::delayed("delayed", Duration::from_secs(1)),
            )
            .await
            .expect("enqueue");
        (in_flight, waiting, delayed)
    }; // the database closes here

    let q = open();
    let got = q
        .receive(QueueName::Send, 10, HOUR, Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(got.len(), 1, "the in-flight message stays hidden: {got:?}");
    assert_eq!(
        (got[0].message_id.as_str(), got[0].body.as_str()),
        (waiting.as_str(), "waiting")
    );

    // A receipt from before the restart is still current.
    q.change_visibility(QueueName::Send, &in_flight.receipt, Duration::ZERO)
        .await
        .expect("change visibility with a pre-restart receipt");
    let again = q
        .receive(QueueName::Send, 10, HOUR, Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(again.len(), 1);
    assert_eq!(
        (again[0].message_id.as_str(), again[0].receive_count),
        (in_flight.message_id.as_str(), 2)
    );

    let later = q
        .receive(QueueName::Automation, 10, HOUR, Duration::from_secs(5))
        .await
        .expect("receive");
    assert_eq!(later.len(), 1);
    assert_eq!(
        (later[0].message_id.as_str(), later[0].body.as_str()),
        (delayed.as_str(), "delayed")
    );
}
