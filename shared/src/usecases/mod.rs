//! Use cases: one function per job, taking the application's ports and returning an
//! outcome the handler turns into a response.

pub mod automation;
pub mod deliver;
pub mod inbound;
pub mod send_request;
pub mod sequence;
pub mod status;

/// What became of one queued job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    /// Nothing to do (already done, or disabled); not an error.
    Skipped(String),
    /// Failed for now; the queue will deliver it again (and dead-letter it eventually).
    Retry(String),
    /// Failed for good; retrying cannot help. Logged, not retried.
    Dropped(String),
}

impl JobOutcome {
    pub fn should_retry(&self) -> bool {
        matches!(self, JobOutcome::Retry(_))
    }
}
