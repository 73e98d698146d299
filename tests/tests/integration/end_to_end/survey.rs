//! The survey sequence (`tests/fixtures/survey.yaml`) end to end: walked by keyword through
//! its branches, started by the CRM (and a repeated start), ended by an undelivered
//! landline or a STOP.

use super::*;

/// acme's CRM starts the survey with the form `fields`: the status and the answer.
async fn start_survey(d: &Deployment, fields: &[(&str, &str)]) -> (u16, Value) {
    d.start_sequence("acme", "survey", ACME_SEND_KEY, fields)
        .await
}

/// The title of the survey's conversation note.
const SURVEY_NOTE: &str = "SMS sequence: survey";

/// The bodies of the survey notes on `contact`.
fn survey_notes(notes: &Value, contact: &str) -> Vec<String> {
    notes["notes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["title"] == SURVEY_NOTE && n["contact_id"] == contact)
        .filter_map(|n| n["body"].as_str().map(str::to_string))
        .collect()
}

/// The survey notes on `contact` once one ends with `end`.
async fn survey_notes_ending(d: &Deployment, contact: &str, end: &str) -> Vec<String> {
    let notes = d
        .eventually_sandbox("/_sandbox/crm/acme/notes", PATIENCE, |b| {
            survey_notes(b, contact).iter().any(|n| n.ends_with(end))
        })
        .await;
    survey_notes(&notes, contact)
}

pub(super) async fn a_keyword_walks_the_survey_through_its_branches_to_its_closing_message(
    d: &Deployment,
) {
    d.apply_sequence(SURVEY).await;
    let ann = crm_contact(d, "Ann", ANN).await;

    text(d, ANN, "SM00000000000000000000000000000001", "Survey").await;
    assert_eq!(
        sent_to(d, ANN, 1).await,
        ["Hi Ann! How would you rate us, 1-10?"]
    );
    text(d, ANN, "SM00000000000000000000000000000002", "9, love it").await;
    sent_to(d, ANN, 2).await;
    // Twilio repeats the webhook of that reply: nothing advances.
    text(d, ANN, "SM00000000000000000000000000000002", "9, love it").await;
    text(d, ANN, "SM00000000000000000000000000000003", "Yes, sure").await;
    assert_eq!(
        sent_to(d, ANN, 3).await,
        [
            "Hi Ann! How would you rate us, 1-10?",
            "Glad to hear it, Ann! May we quote you? YES or NO",
            "Thanks, Ann: you rated us 9, love it.",
        ]
    );

    let contact = contact_when(d, &ann, |c| {
        tags(c).len() == 2 && c["custom_fields"]["QuoteOk"] == "Yes, sure"
    })
    .await;
    assert_eq!(tags(&contact), ["Promoter", "Quote OK"]);
    assert_eq!(contact["custom_fields"]["Rating"], "9, love it");
    let conversation = "Sent: Hi Ann! How would you rate us, 1-10?\n\
                        Reply: 9, love it\n\
                        Sent: Glad to hear it, Ann! May we quote you? YES or NO\n\
                        Reply: Yes, sure\n\
                        Sent: Thanks, Ann: you rated us 9, love it.";
    assert_eq!(
        survey_notes_ending(d, &ann, "you rated us 9, love it.").await,
        [conversation]
    );

    // The texts the run took fired the inbound goals (the repeated webhook none) and were
    // not forwarded by e-mail.
    let inbound = goals_when(d, Some(&ann), |names| {
        names.iter().filter(|n| *n == "Inbound").count() >= 3
    })
    .await;
    assert_eq!(inbound.iter().filter(|n| *n == "Inbound").count(), 3);
    assert_eq!(
        d.sandbox_json("/_sandbox/emails").await["emails"],
        json!([])
    );

    // The run is over: the keyword starts a new one, whose lines join the same note.
    text(d, ANN, "SM00000000000000000000000000000004", "SURVEY").await;
    sent_to(d, ANN, 4).await;
    let again = format!("{conversation}\nSent: Hi Ann! How would you rate us, 1-10?");
    assert_eq!(survey_notes_ending(d, &ann, &again).await, [again]);
}

pub(super) async fn a_repeated_crm_start_gets_the_first_answer_and_starts_nothing_more(
    d: &Deployment,
) {
    d.apply_sequence(SURVEY).await;
    let ben = crm_contact(d, "Ben", BEN).await;
    let start = [("contactId", ben.as_str()), ("requestId", "start-ben-1")];
    let (status, first) = start_survey(d, &start).await;
    assert_eq!(status, 202, "{first}");
    assert_eq!(
        (&first["sequence"], &first["contact_id"], &first["step"]),
        (&json!("survey"), &json!(ben), &json!("ask-rating")),
        "{first}"
    );
    assert_eq!(
        sent_to(d, BEN, 1).await,
        ["Hi Ben! How would you rate us, 1-10?"]
    );

    // The CRM lost the answer and posts again: the first answer, marked as a repeat.
    let (status, again) = start_survey(d, &start).await;
    assert_eq!(status, 202, "{again}");
    let mut expected = first.clone();
    expected["repeated"] = json!(true);
    assert_eq!(again, expected);
    // Another request while the run is on is refused: there is one run, and one message.
    let other = [("contactId", ben.as_str()), ("requestId", "start-ben-2")];
    let (status, refused) = start_survey(d, &other).await;
    assert_eq!(
        (status, refused["error"].as_str()),
        (409, Some("already_in_sequence")),
        "{refused}"
    );
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 1);
}

