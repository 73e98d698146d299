//! The sandbox CRM of local mode: a small Keap look-alike kept in the embedded database, so
//! everything smsflow would do to a real CRM can be watched under `/_sandbox/...`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{DbError, EmbeddedDb, open_read_table};
use crate::domain::{Account, AccountId, EmailAddress, PhoneNumber, Timestamp};
use crate::ports::clock::Clock;
use crate::ports::crm::{
    CALL_NOTE_TYPE, CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact,
    NewNote, Note, NoteUser,
};

/// Rows keyed by (account id, integer id). Values are JSON.
type Rows = TableDefinition<'static, (&'static str, u64), &'static [u8]>;

const CONTACTS: Rows = TableDefinition::new("crm_contacts");
const NOTES: Rows = TableDefinition::new("crm_notes");
/// Achieved goals, keyed by a per-account sequence number in the order they happened.
const GOAL_EVENTS: Rows = TableDefinition::new("crm_goal_events");
/// Goals the sandbox answers `NotConfigured` for: (account, integration, call name).
const DISABLED_GOALS: TableDefinition<(&str, &str, &str), ()> =
    TableDefinition::new("crm_disabled_goals");

/// A record of the sandbox together with the account it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InAccount<T> {
    pub account: AccountId,
    #[serde(flatten)]
    pub item: T,
}

/// A goal the sandbox CRM achieved, as Keap's campaign builder would have seen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AchievedGoal {
    pub account: AccountId,
    pub integration: String,
    pub call_name: String,
    pub contact_id: String,
    pub achieved_at: Timestamp,
}

/// A note of the sandbox: the port's note plus what Keap keeps with it and smsflow reads
/// back (routing looks for the newest `Call` note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxNote {
    #[serde(flatten)]
    pub note: Note,
    /// Keap's note type (`Call`, `Email`, `Other`...); notes created through the port have
    /// none.
    #[serde(rename = "type", default)]
    pub note_type: Option<String>,
    /// When the note was created (notes stored before types existed have no time).
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// A goal switched off with [`SandboxCrm::disable_goal_in_crm`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledGoal {
    pub account: AccountId,
    pub integration: String,
    pub call_name: String,
}

/// The embedded CRM, one independent CRM per account (`account.id`), persisted in the
/// embedded database. It behaves like Keap where smsflow depends on it:
/// - contact and note ids are increasing integers, as strings;
/// - a contact needs an e-mail or a phone; a note needs a title or a body;
/// - tags are applied by name, and applying one twice changes nothing;
/// - users are the account's configured users that have a `crm_user_id` (that id, their
///   name and e-mail); users without one do not exist in the CRM;
/// - every goal is configured, so `achieve_goal` records an [`AchievedGoal`], until
///   [`disable_goal_in_crm`](Self::disable_goal_in_crm) makes it answer `NotConfigured`,
///   as Keap does for a goal that no published campaign uses;
/// - a contact or note id that does not exist is `CrmError::NotFound`;
/// - notes have a type and a creation time; [`log_note`](Self::log_note) creates one of a
///   given type (a `Call` note, as a dialer would log it), and `last_call_note` finds the
///   newest `Call` note of a contact.
///
/// Outage simulation: [`set_unavailable(true)`](Self::set_unavailable) makes every `Crm`
/// call fail with `CrmError::Unavailable` (nothing is read or changed) until it is switched
/// back; the sandbox read and control methods keep working. The switch lives in memory only
/// and is shared by all clones of this value.
#[derive(Clone)]
pub struct SandboxCrm {
    db: EmbeddedDb,
    clock: Arc<dyn Clock>,
    unavailable: Arc<AtomicBool>,
}

/// Why a sandbox call failed: the database, or an answer the CRM gives.
enum Failure {
    Db(DbError),
    Crm(CrmError),
}

/// Lets `?` work on redb calls inside a transaction closure that returns `Failure`.
macro_rules! db_failure {
    ($($t:ty),*) => {$(
        impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Db(DbError::from(e))
            }
        }
    )*};
}
db_failure!(redb::TableError, redb::StorageError);

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Db(e)
    }
}

