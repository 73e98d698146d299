//! What only the embedded queue promises beyond the conformance suite: stale receipts are
//! refused, millisecond timing, SQS's input limits checked locally, per-queue policies and
//! long polls woken by timers and visibility changes.

use super::*;
use crate::domain::Timestamp;
use crate::ports::queue::MAX_DELAY;
use crate::ports::{ManualClock, SystemClock};

const SEND: QueueName = QueueName::Send;
const HOUR: Duration = Duration::from_secs(3600);

fn manual_queue() -> (EmbeddedQueue, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_700_000_000_000)));
    let db = EmbeddedDb::in_memory().expect("in-memory db opens");
    (EmbeddedQueue::new(db, clock.clone()), clock)
}

fn real_time_queue() -> EmbeddedQueue {
    let db = EmbeddedDb::in_memory().expect("in-memory db opens");
    EmbeddedQueue::new(db, Arc::new(SystemClock))
}

async fn receive_now(
    q: &EmbeddedQueue,
    queue: QueueName,
    visibility: Duration,
) -> Vec<ReceivedMessage> {
    q.receive(queue, 10, visibility, Duration::ZERO)
        .await
        .expect("receive succeeds")
}

/// Enqueues `body` on the send queue, visible at once; its message id.
async fn send_now(q: &EmbeddedQueue, body: impl Into<String>) -> String {
    q.enqueue(SEND, OutgoingMessage::now(body))
        .await
        .expect("enqueue succeeds")
}

fn is_stale(r: QueueResult<()>) -> bool {
    matches!(r, Err(QueueError::StaleReceipt(_)))
}

