"""The checks on answers in Snowflake's shape that the local runtime never gives: a stream
near its STALE_AFTER or stale (local streams never go stale), a pipe Snowflake stopped."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from operations import status


class Answers(status.Reader):
    """A Reader whose rows come from a table of SQL -> rows, as Snowflake returns them."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]]) -> None:
        super().__init__(None, "MEMPOOL")
        self.answers = answers

    def rows(self, sql: str) -> list[dict[str, Any]]:
        return self.answers[sql.format(db=self.database)]


def stream(name: str, stale: str, after: datetime) -> dict[str, Any]:
    return {"name": name, "schema_name": "RAW", "stale": stale, "stale_after": after}


def test_a_stream_within_two_days_of_stale_or_stale_needs_attention() -> None:
    now = datetime.now(UTC)
    show = status.SHOW_STREAMS.format(db="MEMPOOL")
    check = status.streams(
        Answers(
            {
                show: [
                    stream("STREAM_EVENTS_STRM", "false", now + timedelta(days=13)),
                    stream("PRICES_STRM", "false", now + timedelta(days=1)),
                    stream("BLOCKS_STRM", "true", now - timedelta(days=1)),
                ]
            }
        )
    )
    assert not check.ok
    assert "RAW.BLOCKS_STRM is stale" in check.figure
    assert "RAW.PRICES_STRM goes stale at" in check.figure
    assert "STREAM_EVENTS_STRM" not in check.figure
    fine = status.streams(
        Answers({show: [stream("STREAM_EVENTS_STRM", "false", now + timedelta(days=13))]})
    )
    assert fine.ok


def test_a_pipe_snowflake_stopped_needs_attention_with_its_state() -> None:
    show = status.SHOW_PIPES.format(db="MEMPOOL")
    pipe_status = "SELECT SYSTEM$PIPE_STATUS('MEMPOOL.RAW.{}')"
    answer = {
        "executionState": "STOPPED_STAGE_ALTERED",
        "pendingFileCount": 3,
        "lastIngestedTimestamp": "2026-12-04T20:00:00.000Z",
    }
    check = status.pipes(
        Answers(
            {
                show: [{"name": "BLOCKS_PIPE", "schema_name": "RAW"}],
                pipe_status.format("BLOCKS_PIPE"): [{"x": json.dumps(answer)}],
            }
        )
    )
    assert not check.ok
    assert "RAW.BLOCKS_PIPE STOPPED_STAGE_ALTERED, 3 pending, last load" in check.figure
