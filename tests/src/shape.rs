//! One interface to the two shapes smsflow runs in, so an end-to-end scenario is written
//! once and run against both: the local server (`smsflow serve`: every route and consumer
//! in one process) and the deployed shape (the stack runner: template.yaml's functions,
//! roles, triggers and environment, against moto). A scenario sees base URLs, the
//! `/_sandbox` API of what Twilio, the CRM and the mail service saw, and the operator's
//! `smsflow` commands; it cannot tell which shape it drives.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use smsflow_shared::domain::sequence::Sequence;
use smsflow_shared::local::{self, LocalOptions, RetryBackoff, RunningServer};
use smsflow_shared::ports::{QueueName, QueueReceiver};
use smsflow_shared::usecases::sequence;
use smsflow_stack::lambda::Deaths;
use smsflow_stack::operator;
use smsflow_stack::runner::{RunningStack, StackOptions};
use tempfile::TempDir;

use crate::example::{ACME_AUTH_TOKEN, ExampleConfig};
use crate::poll::{Patience, eventually};
use crate::twilio;

/// Both shapes retry a failed job after 1 s, then 2, 4...: scenarios with outages settle in
/// seconds (the template's default is 20 s).
pub const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Runs the stack scenarios on another template (`scripts/grant-ablation.sh` gives one with
/// a grant removed, to show which scenario needs it).
pub const TEMPLATE_VAR: &str = "SMSFLOW_STACK_TEMPLATE";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Local,
    Stack,
}

enum Running {
    Local(RunningServer),
    Stack(Box<RunningStack>),
}

/// A running deployment of either shape, with its URLs.
pub struct Deployment {
    pub shape: Shape,
    /// Where Twilio's webhooks are posted (`/twilio/inbound`, `/twilio/status`).
    pub twilio_local: String,
    /// The URL Twilio signs: the public base of the webhooks.
    pub twilio_public: String,
    /// Base of `/crm/{account}/send` and `/crm/{account}/goals/reset`.
    pub crm: String,
    /// Base of `/crm/{account}/sequences/{sequence}/start`.
    pub sequences: String,
    /// Base of `/_sandbox/...`.
    pub sandbox: String,
    /// Base of `/inbox/{account}` as the browser reaches it.
    pub inbox: String,
    /// The same base as the inbox names it in the sign-in links it e-mails (on the stack,
    /// the function URL's https domain, which the test reaches at [`Deployment::inbox`]).
    pub inbox_public: String,
    running: Running,
    dir: TempDir,
    http: reqwest::Client,
}

/// The workspace root (this crate's parent).
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate is in the workspace")
        .to_path_buf()
}

/// Where cargo put this test's binaries' siblings: `target/<profile>`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash>
    exe.parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps")
        .to_path_buf()
}

impl Deployment {
    /// Starts `shape` on `config` (an edited example: the local server listens on a free
    /// port, the stack's accounts are pushed from it).
    pub async fn start(shape: Shape, config: ExampleConfig) -> Deployment {
        Self::start_with(shape, config, &[]).await
    }

    /// As [`Deployment::start`]; the stack is deployed with these template `parameters`
    /// besides the retry backoff (e.g. `MaxReceiveCount`).
    pub async fn start_with(
        shape: Shape,
        config: ExampleConfig,
        parameters: &[(&str, &str)],
    ) -> Deployment {
        let dir = tempfile::tempdir().expect("temp dir");
        match shape {
            Shape::Local => Self::local(config, dir).await,
            Shape::Stack => Self::stack(config, parameters, dir).await,
        }
    }

