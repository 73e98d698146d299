//! Merge fields in message bodies, written the way Keap writes them: `~Contact.FirstName~`,
//! with an optional fallback for when the contact's value is empty: `~Contact.FirstName|there~`.
//!
//! The grammar, chosen so that ordinary text with a tilde ("back in ~5 min") still works
//! while every mistyped field is caught before anything is sent:
//! - `~~` is a literal `~`;
//! - `~Name~`, where `Name` is ASCII letters, digits, `_` and `.`, starts with a letter or
//!   `_` and has no empty `.`-separated part, is a merge field (`~Contact.FirstName~`,
//!   `~Contact._Custom1~`, `~Account.Name~`);
//! - `~Name|fallback~` is a merge field with a fallback: the fallback is sent when the
//!   field's value is missing, empty or only spaces. A fallback is plain text on one line
//!   (merge fields are not read inside it); inside it `\~` is a tilde, `\|` a bar and `\\`
//!   a backslash, a lone `|` is an error, and any other backslash is itself. `~Name|~`, an
//!   empty fallback, says "empty is fine" (and silences the empty-merge warning);
//! - `~Group.Name` (or `~Group.Name|fallback`) with a dot but no closing tilde on its line
//!   is an error (an unterminated field);
//! - any other `~` is a literal tilde.
//!
//! A fallback never hides a mistyped name: `~Contact.Frist|there~` is an unknown field.
//! A message without a contact sends a `Contact.*` field's fallback, and one without a
//! user a `User.*` field's; without a fallback such a field is refused
//! ([`Lookup::NoContact`], [`Lookup::NoUser`]).
//! Values are inserted as they are: a value containing `~` is never read as a field.
//!
//! A field without a fallback that stands apart from the words around it (`Hi
//! ~Contact.FirstName~,`) leaves a visible gap when it comes out empty ("Hi ,"):
//! [`fields_that_can_leave_a_gap`] finds them in a template and [`render_noting_gaps`]
//! reports the ones that did.

use super::account::{Account, User};

/// Why a template cannot be rendered. Every variant names what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("unknown merge field{}: {}", if .0.len() == 1 { "" } else { "s" }, list_fields(.0))]
    UnknownFields(Vec<String>),
    #[error(
        "there is no contact to fill {} from (no contactId, and the CRM has no contact with \
         this phone); give {} a fallback, e.g. {}",
        list_fields(.0),
        if .0.len() == 1 { "it" } else { "each" },
        example_with_fallback(.0)
    )]
    NoContact(Vec<String>),
    #[error(
        "there is no user to fill {} from (name one with user= or reply=); give {} a \
         fallback, e.g. {}",
        list_fields(.0),
        if .0.len() == 1 { "it" } else { "each" },
        example_with_fallback(.0)
    )]
    NoUser(Vec<String>),
    #[error(
        "merge field '~{field}' at character {position} has no closing '~' \
         (write '~~' for a literal tilde)"
    )]
    Unterminated { field: String, position: usize },
    #[error(
        "merge field '~{field}|…' at character {position}: its fallback has no closing '~' \
         on its line (inside a fallback, write '\\~' for a tilde)"
    )]
    UnterminatedFallback { field: String, position: usize },
    #[error(
        "merge field '~{field}|…' at character {position}: its fallback holds a second '|' \
         (write '\\|' for a bar inside a fallback)"
    )]
    StrayBar { field: String, position: usize },
    #[error("'~{field}~' at character {position} is not a valid merge field name")]
    InvalidName { field: String, position: usize },
}