impl From<CrmError> for Failure {
    fn from(e: CrmError) -> Self {
        Failure::Crm(e)
    }
}

impl From<Failure> for CrmError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Db(e) => CrmError::Unavailable(e.to_string()),
            Failure::Crm(e) => e,
        }
    }
}

impl SandboxCrm {
    pub fn new(db: EmbeddedDb, clock: Arc<dyn Clock>) -> Self {
        SandboxCrm {
            db,
            clock,
            unavailable: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Simulates a CRM outage (`true`) or ends it (`false`); see the type's documentation.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    /// Makes `achieve_goal` answer `NotConfigured` for this goal of this account, like a Keap
    /// goal whose campaign is not published.
    pub async fn disable_goal_in_crm(
        &self,
        account: &AccountId,
        integration: &str,
        call_name: &str,
    ) -> Result<(), DbError> {
        let key = goal_key(account, integration, call_name);
        self.db
            .write(move |tx| {
                tx.open_table(DISABLED_GOALS)?
                    .insert((key.0.as_str(), key.1.as_str(), key.2.as_str()), ())?;
                Ok(())
            })
            .await
    }

    /// Undoes [`disable_goal_in_crm`](Self::disable_goal_in_crm).
    pub async fn enable_goal_in_crm(
        &self,
        account: &AccountId,
        integration: &str,
        call_name: &str,
    ) -> Result<(), DbError> {
        let key = goal_key(account, integration, call_name);
        self.db
            .write(move |tx| {
                tx.open_table(DISABLED_GOALS)?.remove((
                    key.0.as_str(),
                    key.1.as_str(),
                    key.2.as_str(),
                ))?;
                Ok(())
            })
            .await
    }

    /// Disabled goals of one account (or of all), by account, integration and call name.
    pub async fn disabled_goals(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<DisabledGoal>, DbError> {
        let account = account.map(AccountId::to_string);
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, DISABLED_GOALS)? else {
                    return Ok(Vec::new());
                };
                let mut goals = Vec::new();
                for row in table.iter()? {
                    let (key, _) = row?;
                    let (owner, integration, call_name) = key.value();
                    if account.as_deref().is_none_or(|a| a == owner) {
                        goals.push(DisabledGoal {
                            account: stored_account_id(owner)?,
                            integration: integration.to_string(),
                            call_name: call_name.to_string(),
                        });
                    }
                }
                Ok(goals)
            })
            .await
    }

