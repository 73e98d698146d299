//! How long work a process claimed stays its own. A Lambda that hits its timeout, an
//! instance that dies or a local server killed mid-job leaves its claims behind; past its
//! lease another worker takes the work over, so nothing claimed is lost.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leases {
    /// A CRM's request (a send, a sequence start): longer than an HTTP function may run
    /// (the template's 10 s timeout), after which its retries are handled afresh.
    pub request: Duration,
    /// An automation job (goal, note, e-mail...): longer than the automation worker may
    /// run (the template's 60 s timeout).
    pub job: Duration,
    /// A send whose provider answer was lost: the provider is asked about it only this
    /// long after the attempt, when a call still in flight (at most the provider client's
    /// 10 s timeout) has surely ended.
    pub send_outcome: Duration,
}

impl Default for Leases {
    fn default() -> Self {
        Leases {
            request: Duration::from_secs(15),
            job: Duration::from_secs(90),
            send_outcome: Duration::from_secs(30),
        }
    }
}

impl Leases {
    /// Every lease `length` long: for a deployment whose handlers have short timeouts (a
    /// test's).
    pub fn all(length: Duration) -> Self {
        Leases {
            request: length,
            job: length,
            send_outcome: length,
        }
    }
}
