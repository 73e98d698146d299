//! The local server's configuration file: read, parsed as TOML, validated section by
//! section, and checked across accounts (ids, numbers and Messaging Services are each
//! one account's).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::account::RawAccount;
use super::server::{MailSettings, RawMail, RawServer, ServerSettings};
use super::validator::{ConfigError, ConfigProblems, Validator};
use crate::domain::{Account, AccountId, PhoneNumber, canonical_service_sid};

/// The validated contents of a configuration file.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub server: ServerSettings,
    pub mail: MailSettings,
    pub accounts: Vec<Account>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    mail: RawMail,
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

impl LocalConfig {
    /// Reads and validates the file; the first problem stops it (see `check` for all).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::check(path).map_err(ConfigProblems::into_first)
    }

    /// Reads and validates the file, reporting every problem found. A file that does not
    /// parse (TOML syntax, a missing or unknown key) has that one problem only: the
    /// sections cannot be checked before it parses.
    pub fn check(path: &Path) -> Result<Self, ConfigProblems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigProblems(vec![ConfigError {
                file: path.to_path_buf(),
                field: "(file)".into(),
                problem: format!("cannot read: {e}"),
            }])
        })?;
        Self::parse_all(path, &text)
    }

    /// Parses and validates `text` as if read from `path` (used in messages and to resolve
    /// a relative `data_dir`); the first problem stops it.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        Self::parse_all(path, text).map_err(ConfigProblems::into_first)
    }

    /// As `parse`, reporting every problem in the order of the file.
    pub fn parse_all(path: &Path, text: &str) -> Result<Self, ConfigProblems> {
        let raw = parse_raw(path, text).map_err(|e| ConfigProblems(vec![e]))?;
        let v = Validator::new(path.to_path_buf());
        let server = v.keep(v.server(raw.server, path));
        let mail = v.keep(v.mail(raw.mail));
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        let mut owners = Owners::default();
        for (i, raw_account) in raw.accounts.into_iter().enumerate() {
            let at = format!("accounts[{i}]");
            if let Some(account) = v.account(&at, raw_account) {
                owners.admit(&v, i, &at, &account);
                accounts.push(account);
            }
        }
        let config = server.zip(mail).map(|(server, mail)| LocalConfig {
            server,
            mail,
            accounts,
        });
        v.finish(config)
    }
}

/// What the accounts read so far hold, to refuse a second account the same id, number or
/// Messaging Service.
#[derive(Default)]
struct Owners {
    /// Account id → its index in the file.
    account_ids: HashMap<String, usize>,
    /// Number → the field of the account that lists it.
    numbers: HashMap<PhoneNumber, String>,
    /// Canonical SID → the field of the account that lists it first.
    services: HashMap<String, (AccountId, String)>,
}

impl Owners {
    /// Records account `i` (at `at`); reports each thing it shares with an earlier one.
    fn admit(&mut self, v: &Validator, i: usize, at: &str, account: &Account) {
        if let Some(first) = self.account_ids.insert(account.id.to_string(), i) {
            v.report(v.err(
                format!("{at}.id"),
                format!(
                    "duplicate account id '{}' (also accounts[{first}])",
                    account.id
                ),
            ));
        }
        for (j, n) in account.numbers.iter().enumerate() {
            let field = format!("{at}.numbers[{j}].number");
            if let Some(other) = self.numbers.insert(n.number.clone(), field.clone()) {
                v.report(v.err(
                    field,
                    format!("duplicate inbound number {} (also {other})", n.number),
                ));
            }
        }
        self.admit_services(v, at, account);
    }

    fn admit_services(&mut self, v: &Validator, at: &str, account: &Account) {
        let services = account.twilio.as_ref().map(|t| &t.messaging_service_sids);
        for (k, sid) in services.into_iter().flatten().enumerate() {
            let field = format!("{at}.twilio.messaging_service_sids[{k}]");
            let first = self
                .services
                .entry(canonical_service_sid(sid))
                .or_insert_with(|| (account.id.clone(), field.clone()));
            // One account may repeat a service; two accounts cannot share one.
            if first.0 != account.id {
                v.report(v.err(
                    field,
                    format!(
                        "Messaging Service {sid} belongs to another account (also {})",
                        first.1
                    ),
                ));
            }
        }
    }
}

fn parse_raw(path: &Path, text: &str) -> Result<RawFile, ConfigError> {
    let err = |field: String, problem: String| ConfigError {
        file: path.to_path_buf(),
        field,
        problem,
    };
    let deserializer =
        toml::Deserializer::parse(text).map_err(|e| err("(syntax)".into(), describe(text, &e)))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." {
            "(top level)".into()
        } else {
            field
        };
        err(field, describe(text, e.inner()))
    })
}

/// The parser's message with its line number, without toml's multi-line snippet.
fn describe(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().to_string();
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("{message} (line {line})")
        }
        None => message,
    }
}
