//! Storage conformance: what every `Store` backend must do (the access patterns of
//! `ports/store.rs` and the rules of `docs/storage.md`).
//!
//! Each case takes a fresh, empty store. [`store_conformance!`](crate::store_conformance)
//! turns all of them into one test per case for a backend:
//!
//! ```ignore
//! smsflow_tests::store_conformance!(dynamodb, dynamo_store());
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use smsflow_shared::domain::consent::{BouncePolicy, PhoneEvent, PhoneHealth, PhoneStatus};
use smsflow_shared::domain::sequence::{FileFormat, Sequence};
use smsflow_shared::domain::{
    Account, AccountId, ContactId, Direction, GoalName, IdempotencyKey, MessageId, MessageRecord,
    MessageSid, MessageStatus, PhoneNumber, SessionId, Timestamp,
};
use smsflow_shared::ports::*;

use crate::fixtures::{account, account_id, phone};

const N1: &str = "+14155552671";
const N2: &str = "+14155552672";
const N3: &str = "+14155552673";
const N4: &str = "+14155552674";

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A 26-character id that sorts like the ULIDs the id generator makes: by `n`.
fn message_id(n: u32) -> MessageId {
    MessageId::new(format!("01J{n:023}"))
}

fn message(account: &str, contact: &str, n: u32, provider_sid: Option<&str>) -> MessageRecord {
    MessageRecord {
        id: (message_id(n)),
        account: account_id(account),
        contact_phone: phone(contact),
        our_sender: N4.into(),
        direction: Direction::Outbound,
        body: format!("message {n}"),
        media_urls: vec![],
        status: MessageStatus::Queued,
        provider_sid: provider_sid.map(str::to_string).map(MessageSid::new),
        error_code: None,
        user_id: Some("mary".into()),
        campaign: None,
        created_at: t(i64::from(n)),
        updated_at: t(i64::from(n)),
        contact_id: None,
        routing: None,
    }
}

async fn put(store: &dyn Store, account: &Account) {
    store.put_account(account).await.expect("put_account");
}

async fn owner_of(store: &dyn Store, number: &str) -> Option<String> {
    store
        .account_by_number(&phone(number))
        .await
        .expect("account_by_number")
        .map(|a| a.id.to_string())
}

async fn record(store: &dyn Store, message: &MessageRecord) -> Recorded {
    store.record_message(message).await.expect("record_message")
}

async fn conversation_ids(
    store: &dyn Store,
    account: &str,
    contact: &str,
    limit: usize,
) -> Vec<MessageId> {
    store
        .conversation(&account_id(account), &phone(contact), limit)
        .await
        .expect("conversation")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

// ---------------------------------------------------------------- accounts

pub async fn accounts_put_and_get(store: &dyn Store) {
    let zeta = account("zeta", &[N1]);
    let alpha = account("alpha", &[N2, N3]);
    let mid = account("mid", &[]);
    for a in [&zeta, &alpha, &mid] {
        put(store, a).await;
    }
    for a in [&zeta, &alpha, &mid] {
        assert_eq!(
            store.account(&a.id).await.expect("account").as_ref(),
            Some(a)
        );
    }
    assert_eq!(
        store.account(&account_id("nobody")).await.expect("account"),
        None
    );

    let owners = [
        (N1, Some("zeta")),
        (N2, Some("alpha")),
        (N3, Some("alpha")),
        (N4, None),
    ];
    for (number, owner) in owners {
        assert_eq!(owner_of(store, number).await.as_deref(), owner, "{number}");
    }
    assert_eq!(
        store.account_ids().await.expect("account_ids"),
        vec![account_id("alpha"), account_id("mid"), account_id("zeta")]
    );
}

pub async fn number_taken_changes_nothing(store: &dyn Store) {
    let first = account("first", &[N1]);
    put(store, &first).await;

    // A new account listing a taken number is not stored, and claims none of its numbers.
    let second = account("second", &[N2, N1]);
    match store.put_account(&second).await {
        Err(StoreError::NumberTaken { number, owner }) => {
            assert_eq!(number, phone(N1));
            assert_eq!(owner, first.id);
        }
        other => panic!("expected NumberTaken, got {other:?}"),
    }
    assert_eq!(store.account(&second.id).await.expect("account"), None);
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("first"));
    assert_eq!(owner_of(store, N2).await, None);
    assert_eq!(
        store.account_ids().await.expect("account_ids"),
        vec![first.id.clone()]
    );

    // An existing account reaching for a taken number keeps its previous state entirely.
    let third = account("third", &[N3]);
    put(store, &third).await;
    let greedy = Account {
        name: "Renamed".into(),
        ..account("third", &[N1])
    };
    assert!(matches!(
        store.put_account(&greedy).await,
        Err(StoreError::NumberTaken { .. })
    ));
    assert_eq!(
        store.account(&third.id).await.expect("account"),
        Some(third)
    );
    assert_eq!(owner_of(store, N3).await.as_deref(), Some("third"));
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("first"));
}

pub async fn re_put_account_releases_dropped_numbers(store: &dyn Store) {
    put(store, &account("acme", &[N1, N2])).await;
    let updated = Account {
        name: "Acme Roofing".into(),
        ..account("acme", &[N2, N3])
    };
    put(store, &updated).await;
    assert_eq!(
        store.account(&updated.id).await.expect("account"),
        Some(updated)
    );

    let owners = [(N1, None), (N2, Some("acme")), (N3, Some("acme"))];
    for (number, owner) in owners {
        assert_eq!(owner_of(store, number).await.as_deref(), owner, "{number}");
    }
    // The released number is free for another account.
    put(store, &account("other", &[N1])).await;
    assert_eq!(owner_of(store, N1).await.as_deref(), Some("other"));
}

