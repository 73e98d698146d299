//! Tags: looked up by name or created, their ids cached, applied to a contact by id.

use super::*;
use wiremock::matchers::body_json;

/// Applying tag `tag_id` to contacts.
fn apply(tag_id: &str) -> MockBuilder {
    keap_write(
        "POST",
        &format!("/crm/rest/v2/tags/{tag_id}/contacts:applyTags"),
    )
}

/// Keap's answer to applying a tag to contact 5: `result`.
fn applied(result: &str) -> ResponseTemplate {
    ok(json!({ "results": { "5": result } }))
}

fn sms_lead(id: &str) -> Value {
    json!({ "id": id, "name": "sms-lead" })
}

#[tokio::test]
async fn tags_are_looked_up_or_created_once_then_applied_by_id() {
    let server = MockServer::start().await;
    // "replied" exists (the name filter also returns a longer name); "sms-lead" does not.
    let replied = tags_found(json!([
        { "id": "30", "name": "replied-old" },
        { "id": "31", "name": "replied" }
    ]));
    expect(&server, 1, tag_search("name==replied"), replied).await;
    expect(
        &server,
        1,
        tag_search("name==sms-lead"),
        tags_found(json!([])),
    )
    .await;
    let create = keap_write("POST", TAGS).and(body_json(json!({ "name": "sms-lead" })));
    expect(&server, 1, create, created(sms_lead("21"))).await;
    for (tag_id, times) in [("21", 2), ("31", 1)] {
        let to_contact_5 = apply(tag_id).and(body_json(json!({ "contact_ids": ["5"] })));
        expect(&server, times, to_contact_5, applied("SUCCESS")).await;
    }
    let (crm, account) = keap_and_account(&server);

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
        expect(
            &server,
            1,
            keap_get(TAGS),
            tags_found(json!([sms_lead("21")])),
        )
        .await;
        expect(&server, 1, apply("21"), applied(result)).await;
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
    expect_first(&server, keap_get(TAGS), tags_found(json!([sms_lead("21")]))).await;
    expect(&server, 1, keap_get(TAGS), tags_found(json!([]))).await;
    expect(
        &server,
        1,
        keap_write("POST", TAGS),
        created(sms_lead("22")),
    )
    .await;
    expect_first(&server, apply("21"), applied("SUCCESS")).await;
    expect(&server, 1, apply("21"), ResponseTemplate::new(404)).await;
    expect(&server, 1, apply("22"), applied("SUCCESS")).await;
    let (crm, account) = keap_and_account(&server);

    crm.apply_tag(&account, &ContactId::new("5"), "sms-lead")
        .await
        .expect("first");
    // Someone deletes the tag in Keap: the cached id 21 is gone.
    crm.apply_tag(&account, &ContactId::new("5"), "sms-lead")
        .await
        .expect("applied under its new id");
}
