//! Lambda's execution model for one function: instances are processes of the function's
//! binary, each with its own Runtime API endpoint; an invocation takes an idle instance or
//! starts one (a cold start: init ends at the runtime's first `next`), hands it the event,
//! and waits at most the function's `Timeout`. A timed-out or crashed instance is killed and
//! never reused, as on Lambda. [`Deaths`] kill instances mid-invocation on purpose, as a
//! lost host or an out-of-memory kill would: what the crash scenarios run the stack under.

pub mod runtime_api;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use futures::FutureExt;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, oneshot};

use runtime_api::{Outcome, Pending, RuntimeApi};

/// Lambda's limit on a function's init phase.
const INIT_LIMIT: Duration = Duration::from_secs(10);

/// How to start one instance of a function.
#[derive(Debug, Clone)]
pub struct FunctionSpec {
    pub logical_id: String,
    pub arn: String,
    pub binary: PathBuf,
    pub timeout: Duration,
    /// Everything but `AWS_LAMBDA_RUNTIME_API`, which is per instance.
    pub environment: BTreeMap<String, String>,
    /// Where the instances' output goes, one line per log line, prefixed by instance.
    pub log_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("{function}: cannot start an instance: {detail}")]
    Start { function: String, detail: String },
    #[error("{function}: init failed: {detail}")]
    Init { function: String, detail: String },
    #[error("{function}: Task timed out after {seconds:.2} seconds")]
    Timeout { function: String, seconds: f64 },
    #[error("{function}: Runtime exited: {detail}")]
    Exited { function: String, detail: String },
    #[error("{function}: {error_type}: {message}")]
    Function {
        function: String,
        error_type: String,
        message: String,
    },
}

/// One cold start: the init phase and the first event it served.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ColdStart {
    pub function: String,
    pub instance: u32,
    pub init_ms: f64,
    pub first_event_ms: Option<f64>,
}

struct Instance {
    number: u32,
    child: Child,
    api: RuntimeApi,
}

/// Instances dying mid-invocation: each invocation's instance is killed (SIGKILL) with
/// probability `chance`, at a random moment within `within` of the event's hand-over.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deaths {
    pub chance: f64,
    pub within: Duration,
}

pub struct FunctionPool {
    spec: FunctionSpec,
    idle: Mutex<Vec<Instance>>,
    started: AtomicU32,
    cold_starts: std::sync::Mutex<Vec<ColdStart>>,
    deaths: std::sync::Mutex<Option<Deaths>>,
    died: AtomicU32,
}

impl FunctionPool {
    pub fn new(spec: FunctionSpec) -> Arc<Self> {
        Arc::new(FunctionPool {
            spec,
            idle: Mutex::new(Vec::new()),
            started: AtomicU32::new(0),
            cold_starts: std::sync::Mutex::new(Vec::new()),
            deaths: std::sync::Mutex::new(None),
            died: AtomicU32::new(0),
        })
    }

    /// Kills instances mid-invocation from now on (`None`: no more).
    pub fn set_deaths(&self, deaths: Option<Deaths>) {
        *self.deaths.lock().unwrap_or_else(|p| p.into_inner()) = deaths;
    }

    /// How many instances [`Deaths`] killed.
    pub fn deaths(&self) -> u32 {
        self.died.load(Ordering::Relaxed)
    }

    /// When this invocation's instance dies, if it does.
    fn death_in(&self) -> Option<Duration> {
        let deaths = (*self.deaths.lock().unwrap_or_else(|p| p.into_inner()))?;
        if fastrand::f64() >= deaths.chance {
            return None;
        }
        let within_ms = u64::try_from(deaths.within.as_millis()).unwrap_or(u64::MAX);
        Some(Duration::from_millis(fastrand::u64(0..within_ms.max(1))))
    }

    pub fn spec(&self) -> &FunctionSpec {
        &self.spec
    }

