"""Mempool dashboard (Streamlit in Snowflake; runs locally against the same GOLD and OPS
tables). Three views: Live, History, Pipeline health."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

st.set_page_config(layout="wide")


@st.cache_resource
def session():  # type: ignore[no-untyped-def]
    """Snowsight provides the session; locally it comes from the connections settings."""
    return st.connection("snowflake").session()


@st.cache_data(ttl=30)
def query(sql: str) -> pd.DataFrame:
    frame = session().sql(sql).to_pandas()
    frame.columns = [c.lower() for c in frame.columns]
    return frame


def table(sql: str) -> None:
    st.dataframe(query(sql), width="stretch", hide_index=True)


def metric_row(frame: pd.DataFrame, fields: list[tuple[str, str, str]]) -> None:
    columns = st.columns(len(fields))
    for col, (label, field, fmt) in zip(columns, fields, strict=True):
        value = frame[field].iloc[0] if not frame.empty else None
        col.metric(label, "n/a" if value is None or pd.isna(value) else fmt.format(value))


def live() -> None:
    latest = query(
        "SELECT *, VSIZE / 1000000 AS VSIZE_MVB FROM GOLD.FCT_MEMPOOL_MINUTELY "
        "ORDER BY MINUTE_AT DESC LIMIT 1"
    )
    metric_row(
        latest,
        [
            ("Unconfirmed txs", "tx_count", "{:,.0f}"),
            ("Mempool vsize (vMB)", "vsize_mvb", "{:,.2f}"),
            ("Fastest fee (sat/vB)", "fastest_fee_sat_per_vb", "{:.1f}"),
            ("Hour fee (sat/vB)", "hour_fee_sat_per_vb", "{:.1f}"),
            ("Inflow (vB/s)", "vbytes_per_second", "{:,.0f}"),
        ],
    )
    minutes = query(
        "SELECT MINUTE_AT, TX_COUNT, FASTEST_FEE_SAT_PER_VB, HOUR_FEE_SAT_PER_VB "
        "FROM GOLD.FCT_MEMPOOL_MINUTELY ORDER BY MINUTE_AT DESC LIMIT 240"
    )
    left, right = st.columns(2)
    if not minutes.empty:
        left.altair_chart(
            alt.Chart(minutes)
            .mark_line()
            .encode(
                x=alt.X("minute_at:T", title="minute"),
                y=alt.Y("tx_count:Q", title="transactions"),
            )
            .properties(title="Mempool size"),
            width="stretch",
        )
        fees = minutes.melt(
            "minute_at",
            ["fastest_fee_sat_per_vb", "hour_fee_sat_per_vb"],
            var_name="fee",
            value_name="sat_per_vb",
        )
        right.altair_chart(
            alt.Chart(fees)
            .mark_line()
            .encode(
                x=alt.X("minute_at:T", title="minute"),
                y=alt.Y("sat_per_vb:Q", title="sat/vB"),
                color="fee:N",
            )
            .properties(title="Recommended fees"),
            width="stretch",
        )
    projected = query(
        "SELECT PROJECTED_AT, TX_COUNT, TOTAL_FEES_BTC, FEE_RATE_P10, FEE_RATE_P50, "
        "FEE_RATE_P90 FROM GOLD.FCT_PROJECTED_BLOCK WHERE IS_VALID "
        "ORDER BY PROJECTED_AT DESC LIMIT 1"
    )
    st.subheader("Projected next block")
    metric_row(
        projected,
        [
            ("Transactions", "tx_count", "{:,.0f}"),
            ("Fees (BTC)", "total_fees_btc", "{:.4f}"),
            ("p10 rate", "fee_rate_p10", "{:.1f}"),
            ("Median rate", "fee_rate_p50", "{:.1f}"),
            ("p90 rate", "fee_rate_p90", "{:.1f}"),
        ],
    )
    st.subheader("Latest blocks")
    table(
        "SELECT HEIGHT, MINED_AT, POOL_NAME, TX_COUNT, TOTAL_FEES_BTC, "
        "MEDIAN_FEE_RATE_SAT_PER_VB, SECONDS_SINCE_PREVIOUS_BLOCK "
        "FROM GOLD.FCT_BLOCKS ORDER BY HEIGHT DESC LIMIT 10"
    )


def history() -> None:
    daily = query("SELECT * FROM GOLD.FCT_DAILY_SUMMARY ORDER BY DAY")
    if not daily.empty:
        st.altair_chart(
            alt.Chart(daily)
            .mark_bar()
            .encode(
                x=alt.X("day:T", title="day"),
                y=alt.Y("total_fees_btc:Q", title="fees (BTC)"),
                tooltip=["day:T", "block_count:Q", "total_fees_btc:Q", "avg_usd_per_btc:Q"],
            )
            .properties(title="Fees paid per day"),
            width="stretch",
        )
    hourly = query("SELECT * FROM GOLD.FCT_PRICES_HOURLY ORDER BY HOUR_AT")
    if not hourly.empty:
        st.altair_chart(
            alt.Chart(hourly)
            .mark_line()
            .encode(
                x=alt.X("hour_at:T", title="hour"),
                y=alt.Y("close_usd_per_btc:Q", title="USD", scale=alt.Scale(zero=False)),
            )
            .properties(title="BTC price (hourly close)"),
            width="stretch",
        )
    accuracy = query(
        "SELECT HEIGHT, SECONDS_BEFORE_BLOCK, TX_COUNT_DIFF, FEE_DIFF_PCT, "
        "TX_OVERLAP_PCT FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY ORDER BY HEIGHT"
    )
    st.subheader("Projection accuracy")
    st.dataframe(accuracy, width="stretch", hide_index=True)
    st.subheader("Stale blocks")
    table(
        "SELECT HEIGHT, BLOCK_HASH, POOL_NAME, REPLACED_BY_BLOCK_HASH "
        "FROM GOLD.FCT_STALE_BLOCKS ORDER BY HEIGHT DESC"
    )


def health() -> None:
    recon = query("SELECT * FROM OPS.RECONCILIATION ORDER BY RAW_ROWS DESC")
    balanced = bool(recon["is_balanced"].all()) if not recon.empty else True
    backlog = query("SELECT * FROM OPS.BUILDER_BACKLOG ORDER BY PENDING_EVENTS DESC")
    left, right = st.columns(2)
    left.metric("Every raw record accounted for", "yes" if balanced else "no")
    right.metric(
        "Events waiting in builders",
        int(backlog["pending_events"].sum()) if not backlog.empty else 0,
    )
    st.dataframe(recon, width="stretch", hide_index=True)
    if not backlog.empty:
        st.warning("A builder has unfinished events: check the task history of that builder.")
        st.dataframe(backlog, width="stretch", hide_index=True)
    st.subheader("Quarantine")
    table(
        "SELECT STAGE, REASON, COUNT(*) AS RECORDS FROM OPS.QUARANTINE "
        "GROUP BY 1, 2 ORDER BY 3 DESC"
    )


st.title("Bitcoin mempool")
tab_live, tab_history, tab_health = st.tabs(["Live", "History", "Pipeline health"])
with tab_live:
    live()
with tab_history:
    history()
with tab_health:
    health()
