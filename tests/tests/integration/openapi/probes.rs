//! Every documented operation, requested in both shapes: once bare (no body, no key, no
//! signature) and once as a client would call it. Each answer's status must be documented
//! for the operation and its JSON body must match the documented schema; a method the
//! document does not list for a path must not be served.

use std::time::Duration;

use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};
use smsflow_tests::example::{ACME_LONG_CODE, ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::local_server::created_contact_id;
use smsflow_tests::poll::Patience;
use smsflow_tests::shape::{Deployment, Shape};

use super::{METHODS, answer_schema, documented_operations, schema_problems, spec};

const ANN: &str = "+14155552671";

/// The stack's cold starts and queue polling take seconds.
const PATIENCE: Patience = Patience {
    within: Duration::from_secs(30),
    every: Duration::from_millis(200),
};

/// One request: the documented operation it calls, the concrete path and its body.
struct Probe {
    method: String,
    /// The path as documented (`/crm/{account}/send`).
    documented: String,
    /// The path requested, with its query.
    path: String,
    body: Body,
    /// The status a client calling it this way gets (bare probes: any documented one).
    expected: Option<u16>,
}

enum Body {
    None,
    Json(Value),
    Form(Vec<(&'static str, &'static str)>),
}

/// Where `documented`'s function listens in `deployment`, by the document's
/// `x-smsflow-function` (on the stack each CRM function has its own URL).
fn base<'a>(deployment: &'a Deployment, spec: &Value, method: &str, documented: &str) -> &'a str {
    let function = spec["paths"][documented][method]["x-smsflow-function"].as_str();
    match function {
        Some("inbound-sms" | "status-callback") => &deployment.twilio_local,
        Some("campaign-send") => &deployment.crm,
        Some("sequence-start") => &deployment.sequences,
        Some("local" | "local-server") => &deployment.sandbox,
        Some("inbox") => &deployment.inbox,
        other => panic!("{method} {documented}: unknown x-smsflow-function {other:?}"),
    }
}

/// The path with every `{parameter}` given a value acme's deployment has.
fn concrete(documented: &str) -> String {
    documented
        .replace("{account}", "acme")
        .replace("{sequence}", "appointment")
        .replace("{secret}", "not-the-callback-secret")
        .replace("{phone}", "%2B14155552671")
        .replace("{queue}", "send")
        .replace("{name}", "inbox.css")
}

fn bare(method: &str, documented: &str) -> Probe {
    let path = concrete(documented);
    Probe {
        method: method.into(),
        documented: documented.into(),
        path,
        body: Body::None,
        expected: None,
    }
}

