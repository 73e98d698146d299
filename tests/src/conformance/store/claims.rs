//! Idempotency claims and send attempts.

use super::*;

/// Claims kept `keep_ms` and leased `lease_ms`.
fn terms(keep_ms: u64, lease_ms: u64) -> ClaimTerms {
    ClaimTerms {
        keep: Duration::from_millis(keep_ms),
        lease: Duration::from_millis(lease_ms),
    }
}

fn new_claim(first_claimed_at: i64) -> Claim {
    Claim::New {
        first_claimed_at: t(first_claimed_at),
    }
}

pub async fn idempotency_claim_complete_release(store: &dyn Store) {
    let terms = terms(60_000, 60_000);
    let claim = |key: &'static str, now: i64| {
        let key = IdempotencyKey::automation_job(key);
        async move { store.claim(&key, terms, t(now)).await }
    };
    let existing = |response: Option<&str>, created_at: i64| {
        Claim::Existing(IdempotencyRecord {
            response: response.map(str::to_string),
            created_at: t(created_at),
            expires_at: t(created_at + 60_000),
            lease_until: Some(t(created_at + 60_000)),
        })
    };

    assert_eq!(claim("k1", 0).await.expect("claim"), new_claim(0));
    assert_eq!(claim("k1", 1_000).await.expect("claim"), existing(None, 0));
    assert_eq!(claim("k2", 1_000).await.expect("claim"), new_claim(1_000));

    store
        .complete(&IdempotencyKey::automation_job("k1"), r#"{"sid":"SM1"}"#)
        .await
        .expect("complete");
    assert_eq!(
        claim("k1", 2_000).await.expect("claim"),
        existing(Some(r#"{"sid":"SM1"}"#), 0)
    );

    store
        .release(&IdempotencyKey::automation_job("k1"))
        .await
        .expect("release");
    assert_eq!(claim("k1", 3_000).await.expect("claim"), new_claim(3_000));
    assert_eq!(
        claim("k1", 3_001).await.expect("claim"),
        existing(None, 3_000)
    );
    // The other key was never touched.
    assert_eq!(
        claim("k2", 3_001).await.expect("claim"),
        existing(None, 1_000)
    );
}

pub async fn idempotency_expired_claim_is_new(store: &dyn Store) {
    let terms = terms(1_000, 1_000);
    assert_eq!(
        store
            .claim(&IdempotencyKey::automation_job("k"), terms, t(0))
            .await
            .expect("claim"),
        new_claim(0)
    );
    assert!(matches!(
        store
            .claim(&IdempotencyKey::automation_job("k"), terms, t(999))
            .await
            .expect("claim"),
        Claim::Existing(_)
    ));
    assert_eq!(
        store
            .claim(&IdempotencyKey::automation_job("k"), terms, t(5_000))
            .await
            .expect("claim"),
        new_claim(5_000)
    );
    assert_eq!(
        store
            .claim(&IdempotencyKey::automation_job("k"), terms, t(5_001))
            .await
            .expect("claim"),
        Claim::Existing(IdempotencyRecord {
            response: None,
            created_at: t(5_000),
            expires_at: t(6_000),
            lease_until: Some(t(6_000)),
        })
    );
}

/// An unanswered claim whose lease lapsed (its holder died) is taken over, keeping when
/// the key was first claimed; an answered one never is.
pub async fn idempotency_lapsed_lease_is_taken_over(store: &dyn Store) {
    let terms = terms(60_000, 5_000);
    let claim = |key: &'static str, now: i64| {
        let key = IdempotencyKey::automation_job(key);
        async move { store.claim(&key, terms, t(now)).await }
    };
    assert_eq!(claim("crashed", 0).await.expect("claim"), new_claim(0));
    assert!(matches!(
        claim("crashed", 4_999).await.expect("claim"),
        Claim::Existing(IdempotencyRecord { response: None, .. })
    ));
    assert_eq!(claim("crashed", 5_000).await.expect("claim"), new_claim(0));
    // The taker holds a fresh lease.
    assert_eq!(
        claim("crashed", 9_999).await.expect("claim"),
        Claim::Existing(IdempotencyRecord {
            response: None,
            created_at: t(0),
            expires_at: t(65_000),
            lease_until: Some(t(10_000)),
        })
    );

    assert_eq!(claim("answered", 0).await.expect("claim"), new_claim(0));
    store
        .complete(&IdempotencyKey::automation_job("answered"), "done")
        .await
        .expect("complete");
    assert!(matches!(
        claim("answered", 30_000).await.expect("claim"),
        Claim::Existing(IdempotencyRecord {
            response: Some(_),
            ..
        })
    ));

    // Many claimants of one lapsed claim: exactly one takes it over.
    assert_eq!(claim("race", 0).await.expect("claim"), new_claim(0));
    assert_eq!(new_claims_of_ten(store, "race", terms, 6_000).await, 1);
}

pub async fn idempotency_claim_is_exclusive_under_concurrency(store: &dyn Store) {
    let terms = terms(60_000, 60_000);
    assert_eq!(new_claims_of_ten(store, "race", terms, 0).await, 1);
}

pub async fn send_attempts_begin_once_and_finish_once(store: &dyn Store) {
    let acme = account_id("acme");
    let to = phone(N1);
    assert_eq!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
        None
    );
    let (acme, to) = (&acme, &to);
    let begin = |id: &'static str, replacing: Option<i64>, now: i64| {
        let id = MessageId::new(id);
        async move {
            store
                .begin_attempt(acme, to, &id, replacing.map(t), t(now))
                .await
        }
    };
    assert_eq!(
        begin("m1", None, 100).await.expect("begin"),
        AttemptStart::Begun
    );
    let unresolved = AttemptState::Unresolved {
        attempted_at: t(100),
    };
    assert_eq!(
        begin("m1", None, 200).await.expect("begin"),
        AttemptStart::Earlier(unresolved.clone())
    );
    // Replacing needs the very attempt on record.
    assert_eq!(
        begin("m1", Some(99), 300).await.expect("begin"),
        AttemptStart::Earlier(unresolved)
    );
    assert_eq!(
        begin("m1", Some(100), 300).await.expect("begin"),
        AttemptStart::Begun
    );
    assert_eq!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
        Some(AttemptState::Unresolved {
            attempted_at: t(300)
        })
    );

    store
        .finish_attempt(&MessageId::new("m1"), "sent as SM1")
        .await
        .expect("finish");
    store
        .finish_attempt(&MessageId::new("m1"), "sent as SM2")
        .await
        .expect("finish again");
    let finished = AttemptState::Finished {
        attempted_at: t(300),
        outcome: "sent as SM1".into(),
    };
    assert_eq!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
        Some(finished.clone())
    );
    assert_eq!(
        begin("m1", Some(300), 400).await.expect("begin"),
        AttemptStart::Earlier(finished)
    );

    // Concurrent copies of one job: one attempt.
    let m2 = MessageId::new("m2");
    let begun = join_all((0..10).map(|_| store.begin_attempt(acme, to, &m2, None, t(0))))
        .await
        .into_iter()
        .filter(|r| *r.as_ref().expect("begin") == AttemptStart::Begun)
        .count();
    assert_eq!(begun, 1);
}

