"""Streams, emulated: each a per-consumer offset over its table that advances when a
DML statement reading it commits, as Snowflake's does, even if the procedure then
fails; and the Snowpark session a procedure gets locally, which moves those offsets."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from sandbox.snowflake_local.base import RuntimeBase
from sandbox.snowflake_local.plan import LOCAL_SCHEMA, sql_string, strip_database

STREAM_RE = re.compile(
    r"CREATE\s+STREAM\s+IF\s+NOT\s+EXISTS\s+(?P<stream>\S+)\s+ON\s+TABLE\s+"
    r"(?P<table>\S+)",
    re.I,
)


# What a local stream's offset follows in a table that is not RAW's: SILVER's tables are
# written a batch at a time, in BATCH_ID order; the requests for a silver or gold run, one
# row at a time, in the order of their REQUESTED_AT (one warehouse clock).
OFFSET_COLUMNS = {"OPS.SILVER_REQUESTS": "REQUESTED_AT", "OPS.GOLD_REQUESTS": "REQUESTED_AT"}


class StreamEmulation(RuntimeBase):
    def _declare_stream(self, statement: str) -> None:
        if m := STREAM_RE.search(statement):
            self._emulation_changed = True
            self.plan.streams[strip_database(m["stream"], self.database)] = strip_database(
                m["table"], self.database
            )

    def _setup_streams(self) -> None:
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.STREAM_OFFSETS
            (STREAM VARCHAR, POSITION VARCHAR)""")
        # When the offset last moved (created, or consumed by a DML statement that
        # committed): what SYSTEM$STREAM_GET_TABLE_TIMESTAMP answers, for the streams alert
        # (added since the first release; a warehouse an earlier one left lacks it).
        self.execute(
            f"ALTER TABLE {LOCAL_SCHEMA}.STREAM_OFFSETS "
            "ADD COLUMN IF NOT EXISTS MOVED_AT TIMESTAMP_NTZ"
        )
        for stream, table in self.plan.streams.items():
            if not self.execute(
                f"SELECT 1 FROM {LOCAL_SCHEMA}.STREAM_OFFSETS WHERE STREAM = '{stream}'"
            ):
                self.execute(
                    f"INSERT INTO {LOCAL_SCHEMA}.STREAM_OFFSETS (STREAM, POSITION, MOVED_AT) "
                    f"VALUES ('{stream}', '', SYSDATE())"
                )
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
        if (column := OFFSET_COLUMNS.get(table.upper())) is not None:
            return (
                f"SELECT t.* FROM {table} t WHERE t.{column} > "
                f"COALESCE(NULLIF({offset}, '')::TIMESTAMP_NTZ, '1970-01-01'::TIMESTAMP_NTZ)"
            )
        return f"SELECT t.* FROM {table} t WHERE t.BATCH_ID > {offset}"

    def _stream_position(self, stream: str) -> str:
        table = self.plan.streams[stream]
        if table.upper().startswith("RAW."):
            rows = self.execute(f"SELECT MAX(ORDINAL) FROM {LOCAL_SCHEMA}.PIPE_FILES")
            return f"{int(rows[0][0] or 0):012d}"
        column = OFFSET_COLUMNS.get(table.upper(), "BATCH_ID")
        rows = self.execute(f"SELECT MAX({column})::VARCHAR FROM {table}")
        return str(rows[0][0] or "")

    def consumed_positions(self, statement: str, streams: list[str]) -> dict[str, str]:
        """The streams (of `streams`) a DML statement reads, each with the position its
        offset moves to when the statement commits; none for any other statement."""
        if not statement.lstrip().upper().startswith(DML):
            return {}
        return {s: self._stream_position(s) for s in streams if s in statement}

    def stream_has_data(self, stream: str) -> bool:
        return bool(self.execute(f"SELECT 1 FROM {stream} LIMIT 1"))

    def set_stream_offset(self, stream: str, position: str) -> None:
        self.execute(
            f"UPDATE {LOCAL_SCHEMA}.STREAM_OFFSETS SET POSITION = "
            f"{sql_string(position)}, MOVED_AT = SYSDATE() WHERE STREAM = '{stream}'"
        )


class TaskKilled(BaseException):
    """A task run ended half-way (chaos): what committed stays, the rest is retried.

    A BaseException, as SystemExit is: a run killed on Snowflake (a timeout, compute
    lost) ends whole, and no procedure code, not even REFRESH_SILVER's "every stage
    runs" loop, gets to catch it and carry on."""


class ProcedureFailed(RuntimeError):
    """A procedure failed with an error its caller may catch (the drills' fail_switch)."""


# A procedure's CALL of another procedure (no arguments: this project's procedures).
CALL_RE = re.compile(r"^\s*CALL\s+(?P<procedure>[\w.$]+)\s*\(\s*\)\s*;?\s*$", re.I)
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
    plus the stream semantics fakesnow lacks (see ProcedureCalls.call): a DML statement
    that reads a stream moves its offset when it commits, on its own or at the COMMIT of
    the explicit transaction it ran in; a rollback leaves the offset where it was."""

    def __init__(
        self,
        runtime: StreamEmulation,
        streams: list[str],
        kill_after: int | None = None,
        between: Callable[[str, int], None] | None = None,
        caller: Callable[[str], str] | None = None,
        fail_after: int | None = None,
    ) -> None:
        self._runtime = runtime
        self._streams = streams
        self._kill_after = kill_after
        self._fail_after = fail_after
        self._between = between
        self._caller = caller
        self._statements = 0
        self._in_transaction = False
        self._deferred: dict[str, str] = {}

    def sql(self, text: str, params: list[Any] | None = None) -> _Statement:
        return _Statement(self, text, params)

    def _run(self, text: str, params: list[Any] | None) -> list[Any]:
        if (call := CALL_RE.match(text)) and self._caller is not None:
            # A procedure's CALL of another is the callee's own CALL (its streams, its kill
            # and fail switches), in the same warehouse session.
            return [(self._caller(call["procedure"].upper()),)]
        self._statements += 1
        if self._kill_after is not None and self._statements > self._kill_after:
            raise TaskKilled(f"killed after {self._kill_after} statement(s)")
        if self._fail_after is not None and self._statements > self._fail_after:
            raise ProcedureFailed(f"failed after {self._fail_after} statement(s) (drill)")
        words = text.lstrip().upper().split(None, 1)
        control = TRANSACTION_CONTROL.get(words[0] if words else "")
        positions = self._runtime.consumed_positions(text, self._streams)
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


def consumed_streams(module: Any) -> list[str]:
    """The streams a procedure module declares it consumes (STREAM or RAW_STREAMS)."""
    streams: list[str] = []
    if isinstance(getattr(module, "STREAM", None), str):
        streams.append(module.STREAM)
    raw = getattr(module, "RAW_STREAMS", None)
    if isinstance(raw, dict):
        streams.extend(raw.values())
    return streams
