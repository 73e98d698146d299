//! The `smsflow` binary as a user runs it.

use std::path::Path;

use crate::support::{EXAMPLE, Local, Operator, moto_env, pairs, smsflow};

fn write_config(dir: &Path, text: &str) -> String {
    let path = dir.join("smsflow.toml");
    std::fs::write(&path, text).expect("write config");
    path.display().to_string()
}

#[test]
fn check_config_accepts_the_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), EXAMPLE);
    smsflow(&["check-config", "--config", &path], &[])
        .prints(&["account acme (Acme Roofing): numbers +19523142318, +18885550100"]);
}

#[test]
fn check_config_shows_an_instasent_accounts_callback_url_and_refuses_twilio_features() {
    let instasent = EXAMPLE
        .replacen("queue_limit = 500", "provider = \"instasent\"\nqueue_limit = 500", 1)
        .replacen(
            "[accounts.twilio]",
            "[accounts.instasent]\napi_token = \"t\"\ncallback_secret = \"cli-callback-secret-01\"\n\n[accounts.twilio]",
            1,
        );
    let dir = tempfile::tempdir().expect("temp dir");
    // The example's Messaging Service and Advanced Opt-Out are Twilio's: both refused.
    let path = write_config(dir.path(), &instasent);
    smsflow(&["check-config", "--config", &path], &[]).fails_saying(
        4,
        &[
            "accounts[0].twilio.messaging_service_sids: Messaging Services are Twilio's",
            "accounts[0].numbers[1].twilio_keywords: Advanced Opt-Out is Twilio's",
        ],
    );
    let fixed = instasent
        .replacen(
            "messaging_service_sids = [\"MG00000000000000000000000000000001\"]",
            "",
            1,
        )
        .replacen("twilio_keywords = \"advanced\"", "", 1);
    let path = write_config(dir.path(), &fixed);
    smsflow(&["check-config", "--config", &path], &[]).prints(&[
        "    sends through instasent",
        "    Instasent callback URL (paste into the API token): \
         http://127.0.0.1:8080/instasent/callback/acme/cli-callback-secret-01",
    ]);
}

#[test]
fn check_config_lists_every_problem_of_the_file() {
    let edits = [
        ("listen = \"127.0.0.1:8080\"", "listen = \"localhost\""),
        ("number = \"(952) 314-2318\"", "number = \"555-01\""),
        ("email = \"mary@acme.example\"", "email = \"mary\""),
        ("queue_limit = 500", "queue_limit = 0"),
    ];
    let mut text = EXAMPLE.to_string();
    for (from, to) in edits {
        text = text.replacen(from, to, 1);
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), &text);
    let run = smsflow(&["check-config", "--config", &path], &[]);
    let stderr = run.fails_saying(
        4,
        &[
            &format!("{path}: 4 problems"),
            "  server.listen: 'localhost' is not an address:port",
            "  accounts[0].numbers[0].number: '555-01' is not",
            "  accounts[0].users[0].email: 'mary' is not an e-mail address",
            "  accounts[0].queue_limit: must be at least 1",
            "hint: fix each field named above",
        ],
    );
    assert!(
        !stderr.contains("check-config"),
        "no hint to run itself: {stderr}"
    );
    let run = smsflow(&["--json", "check-config", "--config", &path], &[]);
    let error: serde_json::Value =
        serde_json::from_str(run.fails_with(4).trim()).expect("JSON error");
    let fields: Vec<&str> = (error["error"]["problems"].as_array().expect("problems"))
        .iter()
        .filter_map(|p| p["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "server.listen",
            "accounts[0].numbers[0].number",
            "accounts[0].users[0].email",
            "accounts[0].queue_limit"
        ]
    );
    // Another command stops at the first, and points at check-config with the same file.
    smsflow(&["accounts", "list", "--config", &path], &[]).fails_saying(
        4,
        &[&format!(
            "hint: fix the file (`smsflow check-config --config {path}` lists every problem"
        )],
    );
}

#[test]
fn completions_name_the_subcommands_in_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let run = smsflow(&["completions", shell], &[]);
        let script = run.ok();
        for name in ["check-config", "serve", "dlq", "conversations", "redrive"] {
            assert!(script.contains(name), "{shell}: {name} missing");
        }
    }
    smsflow(&["completions", "tcsh"], &[]).fails_saying(2, &["[possible values: bash,"]);
}

