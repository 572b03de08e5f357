"""Mempool dashboard: Streamlit in Snowflake, and locally the same files against the
local warehouse. Three views: Live (what mempool.space shows at a glance), History
(trends over a chosen range) and Pipeline health (is the data flowing and complete).

It reads GOLD, and OPS for health, only; every query is cached for a short time and
takes user input as bound parameters. All times are UTC.
"""

from __future__ import annotations

import streamlit as st
from mempool_dashboard.health import health
from mempool_dashboard.history import history
from mempool_dashboard.live import live

st.set_page_config(layout="wide")
st.title("Bitcoin mempool")
tab_live, tab_history, tab_health = st.tabs(["Live", "History", "Pipeline health"])
with tab_live:
    live()
with tab_history:
    history()
with tab_health:
    health()
