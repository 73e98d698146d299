//! Messages on a conversation and the forward-only ordering of their delivery status.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::account::AccountId;
use super::ids::{ContactId, MessageId, MessageSid};
use super::phone::PhoneNumber;
use super::routing::{LastSms, RoutingDecision};
use super::time::Timestamp;
use super::words::enum_words;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// Twilio's message statuses (the `MessageStatus` of callbacks and the REST resource).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Accepted,
    Scheduled,
    Queued,
    Sending,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    Canceled,
    Read,
    Receiving,
    Received,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a message status")]
pub struct UnknownStatus(pub String);

impl MessageStatus {
    /// Position in the forward-only order `queued < sending < sent < final < read`: a
    /// status only replaces one of lower rank that is not an end ([`Self::ENDS`]), so late
    /// and duplicate callbacks converge.
    pub fn rank(self) -> u8 {
        match self {
            MessageStatus::Accepted | MessageStatus::Scheduled => 0,
            MessageStatus::Queued => 1,
            MessageStatus::Sending | MessageStatus::Receiving => 2,
            MessageStatus::Sent => 3,
            MessageStatus::Delivered
            | MessageStatus::Undelivered
            | MessageStatus::Failed
            | MessageStatus::Canceled
            | MessageStatus::Received => 4,
            // Read receipts follow delivery (RCS/WhatsApp).
            MessageStatus::Read => 5,
        }
    }

    /// Whether moving from `self` to `next` is progress: a higher rank, and `self` is not
    /// an end (a failed message is never `read`; only `delivered` goes on, to `read`).
    pub fn advances_to(self, next: MessageStatus) -> bool {
        !self.is_end() && next.rank() > self.rank()
    }

    /// Final statuses nothing follows: every final one but `delivered`.
    pub const ENDS: [MessageStatus; 5] = [
        MessageStatus::Undelivered,
        MessageStatus::Failed,
        MessageStatus::Canceled,
        MessageStatus::Received,
        MessageStatus::Read,
    ];

    pub fn is_end(self) -> bool {
        Self::ENDS.contains(&self)
    }

    /// Whether the message failed (its error code says why).
    pub fn is_failure(self) -> bool {
        matches!(self, MessageStatus::Undelivered | MessageStatus::Failed)
    }

    /// Whether a callback that is not progress may still record its error code on a
    /// message at `self` that has none: only on a failure (a repeat of it that carries
    /// the code). A delivered message never takes a late failure's code.
    pub fn takes_late_error_code(self) -> bool {
        self.is_failure()
    }
}

impl FromStr for MessageStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| UnknownStatus(s.to_string()))
    }
}

enum_words!(MessageStatus,
    MessageStatus::Accepted => "accepted",
    MessageStatus::Scheduled => "scheduled",
    MessageStatus::Queued => "queued",
    MessageStatus::Sending => "sending",
    MessageStatus::Sent => "sent",
    MessageStatus::Delivered => "delivered",
    MessageStatus::Undelivered => "undelivered",
    MessageStatus::Failed => "failed",
    MessageStatus::Canceled => "canceled",
    MessageStatus::Read => "read",
    MessageStatus::Receiving => "receiving",
    MessageStatus::Received => "received",
);

/// One SMS/MMS on the conversation between an account and a contact phone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageRecord {
    /// Our id: a ULID, so ids sort by creation time.
    pub id: MessageId,
    pub account: AccountId,
    /// The other party (the contact's phone).
    pub contact_phone: PhoneNumber,
    /// Our side: the account number, Messaging Service SID or alphanumeric sender.
    pub our_sender: String,
    pub direction: Direction,
    pub body: String,
    #[serde(default)]
    pub media_urls: Vec<String>,
    pub status: MessageStatus,
    /// Twilio's `SM…`/`MM…` SID once known.
    pub provider_sid: Option<MessageSid>,
    /// The first error code reported for this message; later ones never replace it.
    pub error_code: Option<u32>,
    /// The user a manual send went out for (replies route to them).
    pub user_id: Option<String>,
    /// The campaign or sequence an automated send belongs to.
    pub campaign: Option<String>,
    /// What an outbound message was sent as (bulk, transactional, alert); `None` on
    /// inbound texts and on messages stored before the kind was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<crate::domain::consent::SendKind>,
    /// The CRM contact this message is about, when known (goals are fired on it).
    #[serde(default)]
    pub contact_id: Option<ContactId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// For inbound texts: who the text was forwarded to, and why.
    #[serde(default)]
    pub routing: Option<RoutingDecision>,
}

