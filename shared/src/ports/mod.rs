//! Ports: traits for what the world provides, shaped by the use cases rather than by the
//! SDKs behind them. Every port has one conformance suite that all its adapters pass.

pub mod clock;
pub mod credentials;
pub mod crm;
pub mod events;
pub mod mail;
pub mod media;
pub mod queue;
pub mod received_mail;
pub mod sms;
pub mod store;

pub use clock::{Clock, IdGenerator, ManualClock, SystemClock, UlidIds, derived_id};
pub use credentials::{CredentialStore, StoredRefreshToken, TokenRotation, token_origin};
pub use crm::{
    CallNote, Contact, Crm, CrmError, CrmResult, CrmUser, GoalOutcome, NewContact, NewNote, Note,
    NoteUser,
};
pub use events::{EventError, EventPublisher};
pub use mail::{Email, MailError, Mailer};
pub use media::{MediaError, MediaStore, Picture};
pub use queue::{
    JobQueue, OutgoingMessage, QueueError, QueueName, QueueReceiver, QueueResult, ReceivedMessage,
};
pub use received_mail::{ReceivedMail, ReceivedMailError};
pub use sms::{OutboundSms, ProviderAccepted, Sender, SmsError, SmsProvider};
pub use store::*;
