//! Lambda entry point: `inbox`, the team inbox on its function URL (README "Team inbox").
//! Builds the clients once per cold start, then serves the shared router (the same one
//! `smsflow serve` mounts at `/inbox`).

use std::sync::Arc;

use smsflow_shared::adapters::aws::function_logs;
use smsflow_shared::adapters::aws::wiring::FunctionWiring;
use smsflow_shared::config::FunctionEnv;
use smsflow_shared::domain::PhoneNumber;
use smsflow_shared::handlers::{http, inbox};

// One thread: a Lambda instance handles one event at a time, and the work is waiting on
// the network (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    function_logs::init();
    let env = FunctionEnv::from_env()?;
    // Before the first event: a thread's path names the contact's number.
    PhoneNumber::load_numbering_plan_in_background();
    // Sign-in links are e-mailed; contacts' names come from the CRM; a reply goes through
    // the send path, which may look the contact up.
    let app = Arc::new(
        FunctionWiring::from_env(&env)
            .await
            .with_crm()?
            .with_mail()
            .into_app(),
    );
    lambda_http::run(http::with_fallback(inbox::inbox(app))).await
}
