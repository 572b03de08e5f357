"""Snowflake's account metadata, answered locally in Snowflake's shape: SHOW PIPES, SHOW
TASKS, SHOW STREAMS, SHOW ALERTS and SYSTEM$PIPE_STATUS, which fakesnow cannot run, read from what
the runtime records (sandbox/snowflake_local: _LOCAL.PIPES, PIPE_FILES, PIPE_PENDING,
TASKS, STREAM_OFFSETS). A connection wrapped here answers them and passes everything
else through, so `mempool status` and `mempool sql` run the same statements on the
local warehouse as on Snowflake.

Columns are the subset of Snowflake's the platform reads, named as Snowflake names them.
https://docs.snowflake.com/en/sql-reference/sql/show-tasks
https://docs.snowflake.com/en/sql-reference/sql/show-streams
https://docs.snowflake.com/en/sql-reference/functions/system_pipe_status
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from sandbox.snowflake_local.plan import LOCAL_SCHEMA, sql_string

SHOW_RE = re.compile(
    r"^\s*SHOW\s+(?P<kind>PIPES|TASKS|STREAMS|ALERTS)\s+IN\s+DATABASE\s+(?P<db>[\w$]+)\s*;?\s*$",
    re.I,
)
PIPE_STATUS_RE = re.compile(
    r"^\s*SELECT\s+SYSTEM\$PIPE_STATUS\(\s*'(?P<db>[\w$]+)\.(?P<pipe>[\w$]+\.[\w$]+)'\s*\)"
    r"\s*;?\s*$",
    re.I,
)

Answer = tuple[list[str], list[tuple[Any, ...]]]


def _split(name: str) -> tuple[str, str]:
    schema, _, bare = name.rpartition(".")
    return schema.upper(), bare.upper()


def show_pipes(run: Callable[[str], list[Any]], db: str) -> Answer:
    rows = run(f"SELECT NAME, TABLE_NAME FROM {db}.{LOCAL_SCHEMA}.PIPES ORDER BY NAME")
    return (
        ["name", "database_name", "schema_name", "definition"],
        [(_split(n)[1], db.upper(), _split(n)[0], f"COPY INTO {t}") for n, t in rows],
    )


def show_tasks(run: Callable[[str], list[Any]], db: str) -> Answer:
    rows = run(
        f"SELECT NAME, STATE, SCHEDULE, PREDECESSORS FROM {db}.{LOCAL_SCHEMA}.TASKS ORDER BY NAME"
    )
    return (
        ["name", "database_name", "schema_name", "state", "schedule", "predecessors"],
        [
            (
                _split(name)[1],
                db.upper(),
                _split(name)[0],
                state,
                schedule,
                json.dumps([f"{db.upper()}.{p}" for p in parents.split(",") if p]),
            )
            for name, state, schedule, parents in rows
        ],
    )


def show_streams(run: Callable[[str], list[Any]], db: str) -> Answer:
    # A local stream is an offset with no retention behind it: it never goes stale, so
    # STALE_AFTER, the horizon Snowflake computes from the table's retention, is NULL.
    rows = run(f"SELECT STREAM FROM {db}.{LOCAL_SCHEMA}.STREAM_OFFSETS ORDER BY STREAM")
    return (
        ["name", "database_name", "schema_name", "stale", "stale_after", "mode"],
        [(_split(s)[1], db.upper(), _split(s)[0], "false", None, "APPEND_ONLY") for (s,) in rows],
    )


def show_alerts(run: Callable[[str], list[Any]], db: str) -> Answer:
    rows = run(
        f"SELECT NAME, STATE, SCHEDULE, CONDITION, ACTION FROM {db}.{LOCAL_SCHEMA}.ALERTS "
        "ORDER BY NAME"
    )
    return (
        ["name", "database_name", "schema_name", "state", "schedule", "condition", "action"],
        [
            (_split(name)[1], db.upper(), _split(name)[0], state, schedule, condition, action)
            for name, state, schedule, condition, action in rows
        ],
    )


def pipe_status(run: Callable[[str], list[Any]], db: str, pipe: str) -> Answer:
    name = sql_string(pipe.upper())
    local = f"{db}.{LOCAL_SCHEMA}"
    state = run(f"SELECT PAUSED FROM {local}.PIPES WHERE UPPER(NAME) = {name}")
    if not state:
        raise LookupError(f"Pipe '{db}.{pipe}' does not exist or not authorized.")
    (pending,) = run(f"SELECT COUNT(*) FROM {local}.PIPE_PENDING WHERE UPPER(PIPE) = {name}")[0]
    (last,) = run(f"SELECT MAX(LOADED_AT) FROM {local}.PIPE_FILES WHERE UPPER(PIPE) = {name}")[0]
    status: dict[str, Any] = {
        "executionState": "PAUSED" if state[0][0] else "RUNNING",
        "pendingFileCount": int(pending),
    }
    if last is not None:
        status["lastIngestedTimestamp"] = last.isoformat(timespec="milliseconds") + "Z"
    return ([f"SYSTEM$PIPE_STATUS('{db.upper()}.{pipe.upper()}')"], [(json.dumps(status),)])


def local_answer(run: Callable[[str], list[Any]], statement: str) -> Answer | None:
    """The answer to a statement only Snowflake's metadata can answer, else None."""
    if m := SHOW_RE.match(statement):
        show = {
            "PIPES": show_pipes,
            "TASKS": show_tasks,
            "STREAMS": show_streams,
            "ALERTS": show_alerts,
        }
        return show[m["kind"].upper()](run, m["db"])
    if m := PIPE_STATUS_RE.match(statement):
        return pipe_status(run, m["db"], m["pipe"])
    return None


class AccountCursor:
    """A DB-API cursor that answers local_answer's statements and passes the rest on."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self._answer: Answer | None = None

    def _run(self, sql: str) -> list[Any]:
        self._cursor.execute(sql)
        return list(self._cursor.fetchall())

    def execute(self, statement: str, params: Any = None) -> AccountCursor:
        self._answer = local_answer(self._run, statement)
        if self._answer is None:
            self._cursor.execute(statement, params)
        return self

    @property
    def description(self) -> Any:
        if self._answer is None:
            return self._cursor.description
        return [(c, None, None, None, None, None, None) for c in self._answer[0]]

    def fetchall(self) -> list[Any]:
        if self._answer is None:
            return list(self._cursor.fetchall())
        rows, self._answer = self._answer[1], (self._answer[0], [])
        return rows

    def close(self) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class AccountConnection:
    """A DB-API connection whose cursors are AccountCursors."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def cursor(self) -> AccountCursor:
        return AccountCursor(self._conn.cursor())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