    /// Contacts of one account (or of all), by account then id.
    pub async fn contacts(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<InAccount<Contact>>, DbError> {
        self.scoped_rows(CONTACTS, account).await
    }

    /// Notes of one account (or of all), by account then id.
    pub async fn notes(
        &self,
        account: Option<&AccountId>,
    ) -> Result<Vec<InAccount<SandboxNote>>, DbError> {
        self.scoped_rows(NOTES, account).await
    }

    /// Creates a note of type `note_type` on a contact, dated `created_at` (now when
    /// `None`): what a dialer or a person in the CRM does when they log a call. A control
    /// method: it works during a simulated outage. The contact must exist; a note needs a
    /// title or a body.
    pub async fn log_note(
        &self,
        account: &AccountId,
        contact_id: &str,
        note: &NewNote,
        note_type: &str,
        created_at: Option<Timestamp>,
    ) -> CrmResult<SandboxNote> {
        if note_type.trim().is_empty() {
            return Err(CrmError::Rejected("a note type cannot be blank".into()));
        }
        let created_at = created_at.unwrap_or_else(|| self.clock.now());
        self.insert_note(
            account,
            contact_id,
            note,
            Some(note_type.to_string()),
            created_at,
        )
        .await
    }

    /// Stores a new note on an existing contact.
    async fn insert_note(
        &self,
        account: &AccountId,
        contact_id: &str,
        note: &NewNote,
        note_type: Option<String>,
        created_at: Timestamp,
    ) -> CrmResult<SandboxNote> {
        if note.title.trim().is_empty() && note.body.trim().is_empty() {
            return Err(CrmError::Rejected("a note needs a title or a body".into()));
        }
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
                        contact_id: contact.to_string(),
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

    /// The `limit` most recently achieved goals of one account (or of all), newest first.
    pub async fn goals(
        &self,
        account: Option<&AccountId>,
        limit: usize,
    ) -> Result<Vec<AchievedGoal>, DbError> {
        let mut goals: Vec<(u64, AchievedGoal)> = self
            .scoped_rows(GOAL_EVENTS, account)
            .await?
            .into_iter()
            .map(|row: InAccount<(u64, AchievedGoal)>| row.item)
            .collect();
        // Newest first; within one millisecond, the later event of an account first.
        goals.sort_by(|(seq_a, a), (seq_b, b)| {
            (b.achieved_at, &b.account, seq_b).cmp(&(a.achieved_at, &a.account, seq_a))
        });
        Ok(goals
            .into_iter()
            .take(limit)
            .map(|(_, goal)| goal)
            .collect())
    }

    /// Every row of `def` of one account (or of all), in key order.
    async fn scoped_rows<T>(
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

    fn check_available(&self) -> CrmResult<()> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(CrmError::Unavailable(
                "sandbox CRM outage simulated with set_unavailable(true)".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Applies `change` to one contact in one transaction.
    async fn update_contact<F>(
        &self,
        account: &Account,
        contact_id: &str,
        change: F,
    ) -> CrmResult<()>
    where
        F: FnOnce(&mut Contact) + Send + 'static,
    {
        self.check_available()?;
        let account = account.id.to_string();
        let id = contact_number(contact_id)?;
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(CONTACTS)?;
                let mut contact: Contact = existing_contact(&table, &account, id)?;
                change(&mut contact);
                put_json(&mut table, (&account, id), &contact)?;
                Ok::<_, Failure>(())
            })
            .await
            .map_err(CrmError::from)
    }
}

#[async_trait]
impl Crm for SandboxCrm {
    async fn find_contact_by_phone(
        &self,
        account: &Account,
        phone: &PhoneNumber,
    ) -> CrmResult<Option<Contact>> {
        self.check_available()?;
        let account = account.id.to_string();
        let phone = phone.clone();
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, CONTACTS)? else {
                    return Ok(None);
                };
                // Oldest contact first, like a Keap search ordered by id.
                for row in table.range((account.as_str(), 0)..=(account.as_str(), u64::MAX))? {
                    let (_, value) = row?;
                    let contact: Contact = decode(value.value())?;
                    if contact.phone.as_ref() == Some(&phone) {
                        return Ok(Some(contact));
                    }
                }
                Ok(None)
            })
            .await
            .map_err(|e: DbError| CrmError::Unavailable(e.to_string()))
    }

