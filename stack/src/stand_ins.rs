//! The parties outside the stack — Twilio and the CRM — as real HTTP servers on loopback:
//! the Twilio stand-in (REST `Messages.json`, magic test numbers, signed status callbacks
//! to the API's public URL; the accounts' numbers owned but not yet pointed at the stack,
//! and a few on offer, for `smsflow numbers`) and the Keap stand-in (one Keap app per account moved off the
//! sandbox CRM, with the account's users).

use std::collections::BTreeMap;
use std::sync::Arc;

use smsflow_shared::adapters::embedded::carrier::CallbackRoute;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::domain::{Account, AccountId, InstasentCredentials, Secret, SenderKind};
use tokio::net::TcpListener;

use crate::instasent::{InstasentAccount, InstasentSeat, InstasentStandIn, InstasentStandInError};
use crate::keap::{KeapMock, KeapUser};
use crate::runner::Endpoint;
use crate::sandbox::SandboxAccount;
use crate::stack_config::{InstasentToken, KeapApp};
use crate::twilio::{TwilioStandIn, TwilioStandInError};
use crate::twilio_numbers::{NumberResources, Offer, Owned};

/// The Twilio stand-in's listener, bound before the stack exists so the template's
/// `TwilioApiBaseUrl` can name it.
pub struct TwilioSeat {
    listener: TcpListener,
    pub base_url: String,
}

impl TwilioSeat {
    pub async fn bind(port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        Ok(TwilioSeat { listener, base_url })
    }

    /// Starts Twilio for the configuration's accounts; callbacks for `public_origin` go to
    /// the HTTP API front at `local_origin`.
    pub async fn start(
        self,
        config: &LocalConfig,
        public_origin: &str,
        local_origin: &str,
    ) -> Result<TwilioStandIn, TwilioStandInError> {
        let accounts = config
            .accounts
            .iter()
            .filter_map(|a| a.twilio.clone())
            .collect();
        let route = CallbackRoute::new(public_origin, local_origin);
        let twilio = TwilioStandIn::start_on(self.listener, accounts, Some(route)).await?;
        seed_numbers(twilio.numbers(), config);
        Ok(twilio)
    }
}

/// Numbers on offer to every Twilio account (US, fictional 555-01xx numbers).
pub const OFFERED_NUMBERS: [&str; 3] = ["+19525550170", "+19525550171", "+16125550172"];

/// Each account's numbers as its Twilio account owns them before the operator points them
/// at the stack (no SMS webhook yet), and [`OFFERED_NUMBERS`] on offer.
fn seed_numbers(numbers: &NumberResources, config: &LocalConfig) {
    for account in &config.accounts {
        // An account on Instasent alone owns no Twilio numbers.
        let Some(twilio) = &account.twilio else {
            continue;
        };
        for inbound in &account.numbers {
            numbers.own(Owned {
                account_sid: twilio.account_sid.clone(),
                number: inbound.number.to_string(),
                number_type: match inbound.kind {
                    SenderKind::TollFree => "toll-free".into(),
                    _ => "local".into(),
                },
                ..Owned::default()
            });
        }
    }
    for number in OFFERED_NUMBERS {
        let locality = if number.starts_with("+1952") {
            "Bloomington"
        } else {
            "Minneapolis"
        };
        numbers.offer(Offer::local(number, locality, "MN"));
    }
}

/// Creates each moved account's Keap app with its users (their `crm_user_id` is a Keap
/// user id, a number). Accounts keep the CRMs they name otherwise.
pub fn provision_keap(
    keap: &KeapMock,
    config: &LocalConfig,
    apps: &[KeapApp],
) -> Result<(), String> {
    for app in apps {
        let account = config
            .accounts
            .iter()
            .find(|a| a.id.as_str() == app.account)
            .ok_or_else(|| format!("no account {} in the configuration", app.account))?;
        let users = account
            .users
            .values()
            .filter_map(|user| {
                let id = user.crm_user_id.as_deref()?.parse().ok()?;
                let (given_name, family_name) = user
                    .name
                    .split_once(' ')
                    .unwrap_or((user.name.as_str(), ""));
                Some(KeapUser {
                    id,
                    given_name: given_name.to_string(),
                    family_name: family_name.to_string(),
                    email: user.email.to_string(),
                })
            })
            .collect::<Vec<_>>();
        keap.add_app(&app.api_key, &users, &[]);
    }
    Ok(())
}

/// Creates in the Keap app of `sequence`'s account the custom fields the sequence reads or
/// writes ([`Sequence::custom_fields`]) that the app lacks; the labels created.
///
/// An account moved off the sandbox CRM (`stack/src/stack_config.rs`) had every custom
/// field there: the sandbox CRM (`shared/src/adapters/embedded/crm.rs`) stores any field
/// it is given. Keap writes only the fields its app has, as the Keap stand-in does, so a
/// sequence saving answers would fail on the stack where it runs locally. Creating its
/// fields when the sequence is applied is what the person connecting Keap does first;
/// an account on a CRM of its own is left as it is (nothing created).
pub fn create_sequence_fields(
    keap: &KeapMock,
    apps: &[KeapApp],
    sequence: &Sequence,
) -> Result<Vec<String>, String> {
    let Some(app) = apps
        .iter()
        .find(|a| a.account == sequence.account().as_str())
    else {
        return Ok(Vec::new());
    };
    let fields = sequence.custom_fields();
    let labels: Vec<&str> = fields.iter().map(|f| f.name()).collect();
    keap.create_custom_fields(&app.api_key, &labels)
        .map_err(|e| format!("{}: custom fields {labels:?}: {e}", sequence.origin()))
}

