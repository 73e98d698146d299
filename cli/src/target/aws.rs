//! The AWS deployment a command acts on: the SDK configuration, with `--profile` and
//! `--region` applied as the AWS CLI applies them, and the stack's outputs.

use std::sync::Arc;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_config::provider_config::ProviderConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_cloudformation::error::{DisplayErrorContext, ProvideErrorMetadata};
use smsflow_shared::adapters::aws::dynamodb::{DynamoStore, create_table};
use smsflow_shared::adapters::aws::wiring::app_from_sdk;
use smsflow_shared::app::App;
use smsflow_shared::ports::Store;

use super::names::{Names, Setting, StackOutputs};
use super::{STACK_VAR, Target};
use crate::output::{CliError, CliResult, ErrorKind};

/// The AWS deployment a command acts on: the SDK configuration and the names it uses.
pub struct Deployment {
    pub(super) sdk: SdkConfig,
    pub(super) names: Names,
    create_table: bool,
}

impl Deployment {
    /// Loads the SDK configuration and reads the stack (`--stack`, else SMSFLOW_STACK) once.
    pub(super) async fn load(target: &Target) -> CliResult<Self> {
        let sdk = sdk_config(target).await?;
        let stack_name = target
            .stack
            .clone()
            .or_else(|| std::env::var(STACK_VAR).ok())
            .filter(|name| !name.trim().is_empty());
        let stack = match stack_name {
            Some(name) => Some(describe_stack(&sdk, &name).await?),
            None => None,
        };
        Ok(Deployment {
            sdk,
            names: Names::from_env(stack),
            create_table: target.create_table,
        })
    }

    /// The base URL of the CRM-facing routes, if the stack or SMSFLOW_CRM_URL gives it.
    pub fn crm_url(&self) -> Option<String> {
        self.names.get(Setting::CrmUrl)
    }

    /// Where Twilio must post the numbers' texts: the stack's TwilioInboundWebhookUrl output
    /// or SMSFLOW_TWILIO_INBOUND_URL, else what is missing and how to give it.
    pub fn twilio_inbound_url(&self) -> CliResult<String> {
        self.names.require(Setting::TwilioInboundUrl)
    }

    pub async fn store(&self) -> CliResult<Arc<dyn Store>> {
        let table = self.names.require(Setting::Table)?;
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        if self.create_table {
            create_table(&client, &table)
                .await
                .map_err(|e| CliError::from(e).context(format!("cannot create table {table}")))?;
        }
        Ok(Arc::new(DynamoStore::new(client, table)))
    }

    pub(super) async fn app(&self) -> CliResult<Arc<App>> {
        let env = self.names.function_env()?;
        if self.create_table {
            self.store().await?;
        }
        let app = app_from_sdk(&self.sdk, &env)
            .map_err(|e| CliError::new(ErrorKind::Internal, e.to_string()))?;
        Ok(Arc::new(app))
    }
}

const CREDENTIALS_HINT: &str = "pass --profile NAME (a profile of ~/.aws/config; `aws configure \
     list-profiles` lists them), or set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/// The SDK configuration with `--profile` and `--region` applied as the AWS CLI applies
/// them: `--region` over AWS_REGION over the profile's region, and the profile's
/// credentials over those in the environment.
async fn sdk_config(target: &Target) -> CliResult<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(profile) = &target.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &target.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let mut sdk = loader.load().await;
    if let Some(profile) = &target.profile {
        // The SDK's default chain reads AWS_ACCESS_KEY_ID before the named profile; the
        // AWS CLI uses the profile's credentials.
        let provider = ProfileFileCredentialsProvider::builder()
            .configure(&ProviderConfig::default().with_region(sdk.region().cloned()))
            .profile_name(profile)
            .build();
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .build();
    }
    check_credentials(&sdk, target).await?;
    if sdk.region().is_none() {
        return Err(CliError::invalid("no AWS region is configured").with_hint(
            "pass --region REGION, or set AWS_REGION, or a region in the profile (~/.aws/config)",
        ));
    }
    Ok(sdk)
}

/// Resolves the credentials now, so that a missing profile or credentials is reported as
/// such rather than as a failed request.
async fn check_credentials(sdk: &SdkConfig, target: &Target) -> CliResult {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(CliError::invalid("no AWS credentials provider").with_hint(CREDENTIALS_HINT));
    };
    let profile = match &target.profile {
        Some(name) => format!(" (profile {name})"),
        None => String::new(),
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(
            e @ (CredentialsError::CredentialsNotLoaded(_)
            | CredentialsError::InvalidConfiguration(_)),
        ) => Err(CliError::invalid(format!(
            "no AWS credentials{profile}: {}",
            DisplayErrorContext(&e)
        ))
        .with_hint(CREDENTIALS_HINT)),
        Err(e) => Err(CliError::new(
            ErrorKind::Backend,
            format!(
                "cannot get AWS credentials{profile}: {}",
                DisplayErrorContext(&e)
            ),
        )
        .with_hint("check the connection and the profile, then run the command again")),
    }
}

/// The outputs of stack `name` (DescribeStacks).
async fn describe_stack(sdk: &SdkConfig, name: &str) -> CliResult<StackOutputs> {
    let region = sdk.region().map(ToString::to_string).unwrap_or_default();
    let not_found = || {
        CliError::not_found(format!("stack {name} does not exist in region {region}")).with_hint(
            "check the name (`aws cloudformation list-stacks`) and the region and account: \
             --region, --profile",
        )
    };
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let described = match client.describe_stacks().stack_name(name).send().await {
        Ok(described) => described,
        // CloudFormation answers a missing stack with a generic validation error.
        Err(e)
            if e.code() == Some("ValidationError")
                && e.message().is_some_and(|m| m.contains("does not exist")) =>
        {
            return Err(not_found());
        }
        Err(e) => {
            return Err(CliError::new(
                ErrorKind::Backend,
                format!("cannot read stack {name}: {}", DisplayErrorContext(&e)),
            )
            .with_hint(
                "check the connection and the credentials (--profile, AWS_PROFILE; the caller \
                 needs cloudformation:DescribeStacks), then run the command again",
            ));
        }
    };
    let stack = described.stacks().first().ok_or_else(not_found)?;
    let outputs = stack
        .outputs()
        .iter()
        .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
        .collect();
    Ok(StackOutputs {
        name: name.to_string(),
        status: stack
            .stack_status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        outputs,
    })
}
