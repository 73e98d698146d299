//! Contact fields as a sequence names them: the way Keap's merge fields write them.
//!
//! The rule (documented for sequence authors in the module docs):
//! - a **standard field** is `Contact.` followed by one of [`STANDARD_FIELDS`], spelled
//!   exactly (`Contact.FirstName`, `Contact.Email`, `Contact.Phone1`);
//! - a **custom field** is `Contact._` followed by the field's name: ASCII letters, digits
//!   and `_`, starting with a letter or digit, at most 64 characters (`Contact._Budget`).
//!   The name after `_` is what the CRM port's `set_custom_field` takes.
//!
//! Anything else is an unknown field. Names are case-sensitive, as Keap matches them; a
//! near miss in case gets a suggestion.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Keap's standard contact fields (the XML-RPC `Contact` table names) a sequence may read.
pub const STANDARD_FIELDS: [&str; 27] = [
    "Id",
    "FirstName",
    "MiddleName",
    "LastName",
    "Nickname",
    "Title",
    "Suffix",
    "Company",
    "JobTitle",
    "Email",
    "EmailAddress2",
    "EmailAddress3",
    "Phone1",
    "Phone2",
    "Phone3",
    "Phone4",
    "Phone5",
    "StreetAddress1",
    "StreetAddress2",
    "City",
    "State",
    "PostalCode",
    "Country",
    "Birthday",
    "Anniversary",
    "Website",
    "OwnerID",
];

const PREFIX: &str = "Contact.";
const CUSTOM_PREFIX: &str = "Contact._";
const MAX_CUSTOM_NAME: usize = 64;

/// Why a name is not a contact field. The message says what would be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("'{name}' is not a contact field (did you mean '{suggestion}'?)")]
    WrongCase { name: String, suggestion: String },
    #[error(
        "'{0}' is not a contact field: write Contact.<standard field> (Contact.FirstName, \
         Contact.Email, Contact.Phone1, ...) or Contact._<custom field name>"
    )]
    Unknown(String),
    #[error(
        "'{0}' is not a custom field name: after 'Contact._' use 1-{MAX_CUSTOM_NAME} ASCII \
         letters, digits or '_', starting with a letter or digit"
    )]
    BadCustomName(String),
}

/// A custom field, named without the `Contact._` prefix (`Budget` for `Contact._Budget`).
/// Serialised as its merge name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomField(String);

impl CustomField {
    /// The name the CRM knows the field by (without `Contact._`).
    pub fn name(&self) -> &str {
        &self.0
    }

    /// `Contact._<name>`: the key of this field in a contact snapshot.
    pub fn merge_name(&self) -> String {
        format!("{CUSTOM_PREFIX}{}", self.0)
    }
}

impl TryFrom<String> for CustomField {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match ContactField::parse(&s)? {
            ContactField::Custom(custom) => Ok(custom),
            ContactField::Standard(_) => Err(FieldError::BadCustomName(s)),
        }
    }
}

impl From<CustomField> for String {
    fn from(f: CustomField) -> String {
        f.merge_name()
    }
}

/// One of [`STANDARD_FIELDS`]: only built by [`ContactField::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StandardField(&'static str);

impl StandardField {
    /// The name without `Contact.` (`FirstName`).
    pub fn name(self) -> &'static str {
        self.0
    }
}

/// A contact field a sequence reads or writes: only built by [`ContactField::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ContactField {
    Standard(StandardField),
    Custom(CustomField),
}