/// The accounts the sandbox API plays the other parties for: their Twilio credentials,
/// numbers and Keap app. Only stand-in accounts (a sandbox CRM moved to the Keap stand-in,
/// no event webhook), as in local mode: texts to any other account are not played.
pub fn sandbox_accounts(
    config: &LocalConfig,
    apps: &[KeapApp],
) -> BTreeMap<AccountId, SandboxAccount> {
    sandbox_accounts_of(&config.accounts, apps)
}

fn sandbox_accounts_of(
    accounts: &[Account],
    apps: &[KeapApp],
) -> BTreeMap<AccountId, SandboxAccount> {
    accounts
        .iter()
        .filter(|account| account.event_webhook.is_none())
        .filter_map(|account| {
            let app = apps.iter().find(|a| a.account == account.id.as_str())?;
            // Texts in are Twilio's: an account without it has none to play.
            let played = SandboxAccount {
                twilio: account.twilio.clone()?,
                numbers: account.numbers.iter().map(|n| n.number.clone()).collect(),
                keap_api_key: app.api_key.clone(),
            };
            Some((account.id.clone(), played))
        })
        .collect()
}

/// Starts Instasent for the accounts pointed at it, each token posting its reports to the
/// account's callback URL on the HTTP API's public origin (carried to `api`'s local one).
pub async fn start_instasent(
    seat: InstasentSeat,
    tokens: &[InstasentToken],
    api: &Endpoint,
) -> Result<InstasentStandIn, InstasentStandInError> {
    let accounts = tokens
        .iter()
        .map(|t| InstasentAccount {
            credentials: InstasentCredentials {
                api_token: Secret::new(t.api_token.clone()),
                base_url: Some(seat.base_url.clone()),
                callback_secret: Some(Secret::new(t.callback_secret.clone())),
            },
            callback_url: format!(
                "{}/instasent/callback/{}/{}",
                api.public, t.account, t.callback_secret
            ),
        })
        .collect();
    let route = CallbackRoute::new(&api.public, &api.local);
    seat.start(accounts, Some(route)).await
}

/// The stand-ins, shared with the sandbox API.
pub struct StandIns {
    pub twilio: Arc<TwilioStandIn>,
    pub instasent: Arc<InstasentStandIn>,
    pub keap: Arc<KeapMock>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sequence of `account` that saves to `_Rating` and merges `_Tier`.
    fn sequence(account: &str) -> Sequence {
        let yaml = format!(
            "account: {account}
name: survey
start: crm
sender: '+19523142318'
collect_email_first: false
steps:
  - name: ask
    message: Hi ~Contact._Tier~! Rate us?
    save_to: Contact._Rating
    next: finish
"
        );
        Sequence::load("survey.yaml", &yaml).expect("valid")
    }

    #[test]
    fn the_sandbox_plays_stand_in_accounts_only() {
        let acme = smsflow_shared::config::LocalConfig::parse(
            std::path::Path::new("example.toml"),
            include_str!("../../smsflow.example.toml"),
        )
        .expect("the example parses")
        .accounts
        .remove(0);
        let mut with_events = acme.clone();
        with_events.id = "events".parse().expect("id");
        with_events.event_webhook = Some(smsflow_shared::domain::EventWebhook {
            url: "https://events.example".into(),
            signing_secret: smsflow_shared::domain::Secret::new("secret"),
        });
        let mut real = acme.clone();
        real.id = "real".parse().expect("id");
        let app = |account: &str| KeapApp {
            account: account.into(),
            api_key: format!("stack-keap-key-{account}"),
        };
        let config_accounts = vec![acme, with_events, real];
        let played = sandbox_accounts_of(&config_accounts, &[app("acme"), app("events")]);
        let ids: Vec<&str> = played.keys().map(AccountId::as_str).collect();
        assert_eq!(ids, ["acme"]);
    }

    #[tokio::test]
    async fn only_moved_accounts_get_their_sequences_fields() {
        let keap = KeapMock::start().await;
        keap.add_app("stack-keap-key-acme", &[], &["Tier"]);
        let apps = [KeapApp {
            account: "acme".into(),
            api_key: "stack-keap-key-acme".into(),
        }];
        // (the sequence's account, the fields created)
        let cases: [(&str, &[&str]); 3] = [("acme", &["Rating"]), ("acme", &[]), ("beta", &[])];
        for (account, expected) in cases {
            let created = create_sequence_fields(&keap, &apps, &sequence(account));
            assert_eq!(
                created,
                Ok(expected.iter().map(|l| l.to_string()).collect())
            );
        }
    }
}
