"""The local Snowflake keeps its data across a restart, and `mempool sql` reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import snowflake.connector

from operations.sql_text import split_statements
from sandbox.paths import Workspace
from sandbox.services import free_port
from sandbox.warehouse import LocalWarehouse
from tests.conftest import start_fakesnow

pytestmark = pytest.mark.stack


def test_fakesnow_server_keeps_tables_across_a_restart(tmp_path: Path) -> None:
    ws = Workspace(tmp_path).ensure()
    port = free_port()
    service = start_fakesnow(ws, ws.warehouse, port)
    try:
        wh = LocalWarehouse("127.0.0.1", port)
        with snowflake.connector.connect(**wh.connect_kwargs()) as conn:
            cur = conn.cursor()
            cur.execute("CREATE SCHEMA IF NOT EXISTS RAW")
            cur.execute("CREATE TABLE RAW.KEEP (ID INT, NOTE VARCHAR)")
            cur.execute("INSERT INTO RAW.KEEP VALUES (1, 'survives'), (2, 'restarts')")
    finally:
        service.stop()
    port2 = free_port()
    service = start_fakesnow(ws, ws.warehouse, port2)
    try:
        with snowflake.connector.connect(
            **LocalWarehouse("127.0.0.1", port2).connect_kwargs()
        ) as c:
            cur = c.cursor()
            cur.execute("SELECT ID, NOTE FROM RAW.KEEP ORDER BY ID")
            assert cur.fetchall() == [(1, "survives"), (2, "restarts")]
    finally:
        service.stop()


def test_mempool_sql_prints_rows_from_the_running_stack(
    fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    ws = Workspace(tmp_path).ensure()
    ws.runtime_file.write_text(
        json.dumps({"fakesnow": {"host": fakesnow_server.host, "port": fakesnow_server.port}})
    )
    env = {**os.environ, "MEMPOOL_HOME": str(ws.root)}
    query = (
        "CREATE SCHEMA IF NOT EXISTS OPS; CREATE OR REPLACE TABLE OPS.HELLO (N INT, S VARCHAR);"
        "INSERT INTO OPS.HELLO VALUES (7, 'seven'), (8, 'eight');"
        "SELECT N, S FROM OPS.HELLO ORDER BY N"
    )
    out = subprocess.run(
        [sys.executable, "-m", "operations.cli", "sql", query, "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    last = out.stdout.strip().splitlines()[-1]
    assert json.loads(last) == [{"N": 7, "S": "seven"}, {"N": 8, "S": "eight"}]
    table = subprocess.run(
        [sys.executable, "-m", "operations.cli", "sql", "SELECT 1 AS ONE"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "| ONE |" in table.stdout and "(1 row)" in table.stdout


def test_mempool_sql_reads_the_warehouse_a_stopped_demo_left(tmp_path: Path) -> None:
    """It used to answer "no local stack found" once the demo had stopped."""
    ws = Workspace(tmp_path).ensure()
    port = free_port()
    service = start_fakesnow(ws, ws.warehouse, port)
    try:
        with snowflake.connector.connect(**LocalWarehouse("127.0.0.1", port).connect_kwargs()) as c:
            c.cursor().execute("CREATE SCHEMA IF NOT EXISTS GOLD")
            c.cursor().execute("CREATE TABLE GOLD.LEFT_BEHIND AS SELECT 42 AS ANSWER")
    finally:
        service.stop()
    # A demo killed without cleaning up leaves its runtime file, naming a dead process.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    ws.runtime_file.write_text(
        json.dumps({"pid": int(dead.stdout), "fakesnow": {"host": "127.0.0.1", "port": port}})
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "operations.cli",
            "sql",
            "SELECT ANSWER FROM GOLD.LEFT_BEHIND",
            "--format",
            "csv",
        ],
        env={**os.environ, "MEMPOOL_HOME": str(ws.root)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ANSWER", "42"]


def test_mempool_sql_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    env = {**os.environ, "MEMPOOL_HOME": str(tmp_path / "nothing")}
    out = subprocess.run(
        [sys.executable, "-m", "operations.cli", "sql", "SELECT 1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "mempool demo" in out.stderr


def test_statement_splitter_respects_quotes_comments_and_dollar_bodies() -> None:
    sql = """
    -- a comment; with a semicolon
    SELECT 'a;b' AS x;
    CREATE PROCEDURE p() RETURNS STRING LANGUAGE SQL AS $$ BEGIN RETURN 'x;y'; END $$;
    /* block; comment */ SELECT "we;ird" FROM t
    """
    parts = split_statements(sql)
    assert len(parts) == 3
    assert parts[0] == "SELECT 'a;b' AS x"
    assert "RETURN 'x;y'; END $$" in parts[1]
    assert parts[2] == 'SELECT "we;ird" FROM t'


@pytest.mark.parametrize(
    "query",
    ["SELECT * FROM read_text('{path}')", "SELECT * FROM read_csv('{path}', header = false)"],
    ids=["read_text", "read_csv"],
)
def test_the_served_warehouse_reads_no_file_outside_its_directory(
    fakesnow_server: LocalWarehouse, session_ws: Workspace, tmp_path: Path, query: str
) -> None:
    """fakesnow accepts any login, and DuckDB read any file this user could: a
    developer's credentials, for anyone on the machine who reaches the port."""
    secret = tmp_path / "credentials"
    secret.write_text("aws_secret_access_key = not-for-you\n")
    # fakesnow answers DuckDB's refusal with HTTP 500, which the connector retries until
    # its network timeout: a short one.
    kwargs = {**fakesnow_server.connect_kwargs("PUBLIC"), "network_timeout": 3}
    with snowflake.connector.connect(**kwargs) as conn:
        cur = conn.cursor()
        cur.execute("CREATE SCHEMA IF NOT EXISTS PUBLIC")
        with pytest.raises(snowflake.connector.errors.Error):
            cur.execute(query.format(path=secret))
    log = (session_ws.logs / f"fakesnow-{fakesnow_server.port}.log").read_text()
    assert f'Cannot access file "{secret}" - file system operations are disabled' in log


