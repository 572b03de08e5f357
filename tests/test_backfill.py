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
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.fakes import ModelApi
from tests.warehouse_helpers import cycle, q

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


def test_a_rerun_across_a_reorg_lands_the_new_block(rt: LocalSnowflake, tmp_path: Path) -> None:
    """Keys were (range, height): a re-run after a reorg emitted the new block at a height
    under the old block's key, the load counted it a duplicate, and the block was lost."""
    model = Model(seed=13, start_time=1_760_000_000, history_blocks=20)
    api = ModelApi(model)

    def backfill(to_height: int, name: str) -> None:
        backfill_blocks(
            api,
            boto3.client("s3"),
            rt.bucket,
            900_010,
            to_height,
            Checkpoint(tmp_path / name),
            rate_per_s=0,
            show_progress=False,
        )
        cycle(rt)

    backfill(900_019, "first")
    replaced = model.block_at(900_019)
    assert replaced is not None
    model._reorg(int(model.now) + 60, depth=1)
    backfill(900_019, "again")  # the same range, after the reorg
    replacement = model.block_at(900_019)
    assert replacement is not None and replacement.hash != replaced.hash
    at_height = q(rt, "SELECT BLOCK_HASH FROM SILVER.BLOCKS WHERE HEIGHT = 900019 ORDER BY 1")
    assert at_height == sorted([(replaced.hash,), (replacement.hash,)])
    # The re-run's nine unchanged blocks are duplicates; the new one is clean.
    assert q(rt, "SELECT SUM(DUPLICATE_ROWS), SUM(CLEAN_ROWS) FROM OPS.LOAD_LEDGER") == [(9, 11)]
    backfill(900_020, "above")  # the block above decides the chain
    flags = dict(q(rt, "SELECT BLOCK_HASH, IS_CANONICAL FROM SILVER.BLOCKS WHERE HEIGHT = 900019"))
    assert flags == {replaced.hash: False, replacement.hash: True}
