//! An account's `[[accounts.numbers]]`: the Twilio numbers it sends from and receives on.

use serde::Deserialize;

use super::validator::Validator;
use crate::domain::keywords::TwilioKeywordHandling;
use crate::domain::{Country, InboundNumber, SenderKind};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNumber {
    number: String,
    kind: SenderKind,
    backup_email: String,
    segments_per_second: Option<f64>,
    #[serde(default)]
    twilio_keywords: TwilioKeywordHandling,
    /// `twilio` or `instasent`, when not the account's.
    provider: Option<String>,
}

impl Validator {
    /// At least one number; each read in the account's default country, each field
    /// checked.
    pub(super) fn numbers(
        &self,
        at: &str,
        raw: Vec<RawNumber>,
        default_country: Country,
    ) -> Option<Vec<InboundNumber>> {
        if raw.is_empty() {
            self.report(self.err(
                format!("{at}.numbers"),
                "an account needs at least one number to text from (on Twilio or Instasent)",
            ));
            return None;
        }
        let numbers: Vec<Option<InboundNumber>> = raw
            .into_iter()
            .enumerate()
            .map(|(j, n)| self.number(&format!("{at}.numbers[{j}]"), n, default_country))
            .collect();
        numbers.into_iter().collect()
    }

    fn number(&self, at: &str, n: RawNumber, default_country: Country) -> Option<InboundNumber> {
        let rate_ok = match n.segments_per_second {
            Some(rate) if !(rate > 0.0 && rate.is_finite()) => self.keep(Err(self.err(
                format!("{at}.segments_per_second"),
                "must be a positive number",
            ))),
            _ => Some(()),
        };
        let number = self.keep(self.phone(format!("{at}.number"), &n.number, default_country));
        let backup_email = self.keep(self.email(&format!("{at}.backup_email"), &n.backup_email));
        let provider = self.keep(self.provider(format!("{at}.provider"), n.provider.as_deref()));
        rate_ok?;
        Some(InboundNumber {
            number: number?,
            kind: n.kind,
            backup_email: backup_email?,
            segments_per_second: n.segments_per_second,
            keyword_handling: n.twilio_keywords,
            provider: provider?,
        })
    }
}
