//! Opt-out lists on DynamoDB. A consent item that says "opted out" also carries
//! `gsi1pk = OPTOUT#<account>` and `gsi1sk = <phone>`: the sparse index `gsi1` then holds
//! exactly each account's opted-out phones in E.164 order, and listing them is one Query
//! per page instead of a table scan. An opt-in rewrites the item without those attributes,
//! which drops it from the index.
//!
//! An import is one conditional PutItem per phone (several in flight at once): written
//! unless the stored consent already says "opted out" or holds a newer change. The stored
//! `data` is compact JSON, in which `"opted_out":true` occurs only as that field (quotes
//! inside strings are escaped), so the condition can test it with `contains`, and items
//! written before the index existed are recognised too.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use futures::future::try_join_all;

use super::errors::{backend, condition_failed};
use super::item::{Item, Key, corrupt, decode, encode, item_with, n, s, string_attr};
use super::{DynamoStore, GSI1};
use crate::domain::{AccountId, PhoneNumber};
use crate::ports::store::{ConsentRecord, OptOut, OptOutImport, OptOutStore, StoreResult};

/// The marker of an opted-out consent record inside its JSON.
pub(super) const OPTED_OUT_JSON: &str = "\"opted_out\":true";
/// Conditional writes an import keeps in flight.
const IMPORT_CONCURRENCY: usize = 16;

fn opt_out_partition(account: &AccountId) -> String {
    format!("OPTOUT#{account}")
}

/// The consent item for `record`, indexed in `gsi1` when it opts the phone out.
pub(super) fn consent_item(
    account: &AccountId,
    phone: &PhoneNumber,
    record: &ConsentRecord,
) -> StoreResult<Item> {
    let key = Key::consent(account, phone);
    let mut item = item_with(
        &key,
        [
            ("data", encode(record, &key)?),
            ("changed_at", n(record.changed_at.as_millis())),
        ],
    );
    if record.opted_out {
        item.insert("gsi1pk".into(), s(opt_out_partition(account)));
        item.insert("gsi1sk".into(), s(phone.as_str()));
    }
    Ok(item)
}

impl DynamoStore {
    async fn import_one(&self, account: &AccountId, opt_out: &OptOut) -> StoreResult<OptOutImport> {
        let record = ConsentRecord {
            opted_out: true,
            changed_at: opt_out.changed_at,
            source: opt_out.source.clone(),
        };
        let item = consent_item(account, &opt_out.phone, &record)?;
        let key = Key::consent(account, &opt_out.phone);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR (changed_at <= :at AND NOT contains(#data, :opted_out))",
            )
            .expression_attribute_names("#data", "data")
            .expression_attribute_values(":at", n(opt_out.changed_at.as_millis()))
            .expression_attribute_values(":opted_out", s(OPTED_OUT_JSON))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(OptOutImport::Added),
            Err(err) => err,
        };
        let current = match condition_failed(&format!("PutItem {key}"), err)? {
            Some(item) => item,
            None => match self.get(&key, true).await? {
                Some(item) => item,
                // Deleted in between: nothing is stored, so try again as new.
                None => return Box::pin(self.import_one(account, opt_out)).await,
            },
        };
        let current: ConsentRecord = decode(&current)?;
        Ok(if current.opted_out {
            OptOutImport::AlreadyOptedOut
        } else {
            OptOutImport::NewerOptIn
        })
    }
}

#[async_trait]
impl OptOutStore for DynamoStore {
    async fn import_opt_outs(
        &self,
        account: &AccountId,
        opt_outs: &[OptOut],
    ) -> StoreResult<Vec<OptOutImport>> {
        let mut outcomes = Vec::with_capacity(opt_outs.len());
        for chunk in opt_outs.chunks(IMPORT_CONCURRENCY) {
            let mut writes = Vec::with_capacity(chunk.len());
            for opt_out in chunk {
                writes.push(self.import_one(account, opt_out));
            }
            outcomes.extend(try_join_all(writes).await?);
        }
        Ok(outcomes)
    }

    async fn opt_outs(
        &self,
        account: &AccountId,
        after: Option<&PhoneNumber>,
        limit: usize,
    ) -> StoreResult<Vec<OptOut>> {
        let partition = opt_out_partition(account);
        let mut out = Vec::new();
        let mut start_key: Option<Item> = None;
        while out.len() < limit {
            let remaining = i32::try_from(limit - out.len()).unwrap_or(i32::MAX);
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .expression_attribute_values(":pk", s(&partition))
                .limit(remaining)
                .set_exclusive_start_key(start_key.take());
            query = match after {
                Some(phone) => query
                    .key_condition_expression("gsi1pk = :pk AND gsi1sk > :after")
                    .expression_attribute_values(":after", s(phone.as_str())),
                None => query.key_condition_expression("gsi1pk = :pk"),
            };
            let page = query
                .send()
                .await
                .map_err(|e| backend(&format!("Query {GSI1} {partition}"), &e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode_opt_out(&item)?);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start_key = Some(next),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

fn decode_opt_out(item: &Item) -> StoreResult<OptOut> {
    let phone = PhoneNumber::trusted_e164(string_attr(item, "gsi1sk")?)
        .map_err(|e| corrupt(item, format!("gsi1sk: {e}")))?;
    let record: ConsentRecord = decode(item)?;
    Ok(OptOut {
        phone,
        changed_at: record.changed_at,
        source: record.source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    #[test]
    fn only_opted_out_records_carry_the_marker_and_the_index_attributes() {
        let account = AccountId::parse("acme").expect("valid id");
        let phone = PhoneNumber::parse_e164("+14155552671").expect("valid phone");
        let cases = [
            (true, "STOP keyword"),
            (false, "START keyword"),
            // A source that quotes the marker must not look opted out.
            (false, "\"opted_out\":true"),
        ];
        for (opted_out, source) in cases {
            let record = ConsentRecord {
                opted_out,
                changed_at: Timestamp::from_millis(1),
                source: source.into(),
            };
            let item = consent_item(&account, &phone, &record).expect("encodes");
            let data = string_attr(&item, "data").expect("data");
            assert_eq!(data.contains(OPTED_OUT_JSON), opted_out, "{data}");
            assert_eq!(item.contains_key("gsi1pk"), opted_out, "{source}");
            assert_eq!(item.contains_key("gsi1sk"), opted_out, "{source}");
        }
    }
}
