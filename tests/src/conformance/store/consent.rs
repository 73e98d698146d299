//! Consent, phone health and imported opt-out lists.

use super::*;

pub async fn consent_newer_change_wins(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let change = |opted_out: bool, at: i64, source: &str| ConsentRecord {
        opted_out,
        changed_at: t(at),
        source: source.into(),
    };
    assert_eq!(store.consent(&acme, &contact).await.expect("consent"), None);

    let stop = change(true, 100, "STOP keyword");
    let start = change(false, 200, "START keyword");
    let steps = [
        (stop.clone(), true, stop.clone()),
        (change(false, 50, "operator"), false, stop.clone()),
        (start.clone(), true, start.clone()),
        (change(true, 150, "21610 from Twilio"), false, start.clone()),
    ];
    for (i, (record, applied, expected)) in steps.into_iter().enumerate() {
        let was_applied = store
            .set_consent(&acme, &contact, &record)
            .await
            .expect("set_consent");
        assert_eq!(was_applied, applied, "step {i}");
        assert_eq!(
            store.consent(&acme, &contact).await.expect("consent"),
            Some(expected),
            "step {i}"
        );
    }
    let elsewhere = [
        (account_id("acme"), phone(N2)),
        (account_id("other"), phone(N1)),
    ];
    for (account, contact) in elsewhere {
        assert_eq!(
            store.consent(&account, &contact).await.expect("consent"),
            None
        );
    }
}

fn health(status: PhoneStatus, failures: u32) -> PhoneHealth {
    PhoneHealth {
        status,
        consecutive_hard_failures: failures,
    }
}

async fn phone_event(
    store: &dyn Store,
    account: &str,
    contact: &str,
    event: PhoneEvent,
    policy: BouncePolicy,
) -> PhoneHealth {
    store
        .record_phone_event(&account_id(account), &phone(contact), event, policy)
        .await
        .expect("record_phone_event")
}

async fn stored_health(store: &dyn Store, account: &str, contact: &str) -> PhoneHealth {
    store
        .phone_health(&account_id(account), &phone(contact))
        .await
        .expect("phone_health")
}

pub async fn phone_health_defaults_to_active(store: &dyn Store) {
    assert_eq!(
        stored_health(store, "acme", N1).await,
        health(PhoneStatus::Active, 0)
    );
    // A delivery to a phone never seen is still active (and reads back the same).
    let after = phone_event(
        store,
        "acme",
        N1,
        PhoneEvent::Delivered,
        BouncePolicy::default(),
    )
    .await;
    assert_eq!(after, health(PhoneStatus::Active, 0));
    assert_eq!(stored_health(store, "acme", N1).await, after);
}

pub async fn phone_hard_failures_bounce_and_delivery_clears(store: &dyn Store) {
    let policy = BouncePolicy {
        hard_failures_to_bounce: 3,
    };
    let steps = [
        (PhoneEvent::HardFailure, health(PhoneStatus::Active, 1)),
        (PhoneEvent::HardFailure, health(PhoneStatus::Active, 2)),
        (PhoneEvent::HardFailure, health(PhoneStatus::Bounced, 3)),
        (PhoneEvent::HardFailure, health(PhoneStatus::Bounced, 4)),
        (PhoneEvent::Delivered, health(PhoneStatus::Active, 0)),
        (PhoneEvent::HardFailure, health(PhoneStatus::Active, 1)),
        (PhoneEvent::InboundText, health(PhoneStatus::Active, 0)),
    ];
    for (i, (event, want)) in steps.into_iter().enumerate() {
        assert_eq!(
            phone_event(store, "acme", N1, event, policy).await,
            want,
            "step {i}: {event:?}"
        );
        assert_eq!(
            stored_health(store, "acme", N1).await,
            want,
            "step {i} stored"
        );
    }
    // Health is per (account, phone).
    phone_event(store, "acme", N2, PhoneEvent::HardFailure, policy).await;
    assert_eq!(
        stored_health(store, "other", N1).await,
        health(PhoneStatus::Active, 0)
    );
    assert_eq!(
        stored_health(store, "acme", N2).await,
        health(PhoneStatus::Active, 1)
    );
}

