"""`mempool budget`: how stale production data can be, from the configured settings.

Each stage between a frame reaching the streamer and a row in SILVER (and then GOLD) is
bounded by a setting of the project, read from where it is set (the streamer's options,
Terraform's variables, the task definitions, the deploy's settings), or, where
Snowflake sets it, by a stated assumption the caller may change. Worst case: every
buffer and interval waits in full. Typical: waits average half their interval and runs
take what they usually take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
TASKS_SQL = REPO / "snowflake" / "sql" / "60_tasks.sql"
TF_DIR = REPO / "terraform"
VARIABLE_REF = re.compile(r"^\$\{var\.(\w+)\}$")
# The freshness the platform aims for, event to SILVER (the performance issue's target).
TARGET_S = 150.0


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
    # How soon a triggered task notices its stream has data (docs: tasks-triggered).
    trigger_latency_s: float = 30.0
    # A procedure run on the serverless task's compute, for a minute of data.
    procedure_run_s: float = 10.0
    # `dbt build` of the gold models (EXECUTE DBT PROJECT) on an XS warehouse.
    dbt_run_s: float = 120.0


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


def silver_stages(assume: Assumptions, tf_dir: Path | None = None) -> list[Stage]:
    from ingest.streamer import StreamerOptions

    flush = StreamerOptions().flush_interval_s
    buffer = firehose_buffer_seconds(tf_dir or TF_DIR)
    sql = TASKS_SQL.read_text()
    load = completion_interval_s("LOAD_EVENTS", sql)
    build = max(
        completion_interval_s(t, sql)
        for t in ("BUILD_STATS", "BUILD_BLOCKS", "BUILD_PRICES", "BUILD_PROJECTED")
    )
    return [
        Stage("streamer batch", flush, flush / 2, "ingest/streamer.py flush_interval_s"),
        Stage("Firehose buffer", buffer, buffer / 2, "terraform firehose_buffer_seconds"),
        Stage(
            "S3 event -> Snowpipe load",
            assume.pipe_latency_s,
            assume.pipe_latency_s / 2,
            "assumed (--pipe-latency)",
        ),
        Stage(
            "task trigger",
            assume.trigger_latency_s,
            assume.trigger_latency_s / 2,
            "assumed (--trigger-latency)",
        ),
        Stage(
            "LOAD_EVENTS run",
            load,
            min(load, assume.procedure_run_s),
            "60_tasks.sql TARGET_COMPLETION_INTERVAL",
        ),
        Stage(
            "builder run",
            build,
            min(build, assume.procedure_run_s),
            "60_tasks.sql TARGET_COMPLETION_INTERVAL",
        ),
    ]


def gold_stages(assume: Assumptions, refresh_minutes: int) -> list[Stage]:
    refresh = refresh_minutes * 60.0
    return [
        Stage("REFRESH_GOLD schedule", refresh, refresh / 2, "deploy gold_refresh_minutes"),
        Stage("dbt build", assume.dbt_run_s, assume.dbt_run_s, "assumed (--dbt-run)"),
    ]


def minutes(seconds: float) -> str:
    if seconds >= 90:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def render(silver: list[Stage], gold: list[Stage]) -> str:
    width = max(len(s.name) for s in silver + gold)
    lines = [f"  {'stage':<{width}}  {'worst':>9}  {'typical':>9}  from"]
    for stage in silver:
        lines.append(
            f"  {stage.name:<{width}}  {minutes(stage.worst_s):>9}  "
            f"{minutes(stage.typical_s):>9}  {stage.source}"
        )
    to_silver = (sum(s.worst_s for s in silver), sum(s.typical_s for s in silver))
    lines.append(
        f"  {'= event to SILVER':<{width}}  {minutes(to_silver[0]):>9}  "
        f"{minutes(to_silver[1]):>9}  target {minutes(TARGET_S)}: "
        f"worst case {'meets' if to_silver[0] <= TARGET_S else 'misses'}, "
        f"typical {'meets' if to_silver[1] <= TARGET_S else 'misses'}"
    )
    for stage in gold:
        lines.append(
            f"  {stage.name:<{width}}  {minutes(stage.worst_s):>9}  "
            f"{minutes(stage.typical_s):>9}  {stage.source}"
        )
    to_gold = (
        to_silver[0] + sum(s.worst_s for s in gold),
        to_silver[1] + sum(s.typical_s for s in gold),
    )
    lines.append(
        f"  {'= event to GOLD':<{width}}  {minutes(to_gold[0]):>9}  {minutes(to_gold[1]):>9}"
    )
    return "\n".join(lines)
