"""The one deploy path to a Snowflake account: every step, its role and its command.

`mempool deploy --connection NAME` runs the steps in order with the Snowflake CLI;
`--dry-run` prints every command and every rendered SQL statement without connecting;
`--teardown` runs the teardown's plan instead (everything the deploy made, dropped).
The local runtime applies the very same SQL steps, in the same order, to fakesnow, and
the tests check each step's statements against the privileges its role holds
(tests/access_model.py), so the order and the roles written here are what is tested.

This module is operator tooling, not the local sandbox: it never starts an emulator.

Length: the plan (every step, its role, its command) and the runner that walks it stay
together, so the order read here is the order that runs.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from operations.artifacts import snow_binary
from operations.sql_text import split_statements

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILE = REPO / "snowflake.yml"
SQL_DIR = REPO / "snowflake" / "sql"
# The teardown's files: a folder of their own, so no deploy can ever pick one up.
TEARDOWN_DIR = "teardown"
DBT_DIR = REPO / "snowflake" / "dbt"

# dbt Projects on Snowflake run the version the project object is pinned to; the local
# stack installs the same one (pyproject.toml), so what passes here parses there.
# https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-dbt-core-versions
DBT_VERSION = "1.10.15"

SECURITYADMIN = "SECURITYADMIN"
SYSADMIN = "SYSADMIN"
ACCOUNTADMIN = "ACCOUNTADMIN"
ADMIN_ROLES = (SECURITYADMIN, SYSADMIN, ACCOUNTADMIN)

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]{0,254}$")
ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[A-Za-z0-9_/:.+=@-]+$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


AWS_VALUES = ("bucket", "storage_role_arn", "error_topic_arn", "error_role_arn")
AWS_EXAMPLES = {
    "bucket": "example-mempool-landing",
    "storage_role_arn": "arn:aws:iam::123456789012:role/example-mempool-snowflake-storage",
    "error_topic_arn": "arn:aws:sns:us-east-1:123456789012:example-mempool-task-errors",
    "error_role_arn": "arn:aws:iam::123456789012:role/example-mempool-snowflake-errors",
}


class DeployError(ValueError):
    """A deploy setting or step that cannot work; the message says which and why."""


@dataclass(frozen=True)
class DeployConfig:
    """Every name the deploy uses. The AWS values have no default: they are outputs of
    Terraform's first apply (`terraform output`); a dry run shows examples instead."""

    database: str = "MEMPOOL"
    warehouse: str = "MEMPOOL_WH"
    ingest_role: str = ""
    transform_role: str = ""
    read_role: str = ""
    # The service user CI deploys as (`--skip-admin`): it is granted INGEST and TRANSFORM.
    deploy_user: str = ""
    # The gold workflow's own role and service user: it may request a REFRESH_GOLD run (by
    # running GOLD_TICK) and watch the gold tasks, nothing else, so the key that workflow
    # holds cannot change what the deploy builds.
    gold_role: str = ""
    gold_user: str = ""
    storage_integration: str = ""
    error_integration: str = ""
    dbt_project: str = "MEMPOOL_DBT"
    dbt_version: str = DBT_VERSION
    # REFRESH_GOLD's schedule: how often it checks for a requested run (the History page
    # asks while it is open), so a viewer's marts are at most this much behind SILVER. A
    # check with no request is skipped without a warehouse (60_tasks.sql).
    gold_refresh_minutes: int = 5
    # GOLD_TICK's schedule: with nobody watching History, REFRESH_GOLD runs about this
    # often. Every run wakes the warehouse for a minute's bill at least: hourly would be
    # 21 credits a month, every 6 hours 3.5 (`mempool budget`).
    gold_idle_minutes: int = 360
    # TEST_GOLD's cadence: `dbt test` after the first REFRESH_GOLD run this many hours
    # after the last tested one (60_tasks.sql), at most four times a day by default.
    gold_test_hours: int = 6
    # REFRESH_SILVER's USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS: at most one silver
    # run this often (60_tasks.sql). Fewer runs bill less; each second adds to how stale
    # Live can be (`mempool budget` shows both).
    silver_trigger_seconds: int = 60
    # SILVER_TICK's schedule: with nobody watching Live, REFRESH_SILVER runs about this
    # often (a tick requests a run; the page requests one at each refresh while open).
    # The silver runs are most of the bill: one every 10 minutes instead of every minute
    # is a tenth of it, and History's minute-level charts are at most this much older.
    silver_idle_minutes: int = 10
    bucket: str = ""
    storage_role_arn: str = ""
    error_topic_arn: str = ""
    error_role_arn: str = ""

    def __post_init__(self) -> None:
        db = self.database.upper()
        defaults = {
            "database": db,
            "warehouse": self.warehouse.upper(),
            "ingest_role": self.ingest_role.upper() or f"{db}_INGEST",
            "transform_role": self.transform_role.upper() or f"{db}_TRANSFORM",
            "read_role": self.read_role.upper() or f"{db}_READ",
            "deploy_user": self.deploy_user.upper() or f"{db}_DEPLOY",
            "gold_role": self.gold_role.upper() or f"{db}_GOLD_REFRESH",
            "gold_user": self.gold_user.upper() or f"{db}_GOLD",
            "storage_integration": self.storage_integration.upper() or f"{db}_LANDING",
            "error_integration": self.error_integration.upper() or f"{db}_TASK_ERRORS",
            "dbt_project": self.dbt_project.upper(),
        }
        for name, value in defaults.items():
            if not IDENTIFIER.match(value):
                raise DeployError(f"{name} {value!r} is not a plain Snowflake identifier")
            object.__setattr__(self, name, value)
        for name in AWS_VALUES:
            value = getattr(self, name)
            pattern = BUCKET if name == "bucket" else ARN
            if value and not pattern.match(value):
                raise DeployError(f"{name} {value!r} is not a valid {name.replace('_', ' ')}")
        if not 1 <= self.gold_refresh_minutes <= 11520:
            raise DeployError("gold_refresh_minutes must be between 1 and 11520 (8 days)")
        # An idle tick more often than a watched run would only add runs to the bill.
        if not self.gold_refresh_minutes <= self.gold_idle_minutes <= 11520:
            raise DeployError(
                "gold_idle_minutes must be at least gold_refresh_minutes and at most 11520 (8 days)"
            )
        # A window shorter than the refresh interval would test after every run.
        if not self.gold_refresh_minutes <= 60 * self.gold_test_hours <= 11520:
            raise DeployError(
                "gold_test_hours must be at least gold_refresh_minutes and at most 192 (8 days)"
            )
        # Snowflake's floor for the trigger interval is 10 s; above an hour, Live is no
        # longer live and History is better served by the gold schedule alone.
        if not 10 <= self.silver_trigger_seconds <= 3600:
            raise DeployError("silver_trigger_seconds must be between 10 and 3600")
        # An idle tick more often than a watched run would only add ticks to the bill.
        if not self.silver_trigger_seconds <= 60 * self.silver_idle_minutes <= 3600:
            raise DeployError(
                "silver_idle_minutes must be at least silver_trigger_seconds and at most 60 "
                "(past an hour, SILVER is no stream with nobody watching)"
            )
        if not re.match(r"^\d+\.\d+\.\d+$", self.dbt_version):
            raise DeployError(f"dbt_version {self.dbt_version!r} is not a version like 1.10.15")

    def missing_aws_values(self) -> list[str]:
        return [name for name in AWS_VALUES if not getattr(self, name)]

    def with_examples(self) -> DeployConfig:
        """The same settings, with example AWS values where none were given."""
        return replace(
            self,
            bucket=self.bucket or AWS_EXAMPLES["bucket"],
            storage_role_arn=self.storage_role_arn or AWS_EXAMPLES["storage_role_arn"],
            error_topic_arn=self.error_topic_arn or AWS_EXAMPLES["error_topic_arn"],
            error_role_arn=self.error_role_arn or AWS_EXAMPLES["error_role_arn"],
        )

    def values(self) -> dict[str, str]:
        """The `<% name %>` values of the SQL files."""
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class Step:
    name: str
    role: str
    what: str
    sql_file: str = ""  # a file under snowflake/sql, run with `snow sql -f`
    snow: tuple[str, ...] = ()  # or a Snowflake CLI command (without connection options)
    builds: bool = False  # a local build command: no connection, no role

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


