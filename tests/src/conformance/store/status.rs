//! Delivery status: forward-only, whatever the order callbacks arrive in.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Advanced,
    Unchanged,
}

async fn apply(
    store: &dyn Store,
    sid: &str,
    status: MessageStatus,
    error_code: Option<u32>,
    at: Timestamp,
) -> (Outcome, MessageRecord) {
    match store
        .apply_status(&MessageSid::new(sid), status, error_code, at)
        .await
        .expect("apply_status")
    {
        StatusUpdate::Advanced(m) => (Outcome::Advanced, m),
        StatusUpdate::Unchanged(m) => (Outcome::Unchanged, m),
        StatusUpdate::UnknownSid => panic!("{sid} is recorded, yet UnknownSid"),
    }
}

pub async fn apply_status_is_forward_only(store: &dyn Store) {
    use MessageStatus::*;
    record(store, &message("acme", N1, 1, Some("SM1"))).await;
    let steps = [
        (Sending, Outcome::Advanced, Sending),
        (Sent, Outcome::Advanced, Sent),
        (Sent, Outcome::Unchanged, Sent),
        (Delivered, Outcome::Advanced, Delivered),
        (Sent, Outcome::Unchanged, Delivered),
        (Queued, Outcome::Unchanged, Delivered),
        (Failed, Outcome::Unchanged, Delivered),
        (Delivered, Outcome::Unchanged, Delivered),
        (Read, Outcome::Advanced, Read),
    ];
    let mut last_change = t(1);
    for (i, (status, expected_outcome, expected_status)) in steps.into_iter().enumerate() {
        let at = t(100 + i as i64);
        let (outcome, returned) = apply(store, "SM1", status, None, at).await;
        assert_eq!(outcome, expected_outcome, "step {i}: {status}");
        assert_eq!(returned.status, expected_status, "step {i}: {status}");
        if outcome == Outcome::Advanced {
            last_change = at;
        }
        assert_eq!(returned.updated_at, last_change, "step {i}: {status}");
        let stored = store
            .message_by_sid(&MessageSid::new("SM1"))
            .await
            .expect("message_by_sid");
        assert_eq!(stored, Some(returned), "step {i}: {status}");
    }
}

pub async fn apply_status_keeps_the_first_error_code(store: &dyn Store) {
    use MessageStatus::*;
    type Step = (
        MessageStatus,
        Option<u32>,
        Outcome,
        MessageStatus,
        Option<u32>,
    );
    let cases: [(&str, &[Step]); 5] = [
        (
            "a later error code never replaces the first",
            &[
                (Failed, Some(30003), Outcome::Advanced, Failed, Some(30003)),
                (
                    Undelivered,
                    Some(30005),
                    Outcome::Unchanged,
                    Failed,
                    Some(30003),
                ),
            ],
        ),
        (
            "an advancing status keeps the first error code",
            &[
                (
                    Sending,
                    Some(30001),
                    Outcome::Advanced,
                    Sending,
                    Some(30001),
                ),
                (Failed, Some(30008), Outcome::Advanced, Failed, Some(30001)),
            ],
        ),
        (
            "an error code arrives with an advancing status",
            &[
                (Sent, None, Outcome::Advanced, Sent, None),
                (
                    Undelivered,
                    Some(30005),
                    Outcome::Advanced,
                    Undelivered,
                    Some(30005),
                ),
                (
                    Delivered,
                    None,
                    Outcome::Unchanged,
                    Undelivered,
                    Some(30005),
                ),
            ],
        ),
        (
            "a late error code is kept on a failure that had none",
            &[
                (Undelivered, None, Outcome::Advanced, Undelivered, None),
                (
                    Undelivered,
                    Some(30006),
                    Outcome::Unchanged,
                    Undelivered,
                    Some(30006),
                ),
                (
                    Failed,
                    Some(30008),
                    Outcome::Unchanged,
                    Undelivered,
                    Some(30006),
                ),
            ],
        ),
        (
            "a delivered message never takes a late error code",
            &[
                (Delivered, None, Outcome::Advanced, Delivered, None),
                (Sent, Some(30007), Outcome::Unchanged, Delivered, None),
                (
                    Undelivered,
                    Some(30006),
                    Outcome::Unchanged,
                    Delivered,
                    None,
                ),
            ],
        ),
    ];
    for (n, (case, steps)) in (1..).zip(cases) {
        let sid = format!("SMerr{n}");
        record(store, &message("acme", N1, n, Some(&sid))).await;
        for (i, &(status, code, expected_outcome, expected_status, expected_code)) in
            steps.iter().enumerate()
        {
            let (outcome, returned) = apply(store, &sid, status, code, t(100 + i as i64)).await;
            assert_eq!(
                (outcome, returned.status, returned.error_code),
                (expected_outcome, expected_status, expected_code),
                "{case}, step {i}"
            );
            let stored = store
                .message_by_sid(&MessageSid::new(&sid))
                .await
                .expect("message_by_sid");
            assert_eq!(stored, Some(returned), "{case}, step {i}");
        }
    }
}

