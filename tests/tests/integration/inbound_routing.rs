//! Inbound routing end to end (the rules and numbered cases of "Inbound routing" in
//! `docs/glossary.md`): who gets an inbound text, through the local server over HTTP. Each
//! case sets the contact's history up the way it happens in use (an SMS we sent, a call
//! logged in the CRM, an owner), posts a signed Twilio webhook, and checks the forwarded
//! e-mail and the decision recorded on the conversation. The Keap case checks that routing
//! asks the CRM only for what the decision needs.

use std::time::Duration;

use serde_json::json;
use smsflow_shared::domain::MessageSid;
use smsflow_shared::domain::routing::RoutingRule;
use smsflow_shared::domain::{AccountId, Direction, MessageRecord, MessageStatus, Timestamp};
use smsflow_shared::local::RunningServer;
use smsflow_shared::ports::NewContact;
use smsflow_tests::example::ExampleConfig;
use smsflow_tests::fixtures::{message, new_contact};
use smsflow_tests::keap_mock::{KeapMock, KeapUser};
use smsflow_tests::local_server::{
    ExampleServer, created_contact_id, get_body, post_json, post_text_to_acme,
};
use smsflow_tests::poll::{self, Patience, eventually};
use smsflow_tests::runtime;

const KEAP_KEY: &str = "acme-keap-key";
/// 2024-05-01 14:00 UTC.
const MAY_1_14H: i64 = 1_714_572_000_000;

fn acme() -> AccountId {
    "acme".parse().expect("account id")
}

/// An SMS we sent to `to` an hour before the inbound text: manual (`campaign` None) for
/// `user`, or from a campaign whose reply-to user is `user`.
async fn we_texted(server: &RunningServer, to: &str, user: &str, campaign: Option<&str>) {
    let app = &server.runtime.app;
    let at = Timestamp::from_millis(MAY_1_14H);
    let sent = MessageRecord {
        body: "Your roof inspection is tomorrow".into(),
        status: MessageStatus::Delivered,
        user_id: Some(user.into()),
        campaign: campaign.map(str::to_string),
        kind: None,
        ..message(app.ids.new_id(), &acme(), to, Direction::Outbound, at)
    };
    app.store.record_message(&sent).await.expect("stored");
}

/// Where the text with this SID went: the forwarded e-mail (recipients, body) and the
/// decision recorded on the stored message.
struct Routed {
    to: Vec<String>,
    text: String,
    rule: RoutingRule,
    user_id: Option<String>,
}

async fn routed(server: &RunningServer, sid: &str) -> Routed {
    eventually(poll::LOCAL_SERVER, async || {
        let stored = server
            .runtime
            .app
            .store
            .message_by_sid(&MessageSid::new(sid))
            .await
            .expect("store");
        let emails = server.runtime.outbox.list(100).await.expect("outbox");
        let email = emails
            .iter()
            .map(|e| serde_json::to_value(e).expect("serialisable"))
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(sid)));
        match (stored.and_then(|m| m.routing), email) {
            (Some(routing), Some(email)) => Ok(Routed {
                to: serde_json::from_value(email["to"].clone()).expect("recipients"),
                text: email["text"].as_str().unwrap_or_default().to_string(),
                rule: routing.rule,
                user_id: routing.user_id,
            }),
            _ => Err(format!("{sid} was never routed")),
        }
    })
    .await
}

/// Creates a sandbox CRM contact over the sandbox API; returns its id.
async fn contact(server: &RunningServer, phone: &str, owner: Option<&str>) -> String {
    let (status, body) = post_json(
        server,
        "/_sandbox/crm/acme/contacts",
        &json!({ "first_name": "Ann", "last_name": "Lee", "phone": phone, "owner_id": owner }),
    )
    .await;
    created_contact_id(status, &body)
}

