//! Contacts: the v2 list (by phone), create, read and update routes, and the sandbox's view
//! of them as the port's [`Contact`].

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};
use smsflow_shared::domain::{ContactId, EmailAddress, PhoneNumber};
use smsflow_shared::ports::crm::{Contact, CrmError, CrmResult, NewContact};

use super::fields::{custom_field_list, custom_field_texts, custom_field_values, tag_names};
use super::http::{
    Caller, KeapError, answer, error, filter_conditions, json_body, json_object,
    only_known_properties, page_size, path_id, record_mut,
};
use super::{App, KeapMock};

const CONTACT_PROPERTIES: [&str; 8] = [
    "given_name",
    "family_name",
    "email_addresses",
    "phone_numbers",
    "owner_id",
    "custom_fields",
    "addresses",
    "middle_name",
];

const SLOTS_EMAIL: [&str; 3] = ["EMAIL1", "EMAIL2", "EMAIL3"];

const SLOTS_PHONE: [&str; 5] = ["PHONE1", "PHONE2", "PHONE3", "PHONE4", "PHONE5"];

/// Checks `EmailAddressRequest` / `PhoneNumber` items and returns them as stored.
fn slotted_items(
    value: &Value,
    what: &str,
    key: &str,
    slots: &[&str],
) -> Result<Vec<Value>, KeapError> {
    let bad = |why: &str| error(StatusCode::BAD_REQUEST, format!("{what}: {why}"));
    let items = value.as_array().ok_or_else(|| bad("must be an array"))?;
    items
        .iter()
        .map(|item| {
            let field = item["field"].as_str().unwrap_or_default();
            if !slots.contains(&field) {
                return Err(bad(&format!("field '{field}' is not one of {slots:?}")));
            }
            let text = item[key]
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(&format!("{key} is required")))?;
            let mut stored = json!({ key: text, "field": field });
            if key == "number" && text.starts_with('+') {
                stored["number_e164"] = json!(text);
            }
            Ok(stored)
        })
        .collect()
}

pub(super) async fn list_contacts(
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    caller.answer(|app| {
        let conditions = filter_conditions(query.get("filter"))?;
        let phone = conditions.get("phone_number");
        let slots: Vec<&str> = match (phone, conditions.get("phone_fields")) {
            (Some(_), None) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    "phone_number requires phone_fields",
                ));
            }
            (_, Some(fields)) => fields.split(',').collect(),
            (None, None) => Vec::new(),
        };
        let descending = match query.get("order_by").map(String::as_str) {
            None | Some("id asc") | Some("id") => false,
            Some("id desc") => true,
            Some(other) => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("unsupported order_by '{other}'"),
                ));
            }
        };
        let size = page_size(&query)?;
        let mut contacts: Vec<&Value> = app
            .contacts
            .values()
            .filter(|c| {
                phone.is_none_or(|number| {
                    c["phone_numbers"].as_array().is_some_and(|numbers| {
                        numbers.iter().any(|n| {
                            n["number"].as_str() == Some(number.as_str())
                                && slots.contains(&n["field"].as_str().unwrap_or_default())
                        })
                    })
                })
            })
            .collect();
        if descending {
            contacts.reverse();
        }
        contacts.truncate(size);
        Ok(answer(
            StatusCode::OK,
            json!({ "contacts": contacts, "next_page_token": null }),
        ))
    })
}

pub(super) async fn create_contact(caller: Caller, body: Bytes) -> Response {
    caller.answer(|app| {
        let body = json_object(&body)?;
        let contact = insert_contact(app, &body)?;
        Ok(answer(StatusCode::CREATED, contact))
    })
}

/// Checks a v2 create-contact body and stores the contact; the stored contact.
fn insert_contact(app: &mut App, body: &Map<String, Value>) -> Result<Value, KeapError> {
    only_known_properties(body, &CONTACT_PROPERTIES)?;
    let emails = match body.get("email_addresses") {
        Some(v) => slotted_items(v, "email_addresses", "email", &SLOTS_EMAIL)?,
        None => Vec::new(),
    };
    let phones = match body.get("phone_numbers") {
        Some(v) => slotted_items(v, "phone_numbers", "number", &SLOTS_PHONE)?,
        None => Vec::new(),
    };
    if emails.is_empty() && phones.is_empty() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "Contact must contain at least one item in email_addresses, phone_numbers, or addresses",
        ));
    }
    if body.get("owner_id").is_some_and(|o| !o.is_string()) {
        return Err(error(StatusCode::BAD_REQUEST, "owner_id must be a string"));
    }
    let values = match body.get("custom_fields") {
        Some(v) => custom_field_values(app, v)?,
        None => HashMap::new(),
    };
    let id = app.new_id();
    let contact = json!({
        "id": id.to_string(),
        "given_name": body.get("given_name"),
        "family_name": body.get("family_name"),
        "email_addresses": emails,
        "phone_numbers": phones,
        "owner_id": body.get("owner_id"),
        "tag_ids": [],
        "custom_fields": custom_field_list(app, &values),
        "create_time": "2026-01-01T00:00:00Z",
    });
    app.contacts.insert(id, contact.clone());
    Ok(contact)
}

