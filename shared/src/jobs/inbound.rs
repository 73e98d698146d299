//! The job an inbound text's webhook leaves behind: the text, for its processing (contact,
//! routing, forward, goals) off the webhook's critical path.

use serde::{Deserialize, Serialize};

use crate::domain::keywords::KeywordClass;
use crate::domain::{AccountId, MessageId, MessageSid, PhoneNumber, Timestamp};

/// The processing job the webhook leaves behind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundText {
    pub account: AccountId,
    pub message_sid: MessageSid,
    pub message_id: MessageId,
    pub from: PhoneNumber,
    pub to: PhoneNumber,
    pub body: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
    pub keyword: KeywordClass,
    pub received_at: Timestamp,
}
