"""The SAM template expanded to plain CloudFormation, its functions' code in moto's S3."""

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import yaml
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from moto_stack.aws import Aws, StackError

CODE_BUCKET = "moto-stack-code"

# What moto's Lambda stores as each function's code: the stack runner runs the workspace
# binary named by the function's Metadata.BuildProperties.Binary instead.
BOOTSTRAP = b"""#!/bin/sh
echo 'smsflow: this code runs in the stack runner (stack/src)' >&2
exit 1
"""


def read_template(path: Path) -> dict[str, Any]:
    try:
        return yaml_parse(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StackError(f"cannot read {path}: {error}") from error


def expand(template: dict[str, Any], parameters: dict[str, str], aws: Aws) -> dict[str, Any]:
    """The template's SAM transform. Changes `template`'s `CodeUri`s to moto S3 objects."""
    code = _placeholder_zip()
    s3 = aws.client("s3")
    _create_bucket(s3, aws.region)
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == "AWS::Serverless::Function":
            key = f"{logical_id}.zip"
            s3.put_object(Bucket=CODE_BUCKET, Key=key, Body=code)
            resource["Properties"]["CodeUri"] = {"Bucket": CODE_BUCKET, "Key": key}
    # samtranslator takes the region (ARNs, partition) from boto3's default session.
    os.environ["AWS_DEFAULT_REGION"] = aws.region
    # Managed policy names (none today) resolve against moto's copy of AWS's policies.
    policies = ManagedPolicyLoader(aws.client("iam"))
    try:
        return transform(template, parameters, policies)
    except InvalidDocumentException as error:
        causes = "; ".join(cause.message for cause in error.causes)
        raise StackError(f"SAM transform failed: {causes}") from error


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo("bootstrap")
        entry.external_attr = 0o755 << 16
        archive.writestr(entry, BOOTSTRAP)
    return buffer.getvalue()


def _create_bucket(s3: Any, region: str) -> None:
    if region == "us-east-1":
        s3.create_bucket(Bucket=CODE_BUCKET)
    else:
        location = {"LocationConstraint": region}
        s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration=location)
