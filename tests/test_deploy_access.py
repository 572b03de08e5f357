"""Every deploy step is allowed for the role that runs it, and every running part for
the role that owns it, on Snowflake's access-control rules (tests/access_model.py).

Length: one test per privilege path a reviewer found missing, each removing one grant
and naming the statement Snowflake would refuse.
"""

from __future__ import annotations

import importlib
import inspect
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from operations.deploy import (
    DeployConfig,
    Plan,
    Step,
    build_plan,
    build_teardown_plan,
    project_entities,
    render,
    rendered_statements,
)
from sandbox.snowflake_local.streams import consumed_streams
from tests.access_model import Account, Need, apply

REPO = Path(__file__).resolve().parent.parent
CONFIG = DeployConfig(
    database="ACME_MEMPOOL",
    warehouse="ACME_WH",
    bucket="acme-landing",
    storage_role_arn="arn:aws:iam::111122223333:role/acme-storage",
    error_topic_arn="arn:aws:sns:eu-west-1:111122223333:acme-errors",
    error_role_arn="arn:aws:iam::111122223333:role/acme-errors",
)


def cli_statements(step: Step, config: DeployConfig) -> list[str]:
    """What a Snowflake CLI step sends (its statements, as the CLI composes them)."""
    entities = project_entities(config)
    db = config.database
    if step.name == "procedures":
        procs = [e for e in entities.values() if e["type"] == "procedure"]
        stage = procs[0]["stage"]
        requirements = (REPO / "requirements.snowflake.txt").read_text().splitlines()
        packages = ", ".join(f"'{r}'" for r in requirements)
        out = [f"CREATE STAGE IF NOT EXISTS {stage}"]
        for e in procs:
            ident = e["identifier"]
            name = f"{ident['database']}.{ident['schema']}.{ident['name']}"
            out.append(
                f"CREATE OR REPLACE PROCEDURE {name}()"
                f" RETURNS STRING LANGUAGE PYTHON RUNTIME_VERSION = '3.11'"
                f" IMPORTS = ('@{stage}/procedures.zip') HANDLER = '{e['handler']}'"
                f" PACKAGES = ({packages})"
            )
        return out
    if step.name == "dbt":
        return [
            f"CREATE TEMPORARY STAGE {db}.GOLD.SNOWCLI_DBT_UPLOAD",
            f"CREATE DBT PROJECT {db}.GOLD.{config.dbt_project}"
            f" FROM @{db}.GOLD.SNOWCLI_DBT_UPLOAD DBT_VERSION = '{config.dbt_version}'",
        ]
    if step.name == "dashboard":
        app = entities["dashboard"]
        ident = app["identifier"]
        name = f"{ident['database']}.{ident['schema']}.{ident['name']}"
        return [
            f"CREATE STAGE IF NOT EXISTS {ident['database']}.{ident['schema']}.STREAMLIT",
            f"CREATE STREAMLIT {name} ROOT_LOCATION = '@{db}.GOLD.STREAMLIT/dashboard'"
            f" MAIN_FILE = 'streamlit_app.py' QUERY_WAREHOUSE = {app['query_warehouse']}",
        ]
    raise AssertionError(f"no statements known for CLI step {step.name}")


def replay(
    plan: Plan,
    sql_override: dict[str, str] | None = None,
    account: Account | None = None,
    skip_admin: bool = False,
    as_user: str = "",
) -> tuple[Account, list[str]]:
    """Every statement of the plan as its step's role (or, `as_user`, only if that user
    holds the role); what it lacks, as problems."""
    account = account or Account()
    problems = []
    for step in plan.steps:
        if step.builds or (skip_admin and step.is_admin):
            continue
        if as_user and step.role not in account.users.get(as_user, set()):
            problems.append(f"step {step.name}: user {as_user} does not hold {step.role}")
            continue
        if step.sql_file:
            if sql_override and step.sql_file in sql_override:
                from operations.sql_text import split_statements

                text = render(sql_override[step.sql_file], plan.config.values())
                statements = split_statements(text)
            else:
                statements = rendered_statements(step, plan.config)
        else:
            statements = cli_statements(step, plan.config)
        for statement in statements:
            for missing in apply(account, step.role, statement):
                problems.append(f"step {step.name} as {step.role}: needs {missing}")
    return account, problems


