"""Mempool dashboard: Streamlit in Snowflake, and locally the same file against the
local warehouse. Three views: Live (what mempool.space shows at a glance), History
(trends over a chosen range) and Pipeline health (is the data flowing and complete).

It reads GOLD, and OPS for health, only; every query is cached for a short time and
takes user input as bound parameters. All times are UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

st.set_page_config(layout="wide")

TIME_ZONE_NOTE = "All times are UTC."
LIVE_REFRESH = "30s"
RANGES = {
    "Last 6 hours": timedelta(hours=6),
    "Last 24 hours": timedelta(days=1),
    "Last 7 days": timedelta(days=7),
    "Last 30 days": timedelta(days=30),
}
# Column names as people read them: words, with units.
LABELS = {
    "height": "Height",
    "mined_at": "Mined at (UTC)",
    "first_seen_at": "First seen (UTC)",
    "pool_name": "Pool",
    "tx_count": "Transactions",
    "total_fees_btc": "Fees (BTC)",
    "median_fee_rate_sat_per_vb": "Median fee rate (sat/vB)",
    "fee_range": "Fee range (sat/vB)",
    "minutes_since_previous_block": "Minutes since previous block",
    "block_hash": "Block hash",
    "replaced_by_block_hash": "Replaced by",
    "replaced_by_pool_name": "Replacement's pool",
    "table_schema": "Schema",
    "table_name": "Table",
    "newest_row_at": "Newest row (UTC)",
    "age_minutes": "Age (minutes)",
    "target_minutes": "Target (minutes)",
    "status": "Status",
    "stage": "Stage",
    "reason": "Reason",
    "records": "Records",
    "sample": "Sample record",
    "task_name": "Task",
    "state": "State",
    "started_at": "Started (UTC)",
    "completed_at": "Completed (UTC)",
    "seconds": "Duration (s)",
    "error_message": "Error",
    "topic": "Topic",
    "raw_rows": "Raw records",
    "clean_rows": "Clean",
    "duplicate_rows": "Duplicates removed",
    "quarantined_rows": "Quarantined",
    "pending_rows": "Pending",
    "is_balanced": "Accounted for",
    "consumer": "Builder",
    "pending_events": "Events waiting",
    "missing_from": "Missing from height",
    "missing_to": "Missing to height",
}
NUMBER_FORMATS = {
    "total_fees_btc": "%.4f",
    "median_fee_rate_sat_per_vb": "%.1f",
    "minutes_since_previous_block": "%.1f",
    "age_minutes": "%.1f",
    "seconds": "%.1f",
}


# -- data ------------------------------------------------------------------------------


@st.cache_resource
def session():  # type: ignore[no-untyped-def]
    """Snowsight provides the session; locally it comes from the connections settings."""
    return st.connection("snowflake").session()


@st.cache_data(ttl=20, show_spinner=False)
def query(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Rows of a fixed statement; anything the user chose is bound, never spliced in."""
    frame = session().sql(sql, params=list(params) or None).to_pandas()
    frame.columns = [c.lower() for c in frame.columns]
    return frame


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def first(frame: pd.DataFrame, column: str) -> Any:
    """The first row's value, or None when there is none."""
    if frame.empty or column not in frame or pd.isna(frame[column].iloc[0]):
        return None
    return frame[column].iloc[0]


def fmt(value: Any, pattern: str, unit: str = "") -> str:
    if value is None:
        return "–"
    return pattern.format(value) + (f" {unit}" if unit else "")


def since(moment: Any) -> str:
    """How long ago, in words: "4 min ago"."""
    if moment is None:
        return "–"
    seconds = max(0.0, (utc_now() - pd.Timestamp(moment).to_pydatetime()).total_seconds())
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def empty_state(what: str, why: str = "it appears once the pipeline has loaded some") -> None:
    st.info(f"No {what} yet: {why}.")


