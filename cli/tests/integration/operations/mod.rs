//! The operator commands against the local store: their output, `--json`, errors and exit
//! codes (0 ok, 2 usage, 3 not found, 4 invalid input, 5 backend, 6 rows rejected; 7 refused
//! is `smsflow send`'s, tested in send.rs).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::queue::QueuePolicy;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use smsflow_shared::domain::routing::{RoutingDecision, RoutingRule};
use smsflow_shared::domain::{
    AccountId, Direction, EmailAddress, KeyHash, MessageStatus, PhoneNumber, Timestamp,
};
use smsflow_shared::ports::{
    ConsentStore, ConversationStore, GoalLog, GoalRecord, GoalResult, JobFailure, JobFailureStore,
    JobQueue, OutgoingMessage, QueueName, QueueReceiver, SystemClock,
};

use crate::support::{Local, Operator, message, recently, smsflow, texts};

mod history;

#[test]
fn exit_codes_tell_failures_apart() {
    let local = Local::new();
    let cases: [(&[&str], i32, &str); 7] = [
        (&["optouts", "import"], 2, "required"),
        (
            &["optouts", "import", "no-such.csv", "--account", "acme"],
            4,
            "cannot read no-such.csv",
        ),
        (
            &["accounts", "show", "--account", "nobody"],
            3,
            "account nobody is not stored",
        ),
        (
            &["accounts", "show", "--account", "Not_An_Id"],
            4,
            "is not an account id",
        ),
        // clap names the possible values (send, automation) itself.
        (
            &["dlq", "list", "--queue", "sms"],
            2,
            "invalid value 'sms' for '--queue <QUEUE>'",
        ),
        (
            &[
                "numbers",
                "remove",
                "--account",
                "acme",
                "--number",
                "+14155550199",
            ],
            3,
            "account acme has no number +14155550199",
        ),
        (
            &["conversations", "show", "--account", "acme", "555-01"],
            4,
            "is not a valid number",
        ),
    ];
    for (args, code, message) in cases {
        let run = local.run(args);
        let stderr = run.fails_with(code);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let missing = local.run(&["optouts", "import", "no-such.csv", "--account", "acme"]);
    assert!(
        missing.stderr.contains("hint: check the path"),
        "{}",
        missing.stderr
    );
    // Errors name what to do, and come as JSON with --json.
    // A hint's command carries the --config the command was run with (Local::run adds it).
    let run = local.run(&["accounts", "show", "--account", "nobody"]);
    assert!(
        run.stderr.contains(&format!(
            "hint: `smsflow accounts list --config {}`",
            local.config
        )),
        "{}",
        run.stderr
    );
    let run = local.run(&["--json", "accounts", "show", "--account", "nobody"]);
    let error: Value = serde_json::from_str(run.fails_with(3).trim()).expect("JSON error");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["error"]["kind"], "not_found");
    assert!(error["error"]["hint"].is_string());
    // A missing configuration file is invalid input.
    let run = smsflow(
        &["accounts", "list", "--config", "/nonexistent/smsflow.toml"],
        &[],
    );
    assert!(run.fails_with(4).contains("/nonexistent/smsflow.toml"));
}

#[test]
fn a_locked_database_is_a_backend_failure_with_a_hint() {
    let local = Local::new();
    let _held = EmbeddedDb::open(&local.db_path()).expect("database opens");
    let run = local.run(&["accounts", "list"]);
    run.fails_saying(5, &["is `smsflow serve` running on it?"]);
}

#[test]
fn existing_commands_print_json_too() {
    let local = Local::new();
    let listed = local.json(&["accounts", "list"]);
    assert_eq!(listed[0]["id"], "acme");
    assert_eq!(
        listed[0]["numbers"],
        json!(["+19523142318", "+18885550100"])
    );
    let keys = smsflow(&["--json", "keygen"], &[]).json();
    let key = keys["send_key"].as_str().expect("key");
    assert_eq!(keys["send_key_sha256"], KeyHash::of(key).as_hex());
    let config = local.json(&["check-config"]);
    assert_eq!(config["accounts"][0]["id"], "acme");
    assert_eq!(
        local.json(&["goals", "disabled", "--account", "acme"]),
        json!([])
    );
    // The names work as aliases.
    for reset in ["reset", "reset-disabled"] {
        assert_eq!(
            local.json(&["goals", reset, "--account", "acme"]),
            json!({"account": "acme", "reset": 0})
        );
    }
    for push in ["push", "create"] {
        assert_eq!(local.json(&["accounts", push]), json!({"stored": ["acme"]}));
    }
}

