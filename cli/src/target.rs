//! Where an admin command acts: the local database of `smsflow serve` (the default) or the
//! AWS deployment. On AWS the table, queues and CRM URL are the deployed stack's outputs
//! (`--stack`, read with CloudFormation DescribeStacks), each overridden by its SMSFLOW_*
//! variable when set; credentials and region follow `--profile` / `--region` as the AWS CLI
//! does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use clap::{ArgGroup, Args};
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::SqsQueue;
use smsflow_shared::adapters::aws::wiring::app_from_sdk;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use smsflow_shared::app::App;
use smsflow_shared::config::{
    AUTOMATION_DLQ_URL_VAR, AUTOMATION_QUEUE_URL_VAR, EnvError, FunctionEnv, LocalConfig, QueueUrl,
    QueueUrls, SEND_DLQ_URL_VAR, SEND_QUEUE_URL_VAR,
};
use smsflow_shared::local::{self, LocalError, LocalRuntime};
use smsflow_shared::ports::{JobQueue, QueueName, QueueReceiver, Store, SystemClock};

use crate::output::{CliError, CliResult, ErrorKind};

/// The variable naming the stack when `--stack` is not given.
pub const STACK_VAR: &str = "SMSFLOW_STACK";

#[derive(Args, Debug, Clone)]
#[command(group(
    ArgGroup::new("aws_target")
        .args(["aws", "stack", "profile", "region"])
        .multiple(true)
))]
pub struct Target {
    /// Act on the AWS deployment instead of the local database. Implied by --stack,
    /// --profile and --region. Without --stack: the stack named by SMSFLOW_STACK, or only
    /// the SMSFLOW_* variables.
    #[arg(long)]
    pub aws: bool,
    /// The deployed stack (the name given to `sam deploy`): its outputs name the table, the
    /// queues and the CRM URL. A set SMSFLOW_TABLE, SMSFLOW_SEND_QUEUE_URL... overrides its
    /// output.
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The AWS profile for credentials and region, as `aws --profile` (its credentials win
    /// over AWS_ACCESS_KEY_ID).
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// The AWS region, as `aws --region` (default: AWS_REGION, then the profile's region).
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// On AWS: create the table first if it does not exist (moto / local setups).
    #[arg(long, requires = "aws_target")]
    pub create_table: bool,
}

impl Target {
    /// Whether the command acts on AWS. SMSFLOW_STACK alone does not switch: a variable
    /// left in the shell must not turn a local command into one on a deployment.
    pub fn is_aws(&self) -> bool {
        self.aws || self.stack.is_some() || self.profile.is_some() || self.region.is_some()
    }

    /// The AWS deployment the target names, or `None` for the local database. Loads the
    /// SDK configuration and reads the stack once; call it once per command.
    pub async fn deployment(&self) -> CliResult<Option<Deployment>> {
        if !self.is_aws() {
            return Ok(None);
        }
        let sdk = sdk_config(self).await?;
        let stack_name = self
            .stack
            .clone()
            .or_else(|| std::env::var(STACK_VAR).ok())
            .filter(|name| !name.trim().is_empty());
        let stack = match stack_name {
            Some(name) => Some(describe_stack(&sdk, &name).await?),
            None => None,
        };
        let env = Setting::ALL
            .into_iter()
            .filter_map(|s| {
                let value = std::env::var(s.var()).ok()?;
                (!value.trim().is_empty()).then_some((s, value))
            })
            .collect();
        Ok(Some(Deployment {
            sdk,
            names: Names { env, stack },
            create_table: self.create_table,
        }))
    }
}

/// A target plus the configuration file that locates the local database.
#[derive(Args, Debug, Clone)]
pub struct Location {
    /// The configuration file of the local setup (its data_dir holds the database); not
    /// read on AWS.
    #[arg(long, short, default_value = "smsflow.toml", env = "SMSFLOW_CONFIG")]
    pub config: PathBuf,
    #[command(flatten)]
    pub target: Target,
}

/// The queue operations the CLI uses.
pub trait AdminQueue: JobQueue + QueueReceiver {}
impl<T: JobQueue + QueueReceiver> AdminQueue for T {}

pub fn load(path: &Path) -> CliResult<LocalConfig> {
    Ok(LocalConfig::load(path)?)
}

// ---------------------------------------------------------------- names

/// A name the CLI reads from a stack output, or from the variable that overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    Table,
    SendQueue,
    SendDeadLetterQueue,
    AutomationQueue,
    AutomationDeadLetterQueue,
    /// The base URL of the CRM-facing routes (for the send URL `accounts rotate-key` prints).
    CrmUrl,
}

