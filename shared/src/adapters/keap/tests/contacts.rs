//! Contacts and users: search by phone, read, create, and the array fields written whole.

use super::*;
use crate::adapters::test_support::{email, phone};
use wiremock::matchers::body_json;

const FIELDS: &str =
    "given_name,family_name,email_addresses,phone_numbers,owner_id,tag_ids,custom_fields,time_zone";

async fn mount_model(server: &MockServer) {
    let model = json!({
        "custom_fields": [
            { "id": "7", "label": "LastSms", "field_name": "LastSms0", "field_type": "TEXT" },
            { "id": "9", "label": "SmsStatus", "field_name": "smsStatus", "field_type": "TEXT" },
        ],
        "optional_properties": ["custom_fields"]
    });
    expect(
        server,
        1,
        keap_get("/crm/rest/v2/contacts/model"),
        ok(model),
    )
    .await;
}

async fn mount_model_and_tags(server: &MockServer) {
    mount_model(server).await;
    let answer = json!({
        "tags": [{ "id": "11", "name": "sms-lead" }],
        "next_page_token": null
    });
    expect(server, 1, tag_search("tag_ids==11"), ok(answer)).await;
}

fn keap_contact() -> Value {
    json!({
        "id": "5",
        "given_name": "Ann",
        "family_name": "Lee",
        "email_addresses": [
            { "email": "ann.work@example.com", "field": "EMAIL2" },
            { "email": "ann@example.com", "field": "EMAIL1", "email_opt_status": "SINGLE_OPT_IN" }
        ],
        "phone_numbers": [
            { "number": "(415) 555-2671", "field": "PHONE2" },
            { "number": "650-555-0100", "field": "PHONE1", "type": "Work" }
        ],
        "owner_id": "1",
        "tag_ids": ["11"],
        "custom_fields": [
            { "id": "7", "content": "Are you open?" },
            { "id": "9", "content": null }
        ],
        "time_zone": "America/Los_Angeles"
    })
}

#[tokio::test]
async fn find_by_phone_searches_every_slot_and_maps_the_contact() {
    let server = MockServer::start().await;
    let search = keap_get("/crm/rest/v2/contacts").and(query_is(&[
        (
            "filter",
            "phone_number==+14155552671;phone_fields==PHONE1,PHONE2,PHONE3,PHONE4,PHONE5",
        ),
        ("fields", FIELDS),
        ("order_by", "id asc"),
        ("page_size", "1"),
    ]));
    let answer = json!({ "contacts": [keap_contact()], "next_page_token": null });
    expect(&server, 1, search, ok(answer)).await;
    mount_model_and_tags(&server).await;
    let (crm, account) = keap_and_account(&server);

    let found = crm
        .find_contact_by_phone(&account, &phone("+14155552671"))
        .await
        .expect("search succeeds")
        .expect("a contact is found");

    assert_eq!(
        found,
        Contact {
            id: "5".into(),
            first_name: Some("Ann".into()),
            last_name: Some("Lee".into()),
            email: Some(email("ann@example.com")),
            // The searched number, read from PHONE2's national format.
            phone: Some(phone("+14155552671")),
            owner_id: Some("1".into()),
            tags: vec!["sms-lead".into()],
            custom_fields: [("LastSms".to_string(), "Are you open?".to_string())].into(),
            time_zone: Some("America/Los_Angeles".into()),
        }
    );
    // The '+' travels percent-encoded, not as a space.
    let requests = server.received_requests().await.expect("recorded");
    let search = requests
        .iter()
        .find(|r| r.url.path() == "/crm/rest/v2/contacts")
        .expect("search sent");
    assert!(
        search
            .url
            .query()
            .is_some_and(|q| q.contains("phone_number%3D%3D%2B14155552671")),
        "{:?}",
        search.url.query()
    );
}

