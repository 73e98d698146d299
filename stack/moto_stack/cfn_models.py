"""moto CloudFormation models for the resource types moto 5.2 lacks or creates incompletely.

Added, on moto's own service backends: AWS::ApiGatewayV2::Api and ::Stage, AWS::Lambda::Url,
AWS::CloudWatch::Alarm, AWS::SNS::Subscription, AWS::S3::BucketPolicy, AWS::SES::ReceiptRuleSet
and ::ReceiptRule. Completed (moto's model creates, then what
it drops is applied): AWS::IAM::Role and AWS::DynamoDB::Table.

moto's CloudFormation maps each resource type to a direct `CloudFormationModel` subclass and
builds that map once (`moto.cloudformation.parsing.get_model_map`, lru_cached over
`CloudFormationModel.__subclasses__()`; the last class defined for a type wins), so these
classes must exist before the first stack is created: `check_registered` fails fast if the
map was built without them. Properties arrive with every intrinsic (Ref, Fn::GetAtt, Fn::Sub,
Fn::If...) already resolved by moto. A property an added model does not implement fails the
stack instead of being dropped, so the template cannot silently outgrow these models.
"""

import fnmatch
import json
from typing import Any

from moto.apigatewayv2.models import Api, Stage, apigatewayv2_backends
from moto.awslambda.models import FunctionUrlConfig, lambda_backends
from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException, ValidationError
from moto.cloudwatch.models import Alarm as MotoAlarm
from moto.cloudwatch.models import (
    Dimension,
    Metric,
    MetricDataQuery,
    MetricStat,
    cloudwatch_backends,
)
from moto.core.common_models import CloudFormationModel
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.table import Table
from moto.iam.models import Role, iam_backends
from moto.s3.models import s3_backends
from moto.ses.models import ses_backends
from moto.sns.models import Subscription as MotoSubscription
from moto.sns.models import sns_backends
from moto.utilities.utils import get_partition


class _Added:
    """What the added models share: their type, name property, the properties and
    attributes they implement. Mixed in before `CloudFormationModel`, which each model
    must subclass directly (moto looks only at direct subclasses)."""

    CFN_TYPE: str
    NAME_PROPERTY = ""  # the property naming the resource, if the type has one
    PROPERTIES: frozenset[str]
    ATTRIBUTES: frozenset[str] = frozenset()

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.CFN_TYPE

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.NAME_PROPERTY

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.ATTRIBUTES

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties: dict[str, Any] = cloudformation_json.get("Properties", {})
        unsupported = sorted(set(properties) - cls.PROPERTIES)
        if unsupported:
            message = f"{cls.CFN_TYPE}: moto_stack does not model {unsupported}"
            raise ValidationError(message=message)
        return cls.create(resource_name, properties, account_id, region_name)

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        raise NotImplementedError

    def get_cfn_attribute(self, attribute_name: str) -> str:
        value = self.attributes().get(attribute_name)
        if value is None:
            raise UnformattedGetAttTemplateException()
        return value

    def attributes(self) -> dict[str, str]:
        """Fn::GetAtt's values, by the names in ATTRIBUTES."""
        return {}


class HttpApi(_Added, CloudFormationModel):
    """`AWS::ApiGatewayV2::Api`; Ref is the API id. The OpenAPI `Body` SAM generates is
    imported into the new API (moto implements ReimportApi's import, not ImportApi), which
    creates its routes and their Lambda proxy integrations."""

    CFN_TYPE = "AWS::ApiGatewayV2::Api"
    NAME_PROPERTY = "Name"
    PROPERTIES = frozenset(
        {"Body", "FailOnWarnings", "Name", "ProtocolType", "Description", "Tags"}
    )
    ATTRIBUTES = frozenset({"ApiEndpoint", "ApiId"})

    def __init__(self, api: Api):
        self.api = api

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        backend = apigatewayv2_backends[account_id][region]
        api = backend.create_api(
            api_key_selection_expression=None,
            cors_configuration=None,
            description=properties.get("Description"),
            disable_schema_validation=None,
            disable_execute_api_endpoint=None,
            name=name,
            protocol_type=properties.get("ProtocolType", "HTTP"),
            route_selection_expression=None,
            tags=properties.get("Tags", {}),
            version=None,
        )
        if "Body" in properties:
            # moto parses the body as YAML, which JSON is; it names the API after info.title.
            body = json.dumps(properties["Body"])
            backend.reimport_api(api.api_id, body, properties.get("FailOnWarnings", False))
        return cls(api)

    @property
    def physical_resource_id(self) -> str:
        return self.api.api_id

    def attributes(self) -> dict[str, str]:
        return {"ApiEndpoint": self.api.api_endpoint, "ApiId": self.api.api_id}

    def delete(self, account_id: str, region_name: str) -> None:
        apigatewayv2_backends[account_id][region_name].delete_api(self.api.api_id)


