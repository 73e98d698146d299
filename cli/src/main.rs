//! `smsflow`: run smsflow locally and administer a deployment.
//!
//! Each command group lives in its own module; this file only wires them. Exit codes and
//! `--json` are described in `output`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use serde::Serialize;
use smsflow_shared::adapters::aws::function_logs;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::{KeyHash, generate_key};
use smsflow_shared::local;
use tracing_subscriber::EnvFilter;

mod accounts;
mod conversations;
mod dlq;
mod goals;
mod hints;
mod numbers;
mod optouts;
mod output;
mod send;
mod sequences;
mod target;

use output::{CliError, CliResult, ErrorKind, Output, unreadable_file_hint};
// Target and open_store stay importable here for command groups still written in this file.
#[allow(unused_imports)]
use target::{Target, load, open_store};

#[derive(Parser)]
#[command(
    name = "smsflow",
    version,
    about = "SMS automation for teams that run on a CRM",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 not found, 4 invalid input, \
                  5 backend failure (safe to re-run), 6 finished with rejected input rows, \
                  7 refused (opted out, bounced, paused, not subscribed, queue full)."
)]
struct Cli {
    /// Print results as JSON (errors too, on stderr). Given before or after the
    /// subcommand.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route and queue consumer locally on the embedded backends.
    Serve {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
        /// Allow a `server.listen` address that is not loopback (e.g. 0.0.0.0:8080): the
        /// webhooks and the unauthenticated /_sandbox become reachable from the network.
        #[arg(long)]
        allow_remote: bool,
        /// Accepted and hidden: serve prints logs, not results (errors still print as JSON).
        /// Its own arg keeps the global --json out of this command's help.
        #[arg(long, hide = true)]
        json: bool,
    },
    /// Validate a configuration file and summarise it; lists every problem in it.
    CheckConfig {
        #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
        config: PathBuf,
    },
    /// Generate a send key for an account and print it with its SHA-256 digest.
    Keygen,
    /// Accounts in the local database or in the AWS deployment.
    #[command(subcommand)]
    Accounts(accounts::Command),
    /// CRM goals the CRM said are not configured (and smsflow stopped calling).
    #[command(subcommand)]
    Goals(goals::Command),
    /// An account's opt-out list: import from CSV, export to CSV.
    #[command(subcommand)]
    Optouts(optouts::Command),
    /// Dead-lettered queue jobs: list them with their last error, send them back.
    #[command(subcommand)]
    Dlq(dlq::Command),
    /// Conversations of an account: the recent ones, and one contact's thread.
    #[command(subcommand)]
    Conversations(conversations::Command),
    /// An account's inbound numbers.
    #[command(subcommand)]
    Numbers(numbers::NumbersCommand),
    /// An account's users.
    #[command(subcommand)]
    Users(numbers::UsersCommand),
    /// Send an SMS on behalf of an account user, through the same path as a CRM's send
    /// request (validation, consent, queue limit, pacing, goals).
    Send(send::SendArgs),
    /// Conversational SMS sequences in the local database or in the AWS deployment.
    #[command(subcommand)]
    Sequences(sequences::Command),
    /// Print a shell completion script (README "Shell completions").
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
        /// Accepted and hidden: the script is not JSON.
        #[arg(long, hide = true)]
        json: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(function_logs::colour(std::io::stderr().is_terminal()))
        .with_writer(std::io::stderr);
    // SMSFLOW_LOG_FORMAT=json: one JSON object per line, as the Lambda functions log.
    if std::env::var("SMSFLOW_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json")) {
        logs.json().init();
    } else {
        logs.init();
    }
    let matches = Cli::command().get_matches();
    hints::remember(hints::TypedTarget::from_matches(&matches));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(cli.command, Command::Serve { .. }) {
        end_quietly_when_the_reader_leaves();
    }
    let json = cli.json || matches!(cli.command, Command::Serve { json: true, .. });
    let out = Output { json };
    match run(cli.command, out).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => error.report(out.json),
    }
}

