//! Configuration: the local server's file (accounts, server and mail settings) and the
//! environment a Lambda function reads. Every problem names the file, the field and what is
//! wrong, and stops startup.
//!
//! The file is read in `local`; each of its sections has its raw form and its checks in a
//! file of its own (`server`, `account`, `numbers`, `users`, `twilio`, `instasent`, `crm`), sharing the
//! `validator`. A function's environment is read in `env`, its queue URLs in `queues`.

mod account;
mod crm;
mod env;
mod instasent;
mod local;
mod numbers;
mod queues;
mod server;
mod twilio;
mod users;
mod validator;

pub use env::{EnvError, FunctionEnv, lease_from_lookup};
pub use local::LocalConfig;
pub use queues::{
    AUTOMATION_DLQ_URL_VAR, AUTOMATION_QUEUE_URL_VAR, QueueUrl, QueueUrls, QueueUrlsError,
    SEND_DLQ_URL_VAR, SEND_QUEUE_URL_VAR,
};
pub use server::{MailSettings, ServerSettings};
pub use validator::{ConfigError, ConfigProblems};

#[cfg(test)]
mod tests;
