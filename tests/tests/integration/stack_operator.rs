//! The operator's commands against the deployed shape: `smsflow ... --stack` finds the
//! table and queues from the stack's outputs (DescribeStacks) in the runner's moto, as it
//! would in AWS. (The runner itself pushed the accounts with `smsflow accounts push
//! --stack`.)

use std::time::Duration;

use serde_json::Value;
use smsflow_tests::example::{ACME_LONG_CODE, ACME_TWILIO_SID, ExampleConfig};
use smsflow_tests::poll::{Patience, eventually};
use smsflow_tests::shape::{Deployment, Shape};

const PATIENCE: Patience = Patience {
    within: Duration::from_secs(60),
    every: Duration::from_millis(500),
};

const CAROL: &str = "+14155552673";

/// A command's `--json` output.
fn json_out(printed: &str) -> Value {
    serde_json::from_str(printed).unwrap_or_else(|e| panic!("not JSON ({e}): {printed}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_with_their_error_and_redriven() {
    // Two tries, then the dead-letter queue.
    let d = Deployment::start_with(
        Shape::Stack,
        ExampleConfig::new(),
        &[("MaxReceiveCount", "2")],
    )
    .await;
    d.crm_outage(true).await;
    let text = [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", "SM00000000000000000000000000000888"),
        ("From", CAROL),
        ("To", ACME_LONG_CODE),
        ("Body", "Hello? Is this the roofer?"),
    ];
    assert_eq!(d.twilio_inbound(&text).await.0, 200);

    let listed = eventually(PATIENCE, async || {
        let listed = json_out(
            &d.smsflow(&["dlq", "list", "--queue", "automation", "--json"])
                .await,
        );
        let jobs = listed.as_array().map(Vec::len).unwrap_or(0);
        if jobs > 0 {
            Ok(listed)
        } else {
            Err(format!("nothing dead-lettered yet: {listed}"))
        }
    })
    .await;
    let job = &listed[0];
    assert_eq!(job["kind"], "process_inbound", "{job}");
    let error = job["last_error"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("503"), "the last error says why: {job}");

    d.crm_outage(false).await;
    let redriven = json_out(
        &d.smsflow(&["dlq", "redrive", "--queue", "automation", "--json"])
            .await,
    );
    assert!(
        redriven
            .to_string()
            .contains(job["message_id"].as_str().unwrap_or("?")),
        "{redriven}"
    );
    let goals = d
        .eventually_sandbox("/_sandbox/crm/acme/goals", PATIENCE, |b| {
            b["goals"].as_array().is_some_and(|g| g.len() >= 4)
        })
        .await;
    assert!(goals.to_string().contains("Inbound19523142318"), "{goals}");

    let thread = json_out(
        &d.smsflow(&[
            "conversations",
            "show",
            "--account",
            "acme",
            CAROL,
            "--json",
        ])
        .await,
    );
    assert!(
        thread.to_string().contains("Hello? Is this the roofer?"),
        "{thread}"
    );
    d.stop().await;
}
