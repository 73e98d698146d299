//! A CRM's send request (`POST /crm/{account}/send`), read and checked against its account.
//!
//! Keap's "Send HTTP Post" can only send name/value pairs, so the request is a flat list
//! of fields, from a form body, a JSON object, or the URL's query string. Field names are
//! matched without regard to case; the canonical spellings are the README's:
//!
//! | field | meaning |
//! |---|---|
//! | `contactId` | the CRM contact (its mobile is used when no `phone` is given) |
//! | `phone` | the recipient, E.164 or national in the account's default country |
//! | `message` | the body, with merge fields (`~Contact.FirstName~`, `~User.Name~`...) |
//! | `media` | media URLs: repeat the field, give a JSON array, or separate with spaces/commas |
//! | `from` | the sender: an account number, a Messaging Service SID or an alphanumeric id (default: the account's first number) |
//! | `reply` | the user who gets the replies (campaign sends), by id or e-mail |
//! | `user` | the user a manual send goes out for (replies go to them too), by id or e-mail |
//! | `type` | `bulk` (default), `transactional` or `alert` |
//! | `subscription` | the contact's SMS subscription as the CRM knows it (`subscribed`, `unsubscribed`, `none`) |
//! | `campaign` | a label for automated sends, kept on the message |
//! | `requestId` | the CRM's id of this request: a repeat with the same id is answered once |
//!
//! Parsing checks everything that can be checked without the CRM; the body is checked
//! again after its merge fields are rendered (that is the text Twilio receives).

use std::collections::BTreeMap;

use serde_json::Value;

use super::account::{Account, UserLookupError};
use super::consent::{SendKind, SubscriptionStatus, UnknownConsentValue};
use super::ids::ContactId;
use super::merge::{self, MergeError};
use super::phone::{PhoneError, PhoneNumber};
use super::send_content::{ContentError, check_content};
use super::sender::{SenderError, SenderSpec};

/// Longest `requestId`, `contactId` or `campaign` we keep (they end up in storage keys).
pub const MAX_ID_LENGTH: usize = 128;

/// Stands in for a body made only of merge fields while its content is checked: not
/// empty, and as short as a rendering can be.
const FIELDS_ONLY: &str = "~";

/// The request's fields, names lower-cased, values in order of appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendFields(BTreeMap<String, Vec<String>>);

/// Why a body is not a send request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    #[error("the body is not valid JSON: {0}")]
    Json(String),
    #[error("a JSON send request must be an object of fields")]
    NotAnObject,
    #[error("field '{0}' must be a string, number, boolean or a list of them")]
    NestedValue(String),
    #[error("the body is not application/x-www-form-urlencoded: {0}")]
    Form(String),
}

impl SendFields {
    /// Fields from a form body (or a query string).
    pub fn from_form(body: &[u8]) -> Result<SendFields, FieldsError> {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| FieldsError::Form(e.to_string()))?;
        let mut fields = SendFields::default();
        fields.extend(pairs);
        Ok(fields)
    }

    /// Fields from a JSON object; arrays are repeated fields.
    pub fn from_json(body: &[u8]) -> Result<SendFields, FieldsError> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| FieldsError::Json(e.to_string()))?;
        let Value::Object(object) = value else {
            return Err(FieldsError::NotAnObject);
        };
        let mut fields = SendFields::default();
        for (name, value) in object {
            let values = match value {
                Value::Array(items) => items,
                other => vec![other],
            };
            for item in values {
                let text = match item {
                    Value::Null => continue,
                    Value::String(s) => s,
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    Value::Array(_) | Value::Object(_) => {
                        return Err(FieldsError::NestedValue(name));
                    }
                };
                fields.push(&name, text);
            }
        }
        Ok(fields)
    }

    /// Adds pairs; fields of the body win over the same fields of the query string because
    /// the caller extends with the body last and [`SendFields::get`] reads the last value.
    pub fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in pairs {
            self.push(&name, value);
        }
    }

    /// Adds another source's fields after these (so its values win).
    pub fn merge(&mut self, other: SendFields) {
        for (name, values) in other.0 {
            self.0.entry(name).or_default().extend(values);
        }
    }

    fn push(&mut self, name: &str, value: String) {
        self.0
            .entry(name.to_ascii_lowercase())
            .or_default()
            .push(value);
    }

    /// The field's last non-blank value, trimmed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(&name.to_ascii_lowercase())?
            .iter()
            .rev()
            .map(|v| v.trim())
            .find(|v| !v.is_empty())
    }

    /// The field's last value exactly as sent (a body keeps its spaces and line breaks).
    fn raw(&self, name: &str) -> Option<&str> {
        self.0
            .get(&name.to_ascii_lowercase())?
            .last()
            .map(String::as_str)
    }

    /// Every value of a field.
    pub fn all(&self, name: &str) -> &[String] {
        self.0
            .get(&name.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }
}

