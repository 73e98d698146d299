//! What the adapters' tests share: an HTTP client with test timeouts, an address nothing
//! listens on and a server nothing may call, test numbers, addresses and accounts, and the
//! table that checks how a CRM adapter maps its service's error answers.

use std::fmt::Debug;
use std::time::Duration;

use wiremock::matchers::{any, method};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::domain::{Account, ContactId, CrmConnection, EmailAddress, GoalName, PhoneNumber};
use crate::ports::crm::{CrmError, CrmResult};

/// An HTTP client as the adapters are given one: a short connect timeout inside an
/// overall `timeout`.
pub(crate) fn http_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(timeout)
        .build()
        .expect("test HTTP client builds")
}

/// `http://127.0.0.1:<port>` on a port that was free a moment ago: nothing listens there.
pub(crate) fn unreachable_origin() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    format!("http://127.0.0.1:{port}")
}

/// A server that must receive no request at all (checked when it drops).
pub(crate) async fn untouched_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    server
}

pub(crate) fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("test phone is valid")
}

pub(crate) fn email(address: &str) -> EmailAddress {
    EmailAddress::parse(address).expect("test e-mail is valid")
}

/// The fixture account on `crm`, without users.
pub(crate) fn account_on(crm: CrmConnection) -> Account {
    Account {
        users: Default::default(),
        crm,
        ..crate::domain::fixtures::account()
    }
}

pub(crate) fn unavailable(error: &CrmError) -> bool {
    matches!(error, CrmError::Unavailable(_))
}

pub(crate) fn unauthorized(error: &CrmError) -> bool {
    matches!(error, CrmError::Unauthorized(_))
}

pub(crate) fn rejected(error: &CrmError) -> bool {
    matches!(error, CrmError::Rejected(_))
}

/// An answer, its name, and what the adapter must make of it.
pub(crate) type CrmErrorCase = (ResponseTemplate, &'static str, fn(&CrmError) -> bool);

/// For each case, a fresh server answers one POST with the case's answer, and `call`
/// against that server must fail with the error the case expects.
pub(crate) async fn assert_crm_errors<T: Debug>(
    cases: Vec<CrmErrorCase>,
    call: impl AsyncFn(&MockServer) -> CrmResult<T>,
) {
    for (response, case, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(response)
            .expect(1)
            .mount(&server)
            .await;
        match call(&server).await {
            Err(e) => assert!(expected(&e), "{case}: got {e:?}"),
            Ok(o) => panic!("{case}: expected an error, got {o:?}"),
        }
    }
}

/// A CRM contact id, as the tests write them.
pub(crate) fn contact_id(id: &str) -> ContactId {
    ContactId::new(id)
}

/// A goal's call name, as the tests write them.
pub(crate) fn goal_name(name: &str) -> GoalName {
    GoalName::parse(name).expect("a valid call name")
}
