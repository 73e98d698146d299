//! Validation errors, one table row per kind, and the engine's edges that the flow files
//! (`shared/tests/sequence_flows/`) do not reach.

use std::collections::BTreeMap;

use super::*;
use crate::domain::merge::MergeError;
use crate::domain::send_content::ContentError;
use crate::domain::time::Timestamp;

const HEADER: &str = "account: acme
name: t
start: crm
sender: '+14155550100'
collect_email_first: false
";

fn with_steps(steps: &str) -> String {
    format!("{HEADER}steps:\n{steps}")
}

fn load(yaml: &str) -> Result<Sequence, DefinitionError> {
    Sequence::parse("t.yaml", yaml, FileFormat::Yaml)
}

fn problem(step: Option<&str>, kind: ProblemKind) -> Problem {
    Problem {
        step: step.map(str::to_string),
        kind,
    }
}

fn unknown_step(place: &str, target: &str) -> ProblemKind {
    ProblemKind::UnknownStep {
        place: place.into(),
        target: target.into(),
    }
}

const ONE_STEP: &str = "  - name: a\n    message: Hi\n    next: finish\n";

#[test]
fn refuses_each_kind_of_problem() {
    let a = Some("a");
    let b = Some("b");
    let cases: Vec<(&str, String, Vec<Problem>)> = vec![
        (
            "unknown next step",
            with_steps("  - name: a\n    message: Hi\n    next: nowhere\n"),
            vec![problem(a, unknown_step("next", "nowhere"))],
        ),
        (
            "unknown condition goto and fallback",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: [yes]
          goto: nope
      fallback: gone
",
            ),
            vec![
                problem(a, unknown_step("condition 1: goto", "nope")),
                problem(a, unknown_step("fallback", "gone")),
            ],
        ),
        (
            "unknown merge field",
            with_steps("  - name: a\n    message: Hi ~Contact.Middle~\n    next: finish\n"),
            vec![problem(
                a,
                ProblemKind::UnknownMergeField(FieldError::Unknown("Contact.Middle".into())),
            )],
        ),
        (
            "merge field in the wrong case",
            with_steps("  - name: a\n    message: Hi ~Contact.firstname~\n    next: finish\n"),
            vec![problem(
                a,
                ProblemKind::UnknownMergeField(FieldError::WrongCase {
                    name: "Contact.firstname".into(),
                    suggestion: "Contact.FirstName".into(),
                }),
            )],
        ),
        (
            "unterminated merge field",
            with_steps("  - name: a\n    message: Hi ~Contact.FirstName\n    next: finish\n"),
            vec![problem(
                a,
                ProblemKind::MergeSyntax(MergeError::Unterminated {
                    field: "Contact.FirstName".into(),
                    position: 4,
                }),
            )],
        ),
        (
            "unknown save_to field",
            with_steps(
                "  - name: a\n    message: Hi\n    save_to: Contact.Colour\n    next: finish\n",
            ),
            vec![problem(
                a,
                ProblemKind::SaveToField(FieldError::Unknown("Contact.Colour".into())),
            )],
        ),
        (
            "save_to a field the CRM port cannot write",
            with_steps(
                "  - name: a\n    message: Hi\n    save_to: Contact.FirstName\n    next: finish\n",
            ),
            vec![problem(a, ProblemKind::NotWritable("Contact.FirstName".into()))],
        ),
        (
            "unknown field in a bound",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - less_than: { field: Budget }
          goto: finish
      fallback: finish
",
            ),
            vec![problem(
                a,
                ProblemKind::BadField {
                    condition: 1,
                    reason: FieldError::Unknown("Budget".into()),
                },
            )],
        ),
        (
            "no reachable finish",
            with_steps(
                "  - name: a\n    message: Hi\n    next: b\n  - name: b\n    message: Again\n    next: a\n",
            ),
            vec![
                problem(a, ProblemKind::NoReachableFinish),
                problem(b, ProblemKind::NoReachableFinish),
            ],
        ),
        (
            "malformed numbers",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - less_than: ten
          goto: finish
        - greater_than: '1e999'
          goto: finish
        - between: { at_least: '1,5', below: 3 }
          goto: finish
      fallback: finish
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::MalformedNumber {
                        condition: 1,
                        value: "ten".into(),
                    },
                ),
                problem(
                    a,
                    ProblemKind::MalformedNumber {
                        condition: 2,
                        value: "1e999".into(),
                    },
                ),
                problem(
                    a,
                    ProblemKind::MalformedNumber {
                        condition: 3,
                        value: "1,5".into(),
                    },
                ),
            ],
        ),
        (
            "empty message",
            with_steps("  - name: a\n    message: '  '\n    next: finish\n  - name: b\n    next: finish\n"),
            vec![
                problem(a, ProblemKind::EmptyMessage),
                problem(b, ProblemKind::EmptyMessage),
            ],
        ),
        (
            "duplicate step names",
            with_steps(
                "  - name: a\n    message: Hi\n  - name: a\n    message: Again\n    next: finish\n",
            ),
            vec![problem(a, ProblemKind::DuplicateStep("a".into()))],
        ),
        (
            "inverted between",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - between: { at_least: 10, at_most: 5 }
          goto: finish
        - between: { above: 5, at_most: 5 }
          goto: finish
      fallback: finish
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::InvertedBetween {
                        condition: 1,
                        lower: ">= 10".into(),
                        upper: "<= 5".into(),
                    },
                ),
                problem(
                    a,
                    ProblemKind::InvertedBetween {
                        condition: 2,
                        lower: "> 5".into(),
                        upper: "<= 5".into(),
                    },
                ),
            ],
        ),
        (
            "between bounds missing or doubled",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - between: { below: 5 }
          goto: finish
        - between: { above: 1, at_least: 1, at_most: 5, below: 6 }
          goto: finish
      fallback: finish
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::BetweenBounds {
                        condition: 1,
                        need: "a lower bound: above or at_least",
                    },
                ),
                problem(
                    a,
                    ProblemKind::BetweenBounds {
                        condition: 2,
                        need: "one lower bound, not both above and at_least",
                    },
                ),
                problem(
                    a,
                    ProblemKind::BetweenBounds {
                        condition: 2,
                        need: "one upper bound, not both below and at_most",
                    },
                ),
            ],
        ),
        (
            "a condition needs exactly one test",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - goto: finish
        - equals_any: [yes]
          less_than: 3
          goto: finish
      fallback: finish
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::ConditionTests {
                        condition: 1,
                        found: 0,
                    },
                ),
                problem(
                    a,
                    ProblemKind::ConditionTests {
                        condition: 2,
                        found: 2,
                    },
                ),
            ],
        ),
        (
            "empty words",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: []
          goto: finish
        - equals_any: [yes, ' ']
          goto: finish
      fallback: finish
",
            ),
            vec![
                problem(a, ProblemKind::EmptyEqualsAny { condition: 1 }),
                problem(
                    a,
                    ProblemKind::EmptyPattern {
                        condition: 2,
                        index: 2,
                    },
                ),
            ],
        ),
        (
            "conditions without a fallback",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: [yes]
          goto: finish
",
            ),
            vec![problem(a, ProblemKind::MissingFallback)],
        ),
        (
            "the last step must say what follows",
            with_steps("  - name: a\n    message: Hi\n"),
            vec![problem(a, ProblemKind::LastStepWithoutNext)],
        ),
        (
            "a closing step takes no next and no save_to",
            with_steps(
                "  - name: a\n    message: Bye\n    await_reply: false\n    next: finish\n    save_to: Contact._X\n",
            ),
            vec![
                problem(a, ProblemKind::ClosingStepWith { setting: "next" }),
                problem(a, ProblemKind::ClosingStepWith { setting: "save_to" }),
            ],
        ),
        (
            "media",
            with_steps(&format!(
                "  - name: a\n    message: Hi\n    media: [{}]\n    next: finish\n  - name: b\n    message: Hi\n    media: ['ftp://x.example.com/a.png']\n    next: finish\n",
                ["'https://cdn.example.com/a.png'"; 11].join(", ")
            )),
            vec![
                problem(a, ProblemKind::TooManyMedia { count: 11 }),
                problem(
                    b,
                    ProblemKind::InvalidMedia(ContentError::InvalidMediaUrl {
                        url: "ftp://x.example.com/a.png".into(),
                        reason: "only http and https URLs can be fetched",
                    }),
                ),
            ],
        ),
        (
            "message too long",
            with_steps(&format!(
                "  - name: a\n    message: '{}'\n    next: finish\n",
                "x".repeat(1601)
            )),
            vec![problem(a, ProblemKind::MessageTooLong { length: 1601 })],
        ),
        (
            "step names",
            with_steps(
                "  - name: finish\n    message: Hi\n  - name: collect-email\n    message: Hi\n  - name: 'two words'\n    message: Hi\n    next: finish\n",
            ),
            vec![
                problem(Some("finish"), ProblemKind::ReservedStepName("finish".into())),
                problem(
                    Some("collect-email"),
                    ProblemKind::ReservedStepName("collect-email".into()),
                ),
                problem(None, ProblemKind::InvalidStepName("two words".into())),
            ],
        ),
        (
            "no steps",
            HEADER.to_string(),
            vec![problem(None, ProblemKind::NoSteps)],
        ),
        (
            "settings",
            format!(
                "account: Acme Inc
name: My Sequence
start: crm
sender: ' '
phone_field: Contact.FirstName
opted_out_tag: ''
collect_email_first: false
email_step:
  message: Your e-mail?
steps:
{ONE_STEP}"
            ),
            vec![
                problem(
                    None,
                    ProblemKind::InvalidAccount(
                        "'Acme Inc' is not an account id: use 1-64 lower-case letters, digits or '-'"
                            .into(),
                    ),
                ),
                problem(None, ProblemKind::InvalidName("My Sequence".into())),
                problem(None, ProblemKind::MissingSender),
                problem(None, ProblemKind::NotAPhoneField("Contact.FirstName".into())),
                problem(
                    None,
                    ProblemKind::EmptyTag {
                        setting: "opted_out_tag".into(),
                    },
                ),
                problem(None, ProblemKind::EmailStepWithoutCollect),
            ],
        ),
        (
            "unknown phone field",
            format!("{HEADER}phone_field: Mobile\nsteps:\n{ONE_STEP}"),
            vec![problem(
                None,
                ProblemKind::PhoneField(FieldError::Unknown("Mobile".into())),
            )],
        ),
        (
            "keyword start without keywords",
            with_steps(ONE_STEP).replace("start: crm", "start: keyword"),
            vec![problem(None, ProblemKind::NoKeywords)],
        ),
        (
            "keywords on a crm start",
            format!("{HEADER}keywords: [BOOK]\nsteps:\n{ONE_STEP}"),
            vec![problem(None, ProblemKind::KeywordsWithoutKeywordStart)],
        ),
        (
            "bad keywords",
            format!("{HEADER}keywords: [BOOK, Stop, ' ', book!, yes]\nsteps:\n{ONE_STEP}")
                .replace("start: crm", "start: both"),
            vec![
                problem(None, ProblemKind::ReservedKeyword("Stop".into())),
                problem(None, ProblemKind::EmptyKeyword { index: 3 }),
                problem(None, ProblemKind::DuplicateKeyword("book!".into())),
                problem(None, ProblemKind::ReservedKeyword("yes".into())),
            ],
        ),
        (
            "empty condition and fallback tags",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: [yes]
          tag: ''
          goto: finish
      fallback: finish
      fallback_tag: ' '
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::EmptyTag {
                        setting: "condition 1: tag".into(),
                    },
                ),
                problem(
                    a,
                    ProblemKind::EmptyTag {
                        setting: "fallback_tag".into(),
                    },
                ),
            ],
        ),
    ];
    for (name, yaml, want) in cases {
        match load(&yaml) {
            Ok(_) => panic!("{name}: accepted, expected {want:?}"),
            Err(e) => {
                assert_eq!(e.origin, "t.yaml", "{name}");
                assert_eq!(e.problems, want, "{name}");
            }
        }
    }
}

