//! The SMS provider conformance suite against the sandbox carrier and against the Twilio
//! REST adapter talking to a mock Twilio that answers like Twilio's test credentials do;
//! and its Instasent half against the Instasent adapter talking to a mock that accepts
//! only the documented request and answers the documented responses and errors, and
//! against the sandbox carrier playing Instasent.

use std::sync::Arc;
use std::time::Duration;

use smsflow_shared::adapters::embedded::{EmbeddedDb, SandboxCarrier};
use smsflow_shared::adapters::instasent::InstasentClient;
use smsflow_shared::adapters::twilio::TwilioClient;
use smsflow_shared::domain::{InstasentCredentials, ProviderCredentials};
use smsflow_shared::ports::{SmsError, SmsProvider};
use smsflow_shared::ports::{SystemClock, UlidIds};
use smsflow_stack::twilio::TwilioStandIn;
use smsflow_tests::conformance::sms::{InstasentUnderTest, SmsUnderTest, test_credentials};
use smsflow_tests::conformance::sms::{instasent_credentials, instasent_sms};
use smsflow_tests::{instasent_conformance, sms_conformance};
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

async fn sandbox() -> SmsUnderTest {
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    SmsUnderTest {
        provider: Arc::new(SandboxCarrier::new(
            db,
            reqwest::Client::new(),
            Arc::new(SystemClock),
            Arc::new(UlidIds::default()),
        )),
        credentials: test_credentials(),
        _guard: None,
    }
}

/// Answers a create-message request like Twilio: 201 with a fresh SID, `MM` with media.
struct Created;

impl Respond for Created {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&request.body);
        let prefix = if body.contains("MediaUrl=") {
            "MM"
        } else {
            "SM"
        };
        let sid = format!("{prefix}{}", ulid_hex());
        ResponseTemplate::new(201).set_body_json(serde_json::json!({
            "sid": sid,
            "status": "queued",
            "num_segments": "1",
            "account_sid": "AC00000000000000000000000000000001",
        }))
    }
}

fn ulid_hex() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("{:032x}", N.fetch_add(1, Ordering::Relaxed))
}

/// Twilio's error body for a magic number.
fn twilio_error(status: u16, code: u32, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(serde_json::json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    }))
}

async fn mock_twilio() -> MockServer {
    let server = MockServer::start().await;
    let messages_path = "/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages.json";
    let magic: &[(&str, u32)] = &[
        ("From=%2B15005550001", 21212),
        ("From=%2B15005550007", 21606),
        ("From=%2B15005550008", 21611),
        ("To=%2B15005550001", 21211),
        ("To=%2B15005550002", 21612),
        ("To=%2B15005550003", 21408),
        ("To=%2B15005550004", 21610),
        ("To=%2B15005550009", 21614),
    ];
    for (field, code) in magic {
        Mock::given(method("POST"))
            .and(path(messages_path))
            .and(body_string_contains(*field))
            .respond_with(twilio_error(400, *code, "magic number"))
            .with_priority(1)
            .mount(&server)
            .await;
    }
    Mock::given(method("POST"))
        .and(path(messages_path))
        .respond_with(Created)
        .with_priority(10)
        .mount(&server)
        .await;
    server
}

async fn twilio() -> SmsUnderTest {
    let server = mock_twilio().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .expect("http client");
    SmsUnderTest {
        provider: Arc::new(TwilioClient::new(http, server.uri())),
        credentials: test_credentials(),
        _guard: Some(Box::new(server)),
    }
}

/// The Twilio REST adapter against the stack runner's Twilio stand-in (Twilio's HTTP side
/// over a sandbox carrier), which also lists what it took.
async fn twilio_stand_in() -> SmsUnderTest {
    let stand_in = TwilioStandIn::start(vec![test_credentials()], None)
        .await
        .expect("the Twilio stand-in starts");
    SmsUnderTest {
        provider: Arc::new(TwilioClient::new(
            reqwest::Client::new(),
            stand_in.base_url(),
        )),
        credentials: test_credentials(),
        _guard: Some(Box::new(stand_in)),
    }
}

