//! The team inbox's sign-in links, sign-in counts, sessions and read marks.

use std::collections::BTreeMap;

use smsflow_shared::domain::EmailAddress;
use smsflow_shared::domain::inbox::{InboxSecret, InboxSession, SecretDigest, SignInLink};

use super::*;

fn digest() -> SecretDigest {
    InboxSecret::generate().digest()
}

fn link(expires_at: i64) -> SignInLink {
    SignInLink {
        account: account_id("acme"),
        user_id: "mary".into(),
        expires_at: t(expires_at),
    }
}

fn session(expires_at: i64) -> InboxSession {
    InboxSession {
        account: account_id("acme"),
        user_id: "mary".into(),
        csrf: "csrf-token".into(),
        expires_at: t(expires_at),
    }
}

/// A link is taken once, and not at all once expired; of two takes at once, one wins.
pub async fn sign_in_links_work_once_and_expire(store: &dyn Store) {
    let link = link(10_000);
    let (once, expired, raced) = (digest(), digest(), digest());
    for put in [&once, &expired, &raced] {
        store
            .put_sign_in_link(put, &link)
            .await
            .expect("put_sign_in_link");
    }
    let takes = [
        (once.clone(), 1_000, Some(&link)),
        (once.clone(), 1_000, None),
        (expired.clone(), 10_000, None),
        (digest(), 1_000, None),
    ];
    for (take, now, expected) in takes {
        let found = store
            .take_sign_in_link(&take, t(now))
            .await
            .expect("take_sign_in_link");
        assert_eq!(found.as_ref(), expected, "{take:?} at {now}");
    }

    let (a, b) = tokio::join!(
        store.take_sign_in_link(&raced, t(1_000)),
        store.take_sign_in_link(&raced, t(1_000)),
    );
    let winners = [a.expect("take a"), b.expect("take b")];
    assert_eq!(winners.iter().flatten().count(), 1, "{winners:?}");
}

/// Counts run per address (whatever its case) and window, and stay exact under concurrency.
pub async fn sign_in_requests_are_counted_per_address_and_window(store: &dyn Store) {
    let count = |email: &'static str, window: i64| async move {
        let email = EmailAddress::parse(email).expect("email");
        store
            .count_sign_in_request(&email, t(window), t(window + 900_000))
            .await
            .expect("count_sign_in_request")
    };
    let counts = [
        ("mary@x.com", 0, 1),
        ("mary@x.com", 0, 2),
        ("Mary@X.com", 0, 3),
        ("mary@x.com", 900_000, 1),
        ("john@x.com", 0, 1),
        ("MARY@x.com", 900_000, 2),
    ];
    for (email, window, expected) in counts {
        assert_eq!(count(email, window).await, expected, "{email} in {window}");
    }

    let mut crowd = join_all((0..10).map(|_| count("crowd@x.com", 0))).await;
    crowd.sort_unstable();
    assert_eq!(crowd, (1..=10).collect::<Vec<u32>>());
}

/// A session is read back until it expires or ends; ending one ends no other.
pub async fn inbox_sessions_keep_until_they_expire_or_end(store: &dyn Store) {
    let session = session(10_000);
    let (kept, ended) = (digest(), digest());
    for put in [&kept, &ended] {
        store
            .put_inbox_session(put, &session)
            .await
            .expect("put_inbox_session");
    }
    store
        .end_inbox_session(&ended)
        .await
        .expect("end_inbox_session");
    store
        .end_inbox_session(&digest())
        .await
        .expect("ending an unknown session");
    let reads = [
        (kept.clone(), 1_000, Some(&session)),
        (kept.clone(), 9_999, Some(&session)),
        (kept.clone(), 10_000, None),
        (ended.clone(), 1_000, None),
        (digest(), 1_000, None),
    ];
    for (read, now, expected) in reads {
        let found = store
            .inbox_session(&read, t(now))
            .await
            .expect("inbox_session");
        assert_eq!(found.as_ref(), expected, "{read:?} at {now}");
    }
}

/// Each user's marks are their own, per account, and never move back, even under races.
pub async fn read_marks_only_move_forward_per_user(store: &dyn Store) {
    let (acme, other) = (account_id("acme"), account_id("other"));
    let marks = [
        (&acme, "mary", N1, 5_000),
        (&acme, "mary", N2, 3_000),
        (&acme, "john", N1, 7_000),
        (&acme, "mary-ann", N3, 2_000),
        (&acme, "mary", N1, 4_000),
        (&acme, "mary", N2, 6_000),
        (&other, "mary", N3, 1_000),
    ];
    for (account, user, contact, through) in marks {
        store
            .mark_read(account, user, &phone(contact), t(through))
            .await
            .expect("mark_read");
    }
    let sues = phone(N4);
    join_all((1..=10).map(|through| store.mark_read(&acme, "sue", &sues, t(through))))
        .await
        .into_iter()
        .for_each(|marked| marked.expect("mark_read"));

    let expected = |list: &[(&str, i64)]| -> BTreeMap<PhoneNumber, Timestamp> {
        list.iter().map(|&(p, at)| (phone(p), t(at))).collect()
    };
    let reads = [
        (&acme, "mary", expected(&[(N1, 5_000), (N2, 6_000)])),
        (&acme, "john", expected(&[(N1, 7_000)])),
        (&acme, "mary-ann", expected(&[(N3, 2_000)])),
        (&acme, "sue", expected(&[(N4, 10)])),
        (&acme, "nobody", expected(&[])),
        (&other, "mary", expected(&[(N3, 1_000)])),
    ];
    for (account, user, expected) in reads {
        let found = store.read_marks(account, user).await.expect("read_marks");
        assert_eq!(found, expected, "{account} {user}");
    }
}
