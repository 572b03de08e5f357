"""Run the production dbt project against the local warehouse (target `local`)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from sandbox.warehouse import LocalWarehouse

log = logging.getLogger("mempool.dbt")

REPO = Path(__file__).resolve().parent.parent
DBT_DIR = REPO / "snowflake" / "dbt"


def dbt_env(warehouse: LocalWarehouse, target_dir: Path | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "MEMPOOL_SF_HOST": warehouse.host,
        "MEMPOOL_SF_PORT": str(warehouse.port),
        "MEMPOOL_DATABASE": warehouse.database,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if target_dir is not None:
        env["DBT_TARGET_PATH"] = str(target_dir)
        env["DBT_LOG_PATH"] = str(target_dir / "logs")
    return env


# The longest one dbt command may take before it counts as failed.
DBT_TIMEOUT_S = 900.0


def run_dbt(
    warehouse: LocalWarehouse,
    *args: str,
    target_dir: Path | None = None,
    log_file: Path | None = None,
    timeout_s: float = DBT_TIMEOUT_S,
    target: str = "local",
    project_dir: Path = DBT_DIR,
) -> subprocess.CompletedProcess[str]:
    """`dbt <args>` with the project's own profiles.yml; output returned (and logged).
    `project_dir` is this tree's dbt project unless another release's is given."""
    dbt = Path(sys.executable).with_name("dbt")
    cmd = [str(dbt), *args, "--target", target, "--project-dir", str(project_dir)]
    cmd += ["--profiles-dir", str(project_dir)]
    result = subprocess.run(
        cmd,
        env=dbt_env(warehouse, target_dir),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if log_file is not None:
        with log_file.open("a") as fh:
            fh.write(f"$ {' '.join(args)}\n{result.stdout}\n{result.stderr}\n")
    return result