def test_every_deploy_statement_is_allowed_for_its_steps_role() -> None:
    _, problems = replay(build_plan(CONFIG))
    assert problems == []


def test_every_teardown_statement_is_allowed_for_its_steps_role() -> None:
    """`mempool deploy --teardown` over what the deploy made: each DROP as the role that
    owns the object, and afterwards nothing of the deploy is left in the account."""
    account, problems = replay(build_plan(CONFIG))
    assert problems == []
    account, problems = replay(build_teardown_plan(CONFIG), account=account)
    assert problems == []
    db = CONFIG.database
    left = [o for o in account.owners if o[1] == db or o[1].startswith(f"{db}.")]
    assert left == []
    assert not {CONFIG.ingest_role, CONFIG.transform_role, CONFIG.read_role} & account.roles
    assert not {CONFIG.deploy_user, CONFIG.gold_user} & set(account.users)
    assert ("WAREHOUSE", CONFIG.warehouse) not in account.owners
    assert not [o for o in account.owners if o[0] == "INTEGRATION"]


def test_a_teardown_step_as_a_role_that_does_not_own_its_objects_is_refused() -> None:
    """The check can fail: the pipes dropped as TRANSFORM (INGEST owns them), or the
    database as TRANSFORM (SYSADMIN owns it), are refused."""
    from dataclasses import replace

    for name in ("drop-pipes", "drop-database"):
        account, _ = replay(build_plan(CONFIG))
        plan = build_teardown_plan(CONFIG)
        plan.steps = [
            replace(s, role=CONFIG.transform_role) if s.name == name else s for s in plan.steps
        ]
        _, problems = replay(plan, account=account)
        assert problems and all(p.startswith(f"step {name} as ") for p in problems), problems
        assert "needs OWNERSHIP" in problems[0]


def test_a_missing_grant_is_found_and_named() -> None:
    """The check can fail: drop TRANSFORM's CREATE TASK and the tasks step is refused."""
    grants = (REPO / "snowflake" / "sql" / "02_grants.sql").read_text()
    assert "CREATE TASK" in grants
    _, problems = replay(build_plan(CONFIG), {"02_grants.sql": grants.replace(", CREATE TASK", "")})
    assert problems[0].startswith("step tasks as ACME_MEMPOOL_TRANSFORM: needs CREATE TASK")
    # What follows from tasks that were never created: nothing else is blamed.
    assert {p.split(" as ")[0] for p in problems} <= {"step tasks", "step resume"}


def runtime_needs(config: DeployConfig) -> dict[str, list[Need]]:
    """What each running part does, as the role whose rights it runs with."""
    db = config.database
    needs: dict[str, list[Need]] = {}
    entities = project_entities(config)
    transform = config.transform_role
    # Tasks run as their owner; a CALL needs USAGE on the procedure, which runs with its
    # owner's rights: it reads its streams (and their tables) and writes SILVER and OPS.
    for e in entities.values():
        if e["type"] != "procedure":
            continue
        module = importlib.import_module(e["handler"].rsplit(".", 1)[0])
        ident = e["identifier"]
        proc = f"{ident['database']}.{ident['schema']}.{ident['name']}"
        why = f"task calling {proc}"
        proc_needs = [Need("USAGE", ("PROCEDURE", proc), why)]
        for stream in consumed_streams(module):
            proc_needs.append(Need("SELECT", ("STREAM", f"{db}.{stream}"), why))
        source = "\n".join(
            inspect.getsource(importlib.import_module(m))
            for m in ("mempool_procs.common", module.__name__)
        )
        for verb, table in re.findall(
            r"\b(INSERT INTO|MERGE INTO|UPDATE|DELETE FROM)\s+((?:SILVER|OPS)\.[A-Z_]+)\b", source
        ):
            privilege = {"INSERT INTO": "INSERT", "MERGE INTO": "INSERT"}.get(verb, verb.split()[0])
            proc_needs.append(Need(privilege, ("TABLE", f"{db}.{table}"), why))
        needs[f"procedure {proc} (owner)"] = proc_needs
    # EXECUTE DBT PROJECT as the REFRESH_GOLD task's owner: dbt reads SILVER and builds
    # each model folder's relations in its schema (views in STAGING and OPS, tables in
    # GOLD, and Live's views in GOLD; incremental models are tables too).
    sources = yaml.safe_load(
        (REPO / "snowflake/dbt/models/staging/_silver__sources.yml").read_text()
    )
    dbt_needs = [Need("USAGE", ("DBT PROJECT", f"{db}.GOLD.{config.dbt_project}"), "gold")]
    dbt_needs += [Need("USAGE", ("WAREHOUSE", config.warehouse), "gold")]
    project = yaml.safe_load((REPO / "snowflake/dbt/dbt_project.yml").read_text())
    folders = project["models"]["mempool"].values()
    for schema, privilege in sorted(
        (f["+schema"].upper(), f"CREATE {f['+materialized'].upper()}") for f in folders
    ):
        dbt_needs += [
            Need("USAGE", ("SCHEMA", f"{db}.{schema}"), "dbt"),
            Need(privilege, ("SCHEMA", f"{db}.{schema}"), "dbt"),
        ]
    for source in sources["sources"]:
        for table in source["tables"]:
            name = table.get("identifier", table["name"]).upper()
            dbt_needs.append(Need("SELECT", ("TABLE", f"{db}.SILVER.{name}"), "dbt source"))
    needs[f"{transform} (gold)"] = dbt_needs
    return needs