sms_conformance!(sandbox_carrier, sandbox);
sms_conformance!(twilio_rest, twilio);
sms_conformance!(twilio_rest_on_the_stand_in, twilio_stand_in);

// Finding a lost send needs a provider that keeps what it took: the wiremock Twilio above
// answers sends only (the adapter's list request is pinned in its own unit tests).
mod lost_send_lookup {
    use super::*;
    use smsflow_tests::conformance::sms::finds_a_message_it_took_and_nothing_else as finds;

    #[tokio::test]
    async fn sandbox_carrier() {
        finds(sandbox().await).await;
    }

    #[tokio::test]
    async fn twilio_rest_on_the_stand_in() {
        finds(twilio_stand_in().await).await;
    }
}

/// Instasent's HTTP API as its documentation describes it (summarised in the README's
/// "Instasent"): only a request of the exact documented shape is answered; anything else
/// gets a 418, which no case expects. Messages it created are listed back, newest first.
mod instasent_mock {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use smsflow_tests::conformance::sms::INSTASENT_TOKEN;
    use wiremock::matchers::{body_partial_json, header, method, path, query_param};
    use wiremock::{Match, Mock, MockServer, Request, Respond, ResponseTemplate};

    /// The API's path prefix on the mock, as `/transactional/v1` is on Instasent's host.
    pub const BASE_PATH: &str = "/transactional/v1";

    /// The documented body: exactly `from`, `to`, `text`, `allowUnicode` (a JSON boolean,
    /// true only for text GSM-7 cannot carry) and `clientId` (at most 40 characters).
    struct DocumentedSend;

