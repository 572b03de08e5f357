"""What production deploys, checked offline with the real tools: the `snow` project
(rendered by the pinned CLI), the procedure archive it builds (imported from the archive
alone), the deploy plan, the SQL files, and the app's Streamlit-in-Snowflake limits.

Length: one check per deployed artifact, sharing the built project and archive fixtures.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from operations.artifacts import (
    PROCEDURES_ARCHIVE,
    build_dashboard,
    build_procedures,
    copy_snow_project,
    snow_binary,
)
from operations.deploy import (
    DBT_VERSION,
    DeployConfig,
    DeployError,
    build_plan,
    command,
    render,
    rendered_statements,
    run_deploy,
)
from operations.sql_text import split_statements
from sandbox.snowflake_local.plan import SQL_DIR
from sandbox.snowflake_local.procedures import procedure_handlers

REPO = Path(__file__).resolve().parent.parent
OTHER = DeployConfig(
    database="ACME_BTC",
    warehouse="ACME_XS",
    bucket="acme-landing",
    storage_role_arn="arn:aws:iam::111122223333:role/acme-storage",
    error_topic_arn="arn:aws:sns:eu-west-1:111122223333:acme-errors",
    error_role_arn="arn:aws:iam::111122223333:role/acme-errors",
)


def snow(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(home), "SNOWFLAKE_HOME": str(home / ".snowflake")}
    return subprocess.run(
        [snow_binary(), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_snow_renders_the_project_with_the_names_the_deploy_passes(tmp_path: Path) -> None:
    """`<% ctx.env.X %>` reads the project's env section or `--env X=...`; the deploy
    passes MEMPOOL_DATABASE and MEMPOOL_WAREHOUSE, so both must be what it renders."""
    out = snow(
        "ws",
        "dump",
        "--env",
        "MEMPOOL_DATABASE=ACME_BTC",
        "--env",
        "MEMPOOL_WAREHOUSE=ACME_XS",
        home=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    entities = yaml.safe_load(out.stdout)["entities"]
    procedures = {k: v for k, v in entities.items() if v["type"] == "procedure"}
    assert set(procedures) == {
        "refresh_silver",
        "load_events",
        "build_stats",
        "build_blocks",
        "build_prices",
        "build_projected",
    }
    for proc in procedures.values():
        assert proc["runtime"] == "3.11"
        assert proc["identifier"]["database"] == "ACME_BTC"
        assert proc["stage"] == "ACME_BTC.SILVER.PROCEDURES"
        assert proc["handler"].startswith("mempool_procs.") and proc["handler"].endswith(".run")
    app = entities["dashboard"]
    assert app["identifier"]["database"] == "ACME_BTC"
    assert app["query_warehouse"] == "ACME_XS"
    rendered = yaml.safe_dump(entities)
    assert "MEMPOOL_WH" not in rendered and "MEMPOOL." not in rendered


def test_the_archive_snow_builds_holds_the_package_and_nothing_else(tmp_path: Path) -> None:
    project = copy_snow_project(tmp_path)
    archive = build_procedures(project)
    with zipfile.ZipFile(archive) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
    assert names and all(n.startswith("mempool_procs/") for n in names), names
    # No third-party library is zipped beside the procedures: the AWS side's boto3 and
    # websockets (pyproject.toml) must never reach Snowflake.
    assert not (project / "dependencies.zip").exists()
    assert not any(re.search(r"boto|websockets|botocore", n) for n in names)


def test_the_procedures_run_the_snowpark_version_the_local_stack_runs() -> None:
    """requirements.snowflake.txt is the procedures' PACKAGES clause, line by line (the
    CLI forwards each line verbatim: no comment may stand there). Unpinned, every deploy
    would take whatever version Snowflake's channel has that day; pinned to the version
    the local runtime and the tests run, what passes here is what runs there.
    https://docs.snowflake.com/en/developer-guide/stored-procedure/python/procedure-python-overview
    (packages from Snowflake's Anaconda channel, optionally with a version)"""
    lines = (REPO / "requirements.snowflake.txt").read_text().splitlines()
    installed = importlib.metadata.version("snowflake-snowpark-python")
    assert lines == [f"snowflake-snowpark-python=={installed}"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = project["optional-dependencies"]["dev"]
    assert f"snowflake-snowpark-python[pandas]=={installed}" in dependencies


def test_every_handler_imports_from_the_archive_alone() -> None:
    """As Snowflake runs them: the archive on sys.path, the standard library, nothing
    installed (-S drops site-packages; the package is not installed in the venv either)."""
    handlers = sorted(procedure_handlers().values())
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(PROCEDURES_ARCHIVE)!r})\n"
        f"for h in {handlers!r}:\n"
        "    mod, fn = h.rsplit('.', 1)\n"
        "    m = importlib.import_module(mod)\n"
        "    assert callable(getattr(m, fn)), h\n"
        "    assert m.__file__.startswith(sys.path[0]), m.__file__\n"
        "print('ok', len(" + repr(handlers) + "))\n"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", probe], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"ok {len(handlers)}"


