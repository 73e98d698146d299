//! Sequence definitions end to end, without I/O: the published JSON Schema, the example
//! definition, and the golden flow files in `tests/sequence_flows/`.
//!
//! A flow file is YAML:
//!
//! ```yaml
//! description: what the flow shows
//! sequence: { ... }            # a definition inline, or
//! sequence_file: ../x.yaml     # one on disk, relative to the flow file
//! contact: { Contact.FirstName: Ana }   # the contact's fields at the start
//! script:
//!   - at: 0                    # time since the flow began: 0, 90s, 5m, 24h1m
//!     start: {}                # or { at_step: b, trigger_sid: SM0 }
//!     expect: [ effects, in order, as the engine serialises them ]
//!   - at: 5m
//!     reply: Tuesday           # sid: SM<beat number> unless `sid:` says; `media:` too
//!     expect: [...]
//!     state: { status: waiting_for_reply, step: b }   # optional
//!     answers: { a: Tuesday }                          # optional
//!   - at: 6m
//!     event: opted_out         # or invalid_number, expire
//!     expect: [...]
//!   - at: 7m
//!     start: { at_step: nope }
//!     error: sequence has no step named 'nope'         # the engine refuses
//! ```
//!
//! The runner plays the CRM: `save_field` and `set_email` effects update the contact, so
//! later messages and field-valued bounds see them. Every mismatch of every file is
//! reported, as a diff of the effect lists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use smsflow_shared::domain::Timestamp;
use smsflow_shared::domain::received::MessageWindow;
use smsflow_shared::domain::sequence::{
    ContactFields, Effect, Event, RunState, RunStatus, Sequence, SequenceFile, advance,
};

const SCHEMA_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../schemas/sequence.schema.json"
);
const EXAMPLE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../examples/sequences/appointment.yaml"
);
const FLOWS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sequence_flows");
const BLESS_VAR: &str = "SMSFLOW_BLESS_SCHEMA";

#[test]
fn published_schema_is_generated_from_the_types() {
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&SequenceFile::json_schema()).expect("schema serialises")
    );
    if std::env::var_os(BLESS_VAR).is_some() {
        std::fs::write(SCHEMA_PATH, &generated).expect("write the schema");
        return;
    }
    let published = std::fs::read_to_string(SCHEMA_PATH).unwrap_or_default();
    assert!(
        published == generated,
        "schemas/sequence.schema.json is not the schema of SequenceFile. Regenerate it with\n  \
         {BLESS_VAR}=1 cargo nextest run -p smsflow-shared --test sequences published_schema\n\
         and commit the result."
    );
}

#[test]
fn the_example_is_valid_and_uses_every_feature() {
    let text = std::fs::read_to_string(EXAMPLE_PATH).expect("read the example");
    let seq = Sequence::load(EXAMPLE_PATH, &text).unwrap_or_else(|e| panic!("{e}"));
    assert!(seq.warnings().is_empty(), "{:?}", seq.warnings());
    assert!(
        seq.steps().len() >= 4,
        "a 3+ step sequence after the e-mail step"
    );
    let file = seq.definition();
    let conditions: Vec<_> = file
        .steps
        .iter()
        .filter_map(|s| match &s.next {
            Some(smsflow_shared::domain::sequence::file::NextFile::Decide(d)) => Some(d),
            _ => None,
        })
        .collect();
    let all: Vec<_> = conditions.iter().flat_map(|d| &d.conditions).collect();
    assert!(
        all.iter()
            .any(|c| c.between.is_some() || c.greater_than.is_some())
    );
    assert!(all.iter().any(|c| {
        c.equals_any
            .as_ref()
            .is_some_and(|w| w.iter().any(|w| w.contains('*')))
    }));
    assert!(all.iter().any(|c| c.tag.is_some()));
    assert!(all.iter().any(|c| c.goto == "finish"));
    assert!(conditions.iter().any(|d| d.fallback.is_some()));
}

