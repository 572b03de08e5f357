"""How things are shown: labels in words with units, tables, charts, empty states."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

TIME_ZONE_NOTE = "All times are UTC."
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
