//! Time as milliseconds since the Unix epoch: cheap to store, compare and order in every
//! backend (DynamoDB numbers, redb keys, SQS attributes).

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// Whole seconds, the unit DynamoDB's TTL attribute wants.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    pub fn plus(self, d: Duration) -> Self {
        Timestamp(
            self.0
                .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
        )
    }

    /// How long from `self` until `later`; zero when `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.0.saturating_sub(self.0)).unwrap_or(0))
    }
}

impl Timestamp {
    /// The UTC day, `2026-12-07`, for people to read.
    pub fn utc_day(self) -> String {
        jiff::Timestamp::from_millisecond(self.0)
            .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date().to_string())
            .unwrap_or_else(|_| self.0.to_string())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic() {
        let t = Timestamp::from_millis(1_500);
        assert_eq!(t.as_secs(), 1);
        assert_eq!(t.plus(Duration::from_millis(500)).as_millis(), 2_000);
        assert_eq!(
            t.until(Timestamp::from_millis(2_000)),
            Duration::from_millis(500)
        );
        assert_eq!(t.until(Timestamp::from_millis(1_000)), Duration::ZERO);
    }
}