def test_tasks_procedures_and_dbt_may_do_what_they_do_at_run_time() -> None:
    account, problems = replay(build_plan(CONFIG))
    assert problems == []
    refused = [
        f"{part}: {need}"
        for part, part_needs in runtime_needs(CONFIG).items()
        for need in part_needs
        if not account.allows(CONFIG.transform_role, need)
    ]
    assert refused == []


def test_read_sees_gold_ops_and_the_app_and_nothing_upstream() -> None:
    account, _ = replay(build_plan(CONFIG))
    db, read = CONFIG.database, CONFIG.read_role
    # A gold table dbt creates later picks up the future grant.
    account.create(CONFIG.transform_role, ("TABLE", f"{db}.GOLD.FCT_BLOCKS"))
    # So does a Live view (models/live/): owner's rights let it read SILVER for READ.
    account.create(CONFIG.transform_role, ("VIEW", f"{db}.GOLD.LIVE_MEMPOOL_MINUTELY"))
    app = project_entities(CONFIG)["dashboard"]["identifier"]
    allowed = [
        Need("USAGE", ("WAREHOUSE", CONFIG.warehouse), "dashboard"),
        Need("USAGE", ("DATABASE", db), "dashboard"),
        Need("USAGE", ("SCHEMA", f"{db}.GOLD"), "dashboard"),
        Need("SELECT", ("TABLE", f"{db}.GOLD.FCT_BLOCKS"), "analysts"),
        Need("SELECT", ("VIEW", f"{db}.GOLD.LIVE_MEMPOOL_MINUTELY"), "live"),
        Need("SELECT", ("VIEW", f"{db}.OPS.RECONCILIATION"), "health"),
        Need("SELECT", ("VIEW", f"{db}.OPS.TASK_RUNS"), "health"),
        Need("USAGE", ("STREAMLIT", f"{app['database']}.{app['schema']}.{app['name']}"), "app"),
    ]
    assert [str(n) for n in allowed if not account.allows(read, n)] == []
    refused = [
        Need("SELECT", ("TABLE", f"{db}.RAW.STREAM_EVENTS"), "upstream"),
        Need("SELECT", ("TABLE", f"{db}.SILVER.EVENTS"), "upstream"),
        Need("USAGE", ("SCHEMA", f"{db}.SILVER"), "upstream"),
        Need("CREATE TABLE", ("SCHEMA", f"{db}.GOLD"), "write"),
    ]
    assert [str(n) for n in refused if account.allows(read, n)] == []


def test_ingest_owns_raw_and_reaches_nothing_downstream() -> None:
    account, _ = replay(build_plan(CONFIG))
    db, ingest = CONFIG.database, CONFIG.ingest_role
    assert account.owners[("PIPE", f"{db}.RAW.STREAM_EVENTS_PIPE")] == ingest
    assert account.owners[("TABLE", f"{db}.RAW.STREAM_EVENTS")] == ingest
    for need in (
        Need("USAGE", ("SCHEMA", f"{db}.SILVER"), "downstream"),
        Need("SELECT", ("TABLE", f"{db}.SILVER.EVENTS"), "downstream"),
        Need("EXECUTE TASK", ("ACCOUNT", "ACCOUNT"), "tasks"),
    ):
        assert not account.allows(ingest, need), str(need)


