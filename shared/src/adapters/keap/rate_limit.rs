//! Client-side rate limit of Keap calls: at most N calls in any window of each configured
//! length (Keap: 10 per second and 240 per minute for a personal access token or service
//! account key), per token.
//!
//! A sliding log of granted start times rather than a token bucket (GCRA, as in the
//! `governor` crate): a bucket refills *and* allows a full burst, so "10/s, burst 10" lets
//! about 20 calls into one wall-clock second after an idle spell, which is what Keap's spike
//! arrest rejects. The log admits exactly what the published limits allow, and it is small:
//! at most one entry per call of the longest window (240).
//!
//! Callers reserve a start time, then sleep until it outside the lock; a reservation in
//! the future counts against the windows at once, so concurrent callers queue fairly.
//! This paces one process only: other Lambda instances using the same token have their
//! own rate_limiter, which is why 429 handling stays in place.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::ports::crm::{CrmError, CrmResult};

/// Keap's limits for one token, and how long a call may wait for its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeapRateLimit {
    /// Most calls in any one-second window.
    pub per_second: u32,
    /// Most calls in any sixty-second window.
    pub per_minute: u32,
    /// A call whose turn is further away than this is not queued: it fails with
    /// `CrmError::RateLimited` so the job queue retries it later (a Lambda must not sleep
    /// through its timeout).
    pub max_wait: Duration,
}

impl Default for KeapRateLimit {
    /// Keap's published limits for a personal access token or service account key.
    fn default() -> Self {
        KeapRateLimit {
            per_second: 10,
            per_minute: 240,
            max_wait: Duration::from_secs(5),
        }
    }
}

/// "At most `limit` calls in any window of `length`."
#[derive(Debug, Clone, Copy)]
struct Window {
    limit: usize,
    length: Duration,
}

/// Start times granted to one token, oldest first (never decreasing, see `reserve`).
#[derive(Debug, Default)]
struct Grants(VecDeque<Instant>);

impl Grants {
    /// Reserves the earliest start at or after `now` that keeps every window within its
    /// limit. When that start is more than `max_wait` away nothing is reserved and the
    /// wait is returned as the error.
    ///
    /// For a window of `limit` N and `length` L, a start `t` is allowed once the N-th most
    /// recent grant `g` is out of the window ending at `t`: `g + L <= t`. Every bound only
    /// moves forward as grants are added, so starts come out in order.
    fn reserve(
        &mut self,
        now: Instant,
        windows: &[Window],
        max_wait: Duration,
    ) -> Result<Instant, Duration> {
        let longest = windows
            .iter()
            .map(|w| w.length)
            .max()
            .unwrap_or(Duration::ZERO);
        // Grants older than the longest window cannot constrain a start at or after `now`.
        while self.0.front().is_some_and(|g| *g + longest <= now) {
            self.0.pop_front();
        }
        let mut start = now;
        for window in windows {
            if window.limit == 0 {
                continue;
            }
            if let Some(index) = self.0.len().checked_sub(window.limit) {
                start = start.max(self.0[index] + window.length);
            }
        }
        let wait = start - now;
        if wait > max_wait {
            return Err(wait);
        }
        self.0.push_back(start);
        Ok(start)
    }
}

/// Paces calls per key (one key per Keap token).
#[derive(Debug)]
pub(super) struct RateLimiter {
    windows: [Window; 2],
    max_wait: Duration,
    grants: Mutex<HashMap<String, Grants>>,
}