def test_a_repeated_statement_reads_its_sessions_schema_and_binds_each_time(
    fakesnow_server: LocalWarehouse,
) -> None:
    """The served warehouse translates a query or DML text once and runs the translation
    again (sandbox.fakesnow_server.reuse_translations): the same text must still read
    the schema its session is in, take each run's bind values, see rows written between
    runs, and fail as it did when what it reads is gone; a statement that acts while it
    is translated (SET) must act each time."""
    from tests.conftest import next_database

    warehouse = LocalWarehouse(fakesnow_server.host, fakesnow_server.port, next_database())
    with snowflake.connector.connect(
        **warehouse.connect_kwargs("PUBLIC"), paramstyle="qmark"
    ) as conn:
        cur = conn.cursor()
        for schema, rows in (("A", [1, 2]), ("B", [10, 20, 30])):
            cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cur.execute(f"CREATE OR REPLACE TABLE {schema}.T (N INT)")
            for n in rows:
                cur.execute(f"INSERT INTO {schema}.T (N) VALUES (?)", [n])
        count = "SELECT COUNT(*), SUM(N) FROM T WHERE N >= ?"
        answers = []
        for schema, floor in (("A", 0), ("B", 0), ("A", 2), ("B", 15)):
            cur.execute(f"USE SCHEMA {schema}")
            answers.append(cur.execute(count, [floor]).fetchone())
        assert answers == [(2, 3), (3, 60), (1, 2), (2, 50)]
        cur.execute("USE SCHEMA A")
        cur.execute("INSERT INTO T (N) VALUES (?)", [5])
        cur.execute(
            "MERGE INTO T USING (SELECT ? AS N) S ON T.N = S.N "
            "WHEN NOT MATCHED THEN INSERT (N) VALUES (S.N)",
            [7],
        )
        cur.execute(
            "MERGE INTO T USING (SELECT ? AS N) S ON T.N = S.N "
            "WHEN NOT MATCHED THEN INSERT (N) VALUES (S.N)",
            [7],
        )
        assert cur.execute(count, [0]).fetchone() == (4, 15)
        # A statement that acts while it is translated is translated each time.
        for value in (1, 2, 1):
            cur.execute(f"SET LIMIT_N = {value}")
            assert cur.execute("SELECT $LIMIT_N").fetchone() == (value,)
        cur.execute("DROP TABLE A.T")
        with pytest.raises(snowflake.connector.errors.ProgrammingError):
            cur.execute(count, [0])
