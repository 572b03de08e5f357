"""The local Snowflake: fakesnow's HTTP server over DuckDB files that survive a restart.

`fakesnow -s` keeps everything in memory and ignores `-d`; pointing the server's shared
instance at a directory makes every database a DuckDB file there.

fakesnow accepts any login and hands SQL to DuckDB, which would read (`read_text`,
`read_csv`, ATTACH), write (COPY TO) and list (`glob`) any file this user can: anyone
on the machine who reaches the port could read the developer's credentials. DuckDB's
external access is therefore off, with the database directory the only one it may
open; it cannot be turned back on from SQL. The local stack is single-user all the
same: whoever reaches the port can read and change the warehouse itself.
Run as `python -m sandbox.fakesnow_server --db-dir DIR --port PORT`.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import threading
from pathlib import Path
from typing import Any

# Translations kept at most (the procedures, dbt and the dashboard send a few hundred
# distinct texts; dbt's incremental filters carry literal times, so they add more).
TRANSLATIONS_KEPT = 4096


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    args.db_dir.mkdir(parents=True, exist_ok=True)

    import uvicorn

    # `fakesnow.server` is also the name of a function in the package: import the module.
    server: Any = importlib.import_module("fakesnow.server")
    instance: Any = importlib.import_module("fakesnow.instance")
    match_snowflake_results()
    reuse_translations()
    server.shared_fs = instance.FakeSnow(db_path=str(args.db_dir))
    lock_down(server.shared_fs.duck_conn, args.db_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    uvicorn.run(server.app, host=args.host, port=args.port, log_level="warning")


def lock_down(duck: Any, db_dir: Path) -> None:
    """No file outside `db_dir` for DuckDB, for good: once external access is off,
    neither it nor the allowed directories can change while the database runs."""
    allowed = str(db_dir.resolve()) + "/"
    duck.execute("SET allowed_directories = [$dir]", {"dir": allowed})
    duck.execute("SET enable_external_access = false")


def match_snowflake_results() -> None:
    """Three places fakesnow's answers differ from Snowflake's, which every client of the
    local warehouse (procedures, dbt, the dashboard, `mempool sql`) would otherwise see:
    a NULL timestamp arrived as 1970-01-01 (the struct Snowflake's wire format uses for
    timestamps was built without the null mask); SUM over NUMBER came back as FLOAT (its
    argument cast to DOUBLE, for the VARCHAR arguments Snowflake casts implicitly, which
    nothing here sums); an unaliased aggregate was named by DuckDB (`count_star()`)."""
    pa: Any = importlib.import_module("pyarrow")
    import sqlglot.expressions as exp

    arrow: Any = importlib.import_module("fakesnow.arrow")
    transforms: Any = importlib.import_module("fakesnow.transforms")
    to_struct = arrow.timestamp_to_sf_struct
    implicit_cast = transforms.numeric_agg_implicit_cast

    def timestamp_struct_keeping_nulls(ts: Any) -> Any:
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        struct = to_struct(ts)
        if not ts.null_count:
            return struct
        return pa.StructArray.from_arrays(
            [struct.field(i) for i in range(struct.type.num_fields)],
            fields=list(struct.type),
            mask=ts.is_null(),
        )

    def aggregates_as_snowflake(expression: Any) -> Any:
        if not isinstance(expression, exp.Sum):
            expression = implicit_cast(expression)
        if isinstance(expression, exp.AggFunc) and isinstance(expression.parent, exp.Select):
            # Snowflake names an unaliased aggregate by its text, upper-cased.
            name = expression.sql(dialect="snowflake").upper()
            return exp.alias_(expression, name, quoted=True)
        return expression

    arrow.timestamp_to_sf_struct = timestamp_struct_keeping_nulls
    transforms.numeric_agg_implicit_cast = aggregates_as_snowflake


def reuse_translations() -> None:
    """fakesnow parses and translates every statement it is sent to DuckDB's SQL, most of
    its time per statement (py-spy on the demo: parsing 15 %, translating 45 %, DuckDB
    37 %), while the procedures, dbt and the dashboard send the same texts again and again
    with other bind values. A statement sent as a query or DML (by its parse, before
    translation: SET, PUT, LIST, CREATE STAGE and the like translate to a query too, and
    act while translating), whose translation is queries and DML alone (a MERGE's also
    makes a temporary table from a query: no catalog lookup) and that has no IDENTIFIER(?),
    is translated once per text (session variables inlined), database and schema, and
    the translation run again after; anything else, and any statement whose first run
    failed, goes through fakesnow each time as before."""
    import snowflake.connector
    import sqlglot.expressions as exp

    cursor_module: Any = importlib.import_module("fakesnow.cursor")
    cursor_class = cursor_module.FakeSnowflakeCursor
    translate_and_run, run, parse = (
        cursor_class.execute,
        cursor_class._execute,
        cursor_module.parse_one,
    )
    reusable = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Merge)
    translations: dict[tuple[Any, ...], list[Any]] = {}
    recorder = threading.local()

    def reusable_translation(sent: type | None, ran: list[Any]) -> bool:
        if sent is None or not issubclass(sent, reusable) or not ran:
            return False
        return all(
            isinstance(statement, reusable)
            # fakesnow splits a MERGE around a temporary table made from a query: with no
            # column list, nothing about it is looked up in the catalog.
            or (
                sent is exp.Merge
                and isinstance(statement, exp.Create)
                and not isinstance(statement.this, exp.Schema)
            )
            for statement in ran
        )

    def parse_recording(command: str) -> Any:
        expression = parse(command)
        if getattr(recorder, "ran", None) is not None:
            recorder.sent = type(expression)
        return expression

    def run_recording(self: Any, transformed: Any, params: Any = None) -> None:
        ran = getattr(recorder, "ran", None)
        if ran is not None:
            ran.append(transformed)
        run(self, transformed, params)

    def translate_recording(self: Any, command: str, *args: Any, **kwargs: Any) -> Any:
        """fakesnow's own execute; what it parsed and what it ran, when it succeeds."""
        recorder.ran, recorder.sent = [], None
        try:
            translate_and_run(self, command, *args, **kwargs)
            return recorder.sent, recorder.ran
        finally:
            recorder.ran = recorder.sent = None

    def execute(self: Any, command: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
        conn = self._conn
        if not kwargs.get("server") or conn.nop_regexes or "IDENTIFIER" in command.upper():
            return translate_and_run(self, command, params, *args, **kwargs)
        self._sqlstate = None
        try:
            key = (
                conn.variables.inline_variables(command),
                conn.database,
                conn.schema,
                conn.database_set,
                conn.schema_set,
            )
            translated = translations.get(key)
            if translated is None:
                sent, ran = translate_recording(self, command, params, *args, **kwargs)
                if reusable_translation(sent, ran):
                    if len(translations) >= TRANSLATIONS_KEPT:
                        translations.clear()
                    translations[key] = ran
                return self
            bound = kwargs.get("binding_params") or params
            if bound is not None and not isinstance(bound, (list, dict)):
                bound = list(bound)
            for statement in translated:
                # As fakesnow does: a part of a split statement without placeholders
                # takes no parameters.
                run(self, statement, bound if statement.find(exp.Placeholder) else None)
        except snowflake.connector.errors.ProgrammingError as error:
            self._sqlstate = error.sqlstate
            raise
        return self

    cursor_module.parse_one = parse_recording
    cursor_class._execute = run_recording
    cursor_class.execute = execute


if __name__ == "__main__":
    main()
