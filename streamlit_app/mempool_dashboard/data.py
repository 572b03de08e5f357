"""Reading GOLD and OPS: one cached, parameter-bound query function and small
helpers for the values it returns. All times are naive UTC, as the tables hold them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st


@st.cache_resource
def session():  # type: ignore[no-untyped-def]
    """Snowsight provides the session; locally it comes from the connections settings."""
    return st.connection("snowflake").session()


class NotBuiltYet(Exception):
    """A statement read an object that does not exist. What dbt makes (GOLD's views and
    marts, OPS.TABLE_FRESHNESS) appears at a deploy's first REFRESH_GOLD run, minutes
    after the deploy (and a new model at the first run after the deploy that adds it): a
    page opened before then says so section by section (display.until_built) instead of
    failing whole. Snowflake words a missing grant the same way ("does not exist or not
    authorized"), so the message keeps the error."""


# Snowflake's error 002003, "Object '...' does not exist or not authorized" (Snowpark's
# exceptions carry the connector's number). A missing column (000904), a view whose base
# table went (002037) or no warehouse (000606) are faults, not a build to wait for.
OBJECT_DOES_NOT_EXIST = 2003


# Short: the cache spares the warehouse a rerun's repeated statements, not the Live
# refresh its fresh rows (operations/budget.py counts it in the Live path). Shorter than
# Live's refresh (5 s), so every refresh reads the warehouse: an entry's age counts from
# when its query returned, and the next refresh comes one refresh after the last began, so
# an entry as long as the refresh could still be fresh then (a fetch every other refresh).
@st.cache_data(ttl=3, show_spinner=False)
def query(sql: str, params: tuple[Any, ...] = ()) -> pd.DataFrame:
    """Rows of a fixed statement; anything the user chose is bound, never spliced in.
    Raises NotBuiltYet when the statement reads an object that does not exist (or that
    the role may not read)."""
    try:
        frame = session().sql(sql, params=list(params) or None).to_pandas()
    except Exception as exc:
        if getattr(exc, "sql_error_code", None) == OBJECT_DOES_NOT_EXIST:
            raise NotBuiltYet(str(exc)) from exc
        raise
    frame.columns = [c.lower() for c in frame.columns]
    return frame


# How a page asks for a run (60_tasks.sql): REFRESH_SILVER and REFRESH_GOLD run only
# when a request waits, so what a page shows is refreshed while it is open, and at the
# idle ticks when nobody watches. One fixed statement per layer.
REQUESTS = {
    "silver": "INSERT INTO OPS.SILVER_REQUESTS (REQUESTED_AT, REQUESTED_BY) SELECT SYSDATE(), ?",
    "gold": "INSERT INTO OPS.GOLD_REQUESTS (REQUESTED_AT, REQUESTED_BY) SELECT SYSDATE(), ?",
}


def request_run(layer: str, requested_by: str) -> None:
    """Ask for a run of the layer's task (the app runs with its owner's rights, who owns
    the requests' tables)."""
    session().sql(REQUESTS[layer], params=[requested_by]).collect()


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
