//! Local mode: every HTTP route and every queue consumer in one process, on the embedded
//! backends (redb store and queues, sandbox carrier, outbox, sandbox CRM). What the
//! sandbox did is readable under `/_sandbox/...`.

mod config_accounts;
pub mod operator_api;
mod pump;
mod sandbox;
pub mod sandbox_api;
pub mod sandbox_email;
pub mod sandbox_scope;
mod serve;

pub use crate::domain::leases::Leases;
pub use crate::domain::retry_backoff::RetryBackoff;
pub use serve::{BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, ReadTimeouts};

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tokio::sync::watch;

use crate::adapters::crm_router::CrmRouter;
use crate::adapters::embedded::media::EmbeddedMedia;
use crate::adapters::embedded::{
    DbCloseWatch, EmbeddedDb, EmbeddedQueue, EmbeddedStore, Outbox, SandboxCarrier, SandboxCrm,
};
use crate::adapters::event_webhook::WebhookEvents;
use crate::app::{App, AppSettings};
use crate::config::{LocalConfig, ServerSettings};
use crate::handlers::http;
use crate::ports::{Clock, IdGenerator, QueueName, StoreError, SystemClock, UlidIds};

#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("cannot open the embedded database at {path}: {detail}")]
    Database { path: PathBuf, detail: String },
    #[error("cannot load account {account} from the configuration: {source}")]
    Account {
        account: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "refusing to listen on {addr}: it is not a loopback address, so the webhooks and the \
         unauthenticated /_sandbox routes would be reachable from the network; listen on \
         127.0.0.1 (or [::1]), or allow it with `smsflow serve --allow-remote` or \
         `allow_remote_listen = true` under [server]"
    )]
    RemoteListen { addr: SocketAddr },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Environment(#[from] crate::config::EnvError),
}

/// The embedded backends, kept concrete so the sandbox routes can read them back.
pub struct LocalRuntime {
    pub app: Arc<App>,
    pub queue: Arc<EmbeddedQueue>,
    pub carrier: Arc<SandboxCarrier>,
    pub outbox: Arc<Outbox>,
    pub crm: Arc<SandboxCrm>,
    /// Reply pictures, served at `/_sandbox/media/{key}`.
    pub media: Arc<EmbeddedMedia>,
    /// What the operator's read API asks for (`operator_api`).
    pub operator_token: String,
    pub http: reqwest::Client,
    /// Tells when the database is closed (see `RunningServer::shutdown`).
    db_closed: DbCloseWatch,
}

/// The database file inside the configured data directory.
pub fn database_path(config: &LocalConfig) -> PathBuf {
    config.server.data_dir.join("smsflow.redb")
}

fn open_database(config: &LocalConfig) -> Result<EmbeddedDb, LocalError> {
    let path = database_path(config);
    EmbeddedDb::open(&path).map_err(|e| LocalError::Database {
        path: path.clone(),
        detail: e.0,
    })
}

impl LocalRuntime {
    /// Opens the embedded database and loads the configured accounts into it.
    pub async fn build(config: &LocalConfig, public_base_url: String) -> Result<Self, LocalError> {
        Self::build_on(open_database(config)?, config, Some(public_base_url)).await
    }

    /// As [`LocalRuntime::build`] on a given database. Without a public base URL, webhook
    /// signatures are checked against `https://` + the request's host, as on Lambda.
    pub async fn build_on(
        db: EmbeddedDb,
        config: &LocalConfig,
        public_base_url: Option<String>,
    ) -> Result<Self, LocalError> {
        Self::build_with(db, config, public_base_url, LocalOptions::default()).await
    }

    /// As [`LocalRuntime::build_on`], with options.
    pub async fn build_with(
        db: EmbeddedDb,
        config: &LocalConfig,
        public_base_url: Option<String>,
        options: LocalOptions,
    ) -> Result<Self, LocalError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let ids: Arc<dyn IdGenerator> = Arc::new(UlidIds::default());
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| LocalError::Database {
                path: PathBuf::from("(http client)"),
                detail: e.to_string(),
            })?;
        let store = Arc::new(EmbeddedStore::new(db.clone()));
        config_accounts::load(&db, &*store, &config.accounts).await?;
        let queue = Arc::new(EmbeddedQueue::new(db.clone(), clock.clone()));
        let carrier = Arc::new(SandboxCarrier::new(
            db.clone(),
            http.clone(),
            clock.clone(),
            ids.clone(),
        ));
        let outbox = Arc::new(Outbox::new(db.clone(), clock.clone(), ids.clone()));
        let crm = Arc::new(SandboxCrm::new(db.clone(), clock.clone()));
        let media = Arc::new(EmbeddedMedia::new(
            db.clone(),
            public_base_url.as_deref().unwrap_or_default(),
        ));
        let app = Arc::new(App {
            store: store.clone(),
            queue: queue.clone(),
            mailer: outbox.clone(),
            media: media.clone(),
            sms: carrier.clone(),
            // Accounts may also point at a real Keap app or a webhook CRM in local mode.
            crm: Arc::new(CrmRouter::with_real_crms(
                http.clone(),
                clock.clone(),
                ids.clone(),
                store.clone(),
                Some(crm.clone()),
            )),
            events: Arc::new(WebhookEvents::new(http.clone(), clock.clone())),
            clock,
            ids,
            settings: AppSettings {
                public_base_url,
                mail_from: Some(config.mail.from.clone()),
                retry_backoff: options.retry_backoff,
                leases: options.leases,
                replies: config.mail.replies.clone(),
            },
        });
        Ok(LocalRuntime {
            db_closed: db.close_watch(),
            app,
            queue,
            carrier,
            outbox,
            crm,
            media,
            operator_token: operator_api::new_token(),
            http,
        })
    }

    /// Every route of the HTTP functions (README "HTTP routes"), the sandbox API and a health
    /// check, as one router.
    pub fn router(self: &Arc<Self>) -> Router {
        let app = self.app.clone();
        http::with_fallback(
            Router::new()
                .merge(http::inbound_sms(app.clone()))
                .merge(http::status_callback(app.clone()))
                .merge(http::campaign_send(app.clone()))
                .merge(http::sequence_start(app.clone()))
                .merge(crate::handlers::inbox::inbox(app))
                .merge(sandbox::router(self.clone()))
                .merge(operator_api::router(self.clone())),
        )
    }
}

