//! `smsflow accounts ...`: store the accounts of a configuration file, list and show them,
//! rotate an account's CRM key and change its limits. Changes read the stored account,
//! change it and write it back with `put_account`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Subcommand;
use serde::Serialize;
use smsflow_shared::domain::{Account, AccountId, CrmConnection, KeyHash, generate_key};
use smsflow_shared::ports::Store;
use smsflow_shared::usecases::accounts::with_callback_secret;

use crate::hints;
use crate::output::{CliError, CliResult, Output, table};
use crate::target::{Location, Target, load, open_store};

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Store the accounts of a configuration file (validates first; all or nothing per account).
    #[command(visible_alias = "create")]
    Push {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// List stored account ids and their numbers.
    List {
        #[command(flatten)]
        at: Location,
    },
    /// Show a stored account: numbers, users, CRM, limits (never its secrets, but for the
    /// Instasent callback URL, which is pasted into Instasent).
    Show {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
    /// Replace the account's CRM send key; prints the new send URL (with the key) once.
    RotateKey {
        #[arg(long)]
        account: String,
        /// Base URL of the CRM-facing routes (default: the stack's CampaignSendFunctionUrl
        /// output; locally the configuration's public_base_url).
        #[arg(long, env = "SMSFLOW_CRM_URL")]
        crm_url: Option<String>,
        #[command(flatten)]
        at: Location,
    },
    /// Turn logging of the account's message bodies on or off (for debugging its flow).
    SetDebug {
        #[arg(long)]
        account: String,
        /// Whether message bodies are written to the logs.
        #[arg(long, action = clap::ArgAction::Set)]
        log_bodies: bool,
        #[command(flatten)]
        at: Location,
    },
    /// Change the account's limits.
    SetLimit {
        #[arg(long)]
        account: String,
        /// Most send requests admitted but not yet sent; beyond it requests are refused.
        #[arg(long)]
        queue_limit: u32,
        #[command(flatten)]
        at: Location,
    },
}

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::Push { config, target } => push(config, target, out).await,
        Command::List { at } => list(&*at.store().await?, out).await,
        Command::Show { account, at } => {
            let id = AccountId::parse(&account)?;
            let account = stored_account(&*at.store().await?, &id).await?;
            let view = AccountView::of(&account);
            out.emit(&view, || println!("{}", view.render()))
        }
        Command::RotateKey {
            account,
            crm_url,
            at,
        } => rotate_key(&account, crm_url, &at, out).await,
        Command::SetDebug {
            account,
            log_bodies,
            at,
        } => set_debug(&account, log_bodies, &at, out).await,
        Command::SetLimit {
            account,
            queue_limit,
            at,
        } => set_limit(&account, queue_limit, &at, out).await,
    }
}

async fn set_debug(account: &str, log_bodies: bool, at: &Location, out: Output) -> CliResult {
    let store = at.store().await?;
    let id = AccountId::parse(account)?;
    change_account(&*store, at, &id, |account| {
        account.debug_log_bodies = log_bodies;
        Ok(())
    })
    .await?;
    let summary = serde_json::json!({ "account": id, "debug_log_bodies": log_bodies });
    out.emit(&summary, || {
        let state = if log_bodies { "on" } else { "off" };
        println!("account {id}: logging of message bodies {state}")
    })
}

async fn set_limit(account: &str, queue_limit: u32, at: &Location, out: Output) -> CliResult {
    let store = at.store().await?;
    let id = AccountId::parse(account)?;
    let (_, before) = change_account(&*store, at, &id, |account| {
        Ok(std::mem::replace(
            &mut account.limits.queue_limit,
            queue_limit,
        ))
    })
    .await?;
    let summary = serde_json::json!({
        "account": id,
        "queue_limit": queue_limit,
        "previous_queue_limit": before,
    });
    out.emit(&summary, || {
        println!("account {id}: queue limit {before} -> {queue_limit}")
    })
}

/// The stored account, or a not-found error that says how accounts get stored.
pub async fn stored_account(store: &dyn Store, id: &AccountId) -> CliResult<Account> {
    store.account(id).await?.ok_or_else(|| {
        CliError::not_found(format!("account {id} is not stored")).with_hint(format!(
            "{} shows the stored accounts; {} stores those of a configuration file",
            hints::command(&["accounts", "list"]),
            hints::command(&["accounts", "push"]),
        ))
    })
}

/// Reads the stored account, applies `change` to it and writes it back with `put_account`
/// (which claims and releases numbers atomically); returns the account as stored and what
/// `change` returned. Nothing is written when `change` fails.
pub async fn change_account<T>(
    store: &dyn Store,
    at: &Location,
    id: &AccountId,
    change: impl FnOnce(&mut Account) -> CliResult<T>,
) -> CliResult<(Account, T)> {
    let mut account = stored_account(store, id).await?;
    let changed = change(&mut account)?;
    store.put_account(&account).await?;
    local_change_note(at);
    Ok((account, changed))
}

