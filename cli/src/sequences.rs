//! `smsflow sequences ...`: conversational SMS sequences, validated from their files and
//! stored for their accounts.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde::Serialize;
use smsflow_shared::domain::AccountId;
use smsflow_shared::domain::sequence::{Sequence, StartMode};
use smsflow_shared::ports::StoredSequence;
use smsflow_shared::usecases::sequence::{self, Applied, ApplyError};

use crate::hints;
use crate::output::{CliError, CliResult, Output, unreadable_file_hint};
use crate::target::Location;

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Validate a sequence file (YAML, TOML or JSON) and store it for its account,
    /// replacing the sequence of the same name.
    Apply {
        file: PathBuf,
        #[command(flatten)]
        at: Location,
    },
    /// List an account's sequences: name, how they start, keywords.
    List {
        #[arg(long)]
        account: String,
        #[command(flatten)]
        at: Location,
    },
    /// Print a stored sequence's definition (JSON).
    Show {
        #[arg(long)]
        account: String,
        name: String,
        #[command(flatten)]
        at: Location,
    },
    /// Delete a sequence; runs in progress end at their next reply.
    Delete {
        #[arg(long)]
        account: String,
        name: String,
        #[command(flatten)]
        at: Location,
    },
}

#[derive(Serialize)]
struct Listed {
    name: String,
    start: Option<&'static str>,
    keywords: Vec<String>,
    /// Why a stored definition no longer validates (apply it again).
    invalid: Option<String>,
}

pub async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::Apply { file, at } => apply(&file, &at, out).await,
        Command::List { account, at } => list(&account, &at, out).await,
        Command::Show { account, name, at } => show(&account, &name, &at, out).await,
        Command::Delete { account, name, at } => delete(&account, &name, &at, out).await,
    }
}

async fn apply(file: &Path, at: &Location, out: Output) -> CliResult {
    let origin = file.display().to_string();
    let text = std::fs::read_to_string(file).map_err(|e| {
        CliError::invalid(format!("{origin}: cannot read: {e}")).with_hint(unreadable_file_hint(&e))
    })?;
    // Validation first: a bad file needs no configuration or store to be refused.
    let sequence = Sequence::load(&origin, &text).map_err(|e| {
        CliError::invalid(e.to_string())
            .with_hint("fix each problem named above and apply the file again")
    })?;
    let store = at.store().await?;
    let applied = sequence::apply(store.as_ref(), &sequence)
        .await
        .map_err(|e| apply_refusal(e, sequence.account()))?;
    // Warnings never stop a sequence: it is stored and runs as written.
    let warnings: Vec<String> = sequence.warnings().iter().map(|w| w.to_string()).collect();
    for warning in &warnings {
        eprintln!("warning: {origin}: {warning}");
    }
    let verb = match applied {
        Applied::Created => "created",
        Applied::Replaced => "replaced",
    };
    out.emit(
        &serde_json::json!({
            "account": sequence.account(),
            "sequence": sequence.name(),
            "applied": verb,
            "warnings": warnings,
        }),
        || println!("{verb} sequence {}/{}", sequence.account(), sequence.name()),
    )
}

/// A valid file the account cannot run, with what to do about it (a storage failure gets
/// the store's own error and hint).
fn apply_refusal(e: ApplyError, account: &AccountId) -> CliError {
    let hint = apply_hint(&e, account);
    match (e, hint) {
        (ApplyError::Store(store), _) => CliError::from(store),
        (refused, Some(hint)) => CliError::invalid(refused.to_string()).with_hint(hint),
        (refused, None) => CliError::invalid(refused.to_string()),
    }
}

fn apply_hint(e: &ApplyError, account: &AccountId) -> Option<String> {
    let hint = match e {
        ApplyError::Store(_) => return None,
        ApplyError::UnknownAccount { .. } => format!(
            "{} shows the stored accounts; {} stores those of a configuration file",
            hints::command(&["accounts", "list"]),
            hints::command(&["accounts", "push"])
        ),
        ApplyError::Sender { .. } => format!(
            "name one of the account's numbers ({} lists them), Messaging Services or an \
             alphanumeric id, and apply the file again",
            hints::command(&["numbers", "list", "--account", account.as_str()])
        ),
        ApplyError::PhoneField { .. } => "fix the file's phone_field and apply it again".into(),
        ApplyError::KeywordTaken { .. } => format!(
            "fix the file and apply it again (or change the other sequence first); {} shows \
             what is stored",
            hints::command(&["sequences", "list", "--account", account.as_str()])
        ),
    };
    Some(hint)
}

async fn list(account: &str, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    let store = at.store().await?;
    let mut listed = Vec::new();
    for name in store.sequence_names(&id).await? {
        // None: deleted between the listing and the read.
        if let Some(stored) = store.sequence(&id, &name).await? {
            listed.push(Listed::new(name, stored));
        }
    }
    out.emit(&listed, || {
        for s in &listed {
            match &s.invalid {
                None => println!(
                    "{}\t{}\t{}",
                    s.name,
                    s.start.unwrap_or_default(),
                    s.keywords.join(", ")
                ),
                Some(why) => println!("{}\tinvalid: {why} (apply it again)", s.name),
            }
        }
    })
}

impl Listed {
    fn new(name: String, stored: StoredSequence) -> Self {
        match stored {
            Ok(sequence) => Listed {
                name,
                start: Some(start_mode(sequence.start_mode())),
                keywords: sequence.keywords().to_vec(),
                invalid: None,
            },
            Err(invalid) => Listed {
                name,
                start: None,
                keywords: vec![],
                invalid: Some(
                    invalid
                        .problems
                        .first()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
            },
        }
    }
}

async fn show(account: &str, name: &str, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    match at.store().await?.sequence(&id, name).await? {
        Some(Ok(sequence)) => {
            let definition = sequence.definition();
            out.emit(definition, || {
                match serde_json::to_string_pretty(definition) {
                    Ok(json) => println!("{json}"),
                    Err(e) => eprintln!("cannot print the definition: {e}"),
                }
            })
        }
        Some(Err(invalid)) => Err(CliError::invalid(invalid.to_string()).with_hint(format!(
            "fix the file and run {} again",
            hints::command(&["sequences", "apply", "FILE"])
        ))),
        None => Err(no_such_sequence(&id, name)),
    }
}

async fn delete(account: &str, name: &str, at: &Location, out: Output) -> CliResult {
    let id = AccountId::parse(account)?;
    if at.store().await?.delete_sequence(&id, name).await? {
        out.emit(
            &serde_json::json!({ "account": id, "deleted": name }),
            || println!("deleted sequence {id}/{name}"),
        )
    } else {
        Err(no_such_sequence(&id, name))
    }
}

fn no_such_sequence(id: &AccountId, name: &str) -> CliError {
    CliError::not_found(format!("account {id} has no sequence '{name}'")).with_hint(format!(
        "{} shows them",
        hints::command(&["sequences", "list", "--account", id.as_str()])
    ))
}

fn start_mode(mode: StartMode) -> &'static str {
    match mode {
        StartMode::Keyword => "keyword",
        StartMode::Crm => "crm",
        StartMode::Both => "both",
    }
}
