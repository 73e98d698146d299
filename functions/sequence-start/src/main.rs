//! Lambda entry point: `sequence-start`. Builds the clients once per cold start, then serves the
//! shared router (the same one the local server runs).

use std::sync::Arc;

use smsflow_shared::adapters::aws::function_logs;
use smsflow_shared::adapters::aws::wiring::FunctionWiring;
use smsflow_shared::config::FunctionEnv;
use smsflow_shared::domain::PhoneNumber;
use smsflow_shared::handlers::http;

// One thread: a Lambda instance handles one event at a time, and the work is waiting on
// the network (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    function_logs::init();
    let env = FunctionEnv::from_env()?;
    // Before the first event: a start reads the contact's number in the account's country.
    PhoneNumber::load_numbering_plan_in_background();
    let app = Arc::new(FunctionWiring::from_env(&env).await.with_crm()?.into_app());
    lambda_http::run(http::with_fallback(http::sequence_start(app))).await
}