@pytest.mark.parametrize("step_name", ["roles", "database", "grants", "integrations"])
def test_only_administrator_steps_run_as_system_roles(step_name: str) -> None:
    plan = build_plan(CONFIG)
    assert plan.step(step_name).is_admin
    later = plan.steps[plan.names().index("integrations") + 1 :]
    assert not any(s.is_admin for s in later)


def test_role_names_are_parameters_and_the_grants_follow_them() -> None:
    from dataclasses import replace

    custom = replace(CONFIG, ingest_role="LOADER", transform_role="ETL", read_role="ANALYSTS")
    account, problems = replay(build_plan(custom))
    assert problems == []
    assert account.owners[("TASK", f"{custom.database}.OPS.REFRESH_SILVER")] == "ETL"
    assert account.owners[("PIPE", f"{custom.database}.RAW.BLOCKS_PIPE")] == "LOADER"
    app = project_entities(custom)["dashboard"]["identifier"]
    name = f"{app['database']}.{app['schema']}.{app['name']}"
    assert account.allows("ANALYSTS", Need("USAGE", ("STREAMLIT", name), "app"))


def test_the_dashboard_owner_sees_the_history_of_every_task() -> None:
    """TASK_HISTORY returns the runs of tasks the caller's role owns (or holds MONITOR or
    OPERATE on); the app runs with its owner's rights, and OPS.TASK_RUNS is read there.
    https://docs.snowflake.com/en/sql-reference/functions/task_history (usage notes)
    https://docs.snowflake.com/en/developer-guide/streamlit/owners-rights"""
    account, _ = replay(build_plan(CONFIG))
    app = next(name for kind, name in account.owners if kind == "STREAMLIT")
    app_owner = account.owners[("STREAMLIT", app)]
    tasks = [name for kind, name in account.owners if kind == "TASK"]
    # The silver graph's one and its idle tick, the gold graph's run and tests, its tick.
    assert len(tasks) == 5
    assert {account.owners[("TASK", t)] for t in tasks} == {app_owner}
    assert account.owners[("VIEW", f"{CONFIG.database}.OPS.TASK_RUNS")] == app_owner


def test_the_pages_may_request_runs_and_nothing_upstream() -> None:
    """Live asks for a silver run at each refresh and History for a silver and a gold run
    (INSERTs into the tables REFRESH_SILVER's and REFRESH_GOLD's WHENs read): the app runs
    with its owner's rights, so its owner must own every table the app's statements write;
    a READ user, who only opens the app, may write nothing there itself. The tables are
    read from the app's own statements (mempool_dashboard/data.py).
    https://docs.snowflake.com/en/developer-guide/streamlit/owners-rights"""
    account, problems = replay(build_plan(CONFIG))
    assert problems == []
    app = next(name for kind, name in account.owners if kind == "STREAMLIT")
    data_py = (REPO / "streamlit_app" / "mempool_dashboard" / "data.py").read_text()
    written = sorted(set(re.findall(r"INSERT INTO (OPS\.\w+)", data_py)))
    assert written == ["OPS.GOLD_REQUESTS", "OPS.SILVER_REQUESTS"]
    for table in written:
        requests = f"{CONFIG.database}.{table}"
        assert account.owners[("TABLE", requests)] == account.owners[("STREAMLIT", app)]
        assert not account.allows(CONFIG.read_role, Need("INSERT", ("TABLE", requests), "t"))


def test_the_account_task_privileges_are_granted_as_accountadmin() -> None:
    """EXECUTE TASK and EXECUTE MANAGED TASK on the account: Snowflake's task security
    section grants them with ACCOUNTADMIN active, and no page says SECURITYADMIN (MANAGE
    GRANTS) may (tests/access_model.py). Nothing else in the deploy runs as ACCOUNTADMIN
    but the integrations.
    https://docs.snowflake.com/en/user-guide/tasks-intro (task security)"""
    plan = build_plan(CONFIG)
    granting = {
        step.name: step.role
        for step in plan.sql_steps()
        for statement in rendered_statements(step, CONFIG)
        if re.search(r"\bGRANT\b.*\bEXECUTE (MANAGED )?TASK\b.*\bON ACCOUNT\b", statement)
    }
    assert granting and set(granting.values()) == {"ACCOUNTADMIN"}, granting
    account, problems = replay(plan)
    assert problems == []
    for privilege in ("EXECUTE TASK", "EXECUTE MANAGED TASK"):
        assert account.allows(CONFIG.transform_role, Need(privilege, ("ACCOUNT", "ACCOUNT"), "t"))