// ---------------------------------------------------------------- messaging services

const S1: &str = "MG00000000000000000000000000000a01";
const S2: &str = "MG00000000000000000000000000000a02";
const S3: &str = "MG00000000000000000000000000000a03";

/// `account` listing the Messaging Services `services`, as written.
fn with_services(account: Account, services: &[&str]) -> Account {
    let mut account = account;
    account.twilio.messaging_service_sids = services.iter().map(|s| s.to_string()).collect();
    account
}

async fn service_owner(store: &dyn Store, service: &str) -> Option<String> {
    store
        .account_by_messaging_service(service)
        .await
        .expect("account_by_messaging_service")
        .map(|a| a.id.to_string())
}

pub async fn accounts_are_found_by_messaging_service(store: &dyn Store) {
    // Two services on one account, one written in another case than Twilio's.
    let acme = with_services(account("acme", &[N1]), &[S1, &S2.to_uppercase()]);
    let bravo = with_services(account("bravo", &[]), &[S3]);
    let plain = account("plain", &[N2]);
    for a in [&acme, &bravo, &plain] {
        put(store, a).await;
    }
    let cases = [
        ("first service", S1.to_string(), Some("acme")),
        ("second service", S2.to_string(), Some("acme")),
        ("another account's", S3.to_string(), Some("bravo")),
        ("upper-case hex", S1.to_uppercase(), Some("acme")),
        (
            "lower-case prefix",
            S3.replacen("MG", "mg", 1),
            Some("bravo"),
        ),
        ("unknown", "MG00000000000000000000000000000a09".into(), None),
        ("a number, not a service", N1.into(), None),
    ];
    for (what, service, owner) in cases {
        assert_eq!(
            service_owner(store, &service).await.as_deref(),
            owner,
            "{what}"
        );
    }
    // The account comes back whole, with its services as written.
    assert_eq!(
        store
            .account_by_messaging_service(S2)
            .await
            .expect("account_by_messaging_service"),
        Some(acme)
    );
}

pub async fn service_taken_changes_nothing(store: &dyn Store) {
    let first = with_services(account("first", &[N1]), &[S1]);
    put(store, &first).await;

    // A new account listing a taken service (in another case) is not stored, and claims
    // none of its numbers or services.
    let second = with_services(account("second", &[N2]), &[S2, &S1.to_uppercase()]);
    match store.put_account(&second).await {
        Err(StoreError::ServiceTaken { service, owner }) => {
            assert_eq!(service, S1);
            assert_eq!(owner, first.id);
        }
        other => panic!("expected ServiceTaken, got {other:?}"),
    }
    assert_eq!(store.account(&second.id).await.expect("account"), None);
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("first"));
    assert_eq!(service_owner(store, S2).await, None);
    assert_eq!(owner_of(store, N2).await, None);

    // An existing account reaching for a taken service keeps its previous state entirely.
    let third = with_services(account("third", &[N3]), &[S3]);
    put(store, &third).await;
    let greedy = Account {
        name: "Renamed".into(),
        ..with_services(account("third", &[N4]), &[S1])
    };
    assert!(matches!(
        store.put_account(&greedy).await,
        Err(StoreError::ServiceTaken { .. })
    ));
    assert_eq!(
        store.account(&third.id).await.expect("account"),
        Some(third)
    );
    assert_eq!(service_owner(store, S3).await.as_deref(), Some("third"));
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("first"));
    assert_eq!(owner_of(store, N3).await.as_deref(), Some("third"));
    assert_eq!(owner_of(store, N4).await, None);
}

pub async fn re_put_account_releases_dropped_services(store: &dyn Store) {
    put(store, &with_services(account("acme", &[N1]), &[S1, S2])).await;
    // S2 is kept (respelled), S1 dropped, S3 added.
    let updated = with_services(account("acme", &[N1]), &[&S2.to_uppercase(), S3]);
    put(store, &updated).await;
    assert_eq!(
        store.account(&updated.id).await.expect("account"),
        Some(updated)
    );
    let owners = [(S1, None), (S2, Some("acme")), (S3, Some("acme"))];
    for (service, owner) in owners {
        assert_eq!(
            service_owner(store, service).await.as_deref(),
            owner,
            "{service}"
        );
    }
    // The released service is free for another account.
    put(store, &with_services(account("other", &[]), &[S1])).await;
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("other"));
}

