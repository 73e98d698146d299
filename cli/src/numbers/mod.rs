//! `smsflow numbers ...` and `smsflow users ...`: an account's inbound numbers and its
//! users. Each change reads the stored account, changes it and stores it with
//! `put_account`, which claims and releases numbers atomically. The commands that also act
//! in Twilio (search, buy, wire, check, release) live in a file each; what they share with
//! Twilio in `twilio.rs`.

use clap::Subcommand;
use smsflow_shared::domain::keywords::TwilioKeywordHandling;
use smsflow_shared::domain::{
    Account, AccountId, EmailAddress, InboundNumber, PhoneNumber, SenderKind, User,
};
use smsflow_shared::ports::Store;

use crate::accounts::{
    change_account, number_views, numbers_table, stored_account, user_views, users_table,
};
use crate::hints;
use crate::output::{CliError, CliResult, Output};
use crate::target::Location;

mod buy;
mod check;
mod release;
mod search;
mod twilio;
mod wire;

#[derive(Subcommand, Debug)]
pub enum NumbersCommand {
    /// Add an inbound number to an account (it must not belong to another account).
    Add {
        #[arg(long)]
        account: String,
        /// The number (national numbers are read in the account's country).
        #[arg(long)]
        number: String,
        /// long_code, toll_free, short_code or alphanumeric.
        #[arg(long, default_value = "long_code", value_parser = parse_kind)]
        kind: SenderKind,
        /// Where inbound texts go when nobody better is found.
        #[arg(long)]
        backup_email: String,
        /// Send rate in segments per second (default: the kind's).
        #[arg(long)]
        segments_per_second: Option<f64>,
        #[command(flatten)]
        at: Location,
    },
    /// List an account's inbound numbers.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
    /// Remove an inbound number from an account (it is released for other accounts).
    Remove {
        #[arg(long)]
        account: String,
        #[arg(long)]
        number: String,
        #[command(flatten)]
        at: Location,
    },
    /// List the numbers Twilio offers (SMS-capable), with what each can do and where it is.
    Search(search::SearchArgs),
    /// Buy a number in the account's Twilio account, point its texts at this deployment and
    /// add it to the account.
    Buy(buy::BuyArgs),
    /// Point a number the Twilio account already owns at this deployment (and add it to the
    /// account if it is not there yet).
    Wire(wire::WireArgs),
    /// Report every account number whose texts Twilio does not send to this deployment
    /// (the most common cause of "texts never arrive"); exits 4 when any is wrong.
    Check(check::CheckArgs),
    /// Remove a number from the account; with --in-twilio also release it in Twilio.
    Release(release::ReleaseArgs),
}

#[derive(Subcommand, Debug)]
pub enum UsersCommand {
    /// Add a user (or replace the user with the same id).
    Add {
        #[arg(long)]
        account: String,
        /// Stable id used in send requests (user=, reply=).
        #[arg(long)]
        id: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// The user's id in the CRM.
        #[arg(long)]
        crm_user_id: Option<String>,
        /// Sees every conversation in the team inbox, not only those routed to them.
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        at: Location,
    },
    /// List an account's users.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
    /// Remove a user.
    Remove {
        #[arg(long)]
        account: String,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        at: Location,
    },
}

pub(super) fn parse_kind(text: &str) -> Result<SenderKind, String> {
    serde_json::from_value(serde_json::Value::String(text.to_string())).map_err(|_| {
        format!("'{text}' is not a sender kind (long_code, toll_free, short_code, alphanumeric)")
    })
}

pub(super) fn email(text: &str) -> CliResult<EmailAddress> {
    EmailAddress::parse(text).map_err(|e| CliError::invalid(e.to_string()))
}

pub async fn run_numbers(command: NumbersCommand, out: Output) -> CliResult {
    match command {
        NumbersCommand::Add {
            account,
            number,
            kind,
            backup_email,
            segments_per_second,
            at,
        } => {
            let id = AccountId::parse(&account)?;
            let new = NewNumber::checked(kind, &backup_email, segments_per_second)?;
            let store = at.store().await?;
            let (stored, number) = add_to_account(&*store, &at, &id, &number, new).await?;
            out.emit(&number_views(&stored), || {
                println!("added {number} to account {id}")
            })
        }
        NumbersCommand::List { account, at } => {
            let id = AccountId::parse(&account)?;
            let stored = stored_account(&*at.store().await?, &id).await?;
            let numbers = number_views(&stored);
            out.emit(&numbers, || println!("{}", numbers_table(&numbers)))
        }
        NumbersCommand::Remove {
            account,
            number,
            at,
        } => {
            let id = AccountId::parse(&account)?;
            let store = at.store().await?;
            let (stored, number) = remove_from_account(&*store, &at, &id, &number).await?;
            out.emit(&number_views(&stored), || {
                println!("removed {number} from account {id}")
            })
        }
        NumbersCommand::Search(args) => search::run(args, out).await,
        NumbersCommand::Buy(args) => buy::run(args, out).await,
        NumbersCommand::Wire(args) => wire::run(args, out).await,
        NumbersCommand::Check(args) => check::run(args, out).await,
        NumbersCommand::Release(args) => release::run(args, out).await,
    }
}

/// A number's settings as typed, checked before anything is read or changed.
pub(super) struct NewNumber {
    kind: SenderKind,
    backup_email: EmailAddress,
    segments_per_second: Option<f64>,
}

