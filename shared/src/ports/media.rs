//! Media port: pictures a teammate attached to a reply e-mail, kept where the SMS provider
//! can fetch them for an MMS (S3 with a pre-signed URL on AWS; the local server's
//! `/_sandbox/media` locally).

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// The store failed: retry later.
    #[error("media store unavailable: {0}")]
    Unavailable(String),
}

/// One picture to keep.
#[derive(Debug, Clone, Copy)]
pub struct Picture<'a> {
    /// Unique per picture and the same on a retry (it names the stored object).
    pub key: &'a str,
    pub content_type: &'a str,
    pub bytes: &'a [u8],
}

#[async_trait]
pub trait MediaStore: Send + Sync {
    /// Keeps `picture` (again, harmlessly, on a retry) and answers an https or http URL
    /// the provider can fetch it from for at least `valid_for`.
    async fn share(&self, picture: Picture<'_>, valid_for: Duration) -> Result<String, MediaError>;
}
