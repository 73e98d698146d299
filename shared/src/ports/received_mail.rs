//! Received-mail port: the raw messages the receiving service stored for the reply domain
//! (S3, where SES receiving's rule puts them).

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read received message {id}: {detail}")]
pub struct ReceivedMailError {
    pub id: String,
    pub detail: String,
}

#[async_trait]
pub trait ReceivedMail: Send + Sync {
    /// The raw message (RFC 5322) stored under the receiving service's message id.
    async fn raw_message(&self, id: &str) -> Result<Vec<u8>, ReceivedMailError>;
}
