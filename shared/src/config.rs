//! Configuration: the local server's file (accounts, server and mail settings) and the
//! environment a Lambda function reads. Every problem names the file, the field and what is
//! wrong, and stops startup.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::adapters::aws::sqs::{QueueUrls, QueueUrlsError};

use crate::domain::account::KeywordReplies;
use crate::domain::consent::BouncePolicy;
use crate::domain::keywords::TwilioKeywordHandling;
use crate::domain::quiet_hours::{QuietHours, QuietHoursError, TimeOfDay};
use crate::domain::{
    Account, AccountId, Country, CrmConnection, EmailAddress, EventWebhook, InboundNumber,
    KeapAuth, KeyHash, PhoneNumber, Secret, SendLimits, SenderKind, TwilioApiKey,
    TwilioCredentials, User, canonical_service_sid,
};

/// A configuration problem: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {field}: {problem}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// Dotted path of the offending field (`accounts[0].numbers[1].number`).
    pub field: String,
    pub problem: String,
}

/// The validated contents of a configuration file.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    pub server: ServerSettings,
    pub mail: MailSettings,
    pub accounts: Vec<Account>,
}

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
}

// ---------------------------------------------------------------- file format (raw)

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    server: RawServer,
    mail: RawMail,
    #[serde(default)]
    accounts: Vec<RawAccount>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<String>,
    public_base_url: Option<String>,
    data_dir: Option<String>,
    #[serde(default)]
    allow_remote_listen: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMail {
    from: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
    name: String,
    default_country: String,
    goal_integration: String,
    /// Plain send key (local convenience) or its SHA-256 hex digest.
    send_key: Option<String>,
    send_key_sha256: Option<String>,
    queue_limit: Option<u32>,
    alert_number: Option<String>,
    #[serde(default)]
    replies: RawReplies,
    subscription_field: Option<String>,
    sms_notes: Option<bool>,
    twilio: RawTwilio,
    #[serde(default)]
    numbers: Vec<RawNumber>,
    #[serde(default)]
    users: Vec<RawUser>,
    crm: RawCrm,
    event_webhook: Option<RawEventWebhook>,
    quiet_hours: Option<RawQuietHours>,
    debug_log_bodies: Option<bool>,
    bounce_after: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuietHours {
    start: String,
    end: String,
    /// For numbers whose country's zones smsflow does not know.
    time_zone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventWebhook {
    url: String,
    signing_secret: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawReplies {
    help: Option<String>,
    opt_out: Option<String>,
    opt_in: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTwilio {
    account_sid: String,
    auth_token: String,
    api_key_sid: Option<String>,
    api_key_secret: Option<String>,
    #[serde(default)]
    messaging_service_sids: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumber {
    number: String,
    kind: SenderKind,
    backup_email: String,
    segments_per_second: Option<f64>,
    #[serde(default)]
    twilio_keywords: TwilioKeywordHandling,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    id: String,
    name: String,
    email: String,
    crm_user_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum RawCrm {
    Sandbox,
    Keap {
        base_url: Option<String>,
        api_key: Option<String>,
        oauth_client_id: Option<String>,
        oauth_client_secret: Option<String>,
        oauth_refresh_token: Option<String>,
    },
    Webhook {
        url: String,
        signing_secret: String,
    },
}

// ---------------------------------------------------------------- loading

impl LocalConfig {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            field: "(file)".into(),
            problem: format!("cannot read: {e}"),
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text` as if read from `path` (used in messages and to resolve
    /// a relative `data_dir`).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw = parse_raw(path, text)?;
        let mut v = Validator {
            file: path.to_path_buf(),
        };
        let server = v.server(raw.server, path)?;
        let mail = MailSettings {
            from: v.email("mail.from", &raw.mail.from)?,
        };
        let mut accounts = Vec::with_capacity(raw.accounts.len());
        let mut account_ids: HashMap<String, usize> = HashMap::new();
        let mut owners: HashMap<PhoneNumber, String> = HashMap::new();
        // Canonical SID → the field of the account that lists it first.
        let mut service_owners: HashMap<String, (AccountId, String)> = HashMap::new();
        for (i, raw_account) in raw.accounts.into_iter().enumerate() {
            let at = format!("accounts[{i}]");
            let account = v.account(&at, raw_account)?;
            if let Some(first) = account_ids.insert(account.id.to_string(), i) {
                return Err(v.err(
                    format!("{at}.id"),
                    format!(
                        "duplicate account id '{}' (also accounts[{first}])",
                        account.id
                    ),
                ));
            }
            for (j, n) in account.numbers.iter().enumerate() {
                let field = format!("{at}.numbers[{j}].number");
                if let Some(other) = owners.insert(n.number.clone(), field.clone()) {
                    return Err(v.err(
                        field,
                        format!("duplicate inbound number {} (also {other})", n.number),
                    ));
                }
            }
            for (k, sid) in account.twilio.messaging_service_sids.iter().enumerate() {
                let field = format!("{at}.twilio.messaging_service_sids[{k}]");
                let first = service_owners
                    .entry(canonical_service_sid(sid))
                    .or_insert_with(|| (account.id.clone(), field.clone()));
                // One account may repeat a service; two accounts cannot share one.
                if first.0 != account.id {
                    return Err(v.err(
                        field,
                        format!(
                            "Messaging Service {sid} belongs to another account (also {})",
                            first.1
                        ),
                    ));
                }
            }
            accounts.push(account);
        }
        Ok(LocalConfig {
            server,
            mail,
            accounts,
        })
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

struct Validator {
    file: PathBuf,
}

impl Validator {
    fn err(&self, field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn email(&self, field: &str, value: &str) -> Result<EmailAddress, ConfigError> {
        EmailAddress::parse(value).map_err(|e| self.err(field, e.to_string()))
    }

    fn non_empty(&self, field: &str, value: String) -> Result<String, ConfigError> {
        if value.trim().is_empty() {
            return Err(self.err(field, "must not be empty"));
        }
        Ok(value)
    }

    fn server(&mut self, raw: RawServer, path: &Path) -> Result<ServerSettings, ConfigError> {
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

    fn account(&mut self, at: &str, raw: RawAccount) -> Result<Account, ConfigError> {
        let id =
            AccountId::parse(&raw.id).map_err(|e| self.err(format!("{at}.id"), e.to_string()))?;
        let default_country: Country =
            raw.default_country
                .parse()
                .map_err(|e: crate::domain::PhoneError| {
                    self.err(format!("{at}.default_country"), e.to_string())
                })?;
        let phone = |field: String, value: &str| {
            PhoneNumber::parse(value, default_country).map_err(|e| self.err(field, e.to_string()))
        };
        let send_key_hash = match (raw.send_key, raw.send_key_sha256) {
            (Some(key), None) if key.len() >= 16 => KeyHash::of(&key),
            (Some(_), None) => {
                return Err(self.err(
                    format!("{at}.send_key"),
                    "must be at least 16 characters (generate one with `smsflow keygen`)",
                ));
            }
            (None, Some(hex)) => KeyHash::from_hex(&hex).ok_or_else(|| {
                self.err(
                    format!("{at}.send_key_sha256"),
                    "must be 64 hexadecimal characters (a SHA-256 digest)",
                )
            })?,
            (Some(_), Some(_)) => {
                return Err(self.err(
                    format!("{at}.send_key"),
                    "give either send_key or send_key_sha256, not both",
                ));
            }
            (None, None) => {
                return Err(self.err(
                    format!("{at}.send_key"),
                    "missing: CRMs authenticate send requests with it",
                ));
            }
        };
        let twilio = self.twilio(&format!("{at}.twilio"), raw.twilio)?;
        let mut numbers = Vec::with_capacity(raw.numbers.len());
        for (j, n) in raw.numbers.into_iter().enumerate() {
            let nat = format!("{at}.numbers[{j}]");
            if let Some(rate) = n.segments_per_second
                && !(rate > 0.0 && rate.is_finite())
            {
                return Err(self.err(
                    format!("{nat}.segments_per_second"),
                    "must be a positive number",
                ));
            }
            numbers.push(InboundNumber {
                number: phone(format!("{nat}.number"), &n.number)?,
                kind: n.kind,
                backup_email: self.email(&format!("{nat}.backup_email"), &n.backup_email)?,
                segments_per_second: n.segments_per_second,
                keyword_handling: n.twilio_keywords,
            });
        }
        if numbers.is_empty() {
            return Err(self.err(
                format!("{at}.numbers"),
                "an account needs at least one Twilio number",
            ));
        }
        let mut users = BTreeMap::new();
        for (j, u) in raw.users.into_iter().enumerate() {
            let uat = format!("{at}.users[{j}]");
            let user = User {
                id: self.non_empty(&format!("{uat}.id"), u.id)?,
                name: self.non_empty(&format!("{uat}.name"), u.name)?,
                email: self.email(&format!("{uat}.email"), &u.email)?,
                crm_user_id: u.crm_user_id,
            };
            if users.contains_key(&user.id) {
                return Err(self.err(
                    format!("{uat}.id"),
                    format!("duplicate user id '{}'", user.id),
                ));
            }
            users.insert(user.id.clone(), user);
        }
        let goal_integration =
            self.non_empty(&format!("{at}.goal_integration"), raw.goal_integration)?;
        if !goal_integration
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.err(
                format!("{at}.goal_integration"),
                "use letters, digits and '_' only (it goes into CRM URL paths)",
            ));
        }
        let alert_number = match raw.alert_number {
            Some(n) => Some(phone(format!("{at}.alert_number"), &n)?),
            None => None,
        };
        let queue_limit = raw.queue_limit.unwrap_or(SendLimits::default().queue_limit);
        if queue_limit == 0 {
            return Err(self.err(format!("{at}.queue_limit"), "must be at least 1"));
        }
        let bounce_policy = match raw.bounce_after {
            Some(0) => return Err(self.err(format!("{at}.bounce_after"), "must be at least 1")),
            Some(n) => BouncePolicy {
                hard_failures_to_bounce: n,
            },
            None => BouncePolicy::default(),
        };
        Ok(Account {
            name: self.non_empty(&format!("{at}.name"), raw.name)?,
            id,
            default_country,
            twilio,
            numbers,
            users,
            crm: self.crm(&format!("{at}.crm"), raw.crm)?,
            goal_integration,
            limits: SendLimits { queue_limit },
            send_key_hash,
            alert_number,
            replies: self.replies(&format!("{at}.replies"), raw.replies)?,
            subscription_field: raw
                .subscription_field
                .map(|f| self.non_empty(&format!("{at}.subscription_field"), f))
                .transpose()?,
            sms_notes: raw.sms_notes.unwrap_or(true),
            debug_log_bodies: raw.debug_log_bodies.unwrap_or(false),
            bounce_policy,
            quiet_hours: raw
                .quiet_hours
                .map(|q| self.quiet_hours(&format!("{at}.quiet_hours"), q))
                .transpose()?,
            event_webhook: raw
                .event_webhook
                .map(|w| self.event_webhook(&format!("{at}.event_webhook"), w))
                .transpose()?,
        })
    }

    fn event_webhook(&self, at: &str, raw: RawEventWebhook) -> Result<EventWebhook, ConfigError> {
        Ok(EventWebhook {
            url: self.http_url(&format!("{at}.url"), raw.url)?,
            signing_secret: Secret::new(
                self.non_empty(&format!("{at}.signing_secret"), raw.signing_secret)?,
            ),
        })
    }

    fn quiet_hours(&self, at: &str, raw: RawQuietHours) -> Result<QuietHours, ConfigError> {
        let time = |name: &str, value: &str| {
            value
                .parse::<TimeOfDay>()
                .map_err(|e| self.err(format!("{at}.{name}"), e.to_string()))
        };
        let start = time("start", &raw.start)?;
        let end = time("end", &raw.end)?;
        QuietHours::new(start, end, &raw.time_zone).map_err(|e| {
            let field = match e {
                QuietHoursError::Zone(_) => "time_zone",
                _ => "end",
            };
            self.err(format!("{at}.{field}"), e.to_string())
        })
    }

    fn http_url(&self, field: &str, url: String) -> Result<String, ConfigError> {
        if !url.starts_with("https://") && !url.starts_with("http://") {
            return Err(self.err(field, format!("'{url}' is not an http(s) URL")));
        }
        Ok(url)
    }

    fn replies(&self, at: &str, raw: RawReplies) -> Result<KeywordReplies, ConfigError> {
        let check = |name: &str, text: Option<String>| match text {
            Some(t) if t.trim().is_empty() => Err(self.err(
                format!("{at}.{name}"),
                "must not be empty (leave it out to send nothing)",
            )),
            // Twilio's limit for one message body.
            Some(t) if t.encode_utf16().count() > 1600 => {
                Err(self.err(format!("{at}.{name}"), "is longer than 1600 characters"))
            }
            other => Ok(other),
        };
        Ok(KeywordReplies {
            help: check("help", raw.help)?,
            opt_out: check("opt_out", raw.opt_out)?,
            opt_in: check("opt_in", raw.opt_in)?,
        })
    }

    fn twilio(&self, at: &str, raw: RawTwilio) -> Result<TwilioCredentials, ConfigError> {
        let sid_ok = |s: &str, prefix: &str| {
            s.len() == 34 && s.starts_with(prefix) && s[2..].chars().all(|c| c.is_ascii_hexdigit())
        };
        if !sid_ok(&raw.account_sid, "AC") {
            return Err(self.err(
                format!("{at}.account_sid"),
                format!(
                    "'{}' is not a Twilio Account SID (AC + 32 hex digits)",
                    raw.account_sid
                ),
            ));
        }
        let auth_token = self.non_empty(&format!("{at}.auth_token"), raw.auth_token)?;
        let api_key = match (raw.api_key_sid, raw.api_key_secret) {
            (Some(sid), Some(secret)) if sid_ok(&sid, "SK") => Some(TwilioApiKey {
                sid,
                secret: Secret::new(secret),
            }),
            (Some(sid), Some(_)) => {
                return Err(self.err(
                    format!("{at}.api_key_sid"),
                    format!("'{sid}' is not an API key SID (SK + 32 hex digits)"),
                ));
            }
            (Some(_), None) => {
                return Err(self.err(
                    format!("{at}.api_key_secret"),
                    "missing: api_key_sid is set",
                ));
            }
            (None, Some(_)) => {
                return Err(self.err(
                    format!("{at}.api_key_sid"),
                    "missing: api_key_secret is set",
                ));
            }
            (None, None) => None,
        };
        for (k, mg) in raw.messaging_service_sids.iter().enumerate() {
            if !sid_ok(mg, "MG") {
                return Err(self.err(
                    format!("{at}.messaging_service_sids[{k}]"),
                    format!("'{mg}' is not a Messaging Service SID (MG + 32 hex digits)"),
                ));
            }
        }
        Ok(TwilioCredentials {
            account_sid: raw.account_sid,
            auth_token: Secret::new(auth_token),
            api_key,
            messaging_service_sids: raw.messaging_service_sids,
        })
    }

    fn crm(&self, at: &str, raw: RawCrm) -> Result<CrmConnection, ConfigError> {
        Ok(match raw {
            RawCrm::Sandbox => CrmConnection::Sandbox,
            RawCrm::Keap {
                base_url,
                api_key,
                oauth_client_id,
                oauth_client_secret,
                oauth_refresh_token,
            } => {
                let auth = match (
                    api_key,
                    oauth_client_id,
                    oauth_client_secret,
                    oauth_refresh_token,
                ) {
                    (Some(key), None, None, None) => KeapAuth::ApiKey {
                        key: Secret::new(self.non_empty(&format!("{at}.api_key"), key)?),
                    },
                    (None, Some(client_id), Some(secret), Some(refresh)) => KeapAuth::OAuth {
                        client_id,
                        client_secret: Secret::new(secret),
                        refresh_token: Secret::new(refresh),
                    },
                    _ => {
                        return Err(self.err(
                            at,
                            "Keap needs either api_key, or oauth_client_id + oauth_client_secret + oauth_refresh_token",
                        ));
                    }
                };
                CrmConnection::Keap { base_url, auth }
            }
            RawCrm::Webhook {
                url,
                signing_secret,
            } => CrmConnection::Webhook {
                url: self.http_url(&format!("{at}.url"), url)?,
                signing_secret: Secret::new(
                    self.non_empty(&format!("{at}.signing_secret"), signing_secret)?,
                ),
            },
        })
    }
}

// ---------------------------------------------------------------- Lambda environment

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
        })
    }
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

#[cfg(test)]
mod tests;