    impl Match for DocumentedSend {
        fn matches(&self, request: &Request) -> bool {
            let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
                return false;
            };
            let Some(fields) = body.as_object() else {
                return false;
            };
            let mut keys: Vec<&str> = fields.keys().map(String::as_str).collect();
            keys.sort_unstable();
            let text = body["text"].as_str().unwrap_or_default();
            // The cases' texts: ASCII and `ñ` are GSM-7, `✓` is not.
            let gsm = text.chars().all(|c| c.is_ascii() || c == 'ñ');
            keys == ["allowUnicode", "clientId", "from", "text", "to"]
                && body["to"].as_str().is_some_and(|to| to.starts_with('+'))
                && body["from"].is_string()
                && body["allowUnicode"].as_bool() == Some(!gsm)
                && body["clientId"]
                    .as_str()
                    .is_some_and(|id| !id.is_empty() && id.len() <= 40)
        }
    }

    /// What the mock created: (id, clientId), oldest first.
    #[derive(Clone, Default)]
    struct Created(Arc<Mutex<Vec<(String, String)>>>);

    impl Respond for Created {
        fn respond(&self, request: &Request) -> ResponseTemplate {
            let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
            let mut created = self.0.lock().expect("not poisoned");
            let id = format!("{:032x}", created.len() + 1);
            let client_id = body["clientId"].as_str().unwrap_or_default().to_string();
            created.push((id.clone(), client_id.clone()));
            ResponseTemplate::new(201).set_body_json(json!({
                "entity": {"id": id, "clientId": client_id, "status": "enqueued"}
            }))
        }
    }

    struct Listed(Created);

    impl Respond for Listed {
        fn respond(&self, _: &Request) -> ResponseTemplate {
            let created = (self.0).0.lock().expect("not poisoned");
            let now = jiff::Timestamp::now().to_string();
            let entities: Vec<Value> = (created.iter().rev())
                .map(|(id, client)| json!({"id": id, "clientId": client, "createdAt": now}))
                .collect();
            ResponseTemplate::new(200).set_body_json(json!({ "entities": entities }))
        }
    }

    /// Recipients that get each documented error (all else is created).
    pub const BAD_REQUEST: &str = "+34600000400";
    pub const OUT_OF_BALANCE: &str = "+34600000402";
    pub const NOT_FOUND: &str = "+34600000404";
    pub const TOO_LARGE: &str = "+34600000413";
    pub const RATE_LIMITED: &str = "+34600000429";
    pub const SERVER_ERROR: &str = "+34600000500";
    pub const TIMES_OUT: &str = "+34600000408";
    /// The unix time the 429 says the limit resets at.
    pub const RESET_AT: u64 = 4_102_444_800;

    pub async fn start() -> MockServer {
        let server = MockServer::start().await;
        let auth = format!("Bearer {INSTASENT_TOKEN}");
        let sms_path = format!("{BASE_PATH}/sms");
        let documented = || {
            Mock::given(method("POST"))
                .and(path(sms_path.as_str()))
                .and(header("authorization", auth.as_str()))
                .and(header("content-type", "application/json"))
                .and(header("accept", "application/json"))
                .and(DocumentedSend)
        };
        let errors: [(&str, ResponseTemplate); 7] = [
            (
                BAD_REQUEST,
                ResponseTemplate::new(400)
                    .set_body_json(json!({"message": "Problems parsing JSON"})),
            ),
            (OUT_OF_BALANCE, ResponseTemplate::new(402)),
            (NOT_FOUND, ResponseTemplate::new(404)),
            (TOO_LARGE, ResponseTemplate::new(413)),
            (
                RATE_LIMITED,
                ResponseTemplate::new(429)
                    .insert_header("X-RateLimit-Limit", "60")
                    .insert_header("X-RateLimit-Remaining", "0")
                    .insert_header("X-RateLimit-Reset", RESET_AT.to_string().as_str()),
            ),
            (SERVER_ERROR, ResponseTemplate::new(500)),
            (
                TIMES_OUT,
                ResponseTemplate::new(201).set_delay(std::time::Duration::from_secs(3)),
            ),
        ];
        for (to, answer) in errors {
            documented()
                .and(body_partial_json(json!({ "to": to })))
                .respond_with(answer)
                .with_priority(1)
                .mount(&server)
                .await;
        }
        let created = Created::default();
        documented()
            .respond_with(created.clone())
            .with_priority(5)
            .mount(&server)
            .await;
        // A token Instasent does not know (any other request shape is the 418 below).
        Mock::given(method("POST"))
            .and(path(sms_path.as_str()))
            .and(DocumentedSend)
            .respond_with(ResponseTemplate::new(401))
            .with_priority(6)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path(sms_path.as_str()))
            .and(header("authorization", auth.as_str()))
            .and(query_param("page", "1"))
            .and(query_param("per_page", "100"))
            .respond_with(Listed(created))
            .with_priority(5)
            .mount(&server)
            .await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(418).set_body_string("not a documented request"))
            .with_priority(10)
            .mount(&server)
            .await;
        server
    }
}

/// The Instasent adapter against the mock; `timeout` is the HTTP client's.
async fn instasent_on_mock_with(timeout: Duration) -> InstasentUnderTest {
    let server = instasent_mock::start().await;
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("http client");
    let base = format!("{}{}", server.uri(), instasent_mock::BASE_PATH);
    InstasentUnderTest {
        provider: Arc::new(InstasentClient::new(http)),
        credentials: instasent_credentials(Some(base)),
        _guard: Some(Box::new(server)),
    }
}

async fn instasent_on_mock() -> InstasentUnderTest {
    instasent_on_mock_with(Duration::from_secs(5)).await
}

async fn sandbox_playing_instasent() -> InstasentUnderTest {
    let SmsUnderTest {
        provider, _guard, ..
    } = sandbox().await;
    InstasentUnderTest {
        provider,
        credentials: instasent_credentials(None),
        _guard,
    }
}

