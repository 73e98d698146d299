//! The local server's HTTP edges, over raw TCP (issue #12, rows 8 and 10): every error
//! answer is `{"error": code, "detail": text}` JSON with the right status, also where axum
//! or the server answers before a handler runs; and a client that stalls mid-request is cut
//! off after the read timeouts (shortened here).

use std::time::Duration;

use serde_json::Value;
use smsflow_shared::local::{LocalOptions, ReadTimeouts};
use smsflow_tests::example::{ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::local_server::ExampleServer;
use smsflow_tests::raw_http::{Answer, exchange};

/// The read timeouts of these tests: short, so a stall is seen in well under a second.
const SHORT: Duration = Duration::from_millis(300);

/// How long any connection may stay open here: far beyond [`SHORT`], far below the real
/// timeouts (30 s and 60 s), so a pass means the short ones cut it.
const PATIENCE: Duration = Duration::from_secs(5);

/// The example served with [`SHORT`] read timeouts.
async fn start() -> ExampleServer {
    let options = LocalOptions {
        read_timeouts: ReadTimeouts {
            header: SHORT,
            body: SHORT,
        },
        ..LocalOptions::default()
    };
    ExampleServer::start_with(ExampleConfig::new(), options).await
}

/// A request written as is, closing the connection after the answer.
fn request(method: &str, target: &str, headers: &str, body_len: usize) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}Content-Length: {body_len}\r\n\r\n"
    )
}

/// The answer is `{"error": code, "detail": <text>}` JSON and nothing else.
fn assert_json_error(answer: &Answer, status: u16, code: &str, case: &str) {
    assert_eq!(answer.status, Some(status), "{case}: {answer:?}");
    assert_eq!(
        answer.header("content-type"),
        Some("application/json"),
        "{case}: {answer:?}"
    );
    let body = answer.json();
    let fields = body.as_object().expect("an object");
    assert_eq!(fields.len(), 2, "{case}: only error and detail: {body}");
    assert_eq!(body["error"], code, "{case}: {body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{case}: a detail: {body}"
    );
}

/// A request and the error it must get.
struct Case {
    name: &'static str,
    method: &'static str,
    target: String,
    headers: &'static str,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
}

impl Case {
    fn new(
        name: &'static str,
        method: &'static str,
        target: &str,
        status: u16,
        code: &'static str,
    ) -> Self {
        Case {
            name,
            method,
            target: target.to_string(),
            headers: "",
            body: vec![],
            status,
            code,
        }
    }

    /// With a body of this `Content-Type` header line.
    fn body(self, content_type: &'static str, body: Vec<u8>) -> Self {
        Case {
            headers: content_type,
            body,
            ..self
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_json_with_its_status() {
    let server = start().await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let json = "Content-Type: application/json\r\n";
    let long_query = format!("/crm/acme/send?x={}", "a".repeat(9_000));
    #[rustfmt::skip] // a table
    let cases = [
        Case::new("unknown route", "GET", "/nowhere", 404, "route_not_found"),
        Case::new("wrong method", "GET", "/twilio/inbound", 405, "method_not_allowed"),
        Case::new("long URL", "GET", &long_query, 414, "uri_too_long"),
        Case::new("body too large", "POST", "/crm/acme/send", 413, "payload_too_large")
            .body(form, vec![b'a'; 3 * 1024 * 1024]),
        Case::new("bad UTF-8 in a path", "POST", "/crm/%FF/send", 400, "bad_request"),
        Case::new("a repeated key", "POST", "/crm/acme/goals/reset?key=a&key=b", 400, "bad_request"),
        Case::new("sandbox form body", "POST", "/_sandbox/inbound", 415, "unsupported_media_type")
            .body(form, b"from=x".to_vec()),
        Case::new("sandbox JSON lacking fields", "POST", "/_sandbox/inbound", 422, "unprocessable_entity")
            .body(json, b"{}".to_vec()),
    ];
    for case in cases {
        let head = request(case.method, &case.target, case.headers, case.body.len());
        let answer = exchange(server.addr, &head, case.body, PATIENCE).await;
        assert_json_error(&answer, case.status, case.code, case.name);
    }
    // The 405 still says what is allowed.
    let head = request("GET", "/twilio/inbound", "", 0);
    let answer = exchange(server.addr, &head, vec![], PATIENCE).await;
    assert_eq!(answer.header("allow"), Some("POST"), "{answer:?}");
    server.stop().await;
}

/// `key` given twice in the query string is refused alike on every route that takes it,
/// even when both are the account's key: no route picks one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_key_is_refused_on_every_crm_route() {
    let server = start().await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let twice = format!("key={ACME_SEND_KEY}&key={ACME_SEND_KEY}");
    let cases = [
        (
            "send",
            format!("/crm/acme/send?{twice}"),
            "phone=%2B14155552690&message=hi",
        ),
        (
            "received check",
            format!("/crm/acme/received?{twice}"),
            "contactId=1",
        ),
        (
            "goals reset",
            "/crm/acme/goals/reset?key=a&key=b".to_string(),
            "",
        ),
        (
            "sequence start",
            format!("/crm/acme/sequences/intake/start?{twice}"),
            "contactId=1",
        ),
    ];
    for (name, target, body) in cases {
        let head = request("POST", &target, form, body.len());
        let answer = exchange(server.addr, &head, body.as_bytes().to_vec(), PATIENCE).await;
        assert_json_error(&answer, 400, "bad_request", name);
        let detail = answer.json()["detail"].to_string();
        assert!(detail.contains("repeats `key`"), "{name}: {detail}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_head_is_cut_off() {
    let server = start().await;
    let half_head = "POST /crm/acme/send HTTP/1.1\r\nHost: localhost\r\n";
    let answer = exchange(server.addr, half_head, vec![], PATIENCE).await;
    assert_eq!(answer.status, None, "nothing to answer: {answer:?}");
    assert!(answer.closed_after >= SHORT, "{answer:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_request_body_is_cut_off_with_a_408() {
    let server = start().await;
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    // 100 bytes announced, 4 sent.
    let head = request("POST", "/crm/acme/send", form, 100);
    let answer = exchange(server.addr, &head, b"key=".to_vec(), PATIENCE).await;
    assert_json_error(&answer, 408, "request_timeout", "stalled body");
    assert!(answer.closed_after >= SHORT, "{answer:?}");
    server.stop().await;
}

/// A server with short timeouts still serves whoever is not stalling: a whole request in
/// one go, and the same again after the first connection was cut off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_requests_are_served_within_the_timeouts() {
    let server = start().await;
    for _ in 0..2 {
        let head = request("GET", "/healthz", "", 0);
        let answer = exchange(server.addr, &head, vec![], PATIENCE).await;
        assert_eq!(answer.status, Some(200), "{answer:?}");
        assert_eq!(answer.json(), Value::from_iter([("status", "ok")]));
    }
    server.stop().await;
}
