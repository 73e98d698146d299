//! The parts of Keap's JSON that smsflow reads, per Keap's OpenAPI documents (REST v2
//! `keap-rest-v2.openapi.yml`; REST v1 for notes). Unknown fields are ignored; ids are
//! accepted as strings (v2) or integers (v1 and some v2 examples).

use std::fmt;

use serde::{Deserialize, Deserializer};

use crate::domain::Timestamp;

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
    pub time_zone: Option<String>,
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

/// `Note` (v2), as listed: only what finding the last call note reads.
#[derive(Debug, Deserialize)]
pub(super) struct V2Note {
    pub id: KeapId,
    #[serde(rename = "type")]
    pub note_type: Option<String>,
    pub assigned_to_user: Option<BasicUser>,
    /// ISO-8601.
    pub create_time: Option<String>,
}

/// `BasicUser` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct BasicUser {
    pub id: Option<KeapId>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email_address: Option<String>,
}

/// `ListNotesResponse` (v2).
#[derive(Debug, Deserialize)]
pub(super) struct NoteList {
    #[serde(default)]
    pub notes: Vec<V2Note>,
    pub next_page_token: Option<String>,
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

/// An ISO-8601 date-time as Keap writes them (`2024-01-10T08:00:00Z` in v2,
/// `2017-03-22T15:08:46.000+0000` in v1): date, `T`, time with optional fraction, then `Z`
/// or an offset (`+HH:MM` or `+HHMM`). `None` for anything else.
pub(super) fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let (date, rest) = text.split_once(['T', 't'])?;
    let mut date_parts = date.splitn(3, '-');
    let year: i64 = digits(date_parts.next()?, 4)?;
    let month = digits(date_parts.next()?, 2)?;
    let day = digits(date_parts.next()?, 2)?;
    // The time ends where the zone begins.
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (time, zone) = rest.split_at(zone_at);
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    let mut clock_parts = clock.splitn(3, ':');
    let hour = digits(clock_parts.next()?, 2)?;
    let minute = digits(clock_parts.next()?, 2)?;
    let second = digits(clock_parts.next()?, 2)?;
    let millis = match fraction {
        None => 0,
        Some(f) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => {
            // Milliseconds: the first three digits, padded.
            let ms: String = f.chars().chain("00".chars()).take(3).collect();
            ms.parse::<i64>().ok()?
        }
        Some(_) => return None,
    };
    let offset_minutes = match zone {
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let hhmm = zone[1..].replace(':', "");
            if hhmm.len() != 4 {
                return None;
            }
            let hours: i64 = digits(&hhmm[..2], 2)?;
            let minutes: i64 = digits(&hhmm[2..], 2)?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            sign * (hours * 60 + minutes)
        }
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return None,
    };
    // 60 is a leap second.
    if !(1..=days_in_month).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(Timestamp::from_millis(seconds * 1000 + millis))
}

/// Exactly `len` ASCII digits as a number.
fn digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let shifted_month = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keap_times_parse_to_epoch_millis() {
        let cases = [
            ("1970-01-01T00:00:00Z", Some(0)),
            ("2024-01-10T08:00:00Z", Some(1_704_873_600_000)),
            ("2024-01-10T08:00:00.321Z", Some(1_704_873_600_321)),
            ("2024-01-10T08:00:00.3Z", Some(1_704_873_600_300)),
            ("2024-01-10T08:00:00.123456Z", Some(1_704_873_600_123)),
            ("2017-03-22T15:08:46.000+0000", Some(1_490_195_326_000)),
            ("2024-01-10T03:00:00-05:00", Some(1_704_873_600_000)),
            ("2024-01-10T09:30:00+01:30", Some(1_704_873_600_000)),
            ("2000-02-29T00:00:00Z", Some(951_782_400_000)),
            ("1969-12-31T23:59:00Z", Some(-60_000)),
            ("2023-02-29T00:00:00Z", None),
            ("2024-13-01T00:00:00Z", None),
            ("2024-01-10T24:00:00Z", None),
            ("2024-01-10T08:00:00", None),
            ("2024-01-10 08:00:00Z", None),
            ("2024-01-10T08:00Z", None),
            ("2024-01-10T08:00:00.Z", None),
            ("2024-01-10T08:00:00+5", None),
            ("", None),
            ("yesterday", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_time(text).map(Timestamp::as_millis),
                expected,
                "{text:?}"
            );
        }
    }
}
