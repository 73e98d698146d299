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
    let output = Command::new(bin_dir.join("smsflow"))
        .args(args)
        .args(["--stack", stack])
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
            "smsflow {} --stack {stack}: {}\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
