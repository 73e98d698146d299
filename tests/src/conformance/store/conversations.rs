//! Messages in conversations, and the per-account list of conversations.

use super::*;

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

pub async fn refusal_log_lists_a_threads_refusals_once_each(store: &dyn Store) {
    let refusal = |n: u32, code: &str| Refusal {
        message_id: message_id(n),
        code: code.into(),
        detail: format!("refused: {code}"),
        at: t(i64::from(n) * 10),
    };
    let (acme, n1) = (account_id("acme"), phone(N1));
    for r in [refusal(1, "opted_out"), refusal(3, "queue_full")] {
        store
            .record_refusal(&acme, &n1, &r)
            .await
            .expect("record_refusal");
    }
    // A retried request is refused again under its id: one entry, the latest.
    let retried = refusal(1, "not_subscribed");
    store
        .record_refusal(&acme, &n1, &retried)
        .await
        .expect("record_refusal");
    let elsewhere = refusal(2, "phone_paused");
    for (account, phone) in [(acme.clone(), phone(N2)), (account_id("other"), n1.clone())] {
        store
            .record_refusal(&account, &phone, &elsewhere)
            .await
            .expect("record_refusal");
    }
    // Goal records and messages in the same conversation are not refusals.
    let goal = GoalRecord {
        message_id: message_id(2),
        goal: GoalName::parse("SendFailed").expect("goal name"),
        outcome: GoalResult::Achieved,
        at: t(20),
    };
    store.record_goal(&acme, &n1, &goal).await.expect("goal");
    record(store, &message("acme", N1, 4, None)).await;

    let all = store
        .refusals(&acme, &n1, &message_id(0))
        .await
        .expect("refusals");
    assert_eq!(all, vec![retried, refusal(3, "queue_full")]);
    let from_two = store
        .refusals(&acme, &n1, &message_id(2))
        .await
        .expect("refusals");
    assert_eq!(from_two, all[1..].to_vec(), "from a message id on");
    let none = store
        .refusals(&acme, &phone(N3), &message_id(0))
        .await
        .expect("refusals");
    assert!(none.is_empty(), "{none:?}");
    // Refusals are not messages, nor goals.
    assert_eq!(conversation_ids(store, "acme", N1, 10).await.len(), 1);
    let goals = store
        .goals_fired(&acme, &n1, &message_id(0))
        .await
        .expect("goals_fired");
    assert_eq!(goals, vec![goal]);
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

/// A STOP or START text is stored with its consent change in one write: both on a new
/// text, neither on a duplicate, and a newer change (or a newer message on the
/// conversation) already stored never refuses the text.
pub async fn record_message_with_consent_stores_both_or_neither(store: &dyn Store) {
    let (acme, ann) = (account_id("acme"), phone(N1));
    let change = |opted_out: bool, at: i64| ConsentRecord {
        opted_out,
        changed_at: t(at),
        source: format!("inbound at {at}"),
    };
    let consent = async || store.consent(&acme, &ann).await.expect("consent");
    let record_with = async |message: &MessageRecord, change: &ConsentRecord| {
        store
            .record_message_with_consent(message, change)
            .await
            .expect("record_message_with_consent")
    };

    let stop = message("acme", N1, 10, Some("SM10"));
    assert_eq!(record_with(&stop, &change(true, 10)).await, Recorded::New);
    assert_eq!(consent().await, Some(change(true, 10)));

    // Twilio's retry of the STOP, as a START of another time: refused, nothing written.
    let retry = message("acme", N1, 11, Some("SM10"));
    assert_eq!(
        record_with(&retry, &change(false, 11)).await,
        Recorded::Duplicate
    );
    assert_eq!(consent().await, Some(change(true, 10)));

    // A newer change is stored (an operator's): a START dated before it keeps it, and the
    // text is stored all the same, also when a newer message is the conversation's latest.
    store
        .set_consent(&acme, &ann, &change(true, 30))
        .await
        .expect("set_consent");
    let newest = message("acme", N1, 40, None);
    assert_eq!(record(store, &newest).await, Recorded::New);
    let late_start = message("acme", N1, 20, Some("SM20"));
    assert_eq!(
        record_with(&late_start, &change(false, 20)).await,
        Recorded::New
    );
    assert_eq!(consent().await, Some(change(true, 30)));
    assert_eq!(
        conversation_ids(store, "acme", N1, 10).await,
        vec![message_id(40), message_id(20), message_id(10)]
    );
    let latest = store
        .recent_conversations(&acme, 10)
        .await
        .expect("recent_conversations");
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0].last_message_id, message_id(40));

    // A newer START is written with its text.
    let start = message("acme", N1, 50, Some("SM50"));
    assert_eq!(record_with(&start, &change(false, 50)).await, Recorded::New);
    assert_eq!(consent().await, Some(change(false, 50)));
    assert_eq!(
        store.consent(&acme, &phone(N2)).await.expect("consent"),
        None
    );
}

/// A window's read: newest first, from its first instant (ids made up to the longest send
/// wait before it included, for the caller to filter), at most the limit, and says whether
/// the window held more.
pub async fn messages_since_reads_one_bounded_window(store: &dyn Store) {
    const DAY: i64 = 24 * 3600 * 1000;
    let t0 = 1_714_521_600_000;
    let at = |days: i64| t(t0 + days * DAY);
    // A message whose id was made at `id_day` and that was stored at `stored_day`.
    let stored = |id_day: i64, stored_day: i64, contact: &str| {
        let id_ms = u64::try_from(at(id_day).as_millis()).expect("positive");
        MessageRecord {
            id: MessageId::new(ulid::Ulid::from_parts(id_ms, 7).to_string()),
            created_at: at(stored_day),
            updated_at: at(stored_day),
            ..message("acme", contact, 0, None)
        }
    };
    let window = |since: Option<i64>, limit: usize| async move {
        let read = store
            .messages_since(&account_id("acme"), &phone(N1), since.map(at), limit)
            .await
            .expect("messages_since");
        let days: Vec<i64> = read
            .messages
            .iter()
            .map(|m| (m.created_at.as_millis() - t0) / DAY)
            .collect();
        (days, read.complete)
    };
    assert_eq!(window(None, 10).await, (vec![], true));
    for (id_day, stored_day) in [(0, 0), (10, 10), (19, 20), (30, 30), (40, 40)] {
        record(store, &stored(id_day, stored_day, N1)).await;
    }
    record(store, &stored(35, 35, N2)).await;
    let cases = [
        // (since, limit, days read, complete)
        (None, 10, vec![40, 30, 20, 10, 0], true),
        (None, 5, vec![40, 30, 20, 10, 0], true),
        (None, 3, vec![40, 30, 20], false),
        (Some(25), 10, vec![40, 30], true),
        (Some(25), 2, vec![40, 30], true),
        (Some(25), 1, vec![40], false),
        // Requested on day 19, stored on day 20: in a window from day 20.
        (Some(20), 10, vec![40, 30, 20], true),
        // Ids made up to two days (the longest send wait) before the window are read too.
        (Some(41), 10, vec![40], true),
        (Some(43), 10, vec![], true),
    ];
    for (since, limit, days, complete) in cases {
        assert_eq!(
            window(since, limit).await,
            (days, complete),
            "since day {since:?}, limit {limit}"
        );
    }
}
