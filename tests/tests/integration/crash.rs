//! The crash suite: `smsflow serve`, the binary a user runs, killed with SIGKILL at random
//! moments while CRM send requests and inbound texts keep arriving (each retried until
//! answered, as a CRM and Twilio retry), restarted each time, then drained. Afterwards every
//! admitted send went out exactly once, every text was forwarded by e-mail and fired its
//! goal, and no admission slot or send attempt is left behind.
//!
//! The kill moments come from a seed (printed; set `SMSFLOW_CRASH_SEED` to replay one).
//! Leases are 2 s (`SMSFLOW_LEASE_SECONDS`), so work a killed server held is taken over
//! quickly; queue messages it had received come back after the local queue's visibility
//! timeout, as on SQS.
//!
//! The same on the stack runner: template.yaml's functions, whose instances the runner
//! kills mid-invocation (a lost host, an out-of-memory kill), which is also what a function
//! timeout does to an instance.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use smsflow_shared::adapters::embedded::{EmbeddedDb, EmbeddedStore};
use smsflow_shared::domain::AccountId;
use smsflow_shared::domain::MessageId;
use smsflow_shared::ports::{AdmissionStore, AttemptState, SendAttemptStore};
use smsflow_tests::example::{ACME_AUTH_TOKEN, ACME_SEND_KEY, ExampleConfig};
use smsflow_tests::shape::bin_dir;
use smsflow_tests::twilio;
use tokio::process::{Child, Command};

/// Kills in one run (the issue asks for at least 20 across runs).
const KILLS: usize = 20;
const SENDS: usize = 60;
/// acme's long code sends 6 per second: the sends wait in a backlog through the kills.
const SEND_RATE: u32 = 6;
const TEXTS: usize = 30;
/// How long everything may take to drain after the last kill: the local queue's 60 s
/// visibility timeout brings back what a killed server had received, plus the work.
const DRAIN: Duration = Duration::from_secs(150);

/// `smsflow serve` on a fixed port (so Twilio's URLs stay the same across restarts).
struct Server {
    child: Option<Child>,
    config: PathBuf,
    base_url: String,
    log: PathBuf,
}

impl Server {
    async fn start(config: PathBuf, port: u16, log: PathBuf) -> Server {
        let mut server = Server {
            child: None,
            config,
            base_url: format!("http://127.0.0.1:{port}"),
            log,
        };
        server.restart().await;
        server
    }

