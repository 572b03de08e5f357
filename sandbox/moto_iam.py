"""moto's server with IAM enforced as AWS enforces it on this platform's calls.

`python -m sandbox.moto_iam -H HOST -p PORT` is `python -m moto.server` with moto's own
IAM authorization switched on from the first request (INITIAL_NO_AUTH_ACTION_COUNT=0,
set in this process's environment by sandbox/aws_local.py), and an administrator,
created here in moto's IAM, whose access key bootstraps everything else (buckets, roles
with their Terraform policies, Firehose streams). Every component then calls AWS with
credentials STS issued for its role.

Where moto's authorization falls short of AWS on these calls, this process decides
instead (sandbox/iam_policy.py), and says so in each case:

- conditions: moto evaluates only sts:ExternalId; here s3:prefix is taken from the
  request, so a ListBucket limited to one prefix allows only that prefix;
- resources: moto checks Firehose and CloudWatch Logs calls against "*", which a policy
  naming its streams or log groups never matches; here they carry their ARN;
- GetObject of a missing key: moto answers 404 whatever the caller may list; S3 answers
  403 unless the caller has s3:ListBucket on the bucket (API_GetObject.html,
  "Permissions");
- Firehose delivery: moto writes a stream's records into S3 without any role; here the
  write is decided on the stream's delivery role, and a denied write is not delivered (as
  Firehose would keep retrying it; its CloudWatch error is the denial recorded here).

Every denial is logged and appended, as one JSON line, to the file named by
MEMPOOL_IAM_DENIALS: the demo fails on any, and the tests read them.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from sandbox import aws_local
from sandbox.iam_policy import ALLOW, DENY, IMPLICIT_DENY, Request, decide

log = logging.getLogger("mempool.moto_iam")

ADMIN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
GET_OBJECT_PAGE = "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html"
# moto (since 5.2.6) names an S3 request's action by its API operation; IAM knows the
# policy action each operation needs, which is what a policy names:
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html
S3_POLICY_ACTIONS = {
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "s3:ListParts": "s3:ListMultipartUploadParts",
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:CopyObject": "s3:PutObject",
    "s3:DeleteObjects": "s3:DeleteObject",
}

# The caller of the request this thread serves, once IAM has allowed it: who asked, with
# which policies (for decisions S3 makes after the action itself is allowed).
_caller = threading.local()
_denials_lock = threading.Lock()


def record_denial(principal: str, action: str, resource: str, detail: str = "") -> None:
    entry = {
        "time": time.time(),
        "principal": principal,
        "action": action,
        "resource": resource,
        "detail": detail,
    }
    log.warning("IAM denied %s on %s to %s %s", action, resource, principal, detail)
    path = os.environ.get(aws_local.DENIALS_VARIABLE)
    if path:
        with _denials_lock, open(path, "a") as fh:
            fh.write(json.dumps(entry) + "\n")


def denied_message(principal: str, action: str, resource: str, decision: str) -> str:
    # The wording AWS uses for a request in the caller's own account.
    why = (
        "with an explicit deny in an identity-based policy"
        if decision == DENY
        else f"because no identity-based policy allows the {action} action"
    )
    on = f'on resource: "{resource}"'
    return f"User: {principal} is not authorized to perform: {action} {on} {why}"


def _policy_documents(policies: list[Any]) -> list[dict[str, Any]]:
    from moto.iam.access_control import IAMPolicy

    return [IAMPolicy(p)._policy_json for p in policies]


def role_policies(account_id: str, role_name: str) -> list[dict[str, Any]]:
    from moto.iam.models import iam_backends

    backend = iam_backends[account_id]["aws"]
    docs: list[Any] = [
        backend.get_role_policy(role_name, name)[1]
        for name in backend.list_role_policies(role_name)
    ]
    attached, _ = backend.list_attached_role_policies(role_name)
    return _policy_documents(docs + list(attached))


def _s3_denied(bucket: str | None, message: str) -> Exception:
    from moto.s3.exceptions import BucketAccessDeniedError, S3ClientError

    error = BucketAccessDeniedError(bucket or "")
    S3ClientError.__init__(error, "AccessDenied", message)
    return error


def _denied(request: Any, message: str) -> Exception:
    from moto.core.exceptions import AccessDeniedError, JsonRESTError, _RESTError
    from moto.iam.access_control import S3IAMRequest

    if isinstance(request, S3IAMRequest):
        return _s3_denied(request._data.get("BucketName"), message)
    headers = {k.lower(): v for k, v in dict(request._headers).items()}
    if "x-amz-target" in headers:
        # JSON protocols (Firehose, Logs, SQS): what botocore reads as the error code.
        return JsonRESTError("AccessDeniedException", message)
    # Query protocols (STS, IAM): moto's own 403, with the resource in its message.
    error = AccessDeniedError(request._access_key.arn, request._action)
    _RESTError.__init__(error, "AccessDenied", message)
    return error


def _request_context(request: Any) -> dict[str, str]:
    """The condition keys a request carries that these policies test."""
    context: dict[str, str] = {}
    if request._action in ("s3:ListBucket", "s3:ListBucketVersions"):
        query = parse_qs(urlsplit(request._path).query, keep_blank_values=True)
        if "prefix" in query:
            context["s3:prefix"] = query["prefix"][0]
    return context


def _install_authorization() -> None:
    from moto.iam.access_control import IAMRequestBase

    moto_check = IAMRequestBase.check_action_permitted

    def check_action_permitted(self: Any, resource: str) -> None:
        _caller.value = None
        self._action = S3_POLICY_ACTIONS.get(self._action, self._action)
        if self._action == "sts:GetCallerIdentity":
            return
        if self._is_assuming_role_operation(resource):
            # moto checks the caller's policy and the role's trust policy together.
            moto_check(self, resource)
            return
        policies = _policy_documents(self._access_key.collect_policies())
        decision = decide(policies, Request(self._action, resource, _request_context(self)))
        principal = self._access_key.arn
        if decision != ALLOW:
            record_denial(principal, self._action, resource)
            raise _denied(self, denied_message(principal, self._action, resource, decision))
        _caller.value = (principal, policies)

    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def _install_missing_key_rule() -> None:
    from moto.s3.exceptions import MissingKey
    from moto.s3.responses import S3Response

    moto_key_response = S3Response._key_response

    def deny_unless_listable(self: Any, request: Any, full_url: str) -> None:
        caller = getattr(_caller, "value", None)
        if caller is None or request.method not in ("GET", "HEAD"):
            return
        if "versionId" in parse_qs(urlsplit(full_url).query):
            return
        principal, policies = caller
        bucket = self.parse_bucket_name_from_url(request, full_url)
        key = self.parse_key_name()
        resource = f"arn:aws:s3:::{bucket}"
        # S3 decides with the requested key as s3:prefix, so a listing limited to that
        # key is enough (AWS documents no context for this check; Ceph's RGW adopted the
        # same to match AWS: https://github.com/ceph/ceph/pull/68577).
        listing = Request("s3:ListBucket", resource, {"s3:prefix": key})
        if decide(policies, listing) == ALLOW:
            return
        detail = f"(GetObject of the missing key {key!r}: 403, not 404, without ListBucket)"
        record_denial(principal, "s3:ListBucket", resource, detail)
        raise _s3_denied(
            bucket,
            f"{denied_message(principal, 's3:ListBucket', resource, IMPLICIT_DENY)} "
            f"{detail}; see {GET_OBJECT_PAGE}",
        )

    def key_response(self: Any, request: Any, full_url: str) -> Any:
        _caller.value = None
        try:
            response = moto_key_response(self, request, full_url)
        except MissingKey:
            deny_unless_listable(self, request, full_url)
            raise
        if request.method == "HEAD" and isinstance(response, tuple) and response[0] == 404:
            deny_unless_listable(self, request, full_url)
        return response

    S3Response._key_response = key_response  # type: ignore[method-assign]


def _install_resources() -> None:
    """Firehose and CloudWatch Logs requests authorized against their resource's ARN."""
    from moto.firehose.responses import FirehoseResponse
    from moto.logs.responses import LogsResponse

    def body(self: Any) -> dict[str, Any]:
        try:
            parsed = json.loads(self.body or "{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def stream_arn(self: Any) -> str:
        name = body(self).get("DeliveryStreamName")
        if not name:
            return "*"
        return f"arn:aws:firehose:{self.region}:{self.current_account}:deliverystream/{name}"

    def log_arn(self: Any) -> str:
        params = body(self)
        group = params.get("logGroupName")
        if not group:
            return "*"
        # A log group's ARN as the API gives it ends in ":*"; a stream's names the stream.
        stream = params.get("logStreamName")
        suffix = f":log-stream:{stream}" if stream else ":*"
        return f"arn:aws:logs:{self.region}:{self.current_account}:log-group:{group}{suffix}"

    resolvers: tuple[tuple[type, Callable[[Any], str]], ...] = (
        (FirehoseResponse, stream_arn),
        (LogsResponse, log_arn),
    )
    for cls, resolve in resolvers:
        cls._determine_resource = resolve  # type: ignore[attr-defined]


def _install_delivery_role() -> None:
    from moto.firehose.models import FirehoseBackend
    from moto.moto_api._internal import mock_random
    from moto.s3.models import s3_backends

    def put_s3_records(
        self: Any,
        delivery_stream_name: str,
        version_id: str,
        s3_destination: dict[str, Any],
        records: list[dict[str, bytes]],
    ) -> list[dict[str, str]]:
        bucket = s3_destination["BucketARN"].split(":")[-1]
        key = self._format_s3_object_path(
            delivery_stream_name, version_id, s3_destination.get("Prefix", "")
        )
        role_arn = s3_destination.get("RoleARN", "")
        role = role_arn.rsplit("/", 1)[-1]
        resource = f"arn:aws:s3:::{bucket}/{key}"
        principal = f"arn:aws:sts::{self.account_id}:assumed-role/{role}/firehose"
        try:
            policies = role_policies(self.account_id, role)
        except Exception:
            policies = []
        decision = decide(policies, Request("s3:PutObject", resource, {}))
        if decision == ALLOW:
            s3_backends[self.account_id][self.partition].put_object(
                bucket, key, b"".join(r["Data"] for r in records)
            )
        else:
            # Firehose accepted the records; its delivery fails (S3.AccessDenied in the
            # stream's error log) and nothing lands.
            detail = f"(delivery of {delivery_stream_name})"
            record_denial(principal, "s3:PutObject", resource, detail)
        return [{"RecordId": str(mock_random.uuid4())} for _ in records]

    FirehoseBackend.put_s3_records = put_s3_records  # type: ignore[method-assign]


def bootstrap_admin(access_key_id: str, secret_access_key: str) -> None:
    """The administrator that provisions the stack, with the access key every local client
    uses unless it runs as a role (sandbox/aws_local.py)."""
    from moto.iam.models import iam_backends

    backend = iam_backends[aws_local.ACCOUNT_ID]["aws"]
    backend.create_user(aws_local.REGION, aws_local.ADMIN_USER)
    backend.put_user_policy(aws_local.ADMIN_USER, "administrator", json.dumps(ADMIN_POLICY))
    key = backend.create_access_key(aws_local.ADMIN_USER)
    del backend.access_keys[key.physical_resource_id]
    key.access_key_id, key.secret_access_key = access_key_id, secret_access_key
    backend.access_keys[key.physical_resource_id] = key


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    from moto import settings
    from moto.server import main as moto_main

    if settings.INITIAL_NO_AUTH_ACTION_COUNT != 0:
        log.warning(
            "INITIAL_NO_AUTH_ACTION_COUNT is %s: IAM is not enforced",
            settings.INITIAL_NO_AUTH_ACTION_COUNT,
        )
    bootstrap_admin(
        aws_local.LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_local.LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    _install_authorization()
    _install_missing_key_rule()
    _install_resources()
    _install_delivery_role()
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
