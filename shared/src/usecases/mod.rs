//! Use cases: one function per job, taking the application's ports and returning an
//! outcome the handler turns into a response.

pub mod accounts;
mod answers;
pub mod automation;
mod contacts;
pub mod conversations;
pub mod crm_effects;
pub mod dead_letters;
pub mod deliver;
pub mod email_reply;
pub mod goals;
pub mod inbound;
pub mod inbox;
mod pacing;
pub mod received;
mod refusals;
pub mod send_request;
pub mod sequence;
pub mod status;
mod twilio_webhook;

pub use twilio_webhook::{MissingField, WebhookRequest};

#[cfg(test)]
mod log_fields_tests;

/// Gives a message's admission slot back (it was sent, refused or dropped). A failure is
/// logged: the slot is then held until the operator's reconciliation.
pub(crate) async fn release_admission(
    store: &dyn crate::ports::AdmissionStore,
    account: &crate::domain::AccountId,
    message_id: &crate::domain::MessageId,
) {
    if let Err(e) = store.release_admission(account, message_id).await {
        tracing::warn!(account = %account, message_id = %message_id, error = %e, "could not release the admission slot");
    }
}

/// Logs a message body when the account has `debug_log_bodies` on; bodies are private
/// and stay out of the logs otherwise.
pub(crate) fn log_body(
    account: &crate::domain::Account,
    message_id: &crate::domain::MessageId,
    body: &str,
) {
    if account.debug_log_bodies {
        tracing::info!(account = %account.id, message_id = %message_id, body, "message body (debug_log_bodies is on)");
    }
}

/// What became of one queued job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Nothing to do (already done, or disabled); not an error.
    Skipped(String),
    /// Failed for now; the queue will deliver it again (and dead-letter it eventually).
    Retry(String),
    /// Failed for good; retrying cannot help. Logged as an error, not retried.
    Dropped(String),
    /// Not sent, for good, for a routine reason of the recipient's: refused by the carrier
    /// (not a mobile, opted out at the carrier: `ErrorClass::is_routine_refusal`) or by
    /// smsflow at send time (opted out, bounced, paused, not subscribed). Logged as a
    /// warning, not retried: nothing is broken.
    Refused(String),
}

impl JobOutcome {
    pub fn should_retry(&self) -> bool {
        matches!(self, JobOutcome::Retry(_))
    }
}

/// The request could not be handled now (storage, queue or CRM unavailable); nothing was
/// queued and any claim was given back, so a retry is handled afresh.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The account a job is for: the one way a job loads its account. An account deleted
/// since the job was queued drops the job; a store error retries it.
pub(crate) async fn load_account(
    app: &crate::app::App,
    id: &crate::domain::AccountId,
) -> Result<crate::domain::Account, JobOutcome> {
    loaded(id, app.store.account(id).await)
}

/// What a job read about account `id` (the account, or more with it), or the outcome when
/// the account is gone (dropped) or cannot be read (retried).
pub(crate) fn loaded<T>(
    id: &crate::domain::AccountId,
    read: crate::ports::StoreResult<Option<T>>,
) -> Result<T, JobOutcome> {
    match read {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(JobOutcome::Dropped(format!(
            "account {id} no longer exists"
        ))),
        Err(e) => Err(JobOutcome::Retry(format!("cannot load account {id}: {e}"))),
    }
}

/// Runs `job` on the account `id` names (see [`load_account`]).
pub async fn with_account<F, Fut>(
    app: &crate::app::App,
    id: &crate::domain::AccountId,
    job: F,
) -> JobOutcome
where
    F: FnOnce(crate::domain::Account) -> Fut,
    Fut: std::future::Future<Output = JobOutcome>,
{
    match load_account(app, id).await {
        Ok(account) => job(account).await,
        Err(outcome) => outcome,
    }
}

/// A CRM call's result as a job's outcome: the one mapping of transient trouble (retried)
/// and permanent refusals (dropped).
pub(crate) fn crm_outcome(result: Result<(), crate::ports::CrmError>) -> JobOutcome {
    match result {
        Ok(()) => JobOutcome::Done,
        Err(e) if e.is_transient() => JobOutcome::Retry(e.to_string()),
        Err(e) => JobOutcome::Dropped(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::log_body;
    use crate::domain::fixtures;

    /// Collects what the logs would print.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logs_of(f: impl FnOnce()) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = captured.0.lock().expect("logs").clone();
        String::from_utf8(bytes).expect("utf-8 logs")
    }

    #[test]
    fn bodies_are_logged_only_for_accounts_being_debugged() {
        for (debug, logged) in [(false, false), (true, true)] {
            let mut account = fixtures::account();
            account.debug_log_bodies = debug;
            let logs = logs_of(|| {
                log_body(
                    &account,
                    &crate::domain::MessageId::new("01MSG"),
                    "see you at 5pm",
                )
            });
            assert_eq!(
                logs.contains("see you at 5pm"),
                logged,
                "debug {debug}: {logs}"
            );
            assert_eq!(logs.contains("01MSG"), logged, "debug {debug}: {logs}");
        }
    }
}