    async fn contact(&self, account: &Account, contact_id: &str) -> CrmResult<Option<Contact>> {
        self.check_available()?;
        let account = account.id.to_string();
        let Ok(id) = contact_number(contact_id) else {
            return Ok(None);
        };
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, CONTACTS)? else {
                    return Ok(None);
                };
                get_json(&table, (&account, id))
            })
            .await
            .map_err(|e: DbError| CrmError::Unavailable(e.to_string()))
    }

    async fn create_contact(&self, account: &Account, contact: &NewContact) -> CrmResult<Contact> {
        self.check_available()?;
        if contact.email.is_none() && contact.phone.is_none() {
            return Err(CrmError::Rejected(
                "a contact needs an e-mail address or a phone number".into(),
            ));
        }
        let account = account.id.to_string();
        let new = contact.clone();
        self.db
            .write(move |tx| {
                let mut table = tx.open_table(CONTACTS)?;
                let id = next_id(&table, &account)?;
                let contact = Contact {
                    id: id.to_string(),
                    first_name: new.first_name,
                    last_name: new.last_name,
                    email: new.email,
                    phone: new.phone,
                    owner_id: new.owner_id,
                    tags: Vec::new(),
                    custom_fields: Default::default(),
                    time_zone: new.time_zone,
                };
                put_json(&mut table, (&account, id), &contact)?;
                Ok::<_, Failure>(contact)
            })
            .await
            .map_err(CrmError::from)
    }

    async fn set_email(
        &self,
        account: &Account,
        contact_id: &str,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        let email = email.clone();
        self.update_contact(account, contact_id, move |c| c.email = Some(email))
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &str,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        if field.trim().is_empty() {
            return Err(CrmError::Rejected("a custom field needs a name".into()));
        }
        let (field, value) = (field.to_string(), value.to_string());
        self.update_contact(account, contact_id, move |c| {
            c.custom_fields.insert(field, value);
        })
        .await
    }

    async fn user(&self, account: &Account, user_id: &str) -> CrmResult<Option<CrmUser>> {
        self.check_available()?;
        Ok(account
            .users
            .values()
            .find(|u| u.crm_user_id.as_deref() == Some(user_id))
            .map(|u| CrmUser {
                id: user_id.to_string(),
                name: u.name.clone(),
                email: Some(u.email.clone()),
            }))
    }

    async fn apply_tag(&self, account: &Account, contact_id: &str, tag: &str) -> CrmResult<()> {
        if tag.trim().is_empty() {
            return Err(CrmError::Rejected("a tag needs a name".into()));
        }
        let tag = tag.to_string();
        self.update_contact(account, contact_id, move |c| {
            if !c.tags.contains(&tag) {
                c.tags.push(tag);
            }
        })
        .await
    }

    async fn create_note(
        &self,
        account: &Account,
        contact_id: &str,
        note: &NewNote,
    ) -> CrmResult<Note> {
        self.check_available()?;
        self.insert_note(&account.id, contact_id, note, None, self.clock.now())
            .await
            .map(|stored| stored.note)
    }

    async fn append_to_note(&self, account: &Account, note_id: &str, text: &str) -> CrmResult<()> {
        self.check_available()?;
        let account = account.id.to_string();
        let not_found = || CrmError::NotFound(format!("note '{note_id}'"));
        let id: u64 = note_id.parse().map_err(|_| not_found())?;
        let missing = not_found();
        let text = text.to_string();
        self.db
            .write(move |tx| {
                let mut notes = tx.open_table(NOTES)?;
                let mut stored: SandboxNote = get_json(&notes, (&account, id))?.ok_or(missing)?;
                stored.note.body.push_str(&text);
                put_json(&mut notes, (&account, id), &stored)?;
                Ok::<_, Failure>(())
            })
            .await
            .map_err(CrmError::from)
    }

    async fn last_call_note(
        &self,
        account: &Account,
        contact_id: &str,
    ) -> CrmResult<Option<CallNote>> {
        self.check_available()?;
        let Ok(contact) = contact_number(contact_id) else {
            return Ok(None);
        };
        let contact = contact.to_string();
        let newest = self
            .notes(Some(&account.id))
            .await
            .map_err(|e| CrmError::Unavailable(e.to_string()))?
            .into_iter()
            .map(|row| row.item)
            .filter(|n| n.note.contact_id == contact)
            .filter(|n| {
                n.note_type
                    .as_deref()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case(CALL_NOTE_TYPE))
            })
            // Newest by creation time; ids break ties (they only grow).
            .max_by_key(|n| (n.created_at, n.note.id.parse::<u64>().unwrap_or(0)));
        Ok(newest.map(|n| CallNote {
            user: n.note.user_id.as_deref().map(|id| note_user(account, id)),
            id: n.note.id,
            logged_at: n.created_at,
        }))
    }

    async fn achieve_goal(
        &self,
        account: &Account,
        contact_id: &str,
        integration: &str,
        call_name: &str,
    ) -> CrmResult<GoalOutcome> {
        self.check_available()?;
        let contact = contact_number(contact_id)?;
        let (account_id, integration, call_name) = goal_key(&account.id, integration, call_name);
        let now = self.clock.now();
        self.db
            .write(move |tx| {
                existing_contact(&tx.open_table(CONTACTS)?, &account_id, contact)?;
                let disabled = tx
                    .open_table(DISABLED_GOALS)?
                    .get((
                        account_id.as_str(),
                        integration.as_str(),
                        call_name.as_str(),
                    ))?
                    .is_some();
                if disabled {
                    return Ok(GoalOutcome::NotConfigured);
                }
                let mut events = tx.open_table(GOAL_EVENTS)?;
                let seq = next_id(&events, &account_id)?;
                let event = AchievedGoal {
                    account: stored_account_id(&account_id)?,
                    integration,
                    call_name,
                    contact_id: contact.to_string(),
                    achieved_at: now,
                };
                put_json(&mut events, (&account_id, seq), &event)?;
                Ok::<_, Failure>(GoalOutcome::Achieved)
            })
            .await
            .map_err(CrmError::from)
    }
}

