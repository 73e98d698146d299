//! Validation: a [`SequenceFile`] becomes a [`Sequence`] or a [`DefinitionError`] listing
//! every problem found, each with the step it is in.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::conditions::{Bound, Condition, Goto, Operand, Pattern, Test, normalise_answer};
use super::definition::{COLLECT_EMAIL_STEP, DEFAULT_EMAIL_QUESTION, Next, Sequence, Step};
use super::fields::ContactField;
use super::file::FINISH;
use super::file::{
    BetweenFile, ConditionFile, DecideFile, FileFormat, NextFile, NumberOrField, SequenceFile,
    StepFile,
};
use super::problem::{DefinitionError, Problem, ProblemKind};
use crate::domain::account::{AccountId, SenderKind};
use crate::domain::keywords::{KeywordClass, classify_body};
use crate::domain::merge;
use crate::domain::send_content::{MAX_BODY_LENGTH, MAX_MEDIA_URLS, body_length, check_media_url};

/// Where keyword starts keep the texter's number unless the definition says otherwise.
pub const DEFAULT_PHONE_FIELD: &str = "Contact.Phone1";
const MAX_NAME_LENGTH: usize = 64;

impl Sequence {
    /// Reads and validates a definition whose format follows `origin`'s extension.
    pub fn load(origin: &str, text: &str) -> Result<Sequence, DefinitionError> {
        match FileFormat::from_path(origin) {
            Some(format) => Sequence::parse(origin, text, format),
            None => Err(DefinitionError {
                origin: origin.to_string(),
                problems: vec![Problem {
                    step: None,
                    kind: ProblemKind::UnknownFormat,
                }],
            }),
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
            Err(message) => Err(DefinitionError {
                origin: origin.to_string(),
                problems: vec![Problem {
                    step: None,
                    kind: ProblemKind::Syntax(message),
                }],
            }),
        }
    }

    /// Validates a definition already read.
    pub fn from_file(origin: &str, file: SequenceFile) -> Result<Sequence, DefinitionError> {
        let mut v = Validator::default();
        let sequence = v.sequence(origin, file);
        match sequence {
            Some(sequence) if v.problems.is_empty() => Ok(sequence),
            _ => Err(DefinitionError {
                origin: origin.to_string(),
                problems: v.problems,
            }),
        }
    }
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

fn is_step_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LENGTH
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A step as written, the pre-made e-mail step included.
struct DraftStep<'a> {
    name: String,
    message: String,
    media: &'a [String],
    save_to: Option<String>,
    await_reply: bool,
    next: Option<&'a NextFile>,
    /// What an omitted `next` means when there is no step below: finish (true) or an error.
    finish_by_default: bool,
    expects_email: bool,
}

impl Validator {
    fn problem(&mut self, step: Option<&str>, kind: ProblemKind) {
        self.problems.push(Problem {
            step: step.map(str::to_string),
            kind,
        });
    }

