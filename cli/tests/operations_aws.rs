//! The operator commands with `--aws`, against moto: DynamoDB for the store, SQS for the
//! dead-letter queues and the send queue. Set SMSFLOW_TEST_AWS_ENDPOINT (./scripts/test.sh
//! starts moto).

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::{QueueUrls, SqsQueue, create_queues};
use smsflow_shared::domain::{
    AccountId, Direction, KeyHash, MessageRecord, MessageStatus, PhoneNumber, Timestamp,
};
use smsflow_shared::ports::{
    ConversationStore, JobFailure, JobFailureStore, JobQueue, OutgoingMessage, QueueName,
    QueueReceiver,
};
use smsflow_tests::moto;
use support::{Local, Run, smsflow};

/// A fresh table and queues on moto, and the environment that points the CLI at them.
struct Aws {
    runtime: tokio::runtime::Runtime,
    env: Vec<(String, String)>,
    store: DynamoStore,
    queue: SqsQueue,
    /// For `accounts push` (the configuration file is read only for that).
    local: Local,
}

impl Aws {
    fn new() -> Self {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let (store, queue, urls) = runtime.block_on(async {
            let sdk = moto::sdk_config().await;
            let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
            let table = moto::unique_name("cli-ops");
            create_table(&dynamo, &table).await.expect("create table");
            let sqs = aws_sdk_sqs::Client::new(&sdk);
            let urls = create_queues(&sqs, &moto::unique_name("cli-ops"), 1)
                .await
                .expect("create queues");
            (
                DynamoStore::new(dynamo, table),
                SqsQueue::new(sqs, urls.clone()),
                urls,
            )
        });
        let env = aws_env(&store, &urls);
        let aws = Aws {
            runtime,
            env,
            store,
            queue,
            local: Local::new(),
        };
        aws.run(&["accounts", "push", "--config", &aws.local.config])
            .ok();
        aws
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.push("--aws");
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        smsflow(&all, &env)
    }
}

fn aws_env(store: &DynamoStore, urls: &QueueUrls) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_ENDPOINT_URL".to_string(), moto::endpoint()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "test".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
        ("SMSFLOW_TABLE".into(), store.table().to_string()),
    ];
    for (queue, var, dlq_var) in [
        (
            QueueName::Send,
            "SMSFLOW_SEND_QUEUE_URL",
            "SMSFLOW_SEND_DLQ_URL",
        ),
        (
            QueueName::Automation,
            "SMSFLOW_AUTOMATION_QUEUE_URL",
            "SMSFLOW_AUTOMATION_DLQ_URL",
        ),
    ] {
        let url = urls.get(queue);
        env.push((var.into(), url.queue.clone()));
        env.push((
            dlq_var.into(),
            url.dead_letter.clone().expect("dead-letter URL"),
        ));
    }
    env
}

#[test]
fn optouts_import_and_export_on_dynamodb() {
    let aws = Aws::new();
    let csv = aws.local.file(
        "optouts.csv",
        "phone,date\n(952) 314-0002,2024-05-02\n(952) 314-0001,2024-05-01\nnot a phone,\n",
    );
    let first = aws.run(&["--json", "optouts", "import", &csv, "--account", "acme"]);
    first.fails_with(6);
    let summary: Value = serde_json::from_str(&first.stdout).expect("summary");
    assert_eq!(summary["accepted"], 2);
    assert_eq!(summary["invalid"][0]["line"], 4);
    let second = aws.run(&["--json", "optouts", "import", &csv, "--account", "acme"]);
    second.fails_with(6);
    let summary: Value = serde_json::from_str(&second.stdout).expect("summary");
    assert_eq!(
        (summary["accepted"].clone(), summary["duplicates"].clone()),
        (json!(0), json!(2))
    );
    let export = aws.run(&["optouts", "export", "--account", "acme"]);
    assert_eq!(
        export.ok(),
        "phone,date,source\n\
         +19523140001,2024-05-01T00:00:00Z,import optouts.csv\n\
         +19523140002,2024-05-02T00:00:00Z,import optouts.csv\n"
    );
    let missing = aws.run(&["optouts", "export", "--account", "nobody"]);
    assert!(
        missing
            .fails_with(3)
            .contains("account nobody is not stored")
    );
}

