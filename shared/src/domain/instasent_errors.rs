//! What Instasent's answers and delivery reports mean for us, beside Twilio's code table
//! (`twilio_errors.rs`): each becomes smsflow's own [`ErrorClass`], so goals, phone health
//! and opt-outs follow from the class exactly as for Twilio.
//!
//! Instasent documents its DLR statuses by name only and gives no meaning for their numeric
//! `code` (see `README.md`, "Instasent"), so the class follows from the status. Assumed:
//! `failed` ("could not be delivered") is the handset or number's fault and counts as a
//! hard failure towards a bounce (Connectif's `bounced`), as Twilio's 30006 does;
//! `rejected` (by the carrier) is a carrier block, also a hard failure; `error` ("could not
//! be sent") and `canceled` are Instasent's side; `expired` may well work later.

use super::message::MessageStatus;
use super::twilio_errors::ErrorClass;

/// What one Instasent delivery report says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DlrMeaning {
    /// Progress on the forward-only status order.
    Progress(MessageStatus),
    /// The message failed, with the class of the failure.
    Failure {
        status: MessageStatus,
        class: ErrorClass,
    },
    /// The recipient opted out (`stop`): recorded as Twilio's STOP is.
    OptOut,
    /// A status we do not know (`unknown`, or one Instasent adds): logged and ignored.
    Unknown,
}

/// The meaning of a DLR `status` (lower-case, as Instasent sends it).
pub fn dlr_meaning(status: &str) -> DlrMeaning {
    use DlrMeaning::{Failure, OptOut, Progress, Unknown};
    use MessageStatus as S;
    match status {
        "sent" | "accepted" | "buffered" => Progress(S::Sent),
        "delivered" => Progress(S::Delivered),
        "failed" => Failure {
            status: S::Undelivered,
            class: ErrorClass::NotSmsCapable,
        },
        "rejected" => Failure {
            status: S::Undelivered,
            class: ErrorClass::Blocked,
        },
        "expired" => Failure {
            status: S::Undelivered,
            class: ErrorClass::Transient,
        },
        "error" | "canceled" => Failure {
            status: S::Failed,
            class: ErrorClass::Other,
        },
        "stop" => OptOut,
        _ => Unknown,
    }
}

/// Why Instasent refused a send, by the HTTP status of its answer (its error bodies carry
/// no code of their own): the detail shown to operators.
pub fn refusal_detail(http_status: u16) -> &'static str {
    match http_status {
        400 => "Instasent could not read the request (bad request)",
        401 => "Instasent refused the API token (missing or revoked)",
        402 => "the Instasent account is out of balance: top it up, nothing is retried until then",
        404 => "Instasent does not know the resource",
        413 => "the message is too large for Instasent",
        _ => "Instasent refused the message",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DlrMeaning::{Failure, OptOut, Progress, Unknown};
    use MessageStatus as S;

    #[test]
    fn every_documented_dlr_status_has_a_meaning() {
        let failure = |status, class| Failure { status, class };
        let cases = [
            ("sent", Progress(S::Sent)),
            ("accepted", Progress(S::Sent)),
            ("buffered", Progress(S::Sent)),
            ("delivered", Progress(S::Delivered)),
            ("failed", failure(S::Undelivered, ErrorClass::NotSmsCapable)),
            ("rejected", failure(S::Undelivered, ErrorClass::Blocked)),
            ("expired", failure(S::Undelivered, ErrorClass::Transient)),
            ("error", failure(S::Failed, ErrorClass::Other)),
            ("canceled", failure(S::Failed, ErrorClass::Other)),
            ("stop", OptOut),
            ("unknown", Unknown),
            ("inbound", Unknown),
            ("DELIVERED", Unknown),
            ("", Unknown),
        ];
        for (status, want) in cases {
            assert_eq!(dlr_meaning(status), want, "{status:?}");
        }
    }

    #[test]
    fn refusals_say_what_to_fix() {
        for (status, words) in [
            (400, "bad request"),
            (401, "API token"),
            (402, "top it up"),
            (404, "does not know"),
            (413, "too large"),
            (418, "refused the message"),
        ] {
            assert!(refusal_detail(status).contains(words), "{status}");
        }
    }
}
