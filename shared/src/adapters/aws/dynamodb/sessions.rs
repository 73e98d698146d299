//! Sequence sessions on DynamoDB: at most one live session per (account, phone), started
//! unless a live one holds the item, updated only over the revision read and ended only
//! by the session that holds it.

use async_trait::async_trait;

use super::DynamoStore;
use super::errors::condition_failed;
use super::item::{Item, Key, decode, encode, expiry_attributes, is_live, item_with, n, s};
use crate::domain::SessionId;
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{SessionRecord, SessionStart, SessionStore, StoreResult};

fn session_item(key: &Key, session: &SessionRecord) -> StoreResult<Item> {
    let [expires_ms, expires_s] = expiry_attributes(session.expires_at);
    Ok(item_with(
        key,
        [
            ("data", encode(session, key)?),
            ("session_id", s(session.session_id.as_str())),
            ("revision", n(session.revision)),
            expires_ms,
            expires_s,
        ],
    ))
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart> {
        let key = Key::session(account, phone);
        let item = session_item(&key, session)?;
        let Some(holder) = self.put_unless_live(&key, item, now).await? else {
            return Ok(SessionStart::Started);
        };
        Ok(SessionStart::AlreadyActive(decode(&holder)?))
    }

    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        match self.get(&Key::session(account, phone), true).await? {
            Some(item) if is_live(&item, now)? => decode(&item).map(Some),
            _ => Ok(None),
        }
    }

    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool> {
        let key = Key::session(account, phone);
        // Revision 0 is the start: there is no update that writes it.
        let Some(read_revision) = session.revision.checked_sub(1) else {
            return Ok(false);
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(session_item(&key, session)?))
            .condition_expression("session_id = :session_id AND revision = :read_revision")
            .expression_attribute_values(":session_id", s(session.session_id.as_str()))
            .expression_attribute_values(":read_revision", n(read_revision))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }

    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &SessionId,
    ) -> StoreResult<bool> {
        let key = Key::session(account, phone);
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression("session_id = :session_id")
            .expression_attribute_values(":session_id", s(session_id.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("DeleteItem {key}"), err).map(|_| false),
        }
    }
}
