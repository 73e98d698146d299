//! `smsflow send` against the local database: what it queues (read back from the embedded
//! send queue), repeats, refusals and their exit codes (3 not found, 4 invalid input,
//! 5 backend, 7 refused), and `--json`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue, SandboxCrm};
use smsflow_shared::config::LocalConfig;
use smsflow_shared::domain::PhoneNumber;
use smsflow_shared::ports::{Crm, NewContact, QueueName, QueueReceiver, SystemClock};

use crate::support::{EXAMPLE, HI_FOR_MARY, Local, Operator};

/// Every job on the local send queue, as JSON, waiting out the pacing delays between them.
fn queued_sends(local: &Local) -> Vec<Value> {
    local.with_db(|db| async move {
        let queue = EmbeddedQueue::new(db, Arc::new(SystemClock));
        let mut jobs = Vec::new();
        loop {
            let got = queue
                .receive(
                    QueueName::Send,
                    10,
                    Duration::from_secs(60),
                    Duration::from_secs(2),
                )
                .await
                .expect("receive");
            if got.is_empty() {
                return jobs;
            }
            for message in got {
                jobs.push(serde_json::from_str(&message.body).expect("a JSON send job"));
            }
        }
    })
}

/// What a send job says about the message (its ids and slots aside).
fn message_of(job: &Value) -> Value {
    let keys = [
        "account",
        "to",
        "sender",
        "body",
        "media_urls",
        "user_id",
        "campaign",
        "contact_id",
        "manual",
        "kind",
    ];
    keys.iter()
        .map(|k| (k.to_string(), job[k].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// A contact of the sandbox CRM; returns its id.
fn sandbox_contact(local: &Local, first_name: &str, phone: &str) -> String {
    let config = LocalConfig::load(std::path::Path::new(&local.config)).expect("config");
    let account = config.accounts[0].clone();
    let contact = NewContact {
        first_name: Some(first_name.to_string()),
        phone: Some(PhoneNumber::parse_e164(phone).expect("phone")),
        ..NewContact::default()
    };
    local.with_db(|db: EmbeddedDb| async move {
        let crm = SandboxCrm::new(db, Arc::new(SystemClock));
        crm.create_contact(&account, &contact)
            .await
            .expect("contact created")
            .id
            .into_string()
    })
}

fn send(local: &Local, args: &[&str]) -> crate::support::Run {
    let mut all = vec!["send", "--account", "acme"];
    all.extend(args);
    local.run(&all)
}

#[test]
fn sends_are_queued_as_the_send_worker_expects_them() {
    let local = Local::new();
    let contact = sandbox_contact(&local, "Ann", "+19523140003");
    let long_code = json!({"type": "number", "value": "+19523142318"});
    let toll_free = json!({"type": "number", "value": "+18885550100"});
    let cases: [(&[&str], Value); 6] = [
        (
            &[
                "--to",
                "(952) 314-0001",
                "--message",
                "Hi, ~User.FirstName~ here",
                "--user",
                "mary",
                "--type",
                "transactional",
            ],
            json!({
                "account": "acme", "to": "+19523140001", "sender": long_code,
                "body": "Hi, Mary here", "media_urls": [], "user_id": "mary",
                "campaign": null, "contact_id": null, "manual": true, "kind": "transactional",
            }),
        ),
        (
            &[
                "--contact-id",
                &contact,
                "--message",
                "Hi ~Contact.FirstName~",
                "--user",
                "john",
                "--subscription",
                "subscribed",
            ],
            json!({
                "account": "acme", "to": "+19523140003", "sender": long_code,
                "body": "Hi Ann", "media_urls": [], "user_id": "john",
                "campaign": null, "contact_id": contact, "manual": true, "kind": "bulk",
            }),
        ),
        (
            &[
                "--to",
                "+19523140002",
                "--media",
                "https://x.test/a.png",
                "--media",
                "https://x.test/b.png",
                "--campaign",
                "spring",
                "--reply",
                "john",
                "--from",
                "+18885550100",
                "--subscription",
                "subscribed",
            ],
            json!({
                "account": "acme", "to": "+19523140002", "sender": toll_free,
                "body": "", "media_urls": ["https://x.test/a.png", "https://x.test/b.png"],
                "user_id": "john", "campaign": "spring", "contact_id": null,
                "manual": false, "kind": "bulk",
            }),
        ),
        // Users named by e-mail (any case), as turboDial's campaigns name them.
        (
            &[
                "--to",
                "+19523140005",
                "--message",
                "hi",
                "--campaign",
                "fall",
                "--reply",
                "MARY@acme.example",
                "--type",
                "transactional",
            ],
            json!({
                "account": "acme", "to": "+19523140005", "sender": long_code,
                "body": "hi", "media_urls": [], "user_id": "mary",
                "campaign": "fall", "contact_id": null, "manual": false,
                "kind": "transactional",
            }),
        ),
        (
            &[
                "--to",
                "+19523140006",
                "--message",
                "Hi, ~User.FirstName~ here",
                "--user",
                "John@Acme.Example",
                "--type",
                "transactional",
            ],
            json!({
                "account": "acme", "to": "+19523140006", "sender": long_code,
                "body": "Hi, John here", "media_urls": [], "user_id": "john",
                "campaign": null, "contact_id": null, "manual": true,
                "kind": "transactional",
            }),
        ),
        (
            &["--type", "alert", "--message", "New lead", "--user", "mary"],
            json!({
                "account": "acme", "to": "+14155550123", "sender": long_code,
                "body": "New lead", "media_urls": [], "user_id": "mary",
                "campaign": null, "contact_id": null, "manual": true, "kind": "alert",
            }),
        ),
    ];
    let mut expected = Vec::new();
    for (args, message) in cases {
        let reply = send(&local, &[&["--json"], args].concat()).json();
        assert_eq!(reply["outcome"], "queued", "{args:?}: {reply}");
        assert_eq!(reply.get("repeated"), None, "{args:?}: {reply}");
        let id = reply["message_id"]
            .as_str()
            .expect("message id")
            .to_string();
        expected.push((id, message));
    }
    let jobs = queued_sends(&local);
    assert_eq!(jobs.len(), expected.len(), "{jobs:?}");
    for (id, message) in expected {
        let job = jobs
            .iter()
            .find(|j| j["message_id"] == id.as_str())
            .unwrap_or_else(|| panic!("job {id} is queued: {jobs:?}"));
        assert_eq!(message_of(job), message);
    }

    // The human answer names the message and who sends it.
    let text = send(
        &local,
        &[
            "--to",
            "+19523140004",
            "--message",
            "hello",
            "--user",
            "mary",
            "--type",
            "transactional",
        ],
    );
    let out = text.ok();
    assert!(
        out.starts_with("queued message ") && out.contains(" to +19523140004 for user mary"),
        "{out}"
    );
    // Its commands carry the --config it was run with.
    let serve = format!("`smsflow serve --config {}` sends it", local.config);
    assert!(out.contains(&serve), "{out}");
    let follow = format!(
        "`smsflow conversations show --account acme +19523140004 --config {}`",
        local.config
    );
    assert!(out.contains(&follow), "{out}");

    // A number typed in national format is followed in E.164: the hint pastes into a shell
    // as printed (an unquoted `(952)` is a syntax error there).
    let run = send(
        &local,
        &[
            "--to",
            "(952) 314-0007",
            "--message",
            "hello",
            "--user",
            "mary",
            "--type",
            "transactional",
        ],
    );
    let national = run.ok();
    let follow = format!(
        "`smsflow conversations show --account acme +19523140007 --config {}`",
        local.config
    );
    assert!(national.contains(&follow), "{national}");
}

#[test]
fn a_repeat_gets_the_first_answer_and_queues_nothing_more() {
    let local = Local::new();
    let args = [
        "--to",
        "+19523140001",
        "--message",
        "Your inspection is tomorrow at 9.",
        "--user",
        "mary",
        "--type",
        "transactional",
        "--request-id",
        "r-1",
    ];
    let first = send(&local, &[&["--json"], &args[..]].concat()).json();
    assert_eq!(first["outcome"], "queued");
    let again = send(&local, &[&["--json"], &args[..]].concat()).json();
    assert_eq!(
        again,
        json!({"outcome": "queued", "message_id": first["message_id"], "repeated": true})
    );
    let text = send(&local, &args);
    assert!(
        text.ok().starts_with(&format!(
            "already queued as message {}",
            first["message_id"].as_str().expect("id")
        )),
        "{}",
        text.stdout
    );
    // Without a request id, the same message to the same recipient is a repeat too.
    let same = &args[..args.len() - 2];
    let first_plain = send(&local, &[&["--json"], same].concat()).json();
    let again_plain = send(&local, &[&["--json"], same].concat()).json();
    assert_eq!(again_plain["message_id"], first_plain["message_id"]);
    assert_eq!(again_plain["repeated"], true);
    let jobs = queued_sends(&local);
    let ids: Vec<&Value> = jobs.iter().map(|j| &j["message_id"]).collect();
    assert_eq!(
        ids,
        vec![&first["message_id"], &first_plain["message_id"]],
        "one job per request"
    );
}

#[test]
fn refusals_exit_with_their_codes_and_queue_nothing() {
    let local = Local::new();
    let optouts = local.file("optouts.csv", "phone\n(952) 314-0009\n");
    local
        .run(&["optouts", "import", &optouts, "--account", "acme"])
        .ok();
    let to_mary = |to: &'static str| -> Vec<&'static str> {
        vec!["--to", to, "--message", "hi", "--user", "mary"]
    };
    let transactional = |mut args: Vec<&'static str>| {
        args.extend(["--type", "transactional"]);
        args
    };
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            transactional(to_mary("952-314-0009")),
            7,
            "not sent (opted_out)",
        ),
        (to_mary("+19523140001"), 7, "not sent (not_subscribed)"),
        (to_mary("555-01"), 4, "not sent (invalid_phone)"),
        (
            vec![
                "--to",
                "+19523140001",
                "--message",
                "hi",
                "--user",
                "nobody",
            ],
            4,
            "not sent (unknown_user)",
        ),
        (
            vec![
                "--to",
                "+19523140001",
                "--message",
                "hi",
                "--user",
                "nobody@acme.example",
            ],
            4,
            "not sent (unknown_user): user: account acme has no user with id or e-mail \
             'nobody@acme.example'",
        ),
        (
            [to_mary("+19523140001"), vec!["--type", "spam"]].concat(),
            4,
            "not sent (invalid_value)",
        ),
        (
            vec!["--message", "hi", "--user", "mary"],
            4,
            "not sent (missing_recipient)",
        ),
        (
            transactional(vec![
                "--to",
                "+19523140001",
                "--message",
                "Hi ~Contact.Frist~",
                "--user",
                "mary",
            ]),
            4,
            "not sent (unknown_merge_field)",
        ),
        (
            vec!["--contact-id", "999", "--message", "hi", "--user", "mary"],
            3,
            "not sent (unknown_contact)",
        ),
        (
            vec!["--to", "+19523140001", "--message", "hi"],
            2,
            "--user <USER>",
        ),
    ];
    for (args, code, message) in cases {
        let run = send(&local, &args);
        let stderr = run.fails_with(code);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        if code != 2 {
            assert!(stderr.contains("\nhint: "), "{args:?}: {stderr}");
            assert_eq!(run.stdout, "", "{args:?}: a refusal prints no data");
        }
        // A mistyped merge field: the hint names the fields and the fallback syntax.
        if message.contains("unknown_merge_field") {
            for named in [
                "~Contact.FirstName~",
                "~User.Email~",
                "~Contact.FirstName|there~",
            ] {
                assert!(stderr.contains(named), "{named}: {stderr}");
            }
        }
    }
    // (account, exit code, stderr)
    let cases = [
        ("nobody", 3, "account nobody is not stored"),
        ("Not_An_Id", 4, "is not an account id"),
    ];
    for (account, code, message) in cases {
        let args = [&["send", "--account", account][..], &HI_FOR_MARY].concat();
        assert!(
            local.run(&args).fails_with(code).contains(message),
            "{args:?}"
        );
    }

    // --json: the answer on stdout, the error on stderr.
    let run = send(
        &local,
        &[&["--json"], &transactional(to_mary("+19523140009"))[..]].concat(),
    );
    let error: Value = serde_json::from_str(run.fails_with(7).trim()).expect("JSON error");
    assert_eq!(error["exit_code"], 7);
    assert_eq!(error["error"]["kind"], "refused");
    let reply: Value = serde_json::from_str(&run.stdout).expect("JSON answer");
    assert_eq!(reply["outcome"], "refused");
    assert_eq!(reply["code"], "opted_out");
    assert!(reply["detail"].is_string(), "{reply}");
    assert_eq!(reply.get("message_id"), None, "{reply}");

    assert_eq!(queued_sends(&local), Vec::<Value>::new());
}

