//! Reply addresses' grants in the embedded database: one row per token; reads skip what
//! has expired.

use async_trait::async_trait;

use super::{EmbeddedStore, REPLY_GRANTS};
use crate::domain::Timestamp;
use crate::domain::reply_address::{ReplyGrant, ReplyToken};
use crate::ports::store::{ReplyGrants, StoreResult};

#[async_trait]
impl ReplyGrants for EmbeddedStore {
    async fn put_reply_grant(&self, token: &ReplyToken, grant: &ReplyGrant) -> StoreResult<()> {
        self.write_json(REPLY_GRANTS, token.as_str().to_string(), grant.clone())
            .await
    }

    async fn reply_grant(
        &self,
        token: &ReplyToken,
        now: Timestamp,
    ) -> StoreResult<Option<ReplyGrant>> {
        let grant: Option<ReplyGrant> = self
            .read_json(REPLY_GRANTS, token.as_str().to_string())
            .await?;
        Ok(grant.filter(|g| g.expires_at > now))
    }
}
