//! The team inbox's sign-in and read marks (`domain/inbox.rs`): e-mailed one-time links,
//! sessions, the per-address count of links asked for, and where each teammate has read
//! each conversation up to. Links and sessions are keyed by their secret's digest.

use std::collections::BTreeMap;

use async_trait::async_trait;

use crate::domain::inbox::{InboxSession, SecretDigest, SignInLink};
use crate::domain::{AccountId, EmailAddress, PhoneNumber, Timestamp};

use super::StoreResult;

#[async_trait]
pub trait InboxStore: Send + Sync {
    /// Stores a new sign-in link, kept until it expires.
    async fn put_sign_in_link(&self, digest: &SecretDigest, link: &SignInLink) -> StoreResult<()>;
    /// Removes the link and returns it, in one atomic step: of two browsers following the
    /// same link at once, one gets it. `None` when there is none or it expired before `now`.
    async fn take_sign_in_link(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<SignInLink>>;
    /// Counts one more link asked for `email` (compared case-insensitively) in the rate
    /// window starting at `window`, atomically; returns the count with this one. The count
    /// is kept until `expires_at`.
    async fn count_sign_in_request(
        &self,
        email: &EmailAddress,
        window: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<u32>;
    /// Stores a new session, kept until it expires.
    async fn put_inbox_session(
        &self,
        digest: &SecretDigest,
        session: &InboxSession,
    ) -> StoreResult<()>;
    /// The session, unless there is none or it expired before `now`.
    async fn inbox_session(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<InboxSession>>;
    /// Ends the session (signing out); ending one that is not there is no error.
    async fn end_inbox_session(&self, digest: &SecretDigest) -> StoreResult<()>;
    /// Records that `user` has read the conversation with `phone` up to `through`; a mark
    /// never moves back (two tabs reading at once keep the later).
    async fn mark_read(
        &self,
        account: &AccountId,
        user: &str,
        phone: &PhoneNumber,
        through: Timestamp,
    ) -> StoreResult<()>;
    /// Every conversation `user` has read, and up to when.
    async fn read_marks(
        &self,
        account: &AccountId,
        user: &str,
    ) -> StoreResult<BTreeMap<PhoneNumber, Timestamp>>;
}
