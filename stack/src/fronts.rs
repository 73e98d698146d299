//! What stands in front of the HTTP functions on AWS: an HTTP API (payload format 2.0 on
//! the `$default` stage) and Lambda function URLs. Each turns a request into the event AWS
//! would send — `Host` of the API's or URL's own domain, `X-Forwarded-Proto: https`,
//! `X-Forwarded-For` ending in the client's address, `rawPath`, cookies apart, bodies that
//! are not text base64-encoded — and the function's answer back into a response.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::lambda::{FunctionPool, InvokeError};

/// One route of an HTTP API: `POST /twilio/inbound` → a function.
pub struct ApiRoute {
    pub method: Method,
    pub path: String,
    pub pool: Arc<FunctionPool>,
}

/// An HTTP API on its `$default` stage: routes to functions.
pub struct HttpApi {
    pub api_id: String,
    pub domain: String,
    pub stage: String,
    pub account_id: String,
    pub routes: Vec<ApiRoute>,
}

/// A Lambda function URL: every request to one function.
pub struct FunctionUrl {
    pub url_id: String,
    pub domain: String,
    pub pool: Arc<FunctionPool>,
}

pub enum Front {
    HttpApi(HttpApi),
    FunctionUrl(FunctionUrl),
}

/// Serves `front` on `listener` until the task is aborted.
pub async fn serve(front: Arc<Front>, listener: tokio::net::TcpListener) {
    let router = Router::new().fallback(handle).with_state(front);
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, service).await {
        tracing::warn!(error = %e, "front stopped");
    }
}

/// The request as the front received it.
struct Incoming {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    client: SocketAddr,
}

async fn handle(
    State(front): State<Arc<Front>>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = Incoming {
        method,
        uri,
        headers,
        body,
        client,
    };
    match front.as_ref() {
        Front::HttpApi(api) => api.answer(&incoming).await,
        Front::FunctionUrl(url) => url.answer(&incoming).await,
    }
}

impl HttpApi {
    /// The answer of the function whose route matches; API Gateway's 404 when none does.
    async fn answer(&self, incoming: &Incoming) -> Response {
        let Some((route, params)) = match_route(&self.routes, incoming) else {
            // What API Gateway answers for a route it does not have.
            return (
                StatusCode::NOT_FOUND,
                axum::Json(json!({"message": "Not Found"})),
            )
                .into_response();
        };
        let route_key = format!("{} {}", route.method, route.path);
        let context = Context {
            account_id: &self.account_id,
            api_id: &self.api_id,
            domain: &self.domain,
            stage: &self.stage,
            route_key: &route_key,
        };
        let event = event(&context, incoming, params);
        let outcome = route.pool.invoke(Bytes::from(event.to_string())).await;
        http_api_response(outcome)
    }
}

impl FunctionUrl {
    /// The function's answer, as a function URL gives it.
    async fn answer(&self, incoming: &Incoming) -> Response {
        let context = Context {
            account_id: "anonymous",
            api_id: &self.url_id,
            domain: &self.domain,
            stage: "$default",
            route_key: "$default",
        };
        let event = event(&context, incoming, BTreeMap::new());
        let outcome = self.pool.invoke(Bytes::from(event.to_string())).await;
        function_url_response(outcome)
    }
}

/// The route whose method and path template match, with the path's parameters.
fn match_route<'a>(
    routes: &'a [ApiRoute],
    incoming: &Incoming,
) -> Option<(&'a ApiRoute, BTreeMap<String, String>)> {
    let path = incoming.uri.path();
    routes
        .iter()
        .filter(|r| r.method == incoming.method || r.method.as_str() == "ANY")
        .find_map(|r| path_params(&r.path, path).map(|params| (r, params)))
}

/// `{name}` segments of `template` bound to `path`'s, or `None` when they differ.
fn path_params(template: &str, path: &str) -> Option<BTreeMap<String, String>> {
    let template: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let path: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if template.len() != path.len() {
        return None;
    }
    let mut params = BTreeMap::new();
    for (t, p) in template.iter().zip(&path) {
        match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
            Some(name) if !p.is_empty() => {
                params.insert(name.to_string(), p.to_string());
            }
            Some(_) => return None,
            None if t == p => {}
            None => return None,
        }
    }
    Some(params)
}

struct Context<'a> {
    account_id: &'a str,
    api_id: &'a str,
    domain: &'a str,
    stage: &'a str,
    route_key: &'a str,
}

/// The payload format 2.0 event (the shape of both HTTP API and function URL events).
fn event(context: &Context, incoming: &Incoming, path_params: BTreeMap<String, String>) -> Value {
    let (headers, cookies) = event_headers(context.domain, incoming);
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": context.route_key,
        "rawPath": incoming.uri.path(),
        "rawQueryString": incoming.uri.query().unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": context.account_id,
            "apiId": context.api_id,
            "domainName": context.domain,
            "domainPrefix": context.domain.split('.').next().unwrap_or_default(),
            "http": {
                "method": incoming.method.as_str(),
                "path": incoming.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": incoming.client.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": crate::request_id(),
            "routeKey": context.route_key,
            "stage": context.stage,
            "time": httpdate_like(now.as_secs()),
            "timeEpoch": now.as_millis() as u64,
        },
        "isBase64Encoded": false,
    });
    let fields = event.as_object_mut().expect("built as an object");
    if !cookies.is_empty() {
        fields.insert("cookies".into(), json!(cookies));
    }
    if let Some(query) = query_parameters(incoming.uri.query()) {
        fields.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !path_params.is_empty() {
        fields.insert("pathParameters".into(), json!(path_params));
    }
    if !incoming.body.is_empty() {
        let text = is_text(headers.get("content-type").map(String::as_str));
        let body = match (text, std::str::from_utf8(&incoming.body)) {
            (true, Ok(text)) => text.to_string(),
            _ => {
                fields.insert("isBase64Encoded".into(), Value::Bool(true));
                BASE64.encode(&incoming.body)
            }
        };
        fields.insert("body".into(), Value::String(body));
    }
    event
}

