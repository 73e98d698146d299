//! Accounts on DynamoDB: the account item, its entry in the account index, and one claim
//! item per phone number and Messaging Service it lists, so two accounts can never hold
//! the same sender. An account and all its claims and releases are written in one
//! transaction guarded by the version read before it (see `try_put_account`). Each claim
//! carries a copy of the account written in that same transaction, so the inbound webhook
//! reads its account in one request (`account_lookup`).

use std::collections::BTreeSet;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};

use super::errors::{
    CONDITION_FAILED, build_error, cancellation_reasons, cancelled_error, lost_race, reason_is,
};
use super::item::{
    ACCOUNT_INDEX_PK, Item, Key, corrupt, decode, encode, item_with, n, number_attr, s, string_attr,
};
use super::{DynamoStore, MAX_RACE_RETRIES, MAX_TRANSACTION_ITEMS};
use crate::domain::{Account, AccountId, PhoneNumber, canonical_service_sid};
use crate::ports::store::{AccountStore, ReceivingAccount, StoreError, StoreResult};

/// What one optimistic attempt at a write did.
pub(super) enum Attempt<T> {
    Done(T),
    /// A concurrent writer changed the items first: read again and retry.
    Raced,
}

/// The transaction items of `put_account` ahead of its claims: the account and its index entry.
const ACCOUNT_ITEMS: usize = 2;

/// An account item's version and the claims it holds, as last written (none if absent).
struct StoredAccount {
    version: Option<i64>,
    numbers: BTreeSet<PhoneNumber>,
    services: BTreeSet<String>,
}

/// What one `put_account` claims, and releases of what the stored account claimed.
struct Claims {
    numbers: BTreeSet<PhoneNumber>,
    services: BTreeSet<String>,
    released_numbers: Vec<PhoneNumber>,
    released_services: Vec<String>,
}

impl Claims {
    /// The claims of `account` over `stored`, refused when they do not fit one transaction.
    fn of(account: &Account, stored: &StoredAccount) -> StoreResult<Self> {
        let numbers: BTreeSet<PhoneNumber> =
            account.numbers.iter().map(|n| n.number.clone()).collect();
        let services = account.canonical_service_sids();
        let claims = Claims {
            released_numbers: stored.numbers.difference(&numbers).cloned().collect(),
            released_services: stored.services.difference(&services).cloned().collect(),
            numbers,
            services,
        };
        let count = claims.numbers.len()
            + claims.released_numbers.len()
            + claims.services.len()
            + claims.released_services.len();
        if count + ACCOUNT_ITEMS > MAX_TRANSACTION_ITEMS {
            return Err(StoreError::TooManyClaims {
                account: account.id.clone(),
                claims: count,
                limit: MAX_TRANSACTION_ITEMS - ACCOUNT_ITEMS,
            });
        }
        Ok(claims)
    }
}

impl DynamoStore {
    pub(super) async fn number_owner(
        &self,
        number: &PhoneNumber,
    ) -> StoreResult<Option<AccountId>> {
        self.claim_owner(&Key::number(number)).await
    }

    pub(super) async fn service_owner(&self, service: &str) -> StoreResult<Option<AccountId>> {
        self.claim_owner(&Key::service(service)).await
    }

    /// The account holding the claim item at `key` (a number's or a service's), if any.
    async fn claim_owner(&self, key: &Key) -> StoreResult<Option<AccountId>> {
        let Some(item) = self.get(key, true).await? else {
            return Ok(None);
        };
        let owner = string_attr(&item, "account_id")?;
        AccountId::parse(owner)
            .map(Some)
            .map_err(|e| corrupt(&item, e.to_string()))
    }

