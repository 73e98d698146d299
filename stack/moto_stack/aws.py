"""boto3 clients for the in-process moto, and the errors this package reports."""

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

# moto answers in-process: a retried call would repeat one that may have half-succeeded
# (a stack created before a resource failed), so none is retried.
CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})


class StackError(Exception):
    """A step failed; the message says which and why."""


@dataclass
class Aws:
    """One client per service, all against moto's endpoint with placeholder credentials."""

    endpoint: str
    region: str
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id="moto",
                aws_secret_access_key="moto",
                config=CLIENT_CONFIG,
            )
        return self._clients[service]
