//! Queue jobs that failed for good, kept for the operator.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::ports::queue::QueueName;

use super::StoreResult;

/// Why a queue message failed the last time it was handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub error: String,
    pub failed_at: Timestamp,
}

/// How long a job failure is kept: as long as a dead-letter queue keeps the message
/// (SQS's longest retention, 14 days).
pub const JOB_FAILURE_RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

#[async_trait]
pub trait JobFailureStore: Send + Sync {
    /// Remembers why a queue message failed (the latest failure replaces earlier ones) for
    /// [`JOB_FAILURE_RETENTION`]. Queue message ids survive the move to the dead-letter
    /// queue, so `dlq list` can show it.
    async fn record_job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        failure: &JobFailure,
    ) -> StoreResult<()>;
    /// The last failure of a queue message, unless expired at `now`.
    async fn job_failure(
        &self,
        queue: QueueName,
        message_id: &str,
        now: Timestamp,
    ) -> StoreResult<Option<JobFailure>>;
}
