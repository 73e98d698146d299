//! The send path's combined reads and writes (`SendPathStore`): each reads or writes what
//! the narrow calls it stands for would, with their invariants.

use super::*;

const KEEP: Duration = Duration::from_secs(60);
const LEASE: Duration = Duration::from_secs(15);

fn request_key(id: &str) -> IdempotencyKey {
    IdempotencyKey::send_request_by_id(&account_id("acme"), id)
}

fn to_take<'a>(
    key: &'a IdempotencyKey,
    now: i64,
    lapsed: Option<&'a IdempotencyRecord>,
) -> ClaimToTake<'a> {
    ClaimToTake {
        key,
        terms: ClaimTerms {
            keep: KEEP,
            lease: LEASE,
        },
        now: t(now),
        lapsed,
    }
}

async fn claim_and_admit(
    store: &dyn Store,
    claim: ClaimToTake<'_>,
    id: &str,
    limit: u32,
) -> ClaimAndAdmit {
    store
        .claim_and_admit(&claim, &account_id("acme"), &MessageId::new(id), limit)
        .await
        .expect("claim_and_admit")
}

async fn pending(store: &dyn Store) -> u32 {
    store
        .pending_sends(&account_id("acme"))
        .await
        .expect("pending_sends")
}

pub async fn send_path_request_view_reads_claim_standing_and_contact(store: &dyn Store) {
    let (acme, to) = (account_id("acme"), phone(N1));
    let key = request_key("r1");
    let view = |phone: Option<PhoneNumber>, with_contact: bool, now: i64| {
        let (acme, key) = (acme.clone(), key.clone());
        async move {
            store
                .request_view(&key, &acme, phone.as_ref(), with_contact, t(now))
                .await
                .expect("request_view")
        }
    };
    assert_eq!(view(None, false, 0).await, RequestView::default());
    let empty = view(Some(to.clone()), true, 0).await;
    assert_eq!(empty.standing, Some(PhoneStanding::default()));
    assert_eq!((empty.claim, empty.contact), (None, None));

    let terms = ClaimTerms {
        keep: KEEP,
        lease: LEASE,
    };
    store.claim(&key, terms, t(0)).await.expect("claim");
    let opted_out = ConsentRecord {
        opted_out: true,
        changed_at: t(1),
        source: "STOP keyword".into(),
    };
    store
        .set_consent(&acme, &to, &opted_out)
        .await
        .expect("set_consent");
    let paused = PhoneEvent::OperatorSet(PhoneStatus::Paused);
    store
        .record_phone_event(&acme, &to, paused, BouncePolicy::default())
        .await
        .expect("record_phone_event");
    let cached = CachedContact {
        contact: json!({"id": 42}),
        expires_at: t(10_000),
    };
    store
        .cache_contact(&acme, &to, &cached)
        .await
        .expect("cache_contact");

    let full = view(Some(to.clone()), true, 5_000).await;
    assert_eq!(full.claim.map(|c| c.created_at), Some(t(0)));
    let standing = full.standing.expect("standing");
    assert!(standing.opted_out());
    assert_eq!(standing.health.status, PhoneStatus::Paused);
    assert_eq!(full.contact, Some(cached));
    // The contact only when asked for; what expired is not read.
    assert_eq!(view(Some(to.clone()), false, 5_000).await.contact, None);
    let later = view(Some(to), true, 70_000).await;
    assert_eq!((later.claim, later.contact), (None, None));
}

pub async fn send_path_claim_and_admit_is_both_or_neither(store: &dyn Store) {
    let key = request_key("r1");
    assert_eq!(
        claim_and_admit(store, to_take(&key, 0, None), "m1", 2).await,
        ClaimAndAdmit::Admitted
    );
    assert_eq!(pending(store).await, 1);
    let record = match store.claim(&key, to_take(&key, 0, None).terms, t(1)).await {
        Ok(Claim::Existing(record)) => record,
        other => panic!("the claim is held: {other:?}"),
    };
    assert_eq!(record.lease_until, Some(t(15_000)));
    // The key is no longer free: nothing is written.
    assert_eq!(
        claim_and_admit(store, to_take(&key, 1, None), "m1", 2).await,
        ClaimAndAdmit::ClaimTaken
    );
    // Its holder died: taken over under the record read, the message admitted once.
    let not_lapsed = to_take(&key, 14_000, Some(&record));
    assert_eq!(
        claim_and_admit(store, not_lapsed, "m1", 2).await,
        ClaimAndAdmit::ClaimTaken
    );
    let takeover = to_take(&key, 20_000, Some(&record));
    assert_eq!(takeover.first_claimed_at(), t(0));
    assert_eq!(
        claim_and_admit(store, takeover, "m1", 2).await,
        ClaimAndAdmit::Admitted
    );
    assert_eq!(pending(store).await, 1);

    // Queue full: neither the claim nor a slot.
    let (k2, k3) = (request_key("r2"), request_key("r3"));
    assert_eq!(
        claim_and_admit(store, to_take(&k2, 0, None), "m2", 2).await,
        ClaimAndAdmit::Admitted
    );
    assert_eq!(
        claim_and_admit(store, to_take(&k3, 0, None), "m3", 2).await,
        ClaimAndAdmit::QueueFull
    );
    assert_eq!(
        claim_and_admit(store, to_take(&k3, 0, None), "m3", 0).await,
        ClaimAndAdmit::QueueFull
    );
    assert_eq!(pending(store).await, 2);
    let terms = to_take(&k3, 0, None).terms;
    assert_eq!(
        store.claim(&k3, terms, t(5)).await.expect("claim"),
        Claim::New {
            first_claimed_at: t(5)
        }
    );
}

