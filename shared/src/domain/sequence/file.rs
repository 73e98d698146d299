//! The definition file format: serde types mirroring what a person writes, strict about
//! unknown keys so a typo is an error, and the source of the published JSON Schema
//! (`schemas/sequence.schema.json`). Nothing here is checked beyond its shape: turning a
//! [`SequenceFile`] into a usable [`super::Sequence`] is validation's job.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

/// The word that ends a run where a step name is expected.
pub const FINISH: &str = "finish";

/// One conversational SMS sequence of one account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "smsflow sequence")]
pub struct SequenceFile {
    /// The account the sequence belongs to (its id: lower-case letters, digits, `-`).
    pub account: String,
    /// The sequence's id within the account, used in URLs
    /// (`/crm/{account}/sequences/{name}/start`): 1-64 lower-case letters, digits or `-`.
    pub name: String,
    /// How a run starts: a keyword texted to the sender number, a CRM HTTP POST, or both.
    pub start: StartMode,
    /// Keywords that start the sequence when texted as the whole message (case-insensitive,
    /// surrounding spaces and trailing punctuation ignored). Required when `start` is
    /// `keyword` or `both`; not allowed with `crm`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    /// The sender for every message of a run: one of the account's numbers (E.164), its
    /// Messaging Service SID (`MG...`, enable Sticky Sender) or an alphanumeric sender id.
    pub sender: String,
    /// The contact field that holds the mobile number: keyword starts store the texter's
    /// number in it, CRM starts read the number from it. `Contact.Phone1` or a custom field
    /// (what the CRM connection reads and writes). Default `Contact.Phone1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_field: Option<String>,
    /// Begin with a pre-made step asking for the e-mail address and saving it to the
    /// contact's e-mail (it helps avoid duplicate contacts); a contact whose e-mail the
    /// CRM already has is not asked. Default true.
    #[serde(default = "default_true")]
    pub collect_email_first: bool,
    /// Changes to the pre-made e-mail step (only with `collect_email_first: true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_step: Option<EmailStepFile>,
    /// Keep the conversation in a note on the contact (one note per contact and sequence,
    /// appended to on later runs). Default false.
    #[serde(default)]
    pub note: bool,
    /// Tag to apply when the contact opts out (STOP) during a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opted_out_tag: Option<String>,
    /// Tag to apply when the contact's number turns out not to be a valid mobile number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_number_tag: Option<String>,
    /// The steps, in order. A run begins at the first (after the e-mail step, if any).
    #[serde(default)]
    pub steps: Vec<StepFile>,
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// How a run of the sequence starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StartMode {
    /// Only by texting one of `keywords`.
    Keyword,
    /// Only by the CRM's HTTP POST to the start URL.
    Crm,
    /// Either way.
    Both,
}

impl StartMode {
    pub fn by_keyword(self) -> bool {
        matches!(self, StartMode::Keyword | StartMode::Both)
    }

    pub fn by_crm(self) -> bool {
        matches!(self, StartMode::Crm | StartMode::Both)
    }
}

/// Overrides for the pre-made e-mail step (named `collect-email`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailStepFile {
    /// The question; it should ask for the e-mail address. Merge fields allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Media URLs (MMS) sent with the question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    /// Where the address is saved: `Contact.Email` (default) or a custom field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to: Option<String>,
    /// What follows: by default the first step, or finish when there are no steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextFile>,
}

