//! The `[server]` and `[mail]` sections: where the local server listens, the URL the
//! carrier calls it at, where its data lives, the sender of forwarded e-mails and where
//! replies to them arrive.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::validator::{ConfigError, Validator};
use crate::domain::EmailAddress;
use crate::domain::reply_address::{DEFAULT_REPLY_DAYS, ReplyAddressing, ReplyAddressingError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// The URL Twilio (or the sandbox carrier) calls: signatures are checked against it.
    pub public_base_url: String,
    /// Where the embedded database lives, relative to the config file unless absolute.
    pub data_dir: PathBuf,
    /// Whether `listen` may be an address other than loopback (the webhooks and the
    /// unauthenticated `/_sandbox` become reachable from the network).
    pub allow_remote_listen: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailSettings {
    /// The sender of forwarded e-mails.
    pub from: EmailAddress,
    /// Where teammates' replies to forwards are received (README "Reply by e-mail").
    pub replies: Option<ReplyAddressing>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Option<String>,
    public_base_url: Option<String>,
    data_dir: Option<String>,
    #[serde(default)]
    allow_remote_listen: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMail {
    from: String,
    reply_domain: Option<String>,
    reply_address_days: Option<u64>,
}

impl Validator {
    pub(super) fn server(
        &self,
        raw: RawServer,
        path: &Path,
    ) -> Result<ServerSettings, ConfigError> {
        let listen_text = raw.listen.unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_text.parse().map_err(|_| {
            self.err(
                "server.listen",
                format!("'{listen_text}' is not an address:port such as 127.0.0.1:8080"),
            )
        })?;
        let public_base_url = raw
            .public_base_url
            .unwrap_or_else(|| format!("http://{listen}"));
        if !(public_base_url.starts_with("http://") || public_base_url.starts_with("https://")) {
            return Err(self.err(
                "server.public_base_url",
                format!("'{public_base_url}' must start with http:// or https://"),
            ));
        }
        let data_dir = PathBuf::from(raw.data_dir.unwrap_or_else(|| ".smsflow".into()));
        let data_dir = if data_dir.is_absolute() {
            data_dir
        } else {
            path.parent().unwrap_or(Path::new(".")).join(data_dir)
        };
        Ok(ServerSettings {
            listen,
            public_base_url: public_base_url.trim_end_matches('/').to_string(),
            data_dir,
            allow_remote_listen: raw.allow_remote_listen,
        })
    }

    pub(super) fn mail(&self, raw: RawMail) -> Result<MailSettings, ConfigError> {
        let days = raw.reply_address_days.unwrap_or(DEFAULT_REPLY_DAYS);
        let replies = match raw.reply_domain.as_deref() {
            Some(domain) => Some(ReplyAddressing::new(domain, days).map_err(|e| {
                let field = match e {
                    ReplyAddressingError::Domain(_) => "mail.reply_domain",
                    ReplyAddressingError::Days(_) => "mail.reply_address_days",
                };
                self.err(field, e.to_string())
            })?),
            None => None,
        };
        Ok(MailSettings {
            from: self.email("mail.from", &raw.from)?,
            replies,
        })
    }
}
