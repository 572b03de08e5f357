"""The way back: `mempool deploy --teardown` drops everything the deploy made, is never
part of a deploy, renders in a dry run without connecting, refuses a real run that does
not name its database, and runs on the local stack (the role checks are in
tests/test_deploy_access.py)."""

from __future__ import annotations

import re
import time

import pytest

from operations.deploy import (
    SQL_DIR,
    TEARDOWN_DIR,
    DeployConfig,
    DeployError,
    build_plan,
    build_teardown_plan,
    project_entities,
    rendered_statements,
    run_deploy,
)
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.access_model import norm
from tests.test_snowflake_project import OTHER

CONFIG = OTHER  # the example account the deploy checks use

CREATE = re.compile(
    r"^CREATE (?:OR REPLACE )?(?:TEMPORARY )?(ROLE|USER|WAREHOUSE|DATABASE|SCHEMA|"
    r"STORAGE INTEGRATION|NOTIFICATION INTEGRATION|FILE FORMAT|STAGE|TABLE|VIEW|PIPE|"
    r"STREAM|TASK|PROCEDURE|DBT PROJECT|STREAMLIT|ALERT) (?:IF NOT EXISTS )?([\w.$]+)"
)
DROP = re.compile(r"^DROP (\w+(?: \w+)?) (?:IF EXISTS )?([\w.$]+)$")
# Outside any database (they outlive DROP DATABASE), or billing on their own (the app's
# warehouse time, dbt builds, serverless tasks, Snowpipe): each is dropped by name.
BY_NAME = {"ROLE", "USER", "WAREHOUSE", "DATABASE", "INTEGRATION"} | {
    "TASK",
    "PIPE",
    "STREAMLIT",
    "DBT PROJECT",
    "ALERT",
}


def deploy_creates(config: DeployConfig) -> set[tuple[str, str]]:
    """Every object the deploy makes: its SQL files' CREATE statements, and what the
    Snowflake CLI steps make from snowflake.yml (procedures, the app) and the dbt step."""
    made = set()
    for step in build_plan(config).sql_steps():
        for statement in rendered_statements(step, config):
            s = norm(statement)
            if not s.startswith("CREATE "):
                continue
            m = CREATE.match(s)
            assert m, f"{step.sql_file}: a CREATE of a kind the teardown does not know: {s[:80]}"
            kind = "INTEGRATION" if m[1].endswith("INTEGRATION") else m[1]
            made.add((kind, m[2]))
    for entity in project_entities(config).values():
        ident = entity["identifier"]
        name = f"{ident['database']}.{ident['schema']}.{ident['name']}".upper()
        made.add((entity["type"].upper(), name))
    made.add(("DBT PROJECT", f"{config.database}.GOLD.{config.dbt_project}"))
    return made


def teardown_drops(config: DeployConfig) -> list[tuple[str, str]]:
    dropped = []
    for step in build_teardown_plan(config).sql_steps():
        for statement in rendered_statements(step, config):
            s = norm(statement)
            if m := DROP.match(s):
                dropped.append((m[1], m[2]))
    return dropped


def test_every_object_the_deploy_creates_the_teardown_drops() -> None:
    """A new CREATE with no DROP fails here: account objects and whatever bills on its
    own by name, everything else by the database it lies in."""
    dropped = set(teardown_drops(CONFIG))
    databases = {name for kind, name in dropped if kind == "DATABASE"}
    left = []
    for kind, name in sorted(deploy_creates(CONFIG)):
        if (kind, name) in dropped:
            continue
        if kind not in BY_NAME and name.split(".")[0] in databases:
            continue
        left.append(f"{kind} {name}")
    assert left == []


def test_the_teardown_drops_what_bills_before_the_database_and_roles_last() -> None:
    order = [kind for kind, _ in teardown_drops(CONFIG)]
    database = order.index("DATABASE")
    assert all(order.index(k) < database for k in ("STREAMLIT", "DBT PROJECT", "TASK", "PIPE"))
    assert max(i for i, k in enumerate(order) if k != "ROLE") < order.index("ROLE")
    plan = build_teardown_plan(CONFIG)
    assert plan.names()[0] == "suspend" and plan.step("suspend").sql_file == "12_suspend.sql"
    # Each step as the role that owns what it drops.
    assert plan.step("drop-app").role == CONFIG.transform_role
    assert plan.step("drop-pipes").role == CONFIG.ingest_role
    assert [plan.step(n).role for n in ("drop-database", "drop-integrations", "drop-roles")] == [
        "SYSADMIN",
        "ACCOUNTADMIN",
        "SECURITYADMIN",
    ]


