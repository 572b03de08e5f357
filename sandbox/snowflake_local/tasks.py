"""Tasks, emulated: each task's state as the deploy's statements set it (created
suspended, ALTER TASK ... SUSPEND/RESUME, SYSTEM$TASK_DEPENDENTS_ENABLE, DROP TASK),
only a resumed root runs, replacing a task of a started graph fails as in Snowflake,
and a graph run calls the same procedure handlers production's tasks call."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable
from datetime import UTC, datetime

from sandbox.snowflake_local.plan import (
    DBT_TASK,
    LOCAL_SCHEMA,
    LocalDeployError,
    Task,
    strip_database,
)
from sandbox.snowflake_local.procedures import ProcedureCalls, procedure_handlers
from sandbox.snowflake_local.streams import consumed_streams
from sandbox.snowflake_local.task_history import TaskHistory

TASK_RE = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+TASK\s+(?P<task>\S+)(?P<body>.*?)\bAS\s+"
    r"(?:CALL\s+(?P<proc>[\w.]+)\(\)|(?P<dbt>EXECUTE\s+DBT\s+PROJECT)\b)",
    re.I | re.S,
)
AFTER_RE = re.compile(r"\bAFTER\s+(?P<parents>[\w.$\s,]+?)\s*(?:\bWHEN\b|$)", re.I | re.S)
ALTER_TASK_RE = re.compile(
    r"^\s*ALTER\s+TASK\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<task>[\w.$]+)\s+"
    r"(?P<action>SUSPEND|RESUME)\s*$",
    re.I,
)
DEPENDENTS_ENABLE_RE = re.compile(
    r"^\s*SELECT\s+SYSTEM\$TASK_DEPENDENTS_ENABLE\(\s*'(?P<task>[\w.$]+)'\s*\)\s*$", re.I
)
DROP_TASK_RE = re.compile(
    r"^\s*DROP\s+TASK\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<task>[\w.$]+)\s*$", re.I
)


class TaskGraph(ProcedureCalls, TaskHistory):
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
            procedure = DBT_TASK if m["dbt"] else strip_database(m["proc"], self.database).upper()
            schedule = re.search(r"\bSCHEDULE\s*=\s*'([^']*)'", m["body"], re.I)
            name = strip_database(m["task"], self.database)
            self._refuse_if_graph_started(name, parents)
            self.plan.tasks = [t for t in self.plan.tasks if t.name != name]
            self.plan.tasks.append(Task(name, procedure, parents, schedule[1] if schedule else ""))
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
                task.started = m["action"].upper() == "RESUME"
                self._save_tasks()
        elif m := DEPENDENTS_ENABLE_RE.match(statement):
            task = self.task(m["task"])
            if task is None:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            for dependent in self.dependents(task):
                dependent.started = True
            self._save_tasks()
        elif m := DROP_TASK_RE.match(statement):
            task = self.task(m["task"])
            if task is None and not m["if_exists"]:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            self.plan.tasks = [t for t in self.plan.tasks if t is not task]
            self._save_tasks()

    def run_graph(self) -> list[str]:
        """One run of the task graph: a resumed root when its streams have data, then every
        resumed task whose predecessors have all run (the dbt task only when a dbt runner
        is set). A suspended root does not run: what arrives waits in its streams."""
        roots = [t for t in self.plan.tasks if not t.parents and not t.schedule and t.started]
        results = []
        for root in roots:
            handler = procedure_handlers(self.project_file)[root.procedure]
            with self.procedure_code():
                module = importlib.import_module(handler.rsplit(".", 1)[0])
                streams = consumed_streams(module)
            if not any(self.stream_has_data(s) for s in streams):
                continue
            done = {root.name}
            results.append(self._run_task(root, functools.partial(self.call, root.procedure)))
            pending = [t for t in self.plan.tasks if t.parents and t.started]
            while pending:
                ready = [t for t in pending if all(p in done for p in t.parents)]
                if not ready:
                    break
                for task in ready:
                    if task.procedure == DBT_TASK:
                        if self.dbt_runner is not None:
                            results.append(self._run_task(task, self.dbt_runner))
                    else:
                        results.append(
                            self._run_task(task, functools.partial(self.call, task.procedure))
                        )
                    done.add(task.name)
                    pending.remove(task)
            self.counters["graph_runs"] += 1
        return results

    def run_scheduled(self) -> list[str]:
        """The scheduled tasks (REFRESH_GOLD): locally the dbt runner keeps its own,
        shorter cadence, since demo time runs faster than the deployed schedule."""
        runner = self.dbt_runner
        if runner is None or not runner.due():
            return []
        return [
            self._run_task(task, runner)
            for task in self.plan.tasks
            if task.schedule and task.procedure == DBT_TASK and task.started
        ]

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