#[test]
fn the_example_validates_against_the_published_schema() {
    let schema = published_schema();
    let example = definition_as_json(&std::fs::read_to_string(EXAMPLE_PATH).expect("read"));
    let errors = schema_errors(&schema, &schema, &example, "$");
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_schema_refuses_what_validation_would() {
    // The checker below must be able to fail: these break the schema's own rules.
    let schema = published_schema();
    let base = serde_json::json!({
        "account": "acme", "name": "t", "start": "crm", "sender": "+14155550100",
        "steps": [{ "name": "a", "message": "Hi", "next": {
            "conditions": [{ "between": { "at_least": 1, "below": 5 }, "goto": "finish" }],
            "fallback": "finish"
        }}]
    });
    assert_eq!(
        schema_errors(&schema, &schema, &base, "$"),
        Vec::<String>::new()
    );
    const CONDITION: &str = "/steps/0/next/conditions/0";
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 6] = [
        ("a typo", |d| d["strat"] = "crm".into()),
        ("no sender", |d| {
            d.as_object_mut().map(|o| o.remove("sender"));
        }),
        ("an unknown start", |d| d["start"] = "sms".into()),
        ("two lower bounds", |d| {
            if let Some(c) = d.pointer_mut(CONDITION) {
                c["between"]["above"] = 0.into();
            }
        }),
        ("two tests", |d| {
            if let Some(c) = d.pointer_mut(CONDITION) {
                c["less_than"] = 3.into();
            }
        }),
        ("a typo in a field value", |d| {
            if let Some(c) = d.pointer_mut(CONDITION) {
                c["between"]["below"] = serde_json::json!({ "feild": "Contact._Max" });
            }
        }),
    ];
    for (name, edit) in cases {
        let mut doc = base.clone();
        edit(&mut doc);
        assert!(
            !schema_errors(&schema, &schema, &doc, "$").is_empty(),
            "{name} passed the schema"
        );
    }
}

fn published_schema() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(SCHEMA_PATH).expect("read the schema"))
        .expect("the schema is JSON")
}

fn definition_as_json(yaml: &str) -> serde_json::Value {
    serde_saphyr::from_str(yaml).expect("YAML")
}

/// Checks `value` against `schema`, for the keywords the generated schema uses (`$ref`,
/// `type`, `const`, `properties`, `additionalProperties`, `required`, `items`, `anyOf`,
/// `oneOf`, `allOf`); annotations are ignored. Returns every violation with its path.
fn schema_errors(
    root: &serde_json::Value,
    schema: &serde_json::Value,
    value: &serde_json::Value,
    path: &str,
) -> Vec<String> {
    use serde_json::Value;
    let mut errors = Vec::new();
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer));
        match target {
            Some(target) => errors.extend(schema_errors(root, target, value, path)),
            None => errors.push(format!("{path}: unresolved {reference}")),
        }
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let ok = allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            errors.push(format!("{path}: {actual} is not {allowed:?}"));
        }
    }
    if let Some(constant) = schema.get("const")
        && constant != value
    {
        errors.push(format!("{path}: {value} is not {constant}"));
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, item) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(property) => errors.extend(schema_errors(
                    root,
                    property,
                    item,
                    &format!("{path}.{key}"),
                )),
                None if schema.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{path}: unknown key {key}"))
                }
                None => {}
            }
        }
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(key) = required.as_str()
                && !object.contains_key(key)
            {
                errors.push(format!("{path}: missing {key}"));
            }
        }
    }
    if let (Some(items), Value::Array(array)) = (schema.get("items"), value) {
        for (i, item) in array.iter().enumerate() {
            errors.extend(schema_errors(root, items, item, &format!("{path}[{i}]")));
        }
    }
    let passing = |key: &str| -> Option<(usize, usize)> {
        let branches = schema.get(key)?.as_array()?;
        let ok = branches
            .iter()
            .filter(|b| schema_errors(root, b, value, path).is_empty())
            .count();
        Some((ok, branches.len()))
    };
    if let Some((ok, _)) = passing("anyOf")
        && ok == 0
    {
        errors.push(format!("{path}: matches none of anyOf"));
    }
    if let Some((ok, _)) = passing("oneOf")
        && ok != 1
    {
        errors.push(format!("{path}: matches {ok} of oneOf, not exactly one"));
    }
    if let Some((ok, all)) = passing("allOf")
        && ok != all
    {
        errors.push(format!("{path}: fails {} of allOf", all - ok));
    }
    errors
}

