//! What the numbers commands that act in Twilio share: the flags naming Twilio's API and
//! this deployment's inbound webhook URL, the target's store, an account's Twilio
//! credentials, and Twilio's errors as CLI errors with a hint.

use std::sync::Arc;

use clap::Args;
use smsflow_shared::adapters::twilio::numbers::{NumbersError, TwilioNumbers};
use smsflow_shared::domain::{Account, AccountId, PhoneNumber, TwilioCredentials};
use smsflow_shared::ports::Store;
use smsflow_shared::routes::INBOUND_PATH;

use crate::accounts::stored_account;
use crate::hints;
use crate::output::{CliError, CliResult, ErrorKind};
use crate::target::{Location, load};

/// Where Twilio's REST API is.
#[derive(Args, Debug, Clone)]
pub struct TwilioFlags {
    /// Twilio's REST API origin (default https://api.twilio.com): a Twilio edge such as
    /// https://api.dublin.ie1.twilio.com, or a mock in tests.
    #[arg(long, value_name = "URL", env = "SMSFLOW_TWILIO_API_BASE_URL")]
    pub twilio_api_url: Option<String>,
}

/// Where this deployment receives texts.
#[derive(Args, Debug, Clone)]
pub struct WebhookFlags {
    /// The inbound webhook URL numbers must send their texts to (default: on AWS the
    /// stack's TwilioInboundWebhookUrl output or SMSFLOW_TWILIO_INBOUND_URL; locally the
    /// configuration's server.public_base_url followed by /twilio/inbound).
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
}

/// The target's store and Twilio's API, opened once per command.
pub struct Session {
    pub store: Arc<dyn Store>,
    pub twilio: TwilioNumbers,
    inbound_url: CliResult<String>,
}

impl Session {
    /// Opens the store of `at` and reads this deployment's inbound URL (needed only by the
    /// commands that set or compare it: a missing one is reported when they ask).
    pub async fn open(
        at: &Location,
        twilio: &TwilioFlags,
        webhook: &WebhookFlags,
    ) -> CliResult<Self> {
        let (store, deployed_url) = match at.target.deployment().await? {
            Some(aws) => (aws.store().await?, aws.twilio_inbound_url()),
            None => {
                let config = load(&at.config)?;
                let url = format!("{}{INBOUND_PATH}", config.server.public_base_url);
                (at.local_store()?, Ok(url))
            }
        };
        let inbound_url = match &webhook.webhook_url {
            Some(url) => checked_url(url),
            None => deployed_url.map_err(|e| {
                let hint = match &e.hint {
                    Some(hint) => format!("{hint}; or pass --webhook-url URL"),
                    None => "pass --webhook-url URL (this deployment's /twilio/inbound URL)".into(),
                };
                e.with_hint(hint)
            }),
        };
        let twilio = TwilioNumbers::connect(twilio.twilio_api_url.as_deref())
            .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
        Ok(Session {
            store,
            twilio,
            inbound_url,
        })
    }

    /// This deployment's inbound webhook URL.
    pub fn inbound_url(&self) -> CliResult<&str> {
        self.inbound_url.as_deref().map_err(Clone::clone)
    }

    /// The stored account `id`.
    pub async fn account(&self, id: &AccountId) -> CliResult<Account> {
        stored_account(&*self.store, id).await
    }
}

fn checked_url(url: &str) -> CliResult<String> {
    let url = url.trim();
    if url.starts_with("https://") || url.starts_with("http://") {
        Ok(url.to_string())
    } else {
        Err(CliError::invalid(format!(
            "--webhook-url '{url}' must start with https:// (or http://)"
        )))
    }
}

/// The account's Twilio credentials; an account on Instasent alone has none.
pub fn credentials(account: &Account) -> CliResult<&TwilioCredentials> {
    account.twilio.as_ref().ok_or_else(|| {
        CliError::invalid(format!(
            "account {} has no Twilio credentials (it sends through Instasent); Twilio numbers need [accounts.twilio]",
            account.id
        ))
    })
}

/// Refuses a number another account has: storing it would fail after Twilio changed.
pub async fn refuse_if_taken(store: &dyn Store, id: &AccountId, number: &PhoneNumber) -> CliResult {
    match store.account_by_number(number).await? {
        Some(owner) if &owner.id != id => Err(CliError::invalid(format!(
            "number {number} belongs to account {}",
            owner.id
        ))
        .with_hint(format!(
            "remove it there first: {}",
            hints::command(&[
                "numbers",
                "remove",
                "--account",
                owner.id.as_str(),
                "--number",
                number.as_str()
            ])
        ))),
        _ => Ok(()),
    }
}