impl MergeError {
    /// A short, stable identifier for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            // A field with nothing to fill it is as unsendable as an unknown one.
            MergeError::UnknownFields(_) | MergeError::NoContact(_) | MergeError::NoUser(_) => {
                "unknown_merge_field"
            }
            MergeError::Unterminated { .. } | MergeError::UnterminatedFallback { .. } => {
                "unterminated_merge_field"
            }
            MergeError::StrayBar { .. } | MergeError::InvalidName { .. } => "invalid_merge_field",
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

fn example_with_fallback(names: &[String]) -> String {
    let name = names.first().map(String::as_str).unwrap_or_default();
    format!("~{name}|{}~", example_fallback(name))
}

/// What a field's name is worth for one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// Its value (empty when the field has none).
    Value(String),
    /// A contact's field, named rightly, in a message without a contact: its fallback is
    /// sent; without one it is an error ([`MergeError::NoContact`]).
    NoContact,
    /// A user's field, named rightly, in a message sent for no user: as [`Lookup::NoContact`]
    /// ([`MergeError::NoUser`]).
    NoUser,
    /// A name nobody knows: an error, fallback or not.
    Unknown,
}

impl From<Option<String>> for Lookup {
    fn from(value: Option<String>) -> Lookup {
        value.map_or(Lookup::Unknown, Lookup::Value)
    }
}

/// A well-formed merge field: its name, its fallback, and whether it stands apart from
/// the words around it (no letter or digit touches it), so an empty value leaves a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field<'a> {
    name: &'a str,
    fallback: Option<String>,
    stands_apart: bool,
}

/// One piece of a scanned template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// `~~`.
    Tilde,
    Field(Field<'a>),
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

/// What follows `|` in `~Name|…`.
enum FallbackScan {
    /// Closed by a `~` at byte `end` (exclusive of it); `stray_bar` is set when a lone
    /// `|` was inside.
    Closed {
        text: String,
        end: usize,
        stray_bar: bool,
    },
    /// No closing `~` before the end of the line.
    Open,
}

/// Reads a fallback starting at byte `start` of `template`, up to its closing `~`.
fn scan_fallback(template: &str, start: usize) -> FallbackScan {
    let mut text = String::new();
    let mut stray_bar = false;
    let mut chars = template[start..].char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '~' => {
                return FallbackScan::Closed {
                    text,
                    end: start + at,
                    stray_bar,
                };
            }
            '\\' => match chars.peek() {
                Some(&(_, escaped @ ('~' | '|' | '\\'))) => {
                    text.push(escaped);
                    chars.next();
                }
                _ => text.push('\\'),
            },
            '|' => stray_bar = true,
            '\n' | '\r' => return FallbackScan::Open,
            c => text.push(c),
        }
    }
    FallbackScan::Open
}

/// Whether the text at `start..end` of `template` touches no letter or digit on either side.
fn stands_apart(template: &str, start: usize, end: usize) -> bool {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    !word(template[..start].chars().next_back()) && !word(template[end..].chars().next())
}

/// The scanner's state: the pieces so far and where the pending text began.
struct Scanner<'a> {
    template: &'a str,
    pieces: Vec<Piece<'a>>,
    text_start: usize,
}

impl<'a> Scanner<'a> {
    /// 1-based character position of byte offset `at`, for error messages.
    fn position(&self, at: usize) -> usize {
        self.template[..at].chars().count() + 1
    }

    /// Ends the pending text at `at`, pushes `piece`, and resumes the text at `resume`.
    fn push(&mut self, at: usize, piece: Piece<'a>, resume: usize) {
        let text = &self.template[self.text_start..at];
        if !text.is_empty() {
            self.pieces.push(Piece::Text(text));
        }
        self.pieces.push(piece);
        self.text_start = resume;
    }