def show_table(frame: pd.DataFrame, what: str, why_empty: str | None = None) -> None:
    if frame.empty:
        empty_state(what, *([why_empty] if why_empty else []))
        return
    config = {
        LABELS.get(column, column): st.column_config.NumberColumn(format=pattern)
        for column, pattern in NUMBER_FORMATS.items()
        if column in frame
    }
    st.dataframe(
        frame.rename(columns=lambda c: LABELS.get(c, c)),
        column_config=config,
        hide_index=True,
        width="stretch",
    )


def time_axis(field: str, title: str) -> alt.X:
    """A time axis in UTC, labelled the same way on every chart."""
    return alt.X(
        f"{field}:T",
        title=title,
        axis=alt.Axis(format="%b %d %H:%M", labelAngle=0),
        scale=alt.Scale(type="utc"),
    )


def chart(spec: alt.Chart | alt.LayerChart, title: str) -> None:
    st.altair_chart(spec.properties(title=title), width="stretch")


# -- Live ------------------------------------------------------------------------------


def live_headline() -> None:
    mempool = query(
        "SELECT MINUTE_AT, TX_COUNT, VSIZE / 1000000 AS VSIZE_MVB, VBYTES_PER_SECOND, "
        "FASTEST_FEE_SAT_PER_VB, HALF_HOUR_FEE_SAT_PER_VB, HOUR_FEE_SAT_PER_VB, "
        "ECONOMY_FEE_SAT_PER_VB FROM GOLD.FCT_MEMPOOL_MINUTELY ORDER BY MINUTE_AT DESC LIMIT 1"
    )
    tip = query("SELECT HEIGHT, FIRST_SEEN_AT FROM GOLD.FCT_BLOCKS ORDER BY HEIGHT DESC LIMIT 1")
    price = query("SELECT USD_PER_BTC FROM GOLD.FCT_PRICES ORDER BY PRICED_AT DESC LIMIT 1")
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


def projected_blocks() -> None:
    st.subheader("Projected blocks")
    blocks = query(
        "SELECT BLOCK_INDEX, TX_COUNT, BLOCK_VSIZE / 1000000 AS VSIZE_MVB, TOTAL_FEES_BTC, "
        "MEDIAN_FEE_RATE_SAT_PER_VB, MIN_FEE_RATE_SAT_PER_VB, MAX_FEE_RATE_SAT_PER_VB "
        "FROM GOLD.FCT_MEMPOOL_BLOCKS "
        "WHERE MINUTE_AT = (SELECT MAX(MINUTE_AT) FROM GOLD.FCT_MEMPOOL_BLOCKS) "
        "ORDER BY BLOCK_INDEX"
    )
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
            y=alt.Y("min_fee_rate_sat_per_vb:Q", title="Fee rate (sat/vB)"),
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
        "FROM GOLD.FCT_PROJECTED_BLOCK WHERE IS_VALID ORDER BY PROJECTED_AT DESC LIMIT 1"
    )
    st.subheader("Fee rates in the projected next block")
    if state.empty:
        empty_state("projected next block")
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
        "FROM GOLD.FCT_BLOCKS ORDER BY HEIGHT DESC LIMIT 10"
    )
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


# -- History ---------------------------------------------------------------------------


# One statement per bucket: the bucket is chosen from RANGES, never typed in.
MEMPOOL_HISTORY = {
    bucket: f"SELECT DATE_TRUNC('{bucket}', MINUTE_AT) AS AT, AVG(VSIZE) / 1000000 AS VSIZE_MVB, "
    "AVG(FASTEST_FEE_SAT_PER_VB) AS FASTEST, AVG(HALF_HOUR_FEE_SAT_PER_VB) AS HALF_HOUR, "
    "AVG(HOUR_FEE_SAT_PER_VB) AS HOUR, AVG(ECONOMY_FEE_SAT_PER_VB) AS ECONOMY "
    "FROM GOLD.FCT_MEMPOOL_MINUTELY WHERE MINUTE_AT >= ? GROUP BY 1 ORDER BY 1"
    for bucket in ("MINUTE", "HOUR")
}


