"""Tasks, emulated: each task's state as the deploy's statements set it (created
suspended, ALTER TASK ... SUSPEND/RESUME, SYSTEM$TASK_DEPENDENTS_ENABLE, DROP TASK),
only a resumed root runs, replacing a task of a started graph fails as in Snowflake,
and a graph run calls the same procedure handlers production's tasks call. Scheduled
tasks run on their SCHEDULE scaled by the demo's clock (`schedule_scale`, its --speed),
when their WHEN holds (else SKIPPED), with their children: the gold graph's run (its
scripting block, sandbox.snowflake_local.scripting), then its tests when the run says
they are due (a return value and a WHEN, as 60_tasks.sql writes them)."""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from sandbox.snowflake_local import conditions, scripting
from sandbox.snowflake_local.base import DbtRunner
from sandbox.snowflake_local.plan import (
    DBT_TASK,
    LOCAL_SCHEMA,
    LocalDeployError,
    Task,
    strip_database,
)
from sandbox.snowflake_local.procedures import ProcedureCalls
from sandbox.snowflake_local.task_history import TaskHistory

TASK_RE = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+TASK\s+(?P<task>\S+)(?P<body>.*?)\bAS\s+"
    r"(?:CALL\s+(?P<proc>[\w.]+)\(\)|(?P<dbt>EXECUTE\s+DBT\s+PROJECT)\b"
    r"|EXECUTE\s+IMMEDIATE\s+\$\$(?P<block>.*)\$\$|(?P<dml>INSERT\s+INTO\s.+))",
    re.I | re.S,
)
DBT_ARGS_RE = re.compile(r"EXECUTE\s+DBT\s+PROJECT\s+[\w.$]+\s+ARGS\s*=\s*'(?P<args>[^']*)'", re.I)
WHEN_RETURNED_RE = re.compile(
    r"\bWHEN\s+SYSTEM\$GET_PREDECESSOR_RETURN_VALUE\(\s*'(?P<task>\w+)'\s*\)\s*=\s*"
    r"'(?P<value>[^']*)'",
    re.I,
)
# DATEADD(<unit>, -<n>, ...): a span back from a time, in a task's scripting block.
DATEADD_BACK_RE = re.compile(
    r"DATEADD\(\s*(?P<unit>DAY|HOUR|MINUTE|SECOND)S?\s*,\s*-(?P<n>\d+)\s*,", re.I
)
# '<num> { HOURS | MINUTES | SECONDS }' (releases before wrote the singular, which
# Snowflake takes too).
INTERVAL_RE = re.compile(r"^\s*(\d+)\s+(HOUR|MINUTE|SECOND)S?\s*$", re.I)
SECONDS = {"DAY": 86400.0, "HOUR": 3600.0, "MINUTE": 60.0, "SECOND": 1.0}
AFTER_RE = re.compile(r"\bAFTER\s+(?P<parents>[\w.$\s,]+?)\s*(?:\bWHEN\b|$)", re.I | re.S)
# The requests for a silver run (40_streams.sql), which the local viewer adds to.
REQUESTS_STREAM = "SILVER.REQUESTS_STRM"
GOLD_REQUESTS_STREAM = "SILVER.GOLD_REQUESTS_STRM"
# A triggered task's WHEN (sandbox.snowflake_local.conditions parses it).
WHEN_STREAMS_RE = re.compile(r"\bWHEN\b(?P<when>.*SYSTEM\$STREAM_HAS_DATA.*)$", re.I | re.S)
ALTER_TASK_RE = re.compile(
    r"^\s*ALTER\s+TASK\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<task>[\w.$]+)\s+"
    r"(?P<action>SUSPEND|RESUME)\s*$",
    re.I,
)
DEPENDENTS_ENABLE_RE = re.compile(
    r"^\s*SELECT\s+SYSTEM\$TASK_DEPENDENTS_ENABLE\(\s*'(?P<task>[\w.$]+)'\s*\)\s*$", re.I
)
WAREHOUSE_RE = re.compile(r"\bWAREHOUSE\s*=\s*(?P<warehouse>[\w$]+)", re.I)
# Which of the demo's runtime lanes runs a scheduled graph: its root's compute.
Lane = Literal["serverless", "warehouse"]
DROP_TASK_RE = re.compile(
    r"^\s*DROP\s+TASK\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<task>[\w.$]+)\s*$", re.I
)


