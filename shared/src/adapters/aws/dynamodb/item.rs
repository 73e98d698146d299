//! Items as DynamoDB holds them: primary keys (one constructor per item kind, so the key
//! formats of the table layout in the parent module live in one place), attribute values,
//! and the readers and writers of the attributes every item kind shares.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{StoreError, StoreResult};

pub(super) type Item = HashMap<String, AttributeValue>;

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) pk: String,
    pub(super) sk: String,
}

impl Key {
    pub(super) fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub(super) fn account(id: &AccountId) -> Self {
        Key::new(format!("ACCOUNT#{id}"), "ACCOUNT")
    }

    pub(super) fn account_index(id: &AccountId) -> Self {
        Key::new(ACCOUNT_INDEX_PK, id.as_str())
    }

    pub(super) fn number(number: &PhoneNumber) -> Self {
        Key::new(format!("NUMBER#{}", number.as_str()), "NUMBER")
    }

    /// `service` is in [`canonical_service_sid`] form.
    pub(super) fn service(service: &str) -> Self {
        Key::new(format!("SERVICE#{service}"), "SERVICE")
    }

    pub(super) fn services_indexed() -> Self {
        Key::new("INDEX#messaging-services", "INDEX")
    }

    pub(super) fn message(account: &AccountId, phone: &PhoneNumber, id: &str) -> Self {
        Key::new(
            conversation_pk(account, phone),
            format!("{MESSAGE_PREFIX}{id}"),
        )
    }

    pub(super) fn sid(provider_sid: &str) -> Self {
        Key::new(format!("SID#{provider_sid}"), "SID")
    }

    pub(super) fn consent(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("CONSENT#{account}#{}", phone.as_str()), "CONSENT")
    }

    pub(super) fn session(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("SESSION#{account}#{}", phone.as_str()), "SESSION")
    }

    pub(super) fn idempotency(key: &str) -> Self {
        Key::new(format!("IDEM#{key}"), "IDEM")
    }

    pub(super) fn pending(account: &AccountId) -> Self {
        Key::new(format!("ACCOUNT#{account}"), "PENDING")
    }

    /// One send counted in the account's [`Key::pending`] counter.
    pub(super) fn admitted(account: &AccountId, message_id: &str) -> Self {
        Key::new(
            format!("ACCOUNT#{account}"),
            format!("ADMITTED#{message_id}"),
        )
    }

    pub(super) fn rate(sender: &str) -> Self {
        Key::new(format!("RATE#{sender}"), "RATE")
    }

    pub(super) fn goal(account: &AccountId, call_name: &str) -> Self {
        Key::new(
            format!("ACCOUNT#{account}"),
            format!("{GOAL_PREFIX}{call_name}"),
        )
    }

    pub(super) fn contact(account: &AccountId, phone: &PhoneNumber) -> Self {
        Key::new(format!("CONTACT#{account}#{}", phone.as_str()), "CONTACT")
    }

    /// The key as the map key of `DynamoStore::batch_get`'s answer.
    pub(super) fn pair(&self) -> (String, String) {
        (self.pk.clone(), self.sk.clone())
    }

    /// The key attributes alone, for GetItem/DeleteItem/UpdateItem, or as the start of an item.
    pub(super) fn item(&self) -> Item {
        HashMap::from([
            ("pk".to_string(), s(&self.pk)),
            ("sk".to_string(), s(&self.sk)),
        ])
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.pk, self.sk)
    }
}

pub(super) const ACCOUNT_INDEX_PK: &str = "ACCOUNTS";
pub(super) const MESSAGE_PREFIX: &str = "MSG#";
pub(super) const GOAL_PREFIX: &str = "GOAL#";

pub(super) fn conversation_pk(account: &AccountId, phone: &PhoneNumber) -> String {
    format!("CONV#{account}#{}", phone.as_str())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key of a stored item, for error messages about it.
fn describe(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.as_str(),
        _ => "?",
    };
    format!("{}/{}", part("pk"), part("sk"))
}

pub(super) fn corrupt(item: &Item, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: describe(item),
        detail: detail.into(),
    }
}

pub(super) fn string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<&'a str> {
    optional_string_attr(item, name)?
        .ok_or_else(|| corrupt(item, format!("attribute {name} is missing")))
}

pub(super) fn optional_string_attr<'a>(item: &'a Item, name: &str) -> StoreResult<Option<&'a str>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v.as_str())),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a string"))),
    }
}

pub(super) fn number_attr(item: &Item, name: &str) -> StoreResult<i64> {
    optional_number_attr(item, name)?
        .ok_or_else(|| corrupt(item, format!("attribute {name} is missing")))
}

pub(super) fn optional_number_attr(item: &Item, name: &str) -> StoreResult<Option<i64>> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|_| corrupt(item, format!("attribute {name} is not an integer: {v}"))),
        Some(_) => Err(corrupt(item, format!("attribute {name} is not a number"))),
    }
}

pub(super) fn timestamp_attr(item: &Item, name: &str) -> StoreResult<Timestamp> {
    number_attr(item, name).map(Timestamp::from_millis)
}

/// Decodes the JSON payload in `data`.
pub(super) fn decode<T: DeserializeOwned>(item: &Item) -> StoreResult<T> {
    let json = string_attr(item, "data")?;
    serde_json::from_str(json).map_err(|e| corrupt(item, format!("data: {e}")))
}

/// Encodes a payload for `data`. Our types always serialise; a failure means a bug, reported
/// against the item it was meant for.
pub(super) fn encode<T: Serialize>(value: &T, key: &Key) -> StoreResult<AttributeValue> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: format!("cannot encode: {e}"),
        })
}

/// A key-plus-attributes item.
pub(super) fn item_with(
    key: &Key,
    attributes: impl IntoIterator<Item = (&'static str, AttributeValue)>,
) -> Item {
    let mut item = key.item();
    item.extend(attributes.into_iter().map(|(k, v)| (k.to_string(), v)));
    item
}

/// The attributes every expiring item carries: milliseconds for our reads, seconds for TTL.
pub(super) fn expiry_attributes(expires_at: Timestamp) -> [(&'static str, AttributeValue); 2] {
    [
        ("expires_at_ms", n(expires_at.as_millis())),
        ("expires_at", n(expires_at.as_secs())),
    ]
}

pub(super) fn is_live(item: &Item, now: Timestamp) -> StoreResult<bool> {
    Ok(timestamp_attr(item, "expires_at_ms")? > now)
}
