//! The webhook CRM against a local receiver: signed event bodies and headers, lookups that
//! ask nothing, and the receiver's answers as CRM errors.

use serde_json::json;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::adapters::test_support::{
    CrmErrorCase, account_on, assert_crm_errors, email, http_client, phone, rejected, unauthorized,
    unavailable, unreachable_origin, untouched_server,
};
use crate::adapters::test_support::{contact_id, goal_name};
use crate::domain::Timestamp;
use crate::ports::clock::ManualClock;

const SECRET: &str = "whsec-test-signing-secret";
const NOW_MS: i64 = 1_767_225_600_000;

struct FixedIds;

impl IdGenerator for FixedIds {
    fn new_id(&self) -> String {
        "01JNOTE0000000000000000000".into()
    }
}

fn webhook_account(url: String) -> Account {
    account_on(CrmConnection::Webhook {
        url,
        signing_secret: Secret::new(SECRET),
    })
}

fn crm() -> WebhookCrm {
    WebhookCrm::new(
        http_client(Duration::from_secs(5)),
        Arc::new(ManualClock::at(Timestamp::from_millis(NOW_MS))),
        Arc::new(FixedIds),
    )
}

/// The documented scheme, computed here independently of the adapter's helper.
fn expected_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn every_event_is_posted_as_signed_json() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hooks/crm"))
        .and(header("content-type", "application/json"))
        .and(header(TIMESTAMP_HEADER, NOW_MS.to_string().as_str()))
        .respond_with(ResponseTemplate::new(204))
        .expect(7)
        .mount(&server)
        .await;
    let crm = crm();
    let account = webhook_account(format!("{}/hooks/crm", server.uri()));

    let outcome = crm
        .achieve_goal(
            &account,
            &contact_id("123"),
            "smsflow",
            &goal_name("Inbound"),
        )
        .await;
    assert_eq!(outcome, Ok(GoalOutcome::Achieved));
    crm.apply_tag(&account, &ContactId::new("123"), "sms-lead")
        .await
        .expect("tag event");
    let note = crm
        .create_note(
            &account,
            &ContactId::new("123"),
            &NewNote {
                title: "SMS: Welcome".into(),
                body: "Sent: Hi".into(),
                user_id: Some("7".into()),
            },
        )
        .await
        .expect("note event");
    assert_eq!(note.id, "01JNOTE0000000000000000000");
    crm.append_to_note(&account, &note.id, "\nReceived: Thanks")
        .await
        .expect("append event");
    crm.set_email(&account, &ContactId::new("123"), &email("ann@example.com"))
        .await
        .expect("e-mail event");
    crm.set_custom_field(&account, &ContactId::new("123"), "LastSms", "Thanks!")
        .await
        .expect("field event");
    let created = crm
        .create_contact(
            &account,
            &NewContact {
                first_name: Some("(auto-created)".into()),
                phone: Some(phone("+14155552671")),
                ..NewContact::default()
            },
        )
        .await
        .expect("create event");
    assert_eq!(created.id, "+14155552671");

    let common = |event: &str| json!({ "event": event, "account": "acme", "occurred_at": NOW_MS });
    let with = |event: &str, fields: serde_json::Value| {
        let mut all = common(event);
        for (k, v) in fields.as_object().expect("object").clone() {
            all[k] = v;
        }
        all
    };
    let expected = [
        with(
            "goal.achieved",
            json!({ "contact_id": "123", "integration": "smsflow", "call_name": "Inbound" }),
        ),
        with(
            "tag.applied",
            json!({ "contact_id": "123", "tag": "sms-lead" }),
        ),
        with(
            "note.created",
            json!({
                "note_id": "01JNOTE0000000000000000000", "contact_id": "123",
                "title": "SMS: Welcome", "body": "Sent: Hi", "user_id": "7"
            }),
        ),
        with(
            "note.appended",
            json!({ "note_id": "01JNOTE0000000000000000000", "text": "\nReceived: Thanks" }),
        ),
        with(
            "contact.email_changed",
            json!({ "contact_id": "123", "email": "ann@example.com" }),
        ),
        with(
            "contact.custom_field_changed",
            json!({ "contact_id": "123", "field": "LastSms", "value": "Thanks!" }),
        ),
        with(
            "contact.create_requested",
            json!({
                "contact_id": "+14155552671", "first_name": "(auto-created)", "last_name": null,
                "email": null, "phone": "+14155552671", "owner_id": null
            }),
        ),
    ];
    let received = server.received_requests().await.expect("recorded");
    assert_eq!(received.len(), expected.len());
    for (request, want) in received.iter().zip(expected) {
        let body: serde_json::Value = serde_json::from_slice(&request.body).expect("JSON body");
        assert_eq!(body, want);
        let header_value = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .unwrap_or_default()
        };
        assert_eq!(
            header_value(EVENT_HEADER),
            want["event"].as_str().unwrap_or_default()
        );
        let timestamp = header_value(TIMESTAMP_HEADER);
        let signed = header_value(SIGNATURE_HEADER);
        assert_eq!(
            signed,
            expected_signature(SECRET, &timestamp, &request.body)
        );
        assert!(verify_signature(SECRET, &timestamp, &request.body, &signed));
    }
}

