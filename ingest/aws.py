"""boto3 clients built the standard way: region and endpoint from the environment
(AWS_REGION, AWS_ENDPOINT_URL), retries in adaptive mode, explicit timeouts."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"max_attempts": 3, "mode": "adaptive"},
)


def client(service: str, region: str | None = None) -> Any:
    return boto3.client(service, region_name=region, config=CLIENT_CONFIG)  # type: ignore[call-overload]