#[tokio::test]
async fn no_match_is_none_and_contact_reads_by_id() {
    let server = MockServer::start().await;
    let no_contacts = ok(json!({ "contacts": [] }));
    expect(&server, 1, keap_get("/crm/rest/v2/contacts"), no_contacts).await;
    let contact_5 = keap_get("/crm/rest/v2/contacts/5").and(query_is(&[("fields", FIELDS)]));
    expect(&server, 1, contact_5, ok(keap_contact())).await;
    let contact_6 = keap_get("/crm/rest/v2/contacts/6");
    expect(&server, 1, contact_6, contact_not_found("6")).await;
    mount_model_and_tags(&server).await;
    let (crm, account) = keap_and_account(&server);

    let none = crm
        .find_contact_by_phone(&account, &phone("+14155552671"))
        .await;
    assert_eq!(none, Ok(None));

    let contact = crm
        .contact(&account, &ContactId::new("5"))
        .await
        .expect("read")
        .expect("exists");
    // Not found by phone: PHONE1 comes first.
    assert_eq!(contact.phone, Some(phone("+16505550100")));
    assert_eq!(contact.tags, ["sms-lead"]);

    assert_eq!(crm.contact(&account, &ContactId::new("6")).await, Ok(None));
    // Not a Keap id: nothing is asked.
    assert_eq!(
        crm.contact(&account, &ContactId::new("../users/1")).await,
        Ok(None)
    );
}

#[tokio::test]
async fn create_contact_posts_a_v2_contact() {
    let server = MockServer::start().await;
    let create = keap_write("POST", "/crm/rest/v2/contacts")
        .and(query_is(&[("fields", FIELDS)]))
        .and(body_json(json!({
            "given_name": "(auto-created)",
            "email_addresses": [{ "email": "ann@example.com", "field": "EMAIL1" }],
            "phone_numbers": [{ "number": "+14155552671", "field": "PHONE1" }],
            "owner_id": "1",
            "time_zone": "America/Chicago"
        })));
    let answer = json!({
        "id": "42",
        "given_name": "(auto-created)",
        "email_addresses": [{ "email": "ann@example.com", "field": "EMAIL1" }],
        "phone_numbers": [{ "number": "+14155552671", "number_e164": "+14155552671", "field": "PHONE1" }],
        "owner_id": "1",
        "tag_ids": [],
        "custom_fields": [],
        "time_zone": "America/Chicago"
    });
    expect(&server, 1, create, created(answer)).await;
    let (crm, account) = keap_and_account(&server);
    let new = NewContact {
        first_name: Some("(auto-created)".into()),
        last_name: None,
        email: Some(email("ann@example.com")),
        phone: Some(phone("+14155552671")),
        owner_id: Some("1".into()),
        time_zone: Some("America/Chicago".into()),
    };

    let created = crm.create_contact(&account, &new).await.expect("created");
    assert_eq!(
        created,
        Contact {
            id: "42".into(),
            first_name: Some("(auto-created)".into()),
            last_name: None,
            email: Some(email("ann@example.com")),
            phone: Some(phone("+14155552671")),
            owner_id: Some("1".into()),
            tags: vec![],
            custom_fields: Default::default(),
            time_zone: Some("America/Chicago".into()),
        }
    );

    let nothing_to_reach = crm.create_contact(&account, &NewContact::default()).await;
    assert!(matches!(nothing_to_reach, Err(CrmError::Rejected(_))));
}

/// Contact 5's array `field` read as `stored` once per write, then written once with each
/// of `written`: a PATCH whose body is exactly that array, masked to `field`.
async fn expect_array_rewrites(server: &MockServer, field: &str, stored: Value, written: &[Value]) {
    let read = keap_get("/crm/rest/v2/contacts/5").and(query_is(&[("fields", field)]));
    let mut contact = json!({ "id": "5" });
    contact[field] = stored;
    expect(server, written.len() as u64, read, ok(contact)).await;
    for array in written {
        let mut body = json!({});
        body[field] = array.clone();
        let patch = keap_write("PATCH", "/crm/rest/v2/contacts/5")
            .and(query_is(&[("update_mask", field)]))
            .and(body_json(body));
        expect(server, 1, patch, ok(json!({ "id": "5" }))).await;
    }
}

