"""How things are shown: labels in words with units, tables, charts, empty states."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import altair as alt
import pandas as pd
import streamlit as st

from mempool_dashboard.data import NotBuiltYet

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
    "oldest_batch_id": "Oldest batch",
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


def not_built(what: str, error: NotBuiltYet) -> None:
    st.info(
        f"{what}: not built yet. A deploy's first gold run (REFRESH_GOLD, within minutes of "
        "the deploy) makes what this reads; Pipeline health shows the task's runs. "
        f"If it stays, the error was: {error}",
        icon=":material/construction:",
    )


@contextmanager
def until_built(what: str) -> Iterator[None]:
    """One section of a page: one that reads what dbt has not made yet says so, and the
    sections after it still render."""
    try:
        yield
    except NotBuiltYet as error:
        not_built(what, error)


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


def age_words(minutes: float) -> str:
    if minutes < 1.5:
        return f"{minutes * 60:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def staleness_warning(
    what: str, age_minutes: float | None, target_minutes: float, idle_minutes: float = 0.0
) -> str | None:
    """The warning a Live section shows when its newest data is older than the target
    OPS.FRESHNESS_TARGETS holds for its table; None while it is fresh or has no data.
    Within the idle allowance, SILVER was only waiting for a viewer: the page says so
    (it asked for a refresh as it opened), and warns plainly past it."""
    if age_minutes is None or age_minutes <= target_minutes:
        return None
    if age_minutes <= target_minutes + idle_minutes:
        return (
            f"{what}: newest data {age_words(age_minutes)} old, past the "
            f"{target_minutes:g}-minute target: with nobody watching, SILVER refreshes every "
            f"{idle_minutes:g} minutes. This page has asked for a refresh, due within about "
            "two minutes."
        )
    return (
        f"{what}: newest data {age_words(age_minutes)} old, past the "
        f"{target_minutes:g}-minute target. The pipeline may be behind (see Pipeline health)."
    )


def freshness_note(
    what: str, age_minutes: float | None, target_minutes: float, idle_minutes: float = 0.0
) -> None:
    """Every Live section says how old its data is, and warns once it is stale."""
    warning = staleness_warning(what, age_minutes, target_minutes, idle_minutes)
    if warning:
        st.warning(warning, icon=":material/schedule:")
    elif age_minutes is not None:
        st.caption(f"{what}: newest data {age_words(max(age_minutes, 0.0))} old.")
