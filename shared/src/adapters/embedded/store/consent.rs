//! Consent in the embedded database: one row per (account, phone) holding its latest
//! change; an older change arriving late is not written.

use async_trait::async_trait;

use super::{CONSENT, EmbeddedStore, encode, get_json, pair_key};
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{ConsentRecord, ConsentStore, StoreResult};

/// Writes `record` at `key` (`account \0 phone`) unless a newer change is stored, inside
/// the caller's write transaction; whether it was written.
pub(super) fn write_consent(
    tx: &redb::WriteTransaction,
    key: &str,
    record: &ConsentRecord,
) -> StoreResult<bool> {
    let mut table = tx.open_table(CONSENT)?;
    let current: Option<ConsentRecord> = get_json(&table, key)?;
    if current.is_some_and(|c| c.changed_at > record.changed_at) {
        return Ok(false);
    }
    table.insert(key, encode(key, record)?.as_slice())?;
    Ok(true)
}

#[async_trait]
impl ConsentStore for EmbeddedStore {
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool> {
        let key = pair_key(account, phone.as_str());
        let record = record.clone();
        self.db
            .write(move |tx| write_consent(tx, &key, &record))
            .await
    }

    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>> {
        self.read_json(CONSENT, pair_key(account, phone.as_str()))
            .await
    }
}
