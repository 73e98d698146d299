"""The manifest `stack/src/manifest.rs` deserialises, read back from moto through its APIs."""

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from moto_stack.aws import Aws, StackError
from moto_stack.stack import Stack


def build(aws: Aws, stack: Stack) -> dict[str, Any]:
    functions = [_function(aws, stack, logical_id, name)
                 for logical_id, name in stack.resources("AWS::Lambda::Function")]
    function_ids = {f["arn"]: f["logical_id"] for f in functions}
    queues = [_queue(aws, logical_id, url)
              for logical_id, url in stack.resources("AWS::SQS::Queue")]
    queue_urls = {q["arn"]: q["url"] for q in queues}
    return {
        "stack_name": stack.name,
        "region": aws.region,
        "account_id": aws.client("sts").get_caller_identity()["Account"],
        "moto_endpoint": aws.endpoint,
        "outputs": stack.outputs,
        "functions": functions,
        "http_apis": [_http_api(aws, logical_id, api_id, function_ids)
                      for logical_id, api_id in stack.resources("AWS::ApiGatewayV2::Api")],
        "function_urls": [_function_url(aws, logical_id, arn, function_ids)
                          for logical_id, arn in stack.resources("AWS::Lambda::Url")],
        "event_source_mappings": [
            _event_source_mapping(aws, logical_id, uuid, function_ids, queue_urls)
            for logical_id, uuid in stack.resources("AWS::Lambda::EventSourceMapping")
        ],
        "queues": queues,
        "receipt_rules": [rule for _, rule_set in stack.resources("AWS::SES::ReceiptRuleSet")
                          for rule in _receipt_rules(aws, rule_set, function_ids)],
    }


def write(manifest: dict[str, Any], path: Path) -> None:
    """Atomically: a reader sees the previous manifest or this one, never a part."""
    try:
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as error:
        raise StackError(f"cannot write {path}: {error}") from error
    try:
        with os.fdopen(descriptor, "w") as out:
            json.dump(manifest, out, indent=2)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _function(aws: Aws, stack: Stack, logical_id: str, name: str) -> dict[str, Any]:
    config = aws.client("lambda").get_function_configuration(FunctionName=name)
    declared = stack.declared(logical_id)
    binary = declared.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
    if not binary:
        raise StackError(f"function {logical_id} has no Metadata.BuildProperties.Binary")
    # moto's Lambda has no LoggingConfig (CreateFunction drops it, GetFunctionConfiguration
    # lacks it), so it is the template's, its Refs resolved from the stack.
    logging = stack.resolve(declared["Properties"].get("LoggingConfig", {}), logical_id)
    log_format = logging.get("LogFormat", "Text")
    level = logging.get("ApplicationLogLevel") if log_format == "JSON" else None
    return {
        "logical_id": logical_id,
        "name": config["FunctionName"],
        "arn": config["FunctionArn"],
        "binary": binary,
        "timeout_seconds": config["Timeout"],
        "memory_mb": config["MemorySize"],
        # Lambda's variables are strings; moto keeps a Number parameter's Ref as a number.
        "environment": {
            name: str(value)
            for name, value in config.get("Environment", {}).get("Variables", {}).items()
        },
        "log_format": log_format,
        "application_log_level": level,
        "log_group": logging.get("LogGroup", f"/aws/lambda/{config['FunctionName']}"),
        "role": _role(aws, config["Role"]),
    }


def _role(aws: Aws, arn: str) -> dict[str, Any]:
    """The role with every statement of its inline policies, then of its managed ones."""
    iam = aws.client("iam")
    role = iam.get_role(RoleName=arn.rsplit("/", 1)[-1])["Role"]
    name = role["RoleName"]
    documents = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
        for policy_name in page["PolicyNames"]:
            policy = iam.get_role_policy(RoleName=name, PolicyName=policy_name)
            documents.append(policy["PolicyDocument"])
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
        for attached in page["AttachedPolicies"]:
            policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
            version = iam.get_policy_version(
                PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
            )
            documents.append(version["PolicyVersion"]["Document"])
    statements = [_statement(s) for document in documents for s in _listed(document["Statement"])]
    return {"arn": role["Arn"], "name": name, "statements": statements}


def _statement(statement: dict[str, Any]) -> dict[str, Any]:
    """Action, Resource (and their Not forms) as lists, whichever form the policy used."""
    lists = ("Action", "NotAction", "Resource", "NotResource")
    return {key: _listed(value) if key in lists else value for key, value in statement.items()}


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _http_api(aws: Aws, logical_id: str, api_id: str,
              function_ids: dict[str, str]) -> dict[str, Any]:
    apigateway = aws.client("apigatewayv2")
    api = apigateway.get_api(ApiId=api_id)
    stages = [s["StageName"] for s in apigateway.get_stages(ApiId=api_id)["Items"]]
    if len(stages) != 1:
        raise StackError(f"HTTP API {logical_id} has stages {stages}; the runner serves one")
    integrations = apigateway.get_integrations(ApiId=api_id)["Items"]
    targets = {f"integrations/{i['IntegrationId']}": i for i in integrations}
    routes = [_route(logical_id, route, targets, function_ids)
              for route in apigateway.get_routes(ApiId=api_id)["Items"]]
    return {
        "logical_id": logical_id,
        "api_id": api_id,
        "domain": urlparse(api["ApiEndpoint"]).hostname,
        "stage": stages[0],
        "routes": sorted(routes, key=lambda r: (r["path"], r["method"])),
    }


