"""What production deploys, checked offline with the real tools: the `snow` project
(rendered by the pinned CLI), the procedure archive it builds (imported from the archive
alone), the deploy plan, the SQL files, and the app's Streamlit-in-Snowflake limits."""

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

from sandbox.artifacts import (
    PROCEDURES_ARCHIVE,
    build_dashboard,
    build_procedures,
    copy_snow_project,
    snow_binary,
)
from sandbox.deploy import (
    DBT_VERSION,
    DeployConfig,
    DeployError,
    build_plan,
    command,
    rendered_statements,
    run_deploy,
)
from sandbox.snowflake_local import SQL_DIR, procedure_handlers

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
    # snowflake-snowpark-python comes from Snowflake's channel: the PACKAGES clause.
    assert (REPO / "requirements.snowflake.txt").read_text().split() == [
        "snowflake-snowpark-python"
    ]


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
    step = build_plan(OTHER).step("tasks")
    text = "\n".join(rendered_statements(step, OTHER))
    handlers = procedure_handlers()
    calls = re.findall(r"\bCALL ACME_BTC\.(\w+\.\w+)\(\)", text)
    assert sorted(c.upper() for c in calls) == sorted(handlers)
    assert "EXECUTE DBT PROJECT ACME_BTC.GOLD.MEMPOOL_DBT" in text
    assert "SUSPEND_TASK_AFTER_NUM_FAILURES" in text and "ERROR_INTEGRATION" in text


def test_gold_refreshes_on_its_own_schedule_not_after_every_silver_run() -> None:
    """A dbt build after every triggered graph run (about once a minute) would keep the
    warehouse awake all day; gold runs every N minutes and never overlaps itself."""
    config = DeployConfig(gold_refresh_minutes=45)
    statements = rendered_statements(build_plan(config).step("tasks"), config)
    gold = next(s for s in statements if re.match(r"CREATE OR REPLACE TASK \S+\.REFRESH_GOLD\b", s))
    assert "SCHEDULE = '45 MINUTE'" in gold
    assert "ALLOW_OVERLAPPING_EXECUTION = FALSE" in gold
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
    from sandbox.cli import main

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
    assert ran[0][1:4] == ["sql", "-f", "snowflake/sql/15_landing.sql"]
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
    days = re.search(r"DATEADD\(DAY, -(\d+), CURRENT_TIMESTAMP\(\)\)", body)
    assert days and int(days[1]) <= 7
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
    }
    assert read <= documented_columns, read - documented_columns
