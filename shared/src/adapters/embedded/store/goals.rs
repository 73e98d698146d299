//! Disabled goals in the embedded database: one row per `account \0 call name`.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{ACCOUNTS, DISABLED_GOALS, EmbeddedStore, get_json, pair_key, prefix_end};
use crate::adapters::embedded::open_read_table;
use crate::domain::AccountId;
use crate::domain::GoalName;
use crate::ports::store::{AccountForGoal, GoalStore, StoreResult};

#[async_trait]
impl GoalStore for EmbeddedStore {
    async fn account_for_goal(
        &self,
        account: &AccountId,
        call_name: &GoalName,
    ) -> StoreResult<Option<AccountForGoal>> {
        let (id, goal_key) = (account.to_string(), pair_key(account, call_name.as_str()));
        self.db
            .read(move |tx| {
                let Some(accounts) = open_read_table(tx, ACCOUNTS)? else {
                    return Ok(None);
                };
                let Some(account) = get_json(&accounts, &id)? else {
                    return Ok(None);
                };
                let goal_disabled = match open_read_table(tx, DISABLED_GOALS)? {
                    Some(goals) => goals.get(goal_key.as_str())?.is_some(),
                    None => false,
                };
                Ok(Some(AccountForGoal {
                    account,
                    goal_disabled,
                }))
            })
            .await
    }

    async fn disable_goal(&self, account: &AccountId, call_name: &GoalName) -> StoreResult<()> {
        let key = pair_key(account, call_name.as_str());
        self.db
            .write(move |tx| {
                tx.open_table(DISABLED_GOALS)?.insert(key.as_str(), ())?;
                Ok(())
            })
            .await
    }

    async fn disabled_goals(&self, account: &AccountId) -> StoreResult<BTreeSet<String>> {
        let prefix = pair_key(account, "");
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, DISABLED_GOALS)? else {
                    return Ok(BTreeSet::new());
                };
                let end = prefix_end(&prefix);
                let mut goals = BTreeSet::new();
                for entry in table.range(prefix.as_str()..end.as_str())? {
                    let (key, _) = entry?;
                    goals.insert(key.value()[prefix.len()..].to_string());
                }
                Ok(goals)
            })
            .await
    }

    async fn reset_disabled_goals(&self, account: &AccountId) -> StoreResult<usize> {
        let prefix = pair_key(account, "");
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(DISABLED_GOALS)?;
                let end = prefix_end(&prefix);
                let removed = table.extract_from_if(prefix.as_str()..end.as_str(), |_, _| true)?;
                Ok(removed.count())
            })
            .await
    }
}