    /// The local server, retrying failed jobs after [`RETRY_BACKOFF`].
    async fn local(config: ExampleConfig, dir: TempDir) -> Deployment {
        let options = LocalOptions {
            retry_backoff: RetryBackoff::starting_at(RETRY_BACKOFF),
            ..LocalOptions::default()
        };
        let config = config.serving_from(dir.path());
        std::fs::write(dir.path().join("smsflow.toml"), config.text()).expect("config written");
        let server = local::start_with(&config.parse(), options)
            .await
            .expect("the local server starts");
        let base = server.base_url();
        Deployment {
            shape: Shape::Local,
            twilio_local: base.clone(),
            twilio_public: base.clone(),
            crm: base.clone(),
            sequences: base.clone(),
            sandbox: base.clone(),
            inbox: base.clone(),
            inbox_public: base,
            running: Running::Local(server),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// The stack runner on template.yaml (or [`TEMPLATE_VAR`]'s), the accounts pushed from
    /// `config`, deployed with `RetryBackoffSeconds` of [`RETRY_BACKOFF`] and `parameters`.
    async fn stack(config: ExampleConfig, parameters: &[(&str, &str)], dir: TempDir) -> Deployment {
        let config_path = dir.path().join("smsflow.toml");
        std::fs::write(&config_path, config.text()).expect("config written");
        let root = repository();
        let options = StackOptions {
            template: std::env::var_os(TEMPLATE_VAR)
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("template.yaml")),
            python: root.join(".venv/bin/python"),
            bin_dir: bin_dir(),
            state_dir: dir.path().join("stack"),
            config: config_path,
            stack_name: "smsflow-test".into(),
            region: "us-east-1".into(),
            port_base: 0,
            parameters: [("RetryBackoffSeconds", RETRY_BACKOFF.as_secs().to_string())]
                .into_iter()
                .chain(parameters.iter().map(|(k, v)| (*k, v.to_string())))
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            root,
        };
        let stack = RunningStack::up(&options)
            .await
            .unwrap_or_else(|e| panic!("the stack runner starts: {e}"));
        let api = stack
            .urls
            .http_apis
            .values()
            .next()
            .expect("the template has an HTTP API")
            .clone();
        let url = |function: &str| stack.urls.function_urls[function].local.clone();
        let inbox = &stack.urls.function_urls["InboxFunction"];
        let (inbox, inbox_public) = (
            inbox.local.trim_end_matches('/').to_string(),
            inbox.public.trim_end_matches('/').to_string(),
        );
        Deployment {
            shape: Shape::Stack,
            twilio_local: api.local,
            twilio_public: api.public,
            crm: url("CampaignSendFunction"),
            sequences: url("SequenceStartFunction"),
            sandbox: stack.urls.sandbox.clone(),
            inbox,
            inbox_public,
            running: Running::Stack(Box::new(stack)),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// Stops the deployment; on the stack, fails the scenario if any AWS call was denied.
    pub async fn stop(self) {
        let denied = self.denials();
        match self.running {
            Running::Local(server) => server.shutdown().await.expect("clean shutdown"),
            Running::Stack(stack) => {
                record_grant_usage(&stack);
                stack.down().await;
            }
        }
        assert!(denied.is_empty(), "{}", denied.join("\n"));
        drop(self.dir);
    }

    /// The stack's table as a test inspects it: straight in its moto, not through a
    /// function's role. The stack shape only.
    pub async fn stack_table(&self) -> smsflow_shared::adapters::aws::dynamodb::DynamoStore {
        let Running::Stack(stack) = &self.running else {
            panic!("the stack shape only");
        };
        let manifest = &stack.manifest;
        let table = manifest
            .functions
            .iter()
            .find_map(|f| f.environment.get("SMSFLOW_TABLE"))
            .expect("the functions name the table")
            .clone();
        let sdk = crate::moto::sdk_config_at(&manifest.moto_endpoint, &manifest.region).await;
        smsflow_shared::adapters::aws::dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            table,
        )
    }

    /// Kills `function`'s instances mid-invocation from now on (`None`: no more); how many
    /// it killed so far. The stack shape only.
    pub fn instance_deaths(&self, function: &str, deaths: Option<Deaths>) -> u32 {
        let Running::Stack(stack) = &self.running else {
            panic!("the stack shape only");
        };
        let pool = stack
            .pools
            .get(function)
            .unwrap_or_else(|| panic!("no function {function}"));
        pool.set_deaths(deaths);
        pool.deaths()
    }

    /// The AWS calls the stack's functions were denied, in AWS's words (none locally).
    pub fn denials(&self) -> Vec<String> {
        let Running::Stack(stack) = &self.running else {
            return Vec::new();
        };
        stack
            .proxy
            .calls()
            .into_iter()
            .filter_map(|c| {
                c.denial
                    .map(|d| format!("AccessDenied: {} {}: {d}", c.function, c.operation))
            })
            .collect()
    }

    /// GETs a `/_sandbox/...` path: its JSON.
    pub async fn sandbox_json(&self, path: &str) -> Value {
        self.get(&format!("{}{path}", self.sandbox)).await.1
    }

    /// GETs `url`: status and JSON body.
    pub async fn get(&self, url: &str) -> (u16, Value) {
        json_answer(self.http.get(url)).await
    }

    /// POSTs a form to `url`: status and JSON body (`Null` if none).
    pub async fn post_form(&self, url: &str, form: &[(&str, &str)]) -> (u16, Value) {
        json_answer(self.http.post(url).form(form)).await
    }

    /// The bodies of the jobs in `queue`'s dead-letter queue, as an operator finds them:
    /// `smsflow dlq list --stack` on the stack; locally the same read in-process (the
    /// server holds its database, so the CLI cannot open it while it serves).
    pub async fn dead_letter_bodies(&self, queue: QueueName) -> Vec<String> {
        match &self.running {
            Running::Stack(_) => {
                let listed = self
                    .smsflow(&["dlq", "list", "--queue", queue.as_str(), "--json"])
                    .await;
                let jobs: Value = serde_json::from_str(&listed).expect("JSON");
                jobs.as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|j| j["body"].as_str().map(str::to_string))
                    .collect()
            }
            Running::Local(server) => server
                .runtime
                .queue
                .receive_dead_letters(queue, 100, Duration::ZERO)
                .await
                .expect("the local dead-letter queue reads")
                .into_iter()
                .map(|m| m.body)
                .collect(),
        }
    }

    /// Takes acme's CRM down (`true`) or brings it back, through `/_sandbox`.
    pub async fn crm_outage(&self, down: bool) {
        let r = self
            .http
            .put(format!("{}/_sandbox/crm/acme/outage", self.sandbox))
            .json(&serde_json::json!({ "down": down }))
            .send()
            .await
            .expect("answers");
        assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    }

    /// POSTs JSON to `url`: status and JSON body.
    pub async fn post_json(&self, url: &str, body: &Value) -> (u16, Value) {
        json_answer(self.http.post(url).json(body)).await
    }

    /// GETs `url` with `Authorization: Bearer <token>`: status and JSON body.
    pub async fn get_with_bearer(&self, url: &str, token: &str) -> (u16, Value) {
        json_answer(self.http.get(url).bearer_auth(token)).await
    }

    /// POSTs `body` as `content_type` to `url`: status and JSON body.
    pub async fn post_raw(&self, url: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let request = self.http.post(url).header("content-type", content_type);
        json_answer(request.body(body)).await
    }

    /// GETs `url` as a provider fetching media would: status, content type and bytes.
    pub async fn fetch(&self, url: &str) -> (u16, String, Vec<u8>) {
        let answer = self.http.get(url).send().await.expect("answers");
        let status = answer.status().as_u16();
        let content_type = (answer.headers().get("content-type"))
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        (
            status,
            content_type,
            answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
        )
    }

    /// Twilio's inbound webhook with `params`, signed with acme's auth token for the public
    /// URL: the status and the body of the answer.
    pub async fn twilio_inbound(&self, params: &[(&str, &str)]) -> (u16, String) {
        let request = twilio::signed_post(
            &self.http,
            ACME_AUTH_TOKEN,
            &format!("{}/twilio/inbound", self.twilio_local),
            &format!("{}/twilio/inbound", self.twilio_public),
            params,
        );
        twilio::answer(request).await
    }

    /// A CRM's send request for `account` with `key` and the form `fields`.
    pub async fn crm_send(
        &self,
        account: &str,
        key: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}/crm/{account}/send?key={key}", self.crm);
        self.post_form(&url, fields).await
    }

