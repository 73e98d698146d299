//! Notes: created and appended on v1, and the last call note found on v2.

use super::*;
use crate::adapters::test_support::email;
use crate::ports::crm::NoteUser;
use wiremock::matchers::body_json;

#[tokio::test]
async fn notes_are_created_and_appended_on_v1() {
    let server = MockServer::start().await;
    let note_31 = json!({
        "id": 31, "contact_id": 5, "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": 1
    });
    let create = keap_write("POST", "/crm/rest/v1/notes").and(body_json(json!({
        "contact_id": 5, "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": 1
    })));
    let mut stored = note_31.clone();
    stored["date_created"] = json!("2026-01-01T00:00:00.000Z");
    expect(&server, 1, create, created(stored)).await;
    expect(&server, 1, keap_get("/crm/rest/v1/notes/31"), ok(note_31)).await;
    let append = keap_write("PATCH", "/crm/rest/v1/notes/31")
        .and(body_json(json!({ "body": "Sent: Hi\nReceived: Thanks" })));
    expect(&server, 1, append, ok(json!({ "id": 31 }))).await;
    let (crm, account) = keap_and_account(&server);
    let welcome = NewNote {
        title: "SMS: Welcome".into(),
        body: "Sent: Hi".into(),
        user_id: Some("1".into()),
    };

    let note = crm
        .create_note(&account, &ContactId::new("5"), &welcome)
        .await
        .expect("created");
    assert_eq!(
        note,
        Note {
            id: "31".into(),
            contact_id: "5".into(),
            title: "SMS: Welcome".into(),
            body: "Sent: Hi".into(),
            user_id: Some("1".into()),
        }
    );
    crm.append_to_note(&account, "31", "\nReceived: Thanks")
        .await
        .expect("appended");
}

fn v2_note(id: &str, note_type: Option<&str>, user: Value, created: &str) -> Value {
    json!({
        "id": id,
        "title": "Note",
        "text": "Long text of the note",
        "type": note_type,
        "contact_id": "5",
        "assigned_to_user": user,
        "create_time": created,
        "update_time": created,
        "created_by_user_id": "3"
    })
}

fn notes_page(notes: Vec<Value>, next: Option<&str>) -> ResponseTemplate {
    ok(json!({ "notes": notes, "next_page_token": next }))
}

/// The notes of `contact`, any page.
fn notes_of(contact: &str) -> MockBuilder {
    keap_get(&format!("/crm/rest/v2/contacts/{contact}/notes"))
}

/// The notes of contact 5, newest first, the first page or the one `page_token` names.
fn notes_of_5(page_token: Option<&str>) -> MockBuilder {
    let mut pairs = vec![("order_by", "create_time desc"), ("page_size", "25")];
    pairs.extend(page_token.map(|t| ("page_token", t)));
    notes_of("5").and(query_is(&pairs))
}

#[tokio::test]
async fn the_last_call_note_is_the_newest_note_of_type_call() {
    let server = MockServer::start().await;
    let bob = json!({ "id": "18", "given_name": "Bob", "family_name": "Stone",
                      "email_address": "bob@team.example" });
    let first_page = notes_page(
        vec![
            v2_note("44", Some("Email"), bob.clone(), "2024-05-02T09:00:00Z"),
            v2_note("43", Some("Other"), json!(null), "2024-05-01T15:00:00Z"),
        ],
        Some("page-2"),
    );
    expect(&server, 1, notes_of_5(None), first_page).await;
    // Keap Classic lets admins name types: "call" in any case is a call.
    let second_page = notes_page(
        vec![
            v2_note("41", Some("call"), bob, "2024-05-01T14:03:00.000Z"),
            v2_note(
                "40",
                Some("Call"),
                json!({ "id": "17" }),
                "2024-04-01T10:00:00Z",
            ),
        ],
        Some("page-3"),
    );
    expect(&server, 1, notes_of_5(Some("page-2")), second_page).await;

    let note = keap(&server)
        .last_call_note(&api_key_account(&server), &ContactId::new("5"))
        .await
        .expect("read");
    assert_eq!(
        note,
        Some(CallNote {
            id: "41".into(),
            user: Some(NoteUser {
                id: "18".into(),
                name: Some("Bob Stone".into()),
                email: Some(email("bob@team.example")),
            }),
            logged_at: Some(crate::domain::Timestamp::from_millis(1_714_572_180_000)),
        })
    );
}

#[tokio::test]
async fn a_call_note_without_user_or_readable_time_keeps_what_keap_gave() {
    let cases = [
        (json!(null), "not a time", None, None),
        (
            json!({ "id": "0" }),
            "2024-05-01T14:03:00Z",
            None,
            Some(1_714_572_180_000),
        ),
        (
            json!({ "id": "17", "email_address": "not an address" }),
            "2024-05-01T14:03:00Z",
            Some(NoteUser {
                id: "17".into(),
                name: None,
                email: None,
            }),
            Some(1_714_572_180_000),
        ),
    ];
    for (user, created, expected_user, expected_time) in cases {
        let server = MockServer::start().await;
        let call_note = v2_note("41", Some("Call"), user.clone(), created);
        expect(
            &server,
            1,
            notes_of_5(None),
            notes_page(vec![call_note], None),
        )
        .await;
        let note = keap(&server)
            .last_call_note(&api_key_account(&server), &ContactId::new("5"))
            .await
            .expect("read")
            .expect("a call note");
        assert_eq!(
            (note.user, note.logged_at.map(|t| t.as_millis())),
            (expected_user, expected_time),
            "{user} {created}"
        );
    }
}

#[tokio::test]
async fn no_call_note_is_none_and_the_search_stops_after_four_pages() {
    // Only other notes, page after page: four pages are read, then none.
    let server = MockServer::start().await;
    let other = v2_note("9", Some("Other"), json!(null), "2024-05-01T14:03:00Z");
    expect(
        &server,
        4,
        notes_of("5"),
        notes_page(vec![other], Some("more")),
    )
    .await;
    let (crm, account) = keap_and_account(&server);
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("5")).await,
        Ok(None)
    );

    // No notes at all; an unknown contact; an id that is not Keap's (no request).
    let server = MockServer::start().await;
    expect(&server, 1, notes_of_5(None), notes_page(vec![], None)).await;
    expect(&server, 1, notes_of("6"), contact_not_found("6")).await;
    let (crm, account) = keap_and_account(&server);
    for contact in ["5", "6", "5/../6"] {
        let note = crm.last_call_note(&account, &ContactId::new(contact)).await;
        assert_eq!(note, Ok(None), "contact {contact}");
    }

    // Errors other than "not found" reach the caller (the job retries).
    let server = MockServer::start().await;
    expect(&server, 1, notes_of("5"), ResponseTemplate::new(503)).await;
    let (crm, account) = keap_and_account(&server);
    assert_unavailable(crm.last_call_note(&account, &ContactId::new("5")).await);
}
