"""The dbt project as production runs it: at the dbt version the deploy pins, with the
prod target the deploy stages, compiled (not only the local target)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from operations.artifacts import snow_binary
from operations.deploy import DBT_VERSION, DeployConfig, build_plan, command, dbt_profiles
from sandbox.dbt_local import DBT_DIR
from sandbox.snowflake_local.runtime import LocalSnowflake

REPO = Path(__file__).resolve().parent.parent


def test_the_installed_dbt_is_the_version_the_deploy_pins() -> None:
    """dbt Projects on Snowflake run the pinned version (1.9.4 fails to parse this
    project's `arguments:` test syntax); local runs must use the same one."""
    assert version("dbt-core") == DBT_VERSION
    dev = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert f"dbt-core=={DBT_VERSION}" in dev["dev"]
    config = DeployConfig()
    dbt_step = command(build_plan(config).step("dbt"), config, "c", "p")
    assert dbt_step[dbt_step.index("--dbt-version") + 1] == DBT_VERSION


def validate_with_snow_cli(profiles_dir: Path, default_target: str | None) -> None:
    """The Snowflake CLI's own profiles check (`snow dbt deploy` runs it first). Whether
    the role exists is the one part that needs an account, so it is taken as true."""
    snow_python = Path(snow_binary()).with_name("python")
    probe = (
        "import sys\n"
        "from snowflake.cli._plugins.dbt.manager import DBTManager\n"
        "from snowflake.cli.api.secure_path import SecurePath\n"
        "m = DBTManager.__new__(DBTManager)\n"
        "m._validate_role = lambda role_name: True\n"
        f"m._validate_profiles(SecurePath({str(profiles_dir)!r}), 'mempool', {default_target!r})\n"
        "print('valid')\n"
    )
    result = subprocess.run(
        [str(snow_python), "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr


def test_the_repository_profiles_pass_the_cli_check_offline() -> None:
    validate_with_snow_cli(DBT_DIR, None)


def test_the_staged_profiles_name_the_deploys_database_warehouse_and_role() -> None:
    config = DeployConfig(database="acme_btc", warehouse="acme_xs")
    with dbt_profiles(config) as staged:
        validate_with_snow_cli(staged, "prod")
        prod = yaml.safe_load((staged / "profiles.yml").read_text())["mempool"]["outputs"]["prod"]
    assert (prod["database"], prod["warehouse"], prod["role"]) == (
        "ACME_BTC",
        "ACME_XS",
        "ACME_BTC_TRANSFORM",
    )


@pytest.mark.stack
@pytest.mark.dbt
def test_the_prod_target_compiles(rt: LocalSnowflake, tmp_path: Path) -> None:
    """`dbt compile --target prod` with the staged profiles, pointed at the local engine
    only for its connection: prod's macros (merge, temporary tables) are the ones used."""
    config = DeployConfig(database=rt.warehouse.database)
    with dbt_profiles(config) as staged:
        profiles = yaml.safe_load((staged / "profiles.yml").read_text())
    prod = profiles["mempool"]["outputs"]["prod"]
    prod.pop("private_key_path", None)
    prod.update(
        {
            "host": rt.warehouse.host,
            "port": rt.warehouse.port,
            "protocol": "http",
            "account": "local",
            "user": "local",
            "password": "local",
            "warehouse": "LOCAL_WH",
            "threads": 1,
        }
    )
    (tmp_path / "profiles.yml").write_text(yaml.safe_dump(profiles))
    env = {
        **os.environ,
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("dbt")),
            "compile",
            "--target",
            "prod",
            "--project-dir",
            str(DBT_DIR),
            "--profiles-dir",
            str(tmp_path),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    compiled = tmp_path / "target" / "compiled" / "mempool" / "models"
    staging = (compiled / "staging" / "stg_silver__blocks.sql").read_text()
    assert f"{rt.warehouse.database}.SILVER" in staging.upper()
    # Every satoshi-to-BTC division keeps the satoshi on Snowflake (see below).
    for model in [*(compiled / "marts").glob("*.sql"), *(compiled / "live").glob("*.sql")]:
        for cast, scale in re.findall(
            r"(as\s+number\(\d+,\s*(\d+)\)\))?\s*/\s*100000000\b", model.read_text(), re.I
        ):
            assert division_scale(int(scale or 0)) >= 8, f"{model.name}: {cast} / 100000000"


def division_scale(dividend_scale: int) -> int:
    """The scale Snowflake gives a quotient: max(s1, min(s1 + 6, 12)) for a dividend of
    scale s1, whatever the divisor. DuckDB keeps more, so local runs cannot show it.
    https://docs.snowflake.com/en/sql-reference/operators-arithmetic (division)"""
    return max(dividend_scale, min(dividend_scale + 6, 12))


def test_an_integer_divided_by_1e8_keeps_six_decimals_on_snowflake() -> None:
    """Why BTC columns go through the sat_to_btc macro: 123456789 sat / 1e8 is 1.234568."""
    assert division_scale(0) == 6
    assert division_scale(8) == 12
