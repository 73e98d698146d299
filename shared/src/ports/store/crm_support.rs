//! What the CRM side keeps: disabled goals, the goal log and the contact cache.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::goals::GoalName;
use crate::domain::{Account, AccountId, MessageId, PhoneNumber, Timestamp};

use super::StoreResult;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedContact {
    /// The CRM's contact, as the CRM adapter serialised it.
    pub contact: serde_json::Value,
    pub expires_at: Timestamp,
}

/// An account with whether one of its goals is disabled: what a goal job reads first.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountForGoal {
    pub account: Account,
    /// The CRM said the goal is not configured (until an operator resets it).
    pub goal_disabled: bool,
}

#[async_trait]
pub trait GoalStore: Send + Sync {
    /// The account `account` with whether its goal `call_name` is disabled, read together
    /// (one request on DynamoDB: both items are in the account's partition); `None` when
    /// no such account is stored.
    async fn account_for_goal(
        &self,
        account: &AccountId,
        call_name: &GoalName,
    ) -> StoreResult<Option<AccountForGoal>>;
    /// Remembers that the CRM has no goal `call_name` configured for this account.
    async fn disable_goal(&self, account: &AccountId, call_name: &GoalName) -> StoreResult<()>;
    async fn disabled_goals(&self, account: &AccountId) -> StoreResult<BTreeSet<String>>;
    /// Forgets every disabled goal of the account; returns how many there were.
    async fn reset_disabled_goals(&self, account: &AccountId) -> StoreResult<usize>;
}

/// What became of one goal smsflow fired about a message (or about a send request it
/// refused, under the id the request was given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalRecord {
    /// Our id of the message or refused request the goal is about.
    pub message_id: MessageId,
    /// The goal's call name (`GoodNumber`, `Inbound19523142318`...).
    pub goal: GoalName,
    pub outcome: GoalResult,
    pub at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalResult {
    /// The CRM achieved it.
    Achieved,
    /// Not called: the CRM said before that the goal is not configured.
    Disabled,
    /// The CRM says the goal is not configured; it is disabled until reset.
    NotConfigured,
    /// The CRM refused the call for good (not retried).
    Failed,
}

/// The goals fired per conversation, so an operator can read them next to the messages
/// (`smsflow conversations show`).
#[async_trait]
pub trait GoalLog: Send + Sync {
    /// Records what became of a goal; one record per message and goal (a repeat of the
    /// same goal job replaces it, so retries never list a goal twice).
    async fn record_goal(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &GoalRecord,
    ) -> StoreResult<()>;
    /// The goals recorded in the conversation with `phone` about messages whose id is
    /// `from_message_id` or later (ids are ULIDs: later means newer), by message id then
    /// goal name.
    async fn goals_fired(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<GoalRecord>>;
}

#[async_trait]
pub trait ContactCache: Send + Sync {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()>;
    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>>;
    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()>;
}
