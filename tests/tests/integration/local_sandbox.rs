//! The local server's `/_sandbox` acts and shows data for sandbox accounts only (sandbox
//! CRM, no event webhook), and the server listens beyond loopback only when allowed
//! (issue #12, row 6).

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::local::{self, LocalError, RunningServer};
use smsflow_tests::example::{ACME_LONG_CODE, ACME_TWILIO_SID, ExampleConfig, OtherAccount};
use smsflow_tests::fixtures::{phone, send_job};
use smsflow_tests::local_server::{ExampleServer, get_json, post_json};
use smsflow_tests::poll::{self, Patience, eventually};
use smsflow_tests::{runtime, twilio};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATIENCE: Patience = poll::LOCAL_SERVER;
const BETA_NUMBER: &str = "+16125550123";
const BETA_TOKEN: &str = "beta-real-auth-token";
const BETA_BACKUP: &str = "office@beta.example";
const STRANGER: &str = "+14155550188";

/// The example (acme, on the sandbox CRM) plus "beta", an account on a real webhook CRM
/// (the mock at `crm_url`) with its own Twilio account.
fn config(crm_url: &str) -> ExampleConfig {
    let crm = format!(
        "kind = \"webhook\"\nurl = \"{crm_url}/events\"\nsigning_secret = \"beta-crm-signing-secret\""
    );
    ExampleConfig::new().with_account(&OtherAccount {
        id: "beta",
        name: "Beta Plumbing",
        send_key: "beta-send-key-0123456789abcdef",
        auth_token: BETA_TOKEN,
        number: BETA_NUMBER,
        backup_email: BETA_BACKUP,
        crm: &crm,
    })
}

/// A mock webhook CRM that takes every event.
async fn webhook_crm() -> MockServer {
    let crm = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&crm)
        .await;
    crm
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_text_to_a_real_account_is_refused_and_changes_nothing() {
    let crm = webhook_crm().await;
    let server = ExampleServer::start(config(&crm.uri())).await;

    let forged = json!({"from": STRANGER, "to": BETA_NUMBER, "body": "forged"});
    let (status, body) = post_json(&server, "/_sandbox/inbound", &forged).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "not_a_sandbox_account", "{body}");
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("beta") && detail.contains("webhook"),
        "{detail}"
    );

    // Give the queue consumers time to run anything that was queued: nothing was.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let beta = runtime::account(&server.runtime.app, "beta").await;
    let stored = server
        .runtime
        .app
        .store
        .conversation(&beta.id, &phone(STRANGER), 10)
        .await
        .expect("conversation");
    assert!(stored.is_empty(), "no message stored: {stored:?}");
    let calls = crm.received_requests().await.expect("recorded");
    assert!(calls.is_empty(), "no CRM goal fired: {calls:?}");

    // The sandbox account still gets its texts played.
    let played = json!({"from": STRANGER, "to": ACME_LONG_CODE, "body": "hello"});
    let (status, body) = post_json(&server, "/_sandbox/inbound", &played).await;
    assert_eq!((status, &body["webhook"]["status"]), (200, &json!(200)));
    server.stop().await;
}

/// Posts a text to beta's number to `/twilio/inbound`, signed with beta's token, as real
/// Twilio would through a tunnel.
async fn real_text_to_beta(server: &RunningServer) {
    let url = format!("{}/twilio/inbound", server.base_url());
    let params = [
        ("AccountSid", "AC00000000000000000000000000000002"),
        ("Body", "a real customer's text"),
        ("From", STRANGER),
        ("MessageSid", "SM0000000000000000000000000beta01"),
        ("NumMedia", "0"),
        ("To", BETA_NUMBER),
    ];
    let http = reqwest::Client::new();
    let request = twilio::signed_post(&http, BETA_TOKEN, &url, &url, &params);
    assert_eq!(twilio::answer(request).await.0, 200);
}