impl ContactField {
    /// Reads a field as written in a definition (`Contact.FirstName`, `Contact._Budget`).
    pub fn parse(input: &str) -> Result<ContactField, FieldError> {
        if let Some(custom) = input.strip_prefix(CUSTOM_PREFIX) {
            let ok = custom.len() <= MAX_CUSTOM_NAME
                && custom
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_alphanumeric())
                && custom
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_');
            return if ok {
                Ok(ContactField::Custom(CustomField(custom.to_string())))
            } else {
                Err(FieldError::BadCustomName(input.to_string()))
            };
        }
        let unknown = || FieldError::Unknown(input.to_string());
        let name = input.strip_prefix(PREFIX).ok_or_else(unknown)?;
        if let Some(standard) = STANDARD_FIELDS.iter().find(|f| **f == name) {
            return Ok(ContactField::Standard(StandardField(standard)));
        }
        match STANDARD_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
        {
            Some(close) => Err(FieldError::WrongCase {
                name: input.to_string(),
                suggestion: format!("{PREFIX}{close}"),
            }),
            None => Err(unknown()),
        }
    }

    /// The field's merge name (`Contact.FirstName`): its key in a contact snapshot.
    pub fn merge_name(&self) -> String {
        match self {
            ContactField::Standard(StandardField(name)) => format!("{PREFIX}{name}"),
            ContactField::Custom(custom) => custom.merge_name(),
        }
    }

    /// `Contact.Email`: the contact's primary e-mail address.
    pub fn is_email(&self) -> bool {
        *self == ContactField::Standard(StandardField("Email"))
    }

    /// Whether a mobile number can be stored in it: `Contact.Phone1`..`Phone5` or a custom
    /// field.
    pub fn can_hold_phone(&self) -> bool {
        match self {
            ContactField::Standard(StandardField(name)) => name.starts_with("Phone"),
            ContactField::Custom(_) => true,
        }
    }

    /// Whether a sequence may save a reply into it. The CRM port writes the e-mail and
    /// custom fields only (`set_email`, `set_custom_field`).
    pub fn is_writable(&self) -> bool {
        self.is_email() || matches!(self, ContactField::Custom(_))
    }
}

impl fmt::Display for ContactField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.merge_name())
    }
}

impl TryFrom<String> for ContactField {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ContactField::parse(&s)
    }
}

impl From<ContactField> for String {
    fn from(f: ContactField) -> String {
        f.merge_name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields() {
        let custom = |n: &str| ContactField::Custom(CustomField(n.into()));
        let cases: Vec<(&str, Result<ContactField, FieldError>)> = vec![
            (
                "Contact.FirstName",
                Ok(ContactField::Standard(StandardField("FirstName"))),
            ),
            (
                "Contact.Email",
                Ok(ContactField::Standard(StandardField("Email"))),
            ),
            (
                "Contact.Phone3",
                Ok(ContactField::Standard(StandardField("Phone3"))),
            ),
            ("Contact._Budget", Ok(custom("Budget"))),
            ("Contact._2nd_choice", Ok(custom("2nd_choice"))),
            (
                "Contact.firstname",
                Err(FieldError::WrongCase {
                    name: "Contact.firstname".into(),
                    suggestion: "Contact.FirstName".into(),
                }),
            ),
            (
                "Contact.Middle",
                Err(FieldError::Unknown("Contact.Middle".into())),
            ),
            ("FirstName", Err(FieldError::Unknown("FirstName".into()))),
            (
                "Account.Name",
                Err(FieldError::Unknown("Account.Name".into())),
            ),
            ("Contact.", Err(FieldError::Unknown("Contact.".into()))),
            (
                "Contact._",
                Err(FieldError::BadCustomName("Contact._".into())),
            ),
            (
                "Contact.__x",
                Err(FieldError::BadCustomName("Contact.__x".into())),
            ),
            (
                "Contact._my field",
                Err(FieldError::BadCustomName("Contact._my field".into())),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ContactField::parse(input), want, "{input}");
        }
        let long = format!("Contact._{}", "a".repeat(65));
        assert!(ContactField::parse(&long).is_err());
    }

    #[test]
    fn field_roles() {
        let field = |s: &str| ContactField::parse(s).expect("test field");
        // (field, is_email, can_hold_phone, is_writable)
        let cases = [
            ("Contact.Email", true, false, true),
            ("Contact.Phone1", false, true, false),
            ("Contact.Phone5", false, true, false),
            ("Contact.FirstName", false, false, false),
            ("Contact._Mobile", false, true, true),
            ("Contact.EmailAddress2", false, false, false),
        ];
        for (name, email, phone, writable) in cases {
            let f = field(name);
            assert_eq!(
                (f.is_email(), f.can_hold_phone(), f.is_writable()),
                (email, phone, writable),
                "{name}"
            );
            assert_eq!(f.merge_name(), name);
        }
    }

    #[test]
    fn serialises_as_merge_names() {
        let f = ContactField::parse("Contact._Budget").expect("custom");
        assert_eq!(
            serde_json::to_string(&f).expect("serialise"),
            "\"Contact._Budget\""
        );
        let back: ContactField = serde_json::from_str("\"Contact._Budget\"").expect("parse");
        assert_eq!(back, f);
        let custom: CustomField = serde_json::from_str("\"Contact._Budget\"").expect("parse");
        assert_eq!(custom.name(), "Budget");
        assert!(serde_json::from_str::<CustomField>("\"Contact.Email\"").is_err());
    }
}
