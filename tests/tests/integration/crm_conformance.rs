//! The CRM conformance suite against the embedded sandbox CRM and against the Keap adapter
//! talking to a stateful mock Keap over HTTP.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use smsflow_shared::adapters::embedded::{EmbeddedDb, SandboxCrm};
use smsflow_shared::adapters::keap::{KeapCrm, KeapSettings};
use smsflow_shared::domain::{Account, CrmConnection, KeapAuth, Secret, Timestamp};
use smsflow_shared::ports::CredentialStore;
use smsflow_shared::ports::clock::SystemClock;
use smsflow_shared::ports::crm::{CrmUser, NewNote, Note};
use smsflow_tests::conformance::crm::{CrmControl, CrmUnderTest};
use smsflow_tests::keap_mock::{KeapMock, KeapUser};
use smsflow_tests::stores::fresh_embedded_store;
use smsflow_tests::{crm_conformance, fixtures};

struct SandboxControl(SandboxCrm);

#[async_trait]
impl CrmControl for SandboxControl {
    async fn unconfigure_goal(&self, account: &Account, integration: &str, call_name: &str) {
        self.0
            .disable_goal_in_crm(&account.id, integration, call_name)
            .await
            .expect("goal disabled");
    }

    async fn read_note(&self, account: &Account, note_id: &str) -> Option<Note> {
        self.0
            .notes(Some(&account.id))
            .await
            .expect("notes readable")
            .into_iter()
            .map(|n| n.item.note)
            .find(|n| n.id == note_id)
    }

    async fn log_note(
        &self,
        account: &Account,
        contact_id: &str,
        note_type: &str,
        user_id: Option<&str>,
        at: Timestamp,
    ) -> String {
        let note = NewNote {
            title: format!("{note_type} note"),
            body: String::new(),
            user_id: user_id.map(str::to_string),
        };
        self.0
            .log_note(&account.id, contact_id, &note, note_type, Some(at))
            .await
            .expect("note logged")
            .note
            .id
    }
}

/// The fixture account's user `mary` as the CRM knows her (CRM user id 1).
fn known_user(account: &Account) -> CrmUser {
    let mary = account.user("mary").expect("fixture has mary");
    CrmUser {
        id: mary.crm_user_id.clone().expect("mary has a CRM id"),
        name: mary.name.clone(),
        email: Some(mary.email.clone()),
    }
}

async fn sandbox() -> CrmUnderTest {
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    let crm = SandboxCrm::new(db, Arc::new(SystemClock));
    let account = fixtures::account("acme", &["+14155550100"]);
    CrmUnderTest {
        crm: Arc::new(crm.clone()),
        other_account: fixtures::account("globex", &["+14155550101"]),
        known_user: known_user(&account),
        account,
        control: Arc::new(SandboxControl(crm)),
    }
}

/// The mock Keap stays up as long as its control does (the whole test).
struct KeapControl(Arc<KeapMock>);

fn api_key(account: &Account) -> &str {
    match &account.crm {
        CrmConnection::Keap {
            auth: KeapAuth::ApiKey { key },
            ..
        } => key.expose(),
        other => panic!("the Keap fixture accounts use an API key, not {other:?}"),
    }
}

#[async_trait]
impl CrmControl for KeapControl {
    async fn unconfigure_goal(&self, account: &Account, integration: &str, call_name: &str) {
        self.0
            .unconfigure_goal(api_key(account), integration, call_name);
    }

    async fn read_note(&self, account: &Account, note_id: &str) -> Option<Note> {
        self.0.note(api_key(account), note_id)
    }

    async fn log_note(
        &self,
        account: &Account,
        contact_id: &str,
        note_type: &str,
        user_id: Option<&str>,
        at: Timestamp,
    ) -> String {
        self.0
            .add_note(api_key(account), contact_id, note_type, user_id, at)
    }
}

/// A fixture account whose CRM is the mock's Keap app reached with `key`.
fn keap_account(mock: &KeapMock, id: &str, number: &str, key: &str) -> Account {
    let mut account = fixtures::account(id, &[number]);
    account.crm = CrmConnection::Keap {
        base_url: Some(mock.base_url()),
        auth: KeapAuth::ApiKey {
            key: Secret::new(key),
        },
    };
    // Each Keap app knows mary as user 1, like the sandbox does.
    let mary = known_user(&account);
    let (given, family) = mary.name.split_once(' ').expect("first and last name");
    mock.add_app(
        key,
        &[KeapUser {
            id: mary.id.parse().expect("numeric CRM user id"),
            given_name: given.into(),
            family_name: family.into(),
            email: mary.email.expect("mary has an e-mail").to_string(),
        }],
        &["LastSms", "SmsStatus"],
    );
    account
}

/// Where the Keap adapter keeps OAuth refresh tokens (these accounts use API keys).
fn memory_credentials() -> Arc<dyn CredentialStore> {
    Arc::new(fresh_embedded_store())
}

async fn keap() -> CrmUnderTest {
    let mock = Arc::new(KeapMock::start().await);
    let account = keap_account(&mock, "acme", "+14155550100", "acme-keap-key");
    let other_account = keap_account(&mock, "globex", "+14155550101", "globex-keap-key");
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build()
        .expect("HTTP client builds");
    CrmUnderTest {
        crm: Arc::new(KeapCrm::new(
            http,
            KeapSettings::default(),
            memory_credentials(),
        )),
        known_user: known_user(&account),
        account,
        other_account,
        control: Arc::new(KeapControl(mock)),
    }
}

crm_conformance!(sandbox_crm, sandbox);
crm_conformance!(keap_crm, keap);

/// The Keap adapter asks v2 for a contact's notes newest first, in pages of 25, and reads
/// a second page only when the first holds no call.
#[tokio::test]
async fn keap_reads_notes_newest_first_a_page_at_a_time() {
    let mock = KeapMock::start().await;
    let key = "acme-keap-key";
    let account = keap_account(&mock, "acme", "+14155550100", key);
    let crm = KeapCrm::new(
        reqwest::Client::new(),
        KeapSettings::default(),
        memory_credentials(),
    );
    let contact = smsflow_shared::ports::Crm::create_contact(
        &crm,
        &account,
        &smsflow_shared::ports::NewContact {
            phone: Some(fixtures::phone("+14155552671")),
            ..Default::default()
        },
    )
    .await
    .expect("contact created");
    let hour = |h: i64| Timestamp::from_millis(1_714_572_000_000 + h * 3_600_000);
    let call = mock.add_note(key, &contact.id, "Call", Some("1"), hour(0));
    for h in 1..=30 {
        mock.add_note(key, &contact.id, "Email", None, hour(h));
    }
    let before = mock.requests(key).len();

    let found = smsflow_shared::ports::Crm::last_call_note(&crm, &account, &contact.id)
        .await
        .expect("read")
        .expect("the call under 30 newer e-mails");
    assert_eq!((found.id, found.logged_at), (call, Some(hour(0))));

    // Each request as `METHOD path?name=value&... -> status`, query pairs decoded.
    let made: Vec<String> = mock.requests(key)[before..]
        .iter()
        .map(|r| {
            let query: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!(
                "{} {}?{} -> {}",
                r.method,
                r.path,
                query.join("&"),
                r.status
            )
        })
        .collect();
    let notes = format!("GET /crm/rest/v2/contacts/{}/notes", contact.id);
    assert_eq!(
        made,
        [
            format!("{notes}?order_by=create_time desc&page_size=25 -> 200"),
            format!("{notes}?order_by=create_time desc&page_size=25&page_token=25 -> 200"),
        ]
    );
}
