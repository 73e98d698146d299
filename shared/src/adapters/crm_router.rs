//! Routes each CRM call to the adapter for the account's `crm` connection.

use std::sync::Arc;

use async_trait::async_trait;

use crate::adapters::keap::{KeapCrm, KeapSettings};
use crate::adapters::webhook_crm::WebhookCrm;
use crate::domain::{Account, CrmConnection, EmailAddress, PhoneNumber};
use crate::domain::{ContactId, GoalName};
use crate::ports::{
    CallNote, Clock, Contact, CredentialStore, Crm, CrmError, CrmResult, CrmUser, GoalOutcome,
    IdGenerator, NewContact, NewNote, Note,
};

/// The CRM port for a whole deployment: accounts may use different CRMs. An adapter left
/// out (`None`) makes the accounts that need it fail with `CrmError::Unsupported`.
#[derive(Default, Clone)]
pub struct CrmRouter {
    /// The embedded sandbox CRM (local mode only).
    pub sandbox: Option<Arc<dyn Crm>>,
    /// Keap REST ([`crate::adapters::keap::KeapCrm`]).
    pub keap: Option<Arc<dyn Crm>>,
    /// Signed JSON events to a URL ([`crate::adapters::webhook_crm::WebhookCrm`]).
    pub webhook: Option<Arc<dyn Crm>>,
}

impl CrmRouter {
    /// The real CRMs (Keap and webhook) on a shared HTTP client, whose timeouts keep a slow
    /// CRM inside the caller's; `credentials` keeps Keap's rotating OAuth refresh tokens
    /// (the deployment's store); `sandbox` adds the embedded CRM of local mode.
    pub fn with_real_crms(
        http: reqwest::Client,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        credentials: Arc<dyn CredentialStore>,
        sandbox: Option<Arc<dyn Crm>>,
    ) -> Self {
        CrmRouter {
            sandbox,
            keap: Some(Arc::new(KeapCrm::new(
                http.clone(),
                KeapSettings::default(),
                credentials,
            ))),
            webhook: Some(Arc::new(WebhookCrm::new(http, clock, ids))),
        }
    }

    fn pick(&self, account: &Account) -> CrmResult<&dyn Crm> {
        match &account.crm {
            CrmConnection::Sandbox => self.sandbox.as_deref().ok_or_else(|| {
                CrmError::Unsupported(format!(
                    "account {} uses the sandbox CRM, which exists only in local mode",
                    account.id
                ))
            }),
            CrmConnection::Keap { .. } => self.keap.as_deref().ok_or_else(|| {
                CrmError::Unsupported(format!(
                    "account {} uses Keap, but this process was built without the Keap adapter",
                    account.id
                ))
            }),
            CrmConnection::Webhook { .. } => self.webhook.as_deref().ok_or_else(|| {
                CrmError::Unsupported(format!(
                    "account {} uses a webhook CRM, but this process was built without that adapter",
                    account.id
                ))
            }),
        }
    }
}

#[async_trait]
impl Crm for CrmRouter {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>> {
        self.pick(account)?
            .find_contact_by_phone(account, phone)
            .await
    }

    async fn contact(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<Contact>> {
        self.pick(account)?.contact(account, contact_id).await
    }

    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact> {
        self.pick(account)?.create_contact(account, contact).await
    }

    async fn set_email(
        &self,
        account: &Account,
        contact_id: &ContactId,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        self.pick(account)?
            .set_email(account, contact_id, email)
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &ContactId,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        self.pick(account)?
            .set_custom_field(account, contact_id, field, value)
            .await
    }

    async fn user(&self, account: &Account, user_id: &str) -> CrmResult<Option<CrmUser>> {
        self.pick(account)?.user(account, user_id).await
    }

    async fn apply_tag(
        &self,
        account: &Account,
        contact_id: &ContactId,
        tag: &str,
    ) -> CrmResult<()> {
        self.pick(account)?
            .apply_tag(account, contact_id, tag)
            .await
    }

    async fn create_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
        note: &NewNote,
    ) -> CrmResult<Note> {
        self.pick(account)?
            .create_note(account, contact_id, note)
            .await
    }

    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()> {
        self.pick(account)?
            .append_to_note(account, note_id, text)
            .await
    }

    async fn last_call_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<CallNote>> {
        self.pick(account)?
            .last_call_note(account, contact_id)
            .await
    }

    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &ContactId,
        integration: &str,
        call_name: &GoalName,
    ) -> CrmResult<GoalOutcome> {
        self.pick(account)?
            .achieve_goal(account, contact_id, integration, call_name)
            .await
    }
}
