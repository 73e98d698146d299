//! Reply addresses' grants on DynamoDB: one item per token (`REPLY#<token>`), with the
//! TTL attribute so DynamoDB deletes it after it expires; reads skip what has expired.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{Key, decode, encode, expiry_attributes, is_live, item_with};
use crate::domain::Timestamp;
use crate::domain::reply_address::{ReplyGrant, ReplyToken};
use crate::ports::store::{ReplyGrants, StoreResult};

fn reply_key(token: &ReplyToken) -> Key {
    Key::new(format!("REPLY#{}", token.as_str()), "REPLY")
}

#[async_trait]
impl ReplyGrants for DynamoStore {
    async fn put_reply_grant(&self, token: &ReplyToken, grant: &ReplyGrant) -> StoreResult<()> {
        let key = reply_key(token);
        let [expires_ms, expires_s] = expiry_attributes(grant.expires_at);
        let data = encode(grant, &key)?;
        self.put(item_with(&key, [("data", data), expires_ms, expires_s]))
            .await
    }

    async fn reply_grant(
        &self,
        token: &ReplyToken,
        now: Timestamp,
    ) -> StoreResult<Option<ReplyGrant>> {
        match self.get(&reply_key(token), true).await? {
            Some(item) if is_live(&item, now)? => Ok(Some(decode(&item)?)),
            _ => Ok(None),
        }
    }
}
