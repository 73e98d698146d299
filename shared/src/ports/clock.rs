//! Time and identifiers, as ports so tests can pin them.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::domain::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub trait IdGenerator: Send + Sync {
    /// A new unique id that sorts after every id this generator made before.
    fn new_id(&self) -> String;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp::from_millis(ms)
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(t: Timestamp) -> Self {
        ManualClock(AtomicI64::new(t.as_millis()))
    }

    pub fn advance(&self, d: std::time::Duration) {
        let ms = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.0.store(t.as_millis(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst))
    }
}

/// ULIDs from a monotonic generator: unique, and sortable by creation time.
#[derive(Default)]
pub struct UlidIds(std::sync::Mutex<ulid::Generator>);

impl IdGenerator for UlidIds {
    fn new_id(&self) -> String {
        let mut generator = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Overflow needs 2^80 ids in one millisecond; fall back to a fresh random ULID.
        generator
            .generate()
            .unwrap_or_else(|_| ulid::Ulid::new())
            .to_string()
    }
}

/// The id of work first claimed at `at` under `key`: a ULID of that time whose random
/// part comes from the key, so a handler that takes the work over from one that died
/// derives the same id (and the work is not done twice under two ids).
pub fn derived_id(at: Timestamp, key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(key.as_bytes());
    let mut random = [0u8; 16];
    random[6..].copy_from_slice(&digest[..10]);
    let millis = u64::try_from(at.as_millis()).unwrap_or_default();
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_depend_on_time_and_key_only() {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let id = derived_id(at, "send-request:acme:id:42");
        assert_eq!(id, derived_id(at, "send-request:acme:id:42"));
        assert_ne!(id, derived_id(at, "send-request:acme:id:43"));
        assert_ne!(
            id,
            derived_id(
                at.plus(std::time::Duration::from_millis(1)),
                "send-request:acme:id:42"
            )
        );
        let parsed = ulid::Ulid::from_string(&id).expect("a ULID");
        assert_eq!(parsed.timestamp_ms(), 1_700_000_000_000);
    }

    #[test]
    fn ulids_sort_in_creation_order() {
        let ids = UlidIds::default();
        let made: Vec<String> = (0..1000).map(|_| ids.new_id()).collect();
        let mut sorted = made.clone();
        sorted.sort();
        assert_eq!(made, sorted);
        sorted.dedup();
        assert_eq!(sorted.len(), 1000);
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let clock = ManualClock::at(Timestamp::from_millis(10));
        clock.advance(std::time::Duration::from_secs(1));
        assert_eq!(clock.now().as_millis(), 1010);
    }
}
