//! Validation errors, one table row per kind (`problems.rs`), the definitions validation
//! accepts and what they tell (`definitions.rs`), and the engine's edges that the flow files
//! (`shared/tests/sequence_flows/`) do not reach (`engine.rs`). The helpers below are theirs.

use super::*;

mod definitions;
mod engine;
mod problems;

const HEADER: &str = "account: acme
name: t
start: crm
sender: '+14155550100'
collect_email_first: false
";

fn with_steps(steps: &str) -> String {
    format!("{HEADER}steps:\n{steps}")
}

/// Step `a` ("Hi") whose `next` is the map given, its lines indented as in the file.
fn a_next(next: &str) -> String {
    with_steps(&format!("  - name: a\n    message: Hi\n    next:\n{next}"))
}

/// Step `a` deciding by `conditions` (list items indented as in the file), else finishing.
fn a_decides(conditions: &str) -> String {
    a_next(&format!(
        "      conditions:\n{conditions}      fallback: finish\n"
    ))
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