/// Accounts stored before services were indexed (simulated by `forget_service_claims`,
/// which removes every service claim and index marker the backend keeps, leaving the
/// accounts as they are) are found by their services without an operator step, and
/// behave as indexed accounts afterwards. Not in [`store_conformance!`]: the hook is
/// backend-specific.
pub async fn stored_accounts_without_service_claims_are_indexed<F, Fut>(
    store: &dyn Store,
    forget_service_claims: F,
) where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    // Two older accounts list S1 (older versions did not refuse that): the first by id
    // keeps it, as the scan that found accounts before the index did.
    put(store, &with_services(account("bravo", &[N2]), &[S1])).await;
    forget_service_claims().await;
    let acme = with_services(account("acme", &[N1]), &[S1, S2]);
    put(store, &acme).await;
    put(store, &with_services(account("plain", &[N3]), &[])).await;
    forget_service_claims().await;

    assert_eq!(
        service_owner(store, &S2.to_uppercase()).await.as_deref(),
        Some("acme")
    );
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("acme"));
    assert_eq!(
        service_owner(store, "MG00000000000000000000000000000a09").await,
        None
    );
    assert!(matches!(
        store
            .put_account(&with_services(account("bravo", &[N2]), &[S1]))
            .await,
        Err(StoreError::ServiceTaken { .. })
    ));

    // The claims made for older accounts are released like any others.
    put(store, &with_services(account("acme", &[N1]), &[S2])).await;
    assert_eq!(service_owner(store, S1).await, None);
    put(store, &with_services(account("bravo", &[N2]), &[S1])).await;
    assert_eq!(service_owner(store, S1).await.as_deref(), Some("bravo"));
    assert_eq!(service_owner(store, S2).await.as_deref(), Some("acme"));
}

// ---------------------------------------------------------------- conversations

pub async fn record_message_refuses_duplicates(store: &dyn Store) {
    let first = message("acme", N1, 1, Some("SM1"));
    assert_eq!(record(store, &first).await, Recorded::New);

    let duplicates = [
        (
            "same id",
            MessageRecord {
                body: "changed".into(),
                ..first.clone()
            },
        ),
        ("same id without a SID", message("acme", N1, 1, None)),
        ("same SID, other id", message("acme", N1, 2, Some("SM1"))),
        (
            "same SID, other conversation",
            message("acme", N2, 3, Some("SM1")),
        ),
    ];
    for (case, duplicate) in duplicates {
        assert_eq!(
            record(store, &duplicate).await,
            Recorded::Duplicate,
            "{case}"
        );
    }
    let stored = store
        .conversation(&account_id("acme"), &phone(N1), 10)
        .await
        .expect("conversation");
    assert_eq!(stored, vec![first]);
    assert!(conversation_ids(store, "acme", N2, 10).await.is_empty());

    // Messages without a SID never collide with each other through it.
    for n in [4, 5] {
        assert_eq!(
            record(store, &message("acme", N1, n, None)).await,
            Recorded::New
        );
    }
}

pub async fn conversation_is_newest_first_and_isolated(store: &dyn Store) {
    let mut acme_n1: Vec<MessageRecord> = (1..=5).map(|n| message("acme", N1, n, None)).collect();
    // Recorded out of order: the order comes from the ids.
    for i in [2, 0, 4, 1, 3] {
        record(store, &acme_n1[i]).await;
    }
    record(store, &message("acme", N2, 6, None)).await;
    record(store, &message("other", N1, 7, None)).await;

    acme_n1.reverse();
    let newest_first: Vec<MessageId> = acme_n1.iter().map(|m| m.id.clone()).collect();
    let cases = [
        (3, &newest_first[..3]),
        (5, &newest_first[..]),
        (10, &newest_first[..]),
        (0, &[][..]),
    ];
    for (limit, expected) in cases {
        assert_eq!(
            conversation_ids(store, "acme", N1, limit).await,
            expected,
            "limit {limit}"
        );
    }
    let full = store
        .conversation(&account_id("acme"), &phone(N1), 10)
        .await
        .expect("conversation");
    assert_eq!(full, acme_n1);

    let isolated = [
        ("acme", N2, vec![message_id(6)]),
        ("other", N1, vec![message_id(7)]),
        ("other", N2, vec![]),
    ];
    for (account, contact, expected) in isolated {
        assert_eq!(
            conversation_ids(store, account, contact, 10).await,
            expected,
            "{account} {contact}"
        );
    }
}

pub async fn message_by_sid_finds_the_message(store: &dyn Store) {
    let m = message("acme", N1, 1, Some("SMknown"));
    record(store, &m).await;
    record(store, &message("acme", N1, 2, Some("SMother"))).await;
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMknown"))
            .await
            .expect("message_by_sid"),
        Some(m)
    );
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMunknown"))
            .await
            .expect("message_by_sid"),
        None
    );
}

pub async fn record_routing_annotates_the_message(store: &dyn Store) {
    use smsflow_shared::domain::routing::{RoutingDecision, RoutingRule};
    let m = message("acme", N1, 1, Some("SMrouted"));
    record(store, &m).await;
    let decision = RoutingDecision {
        to: smsflow_shared::domain::EmailAddress::parse("mary@example.com").expect("address"),
        user_id: Some("mary".into()),
        rule: RoutingRule::LastSms,
        reason: "Mary sent the last SMS.".into(),
    };
    store
        .record_routing(&m.account, &m.contact_phone, &m.id, &decision)
        .await
        .expect("record_routing");
    let stored = store
        .message_by_sid(&MessageSid::new("SMrouted"))
        .await
        .expect("message_by_sid")
        .expect("stored");
    assert_eq!(stored.routing, Some(decision.clone()));
    assert_eq!(stored.body, m.body, "the rest of the message is unchanged");
    let conversation = store
        .conversation(&m.account, &m.contact_phone, 10)
        .await
        .expect("conversation");
    assert_eq!(conversation[0].routing, Some(decision.clone()));
    let missing = store
        .record_routing(&m.account, &m.contact_phone, &(message_id(99)), &decision)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "unknown message: {missing:?}"
    );
}

