//! The AWS endpoint the functions call (`AWS_ENDPOINT_URL`): each request is signed with
//! its function's own credentials, checked against that function's role as IAM would, and
//! forwarded to moto only when allowed. A refusal answers in the service's own error shape
//! (`AccessDeniedException`, AWS's message) and is logged and kept, so a missing grant
//! fails the run the way it would on AWS. Allowed calls are kept too: which function made
//! which call is what the grant audit and the benchmarks read.
//!
//! An SQS message body SQS would refuse (moto takes any) is refused here as SQS refuses it.
//! An SES e-mail's Reply-To, which moto does not keep, is kept here for the sandbox.
//!
//! DynamoDB requests reach moto one at a time: moto does not make a conditional write's
//! check-and-write atomic across its request threads, which DynamoDB guarantees.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Mutex;

use smsflow_shared::ports::{Clock, SystemClock};

use crate::aws_request::{self, Authorisation, Check, Partition};
use crate::policy::{Decision, Policy};
use crate::sent_emails::SentEmails;
use crate::sqs_rules;

/// A function's identity: its role, and the session name Lambda gives it.
pub struct Caller {
    pub function: String,
    pub role_name: String,
    pub session: String,
    pub policy: Policy,
}

/// One call a function made, allowed or not.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub function: String,
    pub operation: String,
    pub checks: Vec<Check>,
    pub allowed: bool,
    /// Why not, in AWS's words.
    pub denial: Option<String>,
    /// When the call reached the runner.
    pub at_ms: u64,
    /// How long a DynamoDB call waited for its turn (the runner sends them one at a time).
    pub turn_wait_ms: Option<u64>,
    /// From arrival to moto's answer, the turn included; none for a refused call.
    pub took_ms: Option<u64>,
}

pub struct AwsProxy {
    partition: Partition,
    callers: HashMap<String, Caller>,
    moto: String,
    http: reqwest::Client,
    dynamodb_turn: Mutex<()>,
    calls: std::sync::Mutex<Vec<CallRecord>>,
    /// The e-mails moto accepted, as they passed (`/_sandbox/emails`).
    emails: Arc<SentEmails>,
}

impl AwsProxy {
    /// `callers` by access key id; `moto` is moto's base URL.
    pub fn new(partition: Partition, callers: HashMap<String, Caller>, moto: String) -> Arc<Self> {
        Arc::new(AwsProxy {
            partition,
            callers,
            moto: moto.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            dynamodb_turn: Mutex::new(()),
            calls: std::sync::Mutex::new(Vec::new()),
            emails: Arc::default(),
        })
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new().fallback(handle).with_state(self.clone())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The e-mails the functions sent through SES that moto accepted.
    pub fn emails(&self) -> Arc<SentEmails> {
        self.emails.clone()
    }

    /// Records the call; its index, for [`AwsProxy::timed`].
    fn record(&self, record: CallRecord) -> usize {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.push(record);
        calls.len() - 1
    }

    /// Adds to a recorded call what its turn and moto took.
    fn timed(&self, index: usize, turn_wait: Option<Duration>, took: Duration) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        if let Some(call) = self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(index)
        {
            call.turn_wait_ms = turn_wait.map(ms);
            call.took_ms = Some(ms(took));
        }
    }

    /// The first check the caller's role does not allow, in AWS's words.
    fn refusal(&self, caller: &Caller, authorisation: &Authorisation) -> Option<String> {
        authorisation.checks.iter().find_map(|check| {
            let decisions: Vec<Decision> = check
                .resources
                .iter()
                .map(|r| caller.policy.decide(&check.action, r))
                .collect();
            if decisions.contains(&Decision::Allowed) {
                return None;
            }
            let why = if decisions.contains(&Decision::ExplicitDeny) {
                "with an explicit deny in an identity-based policy"
            } else {
                "because no identity-based policy allows the action"
            };
            Some(format!(
                "User: arn:aws:sts::{}:assumed-role/{}/{} is not authorized to perform: {} on resource: {} {why}",
                self.partition.account_id,
                caller.role_name,
                caller.session,
                check.action,
                check.resources.join(" or "),
            ))
        })
    }

    async fn forward(
        &self,
        method: Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Forwarded {
        let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let mut request = self.http.request(method, format!("{}{path}", self.moto));
        for (name, value) in headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                request = request.header(name, value);
            }
        }
        match request.body(body).send().await {
            Ok(answer) => {
                let status = answer.status();
                let mut out = HeaderMap::new();
                for (name, value) in answer.headers() {
                    if !matches!(
                        name.as_str(),
                        "content-length" | "transfer-encoding" | "connection"
                    ) {
                        out.append(name, value.clone());
                    }
                }
                let body = answer.bytes().await.unwrap_or_default();
                Forwarded {
                    status,
                    headers: out,
                    body,
                }
            }
            Err(e) => Forwarded {
                status: StatusCode::SERVICE_UNAVAILABLE,
                headers: HeaderMap::new(),
                body: json!({"message": format!("moto is unreachable: {e}")})
                    .to_string()
                    .into(),
            },
        }
    }
}

