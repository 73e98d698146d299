//! The workspace's integration tests, in one test binary: linking the whole dependency tree
//! once instead of once per suite is most of their build time. Each module is one suite;
//! nextest names a test by its module path (`cargo nextest run -p smsflow-tests -E
//! 'test(/^end_to_end::/)'` runs one suite).

mod aws_calls;
mod crash;
mod crash_recovery;
mod credential_conformance;
mod crm_conformance;
mod crm_failures;
mod email_replies;
mod end_to_end;
mod http_edges;
mod inbound_routing;
mod inbox_pages;
mod keywords;
mod lambda_events;
mod local_sandbox;
mod local_server;
mod mail_conformance;
mod openapi;
mod queue_conformance;
mod send_requests;
mod sending;
mod sequence_aws_calls;
mod sequence_notes;
mod sequences;
mod sms_conformance;
mod stack_operator;
mod status_callbacks;
mod stop_race;
mod store_conformance;
mod twilio_numbers;
