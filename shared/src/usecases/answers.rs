//! Requests a CRM may retry (send requests, sequence starts) are claimed under a key before
//! anything happens, and their answer is kept with the claim: a retry gets the first answer
//! and changes nothing. An answer that is not final (the request could not be handled, or
//! was refused for something a corrected retry can fix) gives the claim back. A claim is
//! leased for longer than a request can take: the retry of a request whose handler died
//! (a crash, a function timeout) takes it over instead of waiting for the claim to expire.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::IdempotencyKey;
use crate::domain::Timestamp;
use crate::ports::{Claim, ClaimTerms, IdempotencyRecord, IdempotencyStore, StoreResult};

/// What a claim found.
pub(crate) enum Claimed<T> {
    /// The first time (or a takeover from a handler that died): handle the request, then
    /// [`settle`] the claim. `first_claimed_at` is the same for the first handler and any
    /// that takes over, so ids derived from it come out the same.
    First { first_claimed_at: Timestamp },
    /// A repeat of a request already answered: this was the answer.
    Answered(T),
    /// A repeat of a request still being handled.
    InProgress,
}

/// Claims `key` on `terms` at `now`.
pub(crate) async fn claim<T: DeserializeOwned>(
    claims: &dyn IdempotencyStore,
    key: &IdempotencyKey,
    terms: ClaimTerms,
    now: Timestamp,
) -> StoreResult<Claimed<T>> {
    Ok(match claims.claim(key, terms, now).await? {
        Claim::New { first_claimed_at } => Claimed::First { first_claimed_at },
        Claim::Existing(record) => held(&record),
    })
}

/// What a record that holds the key says to a repeat: its answer, else in progress.
fn held<T: DeserializeOwned>(record: &IdempotencyRecord) -> Claimed<T> {
    match record.response.as_deref().map(serde_json::from_str) {
        Some(Ok(answer)) => Claimed::Answered(answer),
        _ => Claimed::InProgress,
    }
}

/// What a read of the key (live records only) found before anything is claimed: free to
/// claim (`Ok`, with the record to take over when its holder's lease lapsed), or held.
pub(crate) fn as_read<T: DeserializeOwned>(
    record: Option<&IdempotencyRecord>,
    now: Timestamp,
) -> Result<Option<&IdempotencyRecord>, Claimed<T>> {
    match record {
        None => Ok(None),
        Some(lapsed) if lapsed.lease_lapsed(now) => Ok(Some(lapsed)),
        Some(holder) => Err(held(holder)),
    }
}

/// Keeps a final answer with the claim, or gives the claim back (`None`). Failing to
/// settle is logged: the request was handled, and at worst a retry is handled afresh.
pub(crate) async fn settle<T: Serialize>(
    claims: &dyn IdempotencyStore,
    key: &IdempotencyKey,
    final_answer: Option<&T>,
) {
    let settled = match final_answer.map(serde_json::to_string) {
        Some(Ok(json)) => claims.complete(key, &json).await,
        Some(Err(e)) => {
            tracing::error!(key = %key, error = %e, "cannot serialise an answer; the claim is given back");
            claims.release(key).await
        }
        None => claims.release(key).await,
    };
    if let Err(e) = settled {
        tracing::warn!(key = %key, error = %e, "could not settle the request's claim");
    }
}
