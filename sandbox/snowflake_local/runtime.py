"""The local Snowflake runtime, composed of the object kinds' emulations: applies the
deploy's SQL steps (operations/deploy.py), in the deploy's order, rendered with the same
`<% name %>` values, passing over only the statements fakesnow cannot run, and saying
which; and deploys a release (a version of the project: its plan's steps in order, SQL
files, procedure archive and dbt project) over whatever an earlier one left, step by
step: the procedures change at the deploy's procedures step, and a caller may run the
live pipeline between steps, as production keeps running during a deploy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from operations.artifacts import PROCEDURES_ARCHIVE, use_procedures_archive
from operations.deploy import (
    DBT_DIR,
    PROJECT_FILE,
    DeployConfig,
    build_plan,
    build_teardown_plan,
    render,
)
from operations.sql_text import split_statements
from sandbox.snowflake_local.alerts import METADATA, AlertEmulation
from sandbox.snowflake_local.base import log
from sandbox.snowflake_local.pipes import PipeEmulation
from sandbox.snowflake_local.plan import LOCAL_SCHEMA, SQL_DIR, Plan, strip_database
from sandbox.snowflake_local.tasks import Lane, TaskGraph

# Statement kinds fakesnow cannot run; each is provided here or meaningless locally.
UNSUPPORTED = [
    (re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?PIPE\b", re.I | re.S), "pipe (emulated)"),
    (re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?STREAM\b", re.I), "stream (emulated)"),
    (re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?TASK\b", re.I), "task (emulated)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?STORAGE\s+INTEGRATION\b", re.I),
        "storage integration (no S3 trust locally)",
    ),
    (re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?STAGE\b", re.I), "external stage (S3 via moto)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?FILE\s+FORMAT\b", re.I),
        "file format (lines are parsed by the pipe emulation)",
    ),
    (re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(ROLE|WAREHOUSE)\b", re.I), "account object"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?NOTIFICATION\s+INTEGRATION\b", re.I),
        "notification integration (task errors are logged locally)",
    ),
    (
        re.compile(r"^\s*ALTER\s+FILE\s+FORMAT\b", re.I),
        "file format (lines are parsed by the pipe emulation)",
    ),
    (re.compile(r"^\s*GRANT\b", re.I), "grant (no access control locally)"),
    (re.compile(r"^\s*CREATE\s+USER\b", re.I), "user (no access control locally)"),
    (re.compile(r"^\s*DROP\s+TASK\b", re.I), "task (emulated)"),
    (re.compile(r"^\s*DROP\s+PIPE\b", re.I), "pipe (emulated)"),
    (
        re.compile(r"^\s*ALTER\s+PIPE\b.*\bPIPE_EXECUTION_PAUSED\b", re.I | re.S),
        "pipe (emulated)",
    ),
    (re.compile(r"^\s*DROP\s+DATABASE\b", re.I), "database (its schemas are dropped)"),
    (
        re.compile(r"^\s*DROP\s+(STREAMLIT|DBT\s+PROJECT)\b", re.I),
        "app and dbt (not local objects)",
    ),
    (re.compile(r"^\s*DROP\s+(ROLE|USER|WAREHOUSE|INTEGRATION)\b", re.I), "account object"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\b.*\bTASK_HISTORY\s*\(", re.I | re.S),
        "task history (the runtime records its runs)",
    ),
    (re.compile(r"^\s*ALTER\s+TASK\b", re.I), "task (emulated)"),
    (re.compile(r"^\s*(CREATE\s+OR\s+REPLACE|ALTER|DROP)\s+ALERT\b", re.I), "alert (emulated)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\b.*?" + METADATA.pattern, re.I | re.S),
        "account metadata (answered from the runtime's records)",
    ),
    (re.compile(r"^\s*SELECT\s+SYSTEM\$TASK_DEPENDENTS_ENABLE\b", re.I), "task (emulated)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?SCHEMA\b.*\bWITH\s+MANAGED\s+ACCESS", re.I),
        "managed access",
    ),
]


@dataclass(frozen=True)
class Release:
    """One version of the project as the deploy ships it: its plan's steps in order (name,
    SQL file or ""), the folder of those SQL files, the procedure archive `snow snowpark
    build` made from it, its dbt project and its snowflake.yml (the procedures' handlers)."""

    steps: tuple[tuple[str, str], ...]
    sql_dir: Path
    archive: Path
    dbt_dir: Path
    project_file: Path


def current_release(config: DeployConfig, sql_dir: Path = SQL_DIR) -> Release:
    """This working tree as `mempool deploy` ships it."""
    return Release(
        tuple((s.name, s.sql_file) for s in build_plan(config).steps),
        sql_dir,
        PROCEDURES_ARCHIVE,
        DBT_DIR,
        PROJECT_FILE,
    )


class LocalSnowflake(TaskGraph, PipeEmulation, AlertEmulation):
    # -- deploy ------------------------------------------------------------------------

    def deploy(
        self,
        sql_dir: Path = SQL_DIR,
        release: Release | None = None,
        between_steps: Callable[[str], None] | None = None,
    ) -> Plan:
        """Deploy a release (this working tree's by default) the way `mempool deploy` does:
        its plan's steps in its order, over whatever an earlier deploy left. SQL steps are
        applied, emulating what fakesnow cannot run; the procedures and dbt steps put the
        release's archive and dbt project in place (the Snowflake CLI's part). After each
        step `between_steps(name)` may run what production runs meanwhile (pipes, tasks)."""
        release = release or current_release(self.config, sql_dir)
        if release.archive == PROCEDURES_ARCHIVE:
            use_procedures_archive()
        self.plan.skipped = []
        for name, sql_file in release.steps:
            if sql_file:
                text = (release.sql_dir / sql_file).read_text()
                for statement in split_statements(render(text, self.values)):
                    self._apply(statement)
                if self._emulation_changed:
                    self._setup_emulation()
            elif name == "procedures":
                self.procedures, self.project_file = release.archive, release.project_file
            elif name == "dbt":
                self.dbt_dir = release.dbt_dir
            if between_steps is not None:
                between_steps(name)
        self._setup_emulation()
        reasons: dict[str, int] = {}
        for reason, _ in self.plan.skipped:
            reasons[reason] = reasons.get(reason, 0) + 1
        log.info(
            "deployed %s locally; passed over: %s",
            release.sql_dir,
            ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "nothing",
        )
        return self.plan

    def teardown(self) -> Plan:
        """`mempool deploy --teardown`, locally: its SQL steps in its order, rendered with
        the same values, passing over what fakesnow has no object for. Its database step
        drops the local database; nothing of the emulation is set up again."""
        self.plan.skipped = []
        for step in build_teardown_plan(self.config).steps:
            text = (SQL_DIR / step.sql_file).read_text()
            for statement in split_statements(render(text, self.values)):
                self._apply(statement)
        log.info("tore down %s locally", self.database)
        return self.plan

    def _forget_dropped(self, statement: str) -> None:
        """What a DROP PIPE or DROP DATABASE takes from the emulation: a dropped pipe
        loads nothing more, and a dropped database leaves no schema, pipe, stream or task."""
        if m := re.match(r"^\s*DROP\s+PIPE\s+(?:IF\s+EXISTS\s+)?([\w.$]+)\s*$", statement, re.I):
            name = strip_database(m[1], self.database).upper()
            self.plan.pipes = [p for p in self.plan.pipes if p.name.upper() != name]
        elif (
            m := re.match(r"^\s*DROP\s+DATABASE\s+(?:IF\s+EXISTS\s+)?([\w$]+)\s*$", statement, re.I)
        ) and m[1].upper() == self.database.upper():
            self.plan.pipes, self.plan.streams, self.plan.tasks = [], {}, []
            self.plan.task_runs = None
            self.plan.alerts, self.plan.metadata_views = [], {}
            # fakesnow attaches a database as a file and cannot drop it: every schema in
            # it goes instead (the runtime's own bookkeeping too), so nothing is left.
            for (schema,) in self.execute(
                f"SELECT SCHEMA_NAME FROM {self.database}.INFORMATION_SCHEMA.SCHEMATA "
                "WHERE SCHEMA_NAME <> 'INFORMATION_SCHEMA'"
            ):
                self.execute(f"DROP SCHEMA IF EXISTS {self.database}.{schema} CASCADE")

    def _apply(self, statement: str) -> None:
        self._forget_dropped(statement)
        self._declare_pipe(statement)
        self._declare_stream(statement)
        self._declare_task_history(statement)
        self._declare_task(statement)
        self._declare_alert(statement)
        self._task_state(statement)
        self._pipe_state(statement)
        for pattern, reason in UNSUPPORTED:
            if pattern.search(statement):
                self.plan.skipped.append((reason, statement.splitlines()[0][:100]))
                return
        self.execute(statement)

    def _setup_emulation(self) -> None:
        self._emulation_changed = False
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_SCHEMA}")
        self._setup_pipes()
        self._setup_streams()
        self._setup_task_history()
        self._setup_alerts()

    def run_scheduled(self, lane: Lane | None = None) -> list[str]:
        """The scheduled work: the scheduled graphs (TaskGraph), then every alert that is
        due, each on its own schedule (the demo's runtime loops call this every cycle).
        Alerts run on serverless compute: not in the warehouse's lane."""
        graphs = super().run_scheduled(lane)
        return graphs if lane == "warehouse" else [*graphs, *self.run_alerts()]
