//! What a Twilio error code means for us: the same code arrives synchronously (the REST
//! reply to a send) or asynchronously (a status callback's `ErrorCode`), and both paths
//! need the same decision (suppress the contact, retry later, alert the account...).
//!
//! Categories follow Twilio's error dictionary (<https://www.twilio.com/docs/api/errors>); the
//! classes and what each sets off are listed in `docs/glossary.md` ("Error class") and the
//! README ("What a status callback does").

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The recipient replied STOP: never text them again until they opt back in.
    OptedOut,
    /// The number exists but cannot receive SMS (landline, unknown handset, unroutable).
    NotSmsCapable,
    /// The number itself is malformed or not a valid destination.
    InvalidNumber,
    /// Twilio or the carrier filtered the message, or the sender is not registered/verified
    /// (which carriers enforce by filtering).
    SpamFiltered,
    /// Too many requests or a full queue, at Twilio or the carrier: retry later, slower.
    RateOrQueue,
    /// Blocked by the carrier or by fraud protection.
    Blocked,
    /// A delivery failure that may not happen again (handset off, provider hiccup).
    Transient,
    /// Anything else: account, configuration or request problems.
    Other,
}

impl ErrorClass {
    /// Whether the carrier refused for a reason that is the recipient's, routine in any
    /// contact list (opted out at the carrier, not a mobile, not a valid number): worth a
    /// warning, not an error an operator must look into.
    pub fn is_routine_refusal(self) -> bool {
        matches!(
            self,
            ErrorClass::OptedOut | ErrorClass::NotSmsCapable | ErrorClass::InvalidNumber
        )
    }

    /// The class's name as it is serialised (`not_sms_capable`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::OptedOut => "opted_out",
            ErrorClass::NotSmsCapable => "not_sms_capable",
            ErrorClass::InvalidNumber => "invalid_number",
            ErrorClass::SpamFiltered => "spam_filtered",
            ErrorClass::RateOrQueue => "rate_or_queue",
            ErrorClass::Blocked => "blocked",
            ErrorClass::Transient => "transient",
            ErrorClass::Other => "other",
        }
    }
}

/// The class of a Twilio error code.
pub fn classify_error_code(code: u32) -> ErrorClass {
    match code {
        21610 => ErrorClass::OptedOut,
        // 21612 ("cannot be sent with the current combination of To and/or From"; formerly
        // "not currently reachable via SMS") can also be a sender problem, but Twilio's
        // causes are mostly destination routing, and either way this To/From pair will not
        // work on retry.
        21612 | 21614 | 21635 | 30005 | 30006 => ErrorClass::NotSmsCapable,
        21211 => ErrorClass::InvalidNumber,
        // 30032 (unverified toll-free) and 30034 (unregistered 10DLC number) are sender
        // compliance failures that carriers enforce by filtering, so they are handled like
        // 30007 (carrier filtering); the fix is on the account, not the contact.
        30007 | 30032 | 30034 => ErrorClass::SpamFiltered,
        // 20429 is REST concurrency ("always safe to retry"); 21611 is a sender's queue
        // being full at send time; 30001 and 30036 are queue overflow/expiry; 30017, 30022,
        // 30023 and 30027 are carrier congestion and 10DLC throughput/daily caps.
        20429 | 21611 | 30001 | 30017 | 30022 | 30023 | 30027 | 30036 => ErrorClass::RateOrQueue,
        // 30004 also covers a STOP to a US/CA toll-free sender; we cannot tell which, so it
        // stays Blocked rather than OptedOut (the inbound STOP itself marks opt-outs).
        30004 | 30450 => ErrorClass::Blocked,
        // 30003 (handset off, no signal) and 30410 (provider timeout: Twilio failed the
        // message rather than risk a duplicate) may well succeed later; 30008 is Twilio's
        // "unknown error", which it does not describe as permanent.
        30003 | 30008 | 30410 => ErrorClass::Transient,
        _ => ErrorClass::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_codes_of_twilio_md_section_3() {
        let cases = [
            (21610, ErrorClass::OptedOut),
            (21612, ErrorClass::NotSmsCapable),
            (21614, ErrorClass::NotSmsCapable),
            (21635, ErrorClass::NotSmsCapable),
            (30005, ErrorClass::NotSmsCapable),
            (30006, ErrorClass::NotSmsCapable),
            (21211, ErrorClass::InvalidNumber),
            (30007, ErrorClass::SpamFiltered),
            (30032, ErrorClass::SpamFiltered),
            (30034, ErrorClass::SpamFiltered),
            (20429, ErrorClass::RateOrQueue),
            (21611, ErrorClass::RateOrQueue),
            (30001, ErrorClass::RateOrQueue),
            (30017, ErrorClass::RateOrQueue),
            (30022, ErrorClass::RateOrQueue),
            (30023, ErrorClass::RateOrQueue),
            (30027, ErrorClass::RateOrQueue),
            (30036, ErrorClass::RateOrQueue),
            (30004, ErrorClass::Blocked),
            (30450, ErrorClass::Blocked),
            (30003, ErrorClass::Transient),
            (30008, ErrorClass::Transient),
            (30410, ErrorClass::Transient),
            // Account, configuration and request errors.
            (21408, ErrorClass::Other),
            (21602, ErrorClass::Other),
            (21603, ErrorClass::Other),
            (21604, ErrorClass::Other),
            (21606, ErrorClass::Other),
            (21617, ErrorClass::Other),
            (30002, ErrorClass::Other),
            (63016, ErrorClass::Other),
            (0, ErrorClass::Other),
        ];
        for (code, expected) in cases {
            assert_eq!(classify_error_code(code), expected, "{code}");
        }
    }

    #[test]
    fn only_the_recipients_routine_refusals_are_routine() {
        // (class, routine refusal: logged as a warning)
        let cases = [
            (ErrorClass::OptedOut, true),
            (ErrorClass::NotSmsCapable, true),
            (ErrorClass::InvalidNumber, true),
            (ErrorClass::SpamFiltered, false),
            (ErrorClass::RateOrQueue, false),
            (ErrorClass::Blocked, false),
            (ErrorClass::Transient, false),
            (ErrorClass::Other, false),
        ];
        for (class, routine) in cases {
            assert_eq!(class.is_routine_refusal(), routine, "{class:?}");
            let serialised = serde_json::to_value(class).expect("serialises");
            assert_eq!(serialised, class.as_str(), "{class:?}");
        }
    }
}
