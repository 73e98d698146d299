use super::*;
use crate::domain::fixtures::{account, email, phone};
use crate::domain::routing::{RoutingDecision, RoutingRule};
use crate::domain::{MessageId, MessageStatus};

const T0: i64 = 1_800_000_000_000;

/// A message at `T0 + seconds`: inbound routed to `user`, or outbound sent by `user`.
fn message(direction: Direction, user: Option<&str>, seconds: i64) -> MessageRecord {
    let at = Timestamp::from_millis(T0 + seconds * 1000);
    let routing = (direction == Direction::Inbound).then(|| RoutingDecision {
        to: email("office@example.com"),
        user_id: user.map(str::to_string),
        rule: if user.is_some() {
            RoutingRule::LastSms
        } else {
            RoutingRule::BackupEmail
        },
        reason: "test".into(),
    });
    MessageRecord {
        id: MessageId::new(format!("01J{seconds:023}")),
        account: AccountId::parse("acme").expect("valid id"),
        contact_phone: phone("+14155550101"),
        our_sender: "+12025550101".into(),
        direction,
        body: "hello".into(),
        media_urls: vec![],
        status: MessageStatus::Received,
        provider_sid: None,
        error_code: None,
        user_id: (direction == Direction::Outbound)
            .then(|| user.map(str::to_string))
            .flatten(),
        campaign: None,
        kind: None,
        contact_id: None,
        created_at: at,
        updated_at: at,
        routing,
    }
}

use Direction::{Inbound, Outbound};

#[test]
fn the_owner_is_the_latest_message_naming_a_user() {
    let cases: [(&str, Vec<MessageRecord>, Option<&str>); 5] = [
        ("nothing", vec![], None),
        (
            "a text routed to mary",
            vec![message(Inbound, Some("mary"), 2)],
            Some("mary"),
        ),
        (
            "john answered after mary got the text",
            vec![
                message(Outbound, Some("john"), 3),
                message(Inbound, Some("mary"), 2),
            ],
            Some("john"),
        ),
        (
            "a campaign and a backup-routed text name no one: the sender before them counts",
            vec![
                message(Inbound, None, 4),
                message(Outbound, None, 3),
                message(Outbound, Some("mary"), 1),
            ],
            Some("mary"),
        ),
        ("only campaigns", vec![message(Outbound, None, 1)], None),
    ];
    for (case, messages, owner) in cases {
        assert_eq!(conversation_owner(&messages), owner, "{case}");
    }
}

#[test]
fn a_user_sees_their_own_conversations_and_an_admin_all() {
    let mut mary = account().users["mary"].clone();
    let cases = [
        (false, Some("mary"), true),
        (false, Some("john"), false),
        (false, None, false),
        (true, Some("john"), true),
        (true, None, true),
    ];
    for (admin, owner, seen) in cases {
        mary.admin = admin;
        assert_eq!(sees(&mary, owner), seen, "admin {admin}, owner {owner:?}");
    }
}

#[test]
fn unread_counts_texts_received_after_the_read_mark() {
    let messages = vec![
        message(Inbound, Some("mary"), 30),
        message(Outbound, Some("mary"), 20),
        message(Inbound, Some("mary"), 10),
    ];
    let at = |s: i64| Some(Timestamp::from_millis(T0 + s * 1000));
    let cases = [
        (None, 2),
        (at(10), 1),
        (at(29), 1),
        (at(30), 0),
        (at(40), 0),
    ];
    for (read_through, count) in cases {
        assert_eq!(unread(&messages, read_through), count, "{read_through:?}");
    }
}

#[test]
fn secrets_round_trip_and_are_stored_by_digest_only() {
    let secret = InboxSecret::generate();
    assert_eq!(secret.as_str().len(), SECRET_LEN);
    assert_eq!(InboxSecret::parse(secret.as_str()), Some(secret.clone()));
    assert_ne!(InboxSecret::generate(), secret);
    let digest = secret.digest();
    assert_eq!(digest.as_str().len(), 64);
    assert!(!digest.as_str().contains(secret.as_str()));
    assert_eq!(format!("{secret:?}"), "InboxSecret(…)");
    for bad in [
        "",
        "short",
        &"a".repeat(44),
        &format!("{}=", &"a".repeat(42)),
    ] {
        assert_eq!(InboxSecret::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn a_session_checks_its_csrf_token() {
    let now = Timestamp::from_millis(T0);
    let session = InboxSession::start(AccountId::parse("acme").expect("id"), "mary".into(), now);
    assert!(session.csrf_matches(&session.csrf.clone()));
    assert!(!session.csrf_matches(""));
    assert!(!session.csrf_matches(&InboxSecret::generate().0));
    assert_eq!(session.expires_at, now.plus(SESSION_LIFETIME));
}

#[test]
fn sign_in_windows_are_fifteen_minutes_wide() {
    let width = SIGN_IN_WINDOW.as_millis() as i64;
    let start = Timestamp::from_millis(T0 - T0 % width);
    for offset in [0, 1, width - 1] {
        let now = Timestamp::from_millis(start.as_millis() + offset);
        assert_eq!(sign_in_window(now), start, "{offset}");
    }
    let next = Timestamp::from_millis(start.as_millis() + width);
    assert_eq!(sign_in_window(next), next);
}
