"""`mempool sql`: run statements on the warehouse and print what they return."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any, TextIO

from sandbox.warehouse import StackNotRunning, connect, run_sql


def read_query(query: str) -> str:
    if query == "-":
        return sys.stdin.read()
    if query.startswith("@"):
        return Path(query[1:]).read_text()
    return query


def format_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    cells = [[("NULL" if v is None else str(v)) for v in row] for row in rows]
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


def write_results(
    results: list[tuple[list[str], list[tuple[Any, ...]]]], output: str, stream: TextIO
) -> None:
    for columns, rows in results:
        if output == "json":
            stream.write(
                json.dumps([dict(zip(columns, r, strict=True)) for r in rows], default=str)
            )
            stream.write("\n")
        elif output == "csv":
            writer = csv.writer(stream)
            writer.writerow(columns)
            writer.writerows(rows)
        elif columns:
            stream.write(format_table(columns, rows) + "\n")


def run_sql_command(query: str, connection: str | None, output: str = "table") -> int:
    sql = read_query(query)
    try:
        with connect(connection) as conn:
            results = run_sql(conn, sql)
    except StackNotRunning as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    write_results(results, output, sys.stdout)
    return 0
