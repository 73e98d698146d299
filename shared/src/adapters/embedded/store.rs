//! The embedded storage adapter: every access pattern of the store port on redb tables.
//!
//! redb admits one write transaction at a time, so each method that checks and writes does
//! both inside one `EmbeddedDb::write` call: that serialisation is what carries the
//! invariants here (DynamoDB gets the same guarantees from condition expressions).

use std::collections::BTreeSet;
use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DbError, EmbeddedDb, open_read_table};

mod credentials;
use crate::domain::routing::RoutingDecision;
use crate::domain::{
    Account, AccountId, MessageRecord, MessageStatus, PhoneNumber, Timestamp, canonical_service_sid,
};
use crate::ports::store::*;

mod claims;
mod conversations;
mod goal_log;
mod job_failures;
mod optout;
mod phone;
mod sequences;

type JsonTable = TableDefinition<'static, &'static str, &'static [u8]>;

const ACCOUNTS: JsonTable = TableDefinition::new("store_accounts");
const NUMBERS: TableDefinition<&str, &str> = TableDefinition::new("store_numbers");
/// Messaging Service SID (canonical form) → the account that lists it.
const SERVICES: TableDefinition<&str, &str> = TableDefinition::new("store_services");
/// Indexes built once over what older versions stored: their names, when done.
const INDEXES: TableDefinition<&str, ()> = TableDefinition::new("store_indexes");
/// [`INDEXES`] entry: every stored account's Messaging Services are claimed.
const SERVICES_INDEXED: &str = "messaging_services";
/// `account \0 phone \0 message id` → message. ULID ids make the key order time order.
const MESSAGES: JsonTable = TableDefinition::new("store_messages");
/// provider SID → message key.
const SIDS: TableDefinition<&str, &str> = TableDefinition::new("store_sids");
const CONSENT: JsonTable = TableDefinition::new("store_consent");
const SESSIONS: JsonTable = TableDefinition::new("store_sessions");
const RATES: TableDefinition<&str, i64> = TableDefinition::new("store_rates");
/// `account \0 call name` → nothing.
const DISABLED_GOALS: TableDefinition<&str, ()> = TableDefinition::new("store_disabled_goals");
const CONTACTS: JsonTable = TableDefinition::new("store_contacts");

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        StoreError::Backend(e.0)
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Backend(e.to_string())
            }
        }
    )*};
}
db_err!(redb::StorageError, redb::TableError);

fn encode<T: Serialize>(key: &str, value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        key: key.to_string(),
        detail: e.to_string(),
    })
}

fn pair_key(account: &AccountId, second: &str) -> String {
    pair_key_str(account.as_str(), second)
}

fn pair_key_str(first: &str, second: &str) -> String {
    format!("{first}\0{second}")
}

fn message_prefix(account: &AccountId, phone: &PhoneNumber) -> String {
    format!("{account}\0{phone}\0")
}

/// Reads and decodes one JSON item from any readable table.
fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> StoreResult<Option<T>> {
    match table.get(key)? {
        Some(guard) => decode(key, guard.value()).map(Some),
        None => Ok(None),
    }
}

/// Reads the JSON item at `key`, changes it with `change` and writes it back, inside the
/// caller's write transaction; `NotFound(what)` when there is no such item.
fn modify_json<T: Serialize + DeserializeOwned>(
    table: &mut redb::Table<&'static str, &'static [u8]>,
    key: &str,
    what: impl FnOnce() -> String,
    change: impl FnOnce(&mut T),
) -> StoreResult<()> {
    let Some(mut item): Option<T> = get_json(table, key)? else {
        return Err(StoreError::NotFound(what()));
    };
    change(&mut item);
    table.insert(key, encode(key, &item)?.as_slice())?;
    Ok(())
}

#[derive(Clone)]
pub struct EmbeddedStore {
    db: EmbeddedDb,
}

impl EmbeddedStore {
    pub fn new(db: EmbeddedDb) -> Self {
        EmbeddedStore { db }
    }