#[test]
fn signatures_verify_only_what_was_signed() {
    let body = br#"{"event":"goal.achieved"}"#;
    let good = signature(SECRET, "1767225600000", body);
    assert_eq!(good, expected_signature(SECRET, "1767225600000", body));
    assert!(verify_signature(SECRET, "1767225600000", body, &good));
    let cases: [(&str, &str, &[u8], &str); 5] = [
        ("other secret", "1767225600000", body, good.as_str()),
        (SECRET, "1767225600001", body, good.as_str()),
        (
            SECRET,
            "1767225600000",
            br#"{"event":"goal.achieved "}"#,
            good.as_str(),
        ),
        (
            SECRET,
            "1767225600000",
            body,
            good.trim_start_matches("sha256="),
        ),
        (SECRET, "1767225600000", body, "sha256=zz"),
    ];
    for (secret, timestamp, body, signature) in cases {
        assert!(
            !verify_signature(secret, timestamp, body, signature),
            "{secret} {timestamp} {signature}"
        );
    }
}

#[tokio::test]
async fn lookups_find_nobody_without_calling_out() {
    let server = untouched_server().await;
    let crm = crm();
    let account = webhook_account(format!("{}/hooks/crm", server.uri()));
    assert_eq!(
        crm.find_contact_by_phone(&account, &phone("+14155552671"))
            .await,
        Ok(None)
    );
    assert_eq!(
        crm.contact(&account, &ContactId::new("123")).await,
        Ok(None)
    );
    assert_eq!(crm.user(&account, "7").await, Ok(None));
    assert_eq!(
        crm.last_call_note(&account, &ContactId::new("123")).await,
        Ok(None)
    );
    let nobody = crm.create_contact(&account, &NewContact::default()).await;
    assert!(matches!(nobody, Err(CrmError::Rejected(_))));
}

#[tokio::test]
async fn a_contact_without_phone_is_named_by_its_email() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(1)
        .mount(&server)
        .await;
    let contact = crm()
        .create_contact(
            &webhook_account(server.uri()),
            &NewContact {
                email: Some(email("ann@example.com")),
                ..NewContact::default()
            },
        )
        .await
        .expect("created");
    assert_eq!(contact.id, "ann@example.com");
    assert_eq!(contact.email, Some(email("ann@example.com")));
}

#[tokio::test]
async fn receiver_answers_map_to_crm_errors() {
    let cases: Vec<CrmErrorCase> = vec![
        (ResponseTemplate::new(500), "500", unavailable),
        (ResponseTemplate::new(502), "502", unavailable),
        (ResponseTemplate::new(408), "408", unavailable),
        (
            ResponseTemplate::new(400).set_body_string("unknown event"),
            "400",
            |e| matches!(e, CrmError::Rejected(m) if m.contains("unknown event")),
        ),
        (ResponseTemplate::new(404), "404", rejected),
        (ResponseTemplate::new(410), "410", rejected),
        (ResponseTemplate::new(401), "401", unauthorized),
        (
            ResponseTemplate::new(429).insert_header("Retry-After", "30"),
            "429",
            |e| {
                *e == CrmError::RateLimited {
                    retry_after: Some(Duration::from_secs(30)),
                }
            },
        ),
    ];
    assert_crm_errors(cases, async |server| {
        crm()
            .achieve_goal(
                &webhook_account(server.uri()),
                &contact_id("123"),
                "smsflow",
                &goal_name("Sent"),
            )
            .await
    })
    .await;
}

#[tokio::test]
async fn an_unreachable_receiver_is_unavailable() {
    let unreachable = webhook_account(format!("{}/hook", unreachable_origin()));
    let result = crm()
        .apply_tag(&unreachable, &ContactId::new("1"), "t")
        .await;
    assert!(
        matches!(result, Err(CrmError::Unavailable(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn other_connections_are_not_ours() {
    let result = crm().user(&account_on(CrmConnection::Sandbox), "7").await;
    assert!(
        matches!(result, Err(CrmError::Unsupported(_))),
        "{result:?}"
    );
}