/// Waits until the outbox holds `emails` e-mails and the carrier `messages` messages, all
/// accounts' (read behind the sandbox's back).
async fn wait_for_backends(server: &RunningServer, emails: usize, messages: usize) {
    let rt = server.runtime.clone();
    eventually(PATIENCE, async || {
        let e = rt.outbox.list(100).await.map_err(|e| e.to_string())?;
        let m = rt.carrier.messages(100).await.map_err(|e| e.to_string())?;
        if e.len() >= emails && m.len() >= messages {
            Ok(())
        } else {
            Err(format!("{} e-mails, {} messages", e.len(), m.len()))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_show_only_sandbox_accounts_data() {
    let crm = webhook_crm().await;
    let server = ExampleServer::start(config(&crm.uri())).await;
    let app = server.runtime.app.clone();

    // Each account gets a text (forwarded by e-mail) and sends one (through the carrier).
    real_text_to_beta(&server).await;
    let played = json!({"from": STRANGER, "to": ACME_LONG_CODE, "body": "hello"});
    assert_eq!(
        post_json(&server, "/_sandbox/inbound", &played).await.0,
        200
    );
    for id in ["acme", "beta"] {
        let account = runtime::account(&app, id).await;
        let job = send_job(app.ids.new_id(), &account, phone(STRANGER), "Your visit");
        runtime::enqueue_send(&app, &job).await;
    }
    wait_for_backends(&server, 2, 2).await;
    drop(app);

    let (status, emails) = get_json(&server, "/_sandbox/emails").await;
    assert_eq!(status, 200);
    let emails = emails["emails"].as_array().expect("emails").clone();
    assert_eq!(emails.len(), 1, "acme's forward only: {emails:?}");
    assert!(!Value::Array(emails).to_string().contains(BETA_BACKUP));
    let (_, messages) = get_json(&server, "/_sandbox/messages").await;
    let messages = messages["messages"].as_array().expect("messages").clone();
    let sids: Vec<&Value> = messages.iter().map(|m| &m["account_sid"]).collect();
    assert_eq!(sids, [&json!(ACME_TWILIO_SID)], "acme's send only");

    // Beta's CRM is not the sandbox's to show or change.
    let refused = [
        ("GET", "/_sandbox/crm/beta/contacts", Value::Null),
        ("GET", "/_sandbox/crm/beta/notes", Value::Null),
        ("GET", "/_sandbox/crm/beta/goals", Value::Null),
        (
            "POST",
            "/_sandbox/crm/beta/contacts",
            json!({"first_name": "X"}),
        ),
        ("PUT", "/_sandbox/crm/beta/outage", json!({"down": true})),
    ];
    let http = reqwest::Client::new();
    for (method, path, body) in refused {
        let url = format!("{}{path}", server.base_url());
        let request = match method {
            "GET" => http.get(url),
            "POST" => http.post(url).json(&body),
            _ => http.put(url).json(&body),
        };
        let answer = request.send().await.expect("answers");
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.expect("JSON");
        assert_eq!(
            (status, &body["error"]),
            (403, &json!("not_a_sandbox_account"))
        );
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_listen_needs_an_explicit_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let remote = ExampleConfig::served_from(dir.path()).replace("127.0.0.1:0", "0.0.0.0:0");
    let refused = local::start(&remote.clone().parse()).await.err();
    let Some(error @ LocalError::RemoteListen { .. }) = refused else {
        panic!("0.0.0.0 is refused without the setting: {refused:?}");
    };
    let message = error.to_string();
    assert!(
        message.contains("--allow-remote") && message.contains("allow_remote_listen"),
        "{message}"
    );

    let allowed = remote
        .replace("[server]", "[server]\nallow_remote_listen = true")
        .parse();
    let server = local::start(&allowed).await.expect("allowed: it starts");
    assert!(server.addr.ip().is_unspecified());
    server.shutdown().await.expect("clean shutdown");

    // Loopback needs nothing, IPv4 or IPv6.
    for listen in ["127.0.0.1:0", "[::1]:0"] {
        let mut config = ExampleConfig::new().parse();
        config.server.listen = listen.parse().expect("address");
        assert!(local::check_listen(&config.server).is_ok(), "{listen}");
    }
}
