//! What a delivery status means for us: the one place that turns a message's new status
//! (and its Twilio error code) into the CRM goal to fire, what it tells us about the
//! recipient's phone, whether it is an opt-out, and which delivery event (see
//! `docs/glossary.md`) it is. Status callbacks and a send's immediate provider rejections
//! both go through [`classify_delivery`], so the two paths can never disagree.
//!
//! `GoodNumber` fires on `delivered` (or a `read`, which never follows a failure), not on
//! `sent`: the goal means "this phone number is known to be capable of receiving SMS
//! messages" (turboDial's definition), and `sent` only says the nearest carrier accepted
//! the message. A landline is `sent` first and `undelivered` (30006) afterwards; firing on
//! `sent` would tell the CRM it is good and then bad. The price: numbers on carriers that
//! never return delivery receipts get no `GoodNumber`, which is the honest answer ("not
//! known to be capable").

use serde::{Deserialize, Serialize};

use super::account::AccountId;
use super::consent::PhoneEvent;
use super::goals::StandardGoal;
use super::ids::{ContactId, MessageId, MessageSid};
use super::message::{MessageRecord, MessageStatus};
use super::phone::PhoneNumber;
use super::time::Timestamp;
use super::twilio_errors::{ErrorClass, classify_error_code};
use super::words::enum_words;

/// The delivery events an account's event webhook receives (modelled on Swrve's Twilio SMS
/// events, whose `black_listed_error` is `opted_out` here: see `docs/glossary.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryEventType {
    Queued,
    Sent,
    Delivered,
    Undelivered,
    Failed,
    /// The send failed because the recipient opted out (21610).
    OptedOut,
}

enum_words!(DeliveryEventType,
    DeliveryEventType::Queued => "queued",
    DeliveryEventType::Sent => "sent",
    DeliveryEventType::Delivered => "delivered",
    DeliveryEventType::Undelivered => "undelivered",
    DeliveryEventType::Failed => "failed",
    DeliveryEventType::OptedOut => "opted_out",
);

/// One delivery event, as the account's event webhook receives it (see the README's
/// "Delivery events"): what happened to which message, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    #[serde(rename = "type")]
    pub event_type: DeliveryEventType,
    pub account: AccountId,
    /// Our id of the message.
    pub message_id: MessageId,
    /// Twilio's SID, once the provider accepted the message.
    pub message_sid: Option<MessageSid>,
    /// The recipient, E.164.
    pub phone: PhoneNumber,
    /// Our side: the number, Messaging Service SID or alphanumeric sender.
    pub sender: String,
    pub status: MessageStatus,
    pub error_code: Option<u32>,
    pub error_class: Option<ErrorClass>,
    pub contact_id: Option<ContactId>,
    pub campaign: Option<String>,
    /// When the status was recorded (epoch milliseconds).
    pub occurred_at: Timestamp,
}

impl DeliveryEvent {
    /// The event for `message` reaching `status`.
    pub fn new(
        event_type: DeliveryEventType,
        message: &MessageRecord,
        status: MessageStatus,
        failure: Option<DeliveryFailure>,
        occurred_at: Timestamp,
    ) -> Self {
        DeliveryEvent {
            event_type,
            account: message.account.clone(),
            message_id: message.id.clone(),
            message_sid: message.provider_sid.clone(),
            phone: message.contact_phone.clone(),
            sender: message.our_sender.clone(),
            status,
            error_code: failure.and_then(|f| f.code),
            error_class: failure.map(|f| f.class),
            contact_id: message.contact_id.clone(),
            campaign: message.campaign.clone(),
            occurred_at,
        }
    }

    /// The name receivers route on (`event` in the body, `X-Smsflow-Event`):
    /// `message.delivered`, `message.opted_out`...
    pub fn name(&self) -> String {
        format!("message.{}", self.event_type)
    }
}

/// Why a message failed: the provider's raw code (Twilio's `ErrorCode`, Instasent's DLR
/// `code`), kept for display, and smsflow's class of it, which decides what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub code: Option<u32>,
    pub class: ErrorClass,
}

impl DeliveryFailure {
    /// A Twilio error code, classified by Twilio's table.
    pub fn twilio(code: u32) -> Self {
        DeliveryFailure {
            code: Some(code),
            class: classify_error_code(code),
        }
    }
}

