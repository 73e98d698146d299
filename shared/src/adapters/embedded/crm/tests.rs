use std::collections::BTreeMap;
use std::time::Duration;

use super::rows::ScopedRow;
use super::*;
use crate::adapters::test_support::goal_name;
use crate::domain::{Account, ContactId, EmailAddress, PhoneNumber, User};
use crate::ports::clock::ManualClock;
use crate::ports::crm::{Crm, CrmError, CrmResult, GoalOutcome, NewContact, NewNote, NoteUser};

fn account(id: &str) -> Account {
    let mary = User {
        id: "mary".into(),
        name: "Mary Anders".into(),
        email: EmailAddress::parse("mary@example.com").expect("valid e-mail"),
        crm_user_id: Some("7".into()),
        admin: false,
    };
    Account {
        id: AccountId::parse(id).expect("valid account id"),
        name: id.into(),
        users: BTreeMap::from([("mary".to_string(), mary)]),
        ..crate::domain::fixtures::account()
    }
}

fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("valid phone")
}

fn with_phone(e164: &str) -> NewContact {
    NewContact {
        first_name: Some("Ann".into()),
        phone: Some(phone(e164)),
        ..NewContact::default()
    }
}

/// Creates a contact named Ann with the number `e164`; her id.
async fn new_contact(crm: &SandboxCrm, account: &Account, e164: &str) -> ContactId {
    crm.create_contact(account, &with_phone(e164))
        .await
        .expect("contact created")
        .id
}

fn crm_at(db: EmbeddedDb, clock: Arc<ManualClock>) -> SandboxCrm {
    SandboxCrm::new(db, clock)
}

fn in_memory() -> (SandboxCrm, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000)));
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    (crm_at(db, clock.clone()), clock)
}

#[tokio::test]
async fn ids_are_increasing_integers_per_account() {
    let (crm, _) = in_memory();
    let (acme, other) = (account("acme"), account("other"));
    let mut ids = Vec::new();
    for (acct, number) in [
        (&acme, "+14155552671"),
        (&acme, "+14155552672"),
        (&other, "+14155552673"),
    ] {
        ids.push(
            crm.create_contact(acct, &with_phone(number))
                .await
                .expect("created")
                .id,
        );
    }
    assert_eq!(ids, ["1", "2", "1"]);
    let note = |title: &str| NewNote {
        title: title.into(),
        body: String::new(),
        user_id: None,
    };
    let first = crm
        .create_note(&acme, &ContactId::new("1"), &note("a"))
        .await
        .expect("note");
    let second = crm
        .create_note(&acme, &ContactId::new("2"), &note("b"))
        .await
        .expect("note");
    assert_eq!((first.id.as_str(), second.id.as_str()), ("1", "2"));
}

#[tokio::test]
async fn refuses_what_keap_refuses() {
    let (crm, _) = in_memory();
    let acme = account("acme");
    let nameless = NewContact {
        first_name: Some("Ann".into()),
        ..NewContact::default()
    };
    let result = crm.create_contact(&acme, &nameless).await;
    assert!(matches!(result, Err(CrmError::Rejected(_))), "{result:?}");

    let id = new_contact(&crm, &acme, "+14155552671").await;
    let empty = NewNote {
        title: " ".into(),
        body: String::new(),
        user_id: None,
    };
    let result = crm.create_note(&acme, &id, &empty).await;
    assert!(matches!(result, Err(CrmError::Rejected(_))), "{result:?}");
    assert!(crm.notes(None).await.expect("notes").is_empty());
}

#[tokio::test]
async fn outage_switch_fails_every_call_and_changes_nothing() {
    let (crm, _) = in_memory();
    let acme = account("acme");
    let id = new_contact(&crm, &acme, "+14155552671").await;
    crm.set_unavailable(true);
    let note = NewNote {
        title: "t".into(),
        body: "b".into(),
        user_id: None,
    };
    let email = EmailAddress::parse("ann@example.com").expect("valid e-mail");
    let results: Vec<(&str, CrmResult<()>)> = vec![
        (
            "find",
            crm.find_contact_by_phone(&acme, &phone("+14155552671"))
                .await
                .map(drop),
        ),
        ("contact", crm.contact(&acme, &id).await.map(drop)),
        (
            "create",
            crm.create_contact(&acme, &with_phone("+14155552672"))
                .await
                .map(drop),
        ),
        ("email", crm.set_email(&acme, &id, &email).await),
        ("field", crm.set_custom_field(&acme, &id, "f", "v").await),
        ("user", crm.user(&acme, "7").await.map(drop)),
        ("tag", crm.apply_tag(&acme, &id, "t").await),
        ("note", crm.create_note(&acme, &id, &note).await.map(drop)),
        ("append", crm.append_to_note(&acme, "1", "x").await),
        ("call note", crm.last_call_note(&acme, &id).await.map(drop)),
        (
            "goal",
            crm.achieve_goal(&acme, &id, "smsflow", &goal_name("Sent"))
                .await
                .map(drop),
        ),
    ];
    for (call, result) in results {
        assert!(
            matches!(&result, Err(e @ CrmError::Unavailable(_)) if e.is_transient()),
            "{call}: {result:?}"
        );
    }
    // The sandbox views still work during the outage, and show nothing changed.
    let contacts = crm.contacts(Some(&acme.id)).await.expect("contacts");
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].item.email, None);
    assert!(crm.goals(None, 10).await.expect("goals").is_empty());

    crm.clone().set_unavailable(false);
    crm.set_email(&acme, &id, &email).await.expect("back up");
}

