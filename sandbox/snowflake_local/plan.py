"""What the deploy's SQL declares that the local runtime provides, and the helpers the
object kinds share: the declarations (pipes, tasks, the task-history view), the plan
that collects them, and how names and strings are written."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.snowflake_local.conditions import Condition

REPO = Path(__file__).resolve().parents[2]
SQL_DIR = REPO / "snowflake" / "sql"
# The runtime's own bookkeeping (loaded files, load errors, stream offsets).
LOCAL_SCHEMA = "_LOCAL"
DBT_TASK = "EXECUTE DBT PROJECT"


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
    # The warehouse it runs on (REFRESH_GOLD's, TEST_GOLD's), or "" for serverless compute.
    warehouse: str = ""
    started: bool = False  # created suspended; ALTER TASK ... RESUME starts it
    dbt_args: str = ""  # EXECUTE DBT PROJECT's ARGS, as written ('run --target prod')
    # A body that is a scripting block (60_tasks.sql's REFRESH_GOLD), parsed
    # (sandbox.snowflake_local.scripting.Block).
    block: Any = None
    # WHEN SYSTEM$GET_PREDECESSOR_RETURN_VALUE('<task>') = '<value>': (task, value).
    when_returned: tuple[str, str] | None = None
    # A triggered root's WHEN: SYSTEM$STREAM_HAS_DATA(...) calls (SCHEMA.NAME) joined by
    # AND, OR, NOT and parentheses, parsed (sandbox.snowflake_local.conditions).
    trigger: Condition | None = None
    # A task whose body is one SQL statement (60_tasks.sql's SILVER_TICK: an INSERT).
    statement: str = ""
    # Local scheduling (time.monotonic()): the last scheduled check, and the return value
    # the last run set.
    last_run: float | None = None
    return_value: str | None = None


class LocalDeployError(RuntimeError):
    """A deploy statement Snowflake would refuse (the message says what it would say)."""


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
    # Alerts (sandbox.snowflake_local.alerts.Alert), and the metadata views their
    # conditions read, answered locally: name -> the production view's columns.
    alerts: list[Any] = field(default_factory=list)
    metadata_views: dict[str, list[str]] = field(default_factory=dict)

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


def sql_string(value: str) -> str:
    """A Snowflake string literal (backslash is an escape character in Snowflake SQL)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