#[tokio::test]
async fn refuses_what_sqs_refuses_and_accepts_its_limits() {
    let cases: Vec<(&str, OutgoingMessage, bool)> = vec![
        (
            "longest delay",
            OutgoingMessage::delayed("x", MAX_DELAY),
            true,
        ),
        (
            "delay over 15 minutes",
            OutgoingMessage::delayed("x", MAX_DELAY + Duration::from_millis(1)),
            false,
        ),
        ("empty body", OutgoingMessage::now(""), false),
        (
            "largest body",
            OutgoingMessage::now("a".repeat(MAX_BODY_BYTES)),
            true,
        ),
        (
            "body over 1 MiB",
            OutgoingMessage::now("a".repeat(MAX_BODY_BYTES + 1)),
            false,
        ),
        (
            "tab, newline, CR, emoji",
            OutgoingMessage::now("a\tb\nc\rd 👋"),
            true,
        ),
        ("control character", OutgoingMessage::now("a\u{1}b"), false),
        (
            "non-character U+FFFF",
            OutgoingMessage::now("a\u{FFFF}"),
            false,
        ),
    ];
    let (q, _) = manual_queue();
    for (name, message, accepted) in cases {
        let result = q.enqueue(SEND, message).await;
        match (accepted, result) {
            (true, Ok(_)) | (false, Err(QueueError::Rejected { .. })) => {}
            (_, other) => panic!("{name}: expected accepted={accepted}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn visibility_timeouts_longer_than_sqs_allows_are_rejected() {
    let (q, _) = manual_queue();
    send_now(&q, "x").await;
    let too_long = MAX_VISIBILITY + Duration::from_secs(1);
    assert!(matches!(
        q.receive(SEND, 1, too_long, Duration::ZERO).await,
        Err(QueueError::Rejected { .. })
    ));
    let got = receive_now(&q, SEND, MAX_VISIBILITY).await;
    assert_eq!(got.len(), 1, "the longest allowed visibility is accepted");
    assert!(matches!(
        q.change_visibility(SEND, &got[0].receipt, too_long).await,
        Err(QueueError::Rejected { .. })
    ));
}

#[tokio::test]
async fn receipts_go_stale_once_received_again_or_deleted() {
    let (q, clock) = manual_queue();
    send_now(&q, "job").await;
    let first = receive_now(&q, SEND, Duration::from_secs(30))
        .await
        .remove(0);
    clock.advance(Duration::from_secs(30));
    let second = receive_now(&q, SEND, Duration::from_secs(30))
        .await
        .remove(0);
    assert_eq!(second.receive_count, 2);
    assert_ne!(first.receipt, second.receipt);

    assert!(is_stale(q.delete(SEND, &first.receipt).await));
    assert!(is_stale(
        q.change_visibility(SEND, &first.receipt, Duration::ZERO)
            .await
    ));
    // The stale attempts changed nothing: the message is still hidden, then deletable.
    assert!(receive_now(&q, SEND, HOUR).await.is_empty());
    q.delete(SEND, &second.receipt)
        .await
        .expect("current receipt deletes");
    assert!(is_stale(q.delete(SEND, &second.receipt).await));
    clock.advance(HOUR);
    assert!(receive_now(&q, SEND, HOUR).await.is_empty());
}

#[tokio::test]
async fn malformed_or_foreign_receipts_are_stale() {
    let (q, _) = manual_queue();
    send_now(&q, "job").await;
    let got = receive_now(&q, SEND, HOUR).await.remove(0);
    for bad in ["", "abc", "abc:x", ":1", "01ARZ3NDEKTSV4RRFFQ69G5FAV:1"] {
        assert!(is_stale(q.delete(SEND, bad).await), "receipt {bad:?}");
    }
    assert!(
        is_stale(q.delete(QueueName::Automation, &got.receipt).await),
        "a Send receipt does not delete through Automation"
    );
    q.delete(SEND, &got.receipt)
        .await
        .expect("still deletable on its own queue");
}

#[tokio::test]
async fn delays_and_visibility_are_kept_to_the_millisecond() {
    let (q, clock) = manual_queue();
    q.enqueue(
        SEND,
        OutgoingMessage::delayed("later", Duration::from_millis(1500)),
    )
    .await
    .expect("enqueue");
    clock.advance(Duration::from_millis(1499));
    assert!(receive_now(&q, SEND, HOUR).await.is_empty());
    clock.advance(Duration::from_millis(1));
    let got = receive_now(&q, SEND, Duration::from_millis(250)).await;
    assert_eq!(got.len(), 1);

    clock.advance(Duration::from_millis(249));
    assert!(receive_now(&q, SEND, HOUR).await.is_empty());
    clock.advance(Duration::from_millis(1));
    assert_eq!(receive_now(&q, SEND, HOUR).await[0].receive_count, 2);
}

#[tokio::test]
async fn messages_leave_in_enqueue_order() {
    let (q, _) = manual_queue();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(send_now(&q, format!("m{i}")).await);
    }
    let got: Vec<String> = receive_now(&q, SEND, HOUR)
        .await
        .into_iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(got, ids);
}

#[tokio::test]
async fn receive_batches_are_capped_at_the_sqs_maximum() {
    let (q, _) = manual_queue();
    for i in 0..12 {
        send_now(&q, format!("m{i}")).await;
    }
    let got = q
        .receive(SEND, 100, HOUR, Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(got.len(), MAX_RECEIVE_BATCH);
    assert!(
        q.receive(SEND, 0, HOUR, Duration::ZERO)
            .await
            .expect("receive")
            .is_empty()
    );
}

#[tokio::test]
async fn a_zero_visibility_message_is_returned_once_per_receive() {
    let (q, _) = manual_queue();
    send_now(&q, "x").await;
    assert_eq!(receive_now(&q, SEND, Duration::ZERO).await.len(), 1);
    let again = receive_now(&q, SEND, Duration::ZERO).await;
    assert_eq!(again.len(), 1, "visible again at once");
    assert_eq!(again[0].receive_count, 2);
}

#[tokio::test]
async fn each_queue_has_its_own_redrive_policy() {
    let (q, _) = manual_queue();
    let q = q.with_policy(SEND, QueuePolicy { max_receives: 1 });
    assert_eq!(q.policy(QueueName::Automation), QueuePolicy::default());
    for queue in QueueName::ALL {
        q.enqueue(queue, OutgoingMessage::now(queue.as_str()))
            .await
            .expect("enqueue");
    }
    let received = |queue| {
        let q = q.clone();
        async move {
            let mut n = 0;
            while !receive_now(&q, queue, Duration::ZERO).await.is_empty() {
                n += 1;
                assert!(n < 100, "never dead-lettered");
            }
            n
        }
    };
    assert_eq!(received(SEND).await, 1);
    assert_eq!(received(QueueName::Automation).await, 5);

    for queue in QueueName::ALL {
        let dead = q
            .receive_dead_letters(queue, 10, HOUR)
            .await
            .expect("dead letters");
        assert_eq!(dead.len(), 1, "{queue}");
        assert_eq!(dead[0].body, queue.as_str());
        // The move keeps the count; receiving from the dead-letter queue adds one, as in moto.
        let expected = q.policy(queue).max_receives + 1;
        assert_eq!(dead[0].receive_count, expected, "{queue}");
    }
}

#[tokio::test]
async fn a_dead_letter_can_be_hidden_and_deleted_with_its_receipt() {
    let (q, clock) = manual_queue();
    let q = q.with_policy(SEND, QueuePolicy { max_receives: 1 });
    send_now(&q, "x").await;
    receive_now(&q, SEND, Duration::ZERO).await;
    assert!(receive_now(&q, SEND, Duration::ZERO).await.is_empty());

    let dead = q
        .receive_dead_letters(SEND, 10, HOUR)
        .await
        .expect("dlq")
        .remove(0);
    assert!(
        q.receive_dead_letters(SEND, 10, HOUR)
            .await
            .expect("dlq")
            .is_empty()
    );
    q.change_visibility(SEND, &dead.receipt, Duration::ZERO)
        .await
        .expect("change visibility of a dead letter");
    let again = q
        .receive_dead_letters(SEND, 10, HOUR)
        .await
        .expect("dlq")
        .remove(0);
    assert!(is_stale(q.delete(SEND, &dead.receipt).await));
    q.delete(SEND, &again.receipt)
        .await
        .expect("delete dead letter");
    clock.advance(HOUR * 2);
    assert!(
        q.receive_dead_letters(SEND, 10, HOUR)
            .await
            .expect("dlq")
            .is_empty()
    );
    assert!(receive_now(&q, SEND, HOUR).await.is_empty());
}

#[tokio::test]
async fn long_poll_wakes_when_a_hidden_message_becomes_visible() {
    let q = real_time_queue();
    send_now(&q, "x").await;
    assert_eq!(
        receive_now(&q, SEND, Duration::from_millis(300))
            .await
            .len(),
        1
    );
    let started = Instant::now();
    let got = q
        .receive(SEND, 10, HOUR, Duration::from_secs(10))
        .await
        .expect("receive");
    let waited = started.elapsed();
    assert_eq!(got.len(), 1);
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "woke after {waited:?}, expected about 300 ms"
    );
}

#[tokio::test]
async fn long_poll_wakes_on_change_visibility() {
    let q = real_time_queue();
    send_now(&q, "x").await;
    let receipt = receive_now(&q, SEND, HOUR).await.remove(0).receipt;
    let releaser = {
        let q = q.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            q.change_visibility(SEND, &receipt, Duration::ZERO).await
        })
    };
    let started = Instant::now();
    let got = q
        .receive(SEND, 10, HOUR, Duration::from_secs(10))
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
    releaser.await.expect("task").expect("change visibility");
}

