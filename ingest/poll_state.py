"""The poller's state: one S3 object, changed only by conditional writes.

Reading returns the object's ETag; saving sends If-Match with it (or If-None-Match: *
for the first save), so of two overlapping runs that read the same state only one can
advance it: the other gets HTTP 412 and ends without touching it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

RECENT_KEPT = 32
# Blocks whose mined txids are still to fetch; past this many the oldest are given up
# (and logged): they are only needed to score recent projections.
TXIDS_PENDING_KEPT = 64


@dataclass
class PollState:
    tip_height: int
    tip_hash: str
    floor_height: int
    recent: dict[int, str] = field(default_factory=dict)  # height -> hash, last RECENT_KEPT
    gaps: list[tuple[int, int]] = field(default_factory=list)  # inclusive, highest first
    txids_pending: list[str] = field(default_factory=list)  # block hashes, oldest first

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "version": 1,
                "tip_height": self.tip_height,
                "tip_hash": self.tip_hash,
                "floor_height": self.floor_height,
                "recent": {str(h): v for h, v in sorted(self.recent.items())},
                "gaps": [list(g) for g in self.gaps],
                "txids_pending": self.txids_pending,
            },
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, blob: bytes) -> PollState:
        data = json.loads(blob)
        return cls(
            tip_height=int(data["tip_height"]),
            tip_hash=str(data["tip_hash"]),
            floor_height=int(data["floor_height"]),
            recent={int(h): str(v) for h, v in data.get("recent", {}).items()},
            gaps=[(int(a), int(b)) for a, b in data.get("gaps", [])],
            txids_pending=[str(h) for h in data.get("txids_pending", [])],
        )


class StateConflict(RuntimeError):
    """Another run changed the state since we read it (HTTP 412)."""


class StateAccessDenied(PermissionError):
    """S3 answered 403 to reading the state: a missing s3:ListBucket, or s3:GetObject."""


@dataclass
class StateStore:
    s3: Any
    bucket: str
    key: str

    def load(self) -> tuple[PollState | None, str | None]:
        try:
            obj = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code in ("NoSuchKey", "404"):
                return None, None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("AccessDenied", "403") or status == 403:
                # S3 answers 403, not 404, for a missing object when the caller may not
                # list the bucket: on the first run the state does not exist yet.
                raise StateAccessDenied(
                    f"S3 denied reading s3://{self.bucket}/{self.key} (403 {code}). If the "
                    "state object does not exist yet (first run), S3 says 403 instead of "
                    "404 because the role lacks s3:ListBucket on the bucket: grant "
                    f"s3:ListBucket on arn:aws:s3:::{self.bucket} with the condition "
                    f"s3:prefix = {self.key} (terraform/lambda.tf does). Otherwise the role "
                    "lacks s3:GetObject on the state object."
                ) from exc
            raise
        return PollState.from_json(obj["Body"].read()), obj["ETag"]

    def save(self, state: PollState, etag: str | None) -> str:
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            resp = self.s3.put_object(
                Bucket=self.bucket,
                Key=self.key,
                Body=state.to_json(),
                ContentType="application/json",
                **condition,
            )
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict") or status in (
                409,
                412,
            ):
                raise StateConflict(f"state {self.key} changed since it was read") from exc
            raise
        return str(resp["ETag"])
