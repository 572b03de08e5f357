"""Feeding the local Snowflake runtime the way production is fed: objects in S3."""

from __future__ import annotations

import itertools
from typing import Any

from ingest import contract
from sandbox.snowflake_local.runtime import LocalSnowflake

T0 = "2026-01-13T10:00:00.000Z"
_keys = itertools.count(1)


def land(rt: LocalSnowflake, prefix: str, body: bytes) -> str:
    key = f"{prefix}2026/01/13/10/test-{next(_keys)}.ndjson"
    rt.s3.put_object(Bucket=rt.bucket, Key=key, Body=body)
    return key


def cycle(rt: LocalSnowflake) -> list[str]:
    """What Snowpipe and the task graph do while someone watches Live: load notified
    objects, request a silver run (as the open page does), run the graph."""
    rt.drain_notifications()
    rt.request_silver("TEST")
    return rt.run_graph()


def q(rt: LocalSnowflake, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in rt.execute(sql)]


def rec(
    topic: str, payload: Any, seq: int, origin: str = "conn-1", source: contract.Source = "ws"
) -> contract.Record:
    return contract.Record(
        source=source, topic=topic, origin_id=origin, frame_seq=seq, received_at=T0, payload=payload
    )
