//! Storage port: the access patterns listed in docs/storage.md, one narrow trait per concern,
//! so a use case names exactly what it touches. Every invariant (dedupe, admission, one
//! active session per contact, forward-only status) is carried by the backend's own
//! conditional write or transaction, never by read-then-write in the caller.
//!
//! Items that expire carry `expires_at`; every read checks it, because DynamoDB's TTL
//! deletes lazily (and moto never does).

use crate::domain::phone::mask_numbers;
use crate::domain::{AccountId, PhoneNumber};

/// Store keys hold contacts' numbers (`acme\0+14155550103\0…`), and the texts below quote
/// keys: they are shown with every number masked, as everything that reaches a log is.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An inbound number is already owned by another account.
    #[error("number {number} already belongs to account {owner}")]
    NumberTaken {
        number: PhoneNumber,
        owner: AccountId,
    },
    /// A Messaging Service (`service`, in canonical form) is already another account's.
    #[error("Messaging Service {service} already belongs to account {owner}")]
    ServiceTaken { service: String, owner: AccountId },
    /// The account changes more number and Messaging Service claims than the backend writes
    /// in one atomic step (DynamoDB: 100 items per transaction, 2 of them the account's).
    #[error(
        "account {account} would write {claims} number and Messaging Service claims at once; at most {limit} fit in one write"
    )]
    TooManyClaims {
        account: AccountId,
        claims: usize,
        limit: usize,
    },
    /// The addressed item does not exist (e.g. ending a session that is not there).
    #[error("{} not found", mask_numbers(.0))]
    NotFound(String),
    /// A stored item could not be decoded: a bug or a schema drift, never user input.
    #[error("stored item {} is corrupt: {}", mask_numbers(.key), mask_numbers(.detail))]
    Corrupt { key: String, detail: String },
    /// The backend failed (network, throttling, I/O). Safe to retry.
    #[error("storage backend failed: {}", mask_numbers(.0))]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

mod accounts;
mod admission;
mod claims;
mod consent;
mod conversations;
mod crm_support;
mod inbox;
mod job_failures;
mod refusals;
mod reply_grants;
mod send_path;
mod sequences;

pub use accounts::*;
pub use admission::*;
pub use claims::*;
pub use consent::*;
pub use conversations::*;
pub use crm_support::*;
pub use inbox::*;
pub use job_failures::*;
pub use refusals::*;
pub use reply_grants::*;
pub use send_path::*;
pub use sequences::*;

/// Declares `Store`, every store trait at once, and gives it to every type that has them
/// all: the list of traits is written once.
macro_rules! all_of {
    ($($port:ident),+ $(,)?) => {
        /// Everything a backend provides; use cases take the narrow traits above.
        pub trait Store: $($port +)+ {}

        impl<T> Store for T where T: $($port +)+ {}
    };
}

all_of!(
    AccountStore,
    ConversationStore,
    ConsentStore,
    OptOutStore,
    ConversationIndex,
    MessageHistory,
    JobFailureStore,
    PhoneStore,
    SessionStore,
    SequenceStore,
    IdempotencyStore,
    SendAttemptStore,
    AdmissionStore,
    SendPathStore,
    RateStore,
    GoalStore,
    GoalLog,
    RefusalLog,
    ContactCache,
    ReplyGrants,
    InboxStore,
);
