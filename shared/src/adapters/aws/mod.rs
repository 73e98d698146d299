//! AWS adapters: DynamoDB, SQS, SES v2, S3 (received e-mail), the wiring that builds the
//! application from a function's environment, and the functions' logs.

pub mod dynamodb;
pub mod function_logs;
pub mod s3;
pub mod ses;
pub mod sqs;
pub mod wiring;
