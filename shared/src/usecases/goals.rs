//! CRM goals: queued as automation jobs about a message, fired by the automation worker
//! (unless the CRM said the goal is not configured), and logged on the conversation so an
//! operator sees what each message set off (`smsflow conversations show`).

use super::JobOutcome;
use super::Unavailable;
use crate::app::App;
use crate::domain::goals::StandardGoal;
use crate::domain::{Account, AccountId};
use crate::domain::{ContactId, GoalName};
use crate::jobs::JobId;
use crate::jobs::{self, AutomationJob, GoalSubject, goal_job};
use crate::metrics::{self, Metric};
use crate::ports::Crm;
use crate::ports::{AccountForGoal, GoalOutcome, GoalRecord, GoalResult, GoalStore};
use crate::ports::{QueueResult, StoreError};

/// Queues goal jobs (in one queue call where the queue allows) under ids the caller derives
/// from the event, so queueing them again (a retry) fires each once.
pub(crate) async fn queue_goals(
    app: &App,
    jobs: Vec<(JobId, AutomationJob)>,
) -> QueueResult<Vec<String>> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    jobs::enqueue_all_with_ids(app, jobs).await
}

/// Queues standard goals about a message, under ids derived from the message id. Goals
/// without a contact are skipped: the CRM has no one to fire them on.
pub(crate) async fn queue_standard_goals(
    app: &App,
    account: &Account,
    about: &GoalSubject,
    goals: &[(StandardGoal, Option<&ContactId>)],
) -> Result<(), Unavailable> {
    let jobs = goals
        .iter()
        .filter_map(|(goal, contact_id)| {
            let call_name = GoalName::from(*goal);
            let job_id = JobId::goal(about.message_id.as_str(), &call_name);
            Some((
                job_id,
                goal_job(&account.id, (*contact_id)?, &call_name, about),
            ))
        })
        .collect();
    queue_goals(app, jobs)
        .await
        .map(|_| ())
        .map_err(|e| Unavailable(format!("cannot queue the goals: {e}")))
}

/// The goal job: fires a goal unless the CRM said before that it is not configured;
/// remembers when it says so now ("Disabled goal" in docs/glossary.md; reset by an
/// operator). What became of it is logged on the conversation it is about. The account and
/// whether the goal is disabled are read together (see [`load_account`](super::load_account)
/// for an account that is gone).
pub(crate) async fn achieve(
    app: &App,
    account: &AccountId,
    contact_id: &ContactId,
    call_name: &GoalName,
    about: Option<&GoalSubject>,
) -> JobOutcome {
    let read = app.store.account_for_goal(account, call_name).await;
    let AccountForGoal {
        account,
        goal_disabled,
    } = match super::loaded(account, read) {
        Ok(found) => found,
        Err(outcome) => return outcome,
    };
    let (outcome, result) = if goal_disabled {
        (
            JobOutcome::Skipped(format!("goal {call_name} is disabled")),
            Some(GoalResult::Disabled),
        )
    } else {
        let goals = app.store.as_ref();
        fire(app.crm.as_ref(), goals, &account, contact_id, call_name).await
    };
    if let (Some(result), Some(about)) = (result, about) {
        let record = GoalRecord {
            message_id: about.message_id.clone(),
            goal: call_name.clone(),
            outcome: result,
            at: app.clock.now(),
        };
        // The log is for reading; failing to write it must not fire the goal again.
        if let Err(e) = app
            .store
            .record_goal(&account.id, &about.phone, &record)
            .await
        {
            tracing::warn!(account = %account.id, message_id = %about.message_id, goal = %call_name, error = %e, "could not log the goal");
        }
    }
    outcome
}

/// Calls the CRM about a goal not disabled; the result is `None` while the job will be
/// retried.
async fn fire(
    crm: &dyn Crm,
    goals: &dyn GoalStore,
    account: &Account,
    contact_id: &ContactId,
    call_name: &GoalName,
) -> (JobOutcome, Option<GoalResult>) {
    let result = crm
        .achieve_goal(account, contact_id, &account.goal_integration, call_name)
        .await;
    match result {
        Ok(GoalOutcome::Achieved) => {
            metrics::count(&account.id, Metric::GoalsFired);
            (JobOutcome::Done, Some(GoalResult::Achieved))
        }
        Ok(GoalOutcome::NotConfigured) => match goals.disable_goal(&account.id, call_name).await {
            Ok(()) => (
                JobOutcome::Skipped(format!(
                    "goal {}.{call_name} is not configured in the CRM; disabled until reset",
                    account.goal_integration
                )),
                Some(GoalResult::NotConfigured),
            ),
            Err(e) => (JobOutcome::Retry(format!("cannot disable goal: {e}")), None),
        },
        Err(e) => {
            metrics::count(&account.id, Metric::GoalsFailed);
            if e.is_transient() {
                (JobOutcome::Retry(e.to_string()), None)
            } else {
                (JobOutcome::Dropped(e.to_string()), Some(GoalResult::Failed))
            }
        }
    }
}

/// Forgetting the disabled goals failed; none or some may be forgotten, and resetting again
/// is safe.
#[derive(Debug, thiserror::Error)]
#[error("reset failed: {0}")]
pub struct ResetFailed(#[from] pub StoreError);

/// Forgets the goals the CRM said were not configured (after an operator adds them in the
/// CRM), so they fire again; returns how many there were.
pub async fn reset_disabled(
    store: &dyn GoalStore,
    account: &AccountId,
) -> Result<usize, ResetFailed> {
    let reset = store.reset_disabled_goals(account).await?;
    tracing::info!(account = %account, reset, "disabled goals reset");
    Ok(reset)
}
