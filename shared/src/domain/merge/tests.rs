use super::super::fixtures;
use super::*;

fn contact(name: &str) -> Option<String> {
    match name {
        "Contact.FirstName" => Some("Ana".into()),
        "Contact.LastName" => Some("Ruiz".into()),
        "Contact._Custom1" => Some("gold".into()),
        "Contact.Nickname" => Some(String::new()),
        "Contact.Spaces" => Some("  ".into()),
        "Contact.Tricky" => Some("~Contact.FirstName~ ~~".into()),
        _ => None,
    }
}

#[test]
fn renders() {
    let cases = [
        ("no fields", "Hello there", "Hello there"),
        ("empty", "", ""),
        ("one field", "Hi ~Contact.FirstName~!", "Hi Ana!"),
        (
            "two adjacent fields",
            "~Contact.FirstName~~Contact.LastName~",
            "AnaRuiz",
        ),
        ("field at start and end", "~Contact.FirstName~", "Ana"),
        ("custom field", "Tier: ~Contact._Custom1~", "Tier: gold"),
        ("empty value", "Hi ~Contact.Nickname~.", "Hi ."),
        (
            "repeated field",
            "~Contact.FirstName~ ~Contact.FirstName~",
            "Ana Ana",
        ),
        ("escaped tilde", "a~~b", "a~b"),
        (
            "escaped field",
            "~~Contact.FirstName~",
            "~Contact.FirstName~",
        ),
        ("escape after a field", "~Contact.FirstName~~~", "Ana~"),
        (
            "lone tilde before a digit",
            "back in ~5 min",
            "back in ~5 min",
        ),
        ("lone tilde before a space", "a ~ b", "a ~ b"),
        ("lone tilde at the end", "ok~", "ok~"),
        (
            "tilde before a word without a dot",
            "see you ~soon",
            "see you ~soon",
        ),
        (
            "values are not re-read",
            "~Contact.Tricky~",
            "~Contact.FirstName~ ~~",
        ),
        (
            "non-ASCII text around",
            "¡Hola ~Contact.FirstName~! 😀",
            "¡Hola Ana! 😀",
        ),
        (
            "fallback unused",
            "Hi ~Contact.FirstName|there~!",
            "Hi Ana!",
        ),
        (
            "fallback for an empty value",
            "Hi ~Contact.Nickname|there~.",
            "Hi there.",
        ),
        (
            "fallback for spaces only",
            "Hi ~Contact.Spaces|you~",
            "Hi you",
        ),
        ("spaces without a fallback", "[~Contact.Spaces~]", "[  ]"),
        ("empty fallback", "Hi ~Contact.Nickname|~.", "Hi ."),
        (
            "escapes in a fallback",
            r"~Contact.Nickname|a\~b\|c\\d\e~",
            r"a~b|c\d\e",
        ),
        (
            "non-ASCII fallback",
            "~Contact.Nickname|amigo 😀~!",
            "amigo 😀!",
        ),
        (
            "fallback then an escaped tilde",
            "~Contact.Nickname|x~~~",
            "x~",
        ),
        (
            "bar in ordinary text",
            "A | B ~Contact.FirstName~",
            "A | B Ana",
        ),
        ("tilde and bar in ordinary text", "a ~b|c", "a ~b|c"),
        ("no dot, not closed on its line", "~x|y\nz~", "~x|y\nz~"),
    ];
    for (name, template, want) in cases {
        assert_eq!(render(template, &contact).as_deref(), Ok(want), "{name}");
    }
}

#[test]
fn refuses() {
    let unterminated = |field: &str, position| MergeError::Unterminated {
        field: field.into(),
        position,
    };
    let invalid = |field: &str, position| MergeError::InvalidName {
        field: field.into(),
        position,
    };
    let unknown =
        |names: &[&str]| MergeError::UnknownFields(names.iter().map(|n| n.to_string()).collect());
    let cases = [
        (
            "unknown field",
            "Hi ~Contact.Middle~",
            unknown(&["Contact.Middle"]),
        ),
        (
            "all unknown fields listed once, in order",
            "~B.X~ ~A.Y~ ~B.X~ ~Contact.FirstName~",
            unknown(&["B.X", "A.Y"]),
        ),
        (
            "bare word between tildes",
            "~FirstName~",
            unknown(&["FirstName"]),
        ),
        (
            "unterminated at the end",
            "Hi ~Contact.FirstName",
            unterminated("Contact.FirstName", 4),
        ),
        (
            "unterminated before punctuation",
            "Hi ~Contact.FirstName, hello",
            unterminated("Contact.FirstName", 4),
        ),
        (
            "space inside a field",
            "~Contact.First Name~",
            unterminated("Contact.First", 1),
        ),
        (
            "position counts characters, not bytes",
            "¡Hola ~Contact.FirstName",
            unterminated("Contact.FirstName", 7),
        ),
        ("empty part", "~Contact..Name~", invalid("Contact..Name", 1)),
        ("trailing dot", "x ~Contact.~", invalid("Contact.", 3)),
        (
            "unknown field with a fallback",
            "Hi ~Contact.Frist|there~",
            unknown(&["Contact.Frist"]),
        ),
        (
            "bare word with a fallback",
            "~FirstName|there~",
            unknown(&["FirstName"]),
        ),
        (
            "fallback not closed",
            "Hi ~Contact.FirstName|there",
            MergeError::UnterminatedFallback {
                field: "Contact.FirstName".into(),
                position: 4,
            },
        ),
        (
            "fallback not closed on its line",
            "Hi ~Contact.FirstName|there\n~",
            MergeError::UnterminatedFallback {
                field: "Contact.FirstName".into(),
                position: 4,
            },
        ),
        (
            "second bar in a fallback",
            "~Contact.FirstName|a|b~",
            MergeError::StrayBar {
                field: "Contact.FirstName".into(),
                position: 1,
            },
        ),
        (
            "empty part with a fallback",
            "~Contact..X|a~",
            invalid("Contact..X|…", 1),
        ),
        (
            "syntax errors come before unknown fields",
            "~Nope.X~ ~Contact.FirstName",
            unterminated("Contact.FirstName", 10),
        ),
    ];
    for (name, template, want) in cases {
        assert_eq!(render(template, &contact), Err(want), "{name}");
    }
}

