//! Checks a request against Twilio's own OpenAPI definition (the part smsflow calls,
//! `stack/fixtures/twilio/twilio_api_v2010.numbers.json`): the path and method are an
//! operation of it, HTTP Basic credentials are given, a request body is a form, every query
//! and form parameter is declared for that operation, the required ones are there, and each
//! value has its declared type, enum, pattern and format.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

/// Twilio's definition, trimmed by `scripts/trim-twilio-openapi.py`.
const SPEC: &str = include_str!("../../fixtures/twilio/twilio_api_v2010.numbers.json");

/// How the reason for a path the definition does not have begins.
pub const NO_PATH: &str = "no path of Twilio's API is";

/// A request as the mock received it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

/// The operation a request matched: its id and path parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub operation_id: String,
    pub path_params: Vec<(String, String)>,
}

pub struct Spec {
    doc: Value,
}

impl Default for Spec {
    fn default() -> Self {
        Self::load()
    }
}

impl Spec {
    pub fn load() -> Self {
        let doc = serde_json::from_str(SPEC).expect("the Twilio OpenAPI fixture is JSON");
        Spec { doc }
    }

    /// The operation `request` calls, or why Twilio's definition does not allow it.
    pub fn check(&self, request: &Request) -> Result<Matched, String> {
        let (template, path_params) = self.path_of(request.path)?;
        let method = request.method.to_ascii_lowercase();
        let operation = &self.doc["paths"][&template][&method];
        if !operation.is_object() {
            return Err(format!(
                "{} is not an operation of {template}",
                request.method
            ));
        }
        self.check_auth(operation, request)?;
        let declared = parameters(operation);
        for (name, value) in &path_params {
            check_value(&declared, "path", name, value)?;
        }
        let query = pairs(request.query.unwrap_or_default().as_bytes())?;
        check_params(&declared, "query", &query)?;
        check_body(operation, request)?;
        let operation_id = operation["operationId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok(Matched {
            operation_id,
            path_params,
        })
    }

    /// The path template `path` matches, with the values of its `{parameters}`.
    fn path_of(&self, path: &str) -> Result<(String, Vec<(String, String)>), String> {
        let paths = self.doc["paths"]
            .as_object()
            .map(Map::keys)
            .into_iter()
            .flatten();
        for template in paths {
            if let Some(params) = match_template(template, path) {
                return Ok((template.clone(), params));
            }
        }
        Err(format!("{NO_PATH} {path}"))
    }

    fn check_auth(&self, operation: &Value, request: &Request) -> Result<(), String> {
        let security = operation.get("security").unwrap_or(&self.doc["security"]);
        let basic = security.as_array().is_some_and(|s| {
            s.iter()
                .any(|scheme| scheme.get("accountSid_authToken").is_some())
        });
        if !basic {
            return Ok(());
        }
        let credentials = request
            .authorization
            .and_then(|h| h.strip_prefix("Basic "))
            .and_then(|b64| BASE64.decode(b64).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        match credentials {
            Some(pair)
                if pair
                    .split_once(':')
                    .is_some_and(|(u, p)| !u.is_empty() && !p.is_empty()) =>
            {
                Ok(())
            }
            _ => Err("no HTTP Basic credentials (accountSid_authToken)".into()),
        }
    }
}

/// The parameters of `template` in `path`, when `path` is an instance of it. A template
/// segment is literal text around at most one `{name}` (e.g. `{Sid}.json`).
fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let (want, got): (Vec<&str>, Vec<&str>) =
        (template.split('/').collect(), path.split('/').collect());
    if want.len() != got.len() {
        return None;
    }
    let mut params = Vec::new();
    for (w, g) in want.iter().zip(&got) {
        match (w.find('{'), w.find('}')) {
            (Some(open), Some(close)) => {
                let (prefix, suffix) = (&w[..open], &w[close + 1..]);
                let value = g.strip_prefix(prefix)?.strip_suffix(suffix)?;
                if value.is_empty() {
                    return None;
                }
                params.push((w[open + 1..close].to_string(), value.to_string()));
            }
            _ if w == g => {}
            _ => return None,
        }
    }
    Some(params)
}