    /// A claim item (number or service) for account `me`, with `copy`, the account's JSON
    /// as the same transaction writes it, written unless another account holds it.
    pub(super) fn claim(
        &self,
        key: &Key,
        me: &AttributeValue,
        copy: &AttributeValue,
    ) -> StoreResult<TransactWriteItem> {
        let item = item_with(key, [("account_id", me.clone()), ("data", copy.clone())]);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR account_id = :me")
            .expression_attribute_values(":me", me.clone())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes a claim item (number or service) if it is `me`'s: never another account's.
    fn release(&self, key: &Key, me: &AttributeValue) -> StoreResult<TransactWriteItem> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key.item()))
            .condition_expression("account_id = :me")
            .expression_attribute_values(":me", me.clone())
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    /// One attempt at `put_account`: reads the account's current version, numbers and
    /// services, then writes the account, its index entry, its number and service claims and
    /// their releases in one transaction guarded by that version.
    async fn try_put_account(&self, account: &Account) -> StoreResult<Attempt<()>> {
        let key = Key::account(&account.id);
        let stored = self.stored_account(&key).await?;
        let claims = Claims::of(account, &stored)?;
        let items = self.put_account_items(account, &key, stored.version, &claims)?;
        let context = format!("TransactWriteItems put_account {}", account.id);
        let err = match self.transact(items).await {
            Ok(()) => return Ok(Attempt::Done(())),
            Err(err) => err,
        };
        let reasons = cancellation_reasons(&context, err)?;
        self.put_account_cancelled(account, &claims, &reasons, &context)
            .await
    }

    async fn stored_account(&self, key: &Key) -> StoreResult<StoredAccount> {
        Ok(match self.get(key, true).await? {
            Some(item) => StoredAccount {
                version: Some(number_attr(&item, "version")?),
                numbers: stored_numbers(&item)?,
                services: stored_services(&item)?,
            },
            None => StoredAccount {
                version: None,
                numbers: BTreeSet::new(),
                services: BTreeSet::new(),
            },
        })
    }

    /// The transaction of one `put_account`, in the order `put_account_cancelled` reads its
    /// reasons: the account and its index entry, the number claims, the service claims,
    /// then the releases.
    fn put_account_items(
        &self,
        account: &Account,
        key: &Key,
        version: Option<i64>,
        claims: &Claims,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let me = s(account.id.as_str());
        let copy = encode(account, key)?;
        let index = Put::builder()
            .table_name(&self.table)
            .set_item(Some(Key::account_index(&account.id).item()))
            .build()
            .map_err(build_error)?;
        let mut items = vec![
            self.account_put(account, key, version, claims)?,
            TransactWriteItem::builder().put(index).build(),
        ];
        for number in &claims.numbers {
            items.push(self.claim(&Key::number(number), &me, &copy)?);
        }
        for service in &claims.services {
            items.push(self.claim(&Key::service(service), &me, &copy)?);
        }
        for number in &claims.released_numbers {
            items.push(self.release(&Key::number(number), &me)?);
        }
        for service in &claims.released_services {
            items.push(self.release(&Key::service(service), &me)?);
        }
        Ok(items)
    }

    /// The account item with the claims it now holds, written only over the version read
    /// (or where none is stored yet).
    fn account_put(
        &self,
        account: &Account,
        key: &Key,
        version: Option<i64>,
        claims: &Claims,
    ) -> StoreResult<TransactWriteItem> {
        let account_item = item_with(
            key,
            [
                ("data", encode(account, key)?),
                (
                    "numbers",
                    AttributeValue::L(claims.numbers.iter().map(|p| s(p.as_str())).collect()),
                ),
                (
                    "services",
                    AttributeValue::L(claims.services.iter().map(s).collect()),
                ),
                ("version", n(version.map_or(1, |v| v + 1))),
            ],
        );
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(account_item));
        let put = match version {
            Some(version) => put
                .condition_expression("version = :version")
                .expression_attribute_values(":version", n(version)),
            None => put.condition_expression("attribute_not_exists(pk)"),
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(build_error)?)
            .build())
    }

    /// What a cancelled `put_account` transaction means: a number or service another account
    /// holds, a race to retry, or a failure.
    async fn put_account_cancelled(
        &self,
        account: &Account,
        claims: &Claims,
        reasons: &[Option<String>],
        context: &str,
    ) -> StoreResult<Attempt<()>> {
        for (i, number) in claims.numbers.iter().enumerate() {
            if reason_is(reasons, ACCOUNT_ITEMS + i, CONDITION_FAILED) {
                return match self.number_owner(number).await? {
                    Some(owner) if owner != account.id => Err(StoreError::NumberTaken {
                        number: number.clone(),
                        owner,
                    }),
                    // Released since: try again.
                    _ => Ok(Attempt::Raced),
                };
            }
        }
        let first_service_claim = ACCOUNT_ITEMS + claims.numbers.len();
        for (i, service) in claims.services.iter().enumerate() {
            if reason_is(reasons, first_service_claim + i, CONDITION_FAILED) {
                return match self.service_owner(service).await? {
                    Some(owner) if owner != account.id => Err(StoreError::ServiceTaken {
                        service: service.clone(),
                        owner,
                    }),
                    _ => Ok(Attempt::Raced),
                };
            }
        }
        if lost_race(reasons) {
            Ok(Attempt::Raced)
        } else {
            Err(cancelled_error(context, reasons))
        }
    }
}

