//! The CRM contact cache in the embedded database: one expiring row per (account, phone);
//! reads skip what has expired.

use async_trait::async_trait;

use super::{CONTACTS, EmbeddedStore, encode, pair_key};
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{CachedContact, ContactCache, StoreResult};

#[async_trait]
impl ContactCache for EmbeddedStore {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()> {
        let key = pair_key(account, phone.as_str());
        let contact = contact.clone();
        self.db
            .write(move |tx| {
                tx.open_table(CONTACTS)?
                    .insert(key.as_str(), encode(&key, &contact)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>> {
        let cached: Option<CachedContact> = self
            .read_json(CONTACTS, pair_key(account, phone.as_str()))
            .await?;
        Ok(cached.filter(|c| c.expires_at > now))
    }

    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()> {
        let key = pair_key(account, phone.as_str());
        self.db
            .write(move |tx| {
                tx.open_table(CONTACTS)?.remove(key.as_str())?;
                Ok(())
            })
            .await
    }
}