#[test]
fn optouts_import_reports_rows_and_a_second_run_adds_nothing() {
    let local = Local::new();
    let csv = local.file(
        "optouts.csv",
        "Phone,Date,Source\n\
         (952) 314-0001,2024-05-01,web form\n\
         952-314-0002,,\n\
         555-01,,\n\
         \"(952) 314-0001\",,\n\
         +44 20 7946 0018,2024-02-30,\n\
         +44 20 7946 0018,2024-02-01T10:00:00Z,\n",
    );
    let first = local.run(&["--json", "optouts", "import", &csv, "--account", "acme"]);
    first.fails_with(6);
    let summary: Value = serde_json::from_str(&first.stdout).expect("JSON summary");
    assert_eq!(summary["rows"], 6);
    assert_eq!(summary["accepted"], 3);
    assert_eq!(summary["duplicates"], 1);
    let invalid: Vec<(u64, String)> = summary["invalid"]
        .as_array()
        .expect("invalid rows")
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().expect("line"),
                r["value"].as_str().expect("value").to_string(),
            )
        })
        .collect();
    assert_eq!(
        invalid,
        vec![(4, "555-01".to_string()), (6, "2024-02-30".to_string())]
    );

    let second = local.run(&["optouts", "import", &csv, "--account", "acme"]);
    second.fails_saying(6, &["2 invalid row(s)"]);
    assert!(
        second.stdout.contains("  accepted            0\n"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("  duplicates          4\n"),
        "{}",
        second.stdout
    );
    assert!(
        second.stdout.contains("    line 4: '555-01'"),
        "{}",
        second.stdout
    );

    let export = local.run(&["optouts", "export", "--account", "acme"]);
    let lines: Vec<&str> = export.ok().lines().collect();
    assert_eq!(lines[0], "phone,date,source");
    assert_eq!(lines[1], "+19523140001,2024-05-01T00:00:00Z,web form");
    assert!(lines[2].starts_with("+19523140002,"), "{lines:?}");
    assert!(lines[2].ends_with(",import optouts.csv"), "{lines:?}");
    assert_eq!(
        lines[3],
        "+442079460018,2024-02-01T10:00:00Z,import optouts.csv"
    );
    assert_eq!(lines.len(), 4);

    // The export reads back in as duplicates only; --output writes a file.
    let file = local.dir.path().join("export.csv").display().to_string();
    let written = local.json(&["optouts", "export", "--account", "acme", "--output", &file]);
    assert_eq!(written["exported"], 3);
    let again = local.json(&["optouts", "import", &file, "--account", "acme"]);
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(3))
    );

    let exported = local.json(&["optouts", "export", "--account", "acme"]);
    assert_eq!(exported[0]["phone"], "+19523140001");
    assert_eq!(exported[0]["source"], "web form");
}

#[test]
fn optouts_import_refuses_a_file_without_a_phone_column() {
    let local = Local::new();
    let csv = local.file("people.csv", "name,email\nJohn,john@example.com\n");
    let run = local.run(&["optouts", "import", &csv, "--account", "acme"]);
    run.fails_saying(
        4,
        &[
            "names no phone column (it is: name,email)",
            "hint: start the file with a header",
        ],
    );
    let missing = local.run(&["optouts", "import", "/nonexistent.csv", "--account", "acme"]);
    assert!(
        missing
            .fails_with(4)
            .contains("cannot read /nonexistent.csv")
    );
    // Nothing was imported.
    let export = local.run(&["optouts", "export", "--account", "acme"]);
    assert_eq!(export.ok(), "phone,date,source\n");
}

