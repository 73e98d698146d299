//! The stack runner: `template.yaml` as deployed, on one machine. moto holds the stack's
//! resources (created from the SAM-expanded template by `moto_stack.py`); this crate runs
//! each function's binary under a Lambda Runtime API emulator with its template
//! environment and only its role's permissions, fronts its HTTP API routes and function
//! URLs, polls its SQS event source mappings, and stands in for Twilio and Keap.

pub mod manifest;
