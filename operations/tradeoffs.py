"""Freshness against cost: the three deploy settings that trade one for the other, and
what each choice gives, from the same budget and bill `mempool budget` prints.

`silver_trigger_seconds` (REFRESH_SILVER's minimum trigger interval) sets how often the
serverless silver task may run while the Live page is open: Live waits for it.
`silver_idle_minutes` (SILVER_TICK's schedule) sets how often it runs with nobody
watching: History's minute-level charts wait for it, and it is most of the silver bill.
`gold_refresh_minutes` (REFRESH_GOLD's schedule) sets how often the warehouse wakes for
`dbt run`: only the marts-only History charts wait for it. Every figure here is
computed, none typed: the rows follow the settings and the assumptions.
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

# (silver_trigger_seconds, silver_idle_minutes, gold_refresh_minutes): the deploy's
# defaults first.
PROFILES = ((60, 10, 60), (30, 5, 30), (60, 10, 240), (60, 15, 360), (120, 30, 720))


@dataclass(frozen=True, slots=True)
class Profile:
    trigger_s: int
    idle_minutes: int
    gold_minutes: int
    live_worst_s: float
    live_typical_s: float
    history_chart_worst_s: float
    marts_worst_s: float
    snowflake_credits: float
    snowflake_usd: float


def profile(
    trigger_s: int,
    idle_minutes: int,
    gold_minutes: int,
    assume: Assumptions | None = None,
    prices: Prices | None = None,
    usage: Usage | None = None,
) -> Profile:
    """Live with its page open; History and the bill with nobody watching Live."""
    a = assume or Assumptions()
    silver = silver_stages(a, trigger_s)
    idle = silver_stages(a, trigger_s, idle_minutes=idle_minutes)
    live = live_stages(a)
    chart = [s for s in live if s.name != "Live page refresh"]
    gold = gold_stages(a, gold_minutes)
    settings = read_settings(
        gold_minutes, silver_trigger_seconds=trigger_s, silver_idle_minutes=idle_minutes
    )
    bill = compute(settings, prices, usage)
    credits, usd = bill.total("Snowflake")
    return Profile(
        trigger_s,
        idle_minutes,
        gold_minutes,
        sum(s.worst_s for s in silver + live),
        sum(s.typical_s for s in silver + live),
        sum(s.worst_s for s in idle + chart),
        sum(s.worst_s for s in idle + gold),
        credits,
        usd,
    )


def minutes_text(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render_profiles(
    assume: Assumptions | None = None, prices: Prices | None = None, usage: Usage | None = None
) -> str:
    rows = [
        "| `--silver-trigger-seconds` | `--silver-idle-minutes` | `--gold-refresh-minutes` | "
        "event to Live tile, worst (typical) | event to History's mempool and block charts, "
        "worst | event to the other History charts (marts), worst | Snowflake, nobody "
        "watching |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for trigger_s, idle_minutes, gold_minutes in PROFILES:
        p = profile(trigger_s, idle_minutes, gold_minutes, assume, prices, usage)
        default = " (default)" if (trigger_s, idle_minutes, gold_minutes) == PROFILES[0] else ""
        rows.append(
            f"| {trigger_s}{default} | {idle_minutes}{default} | {gold_minutes}{default} | "
            f"{minutes_text(p.live_worst_s)} ({minutes_text(p.live_typical_s)}) | "
            f"{minutes_text(p.history_chart_worst_s)} | {minutes_text(p.marts_worst_s)} | "
            f"{credits_text(p.snowflake_credits)} credits, {money(p.snowflake_usd)} |"
        )
    return "\n".join(
        [
            "**Freshness against cost.** Three deploy settings trade one for the other; "
            "each row is this budget and this bill at those settings (the other rows' "
            "assumptions unchanged): Live with its page open, History and the bill with "
            "nobody watching Live. The silver task's and the gold run's estimates "
            "(`--task-compute`, `--dbt-run`) are the figures to measure first.",
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