    /// A CRM's sequence start.
    pub async fn start_sequence(
        &self,
        account: &str,
        sequence: &str,
        key: &str,
        fields: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!(
            "{}/crm/{account}/sequences/{sequence}/start?key={key}",
            self.sequences
        );
        self.post_form(&url, fields).await
    }

    /// GETs a sandbox path until `done` holds for its JSON, and returns it.
    pub async fn eventually_sandbox(
        &self,
        path: &str,
        patience: Patience,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        eventually(patience, async || {
            // A denied call is why the wait would time out: say so at once.
            let denied = self.denials();
            assert!(denied.is_empty(), "{}", denied.join("\n"));
            let body = self.sandbox_json(path).await;
            if done(&body) {
                Ok(body)
            } else {
                Err(format!(
                    "{:?}: timed out waiting on {path}: {body}",
                    self.shape
                ))
            }
        })
        .await
    }

    /// Stores the sequence defined by `yaml` for its account, as its operator would, and
    /// fails the scenario if it is refused. On the stack that is `smsflow sequences apply`,
    /// after the runner gave a Keap-backed account the custom fields the sequence uses
    /// (`RunningStack::create_sequence_fields`: the sandbox CRM has them all, Keap only the
    /// ones created). Locally the server holds the database, so the CLI cannot open it
    /// while it serves: the sequence is applied in-process, by the same use case the CLI
    /// runs (`smsflow_shared::usecases::sequence::apply`).
    pub async fn apply_sequence(&self, yaml: &str) {
        let sequence = Sequence::load("sequence.yaml", yaml)
            .unwrap_or_else(|e| panic!("the scenario's sequence is valid: {e}"));
        match &self.running {
            Running::Local(server) => {
                sequence::apply(server.runtime.app.store.as_ref(), &sequence)
                    .await
                    .unwrap_or_else(|e| panic!("the sequence applies: {e}"));
            }
            Running::Stack(stack) => {
                stack
                    .create_sequence_fields(&sequence)
                    .unwrap_or_else(|e| panic!("the sequence's custom fields: {e}"));
                let file = self.dir.path().join(format!("{}.yaml", sequence.name()));
                std::fs::write(&file, yaml).expect("sequence file written");
                self.smsflow(&["sequences", "apply", &file.display().to_string()])
                    .await;
            }
        }
    }

