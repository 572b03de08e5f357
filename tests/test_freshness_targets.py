"""Freshness targets follow the deploy's schedules: a mart that is only waiting for its
next REFRESH_GOLD run must never read as stale (FRESHNESS_ALERT, `mempool
status`), whatever gold_refresh_minutes the deploy chose, and no table the health view
watches is left without a target."""

from __future__ import annotations

import re

import pytest

from operations.budget import Assumptions, gold_stages, silver_stages
from operations.deploy import DeployConfig, build_plan, rendered_statements
from sandbox.snowflake_local.plan import REPO

FRESHNESS_SQL = REPO / "snowflake" / "dbt" / "models" / "ops" / "table_freshness.sql"


def merge_statement(config: DeployConfig) -> str:
    step = next(s for s in build_plan(config).sql_steps() if s.sql_file == "30_silver.sql")
    return next(
        s
        for s in rendered_statements(step, config)
        if "OPS.FRESHNESS_TARGETS" in s and "MERGE" in s
    )


def idle_allowance(config: DeployConfig, schema: str) -> float:
    """The minutes a schema's targets allow on top with nobody watching, as the MERGE
    writes them: SILVER's idle tick, and for GOLD the gold idle tick besides."""
    found = re.findall(
        r"(\d+)\s*\+ IFF\(d\.TABLE_SCHEMA = 'GOLD', (\d+), 0\) AS IDLE_MINUTES",
        merge_statement(config),
    )
    assert len(found) == 1, merge_statement(config)
    silver, gold = (float(n) for n in found[0])
    return silver + (gold if schema == "GOLD" else 0.0)


def targets(config: DeployConfig) -> dict[tuple[str, str], float]:
    """(schema, table) -> minutes, as the deploy's MERGE writes them for `config`."""
    merge = merge_statement(config)
    rows = re.findall(
        r"SELECT '(\w+)'(?: AS TABLE_SCHEMA)?, '(\w+)'(?: AS TABLE_NAME)?, ([\d +]+)", merge
    )
    assert rows, merge
    out: dict[tuple[str, str], float] = {}
    for schema, table, expression in rows:
        assert (schema, table) not in out, f"{schema}.{table} has two targets"
        out[(schema, table)] = float(sum(int(term) for term in expression.split("+")))
    return out


def watched_tables() -> set[tuple[str, str]]:
    return set(re.findall(r"\('(SILVER|GOLD)', '(\w+)',", FRESHNESS_SQL.read_text()))


def test_every_table_the_health_view_watches_has_exactly_one_target() -> None:
    assert set(targets(DeployConfig())) == watched_tables()


@pytest.mark.parametrize("minutes", [5, 30, 60, 240])
def test_a_mart_waiting_for_its_next_scheduled_run_is_never_stale(minutes: int) -> None:
    """The oldest a mart's newest row gets between two runs, by the freshness budget:
    event to SILVER (worst), then a whole schedule interval and the dbt run. Every GOLD
    target must allow it; each SILVER target is unchanged by the gold schedule."""
    assume = Assumptions()
    config = DeployConfig(gold_refresh_minutes=minutes)
    silver_worst_min = sum(s.worst_s for s in silver_stages(assume, config.silver_trigger_seconds))
    gold_worst_min = sum(s.worst_s for s in gold_stages(assume, minutes))
    worst = (silver_worst_min + gold_worst_min) / 60
    chosen, default = targets(config), targets(DeployConfig())
    for (schema, table), target in chosen.items():
        if schema == "GOLD":
            assert target >= worst, f"{table}: {target} min < {worst:.1f} min between runs"
        else:
            assert target == default[(schema, table)]


@pytest.mark.parametrize(
    ("gold_minutes", "idle_minutes", "gold_idle_minutes"),
    [(5, 10, 360), (60, 10, 60), (5, 30, 1440), (30, 10, 240)],
)
def test_with_nobody_watching_a_table_waiting_for_the_idle_tick_is_never_stale(
    gold_minutes: int, idle_minutes: int, gold_idle_minutes: int
) -> None:
    """With nobody watching, SILVER refreshes at SILVER_TICK's schedule and GOLD at
    GOLD_TICK's: a table only waiting for the next tick (a mart for its gold tick, then
    REFRESH_GOLD's next check and run) must not read as stale to the alert, whose target
    adds the idle allowance; and while the dashboard is open, the target alone (what Live
    warns against) must hold a watched run's worst case."""
    assume = Assumptions()
    config = DeployConfig(
        gold_refresh_minutes=gold_minutes,
        silver_idle_minutes=idle_minutes,
        gold_idle_minutes=gold_idle_minutes,
    )
    trigger = config.silver_trigger_seconds
    watched = sum(s.worst_s for s in silver_stages(assume, trigger)) / 60
    idle = sum(s.worst_s for s in silver_stages(assume, trigger, idle_minutes=idle_minutes)) / 60
    gold_idle = sum(s.worst_s for s in gold_stages(assume, gold_minutes, gold_idle_minutes)) / 60
    for (schema, table), target in targets(config).items():
        allowance = idle_allowance(config, schema)
        worst = idle + (gold_idle if schema == "GOLD" else 0.0)
        assert target + allowance >= worst, f"{table}: {target} + {allowance} < {worst:.1f}"
        if schema == "SILVER":
            assert allowance == idle_minutes
            assert target >= watched, f"{table}: {target} min < {watched:.1f} while watched"
        else:
            assert allowance == idle_minutes + gold_idle_minutes