/// Locally, `smsflow serve` keeps a stored account until its entry in the configuration
/// file changes; then the file's version replaces it.
fn local_change_note(at: &Location) {
    if !at.target.is_aws() {
        eprintln!(
            "note: the change lasts until the account's entry in {} changes; {} then stores the file's version",
            at.config.display(),
            hints::local_command(&["serve"])
        );
    }
}

async fn push(config: PathBuf, target: Target, out: Output) -> CliResult {
    let config = load(&config)?;
    let store = open_store(&config, &target).await?;
    let mut stored = Vec::new();
    for account in &config.accounts {
        let in_context = |e| CliError::from(e).context(format!("account {}", account.id));
        let before = store.account(&account.id).await.map_err(in_context)?;
        let account = with_callback_secret(account.clone(), before.as_ref());
        store.put_account(&account).await.map_err(in_context)?;
        if !out.json {
            println!("stored account {}", account.id);
            if let Some(path) = instasent_callback_url(&account, None) {
                println!(
                    "  Instasent callback URL: <public base URL>{path} (`accounts show` repeats it)"
                );
            }
        }
        stored.push(account.id.clone());
    }
    if out.json {
        out.emit(&serde_json::json!({ "stored": stored }), || {})?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ListedAccount {
    id: AccountId,
    name: String,
    numbers: Vec<String>,
}

async fn list(store: &dyn Store, out: Output) -> CliResult {
    let mut accounts = Vec::new();
    for id in store.account_ids().await? {
        let (name, numbers) = match store.account(&id).await? {
            Some(a) => (
                a.name,
                a.numbers.iter().map(|n| n.number.to_string()).collect(),
            ),
            None => (String::new(), vec![]),
        };
        accounts.push(ListedAccount { id, name, numbers });
    }
    out.emit(&accounts, || {
        for a in &accounts {
            println!("{}\t{}", a.id, a.numbers.join(", "));
        }
    })
}

async fn rotate_key(
    account: &str,
    crm_url: Option<String>,
    at: &Location,
    out: Output,
) -> CliResult {
    let id = AccountId::parse(account)?;
    // The URL is read before anything changes: on AWS the stack's CampaignSendFunctionUrl
    // output, locally the configuration's public_base_url.
    let (store, base): (Arc<dyn Store>, Option<String>) = match at.target.deployment().await? {
        Some(aws) => {
            let base = crm_url.or_else(|| aws.crm_url());
            (aws.store().await?, base)
        }
        None => {
            let base = match crm_url {
                Some(url) => url,
                None => load(&at.config)?.server.public_base_url,
            };
            (at.local_store()?, Some(base))
        }
    };
    let key = generate_key();
    let (stored, ()) = change_account(&*store, at, &id, |stored| {
        stored.send_key_hash = KeyHash::of(&key);
        Ok(())
    })
    .await?;
    let path = format!("crm/{id}/send?key={key}");
    let url = base.map(|b| format!("{}/{path}", b.trim_end_matches('/')));
    let result = serde_json::json!({
        "account": id,
        "send_key": key,
        "send_key_sha256": stored.send_key_hash.as_hex(),
        "send_url": url,
    });
    out.emit(&result, || {
        println!("new send key of account {id} (shown once; the old key stops working now):");
        match &url {
            Some(url) => println!("  {url}"),
            None => println!(
                "  <CampaignSendFunctionUrl>{path}\n(pass --stack NAME or --crm-url URL to print the full URL)"
            ),
        }
        println!("put it in the CRM's HTTP POST actions; it is stored only as its SHA-256 digest");
    })
}

/// An account as operators see it: everything but secrets.
#[derive(Serialize)]
struct AccountView {
    id: AccountId,
    name: String,
    default_country: String,
    provider: String,
    twilio_account_sid: Option<String>,
    messaging_service_sids: Vec<String>,
    numbers: Vec<NumberView>,
    users: Vec<UserView>,
    crm: String,
    goal_integration: String,
    queue_limit: u32,
    alert_number: Option<String>,
    sms_notes: bool,
    debug_log_bodies: bool,
    bounce_after: u32,
    subscription_field: Option<String>,
    event_webhook_url: Option<String>,
    send_key_sha256: String,
    /// The path of the Instasent callback URL (with the account's secret), for an account
    /// with Instasent credentials.
    instasent_callback_path: Option<String>,
}

/// The Instasent callback URL of `account` on `base` (the public base URL), or its path
/// alone without one; `None` without Instasent or before a secret is given or generated.
pub fn instasent_callback_url(account: &Account, base: Option<&str>) -> Option<String> {
    let secret = account.instasent.as_ref()?.callback_secret.as_ref()?;
    let path = smsflow_shared::routes::instasent_callback_path(&account.id, secret.expose());
    Some(format!(
        "{}{path}",
        base.unwrap_or_default().trim_end_matches('/')
    ))
}

#[derive(Serialize)]
pub struct NumberView {
    pub number: String,
    pub kind: String,
    pub segments_per_second: f64,
    pub backup_email: String,
}

#[derive(Serialize)]
pub struct UserView {
    pub id: String,
    pub name: String,
    pub email: String,
    pub crm_user_id: Option<String>,
    pub admin: bool,
}

pub fn number_views(account: &Account) -> Vec<NumberView> {
    account
        .numbers
        .iter()
        .map(|n| NumberView {
            number: n.number.to_string(),
            kind: serde_json::to_value(n.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            segments_per_second: n.segments_per_second(),
            backup_email: n.backup_email.to_string(),
        })
        .collect()
}

pub fn user_views(account: &Account) -> Vec<UserView> {
    account
        .users
        .values()
        .map(|u| UserView {
            id: u.id.clone(),
            name: u.name.clone(),
            email: u.email.to_string(),
            crm_user_id: u.crm_user_id.clone(),
            admin: u.admin,
        })
        .collect()
}

/// The numbers as the table `numbers list` and `accounts show` print.
pub fn numbers_table(numbers: &[NumberView]) -> String {
    let rows: Vec<Vec<String>> = numbers
        .iter()
        .map(|n| {
            vec![
                n.number.clone(),
                n.kind.clone(),
                n.segments_per_second.to_string(),
                n.backup_email.clone(),
            ]
        })
        .collect();
    table(&["NUMBER", "KIND", "SEG/S", "BACKUP E-MAIL"], &rows)
}

/// The users as the table `users list` and `accounts show` print.
pub fn users_table(users: &[UserView]) -> String {
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|u| {
            vec![
                u.id.clone(),
                u.name.clone(),
                u.email.clone(),
                u.crm_user_id.clone().unwrap_or_else(|| "-".into()),
                if u.admin { "admin" } else { "-" }.to_string(),
            ]
        })
        .collect();
    table(&["USER", "NAME", "E-MAIL", "CRM USER", "INBOX"], &rows)
}

impl AccountView {
    fn of(a: &Account) -> Self {
        AccountView {
            id: a.id.clone(),
            name: a.name.clone(),
            default_country: a.default_country.to_string(),
            provider: a.provider.to_string(),
            twilio_account_sid: a.twilio_account_sid().map(String::from),
            messaging_service_sids: (a.twilio.iter())
                .flat_map(|t| t.messaging_service_sids.clone())
                .collect(),
            numbers: number_views(a),
            users: user_views(a),
            crm: match &a.crm {
                CrmConnection::Sandbox => "sandbox".into(),
                CrmConnection::Keap { .. } => "keap".into(),
                CrmConnection::Webhook { url, .. } => format!("webhook {url}"),
            },
            goal_integration: a.goal_integration.clone(),
            queue_limit: a.limits.queue_limit,
            alert_number: a.alert_number.as_ref().map(ToString::to_string),
            sms_notes: a.sms_notes,
            debug_log_bodies: a.debug_log_bodies,
            bounce_after: a.bounce_policy.hard_failures_to_bounce,
            subscription_field: a.subscription_field.clone(),
            event_webhook_url: a.event_webhook.as_ref().map(|w| w.url.clone()),
            send_key_sha256: a.send_key_hash.as_hex().to_string(),
            instasent_callback_path: instasent_callback_url(a, None),
        }
    }

    fn render(&self) -> String {
        let none = || "-".to_string();
        let mut lines = vec![
            format!("account {} ({})", self.id, self.name),
            format!("  default country   {}", self.default_country),
            format!("  provider          {}", self.provider),
            format!(
                "  twilio account    {}",
                self.twilio_account_sid.clone().unwrap_or_else(none)
            ),
            format!("  crm               {}", self.crm),
            format!("  goal integration  {}", self.goal_integration),
            format!("  queue limit       {}", self.queue_limit),
            format!(
                "  alert number      {}",
                self.alert_number.clone().unwrap_or_else(none)
            ),
            format!("  sms notes         {}", self.sms_notes),
            format!("  log bodies        {}", self.debug_log_bodies),
            format!("  bounce after      {} hard failures", self.bounce_after),
            format!(
                "  event webhook     {}",
                self.event_webhook_url.clone().unwrap_or_else(none)
            ),
            format!("  send key sha256   {}", self.send_key_sha256),
            String::new(),
        ];
        if let Some(path) = &self.instasent_callback_path {
            lines.insert(
                lines.len() - 1,
                format!(
                    "  instasent callback <public base URL>{path}\n    (paste it into the Instasent API token's \"Callback URL\"; the base is the stack's HttpApiUrl output, locally public_base_url)"
                ),
            );
        }
        lines.push(numbers_table(&self.numbers));
        lines.push(String::new());
        lines.push(users_table(&self.users));
        lines.join("\n")
    }
}
