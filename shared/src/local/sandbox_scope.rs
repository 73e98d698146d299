//! Which accounts the local `/_sandbox` plays the other parties for, and which data it
//! shows: sandbox accounts' only.
//!
//! Local mode's carrier and mailer are always sandboxes, but an account may name a real
//! CRM (Keap, a webhook) or a real event webhook, and its Twilio auth token may be a real
//! one. Playing a person texting such an account would sign a webhook with that token and
//! fire real CRM goals, and its forwarded texts are real people's. So an account is a
//! *sandbox account* only when nothing it does leaves the machine: its CRM is the sandbox
//! CRM and it has no event webhook. The sandbox acts for those accounts and lists their
//! messages and e-mails only; everything else answers `403 not_a_sandbox_account`.

use std::collections::BTreeSet;

use axum::http::StatusCode;

use crate::adapters::embedded::carrier::{CarrierMessage, instasent_account_key};
use crate::domain::{Account, CrmConnection};
use crate::handlers::ApiError;
use crate::ports::{AccountStore, Email, StoreError};

/// Why `account` is not a sandbox account, or `None` when it is one.
pub fn not_sandbox_because(account: &Account) -> Option<&'static str> {
    match (&account.crm, &account.event_webhook) {
        (CrmConnection::Keap { .. }, _) => Some("its CRM is Keap"),
        (CrmConnection::Webhook { .. }, _) => Some("its CRM is a webhook CRM"),
        (CrmConnection::Sandbox, Some(_)) => Some("it posts delivery events to a webhook"),
        (CrmConnection::Sandbox, None) => None,
    }
}

pub fn is_sandbox_account(account: &Account) -> bool {
    not_sandbox_because(account).is_none()
}

/// The 403 for a sandbox request about an account that is not a sandbox account.
pub fn not_sandbox(account: &Account, what: &str) -> ApiError {
    let why = not_sandbox_because(account).unwrap_or("it is not a sandbox account");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "not_a_sandbox_account",
        format!(
            "{what} belongs to account {}, which is not a sandbox account ({why}): the \
             sandbox acts only for accounts on the sandbox CRM without an event webhook",
            account.id
        ),
    )
}

/// What the listings may show: data that belongs to sandbox accounts and to no other
/// account (something shared with another account is hidden).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxScope {
    /// Twilio account SIDs (`AC…`) of sandbox accounts only.
    twilio_accounts: BTreeSet<String>,
    /// E-mail addresses (users', numbers' backup addresses) of sandbox accounts only.
    addresses: BTreeSet<String>,
}

impl SandboxScope {
    /// The scope of every stored account (the configuration's and the CLI's).
    pub async fn load(store: &dyn AccountStore) -> Result<Self, StoreError> {
        let mut accounts = Vec::new();
        for id in store.account_ids().await? {
            accounts.extend(store.account(&id).await?);
        }
        Ok(Self::of(&accounts))
    }

    pub fn of(accounts: &[Account]) -> Self {
        let (mut shown, mut hidden) = (SandboxScope::default(), SandboxScope::default());
        for account in accounts {
            let side = if is_sandbox_account(account) {
                &mut shown
            } else {
                &mut hidden
            };
            side.twilio_accounts
                .extend(account.twilio_account_sid().map(String::from));
            side.twilio_accounts
                .extend(account.instasent.as_ref().map(instasent_account_key));
            side.addresses.extend(addresses(account));
        }
        shown
            .twilio_accounts
            .retain(|a| !hidden.twilio_accounts.contains(a));
        shown.addresses.retain(|a| !hidden.addresses.contains(a));
        shown
    }

    /// A carrier message, by the Twilio account it was sent on.
    pub fn shows_message(&self, message: &CarrierMessage) -> bool {
        self.twilio_accounts.contains(&message.account_sid)
    }

    /// An e-mail, when every recipient is a sandbox account's address (forwards go to an
    /// account's users and backup addresses).
    pub fn shows_email(&self, email: &Email) -> bool {
        !email.to.is_empty()
            && email
                .to
                .iter()
                .all(|to| self.addresses.contains(to.as_str()))
    }
}

fn addresses(account: &Account) -> impl Iterator<Item = String> + '_ {
    let users = account.users.values().map(|u| u.email.as_str().to_string());
    let backups = account
        .numbers
        .iter()
        .map(|n| n.backup_email.as_str().to_string());
    users.chain(backups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EmailAddress, Secret, fixtures};

    fn webhook_crm(mut account: Account, id: &str, sid: &str) -> Account {
        account.id = id.parse().expect("id");
        if let Some(twilio) = account.twilio.as_mut() {
            twilio.account_sid = sid.into();
        }
        account.crm = CrmConnection::Webhook {
            url: "https://crm.example/hook".into(),
            signing_secret: Secret::new("secret"),
        };
        account
    }

    fn email_to(to: &[&str]) -> Email {
        Email {
            from: EmailAddress::parse("smsflow@example.com").expect("address"),
            to: to
                .iter()
                .map(|a| EmailAddress::parse(a).expect("address"))
                .collect(),
            reply_to: None,
            subject: "SMS".into(),
            text: "hi".into(),
        }
    }

    #[test]
    fn only_accounts_on_the_sandbox_crm_without_event_webhook_are_sandbox_accounts() {
        let acme = fixtures::account();
        assert!(matches!(acme.crm, CrmConnection::Sandbox));
        assert_eq!(not_sandbox_because(&acme), None);
        let beta = webhook_crm(acme.clone(), "beta", "ACbeta");
        assert_eq!(not_sandbox_because(&beta), Some("its CRM is a webhook CRM"));
        let mut events = acme.clone();
        events.event_webhook = Some(crate::domain::EventWebhook {
            url: "https://events.example".into(),
            signing_secret: Secret::new("secret"),
        });
        assert!(!is_sandbox_account(&events));
    }

    #[test]
    fn the_scope_shows_what_only_sandbox_accounts_own() {
        let acme = fixtures::account();
        let acme_user = acme.users["mary"].email.as_str().to_string();
        let mut beta = webhook_crm(acme.clone(), "beta", "ACbeta");
        beta.users.clear();
        for number in &mut beta.numbers {
            number.backup_email = EmailAddress::parse("beta@example.com").expect("address");
        }
        let scope = SandboxScope::of(&[acme.clone(), beta.clone()]);
        let cases = [
            (vec![acme_user.as_str()], true),
            (vec!["beta@example.com"], false),
            (vec![acme_user.as_str(), "beta@example.com"], false),
            (vec!["stranger@example.com"], false),
        ];
        for (to, shown) in cases {
            assert_eq!(scope.shows_email(&email_to(&to)), shown, "{to:?}");
        }
        // An address or Twilio account shared with a non-sandbox account is hidden.
        let mut shared = webhook_crm(
            acme.clone(),
            "gamma",
            acme.twilio_account_sid().expect("Twilio"),
        );
        shared.users = acme.users.clone();
        let scope = SandboxScope::of(&[acme.clone(), shared]);
        assert!(!scope.shows_email(&email_to(&[acme_user.as_str()])));
        assert_eq!(scope.twilio_accounts, BTreeSet::new());
    }
}
