//! `smsflow-stack up`: template.yaml's stack on this machine, until Ctrl-C (README "Run
//! the deployed shape locally"). `scripts/stack.sh` builds the binaries and runs this.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use smsflow_stack::runner::{RunningStack, StackOptions, resolve};

#[derive(Parser, Debug)]
#[command(
    name = "smsflow-stack",
    about = "Run template.yaml's stack on this machine against moto"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create the stack in a new moto, run its functions, print its URLs; Ctrl-C stops it.
    Up(UpArgs),
}

#[derive(clap::Args, Debug)]
struct UpArgs {
    /// The smsflow configuration whose accounts are pushed to the stack.
    #[arg(long, default_value = "smsflow.example.toml")]
    config: PathBuf,
    /// The repository root (template.yaml, stack/moto_stack, .venv).
    #[arg(long, default_value = ".")]
    root: PathBuf,
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Where the function binaries and `smsflow` were built.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
    /// Logs, the manifest and stack.json.
    #[arg(long, default_value = "target/stack")]
    state_dir: PathBuf,
    #[arg(long, default_value = "smsflow-local")]
    stack_name: String,
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// First of the consecutive ports the runner listens on; 0: any free ones.
    #[arg(long, default_value_t = 9000)]
    port_base: u16,
    /// A template parameter, KEY=VALUE (repeatable).
    #[arg(long = "parameter", value_parser = parse_parameter)]
    parameters: Vec<(String, String)>,
}

fn parse_parameter(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("'{raw}' is not KEY=VALUE"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Up(args) = Cli::parse().command;
    let root = args.root.clone();
    let options = StackOptions {
        template: resolve(&root, &args.template),
        python: root.join(".venv/bin/python"),
        bin_dir: resolve(&root, &args.bin_dir),
        state_dir: resolve(&root, &args.state_dir),
        config: resolve(&root, &args.config),
        stack_name: args.stack_name,
        region: args.region,
        port_base: args.port_base,
        parameters: args.parameters,
        root,
    };
    let stack = match RunningStack::up(&options).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("smsflow-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serde_json::to_string_pretty(&stack.urls) {
        Ok(urls) => println!("{urls}"),
        Err(e) => eprintln!("smsflow-stack: {e}"),
    }
    shutdown_signal().await;
    stack.down().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM from `scripts/stack.sh down`.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}
