//! Mailer port (SES, or the outbox locally).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::EmailAddress;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email {
    pub from: EmailAddress,
    pub to: Vec<EmailAddress>,
    pub reply_to: Option<EmailAddress>,
    pub subject: String,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The mail service refused this message for good (unverified sender, bad address).
    #[error("e-mail rejected: {0}")]
    Rejected(String),
    /// The service failed or throttled: retry later.
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one e-mail; returns the service's message id.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}
