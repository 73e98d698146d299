//! Disabled goals on DynamoDB: one item per goal call name in the account's partition
//! (`GOAL#<call name>`), so an account's list is one Query, and one goal's item is read
//! with the account in one BatchGetItem.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::DynamoStore;
use super::item::{GOAL_PREFIX, Key, decode, item_with, s, string_attr};
use crate::domain::AccountId;
use crate::domain::GoalName;
use crate::ports::store::{AccountForGoal, GoalStore, StoreResult};

#[async_trait]
impl GoalStore for DynamoStore {
    async fn account_for_goal(
        &self,
        account: &AccountId,
        call_name: &GoalName,
    ) -> StoreResult<Option<AccountForGoal>> {
        let (account_key, goal_key) = (
            Key::account(account),
            Key::goal(account, call_name.as_str()),
        );
        let mut items = self.batch_get(&[&account_key, &goal_key]).await?;
        let Some(item) = items.remove(&account_key.pair()) else {
            return Ok(None);
        };
        Ok(Some(AccountForGoal {
            account: decode(&item)?,
            goal_disabled: items.contains_key(&goal_key.pair()),
        }))
    }

    async fn disable_goal(&self, account: &AccountId, call_name: &GoalName) -> StoreResult<()> {
        let key = Key::goal(account, call_name.as_str());
        self.put(item_with(&key, [("call_name", s(call_name.as_str()))]))
            .await
    }

    async fn disabled_goals(&self, account: &AccountId) -> StoreResult<BTreeSet<String>> {
        self.query_partition(&Key::account(account).pk, Some(GOAL_PREFIX))
            .await?
            .iter()
            .map(|item| string_attr(item, "call_name").map(str::to_string))
            .collect()
    }

    async fn reset_disabled_goals(&self, account: &AccountId) -> StoreResult<usize> {
        let goals = self
            .query_partition(&Key::account(account).pk, Some(GOAL_PREFIX))
            .await?;
        let mut removed = 0;
        for item in &goals {
            let key = Key::new(string_attr(item, "pk")?, string_attr(item, "sk")?);
            // Count only what this call deleted, so concurrent resets do not double count.
            if self.delete(&key).await?.is_some() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}