/// One message of the sequence and what its reply leads to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// The step's name, unique in the sequence: ASCII letters, digits, `-` and `_`.
    /// `finish` is reserved, and so is `collect-email` while the e-mail step is on.
    pub name: String,
    /// The text to send. Merge fields such as `~Contact.FirstName~` are filled from the
    /// contact when sent; `~Contact.FirstName|there~` sends `there` when the contact has no
    /// value; `~~` is a literal `~`.
    #[serde(default)]
    pub message: String,
    /// Media URLs (MMS) sent with the message: absolute http(s) URLs, at most 10.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub media: Vec<String>,
    /// The contact field the reply is saved to: `Contact.Email` (the reply must then hold
    /// an e-mail address, or the question is asked again) or a custom field
    /// (`Contact._Name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub save_to: Option<String>,
    /// Whether the step waits for a reply (default true). A step with `await_reply: false`
    /// sends its message and ends the run at once (a closing message); it takes no `next`
    /// and no `save_to`.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub await_reply: bool,
    /// What the reply leads to. Omitted: the step below (the last step must say). A step
    /// name, `finish`, or conditions with a fallback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextFile>,
}

/// What happens after a reply: a step name, `finish`, or a decision.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum NextFile {
    /// A step's name, or `finish` to end the run.
    Goto(String),
    /// Conditions checked top to bottom; the first that matches wins.
    Decide(DecideFile),
}

/// "Let me decide": conditions on the reply, and what to do when none matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecideFile {
    /// Checked top to bottom; the first that matches applies its tag and goes to its step.
    #[serde(default)]
    pub conditions: Vec<ConditionFile>,
    /// Where to go when no condition matches (or none is configured): a step or `finish`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
    /// Tag to apply when no condition matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_tag: Option<String>,
}

/// One condition: exactly one test (`equals_any`, `less_than`, `greater_than`, `between`
/// or `has_received`), an optional tag and where to go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = exactly_one_test)]
pub struct ConditionFile {
    /// Matches when the whole reply equals one of these words or phrases, ignoring case,
    /// surrounding spaces and trailing punctuation. `*` stands for any text: `*yes*`
    /// contains "yes", `yes*` starts with it, `*yes` ends with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals_any: Option<Vec<String>>,
    /// Matches when the number in the reply is less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub less_than: Option<NumberOrField>,
    /// Matches when the number in the reply is greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub greater_than: Option<NumberOrField>,
    /// Matches when the number in the reply lies between two bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub between: Option<BetweenFile>,
    /// Matches, whatever the reply, when the contact has received SMS that pass these
    /// filters (README "Has received SMS"); `{}` matches any SMS sent to them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_received: Option<HasReceivedFile>,
    /// Tag to apply when the condition matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The step to go to when the condition matches, or `finish`.
    pub goto: String,
}

/// The filters of a `has_received` condition, as for `POST /crm/{account}/received`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HasReceivedFile {
    /// Message types that count: `bulk`, `transactional`, `alert` (default any).
    #[serde(default, rename = "type", skip_serializing_if = "Vec::is_empty")]
    #[serde(deserialize_with = "one_or_many")]
    pub kinds: Vec<String>,
    /// The campaign label that counts (ignoring case); a sequence's messages carry
    /// `sequence:<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// `sent` (default: sent, delivered or read) or `delivered` (delivered or read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Only messages since this day (`2024-05-01`, from 00:00 UTC) or RFC 3339 time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Only messages of the last N days (1 to 3650); not with `since`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub within_days: Option<u32>,
}

/// A word or a list of words.
fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(word) => vec![word],
        OneOrMany::Many(words) => words,
    })
}

/// Two bounds, each with its own inequality: exactly one of `above` (>) or `at_least`
/// (>=), and exactly one of `below` (<) or `at_most` (<=).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = one_lower_one_upper)]
pub struct BetweenFile {
    /// The reply's number is greater than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub above: Option<NumberOrField>,
    /// The reply's number is greater than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_least: Option<NumberOrField>,
    /// The reply's number is less than this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub below: Option<NumberOrField>,
    /// The reply's number is less than or equal to this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_most: Option<NumberOrField>,
}

/// A value to compare with: a number, or a contact field holding one.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged, deny_unknown_fields)]
pub enum NumberOrField {
    Number(f64),
    /// A number written as text ("1200.50"); anything else is refused.
    Text(String),
    /// The value of a contact field at the time of the reply (`Contact._Budget`).
    Field {
        /// The contact field, e.g. `Contact._Budget`.
        field: String,
    },
}

