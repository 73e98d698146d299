//! Queue port conformance: the SQS semantics every queue adapter shares (the embedded queue
//! and SQS, the latter run against moto).
//!
//! Adapters under test must dead-letter a message on the receive after its
//! [`MAX_RECEIVES`]th. SQS counts time in whole seconds, so the timings here are whole
//! seconds too, kept short.
//!
//! Usage: `queue_conformance!(my_adapter, factory);` where `factory()` is an async fn (or
//! closure returning a future) yielding a fresh [`Adapter`] with empty queues.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smsflow_shared::ports::queue::MAX_DELAY;
use smsflow_shared::ports::{
    JobQueue, OutgoingMessage, QueueError, QueueName, QueueReceiver, ReceivedMessage,
};
use tokio::time::Instant;

/// Both halves of the queue port, as one object.
pub trait QueueAdapter: JobQueue + QueueReceiver {}
impl<T: JobQueue + QueueReceiver + ?Sized> QueueAdapter for T {}

pub type Adapter = Arc<dyn QueueAdapter>;

/// The redrive setting factories must configure on every queue.
pub const MAX_RECEIVES: u32 = 2;

const SEND: QueueName = QueueName::Send;
const AUTOMATION: QueueName = QueueName::Automation;
/// Long enough that nothing reappears during a case unless the case makes it.
const HIDDEN: Duration = Duration::from_secs(60);
const SECOND: Duration = Duration::from_secs(1);

/// Receives until `n` messages arrived or `within` passed, deleting nothing.
async fn receive_n(
    q: &Adapter,
    queue: QueueName,
    n: usize,
    visibility: Duration,
    within: Duration,
) -> Vec<ReceivedMessage> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let batch = q
            .receive(queue, n - got.len(), visibility, SECOND)
            .await
            .expect("receive succeeds");
        got.extend(batch);
    }
    got
}

async fn receive_one(q: &Adapter, queue: QueueName, visibility: Duration) -> ReceivedMessage {
    let mut got = receive_n(q, queue, 1, visibility, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "one message arrives within 5 s");
    got.remove(0)
}

async fn assert_nothing_visible(q: &Adapter, queue: QueueName, why: &str) {
    let got = q
        .receive(queue, 10, HIDDEN, Duration::ZERO)
        .await
        .expect("receive succeeds");
    assert!(got.is_empty(), "{why}: got {got:?}");
}

async fn enqueue(q: &Adapter, queue: QueueName, message: OutgoingMessage) -> String {
    q.enqueue(queue, message).await.expect("enqueue succeeds")
}

pub async fn round_trip_keeps_bodies_intact(q: Adapter) {
    let large = "{\"pad\":\"0123456789abcdef\"}".repeat(8_000); // 200 KB
    let bodies = [
        "plain job".to_string(),
        "unicode: héllo wörld — 你好 👋🏽 \"quoted\"\ttab\nnew line".to_string(),
        large,
    ];
    let mut sent = HashMap::new();
    for body in &bodies {
        sent.insert(
            enqueue(&q, SEND, OutgoingMessage::now(body.clone())).await,
            body,
        );
    }
    let got = receive_n(&q, SEND, bodies.len(), HIDDEN, Duration::from_secs(10)).await;
    assert_eq!(got.len(), bodies.len());
    for m in &got {
        let body = sent
            .get(&m.message_id)
            .expect("a message id enqueue returned");
        assert!(
            m.body == **body,
            "body of {} changed in transit",
            m.message_id
        );
        assert_eq!(m.receive_count, 1);
        q.delete(SEND, &m.receipt).await.expect("delete succeeds");
    }
    let ids: BTreeSet<&String> = got.iter().map(|m| &m.message_id).collect();
    assert_eq!(ids.len(), bodies.len(), "each message once");
    assert_nothing_visible(&q, SEND, "all were deleted").await;
}

pub async fn queues_are_isolated(q: Adapter) {
    enqueue(&q, SEND, OutgoingMessage::now("for send")).await;
    enqueue(&q, AUTOMATION, OutgoingMessage::now("for automation")).await;
    assert_eq!(receive_one(&q, SEND, HIDDEN).await.body, "for send");
    assert_eq!(
        receive_one(&q, AUTOMATION, HIDDEN).await.body,
        "for automation"
    );
    assert_nothing_visible(&q, SEND, "only one message was sent to Send").await;
    assert_nothing_visible(&q, AUTOMATION, "only one message was sent to Automation").await;
    for queue in QueueName::ALL {
        let dead = q
            .receive_dead_letters(queue, 10, HIDDEN)
            .await
            .expect("dead letters");
        assert!(dead.is_empty(), "{queue}: no dead letters yet");
    }
}