#[test]
fn conversations_show_tells_why_a_request_sent_nothing() {
    let local = Local::new();
    let optouts = local.file("optouts.csv", "phone\n(952) 314-0009\n");
    local
        .run(&["optouts", "import", &optouts, "--account", "acme"])
        .ok();
    // (recipient, extra arguments, the code, the start of the reason)
    let cases: [(&str, &[&str], &str, &str); 2] = [
        (
            "+19523140009",
            &["--type", "transactional"],
            "opted_out",
            "the recipient opted out (replied STOP)",
        ),
        (
            "+19523140008",
            &[],
            "not_subscribed",
            "bulk messages need a subscribed contact",
        ),
    ];
    for (to, extra, code, why) in cases {
        let args = [&["--to", to, "--message", "hi", "--user", "mary"], extra].concat();
        send(&local, &args).fails_with(7);
        let show = ["conversations", "show", "--account", "acme", to];
        let out = local.run(&show).ok().to_string();
        assert!(
            out.contains(&format!(
                ": no message sent: refused ({code})\n    why: {why}"
            )),
            "{to}: {out}"
        );
        let thread = local.run(&[&show[..], &["--json"]].concat()).json();
        let request = &thread["requests_without_message"][0];
        assert_eq!(request["refusal"]["code"], code, "{thread}");
        assert!(
            request["refusal"]["detail"]
                .as_str()
                .is_some_and(|d| d.starts_with(why)),
            "{thread}"
        );
    }
}

