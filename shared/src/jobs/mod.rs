//! The job vocabulary: what the use cases leave on the queues for later (a send, an inbound
//! text's processing, CRM goals and other automation effects), and the functions that queue
//! it. Imports no use case: the use cases queue jobs through it, and the dispatchers in
//! `handlers` hand each job to the use case that runs it, so work flows one way.

mod automation;
mod goal;
mod inbound;
pub mod keys;
mod send;
mod sequence;

pub(crate) use automation::delayed_message;
pub use automation::{
    AutomationEnvelope, AutomationJob, enqueue, enqueue_all_with_ids, enqueue_with_id,
};
pub use goal::{GoalSubject, goal_job};
pub use inbound::InboundText;
pub use keys::JobId;
pub use send::{SendJob, enqueue_send};
pub use sequence::SequenceMessage;
