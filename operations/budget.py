"""`mempool budget`: how stale production data can be, from the configured settings.

Each stage between a frame reaching the streamer and a row in SILVER is bounded by a
setting of the project, read from where it is set (the streamer's options, Terraform's
variables, the task definitions, the deploy's settings), or, where Snowflake sets it, by
a stated assumption the caller may change. SILVER and GOLD are refreshed on demand: the
open dashboard requests the runs (Live at each refresh, History at each of its own), and
idle ticks request them when nobody watches. From SILVER three paths part: the Live
tab's views read SILVER when the page queries them (the app's query cache and the Live
fragment's refresh are the only waits). History's mempool and block charts read
GOLD.HISTORY_* views (the mart, then SILVER from where the mart ends): as fresh as
SILVER, plus History's refresh. Its other charts read the marts REFRESH_GOLD rebuilds
(`dbt run`) when its schedule finds a request; the tests, TEST_GOLD, follow on their
own cadence and change no mart. Then how soon each catches up when the dashboard is
opened after nobody watched. Worst case: every buffer and interval waits in full.
Typical: waits average half their interval and runs take what they usually take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TASKS_SQL = REPO / "snowflake" / "sql" / "60_tasks.sql"
TF_DIR = REPO / "terraform"
APP_DIR = REPO / "streamlit_app" / "mempool_dashboard"
VARIABLE_REF = re.compile(r"^\$\{var\.(\w+)\}$")
# The freshness the platform aims for, event to SILVER (the performance issue's target).
TARGET_S = 150.0
# Event to the Live tab's tiles (issue 22): typical and worst.
LIVE_TARGET_S = (120.0, 180.0)
# Event to a History chart, worst (issue 22).
HISTORY_TARGET_S = 15 * 60.0
# The app's own stages, by name: the paths and the freshness benchmark pick them out.
APP_CACHE = "app query cache"
LIVE_REFRESH = "Live page refresh"
HISTORY_REFRESH = "History page refresh"


@dataclass(frozen=True, slots=True)
class Stage:
    name: str
    worst_s: float
    typical_s: float
    source: str


@dataclass(frozen=True, slots=True)
class Assumptions:
    """What Snowflake does not bound in writing; change them with the command's flags."""

    # Snowpipe: "available to users within minutes" (docs: data-load-snowpipe-intro).
    pipe_latency_s: float = 60.0
    # How soon a triggered task notices its stream has data (docs: tasks-triggered); the
    # trigger stage waits the longer of this and the task's minimum trigger interval.
    trigger_latency_s: float = 30.0
    # REFRESH_SILVER's run on the serverless task's compute, for a minute of data: the
    # load, then the four builders one after another.
    procedure_run_s: float = 15.0
    # REFRESH_GOLD's `dbt run` of the gold models (EXECUTE DBT PROJECT) on an XS
    # warehouse: incremental, the tests on their own cadence (operations/bill.py Usage).
    dbt_run_s: float = 45.0
    # A Live view's query on the app's warehouse: a few micro-partitions of SILVER.
    live_query_s: float = 2.0


def completion_interval_s(task: str, sql: str) -> float:
    """A serverless task's TARGET_COMPLETION_INTERVAL: the longest a run is sized to take."""
    definitions = re.split(r"CREATE\s+OR\s+REPLACE\s+TASK\s+", sql, flags=re.I)[1:]
    definition = next(
        (d for d in definitions if d.split("\n", 1)[0].rstrip().endswith(f".OPS.{task}")), ""
    )
    match = re.search(
        r"TARGET_COMPLETION_INTERVAL\s*=\s*'(\d+)\s+(MINUTE|SECOND)S?'", definition, re.I
    )
    if not match:
        raise ValueError(f"{TASKS_SQL.name} gives {task} no TARGET_COMPLETION_INTERVAL")
    return float(match[1]) * (60 if match[2].upper() == "MINUTE" else 1)


