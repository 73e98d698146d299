//! Disabled goals, the goal log, the contact cache and queue job failures.

use super::*;

pub async fn disabled_goals_disable_list_reset(store: &dyn Store) {
    let (acme, other) = (account_id("acme"), account_id("other"));
    for name in ["replied", "optedout", "replied"] {
        store
            .disable_goal(&acme, &GoalName::parse(name).expect("goal name"))
            .await
            .expect("disable_goal");
    }
    store
        .disable_goal(&other, &GoalName::parse("clicked").expect("goal name"))
        .await
        .expect("disable_goal");

    let names = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        store.disabled_goals(&acme).await.expect("disabled_goals"),
        names(&["optedout", "replied"])
    );
    assert_eq!(store.reset_disabled_goals(&acme).await.expect("reset"), 2);
    assert!(
        store
            .disabled_goals(&acme)
            .await
            .expect("disabled_goals")
            .is_empty()
    );
    assert_eq!(store.reset_disabled_goals(&acme).await.expect("reset"), 0);
    assert_eq!(
        store.disabled_goals(&other).await.expect("disabled_goals"),
        names(&["clicked"])
    );
}

pub async fn contact_cache_hit_expiry_forget(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let cached = CachedContact {
        contact: json!({"id": 42, "given_name": "Ada", "tags": [7, 9]}),
        expires_at: t(10_000),
    };
    store
        .cache_contact(&acme, &contact, &cached)
        .await
        .expect("cache_contact");

    let reads = [
        (acme.clone(), contact.clone(), 5_000, Some(&cached)),
        (acme.clone(), contact.clone(), 10_001, None),
        (acme.clone(), phone(N2), 5_000, None),
        (account_id("other"), contact.clone(), 5_000, None),
    ];
    for (account, phone, now, expected) in reads {
        let hit = store
            .cached_contact(&account, &phone, t(now))
            .await
            .expect("cached_contact");
        assert_eq!(hit.as_ref(), expected, "{account} {phone:?} at {now}");
    }

    // Caching again replaces the entry.
    let refreshed = CachedContact {
        contact: json!({"id": 42, "given_name": "Ada L."}),
        expires_at: t(20_000),
    };
    store
        .cache_contact(&acme, &contact, &refreshed)
        .await
        .expect("cache_contact");
    let hit = store
        .cached_contact(&acme, &contact, t(15_000))
        .await
        .expect("cached_contact");
    assert_eq!(hit, Some(refreshed));

    store
        .forget_contact(&acme, &contact)
        .await
        .expect("forget_contact");
    assert_eq!(
        store
            .cached_contact(&acme, &contact, t(0))
            .await
            .expect("cached_contact"),
        None
    );
    store
        .forget_contact(&acme, &contact)
        .await
        .expect("forgetting twice is fine");
}

pub async fn job_failures_keep_the_latest_until_they_expire(store: &dyn Store) {
    let failure = |error: &str, at: i64| JobFailure {
        error: error.into(),
        failed_at: t(at),
    };
    let read = |queue, id: &'static str, now: i64| async move {
        store
            .job_failure(queue, id, t(now))
            .await
            .expect("job_failure")
    };
    assert_eq!(read(QueueName::Send, "m1", 0).await, None);
    store
        .record_job_failure(QueueName::Send, "m1", &failure("twilio timed out", 1_000))
        .await
        .expect("record_job_failure");
    store
        .record_job_failure(
            QueueName::Send,
            "m1",
            &failure("twilio answered 500", 2_000),
        )
        .await
        .expect("record_job_failure");
    store
        .record_job_failure(QueueName::Automation, "m2", &failure("keap 503", 3_000))
        .await
        .expect("record_job_failure");
    assert_eq!(
        read(QueueName::Send, "m1", 2_500).await,
        Some(failure("twilio answered 500", 2_000))
    );
    assert_eq!(read(QueueName::Automation, "m1", 2_500).await, None);
    assert_eq!(
        read(QueueName::Automation, "m2", 3_000).await,
        Some(failure("keap 503", 3_000))
    );
    let retention = i64::try_from(JOB_FAILURE_RETENTION.as_millis()).expect("fits");
    assert_eq!(read(QueueName::Send, "m1", 2_000 + retention).await, None);
}

/// A goal job's first read: the account with whether that goal is disabled.
pub async fn account_for_goal_reads_the_goals_flag(store: &dyn Store) {
    let acme = account("acme", &[N1]);
    let goal = |name: &str| GoalName::parse(name).expect("goal name");
    let read = async |id: &AccountId, name: &str| {
        store
            .account_for_goal(id, &goal(name))
            .await
            .expect("account_for_goal")
    };
    assert_eq!(read(&acme.id, "replied").await, None);

    put(store, &acme).await;
    store
        .disable_goal(&acme.id, &goal("optedout"))
        .await
        .expect("disable_goal");
    store
        .disable_goal(&account_id("other"), &goal("replied"))
        .await
        .expect("disable_goal");
    let found = |goal_disabled: bool| {
        Some(AccountForGoal {
            account: acme.clone(),
            goal_disabled,
        })
    };
    assert_eq!(read(&acme.id, "replied").await, found(false));
    assert_eq!(read(&acme.id, "optedout").await, found(true));
    assert_eq!(read(&account_id("other"), "replied").await, None);

    store.reset_disabled_goals(&acme.id).await.expect("reset");
    assert_eq!(read(&acme.id, "optedout").await, found(false));
}

/// A reply address's grant is read back by its token until it expires; another token
/// finds nothing.
pub async fn reply_grants_keep_until_they_expire(store: &dyn Store) {
    use smsflow_shared::domain::reply_address::{ReplyGrant, ReplyToken};
    let acme = account("acme", &[N4]);
    let token = ReplyToken::generate();
    let grant = ReplyGrant::issue(
        &acme,
        &phone(N1),
        Some("mary"),
        &phone(N4),
        t(1_000),
        Duration::from_millis(9_000),
    );
    store
        .put_reply_grant(&token, &grant)
        .await
        .expect("put_reply_grant");
    let reads = [
        (token.clone(), 1_000, Some(&grant)),
        (token.clone(), 9_999, Some(&grant)),
        (token.clone(), 10_000, None),
        (ReplyToken::generate(), 1_000, None),
    ];
    for (read, now, expected) in reads {
        let found = store.reply_grant(&read, t(now)).await.expect("reply_grant");
        assert_eq!(found.as_ref(), expected, "{read:?} at {now}");
    }
}
