//! What a goal job is about, and the job that fires a goal.

use serde::{Deserialize, Serialize};

use super::AutomationJob;
use crate::domain::{AccountId, PhoneNumber};

/// The message (or refused send request) a goal is about: where its record is logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalSubject {
    pub phone: PhoneNumber,
    pub message_id: String,
}

/// The job that fires goal `call_name` for a contact, about a message.
pub fn goal_job(
    account: &AccountId,
    contact_id: &str,
    call_name: &str,
    about: &GoalSubject,
) -> AutomationJob {
    AutomationJob::AchieveGoal {
        account: account.clone(),
        contact_id: contact_id.to_string(),
        call_name: call_name.to_string(),
        about: Some(about.clone()),
    }
}
