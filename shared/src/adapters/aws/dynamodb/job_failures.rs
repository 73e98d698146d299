//! Job failures on DynamoDB: one item per queue message, `pk = JOBFAIL#<queue>#<message
//! id>`, replaced on each failure and expired by TTL after the dead-letter retention.

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{Key, decode, encode, expiry_attributes, is_live, item_with};
use crate::domain::Timestamp;
use crate::ports::queue::QueueName;
use crate::ports::store::{JOB_FAILURE_RETENTION, JobFailure, JobFailureStore, StoreResult};

fn failure_key(queue: QueueName, message_id: &str) -> Key {
    Key::new(format!("JOBFAIL#{queue}#{message_id}"), "JOBFAIL")
}

#[async_trait]
impl JobFailureStore for DynamoStore {
    async fn record_job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        failure: &JobFailure,
    ) -> StoreResult<()> {
        let key = failure_key(queue, message_id);
        let [expires_ms, expires_s] =
            expiry_attributes(failure.failed_at.plus(JOB_FAILURE_RETENTION));
        self.put(item_with(
            &key,
            [("data", encode(failure, &key)?), expires_ms, expires_s],
        ))
        .await
    }

    async fn job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<JobFailure>> {
        match self.get(&failure_key(queue, message_id), false).await? {
            Some(item) if is_live(&item, now)? => decode(&item).map(Some),
            _ => Ok(None),
        }
    }
}
