//! The execution model against a small runtime written in Python: each event says what
//! the function does with it (answer, fail, hang, crash).

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

/// A Lambda runtime loop: `{"do": "echo"}` answers the event, `"error"` reports a function
/// error, `"hang"` never answers, `"crash"` exits; `{"init": "fail"}` in the environment
/// reports an init error and exits.
const RUNTIME: &str = r#"#!/usr/bin/env python3
import json, os, sys, time, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
def post(path, body):
    urllib.request.urlopen(urllib.request.Request(api + path, data=json.dumps(body).encode(), method="POST"))
if os.environ.get("FAIL_INIT"):
    post("/init/error", {"errorType": "Runtime.InitError", "errorMessage": "no config"})
    sys.exit(1)
while True:
    with urllib.request.urlopen(api + "/invocation/next") as r:
        request_id = r.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.load(r)
    action = event["do"]
    if action == "echo":
        post(f"/invocation/{request_id}/response", {"pid": os.getpid(), "event": event})
    elif action == "error":
        post(f"/invocation/{request_id}/error", {"errorType": "Oops", "errorMessage": "it broke"})
    elif action == "hang":
        time.sleep(60)
    elif action == "crash":
        sys.exit(3)
"#;

struct Fixture {
    _dir: tempfile::TempDir,
    pool: Arc<FunctionPool>,
}

fn fixture(extra_env: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = dir.path().join("bootstrap");
    std::fs::write(&binary, RUNTIME).expect("runtime written");
    let mut permissions = std::fs::metadata(&binary).expect("metadata").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&binary, permissions).expect("executable");
    let mut environment: BTreeMap<String, String> = extra_env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    environment.insert("PATH".into(), std::env::var("PATH").unwrap_or_default());
    let pool = FunctionPool::new(FunctionSpec {
        logical_id: "TestFunction".into(),
        arn: "arn:aws:lambda:us-east-1:123456789012:function:test".into(),
        binary,
        timeout: Duration::from_secs(2),
        environment,
        log_file: dir.path().join("test.log"),
    });
    Fixture { _dir: dir, pool }
}

async fn invoke(pool: &FunctionPool, action: &str) -> Result<serde_json::Value, InvokeError> {
    let event = serde_json::json!({ "do": action }).to_string();
    let body = pool.invoke(Bytes::from(event)).await?;
    Ok(serde_json::from_slice(&body).expect("JSON response"))
}

#[tokio::test]
async fn a_warm_instance_serves_the_next_event() {
    let f = fixture(&[]);
    let first = invoke(&f.pool, "echo").await.expect("answered");
    let second = invoke(&f.pool, "echo").await.expect("answered");
    assert_eq!(first["event"]["do"], "echo");
    assert_eq!(first["pid"], second["pid"], "the same instance, warm");
    assert_eq!(f.pool.cold_starts().len(), 1);
}

#[tokio::test]
async fn a_function_error_keeps_the_instance() {
    let f = fixture(&[]);
    let before = invoke(&f.pool, "echo").await.expect("answered");
    let error = invoke(&f.pool, "error").await.expect_err("function error");
    assert!(
        matches!(&error, InvokeError::Function { error_type, message, .. } if error_type == "Oops" && message == "it broke"),
        "{error}"
    );
    let after = invoke(&f.pool, "echo").await.expect("answered");
    assert_eq!(before["pid"], after["pid"]);
}

#[tokio::test]
async fn a_timed_out_or_crashed_instance_is_never_reused() {
    let f = fixture(&[]);
    let first = invoke(&f.pool, "echo").await.expect("answered");
    let timed_out = invoke(&f.pool, "hang").await.expect_err("timeout");
    assert!(
        matches!(timed_out, InvokeError::Timeout { .. }),
        "{timed_out}"
    );
    let second = invoke(&f.pool, "echo").await.expect("answered");
    assert_ne!(
        first["pid"], second["pid"],
        "a fresh instance after the timeout"
    );
    let crashed = invoke(&f.pool, "crash").await.expect_err("crash");
    assert!(matches!(crashed, InvokeError::Exited { .. }), "{crashed}");
    let third = invoke(&f.pool, "echo").await.expect("answered");
    assert_ne!(
        second["pid"], third["pid"],
        "a fresh instance after the crash"
    );
    assert_eq!(f.pool.cold_starts().len(), 3);
}

#[tokio::test]
async fn an_init_error_is_reported_with_the_runtimes_words() {
    let f = fixture(&[("FAIL_INIT", "1")]);
    let error = invoke(&f.pool, "echo").await.expect_err("init error");
    assert!(
        error.to_string().contains("Runtime.InitError: no config"),
        "{error}"
    );
}