/// Errors that quote a store key (which holds the contact's number) show the number
/// masked, never in full (issue #12, row 7): they end up in log lines.
pub async fn errors_quote_numbers_masked(store: &dyn Store) {
    use smsflow_shared::domain::routing::{RoutingDecision, RoutingRule};
    let taken = message("acme", N1, 1, Some("SMtaken"));
    let other = message("acme", N2, 2, None);
    record(store, &taken).await;
    record(store, &other).await;
    let decision = RoutingDecision {
        to: smsflow_shared::domain::EmailAddress::parse("mary@example.com").expect("address"),
        user_id: None,
        rule: RoutingRule::LastSms,
        reason: "test".into(),
    };
    // Two texts with one SID from two phones: the second cannot take the SID.
    let errors = [
        store
            .record_routing(&other.account, &phone(N1), &(message_id(99)), &decision)
            .await
            .expect_err("no such message"),
        store
            .attach_provider_sid(
                &other.account,
                &other.contact_phone,
                &other.id,
                &MessageSid::new("SMtaken"),
            )
            .await
            .expect_err("the SID is another message's"),
    ];
    let texts: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for text in &texts {
        assert!(!text.contains(N1) && !text.contains(N2), "{text}");
    }
    let masked = [phone(N1).masked(), phone(N2).masked()];
    assert!(
        texts
            .iter()
            .any(|t| masked.iter().any(|m| t.contains(m.as_str()))),
        "the key's number is quoted masked: {texts:?}"
    );
}

pub async fn goal_log_lists_a_threads_goals_once_each(store: &dyn Store) {
    let goal = |n: u32, name: &str, outcome: GoalResult| GoalRecord {
        message_id: (message_id(n)),
        goal: GoalName::parse(name).expect("goal name"),
        outcome,
        at: t(i64::from(n) * 10),
    };
    let (acme, n1) = (account_id("acme"), phone(N1));
    let records = [
        goal(1, "SendAuto", GoalResult::Achieved),
        goal(2, "SMSsendRequestReceived", GoalResult::Achieved),
        goal(2, "BlockedNumber", GoalResult::NotConfigured),
        goal(3, "GoodNumber", GoalResult::Disabled),
    ];
    for record in &records {
        store
            .record_goal(&acme, &n1, record)
            .await
            .expect("record_goal");
    }
    // A repeat of a goal job replaces its record; other conversations stay apart.
    let retried = goal(1, "SendAuto", GoalResult::Failed);
    store
        .record_goal(&acme, &n1, &retried)
        .await
        .expect("record_goal");
    let elsewhere = goal(2, "SendAuto", GoalResult::Achieved);
    store
        .record_goal(&acme, &phone(N2), &elsewhere)
        .await
        .expect("record_goal");
    store
        .record_goal(&account_id("other"), &n1, &elsewhere)
        .await
        .expect("record_goal");

    let all = store
        .goals_fired(&acme, &n1, &(message_id(0)))
        .await
        .expect("goals_fired");
    let listed: Vec<(MessageId, &str, GoalResult)> = all
        .iter()
        .map(|r| (r.message_id.clone(), r.goal.as_str(), r.outcome))
        .collect();
    assert_eq!(
        listed,
        vec![
            (message_id(1), "SendAuto", GoalResult::Failed),
            (message_id(2), "BlockedNumber", GoalResult::NotConfigured),
            (
                message_id(2),
                "SMSsendRequestReceived",
                GoalResult::Achieved
            ),
            (message_id(3), "GoodNumber", GoalResult::Disabled),
        ]
    );
    let from_two = store
        .goals_fired(&acme, &n1, &(message_id(2)))
        .await
        .expect("goals_fired");
    assert_eq!(from_two, all[1..].to_vec(), "from a message id on");
    let none = store
        .goals_fired(&acme, &phone(N3), &(message_id(0)))
        .await
        .expect("goals_fired");
    assert!(none.is_empty(), "{none:?}");
    // Goal records are not messages.
    assert!(conversation_ids(store, "acme", N1, 10).await.is_empty());
}

pub async fn attach_provider_sid_makes_the_message_findable(store: &dyn Store) {
    let m = message("acme", N1, 1, None);
    record(store, &m).await;
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMlater"))
            .await
            .expect("message_by_sid"),
        None
    );

    // Attaching is idempotent for the same SID.
    for _ in 0..2 {
        store
            .attach_provider_sid(
                &m.account,
                &m.contact_phone,
                &m.id,
                &MessageSid::new("SMlater"),
            )
            .await
            .expect("attach_provider_sid");
    }
    let expected = MessageRecord {
        provider_sid: Some("SMlater".into()),
        ..m.clone()
    };
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMlater"))
            .await
            .expect("message_by_sid"),
        Some(expected.clone())
    );
    let stored = store
        .conversation(&m.account, &m.contact_phone, 10)
        .await
        .expect("conversation");
    assert_eq!(stored, vec![expected]);

    // The attached SID dedupes like one recorded with the message.
    assert_eq!(
        record(store, &message("acme", N1, 2, Some("SMlater"))).await,
        Recorded::Duplicate
    );
    let sent = store
        .apply_status(
            &MessageSid::new("SMlater"),
            MessageStatus::Sent,
            None,
            t(50),
        )
        .await
        .expect("apply_status");
    assert!(
        matches!(sent, StatusUpdate::Advanced(ref r) if r.id == m.id),
        "{sent:?}"
    );

    let missing = store
        .attach_provider_sid(
            &m.account,
            &m.contact_phone,
            &(message_id(99)),
            &MessageSid::new("SMnothing"),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
    assert_eq!(
        store
            .message_by_sid(&MessageSid::new("SMnothing"))
            .await
            .expect("message_by_sid"),
        None
    );
}