/// moto's answer to a forwarded call.
struct Forwarded {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl IntoResponse for Forwarded {
    fn into_response(self) -> Response {
        (self.status, self.headers, self.body).into_response()
    }
}

async fn handle(
    State(proxy): State<Arc<AwsProxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A pre-signed URL carries its signature in the query instead of a header.
    let presigned = aws_request::presigned_credential(uri.query().unwrap_or_default());
    let authorization = header("authorization")
        .map(str::to_string)
        .or_else(|| presigned.clone().map(|c| format!("Credential={c}")));
    let Some(caller) = authorization
        .as_deref()
        .and_then(aws_request::access_key)
        .and_then(|key| proxy.callers.get(key))
    else {
        return denied(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            None,
        );
    };
    let target = header("x-amz-target");
    let s3 = authorization
        .as_deref()
        .and_then(aws_request::signed_service)
        == Some("s3");
    let read = if s3 {
        aws_request::s3_authorisation(method.as_str(), uri.path())
    } else {
        aws_request::authorisation(&proxy.partition, target, method.as_str(), uri.path(), &body)
    };
    let authorisation = match read {
        Ok(a) => a,
        Err(unreadable) => {
            let message = format!("the stack runner cannot authorise this request: {unreadable}");
            tracing::error!(function = %caller.function, reason = %message, "AWS call refused");
            return match s3 {
                true => s3_denied(&message),
                false => denied("AccessDeniedException", &message, target),
            };
        }
    };
    let refusal = proxy.refusal(caller, &authorisation);
    let arrived = Instant::now();
    let index = proxy.record(CallRecord {
        function: caller.function.clone(),
        operation: authorisation.operation.clone(),
        checks: authorisation.checks.clone(),
        allowed: refusal.is_none(),
        denial: refusal.clone(),
        at_ms: now_ms(),
        turn_wait_ms: None,
        took_ms: None,
    });
    if let Some(message) = refusal {
        tracing::error!(function = %caller.function, operation = %authorisation.operation, reason = %message, "AccessDenied");
        return match s3 {
            true => s3_denied(&message),
            false => denied("AccessDeniedException", &message, target),
        };
    }
    if let Some(message) = sqs_rules::refused_body(&authorisation.operation, &body) {
        return sqs_refusal(&message);
    }
    let (answer, turn_wait) = if authorisation.operation.starts_with("DynamoDB.") {
        let _turn = proxy.dynamodb_turn.lock().await;
        let turn_wait = arrived.elapsed();
        (
            proxy.forward(method, &uri, &headers, body.clone()).await,
            Some(turn_wait),
        )
    } else {
        (
            proxy.forward(method, &uri, &headers, body.clone()).await,
            None,
        )
    };
    proxy.timed(index, turn_wait, arrived.elapsed());
    if authorisation.operation == "SESv2.SendEmail" && answer.status.is_success() {
        proxy.emails.keep(&body, &answer.body, SystemClock.now());
    }
    answer.into_response()
}

/// SQS's answer to a request it refuses as invalid.
fn sqs_refusal(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amzn-query-error", "InvalidParameterValue;Sender"),
        ],
        json!({"__type": "com.amazonaws.sqs#InvalidParameterValue", "message": message})
            .to_string(),
    )
        .into_response()
}

/// S3's refusal: its XML error document.
fn s3_denied(message: &str) -> Response {
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        StatusCode::FORBIDDEN,
        [("content-type", "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>{escaped}</Message></Error>"
        ),
    )
        .into_response()
}

/// A refusal in the calling protocol's error shape: JSON 1.0 `__type` for DynamoDB and
/// SQS, the REST `x-amzn-ErrorType` header for SES v2.
fn denied(code: &str, message: &str, target: Option<&str>) -> Response {
    match target {
        Some(target) => {
            let status = if target.starts_with("DynamoDB") {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::FORBIDDEN
            };
            (
                status,
                [
                    ("content-type", "application/x-amz-json-1.0"),
                    ("x-amzn-query-error", "AccessDenied;Sender"),
                ],
                json!({"__type": format!("com.amazon.coral.service#{code}"), "message": message})
                    .to_string(),
            )
                .into_response()
        }
        None => (
            StatusCode::FORBIDDEN,
            [
                ("x-amzn-errortype", code),
                ("content-type", "application/json"),
            ],
            json!({"message": message}).to_string(),
        )
            .into_response(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
