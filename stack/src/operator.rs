//! What an operator does once the stack exists, done the operator's way: `smsflow accounts
//! push --stack`, which finds the table from the stack's outputs (DescribeStacks) in moto.

use std::path::Path;

use tokio::process::Command;

/// Runs `smsflow <args> --stack <stack>` with the operator's environment; its stdout, or
/// why it failed (exit status and stderr).
pub async fn smsflow(
    bin_dir: &Path,
    stack: &str,
    env: &[(String, String)],
    args: &[&str],
) -> Result<String, String> {
    let mut stack_args = args.to_vec();
    stack_args.extend(["--stack", stack]);
    run_smsflow(bin_dir, env, &stack_args).await
}

/// Runs `smsflow` with only `env` (and `PATH`) in its environment: what it printed, or its
/// exit status and stderr.
pub async fn run_smsflow(
    bin_dir: &Path,
    env: &[(String, String)],
    args: &[&str],
) -> Result<String, String> {
    let output = Command::new(bin_dir.join("smsflow"))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", bin_dir.join("smsflow").display()))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "smsflow {}: {}\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