/// Logs a call on a contact over the sandbox API, `hours` after 2024-05-01 14:00 UTC.
async fn logged_call(server: &RunningServer, contact_id: &str, user: &str, hours: i64) {
    let (status, body) = post_json(
        server,
        "/_sandbox/crm/acme/notes",
        &json!({
            "contact_id": contact_id, "type": "Call", "title": "Call", "body": "Left a message",
            "user_id": user, "created_at": MAY_1_14H + hours * 3_600_000
        }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["note"]["type"], "Call", "{body}");
}

struct Case {
    name: &'static str,
    sid: &'static str,
    from: &'static str,
    body: &'static str,
    to: &'static str,
    rule: RoutingRule,
    user_id: Option<&'static str>,
    /// Part of the "Why you" line.
    why: &'static str,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_four_routing_cases() {
    let server = ExampleServer::start(ExampleConfig::new()).await;

    // Case 1: a reply to John's manual SMS, though Mary owns the contact and logged a call.
    let c1 = contact(&server, "+14155550101", Some("1")).await;
    logged_call(&server, &c1, "1", 2).await;
    we_texted(&server, "+14155550101", "john", None).await;
    // Case 4: a reply to a campaign SMS goes to the campaign's reply-to user.
    contact(&server, "+14155550104", Some("1")).await;
    we_texted(&server, "+14155550104", "john", Some("spring-promo")).await;
    // Case 2, called: never texted; John logged the newest call (Mary an older one).
    let c2 = contact(&server, "+14155550102", Some("1")).await;
    logged_call(&server, &c2, "1", 1).await;
    logged_call(&server, &c2, "2", 3).await;
    // Case 2, not called: the owner.
    contact(&server, "+14155550103", Some("1")).await;
    // A contact nobody on the team is linked to.
    contact(&server, "+14155550105", None).await;

    let cases = [
        Case {
            name: "case 1: last manual SMS",
            sid: "SM000000000000000000000000000r0001",
            from: "+14155550101",
            body: "Sounds good",
            to: "john@acme.example",
            rule: RoutingRule::LastSms,
            user_id: Some("john"),
            why: "John Smith sent the last SMS to this contact on 2024-05-01 14:00 UTC.",
        },
        Case {
            name: "case 4: campaign reply-to",
            sid: "SM000000000000000000000000000r0004",
            from: "+14155550104",
            body: "Tell me more",
            to: "john@acme.example",
            rule: RoutingRule::CampaignReplyTo,
            user_id: Some("john"),
            why: "John Smith is the reply-to user of campaign 'spring-promo'",
        },
        Case {
            name: "case 2: last call note",
            sid: "SM000000000000000000000000000r0002",
            from: "+14155550102",
            body: "Returning your call",
            to: "john@acme.example",
            rule: RoutingRule::LastCallNote,
            user_id: Some("john"),
            why: "John Smith logged the last call with this contact on 2024-05-01 17:00 UTC.",
        },
        Case {
            name: "case 2: owner",
            sid: "SM000000000000000000000000000r0003",
            from: "+14155550103",
            body: "Saw your e-mail",
            to: "mary@acme.example",
            rule: RoutingRule::ContactOwner,
            user_id: Some("mary"),
            why: "Mary Anders owns this contact in the CRM.",
        },
        Case {
            name: "no owner: backup address",
            sid: "SM000000000000000000000000000r0005",
            from: "+14155550105",
            body: "Hello?",
            to: "office@acme.example",
            rule: RoutingRule::BackupEmail,
            user_id: None,
            why: "No teammate is linked to this contact",
        },
        Case {
            name: "case 3: unknown number, auto-created contact",
            sid: "SM000000000000000000000000000r0006",
            from: "+14155550106",
            body: "Who is this?",
            to: "office@acme.example",
            rule: RoutingRule::BackupEmail,
            user_id: None,
            why: "No teammate is linked to this contact",
        },
        Case {
            name: "case 3: unknown number, keyword (no contact is created)",
            sid: "SM000000000000000000000000000r0007",
            from: "+14155550107",
            body: "HELP",
            to: "office@acme.example",
            rule: RoutingRule::UnknownSender,
            user_id: None,
            why: "The sender is not a contact in the CRM",
        },
    ];
    for case in &cases {
        assert_eq!(
            post_text_to_acme(&server, case.sid, case.from, case.body)
                .await
                .0,
            200,
            "{}",
            case.name
        );
    }
    for case in &cases {
        let got = routed(&server, case.sid).await;
        assert_eq!(got.to, [case.to], "{}", case.name);
        assert_eq!(
            (got.rule, got.user_id.as_deref()),
            (case.rule, case.user_id),
            "{}",
            case.name
        );
        assert!(
            got.text.contains(&format!("Why you: {}", case.why)),
            "{}: {}",
            case.name,
            got.text
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_crm_api_refuses_bad_seeds() {
    let server = ExampleServer::start(ExampleConfig::new()).await;
    let id = contact(&server, "+14155550101", None).await;
    let cases = [
        (
            "/_sandbox/crm/nobody/notes",
            json!({ "contact_id": id, "type": "Call", "title": "t" }),
            404,
            "unknown_account",
        ),
        (
            "/_sandbox/crm/acme/notes",
            json!({ "contact_id": "99", "type": "Call", "title": "t" }),
            404,
            "not_found",
        ),
        (
            "/_sandbox/crm/acme/notes",
            json!({ "contact_id": id, "type": "Call" }),
            400,
            "invalid_request",
        ),
        (
            "/_sandbox/crm/acme/notes",
            json!({ "contact_id": id, "title": "t" }),
            400,
            "invalid_request",
        ),
        (
            "/_sandbox/crm/acme/notes",
            json!({ "contact_id": id, "type": "Call", "title": "t", "colour": "red" }),
            400,
            "invalid_request",
        ),
        (
            "/_sandbox/crm/acme/contacts",
            json!({ "first_name": "Ann" }),
            400,
            "invalid_request",
        ),
        (
            "/_sandbox/crm/acme/contacts",
            json!({ "phone": "415 555 0101" }),
            400,
            "invalid_request",
        ),
    ];
    for (path, body, status, error) in cases {
        let (got, answer) = post_json(&server, path, &body).await;
        assert_eq!(
            (got, answer["error"].as_str()),
            (status, Some(error)),
            "{path} {body}: {answer}"
        );
    }
    let notes = get_body(&server, "/_sandbox/crm/acme/notes").await;
    assert_eq!(notes, json!({ "notes": [] }), "nothing was stored");
    server.stop().await;
}

/// What one inbound text made the Keap adapter ask: each request's method and path,
/// without the contact search and creation every text starts with.
fn routing_calls(mock: &KeapMock, from: usize) -> Vec<String> {
    mock.requests(KEAP_KEY)[from..]
        .iter()
        .filter(|r| r.path.contains("/notes") || r.path.contains("/users/"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Waits until the mock has achieved `count` goals in total.
async fn goals_reach(mock: &KeapMock, count: usize) {
    let patience = Patience {
        within: Duration::from_secs(10),
        every: Duration::from_millis(50),
    };
    eventually(patience, async || {
        if mock.achieved_goals(KEAP_KEY).len() < count {
            Err(format!("goals never reached {count}"))
        } else {
            Ok(())
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_keap_routing_asks_only_for_what_the_decision_needs() {
    let mock = KeapMock::start().await;
    let user = |id: u64, given: &str, email: &str| KeapUser {
        id,
        given_name: given.into(),
        family_name: "Team".into(),
        email: email.into(),
    };
    mock.add_app(
        KEAP_KEY,
        &[
            user(1, "Mary", "mary@acme.example"),
            user(2, "John", "john@acme.example"),
            // Not a user of the smsflow account: reached by the e-mail Keap knows.
            user(3, "Pat", "pat@elsewhere.example"),
        ],
        &[],
    );
    let server =
        ExampleServer::start(ExampleConfig::new().keap_crm(&mock.base_url(), KEAP_KEY)).await;
    let app = server.runtime.app.clone();
    let account = runtime::account(&app, "acme").await;
    let mut contact_ids = Vec::new();
    for (number, owner) in [
        ("+14155550201", "1"),
        ("+14155550202", "1"),
        ("+14155550203", "3"),
    ] {
        let ann = NewContact {
            owner_id: Some(owner.into()),
            ..new_contact("Ann", number)
        };
        let created = runtime::add_contact(&app, &account, ann).await;
        contact_ids.push(created.id);
    }
    we_texted(&server, "+14155550201", "john", None).await;
    mock.add_note(
        KEAP_KEY,
        &contact_ids[1],
        "Call",
        Some("2"),
        Timestamp::from_millis(MAY_1_14H),
    );

    let notes = |i: usize| format!("GET /crm/rest/v2/contacts/{}/notes", contact_ids[i]);
    let cases = [
        (
            "SM000000000000000000000000000k0001",
            "+14155550201",
            "john@acme.example",
            RoutingRule::LastSms,
            vec![],
        ),
        (
            "SM000000000000000000000000000k0002",
            "+14155550202",
            "john@acme.example",
            RoutingRule::LastCallNote,
            vec![notes(1)],
        ),
        (
            "SM000000000000000000000000000k0003",
            "+14155550203",
            "pat@elsewhere.example",
            RoutingRule::ContactOwner,
            vec![notes(2), "GET /crm/rest/v2/users/3".to_string()],
        ),
    ];
    for (i, (sid, from, to, rule, calls)) in cases.into_iter().enumerate() {
        let before = mock.requests(KEAP_KEY).len();
        assert_eq!(post_text_to_acme(&server, sid, from, "Hi").await.0, 200);
        let got = routed(&server, sid).await;
        assert_eq!((got.to, got.rule), (vec![to.to_string()], rule), "{sid}");
        // Three goals per text (Inbound, Inbound<number>, the forward address): once they
        // are in, the text's processing is over.
        goals_reach(&mock, 3 * (i + 1)).await;
        assert_eq!(routing_calls(&mock, before), calls, "{sid}");
    }
    drop(app);
    server.stop().await;
}
