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

const APPOINTMENT: &str = include_str!("../../examples/sequences/appointment.yaml");

/// A directory with the example configuration (its data in the directory) and the example
/// account stored in the local database.
fn local_setup() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), EXAMPLE);
    let push = smsflow(&["accounts", "push", "--config", &config], &[]);
    assert!(
        push.status.success(),
        "{}",
        String::from_utf8_lossy(&push.stderr)
    );
    (dir, config)
}

fn write_file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write file");
    path.display().to_string()
}

fn ok_stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sequences_apply_list_show_delete() {
    let (dir, config) = local_setup();
    let file = write_file(dir.path(), "appointment.yaml", APPOINTMENT);
    let cfg = ["--config", config.as_str()];
    let run = |args: &[&str]| smsflow(&[args, &cfg[..]].concat(), &[]);

    assert_eq!(
        ok_stdout(&run(&["sequences", "apply", &file])),
        "created sequence acme/appointment\n"
    );
    assert_eq!(
        ok_stdout(&run(&["sequences", "apply", &file])),
        "replaced sequence acme/appointment\n"
    );
    assert_eq!(
        ok_stdout(&run(&["sequences", "list", "--account", "acme"])),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
    let shown = ok_stdout(&run(&[
        "sequences",
        "show",
        "--account",
        "acme",
        "appointment",
    ]));
    let definition: serde_json::Value = serde_json::from_str(&shown).expect("JSON definition");
    assert_eq!(definition["name"], "appointment");
    assert_eq!(definition["steps"][0]["name"], "ask-day");

    assert_eq!(
        ok_stdout(&run(&[
            "sequences",
            "delete",
            "--account",
            "acme",
            "appointment"
        ])),
        "deleted sequence acme/appointment\n"
    );
    for args in [
        &["sequences", "delete", "--account", "acme", "appointment"][..],
        &["sequences", "show", "--account", "acme", "appointment"][..],
    ] {
        let out = run(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr)
                .contains("account acme has no sequence 'appointment'"),
            "{args:?}"
        );
    }
    assert_eq!(
        ok_stdout(&run(&["sequences", "list", "--account", "acme"])),
        ""
    );
}

#[test]
fn sequences_apply_refuses_naming_file_step_and_reason() {
    let (dir, config) = local_setup();
    let file = write_file(dir.path(), "appointment.yaml", APPOINTMENT);
    ok_stdout(&smsflow(
        &["sequences", "apply", &file, "--config", &config],
        &[],
    ));
    // Each case edits the example; what stderr must say. Nothing is stored.
    let cases = [
        (
            "goto: confirm",
            "goto: confrim",
            "bad.yaml: 1 problem\n  step 'ask-party': condition 1: goto 'confrim' is not a step of this sequence",
        ),
        (
            "message: How many people should we expect?",
            "message: \"\"",
            "step 'ask-party': the message is empty",
        ),
        (
            "sender: \"+19523142318\"",
            "sender: \"+14155550100\"",
            "bad.yaml: sender: sender +14155550100 is not one of this account's numbers",
        ),
        (
            "account: acme",
            "account: zeta",
            "bad.yaml: account 'zeta' does not exist",
        ),
        (
            "phone_field: Contact.Phone1",
            "phone_field: Contact.Phone3",
            "bad.yaml: phone_field 'Contact.Phone3': smsflow reads and writes the mobile number in Contact.Phone1 or a custom field",
        ),
        (
            "name: appointment",
            "name: booking",
            "bad.yaml: keyword 'BOOK' already starts sequence 'appointment' of account acme",
        ),
    ];
    for (from, to, expected) in cases {
        let edited = APPOINTMENT.replacen(from, to, 1);
        assert_ne!(edited, APPOINTMENT, "the case edits something: {from}");
        let bad = write_file(dir.path(), "bad.yaml", &edited);
        let out = smsflow(&["sequences", "apply", &bad, "--config", &config], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{expected}: must be refused");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert_eq!(
        ok_stdout(&smsflow(
            &[
                "sequences",
                "list",
                "--account",
                "acme",
                "--config",
                &config
            ],
            &[]
        )),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
}

#[test]
fn sequences_against_aws() {
    let endpoint = std::env::var("SMSFLOW_TEST_AWS_ENDPOINT")
        .expect("SMSFLOW_TEST_AWS_ENDPOINT is not set: run ./scripts/test.sh (it starts moto)");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), EXAMPLE);
    let file = write_file(dir.path(), "appointment.yaml", APPOINTMENT);
    let table = format!("cli-seq-{}", std::process::id());
    let aws = [
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("SMSFLOW_TABLE", table.as_str()),
    ];
    ok_stdout(&smsflow(
        &[
            "accounts",
            "push",
            "--config",
            &config,
            "--aws",
            "--create-table",
        ],
        &aws,
    ));
    let with = |args: &[&str]| smsflow(&[args, &["--config", &config, "--aws"]].concat(), &aws);
    assert_eq!(
        ok_stdout(&with(&["sequences", "apply", &file])),
        "created sequence acme/appointment\n"
    );
    assert_eq!(
        ok_stdout(&with(&["sequences", "list", "--account", "acme"])),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
    assert_eq!(
        ok_stdout(&with(&[
            "sequences",
            "delete",
            "--account",
            "acme",
            "appointment"
        ])),
        "deleted sequence acme/appointment\n"
    );
    // The local database was never touched.
    assert!(!dir.path().join(".smsflow").exists());
}
