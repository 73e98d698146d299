//! CRM conformance: what every `Crm` adapter (the sandbox, Keap behind a local HTTP mock)
//! must do, written against the port only. What the port cannot express (making a goal
//! unconfigured, reading a note back, logging a call) goes through the adapter's
//! [`CrmControl`].

use std::sync::Arc;

use async_trait::async_trait;
use smsflow_shared::domain::{Account, ContactId, EmailAddress, GoalName, PhoneNumber, Timestamp};
use smsflow_shared::ports::crm::{
    CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact, NewNote, Note,
    NoteUser,
};

use crate::fixtures::phone;

/// One adapter under test, fresh for each case.
pub struct CrmUnderTest {
    pub crm: Arc<dyn Crm>,
    pub account: Account,
    /// A second account: nothing done for `account` may be visible through it.
    pub other_account: Account,
    /// A user that exists in `account`'s CRM.
    pub known_user: CrmUser,
    pub control: Arc<dyn CrmControl>,
}

/// Test hooks each CRM provides in its own way.
#[async_trait]
pub trait CrmControl: Send + Sync {
    /// Makes this goal unconfigured (for Keap: no published campaign uses it).
    async fn unconfigure_goal(&self, account: &Account, integration: &str, call_name: &str);
    /// The note as the CRM now holds it.
    async fn read_note(&self, account: &Account, note_id: &str) -> Option<Note>;
    /// Logs a note of type `note_type` (`Call`, `Email`...) on a contact, assigned to
    /// `user_id`, created at `at`, as someone working in the CRM would; returns its id.
    async fn log_note(
        &self,
        account: &Account,
        contact_id: &str,
        note_type: &str,
        user_id: Option<&str>,
        at: Timestamp,
    ) -> String;
}

const UNKNOWN_ID: &str = "987654321";

fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).expect("test e-mail is valid")
}

fn new_contact(number: &str) -> NewContact {
    NewContact {
        first_name: Some("Ann".into()),
        last_name: Some("Lee".into()),
        email: None,
        phone: Some(phone(number)),
        owner_id: None,
        time_zone: None,
    }
}

/// The fields a new contact is created with, for comparison.
type ContactFields<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Option<&'a EmailAddress>,
    Option<&'a PhoneNumber>,
    Option<&'a str>,
);

fn fields(c: &Contact) -> ContactFields<'_> {
    (
        c.first_name.as_deref(),
        c.last_name.as_deref(),
        c.email.as_ref(),
        c.phone.as_ref(),
        c.owner_id.as_deref(),
    )
}

async fn create(t: &CrmUnderTest, number: &str) -> Contact {
    t.crm
        .create_contact(&t.account, &new_contact(number))
        .await
        .expect("contact created")
}

async fn reload(t: &CrmUnderTest, id: &str) -> Contact {
    t.crm
        .contact(&t.account, &ContactId::new(id))
        .await
        .expect("contact read")
        .expect("the contact exists")
}

pub async fn find_by_phone_then_create_then_find(t: CrmUnderTest) {
    let number = phone("+14155552671");
    let before = t.crm.find_contact_by_phone(&t.account, &number).await;
    assert_eq!(before, Ok(None));

    let new = NewContact {
        email: Some(email("ann@example.com")),
        owner_id: Some(t.known_user.id.clone()),
        ..new_contact("+14155552671")
    };
    let created = t
        .crm
        .create_contact(&t.account, &new)
        .await
        .expect("created");
    assert!(!created.id.is_empty());
    let expected_fields = (
        Some("Ann"),
        Some("Lee"),
        Some(&email("ann@example.com")),
        Some(&number),
        Some(t.known_user.id.as_str()),
    );
    assert_eq!(fields(&created), expected_fields);

    let found = t
        .crm
        .find_contact_by_phone(&t.account, &number)
        .await
        .expect("search")
        .expect("the new contact is found by its phone");
    assert_eq!(found.id, created.id);
    assert_eq!(fields(&found), expected_fields);
    assert_eq!(reload(&t, &created.id).await.id, created.id);

    let elsewhere = t
        .crm
        .find_contact_by_phone(&t.account, &phone("+14155552672"))
        .await;
    assert_eq!(elsewhere, Ok(None), "another number finds nobody");
}

pub async fn set_email_shows_on_the_contact(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    for address in ["ann@example.com", "ann.lee@example.org"] {
        t.crm
            .set_email(&t.account, &contact.id, &email(address))
            .await
            .expect("e-mail set");
        assert_eq!(
            reload(&t, &contact.id).await.email,
            Some(email(address)),
            "after setting {address}"
        );
    }
}

pub async fn custom_fields_round_trip(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    let writes = [
        ("LastSms", "Are you open today?"),
        ("SmsStatus", "delivered"),
        ("LastSms", "Thanks!"),
    ];
    for (field, value) in writes {
        t.crm
            .set_custom_field(&t.account, &contact.id, field, value)
            .await
            .expect("field set");
    }
    let fields = reload(&t, &contact.id).await.custom_fields;
    assert_eq!(fields.get("LastSms").map(String::as_str), Some("Thanks!"));
    assert_eq!(
        fields.get("SmsStatus").map(String::as_str),
        Some("delivered")
    );
}

