//! The Keap adapter against a local HTTP mock: exact methods, paths, query strings,
//! headers and bodies, error mapping, OAuth rotation and pacing.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Match, Mock, MockServer, Request, ResponseTemplate};

use super::client::pacing_key;
use super::*;
use crate::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use crate::adapters::test_support::{
    CrmErrorCase, account_on, assert_crm_errors, email, http_client, phone, unauthorized,
    unavailable, unreachable_origin,
};
use crate::adapters::test_support::{contact_id, goal_name};
use crate::domain::{CrmConnection, KeapAuth, Secret};
use crate::ports::credentials::{StoredRefreshToken, token_origin};
use crate::ports::crm::NoteUser;

const KEY: &str = "KeapAK-test-personal-access-token";

fn account_with(base_url: String, auth: KeapAuth) -> Account {
    account_on(CrmConnection::Keap {
        base_url: Some(base_url),
        auth,
    })
}

fn api_key_account(server: &MockServer) -> Account {
    // A trailing slash on the configured base URL must not double up in paths.
    account_with(
        format!("{}/crm/", server.uri()),
        KeapAuth::ApiKey {
            key: Secret::new(KEY),
        },
    )
}

fn oauth_account(server: &MockServer) -> Account {
    oauth_account_configured_with(server, "refresh-1")
}

/// An OAuth account whose configuration holds `refresh_token`.
fn oauth_account_configured_with(server: &MockServer, refresh_token: &str) -> Account {
    account_with(
        format!("{}/crm", server.uri()),
        KeapAuth::OAuth {
            client_id: "client-1".into(),
            client_secret: Secret::new("client-secret-1"),
            refresh_token: Secret::new(refresh_token),
        },
    )
}

fn http() -> reqwest::Client {
    http_client(Duration::from_secs(10))
}

fn keap(server: &MockServer) -> KeapCrm {
    keap_with(server, memory_store())
}

/// A Keap adapter (one process) on a given credential store (shared by processes).
fn keap_with(server: &MockServer, credentials: Arc<dyn CredentialStore>) -> KeapCrm {
    KeapCrm::new(
        http(),
        KeapSettings {
            token_url: format!("{}/token", server.uri()),
            ..KeapSettings::default()
        },
        credentials,
    )
}

fn memory_store() -> Arc<dyn CredentialStore> {
    Arc::new(EmbeddedStore::new(
        EmbeddedDb::in_memory().expect("in-memory database"),
    ))
}

/// Matches when the request's decoded query (`query_is`) or form-encoded body (`form_is`)
/// is exactly these name/value pairs, in any order.
struct PairsAre {
    in_body: bool,
    sorted: Vec<(String, String)>,
}

fn query_is(pairs: &[(&str, &str)]) -> PairsAre {
    PairsAre::new(false, pairs)
}

fn form_is(pairs: &[(&str, &str)]) -> PairsAre {
    PairsAre::new(true, pairs)
}

impl PairsAre {
    fn new(in_body: bool, pairs: &[(&str, &str)]) -> Self {
        let mut sorted: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        sorted.sort();
        PairsAre { in_body, sorted }
    }
}

impl Match for PairsAre {
    fn matches(&self, request: &Request) -> bool {
        let got: Option<Vec<(String, String)>> = if self.in_body {
            serde_urlencoded::from_bytes(&request.body).ok()
        } else {
            Some(request.url.query_pairs().into_owned().collect())
        };
        got.is_some_and(|mut got| {
            got.sort();
            got == self.sorted
        })
    }
}

/// Matches requests without this header.
struct NoHeader(&'static str);

impl Match for NoHeader {
    fn matches(&self, request: &Request) -> bool {
        !request.headers.contains_key(self.0)
    }
}

fn keap_get(url_path: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(url_path.to_string()))
        .and(header("X-Keap-API-Key", KEY))
        .and(header("accept", "application/json"))
}

fn keap_write(verb: &str, url_path: &str) -> wiremock::MockBuilder {
    Mock::given(method(verb))
        .and(path(url_path.to_string()))
        .and(header("X-Keap-API-Key", KEY))
        .and(header("accept", "application/json"))
        .and(header("content-type", "application/json"))
}

