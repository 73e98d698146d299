//! Validation: a [`SequenceFile`] becomes a [`Sequence`] or a [`DefinitionError`] listing
//! every problem found, each with the step it is in. This file checks the sequence's own
//! settings; its steps ([`steps`]), where their replies lead ([`next`], [`conditions`]) and
//! whether a run can finish ([`graph`]) are checked in the files below it.

use std::collections::BTreeSet;

use super::conditions::normalise_answer;
use super::definition::{Sequence, Step};
use super::fields::{ContactField, FieldError};
use super::file::{FileFormat, SequenceFile};
use super::problem::{DefinitionError, Problem, ProblemKind};
use crate::domain::account::{AccountId, SenderKind};
use crate::domain::keywords::{KeywordClass, classify_body};

mod conditions;
mod graph;
mod next;
mod steps;

/// Where keyword starts keep the texter's number unless the definition says otherwise.
pub const DEFAULT_PHONE_FIELD: &str = "Contact.Phone1";
const MAX_NAME_LENGTH: usize = 64;

impl Sequence {
    /// Reads and validates a definition whose format follows `origin`'s extension.
    pub fn load(origin: &str, text: &str) -> Result<Sequence, DefinitionError> {
        match FileFormat::from_path(origin) {
            Some(format) => Sequence::parse(origin, text, format),
            None => Err(unreadable(origin, ProblemKind::UnknownFormat)),
        }
    }

    /// Reads and validates a definition written in `format`.
    pub fn parse(
        origin: &str,
        text: &str,
        format: FileFormat,
    ) -> Result<Sequence, DefinitionError> {
        match SequenceFile::parse(text, format) {
            Ok(file) => Sequence::from_file(origin, file),
            Err(message) => Err(unreadable(origin, ProblemKind::Syntax(message))),
        }
    }

    /// Validates a definition already read.
    pub fn from_file(origin: &str, file: SequenceFile) -> Result<Sequence, DefinitionError> {
        let mut v = Validator::default();
        let sequence = v.sequence(origin, file);
        match sequence {
            Some(sequence) if v.problems.is_empty() => Ok(sequence),
            // A refused definition lists what refuses it; its warnings wait for a file
            // that runs.
            _ => Err(DefinitionError {
                origin: origin.to_string(),
                problems: v
                    .problems
                    .into_iter()
                    .filter(|p| !p.kind.is_warning())
                    .collect(),
            }),
        }
    }
}

/// A definition that could not be read at all: its one problem, in no step.
fn unreadable(origin: &str, kind: ProblemKind) -> DefinitionError {
    DefinitionError {
        origin: origin.to_string(),
        problems: vec![Problem { step: None, kind }],
    }
}

/// What a setting does with a field: which fields fit it, and the problems to report
/// for a field that does not fit and for one that does not exist.
struct FieldUse {
    fits: fn(&ContactField) -> bool,
    unfit: fn(String) -> ProblemKind,
    unknown: fn(FieldError) -> ProblemKind,
}

#[derive(Default)]
struct Validator {
    problems: Vec<Problem>,
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LENGTH
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The sequence's settings that validation turns into typed values.
struct Settings {
    account: Option<AccountId>,
    phone_field: Option<ContactField>,
}

impl Validator {
    fn problem(&mut self, step: Option<&str>, kind: ProblemKind) {
        self.problems.push(Problem {
            step: step.map(str::to_string),
            kind,
        });
    }

    fn sequence(&mut self, origin: &str, file: SequenceFile) -> Option<Sequence> {
        let settings = self.settings(&file);
        let steps = self.steps(&file)?;
        let warnings = self.take_warnings();
        Some(Sequence {
            origin: origin.to_string(),
            account: settings.account?,
            name: file.name.clone(),
            start: file.start,
            keywords: file.keywords.iter().map(|k| k.trim().to_string()).collect(),
            sender: file.sender.trim().to_string(),
            phone_field: settings.phone_field?,
            note: file.note,
            opted_out_tag: file.opted_out_tag.clone(),
            invalid_number_tag: file.invalid_number_tag.clone(),
            steps,
            warnings,
            definition: file,
        })
    }

