"""The local Snowflake runtime: what fakesnow lacks, provided by running production's
own artifacts.

- Applies the deploy's SQL steps (operations/deploy.py), in the deploy's order, rendered
  with the same `<% name %>` values, passing over only the statements fakesnow cannot
  run, and saying which.
- Emulates each Snowpipe from its own definition: every new S3 object named by an SQS
  notification is loaded exactly once into the pipe's RAW table through the pipe's own
  SELECT list, honouring its ON_ERROR and its file format's REPLACE_INVALID_CHARACTERS.
- Imports the procedure handlers from the archive the deploy uploads.
- Emulates each stream as a per-consumer offset over its table that advances when a DML
  statement reading it commits, as Snowflake's does, even if the procedure then fails.
- Runs the task graph by calling the same procedure handlers with a Snowpark session,
  and records each run where production's task-history view (OPS.TASK_RUNS) reads
  Snowflake's own: a table of that name with the view's columns.
- Keeps each task's state as the deploy's statements set it (created suspended,
  ALTER TASK ... SUSPEND/RESUME, SYSTEM$TASK_DEPENDENTS_ENABLE, DROP TASK): only a
  resumed root runs, and replacing a task of a graph whose root is not suspended fails
  as in Snowflake.
- Deploys a release (a version of the project: its plan's steps in order, SQL files,
  procedure archive and dbt project) over whatever an earlier one left, step by step:
  the procedures change at the deploy's procedures step, and a caller may run the live
  pipeline between steps, as production keeps running during a deploy.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import logging
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import unquote_plus

from operations.artifacts import PACKAGE, PROCEDURES_ARCHIVE, use_procedures_archive
from operations.deploy import (
    DBT_DIR,
    PROJECT_FILE,
    DeployConfig,
    build_plan,
    project_entities,
    render,
)
from operations.sql_text import split_statements
from sandbox.warehouse import LocalWarehouse

log = logging.getLogger("mempool.snowflake")

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "snowflake" / "sql"
LOCAL_SCHEMA = "_LOCAL"

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
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\b.*\bTASK_HISTORY\s*\(", re.I | re.S),
        "task history (the runtime records its runs)",
    ),
    (re.compile(r"^\s*ALTER\s+TASK\b", re.I), "task (emulated)"),
    (re.compile(r"^\s*SELECT\s+SYSTEM\$TASK_DEPENDENTS_ENABLE\b", re.I), "task (emulated)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?SCHEMA\b.*\bWITH\s+MANAGED\s+ACCESS", re.I),
        "managed access",
    ),
]

PIPE_RE = re.compile(
    r"CREATE\s+PIPE\s+IF\s+NOT\s+EXISTS\s+(?P<pipe>\S+).*?COPY\s+INTO\s+(?P<table>\S+)\s*"
    r"\((?P<columns>[^)]*)\)\s*FROM\s*\(\s*SELECT\s+(?P<select>.*?)\s+FROM\s+@(?P<stage>[\w.$]+)/"
    r"(?P<prefix>[\w-]+)/\s*\)(?P<options>.*)$",
    re.I | re.S,
)
FILE_FORMAT_RE = re.compile(
    r"^\s*(?:CREATE\s+(?:OR\s+REPLACE\s+)?FILE\s+FORMAT\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"|ALTER\s+FILE\s+FORMAT\s+(?:IF\s+EXISTS\s+)?)(?P<name>[\w.$]+)(?P<body>.*)$",
    re.I | re.S,
)
STAGE_RE = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?STAGE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>[\w.$]+)"
    r".*?\bFILE_FORMAT\s*=\s*(?P<format>[\w.$]+)",
    re.I | re.S,
)
# What a pipe's SELECT reads from each staged line, as the VALUES the emulation inserts.
PIPE_INPUTS = {
    "$1": "column1",
    "METADATA$FILENAME": "column2",
    "METADATA$FILE_ROW_NUMBER": "column3",
    "METADATA$START_SCAN_TIME": "CURRENT_TIMESTAMP()",
}
STREAM_RE = re.compile(
    r"CREATE\s+STREAM\s+IF\s+NOT\s+EXISTS\s+(?P<stream>\S+)\s+ON\s+TABLE\s+"
    r"(?P<table>\S+)",
    re.I,
)
TASK_RE = re.compile(
    r"CREATE\s+OR\s+REPLACE\s+TASK\s+(?P<task>\S+)(?P<body>.*?)\bAS\s+"
    r"(?:CALL\s+(?P<proc>[\w.]+)\(\)|(?P<dbt>EXECUTE\s+DBT\s+PROJECT)\b)",
    re.I | re.S,
)
TASK_HISTORY_VIEW_RE = re.compile(
    r"CREATE\s+(?:OR\s+REPLACE\s+)?VIEW\s+(?P<view>\S+)\s+AS\s+SELECT\s+(?P<select>.*?)"
    r"\s+FROM\s+TABLE\s*\([^)]*\bTASK_HISTORY\s*\(",
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
DBT_TASK = "EXECUTE DBT PROJECT"
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
# Lines of a landed file loaded per statement by the pipe emulation.
LINES_PER_INSERT = 20_000


def strip_database(name: str, database: str) -> str:
    prefix = database.upper() + "."
    return name[len(prefix) :] if name.upper().startswith(prefix) else name


@dataclass
class Pipe:
    name: str
    table: str
    prefix: str  # the folder under mempool-data/, e.g. "stream"
    columns: list[str] = field(default_factory=list)
    select: list[str] = field(default_factory=list)  # the COPY's expressions, as written
    stage: str = ""
    on_error: str = "SKIP_FILE"  # Snowpipe's default when the COPY names none


@dataclass
class Task:
    name: str
    procedure: str  # SCHEMA.NAME of the procedure it calls, or DBT_TASK
    parents: list[str]
    schedule: str = ""  # a scheduled task (no WHEN, no AFTER): its SCHEDULE
    started: bool = False  # created suspended; ALTER TASK ... RESUME starts it


class LocalDeployError(RuntimeError):
    """A deploy statement Snowflake would refuse (the message says what it would say)."""


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


@dataclass
class Plan:
    """What the SQL files declare that the runtime must provide."""

    pipes: list[Pipe] = field(default_factory=list)
    streams: dict[str, str] = field(default_factory=dict)  # stream -> table
    tasks: list[Task] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (reason, first line)
    file_formats: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> options
    stage_formats: dict[str, str] = field(default_factory=dict)  # stage -> file format
    # The task-history view: its name and output columns, recorded locally as a table.
    task_runs: tuple[str, list[str]] | None = None

    def format_option(self, pipe: Pipe, option: str, default: str) -> bool:
        """A boolean option of the file format the pipe's stage names (else its default)."""
        options = self.file_formats.get(self.stage_formats.get(pipe.stage, ""), {})
        return options.get(option, default).upper() == "TRUE"

    def replaces_invalid_characters(self, pipe: Pipe) -> bool:
        return self.format_option(pipe, "REPLACE_INVALID_CHARACTERS", "FALSE")

    def skips_byte_order_mark(self, pipe: Pipe) -> bool:
        # Snowflake's default for CSV files: a BOM at the start of a file is not data.
        # https://docs.snowflake.com/en/sql-reference/sql/create-file-format (SKIP_BYTE_ORDER_MARK)
        return self.format_option(pipe, "SKIP_BYTE_ORDER_MARK", "TRUE")


