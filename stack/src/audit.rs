//! Which grants each function used: the actions its role allows (DynamoDB, SQS and SES,
//! the services smsflow's code calls) beside the actions of the calls it made. Summed over
//! the stack suite (`scripts/grant-audit.py`), a granted action no scenario used is either
//! a grant to drop or a path without a scenario.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::aws_proxy::CallRecord;
use crate::manifest::Function;

/// The services whose grants are audited (the functions' own calls; the managed
/// policies' `logs:*` are Lambda's).
const AUDITED: [&str; 3] = ["dynamodb:", "sqs:", "ses:"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantUsage {
    pub granted: BTreeSet<String>,
    pub used: BTreeSet<String>,
}

/// Per function (logical id): what its role grants and what its calls used.
pub fn grant_usage(functions: &[Function], calls: &[CallRecord]) -> BTreeMap<String, GrantUsage> {
    let mut usage: BTreeMap<String, GrantUsage> = functions
        .iter()
        .map(|f| {
            let granted = f
                .role
                .statements
                .iter()
                .filter(|s| s["Effect"] == "Allow")
                .flat_map(|s| actions(&s["Action"]))
                .filter(|a| AUDITED.iter().any(|p| a.starts_with(p)))
                .collect();
            (
                f.logical_id.clone(),
                GrantUsage {
                    granted,
                    used: BTreeSet::new(),
                },
            )
        })
        .collect();
    for call in calls.iter().filter(|c| c.allowed) {
        if let Some(entry) = usage.get_mut(&call.function) {
            entry
                .used
                .extend(call.checks.iter().map(|c| c.action.clone()));
        }
    }
    usage
}

fn actions(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::String(a) => vec![a.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
