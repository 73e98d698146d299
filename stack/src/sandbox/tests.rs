//! The sandbox API over HTTP, in front of real stand-ins, a stand-in API front and a
//! stand-in moto (wiremock serving a dump and recording webhooks).

use std::collections::BTreeSet;

use smsflow_shared::adapters::twilio::TwilioClient;
use smsflow_shared::domain::ProviderCredentials;
use smsflow_shared::ports::{OutboundSms, Sender, SmsProvider};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::*;
use crate::keap::KeapUser;
use crate::sent_emails::SentEmail;
use crate::test_accounts::{acme_signed_form, acme_twilio};

const ACME_NUMBER: &str = "+19523142318";
const KEAP_KEY: &str = "acme-keap-key";
const DOMAIN: &str = "abc123.execute-api.us-east-1.amazonaws.com";

/// The sandbox on a loopback port, and what stands behind it.
struct Running {
    base_url: String,
    twilio: Arc<TwilioStandIn>,
    keap: Arc<KeapMock>,
    front: MockServer,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Two e-mails sent, oldest first, as the AWS proxy keeps them.
fn sent_emails() -> Arc<SentEmails> {
    let emails = SentEmails::default();
    for (at, (id, subject)) in [("ses-1", "first"), ("ses-2", "second")]
        .into_iter()
        .enumerate()
    {
        emails.push(SentEmail {
            id: id.into(),
            sent_at: Timestamp::from_millis(1_800_000_000_000 + at as i64),
            from: "alerts@smsflow.example.com".into(),
            to: vec!["office@acme.example".into()],
            reply_to: None,
            subject: subject.into(),
            text: format!("{subject} body"),
        });
    }
    Arc::new(emails)
}

async fn start() -> Running {
    let front = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(INBOUND_PATH))
        .respond_with(ResponseTemplate::new(200).set_body_string("<Response/>"))
        .mount(&front)
        .await;
    let twilio = Arc::new(
        TwilioStandIn::start(vec![acme_twilio()], None)
            .await
            .expect("Twilio stand-in"),
    );
    let keap = Arc::new(KeapMock::start().await);
    let mary = KeapUser {
        id: 1,
        given_name: "Mary".into(),
        family_name: "Anders".into(),
        email: "mary@example.com".into(),
    };
    keap.add_app(KEAP_KEY, &[mary], &[]);
    let acme = SandboxAccount {
        twilio: acme_twilio(),
        numbers: vec![PhoneNumber::parse_e164(ACME_NUMBER).expect("E.164")],
        keap_api_key: KEAP_KEY.into(),
    };
    let targets = SandboxTargets {
        http_api: HttpApiTarget {
            local_url: front.uri(),
            public_domain: DOMAIN.into(),
        },
        accounts: BTreeMap::from([(AccountId::parse("acme").expect("an id"), acme)]),
        twilio: twilio.clone(),
        instasent: Arc::new(
            crate::instasent::InstasentStandIn::start(vec![], None)
                .await
                .expect("Instasent stand-in"),
        ),
        keap: keap.clone(),
        emails: sent_emails(),
        ses: None,
    };
    let app = router(targets).expect("the sandbox router");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let base_url = format!("http://{}", listener.local_addr().expect("bound"));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Running {
        base_url,
        twilio,
        keap,
        front,
        server,
    }
}

async fn get(running: &Running, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", running.base_url))
        .await
        .expect("the sandbox answers");
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON"))
}

async fn post(running: &Running, path: &str, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", running.base_url))
        .json(body)
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

fn set<'a>(names: &[&'a str]) -> BTreeSet<&'a str> {
    names.iter().copied().collect()
}

