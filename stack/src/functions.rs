//! Each function of the manifest as Lambda would start it: its binary, the environment the
//! template gives it plus the variables Lambda itself sets, and credentials that carry only
//! its role (the AWS proxy knows them by their access key).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::aws_proxy::Caller;
use crate::lambda::{FunctionPool, FunctionSpec};
use crate::manifest::{Function, Manifest};
use crate::policy::{Policy, PolicyError};

/// A function's temporary credentials, as Lambda passes them in its environment.
#[derive(Debug, Clone)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
}

impl RoleCredentials {
    fn new() -> Self {
        let random = || format!("{:026}", ulid::Ulid::new()).to_ascii_uppercase();
        RoleCredentials {
            access_key_id: format!("ASIA{}", &random()[10..]),
            secret_access_key: random(),
            session_token: random(),
        }
    }
}

/// Every function's pool and its credentials, and the callers the AWS proxy accepts.
pub struct Functions {
    pub pools: BTreeMap<String, Arc<FunctionPool>>,
    pub credentials: BTreeMap<String, RoleCredentials>,
    pub callers: HashMap<String, Caller>,
}

#[derive(Debug, thiserror::Error)]
pub enum FunctionsError {
    #[error("{function}: binary {binary} not found (build it: cargo build --bins)")]
    MissingBinary { function: String, binary: String },
    #[error("{function}: role {role}: {source}")]
    Policy {
        function: String,
        role: String,
        source: PolicyError,
    },
}

/// Where a function's instances run from and what they are told.
pub struct Placement<'a> {
    pub bin_dir: &'a Path,
    pub log_dir: &'a Path,
    pub aws_endpoint: &'a str,
}

pub fn prepare(manifest: &Manifest, placement: &Placement) -> Result<Functions, FunctionsError> {
    let mut functions = Functions {
        pools: BTreeMap::new(),
        credentials: BTreeMap::new(),
        callers: HashMap::new(),
    };
    for function in &manifest.functions {
        let binary = placement.bin_dir.join(&function.binary);
        if !binary.is_file() {
            return Err(FunctionsError::MissingBinary {
                function: function.logical_id.clone(),
                binary: binary.display().to_string(),
            });
        }
        let policy = Policy::from_statements(&function.role.statements).map_err(|source| {
            FunctionsError::Policy {
                function: function.logical_id.clone(),
                role: function.role.name.clone(),
                source,
            }
        })?;
        let credentials = RoleCredentials::new();
        functions.callers.insert(
            credentials.access_key_id.clone(),
            Caller {
                function: function.logical_id.clone(),
                role_name: function.role.name.clone(),
                session: function.name.clone(),
                policy,
            },
        );
        let spec = FunctionSpec {
            logical_id: function.logical_id.clone(),
            arn: function.arn.clone(),
            binary,
            timeout: Duration::from_secs(function.timeout_seconds),
            environment: environment(manifest, function, &credentials, placement),
            log_file: placement.log_dir.join(format!("{}.log", function.binary)),
        };
        functions
            .pools
            .insert(function.logical_id.clone(), FunctionPool::new(spec));
        functions
            .credentials
            .insert(function.logical_id.clone(), credentials);
    }
    Ok(functions)
}

/// The template's variables, then Lambda's own (which a template cannot override).
fn environment(
    manifest: &Manifest,
    function: &Function,
    credentials: &RoleCredentials,
    placement: &Placement,
) -> BTreeMap<String, String> {
    let mut env = function.environment.clone();
    let task_root = placement.bin_dir.display().to_string();
    let lambda = [
        ("AWS_REGION", manifest.region.clone()),
        ("AWS_DEFAULT_REGION", manifest.region.clone()),
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id.clone()),
        (
            "AWS_SECRET_ACCESS_KEY",
            credentials.secret_access_key.clone(),
        ),
        ("AWS_SESSION_TOKEN", credentials.session_token.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME", function.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            function.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_LOG_GROUP_NAME", function.log_group.clone()),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("[$LATEST]{}", crate::request_id()),
        ),
        ("AWS_LAMBDA_LOG_FORMAT", function.log_format.clone()),
        ("_HANDLER", "bootstrap".into()),
        ("LAMBDA_TASK_ROOT", task_root.clone()),
        ("LAMBDA_RUNTIME_DIR", task_root),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin:/bin".into()),
        // The runner's one addition: AWS is the proxy in front of moto.
        ("AWS_ENDPOINT_URL", placement.aws_endpoint.to_string()),
    ];
    env.extend(lambda.into_iter().map(|(k, v)| (k.to_string(), v)));
    if let Some(level) = &function.application_log_level {
        env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.clone());
    }
    env
}