    async fn restart(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("server log");
        let child = Command::new(bin_dir().join("smsflow"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("SMSFLOW_LEASE_SECONDS", "2")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("smsflow serve starts");
        self.child = Some(child);
        let healthy = async {
            loop {
                match reqwest::get(format!("{}/healthz", self.base_url)).await {
                    Ok(r) if r.status().is_success() => return,
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(30), healthy)
            .await
            .unwrap_or_else(|_| panic!("the server is up again (log: {})", self.log.display()));
    }

    /// SIGKILL: no shutdown, no flush, as a crash or a lost instance.
    async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reaped");
        }
    }

    /// A clean stop (Ctrl-C), so the test can open the database.
    async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-INT", &pid.to_string()])
                .status();
        }
        if tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .is_err()
        {
            child.start_kill().expect("SIGKILL");
            child.wait().await.expect("reaped");
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("address").port()
}

fn config_file(dir: &Path, port: u16) -> PathBuf {
    let text = ExampleConfig::new()
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{port}"))
        .replace(
            "data_dir = \".smsflow\"",
            &format!("data_dir = {:?}", dir.join("data").display().to_string()),
        )
        .long_code_rate(SEND_RATE);
    let path = dir.join("smsflow.toml");
    std::fs::write(&path, text.text()).expect("config written");
    path
}

fn recipient(i: usize) -> String {
    format!("+1415555{:04}", 2000 + i)
}

fn texter(i: usize) -> String {
    format!("+1415555{:04}", 6000 + i)
}

/// Send request `i`'s form: its own recipient, text and `requestId`.
fn send_form(i: usize) -> [(&'static str, String); 4] {
    [
        ("phone", recipient(i)),
        ("message", format!("crash test message {i}")),
        ("type", "transactional".into()),
        ("requestId", format!("crash-{i}")),
    ]
}

/// Inbound text `i`'s `MessageSid`, texter and text: its own.
fn text_of(i: usize) -> [String; 3] {
    [format!("SM{i:032x}"), texter(i), format!("crash text {i}")]
}

fn borrowed<'a, const N: usize>(
    pairs: &'a [(&'static str, String); N],
) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Posts send request `i` until a final answer; its message id.
async fn send_until_answered(base_url: &str, i: usize, retries: &AtomicUsize) -> String {
    let http = reqwest::Client::new();
    let form = send_form(i);
    loop {
        let answer = http
            .post(format!("{base_url}/crm/acme/send?key={ACME_SEND_KEY}"))
            .form(&form)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if let Ok(r) = answer
            && r.status().as_u16() == 202
            && let Ok(body) = r.json::<Value>().await
            && let Some(id) = body["message_id"].as_str()
        {
            return id.to_string();
        }
        // Killed mid-request, restarting, or `in_progress` (a claim of a killed server):
        // retried as a CRM retries.
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Posts inbound text `i`, signed, until the webhook answers 200 (Twilio's retry).
async fn text_until_answered(base_url: &str, i: usize, retries: &AtomicUsize) {
    let url = format!("{base_url}/twilio/inbound");
    let [sid, from, body] = text_of(i);
    let params = twilio::text_to_acme(&sid, &from, &body);
    let http = reqwest::Client::new();
    loop {
        let answer = twilio::signed_post(&http, ACME_AUTH_TOKEN, &url, &url, &params)
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        if answer.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sandbox(base_url: &str, path: &str) -> Value {
    let r = reqwest::get(format!("{base_url}{path}")).await;
    match r {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

/// How often each text of `field` in the sandbox list at `path` occurs, by the index in
/// "`prefix` {i}".
fn counts(list: &Value, field: &str, prefix: &str) -> BTreeMap<usize, usize> {
    let mut counts = BTreeMap::new();
    for item in list.as_array().into_iter().flatten() {
        let text = item[field].as_str().unwrap_or_default();
        let Some(at) = text.find(prefix) else {
            continue;
        };
        let digits: String = text[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if let Ok(i) = digits.parse() {
            *counts.entry(i).or_insert(0) += 1;
        }
    }
    counts
}

struct Drained {
    sends: BTreeMap<usize, usize>,
    forwards: BTreeMap<usize, usize>,
    contacts_with_inbound_goal: usize,
}

async fn drained(base_url: &str) -> Drained {
    let messages = sandbox(base_url, "/_sandbox/messages?limit=10000").await;
    let emails = sandbox(base_url, "/_sandbox/emails?limit=10000").await;
    let goals = sandbox(base_url, "/_sandbox/crm/acme/goals?limit=10000").await;
    let inbound: BTreeSet<&str> = goals["goals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["call_name"] == "Inbound")
        .filter_map(|g| g["contact_id"].as_str())
        .collect();
    Drained {
        sends: counts(&messages["messages"], "body", "crash test message "),
        forwards: counts(&emails["emails"], "text", "crash text "),
        contacts_with_inbound_goal: inbound.len(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_sent_twice_when_the_server_is_killed() {
    let seed = std::env::var("SMSFLOW_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    println!("crash seed {seed} (SMSFLOW_CRASH_SEED={seed} replays the kill moments)");
    let mut rng = fastrand::Rng::with_seed(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let config = config_file(dir.path(), port);
    let log = dir.path().join("server.log");
    let mut server = Server::start(config, port, log.clone()).await;
    let base_url = server.base_url.clone();

    // The CRM and Twilio: requests spread over the kills, each retried until answered.
    let retries = Arc::new(AtomicUsize::new(0));
    let mut clients = tokio::task::JoinSet::new();
    // Sends arrive in the first 3 s and drain at the sender's rate over the kills after;
    // texts arrive over 15 s.
    let requests = (0..SENDS)
        .map(|i| (i, true, 3_000))
        .chain((0..TEXTS).map(|i| (i, false, 15_000)));
    for (i, is_send, window_ms) in requests {
        let (base_url, retries) = (base_url.clone(), retries.clone());
        let start_after = Duration::from_millis(rng.u64(0..window_ms));
        clients.spawn(async move {
            tokio::time::sleep(start_after).await;
            if is_send {
                send_until_answered(&base_url, i, &retries).await;
            } else {
                text_until_answered(&base_url, i, &retries).await;
            }
        });
    }

    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.u64(100..1_200))).await;
        server.kill().await;
        server.restart().await;
    }
    let all_answered = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(done) = clients.join_next().await {
            done.expect("client task");
        }
    })
    .await;
    assert!(
        all_answered.is_ok(),
        "every request answered after the kills"
    );

    let started = Instant::now();
    let done = loop {
        let now = drained(&base_url).await;
        let complete = now.sends.len() == SENDS
            && now.forwards.len() == TEXTS
            && now.contacts_with_inbound_goal >= TEXTS;
        if complete || started.elapsed() > DRAIN {
            break now;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    // Let the last bookkeeping (slots given back, attempts finished) land, then stop.
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.stop().await;
    // Its stderr went to a file, not a terminal: plain text, no colour codes (issue #15).
    let logged = std::fs::read_to_string(&log).expect("server log");
    assert!(!logged.is_empty(), "serve logged");
    assert!(!logged.contains("\x1b["), "no ANSI colour in a log file");

    let twice: Vec<_> = done.sends.iter().filter(|(_, n)| **n > 1).collect();
    let duplicate_forwards = done.forwards.values().filter(|n| **n > 1).count();
    println!(
        "{KILLS} kills; {} client retries; {} of {SENDS} sends delivered, sent twice: {twice:?}; \
         {} of {TEXTS} texts forwarded ({duplicate_forwards} forwarded twice); \
         {} contacts got their Inbound goal; drained in {:.1} s",
        retries.load(Ordering::Relaxed),
        done.sends.len(),
        done.forwards.len(),
        done.contacts_with_inbound_goal,
        started.elapsed().as_secs_f64()
    );
    let server_log = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(done.sends.len(), SENDS, "every admitted send delivered");
    assert!(twice.is_empty(), "no send delivered twice: {twice:?}");
    assert_eq!(done.forwards.len(), TEXTS, "every text forwarded");
    assert!(
        done.contacts_with_inbound_goal >= TEXTS,
        "every text fired its goal\n{}",
        server_log()
            .lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Nothing left behind: no admission slot, every attempt finished.
    let db = EmbeddedDb::open(&dir.path().join("data").join("smsflow.redb")).expect("database");
    let store = EmbeddedStore::new(db);
    let acme: AccountId = "acme".parse().expect("account id");
    assert_eq!(store.pending_sends(&acme).await.expect("pending"), 0);
    let messages = stored_send_ids(&store, &acme).await;
    for id in messages {
        let attempt = store
            .send_attempt(&MessageId::new(&id))
            .await
            .expect("attempt");
        assert!(
            matches!(attempt, Some(AttemptState::Finished { .. })),
            "{id}: {attempt:?}"
        );
    }
}

/// The ids of the outbound messages stored for the crash test's recipients.
async fn stored_send_ids(store: &EmbeddedStore, acme: &AccountId) -> Vec<String> {
    use smsflow_shared::domain::{Direction, PhoneNumber};
    use smsflow_shared::ports::ConversationStore;
    let mut ids = Vec::new();
    for i in 0..SENDS {
        let phone = PhoneNumber::parse_e164(&recipient(i)).expect("valid");
        let conversation = store.conversation(acme, &phone, 10).await.expect("read");
        let outbound: Vec<_> = conversation
            .into_iter()
            .filter(|m| m.direction == Direction::Outbound)
            .collect();
        assert_eq!(outbound.len(), 1, "one message stored for send {i}");
        ids.extend(outbound.into_iter().map(|m| m.id.into_string()));
    }
    ids
}

/// The deployed shape under instance deaths: the CRM's send function, the inbound webhook
/// and the send worker lose instances mid-invocation while sends and texts arrive. A batch
/// whose instance died comes back after the send queue's visibility timeout (180 s, the
/// template's), as on Lambda. The automation worker is spared: its queue's 360 s would
/// double the scenario, and its jobs' takeover is what the local kills above exercise.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_is_lost_or_sent_twice_when_function_instances_die() {
    use smsflow_stack::lambda::Deaths;
    use smsflow_tests::shape::{Deployment, Shape};

    const STACK_SENDS: usize = 20;
    const STACK_TEXTS: usize = 10;
    let config = ExampleConfig::new().long_code_rate(SEND_RATE);
    let d = Deployment::start_with(Shape::Stack, config, &[("LeaseSeconds", "2")]).await;
    let dying = [
        ("CampaignSendFunction", 0.3, 80),
        ("InboundSmsFunction", 0.3, 80),
        ("SendWorkerFunction", 0.4, 400),
    ];
    for (function, chance, within_ms) in dying {
        let deaths = Deaths {
            chance,
            within: Duration::from_millis(within_ms),
        };
        d.instance_deaths(function, Some(deaths));
    }

    let mut retries = 0;
    for i in 0..STACK_SENDS {
        let form = send_form(i);
        while d.crm_send("acme", ACME_SEND_KEY, &borrowed(&form)).await.0 != 202 {
            retries += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    for i in 0..STACK_TEXTS {
        let [sid, from, body] = text_of(i);
        let params = twilio::text_to_acme(&sid, &from, &body);
        while d.twilio_inbound(&params).await.0 != 200 {
            retries += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    // Let the send worker die over the backlog, then stop the deaths.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let deaths: u32 = dying
        .iter()
        .map(|(function, _, _)| d.instance_deaths(function, None))
        .sum();

    let started = Instant::now();
    let done = loop {
        let now = drained(&d.sandbox).await;
        let complete = now.sends.len() == STACK_SENDS
            && now.forwards.len() == STACK_TEXTS
            && now.contacts_with_inbound_goal >= STACK_TEXTS;
        if complete || started.elapsed() > Duration::from_secs(300) {
            break now;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let twice: Vec<_> = done.sends.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "stack: {deaths} instance deaths; {retries} client retries; {} of {STACK_SENDS} sends \
         delivered, sent twice: {twice:?}; {} of {STACK_TEXTS} texts forwarded; drained in {:.1} s",
        done.sends.len(),
        done.forwards.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(deaths > 0, "the scenario killed instances");
    assert_eq!(
        done.sends.len(),
        STACK_SENDS,
        "every admitted send delivered"
    );
    assert!(twice.is_empty(), "no send delivered twice: {twice:?}");
    assert_eq!(done.forwards.len(), STACK_TEXTS, "every text forwarded");
    assert!(
        done.contacts_with_inbound_goal >= STACK_TEXTS,
        "every text fired its goal"
    );

    // Slots given back and attempts finished land right after the send.
    let table = d.stack_table().await;
    let acme: AccountId = "acme".parse().expect("account id");
    let settled = async {
        while table.pending_sends(&acme).await.expect("pending") != 0 {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(30), settled)
            .await
            .is_ok(),
        "every admission slot given back"
    );
    d.stop().await;
}