/// The numbers an account item claims (kept beside `data` so they can be released even if the
/// account's JSON no longer decodes).
fn stored_numbers(item: &Item) -> StoreResult<BTreeSet<PhoneNumber>> {
    let Some(value) = item.get("numbers") else {
        return Err(corrupt(item, "attribute numbers is missing"));
    };
    let AttributeValue::L(list) = value else {
        return Err(corrupt(item, "attribute numbers is not a list"));
    };
    list.iter()
        .map(|entry| match entry {
            AttributeValue::S(e164) => {
                PhoneNumber::trusted_e164(e164).map_err(|e| corrupt(item, format!("numbers: {e}")))
            }
            _ => Err(corrupt(item, "numbers holds a non-string")),
        })
        .collect()
}

/// The Messaging Services an account item claims (like `numbers`, kept beside `data`). An
/// account stored before services were indexed has no such list and claims none.
fn stored_services(item: &Item) -> StoreResult<BTreeSet<String>> {
    let Some(value) = item.get("services") else {
        return Ok(BTreeSet::new());
    };
    let AttributeValue::L(list) = value else {
        return Err(corrupt(item, "attribute services is not a list"));
    };
    list.iter()
        .map(|entry| match entry {
            AttributeValue::S(service) => Ok(service.clone()),
            _ => Err(corrupt(item, "services holds a non-string")),
        })
        .collect()
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn put_account(&self, account: &Account) -> StoreResult<()> {
        for _ in 0..MAX_RACE_RETRIES {
            if let Attempt::Done(()) = self.try_put_account(account).await? {
                return Ok(());
            }
        }
        Err(StoreError::Backend(format!(
            "account {} kept changing concurrently; gave up after {MAX_RACE_RETRIES} attempts",
            account.id
        )))
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.get(&Key::account(id), true)
            .await?
            .map(|item| decode(&item))
            .transpose()
    }

    async fn account_by_number(&self, number: &PhoneNumber) -> StoreResult<Option<Account>> {
        match self.get(&Key::number(number), true).await? {
            Some(claim) => self.claimed_account(&claim).await,
            None => Ok(None),
        }
    }

    async fn receiving_account(
        &self,
        number: &PhoneNumber,
        service_sid: Option<&str>,
    ) -> StoreResult<Option<ReceivingAccount>> {
        match service_sid {
            Some(service) => self.account_by_number_or_service(number, service).await,
            None => Ok(self
                .account_by_number(number)
                .await?
                .map(ReceivingAccount::OwnsNumber)),
        }
    }

    async fn account_by_messaging_service(
        &self,
        service_sid: &str,
    ) -> StoreResult<Option<Account>> {
        let service = canonical_service_sid(service_sid);
        match self.get(&Key::service(&service), true).await? {
            Some(claim) => self.claimed_account(&claim).await,
            None => self.account_by_unclaimed_service(&service).await,
        }
    }

    async fn account_ids(&self) -> StoreResult<Vec<AccountId>> {
        let mut ids = self
            .query_partition(ACCOUNT_INDEX_PK, None)
            .await?
            .iter()
            .map(|item| {
                let id = string_attr(item, "sk")?;
                AccountId::parse(id).map_err(|e| corrupt(item, e.to_string()))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        ids.sort();
        Ok(ids)
    }
}