/// The operation's parameters by place (`path`, `query`) and name.
fn parameters(operation: &Value) -> Vec<(String, String, Value, bool)> {
    let list = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    list.iter()
        .map(|p| {
            let text = |k: &str| p[k].as_str().unwrap_or_default().to_string();
            (
                text("in"),
                text("name"),
                p["schema"].clone(),
                p["required"] == json!(true),
            )
        })
        .collect()
}

fn pairs(encoded: &[u8]) -> Result<Vec<(String, String)>, String> {
    serde_urlencoded::from_bytes(encoded).map_err(|e| format!("not form-encoded: {e}"))
}

fn check_value(
    declared: &[(String, String, Value, bool)],
    place: &str,
    name: &str,
    value: &str,
) -> Result<(), String> {
    let schema = declared
        .iter()
        .find(|(p, n, _, _)| p == place && n == name)
        .map(|(_, _, schema, _)| schema)
        .ok_or_else(|| format!("{place} parameter {name} is not declared for this operation"))?;
    check_schema(schema, &format!("{place} parameter {name}"), value)
}

fn check_params(
    declared: &[(String, String, Value, bool)],
    place: &str,
    given: &[(String, String)],
) -> Result<(), String> {
    for (name, value) in given {
        check_value(declared, place, name, value)?;
    }
    for (p, name, _, required) in declared {
        if p == place && *required && !given.iter().any(|(n, _)| n == name) {
            return Err(format!("required {place} parameter {name} is missing"));
        }
    }
    Ok(())
}

fn check_body(operation: &Value, request: &Request) -> Result<(), String> {
    let form = "application/x-www-form-urlencoded";
    let Some(schema) =
        operation.pointer(&format!("/requestBody/content/{}", form.replace('/', "~1")))
    else {
        return match request.body.is_empty() {
            true => Ok(()),
            false => Err("this operation takes no request body".into()),
        };
    };
    let schema = &schema["schema"];
    if !request.content_type.is_some_and(|t| t.starts_with(form)) {
        return Err(format!(
            "the body must be {form}, not {:?}",
            request.content_type
        ));
    }
    let given = pairs(request.body)?;
    for (name, value) in &given {
        let property = schema["properties"]
            .get(name)
            .ok_or_else(|| format!("form parameter {name} is not declared for this operation"))?;
        check_schema(property, &format!("form parameter {name}"), value)?;
    }
    let required = schema["required"].as_array().cloned().unwrap_or_default();
    for name in required.iter().filter_map(Value::as_str) {
        if !given.iter().any(|(n, _)| n == name) {
            return Err(format!("required form parameter {name} is missing"));
        }
    }
    Ok(())
}

/// `text` read as the schema's type and checked against it (formats included).
fn check_schema(schema: &Value, what: &str, text: &str) -> Result<(), String> {
    let value = match schema["type"].as_str() {
        Some("integer") => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{what}: '{text}' is not an integer"))?,
        Some("number") => text
            .parse::<f64>()
            .map(Value::from)
            .map_err(|_| format!("{what}: '{text}' is not a number"))?,
        Some("boolean") => match text {
            "true" => json!(true),
            "false" => json!(false),
            _ => return Err(format!("{what}: '{text}' is not true or false")),
        },
        _ => json!(text),
    };
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .with_format("phone-number", |s: &str| {
            s.strip_prefix('+').is_some_and(|d| {
                (2..=15).contains(&d.len()) && d.chars().all(|c| c.is_ascii_digit())
            })
        })
        .with_format("iso-country-code", |s: &str| {
            s.len() == 2 && s.chars().all(|c| c.is_ascii_uppercase())
        })
        .with_format("http-method", |s: &str| {
            ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"].contains(&s)
        })
        .build(schema)
        .map_err(|e| format!("{what}: its schema does not compile: {e}"))?;
    match validator.iter_errors(&value).next() {
        None => Ok(()),
        Some(e) => Err(format!("{what}: '{text}': {e}")),
    }
}