    /// Everything above the steps: account, name, sender, keywords, phone field, tags.
    fn settings(&mut self, file: &SequenceFile) -> Settings {
        let account = AccountId::parse(&file.account)
            .map_err(|e| self.problem(None, ProblemKind::InvalidAccount(e.to_string())))
            .ok();
        if !is_slug(&file.name) {
            self.problem(None, ProblemKind::InvalidName(file.name.clone()));
        }
        if file.sender.trim().is_empty() {
            self.problem(None, ProblemKind::MissingSender);
        }
        self.keywords(file);
        let phone_field = self.phone_field(file.phone_field.as_deref());
        for (setting, tag) in [
            ("opted_out_tag", &file.opted_out_tag),
            ("invalid_number_tag", &file.invalid_number_tag),
        ] {
            self.tag(None, setting, tag.as_deref());
        }
        if file.email_step.is_some() && !file.collect_email_first {
            self.problem(None, ProblemKind::EmailStepWithoutCollect);
        }
        Settings {
            account,
            phone_field,
        }
    }

    /// The steps, each checked; then, when every reference resolved, the graph they make.
    fn steps(&mut self, file: &SequenceFile) -> Option<Vec<Step>> {
        let drafts = steps::drafts(file);
        if drafts.is_empty() {
            self.problem(None, ProblemKind::NoSteps);
            return None;
        }
        let problems_before_steps = self.errors();
        let names = self.step_names(&drafts, file.collect_email_first);
        let steps: Vec<Option<Step>> = drafts
            .iter()
            .enumerate()
            .map(|(i, draft)| {
                let below = drafts.get(i + 1).map(|d| d.name.as_str());
                self.step(draft, below, &names)
            })
            .collect();
        let steps: Vec<Step> = steps.into_iter().collect::<Option<_>>()?;
        if self.errors() == problems_before_steps {
            // Reachability means something only once every reference resolves.
            self.graph(&steps);
        }
        self.gaps(&steps);
        Some(steps)
    }

    /// How many problems refuse the definition (warnings do not).
    fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| !p.kind.is_warning())
            .count()
    }

    /// Takes the warnings (unreachable steps, merges that can leave a gap) out of the
    /// problems.
    fn take_warnings(&mut self) -> Vec<Problem> {
        let (warnings, problems) = std::mem::take(&mut self.problems)
            .into_iter()
            .partition(|p| p.kind.is_warning());
        self.problems = problems;
        warnings
    }

    fn keywords(&mut self, file: &SequenceFile) {
        if file.start.by_keyword() && file.keywords.is_empty() {
            self.problem(None, ProblemKind::NoKeywords);
        }
        if !file.start.by_keyword() && !file.keywords.is_empty() {
            self.problem(None, ProblemKind::KeywordsWithoutKeywordStart);
        }
        let mut seen = BTreeSet::new();
        for (i, keyword) in file.keywords.iter().enumerate() {
            let normalised = normalise_answer(keyword);
            if normalised.is_empty() {
                self.problem(None, ProblemKind::EmptyKeyword { index: i + 1 });
            } else if classify_body(keyword, SenderKind::LongCode) != KeywordClass::None {
                self.problem(
                    None,
                    ProblemKind::ReservedKeyword(keyword.trim().to_string()),
                );
            } else if !seen.insert(normalised) {
                self.problem(
                    None,
                    ProblemKind::DuplicateKeyword(keyword.trim().to_string()),
                );
            }
        }
    }

    fn phone_field(&mut self, written: Option<&str>) -> Option<ContactField> {
        self.field(
            None,
            written.unwrap_or(DEFAULT_PHONE_FIELD),
            FieldUse {
                fits: ContactField::can_hold_phone,
                unfit: ProblemKind::NotAPhoneField,
                unknown: ProblemKind::PhoneField,
            },
        )
    }

    /// A field named in a setting: known, and fit for that setting's use.
    fn field(&mut self, at: Option<&str>, written: &str, about: FieldUse) -> Option<ContactField> {
        match ContactField::parse(written) {
            Ok(field) if (about.fits)(&field) => Some(field),
            Ok(field) => {
                self.problem(at, (about.unfit)(field.merge_name()));
                None
            }
            Err(e) => {
                self.problem(at, (about.unknown)(e));
                None
            }
        }
    }

    fn tag(&mut self, step: Option<&str>, setting: &str, tag: Option<&str>) {
        if tag.is_some_and(|t| t.trim().is_empty()) {
            self.problem(
                step,
                ProblemKind::EmptyTag {
                    setting: setting.to_string(),
                },
            );
        }
    }
}
