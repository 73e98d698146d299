//! Keap's contacts, users and notes in the port's words (names, the primary e-mail, the
//! phone in E.164, custom fields and tags by name), a new contact's v2 body, and the
//! read-then-write-whole of a contact's array fields.

use serde_json::{Value, json};

use super::client::Call;
use super::{KeapCrm, contact_path, contact_subject, wire};
use crate::domain::ContactId;
use crate::domain::{Account, EmailAddress, PhoneNumber};
use crate::ports::crm::{Contact, CrmResult, NewContact, NoteUser};

impl KeapCrm {
    /// The contact's array `property` as it is now, to be written back whole (v2's PATCH
    /// removes any item it does not list).
    pub(super) async fn read_arrays(
        &self,
        account: &Account,
        contact_id: &str,
        contact: u64,
        property: &'static str,
    ) -> CrmResult<wire::ContactArrays> {
        let read =
            Call::get(contact_path(contact), contact_subject(contact_id)).query("fields", property);
        self.client.json(account, &read).await
    }

    /// Writes the contact's array `property` whole: `items` is all it holds afterwards.
    pub(super) async fn write_array(
        &self,
        account: &Account,
        contact_id: &str,
        contact: u64,
        property: &'static str,
        items: Vec<Value>,
    ) -> CrmResult<()> {
        let mut body = json!({});
        body[property] = Value::Array(items);
        let write = Call::patch(contact_path(contact), contact_subject(contact_id), body)
            .query("update_mask", property);
        self.client.send(account, &write).await.map(drop)
    }

    /// The port's view of a Keap contact. `searched` is the number the contact was found
    /// by, reported as its phone when one of its numbers is that number.
    pub(super) async fn to_contact(
        &self,
        account: &Account,
        keap: wire::Contact,
        searched: Option<&PhoneNumber>,
    ) -> CrmResult<Contact> {
        let tags = if keap.tag_ids.is_empty() {
            Vec::new()
        } else {
            self.tag_names(account, &keap.tag_ids).await?
        };
        let values: Vec<&wire::CustomFieldValue> = keap
            .custom_fields
            .iter()
            .filter(|v| !v.content.is_null())
            .collect();
        let custom_fields = if values.is_empty() {
            Default::default()
        } else {
            let ids: Vec<&wire::KeapId> = values.iter().map(|v| &v.id).collect();
            let names = self.custom_field_names(account, &ids).await?;
            values
                .into_iter()
                .map(|v| {
                    let name = names
                        .get(&v.id.0)
                        .cloned()
                        .unwrap_or_else(|| v.id.0.clone());
                    (name, content_text(&v.content))
                })
                .collect()
        };
        Ok(Contact {
            id: ContactId::new(keap.id.0),
            first_name: keap.given_name.filter(|s| !s.is_empty()),
            last_name: keap.family_name.filter(|s| !s.is_empty()),
            email: primary_email(&keap.email_addresses),
            phone: contact_phone(account, &keap.phone_numbers, searched),
            owner_id: keap
                .owner_id
                .map(|o| o.0)
                .filter(|o| !o.is_empty() && o != "0"),
            tags,
            custom_fields,
            time_zone: keap.time_zone.filter(|z| !z.trim().is_empty()),
        })
    }
}

/// "Given Family", either alone, or `None` when both are blank.
pub(super) fn full_name(given: Option<String>, family: Option<String>) -> Option<String> {
    let name = [given, family]
        .into_iter()
        .flatten()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    Some(name).filter(|n| !n.is_empty())
}

/// The user a note is assigned to; Keap writes `0` or nothing for "no user".
pub(super) fn note_user(user: wire::BasicUser) -> Option<NoteUser> {
    let id = user
        .id
        .map(|id| id.0)
        .filter(|id| !id.is_empty() && id != "0")?;
    Some(NoteUser {
        id,
        name: full_name(user.given_name, user.family_name),
        email: user
            .email_address
            .as_deref()
            .and_then(|e| EmailAddress::parse(e).ok()),
    })
}

/// EMAIL1 when it is a valid address, else the first valid one.
pub(super) fn primary_email(addresses: &[wire::EmailAddress]) -> Option<EmailAddress> {
    let parse = |e: &wire::EmailAddress| EmailAddress::parse(e.email.as_deref()?).ok();
    addresses
        .iter()
        .filter(|e| e.field.as_deref() == Some("EMAIL1"))
        .chain(addresses.iter())
        .find_map(parse)
}

/// The contact's phone in E.164: the searched number when the contact has it, else the
/// first slot (PHONE1 first) that reads as a number in the account's default country.
pub(super) fn contact_phone(
    account: &Account,
    numbers: &[wire::PhoneNumber],
    searched: Option<&PhoneNumber>,
) -> Option<PhoneNumber> {
    let mut slots: Vec<&wire::PhoneNumber> = numbers.iter().collect();
    // Unknown or missing slots sort last.
    slots.sort_by_key(|p| p.field.clone().unwrap_or_else(|| "~".into()));
    let parsed: Vec<PhoneNumber> = slots
        .into_iter()
        .filter_map(|p| {
            let e164 = p
                .number_e164
                .as_deref()
                .and_then(|n| PhoneNumber::parse_e164(n).ok());
            e164.or_else(|| account.parse_phone(p.number.as_deref()?).ok())
        })
        .collect();
    match searched {
        Some(number) if parsed.contains(number) => Some(number.clone()),
        _ => parsed.into_iter().next(),
    }
}

/// A custom field's content as text: strings as they are, anything else as JSON.
pub(super) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A new contact as Keap's v2 create body: only what the port was given, the e-mail as
/// EMAIL1 and the phone as PHONE1 (no phone `type`: see the module documentation of
/// `keap.rs`).
pub(super) fn new_contact_body(contact: &NewContact) -> Value {
    let mut body = serde_json::Map::new();
    let mut put = |key: &str, value: Value| {
        body.insert(key.to_string(), value);
    };
    if let Some(first) = &contact.first_name {
        put("given_name", json!(first));
    }
    if let Some(last) = &contact.last_name {
        put("family_name", json!(last));
    }
    if let Some(email) = &contact.email {
        put(
            "email_addresses",
            json!([{ "email": email.as_str(), "field": "EMAIL1" }]),
        );
    }
    if let Some(phone) = &contact.phone {
        put(
            "phone_numbers",
            json!([{ "number": phone.as_str(), "field": "PHONE1" }]),
        );
    }
    if let Some(owner) = &contact.owner_id {
        put("owner_id", json!(owner));
    }
    if let Some(zone) = &contact.time_zone {
        put("time_zone", json!(zone));
    }
    body.into()
}
