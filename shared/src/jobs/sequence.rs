//! A sequence's message as its job carries it to the send path.

use serde::{Deserialize, Serialize};

use crate::domain::{AccountId, ContactId, PhoneNumber};

/// A message of a run, as its job carries it to the send path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequenceMessage {
    pub account: AccountId,
    pub sequence: String,
    pub step: String,
    pub to: PhoneNumber,
    pub contact_id: ContactId,
    /// As written in the definition; checked against the account again when sent.
    pub sender: String,
    pub body: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
}