/// Everything a status change sets off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOutcome {
    /// The CRM goal to fire on the message's contact (once per message and goal).
    pub goal: Option<StandardGoal>,
    /// What the status says about the recipient's phone (bounce tracking).
    pub phone_event: Option<PhoneEvent>,
    /// Whether the recipient is to be recorded as opted out (21610).
    pub record_opt_out: bool,
    /// The event for the account's event webhook, if this status is one.
    pub event: Option<DeliveryEventType>,
    /// The class of the error code, when a failure carried one.
    pub error_class: Option<ErrorClass>,
}

impl DeliveryOutcome {
    const NOTHING: DeliveryOutcome = DeliveryOutcome {
        goal: None,
        phone_event: None,
        record_opt_out: false,
        event: None,
        error_class: None,
    };
}

/// The goal a failed send fires, by its error class (standard goals, `docs/glossary.md`):
/// not SMS capable or invalid → `BadNumber`; opted out → `BlockedNumber`; filtered as spam,
/// including sender-compliance filtering (30032/30034) → `SpamBlock`; anything else
/// (a bad sender, rate limits, carrier blocks, transient and unknown failures) →
/// `SendFailed`.
pub fn failure_goal(class: ErrorClass) -> StandardGoal {
    match class {
        ErrorClass::NotSmsCapable | ErrorClass::InvalidNumber => StandardGoal::BadNumber,
        ErrorClass::OptedOut => StandardGoal::BlockedNumber,
        ErrorClass::SpamFiltered => StandardGoal::SpamBlock,
        ErrorClass::RateOrQueue
        | ErrorClass::Blocked
        | ErrorClass::Transient
        | ErrorClass::Other => StandardGoal::SendFailed,
    }
}