pub async fn applying_a_tag_twice_keeps_one(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    for tag in ["sms-lead", "sms-lead", "replied"] {
        t.crm
            .apply_tag(&t.account, &contact.id, tag)
            .await
            .expect("tag applied");
    }
    let mut tags = reload(&t, &contact.id).await.tags;
    tags.sort();
    assert_eq!(tags, ["replied", "sms-lead"]);
}

pub async fn notes_are_created_then_appended(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    let new = NewNote {
        title: "SMS: Welcome sequence".into(),
        body: "Sent: Hi Ann!".into(),
        user_id: Some(t.known_user.id.clone()),
    };
    let note = t
        .crm
        .create_note(&t.account, &contact.id, &new)
        .await
        .expect("note created");
    assert!(!note.id.is_empty());
    assert_eq!(
        (
            note.contact_id.as_str(),
            note.title.as_str(),
            note.body.as_str(),
            note.user_id.as_deref()
        ),
        (
            contact.id.as_str(),
            "SMS: Welcome sequence",
            "Sent: Hi Ann!",
            Some(t.known_user.id.as_str())
        )
    );

    for line in ["\nReceived: Thanks", "\nSent: You're welcome"] {
        t.crm
            .append_to_note(&t.account, &note.id, line)
            .await
            .expect("appended");
    }
    let stored = t
        .control
        .read_note(&t.account, &note.id)
        .await
        .expect("the note exists");
    assert_eq!(
        stored.body,
        "Sent: Hi Ann!\nReceived: Thanks\nSent: You're welcome"
    );
    assert_eq!(stored.title, "SMS: Welcome sequence");
}

pub async fn users_are_found_by_crm_id(t: CrmUnderTest) {
    let found = t.crm.user(&t.account, &t.known_user.id).await;
    assert_eq!(found, Ok(Some(t.known_user.clone())));
    let unknown = t.crm.user(&t.account, UNKNOWN_ID).await;
    assert_eq!(unknown, Ok(None));
}

pub async fn without_call_notes_there_is_no_last_call_note(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    assert_eq!(
        t.crm.last_call_note(&t.account, &contact.id).await,
        Ok(None)
    );

    // Notes smsflow writes, and notes of other types, are not calls.
    let sms_note = NewNote {
        title: "SMS: Welcome sequence".into(),
        body: "Sent: Hi Ann!".into(),
        user_id: Some(t.known_user.id.clone()),
    };
    t.crm
        .create_note(&t.account, &contact.id, &sms_note)
        .await
        .expect("note created");
    for note_type in ["Email", "Other", "Appointment"] {
        t.control
            .log_note(
                &t.account,
                &contact.id,
                note_type,
                Some(&t.known_user.id),
                at_hour(1),
            )
            .await;
    }
    assert_eq!(
        t.crm.last_call_note(&t.account, &contact.id).await,
        Ok(None)
    );
    assert_eq!(
        t.crm
            .last_call_note(&t.account, &ContactId::new(UNKNOWN_ID))
            .await,
        Ok(None)
    );
}

/// 2024-05-01 14:00 UTC plus `hour` hours.
fn at_hour(hour: i64) -> Timestamp {
    Timestamp::from_millis(1_714_572_000_000 + hour * 3_600_000)
}

pub async fn the_newest_call_note_wins(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    let other = create(&t, "+14155552672").await;
    let user = Some(t.known_user.id.as_str());
    let log = |contact: &str, note_type: &'static str, user: Option<&str>, hour: i64| {
        let (contact, user) = (contact.to_string(), user.map(str::to_string));
        let (control, account) = (t.control.clone(), t.account.clone());
        async move {
            control
                .log_note(
                    &account,
                    &contact,
                    note_type,
                    user.as_deref(),
                    at_hour(hour),
                )
                .await
        }
    };
    log(&contact.id, "Call", None, 1).await;
    let newest_call = log(&contact.id, "Call", user, 3).await;
    // Logged after the newest call but dated before it: time decides, not id order.
    log(&contact.id, "Call", None, 2).await;
    // Newer, but not calls; and a newer call on another contact.
    log(&contact.id, "Email", None, 5).await;
    log(&contact.id, "Other", None, 6).await;
    log(&other.id, "Call", None, 7).await;

    let found = t.crm.last_call_note(&t.account, &contact.id).await;
    assert_eq!(
        found,
        Ok(Some(CallNote {
            id: newest_call,
            user: Some(NoteUser {
                id: t.known_user.id.clone(),
                name: Some(t.known_user.name.clone()),
                email: t.known_user.email.clone(),
            }),
            logged_at: Some(at_hour(3)),
        }))
    );
    let theirs = t.crm.last_call_note(&t.account, &other.id).await;
    assert_eq!(
        theirs.map(|n| n.map(|n| (n.user, n.logged_at))),
        Ok(Some((None, Some(at_hour(7))))),
        "a call note without user"
    );
}