#[test]
fn a_full_queue_refuses_with_exit_code_7() {
    let local = Local::new();
    // The limit is set in the file and stored, so it holds whether or not the runtime stores
    // the file's accounts again.
    std::fs::write(
        &local.config,
        EXAMPLE.replace("queue_limit = 500", "queue_limit = 1"),
    )
    .expect("write config");
    local.run(&["accounts", "push"]).ok();
    let args = |to: &'static str| {
        [
            "--to",
            to,
            "--message",
            "hi",
            "--user",
            "mary",
            "--type",
            "transactional",
        ]
    };
    send(&local, &args("+19523140001")).ok();
    let stderr = send(&local, &args("+19523140002"))
        .fails_with(7)
        .to_string();
    assert!(stderr.contains("not sent (queue_full)"), "{stderr}");
    assert!(stderr.contains("smsflow accounts set-limit"), "{stderr}");
    let why = ["conversations", "show", "--account", "acme", "+19523140002"];
    local.run(&why).prints(&[
        "no message sent: refused (queue_full)",
        "    why: the account already has 1 messages waiting to be sent",
    ]);
    assert_eq!(queued_sends(&local).len(), 1);
}

#[test]
fn a_running_server_holds_the_database() {
    let local = Local::new();
    let _held = EmbeddedDb::open(&local.db_path()).expect("database opens");
    let stderr = send(
        &local,
        &["--to", "+19523140001", "--message", "hi", "--user", "mary"],
    )
    .fails_with(5)
    .to_string();
    assert!(
        stderr.contains("is `smsflow serve` running on it?"),
        "{stderr}"
    );
    assert!(stderr.contains("/crm/ACCOUNT/send"), "{stderr}");
}
