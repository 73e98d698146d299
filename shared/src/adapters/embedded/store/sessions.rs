//! Sequence sessions in the embedded database: at most one live session per (account,
//! phone), updated only over the revision read and ended only by the session holding it.

use async_trait::async_trait;

use super::{EmbeddedStore, SESSIONS, encode, get_json, pair_key};
use crate::domain::SessionId;
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{SessionRecord, SessionStart, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart> {
        let key = pair_key(account, phone.as_str());
        let session = session.clone();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SESSIONS)?;
                let current: Option<SessionRecord> = get_json(&table, &key)?;
                if let Some(current) = current.filter(|c| c.expires_at > now) {
                    return Ok(SessionStart::AlreadyActive(current));
                }
                table.insert(key.as_str(), encode(&key, &session)?.as_slice())?;
                Ok(SessionStart::Started)
            })
            .await
    }

    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let session: Option<SessionRecord> = self
            .read_json(SESSIONS, pair_key(account, phone.as_str()))
            .await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool> {
        let read_revision = session.revision.checked_sub(1);
        let (session_id, replacement) = (session.session_id.clone(), session.clone());
        self.replace_session(account, phone, Some(replacement), move |current| {
            current.session_id == session_id && Some(current.revision) == read_revision
        })
        .await
    }

    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &SessionId,
    ) -> StoreResult<bool> {
        let session_id = session_id.clone();
        self.replace_session(account, phone, None, move |current| {
            current.session_id == session_id
        })
        .await
    }
}

impl EmbeddedStore {
    /// Replaces the contact's live session with `replacement` (`None`: ends it) if there is
    /// one and `holds` says the caller holds it; whether it did.
    async fn replace_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        replacement: Option<SessionRecord>,
        holds: impl FnOnce(&SessionRecord) -> bool + Send + 'static,
    ) -> StoreResult<bool> {
        let key = pair_key(account, phone.as_str());
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SESSIONS)?;
                let current: Option<SessionRecord> = get_json(&table, &key)?;
                if !current.is_some_and(|c| holds(&c)) {
                    return Ok(false);
                }
                match replacement {
                    Some(session) => {
                        table.insert(key.as_str(), encode(&key, &session)?.as_slice())?;
                    }
                    None => {
                        table.remove(key.as_str())?;
                    }
                }
                Ok(true)
            })
            .await
    }
}
