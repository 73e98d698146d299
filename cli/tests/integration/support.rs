//! Running the `smsflow` binary against a local setup (a configuration in a temporary
//! directory, whose database the tests seed directly) or against moto.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use smsflow_shared::adapters::embedded::EmbeddedDb;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::{Direction, MessageRecord, MessageStatus, Timestamp};
use smsflow_shared::local;
use smsflow_shared::ports::{Clock, SystemClock};
use smsflow_tests::fixtures;
use smsflow_tests::moto;

pub const EXAMPLE: &str = include_str!("../../../smsflow.example.toml");

/// The recipient, text and user of the plain send the tests make: `smsflow send --account
/// <id>` and these.
pub const HI_FOR_MARY: [&str; 6] = ["--to", "+19523140001", "--message", "hi", "--user", "mary"];

/// What one run of the binary did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts success and that stdout holds each of `expected`; returns stdout.
    pub fn prints(&self, expected: &[&str]) -> &str {
        let stdout = self.ok();
        for text in expected {
            assert!(stdout.contains(text), "{text:?} not in {stdout}");
        }
        stdout
    }

    /// Asserts success and parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.ok())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts the exit code and returns stderr.
    pub fn fails_with(&self, code: i32) -> &str {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        &self.stderr
    }

    /// Asserts the exit code and that stderr says each of `said`; returns stderr.
    pub fn fails_saying(&self, code: i32, said: &[&str]) -> &str {
        let stderr = self.fails_with(code);
        for expected in said {
            assert!(stderr.contains(expected), "{expected:?} not in {stderr}");
        }
        stderr
    }
}

/// Runs the binary with `envs` and none of the caller's AWS_* or SMSFLOW_* variables, nor
/// its AWS configuration files (the profiles of the machine running the tests).
pub fn smsflow(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_smsflow"));
    for (name, _) in std::env::vars_os() {
        let inherited = name.to_string_lossy();
        if inherited.starts_with("AWS_") || inherited.starts_with("SMSFLOW_") {
            command.env_remove(&name);
        }
    }
    let out = command
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("RUST_LOG", "warn")
        .args(args)
        .envs(envs.iter().copied())
        .output()
        .expect("smsflow runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Where the operator's commands run: the local database of a configuration, or AWS.
pub trait Operator {
    /// Runs `smsflow` with `args` against this backend.
    fn run(&self, args: &[&str]) -> Run;

    /// Runs `smsflow --json` with `args`, which must succeed: what it printed, parsed.
    fn json(&self, args: &[&str]) -> Value {
        self.run(&[&["--json"], args].concat()).json()
    }
}

/// The text of `field` in each object of the JSON array `list`, in order.
pub fn texts<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .filter_map(|item| item[field].as_str())
        .collect()
}

/// A failure time inside the retention window (failures older than 14 days are not shown).
pub fn recently() -> Timestamp {
    SystemClock.now()
}

/// Message `n` between acme's long code and `contact`, `message {n}`, recorded `n`
/// minutes after 2024-05-01 12:00 UTC with the SID `SM{n}`.
pub fn message(
    n: u32,
    contact: &str,
    direction: Direction,
    status: MessageStatus,
) -> MessageRecord {
    let at = Timestamp::from_millis(1_714_564_800_000 + i64::from(n) * 60_000);
    MessageRecord {
        body: format!("message {n}"),
        status,
        provider_sid: Some(format!("SM{n}").into()),
        ..fixtures::message(
            format!("01J{n:023}"),
            &fixtures::account_id("acme"),
            contact,
            direction,
            at,
        )
    }
}

/// moto's endpoint, region and credentials, as the CLI's AWS environment.
pub fn moto_env() -> Vec<(String, String)> {
    vec![
        ("AWS_ENDPOINT_URL".to_string(), moto::endpoint()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
    ]
}

/// `env` as the pairs [`smsflow`] takes.
pub fn pairs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The example configuration in a temporary directory, its accounts stored.
pub struct Local {
    pub dir: tempfile::TempDir,
    pub config: String,
}

impl Local {
    pub fn new() -> Self {
        Self::with_config(EXAMPLE)
    }

    /// As [`Local::new`], with the configuration `text` (the example with a test's edits).
    pub fn with_config(text: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("smsflow.toml");
        std::fs::write(&path, text).expect("write config");
        let local = Local {
            config: path.display().to_string(),
            dir,
        };
        local.run(&["accounts", "push"]).ok();
        local
    }

    pub fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write file");
        path.display().to_string()
    }

    pub fn db_path(&self) -> PathBuf {
        let config = LocalConfig::load(std::path::Path::new(&self.config)).expect("config");
        local::database_path(&config)
    }

    /// Runs `seed` on the database (closed again before it returns, so the binary can
    /// open it).
    pub fn with_db<T, F, Fut>(&self, seed: F) -> T
    where
        F: FnOnce(EmbeddedDb) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let db = EmbeddedDb::open(&self.db_path()).expect("database opens");
        let watch = db.close_watch();
        let out = runtime.block_on(seed(db));
        assert!(
            runtime.block_on(watch.closed(std::time::Duration::from_secs(5))),
            "the seed kept the database open"
        );
        out
    }
}

impl Operator for Local {
    /// Runs a command with `--config` of this setup appended.
    fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--config", &self.config]);
        smsflow(&all, &[])
    }
}