#[tokio::test]
async fn lists_messages_and_emails_in_the_local_shapes() {
    let running = start().await;
    assert_eq!(
        get(&running, "/healthz").await,
        (200, json!({"status": "ok"}))
    );
    assert_eq!(
        get(&running, "/_sandbox/messages").await,
        (200, json!({"messages": []}))
    );
    let sms = OutboundSms {
        to: PhoneNumber::parse_e164("+14155552671").expect("E.164"),
        sender: Sender::Number(PhoneNumber::parse_e164(ACME_NUMBER).expect("E.164")),
        body: "Your roof is ready".into(),
        media_urls: vec![],
        status_callback: None,
        client_id: None,
    };
    TwilioClient::new(reqwest::Client::new(), running.twilio.base_url())
        .send(ProviderCredentials::Twilio(&acme_twilio()), &sms)
        .await
        .expect("accepted");
    let (_, listed) = get(&running, "/_sandbox/messages?limit=5").await;
    let message = &listed["messages"][0];
    assert_eq!(
        keys(message),
        set(&[
            "sid",
            "account_sid",
            "from",
            "to",
            "body",
            "media_urls",
            "status_callback",
            "accepted_at",
            "accepted_at_rfc3339",
            // Which provider the carrier played, and Instasent's clientId (none here).
            "provider",
            "client_id"
        ])
    );
    assert_eq!(message["provider"], "twilio");
    assert_eq!(
        (&message["to"], &message["body"]),
        (&json!("+14155552671"), &json!("Your roof is ready"))
    );

    let (status, first) = get(&running, "/_sandbox/emails").await;
    assert_eq!(status, 200);
    let emails = first["emails"].as_array().expect("a list");
    let subjects: Vec<&Value> = emails.iter().map(|e| &e["subject"]).collect();
    assert_eq!(
        subjects,
        [&json!("second"), &json!("first")],
        "newest first"
    );
    assert_eq!(
        keys(&emails[0]),
        set(&[
            "id",
            "sent_at",
            "sent_at_rfc3339",
            "from",
            "to",
            "reply_to",
            "subject",
            "text"
        ])
    );
    assert_eq!(emails[0]["to"], json!(["office@acme.example"]));
    assert_eq!(emails[0]["text"], "second body");
    assert_eq!(emails[0]["reply_to"], Value::Null);
    let (_, again) = get(&running, "/_sandbox/emails?limit=1").await;
    assert_eq!(again["emails"], json!([emails[0]]), "times are kept");

    let (status, body) = get(&running, "/no/such/route").await;
    assert_eq!((status, &body["error"]), (404, &json!("route_not_found")));
}

#[tokio::test]
async fn plays_people_in_the_crm_and_lists_it_in_the_local_shapes() {
    let running = start().await;
    let ann = json!({
        "first_name": "Ann", "phone": "+14155552671", "email": "ann@example.com",
        "owner_id": "1", "time_zone": "America/Denver"
    });
    let (status, created) = post(&running, "/_sandbox/crm/acme/contacts", &ann).await;
    assert_eq!(status, 201, "{created}");
    let contact = &created["contact"];
    let contact_keys = [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "owner_id",
        "tags",
        "custom_fields",
        "time_zone",
    ];
    assert_eq!(keys(contact), set(&contact_keys));
    assert_eq!(
        (&contact["phone"], &contact["time_zone"]),
        (&json!("+14155552671"), &json!("America/Denver"))
    );
    let id = contact["id"].as_str().expect("an id").to_string();

    let (_, listed) = get(&running, "/_sandbox/crm/acme/contacts").await;
    let mut with_account = contact.clone();
    with_account["account"] = json!("acme");
    assert_eq!(listed, json!({"contacts": [with_account]}));

    let call = json!({
        "contact_id": id, "type": "Call", "title": "Call", "body": "Roof",
        "user_id": "1", "created_at": 1_000
    });
    let (status, logged) = post(&running, "/_sandbox/crm/acme/notes", &call).await;
    assert_eq!(status, 201, "{logged}");
    let note = &logged["note"];
    assert_eq!(
        keys(note),
        set(&[
            "account",
            "id",
            "contact_id",
            "title",
            "body",
            "user_id",
            "type",
            "created_at",
            "created_at_rfc3339"
        ])
    );
    assert_eq!(
        (&note["type"], &note["created_at"], &note["contact_id"]),
        (&json!("Call"), &json!(1_000), &json!(id))
    );
    assert_eq!(note["created_at_rfc3339"], "1970-01-01T00:00:01Z");
    let (_, notes) = get(&running, "/_sandbox/crm/acme/notes").await;
    assert_eq!(notes, json!({"notes": [note]}));

    let number: u64 = id.parse().expect("a numeric id");
    let goal = json!({"integration": "smsflow", "call_name": "Inbound", "contact_id": number});
    reqwest::Client::new()
        .post(format!(
            "{}/rest/v2/automations/goals/achieve",
            running.keap.base_url()
        ))
        .header("X-Keap-API-Key", KEAP_KEY)
        .json(&goal)
        .send()
        .await
        .expect("Keap answers");
    let (_, goals) = get(&running, "/_sandbox/crm/acme/goals?limit=10").await;
    let goal = &goals["goals"][0];
    assert_eq!(
        keys(goal),
        set(&[
            "account",
            "integration",
            "call_name",
            "contact_id",
            "achieved_at",
            "achieved_at_rfc3339"
        ])
    );
    assert_eq!(
        (&goal["account"], &goal["call_name"], &goal["contact_id"]),
        (&json!("acme"), &json!("Inbound"), &json!(id))
    );

    assert_eq!(
        get(&running, "/_sandbox/crm/other/contacts").await,
        (200, json!({"contacts": []}))
    );
}