#[test]
fn unreadable_files() {
    let e = load("account: [").expect_err("broken YAML");
    assert!(
        matches!(
            e.problems.as_slice(),
            [Problem {
                step: None,
                kind: ProblemKind::Syntax(_)
            }]
        ),
        "{e:?}"
    );
    let e = Sequence::load("t.txt", "").expect_err("unknown extension");
    assert_eq!(e.problems, vec![problem(None, ProblemKind::UnknownFormat)]);
    let e = load(&with_steps(ONE_STEP).replace("start: crm", "start: crm\nnotes: true"))
        .expect_err("typo");
    let text = e.to_string();
    assert!(
        text.starts_with("t.yaml: 1 problem\n  cannot be read:"),
        "{text}"
    );
    assert!(text.contains("notes"), "{text}");
}

#[test]
fn the_error_names_file_step_and_reason() {
    let e = load(&with_steps(
        "  - name: a\n    message: ''\n    next: b\n  - name: b\n    message: Hi\n    next: fnish\n",
    ))
    .expect_err("two problems");
    assert_eq!(
        e.to_string(),
        "t.yaml: 2 problems\n  step 'a': the message is empty\n  step 'b': next 'fnish' is not \
         a step of this sequence (nor 'finish')"
    );
}

#[test]
fn unreachable_steps_are_warnings() {
    let seq = load(&with_steps(
        "  - name: a\n    message: Hi\n    next: finish\n  - name: side\n    message: Hi\n    next: finish\n",
    ))
    .expect("valid");
    assert_eq!(
        seq.warnings(),
        [problem(Some("side"), ProblemKind::Unreachable)]
    );
}

