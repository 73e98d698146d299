//! Phone numbers in E.164, normalised with an account's default country.
//!
//! Everything smsflow stores is `+<country code><national number>`; anything that
//! cannot be a dialable phone number is rejected here, once, at the edge.

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use super::ids::validated_text;
use phonenumber::Mode;
use serde::{Deserialize, Serialize};

/// Why a string is not a phone number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("'{input}' is not a phone number: {reason}")]
    Unparseable { input: String, reason: String },
    #[error("'{input}' is not a valid number for its country ({country})")]
    Invalid { input: String, country: String },
    #[error("'{0}' is not an ISO 3166-1 alpha-2 country code known to the numbering plan")]
    UnknownCountry(String),
}

/// An ISO 3166-1 alpha-2 region used to read national-format numbers ("US", "GB", "ES").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(phonenumber::country::Id);

impl Country {
    pub fn code(&self) -> &str {
        self.0.as_ref()
    }
}

impl FromStr for Country {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        phonenumber::country::Id::from_str(&upper)
            .map(Country)
            .map_err(|_| PhoneError::UnknownCountry(s.to_string()))
    }
}

impl TryFrom<String> for Country {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.code().to_string()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A valid phone number, always held as E.164 (`+15551234567`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses `input` as a phone number; national formats are read in `default_country`.
    /// Input that already carries `+<cc>` (or `00<cc>`) keeps its own country.
    pub fn parse(input: &str, default_country: Country) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // `00` is the international prefix in most of the world; the parser only knows `+`.
        let normalised_prefix = match trimmed.strip_prefix("00") {
            Some(rest) if default_country.code() != "US" => format!("+{rest}"),
            _ => trimmed.to_string(),
        };
        let parsed =
            phonenumber::parse(Some(default_country.0), &normalised_prefix).map_err(|e| {
                PhoneError::Unparseable {
                    input: input.to_string(),
                    reason: e.to_string(),
                }
            })?;
        if !phonenumber::is_valid(&parsed) {
            let country = parsed
                .country()
                .id()
                .map(|id| id.as_ref().to_string())
                .unwrap_or_else(|| format!("+{}", parsed.code().value()));
            return Err(PhoneError::Invalid {
                input: input.to_string(),
                country,
            });
        }
        Ok(PhoneNumber(parsed.format().mode(Mode::E164).to_string()))
    }

    /// Parses a number that must already be E.164 (what Twilio sends us).
    pub fn parse_e164(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if !trimmed.starts_with('+') {
            return Err(PhoneError::Unparseable {
                input: input.to_string(),
                reason: "expected E.164 with a leading '+'".into(),
            });
        }
        // The default country is irrelevant when the number carries its own code.
        Self::parse(trimmed, *DEFAULT_FOR_E164)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without the leading `+` (goal names such as `Inbound19523142318`).
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }

    /// A masked form for logs: country code and the last two digits only.
    pub fn masked(&self) -> String {
        mask_digits(self.digits())
    }

    /// Loads the numbering-plan database; call during cold start so the first request
    /// does not pay for it.
    pub fn warm_up() {
        LazyLock::force(&DEFAULT_FOR_E164);
        let _ = phonenumber::parse(None, "+14155550100");
    }
}

/// `+` and `digits` masked as [`PhoneNumber::masked`] shows them: the first two digits and
/// the last two, the rest starred.
fn mask_digits(digits: &str) -> String {
    let keep_tail = 2.min(digits.len());
    let head: String = digits.chars().take(2).collect();
    format!(
        "+{head}{}{}",
        "*".repeat(digits.len().saturating_sub(2 + keep_tail)),
        &digits[digits.len() - keep_tail..]
    )
}

/// Fewest and most digits of an E.164 number (ITU-T E.164 allows up to 15).
const E164_DIGITS: std::ops::RangeInclusive<usize> = 7..=15;