pub async fn undeleted_message_reappears_after_visibility_timeout(q: Adapter) {
    let id = enqueue(&q, SEND, OutgoingMessage::now("retry me")).await;
    let first = receive_one(&q, SEND, SECOND).await;
    assert_eq!(
        (first.message_id.as_str(), first.receive_count),
        (id.as_str(), 1)
    );
    assert_nothing_visible(&q, SEND, "hidden during its visibility timeout").await;

    let second = receive_one(&q, SEND, HIDDEN).await;
    assert_eq!(second.message_id, id);
    assert_eq!(second.receive_count, 2);
    assert_ne!(
        second.receipt, first.receipt,
        "each receive has its own receipt"
    );
    q.delete(SEND, &second.receipt)
        .await
        .expect("current receipt deletes");

    // The outdated receipt: SQS documents that deleting with it "succeeds, but the message
    // might not be deleted", and moto accepts it once the message is gone; the embedded
    // queue refuses it as stale. Neither treats it as a backend failure.
    let stale = q.delete(SEND, &first.receipt).await;
    assert!(
        matches!(stale, Ok(()) | Err(QueueError::StaleReceipt(_))),
        "outdated receipt: {stale:?}"
    );
    assert_nothing_visible(&q, SEND, "the message was deleted").await;
}

pub async fn change_visibility_zero_makes_message_visible_at_once(q: Adapter) {
    let id = enqueue(&q, SEND, OutgoingMessage::now("release me")).await;
    let first = receive_one(&q, SEND, HIDDEN).await;
    q.change_visibility(SEND, &first.receipt, Duration::ZERO)
        .await
        .expect("change visibility succeeds");
    // Without the change it would stay hidden for a minute; receive_one allows 5 s.
    let again = receive_one(&q, SEND, HIDDEN).await;
    assert_eq!(again.message_id, id);
    assert_eq!(again.receive_count, 2);
}

pub async fn change_visibility_can_extend_the_timeout(q: Adapter) {
    enqueue(&q, SEND, OutgoingMessage::now("keep me hidden")).await;
    let first = receive_one(&q, SEND, SECOND).await;
    q.change_visibility(SEND, &first.receipt, HIDDEN)
        .await
        .expect("change visibility succeeds");
    let got = q
        .receive(SEND, 10, HIDDEN, Duration::from_secs(2))
        .await
        .expect("receive succeeds");
    assert!(
        got.is_empty(),
        "still hidden after the original 1 s: {got:?}"
    );
}

pub async fn delayed_message_is_invisible_until_its_delay_passes(q: Adapter) {
    let delay = Duration::from_secs(2);
    let started = Instant::now();
    let id = enqueue(&q, SEND, OutgoingMessage::delayed("later", delay)).await;
    assert_nothing_visible(&q, SEND, "delayed").await;
    let got = receive_one(&q, SEND, HIDDEN).await;
    assert_eq!(got.message_id, id);
    // Small slack for the emulator's clock reading against ours.
    let waited = started.elapsed();
    assert!(
        waited + Duration::from_millis(100) >= delay,
        "received after {waited:?}, before the {delay:?} delay"
    );
}

pub async fn oversized_messages_are_rejected(q: Adapter) {
    let cases = [
        (
            "delay over 15 minutes",
            OutgoingMessage::delayed("never", MAX_DELAY + SECOND),
        ),
        (
            "body over 1 MiB",
            OutgoingMessage::now("a".repeat(1024 * 1024 + 1)),
        ),
    ];
    for (name, message) in cases {
        let result = q.enqueue(SEND, message).await;
        assert!(
            matches!(result, Err(QueueError::Rejected { queue: SEND, .. })),
            "{name}: {result:?}"
        );
    }
    enqueue(
        &q,
        SEND,
        OutgoingMessage::delayed("longest delay", MAX_DELAY),
    )
    .await;
    enqueue(&q, SEND, OutgoingMessage::now("a".repeat(1024 * 1024))).await;
}

