"""Local AWS: moto in server mode, provisioned from the Terraform files themselves.

Bucket, Firehose streams (names, prefixes, buffering, error prefixes), the S3
notification prefixes and the IAM roles of the parts that run locally, with their
policies, are read from `terraform/` (sandbox/terraform_local.py): change a prefix or a
statement there and the local stack follows. The SQS queue stands in for Snowpipe's own
queue, which Snowflake owns. Clients find moto through the standard AWS_ENDPOINT_URL
variable; production code never learns it is talking to an emulator.

IAM is enforced (sandbox/moto_iam.py): an administrator provisions, and each component
calls AWS as the role Terraform gives it, with credentials from STS (`role_session`,
`role_env`): the poller as the Lambda's role, the streamer as the instance profile's,
each Firehose stream delivers as its delivery role, the local Snowflake reads the bucket
as the storage integration's role. A permission missing from Terraform is refused here
as AWS would refuse it, and recorded in `denials_file`.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from sandbox.paths import Workspace
from sandbox.services import Service, http_ok, python_module
from sandbox.terraform_local import (
    LOCAL_ACCOUNT_ID,
    TF_DIR,
    RenderedRole,
    TerraformLanding,
    read_landing,
    render_roles,
)

log = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT_ID = LOCAL_ACCOUNT_ID
# The local administrator, created in moto's IAM when moto starts (sandbox/moto_iam.py):
# a fixed key to a loopback emulator, not a secret.
ADMIN_USER = "mempool-local-admin"
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "AKIAMEMPOOLLOCAL0000",
    "AWS_SECRET_ACCESS_KEY": "mempool-local-administrator-not-a-secret",
}
# Where the local AWS appends every request IAM refused (one JSON object a line).
DENIALS_VARIABLE = "MEMPOOL_IAM_DENIALS"
# Component -> the aws_iam_role it runs as in AWS.
ROLES = {
    "poller": "poller",
    "streamer": "streamer",
    "firehose": "firehose",
    "snowflake": "snowflake_storage",
}


@dataclass(frozen=True, slots=True)
class Landing:
    """The landing zone as Terraform defines it; names may be overridden (tests give each
    test a bucket and streams of its own), prefixes and buffering never are."""

    terraform: TerraformLanding = field(default_factory=read_landing)
    bucket: str = ""
    stream_delivery: str = ""
    conversions_delivery: str = ""
    queue: str = "mempool-landing-events"
    # var.name_prefix, which names the roles ("" keeps Terraform's default): landings
    # sharing one moto need roles of their own.
    name_prefix: str = ""
    tf_dir: Path = TF_DIR

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
        return cls(terraform=read_landing(tf_dir), tf_dir=tf_dir, **names)

    def terraform_variables(self) -> dict[str, str]:
        """The `-var` values under which Terraform creates what this landing names."""
        values = {
            "bucket_name": self.bucket,
            "stream_delivery_name": self.stream_delivery,
            "conversions_delivery_name": self.conversions_delivery,
        }
        if self.name_prefix:
            values["name_prefix"] = self.name_prefix
        return values

    def roles(self) -> dict[str, RenderedRole]:
        """Component -> its role, with the policies Terraform gives it for this landing."""
        rendered = render_roles(tuple(ROLES.values()), self.terraform_variables(), self.tf_dir)
        return {component: rendered[role] for component, role in ROLES.items()}

    def role_arn(self, component: str) -> str:
        return f"arn:aws:iam::{ACCOUNT_ID}:role/{self.roles()[component].name}"

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


def denials_file(ws: Workspace) -> Path:
    return ws.logs / "iam-denials.jsonl"


def read_denials(path: Path) -> list[dict[str, Any]]:
    """The requests IAM refused, oldest first."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.strip()]


