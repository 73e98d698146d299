//! The sandbox's records in the embedded database: per-account rows with increasing
//! integer ids and JSON values, and the reads and writes the port and the controls share.

use redb::{ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{AchievedGoal, Failure, InAccount, SandboxCrm, SandboxNote};
use crate::adapters::crm_input::check_note_text;
use crate::adapters::embedded::{DbError, open_read_table};
use crate::domain::ContactId;
use crate::domain::{AccountId, Timestamp};
use crate::ports::crm::{Contact, CrmError, CrmResult, NewNote, Note};

/// Rows keyed by (account id, integer id). Values are JSON.
pub(super) type Rows = TableDefinition<'static, (&'static str, u64), &'static [u8]>;

pub(super) const CONTACTS: Rows = TableDefinition::new("crm_contacts");
pub(super) const NOTES: Rows = TableDefinition::new("crm_notes");
/// Achieved goals, keyed by a per-account sequence number in the order they happened.
pub(super) const GOAL_EVENTS: Rows = TableDefinition::new("crm_goal_events");
/// Goals the sandbox answers `NotConfigured` for: (account, integration, call name).
pub(super) const DISABLED_GOALS: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("crm_disabled_goals");

impl SandboxCrm {
    /// Stores a new note on an existing contact.
    pub(super) async fn insert_note(
        &self,
        account: &AccountId,
        contact_id: &str,
        note: &NewNote,
        note_type: Option<String>,
        created_at: Timestamp,
    ) -> CrmResult<SandboxNote> {
        check_note_text(note)?;
        let account = account.to_string();
        let contact = contact_number(contact_id)?;
        let new = note.clone();
        self.db
            .write(move |tx| {
                existing_contact(&tx.open_table(CONTACTS)?, &account, contact)?;
                let mut notes = tx.open_table(NOTES)?;
                let id = next_id(&notes, &account)?;
                let note = SandboxNote {
                    note: Note {
                        id: id.to_string(),
                        contact_id: ContactId::new(contact.to_string()),
                        title: new.title,
                        body: new.body,
                        user_id: new.user_id,
                    },
                    note_type,
                    created_at: Some(created_at),
                };
                put_json(&mut notes, (&account, id), &note)?;
                Ok::<_, Failure>(note)
            })
            .await
            .map_err(CrmError::from)
    }

    /// Every row of `def` of one account (or of all), in key order.
    pub(super) async fn scoped_rows<T>(
        &self,
        def: Rows,
        account: Option<&AccountId>,
    ) -> Result<Vec<InAccount<T>>, DbError>
    where
        T: ScopedRow + Send + 'static,
    {
        let account = account.map(AccountId::to_string);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, def)? else {
                    return Ok(Vec::new());
                };
                let rows = match account.as_deref() {
                    Some(a) => table.range((a, 0)..=(a, u64::MAX))?,
                    None => table.iter()?,
                };
                rows.map(|row| {
                    let (key, value) = row?;
                    let (owner, id) = key.value();
                    Ok(InAccount {
                        account: stored_account_id(owner)?,
                        item: T::from_row(id, value.value())?,
                    })
                })
                .collect()
            })
            .await
    }
}

/// How a stored row becomes the item a sandbox read returns.
pub(super) trait ScopedRow: Sized {
    fn from_row(id: u64, value: &[u8]) -> Result<Self, DbError>;
}

impl ScopedRow for Contact {
    fn from_row(_: u64, value: &[u8]) -> Result<Self, DbError> {
        decode(value)
    }
}

impl ScopedRow for SandboxNote {
    fn from_row(_: u64, value: &[u8]) -> Result<Self, DbError> {
        decode(value)
    }
}

/// Goal events keep their sequence number, which orders events of the same millisecond.
impl ScopedRow for (u64, AchievedGoal) {
    fn from_row(seq: u64, value: &[u8]) -> Result<Self, DbError> {
        Ok((seq, decode(value)?))
    }
}

pub(super) fn goal_key(
    account: &AccountId,
    integration: &str,
    call_name: &str,
) -> (String, String, String) {
    (
        account.to_string(),
        integration.to_string(),
        call_name.to_string(),
    )
}

/// Contact ids are integers; anything else names no contact.
pub(super) fn contact_number(contact_id: &str) -> CrmResult<u64> {
    contact_id
        .parse()
        .map_err(|_| CrmError::NotFound(format!("contact '{contact_id}'")))
}

pub(super) fn existing_contact(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    account: &str,
    id: u64,
) -> Result<Contact, Failure> {
    get_json(table, (account, id))?
        .ok_or_else(|| CrmError::NotFound(format!("contact '{id}'")).into())
}

/// The id after the highest one this account has in `table` (ids are never reused).
pub(super) fn next_id(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    account: &str,
) -> Result<u64, DbError> {
    let last = table.range((account, 0)..=(account, u64::MAX))?.next_back();
    match last {
        Some(row) => Ok(row?.0.value().1 + 1),
        None => Ok(1),
    }
}

pub(super) fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    key: (&str, u64),
) -> Result<Option<T>, DbError> {
    table.get(key)?.map(|v| decode(v.value())).transpose()
}

pub(super) fn put_json<T: Serialize>(
    table: &mut redb::Table<(&'static str, u64), &'static [u8]>,
    key: (&str, u64),
    value: &T,
) -> Result<(), DbError> {
    let json = serde_json::to_vec(value).map_err(|e| DbError(format!("cannot encode: {e}")))?;
    table.insert(key, json.as_slice())?;
    Ok(())
}

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(bytes).map_err(|e| DbError(format!("unreadable sandbox CRM row: {e}")))
}

pub(super) fn stored_account_id(s: &str) -> Result<AccountId, DbError> {
    AccountId::parse(s).map_err(|e| DbError(e.to_string()))
}