impl Setting {
    const ALL: [Setting; 6] = [
        Setting::Table,
        Setting::SendQueue,
        Setting::SendDeadLetterQueue,
        Setting::AutomationQueue,
        Setting::AutomationDeadLetterQueue,
        Setting::CrmUrl,
    ];

    /// The environment variable that overrides the output.
    pub fn var(self) -> &'static str {
        match self {
            Setting::Table => "SMSFLOW_TABLE",
            Setting::SendQueue => SEND_QUEUE_URL_VAR,
            Setting::SendDeadLetterQueue => SEND_DLQ_URL_VAR,
            Setting::AutomationQueue => AUTOMATION_QUEUE_URL_VAR,
            Setting::AutomationDeadLetterQueue => AUTOMATION_DLQ_URL_VAR,
            Setting::CrmUrl => "SMSFLOW_CRM_URL",
        }
    }

    /// The stack output (template.yaml's Outputs).
    pub fn output(self) -> &'static str {
        match self {
            Setting::Table => "TableName",
            Setting::SendQueue => "SendQueueUrl",
            Setting::SendDeadLetterQueue => "SendDeadLetterQueueUrl",
            Setting::AutomationQueue => "AutomationQueueUrl",
            Setting::AutomationDeadLetterQueue => "AutomationDeadLetterQueueUrl",
            Setting::CrmUrl => "CampaignSendFunctionUrl",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Setting::Table => "the DynamoDB table",
            Setting::SendQueue => "the send queue's URL",
            Setting::SendDeadLetterQueue => "the send dead-letter queue's URL",
            Setting::AutomationQueue => "the automation queue's URL",
            Setting::AutomationDeadLetterQueue => "the automation dead-letter queue's URL",
            Setting::CrmUrl => "the campaign-send function's URL",
        }
    }

    fn of_var(var: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.var() == var)
    }

    fn dead_letters_of(queue: QueueName) -> Setting {
        match queue {
            QueueName::Send => Setting::SendDeadLetterQueue,
            QueueName::Automation => Setting::AutomationDeadLetterQueue,
        }
    }
}

/// A deployed stack's outputs.
#[derive(Debug, Clone)]
struct StackOutputs {
    name: String,
    status: String,
    outputs: HashMap<String, String>,
}

/// Where the names come from: the variables set, then the stack's outputs.
#[derive(Debug, Clone)]
struct Names {
    env: HashMap<Setting, String>,
    stack: Option<StackOutputs>,
}

impl Names {
    fn get(&self, setting: Setting) -> Option<String> {
        self.env.get(&setting).cloned().or_else(|| {
            let stack = self.stack.as_ref()?;
            stack.outputs.get(setting.output()).cloned()
        })
    }

    fn require(&self, setting: Setting) -> CliResult<String> {
        self.get(setting).ok_or_else(|| self.missing(setting))
    }

    /// Names what is missing and where it would come from.
    fn missing(&self, setting: Setting) -> CliError {
        let (var, output) = (setting.var(), setting.output());
        match &self.stack {
            Some(stack) => CliError::invalid(format!(
                "stack {} ({}) has no output {output} ({})",
                stack.name,
                stack.status,
                setting.what()
            ))
            .with_hint(format!(
                "is it an smsflow stack, deployed from this version's template.yaml? \
                 Deploy it again (`sam deploy`), or export {var}=<the {}>",
                setting.what().trim_start_matches("the ")
            )),
            None => CliError::invalid(format!("{var} is not set ({})", setting.what())).with_hint(
                format!(
                    "pass --stack NAME (or set {STACK_VAR}) to read the deployed stack's \
                     outputs, or export {var}=<the stack's {output} output>"
                ),
            ),
        }
    }