// ------------------------------------------------------------------------- flows

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Flow {
    #[allow(dead_code)] // For the reader of the file.
    description: String,
    #[serde(default)]
    sequence: Option<SequenceFile>,
    #[serde(default)]
    sequence_file: Option<String>,
    #[serde(default)]
    contact: ContactFields,
    script: Vec<Beat>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Beat {
    at: String,
    #[serde(default)]
    start: Option<StartBeat>,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    sid: Option<String>,
    #[serde(default)]
    media: Vec<String>,
    #[serde(default)]
    event: Option<Event>,
    #[serde(default)]
    expect: Vec<Effect>,
    #[serde(default)]
    state: Option<RunStatus>,
    #[serde(default)]
    answers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBeat {
    #[serde(default)]
    at_step: Option<String>,
    #[serde(default)]
    trigger_sid: Option<String>,
}

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/// `0`, `90s`, `5m`, `24h1m`: a sum of numbers with units.
fn offset_millis(at: &str) -> Result<i64, String> {
    if at.trim() == "0" {
        return Ok(0);
    }
    let mut total = 0i64;
    let mut number = String::new();
    for c in at.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1_000,
            'm' => 60_000,
            'h' => 3_600_000,
            _ => return Err(format!("bad time '{at}': use e.g. 0, 90s, 5m, 24h1m")),
        };
        let n: i64 = number
            .parse()
            .map_err(|_| format!("bad time '{at}': a unit without a number"))?;
        total += n * unit;
        number.clear();
    }
    if number.is_empty() {
        Ok(total)
    } else {
        Err(format!("bad time '{at}': a number without a unit"))
    }
}

fn event_of(beat: &Beat, index: usize) -> Result<Event, String> {
    let given = [
        beat.start.is_some(),
        beat.reply.is_some(),
        beat.event.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err("a beat needs exactly one of start, reply, event".into());
    }
    if let Some(start) = &beat.start {
        return Ok(Event::Start {
            at_step: start.at_step.clone(),
            trigger_sid: start.trigger_sid.clone(),
        });
    }
    if let Some(body) = &beat.reply {
        return Ok(Event::Reply {
            message_sid: beat.sid.clone().unwrap_or_else(|| format!("SM{index}")),
            body: body.clone(),
            media: beat.media.clone(),
        });
    }
    beat.event.clone().ok_or_else(|| "no event".to_string())
}

/// The CRM's side of the effects: saved fields become part of the contact.
fn apply_to_contact(contact: &mut ContactFields, effects: &[Effect]) {
    for effect in effects {
        match effect {
            Effect::SetEmail { email } => {
                contact.insert("Contact.Email".into(), email.to_string());
            }
            Effect::SaveField { field, value } => {
                contact.insert(field.merge_name(), value.clone());
            }
            _ => {}
        }
    }
}

fn line(effect: &Effect) -> String {
    serde_json::to_string(effect).unwrap_or_else(|e| format!("<{e}>"))
}

/// A line diff of two effect lists (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &[Effect], actual: &[Effect]) -> String {
    let (a, b): (Vec<String>, Vec<String>) = (
        expected.iter().map(line).collect(),
        actual.iter().map(line).collect(),
    );
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("      {}\n", a[i]));
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("    + {}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("    - {}\n", a[i]));
            i += 1;
        }
    }
    out
}

