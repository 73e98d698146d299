//! `up`: the whole stack on one machine, in the order a deployment would bring it up —
//! moto with the template's resources, the AWS proxy holding each role, the functions, the
//! fronts of their routes and URLs, the accounts pushed with `smsflow accounts push
//! --stack`, then the queue pollers — and `down`, which stops it all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::http::Method;
use serde::Serialize;
use smsflow_shared::domain::sequence::Sequence;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::audit::{self, GrantUsage};
use crate::aws_proxy::AwsProxy;
use crate::aws_request::Partition;
use crate::event_source::{self, Mapping};
use crate::fronts::{self, ApiRoute, Front};
use crate::functions::{self, Placement, RoleCredentials};
use crate::instasent::InstasentSeat;
use crate::keap::KeapMock;
use crate::lambda::FunctionPool;
use crate::manifest::{self, Manifest};
use crate::moto_process::{self, MotoStack, MotoStackOptions};
use crate::operator;
use crate::sandbox::{self, HttpApiTarget, SandboxTargets};
use crate::sent_emails::SentEmails;
use crate::ses_receiving::SesReceiving;
use crate::stack_config::{self, KeapApp, StackConfig, StackConfigError};
use crate::stand_ins::{self, StandIns, TwilioSeat};

/// Credentials of the operator (the runner itself and the CLI): moto accepts any, and
/// the operator talks to moto directly, not through the proxy that enforces the roles.
pub const OPERATOR_KEY: &str = "AKIASTACKOPERATOR000";
pub const OPERATOR_SECRET: &str = "stack-operator-secret";

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The repository: `stack/moto_stack` and `.venv` are found from here.
    pub root: PathBuf,
    pub template: PathBuf,
    pub python: PathBuf,
    /// Where the function binaries and `smsflow` are (`target/debug`).
    pub bin_dir: PathBuf,
    /// Logs, the manifest, the pushed configuration and `stack.json`.
    pub state_dir: PathBuf,
    /// The smsflow configuration whose accounts are pushed to the stack.
    pub config: PathBuf,
    pub stack_name: String,
    pub region: String,
    /// First port of the fronts and the runner API, in that order; 0: any free ports.
    pub port_base: u16,
    /// Template parameters besides the ones the runner sets.
    pub parameters: Vec<(String, String)>,
}