/// Requests as a client makes them, with the status each gets.
fn as_called(contact_id: &str) -> Vec<Probe> {
    let keyed = |path: &str| format!("{}?key={ACME_SEND_KEY}", concrete(path));
    let probe = |method: &str, documented: &str, path: String, body, status| Probe {
        method: method.into(),
        documented: documented.into(),
        path,
        body,
        expected: Some(status),
    };
    vec![
        probe(
            "post",
            "/_sandbox/crm/{account}/contacts",
            concrete("/_sandbox/crm/{account}/contacts"),
            Body::Json(json!({"first_name": "Ben", "phone": "+14155550142"})),
            201,
        ),
        probe("get", "/healthz", "/healthz".into(), Body::None, 200),
        probe(
            "get",
            "/_sandbox/messages",
            "/_sandbox/messages?limit=5".into(),
            Body::None,
            200,
        ),
        probe(
            "get",
            "/_sandbox/emails",
            "/_sandbox/emails".into(),
            Body::None,
            200,
        ),
        probe(
            "get",
            "/_sandbox/crm/{account}/contacts",
            concrete("/_sandbox/crm/{account}/contacts"),
            Body::None,
            200,
        ),
        probe(
            "post",
            "/_sandbox/crm/{account}/notes",
            concrete("/_sandbox/crm/{account}/notes"),
            Body::Json(json!({"contact_id": contact_id, "type": "Call", "title": "Call"})),
            201,
        ),
        probe(
            "get",
            "/_sandbox/crm/{account}/notes",
            concrete("/_sandbox/crm/{account}/notes"),
            Body::None,
            200,
        ),
        probe(
            "get",
            "/_sandbox/crm/{account}/goals",
            concrete("/_sandbox/crm/{account}/goals"),
            Body::None,
            200,
        ),
        probe(
            "put",
            "/_sandbox/crm/{account}/outage",
            concrete("/_sandbox/crm/{account}/outage"),
            Body::Json(json!({"down": false})),
            200,
        ),
        // Without the server's operator token (the CLI's reads go through it: `conversations`
        // while `smsflow serve` runs, tests/tests/integration/end_to_end/replies.rs).
        probe(
            "get",
            "/_local/accounts/{account}/conversations",
            concrete("/_local/accounts/{account}/conversations"),
            Body::None,
            401,
        ),
        probe(
            "get",
            "/_local/accounts/{account}/conversations/{phone}",
            concrete("/_local/accounts/{account}/conversations/{phone}"),
            Body::None,
            401,
        ),
        probe(
            "get",
            "/_local/dead-letters/{queue}",
            "/_local/dead-letters/send".into(),
            Body::None,
            401,
        ),
        probe(
            "get",
            "/_sandbox/media/{key}",
            "/_sandbox/media/no-such-picture.png".into(),
            Body::None,
            404,
        ),
        probe(
            "post",
            "/_sandbox/email",
            "/_sandbox/email?spam=PASS".into(),
            Body::Json(json!({
                "from": "mary@acme.example",
                "to": "reply+0001abcdefghjkmnpqrstvwxyz@reply.acme.example",
                "text": "On my way",
            })),
            200,
        ),
        probe(
            "post",
            "/_sandbox/inbound",
            "/_sandbox/inbound".into(),
            Body::Json(json!({"from": ANN, "to": ACME_LONG_CODE, "body": "hello"})),
            200,
        ),
        probe(
            "post",
            "/crm/{account}/send",
            keyed("/crm/{account}/send"),
            Body::Json(
                json!({"phone": ANN, "message": "Hi ~Contact.LastName~, your order shipped.", "type": "transactional"}),
            ),
            202,
        ),
        probe(
            "post",
            "/crm/{account}/received",
            keyed("/crm/{account}/received"),
            Body::Json(json!({"phone": ANN, "type": "transactional", "withinDays": 30})),
            200,
        ),
        probe(
            "post",
            "/crm/{account}/goals/reset",
            keyed("/crm/{account}/goals/reset"),
            Body::None,
            200,
        ),
        probe(
            "post",
            "/crm/{account}/sequences/{sequence}/start",
            keyed("/crm/{account}/sequences/{sequence}/start"),
            Body::Form(vec![("contactId", "1")]),
            404,
        ),
        // Signed out, as a browser first comes to the inbox.
        probe(
            "get",
            "/inbox/{account}",
            concrete("/inbox/{account}"),
            Body::None,
            303,
        ),
        probe(
            "get",
            "/inbox/{account}/sign-in",
            concrete("/inbox/{account}/sign-in"),
            Body::None,
            200,
        ),
        probe(
            "post",
            "/inbox/{account}/sign-in",
            concrete("/inbox/{account}/sign-in"),
            Body::Form(vec![("email", "nobody@acme.example")]),
            200,
        ),
        probe(
            "get",
            "/inbox/{account}/link",
            format!("{}?token=not-a-token", concrete("/inbox/{account}/link")),
            Body::None,
            200,
        ),
        probe(
            "post",
            "/inbox/{account}/link",
            concrete("/inbox/{account}/link"),
            Body::Form(vec![("token", "not-a-token")]),
            400,
        ),
        probe(
            "post",
            "/inbox/{account}/sign-out",
            concrete("/inbox/{account}/sign-out"),
            Body::Form(vec![("csrf", "none")]),
            303,
        ),
        probe(
            "get",
            "/inbox/{account}/c/{phone}",
            concrete("/inbox/{account}/c/{phone}"),
            Body::None,
            303,
        ),
        probe(
            "post",
            "/inbox/{account}/c/{phone}",
            concrete("/inbox/{account}/c/{phone}"),
            Body::Form(vec![
                ("text", "hi"),
                ("csrf", "none"),
                ("request_id", "01JZZZZZZZZZ"),
            ]),
            303,
        ),
        probe(
            "get",
            "/inbox/{account}/events",
            format!("{}?since=0", concrete("/inbox/{account}/events")),
            Body::None,
            401,
        ),
        probe(
            "get",
            "/inbox/_assets/{name}",
            "/inbox/_assets/inbox.js".into(),
            Body::None,
            200,
        ),
        probe(
            "post",
            "/twilio/inbound",
            "/twilio/inbound".into(),
            Body::Form(vec![
                ("MessageSid", "SM1"),
                ("AccountSid", "AC1"),
                ("From", ANN),
                ("To", ACME_LONG_CODE),
                ("Body", "hi"),
            ]),
            403,
        ),
        probe(
            "post",
            "/twilio/status",
            "/twilio/status?account=acme&message=m1".into(),
            Body::Form(vec![("MessageSid", "SM1"), ("MessageStatus", "delivered")]),
            403,
        ),
        probe(
            "post",
            "/instasent/callback/{account}/{secret}",
            concrete("/instasent/callback/{account}/{secret}"),
            Body::Json(
                json!({"id": "6501b2c3", "clientId": "m1", "status": "delivered", "code": null, "eventAt": "2026-01-05T10:00:00Z"}),
            ),
            403,
        ),
    ]
}

