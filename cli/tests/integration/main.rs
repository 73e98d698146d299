//! The `smsflow` binary's tests, in one test binary (one link instead of one per file):
//! each module is one suite, run by nextest by its module path (e.g. `cargo nextest run -p
//! smsflow-cli -E 'test(/^operations_aws::/)'`).

mod cli;
mod numbers;
mod operations;
mod operations_aws;
mod send;
mod support;