#[test]
fn accounts_show_rotate_key_and_set_limit() {
    let local = Local::new();
    let shown = local.json(&["accounts", "show", "--account", "acme"]);
    assert_eq!(shown["name"], "Acme Roofing");
    assert_eq!(shown["queue_limit"], 500);
    assert_eq!(shown["users"].as_array().map(Vec::len), Some(2));
    let text = local.run(&["accounts", "show", "--account", "acme"]);
    text.prints(&["+19523142318  long_code  1      office@acme.example"]);
    // Secrets never appear.
    let everything = format!(
        "{}{}",
        text.stdout,
        serde_json::to_string(&shown).expect("json")
    );
    for secret in ["local-dev-key-change-me", "auth_token", "signing_secret"] {
        assert!(!everything.contains(secret), "{secret} printed");
    }

    let rotated = local.json(&["accounts", "rotate-key", "--account", "acme"]);
    let key = rotated["send_key"].as_str().expect("key");
    let url = rotated["send_url"].as_str().expect("url");
    assert!(url.ends_with(&format!("/crm/acme/send?key={key}")), "{url}");
    assert!(url.starts_with("http"), "{url}");
    let after = local.json(&["accounts", "show", "--account", "acme"]);
    assert_eq!(after["send_key_sha256"], KeyHash::of(key).as_hex());
    assert_ne!(after["send_key_sha256"], shown["send_key_sha256"]);
    let human = local.run(&[
        "accounts",
        "rotate-key",
        "--account",
        "acme",
        "--crm-url",
        "https://x.lambda-url.aws/",
    ]);
    human.prints(&["  https://x.lambda-url.aws/crm/acme/send?key="]);
    assert!(
        human
            .stderr
            .contains("note: the change lasts until the account's entry in"),
        "{}",
        human.stderr
    );

    let limit = local.json(&[
        "accounts",
        "set-limit",
        "--account",
        "acme",
        "--queue-limit",
        "25",
    ]);
    assert_eq!(
        limit,
        json!({"account": "acme", "queue_limit": 25, "previous_queue_limit": 500})
    );
    let shown = local.json(&["accounts", "show", "--account", "acme"]);
    assert_eq!(shown["queue_limit"], 25);
    assert_eq!(shown["debug_log_bodies"], false);

    let debug = local.json(&[
        "accounts",
        "set-debug",
        "--account",
        "acme",
        "--log-bodies",
        "true",
    ]);
    assert_eq!(debug, json!({"account": "acme", "debug_log_bodies": true}));
    local
        .run(&["accounts", "show", "--account", "acme"])
        .prints(&["  log bodies        true"]);
    local
        .run(&[
            "accounts",
            "set-debug",
            "--account",
            "acme",
            "--log-bodies",
            "yes",
        ])
        .fails_with(2);
    local
        .run(&[
            "accounts",
            "set-limit",
            "--account",
            "acme",
            "--queue-limit",
            "many",
        ])
        .fails_with(2);
}

#[test]
fn numbers_and_users_add_list_remove() {
    let local = Local::new();
    let added = local.json(&[
        "numbers",
        "add",
        "--account",
        "acme",
        "--number",
        "(952) 314-9999",
        "--kind",
        "toll_free",
        "--backup-email",
        "desk@acme.example",
    ]);
    assert_eq!(added.as_array().map(Vec::len), Some(3));
    let listed = local.json(&["numbers", "list", "--account", "acme"]);
    assert_eq!(listed[2]["number"], "+19523149999");
    assert_eq!(listed[2]["kind"], "toll_free");
    assert_eq!(listed[2]["segments_per_second"], 3.0);
    let cases: [(&[&str], i32, &str); 5] = [
        (
            &[
                "numbers",
                "add",
                "--account",
                "acme",
                "--number",
                "+19523149999",
                "--backup-email",
                "a@b.example",
            ],
            4,
            "already has number +19523149999",
        ),
        (
            &[
                "numbers",
                "add",
                "--account",
                "acme",
                "--number",
                "+19523149998",
                "--backup-email",
                "not-an-address",
            ],
            4,
            "not-an-address",
        ),
        (
            &[
                "numbers",
                "add",
                "--account",
                "acme",
                "--number",
                "+19523149998",
                "--kind",
                "pager",
                "--backup-email",
                "a@b.example",
            ],
            2,
            "'pager' is not a sender kind",
        ),
        (
            &["users", "remove", "--account", "acme", "--id", "zoe"],
            3,
            "account acme has no user zoe",
        ),
        (
            &[
                "users",
                "add",
                "--account",
                "acme",
                "--id",
                "zoe",
                "--name",
                "Zoe Park",
                "--email",
                "Mary@ACME.example",
            ],
            4,
            "user mary of account acme already has the e-mail mary@acme.example",
        ),
    ];
    for (args, code, message) in cases {
        let run = local.run(args);
        assert!(
            run.fails_with(code).contains(message),
            "{args:?}: {}",
            run.stderr
        );
    }
    local
        .run(&["numbers", "list", "--account", "acme"])
        .prints(&["+19523149999  toll_free  3      desk@acme.example"]);
    let removed = local.json(&[
        "numbers",
        "remove",
        "--account",
        "acme",
        "--number",
        "952-314-9999",
    ]);
    assert_eq!(removed.as_array().map(Vec::len), Some(2));

    local
        .run(&[
            "users",
            "add",
            "--account",
            "acme",
            "--id",
            "zoe",
            "--name",
            "Zoe Park",
            "--email",
            "zoe@acme.example",
            "--crm-user-id",
            "7",
        ])
        .ok();
    let users = local.json(&["users", "list", "--account", "acme"]);
    let ids = texts(&users, "id");
    assert_eq!(ids, vec!["john", "mary", "zoe"]);
    assert_eq!(users[2]["crm_user_id"], "7");
    local
        .run(&["users", "list", "--account", "acme"])
        .prints(&["zoe   Zoe Park     zoe@acme.example   7"]);
    local
        .run(&["users", "remove", "--account", "acme", "--id", "zoe"])
        .ok();
    let users = local.json(&["users", "list", "--account", "acme"]);
    assert_eq!(users.as_array().map(Vec::len), Some(2));
}

