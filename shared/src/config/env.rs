//! The environment a Lambda function reads (set by template.yaml).

use super::queues::{QueueUrls, QueueUrlsError};
use crate::domain::EmailAddress;
use crate::domain::reply_address::{DEFAULT_REPLY_DAYS, ReplyAddressing};

/// What a Lambda function reads from its environment (set by template.yaml).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionEnv {
    pub table: String,
    pub queues: QueueUrls,
    /// Empty: derive from the API Gateway request's domain.
    pub public_base_url: Option<String>,
    pub mail_from: Option<EmailAddress>,
    /// Twilio's REST API base URL (`SMSFLOW_TWILIO_API_BASE_URL`); empty: Twilio's own.
    pub twilio_api_base_url: Option<String>,
    /// The first retry backoff of a failed queue job (`SMSFLOW_RETRY_BACKOFF_SECONDS`).
    pub retry_backoff: Option<std::time::Duration>,
    /// Every lease on claimed work (`SMSFLOW_LEASE_SECONDS`); unset: the defaults.
    pub lease: Option<std::time::Duration>,
    /// The reply domain (`SMSFLOW_REPLY_DOMAIN`) and how many days a reply address works
    /// (`SMSFLOW_REPLY_ADDRESS_DAYS`, default 30); unset domain: forwards carry none.
    pub replies: Option<ReplyAddressing>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct EnvError {
    pub name: &'static str,
    pub problem: String,
}

impl FunctionEnv {
    pub fn from_env() -> Result<Self, EnvError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, EnvError> {
        let required = |name: &'static str| {
            get(name).filter(|v| !v.trim().is_empty()).ok_or(EnvError {
                name,
                problem: "is not set".into(),
            })
        };
        let optional = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let mail_from = match optional("SMSFLOW_MAIL_FROM") {
            Some(v) => Some(EmailAddress::parse(&v).map_err(|e| EnvError {
                name: "SMSFLOW_MAIL_FROM",
                problem: e.to_string(),
            })?),
            None => None,
        };
        let queues = QueueUrls::from_lookup(&get).map_err(|e| match e {
            QueueUrlsError::Missing { var, .. } => EnvError {
                name: var,
                problem: "is not set".into(),
            },
        })?;
        Ok(FunctionEnv {
            table: required("SMSFLOW_TABLE")?,
            queues,
            public_base_url: optional("SMSFLOW_PUBLIC_BASE_URL")
                .map(|u| u.trim_end_matches('/').to_string()),
            mail_from,
            twilio_api_base_url: optional("SMSFLOW_TWILIO_API_BASE_URL")
                .map(|u| u.trim_end_matches('/').to_string()),
            retry_backoff: match optional("SMSFLOW_RETRY_BACKOFF_SECONDS") {
                Some(v) => Some(seconds(&v).ok_or(EnvError {
                    name: "SMSFLOW_RETRY_BACKOFF_SECONDS",
                    problem: format!("'{v}' is not a whole number of seconds above 0"),
                })?),
                None => None,
            },
            lease: lease_from_lookup(&get)?,
            replies: replies_from_lookup(&get)?,
        })
    }
}

/// `SMSFLOW_REPLY_DOMAIN` and `SMSFLOW_REPLY_ADDRESS_DAYS`.
fn replies_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<ReplyAddressing>, EnvError> {
    const DOMAIN: &str = "SMSFLOW_REPLY_DOMAIN";
    const DAYS: &str = "SMSFLOW_REPLY_ADDRESS_DAYS";
    let Some(domain) = get(DOMAIN).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    let days = match get(DAYS).filter(|v| !v.trim().is_empty()) {
        Some(v) => v.trim().parse::<u64>().map_err(|_| EnvError {
            name: DAYS,
            problem: format!("'{v}' is not a whole number of days"),
        })?,
        None => DEFAULT_REPLY_DAYS,
    };
    ReplyAddressing::new(&domain, days)
        .map(Some)
        .map_err(|e| EnvError {
            name: match e {
                crate::domain::reply_address::ReplyAddressingError::Domain(_) => DOMAIN,
                crate::domain::reply_address::ReplyAddressingError::Days(_) => DAYS,
            },
            problem: e.to_string(),
        })
}

/// `SMSFLOW_LEASE_SECONDS`: how long work claimed by a handler that died waits before
/// another takes it over (every lease alike; unset: the defaults of
/// [`crate::domain::leases::Leases`]). Only for handlers that surely finish sooner.
pub fn lease_from_lookup(
    get: impl Fn(&str) -> Option<String>,
) -> Result<Option<std::time::Duration>, EnvError> {
    const NAME: &str = "SMSFLOW_LEASE_SECONDS";
    match get(NAME).filter(|v| !v.trim().is_empty()) {
        Some(v) => seconds(&v).map(Some).ok_or(EnvError {
            name: NAME,
            problem: format!("'{v}' is not a whole number of seconds above 0"),
        }),
        None => Ok(None),
    }
}

/// A whole, positive number of seconds.
fn seconds(raw: &str) -> Option<std::time::Duration> {
    raw.trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map(std::time::Duration::from_secs)
}
