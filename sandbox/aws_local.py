"""Local AWS: moto in server mode, provisioned the way Terraform provisions the real account.

The names and prefixes come from one `Landing` description so the local stack, the
tests and the Terraform defaults agree. Clients find moto through the standard
AWS_ENDPOINT_URL variable; production code never learns it is talking to an emulator.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import boto3

from ingest import contract
from sandbox.paths import Workspace
from sandbox.services import Service, http_ok, python_module

log = logging.getLogger(__name__)

REGION = "us-east-1"
# moto accepts any credentials; these are placeholders, not secrets.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True, slots=True)
class Landing:
    """The landing zone as Terraform creates it (see terraform/variables.tf defaults)."""

    bucket: str = "mempool-landing-local"
    stream_delivery: str = "mempool-stream"
    conversions_delivery: str = "mempool-conversions"
    queue: str = "mempool-landing-events"
    buffer_mib: int = 128
    buffer_seconds: int = 60

    @property
    def delivery_prefixes(self) -> dict[str, str]:
        return {
            self.stream_delivery: contract.PREFIX_STREAM,
            self.conversions_delivery: contract.PREFIX_CONVERSIONS,
        }


def client_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        **LOCAL_CREDENTIALS,
    }


def moto_service(ws: Workspace, port: int) -> Service:
    endpoint = f"http://127.0.0.1:{port}"
    return Service(
        name="moto",
        argv=python_module("moto.server", "-H", "127.0.0.1", "-p", str(port)),
        log_path=ws.logs / "moto.log",
        healthy=lambda: http_ok(f"{endpoint}/moto-api/data.json", timeout_s=1.0),
    )


def session(endpoint: str) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )


def clients(endpoint: str) -> dict[str, Any]:
    sess = session(endpoint)
    return {
        name: sess.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]
        for name in ("s3", "firehose", "sqs", "iam")
    }


def provision(endpoint: str, landing: Landing = Landing()) -> dict[str, str]:
    """Create bucket, queue, notification and delivery streams; safe to run again."""
    c = clients(endpoint)
    s3, sqs, firehose, iam = c["s3"], c["sqs"], c["firehose"], c["iam"]

    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if landing.bucket not in existing:
        s3.create_bucket(Bucket=landing.bucket)
    # Versioning lets the poller's state object use conditional writes safely and keeps
    # overwritten landing objects recoverable, as in production.
    s3.put_bucket_versioning(Bucket=landing.bucket, VersioningConfiguration={"Status": "Enabled"})

    queue_url = sqs.create_queue(QueueName=landing.queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=landing.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [{"Name": "prefix", "Value": contract.PREFIX_ROOT + "/"}]
                        }
                    },
                }
            ]
        },
    )

    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    try:
        role_arn = iam.get_role(RoleName="mempool-firehose")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role_arn = iam.create_role(
            RoleName="mempool-firehose", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]

    names = set(firehose.list_delivery_streams()["DeliveryStreamNames"])
    for name, prefix in landing.delivery_prefixes.items():
        if name in names:
            continue
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role_arn,
                "BucketARN": f"arn:aws:s3:::{landing.bucket}",
                "Prefix": prefix,
                "ErrorOutputPrefix": f"{contract.PREFIX_ROOT}/firehose-errors/{name}/",
                "BufferingHints": {
                    "SizeInMBs": landing.buffer_mib,
                    "IntervalInSeconds": landing.buffer_seconds,
                },
                "CompressionFormat": "UNCOMPRESSED",
            },
        )
    log.info(
        "provisioned landing bucket %s, queue %s, deliveries %s",
        landing.bucket,
        landing.queue,
        ", ".join(landing.delivery_prefixes),
    )
    return {"bucket": landing.bucket, "queue_url": queue_url, "queue_arn": queue_arn}
