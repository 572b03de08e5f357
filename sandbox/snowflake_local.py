"""The local Snowflake runtime: what fakesnow lacks, provided by running production's
own artifacts.

- Applies the same SQL files (rendered with the same `<% name %>` values), passing over
  only the statements fakesnow cannot run, and saying which.
- Emulates each Snowpipe from its own definition: every new S3 object named by an SQS
  notification is loaded exactly once into the pipe's RAW table with the same columns.
- Emulates each stream as a per-consumer offset over its table that advances only when
  the consuming procedure returns successfully.
- Runs the task graph by calling the same procedure handlers with a Snowpark session.
"""

from __future__ import annotations

import atexit
import functools
import importlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import yaml

from sandbox.warehouse import LocalWarehouse, split_statements

log = logging.getLogger("mempool.snowflake")

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "snowflake" / "sql"
PROJECT_FILE = REPO / "snowflake.yml"
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
    (re.compile(r"^\s*GRANT\b", re.I), "grant (no access control locally)"),
    (re.compile(r"^\s*ALTER\s+TASK\b", re.I), "task (emulated)"),
    (
        re.compile(r"^\s*CREATE\s+(OR\s+REPLACE\s+)?SCHEMA\b.*\bWITH\s+MANAGED\s+ACCESS", re.I),
        "managed access",
    ),
]

PIPE_RE = re.compile(
    r"CREATE\s+PIPE\s+IF\s+NOT\s+EXISTS\s+(?P<pipe>\S+).*?COPY\s+INTO\s+(?P<table>\S+).*?"
    r"FROM\s+@\S+?/(?P<prefix>[\w-]+)/\)",
    re.I | re.S,
)
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
AFTER_RE = re.compile(r"\bAFTER\s+(?P<parents>[\w.$\s,]+?)\s*(?:\bWHEN\b|$)", re.I | re.S)
DBT_TASK = "EXECUTE DBT PROJECT"


