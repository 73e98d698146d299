//! A teammate's answer from the inbox: sent as them through the one send path (consent —
//! STOP wins —, queue limit, pacing, `SendManual`, the CRM note), from the number the
//! conversation last used (`domain::inbox::conversation_number`).

use super::sign_in::SignedIn;
use crate::app::App;
use crate::domain::PhoneNumber;
use crate::domain::inbox::{conversation_number, conversation_owner, sees};
use crate::domain::merge;
use crate::domain::send_request::SendFields;
use crate::usecases::Unavailable;
use crate::usecases::send_request::{SendReply, request_send};

/// What the reply form sends.
#[derive(Debug, Clone)]
pub struct InboxReply<'a> {
    pub phone: &'a PhoneNumber,
    pub text: &'a str,
    /// Made when the form was shown: a form sent twice (a double click, a retried post)
    /// sends once.
    pub request_id: &'a str,
}

/// What the reply did.
#[derive(Debug)]
pub enum Replied {
    Answered(SendReply),
    /// Another teammate's conversation, and the user is no admin.
    NotYours,
}

/// Sends `reply` as the signed-in user.
pub async fn reply(
    app: &App,
    signed_in: &SignedIn,
    reply: &InboxReply<'_>,
) -> Result<Replied, Unavailable> {
    let account = &signed_in.account;
    let messages = app
        .store
        .conversation(&account.id, reply.phone, 20)
        .await
        .map_err(|e| Unavailable(format!("cannot read the conversation: {e}")))?;
    if !sees(&signed_in.user, conversation_owner(&messages)) {
        return Ok(Replied::NotYours);
    }
    let mut fields = SendFields::default();
    fields.extend([
        ("phone".to_string(), reply.phone.to_string()),
        ("user".to_string(), signed_in.user.id.clone()),
        ("type".to_string(), "transactional".to_string()),
        ("message".to_string(), merge::literal(reply.text)),
        (
            "requestId".to_string(),
            format!("inbox-{}", reply.request_id),
        ),
    ]);
    if let Some(number) = conversation_number(account, &messages) {
        fields.extend([("from".to_string(), number.to_string())]);
    }
    Ok(Replied::Answered(
        request_send(app, account, &fields).await?,
    ))
}
