"""History: trends over a chosen range, and how good the projections and the fee
recommendations turned out to be."""

from __future__ import annotations

from datetime import datetime, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from mempool_dashboard.data import first, query, request_run, since, utc_now
from mempool_dashboard.display import (
    TIME_ZONE_NOTE,
    chart,
    empty_state,
    show_table,
    time_axis,
    until_built,
)

RANGES = {
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}


# One statement per bucket: the bucket is chosen from RANGES, never typed in. The
# mempool and the blocks come from GOLD.HISTORY_* (the mart, then SILVER from where the
# mart ends), so these charts reach the current minute between two gold runs.
MEMPOOL_HISTORY = {
    bucket: f"SELECT DATE_TRUNC('{bucket}', MINUTE_AT) AS AT, AVG(VSIZE) / 1000000 AS VSIZE_MVB, "
    "AVG(FASTEST_FEE_SAT_PER_VB) AS FASTEST, AVG(HALF_HOUR_FEE_SAT_PER_VB) AS HALF_HOUR, "
    "AVG(HOUR_FEE_SAT_PER_VB) AS HOUR, AVG(ECONOMY_FEE_SAT_PER_VB) AS ECONOMY "
    "FROM GOLD.HISTORY_MEMPOOL_MINUTELY WHERE MINUTE_AT >= ? GROUP BY 1 ORDER BY 1"
    for bucket in ("MINUTE", "HOUR")
}


def request_runs() -> None:
    """Ask for the runs this page waits on (60_tasks.sql): REFRESH_GOLD rebuilds the marts
    only when a run was requested, every gold_refresh_minutes while this page asks and
    every gold_idle_minutes when nobody does; the marts and the minute-level charts read
    SILVER, refreshed on request too. The page asks at each rerun."""
    try:
        request_run("silver", "HISTORY_PAGE")
        request_run("gold", "HISTORY_PAGE")
    except Exception as exc:  # the page still shows what GOLD has; it says why it may age
        st.warning(
            "Could not request a refresh, so the charts below refresh only on their idle "
            f"schedules: {type(exc).__name__}: {exc}"
        )


def gold_note() -> None:
    """When the marts were last rebuilt, so a chart's age is never a surprise."""
    runs = query("SELECT MAX(STARTED_AT) AS STARTED_AT FROM OPS.GOLD_REFRESHES")
    last = first(runs, "started_at")
    built = f"were last rebuilt {since(last)}" if last is not None else "have not been built yet"
    st.caption(
        f"The marts (prices, accuracy, stale blocks) {built}; a rebuild is requested while "
        "this page is open. The mempool and block charts also read SILVER past the marts' end."
    )


# While the dashboard is open (any tab: Streamlit runs every tab's code), History asks for
# runs and reruns this often: REFRESH_GOLD checks every gold_refresh_minutes, so a
# minute is well inside that, and the warehouse Live keeps awake serves it.
HISTORY_REFRESH = "60s"


@st.fragment(run_every=HISTORY_REFRESH)
def history() -> None:
    request_runs()
    choice = st.selectbox("Time range", list(RANGES), index=1)
    start = utc_now() - RANGES[choice]
    # Long ranges are read hourly; the bucket comes from this fixed choice, not from text.
    bucket = "HOUR" if RANGES[choice] > timedelta(days=1) else "MINUTE"
    st.caption(
        f"From {start:%Y-%m-%d %H:%M} UTC to now, by {bucket.lower()}; refreshes every "
        f"{HISTORY_REFRESH}. {TIME_ZONE_NOTE}"
    )
    gold_note()
    with until_built("History"):
        charts(start, bucket)


