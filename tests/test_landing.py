"""Contract records sent through (moto's) Firehose land in S3 as NDJSON and raise an
S3 -> SQS notification, as the Terraform-built landing zone does."""

from __future__ import annotations

import json
from urllib.parse import unquote_plus

import boto3
import pytest

from ingest import contract
from sandbox import aws_local

pytestmark = pytest.mark.stack


def _records(topic: str, n: int) -> list[contract.Record]:
    return [
        contract.Record(
            source="ws",
            topic=topic,
            origin_id="conn-a",
            frame_seq=i,
            received_at=contract.utc_now_iso(),
            payload={"i": i},
        )
        for i in range(n)
    ]


def test_firehose_records_land_as_ndjson_under_their_prefix_and_notify_sqs(
    moto_endpoint: str, landing: aws_local.Landing
) -> None:
    firehose = boto3.client("firehose")
    s3 = boto3.client("s3")
    sqs = boto3.client("sqs")
    stream_recs = _records("mempoolInfo", 3)
    conv_recs = _records("conversions", 2)
    for name, recs in (
        (landing.stream_delivery, stream_recs),
        (landing.conversions_delivery, conv_recs),
    ):
        resp = firehose.put_record_batch(
            DeliveryStreamName=name, Records=[{"Data": r.to_line()} for r in recs]
        )
        assert resp["FailedPutCount"] == 0

    objects = s3.list_objects_v2(Bucket=landing.bucket)["Contents"]
    keys = sorted(o["Key"] for o in objects)
    assert len(keys) == 2
    by_prefix = {k.split("/")[1]: k for k in keys}
    assert by_prefix["stream"].startswith(contract.PREFIX_STREAM)
    assert by_prefix["conversions"].startswith(contract.PREFIX_CONVERSIONS)
    body = s3.get_object(Bucket=landing.bucket, Key=by_prefix["stream"])["Body"].read()
    assert list(contract.iter_ndjson(body)) == stream_recs
    body = s3.get_object(Bucket=landing.bucket, Key=by_prefix["conversions"])["Body"].read()
    assert [r.topic for r in contract.iter_ndjson(body)] == ["conversions", "conversions"]

    queue_url = sqs.get_queue_url(QueueName=landing.queue)["QueueUrl"]
    notified: set[str] = set()
    for _ in range(5):
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for msg in msgs:
            for rec in json.loads(msg["Body"]).get("Records", []):
                assert rec["eventName"].startswith("ObjectCreated")
                assert rec["s3"]["bucket"]["name"] == landing.bucket
                notified.add(unquote_plus(rec["s3"]["object"]["key"]))
        if notified >= set(keys):
            break
    assert notified == set(keys)


def test_provisioning_is_idempotent(moto_endpoint: str, landing: aws_local.Landing) -> None:
    again = aws_local.provision(moto_endpoint, landing)
    assert again["bucket"] == landing.bucket
    names = boto3.client("firehose").list_delivery_streams()["DeliveryStreamNames"]
    assert names.count(landing.stream_delivery) == 1