impl MessageRecord {
    /// The message as routing sees the contact's last SMS: `None` for an inbound record,
    /// since only what we sent says who talks to the contact.
    pub fn as_last_sms(&self) -> Option<LastSms<'_>> {
        (self.direction == Direction::Outbound).then_some(LastSms {
            user_id: self.user_id.as_deref(),
            sent_at: self.created_at,
            campaign: self.campaign.as_deref(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MessageStatus::*;

    const MAY_1_2024: Timestamp = Timestamp::from_millis(1_714_572_180_000);

    #[test]
    fn last_sms_from_message_records() {
        let phone = PhoneNumber::parse_e164("+19523142318").expect("test number");
        let record = |direction| MessageRecord {
            id: "01J".into(),
            account: AccountId::parse("acme").expect("test account"),
            contact_phone: phone.clone(),
            our_sender: "+15550100".into(),
            direction,
            body: "hi".into(),
            media_urls: Vec::new(),
            status: MessageStatus::Delivered,
            provider_sid: None,
            error_code: None,
            user_id: Some("mary".into()),
            campaign: Some("drip".into()),
            kind: None,
            created_at: MAY_1_2024,
            updated_at: MAY_1_2024,
            contact_id: None,
            routing: None,
        };
        let outbound = record(Direction::Outbound);
        assert_eq!(
            outbound.as_last_sms(),
            Some(LastSms {
                user_id: Some("mary"),
                sent_at: MAY_1_2024,
                campaign: Some("drip"),
            })
        );
        assert_eq!(record(Direction::Inbound).as_last_sms(), None);
    }

    #[test]
    fn status_is_forward_only() {
        let cases = [
            (Queued, Sending, true),
            (Queued, Sent, true),
            (Sending, Sent, true),
            (Sent, Delivered, true),
            (Sent, Undelivered, true),
            (Sent, Failed, true),
            (Queued, Failed, true),
            (Delivered, Sent, false),
            (Delivered, Queued, false),
            (Failed, Delivered, false),
            (Undelivered, Delivered, false),
            (Sent, Sent, false),
            (Accepted, Queued, true),
            (Delivered, Read, true),
            (Sent, Read, true),
            // A failure is an end: a read receipt after it is not news.
            (Undelivered, Read, false),
            (Failed, Read, false),
            (Canceled, Read, false),
            (Delivered, Undelivered, false),
            (Read, Delivered, false),
        ];
        for (from, to, expected) in cases {
            assert_eq!(from.advances_to(to), expected, "{from} -> {to}");
        }
    }

    /// Every status, as Twilio spells it.
    const TWILIO_STATUSES: [&str; 12] = [
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "undelivered",
        "failed",
        "canceled",
        "read",
        "receiving",
        "received",
    ];

    #[test]
    fn only_failures_take_a_late_error_code() {
        let takes: Vec<MessageStatus> = TWILIO_STATUSES
            .into_iter()
            .map(|s| s.parse::<MessageStatus>().expect(s))
            .filter(|s| s.takes_late_error_code())
            .collect();
        assert_eq!(takes, [Undelivered, Failed]);
    }

    #[test]
    fn parses_twilio_status_strings() {
        for s in TWILIO_STATUSES {
            let parsed: MessageStatus = s.parse().expect(s);
            assert_eq!(parsed.as_str(), s);
        }
        assert!("partially_delivered_typo".parse::<MessageStatus>().is_err());
    }
}
