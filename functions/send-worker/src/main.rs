//! Lambda entry point: `send-worker`, an SQS consumer with partial batch failures
//! (`ReportBatchItemFailures`). Builds the clients once per cold start.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use smsflow_shared::adapters::aws::function_logs;
use smsflow_shared::adapters::aws::wiring::FunctionWiring;
use smsflow_shared::config::FunctionEnv;
use smsflow_shared::handlers::consumer;

// One thread: a Lambda instance handles one event at a time, and the work is waiting on
// the network (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    function_logs::init();
    let env = FunctionEnv::from_env()?;
    let app = Arc::new(FunctionWiring::from_env(&env).await.with_sms()?.into_app());
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let app = app.clone();
        async move { Ok::<SqsBatchResponse, Error>(consumer::send_worker(&app, event.payload).await) }
    }))
    .await
}
