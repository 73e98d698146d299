//! The Keap adapter against a local HTTP mock: exact methods, paths, query strings,
//! headers and bodies, error mapping, OAuth rotation and the rate limit. One file per topic;
//! this one holds what they share: the accounts, the adapter, and the mock's matchers
//! and answers.

mod answers;
mod contacts;
mod goals;
mod notes;
mod oauth;
mod tags;

use std::fmt::Debug;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Match, Mock, MockBuilder, MockServer, Request, ResponseTemplate};

use super::*;
use crate::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use crate::adapters::test_support::{account_on, contact_id, goal_name, http_client};
use crate::domain::{CrmConnection, KeapAuth, Secret};

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

/// The adapter on `server` and the API-key account it serves, as most tests use them.
fn keap_and_account(server: &MockServer) -> (KeapCrm, Account) {
    (keap(server), api_key_account(server))
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

const USER_1: &str = "/crm/rest/v2/users/1";
const TAGS: &str = "/crm/rest/v2/tags";

/// A GET of `url_path` with the API key.
fn keap_get(url_path: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path(url_path.to_string()))
        .and(header("X-Keap-API-Key", KEY))
        .and(header("accept", "application/json"))
}

/// A `verb` of `url_path` with the API key and a JSON body.
fn keap_write(verb: &str, url_path: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(url_path.to_string()))
        .and(header("X-Keap-API-Key", KEY))
        .and(header("accept", "application/json"))
        .and(header("content-type", "application/json"))
}

/// Mounts `request`, answered with `answer`, which must arrive exactly `times` times.
async fn expect(server: &MockServer, times: u64, request: MockBuilder, answer: ResponseTemplate) {
    request
        .respond_with(answer)
        .expect(times)
        .mount(server)
        .await;
}

/// Mounts `request` for its first arrival only, answered with `answer`: later ones fall
/// through to the mocks mounted after it.
async fn expect_first(server: &MockServer, request: MockBuilder, answer: ResponseTemplate) {
    request
        .respond_with(answer)
        .up_to_n_times(1)
        .expect(1)
        .mount(server)
        .await;
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

fn created(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(201).set_body_json(body)
}

/// Keap's 404 for a contact that does not exist.
fn contact_not_found(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({
        "code": 404, "message": format!("Contact {id} not found"), "status": "NOT_FOUND"
    }))
}

/// User 1, as Keap answers for it.
fn mary() -> ResponseTemplate {
    ok(json!({ "id": "1", "given_name": "Mary" }))
}

/// `result` is `CrmError::Unavailable`.
fn assert_unavailable<T: Debug>(result: CrmResult<T>) {
    assert!(
        matches!(result, Err(CrmError::Unavailable(_))),
        "{result:?}"
    );
}

/// The tag search by `filter`, one page of up to 1000.
fn tag_search(filter: &str) -> MockBuilder {
    keap_get(TAGS).and(query_is(&[("filter", filter), ("page_size", "1000")]))
}

/// Keap's answer to a tag search: these tags.
fn tags_found(tags: Value) -> ResponseTemplate {
    ok(json!({ "tags": tags }))
}

/// Contact 5 achieves the goal `call_name` of integration `smsflow`, with the API key.
async fn achieve(server: &MockServer, call_name: &str) -> CrmResult<GoalOutcome> {
    keap(server)
        .achieve_goal(
            &api_key_account(server),
            &contact_id("5"),
            "smsflow",
            &goal_name(call_name),
        )
        .await
}