    async fn read_json<T>(&self, table: JsonTable, key: String) -> StoreResult<Option<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        self.db
            .read(move |tx| match open_read_table(tx, table)? {
                Some(t) => get_json(&t, &key),
                None => Ok(None),
            })
            .await
    }
}

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
        for service in account.twilio.canonical_service_sids() {
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
                let listed_services = account.twilio.canonical_service_sids();
                // Check every claim before writing anything: a refusal changes nothing.
                for n in &account.numbers {
                    if let Some(owner) = claim_owner(&numbers, n.number.as_str())?
                        && owner != account.id
                    {
                        return Err(StoreError::NumberTaken {
                            number: n.number.clone(),
                            owner,
                        });
                    }
                }
                for service in &listed_services {
                    if let Some(owner) = claim_owner(&services, service)?
                        && owner != account.id
                    {
                        return Err(StoreError::ServiceTaken {
                            service: service.clone(),
                            owner,
                        });
                    }
                }
                let mut accounts = tx.open_table(ACCOUNTS)?;
                let previous: Option<Account> = get_json(&accounts, me)?;
                if let Some(previous) = previous {
                    for old in previous.numbers {
                        if account.number(&old.number).is_none() {
                            numbers.remove(old.number.as_str())?;
                        }
                    }
                    // Only our own claims: an account stored before services were indexed
                    // may list a service it never claimed.
                    for old in previous.twilio.canonical_service_sids() {
                        if !listed_services.contains(&old)
                            && claim_owner(&services, &old)?.as_ref() == Some(&account.id)
                        {
                            services.remove(old.as_str())?;
                        }
                    }
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

#[async_trait]
impl ConversationStore for EmbeddedStore {
    async fn record_message(&self, message: &MessageRecord) -> StoreResult<Recorded> {
        let message = message.clone();
        self.db
            .write(move |tx| {
                let key = format!(
                    "{}{}",
                    message_prefix(&message.account, &message.contact_phone),
                    message.id
                );
                let mut messages = tx.open_table(MESSAGES)?;
                let mut sids = tx.open_table(SIDS)?;
                if messages.get(key.as_str())?.is_some() {
                    return Ok(Recorded::Duplicate);
                }
                if let Some(sid) = &message.provider_sid {
                    if sids.get(sid.as_str())?.is_some() {
                        return Ok(Recorded::Duplicate);
                    }
                    sids.insert(sid.as_str(), key.as_str())?;
                }
                messages.insert(key.as_str(), encode(&key, &message)?.as_slice())?;
                conversations::index_message(tx, &message)?;
                Ok(Recorded::New)
            })
            .await
    }

    async fn conversation(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        limit: usize,
    ) -> StoreResult<Vec<MessageRecord>> {
        let prefix = message_prefix(account, phone);
        self.db
            .read(move |tx| {
                let Some(messages) = open_read_table(tx, MESSAGES)? else {
                    return Ok(vec![]);
                };
                // The prefix ends in \0; the same prefix ending in \x01 bounds it above.
                let end = format!("{}\u{1}", &prefix[..prefix.len() - 1]);
                let mut out = Vec::new();
                for entry in messages.range(prefix.as_str()..end.as_str())?.rev() {
                    if out.len() >= limit {
                        break;
                    }
                    let (key, value) = entry?;
                    out.push(decode(key.value(), value.value())?);
                }
                Ok(out)
            })
            .await
    }

    async fn message_by_sid(&self, provider_sid: &str) -> StoreResult<Option<MessageRecord>> {
        let sid = provider_sid.to_string();
        self.db
            .read(move |tx| {
                let (Some(sids), Some(messages)) =
                    (open_read_table(tx, SIDS)?, open_read_table(tx, MESSAGES)?)
                else {
                    return Ok(None);
                };
                let Some(key) = sids.get(sid.as_str())? else {
                    return Ok(None);
                };
                get_json(&messages, key.value())
            })
            .await
    }

    async fn message(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
    ) -> StoreResult<Option<MessageRecord>> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        self.read_json(MESSAGES, key).await
    }

    async fn attach_provider_sid(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        provider_sid: &str,
    ) -> StoreResult<()> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        let sid = provider_sid.to_string();
        self.db
            .write(move |tx| {
                let mut messages = tx.open_table(MESSAGES)?;
                let mut sids = tx.open_table(SIDS)?;
                let Some(mut message): Option<MessageRecord> = get_json(&messages, &key)? else {
                    return Err(StoreError::NotFound(format!("message {key}")));
                };
                if let Some(existing) = sids.get(sid.as_str())? {
                    if existing.value() == key {
                        return Ok(());
                    }
                    return Err(StoreError::Corrupt {
                        key: sid.clone(),
                        detail: "provider SID already attached to another message".into(),
                    });
                }
                message.provider_sid = Some(sid.clone());
                sids.insert(sid.as_str(), key.as_str())?;
                messages.insert(key.as_str(), encode(&key, &message)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn record_routing(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        routing: &RoutingDecision,
    ) -> StoreResult<()> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        let routing = routing.clone();
        self.db
            .write(move |tx| {
                modify_json(
                    &mut tx.open_table(MESSAGES)?,
                    &key,
                    || format!("message {key}"),
                    |message: &mut MessageRecord| message.routing = Some(routing),
                )
            })
            .await
    }

    async fn apply_status_by_id(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        message_id: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let key = format!("{}{message_id}", message_prefix(account, phone));
        self.db
            .write(move |tx| {
                let mut messages = tx.open_table(MESSAGES)?;
                let Some(message): Option<MessageRecord> = get_json(&messages, &key)? else {
                    return Ok(StatusUpdate::UnknownSid);
                };
                apply_status_to(&mut messages, &key, message, status, error_code, at)
            })
            .await
    }

    async fn apply_status(
        &self,
        provider_sid: &str,
        status: MessageStatus,
        error_code: Option<u32>,
        at: Timestamp,
    ) -> StoreResult<StatusUpdate> {
        let sid = provider_sid.to_string();
        self.db
            .write(move |tx| {
                let sids = tx.open_table(SIDS)?;
                let Some(key) = sids.get(sid.as_str())?.map(|k| k.value().to_string()) else {
                    return Ok(StatusUpdate::UnknownSid);
                };
                let mut messages = tx.open_table(MESSAGES)?;
                let Some(message): Option<MessageRecord> = get_json(&messages, &key)? else {
                    return Err(StoreError::Corrupt {
                        key: sid.clone(),
                        detail: "SID points at a missing message".into(),
                    });
                };
                apply_status_to(&mut messages, &key, message, status, error_code, at)
            })
            .await
    }
}

/// Moves a stored message's status forward (never back) and keeps its first error code;
/// a callback that is not progress records a code only on a failure without one.
fn apply_status_to(
    messages: &mut redb::Table<&str, &[u8]>,
    key: &str,
    mut message: MessageRecord,
    status: MessageStatus,
    error_code: Option<u32>,
    at: Timestamp,
) -> StoreResult<StatusUpdate> {
    let advanced = message.status.advances_to(status);
    let gains_error = message.error_code.is_none()
        && error_code.is_some()
        && (advanced || message.status.takes_late_error_code());
    if advanced {
        message.status = status;
    }
    if gains_error {
        message.error_code = error_code;
    }
    if advanced || gains_error {
        message.updated_at = at;
        messages.insert(key, encode(key, &message)?.as_slice())?;
    }
    Ok(if advanced {
        StatusUpdate::Advanced(message)
    } else {
        StatusUpdate::Unchanged(message)
    })
}

#[async_trait]
impl ConsentStore for EmbeddedStore {
    async fn set_consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        record: &ConsentRecord,
    ) -> StoreResult<bool> {
        let key = pair_key(account, phone.as_str());
        let record = record.clone();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(CONSENT)?;
                let current: Option<ConsentRecord> = get_json(&table, &key)?;
                if current.is_some_and(|c| c.changed_at > record.changed_at) {
                    return Ok(false);
                }
                table.insert(key.as_str(), encode(&key, &record)?.as_slice())?;
                Ok(true)
            })
            .await
    }

    async fn consent(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
    ) -> StoreResult<Option<ConsentRecord>> {
        self.read_json(CONSENT, pair_key(account, phone.as_str()))
            .await
    }
}

