//! The `Crm` port on the sandbox: contacts, their tags and custom fields, notes, users and
//! goals, refused where Keap would refuse them. Every call checks the simulated outage
//! before it reads or changes anything.

use async_trait::async_trait;
use redb::ReadableTable;

use super::rows::{
    CONTACTS, DISABLED_GOALS, GOAL_EVENTS, NOTES, contact_number, decode, existing_contact,
    get_json, goal_key, next_id, put_json, stored_account_id,
};
use super::{AchievedGoal, Failure, SandboxCrm, SandboxNote};
use crate::adapters::crm_input::{check_field_name, check_tag_name};
use crate::adapters::embedded::{DbError, open_read_table};
use crate::domain::{Account, EmailAddress, PhoneNumber};
use crate::domain::{ContactId, GoalName};
use crate::ports::crm::{
    CALL_NOTE_TYPE, CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact,
    NewNote, Note, NoteUser,
};

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

    async fn contact(
        &self,
        account: &Account,
        contact_id: &ContactId,
    ) -> CrmResult<Option<Contact>> {
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
                    id: ContactId::new(id.to_string()),
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
        contact_id: &ContactId,
        email: &EmailAddress,
    ) -> CrmResult<()> {
        let email = email.clone();
        self.update_contact(account, contact_id, move |c| c.email = Some(email))
            .await
    }

    async fn set_custom_field(
        &self,
        account: &Account,
        contact_id: &ContactId,
        field: &str,
        value: &str,
    ) -> CrmResult<()> {
        check_field_name(field)?;
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

    async fn apply_tag(
        &self,
        account: &Account,
        contact_id: &ContactId,
        tag: &str,
    ) -> CrmResult<()> {
        check_tag_name(tag)?;
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
        contact_id: &ContactId,
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
        contact_id: &ContactId,
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
        contact_id: &ContactId,
        integration: &str,
        call_name: &GoalName,
    ) -> CrmResult<GoalOutcome> {
        self.check_available()?;
        let contact = contact_number(contact_id)?;
        let (account_id, integration, call_name) =
            goal_key(&account.id, integration, call_name.as_str());
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

impl SandboxCrm {
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
