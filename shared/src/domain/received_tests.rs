use super::*;
use crate::domain::AccountId;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Filter words as a request gives them, by name.
type Words<'a> = &'a [(&'a str, &'a str)];
/// 2024-05-01T00:00:00Z.
const MAY_1: i64 = 1_714_521_600_000;

fn words<'a>(pairs: &[(&str, &'a str)]) -> FilterWords<'a> {
    let mut w = FilterWords::default();
    for (name, value) in pairs {
        match *name {
            "type" => w.kinds.push(value),
            "campaign" => w.campaign = Some(value),
            "status" => w.status = Some(value),
            "since" => w.since = Some(value),
            "withinDays" => w.within_days = Some(value),
            other => panic!("no such filter word {other}"),
        }
    }
    w
}

fn filter(pairs: &[(&str, &str)]) -> ReceivedFilter {
    ReceivedFilter::parse(&words(pairs)).expect("a valid filter")
}

fn sent(
    n: i64,
    status: MessageStatus,
    kind: Option<SendKind>,
    campaign: Option<&str>,
) -> MessageRecord {
    let at = Timestamp::from_millis(MAY_1 + n * DAY_MS);
    MessageRecord {
        id: MessageId::new(format!("01J{n:023}")),
        account: AccountId::parse("acme").expect("valid id"),
        contact_phone: PhoneNumber::parse_e164("+14155550100").expect("valid number"),
        our_sender: "+19523142318".into(),
        direction: Direction::Outbound,
        body: format!("message {n}"),
        media_urls: vec![],
        status,
        provider_sid: None,
        error_code: None,
        user_id: None,
        campaign: campaign.map(str::to_string),
        kind,
        contact_id: None,
        created_at: at,
        updated_at: at,
        routing: None,
    }
}

#[test]
fn reads_the_filter_words() {
    let f = filter(&[
        ("type", "Bulk, transactional"),
        ("type", "bulk"),
        ("campaign", "  Spring "),
        ("status", "DELIVERED"),
        ("withinDays", "30"),
    ]);
    assert_eq!(f.kinds, vec![SendKind::Bulk, SendKind::Transactional]);
    assert_eq!(f.campaign.as_deref(), Some("Spring"));
    assert_eq!(f.status, ReceivedStatus::Delivered);
    assert_eq!(f.window, Window::WithinDays(30));

    let defaults = filter(&[]);
    assert_eq!(defaults.status, ReceivedStatus::Sent);
    assert_eq!(defaults.window, Window::Always);
    assert!(defaults.kinds.is_empty());

    let cases = [
        ("2024-05-01", MAY_1),
        (
            "2024-05-01T09:30:00Z",
            MAY_1 + 9 * 3600 * 1000 + 30 * 60 * 1000,
        ),
        ("2024-05-01T11:00:00+02:00", MAY_1 + 9 * 3600 * 1000),
    ];
    for (since, want) in cases {
        assert_eq!(
            filter(&[("since", since)]).window,
            Window::Since(Timestamp::from_millis(want)),
            "{since}"
        );
    }
}

#[test]
fn refuses_what_it_cannot_read() {
    let long = "x".repeat(201);
    let cases: [(Words, &str); 9] = [
        (&[("type", "marketing")], "invalid_type"),
        (&[("status", "read")], "invalid_status"),
        (&[("since", "yesterday")], "invalid_since"),
        (&[("since", "2024-13-01")], "invalid_since"),
        (&[("withinDays", "0")], "invalid_within_days"),
        (&[("withinDays", "3651")], "invalid_within_days"),
        (&[("withinDays", "1.5")], "invalid_within_days"),
        (
            &[("since", "2024-05-01"), ("withinDays", "3")],
            "two_windows",
        ),
        (&[("campaign", long.as_str())], "invalid_campaign"),
    ];
    for (pairs, code) in cases {
        let err = ReceivedFilter::parse(&words(pairs)).expect_err("refused");
        assert_eq!(err.code(), code, "{pairs:?}: {err}");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn counts_outbound_messages_that_pass_every_filter() {
    use MessageStatus::{Delivered, Failed, Queued, Read, Sent, Undelivered};
    use SendKind::{Bulk, Transactional};
    let now = Timestamp::from_millis(MAY_1 + 10 * DAY_MS);
    let cases: [(Words, MessageRecord, bool); 16] = [
        (&[], sent(1, Sent, Some(Bulk), None), true),
        (&[], sent(1, Delivered, None, None), true),
        (&[], sent(1, Read, None, None), true),
        (&[], sent(1, Queued, None, None), false),
        (&[], sent(1, Failed, None, None), false),
        (&[], sent(1, Undelivered, None, None), false),
        (&[("status", "delivered")], sent(1, Sent, None, None), false),
        (&[("status", "delivered")], sent(1, Read, None, None), true),
        (&[("type", "bulk")], sent(1, Sent, Some(Bulk), None), true),
        (
            &[("type", "bulk")],
            sent(1, Sent, Some(Transactional), None),
            false,
        ),
        // A message stored before kinds were recorded matches no kind filter.
        (&[("type", "bulk")], sent(1, Sent, None, None), false),
        (
            &[("campaign", "SPRING")],
            sent(1, Sent, None, Some("spring ")),
            true,
        ),
        (
            &[("campaign", "spring")],
            sent(1, Sent, None, Some("autumn")),
            false,
        ),
        (&[("campaign", "spring")], sent(1, Sent, None, None), false),
        (&[("withinDays", "9")], sent(1, Sent, None, None), true),
        (&[("withinDays", "8")], sent(1, Sent, None, None), false),
    ];
    for (pairs, message, want) in cases {
        let f = filter(pairs);
        assert_eq!(
            f.counts(&message, f.window.since(now)),
            want,
            "{pairs:?} on {:?} {:?} {:?}",
            message.status,
            message.kind,
            message.campaign
        );
    }
    let mut inbound = sent(1, MessageStatus::Received, None, None);
    inbound.direction = Direction::Inbound;
    assert!(
        !filter(&[]).counts(&inbound, None),
        "an inbound text is not received SMS"
    );
}

#[test]
fn a_tally_counts_and_names_the_newest() {
    let now = Timestamp::from_millis(MAY_1 + 10 * DAY_MS);
    let newest_first = [
        sent(9, MessageStatus::Failed, None, None),
        sent(
            7,
            MessageStatus::Delivered,
            Some(SendKind::Bulk),
            Some("spring"),
        ),
        sent(3, MessageStatus::Sent, None, None),
    ];
    let read = |complete| MessageWindow {
        messages: newest_first.to_vec(),
        complete,
    };
    let tally = filter(&[]).tally(&read(true), now);
    assert!(tally.received);
    assert_eq!(tally.count, 2);
    assert!(tally.complete);
    let last = tally.last.expect("the newest that counted");
    assert_eq!(last.message_id, newest_first[1].id);
    assert_eq!(last.kind, Some(SendKind::Bulk));

    let none = filter(&[("since", "2024-05-09")]).tally(&read(false), now);
    assert_eq!(
        (none.received, none.count, none.complete),
        (false, 0, false)
    );
    assert_eq!(none.last, None);
}