pub(super) async fn get_contact(caller: Caller, Path(contact_id): Path<String>) -> Response {
    caller.answer_record("Contact", &contact_id, |app| &app.contacts)
}

pub(super) async fn update_contact(
    caller: Caller,
    Path(contact_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    caller.answer(|app| {
        let id = path_id(&contact_id, "contact")?;
        let body = json_body(&body, &CONTACT_PROPERTIES)?;
        let mask: Option<Vec<&str>> = query.get("update_mask").map(|m| m.split(',').collect());
        let applies =
            |key: &str| body.contains_key(key) && mask.as_ref().is_none_or(|m| m.contains(&key));
        let emails = if applies("email_addresses") {
            Some(slotted_items(
                &body["email_addresses"],
                "email_addresses",
                "email",
                &SLOTS_EMAIL,
            )?)
        } else {
            None
        };
        let values = if applies("custom_fields") {
            Some(custom_field_values(app, &body["custom_fields"])?)
        } else {
            None
        };
        let fields = values.map(|v| custom_field_list(app, &v));
        let contact = record_mut(&mut app.contacts, "Contact", id)?;
        if let Some(emails) = emails {
            contact["email_addresses"] = Value::Array(emails);
        }
        if let Some(fields) = fields {
            contact["custom_fields"] = fields;
        }
        for key in ["given_name", "family_name", "owner_id"] {
            if applies(key) {
                contact[key] = body[key].clone();
            }
        }
        Ok(answer(StatusCode::OK, contact.clone()))
    })
}

/// The sandbox's view of an app's contacts, and contacts created as someone working in the CRM
/// would.
impl KeapMock {
    /// The app's contacts, by id.
    pub fn contacts(&self, api_key: &str) -> Vec<Contact> {
        self.read_app(api_key, |app| {
            app.contacts
                .values()
                .map(|contact| port_contact(app, contact))
                .collect()
        })
    }

    /// Creates a contact, as someone working in Keap would: like a v2 create, plus the
    /// contact's time zone (Keap keeps one; the v2 create of this mock refuses it as an
    /// unknown property, as smsflow never sends one).
    pub fn create_contact(&self, api_key: &str, new: &NewContact) -> CrmResult<Contact> {
        if new.email.is_none() && new.phone.is_none() {
            return Err(CrmError::Rejected(
                "a contact needs an e-mail address or a phone number".into(),
            ));
        }
        let body = create_contact_body(new);
        self.in_existing_app(api_key, |app| {
            let mut contact = insert_contact(app, &body).map_err(CrmError::from)?;
            if let Some(zone) = &new.time_zone {
                contact["time_zone"] = json!(zone);
                if let Some(stored) = contact_id(&contact).and_then(|id| app.contacts.get_mut(&id))
                {
                    stored["time_zone"] = json!(zone);
                }
            }
            Ok(port_contact(app, &contact))
        })
    }
}

/// The v2 create-contact body smsflow's adapter would send for `new` (without its time
/// zone).
fn create_contact_body(new: &NewContact) -> Map<String, Value> {
    let mut body = Map::new();
    let fields = [
        ("given_name", new.first_name.as_ref().map(|n| json!(n))),
        ("family_name", new.last_name.as_ref().map(|n| json!(n))),
        (
            "email_addresses",
            new.email
                .as_ref()
                .map(|e| json!([{ "email": e.as_str(), "field": "EMAIL1" }])),
        ),
        (
            "phone_numbers",
            new.phone
                .as_ref()
                .map(|p| json!([{ "number": p.as_str(), "field": "PHONE1" }])),
        ),
        ("owner_id", new.owner_id.as_ref().map(|o| json!(o))),
    ];
    for (key, value) in fields {
        if let Some(value) = value {
            body.insert(key.to_string(), value);
        }
    }
    body
}

fn contact_id(contact: &Value) -> Option<u64> {
    contact["id"].as_str()?.parse().ok()
}

/// A stored v2 contact as the port's [`Contact`].
fn port_contact(app: &App, contact: &Value) -> Contact {
    let text = |key: &str| {
        contact[key]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .map(str::to_string)
    };
    Contact {
        id: ContactId::new(text("id").unwrap_or_default()),
        first_name: text("given_name"),
        last_name: text("family_name"),
        email: slot_value(&contact["email_addresses"], "email", "EMAIL1")
            .and_then(|e| EmailAddress::parse(e).ok()),
        phone: slot_value(&contact["phone_numbers"], "number", "PHONE1")
            .and_then(|p| PhoneNumber::parse_e164(p).ok()),
        owner_id: text("owner_id").filter(|o| o != "0"),
        tags: tag_names(app, &contact["tag_ids"]),
        custom_fields: custom_field_texts(app, &contact["custom_fields"]),
        time_zone: text("time_zone"),
    }
}

/// `key` of the item in slot `preferred`, else of the first item.
fn slot_value<'a>(items: &'a Value, key: &str, preferred: &str) -> Option<&'a str> {
    let items = items.as_array()?;
    items
        .iter()
        .find(|item| item["field"] == preferred)
        .or_else(|| items.first())
        .and_then(|item| item[key].as_str())
}