def local_config(database: str, bucket: str) -> DeployConfig:
    """The deploy's settings for the local stack (moto's account id in the ARNs)."""
    return DeployConfig(
        database=database,
        warehouse="LOCAL_WH",
        bucket=bucket,
        storage_role_arn="arn:aws:iam::123456789012:role/local-snowflake-storage",
        error_topic_arn="arn:aws:sns:us-east-1:123456789012:local-task-errors",
        error_role_arn="arn:aws:iam::123456789012:role/local-snowflake-errors",
    )


@functools.cache
def procedure_handlers(project_file: Path = PROJECT_FILE) -> dict[str, str]:
    """Procedure name (SCHEMA.NAME) -> handler, from snowflake.yml (read once)."""
    return {
        f"{e['identifier']['schema']}.{e['identifier']['name']}".upper(): e["handler"]
        for e in project_entities(project_file=project_file).values()
        if e["type"] == "procedure"
    }


class DbtRunner(Protocol):
    """EXECUTE DBT PROJECT, locally: a `dbt build`, which raises when the build fails."""

    def __call__(self) -> str: ...

    def due(self) -> bool:
        """Whether the scheduled run is due (the local schedule is the runner's own)."""
        ...


class LocalSnowflake:
    def __init__(
        self,
        warehouse: LocalWarehouse,
        bucket: str,
        s3: Any = None,
        sqs: Any = None,
        queue_url: str = "",
        config: DeployConfig | None = None,
        stage_s3: Any = None,
    ) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database
        self.bucket = bucket
        # `s3` is the world around the warehouse (tests and chaos land and copy objects
        # with it); the pipes read with `stage_s3`, the storage integration's role, when
        # given, so a read Terraform does not grant fails here as it would in Snowflake.
        self.s3 = s3
        self.stage_s3 = stage_s3 if stage_s3 is not None else s3
        self.sqs = sqs
        self.queue_url = queue_url
        self.config = config or local_config(self.database, bucket)
        self.values = self.config.values()
        self.plan = Plan()
        # What EXECUTE DBT PROJECT does locally (the sandbox sets it; None skips gold).
        self.dbt_runner: DbtRunner | None = None
        # Chaos: given a procedure, after how many statements to kill its run (or None).
        self.kill_switch: Callable[[str], int | None] | None = None
        # Chaos and tests: called after each statement a procedure runs (its text and
        # number), to read the warehouse from another connection mid-run.
        self.between_statements: Callable[[str, int], None] | None = None
        # What the last deploy's procedures and dbt steps put in place (the procedures'
        # archive and handlers, the dbt project EXECUTE DBT PROJECT runs).
        self.procedures = PROCEDURES_ARCHIVE
        self.project_file = PROJECT_FILE
        self.dbt_dir = DBT_DIR
        self._modules: dict[Path, dict[str, ModuleType]] = {}  # other archives' imports
        self._emulation_changed = False
        self._conn: Any = None
        self._session: Any = None
        self.counters = {
            "files_loaded": 0,
            "rows_loaded": 0,
            "duplicate_files": 0,
            "graph_runs": 0,
            "procedure_calls": 0,
            "lines_rejected": 0,
            "files_rejected": 0,
        }

    # -- connections -------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        if self._conn is None:
            import snowflake.connector

            # qmark: parameters are bound by the server, never spliced into the SQL text.
            self._conn = snowflake.connector.connect(
                **self.warehouse.connect_kwargs(), paramstyle="qmark"
            )
        return self._conn

    def execute(self, statement: str, params: list[Any] | None = None) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
        finally:
            cur.close()

    @property
    def session(self) -> Any:
        if self._session is None:
            from snowflake.snowpark import Session

            kwargs = self.warehouse.connect_kwargs(schema="SILVER")
            self._session = Session.builder.configs(kwargs).create()
        return self._session

    def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception as exc:
                # Snowpark cancels running queries with a SYSTEM$ function fakesnow lacks;
                # the connection itself is closed either way.
                log.debug("session close: %s", exc)
            # Snowpark would try again at interpreter exit, after the server is gone.
            atexit.unregister(session._close_at_exit)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

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

    def _apply(self, statement: str) -> None:
        if (m := PIPE_RE.search(statement)) and not any(
            p.name == strip_database(m["pipe"], self.database) for p in self.plan.pipes
        ):
            # CREATE PIPE IF NOT EXISTS: a pipe an earlier deploy made keeps its definition.
            self._emulation_changed = True
            on_error = re.search(r"\bON_ERROR\s*=\s*'?(\w+)'?", m["options"], re.I)
            self.plan.pipes.append(
                Pipe(
                    strip_database(m["pipe"], self.database),
                    strip_database(m["table"], self.database),
                    m["prefix"],
                    columns=[c.strip() for c in m["columns"].split(",")],
                    select=split_top_level(m["select"]),
                    stage=strip_database(m["stage"], self.database).upper(),
                    on_error=on_error[1].upper() if on_error else "SKIP_FILE",
                )
            )
        if m := FILE_FORMAT_RE.search(statement):
            name = strip_database(m["name"], self.database).upper()
            options = self.plan.file_formats.setdefault(name, {})
            for key, value in re.findall(r"\b(\w+)\s*=\s*('[^']*'|\w+)", m["body"]):
                options[key.upper()] = value.strip("'")
        if m := STAGE_RE.search(statement):
            self.plan.stage_formats[strip_database(m["name"], self.database).upper()] = (
                strip_database(m["format"], self.database).upper()
            )
        if m := STREAM_RE.search(statement):
            self._emulation_changed = True
            self.plan.streams[strip_database(m["stream"], self.database)] = strip_database(
                m["table"], self.database
            )
        if m := TASK_HISTORY_VIEW_RE.search(statement):
            columns = [
                re.split(r"\s+", item.strip())[-1].upper() for item in split_top_level(m["select"])
            ]
            self.plan.task_runs = (strip_database(m["view"], self.database), columns)
            self._emulation_changed = True
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
        self._task_state(statement)
        for pattern, reason in UNSUPPORTED:
            if pattern.search(statement):
                self.plan.skipped.append((reason, statement.splitlines()[0][:100]))
                return
        self.execute(statement)

    # -- task state ----------------------------------------------------------------------

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
        elif m := DEPENDENTS_ENABLE_RE.match(statement):
            task = self.task(m["task"])
            if task is None:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            for dependent in self.dependents(task):
                dependent.started = True
        elif m := DROP_TASK_RE.match(statement):
            task = self.task(m["task"])
            if task is None and not m["if_exists"]:
                raise LocalDeployError(f"Task {m['task']} does not exist.")
            self.plan.tasks = [t for t in self.plan.tasks if t is not task]

    def _setup_emulation(self) -> None:
        self._emulation_changed = False
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_SCHEMA}")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.PIPE_FILES
            (PIPE VARCHAR, FILE_NAME VARCHAR, ORDINAL NUMBER, ROWS_LOADED NUMBER)""")
        # What COPY_HISTORY would show as errors: lines or files the pipe's options reject.
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.LOAD_ERRORS
            (PIPE VARCHAR, FILE_NAME VARCHAR, SOURCE_ROW NUMBER, ERROR VARCHAR)""")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.STREAM_OFFSETS
            (STREAM VARCHAR, POSITION VARCHAR)""")
        if self.plan.task_runs:
            view, columns = self.plan.task_runs
            typed = ", ".join(
                f"{c} {'TIMESTAMP_NTZ' if c.endswith('_AT') else 'VARCHAR'}" for c in columns
            )
            self.execute(f"CREATE TABLE IF NOT EXISTS {view} ({typed})")
        for stream, table in self.plan.streams.items():
            if not self.execute(
                f"SELECT 1 FROM {LOCAL_SCHEMA}.STREAM_OFFSETS WHERE STREAM = '{stream}'"
            ):
                self.execute(f"INSERT INTO {LOCAL_SCHEMA}.STREAM_OFFSETS VALUES ('{stream}', '')")
            self.execute(f"CREATE OR REPLACE VIEW {stream} AS {self._stream_query(stream, table)}")

    def _stream_query(self, stream: str, table: str) -> str:
        offset = f"(SELECT POSITION FROM {LOCAL_SCHEMA}.STREAM_OFFSETS WHERE STREAM = '{stream}')"
        if table.upper().startswith("RAW."):
            # RAW rows are ordered by the order their files were loaded.
            return (
                f"SELECT t.* FROM {table} t WHERE t.SOURCE_FILE IN ("
                f"SELECT FILE_NAME FROM {LOCAL_SCHEMA}.PIPE_FILES "
                f"WHERE LPAD(ORDINAL::VARCHAR, 12, '0') > {offset})"
            )
        return f"SELECT t.* FROM {table} t WHERE t.BATCH_ID > {offset}"

    def _stream_position(self, stream: str) -> str:
        table = self.plan.streams[stream]
        if table.upper().startswith("RAW."):
            rows = self.execute(f"SELECT MAX(ORDINAL) FROM {LOCAL_SCHEMA}.PIPE_FILES")
            return f"{int(rows[0][0] or 0):012d}"
        rows = self.execute(f"SELECT MAX(BATCH_ID) FROM {table}")
        return str(rows[0][0] or "")

    # -- pipes -------------------------------------------------------------------------

    def drain_notifications(self, max_messages: int = 1000) -> int:
        """Load every object the S3 -> SQS notifications name (what Snowpipe does)."""
        loaded = 0
        for _ in range(max(1, max_messages // 10)):
            resp = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            for message in messages:
                body = json.loads(message["Body"])
                for record in body.get("Records", []):
                    if record.get("eventName", "").startswith("ObjectCreated"):
                        key = unquote_plus(record["s3"]["object"]["key"])
                        loaded += self.load_object(key)
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        return loaded

    def pipe_for(self, key: str) -> Pipe | None:
        parts = key.split("/")
        if len(parts) < 3:
            return None
        return next((p for p in self.plan.pipes if p.prefix == parts[1]), None)

    def load_object(self, key: str) -> int:
        """Load one S3 object into its pipe's table, once (files are deduplicated by name)."""
        pipe = self.pipe_for(key)
        if pipe is None:
            return 0
        file_name = key.split("/", 1)[1]  # relative to the stage (mempool-data/)
        if self.execute(
            f"SELECT 1 FROM {LOCAL_SCHEMA}.PIPE_FILES WHERE FILE_NAME = {sql_string(file_name)}"
        ):
            self.counters["duplicate_files"] += 1
            return 0
        body = self.stage_s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        if self.plan.skips_byte_order_mark(pipe) and body.startswith(BYTE_ORDER_MARK):
            body = body[len(BYTE_ORDER_MARK) :]
        rows, errors = decode_lines(body, self.plan.replaces_invalid_characters(pipe))
        if errors and pipe.on_error != "CONTINUE":
            # SKIP_FILE (Snowpipe's default) and ABORT_STATEMENT load nothing of the file.
            rows = []
            self.counters["files_rejected"] += 1
        self.counters["lines_rejected"] += len(errors)
        for row, error in errors:
            self.execute(
                f"INSERT INTO {LOCAL_SCHEMA}.LOAD_ERRORS VALUES ({sql_string(pipe.name)}, "
                f"{sql_string(file_name)}, {row}, {sql_string(error)})"
            )
        select = ", ".join(pipe_expression(expr) for expr in pipe.select)
        # The lines travel as one bound JSON array per chunk (not as SQL text): the
        # statement stays small whatever the file holds. Each carries whether Snowflake's
        # strict parser would take it (column4, see strict_json).
        lines = [(number, text, strict_json(text)) for number, text in rows]
        for start in range(0, len(lines), LINES_PER_INSERT):
            self.execute(
                f"INSERT INTO {pipe.table} ({', '.join(pipe.columns)}) SELECT {select} FROM ("
                "SELECT f.value[1]::VARCHAR AS column1, ? AS column2, "
                "f.value[0]::NUMBER AS column3, f.value[2]::BOOLEAN AS column4 "
                "FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f)",
                [file_name, json.dumps(lines[start : start + LINES_PER_INSERT])],
            )
        ordinal = int(
            self.execute(f"SELECT COALESCE(MAX(ORDINAL), 0) + 1 FROM {LOCAL_SCHEMA}.PIPE_FILES")[0][
                0
            ]
        )
        self.execute(
            f"INSERT INTO {LOCAL_SCHEMA}.PIPE_FILES VALUES ({sql_string(pipe.name)}, "
            f"{sql_string(file_name)}, {ordinal}, {len(rows)})"
        )
        self.counters["files_loaded"] += 1
        self.counters["rows_loaded"] += len(rows)
        return len(rows)

    # -- streams and tasks -------------------------------------------------------------

    def stream_has_data(self, stream: str) -> bool:
        return bool(self.execute(f"SELECT 1 FROM {stream} LIMIT 1"))

    def call(self, procedure: str) -> str:
        """CALL a procedure: its handler with a Snowpark session in which a DML statement
        that reads a stream moves the stream's offset as it commits (Snowflake: "the
        offset advances when the DML transaction commits"), as on Snowflake, whether or
        not the procedure finishes. `kill_switch`, when set, may end the call half-way."""
        handler_path = procedure_handlers(self.project_file)[procedure.upper()]
        module_name, func_name = handler_path.rsplit(".", 1)
        with self.procedure_code():
            module = importlib.import_module(module_name)
            handler: Callable[[Any], str] = getattr(module, func_name)
            kill_after = self.kill_switch(procedure) if self.kill_switch else None
            session = StreamConsumingSession(
                self, consumed_streams(module), kill_after, self.between_statements
            )
            try:
                result = handler(session)
            finally:
                # Snowflake rolls back a transaction a failed procedure left open.
                session.abandon()
        self.counters["procedure_calls"] += 1
        log.info("%s", result)
        return result

    def set_stream_offset(self, stream: str, position: str) -> None:
        self.execute(
            f"UPDATE {LOCAL_SCHEMA}.STREAM_OFFSETS SET POSITION = "
            f"{sql_string(position)} WHERE STREAM = '{stream}'"
        )

    @contextmanager
    def procedure_code(self) -> Iterator[None]:
        """Import the procedures from the archive the last deploy put in place, as each
        CALL in Snowflake runs the procedure's current IMPORTS. This process's own import
        (the working tree's archive) is the usual one; another release's modules are put
        in sys.modules for the call and taken out again."""
        if self.procedures == PROCEDURES_ARCHIVE:
            yield
            return
        own = _take_modules()
        sys.modules.update(self._modules.get(self.procedures, {}))
        sys.path.insert(0, str(self.procedures))
        importlib.invalidate_caches()
        try:
            yield
        finally:
            sys.path.remove(str(self.procedures))
            self._modules[self.procedures] = _take_modules()
            sys.modules.update(own)
            importlib.invalidate_caches()

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

    def _record_run(self, task_name: str, state: str, started: Any, error: str | None) -> None:
        if not self.plan.task_runs:
            return
        view, columns = self.plan.task_runs
        completed = datetime.now(UTC).replace(tzinfo=None)
        values = {
            "TASK_NAME": task_name,
            "STATE": state,
            "SCHEDULED_AT": started,
            "STARTED_AT": started,
            "COMPLETED_AT": completed,
            "ERROR_MESSAGE": error,
        }
        self.execute(
            f"INSERT INTO {view} ({', '.join(columns)}) SELECT {', '.join('?' for _ in columns)}",
            [values.get(c) for c in columns],
        )


