//! How long a failed queue job waits before its next delivery: `first` after the first
//! failure, doubling with each receive, at most `max`. The consumers apply it on Lambda and
//! locally alike, so a brief outage (a CRM's 5xx, Twilio's 429) costs seconds, not the
//! queue's whole visibility timeout, and the dead-letter queue still gets a job only after
//! the queue's `maxReceiveCount` tries.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBackoff {
    pub first: Duration,
    pub max: Duration,
}

/// The longest backoff: a job waits at most this long between two tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

impl Default for RetryBackoff {
    /// 2, 4, 8... seconds, at most 5 minutes (the local server's; the template sets its own).
    fn default() -> Self {
        RetryBackoff {
            first: Duration::from_secs(2),
            max: MAX_BACKOFF,
        }
    }
}

impl RetryBackoff {
    /// Starting at `first`, at most [`MAX_BACKOFF`].
    pub fn starting_at(first: Duration) -> Self {
        RetryBackoff {
            first: first.min(MAX_BACKOFF),
            max: MAX_BACKOFF,
        }
    }

    /// The wait after a message's `receive_count`-th delivery failed.
    pub fn delay(&self, receive_count: u32) -> Duration {
        let doublings = receive_count.clamp(1, 16) - 1;
        self.first.saturating_mul(1 << doublings).min(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let short = RetryBackoff {
            first: Duration::from_millis(100),
            max: Duration::from_millis(700),
        };
        let delays: Vec<u128> = (0..6).map(|n| short.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 100, 200, 400, 700, 700]);
        let backoff = RetryBackoff::default();
        let cases = [
            (0, 2),
            (1, 2),
            (2, 4),
            (3, 8),
            (8, 256),
            (9, 300),
            (40, 300),
        ];
        for (count, secs) in cases {
            assert_eq!(
                backoff.delay(count),
                Duration::from_secs(secs),
                "receive {count}"
            );
        }
        assert_eq!(
            RetryBackoff::starting_at(Duration::from_secs(900)).first,
            MAX_BACKOFF
        );
    }
}