// ---------------------------------------------------------------- delivery status

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
    let update = store
        .apply_status_by_id(
            &account,
            &contact,
            &(message_id(1)),
            Failed,
            Some(21211),
            t(10),
        )
        .await
        .expect("apply_status_by_id");
    let StatusUpdate::Advanced(failed) = update else {
        panic!("expected Advanced, got {update:?}");
    };
    assert_eq!(
        (failed.status, failed.error_code, failed.updated_at),
        (Failed, Some(21211), t(10))
    );
    // Forward-only and first error kept, as by SID.
    let again = store
        .apply_status_by_id(
            &account,
            &contact,
            &(message_id(1)),
            Sent,
            Some(30003),
            t(11),
        )
        .await
        .expect("apply_status_by_id");
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

// ---------------------------------------------------------------- consent

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

// ---------------------------------------------------------------- sequence sessions

fn session(id: &str, started_at: i64, expires_at: i64) -> SessionRecord {
    SessionRecord {
        session_id: id.into(),
        sequence: "welcome".into(),
        state: json!({"step": 0}),
        started_at: t(started_at),
        expires_at: t(expires_at),
        revision: 0,
    }
}

pub async fn sessions_one_active_per_contact(store: &dyn Store) {
    let acme = account_id("acme");
    let (contact, other_contact) = (phone(N1), phone(N2));
    let first = session("s1", 0, 1_000);

    let started = store
        .start_session(&acme, &contact, &first, t(0))
        .await
        .expect("start_session");
    assert_eq!(started, SessionStart::Started);
    let refused = store
        .start_session(&acme, &contact, &session("s2", 500, 1_500), t(500))
        .await
        .expect("start_session");
    assert_eq!(refused, SessionStart::AlreadyActive(first.clone()));
    // Another contact has its own lock.
    let elsewhere = store
        .start_session(&acme, &other_contact, &session("s3", 500, 1_500), t(500))
        .await
        .expect("start_session");
    assert_eq!(elsewhere, SessionStart::Started);

    let reads = [(0, Some(&first)), (999, Some(&first)), (5_000, None)];
    for (now, expected) in reads {
        let active = store
            .active_session(&acme, &contact, t(now))
            .await
            .expect("active_session");
        assert_eq!(active.as_ref(), expected, "now {now}");
    }

    // Once expired (though still stored), a new session may start.
    let second = session("s2", 5_000, 9_000);
    let restarted = store
        .start_session(&acme, &contact, &second, t(5_000))
        .await
        .expect("start_session");
    assert_eq!(restarted, SessionStart::Started);
    let active = store
        .active_session(&acme, &contact, t(5_000))
        .await
        .expect("active_session");
    assert_eq!(active, Some(second));
}

pub async fn sessions_update_and_end_need_the_session_id(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let first = session("s1", 0, 1_000);
    store
        .start_session(&acme, &contact, &first, t(0))
        .await
        .expect("start_session");
    let active = |now: i64| store.active_session(&acme, &contact, t(now));

    let impostor = SessionRecord {
        session_id: "other".into(),
        revision: 1,
        ..first.clone()
    };
    assert!(
        !store
            .update_session(&acme, &contact, &impostor)
            .await
            .expect("update_session")
    );
    assert_eq!(
        active(0).await.expect("active_session"),
        Some(first.clone())
    );

    let advanced = SessionRecord {
        state: json!({"step": 2, "answers": ["yes"]}),
        expires_at: t(2_000),
        revision: 1,
        ..first.clone()
    };
    assert!(
        store
            .update_session(&acme, &contact, &advanced)
            .await
            .expect("update_session")
    );
    assert_eq!(
        active(1_500).await.expect("active_session"),
        Some(advanced.clone())
    );

    assert!(
        !store
            .end_session(&acme, &contact, &SessionId::new("other"))
            .await
            .expect("end_session")
    );
    assert_eq!(
        active(0).await.expect("active_session"),
        Some(advanced.clone())
    );
    assert!(
        store
            .end_session(&acme, &contact, &SessionId::new("s1"))
            .await
            .expect("end_session")
    );
    assert_eq!(active(0).await.expect("active_session"), None);
    assert!(
        !store
            .end_session(&acme, &contact, &SessionId::new("s1"))
            .await
            .expect("end_session")
    );
    assert!(
        !store
            .update_session(&acme, &contact, &advanced)
            .await
            .expect("update_session")
    );
    assert_eq!(active(0).await.expect("active_session"), None);

    // Ending frees the lock at once.
    let next = store
        .start_session(&acme, &contact, &session("s4", 0, 1_000), t(0))
        .await
        .expect("start_session");
    assert_eq!(next, SessionStart::Started);
}