#[test]
fn error_messages_name_the_fields() {
    let e = render("~A.B~ ~C.D~", &|_| None).expect_err("both unknown");
    assert_eq!(e.to_string(), "unknown merge fields: ~A.B~, ~C.D~");
    let e = render("~A.B~", &|_| None).expect_err("unknown");
    assert_eq!(e.to_string(), "unknown merge field: ~A.B~");
    assert_eq!(e.code(), "unknown_merge_field");
    let e = render("~A..B~", &|_| None).expect_err("invalid");
    assert_eq!(e.code(), "invalid_merge_field");
    let e = render("Hi ~A.B", &|_| None).expect_err("unterminated");
    assert_eq!(
        e.to_string(),
        "merge field '~A.B' at character 4 has no closing '~' (write '~~' for a literal tilde)"
    );
    assert_eq!(e.code(), "unterminated_merge_field");
}

#[test]
fn account_fields() {
    let account = fixtures::account();
    let mary = account.user("mary");
    let cases = [
        ("Account.Name", mary, Some("Acme Roofing")),
        ("Account.Name", None, Some("Acme Roofing")),
        ("User.Name", mary, Some("Mary Jane Anders")),
        ("User.FirstName", mary, Some("Mary")),
        ("User.LastName", mary, Some("Jane Anders")),
        ("User.Email", mary, Some("mary@example.com")),
        ("User.Name", None, None),
        ("user.name", mary, None),
        ("Contact.FirstName", mary, None),
    ];
    for (name, user, want) in cases {
        assert_eq!(
            account_field(name, &account, user).as_deref(),
            want,
            "{name} with user {:?}",
            user.map(|u| &u.id)
        );
    }
    let rendered = render("~User.FirstName~ at ~Account.Name~", &|f| {
        account_field(f, &account, mary)
    });
    assert_eq!(rendered.as_deref(), Ok("Mary at Acme Roofing"));
}

#[test]
fn lists_fields() {
    let cases: [(&str, &[&str]); 7] = [
        ("no fields ~5", &[]),
        ("~Contact.FirstName~", &["Contact.FirstName"]),
        ("~A.B~ ~C.D~ ~A.B~ ~~E.F~", &["A.B", "C.D"]),
        ("~A.B~~C.D~", &["A.B", "C.D"]),
        ("~A.B~ ~Broken.Field", &["A.B"]),
        ("~x..y~ ~Account.Name~", &["Account.Name"]),
        ("~A.B|x~ ~C.D|~", &["A.B", "C.D"]),
    ];
    for (template, want) in cases {
        assert_eq!(fields_in(template), want, "{template}");
    }
}

#[test]
fn fields_that_can_leave_a_gap_stand_apart_without_a_fallback() {
    let cases: [(&str, &[&str]); 9] = [
        ("Hi ~Contact.FirstName~,", &["Contact.FirstName"]),
        ("~Contact.FirstName~, hello", &["Contact.FirstName"]),
        ("Thanks ~Contact.FirstName~ for", &["Contact.FirstName"]),
        ("Hi ~Contact.FirstName|there~,", &[]),
        ("Hi ~Contact.FirstName|~,", &[]),
        ("Mr~Contact.LastName~", &[]),
        ("ref-~Contact.Id~x", &[]),
        ("~A.B~ and ~C.D|x~ and ~A.B~!", &["A.B"]),
        ("no fields ~5", &[]),
    ];
    for (template, want) in cases {
        assert_eq!(fields_that_can_leave_a_gap(template), want, "{template}");
    }
}