/// Stores account `other`: the example's acme without numbers, listing `services`.
fn store_other_account(local: &Local, services: &[&str]) {
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    local.with_db(|db| async move {
        use smsflow_shared::ports::AccountStore;
        let mut other = smsflow_shared::config::LocalConfig::parse(
            std::path::Path::new("x.toml"),
            crate::support::EXAMPLE,
        )
        .expect("example parses")
        .accounts
        .remove(0);
        other.id = AccountId::parse("other").expect("id");
        other.numbers.truncate(0);
        other
            .twilio
            .as_mut()
            .expect("Twilio")
            .messaging_service_sids = services;
        EmbeddedStore::new(db)
            .put_account(&other)
            .await
            .expect("put other");
    });
}

#[test]
fn a_number_of_another_account_is_refused() {
    let local = Local::new();
    // acme's Messaging Service is acme's too.
    store_other_account(&local, &[]);
    let run = local.run(&[
        "numbers",
        "add",
        "--account",
        "other",
        "--number",
        "+19523142318",
        "--backup-email",
        "a@b.example",
    ]);
    run.fails_saying(
        4,
        &[
            "number +19523142318 already belongs to account acme",
            "hint: remove the number from account acme first",
        ],
    );
}

#[test]
fn a_messaging_service_of_another_account_is_refused() {
    let local = Local::new();
    store_other_account(&local, &["MG000000000000000000000000000000aa"]);
    // acme's entry in the file now lists other's service (in another case).
    local.file(
        "smsflow.toml",
        &crate::support::EXAMPLE.replacen(
            "MG00000000000000000000000000000001",
            "MG000000000000000000000000000000AA",
            1,
        ),
    );
    let run = local.run(&["accounts", "push"]);
    run.fails_saying(
        4,
        &[
            "Messaging Service MG000000000000000000000000000000aa already belongs to account other",
            "hint: remove the service from account other's",
        ],
    );
}

/// An Instasent account stored without a secret in the file gets one generated; pushing
/// again keeps it (the URL pasted into Instasent stays right), and `accounts show` prints it.
#[test]
fn pushing_an_instasent_account_generates_its_callback_secret_once() {
    let local = Local::new();
    let on_instasent = crate::support::EXAMPLE
        .replacen(
            "queue_limit = 500",
            "provider = \"instasent\"\nqueue_limit = 500",
            1,
        )
        .replacen(
            "messaging_service_sids = [\"MG00000000000000000000000000000001\"]",
            "",
            1,
        )
        .replacen("twilio_keywords = \"advanced\"", "", 1)
        .replacen(
            "[accounts.twilio]",
            "[accounts.instasent]\napi_token = \"t\"\n\n[accounts.twilio]",
            1,
        );
    local.file("smsflow.toml", &on_instasent);
    let path_of = |shown: &str| -> String {
        let at = shown
            .find("/instasent/callback/acme/")
            .expect("a callback path");
        shown[at..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let first = path_of(local.run(&["accounts", "push"]).ok());
    let again = path_of(local.run(&["accounts", "push"]).ok());
    assert_eq!(first, again, "the secret is kept");
    assert!(
        first.len() > "/instasent/callback/acme/".len() + 30,
        "{first}"
    );
    let shown = local.run(&["accounts", "show", "--account", "acme"]);
    assert_eq!(path_of(shown.ok()), first);
    let view = local.json(&["accounts", "show", "--account", "acme"]);
    assert_eq!(view["provider"], "instasent");
    assert_eq!(view["instasent_callback_path"], first.as_str());
}
