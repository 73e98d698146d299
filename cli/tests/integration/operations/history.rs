//! What the operator reads back: `conversations list` and `show` (messages, routing, goals,
//! consent, phone health), and the local dead-letter queues (`dlq list`, `dlq redrive`).

use super::*;

fn acme() -> AccountId {
    AccountId::parse("acme").expect("valid id")
}

fn phone(e164: &str) -> PhoneNumber {
    PhoneNumber::parse_e164(e164).expect("valid phone")
}

#[test]
fn conversations_list_and_show() {
    let local = Local::new();
    local
        .run(&["conversations", "list", "--account", "acme"])
        .ok();
    local.with_db(|db| async move {
        let store = EmbeddedStore::new(db);
        let mut first = message(
            1,
            "+19523140001",
            Direction::Outbound,
            MessageStatus::Delivered,
        );
        first.user_id = Some("mary".into());
        first.campaign = Some("spring".into());
        let mut reply = message(
            2,
            "+19523140001",
            Direction::Inbound,
            MessageStatus::Received,
        );
        reply.body = "Thanks!\nSee you".into();
        reply.routing = Some(RoutingDecision {
            to: EmailAddress::parse("mary@acme.example").expect("email"),
            user_id: Some("mary".into()),
            rule: RoutingRule::LastSms,
            reason: "Mary sent the last SMS.".into(),
        });
        let mut failed = message(
            3,
            "+19523140002",
            Direction::Outbound,
            MessageStatus::Undelivered,
        );
        failed.error_code = Some(30003);
        for m in [&first, &reply, &failed] {
            store.record_message(m).await.expect("record");
        }
        let goal = |id: &str, name: &str, outcome: GoalResult| GoalRecord {
            message_id: id.into(),
            goal: smsflow_shared::domain::GoalName::parse(name).expect("goal name"),
            outcome,
            at: Timestamp::from_millis(1_714_565_000_000),
        };
        let goals = [
            (
                "+19523140001",
                goal(&first.id, "SendAuto", GoalResult::Achieved),
            ),
            (
                "+19523140001",
                goal(&first.id, "GoodNumber", GoalResult::NotConfigured),
            ),
            // A later request that was refused: no message, only its goals.
            (
                "+19523140001",
                goal(
                    "01J00000000000000000000005",
                    "BlockedNumber",
                    GoalResult::Achieved,
                ),
            ),
            (
                "+19523140003",
                goal(
                    "01J00000000000000000000006",
                    "QueueExceeded",
                    GoalResult::Failed,
                ),
            ),
        ];
        for (to, record) in &goals {
            store
                .record_goal(&acme(), &phone(to), record)
                .await
                .expect("goal");
        }
        store
            .set_consent(
                &acme(),
                &phone("+19523140002"),
                &smsflow_shared::ports::ConsentRecord {
                    opted_out: true,
                    changed_at: Timestamp::from_millis(1_714_565_000_000),
                    source: "STOP keyword".into(),
                },
            )
            .await
            .expect("consent");
    });
    let listed = local.json(&["conversations", "list", "--account", "acme"]);
    let phones = texts(&listed, "phone");
    assert_eq!(phones, vec!["+19523140002", "+19523140001"]);
    assert_eq!(listed[0]["opted_out"], true);
    assert_eq!(listed[1]["last_direction"], "inbound");
    local
        .run(&["conversations", "list", "--account", "acme"])
        .prints(&["+19523140002  2024-05-01 12:03:00  out   opted out"]);

    let thread = local.json(&[
        "conversations",
        "show",
        "--account",
        "acme",
        "(952) 314-0001",
    ]);
    let ids = texts(&thread["messages"], "id");
    assert_eq!(
        ids,
        vec!["01J00000000000000000000001", "01J00000000000000000000002"],
        "in the order they came in or were requested"
    );
    assert_eq!(thread["messages"][1]["routing"]["user_id"], "mary");
    let goals: Vec<(&str, &str)> = thread["messages"][0]["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .filter_map(|g| Some((g["goal"].as_str()?, g["outcome"].as_str()?)))
        .collect();
    assert_eq!(
        goals,
        vec![("GoodNumber", "not_configured"), ("SendAuto", "achieved")]
    );
    assert_eq!(thread["messages"][1]["goals"], json!([]));
    assert_eq!(
        thread["requests_without_message"][0]["message_id"],
        "01J00000000000000000000005"
    );
    assert_eq!(
        thread["requests_without_message"][0]["goals"][0]["goal"],
        "BlockedNumber"
    );
    assert_eq!(thread["phone_health"]["status"], "active");
    let text = local.run(&["conversations", "show", "--account", "acme", "+19523140001"]);
    let out = text.prints(&[
        "2024-05-01 12:01:00 UTC  -> out  delivered  user mary  campaign spring",
        "    Thanks!\n    See you\n    routed to user mary <mary@acme.example>: Mary sent the last SMS.",
        "    goals: GoodNumber (not configured in the CRM), SendAuto (achieved)",
    ]);
    assert!(
        out.ends_with(
            "request 01J00000000000000000000005: no message sent (refused, or not sent yet)\n    goals: BlockedNumber (achieved)\n"
        ),
        "{out}"
    );
    local
        .run(&["conversations", "show", "--account", "acme", "+19523140003"])
        .prints(&["    goals: QueueExceeded (failed)"]);
    let failed = local.run(&["conversations", "show", "--account", "acme", "+19523140002"]);
    failed.prints(&[
        "undelivered  error 30003 transient",
        "consent: opted out 2024-05-01 12:03:20 UTC (STOP keyword)",
    ]);
    let none = local.run(&["conversations", "show", "--account", "acme", "+19523140009"]);
    assert!(
        none.fails_with(3)
            .contains("account acme has no messages with +19523140009")
    );
}

const SEND_JOB: &str = r#"{"message_id":"01JSEND","account":"acme","to":"+19523140001","sender":{"kind":"number","number":"+19523142318"},"body":"hi","campaign":"spring"}"#;
const GOAL_JOB: &str = r#"{"job_id":"inbound:SM1:goal","kind":"achieve_goal","account":"acme","contact_id":"42","call_name":"Inbound19523142318"}"#;

/// Dead-letters `body` on `queue` of the local database: one receive with a policy of one.
async fn dead_letter(db: EmbeddedDb, queue: QueueName, body: &str, error: Option<&str>) -> String {
    let q = EmbeddedQueue::new(db.clone(), Arc::new(SystemClock))
        .with_policy(queue, QueuePolicy { max_receives: 1 });
    let id = q
        .enqueue(queue, OutgoingMessage::now(body))
        .await
        .expect("enqueue");
    let got = q
        .receive(queue, 1, Duration::ZERO, Duration::ZERO)
        .await
        .expect("receive");
    assert_eq!(got.len(), 1);
    let moved = q
        .receive(queue, 1, Duration::ZERO, Duration::ZERO)
        .await
        .expect("receive");
    assert!(moved.is_empty(), "moved to the dead-letter queue");
    if let Some(error) = error {
        EmbeddedStore::new(db)
            .record_job_failure(
                queue,
                &id,
                &JobFailure {
                    error: error.into(),
                    failed_at: recently(),
                },
            )
            .await
            .expect("record failure");
    }
    id
}

#[test]
fn dlq_list_shows_jobs_and_redrive_moves_them_back() {
    let local = Local::new();
    let empty = local.run(&["dlq", "list", "--queue", "send"]);
    assert!(empty.ok().contains("the send dead-letter queue is empty"));
    let (send_id, goal_id, poison_id) = local.with_db(|db| async move {
        let send = dead_letter(
            db.clone(),
            QueueName::Send,
            SEND_JOB,
            Some("twilio answered 500"),
        )
        .await;
        let goal = dead_letter(db.clone(), QueueName::Automation, GOAL_JOB, None).await;
        let poison = dead_letter(
            db,
            QueueName::Automation,
            "not a job",
            Some("not a valid job: expected value"),
        )
        .await;
        (send, goal, poison)
    });

    let listed = local.json(&["dlq", "list", "--queue", "send"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["message_id"], send_id.as_str());
    assert_eq!(listed[0]["kind"], "send");
    assert_eq!(listed[0]["account"], "acme");
    assert_eq!(listed[0]["details"]["message_id"], "01JSEND");
    assert_eq!(listed[0]["last_error"]["error"], "twilio answered 500");
    // Listing leaves them in place.
    local
        .run(&["dlq", "list", "--queue", "automation"])
        .prints(&[
            "2 dead-lettered automation job(s)",
            &format!("{goal_id}  achieve_goal  account acme"),
            "call_name=Inbound19523142318  contact_id=42  job_id=inbound:SM1:goal",
            "last error: not recorded",
            &format!("{poison_id}  undecodable  account -"),
            " UTC): not a valid job: expected value",
        ]);

    // Redrive one by id; an unknown id is reported as not found after the rest moved.
    let run = local.run(&[
        "dlq",
        "redrive",
        "--queue",
        "automation",
        "--message-id",
        &goal_id,
        "--message-id",
        "nope",
    ]);
    run.fails_saying(3, &["not in the automation dead-letter queue: nope"]);
    assert!(
        run.stdout.contains(&format!(
            "moved {goal_id} (achieve_goal) back to the automation queue as "
        )),
        "{}",
        run.stdout
    );
    let left = local.json(&["dlq", "list", "--queue", "automation"]);
    assert_eq!(left[0]["message_id"], poison_id.as_str());
    assert_eq!(left.as_array().map(Vec::len), Some(1));

    let moved = local.json(&["dlq", "redrive", "--queue", "send"]);
    assert_eq!(moved["moved"][0]["dead_letter_id"], send_id.as_str());
    let new_id = moved["moved"][0]["new_message_id"]
        .as_str()
        .expect("new id")
        .to_string();
    assert!(
        local
            .run(&["dlq", "list", "--queue", "send"])
            .ok()
            .contains("is empty")
    );

    // The jobs are back on their queues, bodies intact.
    let bodies = local.with_db(|db| async move {
        let q = EmbeddedQueue::new(db, Arc::new(SystemClock));
        let mut bodies = vec![];
        for queue in QueueName::ALL {
            for m in q
                .receive(queue, 10, Duration::from_secs(60), Duration::ZERO)
                .await
                .expect("receive")
            {
                bodies.push((queue, m.message_id, m.body));
            }
        }
        bodies
    });
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert!(
        bodies.contains(&(QueueName::Send, new_id, SEND_JOB.to_string())),
        "{bodies:?}"
    );
    assert!(
        bodies
            .iter()
            .any(|(q, _, b)| *q == QueueName::Automation && b == GOAL_JOB),
        "{bodies:?}"
    );
}
