//! The sender of a send request, as a CRM writes it: one of the account's numbers, one of
//! its Messaging Services, or an alphanumeric sender id (Twilio's rule: up to 11 characters,
//! at least one letter). Parsing checks the sender against the account, so a `SenderSpec` is
//! always one the account may send from; [`SenderSpec::pacing`] says how fast it may send
//! (Twilio's default throughput for its kind of sender, in segments per second; see
//! "Pacing" in `docs/glossary.md`).

use std::fmt;

use super::account::{Account, SenderKind};
use super::phone::{PhoneError, PhoneNumber};
use super::provider::SmsProviderKind;

/// Longest alphanumeric sender id ("limited to 11 characters because of the SMS protocol").
pub const MAX_ALPHANUMERIC_LENGTH: usize = 11;

/// An alphanumeric sender id: 1 to 11 ASCII letters, digits and spaces, at least one letter.
/// (Twilio's AlphaSender API also takes `-+_&`, but its glossary, which defines what
/// carriers accept, does not: we keep to the narrower rule.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AlphanumericSenderId(String);

/// Why a string is not an alphanumeric sender id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlphanumericProblem {
    #[error("it is {length} characters long; the limit is {MAX_ALPHANUMERIC_LENGTH}")]
    TooLong { length: usize },
    #[error("'{0}' is not allowed (use ASCII letters, digits and spaces)")]
    ForbiddenCharacter(char),
    #[error("it needs at least one letter")]
    NoLetter,
}

impl AlphanumericSenderId {
    /// Checks `input` (surrounding spaces are dropped).
    pub fn parse(input: &str) -> Result<Self, AlphanumericProblem> {
        let s = input.trim();
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == ' '))
        {
            return Err(AlphanumericProblem::ForbiddenCharacter(c));
        }
        // All ASCII from here on, so bytes are characters.
        if s.len() > MAX_ALPHANUMERIC_LENGTH {
            return Err(AlphanumericProblem::TooLong { length: s.len() });
        }
        if !s.chars().any(|c| c.is_ascii_alphabetic()) {
            return Err(AlphanumericProblem::NoLetter);
        }
        Ok(AlphanumericSenderId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AlphanumericSenderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sender the account may send from. Convert it to the SMS port's `Sender` with `From`
/// (defined in `ports::sms`, so the domain does not depend on ports).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SenderSpec {
    /// One of the account's numbers.
    Number(PhoneNumber),
    /// One of the account's Messaging Service SIDs (`MG` + 32 hex), spelled as configured.
    MessagingService(String),
    Alphanumeric(AlphanumericSenderId),
}

/// Why a sender was refused. Each variant says what to fix; `code()` is stable for APIs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SenderError {
    #[error("no sender given")]
    Missing,
    #[error("sender '{input}' is not a phone number: {problem}")]
    InvalidNumber { input: String, problem: PhoneError },
    #[error("sender {0} is not one of this account's numbers")]
    UnknownNumber(PhoneNumber),
    #[error("sender '{0}' looks like a Messaging Service SID but is not one (MG + 32 hex digits)")]
    MalformedMessagingService(String),
    #[error("sender {0} is not one of this account's Messaging Services")]
    UnknownMessagingService(String),
    #[error("sender '{sender}' is not a valid alphanumeric sender id: {reason}")]
    InvalidAlphanumeric {
        sender: String,
        reason: AlphanumericProblem,
    },
}

impl SenderError {
    /// A short, stable identifier for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            SenderError::Missing => "missing_sender",
            SenderError::InvalidNumber { .. } => "invalid_sender_number",
            SenderError::UnknownNumber(_) => "unknown_sender_number",
            SenderError::MalformedMessagingService(_) => "invalid_messaging_service",
            SenderError::UnknownMessagingService(_) => "unknown_messaging_service",
            SenderError::InvalidAlphanumeric { .. } => "invalid_alphanumeric_sender",
        }
    }
}

/// Where a sender's send slots are counted, and how many segments per second it may send.
#[derive(Debug, Clone, PartialEq)]
pub struct SendPacing {
    /// `<Twilio account SID>/<sender>`: Twilio's limits belong to the sender inside one
    /// Twilio account, so two smsflow accounts sharing a Twilio account and sender share
    /// one budget, while the same alphanumeric id in two Twilio accounts does not.
    pub key: String,
    pub segments_per_second: f64,
}

fn starts_like_a_service_sid(s: &str) -> bool {
    s.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("MG"))
}

fn is_messaging_service_sid(s: &str) -> bool {
    s.len() == 34 && starts_like_a_service_sid(s) && s[2..].chars().all(|c| c.is_ascii_hexdigit())
}

