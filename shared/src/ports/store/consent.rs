//! Consent, imported opt-out lists and phone health: what decides whether a number may be texted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::consent::{BouncePolicy, PhoneEvent, PhoneHealth};
use crate::domain::{AccountId, PhoneNumber, Timestamp};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    pub opted_out: bool,
    /// When the keyword or event happened; older events never overwrite newer ones.
    pub changed_at: Timestamp,
    /// What caused it (`STOP keyword`, `21610 from Twilio`, `operator`...).
    pub source: String,
}

#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Records an opt-out/opt-in unless a newer change is already stored. Returns whether it
    /// was applied.
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool>;
    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>>;
}

/// One phone on an account's opt-out list, as imported and exported by operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub phone: PhoneNumber,
    /// When the contact opted out.
    pub changed_at: Timestamp,
    /// What caused it (`STOP keyword`, `import optouts.csv`...).
    pub source: String,
}

/// What importing one opt-out did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptOutImport {
    /// Stored: the phone is opted out now.
    Added,
    /// The phone was already opted out; nothing changed (so re-running an import adds
    /// nothing).
    AlreadyOptedOut,
    /// A newer opt-in is stored (the contact re-subscribed after this opt-out); kept.
    NewerOptIn,
}

#[async_trait]
pub trait OptOutStore: Send + Sync {
    /// Opts each phone out, each atomically and independently: a phone already opted out is
    /// left as it is, and a newer opt-in wins as in [`ConsentStore::set_consent`]. Returns
    /// one outcome per entry, in order.
    async fn import_opt_outs(
        &self,
        account: &AccountId,
        opt_outs: &[OptOut],
    ) -> StoreResult<Vec<OptOutImport>>;
    /// The account's opted-out phones in E.164 order, starting after `after`, at most
    /// `limit` (page through with the last phone returned). Opt-outs stored before this
    /// list existed (DynamoDB items written by older versions) are not listed until the
    /// phone's consent changes again or is imported.
    async fn opt_outs(
        &self,
        account: &AccountId,
        after: Option<&PhoneNumber>,
        limit: usize,
    ) -> StoreResult<Vec<OptOut>>;
}

/// What decides whether a phone may be texted: its opt-out record and its delivery health.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PhoneStanding {
    pub consent: Option<ConsentRecord>,
    pub health: PhoneHealth,
}

impl PhoneStanding {
    pub fn opted_out(&self) -> bool {
        self.consent.as_ref().is_some_and(|c| c.opted_out)
    }
}

#[async_trait]
pub trait PhoneStore: Send + Sync {
    /// The phone's delivery health for this account; `PhoneHealth::default()` (active, no
    /// failures) when nothing is stored.
    async fn phone_health(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneHealth>;
    /// The phone's opt-out record and health together, in one read: what every send asks
    /// before it goes out (twice: when requested and when sent).
    async fn phone_standing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<PhoneStanding>;
    /// Applies `event` with `phone_status_after` atomically (no lost update when callbacks
    /// race) and returns the new health.
    async fn record_phone_event(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        event: PhoneEvent,
        policy: BouncePolicy,
    ) -> StoreResult<PhoneHealth>;
}