#[tokio::test]
async fn goal_events_newest_first_and_goals_can_be_switched_back_on() {
    let (crm, clock) = in_memory();
    let (acme, other) = (account("acme"), account("other"));
    let ann = new_contact(&crm, &acme, "+14155552671").await;
    let bob = new_contact(&crm, &other, "+14155552672").await;
    for (acct, contact, call) in [
        (&acme, &ann, "Sent"),
        (&other, &bob, "Sent"),
        (&acme, &ann, "Delivered"),
    ] {
        assert_eq!(
            crm.achieve_goal(acct, contact, "smsflow", &goal_name(call))
                .await,
            Ok(GoalOutcome::Achieved)
        );
        clock.advance(Duration::from_millis(10));
    }
    let summary = |goals: Vec<AchievedGoal>| -> Vec<(String, String, i64)> {
        goals
            .into_iter()
            .map(|g| {
                (
                    g.account.to_string(),
                    g.call_name,
                    g.achieved_at.as_millis(),
                )
            })
            .collect()
    };
    assert_eq!(
        summary(crm.goals(None, 10).await.expect("goals")),
        [
            ("acme".to_string(), "Delivered".to_string(), 1_020),
            ("other".into(), "Sent".into(), 1_010),
            ("acme".into(), "Sent".into(), 1_000),
        ]
    );
    assert_eq!(
        summary(crm.goals(Some(&acme.id), 1).await.expect("goals")),
        [("acme".to_string(), "Delivered".to_string(), 1_020)]
    );

    crm.disable_goal_in_crm(&acme.id, "smsflow", "Sent")
        .await
        .expect("disable");
    assert_eq!(
        crm.disabled_goals(None).await.expect("disabled"),
        [DisabledGoal {
            account: acme.id.clone(),
            integration: "smsflow".into(),
            call_name: "Sent".into(),
        }]
    );
    // Only that goal of that account is off.
    assert_eq!(
        crm.achieve_goal(&acme, &ann, "smsflow", &goal_name("Sent"))
            .await,
        Ok(GoalOutcome::NotConfigured)
    );
    assert_eq!(
        crm.achieve_goal(&acme, &ann, "other-integration", &goal_name("Sent"))
            .await,
        Ok(GoalOutcome::Achieved)
    );
    assert_eq!(
        crm.achieve_goal(&other, &bob, "smsflow", &goal_name("Sent"))
            .await,
        Ok(GoalOutcome::Achieved)
    );
    crm.enable_goal_in_crm(&acme.id, "smsflow", "Sent")
        .await
        .expect("enable");
    assert_eq!(
        crm.achieve_goal(&acme, &ann, "smsflow", &goal_name("Sent"))
            .await,
        Ok(GoalOutcome::Achieved)
    );
    assert!(crm.disabled_goals(None).await.expect("disabled").is_empty());
}

