//! What is wrong with a sequence definition: each problem with the step it is in, and the
//! error that lists them all.

use std::fmt;

use super::fields::FieldError;
use super::file::FINISH;
use crate::domain::merge::MergeError;
use crate::domain::send_content::{ContentError, MAX_BODY_LENGTH, MAX_MEDIA_URLS};

/// Why a definition was refused: where it came from, and every problem found.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DefinitionError {
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "{}: {count} problem{}",
            self.origin,
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

/// One problem, in a step or in the sequence's settings (`step` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub step: Option<String>,
    pub kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.step {
            Some(step) => write!(f, "step '{step}': {}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// What is wrong. `condition` numbers count from 1, top to bottom.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProblemKind {
    #[error("cannot be read: {0}")]
    Syntax(String),
    #[error("unknown file type: name the file .yaml, .yml, .toml or .json")]
    UnknownFormat,
    #[error("account: {0}")]
    InvalidAccount(String),
    #[error("name '{0}' is not usable in URLs: use 1-64 lower-case letters, digits or '-'")]
    InvalidName(String),
    #[error("sender is empty: name the number, Messaging Service or alphanumeric sender")]
    MissingSender,
    #[error("start includes keyword, but no keywords are given")]
    NoKeywords,
    #[error("keywords are given, but start is crm: use start: keyword or both")]
    KeywordsWithoutKeywordStart,
    #[error("keyword {index} is empty")]
    EmptyKeyword { index: usize },
    #[error(
        "keyword '{0}' is an opt-out, opt-in or help word: those are handled before any \
         sequence, so it would never start this one"
    )]
    ReservedKeyword(String),
    #[error("keyword '{0}' is given twice (keywords ignore case)")]
    DuplicateKeyword(String),
    #[error("phone_field: {0}")]
    PhoneField(FieldError),
    #[error(
        "phone_field '{0}' cannot hold a mobile number: use Contact.Phone1 or a custom field \
         (Contact._Name)"
    )]
    NotAPhoneField(String),
    #[error("{setting} is empty: remove it or name a tag")]
    EmptyTag { setting: String },
    #[error("email_step is set, but collect_email_first is false")]
    EmailStepWithoutCollect,
    #[error("the sequence has no steps (and collect_email_first is false)")]
    NoSteps,
    #[error("'{0}' is not a usable step name: use 1-64 ASCII letters, digits, '-' or '_'")]
    InvalidStepName(String),
    #[error("'{0}' is a reserved name")]
    ReservedStepName(String),
    #[error("there is more than one step named '{0}'")]
    DuplicateStep(String),
    #[error("the message is empty")]
    EmptyMessage,
    #[error("message: {0}")]
    MergeSyntax(MergeError),
    #[error("message: {0}")]
    UnknownMergeField(FieldError),
    #[error(
        "the message is {length} characters long before merge fields are filled; the \
         limit is {MAX_BODY_LENGTH}"
    )]
    MessageTooLong { length: usize },
    #[error("{count} media URLs; the limit is {MAX_MEDIA_URLS}")]
    TooManyMedia { count: usize },
    #[error("{0}")]
    InvalidMedia(ContentError),
    #[error("save_to: {0}")]
    SaveToField(FieldError),
    #[error(
        "save_to '{0}' cannot be written: save to Contact.Email or a custom field \
         (Contact._Name)"
    )]
    NotWritable(String),
    #[error("{place} '{target}' is not a step of this sequence (nor '{FINISH}')")]
    UnknownStep { place: String, target: String },
    #[error(
        "the last step needs a next: '{FINISH}', a step name, or conditions \
         (there is no step below it)"
    )]
    LastStepWithoutNext,
    #[error("a step with await_reply: false ends the run, so it cannot have {setting}")]
    ClosingStepWith { setting: &'static str },
    #[error(
        "condition {condition} needs exactly one test (equals_any, less_than, greater_than, \
         between or has_received); it has {found}"
    )]
    ConditionTests { condition: usize, found: usize },
    #[error("condition {condition}: equals_any needs at least one word or phrase")]
    EmptyEqualsAny { condition: usize },
    #[error("condition {condition}: word {index} of equals_any is empty")]
    EmptyPattern { condition: usize, index: usize },
    #[error(
        "condition {condition}: '{value}' is not a number (write a plain number, or \
         {{ field: Contact._Name }} for a field's value)"
    )]
    MalformedNumber { condition: usize, value: String },
    #[error("condition {condition}: {0}", .reason)]
    BadField {
        condition: usize,
        reason: FieldError,
    },
    #[error("condition {condition}: has_received: {reason}")]
    BadReceivedFilter {
        condition: usize,
        reason: crate::domain::received::ReceivedFilterError,
    },
    #[error("condition {condition}: between needs {need}")]
    BetweenBounds {
        condition: usize,
        need: &'static str,
    },
    #[error(
        "condition {condition}: between {lower} and {upper} can never match (the lower \
         bound must be below the upper one)"
    )]
    InvertedBetween {
        condition: usize,
        lower: String,
        upper: String,
    },
    #[error("conditions need a fallback: the step to go to when none matches, or '{FINISH}'")]
    MissingFallback,
    #[error("no finish can be reached from this step: a run here could never end")]
    NoReachableFinish,
    #[error("no run reaches this step from the first step (only a CRM start at it can)")]
    Unreachable,
    #[error("{}", crate::domain::merge::gap_advice(field))]
    MergeCanLeaveGap { field: String },
}

impl ProblemKind {
    /// A warning: the sequence still runs (an unreachable step, a merge that can leave a
    /// gap in the text).
    pub fn is_warning(&self) -> bool {
        matches!(
            self,
            ProblemKind::Unreachable | ProblemKind::MergeCanLeaveGap { .. }
        )
    }
}
