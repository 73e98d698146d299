//! The names a command on AWS needs (table, queue URLs, CRM URL): each from its SMSFLOW_*
//! variable when set, else from the deployed stack's output.

use std::collections::HashMap;

use smsflow_shared::config::{
    AUTOMATION_DLQ_URL_VAR, AUTOMATION_QUEUE_URL_VAR, EnvError, FunctionEnv, QueueUrl, QueueUrls,
    SEND_DLQ_URL_VAR, SEND_QUEUE_URL_VAR,
};
use smsflow_shared::ports::QueueName;

use super::STACK_VAR;
use crate::output::{CliError, CliResult};

/// A name the CLI reads from a stack output, or from the variable that overrides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Setting {
    Table,
    SendQueue,
    SendDeadLetterQueue,
    AutomationQueue,
    AutomationDeadLetterQueue,
    /// The base URL of the CRM-facing routes (for the send URL `accounts rotate-key` prints).
    CrmUrl,
    /// Where Twilio posts a number's texts (what `numbers buy`, `wire` and `check` set and
    /// compare).
    TwilioInboundUrl,
}

impl Setting {
    const ALL: [Setting; 7] = [
        Setting::Table,
        Setting::SendQueue,
        Setting::SendDeadLetterQueue,
        Setting::AutomationQueue,
        Setting::AutomationDeadLetterQueue,
        Setting::CrmUrl,
        Setting::TwilioInboundUrl,
    ];

    /// The environment variable that overrides the output.
    pub fn var(self) -> &'static str {
        match self {
            Setting::Table => "SMSFLOW_TABLE",
            Setting::SendQueue => SEND_QUEUE_URL_VAR,
            Setting::SendDeadLetterQueue => SEND_DLQ_URL_VAR,
            Setting::AutomationQueue => AUTOMATION_QUEUE_URL_VAR,
            Setting::AutomationDeadLetterQueue => AUTOMATION_DLQ_URL_VAR,
            Setting::CrmUrl => "SMSFLOW_CRM_URL",
            Setting::TwilioInboundUrl => "SMSFLOW_TWILIO_INBOUND_URL",
        }
    }

    /// The stack output (template.yaml's Outputs).
    pub fn output(self) -> &'static str {
        match self {
            Setting::Table => "TableName",
            Setting::SendQueue => "SendQueueUrl",
            Setting::SendDeadLetterQueue => "SendDeadLetterQueueUrl",
            Setting::AutomationQueue => "AutomationQueueUrl",
            Setting::AutomationDeadLetterQueue => "AutomationDeadLetterQueueUrl",
            Setting::CrmUrl => "CampaignSendFunctionUrl",
            Setting::TwilioInboundUrl => "TwilioInboundWebhookUrl",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Setting::Table => "the DynamoDB table",
            Setting::SendQueue => "the send queue's URL",
            Setting::SendDeadLetterQueue => "the send dead-letter queue's URL",
            Setting::AutomationQueue => "the automation queue's URL",
            Setting::AutomationDeadLetterQueue => "the automation dead-letter queue's URL",
            Setting::CrmUrl => "the campaign-send function's URL",
            Setting::TwilioInboundUrl => "the Twilio inbound webhook URL",
        }
    }

    fn of_var(var: &str) -> Option<Setting> {
        Setting::ALL.into_iter().find(|s| s.var() == var)
    }

    fn dead_letters_of(queue: QueueName) -> Setting {
        match queue {
            QueueName::Send => Setting::SendDeadLetterQueue,
            QueueName::Automation => Setting::AutomationDeadLetterQueue,
        }
    }
}

/// A deployed stack's outputs.
#[derive(Debug, Clone)]
pub(super) struct StackOutputs {
    pub(super) name: String,
    pub(super) status: String,
    pub(super) outputs: HashMap<String, String>,
}

/// Where the names come from: the variables set, then the stack's outputs.
#[derive(Debug, Clone)]
pub(super) struct Names {
    env: HashMap<Setting, String>,
    stack: Option<StackOutputs>,
}

impl Names {
    /// The SMSFLOW_* variables set (and not blank), over the outputs of `stack`.
    pub(super) fn from_env(stack: Option<StackOutputs>) -> Self {
        let env = Setting::ALL
            .into_iter()
            .filter_map(|s| {
                let value = std::env::var(s.var()).ok()?;
                (!value.trim().is_empty()).then_some((s, value))
            })
            .collect();
        Names { env, stack }
    }

    pub(super) fn get(&self, setting: Setting) -> Option<String> {
        self.env.get(&setting).cloned().or_else(|| {
            let stack = self.stack.as_ref()?;
            stack.outputs.get(setting.output()).cloned()
        })
    }

    pub(super) fn require(&self, setting: Setting) -> CliResult<String> {
        self.get(setting).ok_or_else(|| self.missing(setting))
    }

