//! The S3 bucket SES receiving stores each reply e-mail in (template.yaml's receipt rule:
//! the raw message under `<prefix><SES message id>`, then `inbound-email` invoked), and
//! where a reply's pictures wait for Twilio to fetch them (`media/`, by pre-signed URL).

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;

use crate::ports::{MediaError, MediaStore, Picture, ReceivedMail, ReceivedMailError};

/// Where pictures are kept in the bucket (template.yaml lets inbound-email write and read
/// only there, and expires them with the received mail).
const MEDIA_PREFIX: &str = "media/";

/// Where `inbound-email` reads the messages SES stored, from its environment
/// (`SMSFLOW_INBOUND_EMAIL_BUCKET`, `SMSFLOW_INBOUND_EMAIL_PREFIX`).
pub struct InboundMailBucket {
    client: aws_sdk_s3::Client,
    bucket: String,
    prefix: String,
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set")]
pub struct NotConfigured(&'static str);

impl InboundMailBucket {
    pub fn from_env(sdk: &SdkConfig) -> Result<Self, NotConfigured> {
        let bucket = std::env::var("SMSFLOW_INBOUND_EMAIL_BUCKET")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or(NotConfigured("SMSFLOW_INBOUND_EMAIL_BUCKET"))?;
        let prefix = std::env::var("SMSFLOW_INBOUND_EMAIL_PREFIX").unwrap_or_default();
        Ok(Self::new(sdk, bucket, prefix))
    }

    /// The messages under `prefix` in `bucket`.
    pub fn new(sdk: &SdkConfig, bucket: String, prefix: String) -> Self {
        // An endpoint of our own (moto behind the stack runner) serves buckets by path,
        // not by host name.
        let config = aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(sdk.endpoint_url().is_some())
            .build();
        InboundMailBucket {
            client: aws_sdk_s3::Client::from_conf(config),
            bucket,
            prefix,
        }
    }
}

#[async_trait]
impl ReceivedMail for InboundMailBucket {
    /// The raw message SES stored for its message `ses_message_id`.
    async fn raw_message(&self, ses_message_id: &str) -> Result<Vec<u8>, ReceivedMailError> {
        let key = format!("{}{ses_message_id}", self.prefix);
        let failed = |detail: String| ReceivedMailError {
            id: ses_message_id.to_string(),
            detail: format!("s3://{}/{key}: {detail}", self.bucket),
        };
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| failed(e.to_string()))?;
        Ok(body.into_bytes().to_vec())
    }
}

/// Pictures of replies, in the received-mail bucket under `media/`.
pub struct S3Media {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl InboundMailBucket {
    /// The same bucket as the place pictures are kept.
    pub fn media(&self) -> S3Media {
        S3Media {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
        }
    }
}

#[async_trait]
impl MediaStore for S3Media {
    async fn share(&self, picture: Picture<'_>, valid_for: Duration) -> Result<String, MediaError> {
        let key = format!("{MEDIA_PREFIX}{}", picture.key);
        let unavailable =
            |e: String| MediaError::Unavailable(format!("s3://{}/{key}: {e}", self.bucket));
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_type(picture.content_type)
            .body(picture.bytes.to_vec().into())
            .send()
            .await
            .map_err(|e| unavailable(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
        let presigning =
            PresigningConfig::expires_in(valid_for).map_err(|e| unavailable(e.to_string()))?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| unavailable(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
        Ok(request.uri().to_string())
    }
}