/// Where everything listens, as `stack.json` records it.
#[derive(Debug, Clone, Serialize)]
pub struct StackUrls {
    pub stack_name: String,
    pub region: String,
    pub moto: String,
    pub aws_proxy: String,
    /// By HTTP API logical id: the local URL and the public domain it stands for.
    pub http_apis: BTreeMap<String, Endpoint>,
    /// By the logical id of the function the URL invokes.
    pub function_urls: BTreeMap<String, Endpoint>,
    /// The runner's own API: `/_sandbox/...` (what Twilio, the CRM and SES saw; a person
    /// texting) and `/_stack/...` (the functions' AWS calls, their cold starts).
    pub sandbox: String,
    pub twilio: String,
    /// The Instasent stand-in's API base (accounts on Instasent are pointed at it).
    pub instasent: String,
    pub keap: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub local: String,
    pub public: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{what}: {detail}")]
    Setup { what: String, detail: String },
    #[error(transparent)]
    Moto(#[from] moto_process::MotoError),
    #[error(transparent)]
    Functions(#[from] functions::FunctionsError),
    #[error(transparent)]
    Config(#[from] StackConfigError),
}

fn setup(what: impl Into<String>, detail: impl std::fmt::Display) -> StackError {
    StackError::Setup {
        what: what.into(),
        detail: detail.to_string(),
    }
}

/// The running stack; `down` stops it (dropping it kills the processes too).
pub struct RunningStack {
    pub manifest: Manifest,
    pub urls: StackUrls,
    pub proxy: Arc<AwsProxy>,
    pub pools: BTreeMap<String, Arc<FunctionPool>>,
    pub credentials: BTreeMap<String, RoleCredentials>,
    pub stand_ins: StandIns,
    /// The accounts moved off the sandbox CRM to the Keap stand-in.
    keap_apps: Vec<KeapApp>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    moto: Option<MotoStack>,
}

/// Hands out listeners: consecutive ports from a base, or any free ones.
struct Ports {
    next: u16,
}

impl Ports {
    /// The next port to bind (0: any).
    fn take(&mut self) -> u16 {
        let port = self.next;
        if self.next != 0 {
            self.next += 1;
        }
        port
    }

    async fn bind(&mut self, what: &str) -> Result<(TcpListener, SocketAddr), StackError> {
        let port = self.take();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| setup(format!("{what} on 127.0.0.1:{port}"), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| setup(what.to_string(), e))?;
        Ok((listener, addr))
    }
}

impl RunningStack {
    /// Creates the stack in a new moto and starts everything that runs it.
    pub async fn up(options: &StackOptions) -> Result<Self, StackError> {
        let log_dir = options.state_dir.join("logs");
        std::fs::create_dir_all(&log_dir).map_err(|e| setup(log_dir.display().to_string(), e))?;
        let mut launch = Launch::new(options.port_base);
        let keap = Arc::new(KeapMock::start().await);
        // Any free port: the numbered ones stay as `scripts/stack.sh` lists them.
        let instasent_seat = InstasentSeat::bind(0)
            .await
            .map_err(|e| setup("Instasent stand-in", e))?;
        let config = stack_config::derive(
            &options.config,
            &options.state_dir.join("smsflow.toml"),
            &keap.base_url(),
            &instasent_seat.base_url,
        )?;
        let twilio_seat = TwilioSeat::bind(launch.ports.take())
            .await
            .map_err(|e| setup("Twilio stand-in", e))?;
        let moto = create_stack(options, &config, &twilio_seat.base_url, &log_dir).await?;
        let manifest = moto.manifest.clone();
        let (proxy, prepared) = launch.functions(options, &manifest, &log_dir).await?;
        let (http_apis, function_urls) = launch.fronts(&manifest, &prepared.pools).await?;
        let api = http_apis
            .values()
            .next()
            .ok_or_else(|| setup("template", "declares no HTTP API for Twilio's webhooks"))?
            .clone();
        let stand_ins = start_stand_ins((twilio_seat, instasent_seat), keap, &config, &api).await?;
        let mut urls = StackUrls {
            stack_name: manifest.stack_name.clone(),
            region: manifest.region.clone(),
            moto: manifest.moto_endpoint.clone(),
            aws_proxy: proxy.endpoint.clone(),
            http_apis,
            function_urls,
            sandbox: String::new(),
            twilio: stand_ins.twilio.base_url(),
            instasent: stand_ins.instasent.base_url(),
            keap: stand_ins.keap.base_url(),
        };
        push_accounts(options, &urls, &config).await?;
        let emails = proxy.proxy.emails();
        let mut targets = sandbox_targets(&api, &config, &stand_ins, emails);
        targets.ses = ses_receiving(&manifest, &prepared);
        urls.sandbox = launch.runner_api(targets, &proxy, &prepared).await?;
        let (stop, stopped) = watch::channel(false);
        launch
            .mappings(&manifest, &prepared, &proxy.endpoint, stopped)
            .await?;
        Ok(RunningStack {
            manifest,
            urls,
            proxy: proxy.proxy,
            pools: prepared.pools,
            credentials: prepared.credentials,
            stand_ins,
            keap_apps: config.keap_apps,
            stop,
            tasks: launch.tasks,
            moto: Some(moto),
        })
    }

    /// Stops the pollers, the fronts and every instance, then moto.
    pub async fn down(mut self) {
        self.stop.send_replace(true);
        for task in self.tasks.drain(..) {
            task.abort();
        }
        for pool in self.pools.values() {
            pool.stop().await;
        }
        if let Some(moto) = self.moto.take() {
            moto.stop().await;
        }
    }

    /// Per function: the actions its role grants and the ones its calls used so far.
    pub fn grant_usage(&self) -> BTreeMap<String, GrantUsage> {
        audit::grant_usage(&self.manifest.functions, &self.proxy.calls())
    }

    /// Gives `sequence`'s account the custom fields the sequence uses before it is applied,
    /// when that account was moved to the Keap stand-in (see
    /// [`stand_ins::create_sequence_fields`]); the labels created.
    pub fn create_sequence_fields(&self, sequence: &Sequence) -> Result<Vec<String>, StackError> {
        stand_ins::create_sequence_fields(&self.stand_ins.keap, &self.keap_apps, sequence)
            .map_err(|e| setup("Keap stand-in", e))
    }

    /// The environment under which the operator's `smsflow ... --stack` reaches this stack.
    pub fn operator_env(&self) -> Vec<(String, String)> {
        operator_env(&self.urls)
    }
}

/// The AWS proxy, with the URL the functions reach it at.
struct ProxyEndpoint {
    proxy: Arc<AwsProxy>,
    endpoint: String,
}

/// What `up` has started so far: the ports it handed out and the tasks it spawned.
struct Launch {
    ports: Ports,
    tasks: Vec<JoinHandle<()>>,
}

impl Launch {
    /// Nothing started yet; ports handed out from `port_base` (0: any free ones).
    fn new(port_base: u16) -> Self {
        Launch {
            ports: Ports { next: port_base },
            tasks: Vec::new(),
        }
    }

    /// Serves the runner's own API: the sandbox routes and the stack's control routes.
    async fn runner_api(
        &mut self,
        targets: SandboxTargets,
        proxy: &ProxyEndpoint,
        prepared: &functions::Functions,
    ) -> Result<String, StackError> {
        let router = sandbox::router(targets)
            .map_err(|e| setup("sandbox API", e))?
            .merge(crate::control::router(
                proxy.proxy.clone(),
                prepared.pools.clone(),
            ));
        self.serve("runner API", router).await
    }

    /// Serves `router` on the next port: its URL.
    async fn serve(
        &mut self,
        what: &'static str,
        router: axum::Router,
    ) -> Result<String, StackError> {
        let (listener, addr) = self.ports.bind(what).await?;
        self.spawn_server(what, listener, router);
        Ok(format!("http://{addr}"))
    }

    /// Serves `router` on `listener` until the task is aborted.
    fn spawn_server(&mut self, what: &'static str, listener: TcpListener, router: axum::Router) {
        self.tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::warn!(error = %e, "{what} stopped");
            }
        }));
    }

    /// The functions, ready to start instances, and the proxy that holds their roles.
    async fn functions(
        &mut self,
        options: &StackOptions,
        manifest: &Manifest,
        log_dir: &Path,
    ) -> Result<(ProxyEndpoint, functions::Functions), StackError> {
        let (listener, addr) = self.ports.bind("AWS proxy").await?;
        let endpoint = format!("http://{addr}");
        let mut prepared = functions::prepare(
            manifest,
            &Placement {
                bin_dir: &options.bin_dir,
                log_dir,
                aws_endpoint: &endpoint,
            },
        )?;
        let proxy = AwsProxy::new(
            Partition {
                region: manifest.region.clone(),
                account_id: manifest.account_id.clone(),
            },
            std::mem::take(&mut prepared.callers),
            manifest.moto_endpoint.clone(),
        );
        self.spawn_server("AWS proxy", listener, proxy.router());
        Ok((ProxyEndpoint { proxy, endpoint }, prepared))
    }

    /// The fronts of the template's HTTP APIs and function URLs: their endpoints, by the
    /// API's logical id and by the function a URL invokes.
    async fn fronts(
        &mut self,
        manifest: &Manifest,
        pools: &BTreeMap<String, Arc<FunctionPool>>,
    ) -> Result<(Endpoints, Endpoints), StackError> {
        let mut http_apis = BTreeMap::new();
        for api in &manifest.http_apis {
            let front = http_api_front(manifest, api, pools)?;
            let local = self.serve_front(&api.logical_id, front).await?;
            let public = format!("https://{}", api.domain);
            http_apis.insert(api.logical_id.clone(), Endpoint { local, public });
        }
        let mut function_urls = BTreeMap::new();
        for url in &manifest.function_urls {
            let domain = url
                .url
                .trim_start_matches("https://")
                .trim_end_matches('/')
                .to_string();
            let public = format!("https://{domain}");
            let front = Front::FunctionUrl(fronts::FunctionUrl {
                url_id: domain.split('.').next().unwrap_or_default().to_string(),
                domain,
                pool: pool_of(pools, &url.function)?,
            });
            let local = self.serve_front(&url.logical_id, front).await?;
            function_urls.insert(url.function.clone(), Endpoint { local, public });
        }
        Ok((http_apis, function_urls))
    }

    /// Serves `front` on the next port: its local URL.
    async fn serve_front(&mut self, what: &str, front: Front) -> Result<String, StackError> {
        let (listener, addr) = self.ports.bind(what).await?;
        self.tasks
            .push(tokio::spawn(fronts::serve(Arc::new(front), listener)));
        Ok(format!("http://{addr}"))
    }

    /// One poller set per SQS event source mapping, polling with its function's role.
    async fn mappings(
        &mut self,
        manifest: &Manifest,
        prepared: &functions::Functions,
        aws_endpoint: &str,
        stopped: watch::Receiver<bool>,
    ) -> Result<(), StackError> {
        for mapping in &manifest.event_source_mappings {
            let pool = pool_of(&prepared.pools, &mapping.function)?;
            let credentials = prepared
                .credentials
                .get(&mapping.function)
                .ok_or_else(|| setup(mapping.function.clone(), "no credentials"))?;
            let sqs = sqs_client(&manifest.region, aws_endpoint, credentials).await;
            let mapping = Arc::new(Mapping {
                config: mapping.clone(),
                region: manifest.region.clone(),
                sqs,
                pool,
            });
            self.tasks
                .push(tokio::spawn(event_source::run(mapping, stopped.clone())));
        }
        Ok(())
    }
}