def hcl_blocks(path: Path, kind: str) -> dict[str, Any]:
    import hcl2

    blocks: dict[str, Any] = {}
    for block in hcl2.loads(path.read_text()).get(kind, []):
        blocks.update(block)
    return blocks


def firehose_buffer_seconds(tf_dir: Path = TF_DIR) -> float:
    """The landing streams' buffering interval as firehose.tf sets it: a number, or a
    variable whose default variables.tf gives (what a plan without -var deploys)."""
    streams = hcl_blocks(tf_dir / "firehose.tf", "resource")[
        '"aws_kinesis_firehose_delivery_stream"'
    ]
    setting = streams['"landing"']["extended_s3_configuration"][0]["buffering_interval"]
    ref = VARIABLE_REF.match(str(setting))
    if ref is None:
        return float(setting)
    variable = hcl_blocks(tf_dir / "variables.tf", "variable")[f'"{ref[1]}"']
    if "default" not in variable:
        raise ValueError(f"variables.tf gives {ref[1]} no default")
    return float(variable["default"])


def silver_idle_s(idle_minutes: float, trigger_s: float) -> float:
    """How often silver runs with nobody watching: at each SILVER_TICK (something lands
    more often than that, so its request meets data already waiting), and never more
    often than the trigger interval allows."""
    return max(idle_minutes * 60.0, trigger_s)


def silver_stages(
    assume: Assumptions,
    trigger_seconds: float,
    tf_dir: Path | None = None,
    idle_minutes: float | None = None,
    buffer_s: float | None = None,
) -> list[Stage]:
    """A frame to a SILVER row. `trigger_seconds`: the deploy's silver_trigger_seconds
    (REFRESH_SILVER's USER_TASK_MINIMUM_TRIGGER_INTERVAL_IN_SECONDS): while the Live page
    is open it requests a run at each refresh, and data that lands just after a run
    started waits that long for the next. `idle_minutes`, for the path with nobody
    watching: the deploy's silver_idle_minutes, SILVER_TICK's schedule, is the wait.
    `buffer_s`: the landing streams' buffering interval, when not Terraform's default."""
    from ingest.streamer import StreamerOptions

    flush = StreamerOptions().flush_interval_s
    buffer, buffer_source = buffer_s, "--firehose-buffer-seconds"
    if buffer is None:
        buffer, buffer_source = (
            firehose_buffer_seconds(tf_dir or TF_DIR),
            "terraform firehose_buffer_seconds",
        )
    run = completion_interval_s("REFRESH_SILVER", TASKS_SQL.read_text())
    trigger = max(trigger_seconds, assume.trigger_latency_s)
    wait = Stage(
        "task trigger",
        trigger,
        trigger / 2,
        "deploy silver_trigger_seconds (or --trigger-latency, if longer)",
    )
    if idle_minutes is not None:
        idle = silver_idle_s(idle_minutes, trigger)
        wait = Stage("idle tick", idle, idle / 2, "deploy silver_idle_minutes (SILVER_TICK)")
    return [
        Stage("streamer batch", flush, flush / 2, "ingest/streamer.py flush_interval_s"),
        Stage("Firehose buffer", buffer, buffer / 2, buffer_source),
        Stage(
            "S3 event -> Snowpipe load",
            assume.pipe_latency_s,
            assume.pipe_latency_s / 2,
            "assumed (--pipe-latency)",
        ),
        wait,
        Stage(
            "REFRESH_SILVER run",
            run,
            min(run, assume.procedure_run_s),
            "60_tasks.sql TARGET_COMPLETION_INTERVAL; typical --procedure-run",
        ),
    ]


