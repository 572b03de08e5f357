"""Live: what mempool.space shows at a glance, refreshed while the page is open.

Every section reads a GOLD.LIVE_* view (snowflake/dbt/models/live/): computed from SILVER
when queried, so Live is as fresh as SILVER and never waits for REFRESH_GOLD. History
reads the marts."""

from __future__ import annotations

import json
from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from mempool_dashboard.data import first, fmt, query, request_run, since, utc_now
from mempool_dashboard.display import (
    TIME_ZONE_NOTE,
    chart,
    empty_state,
    freshness_note,
    show_table,
    time_axis,
    until_built,
)

# Every 5 s: a new SILVER row (at most one run a trigger interval while the page is open:
# each refresh requests one) shows within seconds of its run, and the page's wait is a
# small part of Live's budget (`mempool budget`). The warehouse is awake for the visit
# either way (it bills by the second, not by the query), and these are queries over
# SILVER's last hours, well within a second each.
LIVE_REFRESH = "5s"
# The fee levels of mempool.space's mempool chart: `vsizes[i]` of a `live-2h-chart`
# statistic is the vsize paying from FEE_LEVELS[i] up to the next level (sat/vB).
FEE_LEVELS = (
    1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 40, 50, 60, 70, 80, 90, 100, 125, 150, 175,
    200, 250, 300, 350, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800, 2000,
)  # fmt: skip
# How long after the page opens the run it requested lands at worst (`mempool budget`:
# "Live caught up", 1.9 min at the defaults), with a margin.
CATCH_UP = timedelta(minutes=3)


def freshness(tables: tuple[str, ...], what: str) -> float | None:
    """The age of the oldest of the SILVER `tables` a section's view reads, against the
    tightest of their targets, on the warehouse's clock (OPS.TABLE_FRESHNESS, which
    Pipeline health shows in full). SILVER's, not the view's: the view only holds a
    recent window, and a pipeline stopped for longer must still warn. Returns the age
    (None while the tables are empty)."""
    # Three slots keep the statement fixed text, as every app query is; fewer tables
    # repeat the last.
    slots = (*tables, *[tables[-1]] * (3 - len(tables)))
    # The deploy's target itself, without the idle allowance the view adds for the alert:
    # while this page is open it requests a silver run at each refresh.
    row = query(
        "SELECT MAX(f.AGE_MINUTES) AS AGE_MINUTES, MIN(t.TARGET_MINUTES) AS TARGET_MINUTES, "
        "MIN(t.IDLE_MINUTES) AS IDLE_MINUTES "
        "FROM OPS.TABLE_FRESHNESS f JOIN OPS.FRESHNESS_TARGETS t "
        "ON t.TABLE_SCHEMA = f.TABLE_SCHEMA AND t.TABLE_NAME = f.TABLE_NAME "
        "WHERE f.TABLE_SCHEMA = 'SILVER' AND f.TABLE_NAME IN (?, ?, ?)",
        slots,
    )
    target, age = first(row, "target_minutes"), first(row, "age_minutes")
    age = None if age is None else float(age)
    # SILVER as the idle tick left it is expected only until the run this page asked
    # for as it opened has landed; after that, data past its target is a stall.
    opened = st.session_state.setdefault("live_opened_at", utc_now())
    catching_up = utc_now() - opened < CATCH_UP
    idle = float(first(row, "idle_minutes") or 0) if catching_up else 0.0
    if target is not None:
        freshness_note(what, age, float(target), idle)
    return age


