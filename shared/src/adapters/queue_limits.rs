//! SQS's limits on what a queue call may ask, checked the same way by both queue adapters:
//! SQS itself (`aws/sqs.rs`, before calling it) and the embedded queue of local mode
//! (`embedded/queue.rs`, which mirrors SQS).

use std::time::Duration;

use crate::ports::queue::{MAX_DELAY, OutgoingMessage, QueueError, QueueName, QueueResult};

/// SQS's largest receive batch; larger requests are served up to this many.
pub const MAX_RECEIVE_BATCH: usize = 10;
/// SQS's longest visibility timeout (12 hours).
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

/// A message may wait at most [`MAX_DELAY`] before it becomes visible.
pub(crate) fn check_delay(queue: QueueName, message: &OutgoingMessage) -> QueueResult<()> {
    if message.delay > MAX_DELAY {
        return Err(QueueError::Rejected {
            queue,
            detail: format!(
                "delay {:?} is longer than the maximum {MAX_DELAY:?}",
                message.delay
            ),
        });
    }
    Ok(())
}

/// How many messages one receive takes at most: `None` when `max` is 0 (nothing is
/// asked), else `max` up to [`MAX_RECEIVE_BATCH`]. A visibility timeout longer than SQS
/// allows is refused first.
pub(crate) fn receive_batch(
    queue: QueueName,
    max: usize,
    visibility: Duration,
) -> QueueResult<Option<usize>> {
    check_visibility(queue, visibility)?;
    Ok((max > 0).then(|| max.min(MAX_RECEIVE_BATCH)))
}

/// A received message may stay hidden at most [`MAX_VISIBILITY`].
pub(crate) fn check_visibility(queue: QueueName, visibility: Duration) -> QueueResult<()> {
    if visibility > MAX_VISIBILITY {
        return Err(QueueError::Rejected {
            queue,
            detail: format!("visibility timeout {visibility:?} is longer than {MAX_VISIBILITY:?}"),
        });
    }
    Ok(())
}
