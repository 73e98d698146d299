use std::collections::{BTreeMap, VecDeque};

use super::definitions::{is_readable_phone_field, phone_in_field};
use super::runs::{
    AppliedEvent, RunSession, RunTarget, contact_fields, decode_session, derived_message_id,
    encode_session, jobs_for,
};
use super::*;
use crate::domain::EmailAddress;
use crate::domain::contact::AUTO_CREATED_FIRST_NAME;
use crate::domain::fixtures;
use crate::domain::sequence::{ContactField, ContactFields, Effect, RunState, Sequence};
use crate::domain::sequence::{CustomField, FileFormat, FinishReason, RunStatus};
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::domain::{ContactId, SessionId};
use crate::jobs::AutomationJob;
use crate::jobs::JobId;
use crate::ports::{Contact, SessionRecord};

const YAML: &str = r#"
account: acme
name: intake
start: both
keywords: [JOIN]
sender: "+12025550101"
phone_field: Contact._Mobile
collect_email_first: true
steps:
  - name: ask-budget
    message: "Hi ~Contact.FirstName~, your budget? (we have ~Contact._Tier~ on file)"
    save_to: Contact._Budget
    next:
      conditions:
        - greater_than: { field: Contact._Floor }
          goto: finish
      fallback: finish
"#;

fn sequence() -> Sequence {
    Sequence::parse("intake.yaml", YAML, FileFormat::Yaml).expect("test sequence is valid")
}

fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(s).expect("test phone")
}

