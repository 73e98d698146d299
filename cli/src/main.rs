//! `smsflow`: run smsflow locally and administer a deployment.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::sequence::{Sequence, StartMode};
use smsflow_shared::domain::{AccountId, KeyHash, generate_key};
use smsflow_shared::local;
use smsflow_shared::ports::Store;
use smsflow_shared::usecases::sequence::{self, Applied};
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "smsflow",
    version,
    about = "SMS automation for teams that run on a CRM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route and queue consumer locally on the embedded backends.
    Serve {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
    },
    /// Validate a configuration file and summarise it.
    CheckConfig {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
    },
    /// Generate a send key for an account and print it with its SHA-256 digest.
    Keygen,
    /// Accounts in the local database or in the AWS deployment.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// CRM goals the CRM said are not configured (and smsflow stopped calling).
    #[command(subcommand)]
    Goals(GoalsCommand),
    /// Conversational SMS sequences in the local database or in the AWS deployment.
    #[command(subcommand)]
    Sequences(SequencesCommand),
}

#[derive(Subcommand)]
enum SequencesCommand {
    /// Validate a sequence file (YAML, TOML or JSON) and store it for its account,
    /// replacing the sequence of the same name.
    Apply {
        file: PathBuf,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// List an account's sequences: name, how they start, keywords.
    List {
        #[arg(long)]
        account: String,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Print a stored sequence's definition (JSON).
    Show {
        #[arg(long)]
        account: String,
        name: String,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Delete a sequence; runs in progress end at their next reply.
    Delete {
        #[arg(long)]
        account: String,
        name: String,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum GoalsCommand {
    /// List an account's disabled goals.
    Disabled {
        #[arg(long)]
        account: String,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// Forget an account's disabled goals, after adding them in the CRM.
    Reset {
        #[arg(long)]
        account: String,
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Store the accounts of a configuration file (validates first; all or nothing per account).
    Push {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
    /// List stored account ids and their numbers.
    List {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        #[command(flatten)]
        target: Target,
    },
}

#[derive(Args)]
struct Target {
    /// Use the AWS deployment: the DynamoDB table named by SMSFLOW_TABLE, with the usual
    /// AWS environment (AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL...).
    #[arg(long)]
    aws: bool,
    /// With --aws: create the table first if it does not exist (moto / local setups).
    #[arg(long, requires = "aws")]
    create_table: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve { config } => {
            let config = load(&config)?;
            local::serve(&config, async {
                if let Err(e) = tokio::signal::ctrl_c().await {
                    eprintln!("cannot listen for Ctrl-C: {e}");
                }
            })
            .await
            .map_err(|e| e.to_string())
        }
        Command::CheckConfig { config: path } => {
            let config = load(&path)?;
            println!("{}: ok", path.display());
            println!(
                "  listen {} (public {})",
                config.server.listen, config.server.public_base_url
            );
            for a in &config.accounts {
                let numbers: Vec<&str> = a.numbers.iter().map(|n| n.number.as_str()).collect();
                println!(
                    "  account {} ({}): numbers {}; {} users; queue limit {}",
                    a.id,
                    a.name,
                    numbers.join(", "),
                    a.users.len(),
                    a.limits.queue_limit
                );
            }
            Ok(())
        }
        Command::Keygen => {
            let key = generate_key();
            println!("send_key        = \"{key}\"");
            println!("send_key_sha256 = \"{}\"", KeyHash::of(&key).as_hex());
            Ok(())
        }
        Command::Accounts(AccountsCommand::Push { config, target }) => {
            let config = load(&config)?;
            let store = open_store(&config, &target).await?;
            for account in &config.accounts {
                store
                    .put_account(account)
                    .await
                    .map_err(|e| format!("account {}: {e}", account.id))?;
                println!("stored account {}", account.id);
            }
            Ok(())
        }
        Command::Goals(GoalsCommand::Disabled {
            account,
            config,
            target,
        }) => {
            let id = AccountId::parse(&account).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            for goal in store.disabled_goals(&id).await.map_err(|e| e.to_string())? {
                println!("{goal}");
            }
            Ok(())
        }
        Command::Goals(GoalsCommand::Reset {
            account,
            config,
            target,
        }) => {
            let id = AccountId::parse(&account).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            let reset = store
                .reset_disabled_goals(&id)
                .await
                .map_err(|e| e.to_string())?;
            println!("reset {reset} disabled goal(s) of account {id}");
            Ok(())
        }
        Command::Sequences(command) => sequences(command).await,
        Command::Accounts(AccountsCommand::List { config, target }) => {
            let config = load(&config)?;
            let store = open_store(&config, &target).await?;
            for id in store.account_ids().await.map_err(|e| e.to_string())? {
                let numbers = match store.account(&id).await.map_err(|e| e.to_string())? {
                    Some(a) => a
                        .numbers
                        .iter()
                        .map(|n| n.number.to_string())
                        .collect::<Vec<_>>(),
                    None => vec![],
                };
                println!("{id}\t{}", numbers.join(", "));
            }
            Ok(())
        }
    }
}

async fn sequences(command: SequencesCommand) -> Result<(), String> {
    match command {
        SequencesCommand::Apply {
            file,
            config,
            target,
        } => {
            let origin = file.display().to_string();
            let text = std::fs::read_to_string(&file)
                .map_err(|e| format!("{origin}: cannot read: {e}"))?;
            // Validation first: a bad file needs no configuration or store to be refused.
            let sequence = Sequence::load(&origin, &text).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            let applied = sequence::apply(store.as_ref(), &sequence)
                .await
                .map_err(|e| e.to_string())?;
            for warning in sequence.warnings() {
                eprintln!("warning: {origin}: {warning}");
            }
            println!(
                "{} sequence {}/{}",
                match applied {
                    Applied::Created => "created",
                    Applied::Replaced => "replaced",
                },
                sequence.account(),
                sequence.name()
            );
            Ok(())
        }
        SequencesCommand::List {
            account,
            config,
            target,
        } => {
            let id = AccountId::parse(&account).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            for name in store.sequence_names(&id).await.map_err(|e| e.to_string())? {
                match store
                    .sequence(&id, &name)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    Some(Ok(sequence)) => println!(
                        "{name}\t{}\t{}",
                        start_mode(sequence.start_mode()),
                        sequence.keywords().join(", ")
                    ),
                    Some(Err(invalid)) => println!(
                        "{name}\tinvalid: {} (apply it again)",
                        invalid
                            .problems
                            .first()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                    // Deleted between the listing and the read.
                    None => {}
                }
            }
            Ok(())
        }
        SequencesCommand::Show {
            account,
            name,
            config,
            target,
        } => {
            let id = AccountId::parse(&account).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            match store
                .sequence(&id, &name)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(Ok(sequence)) => {
                    let json = serde_json::to_string_pretty(sequence.definition())
                        .map_err(|e| e.to_string())?;
                    println!("{json}");
                    Ok(())
                }
                Some(Err(invalid)) => Err(invalid.to_string()),
                None => Err(format!("account {id} has no sequence '{name}'")),
            }
        }
        SequencesCommand::Delete {
            account,
            name,
            config,
            target,
        } => {
            let id = AccountId::parse(&account).map_err(|e| e.to_string())?;
            let store = open_store(&load(&config)?, &target).await?;
            if store
                .delete_sequence(&id, &name)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("deleted sequence {id}/{name}");
                Ok(())
            } else {
                Err(format!("account {id} has no sequence '{name}'"))
            }
        }
    }
}

fn start_mode(mode: StartMode) -> &'static str {
    match mode {
        StartMode::Keyword => "keyword",
        StartMode::Crm => "crm",
        StartMode::Both => "both",
    }
}

fn load(path: &std::path::Path) -> Result<LocalConfig, String> {
    LocalConfig::load(path).map_err(|e| e.to_string())
}

async fn open_store(config: &LocalConfig, target: &Target) -> Result<Arc<dyn Store>, String> {
    if target.aws {
        let table = std::env::var("SMSFLOW_TABLE").map_err(|_| {
            "SMSFLOW_TABLE is not set (the DynamoDB table of the stack; see the stack outputs)"
                .to_string()
        })?;
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        let client = aws_sdk_dynamodb::Client::new(&sdk);
        if target.create_table {
            create_table(&client, &table)
                .await
                .map_err(|e| format!("cannot create table {table}: {e}"))?;
        }
        return Ok(Arc::new(DynamoStore::new(client, table)));
    }
    let path = local::database_path(config);
    let db = EmbeddedDb::open(&path).map_err(|e| {
        format!(
            "{}: {e} (is `smsflow serve` running on it? stop it first)",
            path.display()
        )
    })?;
    Ok(Arc::new(EmbeddedStore::new(db)))
}