/// Callbacks `(status, error code)` on one message, and what is stored after the last.
type EndCase<'a> = (
    &'a str,
    &'a [(MessageStatus, Option<u32>)],
    (MessageStatus, Option<u32>),
);

/// A failure is an end: a read receipt after it, or a late failure after a delivery,
/// changes nothing stored (status, error code, time), by SID and by our id alike.
pub async fn apply_status_after_an_end_changes_nothing(store: &dyn Store) {
    use MessageStatus::*;
    let cases: [EndCase; 8] = [
        (
            "undelivered, then read",
            &[(Undelivered, Some(30006)), (Read, None)],
            (Undelivered, Some(30006)),
        ),
        (
            "failed, then read",
            &[(Failed, Some(30007)), (Read, None)],
            (Failed, Some(30007)),
        ),
        (
            "failed without a code, then read",
            &[(Failed, None), (Read, None)],
            (Failed, None),
        ),
        (
            "canceled, then read",
            &[(Canceled, None), (Read, None)],
            (Canceled, None),
        ),
        (
            "delivered, then a late undelivered",
            &[(Delivered, None), (Undelivered, Some(30006))],
            (Delivered, None),
        ),
        (
            "delivered with a stray code, then a late failure",
            &[(Delivered, Some(30003)), (Failed, Some(30006))],
            (Delivered, Some(30003)),
        ),
        (
            "read, then a late failure",
            &[(Delivered, None), (Read, None), (Failed, Some(30005))],
            (Read, None),
        ),
        (
            "read after sent is progress",
            &[(Sent, None), (Read, None)],
            (Read, None),
        ),
    ];
    let (account, contact) = (account_id("acme"), phone(N1));
    for (n, (case, callbacks, expected)) in (1..).zip(cases) {
        for by_id in [false, true] {
            let number = n * 2 + u32::from(by_id);
            let sid = format!("SMend{number}");
            record(store, &message("acme", N1, number, Some(&sid))).await;
            let mut last = None;
            for (i, &(status, code)) in callbacks.iter().enumerate() {
                let at = t(100 + i as i64);
                let update = if by_id {
                    store
                        .apply_status_by_id(
                            &account,
                            &contact,
                            &(message_id(number)),
                            status,
                            code,
                            at,
                        )
                        .await
                } else {
                    store
                        .apply_status(&MessageSid::new(&sid), status, code, at)
                        .await
                };
                let update = update.expect("apply_status");
                let is_last = i + 1 == callbacks.len();
                match (is_last, update) {
                    (false, StatusUpdate::Advanced(m)) => last = Some(m),
                    (true, StatusUpdate::Advanced(m)) if (m.status, m.error_code) == expected => {
                        last = Some(m)
                    }
                    (true, StatusUpdate::Unchanged(m)) => {
                        assert_eq!(Some(&m), last.as_ref(), "{case} (by id {by_id}): returned");
                    }
                    (_, other) => panic!("{case} (by id {by_id}), step {i}: {other:?}"),
                }
            }
            let stored = store
                .message_by_sid(&MessageSid::new(&sid))
                .await
                .expect("message_by_sid");
            let stored = stored.expect("message is stored");
            assert_eq!(
                (stored.status, stored.error_code),
                expected,
                "{case} (by id {by_id})"
            );
            assert_eq!(
                Some(stored),
                last,
                "{case} (by id {by_id}): nothing else changed"
            );
        }
    }
}