def charts(start: datetime, bucket: str) -> None:
    """The range's charts and tables: every one reads what dbt makes."""
    mempool = query(MEMPOOL_HISTORY[bucket], (start,))
    blocks = query(
        "SELECT HEIGHT, MINED_AT, TOTAL_FEES_BTC, SECONDS_SINCE_PREVIOUS_BLOCK / 60 AS "
        "INTERVAL_MINUTES FROM GOLD.HISTORY_BLOCKS WHERE MINED_AT >= ? ORDER BY HEIGHT",
        (start,),
    )
    left, right = st.columns(2)
    with left:
        fee_rates(mempool)
    with right:
        mempool_size(mempool)
    left, right = st.columns(2)
    with left:
        block_fees(blocks)
    with right:
        block_intervals(blocks)
    price_and_congestion(start)
    left, right = st.columns(2)
    with left:
        projection_accuracy(start)
    with right:
        fee_recommendation_accuracy(start)
    st.subheader("Stale blocks (replaced by a reorg)")
    show_table(
        query(
            "SELECT HEIGHT, BLOCK_HASH, POOL_NAME, REPLACED_BY_BLOCK_HASH, REPLACED_BY_POOL_NAME "
            "FROM GOLD.FCT_STALE_BLOCKS ORDER BY HEIGHT DESC LIMIT 50"
        ),
        "stale blocks",
        "none of the blocks seen has been replaced by a reorg",
    )


