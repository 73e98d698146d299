//! Phone health on redb: one JSON item per (account, phone). The read, the transition and
//! the write happen in one write transaction, which redb runs one at a time, so racing
//! callbacks never lose an update.

use async_trait::async_trait;
use redb::{ReadTransaction, TableDefinition};

use super::{CONSENT, EmbeddedStore, encode, get_json, pair_key};
use crate::adapters::embedded::open_read_table;
use crate::domain::consent::{BouncePolicy, PhoneEvent, PhoneHealth, phone_status_after};
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{PhoneStanding, PhoneStore, StoreResult};

/// `account \0 phone` → `PhoneHealth` (JSON).
const PHONES: TableDefinition<&str, &[u8]> = TableDefinition::new("store_phones");

/// The standing of the phone at `key` (`account \0 phone`), inside the caller's read
/// transaction.
pub(super) fn standing_in(tx: &ReadTransaction, key: &str) -> StoreResult<PhoneStanding> {
    let consent = match open_read_table(tx, CONSENT)? {
        Some(table) => get_json(&table, key)?,
        None => None,
    };
    let health = match open_read_table(tx, PHONES)? {
        Some(table) => get_json(&table, key)?.unwrap_or_default(),
        None => PhoneHealth::default(),
    };
    Ok(PhoneStanding { consent, health })
}

#[async_trait]
impl PhoneStore for EmbeddedStore {
    async fn phone_health(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneHealth> {
        let stored: Option<PhoneHealth> = self
            .read_json(PHONES, pair_key(account, phone.as_str()))
            .await?;
        Ok(stored.unwrap_or_default())
    }

    async fn phone_standing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneStanding> {
        let key = pair_key(account, phone.as_str());
        // One read transaction: both parts as of the same moment.
        self.db.read(move |tx| standing_in(tx, &key)).await
    }

    async fn record_phone_event(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        event: PhoneEvent,
        policy: BouncePolicy,
    ) -> StoreResult<PhoneHealth> {
        let key = pair_key(account, phone.as_str());
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(PHONES)?;
                let current: PhoneHealth = get_json(&table, &key)?.unwrap_or_default();
                let next = phone_status_after(current, event, policy);
                if next != current {
                    table.insert(key.as_str(), encode(&key, &next)?.as_slice())?;
                }
                Ok(next)
            })
            .await
    }
}
