//! The pure core: types and rules with no I/O. Everything here is synchronous and
//! exhaustively unit tested.

pub mod account;
pub mod consent;
pub mod contact;
pub mod delivery;
pub mod email;
pub mod email_reply;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod goals;
pub mod idempotency;
pub mod ids;
pub mod inbox;
pub mod instasent_errors;
pub mod keywords;
pub mod leases;
pub mod merge;
pub mod message;
pub mod phone;
pub mod provider;
pub mod quiet_hours;
pub mod received;
pub mod received_request;
pub mod reply_address;
pub mod reply_media;
pub mod retry_backoff;
pub mod routing;
pub mod secret;
pub mod segments;
pub mod send_content;
pub mod send_request;
pub mod sender;
pub mod sequence;
pub mod time;
pub mod twilio_errors;
pub mod twilio_signature;
mod words;

pub use account::{
    Account, AccountId, CrmConnection, EventWebhook, InboundNumber, KeapAuth, SendLimits,
    SenderKind, TwilioApiKey, TwilioCredentials, User, UserLookupError, canonical_service_sid,
};
pub use email::EmailAddress;
pub use goals::GoalName;
pub use idempotency::IdempotencyKey;
pub use ids::{ContactId, MessageId, MessageSid, SessionId};
pub use message::{Direction, MessageRecord, MessageStatus};
pub use phone::{Country, PhoneError, PhoneNumber};
pub use provider::{InstasentCredentials, ProviderCredentials, SmsProviderKind};
pub use secret::{KeyHash, Secret, generate_key};
pub use time::Timestamp;
