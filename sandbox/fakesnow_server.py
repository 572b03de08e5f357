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
import logging
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db-dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    args.db_dir.mkdir(parents=True, exist_ok=True)

    import importlib

    import uvicorn

    # `fakesnow.server` is also the name of a function in the package: import the module.
    server: Any = importlib.import_module("fakesnow.server")
    instance: Any = importlib.import_module("fakesnow.instance")
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


if __name__ == "__main__":
    main()
