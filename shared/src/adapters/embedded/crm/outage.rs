//! The simulated outage: while it is on, every `Crm` call fails with
//! `CrmError::Unavailable` before reading or changing anything; the sandbox's own reads and
//! controls keep working.

use std::sync::atomic::Ordering;

use super::SandboxCrm;
use crate::ports::crm::{CrmError, CrmResult};

impl SandboxCrm {
    /// Simulates a CRM outage (`true`) or ends it (`false`); see the type's documentation.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.store(unavailable, Ordering::SeqCst);
    }

    pub(super) fn check_available(&self) -> CrmResult<()> {
        if self.unavailable.load(Ordering::SeqCst) {
            Err(CrmError::Unavailable(
                "sandbox CRM outage simulated with set_unavailable(true)".into(),
            ))
        } else {
            Ok(())
        }
    }
}
