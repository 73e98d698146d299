//! Job failures on redb: `queue \0 message id` → `StoredFailure` (JSON). Expired items are
//! ignored on read; they are few (one per failed message) and small.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{EmbeddedStore, JsonTable, encode, pair_key_str};
use crate::domain::Timestamp;
use crate::ports::queue::QueueName;
use crate::ports::store::{JOB_FAILURE_RETENTION, JobFailure, JobFailureStore, StoreResult};

const JOB_FAILURES: JsonTable = redb::TableDefinition::new("store_job_failures");

#[derive(Serialize, Deserialize)]
struct StoredFailure {
    failure: JobFailure,
    expires_at: Timestamp,
}

#[async_trait]
impl JobFailureStore for EmbeddedStore {
    async fn record_job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        failure: &JobFailure,
    ) -> StoreResult<()> {
        let key = pair_key_str(queue.as_str(), message_id);
        let stored = StoredFailure {
            failure: failure.clone(),
            expires_at: failure.failed_at.plus(JOB_FAILURE_RETENTION),
        };
        self.db
            .write(move |tx| {
                tx.open_table(JOB_FAILURES)?
                    .insert(key.as_str(), encode(&key, &stored)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<JobFailure>> {
        let stored: Option<StoredFailure> = self
            .read_json(JOB_FAILURES, pair_key_str(queue.as_str(), message_id))
            .await?;
        Ok(stored.filter(|s| s.expires_at > now).map(|s| s.failure))
    }
}
