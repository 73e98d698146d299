//! Storage conformance: what every `Store` backend must do (the access patterns of
//! `ports/store/` and the rules of `docs/storage.md`).
//!
//! Each case takes a fresh, empty store. [`store_conformance!`](crate::store_conformance)
//! turns all of them into one test per case for a backend:
//!
//! ```ignore
//! smsflow_tests::store_conformance!(dynamodb, dynamo_store());
//! ```

use std::collections::BTreeSet;
use std::time::Duration;

use futures::future::join_all;
use serde_json::json;
use smsflow_shared::domain::consent::{BouncePolicy, PhoneEvent, PhoneHealth, PhoneStatus};
use smsflow_shared::domain::sequence::{FileFormat, Sequence};
use smsflow_shared::domain::{
    Account, AccountId, ContactId, Direction, GoalName, IdempotencyKey, MessageId, MessageRecord,
    MessageSid, MessageStatus, PhoneNumber, SessionId, Timestamp,
};
use smsflow_shared::ports::*;

use crate::fixtures::{account, account_id, phone};

const N1: &str = "+14155552671";
const N2: &str = "+14155552672";
const N3: &str = "+14155552673";
const N4: &str = "+14155552674";

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

/// A 26-character id that sorts like the ULIDs the id generator makes: by `n`.
fn message_id(n: u32) -> MessageId {
    MessageId::new(format!("01J{n:023}"))
}

fn message(account: &str, contact: &str, n: u32, provider_sid: Option<&str>) -> MessageRecord {
    MessageRecord {
        id: (message_id(n)),
        account: account_id(account),
        contact_phone: phone(contact),
        our_sender: N4.into(),
        direction: Direction::Outbound,
        body: format!("message {n}"),
        media_urls: vec![],
        status: MessageStatus::Queued,
        provider_sid: provider_sid.map(str::to_string).map(MessageSid::new),
        error_code: None,
        user_id: Some("mary".into()),
        campaign: None,
        kind: None,
        created_at: t(i64::from(n)),
        updated_at: t(i64::from(n)),
        contact_id: None,
        routing: None,
    }
}

async fn put(store: &dyn Store, account: &Account) {
    store.put_account(account).await.expect("put_account");
}

async fn owner_of(store: &dyn Store, number: &str) -> Option<String> {
    store
        .account_by_number(&phone(number))
        .await
        .expect("account_by_number")
        .map(|a| a.id.to_string())
}

async fn record(store: &dyn Store, message: &MessageRecord) -> Recorded {
    store.record_message(message).await.expect("record_message")
}

async fn conversation_ids(
    store: &dyn Store,
    account: &str,
    contact: &str,
    limit: usize,
) -> Vec<MessageId> {
    store
        .conversation(&account_id(account), &phone(contact), limit)
        .await
        .expect("conversation")
        .into_iter()
        .map(|m| m.id)
        .collect()
}

mod accounts;
mod claims;
mod consent;
mod conversations;
mod crm_support;
mod inbox;
mod send_path;
mod sending;
mod sequences;
mod status;

pub use accounts::*;
pub use claims::*;
pub use consent::*;
pub use conversations::*;
pub use crm_support::*;
pub use inbox::*;
pub use send_path::*;
pub use sending::*;
pub use sequences::*;
pub use status::*;

/// One `#[tokio::test]` per storage conformance case, in a module `$name`, each on a fresh
/// store from `$factory` (an expression whose `.await` yields something that derefs to a
/// `dyn Store`, e.g. `Arc<dyn Store>`). Items of the invoking module are in scope.
#[macro_export]
macro_rules! store_conformance {
    ($name:ident, $factory:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $crate::store_conformance!(@cases $factory;
                accounts_put_and_get,
                instasent_accounts_put_and_get,
                number_taken_changes_nothing,
                re_put_account_releases_dropped_numbers,
                accounts_are_found_by_messaging_service,
                service_taken_changes_nothing,
                re_put_account_releases_dropped_services,
                receiving_account_prefers_the_numbers_owner,
                record_message_refuses_duplicates,
                record_message_with_consent_stores_both_or_neither,
                conversation_is_newest_first_and_isolated,
                message_by_sid_finds_the_message,
                record_routing_annotates_the_message,
                errors_quote_numbers_masked,
                goal_log_lists_a_threads_goals_once_each,
                refusal_log_lists_a_threads_refusals_once_each,
                attach_provider_sid_makes_the_message_findable,
                apply_status_is_forward_only,
                apply_status_keeps_the_first_error_code,
                apply_status_unknown_sid,
                apply_status_by_id_for_a_message_without_sid,
                apply_status_converges_whatever_the_order,
                apply_status_after_an_end_changes_nothing,
                consent_newer_change_wins,
                sessions_one_active_per_contact,
                sessions_update_and_end_need_the_session_id,
                sessions_one_start_wins_under_concurrency,
                sessions_update_needs_the_revision_read,
                sequences_put_get_list_delete,
                sequence_note_is_recorded_once,
                idempotency_claim_complete_release,
                idempotency_expired_claim_is_new,
                idempotency_lapsed_lease_is_taken_over,
                idempotency_claim_is_exclusive_under_concurrency,
                send_attempts_begin_once_and_finish_once,
                send_attempts_withdraw_only_the_attempt_named,
                send_attempts_are_refused_after_an_opt_out,
                admission_is_exact_under_concurrency,
                admission_counts_each_message_once,
                send_path_request_view_reads_claim_standing_and_contact,
                send_path_claim_and_admit_is_both_or_neither,
                send_path_claim_and_admit_is_exact_under_concurrency,
                send_path_begin_send_records_the_message_with_the_attempt,
                send_path_settle_send_attaches_releases_and_finishes,
                rate_sequential_reservations_are_spaced_by_cost,
                rate_concurrent_reservations_never_overlap,
                disabled_goals_disable_list_reset,
                account_for_goal_reads_the_goals_flag,
                contact_cache_hit_expiry_forget,
                phone_health_defaults_to_active,
                phone_hard_failures_bounce_and_delivery_clears,
                phone_paused_is_untouched_by_traffic,
                phone_operator_sets_the_status,
                phone_concurrent_hard_failures_all_count,
                opt_out_import_adds_once_and_keeps_newer_opt_ins,
                opt_outs_are_listed_per_account_in_phone_order,
                recent_conversations_are_newest_first_per_account,
                messages_since_reads_one_bounded_window,
                job_failures_keep_the_latest_until_they_expire,
                reply_grants_keep_until_they_expire,
                sign_in_links_work_once_and_expire,
                sign_in_requests_are_counted_per_address_and_window,
                inbox_sessions_keep_until_they_expire_or_end,
                read_marks_only_move_forward_per_user,
            );
        }
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let store = $factory.await;
                $crate::conformance::store::$case(&*store).await;
            }
        )*
    };
}
