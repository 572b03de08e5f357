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


def credit_answers(rows: list[dict[str, Any]], budget: float = 1) -> dict[str, list[Any]]:
    budget_sql = status.THRESHOLD.replace("<name>", "SERVERLESS_CREDITS_PER_DAY")
    return {
        status.CREDITS.format(db="MEMPOOL"): rows,
        budget_sql.format(db="MEMPOOL"): [{"value": budget}],
    }


def test_credits_print_each_kind_for_the_day_and_the_month_and_hold_serverless_to_budget() -> None:
    """Snowflake answers OPS.CREDITS_BY_KIND with a row per kind billed (a kind not
    billed has none); over the daily budget is a serverless kind, not the warehouse."""
    rows = [
        {"kind": "warehouse", "last_day": 1.5, "last_30_days": 44.25},
        {"kind": "serverless tasks", "last_day": 0.2, "last_30_days": 5.0},
        {"kind": "Snowpipe", "last_day": 0.01, "last_30_days": 0.12},
    ]
    check = status.credits(Answers(credit_answers(rows)))
    assert check.ok, check
    assert "warehouse 1.50 / 44.25" in check.figure
    assert "serverless tasks 0.20 / 5.00" in check.figure
    assert "Snowpipe 0.01 / 0.12 (14 days kept)" in check.figure
    assert "serverless alerts 0.00 / 0.00" in check.figure
    assert "the app runs on the warehouse (counted there)" in check.figure
    assert "total 1.71 / 49.37" in check.figure
    over = [*rows, {"kind": "serverless alerts", "last_day": 1.25, "last_30_days": 2.0}]
    check = status.credits(Answers(credit_answers(over)))
    assert not check.ok
    assert check.figure.startswith("serverless alerts over the daily budget of 1 credits")
    # The budget is read, not assumed: raised above the figure, the same day is fine.
    assert status.credits(Answers(credit_answers(over, budget=2))).ok


def test_no_credit_history_is_fine_locally_and_needs_attention_on_snowflake() -> None:
    local = Answers(credit_answers([]))
    local.local = True
    check = status.credits(local)
    assert (check.ok, check.figure) == (True, "no credit history (local warehouse)")
    check = status.credits(Answers(credit_answers([])))
    assert not check.ok and "MONITOR USAGE" in check.hint


def test_the_credit_kinds_are_the_views_and_the_budgeted_ones_the_alerts() -> None:
    """The kinds the check prints are OPS.CREDITS_BY_KIND's, and the ones it holds to the
    budget are the sources CREDITS_ALERT holds to it (OPS.CREDIT_USAGE)."""
    import re
    from pathlib import Path

    sql = (Path(__file__).parents[1] / "snowflake" / "sql" / "80_alerts.sql").read_text()
    by_kind = sql.split("VIEW <% database %>.OPS.CREDITS_BY_KIND AS")[1].split(";")[0]
    usage = sql.split("VIEW <% database %>.OPS.CREDIT_USAGE AS")[1].split(";")[0]
    assert tuple(re.findall(r"SELECT '([^']+)' AS KIND", by_kind)) == status.CREDIT_KINDS
    assert tuple(re.findall(r"SELECT '([^']+)' AS SOURCE", usage)) == status.BUDGETED_KINDS