impl NewNumber {
    pub(super) fn checked(
        kind: SenderKind,
        backup_email: &str,
        segments_per_second: Option<f64>,
    ) -> CliResult<Self> {
        if let Some(rate) = segments_per_second
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(CliError::invalid(format!(
                "segments per second must be a positive number, not {rate}"
            )));
        }
        Ok(NewNumber {
            kind,
            backup_email: email(backup_email)?,
            segments_per_second,
        })
    }
}

/// Adds `number` (read in the account's country) to account `id`, as `numbers add` does;
/// refused when the account has it already.
pub(super) async fn add_to_account(
    store: &dyn Store,
    at: &Location,
    id: &AccountId,
    number: &str,
    new: NewNumber,
) -> CliResult<(Account, PhoneNumber)> {
    change_account(store, at, id, |stored| {
        let number = stored.parse_phone(number)?;
        if stored.number(&number).is_some() {
            return Err(
                CliError::invalid(format!("account {id} already has number {number}"))
                    .with_hint("remove it first to change its settings"),
            );
        }
        stored.numbers.push(InboundNumber {
            number: number.clone(),
            kind: new.kind,
            backup_email: new.backup_email,
            segments_per_second: new.segments_per_second,
            keyword_handling: TwilioKeywordHandling::default(),
            provider: None,
        });
        Ok(number)
    })
    .await
}

/// Removes `number` (read in the account's country) from account `id`, as `numbers remove`
/// does; not found when the account does not have it.
pub(super) async fn remove_from_account(
    store: &dyn Store,
    at: &Location,
    id: &AccountId,
    number: &str,
) -> CliResult<(Account, PhoneNumber)> {
    change_account(store, at, id, |stored| {
        let number = stored.parse_phone(number)?;
        let before = stored.numbers.len();
        stored.numbers.retain(|n| n.number != number);
        if stored.numbers.len() == before {
            return Err(not_in_account(id, &number));
        }
        Ok(number)
    })
    .await
}

/// "Account X has no number N", with the command that lists its numbers.
pub(super) fn not_in_account(id: &AccountId, number: &PhoneNumber) -> CliError {
    CliError::not_found(format!("account {id} has no number {number}")).with_hint(format!(
        "{} lists them",
        hints::command(&["numbers", "list", "--account", id.as_str()])
    ))
}

pub async fn run_users(command: UsersCommand, out: Output) -> CliResult {
    match command {
        UsersCommand::Add {
            account,
            id: user_id,
            name,
            email: address,
            crm_user_id,
            admin,
            at,
        } => {
            if user_id.trim().is_empty() || name.trim().is_empty() {
                return Err(CliError::invalid("a user needs a non-empty id and name"));
            }
            let id = AccountId::parse(&account)?;
            let user = User {
                id: user_id,
                name,
                email: email(&address)?,
                crm_user_id,
                admin,
            };
            add_user(&id, user, &at, out).await
        }
        UsersCommand::List { account, at } => {
            let id = AccountId::parse(&account)?;
            let stored = stored_account(&*at.store().await?, &id).await?;
            let users = user_views(&stored);
            out.emit(&users, || println!("{}", users_table(&users)))
        }
        UsersCommand::Remove {
            account,
            id: user_id,
            at,
        } => remove_user(&account, &user_id, &at, out).await,
    }
}

/// Adds the user, or replaces the account's user with the same id.
async fn add_user(id: &AccountId, user: User, at: &Location, out: Output) -> CliResult {
    let user_id = user.id.clone();
    let store = at.store().await?;
    let (stored, replaced) = change_account(&*store, at, id, |stored| {
        // Send requests name a user by id or e-mail, so an e-mail must name one user (the
        // configuration is held to the same: shared/src/config/users.rs).
        let same_email = |other: &&User| {
            other.id != user.id
                && other
                    .email
                    .as_str()
                    .eq_ignore_ascii_case(user.email.as_str())
        };
        if let Some(other) = stored.users.values().find(same_email) {
            return Err(CliError::invalid(format!(
                "user {} of account {id} already has the e-mail {}; each user needs an \
                 e-mail of their own",
                other.id,
                other.email.as_str()
            )));
        }
        Ok(stored.users.insert(user_id.clone(), user).is_some())
    })
    .await?;
    out.emit(&user_views(&stored), || {
        let verb = if replaced { "replaced" } else { "added" };
        println!("{verb} user {user_id} of account {id}")
    })
}

async fn remove_user(account: &str, user_id: &str, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    let store = at.store().await?;
    let (stored, ()) = change_account(&*store, at, &id, |stored| {
        match stored.users.remove(user_id) {
            Some(_) => Ok(()),
            None => Err(
                CliError::not_found(format!("account {id} has no user {user_id}")).with_hint(
                    format!(
                        "{} lists them",
                        hints::command(&["users", "list", "--account", id.as_str()])
                    ),
                ),
            ),
        }
    })
    .await?;
    out.emit(&user_views(&stored), || {
        println!("removed user {user_id} from account {id}")
    })
}

/// A number named on the command line: as the argument, or with the hidden `--number`.
#[derive(clap::Args, Debug)]
pub struct NumberArg {
    /// The number (E.164, or national in the account's country).
    #[arg(value_name = "NUMBER", required_unless_present = "number")]
    positional: Option<String>,
    #[arg(
        long = "number",
        value_name = "NUMBER",
        hide = true,
        conflicts_with = "positional"
    )]
    number: Option<String>,
}

impl NumberArg {
    /// The number as typed (clap requires one of the two).
    pub fn typed(&self) -> &str {
        (self.positional.as_ref().or(self.number.as_ref()))
            .map(String::as_str)
            .unwrap_or_default()
    }
}