class TaskGraph(ProcedureCalls, TaskHistory):
    # The demo's clock: a SCHEDULE of N minutes runs every N minutes / schedule_scale (the
    # demo's --speed, as every other interval of the demo), at least min_schedule_s
    # apart; schedule_override_s, when set, replaces that interval.
    schedule_scale: float = 1.0
    min_schedule_s: float = 0.0
    schedule_override_s: float | None = None
    # The stop's last pass: every scheduled graph is due now (and runs if its WHEN holds).
    force_schedules: bool = False

    def _declare_task(self, statement: str) -> None:
        if m := TASK_RE.search(statement):
            after = AFTER_RE.search(m["body"])
            parents = (
                [
                    strip_database(p.strip(), self.database)
                    for p in after["parents"].split(",")
                    if p.strip()
                ]
                if after
                else []
            )
            schedule = re.search(r"\bSCHEDULE\s*=\s*'([^']*)'", m["body"], re.I)
            name = strip_database(m["task"], self.database)
            task = Task(name, DBT_TASK, parents, schedule[1] if schedule else "")
            if warehouse := WAREHOUSE_RE.search(m["body"]):
                task.warehouse = warehouse["warehouse"].upper()
            if m["block"] is not None:
                try:
                    task.block = scripting.parse(m["block"])
                except scripting.ScriptError as exc:
                    raise LocalDeployError(f"{name}: {exc}") from exc
                task.dbt_args = next((st.text for st in task.block.body if st.kind == "dbt"), "")
            elif m["dbt"]:
                args = DBT_ARGS_RE.search(statement)
                task.dbt_args = args["args"] if args else ""
            elif m["dml"]:
                task.procedure = ""
                task.statement = m["dml"].strip().rstrip(";")
            else:
                task.procedure = strip_database(m["proc"], self.database).upper()
            if when := WHEN_RETURNED_RE.search(m["body"]):
                task.when_returned = (when["task"].upper(), when["value"])
            if when_streams := WHEN_STREAMS_RE.search(m["body"]):
                try:
                    task.trigger = conditions.parse(
                        when_streams["when"],
                        lambda stream: strip_database(stream, self.database).upper(),
                    )
                except conditions.ConditionError as exc:
                    raise LocalDeployError(f"{name}: {exc}") from exc
            if task.schedule and not INTERVAL_RE.match(task.schedule):
                raise LocalDeployError(f"{name}: the local runtime schedules only intervals")
            self._refuse_if_graph_started(name, parents)
            self.plan.tasks = [t for t in self.plan.tasks if t.name != name]
            self.plan.tasks.append(task)
            self._save_tasks()

    def _save_tasks(self) -> None:
        """Each task's state where SHOW TASKS reads it locally (sandbox.snowflake_local.
        account): a process other than the one running the graph asks for it."""
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_SCHEMA}")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.TASKS
            (NAME VARCHAR, STATE VARCHAR, SCHEDULE VARCHAR, PREDECESSORS VARCHAR)""")
        self.execute(f"DELETE FROM {LOCAL_SCHEMA}.TASKS")
        for task in self.plan.tasks:
            self.execute(
                f"INSERT INTO {LOCAL_SCHEMA}.TASKS VALUES (?, ?, ?, ?)",
                [
                    task.name,
                    "started" if task.started else "suspended",
                    task.schedule or None,
                    ",".join(task.parents),
                ],
            )

    def task(self, name: str) -> Task | None:
        name = strip_database(name, self.database).upper()
        return next((t for t in self.plan.tasks if t.name.upper() == name), None)

    def root_of(self, task: Task) -> Task:
        while task.parents and (parent := self.task(task.parents[0])) is not None:
            task = parent
        return task

    def dependents(self, task: Task) -> list[Task]:
        """The task and every task after it in its graph."""
        out, todo = [], [task]
        while todo:
            current = todo.pop()
            out.append(current)
            todo += [t for t in self.plan.tasks if current.name in t.parents]
        return out

    def _refuse_if_graph_started(self, name: str, parents: list[str]) -> None:
        """Snowflake changes no task of a graph whose root is running: suspend it first.
        https://docs.snowflake.com/en/user-guide/tasks-graphs (modifying a task graph)"""
        existing = self.task(name)
        in_graph = [self.task(p) for p in parents] + [existing]
        for task in in_graph:
            if task is None:
                continue
            root = self.root_of(task)
            if root.started and (task.parents or self.dependents(root)[1:]):
                raise LocalDeployError(
                    f"Unable to update graph with root task {root.name} since that root "
                    "task is not suspended."
                )

    def _task_state(self, statement: str) -> None:
        """What ALTER TASK ... SUSPEND/RESUME, SYSTEM$TASK_DEPENDENTS_ENABLE and DROP TASK
        do to the tasks' state (a task that does not exist is an error without IF EXISTS)."""
        if m := ALTER_TASK_RE.match(statement):
            task = self.task(m["task"])
            if task is None and not m["if_exists"]:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            if task is not None:
                self._set_started(task, m["action"].upper() == "RESUME")
                self._save_tasks()
        elif m := DEPENDENTS_ENABLE_RE.match(statement):
            task = self.task(m["task"])
            if task is None:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            for dependent in self.dependents(task):
                self._set_started(dependent, True)
            self._save_tasks()
        elif m := DROP_TASK_RE.match(statement):
            task = self.task(m["task"])
            if task is None and not m["if_exists"]:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            self.plan.tasks = [t for t in self.plan.tasks if t is not task]
            self._save_tasks()

    @staticmethod
    def _set_started(task: Task, started: bool) -> None:
        """A resume starts the schedule afresh, as Snowflake's does."""
        if started and not task.started:
            task.last_run = None
        task.started = started

    def run_graph(self) -> list[str]:
        """One run of the task graph: a resumed root when a stream its WHEN names has
        data, then every resumed task whose predecessors have all run (the dbt task only
        when a dbt runner is set). A suspended root does not run: what arrives waits in
        its streams. Locally the root runs at every runtime cycle it has data, whatever its
        USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS: the demo's landing is not paced by
        Firehose's 60 s either, and `mempool budget` accounts for production's interval."""
        roots = [t for t in self.plan.tasks if not t.parents and not t.schedule and t.started]
        results = []
        for root in roots:
            # A root with no WHEN runs only when executed by hand, locally never.
            if root.trigger is None or not root.trigger.holds(self.stream_has_data):
                continue
            done = {root.name}
            results.append(self._run_task(root, functools.partial(self.call, root.procedure)))
            pending = [t for t in self.dependents(root)[1:] if t.started]
            while pending:
                ready = [t for t in pending if all(p in done for p in t.parents)]
                if not ready:
                    break
                for task in ready:
                    if task.procedure == DBT_TASK:
                        if self.dbt_runner is not None:
                            dbt = self._letting_go(self.dbt_runner)
                            results.append(self._run_task(task, dbt))
                    else:
                        results.append(
                            self._run_task(task, functools.partial(self.call, task.procedure))
                        )
                    done.add(task.name)
                    pending.remove(task)
            self.counters["graph_runs"] += 1
        return results

    def request_silver(self, requested_by: str) -> None:
        """What the Live page does at each refresh (OPS.SILVER_REQUESTS), once while a
        request still waits: REFRESH_SILVER's WHEN needs one, and more add nothing. A
        release before freshness on demand has no requests to make (its WHEN is data
        alone)."""
        self._request(REQUESTS_STREAM, requested_by)

    def request_gold(self, requested_by: str) -> None:
        """What the History page does while it is open (OPS.GOLD_REQUESTS), as
        request_silver; a release before gold on demand runs gold on its schedule alone."""
        self._request(GOLD_REQUESTS_STREAM, requested_by)

    def _request(self, stream: str, requested_by: str) -> None:
        table = self.plan.streams.get(stream)
        if table is not None and not self.stream_has_data(stream):
            self.execute(
                f"INSERT INTO {self.database}.{table} (REQUESTED_AT, REQUESTED_BY) "
                "SELECT SYSDATE(), ?",
                [requested_by],
            )

    def run_scheduled(self, lane: Lane | None = None) -> list[str]:
        """The scheduled graphs that are due (SILVER_TICK, GOLD_TICK; REFRESH_GOLD, then
        TEST_GOLD when the run says the tests are due, when a dbt runner is set): each on
        its SCHEDULE, on the demo's clock, and only when its WHEN holds. Locally the first
        check comes at the first pass after the resume (Snowflake's comes one interval
        later), so GOLD's objects exist from the start of a demo. `lane`: only the graphs
        whose root runs on a warehouse, or only the others; None, all of them."""
        runner = self.dbt_runner
        results = []
        for root in [t for t in self.plan.tasks if t.schedule and t.started]:
            if root.procedure == DBT_TASK and runner is None:
                continue
            if lane is not None and (lane == "warehouse") != bool(root.warehouse):
                continue
            now = time.monotonic()
            interval = self.local_interval_s(root.schedule)
            last = root.last_run
            if not self.force_schedules and last is not None and now - last < interval:
                continue
            root.last_run = now
            # A check whose WHEN finds no stream data runs nothing and, since Snowflake's
            # 2024_06 behaviour change, is mostly not recorded (60_tasks.sql).
            if root.trigger is not None and not root.trigger.holds(self.stream_has_data):
                continue
            results += self._run_scheduled_graph(root, runner, interval)
        return results

    def local_interval_s(self, schedule: str) -> float:
        """A SCHEDULE's interval on the demo's clock, in seconds."""
        if self.schedule_override_s is not None:
            return self.schedule_override_s
        m = INTERVAL_RE.match(schedule)
        if m is None:
            raise LocalDeployError(f"the local runtime schedules only intervals: {schedule!r}")
        seconds = float(m[1]) * SECONDS[m[2].upper()]
        return max(self.min_schedule_s, seconds / max(self.schedule_scale, 1e-9))

    def _run_scheduled_graph(
        self, root: Task, runner: DbtRunner | None, interval: float
    ) -> list[str]:
        """The root, then each started task after it whose predecessors have run; a child
        whose WHEN reads a return value its predecessor did not set is SKIPPED, as in
        Snowflake's task history. A failed task ends the graph run (the error goes on)."""
        root.return_value = None
        if runner is not None:
            runner = self._letting_go(runner)
        if root.block is not None:
            run: Callable[[], str] = functools.partial(self._run_block, root, runner, interval)
        else:
            run = self._runner_for(root, runner)
        results = [self._run_task(root, run)]
        done, pending = {root.name}, [t for t in self.dependents(root)[1:] if t.started]
        while ready := [t for t in pending if all(p in done for p in t.parents)]:
            for task in ready:
                pending.remove(task)
                done.add(task.name)
                if task.when_returned is not None:
                    parent, value = task.when_returned
                    # A graph's tasks share a schema: the name is given without it.
                    source = self.task(f"{task.name.rsplit('.', 1)[0]}.{parent}")
                    if source is None or source.return_value != value:
                        started = datetime.now(UTC).replace(tzinfo=None)
                        self._record_run(task.name.rsplit(".", 1)[-1], "SKIPPED", started, None)
                        continue
                results.append(self._run_task(task, self._runner_for(task, runner)))
        return results

    def _letting_go(self, runner: DbtRunner) -> DbtRunner:
        """The dbt runner, letting go of the runtime's lock while dbt runs."""

        def run(args: str = "run --target prod") -> str:
            with self.lock.released():
                return runner(args)

        return run

    def _runner_for(self, task: Task, runner: DbtRunner | None) -> Callable[[], str]:
        if task.statement:
            return functools.partial(self._run_statement, task.statement)
        if task.procedure == DBT_TASK:
            if runner is None:
                raise LocalDeployError(f"{task.name}: a dbt task runs only with a dbt runner")
            return functools.partial(runner, task.dbt_args)
        return functools.partial(self.call, task.procedure)

    def _run_statement(self, statement: str) -> str:
        self.execute(statement)
        return statement.split(None, 3)[2]  # what a statement task touched: INSERT INTO <t>

    def _run_block(self, task: Task, runner: DbtRunner | None, interval: float) -> str:
        """A scripting block, statement by statement (sandbox.snowflake_local.scripting):
        its DML statements that read a stream consume it, as autocommitted statements do,
        and the intervals it measures back from a time run on the demo's clock."""
        if runner is None:
            raise LocalDeployError(f"{task.name}: a dbt task runs only with a dbt runner")
        block = task.block
        assert block is not None
        task.return_value = scripting.Run(
            functools.partial(self._block_statement, interval), runner
        )(block)
        return task.return_value or "ok"

    def _block_statement(self, interval: float, statement: str, params: list[Any]) -> list[Any]:
        statement = DATEADD_BACK_RE.sub(
            lambda m: "DATEADD(SECOND, -{:d},".format(
                self.local_window_s(float(m["n"]) * SECONDS[m["unit"].upper()], interval)
            ),
            statement,
        )
        positions = self.consumed_positions(statement, list(self.plan.streams))
        rows = self.execute(statement, params)
        for stream, position in positions.items():
            self.set_stream_offset(stream, position)
        return rows

    def local_window_s(self, seconds: float, interval: float) -> int:
        """A span a task's body measures back from a time (the tests' window, the purges),
        on the demo's clock: scaled as the schedules are, and at least one run interval
        long, so a window is never shorter than the time between two runs."""
        window = max(interval, seconds / max(self.schedule_scale, 1e-9))
        if self.schedule_override_s is not None:
            window = max(window, self.schedule_override_s)
        return max(1, round(window))

    def _run_task(self, task: Task, run: Callable[[], str]) -> str:
        """One task run, recorded as Snowflake's task history shows it: SUCCEEDED, or
        FAILED with the error, whatever ended it (the exception goes on)."""
        started = datetime.now(UTC).replace(tzinfo=None)
        state, error = "SUCCEEDED", None
        try:
            return run()
        except BaseException as exc:
            state, error = "FAILED", f"{type(exc).__name__}: {exc}"[:1000]
            raise
        finally:
            self._record_run(task.name.rsplit(".", 1)[-1], state, started, error)
