//! The engine's edges: refusals, finished runs, remembered SIDs, stored state, note lines.

use std::collections::BTreeMap;

use super::*;
use crate::domain::MessageRecord;
use crate::domain::account::AccountId;
use crate::domain::consent::SendKind;
use crate::domain::received::MessageWindow;
use crate::domain::time::Timestamp;

const T0: i64 = 1_700_000_000_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(T0 + minutes * 60_000)
}

fn two_steps() -> Sequence {
    load(&with_steps(
        "  - name: a\n    message: Hi\n  - name: b\n    message: Bye\n    next: finish\n",
    ))
    .expect("valid")
}

/// `advance` for a contact with no fields, `minutes` after T0.
fn advance_at(
    seq: &Sequence,
    state: Option<&RunState>,
    event: &Event,
    minutes: i64,
) -> Result<Transition, EngineError> {
    let sent = MessageWindow::default();
    advance(seq, state, event, &ContactFields::new(), &sent, at(minutes))
}

fn start_event(at_step: Option<&str>) -> Event {
    Event::Start {
        at_step: at_step.map(str::to_string),
        trigger_sid: None,
    }
}

fn reply(sid: &str, body: &str) -> Event {
    Event::Reply {
        message_sid: sid.into(),
        body: body.into(),
        media: vec![],
    }
}

#[test]
fn engine_refusals() {
    let seq = two_steps();
    assert_eq!(
        advance_at(&seq, None, &start_event(Some("zz")), 0),
        Err(EngineError::UnknownStep("zz".into()))
    );
    assert_eq!(
        advance_at(&seq, None, &reply("SM1", "x"), 0),
        Err(EngineError::NotStarted)
    );
    let started = advance_at(&seq, None, &start_event(None), 0).expect("start");
    assert_eq!(
        advance_at(&seq, Some(&started.state), &start_event(None), 60),
        Err(EngineError::AlreadyActive { step: "a".into() })
    );
    // Once the lock has expired, a start begins a fresh run.
    let again = advance_at(&seq, Some(&started.state), &start_event(Some("b")), 24 * 60)
        .expect("restart after expiry");
    assert_eq!(again.state.current_step(), Some("b"));
    assert_eq!(again.state.started_at, at(24 * 60));
}

#[test]
fn finished_runs_take_no_events() {
    let seq = two_steps();
    let started = advance_at(&seq, None, &start_event(Some("b")), 0).expect("start");
    let done = advance_at(&seq, Some(&started.state), &reply("SM1", "ok"), 1).expect("reply");
    assert_eq!(done.state.finish_reason(), Some(FinishReason::Completed));
    for event in [
        reply("SM2", "hello?"),
        Event::OptedOut,
        Event::InvalidNumber,
        Event::Expire,
    ] {
        let t = advance_at(&seq, Some(&done.state), &event, 2).expect("event");
        assert_eq!(t.effects, vec![], "{event:?}");
        assert_eq!(t.state, done.state, "{event:?}");
    }
}

#[test]
fn remembers_a_bounded_number_of_sids() {
    let seq = load(&a_next(
        "      conditions:
        - equals_any: [done]
          goto: finish
      fallback: a
",
    ))
    .expect("valid");
    let mut state = advance_at(
        &seq,
        None,
        &Event::Start {
            at_step: None,
            trigger_sid: Some("SM-keyword".into()),
        },
        0,
    )
    .expect("start")
    .state;
    assert_eq!(state.processed_sids, ["SM-keyword"]);
    for i in 0..MAX_REMEMBERED_SIDS + 5 {
        state = advance_at(&seq, Some(&state), &reply(&format!("SM{i}"), "x"), 1)
            .expect("reply")
            .state;
    }
    assert_eq!(state.processed_sids.len(), MAX_REMEMBERED_SIDS);
    assert_eq!(
        state.processed_sids.front().map(String::as_str),
        Some("SM5")
    );
}

