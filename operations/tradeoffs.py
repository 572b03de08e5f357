"""Freshness against cost: the two deploy settings that trade one for the other, and
what each choice gives, from the same budget and bill `mempool budget` prints.

`silver_trigger_seconds` (REFRESH_SILVER's minimum trigger interval) sets how often the
serverless silver task may run: Live's and History's fresh charts wait for it, and each
run is billed. `gold_refresh_minutes` (REFRESH_GOLD's schedule) sets how often the
warehouse wakes for `dbt run`: only the marts-only History charts wait for it. Every
figure here is computed, none typed: the rows follow the settings and the assumptions.
"""

from __future__ import annotations

from dataclasses import dataclass

from operations.bill import (
    Bill,
    Prices,
    Usage,
    compute,
    credits_text,
    money,
    read_settings,
    render_markdown,
)
from operations.budget import Assumptions, gold_stages, live_stages, silver_stages

# (silver_trigger_seconds, gold_refresh_minutes): the deploy's defaults first.
PROFILES = ((60, 60), (30, 30), (120, 120), (300, 240), (900, 360))


@dataclass(frozen=True, slots=True)
class Profile:
    trigger_s: int
    gold_minutes: int
    live_worst_s: float
    live_typical_s: float
    history_chart_worst_s: float
    marts_worst_s: float
    snowflake_credits: float
    snowflake_usd: float


def profile(
    trigger_s: int,
    gold_minutes: int,
    assume: Assumptions | None = None,
    prices: Prices | None = None,
    usage: Usage | None = None,
) -> Profile:
    a = assume or Assumptions()
    silver = silver_stages(a, trigger_s)
    live = live_stages(a)
    chart = [s for s in live if s.name != "Live page refresh"]
    gold = gold_stages(a, gold_minutes)
    bill = compute(read_settings(gold_minutes, silver_trigger_seconds=trigger_s), prices, usage)
    credits, usd = bill.total("Snowflake")
    return Profile(
        trigger_s,
        gold_minutes,
        sum(s.worst_s for s in silver + live),
        sum(s.typical_s for s in silver + live),
        sum(s.worst_s for s in silver + chart),
        sum(s.worst_s for s in silver + gold),
        credits,
        usd,
    )


def minutes_text(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render_profiles(
    assume: Assumptions | None = None, prices: Prices | None = None, usage: Usage | None = None
) -> str:
    rows = [
        "| `--silver-trigger-seconds` | `--gold-refresh-minutes` | event to Live tile, worst "
        "(typical) | event to History's mempool and block charts, worst | event to the "
        "other History charts (marts), worst | Snowflake, nobody watching |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for trigger_s, gold_minutes in PROFILES:
        p = profile(trigger_s, gold_minutes, assume, prices, usage)
        default = " (default)" if (trigger_s, gold_minutes) == PROFILES[0] else ""
        rows.append(
            f"| {trigger_s}{default} | {gold_minutes}{default} | "
            f"{minutes_text(p.live_worst_s)} ({minutes_text(p.live_typical_s)}) | "
            f"{minutes_text(p.history_chart_worst_s)} | {minutes_text(p.marts_worst_s)} | "
            f"{credits_text(p.snowflake_credits)} credits, {money(p.snowflake_usd)} |"
        )
    return "\n".join(
        [
            "**Freshness against cost.** Two deploy settings trade one for the other; "
            "each row is this budget and this bill at those settings (the other rows' "
            "assumptions unchanged). The silver task's runs are most of the bill, and "
            "its estimate (`--task-compute`) is the figure to measure first.",
            "",
            *rows,
        ]
    )


def cost_section(
    bill: Bill,
    assume: Assumptions | None = None,
    prices: Prices | None = None,
    usage: Usage | None = None,
) -> str:
    """docs/deploy.md's cost section: the bill at the deploy's settings, then the
    trade-off between freshness and cost (`mempool budget --format markdown`)."""
    return render_markdown(bill) + "\n\n" + render_profiles(assume, prices, usage)
