//! Phone health on DynamoDB: one item per (account, phone) holding the status, the run of
//! hard failures and a version. An event is applied optimistically: read the item
//! (strongly consistent), compute the next health with `phone_status_after`, and write it
//! only if the version is still the one read. A writer that lost the race reads again, so
//! concurrent callbacks for one phone all count. An event that changes nothing writes
//! nothing (most deliveries to a healthy phone cost one read).

use std::collections::HashMap;
use std::time::Duration;

use super::DynamoStore;
use super::errors::condition_failed;
use super::item::{
    Item, Key, corrupt, decode, item_with, n, optional_number_attr, optional_string_attr, s,
};
use crate::domain::consent::{
    BouncePolicy, PhoneEvent, PhoneHealth, PhoneStatus, phone_status_after,
};
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{PhoneStanding, PhoneStore, StoreError, StoreResult};
use async_trait::async_trait;

/// Attempts before a write that keeps losing races gives up (with a retryable backend
/// error). Higher than the store's general bound: a burst of callbacks for one phone (a
/// campaign's messages failing together) is the expected case here, not a rare one.
const MAX_PHONE_RACE_RETRIES: u32 = 24;
/// Upper bound of the random pause before retrying, doubled per lost race up to 64 ms.
const BASE_BACKOFF_MS: u64 = 4;

pub(super) fn phone_key(account: &AccountId, phone: &PhoneNumber) -> Key {
    Key::new(format!("PHONE#{account}#{}", phone.as_str()), "PHONE")
}

/// The health stored in `item` and the version it was written with.
pub(super) fn decode_phone(item: &Item) -> StoreResult<(PhoneHealth, i64)> {
    let status = match optional_string_attr(item, "phone_status")? {
        Some(word) => word
            .parse::<PhoneStatus>()
            .map_err(|e| corrupt(item, format!("phone_status: {e}")))?,
        None => return Err(corrupt(item, "attribute phone_status is missing")),
    };
    let failures = optional_number_attr(item, "hard_failures")?.unwrap_or(0);
    let consecutive_hard_failures = u32::try_from(failures)
        .map_err(|_| corrupt(item, format!("hard_failures out of range: {failures}")))?;
    let version = optional_number_attr(item, "version")?
        .ok_or_else(|| corrupt(item, "attribute version is missing"))?;
    Ok((
        PhoneHealth {
            status,
            consecutive_hard_failures,
        },
        version,
    ))
}

/// The phone's standing taken out of a batch read that included its consent and health
/// items ([`Key::consent`], [`phone_key`]).
pub(super) fn standing_in(
    items: &mut HashMap<(String, String), Item>,
    account: &AccountId,
    phone: &PhoneNumber,
) -> StoreResult<PhoneStanding> {
    let consent = items
        .remove(&Key::consent(account, phone).pair())
        .map(|item| decode(&item))
        .transpose()?;
    let health = match items.remove(&phone_key(account, phone).pair()) {
        Some(item) => decode_phone(&item)?.0,
        None => PhoneHealth::default(),
    };
    Ok(PhoneStanding { consent, health })
}

fn phone_item(key: &Key, health: PhoneHealth, version: i64) -> Item {
    item_with(
        key,
        [
            ("phone_status", s(health.status.as_str())),
            ("hard_failures", n(health.consecutive_hard_failures)),
            ("version", n(version)),
        ],
    )
}

/// A random pause of up to `BASE_BACKOFF_MS * 2^attempt` (capped), so writers that collided
/// do not collide again in lockstep.
fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_BACKOFF_MS << attempt.min(4);
    Duration::from_millis(rand::random_range(1..=ceiling))
}

impl DynamoStore {
    async fn stored_phone(&self, key: &Key) -> StoreResult<Option<(PhoneHealth, i64)>> {
        self.get(key, true)
            .await?
            .map(|item| decode_phone(&item))
            .transpose()
    }

    /// Writes `next` if the item is still at `seen_version` (absent when `None`); returns
    /// whether it did.
    async fn put_phone_if_unchanged(
        &self,
        key: &Key,
        next: PhoneHealth,
        seen_version: Option<i64>,
    ) -> StoreResult<bool> {
        let new_version = seen_version.map_or(1, |v| v.saturating_add(1));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(phone_item(key, next, new_version)));
        let request = match seen_version {
            Some(version) => request
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(version)),
            None => request.condition_expression("attribute_not_exists(pk)"),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err) => condition_failed(&format!("PutItem {key}"), err).map(|_| false),
        }
    }
}

#[async_trait]
impl PhoneStore for DynamoStore {
    async fn phone_health(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneHealth> {
        let stored = self.stored_phone(&phone_key(account, phone)).await?;
        Ok(stored.map(|(health, _)| health).unwrap_or_default())
    }

    async fn phone_standing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneStanding> {
        let (consent_key, health_key) = (Key::consent(account, phone), phone_key(account, phone));
        let mut items = self.batch_get(&[&consent_key, &health_key]).await?;
        standing_in(&mut items, account, phone)
    }

    async fn record_phone_event(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        event: PhoneEvent,
        policy: BouncePolicy,
    ) -> StoreResult<PhoneHealth> {
        let key = phone_key(account, phone);
        for attempt in 0..MAX_PHONE_RACE_RETRIES {
            let stored = self.stored_phone(&key).await?;
            let current = stored.map(|(health, _)| health).unwrap_or_default();
            let next = phone_status_after(current, event, policy);
            if next == current {
                return Ok(current);
            }
            if self
                .put_phone_if_unchanged(&key, next, stored.map(|(_, version)| version))
                .await?
            {
                return Ok(next);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
        Err(StoreError::Backend(format!(
            "phone health {key} kept changing; gave up after {MAX_PHONE_RACE_RETRIES} attempts"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_items_round_trip() {
        let key = Key::new("PHONE#acme#+14155552671", "PHONE");
        let cases = [
            PhoneHealth::default(),
            PhoneHealth {
                status: PhoneStatus::Bounced,
                consecutive_hard_failures: 3,
            },
            PhoneHealth {
                status: PhoneStatus::Paused,
                consecutive_hard_failures: 0,
            },
        ];
        for (version, health) in (1..).zip(cases) {
            let item = phone_item(&key, health, version);
            assert_eq!(decode_phone(&item).expect("decodes"), (health, version));
        }
    }

    #[test]
    fn corrupt_phone_items_are_reported() {
        let key = Key::new("PHONE#acme#+14155552671", "PHONE");
        let mut bad_status = phone_item(&key, PhoneHealth::default(), 1);
        bad_status.insert("phone_status".into(), s("asleep"));
        let mut no_version = phone_item(&key, PhoneHealth::default(), 1);
        no_version.remove("version");
        let mut negative = phone_item(&key, PhoneHealth::default(), 1);
        negative.insert("hard_failures".into(), n(-1));
        for item in [bad_status, no_version, negative] {
            assert!(
                matches!(decode_phone(&item), Err(StoreError::Corrupt { .. })),
                "{item:?}"
            );
        }
    }

    #[test]
    fn backoff_stays_within_its_cap() {
        for attempt in 0..30 {
            let pause = backoff(attempt);
            assert!(pause >= Duration::from_millis(1), "{attempt}: {pause:?}");
            assert!(pause <= Duration::from_millis(64), "{attempt}: {pause:?}");
        }
    }
}
