"""Pipeline health: is data arriving, complete, deduplicated and on time, and how
did the tasks run. Reads OPS (and GOLD for continuity)."""

from __future__ import annotations

from datetime import timedelta

import altair as alt
import pandas as pd
import streamlit as st

from mempool_dashboard.data import NotBuiltYet, first, fmt, query, utc_now
from mempool_dashboard.display import (
    TIME_ZONE_NOTE,
    chart,
    empty_state,
    not_built,
    show_table,
    time_axis,
    until_built,
)


def health() -> None:
    since_day = utc_now() - timedelta(days=1)
    recon = query("SELECT * FROM OPS.RECONCILIATION ORDER BY RAW_ROWS DESC")
    backlog = query("SELECT * FROM OPS.BUILDER_BACKLOG ORDER BY PENDING_EVENTS DESC")
    # dbt makes OPS.TABLE_FRESHNESS: before a deploy's first gold run the rest of this
    # page (loads, task runs, alerts: what tells why gold is not there) still shows.
    freshness: pd.DataFrame | None = None
    unbuilt: NotBuiltYet | None = None
    try:
        freshness = query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, NEWEST_ROW_AT, AGE_MINUTES, TARGET_MINUTES, "
            "IS_FRESH FROM OPS.TABLE_FRESHNESS ORDER BY IS_FRESH, TABLE_SCHEMA, TABLE_NAME"
        )
    except NotBuiltYet as error:
        unbuilt = error
    runs = query(
        "SELECT TASK_NAME, STATE, STARTED_AT, COMPLETED_AT, "
        "DATEDIFF('millisecond', STARTED_AT, COMPLETED_AT) / 1000 AS SECONDS, ERROR_MESSAGE "
        "FROM OPS.TASK_RUNS WHERE STARTED_AT >= ? ORDER BY STARTED_AT DESC",
        (since_day,),
    )
    balanced = bool(recon["is_balanced"].all()) if not recon.empty else True
    stale = (
        "–"
        if freshness is None
        else int((~freshness["is_fresh"].astype(bool)).sum())
        if not freshness.empty
        else 0
    )
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
    if unbuilt is not None:
        not_built("Freshness", unbuilt)
    elif freshness is not None:
        if not freshness.empty:
            freshness["status"] = [
                "Fresh" if ok else "Behind target" for ok in freshness["is_fresh"]
            ]
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
    with until_built("Sequence gaps, reorgs and missing heights"):
        continuity_section()

    st.subheader("Task runs (last 24 hours)")
    on_demand_runs("Silver")
    on_demand_runs("Gold")
    if runs.empty:
        empty_state("task runs")
    else:
        last = runs.drop_duplicates("task_name")[["task_name", "state", "completed_at"]]
        show_table(last.sort_values("task_name"), "task runs")
        with st.expander("Every run, newest first"):
            show_table(runs.head(200), "task runs")
    st.subheader("Alerts (last 24 hours)")
    # OPS.ALERT_RUNS: Snowflake's alert history (the local runtime records its runs there).
    alerts = query(
        "SELECT ALERT_NAME, STATE, SCHEDULED_AT, COMPLETED_AT, ERROR_MESSAGE "
        "FROM OPS.ALERT_RUNS WHERE SCHEDULED_AT >= ? ORDER BY SCHEDULED_AT DESC",
        (since_day,),
    )
    if alerts.empty:
        empty_state("alert runs", "the alerts run every 15 minutes to 12 hours once resumed")
    else:
        fired = alerts[alerts["state"] == "TRIGGERED"]
        broken = alerts[alerts["state"].isin(["CONDITION_FAILED", "ACTION_FAILED", "FAILED"])]
        cols = st.columns(2)
        cols[0].metric("Alerts fired", len(fired))
        cols[1].metric("Alert runs that failed", len(broken))
        if not fired.empty or not broken.empty:
            st.warning("An alert fired or failed: its section in docs/runbook.md says why.")
            show_table(pd.concat([fired, broken]).head(200), "alert runs")
        with st.expander("Every alert run, newest first"):
            show_table(alerts.head(200), "alert runs")
    cost_panel()
    st.caption(TIME_ZONE_NOTE)


