//! Definitions validation accepts, and what a valid sequence tells its integrator.

use super::*;

#[test]
fn accepts_edge_cases() {
    let cases = [
        (
            "a between on one point, both inclusive",
            a_decides(
                "        - between: { at_least: 5, at_most: '5' }
          goto: finish
",
            ),
        ),
        (
            "a decision with only a fallback",
            a_next("      fallback: finish\n"),
        ),
        (
            "a closing step ends the sequence",
            with_steps(
                "  - name: a\n    message: Hi\n  - name: b\n    message: Bye\n    await_reply: false\n",
            ),
        ),
        (
            "a loop with a way out",
            a_next(
                "      conditions:
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
            a_decides(
                "        - between: { above: { field: Contact._Max }, below: { field: Contact._Min } }
          goto: finish
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
