//! The table and queues found from a deployed stack's outputs (`--stack`), a variable
//! overriding one output, what a missing stack, output, region or profile says, and a
//! profile's credentials and region.

use super::*;

impl Aws {
    /// The outputs of a deployed stack naming this table and these queues (template.yaml's
    /// names).
    fn stack_outputs(&self) -> Vec<(&'static str, String)> {
        let urls = self.queue.urls();
        let dead_letter = |queue| {
            urls.get(queue)
                .dead_letter
                .clone()
                .expect("dead-letter URL")
        };
        vec![
            ("TableName", self.store.table().to_string()),
            ("SendQueueUrl", urls.send.queue.clone()),
            ("SendDeadLetterQueueUrl", dead_letter(QueueName::Send)),
            ("AutomationQueueUrl", urls.automation.queue.clone()),
            (
                "AutomationDeadLetterQueueUrl",
                dead_letter(QueueName::Automation),
            ),
            (
                "CampaignSendFunctionUrl",
                "https://abc.lambda-url.us-east-1.on.aws/".into(),
            ),
        ]
    }

    /// Creates a stack on moto (in us-east-1, with `sdk`'s credentials) whose outputs are
    /// `outputs`: the CLI reads nothing else of the deployed stack.
    fn create_stack(&self, sdk: &aws_config::SdkConfig, outputs: &[(&str, String)]) -> String {
        let name = moto::unique_name("cli-stack");
        let outputs: serde_json::Map<String, Value> = outputs
            .iter()
            .map(|(key, value)| (key.to_string(), json!({ "Value": value })))
            .collect();
        let template = json!({
            "Resources": { "Marker": { "Type": "AWS::CloudFormation::WaitConditionHandle" } },
            "Outputs": outputs,
        });
        self.runtime.block_on(async {
            aws_sdk_cloudformation::Client::new(sdk)
                .create_stack()
                .stack_name(&name)
                .template_body(template.to_string())
                .send()
                .await
                .expect("create stack");
        });
        name
    }

    fn moto_stack(&self, outputs: &[(&str, String)]) -> String {
        let sdk = self.runtime.block_on(moto::sdk_config());
        self.create_stack(&sdk, outputs)
    }
}

#[test]
fn commands_find_the_table_and_queues_in_the_stack_outputs() {
    let aws = Aws::new();
    let stack = aws.moto_stack(&aws.stack_outputs());
    // Only the AWS environment: no SMSFLOW_TABLE, no queue URLs.
    let sdk = moto_env();
    let env = pairs(&sdk);

    let listed = smsflow(&["--json", "accounts", "list", "--stack", &stack], &env).json();
    assert_eq!(listed[0]["id"], "acme", "{listed}");
    let dead = smsflow(&["dlq", "list", "--queue", "send", "--stack", &stack], &env);
    dead.prints(&["is empty"]);

    let send_hi = [
        &["--json", "send", "--account", "acme"][..],
        &HI_FOR_MARY,
        &["--type", "transactional", "--stack", &stack],
    ]
    .concat();
    let reply = smsflow(&send_hi, &env).json();
    assert_eq!(reply["outcome"], "queued", "{reply}");
    let jobs = aws.receive(QueueName::Send, Duration::from_secs(5));
    assert_eq!(jobs.len(), 1, "{jobs:?}");

    let rotated = smsflow(
        &[
            "accounts",
            "rotate-key",
            "--account",
            "acme",
            "--stack",
            &stack,
        ],
        &env,
    );
    rotated.prints(&["  https://abc.lambda-url.us-east-1.on.aws/crm/acme/send?key="]);

    // With --aws, SMSFLOW_STACK names the stack.
    let mut named = env.clone();
    named.push(("SMSFLOW_STACK", &stack));
    let listed = smsflow(&["--json", "accounts", "list", "--aws"], &named).json();
    assert_eq!(listed[0]["id"], "acme", "{listed}");
}

#[test]
fn a_variable_overrides_its_output_alone() {
    let aws = Aws::new();
    let mut outputs = aws.stack_outputs();
    outputs[0].1 = "smsflow-not-this-table".into();
    let stack = aws.moto_stack(&outputs);
    let sdk = moto_env();
    let env = pairs(&sdk);

    let from_stack = smsflow(&["accounts", "list", "--stack", &stack], &env);
    from_stack.fails_saying(5, &["ResourceNotFoundException"]);
    let mut overridden = env.clone();
    overridden.push(("SMSFLOW_TABLE", aws.store.table()));
    let listed = smsflow(
        &["--json", "accounts", "list", "--stack", &stack],
        &overridden,
    )
    .json();
    assert_eq!(listed[0]["id"], "acme", "{listed}");
    // The queue URLs still come from the stack.
    let dead = smsflow(
        &["dlq", "list", "--queue", "automation", "--stack", &stack],
        &overridden,
    );
    dead.prints(&["is empty"]);
    // SMSFLOW_CRM_URL overrides CampaignSendFunctionUrl.
    let mut crm = overridden.clone();
    crm.push(("SMSFLOW_CRM_URL", "https://crm.example"));
    let rotated = smsflow(
        &[
            "accounts",
            "rotate-key",
            "--account",
            "acme",
            "--stack",
            &stack,
        ],
        &crm,
    );
    rotated.prints(&["  https://crm.example/crm/acme/send?key="]);
}