def live_headline() -> None:
    mempool = query(
        "SELECT MINUTE_AT, TX_COUNT, VSIZE / 1000000 AS VSIZE_MVB, VBYTES_PER_SECOND, "
        "FASTEST_FEE_SAT_PER_VB, HALF_HOUR_FEE_SAT_PER_VB, HOUR_FEE_SAT_PER_VB, "
        "ECONOMY_FEE_SAT_PER_VB FROM GOLD.LIVE_MEMPOOL_MINUTELY ORDER BY MINUTE_AT DESC LIMIT 1"
    )
    tip = query("SELECT HEIGHT, FIRST_SEEN_AT FROM GOLD.LIVE_BLOCKS ORDER BY HEIGHT DESC LIMIT 1")
    price = query("SELECT USD_PER_BTC FROM GOLD.LIVE_PRICES ORDER BY PRICED_AT DESC LIMIT 1")
    st.subheader("Recommended fees now")
    cols = st.columns(4)
    for col, (label, field) in zip(
        cols,
        [
            ("High priority (sat/vB)", "fastest_fee_sat_per_vb"),
            ("Half an hour (sat/vB)", "half_hour_fee_sat_per_vb"),
            ("An hour (sat/vB)", "hour_fee_sat_per_vb"),
            ("Economy (sat/vB)", "economy_fee_sat_per_vb"),
        ],
        strict=True,
    ):
        col.metric(label, fmt(first(mempool, field), "{:,.1f}"))
    cols = st.columns(5)
    cols[0].metric("Unconfirmed transactions", fmt(first(mempool, "tx_count"), "{:,.0f}"))
    cols[1].metric("Mempool size (vMB)", fmt(first(mempool, "vsize_mvb"), "{:,.2f}"))
    cols[2].metric("Inflow (vB/s)", fmt(first(mempool, "vbytes_per_second"), "{:,.0f}"))
    cols[3].metric("Last block", fmt(first(tip, "height"), "{:,.0f}"))
    cols[3].caption(f"Seen {since(first(tip, 'first_seen_at'))}")
    cols[4].metric("BTC price (USD)", fmt(first(price, "usd_per_btc"), "${:,.0f}"))
    as_of = first(mempool, "minute_at")
    st.caption(f"Mempool as of {as_of:%Y-%m-%d %H:%M} UTC." if as_of is not None else "")
    freshness(
        ("MEMPOOL_INFO", "RECOMMENDED_FEES", "VBYTES_PER_SECOND"), "The mempool and fee figures"
    )
    freshness(("PRICES",), "The BTC price")


def projected_blocks() -> None:
    st.subheader("Projected blocks")
    blocks = query(
        "SELECT BLOCK_INDEX, TX_COUNT, BLOCK_VSIZE / 1000000 AS VSIZE_MVB, TOTAL_FEES_BTC, "
        "MEDIAN_FEE_RATE_SAT_PER_VB, MIN_FEE_RATE_SAT_PER_VB, MAX_FEE_RATE_SAT_PER_VB "
        "FROM GOLD.LIVE_MEMPOOL_BLOCKS ORDER BY BLOCK_INDEX"
    )
    freshness(("MEMPOOL_BLOCKS",), "The projected blocks")
    if blocks.empty:
        empty_state("projected blocks")
        return
    blocks["block"] = [
        "Next block" if i == 0 else f"In ~{(i + 1) * 10} min" for i in blocks["block_index"]
    ]
    cols = st.columns(len(blocks))
    for col, row in zip(cols, blocks.itertuples(), strict=True):
        col.metric(row.block, f"~{row.median_fee_rate_sat_per_vb:,.1f} sat/vB")
        col.caption(
            f"{row.min_fee_rate_sat_per_vb:,.1f}–{row.max_fee_rate_sat_per_vb:,.1f} sat/vB  \n"
            f"{row.tx_count:,} transactions · {row.vsize_mvb:,.2f} vMB"
        )
    order = list(blocks["block"])
    x = alt.X("block:N", sort=order, title=None)
    bands = (
        alt.Chart(blocks)
        .mark_bar(opacity=0.6)
        .encode(
            x=x,
            # The next block's range (often 8-200 sat/vB) dwarfs the others' on a linear
            # axis; symlog keeps every band readable and takes a 0 sat/vB low end.
            y=alt.Y(
                "min_fee_rate_sat_per_vb:Q",
                title="Fee rate (sat/vB, log scale)",
                scale=alt.Scale(type="symlog"),
            ),
            y2="max_fee_rate_sat_per_vb:Q",
            tooltip=[
                alt.Tooltip("block:N", title="Block"),
                alt.Tooltip("min_fee_rate_sat_per_vb:Q", title="Lowest (sat/vB)", format=",.1f"),
                alt.Tooltip("median_fee_rate_sat_per_vb:Q", title="Median (sat/vB)", format=",.1f"),
                alt.Tooltip("max_fee_rate_sat_per_vb:Q", title="Highest (sat/vB)", format=",.1f"),
                alt.Tooltip("tx_count:Q", title="Transactions", format=","),
            ],
        )
    )
    median = (
        alt.Chart(blocks)
        .mark_tick(thickness=3, size=40)
        .encode(x=x, y="median_fee_rate_sat_per_vb:Q")
    )
    chart(bands + median, "Fee range of each projected block (bar) and its median (tick)")


