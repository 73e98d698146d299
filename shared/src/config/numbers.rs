//! An account's `[[accounts.numbers]]`: the Twilio numbers it sends from and receives on.

use serde::Deserialize;

use super::validator::{ConfigError, Validator};
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
}

impl Validator {
    /// At least one number; each read in the account's default country.
    pub(super) fn numbers(
        &self,
        at: &str,
        raw: Vec<RawNumber>,
        default_country: Country,
    ) -> Result<Vec<InboundNumber>, ConfigError> {
        let mut numbers = Vec::with_capacity(raw.len());
        for (j, n) in raw.into_iter().enumerate() {
            let nat = format!("{at}.numbers[{j}]");
            if let Some(rate) = n.segments_per_second
                && !(rate > 0.0 && rate.is_finite())
            {
                return Err(self.err(
                    format!("{nat}.segments_per_second"),
                    "must be a positive number",
                ));
            }
            numbers.push(InboundNumber {
                number: self.phone(format!("{nat}.number"), &n.number, default_country)?,
                kind: n.kind,
                backup_email: self.email(&format!("{nat}.backup_email"), &n.backup_email)?,
                segments_per_second: n.segments_per_second,
                keyword_handling: n.twilio_keywords,
            });
        }
        if numbers.is_empty() {
            return Err(self.err(
                format!("{at}.numbers"),
                "an account needs at least one Twilio number",
            ));
        }
        Ok(numbers)
    }
}