def _camel(name: str) -> str:
    """CloudFormation's `DestinationArn` is the API's `destinationArn`."""
    return name[0].lower() + name[1:]


class HttpApiStage(_Added, CloudFormationModel):
    """`AWS::ApiGatewayV2::Stage` (SAM's `$default` stage with AutoDeploy); Ref is its name."""

    CFN_TYPE = "AWS::ApiGatewayV2::Stage"
    NAME_PROPERTY = "StageName"
    PROPERTIES = frozenset({
        "ApiId", "StageName", "AutoDeploy", "AccessLogSettings", "DefaultRouteSettings",
        "Description", "StageVariables", "Tags",
    })

    def __init__(self, api_id: str, stage: Stage):
        self.api_id = api_id
        self.stage = stage

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        config = {_camel(key): value for key, value in properties.items() if key != "ApiId"}
        for key in ("accessLogSettings", "defaultRouteSettings"):
            if key in config:
                config[key] = {_camel(setting): value for setting, value in config[key].items()}
        stage = apigatewayv2_backends[account_id][region].create_stage(properties["ApiId"], config)
        return cls(properties["ApiId"], stage)

    @property
    def physical_resource_id(self) -> str:
        return self.stage.name

    def delete(self, account_id: str, region_name: str) -> None:
        apigatewayv2_backends[account_id][region_name].delete_stage(self.api_id, self.stage.name)


class FunctionUrl(_Added, CloudFormationModel):
    """`AWS::Lambda::Url` (SAM's `FunctionUrlConfig`); Ref is the function's ARN."""

    CFN_TYPE = "AWS::Lambda::Url"
    PROPERTIES = frozenset({"TargetFunctionArn", "AuthType", "InvokeMode", "Cors"})
    ATTRIBUTES = frozenset({"FunctionUrl", "FunctionArn"})

    def __init__(self, config: FunctionUrlConfig):
        self.config = config

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        target = properties["TargetFunctionArn"]
        settings = {key: value for key, value in properties.items() if key != "TargetFunctionArn"}
        config = lambda_backends[account_id][region].create_function_url_config(target, settings)
        # AWS's function URLs end in "/" (the template appends paths to them); moto's do not.
        config.url += "/"
        return cls(config)

    @property
    def physical_resource_id(self) -> str:
        return self.config.function.function_arn

    def attributes(self) -> dict[str, str]:
        return {"FunctionUrl": self.config.url, "FunctionArn": self.config.function.function_arn}

    def delete(self, account_id: str, region_name: str) -> None:
        backend = lambda_backends[account_id][region_name]
        backend.delete_function_url_config(self.config.function.function_arn)


class MetricAlarm(_Added, CloudFormationModel):
    """`AWS::CloudWatch::Alarm`, on one metric or on metric math (`Metrics`), as moto's
    PutMetricAlarm stores it; Ref is its name. moto never evaluates alarms."""

    # Property -> put_metric_alarm argument (`Metrics` is converted by _metric_query).
    ARGUMENTS = {
        "AlarmDescription": "description",
        "Namespace": "namespace",
        "MetricName": "metric_name",
        "Dimensions": "dimensions",
        "Statistic": "statistic",
        "ExtendedStatistic": "extended_statistic",
        "Period": "period",
        "Unit": "unit",
        "EvaluationPeriods": "evaluation_periods",
        "DatapointsToAlarm": "datapoints_to_alarm",
        "Threshold": "threshold",
        "ThresholdMetricId": "threshold_metric_id",
        "ComparisonOperator": "comparison_operator",
        "TreatMissingData": "treat_missing_data",
        "EvaluateLowSampleCountPercentile": "evaluate_low_sample_count_percentile",
        "ActionsEnabled": "actions_enabled",
        "AlarmActions": "alarm_actions",
        "OKActions": "ok_actions",
        "InsufficientDataActions": "insufficient_data_actions",
        "Tags": "tags",
    }
    CFN_TYPE = "AWS::CloudWatch::Alarm"
    NAME_PROPERTY = "AlarmName"
    PROPERTIES = frozenset({"AlarmName", "Metrics", *ARGUMENTS})
    ATTRIBUTES = frozenset({"Arn"})

    def __init__(self, alarm: MotoAlarm):
        self.alarm = alarm

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        # put_metric_alarm's required arguments a metric-math alarm does not have.
        arguments: dict[str, Any] = {
            "namespace": None, "metric_name": None, "period": None, "statistic": None,
            "threshold": None, "description": None, "dimensions": [], "alarm_actions": [],
        }
        for key, argument in cls.ARGUMENTS.items():
            if key in properties:
                arguments[argument] = properties[key]
        if arguments["threshold"] is not None:
            arguments["threshold"] = float(arguments["threshold"])
        if "Metrics" in properties:
            arguments["metric_data_queries"] = [_metric_query(q) for q in properties["Metrics"]]
        return cls(cloudwatch_backends[account_id][region].put_metric_alarm(name, **arguments))

    @property
    def physical_resource_id(self) -> str:
        return self.alarm.name

    def attributes(self) -> dict[str, str]:
        return {"Arn": self.alarm.alarm_arn}

    def delete(self, account_id: str, region_name: str) -> None:
        cloudwatch_backends[account_id][region_name].delete_alarms([self.alarm.name])


