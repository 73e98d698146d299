//! The operator commands on AWS, against moto: DynamoDB for the store, SQS for the
//! dead-letter queues and the send queue, CloudFormation for the stack outputs that name
//! them (`--stack`, `--profile`, `--region`). Set SMSFLOW_TEST_AWS_ENDPOINT
//! (./scripts/test.sh starts moto).

use std::time::Duration;

use serde_json::{Value, json};
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::{SqsQueue, create_queues};
use smsflow_shared::config::QueueUrls;
use smsflow_shared::domain::{Direction, KeyHash, MessageRecord, MessageStatus, PhoneNumber};
use smsflow_shared::ports::{
    ConversationStore, JobFailure, JobFailureStore, JobQueue, OutgoingMessage, QueueName,
    QueueReceiver, ReceivedMessage,
};
use smsflow_tests::moto;

use crate::support::{
    HI_FOR_MARY, Local, Operator, Run, message, moto_env, pairs, recently, smsflow, texts,
};

mod stack;

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

    /// Runs `args` with `--aws` in this environment less `variable`.
    fn run_without(&self, variable: &str, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = pairs(&self.env)
            .into_iter()
            .filter(|(k, _)| *k != variable)
            .collect();
        smsflow(&[args, &["--aws"]].concat(), &env)
    }

    /// Up to 10 messages of `queue`, hidden for 30 s, waiting up to `wait` for the first.
    fn receive(&self, queue: QueueName, wait: Duration) -> Vec<ReceivedMessage> {
        self.runtime.block_on(async {
            self.queue
                .receive(queue, 10, Duration::from_secs(30), wait)
                .await
                .expect("receive")
        })
    }
}

impl Operator for Aws {
    fn run(&self, args: &[&str]) -> Run {
        smsflow(&[args, &["--aws"]].concat(), &pairs(&self.env))
    }
}

fn aws_env(store: &DynamoStore, urls: &QueueUrls) -> Vec<(String, String)> {
    let mut env = moto_env();
    env.push(("SMSFLOW_TABLE".into(), store.table().to_string()));
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
    let rotated = aws.json(&["accounts", "rotate-key", "--account", "acme"]);
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
    with_url.prints(&["https://abc.lambda-url.us-east-1.on.aws/crm/acme/send?key="]);
    let shown = aws.json(&["accounts", "show", "--account", "acme"]);
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
    let shared_email = aws.run(&[
        "users",
        "add",
        "--account",
        "acme",
        "--id",
        "ann",
        "--name",
        "Ann",
        "--email",
        "ZOE@acme.example",
    ]);
    assert!(
        shared_email
            .fails_with(4)
            .contains("user zoe of account acme already has the e-mail zoe@acme.example"),
        "{}",
        shared_email.stderr
    );
    aws.run(&["users", "remove", "--account", "acme", "--id", "john"])
        .ok();
    let shown = aws.json(&["accounts", "show", "--account", "acme"]);
    assert_eq!(shown["queue_limit"], 9);
    let numbers = texts(&shown["numbers"], "number");
    assert_eq!(numbers, vec!["+19523142318", "+19523149999"]);
    let users = texts(&shown["users"], "id");
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
    let run = aws.run_without("SMSFLOW_TABLE", &["accounts", "show", "--account", "acme"]);
    run.fails_saying(
        4,
        &[
            "SMSFLOW_TABLE is not set",
            "pass --stack NAME",
            "export SMSFLOW_TABLE=",
        ],
    );
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
            let record = MessageRecord {
                provider_sid: None,
                ..message(n, contact, direction, MessageStatus::Delivered)
            };
            aws.store.record_message(&record).await.expect("record");
        }
    });
    let listed = aws.json(&["conversations", "list", "--account", "acme"]);
    let phones = texts(&listed, "phone");
    assert_eq!(phones, vec!["+19523140001", "+19523140002"]);
    let thread = aws.json(&["conversations", "show", "--account", "acme", "952-314-0001"]);
    let bodies = texts(&thread["messages"], "body");
    assert_eq!(bodies, vec!["message 1", "message 3"]);
    aws.run(&["conversations", "show", "--account", "acme", "+19523140002"])
        .prints(&["2024-05-01 12:02:00 UTC  -> out  delivered\n    message 2"]);
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
    let listed = aws.json(&["dlq", "list", "--queue", "automation"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["message_id"], dead_id.as_str());
    assert_eq!(listed[0]["kind"], "apply_tag");
    assert_eq!(listed[0]["details"]["tag"], "sms-replied");
    assert_eq!(listed[0]["last_error"]["error"], "keap answered 503");
    aws.run(&["dlq", "list", "--queue", "automation"])
        .prints(&[" UTC): keap answered 503"]);
    assert!(
        aws.run(&["dlq", "list", "--queue", "send"])
            .ok()
            .contains("is empty")
    );

    let moved = aws.json(&["dlq", "redrive", "--queue", "automation"]);
    assert_eq!(moved["moved"][0]["dead_letter_id"], dead_id.as_str());
    assert_eq!(moved["moved"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        aws.json(&["dlq", "list", "--queue", "automation"]),
        json!([])
    );
    let back = aws.receive(QueueName::Automation, Duration::ZERO);
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].body, body);

    // Without the dead-letter URL the command says which variable to set.
    let run = aws.run_without("SMSFLOW_SEND_DLQ_URL", &["dlq", "list", "--queue", "send"]);
    run.fails_saying(
        4,
        &["export SMSFLOW_SEND_DLQ_URL=<the stack's SendDeadLetterQueueUrl output>"],
    );
}

#[test]
fn send_queues_the_job_on_sqs() {
    let aws = Aws::new();
    let reply = aws.json(&[
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
    ]);
    assert_eq!(reply["outcome"], "queued", "{reply}");
    let jobs = aws.receive(QueueName::Send, Duration::from_secs(5));
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
    let send_hi = [&["send", "--account", "acme"][..], &HI_FOR_MARY].concat();
    let run = aws.run_without("SMSFLOW_SEND_QUEUE_URL", &send_hi);
    run.fails_saying(
        4,
        &["export SMSFLOW_SEND_QUEUE_URL=<the stack's SendQueueUrl output>"],
    );
}