/// Creates the template in a new moto with the parameters the runner sets: the
/// configuration's sender and the Twilio stand-in, then the caller's.
async fn create_stack(
    options: &StackOptions,
    config: &StackConfig,
    twilio_base_url: &str,
    log_dir: &Path,
) -> Result<MotoStack, StackError> {
    let mut parameters = vec![
        (
            "MailFromAddress".to_string(),
            config.parsed.mail.from.to_string(),
        ),
        ("TwilioApiBaseUrl".to_string(), twilio_base_url.to_string()),
    ];
    if let Some(replies) = &config.parsed.mail.replies {
        parameters.push(("ReplyDomain".to_string(), replies.domain().to_string()));
        let days = replies.window().as_secs() / 86_400;
        parameters.push(("ReplyAddressDays".to_string(), days.to_string()));
    }
    parameters.extend(options.parameters.iter().cloned());
    Ok(MotoStack::start(MotoStackOptions {
        python: &options.python,
        script: &moto_process::script(&options.root),
        template: &options.template,
        manifest: &options.state_dir.join("manifest.json"),
        stack_name: &options.stack_name,
        region: &options.region,
        parameters: &parameters,
        mail_identities: &mail_identities(&parameters),
        log: &log_dir.join("moto.log"),
    })
    .await?)
}