#[async_trait]
impl SessionStore for EmbeddedStore {
    async fn start_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
        now: Timestamp,
    ) -> StoreResult<SessionStart> {
        let key = pair_key(account, phone.as_str());
        let session = session.clone();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SESSIONS)?;
                let current: Option<SessionRecord> = get_json(&table, &key)?;
                if let Some(current) = current.filter(|c| c.expires_at > now) {
                    return Ok(SessionStart::AlreadyActive(current));
                }
                table.insert(key.as_str(), encode(&key, &session)?.as_slice())?;
                Ok(SessionStart::Started)
            })
            .await
    }

    async fn active_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let session: Option<SessionRecord> = self
            .read_json(SESSIONS, pair_key(account, phone.as_str()))
            .await?;
        Ok(session.filter(|s| s.expires_at > now))
    }

    async fn update_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session: &SessionRecord,
    ) -> StoreResult<bool> {
        let key = pair_key(account, phone.as_str());
        let session = session.clone();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SESSIONS)?;
                let current: Option<SessionRecord> = get_json(&table, &key)?;
                let read_revision = session.revision.checked_sub(1);
                if current.is_none_or(|c| {
                    c.session_id != session.session_id || Some(c.revision) != read_revision
                }) {
                    return Ok(false);
                }
                table.insert(key.as_str(), encode(&key, &session)?.as_slice())?;
                Ok(true)
            })
            .await
    }

    async fn end_session(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        session_id: &str,
    ) -> StoreResult<bool> {
        let key = pair_key(account, phone.as_str());
        let session_id = session_id.to_string();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(SESSIONS)?;
                let current: Option<SessionRecord> = get_json(&table, &key)?;
                if current.is_none_or(|c| c.session_id != session_id) {
                    return Ok(false);
                }
                table.remove(key.as_str())?;
                Ok(true)
            })
            .await
    }
}

