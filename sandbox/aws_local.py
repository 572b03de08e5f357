"""Local AWS: moto in server mode, provisioned from the Terraform files themselves.

Bucket, Firehose streams (names, prefixes, buffering, error prefixes) and the S3
notification prefixes are read from `terraform/` (sandbox/terraform_local.py): change a
prefix there and the local stack follows. The SQS queue stands in for Snowpipe's own
queue, which Snowflake owns. Clients find moto through the standard AWS_ENDPOINT_URL
variable; production code never learns it is talking to an emulator.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sandbox.paths import Workspace
from sandbox.services import Service, http_ok, python_module
from sandbox.terraform_local import TF_DIR, TerraformLanding, read_landing

log = logging.getLogger(__name__)

REGION = "us-east-1"
# moto accepts any credentials; these are placeholders, not secrets.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


@dataclass(frozen=True, slots=True)
class Landing:
    """The landing zone as Terraform defines it; names may be overridden (tests give each
    test a bucket and streams of its own), prefixes and buffering never are."""

    terraform: TerraformLanding = field(default_factory=read_landing)
    bucket: str = ""
    stream_delivery: str = ""
    conversions_delivery: str = ""
    queue: str = "mempool-landing-events"

    def __post_init__(self) -> None:
        tf = self.terraform
        object.__setattr__(self, "bucket", self.bucket or tf.bucket)
        object.__setattr__(
            self, "stream_delivery", self.stream_delivery or tf.deliveries["stream"][0]
        )
        object.__setattr__(
            self,
            "conversions_delivery",
            self.conversions_delivery or tf.deliveries["conversions"][0],
        )

    @classmethod
    def from_terraform(cls, tf_dir: Path = TF_DIR, **names: str) -> Landing:
        return cls(terraform=read_landing(tf_dir), **names)

    @property
    def routes(self) -> dict[str, str]:
        """Route ("stream", "conversions") -> delivery stream name."""
        return {"stream": self.stream_delivery, "conversions": self.conversions_delivery}

    @property
    def delivery_prefixes(self) -> dict[str, str]:
        return {name: self.terraform.deliveries[route][1] for route, name in self.routes.items()}


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


def provision(endpoint: str, landing: Landing | None = None) -> dict[str, str]:
    """Create bucket, queue, notification and delivery streams; safe to run again."""
    landing = landing or Landing()
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
    # One notification per landing prefix, as terraform/s3.tf declares them.
    s3.put_bucket_notification_configuration(
        Bucket=landing.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"snowpipe-{prefix.strip('/').rsplit('/', 1)[-1]}",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}},
                }
                for prefix in landing.terraform.notification_prefixes
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
    tf = landing.terraform
    for route, name in landing.routes.items():
        if name in names:
            continue
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": role_arn,
                "BucketARN": f"arn:aws:s3:::{landing.bucket}",
                "Prefix": tf.deliveries[route][1],
                "ErrorOutputPrefix": tf.error_prefixes[route],
                "BufferingHints": {
                    "SizeInMBs": tf.buffer_mib,
                    "IntervalInSeconds": tf.buffer_seconds,
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
