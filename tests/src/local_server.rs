//! The local server as a user runs it, driven over HTTP: its routes, its sandbox routes
//! (`/_sandbox/...`: the carrier's messages, the sandbox CRM, the outbox) and Twilio's
//! signed webhooks; and the example configuration served from a data directory of its own.

use std::ops::Deref;

use serde_json::Value;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::local::{self, LocalOptions, RunningServer};
use tempfile::TempDir;

use crate::example::ExampleConfig;
use crate::poll::{Patience, eventually};
use crate::twilio;

/// A configuration of the example (as a test edited it) served on a random loopback port
/// from a temporary data directory, which goes when the test ends. Derefs to the server.
pub struct ExampleServer {
    // Declared first, so it is dropped (and stops serving) before its directory goes.
    server: RunningServer,
    config: LocalConfig,
    options: LocalOptions,
    data_dir: TempDir,
}

impl ExampleServer {
    /// `config` served with the default options.
    pub async fn start(config: ExampleConfig) -> Self {
        Self::start_with(config, LocalOptions::default()).await
    }

    /// `config` served with `options` (fast retries, short read timeouts...).
    pub async fn start_with(config: ExampleConfig, options: LocalOptions) -> Self {
        let data_dir = tempfile::tempdir().expect("temp dir");
        let config = config.serving_from(data_dir.path()).parse();
        Self::serve(config, options, data_dir).await
    }

    /// Stops cleanly and starts again on the same configuration and data directory.
    pub async fn restart(self) -> Self {
        let ExampleServer {
            server,
            config,
            options,
            data_dir,
        } = self;
        server.shutdown().await.expect("clean shutdown");
        Self::serve(config, options, data_dir).await
    }

    /// Stops cleanly and starts again on the same data directory with another
    /// configuration (a user removed, say).
    pub async fn restart_on(self, config: ExampleConfig) -> Self {
        let ExampleServer {
            server,
            options,
            data_dir,
            ..
        } = self;
        server.shutdown().await.expect("clean shutdown");
        let config = config.serving_from(data_dir.path()).parse();
        Self::serve(config, options, data_dir).await
    }

    async fn serve(config: LocalConfig, options: LocalOptions, data_dir: TempDir) -> Self {
        let server = local::start_with(&config, options)
            .await
            .expect("server starts");
        ExampleServer {
            server,
            config,
            options,
            data_dir,
        }
    }

    /// Stops cleanly: in-flight work finishes and the database closes.
    pub async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

impl Deref for ExampleServer {
    type Target = RunningServer;

    fn deref(&self) -> &RunningServer {
        &self.server
    }
}

/// GETs `path`: the status and the JSON body.
pub async fn get_json(server: &RunningServer, path: &str) -> (u16, Value) {
    json_answer(reqwest::Client::new().get(format!("{}{path}", server.base_url()))).await
}

/// GETs `path`: the JSON body, whatever the status.
pub async fn get_body(server: &RunningServer, path: &str) -> Value {
    get_json(server, path).await.1
}

/// POSTs `body` as JSON to `path`: the status and the JSON body.
pub async fn post_json(server: &RunningServer, path: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}{path}", server.base_url());
    json_answer(reqwest::Client::new().post(url).json(body)).await
}

/// The id of the contact `POST /_sandbox/crm/{account}/contacts` answered with `status`
/// and `body`, which must be a creation (201).
pub fn created_contact_id(status: u16, body: &Value) -> String {
    assert_eq!(status, 201, "{body}");
    body["contact"]["id"]
        .as_str()
        .expect("contact id")
        .to_string()
}

/// A CRM's send request for `account` with `key` and the form `fields`: the status and
/// the JSON answer.
pub async fn crm_send(
    server: &RunningServer,
    account: &str,
    key: &str,
    fields: &[(&str, &str)],
) -> (u16, Value) {
    let url = format!("{}/crm/{account}/send?key={key}", server.base_url());
    json_answer(reqwest::Client::new().post(url).form(fields)).await
}

/// Sends `request`: the status and the JSON body.
async fn json_answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let r = request.send().await.expect("server answers");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// GETs `path` until `done` holds for its JSON body, and returns that body.
pub async fn eventually_json(
    server: &RunningServer,
    path: &str,
    patience: Patience,
    done: impl Fn(&Value) -> bool,
) -> Value {
    eventually(patience, async || {
        let body = get_body(server, path).await;
        if done(&body) {
            Ok(body)
        } else {
            Err(format!("timed out waiting on {path}: {body}"))
        }
    })
    .await
}

/// A text to acme's long code as its Twilio posts it ([`twilio::text_to_acme`]): the
/// status and the body of the answer.
pub async fn post_text_to_acme(
    server: &RunningServer,
    sid: &str,
    from: &str,
    body: &str,
) -> (u16, String) {
    post_signed_inbound(server, &twilio::text_to_acme(sid, from, body)).await
}

/// POSTs `params` to `/twilio/inbound` as Twilio does, signed with acme's auth token: the
/// status and the body of the answer.
pub async fn post_signed_inbound(server: &RunningServer, params: &[(&str, &str)]) -> (u16, String) {
    twilio::post_signed(&format!("{}/twilio/inbound", server.base_url()), params).await
}
