//! The parts of Keap's JSON that smsflow reads, per Keap's OpenAPI documents (REST v2
//! `keap-rest-v2.openapi.yml`; REST v1 for notes). Unknown fields are ignored; ids are
//! accepted as strings (v2) or integers (v1 and some v2 examples).

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A Keap id, kept as its decimal string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct KeapId(pub String);

impl<'de> Deserialize<'de> for KeapId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(i64),
        }
        Ok(KeapId(match Raw::deserialize(deserializer)? {
            Raw::Text(s) => s,
            Raw::Number(n) => n.to_string(),
        }))
    }
}

impl fmt::Display for KeapId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `Contact` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct Contact {
    pub id: KeapId,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    pub phone_numbers: Vec<PhoneNumber>,
    pub owner_id: Option<KeapId>,
    #[serde(default)]
    pub tag_ids: Vec<KeapId>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// The array properties of a contact that smsflow rewrites whole (v2 PATCH removes any
/// item not listed).
#[derive(Debug, Deserialize)]
pub(super) struct ContactArrays {
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldValue>,
}

/// `EmailAddress` (v2): `field` is `EMAIL1`..`EMAIL3`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct EmailAddress {
    pub email: Option<String>,
    pub field: Option<String>,
}

/// `PhoneNumber` (v2): `field` is `PHONE1`..`PHONE5`.
#[derive(Debug, Deserialize)]
pub(super) struct PhoneNumber {
    pub number: Option<String>,
    pub number_e164: Option<String>,
    pub field: Option<String>,
}

/// `CustomFieldValue` (v2): `content` is a string, number, boolean... by field type.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct CustomFieldValue {
    pub id: KeapId,
    #[serde(default)]
    pub content: serde_json::Value,
}

/// `ListContactsResponse` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct ContactList {
    #[serde(default)]
    pub contacts: Vec<Contact>,
}

/// `ObjectModel` (v2 `GET /contacts/model`).
#[derive(Debug, Deserialize)]
pub(super) struct ObjectModel {
    #[serde(default)]
    pub custom_fields: Vec<CustomFieldMetaData>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct CustomFieldMetaData {
    pub id: KeapId,
    pub label: Option<String>,
    pub field_name: Option<String>,
}

/// `Tag` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct Tag {
    pub id: KeapId,
    pub name: Option<String>,
}

/// `ListTagsResponse` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct TagList {
    #[serde(default)]
    pub tags: Vec<Tag>,
}

/// `ApplyTagsResponse` (v2): a result per contact id (`SUCCESS`, `DUPLICATE`,
/// `CONTACT_NOT_FOUND`, `TAG_ID_NOT_FOUND`, `FAILURE`, `NO_PERMISSION` in v1's wording).
#[derive(Debug, Deserialize)]
pub(super) struct ApplyTagsResponse {
    #[serde(default)]
    pub results: std::collections::BTreeMap<String, String>,
}

/// `User` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct User {
    pub id: KeapId,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub nickname: Option<String>,
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
}

/// `Note` (v1): ids are integers.
#[derive(Debug, Deserialize)]
pub(super) struct V1Note {
    pub id: KeapId,
    pub title: Option<String>,
    pub body: Option<String>,
    pub contact_id: Option<KeapId>,
    pub user_id: Option<KeapId>,
}

/// `AchieveGoalResponse` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct AchieveGoalResponse {
    #[serde(default)]
    pub results: Vec<GoalEventResult>,
}

/// `GoalEventResultDTO` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct GoalEventResult {
    #[serde(default)]
    pub success: bool,
}

/// Keap's error bodies: v2 `Error {code, message, status}`, OAuth
/// `{error, error_description}`, and whatever v1 sends.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ErrorBody {
    pub message: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// The token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Deserialize)]
pub(super) struct TokenResponse {
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub expires_in: Option<u64>,
}
