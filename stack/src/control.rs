//! `/_stack/...`: what the runner saw, for scenarios and benchmarks — every AWS call each
//! function made (allowed or denied, with the actions and resources IAM checked) and each
//! instance's cold start.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::aws_proxy::AwsProxy;
use crate::lambda::FunctionPool;

struct Seen {
    proxy: Arc<AwsProxy>,
    pools: BTreeMap<String, Arc<FunctionPool>>,
}

pub fn router(proxy: Arc<AwsProxy>, pools: BTreeMap<String, Arc<FunctionPool>>) -> Router {
    Router::new()
        .route("/_stack/aws-calls", get(aws_calls))
        .route("/_stack/cold-starts", get(cold_starts))
        .with_state(Arc::new(Seen { proxy, pools }))
}

async fn aws_calls(State(seen): State<Arc<Seen>>) -> Json<Value> {
    Json(json!({ "calls": seen.proxy.calls() }))
}

async fn cold_starts(State(seen): State<Arc<Seen>>) -> Json<Value> {
    let starts: Vec<_> = seen.pools.values().flat_map(|p| p.cold_starts()).collect();
    Json(json!({ "cold_starts": starts }))
}