/// The one-run-per-contact lock under a burst of starts for one contact: exactly one wins,
/// every other start sees the winner.
pub async fn sessions_one_start_wins_under_concurrency(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let candidates: Vec<SessionRecord> = (0..10)
        .map(|i| session(&format!("s{i}"), 0, 1_000))
        .collect();
    let results = join_all(
        candidates
            .iter()
            .map(|candidate| store.start_session(&acme, &contact, candidate, t(0))),
    )
    .await;
    let winners: Vec<&SessionRecord> = results
        .iter()
        .zip(&candidates)
        .filter(|(r, _)| matches!(r, Ok(SessionStart::Started)))
        .map(|(_, c)| c)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let winner = winners[0];
    for result in &results {
        match result.as_ref().expect("start_session") {
            SessionStart::Started => {}
            SessionStart::AlreadyActive(holder) => assert_eq!(holder, winner),
        }
    }
    let active = store
        .active_session(&acme, &contact, t(0))
        .await
        .expect("active_session");
    assert_eq!(active.as_ref(), Some(winner));
}

/// An update is written only over the revision it was computed from: a stale writer (or
/// all but one of concurrent writers from the same read) is refused and changes nothing.
pub async fn sessions_update_needs_the_revision_read(store: &dyn Store) {
    let acme = account_id("acme");
    let contact = phone(N1);
    let first = session("s1", 0, 1_000);
    store
        .start_session(&acme, &contact, &first, t(0))
        .await
        .expect("start_session");
    let at = |revision: u64, step: u64| SessionRecord {
        state: json!({ "step": step }),
        revision,
        ..first.clone()
    };
    let stored = || async {
        store
            .active_session(&acme, &contact, t(0))
            .await
            .expect("active_session")
    };
    let cases = [
        (
            "revision 0 is the start's, never an update",
            at(0, 9),
            false,
        ),
        ("1 over 0", at(1, 1), true),
        ("a second writer from revision 0", at(1, 2), false),
        ("a writer skipping a revision", at(3, 3), false),
        ("2 over 1", at(2, 4), true),
    ];
    let mut expected = first.clone();
    for (what, update, written) in cases {
        let result = store
            .update_session(&acme, &contact, &update)
            .await
            .expect("update_session");
        assert_eq!(result, written, "{what}");
        if written {
            expected = update;
        }
        assert_eq!(stored().await.as_ref(), Some(&expected), "{what}");
    }

    let racers: Vec<SessionRecord> = (10..20).map(|step| at(3, step)).collect();
    let results = join_all(
        racers
            .iter()
            .map(|r| store.update_session(&acme, &contact, r)),
    )
    .await;
    let won: Vec<&SessionRecord> = results
        .iter()
        .zip(&racers)
        .filter(|(r, _)| matches!(r, Ok(true)))
        .map(|(_, racer)| racer)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert_eq!(stored().await.as_ref(), Some(won[0]));
}

// ---------------------------------------------------------------- sequence definitions

/// A valid sequence of `account` named `name` starting on `keyword`.
fn sequence(account: &str, name: &str, keyword: &str) -> Sequence {
    let text = format!(
        "account: {account}\nname: {name}\nstart: both\nkeywords: [{keyword}]\n\
         sender: '{N4}'\nsteps:\n  - name: ask\n    message: Hi ~Contact.FirstName~\n    \
         save_to: Contact._Answer\n    next: finish\n"
    );
    Sequence::parse(&format!("{name}.yaml"), &text, FileFormat::Yaml)
        .unwrap_or_else(|e| panic!("fixture sequence {name}: {e}"))
}

fn read_back(stored: Option<StoredSequence>) -> Option<Sequence> {
    stored.map(|s| s.unwrap_or_else(|e| panic!("stored sequence no longer valid: {e}")))
}

pub async fn sequences_put_get_list_delete(store: &dyn Store) {
    let acme = account_id("acme");
    let welcome = sequence("acme", "welcome", "HELLO");
    let book = sequence("acme", "book", "BOOK");
    let bravo_welcome = sequence("bravo", "welcome", "HI");
    for s in [&welcome, &book, &bravo_welcome] {
        store.put_sequence(s).await.expect("put_sequence");
    }
    let got = read_back(store.sequence(&acme, "welcome").await.expect("sequence")).expect("stored");
    assert_eq!(got.definition(), welcome.definition());
    assert!(got.is_started_by("hello"));
    assert!(
        store
            .sequence(&acme, "nope")
            .await
            .expect("sequence")
            .is_none()
    );
    assert_eq!(
        store.sequence_names(&acme).await.expect("names"),
        ["book", "welcome"]
    );
    let all: Vec<String> = store
        .sequences(&acme)
        .await
        .expect("sequences")
        .into_iter()
        .map(|s| s.expect("valid").name().to_string())
        .collect();
    assert_eq!(all, ["book", "welcome"]);

    // Replacing keeps one entry with the new definition.
    let changed = sequence("acme", "welcome", "WELCOME");
    store.put_sequence(&changed).await.expect("put_sequence");
    let got = read_back(store.sequence(&acme, "welcome").await.expect("sequence")).expect("stored");
    assert_eq!(got.definition(), changed.definition());
    assert_eq!(store.sequences(&acme).await.expect("sequences").len(), 2);

    assert!(
        store
            .delete_sequence(&acme, "welcome")
            .await
            .expect("delete")
    );
    assert!(
        !store
            .delete_sequence(&acme, "welcome")
            .await
            .expect("delete")
    );
    assert_eq!(store.sequence_names(&acme).await.expect("names"), ["book"]);
    // The other account's sequence of the same name is untouched.
    let bravo = read_back(
        store
            .sequence(&account_id("bravo"), "welcome")
            .await
            .expect("sequence"),
    )
    .expect("bravo's");
    assert_eq!(bravo.definition(), bravo_welcome.definition());
    assert!(
        store
            .sequence_names(&account_id("nobody"))
            .await
            .expect("names")
            .is_empty()
    );
}

