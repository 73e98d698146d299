//! AWS adapters: DynamoDB, SQS, SES v2, and the wiring that builds the application from a
//! function's environment.

pub mod dynamodb;
pub mod ses;
pub mod sqs;
pub mod wiring;
