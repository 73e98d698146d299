//! The stack's moto: `stack/moto_stack` starts moto, creates the SAM-expanded template in its
//! CloudFormation and writes the manifest, then serves until its stdin closes. The runner
//! holds that stdin, so moto never outlives the runner, even when the runner is killed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::manifest::{Manifest, ManifestError};

/// How long creating the stack may take.
const READY_WITHIN: Duration = Duration::from_secs(120);

pub struct MotoStackOptions<'a> {
    pub python: &'a Path,
    pub script: &'a Path,
    pub template: &'a Path,
    pub manifest: &'a Path,
    pub stack_name: &'a str,
    pub region: &'a str,
    pub parameters: &'a [(String, String)],
    pub mail_identities: &'a [String],
    pub log: &'a Path,
}

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("cannot start {command}: {source}")]
    Start {
        command: String,
        source: std::io::Error,
    },
    #[error("the stack was not created (see {log}): {detail}")]
    NotCreated { log: String, detail: String },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

pub struct MotoStack {
    pub manifest: Manifest,
    child: Child,
    /// Closing it tells moto_stack to stop.
    lifeline: Option<ChildStdin>,
}

impl MotoStack {
    pub async fn start(options: MotoStackOptions<'_>) -> Result<Self, MotoError> {
        let log = std::fs::File::create(options.log).map_err(|source| MotoError::Start {
            command: options.log.display().to_string(),
            source,
        })?;
        let mut command = Command::new(options.python);
        command
            .arg(options.script)
            .arg("--template")
            .arg(options.template)
            .arg("--manifest")
            .arg(options.manifest)
            .args([
                "--stack-name",
                options.stack_name,
                "--region",
                options.region,
            ]);
        for (key, value) in options.parameters {
            command.arg("--parameter").arg(format!("{key}={value}"));
        }
        for identity in options.mail_identities {
            command.arg("--mail-identity").arg(identity);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| MotoError::Start {
                command: options.script.display().to_string(),
                source,
            })?;
        let lifeline = child.stdin.take();
        let not_created = |detail: String| MotoError::NotCreated {
            log: options.log.display().to_string(),
            detail,
        };
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| not_created("no stdout".into()))?;
        let ready = tokio::time::timeout(READY_WITHIN, wait_ready(stdout))
            .await
            .map_err(|_| not_created(format!("not ready within {READY_WITHIN:?}")))?;
        if let Err(detail) = ready {
            let _ = child.kill().await;
            return Err(not_created(detail));
        }
        let manifest = Manifest::read(options.manifest)?;
        Ok(MotoStack {
            manifest,
            child,
            lifeline,
        })
    }

    /// Stops moto: closes its lifeline and waits a moment before killing it.
    pub async fn stop(mut self) {
        drop(self.lifeline.take());
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// Waits for `moto_stack: ready ...`; other lines are passed through to our log.
async fn wait_ready(stdout: tokio::process::ChildStdout) -> Result<(), String> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        if line.starts_with("moto_stack: ready") {
            // Keep draining so moto never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(());
        }
        tracing::info!(target: "moto_stack", "{line}");
    }
    Err("moto_stack exited before the stack was ready".into())
}

/// `stack/moto_stack` (a Python package run as a directory) in the repository at `root`.
pub fn script(root: &Path) -> PathBuf {
    root.join("stack").join("moto_stack")
}