pub(super) async fn a_landline_reported_undelivered_ends_the_run_with_the_invalid_number_tag(
    d: &Deployment,
) {
    d.apply_sequence(SURVEY).await;
    let ivy = crm_contact(d, "Ivy", UNDELIVERABLE_LANDLINE).await;
    let start = [("contactId", ivy.as_str()), ("requestId", "start-ivy-1")];
    let (status, started) = start_survey(d, &start).await;
    assert_eq!(status, 202, "{started}");
    // The carrier accepts the first question, then reports it sent and undelivered (30006).
    assert_eq!(
        sent_to(d, UNDELIVERABLE_LANDLINE, 1).await,
        ["Hi Ivy! How would you rate us, 1-10?"]
    );
    let contact = contact_when(d, &ivy, |c| tags(c).contains(&"Survey invalid number")).await;
    assert_eq!(tags(&contact), ["Survey invalid number"]);
    assert_eq!(
        survey_notes_ending(d, &ivy, "the sequence ended.").await,
        ["Sent: Hi Ivy! How would you rate us, 1-10?\n\
          Not a valid mobile number: the sequence ended."]
    );
    let fired = goals_including(d, &ivy, &["BadNumber"]).await;
    assert!(!fired.contains(&"GoodNumber".to_string()), "{fired:?}");

    // The run ended in storage: the contact may start again (a new request, not a repeat;
    // the tag job may land a moment before the run's end is written, and a refusal is not
    // remembered, so the start is tried until it is taken).
    let restart = [("contactId", ivy.as_str()), ("requestId", "start-ivy-2")];
    let restarted = eventually(PATIENCE, async || match start_survey(d, &restart).await {
        (202, answer) => Ok(answer),
        (status, answer) => Err(format!("{:?}: the restart: {status} {answer}", d.shape)),
    })
    .await;
    assert_ne!(restarted["session_id"], started["session_id"]);
}

pub(super) async fn stop_mid_run_ends_it_with_the_opt_out_tag(d: &Deployment) {
    const BEN: &str = "+14155552672";
    d.apply_sequence(SURVEY).await;
    let ben = crm_contact(d, "Ben", BEN).await;
    text(d, BEN, "SM00000000000000000000000000000011", "survey").await;
    sent_to(d, BEN, 1).await;
    text(d, BEN, "SM00000000000000000000000000000012", "3").await;
    assert_eq!(
        sent_to(d, BEN, 2).await,
        [
            "Hi Ben! How would you rate us, 1-10?",
            "What could we do better?"
        ]
    );
    text(d, BEN, "SM00000000000000000000000000000013", "STOP").await;
    let contact = contact_when(d, &ben, |c| tags(c).contains(&"Survey opted out")).await;
    assert_eq!(tags(&contact), ["Detractor", "Survey opted out"]);
    let notes = survey_notes_ending(d, &ben, "the sequence ended.").await;
    assert!(
        notes[0].ends_with(
            "Reply: 3\nSent: What could we do better?\nOpted out (STOP): the sequence ended."
        ),
        "{notes:?}"
    );
    // The run is over: a later text is an ordinary one (forwarded), and nothing more is sent.
    text(d, BEN, "SM00000000000000000000000000000014", "Too slow").await;
    d.eventually_sandbox("/_sandbox/emails", PATIENCE, |b| {
        b["emails"].as_array().is_some_and(|e| {
            e.iter()
                .any(|m| m["text"].as_str().is_some_and(|t| t.contains("Too slow")))
        })
    })
    .await;
    assert_eq!(sent_to_after_a_pause(d, BEN).await.len(), 2);
    let contact = contact_when(d, &ben, |_| true).await;
    assert_eq!(contact["custom_fields"].get("Feedback"), None, "{contact}");
}