def gold_stages(
    assume: Assumptions, refresh_minutes: int, idle_minutes: float | None = None
) -> list[Stage]:
    """SILVER to a mart while the dashboard is open: a request always waits, so the next
    check of REFRESH_GOLD's schedule runs dbt. With `idle_minutes` (the deploy's
    gold_idle_minutes, for nobody watching): GOLD_TICK's request first, then that check."""
    refresh = refresh_minutes * 60.0
    tick = []
    if idle_minutes is not None:
        idle = idle_minutes * 60.0
        tick = [Stage("gold idle tick", idle, idle / 2, "deploy gold_idle_minutes (GOLD_TICK)")]
    return [
        *tick,
        Stage(
            "REFRESH_GOLD check",
            refresh,
            refresh / 2,
            "deploy gold_refresh_minutes (runs when a request waits)",
        ),
        Stage("dbt run", assume.dbt_run_s, assume.dbt_run_s, "assumed (--dbt-run)"),
    ]


def history_refresh_stage(app_dir: Path | None = None) -> Stage:
    refresh = app_setting(
        (app_dir or APP_DIR) / "history.py", r'HISTORY_REFRESH = "(\d+)s"', "HISTORY_REFRESH"
    )
    return Stage(
        HISTORY_REFRESH, refresh, refresh / 2, "mempool_dashboard/history.py HISTORY_REFRESH"
    )


def app_setting(path: Path, pattern: str, what: str) -> float:
    match = re.search(pattern, path.read_text())
    if not match:
        raise ValueError(f"{path.name} no longer sets {what} as {pattern!r}")
    return float(match[1])


def live_stages(assume: Assumptions, app_dir: Path | None = None) -> list[Stage]:
    """SILVER to a Live tile. The query cache and the fragment's timer add up in the
    worst case: another viewer's run can fill the cache just before the row lands, and
    this page's next run after the cache expires is up to one refresh later."""
    app = app_dir or APP_DIR
    ttl = app_setting(app / "data.py", r"@st\.cache_data\(ttl=(\d+)", "the query cache TTL")
    refresh = app_setting(app / "live.py", r'LIVE_REFRESH = "(\d+)s"', "LIVE_REFRESH")
    return [
        Stage(
            "Live view query",
            assume.live_query_s,
            assume.live_query_s,
            "assumed (GOLD.LIVE_* views over SILVER)",
        ),
        Stage(APP_CACHE, ttl, ttl / 2, "mempool_dashboard/data.py cache_data ttl"),
        Stage(LIVE_REFRESH, refresh, refresh / 2, "mempool_dashboard/live.py LIVE_REFRESH"),
    ]


