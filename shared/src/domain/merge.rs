//! Merge fields in message bodies, written the way Keap writes them: `~Contact.FirstName~`.
//!
//! The grammar, chosen so that ordinary text with a tilde ("back in ~5 min") still works
//! while every mistyped field is caught before anything is sent:
//! - `~~` is a literal `~`;
//! - `~Name~`, where `Name` is ASCII letters, digits, `_` and `.`, starts with a letter or
//!   `_` and has no empty `.`-separated part, is a merge field (`~Contact.FirstName~`,
//!   `~Contact._Custom1~`, `~Account.Name~`);
//! - `~Group.Name` with a dot but no closing tilde is an error (an unterminated field);
//! - any other `~` is a literal tilde.
//!
//! Values are inserted as they are: a value containing `~` is never read as a field.

use super::account::{Account, User};

/// Why a template cannot be rendered. Every variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("unknown merge field{}: {}", if .0.len() == 1 { "" } else { "s" }, list_fields(.0))]
    UnknownFields(Vec<String>),
    #[error(
        "merge field '~{field}' at character {position} has no closing '~' \
         (write '~~' for a literal tilde)"
    )]
    Unterminated { field: String, position: usize },
    #[error("'~{field}~' at character {position} is not a valid merge field name")]
    InvalidName { field: String, position: usize },
}

impl MergeError {
    /// A short, stable identifier for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            MergeError::UnknownFields(_) => "unknown_merge_field",
            MergeError::Unterminated { .. } => "unterminated_merge_field",
            MergeError::InvalidName { .. } => "invalid_merge_field",
        }
    }
}

fn list_fields(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("~{n}~"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One piece of a scanned template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// `~~`.
    Tilde,
    Field(&'a str),
    Broken(MergeError),
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.'
}

fn starts_a_name(run: &str) -> bool {
    run.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
}

fn scan(template: &str) -> Vec<Piece<'_>> {
    let bytes = template.as_bytes();
    // 1-based character position of byte offset `at`, for error messages.
    let position = |at: usize| template[..at].chars().count() + 1;
    let mut pieces = Vec::new();
    let mut text_start = 0;
    let mut i = 0;
    // Tildes and name bytes are ASCII, so every index below is a char boundary.
    while i < bytes.len() {
        if bytes[i] != b'~' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'~') {
            push_text(&mut pieces, &template[text_start..i]);
            pieces.push(Piece::Tilde);
            i += 2;
            text_start = i;
            continue;
        }
        let name_start = i + 1;
        let mut name_end = name_start;
        while name_end < bytes.len() && is_name_byte(bytes[name_end]) {
            name_end += 1;
        }
        let run = &template[name_start..name_end];
        if !starts_a_name(run) {
            // A tilde in ordinary text: it stays part of the text.
            i += 1;
            continue;
        }
        if bytes.get(name_end) == Some(&b'~') {
            push_text(&mut pieces, &template[text_start..i]);
            if run.split('.').any(str::is_empty) {
                pieces.push(Piece::Broken(MergeError::InvalidName {
                    field: run.to_string(),
                    position: position(i),
                }));
            } else {
                pieces.push(Piece::Field(run));
            }
            i = name_end + 1;
            text_start = i;
        } else if run.contains('.') {
            push_text(&mut pieces, &template[text_start..i]);
            pieces.push(Piece::Broken(MergeError::Unterminated {
                field: run.to_string(),
                position: position(i),
            }));
            i = name_end;
            text_start = i;
        } else {
            i += 1;
        }
    }
    push_text(&mut pieces, &template[text_start..]);
    pieces
}

fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: &'a str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
}

/// Renders `template`, asking `values` for each field by its name as written
/// (`"Contact.FirstName"`). A field `values` does not know is an error, listing every such
/// field; a known field with an empty value renders as nothing. Syntax errors are reported
/// before unknown fields, the first one only.
pub fn render(
    template: &str,
    values: &dyn Fn(&str) -> Option<String>,
) -> Result<String, MergeError> {
    let pieces = scan(template);
    if let Some(Piece::Broken(e)) = pieces.iter().find(|p| matches!(p, Piece::Broken(_))) {
        return Err(e.clone());
    }
    let mut out = String::with_capacity(template.len());
    let mut unknown: Vec<String> = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Tilde => out.push('~'),
            Piece::Field(name) => match values(name) {
                Some(v) => out.push_str(&v),
                None => {
                    if !unknown.iter().any(|u| u == name) {
                        unknown.push(name.to_string());
                    }
                }
            },
            // Returned above.
            Piece::Broken(_) => {}
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(MergeError::UnknownFields(unknown))
    }
}

/// The well-formed merge fields of `template`, each once, in order of first appearance
/// (malformed ones are left out: `render` reports them).
pub fn fields_in(template: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for piece in scan(template) {
        if let Piece::Field(name) = piece
            && !fields.iter().any(|f| f == name)
        {
            fields.push(name.to_string());
        }
    }
    fields
}

/// The fields smsflow itself knows, from the account and the user a message is sent for:
/// `Account.Name`, `User.Name`, `User.FirstName`, `User.LastName`, `User.Email`. `None`
/// for any other name, and for `User.*` when there is no user. Names are matched exactly,
/// as Keap matches its own.
pub fn account_field(name: &str, account: &Account, user: Option<&User>) -> Option<String> {
    if name == "Account.Name" {
        return Some(account.name.clone());
    }
    let user = user?;
    let mut words = user.name.split_whitespace();
    match name {
        "User.Name" => Some(user.name.clone()),
        "User.FirstName" => Some(words.next().unwrap_or_default().to_string()),
        "User.LastName" => Some(words.skip(1).collect::<Vec<_>>().join(" ")),
        "User.Email" => Some(user.email.as_str().to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn contact(name: &str) -> Option<String> {
        match name {
            "Contact.FirstName" => Some("Ana".into()),
            "Contact.LastName" => Some("Ruiz".into()),
            "Contact._Custom1" => Some("gold".into()),
            "Contact.Nickname" => Some(String::new()),
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
        let unknown = |names: &[&str]| {
            MergeError::UnknownFields(names.iter().map(|n| n.to_string()).collect())
        };
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
        let cases: [(&str, &[&str]); 6] = [
            ("no fields ~5", &[]),
            ("~Contact.FirstName~", &["Contact.FirstName"]),
            ("~A.B~ ~C.D~ ~A.B~ ~~E.F~", &["A.B", "C.D"]),
            ("~A.B~~C.D~", &["A.B", "C.D"]),
            ("~A.B~ ~Broken.Field", &["A.B"]),
            ("~x..y~ ~Account.Name~", &["Account.Name"]),
        ];
        for (template, want) in cases {
            assert_eq!(fields_in(template), want, "{template}");
        }
    }
}
