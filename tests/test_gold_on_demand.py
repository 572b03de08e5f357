"""Gold on demand (60_tasks.sql): REFRESH_GOLD's schedule only checks for a requested run
(OPS.GOLD_REQUESTS: the History page while it is open, GOLD_TICK every gold_idle_minutes,
the deploy's own), and a check that finds none runs nothing; a run
consumes the requests, logs them, and sets its tests due gold_test_hours after the last
run that did. The local runtime runs the deploy's own block against fakesnow, the dbt
project replaced by a recorder."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ingest import contract
from sandbox.snowflake_local.base import RuntimeLock
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.snowflake_local.tasks import Lane
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.test_gold_schedule import Recorder
from tests.warehouse_helpers import cycle, land, q, rec

pytestmark = pytest.mark.stack

RUN, TEST = "run --target prod", "test --target prod"


@pytest.fixture
def runtime(moto_endpoint: str, fakesnow_server: LocalWarehouse) -> Iterator[LocalSnowflake]:
    with landing_zone(moto_endpoint, "gold-on-demand") as landing:
        rt = new_runtime(landing, fakesnow_server)
        rt.deploy()
        # Every schedule is due at each pass: what a run does is decided by the requests.
        rt.schedule_override_s = 0.0
        try:
            yield rt
        finally:
            rt.close()


def gold_runs(rt: LocalSnowflake) -> list[Any]:
    """REFRESH_GOLD's runs as the task history has them, oldest first."""
    return [
        row[0]
        for row in q(
            rt,
            f"SELECT STATE FROM {rt.database}.OPS.TASK_RUNS WHERE TASK_NAME = 'REFRESH_GOLD' "
            "ORDER BY STARTED_AT",
        )
    ]


def served(rt: LocalSnowflake) -> list[tuple[Any, ...]]:
    """(requests, tick requests, tests due) of each logged run, oldest first."""
    return q(
        rt,
        f"SELECT REQUESTS, TICK_REQUESTS, TESTS_DUE FROM {rt.database}.OPS.GOLD_REFRESHES "
        "ORDER BY STARTED_AT",
    )


def without_tick(rt: LocalSnowflake) -> None:
    """Nobody's tick: the test makes every request itself."""
    tick = rt.task("GOLD.GOLD_TICK")
    assert tick is not None
    tick.started = False


def test_gold_runs_only_when_asked_and_tests_when_due(runtime: LocalSnowflake) -> None:
    rt = runtime
    without_tick(rt)
    rt.dbt_runner = runner = Recorder()
    # The deploy's request (90_resume.sql): the first run builds, and tests, since no run
    # has set the tests due yet.
    rt.run_scheduled()
    assert runner.calls == [RUN, TEST]
    assert served(rt) == [(1, 0, True)]
    # Nobody asks: the check runs nothing, and dbt does not run.
    rt.run_scheduled()
    assert runner.calls == [RUN, TEST]
    assert gold_runs(rt) == ["SUCCEEDED"]
    # Two viewers ask while one request waits: one run, and the tests are not due again
    # within gold_test_hours.
    rt.request_gold("TEST")
    rt.execute(
        f"INSERT INTO {rt.database}.OPS.GOLD_REQUESTS (REQUESTED_AT, REQUESTED_BY) "
        "SELECT SYSDATE(), 'TEST'"
    )
    rt.run_scheduled()
    assert runner.calls == [RUN, TEST, RUN]
    assert served(rt)[-1] == (2, 0, False)
    rt.run_scheduled()
    assert runner.calls == [RUN, TEST, RUN]
    # The last tested run was gold_test_hours ago: the next run tests.
    rt.execute(
        f"UPDATE {rt.database}.OPS.GOLD_REFRESHES SET STARTED_AT = DATEADD(HOUR, -7, STARTED_AT)"
    )
    rt.request_gold("TEST")
    rt.run_scheduled()
    assert runner.calls == [RUN, TEST, RUN, RUN, TEST]
    assert served(rt)[-1] == (1, 0, True)