def minutes(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def catch_up_stages(assume: Assumptions, then: list[Stage]) -> list[Stage]:
    """Opening the dashboard after nobody watched: its first run requests a silver run,
    which starts when Snowflake notices the request (the last run was an idle tick's,
    longer ago than the trigger interval) and takes everything landed since; `then`, the
    stages from SILVER to what the page shows."""
    run = completion_interval_s("REFRESH_SILVER", TASKS_SQL.read_text())
    return [
        Stage(
            "request -> trigger",
            assume.trigger_latency_s,
            assume.trigger_latency_s / 2,
            "assumed (--trigger-latency)",
        ),
        Stage(
            "REFRESH_SILVER run",
            run,
            min(run, assume.procedure_run_s),
            "60_tasks.sql TARGET_COMPLETION_INTERVAL; typical --procedure-run",
        ),
        *then,
    ]


def app_seconds(app_dir: Path | None = None) -> dict[str, float]:
    """The app's own stages' worst seconds by name (APP_CACHE, LIVE_REFRESH), read from
    the app as `mempool budget` reads them."""
    return {s.name: s.worst_s for s in live_stages(Assumptions(), app_dir)}


def history_paths(
    live: list[Stage], gold: list[Stage], app_dir: Path | None = None
) -> tuple[list[Stage], list[Stage]]:
    """SILVER to History's mempool and block charts, and SILVER to its marts, while the
    dashboard is open: the query and the cache as Live's, then History's own refresh."""
    chart = [s for s in live if s.name != LIVE_REFRESH] + [history_refresh_stage(app_dir)]
    return chart, gold + chart


def render(
    silver: list[Stage],
    gold: list[Stage],
    live: list[Stage] | None = None,
    idle: list[Stage] | None = None,
    assume: Assumptions | None = None,
) -> str:
    """The stages to SILVER while the dashboard is open (`silver`), then SILVER to the
    Live tab (`live`, the app's own settings unless given), to History's charts and to its
    marts (`gold`), each path with its total; how soon each catches up once opened after
    nobody watched (`assume`'s trigger latency and run); and, when `idle` (the stages to
    SILVER at the idle tick) is given, how old History's charts are at that first look."""
    if live is None:
        live = live_stages(assume or Assumptions())
    chart, marts = history_paths(live, gold)
    unwatched = idle or []
    width = max(len(s.name) for s in silver + gold + live + chart + unwatched) + 2
    lines = [f"  {'stage':<{width}}  {'worst':>9}  {'typical':>9}  from"]

    def rows(stages: list[Stage]) -> None:
        for stage in stages:
            lines.append(
                f"  {stage.name:<{width}}  {minutes(stage.worst_s):>9}  "
                f"{minutes(stage.typical_s):>9}  {stage.source}"
            )

    def total(label: str, stages: list[Stage], note: str = "") -> tuple[float, float]:
        worst, typical = sum(s.worst_s for s in stages), sum(s.typical_s for s in stages)
        lines.append(
            f"  {'= ' + label:<{width}}  {minutes(worst):>9}  {minutes(typical):>9}"
            + (f"  {note}" if note else "")
        )
        return worst, typical

    def verdict(worst: float, typical: float, target_worst: float, target_typical: float) -> str:
        def one(what: str, value: float, target: float) -> str:
            met = "meets" if value <= target else "misses"
            return f"{what} {value:.0f} s {met} {target:.0f} s"

        return f"{one('worst', worst, target_worst)}, {one('typical', typical, target_typical)}"

    def path(
        heading: str,
        stages: list[Stage],
        label: str,
        targets: tuple[float, float] | None,
        start: list[Stage] = silver,
    ) -> None:
        """A path from SILVER on: its heading, its stages, and its total from the event
        (reaching SILVER by `start`), against its (typical, worst) targets if any."""
        lines.append(heading)
        if start is not silver:
            rows([s for s in start if s not in silver])
        rows(stages)
        whole = start + stages
        worst, typical = sum(s.worst_s for s in whole), sum(s.typical_s for s in whole)
        note = "target: " + verdict(worst, typical, targets[1], targets[0]) if targets else ""
        total(label, whole, note)

    rows(silver)
    worst, typical = sum(s.worst_s for s in silver), sum(s.typical_s for s in silver)
    total("event to SILVER", silver, "target: " + verdict(worst, typical, TARGET_S, TARGET_S))
    history = (HISTORY_TARGET_S, HISTORY_TARGET_S)
    path(
        "  Live tab (views over SILVER; no REFRESH_GOLD wait):",
        live,
        "event to Live tile",
        LIVE_TARGET_S,
    )
    path(
        "  History's mempool and block charts (GOLD.HISTORY_*: the mart, then SILVER"
        " from where it ends), the dashboard open:",
        chart,
        "event to History chart",
        history,
    )
    path(
        "  History's other charts (prices, accuracy, stale blocks: GOLD marts), the "
        "dashboard open (History requests gold runs):",
        marts,
        "event to History (GOLD)",
        history,
    )
    a = assume or Assumptions()
    catch_up = catch_up_stages(a, live)
    lines.append("  Opening the dashboard after nobody watched (its first run requests runs):")
    rows(catch_up)
    total("Live caught up", catch_up)
    marts_catch_up = catch_up_stages(a, marts)
    rows([s for s in marts_catch_up if s not in catch_up])
    total("History marts caught up", marts_catch_up)
    if idle is not None:
        lines.append(
            "  History's mempool and block charts at that first look, before the runs it "
            "requests (SILVER at the idle tick):"
        )
        rows([s for s in idle if s not in silver])
        first_look = idle + [s for s in chart if s.name != HISTORY_REFRESH]
        rows([s for s in first_look if s not in idle])
        total("event to History chart, first look", first_look)
    return "\n".join(lines)