/// Runs one flow file; returns its mismatches, one string each.
fn run_flow(path: &Path) -> Vec<String> {
    let name = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![format!("{name}: cannot read: {e}")],
    };
    let flow: Flow = match serde_saphyr::from_str(&text) {
        Ok(f) => f,
        Err(e) => return vec![format!("{name}: not a flow file: {e}")],
    };
    let sequence = match (&flow.sequence, &flow.sequence_file) {
        (Some(file), None) => Sequence::from_file(&name, file.clone()),
        (None, Some(relative)) => {
            let def_path = path.parent().unwrap_or(Path::new(".")).join(relative);
            match std::fs::read_to_string(&def_path) {
                Ok(def) => Sequence::load(&def_path.display().to_string(), &def),
                Err(e) => return vec![format!("{name}: cannot read {relative}: {e}")],
            }
        }
        _ => {
            return vec![format!(
                "{name}: give exactly one of sequence, sequence_file"
            )];
        }
    };
    let sequence = match sequence {
        Ok(s) => s,
        Err(e) => return vec![format!("{name}: the sequence is invalid: {e}")],
    };
    if flow.sequence.is_some() {
        let raw: serde_json::Value = serde_saphyr::from_str(&text).unwrap_or_default();
        let schema = published_schema();
        let errors = schema_errors(&schema, &schema, &raw["sequence"], "sequence");
        if !errors.is_empty() {
            return vec![format!(
                "{name}: the sequence fails the schema: {errors:#?}"
            )];
        }
    }
    let mut contact = flow.contact.clone();
    let mut state: Option<RunState> = None;
    let mut failures = Vec::new();
    for (index, beat) in flow.script.iter().enumerate() {
        let number = index + 1;
        let what = beat
            .reply
            .as_ref()
            .map(|r| format!("reply {r:?}"))
            .or_else(|| beat.start.as_ref().map(|_| "start".to_string()))
            .or_else(|| beat.event.as_ref().map(|e| format!("{e:?}")))
            .unwrap_or_default();
        let here = format!("{name}: beat {number} (at {}, {what})", beat.at);
        let (event, offset) = match (event_of(beat, number), offset_millis(&beat.at)) {
            (Ok(e), Ok(o)) => (e, o),
            (Err(e), _) | (_, Err(e)) => {
                failures.push(format!("{here}: {e}"));
                break;
            }
        };
        let now = Timestamp::from_millis(T0 + offset);
        let sent = MessageWindow::default();
        match advance(&sequence, state.as_ref(), &event, &contact, &sent, now) {
            Err(e) => {
                if beat.error.as_deref() != Some(e.to_string().as_str()) {
                    failures.push(format!("{here}: the engine refused: {e}"));
                }
            }
            Ok(transition) => {
                if let Some(error) = &beat.error {
                    failures.push(format!("{here}: expected the error '{error}', got none"));
                }
                if transition.effects != beat.expect {
                    failures.push(format!(
                        "{here}: effects differ (- expected, + actual):\n{}",
                        diff(&beat.expect, &transition.effects)
                    ));
                }
                if let Some(want) = &beat.state
                    && *want != transition.state.status
                {
                    failures.push(format!(
                        "{here}: state is {:?}, expected {want:?}",
                        transition.state.status
                    ));
                }
                if let Some(want) = &beat.answers
                    && *want != transition.state.answers
                {
                    failures.push(format!(
                        "{here}: answers are {:?}, expected {want:?}",
                        transition.state.answers
                    ));
                }
                apply_to_contact(&mut contact, &transition.effects);
                state = Some(transition.state);
            }
        }
    }
    failures
}

#[test]
fn flows() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(FLOWS_DIR)
        .expect("the flows directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 10,
        "expected the flow files, found {paths:?}"
    );
    let failures: Vec<String> = paths.iter().flat_map(|p| run_flow(p)).collect();
    assert!(
        failures.is_empty(),
        "{} flow mismatch(es):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_runner_reports_mismatches() {
    // The runner itself must be able to fail: a wrong expectation is reported with a diff.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("wrong.yaml");
    std::fs::write(
        &path,
        "description: a wrong expectation
sequence:
  account: acme
  name: t
  start: crm
  sender: '+14155550100'
  collect_email_first: false
  steps:
    - name: a
      message: Hi
      next: finish
script:
  - at: 0
    start: {}
    expect:
      - send_message: { step: a, body: Hello }
    state: { status: finished, reason: completed }
",
    )
    .expect("write the flow");
    let failures = run_flow(&path);
    assert_eq!(failures.len(), 2, "{failures:#?}");
    assert!(
        failures[0].contains(r#"- {"send_message":{"step":"a","body":"Hello"}}"#)
            && failures[0].contains(r#"+ {"send_message":{"step":"a","body":"Hi"}}"#),
        "{}",
        failures[0]
    );
    assert!(failures[1].contains("WaitingForReply"), "{}", failures[1]);
}
