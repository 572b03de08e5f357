"""Live: what mempool.space shows at a glance, refreshed while the page is open.

Every section reads a GOLD.LIVE_* view (snowflake/dbt/models/live/): computed from SILVER
when queried, so Live is as fresh as SILVER and never waits for REFRESH_GOLD. History
reads the marts."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from mempool_dashboard.data import first, fmt, query, since
from mempool_dashboard.display import (
    TIME_ZONE_NOTE,
    chart,
    empty_state,
    freshness_note,
    show_table,
)

LIVE_REFRESH = "30s"


def freshness(tables: tuple[str, ...], what: str) -> float | None:
    """The age of the oldest of the SILVER `tables` a section's view reads, against the
    tightest of their targets, on the warehouse's clock (OPS.TABLE_FRESHNESS, which
    Pipeline health shows in full). SILVER's, not the view's: the view only holds a
    recent window, and a pipeline stopped for longer must still warn. Returns the age
    (None while the tables are empty)."""
    # Three slots keep the statement fixed text, as every app query is; fewer tables
    # repeat the last.
    slots = (*tables, *[tables[-1]] * (3 - len(tables)))
    row = query(
        "SELECT MAX(AGE_MINUTES) AS AGE_MINUTES, MIN(TARGET_MINUTES) AS TARGET_MINUTES "
        "FROM OPS.TABLE_FRESHNESS WHERE TABLE_SCHEMA = 'SILVER' AND TABLE_NAME IN (?, ?, ?)",
        slots,
    )
    target, age = first(row, "target_minutes"), first(row, "age_minutes")
    age = None if age is None else float(age)
    if target is not None:
        freshness_note(what, age, float(target))
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


def latest_blocks() -> None:
    st.subheader("Latest blocks")
    blocks = query(
        "SELECT HEIGHT, MINED_AT, POOL_NAME, TX_COUNT, TOTAL_FEES_BTC, "
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


@st.fragment(run_every=LIVE_REFRESH)
def live() -> None:
    live_headline()
    projected_blocks()
    next_block_distribution()
    latest_blocks()
    st.caption(f"Refreshes every {LIVE_REFRESH}. {TIME_ZONE_NOTE}")