pub async fn send_path_claim_and_admit_is_exact_under_concurrency(store: &dyn Store) {
    let keys: Vec<IdempotencyKey> = (0..10).map(|i| request_key(&format!("r{i}"))).collect();
    let ids: Vec<String> = (0..10).map(|i| format!("m{i}")).collect();
    let admitted = join_all(
        keys.iter()
            .zip(&ids)
            .map(|(key, id)| claim_and_admit(store, to_take(key, 0, None), id, 3)),
    )
    .await;
    let count = |wanted: ClaimAndAdmit| admitted.iter().filter(|a| **a == wanted).count();
    assert_eq!(count(ClaimAndAdmit::Admitted), 3);
    assert_eq!(count(ClaimAndAdmit::QueueFull), 7);
    assert_eq!(pending(store).await, 3);

    // One request's copies at once: one claim, one slot.
    let key = request_key("same");
    let copies =
        join_all((0..10).map(|_| claim_and_admit(store, to_take(&key, 0, None), "m", 9))).await;
    let won = copies
        .iter()
        .filter(|a| **a == ClaimAndAdmit::Admitted)
        .count();
    assert_eq!(won, 1, "{copies:?}");
    assert_eq!(pending(store).await, 4);
}

pub async fn send_path_begin_send_records_the_message_with_the_attempt(store: &dyn Store) {
    let acme = account_id("acme");
    let (stopped, to) = (phone(N2), phone(N1));
    let stop = ConsentRecord {
        opted_out: true,
        changed_at: t(1),
        source: "STOP keyword".into(),
    };
    store
        .set_consent(&acme, &stopped, &stop)
        .await
        .expect("set_consent");
    let refused = message("acme", N2, 1, None);
    assert_eq!(
        store
            .begin_send(&refused, None, t(10))
            .await
            .expect("begin"),
        AttemptStart::OptedOut
    );
    assert!(conversation_ids(store, "acme", N2, 10).await.is_empty());
    assert_eq!(store.send_attempt(&refused.id).await.expect("read"), None);

    let first = message("acme", N1, 2, None);
    assert_eq!(
        store.begin_send(&first, None, t(20)).await.expect("begin"),
        AttemptStart::Begun
    );
    let stored = store.message(&acme, &to, &first.id).await.expect("message");
    assert_eq!(stored, Some(first.clone()));
    let unresolved = AttemptState::Unresolved {
        attempted_at: t(20),
    };
    assert_eq!(
        store.begin_send(&first, None, t(30)).await.expect("begin"),
        AttemptStart::Earlier(unresolved)
    );
    // A replacing attempt leaves the stored message as it is (a callback moved it on).
    store
        .apply_status_by_id(&acme, &to, &first.id, MessageStatus::Sent, None, t(25))
        .await
        .expect("apply_status_by_id");
    assert_eq!(
        store
            .begin_send(&first, Some(t(20)), t(40))
            .await
            .expect("begin"),
        AttemptStart::Begun
    );
    let after = store.message(&acme, &to, &first.id).await.expect("message");
    assert_eq!(after.map(|m| m.status), Some(MessageStatus::Sent));
    assert_eq!(
        conversation_ids(store, "acme", N1, 10).await,
        vec![first.id]
    );
}

pub async fn send_path_settle_send_attaches_releases_and_finishes(store: &dyn Store) {
    let acme = account_id("acme");
    let to = phone(N1);
    let (sent, rejected) = (message("acme", N1, 1, None), message("acme", N1, 2, None));
    for m in [&sent, &rejected] {
        assert!(store.try_admit(&acme, &m.id, 5).await.expect("try_admit"));
        store.begin_send(m, None, t(10)).await.expect("begin");
    }
    let view = store
        .delivery_view(&acme, &to, &sent.id)
        .await
        .expect("delivery_view");
    assert_eq!(
        view,
        DeliveryView {
            attempt: Some(AttemptState::Unresolved {
                attempted_at: t(10)
            }),
            standing: PhoneStanding::default(),
        }
    );
    let sid = MessageSid::new("SM1");
    let settle = |m: &MessageRecord, sid: Option<&MessageSid>, outcome: &str| {
        let (id, outcome, sid) = (m.id.clone(), outcome.to_string(), sid.cloned());
        let (acme, to) = (acme.clone(), to.clone());
        async move {
            let send = SettledSend {
                account: &acme,
                phone: &to,
                message_id: &id,
                provider_sid: sid.as_ref(),
                outcome: &outcome,
            };
            store.settle_send(&send).await.expect("settle_send");
        }
    };
    settle(&sent, Some(&sid), "sent as SM1").await;
    assert_eq!(pending(store).await, 1);
    // A repeat (a redelivered job) changes nothing: the first outcome stays.
    settle(&sent, Some(&sid), "sent as SM9").await;
    settle(&rejected, None, "rejected 21211").await;
    assert_eq!(pending(store).await, 0);

    let found = store.message_by_sid(&sid).await.expect("message_by_sid");
    assert_eq!(found.map(|m| m.id), Some(sent.id.clone()));
    let finished = |at: i64, outcome: &str| {
        Some(AttemptState::Finished {
            attempted_at: t(at),
            outcome: outcome.into(),
        })
    };
    assert_eq!(
        store.send_attempt(&sent.id).await.expect("read"),
        finished(10, "sent as SM1")
    );
    assert_eq!(
        store.send_attempt(&rejected.id).await.expect("read"),
        finished(10, "rejected 21211")
    );
}