/// One note per (account, contact, sequence): the first id recorded stays, also when
/// several jobs race to record theirs.
pub async fn sequence_note_is_recorded_once(store: &dyn Store) {
    let acme = account_id("acme");
    let note = |contact: &'static str, sequence: &'static str| {
        let acme = acme.clone();
        async move {
            store
                .sequence_note(&acme, &ContactId::new(contact), sequence)
                .await
                .expect("sequence_note")
        }
    };
    assert_eq!(note("7", "welcome").await, None);
    let first = store
        .remember_sequence_note(&acme, &ContactId::new("7"), "welcome", "n1")
        .await
        .expect("remember");
    assert_eq!(first, "n1");
    let second = store
        .remember_sequence_note(&acme, &ContactId::new("7"), "welcome", "n2")
        .await
        .expect("remember");
    assert_eq!(second, "n1", "the first note stays");
    assert_eq!(note("7", "welcome").await.as_deref(), Some("n1"));
    // Other sequences, contacts and accounts have notes of their own.
    assert_eq!(note("7", "book").await, None);
    assert_eq!(note("8", "welcome").await, None);
    assert_eq!(
        store
            .sequence_note(&account_id("bravo"), &ContactId::new("7"), "welcome")
            .await
            .expect("sequence_note"),
        None
    );

    let ids: Vec<String> = (0..10).map(|i| format!("race{i}")).collect();
    let contact_9 = ContactId::new("9");
    let results = join_all(
        ids.iter()
            .map(|id| store.remember_sequence_note(&acme, &contact_9, "welcome", id)),
    )
    .await;
    let on_record: BTreeSet<String> = results.into_iter().map(|r| r.expect("remember")).collect();
    assert_eq!(on_record.len(), 1, "{on_record:?}");
    assert_eq!(note("9", "welcome").await, on_record.into_iter().next());
}

// ---------------------------------------------------------------- idempotency

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
    let race = IdempotencyKey::automation_job("race");
    let takers = join_all((0..10).map(|_| store.claim(&race, terms, t(6_000))))
        .await
        .into_iter()
        .map(|c| c.expect("claim"))
        .filter(|c| *c == new_claim(0))
        .count();
    assert_eq!(takers, 1);
}

pub async fn idempotency_claim_is_exclusive_under_concurrency(store: &dyn Store) {
    let terms = terms(60_000, 60_000);
    let race = IdempotencyKey::automation_job("race");
    let claims = join_all((0..10).map(|_| store.claim(&race, terms, t(0)))).await;
    let new = claims
        .into_iter()
        .map(|c| c.expect("claim"))
        .filter(|c| *c == new_claim(0))
        .count();
    assert_eq!(new, 1);
}

// ---------------------------------------------------------------- send attempts

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
    assert_eq!(begin(100).await.expect("begin"), AttemptStart::Begun);
    store
        .withdraw_attempt(&MessageId::new("m1"), t(99))
        .await
        .expect("withdraw");
    assert!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read")
            .is_some()
    );
    store
        .withdraw_attempt(&MessageId::new("m1"), t(100))
        .await
        .expect("withdraw");
    assert_eq!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
        None
    );
    assert_eq!(begin(200).await.expect("begin"), AttemptStart::Begun);
    store
        .finish_attempt(&MessageId::new("m1"), "rejected 21211")
        .await
        .expect("finish");
    store
        .withdraw_attempt(&MessageId::new("m1"), t(200))
        .await
        .expect("withdraw");
    assert!(matches!(
        store
            .send_attempt(&MessageId::new("m1"))
            .await
            .expect("read"),
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

// ---------------------------------------------------------------- admission

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
    assert!(
        !store
            .try_admit(&acme, &MessageId::new("late"), 7)
            .await
            .expect("try_admit")
    );
    // A higher limit admits more.
    assert!(
        store
            .try_admit(&acme, &MessageId::new("late"), 8)
            .await
            .expect("try_admit")
    );
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 8);
    assert!(
        !store
            .try_admit(&acme, &MessageId::new("later"), 0)
            .await
            .expect("try_admit")
    );
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
        assert!(
            store
                .try_admit(&acme, &MessageId::new("m1"), 10)
                .await
                .expect("try_admit")
        );
    }
    assert!(
        store
            .try_admit(&acme, &MessageId::new("m2"), 10)
            .await
            .expect("try_admit")
    );
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 2);
    // At the limit, a message already admitted stays admitted.
    assert!(
        store
            .try_admit(&acme, &MessageId::new("m1"), 2)
            .await
            .expect("try_admit")
    );
    assert!(
        !store
            .try_admit(&acme, &MessageId::new("m3"), 2)
            .await
            .expect("try_admit")
    );

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
    assert!(
        store
            .try_admit(&acme, &MessageId::new("m1"), 1)
            .await
            .expect("try_admit")
    );
    assert!(
        !store
            .try_admit(&acme, &MessageId::new("m2"), 1)
            .await
            .expect("try_admit")
    );
    assert_eq!(store.pending_sends(&acme).await.expect("pending_sends"), 1);

    // Releasing for an account that never sent is harmless.
    let idle = account_id("idle");
    store
        .release_admission(&idle, &MessageId::new("m1"))
        .await
        .expect("release_admission");
    assert_eq!(store.pending_sends(&idle).await.expect("pending_sends"), 0);
}

