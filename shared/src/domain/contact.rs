//! Rules about the CRM contact behind an inbound text: what happened when we looked it up,
//! and when an e-mail address found in the text may be written into it.

use serde::{Deserialize, Serialize};

use super::email::EmailAddress;

/// First name given to contacts smsflow creates for unknown senders (turboDial's marker, see
/// "Auto-created contact" in `docs/glossary.md`).
/// A contact still carrying it was never completed by a person, so its e-mail may be filled
/// from a later text.
pub const AUTO_CREATED_FIRST_NAME: &str = "(auto-created)";

/// What the CRM lookup for an inbound sender produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactOutcome {
    /// An existing contact has the sender's phone.
    Found,
    /// No contact had the phone, so one was created just now.
    AutoCreated,
    /// No contact has the phone and none was created.
    Unidentified,
}

impl ContactOutcome {
    /// Whether there is a contact to fire goals on and to route by.
    pub fn is_identified(self) -> bool {
        !matches!(self, ContactOutcome::Unidentified)
    }
}

/// Whether an e-mail address found in an inbound text may be written into the contact:
/// on a contact created for this text, or on an earlier auto-created contact that still
/// has no e-mail. An existing e-mail is never overwritten.
pub fn should_install_email(
    contact_first_name: Option<&str>,
    contact_email: Option<&EmailAddress>,
    created_now: bool,
) -> bool {
    if contact_email.is_some() {
        return false;
    }
    // CRMs may pad or trim names on save; the marker itself is compared exactly.
    created_now || contact_first_name.is_some_and(|n| n.trim() == AUTO_CREATED_FIRST_NAME)
}

/// The address to install from `text`, if the rule above allows it and the text has one.
pub fn email_to_install(
    text: &str,
    contact_first_name: Option<&str>,
    contact_email: Option<&EmailAddress>,
    created_now: bool,
) -> Option<EmailAddress> {
    if should_install_email(contact_first_name, contact_email, created_now) {
        EmailAddress::find_in_text(text)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::email;
    use super::*;

    #[test]
    fn install_rule() {
        let existing = email("jane@example.com");
        let cases: [(Option<&str>, Option<&EmailAddress>, bool, bool); 12] = [
            // Created for this text: install.
            (Some(AUTO_CREATED_FIRST_NAME), None, true, true),
            (None, None, true, true),
            // Earlier auto-created contact, still without e-mail: install.
            (Some("(auto-created)"), None, false, true),
            (Some(" (auto-created) "), None, false, true),
            // A person's contact without e-mail: leave it to the person.
            (Some("Jane"), None, false, false),
            (None, None, false, false),
            (Some("(Auto-Created)"), None, false, false),
            (Some("auto-created"), None, false, false),
            (Some(""), None, false, false),
            // Never overwrite an e-mail, whatever the name.
            (Some(AUTO_CREATED_FIRST_NAME), Some(&existing), false, false),
            (Some(AUTO_CREATED_FIRST_NAME), Some(&existing), true, false),
            (Some("Jane"), Some(&existing), false, false),
        ];
        for (first_name, current, created_now, expected) in cases {
            assert_eq!(
                should_install_email(first_name, current, created_now),
                expected,
                "{first_name:?} {current:?} created_now={created_now}"
            );
        }
    }

    #[test]
    fn email_to_install_needs_rule_and_address() {
        let text = "it's jane@example.com";
        assert_eq!(
            email_to_install(text, None, None, true),
            Some(email("jane@example.com"))
        );
        assert_eq!(email_to_install("no address here", None, None, true), None);
        assert_eq!(email_to_install(text, Some("Jane"), None, false), None);
        let other = email("other@example.com");
        assert_eq!(
            email_to_install(text, Some(AUTO_CREATED_FIRST_NAME), Some(&other), false),
            None
        );
    }

    #[test]
    fn outcome_identified() {
        assert!(ContactOutcome::Found.is_identified());
        assert!(ContactOutcome::AutoCreated.is_identified());
        assert!(!ContactOutcome::Unidentified.is_identified());
    }
}