/// A number the account's Twilio account does not own.
pub fn not_in_twilio(number: &PhoneNumber, credentials: &TwilioCredentials) -> CliError {
    CliError::not_found(format!(
        "number {number} is not in Twilio account {}",
        credentials.account_sid
    ))
    .with_hint(
        "check the number and the account's Twilio account SID; `smsflow numbers search` and \
         `smsflow numbers buy` find and buy one",
    )
}

/// Twilio's error as the CLI reports it: its code, message and link, the exit code of its
/// kind, and a hint for the codes operators meet when buying and wiring numbers (each from
/// Twilio's error pages, https://www.twilio.com/docs/errors/CODE).
pub fn twilio_error(e: NumbersError) -> CliError {
    let (kind, hint) = match &e {
        NumbersError::Twilio {
            http_status, code, ..
        } => (kind_of(*http_status, *code), code.and_then(hint_for)),
        NumbersError::Unreachable(_) => (
            ErrorKind::Backend,
            Some("check the connection (and --twilio-api-url), then run the command again"),
        ),
        NumbersError::NoAnswer(_) => (
            ErrorKind::Backend,
            Some(
                "Twilio may have done it: look before running the command again (`smsflow numbers check`)",
            ),
        ),
        NumbersError::Unreadable(_) => (
            ErrorKind::Backend,
            Some(
                "is --twilio-api-url Twilio's API? Look in Twilio's console before running the command again",
            ),
        ),
        NumbersError::BadPathValue(_) => (
            ErrorKind::InvalidInput,
            Some("check the account's twilio.account_sid (`smsflow accounts show`)"),
        ),
    };
    let error = CliError::new(kind, e.to_string());
    match hint {
        Some(hint) => error.with_hint(hint),
        None => error,
    }
}

fn kind_of(http_status: u16, code: Option<u32>) -> ErrorKind {
    match (http_status, code) {
        (404, _) | (_, Some(21422 | 21452)) => ErrorKind::NotFound,
        (429, _) | (500.., _) => ErrorKind::Backend,
        _ => ErrorKind::InvalidInput,
    }
}

/// What to do about the Twilio errors of buying and wiring numbers.
fn hint_for(code: u32) -> Option<&'static str> {
    Some(match code {
        20003 => {
            "Twilio refused the account's credentials: check its twilio.account_sid, \
             auth_token or API key, then `smsflow accounts push`"
        }
        20404 => {
            "Twilio has no such resource in this account: check the number and the account SID"
        }
        21421 => {
            "give the number in E.164 form (+ country code and digits), as `smsflow numbers search` lists it"
        }
        21422 => {
            "the number is no longer for sale (or reserved): pick another from `smsflow numbers search`"
        }
        21452 => {
            "Twilio has no number left in that area code: try another, or `smsflow numbers search --contains`"
        }
        21613 | 21631 => {
            "the number's country requires an address on file: create one in Twilio's console and \
             pass --address-sid AD…, or pick a number whose ADDRESS column says none"
        }
        21649 => {
            "the number's country requires a regulatory bundle: create one in Twilio's console \
             (Regulatory Compliance) and pass --bundle-sid BU…"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilio_errors_keep_their_code_and_get_a_kind_and_hint() {
        let twilio = |http_status, code| NumbersError::Twilio {
            http_status,
            code,
            message: "m".into(),
            more_info: code.map(|c| format!("https://www.twilio.com/docs/errors/{c}")),
        };
        let cases = [
            (
                twilio(401, Some(20003)),
                ErrorKind::InvalidInput,
                Some("credentials"),
            ),
            (
                twilio(400, Some(21422)),
                ErrorKind::NotFound,
                Some("no longer for sale"),
            ),
            (
                twilio(400, Some(21452)),
                ErrorKind::NotFound,
                Some("area code"),
            ),
            (
                twilio(400, Some(21631)),
                ErrorKind::InvalidInput,
                Some("--address-sid"),
            ),
            (
                twilio(400, Some(21649)),
                ErrorKind::InvalidInput,
                Some("--bundle-sid"),
            ),
            (twilio(400, Some(21999)), ErrorKind::InvalidInput, None),
            (twilio(503, None), ErrorKind::Backend, None),
            (
                NumbersError::Unreachable("x".into()),
                ErrorKind::Backend,
                Some("connection"),
            ),
        ];
        for (error, kind, hint) in cases {
            let text = error.to_string();
            let cli = twilio_error(error);
            assert_eq!(cli.kind, kind, "{text}");
            assert_eq!(cli.message, text);
            match hint {
                Some(hint) => assert!(cli.hint.unwrap_or_default().contains(hint), "{text}"),
                None => assert_eq!(cli.hint, None, "{text}"),
            }
        }
    }

    #[test]
    fn a_webhook_url_must_be_http() {
        assert!(checked_url(" https://sms.example.com/twilio/inbound ").is_ok());
        assert!(checked_url("sms.example.com/twilio/inbound").is_err());
    }
}
