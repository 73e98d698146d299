//! Idempotency keys: the names under which a claim protects one piece of work, so that a
//! retry, a redelivery or a takeover does it once. Every key format is built here, and only
//! here, so two kinds of work cannot share a key.
//!
//! | key | what it protects |
//! |---|---|
//! | `automation:<job id>` | running an automation job once |
//! | `delivery:<message id>:phone:<kind>` | counting a phone event once |
//! | `send-request:<account>:id:<requestId>` / `…:body:<digest>` | a CRM's send request |
//! | `sequence-start:<account>:id:<requestId>` / `…:<sequence>:<contact>:<step>` | a CRM's sequence start |
//! | `sequence-note:<account>:<contact>:<sequence>` | creating a run's conversation note |
//! | `send:<message id>` | a message's send attempt (read through `SendAttemptStore`) |

use std::fmt;

use super::account::AccountId;
use super::ids::{ContactId, MessageId};

/// The key of one idempotency claim; built only by the constructors below.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Running the automation job queued under `job_id` once.
    pub fn automation_job(job_id: &str) -> Self {
        IdempotencyKey(format!("automation:{job_id}"))
    }

    /// Counting one phone event (`kind`) of a message's delivery once.
    pub fn phone_event(message_id: &MessageId, kind: &str) -> Self {
        IdempotencyKey(format!("delivery:{message_id}:phone:{kind}"))
    }

    /// A CRM's send request named by its `requestId`.
    pub fn send_request_by_id(account: &AccountId, request_id: &str) -> Self {
        IdempotencyKey(format!("send-request:{account}:id:{request_id}"))
    }

    /// A CRM's send request without a `requestId`, named by the digest of what it asks.
    pub fn send_request_by_body(account: &AccountId, digest: &str) -> Self {
        IdempotencyKey(format!("send-request:{account}:body:{digest}"))
    }

    /// A CRM's "has received SMS" check named by its `requestId`.
    pub fn received_check_by_id(account: &AccountId, request_id: &str) -> Self {
        IdempotencyKey(format!("received-check:{account}:id:{request_id}"))
    }

    /// A CRM's "has received SMS" check without a `requestId`, named by the digest of
    /// what it asks.
    pub fn received_check_by_body(account: &AccountId, digest: &str) -> Self {
        IdempotencyKey(format!("received-check:{account}:body:{digest}"))
    }

    /// A reply by e-mail, named by the digest of its `Message-ID` (or of the whole message
    /// when it has none): a repeat delivery sends nothing more.
    pub fn email_reply(digest: &str) -> Self {
        IdempotencyKey(format!("email-reply:{digest}"))
    }

    /// A CRM's sequence start named by its `requestId`.
    pub fn sequence_start_by_id(account: &AccountId, request_id: &str) -> Self {
        IdempotencyKey(format!("sequence-start:{account}:id:{request_id}"))
    }

    /// A CRM's sequence start without a `requestId`: one per contact, sequence and step.
    pub fn sequence_start(
        account: &AccountId,
        sequence: &str,
        contact_id: &ContactId,
        step: &str,
    ) -> Self {
        IdempotencyKey(format!(
            "sequence-start:{account}:{sequence}:{contact_id}:{step}"
        ))
    }

    /// Creating the conversation note of a contact's run of a sequence.
    pub fn sequence_note(account: &AccountId, contact_id: &ContactId, sequence: &str) -> Self {
        IdempotencyKey(format!("sequence-note:{account}:{contact_id}:{sequence}"))
    }

    /// A message's send attempt. Attempts were plain claims before they had states, so their
    /// records keep this key.
    pub fn send_attempt(message_id: &MessageId) -> Self {
        IdempotencyKey(format!("send:{message_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_work_has_its_own_key_space() {
        let account = AccountId::parse("acme").unwrap();
        let message = MessageId::new("m1");
        let contact = ContactId::new("42");
        let keys = [
            (IdempotencyKey::automation_job("j1"), "automation:j1"),
            (
                IdempotencyKey::phone_event(&message, "bounce"),
                "delivery:m1:phone:bounce",
            ),
            (
                IdempotencyKey::send_request_by_id(&account, "r1"),
                "send-request:acme:id:r1",
            ),
            (
                IdempotencyKey::send_request_by_body(&account, "ab"),
                "send-request:acme:body:ab",
            ),
            (
                IdempotencyKey::sequence_start_by_id(&account, "r1"),
                "sequence-start:acme:id:r1",
            ),
            (
                IdempotencyKey::sequence_start(&account, "survey", &contact, "q1"),
                "sequence-start:acme:survey:42:q1",
            ),
            (
                IdempotencyKey::sequence_note(&account, &contact, "survey"),
                "sequence-note:acme:42:survey",
            ),
            (IdempotencyKey::send_attempt(&message), "send:m1"),
        ];
        for (key, text) in keys {
            assert_eq!(key.as_str(), text);
        }
    }
}
