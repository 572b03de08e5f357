"""Dashboard render times on 30 days of simulated history (a benchmark, not a test).

A fresh local warehouse is loaded the way production loads it: the history lands in S3
(sandbox/history.py: one stats frame a minute, every block, prices, the projected block
tracked for the last day), the pipe emulation and the procedures load it, and dbt
builds gold. Then the app, from the bundle the deploy uploads, is run with Streamlit's
AppTest: every run executes all three tabs, so a run is what opening the page costs.
Measured: the first run (empty cache: every query goes to the warehouse), a rerun (the
cache answers), switching History to 30 days, and the Live page alone; with Chromium
present, also the time from opening the page in the browser to the app's "not running"
state.

    python -m benchmarks.dashboard --days 30
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.stack import emulators, report
from sandbox.app_harness import app_is_idle, app_test, chromium_missing, headless_chromium
from sandbox.dbt_local import run_dbt
from sandbox.history import HistoryPlan, land_history
from sandbox.pipeline import dashboard_service
from sandbox.services import free_port
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse

ROUNDS = 3


def load(rt: LocalSnowflake, days: float) -> dict[str, Any]:
    started = time.perf_counter()
    plan = HistoryPlan(
        seed=30,
        hours=days * 24,
        end_time=int(time.time()),
        tx_per_s=0.5,
        projected_hours=24,
        object_hours=24,
    )
    records = land_history(rt.s3, rt.bucket, plan, progress=lambda m: print(f"  {m}", flush=True))
    landed = time.perf_counter()
    while rt.drain_notifications():
        pass
    rt.request_silver("BENCHMARK")
    rt.run_graph()
    loaded = time.perf_counter()
    print(f"  loaded {records:,} records into SILVER in {loaded - landed:.0f} s", flush=True)
    dbt_log = Path(tempfile.gettempdir()) / "bench-dashboard-dbt.log"
    result = run_dbt(
        rt.warehouse, "build", target_dir=Path(tempfile.mkdtemp()) / "dbt", log_file=dbt_log
    )
    if result.returncode != 0:
        raise RuntimeError(f"dbt build failed: see {dbt_log}")
    built = time.perf_counter()
    print(f"  dbt build in {built - loaded:.0f} s", flush=True)
    sizes = {
        table: int(rt.execute(f"SELECT COUNT(*) FROM GOLD.{table}")[0][0])
        for table in ("FCT_MEMPOOL_MINUTELY", "FCT_BLOCKS", "FCT_MEMPOOL_BLOCKS", "FCT_PRICES")
    }
    return {
        "records": records,
        "land_s": round(landed - started, 1),
        "silver_s": round(loaded - landed, 1),
        "dbt_s": round(built - loaded, 1),
        "gold_rows": sizes,
    }


def timed_run(app: Any) -> float:
    """Seconds for one AppTest run; a run that raised is no figure."""
    started = time.perf_counter()
    app.run()
    seconds = time.perf_counter() - started
    if app.exception:
        raise RuntimeError([e.value for e in app.exception])
    return seconds


def app_runs(warehouse: LocalWarehouse, home: Path) -> dict[str, list[float]]:
    """Seconds per AppTest run: the first (nothing cached), a rerun, History at 30 days;
    then Live alone, first and rerun."""
    import streamlit as st

    times: dict[str, list[float]] = {"first": [], "rerun": [], "history_30_days": []}
    with app_test(warehouse, home, timeout_s=300) as app:
        for _ in range(ROUNDS):
            st.cache_data.clear()
            for name in times:
                if name == "history_30_days":
                    app.selectbox[0].set_value("Last 30 days")
                times[name].append(timed_run(app))
            app.selectbox[0].set_value("Last 24 hours")
    # Live by itself, as its own refresh reruns it every few seconds (a fragment).
    times["live_first"], times["live_rerun"] = [], []
    with app_test(warehouse, home / "live", timeout_s=300, page="live") as live:
        for _ in range(ROUNDS):
            st.cache_data.clear()
            times["live_first"].append(timed_run(live))
            times["live_rerun"].append(timed_run(live))
    return times


def browser_loads(warehouse: LocalWarehouse, home: Path) -> list[float] | None:
    """Seconds from opening the page to the app's first finished run, in headless
    Chromium against `streamlit run` of the bundle: a first visit, then reloads."""
    if chromium_missing():
        return None
    from selenium.webdriver.support.ui import WebDriverWait

    port = free_port()
    service = dashboard_service(warehouse, home / "served", port, home / "dashboard.log")
    service.start()
    loads = []
    try:
        with headless_chromium(home / "chromium") as browser:
            for _ in range(ROUNDS):
                started = time.perf_counter()
                browser.get(f"http://127.0.0.1:{port}")
                WebDriverWait(browser, 300, poll_frequency=0.05).until(app_is_idle)
                loads.append(time.perf_counter() - started)
    finally:
        service.stop()
    return loads


def run(days: float) -> dict[str, Any]:
    with emulators() as stack:
        rt = stack.runtime("bench_dashboard")
        loading = load(rt, days)
        rt.close()
        home = stack.workdir / "home"
        runs = app_runs(rt.warehouse, home)
        browser = browser_loads(rt.warehouse, home)
    return {"days": days, "loading": loading, "app_runs_s": runs, "browser_loads_s": browser}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=30)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.days), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