/// `smsflow accounts push --stack`, as the operator stores accounts after deploying.
async fn push_accounts(
    options: &StackOptions,
    urls: &StackUrls,
    config: &StackConfig,
) -> Result<(), StackError> {
    let config_path = config.path.display().to_string();
    operator::smsflow(
        &options.bin_dir,
        &urls.stack_name,
        &operator_env(urls),
        &["accounts", "push", "--config", &config_path],
    )
    .await
    .map(|_| ())
    .map_err(|e| setup("pushing the accounts", e))
}

/// The Twilio and Instasent stand-ins, posting their webhooks to `api`, and the Keap
/// stand-in with the configuration's Keap apps.
async fn start_stand_ins(
    (twilio_seat, instasent_seat): (TwilioSeat, InstasentSeat),
    keap: Arc<KeapMock>,
    config: &StackConfig,
    api: &Endpoint,
) -> Result<StandIns, StackError> {
    let twilio = twilio_seat
        .start(&config.parsed, &api.public, &api.local)
        .await
        .map_err(|e| setup("Twilio stand-in", e))?;
    let instasent = stand_ins::start_instasent(instasent_seat, &config.instasent, api)
        .await
        .map_err(|e| setup("Instasent stand-in", e))?;
    stand_ins::provision_keap(&keap, &config.parsed, &config.keap_apps)
        .map_err(|e| setup("Keap stand-in", e))?;
    Ok(StandIns {
        twilio: Arc::new(twilio),
        instasent: Arc::new(instasent),
        keap,
    })
}