impl RateLimiter {
    pub(super) fn new(limits: &KeapRateLimit) -> Self {
        RateLimiter {
            windows: [
                Window {
                    limit: limits.per_second as usize,
                    length: Duration::from_secs(1),
                },
                Window {
                    limit: limits.per_minute as usize,
                    length: Duration::from_secs(60),
                },
            ],
            max_wait: limits.max_wait,
            grants: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for this key's next turn, or fails fast with `RateLimited` when the turn is
    /// more than `max_wait` away.
    pub(super) async fn acquire(&self, key: &str) -> CrmResult<()> {
        let now = Instant::now();
        let reserved = {
            let mut grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
            grants
                .entry(key.to_string())
                .or_default()
                .reserve(now, &self.windows, self.max_wait)
        };
        match reserved {
            Ok(start) => {
                tokio::time::sleep_until(start).await;
                Ok(())
            }
            Err(wait) => {
                tracing::info!(
                    wait_ms = wait.as_millis() as u64,
                    "Keap rate limit: next turn too far away, deferring the call"
                );
                Err(CrmError::RateLimited {
                    retry_after: Some(wait),
                })
            }
        }
    }

    /// The start times reserved for `key`, oldest first (for tests).
    #[cfg(test)]
    pub(super) fn reserved(&self, key: &str) -> Vec<Instant> {
        let grants = self.grants.lock().unwrap_or_else(|p| p.into_inner());
        grants
            .get(key)
            .map(|g| g.0.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keap_windows() -> [Window; 2] {
        [
            Window {
                limit: 10,
                length: Duration::from_secs(1),
            },
            Window {
                limit: 240,
                length: Duration::from_secs(60),
            },
        ]
    }

    const NO_LIMIT: Duration = Duration::from_secs(3600);

    /// Offsets from `t0` of the starts granted to `n` calls all made at `t0`.
    fn offsets_of_burst(n: usize) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut grants = Grants::default();
        (0..n)
            .map(|_| {
                grants
                    .reserve(t0, &keap_windows(), NO_LIMIT)
                    .expect("no wait limit")
                    - t0
            })
            .collect()
    }

    #[test]
    fn a_burst_gets_ten_calls_per_second() {
        let offsets = offsets_of_burst(25);
        let expected: Vec<Duration> = (0..25u64).map(|i| Duration::from_secs(i / 10)).collect();
        assert_eq!(offsets, expected);
    }

    #[test]
    fn the_minute_window_holds_the_241st_call_for_a_minute() {
        let offsets = offsets_of_burst(241);
        // 240 calls at 10/s fill 24 s; the 241st waits for the first to leave its minute.
        assert_eq!(offsets[239], Duration::from_secs(23));
        assert_eq!(offsets[240], Duration::from_secs(60));
    }

    #[test]
    fn no_window_ever_holds_more_than_its_limit() {
        let t0 = Instant::now();
        let mut grants = Grants::default();
        // Calls arrive every 30 ms for 40 s: faster than either limit allows.
        let starts: Vec<Instant> = (0..1333u64)
            .map(|i| {
                grants
                    .reserve(
                        t0 + Duration::from_millis(30 * i),
                        &keap_windows(),
                        NO_LIMIT,
                    )
                    .expect("no wait limit")
            })
            .collect();
        for window in keap_windows() {
            for (i, start) in starts.iter().enumerate() {
                let in_window = starts[i..]
                    .iter()
                    .take_while(|s| **s < *start + window.length)
                    .count();
                assert!(
                    in_window <= window.limit,
                    "{in_window} calls in {:?} from call {i}",
                    window.length
                );
            }
        }
    }

    #[test]
    fn a_turn_beyond_max_wait_is_refused_and_not_reserved() {
        let t0 = Instant::now();
        let mut grants = Grants::default();
        let max_wait = Duration::from_millis(1500);
        for _ in 0..20 {
            grants
                .reserve(t0, &keap_windows(), max_wait)
                .expect("within 1 s");
        }
        assert_eq!(
            grants.reserve(t0, &keap_windows(), max_wait),
            Err(Duration::from_secs(2))
        );
        assert_eq!(grants.0.len(), 20, "the refused call holds no slot");
        // Later, the same call fits.
        let later = t0 + Duration::from_millis(600);
        assert_eq!(
            grants.reserve(later, &keap_windows(), max_wait),
            Ok(t0 + Duration::from_secs(2))
        );
    }

    #[test]
    fn old_grants_are_forgotten() {
        let t0 = Instant::now();
        let mut grants = Grants::default();
        for _ in 0..10 {
            grants
                .reserve(t0, &keap_windows(), NO_LIMIT)
                .expect("reserved");
        }
        let much_later = t0 + Duration::from_secs(61);
        assert_eq!(
            grants.reserve(much_later, &keap_windows(), NO_LIMIT),
            Ok(much_later)
        );
        assert_eq!(grants.0.len(), 1);
    }

    #[tokio::test]
    async fn keys_are_paced_independently() {
        let rate_limiter = RateLimiter::new(&KeapRateLimit {
            max_wait: Duration::ZERO,
            ..KeapRateLimit::default()
        });
        for _ in 0..10 {
            rate_limiter
                .acquire("token-a")
                .await
                .expect("within the first second");
        }
        assert!(matches!(
            rate_limiter.acquire("token-a").await,
            Err(CrmError::RateLimited {
                retry_after: Some(_)
            })
        ));
        rate_limiter
            .acquire("token-b")
            .await
            .expect("another token has its own budget");
        assert_eq!(rate_limiter.reserved("token-a").len(), 10);
        assert_eq!(rate_limiter.reserved("token-b").len(), 1);
    }
}
