//! The SMS provider conformance suite against the sandbox carrier and against the Twilio
//! REST adapter talking to a mock Twilio that answers like Twilio's test credentials do.

use std::sync::Arc;
use std::time::Duration;

use smsflow_shared::adapters::embedded::{EmbeddedDb, SandboxCarrier};
use smsflow_shared::adapters::twilio::TwilioClient;
use smsflow_shared::ports::{SystemClock, UlidIds};
use smsflow_stack::twilio::TwilioStandIn;
use smsflow_tests::conformance::sms::{SmsUnderTest, test_credentials};
use smsflow_tests::sms_conformance;
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