    fn sequence(&mut self, origin: &str, file: SequenceFile) -> Option<Sequence> {
        let account = AccountId::parse(&file.account)
            .map_err(|e| self.problem(None, ProblemKind::InvalidAccount(e.to_string())))
            .ok();
        if !is_slug(&file.name) {
            self.problem(None, ProblemKind::InvalidName(file.name.clone()));
        }
        if file.sender.trim().is_empty() {
            self.problem(None, ProblemKind::MissingSender);
        }
        self.keywords(&file);
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

        let drafts = drafts(&file);
        if drafts.is_empty() {
            self.problem(None, ProblemKind::NoSteps);
            return None;
        }
        let problems_before_steps = self.problems.len();
        let names = self.step_names(&drafts, file.collect_email_first);
        let steps: Vec<Option<Step>> = drafts
            .iter()
            .enumerate()
            .map(|(i, draft)| {
                let below = drafts.get(i + 1).map(|d| d.name.as_str());
                self.step(draft, below, &names)
            })
            .collect();
        let steps: Option<Vec<Step>> = steps.into_iter().collect();
        let steps = steps?;
        if self.problems.len() == problems_before_steps {
            // Reachability means something only once every reference resolves.
            self.graph(&steps);
        }
        let (warnings, problems): (Vec<Problem>, Vec<Problem>) = std::mem::take(&mut self.problems)
            .into_iter()
            .partition(|p| p.kind == ProblemKind::Unreachable);
        self.problems = problems;
        Some(Sequence {
            origin: origin.to_string(),
            account: account?,
            name: file.name.clone(),
            start: file.start,
            keywords: file.keywords.iter().map(|k| k.trim().to_string()).collect(),
            sender: file.sender.trim().to_string(),
            phone_field: phone_field?,
            note: file.note,
            opted_out_tag: file.opted_out_tag.clone(),
            invalid_number_tag: file.invalid_number_tag.clone(),
            steps,
            warnings,
            definition: file,
        })
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
        match ContactField::parse(written.unwrap_or(DEFAULT_PHONE_FIELD)) {
            Ok(field) if field.can_hold_phone() => Some(field),
            Ok(field) => {
                self.problem(None, ProblemKind::NotAPhoneField(field.merge_name()));
                None
            }
            Err(e) => {
                self.problem(None, ProblemKind::PhoneField(e));
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

    /// Checks names; returns every name (for references), duplicates included once.
    fn step_names(&mut self, drafts: &[DraftStep<'_>], collect_email: bool) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        let mut reported = BTreeSet::new();
        for (i, draft) in drafts.iter().enumerate() {
            let name = draft.name.as_str();
            let is_email_step = collect_email && i == 0;
            if !is_step_name(name) {
                self.problem(None, ProblemKind::InvalidStepName(name.to_string()));
            } else if name == FINISH || (name == COLLECT_EMAIL_STEP && !is_email_step) {
                self.problem(Some(name), ProblemKind::ReservedStepName(name.to_string()));
            } else if !names.insert(name.to_string()) && reported.insert(name.to_string()) {
                self.problem(Some(name), ProblemKind::DuplicateStep(name.to_string()));
            }
        }
        names
    }

    fn step(
        &mut self,
        draft: &DraftStep<'_>,
        below: Option<&str>,
        names: &BTreeSet<String>,
    ) -> Option<Step> {
        let at = Some(draft.name.as_str());
        let message_ok = self.message(at, &draft.message);
        let media = self.media(at, draft.media);
        let save_to = match &draft.save_to {
            None => Some(None),
            Some(written) => match ContactField::parse(written) {
                Ok(field) if field.is_writable() => Some(Some(field)),
                Ok(field) => {
                    self.problem(at, ProblemKind::NotWritable(field.merge_name()));
                    None
                }
                Err(e) => {
                    self.problem(at, ProblemKind::SaveToField(e));
                    None
                }
            },
        };
        let next = if draft.await_reply {
            match (draft.next, below) {
                (None, None) if draft.finish_by_default => Some(Next::Goto(Goto::Finish)),
                (next, below) => self.next(at, next, below, names),
            }
        } else {
            if draft.next.is_some() {
                self.problem(at, ProblemKind::ClosingStepWith { setting: "next" });
            }
            if draft.save_to.is_some() {
                self.problem(at, ProblemKind::ClosingStepWith { setting: "save_to" });
            }
            Some(Next::Goto(Goto::Finish))
        };
        let save_to = save_to?;
        let expects_email =
            draft.expects_email || save_to.as_ref().is_some_and(ContactField::is_email);
        if !message_ok {
            return None;
        }
        Some(Step {
            name: draft.name.clone(),
            message: draft.message.clone(),
            media: media?,
            save_to,
            expects_email,
            await_reply: draft.await_reply,
            next: next?,
        })
    }

    fn message(&mut self, at: Option<&str>, message: &str) -> bool {
        if message.trim().is_empty() {
            self.problem(at, ProblemKind::EmptyMessage);
            return false;
        }
        let before = self.problems.len();
        // Syntax first (an unterminated field, a malformed name), then each unknown field
        // with its own reason.
        if let Err(e) = merge::render(message, &|_| Some(String::new())) {
            self.problem(at, ProblemKind::MergeSyntax(e));
        }
        for name in merge::fields_in(message) {
            if let Err(e) = ContactField::parse(&name) {
                self.problem(at, ProblemKind::UnknownMergeField(e));
            }
        }
        let length = body_length(message);
        if length > MAX_BODY_LENGTH {
            self.problem(at, ProblemKind::MessageTooLong { length });
        }
        self.problems.len() == before
    }

    fn media(&mut self, at: Option<&str>, media: &[String]) -> Option<Vec<String>> {
        let before = self.problems.len();
        if media.len() > MAX_MEDIA_URLS {
            self.problem(at, ProblemKind::TooManyMedia { count: media.len() });
        }
        let mut urls = Vec::with_capacity(media.len());
        for url in media {
            match check_media_url(url) {
                Ok(url) => urls.push(url),
                Err(e) => self.problem(at, ProblemKind::InvalidMedia(e)),
            }
        }
        (self.problems.len() == before).then_some(urls)
    }

    fn goto(
        &mut self,
        at: Option<&str>,
        place: &str,
        target: &str,
        names: &BTreeSet<String>,
    ) -> Option<Goto> {
        let target = target.trim();
        if target == FINISH {
            Some(Goto::Finish)
        } else if names.contains(target) {
            Some(Goto::Step(target.to_string()))
        } else {
            self.problem(
                at,
                ProblemKind::UnknownStep {
                    place: place.to_string(),
                    target: target.to_string(),
                },
            );
            None
        }
    }

    fn next(
        &mut self,
        at: Option<&str>,
        next: Option<&NextFile>,
        below: Option<&str>,
        names: &BTreeSet<String>,
    ) -> Option<Next> {
        match next {
            None => match below {
                Some(below) => Some(Next::Goto(Goto::Step(below.to_string()))),
                None => {
                    self.problem(at, ProblemKind::LastStepWithoutNext);
                    None
                }
            },
            Some(NextFile::Goto(target)) => self.goto(at, "next", target, names).map(Next::Goto),
            Some(NextFile::Decide(decide)) => self.decide(at, decide, names),
        }
    }

    fn decide(
        &mut self,
        at: Option<&str>,
        decide: &DecideFile,
        names: &BTreeSet<String>,
    ) -> Option<Next> {
        let conditions: Vec<Option<Condition>> = decide
            .conditions
            .iter()
            .enumerate()
            .map(|(i, c)| self.condition(at, i + 1, c, names))
            .collect();
        self.tag(at, "fallback_tag", decide.fallback_tag.as_deref());
        let fallback = match &decide.fallback {
            Some(target) => self.goto(at, "fallback", target, names),
            None => {
                self.problem(at, ProblemKind::MissingFallback);
                None
            }
        };
        Some(Next::Decide {
            conditions: conditions.into_iter().collect::<Option<Vec<_>>>()?,
            fallback: fallback?,
            fallback_tag: decide.fallback_tag.clone(),
        })
    }

    fn condition(
        &mut self,
        at: Option<&str>,
        condition: usize,
        c: &ConditionFile,
        names: &BTreeSet<String>,
    ) -> Option<Condition> {
        let found = [
            c.equals_any.is_some(),
            c.less_than.is_some(),
            c.greater_than.is_some(),
            c.between.is_some(),
        ]
        .iter()
        .filter(|present| **present)
        .count();
        let test = if found == 1 {
            self.test(at, condition, c)
        } else {
            self.problem(at, ProblemKind::ConditionTests { condition, found });
            None
        };
        self.tag(at, &format!("condition {condition}: tag"), c.tag.as_deref());
        let goto = self.goto(at, &format!("condition {condition}: goto"), &c.goto, names);
        Some(Condition {
            test: test?,
            tag: c.tag.clone(),
            goto: goto?,
        })
    }

    fn test(&mut self, at: Option<&str>, condition: usize, c: &ConditionFile) -> Option<Test> {
        if let Some(words) = &c.equals_any {
            if words.is_empty() {
                self.problem(at, ProblemKind::EmptyEqualsAny { condition });
                return None;
            }
            let mut patterns = Vec::with_capacity(words.len());
            for (i, word) in words.iter().enumerate() {
                match Pattern::parse(word) {
                    Ok(p) => patterns.push(p),
                    Err(_) => self.problem(
                        at,
                        ProblemKind::EmptyPattern {
                            condition,
                            index: i + 1,
                        },
                    ),
                }
            }
            return (patterns.len() == words.len()).then_some(Test::EqualsAny(patterns));
        }
        if let Some(value) = &c.less_than {
            return self.operand(at, condition, value).map(Test::LessThan);
        }
        if let Some(value) = &c.greater_than {
            return self.operand(at, condition, value).map(Test::GreaterThan);
        }
        c.between
            .as_ref()
            .and_then(|b| self.between(at, condition, b))
    }

    fn operand(
        &mut self,
        at: Option<&str>,
        condition: usize,
        value: &NumberOrField,
    ) -> Option<Operand> {
        let malformed = |value: String| ProblemKind::MalformedNumber { condition, value };
        match value {
            NumberOrField::Number(n) if n.is_finite() => Some(Operand::Number(*n)),
            NumberOrField::Number(n) => {
                self.problem(at, malformed(n.to_string()));
                None
            }
            NumberOrField::Text(text) => match text.trim().parse::<f64>() {
                Ok(n) if n.is_finite() => Some(Operand::Number(n)),
                _ => {
                    self.problem(at, malformed(text.clone()));
                    None
                }
            },
            NumberOrField::Field { field } => match ContactField::parse(field) {
                Ok(field) => Some(Operand::Field(field)),
                Err(reason) => {
                    self.problem(at, ProblemKind::BadField { condition, reason });
                    None
                }
            },
        }
    }

    fn between(&mut self, at: Option<&str>, condition: usize, b: &BetweenFile) -> Option<Test> {
        let lower = match (&b.above, &b.at_least) {
            (Some(v), None) => Some((v, false)),
            (None, Some(v)) => Some((v, true)),
            (None, None) => {
                self.problem(
                    at,
                    ProblemKind::BetweenBounds {
                        condition,
                        need: "a lower bound: above or at_least",
                    },
                );
                None
            }
            (Some(_), Some(_)) => {
                self.problem(
                    at,
                    ProblemKind::BetweenBounds {
                        condition,
                        need: "one lower bound, not both above and at_least",
                    },
                );
                None
            }
        };
        let upper = match (&b.below, &b.at_most) {
            (Some(v), None) => Some((v, false)),
            (None, Some(v)) => Some((v, true)),
            (None, None) => {
                self.problem(
                    at,
                    ProblemKind::BetweenBounds {
                        condition,
                        need: "an upper bound: below or at_most",
                    },
                );
                None
            }
            (Some(_), Some(_)) => {
                self.problem(
                    at,
                    ProblemKind::BetweenBounds {
                        condition,
                        need: "one upper bound, not both below and at_most",
                    },
                );
                None
            }
        };
        let lower = lower.and_then(|(v, inclusive)| {
            self.operand(at, condition, v)
                .map(|operand| Bound { operand, inclusive })
        });
        let upper = upper.and_then(|(v, inclusive)| {
            self.operand(at, condition, v)
                .map(|operand| Bound { operand, inclusive })
        });
        let (lower, upper) = (lower?, upper?);
        if let (Operand::Number(l), Operand::Number(u)) = (&lower.operand, &upper.operand) {
            let empty = l > u || (l == u && !(lower.inclusive && upper.inclusive));
            if empty {
                self.problem(
                    at,
                    ProblemKind::InvertedBetween {
                        condition,
                        lower: format!("{} {l}", if lower.inclusive { ">=" } else { ">" }),
                        upper: format!("{} {u}", if upper.inclusive { "<=" } else { "<" }),
                    },
                );
                return None;
            }
        }
        Some(Test::Between { lower, upper })
    }

    /// Every step must be able to reach a finish; steps the first cannot reach are
    /// reported as warnings.
    fn graph(&mut self, steps: &[Step]) {
        let index: BTreeMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name(), i))
            .collect();
        let successors: Vec<Vec<usize>> = steps
            .iter()
            .map(|s| {
                s.targets()
                    .into_iter()
                    .filter_map(|g| match g {
                        Goto::Step(name) => index.get(name.as_str()).copied(),
                        Goto::Finish => None,
                    })
                    .collect()
            })
            .collect();
        let mut can_finish: Vec<bool> = steps
            .iter()
            .map(|s| !s.awaits_reply() || s.targets().contains(&&Goto::Finish))
            .collect();
        let mut changed = true;
        while changed {
            changed = false;
            for i in 0..steps.len() {
                if !can_finish[i] && successors[i].iter().any(|&j| can_finish[j]) {
                    can_finish[i] = true;
                    changed = true;
                }
            }
        }
        let mut reached = vec![false; steps.len()];
        let mut queue = VecDeque::from([0]);
        reached[0] = true;
        while let Some(i) = queue.pop_front() {
            for &j in &successors[i] {
                if !reached[j] {
                    reached[j] = true;
                    queue.push_back(j);
                }
            }
        }
        for (i, step) in steps.iter().enumerate() {
            if !can_finish[i] {
                self.problem(Some(step.name()), ProblemKind::NoReachableFinish);
            }
            if !reached[i] {
                self.problem(Some(step.name()), ProblemKind::Unreachable);
            }
        }
    }
}

/// The steps as written, with the pre-made e-mail step first when it is on.
fn drafts(file: &SequenceFile) -> Vec<DraftStep<'_>> {
    let mut drafts = Vec::with_capacity(file.steps.len() + 1);
    if file.collect_email_first {
        let custom = file.email_step.as_ref();
        drafts.push(DraftStep {
            name: COLLECT_EMAIL_STEP.to_string(),
            message: custom
                .and_then(|c| c.message.clone())
                .unwrap_or_else(|| DEFAULT_EMAIL_QUESTION.to_string()),
            media: custom.map(|c| c.media.as_slice()).unwrap_or_default(),
            save_to: Some(
                custom
                    .and_then(|c| c.save_to.clone())
                    .unwrap_or_else(|| "Contact.Email".to_string()),
            ),
            await_reply: true,
            next: custom.and_then(|c| c.next.as_ref()),
            // Without steps below it, the e-mail step is the whole sequence.
            finish_by_default: file.steps.is_empty(),
            expects_email: true,
        });
    }
    drafts.extend(file.steps.iter().map(|s: &StepFile| DraftStep {
        name: s.name.trim().to_string(),
        message: s.message.clone(),
        media: &s.media,
        save_to: s.save_to.clone(),
        await_reply: s.await_reply,
        next: s.next.as_ref(),
        finish_by_default: false,
        expects_email: false,
    }));
    drafts
}