    /// The queue URLs, with the dead-letter queue of `dead_letters_of` required.
    fn queue_urls(&self, dead_letters_of: Option<QueueName>) -> CliResult<QueueUrls> {
        if let Some(queue) = dead_letters_of {
            self.require(Setting::dead_letters_of(queue))?;
        }
        let url = |queue, dead_letter| -> CliResult<QueueUrl> {
            Ok(QueueUrl {
                queue: self.require(queue)?,
                dead_letter: self.get(dead_letter),
            })
        };
        Ok(QueueUrls {
            send: url(Setting::SendQueue, Setting::SendDeadLetterQueue)?,
            automation: url(Setting::AutomationQueue, Setting::AutomationDeadLetterQueue)?,
        })
    }

    /// The environment the Lambda functions get, with the stack's outputs for what is not
    /// set.
    fn function_env(&self) -> CliResult<FunctionEnv> {
        FunctionEnv::from_lookup(|var| match Setting::of_var(var) {
            Some(setting) => self.get(setting),
            None => std::env::var(var).ok(),
        })
        .map_err(|e: EnvError| match Setting::of_var(e.name) {
            Some(setting) => self.missing(setting),
            None => CliError::invalid(e.to_string()),
        })
    }
}

// ---------------------------------------------------------------- AWS

/// The AWS deployment a command acts on: the SDK configuration and the names it uses.
pub struct Deployment {
    sdk: SdkConfig,
    names: Names,
    create_table: bool,
}

impl Deployment {
    /// The base URL of the CRM-facing routes, if the stack or SMSFLOW_CRM_URL gives it.
    pub fn crm_url(&self) -> Option<String> {
        self.names.get(Setting::CrmUrl)
    }

    pub async fn store(&self) -> CliResult<Arc<dyn Store>> {
        let table = self.names.require(Setting::Table)?;
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        if self.create_table {
            create_table(&client, &table)
                .await
                .map_err(|e| CliError::from(e).context(format!("cannot create table {table}")))?;
        }
        Ok(Arc::new(DynamoStore::new(client, table)))
    }

    async fn app(&self) -> CliResult<Arc<App>> {
        let env = self.names.function_env()?;
        if self.create_table {
            self.store().await?;
        }
        let app = app_from_sdk(&self.sdk, &env)
            .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
        Ok(Arc::new(app))
    }
}

const CREDENTIALS_HINT: &str = "pass --profile NAME (a profile of ~/.aws/config; `aws configure \
     list-profiles` lists them), or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/// The SDK configuration with `--profile` and `--region` applied as the AWS CLI applies
/// them: `--region` over AWS_REGION over the profile's region, and the profile's
/// credentials over those in the environment.
async fn sdk_config(target: &Target) -> CliResult<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let mut sdk = loader.load().await;
    if let Some(profile) = &target.profile {
        // The SDK's default chain reads AWS_ACCESS_KEY_ID before the named profile; the
        // AWS CLI uses the profile's credentials.
        let provider = ProfileFileCredentialsProvider::builder()
            .configure(&ProviderConfig::default().with_region(sdk.region().cloned()))
            .profile_name(profile)
            .build();
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    check_credentials(&sdk, target).await?;
    if sdk.region().is_none() {
        return Err(CliError::invalid("no AWS region is configured").with_hint(
            "pass --region REGION, or set AWS_REGION, or a region in the profile (~/.aws/config)",
        ));
    }
    Ok(sdk)
}

/// Resolves the credentials now, so that a missing profile or credentials is reported as
/// such rather than as a failed request.
async fn check_credentials(sdk: &SdkConfig, target: &Target) -> CliResult {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(CliError::invalid("no AWS credentials provider").with_hint(CREDENTIALS_HINT));
    };
    let profile = match &target.profile {
        Some(name) => format!(" (profile {name})"),
        None => String::new(),
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(
            e @ (CredentialsError::CredentialsNotLoaded(_)
            | CredentialsError::InvalidConfiguration(_)),
        ) => Err(CliError::invalid(format!(
            "no AWS credentials{profile}: {}",
            DisplayErrorContext(&e)
        ))
        .with_hint(CREDENTIALS_HINT)),
        Err(e) => Err(CliError::new(
            ErrorKind::Backend,
            format!(
                "cannot get AWS credentials{profile}: {}",
                DisplayErrorContext(&e)
            ),
        )
        .with_hint("check the connection and the profile, then run the command again")),
    }
}

