"""The local runtime runs the gold graph as 60_tasks.sql defines it: REFRESH_GOLD's
`dbt run` on its SCHEDULE scaled by the demo's --speed, then TEST_GOLD's `dbt test` only
when the run set the return value its WHEN reads (else SKIPPED), and a failing test is
the test task's failure in the task history. Offline: the task definitions are parsed
from the rendered SQL, the dbt runner and the history are recorders."""

from __future__ import annotations

from typing import Any

import pytest

from operations.deploy import DeployConfig, render
from operations.sql_text import split_statements
from sandbox.snowflake_local.plan import SQL_DIR, LocalDeployError, Plan
from sandbox.snowflake_local.tasks import TaskGraph

CONFIG = DeployConfig(database="ACME")


class Recorder:
    def __init__(self, fail: str = "") -> None:
        self.calls: list[str] = []
        self.fail = fail

    def __call__(self, args: str = "run --target prod") -> str:
        self.calls.append(args)
        if self.fail and args.startswith(self.fail):
            raise RuntimeError(f"dbt {args} exit 1")
        return "ok"


def graph(runner: Recorder) -> tuple[TaskGraph, list[tuple[str, str, Any]]]:
    """A task graph fed the deploy's tasks and resume statements, recording its runs."""
    rt = TaskGraph.__new__(TaskGraph)
    rt.plan, rt.database = Plan(), CONFIG.database
    rt.dbt_runner = runner
    records: list[tuple[str, str, Any]] = []
    rt._save_tasks = lambda: None  # type: ignore[method-assign]
    # SILVER_TICK's INSERT, the one statement task, has no warehouse here.
    rt.execute = lambda statement, params=None: []  # type: ignore[method-assign]
    rt._record_run = lambda name, state, started, error: records.append((name, state, error))  # type: ignore[method-assign,assignment]
    for sql_file in ("60_tasks.sql", "90_resume.sql"):
        for statement in split_statements(
            render((SQL_DIR / sql_file).read_text(), CONFIG.values())
        ):
            rt._declare_task(statement)
            rt._task_state(statement)
    return rt, records


def test_the_gold_graph_is_parsed_from_the_deploys_sql() -> None:
    rt, _ = graph(Recorder())
    root, tests = rt.task("GOLD.REFRESH_GOLD"), rt.task("GOLD.TEST_GOLD")
    assert root is not None and tests is not None
    assert (root.schedule, root.dbt_args, root.returns) == (
        "60 MINUTES",
        "run --target prod",
        ("test", 6 * 3600.0),
    )
    assert (tests.parents, tests.dbt_args, tests.when_returned) == (
        ["GOLD.REFRESH_GOLD"],
        "test --target prod",
        ("REFRESH_GOLD", "test"),
    )
    assert root.started and tests.started  # the resume enables the whole graph


def test_the_schedule_follows_the_demos_speed_with_a_floor() -> None:
    rt, _ = graph(Recorder())
    rt.schedule_scale = 60.0
    assert rt.local_interval_s("30 MINUTES") == 30.0
    rt.min_schedule_s = 45.0
    assert rt.local_interval_s("30 MINUTES") == 45.0
    with pytest.raises(LocalDeployError):
        rt.local_interval_s("USING CRON 0 * * * * UTC")
    rt.schedule_override_s = 5.0
    assert rt.local_interval_s("30 MINUTES") == 5.0


def test_tests_run_only_when_due_and_a_failure_is_the_test_tasks() -> None:
    runner = Recorder(fail="test")
    rt, records = graph(runner)
    rt.schedule_scale = 3600.0  # 30 minutes in half a second, 6 hours in 6 seconds
    rt.run_scheduled()  # the first run: the tests' first window starts here
    assert runner.calls == ["run --target prod"]
    assert [(n, s) for n, s, _ in records if n != "SILVER_TICK"] == [
        ("REFRESH_GOLD", "SUCCEEDED"),
        ("TEST_GOLD", "SKIPPED"),
    ]
    rt.run_scheduled()
    assert runner.calls == ["run --target prod"]  # not due again within the interval
    # The stop's last pass runs the whole graph: the tests fail, as TEST_GOLD's run.
    rt.force_schedules = True
    with pytest.raises(RuntimeError, match="dbt test"):
        rt.run_scheduled()
    assert runner.calls[-2:] == ["run --target prod", "test --target prod"]
    name, state, error = records[-1]
    assert (name, state) == ("TEST_GOLD", "FAILED") and "dbt test" in error