#[test]
fn rendering_notes_the_gaps_it_left() {
    let cases: [(&str, &str, &[&str]); 5] = [
        (
            "Hi ~Contact.Nickname~, ok",
            "Hi , ok",
            &["Contact.Nickname"],
        ),
        ("Hi ~Contact.FirstName~, ok", "Hi Ana, ok", &[]),
        ("Hi ~Contact.Nickname|there~, ok", "Hi there, ok", &[]),
        ("x~Contact.Nickname~y", "xy", &[]),
        ("~Contact.Spaces~!", "  !", &["Contact.Spaces"]),
    ];
    for (template, text, gaps) in cases {
        let rendered = render_noting_gaps(template, &contact).expect("renders");
        assert_eq!(rendered.text, text, "{template}");
        assert_eq!(rendered.gaps, gaps, "{template}");
    }
    assert_eq!(
        gap_advice("Contact.FirstName"),
        "~Contact.FirstName~ can come out empty and leave a gap in the text; give it a \
         fallback, e.g. ~Contact.FirstName|there~ (or ~Contact.FirstName|~ if empty is fine)"
    );
}

/// A message without a contact: rightly named `Contact.*` fields are `NoContact`.
fn without_contact(name: &str) -> Lookup {
    match name {
        "Account.Name" => Lookup::Value("Acme".into()),
        "Contact.FirstName" | "Contact._Tier" => Lookup::NoContact,
        _ => Lookup::Unknown,
    }
}

#[test]
fn without_a_contact_a_fallback_is_sent() {
    let cases = [
        ("fallback", "Hi ~Contact.FirstName|there~!", "Hi there!"),
        ("empty fallback", "Hi~Contact.FirstName|~!", "Hi!"),
        ("custom field", "Tier: ~Contact._Tier|none~", "Tier: none"),
        (
            "beside a known field",
            "~Account.Name~: hi ~Contact.FirstName|there~",
            "Acme: hi there",
        ),
    ];
    for (name, template, want) in cases {
        let rendered = render_looking_up(template, &without_contact);
        assert_eq!(rendered.map(|r| r.text).as_deref(), Ok(want), "{name}");
    }
}

#[test]
fn without_a_contact_a_field_without_fallback_is_refused() {
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let cases = [
        (
            "no fallback",
            "Hi ~Contact.FirstName~",
            MergeError::NoContact(names(&["Contact.FirstName"])),
        ),
        (
            "each listed once",
            "~Contact._Tier~ ~Contact.FirstName~ ~Contact._Tier~",
            MergeError::NoContact(names(&["Contact._Tier", "Contact.FirstName"])),
        ),
        (
            "a mistyped name with a fallback",
            "Hi ~Contact.Frist|there~",
            MergeError::UnknownFields(names(&["Contact.Frist"])),
        ),
        (
            "unknown fields come first",
            "~Contact.FirstName~ ~Contact.Frist~",
            MergeError::UnknownFields(names(&["Contact.Frist"])),
        ),
    ];
    for (name, template, want) in cases {
        assert_eq!(
            render_looking_up(template, &without_contact),
            Err(want),
            "{name}"
        );
    }
}

#[test]
fn no_contact_error_suggests_a_fallback() {
    let e = render_looking_up("Hi ~Contact.FirstName~", &without_contact).expect_err("refused");
    assert_eq!(
        e.to_string(),
        "there is no contact to fill ~Contact.FirstName~ from (no contactId, and the CRM has \
         no contact with this phone); give it a fallback, e.g. ~Contact.FirstName|there~"
    );
    assert_eq!(e.code(), "unknown_merge_field");
}

/// A message sent for no user: the user's fields are `NoUser`.
fn without_user(name: &str) -> Lookup {
    match name {
        "Contact.FirstName" => Lookup::Value("Ann".into()),
        n if USER_FIELDS.contains(&n) => Lookup::NoUser,
        _ => Lookup::Unknown,
    }
}

#[test]
fn without_a_user_a_fallback_is_sent_and_a_field_without_one_refused() {
    let names = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let cases = [
        (
            "fallback",
            "Hi ~Contact.FirstName~, ~User.FirstName|our team~ here",
            Ok("Hi Ann, our team here"),
        ),
        ("empty fallback", "Thanks~User.Name|~!", Ok("Thanks!")),
        (
            "no fallback",
            "~User.FirstName~ here",
            Err(MergeError::NoUser(names(&["User.FirstName"]))),
        ),
        (
            "a mistyped name with a fallback",
            "~User.Frist|us~",
            Err(MergeError::UnknownFields(names(&["User.Frist"]))),
        ),
    ];
    for (name, template, want) in cases {
        let rendered = render_looking_up(template, &without_user).map(|r| r.text);
        assert_eq!(rendered, want.map(str::to_string), "{name}");
    }
    let refused = render_looking_up("~User.Email~", &without_user).map(|r| r.text);
    let detail = refused.map_err(|e| e.to_string()).unwrap_err();
    assert!(
        detail.contains("no user") && detail.contains("~User.Email|...~"),
        "{detail}"
    );
}

#[test]
fn literal_text_renders_as_itself() {
    let no_values = |_: &str| -> Option<String> { None };
    for text in [
        "",
        "plain",
        "~Contact.FirstName~",
        "~~",
        "back in ~5 min~",
        "a\\|~b|c~",
    ] {
        assert_eq!(
            render(&literal(text), &no_values).as_deref(),
            Ok(text),
            "{text:?}"
        );
    }
}