/// The outputs of stack `name` (DescribeStacks).
async fn describe_stack(sdk: &SdkConfig, name: &str) -> CliResult<StackOutputs> {
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let not_found = || {
        CliError::not_found(format!("stack {name} does not exist in region {region}")).with_hint(
            "check the name (`aws cloudformation list-stacks`) and the region and account: \
             --region, --profile",
        )
    };
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let described = match client.describe_stacks().stack_name(name).send().await {
        Ok(described) => described,
        // CloudFormation answers a missing stack with a generic validation error.
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            return Err(not_found());
        }
        Err(e) => {
            return Err(CliError::new(
                ErrorKind::Backend,
                format!("cannot read stack {name}: {}", DisplayErrorContext(&e)),
            )
            .with_hint(
                "check the connection and the credentials (--profile, AWS_PROFILE; the caller \
                 needs cloudformation:DescribeStacks), then run the command again",
            ));
        }
    };
    let stack = described.stacks().first().ok_or_else(not_found)?;
    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect();
    Ok(StackOutputs {
        name: name.to_string(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        outputs,
    })
}

// ---------------------------------------------------------------- local

fn open_local_db(config: &LocalConfig) -> CliResult<EmbeddedDb> {
    let path = local::database_path(config);
    EmbeddedDb::open(&path).map_err(|e| {
        CliError::new(ErrorKind::Backend, format!("{}: {e}", path.display())).with_hint(
            "is `smsflow serve` running on it? Stop it first, or use its /_sandbox routes",
        )
    })
}

impl Location {
    /// The store of the target.
    pub async fn store(&self) -> CliResult<Arc<dyn Store>> {
        match self.target.deployment().await? {
            Some(aws) => aws.store().await,
            None => self.local_store(),
        }
    }

    /// The store of the local database.
    pub fn local_store(&self) -> CliResult<Arc<dyn Store>> {
        let db = open_local_db(&load(&self.config)?)?;
        Ok(Arc::new(EmbeddedStore::new(db)))
    }

    /// The store and the queues of the target, for a command that reads the dead letters of
    /// `dead_letters_of` (on AWS its dead-letter queue's URL is required).
    pub async fn store_and_queue(
        &self,
        dead_letters_of: QueueName,
    ) -> CliResult<(Arc<dyn Store>, Arc<dyn AdminQueue>)> {
        if let Some(aws) = self.target.deployment().await? {
            let urls = aws.names.queue_urls(Some(dead_letters_of))?;
            let store = aws.store().await?;
            let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws.sdk), urls);
            return Ok((store, Arc::new(queue)));
        }
        let db = open_local_db(&load(&self.config)?)?;
        let queue = EmbeddedQueue::new(db.clone(), Arc::new(SystemClock));
        Ok((Arc::new(EmbeddedStore::new(db)), Arc::new(queue)))
    }

    /// The whole application of the target, as the Lambda functions or `smsflow serve`
    /// build it, for commands that go through a use case (`smsflow send`). Locally: the
    /// embedded store and queues with the sandbox carrier and CRM; on AWS: the table, the
    /// queues and the real CRMs.
    pub async fn app(&self) -> CliResult<Arc<App>> {
        if let Some(aws) = self.target.deployment().await? {
            return aws.app().await;
        }
        let config = load(&self.config)?;
        let db = open_local_db(&config).map_err(|e| {
            e.with_hint(
                "is `smsflow serve` running on it? Stop it first (it sends the message when it \
                 starts again), or POST the request to its /crm/ACCOUNT/send route with the \
                 account's key",
            )
        })?;
        let public_base_url = Some(config.server.public_base_url.clone());
        let runtime = LocalRuntime::build_on(db, &config, public_base_url)
            .await
            .map_err(|e| match e {
                LocalError::Account { .. } => {
                    CliError::new(ErrorKind::Backend, e.to_string()).with_hint(
                        "the local database failed; check the disk under the configuration's data_dir and run the command again",
                    )
                }
                other => CliError::new(ErrorKind::Internal, other.to_string()),
            })?;
        Ok(runtime.app)
    }
}