def test_the_same_grant_as_securityadmin_is_refused() -> None:
    """The model can fail: the grants where they were (00_roles.sql, as SECURITYADMIN)."""
    roles = (REPO / "snowflake" / "sql" / "00_roles.sql").read_text()
    moved = roles + "\nGRANT EXECUTE TASK ON ACCOUNT TO ROLE <% transform_role %>;\n"
    _, problems = replay(build_plan(CONFIG), {"00_roles.sql": moved})
    assert any(
        p.startswith("step roles as SECURITYADMIN: needs the ACCOUNTADMIN role") for p in problems
    )


def test_the_ci_user_holds_the_role_of_every_step_it_runs() -> None:
    """CI runs `mempool deploy --skip-admin` as one service user (connection `deploy`);
    the roles step creates it and grants it INGEST and TRANSFORM, so that every later
    step's role is one it holds, and nothing more. The gold workflow signs in as another
    (test_the_gold_workflow_may_run_refresh_gold_and_nothing_else)."""
    plan = build_plan(CONFIG)
    account, problems = replay(plan)
    assert problems == []
    user = CONFIG.deploy_user
    held = account.users[user]
    needed = {s.role for s in plan.steps if not s.builds and not s.is_admin}
    assert needed <= held, needed - held
    assert held == {CONFIG.ingest_role, CONFIG.transform_role}
    # A redeploy by that user alone, over an account a previous release left (its gold
    # task in OPS), is allowed statement by statement.
    account.create(CONFIG.transform_role, ("TASK", f"{CONFIG.database}.OPS.REFRESH_GOLD"))
    _, problems = replay(plan, account=account, skip_admin=True, as_user=user)
    assert problems == []
    assert ("TASK", f"{CONFIG.database}.OPS.REFRESH_GOLD") not in account.owners


def gold_workflow_statement(config: DeployConfig) -> tuple[str, str]:
    """(role, statement) the gold workflow sends, its variables filled in for `config`."""
    gold = (REPO / ".github" / "workflows" / "gold.yml").read_text()
    (run,) = re.findall(r"snow sql (.*)", gold)
    role = re.search(r'--role "([^"]+)"', run)
    query = re.search(r'-q "([^"]+)"', run)
    assert role and query, run
    fill = {"${MEMPOOL_DATABASE}": config.database}
    role_name, statement = role[1], query[1]
    for var, value in fill.items():
        role_name, statement = role_name.replace(var, value), statement.replace(var, value)
    return role_name, statement