fn ok(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn mary() -> ResponseTemplate {
    ok(json!({ "id": "1", "given_name": "Mary" }))
}

const FIELDS: &str =
    "given_name,family_name,email_addresses,phone_numbers,owner_id,tag_ids,custom_fields,time_zone";

async fn mount_model(server: &MockServer) {
    keap_get("/crm/rest/v2/contacts/model")
        .respond_with(ok(json!({
            "custom_fields": [
                { "id": "7", "label": "LastSms", "field_name": "LastSms0", "field_type": "TEXT" },
                { "id": "9", "label": "SmsStatus", "field_name": "smsStatus", "field_type": "TEXT" },
            ],
            "optional_properties": ["custom_fields"]
        })))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_model_and_tags(server: &MockServer) {
    mount_model(server).await;
    keap_get("/crm/rest/v2/tags")
        .and(query_is(&[
            ("filter", "tag_ids==11"),
            ("page_size", "1000"),
        ]))
        .respond_with(ok(json!({
            "tags": [{ "id": "11", "name": "sms-lead" }],
            "next_page_token": null
        })))
        .expect(1)
        .mount(server)
        .await;
}

fn keap_contact() -> serde_json::Value {
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
    keap_get("/crm/rest/v2/contacts")
        .and(query_is(&[
            (
                "filter",
                "phone_number==+14155552671;phone_fields==PHONE1,PHONE2,PHONE3,PHONE4,PHONE5",
            ),
            ("fields", FIELDS),
            ("order_by", "id asc"),
            ("page_size", "1"),
        ]))
        .respond_with(ok(
            json!({ "contacts": [keap_contact()], "next_page_token": null }),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_model_and_tags(&server).await;
    let crm = keap(&server);
    let account = api_key_account(&server);

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
    keap_get("/crm/rest/v2/contacts")
        .respond_with(ok(json!({ "contacts": [] })))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/contacts/5")
        .and(query_is(&[("fields", FIELDS)]))
        .respond_with(ok(keap_contact()))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/contacts/6")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 404, "message": "Contact 6 not found", "status": "NOT_FOUND"
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_model_and_tags(&server).await;
    let crm = keap(&server);
    let account = api_key_account(&server);

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
    keap_write("POST", "/crm/rest/v2/contacts")
        .and(query_is(&[("fields", FIELDS)]))
        .and(body_json(json!({
            "given_name": "(auto-created)",
            "email_addresses": [{ "email": "ann@example.com", "field": "EMAIL1" }],
            "phone_numbers": [{ "number": "+14155552671", "field": "PHONE1" }],
            "owner_id": "1",
            "time_zone": "America/Chicago"
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": "42",
            "given_name": "(auto-created)",
            "email_addresses": [{ "email": "ann@example.com", "field": "EMAIL1" }],
            "phone_numbers": [{ "number": "+14155552671", "number_e164": "+14155552671", "field": "PHONE1" }],
            "owner_id": "1",
            "tag_ids": [],
            "custom_fields": [],
            "time_zone": "America/Chicago"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);
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

/// Contact 5 read `times` times for its `fields`, answered with `contact`.
async fn expect_contact_read(server: &MockServer, fields: &str, times: u64, contact: Value) {
    keap_get("/crm/rest/v2/contacts/5")
        .and(query_is(&[("fields", fields)]))
        .respond_with(ok(contact))
        .expect(times)
        .mount(server)
        .await;
}

/// Contact 5 written once: a PATCH of exactly `body`, masked to `update_mask`.
async fn expect_contact_patch(server: &MockServer, update_mask: &str, body: Value) {
    keap_write("PATCH", "/crm/rest/v2/contacts/5")
        .and(query_is(&[("update_mask", update_mask)]))
        .and(body_json(body))
        .respond_with(ok(json!({ "id": "5" })))
        .expect(1)
        .mount(server)
        .await;
}

#[tokio::test]
async fn set_email_replaces_email1_and_keeps_the_other_slots() {
    let server = MockServer::start().await;
    expect_contact_read(
        &server,
        "email_addresses",
        1,
        json!({
            "id": "5",
            "email_addresses": [
                { "email": "old@example.com", "field": "EMAIL1" },
                { "email": "work@example.com", "field": "EMAIL2" }
            ]
        }),
    )
    .await;
    expect_contact_patch(
        &server,
        "email_addresses",
        json!({
            "email_addresses": [
                { "email": "ann@example.com", "field": "EMAIL1" },
                { "email": "work@example.com", "field": "EMAIL2" }
            ]
        }),
    )
    .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

    crm.set_email(&account, &ContactId::new("5"), &email("ann@example.com"))
        .await
        .expect("e-mail set");
    let unknown = crm
        .set_email(
            &account,
            &ContactId::new("not-an-id"),
            &email("ann@example.com"),
        )
        .await;
    assert!(matches!(unknown, Err(CrmError::NotFound(_))), "{unknown:?}");
}

#[tokio::test]
async fn custom_fields_are_written_by_label_keeping_the_others() {
    let server = MockServer::start().await;
    mount_model(&server).await;
    expect_contact_read(
        &server,
        "custom_fields",
        2,
        json!({
            "id": "5",
            "custom_fields": [
                { "id": "7", "content": "old" },
                { "id": "9", "content": "delivered" },
                { "id": "12", "content": null }
            ]
        }),
    )
    .await;
    expect_contact_patch(
        &server,
        "custom_fields",
        json!({
            "custom_fields": [
                { "id": "9", "content": "delivered" },
                { "id": "7", "content": "Thanks!" }
            ]
        }),
    )
    .await;
    expect_contact_patch(
        &server,
        "custom_fields",
        json!({
            "custom_fields": [
                { "id": "7", "content": "old" },
                { "id": "9", "content": "read" }
            ]
        }),
    )
    .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

    // By label, then by field name; the model is read once (expect(1) above).
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
    keap_get("/crm/rest/v2/contacts/5")
        .respond_with(ok(json!({ "id": "5", "custom_fields": [] })))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/contacts/model")
        .respond_with(ok(json!({ "custom_fields": [] })))
        .expect(2)
        .mount(&server)
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
    keap_get("/crm/rest/v2/users/1")
        .and(query_is(&[]))
        .respond_with(ok(json!({
            "id": "1",
            "given_name": "Mary",
            "family_name": "Anders",
            "email_addresses": [{ "email": "mary@example.com", "field": "EMAIL1" }],
            "status": "ACTIVE"
        })))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/users/2")
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

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

#[tokio::test]
async fn tags_are_looked_up_or_created_once_then_applied_by_id() {
    let server = MockServer::start().await;
    // "replied" exists (the name filter also returns a longer name); "sms-lead" does not.
    keap_get("/crm/rest/v2/tags")
        .and(query_is(&[
            ("filter", "name==replied"),
            ("page_size", "1000"),
        ]))
        .respond_with(ok(json!({ "tags": [
            { "id": "30", "name": "replied-old" },
            { "id": "31", "name": "replied" }
        ] })))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/tags")
        .and(query_is(&[
            ("filter", "name==sms-lead"),
            ("page_size", "1000"),
        ]))
        .respond_with(ok(json!({ "tags": [] })))
        .expect(1)
        .mount(&server)
        .await;
    keap_write("POST", "/crm/rest/v2/tags")
        .and(body_json(json!({ "name": "sms-lead" })))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": "21", "name": "sms-lead" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    for (tag_id, times) in [("21", 2), ("31", 1)] {
        keap_write(
            "POST",
            &format!("/crm/rest/v2/tags/{tag_id}/contacts:applyTags"),
        )
        .and(body_json(json!({ "contact_ids": ["5"] })))
        .respond_with(ok(json!({ "results": { "5": "SUCCESS" } })))
        .expect(times)
        .mount(&server)
        .await;
    }
    let crm = keap(&server);
    let account = api_key_account(&server);

    for tag in ["sms-lead", "sms-lead", "replied"] {
        crm.apply_tag(&account, &ContactId::new("5"), tag)
            .await
            .expect("applied");
    }
}

#[tokio::test]
async fn tag_results_are_interpreted() {
    let cases = [
        ("DUPLICATE", Ok(())),
        ("CONTACT_NOT_FOUND", Err("NotFound")),
        ("NO_PERMISSION", Err("Rejected")),
    ];
    for (result, expected) in cases {
        let server = MockServer::start().await;
        keap_get("/crm/rest/v2/tags")
            .respond_with(ok(json!({ "tags": [{ "id": "21", "name": "sms-lead" }] })))
            .mount(&server)
            .await;
        keap_write("POST", "/crm/rest/v2/tags/21/contacts:applyTags")
            .respond_with(ok(json!({ "results": { "5": result } })))
            .mount(&server)
            .await;
        let got = keap(&server)
            .apply_tag(&api_key_account(&server), &ContactId::new("5"), "sms-lead")
            .await;
        let kind = got.as_ref().map(drop).map_err(|e| match e {
            CrmError::NotFound(_) => "NotFound",
            CrmError::Rejected(_) => "Rejected",
            _ => "other",
        });
        assert_eq!(kind, expected, "{result}: {got:?}");
    }
}

#[tokio::test]
async fn a_tag_deleted_in_keap_is_looked_up_again() {
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/tags")
        .respond_with(ok(json!({ "tags": [{ "id": "21", "name": "sms-lead" }] })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/tags")
        .respond_with(ok(json!({ "tags": [] })))
        .expect(1)
        .mount(&server)
        .await;
    keap_write("POST", "/crm/rest/v2/tags")
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({ "id": "22", "name": "sms-lead" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    keap_write("POST", "/crm/rest/v2/tags/21/contacts:applyTags")
        .respond_with(ok(json!({ "results": { "5": "SUCCESS" } })))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    keap_write("POST", "/crm/rest/v2/tags/21/contacts:applyTags")
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    keap_write("POST", "/crm/rest/v2/tags/22/contacts:applyTags")
        .respond_with(ok(json!({ "results": { "5": "SUCCESS" } })))
        .expect(1)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

    crm.apply_tag(&account, &ContactId::new("5"), "sms-lead")
        .await
        .expect("first");
    // Someone deletes the tag in Keap: the cached id 21 is gone.
    crm.apply_tag(&account, &ContactId::new("5"), "sms-lead")
        .await
        .expect("applied under its new id");
}

#[tokio::test]
async fn notes_are_created_and_appended_on_v1() {
    let server = MockServer::start().await;
    keap_write("POST", "/crm/rest/v1/notes")
        .and(body_json(json!({
            "contact_id": 5, "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": 1
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "id": 31, "contact_id": 5, "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": 1,
            "date_created": "2026-01-01T00:00:00.000Z"
        })))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v1/notes/31")
        .respond_with(ok(json!({
            "id": 31, "contact_id": 5, "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": 1
        })))
        .expect(1)
        .mount(&server)
        .await;
    keap_write("PATCH", "/crm/rest/v1/notes/31")
        .and(body_json(json!({ "body": "Sent: Hi\nReceived: Thanks" })))
        .respond_with(ok(json!({ "id": 31 })))
        .expect(1)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

    let note = crm
        .create_note(
            &account,
            &ContactId::new("5"),
            &NewNote {
                title: "SMS: Welcome".into(),
                body: "Sent: Hi".into(),
                user_id: Some("1".into()),
            },
        )
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

#[tokio::test]
async fn goals_are_achieved_on_v2_and_unconfigured_ones_reported() {
    let cases = [
        (
            json!({ "results": [{ "success": true, "message": "", "automation_id": 3, "goal_id": 9,
                                  "flow_start_results": [], "flow_stop_results": [] }] }),
            GoalOutcome::Achieved,
        ),
        (
            json!({ "results": [
                { "success": false, "message": "No Goals were configured to be achieved by this event." }
            ] }),
            GoalOutcome::NotConfigured,
        ),
        (json!({ "results": [] }), GoalOutcome::NotConfigured),
        (
            json!({ "results": [{ "success": false }, { "success": true }] }),
            GoalOutcome::Achieved,
        ),
    ];
    for (answer, expected) in cases {
        let server = MockServer::start().await;
        keap_write("POST", "/crm/rest/v2/automations/goals/achieve")
            .and(query_is(&[]))
            .and(body_json(json!({
                "integration": "smsflow", "call_name": "Inbound19523142318", "contact_id": 5
            })))
            .respond_with(ok(answer.clone()))
            .expect(1)
            .mount(&server)
            .await;
        let outcome = keap(&server)
            .achieve_goal(
                &api_key_account(&server),
                &contact_id("5"),
                "smsflow",
                &goal_name("Inbound19523142318"),
            )
            .await;
        assert_eq!(outcome, Ok(expected), "{answer}");
    }
}

#[tokio::test]
async fn keap_answers_map_to_crm_errors() {
    let cases: Vec<CrmErrorCase> = vec![
        (ResponseTemplate::new(500), "500", unavailable),
        (ResponseTemplate::new(503), "503", unavailable),
        (ResponseTemplate::new(401), "401", unauthorized),
        (ResponseTemplate::new(403), "403", unauthorized),
        (
            ResponseTemplate::new(404),
            "404",
            |e| matches!(e, CrmError::NotFound(m) if m == "contact '5'"),
        ),
        (
            ResponseTemplate::new(400).set_body_json(json!({
                "code": 400, "message": "Invalid call_name", "status": "BAD_REQUEST"
            })),
            "400 with Keap's message",
            |e| matches!(e, CrmError::Rejected(m) if m.contains("Invalid call_name")),
        ),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "120"),
            "429, long Retry-After",
            |e| {
                *e == CrmError::RateLimited {
                    retry_after: Some(Duration::from_secs(120)),
                }
            },
        ),
        (
            ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"),
            "200 that is not JSON",
            unavailable,
        ),
    ];
    assert_crm_errors(cases, async |server| {
        keap(server)
            .achieve_goal(
                &api_key_account(server),
                &contact_id("5"),
                "smsflow",
                &goal_name("Sent"),
            )
            .await
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_keap_is_unavailable() {
    let account = account_with(
        format!("{}/crm", unreachable_origin()),
        KeapAuth::ApiKey {
            key: Secret::new(KEY),
        },
    );
    let crm = KeapCrm::new(http(), KeapSettings::default(), memory_store());
    let result = crm.user(&account, "1").await;
    assert!(
        matches!(result, Err(CrmError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_short_retry_after_is_waited_out_then_retried() {
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/users/1")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/users/1")
        .respond_with(mary())
        .expect(1)
        .mount(&server)
        .await;
    let started = Instant::now();
    let user = keap(&server)
        .user(&api_key_account(&server), "1")
        .await
        .expect("succeeds after the wait");
    assert_eq!(user.map(|u| u.name), Some("Mary".into()));
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn repeated_429s_give_up_after_the_retry_budget() {
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/users/1")
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "0"))
        .expect(3)
        .mount(&server)
        .await;
    let result = keap(&server).user(&api_key_account(&server), "1").await;
    assert_eq!(
        result,
        Err(CrmError::RateLimited {
            retry_after: Some(Duration::ZERO)
        })
    );
}

#[tokio::test]
async fn calls_are_paced_to_ten_per_second_per_token() {
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/users/1")
        .respond_with(mary())
        .expect(25)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);

    let started = Instant::now();
    for _ in 0..25 {
        crm.user(&account, "1").await.expect("read");
    }
    let elapsed = started.elapsed();

    let CrmConnection::Keap { auth, .. } = &account.crm else {
        unreachable!("the test account uses Keap")
    };
    let reserved = crm.client.pacer().reserved(&pacing_key(&account, auth));
    assert_eq!(reserved.len(), 25);
    // Calls 11-20 start a second after calls 1-10, calls 21-25 a second after 11-15.
    for i in 10..25 {
        assert!(
            reserved[i] - reserved[i - 10] >= Duration::from_secs(1),
            "call {} started too early",
            i + 1
        );
    }
    assert!(
        elapsed >= Duration::from_millis(1900),
        "25 calls took {elapsed:?}"
    );
}

#[test]
fn ids_that_are_not_keap_ids_are_refused() {
    let cases = [
        ("5", Some(5)),
        ("9223372036854775807", Some(i64::MAX as u64)),
        ("9223372036854775808", None),
        ("", None),
        ("-5", None),
        ("5/../6", None),
        ("+5", None),
        ("５", None),
    ];
    for (input, expected) in cases {
        assert_eq!(numeric_id(input), expected, "{input:?}");
    }
}

fn v2_note(
    id: &str,
    note_type: Option<&str>,
    user: serde_json::Value,
    created: &str,
) -> serde_json::Value {
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

fn notes_page(notes: Vec<serde_json::Value>, next: Option<&str>) -> ResponseTemplate {
    ok(json!({ "notes": notes, "next_page_token": next }))
}

fn note_query(page_token: Option<&str>) -> PairsAre {
    let mut pairs = vec![("order_by", "create_time desc"), ("page_size", "25")];
    pairs.extend(page_token.map(|t| ("page_token", t)));
    query_is(&pairs)
}

#[tokio::test]
async fn the_last_call_note_is_the_newest_note_of_type_call() {
    let server = MockServer::start().await;
    let bob = json!({ "id": "18", "given_name": "Bob", "family_name": "Stone",
                      "email_address": "bob@team.example" });
    keap_get("/crm/rest/v2/contacts/5/notes")
        .and(note_query(None))
        .respond_with(notes_page(
            vec![
                v2_note("44", Some("Email"), bob.clone(), "2024-05-02T09:00:00Z"),
                v2_note("43", Some("Other"), json!(null), "2024-05-01T15:00:00Z"),
            ],
            Some("page-2"),
        ))
        .expect(1)
        .mount(&server)
        .await;
    // Keap Classic lets admins name types: "call" in any case is a call.
    keap_get("/crm/rest/v2/contacts/5/notes")
        .and(note_query(Some("page-2")))
        .respond_with(notes_page(
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
        ))
        .expect(1)
        .mount(&server)
        .await;

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
        keap_get("/crm/rest/v2/contacts/5/notes")
            .and(note_query(None))
            .respond_with(notes_page(
                vec![v2_note("41", Some("Call"), user.clone(), created)],
                None,
            ))
            .expect(1)
            .mount(&server)
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
    keap_get("/crm/rest/v2/contacts/5/notes")
        .respond_with(notes_page(
            vec![v2_note(
                "9",
                Some("Other"),
                json!(null),
                "2024-05-01T14:03:00Z",
            )],
            Some("more"),
        ))
        .expect(4)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("5")).await,
        Ok(None)
    );

    // No notes at all; an unknown contact; an id that is not Keap's (no request).
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/contacts/5/notes")
        .and(note_query(None))
        .respond_with(notes_page(vec![], None))
        .expect(1)
        .mount(&server)
        .await;
    keap_get("/crm/rest/v2/contacts/6/notes")
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({
            "code": 404, "message": "Contact 6 not found", "status": "NOT_FOUND"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let crm = keap(&server);
    let account = api_key_account(&server);
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("5")).await,
        Ok(None)
    );
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("6")).await,
        Ok(None)
    );
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("5/../6"))
            .await,
        Ok(None)
    );

    // Errors other than "not found" reach the caller (the job retries).
    let server = MockServer::start().await;
    keap_get("/crm/rest/v2/contacts/5/notes")
        .respond_with(ResponseTemplate::new(503))
        .expect(1)
        .mount(&server)
        .await;
    let result = keap(&server)
        .last_call_note(&api_key_account(&server), &ContactId::new("5"))
        .await;
    assert!(
        matches!(result, Err(CrmError::Unavailable(_))),
        "{result:?}"
    );
}

fn token_response(access: &str, refresh: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": expires_in,
        "refresh_token": refresh,
        "scope": "full|abc123.infusionsoft.com"
    }))
}

fn token_exchange(refresh_token: &str) -> wiremock::MockBuilder {
    let basic = format!("Basic {}", BASE64.encode("client-1:client-secret-1"));
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("authorization", basic.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(form_is(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ]))
}

fn bearer_get(url_path: &str, token: &str) -> wiremock::MockBuilder {
    Mock::given(method("GET"))
        .and(path(url_path.to_string()))
        .and(header("authorization", format!("Bearer {token}").as_str()))
        .and(NoHeader("x-keap-api-key"))
}

/// Keap's token endpoint exchanging `refresh_token` once, answering `answer`.
async fn expect_exchange(server: &MockServer, refresh_token: &str, answer: ResponseTemplate) {
    token_exchange(refresh_token)
        .respond_with(answer)
        .expect(1)
        .mount(server)
        .await;
}

/// Keap's token endpoint granting, once each: `(refresh token spent, access token,
/// rotated refresh token, lifetime in seconds)`.
async fn expect_rotations(server: &MockServer, rotations: &[(&str, &str, &str, u64)]) {
    for (spent, access, rotated, expires_in) in rotations {
        let granted = token_response(access, rotated, *expires_in);
        expect_exchange(server, spent, granted).await;
    }
}

/// User 1 read `times` times with the bearer `access_token`: Mary.
async fn expect_mary(server: &MockServer, access_token: &str, times: u64) {
    bearer_get("/crm/rest/v2/users/1", access_token)
        .respond_with(mary())
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn oauth_exchanges_rotates_and_refreshes_expired_tokens() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[
            // The first token expires inside the refresh margin: stale for the next call.
            ("refresh-1", "access-1", "refresh-2", 30),
            // The rotated refresh token is the one spent next.
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
    )
    .await;
    expect_mary(&server, "access-1", 1).await;
    expect_mary(&server, "access-2", 2).await;
    let crm = keap(&server);
    let account = oauth_account(&server);

    for _ in 0..3 {
        let user = crm.user(&account, "1").await.expect("user read");
        assert!(user.is_some());
    }
}

#[tokio::test]
async fn concurrent_calls_spend_the_refresh_token_once() {
    let server = MockServer::start().await;
    expect_exchange(
        &server,
        "refresh-1",
        token_response("access-1", "refresh-2", 86_400).set_delay(Duration::from_millis(200)),
    )
    .await;
    expect_mary(&server, "access-1", 3).await;
    let crm = keap(&server);
    let account = oauth_account(&server);

    let (a, b, c) = tokio::join!(
        crm.user(&account, "1"),
        crm.user(&account, "1"),
        crm.user(&account, "1")
    );
    for result in [a, b, c] {
        assert!(matches!(result, Ok(Some(_))), "{result:?}");
    }
}

#[tokio::test]
async fn a_new_refresh_token_in_the_configuration_starts_a_new_session() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[
            ("refresh-1", "access-1", "refresh-2", 30),
            // An operator re-authorised the account: its configuration now holds a new token,
            // which wins over the rotation this process kept.
            ("refresh-from-operator", "access-2", "refresh-3", 86_400),
        ],
    )
    .await;
    for token in ["access-1", "access-2"] {
        expect_mary(&server, token, 1).await;
    }
    let crm = keap(&server);
    crm.user(&oauth_account(&server), "1")
        .await
        .expect("first session");
    let reauthorised = oauth_account_configured_with(&server, "refresh-from-operator");
    crm.user(&reauthorised, "1").await.expect("new session");
}

#[tokio::test]
async fn a_refused_access_token_is_renewed_once() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[
            ("refresh-1", "access-1", "refresh-2", 86_400),
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
    )
    .await;
    bearer_get("/crm/rest/v2/users/1", "access-1")
        .respond_with(ResponseTemplate::new(401))
        .expect(1)
        .mount(&server)
        .await;
    expect_mary(&server, "access-2", 1).await;

    let user = keap(&server)
        .user(&oauth_account(&server), "1")
        .await
        .expect("read after renewing the token");
    assert!(user.is_some());
}

#[tokio::test]
async fn a_refused_refresh_token_is_unauthorized() {
    let server = MockServer::start().await;
    expect_exchange(
        &server,
        "refresh-1",
        ResponseTemplate::new(400).set_body_json(json!({
            "error": "invalid_grant", "error_description": "Invalid refresh token"
        })),
    )
    .await;
    let result = keap(&server).user(&oauth_account(&server), "1").await;
    assert!(
        matches!(&result, Err(CrmError::Unauthorized(m))
            if m.contains("invalid_grant") && !m.contains("refresh-1")),
        "{result:?}"
    );
}

fn acme() -> AccountId {
    crate::domain::fixtures::account().id
}

/// What the store holds for the fixture account: token, version, and whether it descends
/// from `configured`.
async fn stored(store: &Arc<dyn CredentialStore>, configured: &str) -> Option<(String, u64, bool)> {
    store
        .refresh_token(&acme())
        .await
        .expect("store readable")
        .map(
            |StoredRefreshToken {
                 token,
                 version,
                 origin,
             }| {
                let descends = origin == token_origin(&Secret::new(configured));
                (token.expose().to_string(), version, descends)
            },
        )
}

#[tokio::test]
async fn rotated_refresh_tokens_survive_a_restart() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[
            ("refresh-1", "access-1", "refresh-2", 86_400),
            // After the restart, the rotated token is spent, not the configured (voided) one.
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
    )
    .await;
    for token in ["access-1", "access-2"] {
        expect_mary(&server, token, 1).await;
    }
    let store = memory_store();
    let account = oauth_account(&server);

    keap_with(&server, store.clone())
        .user(&account, "1")
        .await
        .expect("first process");
    assert_eq!(
        stored(&store, "refresh-1").await,
        Some(("refresh-2".into(), 1, true))
    );
    // A new process (a Lambda cold start) on the same store.
    keap_with(&server, store.clone())
        .user(&account, "1")
        .await
        .expect("after the restart");
    assert_eq!(
        stored(&store, "refresh-1").await,
        Some(("refresh-3".into(), 2, true))
    );
}

#[tokio::test]
async fn a_process_refused_a_token_another_just_spent_uses_the_one_it_saved() {
    let server = MockServer::start().await;
    // Two processes spend refresh-1 at once. Keap honours the first and refuses the
    // second (it voided refresh-1), later than the first process saves its rotation.
    token_exchange("refresh-1")
        .respond_with(
            token_response("access-a", "refresh-a", 86_400).set_delay(Duration::from_millis(100)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    expect_exchange(
        &server,
        "refresh-1",
        ResponseTemplate::new(400)
            .set_body_json(json!({ "error": "invalid_grant" }))
            .set_delay(Duration::from_millis(500)),
    )
    .await;
    expect_rotations(&server, &[("refresh-a", "access-b", "refresh-b", 86_400)]).await;
    for token in ["access-a", "access-b"] {
        expect_mary(&server, token, 1).await;
    }
    let store = memory_store();
    let account = oauth_account(&server);
    let (first, second) = (
        keap_with(&server, store.clone()),
        keap_with(&server, store.clone()),
    );
    let (a, b) = tokio::join!(first.user(&account, "1"), second.user(&account, "1"));
    assert!(matches!(a, Ok(Some(_))), "{a:?}");
    assert!(matches!(b, Ok(Some(_))), "{b:?}");
    assert_eq!(
        stored(&store, "refresh-1").await,
        Some(("refresh-b".into(), 2, true))
    );
}

#[tokio::test]
async fn concurrent_rotations_keep_the_first_save() {
    let server = MockServer::start().await;
    // Keap honours both exchanges of refresh-1 (each answers its own rotation).
    for (access, refresh) in [("access-a", "refresh-a"), ("access-b", "refresh-b")] {
        token_exchange("refresh-1")
            .respond_with(
                token_response(access, refresh, 86_400).set_delay(Duration::from_millis(100)),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/crm/rest/v2/users/1"))
        .respond_with(mary())
        .expect(2)
        .mount(&server)
        .await;
    let store = memory_store();
    let account = oauth_account(&server);
    let (first, second) = (
        keap_with(&server, store.clone()),
        keap_with(&server, store.clone()),
    );
    let (a, b) = tokio::join!(first.user(&account, "1"), second.user(&account, "1"));
    assert!(a.is_ok() && b.is_ok(), "{a:?} {b:?}");
    // One save, of one of the two rotations; the later one did not overwrite it.
    let (token, version, descends) = stored(&store, "refresh-1").await.expect("saved");
    assert_eq!((version, descends), (1, true));
    assert!(
        ["refresh-a", "refresh-b"].contains(&token.as_str()),
        "{token}"
    );
}

#[tokio::test]
async fn an_operator_re_authorisation_wins_over_the_stored_chain() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[("refresh-from-operator", "access-9", "refresh-10", 86_400)],
    )
    .await;
    expect_mary(&server, "access-9", 1).await;
    let store = memory_store();
    // A chain that started from the old configured token.
    let old_origin = token_origin(&Secret::new("refresh-1"));
    store
        .save_refresh_token(&acme(), None, &Secret::new("refresh-2"), &old_origin)
        .await
        .expect("seeded");
    let account = oauth_account_configured_with(&server, "refresh-from-operator");
    keap_with(&server, store.clone())
        .user(&account, "1")
        .await
        .expect("read with the operator's token");
    assert_eq!(
        stored(&store, "refresh-from-operator").await,
        Some(("refresh-10".into(), 2, true))
    );
}

/// A credential store that fails its next reads or saves, then works.
struct FlakyCredentials {
    inner: Arc<dyn CredentialStore>,
    failing_reads: std::sync::atomic::AtomicU32,
    failing_saves: std::sync::atomic::AtomicU32,
}

impl FlakyCredentials {
    fn failing(reads: u32, saves: u32) -> Self {
        FlakyCredentials {
            inner: memory_store(),
            failing_reads: reads.into(),
            failing_saves: saves.into(),
        }
    }
}

fn take_failure(counter: &std::sync::atomic::AtomicU32) -> bool {
    use std::sync::atomic::Ordering;
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait::async_trait]
impl CredentialStore for FlakyCredentials {
    async fn refresh_token(
        &self,
        account: &AccountId,
    ) -> crate::ports::StoreResult<Option<StoredRefreshToken>> {
        if take_failure(&self.failing_reads) {
            return Err(crate::ports::StoreError::Backend("store down".into()));
        }
        self.inner.refresh_token(account).await
    }

    async fn save_refresh_token(
        &self,
        account: &AccountId,
        expected_version: Option<u64>,
        token: &Secret,
        origin: &str,
    ) -> crate::ports::StoreResult<bool> {
        if take_failure(&self.failing_saves) {
            return Err(crate::ports::StoreError::Backend("store down".into()));
        }
        self.inner
            .save_refresh_token(account, expected_version, token, origin)
            .await
    }
}

#[tokio::test]
async fn a_rotation_the_store_cannot_take_is_spent_next_and_its_successor_saved() {
    let server = MockServer::start().await;
    expect_rotations(
        &server,
        &[
            // Each access token is stale at once (30 s is inside the refresh margin).
            ("refresh-1", "access-1", "refresh-2", 30),
            ("refresh-2", "access-2", "refresh-3", 86_400),
        ],
    )
    .await;
    Mock::given(method("GET"))
        .and(path("/crm/rest/v2/users/1"))
        .respond_with(mary())
        .expect(2)
        .mount(&server)
        .await;
    let flaky = Arc::new(FlakyCredentials::failing(0, 1));
    let store: Arc<dyn CredentialStore> = flaky.clone();
    let crm = keap_with(&server, store.clone());
    let account = oauth_account(&server);
    crm.user(&account, "1")
        .await
        .expect("works though the save failed");
    assert_eq!(stored(&store, "refresh-1").await, None);
    crm.user(&account, "1")
        .await
        .expect("spends the unsaved token");
    assert_eq!(
        stored(&store, "refresh-1").await,
        Some(("refresh-3".into(), 1, true))
    );
}

#[tokio::test]
async fn an_unreadable_store_spends_no_refresh_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_response("access-1", "refresh-2", 86_400))
        .expect(0)
        .mount(&server)
        .await;
    let store: Arc<dyn CredentialStore> = Arc::new(FlakyCredentials::failing(1, 0));
    let result = keap_with(&server, store)
        .user(&oauth_account(&server), "1")
        .await;
    assert!(
        matches!(&result, Err(e @ CrmError::Unavailable(_)) if e.is_transient()),
        "{result:?}"
    );
}