#[test]
fn help_shows_json_where_it_means_something_and_the_queue_names() {
    let serve = smsflow(&["serve", "--help"], &[]);
    assert!(!serve.ok().contains("--json"), "{}", serve.stdout);
    let list = smsflow(&["dlq", "list", "--help"], &[]);
    let help = list.ok();
    assert!(help.contains("--json"), "{help}");
    assert!(
        help.contains("[possible values: send, automation]"),
        "{help}"
    );
    smsflow(&["dlq", "list", "--queue", "sned"], &[])
        .fails_saying(2, &["[possible values: send, automation]"]);
    // --json before or after the subcommand, as before.
    for args in [
        &["--json", "check-config", "--config", "x"][..],
        &["check-config", "--json", "--config", "x"][..],
    ] {
        let run = smsflow(args, &[]);
        let error: serde_json::Value =
            serde_json::from_str(run.fails_with(4).trim()).expect("JSON error");
        assert_eq!(error["exit_code"], 4, "{args:?}");
    }
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
        let run = smsflow(&["serve", "--config", &path], &[]);
        assert_ne!(run.code, 0, "{expected}: serve must not start");
        assert!(
            run.stderr.contains(&format!("{path}: {expected}")),
            "{expected}: {}",
            run.stderr
        );
        assert!(
            !dir.path().join(".smsflow").exists(),
            "{expected}: nothing created"
        );
    }
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let run = smsflow(&["serve", "--config", "/nonexistent/smsflow.toml"], &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("/nonexistent/smsflow.toml: (file): cannot read"),
        "{}",
        run.stderr
    );
    // check-config names the path and --config, not fields to fix.
    let run = smsflow(
        &["check-config", "--config", "/nonexistent/smsflow.toml"],
        &[],
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: check the path")
            && run.stderr.contains("--config PATH")
            && !run.stderr.contains("fix each field"),
        "{}",
        run.stderr
    );
}

#[test]
fn serve_refuses_a_network_listen_with_a_hint() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(
        dir.path(),
        &EXAMPLE.replacen(
            "listen = \"127.0.0.1:8080\"",
            "listen = \"0.0.0.0:8080\"",
            1,
        ),
    );
    let run = smsflow(&["serve", "--config", &path], &[]);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("refusing to listen on 0.0.0.0:8080"),
        "{}",
        run.stderr
    );
    let allow = format!(
        "hint: set listen = \"127.0.0.1:PORT\" under [server], or run `smsflow serve --allow-remote --config {path}`"
    );
    assert!(run.stderr.contains(&allow), "{}", run.stderr);
    assert!(!dir.path().join(".smsflow").exists(), "nothing created");
}

#[test]
fn keygen_prints_a_key_and_its_digest() {
    let run = smsflow(&["keygen"], &[]);
    let stdout = run.ok();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("send_key        = \""), "{stdout}");
    assert!(lines[1].starts_with("send_key_sha256 = \""), "{stdout}");
    assert_eq!(lines[1].len(), "send_key_sha256 = \"\"".len() + 64);
}

/// moto's environment with `SMSFLOW_TABLE` naming a table of this process.
fn moto_env_with_table(prefix: &str) -> Vec<(String, String)> {
    let mut env = moto_env();
    env.push((
        "SMSFLOW_TABLE".into(),
        format!("{prefix}-{}", std::process::id()),
    ));
    env
}

#[test]
fn accounts_push_and_list_against_aws() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write_config(dir.path(), EXAMPLE);
    let env = moto_env_with_table("cli");
    let aws = pairs(&env);
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
    assert_eq!(push.ok(), "stored account acme\n");
    let list = smsflow(&["accounts", "list", "--config", &path, "--aws"], &aws);
    assert_eq!(list.ok(), "acme\t+19523142318, +18885550100\n");
    // Without the table variable the command says what is missing.
    let run = smsflow(
        &["accounts", "list", "--config", &path, "--aws"],
        &pairs(&moto_env()),
    );
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("SMSFLOW_TABLE is not set"));
}

const APPOINTMENT: &str = include_str!("../../../examples/sequences/appointment.yaml");

