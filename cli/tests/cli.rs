//! The `smsflow` binary as a user runs it.

use std::path::Path;
use std::process::{Command, Output};

const EXAMPLE: &str = include_str!("../../smsflow.example.toml");

fn smsflow(args: &[&str], envs: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_smsflow"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("SMSFLOW_CONFIG")
        .output()
        .expect("smsflow runs")
}

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("smsflow.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

#[test]
fn check_config_accepts_the_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), EXAMPLE);
    let out = smsflow(&["check-config", "--config", &path], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("account acme (Acme Roofing): numbers +19523142318, +18885550100"),
        "{stdout}"
    );
}

#[test]
fn bad_configuration_stops_serve_naming_file_field_and_problem() {
    let cases = [
        (
            "goal_integration = \"smsflow\"",
            "",
            "accounts[0]: missing field `goal_integration`",
        ),
        (
            "number = \"(952) 314-2318\"",
            "number = \"555-01\"",
            "accounts[0].numbers[0].number: '555-01' is not",
        ),
        (
            "number = \"+18885550100\"",
            "number = \"+19523142318\"",
            "accounts[0].numbers[1].number: duplicate inbound number +19523142318",
        ),
    ];
    for (from, to, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = write_config(dir.path(), &EXAMPLE.replacen(from, to, 1));
        let out = smsflow(&["serve", "--config", &path], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: serve must not start");
        assert!(
            stderr.contains(&format!("{path}: {expected}")),
            "{expected}: {stderr}"
        );
        assert!(
            !dir.path().join(".smsflow").exists(),
            "{expected}: nothing created"
        );
    }
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = smsflow(&["serve", "--config", "/nonexistent/smsflow.toml"], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/nonexistent/smsflow.toml: (file): cannot read"),
        "{stderr}"
    );
}

#[test]
fn keygen_prints_a_key_and_its_digest() {
    let out = smsflow(&["keygen"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("send_key        = \""), "{stdout}");
    assert!(lines[1].starts_with("send_key_sha256 = \""), "{stdout}");
    assert_eq!(lines[1].len(), "send_key_sha256 = \"\"".len() + 64);
}

#[test]
fn accounts_push_and_list_against_aws() {
    let endpoint = std::env::var("SMSFLOW_TEST_AWS_ENDPOINT")
        .expect("SMSFLOW_TEST_AWS_ENDPOINT is not set: run ./scripts/test.sh (it starts moto)");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), EXAMPLE);
    let table = format!("cli-{}", std::process::id());
    let aws = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("SMSFLOW_TABLE", table.as_str()),
    ];
    let push = smsflow(
        &[
            "accounts",
            "push",
            "--config",
            &path,
            "--aws",
            "--create-table",
        ],
        &aws,
    );
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&push.stdout),
        "stored account acme\n"
    );
    let list = smsflow(&["accounts", "list", "--config", &path, "--aws"], &aws);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "acme\t+19523142318, +18885550100\n"
    );
    // Without the table variable the command says what is missing.
    let out = smsflow(&["accounts", "list", "--config", &path, "--aws"], &aws[..4]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SMSFLOW_TABLE is not set"));
}
