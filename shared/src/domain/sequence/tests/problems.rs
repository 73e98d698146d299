//! Each kind of problem validation reports, and how the error reads.

use super::*;
use crate::domain::merge::MergeError;
use crate::domain::received::ReceivedFilterError;
use crate::domain::send_content::ContentError;

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
            a_next(
                "      conditions:
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
            a_decides(
                "        - less_than: { field: Budget }
          goto: finish
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
            a_decides(
                "        - less_than: ten
          goto: finish
        - greater_than: '1e999'
          goto: finish
        - between: { at_least: '1,5', below: 3 }
          goto: finish
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
            a_decides(
                "        - between: { at_least: 10, at_most: 5 }
          goto: finish
        - between: { above: 5, at_most: 5 }
          goto: finish
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
            a_decides(
                "        - between: { below: 5 }
          goto: finish
        - between: { above: 1, at_least: 1, at_most: 5, below: 6 }
          goto: finish
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
            a_decides(
                "        - goto: finish
        - equals_any: [yes]
          less_than: 3
          goto: finish
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
            "has_received filters it cannot read",
            a_decides(
                "        - has_received: { type: promo }
          goto: finish
        - has_received: { since: '2024-05-01', within_days: 3 }
          goto: finish
",
            ),
            vec![
                problem(
                    a,
                    ProblemKind::BadReceivedFilter {
                        condition: 1,
                        reason: ReceivedFilterError::UnknownKind("promo".into()),
                    },
                ),
                problem(
                    a,
                    ProblemKind::BadReceivedFilter {
                        condition: 2,
                        reason: ReceivedFilterError::TwoWindows,
                    },
                ),
            ],
        ),
        (
            "empty words",
            a_decides(
                "        - equals_any: []
          goto: finish
        - equals_any: [yes, ' ']
          goto: finish
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
            a_next(
                "      conditions:
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
            a_next(
                "      conditions:
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
