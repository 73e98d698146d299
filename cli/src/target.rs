//! Where an admin command acts: the local database of `smsflow serve` (the default) or the
//! AWS deployment (`--aws`: the table and queues named by the stack's outputs, with the
//! usual AWS environment).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Args;
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::sqs::{QueueUrls, SqsQueue};
use smsflow_shared::adapters::aws::wiring::app_from_env;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use smsflow_shared::app::App;
use smsflow_shared::config::{EnvError, FunctionEnv, LocalConfig};
use smsflow_shared::local::{self, LocalError, LocalRuntime};
use smsflow_shared::ports::{JobQueue, QueueReceiver, Store, SystemClock};

use crate::output::{CliError, CliResult, ErrorKind};

#[derive(Args, Debug, Clone)]
pub struct Target {
    /// Use the AWS deployment: the DynamoDB table named by SMSFLOW_TABLE, with the usual
    /// AWS environment (AWS_PROFILE / AWS_REGION / AWS_ENDPOINT_URL...).
    #[arg(long)]
    pub aws: bool,
    /// With --aws: create the table first if it does not exist (moto / local setups).
    #[arg(long, requires = "aws")]
    pub create_table: bool,
}

/// A target plus the configuration file that locates the local database.
#[derive(Args, Debug, Clone)]
pub struct Location {
    /// The configuration file of the local setup (its data_dir holds the database); not
    /// read with --aws.
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

fn missing_env(var: &str, what: &str, output: &str) -> CliError {
    CliError::invalid(format!("{var} is not set ({what})")).with_hint(format!(
        "export {var}=<the stack's {output} output> (aws cloudformation describe-stacks --stack-name STACK)"
    ))
}

async fn aws_sdk() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}

fn open_local_db(config: &LocalConfig) -> CliResult<EmbeddedDb> {
    let path = local::database_path(config);
    EmbeddedDb::open(&path).map_err(|e| {
        CliError::new(ErrorKind::Backend, format!("{}: {e}", path.display())).with_hint(
            "is `smsflow serve` running on it? Stop it first, or use its /_sandbox routes",
        )
    })
}

async fn dynamo_store(target: &Target) -> CliResult<Arc<dyn Store>> {
    let table = std::env::var("SMSFLOW_TABLE").map_err(|_| {
        missing_env(
            "SMSFLOW_TABLE",
            "the DynamoDB table of the stack; see the stack outputs",
            "TableName",
        )
    })?;
    let client = aws_sdk_dynamodb::Client::new(&aws_sdk().await);
    if target.create_table {
        create_table(&client, &table)
            .await
            .map_err(|e| CliError::from(e).context(format!("cannot create table {table}")))?;
    }
    Ok(Arc::new(DynamoStore::new(client, table)))
}

impl Location {
    /// The store of the target.
    pub async fn store(&self) -> CliResult<Arc<dyn Store>> {
        if self.target.aws {
            return dynamo_store(&self.target).await;
        }
        let db = open_local_db(&load(&self.config)?)?;
        Ok(Arc::new(EmbeddedStore::new(db)))
    }

    /// The store and the queues of the target. On AWS the queue URLs come from
    /// SMSFLOW_SEND_QUEUE_URL / SMSFLOW_AUTOMATION_QUEUE_URL and their dead-letter queues
    /// from SMSFLOW_SEND_DLQ_URL / SMSFLOW_AUTOMATION_DLQ_URL.
    pub async fn store_and_queue(&self) -> CliResult<(Arc<dyn Store>, Arc<dyn AdminQueue>)> {
        if self.target.aws {
            let store = dynamo_store(&self.target).await?;
            let urls = QueueUrls::from_env().map_err(|e| {
                CliError::invalid(e.to_string()).with_hint(
                    "export the queue URLs from the stack outputs (SendQueueUrl, \
                     SendDeadLetterQueueUrl, AutomationQueueUrl, AutomationDeadLetterQueueUrl)",
                )
            })?;
            let queue = SqsQueue::new(aws_sdk_sqs::Client::new(&aws_sdk().await), urls);
            return Ok((store, Arc::new(queue)));
        }
        let db = open_local_db(&load(&self.config)?)?;
        let queue = EmbeddedQueue::new(db.clone(), Arc::new(SystemClock));
        Ok((Arc::new(EmbeddedStore::new(db)), Arc::new(queue)))
    }
}

/// What the stack output named by an environment variable the application reads holds.
fn env_error(e: EnvError) -> CliError {
    let output = match e.name {
        "SMSFLOW_TABLE" => Some(("the DynamoDB table of the stack", "TableName")),
        "SMSFLOW_SEND_QUEUE_URL" => Some(("the send queue", "SendQueueUrl")),
        "SMSFLOW_AUTOMATION_QUEUE_URL" => Some(("the automation queue", "AutomationQueueUrl")),
        _ => None,
    };
    match output {
        Some((what, output)) => missing_env(e.name, what, output),
        None => CliError::invalid(e.to_string()),
    }
}

impl Location {
    /// The whole application of the target, as the Lambda functions or `smsflow serve`
    /// build it, for commands that go through a use case (`smsflow send`). Locally: the
    /// embedded store and queues with the sandbox carrier and CRM; on AWS: the table,
    /// the queues (SMSFLOW_SEND_QUEUE_URL, SMSFLOW_AUTOMATION_QUEUE_URL) and the real CRMs.
    pub async fn app(&self) -> CliResult<Arc<App>> {
        if self.target.aws {
            let env = FunctionEnv::from_env().map_err(env_error)?;
            if self.target.create_table {
                dynamo_store(&self.target).await?;
            }
            let app = app_from_env(&env)
                .await
                .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
            return Ok(Arc::new(app));
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
    if target.aws {
        return dynamo_store(target).await;
    }
    Ok(Arc::new(EmbeddedStore::new(open_local_db(config)?)))
}