pub async fn apply_status_unknown_sid(store: &dyn Store) {
    record(store, &message("acme", N1, 1, Some("SM1"))).await;
    let update = store
        .apply_status(
            &MessageSid::new("SMnobody"),
            MessageStatus::Delivered,
            Some(30003),
            t(10),
        )
        .await
        .expect("apply_status");
    assert_eq!(update, StatusUpdate::UnknownSid);
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMnobody"))
            .await
            .expect("message_by_sid"),
        None
    );
}

pub async fn apply_status_by_id_for_a_message_without_sid(store: &dyn Store) {
    use MessageStatus::*;
    // A send the provider refused outright: no SID, addressed by our id.
    record(store, &message("acme", N1, 1, None)).await;
    let (account, contact) = (account_id("acme"), phone(N1));
    let by_id = |status, code, at| {
        let (account, contact) = (&account, &contact);
        async move {
            store
                .apply_status_by_id(account, contact, &message_id(1), status, code, t(at))
                .await
                .expect("apply_status_by_id")
        }
    };
    let update = by_id(Failed, Some(21211), 10).await;
    let StatusUpdate::Advanced(failed) = update else {
        panic!("expected Advanced, got {update:?}");
    };
    assert_eq!(
        (failed.status, failed.error_code, failed.updated_at),
        (Failed, Some(21211), t(10))
    );
    // Forward-only and first error kept, as by SID.
    let again = by_id(Sent, Some(30003), 11).await;
    assert_eq!(again, StatusUpdate::Unchanged(failed.clone()));
    let stored = store
        .conversation(&account, &contact, 10)
        .await
        .expect("conversation");
    assert_eq!(stored, [failed]);
    // No such message: nothing is created.
    let missing = store
        .apply_status_by_id(&account, &contact, &(message_id(2)), Failed, None, t(12))
        .await
        .expect("apply_status_by_id");
    assert_eq!(missing, StatusUpdate::UnknownSid);
    assert_eq!(
        store
            .conversation(&account, &contact, 10)
            .await
            .expect("conversation")
            .len(),
        1
    );
}

pub async fn apply_status_converges_whatever_the_order(store: &dyn Store) {
    use MessageStatus::*;
    /// A status callback, and the final state: (status, error code, at).
    type Callback = (MessageStatus, Option<u32>, i64);
    /// Callbacks, orders in which they arrive (indices, repeats are duplicates), final state.
    type Group<'a> = (&'a [Callback], &'a [&'a [usize]], Callback);
    let groups: [Group; 2] = [
        (
            &[(Sent, None, 10), (Delivered, None, 20)],
            &[&[0, 1], &[1, 0], &[1, 0, 1, 0], &[0, 0, 1, 1], &[1, 1, 0]],
            (Delivered, None, 20),
        ),
        (
            &[
                (Queued, None, 5),
                (Sent, None, 10),
                (Undelivered, Some(30003), 20),
            ],
            &[
                &[0, 1, 2],
                &[2, 1, 0],
                &[2, 0, 2, 1],
                &[1, 2, 2, 0],
                &[0, 2, 1, 1, 2],
            ],
            (Undelivered, Some(30003), 20),
        ),
    ];
    let mut n = 0;
    for (g, (callbacks, orders, expected)) in groups.into_iter().enumerate() {
        for order in orders {
            // Once in order, once all at the same time.
            for concurrent in [false, true] {
                n += 1;
                let sid = format!("SMconv{n}");
                record(store, &message("acme", N1, n, Some(&sid))).await;
                let message_sid = MessageSid::new(&sid);
                let apply_one = |&i: &usize| {
                    let (status, code, at) = callbacks[i];
                    store.apply_status(&message_sid, status, code, t(at))
                };
                if concurrent {
                    for result in join_all(order.iter().map(apply_one)).await {
                        result.expect("apply_status");
                    }
                } else {
                    for i in order.iter() {
                        apply_one(i).await.expect("apply_status");
                    }
                }
                let m = store
                    .message_by_sid(&MessageSid::new(&sid))
                    .await
                    .expect("message_by_sid")
                    .expect("message is stored");
                assert_eq!(
                    (m.status, m.error_code, m.updated_at.as_millis()),
                    expected,
                    "group {g}, order {order:?}, concurrent {concurrent}"
                );
            }
        }
    }
}
