//! Each use case's errors and outcomes as HTTP answers ([`HttpError`], [`HttpStatus`]): one
//! place that says which status and code each one answers with.

use axum::http::StatusCode;

use super::error::{HttpError, HttpStatus};
use crate::domain::AccountId;
use crate::usecases::Unavailable;
use crate::usecases::accounts::AuthError;
use crate::usecases::goals::ResetFailed;
use crate::usecases::inbound::InboundError;
use crate::usecases::received::CheckOutcome;
use crate::usecases::send_request::SendOutcome;
use crate::usecases::sequence::StartRefusal;
use crate::usecases::status::StatusError;

impl HttpStatus for AuthError {
    fn status(&self) -> StatusCode {
        match self {
            AuthError::InvalidAccount(_) | AuthError::UnknownAccount(_) => StatusCode::NOT_FOUND,
            AuthError::MissingKey => StatusCode::UNAUTHORIZED,
            AuthError::InvalidKey => StatusCode::FORBIDDEN,
            AuthError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl HttpError for AuthError {
    fn code(&self) -> &'static str {
        match self {
            AuthError::InvalidAccount(_) | AuthError::UnknownAccount(_) => "unknown_account",
            AuthError::MissingKey => "missing_key",
            AuthError::InvalidKey => "invalid_key",
            AuthError::Backend(_) => "internal",
        }
    }
}

impl HttpStatus for ResetFailed {
    fn status(&self) -> StatusCode {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

impl HttpError for ResetFailed {
    fn code(&self) -> &'static str {
        "internal"
    }
}

impl HttpStatus for InboundError {
    fn status(&self) -> StatusCode {
        match self {
            InboundError::Invalid(_) => StatusCode::BAD_REQUEST,
            InboundError::UnknownNumber(_) => StatusCode::NOT_FOUND,
            InboundError::BadSignature => StatusCode::FORBIDDEN,
            InboundError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl HttpError for InboundError {
    fn code(&self) -> &'static str {
        match self {
            InboundError::Invalid(_) => "invalid_request",
            InboundError::UnknownNumber(_) => "unknown_number",
            InboundError::BadSignature => "invalid_signature",
            InboundError::Backend(_) => "internal",
        }
    }

    fn report(&self) {
        if let InboundError::Backend(detail) = self {
            tracing::error!(detail, "inbound webhook failed");
        }
    }
}

impl HttpStatus for StatusError {
    fn status(&self) -> StatusCode {
        match self {
            StatusError::Invalid(_) => StatusCode::BAD_REQUEST,
            StatusError::UnknownAccount(_) | StatusError::UnknownMessage(_) => {
                StatusCode::NOT_FOUND
            }
            StatusError::BadSignature | StatusError::BadSecret => StatusCode::FORBIDDEN,
            StatusError::NotYet(_) => StatusCode::SERVICE_UNAVAILABLE,
            StatusError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl HttpError for StatusError {
    fn code(&self) -> &'static str {
        match self {
            StatusError::Invalid(_) => "invalid_request",
            StatusError::UnknownAccount(_) => "unknown_account",
            StatusError::UnknownMessage(_) => "unknown_message",
            StatusError::BadSignature => "invalid_signature",
            StatusError::BadSecret => "invalid_secret",
            StatusError::NotYet(_) => "not_yet",
            StatusError::Backend(_) => "internal",
        }
    }

    fn report(&self) {
        if let StatusError::Backend(detail) = self {
            tracing::error!(detail, "status callback failed");
        }
    }
}

/// A send request's answer: its outcome's status (the reply tells the code).
impl HttpStatus for SendOutcome {
    fn status(&self) -> StatusCode {
        match self {
            SendOutcome::Queued => StatusCode::ACCEPTED,
            SendOutcome::Invalid => StatusCode::BAD_REQUEST,
            SendOutcome::UnknownContact => StatusCode::NOT_FOUND,
            SendOutcome::Refused | SendOutcome::InProgress => StatusCode::CONFLICT,
            SendOutcome::QueueFull => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

/// A "has received SMS" check's answer: its outcome's status (the reply tells the code).
impl HttpStatus for CheckOutcome {
    fn status(&self) -> StatusCode {
        match self {
            CheckOutcome::Answered => StatusCode::OK,
            CheckOutcome::Invalid => StatusCode::BAD_REQUEST,
            CheckOutcome::UnknownContact => StatusCode::NOT_FOUND,
            CheckOutcome::InProgress => StatusCode::CONFLICT,
        }
    }
}

impl HttpStatus for StartRefusal {
    fn status(&self) -> StatusCode {
        match self {
            StartRefusal::UnknownSequence { .. } | StartRefusal::UnknownContact(_) => {
                StatusCode::NOT_FOUND
            }
            StartRefusal::AlreadyActive { .. }
            | StartRefusal::InProgress
            | StartRefusal::OptedOut(_)
            | StartRefusal::InvalidSequence { .. } => StatusCode::CONFLICT,
            StartRefusal::UnknownStep { .. }
            | StartRefusal::CrmStartOff(_)
            | StartRefusal::NoPhone { .. } => StatusCode::BAD_REQUEST,
        }
    }
}

impl HttpError for StartRefusal {
    fn code(&self) -> &'static str {
        StartRefusal::code(self)
    }
}

/// A CRM's request that could not be handled now ([`Unavailable`]): 503, telling what was
/// left undone (`nothing was queued`), logged with the account and what was asked.
#[derive(Debug, thiserror::Error)]
#[error("{error}; {undone}, retry later")]
pub struct Undone<'a> {
    error: Unavailable,
    account: &'a AccountId,
    /// What the CRM asked for (`send request`).
    asked: &'static str,
    undone: &'static str,
}

impl<'a> Undone<'a> {
    /// `error`'s answer to `asked` for `account`, when `undone` was left undone.
    pub fn answer(
        account: &'a AccountId,
        asked: &'static str,
        undone: &'static str,
    ) -> impl FnOnce(Unavailable) -> Undone<'a> {
        move |error| Undone {
            error,
            account,
            asked,
            undone,
        }
    }
}

impl HttpStatus for Undone<'_> {
    fn status(&self) -> StatusCode {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

impl HttpError for Undone<'_> {
    fn code(&self) -> &'static str {
        "unavailable"
    }

    fn report(&self) {
        let (account, error) = (self.account, &self.error);
        tracing::error!(account = %account, error = %error, "{} could not be handled", self.asked);
    }
}