/// Who receives the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A phone given in the request.
    Phone(PhoneNumber),
    /// Only a contact id: the contact's mobile comes from the CRM.
    ContactMobile,
    /// The account's alert number (send kind `alert`, see `docs/glossary.md`).
    AlertNumber(PhoneNumber),
}

/// A send request that passed every check possible before talking to the CRM.
#[derive(Debug, Clone, PartialEq)]
pub struct SendRequest {
    pub request_id: Option<String>,
    pub contact_id: Option<ContactId>,
    pub recipient: Recipient,
    /// The body with its merge fields still in it (syntax already checked).
    pub template: String,
    pub media_urls: Vec<String>,
    pub sender: SenderSpec,
    /// The account user a manual send goes out for (its id, whichever way it was named).
    pub user: Option<String>,
    /// The account user who gets replies to a campaign send (its id).
    pub reply_to: Option<String>,
    pub kind: SendKind,
    pub subscription: Option<SubscriptionStatus>,
    pub campaign: Option<String>,
}

impl SendRequest {
    /// The user replies route to: the manual sender, else the campaign's reply-to user.
    pub fn routing_user(&self) -> Option<&str> {
        self.user.as_deref().or(self.reply_to.as_deref())
    }

    /// Whether the body needs the CRM contact's fields.
    pub fn needs_contact_fields(&self) -> bool {
        merge::fields_in(&self.template)
            .iter()
            .any(|f| f.starts_with("Contact."))
    }
}

/// Why a send request was refused before anything happened. `code()` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendRequestError {
    #[error("give the recipient as phone=... or contactId=... (or type=alert)")]
    MissingRecipient,
    #[error("phone '{input}' is not a valid number: {problem}")]
    InvalidPhone { input: String, problem: PhoneError },
    #[error("type=alert needs an alert number on the account, and it has none")]
    NoAlertNumber,
    /// Instasent sends text only: refused before anything is queued, not at send time.
    #[error("sender {sender} sends through Instasent, which sends text only: leave the media out")]
    MediaOnInstasent { sender: String },
    #[error(transparent)]
    Content(#[from] ContentError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Sender(#[from] SenderError),
    #[error(
        "{field}: account {account} has no user with id or e-mail '{given}' (`smsflow users \
         list --account {account}` lists its users)"
    )]
    UnknownUser {
        field: &'static str,
        given: String,
        account: String,
    },
    #[error(
        "{field}: users {} share the e-mail '{given}'; name one by its id",
        .ids.join(", ")
    )]
    AmbiguousUser {
        field: &'static str,
        given: String,
        ids: Vec<String>,
    },
    #[error(transparent)]
    InvalidValue(#[from] UnknownConsentValue),
    #[error("{field} is longer than {MAX_ID_LENGTH} characters")]
    TooLong { field: &'static str },
}

impl SendRequestError {
    pub fn code(&self) -> &'static str {
        match self {
            SendRequestError::MissingRecipient => "missing_recipient",
            SendRequestError::InvalidPhone { .. } => "invalid_phone",
            SendRequestError::NoAlertNumber => "no_alert_number",
            SendRequestError::MediaOnInstasent { .. } => "media_not_supported",
            SendRequestError::Content(e) => e.code(),
            SendRequestError::Merge(e) => e.code(),
            SendRequestError::Sender(e) => e.code(),
            SendRequestError::UnknownUser { .. } => "unknown_user",
            SendRequestError::AmbiguousUser { .. } => "ambiguous_user",
            SendRequestError::InvalidValue(_) => "invalid_value",
            SendRequestError::TooLong { .. } => "field_too_long",
        }
    }
}

/// Reads a send request for `account`. Errors come in the order a person fixes a form:
/// recipient, content, sender, users, the rest.
pub fn parse_send_request(
    fields: &SendFields,
    account: &Account,
) -> Result<SendRequest, SendRequestError> {
    let kind = match fields.get("type") {
        Some(word) => word.to_ascii_lowercase().parse::<SendKind>()?,
        None => SendKind::Bulk,
    };
    let contact_id = bounded(fields.get("contactId"), "contactId")?.map(ContactId::new);
    let recipient = recipient(fields, account, kind, contact_id.is_some())?;
    let template = fields.raw("message").unwrap_or_default().to_string();
    let media_urls = check_body_and_media(&template, fields)?;
    let sender = sender(fields, account)?;
    text_only_on_instasent(&sender, &media_urls, account)?;
    let user = known_user(fields.get("user"), "user", account)?;
    let reply_to = known_user(fields.get("reply"), "reply", account)?;
    let subscription = fields
        .get("subscription")
        .map(|word| word.to_ascii_lowercase().parse::<SubscriptionStatus>())
        .transpose()?;
    Ok(SendRequest {
        request_id: bounded(fields.get("requestId"), "requestId")?,
        contact_id,
        recipient,
        template,
        media_urls,
        sender,
        user,
        reply_to,
        kind,
        subscription,
        campaign: bounded(fields.get("campaign"), "campaign")?,
    })
}

