//! Why a send request or a queued send sent nothing, kept on the conversation so an
//! operator reads it next to the thread (`smsflow conversations show`, `RefusalLog`).

use crate::domain::{AccountId, MessageId, PhoneNumber, Timestamp};
use crate::ports::{Refusal, RefusalLog};
use crate::usecases::Unavailable;

/// Records the refusal of `message_id` in the conversation with `phone`. Recorded under the
/// message id, so a retried request or job writes the same entry again.
pub(crate) async fn record_refusal(
    log: &dyn RefusalLog,
    account: &AccountId,
    phone: &PhoneNumber,
    message_id: &MessageId,
    (code, detail): (&str, &str),
    at: Timestamp,
) -> Result<(), Unavailable> {
    let refusal = Refusal {
        message_id: message_id.clone(),
        code: code.to_string(),
        detail: detail.to_string(),
        at,
    };
    log.record_refusal(account, phone, &refusal)
        .await
        .map_err(|e| Unavailable(format!("cannot record the refusal: {e}")))
}
