"""Freshness against cost: the four deploy settings that trade one for the other, and
what each choice gives, from the same budget and bill `mempool budget` prints.

`silver_trigger_seconds` (REFRESH_SILVER's minimum trigger interval) sets how often the
serverless silver task may run while the dashboard is open: Live waits for it.
`gold_refresh_minutes` (REFRESH_GOLD's schedule) sets how often the open History page's
request for a gold run is served: its marts wait for it. `silver_idle_minutes` and
`gold_idle_minutes` (SILVER_TICK's and GOLD_TICK's schedules) set how often each runs with
nobody watching: they are most of the bill, and how old the data is at a first look
before the dashboard's own requests catch it up. Every figure here is computed, none
typed: the rows follow the settings and the assumptions.
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
from operations.budget import (
    Assumptions,
    catch_up_stages,
    gold_stages,
    history_paths,
    live_stages,
    silver_stages,
)

# (silver_trigger_seconds, silver_idle_minutes, gold_refresh_minutes, gold_idle_minutes):
# the deploy's defaults first.
PROFILES = (
    (60, 10, 5, 360),
    (30, 5, 5, 60),
    (60, 10, 5, 180),
    (60, 15, 10, 720),
    (120, 30, 15, 720),
)


@dataclass(frozen=True, slots=True)
class Profile:
    trigger_s: int
    idle_minutes: int
    gold_minutes: int
    gold_idle_minutes: int
    live_worst_s: float
    live_typical_s: float
    history_chart_worst_s: float
    marts_worst_s: float
    marts_catch_up_worst_s: float
    snowflake_credits: float
    snowflake_usd: float


def profile(
    trigger_s: int,
    idle_minutes: int,
    gold_minutes: int,
    gold_idle_minutes: int,
    assume: Assumptions | None = None,
    prices: Prices | None = None,
    usage: Usage | None = None,
    buffer_s: float | None = None,
) -> Profile:
    """Live and History with the dashboard open, the marts when it is opened after nobody
    watched, and the bill with nobody watching; `buffer_s`, the landing's buffer when not
    Terraform's."""
    a = assume or Assumptions()
    silver = silver_stages(a, trigger_s, buffer_s=buffer_s)
    live = live_stages(a)
    chart, marts = history_paths(live, gold_stages(a, gold_minutes))
    settings = read_settings(
        gold_minutes,
        silver_trigger_seconds=trigger_s,
        silver_idle_minutes=idle_minutes,
        gold_idle_minutes=gold_idle_minutes,
    )
    bill = compute(settings, prices, usage)
    credits, usd = bill.total("Snowflake")
    return Profile(
        trigger_s,
        idle_minutes,
        gold_minutes,
        gold_idle_minutes,
        sum(s.worst_s for s in silver + live),
        sum(s.typical_s for s in silver + live),
        sum(s.worst_s for s in silver + chart),
        sum(s.worst_s for s in silver + marts),
        sum(s.worst_s for s in catch_up_stages(a, marts)),
        credits,
        usd,
    )


def minutes_text(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def render_profiles(
    assume: Assumptions | None = None,
    prices: Prices | None = None,
    usage: Usage | None = None,
    buffer_s: float | None = None,
) -> str:
    rows = [
        "| `--silver-trigger-seconds` | `--silver-idle-minutes` | `--gold-refresh-minutes` | "
        "`--gold-idle-minutes` | event to Live tile, worst (typical) | event to History's "
        "mempool and block charts, worst | event to the other History charts (marts), worst "
        "| marts caught up after opening, worst | Snowflake, nobody watching |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for settings in PROFILES:
        p = profile(*settings, assume=assume, prices=prices, usage=usage, buffer_s=buffer_s)
        default = " (default)" if settings == PROFILES[0] else ""
        cells = " | ".join(f"{value}{default}" for value in settings)
        rows.append(
            f"| {cells} | {minutes_text(p.live_worst_s)} ({minutes_text(p.live_typical_s)}) | "
            f"{minutes_text(p.history_chart_worst_s)} | {minutes_text(p.marts_worst_s)} | "
            f"{minutes_text(p.marts_catch_up_worst_s)} | "
            f"{credits_text(p.snowflake_credits)} credits, {money(p.snowflake_usd)} |"
        )
    return "\n".join(
        [
            "**Freshness against cost.** Four deploy settings trade one for the other; "
            "each row is this budget and this bill at those settings (the other rows' "
            "assumptions unchanged): Live and History with the dashboard open, the marts "
            "once it is opened after nobody watched, and the bill with nobody watching. The "
            "silver task's and the gold run's estimates (`--task-compute`, `--dbt-run`) are "
            "the figures to measure first."
            + (f" Every row lands with a {buffer_s:g} s Firehose buffer." if buffer_s else ""),
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
