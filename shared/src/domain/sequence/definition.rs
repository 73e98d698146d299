//! A validated sequence: what the engine runs. Only [`super::validate`] builds one, so a
//! `Sequence` always has known steps and fields, reachable finishes and sendable messages.

use std::collections::BTreeSet;

use super::conditions::{Condition, Goto, Test, normalise_answer};
use super::fields::{ContactField, CustomField};
use super::file::{SequenceFile, StartMode};
use super::problem::Problem;
use crate::domain::account::AccountId;
use crate::domain::received::ReceivedFilter;

/// The name of the pre-made e-mail step (`collect_email_first`).
pub const COLLECT_EMAIL_STEP: &str = "collect-email";

/// The merge name of the contact's e-mail address (the engine's contact fields key it so).
pub const EMAIL_FIELD: &str = "Contact.Email";
/// The pre-made e-mail step's question, unless the definition words it differently.
pub const DEFAULT_EMAIL_QUESTION: &str =
    "Thanks for reaching out! What's your e-mail address? Reply with it to continue.";

/// What follows a step's reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Goto(Goto),
    /// Conditions top to bottom; when none matches, `fallback_tag` and `fallback`.
    Decide {
        conditions: Vec<Condition>,
        fallback: Goto,
        fallback_tag: Option<String>,
    },
}

/// One validated step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub(super) name: String,
    pub(super) message: String,
    pub(super) media: Vec<String>,
    pub(super) save_to: Option<ContactField>,
    pub(super) expects_email: bool,
    pub(super) await_reply: bool,
    pub(super) next: Next,
}

impl Step {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The message template, merge fields not yet filled.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Normalised absolute http(s) URLs.
    pub fn media(&self) -> &[String] {
        &self.media
    }

    pub fn save_to(&self) -> Option<&ContactField> {
        self.save_to.as_ref()
    }

    /// Whether the reply must hold an e-mail address (the pre-made e-mail step, or a step
    /// saving to `Contact.Email`).
    pub fn expects_email(&self) -> bool {
        self.expects_email
    }

    /// False for a closing message: the run ends once it is sent.
    pub fn awaits_reply(&self) -> bool {
        self.await_reply
    }

    pub fn next(&self) -> &Next {
        &self.next
    }

    /// Where this step can lead: its `next`, every condition's `goto` and the fallback.
    pub fn targets(&self) -> Vec<&Goto> {
        if !self.await_reply {
            return Vec::new();
        }
        match &self.next {
            Next::Goto(goto) => vec![goto],
            Next::Decide {
                conditions,
                fallback,
                ..
            } => conditions
                .iter()
                .map(|c| &c.goto)
                .chain([fallback])
                .collect(),
        }
    }
}

/// A sequence that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    pub(super) origin: String,
    pub(super) account: AccountId,
    pub(super) name: String,
    pub(super) start: StartMode,
    pub(super) keywords: Vec<String>,
    pub(super) sender: String,
    pub(super) phone_field: ContactField,
    pub(super) note: bool,
    pub(super) opted_out_tag: Option<String>,
    pub(super) invalid_number_tag: Option<String>,
    /// The e-mail step first when there is one; never empty.
    pub(super) steps: Vec<Step>,
    pub(super) warnings: Vec<Problem>,
    pub(super) definition: SequenceFile,
}