// ---------------------------------------------------------------- send pacing

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

// ---------------------------------------------------------------- CRM support

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

// ---------------------------------------------------------------- phone health

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

// ---------------------------------------------------------------- opt-out lists

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
    let first = store
        .import_opt_outs(&acme, &batch)
        .await
        .expect("import_opt_outs");
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
    let again = store
        .import_opt_outs(&acme, &batch)
        .await
        .expect("import_opt_outs");
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

// ---------------------------------------------------------------- conversation list

async fn recent(store: &dyn Store, account: &str, limit: usize) -> Vec<(String, MessageId)> {
    store
        .recent_conversations(&account_id(account), limit)
        .await
        .expect("recent_conversations")
        .into_iter()
        .map(|c| (c.phone.to_string(), c.last_message_id))
        .collect()
}

pub async fn recent_conversations_are_newest_first_per_account(store: &dyn Store) {
    assert!(recent(store, "acme", 10).await.is_empty());
    record(store, &message("acme", N1, 1, None)).await;
    record(store, &message("acme", N2, 2, None)).await;
    record(store, &message("acme", N3, 3, None)).await;
    record(store, &message("other", N1, 4, None)).await;
    // N1 writes again: its conversation moves to the top.
    let mut inbound = message("acme", N1, 5, Some("SM5"));
    inbound.direction = Direction::Inbound;
    record(store, &inbound).await;
    let id = |n: u32| message_id(n);
    assert_eq!(
        recent(store, "acme", 10).await,
        vec![
            (N1.to_string(), id(5)),
            (N3.to_string(), id(3)),
            (N2.to_string(), id(2)),
        ]
    );
    let top = store
        .recent_conversations(&account_id("acme"), 1)
        .await
        .expect("recent_conversations");
    assert_eq!(
        top,
        vec![ConversationSummary {
            phone: phone(N1),
            last_message_id: id(5),
            last_message_at: t(5),
            last_direction: Direction::Inbound,
        }]
    );
    // A message recorded late (older than the newest) is stored but does not take over.
    assert_eq!(
        record(store, &message("acme", N3, 0, None)).await,
        Recorded::New
    );
    // A duplicate changes nothing either.
    assert_eq!(
        record(store, &message("acme", N2, 2, None)).await,
        Recorded::Duplicate
    );
    assert_eq!(
        recent(store, "acme", 2).await,
        vec![(N1.to_string(), id(5)), (N3.to_string(), id(3))]
    );
    assert_eq!(
        conversation_ids(store, "acme", N3, 10).await,
        vec![id(3), id(0)]
    );
    assert_eq!(
        recent(store, "other", 10).await,
        vec![(N1.to_string(), id(4))]
    );
}

// ---------------------------------------------------------------- queue job failures

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

/// One `#[tokio::test]` per storage conformance case, in a module `$name`, each on a fresh
/// store from `$factory` (an expression whose `.await` yields something that derefs to a
/// `dyn Store`, e.g. `Arc<dyn Store>`). Items of the invoking module are in scope.
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::store_conformance!(@cases $factory;
                accounts_put_and_get,
                number_taken_changes_nothing,
                re_put_account_releases_dropped_numbers,
                accounts_are_found_by_messaging_service,
                service_taken_changes_nothing,
                re_put_account_releases_dropped_services,
                record_message_refuses_duplicates,
                conversation_is_newest_first_and_isolated,
                message_by_sid_finds_the_message,
                record_routing_annotates_the_message,
                errors_quote_numbers_masked,
                goal_log_lists_a_threads_goals_once_each,
                attach_provider_sid_makes_the_message_findable,
                apply_status_is_forward_only,
                apply_status_keeps_the_first_error_code,
                apply_status_unknown_sid,
                apply_status_by_id_for_a_message_without_sid,
                apply_status_converges_whatever_the_order,
                apply_status_after_an_end_changes_nothing,
                consent_newer_change_wins,
                sessions_one_active_per_contact,
                sessions_update_and_end_need_the_session_id,
                sessions_one_start_wins_under_concurrency,
                sessions_update_needs_the_revision_read,
                sequences_put_get_list_delete,
                sequence_note_is_recorded_once,
                idempotency_claim_complete_release,
                idempotency_expired_claim_is_new,
                idempotency_lapsed_lease_is_taken_over,
                idempotency_claim_is_exclusive_under_concurrency,
                send_attempts_begin_once_and_finish_once,
                send_attempts_withdraw_only_the_attempt_named,
                send_attempts_are_refused_after_an_opt_out,
                admission_is_exact_under_concurrency,
                admission_counts_each_message_once,
                rate_sequential_reservations_are_spaced_by_cost,
                rate_concurrent_reservations_never_overlap,
                disabled_goals_disable_list_reset,
                contact_cache_hit_expiry_forget,
                phone_health_defaults_to_active,
                phone_hard_failures_bounce_and_delivery_clears,
                phone_paused_is_untouched_by_traffic,
                phone_operator_sets_the_status,
                phone_concurrent_hard_failures_all_count,
                opt_out_import_adds_once_and_keeps_newer_opt_ins,
                opt_outs_are_listed_per_account_in_phone_order,
                recent_conversations_are_newest_first_per_account,
                job_failures_keep_the_latest_until_they_expire,
            );
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $factory.await;
                $crate::conformance::store::$case(&*store).await;
            }
        )*
    };
}
