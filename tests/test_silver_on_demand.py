"""Freshness on demand (60_tasks.sql): REFRESH_SILVER runs only when data has landed AND
a run was requested since the last one (OPS.SILVER_REQUESTS: the open Live page at
each refresh, SILVER_TICK every silver_idle_minutes), and a run consumes the requests.
Offline, the WHEN as the local runtime parses it from the deploy's SQL; then the local
runtime against moto and fakesnow: nothing lost while nobody asks, everything loaded by
the run a request or the tick starts, and no second run without a second request."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ingest import contract
from operations.deploy import DeployConfig
from sandbox.snowflake_local import conditions
from sandbox.snowflake_local.plan import LocalDeployError
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.snowflake_local.tasks import TaskGraph
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.test_gold_schedule import graph
from tests.warehouse_helpers import land, q

CONFIG = DeployConfig(database="ACME")
REQUESTS = "SILVER.REQUESTS_STRM"
RAW = (
    "RAW.STREAM_EVENTS_STRM",
    "RAW.CONVERSIONS_STRM",
    "RAW.BLOCKS_STRM",
    "RAW.PRICES_STRM",
    "RAW.REST_STATS_STRM",
    "RAW.OVERSIZE_STRM",
)


def deployed_tasks() -> TaskGraph:
    return graph()[0]


def test_refresh_silver_needs_a_request_and_landed_data() -> None:
    task = deployed_tasks().task("OPS.REFRESH_SILVER")
    assert task is not None and task.trigger is not None
    assert sorted(task.trigger.streams()) == sorted([REQUESTS, *RAW])
    for raw in RAW:
        assert task.trigger.holds(lambda s, r=raw: s in (REQUESTS, r))
        assert not task.trigger.holds(lambda s, r=raw: s == r)  # landed, nobody asked
    assert not task.trigger.holds(lambda s: s == REQUESTS)  # asked, nothing landed
    assert not task.trigger.holds(lambda s: False)


def test_the_idle_tick_is_a_scheduled_insert_of_a_request() -> None:
    rt = deployed_tasks()
    tick = rt.task("OPS.SILVER_TICK")
    assert tick is not None and tick.started
    assert tick.schedule == f"{CONFIG.silver_idle_minutes} MINUTES"
    assert tick.statement.startswith("INSERT INTO ACME.OPS.SILVER_REQUESTS")
    rt.schedule_scale = 60.0  # ten minutes in ten seconds
    assert rt.local_interval_s(tick.schedule) == 10.0


@pytest.mark.parametrize(
    ("when", "has_data", "expected"),
    [
        ("SYSTEM$STREAM_HAS_DATA('A') OR SYSTEM$STREAM_HAS_DATA('B')", {"B"}, True),
        # AND binds tighter than OR, as in SQL.
        (
            "SYSTEM$STREAM_HAS_DATA('A') OR SYSTEM$STREAM_HAS_DATA('B') "
            "AND SYSTEM$STREAM_HAS_DATA('C')",
            {"A"},
            True,
        ),
        (
            "(SYSTEM$STREAM_HAS_DATA('A') OR SYSTEM$STREAM_HAS_DATA('B')) "
            "AND SYSTEM$STREAM_HAS_DATA('C')",
            {"A"},
            False,
        ),
        ("NOT SYSTEM$STREAM_HAS_DATA('A') and system$stream_has_data('b')", {"B"}, True),
    ],
)
def test_a_when_is_evaluated_as_sql_evaluates_it(
    when: str, has_data: set[str], expected: bool
) -> None:
    condition = conditions.parse(when, str.upper)
    assert condition.holds(lambda stream: stream in has_data) is expected


@pytest.mark.parametrize(
    "when",
    [
        "SYSTEM$STREAM_HAS_DATA('A') OR",
        "(SYSTEM$STREAM_HAS_DATA('A')",
        "SYSTEM$STREAM_HAS_DATA('A') SYSTEM$STREAM_HAS_DATA('B')",
        "SYSTEM$STREAM_HAS_DATA('A') = TRUE",
    ],
)
def test_a_when_the_runtime_cannot_evaluate_fails_the_deploy(when: str) -> None:
    rt = deployed_tasks()
    statement = (
        "CREATE OR REPLACE TASK ACME.OPS.ODD TARGET_COMPLETION_INTERVAL = '1 MINUTES' "
        f"WHEN {when} AS CALL ACME.SILVER.REFRESH_SILVER()"
    )
    with pytest.raises(LocalDeployError, match=r"OPS\.ODD"):
        rt._declare_task(statement)


@pytest.fixture(scope="module")
def runtime(moto_endpoint: str, fakesnow_server: LocalWarehouse) -> Iterator[LocalSnowflake]:
    with landing_zone(moto_endpoint, "on-demand") as landing:
        rt = new_runtime(landing, fakesnow_server)
        rt.deploy()
        try:
            yield rt
        finally:
            rt.close()


def fees(seq: int) -> bytes:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload = {"fastestFee": seq, "halfHourFee": 1, "hourFee": 1, "economyFee": 1, "minimumFee": 1}
    record = contract.Record("ws", "fees", "on-demand", seq, at, payload)
    return contract.encode_ndjson([record])


def counts(rt: LocalSnowflake) -> tuple[Any, ...]:
    """Rows landed in RAW, fee rows clean in SILVER, and silver runs logged so far (the
    module's database is its own)."""
    db = rt.database
    return (
        q(rt, f"SELECT COUNT(*) FROM {db}.RAW.STREAM_EVENTS")[0][0],
        q(rt, f"SELECT COUNT(*) FROM {db}.SILVER.RECOMMENDED_FEES")[0][0],
        q(rt, f"SELECT COUNT(*) FROM {db}.OPS.SILVER_REFRESHES")[0][0],
    )


@pytest.mark.stack
def test_nobody_asking_holds_the_data_in_raw_and_one_request_loads_it_all(
    runtime: LocalSnowflake,
) -> None:
    rt = runtime
    land(rt, contract.PREFIX_STREAM, fees(0))
    rt.drain_notifications()
    # The deploy's own request (90_resume.sql) loads what landed before anyone asked.
    assert len(rt.run_graph()) == 1
    before = counts(rt)
    assert before[1] == 1
    for seq in (1, 2):
        land(rt, contract.PREFIX_STREAM, fees(seq))
        rt.drain_notifications()
        assert rt.run_graph() == []  # landed, nobody asked: no run
    raw, clean, runs = counts(rt)
    assert (raw - before[0], clean - before[1], runs) == (2, 0, before[2])
    rt.request_silver("TEST")
    rt.request_silver("TEST")  # a second viewer's refresh while one request waits
    assert len(rt.run_graph()) == 1
    raw, clean, runs = counts(rt)
    assert (clean - before[1], runs - before[2]) == (2, 1)
    served = q(
        rt,
        f"SELECT REQUESTS, TICK_REQUESTS FROM {rt.database}.OPS.SILVER_REFRESHES "
        "ORDER BY STARTED_AT DESC LIMIT 1",
    )
    assert served == [(1, 0)]
    land(rt, contract.PREFIX_STREAM, fees(3))
    rt.drain_notifications()
    assert rt.run_graph() == []  # the request was consumed by the run that served it


@pytest.mark.stack
def test_the_idle_tick_requests_the_run_nobody_else_asked_for(runtime: LocalSnowflake) -> None:
    rt = runtime
    land(rt, contract.PREFIX_STREAM, fees(4))
    rt.drain_notifications()
    assert rt.run_graph() == []
    clean = counts(rt)[1]
    rt.schedule_override_s = 0.0  # the tick is due at once
    try:
        rt.run_scheduled()  # no dbt runner: SILVER_TICK alone
    finally:
        rt.schedule_override_s = None
    assert len(rt.run_graph()) == 1
    assert counts(rt)[1] > clean
    served = q(
        rt,
        f"SELECT REQUESTS, TICK_REQUESTS FROM {rt.database}.OPS.SILVER_REFRESHES "
        "ORDER BY STARTED_AT DESC LIMIT 1",
    )
    assert served == [(1, 1)]


class Session:
    """Snowpark's `sql(...).collect()`, recording each statement; `failing` ones raise."""

    def __init__(self, *failing: str) -> None:
        self.statements: list[str] = []
        self.failing = failing

    def sql(self, text: str) -> Session:
        self.statements.append(text)
        self._text = text
        return self

    def collect(self) -> list[tuple[str]]:
        if any(part in self._text for part in self.failing):
            raise RuntimeError(f"failed: {self._text.split()[0]}")
        return [("ok",)]


@pytest.mark.parametrize(
    "failing", ["SILVER.REQUESTS_STRM", "DELETE FROM OPS.SILVER_REQUESTS", "BUILD_STATS"]
)
def test_a_failed_chore_or_stage_stops_no_stage_and_asks_for_the_next_run(failing: str) -> None:
    """Serving the requests failing (a stale stream, say) must not stop SILVER: every stage
    still runs; and a run that failed anywhere asks for the next one, since the request
    that started it is consumed (else the retry would wait for the idle tick)."""
    from mempool_procs import refresh_silver

    session = Session(failing)
    with pytest.raises(refresh_silver.StagesFailed, match="failed"):
        refresh_silver.run(session)
    calls = [s for s in session.statements if s.startswith("CALL ")]
    assert calls == [f"CALL {stage}()" for stage in refresh_silver.STAGES]
    assert session.statements[-1] == refresh_silver.RETRY


def test_a_clean_run_serves_the_requests_first_and_asks_for_nothing() -> None:
    """The requests are served before any stage, and nothing changes the requests' table
    after the statement that consumes its stream (a later version could read as a new
    request), so a clean run asks for no next run."""
    from mempool_procs import refresh_silver

    session = Session()
    refresh_silver.run(session)
    served = session.statements.index(refresh_silver.SERVE_REQUESTS)
    assert not any(s.startswith("CALL ") for s in session.statements[:served])
    assert not any("OPS.SILVER_REQUESTS" in s for s in session.statements[served + 1 :])
    assert refresh_silver.STREAM in refresh_silver.SERVE_REQUESTS
    assert refresh_silver.RETRY not in session.statements