fn request(client: &Client, url: &str, method: &str, body: &Body) -> RequestBuilder {
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("an HTTP method");
    let request = client.request(method, url);
    match body {
        Body::None => request,
        Body::Json(value) => request.json(value),
        Body::Form(fields) => request.form(fields),
    }
}

/// Sends `probe` and checks its answer against the document: `Err` says what differs.
async fn check(
    deployment: &Deployment,
    spec: &Value,
    client: &Client,
    probe: &Probe,
) -> Result<(), String> {
    let url = format!(
        "{}{}",
        base(deployment, spec, &probe.method, &probe.documented),
        probe.path
    );
    let answer = request(client, &url, &probe.method, &probe.body)
        .send()
        .await
        .expect("answers");
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    let what = format!("{} {} → {status} {text}", probe.method, probe.path);
    if probe.expected.is_some_and(|expected| expected != status) {
        return Err(format!("{what}: expected {:?}", probe.expected));
    }
    let Some(schema) = answer_schema(spec, &probe.method, &probe.documented, status)
        .map_err(|e| format!("{what}: {e}"))?
    else {
        return Ok(());
    };
    let body: Value = serde_json::from_str(&text).map_err(|e| format!("{what}: not JSON: {e}"))?;
    match schema_problems(spec, &schema, &body).as_slice() {
        [] => Ok(()),
        problems => Err(format!("{what}: does not match {schema}: {problems:?}")),
    }
}

/// Methods the document does not list for a path: the routers must not serve them.
async fn check_unlisted_methods(
    deployment: &Deployment,
    spec: &Value,
    client: &Client,
) -> Vec<String> {
    let documented = documented_operations(spec);
    let mut problems = Vec::new();
    for path in documented
        .iter()
        .map(|(_, p)| p.clone())
        .collect::<std::collections::BTreeSet<_>>()
    {
        let listed = documented
            .iter()
            .find(|(_, p)| *p == path)
            .map(|(m, _)| m.as_str())
            .unwrap_or("get");
        let base = base(deployment, spec, listed, &path);
        for method in METHODS
            .iter()
            .filter(|m| !documented.contains(&(m.to_string(), path.clone())))
        {
            let url = format!("{base}{}", concrete(&path));
            let status = request(client, &url, method, &Body::None)
                .send()
                .await
                .expect("answers")
                .status();
            if ![404, 405].contains(&status.as_u16()) {
                problems.push(format!(
                    "{method} {path} is served ({status}) but not documented"
                ));
            }
        }
    }
    problems
}

