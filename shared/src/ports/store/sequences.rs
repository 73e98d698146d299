//! Sequence definitions and the sessions running them.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::sequence::{DefinitionError, FileFormat, Sequence};
use crate::domain::{AccountId, ContactId, PhoneNumber, SessionId, Timestamp};

use super::{StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub session_id: SessionId,
    pub sequence: String,
    /// Opaque state owned by the sequence engine.
    pub state: serde_json::Value,
    pub started_at: Timestamp,
    pub expires_at: Timestamp,
    /// 0 when started, one more on each update: `update_session` writes revision n + 1
    /// only over revision n, so two writers that read the same session cannot both win.
    #[serde(default)]
    pub revision: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SessionStart {
    Started,
    /// Another unexpired session holds the lock for this contact.
    AlreadyActive(SessionRecord),
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Starts a session unless an unexpired one exists for (account, phone).
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart>;
    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Replaces the session's state and expiry if `session.session_id` is still the stored
    /// one at revision `session.revision - 1` (the caller read revision n and writes n + 1);
    /// returns false otherwise (another writer got there first, or the session ended).
    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool>;
    /// Ends the session if it is still `session_id`; returns whether it did.
    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &SessionId,
    ) -> StoreResult<bool>;
}

/// A stored sequence as read back: validated again on every read, so a definition that a
/// newer smsflow no longer accepts is reported (and not run) instead of misbehaving.
pub type StoredSequence = Result<Sequence, DefinitionError>;

/// How a store keeps a sequence: the JSON of its definition as written.
pub fn encode_sequence(sequence: &Sequence) -> StoreResult<String> {
    serde_json::to_string(sequence.definition()).map_err(|e| StoreError::Corrupt {
        key: format!("{}/{}", sequence.account(), sequence.name()),
        detail: format!("cannot encode the definition: {e}"),
    })
}

/// Reads back what [`encode_sequence`] stored for `account`/`name`, validating it again.
pub fn decode_sequence(account: &AccountId, name: &str, json: &str) -> StoredSequence {
    Sequence::parse(
        &format!("stored sequence {account}/{name}"),
        json,
        FileFormat::Json,
    )
}

#[async_trait]
pub trait SequenceStore: Send + Sync {
    /// Creates or replaces the sequence under its account and name.
    async fn put_sequence(&self, sequence: &Sequence) -> StoreResult<()>;
    async fn sequence(
        &self,
        account: &AccountId,
        name: &str,
    ) -> StoreResult<Option<StoredSequence>>;
    /// Every sequence of the account, in name order.
    async fn sequences(&self, account: &AccountId) -> StoreResult<Vec<StoredSequence>>;
    /// The names of the account's sequences, sorted.
    async fn sequence_names(&self, account: &AccountId) -> StoreResult<Vec<String>>;
    /// Removes the sequence; returns whether there was one. Runs in progress keep their
    /// session and end at their next event (the engine finds no step to continue from).
    async fn delete_sequence(&self, account: &AccountId, name: &str) -> StoreResult<bool>;
    /// The CRM note that keeps a contact's conversation with a sequence, once created.
    async fn sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
    ) -> StoreResult<Option<String>>;
    /// Records `note_id` as that note unless one is recorded already (atomically); returns
    /// the note id on record afterwards: `note_id`, or the one that was there first.
    async fn remember_sequence_note(
        &self,
        account: &AccountId,
        contact_id: &ContactId,
        sequence: &str,
        note_id: &str,
    ) -> StoreResult<String>;
}