pub async fn phone_paused_is_untouched_by_traffic(store: &dyn Store) {
    let policy = BouncePolicy {
        hard_failures_to_bounce: 1,
    };
    let paused = phone_event(
        store,
        "acme",
        N1,
        PhoneEvent::OperatorSet(PhoneStatus::Paused),
        policy,
    )
    .await;
    assert_eq!(paused, health(PhoneStatus::Paused, 0));
    for event in [
        PhoneEvent::HardFailure,
        PhoneEvent::Delivered,
        PhoneEvent::InboundText,
        PhoneEvent::HardFailure,
    ] {
        assert_eq!(
            phone_event(store, "acme", N1, event, policy).await,
            paused,
            "{event:?}"
        );
    }
    assert_eq!(stored_health(store, "acme", N1).await, paused);
}

pub async fn phone_operator_sets_the_status(store: &dyn Store) {
    let policy = BouncePolicy::default();
    for _ in 0..2 {
        phone_event(store, "acme", N1, PhoneEvent::HardFailure, policy).await;
    }
    let cases = [
        (PhoneStatus::Bounced, health(PhoneStatus::Bounced, 0)),
        (PhoneStatus::Paused, health(PhoneStatus::Paused, 0)),
        (PhoneStatus::Active, health(PhoneStatus::Active, 0)),
    ];
    for (status, want) in cases {
        assert_eq!(
            phone_event(store, "acme", N1, PhoneEvent::OperatorSet(status), policy).await,
            want,
            "{status}"
        );
        assert_eq!(stored_health(store, "acme", N1).await, want, "{status}");
    }
}

pub async fn phone_concurrent_hard_failures_all_count(store: &dyn Store) {
    let policy = BouncePolicy {
        hard_failures_to_bounce: 5,
    };
    let acme = account_id("acme");
    let contact = phone(N1);
    let results = join_all(
        (0..10).map(|_| store.record_phone_event(&acme, &contact, PhoneEvent::HardFailure, policy)),
    )
    .await;
    let mut counts: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("record_phone_event").consecutive_hard_failures)
        .collect();
    counts.sort_unstable();
    // Each writer saw its own increment: no update was lost or applied twice.
    assert_eq!(counts, (1..=10).collect::<Vec<u32>>());
    assert_eq!(
        stored_health(store, "acme", N1).await,
        health(PhoneStatus::Bounced, 10)
    );
}

fn opt_out(contact: &str, at: i64, source: &str) -> OptOut {
    OptOut {
        phone: phone(contact),
        changed_at: t(at),
        source: source.into(),
    }
}

async fn listed_opt_outs(store: &dyn Store, account: &str) -> Vec<OptOut> {
    store
        .opt_outs(&account_id(account), None, 100)
        .await
        .expect("opt_outs")
}