/// A running local server (tests start one on port 0).
pub struct RunningServer {
    pub addr: SocketAddr,
    pub runtime: Arc<LocalRuntime>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), LocalError>>,
    /// Where `serve.json` was written (removed at shutdown).
    data_dir: PathBuf,
}

impl RunningServer {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting requests, lets in-flight ones and queue batches finish, and waits.
    /// Returns once the database is closed, so the same process can open it again.
    pub async fn shutdown(self) -> Result<(), LocalError> {
        let RunningServer {
            runtime,
            stop,
            task,
            data_dir,
            ..
        } = self;
        operator_api::ServeFile::remove(&data_dir);
        let db_closed = runtime.db_closed.clone();
        drop(runtime);
        let _ = stop.send(true);
        let result = match task.await {
            Ok(result) => result,
            Err(e) => Err(LocalError::Serve(std::io::Error::other(e))),
        };
        if !db_closed.closed(std::time::Duration::from_secs(10)).await {
            tracing::warn!("the database is still open 10 s after shutdown");
        }
        result
    }
}

/// How the local runtime runs, beyond what the configuration file says (tests make
/// retries fast and read timeouts short with it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalOptions {
    /// How failed queue messages are redelivered.
    pub retry_backoff: RetryBackoff,
    /// How long a claim outlives a process that died holding it.
    pub leases: Leases,
    /// How long the server waits for a request's head and body.
    pub read_timeouts: ReadTimeouts,
}

/// Binds, builds the runtime and serves until `shutdown()` is called.
pub async fn start(config: &LocalConfig) -> Result<RunningServer, LocalError> {
    start_with(config, LocalOptions::default()).await
}

/// Refuses a non-loopback `listen` unless the settings allow it, and warns when they do.
pub fn check_listen(server: &ServerSettings) -> Result<(), LocalError> {
    let addr = server.listen;
    if addr.ip().is_loopback() {
        return Ok(());
    }
    if !server.allow_remote_listen {
        return Err(LocalError::RemoteListen { addr });
    }
    tracing::warn!(%addr, "listening on a non-loopback address (allowed): the webhooks and /_sandbox are reachable from the network, and /_sandbox has no authentication");
    Ok(())
}

/// [`start`] with options.
pub async fn start_with(
    config: &LocalConfig,
    options: LocalOptions,
) -> Result<RunningServer, LocalError> {
    check_listen(&config.server)?;
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .map_err(|source| LocalError::Bind {
            addr: config.server.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(LocalError::Serve)?;
    // With port 0 the configured public URL cannot be right: use the real address.
    let public_base_url = if config.server.listen.port() == 0 {
        format!("http://{addr}")
    } else {
        config.server.public_base_url.clone()
    };
    let db = open_database(config)?;
    let runtime =
        Arc::new(LocalRuntime::build_with(db, config, Some(public_base_url), options).await?);
    let (stop, stopped) = watch::channel(false);
    let router = runtime.router();
    let pumps: Vec<_> = QueueName::ALL
        .into_iter()
        .map(|queue| tokio::spawn(pump::run(runtime.clone(), queue, stopped.clone())))
        .collect();
    let task = tokio::spawn(async move {
        serve::run(listener, router, options.read_timeouts, stopped).await;
        for pump in pumps {
            let _ = pump.await;
        }
        Ok(())
    });
    let data_dir = config.server.data_dir.clone();
    let serve_file = operator_api::ServeFile {
        url: format!("http://{addr}"),
        token: runtime.operator_token.clone(),
    };
    if let Err(e) = serve_file.write(&data_dir) {
        tracing::warn!(error = %e, "cannot write serve.json: the CLI cannot read while the server runs");
    }
    Ok(RunningServer {
        addr,
        runtime,
        stop,
        task,
        data_dir,
    })
}

/// Runs the local server until `signal` resolves (Ctrl-C in the CLI).
pub async fn serve(
    config: &LocalConfig,
    signal: impl Future<Output = ()>,
) -> Result<(), LocalError> {
    let lease = crate::config::lease_from_lookup(|name| std::env::var(name).ok())?;
    let options = LocalOptions {
        leases: lease.map(Leases::all).unwrap_or_default(),
        ..LocalOptions::default()
    };
    let server = start_with(config, options).await?;
    println!(
        "smsflow listening on {} (public URL {}, data in {})",
        server.base_url(),
        server
            .runtime
            .app
            .settings
            .public_base_url
            .as_deref()
            .unwrap_or("-"),
        database_path(config).display()
    );
    for account in &config.accounts {
        let numbers: Vec<&str> = account.numbers.iter().map(|n| n.number.as_str()).collect();
        println!("  account {}: {}", account.id, numbers.join(", "));
        println!(
            "    team inbox: {}{}",
            server.base_url(),
            crate::routes::inbox_path(&account.id)
        );
    }
    println!("Press Ctrl-C to stop.");
    signal.await;
    println!("Shutting down...");
    server.shutdown().await?;
    println!("Stopped.");
    Ok(())
}
