//! The local media store: a reply's pictures kept in the embedded database and served by
//! the local server at `/_sandbox/media/{key}` (the URL handed to the sandbox carrier, as
//! a pre-signed S3 URL is handed to Twilio on AWS).

use std::time::Duration;

use async_trait::async_trait;
use redb::TableDefinition;

use super::{DbError, EmbeddedDb, open_read_table};
use crate::local::sandbox_api::MEDIA_PATH;
use crate::ports::{MediaError, MediaStore, Picture};

/// Key: the picture's key. Value: its content type, a newline, its bytes.
const MEDIA: TableDefinition<&str, &[u8]> = TableDefinition::new("media");

#[derive(Clone)]
pub struct EmbeddedMedia {
    db: EmbeddedDb,
    /// The local server's public base URL.
    base_url: String,
}

/// A kept picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptPicture {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl EmbeddedMedia {
    pub fn new(db: EmbeddedDb, base_url: &str) -> Self {
        EmbeddedMedia {
            db,
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    /// The picture kept under `key`, if any.
    pub async fn picture(&self, key: &str) -> Result<Option<KeptPicture>, DbError> {
        let key = key.to_string();
        self.db
            .read(move |tx| {
                let Some(table) = open_read_table(tx, MEDIA)? else {
                    return Ok(None);
                };
                let Some(value) = table.get(key.as_str())? else {
                    return Ok(None);
                };
                let value = value.value();
                let split = value.iter().position(|b| *b == b'\n').unwrap_or(0);
                Ok(Some(KeptPicture {
                    content_type: String::from_utf8_lossy(&value[..split]).into_owned(),
                    bytes: value[(split + 1).min(value.len())..].to_vec(),
                }))
            })
            .await
    }
}

/// Keys are made of the claim's digest and an index; anything else is refused so a key
/// never escapes its path segment.
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[async_trait]
impl MediaStore for EmbeddedMedia {
    async fn share(
        &self,
        picture: Picture<'_>,
        _valid_for: Duration,
    ) -> Result<String, MediaError> {
        if !safe_key(picture.key) {
            return Err(MediaError::Unavailable(format!(
                "not a media key: {}",
                picture.key
            )));
        }
        let key = picture.key.to_string();
        let mut value = picture.content_type.as_bytes().to_vec();
        value.push(b'\n');
        value.extend_from_slice(picture.bytes);
        let stored_key = key.clone();
        self.db
            .write(move |tx| {
                tx.open_table(MEDIA)?
                    .insert(stored_key.as_str(), value.as_slice())?;
                Ok::<_, DbError>(())
            })
            .await
            .map_err(|e| MediaError::Unavailable(e.to_string()))?;
        Ok(format!(
            "{}{}",
            self.base_url,
            MEDIA_PATH.replace("{key}", &key)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_picture_is_kept_and_read_back_by_its_url() {
        let media = EmbeddedMedia::new(
            EmbeddedDb::in_memory().expect("db"),
            "http://127.0.0.1:8080/",
        );
        let picture = Picture {
            key: "abc-0.png",
            content_type: "image/png",
            bytes: b"\x89PNG\r\n\x1a\nrest",
        };
        let url = media
            .share(picture, Duration::from_secs(60))
            .await
            .expect("kept");
        assert_eq!(url, "http://127.0.0.1:8080/_sandbox/media/abc-0.png");
        let kept = media.picture("abc-0.png").await.expect("read");
        assert_eq!(
            kept,
            Some(KeptPicture {
                content_type: "image/png".into(),
                bytes: b"\x89PNG\r\n\x1a\nrest".to_vec(),
            })
        );
        assert_eq!(media.picture("other").await.expect("read"), None);
        let escape = Picture {
            key: "../x",
            ..picture
        };
        assert!(media.share(escape, Duration::from_secs(60)).await.is_err());
    }
}