#[test]
fn accepts_edge_cases() {
    let cases = [
        (
            "a between on one point, both inclusive",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - between: { at_least: 5, at_most: '5' }
          goto: finish
      fallback: finish
",
            ),
        ),
        (
            "a decision with only a fallback",
            with_steps("  - name: a\n    message: Hi\n    next:\n      fallback: finish\n"),
        ),
        (
            "a closing step ends the sequence",
            with_steps(
                "  - name: a\n    message: Hi\n  - name: b\n    message: Bye\n    await_reply: false\n",
            ),
        ),
        (
            "a loop with a way out",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: [yes]
          goto: finish
      fallback: a
",
            ),
        ),
        (
            "the e-mail step alone",
            HEADER.replace("collect_email_first: false\n", ""),
        ),
        (
            "between with field bounds",
            with_steps(
                "  - name: a
    message: Hi
    next:
      conditions:
        - between: { above: { field: Contact._Max }, below: { field: Contact._Min } }
          goto: finish
      fallback: finish
",
            ),
        ),
    ];
    for (name, yaml) in cases {
        if let Err(e) = load(&yaml) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn the_email_step_comes_first() {
    let yaml = "account: acme
name: t
start: both
keywords: [Book]
sender: '+14155550100'
email_step:
  message: E-mail please, ~Contact.FirstName~?
  save_to: Contact._Email2
steps:
  - name: a
    message: Hi
    next: finish
";
    let seq = load(yaml).expect("valid");
    let names: Vec<&str> = seq.steps().iter().map(Step::name).collect();
    assert_eq!(names, [COLLECT_EMAIL_STEP, "a"]);
    let email = seq.first_step();
    assert!(email.expects_email());
    assert_eq!(email.message(), "E-mail please, ~Contact.FirstName~?");
    assert_eq!(email.next(), &Next::Goto(Goto::Step("a".into())));
    assert_eq!(
        email.save_to().map(|f| f.merge_name()).as_deref(),
        Some("Contact._Email2")
    );
    // A step saving to Contact.Email is an e-mail step too.
    let seq = load(&with_steps(
        "  - name: a\n    message: Hi\n    save_to: Contact.Email\n    next: finish\n  - name: b\n    message: Hi\n    save_to: Contact._X\n    next: finish\n",
    ))
    .expect("valid");
    assert!(seq.steps()[0].expects_email());
    assert!(!seq.steps()[1].expects_email());
    let default = load(&HEADER.replace("collect_email_first: false\n", "")).expect("valid");
    assert_eq!(default.first_step().message(), DEFAULT_EMAIL_QUESTION);
    assert_eq!(default.first_step().next(), &Next::Goto(Goto::Finish));
}

#[test]
fn keywords_start_runs() {
    let yaml = with_steps(ONE_STEP).replace(
        "start: crm",
        "start: both\nkeywords: [Book, 'Table for two']",
    );
    let seq = load(&yaml).expect("valid");
    let cases = [
        ("book", true),
        ("BOOK!", true),
        ("  Book. ", true),
        ("table  for TWO", true),
        ("book now", false),
        ("", false),
    ];
    for (body, want) in cases {
        assert_eq!(seq.is_started_by(body), want, "{body:?}");
    }
    let crm_only = load(&with_steps(ONE_STEP)).expect("valid");
    assert!(!crm_only.is_started_by("book"));
}

#[test]
fn lists_the_fields_it_reads() {
    let seq = load(&with_steps(
        "  - name: a
    message: Hi ~Contact.FirstName~, ~Contact._Tier~
    next:
      conditions:
        - less_than: { field: Contact._Budget }
          goto: finish
        - between: { above: 1, at_most: { field: Contact._Max } }
          goto: finish
      fallback: finish
",
    ))
    .expect("valid");
    let fields: Vec<String> = seq
        .fields_read()
        .iter()
        .map(ContactField::merge_name)
        .collect();
    assert_eq!(
        fields,
        [
            "Contact.FirstName",
            "Contact._Budget",
            "Contact._Max",
            "Contact._Tier"
        ]
    );
}

#[test]
fn lists_the_custom_fields_it_reads_and_writes() {
    // (phone_field, steps, the custom fields)
    let cases: [(&str, &str, &[&str]); 3] = [
        ("Contact.Phone1", ONE_STEP, &[]),
        (
            "Contact._Mobile",
            "  - name: a
    message: Hi ~Contact.FirstName~, ~Contact._Tier~
    save_to: Contact._Answer
    next:
      conditions:
        - less_than: { field: Contact._Budget }
          goto: finish
      fallback: finish
",
            &["Answer", "Budget", "Mobile", "Tier"],
        ),
        (
            "Contact.Phone1",
            "  - name: a
    message: Your e-mail?
    save_to: Contact.Email
    next: b
  - name: b
    message: And your budget?
    save_to: Contact._Budget
    next: finish
",
            &["Budget"],
        ),
    ];
    for (phone_field, steps, expected) in cases {
        let yaml = format!("phone_field: {phone_field}\n{}", with_steps(steps));
        let seq = load(&yaml).expect("valid");
        let fields = seq.custom_fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
        assert_eq!(names, expected, "{phone_field}: {steps}");
    }
}

#[test]
fn stored_definitions_validate_again() {
    let seq = load(&with_steps(ONE_STEP)).expect("valid");
    let json = serde_json::to_string(seq.definition()).expect("serialise");
    let again = Sequence::parse("stored", &json, FileFormat::Json).expect("valid again");
    assert_eq!(again.definition(), seq.definition());
    assert_eq!(again.steps(), seq.steps());
}

// ------------------------------------------------------------------- engine edges

const T0: i64 = 1_700_000_000_000;

fn at(minutes: i64) -> Timestamp {
    Timestamp::from_millis(T0 + minutes * 60_000)
}

fn two_steps() -> Sequence {
    load(&with_steps(
        "  - name: a\n    message: Hi\n  - name: b\n    message: Bye\n    next: finish\n",
    ))
    .expect("valid")
}

fn start_event(at_step: Option<&str>) -> Event {
    Event::Start {
        at_step: at_step.map(str::to_string),
        trigger_sid: None,
    }
}

fn reply(sid: &str, body: &str) -> Event {
    Event::Reply {
        message_sid: sid.into(),
        body: body.into(),
        media: vec![],
    }
}

#[test]
fn engine_refusals() {
    let seq = two_steps();
    let none = ContactFields::new();
    assert_eq!(
        advance(&seq, None, &start_event(Some("zz")), &none, at(0)),
        Err(EngineError::UnknownStep("zz".into()))
    );
    assert_eq!(
        advance(&seq, None, &reply("SM1", "x"), &none, at(0)),
        Err(EngineError::NotStarted)
    );
    let started = advance(&seq, None, &start_event(None), &none, at(0)).expect("start");
    assert_eq!(
        advance(
            &seq,
            Some(&started.state),
            &start_event(None),
            &none,
            at(60)
        ),
        Err(EngineError::AlreadyActive { step: "a".into() })
    );
    // Once the lock has expired, a start begins a fresh run.
    let again = advance(
        &seq,
        Some(&started.state),
        &start_event(Some("b")),
        &none,
        at(24 * 60),
    )
    .expect("restart after expiry");
    assert_eq!(again.state.current_step(), Some("b"));
    assert_eq!(again.state.started_at, at(24 * 60));
}

#[test]
fn finished_runs_take_no_events() {
    let seq = two_steps();
    let none = ContactFields::new();
    let started = advance(&seq, None, &start_event(Some("b")), &none, at(0)).expect("start");
    let done = advance(
        &seq,
        Some(&started.state),
        &reply("SM1", "ok"),
        &none,
        at(1),
    )
    .expect("reply");
    assert_eq!(done.state.finish_reason(), Some(FinishReason::Completed));
    for event in [
        reply("SM2", "hello?"),
        Event::OptedOut,
        Event::InvalidNumber,
        Event::Expire,
    ] {
        let t = advance(&seq, Some(&done.state), &event, &none, at(2)).expect("event");
        assert_eq!(t.effects, vec![], "{event:?}");
        assert_eq!(t.state, done.state, "{event:?}");
    }
}

#[test]
fn remembers_a_bounded_number_of_sids() {
    let seq = load(&with_steps(
        "  - name: a
    message: Hi
    next:
      conditions:
        - equals_any: [done]
          goto: finish
      fallback: a
",
    ))
    .expect("valid");
    let none = ContactFields::new();
    let mut state = advance(
        &seq,
        None,
        &Event::Start {
            at_step: None,
            trigger_sid: Some("SM-keyword".into()),
        },
        &none,
        at(0),
    )
    .expect("start")
    .state;
    assert_eq!(state.processed_sids, ["SM-keyword"]);
    for i in 0..MAX_REMEMBERED_SIDS + 5 {
        state = advance(
            &seq,
            Some(&state),
            &reply(&format!("SM{i}"), "x"),
            &none,
            at(1),
        )
        .expect("reply")
        .state;
    }
    assert_eq!(state.processed_sids.len(), MAX_REMEMBERED_SIDS);
    assert_eq!(
        state.processed_sids.front().map(String::as_str),
        Some("SM5")
    );
}

#[test]
fn run_state_round_trips_as_json() {
    let seq = two_steps();
    let none = ContactFields::new();
    let t = advance(&seq, None, &start_event(None), &none, at(0)).expect("start");
    let t = advance(
        &seq,
        Some(&t.state),
        &reply("SM1", " Tuesday "),
        &none,
        at(5),
    )
    .expect("reply");
    let json = serde_json::to_value(&t.state).expect("serialise");
    assert_eq!(
        json["status"],
        serde_json::json!({ "status": "waiting_for_reply", "step": "b" })
    );
    assert_eq!(json["answers"], serde_json::json!({ "a": "Tuesday" }));
    assert_eq!(
        json["expires_at"],
        serde_json::json!(at(5 + 24 * 60).as_millis())
    );
    let back: RunState = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, t.state);
}

#[test]
fn note_lines_show_media() {
    let seq = load(&with_steps(
        "  - name: a\n    message: Send a photo\n    media: ['https://cdn.example.com/a.png']\n    next: finish\n",
    )
    .replace("start: crm", "start: crm\nnote: true"))
    .expect("valid");
    let none = ContactFields::new();
    let started = advance(&seq, None, &start_event(None), &none, at(0)).expect("start");
    assert_eq!(
        started.effects[1],
        Effect::AppendToNote {
            text: "Sent: Send a photo [media: https://cdn.example.com/a.png]".into()
        }
    );
    let photo = Event::Reply {
        message_sid: "SM1".into(),
        body: " ".into(),
        media: vec!["https://api.twilio.com/ME1".into()],
    };
    let replied = advance(&seq, Some(&started.state), &photo, &none, at(1)).expect("reply");
    assert_eq!(
        replied.effects,
        [
            Effect::AppendToNote {
                text: "Reply: [media: https://api.twilio.com/ME1]".into()
            },
            Effect::Finished {
                reason: FinishReason::Completed
            }
        ]
    );
    // A picture alone saves nothing.
    assert_eq!(replied.state.answers, BTreeMap::new());
}
