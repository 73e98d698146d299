//! Automation job ids. A job queued about an event gets an id derived from that event, so
//! queueing it again (a retry) runs it once (the automation worker claims
//! `IdempotencyKey::automation_job(id)` before it runs a job). Every format is built here, so
//! two kinds of job cannot share an id; the claim keys are in `domain::idempotency`.
//!
//! | id | what |
//! |---|---|
//! | `inbound:<MessageSid>` | an inbound text's processing |
//! | `forward:<MessageSid>` | its forward e-mail |
//! | `goal:<message id or MessageSid>:<call name>` | a goal about a message |
//! | `note:<message id>` | a sent message's SMS note |
//! | `delivery:<message id>:goal:<call name>` | a delivery status's goal |
//! | `delivery:<message id>:event:<type>` | a delivery event to the account's webhook |
//! | `seq:<session>:<event>:<index>` / `…:note` | a sequence run's effect / its note lines |
//! | a fresh id | a job about nothing that could be retried |

use std::fmt::{self, Display};

use serde::{Deserialize, Serialize};

use crate::domain::goals::GoalName;
use crate::domain::{MessageId, MessageSid, SessionId};

/// The id an automation job travels under.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// A job about nothing that could be queued twice: a freshly minted id.
    pub fn fresh(minted: String) -> Self {
        JobId(minted)
    }

    /// Processing the inbound text `sid`.
    pub fn inbound(sid: &MessageSid) -> Self {
        JobId(format!("inbound:{sid}"))
    }

    /// E-mailing the inbound text `sid` to the user it was routed to.
    pub fn forward(sid: &MessageSid) -> Self {
        JobId(format!("forward:{sid}"))
    }

    /// Achieving `call_name` about one message (`about`: its id, or an inbound text's SID).
    pub fn goal(about: &str, call_name: &GoalName) -> Self {
        JobId(format!("goal:{about}:{call_name}"))
    }

    /// The SMS note of a sent message.
    pub fn sms_note(message_id: &MessageId) -> Self {
        JobId(format!("note:{message_id}"))
    }

    /// A goal a message's delivery status fires.
    pub fn delivery_goal(message_id: &MessageId, call_name: &GoalName) -> Self {
        JobId(format!("delivery:{message_id}:goal:{call_name}"))
    }

    /// The delivery event a message's status posts to the account's webhook.
    pub fn delivery_event(message_id: &MessageId, event_type: impl Display) -> Self {
        JobId(format!("delivery:{message_id}:event:{event_type}"))
    }

    /// One effect (`part`: its index, or `note` for the event's note lines) of one applied
    /// event (`event_key`) of a sequence run.
    pub fn sequence_effect(session_id: &SessionId, event_key: &str, part: impl Display) -> Self {
        JobId(format!("seq:{session_id}:{event_key}:{part}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for JobId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