def test_the_local_runtime_imports_the_procedures_from_the_archive() -> None:
    import mempool_procs.load_events

    assert str(mempool_procs.load_events.__file__).startswith(str(PROCEDURES_ARCHIVE))


def test_every_sql_file_is_a_deploy_step_once_in_file_order() -> None:
    plan = build_plan(DeployConfig())
    files = [s.sql_file for s in plan.sql_steps()]
    assert files == sorted(p.name for p in SQL_DIR.glob("*.sql"))


def test_sql_files_are_idempotent_and_hard_code_no_account_name() -> None:
    plan = build_plan(OTHER)
    for step in plan.sql_steps():
        statements = rendered_statements(step, OTHER)
        text = "\n".join(statements)
        assert "<%" not in text
        assert not re.search(r"\bMEMPOOL(_\w+)?\.", text), step.sql_file
        assert not re.search(r"\bMEMPOOL_(INGEST|TRANSFORM|READ|WH)\b", text), step.sql_file
        for statement in statements:
            head = statement.split("(")[0].upper()
            if head.startswith("CREATE") and not (
                " IF NOT EXISTS " in head or "OR REPLACE" in head
            ):
                pytest.fail(f"{step.sql_file}: not idempotent: {statement[:80]}")


def test_every_task_calls_a_declared_procedure_or_the_dbt_project() -> None:
    """Every procedure runs on the task's schedule: the silver task calls REFRESH_SILVER,
    which calls each of the others (its stages), so none is left unscheduled."""
    from mempool_procs.refresh_silver import STAGES

    step = build_plan(OTHER).step("tasks")
    text = "\n".join(rendered_statements(step, OTHER))
    handlers = procedure_handlers()
    calls = re.findall(r"\bCALL ACME_BTC\.(\w+\.\w+)\(\)", text)
    assert sorted(c.upper() for c in calls) == ["SILVER.REFRESH_SILVER"]
    assert sorted([*calls, *STAGES]) == sorted(handlers)
    assert "EXECUTE DBT PROJECT ACME_BTC.GOLD.MEMPOOL_DBT" in text
    assert "SUSPEND_TASK_AFTER_NUM_FAILURES" in text and "ERROR_INTEGRATION" in text


def test_gold_refreshes_on_its_own_schedule_not_after_every_silver_run() -> None:
    """A dbt build after every triggered graph run (about once a minute) would keep the
    warehouse awake all day; gold runs every N minutes and never overlaps itself."""
    config = DeployConfig(gold_refresh_minutes=45)
    statements = rendered_statements(build_plan(config).step("tasks"), config)
    gold = next(s for s in statements if re.match(r"CREATE OR REPLACE TASK \S+\.REFRESH_GOLD\b", s))
    assert "SCHEDULE = '45 MINUTES'" in gold
    assert "OVERLAP_POLICY = NO_OVERLAP" in gold
    assert " AFTER " not in gold
    workflow = yaml.safe_load((REPO / ".github/workflows/gold.yml").read_text())
    triggers = workflow[True]  # PyYAML reads the `on:` key as True
    assert "schedule" not in triggers, "a cron would race the task"
    assert "dbt build" not in (REPO / ".github/workflows/gold.yml").read_text()
    with pytest.raises(DeployError):
        DeployConfig(gold_refresh_minutes=0)


