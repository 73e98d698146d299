//! Sequence runs: the pure engine (`domain::sequence`) driven by storage, the
//! inbound pipeline, the CRM and the send path.
//!
//! - **Definitions** are applied by the CLI ([`apply`]): validated, checked against the
//!   account (its sender, keywords no other sequence of the account uses, a phone field
//!   the CRM connection can read), and stored as the JSON of the definition, validated
//!   again whenever it is read.
//! - **Starts** come from the CRM ([`start_by_crm`], `POST /crm/{account}/sequences/
//!   {sequence}/start`) or from a text that is one of an account sequence's keywords
//!   ([`on_inbound`], in the inbound pipeline). A start claims the contact's session lock
//!   (`SessionStore::start_session`, a conditional write): one unexpired run per contact,
//!   correct under concurrent starts; a second start is refused.
//! - **Events** (a reply, STOP, a send refused for an invalid number) advance the run
//!   through [`advance`]. Exactly once under
//!   retries: the new state is written conditionally on the revision read (a writer that
//!   lost the race retries on top of the winner's state), together with the event's key
//!   (the text's `MessageSid`) and its effects. The effects then become automation jobs
//!   whose ids derive from (session, event key, effect index), so queueing them again is
//!   harmless: the automation worker's claim runs each id once. A job that wrote the state
//!   but died before queueing finds its key stored on the retry and queues the stored
//!   effects again. A repeated webhook is dropped before all this by the webhook's SID
//!   dedupe, and the engine ignores SIDs the run already took.
//! - **Effects**: every message goes through `queue_send` (consent, admission, pacing) from
//!   the run's sender, fixed at its start (sticky sender); fields, the e-mail, tags and the
//!   conversation note are CRM jobs. The note is one per contact and sequence, created on
//!   first use and appended to after, on later runs too (its id is kept in the store).
//! - A run ends when the engine says so (a finish, STOP, an invalid number), 24 h after
//!   its last activity (the lock expires), or when its definition is deleted or no longer
//!   valid (at its next event).

mod definitions;
mod effects;
mod replies;
mod runs;
mod starts;

pub use definitions::{Applied, ApplyError, apply};
pub use effects::{send_step, write_note};
pub use replies::{Handoff, on_carrier_opt_out, on_inbound, on_invalid_number};
pub use starts::{StartFields, StartRefusal, Started, start_by_crm};

#[cfg(test)]
mod tests;