/// `smsflow conversations list | head` ends when `head` has read enough, quietly, as Unix
/// tools do: Rust ignores SIGPIPE, so otherwise the next `println!` would panic on the
/// closed pipe. Not for `serve`, which must outlive any client that goes away.
fn end_quietly_when_the_reader_leaves() {
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition touches no memory of ours; no
    // handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

async fn run(command: Command, out: Output) -> CliResult {
    match command {
        Command::Serve {
            config,
            allow_remote,
            ..
        } => {
            let mut config = load(&config)?;
            config.server.allow_remote_listen |= allow_remote;
            local::serve(&config, async {
                if let Err(e) = tokio::signal::ctrl_c().await {
                    eprintln!("cannot listen for Ctrl-C: {e}");
                }
            })
            .await
            .map_err(serve_error)
        }
        Command::CheckConfig { config: path } => check_config(&path, out),
        Command::Keygen => {
            let key = generate_key();
            let digest = KeyHash::of(&key).as_hex().to_string();
            let keys = serde_json::json!({ "send_key": key, "send_key_sha256": digest });
            out.emit(&keys, || {
                println!("send_key        = \"{key}\"");
                println!("send_key_sha256 = \"{digest}\"");
            })
        }
        Command::Accounts(command) => accounts::run(command, out).await,
        Command::Goals(command) => goals::run(command, out).await,
        Command::Optouts(command) => optouts::run(command, out).await,
        Command::Dlq(command) => dlq::run(command, out).await,
        Command::Conversations(command) => conversations::run(command, out).await,
        Command::Numbers(command) => numbers::run_numbers(command, out).await,
        Command::Users(command) => numbers::run_users(command, out).await,
        Command::Send(args) => send::run(args, out).await,
        Command::Sequences(command) => sequences::run(command, out).await,
        Command::Completions { shell, .. } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "smsflow", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| CliError::new(ErrorKind::Internal, format!("stdout: {e}")))
        }
    }
}

/// Why `serve` stopped; a refused `listen` says how to allow it.
fn serve_error(e: local::LocalError) -> CliError {
    if !matches!(e, local::LocalError::RemoteListen { .. }) {
        return CliError::new(ErrorKind::Backend, e.to_string());
    }
    CliError::new(ErrorKind::InvalidInput, e.to_string()).with_hint(format!(
        "set listen = \"127.0.0.1:PORT\" under [server], or run {} to accept connections \
         from the network",
        hints::local_command(&["serve", "--allow-remote"])
    ))
}

#[derive(Serialize)]
struct ConfigSummary {
    file: String,
    listen: String,
    /// Set when `serve` will refuse `listen` (not loopback) without `--allow-remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    listen_refused: Option<String>,
    public_base_url: String,
    accounts: Vec<ConfigAccount>,
}

#[derive(Serialize)]
struct ConfigAccount {
    id: String,
    name: String,
    provider: String,
    numbers: Vec<String>,
    users: usize,
    queue_limit: u32,
    /// What to paste into the Instasent API token's "Callback URL", when the file gives
    /// the secret (else it is generated when the account is stored).
    instasent_callback_url: Option<String>,
}

fn check_config(path: &std::path::Path, out: Output) -> CliResult {
    // Every problem at once: the user is fixing the file.
    let config = LocalConfig::check(path).map_err(|problems| {
        let error = CliError::from(problems);
        match std::fs::metadata(path) {
            // Not a file to fix: the wrong file was named (or none, and smsflow.toml is absent).
            Err(e) => error.with_hint(format!(
                "{}; name the configuration file with --config PATH (default: smsflow.toml, \
                 or SMSFLOW_CONFIG)",
                unreadable_file_hint(&e)
            )),
            Ok(_) => error,
        }
    })?;
    let summary = ConfigSummary {
        file: path.display().to_string(),
        listen: config.server.listen.to_string(),
        listen_refused: local::check_listen(&config.server)
            .err()
            .map(|e| e.to_string()),
        public_base_url: config.server.public_base_url.clone(),
        accounts: config
            .accounts
            .iter()
            .map(|a| ConfigAccount {
                id: a.id.to_string(),
                name: a.name.clone(),
                provider: a.provider.to_string(),
                numbers: a.numbers.iter().map(|n| n.number.to_string()).collect(),
                users: a.users.len(),
                queue_limit: a.limits.queue_limit,
                instasent_callback_url: accounts::instasent_callback_url(
                    a,
                    Some(&config.server.public_base_url),
                ),
            })
            .collect(),
    };
    out.emit(&summary, || print_summary(&summary))
}

/// `check-config`'s answer for people.
fn print_summary(summary: &ConfigSummary) {
    println!("{}: ok", summary.file);
    println!(
        "  listen {} (public {})",
        summary.listen, summary.public_base_url
    );
    if let Some(refused) = &summary.listen_refused {
        println!("  warning: serve is {refused}");
    }
    for a in &summary.accounts {
        println!(
            "  account {} ({}): numbers {}; {} users; queue limit {}",
            a.id,
            a.name,
            a.numbers.join(", "),
            a.users,
            a.queue_limit
        );
        if a.provider != "twilio" {
            println!("    sends through {}", a.provider);
        }
        if let Some(url) = &a.instasent_callback_url {
            println!("    Instasent callback URL (paste into the API token): {url}");
        }
    }
}
