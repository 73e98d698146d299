//! Sender pacing on DynamoDB: one item per sender holding the time it is next free to send.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::errors::condition_failed;
use super::item::{Key, n, number_attr};
use super::{DynamoStore, MAX_RACE_RETRIES};
use crate::domain::Timestamp;
use crate::ports::store::{RateStore, StoreError, StoreResult};

/// Milliseconds of a cost, rounded up so a sender is never paced faster than its rate.
fn cost_millis(cost: Duration) -> i64 {
    let millis = cost.as_nanos().div_ceil(1_000_000);
    i64::try_from(millis).unwrap_or(i64::MAX)
}

#[async_trait]
impl RateStore for DynamoStore {
    /// Two atomic updates instead of read-compute-write: an idle sender (next free time not
    /// after `now`) is set to `now + cost` and sends at `now`; a busy one has `cost` added and
    /// sends at the old next free time. Each is one conditional write, so concurrent
    /// reservations serialise in DynamoDB without retry storms.
    async fn reserve_send_slot(
        &self,
        sender: &str,
        cost: Duration,
        now: Timestamp,
    ) -> StoreResult<Timestamp> {
        let key = Key::rate(sender);
        let cost = cost_millis(cost);
        let context = format!("UpdateItem {key}");
        for _ in 0..MAX_RACE_RETRIES {
            let idle = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.item()))
                .update_expression("SET next_free_ms = :next")
                .condition_expression("attribute_not_exists(next_free_ms) OR next_free_ms <= :now")
                .expression_attribute_values(":next", n(now.as_millis().saturating_add(cost)))
                .expression_attribute_values(":now", n(now.as_millis()))
                .send()
                .await;
            match idle {
                Ok(_) => return Ok(now),
                Err(err) => {
                    condition_failed(&context, err)?;
                }
            }
            let busy = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.item()))
                .update_expression("ADD next_free_ms :cost")
                .condition_expression("next_free_ms > :now")
                .expression_attribute_values(":cost", n(cost))
                .expression_attribute_values(":now", n(now.as_millis()))
                .return_values(ReturnValue::UpdatedNew)
                .send()
                .await;
            match busy {
                Ok(out) => {
                    let item = out.attributes.ok_or_else(|| {
                        StoreError::Backend(format!("{context} returned no attributes"))
                    })?;
                    let next_free = number_attr(&item, "next_free_ms")?;
                    return Ok(Timestamp::from_millis(next_free.saturating_sub(cost)));
                }
                // The state vanished in between (deleted by hand): start over.
                Err(err) => {
                    condition_failed(&context, err)?;
                }
            }
        }
        Err(StoreError::Backend(format!(
            "rate state {key} kept changing; gave up after {MAX_RACE_RETRIES} attempts"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_rounds_up_to_whole_milliseconds() {
        let cases = [
            (Duration::ZERO, 0),
            (Duration::from_millis(250), 250),
            (Duration::from_secs(1) / 3, 334),
            (Duration::from_micros(1), 1),
        ];
        for (cost, millis) in cases {
            assert_eq!(cost_millis(cost), millis, "{cost:?}");
        }
    }
}
