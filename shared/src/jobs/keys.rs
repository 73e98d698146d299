//! Every job id and claim key in one place. A job queued about an event gets an id derived
//! from that event, so queueing it again (a retry) runs it once; a claim key names the work a
//! claim protects. Keeping the formats here keeps two kinds of work from sharing a key.
//!
//! | key | what | kind |
//! |---|---|---|
//! | `inbound:<MessageSid>` | an inbound text's processing | job id |
//! | `forward:<MessageSid>` | its forward e-mail | job id |
//! | `goal:<message or MessageSid>:<call name>` | a goal about a message | job id |
//! | `note:<message id>` | a sent message's SMS note | job id |
//! | `delivery:<message id>:goal:<call name>` | a delivery status's goal | job id |
//! | `delivery:<message id>:event:<type>` | a delivery event to the account's webhook | job id |
//! | `seq:<session>:<event>:<index>` | a sequence run's effect | job id |
//! | `automation:<job id>` | running an automation job once | claim |
//! | `delivery:<message id>:phone:<kind>` | counting a phone event once | claim |
//! | `send-request:<account>:id:<requestId>` / `…:body:<digest>` | a CRM's send request | claim |
//! | `sequence-start:<account>:id:<requestId>` / `…:<sequence>:<contact>:<step>` | a CRM's sequence start | claim |
//! | `sequence-note:<account>:<contact>:<sequence>` | creating a run's conversation note | claim |
//!
//! A send's attempt is a claim too: `ports::store::send_attempt_key`, in the stores.

use std::fmt::Display;

use crate::domain::AccountId;

pub fn inbound(message_sid: &str) -> String {
    format!("inbound:{message_sid}")
}

pub fn forward(message_sid: &str) -> String {
    format!("forward:{message_sid}")
}

/// A goal about a message: our message id, or the `MessageSid` of an inbound text.
pub fn goal(about: &str, call_name: impl Display) -> String {
    format!("goal:{about}:{call_name}")
}

pub fn sms_note(message_id: &str) -> String {
    format!("note:{message_id}")
}

pub fn delivery_goal(message_id: &str, call_name: impl Display) -> String {
    format!("delivery:{message_id}:goal:{call_name}")
}

pub fn delivery_event(message_id: &str, event_type: impl Display) -> String {
    format!("delivery:{message_id}:event:{event_type}")
}

/// The prefix of a sequence event's effect jobs (`<prefix>:<index>`).
pub fn sequence_effects(session_id: &str, event_key: &str) -> String {
    format!("seq:{session_id}:{event_key}")
}

pub fn automation_claim(job_id: &str) -> String {
    format!("automation:{job_id}")
}

pub fn phone_event_claim(message_id: &str, kind: &str) -> String {
    format!("delivery:{message_id}:phone:{kind}")
}

pub fn send_request_by_id(account: &AccountId, request_id: &str) -> String {
    format!("send-request:{account}:id:{request_id}")
}

pub fn send_request_by_body(account: &AccountId, digest: &str) -> String {
    format!("send-request:{account}:body:{digest}")
}

pub fn sequence_start_by_id(account: &AccountId, request_id: &str) -> String {
    format!("sequence-start:{account}:id:{request_id}")
}

/// Sequence names and steps are identifiers; CRM contact ids contain no ':'.
pub fn sequence_start(account: &AccountId, sequence: &str, contact_id: &str, step: &str) -> String {
    format!("sequence-start:{account}:{sequence}:{contact_id}:{step}")
}

pub fn sequence_note_lock(account: &AccountId, contact_id: &str, sequence: &str) -> String {
    format!("sequence-note:{account}:{contact_id}:{sequence}")
}
