//! DynamoDB's errors as store errors: backend failures, failed conditions (with the item
//! that failed them) and the reasons a transaction was cancelled.

use std::fmt;

use aws_sdk_dynamodb::error::{BuildError, DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;

use super::item::Item;
use crate::ports::store::{StoreError, StoreResult};

/// The reason code DynamoDB gives for a transaction item whose condition failed.
pub(super) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// Reason codes of transactions cancelled by a concurrent one: worth retrying.
const CONFLICT_CODES: [&str; 2] = ["TransactionConflict", "ConditionalCheckFailed"];

pub(super) fn backend<E>(context: &str, err: &E) -> StoreError
where
    E: std::error::Error,
{
    StoreError::Backend(format!("DynamoDB {context}: {}", DisplayErrorContext(err)))
}

pub(super) fn build_error(err: BuildError) -> StoreError {
    StoreError::Backend(format!("DynamoDB request could not be built: {err}"))
}

/// Operation errors that can say "your condition failed".
pub(super) trait ConditionalError: std::error::Error + Sized + 'static {
    /// `Ok` with the item the condition saw (when the request asked for it) if the write's
    /// condition failed; `Err(self)` for any other error.
    fn into_condition_failure(self) -> Result<Option<Item>, Self>;
}

impl ConditionalError for PutItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            PutItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

impl ConditionalError for UpdateItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            UpdateItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

impl ConditionalError for DeleteItemError {
    fn into_condition_failure(self) -> Result<Option<Item>, Self> {
        match self {
            DeleteItemError::ConditionalCheckFailedException(e) => Ok(e.item),
            other => Err(other),
        }
    }
}

/// For a failed conditional write: `Ok(old item, if returned)` when its condition failed,
/// a backend error otherwise.
pub(super) fn condition_failed<E, R>(
    context: &str,
    err: SdkError<E, R>,
) -> StoreResult<Option<Item>>
where
    E: ConditionalError,
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => service
            .into_err()
            .into_condition_failure()
            .map_err(|other| backend(context, &other)),
        other => Err(backend(context, &other)),
    }
}

/// For a failed transaction: one reason code per transaction item (in request order) when it
/// was cancelled, a backend error otherwise.
pub(super) fn cancellation_reasons<R>(
    context: &str,
    err: SdkError<TransactWriteItemsError, R>,
) -> StoreResult<Vec<Option<String>>>
where
    R: fmt::Debug,
{
    match err {
        SdkError::ServiceError(service) => match service.into_err() {
            TransactWriteItemsError::TransactionCanceledException(cancelled) => Ok(cancelled
                .cancellation_reasons()
                .iter()
                .map(|reason| reason.code().map(str::to_string))
                .collect()),
            other => Err(backend(context, &other)),
        },
        other => Err(backend(context, &other)),
    }
}

pub(super) fn reason_is(reasons: &[Option<String>], index: usize, code: &str) -> bool {
    reasons.get(index).and_then(Option::as_deref) == Some(code)
}

pub(super) fn cancelled_error(context: &str, reasons: &[Option<String>]) -> StoreError {
    let codes: Vec<&str> = reasons
        .iter()
        .map(|r| r.as_deref().unwrap_or("None"))
        .collect();
    StoreError::Backend(format!(
        "DynamoDB {context}: transaction cancelled ({})",
        codes.join(", ")
    ))
}

/// Whether a cancelled transaction lost a race with a concurrent writer (worth reading again
/// and retrying) rather than failing for good.
pub(super) fn lost_race(reasons: &[Option<String>]) -> bool {
    reasons
        .iter()
        .flatten()
        .any(|code| CONFLICT_CODES.contains(&code.as_str()))
}
