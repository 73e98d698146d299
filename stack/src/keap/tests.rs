use std::collections::BTreeMap;

use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::crm::SandboxNote;
use smsflow_shared::domain::{EmailAddress, PhoneNumber, Timestamp};
use smsflow_shared::ports::crm::{Contact, CrmError, CrmResult, NewContact, NewNote};
use smsflow_shared::ports::{Clock, SystemClock};

use super::*;

#[test]
fn times_are_written_as_keap_writes_them() {
    let cases = [
        (0, "1970-01-01T00:00:00.000Z"),
        (1_714_572_180_007, "2024-05-01T14:03:00.007Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ];
    for (ms, text) in cases {
        assert_eq!(iso_time(Timestamp::from_millis(ms)), text);
    }
}

const KEY: &str = "acme-key";

/// A Keap app with user 1 and a `Rating` custom field, and Ann in it.
async fn app_with_ann() -> (KeapMock, Contact) {
    let mock = KeapMock::start().await;
    let mary = KeapUser {
        id: 1,
        given_name: "Mary".into(),
        family_name: "Anders".into(),
        email: "mary@example.com".into(),
    };
    mock.add_app(KEY, &[mary], &["Rating"]);
    let ann = NewContact {
        first_name: Some("Ann".into()),
        last_name: None,
        email: EmailAddress::parse("ann@example.com").ok(),
        phone: PhoneNumber::parse_e164("+14155552671").ok(),
        owner_id: Some("1".into()),
        time_zone: Some("America/Denver".into()),
    };
    let created = mock.create_contact(KEY, &ann).expect("Ann is created");
    (mock, created)
}

/// A request to the mock as the app's API key; its status and JSON answer.
async fn call(mock: &KeapMock, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", mock.base_url()))
        .header("X-Keap-API-Key", KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the mock answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn contacts_read_as_the_adapter_names_them() {
    let (mock, ann) = app_with_ann().await;
    let id = ann.id.clone();
    let (_, tag) = call(
        &mock,
        "POST",
        "/rest/v2/tags",
        Some(json!({"name": "sms-lead"})),
    )
    .await;
    let tag_id = tag["id"].as_str().expect("a tag id");
    let apply = format!("/rest/v2/tags/{tag_id}/contacts:applyTags");
    call(&mock, "POST", &apply, Some(json!({"contact_ids": [id]}))).await;
    let (_, model) = call(&mock, "GET", "/rest/v2/contacts/model", None).await;
    let field = model["custom_fields"][0]["id"].clone();
    let patch = format!("/rest/v2/contacts/{id}?update_mask=custom_fields");
    let fields = json!({"custom_fields": [{"id": field, "content": "9"}]});
    assert_eq!(call(&mock, "PATCH", &patch, Some(fields)).await.0, 200);
    let (_, served) = call(&mock, "GET", &format!("/rest/v2/contacts/{id}"), None).await;
    assert_eq!(
        served["time_zone"], "America/Denver",
        "the adapter reads it"
    );

    let expected = Contact {
        tags: vec!["sms-lead".into()],
        custom_fields: BTreeMap::from([("Rating".to_string(), "9".to_string())]),
        ..ann
    };
    assert_eq!(mock.contacts(KEY), [expected]);
    assert_eq!(
        mock.contacts(KEY)[0].time_zone.as_deref(),
        Some("America/Denver")
    );
}

#[tokio::test]
async fn notes_and_goals_read_with_their_times_newest_goal_first() {
    let (mock, ann) = app_with_ann().await;
    let number: u64 = ann.id.parse().expect("a numeric id");
    let call_note = NewNote {
        title: "Call".into(),
        body: "Talked about the roof".into(),
        user_id: Some("1".into()),
    };
    let at = Timestamp::from_millis(1_714_572_180_000);
    let logged = mock
        .log_note(KEY, &ann.id, &call_note, "Call", at)
        .expect("logged");
    let before = SystemClock.now();
    let sms_note = json!({"contact_id": number, "title": "SMS", "body": "hi"});
    assert_eq!(
        call(&mock, "POST", "/rest/v1/notes", Some(sms_note))
            .await
            .0,
        201
    );

    let notes = mock.notes(KEY);
    assert_eq!(notes.len(), 2);
    assert_eq!(notes[0], logged);
    assert_eq!(
        (
            logged.note.user_id.as_deref(),
            logged.note_type.as_deref(),
            logged.created_at
        ),
        (Some("1"), Some("Call"), Some(at))
    );
    assert_eq!(
        (notes[1].note.title.as_str(), notes[1].note_type.as_deref()),
        ("SMS", None)
    );
    assert!(
        notes[1].created_at.is_some_and(|t| t >= before),
        "{notes:?}"
    );

    for call_name in ["Sent", "Delivered"] {
        let goal = json!({"integration": "smsflow", "call_name": call_name, "contact_id": number});
        call(
            &mock,
            "POST",
            "/rest/v2/automations/goals/achieve",
            Some(goal),
        )
        .await;
    }
    let names = |goals: Vec<AchievedGoal>| -> Vec<String> {
        goals.into_iter().map(|g| g.call_name).collect()
    };
    assert_eq!(names(mock.goals(KEY, 10)), ["Delivered", "Sent"]);
    assert_eq!(names(mock.goals(KEY, 1)), ["Delivered"]);
}

#[tokio::test]
async fn what_people_do_in_the_crm_is_refused_as_the_sandbox_crm_refuses_it() {
    let (mock, ann) = app_with_ann().await;
    let note = |title: &str, user: Option<&str>| NewNote {
        title: title.into(),
        body: String::new(),
        user_id: user.map(str::to_string),
    };
    let at = Timestamp::from_millis(0);
    let rejected = |r: CrmResult<SandboxNote>| matches!(r, Err(CrmError::Rejected(_)));
    assert!(rejected(mock.log_note(
        KEY,
        &ann.id,
        &note("Call", None),
        " ",
        at
    )));
    assert!(rejected(mock.log_note(
        KEY,
        &ann.id,
        &note(" ", None),
        "Call",
        at
    )));
    assert!(rejected(mock.log_note(
        KEY,
        &ann.id,
        &note("Call", Some("mary")),
        "Call",
        at
    )));
    for missing in ["42", "not-a-number"] {
        assert_eq!(
            mock.log_note(KEY, missing, &note("Call", None), "Call", at),
            Err(CrmError::NotFound(format!("contact '{missing}'")))
        );
    }
    let nameless = NewContact {
        first_name: Some("Bob".into()),
        ..NewContact::default()
    };
    assert_eq!(
        mock.create_contact(KEY, &nameless),
        Err(CrmError::Rejected(
            "a contact needs an e-mail address or a phone number".into()
        ))
    );
    assert_eq!(mock.notes(KEY), []);
}

#[tokio::test]
async fn custom_fields_created_as_in_keap_are_written_by_label() {
    let (mock, ann) = app_with_ann().await;
    let created = mock.create_custom_fields(KEY, &["Rating", "Feedback", "QuoteOk"]);
    assert_eq!(created, Ok(vec!["Feedback".into(), "QuoteOk".into()]));
    assert_eq!(mock.create_custom_fields(KEY, &["Feedback"]), Ok(vec![]));
    let (_, model) = call(&mock, "GET", "/rest/v2/contacts/model", None).await;
    let labels: Vec<&str> = model["custom_fields"]
        .as_array()
        .expect("custom fields")
        .iter()
        .filter_map(|f| f["label"].as_str())
        .collect();
    assert_eq!(labels, ["Rating", "Feedback", "QuoteOk"]);

    let feedback = model["custom_fields"][1]["id"].clone();
    let patch = format!("/rest/v2/contacts/{}?update_mask=custom_fields", ann.id);
    let fields = json!({"custom_fields": [{"id": feedback, "content": "Faster"}]});
    assert_eq!(call(&mock, "PATCH", &patch, Some(fields)).await.0, 200);
    let fields = &mock.contacts(KEY)[0].custom_fields;
    assert_eq!(fields.get("Feedback").map(String::as_str), Some("Faster"));
    assert!(matches!(
        mock.create_custom_fields("nobody", &["Rating"]),
        Err(CrmError::Unauthorized(_))
    ));
}

#[tokio::test]
async fn the_sandbox_never_creates_an_app() {
    let mock = KeapMock::start().await;
    assert_eq!(mock.contacts("nobody"), []);
    assert_eq!(mock.notes("nobody"), []);
    assert_eq!(mock.goals("nobody", 10), []);
    let bob = NewContact {
        phone: PhoneNumber::parse_e164("+14155552672").ok(),
        ..NewContact::default()
    };
    assert!(matches!(
        mock.create_contact("nobody", &bob),
        Err(CrmError::Unauthorized(_))
    ));
    let (status, _) = reqwest::Client::new()
        .get(format!("{}/rest/v2/contacts", mock.base_url()))
        .header("X-Keap-API-Key", "nobody")
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .expect("the mock answers");
    assert_eq!(status, 401, "still no app for that key");
}