/// What a message reaching `status` (with its failure's class, for failures) means.
///
/// A failure without a class fires `SendFailed` and says nothing about the phone.
/// Statuses that are not news for the CRM (accepted, scheduled, sending, canceled, and the
/// inbound ones) set off nothing.
pub fn classify_delivery(
    status: MessageStatus,
    failure: Option<DeliveryFailure>,
) -> DeliveryOutcome {
    match status {
        MessageStatus::Queued => DeliveryOutcome {
            event: Some(DeliveryEventType::Queued),
            ..DeliveryOutcome::NOTHING
        },
        MessageStatus::Sent => DeliveryOutcome {
            event: Some(DeliveryEventType::Sent),
            ..DeliveryOutcome::NOTHING
        },
        // A read receipt implies delivery; it can also arrive before the `delivered`
        // callback, which then is not progress any more.
        MessageStatus::Delivered | MessageStatus::Read => DeliveryOutcome {
            goal: Some(StandardGoal::GoodNumber),
            phone_event: Some(PhoneEvent::Delivered),
            event: Some(DeliveryEventType::Delivered),
            ..DeliveryOutcome::NOTHING
        },
        MessageStatus::Undelivered | MessageStatus::Failed => {
            let class = failure.map(|f| f.class);
            let opted_out = class == Some(ErrorClass::OptedOut);
            let event = if opted_out {
                DeliveryEventType::OptedOut
            } else if status == MessageStatus::Failed {
                DeliveryEventType::Failed
            } else {
                DeliveryEventType::Undelivered
            };
            DeliveryOutcome {
                goal: Some(class.map_or(StandardGoal::SendFailed, failure_goal)),
                phone_event: class.and_then(PhoneEvent::after_failure),
                record_opt_out: opted_out,
                event: Some(event),
                error_class: class,
            }
        }
        MessageStatus::Accepted
        | MessageStatus::Scheduled
        | MessageStatus::Sending
        | MessageStatus::Canceled
        | MessageStatus::Receiving
        | MessageStatus::Received => DeliveryOutcome::NOTHING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeliveryEventType as Ev;
    use MessageStatus::*;
    use StandardGoal::*;

    const HARD: Option<PhoneEvent> = Some(PhoneEvent::HardFailure);

    /// Every Twilio error code smsflow classifies (`twilio_errors`), as a failed or
    /// undelivered message: its class, goal, phone event and opt-out. (Sync-only codes
    /// arrive through a send's immediate rejection, which is classified the same way.)
    #[test]
    fn failures_code_by_code() {
        use ErrorClass as C;
        let cases: &[(u32, ErrorClass, StandardGoal, Option<PhoneEvent>, bool)] = &[
            (21211, C::InvalidNumber, BadNumber, HARD, false),
            (21408, C::Other, SendFailed, None, false),
            (21610, C::OptedOut, BlockedNumber, None, true),
            (21612, C::NotSmsCapable, BadNumber, HARD, false),
            (21614, C::NotSmsCapable, BadNumber, HARD, false),
            (21635, C::NotSmsCapable, BadNumber, HARD, false),
            (21617, C::Other, SendFailed, None, false),
            (21602, C::Other, SendFailed, None, false),
            (21603, C::Other, SendFailed, None, false),
            (21604, C::Other, SendFailed, None, false),
            // A bad sender is SendFailed: an invalid From is a common reason for that goal.
            (21606, C::Other, SendFailed, None, false),
            (21611, C::RateOrQueue, SendFailed, None, false),
            (20429, C::RateOrQueue, SendFailed, None, false),
            (30001, C::RateOrQueue, SendFailed, None, false),
            (30002, C::Other, SendFailed, None, false),
            (30003, C::Transient, SendFailed, None, false),
            (30004, C::Blocked, SendFailed, HARD, false),
            (30005, C::NotSmsCapable, BadNumber, HARD, false),
            (30006, C::NotSmsCapable, BadNumber, HARD, false),
            (30007, C::SpamFiltered, SpamBlock, None, false),
            (30008, C::Transient, SendFailed, None, false),
            (30017, C::RateOrQueue, SendFailed, None, false),
            (30022, C::RateOrQueue, SendFailed, None, false),
            (30023, C::RateOrQueue, SendFailed, None, false),
            (30027, C::RateOrQueue, SendFailed, None, false),
            // Sender compliance: carriers enforce it by filtering.
            (30032, C::SpamFiltered, SpamBlock, None, false),
            (30034, C::SpamFiltered, SpamBlock, None, false),
            (30036, C::RateOrQueue, SendFailed, None, false),
            (30410, C::Transient, SendFailed, None, false),
            (30450, C::Blocked, SendFailed, HARD, false),
            (63016, C::Other, SendFailed, None, false),
            (99999, C::Other, SendFailed, None, false),
        ];
        for &(code, class, goal, phone_event, opt_out) in cases {
            for status in [Failed, Undelivered] {
                let outcome = classify_delivery(status, Some(DeliveryFailure::twilio(code)));
                let event = match (opt_out, status) {
                    (true, _) => Ev::OptedOut,
                    (false, Failed) => Ev::Failed,
                    (false, _) => Ev::Undelivered,
                };
                assert_eq!(
                    outcome,
                    DeliveryOutcome {
                        goal: Some(goal),
                        phone_event,
                        record_opt_out: opt_out,
                        event: Some(event),
                        error_class: Some(class),
                    },
                    "{code} {status}"
                );
            }
        }
    }

    #[test]
    fn statuses_without_error_codes() {
        let delivered = DeliveryOutcome {
            goal: Some(GoodNumber),
            phone_event: Some(PhoneEvent::Delivered),
            record_opt_out: false,
            event: Some(Ev::Delivered),
            error_class: None,
        };
        let only_event = |event| DeliveryOutcome {
            event: Some(event),
            ..DeliveryOutcome::NOTHING
        };
        let failed_without_code = |event| DeliveryOutcome {
            goal: Some(SendFailed),
            event: Some(event),
            ..DeliveryOutcome::NOTHING
        };
        let cases = [
            (Queued, only_event(Ev::Queued)),
            (Sent, only_event(Ev::Sent)),
            (Delivered, delivered),
            (Read, delivered),
            (Failed, failed_without_code(Ev::Failed)),
            (Undelivered, failed_without_code(Ev::Undelivered)),
            (Accepted, DeliveryOutcome::NOTHING),
            (Scheduled, DeliveryOutcome::NOTHING),
            (Sending, DeliveryOutcome::NOTHING),
            (Canceled, DeliveryOutcome::NOTHING),
            (Receiving, DeliveryOutcome::NOTHING),
            (Received, DeliveryOutcome::NOTHING),
        ];
        for (status, want) in cases {
            assert_eq!(classify_delivery(status, None), want, "{status}");
        }
    }

    #[test]
    fn success_ignores_a_stray_error_code() {
        // A multi-segment message can report an error for one segment and `delivered`
        // for the message in its status callback: delivered is still delivered.
        assert_eq!(
            classify_delivery(Delivered, Some(DeliveryFailure::twilio(30003))).goal,
            Some(GoodNumber)
        );
    }

    #[test]
    fn event_names_are_snake_case() {
        let cases = [
            (Ev::Queued, "queued"),
            (Ev::Sent, "sent"),
            (Ev::Delivered, "delivered"),
            (Ev::Undelivered, "undelivered"),
            (Ev::Failed, "failed"),
            (Ev::OptedOut, "opted_out"),
        ];
        for (event, name) in cases {
            assert_eq!(event.as_str(), name);
            assert_eq!(
                serde_json::to_value(event).expect("serialises"),
                serde_json::json!(name)
            );
        }
    }
}