#[tokio::test]
async fn everything_survives_reopening_the_database_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("smsflow.redb");
    let clock = Arc::new(ManualClock::at(Timestamp::from_millis(5)));
    let acme = account("acme");
    {
        let crm = crm_at(EmbeddedDb::open(&path).expect("open"), clock.clone());
        let id = new_contact(&crm, &acme, "+14155552671").await;
        crm.apply_tag(&acme, &id, "sms-lead").await.expect("tag");
        crm.set_custom_field(&acme, &id, "LastText", "hi")
            .await
            .expect("field");
        let note = NewNote {
            title: "SMS".into(),
            body: "hi".into(),
            user_id: Some("7".into()),
        };
        let note = crm.create_note(&acme, &id, &note).await.expect("note");
        crm.append_to_note(&acme, &note.id, " again")
            .await
            .expect("append");
        crm.achieve_goal(&acme, &id, "smsflow", &goal_name("Inbound"))
            .await
            .expect("goal");
        crm.disable_goal_in_crm(&acme.id, "smsflow", "Sent")
            .await
            .expect("disable");
    }
    let crm = crm_at(EmbeddedDb::open(&path).expect("reopen"), clock);
    let found = crm
        .find_contact_by_phone(&acme, &phone("+14155552671"))
        .await
        .expect("find")
        .expect("the contact is still there");
    assert_eq!(found.tags, ["sms-lead"]);
    assert_eq!(
        found.custom_fields.get("LastText").map(String::as_str),
        Some("hi")
    );
    let notes = crm.notes(Some(&acme.id)).await.expect("notes");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].item.note.body, "hi again");
    assert_eq!(crm.goals(None, 10).await.expect("goals").len(), 1);
    assert_eq!(
        crm.achieve_goal(&acme, &found.id, "smsflow", &goal_name("Sent"))
            .await,
        Ok(GoalOutcome::NotConfigured)
    );
    // New ids continue after the stored ones.
    let next = crm
        .create_contact(&acme, &with_phone("+14155552672"))
        .await
        .expect("c");
    assert_eq!(next.id, "2");
}

#[test]
fn sandbox_records_serialise_flat_with_their_account() {
    let note = InAccount {
        account: AccountId::parse("acme").expect("valid id"),
        item: SandboxNote {
            note: Note {
                id: "3".into(),
                contact_id: "1".into(),
                title: "SMS".into(),
                body: "hi".into(),
                user_id: None,
            },
            note_type: Some("Call".into()),
            created_at: Some(Timestamp::from_millis(7)),
        },
    };
    assert_eq!(
        serde_json::to_value(&note).expect("serialises"),
        serde_json::json!({
            "account": "acme", "id": "3", "contact_id": "1",
            "title": "SMS", "body": "hi", "user_id": null,
            "type": "Call", "created_at": 7
        })
    );
}

#[test]
fn notes_stored_before_types_existed_still_read() {
    let old = br#"{"id":"3","contact_id":"1","title":"SMS","body":"hi","user_id":"7"}"#;
    let note = SandboxNote::from_row(3, old).expect("an old row decodes");
    assert_eq!((note.note_type, note.created_at), (None, None));
    assert_eq!(note.note.user_id.as_deref(), Some("7"));
}

#[tokio::test]
async fn logged_call_notes_name_their_user_and_work_during_an_outage() {
    let (crm, clock) = in_memory();
    let acme = account("acme");
    let id = new_contact(&crm, &acme, "+14155552671").await;
    let call = |user: &str| NewNote {
        title: "Call".into(),
        body: "Talked about the roof".into(),
        user_id: Some(user.into()),
    };
    crm.set_unavailable(true);
    let logged = crm
        .log_note(&acme.id, &id, &call("7"), "Call", None)
        .await
        .expect("a control method works during an outage");
    assert_eq!(logged.created_at, Some(clock.now()));
    let during = crm.last_call_note(&acme, &id).await;
    assert!(
        matches!(during, Err(CrmError::Unavailable(_))),
        "{during:?}"
    );
    crm.set_unavailable(false);

    let mary = crm
        .last_call_note(&acme, &id)
        .await
        .expect("read")
        .expect("a call note");
    assert_eq!(
        mary.user,
        Some(NoteUser {
            id: "7".into(),
            name: Some("Mary Anders".into()),
            email: Some(EmailAddress::parse("mary@example.com").expect("valid e-mail")),
        })
    );
    // A user the sandbox CRM does not have is named by id alone; case does not matter.
    crm.log_note(
        &acme.id,
        &id,
        &call("99"),
        " call ",
        Some(clock.now().plus(Duration::from_secs(1))),
    )
    .await
    .expect("logged");
    let ghost = crm.last_call_note(&acme, &id).await.expect("read");
    assert_eq!(
        ghost.and_then(|n| n.user),
        Some(NoteUser {
            id: "99".into(),
            name: None,
            email: None,
        })
    );

    let refused = [
        crm.log_note(&acme.id, &id, &call("7"), " ", None).await,
        crm.log_note(&acme.id, "42", &call("7"), "Call", None).await,
    ];
    assert!(
        matches!(refused[0], Err(CrmError::Rejected(_))),
        "{:?}",
        refused[0]
    );
    assert!(
        matches!(refused[1], Err(CrmError::NotFound(_))),
        "{:?}",
        refused[1]
    );
    assert_eq!(
        crm.last_call_note(&acme, &ContactId::new("42")).await,
        Ok(None)
    );
    assert_eq!(
        crm.last_call_note(&acme, &ContactId::new("not-a-number"))
            .await,
        Ok(None)
    );
}
