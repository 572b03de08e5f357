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

# The streamer's Firehose calls: FirehoseSink retries (only the failed records, with
# backoff, then the spool), so botocore makes one attempt, and an endpoint that accepts
# the connection but never answers costs at most a few seconds, not minutes.
STREAM_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"total_max_attempts": 1, "mode": "standard"},
)


def client(service: str, region: str | None = None, config: Config = CLIENT_CONFIG) -> Any:
    return boto3.client(service, region_name=region, config=config)  # type: ignore[call-overload]