#[tokio::test]
async fn set_email_replaces_email1_and_keeps_the_other_slots() {
    let server = MockServer::start().await;
    let work = json!({ "email": "work@example.com", "field": "EMAIL2" });
    let stored = json!([{ "email": "old@example.com", "field": "EMAIL1" }, work.clone()]);
    let written = json!([{ "email": "ann@example.com", "field": "EMAIL1" }, work]);
    expect_array_rewrites(&server, "email_addresses", stored, &[written]).await;
    let (crm, account) = keap_and_account(&server);

    let ann = email("ann@example.com");
    crm.set_email(&account, &ContactId::new("5"), &ann)
        .await
        .expect("e-mail set");
    let unknown = crm
        .set_email(&account, &ContactId::new("not-an-id"), &ann)
        .await;
    assert!(matches!(unknown, Err(CrmError::NotFound(_))), "{unknown:?}");
}

#[tokio::test]
async fn custom_fields_are_written_by_label_keeping_the_others() {
    let server = MockServer::start().await;
    mount_model(&server).await;
    let stored = json!([
        { "id": "7", "content": "old" },
        { "id": "9", "content": "delivered" },
        { "id": "12", "content": null }
    ]);
    let by_label = json!([
        { "id": "9", "content": "delivered" },
        { "id": "7", "content": "Thanks!" }
    ]);
    let by_field_name = json!([
        { "id": "7", "content": "old" },
        { "id": "9", "content": "read" }
    ]);
    expect_array_rewrites(&server, "custom_fields", stored, &[by_label, by_field_name]).await;
    let (crm, account) = keap_and_account(&server);

    // By label, then by field name; the model is read once (`mount_model` expects one read).
    crm.set_custom_field(&account, &ContactId::new("5"), "LastSms", "Thanks!")
        .await
        .expect("set by label");
    crm.set_custom_field(&account, &ContactId::new("5"), "smsStatus", "read")
        .await
        .expect("set by field name");
}

#[tokio::test]
async fn an_unknown_custom_field_is_rejected_after_reading_the_model_again() {
    let server = MockServer::start().await;
    let no_fields = json!({ "id": "5", "custom_fields": [] });
    expect(
        &server,
        1,
        keap_get("/crm/rest/v2/contacts/5"),
        ok(no_fields),
    )
    .await;
    let empty_model = ok(json!({ "custom_fields": [] }));
    expect(
        &server,
        2,
        keap_get("/crm/rest/v2/contacts/model"),
        empty_model,
    )
    .await;
    let crm = keap(&server);
    let result = crm
        .set_custom_field(&api_key_account(&server), &ContactId::new("5"), "Nope", "x")
        .await;
    assert!(
        matches!(&result, Err(CrmError::Rejected(m)) if m.contains("Nope")),
        "{result:?}"
    );
}

#[tokio::test]
async fn users_are_read_by_id() {
    let server = MockServer::start().await;
    let anders = json!({
        "id": "1",
        "given_name": "Mary",
        "family_name": "Anders",
        "email_addresses": [{ "email": "mary@example.com", "field": "EMAIL1" }],
        "status": "ACTIVE"
    });
    expect(&server, 1, keap_get(USER_1).and(query_is(&[])), ok(anders)).await;
    let missing = ResponseTemplate::new(404);
    expect(&server, 1, keap_get("/crm/rest/v2/users/2"), missing).await;
    let (crm, account) = keap_and_account(&server);

    assert_eq!(
        crm.user(&account, "1").await,
        Ok(Some(CrmUser {
            id: "1".into(),
            name: "Mary Anders".into(),
            email: Some(email("mary@example.com")),
        }))
    );
    assert_eq!(crm.user(&account, "2").await, Ok(None));
    assert_eq!(crm.user(&account, "mary").await, Ok(None));
}
