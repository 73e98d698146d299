//! CRM port: what smsflow needs from a CRM (Keap, a generic webhook CRM, or the embedded
//! sandbox). Every call names the account, whose `crm` connection says where to go.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::{Account, ContactId, EmailAddress, GoalName, PhoneNumber, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: ContactId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    /// The CRM user who owns the contact.
    pub owner_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub custom_fields: BTreeMap<String, String>,
    /// The contact's time zone as the CRM records it (IANA, e.g. `America/Denver`), if it
    /// does: quiet hours use it before guessing from the number.
    #[serde(default)]
    pub time_zone: Option<String>,
}

impl Contact {
    /// The name to show a teammate: first and last name, without an auto-created contact's
    /// placeholder; `None` when the CRM has neither.
    pub fn display_name(&self) -> Option<String> {
        let first = self
            .first_name
            .as_deref()
            .filter(|n| *n != crate::domain::contact::AUTO_CREATED_FIRST_NAME);
        let name = [first, self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!name.is_empty()).then_some(name)
    }

    /// Whether `name` is a `Contact.*` merge field [`Contact::merge_field`] can answer for
    /// some contact: a standard one, or any custom one (`Contact._Name`), which only a
    /// contact can tell apart from a mistyped one.
    pub fn is_merge_field_name(name: &str) -> bool {
        match name.strip_prefix("Contact.") {
            Some("Id" | "FirstName" | "LastName" | "Email" | "Phone1") => true,
            Some(field) => field.len() > 1 && field.starts_with('_'),
            None => false,
        }
    }

    /// The value of a `Contact.*` merge field, named as Keap names them: `Contact.Id`,
    /// `Contact.FirstName`, `Contact.LastName`, `Contact.Email`, `Contact.Phone1`, and a
    /// custom field as `Contact._Name` (matched to the field's name ignoring case, spaces
    /// and punctuation, since CRMs show labels). A known field with no value is `""`;
    /// `None` for a name the contact does not have.
    pub fn merge_field(&self, name: &str) -> Option<String> {
        if !Contact::is_merge_field_name(name) {
            return None;
        }
        let field = name.strip_prefix("Contact.")?;
        let text = |v: &Option<String>| Some(v.clone().unwrap_or_default());
        match field {
            "Id" => Some(self.id.to_string()),
            // The placeholder of an auto-created contact is not a name to greet anyone by.
            "FirstName" => Some(
                self.first_name
                    .clone()
                    .filter(|n| n != crate::domain::contact::AUTO_CREATED_FIRST_NAME)
                    .unwrap_or_default(),
            ),
            "LastName" => text(&self.last_name),
            "Email" => Some(
                self.email
                    .as_ref()
                    .map(|e| e.as_str().to_string())
                    .unwrap_or_default(),
            ),
            "Phone1" => Some(
                self.phone
                    .as_ref()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
            ),
            custom => self
                .custom_field(custom.strip_prefix('_')?)
                .map(str::to_string),
        }
    }