pub async fn opt_out_import_adds_once_and_keeps_newer_opt_ins(store: &dyn Store) {
    let acme = account_id("acme");
    // N2 opted out by keyword, N3 opted back in after the date the import gives.
    let consent = |opted_out, at: i64, source: &str| ConsentRecord {
        opted_out,
        changed_at: t(at),
        source: source.into(),
    };
    store
        .set_consent(&acme, &phone(N2), &consent(true, 10, "STOP keyword"))
        .await
        .expect("set_consent");
    store
        .set_consent(&acme, &phone(N3), &consent(false, 500, "START keyword"))
        .await
        .expect("set_consent");

    let batch = [
        opt_out(N1, 100, "import"),
        opt_out(N2, 100, "import"),
        opt_out(N3, 100, "import"),
        opt_out(N4, 100, "import"),
    ];
    let import = || async {
        store
            .import_opt_outs(&acme, &batch)
            .await
            .expect("import_opt_outs")
    };
    let first = import().await;
    assert_eq!(
        first,
        vec![
            OptOutImport::Added,
            OptOutImport::AlreadyOptedOut,
            OptOutImport::NewerOptIn,
            OptOutImport::Added,
        ]
    );
    // Running the same import again adds nothing.
    let again = import().await;
    assert_eq!(
        again,
        vec![
            OptOutImport::AlreadyOptedOut,
            OptOutImport::AlreadyOptedOut,
            OptOutImport::NewerOptIn,
            OptOutImport::AlreadyOptedOut,
        ]
    );
    // The keyword's record is kept as it was; the imported ones are stored as given.
    let kept = store.consent(&acme, &phone(N2)).await.expect("consent");
    assert_eq!(kept, Some(consent(true, 10, "STOP keyword")));
    let added = store.consent(&acme, &phone(N1)).await.expect("consent");
    assert_eq!(added, Some(consent(true, 100, "import")));
    assert_eq!(
        store.consent(&acme, &phone(N3)).await.expect("consent"),
        Some(consent(false, 500, "START keyword"))
    );
    // An opt-in older than the import does not stop it.
    store
        .set_consent(&acme, &phone(N3), &consent(false, 50, "operator"))
        .await
        .expect("set_consent");
    let other = account_id("other");
    store
        .set_consent(&other, &phone(N1), &consent(false, 50, "START keyword"))
        .await
        .expect("set_consent");
    let imported = store
        .import_opt_outs(&other, &[opt_out(N1, 100, "import")])
        .await
        .expect("import_opt_outs");
    assert_eq!(imported, vec![OptOutImport::Added]);
    assert_eq!(
        store
            .import_opt_outs(&acme, &[])
            .await
            .expect("empty import"),
        vec![]
    );
}

pub async fn opt_outs_are_listed_per_account_in_phone_order(store: &dyn Store) {
    let acme = account_id("acme");
    let stop = |at: i64| ConsentRecord {
        opted_out: true,
        changed_at: t(at),
        source: "STOP keyword".into(),
    };
    // Keyword opt-outs and imported ones both count; out of order on purpose.
    store
        .set_consent(&acme, &phone(N3), &stop(30))
        .await
        .expect("set_consent");
    store
        .import_opt_outs(
            &acme,
            &[opt_out(N4, 40, "import"), opt_out(N1, 10, "import")],
        )
        .await
        .expect("import_opt_outs");
    store
        .set_consent(&acme, &phone(N2), &stop(20))
        .await
        .expect("set_consent");
    store
        .set_consent(&account_id("other"), &phone(N1), &stop(5))
        .await
        .expect("set_consent");
    let phones =
        |list: &[OptOut]| -> Vec<String> { list.iter().map(|o| o.phone.to_string()).collect() };
    let all = listed_opt_outs(store, "acme").await;
    assert_eq!(phones(&all), vec![N1, N2, N3, N4]);
    assert_eq!(all[0], opt_out(N1, 10, "import"));
    assert_eq!(all[2], opt_out(N3, 30, "STOP keyword"));

    // Paging: after the last phone of a page.
    let page = store.opt_outs(&acme, None, 2).await.expect("first page");
    assert_eq!(phones(&page), vec![N1, N2]);
    let next = store
        .opt_outs(&acme, Some(&phone(N2)), 2)
        .await
        .expect("second page");
    assert_eq!(phones(&next), vec![N3, N4]);
    let end = store
        .opt_outs(&acme, Some(&phone(N4)), 2)
        .await
        .expect("past the end");
    assert!(end.is_empty(), "{end:?}");

    // Opting back in takes a phone off the list.
    let start = ConsentRecord {
        opted_out: false,
        changed_at: t(100),
        source: "START keyword".into(),
    };
    store
        .set_consent(&acme, &phone(N2), &start)
        .await
        .expect("set_consent");
    assert_eq!(
        phones(&listed_opt_outs(store, "acme").await),
        vec![N1, N3, N4]
    );
    assert_eq!(phones(&listed_opt_outs(store, "other").await), vec![N1]);
    assert!(listed_opt_outs(store, "nobody").await.is_empty());
}
