//! A Twilio webhook request as it arrived (an inbound text or a status callback): its form
//! fields and its signature, read the same way for both.

use crate::domain::twilio_signature;

/// A webhook request as it arrived.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    /// The URL Twilio called, as Twilio signed it.
    pub url: String,
    pub signature: Option<String>,
    /// Every form field, in order, values untouched (signatures cover them exactly).
    pub params: Vec<(String, String)>,
}

/// A field the request must carry is missing or empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("missing form field {0}")]
pub struct MissingField(pub String);

impl WebhookRequest {
    /// The first field `name`, as sent (an inbound MMS may carry an empty `Body`).
    pub fn field(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first field `name` unless it is empty.
    pub fn non_empty(&self, name: &str) -> Option<&str> {
        self.field(name).filter(|v| !v.is_empty())
    }

    /// The first field `name`, which must be there and not empty.
    pub fn required(&self, name: &str) -> Result<&str, MissingField> {
        self.non_empty(name)
            .ok_or_else(|| MissingField(name.to_string()))
    }

    /// Whether Twilio signed this request with `auth_token` (the account's).
    pub fn signed_with(&self, auth_token: &str) -> bool {
        twilio_signature::validate(
            auth_token,
            &self.url,
            &self.params,
            self.signature.as_deref(),
        )
    }
}