impl Sequence {
    /// Where the definition came from (a path, or what the caller named it).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The id in `/crm/{account}/sequences/{name}/start`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn start_mode(&self) -> StartMode {
        self.start
    }

    /// The start keywords as written.
    pub fn keywords(&self) -> &[String] {
        &self.keywords
    }

    /// Whether an inbound text starts this sequence: keyword starts are on and the whole
    /// body is one of the keywords (case-insensitive; padding and trailing punctuation
    /// ignored, as for opt-out words).
    pub fn is_started_by(&self, body: &str) -> bool {
        if !self.start.by_keyword() {
            return false;
        }
        let body = normalise_answer(body);
        self.keywords.iter().any(|k| normalise_answer(k) == body)
    }

    /// The sender as written: check it with `SenderSpec::parse` against the account.
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// Where a keyword start stores the texter's number, and a CRM start reads it from.
    pub fn phone_field(&self) -> &ContactField {
        &self.phone_field
    }

    /// Whether the conversation is kept in a note on the contact.
    pub fn keeps_note(&self) -> bool {
        self.note
    }

    pub fn opted_out_tag(&self) -> Option<&str> {
        self.opted_out_tag.as_deref()
    }

    pub fn invalid_number_tag(&self) -> Option<&str> {
        self.invalid_number_tag.as_deref()
    }

    /// Every step, the run's first step first.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The `has_received` filters of the conditions of the step named `name`: what a reply
    /// there needs read from the conversation (nothing when it has none).
    pub fn received_filters(&self, name: &str) -> Vec<&ReceivedFilter> {
        let Some(Next::Decide { conditions, .. }) = self.step(name).map(Step::next) else {
            return Vec::new();
        };
        conditions
            .iter()
            .filter_map(|c| match &c.test {
                Test::HasReceived(filter) => Some(filter),
                _ => None,
            })
            .collect()
    }

    /// Where a run begins unless told otherwise.
    pub fn first_step(&self) -> &Step {
        // Validation refuses a sequence without steps; the e-mail step alone counts.
        &self.steps[0]
    }

    /// Problems that do not stop the sequence from running (steps no run reaches from the
    /// first step: still usable as a CRM start's `step`).
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// The definition as read: serialise it (JSON) to store the sequence, and validate it
    /// again on load with [`Sequence::from_file`](super::Sequence::from_file).
    pub fn definition(&self) -> &SequenceFile {
        &self.definition
    }

    /// Every contact field the engine reads: merge fields in messages, field-valued
    /// bounds, and the e-mail address when the pre-made e-mail step may be skipped for it.
    /// The contact snapshot given to the engine should hold each of them that has a value
    /// (custom fields in particular, which Keap returns only when asked for).
    pub fn fields_read(&self) -> BTreeSet<ContactField> {
        let mut fields = BTreeSet::new();
        if self.first_step().name == COLLECT_EMAIL_STEP
            && let Ok(email) = ContactField::parse(EMAIL_FIELD)
        {
            fields.insert(email);
        }
        for step in &self.steps {
            for name in crate::domain::merge::fields_in(&step.message) {
                if let Ok(field) = ContactField::parse(&name) {
                    fields.insert(field);
                }
            }
            if let Next::Decide { conditions, .. } = &step.next {
                for condition in conditions {
                    fields.extend(operand_fields(&condition.test));
                }
            }
        }
        fields
    }

    /// Every custom field the sequence reads or writes: a custom `phone_field`, the steps'
    /// `save_to` and the fields of [`Sequence::fields_read`]. The account's CRM must have
    /// each one: Keap refuses to write a custom field its app lacks (the Keap adapter's
    /// `set_custom_field`, `shared/src/adapters/keap.rs`), so they are created there first.
    pub fn custom_fields(&self) -> BTreeSet<CustomField> {
        let written = self.steps.iter().filter_map(|s| s.save_to.clone());
        std::iter::once(self.phone_field.clone())
            .chain(written)
            .chain(self.fields_read())
            .filter_map(|field| match field {
                ContactField::Custom(custom) => Some(custom),
                ContactField::Standard(_) => None,
            })
            .collect()
    }
}

fn operand_fields(test: &Test) -> Vec<ContactField> {
    use super::conditions::Operand;
    let field = |op: &Operand| match op {
        Operand::Field(f) => Some(f.clone()),
        Operand::Number(_) => None,
    };
    match test {
        Test::EqualsAny(_) | Test::HasReceived(_) => Vec::new(),
        Test::LessThan(op) | Test::GreaterThan(op) => field(op).into_iter().collect(),
        Test::Between { lower, upper } => field(&lower.operand)
            .into_iter()
            .chain(field(&upper.operand))
            .collect(),
    }
}
