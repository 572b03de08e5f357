"""Gold on demand (60_tasks.sql): REFRESH_GOLD's schedule only checks for a requested run
(OPS.GOLD_REQUESTS: the History page while it is open, GOLD_TICK every gold_idle_minutes,
the deploy's own), and a check that finds none runs nothing; a run
consumes the requests, logs them, and sets its tests due gold_test_hours after the last
run that did. The local runtime runs the deploy's own block against fakesnow, the dbt
project replaced by a recorder."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.test_gold_schedule import Recorder
from tests.warehouse_helpers import q

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


def gold_runs(rt: LocalSnowflake) -> list[tuple[Any, ...]]:
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