def render(sql: str, values: dict[str, str]) -> str:
    def sub(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            raise KeyError(f"template variable {name!r} has no value")
        return values[name]

    return re.sub(r"<%\s*([\w.]+)\s*%>", sub, sql)


def strip_database(name: str, database: str) -> str:
    prefix = database.upper() + "."
    return name[len(prefix) :] if name.upper().startswith(prefix) else name


@dataclass
class Pipe:
    name: str
    table: str
    prefix: str  # the folder under mempool-data/, e.g. "stream"


@dataclass
class Task:
    name: str
    procedure: str  # SCHEMA.NAME of the procedure it calls, or DBT_TASK
    parents: list[str]


@dataclass
class Plan:
    """What the SQL files declare that the runtime must provide."""

    pipes: list[Pipe] = field(default_factory=list)
    streams: dict[str, str] = field(default_factory=dict)  # stream -> table
    tasks: list[Task] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (reason, first line)


def default_values(database: str, bucket: str) -> dict[str, str]:
    return {
        "database": database,
        "warehouse": "LOCAL_WH",
        "bucket": bucket,
        "storage_role_arn": "arn:aws:iam::000000000000:role/local",
        "error_integration": "LOCAL_ERRORS",
    }


@functools.cache
def procedure_handlers(project_file: Path = PROJECT_FILE) -> dict[str, str]:
    """Procedure name (SCHEMA.NAME) -> handler, from snowflake.yml (read once)."""
    project = yaml.safe_load(project_file.read_text())
    mixins = project.get("mixins", {})
    out = {}
    for entity in project["entities"].values():
        if entity.get("type") != "procedure":
            continue
        merged: dict[str, Any] = {}
        for mixin in entity.get("meta", {}).get("use_mixins", []):
            merged.update(mixins.get(mixin, {}))
        ident = {**merged.get("identifier", {}), **entity.get("identifier", {})}
        out[f"{ident['schema']}.{ident['name']}".upper()] = entity["handler"]
    return out


class LocalSnowflake:
    def __init__(
        self,
        warehouse: LocalWarehouse,
        bucket: str,
        s3: Any = None,
        sqs: Any = None,
        queue_url: str = "",
        values: dict[str, str] | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.database = warehouse.database
        self.bucket = bucket
        self.s3 = s3
        self.sqs = sqs
        self.queue_url = queue_url
        self.values = values or default_values(self.database, bucket)
        self.plan = Plan()
        # What EXECUTE DBT PROJECT does locally (the sandbox sets it; None skips gold).
        self.dbt_runner: Callable[[], str] | None = None
        self._conn: Any = None
        self._session: Any = None
        self.counters = {
            "files_loaded": 0,
            "rows_loaded": 0,
            "duplicate_files": 0,
            "graph_runs": 0,
            "procedure_calls": 0,
        }

    # -- connections -------------------------------------------------------------------

    @property
    def conn(self) -> Any:
        if self._conn is None:
            import snowflake.connector

            self._conn = snowflake.connector.connect(**self.warehouse.connect_kwargs())
        return self._conn

    def execute(self, statement: str) -> list[Any]:
        cur = self.conn.cursor()
        try:
            cur.execute(statement)
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

    def deploy(self, sql_dir: Path = SQL_DIR) -> Plan:
        """Apply every SQL file in order; emulate what fakesnow cannot run."""
        self.plan = Plan()
        for path in sorted(sql_dir.glob("*.sql")):
            for statement in split_statements(render(path.read_text(), self.values)):
                self._apply(statement)
        self._setup_emulation()
        reasons: dict[str, int] = {}
        for reason, _ in self.plan.skipped:
            reasons[reason] = reasons.get(reason, 0) + 1
        log.info(
            "deployed %s locally; passed over: %s",
            sql_dir,
            ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "nothing",
        )
        return self.plan

    def _apply(self, statement: str) -> None:
        if m := PIPE_RE.search(statement):
            self.plan.pipes.append(
                Pipe(
                    strip_database(m["pipe"], self.database),
                    strip_database(m["table"], self.database),
                    m["prefix"],
                )
            )
        if m := STREAM_RE.search(statement):
            self.plan.streams[strip_database(m["stream"], self.database)] = strip_database(
                m["table"], self.database
            )
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
            self.plan.tasks.append(
                Task(strip_database(m["task"], self.database), procedure, parents)
            )
        for pattern, reason in UNSUPPORTED:
            if pattern.search(statement):
                self.plan.skipped.append((reason, statement.splitlines()[0][:100]))
                return
        self.execute(statement)

    def _setup_emulation(self) -> None:
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {LOCAL_SCHEMA}")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.PIPE_FILES
            (PIPE VARCHAR, FILE_NAME VARCHAR, ORDINAL NUMBER, ROWS_LOADED NUMBER)""")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.STREAM_OFFSETS
            (STREAM VARCHAR, POSITION VARCHAR)""")
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
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        lines = body.decode("utf-8", errors="replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        for start in range(0, len(lines), 400):
            chunk = lines[start : start + 400]
            values = ", ".join(
                f"({sql_string(line)}, {sql_string(file_name)}, {start + i + 1})"
                for i, line in enumerate(chunk)
            )
            self.execute(f"""INSERT INTO {pipe.table} (RECORD, SOURCE_FILE, SOURCE_ROW, SCANNED_AT)
                SELECT TRY_PARSE_JSON(column1), column2, column3, CURRENT_TIMESTAMP()
                FROM VALUES {values}""")
        ordinal = int(
            self.execute(f"SELECT COALESCE(MAX(ORDINAL), 0) + 1 FROM {LOCAL_SCHEMA}.PIPE_FILES")[0][
                0
            ]
        )
        self.execute(
            f"INSERT INTO {LOCAL_SCHEMA}.PIPE_FILES VALUES ({sql_string(pipe.name)}, "
            f"{sql_string(file_name)}, {ordinal}, {len(lines)})"
        )
        self.counters["files_loaded"] += 1
        self.counters["rows_loaded"] += len(lines)
        return len(lines)

    # -- streams and tasks -------------------------------------------------------------

    def stream_has_data(self, stream: str) -> bool:
        return bool(self.execute(f"SELECT 1 FROM {stream} LIMIT 1"))

    def call(self, procedure: str) -> str:
        """CALL a procedure: its handler with a Snowpark session; on success, the streams
        it consumes move to where they were when it started."""
        handler_path = procedure_handlers()[procedure.upper()]
        module_name, func_name = handler_path.rsplit(".", 1)
        module = importlib.import_module(module_name)
        handler: Callable[[Any], str] = getattr(module, func_name)
        consumed = consumed_streams(module)
        positions = {s: self._stream_position(s) for s in consumed}
        result = handler(self.session)
        for stream, position in positions.items():
            self.execute(
                f"UPDATE {LOCAL_SCHEMA}.STREAM_OFFSETS SET POSITION = "
                f"{sql_string(position)} WHERE STREAM = '{stream}'"
            )
        self.counters["procedure_calls"] += 1
        log.info("%s", result)
        return result

    def run_graph(self) -> list[str]:
        """One run of the task graph: the root when its streams have data, then every task
        whose predecessors have all run (the dbt task only when a dbt runner is set)."""
        roots = [t for t in self.plan.tasks if not t.parents]
        results = []
        for root in roots:
            module = importlib.import_module(procedure_handlers()[root.procedure].rsplit(".", 1)[0])
            if not any(self.stream_has_data(s) for s in consumed_streams(module)):
                continue
            done = {root.name}
            results.append(self.call(root.procedure))
            pending = [t for t in self.plan.tasks if t.parents]
            while pending:
                ready = [t for t in pending if all(p in done for p in t.parents)]
                if not ready:
                    break
                for task in ready:
                    if task.procedure == DBT_TASK:
                        if self.dbt_runner is not None:
                            results.append(self.dbt_runner())
                    else:
                        results.append(self.call(task.procedure))
                    done.add(task.name)
                    pending.remove(task)
            self.counters["graph_runs"] += 1
        return results


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
