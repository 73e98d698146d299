//! The team inbox's sign-in and read marks in the embedded database: links and sessions by
//! their secret's digest (reads skip what has expired), sign-in counts by lower-cased address
//! and window, and read marks keyed `account \0 user \0 phone` so a user's marks are one
//! prefix range. Each check-and-write is one write transaction, which redb serialises.

use std::collections::BTreeMap;

use async_trait::async_trait;
use redb::ReadableTable;

use super::{
    EmbeddedStore, INBOX_LINKS, INBOX_READ_MARKS, INBOX_SESSIONS, INBOX_SIGN_IN_COUNTS, decode,
    pair_key, pair_key_str, prefix_end,
};
use crate::adapters::embedded::open_read_table;
use crate::domain::inbox::{InboxSession, SecretDigest, SignInLink};
use crate::domain::{AccountId, EmailAddress, PhoneNumber, Timestamp};
use crate::ports::store::{InboxStore, StoreError, StoreResult};

/// The prefix of every sign-in count of `email`, whatever the window.
fn sign_in_prefix(email: &EmailAddress) -> String {
    pair_key_str(&email.as_str().to_ascii_lowercase(), "")
}

/// The prefix of every read mark of `user` in `account`.
fn read_marks_prefix(account: &AccountId, user: &str) -> String {
    pair_key(account, &pair_key_str(user, ""))
}

/// The conversation a read mark key under `prefix` names; `None` for a key of another user
/// whose id goes on past this one's with a `\0`.
fn marked_phone(key: &str, prefix: &str) -> StoreResult<Option<PhoneNumber>> {
    let Some(rest) = key.strip_prefix(prefix).filter(|rest| !rest.contains('\0')) else {
        return Ok(None);
    };
    PhoneNumber::trusted_e164(rest)
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })
}

#[async_trait]
impl InboxStore for EmbeddedStore {
    async fn put_sign_in_link(&self, digest: &SecretDigest, link: &SignInLink) -> StoreResult<()> {
        self.write_json(INBOX_LINKS, digest.as_str().to_string(), link.clone())
            .await
    }

    /// Removing in the transaction that reads is what makes the link work once.
    async fn take_sign_in_link(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<SignInLink>> {
        let key = digest.as_str().to_string();
        let link: Option<SignInLink> = self
            .db
            .write(move |tx| {
                let mut table = tx.open_table(INBOX_LINKS)?;
                let removed = table.remove(key.as_str())?;
                removed.map(|guard| decode(&key, guard.value())).transpose()
            })
            .await?;
        Ok(link.filter(|l| l.expires_at > now))
    }

    /// Also drops the address's counts of windows that ended before this one began, so the
    /// table holds about one row per address.
    async fn count_sign_in_request(
        &self,
        email: &EmailAddress,
        window: Timestamp,
        expires_at: Timestamp,
    ) -> StoreResult<u32> {
        let prefix = sign_in_prefix(email);
        let key = format!("{prefix}{}", window.as_millis());
        let (window, expires_at) = (window.as_millis(), expires_at.as_millis());
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(INBOX_SIGN_IN_COUNTS)?;
                let end = prefix_end(&prefix);
                table.retain_in(prefix.as_str()..end.as_str(), |k, (_, expires)| {
                    k == key || expires > window
                })?;
                let count = table.get(key.as_str())?.map_or(0, |v| v.value().0);
                let count = count.saturating_add(1);
                table.insert(key.as_str(), (count, expires_at))?;
                Ok(count)
            })
            .await
    }

    async fn put_inbox_session(
        &self,
        digest: &SecretDigest,
        session: &InboxSession,
    ) -> StoreResult<()> {
        self.write_json(INBOX_SESSIONS, digest.as_str().to_string(), session.clone())
            .await
    }

    async fn inbox_session(
        &self,
        digest: &SecretDigest,
        now: Timestamp,
    ) -> StoreResult<Option<InboxSession>> {
        let session: Option<InboxSession> = self
            .read_json(INBOX_SESSIONS, digest.as_str().to_string())
            .await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn end_inbox_session(&self, digest: &SecretDigest) -> StoreResult<()> {
        let key = digest.as_str().to_string();
        self.db
            .write(move |tx| {
                tx.open_table(INBOX_SESSIONS)?.remove(key.as_str())?;
                Ok(())
            })
            .await
    }

    /// Reads and writes in one transaction, so of two marks at once the later stays.
    async fn mark_read(
        &self,
        account: &AccountId,
        user: &str,
        phone: &PhoneNumber,
        through: Timestamp,
    ) -> StoreResult<()> {
        let key = format!("{}{}", read_marks_prefix(account, user), phone.as_str());
        let through = through.as_millis();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(INBOX_READ_MARKS)?;
                let old = table.get(key.as_str())?.map(|v| v.value());
                if old.is_none_or(|old| old < through) {
                    table.insert(key.as_str(), through)?;
                }
                Ok(())
            })
            .await
    }

    async fn read_marks(
        &self,
        account: &AccountId,
        user: &str,
    ) -> StoreResult<BTreeMap<PhoneNumber, Timestamp>> {
        let prefix = read_marks_prefix(account, user);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, INBOX_READ_MARKS)? else {
                    return Ok(BTreeMap::new());
                };
                let mut marks = BTreeMap::new();
                for entry in table.range(prefix.as_str()..prefix_end(&prefix).as_str())? {
                    let (key, through) = entry?;
                    if let Some(phone) = marked_phone(key.value(), &prefix)? {
                        marks.insert(phone, Timestamp::from_millis(through.value()));
                    }
                }
                Ok(marks)
            })
            .await
    }
}