def test_dry_run_prints_every_step_command_and_statement(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from operations.cli import main

    code = main(
        [
            "deploy",
            "--dry-run",
            "--connection",
            "prod",
            "--database",
            "acme_btc",
            "--warehouse",
            "acme_xs",
            "--bucket",
            "acme-landing",
            "--storage-role-arn",
            "arn:aws:iam::111122223333:role/acme-storage",
            "--error-topic-arn",
            "arn:aws:sns:eu-west-1:111122223333:acme-errors",
            "--error-role-arn",
            "arn:aws:iam::111122223333:role/acme-errors",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    plan = build_plan(OTHER)
    headers = re.findall(r"^# (\d+)/(\d+) ([\w-]+):", out, re.M)
    assert [h[2] for h in headers] == plan.names()
    commands = [line[2:] for line in out.splitlines() if line.startswith("$ ")]
    assert len(commands) == len(plan.steps)
    assert (
        "snow snowpark build --ignore-anaconda" in commands[plan.names().index("build-procedures")]
    )
    dbt = commands[plan.names().index("dbt")]
    assert f"--dbt-version {DBT_VERSION}" in dbt and "--default-target prod" in dbt
    for step in plan.sql_steps():
        for statement in rendered_statements(step, OTHER):
            assert statement.rstrip() + ";" in out
    assert "<%" not in out and "MEMPOOL_WH" not in out
    assert all("--connection prod" in c for c in commands if "snowpark build" not in c)


def test_a_real_deploy_refuses_missing_terraform_outputs() -> None:
    with pytest.raises(DeployError, match="--bucket"):
        run_deploy(DeployConfig(), "prod", only=["landing"], runner=lambda argv: 0)


def test_deploy_runs_the_steps_in_order_and_stops_at_the_first_failure() -> None:
    ran: list[list[str]] = []

    def runner(argv: list[str]) -> int:
        ran.append(argv)
        return 1 if argv[1:3] == ["snowpark", "deploy"] else 0

    lines: list[str] = []
    code = run_deploy(OTHER, "prod", skip_admin=True, runner=runner, out=lines.append)
    assert code == 1
    assert [a[1:3] for a in ran][-2:] == [["snowpark", "build"], ["snowpark", "deploy"]]
    # A CI deploy's first step suspends the tasks (an upgrade changes nothing they run first).
    assert ran[0][1:4] == ["sql", "-f", "snowflake/sql/12_suspend.sql"]
    assert ran[1][1:4] == ["sql", "-f", "snowflake/sql/15_landing.sql"]
    assert "step 'procedures' failed" in lines[-1]


def test_docs_deploy_shows_the_deploy_commands_verbatim() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    plan = build_plan(DeployConfig().with_examples())
    for step in plan.steps:
        line = " ".join(command(step, plan.config, "prod", "<staged profiles dir>"))
        assert line in doc, line
    for invocation in (
        "mempool deploy --connection prod",
        "mempool deploy --connection prod --skip-admin",
        "mempool deploy --dry-run",
    ):
        assert invocation in doc


def app_sources() -> dict[str, ast.Module]:
    files = [REPO / "streamlit_app" / "streamlit_app.py"]
    files += sorted((REPO / "streamlit_app" / "mempool_dashboard").glob("*.py"))
    return {f.name: ast.parse(f.read_text()) for f in files}


def test_the_app_uses_only_what_streamlit_in_snowflake_supports() -> None:
    """st.set_page_config's page_title, page_icon and menu_items are not supported:
    https://docs.snowflake.com/en/developer-guide/streamlit/limitations"""
    calls = [
        n
        for tree in app_sources().values()
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "set_page_config"
    ]
    assert calls
    for call in calls:
        used = {k.arg for k in call.keywords}
        assert not used & {"page_title", "page_icon", "menu_items"}, used


def test_the_app_runs_the_streamlit_version_snowflake_runs() -> None:
    """The warehouse runtime offers a limited selection of Streamlit versions; 1.51.0 is
    one (https://docs.snowflake.com/en/release-notes/2025/other/2025-11-20-sis). The
    app's environment.yml pins it, and the local stack and tests run the same one."""
    env = yaml.safe_load((REPO / "streamlit_app" / "environment.yml").read_text())
    assert env["channels"] == ["snowflake"]
    pinned = [d for d in env["dependencies"] if str(d).startswith("streamlit")]
    assert pinned == ["streamlit=1.51.0"]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    deps = project["project"]["dependencies"] + project["project"]["optional-dependencies"]["dev"]
    assert "streamlit==1.51.0" in deps
    assert importlib.metadata.version("streamlit") == "1.51.0"


def test_the_app_reads_only_gold_and_ops_and_binds_what_users_choose() -> None:
    """Every FROM/JOIN names GOLD or OPS; no query text is built from a variable the user
    sets (the only f-string statements are the fixed per-bucket ones)."""
    for name, tree in app_sources().items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for schema in re.findall(r"\b(?:FROM|JOIN)\s+(\w+)\.", node.value):
                    assert schema in {"GOLD", "OPS"}, (name, node.value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "query":
                assert not isinstance(node.args[0], ast.JoinedStr), (name, ast.unparse(node))


def test_the_deploy_bundle_holds_every_file_the_app_imports(tmp_path: Path) -> None:
    """Bundled by the Snowflake CLI's own bundler from snowflake.yml's artifacts (what
    `snow streamlit deploy` uploads): every module of the app's package is there."""
    main_file = build_dashboard(tmp_path / "app")
    bundled = {p.relative_to(main_file.parent).as_posix() for p in main_file.parent.rglob("*.py")}
    expected = {"streamlit_app.py"} | {
        f"mempool_dashboard/{p.name}"
        for p in (REPO / "streamlit_app" / "mempool_dashboard").glob("*.py")
    }
    assert bundled == expected
    assert (main_file.parent / "environment.yml").exists()
    assert not any(p.is_symlink() for p in main_file.parent.rglob("*"))


def test_workflows_pass_actionlint_and_zizmor_offline() -> None:
    bin_dir = Path(sys.executable).parent
    lint = subprocess.run(
        [str(bin_dir / "actionlint"), "-no-color"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    audit = subprocess.run(
        [str(bin_dir / "zizmor"), "--offline", "--min-severity", "low", ".github/workflows"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    for workflow in (REPO / ".github" / "workflows").glob("*.yml"):
        for uses in re.findall(r"uses:\s*(\S+)", workflow.read_text()):
            assert re.search(r"@[0-9a-f]{40}$", uses), f"{workflow.name}: {uses} not pinned"


def test_the_task_history_view_uses_only_documented_arguments_and_columns() -> None:
    """TASK_HISTORY's arguments and output columns, as its reference page lists them:
    https://docs.snowflake.com/en/sql-reference/functions/task_history
    (RESULT_LIMIT 1 to 10000; the range start within the last 7 days). The local
    runtime cannot run it, so this is what checks it before a deploy."""
    text = (SQL_DIR / "30_silver.sql").read_text()
    view = re.search(r"VIEW <% database %>\.OPS\.TASK_RUNS AS(.*?);", text, re.S)
    assert view
    body = view[1]
    arguments = dict(re.findall(r"(\w+)\s*=>\s*([^,)]+(?:\([^)]*\))?)", body))
    documented_arguments = {
        "SCHEDULED_TIME_RANGE_START",
        "SCHEDULED_TIME_RANGE_END",
        "RESULT_LIMIT",
        "TASK_NAME",
        "ERROR_ONLY",
        "ROOT_TASK_ID",
    }
    assert set(arguments) <= documented_arguments
    assert 1 <= int(arguments["RESULT_LIMIT"]) <= 10000
    # The range must fall within the last 7 days, or the function errors: a start of
    # exactly 7 days back is outside by the time the query runs.
    start = re.search(r"DATEADD\((\w+), -(\d+), CURRENT_TIMESTAMP\(\)\)", body)
    assert start and arguments["SCHEDULED_TIME_RANGE_START"].startswith("DATEADD(")
    seconds = {"DAY": 86400, "HOUR": 3600, "MINUTE": 60, "SECOND": 1}[start[1].upper()]
    assert 0 < int(start[2]) * seconds < 7 * 86400
    documented_columns = {
        "NAME",
        "QUERY_TEXT",
        "CONDITION_TEXT",
        "SCHEMA_NAME",
        "TASK_SCHEMA_ID",
        "DATABASE_NAME",
        "TASK_DATABASE_ID",
        "SCHEDULED_TIME",
        "COMPLETED_TIME",
        "STATE",
        "RETURN_VALUE",
        "QUERY_ID",
        "QUERY_START_TIME",
        "ERROR_CODE",
        "ERROR_MESSAGE",
        "GRAPH_VERSION",
        "RUN_ID",
        "ROOT_TASK_ID",
        "SCHEDULED_FROM",
    }
    select = body.split("FROM TABLE")[0]
    where = body.split("WHERE", 1)[1]
    read = set(re.findall(r"\b([A-Z][A-Z_]+)\b", select + where)) - {
        "SELECT",
        "AS",
        "CONVERT_TIMEZONE",
        "UTC",
        "TIMESTAMP_NTZ",
        "AND",
        "OPS",
        "TASK_NAME",
        "SCHEDULED_AT",
        "STARTED_AT",
        "COMPLETED_AT",
        "IN",
        "GOLD",
    }
    assert read <= documented_columns, read - documented_columns
    # Every schema a task is created in is one the view keeps.
    tasks = "\n".join(rendered_statements(build_plan(OTHER).step("tasks"), OTHER))
    schemas = set(re.findall(r"CREATE OR REPLACE TASK ACME_BTC\.(\w+)\.", tasks))
    kept = set(re.findall(r"'(\w+)'", where.split("SCHEMA_NAME", 1)[1]))
    assert schemas and schemas <= kept, schemas - kept


def task_statements(config: DeployConfig) -> dict[str, str]:
    """Each task the tasks step creates, by its full name: its CREATE statement."""
    out = {}
    for statement in rendered_statements(build_plan(config).step("tasks"), config):
        if m := re.match(r"CREATE OR REPLACE TASK (\S+)", statement):
            out[m[1]] = statement
    return out


def test_the_task_that_runs_dbt_is_in_the_dbt_projects_schema_on_a_warehouse() -> None:
    """Scheduling dbt project runs: a task that runs EXECUTE DBT PROJECT must be created
    in the same database and schema as the dbt project object, and on a user-managed
    warehouse (serverless tasks cannot run dbt projects). Two do: REFRESH_GOLD (`run`) and
    its child TEST_GOLD (`test`), in one graph, since Snowflake runs one EXECUTE DBT
    PROJECT at a time per object. The local engine runs no task, so this is what checks
    it; the gold workflow names the root, the suspend and the resume the graph.
    https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-schedule-project-execution
    https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-limitations"""
    plan = build_plan(OTHER)
    dbt = command(plan.step("dbt"), OTHER, "c", "p")
    project = ".".join(
        (
            dbt[dbt.index("--database") + 1],
            dbt[dbt.index("--schema") + 1],
            dbt[dbt.index("deploy") + 1],
        )
    )
    runners = {
        name: statement
        for name, statement in task_statements(OTHER).items()
        if "EXECUTE DBT PROJECT" in statement
    }
    commands = {
        name: re.findall(
            rf"\bEXECUTE DBT PROJECT {re.escape(project)} ARGS = '(\w+) --target prod'", statement
        )
        for name, statement in runners.items()
    }
    assert commands == {"ACME_BTC.GOLD.REFRESH_GOLD": ["run"], "ACME_BTC.GOLD.TEST_GOLD": ["test"]}
    for name, statement in runners.items():
        assert name.rsplit(".", 1)[0] == project.rsplit(".", 1)[0], (name, project)
        assert re.search(r"\bWAREHOUSE = ACME_XS\b", statement)
    root, tests = runners["ACME_BTC.GOLD.REFRESH_GOLD"], runners["ACME_BTC.GOLD.TEST_GOLD"]
    assert " AFTER " not in root and "SCHEDULE = " in root
    # The tests follow the run in its graph, and only when the run says they are due.
    assert "AFTER ACME_BTC.GOLD.REFRESH_GOLD" in tests and "SCHEDULE" not in tests
    assert "WHEN SYSTEM$GET_PREDECESSOR_RETURN_VALUE('REFRESH_GOLD') = 'test'" in tests
    assert "CALL SYSTEM$SET_RETURN_VALUE('test')" in root
    # Due gold_test_hours after the last run that set them due, as the run's log says: a
    # run on demand has no fixed place in a window.
    assert "STARTED_AT > DATEADD(HOUR, -6, :started)" in root
    assert root.index("ARGS = 'run") < root.index("SYSTEM$SET_RETURN_VALUE")
    # On demand: the schedule only checks for a request, which the run consumes first.
    assert "WHEN SYSTEM$STREAM_HAS_DATA('ACME_BTC.SILVER.GOLD_REQUESTS_STRM')" in root
    assert root.index("FROM ACME_BTC.SILVER.GOLD_REQUESTS_STRM") < root.index("ARGS = 'run")
    suspend = "\n".join(rendered_statements(plan.step("suspend"), OTHER))
    resume = "\n".join(rendered_statements(plan.step("resume"), OTHER))
    assert suspend.index("ALTER TASK IF EXISTS ACME_BTC.GOLD.REFRESH_GOLD SUSPEND") < suspend.index(
        "ALTER TASK IF EXISTS ACME_BTC.GOLD.TEST_GOLD SUSPEND"
    )
    # The resume enables the whole graph (the root alone would leave the tests suspended).
    assert "SYSTEM$TASK_DEPENDENTS_ENABLE('ACME_BTC.GOLD.REFRESH_GOLD')" in resume
    # The gold workflow requests a run (the tick, serverless) rather than running dbt.
    gold = (REPO / ".github" / "workflows" / "gold.yml").read_text()
    assert "EXECUTE TASK ${MEMPOOL_DATABASE}.GOLD.GOLD_TICK" in gold
    assert "SYSTEM$TASK_DEPENDENTS_ENABLE('ACME_BTC.GOLD.GOLD_TICK')" in resume


def test_the_gold_blocks_split_into_whole_statements_as_snow_sql_splits_them() -> None:
    """REFRESH_GOLD's body is a scripting block inside EXECUTE IMMEDIATE $$ ... $$: `snow
    sql -f` (the connector's splitter) and the project's own must both keep it whole.
    https://docs.snowflake.com/en/developer-guide/snowflake-scripting/running-examples"""
    from io import StringIO

    from snowflake.connector.util_text import split_statements as connector_split

    text = render((SQL_DIR / "60_tasks.sql").read_text(), OTHER.values())
    ours = split_statements(text)
    theirs = [
        statement.strip().removesuffix(";").strip()
        for statement, _ in connector_split(StringIO(text), remove_comments=True)
    ]
    assert [" ".join(s.split()) for s in theirs if s] == [" ".join(s.split()) for s in ours]
    (root,) = [s for s in ours if s.startswith("CREATE OR REPLACE TASK ACME_BTC.GOLD.REFRESH_GOLD")]
    assert root.count("$$") == 2 and root.endswith("END;\n  $$")


def test_the_gold_tests_window_and_refresh_are_checked() -> None:
    """A test window shorter than the run interval would test after every run."""
    assert DeployConfig(gold_refresh_minutes=60, gold_test_hours=1).gold_test_hours == 1
    with pytest.raises(DeployError):
        DeployConfig(gold_refresh_minutes=90, gold_test_hours=1)
    with pytest.raises(DeployError):
        DeployConfig(gold_test_hours=0)


# Every place a release of this project created a task root (REFRESH_GOLD was in OPS
# until it moved beside its dbt project): an upgrade must stop them all first.
PREVIOUS_ROOTS = ["OPS.LOAD_EVENTS", "OPS.REFRESH_GOLD"]  # LOAD_EVENTS: before REFRESH_SILVER


def test_an_upgrade_suspends_every_root_before_it_changes_what_tasks_run() -> None:
    """Re-deploying over a running release: if the procedures or the dbt project were
    replaced, or SILVER changed, while the graph runs, live tasks would run new code on
    the old tables (or old code on half-changed ones) and suspend themselves after
    repeated failures. So the roots are suspended before the first step that changes
    anything a task reads or runs, tables evolve in place, code is replaced, the graph is
    replaced, and everything is resumed in the very last step.
    https://docs.snowflake.com/en/user-guide/tasks-graphs (modifying a task graph)"""
    plan = build_plan(OTHER)
    names = plan.names()
    suspend = names.index("suspend")
    for changes in ("landing", "raw", "silver", "streams", "procedures", "dbt", "tasks"):
        assert suspend < names.index(changes), f"{changes} runs before the roots are suspended"
    assert names.index("silver") < names.index("procedures") < names.index("tasks")
    assert names.index("dbt") < names.index("tasks")
    assert names[-1] == "resume"
    # The first step a CI deploy (--skip-admin) runs is the suspend.
    assert next(s for s in plan.steps if not s.is_admin and not s.builds).name == "suspend"
    suspended = re.findall(
        r"ALTER TASK IF EXISTS ACME_BTC\.(\w+\.\w+) SUSPEND",
        "\n".join(rendered_statements(plan.step("suspend"), OTHER)),
    )
    tasks = task_statements(OTHER)
    roots = [n.split(".", 1)[1] for n, s in tasks.items() if not re.search(r"\bAFTER\b", s)]
    assert set(roots) | set(PREVIOUS_ROOTS) <= set(suspended)
    resume = "\n".join(rendered_statements(plan.step("resume"), OTHER))
    for root in roots:
        assert re.search(
            rf"(ALTER TASK ACME_BTC\.{root} RESUME|TASK_DEPENDENTS_ENABLE\('ACME_BTC\.{root}'\))",
            resume,
        ), root
    # A root an earlier release made and this one does not is dropped, not left behind.
    statements = "\n".join(rendered_statements(plan.step("tasks"), OTHER))
    for previous in set(PREVIOUS_ROOTS) - set(roots):
        assert f"DROP TASK IF EXISTS ACME_BTC.{previous}" in statements


def test_every_silver_column_reaches_a_table_an_earlier_release_made() -> None:
    """CREATE TABLE IF NOT EXISTS leaves an existing table as it was: each column of a
    SILVER or OPS table is either in the table's first definition (33ee476, the release
    before columns were added) or added by ADD COLUMN IF NOT EXISTS in the same step,
    before the procedures that read it are replaced. The upgrade test
    (tests/test_upgrade.py) runs this for real.
    https://docs.snowflake.com/en/sql-reference/sql/alter-table (ADD COLUMN IF NOT EXISTS)"""
    first = subprocess.run(
        ["git", "show", "33ee476:snowflake/sql/30_silver.sql"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def tables(text: str) -> dict[str, set[str]]:
        out = {}
        for name, body in re.findall(
            r"CREATE TABLE IF NOT EXISTS <% database %>\.(\w+\.\w+) \((.*?)\);", text, re.S
        ):
            body = re.sub(r"--[^\n]*", "", body)
            out[name] = {c.split()[0] for c in re.split(r",(?![^(]*\))", body) if c.strip()}
        return out

    now_text = (SQL_DIR / "30_silver.sql").read_text()
    added = set(
        re.findall(
            r"ALTER TABLE <% database %>\.(\w+\.\w+) ADD COLUMN IF NOT EXISTS (\w+)", now_text
        )
    )
    before = tables(first)
    missing = [
        f"{table}.{column}"
        for table, columns in tables(now_text).items()
        if table in before
        for column in sorted(columns - before[table])
        if (table, column) not in added
    ]
    assert missing == []


def test_the_staged_dbt_profile_is_prod_alone_with_literal_values() -> None:
    """What `snow dbt deploy` stages as the project object's profiles.yml: dbt Projects on
    Snowflake need type, warehouse, database, schema and role; account and user may be
    empty (the project runs as the current account and user); env_var() is not supported
    when a project object runs; the local target names the fakesnow server.
    https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-limitations"""
    from operations.deploy import dbt_profiles

    with dbt_profiles(OTHER) as staged:
        text = (staged / "profiles.yml").read_text()
    assert "{{" not in text and "env_var" not in text
    profile = yaml.safe_load(text)["mempool"]
    assert profile["target"] == "prod"
    assert list(profile["outputs"]) == ["prod"]
    prod = profile["outputs"]["prod"]
    assert prod["type"] == "snowflake"
    assert (prod["database"], prod["warehouse"], prod["role"]) == (
        "ACME_BTC",
        "ACME_XS",
        "ACME_BTC_TRANSFORM",
    )
    assert prod["schema"] == "GOLD"
    assert prod["account"] == "" and prod["user"] == ""
    assert not set(prod) & {"password", "private_key_path", "host", "port", "protocol"}


def test_task_intervals_follow_create_tasks_grammar() -> None:
    """SCHEDULE and TARGET_COMPLETION_INTERVAL are '<num> { HOURS | MINUTES | SECONDS }'
    (or a CRON schedule); roots say OVERLAP_POLICY, which replaced the deprecated
    ALLOW_OVERLAPPING_EXECUTION (NO_OVERLAP: the next run waits for the whole graph).
    https://docs.snowflake.com/en/sql-reference/sql/create-task
    https://docs.snowflake.com/en/release-notes/2026/other/2026-03-13-tasks-overlap-policy"""
    tasks = task_statements(OTHER)
    text = "\n".join(tasks.values())
    assert "ALLOW_OVERLAPPING_EXECUTION" not in text
    intervals = re.findall(r"\b(SCHEDULE|TARGET_COMPLETION_INTERVAL) = '([^']*)'", text)
    assert intervals
    for parameter, value in intervals:
        assert re.fullmatch(r"\d+ (HOURS|MINUTES|SECONDS)|USING CRON .+", value), (parameter, value)
    for name, statement in tasks.items():
        if not re.search(r"\bAFTER\b", statement):
            assert "OVERLAP_POLICY = NO_OVERLAP" in statement, name
        else:
            assert "OVERLAP_POLICY" not in statement, name  # a root's parameter


def test_the_dashboard_sleeps_and_its_cost_is_stated(tmp_path: Path) -> None:
    """A Streamlit app on a warehouse runtime keeps its warehouse running while a viewer's
    tab holds the connection open; a custom sleep timer (`[snowflake.sleep]
    streamlitSleepTimeoutMinutes` in the app's .streamlit/config.toml, 5 to 240) makes
    it sleep after that many idle minutes. The bundle `snow streamlit deploy` uploads
    carries it, and the deploy guide's cost table prices the dashboard with it.
    https://docs.snowflake.com/en/developer-guide/streamlit/features/sleep-timer"""
    main_file = build_dashboard(tmp_path / "app")
    config = tomllib.loads((main_file.parent / ".streamlit" / "config.toml").read_text())
    minutes = config["snowflake"]["sleep"]["streamlitSleepTimeoutMinutes"]
    assert 5 <= minutes <= 240
    assert not (main_file.parent / ".streamlit" / "secrets.toml").exists()
    doc = (REPO / "docs" / "deploy.md").read_text()
    cost = doc.split("## What it costs per month", 1)[1]
    row = next(line for line in cost.splitlines() if line.startswith("| Dashboard"))
    assert f"{minutes} min" in row and "streamlitSleepTimeoutMinutes" in row


def test_alerts_follow_create_alerts_grammar_and_are_resumed_last() -> None:
    """CREATE ALERT: SCHEDULE = '<num> MINUTE' (at most 11520), no WAREHOUSE for a
    serverless alert, IF (EXISTS (<SELECT>)) THEN <action>. The action is the documented
    way to read the condition's rows: a Snowflake Scripting block selecting from
    RESULT_SCAN(SNOWFLAKE.ALERT.GET_CONDITION_QUERY_UUID()) INTO a variable, then CALL
    SYSTEM$SEND_SNOWFLAKE_NOTIFICATION(APPLICATION_JSON(:variable), INTEGRATION(<the
    deploy's>)), passed to EXECUTE IMMEDIATE as a $$ string (the form for clients that
    split on semicolons, as `snow sql -f` does). Created suspended: the resume step
    resumes each, the suspend step suspends each. ALERT_RUNS reads only ALERT_HISTORY's
    documented arguments and columns.
    https://docs.snowflake.com/en/sql-reference/sql/create-alert
    https://docs.snowflake.com/en/user-guide/alerts (checking the results of the condition)
    https://docs.snowflake.com/en/developer-guide/snowflake-scripting/running-examples
    https://docs.snowflake.com/en/sql-reference/sql/alter-alert
    https://docs.snowflake.com/en/sql-reference/functions/alert_history"""
    plan = build_plan(OTHER)
    statements = rendered_statements(plan.step("alerts"), OTHER)
    alerts = {}
    for statement in statements:
        if m := re.match(r"CREATE OR REPLACE ALERT (ACME_BTC\.OPS\.\w+)\s+(.*)$", statement, re.S):
            alerts[m[1]] = m[2]
    assert len(alerts) == 8
    for name, body in alerts.items():
        props, _, rest = body.partition("IF (EXISTS (")
        schedule = re.search(r"SCHEDULE = '(\d+) MINUTE'", props)
        assert schedule and 1 <= int(schedule[1]) <= 11520, name
        assert "WAREHOUSE" not in props, name
        assert rest.lstrip().startswith("SELECT "), name
        condition, _, action = rest.rpartition("THEN ")
        assert condition.rstrip().endswith("))"), name
        block = re.fullmatch(r"EXECUTE IMMEDIATE \$\$\s*BEGIN\s+(.*)\bEND;\s*\$\$", action, re.S)
        assert block, name
        body = split_statements(block[1])  # (the message joins with a quoted '; ')
        assert body[0] == "LET message VARCHAR", name
        select = re.fullmatch(
            r"SELECT (.+) INTO :message\s+FROM TABLE\(RESULT_SCAN\("
            r"SNOWFLAKE\.ALERT\.GET_CONDITION_QUERY_UUID\(\)\)\)",
            body[1],
            re.S,
        )
        assert select and "RESULT_SCAN" not in select[1], name
        assert re.fullmatch(
            r"CALL SYSTEM\$SEND_SNOWFLAKE_NOTIFICATION\(\s*"
            r"SNOWFLAKE\.NOTIFICATION\.APPLICATION_JSON\(:message\),\s*"
            rf"SNOWFLAKE\.NOTIFICATION\.INTEGRATION\('{OTHER.error_integration}'\)\)",
            body[2],
        ), name
        assert len(body) == 3, name
    resume = "\n".join(rendered_statements(plan.step("resume"), OTHER))
    suspend = "\n".join(rendered_statements(plan.step("suspend"), OTHER))
    for name in alerts:
        assert f"ALTER ALERT {name} RESUME" in resume
        assert f"ALTER ALERT IF EXISTS {name} SUSPEND" in suspend
    names = plan.names()
    assert names.index("tasks") < names.index("alerts") < names.index("resume")
    view = next(s for s in statements if "VIEW ACME_BTC.OPS.ALERT_RUNS" in s)
    arguments = set(re.findall(r"(\w+)\s*=>", view))
    assert arguments <= {
        "SCHEDULED_TIME_RANGE_START",
        "SCHEDULED_TIME_RANGE_END",
        "RESULT_LIMIT",
        "ALERT_NAME",
    }
    read = set(re.findall(r"\b([A-Z][A-Z_]+)\b", view.split(" AS ", 1)[1].split("FROM")[0]))
    documented = {"NAME", "STATE", "SCHEDULED_TIME", "COMPLETED_TIME", "SQL_ERROR_MESSAGE"}
    assert (
        read
        - {"AS", "CONVERT_TIMEZONE", "UTC", "TIMESTAMP_NTZ", "SELECT"}
        - {
            "ALERT_NAME",
            "SCHEDULED_AT",
            "COMPLETED_AT",
            "ERROR_MESSAGE",
        }
        <= documented
    )


def test_the_alerts_file_splits_into_whole_statements_as_snow_sql_splits_it() -> None:
    """`snow sql -f` splits a file on semicolons with the connector's splitter, which
    keeps a $$ string whole and knows no BEGIN ... END (Snowflake's page on running
    scripting blocks lists the Snowflake CLI among the clients that cut a bare block at
    its first semicolon). Each alert's block, inside EXECUTE IMMEDIATE $$ ... $$, must
    reach Snowflake whole from that splitter and from the project's own (the deploy's
    dry run and the local runtime), and the two must agree statement for statement.
    https://docs.snowflake.com/en/developer-guide/snowflake-scripting/running-examples"""
    from io import StringIO

    from snowflake.connector.util_text import split_statements as connector_split

    text = render((SQL_DIR / "80_alerts.sql").read_text(), OTHER.values())
    ours = split_statements(text)
    theirs = [
        statement.strip().removesuffix(";").strip()
        for statement, _ in connector_split(StringIO(text), remove_comments=True)
    ]
    assert [" ".join(s.split()) for s in theirs if s] == [" ".join(s.split()) for s in ours]
    created = [s for s in ours if s.startswith("CREATE OR REPLACE ALERT")]
    assert len(created) == 8
    for statement in created:
        assert statement.count("$$") == 2 and statement.endswith("END;\n  $$"), statement[:60]