    /// Runs `smsflow` with `args` against this deployment as its operator would, and
    /// returns what it printed (the scenario fails with its error otherwise): on the stack
    /// with `--stack` (its outputs in moto); locally with `--config`, while the server holds
    /// the database (read commands go through it).
    pub async fn smsflow(&self, args: &[&str]) -> String {
        self.try_smsflow(args)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As [`Deployment::smsflow`], for a command the scenario expects to fail: what it
    /// printed, or its exit status and stderr.
    pub async fn try_smsflow(&self, args: &[&str]) -> Result<String, String> {
        let Running::Stack(stack) = &self.running else {
            let config = self.dir.path().join("smsflow.toml");
            let config = config.display().to_string();
            let mut local_args = args.to_vec();
            local_args.extend(["--config", config.as_str()]);
            return operator::run_smsflow(&bin_dir(), &[], &local_args).await;
        };
        operator::smsflow(
            &bin_dir(),
            &stack.urls.stack_name,
            &stack.operator_env(),
            args,
        )
        .await
    }
}

/// Sends `request`: the status and the JSON body (`Null` if none).
async fn json_answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.expect("answers");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Where each stack scenario leaves the grants its functions used, for
/// `scripts/grant-audit.py` (which sums them over the suite).
fn record_grant_usage(stack: &RunningStack) {
    let dir = bin_dir().join("..").join("stack-audit");
    let file = dir.join(format!(
        "{}-{}.json",
        std::thread::current()
            .name()
            .unwrap_or("scenario")
            .replace("::", "-"),
        std::process::id()
    ));
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let usage =
            serde_json::to_vec_pretty(&stack.grant_usage()).map_err(std::io::Error::other)?;
        std::fs::write(&file, usage)
    });
    if let Err(e) = written {
        eprintln!("cannot record the grants used in {}: {e}", file.display());
    }
}
