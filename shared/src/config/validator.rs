//! What every section's validation shares: the error that names the file, the field and
//! the problem, the list of every problem found, and the checks of plain values (e-mail
//! addresses, phone numbers, URLs).

use std::cell::RefCell;
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

/// Every problem of a configuration file, in the order of the file (never empty).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct ConfigProblems(pub Vec<ConfigError>);

impl ConfigProblems {
    /// The first problem, the one a command that needs the whole file reports.
    pub fn into_first(self) -> ConfigError {
        let ConfigProblems(mut all) = self;
        all.swap_remove(0)
    }
}

/// Turns the raw file into validated settings, one section at a time (each section's
/// checks live beside its raw form: `server`, `account`, `numbers`, `users`, `twilio`,
/// `crm`). A check that fails records its problem and the checks go on, so one run
/// reports every problem of the file.
pub(super) struct Validator {
    pub(super) file: PathBuf,
    problems: RefCell<Vec<ConfigError>>,
}

impl Validator {
    pub(super) fn new(file: PathBuf) -> Self {
        Validator {
            file,
            problems: RefCell::default(),
        }
    }

    /// The value of a passed check; a failed one's problem is recorded and gives `None`.
    pub(super) fn keep<T>(&self, checked: Result<T, ConfigError>) -> Option<T> {
        checked.map_err(|problem| self.report(problem)).ok()
    }

    pub(super) fn report(&self, problem: ConfigError) {
        self.problems.borrow_mut().push(problem);
    }

    /// How many problems are recorded so far.
    pub(super) fn problem_count(&self) -> usize {
        self.problems.borrow().len()
    }

    /// `value` when no check failed, else every recorded problem.
    pub(super) fn finish<T>(self, value: Option<T>) -> Result<T, ConfigProblems> {
        let problems = self.problems.into_inner();
        match value {
            Some(value) if problems.is_empty() => Ok(value),
            // A `None` always comes with a recorded problem; the fallback keeps the list
            // non-empty should a check ever forget to record one.
            _ if problems.is_empty() => Err(ConfigProblems(vec![ConfigError {
                file: self.file,
                field: "(file)".into(),
                problem: "invalid".into(),
            }])),
            _ => Err(ConfigProblems(problems)),
        }
    }

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