#[test]
fn sequences_apply_list_show_delete() {
    let local = Local::new();
    let file = local.file("appointment.yaml", APPOINTMENT);

    assert_eq!(
        local.run(&["sequences", "apply", &file]).ok(),
        "created sequence acme/appointment\n"
    );
    assert_eq!(
        local.run(&["sequences", "apply", &file]).ok(),
        "replaced sequence acme/appointment\n"
    );
    assert_eq!(
        local.run(&["sequences", "list", "--account", "acme"]).ok(),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
    let shown = local.run(&["sequences", "show", "--account", "acme", "appointment"]);
    let definition: serde_json::Value = serde_json::from_str(shown.ok()).expect("JSON definition");
    assert_eq!(definition["name"], "appointment");
    assert_eq!(definition["steps"][0]["name"], "ask-day");

    assert_eq!(
        local
            .run(&["sequences", "delete", "--account", "acme", "appointment"])
            .ok(),
        "deleted sequence acme/appointment\n"
    );
    for args in [
        &["sequences", "delete", "--account", "acme", "appointment"][..],
        &["sequences", "show", "--account", "acme", "appointment"][..],
    ] {
        let run = local.run(args);
        assert_ne!(run.code, 0, "{args:?}");
        assert!(
            run.stderr
                .contains("account acme has no sequence 'appointment'"),
            "{args:?}"
        );
    }
    assert_eq!(
        local.run(&["sequences", "list", "--account", "acme"]).ok(),
        ""
    );
}

#[test]
fn sequences_apply_refuses_naming_file_step_and_reason() {
    let local = Local::new();
    let file = local.file("appointment.yaml", APPOINTMENT);
    local.run(&["sequences", "apply", &file]).ok();
    // Each case edits the example; what stderr must say and its hint
    // (`{config}`: the --config the test runs with). Nothing is stored.
    let cases = [
        (
            "goto: confirm",
            "goto: confrim",
            "bad.yaml: 1 problem\n  step 'ask-party': condition 1: goto 'confrim' is not a step of this sequence",
            "hint: fix each problem named above and apply the file again",
        ),
        (
            "message: How many people should we expect?",
            "message: \"\"",
            "step 'ask-party': the message is empty",
            "hint: fix each problem named above and apply the file again",
        ),
        (
            "sender: \"+19523142318\"",
            "sender: \"+14155550100\"",
            "bad.yaml: sender +14155550100 is not one of this account's numbers",
            "hint: name one of the account's numbers (`smsflow numbers list --account acme --config {config}` lists them)",
        ),
        (
            "account: acme",
            "account: zeta",
            "bad.yaml: account 'zeta' does not exist",
            "hint: `smsflow accounts list --config {config}` shows the stored accounts",
        ),
        (
            "phone_field: Contact.Phone1",
            "phone_field: Contact.Phone3",
            "bad.yaml: phone_field 'Contact.Phone3': smsflow reads and writes the mobile number in Contact.Phone1 or a custom field",
            "hint: fix the file's phone_field and apply it again",
        ),
        // The file check names what the account check accepts, not Phone1..Phone5.
        (
            "phone_field: Contact.Phone1",
            "phone_field: Contact.FirstName",
            "phone_field 'Contact.FirstName' cannot hold a mobile number: use Contact.Phone1 or a custom field (Contact._Name)",
            "hint: fix each problem named above and apply the file again",
        ),
        (
            "name: appointment",
            "name: booking",
            "bad.yaml: keyword 'BOOK' already starts sequence 'appointment' of account acme",
            "hint: fix the file and apply it again (or change the other sequence first); `smsflow sequences list --account acme --config {config}` shows what is stored",
        ),
    ];
    for (from, to, expected, hint) in cases {
        let edited = APPOINTMENT.replacen(from, to, 1);
        assert_ne!(edited, APPOINTMENT, "the case edits something: {from}");
        let bad = local.file("bad.yaml", &edited);
        let run = local.run(&["sequences", "apply", &bad]);
        assert_ne!(run.code, 0, "{expected}: must be refused");
        assert!(run.stderr.contains(expected), "{expected}: {}", run.stderr);
        let hint = hint.replace("{config}", &local.config);
        assert!(run.stderr.contains(&hint), "{hint}: {}", run.stderr);
    }
    assert_eq!(
        local.run(&["sequences", "list", "--account", "acme"]).ok(),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
}

#[test]
fn sequences_against_aws() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(dir.path(), EXAMPLE);
    let file = dir.path().join("appointment.yaml");
    std::fs::write(&file, APPOINTMENT).expect("write file");
    let file = file.display().to_string();
    let env = moto_env_with_table("cli-seq");
    let aws = pairs(&env);
    smsflow(
        &[
            "accounts",
            "push",
            "--config",
            &config,
            "--aws",
            "--create-table",
        ],
        &aws,
    )
    .ok();
    let with = |args: &[&str]| smsflow(&[args, &["--config", &config, "--aws"]].concat(), &aws);
    assert_eq!(
        with(&["sequences", "apply", &file]).ok(),
        "created sequence acme/appointment\n"
    );
    assert_eq!(
        with(&["sequences", "list", "--account", "acme"]).ok(),
        "appointment\tboth\tBOOK, APPOINTMENT\n"
    );
    assert_eq!(
        with(&["sequences", "delete", "--account", "acme", "appointment"]).ok(),
        "deleted sequence acme/appointment\n"
    );
    // The local database was never touched.
    assert!(!dir.path().join(".smsflow").exists());
}

/// `smsflow ... | head` ends quietly when `head` stops reading, as Unix tools do: no panic,
/// no error line.
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_smsflow"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("smsflow starts");
    // The reader leaves before the first line: every write meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("smsflow ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.is_empty(), "nothing on stderr: {stderr}");
    let quiet = output.status.success() || output.status.signal() == Some(libc::SIGPIPE);
    assert!(
        quiet,
        "ended by the closed pipe, not an error: {:?}",
        output.status
    );
}
