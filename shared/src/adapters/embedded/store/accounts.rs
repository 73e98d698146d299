//! Accounts in the embedded database: the account as JSON, and one claim row per phone
//! number and Messaging Service it lists, checked and written in one write transaction.

use std::collections::BTreeSet;

use async_trait::async_trait;
use redb::ReadableTable;

use super::{
    ACCOUNTS, EmbeddedStore, INDEXES, NUMBERS, SERVICES, SERVICES_INDEXED, decode, encode, get_json,
};
use crate::adapters::embedded::open_read_table;
use crate::domain::{Account, AccountId, PhoneNumber, canonical_service_sid};
use crate::ports::store::{AccountStore, ReceivingAccount, StoreError, StoreResult};

/// The owner recorded in a claim table (numbers or services) under `key`, if any.
fn claim_owner(
    table: &impl ReadableTable<&'static str, &'static str>,
    key: &str,
) -> StoreResult<Option<AccountId>> {
    let Some(owner) = table.get(key)? else {
        return Ok(None);
    };
    AccountId::parse(owner.value())
        .map(Some)
        .map_err(|e| StoreError::Corrupt {
            key: key.to_string(),
            detail: e.to_string(),
        })
}

/// What the service index says about a Messaging Service.
enum ServiceLookup {
    /// The claiming account, or none when the index is complete and has no claim.
    Found(Option<Box<Account>>),
    /// No claim, and accounts stored before the index may still lack theirs.
    NotIndexed,
}

fn account_by_service(tx: &redb::ReadTransaction, service: &str) -> StoreResult<ServiceLookup> {
    let owner = match open_read_table(tx, SERVICES)? {
        Some(services) => claim_owner(&services, service)?,
        None => None,
    };
    if let Some(owner) = owner {
        let account: Option<Account> = match open_read_table(tx, ACCOUNTS)? {
            Some(accounts) => get_json(&accounts, owner.as_str())?,
            None => None,
        };
        return Ok(ServiceLookup::Found(account.map(Box::new)));
    }
    let indexed = match open_read_table(tx, INDEXES)? {
        Some(indexes) => indexes.get(SERVICES_INDEXED)?.is_some(),
        None => false,
    };
    Ok(if indexed {
        ServiceLookup::Found(None)
    } else {
        ServiceLookup::NotIndexed
    })
}

/// Claims the Messaging Services of accounts stored before services were indexed, once per
/// database (then marks it done). A service two such accounts list goes to the first by id,
/// the one the scan this replaces found first; the other account is refused it at its next
/// `put_account`.
fn index_stored_services(tx: &redb::WriteTransaction) -> StoreResult<()> {
    let mut indexes = tx.open_table(INDEXES)?;
    if indexes.get(SERVICES_INDEXED)?.is_some() {
        return Ok(());
    }
    let mut services = tx.open_table(SERVICES)?;
    let accounts = tx.open_table(ACCOUNTS)?;
    for entry in accounts.iter()? {
        let (key, value) = entry?;
        let account: Account = decode(key.value(), value.value())?;
        for service in account.canonical_service_sids() {
            match claim_owner(&services, &service)? {
                None => {
                    services.insert(service.as_str(), account.id.as_str())?;
                }
                Some(owner) if owner != account.id => tracing::warn!(
                    account = %account.id,
                    %owner,
                    service,
                    "two stored accounts list one Messaging Service: it stays with the first"
                ),
                Some(_) => {}
            }
        }
    }
    indexes.insert(SERVICES_INDEXED, ())?;
    Ok(())
}

