//! The local server as a user runs it, driven over HTTP: its routes, its sandbox routes
//! (`/_sandbox/...`: the carrier's messages, the sandbox CRM, the outbox) and Twilio's
//! signed webhooks.

use serde_json::Value;
use smsflow_shared::config::LocalConfig;
use smsflow_shared::local::{self, RunningServer};

use crate::poll::{Patience, eventually};
use crate::twilio;

/// The server on `config`, serving and running its queue consumers.
pub async fn start(config: &LocalConfig) -> RunningServer {
    local::start(config).await.expect("server starts")
}

/// GETs `path`: the status and the JSON body.
pub async fn get_json(server: &RunningServer, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{}{path}", server.base_url()))
        .await
        .expect("server answers");
    let status = r.status().as_u16();
    (status, r.json().await.expect("JSON body"))
}

/// GETs `path`: the JSON body, whatever the status.
pub async fn get_body(server: &RunningServer, path: &str) -> Value {
    get_json(server, path).await.1
}

/// POSTs `body` as JSON to `path`: the status and the JSON body.
pub async fn post_json(server: &RunningServer, path: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", server.base_url()))
        .json(body)
        .send()
        .await
        .expect("server answers");
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

/// POSTs `params` to `/twilio/inbound` as Twilio does, signed with acme's auth token: the
/// status and the body of the answer.
pub async fn post_signed_inbound(server: &RunningServer, params: &[(&str, &str)]) -> (u16, String) {
    let url = format!("{}/twilio/inbound", server.base_url());
    let (form, signature) = twilio::sign(&url, params);
    let r = reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&form)
        .send()
        .await
        .expect("webhook answers");
    (r.status().as_u16(), r.text().await.expect("body"))
}
