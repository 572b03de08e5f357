"""`mempool sql` as a person uses it: each result before a failing statement, errors that
say what is wrong and what to type instead, and results that read as Snowflake's (names,
NULLs and numeric types), not as the local engine's."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from operations.cli import main
from sandbox.paths import Workspace
from sandbox.services import free_port
from sandbox.warehouse import LocalWarehouse
from tests.conftest import start_fakesnow


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace whose demo is 'running': its warehouse holds SILVER.BLOCKS and a GOLD
    table, with a block whose time is unknown."""
    import snowflake.connector

    ws = Workspace(tmp_path_factory.mktemp("sqlcmd") / ".mempool").ensure()
    port = free_port()
    service = start_fakesnow(ws, ws.warehouse, port)
    local = LocalWarehouse("127.0.0.1", port)
    conn = snowflake.connector.connect(**local.connect_kwargs())
    try:
        for statement in (
            f"CREATE DATABASE IF NOT EXISTS {local.database}",
            f"CREATE SCHEMA {local.database}.SILVER",
            f"CREATE SCHEMA {local.database}.GOLD",
            f"CREATE TABLE {local.database}.SILVER.BLOCKS "
            "(HEIGHT NUMBER(38,0), FEE_SAT NUMBER(38,0), MINED_AT TIMESTAMP_NTZ)",
            f"INSERT INTO {local.database}.SILVER.BLOCKS VALUES "
            "(1, 3000000000000001, '2026-01-01 00:00:00'), (2, 2, NULL)",
            f"CREATE TABLE {local.database}.GOLD.FCT_BLOCKS (HEIGHT NUMBER(38,0))",
        ):
            conn.cursor().execute(statement)
    finally:
        conn.close()
    ws.runtime_file.write_text(
        json.dumps({"pid": os.getpid(), "fakesnow": {"host": "127.0.0.1", "port": port}})
    )
    try:
        yield ws.root
    finally:
        service.stop()


def sql(home: Path, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setenv("MEMPOOL_HOME", str(home))
    return main(["sql", *argv])


def test_each_result_is_printed_before_a_failing_statement(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = sql(
        home, monkeypatch, "SELECT 41 AS FIRST; SELECT * FROM SILVER.BLOKS; SELECT 43 AS THIRD"
    )
    out, err = capsys.readouterr()
    assert code == 1
    assert "FIRST" in out and "41" in out and "THIRD" not in out
    assert "error: " in err and "BLOKS" in err
    # The connector's framing (error code, SQL state and the local query id "None") is gone.
    assert "None:" not in err and "002003" not in err
    assert "hint: did you mean SILVER.BLOCKS?" in err


def test_a_table_without_its_schema_is_told_where_it_lives(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sql(home, monkeypatch, "SELECT COUNT(*) FROM blocks") == 1
    err = capsys.readouterr().err
    assert "hint: BLOCKS is SILVER.BLOCKS" in err and "--schema GOLD|SILVER" in err

    assert sql(home, monkeypatch, "--schema", "SILVER", "SELECT HEIGHT FROM blocks") == 0
    assert "(2 rows)" in capsys.readouterr().out


@pytest.mark.parametrize("query", ["", "   ", "-- only a comment", ";"])
def test_nothing_to_run_is_an_error(
    query: str, home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert sql(home, monkeypatch, query) == 2
    assert "no SQL statement" in capsys.readouterr().err


def test_results_are_named_and_typed_as_snowflake_returns_them(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """DuckDB names COUNT(*) `count_star()`, sums NUMBER as a DOUBLE (3000000000000003.0,
    and past 2**53 it is no longer exact) and fakesnow's wire format turned a NULL time
    into 1970-01-01."""
    query = (
        "SELECT COUNT(*), SUM(FEE_SAT), MAX(HEIGHT) FROM SILVER.BLOCKS;"
        "SELECT HEIGHT, MINED_AT FROM SILVER.BLOCKS ORDER BY HEIGHT"
    )
    assert sql(home, monkeypatch, "--format", "json", query) == 0
    totals, rows = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert totals == [{"COUNT(*)": 2, "SUM(FEE_SAT)": 3000000000000003, "MAX(HEIGHT)": 2}]
    assert rows == [
        {"HEIGHT": 1, "MINED_AT": "2026-01-01 00:00:00"},
        {"HEIGHT": 2, "MINED_AT": None},
    ]