pub async fn batch_enqueue_returns_ids_in_order(q: Adapter) {
    // More than one SQS batch (10), with one delayed message.
    let mut messages: Vec<OutgoingMessage> = (0..12)
        .map(|i| OutgoingMessage::now(format!("job {i}")))
        .collect();
    messages[11] = OutgoingMessage::delayed("job 11", Duration::from_secs(2));
    let ids = q
        .enqueue_batch(AUTOMATION, messages)
        .await
        .expect("enqueue_batch succeeds");
    assert_eq!(ids.len(), 12);
    let got = receive_n(&q, AUTOMATION, 12, HIDDEN, Duration::from_secs(10)).await;
    let body_of: HashMap<&str, &str> = got
        .iter()
        .map(|m| (m.message_id.as_str(), m.body.as_str()))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(
            body_of.get(id.as_str()),
            Some(&format!("job {i}").as_str()),
            "id {i}"
        );
    }
    assert_nothing_visible(&q, SEND, "nothing on the other queue").await;

    // A message the queue cannot take refuses the whole batch before any is sent.
    let refused = q
        .enqueue_batch(
            SEND,
            vec![
                OutgoingMessage::now("fine"),
                OutgoingMessage::delayed("too late", MAX_DELAY + SECOND),
            ],
        )
        .await;
    assert!(
        matches!(refused, Err(QueueError::Rejected { queue: SEND, .. })),
        "{refused:?}"
    );
    assert_nothing_visible(&q, SEND, "a refused batch enqueues nothing").await;
    assert_eq!(
        q.enqueue_batch(SEND, vec![]).await.expect("empty batch"),
        Vec::<String>::new()
    );
}

pub async fn unknown_receipts_are_stale(q: Adapter) {
    enqueue(&q, SEND, OutgoingMessage::now("job")).await;
    let real = receive_one(&q, SEND, HIDDEN).await;
    let made_up = "not-a-receipt-this-queue-issued";
    let deleted = q.delete(SEND, made_up).await;
    assert!(
        matches!(deleted, Err(QueueError::StaleReceipt(_))),
        "{deleted:?}"
    );
    let changed = q.change_visibility(SEND, made_up, Duration::ZERO).await;
    assert!(
        matches!(changed, Err(QueueError::StaleReceipt(_))),
        "{changed:?}"
    );
    q.delete(SEND, &real.receipt)
        .await
        .expect("the real receipt still deletes");
}

pub async fn empty_receive_waits_for_the_wait_time(q: Adapter) {
    let started = Instant::now();
    let got = q
        .receive(SEND, 10, HIDDEN, SECOND)
        .await
        .expect("receive succeeds");
    assert!(got.is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "returned after {waited:?}"
    );
}

pub async fn long_poll_returns_message_enqueued_during_the_wait(q: Adapter) {
    let producer = {
        let q = q.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            q.enqueue(SEND, OutgoingMessage::now("arrived")).await
        })
    };
    let started = Instant::now();
    let got = q
        .receive(SEND, 10, HIDDEN, Duration::from_secs(10))
        .await
        .expect("receive succeeds");
    let waited = started.elapsed();
    let id = producer.await.expect("producer task").expect("enqueue");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_id, id);
    assert!(
        waited < Duration::from_secs(5),
        "returned after {waited:?}: the wait did not end when the message arrived"
    );
}

pub async fn message_received_too_often_moves_to_dead_letters(q: Adapter) {
    let id = enqueue(&q, SEND, OutgoingMessage::now("poison")).await;
    for n in 1..=MAX_RECEIVES {
        let m = receive_one(&q, SEND, HIDDEN).await;
        assert_eq!((m.message_id.as_str(), m.receive_count), (id.as_str(), n));
        q.change_visibility(SEND, &m.receipt, Duration::ZERO)
            .await
            .expect("release for the next attempt");
    }
    // The next receive finds it at the maximum and moves it instead of returning it.
    let got = q
        .receive(SEND, 10, HIDDEN, SECOND)
        .await
        .expect("receive succeeds");
    assert!(got.is_empty(), "dead-lettered, not delivered: {got:?}");

    let dead = q
        .receive_dead_letters(SEND, 10, Duration::ZERO)
        .await
        .expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].message_id.as_str(), dead[0].body.as_str()),
        (id.as_str(), "poison")
    );
    let dead_elsewhere = q
        .receive_dead_letters(AUTOMATION, 10, HIDDEN)
        .await
        .expect("dead letters");
    assert!(
        dead_elsewhere.is_empty(),
        "dead letters stay with their queue"
    );
    assert_nothing_visible(&q, SEND, "gone from the main queue").await;

    // A dead letter's receipt deletes it (a zero visibility left it visible until now).
    q.delete(SEND, &dead[0].receipt)
        .await
        .expect("delete dead letter");
    let left = q
        .receive_dead_letters(SEND, 10, HIDDEN)
        .await
        .expect("dead letters");
    assert!(left.is_empty(), "deleted dead letter came back: {left:?}");
}

