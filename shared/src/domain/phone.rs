//! Phone numbers in E.164, normalised with an account's default country.
//!
//! Everything smsflow stores is `+<country code><national number>`; anything that
//! cannot be a dialable phone number is rejected here, once, at the edge.

use std::fmt;
use std::str::FromStr;

use super::ids::validated_text;
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, Region};
use serde::{Deserialize, Deserializer, Serialize};

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
///
/// Like [`PhoneNumber`], parsing checks the code against the numbering plan and
/// deserialising (a stored account) trusts what was checked when it was first parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct Country(Region);

impl Country {
    pub fn code(&self) -> String {
        self.0.to_string()
    }

    /// A region code already checked against the plan, without loading the plan.
    fn trusted(code: &str) -> Result<Self, PhoneError> {
        let upper = code.trim().to_ascii_uppercase();
        match Region::from_str(&upper) {
            // `001` is the numbering plan's "non-geographic" entry, not a country.
            Ok(region) if region != Region::World => Ok(Country(region)),
            _ => Err(PhoneError::UnknownCountry(code.to_string())),
        }
    }
}

impl FromStr for Country {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let country = Self::trusted(s)?;
        // The region enum lists every ISO code; only some have a numbering plan.
        match PHONE_NUMBER_UTIL.get_country_code_for_region(country.0) {
            Some(_) => Ok(country),
            None => Err(PhoneError::UnknownCountry(s.to_string())),
        }
    }
}

impl TryFrom<String> for Country {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl<'de> Deserialize<'de> for Country {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::trusted(&text).map_err(serde::de::Error::custom)
    }
}

impl From<Country> for String {
    fn from(c: Country) -> String {
        c.code()
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A valid phone number, always held as E.164 (`+15551234567`).
///
/// Numbers enter through [`PhoneNumber::parse`] / [`PhoneNumber::parse_e164`], which check
/// them against the numbering plan, or through [`PhoneNumber::trusted_e164`] where the plan
/// has nothing to add. Deserialising (jobs, stored records) takes the trusted path: every
/// number smsflow serialises was parsed fully when it first came in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses `input` as a phone number; national formats are read in `default_country`.
    /// Input that already carries `+<cc>` (or the country's international prefix, such as
    /// `00` in Spain) keeps its own country.
    pub fn parse(input: &str, default_country: Country) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        let parsed = rlibphonenumber::PhoneNumber::parse(trimmed, Some(default_country.0))
            .map_err(|e| PhoneError::Unparseable {
                input: input.to_string(),
                reason: e.to_string(),
            })?;
        if !parsed.is_valid() {
            let country = parsed
                .get_region_code()
                .map(|region| region.to_string())
                .unwrap_or_else(|| format!("+{}", parsed.country_code));
            return Err(PhoneError::Invalid {
                input: input.to_string(),
                country,
            });
        }
        Ok(PhoneNumber(
            parsed.format_as(PhoneNumberFormat::E164).into_owned(),
        ))
    }

    /// Parses a number that must already be E.164, checking it against the numbering plan
    /// (a number typed by a person or taken from a CRM).
    pub fn parse_e164(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if !trimmed.starts_with('+') {
            return Err(not_e164(input));
        }
        // The default country is irrelevant when the number carries its own code.
        Self::parse(trimmed, Country(Region::US))
    }

    /// An E.164 number whose validity is already vouched for: the `To`/`From` a carrier
    /// routed (Twilio posts E.164), or a number smsflow stored after parsing it fully.
    /// Checks the shape only (`+`, a first digit that is not `0`, 7 to 15 digits), so the
    /// webhooks' hot path never loads the numbering plan (BENCHMARKS.md, cold start).
    pub fn trusted_e164(input: &str) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        let digits = trimmed.strip_prefix('+').ok_or_else(|| not_e164(input))?;
        let shaped = E164_DIGITS.contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if !shaped {
            return Err(not_e164(input));
        }
        Ok(PhoneNumber(trimmed.to_string()))
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

    /// Starts loading the numbering plan on its own thread, so a function whose events parse
    /// numbers fully has it ready by its first event (BENCHMARKS.md, "Phone numbers").
    pub fn load_numbering_plan_in_background() {
        std::thread::spawn(|| Self::parse_e164("+14155550100"));
    }
}

impl<'de> Deserialize<'de> for PhoneNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::trusted_e164(&text).map_err(serde::de::Error::custom)
    }
}

fn not_e164(input: &str) -> PhoneError {
    PhoneError::Unparseable {
        input: input.to_string(),
        reason: "expected E.164: '+' and 7 to 15 digits".into(),
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
    fn trusted_e164_checks_the_shape_only() {
        let cases = [
            ("+14155552671", Some("+14155552671")),
            (" +447400123456 ", Some("+447400123456")),
            // Not in the numbering plan (no area code starts with 1), but E.164-shaped: a
            // carrier that routed it knows better than a stale plan.
            ("+11234567890", Some("+11234567890")),
            ("14155552671", None),
            ("+04155552671", None),
            ("+123456", None),
            ("+1234567890123456", None),
            ("+1415555267a", None),
            ("+", None),
        ];
        for (input, expected) in cases {
            let got = PhoneNumber::trusted_e164(input).ok();
            assert_eq!(got.as_ref().map(PhoneNumber::as_str), expected, "{input:?}");
        }
        assert!(PhoneNumber::parse_e164("+11234567890").is_err());
    }

    #[test]
    fn deserialising_trusts_what_was_stored() {
        let stored: PhoneNumber = serde_json::from_str("\"+11234567890\"").expect("shaped");
        assert_eq!(stored.as_str(), "+11234567890");
        let country: Country = serde_json::from_str("\"es\"").expect("stored country");
        assert_eq!(country.code(), "ES");
    }

    #[test]
    fn serde_round_trip_validates() {
        let p: PhoneNumber = serde_json::from_str("\"+14155552671\"").expect("valid");
        assert_eq!(serde_json::to_string(&p).expect("ser"), "\"+14155552671\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"nope\"").is_err());
    }
}