    /// A field `~run~` or `~run|fallback~` from the tilde at `at` to the closing one at
    /// `close`: well formed, or why not.
    fn field(&self, at: usize, run: &'a str, fallback: Option<String>, close: usize) -> Piece<'a> {
        if run.split('.').any(str::is_empty) {
            let field = match &fallback {
                Some(_) => format!("{run}|…"),
                None => run.to_string(),
            };
            return Piece::Broken(MergeError::InvalidName {
                field,
                position: self.position(at),
            });
        }
        Piece::Field(Field {
            name: run,
            fallback,
            stands_apart: stands_apart(self.template, at, close + 1),
        })
    }

    /// The tilde at `at` begins `~run|`: a field with a fallback, an error, or (a name
    /// without a dot, never closed) ordinary text. Returns where scanning goes on.
    fn with_fallback(&mut self, at: usize, run: &'a str, bar: usize) -> usize {
        match scan_fallback(self.template, bar + 1) {
            FallbackScan::Closed {
                stray_bar: true,
                end,
                ..
            } => {
                let error = MergeError::StrayBar {
                    field: run.to_string(),
                    position: self.position(at),
                };
                self.push(at, Piece::Broken(error), end + 1);
                end + 1
            }
            FallbackScan::Closed { text, end, .. } => {
                let piece = self.field(at, run, Some(text), end);
                self.push(at, piece, end + 1);
                end + 1
            }
            FallbackScan::Open if run.contains('.') => {
                let error = MergeError::UnterminatedFallback {
                    field: run.to_string(),
                    position: self.position(at),
                };
                let resume = self.line_end(bar);
                self.push(at, Piece::Broken(error), resume);
                resume
            }
            FallbackScan::Open => at + 1,
        }
    }

    /// The byte offset of the end of the line holding `from`.
    fn line_end(&self, from: usize) -> usize {
        self.template[from..]
            .find(['\n', '\r'])
            .map_or(self.template.len(), |n| from + n)
    }
}

fn scan(template: &str) -> Vec<Piece<'_>> {
    let bytes = template.as_bytes();
    let mut scanner = Scanner {
        template,
        pieces: Vec::new(),
        text_start: 0,
    };
    let mut i = 0;
    // Tildes, bars and name bytes are ASCII, so every index below is a char boundary.
    while i < bytes.len() {
        if bytes[i] != b'~' {
            i += 1;
            continue;
        }
        if bytes.get(i + 1) == Some(&b'~') {
            scanner.push(i, Piece::Tilde, i + 2);
            i += 2;
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
        match bytes.get(name_end) {
            Some(b'~') => {
                let piece = scanner.field(i, run, None, name_end);
                scanner.push(i, piece, name_end + 1);
                i = name_end + 1;
            }
            Some(b'|') => i = scanner.with_fallback(i, run, name_end),
            _ if run.contains('.') => {
                let error = MergeError::Unterminated {
                    field: run.to_string(),
                    position: scanner.position(i),
                };
                scanner.push(i, Piece::Broken(error), name_end);
                i = name_end;
            }
            _ => i += 1,
        }
    }
    let rest = &template[scanner.text_start..];
    if !rest.is_empty() {
        scanner.pieces.push(Piece::Text(rest));
    }
    scanner.pieces
}

/// A rendered template, with the fields that left a gap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub text: String,
    /// Fields without a fallback that stand apart from the words around them and came
    /// out empty (or only spaces): the text shows a gap ("Hi ,"). Each once, in order.
    pub gaps: Vec<String>,
}

/// Renders `template`, asking `values` for each field by its name as written
/// (`"Contact.FirstName"`). A field `values` does not know (`None`) is an error, listing
/// every such field, fallback or not; a known field with an empty value renders as its
/// fallback, or as nothing. Syntax errors are reported before unknown fields, the first
/// one only.
pub fn render(
    template: &str,
    values: &dyn Fn(&str) -> Option<String>,
) -> Result<String, MergeError> {
    render_noting_gaps(template, values).map(|rendered| rendered.text)
}

/// A template that renders to `text` exactly, whatever tildes it holds: how text a person
/// wrote (a reply by e-mail) enters the send path, where bodies are templates.
pub fn literal(text: &str) -> String {
    text.replace('~', "~~")
}

