//! Admission (the queue limit) and sender pacing.

use super::*;

pub async fn admission_is_exact_under_concurrency(store: &dyn Store) {
    let acme = account_id("acme");
    let ids: Vec<MessageId> = (0..25).map(|i| MessageId::new(format!("m{i}"))).collect();
    let admitted = join_all(ids.iter().map(|id| store.try_admit(&acme, id, 7)))
        .await
        .into_iter()
        .map(|r| r.expect("try_admit"))
        .filter(|&ok| ok)
        .count();
    assert_eq!(admitted, 7);
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 7);
    assert!(!admit(store, &acme, "late", 7).await);
    // A higher limit admits more.
    assert!(admit(store, &acme, "late", 8).await);
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 8);
    assert!(!admit(store, &acme, "later", 0).await);
    assert_eq!(
        store
            .pending_sends(&account_id("other"))
            .await
            .expect("pending_sends"),
        0
    );
}

/// A message is counted once however often it is admitted or released (a redelivered
/// job, a request taken over from a handler that died).
pub async fn admission_counts_each_message_once(store: &dyn Store) {
    let acme = account_id("acme");
    for _ in 0..3 {
        assert!(admit(store, &acme, "m1", 10).await);
    }
    assert!(admit(store, &acme, "m2", 10).await);
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 2);
    // At the limit, a message already admitted stays admitted.
    assert!(admit(store, &acme, "m1", 2).await);
    assert!(!admit(store, &acme, "m3", 2).await);

    let m1 = MessageId::new("m1");
    for result in join_all((0..5).map(|_| store.release_admission(&acme, &m1))).await {
        result.expect("release_admission");
    }
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 1);
    store
        .release_admission(&acme, &MessageId::new("never-admitted"))
        .await
        .expect("release_admission");
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 1);
    store
        .release_admission(&acme, &MessageId::new("m2"))
        .await
        .expect("release_admission");
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 0);
    // Released, the message may be admitted again (a redrive from the dead-letter queue).
    assert!(admit(store, &acme, "m1", 1).await);
    assert!(!admit(store, &acme, "m2", 1).await);
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 1);

    // Releasing for an account that never sent is harmless.
    let idle = account_id("idle");
    store
        .release_admission(&idle, &MessageId::new("m1"))
        .await
        .expect("release_admission");
    assert_eq!(store.pending_sends(&idle).await.expect("pending_sends"), 0);
}

pub async fn rate_sequential_reservations_are_spaced_by_cost(store: &dyn Store) {
    let cost = Duration::from_millis(500);
    // (now, start given): a busy sender queues behind itself; an idle one starts at once.
    let steps = [
        (1_000, 1_000),
        (1_000, 1_500),
        (1_200, 2_000),
        (10_000, 10_000),
        (10_100, 10_500),
    ];
    for (now, expected) in steps {
        let start = store
            .reserve_send_slot("+14155552671", cost, t(now))
            .await
            .expect("reserve_send_slot");
        assert_eq!(start, t(expected), "now {now}");
    }
    let other = store
        .reserve_send_slot("MG0001", cost, t(1_000))
        .await
        .expect("reserve_send_slot");
    assert_eq!(other, t(1_000));
}

pub async fn rate_concurrent_reservations_never_overlap(store: &dyn Store) {
    let cost = Duration::from_millis(250);
    let now = 1_000_000;
    let mut starts: Vec<i64> =
        join_all((0..10).map(|_| store.reserve_send_slot("sender", cost, t(now))))
            .await
            .into_iter()
            .map(|r| r.expect("reserve_send_slot").as_millis())
            .collect();
    starts.sort_unstable();
    let expected: Vec<i64> = (0..10).map(|i| now + 250 * i).collect();
    assert_eq!(starts, expected);
}

/// Admits message `id` of `account` under `limit`; whether it was admitted.
async fn admit(store: &dyn Store, account: &AccountId, id: &str, limit: u32) -> bool {
    store
        .try_admit(account, &MessageId::new(id), limit)
        .await
        .expect("try_admit")
}