#[test]
fn run_state_round_trips_as_json() {
    let seq = two_steps();
    let t = advance_at(&seq, None, &start_event(None), 0).expect("start");
    let t = advance_at(&seq, Some(&t.state), &reply("SM1", " Tuesday "), 5).expect("reply");
    let json = serde_json::to_value(&t.state).expect("serialise");
    assert_eq!(
        json["status"],
        serde_json::json!({ "status": "waiting_for_reply", "step": "b" })
    );
    assert_eq!(json["answers"], serde_json::json!({ "a": "Tuesday" }));
    assert_eq!(
        json["expires_at"],
        serde_json::json!(at(5 + 24 * 60).as_millis())
    );
    let back: RunState = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, t.state);
}

#[test]
fn note_lines_show_media() {
    let seq = load(&with_steps(
        "  - name: a\n    message: Send a photo\n    media: ['https://cdn.example.com/a.png']\n    next: finish\n",
    )
    .replace("start: crm", "start: crm\nnote: true"))
    .expect("valid");
    let started = advance_at(&seq, None, &start_event(None), 0).expect("start");
    assert_eq!(
        started.effects[1],
        Effect::AppendToNote {
            text: "Sent: Send a photo [media: https://cdn.example.com/a.png]".into()
        }
    );
    let photo = Event::Reply {
        message_sid: "SM1".into(),
        body: " ".into(),
        media: vec!["https://api.twilio.com/ME1".into()],
    };
    let replied = advance_at(&seq, Some(&started.state), &photo, 1).expect("reply");
    assert_eq!(
        replied.effects,
        [
            Effect::AppendToNote {
                text: "Reply: [media: https://api.twilio.com/ME1]".into()
            },
            Effect::Finished {
                reason: FinishReason::Completed
            }
        ]
    );
    // A picture alone saves nothing.
    assert_eq!(replied.state.answers, BTreeMap::new());
}

/// A message sent to the contact `days` before T0, as the store keeps it.
fn sent_before(days: i64, kind: SendKind, campaign: &str) -> MessageRecord {
    let at = Timestamp::from_millis(T0 - days * 24 * 3600 * 1000);
    MessageRecord {
        id: crate::domain::MessageId::new(format!("01J{days:023}")),
        account: AccountId::parse("acme").expect("valid id"),
        contact_phone: crate::domain::PhoneNumber::parse_e164("+14155550101").expect("valid"),
        our_sender: "+14155550100".into(),
        direction: crate::domain::Direction::Outbound,
        body: "Spring sale".into(),
        media_urls: vec![],
        status: crate::domain::MessageStatus::Delivered,
        provider_sid: None,
        error_code: None,
        user_id: None,
        campaign: Some(campaign.into()),
        kind: Some(kind),
        contact_id: None,
        created_at: at,
        updated_at: at,
        routing: None,
    }
}

#[test]
fn has_received_branches_on_what_was_sent_whatever_the_reply() {
    let seq = load(&with_steps(
        "  - name: a
    message: Hi
    next:
      conditions:
        - has_received: { type: bulk, campaign: spring, within_days: 30 }
          tag: Saw the sale
          goto: b
      fallback: c
  - name: b
    message: You saw our sale
    next: finish
  - name: c
    message: Hello again
    next: finish
",
    ))
    .expect("valid");
    assert_eq!(seq.received_filters("a").len(), 1);
    assert!(seq.received_filters("b").is_empty());
    let started = advance_at(&seq, None, &start_event(None), 0).expect("start");
    // (what the contact was sent, the step the reply leads to)
    let cases = [
        (
            vec![sent_before(3, SendKind::Bulk, "Spring")],
            "You saw our sale",
        ),
        (
            vec![sent_before(31, SendKind::Bulk, "spring")],
            "Hello again",
        ),
        (
            vec![sent_before(3, SendKind::Transactional, "spring")],
            "Hello again",
        ),
        (vec![], "Hello again"),
    ];
    for (messages, want) in cases {
        let sent = MessageWindow {
            messages,
            complete: true,
        };
        let replied = advance(
            &seq,
            Some(&started.state),
            &reply("SM1", "ok"),
            &ContactFields::new(),
            &sent,
            at(1),
        )
        .expect("reply");
        let said = replied.effects.iter().find_map(|e| match e {
            Effect::SendMessage { body, .. } => Some(body.as_str()),
            _ => None,
        });
        assert_eq!(said, Some(want), "{:?}", sent.messages);
    }
}
