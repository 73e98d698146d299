//! The operator's commands against the deployed shape: `smsflow ... --stack` finds the
//! table and queues from the stack's outputs (DescribeStacks) in the runner's moto, as it
//! would in AWS, and `smsflow numbers` buys and wires numbers at the runner's Twilio
//! stand-in. (The runner itself pushed the accounts with `smsflow accounts push --stack`.)

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
/// acme's toll-free number in the example.
const ACME_TOLL_FREE: &str = "+18885550100";
/// The number on offer at the runner's Twilio in area code 612.
const BOUGHT: &str = "+16125550172";

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn numbers_bought_and_wired_at_the_twilio_stand_in_bring_their_texts() {
    let d = Deployment::start(Shape::Stack, ExampleConfig::new()).await;
    // The runner's Twilio owns acme's numbers, not yet pointed at the stack.
    let unwired = d
        .try_smsflow(&["numbers", "check", "--account", "acme"])
        .await
        .expect_err("exit 4");
    assert!(
        unwired.contains("2 of 2 numbers do not send their texts to"),
        "{unwired}"
    );
    for number in [ACME_LONG_CODE, ACME_TOLL_FREE] {
        d.smsflow(&["numbers", "wire", "--account", "acme", number])
            .await;
    }
    let bought = json_out(
        &d.smsflow(&[
            "--json",
            "numbers",
            "buy",
            "--account",
            "acme",
            "--area-code",
            "612",
            "--backup-email",
            "sales@acme.example",
        ])
        .await,
    );
    assert_eq!(bought["number"], BOUGHT, "{bought}");
    let report = json_out(&d.smsflow(&["--json", "numbers", "check"]).await);
    let states: Vec<&str> = (report["numbers"].as_array().into_iter().flatten())
        .filter_map(|row| row["state"].as_str())
        .collect();
    assert_eq!(states, ["ok", "ok", "ok"], "{report}");
    let url = report["webhook_url"].as_str().unwrap_or_default();
    assert!(
        url.ends_with("/twilio/inbound"),
        "the stack's output: {url}"
    );

    // A text to the new number reaches acme.
    let text = [
        ("AccountSid", ACME_TWILIO_SID),
        ("MessageSid", "SM00000000000000000000000000000612"),
        ("From", CAROL),
        ("To", BOUGHT),
        ("Body", "Is this your new number?"),
    ];
    assert_eq!(d.twilio_inbound(&text).await.0, 200);
    let thread = eventually(PATIENCE, async || {
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
        match thread.to_string().contains("Is this your new number?") {
            true => Ok(thread),
            false => Err(format!("not stored yet: {thread}")),
        }
    })
    .await;
    assert!(thread.to_string().contains(BOUGHT), "{thread}");
    d.stop().await;
}