def test_a_deploy_contains_none_of_the_teardown() -> None:
    teardown_files = {s.sql_file for s in build_teardown_plan(CONFIG).sql_steps()}
    on_disk = {f"{TEARDOWN_DIR}/{p.name}" for p in (SQL_DIR / TEARDOWN_DIR).glob("*.sql")}
    assert on_disk and on_disk <= teardown_files
    deploy = build_plan(CONFIG)
    assert not {s.sql_file for s in deploy.sql_steps()} & on_disk
    drops = [
        norm(s)
        for step in deploy.sql_steps()
        for s in rendered_statements(step, CONFIG)
        if norm(s).startswith("DROP ")
    ]
    # The only DROPs a deploy sends: the tasks older releases made and this one does not
    # (the silver graph's five before REFRESH_SILVER, the gold task once in OPS).
    older = ["BUILD_STATS", "BUILD_BLOCKS", "BUILD_PRICES", "BUILD_PROJECTED", "LOAD_EVENTS"]
    assert drops == [
        *(f"DROP TASK IF EXISTS {CONFIG.database}.OPS.{task}" for task in older),
        f"DROP TASK IF EXISTS {CONFIG.database}.OPS.REFRESH_GOLD",
    ]


def test_teardown_dry_run_renders_every_statement_and_connects_to_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from operations.cli import main

    argv = ["deploy", "--teardown", "--dry-run", "--connection", "prod"]
    code = main([*argv, "--database", "acme_btc", "--warehouse", "acme_xs"])
    out = capsys.readouterr().out
    assert code == 0
    plan = build_teardown_plan(CONFIG)
    assert [h for h in re.findall(r"^# \d+/\d+ ([\w-]+):", out, re.M)] == plan.names()
    for step in plan.sql_steps():
        statements = rendered_statements(step, CONFIG)
        assert statements
        for statement in statements:
            assert statement.rstrip() + ";" in out
    assert "<%" not in out and "not given" not in out


def test_a_real_teardown_must_name_its_database() -> None:
    ran: list[list[str]] = []

    def runner(argv: list[str]) -> int:
        ran.append(argv)
        return 0

    for confirm in ("", "MEMPOOL"):
        with pytest.raises(DeployError, match="--confirm ACME_BTC"):
            run_deploy(CONFIG, "prod", teardown=True, confirm=confirm, runner=runner)
    assert ran == []
    lines: list[str] = []
    code = run_deploy(
        CONFIG, "prod", teardown=True, confirm="acme_btc", runner=runner, out=lines.append
    )
    assert code == 0
    assert [a[3] for a in ran] == [
        f"snowflake/sql/{s.sql_file}" for s in build_teardown_plan(CONFIG).steps
    ]
    assert lines[-1].startswith("tore down 6 step(s) of ACME_BTC")


def test_the_teardown_runs_on_the_local_stack(rt: LocalSnowflake) -> None:
    """The local runtime applies the teardown's SQL to a freshly deployed database: the
    database and every table in it are gone, and no pipe, stream or task is left."""
    db = rt.database
    assert rt.plan.pipes and rt.plan.tasks and rt.plan.streams
    assert rt.execute(f"SELECT COUNT(*) FROM {db}.RAW.STREAM_EVENTS") == [(0,)]
    started = time.monotonic()
    plan = rt.teardown()
    assert time.monotonic() - started < 20
    assert plan.pipes == [] and plan.tasks == [] and plan.streams == {}
    assert plan.alerts == []
    with pytest.raises(Exception, match=r"(?i)does not exist"):
        rt.execute(f"SELECT COUNT(*) FROM {db}.RAW.STREAM_EVENTS")
    schemas = rt.execute(f"SELECT SCHEMA_NAME FROM {db}.INFORMATION_SCHEMA.SCHEMATA")
    assert schemas == [("INFORMATION_SCHEMA",)]
    passed_over = {reason for reason, _ in plan.skipped}
    assert passed_over <= {
        "database (its schemas are dropped)",
        "task (emulated)",
        "pipe (emulated)",
        "alert (emulated)",
        "app and dbt (not local objects)",
        "account object",
    }