/// The account's alert number for an alert; else the phone given, else the contact's mobile.
fn recipient(
    fields: &SendFields,
    account: &Account,
    kind: SendKind,
    has_contact_id: bool,
) -> Result<Recipient, SendRequestError> {
    if kind == SendKind::Alert {
        return account
            .alert_number
            .clone()
            .map(Recipient::AlertNumber)
            .ok_or(SendRequestError::NoAlertNumber);
    }
    match (fields.get("phone"), has_contact_id) {
        (Some(input), _) => account
            .parse_phone(input)
            .map(Recipient::Phone)
            .map_err(|problem| SendRequestError::InvalidPhone {
                input: input.to_string(),
                problem,
            }),
        (None, true) => Ok(Recipient::ContactMobile),
        (None, false) => Err(SendRequestError::MissingRecipient),
    }
}

/// Checks the body's merge syntax and content with the media; returns the media URLs.
fn check_body_and_media(
    template: &str,
    fields: &SendFields,
) -> Result<Vec<String>, SendRequestError> {
    let media = media_urls(fields);
    // The shortest the body can render to (every field empty) also checks the merge
    // syntax. A body of nothing but fields is not empty until the contact says so; its
    // length is checked again once rendered.
    let shortest = merge::render(template, &|_| Some(String::new()))?;
    let probe = if shortest.trim().is_empty() && !template.trim().is_empty() {
        FIELDS_ONLY
    } else {
        &shortest
    };
    Ok(check_content(probe, &media)?.media_urls)
}

/// The sender asked for, else the account's first number.
fn sender(fields: &SendFields, account: &Account) -> Result<SenderSpec, SendRequestError> {
    match fields.get("from") {
        Some(input) => Ok(SenderSpec::parse(input, account)?),
        None => Ok(account
            .numbers
            .first()
            .map(|n| SenderSpec::Number(n.number.clone()))
            .ok_or(SenderError::Missing)?),
    }
}

/// Media is refused for a sender on Instasent, which cannot send it.
fn text_only_on_instasent(
    sender: &SenderSpec,
    media_urls: &[String],
    account: &Account,
) -> Result<(), SendRequestError> {
    let number = match sender {
        SenderSpec::Number(n) => Some(n),
        SenderSpec::MessagingService(_) | SenderSpec::Alphanumeric(_) => None,
    };
    let on_instasent = account.provider_of(number) == super::SmsProviderKind::Instasent;
    if on_instasent && !media_urls.is_empty() {
        return Err(SendRequestError::MediaOnInstasent {
            sender: sender.as_str().to_string(),
        });
    }
    Ok(())
}

fn bounded(value: Option<&str>, field: &'static str) -> Result<Option<String>, SendRequestError> {
    match value {
        Some(v) if v.chars().count() > MAX_ID_LENGTH => Err(SendRequestError::TooLong { field }),
        v => Ok(v.map(str::to_string)),
    }
}

/// The id of the user a field names by id or e-mail ([`Account::find_user`]).
fn known_user(
    given: Option<&str>,
    field: &'static str,
    account: &Account,
) -> Result<Option<String>, SendRequestError> {
    let Some(given) = given else {
        return Ok(None);
    };
    match account.find_user(given) {
        Ok(user) => Ok(Some(user.id.clone())),
        Err(UserLookupError::Unknown) => Err(SendRequestError::UnknownUser {
            field,
            given: given.to_string(),
            account: account.id.to_string(),
        }),
        Err(UserLookupError::Ambiguous(ids)) => Err(SendRequestError::AmbiguousUser {
            field,
            given: given.to_string(),
            ids,
        }),
    }
}

/// Media URLs from every `media` value, each split on whitespace and commas (a CRM field
/// merged into one value holds a list); blanks dropped.
fn media_urls(fields: &SendFields) -> Vec<String> {
    fields
        .all("media")
        .iter()
        .flat_map(|v| v.split(|c: char| c.is_whitespace() || c == ','))
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests;