pub async fn receive_respects_the_batch_size(q: Adapter) {
    let mut sent = BTreeSet::new();
    for i in 0..5 {
        sent.insert(enqueue(&q, SEND, OutgoingMessage::now(format!("job {i}"))).await);
    }
    let none = q
        .receive(SEND, 0, HIDDEN, Duration::ZERO)
        .await
        .expect("receive succeeds");
    assert!(none.is_empty(), "max 0 receives nothing");

    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < sent.len() && Instant::now() < deadline {
        let batch = q
            .receive(SEND, 2, HIDDEN, SECOND)
            .await
            .expect("receive succeeds");
        assert!(batch.len() <= 2, "asked for 2, got {}", batch.len());
        for m in batch {
            assert!(got.insert(m.message_id), "received twice");
        }
    }
    assert_eq!(got, sent);
}

fn distinct(received: &Mutex<Vec<(String, String)>>) -> usize {
    let received = received.lock().expect("lock");
    received.iter().collect::<BTreeSet<_>>().len()
}

/// SQS delivers at least once: a standard queue may hand a message out twice (and moto's
/// threaded server does so under concurrent receives), so the shared contract is "none lost,
/// bodies intact". The embedded queue's own unit tests pin its stronger exactly-once.
pub async fn burst_is_received_at_least_once_and_none_is_lost(q: Adapter) {
    const BURST: usize = 50;
    let mut producers = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let q = q.clone();
        producers.spawn(async move {
            let body = format!("burst {i}");
            let id = q.enqueue(SEND, OutgoingMessage::now(body.clone())).await;
            (id.expect("enqueue succeeds"), body)
        });
    }
    let sent: BTreeSet<(String, String)> = producers.join_all().await.into_iter().collect();
    assert_eq!(sent.len(), BURST);

    let received = Arc::new(Mutex::new(Vec::new()));
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut consumers = tokio::task::JoinSet::new();
    for _ in 0..3 {
        let (q, received) = (q.clone(), received.clone());
        consumers.spawn(async move {
            while distinct(&received) < BURST && Instant::now() < deadline {
                let batch = q
                    .receive(SEND, 10, HIDDEN, SECOND)
                    .await
                    .expect("receive succeeds");
                for m in batch {
                    q.delete(SEND, &m.receipt).await.expect("delete succeeds");
                    received.lock().expect("lock").push((m.message_id, m.body));
                }
            }
        });
    }
    consumers.join_all().await;

    let received = received.lock().expect("lock").clone();
    let unique: BTreeSet<(String, String)> = received.iter().cloned().collect();
    assert_eq!(unique, sent, "every message received, bodies intact");
    assert_nothing_visible(&q, SEND, "all were deleted").await;
}

/// One `#[tokio::test]` per conformance case, in a module `$name`, each with a fresh
/// adapter from `$factory` (an async fn or closure returning a future of [`Adapter`]).
#[macro_export]
macro_rules! queue_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::queue_conformance!(@cases $factory;
                round_trip_keeps_bodies_intact,
                queues_are_isolated,
                undeleted_message_reappears_after_visibility_timeout,
                change_visibility_zero_makes_message_visible_at_once,
                change_visibility_can_extend_the_timeout,
                delayed_message_is_invisible_until_its_delay_passes,
                oversized_messages_are_rejected,
                unknown_receipts_are_stale,
                empty_receive_waits_for_the_wait_time,
                long_poll_returns_message_enqueued_during_the_wait,
                message_received_too_often_moves_to_dead_letters,
                receive_respects_the_batch_size,
                burst_is_received_at_least_once_and_none_is_lost,
                batch_enqueue_returns_ids_in_order,
            );
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let adapter: $crate::conformance::queue::Adapter = ($factory)().await;
                $crate::conformance::queue::$case(adapter).await;
            }
        )*
    };
}
