"""Creating the stack in moto, and the steps that make it match a real deployment."""

import json
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from moto_stack.aws import Aws, StackError
from moto_stack.stack import Stack


def check_parameters(template: dict[str, Any], parameters: dict[str, str]) -> None:
    """CloudFormation rejects undeclared parameters; moto ignores them."""
    undeclared = sorted(set(parameters) - set(template.get("Parameters", {})))
    if undeclared:
        raise StackError(f"the template declares no parameter {', '.join(undeclared)}")


def create_stack(aws: Aws, name: str, template: dict[str, Any], parameters: dict[str, str]) -> None:
    cloudformation = aws.client("cloudformation")
    try:
        cloudformation.create_stack(
            StackName=name,
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        waiter = cloudformation.get_waiter("stack_create_complete")
        waiter.wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    except (ClientError, WaiterError) as error:
        raise StackError(f"creating stack {name} failed: {error}{_events(aws, name)}") from error


def _events(aws: Aws, name: str) -> str:
    try:
        events = aws.client("cloudformation").describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return ""  # the stack was not even registered: the error above says why
    lines = [
        f"\n  {e['LogicalResourceId']} {e['ResourceStatus']} {e.get('ResourceStatusReason', '')}"
        for e in events
    ]
    return "\nstack events (newest first):" + "".join(lines)


def disable_event_source_mappings(aws: Aws, stack: Stack) -> None:
    """moto's SQS invokes the function of an enabled mapping itself, through Docker, when a
    message arrives; the stack runner polls the queues instead."""
    lambda_ = aws.client("lambda")
    for _, uuid in stack.resources("AWS::Lambda::EventSourceMapping"):
        lambda_.update_event_source_mapping(UUID=uuid, Enabled=False)


def verify_mail_identities(aws: Aws, identities: list[str]) -> None:
    """What an operator does in SES before deploying; moto verifies at once."""
    sesv2 = aws.client("sesv2")
    for identity in identities:
        sesv2.create_email_identity(EmailIdentity=identity)