def fee_rates(mempool: pd.DataFrame) -> None:
    if mempool.empty:
        empty_state("fee rates in this range")
        return
    names = {
        "fastest": "High priority",
        "half_hour": "Half an hour",
        "hour": "An hour",
        "economy": "Economy",
    }
    long = mempool.melt("at", list(names), var_name="series", value_name="rate")
    long["series"] = long["series"].map(names)
    chart(
        alt.Chart(long)
        .mark_line()
        .encode(
            x=time_axis("at", "Time (UTC)"),
            y=alt.Y("rate:Q", title="Fee rate (sat/vB)"),
            color=alt.Color("series:N", title="Recommendation", sort=list(names.values())),
            tooltip=[
                alt.Tooltip("at:T", title="Time (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("series:N", title="Recommendation"),
                alt.Tooltip("rate:Q", title="Fee rate (sat/vB)", format=",.1f"),
            ],
        ),
        "Recommended fee rates",
    )


def mempool_size(mempool: pd.DataFrame) -> None:
    if mempool.empty:
        empty_state("mempool sizes in this range")
        return
    chart(
        alt.Chart(mempool)
        .mark_area(opacity=0.7)
        .encode(
            x=time_axis("at", "Time (UTC)"),
            y=alt.Y("vsize_mvb:Q", title="Mempool size (vMB)"),
            tooltip=[
                alt.Tooltip("at:T", title="Time (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("vsize_mvb:Q", title="Mempool size (vMB)", format=",.2f"),
            ],
        ),
        "Mempool size",
    )


def block_fees(blocks: pd.DataFrame) -> None:
    if blocks.empty:
        empty_state("blocks in this range")
        return
    chart(
        alt.Chart(blocks)
        .mark_bar()
        .encode(
            x=time_axis("mined_at", "Mined at (UTC)"),
            y=alt.Y("total_fees_btc:Q", title="Fees (BTC)"),
            tooltip=[
                alt.Tooltip("height:Q", title="Height", format=","),
                alt.Tooltip("total_fees_btc:Q", title="Fees (BTC)", format=",.4f"),
            ],
        ),
        "Fees paid per block",
    )


def block_intervals(blocks: pd.DataFrame) -> None:
    if blocks.empty:
        empty_state("blocks in this range")
        return
    chart(
        alt.Chart(blocks.dropna(subset=["interval_minutes"]))
        .mark_bar()
        .encode(
            x=alt.X("interval_minutes:Q", bin=alt.Bin(step=2), title="Minutes between blocks"),
            y=alt.Y("count():Q", title="Blocks"),
        ),
        "Time between blocks",
    )


def price_and_congestion(start: datetime) -> None:
    hourly = query(
        "SELECT p.HOUR_AT, p.CLOSE_USD_PER_BTC, m.VSIZE_MVB FROM GOLD.FCT_PRICES_HOURLY p "
        "LEFT JOIN (SELECT DATE_TRUNC('HOUR', MINUTE_AT) AS HOUR_AT, AVG(VSIZE) / 1000000 AS "
        "VSIZE_MVB FROM GOLD.HISTORY_MEMPOOL_MINUTELY WHERE MINUTE_AT >= ? GROUP BY 1) m "
        "ON m.HOUR_AT = p.HOUR_AT WHERE p.HOUR_AT >= ? ORDER BY 1",
        (start, start),
    )
    if hourly.empty:
        empty_state("prices in this range")
        return
    x = time_axis("hour_at", "Hour (UTC)")
    congestion = (
        alt.Chart(hourly)
        .mark_area(opacity=0.3, color="#f7931a")
        .encode(x=x, y=alt.Y("vsize_mvb:Q", title="Mempool size (vMB)"))
    )
    price = (
        alt.Chart(hourly)
        .mark_line(color="#1f77b4")
        .encode(
            x=x,
            y=alt.Y("close_usd_per_btc:Q", title="BTC price (USD)", scale=alt.Scale(zero=False)),
            tooltip=[
                alt.Tooltip("hour_at:T", title="Hour (UTC)", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("close_usd_per_btc:Q", title="BTC price (USD)", format="$,.0f"),
                alt.Tooltip("vsize_mvb:Q", title="Mempool size (vMB)", format=",.2f"),
            ],
        )
    )
    chart(
        alt.layer(congestion, price).resolve_scale(y="independent"),
        "BTC price (line) with mempool congestion (shaded)",
    )


def projection_accuracy(start: datetime) -> None:
    accuracy = query(
        "SELECT HEIGHT, TX_OVERLAP_PCT, MATCH_RATE_PCT FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY "
        "WHERE BLOCK_SEEN_AT >= ? AND (TX_OVERLAP_PCT IS NOT NULL OR MATCH_RATE_PCT IS NOT NULL) "
        "ORDER BY HEIGHT",
        (start,),
    )
    if accuracy.empty:
        empty_state("projection accuracy in this range")
        return
    names = {"tx_overlap_pct": "Our overlap audit", "match_rate_pct": "mempool.space match rate"}
    long = accuracy.melt("height", list(names), var_name="series", value_name="pct").dropna()
    long["series"] = long["series"].map(names)
    chart(
        alt.Chart(long)
        .mark_line(point=True)
        .encode(
            x=alt.X("height:Q", title="Block height", axis=alt.Axis(format="d")),
            y=alt.Y("pct:Q", title="Projected transactions mined (%)"),
            color=alt.Color("series:N", title="Measure"),
            tooltip=[
                alt.Tooltip("height:Q", title="Height", format="d"),
                alt.Tooltip("series:N", title="Measure"),
                alt.Tooltip("pct:Q", title="Percent", format=".1f"),
            ],
        ),
        "How much of each projected block was mined",
    )


def fee_recommendation_accuracy(start: datetime) -> None:
    scores = query(
        "SELECT HEIGHT, FIRST_SEEN_AT, SAMPLE_COUNT, INCLUDED_SAMPLE_COUNT, INCLUDED_PCT "
        "FROM GOLD.FCT_FEE_RECOMMENDATION_ACCURACY WHERE FIRST_SEEN_AT >= ? AND SAMPLE_COUNT > 0 "
        "ORDER BY HEIGHT",
        (start,),
    )
    if scores.empty:
        empty_state("fee recommendation samples in this range")
        return
    overall = scores["included_sample_count"].sum() * 100.0 / scores["sample_count"].sum()
    st.metric("Fastest-fee samples that made the next block", f"{overall:.1f} %")
    chart(
        alt.Chart(scores)
        .mark_bar()
        .encode(
            x=time_axis("first_seen_at", "Block seen at (UTC)"),
            y=alt.Y("included_pct:Q", title="Samples that made the block (%)"),
            tooltip=[
                alt.Tooltip("height:Q", title="Height", format="d"),
                alt.Tooltip("sample_count:Q", title="Samples"),
                alt.Tooltip("included_pct:Q", title="Made the block (%)", format=".1f"),
            ],
        ),
        "Would the recommended fastest fee have made the next block?",
    )
