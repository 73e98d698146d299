//! SMS provider port (Twilio, Instasent, or the sandbox carrier locally). Neutral: the
//! credentials say which provider a message goes through, and a refusal carries
//! smsflow's own error class (`domain/twilio_errors.rs`, `domain/instasent_errors.rs`)
//! beside the provider's raw code for display.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::sender::SenderSpec;
use crate::domain::twilio_errors::ErrorClass;
use crate::domain::{MessageSid, MessageStatus, PhoneNumber, ProviderCredentials};
use crate::domain::{SmsProviderKind, Timestamp};

/// Who a message is sent from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Sender {
    Number(PhoneNumber),
    /// `MG…`: Twilio picks a number from the service's pool.
    MessagingService(String),
    /// Up to 11 characters with at least one letter.
    Alphanumeric(String),
}

impl Sender {
    /// The value the provider reports back as the sender (`From` or the service SID).
    pub fn as_str(&self) -> &str {
        match self {
            Sender::Number(n) => n.as_str(),
            Sender::MessagingService(s) | Sender::Alphanumeric(s) => s,
        }
    }

    /// The number, when the sender is one (it may name its own provider).
    pub fn number(&self) -> Option<&PhoneNumber> {
        match self {
            Sender::Number(n) => Some(n),
            Sender::MessagingService(_) | Sender::Alphanumeric(_) => None,
        }
    }
}

/// A sender checked against its account becomes the provider's sender. (Here rather than
/// in the domain, which does not depend on ports.)
impl From<SenderSpec> for Sender {
    fn from(spec: SenderSpec) -> Self {
        match spec {
            SenderSpec::Number(n) => Sender::Number(n),
            SenderSpec::MessagingService(sid) => Sender::MessagingService(sid),
            SenderSpec::Alphanumeric(id) => Sender::Alphanumeric(id.as_str().to_string()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundSms {
    pub to: PhoneNumber,
    pub sender: Sender,
    pub body: String,
    pub media_urls: Vec<String>,
    /// Where the provider posts delivery reports: Twilio takes it with each message;
    /// Instasent has one callback URL per API token, set in its dashboard, so its adapter
    /// leaves it out (the sandbox carrier still posts there).
    pub status_callback: Option<String>,
    /// smsflow's id of the message (Instasent's `clientId`, at most 40 characters).
    #[serde(default)]
    pub client_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAccepted {
    /// `SM…` / `MM…`.
    pub sid: MessageSid,
    pub status: MessageStatus,
    pub segments: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsError {
    /// The provider refused the message for good (invalid number, opted out, out of
    /// balance...). `code` is the provider's own (Twilio's error code; Instasent's HTTP
    /// status, its error bodies carrying none), `class` what it means for us.
    #[error("provider rejected the message: {code} {message}")]
    Rejected {
        code: u32,
        class: ErrorClass,
        message: String,
        http_status: u16,
    },
    /// Too many requests or a full queue: retry later. `code` as for `Rejected`.
    #[error("provider rate limited the request ({code})")]
    RateLimited {
        code: u32,
        retry_after: Option<Duration>,
    },
    /// The request did not reach the provider, or the provider failed before accepting it
    /// (5xx): safe to retry.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The request may have reached the provider but no answer came back (timeout): the
    /// message may have been sent. Never retry blindly.
    #[error("provider outcome unknown: {0}")]
    OutcomeUnknown(String),
}

impl SmsError {
    /// A message handed to an adapter of another provider than its credentials name: a
    /// wiring fault, refused for good rather than sent anywhere.
    pub fn wrong_provider(adapter: SmsProviderKind, credentials: SmsProviderKind) -> Self {
        SmsError::Rejected {
            code: 0,
            class: ErrorClass::Other,
            message: format!("the {adapter} adapter was given {credentials} credentials"),
            http_status: 0,
        }
    }
}

#[async_trait]
pub trait SmsProvider: Send + Sync {
    async fn send(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
    ) -> Result<ProviderAccepted, SmsError>;

    /// The message the provider took for `sms` (same recipient, sender and text) at or
    /// after `since`, if it has one: how a send whose answer was lost (the process died
    /// during the call) is resolved, neither sent twice nor lost.
    async fn find_sent(
        &self,
        credentials: ProviderCredentials<'_>,
        sms: &OutboundSms,
        since: Timestamp,
    ) -> Result<Option<ProviderAccepted>, SmsError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sender::AlphanumericSenderId;

    #[test]
    fn sender_spec_becomes_the_same_sender() {
        let number = PhoneNumber::parse_e164("+12025550101").expect("valid number");
        let sid = "MG0123456789abcdef0123456789abcdef";
        let alpha = AlphanumericSenderId::parse("ACME").expect("valid alphanumeric id");
        let cases = [
            (SenderSpec::Number(number.clone()), Sender::Number(number)),
            (
                SenderSpec::MessagingService(sid.into()),
                Sender::MessagingService(sid.into()),
            ),
            (
                SenderSpec::Alphanumeric(alpha),
                Sender::Alphanumeric("ACME".into()),
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(spec.as_str(), want.as_str(), "{spec:?}");
            assert_eq!(Sender::from(spec), want);
        }
    }
}