def test_the_idle_tick_asks_for_the_run_nobody_else_asked_for(runtime: LocalSnowflake) -> None:
    rt = runtime
    rt.dbt_runner = runner = Recorder()
    rt.run_scheduled()  # the deploy's request; the tick asks after the check (its order)
    calls = len(runner.calls)
    rt.run_scheduled()
    assert runner.calls[calls:] == [RUN]
    assert served(rt)[-1][:2] == (1, 1)


def test_a_failed_run_asks_for_no_retry_and_runs_no_tests(runtime: LocalSnowflake) -> None:
    """A dbt failure must not keep the warehouse awake: the requests it consumed are
    logged, nothing asks again, and the next check finds nothing to do."""
    rt = runtime
    without_tick(rt)
    rt.dbt_runner = runner = Recorder(fail="run")
    with pytest.raises(RuntimeError, match="dbt run"):
        rt.run_scheduled()
    assert runner.calls == [RUN]
    assert gold_runs(rt) == ["FAILED"]
    assert served(rt) == [(1, 0, False)]
    assert not rt.stream_has_data("SILVER.GOLD_REQUESTS_STRM")
    rt.run_scheduled()
    assert runner.calls == [RUN] and gold_runs(rt) == ["FAILED"]


def test_silver_refreshes_while_gold_builds_on_its_warehouse(runtime: LocalSnowflake) -> None:
    """The demo's two lanes (sandbox.pipeline.SnowflakeRuntimeComponent), as Snowflake's
    two kinds of compute: while REFRESH_GOLD's dbt runs, the serverless lane loads, runs
    the silver task and its own schedules, and runs none of the warehouse's graphs."""
    rt = runtime
    without_tick(rt)
    building, finish = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_dbt(args: str = RUN) -> str:
        calls.append(args)
        building.set()
        assert finish.wait(120)
        return "ok"

    def lane(name: Lane) -> None:
        with rt.lock.held():
            if name == "serverless":
                cycle(rt)
            rt.run_scheduled(name)

    rt.dbt_runner = slow_dbt
    fees = {"fastestFee": 5.0, "halfHourFee": 4.0, "hourFee": 3.0}
    land(rt, contract.PREFIX_STREAM, rec("fees", fees, 1).to_line())
    gold = threading.Thread(target=lane, args=("warehouse",), daemon=True)
    silver = threading.Thread(target=lane, args=("serverless",), daemon=True)
    try:
        gold.start()
        assert building.wait(60), "the warehouse lane never reached dbt"
        silver.start()
        silver.join(60)
        assert not silver.is_alive(), "the serverless lane waited for gold's dbt run"
        runs = q(rt, f"SELECT TASK_NAME, STATE FROM {rt.database}.OPS.TASK_RUNS")
        assert ("REFRESH_SILVER", "SUCCEEDED") in runs
        assert calls == [RUN] and gold_runs(rt) == []  # gold's run is still under way
    finally:
        finish.set()
        gold.join(60)
    assert calls == [RUN, TEST] and gold_runs(rt) == ["SUCCEEDED"]


def test_a_lane_that_lets_go_and_asks_again_waits_behind_the_lane_already_waiting() -> None:
    """The serverless lane's cycles run back to back while it is behind: each time it lets
    go, the warehouse lane waiting (a dbt run that finished, to record its end) goes first."""
    lock = RuntimeLock()
    order: list[str] = []

    def warehouse() -> None:
        with lock.held():
            order.append("warehouse")

    waiter = threading.Thread(target=warehouse, daemon=True)
    with lock.held():
        waiter.start()
        deadline = time.monotonic() + 10
        while lock.waiting == 0:
            assert time.monotonic() < deadline, "the warehouse lane never asked"
            time.sleep(0.01)
    with lock.held():
        order.append("serverless")
    waiter.join(10)
    assert order == ["warehouse", "serverless"]
