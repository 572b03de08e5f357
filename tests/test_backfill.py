"""Backfill: same contract and prefixes, resumable after a kill, idempotent keys."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from ingest import contract
from ingest.backfill import Checkpoint, Progress, backfill_blocks, backfill_prices
from sandbox import aws_local
from sandbox.simulator.model import Model
from tests.fakes import ModelApi

pytestmark = pytest.mark.stack


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


def landed(bucket: str, prefix: str) -> list[contract.Record]:
    s3 = boto3.client("s3")
    out: list[contract.Record] = []
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        out.extend(
            contract.iter_ndjson(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        )
    return out


def test_block_backfill_resumes_after_a_kill(landing: aws_local.Landing, tmp_path: Path) -> None:
    model = Model(seed=11, start_time=1_800_000_000, history_blocks=70)
    api = ModelApi(model)
    s3 = boto3.client("s3")
    checkpoint = Checkpoint(tmp_path / "ckpt.json")
    calls = {"n": 0}
    real_blocks = api.blocks

    def dying_blocks(start: int | None = None, timeout_s: float | None = None) -> list[object]:
        calls["n"] += 1
        if calls["n"] == 4:
            raise Killed
        return real_blocks(start)

    api.blocks = dying_blocks  # type: ignore[method-assign]
    with pytest.raises(Killed):
        backfill_blocks(
            api,
            s3,
            landing.bucket,
            900_005,
            900_069,
            checkpoint,  # type: ignore[arg-type]
            rate_per_s=0,
            pages_per_object=1,
            show_progress=False,
        )
    saved = checkpoint.load()
    assert saved is not None and saved["next_height"] == 900_069 - 45
    api.blocks = real_blocks  # type: ignore[method-assign]
    before = api.requests
    backfill_blocks(
        api,
        s3,
        landing.bucket,
        900_005,
        900_069,
        checkpoint,  # type: ignore[arg-type]
        rate_per_s=0,
        pages_per_object=1,
        show_progress=False,
    )
    assert api.requests - before == 2  # only the pages not yet written
    records = landed(landing.bucket, contract.PREFIX_BLOCKS)
    assert sorted(r.payload["height"] for r in records) == list(range(900_005, 900_070))
    assert all(r.source == "backfill" and r.frame_seq == r.payload["height"] for r in records)
    assert len({r.dedup_key for r in records}) == len(records)


def test_a_stop_between_objects_costs_at_most_the_page_in_flight(
    landing: aws_local.Landing, tmp_path: Path
) -> None:
    """Ten pages make an object; a stop after the fourth page fetched (mid-object) keeps
    the four in the checkpoint, so the resume asks only for the pages never fetched."""
    model = Model(seed=12, start_time=1_800_000_000, history_blocks=160)
    api = ModelApi(model)
    s3 = boto3.client("s3")
    checkpoint = Checkpoint(tmp_path / "ckpt.json")
    real_blocks = api.blocks
    pages = list(range(900_159, 900_009, -15))  # 10 pages of 15, newest first

    def dying_blocks(start: int | None = None, timeout_s: float | None = None) -> list[object]:
        if api.requests == 4:
            raise Killed
        return real_blocks(start)

    def run() -> int:
        return backfill_blocks(
            api,
            s3,
            landing.bucket,
            900_010,
            900_159,
            checkpoint,  # type: ignore[arg-type]
            rate_per_s=0,
            pages_per_object=10,
            show_progress=False,
        )

    api.blocks = dying_blocks  # type: ignore[method-assign]
    with pytest.raises(Killed):
        run()
    assert landed(landing.bucket, contract.PREFIX_BLOCKS) == []
    asked: list[int | None] = []

    def noted_blocks(start: int | None = None, timeout_s: float | None = None) -> list[object]:
        asked.append(start)
        return real_blocks(start)

    api.blocks = noted_blocks  # type: ignore[method-assign]
    assert run() == 150
    assert asked == pages[4:]
    records = landed(landing.bucket, contract.PREFIX_BLOCKS)
    assert sorted(r.payload["height"] for r in records) == list(range(900_010, 900_160))


def test_price_backfill_writes_hourly_records_and_resumes(
    landing: aws_local.Landing, tmp_path: Path
) -> None:
    model = Model(seed=12, start_time=1_800_000_000, history_blocks=2)
    api = ModelApi(model)
    s3 = boto3.client("s3")
    since = datetime(2026, 1, 1, tzinfo=UTC)
    until = datetime(2026, 1, 2, 23, 0, tzinfo=UTC)
    checkpoint = Checkpoint(tmp_path / "prices.json")
    n = backfill_prices(
        api,
        s3,
        landing.bucket,
        since,
        until,
        checkpoint,  # type: ignore[arg-type]
        rate_per_s=0,
        show_progress=False,
    )
    assert n == 48
    again = backfill_prices(
        api,
        s3,
        landing.bucket,
        since,
        until,
        checkpoint,  # type: ignore[arg-type]
        rate_per_s=0,
        show_progress=False,
    )
    assert again == 0  # the checkpoint says it is done
    records = landed(landing.bucket, contract.PREFIX_PRICES)
    assert len(records) == 48
    assert {r.topic for r in records} == {contract.TOPIC_HISTORICAL_PRICE}


def test_progress_bar_reports_position() -> None:
    out = io.StringIO()
    bar = Progress(10, "blocks", stream=out)
    bar.advance(5)
    assert "5/10" in out.getvalue() and "50.0%" in out.getvalue()