fn contact(first_name: Option<&str>, custom: &[(&str, &str)]) -> Contact {
    Contact {
        id: "42".into(),
        first_name: first_name.map(str::to_string),
        last_name: None,
        email: None,
        phone: Some(phone("+14155552671")),
        owner_id: None,
        tags: vec![],
        custom_fields: custom
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        time_zone: None,
    }
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn start_fields_from_pairs_and_json() {
    let fields = |contact: Option<&str>, step: Option<&str>| StartFields {
        contact_id: contact.map(str::to_string).map(ContactId::new),
        step: step.map(str::to_string),
        request_id: None,
    };
    let form_cases = [
        (pairs(&[("contactId", "7")]), fields(Some("7"), None)),
        (
            pairs(&[("key", "k"), ("contactId", " 7 "), ("step", "ask-day")]),
            fields(Some("7"), Some("ask-day")),
        ),
        (pairs(&[("contact_id", "8")]), fields(Some("8"), None)),
        // The last value wins, as in a form where the field is repeated.
        (
            pairs(&[("contactId", "1"), ("contactId", "2")]),
            fields(Some("2"), None),
        ),
        (
            pairs(&[("contactId", ""), ("step", " ")]),
            fields(None, None),
        ),
        (pairs(&[("phone", "+14155552671")]), fields(None, None)),
        (
            pairs(&[("contactId", "7"), ("requestId", "r-1")]),
            StartFields {
                request_id: Some("r-1".into()),
                ..fields(Some("7"), None)
            },
        ),
    ];
    for (input, want) in form_cases {
        assert_eq!(StartFields::from_pairs(&input), want, "{input:?}");
    }

    let json_cases: [(&str, Result<StartFields, ()>); 6] = [
        (r#"{"contactId": 7}"#, Ok(fields(Some("7"), None))),
        (
            r#"{"contactId": "7", "step": "ask-day", "other": true}"#,
            Ok(fields(Some("7"), Some("ask-day"))),
        ),
        (
            r#"{"contact_id": "9", "step": null}"#,
            Ok(fields(Some("9"), None)),
        ),
        ("  ", Ok(fields(None, None))),
        (r#"{"contactId": [1]}"#, Err(())),
        ("[1]", Err(())),
    ];
    for (input, want) in json_cases {
        assert_eq!(
            StartFields::from_json(input.as_bytes()).map_err(|_| ()),
            want,
            "{input}"
        );
    }

    // The body's fields win over the query string's.
    let merged = fields(Some("1"), Some("a")).merge(fields(Some("2"), None));
    assert_eq!(merged, fields(Some("2"), Some("a")));
}

#[test]
fn message_ids_are_ulids_derived_from_the_job() {
    let at = Timestamp::from_millis(1_795_000_000_123);
    let job =
        |event: &str, index: usize| JobId::sequence_effect(&SessionId::new("S1"), event, index);
    let id = derived_message_id(&job("SM1", 2), at);
    let ulid = ulid::Ulid::from_string(id.as_str()).expect("a ULID");
    assert_eq!(ulid.timestamp_ms(), 1_795_000_000_123);
    assert_eq!(id, derived_message_id(&job("SM1", 2), at), "deterministic");
    assert_ne!(id, derived_message_id(&job("SM1", 3), at));
    // Later events sort later in the conversation.
    let later = derived_message_id(&job("SM0", 0), Timestamp::from_millis(1_795_000_000_124));
    assert!(later > id);
}

#[test]
fn effects_become_jobs_with_derived_ids_and_one_note() {
    let account = AccountId::parse("acme").expect("id");
    let to = phone("+14155552671");
    let target = RunTarget {
        account: &account,
        sequence: "intake",
        session_id: &SessionId::new("S1"),
        phone: &to,
        contact_id: &ContactId::new("42"),
        sender: "+12025550101",
    };
    let email = EmailAddress::parse("ana@example.com").expect("address");
    let budget = CustomField::try_from("Contact._Budget".to_string()).expect("field");
    let event = AppliedEvent {
        key: "SM1".into(),
        at: Timestamp::from_millis(5),
        effects: vec![
            Effect::AppendToNote {
                text: "Reply: ana@example.com".into(),
            },
            Effect::SetEmail {
                email: email.clone(),
            },
            Effect::SaveField {
                field: budget,
                value: "300".into(),
            },
            Effect::ApplyTag { tag: "Lead".into() },
            Effect::SendMessage {
                step: "ask-budget".into(),
                body: "Your budget?".into(),
                media: vec![],
            },
            Effect::AppendToNote {
                text: "Sent: Your budget?".into(),
            },
            Effect::Finished {
                reason: FinishReason::Completed,
            },
        ],
    };
    assert!(event.finishes());
    let jobs = jobs_for(&target, &event);
    let ids: Vec<&str> = jobs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "seq:S1:SM1:4",
            "seq:S1:SM1:1",
            "seq:S1:SM1:2",
            "seq:S1:SM1:3",
            "seq:S1:SM1:note"
        ]
    );
    assert_eq!(
        jobs[1].1,
        AutomationJob::SetEmail {
            account: account.clone(),
            contact_id: "42".into(),
            email,
        }
    );
    assert_eq!(
        jobs[2].1,
        AutomationJob::SetCustomField {
            account: account.clone(),
            contact_id: "42".into(),
            field: "Budget".into(),
            value: "300".into(),
        }
    );
    match &jobs[0].1 {
        AutomationJob::SequenceSend {
            message_id,
            message,
        } => {
            assert_eq!(
                *message_id,
                derived_message_id(
                    &JobId::sequence_effect(&SessionId::new("S1"), "SM1", 4),
                    Timestamp::from_millis(5)
                )
            );
            assert_eq!(message.to, to);
            assert_eq!(message.sender, "+12025550101");
            assert_eq!(message.step, "ask-budget");
            assert_eq!(message.body, "Your budget?");
        }
        other => panic!("expected a send, got {other:?}"),
    }
    assert_eq!(
        jobs[4].1,
        AutomationJob::SequenceNote {
            account,
            contact_id: "42".into(),
            sequence: "intake".into(),
            lines: vec!["Reply: ana@example.com".into(), "Sent: Your budget?".into()],
        }
    );
}

#[test]
fn the_snapshot_holds_what_the_sequence_reads_and_what_the_run_saved() {
    let sequence = sequence();
    let run = RunState {
        status: RunStatus::WaitingForReply {
            step: "ask-budget".into(),
        },
        answers: BTreeMap::from([
            ("collect-email".to_string(), "ana@example.com".to_string()),
            ("ask-budget".to_string(), "300".to_string()),
        ]),
        started_at: Timestamp::from_millis(0),
        last_activity: Timestamp::from_millis(0),
        expires_at: Timestamp::from_millis(1),
        processed_sids: VecDeque::new(),
    };
    let known = contact(
        Some("Ana"),
        &[("Tier", "gold"), ("Floor", "100"), ("Unread", "x")],
    );
    let auto_created = contact(Some(AUTO_CREATED_FIRST_NAME), &[]);
    let field = |map: &ContactFields, name: &str| map.get(name).cloned();
    let cases = [
        (
            "a known contact, no run yet",
            contact_fields(&sequence, Some(&known), None),
            // The e-mail address is read for the e-mail step (asked only when empty).
            [Some("Ana"), Some("gold"), Some("100"), None, Some("")],
        ),
        (
            "the run's saved answers laid over the contact",
            contact_fields(&sequence, Some(&known), Some(&run)),
            [
                Some("Ana"),
                Some("gold"),
                Some("100"),
                Some("300"),
                Some("ana@example.com"),
            ],
        ),
        (
            "an auto-created contact has no first name to greet",
            contact_fields(&sequence, Some(&auto_created), None),
            [Some(""), None, None, None, Some("")],
        ),
        (
            "no contact at all",
            contact_fields(&sequence, None, Some(&run)),
            [None, None, None, Some("300"), Some("ana@example.com")],
        ),
    ];
    for (what, snapshot, want) in cases {
        let got = [
            "Contact.FirstName",
            "Contact._Tier",
            "Contact._Floor",
            "Contact._Budget",
            "Contact.Email",
        ]
        .map(|name| field(&snapshot, name));
        assert_eq!(got, want.map(|v| v.map(str::to_string)), "{what}");
        assert!(!snapshot.contains_key("Contact._Unread"), "{what}");
    }
}

#[test]
fn the_phone_is_read_from_the_sequence_phone_field() {
    let account = fixtures::account();
    let field = |name: &str| ContactField::parse(name).expect("field");
    let cases = [
        (
            "Contact.Phone1",
            contact(None, &[]),
            Some("+14155552671"),
            true,
        ),
        (
            "Contact._Mobile",
            contact(None, &[("Mobile", "(612) 555-0100")]),
            Some("+16125550100"),
            true,
        ),
        ("Contact._Mobile", contact(None, &[]), None, true),
        (
            "Contact._Mobile",
            contact(None, &[("Mobile", "not a number")]),
            None,
            true,
        ),
        // The CRM port's contact has no Phone2..5: refused when the sequence is applied.
        ("Contact.Phone2", contact(None, &[]), None, false),
    ];
    for (name, contact, want, readable) in cases {
        let field = field(name);
        assert_eq!(
            phone_in_field(&account, &field, &contact),
            want.map(phone),
            "{name}"
        );
        assert_eq!(is_readable_phone_field(&field), readable, "{name}");
    }
}

#[test]
fn run_sessions_round_trip_through_the_session_record() {
    let session = RunSession {
        contact_id: "42".into(),
        sender: "+12025550101".into(),
        run: RunState {
            status: RunStatus::Finished {
                reason: FinishReason::OptedOut,
            },
            answers: BTreeMap::new(),
            started_at: Timestamp::from_millis(1),
            last_activity: Timestamp::from_millis(2),
            expires_at: Timestamp::from_millis(3),
            processed_sids: VecDeque::from(["SM1".to_string()]),
        },
        last: AppliedEvent {
            key: "SM2".into(),
            at: Timestamp::from_millis(2),
            effects: vec![Effect::Finished {
                reason: FinishReason::OptedOut,
            }],
        },
    };
    let record = SessionRecord {
        session_id: "S1".into(),
        sequence: "intake".into(),
        state: encode_session(&session).expect("encodes"),
        started_at: Timestamp::from_millis(1),
        expires_at: Timestamp::from_millis(3),
        revision: 4,
    };
    assert_eq!(decode_session(&record), Ok(session));
    let foreign = SessionRecord {
        state: serde_json::json!({"step": 0}),
        ..record
    };
    assert!(decode_session(&foreign).is_err());
}
