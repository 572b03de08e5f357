"""`mempool sql`: run statements on the warehouse and print what they return."""

from __future__ import annotations

import csv
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TextIO

from operations.sql_text import split_statements

LocalConnection = Callable[[str | None], AbstractContextManager[Any]]


class WarehouseUnavailable(RuntimeError):
    """No warehouse to run on (none named, no local one up): a message, not a traceback."""


# The name in "table not found" messages: DuckDB's (the local warehouse) and Snowflake's.
MISSING_NAME = re.compile(
    r"Table with name (?P<duck>[\w$]+) does not exist|Object '(?P<sf>[^']+)' does not exist"
)
NO_SCHEMA = "does not have a current schema"
# The connector's framing of a server error: error code, SQL state, query id (or None).
CONNECTOR_FRAMING = re.compile(r"^\d{6} \(\w{5}\): (?:None|[0-9a-f-]{36}): ")
# Names a statement reads from, unqualified (no schema before them).
UNQUALIFIED_SOURCE = re.compile(r"\b(?:FROM|JOIN)\s+([A-Za-z_][\w$]*)\b(?!\s*\.)", re.IGNORECASE)


def read_query(query: str) -> str:
    if query == "-":
        return sys.stdin.read()
    if query.startswith("@"):
        return Path(query[1:]).read_text()
    return query


def display_value(value: Any) -> str:
    return "NULL" if value is None else str(value)


def format_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [[display_value(v) for v in row] for row in rows]
    widths = [len(c) for c in columns]
    for row in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, row, strict=True)]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [
        line,
        "| " + " | ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |",
        line,
    ]
    out += [
        "| " + " | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in cells
    ]
    out.append(line)
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def write_result(
    columns: list[str], rows: list[tuple[Any, ...]], output: str, stream: TextIO
) -> None:
    if output == "json":
        stream.write(json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str))
        stream.write("\n")
    elif output == "csv":
        writer = csv.writer(stream)
        writer.writerow(columns)
        writer.writerows(rows)
    elif columns:
        stream.write(format_table(columns, rows) + "\n")
    stream.flush()


def error_text(exc: Exception) -> str:
    """The server's message without the connector's framing (`002003 (42S02): None:`, the
    None being a query id the local warehouse does not issue); a real query id is kept,
    it is what Snowflake support asks for."""
    message = getattr(exc, "msg", None)
    if not isinstance(message, str):
        return f"{type(exc).__name__}: {exc}"
    query_id = getattr(exc, "sfqid", None)
    message = CONNECTOR_FRAMING.sub("", message.strip())
    return message + (f" (query id {query_id})" if query_id else "")


def known_tables(cur: Any) -> list[str]:
    cur.execute(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM INFORMATION_SCHEMA.TABLES "
        "WHERE TABLE_SCHEMA <> 'INFORMATION_SCHEMA'"
    )
    return sorted(f"{schema}.{name}".upper() for schema, name in cur.fetchall())


def hint(message: str, statement: str, tables: list[str]) -> str | None:
    """What to type instead, for the two mistakes everyone makes: a misspelt table, and
    a table without its schema."""
    missing = MISSING_NAME.search(message)
    if missing:
        wanted = (missing["duck"] or missing["sf"]).upper()
        bare = wanted.rsplit(".", 1)[-1]
        # DuckDB's message drops the schema: take it from the statement when written there.
        written = re.search(rf"([\w$]+)\s*\.\s*{re.escape(bare)}\b", statement, re.IGNORECASE)
        schema = written[1].upper() + "." if written else ""
        candidates = [t for t in tables if t.startswith(schema)] or tables
        names = difflib.get_close_matches(bare, [t.rsplit(".", 1)[-1] for t in candidates], 3, 0.6)
        close = [t for t in candidates if t.rsplit(".", 1)[-1] in names]
        return f"did you mean {' or '.join(close)}?" if close else None
    if NO_SCHEMA in message:
        found = []
        for name in UNQUALIFIED_SOURCE.findall(statement):
            homes = [t for t in tables if t.rsplit(".", 1)[-1] == name.upper()]
            found += [f"{name.upper()} is {' or '.join(homes)}"] if homes else []
        schemas = sorted({t.split(".", 1)[0] for t in tables})
        advice = "name the schema (SCHEMA.TABLE) or pass --schema " + "|".join(schemas)
        return "; ".join([*found, advice])
    return None


def run_statements(cur: Any, statements: list[str], output: str, stream: TextIO) -> int:
    for statement in statements:
        try:
            cur.execute(statement)
            columns = [d[0] for d in (cur.description or [])]
            rows = [tuple(r) for r in cur.fetchall()] if columns else []
        except Exception as exc:
            message = error_text(exc)
            print(f"error: {message}", file=sys.stderr)
            try:
                advice = hint(message, statement, known_tables(cur))
            except Exception:
                advice = None  # a hint is a courtesy: never hide the error behind its own
            if advice:
                print(f"hint: {advice}", file=sys.stderr)
            return 1
        write_result(columns, rows, output, stream)
    return 0


@contextmanager
def open_connection(
    connection: str | None, schema: str | None, local_connection: LocalConnection | None
) -> Iterator[Any]:
    """The named Snowflake connection, else the local warehouse a plugin lends."""
    if not connection:
        if local_connection is None:
            raise WarehouseUnavailable(
                "no --connection given, and no local stack installed to default to"
            )
        with local_connection(schema) as conn:
            yield conn
        return
    import snowflake.connector

    conn = snowflake.connector.connect(connection_name=connection)
    try:
        yield conn
    finally:
        conn.close()


def run_sql_command(
    query: str,
    connection: str | None,
    output: str = "table",
    schema: str | None = None,
    local_connection: LocalConnection | None = None,
) -> int:
    statements = split_statements(read_query(query))
    if not statements:
        print("error: no SQL statement to run (give SQL text, @FILE or -)", file=sys.stderr)
        return 2
    try:
        with open_connection(connection, schema, local_connection) as conn:
            cur = conn.cursor()
            try:
                return run_statements(cur, statements, output, sys.stdout)
            finally:
                cur.close()
    except WarehouseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {error_text(exc)}", file=sys.stderr)
        return 1