/// The Instasent adapter against the stack runner's Instasent stand-in (Instasent's HTTP
/// side over a sandbox carrier), which keeps what it took and lists it back.
async fn instasent_stand_in() -> InstasentUnderTest {
    use smsflow_stack::instasent::{InstasentAccount, InstasentStandIn};
    let unused = instasent_credentials(None);
    let account = InstasentAccount {
        credentials: unused.clone(),
        // Nobody listens: the reports are not what this suite checks.
        callback_url: "http://127.0.0.1:9/instasent/callback/acme/secret".into(),
    };
    let stand_in = InstasentStandIn::start(vec![account], None)
        .await
        .expect("the Instasent stand-in starts");
    InstasentUnderTest {
        provider: Arc::new(InstasentClient::new(reqwest::Client::new())),
        credentials: instasent_credentials(Some(stand_in.base_url())),
        _guard: Some(Box::new(stand_in)),
    }
}

instasent_conformance!(instasent_rest, instasent_on_mock);
instasent_conformance!(instasent_rest_on_the_stand_in, instasent_stand_in);
instasent_conformance!(sandbox_carrier_playing_instasent, sandbox_playing_instasent);

/// Each documented error of `POST /sms` becomes what the send path needs: refused for
/// good (with smsflow's class and Instasent's status as the code), rate limited until
/// `X-RateLimit-Reset`, unavailable (retry), or an unknown outcome (resolved by lookup).
#[tokio::test]
async fn instasent_errors_are_mapped_as_documented() {
    use instasent_mock::*;
    use smsflow_shared::domain::twilio_errors::ErrorClass;
    let t = instasent_on_mock_with(Duration::from_secs(1)).await;
    let send = |to: &'static str, credentials: InstasentCredentials| {
        let provider = t.provider.clone();
        async move {
            let message = instasent_sms(to, "Hola", "01JERRORS");
            (provider)
                .send(ProviderCredentials::Instasent(&credentials), &message)
                .await
        }
    };
    for (to, status) in [
        (BAD_REQUEST, 400u16),
        (OUT_OF_BALANCE, 402),
        (NOT_FOUND, 404),
        (TOO_LARGE, 413),
    ] {
        match send(to, t.credentials.clone()).await {
            Err(SmsError::Rejected {
                code,
                class,
                http_status,
                ..
            }) => {
                assert_eq!((code, http_status), (u32::from(status), status), "{to}");
                assert_eq!(class, ErrorClass::Other, "{to}");
            }
            other => panic!("{to}: expected Rejected {status}, got {other:?}"),
        }
    }
    let wrong_token = InstasentCredentials {
        api_token: smsflow_shared::domain::Secret::new("revoked"),
        ..t.credentials.clone()
    };
    let refused = send("+34600000001", wrong_token).await;
    assert!(
        matches!(refused, Err(SmsError::Rejected { code: 401, .. })),
        "{refused:?}"
    );
    match send(RATE_LIMITED, t.credentials.clone()).await {
        Err(SmsError::RateLimited {
            code: 429,
            retry_after: Some(wait),
        }) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("after 1970")
                .as_secs();
            let expected = RESET_AT - now;
            assert!(
                wait.as_secs().abs_diff(expected) <= 5,
                "{wait:?} vs {expected}"
            );
        }
        other => panic!("expected RateLimited until the reset, got {other:?}"),
    }
    let unavailable = send(SERVER_ERROR, t.credentials.clone()).await;
    assert!(
        matches!(unavailable, Err(SmsError::Unavailable(_))),
        "{unavailable:?}"
    );
    let unknown = send(TIMES_OUT, t.credentials.clone()).await;
    assert!(
        matches!(unknown, Err(SmsError::OutcomeUnknown(_))),
        "{unknown:?}"
    );
}

/// Nothing Instasent may not see goes out: no unreachable host is dialled twice, and an
/// unreachable API is `Unavailable` (safe to retry), not an unknown outcome.
#[tokio::test]
async fn an_unreachable_instasent_is_unavailable() {
    let credentials = instasent_credentials(Some("http://127.0.0.1:9/transactional/v1".into()));
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(500))
        .build()
        .expect("http client");
    let sent = InstasentClient::new(http)
        .send(
            ProviderCredentials::Instasent(&credentials),
            &instasent_sms("+34600000001", "Hola", "01JUNREACHABLE"),
        )
        .await;
    assert!(matches!(sent, Err(SmsError::Unavailable(_))), "{sent:?}");
}
