//! The CRM conformance suite against the embedded sandbox CRM.

use std::sync::Arc;

use async_trait::async_trait;
use smsflow_shared::adapters::embedded::{EmbeddedDb, SandboxCrm};
use smsflow_shared::domain::Account;
use smsflow_shared::ports::clock::SystemClock;
use smsflow_shared::ports::crm::{CrmUser, Note};
use smsflow_tests::conformance::crm::{CrmControl, CrmUnderTest};
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
            .map(|n| n.item)
            .find(|n| n.id == note_id)
    }
}

async fn sandbox() -> CrmUnderTest {
    let db = EmbeddedDb::in_memory().expect("in-memory db");
    let crm = SandboxCrm::new(db, Arc::new(SystemClock));
    // The fixture account's user `mary` has CRM user id 1.
    let account = fixtures::account("acme", &["+14155550100"]);
    let mary = account.user("mary").expect("fixture has mary");
    let known_user = CrmUser {
        id: mary.crm_user_id.clone().expect("mary has a CRM id"),
        name: mary.name.clone(),
        email: Some(mary.email.clone()),
    };
    CrmUnderTest {
        crm: Arc::new(crm.clone()),
        other_account: fixtures::account("globex", &["+14155550101"]),
        account,
        known_user,
        control: Arc::new(SandboxControl(crm)),
    }
}

crm_conformance!(sandbox_crm, sandbox);