    pub fn cold_starts(&self) -> Vec<ColdStart> {
        self.cold_starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs `payload` on an instance: the function's response, or why there is none.
    pub async fn invoke(&self, payload: Bytes) -> Result<Bytes, InvokeError> {
        let (mut instance, init) = match self.take_idle().await {
            Some(instance) => (instance, None),
            None => {
                let (instance, init) = self.start_instance().await?;
                (instance, Some(init))
            }
        };
        let started = Instant::now();
        let outcome = self.hand_over(&mut instance, payload).await?;
        if let Some(init) = init {
            self.record_cold_start(instance.number, init, started.elapsed());
        }
        self.settle(instance, outcome).await
    }

    /// Hands `payload` to the instance and waits for its outcome: at most the function's
    /// timeout, and only while the instance lives (a [`Deaths`] death kills it first).
    async fn hand_over(
        &self,
        instance: &mut Instance,
        payload: Bytes,
    ) -> Result<Result<Outcome, oneshot::error::RecvError>, InvokeError> {
        let (outcome_tx, outcome_rx) = oneshot::channel();
        let pending = Pending {
            request_id: crate::request_id(),
            payload,
            deadline: SystemTime::now() + self.spec.timeout,
            function_arn: self.spec.arn.clone(),
            outcome: outcome_tx,
        };
        let death = self.death_in();
        if instance.api.events.send(pending).await.is_err() {
            return Err(self.exited("the runtime API is gone".into()));
        }
        tokio::select! {
            outcome = outcome_rx => Ok(outcome),
            status = instance.child.wait() => {
                let detail = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                Err(self.exited(detail))
            }
            () = sleep_or_never(death) => {
                let _ = instance.child.kill().await;
                self.died.fetch_add(1, Ordering::Relaxed);
                Err(self.exited("killed mid-invocation (instance death)".into()))
            }
            () = tokio::time::sleep(self.spec.timeout) => {
                // Lambda stops the instance; the next event gets a fresh one.
                let _ = instance.child.kill().await;
                Err(InvokeError::Timeout {
                    function: self.spec.logical_id.clone(),
                    seconds: self.spec.timeout.as_secs_f64(),
                })
            }
        }
    }

    /// The function's response or error; an instance that answered waits for the next event.
    async fn settle(
        &self,
        instance: Instance,
        outcome: Result<Outcome, oneshot::error::RecvError>,
    ) -> Result<Bytes, InvokeError> {
        match outcome {
            Ok(Outcome::Response(body)) => {
                self.idle.lock().await.push(instance);
                Ok(body)
            }
            Ok(Outcome::Error {
                error_type,
                message,
            }) => {
                self.idle.lock().await.push(instance);
                Err(InvokeError::Function {
                    function: self.spec.logical_id.clone(),
                    error_type,
                    message,
                })
            }
            Err(_) => Err(self.exited("the instance dropped the event".into())),
        }
    }

    /// Stops every idle instance (the runner's shutdown).
    pub async fn stop(&self) {
        for mut instance in self.idle.lock().await.drain(..) {
            let _ = instance.child.kill().await;
        }
    }

    fn exited(&self, detail: String) -> InvokeError {
        InvokeError::Exited {
            function: self.spec.logical_id.clone(),
            detail,
        }
    }

    /// The most recently used idle instance still alive (Lambda prefers warm ones).
    async fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().await;
        while let Some(mut instance) = idle.pop() {
            if matches!(instance.child.try_wait(), Ok(None)) {
                return Some(instance);
            }
        }
        None
    }

    async fn start_instance(&self) -> Result<(Instance, Duration), InvokeError> {
        let function = self.spec.logical_id.clone();
        let start_error = |detail: String| InvokeError::Start {
            function: function.clone(),
            detail,
        };
        let api = RuntimeApi::start()
            .await
            .map_err(|e| start_error(format!("runtime API: {e}")))?;
        let number = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let began = Instant::now();
        let mut child = Command::new(&self.spec.binary)
            .env_clear()
            .envs(&self.spec.environment)
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| start_error(format!("{}: {e}", self.spec.binary.display())))?;
        self.forward_output(&mut child, number);
        let mut ready = api.ready.clone();
        let init_failed = |detail: String| InvokeError::Init {
            function: function.clone(),
            detail,
        };
        tokio::select! {
            ready = ready.wait_for(|ready| *ready).map(|r| r.is_ok()) => {
                if !ready {
                    return Err(init_failed("the runtime API stopped".into()));
                }
            }
            status = child.wait() => {
                let reported = api.init_error().await.unwrap_or_default();
                let status = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                return Err(init_failed(format!("{reported} (process {status})")));
            }
            () = tokio::time::sleep(INIT_LIMIT) => {
                let _ = child.kill().await;
                return Err(init_failed(format!("no event polled within {INIT_LIMIT:?}")));
            }
        }
        Ok((Instance { number, child, api }, began.elapsed()))
    }

    /// Copies the instance's stdout and stderr into the function's log file.
    fn forward_output(&self, child: &mut Child, number: u32) {
        let prefix = format!("[{}#{number}] ", self.spec.logical_id);
        let path = self.spec.log_file.clone();
        let streams: Vec<Box<dyn tokio::io::AsyncRead + Send + Unpin>> = [
            child.stdout.take().map(|s| Box::new(s) as _),
            child.stderr.take().map(|s| Box::new(s) as _),
        ]
        .into_iter()
        .flatten()
        .collect();
        for stream in streams {
            let prefix = prefix.clone();
            let path = path.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                let mut file = match tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .await
                {
                    Ok(file) => file,
                    Err(e) => {
                        tracing::warn!(path = %path.display(), error = %e, "cannot open the function log");
                        return;
                    }
                };
                while let Ok(Some(line)) = lines.next_line().await {
                    let _ = file.write_all(format!("{prefix}{line}\n").as_bytes()).await;
                }
            });
        }
    }

    fn record_cold_start(&self, instance: u32, init: Duration, first_event: Duration) {
        self.cold_starts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(ColdStart {
                function: self.spec.logical_id.clone(),
                instance,
                init_ms: init.as_secs_f64() * 1000.0,
                first_event_ms: Some(first_event.as_secs_f64() * 1000.0),
            });
    }
}

#[cfg(test)]
mod tests;

/// Sleeps `for_how_long`, or for ever when `None`.
async fn sleep_or_never(for_how_long: Option<Duration>) {
    match for_how_long {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