/// Gives every sandbox listing an item, so the probes check items against their schemas
/// too: a text from Ann (an e-mail, goals) and a text to her (a carrier message, a note).
async fn fill_listings(deployment: &Deployment, contact_id: &str) {
    let text = json!({"from": ANN, "to": ACME_LONG_CODE, "body": "hello"});
    let (status, _) = deployment
        .post_json(&format!("{}/_sandbox/inbound", deployment.sandbox), &text)
        .await;
    assert_eq!(status, 200);
    let send = format!("{}/crm/acme/send?key={ACME_SEND_KEY}", deployment.crm);
    let (status, body) = deployment
        .post_form(
            &send,
            &[
                ("contactId", contact_id),
                ("message", "Your order shipped."),
                ("type", "transactional"),
            ],
        )
        .await;
    assert_eq!(status, 202, "{body}");
    for listing in [
        "/_sandbox/emails",
        "/_sandbox/messages",
        "/_sandbox/crm/acme/goals",
        "/_sandbox/crm/acme/notes",
    ] {
        let key = listing.rsplit('/').next().unwrap_or_default();
        deployment
            .eventually_sandbox(listing, PATIENCE, |body| {
                body[key].as_array().is_some_and(|items| !items.is_empty())
            })
            .await;
    }
}

/// Every probe of `deployment`: each documented operation bare and as a client calls it.
async fn probes(deployment: &Deployment, spec: &Value) -> Vec<Probe> {
    let ann = json!({"first_name": "Ann", "phone": ANN});
    let contacts = format!("{}/_sandbox/crm/acme/contacts", deployment.sandbox);
    let (status, body) = deployment.post_json(&contacts, &ann).await;
    let contact_id = created_contact_id(status, &body);
    fill_listings(deployment, &contact_id).await;
    // Only `smsflow serve` has the operator's routes; the stack's CLI reads the table.
    let served = |method: &str, path: &str| {
        let function = spec["paths"][path][method]["x-smsflow-function"].as_str();
        deployment.shape == Shape::Local || function != Some("local-server")
    };
    let called: Vec<Probe> = as_called(&contact_id)
        .into_iter()
        .filter(|p| served(&p.method, &p.documented))
        .collect();
    let uncalled: Vec<_> = documented_operations(spec)
        .into_iter()
        .filter(|(m, p)| served(m, p))
        .filter(|(m, p)| !called.iter().any(|c| c.method == *m && c.documented == *p))
        .collect();
    assert!(
        uncalled.is_empty(),
        "add a probe as a client calls {uncalled:?}"
    );
    let bare_probes = documented_operations(spec)
        .into_iter()
        .filter(|(m, p)| served(m, p))
        .map(|(m, p)| bare(&m, &p));
    bare_probes.chain(called).collect()
}

async fn probe_shape(shape: Shape) {
    let spec = spec();
    let deployment = Deployment::start(shape, ExampleConfig::new()).await;
    // A signed-out inbox page redirects; the probe checks the redirect itself.
    let client = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client");
    let mut problems = Vec::new();
    for probe in probes(&deployment, &spec).await {
        if let Err(problem) = check(&deployment, &spec, &client, &probe).await {
            problems.push(problem);
        }
    }
    problems.extend(check_unlisted_methods(&deployment, &spec, &client).await);
    deployment.stop().await;
    assert!(
        problems.is_empty(),
        "{shape:?} differs from docs/openapi.yaml:\n{}",
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_server_answers_as_documented() {
    probe_shape(Shape::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_answers_as_documented() {
    probe_shape(Shape::Stack).await;
}
