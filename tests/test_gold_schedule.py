"""The local runtime reads the gold graph as 60_tasks.sql defines it: REFRESH_GOLD's
check on its SCHEDULE scaled by the demo's --speed, its WHEN on the requests' stream, its
body a scripting block the runtime runs statement by statement, and TEST_GOLD after it
only when the run set the return value its WHEN reads. Offline: the task definitions are
parsed from the rendered SQL (tests/test_gold_on_demand.py runs them on a warehouse)."""

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


def graph(runner: Recorder | None = None) -> tuple[TaskGraph, list[tuple[str, str, Any]]]:
    """A task graph fed the deploy's tasks and resume statements, with no warehouse,
    recording its runs."""
    rt = TaskGraph.__new__(TaskGraph)
    rt.plan, rt.database = Plan(), CONFIG.database
    rt.dbt_runner = runner
    records: list[tuple[str, str, Any]] = []
    rt._save_tasks = lambda: None  # type: ignore[method-assign]
    # The ticks' INSERTs, the statement tasks, have no warehouse here.
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
    tick = rt.task("GOLD.GOLD_TICK")
    assert root is not None and tests is not None and tick is not None
    assert (root.schedule, root.dbt_args) == (
        f"{CONFIG.gold_refresh_minutes} MINUTES",
        "run --target prod",
    )
    # Checked on its schedule, run only when a request waits.
    assert root.trigger is not None and root.trigger.streams() == ["SILVER.GOLD_REQUESTS_STRM"]
    assert [st.kind for st in root.block.body] == ["sql", "sql", "dbt", "select_into", "if", "sql"]
    assert (tests.parents, tests.dbt_args, tests.when_returned) == (
        ["GOLD.REFRESH_GOLD"],
        "test --target prod",
        ("REFRESH_GOLD", "test"),
    )
    assert tick.schedule == f"{CONFIG.gold_idle_minutes} MINUTES"
    assert tick.statement.startswith("INSERT INTO ACME.OPS.GOLD_REQUESTS")
    assert root.started and tests.started and tick.started  # the resume enables them all


@pytest.mark.parametrize(
    "body",
    [
        "BEGIN EXECUTE DBT PROJECT P ARGS = 'run'; END;",  # no DECLARE
        "DECLARE x BOOLEAN; BEGIN LET y := 1; END;",  # LET is not in the subset
        "DECLARE x BOOLEAN; BEGIN IF (y) THEN CALL SYSTEM$SET_RETURN_VALUE('t'); END IF; END;",
        "DECLARE x BOOLEAN; BEGIN IF (x) THEN CALL SYSTEM$SET_RETURN_VALUE('t'); END;",
        "DECLARE x BOOLEAN; BEGIN SELECT 1 INTO :y FROM T; END;",
    ],
)
def test_a_block_the_runtime_cannot_run_fails_the_deploy(body: str) -> None:
    rt, _ = graph()
    with pytest.raises(LocalDeployError, match=r"^GOLD\.X: "):
        rt._declare_task(
            f"CREATE OR REPLACE TASK ACME.GOLD.X WAREHOUSE = W SCHEDULE = '5 MINUTES' "
            f"AS EXECUTE IMMEDIATE $$ {body} $$"
        )


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
