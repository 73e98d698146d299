use super::*;

/// Addresses as an operator types them (no surrounding blanks: the CloudFormation parameter
/// is not trimmed), with whether they are addresses. Held against both `EmailAddress::parse`
/// and template.yaml's `MailFromAddress` pattern.
const CASES: &[(&str, bool)] = &[
    ("mary@example.com", true),
    ("x@y.z", true),
    ("a+tag@sub.example.co.uk", true),
    ("o'brien@example.ie", true),
    ("first.last@example.museum", true),
    ("!#$%&'*+-/=?^_`{|}~@example.com", true),
    ("user@example.xn--p1ai", true),
    ("user@xn--bcher-kva.example", true),
    ("MARY@EXAMPLE.COM", true),
    ("a..b@example.com", true),
    ("user@123.example.com", true),
    ("", false),
    ("mary", false),
    ("mary@", false),
    ("@example.com", false),
    ("mary@example", false),
    ("mary@exa mple.com", false),
    ("mary smith@example.com", false),
    ("mary@exam\nple.com", false),
    ("mary\t@example.com", false),
    (".mary@example.com", false),
    ("mary.@example.com", false),
    ("mary@-example.com", false),
    ("mary@example-.com", false),
    ("mary@example..com", false),
    ("mary@.example.com", false),
    ("mary@example.com.", false),
    ("mary@example.c0m", false),
    ("mary@10.0.0.1", false),
    ("mary@[10.0.0.1]", false),
    ("\"mary smith\"@example.com", false),
    ("mary@@example.com", false),
    ("a@b@example.com", false),
    ("mary@exämple.com", false),
    ("märy@example.com", false),
    ("mary@example.xn---abc", true),
    ("mary@example.XN--P1AI", true),
    ("mary@example.xn--", false),
    ("mary@example.xn--p1ai-", false),
];

/// Lengths at the limits: a 64-character local part passes, 65 does not; a 63-character
/// label passes, 64 does not; 254 characters in all pass, 255 do not.
fn long_cases() -> Vec<(String, bool)> {
    let label = |n: usize| "d".repeat(n);
    // Three 63-character labels, then a TLD long enough for `total` characters.
    let domain_of = |total: usize| {
        let mut d = [label(63), label(63), label(63)].join(".");
        d.push('.');
        d.push_str(&"c".repeat(total - d.len()));
        d
    };
    vec![
        (format!("{}@example.com", "l".repeat(64)), true),
        (format!("{}@example.com", "l".repeat(65)), false),
        (format!("mary@{}.com", label(63)), true),
        (format!("mary@{}.com", label(64)), false),
        (format!("m@{}", domain_of(252)), true),
        (format!("m@{}", domain_of(253)), false),
    ]
}

fn all_cases() -> Vec<(String, bool)> {
    let mut cases: Vec<(String, bool)> = (CASES.iter())
        .map(|(input, ok)| ((*input).to_string(), *ok))
        .collect();
    cases.extend(long_cases());
    cases
}

#[test]
fn accepts_what_mail_systems_route_and_refuses_the_rest() {
    for (input, ok) in all_cases() {
        assert_eq!(EmailAddress::parse(&input).is_ok(), ok, "{input:?}");
    }
}

/// The `MailFromAddress` parameter of template.yaml: its pattern and its maximum length.
fn template_mail_from() -> (regex::Regex, usize) {
    let text = include_str!("../../../../template.yaml");
    let docs = yaml_rust2::YamlLoader::load_from_str(text).expect("template.yaml is YAML");
    let param = &docs[0]["Parameters"]["MailFromAddress"];
    let pattern = param["AllowedPattern"]
        .as_str()
        .expect("MailFromAddress has an AllowedPattern");
    let max = param["MaxLength"]
        .as_i64()
        .expect("MailFromAddress has a MaxLength");
    let regex = regex::Regex::new(pattern).expect("the pattern is a regex");
    (regex, usize::try_from(max).expect("a positive MaxLength"))
}

#[test]
fn template_mail_from_pattern_accepts_what_the_code_accepts() {
    let (pattern, max_len) = template_mail_from();
    // CloudFormation matches the whole value against the pattern.
    assert!(
        pattern.as_str().starts_with('^') && pattern.as_str().ends_with('$'),
        "anchored"
    );
    for (input, ok) in all_cases() {
        let template_ok = input.len() <= max_len && pattern.is_match(&input);
        assert_eq!(template_ok, ok, "template.yaml on {input:?}");
        assert_eq!(
            EmailAddress::parse(&input).is_ok(),
            template_ok,
            "code and template.yaml disagree on {input:?}"
        );
    }
}

#[test]
fn accepts_and_normalises() {
    let cases = [
        ("mary@example.com", "mary@example.com"),
        ("  Mary.Anders@Example.COM ", "Mary.Anders@example.com"),
        ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            EmailAddress::parse(input).map(|e| e.to_string()),
            Ok(expected.into())
        );
    }
}

#[test]
fn rejects_non_addresses() {
    for input in [
        "",
        "mary",
        "mary@",
        "@example.com",
        "mary@example",
        "mary@exa mple.com",
        ".mary@example.com",
        "mary@-example.com",
        "mary@example.c0m",
    ] {
        assert!(EmailAddress::parse(input).is_err(), "{input:?}");
    }
}

#[test]
fn finds_the_first_address_in_text() {
    let cases = [
        (
            "my email is Jane.Doe@Example.com, thanks",
            Some("Jane.Doe@example.com"),
        ),
        ("jane@example.com", Some("jane@example.com")),
        ("Email: jane@example.com.", Some("jane@example.com")),
        ("is it jane@example.com?", Some("jane@example.com")),
        ("jane@example.com!!!", Some("jane@example.com")),
        ("(jane@example.com)", Some("jane@example.com")),
        ("<jane@example.com>", Some("jane@example.com")),
        ("\"jane@example.com\"", Some("jane@example.com")),
        ("'jane@example.com'", Some("jane@example.com")),
        ("mailto:jane@example.com", Some("jane@example.com")),
        ("...jane@example.com...", Some("jane@example.com")),
        (
            "j.d+sms@mail.example.co.uk;",
            Some("j.d+sms@mail.example.co.uk"),
        ),
        ("first a@b.com then c@d.org", Some("a@b.com")),
        // An implausible candidate does not hide a later real one.
        (
            "@home now, write to jane@example.com",
            Some("jane@example.com"),
        ),
        ("me@home or jane@example.com", Some("jane@example.com")),
        ("call me at 5", None),
        ("", None),
        ("@handle", None),
        ("me@home", None),
        ("jane@", None),
        ("50% @ 5pm", None),
        ("a@b@c.com", None),
        ("jane@exämple.com", None),
        ("jane.@example.com", None),
        ("jane@example.c0m", None),
        ("Ｊａｎｅ@example.com", None),
        ("émile@example.com", None),
        ("jane@example.comé", None),
        (
            "émile@example.com or jane@example.com",
            Some("jane@example.com"),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            EmailAddress::find_in_text(text).map(|e| e.to_string()),
            expected.map(String::from),
            "{text:?}"
        );
    }
}