def moto_service(ws: Workspace, port: int) -> Service:
    """moto with IAM enforced from its first request (sandbox/moto_iam.py)."""
    endpoint = f"http://127.0.0.1:{port}"
    denials = denials_file(ws)
    denials.parent.mkdir(parents=True, exist_ok=True)
    # A new moto knows nothing of an earlier one's refusals.
    denials.write_text("")
    return Service(
        name="moto",
        argv=python_module("sandbox.moto_iam", "-H", "127.0.0.1", "-p", str(port)),
        log_path=ws.logs / "moto.log",
        healthy=lambda: http_ok(f"{endpoint}/moto-api/data.json", timeout_s=1.0),
        env={"INITIAL_NO_AUTH_ACTION_COUNT": "0", DENIALS_VARIABLE: str(denials)},
    )


def session(endpoint: str) -> boto3.Session:
    return boto3.Session(
        aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=REGION,
    )


@functools.cache
def clients(endpoint: str) -> dict[str, Any]:
    """Clients as the local administrator (made once per endpoint: a client takes tens of
    milliseconds to build, and they are safe to share between threads)."""
    sess = session(endpoint)
    return {
        name: sess.client(name, endpoint_url=endpoint)  # type: ignore[call-overload]
        for name in ("s3", "firehose", "sqs", "iam", "sts", "logs")
    }


def assume(endpoint: str, role_arn: str, session_name: str) -> dict[str, str]:
    """Temporary credentials for `role_arn`, from STS, as the administrator asks for them
    (standing in for the service that assumes the role in AWS)."""
    sts = clients(endpoint)["sts"]
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name)["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


def role_session(endpoint: str, role_arn: str, session_name: str) -> boto3.Session:
    creds = assume(endpoint, role_arn, session_name)
    return boto3.Session(
        aws_access_key_id=creds["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=creds["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=creds["AWS_SESSION_TOKEN"],
        region_name=REGION,
    )


def role_env(endpoint: str, role_arn: str, session_name: str) -> dict[str, str]:
    """The standard variables a process needs to call the local AWS as `role_arn`. moto
    never expires a session, so they last the whole run (in AWS the instance profile and
    Lambda hand out fresh ones)."""
    return {**client_env(endpoint), **assume(endpoint, role_arn, session_name)}


# Who may assume each local role: the administrator, standing in for the services that do
# in AWS (lambda.amazonaws.com, ec2.amazonaws.com, firehose.amazonaws.com, Snowflake's IAM
# user). moto cannot evaluate a service principal in a trust policy, so Terraform's trust
# policies are not used here (tests/test_terraform.py checks the Snowflake and GitHub
# ones offline); the permission policies are Terraform's own.
LOCAL_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_ID}:user/{ADMIN_USER}"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def provision_roles(iam: Any, landing: Landing) -> dict[str, str]:
    """Each component's role with exactly Terraform's inline policies; component -> ARN."""
    arns = {}
    for component, role in landing.roles().items():
        try:
            arn = iam.get_role(RoleName=role.name)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            arn = iam.create_role(
                RoleName=role.name, AssumeRolePolicyDocument=json.dumps(LOCAL_TRUST)
            )["Role"]["Arn"]
        existing = set(iam.list_role_policies(RoleName=role.name)["PolicyNames"])
        for name, document in role.policies.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document)
            )
        for stale in existing - set(role.policies):
            iam.delete_role_policy(RoleName=role.name, PolicyName=stale)
        arns[component] = str(arn)
    return arns


def provision(endpoint: str, landing: Landing | None = None) -> dict[str, Any]:
    """Create bucket, queue, notification, roles and delivery streams, as the local
    administrator; safe to run again (roles get Terraform's policies again)."""
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

    roles = provision_roles(iam, landing)

    names = set(firehose.list_delivery_streams()["DeliveryStreamNames"])
    tf = landing.terraform
    for route, name in landing.routes.items():
        if name in names:
            continue
        firehose.create_delivery_stream(
            DeliveryStreamName=name,
            DeliveryStreamType="DirectPut",
            ExtendedS3DestinationConfiguration={
                "RoleARN": roles["firehose"],
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
    return {
        "bucket": landing.bucket,
        "queue_url": queue_url,
        "queue_arn": queue_arn,
        "roles": roles,
    }