/// How a stored row becomes the item a sandbox read returns.
trait ScopedRow: Sized {
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

/// A note's user as the sandbox knows them: the account user with that CRM id, else the
/// id alone (a user the sandbox CRM does not have).
fn note_user(account: &Account, crm_user_id: &str) -> NoteUser {
    let user = account
        .users
        .values()
        .find(|u| u.crm_user_id.as_deref() == Some(crm_user_id));
    NoteUser {
        id: crm_user_id.to_string(),
        name: user.map(|u| u.name.clone()),
        email: user.map(|u| u.email.clone()),
    }
}

/// Goal events keep their sequence number, which orders events of the same millisecond.
impl ScopedRow for (u64, AchievedGoal) {
    fn from_row(seq: u64, value: &[u8]) -> Result<Self, DbError> {
        Ok((seq, decode(value)?))
    }
}

fn goal_key(account: &AccountId, integration: &str, call_name: &str) -> (String, String, String) {
    (
        account.to_string(),
        integration.to_string(),
        call_name.to_string(),
    )
}

/// Contact ids are integers; anything else names no contact.
fn contact_number(contact_id: &str) -> CrmResult<u64> {
    contact_id
        .parse()
        .map_err(|_| CrmError::NotFound(format!("contact '{contact_id}'")))
}

fn existing_contact(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    account: &str,
    id: u64,
) -> Result<Contact, Failure> {
    get_json(table, (account, id))?
        .ok_or_else(|| CrmError::NotFound(format!("contact '{id}'")).into())
}

/// The id after the highest one this account has in `table` (ids are never reused).
fn next_id(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    account: &str,
) -> Result<u64, DbError> {
    let last = table.range((account, 0)..=(account, u64::MAX))?.next_back();
    match last {
        Some(row) => Ok(row?.0.value().1 + 1),
        None => Ok(1),
    }
}

fn get_json<T: DeserializeOwned>(
    table: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    key: (&str, u64),
) -> Result<Option<T>, DbError> {
    table.get(key)?.map(|v| decode(v.value())).transpose()
}

fn put_json<T: Serialize>(
    table: &mut redb::Table<(&'static str, u64), &'static [u8]>,
    key: (&str, u64),
    value: &T,
) -> Result<(), DbError> {
    let json = serde_json::to_vec(value).map_err(|e| DbError(format!("cannot encode: {e}")))?;
    table.insert(key, json.as_slice())?;
    Ok(())
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DbError> {
    serde_json::from_slice(bytes).map_err(|e| DbError(format!("unreadable sandbox CRM row: {e}")))
}

fn stored_account_id(s: &str) -> Result<AccountId, DbError> {
    AccountId::parse(s).map_err(|e| DbError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::domain::User;
    use crate::ports::clock::ManualClock;

    fn account(id: &str) -> Account {
        let mary = User {
            id: "mary".into(),
            name: "Mary Anders".into(),
            email: EmailAddress::parse("mary@example.com").expect("valid e-mail"),
            crm_user_id: Some("7".into()),
        };
        Account {
            id: AccountId::parse(id).expect("valid account id"),
            name: id.into(),
            users: BTreeMap::from([("mary".to_string(), mary)]),
            ..crate::domain::fixtures::account()
        }
    }

    fn phone(e164: &str) -> PhoneNumber {
        PhoneNumber::parse_e164(e164).expect("valid phone")
    }

    fn with_phone(e164: &str) -> NewContact {
        NewContact {
            first_name: Some("Ann".into()),
            phone: Some(phone(e164)),
            ..NewContact::default()
        }
    }

    fn crm_at(db: EmbeddedDb, clock: Arc<ManualClock>) -> SandboxCrm {
        SandboxCrm::new(db, clock)
    }

    fn in_memory() -> (SandboxCrm, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(1_000)));
        let db = EmbeddedDb::in_memory().expect("in-memory db");
        (crm_at(db, clock.clone()), clock)
    }

    #[tokio::test]
    async fn ids_are_increasing_integers_per_account() {
        let (crm, _) = in_memory();
        let (acme, other) = (account("acme"), account("other"));
        let mut ids = Vec::new();
        for (acct, number) in [
            (&acme, "+14155552671"),
            (&acme, "+14155552672"),
            (&other, "+14155552673"),
        ] {
            ids.push(
                crm.create_contact(acct, &with_phone(number))
                    .await
                    .expect("created")
                    .id,
            );
        }
        assert_eq!(ids, ["1", "2", "1"]);
        let note = |title: &str| NewNote {
            title: title.into(),
            body: String::new(),
            user_id: None,
        };
        let first = crm.create_note(&acme, "1", &note("a")).await.expect("note");
        let second = crm.create_note(&acme, "2", &note("b")).await.expect("note");
        assert_eq!((first.id.as_str(), second.id.as_str()), ("1", "2"));
    }

    #[tokio::test]
    async fn refuses_what_keap_refuses() {
        let (crm, _) = in_memory();
        let acme = account("acme");
        let nameless = NewContact {
            first_name: Some("Ann".into()),
            ..NewContact::default()
        };
        let result = crm.create_contact(&acme, &nameless).await;
        assert!(matches!(result, Err(CrmError::Rejected(_))), "{result:?}");

        let id = crm
            .create_contact(&acme, &with_phone("+14155552671"))
            .await
            .expect("created")
            .id;
        let empty = NewNote {
            title: " ".into(),
            body: String::new(),
            user_id: None,
        };
        let result = crm.create_note(&acme, &id, &empty).await;
        assert!(matches!(result, Err(CrmError::Rejected(_))), "{result:?}");
        assert!(crm.notes(None).await.expect("notes").is_empty());
    }

    #[tokio::test]
    async fn outage_switch_fails_every_call_and_changes_nothing() {
        let (crm, _) = in_memory();
        let acme = account("acme");
        let id = crm
            .create_contact(&acme, &with_phone("+14155552671"))
            .await
            .expect("created")
            .id;
        crm.set_unavailable(true);
        let note = NewNote {
            title: "t".into(),
            body: "b".into(),
            user_id: None,
        };
        let email = EmailAddress::parse("ann@example.com").expect("valid e-mail");
        let results: Vec<(&str, CrmResult<()>)> = vec![
            (
                "find",
                crm.find_contact_by_phone(&acme, &phone("+14155552671"))
                    .await
                    .map(drop),
            ),
            ("contact", crm.contact(&acme, &id).await.map(drop)),
            (
                "create",
                crm.create_contact(&acme, &with_phone("+14155552672"))
                    .await
                    .map(drop),
            ),
            ("email", crm.set_email(&acme, &id, &email).await),
            ("field", crm.set_custom_field(&acme, &id, "f", "v").await),
            ("user", crm.user(&acme, "7").await.map(drop)),
            ("tag", crm.apply_tag(&acme, &id, "t").await),
            ("note", crm.create_note(&acme, &id, &note).await.map(drop)),
            ("append", crm.append_to_note(&acme, "1", "x").await),
            ("call note", crm.last_call_note(&acme, &id).await.map(drop)),
            (
                "goal",
                crm.achieve_goal(&acme, &id, "smsflow", "Sent")
                    .await
                    .map(drop),
            ),
        ];
        for (call, result) in results {
            assert!(
                matches!(&result, Err(e @ CrmError::Unavailable(_)) if e.is_transient()),
                "{call}: {result:?}"
            );
        }
        // The sandbox views still work during the outage, and show nothing changed.
        let contacts = crm.contacts(Some(&acme.id)).await.expect("contacts");
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].item.email, None);
        assert!(crm.goals(None, 10).await.expect("goals").is_empty());

        crm.clone().set_unavailable(false);
        crm.set_email(&acme, &id, &email).await.expect("back up");
    }

