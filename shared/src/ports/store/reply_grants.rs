//! Reply addresses: what each forward's `reply+<token>@…` address grants, kept until it
//! expires (`domain/reply_address.rs`).

use async_trait::async_trait;

use crate::domain::Timestamp;
use crate::domain::reply_address::{ReplyGrant, ReplyToken};

use super::StoreResult;

#[async_trait]
pub trait ReplyGrants: Send + Sync {
    /// Stores the grant of a new token (random: 130 bits, so two forwards never draw the
    /// same one), kept until it expires.
    async fn put_reply_grant(&self, token: &ReplyToken, grant: &ReplyGrant) -> StoreResult<()>;
    /// The grant of `token`, unless there is none or it expired before `now`.
    async fn reply_grant(
        &self,
        token: &ReplyToken,
        now: Timestamp,
    ) -> StoreResult<Option<ReplyGrant>>;
}