# The two on-demand logs (a row a run, 60_tasks.sql), each read by one fixed statement:
# its runs, how many a viewer asked for, and a third figure with how it reads; and what
# asks for the layer's runs.
ON_DEMAND = {
    "Silver": (
        "SELECT COUNT(*) AS RUNS, SUM(IFF(REQUESTS > TICK_REQUESTS, 1, 0)) AS WATCHED_RUNS, "
        "MAX(DATEDIFF('second', FIRST_REQUESTED_AT, STARTED_AT)) AS THIRD "
        "FROM OPS.SILVER_REFRESHES WHERE STARTED_AT >= ?",
        ("Longest wait for a run", "{:,.0f}", "s"),
        "SILVER refreshes when data has landed and a run was asked for: by the Live page at "
        "each refresh while it is open, or by the idle tick (docs/deploy.md, the choice).",
    ),
    "Gold": (
        "SELECT COUNT(*) AS RUNS, SUM(IFF(REQUESTS > TICK_REQUESTS, 1, 0)) AS WATCHED_RUNS, "
        "SUM(IFF(TESTS_DUE, 1, 0)) AS THIRD FROM OPS.GOLD_REFRESHES WHERE STARTED_AT >= ?",
        ("Followed by the dbt tests", "{:,.0f}", ""),
        "GOLD is rebuilt when a run was asked for: by the History page while the dashboard "
        "is open, or by the gold idle tick; the tests follow a run every few hours.",
    ),
}


def on_demand_runs(layer: str) -> None:
    """How a layer was refreshed on demand over the last day: how many runs, how many a
    viewer asked for (the rest only the idle tick), and the layer's third figure."""
    statement, (label, pattern, unit), caption = ON_DEMAND[layer]
    served = query(statement, (utc_now() - timedelta(days=1),))
    cols = st.columns(3)
    cols[0].metric(f"{layer} runs", fmt(first(served, "runs"), "{:,}"))
    cols[1].metric("Asked for by a viewer", fmt(first(served, "watched_runs"), "{:,.0f}"))
    cols[2].metric(label, fmt(first(served, "third"), pattern, unit))
    st.caption(caption)


def cost_panel() -> None:
    """Credits per day by kind (OPS.CREDITS_BY_KIND, Snowflake's usage history), the last
    day's against the daily budget CREDITS_ALERT reads. The app has no bar: it runs its
    queries on the warehouse, which counts them."""
    st.subheader("Credits (last 30 days)")
    now = utc_now()
    usage = query(
        "SELECT DATE_TRUNC('DAY', START_AT) AS DAY_AT, KIND, SUM(CREDITS) AS CREDITS "
        "FROM OPS.CREDITS_BY_KIND WHERE START_AT >= ? GROUP BY 1, 2 ORDER BY 1",
        (now - timedelta(days=30),),
    )
    if usage.empty:
        empty_state(
            "credit history",
            "nothing bills on the local warehouse; on Snowflake this reads its usage history",
        )
        return
    last_day = query(
        "SELECT KIND, SUM(CREDITS) AS CREDITS FROM OPS.CREDITS_BY_KIND "
        "WHERE START_AT >= ? GROUP BY 1",
        (now - timedelta(days=1),),
    )
    budget = first(
        query("SELECT VALUE FROM OPS.ALERT_THRESHOLDS WHERE NAME = 'SERVERLESS_CREDITS_PER_DAY'"),
        "value",
    )
    serverless = last_day[last_day["kind"].isin(["serverless tasks", "serverless alerts"])]
    cols = st.columns(3)
    cols[0].metric("Credits, last 24 h", f"{float(last_day['credits'].sum()):,.2f}")
    cols[1].metric(
        "Serverless credits, last 24 h",
        f"{float(serverless['credits'].sum()):,.2f}",
        help=f"CREDITS_ALERT holds serverless tasks and alerts each to {budget} a day",
    )
    cols[2].metric("Credits, last 30 days", f"{float(usage['credits'].sum()):,.1f}")
    if budget is not None and (serverless["credits"] > float(budget)).any():
        st.warning("Serverless credits are over the daily budget: docs/runbook.md#credits.")
    chart(
        alt.Chart(usage)
        .mark_bar()
        .encode(
            x=time_axis("day_at", "Day (UTC)"),
            y=alt.Y("sum(credits):Q", title="Credits", stack=True),
            color=alt.Color("kind:N", title="Kind"),
            tooltip=[
                alt.Tooltip("kind:N", title="Kind"),
                alt.Tooltip("sum(credits):Q", title="Credits", format=",.3f"),
            ],
        ),
        "Credits per day by kind (the dashboard runs on the warehouse; Snowpipe keeps 14 days)",
    )


def continuity_section() -> None:
    """What GOLD says of the chain's continuity (dbt's marts)."""
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