@dataclass
class Plan:
    config: DeployConfig
    steps: list[Step] = field(default_factory=list)

    def sql_steps(self) -> list[Step]:
        return [s for s in self.steps if s.sql_file]

    def step(self, name: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise DeployError(f"no deploy step named {name!r}; steps: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.name for s in self.steps]


TEMPLATE_VARIABLE = re.compile(r"<%\s*([\w.]+)\s*%>")


def render(sql: str, values: dict[str, str]) -> str:
    """`<% name %>` substitution, as `snow sql -D name=value` does it."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in values:
            raise KeyError(f"template variable {name!r} has no value")
        return values[name]

    return TEMPLATE_VARIABLE.sub(sub, sql)


def project_entities(
    config: DeployConfig | None = None, project_file: Path = PROJECT_FILE
) -> dict[str, dict[str, Any]]:
    """snowflake.yml's entities, mixins merged and `<% ctx.env.X %>` filled in as the
    `--env` options of the deploy fill them (the file's own env section without a config)."""
    text = project_file.read_text()
    env = yaml.safe_load(text).get("env", {})
    if config is not None:
        env = {**env, "MEMPOOL_DATABASE": config.database, "MEMPOOL_WAREHOUSE": config.warehouse}
    project = yaml.safe_load(re.sub(r"<%\s*ctx\.env\.(\w+)\s*%>", lambda m: str(env[m[1]]), text))
    entities = {}
    for key, entity in project["entities"].items():
        merged: dict[str, Any] = {}
        for mixin in entity.get("meta", {}).get("use_mixins", []):
            merged.update(project["mixins"][mixin])
        identifier = {**merged.get("identifier", {}), **entity.get("identifier", {})}
        entities[key] = {**merged, **entity, "identifier": identifier}
    return entities


def template_variables(step: Step) -> list[str]:
    """The `<% name %>` variables of a SQL step, each once, sorted."""
    return sorted(set(TEMPLATE_VARIABLE.findall((SQL_DIR / step.sql_file).read_text())))


def rendered_statements(step: Step, config: DeployConfig) -> list[str]:
    """The SQL statements a SQL step sends, as the account receives them."""
    text = (SQL_DIR / step.sql_file).read_text()
    return split_statements(render(text, config.values()))


def build_plan(config: DeployConfig) -> Plan:
    """The deploy, in order. Administrators' steps come first; everything after them runs
    as the platform's own roles, which is all a CI service user needs to hold.

    The same plan is a first deploy and an upgrade: the task roots are suspended before
    anything they run changes (RAW and SILVER tables evolve in place, the procedures and
    the dbt project are replaced, then the graph), and everything is resumed last."""
    c = config
    env = ("--env", f"MEMPOOL_DATABASE={c.database}", "--env", f"MEMPOOL_WAREHOUSE={c.warehouse}")
    steps = [
        Step("roles", SECURITYADMIN, "roles and the CI users", sql_file="00_roles.sql"),
        Step("database", SYSADMIN, "warehouse, database, schemas", sql_file="01_database.sql"),
        Step("grants", SECURITYADMIN, "privileges of the roles", sql_file="02_grants.sql"),
        Step(
            "task-privileges",
            ACCOUNTADMIN,
            "EXECUTE TASK and EXECUTE MANAGED TASK for TRANSFORM",
            sql_file="03_task_privileges.sql",
        ),
        Step(
            "integrations",
            ACCOUNTADMIN,
            "storage and notification integrations",
            sql_file="10_integrations.sql",
        ),
        Step("suspend", c.transform_role, "suspend the task roots", sql_file="12_suspend.sql"),
        Step("landing", c.ingest_role, "file format and stage", sql_file="15_landing.sql"),
        Step("raw", c.ingest_role, "RAW tables and Snowpipe pipes", sql_file="20_raw.sql"),
        Step("silver", c.transform_role, "SILVER and OPS tables", sql_file="30_silver.sql"),
        Step("streams", c.transform_role, "streams", sql_file="40_streams.sql"),
        Step(
            "build-procedures",
            "",
            "procedure archive (snowflake/procedures.zip)",
            snow=("snowpark", "build", "--ignore-anaconda", *env),
            builds=True,
        ),
        Step(
            "procedures",
            c.transform_role,
            "Snowpark procedures from the archive",
            snow=("snowpark", "deploy", "--replace", "--warehouse", c.warehouse, *env),
        ),
        Step(
            "dbt",
            c.transform_role,
            f"dbt project {c.dbt_project} pinned to dbt {c.dbt_version}",
            snow=(
                "dbt",
                "deploy",
                c.dbt_project,
                "--source",
                "snowflake/dbt",
                "--profiles-dir",
                "{profiles_dir}",
                "--default-target",
                "prod",
                "--dbt-version",
                c.dbt_version,
                "--database",
                c.database,
                "--schema",
                "GOLD",
                "--warehouse",
                c.warehouse,
            ),
        ),
        Step("tasks", c.transform_role, "task graph and gold refresh", sql_file="60_tasks.sql"),
        Step(
            "dashboard",
            c.transform_role,
            "Streamlit app",
            snow=(
                "streamlit",
                "deploy",
                "dashboard",
                "--replace",
                "--warehouse",
                c.warehouse,
                *env,
            ),
        ),
        Step("dashboard-access", c.transform_role, "READ may open the app", sql_file="70_app.sql"),
        Step(
            "alerts",
            c.transform_role,
            "alerts, their thresholds and the views they read",
            sql_file="80_alerts.sql",
        ),
        Step(
            "resume",
            c.transform_role,
            "resume tasks (children first) and alerts",
            sql_file="90_resume.sql",
        ),
    ]
    return Plan(c, steps)


def build_teardown_plan(config: DeployConfig) -> Plan:
    """Everything the deploy made, dropped: a plan of its own, which `mempool deploy`
    runs only when asked for by --teardown. Each step runs as the role that owns what it
    drops: what bills on its own (the app, the dbt project, the tasks, the pipes) goes
    first, by name, so a refused later step leaves nothing running; then the database
    and warehouse, the integrations, and last the users and roles every step ran as."""
    c = config
    folder = TEARDOWN_DIR
    steps = [
        Step("suspend", c.transform_role, "suspend the task roots", sql_file="12_suspend.sql"),
        Step(
            "drop-app",
            c.transform_role,
            "drop the app, the gold task, the dbt project and the task graph",
            sql_file=f"{folder}/10_app.sql",
        ),
        Step("drop-pipes", c.ingest_role, "drop the pipes", sql_file=f"{folder}/20_pipes.sql"),
        Step(
            "drop-database",
            SYSADMIN,
            "drop the database and the warehouse",
            sql_file=f"{folder}/30_database.sql",
        ),
        Step(
            "drop-integrations",
            ACCOUNTADMIN,
            "drop the storage and notification integrations",
            sql_file=f"{folder}/40_integrations.sql",
        ),
        Step(
            "drop-roles",
            SECURITYADMIN,
            "drop the CI users and the roles",
            sql_file=f"{folder}/50_roles.sql",
        ),
    ]
    return Plan(c, steps)


def command(step: Step, config: DeployConfig, connection: str, profiles_dir: str) -> list[str]:
    """The exact command line of a step."""
    if step.sql_file:
        argv = ["snow", "sql", "-f", f"snowflake/sql/{step.sql_file}"]
        values = config.values()
        for name in template_variables(step):
            argv += ["-D", f"{name}={values[name]}"]
    else:
        argv = ["snow", *(a.replace("{profiles_dir}", profiles_dir) for a in step.snow)]
    if not step.builds:
        argv += ["--connection", connection, "--role", step.role]
    return argv


@contextmanager
def dbt_profiles(config: DeployConfig) -> Iterator[Path]:
    """The profiles.yml staged with the dbt project: the repository's prod target alone,
    every value a literal (the deploy's database, warehouse and role). dbt Projects on
    Snowflake run it under the task owner's account and user, so those are empty, and
    they do not support env_var() when the project object runs; the local target (the
    fakesnow server) has nothing to do there.
    https://docs.snowflake.com/en/user-guide/data-engineering/dbt-projects-on-snowflake-limitations"""
    profiles = yaml.safe_load((DBT_DIR / "profiles.yml").read_text())
    prod = profiles["mempool"]["outputs"]["prod"]
    staged = {
        "mempool": {
            "target": "prod",
            "outputs": {
                "prod": {
                    "type": "snowflake",
                    "account": "",
                    "user": "",
                    "role": config.transform_role,
                    "warehouse": config.warehouse,
                    "database": config.database,
                    "schema": prod["schema"],
                    "threads": prod["threads"],
                }
            },
        }
    }
    with tempfile.TemporaryDirectory(prefix="mempool-dbt-profiles-") as tmp:
        path = Path(tmp) / "profiles.yml"
        path.write_text(yaml.safe_dump(staged, sort_keys=False))
        yield Path(tmp)


def select_steps(plan: Plan, only: Sequence[str] = (), skip_admin: bool = False) -> list[Step]:
    wanted = set(only)
    unknown = wanted - set(plan.names())
    if unknown:
        raise DeployError(
            f"unknown step(s): {', '.join(sorted(unknown))}; steps: {', '.join(plan.names())}"
        )
    chosen = [s for s in plan.steps if not wanted or s.name in wanted]
    if skip_admin:
        chosen = [s for s in chosen if not s.is_admin]
    return chosen


def describe(
    plan: Plan, steps: list[Step], connection: str, profiles_dir: str, with_sql: bool
) -> Iterator[str]:
    for number, step in enumerate(steps, 1):
        who = "local build" if step.builds else f"as {step.role}"
        yield f"# {number}/{len(steps)} {step.name}: {step.what} ({who})"
        yield "$ " + " ".join(
            quote(a) for a in command(step, plan.config, connection, profiles_dir)
        )
        if with_sql and step.sql_file:
            for statement in rendered_statements(step, plan.config):
                yield statement.rstrip() + ";"
        yield ""


def quote(arg: str) -> str:
    return arg if re.match(r"^[\w@%+=:,./-]+$", arg) else "'" + arg.replace("'", "'\\''") + "'"


def run_deploy(
    config: DeployConfig,
    connection: str,
    *,
    dry_run: bool = False,
    only: Sequence[str] = (),
    skip_admin: bool = False,
    teardown: bool = False,
    confirm: str = "",
    out: Callable[[str], None] = print,
    runner: Callable[[list[str]], int] | None = None,
) -> int:
    """Run (or print) the chosen steps in order; stop at the first that fails. With
    `teardown`, the teardown's steps instead of the deploy's; a real one only when
    `confirm` names the database it drops."""
    if teardown and not dry_run and confirm.upper() != config.database:
        raise DeployError(
            f"a teardown drops database {config.database} with every row in it, the "
            f"warehouse, integrations, roles and CI users: pass --confirm {config.database} "
            "(see it first with --dry-run)"
        )
    missing = config.missing_aws_values()
    if missing and dry_run and not teardown:
        out(f"# not given, examples shown: {', '.join(missing)} (Terraform outputs)")
        config = config.with_examples()
    plan = build_teardown_plan(config) if teardown else build_plan(config)
    steps = select_steps(plan, only, skip_admin)
    needs_aws = [
        s.name for s in steps if s.sql_file and set(template_variables(s)) & set(AWS_VALUES)
    ]
    if missing and not dry_run and needs_aws:
        flags = ", ".join("--" + m.replace("_", "-") for m in missing)
        raise DeployError(
            f"steps {', '.join(needs_aws)} need {flags} "
            "(outputs of `terraform apply`, see docs/deploy.md)"
        )
    with dbt_profiles(config) as profiles_dir:
        if dry_run:
            for line in describe(plan, steps, connection, str(profiles_dir), with_sql=True):
                out(line)
            return 0
        snow = snow_binary()
        run = runner or (lambda argv: subprocess.run(argv, cwd=REPO, check=False).returncode)
        for number, step in enumerate(steps, 1):
            argv = command(step, config, connection, str(profiles_dir))
            out(f"[{number}/{len(steps)}] {step.name}: {step.what}")
            code = run([snow, *argv[1:]])
            if code != 0:
                what = "teardown" if teardown else "deploy"
                out(f"{what} stopped: step {step.name!r} failed (exit {code})")
                return code
    if teardown:
        out(f"tore down {len(steps)} step(s) of {config.database}")
        return 0
    out(f"deployed {len(steps)} step(s) to {config.database}")
    return 0