def _route(api: str, route: dict[str, Any], targets: dict[str, Any],
           function_ids: dict[str, str]) -> dict[str, Any]:
    context = f"HTTP API {api}, route {route['RouteKey']}"
    method, _, path = route["RouteKey"].partition(" ")
    if not path.startswith("/"):
        raise StackError(f"{context}: not METHOD /path")
    integration = targets.get(route.get("Target", ""))
    if integration is None:
        raise StackError(f"{context}: no integration")
    # arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function arn>/invocations
    uri = integration["IntegrationUri"]
    function_arn = uri.split("/functions/", 1)[-1].removesuffix("/invocations")
    return {
        "method": method.upper(),
        "path": path,
        "function": _function_id(function_ids, function_arn, context),
        "payload_format_version": integration["PayloadFormatVersion"],
    }


def _function_url(aws: Aws, logical_id: str, function_arn: str,
                  function_ids: dict[str, str]) -> dict[str, Any]:
    config = aws.client("lambda").get_function_url_config(FunctionName=function_arn)
    return {
        "logical_id": logical_id,
        "function": _function_id(function_ids, config["FunctionArn"], logical_id),
        "url": config["FunctionUrl"],
        "auth_type": config["AuthType"],
        "invoke_mode": config["InvokeMode"],
    }


def _event_source_mapping(aws: Aws, logical_id: str, uuid: str, function_ids: dict[str, str],
                          queue_urls: dict[str, str]) -> dict[str, Any]:
    mapping = aws.client("lambda").get_event_source_mapping(UUID=uuid)
    queue_arn = mapping["EventSourceArn"]
    if queue_arn not in queue_urls:
        raise StackError(f"{logical_id}: {queue_arn} is not one of the stack's queues")
    return {
        "logical_id": logical_id,
        "function": _function_id(function_ids, mapping["FunctionArn"], logical_id),
        "queue_arn": queue_arn,
        # The URL CloudFormation gave the queue, as in the functions' environment (moto's
        # GetQueueUrl would answer with its own endpoint instead).
        "queue_url": queue_urls[queue_arn],
        "batch_size": mapping["BatchSize"],
        "maximum_batching_window_seconds": mapping.get("MaximumBatchingWindowInSeconds", 0),
        "function_response_types": mapping.get("FunctionResponseTypes", []),
        "maximum_concurrency": mapping.get("ScalingConfig", {}).get("MaximumConcurrency"),
    }


def _queue(aws: Aws, logical_id: str, url: str) -> dict[str, Any]:
    attributes = aws.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = attributes["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
    return {
        "logical_id": logical_id,
        "url": url,
        "arn": attributes["QueueArn"],
        "name": attributes["QueueArn"].rsplit(":", 1)[-1],
        "visibility_timeout_seconds": int(attributes["VisibilityTimeout"]),
        "delay_seconds": int(attributes["DelaySeconds"]),
        "message_retention_seconds": int(attributes["MessageRetentionPeriod"]),
        "redrive": redrive and {
            "dead_letter_target_arn": redrive["deadLetterTargetArn"],
            "max_receive_count": int(redrive["maxReceiveCount"]),
        },
    }


def _receipt_rules(aws: Aws, rule_set: str,
                   function_ids: dict[str, str]) -> list[dict[str, Any]]:
    """The rule set's rules in order, each action as the runner plays it."""
    described = aws.client("ses").describe_receipt_rule_set(RuleSetName=rule_set)
    return [{
        "rule_set": rule_set,
        "name": rule["Name"],
        "enabled": rule.get("Enabled", False),
        "recipients": rule.get("Recipients", []),
        "scan_enabled": rule.get("ScanEnabled", False),
        "actions": [_receipt_action(action, function_ids, rule["Name"])
                    for action in rule.get("Actions", [])],
    } for rule in described.get("Rules", [])]


def _receipt_action(action: dict[str, Any], function_ids: dict[str, str],
                    context: str) -> dict[str, Any]:
    if "S3Action" in action:
        s3 = action["S3Action"]
        return {"type": "S3", "bucket": s3["BucketName"], "prefix": s3.get("ObjectKeyPrefix", "")}
    if "LambdaAction" in action:
        invoke = action["LambdaAction"]
        return {
            "type": "Lambda",
            "function": _function_id(function_ids, invoke["FunctionArn"], context),
            "invocation_type": invoke.get("InvocationType", "Event"),
        }
    raise StackError(f"{context}: the runner plays only S3 and Lambda actions, not {action}")


def _function_id(function_ids: dict[str, str], arn: str, context: str) -> str:
    if arn not in function_ids:
        raise StackError(f"{context}: function {arn} is not one of the stack's")
    return function_ids[arn]
