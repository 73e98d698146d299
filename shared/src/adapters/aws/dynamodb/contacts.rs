//! The CRM contact cache on DynamoDB: one expiring item per (account, phone); reads skip
//! what has expired, since TTL deletes lazily.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{Key, decode, encode, expiry_attributes, is_live, item_with, timestamp_attr};
use crate::domain::{AccountId, PhoneNumber, Timestamp};
use crate::ports::store::{CachedContact, ContactCache, StoreResult};

#[async_trait]
impl ContactCache for DynamoStore {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()> {
        let key = Key::contact(account, phone);
        let [expires_ms, expires_s] = expiry_attributes(contact.expires_at);
        let data = encode(&contact.contact, &key)?;
        self.put(item_with(&key, [("data", data), expires_ms, expires_s]))
            .await
    }

    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>> {
        // A cache: an eventually consistent read is good enough and half the price.
        match self.get(&Key::contact(account, phone), false).await? {
            Some(item) if is_live(&item, now)? => Ok(Some(CachedContact {
                contact: decode(&item)?,
                expires_at: timestamp_attr(&item, "expires_at_ms")?,
            })),
            _ => Ok(None),
        }
    }

    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()> {
        self.delete(&Key::contact(account, phone)).await.map(|_| ())
    }
}