    /// A custom field's value by name, ignoring case, spaces and punctuation.
    pub fn custom_field(&self, name: &str) -> Option<&str> {
        let key = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_alphanumeric())
                .flat_map(char::to_lowercase)
                .collect()
        };
        let wanted = key(name);
        self.custom_fields
            .get(name)
            .or_else(|| {
                self.custom_fields
                    .iter()
                    .find(|(k, _)| key(k) == wanted)
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewContact {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<EmailAddress>,
    pub phone: Option<PhoneNumber>,
    pub owner_id: Option<String>,
    /// IANA time zone.
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CrmUser {
    pub id: String,
    pub name: String,
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: String,
    pub contact_id: ContactId,
    pub title: String,
    pub body: String,
    /// The CRM user the note is assigned to.
    pub user_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewNote {
    pub title: String,
    pub body: String,
    pub user_id: Option<String>,
}

/// The note type CRMs give a logged phone call (Keap: `Call`).
pub const CALL_NOTE_TYPE: &str = "Call";

/// The contact's most recent call note: routing's rule 2 ("the user of the most recent
/// call note"; "Inbound routing" in docs/glossary.md) needs who logged the call and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallNote {
    pub id: String,
    /// The CRM user the note is assigned to, as the CRM describes them with the note.
    pub user: Option<NoteUser>,
    /// When the note was created, when the CRM says.
    pub logged_at: Option<Timestamp>,
}

/// A CRM user as a note names them: always an id, a name and e-mail when the CRM has
/// them (Keap sends both with each note, which spares a user lookup).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoteUser {
    pub id: String,
    pub name: Option<String>,
    pub email: Option<EmailAddress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalOutcome {
    Achieved,
    /// The CRM has no goal with this integration and call name (or its campaign is not
    /// published): the caller may stop calling it.
    NotConfigured,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrmError {
    #[error("CRM has no {0}")]
    NotFound(String),
    #[error("CRM rate limit reached")]
    RateLimited { retry_after: Option<Duration> },
    #[error("CRM refused our credentials: {0}")]
    Unauthorized(String),
    #[error("CRM rejected the request: {0}")]
    Rejected(String),
    #[error("CRM unavailable: {0}")]
    Unavailable(String),
    #[error("this account's CRM connection is not supported by this build: {0}")]
    Unsupported(String),
}

impl CrmError {
    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CrmError::RateLimited { .. } | CrmError::Unavailable(_)
        )
    }
}

pub type CrmResult<T> = Result<T, CrmError>;

#[async_trait]
pub trait Crm: Send + Sync {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>>;
    async fn contact(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<Contact>>;
    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact>;
    async fn set_email(
        &self,
        account: &Account,
        contact_id: &ContactId,
        email: &EmailAddress,
    ) -> CrmResult<()>;
    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &ContactId,
        field: &str,
        value: &str,
    ) -> CrmResult<()>;
    async fn user(&self, account: &Account, user_id: &str) -> CrmResult<Option<CrmUser>>;
    async fn apply_tag(
        &self,
        account: &Account,
        contact_id: &ContactId,
        tag: &str,
    ) -> CrmResult<()>;
    async fn create_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
        note: &NewNote,
    ) -> CrmResult<Note>;
    /// Appends `text` to an existing note's body.
    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()>;
    /// The contact's most recently created note of type [`CALL_NOTE_TYPE`] (compared
    /// without regard to case), or `None` when it has none; an unknown contact has none.
    /// A CRM that cannot be asked answers `None`.
    async fn last_call_note(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<CallNote>>;
    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &ContactId,
        integration: &str,
        call_name: &GoalName,
    ) -> CrmResult<GoalOutcome>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_auto_created_contact_has_no_first_name_to_merge() {
        let contact = Contact {
            id: "1".into(),
            first_name: Some(crate::domain::contact::AUTO_CREATED_FIRST_NAME.into()),
            last_name: None,
            email: None,
            phone: None,
            owner_id: None,
            tags: vec![],
            custom_fields: BTreeMap::new(),
            time_zone: None,
        };
        assert_eq!(
            contact.merge_field("Contact.FirstName").as_deref(),
            Some("")
        );
    }

    #[test]
    fn merge_fields_of_a_contact() {
        let contact = Contact {
            id: "42".into(),
            first_name: Some("Ana".into()),
            last_name: None,
            email: EmailAddress::parse("ana@example.com").ok(),
            phone: PhoneNumber::parse_e164("+16125550100").ok(),
            owner_id: None,
            tags: vec![],
            custom_fields: BTreeMap::from([
                ("Sms Subscription".to_string(), "subscribed".to_string()),
                ("Tier".to_string(), "gold".to_string()),
            ]),
            time_zone: None,
        };
        let cases = [
            ("Contact.Id", Some("42")),
            ("Contact.FirstName", Some("Ana")),
            ("Contact.LastName", Some("")),
            ("Contact.Email", Some("ana@example.com")),
            ("Contact.Phone1", Some("+16125550100")),
            ("Contact._Tier", Some("gold")),
            ("Contact._SmsSubscription", Some("subscribed")),
            ("Contact._sms_subscription", Some("subscribed")),
            ("Contact._Missing", None),
            ("Contact.Nickname", None),
            ("Account.Name", None),
        ];
        for (name, want) in cases {
            assert_eq!(contact.merge_field(name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn merge_field_names_without_a_contact() {
        let cases = [
            ("Contact.Id", true),
            ("Contact.FirstName", true),
            ("Contact.LastName", true),
            ("Contact.Email", true),
            ("Contact.Phone1", true),
            ("Contact._Tier", true),
            ("Contact._", false),
            ("Contact.Frist", false),
            ("Contact.firstname", false),
            ("Account.Name", false),
            ("FirstName", false),
        ];
        for (name, want) in cases {
            assert_eq!(Contact::is_merge_field_name(name), want, "{name}");
        }
    }
}
