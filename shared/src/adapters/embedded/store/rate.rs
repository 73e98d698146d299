//! Sender pacing in the embedded database: one row per sender holding when it is next free.

use std::time::Duration;

use async_trait::async_trait;
use redb::ReadableTable;

use super::{EmbeddedStore, RATES};
use crate::domain::Timestamp;
use crate::ports::store::{RateStore, StoreResult};

#[async_trait]
impl RateStore for EmbeddedStore {
    async fn reserve_send_slot(
        &self,
        sender: &str,
        cost: Duration,
        now: Timestamp,
    ) -> StoreResult<Timestamp> {
        let key = sender.to_string();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(RATES)?;
                let next_free = table
                    .get(key.as_str())?
                    .map(|v| Timestamp::from_millis(v.value()))
                    .unwrap_or(now);
                let start = next_free.max(now);
                table.insert(key.as_str(), start.plus(cost).as_millis())?;
                Ok(start)
            })
            .await
    }
}
