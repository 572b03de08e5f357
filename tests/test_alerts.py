"""The deploy's alerts (snowflake/sql/80_alerts.sql) on a local warehouse: a healthy one
fires none, and each condition, provoked, fires its alert with a message naming the
object, the figure and the runbook section; runs land in OPS.ALERT_RUNS, which
`mempool status` reads. One warehouse (test_status's, loaded and built through gold);
each test makes its problem, runs the alert as EXECUTE ALERT does and puts it back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.test_status import attention, healthy, status  # noqa: F401  (the fixture)
from tests.warehouse_helpers import land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt]

REPO = Path(__file__).resolve().parents[1]
ALERTS = [
    "FRESHNESS_ALERT",
    "BACKLOG_ALERT",
    "QUARANTINE_ALERT",
    "TASKS_ALERT",
    "PIPES_ALERT",
    "STREAMS_ALERT",
    "HEIGHT_GAPS_ALERT",
    "CREDITS_ALERT",
]


@pytest.fixture
def rt(healthy: LocalSnowflake) -> Iterator[LocalSnowflake]:  # noqa: F811
    """The healthy warehouse, its alert history and notifications emptied afterwards."""
    yield healthy
    healthy.execute(f"DELETE FROM {healthy.database}.OPS.ALERT_RUNS")
    healthy.execute(f"DELETE FROM {healthy.database}._LOCAL.ALERT_NOTIFICATIONS")


def fire(rt: LocalSnowflake, name: str) -> dict[str, Any]:
    """Run the alert once; it must trigger. Its notification, as recorded."""
    assert rt.execute_alert(f"OPS.{name}") == "TRIGGERED"
    rows = q(
        rt,
        f"SELECT INTEGRATION, CONTENT_TYPE, MESSAGE FROM {rt.database}._LOCAL.ALERT_NOTIFICATIONS "
        f"WHERE ALERT_NAME = 'OPS.{name}' ORDER BY RECORDED_AT DESC LIMIT 1",
    )
    assert rows, name
    integration, content_type, message = rows[0]
    assert integration == rt.config.error_integration and content_type == "application/json"
    body: dict[str, Any] = json.loads(message)
    assert body["alert"] == f"{rt.database}.OPS.{name}"
    assert body["runbook"] == f"docs/runbook.md#{name.lower()}"
    return body


def test_the_deploy_creates_every_alert_resumed(rt: LocalSnowflake) -> None:
    assert sorted(a.name for a in rt.plan.alerts) == sorted(f"OPS.{a}" for a in ALERTS)
    assert all(a.started for a in rt.plan.alerts)


def test_a_healthy_warehouse_fires_no_alert(
    rt: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    states = {a: rt.execute_alert(f"OPS.{a}") for a in ALERTS}
    assert states == dict.fromkeys(ALERTS, "CONDITION_FALSE")
    runs = q(rt, f"SELECT ALERT_NAME, STATE FROM {rt.database}.OPS.ALERT_RUNS")
    assert sorted(runs) == sorted((a, "CONDITION_FALSE") for a in ALERTS)
    assert q(rt, f"SELECT COUNT(*) FROM {rt.database}._LOCAL.ALERT_NOTIFICATIONS") == [(0,)]
    code, out = status(rt, capsys, "alerts")
    assert code == 0 and "8 alerts started, none fired in the last day" in out, out


def test_a_stale_table_fires_the_freshness_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt.execute(f"UPDATE {db}.SILVER.PRICES SET RECEIVED_AT = DATEADD(DAY, -2, RECEIVED_AT)")
    try:
        body = fire(rt, "FRESHNESS_ALERT")
    finally:
        rt.execute(f"UPDATE {db}.SILVER.PRICES SET RECEIVED_AT = DATEADD(DAY, 2, RECEIVED_AT)")
    assert "SILVER.PRICES: 28" in body["message"] and "(target 40 min)" in body["message"]


def test_a_builder_backlog_fires_the_backlog_alert(
    rt: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    db = rt.database
    rt.execute(
        f"INSERT INTO {db}.OPS.CONSUMER_BATCH VALUES ('BUILD_BLOCKS', 'k1', 'blocks', 'b-9'), "
        "('BUILD_BLOCKS', 'k2', 'blocks', 'b-9')"
    )
    try:
        body = fire(rt, "BACKLOG_ALERT")
        code, out = status(rt, capsys, "alerts")
    finally:
        rt.execute(f"DELETE FROM {db}.OPS.CONSUMER_BATCH WHERE BATCH_ID = 'b-9'")
    assert body["message"] == "OPS.BUILD_BLOCKS: 2 events pending since batch b-9"
    # The status says it fired, and that it would fire now, from the same condition.
    line = attention(out, "alerts")
    assert "OPS.BACKLOG_ALERT would fire: OPS.BUILD_BLOCKS: 2 events pending" in line
    assert "OPS.BACKLOG_ALERT fired 1 times in the last day" in line
    assert code == 1


def test_the_threshold_is_read_from_its_one_place(
    rt: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    """Raised above the backlog, neither the alert nor the status check fires."""
    db = rt.database
    rt.execute(f"INSERT INTO {db}.OPS.CONSUMER_BATCH VALUES ('BUILD_STATS', 'k1', 'fees', 'b-8')")
    rt.execute(f"UPDATE {db}.OPS.ALERT_THRESHOLDS SET VALUE = 5 WHERE NAME = 'BACKLOG_EVENTS'")
    try:
        state = rt.execute_alert("OPS.BACKLOG_ALERT")
        code, out = status(rt, capsys, "backlog")
    finally:
        rt.execute(f"UPDATE {db}.OPS.ALERT_THRESHOLDS SET VALUE = 0 WHERE NAME = 'BACKLOG_EVENTS'")
        rt.execute(f"DELETE FROM {db}.OPS.CONSUMER_BATCH WHERE BATCH_ID = 'b-8'")
    assert state == "CONDITION_FALSE"
    assert code == 0, out


def test_quarantined_records_fire_the_quarantine_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt.execute(
        f"INSERT INTO {db}.OPS.QUARANTINE (SOURCE_TABLE, TOPIC, STAGE, REASON, BATCH_ID, "
        "QUARANTINED_AT) VALUES ('RAW.STREAM_EVENTS', 'fees', 'load', 'received_at in the "
        "future', 'q-9', SYSDATE())"
    )
    try:
        body = fire(rt, "QUARANTINE_ALERT")
    finally:
        rt.execute(f"DELETE FROM {db}.OPS.QUARANTINE WHERE BATCH_ID = 'q-9'")
    assert body["message"] == (
        "OPS.QUARANTINE fees: 1 records in the last day (received_at in the future)"
    )


def test_a_failing_task_fires_the_tasks_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    at = datetime.now(UTC).replace(tzinfo=None)
    for minutes in (2, 1):
        rt.execute(
            f"INSERT INTO {db}.OPS.TASK_RUNS (TASK_NAME, STATE, SCHEDULED_AT, STARTED_AT, "
            "COMPLETED_AT, ERROR_MESSAGE) VALUES ('BUILD_PRICES', 'FAILED', ?, ?, ?, "
            "'ProgrammingError: division by zero')",
            [at, at, at + timedelta(minutes=minutes)],
        )
    try:
        body = fire(rt, "TASKS_ALERT")
    finally:
        rt.execute(f"DELETE FROM {db}.OPS.TASK_RUNS WHERE STATE = 'FAILED'")
    assert body["message"].startswith("OPS.BUILD_PRICES: 2 failed runs in a row, last at ")
    assert body["message"].endswith("UTC: ProgrammingError: division by zero")


def test_a_paused_pipe_and_load_errors_fire_the_pipes_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt._apply(f"ALTER PIPE {db}.RAW.PRICES_PIPE SET PIPE_EXECUTION_PAUSED = TRUE")
    try:
        land(rt, contract.PREFIX_PRICES, b"")
        rt.drain_notifications()
        body = fire(rt, "PIPES_ALERT")
    finally:
        rt._apply(f"ALTER PIPE {db}.RAW.PRICES_PIPE SET PIPE_EXECUTION_PAUSED = FALSE")
    assert body["message"].startswith(
        "RAW.PRICES_PIPE: PAUSED, 1 pending, 0 load errors in the last day"
    )
    assert "STREAM_EVENTS_PIPE" not in body["message"]
    # A line the pipe rejected (invalid UTF-8 is replaced by the file format, so the
    # error is recorded as the pipe emulation records one).
    (file_name,) = q(rt, f"SELECT MAX(FILE_NAME) FROM {db}._LOCAL.PIPE_FILES")[0]
    rt.execute(
        f"INSERT INTO {db}._LOCAL.LOAD_ERRORS VALUES ('RAW.STREAM_EVENTS_PIPE', ?, 3, 'bad')",
        [file_name],
    )
    try:
        body = fire(rt, "PIPES_ALERT")
    finally:
        rt.execute(f"DELETE FROM {db}._LOCAL.LOAD_ERRORS WHERE ERROR = 'bad'")
    assert (
        "RAW.STREAM_EVENTS_PIPE: RUNNING, 0 pending, 1 load errors in the last day"
        in (body["message"])
    )


def test_a_stream_close_to_stale_fires_the_streams_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt.execute(
        f"UPDATE {db}._LOCAL.STREAM_OFFSETS SET MOVED_AT = DATEADD(DAY, -13, SYSDATE()) "
        "WHERE STREAM = 'RAW.OVERSIZE_STRM'"
    )
    try:
        body = fire(rt, "STREAMS_ALERT")
    finally:
        rt.execute(
            f"UPDATE {db}._LOCAL.STREAM_OFFSETS SET MOVED_AT = SYSDATE() "
            "WHERE STREAM = 'RAW.OVERSIZE_STRM'"
        )
    assert body["message"].startswith("RAW.OVERSIZE_STRM: offset unmoved since ")
    assert body["message"].endswith(" UTC (312 h)")


def test_a_height_gap_fires_the_height_gaps_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt.execute(f"INSERT INTO {db}.SILVER.BLOCK_GAPS VALUES (999990, 999992, '2026-01-13 10:00:00')")
    try:
        body = fire(rt, "HEIGHT_GAPS_ALERT")
    finally:
        rt.execute(f"DELETE FROM {db}.SILVER.BLOCK_GAPS WHERE HEIGHT = 999990")
    # (fakesnow ignores TO_VARCHAR's format and adds the seconds Snowflake leaves out)
    assert body["message"].startswith(
        "SILVER.BLOCK_GAPS: heights 999990 to 999992 missing since 2026-01-13 10:00"
    )
    assert body["message"].endswith(" UTC")


def test_credits_over_the_budget_fire_the_credits_alert(rt: LocalSnowflake) -> None:
    db = rt.database
    rt.execute(
        f"INSERT INTO {db}.OPS.CREDIT_USAGE VALUES ('serverless tasks', "
        "DATEADD(HOUR, -1, SYSDATE()), 2.75), "
        "('serverless tasks', DATEADD(HOUR, -2, SYSDATE()), 0.5)"
    )
    try:
        body = fire(rt, "CREDITS_ALERT")
    finally:
        rt.execute(f"DELETE FROM {db}.OPS.CREDIT_USAGE")
    # (Snowflake writes the FLOAT budget as 3, fakesnow as 3.0)
    assert body["message"].startswith("serverless tasks: 3.25 credits in the last day (budget 3")


def test_alerts_run_on_their_schedule_and_only_when_resumed(rt: LocalSnowflake) -> None:
    """Fifteen minutes after the resume the 15-minute alerts run, the hourly and
    half-daily ones not yet; a suspended alert never runs on its schedule."""
    db = rt.database
    rt._apply(f"ALTER ALERT {db}.OPS.TASKS_ALERT SUSPEND")
    try:
        states = rt.run_alerts(datetime.now(UTC) + timedelta(minutes=16))
        ran = sorted(r[0] for r in q(rt, f"SELECT ALERT_NAME FROM {db}.OPS.ALERT_RUNS"))
    finally:
        rt._apply(f"ALTER ALERT {db}.OPS.TASKS_ALERT RESUME")
    assert ran == ["BACKLOG_ALERT", "FRESHNESS_ALERT", "PIPES_ALERT"]
    assert states == ["CONDITION_FALSE"] * 3


def test_a_condition_that_cannot_run_is_recorded_as_failed(
    rt: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    """OPS.TABLE_FRESHNESS is dbt's: gone (or not built yet), the alert records why."""
    db = rt.database
    rt.execute(f"ALTER VIEW {db}.OPS.TABLE_FRESHNESS RENAME TO {db}.OPS.TABLE_FRESHNESS_AWAY")
    try:
        state = rt.execute_alert("OPS.FRESHNESS_ALERT")
        code, out = status(rt, capsys, "alerts")
    finally:
        rt.execute(f"ALTER VIEW {db}.OPS.TABLE_FRESHNESS_AWAY RENAME TO {db}.OPS.TABLE_FRESHNESS")
    assert state == "CONDITION_FAILED"
    (error,) = q(rt, f"SELECT ERROR_MESSAGE FROM {db}.OPS.ALERT_RUNS")[0]
    assert "TABLE_FRESHNESS" in error
    assert code == 1 and "OPS.FRESHNESS_ALERT ended CONDITION_FAILED 1 times" in out
