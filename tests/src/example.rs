//! The example configuration (`smsflow.example.toml`) the integration tests run on, the
//! edits they make to it, and the facts about it they rely on.

use std::fmt::Display;
use std::path::Path;

use smsflow_shared::config::LocalConfig;

/// `smsflow.example.toml` as committed.
pub const EXAMPLE: &str = include_str!("../../smsflow.example.toml");
/// The send key of the example account `acme` (CRM requests carry it).
pub const ACME_SEND_KEY: &str = "local-dev-key-change-me-0123456789";
/// The auth token of acme's Twilio account: Twilio (and the sandbox carrier) sign with it.
pub const ACME_AUTH_TOKEN: &str = "sandbox-auth-token";
/// acme's Twilio account SID.
pub const ACME_TWILIO_SID: &str = "AC00000000000000000000000000000001";
/// acme's long code, `(952) 314-2318` in the file.
pub const ACME_LONG_CODE: &str = "+19523142318";

/// The goals a new text fires on the example account: its contact auto-created, the text
/// in (on the long code), and its forward to the backup address.
pub const NEW_TEXT_GOALS: [&str; 4] = [
    "ContactAutoCreated",
    "Inbound",
    "Inbound19523142318",
    "officeacmeexample",
];

/// [`NEW_TEXT_GOALS`] and `EmailInstalled`, for a new text that gives an e-mail address.
pub const NEW_TEXT_WITH_EMAIL_GOALS: [&str; 5] = [
    "ContactAutoCreated",
    "EmailInstalled",
    "Inbound",
    "Inbound19523142318",
    "officeacmeexample",
];

/// An account a test adds after the example's acme, on a Twilio account of its own
/// (`AC…02`) with one long code.
#[derive(Debug, Clone, Copy)]
pub struct OtherAccount<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub send_key: &'a str,
    pub auth_token: &'a str,
    pub number: &'a str,
    pub backup_email: &'a str,
    /// The lines of its `[accounts.crm]` table.
    pub crm: &'a str,
}

/// The example's text with a test's edits; [`ExampleConfig::parse`] makes it a config.
#[derive(Debug, Clone)]
pub struct ExampleConfig {
    text: String,
}

impl Default for ExampleConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl ExampleConfig {
    /// The example as committed.
    pub fn new() -> Self {
        ExampleConfig {
            text: EXAMPLE.to_string(),
        }
    }

    /// The example listening on a random loopback port, its database in `data_dir`: how
    /// the tests run the local server.
    pub fn served_from(data_dir: &Path) -> Self {
        Self::new().serving_from(data_dir)
    }

    /// This configuration on a random loopback port, its database in `data_dir`.
    pub fn serving_from(self, data_dir: &Path) -> Self {
        self.replace("listen = \"127.0.0.1:8080\"", "listen = \"127.0.0.1:0\"")
            .replace(
                "data_dir = \".smsflow\"",
                &format!("data_dir = {:?}", data_dir.display().to_string()),
            )
    }

    /// Replaces every `from` with `to`. `from` must be there: an edit that matched nothing
    /// would leave the test running on the unedited example.
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        assert!(self.text.contains(from), "the example has no {from:?}");
        self.text = self.text.replace(from, to);
        self
    }

    /// Replaces the first `from` only (which must be there).
    pub fn replace_first(mut self, from: &str, to: &str) -> Self {
        assert!(self.text.contains(from), "the example has no {from:?}");
        self.text = self.text.replacen(from, to, 1);
        self
    }

    /// Adds TOML at the end (another account, an event webhook for the last one...).
    pub fn append(mut self, toml: &str) -> Self {
        self.text.push_str(toml);
        self
    }

    /// Adds `other` after the example's accounts.
    pub fn with_account(self, other: &OtherAccount) -> Self {
        let OtherAccount {
            id,
            name,
            send_key,
            auth_token,
            number,
            backup_email,
            crm,
        } = other;
        self.append(&format!(
            r#"
[[accounts]]
id = "{id}"
name = "{name}"
default_country = "US"
goal_integration = "smsflow"
send_key = "{send_key}"

[accounts.twilio]
account_sid = "AC00000000000000000000000000000002"
auth_token = "{auth_token}"

[[accounts.numbers]]
number = "{number}"
kind = "long_code"
backup_email = "{backup_email}"

[accounts.crm]
{crm}
"#
        ))
    }

    /// acme's long code sends `segments_per_second` (its default of 1 makes a burst wait
    /// for its slots).
    pub fn long_code_rate(self, segments_per_second: impl Display) -> Self {
        self.replace(
            "number = \"(952) 314-2318\"",
            &format!("number = \"(952) 314-2318\"\nsegments_per_second = {segments_per_second}"),
        )
    }

    /// acme's Twilio account signs with `token` (the `events/` fixtures use
    /// `test-auth-token`).
    pub fn twilio_auth_token(self, token: &str) -> Self {
        self.replace(
            "auth_token = \"sandbox-auth-token\"",
            &format!("auth_token = \"{token}\""),
        )
    }

    /// acme's CRM is the Keap at `base_url` (a mock), reached with API key `api_key`.
    pub fn keap_crm(self, base_url: &str, api_key: &str) -> Self {
        self.replace(
            "kind = \"sandbox\"",
            &format!("kind = \"keap\"\nbase_url = \"{base_url}\"\napi_key = \"{api_key}\""),
        )
    }

    /// The configuration file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text parsed as `example.toml`.
    pub fn parse(self) -> LocalConfig {
        LocalConfig::parse(Path::new("example.toml"), &self.text).expect("test config is valid")
    }
}