def test_the_gold_workflow_may_run_refresh_gold_and_nothing_else() -> None:
    """The gold workflow's key is not the deploy's: its own service user holds one role,
    which may run GOLD_TICK (a request for a gold run) and watch REFRESH_GOLD (EXECUTE TASK
    needs OPERATE on the task; the run uses the owner's EXECUTE TASK and serverless
    compute) and reaches no data, code or warehouse.
    The statement is the workflow's own, replayed as the role it names, after a deploy
    and after a second deploy replaced the task (the future grant reaches the new one).
    https://docs.snowflake.com/en/sql-reference/sql/execute-task"""
    plan = build_plan(CONFIG)
    account, problems = replay(plan)
    assert problems == []
    db, gold = CONFIG.database, CONFIG.gold_role
    assert (gold, CONFIG.gold_user) == ("ACME_MEMPOOL_GOLD_REFRESH", "ACME_MEMPOOL_GOLD")
    assert account.users[CONFIG.gold_user] == {gold}
    assert gold not in account.users[CONFIG.deploy_user]
    role, statement = gold_workflow_statement(CONFIG)
    assert (role, statement) == (gold, f"EXECUTE TASK {db}.GOLD.GOLD_TICK")
    assert apply(account, role, statement) == []
    # Every task in GOLD is what the future grant reaches: the tick the workflow runs (a
    # request), the run that serves it and the tests that follow (whose runs it may watch).
    assert sorted(n for k, n in account.owners if k == "TASK" and n.startswith(f"{db}.GOLD.")) == [
        f"{db}.GOLD.GOLD_TICK",
        f"{db}.GOLD.REFRESH_GOLD",
        f"{db}.GOLD.TEST_GOLD",
    ]
    refresh = ("TASK", f"{db}.GOLD.REFRESH_GOLD")
    assert account.allows(gold, Need("MONITOR", refresh, "task history"))
    assert account.allows(gold, Need("MONITOR", ("TASK", f"{db}.GOLD.TEST_GOLD"), "tests"))
    refused = [
        Need("OWNERSHIP", refresh, "replace the task"),
        Need("OPERATE", ("TASK", f"{db}.OPS.REFRESH_SILVER"), "the silver graph"),
        Need("EXECUTE TASK", ("ACCOUNT", "ACCOUNT"), "account privilege"),
        Need("EXECUTE MANAGED TASK", ("ACCOUNT", "ACCOUNT"), "account privilege"),
        Need("USAGE", ("WAREHOUSE", CONFIG.warehouse), "compute"),
        Need("USAGE", ("SCHEMA", f"{db}.SILVER"), "upstream"),
        Need("USAGE", ("SCHEMA", f"{db}.OPS"), "health views"),
        Need("SELECT", ("TABLE", f"{db}.GOLD.FCT_BLOCKS"), "gold data"),
        Need("CREATE TABLE", ("SCHEMA", f"{db}.GOLD"), "write"),
        Need("CREATE TASK", ("SCHEMA", f"{db}.GOLD"), "a task of its own"),
        Need("USAGE", ("DBT PROJECT", f"{db}.GOLD.{CONFIG.dbt_project}"), "dbt"),
    ]
    account.create(CONFIG.transform_role, ("TABLE", f"{db}.GOLD.FCT_BLOCKS"))
    # So does a Live view (models/live/): owner's rights let it read SILVER for READ.
    account.create(CONFIG.transform_role, ("VIEW", f"{db}.GOLD.LIVE_MEMPOOL_MINUTELY"))
    assert [str(n) for n in refused if account.allows(gold, n)] == []
    # The next deploy (the CI user alone) makes a new REFRESH_GOLD; the workflow still may.
    _, problems = replay(plan, account=account, skip_admin=True, as_user=CONFIG.deploy_user)
    assert problems == []
    assert apply(account, role, statement) == []
    # Neither the deploy's other roles nor READ run gold on the gold user's behalf.
    assert apply(account, CONFIG.read_role, statement) != []


def test_without_the_future_grant_the_gold_workflow_is_refused() -> None:
    """The check can fail: the grants step without its line for GOLD_REFRESH."""
    grants = (REPO / "snowflake" / "sql" / "02_grants.sql").read_text()
    line = next(x for x in grants.splitlines() if "ON FUTURE TASKS" in x)
    account, problems = replay(build_plan(CONFIG), {"02_grants.sql": grants.replace(line, "")})
    assert problems == []
    role, statement = gold_workflow_statement(CONFIG)
    assert apply(account, role, statement) == [
        f"OPERATE on TASK {CONFIG.database}.GOLD.GOLD_TICK ({statement})"
    ]


def test_the_gold_run_is_refused_when_its_owner_may_not_execute_tasks() -> None:
    """EXECUTE TASK runs as the task's owner: without the owner's EXECUTE TASK (granted
    in 03_task_privileges.sql) the gold workflow's OPERATE is not enough."""
    privileges = (REPO / "snowflake" / "sql" / "03_task_privileges.sql").read_text()
    dropped = privileges.replace("GRANT EXECUTE TASK ON ACCOUNT TO ROLE <% transform_role %>;", "")
    assert dropped != privileges
    plan = build_plan(CONFIG)
    account, _ = replay(plan, {"03_task_privileges.sql": dropped})
    role, statement = gold_workflow_statement(CONFIG)
    missing = apply(account, role, statement)
    assert missing == [
        f"EXECUTE TASK held by {CONFIG.transform_role} on ACCOUNT ACCOUNT"
        f" ({statement} (the task's owner))"
    ]


