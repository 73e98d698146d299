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

/// Implements `Crm` for the router: each method hands the call, unchanged, to the adapter
/// of the account's connection. One line a method, so the list reads as what it is.
macro_rules! each_call_to_the_accounts_crm {
    ($($method:ident($($arg:ident: $ty:ty),*) -> $answer:ty;)+) => {
        #[async_trait]
        impl Crm for CrmRouter {
            $(
                async fn $method(&self, account: &Account, $($arg: $ty),*) -> CrmResult<$answer> {
                    self.pick(account)?.$method(account, $($arg),*).await
                }
            )+
        }
    };
}

each_call_to_the_accounts_crm! {
    find_contact_by_phone(phone: &PhoneNumber) -> Option<Contact>;
    contact(contact_id: &ContactId) -> Option<Contact>;
    create_contact(contact: &NewContact) -> Contact;
    set_email(contact_id: &ContactId, email: &EmailAddress) -> ();
    set_custom_field(contact_id: &ContactId, field: &str, value: &str) -> ();
    user(user_id: &str) -> Option<CrmUser>;
    apply_tag(contact_id: &ContactId, tag: &str) -> ();
    create_note(contact_id: &ContactId, note: &NewNote) -> Note;
    append_to_note(note_id: &str, text: &str) -> ();
    last_call_note(contact_id: &ContactId) -> Option<CallNote>;
    achieve_goal(contact_id: &ContactId, integration: &str, call_name: &GoalName) -> GoalOutcome;
}
