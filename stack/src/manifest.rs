//! The deployed stack as `stack/moto_stack` describes it after creating `template.yaml` in
//! moto's CloudFormation: every reference resolved to the moto resource it names.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// What the runner needs to run the stack: functions with their environment and role,
/// the triggers that invoke them, and the moto endpoint holding their resources.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// moto's URL, e.g. `http://127.0.0.1:5123`.
    pub moto_endpoint: String,
    /// `DescribeStacks` outputs by key.
    pub outputs: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub http_apis: Vec<HttpApi>,
    pub function_urls: Vec<FunctionUrl>,
    pub event_source_mappings: Vec<EventSourceMapping>,
    pub queues: Vec<Queue>,
    /// SES receiving's rules, of every rule set the stack created, in order.
    #[serde(default)]
    pub receipt_rules: Vec<ReceiptRule>,
}

/// An SES receipt rule.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceiptRule {
    pub rule_set: String,
    pub name: String,
    pub enabled: bool,
    /// Domains and addresses it receives for; empty: every one the account verified.
    pub recipients: Vec<String>,
    pub scan_enabled: bool,
    pub actions: Vec<ReceiptAction>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type")]
pub enum ReceiptAction {
    /// The raw message stored under `<prefix><SES message id>`.
    S3 { bucket: String, prefix: String },
    /// The function (by logical id) invoked with SES's event.
    Lambda {
        function: String,
        invocation_type: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct Function {
    pub logical_id: String,
    /// The physical name (`<stack>-<LogicalId>-<suffix>`).
    pub name: String,
    pub arn: String,
    /// The workspace binary it runs (the template's `BuildProperties.Binary`).
    pub binary: String,
    pub timeout_seconds: u64,
    pub memory_mb: u64,
    pub environment: BTreeMap<String, String>,
    /// `LoggingConfig`: `JSON` or `Text`; the application log level when JSON.
    pub log_format: String,
    pub application_log_level: Option<String>,
    pub log_group: String,
    pub role: Role,
}

/// An IAM role with every statement of its inline and managed policies.
#[derive(Debug, Clone, Deserialize)]
pub struct Role {
    pub arn: String,
    pub name: String,
    pub statements: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HttpApi {
    pub logical_id: String,
    pub api_id: String,
    /// `<api id>.execute-api.<region>.amazonaws.com`
    pub domain: String,
    pub stage: String,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub method: String,
    pub path: String,
    /// Logical id of the integration's function.
    pub function: String,
    pub payload_format_version: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FunctionUrl {
    pub logical_id: String,
    pub function: String,
    /// `https://<url id>.lambda-url.<region>.on.aws/`
    pub url: String,
    pub auth_type: String,
    pub invoke_mode: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSourceMapping {
    pub logical_id: String,
    pub function: String,
    pub queue_arn: String,
    pub queue_url: String,
    pub batch_size: u32,
    pub maximum_batching_window_seconds: u32,
    pub function_response_types: Vec<String>,
    pub maximum_concurrency: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Queue {
    pub logical_id: String,
    pub url: String,
    pub arn: String,
    pub name: String,
    pub visibility_timeout_seconds: u64,
    pub delay_seconds: u64,
    pub message_retention_seconds: u64,
    pub redrive: Option<Redrive>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Redrive {
    pub dead_letter_target_arn: String,
    pub max_receive_count: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a stack manifest: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
}

impl Manifest {
    pub fn read(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| ManifestError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }
}