#[tokio::test]
async fn refuses_what_the_local_sandbox_refuses() {
    let running = start().await;
    let contacts = "/_sandbox/crm/acme/contacts";
    let cases = [
        (
            contacts,
            json!({"phone": "4155552671"}),
            400,
            "invalid_request",
        ),
        (
            contacts,
            json!({"phone": "+14155552671", "age": 3}),
            400,
            "invalid_request",
        ),
        (
            contacts,
            json!({"first_name": "Bob"}),
            400,
            "invalid_request",
        ),
        (
            contacts,
            json!({"phone": "+14155552671", "time_zone": "Mars/Base"}),
            400,
            "invalid_request",
        ),
        (
            "/_sandbox/crm/other/contacts",
            json!({"phone": "+14155552671"}),
            404,
            "unknown_account",
        ),
        (
            "/_sandbox/crm/acme/notes",
            json!({"contact_id": "42", "type": "Call", "title": "t"}),
            404,
            "not_found",
        ),
    ];
    for (path, body, status, error) in cases {
        let (answered, answer) = post(&running, path, &body).await;
        assert_eq!(
            (answered, &answer["error"]),
            (status, &json!(error)),
            "{path} {body}"
        );
    }
    let (status, answer) = get(&running, "/_sandbox/crm/Not%20An%20Id/contacts").await;
    assert_eq!((status, &answer["error"]), (400, &json!("invalid_account")));
}

#[tokio::test]
async fn inbound_texts_reach_the_front_signed_for_the_public_url() {
    let running = start().await;
    let text = json!({
        "from": "+14155552671", "to": ACME_NUMBER, "body": "hello",
        "media_urls": ["https://cdn.example.com/a.jpg"]
    });
    let (status, answer) = post(&running, "/_sandbox/inbound", &text).await;
    assert_eq!(status, 200, "{answer}");
    let public_url = format!("https://{DOMAIN}{INBOUND_PATH}");
    assert_eq!(
        answer["webhook"],
        json!({"url": public_url, "status": 200, "body": "<Response/>"})
    );
    let sid = answer["message_sid"].as_str().expect("a sid");
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");

    let requests = running.front.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    let params = acme_signed_form(request, DOMAIN, &public_url);
    let field = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(
        (
            field("Body"),
            field("To"),
            field("MessageSid"),
            field("MediaUrl0")
        ),
        (
            Some("hello"),
            Some(ACME_NUMBER),
            Some(sid),
            Some("https://cdn.example.com/a.jpg")
        )
    );

    let unknown = json!({"from": "+14155552671", "to": "+14155550000", "body": "hello"});
    let (status, answer) = post(&running, "/_sandbox/inbound", &unknown).await;
    assert_eq!((status, &answer["error"]), (400, &json!("invalid_request")));
}
