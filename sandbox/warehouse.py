"""Connections to the warehouse: the local fakesnow server by default, or a named
Snowflake connection from the standard connections file (~/.snowflake/connections.toml)
or SNOWFLAKE_* environment variables. Credentials are never stored by this project.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operations.sqlcmd import WarehouseUnavailable
from sandbox.paths import Workspace
from sandbox.services import Service, free_port, port_open, python_module

DATABASE = os.environ.get("MEMPOOL_DATABASE", "MEMPOOL")
# The emulator accepts any login; these placeholders identify the local stack only.
LOCAL_LOGIN = {"account": "local", "user": "local", "password": "local"}
# fakesnow answers an internal error with HTTP 500, which the connector otherwise
# retries for minutes: fail fast locally.
LOCAL_TIMEOUTS = {"login_timeout": 20, "network_timeout": 120, "socket_timeout": 120}


@dataclass(frozen=True, slots=True)
class LocalWarehouse:
    host: str
    port: int
    database: str = DATABASE

    def connect_kwargs(self, schema: str | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "database": self.database,
            **LOCAL_LOGIN,
            **LOCAL_TIMEOUTS,
        }
        if schema:
            kwargs["schema"] = schema
        return kwargs

    def answers(self, timeout_s: int = 5) -> bool:
        """Whether the server logs in and queries this database: an open port is not
        enough (a server that cannot lock the database files still listens)."""
        import snowflake.connector

        kwargs = {
            **self.connect_kwargs(),
            "login_timeout": timeout_s,
            "network_timeout": timeout_s,
            "socket_timeout": timeout_s,
        }
        try:
            conn = snowflake.connector.connect(**kwargs)
        except Exception:
            return False
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1")
            return cur.fetchall() == [(1,)]
        except Exception:
            return False
        finally:
            conn.close()

    def streamlit_secrets_toml(self) -> str:
        """Streamlit's connection settings (`st.connection("snowflake")`) for this warehouse."""
        return (
            "[connections.snowflake]\n"
            f'host = "{self.host}"\nport = {self.port}\nprotocol = "http"\n'
            'account = "local"\nuser = "local"\npassword = "local"\n'
            f'database = "{self.database}"\nschema = "GOLD"\nwarehouse = "LOCAL_WH"\n'
            "login_timeout = 20\nnetwork_timeout = 60\n"
        )

    def connections_toml(self) -> str:
        """A connections file for `snow`, Streamlit and dbt users pointing at the local stack."""
        return (
            "[local]\n"
            f'host = "{self.host}"\nport = {self.port}\nprotocol = "http"\n'
            f'account = "local"\nuser = "local"\npassword = "local"\n'
            f'database = "{self.database}"\nwarehouse = "LOCAL_WH"\n'
        )


class StackNotRunning(WarehouseUnavailable):
    pass


def local_from_workspace(ws: Workspace) -> LocalWarehouse | None:
    """The running demo's warehouse, or None when no demo is running in `ws` (raises
    StackNotRunning while one is starting)."""
    try:
        info = json.loads(ws.runtime_file.read_text())
    except FileNotFoundError:
        return None
    try:
        os.kill(int(info.get("pid", os.getpid())), 0)
    except ProcessLookupError:
        return None  # a demo that died without cleaning up
    except PermissionError:
        pass
    if "fakesnow" not in info:
        # Not a stopped demo either: its files are about to be opened by the demo.
        raise StackNotRunning(
            f"a demo is starting in {ws.root} and its warehouse is not up yet: try again "
            "in a moment"
        )
    return LocalWarehouse(host=info["fakesnow"]["host"], port=int(info["fakesnow"]["port"]))


def fakesnow_service(db_dir: Path, port: int, log_path: Path) -> Service:
    """fakesnow's server over the database files in `db_dir`; healthy once it logs in and
    queries (a server that cannot lock the files still opens its port)."""
    local = LocalWarehouse(host="127.0.0.1", port=port)
    return Service(
        name="fakesnow",
        argv=python_module("sandbox.fakesnow_server", "--db-dir", str(db_dir), "--port", str(port)),
        log_path=log_path,
        healthy=lambda: port_open(local.host, port) and local.answers(),
    )


@contextmanager
def stopped_warehouse(ws: Workspace) -> Iterator[LocalWarehouse]:
    """The warehouse a stopped demo left on disk, served for as long as it is needed."""
    if not any(ws.warehouse.glob("*.db")):
        raise StackNotRunning(
            f"no local warehouse in {ws.warehouse}: start the stack with `mempool demo`, "
            "run this from the directory you ran the demo in (or set MEMPOOL_HOME to its "
            ".mempool folder), or pass --connection NAME for a Snowflake account"
        )
    port = free_port()
    service = fakesnow_service(ws.warehouse, port, ws.logs / "fakesnow-sql.log")
    service.start()
    try:
        yield LocalWarehouse(host="127.0.0.1", port=port)
    finally:
        service.stop()


@contextmanager
def connect(
    connection: str | None = None, ws: Workspace | None = None, schema: str | None = None
) -> Iterator[Any]:
    """A DB-API connection: `connection` names a Snowflake connection, else the running
    local stack, else the warehouse a stopped demo left on disk."""
    import snowflake.connector

    if connection:
        conn = snowflake.connector.connect(connection_name=connection)
        try:
            yield conn
        finally:
            conn.close()
        return
    ws = ws or Workspace.default()
    running = local_from_workspace(ws)
    with contextlib.ExitStack() as stack:
        local = running or stack.enter_context(stopped_warehouse(ws))
        conn = snowflake.connector.connect(**local.connect_kwargs(schema))
        try:
            yield conn
        finally:
            conn.close()
