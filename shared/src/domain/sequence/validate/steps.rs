//! Each step as written: its name, message, media and the field its reply is saved to.

use std::collections::BTreeSet;

use super::super::conditions::Goto;
use super::super::definition::{COLLECT_EMAIL_STEP, DEFAULT_EMAIL_QUESTION, Next, Step};
use super::super::fields::ContactField;
use super::super::file::{FINISH, NextFile, SequenceFile, StepFile};
use super::super::problem::ProblemKind;
use super::{FieldUse, MAX_NAME_LENGTH, Validator};
use crate::domain::merge;
use crate::domain::send_content::{MAX_BODY_LENGTH, MAX_MEDIA_URLS, body_length, check_media_url};

fn is_step_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LENGTH
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A step as written, the pre-made e-mail step included.
pub(super) struct DraftStep<'a> {
    pub(super) name: String,
    message: String,
    media: &'a [String],
    save_to: Option<String>,
    await_reply: bool,
    next: Option<&'a NextFile>,
    /// What an omitted `next` means when there is no step below: finish (true) or an error.
    finish_by_default: bool,
    expects_email: bool,
}

/// The steps as written, with the pre-made e-mail step first when it is on.
pub(super) fn drafts(file: &SequenceFile) -> Vec<DraftStep<'_>> {
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

impl Validator {
    /// Checks names; returns every name (for references), duplicates included once.
    pub(super) fn step_names(
        &mut self,
        drafts: &[DraftStep<'_>],
        collect_email: bool,
    ) -> BTreeSet<String> {
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

    pub(super) fn step(
        &mut self,
        draft: &DraftStep<'_>,
        below: Option<&str>,
        names: &BTreeSet<String>,
    ) -> Option<Step> {
        let at = Some(draft.name.as_str());
        let message_ok = self.message(at, &draft.message);
        let media = self.media(at, draft.media);
        let save_to = self.save_to(at, draft.save_to.as_deref());
        let next = match (draft.await_reply, draft.next, below) {
            (false, _, _) => self.closing_step(draft),
            (true, None, None) if draft.finish_by_default => Some(Next::Goto(Goto::Finish)),
            (true, next, below) => self.next(at, next, below, names),
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

    /// The field a reply is saved to: `Some(None)` when there is none, `None` when refused.
    fn save_to(&mut self, at: Option<&str>, written: Option<&str>) -> Option<Option<ContactField>> {
        let Some(written) = written else {
            return Some(None);
        };
        let about = FieldUse {
            fits: ContactField::is_writable,
            unfit: ProblemKind::NotWritable,
            unknown: ProblemKind::SaveToField,
        };
        self.field(at, written, about).map(Some)
    }

    /// A closing step (no reply awaited) only finishes: it takes no `next` nor `save_to`.
    fn closing_step(&mut self, draft: &DraftStep<'_>) -> Option<Next> {
        let at = Some(draft.name.as_str());
        if draft.next.is_some() {
            self.problem(at, ProblemKind::ClosingStepWith { setting: "next" });
        }
        if draft.save_to.is_some() {
            self.problem(at, ProblemKind::ClosingStepWith { setting: "save_to" });
        }
        Some(Next::Goto(Goto::Finish))
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

    /// Warns of each merge field that leaves a gap in the text when the contact has no
    /// value for it (a contact created from a text has no name). Not for the id, never
    /// empty, nor for a field a step of the sequence saves: the run fills it first.
    pub(super) fn gaps(&mut self, steps: &[Step]) {
        let saved: BTreeSet<String> = steps
            .iter()
            .filter_map(|s| s.save_to().map(ContactField::merge_name))
            .collect();
        for step in steps {
            for field in merge::fields_that_can_leave_a_gap(step.message()) {
                if field != "Contact.Id" && !saved.contains(&field) {
                    self.problem(Some(step.name()), ProblemKind::MergeCanLeaveGap { field });
                }
            }
        }
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
}