#[tokio::test]
async fn an_expired_long_poll_returns_nothing_after_the_wait() {
    let q = real_time_queue();
    // A message far in the future must not cut the wait short either.
    q.enqueue(SEND, OutgoingMessage::delayed("x", MAX_DELAY))
        .await
        .expect("enqueue");
    let started = Instant::now();
    let got = q
        .receive(SEND, 10, HOUR, Duration::from_millis(300))
        .await
        .expect("receive");
    assert!(got.is_empty());
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(290) && waited < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_consumers_receive_each_message_exactly_once() {
    const BURST: usize = 200;
    let q = Arc::new(real_time_queue());
    for i in 0..BURST {
        send_now(&q, format!("burst {i}")).await;
    }
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut consumers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (q, received) = (q.clone(), received.clone());
        consumers.spawn(async move {
            loop {
                let batch = receive_now(&q, SEND, HOUR).await;
                if batch.is_empty() {
                    break;
                }
                for m in batch {
                    q.delete(SEND, &m.receipt).await.expect("delete succeeds");
                    received.lock().expect("lock").push(m.body);
                }
            }
        });
    }
    consumers.join_all().await;
    let mut received = received.lock().expect("lock").clone();
    assert_eq!(received.len(), BURST, "no message twice, none lost");
    received.sort();
    received.dedup();
    assert_eq!(received.len(), BURST);
}
