"""StateStore.load against S3's answers for a state object that is not there.

GetObject on a missing key: "If you have the s3:ListBucket permission on the bucket,
Amazon S3 returns an HTTP status code 404 Not Found error. If you don't have the
s3:ListBucket permission, Amazon S3 returns an HTTP status code 403 ("access denied")
error." (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html). The
answers are botocore's own error responses (Stubber), the shape a real S3 gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from ingest.poll_state import StateAccessDenied, StateStore
from ingest.poller import Poller

BUCKET = "acme-landing"
KEY = "state/poller.json"


@pytest.fixture
def s3() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "s3",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # never sent: the stubber answers
        endpoint_url="https://s3.us-east-1.amazonaws.com",
    )
    with Stubber(client) as stub:
        yield client, stub


def answer(stub: Stubber, code: str, status: int) -> None:
    stub.add_client_error(
        "get_object",
        service_error_code=code,
        service_message=code,
        http_status_code=status,
        expected_params={"Bucket": BUCKET, "Key": KEY},
    )


def test_a_missing_state_with_list_permission_is_no_state(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    answer(stub, "NoSuchKey", 404)
    assert StateStore(client, BUCKET, KEY).load() == (None, None)


def test_a_403_names_the_missing_list_bucket_permission(s3: tuple[Any, Stubber]) -> None:
    """Without s3:ListBucket the first run's missing state is a 403: the error must say
    so, and which grant fixes it, instead of a bare AccessDenied."""
    client, stub = s3
    answer(stub, "AccessDenied", 403)
    with pytest.raises(StateAccessDenied) as denied:
        StateStore(client, BUCKET, KEY).load()
    message = str(denied.value)
    assert "s3:ListBucket" in message
    assert f"s3://{BUCKET}/{KEY}" in message and f"s3:prefix = {KEY}" in message
    assert "404" in message and "403" in message
    assert isinstance(denied.value.__cause__, ClientError)
    assert isinstance(denied.value, PermissionError)


def test_the_poller_run_fails_with_that_message(s3: tuple[Any, Stubber]) -> None:
    """What the Lambda's log shows for every run until the permission is granted."""
    client, stub = s3
    answer(stub, "AccessDenied", 403)
    poller = Poller(api=None, s3=client, bucket=BUCKET, state_key=KEY)  # type: ignore[arg-type]
    with pytest.raises(StateAccessDenied, match="s3:ListBucket"):
        poller.run()


def test_other_errors_are_not_disguised(s3: tuple[Any, Stubber]) -> None:
    client, stub = s3
    answer(stub, "InternalError", 500)
    with pytest.raises(ClientError) as failed:
        StateStore(client, BUCKET, KEY).load()
    assert not isinstance(failed.value, StateAccessDenied)
    assert failed.value.response["Error"]["Code"] == "InternalError"