#[async_trait]
impl RateStore for EmbeddedStore {
    async fn reserve_send_slot(
        &self,
        sender: &str,
        cost: Duration,
        now: Timestamp,
    ) -> StoreResult<Timestamp> {
        let key = sender.to_string();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(RATES)?;
                let next_free = table
                    .get(key.as_str())?
                    .map(|v| Timestamp::from_millis(v.value()))
                    .unwrap_or(now);
                let start = next_free.max(now);
                table.insert(key.as_str(), start.plus(cost).as_millis())?;
                Ok(start)
            })
            .await
    }
}

#[async_trait]
impl GoalStore for EmbeddedStore {
    async fn disable_goal(&self, account: &AccountId, call_name: &str) -> StoreResult<()> {
        let key = pair_key(account, call_name);
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
                let end = format!("{}\u{1}", &prefix[..prefix.len() - 1]);
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
                let end = format!("{}\u{1}", &prefix[..prefix.len() - 1]);
                let removed = table.extract_from_if(prefix.as_str()..end.as_str(), |_, _| true)?;
                Ok(removed.count())
            })
            .await
    }
}

#[async_trait]
impl ContactCache for EmbeddedStore {
    async fn cache_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        contact: &CachedContact,
    ) -> StoreResult<()> {
        let key = pair_key(account, phone.as_str());
        let contact = contact.clone();
        self.db
            .write(move |tx| {
                tx.open_table(CONTACTS)?
                    .insert(key.as_str(), encode(&key, &contact)?.as_slice())?;
                Ok(())
            })
            .await
    }

    async fn cached_contact(
        &self,
        account: &AccountId,
        phone: &PhoneNumber,
        now: Timestamp,
    ) -> StoreResult<Option<CachedContact>> {
        let cached: Option<CachedContact> = self
            .read_json(CONTACTS, pair_key(account, phone.as_str()))
            .await?;
        Ok(cached.filter(|c| c.expires_at > now))
    }

    async fn forget_contact(&self, account: &AccountId, phone: &PhoneNumber) -> StoreResult<()> {
        let key = pair_key(account, phone.as_str());
        self.db
            .write(move |tx| {
                tx.open_table(CONTACTS)?.remove(key.as_str())?;
                Ok(())
            })
            .await
    }
}