/// What the sandbox API reaches: the HTTP API Twilio posts to, the stand-ins, the e-mails
/// the AWS proxy kept.
fn sandbox_targets(
    api: &Endpoint,
    config: &StackConfig,
    stand_ins: &StandIns,
    emails: Arc<SentEmails>,
) -> SandboxTargets {
    SandboxTargets {
        http_api: HttpApiTarget {
            local_url: api.local.clone(),
            public_domain: api.public.trim_start_matches("https://").to_string(),
        },
        accounts: stand_ins::sandbox_accounts(&config.parsed, &config.keap_apps),
        twilio: stand_ins.twilio.clone(),
        instasent: stand_ins.instasent.clone(),
        keap: stand_ins.keap.clone(),
        emails,
        ses: None,
    }
}

/// SES receiving for the stack's receipt rules, if it has any.
fn ses_receiving(
    manifest: &Manifest,
    prepared: &functions::Functions,
) -> Option<Arc<SesReceiving>> {
    if manifest.receipt_rules.is_empty() {
        return None;
    }
    Some(Arc::new(SesReceiving {
        rules: manifest.receipt_rules.clone(),
        pools: prepared.pools.clone(),
        moto_endpoint: manifest.moto_endpoint.clone(),
        function_arns: (manifest.functions.iter())
            .map(|f| (f.logical_id.clone(), f.arn.clone()))
            .collect(),
        http: reqwest::Client::new(),
    }))
}

fn operator_env(urls: &StackUrls) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", urls.moto.as_str()),
        ("AWS_ACCESS_KEY_ID", OPERATOR_KEY),
        ("AWS_SECRET_ACCESS_KEY", OPERATOR_SECRET),
        ("AWS_REGION", urls.region.as_str()),
        // `smsflow numbers` buys and wires numbers at the Twilio stand-in.
        ("SMSFLOW_TWILIO_API_BASE_URL", urls.twilio.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The SES identity the template's sender belongs to, which an operator verifies first.
fn mail_identities(parameters: &[(String, String)]) -> Vec<String> {
    parameters
        .iter()
        .filter(|(k, _)| k == "MailFromAddress")
        .filter_map(|(_, v)| v.rsplit_once('@').map(|(_, domain)| domain.to_string()))
        .collect()
}

fn pool_of(
    pools: &BTreeMap<String, Arc<FunctionPool>>,
    function: &str,
) -> Result<Arc<FunctionPool>, StackError> {
    pools
        .get(function)
        .cloned()
        .ok_or_else(|| setup(function.to_string(), "no such function in the manifest"))
}

type Endpoints = BTreeMap<String, Endpoint>;

/// The front of one HTTP API of the template, each route to its function.
fn http_api_front(
    manifest: &Manifest,
    api: &manifest::HttpApi,
    pools: &BTreeMap<String, Arc<FunctionPool>>,
) -> Result<Front, StackError> {
    let routes = api
        .routes
        .iter()
        .map(|route| {
            Ok(ApiRoute {
                method: Method::from_bytes(route.method.as_bytes())
                    .map_err(|e| setup(format!("{} {}", route.method, route.path), e))?,
                path: route.path.clone(),
                pool: pool_of(pools, &route.function)?,
            })
        })
        .collect::<Result<Vec<_>, StackError>>()?;
    Ok(Front::HttpApi(fronts::HttpApi {
        api_id: api.api_id.clone(),
        domain: api.domain.clone(),
        stage: api.stage.clone(),
        account_id: manifest.account_id.clone(),
        routes,
    }))
}

/// An SQS client that signs as the function's role, through the proxy.
async fn sqs_client(
    region: &str,
    endpoint: &str,
    credentials: &RoleCredentials,
) -> aws_sdk_sqs::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            credentials.access_key_id.clone(),
            credentials.secret_access_key.clone(),
            Some(credentials.session_token.clone()),
            None,
            "stack-runner",
        ))
        .load()
        .await;
    aws_sdk_sqs::Client::new(&config)
}

/// `path` relative to `root` unless absolute.
pub fn resolve(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}
