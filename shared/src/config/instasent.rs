//! An account's `provider` and `[accounts.instasent]` (API token, optional base URL and
//! callback secret), and the checks that keep Twilio-only features off Instasent senders:
//! refused here, when the file is read (`serve`, `check-config`, `accounts push`), never at
//! send time.

use serde::Deserialize;

use super::twilio::RawTwilio;
use super::validator::{ConfigError, Validator};
use crate::domain::keywords::TwilioKeywordHandling;
use crate::domain::{Account, InstasentCredentials, Secret, SmsProviderKind, TwilioCredentials};

/// Shortest callback secret accepted: it is all that authenticates Instasent's reports.
const MIN_CALLBACK_SECRET_CHARS: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInstasent {
    api_token: String,
    base_url: Option<String>,
    callback_secret: Option<String>,
}

/// Twilio's test range (`+1 500 555 …`): its magic numbers mean something only to Twilio.
fn is_twilio_test_number(number: &str) -> bool {
    number.starts_with("+1500555")
}

/// An account's provider and the credentials its sections give.
pub(super) struct Providers {
    pub(super) provider: SmsProviderKind,
    pub(super) twilio: Option<TwilioCredentials>,
    pub(super) instasent: Option<InstasentCredentials>,
}

impl Validator {
    /// The account's `provider`, `[accounts.twilio]` and `[accounts.instasent]`, each
    /// checked (whether they fit its senders is [`Validator::provider_fit`]'s part).
    pub(super) fn providers(
        &self,
        at: &str,
        provider: Option<String>,
        twilio: Option<RawTwilio>,
        instasent: Option<RawInstasent>,
    ) -> Option<Providers> {
        let provider = self.keep(self.provider(format!("{at}.provider"), provider.as_deref()));
        let twilio = match twilio {
            Some(raw) => self.twilio(&format!("{at}.twilio"), raw).map(Some),
            None => Some(None),
        };
        let instasent = match instasent {
            Some(raw) => self.instasent(&format!("{at}.instasent"), raw).map(Some),
            None => Some(None),
        };
        Some(Providers {
            provider: provider?.unwrap_or_default(),
            twilio: twilio?,
            instasent: instasent?,
        })
    }

    /// A `provider = "…"` value (absent: Twilio).
    pub(super) fn provider(
        &self,
        field: String,
        raw: Option<&str>,
    ) -> Result<Option<SmsProviderKind>, ConfigError> {
        raw.map(|value| {
            SmsProviderKind::parse(value).ok_or_else(|| {
                self.err(
                    field,
                    format!("'{value}' is not a provider: use twilio or instasent"),
                )
            })
        })
        .transpose()
    }

    pub(super) fn instasent(&self, at: &str, raw: RawInstasent) -> Option<InstasentCredentials> {
        let api_token = self.keep(self.non_empty(&format!("{at}.api_token"), raw.api_token));
        let base_url = self.keep(
            raw.base_url
                .map(|url| self.http_url(&format!("{at}.base_url"), url))
                .transpose(),
        );
        let callback_secret = self.keep(
            raw.callback_secret
                .map(|s| self.callback_secret(&format!("{at}.callback_secret"), s))
                .transpose(),
        );
        Some(InstasentCredentials {
            api_token: Secret::new(api_token?),
            base_url: base_url?,
            callback_secret: callback_secret?,
        })
    }

    /// It goes into a URL path: URL-safe characters only, and long enough not to guess.
    fn callback_secret(&self, field: &str, secret: String) -> Result<Secret, ConfigError> {
        let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if secret.chars().count() < MIN_CALLBACK_SECRET_CHARS || !secret.chars().all(url_safe) {
            return Err(self.err(
                field,
                format!(
                    "use at least {MIN_CALLBACK_SECRET_CHARS} letters, digits, '-' or '_' \
                     (generate one with `smsflow keygen`), or leave it out to have one generated"
                ),
            ));
        }
        Ok(Secret::new(secret))
    }

    /// Every provider the account uses has its credentials, and no Twilio-only feature is
    /// set on what sends through Instasent. Each problem is recorded; `None` if any.
    pub(super) fn provider_fit(&self, at: &str, account: &Account) -> Option<()> {
        let before = self.problem_count();
        let uses = |kind| {
            account.provider == kind || account.numbers.iter().any(|n| n.provider == Some(kind))
        };
        if uses(SmsProviderKind::Twilio) && account.twilio.is_none() {
            self.report(self.err(
                format!("{at}.twilio"),
                "missing: the account or one of its numbers sends through Twilio",
            ));
        }
        if uses(SmsProviderKind::Instasent) && account.instasent.is_none() {
            self.report(self.err(
                format!("{at}.instasent"),
                "missing: the account or one of its numbers sends through Instasent",
            ));
        }
        self.twilio_only_features(at, account);
        (self.problem_count() == before).then_some(())
    }

    fn twilio_only_features(&self, at: &str, account: &Account) {
        let on_instasent = account.provider == SmsProviderKind::Instasent;
        let services = account.twilio.as_ref().map(|t| &t.messaging_service_sids);
        if on_instasent && services.is_some_and(|s| !s.is_empty()) {
            self.report(self.err(
                format!("{at}.twilio.messaging_service_sids"),
                "Messaging Services are Twilio's: this account sends through Instasent \
                 (remove them, or set provider = \"twilio\")",
            ));
        }
        for (j, number) in account.numbers.iter().enumerate() {
            if account.provider_of(Some(&number.number)) != SmsProviderKind::Instasent {
                continue;
            }
            if number.keyword_handling == TwilioKeywordHandling::Advanced {
                self.report(self.err(
                    format!("{at}.numbers[{j}].twilio_keywords"),
                    "Advanced Opt-Out is Twilio's: this number sends through Instasent",
                ));
            }
            if is_twilio_test_number(number.number.as_str()) {
                self.report(self.err(
                    format!("{at}.numbers[{j}].number"),
                    format!(
                        "{} is one of Twilio's test numbers: this number sends through Instasent",
                        number.number
                    ),
                ));
            }
        }
    }
}