pub async fn send_attempts_withdraw_only_the_attempt_named(store: &dyn Store) {
    let acme = account_id("acme");
    let to = phone(N1);
    let m1 = MessageId::new("m1");
    let begin = |now: i64| store.begin_attempt(&acme, &to, &m1, None, t(now));
    let m1 = &m1;
    let withdraw = |at: i64| async move {
        store.withdraw_attempt(m1, t(at)).await.expect("withdraw");
    };
    let attempt = || async { store.send_attempt(m1).await.expect("read") };
    assert_eq!(begin(100).await.expect("begin"), AttemptStart::Begun);
    withdraw(99).await;
    assert!(attempt().await.is_some());
    withdraw(100).await;
    assert_eq!(attempt().await, None);
    assert_eq!(begin(200).await.expect("begin"), AttemptStart::Begun);
    store
        .finish_attempt(m1, "rejected 21211")
        .await
        .expect("finish");
    withdraw(200).await;
    assert!(matches!(
        attempt().await,
        Some(AttemptState::Finished { .. })
    ));
}

/// STOP wins at the last moment: no attempt is recorded once an opt-out is stored; an
/// opt-in (or another account's or phone's STOP) does not stand in the way.
pub async fn send_attempts_are_refused_after_an_opt_out(store: &dyn Store) {
    let acme = account_id("acme");
    let (stopped, other) = (phone(N1), phone(N2));
    let consent = |opted_out: bool, at: i64| ConsentRecord {
        opted_out,
        changed_at: t(at),
        source: "STOP keyword".into(),
    };
    store
        .set_consent(&acme, &stopped, &consent(true, 10))
        .await
        .expect("set_consent");
    let begin = |to: &PhoneNumber, id: &'static str, account: &AccountId| {
        let (to, account) = (to.clone(), account.clone());
        async move {
            store
                .begin_attempt(&account, &to, &MessageId::new(id), None, t(20))
                .await
        }
    };
    assert_eq!(
        begin(&stopped, "m1", &acme).await.expect("begin"),
        AttemptStart::OptedOut
    );
    assert_eq!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        begin(&other, "m2", &acme).await.expect("begin"),
        AttemptStart::Begun
    );
    let bravo = account_id("bravo");
    assert_eq!(
        begin(&stopped, "m3", &bravo).await.expect("begin"),
        AttemptStart::Begun
    );

    store
        .set_consent(&acme, &stopped, &consent(false, 30))
        .await
        .expect("set_consent");
    assert_eq!(
        begin(&stopped, "m4", &acme).await.expect("begin"),
        AttemptStart::Begun
    );
}

/// Ten claimants of `key` at once at `at`: how many got the claim first claimed at 0.
async fn new_claims_of_ten(store: &dyn Store, key: &str, terms: ClaimTerms, at: i64) -> usize {
    let key = IdempotencyKey::automation_job(key);
    join_all((0..10).map(|_| store.claim(&key, terms, t(at))))
        .await
        .into_iter()
        .map(|c| c.expect("claim"))
        .filter(|c| *c == new_claim(0))
        .count()
}