/// [`render`], also telling which fields left a gap.
pub fn render_noting_gaps(
    template: &str,
    values: &dyn Fn(&str) -> Option<String>,
) -> Result<Rendered, MergeError> {
    render_looking_up(template, &|name| Lookup::from(values(name)))
}

/// [`render_noting_gaps`], with `lookup` also able to say that a field has no contact or
/// user to read from. Unknown fields are reported first, then fields without a contact,
/// then fields without a user.
pub fn render_looking_up(
    template: &str,
    lookup: &dyn Fn(&str) -> Lookup,
) -> Result<Rendered, MergeError> {
    let pieces = scan(template);
    if let Some(Piece::Broken(e)) = pieces.iter().find(|p| matches!(p, Piece::Broken(_))) {
        return Err(e.clone());
    }
    let mut out = String::with_capacity(template.len());
    let (mut unknown, mut gaps) = (Vec::new(), Vec::new());
    let (mut without_contact, mut without_user) = (Vec::new(), Vec::new());
    for piece in pieces {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Tilde => out.push('~'),
            Piece::Field(field) => match (lookup(field.name), field.fallback) {
                (Lookup::Value(v), _) if !v.trim().is_empty() => out.push_str(&v),
                (Lookup::Value(_) | Lookup::NoContact | Lookup::NoUser, Some(fallback)) => {
                    out.push_str(&fallback)
                }
                (Lookup::Value(v), None) => {
                    out.push_str(&v);
                    if field.stands_apart {
                        push_once(&mut gaps, field.name);
                    }
                }
                (Lookup::NoContact, None) => push_once(&mut without_contact, field.name),
                (Lookup::NoUser, None) => push_once(&mut without_user, field.name),
                (Lookup::Unknown, _) => push_once(&mut unknown, field.name),
            },
            // Returned above.
            Piece::Broken(_) => {}
        }
    }
    if !unknown.is_empty() {
        Err(MergeError::UnknownFields(unknown))
    } else if !without_contact.is_empty() {
        Err(MergeError::NoContact(without_contact))
    } else if !without_user.is_empty() {
        Err(MergeError::NoUser(without_user))
    } else {
        Ok(Rendered { text: out, gaps })
    }
}

fn push_once(names: &mut Vec<String>, name: &str) {
    if !names.iter().any(|n| n == name) {
        names.push(name.to_string());
    }
}

/// The well-formed merge fields of `template`, each once, in order of first appearance
/// (malformed ones are left out: `render` reports them).
pub fn fields_in(template: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for piece in scan(template) {
        if let Piece::Field(field) = piece {
            push_once(&mut fields, field.name);
        }
    }
    fields
}

/// The fields of `template` without a fallback that stand apart from the words around
/// them, each once, in order: each leaves a gap when it comes out empty.
pub fn fields_that_can_leave_a_gap(template: &str) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for piece in scan(template) {
        if let Piece::Field(field) = piece
            && field.fallback.is_none()
            && field.stands_apart
        {
            push_once(&mut fields, field.name);
        }
    }
    fields
}

/// What to tell a user whose `field` can come out empty: the field, and how to give it a
/// fallback (or say that empty is fine).
pub fn gap_advice(field: &str) -> String {
    format!(
        "~{field}~ can come out empty and leave a gap in the text; give it a fallback, e.g. \
         ~{field}|{}~ (or ~{field}|~ if empty is fine)",
        example_fallback(field)
    )
}

/// A fallback to suggest: "there" reads well in place of a name ("Hi there,").
fn example_fallback(field: &str) -> &'static str {
    if field.starts_with("User.") && field.ends_with("Name") {
        "our team"
    } else if field.ends_with("Name") {
        "there"
    } else {
        "..."
    }
}

/// The merge names of the sending user's fields ([`account_field`]).
pub const USER_FIELDS: [&str; 4] = ["User.Name", "User.FirstName", "User.LastName", "User.Email"];

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
mod tests;