#[test]
fn accounts_numbers_and_users_on_dynamodb() {
    let aws = Aws::new();
    let rotated = aws
        .run(&["--json", "accounts", "rotate-key", "--account", "acme"])
        .json();
    let key = rotated["send_key"].as_str().expect("key");
    assert_eq!(rotated["send_url"], Value::Null, "no CRM URL given");
    let with_url = aws.run(&[
        "accounts",
        "rotate-key",
        "--account",
        "acme",
        "--crm-url",
        "https://abc.lambda-url.us-east-1.on.aws",
    ]);
    assert!(
        with_url
            .ok()
            .contains("https://abc.lambda-url.us-east-1.on.aws/crm/acme/send?key="),
        "{}",
        with_url.stdout
    );
    let shown = aws
        .run(&["--json", "accounts", "show", "--account", "acme"])
        .json();
    assert_ne!(
        shown["send_key_sha256"],
        KeyHash::of(key).as_hex(),
        "rotated twice"
    );
    assert!(
        !with_url.stderr.contains("note:"),
        "no local-config note with --aws"
    );

    aws.run(&[
        "accounts",
        "set-limit",
        "--account",
        "acme",
        "--queue-limit",
        "9",
    ])
    .ok();
    aws.run(&[
        "numbers",
        "add",
        "--account",
        "acme",
        "--number",
        "+19523149999",
        "--backup-email",
        "desk@acme.example",
    ])
    .ok();
    aws.run(&[
        "numbers",
        "remove",
        "--account",
        "acme",
        "--number",
        "+18885550100",
    ])
    .ok();
    aws.run(&[
        "users",
        "add",
        "--account",
        "acme",
        "--id",
        "zoe",
        "--name",
        "Zoe",
        "--email",
        "zoe@acme.example",
    ])
    .ok();
    aws.run(&["users", "remove", "--account", "acme", "--id", "john"])
        .ok();
    let shown = aws
        .run(&["--json", "accounts", "show", "--account", "acme"])
        .json();
    assert_eq!(shown["queue_limit"], 9);
    let numbers: Vec<&str> = shown["numbers"]
        .as_array()
        .expect("numbers")
        .iter()
        .filter_map(|n| n["number"].as_str())
        .collect();
    assert_eq!(numbers, vec!["+19523142318", "+19523149999"]);
    let users: Vec<&str> = shown["users"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["id"].as_str())
        .collect();
    assert_eq!(users, vec!["mary", "zoe"]);
    // The removed number is free again: the account lookup by number follows.
    let found = aws.runtime.block_on(async {
        use smsflow_shared::ports::AccountStore;
        let released = aws
            .store
            .account_by_number(&PhoneNumber::parse_e164("+18885550100").expect("phone"))
            .await
            .expect("lookup");
        let claimed = aws
            .store
            .account_by_number(&PhoneNumber::parse_e164("+19523149999").expect("phone"))
            .await
            .expect("lookup");
        (
            released.map(|a| a.id.to_string()),
            claimed.map(|a| a.id.to_string()),
        )
    });
    assert_eq!(found, (None, Some("acme".to_string())));

    // Without the table variable the command says what is missing.
    let env: Vec<(&str, &str)> = aws
        .env
        .iter()
        .filter(|(k, _)| k != "SMSFLOW_TABLE")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let run = smsflow(&["accounts", "show", "--account", "acme", "--aws"], &env);
    let stderr = run.fails_with(4);
    assert!(stderr.contains("SMSFLOW_TABLE is not set"), "{stderr}");
    assert!(stderr.contains("hint: export SMSFLOW_TABLE="), "{stderr}");
}

#[test]
fn conversations_on_dynamodb() {
    let aws = Aws::new();
    aws.runtime.block_on(async {
        for (n, contact, direction) in [
            (1, "+19523140001", Direction::Outbound),
            (2, "+19523140002", Direction::Outbound),
            (3, "+19523140001", Direction::Inbound),
        ] {
            let at = Timestamp::from_millis(1_714_564_800_000 + n * 60_000);
            let message = MessageRecord {
                id: format!("01J{n:023}"),
                account: AccountId::parse("acme").expect("id"),
                contact_phone: PhoneNumber::parse_e164(contact).expect("phone"),
                our_sender: "+19523142318".into(),
                direction,
                body: format!("message {n}"),
                media_urls: vec![],
                status: MessageStatus::Delivered,
                provider_sid: None,
                error_code: None,
                user_id: None,
                campaign: None,
                created_at: at,
                updated_at: at,
                contact_id: None,
                routing: None,
            };
            aws.store.record_message(&message).await.expect("record");
        }
    });
    let listed = aws
        .run(&["--json", "conversations", "list", "--account", "acme"])
        .json();
    let phones: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["phone"].as_str())
        .collect();
    assert_eq!(phones, vec!["+19523140001", "+19523140002"]);
    let thread = aws
        .run(&[
            "--json",
            "conversations",
            "show",
            "--account",
            "acme",
            "952-314-0001",
        ])
        .json();
    let bodies: Vec<&str> = thread["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["body"].as_str())
        .collect();
    assert_eq!(bodies, vec!["message 1", "message 3"]);
    let text = aws.run(&["conversations", "show", "--account", "acme", "+19523140002"]);
    assert!(
        text.ok()
            .contains("2024-05-01 12:02:00 UTC  -> out  delivered\n    message 2"),
        "{}",
        text.stdout
    );
}

