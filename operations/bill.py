"""The monthly bill of a production deploy, from the settings `mempool budget` reads.

Each line is computed from what the project configures (Terraform's variables and
resources, the warehouse and task definitions, the deploy's gold interval, the app's
sleep timer and refresh) and from prices: the credit price is an input, list prices are
the constants below with the page they come from. What no setting bounds (how much data
a streamer lands a day, how long a task run computes) is an assumption the caller may
change, and every line that rests on one says `estimated`. docs/deploy.md's cost table
is this module's markdown, spliced between markers (tests/test_budget.py fails when the
doc and the settings disagree).

Length: one section per billed stage (its setting, billing rule, price and source) and
the readers of the files that set them; split apart, a month's arithmetic would be
spread over modules that each hold a piece of the same sum.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from operations.budget import REPO, TASKS_SQL, TF_DIR, app_setting, hcl_blocks, silver_idle_s

DATABASE_SQL = REPO / "snowflake" / "sql" / "01_database.sql"
SQL_DIR = REPO / "snowflake" / "sql"
APP_CONFIG = REPO / "streamlit_app" / ".streamlit" / "config.toml"
LIVE_PY = REPO / "streamlit_app" / "mempool_dashboard" / "live.py"
DOC_BEGIN = "<!-- mempool budget --format markdown: begin -->"
DOC_END = "<!-- mempool budget --format markdown: end -->"
# AWS bills a month as 730 hours; every monthly figure here uses the same month.
HOURS_PER_MONTH = 730.0
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
# Credits an hour of a standard warehouse, by size (Snowflake's warehouse docs:
# https://docs.snowflake.com/en/user-guide/warehouses-overview#warehouse-size).
WAREHOUSE_CREDITS_PER_HOUR = {
    "XSMALL": 1,
    "SMALL": 2,
    "MEDIUM": 4,
    "LARGE": 8,
    "XLARGE": 16,
}
# EC2 Linux on-demand, us-east-1 (https://aws.amazon.com/ec2/pricing/on-demand/). An
# instance type missing here needs --ec2-hourly.
EC2_HOURLY_USD = {
    "t4g.nano": 0.0042,
    "t4g.micro": 0.0084,
    "t4g.small": 0.0168,
    "t4g.medium": 0.0336,
    "t4g.large": 0.0672,
}


@dataclass(frozen=True, slots=True)
class Prices:
    """List prices, us-east-1, on demand. Change them for another region or a contract."""

    credit_usd: float = 3.0  # Enterprise edition on demand, AWS us-east-1 (an input)
    # https://docs.snowflake.com/en/user-guide/data-load-snowpipe-billing: a fixed credit
    # amount per GB, text files counted uncompressed; the amount is in Snowflake's
    # Service Consumption Table.
    snowpipe_credits_per_gb: float = 0.0037
    # Serverless tasks' compute multiplier (Service Consumption Table), on compute sized
    # at least XSMALL (SERVERLESS_TASK_MIN_STATEMENT_SIZE's default): 1 credit an hour.
    serverless_task_multiplier: float = 0.9
    # The smallest compute pool node (CPU_X64_XS), for the container runtime comparison
    # (Service Consumption Table).
    compute_pool_xs_credits_per_hour: float = 0.06
    # https://www.snowflake.com/en/pricing-options/ (on demand, AWS us-east-1).
    snowflake_storage_usd_per_tb_month: float = 23.0
    # https://aws.amazon.com/firehose/pricing/: Direct PUT, first 500 TB, each record
    # rounded up to 5 KB (the streamer packs lines into records of up to 1,000 KiB).
    firehose_usd_per_gb: float = 0.029
    # https://aws.amazon.com/lambda/pricing/ (x86_64: lambda.tf sets no architecture).
    lambda_usd_per_gb_s: float = 0.0000166667
    lambda_usd_per_million_requests: float = 0.20
    # https://aws.amazon.com/s3/pricing/: S3 Standard, first 50 TB; PUT per 1,000.
    s3_usd_per_gb_month: float = 0.023
    s3_usd_per_1000_puts: float = 0.005
    # https://aws.amazon.com/ebs/pricing/: gp3 per GB-month.
    ebs_gp3_usd_per_gb_month: float = 0.08
    # https://aws.amazon.com/vpc/pricing/: every public IPv4 address, per hour.
    public_ipv4_usd_per_hour: float = 0.005
    # https://aws.amazon.com/cloudwatch/pricing/: detailed monitoring, 7 metrics at
    # $0.30 a metric-month per instance.
    detailed_monitoring_usd_per_instance: float = 2.10
    # None: the instance type's price from EC2_HOURLY_USD.
    ec2_hourly_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """What no setting bounds: the defaults are estimates, stated as such in the output."""

    # Contract records one streamer lands a day (every topic of the WebSocket feed),
    # uncompressed NDJSON; the poller's objects (blocks, prices, stats) beside them.
    stream_gb_per_day: float = 1.4
    poll_gb_per_day: float = 0.1
    # Billed compute of one REFRESH_SILVER run on a minute of data: the compute coming up
    # and the session starting (what a run this small mostly pays for), then five stages
    # of a few statements each. Measure it in SNOWFLAKE.ACCOUNT_USAGE.
    # SERVERLESS_TASK_HISTORY and pass --task-compute.
    task_compute_s: float = 4.0
    # One SILVER_TICK run: a one-row INSERT on serverless compute.
    tick_compute_s: float = 1.0
    # One serverless alert check: its condition, one query over an OPS view (billed as a
    # serverless task run is).
    alert_compute_s: float = 2.0
    # One REFRESH_GOLD run, `dbt run` of the gold project (the freshness budget's
    # --dbt-run): the incremental models merge a refresh interval's new rows and the
    # views are replaced; issue 22's aim is a run within a minute of an XS warehouse.
    dbt_run_s: float = 45.0
    # One TEST_GOLD run, `dbt test`: the tests read whole marts. The two together are
    # the 120 s the whole `dbt build` was estimated at before they were split.
    dbt_test_s: float = 75.0
    # Lambda: a poll's typical duration (its own budget is 6 s, the timeout 10 s).
    poll_run_s: float = 2.0
    # Objects the poller writes a run (blocks, prices, stats).
    poll_puts_per_run: float = 3.0
    # Snowflake's compressed size of RAW + SILVER against the landed NDJSON.
    stored_share: float = 0.3
    # The dashboard's example use: hours open a day.
    dashboard_hours_per_day: float = 1.0


@dataclass(frozen=True, slots=True)
class Settings:
    """What the deploy configures, read from the files that configure it."""

    streamer_count: int
    streamer_count_source: str
    instance_type: str
    root_volume_gb: float
    detailed_monitoring: bool
    firehose_streams: int
    firehose_buffer_s: float
    retention_days: float
    poll_per_hour: float
    lambda_memory_mb: float
    warehouse_size: str
    auto_suspend_s: float
    serverless_tasks: tuple[str, ...]
    silver_trigger_s: float
    silver_idle_minutes: float
    gold_refresh_minutes: int
    gold_idle_minutes: int
    gold_test_hours: int
    alerts: tuple[Alert, ...]
    sleep_minutes: float
    live_refresh_s: float


@dataclass(frozen=True, slots=True)
class Alert:
    name: str
    every_minutes: float
    warehouse: str | None  # None: a serverless alert


@dataclass(frozen=True, slots=True)
class Line:
    part: str
    setting: str
    billing: str
    credits: float  # Snowflake credits a month (0 for AWS)
    usd: float  # dollars a month, credits included
    estimated: bool
    note: str = ""


@dataclass(frozen=True, slots=True)
class Bill:
    lines: tuple[Line, ...]
    dashboard_hour_credits: float
    dashboard_hour_usd: float
    dashboard_visit_tail_min: float
    dashboard_month_credits: float
    container_month_credits: float
    settings: Settings
    prices: Prices
    usage: Usage = field(default_factory=Usage)

    def total(self, side: str | None = None) -> tuple[float, float]:
        chosen = [ln for ln in self.lines if side is None or side_of(ln) == side]
        return sum(ln.credits for ln in chosen), sum(ln.usd for ln in chosen)


AWS_PARTS = ("Firehose", "Lambda poller", "EC2 streamer", "S3 landing")


def side_of(line: Line) -> str:
    return "AWS" if line.part in AWS_PARTS else "Snowflake"


def terraform_default(name: str, variables: dict[str, object]) -> object | None:
    block = variables.get(f'"{name}"')
    value = block.get("default") if isinstance(block, dict) else None
    # python-hcl2 keeps a string's quotes.
    return value.strip('"') if isinstance(value, str) else value


def poll_rate_per_hour(schedule: str) -> float:
    """EventBridge's rate(N unit) as runs an hour; a cron expression needs --poll-per-hour."""
    match = re.fullmatch(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", schedule)
    if not match:
        raise ValueError(f"poll_schedule {schedule!r} is not a rate(); cannot count its runs")
    every = float(match[1]) * {"m": 1 / 60, "h": 1.0, "d": 24.0}[match[2][0]]
    return 1 / every


def parse_alerts(sql_dir: Path) -> tuple[Alert, ...]:
    """Every CREATE ALERT of the deploy's SQL: its schedule, and its warehouse if any."""
    alerts = []
    for path in sorted(sql_dir.glob("*.sql")):
        text = re.sub(r"--[^\n]*", "", path.read_text())
        for match in re.finditer(
            r"CREATE\s+(?:OR\s+REPLACE\s+)?ALERT\s+(?:IF\s+NOT\s+EXISTS\s+)?([^\n]+)\n(.*?)\bIF\s*\(",
            text,
            re.I | re.S,
        ):
            name, head = match[1].strip().split(".")[-1], match[2]
            schedule = re.search(r"SCHEDULE\s*=\s*'(\d+)\s*(MINUTES?|HOURS?|SECONDS?)'", head, re.I)
            if schedule is None:
                raise ValueError(f"{path.name}: alert {name} has a schedule this cannot read")
            unit = schedule[2][0].upper()
            minutes = float(schedule[1]) * {"M": 1.0, "H": 60.0, "S": 1 / 60}[unit]
            warehouse = re.search(r"WAREHOUSE\s*=\s*([^\n]+)", head, re.I)
            alerts.append(Alert(name, minutes, warehouse[1].strip() if warehouse else None))
    return tuple(alerts)


def streamer_machine(resources: dict[str, Any]) -> tuple[float, bool]:
    """The streamer's root volume (GB) and detailed monitoring, from its aws_instance or,
    where an Auto Scaling group runs the streamers, its aws_launch_template."""
    if '"aws_instance"' in resources:
        machine = next(iter(resources['"aws_instance"'].values()))
        root = (machine.get("root_block_device") or [{}])[0]
        monitoring = machine.get("monitoring", False)
    elif '"aws_launch_template"' in resources:
        machine = next(iter(resources['"aws_launch_template"'].values()))
        mapping = (machine.get("block_device_mappings") or [{}])[0]
        root = (mapping.get("ebs") or [{}])[0]
        monitoring = (machine.get("monitoring") or [{}])[0].get("enabled", False)
    else:
        raise ValueError("ec2.tf has neither an aws_instance nor an aws_launch_template")
    if "volume_size" not in root:
        raise ValueError("ec2.tf gives the streamer's root volume no volume_size")
    return float(root["volume_size"]), monitoring is True


def read_settings(
    gold_refresh_minutes: int,
    tf_dir: Path = TF_DIR,
    gold_test_hours: int | None = None,
    silver_trigger_seconds: int | None = None,
    sql_dir: Path = SQL_DIR,
    silver_idle_minutes: int | None = None,
    app_config: Path = APP_CONFIG,
    live_py: Path = LIVE_PY,
    gold_idle_minutes: int | None = None,
) -> Settings:
    variables = hcl_blocks(tf_dir / "variables.tf", "variable")
    count = terraform_default("streamer_count", variables)
    volume_gb, monitoring = streamer_machine(hcl_blocks(tf_dir / "ec2.tf", "resource"))
    lambdas = hcl_blocks(tf_dir / "lambda.tf", "resource")['"aws_lambda_function"']
    poller = next(iter(lambdas.values()))
    from operations.budget import firehose_buffer_seconds

    streams = hcl_blocks(tf_dir / "firehose.tf", "locals")["deliveries"]
    database_sql = (sql_dir / DATABASE_SQL.name).read_text()
    size = re.search(r"WAREHOUSE_SIZE\s*=\s*(\w+)", database_sql, re.I)
    suspend = re.search(r"AUTO_SUSPEND\s*=\s*(\d+)", database_sql, re.I)
    if size is None or suspend is None:
        raise ValueError(f"{DATABASE_SQL.name} no longer sets WAREHOUSE_SIZE and AUTO_SUSPEND")
    tasks_sql = (sql_dir / TASKS_SQL.name).read_text()
    serverless = tuple(
        m[1]
        for m in re.finditer(
            r"CREATE\s+OR\s+REPLACE\s+TASK\s+[^\n]*?\.(\w+)\s+TARGET_COMPLETION_INTERVAL", tasks_sql
        )
    )
    sleep = tomllib.loads(app_config.read_text())["snowflake"]["sleep"]
    from operations.deploy import DeployConfig

    if gold_test_hours is None:
        gold_test_hours = DeployConfig().gold_test_hours
    if silver_trigger_seconds is None:
        silver_trigger_seconds = DeployConfig().silver_trigger_seconds
    if silver_idle_minutes is None:
        silver_idle_minutes = DeployConfig().silver_idle_minutes
    if gold_idle_minutes is None:
        gold_idle_minutes = DeployConfig().gold_idle_minutes
    return Settings(
        streamer_count=int(count) if count is not None else 1,  # type: ignore[call-overload]
        streamer_count_source=(
            "terraform streamer_count" if count is not None else "one instance (ec2.tf)"
        ),
        instance_type=str(terraform_default("streamer_instance_type", variables)),
        root_volume_gb=volume_gb,
        detailed_monitoring=monitoring,
        firehose_streams=len(streams),
        firehose_buffer_s=firehose_buffer_seconds(tf_dir),
        retention_days=float(terraform_default("landing_retention_days", variables)),  # type: ignore[arg-type]
        poll_per_hour=poll_rate_per_hour(str(terraform_default("poll_schedule", variables))),
        lambda_memory_mb=float(poller["memory_size"]),
        warehouse_size=size[1].upper(),
        auto_suspend_s=float(suspend[1]),
        serverless_tasks=serverless,
        silver_trigger_s=float(silver_trigger_seconds),
        silver_idle_minutes=float(silver_idle_minutes),
        gold_refresh_minutes=gold_refresh_minutes,
        gold_idle_minutes=gold_idle_minutes,
        gold_test_hours=gold_test_hours,
        alerts=parse_alerts(sql_dir),
        sleep_minutes=float(sleep["streamlitSleepTimeoutMinutes"]),
        live_refresh_s=app_setting(live_py, r'LIVE_REFRESH = "(\d+)s"', "LIVE_REFRESH"),
    )


def compute(settings: Settings, prices: Prices | None = None, usage: Usage | None = None) -> Bill:
    p, u, s = prices or Prices(), usage or Usage(), settings
    credit = p.credit_usd
    n = s.streamer_count
    hourly = p.ec2_hourly_usd
    if hourly is None:
        if s.instance_type not in EC2_HOURLY_USD:
            raise ValueError(f"no price for {s.instance_type}: pass --ec2-hourly")
        hourly = EC2_HOURLY_USD[s.instance_type]
    wh_credits_h = WAREHOUSE_CREDITS_PER_HOUR[s.warehouse_size]
    # Every streamer sends the whole feed: Firehose, S3 and Snowpipe carry it once per
    # streamer (SILVER keeps one copy by the contract key).
    landed_gb_month = (n * u.stream_gb_per_day + u.poll_gb_per_day) * DAYS_PER_MONTH
    stream_gb_month = n * u.stream_gb_per_day * DAYS_PER_MONTH
    polls_month = s.poll_per_hour * HOURS_PER_MONTH
    # The streamers share the delivery streams: an object per stream and buffer interval
    # (at most: conversions' stream writes only when one arrives), whoever sends.
    flushes_month = s.firehose_streams * 86400 / s.firehose_buffer_s * DAYS_PER_MONTH
    lines = []

    def add(
        part: str,
        setting: str,
        billing: str,
        credits: float,
        aws_usd: float,
        estimated: bool,
        note: str = "",
    ) -> None:
        usd = aws_usd + credits * credit
        lines.append(Line(part, setting, billing, credits, usd, estimated, note))

    add(
        "Firehose",
        f"{s.firehose_streams} streams, {s.firehose_buffer_s:g} s buffer, "
        f"{n} streamer(s) x {u.stream_gb_per_day:g} GB/day",
        f"${p.firehose_usd_per_gb}/GB ingested (records packed, so the 5 KB rounding adds little)",
        0,
        stream_gb_month * p.firehose_usd_per_gb,
        True,
        f"{stream_gb_month:,.0f} GB",
    )
    gb_s = polls_month * u.poll_run_s * s.lambda_memory_mb / 1024
    add(
        "Lambda poller",
        f"{s.lambda_memory_mb:g} MB, a run every {60 / s.poll_per_hour:g} min, ~{u.poll_run_s:g} s",
        f"${p.lambda_usd_per_million_requests}/M requests + ${p.lambda_usd_per_gb_s:.10f}/GB-s "
        "(before the free tier)",
        0,
        polls_month / 1e6 * p.lambda_usd_per_million_requests + gb_s * p.lambda_usd_per_gb_s,
        True,
        f"{polls_month:,.0f} requests, {gb_s:,.0f} GB-s",
    )
    ec2 = n * HOURS_PER_MONTH * (hourly + p.public_ipv4_usd_per_hour)
    ec2 += n * s.root_volume_gb * p.ebs_gp3_usd_per_gb_month
    ec2 += n * p.detailed_monitoring_usd_per_instance * s.detailed_monitoring
    add(
        "EC2 streamer",
        f"{n} x {s.instance_type} ({s.streamer_count_source}) + {s.root_volume_gb:g} GB gp3"
        + (", detailed monitoring" if s.detailed_monitoring else ""),
        f"${hourly}/h + public IPv4 ${p.public_ipv4_usd_per_hour}/h + "
        f"${p.ebs_gp3_usd_per_gb_month}/GB-month"
        + (
            f" + ${p.detailed_monitoring_usd_per_instance}/month monitoring"
            if s.detailed_monitoring
            else ""
        )
        + " each",
        0,
        ec2,
        False,
    )
    stored_gb = landed_gb_month / DAYS_PER_MONTH * s.retention_days
    puts = flushes_month + polls_month * u.poll_puts_per_run
    add(
        "S3 landing",
        f"{s.retention_days:g}-day retention",
        f"${p.s3_usd_per_gb_month}/GB-month + ${p.s3_usd_per_1000_puts}/1,000 PUTs",
        0,
        stored_gb * p.s3_usd_per_gb_month + puts / 1000 * p.s3_usd_per_1000_puts,
        True,
        f"≈ {stored_gb:,.0f} GB kept, {puts:,.0f} PUTs",
    )
    add(
        "Snowpipe",
        "auto-ingest pipes, every landed byte",
        f"{p.snowpipe_credits_per_gb} credits/GB uncompressed",
        landed_gb_month * p.snowpipe_credits_per_gb,
        0,
        True,
        f"{landed_gb_month:,.0f} GB",
    )
    # Something lands more often than once a minute (each Firehose stream flushes every
    # buffer interval, the poller writes every run).
    idle_s = silver_idle_s(s.silver_idle_minutes, s.silver_trigger_s)
    runs_month = 86400 / idle_s * DAYS_PER_MONTH
    task_hours = runs_month * len(s.serverless_tasks) * u.task_compute_s / 3600
    add(
        "Serverless tasks",
        f"{len(s.serverless_tasks)} task(s) a run ({', '.join(s.serverless_tasks)}), with "
        f"nobody watching one run every {idle_s / 60:g} min (deploy silver_idle_minutes)",
        f"XSMALL-sized compute x {p.serverless_task_multiplier} a second; "
        f"~{u.task_compute_s:g} s a task run",
        task_hours * p.serverless_task_multiplier,
        0,
        True,
        f"{runs_month * len(s.serverless_tasks):,.0f} task runs",
    )
    add(
        "Silver tick",
        f"SILVER_TICK every {idle_s / 60:g} min (deploy silver_idle_minutes)",
        f"serverless, ~{u.tick_compute_s:g} s x {p.serverless_task_multiplier} a run "
        "(a one-row INSERT)",
        runs_month * u.tick_compute_s / 3600 * p.serverless_task_multiplier,
        0,
        True,
        f"{runs_month:,.0f} runs",
    )
    # With nobody watching History, GOLD_TICK's request is the only one: REFRESH_GOLD's
    # check runs dbt at the first schedule after it. A run wakes the warehouse, runs dbt,
    # and keeps it up for AUTO_SUSPEND after; a resume bills at least 60 s. The checks
    # that find no request run no warehouse (Snowflake's cloud services evaluate the WHEN).
    gold_idle_min = gold_idle_minutes(s)
    gold_runs = 60 / gold_idle_min * HOURS_PER_MONTH
    awake_s = max(u.dbt_run_s + s.auto_suspend_s, 60.0)
    add(
        "Gold run",
        f"{s.warehouse_size}, REFRESH_GOLD (`dbt run`) with nobody watching one run every "
        f"{gold_idle_min:g} min (deploy gold_idle_minutes), auto-suspend {s.auto_suspend_s:g} s",
        f"{wh_credits_h} credit/h while awake, at least 60 s a resume; "
        f"~{u.dbt_run_s:g} s run + {s.auto_suspend_s:g} s idle a run",
        gold_runs * awake_s / 3600 * wh_credits_h,
        0,
        True,
        f"{gold_runs:,.0f} runs",
    )
    add(
        "Gold tick",
        f"GOLD_TICK every {gold_idle_min:g} min (deploy gold_idle_minutes)",
        f"serverless, ~{u.tick_compute_s:g} s x {p.serverless_task_multiplier} a run "
        "(a one-row INSERT)",
        gold_runs * u.tick_compute_s / 3600 * p.serverless_task_multiplier,
        0,
        True,
        f"{gold_runs:,.0f} runs",
    )
    # TEST_GOLD follows a run in its graph, on the warehouse the run woke: no resume of
    # its own, its time added to the run's awake time (AUTO_SUSPEND counts from the last
    # query, already in the run's line). The tests are due at the first run
    # gold_test_hours after the last tested one: every so many idle runs.
    runs_per_test = math.ceil(s.gold_test_hours * 60 / gold_idle_min - 1e-9)
    test_runs = gold_runs / max(runs_per_test, 1)
    add(
        "Gold tests",
        f"TEST_GOLD (`dbt test`) after the first REFRESH_GOLD run {s.gold_test_hours} h "
        "after the last tested one (deploy gold_test_hours)",
        f"{wh_credits_h} credit/h while awake, on the run's warehouse (no resume); "
        f"~{u.dbt_test_s:g} s a test run",
        test_runs * u.dbt_test_s / 3600 * wh_credits_h,
        0,
        True,
        f"{test_runs:,.0f} runs",
    )
    if s.alerts:
        for alert in s.alerts:
            checks = 60 / alert.every_minutes * HOURS_PER_MONTH
            if alert.warehouse:
                # A check on a warehouse the gold run does not hold awake: a resume each.
                hours = checks * max(60.0, s.auto_suspend_s) / 3600 * wh_credits_h
                billing = f"a check every {alert.every_minutes:g} min on {alert.warehouse}"
            else:
                hours = checks * u.alert_compute_s / 3600 * p.serverless_task_multiplier
                billing = (
                    f"serverless, a check every {alert.every_minutes:g} min, "
                    f"~{u.alert_compute_s:g} s x {p.serverless_task_multiplier} as a task run"
                )
            add(f"Alert {alert.name}", "snowflake/sql/*.sql", billing, hours, 0, True)
    else:
        add("Alerts", "none in snowflake/sql", "nothing", 0, 0, False)
    stored_tb = landed_gb_month * u.stored_share / 1000
    add(
        "Snowflake storage",
        "RAW + SILVER + GOLD, kept",
        f"${p.snowflake_storage_usd_per_tb_month:g}/TB-month compressed, "
        f"~{u.stored_share:.0%} of the landed bytes",
        0,
        stored_tb * p.snowflake_storage_usd_per_tb_month,
        True,
        "each month of history adds this again",
    )
    # The dashboard (warehouse runtime): the warehouse runs while a tab is open, and
    # the Live page's refresh is shorter than AUTO_SUSPEND, so it never suspends then.
    # And the open Live page requests a silver run at each refresh: runs at the trigger
    # interval instead of the idle tick's, for as long as it is open. The gold runs the
    # open History page requests run on that same warehouse (snowflake.yml's
    # query_warehouse is the deploy's warehouse), already billed for the hour.
    watched_runs_h = 3600 / s.silver_trigger_s - 3600 / idle_s
    silver_hour_credits = (
        watched_runs_h
        * len(s.serverless_tasks)
        * u.task_compute_s
        / 3600
        * p.serverless_task_multiplier
    )
    hour_credits = float(wh_credits_h) + silver_hour_credits
    tail_min = s.sleep_minutes + s.auto_suspend_s / 60
    month_credits = u.dashboard_hours_per_day * DAYS_PER_MONTH * hour_credits
    container = p.compute_pool_xs_credits_per_hour * HOURS_PER_MONTH + month_credits
    return Bill(
        lines=tuple(lines),
        dashboard_hour_credits=hour_credits,
        dashboard_hour_usd=hour_credits * credit,
        dashboard_visit_tail_min=tail_min,
        dashboard_month_credits=month_credits,
        container_month_credits=container,
        settings=s,
        prices=p,
        usage=u,
    )


# Snowflake runs a scheduled task whose WHEN reads a stream about every 12 hours even
# without data, to keep the stream from going stale (the 2024_06 behaviour change,
# https://docs.snowflake.com/release-notes/bcr-bundles/2024_06/bcr-1710).
STALENESS_RUN_MINUTES = 720.0


def gold_idle_minutes(s: Settings) -> float:
    """How often gold runs with nobody watching: GOLD_TICK's request is served at the next
    check of REFRESH_GOLD's schedule, so never more often than that schedule, and never
    less often than Snowflake's own run against staleness."""
    return min(float(max(s.gold_idle_minutes, s.gold_refresh_minutes)), STALENESS_RUN_MINUTES)


def money(usd: float) -> str:
    return f"${usd:,.2f}" if usd < 10 else f"${usd:,.0f}"


def credits_text(credits: float) -> str:
    if credits == 0:
        return "-"
    return f"{credits:,.2f}" if credits < 10 else f"{credits:,.0f}"


def runtime_note(bill: Bill) -> str:
    s, p = bill.settings, bill.prices
    return (
        "Streamlit in Snowflake's warehouse runtime (the app's, snowflake.yml gives it a "
        "query warehouse and no compute pool) bills the warehouse while a viewer's tab is "
        f"open; Live refreshes every {s.live_refresh_s:g} s, under the warehouse's "
        f"{s.auto_suspend_s:g} s auto-suspend, so it stays up for the whole visit and "
        f"{s.sleep_minutes:g} min + {s.auto_suspend_s:g} s after the last interaction "
        "(streamlitSleepTimeoutMinutes). The container runtime runs the app on a compute "
        "pool node shared by all viewers until three days without one, and still runs its "
        "queries on a warehouse: the same warehouse time, plus the node "
        f"({p.compute_pool_xs_credits_per_hour} credits/h for CPU_X64_XS, "
        f"≈ {bill.container_month_credits:,.0f} credits a month against the warehouse "
        f"runtime's {bill.dashboard_month_credits:,.0f} at "
        f"{bill.usage.dashboard_hours_per_day:g} h a day). The app stays on the warehouse "
        "runtime (https://docs.snowflake.com/en/developer-guide/streamlit/app-development/"
        "runtime-environments)."
    )


def render_text(bill: Bill) -> str:
    width = max(len(ln.part) for ln in bill.lines) + 2
    out = [
        f"  Monthly cost (credits at ${bill.prices.credit_usd:g}; AWS us-east-1 list prices):",
        f"  {'part':<{width}}  {'credits':>8}  {'dollars':>8}  how",
    ]
    for ln in bill.lines:
        how = f"{ln.setting}; {ln.billing}" + (f"; {ln.note}" if ln.note else "")
        flag = " (estimated)" if ln.estimated else ""
        out.append(
            f"  {ln.part:<{width}}  {credits_text(ln.credits):>8}  {money(ln.usd):>8}  {how}{flag}"
        )
    for side in ("AWS", "Snowflake", None):
        credits, usd = bill.total(side)
        label = f"= {side or 'total'}, nobody watching"
        out.append(f"  {label:<{width}}  {credits_text(credits):>8}  {money(usd):>8}")
    out.append(
        f"  Dashboard: {credits_text(bill.dashboard_hour_credits)} credit(s) ≈ "
        f"{money(bill.dashboard_hour_usd)} per hour open, plus up to "
        f"{bill.dashboard_visit_tail_min:g} min after each visit."
    )
    out.append("  " + runtime_note(bill))
    return "\n".join(out)


def render_markdown(bill: Bill) -> str:
    """docs/deploy.md's cost table: what `mempool budget --format markdown` prints."""
    p, s = bill.prices, bill.settings
    aws_c, aws_usd = bill.total("AWS")
    sf_c, sf_usd = bill.total("Snowflake")
    all_c, all_usd = bill.total()
    rows = [
        "| part | setting | how it is billed | credits/month | $/month |",
        "|---|---|---|---:|---:|",
    ]
    for ln in bill.lines:
        flag = " *(estimated)*" if ln.estimated else ""
        note = f"; {ln.note}" if ln.note else ""
        rows.append(
            f"| {ln.part} | {ln.setting} | {ln.billing}{note} | {credits_text(ln.credits)} | "
            f"{money(ln.usd)}{flag} |"
        )
    rows.append(
        f"| Dashboard | Streamlit in Snowflake, warehouse runtime on the {s.warehouse_size} "
        f"warehouse; sleeps after {s.sleep_minutes:g} min without interaction "
        f"(`streamlitSleepTimeoutMinutes`, `streamlit_app/.streamlit/config.toml`) | the "
        f"warehouse while a tab is open, then {s.sleep_minutes:g} min + "
        f"{s.auto_suspend_s:g} s | {credits_text(bill.dashboard_hour_credits)} per hour open "
        f"| {money(bill.dashboard_hour_usd)} per hour open |"
    )
    return "\n".join(
        [
            f"Generated by `mempool budget --format markdown` (credits at "
            f"${p.credit_usd:g}, `--credit-price`; AWS us-east-1 list prices): do not edit "
            "by hand. *Estimated* rows rest on a stated assumption (`mempool budget "
            "--help` names each); the others follow from settings and prices alone.",
            "",
            f"**Nobody watching: {credits_text(all_c)} credits, ≈ {money(all_usd)} a month** "
            f"(Snowflake {credits_text(sf_c)} credits ≈ {money(sf_usd)}, AWS "
            f"{money(aws_usd + aws_c * p.credit_usd)}), **plus "
            f"{money(bill.dashboard_hour_usd)} for every hour the dashboard is open** "
            f"(≈ {money(bill.dashboard_month_credits * p.credit_usd)} a month at "
            f"{bill.usage.dashboard_hours_per_day:g} h a day).",
            "",
            *rows,
            "",
            runtime_note(bill),
        ]
    )


def splice(doc: str, table: str) -> str:
    """`doc` with the text between the budget markers replaced by `table`."""
    if DOC_BEGIN not in doc or DOC_END not in doc:
        raise ValueError(f"the document has no {DOC_BEGIN} ... {DOC_END} markers")
    head, rest = doc.split(DOC_BEGIN, 1)
    _, tail = rest.split(DOC_END, 1)
    return f"{head}{DOC_BEGIN}\n{table}\n{DOC_END}{tail}"


def with_overrides(prices: Prices, **changes: float | None) -> Prices:
    return replace(prices, **{k: v for k, v in changes.items() if v is not None})
