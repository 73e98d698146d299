//! Where an admin command acts: the local database of `smsflow serve` (the default) or the
//! AWS deployment. On AWS the table, queues and CRM URL are the deployed stack's outputs
//! (`--stack`, read with CloudFormation DescribeStacks), each overridden by its SMSFLOW_*
//! variable when set; credentials and region follow `--profile` / `--region` as the AWS CLI
//! does.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{ArgGroup, Args};
use smsflow_shared::adapters::aws::sqs::SqsQueue;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedQueue, EmbeddedStore};
use smsflow_shared::app::App;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::local::operator_api::ServeFile;
use smsflow_shared::local::{self, LocalError, LocalRuntime};
use smsflow_shared::ports::{JobQueue, QueueName, QueueReceiver, Store, SystemClock};

use crate::output::{CliError, CliResult, ErrorKind};

/// Where `dlq list` reads from.
pub enum DeadLetterReader {
    /// The target's store and queues.
    Queue(Arc<dyn Store>, Arc<dyn AdminQueue>),
    /// `smsflow serve`, which holds the local database.
    Server(server::RunningServer),
}

/// Where a read command reads from.
pub enum Reader {
    Store(Arc<dyn Store>),
    /// `smsflow serve`, which holds the local database.
    Server(server::RunningServer),
}

mod aws;
mod names;
pub mod server;

pub use aws::Deployment;

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
        Deployment::load(self).await.map(Some)
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

// ---------------------------------------------------------------- local

fn open_local_db(config: &LocalConfig) -> CliResult<EmbeddedDb> {
    let path = local::database_path(config);
    EmbeddedDb::open(&path).map_err(|e| {
        CliError::new(ErrorKind::Backend, format!("{}: {e}", path.display())).with_hint(
            "is `smsflow serve` running on it? `conversations` reads through the running server; stop it first for other commands, or use its /_sandbox routes",
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

    /// Where a read command reads: the target's store, or, when `smsflow serve` holds the
    /// local database, the server (through its operator API).
    pub async fn reader(&self) -> CliResult<Reader> {
        if let Some(aws) = self.target.deployment().await? {
            return Ok(Reader::Store(aws.store().await?));
        }
        let config = load(&self.config)?;
        match open_local_db(&config) {
            Ok(db) => Ok(Reader::Store(Arc::new(EmbeddedStore::new(db)))),
            Err(e) => match ServeFile::read(&config.server.data_dir) {
                Some(file) => Ok(Reader::Server(server::RunningServer::new(file))),
                None => Err(e),
            },
        }
    }

    /// Where `dlq list` reads the dead letters of `queue`: the target's store and queues,
    /// or, when `smsflow serve` holds the local database, the server.
    pub async fn dead_letter_reader(&self, queue: QueueName) -> CliResult<DeadLetterReader> {
        match self.store_and_queue(queue).await {
            Ok((store, queue_port)) => Ok(DeadLetterReader::Queue(store, queue_port)),
            Err(e) if self.target.deployment().await?.is_none() => {
                let config = load(&self.config)?;
                match ServeFile::read(&config.server.data_dir) {
                    Some(file) => Ok(DeadLetterReader::Server(server::RunningServer::new(file))),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
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