/// `text` with every E.164-looking number in it (`+` and 7 to 15 digits) masked as
/// [`PhoneNumber::masked`] masks one: for texts that carry numbers inside them, such as
/// store keys and the errors that quote them, so none reaches a log line in full.
pub fn mask_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(plus) = rest.find('+') {
        out.push_str(&rest[..plus]);
        let after = &rest[plus + 1..];
        let run = after
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(after.len());
        if E164_DIGITS.contains(&run) {
            out.push_str(&mask_digits(&after[..run]));
        } else {
            out.push('+');
            out.push_str(&after[..run]);
        }
        rest = &after[run..];
    }
    out.push_str(rest);
    out
}

static DEFAULT_FOR_E164: LazyLock<Country> =
    LazyLock::new(|| Country(phonenumber::country::Id::US));

validated_text!(PhoneNumber, PhoneError, PhoneNumber::parse_e164);

#[cfg(test)]
mod tests {
    use super::*;

    fn country(code: &str) -> Country {
        code.parse().expect("known country")
    }

    #[test]
    fn normalises_to_e164_with_default_country() {
        let cases = [
            ("US", "(415) 555-2671", "+14155552671"),
            ("US", "415.555.2671", "+14155552671"),
            ("US", "+1 415 555 2671", "+14155552671"),
            ("US", "1-415-555-2671", "+14155552671"),
            ("GB", "020 7946 0958", "+442079460958"),
            ("GB", "07400 123456", "+447400123456"),
            ("GB", "+1 415 555 2671", "+14155552671"),
            ("ES", "612 34 56 78", "+34612345678"),
            ("ES", "0034 612 345 678", "+34612345678"),
            ("DE", "030 901820", "+4930901820"),
            ("AU", "0412 345 678", "+61412345678"),
            ("US", "  +14155552671  ", "+14155552671"),
        ];
        for (default, input, expected) in cases {
            let parsed = PhoneNumber::parse(input, country(default))
                .unwrap_or_else(|e| panic!("{input} in {default}: {e}"));
            assert_eq!(parsed.as_str(), expected, "{input} in {default}");
        }
    }

    #[test]
    fn rejects_what_cannot_be_a_phone_number() {
        let cases = [
            ("US", "", "empty"),
            ("US", "   ", "empty"),
            ("US", "hello", "not a phone number"),
            ("US", "12", "not"),
            ("US", "+1 555", "not"),
            ("US", "+1 123 456 7890", "not a valid number"),
            ("GB", "+44 1", "not"),
            ("US", "mary@example.com", "not a phone number"),
        ];
        for (default, input, expected_fragment) in cases {
            let err = PhoneNumber::parse(input, country(default))
                .expect_err(&format!("{input:?} must be rejected"));
            assert!(
                err.to_string().contains(expected_fragment),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn e164_parse_requires_plus() {
        assert!(PhoneNumber::parse_e164("4155552671").is_err());
        assert_eq!(
            PhoneNumber::parse_e164("+447400123456").map(|p| p.to_string()),
            Ok("+447400123456".to_string())
        );
    }

    #[test]
    fn country_codes_are_validated() {
        assert_eq!(country("us").code(), "US");
        assert!(matches!(
            "XX".parse::<Country>(),
            Err(PhoneError::UnknownCountry(_))
        ));
    }

    #[test]
    fn masks_for_logs_and_exposes_digits() {
        let p = PhoneNumber::parse_e164("+19523142318").expect("valid");
        assert_eq!(p.digits(), "19523142318");
        assert_eq!(p.masked(), "+19*******18");
    }

    #[test]
    fn masks_every_number_in_a_text() {
        let key = "message acme\0+14155550103\0MSG1 (to +447400123456)";
        assert_eq!(
            mask_numbers(key),
            "message acme\0+14*******03\0MSG1 (to +44********56)"
        );
        // Short runs and a lone `+` are not numbers; the text is otherwise unchanged.
        assert_eq!(mask_numbers("a+b +123 c+"), "a+b +123 c+");
        let p = PhoneNumber::parse_e164("+19523142318").expect("valid");
        assert_eq!(mask_numbers(p.as_str()), p.masked());
    }

    #[test]
    fn serde_round_trip_validates() {
        let p: PhoneNumber = serde_json::from_str("\"+14155552671\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("ser"), "\"+14155552671\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"nope\"").is_err());
    }
}