def _metric_query(query: dict[str, Any]) -> MetricDataQuery:
    """One `Metrics` entry, built as moto's PutMetricAlarm handler builds it."""
    metric_stat = None
    if "MetricStat" in query:
        stat = query["MetricStat"]
        metric = stat["Metric"]
        dimensions = [Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
        metric_stat = MetricStat(
            metric=Metric(metric["MetricName"], metric["Namespace"], dimensions),
            period=stat["Period"],
            stat=stat["Stat"],
            unit=stat.get("Unit"),
        )
    return MetricDataQuery(
        query_id=query["Id"],
        label=query.get("Label"),
        period=query.get("Period"),
        return_data=query.get("ReturnData"),
        expression=query.get("Expression"),
        metric_stat=metric_stat,
    )


class TopicSubscription(_Added, CloudFormationModel):
    """`AWS::SNS::Subscription`; Ref is the subscription ARN."""

    CFN_TYPE = "AWS::SNS::Subscription"
    PROPERTIES = frozenset({"TopicArn", "Protocol", "Endpoint"})

    def __init__(self, subscription: MotoSubscription):
        self.subscription = subscription

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        subscription = sns_backends[account_id][region].subscribe(
            properties["TopicArn"], properties["Endpoint"], properties["Protocol"]
        )
        return cls(subscription)

    @property
    def physical_resource_id(self) -> str:
        return self.subscription.arn

    def delete(self, account_id: str, region_name: str) -> None:
        sns_backends[account_id][region_name].unsubscribe(self.subscription.arn)


class BucketPolicy(_Added, CloudFormationModel):
    """`AWS::S3::BucketPolicy`; Ref is the bucket name."""

    CFN_TYPE = "AWS::S3::BucketPolicy"
    PROPERTIES = frozenset({"Bucket", "PolicyDocument"})

    def __init__(self, bucket: str):
        self.bucket = bucket

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        backend = s3_backends[account_id][get_partition(region)]
        document = json.dumps(properties["PolicyDocument"]).encode()
        backend.put_bucket_policy(properties["Bucket"], document)
        return cls(properties["Bucket"])

    @property
    def physical_resource_id(self) -> str:
        return self.bucket


class ReceiptRuleSet(_Added, CloudFormationModel):
    """`AWS::SES::ReceiptRuleSet`; Ref is its name. Like CloudFormation, it is created
    inactive (only SetActiveReceiptRuleSet activates one)."""

    CFN_TYPE = "AWS::SES::ReceiptRuleSet"
    NAME_PROPERTY = "RuleSetName"
    PROPERTIES = frozenset({"RuleSetName"})

    def __init__(self, name: str):
        self.name = name

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        rule_set = properties.get("RuleSetName") or name
        ses_backends[account_id][region].create_receipt_rule_set(rule_set)
        return cls(rule_set)

    @property
    def physical_resource_id(self) -> str:
        return self.name


class ReceiptRule(_Added, CloudFormationModel):
    """`AWS::SES::ReceiptRule`; Ref is its name. As SES does when a rule is created, the
    bucket's policy must let SES write under the S3 action's prefix and the function's
    policy must let SES invoke it (moto checks only that both exist)."""

    CFN_TYPE = "AWS::SES::ReceiptRule"
    PROPERTIES = frozenset({"RuleSetName", "Rule", "After"})

    def __init__(self, name: str):
        self.name = name

    @classmethod
    def create(cls, name: str, properties: dict[str, Any], account_id: str, region: str) -> Any:
        rule = {"Name": name, **properties["Rule"]}
        for action in rule.get("Actions", []):
            if "S3Action" in action:
                _ses_may_write(action["S3Action"], account_id, region)
            if "LambdaAction" in action:
                _ses_may_invoke(action["LambdaAction"]["FunctionArn"], account_id, region)
        backend = ses_backends[account_id][region]
        backend.create_receipt_rule(properties["RuleSetName"], rule, properties.get("After"))
        return cls(rule["Name"])

    @property
    def physical_resource_id(self) -> str:
        return self.name


def _ses_statements(document: str | bytes | None, action: str, resource: str) -> bool:
    """Whether a resource policy lets ses.amazonaws.com perform `action` on `resource`."""
    if not document:
        return False
    policy = json.loads(document)
    if isinstance(policy.get("Policy"), str):  # Lambda's GetPolicy wraps the document
        policy = json.loads(policy["Policy"])
    for statement in policy.get("Statement", []):
        principal = statement.get("Principal", {})
        services = principal.get("Service", []) if isinstance(principal, dict) else []
        services = [services] if isinstance(services, str) else services
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = statement.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if (statement.get("Effect") == "Allow" and "ses.amazonaws.com" in services
                and any(fnmatch.fnmatchcase(action, a) for a in actions)
                and any(fnmatch.fnmatchcase(resource, r) for r in resources)):
            return True
    return False


def _ses_may_write(s3_action: dict[str, Any], account_id: str, region: str) -> None:
    bucket = s3_action["BucketName"]
    key = f"{s3_action.get('ObjectKeyPrefix', '')}example-message-id"
    policy = s3_backends[account_id][get_partition(region)].get_bucket_policy(bucket)
    if not _ses_statements(policy, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"):
        raise ValidationError(message=f"Could not write to bucket: {bucket}")


def _ses_may_invoke(function_arn: str, account_id: str, region: str) -> None:
    try:
        policy = lambda_backends[account_id][region].get_policy(function_arn)
    except Exception:  # moto raises when the function has no policy at all
        policy = None
    if not _ses_statements(policy, "lambda:InvokeFunction", function_arn):
        raise ValidationError(
            message=f"Could not invoke Lambda function: {function_arn} (its policy: {policy})")


class IamRole(CloudFormationModel):
    """`AWS::IAM::Role` by moto's model, which ignores ManagedPolicyArns and stores an inline
    policy's document as the dict it is given (GetRolePolicy then answers the dict's Python
    repr, not JSON): the documents are handed to it as JSON, the managed policies attached."""

    @staticmethod
    def cloudformation_type() -> str:
        return Role.cloudformation_type()

    @staticmethod
    def cloudformation_name_type() -> str:
        return Role.cloudformation_name_type()

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return Role.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Role:
        properties = cloudformation_json["Properties"]
        policies = [
            {**policy, "PolicyDocument": json.dumps(policy["PolicyDocument"])}
            for policy in properties.get("Policies", [])
        ]
        resource = {**cloudformation_json, "Properties": {**properties, "Policies": policies}}
        role = Role.create_from_cloudformation_json(
            resource_name, resource, account_id, region_name, **kwargs
        )
        backend = iam_backends[account_id][get_partition(region_name)]
        for policy_arn in properties.get("ManagedPolicyArns", []):
            backend.attach_role_policy(policy_arn, role.name)
        return role


class DynamoDBTable(CloudFormationModel):
    """`AWS::DynamoDB::Table` by moto's model, which ignores TimeToLiveSpecification and
    PointInTimeRecoverySpecification: both applied as UpdateTimeToLive and
    UpdateContinuousBackups apply them."""

    @staticmethod
    def cloudformation_type() -> str:
        return Table.cloudformation_type()

    @staticmethod
    def cloudformation_name_type() -> str:
        return Table.cloudformation_name_type()

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return Table.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[misc]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Table:
        table = Table.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        properties = cloudformation_json["Properties"]
        backend = dynamodb_backends[account_id][region_name]
        if "TimeToLiveSpecification" in properties:
            backend.update_time_to_live(table.name, properties["TimeToLiveSpecification"])
        if "PointInTimeRecoverySpecification" in properties:
            pitr = properties["PointInTimeRecoverySpecification"]
            backend.update_continuous_backups(table.name, pitr)
        return table


MODELS = (
    HttpApi, HttpApiStage, FunctionUrl, MetricAlarm, TopicSubscription, BucketPolicy,
    ReceiptRuleSet, ReceiptRule, IamRole, DynamoDBTable,
)


def check_registered() -> None:
    """Fails when moto built its type map before the models above were defined."""
    model_map = parsing.get_model_map()
    missing = [
        model.cloudformation_type()
        for model in MODELS
        if model_map.get(model.cloudformation_type()) is not model
    ]
    if missing:
        raise RuntimeError(
            f"moto's CloudFormation type map was built before the models for {missing} "
            "were defined: import moto_stack.cfn_models before creating a stack"
        )
