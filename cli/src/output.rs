//! How the CLI reports: data on stdout (human tables, or JSON with `--json`), errors on
//! stderr naming what was wrong and what to do, and an exit code per kind of failure so
//! scripts can tell them apart.

use std::fmt::Display;
use std::process::ExitCode;

use serde::Serialize;
use smsflow_shared::config::{ConfigError, ConfigProblems};
use smsflow_shared::domain::PhoneError;
use smsflow_shared::domain::account::AccountIdError;
use smsflow_shared::ports::{QueueError, StoreError};

use crate::hints;

/// The exit codes, documented in the README ("Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A bug or stored data that does not decode (1).
    Internal,
    /// What the command names does not exist: an account, a user, a number... (3)
    NotFound,
    /// An argument, a file or a value in it is not acceptable; nothing was changed (4).
    InvalidInput,
    /// The backend failed (DynamoDB, SQS, the local database...): safe to re-run (5).
    Backend,
    /// The command finished, but some input rows were rejected and listed (6).
    RowsRejected,
    /// The request was understood but refused: the recipient opted out, bounced, is paused
    /// or not subscribed, or the account's send queue is full; nothing was queued (7).
    Refused,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::NotFound => 3,
            ErrorKind::InvalidInput => 4,
            ErrorKind::Backend => 5,
            ErrorKind::RowsRejected => 6,
            ErrorKind::Refused => 7,
        }
    }
}

/// A failed command: what went wrong and, where we know it, what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// Each problem of an input checked as a whole (a configuration file), in its order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One problem of a checked input: where it is and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub field: String,
    pub problem: String,
}

pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CliError {
            kind,
            message: message.into(),
            hint: None,
            problems: Vec::new(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the message with what the command was doing.
    pub fn context(mut self, what: impl Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// Writes the error to stderr (as JSON with `--json`) and returns its exit code.
    pub fn report(&self, json: bool) -> ExitCode {
        if json {
            let body = serde_json::json!({ "error": self, "exit_code": self.kind.exit_code() });
            eprintln!("{body}");
        } else {
            eprintln!("error: {}", self.message);
            for p in &self.problems {
                eprintln!("  {}: {}", p.field, p.problem);
            }
            if let Some(hint) = &self.hint {
                eprintln!("hint: {hint}");
            }
        }
        ExitCode::from(self.kind.exit_code())
    }
}

/// Errors of code that reports plain strings: general failures.
impl From<String> for CliError {
    fn from(message: String) -> Self {
        CliError::new(ErrorKind::Internal, message)
    }
}

impl From<CliError> for String {
    fn from(e: CliError) -> String {
        e.message
    }
}

const RETRY_HINT: &str = "check the connection and credentials (--profile, --region, or AWS_PROFILE, AWS_REGION), then run the command again";

impl From<StoreError> for CliError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NumberTaken { owner, .. } => CliError::invalid(e.to_string())
                .with_hint(format!("remove the number from account {owner} first")),
            StoreError::ServiceTaken { owner, .. } => CliError::invalid(e.to_string()).with_hint(
                format!("remove the service from account {owner}'s twilio.messaging_service_sids and store that account again first"),
            ),
            StoreError::TooManyClaims { .. } => CliError::invalid(e.to_string()).with_hint(
                "list fewer numbers (a Messaging Service's pool numbers need not be listed), or add and remove numbers in separate steps",
            ),
            StoreError::NotFound(_) => CliError::not_found(e.to_string()),
            StoreError::Corrupt { .. } => CliError::new(ErrorKind::Internal, e.to_string())
                .with_hint("this is a bug or a schema mismatch between smsflow versions: report it with the message above"),
            StoreError::Backend(_) => {
                CliError::new(ErrorKind::Backend, e.to_string()).with_hint(RETRY_HINT)
            }
        }
    }
}

impl From<QueueError> for CliError {
    fn from(e: QueueError) -> Self {
        match &e {
            QueueError::Rejected { .. } => CliError::invalid(e.to_string()),
            QueueError::StaleReceipt(_) => CliError::new(ErrorKind::Backend, e.to_string())
                .with_hint("another process received the message meanwhile; run the command again"),
            QueueError::Backend(_) => {
                CliError::new(ErrorKind::Backend, e.to_string()).with_hint(RETRY_HINT)
            }
        }
    }
}

