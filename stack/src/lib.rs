//! The stack runner: `template.yaml` as deployed, on one machine. moto holds the stack's
//! resources (created from the SAM-expanded template by `stack/moto_stack`); this crate runs
//! each function's binary under a Lambda Runtime API emulator with its template
//! environment and only its role's permissions, fronts its HTTP API routes and function
//! URLs, polls its SQS event source mappings, and stands in for Twilio and Keap.

pub mod audit;
pub mod aws_proxy;
pub mod aws_request;
pub mod control;
pub mod event_source;
pub mod fronts;
pub mod functions;
pub mod instasent;
pub mod keap;
pub mod lambda;
pub mod manifest;
pub mod moto_process;
pub mod operator;
pub mod policy;
pub mod runner;
pub mod sandbox;
pub mod sent_emails;
pub mod ses_receiving;
pub mod sqs_rules;
pub mod stack_config;
pub mod stand_ins;
#[cfg(test)]
mod test_accounts;
pub mod twilio;
pub mod twilio_numbers;

/// A UUID-shaped id, as AWS's request ids.
pub(crate) fn request_id() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