#[test]
fn dlq_list_and_redrive_on_sqs() {
    let aws = Aws::new();
    let body = r#"{"job_id":"j1","kind":"apply_tag","account":"acme","contact_id":"42","tag":"sms-replied"}"#;
    let dead_id = aws.runtime.block_on(async {
        let q = &aws.queue;
        let id = q
            .enqueue(QueueName::Automation, OutgoingMessage::now(body))
            .await
            .expect("enqueue");
        let got = q
            .receive(QueueName::Automation, 1, Duration::ZERO, Duration::ZERO)
            .await
            .expect("receive");
        assert_eq!(got.len(), 1);
        // The queues allow one receive: the next one moves it to the dead-letter queue.
        let again = q
            .receive(QueueName::Automation, 1, Duration::ZERO, Duration::ZERO)
            .await
            .expect("receive");
        assert!(again.is_empty(), "{again:?}");
        aws.store
            .record_job_failure(
                QueueName::Automation,
                &id,
                &JobFailure {
                    error: "keap answered 503".into(),
                    failed_at: recently(),
                },
            )
            .await
            .expect("record failure");
        id
    });
    let listed = aws
        .run(&["--json", "dlq", "list", "--queue", "automation"])
        .json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["message_id"], dead_id.as_str());
    assert_eq!(listed[0]["kind"], "apply_tag");
    assert_eq!(listed[0]["details"]["tag"], "sms-replied");
    assert_eq!(listed[0]["last_error"]["error"], "keap answered 503");
    let text = aws.run(&["dlq", "list", "--queue", "automation"]);
    assert!(
        text.ok().contains(" UTC): keap answered 503"),
        "{}",
        text.stdout
    );
    assert!(
        aws.run(&["dlq", "list", "--queue", "send"])
            .ok()
            .contains("is empty")
    );

    let moved = aws
        .run(&["--json", "dlq", "redrive", "--queue", "automation"])
        .json();
    assert_eq!(moved["moved"][0]["dead_letter_id"], dead_id.as_str());
    assert_eq!(moved["moved"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        aws.run(&["--json", "dlq", "list", "--queue", "automation"])
            .json(),
        json!([])
    );
    let back = aws.runtime.block_on(async {
        aws.queue
            .receive(
                QueueName::Automation,
                10,
                Duration::from_secs(30),
                Duration::ZERO,
            )
            .await
            .expect("receive")
    });
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, body);

    // Without the dead-letter URL the command says which variable to set.
    let env: Vec<(&str, &str)> = aws
        .env
        .iter()
        .filter(|(k, _)| k != "SMSFLOW_SEND_DLQ_URL")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let run = smsflow(&["dlq", "list", "--queue", "send", "--aws"], &env);
    let stderr = run.fails_with(4);
    assert!(
        stderr.contains("hint: export SMSFLOW_SEND_DLQ_URL="),
        "{stderr}"
    );
}

/// A failure time inside the retention window (failures older than 14 days are not shown).
fn recently() -> Timestamp {
    use smsflow_shared::ports::Clock;
    smsflow_shared::ports::SystemClock.now()
}

#[test]
fn send_queues_the_job_on_sqs() {
    let aws = Aws::new();
    let reply = aws
        .run(&[
            "--json",
            "send",
            "--account",
            "acme",
            "--to",
            "952-314-0001",
            "--message",
            "Hi, ~User.FirstName~ here",
            "--user",
            "mary",
            "--type",
            "transactional",
        ])
        .json();
    assert_eq!(reply["outcome"], "queued", "{reply}");
    let jobs = aws.runtime.block_on(async {
        aws.queue
            .receive(
                QueueName::Send,
                10,
                Duration::from_secs(30),
                Duration::from_secs(5),
            )
            .await
            .expect("receive")
    });
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job: Value = serde_json::from_str(&jobs[0].body).expect("a JSON send job");
    assert_eq!(job["message_id"], reply["message_id"]);
    assert_eq!(job["to"], "+19523140001");
    assert_eq!(job["body"], "Hi, Mary here");
    assert_eq!(job["sender"]["value"], "+19523142318");
    assert_eq!(
        (&job["user_id"], &job["manual"]),
        (&json!("mary"), &json!(true))
    );

    // Without the send queue's URL the command says which variable to set.
    let env: Vec<(&str, &str)> = aws
        .env
        .iter()
        .filter(|(k, _)| k != "SMSFLOW_SEND_QUEUE_URL")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let run = smsflow(
        &[
            "send",
            "--account",
            "acme",
            "--to",
            "+19523140001",
            "--message",
            "hi",
            "--user",
            "mary",
            "--aws",
        ],
        &env,
    );
    let stderr = run.fails_with(4);
    assert!(
        stderr.contains("hint: export SMSFLOW_SEND_QUEUE_URL=<the stack's SendQueueUrl output>"),
        "{stderr}"
    );
}
