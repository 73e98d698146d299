//! The requests every store port is built from: reads, plain and conditional writes,
//! partition queries and transactions on the store's table.

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, Put, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem,
};

use super::DynamoStore;
use super::errors::{backend, build_error, condition_failed};
use super::item::{Item, Key, n, s, string_attr};
use crate::domain::Timestamp;
use crate::ports::store::{StoreError, StoreResult};

impl DynamoStore {
    /// Puts `item` unless a live (unexpired at `now`) item holds `key`; returns that holder
    /// instead. Carries "one active session" and "one claim per key".
    pub(super) async fn put_unless_live(
        &self,
        key: &Key,
        item: Item,
        now: Timestamp,
    ) -> StoreResult<Option<Item>> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // An item is live while now < expires_at.
            .condition_expression("attribute_not_exists(pk) OR expires_at_ms <= :now")
            .expression_attribute_values(":now", n(now.as_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(None),
            Err(err) => err,
        };
        match condition_failed(&format!("PutItem {key}"), err)? {
            Some(holder) => Ok(Some(holder)),
            None => {
                self.get(key, true).await?.map(Some).ok_or_else(|| {
                    StoreError::Backend(format!("{key} refused the write but is gone"))
                })
            }
        }
    }

    pub(super) async fn get(&self, key: &Key, consistent: bool) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| backend(&format!("GetItem {key}"), &e))?;
        Ok(out.item)
    }

    /// The items at `keys` that exist, read strongly consistent in one BatchGetItem (and
    /// again for any keys DynamoDB leaves unprocessed under load), keyed by their keys.
    pub(super) async fn batch_get(
        &self,
        keys: &[&Key],
    ) -> StoreResult<HashMap<(String, String), Item>> {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(|k| k.item()).collect()))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let mut found = HashMap::new();
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| backend("BatchGetItem", &e))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let key = (
                    string_attr(&item, "pk")?.to_string(),
                    string_attr(&item, "sk")?.to_string(),
                );
                found.insert(key, item);
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys.is_empty());
        }
        Ok(found)
    }

    pub(super) async fn put(&self, item: Item) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| backend("PutItem", &e))?;
        Ok(())
    }

    pub(super) async fn delete(&self, key: &Key) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| backend(&format!("DeleteItem {key}"), &e))?;
        Ok(out.attributes.filter(|old| !old.is_empty()))
    }

    /// Every item of a partition (strongly consistent), optionally only the sort keys
    /// starting with `sk_prefix`, in sort-key order.
    pub(super) async fn query_partition(
        &self,
        pk: &str,
        sk_prefix: Option<&str>,
    ) -> StoreResult<Vec<Item>> {
        match sk_prefix {
            Some(prefix) => {
                let condition = "pk = :pk AND begins_with(sk, :prefix)";
                self.query_all(pk, condition, &[(":prefix", prefix)]).await
            }
            None => self.query_all(pk, "pk = :pk", &[]).await,
        }
    }

    /// The items of a partition whose sort keys lie from `from` to `to` (inclusive), in
    /// sort-key order (strongly consistent).
    pub(super) async fn query_sort_range(
        &self,
        pk: &str,
        from: &str,
        to: &str,
    ) -> StoreResult<Vec<Item>> {
        let condition = "pk = :pk AND sk BETWEEN :from AND :to";
        self.query_all(pk, condition, &[(":from", from), (":to", to)])
            .await
    }

    /// Every page of one Query of partition `pk` (`:pk` in `condition`) with `values`.
    async fn query_all(
        &self,
        pk: &str,
        condition: &str,
        values: &[(&str, &str)],
    ) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start_key: Option<Item> = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression(condition)
                .expression_attribute_values(":pk", s(pk))
                .set_exclusive_start_key(start_key.take());
            for (name, value) in values {
                query = query.expression_attribute_values(*name, s(*value));
            }
            let out = query
                .send()
                .await
                .map_err(|e| backend(&format!("Query {pk}"), &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => return Ok(items),
            }
        }
    }

    pub(super) fn transact_put(
        &self,
        item: Item,
        condition: &str,
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// As [`Self::transact_put`], with one value the condition names.
    pub(super) fn transact_put_with(
        &self,
        item: Item,
        condition: &str,
        value: (&str, AttributeValue),
    ) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .expression_attribute_values(value.0, value.1)
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<(), SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>>
    {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
    }
}