Rows = list[tuple[int, str]]


def _take_modules() -> dict[str, ModuleType]:
    """Remove the procedures' package and its modules from sys.modules; return them."""
    names = [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]
    return {n: sys.modules.pop(n) for n in names}


class TaskKilled(RuntimeError):
    """A task run ended half-way (chaos): what committed stays, the rest is retried."""


# Statements that can consume a stream: DML reading it in a subquery or USING clause.
DML = ("INSERT", "MERGE", "UPDATE", "DELETE")


TRANSACTION_CONTROL = {
    "BEGIN": "begin",
    "START": "begin",
    "COMMIT": "commit",
    "ROLLBACK": "rollback",
}


class StreamConsumingSession:
    """The Snowpark session a procedure gets locally: `sql(...).collect()` as Snowpark's,
    plus the stream semantics fakesnow lacks (see LocalSnowflake.call): a DML statement
    that reads a stream moves its offset when it commits, on its own or at the COMMIT of
    the explicit transaction it ran in; a rollback leaves the offset where it was."""

    def __init__(
        self,
        runtime: LocalSnowflake,
        streams: list[str],
        kill_after: int | None = None,
        between: Callable[[str, int], None] | None = None,
    ) -> None:
        self._runtime = runtime
        self._streams = streams
        self._kill_after = kill_after
        self._between = between
        self._statements = 0
        self._in_transaction = False
        self._deferred: dict[str, str] = {}

    def sql(self, text: str, params: list[Any] | None = None) -> _Statement:
        return _Statement(self, text, params)

    def _run(self, text: str, params: list[Any] | None) -> list[Any]:
        self._statements += 1
        if self._kill_after is not None and self._statements > self._kill_after:
            raise TaskKilled(f"killed after {self._kill_after} statement(s)")
        words = text.lstrip().upper().split(None, 1)
        control = TRANSACTION_CONTROL.get(words[0] if words else "")
        is_dml = text.lstrip().upper().startswith(DML)
        consumed = [s for s in self._streams if is_dml and s in text]
        positions = {s: self._runtime._stream_position(s) for s in consumed}
        session = self._runtime.session
        query = session.sql(text, params=params) if params else session.sql(text)
        rows = list(query.collect())
        if control == "begin":
            self._in_transaction = True
        elif control in ("commit", "rollback"):
            if control == "commit":
                for stream, position in self._deferred.items():
                    self._runtime.set_stream_offset(stream, position)
            self._deferred.clear()
            self._in_transaction = False
        elif self._in_transaction:
            self._deferred.update(positions)
        else:
            for stream, position in positions.items():
                self._runtime.set_stream_offset(stream, position)
        if self._between is not None:
            self._between(text, self._statements)
        return rows

    def abandon(self) -> None:
        """The procedure ended: a transaction it left open is rolled back, its stream
        reads with it."""
        if self._in_transaction:
            self._runtime.session.sql("ROLLBACK").collect()
            self._deferred.clear()
            self._in_transaction = False