    /// Names what is missing and where it would come from.
    fn missing(&self, setting: Setting) -> CliError {
        let (var, output) = (setting.var(), setting.output());
        match &self.stack {
            Some(stack) => CliError::invalid(format!(
                "stack {} ({}) has no output {output} ({})",
                stack.name,
                stack.status,
                setting.what()
            ))
            .with_hint(format!(
                "is it an smsflow stack, deployed from this version's template.yaml? \
                 Deploy it again (`sam deploy`), or export {var}=<the {}>",
                setting.what().trim_start_matches("the ")
            )),
            None => CliError::invalid(format!("{var} is not set ({})", setting.what())).with_hint(
                format!(
                    "pass --stack NAME (or set {STACK_VAR}) to read the deployed stack's \
                     outputs, or export {var}=<the stack's {output} output>"
                ),
            ),
        }
    }

    /// The queue URLs, with the dead-letter queue of `dead_letters_of` required.
    pub(super) fn queue_urls(&self, dead_letters_of: Option<QueueName>) -> CliResult<QueueUrls> {
        if let Some(queue) = dead_letters_of {
            self.require(Setting::dead_letters_of(queue))?;
        }
        let url = |queue, dead_letter| -> CliResult<QueueUrl> {
            Ok(QueueUrl {
                queue: self.require(queue)?,
                dead_letter: self.get(dead_letter),
            })
        };
        Ok(QueueUrls {
            send: url(Setting::SendQueue, Setting::SendDeadLetterQueue)?,
            automation: url(Setting::AutomationQueue, Setting::AutomationDeadLetterQueue)?,
        })
    }

    /// The environment the Lambda functions get, with the stack's outputs for what is not
    /// set.
    pub(super) fn function_env(&self) -> CliResult<FunctionEnv> {
        FunctionEnv::from_lookup(|var| match Setting::of_var(var) {
            Some(setting) => self.get(setting),
            None => std::env::var(var).ok(),
        })
        .map_err(|e: EnvError| match Setting::of_var(e.name) {
            Some(setting) => self.missing(setting),
            None => CliError::invalid(e.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::ErrorKind;

    fn names(env: &[(Setting, &str)], outputs: Option<&[(&str, &str)]>) -> Names {
        Names {
            env: env.iter().map(|(s, v)| (*s, v.to_string())).collect(),
            stack: outputs.map(|outputs| StackOutputs {
                name: "prod".into(),
                status: "UPDATE_COMPLETE".into(),
                outputs: outputs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            }),
        }
    }

    #[test]
    fn variables_override_outputs_one_by_one() {
        let names = names(
            &[(Setting::Table, "from-env")],
            Some(&[
                ("TableName", "from-stack"),
                ("SendQueueUrl", "https://q/send"),
            ]),
        );
        assert_eq!(names.get(Setting::Table).as_deref(), Some("from-env"));
        assert_eq!(
            names.get(Setting::SendQueue).as_deref(),
            Some("https://q/send")
        );
        assert_eq!(names.get(Setting::CrmUrl), None);
    }

    #[test]
    fn a_missing_name_says_where_it_comes_from() {
        let cases = [
            (
                names(&[], None),
                "SMSFLOW_TABLE is not set (the DynamoDB table)",
                "pass --stack NAME (or set SMSFLOW_STACK)",
            ),
            (
                names(&[], Some(&[])),
                "stack prod (UPDATE_COMPLETE) has no output TableName (the DynamoDB table)",
                "export SMSFLOW_TABLE=<the DynamoDB table>",
            ),
        ];
        for (names, message, hint) in cases {
            let error = names.require(Setting::Table).expect_err("missing");
            assert_eq!(error.kind, ErrorKind::InvalidInput);
            assert_eq!(error.message, message);
            let got = error.hint.unwrap_or_default();
            assert!(got.contains(hint), "{got}");
        }
    }

    #[test]
    fn queue_urls_require_the_dead_letter_queue_read() {
        let all = [
            ("SendQueueUrl", "https://q/send"),
            ("AutomationQueueUrl", "https://q/automation"),
            ("AutomationDeadLetterQueueUrl", "https://q/automation-dlq"),
        ];
        let names = names(&[], Some(&all));
        let urls = names
            .queue_urls(Some(QueueName::Automation))
            .expect("the automation dead letters are named");
        assert_eq!(urls.send.dead_letter, None);
        assert_eq!(
            urls.automation.dead_letter.as_deref(),
            Some("https://q/automation-dlq")
        );
        let error = names
            .queue_urls(Some(QueueName::Send))
            .expect_err("no send dead-letter queue");
        assert!(
            error
                .message
                .contains("has no output SendDeadLetterQueueUrl"),
            "{}",
            error.message
        );
    }

    #[test]
    fn function_env_reads_outputs_and_names_what_is_missing() {
        let outputs = [("TableName", "t"), ("SendQueueUrl", "https://q/send")];
        let error = names(&[], Some(&outputs))
            .function_env()
            .expect_err("no automation queue");
        assert!(
            error.message.contains("has no output AutomationQueueUrl"),
            "{}",
            error.message
        );
        let env = names(
            &[(Setting::AutomationQueue, "https://q/automation")],
            Some(&outputs),
        )
        .function_env()
        .expect("complete");
        assert_eq!(env.table, "t");
        assert_eq!(env.queues.automation.queue, "https://q/automation");
    }
}