#[test]
fn stack_problems_name_the_flag_or_variable() {
    let aws = Aws::new();
    let stack = aws.moto_stack(&aws.stack_outputs());
    let without_dead_letters: Vec<(&str, String)> = aws
        .stack_outputs()
        .into_iter()
        .filter(|(key, _)| !key.ends_with("DeadLetterQueueUrl"))
        .collect();
    let partial = aws.moto_stack(&without_dead_letters);
    let config = aws.local.config.as_str();

    struct Case<'a> {
        name: &'a str,
        args: Vec<&'a str>,
        /// Changes to the AWS environment: (variable, None) removes it.
        env: Vec<(&'a str, Option<&'a str>)>,
        code: i32,
        stderr: Vec<&'a str>,
    }
    let cases = [
        Case {
            name: "a stack that does not exist",
            args: vec!["accounts", "list", "--stack", "smsflow-nowhere"],
            env: vec![],
            code: 3,
            stderr: vec![
                "error: stack smsflow-nowhere does not exist in region us-east-1",
                "hint: check the name",
            ],
        },
        Case {
            name: "the stack is looked for in --region",
            args: vec![
                "accounts",
                "list",
                "--stack",
                &stack,
                "--region",
                "eu-west-1",
            ],
            env: vec![],
            code: 3,
            stderr: vec!["does not exist in region eu-west-1", "--region"],
        },
        Case {
            name: "--region wins over AWS_REGION",
            args: vec![
                "accounts",
                "list",
                "--stack",
                &stack,
                "--region",
                "us-east-1",
            ],
            env: vec![("AWS_REGION", Some("eu-west-1"))],
            code: 0,
            stderr: vec![],
        },
        Case {
            name: "a stack without an output the command needs",
            args: vec!["dlq", "list", "--queue", "send", "--stack", &partial],
            env: vec![],
            code: 4,
            stderr: vec![
                "has no output SendDeadLetterQueueUrl",
                "export SMSFLOW_SEND_DLQ_URL=",
            ],
        },
        Case {
            name: "a stack without an output the command does not need",
            args: vec!["accounts", "list", "--stack", &partial],
            env: vec![],
            code: 0,
            stderr: vec![],
        },
        Case {
            name: "no stack and no variable",
            args: vec!["accounts", "list", "--aws"],
            env: vec![],
            code: 4,
            stderr: vec![
                "error: SMSFLOW_TABLE is not set",
                "pass --stack NAME (or set SMSFLOW_STACK)",
            ],
        },
        Case {
            name: "no region anywhere",
            args: vec!["accounts", "list", "--stack", &stack],
            env: vec![("AWS_REGION", None)],
            code: 4,
            stderr: vec!["no AWS region", "pass --region REGION"],
        },
        Case {
            name: "a profile that does not exist",
            args: vec!["accounts", "list", "--stack", &stack, "--profile", "nobody"],
            env: vec![],
            code: 4,
            stderr: vec![
                "no AWS credentials (profile nobody)",
                "hint: pass --profile",
            ],
        },
        Case {
            name: "SMSFLOW_STACK alone keeps the local database",
            args: vec!["accounts", "list", "--config", config],
            env: vec![("SMSFLOW_STACK", Some("smsflow-nowhere"))],
            code: 0,
            stderr: vec![],
        },
        Case {
            name: "--create-table needs an AWS target",
            args: vec!["accounts", "list", "--create-table", "--config", config],
            env: vec![],
            code: 2,
            stderr: vec!["--create-table"],
        },
    ];
    for case in cases {
        let mut env = moto_env();
        for (var, value) in &case.env {
            env.retain(|(k, _)| k != var);
            if let Some(value) = value {
                env.push((var.to_string(), value.to_string()));
            }
        }
        let run = smsflow(&case.args, &pairs(&env));
        assert_eq!(
            run.code, case.code,
            "{}: stdout {}\nstderr {}",
            case.name, run.stdout, run.stderr
        );
        for expected in &case.stderr {
            assert!(
                run.stderr.contains(expected),
                "{}: {expected:?} not in {}",
                case.name,
                run.stderr
            );
        }
    }
}

/// A role in another account: moto maps the credentials AssumeRole returns to the role's
/// account.
const OTHER_ROLE: &str = "arn:aws:iam::111111111111:role/smsflow-admin";

/// Profile `other` assumes that role, with its region.
fn profiles() -> String {
    format!(
        "[profile base]\n\
         aws_access_key_id = test\n\
         aws_secret_access_key = test\n\n\
         [profile other]\n\
         role_arn = {OTHER_ROLE}\n\
         source_profile = base\n\
         region = us-east-1\n"
    )
}