class _Statement:
    def __init__(self, owner: StreamConsumingSession, text: str, params: list[Any] | None):
        self._owner, self._text, self._params = owner, text, params

    def collect(self) -> list[Any]:
        return self._owner._run(self._text, self._params)


def decode_lines(body: bytes, replace_invalid: bool) -> tuple[Rows, Rows]:
    """(row number, text) of each line, and (row number, error) of the lines Snowflake
    would reject: invalid UTF-8 unless the file format replaces it (with U+FFFD)."""
    parts = body.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    rows: list[tuple[int, str]] = []
    errors: list[tuple[int, str]] = []
    for number, raw in enumerate(parts, 1):
        try:
            rows.append((number, raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            if replace_invalid:
                rows.append((number, raw.decode("utf-8", errors="replace")))
            else:
                errors.append((number, f"Invalid UTF8 detected in string: {exc.reason}"))
    return rows, errors


def pipe_expression(expression: str) -> str:
    """A pipe's SELECT expression over the emulation's VALUES (line, file, row, strict):
    TRY_PARSE_JSON of the line is NULL where Snowflake's strict parser fails on it."""
    out = expression
    for name, column in sorted(PIPE_INPUTS.items(), key=lambda kv: -len(kv[0])):
        out = re.sub(re.escape(name) + r"(?![\w$])", column, out, flags=re.I)
    return re.sub(
        r"\bTRY_PARSE_JSON\(\s*column1\s*\)",
        "CASE WHEN column4 THEN TRY_PARSE_JSON(column1) END",
        out,
        flags=re.I,
    )


class DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise DuplicateKey(f"duplicate key in {keys}")
    return dict(pairs)


def strict_json(text: str) -> bool:
    """False where Snowflake's TRY_PARSE_JSON gives NULL and DuckDB's parser does not: an
    object with a duplicate key (Snowflake's default is strict, 's'; DuckDB keeps the
    first value). Text Python cannot parse is left to the engine's own parser.
    https://docs.snowflake.com/en/sql-reference/functions/try_parse_json"""
    try:
        json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except DuplicateKey:
        return False
    except (ValueError, RecursionError):
        return True
    return True


def split_top_level(text: str) -> list[str]:
    """Split a SELECT list on the commas that are not inside parentheses or quotes."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "," and depth == 0 and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def consumed_streams(module: Any) -> list[str]:
    """The streams a procedure module declares it consumes (STREAM or RAW_STREAMS)."""
    streams: list[str] = []
    if isinstance(getattr(module, "STREAM", None), str):
        streams.append(module.STREAM)
    raw = getattr(module, "RAW_STREAMS", None)
    if isinstance(raw, dict):
        streams.extend(raw.values())
    return streams


def sql_string(value: str) -> str:
    """A Snowflake string literal (backslash is an escape character in Snowflake SQL)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
