//! The sandbox CRM of local mode: a small Keap look-alike kept in the embedded database, so
//! everything smsflow would do to a real CRM can be watched under `/_sandbox/...`.

//!
//! The files: `port` answers the `Crm` port as smsflow calls it; `controls` is what
//! `/_sandbox` reads and switches (contacts, notes, achieved and disabled goals, logged
//! notes); `outage` simulates the CRM being down; `rows` keeps the records in the
//! embedded database.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::{Deserialize, Serialize};

use super::{DbError, EmbeddedDb};
use crate::domain::{AccountId, Timestamp};
use crate::ports::clock::Clock;
use crate::ports::crm::{CrmError, Note};

mod controls;
mod outage;
mod port;
mod rows;

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
}

#[cfg(test)]
mod tests;
