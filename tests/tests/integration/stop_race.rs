//! STOP wins at the last moment. Texts to 15 phones drain at the sender's rate while each
//! phone texts STOP at a random moment of the drain; afterwards no send whose attempt was
//! recorded after its phone's STOP was stored reached the carrier. (The attempt and the
//! opt-out check are one conditional write, right before the carrier call, so a send can
//! reach the carrier after the STOP's answer only by the length of that call.)

use std::time::Duration;

use smsflow_shared::domain::{AccountId, PhoneNumber, Timestamp};
use smsflow_shared::ports::{AttemptState, Clock, SystemClock};
use smsflow_tests::example::{ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::local_server::{ExampleServer, crm_send};
use smsflow_tests::twilio;

const PHONES: usize = 15;
const SENDS_PER_PHONE: usize = 8;
/// acme's long code: 15 × 8 sends drain over 12 s, most of it after the requests are in
/// (they take a few seconds on a busy machine), when the STOPs come.
const RATE: u32 = 10;

fn phone(i: usize) -> String {
    format!("+1415555{:04}", 3000 + i)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_send_recorded_after_a_stop_reaches_the_carrier() {
    let server = ExampleServer::start(ExampleConfig::new().long_code_rate(RATE)).await;
    for round in 0..SENDS_PER_PHONE {
        for i in 0..PHONES {
            let (to, message) = (phone(i), format!("update {round} for {i}"));
            let form = [
                ("phone", to.as_str()),
                ("message", message.as_str()),
                ("type", "transactional"),
            ];
            let (status, answer) = crm_send(&server, "acme", ACME_SEND_KEY, &form).await;
            assert_eq!(status, 202, "{answer}");
        }
    }

    // Each phone texts STOP at a random moment of the drain; when the answer came back.
    let seed = fastrand::u64(..);
    println!("stop race seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut stops = tokio::task::JoinSet::new();
    for i in 0..PHONES {
        let at = Duration::from_millis(rng.u64(300..5_000));
        let url = format!("{}/twilio/inbound", server.base_url());
        stops.spawn(async move {
            tokio::time::sleep(at).await;
            let (from, sid) = (phone(i), format!("SM{:032x}", 0xabc0 + i));
            let params = twilio::text_to_acme(&sid, &from, "STOP");
            assert_eq!(twilio::post_signed(&url, &params).await.0, 200);
            (i, SystemClock.now())
        });
    }
    let mut answered_at = [Timestamp::from_millis(0); PHONES];
    while let Some(done) = stops.join_next().await {
        let (i, at) = done.expect("STOP posted");
        answered_at[i] = at;
    }

    // Drained: every admission slot given back.
    let store = server.runtime.app.store.clone();
    let acme: AccountId = "acme".parse().expect("account id");
    let drained = async {
        while store.pending_sends(&acme).await.expect("pending") != 0 {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), drained)
        .await
        .expect("every send sent or refused");

    let carrier = server
        .runtime
        .carrier
        .messages(10_000)
        .await
        .expect("carrier");
    let (mut after_answer, mut recorded_after_stop, mut sent) = (0, 0, 0);
    for (i, stop_answered_at) in answered_at.iter().enumerate() {
        let to = PhoneNumber::parse_e164(&phone(i)).expect("valid");
        let stop = store
            .consent(&acme, &to)
            .await
            .expect("consent")
            .expect("the STOP is stored");
        let conversation = store.conversation(&acme, &to, 100).await.expect("read");
        for message in carrier.iter().filter(|m| m.to == phone(i)) {
            sent += 1;
            let ours = conversation
                .iter()
                .find(|m| m.provider_sid.as_deref() == Some(message.sid.as_str()))
                .expect("each carrier message is on the conversation");
            let Some(AttemptState::Finished { attempted_at, .. }) =
                store.send_attempt(&ours.id).await.expect("attempt")
            else {
                panic!("{}: its attempt is finished", ours.id);
            };
            if attempted_at >= stop.changed_at {
                recorded_after_stop += 1;
            }
            if message.accepted_at > *stop_answered_at {
                after_answer += 1;
            }
        }
    }
    println!(
        "{PHONES} STOP races: {sent} of {} sends reached the carrier; {recorded_after_stop} \
         recorded after their STOP; {after_answer} reached the carrier after the STOP's answer \
         (attempted before the STOP was stored)",
        PHONES * SENDS_PER_PHONE
    );
    assert_eq!(recorded_after_stop, 0);
    assert!(
        sent < PHONES * SENDS_PER_PHONE,
        "the STOPs stopped some sends"
    );
    server.stop().await;
}
