//! What every section's validation shares: the error that names the file, the field and
//! the problem, and the checks of plain values (e-mail addresses, phone numbers, URLs).

use std::path::PathBuf;

use crate::domain::{Country, EmailAddress, PhoneNumber};

/// A configuration problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {field}: {problem}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending field (`accounts[0].numbers[1].number`).
    pub field: String,
    pub problem: String,
}

/// Turns the raw file into validated settings, one section at a time (each section's
/// checks live beside its raw form: `server`, `account`, `numbers`, `users`, `twilio`,
/// `crm`).
pub(super) struct Validator {
    pub(super) file: PathBuf,
}

impl Validator {
    pub(super) fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub(super) fn email(&self, field: &str, value: &str) -> Result<EmailAddress, ConfigError> {
        EmailAddress::parse(value).map_err(|e| self.err(field, e.to_string()))
    }

    pub(super) fn non_empty(&self, field: &str, value: String) -> Result<String, ConfigError> {
        if value.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(value)
    }

    pub(super) fn http_url(&self, field: &str, url: String) -> Result<String, ConfigError> {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(self.err(field, format!("'{url}' is not an http(s) URL")));
        }
        Ok(url)
    }

    /// A phone number as written in an account, read in its default country.
    pub(super) fn phone(
        &self,
        field: String,
        value: &str,
        country: Country,
    ) -> Result<PhoneNumber, ConfigError> {
        PhoneNumber::parse(value, country).map_err(|e| self.err(field, e.to_string()))
    }
}