    #[tokio::test]
    async fn goal_events_newest_first_and_goals_can_be_switched_back_on() {
        let (crm, clock) = in_memory();
        let (acme, other) = (account("acme"), account("other"));
        let ann = crm
            .create_contact(&acme, &with_phone("+14155552671"))
            .await
            .expect("ann")
            .id;
        let bob = crm
            .create_contact(&other, &with_phone("+14155552672"))
            .await
            .expect("bob")
            .id;
        for (acct, contact, call) in [
            (&acme, &ann, "Sent"),
            (&other, &bob, "Sent"),
            (&acme, &ann, "Delivered"),
        ] {
            assert_eq!(
                crm.achieve_goal(acct, contact, "smsflow", call).await,
                Ok(GoalOutcome::Achieved)
            );
            clock.advance(Duration::from_millis(10));
        }
        let summary = |goals: Vec<AchievedGoal>| -> Vec<(String, String, i64)> {
            goals
                .into_iter()
                .map(|g| {
                    (
                        g.account.to_string(),
                        g.call_name,
                        g.achieved_at.as_millis(),
                    )
                })
                .collect()
        };
        assert_eq!(
            summary(crm.goals(None, 10).await.expect("goals")),
            [
                ("acme".to_string(), "Delivered".to_string(), 1_020),
                ("other".into(), "Sent".into(), 1_010),
                ("acme".into(), "Sent".into(), 1_000),
            ]
        );
        assert_eq!(
            summary(crm.goals(Some(&acme.id), 1).await.expect("goals")),
            [("acme".to_string(), "Delivered".to_string(), 1_020)]
        );

        crm.disable_goal_in_crm(&acme.id, "smsflow", "Sent")
            .await
            .expect("disable");
        assert_eq!(
            crm.disabled_goals(None).await.expect("disabled"),
            [DisabledGoal {
                account: acme.id.clone(),
                integration: "smsflow".into(),
                call_name: "Sent".into(),
            }]
        );
        // Only that goal of that account is off.
        assert_eq!(
            crm.achieve_goal(&acme, &ann, "smsflow", "Sent").await,
            Ok(GoalOutcome::NotConfigured)
        );
        assert_eq!(
            crm.achieve_goal(&acme, &ann, "other-integration", "Sent")
                .await,
            Ok(GoalOutcome::Achieved)
        );
        assert_eq!(
            crm.achieve_goal(&other, &bob, "smsflow", "Sent").await,
            Ok(GoalOutcome::Achieved)
        );
        crm.enable_goal_in_crm(&acme.id, "smsflow", "Sent")
            .await
            .expect("enable");
        assert_eq!(
            crm.achieve_goal(&acme, &ann, "smsflow", "Sent").await,
            Ok(GoalOutcome::Achieved)
        );
        assert!(crm.disabled_goals(None).await.expect("disabled").is_empty());
    }

