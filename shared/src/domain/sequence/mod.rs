//! Conversational SMS sequences (modelled on PlusThis's "SMS Sequences"; terms in
//! `docs/glossary.md`, "Sequences"): the pure core. Definitions,
//! their validation, and the run state machine. No I/O: storage, HTTP, the inbound
//! pipeline and the CRM calls live in the use cases that drive this module.
//!
//! # Definitions
//!
//! One file is one sequence of one account, in YAML (`.yaml`/`.yml`), TOML (`.toml`) or
//! JSON; the format is [`SequenceFile`], its JSON Schema is `schemas/sequence.schema.json`
//! and `examples/sequences/appointment.yaml` is a complete, commented example. In short:
//!
//! ```yaml
//! account: acme                 # the account id
//! name: appointment             # id in /crm/{account}/sequences/{name}/start
//! start: both                   # keyword | crm | both
//! keywords: [BOOK]              # whole-text keywords, case-insensitive
//! sender: "+14155550100"        # number, Messaging Service SID or alphanumeric id
//! phone_field: Contact.Phone1   # where the mobile number is kept (default Phone1)
//! collect_email_first: true     # pre-made first step `collect-email` (default true)
//! note: true                    # keep the conversation in a contact note (default false)
//! opted_out_tag: SMS opted out
//! invalid_number_tag: SMS invalid number
//! steps:
//!   - name: ask-size
//!     message: "How many people, ~Contact.FirstName~?"
//!     save_to: Contact._PartySize
//!     next:                     # or a step name, or `finish`; omitted: the step below
//!       conditions:             # top to bottom, first match wins
//!         - between: { at_least: 1, at_most: 8 }
//!           tag: Party booked
//!           goto: thanks
//!       fallback: ask-size      # when nothing matches
//!       fallback_tag: Party size unclear
//!   - name: thanks
//!     message: "Booked! See you soon."
//!     await_reply: false        # a closing message: the run ends once it is sent
//! ```
//!
//! Condition tests: `equals_any` (words/phrases, `*` wildcards), `less_than`,
//! `greater_than`, and `between` (`above`/`at_least` with `below`/`at_most`); numeric
//! values are numbers or `{ field: Contact._Name }`. How replies are read for them is in
//! [`conditions`].
//!
//! **Fields** are written like Keap merge fields: `Contact.<standard>` for the standard
//! fields in [`fields::STANDARD_FIELDS`] (`Contact.FirstName`, `Contact.Email`,
//! `Contact.Phone1`...), `Contact._<name>` for a custom field. Messages may merge any of
//! them; `save_to` takes `Contact.Email` or a custom field (what the CRM port can write);
//! `phone_field` takes `Contact.Phone1` or a custom field (the file check lets the other
//! `Contact.PhoneN` through; applying the file to an account refuses them, see
//! `usecases/sequence/definitions.rs`).
//!
//! **Validation** ([`Sequence::load`], [`Sequence::parse`], [`Sequence::from_file`]) refuses
//! a definition with a [`DefinitionError`] naming the file and listing every
//! [`Problem`] with its step: unknown steps or fields, steps from which no finish can be
//! reached, malformed numbers, inverted `between` bounds, empty messages, duplicate step
//! names, keywords missing (or reserved words such as STOP), bad media. Steps that no run
//! reaches from the first step are only warnings ([`Sequence::warnings`]): a CRM start may
//! still begin at them.
//!
//! # Runs
//!
//! [`advance`] is the whole engine:
//! `(sequence, Option<&RunState>, &Event, &ContactFields, now) -> Transition { state, effects }`.
//!
//! For the integrator:
//! 1. **Load**: `Sequence::load(path, text)` in the CLI; store
//!    `serde_json::to_string(sequence.definition())` and, when reading it back,
//!    `Sequence::parse(origin, json, FileFormat::Json)` (validation runs again, so an
//!    old definition that no longer passes is caught). Check `sequence.sender()` with
//!    `SenderSpec::parse` against the account.
//! 2. **Contact snapshot**: a [`ContactFields`] map keyed by merge name
//!    (`Contact.FirstName`, `Contact._Budget`), holding at least
//!    [`Sequence::fields_read`]. Missing fields read as empty.
//! 3. **Start**: an inbound text for which [`Sequence::is_started_by`] is true (after
//!    opt-out handling: STOP wins), or the CRM POST (`step` maps to `at_step`; check it
//!    with [`Sequence::step`] first to answer 400). Claim the session lock with the
//!    state's `expires_at`, then call `advance(.., None, &Event::Start { at_step,
//!    trigger_sid }, ..)`; `trigger_sid` is the keyword text's `MessageSid`, so a repeat of
//!    that webhook is ignored as a reply. A start while a run is active fails with
//!    [`EngineError::AlreadyActive`]; the storage lock is what makes that hold under
//!    concurrent starts.
//! 4. **Replies**: an inbound text from a contact with an active run becomes
//!    `Event::Reply { message_sid, body, media }`; an opt-out word becomes
//!    `Event::OptedOut`; a send failing for an invalid number (Twilio 21211, 21614...)
//!    becomes `Event::InvalidNumber`. A reply whose SID the run already took yields no
//!    effects and an unchanged state: store nothing, do nothing.
//! 5. **Effects**, in order: [`Effect::SendMessage`] (body already rendered, sent from
//!    the sequence's sender through the normal send path, so consent and pacing apply),
//!    [`Effect::SetEmail`], [`Effect::SaveField`] (a custom field), [`Effect::ApplyTag`],
//!    [`Effect::AppendToNote`] (one note per contact and sequence: create on first use,
//!    append afterwards, on later runs too), [`Effect::Finished`] (end the session).
//! 6. **State**: store `transition.state` (serde JSON) as the session's opaque state with
//!    its `expires_at`, conditionally on the session still being the one read.
//!
//! A run waits 24 h ([`RUN_LIFETIME`]) after its last activity; any event after that
//! (or [`Event::Expire`]) ends it with [`FinishReason::Expired`] and does not advance it.
//! An e-mail step (the pre-made one, or a step saving to `Contact.Email`) needs an
//! address in the reply: without one the step's question is sent again after
//! [`EMAIL_REASK_PREFIX`] and nothing is saved. Opt-outs and invalid numbers apply their
//! tag and end the run; with no run active, apply the tag directly
//! ([`Sequence::opted_out_tag`], [`Sequence::invalid_number_tag`]).

pub mod conditions;
pub mod definition;
pub mod engine;
pub mod fields;
pub mod file;
pub mod problem;
pub mod validate;

pub use conditions::{Condition, Goto, Operand, Pattern, Test};
pub use definition::{COLLECT_EMAIL_STEP, DEFAULT_EMAIL_QUESTION, Next, Sequence, Step};
pub use engine::{
    ContactFields, EMAIL_REASK_PREFIX, Effect, EngineError, Event, FinishReason,
    MAX_REMEMBERED_SIDS, RUN_LIFETIME, RunState, RunStatus, Transition, advance,
};
pub use fields::{ContactField, CustomField, FieldError, StandardField};
pub use file::{FINISH, FileFormat, SequenceFile, StartMode};
pub use problem::{DefinitionError, Problem, ProblemKind};
pub use validate::DEFAULT_PHONE_FIELD;

#[cfg(test)]
mod tests;
