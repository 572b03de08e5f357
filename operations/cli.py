"""`mempool`: one command line for the platform.

The commands here are the operator's: they run against real accounts (deploy, sql -c),
run the production entry points (stream, poll, backfill) or read the project's settings
(budget). The local-only commands (demo, verify, sim) live in `sandbox/` and register
themselves through the `mempool.commands` entry-point group, so this package never
imports the sandbox; where an operator command has a local default (`mempool sql` on the
running stack, stream/poll/backfill pointed at it), the sandbox lends it as a hook.

Subcommands import their code only when run, so `mempool --help` stays fast and the
production entry points never load the local sandbox's emulators.

Length: mostly the operator commands' flags, kept beside the command each belongs to.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

Handler = Callable[[argparse.Namespace], int]
COMMANDS_GROUP = "mempool.commands"


@dataclass
class LocalHooks:
    """What a plugin lends the operator commands for a stack on this machine; without
    one they need an explicit target (`sql --connection`, the usual AWS settings)."""

    # A DB-API connection to the local warehouse, given the schema names resolve in.
    connection: Callable[[str | None], AbstractContextManager[Any]] | None = None
    # Fills in unset settings (endpoint, bucket, API) from a running local stack.
    defaults: Callable[[], None] | None = None


@dataclass
class Registry:
    """What `register(registry)` of a `mempool.commands` entry point receives: the
    subparsers to add its commands to, and the hooks it may set."""

    commands: Any
    local: LocalHooks = field(default_factory=LocalHooks)


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def port_number(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0 picks a free one), not {text}")
    return value


def _sql(args: argparse.Namespace) -> int:
    from operations.sqlcmd import run_sql_command

    hooks: LocalHooks = args.local
    return run_sql_command(
        args.query,
        connection=args.connection,
        output=args.format,
        schema=args.schema,
        local_connection=hooks.connection,
    )


def _add_sql(sub: Any) -> None:
    p = sub.add_parser(
        "sql",
        help="run SQL on the warehouse (the local stack by default) and print the rows",
        description="Run one or more ;-separated statements and print each result as it "
        "completes; the first failing statement stops the run (exit 1) after the results "
        "before it. The local warehouse is the demo's in $MEMPOOL_HOME (default: "
        ".mempool in the current directory), running or stopped.",
    )
    p.add_argument("query", help="SQL text, or @FILE to read it from a file, or - for stdin")
    p.add_argument(
        "--connection",
        "-c",
        default=None,
        help="a Snowflake connection name from ~/.snowflake/connections.toml; "
        "default: the running local stack",
    )
    p.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="how each result is printed: a table for reading, csv or json (one array per "
        "statement) for other programs (default table)",
    )
    p.add_argument(
        "--schema",
        default=None,
        help="the schema unqualified names resolve in (SILVER, GOLD, OPS, RAW); "
        "default: none, so write SCHEMA.TABLE",
    )
    p.set_defaults(func=_sql)


def _status(args: argparse.Namespace) -> int:
    from operations.status import run_status

    hooks: LocalHooks = args.local
    return run_status(
        args.connection,
        args.database,
        output=args.format,
        only=[c for c in (args.only or "").split(",") if c],
        local_connection=hooks.connection,
    )


def _add_status(sub: Any) -> None:
    from operations.status import CHECKS

    checks = "; ".join(f"{c.name}: {c.summary}" for c in CHECKS)
    p = sub.add_parser(
        "status",
        help="what an operator checks first: pipes, tasks, backlog, freshness, "
        "reconciliation, quarantine, streams",
        description="Run each check against the warehouse (the local stack by default) and "
        "print OK or ATTENTION with its figure. Exit 0 when all is well, 1 when a check "
        "needs attention, 2 when the warehouse cannot be reached. docs/runbook.md has a "
        f"section per check. The checks: {checks}.",
    )
    p.add_argument(
        "--connection",
        "-c",
        default=None,
        help="a Snowflake connection name from ~/.snowflake/connections.toml; "
        "default: the local stack",
    )
    p.add_argument(
        "--database",
        default=os.environ.get("MEMPOOL_DATABASE", "MEMPOOL"),
        help="the database the deploy made [env MEMPOOL_DATABASE; default MEMPOOL]",
    )
    p.add_argument(
        "--only",
        default="",
        metavar="CHECK[,CHECK]",
        help=f"run only these checks, of: {', '.join(c.name for c in CHECKS)}",
    )
    p.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text for reading, json (one object per check) for CI (default text)",
    )
    p.set_defaults(func=_status)


def _budget(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from operations.bill import Prices, Usage, compute, read_settings, render_text, splice
    from operations.budget import Assumptions, gold_stages, render, silver_stages
    from operations.tradeoffs import cost_section, render_profiles

    assume = Assumptions(
        pipe_latency_s=args.pipe_latency,
        trigger_latency_s=args.trigger_latency,
        procedure_run_s=args.procedure_run,
        dbt_run_s=args.dbt_run,
    )
    from operations.deploy import DeployConfig

    refresh = args.gold_refresh_minutes
    if refresh is None:
        refresh = DeployConfig().gold_refresh_minutes
    trigger = args.silver_trigger_seconds
    if trigger is None:
        trigger = DeployConfig().silver_trigger_seconds
    idle = args.silver_idle_minutes
    if idle is None:
        idle = DeployConfig().silver_idle_minutes
    gold_idle = args.gold_idle_minutes
    if gold_idle is None:
        gold_idle = DeployConfig().gold_idle_minutes
    settings = read_settings(
        refresh,
        silver_trigger_seconds=trigger,
        silver_idle_minutes=idle,
        gold_idle_minutes=gold_idle,
    )
    if args.streamer_count is not None:
        settings = replace(
            settings, streamer_count=args.streamer_count, streamer_count_source="--streamer-count"
        )
    buffer = args.firehose_buffer_seconds
    if buffer is not None:
        settings = replace(settings, firehose_buffer_s=float(buffer))
    prices = Prices(credit_usd=args.credit_price, ec2_hourly_usd=args.ec2_hourly)
    usage = Usage(
        stream_gb_per_day=args.stream_gb_per_day,
        task_compute_s=args.task_compute,
        dbt_run_s=args.dbt_run,
        dbt_test_s=args.dbt_test,
        dashboard_hours_per_day=args.dashboard_hours,
    )
    bill = compute(settings, prices, usage)
    if args.update_doc is not None:
        path = Path(args.update_doc)
        path.write_text(splice(path.read_text(), cost_section(bill, assume, prices, usage)))
        print(f"wrote the cost table into {path}")
        return 0
    if args.format == "markdown":
        print(cost_section(bill, assume, prices, usage))
        return 0
    print(
        render(
            silver_stages(assume, trigger, buffer_s=buffer),
            gold_stages(assume, refresh),
            idle=silver_stages(assume, trigger, idle_minutes=idle, buffer_s=buffer),
            assume=assume,
        )
    )
    print(render_text(bill))
    print()
    print(render_profiles(assume, prices, usage, buffer_s=buffer))
    return 0


def buffer_seconds(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 900:
        raise argparse.ArgumentTypeError("Firehose buffers between 1 and 900 seconds here")
    return value


def _add_budget(sub: Any) -> None:
    from operations.bill import Prices, Usage
    from operations.budget import Assumptions

    defaults, usage, prices = Assumptions(), Usage(), Prices()
    p = sub.add_parser(
        "budget",
        help="how stale production data can be and what it costs, from the configured settings",
        description="The freshness budget of a production deploy: each stage from a frame "
        "to a SILVER row, then to a Live tile (the app's query cache and page refresh) and "
        "to a History mart (REFRESH_GOLD's schedule and dbt run), bounded by the project's "
        "settings (streamer, Terraform, task definitions, deploy, the app) or, where "
        "Snowflake sets it, an assumption. Then the monthly bill of every stage from the "
        "same settings, in credits and dollars, and the cost of each hour the dashboard is "
        "open; lines resting on an assumption say `estimated`.",
    )
    p.add_argument(
        "--gold-refresh-minutes",
        type=int,
        default=None,
        help="REFRESH_GOLD's schedule (how often it checks for a requested run), as passed "
        "to `mempool deploy` (default: the deploy's)",
    )
    p.add_argument(
        "--gold-idle-minutes",
        type=int,
        default=None,
        help="GOLD_TICK's schedule (REFRESH_GOLD's pace with nobody watching History), as "
        "passed to `mempool deploy` (default: the deploy's)",
    )
    p.add_argument(
        "--silver-trigger-seconds",
        type=int,
        default=None,
        help="REFRESH_SILVER's minimum trigger interval, as passed to `mempool deploy` "
        "(default: the deploy's)",
    )
    p.add_argument(
        "--firehose-buffer-seconds",
        type=buffer_seconds,
        default=None,
        help="the landing streams' buffering interval, Terraform's firehose_buffer_seconds "
        "(1 to 900; default: variables.tf's; zero buffering is not modelled)",
    )
    p.add_argument(
        "--silver-idle-minutes",
        type=int,
        default=None,
        help="SILVER_TICK's schedule (REFRESH_SILVER's pace with nobody watching Live), as "
        "passed to `mempool deploy` (default: the deploy's)",
    )
    for flag, value, what in (
        ("--pipe-latency", defaults.pipe_latency_s, "S3 event to rows loaded by Snowpipe"),
        ("--trigger-latency", defaults.trigger_latency_s, "stream data to triggered task start"),
        ("--procedure-run", defaults.procedure_run_s, "a procedure's typical run"),
        (
            "--dbt-run",
            defaults.dbt_run_s,
            "REFRESH_GOLD's dbt run (its time and its warehouse bill)",
        ),
        ("--dbt-test", usage.dbt_test_s, "TEST_GOLD's dbt test (its warehouse bill)"),
        (
            "--task-compute",
            usage.task_compute_s,
            "billed compute of one serverless task run or alert check (estimated)",
        ),
    ):
        p.add_argument(
            flag,
            type=positive_float,
            default=value,
            metavar="SECONDS",
            help=f"{what} (%(default)s)",
        )
    p.add_argument(
        "--credit-price",
        type=positive_float,
        default=prices.credit_usd,
        metavar="USD",
        help="dollars per Snowflake credit (%(default)s: on demand, Enterprise, AWS us-east-1)",
    )
    p.add_argument(
        "--streamer-count",
        type=int,
        default=None,
        help="streamer instances (default: Terraform's streamer_count, or 1 where it has none)",
    )
    p.add_argument(
        "--ec2-hourly",
        type=positive_float,
        default=None,
        metavar="USD",
        help="the streamer instance type's hourly price (default: its us-east-1 list price)",
    )
    p.add_argument(
        "--stream-gb-per-day",
        type=positive_float,
        default=usage.stream_gb_per_day,
        metavar="GB",
        help="uncompressed NDJSON one streamer lands a day (%(default)s, estimated)",
    )
    p.add_argument(
        "--dashboard-hours",
        type=float,
        default=usage.dashboard_hours_per_day,
        metavar="HOURS",
        help="hours a day the dashboard is open, for its monthly example (%(default)s)",
    )
    p.add_argument(
        "--format",
        choices=["text", "markdown"],
        default="text",
        help="text: freshness and cost; markdown: the cost table docs/deploy.md holds",
    )
    p.add_argument(
        "--update-doc",
        default=None,
        metavar="FILE",
        help="write the markdown cost table between FILE's budget markers (docs/deploy.md)",
    )
    p.set_defaults(func=_budget)


def _use_local_stack_defaults(args: argparse.Namespace) -> None:
    """When a local stack is running and no endpoint is configured, point at it."""
    hooks: LocalHooks = args.local
    if hooks.defaults is not None:
        hooks.defaults()


def _stream(args: argparse.Namespace) -> int:
    import asyncio

    from ingest.config import Settings, resolve_region
    from ingest.stream_main import build_streamer

    _use_local_stack_defaults(args)
    settings = Settings.load()
    region, source = resolve_region()
    logging.getLogger("mempool.stream").info("region %s (from %s)", region, source)
    streamer = build_streamer(settings, region)

    async def bounded() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        import signal

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if args.duration:
            loop.call_later(args.duration, stop.set)
        await streamer.run(stop)

    asyncio.run(bounded())
    return 0


def _poll(args: argparse.Namespace) -> int:
    import json

    from ingest import aws
    from ingest.config import Settings
    from ingest.mempool_api import MempoolApi
    from ingest.poller import Poller, PollOptions

    _use_local_stack_defaults(args)
    settings = Settings.load()
    api = MempoolApi(settings.api_base, settings.user_agent, settings.http_timeout_s)
    opts = PollOptions(budget_s=args.budget, lookback_blocks=args.lookback)
    result = Poller(
        api, aws.client("s3"), settings.require_bucket(), settings.state_key, opts
    ).run()
    print(json.dumps(result.as_dict(), indent=2))
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from ingest import aws
    from ingest.backfill import Checkpoint, backfill_blocks, backfill_prices
    from ingest.config import Settings
    from ingest.mempool_api import MempoolApi

    if args.what == "blocks" and args.from_ > args.to:
        raise ValueError(f"--from {args.from_} is above --to {args.to}")
    _use_local_stack_defaults(args)
    settings = Settings.load()
    api = MempoolApi(settings.api_base, settings.user_agent, settings.http_timeout_s)
    s3 = aws.client("s3")
    bucket = settings.require_bucket()
    if args.what == "blocks":
        path = args.checkpoint or Path(f".mempool/backfill-blocks-{args.from_}-{args.to}.json")
        n = backfill_blocks(
            api, s3, bucket, args.from_, args.to, Checkpoint(path), rate_per_s=args.rate
        )
    else:
        since = datetime.fromisoformat(args.since).replace(tzinfo=UTC)
        until = (
            datetime.fromisoformat(args.until).replace(tzinfo=UTC)
            if args.until
            else datetime.now(UTC)
        )
        path = args.checkpoint or Path(f".mempool/backfill-prices-{args.currency}.json")
        n = backfill_prices(
            api,
            s3,
            bucket,
            since,
            until,
            Checkpoint(path),
            currency=args.currency,
            rate_per_s=args.rate,
        )
    print(f"wrote {n} records")
    return 0


def _add_ingest(sub: Any) -> None:
    from pathlib import Path

    p = sub.add_parser(
        "stream",
        help="run the WebSocket streamer (the EC2 service)",
        description="Stream mempool.space frames to Firehose until stopped.",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C / SIGTERM)",
    )
    p.set_defaults(func=_stream)

    p = sub.add_parser(
        "poll",
        help="run the REST poller once (what the Lambda runs)",
        description="One poller run: new blocks, gaps, prices, fees, mempool.",
    )
    p.add_argument("--budget", type=positive_float, default=6.0, help="time budget in seconds")
    p.add_argument(
        "--lookback",
        type=non_negative_int,
        default=144,
        help="blocks of history the first run starts from",
    )
    p.set_defaults(func=_poll)

    p = sub.add_parser(
        "backfill",
        help="load history (blocks or prices) in the same contract",
        description="Resumable, rate-limited history loads to the landing bucket.",
    )
    what = p.add_subparsers(dest="what", required=True, metavar="WHAT")
    b = what.add_parser(
        "blocks",
        help="blocks by height range",
        description="Backfill blocks --from H --to H (inclusive).",
    )
    b.add_argument(
        "--from", dest="from_", type=non_negative_int, required=True, help="lowest height"
    )
    b.add_argument("--to", type=non_negative_int, required=True, help="highest height")
    b.add_argument("--rate", type=positive_float, default=2.0, help="requests per second")
    b.add_argument("--checkpoint", type=Path, default=None, help="checkpoint file")
    b.set_defaults(func=_backfill)
    pr = what.add_parser(
        "prices",
        help="hourly prices since a date",
        description="Backfill prices --since YYYY-MM-DD (hourly).",
    )
    pr.add_argument("--since", required=True, help="start date (YYYY-MM-DD[THH:MM])")
    pr.add_argument("--until", default=None, help="end date (default: now)")
    pr.add_argument("--currency", default="USD")
    pr.add_argument("--rate", type=positive_float, default=2.0, help="requests per second")
    pr.add_argument("--checkpoint", type=Path, default=None, help="checkpoint file")
    pr.set_defaults(func=_backfill)


def _deploy(args: argparse.Namespace) -> int:
    from operations.deploy import DeployConfig, run_deploy

    config = DeployConfig(
        database=args.database,
        warehouse=args.warehouse,
        ingest_role=args.ingest_role,
        transform_role=args.transform_role,
        read_role=args.read_role,
        deploy_user=args.deploy_user,
        dbt_version=args.dbt_version,
        gold_refresh_minutes=args.gold_refresh_minutes,
        gold_idle_minutes=args.gold_idle_minutes,
        gold_test_hours=args.gold_test_hours,
        silver_trigger_seconds=args.silver_trigger_seconds,
        silver_idle_minutes=args.silver_idle_minutes,
        bucket=args.bucket,
        storage_role_arn=args.storage_role_arn,
        error_topic_arn=args.error_topic_arn,
        error_role_arn=args.error_role_arn,
    )
    only = [s for s in (args.only or "").split(",") if s]
    return run_deploy(
        config,
        args.connection,
        dry_run=args.dry_run,
        only=only,
        skip_admin=args.skip_admin,
        teardown=args.teardown,
        confirm=args.confirm,
    )


# Each deploy setting: its flag, the environment variable it defaults from (what the CI
# workflow sets), its default, and what it is.
DEPLOY_SETTINGS = (
    ("--database", "MEMPOOL_DATABASE", "MEMPOOL", "the database everything goes in"),
    ("--warehouse", "MEMPOOL_WAREHOUSE", "MEMPOOL_WH", "the warehouse gold and the app run on"),
    (
        "--ingest-role",
        "MEMPOOL_INGEST_ROLE",
        "",
        "the role that owns RAW and the pipes (default <database>_INGEST)",
    ),
    (
        "--transform-role",
        "MEMPOOL_TRANSFORM_ROLE",
        "",
        "the role that owns everything downstream of RAW (default <database>_TRANSFORM)",
    ),
    (
        "--read-role",
        "MEMPOOL_READ_ROLE",
        "",
        "the role that reads GOLD and OPS and opens the app (default <database>_READ)",
    ),
    (
        "--deploy-user",
        "MEMPOOL_DEPLOY_USER",
        "",
        "the service user CI deploys as, granted INGEST and TRANSFORM (default <database>_DEPLOY)",
    ),
    ("--bucket", "MEMPOOL_BUCKET", "", "the landing bucket (terraform output bucket)"),
    (
        "--storage-role-arn",
        "MEMPOOL_STORAGE_ROLE_ARN",
        "",
        "the IAM role Snowflake reads the bucket with (terraform output storage_role_arn)",
    ),
    (
        "--error-topic-arn",
        "MEMPOOL_ERROR_TOPIC_ARN",
        "",
        "the SNS topic for task failures (terraform output error_topic_arn)",
    ),
    (
        "--error-role-arn",
        "MEMPOOL_ERROR_ROLE_ARN",
        "",
        "the IAM role Snowflake publishes to that topic with (terraform output error_role_arn)",
    ),
)


def _add_deploy(sub: Any) -> None:
    from operations.deploy import DBT_VERSION, DeployConfig, build_plan, build_teardown_plan

    def env(name: str, default: str) -> str:
        # A variable set but empty is unset: GitHub Actions passes a repository variable
        # nobody defined as "", and the deploy workflow names every one it may pass.
        return os.environ.get(name) or default

    steps = ", ".join(build_plan(DeployConfig()).names())
    teardown_steps = ", ".join(build_teardown_plan(DeployConfig()).names())
    variables = ", ".join(
        [
            "MEMPOOL_SNOW_CONNECTION",
            *(var for _, var, _, _ in DEPLOY_SETTINGS),
            "MEMPOOL_GOLD_REFRESH_MINUTES",
            "MEMPOOL_GOLD_IDLE_MINUTES",
            "MEMPOOL_SILVER_TRIGGER_SECONDS",
            "MEMPOOL_SILVER_IDLE_MINUTES",
        ]
    )
    p = sub.add_parser(
        "deploy",
        help="deploy the Snowflake side to an account, step by step, with the Snowflake CLI",
        description="Every step in order: roles, database, grants, task privileges, "
        "integrations (as the administrator roles), then suspend the tasks, landing, RAW "
        "and pipes, SILVER, streams, procedures, dbt project, tasks, dashboard and resume "
        "(as the platform's own roles); a first deploy and an upgrade alike. "
        "--dry-run prints every command and rendered SQL statement without connecting; "
        "--teardown drops everything the deploy made instead.",
        epilog=f"Every setting defaults from its environment variable when set: {variables}. "
        "docs/deploy.md walks through a first deploy.",
    )
    p.add_argument(
        "--connection",
        default=env("MEMPOOL_SNOW_CONNECTION", "default"),
        help="the Snowflake CLI connection name in connections.toml "
        "[env MEMPOOL_SNOW_CONNECTION; default: default]",
    )
    p.add_argument("--dry-run", action="store_true", help="print the deploy; connect to nothing")
    p.add_argument(
        "--only",
        default="",
        metavar="STEP[,STEP]",
        help=f"run only these steps, of: {steps}",
    )
    p.add_argument(
        "--skip-admin",
        action="store_true",
        help="skip the SECURITYADMIN/SYSADMIN/ACCOUNTADMIN steps (CI service users)",
    )
    p.add_argument(
        "--teardown",
        action="store_true",
        help="drop everything the deploy made instead of deploying, each step as the role "
        "that owns what it drops: suspend the tasks, drop the app, dbt project and tasks, "
        "the pipes, the database (all its data) and warehouse, the integrations, the CI "
        f"users and roles (steps, for --only: {teardown_steps}). No Terraform output "
        "needed; with --dry-run it prints every statement, otherwise it needs --confirm",
    )
    p.add_argument(
        "--confirm",
        default="",
        metavar="DATABASE",
        help="the database a real --teardown drops, typed out: without it a teardown "
        "refuses to run",
    )
    for flag, variable, default, what in DEPLOY_SETTINGS:
        shown = f"; default {default}" if default else ""
        p.add_argument(flag, default=env(variable, default), help=f"{what} [env {variable}{shown}]")
    p.add_argument(
        "--dbt-version",
        default=DBT_VERSION,
        help=f"the dbt Core version the dbt project runs (default {DBT_VERSION})",
    )
    p.add_argument(
        "--gold-refresh-minutes",
        type=int,
        default=int(env("MEMPOOL_GOLD_REFRESH_MINUTES", "5")),
        help="while the History page is open, REFRESH_GOLD runs dbt (the incremental "
        "models and views) about this often; a check nobody asked for costs no warehouse "
        "[env MEMPOOL_GOLD_REFRESH_MINUTES; default 5]",
    )
    p.add_argument(
        "--gold-idle-minutes",
        type=int,
        default=int(env("MEMPOOL_GOLD_IDLE_MINUTES", "360")),
        help="with nobody watching History, REFRESH_GOLD runs about this often (GOLD_TICK); "
        "each run wakes the warehouse [env MEMPOOL_GOLD_IDLE_MINUTES; default 360]",
    )
    p.add_argument(
        "--gold-test-hours",
        type=int,
        default=int(env("MEMPOOL_GOLD_TEST_HOURS", "6")),
        help="how often TEST_GOLD runs the dbt tests, after a REFRESH_GOLD run "
        "[env MEMPOOL_GOLD_TEST_HOURS; default 6]",
    )
    p.add_argument(
        "--silver-trigger-seconds",
        type=int,
        default=int(env("MEMPOOL_SILVER_TRIGGER_SECONDS", "60")),
        help="at most one REFRESH_SILVER run this often (its minimum trigger interval): "
        "fewer runs cost less, and Live is staler by as much "
        "[env MEMPOOL_SILVER_TRIGGER_SECONDS; default 60]",
    )
    p.add_argument(
        "--silver-idle-minutes",
        type=int,
        default=int(env("MEMPOOL_SILVER_IDLE_MINUTES", "10")),
        help="with nobody watching Live, REFRESH_SILVER runs about this often (SILVER_TICK); "
        "while the Live page is open it runs at the trigger interval "
        "[env MEMPOOL_SILVER_IDLE_MINUTES; default 10]",
    )
    p.set_defaults(func=_deploy)


REGISTRARS: list[Callable[[Any], None]] = [
    _add_sql,
    _add_status,
    _add_ingest,
    _add_deploy,
    _add_budget,
]


def register_plugins(registry: Registry) -> None:
    """Every installed `mempool.commands` entry point adds its commands (the sandbox's
    demo, verify and sim, when the project is installed for development)."""
    for plugin in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        plugin.load()(registry)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mempool",
        description="Bitcoin mempool data platform: ingestion, local stack and tools.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    registry = Registry(sub)
    # Plugins first: the local commands a newcomer starts with (demo) lead the help.
    register_plugins(registry)
    for register in REGISTRARS:
        register(sub)
    parser.set_defaults(local=registry.local)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # The connector and botocore narrate every connection at INFO; keep the console useful.
    for noisy in ("snowflake.connector", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    handler: Handler = args.func
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # What a user can fix (a missing setting, a bad range, a missing tool) gets one
        # line and a non-zero exit; -v shows the traceback.
        if args.verbose or not is_user_error(exc):
            raise
        print(f"mempool {args.command}: {exc}", file=sys.stderr)
        return 2


def is_user_error(exc: BaseException) -> bool:
    from ingest.config import ConfigError
    from operations.artifacts import ArtifactError
    from operations.deploy import DeployError

    return isinstance(exc, ConfigError | ArtifactError | DeployError | ValueError)


if __name__ == "__main__":
    sys.exit(main())
