//! Lambda entry point: `inbound-email`, SES receiving's Lambda action for the reply domain
//! (README "Reply by e-mail"). Builds the clients once per cold start.

use std::sync::Arc;

use aws_lambda_events::ses::SimpleEmailEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use smsflow_shared::adapters::aws::function_logs;
use smsflow_shared::adapters::aws::s3::InboundMailBucket;
use smsflow_shared::adapters::aws::wiring::FunctionWiring;
use smsflow_shared::config::FunctionEnv;
use smsflow_shared::domain::PhoneNumber;
use smsflow_shared::handlers::inbound_email::inbound_email;
use smsflow_shared::usecases::email_reply::ReplyOutcome;

// One thread: a Lambda instance handles one event at a time, and the work is waiting on
// the network (BENCHMARKS.md, "Cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    function_logs::init();
    let env = FunctionEnv::from_env()?;
    // Before the first event: a reply is sent to the contact's number, read in its country.
    PhoneNumber::load_numbering_plan_in_background();
    let wiring = FunctionWiring::from_env(&env).await;
    let bucket = Arc::new(InboundMailBucket::from_env(wiring.sdk())?);
    // A refusal is e-mailed to its sender; the send request may look the contact up; a
    // reply's pictures wait in the bucket for Twilio.
    let media = Arc::new(bucket.media());
    let app = Arc::new(wiring.with_crm()?.with_mail().with_media(media).into_app());
    lambda_runtime::run(service_fn(|event: LambdaEvent<SimpleEmailEvent>| {
        let (app, bucket) = (app.clone(), bucket.clone());
        async move {
            let outcomes: Vec<ReplyOutcome> =
                inbound_email(&app, bucket.as_ref(), event.payload).await?;
            Ok::<Vec<ReplyOutcome>, Error>(outcomes)
        }
    }))
    .await
}
