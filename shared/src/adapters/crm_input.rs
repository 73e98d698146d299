//! The CRM port's input rules, shared by the CRM adapters: what Keap refuses, the webhook
//! CRM and the sandbox refuse too, with the same words (`CrmError::Rejected`, not retried).

use crate::ports::crm::{CrmError, CrmResult, NewNote};

/// A custom field is written by its name: a blank one names nothing.
pub(crate) fn check_field_name(field: &str) -> CrmResult<()> {
    refuse_if(field.trim().is_empty(), "a custom field needs a name")
}

/// A tag is applied by its name: a blank one names nothing.
pub(crate) fn check_tag_name(tag: &str) -> CrmResult<()> {
    refuse_if(tag.trim().is_empty(), "a tag needs a name")
}

/// A note with neither title nor body says nothing.
pub(crate) fn check_note_text(note: &NewNote) -> CrmResult<()> {
    refuse_if(
        note.title.trim().is_empty() && note.body.trim().is_empty(),
        "a note needs a title or a body",
    )
}

/// A goal is named by its integration and call name together.
pub(crate) fn check_goal_names(integration: &str, call_name: &str) -> CrmResult<()> {
    refuse_if(
        integration.trim().is_empty() || call_name.trim().is_empty(),
        "a goal needs an integration and a call name",
    )
}

fn refuse_if(refused: bool, why: &str) -> CrmResult<()> {
    if refused {
        return Err(CrmError::Rejected(why.into()));
    }
    Ok(())
}