def fee_bands(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per statistic and fee band with any vsize: the band's range and its vsize
    in vMB, from each statistic's `vsizes` array (JSON text, as Snowpark returns VARIANT)."""
    rows = []
    for stat_at, vsizes in zip(stats["stat_at"], stats["vsizes"], strict=True):
        sizes = json.loads(vsizes) if isinstance(vsizes, str) else list(vsizes or [])
        for i, vsize in enumerate(sizes[: len(FEE_LEVELS)]):
            if not vsize:
                continue
            low = FEE_LEVELS[i]
            high = FEE_LEVELS[i + 1] if i + 1 < len(FEE_LEVELS) else None
            band = f"{low}–{high}" if high is not None else f"{low}+"
            rows.append({"stat_at": stat_at, "band": band, "low": low, "vsize_mvb": vsize / 1e6})
    return pd.DataFrame(rows, columns=["stat_at", "band", "low", "vsize_mvb"])


def mempool_by_fee_band() -> None:
    """mempool.space's front-page chart: the last two hours of the mempool, stacked by fee
    band (the `live-2h-chart` statistics), and the incoming vB/s over the same window."""
    st.subheader("The mempool over the last two hours")
    left, right = st.columns(2)
    # Each chart on its own: a release's new view is missing only until its first gold run.
    with left, until_built("Mempool by fee rate"):
        stats = query(
            "SELECT STAT_AT, VSIZES FROM GOLD.LIVE_MEMPOOL_FEE_BANDS "
            "WHERE STAT_AT >= DATEADD('hour', -2, SYSDATE()) ORDER BY STAT_AT"
        )
        bands = fee_bands(stats)
        if bands.empty:
            empty_state("mempool statistics in the last two hours")
        else:
            order = sorted(set(zip(bands["low"], bands["band"], strict=True)))
            chart(
                alt.Chart(bands)
                .mark_area()
                .encode(
                    x=time_axis("stat_at", "Time (UTC)"),
                    y=alt.Y("vsize_mvb:Q", stack="zero", title="Mempool (vMB)"),
                    color=alt.Color(
                        "band:N",
                        title="Fee rate (sat/vB)",
                        sort=[b for _, b in order],
                        scale=alt.Scale(scheme="turbo"),
                    ),
                    # Low fees at the bottom of the stack, as mempool.space draws it.
                    order=alt.Order("low:Q", sort="ascending"),
                    tooltip=[
                        alt.Tooltip("stat_at:T", title="Time (UTC)", format="%H:%M"),
                        alt.Tooltip("band:N", title="Fee rate (sat/vB)"),
                        alt.Tooltip("vsize_mvb:Q", title="vMB", format=",.3f"),
                    ],
                ),
                "Mempool by fee rate (vMB)",
            )
    with right, until_built("Incoming transactions"):
        inflow = query(
            "SELECT MINUTE_AT, VBYTES_PER_SECOND FROM GOLD.LIVE_MEMPOOL_MINUTELY "
            "WHERE MINUTE_AT >= DATEADD('hour', -2, SYSDATE()) AND VBYTES_PER_SECOND IS NOT NULL "
            "ORDER BY MINUTE_AT"
        )
        if inflow.empty:
            empty_state("incoming transactions in the last two hours")
        else:
            chart(
                alt.Chart(inflow)
                .mark_area(opacity=0.7)
                .encode(
                    x=time_axis("minute_at", "Time (UTC)"),
                    y=alt.Y("vbytes_per_second:Q", title="Incoming (vB/s)"),
                    tooltip=[
                        alt.Tooltip("minute_at:T", title="Minute (UTC)", format="%H:%M"),
                        alt.Tooltip("vbytes_per_second:Q", title="vB/s", format=",.0f"),
                    ],
                ),
                "Incoming transactions (vB/s)",
            )


def next_block_distribution() -> None:
    state = query(
        "SELECT PROJECTED_AT, TX_COUNT, TOTAL_FEES_BTC, FEE_RATE_MIN, FEE_RATE_P10, "
        "FEE_RATE_P25, FEE_RATE_P50, FEE_RATE_P75, FEE_RATE_P90, FEE_RATE_MAX "
        "FROM GOLD.LIVE_PROJECTED_BLOCK"
    )
    st.subheader("Fee rates in the projected next block")
    loaded = freshness(("PROJECTED_BLOCK_STATES",), "The projected next block")
    if state.empty:
        # SILVER has states but none valid lately: a gap in the deltas leaves the block
        # unknown until the next full set, which is not the same as no data yet.
        empty_state(
            "projected next block",
            *(
                ["its recent updates are not valid (after a gap, it waits for a full set)"]
                if loaded is not None
                else []
            ),
        )
        return
    points = pd.DataFrame(
        {
            "percentile": ["Lowest", "10th", "25th", "Median", "75th", "90th", "Highest"],
            "rate": [
                first(state, c)
                for c in (
                    "fee_rate_min",
                    "fee_rate_p10",
                    "fee_rate_p25",
                    "fee_rate_p50",
                    "fee_rate_p75",
                    "fee_rate_p90",
                    "fee_rate_max",
                )
            ],
        }
    )
    left, right = st.columns([1, 2])
    left.metric("Transactions", fmt(first(state, "tx_count"), "{:,.0f}"))
    left.metric("Fees (BTC)", fmt(first(state, "total_fees_btc"), "{:,.4f}"))
    left.caption(f"As of {first(state, 'projected_at'):%H:%M:%S} UTC.")
    with right:
        chart(
            alt.Chart(points)
            .mark_bar()
            .encode(
                x=alt.X("percentile:N", sort=list(points["percentile"]), title="Percentile"),
                y=alt.Y("rate:Q", title="Fee rate (sat/vB)"),
                tooltip=[
                    alt.Tooltip("percentile:N", title="Percentile"),
                    alt.Tooltip("rate:Q", title="Fee rate (sat/vB)", format=",.1f"),
                ],
            ),
            "Fee-rate percentiles of the projected next block",
        )


def clock_notes(blocks: pd.DataFrame, now: pd.Timestamp) -> list[str]:
    """What to say of header times a reader would take for a clock error: a block mined
    "after now", or before its predecessor (negative minutes between blocks)."""
    notes = []
    ahead = blocks.loc[blocks["mined_at"] > now, "height"]
    if not ahead.empty:
        notes.append(
            f"Block {', '.join(f'{h:,}' for h in ahead)}: header time ahead of this page's "
            "clock (Bitcoin accepts up to two hours ahead of the network's time)."
        )
    earlier = blocks.loc[blocks["minutes_since_previous_block"] < 0, "height"]
    if not earlier.empty:
        notes.append(
            f"Block {', '.join(f'{h:,}' for h in earlier)}: header time earlier than the "
            "previous block's, so its minutes since the previous block are negative (Bitcoin "
            "only requires a time above the median of the last 11 blocks)."
        )
    return notes


def latest_blocks() -> None:
    st.subheader("Latest blocks")
    blocks = query(
        "SELECT HEIGHT, MINED_AT, FIRST_SEEN_AT, POOL_NAME, TX_COUNT, TOTAL_FEES_BTC, "
        "MEDIAN_FEE_RATE_SAT_PER_VB, MIN_FEE_RATE_SAT_PER_VB, MAX_FEE_RATE_SAT_PER_VB, "
        "SECONDS_SINCE_PREVIOUS_BLOCK / 60 AS MINUTES_SINCE_PREVIOUS_BLOCK "
        "FROM GOLD.LIVE_BLOCKS ORDER BY HEIGHT DESC LIMIT 10"
    )
    freshness(("BLOCKS",), "The latest blocks")
    if not blocks.empty:
        blocks["fee_range"] = [
            f"{lo:,.1f}–{hi:,.1f}"
            for lo, hi in zip(
                blocks.pop("min_fee_rate_sat_per_vb"),
                blocks.pop("max_fee_rate_sat_per_vb"),
                strict=True,
            )
        ]
    show_table(blocks, "blocks")
    if not blocks.empty:
        # Two clocks: the miner's (the header) and ours (when the pipeline saw it).
        st.caption(
            "Mined at is the block header's time, set by its miner (in the local demo, the "
            "simulator's clock); First seen is when the pipeline received the block. "
            "Minutes since previous block compare header times."
        )
        for note in clock_notes(blocks, pd.Timestamp(utc_now())):
            st.caption(note)


def request_silver() -> None:
    """Ask for a silver run (OPS.SILVER_REQUESTS): REFRESH_SILVER runs only when one
    waits, so SILVER is refreshed at its trigger interval while this page is open, and
    every silver_idle_minutes when nobody watches (60_tasks.sql). The trigger interval
    bounds the runs however many pages ask."""
    try:
        request_run("silver", "LIVE_PAGE")
    except Exception as exc:  # the page still shows what SILVER has; it says why it may age
        st.warning(
            "Could not request a silver refresh, so the figures below refresh only on "
            f"SILVER's idle schedule: {type(exc).__name__}: {exc}"
        )


@st.fragment(run_every=LIVE_REFRESH)
def live() -> None:
    request_silver()
    for what, section in (
        ("Recommended fees now", live_headline),
        ("The mempool over the last two hours", mempool_by_fee_band),
        ("Projected blocks", projected_blocks),
        ("Fee rates in the projected next block", next_block_distribution),
        ("Latest blocks", latest_blocks),
    ):
        with until_built(what):
            section()
    st.caption(f"Refreshes every {LIVE_REFRESH}. {TIME_ZONE_NOTE}")