def test_the_credit_views_owner_may_read_usage_history_and_without_the_grant_may_not() -> None:
    """OPS.CREDIT_USAGE and OPS.CREDITS_BY_KIND call the usage functions that answer only
    ACCOUNTADMIN or MONITOR USAGE (tests/access_model.py, USAGE_FUNCTIONS): their owner,
    TRANSFORM (the alerts' and the dashboard's role), holds it from 03_task_privileges.sql.
    Without that line the model refuses both views."""
    plan = build_plan(CONFIG)
    account, problems = replay(plan)
    assert problems == []
    db = CONFIG.database
    for view in ("CREDIT_USAGE", "CREDITS_BY_KIND"):
        assert account.owners[("VIEW", f"{db}.OPS.{view}")] == CONFIG.transform_role
    privileges = (REPO / "snowflake" / "sql" / "03_task_privileges.sql").read_text()
    line = "GRANT MONITOR USAGE ON ACCOUNT TO ROLE <% transform_role %>;"
    assert line in privileges
    _, problems = replay(plan, {"03_task_privileges.sql": privileges.replace(line, "")})
    refused = [p for p in problems if "MONITOR USAGE" in p]
    assert any("OPS.CREDITS_BY_KIND" in p and "WAREHOUSE_METERING_HISTORY" in p for p in refused)
    assert any("OPS.CREDITS_BY_KIND" in p and "PIPE_USAGE_HISTORY" in p for p in refused)
    assert any("OPS.CREDIT_USAGE" in p for p in refused)


# The release whose administrators' steps an account may still carry: CI upgrades with
# --skip-admin, so the administrators re-run theirs only when the upgrade notes say so.
ADMIN_BASELINE = "ee4b98f"


def admin_sql_at(commit: str, plan: Plan) -> dict[str, str]:
    """Each administrator step's SQL file as `commit` had it ("" where it had none)."""
    out = {}
    for step in plan.steps:
        if step.is_admin and step.sql_file:
            shown = subprocess.run(
                ["git", "show", f"{commit}:snowflake/sql/{step.sql_file}"],
                cwd=REPO,
                capture_output=True,
                text=True,
                check=False,
            )
            out[step.sql_file] = shown.stdout if shown.returncode == 0 else ""
    return out


def test_a_ci_upgrade_needs_no_grant_the_administrators_have_not_made() -> None:
    """A CI deploy (--skip-admin, as the deploy user) over an account whose roles, grants
    and integrations an earlier release's administrators made: every statement of this
    release's own steps is allowed by what they granted then. A new step that needs a new
    grant (CREATE STREAM on OPS, say) would stop the upgrade half-way, after the suspend,
    with SILVER stopped until an administrator acts; it fails here instead."""
    plan = build_plan(CONFIG)
    _, problems = replay(plan, sql_override=admin_sql_at(ADMIN_BASELINE, plan))
    assert problems == []


def test_the_upgrade_check_can_fail() -> None:
    """The same replay, with a stream where the baseline's grants allow none."""
    plan = build_plan(CONFIG)
    streams = (REPO / "snowflake" / "sql" / "40_streams.sql").read_text()
    moved = streams.replace(
        "<% database %>.SILVER.REQUESTS_STRM", "<% database %>.OPS.REQUESTS_STRM"
    )
    assert moved != streams
    _, problems = replay(
        plan, sql_override={**admin_sql_at(ADMIN_BASELINE, plan), "40_streams.sql": moved}
    )
    assert any("needs CREATE STREAM on SCHEMA ACME_MEMPOOL.OPS" in p for p in problems), problems


def test_ci_checks_out_the_history_the_release_checks_read() -> None:
    """actions/checkout fetches one commit unless told otherwise: `git show` of an earlier
    release (this module, tests/test_upgrade.py) would find nothing on GitHub's runners."""
    ci = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    checkout = next(
        step
        for step in ci["jobs"]["test"]["steps"]
        if str(step.get("uses", "")).startswith("actions/checkout@")
    )
    assert checkout["with"]["fetch-depth"] == 0
    shown = subprocess.run(
        ["git", "cat-file", "-e", f"{ADMIN_BASELINE}^{{commit}}"], cwd=REPO, check=False
    )
    assert shown.returncode == 0, f"{ADMIN_BASELINE} is not in this checkout's history"