/// What to do about a file argument that cannot be read.
pub fn unreadable_file_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "check the path: there is no such file (a relative path starts in the current directory)"
        }
        _ => "check the path and that the file is readable",
    }
}

impl From<ConfigError> for CliError {
    fn from(e: ConfigError) -> Self {
        CliError::invalid(e.to_string()).with_hint(format!(
            "fix the file ({} lists every problem in it), or pass --config PATH",
            hints::local_command(&["check-config"])
        ))
    }
}

/// Every problem of a configuration file, for `smsflow check-config`.
impl From<ConfigProblems> for CliError {
    fn from(ConfigProblems(all): ConfigProblems) -> Self {
        let file = all
            .first()
            .map(|p| p.file.display().to_string())
            .unwrap_or_default();
        let count = match all.len() {
            1 => "1 problem".to_string(),
            n => format!("{n} problems"),
        };
        let mut error = CliError::invalid(format!("{file}: {count}")).with_hint(
            "fix each field named above (accounts[0] is the file's first [[accounts]], \
             numbers[1] its second [[accounts.numbers]]...)",
        );
        error.problems = (all.into_iter())
            .map(|p| Problem {
                field: p.field,
                problem: p.problem,
            })
            .collect();
        error
    }
}

impl From<AccountIdError> for CliError {
    fn from(e: AccountIdError) -> Self {
        CliError::invalid(e.to_string())
    }
}

impl From<PhoneError> for CliError {
    fn from(e: PhoneError) -> Self {
        CliError::invalid(e.to_string())
    }
}

/// Where command output goes: human text, or one JSON document with `--json`.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
}

impl Output {
    /// Prints `value` as JSON when `--json` was given, else runs `human`.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce()) -> CliResult {
        if self.json {
            let text = serde_json::to_string_pretty(value).map_err(|e| {
                CliError::new(ErrorKind::Internal, format!("cannot encode JSON: {e}"))
            })?;
            println!("{text}");
        } else {
            human();
        }
        Ok(())
    }
}

/// Renders rows as left-aligned columns under a header, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                let pad = widths[i].saturating_sub(cell.chars().count());
                out.push_str(cell);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push('\n');
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// A timestamp for people: UTC, to the second.
pub fn time(at: smsflow_shared::domain::Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(at.as_millis()) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => format!("{} ms", at.as_millis()),
    }
}

/// A timestamp for files: RFC 3339 in UTC.
pub fn rfc3339(at: smsflow_shared::domain::Timestamp) -> String {
    match jiff::Timestamp::from_millisecond(at.as_millis()) {
        Ok(t) => t.to_string(),
        Err(_) => at.as_millis().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_are_distinct_and_skip_usage() {
        let kinds = [
            ErrorKind::Internal,
            ErrorKind::NotFound,
            ErrorKind::InvalidInput,
            ErrorKind::Backend,
            ErrorKind::RowsRejected,
            ErrorKind::Refused,
        ];
        let mut codes: Vec<u8> = kinds.iter().map(|k| k.exit_code()).collect();
        codes.push(2); // clap's usage errors
        codes.push(0);
        let count = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), count, "{codes:?}");
    }

    #[test]
    fn store_errors_map_to_kinds() {
        let cases = [
            (
                StoreError::NotFound("message x".into()),
                ErrorKind::NotFound,
            ),
            (StoreError::Backend("timeout".into()), ErrorKind::Backend),
            (
                StoreError::Corrupt {
                    key: "k".into(),
                    detail: "d".into(),
                },
                ErrorKind::Internal,
            ),
        ];
        for (error, kind) in cases {
            assert_eq!(CliError::from(error).kind, kind);
        }
    }

    #[test]
    fn tables_align_columns() {
        let rows = vec![
            vec!["acme".to_string(), "+19523142318".to_string()],
            vec!["a".to_string(), "".to_string()],
        ];
        assert_eq!(
            table(&["ACCOUNT", "NUMBERS"], &rows),
            "ACCOUNT  NUMBERS\nacme     +19523142318\na"
        );
    }

    #[test]
    fn times_are_utc() {
        let at = smsflow_shared::domain::Timestamp::from_millis(1_700_000_000_123);
        assert_eq!(time(at), "2023-11-14 22:13:20");
        assert_eq!(rfc3339(at), "2023-11-14T22:13:20.123Z");
    }
}