pub async fn achieving_a_configured_goal(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    let outcome = t
        .crm
        .achieve_goal(
            &t.account,
            &contact.id,
            &t.account.goal_integration,
            &GoalName::parse("Sent").expect("goal name"),
        )
        .await;
    assert_eq!(outcome, Ok(GoalOutcome::Achieved));
}

pub async fn an_unconfigured_goal_is_reported(t: CrmUnderTest) {
    let contact = create(&t, "+14155552671").await;
    let integration = t.account.goal_integration.clone();
    t.control
        .unconfigure_goal(&t.account, &integration, "Inbound")
        .await;
    let off = t
        .crm
        .achieve_goal(
            &t.account,
            &contact.id,
            &integration,
            &GoalName::parse("Inbound").expect("goal name"),
        )
        .await;
    assert_eq!(off, Ok(GoalOutcome::NotConfigured));
    let other_goal = t
        .crm
        .achieve_goal(
            &t.account,
            &contact.id,
            &integration,
            &GoalName::parse("Delivered").expect("goal name"),
        )
        .await;
    assert_eq!(
        other_goal,
        Ok(GoalOutcome::Achieved),
        "only that goal is off"
    );
}

pub async fn unknown_ids_are_not_found(t: CrmUnderTest) {
    // A contact exists, so "not found" is about the id and not an empty CRM.
    create(&t, "+14155552671").await;
    let (crm, account) = (&t.crm, &t.account);
    let note = NewNote {
        title: "t".into(),
        body: "b".into(),
        user_id: None,
    };
    let integration = account.goal_integration.as_str();
    let results: Vec<(&str, CrmResult<()>)> = vec![
        (
            "set_email",
            crm.set_email(
                account,
                &ContactId::new(UNKNOWN_ID),
                &email("x@example.com"),
            )
            .await,
        ),
        (
            "set_custom_field",
            crm.set_custom_field(account, &ContactId::new(UNKNOWN_ID), "F", "v")
                .await,
        ),
        (
            "apply_tag",
            crm.apply_tag(account, &ContactId::new(UNKNOWN_ID), "t")
                .await,
        ),
        (
            "create_note",
            crm.create_note(account, &ContactId::new(UNKNOWN_ID), &note)
                .await
                .map(drop),
        ),
        (
            "append_to_note",
            crm.append_to_note(account, UNKNOWN_ID, "x").await,
        ),
        (
            "achieve_goal",
            crm.achieve_goal(
                account,
                &ContactId::new(UNKNOWN_ID),
                integration,
                &GoalName::parse("Sent").expect("goal name"),
            )
            .await
            .map(drop),
        ),
    ];
    for (call, result) in results {
        assert!(
            matches!(result, Err(CrmError::NotFound(_))),
            "{call}: expected NotFound, got {result:?}"
        );
    }
    assert_eq!(
        crm.contact(account, &ContactId::new(UNKNOWN_ID)).await,
        Ok(None)
    );
}

pub async fn accounts_are_isolated(t: CrmUnderTest) {
    let number = phone("+14155552671");
    let ours = create(&t, "+14155552671").await;
    t.crm
        .set_email(&t.account, &ours.id, &email("ann@example.com"))
        .await
        .expect("e-mail set");

    let theirs = &t.other_account;
    assert_eq!(t.crm.find_contact_by_phone(theirs, &number).await, Ok(None));

    // The same person in the other account's CRM is a separate contact.
    let their_copy = t
        .crm
        .create_contact(theirs, &new_contact("+14155552671"))
        .await
        .expect("created in the other account");
    let found = t
        .crm
        .find_contact_by_phone(theirs, &number)
        .await
        .expect("search")
        .expect("found in the other account");
    assert_eq!(found.id, their_copy.id);
    assert_eq!(found.email, None, "our e-mail did not leak");

    // A goal switched off in one account stays on in the other.
    let integration = t.account.goal_integration.clone();
    t.control
        .unconfigure_goal(&t.account, &integration, "Sent")
        .await;
    let outcome = t
        .crm
        .achieve_goal(
            theirs,
            &their_copy.id,
            &theirs.goal_integration,
            &GoalName::parse("Sent").expect("goal name"),
        )
        .await;
    assert_eq!(outcome, Ok(GoalOutcome::Achieved));
}

/// `crm_conformance!(module_name, factory)` adds a module with one `#[tokio::test]` per
/// case; `factory` is an async fn (in scope where the macro is used) returning a fresh
/// [`CrmUnderTest`].
#[macro_export]
macro_rules! crm_conformance {
    ($name:ident, $factory:path) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::crm_conformance!(@cases $factory;
                find_by_phone_then_create_then_find,
                set_email_shows_on_the_contact,
                custom_fields_round_trip,
                applying_a_tag_twice_keeps_one,
                notes_are_created_then_appended,
                without_call_notes_there_is_no_last_call_note,
                the_newest_call_note_wins,
                users_are_found_by_crm_id,
                achieving_a_configured_goal,
                an_unconfigured_goal_is_reported,
                unknown_ids_are_not_found,
                accounts_are_isolated,
            );
        }
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::crm::$case($factory().await).await;
            }
        )*
    };
}
