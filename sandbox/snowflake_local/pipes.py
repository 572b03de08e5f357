"""Snowpipe, emulated from each pipe's own definition: every new S3 object an SQS
notification names is loaded exactly once into the pipe's RAW table through the pipe's
own SELECT list, honouring its ON_ERROR and its file format's options."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from sandbox.snowflake_local.base import RuntimeBase
from sandbox.snowflake_local.plan import (
    LOCAL_SCHEMA,
    LocalDeployError,
    Pipe,
    split_top_level,
    sql_string,
    strip_database,
)

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
ALTER_PIPE_PAUSED_RE = re.compile(
    r"^\s*ALTER\s+PIPE\s+(?P<if_exists>IF\s+EXISTS\s+)?(?P<pipe>[\w.$]+)\s+SET\s+"
    r"PIPE_EXECUTION_PAUSED\s*=\s*(?P<paused>TRUE|FALSE)\s*$",
    re.I,
)
BYTE_ORDER_MARK = b"\xef\xbb\xbf"
# Lines of a landed file loaded per statement by the pipe emulation.
LINES_PER_INSERT = 20_000

Rows = list[tuple[int, str]]


class PipeEmulation(RuntimeBase):
    def _declare_pipe(self, statement: str) -> None:
        """CREATE PIPE, CREATE/ALTER FILE FORMAT and CREATE STAGE: what a pipe loads how."""
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

    def _setup_pipes(self) -> None:
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.PIPE_FILES
            (PIPE VARCHAR, FILE_NAME VARCHAR, ORDINAL NUMBER, ROWS_LOADED NUMBER)""")
        # What COPY_HISTORY would show as errors: lines or files the pipe's options reject.
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.LOAD_ERRORS
            (PIPE VARCHAR, FILE_NAME VARCHAR, SOURCE_ROW NUMBER, ERROR VARCHAR)""")
        # When each file loaded: SYSTEM$PIPE_STATUS's lastIngestedTimestamp, locally
        # (added since the first release; a warehouse an earlier one left lacks it).
        self.execute(
            f"ALTER TABLE {LOCAL_SCHEMA}.PIPE_FILES "
            "ADD COLUMN IF NOT EXISTS LOADED_AT TIMESTAMP_NTZ"
        )
        # Each pipe's execution state, and the files a paused pipe was notified of: they
        # load when it resumes, as Snowpipe keeps a paused pipe's notifications.
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.PIPES
            (NAME VARCHAR, TABLE_NAME VARCHAR, PAUSED BOOLEAN)""")
        self.execute(f"""CREATE TABLE IF NOT EXISTS {LOCAL_SCHEMA}.PIPE_PENDING
            (PIPE VARCHAR, OBJECT_KEY VARCHAR)""")
        names = [p.name for p in self.plan.pipes]
        known = {r[0] for r in self.execute(f"SELECT NAME FROM {LOCAL_SCHEMA}.PIPES")}
        for gone in known - set(names):
            self.execute(f"DELETE FROM {LOCAL_SCHEMA}.PIPES WHERE NAME = {sql_string(gone)}")
        for pipe in self.plan.pipes:
            if pipe.name not in known:
                self.execute(
                    f"INSERT INTO {LOCAL_SCHEMA}.PIPES VALUES ({sql_string(pipe.name)}, "
                    f"{sql_string(pipe.table)}, FALSE)"
                )

    def _pipe_state(self, statement: str) -> None:
        """ALTER PIPE ... SET PIPE_EXECUTION_PAUSED: a paused pipe loads nothing and holds
        what it is notified of; resumed, it loads what it held."""
        if not (m := ALTER_PIPE_PAUSED_RE.match(statement)):
            return
        name = strip_database(m["pipe"], self.database).upper()
        pipe = next((p for p in self.plan.pipes if p.name.upper() == name), None)
        if pipe is None:
            if m["if_exists"]:
                return
            raise LocalDeployError(f"Pipe {m['pipe']} does not exist.")
        paused = m["paused"].upper() == "TRUE"
        self.execute(
            f"UPDATE {LOCAL_SCHEMA}.PIPES SET PAUSED = {str(paused).upper()} "
            f"WHERE NAME = {sql_string(pipe.name)}"
        )
        if not paused:
            held = self.execute(
                f"SELECT OBJECT_KEY FROM {LOCAL_SCHEMA}.PIPE_PENDING "
                f"WHERE PIPE = {sql_string(pipe.name)}"
            )
            self.execute(
                f"DELETE FROM {LOCAL_SCHEMA}.PIPE_PENDING WHERE PIPE = {sql_string(pipe.name)}"
            )
            for (key,) in held:
                self.load_object(key)

    def pipe_paused(self, pipe: Pipe) -> bool:
        rows = self.execute(
            f"SELECT PAUSED FROM {LOCAL_SCHEMA}.PIPES WHERE NAME = {sql_string(pipe.name)}"
        )
        return bool(rows and rows[0][0])

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
        if self.pipe_paused(pipe):
            self.execute(
                f"INSERT INTO {LOCAL_SCHEMA}.PIPE_PENDING VALUES ({sql_string(pipe.name)}, ?)",
                [key],
            )
            return 0
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
            f"INSERT INTO {LOCAL_SCHEMA}.PIPE_FILES (PIPE, FILE_NAME, ORDINAL, ROWS_LOADED, "
            f"LOADED_AT) VALUES ({sql_string(pipe.name)}, {sql_string(file_name)}, {ordinal}, "
            f"{len(rows)}, ?)",
            [datetime.now(UTC).replace(tzinfo=None)],
        )
        self.counters["files_loaded"] += 1
        self.counters["rows_loaded"] += len(rows)
        return len(rows)


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