#[test]
fn profile_gives_credentials_and_region_as_the_aws_cli_does() {
    let aws = Aws::new();
    let config_file = aws.local.file("aws-config", &profiles());
    // The test's own clients assume the same role.
    let other = aws.runtime.block_on(async {
        let moto = moto::sdk_config().await;
        let role = aws_config::sts::AssumeRoleProvider::builder(OTHER_ROLE)
            .session_name("cli-tests")
            .configure(&moto)
            .build()
            .await;
        moto.into_builder()
            .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
                role,
            ))
            .build()
    });
    let table = aws.runtime.block_on(async {
        let table = moto::unique_name("cli-other");
        create_table(&aws_sdk_dynamodb::Client::new(&other), &table)
            .await
            .expect("create table in the other account");
        table
    });
    let stack = aws.create_stack(&other, &[("TableName", table)]);

    // The environment's keys belong to the default account: the profile's credentials are
    // used, and its region (AWS_REGION is not set).
    let env = [
        ("AWS_ENDPOINT_URL", moto::endpoint()),
        ("AWS_CONFIG_FILE", config_file.clone()),
        ("AWS_ACCESS_KEY_ID", "test".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let on_profile = ["--stack", stack.as_str(), "--profile", "other"];
    let pushed = smsflow(
        &[
            &["accounts", "push", "--config", &aws.local.config],
            &on_profile[..],
        ]
        .concat(),
        &env,
    );
    pushed.ok();
    let listed = smsflow(
        &[&["--json", "accounts", "list"], &on_profile[..]].concat(),
        &env,
    )
    .json();
    assert_eq!(listed[0]["id"], "acme", "{listed}");

    // Without --profile the environment's keys are used: the stack is in another account.
    let mut default_account = env.clone();
    default_account.push(("AWS_REGION", "us-east-1"));
    let elsewhere = smsflow(&["accounts", "list", "--stack", &stack], &default_account);
    assert!(
        elsewhere.fails_with(3).contains("does not exist"),
        "{}",
        elsewhere.stderr
    );
}

#[test]
fn numbers_point_at_the_stacks_inbound_webhook_url() {
    use smsflow_shared::domain::{Secret, TwilioCredentials};
    use smsflow_tests::example::{ACME_AUTH_TOKEN, ACME_TWILIO_SID};
    use smsflow_tests::twilio_numbers::{Offer, TwilioNumbersMock};

    let aws = Aws::new();
    let acme = TwilioCredentials {
        account_sid: ACME_TWILIO_SID.into(),
        auth_token: Secret::new(ACME_AUTH_TOKEN),
        api_key: None,
        messaging_service_sids: vec![],
    };
    let mock = aws.runtime.block_on(TwilioNumbersMock::start(&[acme]));
    mock.offer(Offer::local("+19525550101", "Minneapolis", "MN"));
    let inbound = "https://abc.execute-api.us-east-1.amazonaws.com/twilio/inbound";
    let mut outputs = aws.stack_outputs();
    outputs.push(("TwilioInboundWebhookUrl", inbound.into()));
    let stack = aws.moto_stack(&outputs);
    let mut env = moto_env();
    env.push(("SMSFLOW_TWILIO_API_BASE_URL".into(), mock.base_url()));
    let env = pairs(&env);

    let buy = [
        "--json",
        "numbers",
        "buy",
        "--account",
        "acme",
        "+19525550101",
        "--backup-email",
        "sales@acme.example",
        "--stack",
        &stack,
    ];
    let bought = smsflow(&buy, &env).json();
    assert_eq!(bought["sms_url"], inbound, "{bought}");
    let owned = mock.owned_by(ACME_TWILIO_SID);
    assert_eq!(owned[0].sms_url.as_deref(), Some(inbound));
    let listed = smsflow(
        &[
            "--json",
            "numbers",
            "list",
            "--account",
            "acme",
            "--stack",
            &stack,
        ],
        &env,
    )
    .json();
    assert!(
        texts(&listed, "number").contains(&"+19525550101"),
        "{listed}"
    );
    // The example's own numbers are not in the mock's Twilio account.
    let check = smsflow(&["--json", "numbers", "check", "--stack", &stack], &env);
    assert_eq!(check.code, 4, "{}", check.stderr);
    let report: Value = serde_json::from_str(&check.stdout).expect("report");
    let states: Vec<(&str, &str)> = (report["numbers"].as_array().expect("rows").iter())
        .map(|row| {
            (
                row["number"].as_str().unwrap_or_default(),
                row["state"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("+19523142318", "not_in_twilio"),
            ("+18885550100", "not_in_twilio"),
            ("+19525550101", "ok")
        ]
    );
    // Without the output, the commands that need it say how to give it.
    let bare = aws.moto_stack(&aws.stack_outputs());
    smsflow(&["numbers", "check", "--stack", &bare], &env).fails_saying(
        4,
        &["has no output TwilioInboundWebhookUrl", "--webhook-url"],
    );
}