#[async_trait]
impl AccountStore for EmbeddedStore {
    async fn put_account(&self, account: &Account) -> StoreResult<()> {
        let account = account.clone();
        self.db
            .write(move |tx| {
                let mut numbers = tx.open_table(NUMBERS)?;
                let mut services = tx.open_table(SERVICES)?;
                let me = account.id.as_str();
                let listed_services = account.canonical_service_sids();
                // Check every claim before writing anything: a refusal changes nothing.
                refuse_taken(&numbers, &services, &account, &listed_services)?;
                let mut accounts = tx.open_table(ACCOUNTS)?;
                let previous: Option<Account> = get_json(&accounts, me)?;
                if let Some(previous) = previous {
                    release_dropped(
                        &mut numbers,
                        &mut services,
                        &account,
                        &listed_services,
                        previous,
                    )?;
                }
                for n in &account.numbers {
                    numbers.insert(n.number.as_str(), me)?;
                }
                for service in &listed_services {
                    services.insert(service.as_str(), me)?;
                }
                accounts.insert(me, encode(me, &account)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.read_json(ACCOUNTS, id.to_string()).await
    }

    async fn account_by_number(&self, number: &PhoneNumber) -> StoreResult<Option<Account>> {
        let number = number.to_string();
        self.db
            .read(move |tx| {
                let Some(numbers) = open_read_table(tx, NUMBERS)? else {
                    return Ok(None);
                };
                let Some(owner) = numbers.get(number.as_str())? else {
                    return Ok(None);
                };
                match open_read_table(tx, ACCOUNTS)? {
                    Some(accounts) => get_json(&accounts, owner.value()),
                    None => Ok(None),
                }
            })
            .await
    }

    /// The number read first, in its own read transaction, as the DynamoDB backend reads
    /// both claims in one request: a local read costs no round trip.
    async fn receiving_account(
        &self,
        number: &PhoneNumber,
        service_sid: Option<&str>,
    ) -> StoreResult<Option<ReceivingAccount>> {
        if let Some(owner) = self.account_by_number(number).await? {
            return Ok(Some(ReceivingAccount::OwnsNumber(owner)));
        }
        let Some(service) = service_sid else {
            return Ok(None);
        };
        Ok(self
            .account_by_messaging_service(service)
            .await?
            .map(ReceivingAccount::ListsService))
    }

    async fn account_by_messaging_service(
        &self,
        service_sid: &str,
    ) -> StoreResult<Option<Account>> {
        let service = canonical_service_sid(service_sid);
        let first = {
            let service = service.clone();
            self.db
                .read(move |tx| account_by_service(tx, &service))
                .await?
        };
        match first {
            ServiceLookup::Found(account) => Ok(account.map(|a| *a)),
            ServiceLookup::NotIndexed => {
                self.db.write(index_stored_services).await?;
                match self
                    .db
                    .read(move |tx| account_by_service(tx, &service))
                    .await?
                {
                    ServiceLookup::Found(account) => Ok(account.map(|a| *a)),
                    ServiceLookup::NotIndexed => Ok(None),
                }
            }
        }
    }

    async fn account_ids(&self) -> StoreResult<Vec<AccountId>> {
        self.db
            .read(move |tx| {
                let Some(accounts) = open_read_table(tx, ACCOUNTS)? else {
                    return Ok(vec![]);
                };
                let mut ids = vec![];
                for entry in accounts.iter()? {
                    let (key, _) = entry?;
                    let id = AccountId::parse(key.value()).map_err(|e| StoreError::Corrupt {
                        key: key.value().to_string(),
                        detail: e.to_string(),
                    })?;
                    ids.push(id);
                }
                Ok(ids)
            })
            .await
    }
}

/// Refuses `account` a number or Messaging Service another account claims.
fn refuse_taken(
    numbers: &impl ReadableTable<&'static str, &'static str>,
    services: &impl ReadableTable<&'static str, &'static str>,
    account: &Account,
    listed_services: &BTreeSet<String>,
) -> StoreResult<()> {
    for n in &account.numbers {
        if let Some(owner) = claim_owner(numbers, n.number.as_str())?
            && owner != account.id
        {
            return Err(StoreError::NumberTaken {
                number: n.number.clone(),
                owner,
            });
        }
    }
    for service in listed_services {
        if let Some(owner) = claim_owner(services, service)?
            && owner != account.id
        {
            return Err(StoreError::ServiceTaken {
                service: service.clone(),
                owner,
            });
        }
    }
    Ok(())
}

/// Releases the claims of `previous` (the account as stored) that `account` no longer lists.
fn release_dropped(
    numbers: &mut redb::Table<&'static str, &'static str>,
    services: &mut redb::Table<&'static str, &'static str>,
    account: &Account,
    listed_services: &BTreeSet<String>,
    previous: Account,
) -> StoreResult<()> {
    let previous_services = previous.canonical_service_sids();
    for old in previous.numbers {
        if account.number(&old.number).is_none() {
            numbers.remove(old.number.as_str())?;
        }
    }
    // Only our own claims: an account stored before services were indexed may list a
    // service it never claimed.
    for old in previous_services {
        if !listed_services.contains(&old)
            && claim_owner(services, &old)?.as_ref() == Some(&account.id)
        {
            services.remove(old.as_str())?;
        }
    }
    Ok(())
}
