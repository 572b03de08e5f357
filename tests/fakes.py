"""Test doubles for what moto cannot do (partial Firehose failures, outages) and an
in-process mempool.space REST API over the simulator's model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ingest.mempool_api import NotFound, Retryable
from sandbox.simulator.model import Model


@dataclass
class StubFirehose:
    """put_record_batch that fails as told: whole calls (outage) or some records."""

    fail_calls: int = 0  # the next N calls raise (service unavailable)
    fail_record_indexes: list[set[int]] = field(default_factory=list)  # per call, partial
    # The NDJSON lines delivered, in order (what the S3 objects hold), and the Firehose
    # records they travelled in.
    delivered: dict[str, list[bytes]] = field(default_factory=dict)
    records: dict[str, list[bytes]] = field(default_factory=dict)
    calls: int = 0

    def put_record_batch(self, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> Any:
        self.calls += 1
        assert len(Records) <= 500
        assert sum(len(r["Data"]) for r in Records) <= 4 * 1024 * 1024
        if self.fail_calls > 0:
            self.fail_calls -= 1
            raise ConnectionError("firehose unavailable")
        failing = self.fail_record_indexes.pop(0) if self.fail_record_indexes else set()
        responses = []
        for i, rec in enumerate(Records):
            assert len(rec["Data"]) <= 1_000 * 1024, "above Firehose's record limit"
            if i in failing:
                responses.append(
                    {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"}
                )
            else:
                self.records.setdefault(DeliveryStreamName, []).append(rec["Data"])
                self.delivered.setdefault(DeliveryStreamName, []).extend(
                    rec["Data"].splitlines(keepends=True)
                )
                responses.append({"RecordId": f"r{self.calls}-{i}"})
        return {
            "FailedPutCount": len(failing & set(range(len(Records)))),
            "RequestResponses": responses,
        }


class ModelApi:
    """The REST calls the poller and backfill make, answered from a simulator model."""

    def __init__(
        self, model: Model, fail_after: int | None = None, unavailable: frozenset[str] = frozenset()
    ) -> None:
        self.model = model
        self.requests = 0
        self.fail_after = fail_after
        self.unavailable = unavailable  # resources answering 503, e.g. {"fees_recommended"}

    def _count(self, resource: str = "") -> None:
        self.requests += 1
        if self.fail_after is not None and self.requests > self.fail_after:
            raise Retryable("HTTP 429", 429)
        if resource in self.unavailable:
            raise Retryable(f"GET {resource}: HTTP 503", 503)

    def blocks(self, start_height: int | None = None, timeout_s: float | None = None) -> list[Any]:
        self._count("blocks")
        start = self.model.tip.height if start_height is None else start_height
        return [b.to_api() for h in range(start, start - 15, -1) if (b := self.model.block_at(h))]

    def block_txids(self, block_hash: str, timeout_s: float | None = None) -> list[str]:
        self._count("block_txids")
        block = self.model.by_hash.get(block_hash)
        if block is None:
            raise NotFound(f"GET /block/{block_hash}/txids: not found")
        return block.api_txids()

    def prices(self) -> Any:
        self._count("prices")
        return {"time": int(self.model.now), "USD": 90000}

    def fees_recommended(self) -> Any:
        self._count("fees_recommended")
        return self.model.recommended_fees(whole=True)

    def mempool(self) -> Any:
        self._count("mempool")
        return self.model.rest_mempool()

    def historical_price(self, currency: str, timestamp: int) -> Any:
        self._count()
        return {"prices": [{"time": timestamp - timestamp % 3600, currency: 90000}]}


@dataclass
class MemoryS3:
    """The S3 calls the poller and the Firehose sink make, in memory, with S3's own key
    rule (at most 1,024 bytes of UTF-8) and conditional writes."""

    objects: dict[str, bytes] = field(default_factory=dict)
    puts: int = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, **kw: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        if not Key or len(Key.encode("utf-8", "surrogatepass")) > 1024:
            raise ClientError(
                {"Error": {"Code": "KeyTooLongError", "Message": "Your key is too long"}},
                "PutObject",
            )
        etag = self._etag(Key)
        if ("IfMatch" in kw and kw["IfMatch"] != etag) or (
            kw.get("IfNoneMatch") == "*" and Key in self.objects
        ):
            raise ClientError(
                {"Error": {"Code": "PreconditionFailed", "Message": "At least one failed"}},
                "PutObject",
            )
        self.objects[Key] = bytes(Body)
        self.puts += 1
        return {"ETag": self._etag(Key)}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        import io

        from botocore.exceptions import ClientError

        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey", "Message": "not found"}}, "GetObject")
        return {"Body": io.BytesIO(self.objects[Key]), "ETag": self._etag(Key)}

    def _etag(self, key: str) -> str | None:
        import hashlib

        body = self.objects.get(key)
        return None if body is None else f'"{hashlib.md5(body).hexdigest()}"'
