//! A CRM's "has received SMS" check (`POST /crm/{account}/received`): its fields read into
//! whom it asks about, the filter, and the goals to fire on either answer.

use super::account::Account;
use super::goals::{GoalName, GoalNameError, StandardGoal};
use super::received::{FilterWords, ReceivedFilter, ReceivedFilterError};
use super::send_request::{MAX_ID_LENGTH, SendFields};
use super::{ContactId, PhoneError, PhoneNumber};

/// A check that passed every test possible before talking to the CRM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedCheck {
    pub request_id: Option<String>,
    pub contact_id: Option<ContactId>,
    pub phone: Option<PhoneNumber>,
    pub filter: ReceivedFilter,
    /// Fired when the contact has received SMS that pass the filter.
    pub received_goal: GoalName,
    /// Fired when not.
    pub not_received_goal: GoalName,
}

impl ReceivedCheck {
    /// The goal the answer fires.
    pub fn goal(&self, received: bool) -> &GoalName {
        if received {
            &self.received_goal
        } else {
            &self.not_received_goal
        }
    }
}

/// Why a check was refused before anything happened. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceivedCheckError {
    #[error("give the contact as contactId=... (in Keap: ~Contact.Id~) or phone=...")]
    MissingContact,
    #[error("phone '{input}' is not a valid number: {problem}")]
    InvalidPhone { input: String, problem: PhoneError },
    #[error("{field} is longer than {MAX_ID_LENGTH} characters")]
    TooLong { field: &'static str },
    #[error("{field}: {problem}")]
    InvalidGoal {
        field: &'static str,
        problem: GoalNameError,
    },
    #[error(transparent)]
    Filter(#[from] ReceivedFilterError),
}

impl ReceivedCheckError {
    pub fn code(&self) -> &'static str {
        match self {
            ReceivedCheckError::MissingContact => "missing_contact",
            ReceivedCheckError::InvalidPhone { .. } => "invalid_phone",
            ReceivedCheckError::TooLong { .. } => "too_long",
            ReceivedCheckError::InvalidGoal { .. } => "invalid_goal",
            ReceivedCheckError::Filter(e) => e.code(),
        }
    }
}

/// Reads a check's fields: `contactId` and/or `phone`, `requestId`, the filter (`type`,
/// `campaign`, `status`, `since`, `withinDays`) and the goals (`receivedGoal`,
/// `notReceivedGoal`, defaulting to `ReceivedSMS` and `NotReceivedSMS`).
pub fn parse_received_check(
    fields: &SendFields,
    account: &Account,
) -> Result<ReceivedCheck, ReceivedCheckError> {
    let contact_id = bounded(fields.get("contactId"), "contactId")?.map(ContactId::new);
    let phone = match fields.get("phone") {
        Some(input) => Some(account.parse_phone(input).map_err(|problem| {
            ReceivedCheckError::InvalidPhone {
                input: input.to_string(),
                problem,
            }
        })?),
        None => None,
    };
    if contact_id.is_none() && phone.is_none() {
        return Err(ReceivedCheckError::MissingContact);
    }
    let words = FilterWords {
        kinds: fields.all("type").iter().map(String::as_str).collect(),
        campaign: fields.get("campaign"),
        status: fields.get("status"),
        since: fields.get("since"),
        within_days: fields.get("withinDays"),
    };
    Ok(ReceivedCheck {
        request_id: bounded(fields.get("requestId"), "requestId")?,
        contact_id,
        phone,
        filter: ReceivedFilter::parse(&words)?,
        received_goal: goal(fields, "receivedGoal", StandardGoal::ReceivedSms)?,
        not_received_goal: goal(fields, "notReceivedGoal", StandardGoal::NotReceivedSms)?,
    })
}

fn goal(
    fields: &SendFields,
    field: &'static str,
    default: StandardGoal,
) -> Result<GoalName, ReceivedCheckError> {
    match fields.get(field) {
        Some(name) => GoalName::parse(name)
            .map_err(|problem| ReceivedCheckError::InvalidGoal { field, problem }),
        None => Ok(default.into()),
    }
}

fn bounded(value: Option<&str>, field: &'static str) -> Result<Option<String>, ReceivedCheckError> {
    match value {
        Some(v) if v.chars().count() > MAX_ID_LENGTH => Err(ReceivedCheckError::TooLong { field }),
        v => Ok(v.map(str::to_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::fixtures;
    use crate::domain::received::Window;

    fn check(query: &str) -> Result<ReceivedCheck, ReceivedCheckError> {
        let fields = SendFields::from_form(query.as_bytes()).expect("a form");
        parse_received_check(&fields, &fixtures::account())
    }

    #[test]
    fn reads_a_keap_check() {
        let c = check("contactId=42&type=bulk&campaign=spring&status=delivered&withinDays=30&requestId=r1&receivedGoal=GotSpring")
            .expect("valid");
        assert_eq!(c.contact_id, Some(ContactId::new("42")));
        assert_eq!(c.phone, None);
        assert_eq!(c.request_id.as_deref(), Some("r1"));
        assert_eq!(c.filter.window, Window::WithinDays(30));
        assert_eq!(c.goal(true).as_str(), "GotSpring");
        assert_eq!(c.goal(false).as_str(), "NotReceivedSMS");
        let by_phone = check("phone=%2B14155552671").expect("valid");
        assert_eq!(
            by_phone.phone.as_ref().map(|p| p.as_str()),
            Some("+14155552671")
        );
        assert_eq!(by_phone.goal(true).as_str(), "ReceivedSMS");
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        let long = "x".repeat(MAX_ID_LENGTH + 1);
        let cases = [
            ("type=bulk".to_string(), "missing_contact"),
            ("phone=12".to_string(), "invalid_phone"),
            (format!("contactId={long}"), "too_long"),
            (
                "contactId=1&receivedGoal=no-dashes".to_string(),
                "invalid_goal",
            ),
            ("contactId=1&type=promo".to_string(), "invalid_type"),
            ("contactId=1&since=x".to_string(), "invalid_since"),
        ];
        for (query, code) in cases {
            let err = check(&query).expect_err("refused");
            assert_eq!(err.code(), code, "{query}: {err}");
        }
    }
}