def history() -> None:
    choice = st.selectbox("Time range", list(RANGES), index=1)
    start = utc_now() - RANGES[choice]
    # Long ranges are read hourly; the bucket comes from this fixed choice, not from text.
    bucket = "HOUR" if RANGES[choice] > timedelta(days=1) else "MINUTE"
    st.caption(f"From {start:%Y-%m-%d %H:%M} UTC to now, by {bucket.lower()}. {TIME_ZONE_NOTE}")
    mempool = query(MEMPOOL_HISTORY[bucket], (start,))
    blocks = query(
        "SELECT HEIGHT, MINED_AT, TOTAL_FEES_BTC, SECONDS_SINCE_PREVIOUS_BLOCK / 60 AS "
        "INTERVAL_MINUTES FROM GOLD.FCT_BLOCKS WHERE MINED_AT >= ? ORDER BY HEIGHT",
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
        "VSIZE_MVB FROM GOLD.FCT_MEMPOOL_MINUTELY WHERE MINUTE_AT >= ? GROUP BY 1) m "
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


# -- Pipeline health -------------------------------------------------------------------


def health() -> None:
    since_day = utc_now() - timedelta(days=1)
    recon = query("SELECT * FROM OPS.RECONCILIATION ORDER BY RAW_ROWS DESC")
    backlog = query("SELECT * FROM OPS.BUILDER_BACKLOG ORDER BY PENDING_EVENTS DESC")
    freshness = query(
        "SELECT TABLE_SCHEMA, TABLE_NAME, NEWEST_ROW_AT, AGE_MINUTES, TARGET_MINUTES, IS_FRESH "
        "FROM OPS.TABLE_FRESHNESS ORDER BY IS_FRESH, TABLE_SCHEMA, TABLE_NAME"
    )
    runs = query(
        "SELECT TASK_NAME, STATE, STARTED_AT, COMPLETED_AT, "
        "DATEDIFF('millisecond', STARTED_AT, COMPLETED_AT) / 1000 AS SECONDS, ERROR_MESSAGE "
        "FROM OPS.TASK_RUNS WHERE STARTED_AT >= ? ORDER BY STARTED_AT DESC",
        (since_day,),
    )
    balanced = bool(recon["is_balanced"].all()) if not recon.empty else True
    stale = int((~freshness["is_fresh"].astype(bool)).sum()) if not freshness.empty else 0
    failed = int((runs["state"] == "FAILED").sum()) if not runs.empty else 0
    cols = st.columns(4)
    cols[0].metric("Every raw record accounted for", "yes" if balanced else "no")
    cols[1].metric(
        "Events waiting in builders",
        int(backlog["pending_events"].sum()) if not backlog.empty else 0,
    )
    cols[2].metric("Tables behind their freshness target", stale)
    cols[3].metric("Failed task runs (24 h)", failed)

    st.subheader("Freshness")
    if not freshness.empty:
        freshness["status"] = ["Fresh" if ok else "Behind target" for ok in freshness["is_fresh"]]
        freshness = freshness.drop(columns=["is_fresh"])
    show_table(freshness, "tables")

    st.subheader("Records loaded per hour")
    loads = query(
        "SELECT DATE_TRUNC('HOUR', LOADED_AT) AS HOUR_AT, TOPIC, SUM(CLEAN_ROWS) AS CLEAN_ROWS, "
        "SUM(DUPLICATE_ROWS) AS DUPLICATE_ROWS, SUM(QUARANTINED_ROWS) AS QUARANTINED_ROWS "
        "FROM OPS.LOAD_LEDGER WHERE LOADED_AT >= ? GROUP BY 1, 2 ORDER BY 1",
        (since_day,),
    )
    if loads.empty:
        empty_state("loads in the last 24 hours")
    else:
        left, right = st.columns(2)
        with left:
            chart(
                alt.Chart(loads)
                .mark_bar()
                .encode(
                    x=time_axis("hour_at", "Hour (UTC)"),
                    y=alt.Y("sum(clean_rows):Q", title="Clean records"),
                    color=alt.Color("topic:N", title="Topic"),
                    tooltip=[
                        alt.Tooltip("topic:N", title="Topic"),
                        alt.Tooltip("sum(clean_rows):Q", title="Clean records", format=","),
                    ],
                ),
                "Clean records loaded, by topic",
            )
        with right:
            removed = loads.groupby("hour_at", as_index=False)[
                ["duplicate_rows", "quarantined_rows"]
            ].sum()
            names = {"duplicate_rows": "Duplicates removed", "quarantined_rows": "Quarantined"}
            long = removed.melt("hour_at", list(names), var_name="kind", value_name="records")
            long["kind"] = long["kind"].map(names)
            chart(
                alt.Chart(long)
                .mark_bar()
                .encode(
                    x=time_axis("hour_at", "Hour (UTC)"),
                    y=alt.Y("records:Q", title="Records"),
                    color=alt.Color("kind:N", title="Kept out of SILVER"),
                ),
                "Duplicates removed and records quarantined",
            )
    st.caption("Every record that arrives is clean, a duplicate, or quarantined:")
    show_table(recon, "raw records")
    if not backlog.empty:
        st.warning("A builder has unfinished events: see its runs below.")
        show_table(backlog, "builder backlog")

    st.subheader("Quarantined records by reason")
    show_table(
        query(
            "SELECT STAGE, REASON, COUNT(*) AS RECORDS, "
            "MIN(LEFT(COALESCE(LINE, TO_VARCHAR(RECORD)), 300)) AS SAMPLE "
            "FROM OPS.QUARANTINE GROUP BY 1, 2 ORDER BY 3 DESC"
        ),
        "quarantined records",
        "every record so far followed the contract",
    )

    st.subheader("Sequence gaps, reorgs and missing heights")
    continuity = query(
        "SELECT (SELECT COUNT(*) FROM GOLD.FCT_PROJECTED_BLOCK "
        "WHERE FLAGS LIKE '%sequence_gap%') AS SEQUENCE_GAPS, "
        "(SELECT COUNT(*) FROM GOLD.FCT_STALE_BLOCKS) AS STALE_BLOCKS"
    )
    gaps = query(
        "SELECT PREVIOUS_HEIGHT + 1 AS MISSING_FROM, HEIGHT - 1 AS MISSING_TO FROM ("
        "SELECT HEIGHT, LAG(HEIGHT) OVER (ORDER BY HEIGHT) AS PREVIOUS_HEIGHT "
        "FROM GOLD.FCT_BLOCKS) WHERE HEIGHT - PREVIOUS_HEIGHT > 1 ORDER BY 1 DESC LIMIT 20"
    )
    cols = st.columns(3)
    cols[0].metric("Projected-block sequence gaps", fmt(first(continuity, "sequence_gaps"), "{:,}"))
    cols[1].metric("Stale blocks (reorgs)", fmt(first(continuity, "stale_blocks"), "{:,}"))
    cols[2].metric("Height gaps in the chain", f"{len(gaps):,}")
    if not gaps.empty:
        show_table(gaps, "height gaps")

    st.subheader("Task runs (last 24 hours)")
    if runs.empty:
        empty_state("task runs")
    else:
        last = runs.drop_duplicates("task_name")[["task_name", "state", "completed_at"]]
        show_table(last.sort_values("task_name"), "task runs")
        with st.expander("Every run, newest first"):
            show_table(runs.head(200), "task runs")
    st.caption(TIME_ZONE_NOTE)


st.title("Bitcoin mempool")
tab_live, tab_history, tab_health = st.tabs(["Live", "History", "Pipeline health"])
with tab_live:
    live()
with tab_history:
    history()
with tab_health:
    health()