/// The store of `target` for a loaded configuration (the commands that read the file
/// anyway).
pub async fn open_store(config: &LocalConfig, target: &Target) -> CliResult<Arc<dyn Store>> {
    match target.deployment().await? {
        Some(aws) => aws.store().await,
        None => Ok(Arc::new(EmbeddedStore::new(open_local_db(config)?))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(env: &[(Setting, &str)], outputs: Option<&[(&str, &str)]>) -> Names {
        Names {
            env: env.iter().map(|(s, v)| (*s, v.to_string())).collect(),
            stack: outputs.map(|outputs| StackOutputs {
                name: "prod".into(),
                status: "UPDATE_COMPLETE".into(),
                outputs: outputs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
        }
    }

    #[test]
    fn variables_override_outputs_one_by_one() {
        let names = names(
            &[(Setting::Table, "from-env")],
            Some(&[
                ("TableName", "from-stack"),
                ("SendQueueUrl", "https://q/send"),
            ]),
        );
        assert_eq!(names.get(Setting::Table).as_deref(), Some("from-env"));
        assert_eq!(
            names.get(Setting::SendQueue).as_deref(),
            Some("https://q/send")
        );
        assert_eq!(names.get(Setting::CrmUrl), None);
    }

    #[test]
    fn a_missing_name_says_where_it_comes_from() {
        let cases = [
            (
                names(&[], None),
                "SMSFLOW_TABLE is not set (the DynamoDB table)",
                "pass --stack NAME (or set SMSFLOW_STACK)",
            ),
            (
                names(&[], Some(&[])),
                "stack prod (UPDATE_COMPLETE) has no output TableName (the DynamoDB table)",
                "export SMSFLOW_TABLE=<the DynamoDB table>",
            ),
        ];
        for (names, message, hint) in cases {
            let error = names.require(Setting::Table).expect_err("missing");
            assert_eq!(error.kind, ErrorKind::InvalidInput);
            assert_eq!(error.message, message);
            let got = error.hint.unwrap_or_default();
            assert!(got.contains(hint), "{got}");
        }
    }

    #[test]
    fn queue_urls_require_the_dead_letter_queue_read() {
        let all = [
            ("SendQueueUrl", "https://q/send"),
            ("AutomationQueueUrl", "https://q/automation"),
            ("AutomationDeadLetterQueueUrl", "https://q/automation-dlq"),
        ];
        let names = names(&[], Some(&all));
        let urls = names
            .queue_urls(Some(QueueName::Automation))
            .expect("the automation dead letters are named");
        assert_eq!(urls.send.dead_letter, None);
        assert_eq!(
            urls.automation.dead_letter.as_deref(),
            Some("https://q/automation-dlq")
        );
        let error = names
            .queue_urls(Some(QueueName::Send))
            .expect_err("no send dead-letter queue");
        assert!(
            error
                .message
                .contains("has no output SendDeadLetterQueueUrl"),
            "{}",
            error.message
        );
    }

    #[test]
    fn function_env_reads_outputs_and_names_what_is_missing() {
        let outputs = [("TableName", "t"), ("SendQueueUrl", "https://q/send")];
        let error = names(&[], Some(&outputs))
            .function_env()
            .expect_err("no automation queue");
        assert!(
            error.message.contains("has no output AutomationQueueUrl"),
            "{}",
            error.message
        );
        let env = names(
            &[(Setting::AutomationQueue, "https://q/automation")],
            Some(&outputs),
        )
        .function_env()
        .expect("complete");
        assert_eq!(env.table, "t");
        assert_eq!(env.queues.automation.queue, "https://q/automation");
    }
}
