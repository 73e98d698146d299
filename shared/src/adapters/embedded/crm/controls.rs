//! What the sandbox offers besides the `Crm` port, for `/_sandbox` and tests: its contacts,
//! notes and achieved goals as stored, switches that make a goal unconfigured, and notes
//! logged the way a dialer or a person in the CRM would.

use redb::ReadableTable;

use super::rows::{CONTACTS, DISABLED_GOALS, GOAL_EVENTS, NOTES, goal_key, stored_account_id};
use super::{AchievedGoal, DisabledGoal, InAccount, SandboxCrm, SandboxNote};
use crate::adapters::embedded::{DbError, open_read_table};
use crate::domain::{AccountId, Timestamp};
use crate::ports::crm::{Contact, CrmError, CrmResult, NewNote};

impl SandboxCrm {
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
}