fn exactly_one_test(schema: &mut schemars::Schema) {
    let tests = [
        "equals_any",
        "less_than",
        "greater_than",
        "between",
        "has_received",
    ];
    let one_of: Vec<serde_json::Value> = tests
        .iter()
        .map(|k| serde_json::json!({ "required": [k] }))
        .collect();
    schema.insert("oneOf".into(), one_of.into());
}

fn one_lower_one_upper(schema: &mut schemars::Schema) {
    let either = |a: &str, b: &str| serde_json::json!({ "oneOf": [{ "required": [a] }, { "required": [b] }] });
    schema.insert(
        "allOf".into(),
        serde_json::json!([either("above", "at_least"), either("below", "at_most")]),
    );
}

// `NextFile` and `NumberOrField` are read by hand rather than as untagged enums, so a typo
// inside the map form is reported as such (an untagged enum only says "no variant matched").

impl<'de> Deserialize<'de> for NextFile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NextVisitor;
        impl<'de> Visitor<'de> for NextVisitor {
            type Value = NextFile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a step name, `finish`, or a map with `conditions` and `fallback`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NextFile, E> {
                Ok(NextFile::Goto(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NextFile, A::Error> {
                DecideFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(NextFile::Decide)
            }
        }
        deserializer.deserialize_any(NextVisitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldValueFile {
    field: String,
}

impl<'de> Deserialize<'de> for NumberOrField {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor;
        impl<'de> Visitor<'de> for ValueVisitor {
            type Value = NumberOrField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number, or `{ field: Contact.<field> }`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<NumberOrField, E> {
                // Thresholds are far below 2^53: the conversion is exact for them.
                Ok(NumberOrField::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<NumberOrField, E> {
                Ok(NumberOrField::Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<NumberOrField, E> {
                Ok(NumberOrField::Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<NumberOrField, E> {
                Ok(NumberOrField::Text(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NumberOrField, A::Error> {
                FieldValueFile::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|f| NumberOrField::Field { field: f.field })
            }
        }
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// The formats a definition may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Yaml,
    Toml,
    /// What storage keeps: the definition as [`SequenceFile`] serialises it.
    Json,
}

impl FileFormat {
    /// The format a path's extension names (`.yaml`, `.yml`, `.toml`, `.json`, any case).
    pub fn from_path(path: &str) -> Option<FileFormat> {
        let (_, ext) = path.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "yaml" | "yml" => Some(FileFormat::Yaml),
            "toml" => Some(FileFormat::Toml),
            "json" => Some(FileFormat::Json),
            _ => None,
        }
    }
}

impl SequenceFile {
    /// Reads `text` as `format`. The error is the parser's message, with the location.
    pub fn parse(text: &str, format: FileFormat) -> Result<SequenceFile, String> {
        match format {
            FileFormat::Yaml => serde_saphyr::from_str(text).map_err(|e| e.to_string()),
            FileFormat::Toml => toml::from_str(text).map_err(|e| e.to_string()),
            FileFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
        }
    }

    /// The JSON Schema of the file format, as published in `schemas/sequence.schema.json`.
    pub fn json_schema() -> schemars::Schema {
        schemars::schema_for!(SequenceFile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
account: acme
name: welcome
start: crm
sender: '+14155550100'
steps:
  - name: hello
    message: Hi
    next: finish
";

    #[test]
    fn reads_defaults() {
        let file = SequenceFile::parse(MINIMAL, FileFormat::Yaml).expect("minimal file");
        assert!(file.collect_email_first);
        assert!(!file.note);
        assert_eq!(file.phone_field, None);
        assert_eq!(file.steps[0].next, Some(NextFile::Goto("finish".into())));
        assert!(file.steps[0].await_reply);
    }

    #[test]
    fn reads_decisions_and_values() {
        let yaml = "
account: acme
name: welcome
start: crm
sender: '+14155550100'
steps:
  - name: hello
    message: Hi
    next:
      conditions:
        - equals_any: [yes, '*sure*']
          goto: finish
        - less_than: 3
          goto: finish
        - greater_than: { field: Contact._Budget }
          goto: finish
        - between: { at_least: '1.5', below: 10 }
          tag: mid
          goto: finish
      fallback: hello
      fallback_tag: unclear
";
        let file = SequenceFile::parse(yaml, FileFormat::Yaml).expect("file");
        let Some(NextFile::Decide(decide)) = &file.steps[0].next else {
            panic!("expected a decision, got {:?}", file.steps[0].next);
        };
        let c = &decide.conditions;
        assert_eq!(
            c[0].equals_any,
            Some(vec!["yes".to_string(), "*sure*".to_string()])
        );
        assert_eq!(c[1].less_than, Some(NumberOrField::Number(3.0)));
        assert_eq!(
            c[2].greater_than,
            Some(NumberOrField::Field {
                field: "Contact._Budget".into()
            })
        );
        let between = c[3].between.as_ref().expect("between");
        assert_eq!(between.at_least, Some(NumberOrField::Text("1.5".into())));
        assert_eq!(between.below, Some(NumberOrField::Number(10.0)));
        assert_eq!(decide.fallback.as_deref(), Some("hello"));
    }

    #[test]
    fn typos_are_errors_with_their_location() {
        let cases = [
            ("top-level key", MINIMAL.replace("start: crm", "strat: crm"), "strat"),
            (
                "step key",
                MINIMAL.replace("message: Hi", "mesage: Hi"),
                "mesage",
            ),
            (
                "key inside a decision",
                MINIMAL.replace(
                    "next: finish",
                    "next:\n      conditons: []\n      fallback: finish",
                ),
                "conditons",
            ),
            (
                "key inside a field value",
                MINIMAL.replace(
                    "next: finish",
                    "next:\n      conditions:\n        - less_than: { feild: Contact._A }\n          goto: finish\n      fallback: finish",
                ),
                "feild",
            ),
            (
                "start mode",
                MINIMAL.replace("start: crm", "start: sms"),
                "sms",
            ),
        ];
        for (name, yaml, word) in cases {
            let err = SequenceFile::parse(&yaml, FileFormat::Yaml).expect_err(name);
            assert!(err.contains(word), "{name}: {err}");
            assert!(err.contains("line "), "{name}: {err}");
        }
    }

    #[test]
    fn toml_and_json_read_the_same_shape() {
        let toml = r#"
account = "acme"
name = "welcome"
start = "crm"
sender = "+14155550100"

[[steps]]
name = "hello"
message = "Hi"
[steps.next]
fallback = "finish"
[[steps.next.conditions]]
between = { above = 1, at_most = { field = "Contact._Max" } }
goto = "finish"
"#;
        let file = SequenceFile::parse(toml, FileFormat::Toml).expect("toml");
        let json = serde_json::to_string(&file).expect("serialise");
        let back = SequenceFile::parse(&json, FileFormat::Json).expect("json");
        assert_eq!(back, file);
        let Some(NextFile::Decide(decide)) = &file.steps[0].next else {
            panic!("expected a decision");
        };
        let between = decide.conditions[0].between.as_ref().expect("between");
        assert_eq!(between.above, Some(NumberOrField::Number(1.0)));
        assert_eq!(
            between.at_most,
            Some(NumberOrField::Field {
                field: "Contact._Max".into()
            })
        );
    }

    #[test]
    fn formats_by_extension() {
        let cases = [
            ("a.yaml", Some(FileFormat::Yaml)),
            ("dir.v2/a.YML", Some(FileFormat::Yaml)),
            ("a.toml", Some(FileFormat::Toml)),
            ("a.json", Some(FileFormat::Json)),
            ("a.txt", None),
            ("yaml", None),
        ];
        for (path, want) in cases {
            assert_eq!(FileFormat::from_path(path), want, "{path}");
        }
    }
}
