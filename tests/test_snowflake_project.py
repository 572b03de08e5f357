"""The `snow` CLI project definition and the SQL files that production deploys."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.snowflake_local import (
    SQL_DIR,
    default_values,
    procedure_handlers,
    render,
)
from sandbox.warehouse import split_statements

REPO = Path(__file__).resolve().parent.parent


def snow_bin() -> str | None:
    return os.environ.get("SNOW_BIN") or shutil.which("snow")


@pytest.mark.skipif(snow_bin() is None, reason="the Snowflake CLI is installed by `make test`")
def test_snow_ws_dump_validates_the_project_offline(tmp_path: Path) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "SNOWFLAKE_HOME": str(tmp_path / ".snowflake")}
    out = subprocess.run(
        [str(snow_bin()), "ws", "dump"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rendered = yaml.safe_load(out.stdout)
    entities = rendered["entities"]
    procedures = {k: v for k, v in entities.items() if v["type"] == "procedure"}
    assert set(procedures) == {
        "load_events",
        "build_stats",
        "build_blocks",
        "build_prices",
        "build_projected",
    }
    for proc in procedures.values():
        assert proc["runtime"] == "3.11"
        assert proc["identifier"]["database"] == "MEMPOOL"
        assert proc["handler"].startswith("mempool_procs.") and proc["handler"].endswith(".run")
    assert any(v["type"] == "streamlit" for v in entities.values())


def test_every_declared_handler_exists_and_takes_a_session() -> None:
    import importlib
    import inspect

    handlers = procedure_handlers()
    assert len(handlers) == 5
    for name, path in handlers.items():
        module, func = path.rsplit(".", 1)
        fn = getattr(importlib.import_module(module), func)
        params = list(inspect.signature(fn).parameters)
        assert params[0] == "session", name


def test_sql_files_render_with_no_account_bucket_or_role_hard_coded() -> None:
    values = {
        **default_values("MEMPOOL_X", "bucket-x"),
        "warehouse": "WH_X",
        "storage_role_arn": "arn:aws:iam::111122223333:role/x",
        "error_integration": "E_X",
    }
    for path in sorted(SQL_DIR.glob("*.sql")):
        statements = split_statements(path.read_text())  # comments (examples) dropped
        assert not any("mempool-landing" in s or "arn:aws" in s for s in statements), path.name
        rendered = render(";\n".join(statements), values)
        assert "<%" not in rendered
        for statement in split_statements(rendered):
            head = statement.split("(")[0]
            if " IF NOT EXISTS " in head or "OR REPLACE" in head or not head.startswith("CREATE"):
                continue
            pytest.fail(f"{path.name}: not idempotent: {statement[:80]}")


def test_every_task_calls_a_declared_procedure_or_dbt() -> None:
    text = render((SQL_DIR / "60_tasks.sql").read_text(), default_values("MEMPOOL", "b"))
    handlers = procedure_handlers()
    calls = [s.split("CALL", 1)[1].strip() for s in split_statements(text) if " CALL " in s]
    assert calls
    for call in calls:
        assert call.removeprefix("MEMPOOL.").removesuffix("()").upper() in handlers
    assert "EXECUTE DBT PROJECT" in text
    assert "SUSPEND_TASK_AFTER_NUM_FAILURES" in text and "ERROR_INTEGRATION" in text