    #[tokio::test]
    async fn everything_survives_reopening_the_database_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("smsflow.redb");
        let clock = Arc::new(ManualClock::at(Timestamp::from_millis(5)));
        let acme = account("acme");
        {
            let crm = crm_at(EmbeddedDb::open(&path).expect("open"), clock.clone());
            let id = crm
                .create_contact(&acme, &with_phone("+14155552671"))
                .await
                .expect("c")
                .id;
            crm.apply_tag(&acme, &id, "sms-lead").await.expect("tag");
            crm.set_custom_field(&acme, &id, "LastText", "hi")
                .await
                .expect("field");
            let note = NewNote {
                title: "SMS".into(),
                body: "hi".into(),
                user_id: Some("7".into()),
            };
            let note = crm.create_note(&acme, &id, &note).await.expect("note");
            crm.append_to_note(&acme, &note.id, " again")
                .await
                .expect("append");
            crm.achieve_goal(&acme, &id, "smsflow", "Inbound")
                .await
                .expect("goal");
            crm.disable_goal_in_crm(&acme.id, "smsflow", "Sent")
                .await
                .expect("disable");
        }
        let crm = crm_at(EmbeddedDb::open(&path).expect("reopen"), clock);
        let found = crm
            .find_contact_by_phone(&acme, &phone("+14155552671"))
            .await
            .expect("find")
            .expect("the contact is still there");
        assert_eq!(found.tags, ["sms-lead"]);
        assert_eq!(
            found.custom_fields.get("LastText").map(String::as_str),
            Some("hi")
        );
        let notes = crm.notes(Some(&acme.id)).await.expect("notes");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].item.note.body, "hi again");
        assert_eq!(crm.goals(None, 10).await.expect("goals").len(), 1);
        assert_eq!(
            crm.achieve_goal(&acme, &found.id, "smsflow", "Sent").await,
            Ok(GoalOutcome::NotConfigured)
        );
        // New ids continue after the stored ones.
        let next = crm
            .create_contact(&acme, &with_phone("+14155552672"))
            .await
            .expect("c");
        assert_eq!(next.id, "2");
    }

    #[test]
    fn sandbox_records_serialise_flat_with_their_account() {
        let note = InAccount {
            account: AccountId::parse("acme").expect("valid id"),
            item: SandboxNote {
                note: Note {
                    id: "3".into(),
                    contact_id: "1".into(),
                    title: "SMS".into(),
                    body: "hi".into(),
                    user_id: None,
                },
                note_type: Some("Call".into()),
                created_at: Some(Timestamp::from_millis(7)),
            },
        };
        assert_eq!(
            serde_json::to_value(&note).expect("serialises"),
            serde_json::json!({
                "account": "acme", "id": "3", "contact_id": "1",
                "title": "SMS", "body": "hi", "user_id": null,
                "type": "Call", "created_at": 7
            })
        );
    }

    #[test]
    fn notes_stored_before_types_existed_still_read() {
        let old = br#"{"id":"3","contact_id":"1","title":"SMS","body":"hi","user_id":"7"}"#;
        let note = SandboxNote::from_row(3, old).expect("an old row decodes");
        assert_eq!((note.note_type, note.created_at), (None, None));
        assert_eq!(note.note.user_id.as_deref(), Some("7"));
    }

    #[tokio::test]
    async fn logged_call_notes_name_their_user_and_work_during_an_outage() {
        let (crm, clock) = in_memory();
        let acme = account("acme");
        let id = crm
            .create_contact(&acme, &with_phone("+14155552671"))
            .await
            .expect("created")
            .id;
        let call = |user: &str| NewNote {
            title: "Call".into(),
            body: "Talked about the roof".into(),
            user_id: Some(user.into()),
        };
        crm.set_unavailable(true);
        let logged = crm
            .log_note(&acme.id, &id, &call("7"), "Call", None)
            .await
            .expect("a control method works during an outage");
        assert_eq!(logged.created_at, Some(clock.now()));
        let during = crm.last_call_note(&acme, &id).await;
        assert!(
            matches!(during, Err(CrmError::Unavailable(_))),
            "{during:?}"
        );
        crm.set_unavailable(false);

        let mary = crm
            .last_call_note(&acme, &id)
            .await
            .expect("read")
            .expect("a call note");
        assert_eq!(
            mary.user,
            Some(NoteUser {
                id: "7".into(),
                name: Some("Mary Anders".into()),
                email: Some(EmailAddress::parse("mary@example.com").expect("valid e-mail")),
            })
        );
        // A user the sandbox CRM does not have is named by id alone; case does not matter.
        crm.log_note(
            &acme.id,
            &id,
            &call("99"),
            " call ",
            Some(clock.now().plus(Duration::from_secs(1))),
        )
        .await
        .expect("logged");
        let ghost = crm.last_call_note(&acme, &id).await.expect("read");
        assert_eq!(
            ghost.and_then(|n| n.user),
            Some(NoteUser {
                id: "99".into(),
                name: None,
                email: None,
            })
        );

        let refused = [
            crm.log_note(&acme.id, &id, &call("7"), " ", None).await,
            crm.log_note(&acme.id, "42", &call("7"), "Call", None).await,
        ];
        assert!(
            matches!(refused[0], Err(CrmError::Rejected(_))),
            "{:?}",
            refused[0]
        );
        assert!(
            matches!(refused[1], Err(CrmError::NotFound(_))),
            "{:?}",
            refused[1]
        );
        assert_eq!(crm.last_call_note(&acme, "42").await, Ok(None));
        assert_eq!(crm.last_call_note(&acme, "not-a-number").await, Ok(None));
    }
}