impl SenderSpec {
    /// Reads the sender of a send request for `account`.
    ///
    /// Which kind it is follows from its characters, never from trying each parser in
    /// turn: the phone parser reads letters as keypad digits ("1-800-FLOWERS"), so any
    /// input with a letter is a Messaging Service SID or an alphanumeric id, and anything
    /// else is a number (E.164, or national in the account's default country).
    pub fn parse(input: &str, account: &Account) -> Result<SenderSpec, SenderError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(SenderError::Missing);
        }
        if is_messaging_service_sid(s) {
            let services = account.twilio.as_ref().map(|t| &t.messaging_service_sids);
            return (services.into_iter().flatten())
                .find(|sid| sid.eq_ignore_ascii_case(s))
                .map(|sid| SenderSpec::MessagingService(sid.clone()))
                .ok_or_else(|| SenderError::UnknownMessagingService(s.to_string()));
        }
        if s.chars().any(char::is_alphabetic) {
            // Too long for an alphanumeric id and shaped like a SID: a mistyped SID.
            if s.len() > MAX_ALPHANUMERIC_LENGTH
                && starts_like_a_service_sid(s)
                && s.chars().all(|c| c.is_ascii_alphanumeric())
            {
                return Err(SenderError::MalformedMessagingService(s.to_string()));
            }
            return AlphanumericSenderId::parse(s)
                .map(SenderSpec::Alphanumeric)
                .map_err(|reason| SenderError::InvalidAlphanumeric {
                    sender: s.to_string(),
                    reason,
                });
        }
        let number = account
            .parse_phone(s)
            .map_err(|problem| SenderError::InvalidNumber {
                input: s.to_string(),
                problem,
            })?;
        match account.number(&number) {
            Some(_) => Ok(SenderSpec::Number(number)),
            None => Err(SenderError::UnknownNumber(number)),
        }
    }

    /// The value Twilio knows the sender by (`From`, or the Service SID).
    pub fn as_str(&self) -> &str {
        match self {
            SenderSpec::Number(n) => n.as_str(),
            SenderSpec::MessagingService(sid) => sid,
            SenderSpec::Alphanumeric(id) => id.as_str(),
        }
    }

    /// The pacing budget of this sender in `account`.
    ///
    /// - A number: its configured rate, else its kind's default (long code 1, toll-free 3,
    ///   short code 100 segments/s).
    /// - An alphanumeric id: 10 segments/s, Twilio's default for alphanumeric senders.
    /// - A Messaging Service: 1 segment/s. Its throughput is the sum of whatever senders its
    ///   pool holds, which smsflow cannot see; the smallest pool is one US long code at 1
    ///   segment/s, so that is the only rate that is never above Twilio's. (Beyond a
    ///   sender's rate Twilio queues messages rather than failing them, for up to 10 hours.)
    ///
    /// A number that is no longer the account's (the account changed after the request was
    /// admitted) is paced at the slowest default too.
    pub fn pacing(&self, account: &Account) -> SendPacing {
        let slowest = SenderKind::LongCode.default_segments_per_second();
        let segments_per_second = match self {
            SenderSpec::Number(n) => account
                .number(n)
                .map_or(slowest, |configured| configured.segments_per_second()),
            SenderSpec::MessagingService(_) => slowest,
            SenderSpec::Alphanumeric(_) => SenderKind::Alphanumeric.default_segments_per_second(),
        };
        let number = match self {
            SenderSpec::Number(n) => Some(n),
            SenderSpec::MessagingService(_) | SenderSpec::Alphanumeric(_) => None,
        };
        // Instasent's limits are its organisation's, which smsflow cannot see: an
        // account's Instasent senders are paced apart from everyone else's.
        let budget = match (account.provider_of(number), account.twilio_account_sid()) {
            (SmsProviderKind::Twilio, Some(sid)) => sid.to_string(),
            _ => format!("instasent:{}", account.id),
        };
        SendPacing {
            key: format!("{budget}/{}", self.as_str()),
            segments_per_second,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{SERVICE_SID, account, phone};
    use super::*;

    #[test]
    fn accepts_the_accounts_senders() {
        let account = account();
        let alpha = |s: &str| {
            SenderSpec::Alphanumeric(AlphanumericSenderId::parse(s).expect("valid alpha id"))
        };
        let cases = [
            ("+12025550101", SenderSpec::Number(phone("+12025550101"))),
            ("  +12025550101 ", SenderSpec::Number(phone("+12025550101"))),
            ("(202) 555-0101", SenderSpec::Number(phone("+12025550101"))),
            ("202.555.0101", SenderSpec::Number(phone("+12025550101"))),
            ("+18005550102", SenderSpec::Number(phone("+18005550102"))),
            (
                SERVICE_SID,
                SenderSpec::MessagingService(SERVICE_SID.to_string()),
            ),
            // SIDs are matched case-insensitively and returned as configured.
            (
                "mg0123456789ABCDEF0123456789abcdef",
                SenderSpec::MessagingService(SERVICE_SID.to_string()),
            ),
            ("ACME", alpha("ACME")),
            ("Acme Roof 1", alpha("Acme Roof 1")),
            ("  ACME  ", alpha("ACME")),
            ("1A", alpha("1A")),
            ("MGROUP", alpha("MGROUP")),
        ];
        for (input, want) in cases {
            assert_eq!(SenderSpec::parse(input, &account), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn refuses_with_specific_errors() {
        let account = account();
        let alpha_err = |sender: &str, reason| SenderError::InvalidAlphanumeric {
            sender: sender.into(),
            reason,
        };
        let cases = [
            ("", SenderError::Missing),
            ("   ", SenderError::Missing),
            (
                "+12025550199",
                SenderError::UnknownNumber(phone("+12025550199")),
            ),
            (
                "2025550199",
                SenderError::UnknownNumber(phone("+12025550199")),
            ),
            (
                "MGffffffffffffffffffffffffffffffff",
                SenderError::UnknownMessagingService("MGffffffffffffffffffffffffffffffff".into()),
            ),
            (
                "MG0123456789abcdef0123456789abcde",
                SenderError::MalformedMessagingService("MG0123456789abcdef0123456789abcde".into()),
            ),
            (
                "MG0123456789abcdef0123456789abcdeZ",
                SenderError::MalformedMessagingService("MG0123456789abcdef0123456789abcdeZ".into()),
            ),
            (
                "Acme Roofing",
                alpha_err("Acme Roofing", AlphanumericProblem::TooLong { length: 12 }),
            ),
            (
                "Acme-Roof",
                alpha_err("Acme-Roof", AlphanumericProblem::ForbiddenCharacter('-')),
            ),
            (
                "Café",
                alpha_err("Café", AlphanumericProblem::ForbiddenCharacter('é')),
            ),
            (
                "+1 800 FLOWERS",
                alpha_err(
                    "+1 800 FLOWERS",
                    AlphanumericProblem::ForbiddenCharacter('+'),
                ),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(SenderSpec::parse(input, &account), Err(want), "{input:?}");
        }
        assert!(
            matches!(
                SenderSpec::parse("12", &account),
                Err(SenderError::InvalidNumber { .. })
            ),
            "digits that are no number"
        );
    }

    #[test]
    fn alphanumeric_ids() {
        let cases = [
            ("A", Ok("A")),
            ("ACME 2026", Ok("ACME 2026")),
            ("abcdefghijk", Ok("abcdefghijk")),
            (
                "abcdefghijkl",
                Err(AlphanumericProblem::TooLong { length: 12 }),
            ),
            ("12345", Err(AlphanumericProblem::NoLetter)),
            ("1 2", Err(AlphanumericProblem::NoLetter)),
            ("", Err(AlphanumericProblem::NoLetter)),
            ("A&B", Err(AlphanumericProblem::ForbiddenCharacter('&'))),
            ("A_B", Err(AlphanumericProblem::ForbiddenCharacter('_'))),
            ("A\tB", Err(AlphanumericProblem::ForbiddenCharacter('\t'))),
        ];
        for (input, want) in cases {
            let got = AlphanumericSenderId::parse(input);
            assert_eq!(
                got.as_ref().map(AlphanumericSenderId::as_str),
                want.as_ref().map(|s| *s),
                "{input:?}"
            );
        }
    }

    #[test]
    fn pacing_by_sender() {
        let account = account();
        let sid = account
            .twilio_account_sid()
            .expect("the fixture has Twilio");
        let cases = [
            // Long code without an override: Twilio's default 1/s.
            (
                SenderSpec::Number(phone("+12025550101")),
                "+12025550101",
                1.0,
            ),
            // Toll-free with a configured rate of 2.5/s.
            (
                SenderSpec::Number(phone("+18005550102")),
                "+18005550102",
                2.5,
            ),
            // A number the account no longer has: the slowest rate.
            (
                SenderSpec::Number(phone("+12025550199")),
                "+12025550199",
                1.0,
            ),
            (
                SenderSpec::MessagingService(SERVICE_SID.into()),
                SERVICE_SID,
                1.0,
            ),
            (
                SenderSpec::Alphanumeric(AlphanumericSenderId::parse("ACME").expect("valid")),
                "ACME",
                10.0,
            ),
        ];
        for (spec, sender, rate) in cases {
            assert_eq!(
                spec.pacing(&account),
                SendPacing {
                    key: format!("{sid}/{sender}"),
                    segments_per_second: rate,
                },
                "{spec:?}"
            );
        }
    }

    #[test]
    fn error_codes_are_distinct() {
        let errors = [
            SenderError::Missing,
            SenderError::InvalidNumber {
                input: "x".into(),
                problem: PhoneError::Empty,
            },
            SenderError::UnknownNumber(phone("+12025550199")),
            SenderError::MalformedMessagingService("MGx".into()),
            SenderError::UnknownMessagingService("MGx".into()),
            SenderError::InvalidAlphanumeric {
                sender: "x".into(),
                reason: AlphanumericProblem::NoLetter,
            },
        ];
        let mut codes: Vec<_> = errors.iter().map(SenderError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }
}
