//! What a goal job is about, and the job that fires a goal.

use serde::{Deserialize, Serialize};

use super::AutomationJob;
use crate::domain::goals::GoalName;
use crate::domain::{AccountId, ContactId, MessageId, PhoneNumber};

/// The message (or refused send request) a goal is about: where its record is logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GoalSubject {
    pub phone: PhoneNumber,
    pub message_id: MessageId,
}

/// The job that fires goal `call_name` for a contact, about a message.
pub fn goal_job(
    account: &AccountId,
    contact_id: &ContactId,
    call_name: &GoalName,
    about: &GoalSubject,
) -> AutomationJob {
    AutomationJob::AchieveGoal {
        account: account.clone(),
        contact_id: contact_id.clone(),
        call_name: call_name.clone(),
        about: Some(about.clone()),
    }
}