/// Lower-cased headers, repeated ones joined with commas, with the ones AWS sets; cookies
/// apart, as payload 2.0 carries them.
fn event_headers(domain: &str, incoming: &Incoming) -> (BTreeMap<String, String>, Vec<String>) {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &incoming.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).to_string();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| c.trim().to_string()));
            continue;
        }
        headers
            .entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let client = incoming.client.ip().to_string();
    let forwarded_for = match headers.get("x-forwarded-for") {
        Some(before) => format!("{before}, {client}"),
        None => client,
    };
    headers.insert("host".into(), domain.to_string());
    headers.insert("x-forwarded-for".into(), forwarded_for);
    headers.insert("x-forwarded-port".into(), "443".into());
    headers.insert("x-forwarded-proto".into(), "https".into());
    headers.insert(
        "x-amzn-trace-id".into(),
        format!("Root=1-{}", crate::request_id()),
    );
    (headers, cookies)
}

fn query_parameters(query: Option<&str>) -> Option<Map<String, Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query?).ok()?;
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in pairs {
        match out.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                out.insert(name, Value::String(value));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The content types AWS passes as text; every other body arrives base64-encoded (Twilio's
/// form posts among them).
fn is_text(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/xml"
                | "application/yaml"
                | "application/x-yaml"
        )
}

/// `06/Dec/2026:08:09:03 +0000`, the request time format of API Gateway.
fn httpdate_like(epoch_secs: u64) -> String {
    let timestamp = jiff::Timestamp::from_second(epoch_secs as i64).unwrap_or_default();
    timestamp.strftime("%d/%b/%Y:%H:%M:%S +0000").to_string()
}

/// An HTTP API's answer: the function's response, or API Gateway's own 500/503.
fn http_api_response(outcome: Result<Bytes, InvokeError>) -> Response {
    match outcome {
        Ok(body) => function_response(&body),
        Err(e @ InvokeError::Timeout { .. }) => {
            tracing::warn!(error = %e, "integration timed out");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"message": "Service Unavailable"})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!(error = %e, "integration failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                axum::Json(json!({"message": "Internal Server Error"})),
            )
                .into_response()
        }
    }
}

/// A function URL's answer: the function's response, or Lambda's 502.
fn function_url_response(outcome: Result<Bytes, InvokeError>) -> Response {
    match outcome {
        Ok(body) => function_response(&body),
        Err(e) => {
            tracing::warn!(error = %e, "function URL invocation failed");
            (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response()
        }
    }
}

/// Payload 2.0's response: `{statusCode, headers, cookies, body, isBase64Encoded}`, or any
/// other JSON, which becomes a 200 with that JSON as its body.
fn function_response(body: &[u8]) -> Response {
    let Ok(doc) = serde_json::from_slice::<Value>(body) else {
        return (StatusCode::BAD_GATEWAY, "Internal Server Error").into_response();
    };
    let Some(status) = doc.get("statusCode").and_then(Value::as_u64) else {
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            doc.to_string(),
        )
            .into_response();
    };
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let text = doc["body"].as_str().unwrap_or_default();
    let payload = if doc["isBase64Encoded"].as_bool().unwrap_or(false) {
        BASE64.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let mut response = (status, payload).into_response();
    let headers = response.headers_mut();
    if let Some(fields) = doc["headers"].as_object() {
        for (name, value) in fields {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                headers.insert(name, value);
            }
        }
    }
    for cookie in doc["cookies"].as_array().into_iter().flatten() {
        if let Some(Ok(value)) = cookie.as_str().map(HeaderValue::from_str) {
            headers.append("set-cookie", value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_bind_their_parameters() {
        // (template, path, expected parameters)
        type Case<'a> = (&'a str, &'a str, Option<&'a [(&'a str, &'a str)]>);
        let cases: &[Case] = &[
            ("/twilio/inbound", "/twilio/inbound", Some(&[])),
            ("/twilio/inbound", "/twilio/status", None),
            (
                "/crm/{account}/send",
                "/crm/acme/send",
                Some(&[("account", "acme")]),
            ),
            ("/crm/{account}/send", "/crm//send", None),
            ("/crm/{account}/send", "/crm/acme/send/x", None),
        ];
        for (template, path, expected) in cases {
            let expected = expected.map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            });
            assert_eq!(path_params(template, path), expected, "{template} {path}");
        }
    }

    #[test]
    fn only_text_bodies_pass_as_text() {
        let cases = [
            (Some("application/json"), true),
            (Some("application/json; charset=utf-8"), true),
            (Some("text/plain"), true),
            (Some("application/problem+json"), true),
            (Some("application/x-www-form-urlencoded"), false),
            (Some("application/octet-stream"), false),
            (None, false),
        ];
        for (content_type, text) in cases {
            assert_eq!(is_text(content_type), text, "{content_type:?}");
        }
    }

    #[test]
    fn responses_keep_status_headers_and_cookies() {
        let doc = json!({
            "statusCode": 202,
            "headers": {"content-type": "application/json"},
            "cookies": ["a=1", "b=2"],
            "body": "{\"ok\":true}",
            "isBase64Encoded": false
        });
        let response = function_response(doc.to_string().as_bytes());
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
        let bare = function_response(br#"{"hello":"world"}"#);
        assert_eq!(bare.status(), StatusCode::OK);
    }
}
