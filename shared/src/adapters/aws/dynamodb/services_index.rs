//! // Accounts stored before Messaging Services were indexed claim none. The first lookup by
//! service that misses claims them all, once per table: a scan of the accounts, then the
//! `INDEX#messaging-services` item, so later misses cost one more read (none once this
//! process has seen that item). Without it the index could not tell "no account lists this
//! service" from "an older account lists it unclaimed" but by scanning on every miss, which
//! an unsigned webhook could trigger at will (the account, and so the signature check,
//! comes after the lookup).

use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

use super::accounts::Attempt;
use super::errors::{build_error, cancellation_reasons, cancelled_error, lost_race};
use super::item::{Key, decode, encode, n, number_attr, s};
use super::{DynamoStore, MAX_RACE_RETRIES, MAX_TRANSACTION_ITEMS};
use crate::domain::{Account, AccountId};
use crate::ports::store::{AccountStore, StoreError, StoreResult};

impl DynamoStore {
    pub(super) async fn services_indexed(&self) -> StoreResult<bool> {
        if self.services_indexed.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let indexed = self.get(&Key::services_indexed(), true).await?.is_some();
        if indexed {
            self.services_indexed.store(true, Ordering::Relaxed);
        }
        Ok(indexed)
    }

    /// Claims the services of every account stored without a `services` list, then records
    /// that the index is complete. Safe to run concurrently (each account's claims are
    /// written under its version) and to run again.
    pub(super) async fn index_stored_services(&self) -> StoreResult<()> {
        for id in self.account_ids().await? {
            let mut indexed = false;
            for _ in 0..MAX_RACE_RETRIES {
                if let Attempt::Done(()) = self.try_index_account_services(&id).await? {
                    indexed = true;
                    break;
                }
            }
            if !indexed {
                return Err(StoreError::Backend(format!(
                    "account {id} kept changing while its Messaging Services were indexed; gave up after {MAX_RACE_RETRIES} attempts"
                )));
            }
        }
        self.put(Key::services_indexed().item()).await?;
        self.services_indexed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// One attempt at claiming the services of an account stored without a `services` list.
    /// The claims and the list are written with a new version, so a concurrent
    /// `put_account` that read the account before them retries and sees what to release.
    /// A service another account holds stays with it (the first by id, which the scan this
    /// index replaces found first): this account is refused it at its next `put_account`.
    async fn try_index_account_services(&self, id: &AccountId) -> StoreResult<Attempt<()>> {
        let key = Key::account(id);
        let Some(item) = self.get(&key, true).await? else {
            return Ok(Attempt::Done(()));
        };
        if item.contains_key("services") {
            return Ok(Attempt::Done(()));
        }
        let version = number_attr(&item, "version")?;
        let account: Account = decode(&item)?;
        let claimable = self.claimable_services(id, &account).await?;
        if claimable.is_empty() {
            return Ok(Attempt::Done(()));
        }
        if claimable.len() + 1 > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooManyClaims {
                account: id.clone(),
                claims: claimable.len(),
                limit: MAX_TRANSACTION_ITEMS - 1,
            });
        }
        let items = self.index_services_items(&key, id, &account, version, &claimable)?;
        let context = format!("TransactWriteItems index services of {id}");
        let err = match self.transact(items).await {
            Ok(()) => return Ok(Attempt::Done(())),
            Err(err) => err,
        };
        let reasons = cancellation_reasons(&context, err)?;
        if lost_race(&reasons) {
            Ok(Attempt::Raced)
        } else {
            Err(cancelled_error(&context, &reasons))
        }
    }

    /// The services account `id` lists that no other account holds.
    async fn claimable_services(
        &self,
        id: &AccountId,
        account: &Account,
    ) -> StoreResult<Vec<String>> {
        let mut claimable = Vec::new();
        for service in account.canonical_service_sids() {
            match self.service_owner(&service).await? {
                Some(owner) if owner != *id => tracing::warn!(
                    account = %id,
                    %owner,
                    service,
                    "two stored accounts list one Messaging Service: it stays with the first"
                ),
                _ => claimable.push(service),
            }
        }
        Ok(claimable)
    }

    /// The account's `services` list under a new version, and a claim of each service.
    fn index_services_items(
        &self,
        key: &Key,
        id: &AccountId,
        account: &Account,
        version: i64,
        claimable: &[String],
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let me = s(id.as_str());
        // The account's data is unchanged: the claims carry the copy it already has.
        let copy = encode(account, key)?;
        let list = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .update_expression("SET services = :services, version = :next")
            .condition_expression("version = :version")
            .expression_attribute_values(
                ":services",
                AttributeValue::L(claimable.iter().map(s).collect()),
            )
            .expression_attribute_values(":next", n(version + 1))
            .expression_attribute_values(":version", n(version))
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().update(list).build()];
        for service in claimable {
            items.push(self.claim(&Key::service(service), &me, &copy)?);
        }
        Ok(items)
    }
}
