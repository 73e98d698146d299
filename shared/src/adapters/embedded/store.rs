//! The embedded storage adapter: every access pattern of the store port on redb tables.
//!
//! redb admits one write transaction at a time, so each method that checks and writes does
//! both inside one `EmbeddedDb::write` call: that serialisation is what carries the
//! invariants here (DynamoDB gets the same guarantees from condition expressions).

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{DbError, EmbeddedDb, open_read_table};
use crate::domain::{AccountId, MessageId, PhoneNumber};
use crate::ports::store::{StoreError, StoreResult};

// One file per store port (or a few ports over the same rows).
mod accounts;
mod claims;
mod consent;
mod contacts;
mod conversations;
mod credentials;
mod goal_log;
mod goals;
mod inbox;
mod job_failures;
mod message_history;
mod messages;
mod optout;
mod phone;
mod rate;
mod refusal_log;
mod reply_grants;
mod send_path;
mod sequences;
mod sessions;

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
const REPLY_GRANTS: JsonTable = TableDefinition::new("store_reply_grants");
/// Sign-in link secret digest → `SignInLink`.
const INBOX_LINKS: JsonTable = TableDefinition::new("store_inbox_links");
/// Session secret digest → `InboxSession`.
const INBOX_SESSIONS: JsonTable = TableDefinition::new("store_inbox_sessions");
/// `lower-cased e-mail \0 window millis` → (links asked for, expires at millis).
const INBOX_SIGN_IN_COUNTS: TableDefinition<&str, (u32, i64)> =
    TableDefinition::new("store_inbox_sign_in_counts");
/// `account \0 user \0 phone` → read through, millis.
const INBOX_READ_MARKS: TableDefinition<&str, i64> = TableDefinition::new("store_inbox_read_marks");

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

/// The first key after every key starting with `prefix`, which ends in `\0`: the same
/// prefix ending in `\x01`.
fn prefix_end(prefix: &str) -> String {
    format!("{}\u{1}", prefix.strip_suffix('\0').unwrap_or(prefix))
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

    /// Writes the JSON item `value` at `key`.
    async fn write_json<T>(&self, table: JsonTable, key: String, value: T) -> StoreResult<()>
    where
        T: Serialize + Send + 'static,
    {
        self.db
            .write(move |tx| {
                tx.open_table(table)?
                    .insert(key.as_str(), encode(&key, &value)?.as_slice())?;
                Ok(())
            })
            .await
    }

    /// A conversation's items in `table` (keyed `account \0 phone \0 message id ...`), from
    /// `from_message_id` on, in key order.
    async fn conversation_log<T>(
        &self,
        table: JsonTable,
        account: &AccountId,
        phone: &PhoneNumber,
        from_message_id: &MessageId,
    ) -> StoreResult<Vec<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let prefix = message_prefix(account, phone);
        let (start, end) = (format!("{prefix}{from_message_id}"), prefix_end(&prefix));
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, table)? else {
                    return Ok(vec![]);
                };
                let mut items = Vec::new();
                for entry in table.range(start.as_str()..end.as_str())? {
                    let (key, value) = entry?;
                    items.push(decode(key.value(), value.value())?);
                }
                Ok(items)
            })
            .await
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
