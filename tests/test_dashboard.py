"""The dashboard people open: every tab on a warehouse loaded with six hours of
simulated history (through the pipes, procedures and dbt), rendered by Streamlit's
AppTest, and end to end in headless Chromium against `streamlit run`.

Length: one module per app, since its tests share the loaded warehouse (the costliest
fixture of the suite) and the rendering helpers; split, each part would load its own."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from sandbox.app_harness import (
    PAGES,
    app_is_idle,
    app_test,
    chromium_missing,
    headless_chromium,
    metric_labels,
)
from sandbox.dbt_local import run_dbt
from sandbox.history import HistoryPlan, land_history
from sandbox.pipeline import dashboard_service
from sandbox.services import free_port
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt]

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "output" / "dashboard"
HOURS = 6


def live_2h_frames(minutes: int = 130) -> bytes:
    """The `live-2h-chart` statistic the simulator sends once a minute, for the last
    `minutes` (the history plan subscribes to blocks, stats and mempool-blocks only)."""
    now = int(time.time())
    model = Model(seed=5, start_time=now - minutes * 60, history_blocks=2)
    records = []
    for i in range(minutes):
        at = now - (minutes - i) * 60
        model.advance(at)
        received = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
        records += contract.records_from_frame(
            {"live-2h-chart": model.live_2h_chart(at)},
            origin_id="live2h",
            frame_seq=i,
            received_at=received.replace("+00:00", "Z"),
        )
    return contract.encode_ndjson(records)


def drain(rt: LocalSnowflake) -> None:
    """What Snowpipe and the task graph do while the page is open, until nothing is left
    to load."""
    while rt.drain_notifications():
        rt.request_silver("TEST")
        rt.run_graph()
    rt.request_silver("TEST")
    rt.run_graph()


@pytest.fixture(scope="module")
def loaded(
    moto_endpoint: str, fakesnow_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalSnowflake]:
    with landing_zone(moto_endpoint, "dashboard") as landing:
        rt = new_runtime(landing, fakesnow_server)
        rt.deploy()
        land_history(rt.s3, rt.bucket, HistoryPlan(seed=21, hours=HOURS, end_time=int(time.time())))
        land(rt, "mempool-data/stream/", b'{"not": "a contract record"}\n')
        land(rt, contract.PREFIX_STREAM, live_2h_frames())
        drain(rt)
        result = run_dbt(rt.warehouse, "build", target_dir=tmp_path_factory.mktemp("dbt"))
        assert result.returncode == 0, result.stdout[-3000:]
        yield rt
        rt.close()


def render(warehouse: LocalWarehouse, home: Path) -> Any:
    """One run of the deploy bundle with AppTest, connected as `streamlit run` would be."""
    with app_test(warehouse, home) as app:
        app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


@pytest.fixture(scope="module")
def app(loaded: LocalSnowflake, tmp_path_factory: pytest.TempPathFactory) -> Any:
    app = render(loaded.warehouse, tmp_path_factory.mktemp("app"))
    # With gold built, a section saying "not built yet" is a fault (a statement naming
    # something that is not there), which the page shows instead of raising.
    assert not [i.value for i in app.info if "not built yet" in i.value]
    return app


def metrics(app: Any) -> dict[str, str]:
    return {m.label: m.value for m in app.metric}


def test_live_shows_what_mempool_space_shows_at_a_glance(app: Any, loaded: LocalSnowflake) -> None:
    assert [t.label for t in app.tabs] == ["Live", "History", "Pipeline health"]
    shown = metrics(app)
    ((tx_count, tip, price),) = q(
        loaded,
        "SELECT (SELECT TX_COUNT FROM GOLD.LIVE_MEMPOOL_MINUTELY ORDER BY MINUTE_AT DESC LIMIT 1),"
        " (SELECT MAX(HEIGHT) FROM GOLD.LIVE_BLOCKS),"
        " (SELECT USD_PER_BTC FROM GOLD.LIVE_PRICES ORDER BY PRICED_AT DESC LIMIT 1)",
    )
    assert shown["Unconfirmed transactions"] == f"{tx_count:,.0f}"
    assert shown["Last block"] == f"{tip:,.0f}"
    assert shown["BTC price (USD)"] == f"${price:,.0f}"
    assert float(shown["High priority (sat/vB)"]) >= float(shown["Economy (sat/vB)"])
    # The projected-blocks strip: the next block first, each with its median fee rate.
    assert shown["Next block"].endswith("sat/vB")
    assert any("The mempool and fee figures: newest data" in c.value for c in app.caption)
    latest = next(f.value for f in app.dataframe if "Height" in f.value.columns)
    assert list(latest["Height"]) == sorted(latest["Height"], reverse=True)[:10]
    assert "Median fee rate (sat/vB)" in latest.columns


def charts_by_title(app: Any) -> dict[str, Any]:
    return {_title(c): c for c in app.get("arrow_vega_lite_chart")}


def chart_rows(chart: Any) -> Any:
    """The rows a chart draws: its datasets, as Streamlit sends them (Arrow IPC)."""
    import pandas as pd
    import pyarrow as pa  # type: ignore[import-untyped]

    frames = [pa.ipc.open_stream(d.data.data).read_all().to_pandas() for d in chart.proto.datasets]
    return pd.concat(frames) if frames else pd.DataFrame()


def test_live_draws_the_mempool_by_fee_band_and_the_inflow(
    app: Any, loaded: LocalSnowflake
) -> None:
    """mempool.space's front-page chart: the last two hours of `live-2h-chart` statistics
    stacked by fee band, beside the incoming vB/s."""
    import json

    charts = charts_by_title(app)
    bands = chart_rows(charts["Mempool by fee rate (vMB)"])
    spec = json.loads(charts["Mempool by fee rate (vMB)"].proto.spec)
    assert spec["mark"]["type"] == "area" and spec["encoding"]["y"]["stack"] == "zero"
    # Two hours of once-a-minute statistics, several bands each.
    assert 100 <= bands["stat_at"].nunique() <= 121
    assert bands["band"].nunique() > 3
    # The stack's height at the newest statistic is the mempool's vsize that minute.
    ((vsizes,),) = q(
        loaded,
        "SELECT VSIZES FROM SILVER.LIVE_2H_CHART ORDER BY RECEIVED_AT DESC LIMIT 1",
    )
    newest = bands[bands["stat_at"] == bands["stat_at"].max()]
    assert newest["vsize_mvb"].sum() == pytest.approx(sum(json.loads(vsizes)) / 1e6)
    # Low fees at the bottom, as mempool.space stacks them.
    assert spec["encoding"]["order"]["field"] == "low"
    inflow = chart_rows(charts["Incoming transactions (vB/s)"])
    assert len(inflow) >= 100 and (inflow["vbytes_per_second"] > 0).any()


def test_the_projected_blocks_fee_ranges_stay_readable(app: Any) -> None:
    """The next block's range (often 8-200 sat/vB) must not flatten the others': the axis
    is symlog (log-like, and takes a 0 sat/vB low end), shared by the bars and ticks."""
    import json

    chart = charts_by_title(app)["Fee range of each projected block (bar) and its median (tick)"]
    spec = json.loads(chart.proto.spec)
    bars, ticks = spec["layer"]
    assert bars["encoding"]["y"]["scale"]["type"] == "symlog"
    assert ticks["encoding"]["y"]["field"] == "median_fee_rate_sat_per_vb"
    assert spec.get("resolve", {}).get("scale", {}).get("y", "shared") == "shared"
    rows = chart_rows(chart)
    assert (rows["max_fee_rate_sat_per_vb"] > rows["min_fee_rate_sat_per_vb"]).all()


def test_latest_blocks_say_which_clock_each_time_is(app: Any) -> None:
    assert any("Mined at is the block header's time" in c.value for c in app.caption)
    latest = next(f.value for f in app.dataframe if "Height" in f.value.columns)
    assert {"Mined at (UTC)", "First seen (UTC)"} <= set(latest.columns)


def test_header_times_a_reader_would_take_for_a_clock_error_are_explained() -> None:
    import sys

    import pandas as pd

    sys.path.insert(0, str(REPO / "streamlit_app"))
    try:
        from mempool_dashboard.live import clock_notes
    finally:
        sys.path.remove(str(REPO / "streamlit_app"))
    now = pd.Timestamp("2026-01-13 10:00:00")
    blocks = pd.DataFrame(
        {
            "height": [102, 101, 100],
            "mined_at": pd.to_datetime(
                ["2026-01-13 10:20:00", "2026-01-13 09:40:00", "2026-01-13 09:45:00"]
            ),
            "minutes_since_previous_block": [40.0, -5.0, 9.0],
        }
    )
    ahead, earlier = clock_notes(blocks, now)
    assert ahead.startswith("Block 102: header time ahead of this page's clock")
    assert earlier.startswith("Block 101: header time earlier than the previous block's")
    assert clock_notes(blocks.iloc[2:], now) == []


def test_history_charts_every_series_over_the_chosen_range(
    app: Any, loaded: LocalSnowflake
) -> None:
    assert app.selectbox[0].label == "Time range"
    titles = {_title(c) for c in app.get("arrow_vega_lite_chart")}
    for expected in (
        "Recommended fee rates",
        "Mempool size",
        "Fees paid per block",
        "Time between blocks",
        "BTC price (line) with mempool congestion (shaded)",
        "How much of each projected block was mined",
        "Would the recommended fastest fee have made the next block?",
    ):
        assert expected in titles
    ((included, samples),) = q(
        loaded,
        "SELECT SUM(INCLUDED_SAMPLE_COUNT), SUM(SAMPLE_COUNT) "
        "FROM GOLD.FCT_FEE_RECOMMENDATION_ACCURACY WHERE SAMPLE_COUNT > 0",
    )
    assert samples > 0
    assert metrics(app)["Fastest-fee samples that made the next block"] == (
        f"{included * 100.0 / samples:.1f} %"
    )
    # The open History page asks for the runs its charts wait on (60_tasks.sql), and says
    # how old the marts are: built here by dbt directly, not yet by a REFRESH_GOLD run.
    for table in ("OPS.SILVER_REQUESTS", "OPS.GOLD_REQUESTS"):
        asked = q(loaded, f"SELECT COUNT(*) FROM {table} WHERE REQUESTED_BY = 'HISTORY_PAGE'")
        assert asked[0][0] >= 1, table
    assert any(
        "marts (prices, accuracy, stale blocks) have not been built yet" in c.value
        for c in app.caption
    )


def test_health_accounts_for_every_record_and_shows_task_runs(app: Any) -> None:
    shown = metrics(app)
    assert shown["Every raw record accounted for"] == "yes"
    assert shown["Events waiting in builders"] == "0"
    assert shown["Failed task runs (24 h)"] == "0"
    # On-demand runs: SILVER's served the fixture's requests; gold was built by dbt
    # directly here, so no REFRESH_GOLD run is logged.
    assert shown["Silver runs"] not in ("0", "–") and shown["Gold runs"] == "0"
    frames = [f.value for f in app.dataframe]
    freshness = next(f for f in frames if "Target (minutes)" in f.columns)
    assert len(freshness) == 18
    quarantine = next(f for f in frames if "Reason" in f.columns)
    assert quarantine["Records"].sum() >= 1
    assert '{"not": "a contract record"}' in set(quarantine["Sample record"])
    runs = next(f for f in frames if "Task" in f.columns)
    assert set(runs["Task"]) >= {"REFRESH_SILVER"}
    assert set(runs["State"]) == {"SUCCEEDED"}
    # The cost panel: nothing bills locally, so it says so instead of charting zeros.
    assert "Credits (last 30 days)" in [h.value for h in app.subheader]
    assert any(
        i.value.startswith("No credit history yet: nothing bills on the local warehouse")
        for i in app.info
    )


def test_every_column_is_labelled_in_words(app: Any) -> None:
    for frame in app.dataframe:
        raw = [c for c in frame.value.columns if "_" in c]
        assert raw == [], raw


def deployed_with_empty_gold(
    landing: Any, server: LocalWarehouse, tmp_path: Path
) -> LocalSnowflake:
    """A fresh deploy whose gold has been built on no data."""
    rt = new_runtime(landing, server)
    rt.deploy()
    result = run_dbt(rt.warehouse, "build", target_dir=tmp_path / "dbt")
    assert result.returncode == 0, result.stdout[-3000:]
    return rt


def test_an_empty_warehouse_renders_friendly_empty_states(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    rt = deployed_with_empty_gold(landing, fakesnow_server, tmp_path)
    try:
        app = render(rt.warehouse, tmp_path / "home")
    finally:
        rt.close()
    assert metrics(app)["Unconfirmed transactions"] == "–"
    assert any("No projected blocks yet" in i.value for i in app.info)
    assert any("No mempool statistics" in i.value for i in app.info)
    assert not any("not built yet" in i.value for i in app.info)  # dbt has built, on nothing
    assert not app.warning  # no data is not stale data


def test_a_deploy_before_its_first_gold_build_says_so_section_by_section(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    """A deploy puts the app in place minutes before REFRESH_GOLD's first run makes the
    views and marts it reads (and a release's new model, before the first run after it).
    Every section that reads them says so instead of the page failing, and what needs no
    dbt (the loads, the task runs, the alerts: why gold is not there) still shows."""
    rt = new_runtime(landing, fakesnow_server)
    rt.deploy()
    try:
        app = render(rt.warehouse, tmp_path / "home")
    finally:
        rt.close()
    unbuilt = {i.value.split(":", 1)[0] for i in app.info if ": not built yet." in i.value}
    assert unbuilt == {
        "Recommended fees now",
        "Mempool by fee rate",
        "Incoming transactions",
        "Projected blocks",
        "Fee rates in the projected next block",
        "Latest blocks",
        "History",
        "Freshness",
        "Sequence gaps, reorgs and missing heights",
    }, unbuilt
    shown = metrics(app)
    assert shown["Every raw record accounted for"] == "yes"
    assert shown["Tables behind their freshness target"] == "–"
    assert shown["Failed task runs (24 h)"] == "0"
    assert any(s.value == "Alerts (last 24 hours)" for s in app.subheader)


def test_live_warns_when_its_data_is_older_than_its_target(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    """A pipeline that stopped two hours ago must not show its last numbers as now."""
    rt = deployed_with_empty_gold(landing, fakesnow_server, tmp_path)
    # SILVER's newest sample, two hours old: Live's view still holds it (its window is
    # longer), and its age is measured on SILVER's target.
    q(
        rt,
        "INSERT INTO SILVER.MEMPOOL_INFO (EVENT_KEY, RECEIVED_AT, TX_COUNT, LOADED_AT) "
        "VALUES ('stopped', DATEADD('minute', -120, DATE_TRUNC('minute', SYSDATE())), 4321, "
        "DATEADD('minute', -120, DATE_TRUNC('minute', SYSDATE())))",
    )
    try:
        app = render(rt.warehouse, tmp_path / "home")
    finally:
        rt.close()
    assert metrics(app)["Unconfirmed transactions"] == "4,321"
    assert [w.value for w in app.warning] == [
        "The mempool and fee figures: newest data 2.0 h old, past the 5-minute target. "
        "The pipeline may be behind (see Pipeline health)."
    ]


def test_live_opened_after_nobody_watched_says_it_asked_for_a_refresh(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    """With nobody watching, SILVER refreshes at the idle tick: a page opened then finds
    data past its target but within the idle allowance. It must still warn, and say why
    and what it did about it (it requested a silver run), instead of calling it a stall."""
    rt = deployed_with_empty_gold(landing, fakesnow_server, tmp_path)
    q(
        rt,
        "INSERT INTO SILVER.MEMPOOL_INFO (EVENT_KEY, RECEIVED_AT, TX_COUNT, LOADED_AT) "
        "VALUES ('idle', DATEADD('minute', -8, DATE_TRUNC('minute', SYSDATE())), 1234, "
        "DATEADD('minute', -8, DATE_TRUNC('minute', SYSDATE())))",
    )
    try:
        app = render(rt.warehouse, tmp_path / "home")
        requests = q(rt, "SELECT REQUESTED_BY FROM OPS.SILVER_REQUESTS")
    finally:
        rt.close()
    assert ("LIVE_PAGE",) in requests
    [warning] = [w.value for w in app.warning]
    # Eight minutes before this minute's start: 8 to 9 minutes old.
    assert re.match(r"The mempool and fee figures: newest data [89] min old", warning), warning
    assert "past the 5-minute target: with nobody watching, SILVER refreshes every 10" in warning
    assert "asked for a refresh" in warning


def fees_frame(seq: int, fastest: float, tx_count: int, seconds_ago: int) -> bytes:
    """One WebSocket frame with the mempool and recommended fees, received `seconds_ago`."""
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    frame = {
        "mempoolInfo": {
            "loaded": True,
            "size": tx_count,
            "bytes": 4_000_000,
            "usage": 9_000_000,
            "total_fee": 0.5,
            "maxmempool": 300_000_000,
            "mempoolminfee": 1e-05,
            "minrelaytxfee": 1e-05,
            "incrementalrelayfee": 1e-05,
        },
        "fees": {
            "fastestFee": fastest,
            "halfHourFee": 5.0,
            "hourFee": 4.0,
            "economyFee": 2.0,
            "minimumFee": 1.0,
        },
    }
    records = contract.records_from_frame(
        frame,
        origin_id="live",
        frame_seq=seq,
        received_at=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )
    return contract.encode_ndjson(records)


def test_live_is_as_fresh_as_silver_without_a_gold_refresh(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    """A sample that reached SILVER after gold's last build is on Live at once; the mart
    still has the one before it until REFRESH_GOLD runs, and History's charts, which
    read GOLD.HISTORY_MEMPOOL_MINUTELY (the mart, then SILVER from its newest minute),
    have both minutes, each once."""
    rt = new_runtime(landing, fakesnow_server)
    try:
        rt.deploy()
        land(rt, contract.PREFIX_STREAM, fees_frame(0, 11.0, 1111, seconds_ago=300))
        cycle(rt)
        result = run_dbt(rt.warehouse, "build", target_dir=tmp_path / "dbt")
        assert result.returncode == 0, result.stdout[-3000:]
        land(rt, contract.PREFIX_STREAM, fees_frame(1, 47.0, 2222, seconds_ago=5))
        cycle(rt)  # the pipes and the task graph only: no dbt
        app = render(rt.warehouse, tmp_path / "home")
        gold = q(
            rt,
            "SELECT FASTEST_FEE_SAT_PER_VB, TX_COUNT FROM GOLD.FCT_MEMPOOL_MINUTELY "
            "ORDER BY MINUTE_AT DESC LIMIT 1",
        )
        history = q(
            rt,
            "SELECT FASTEST_FEE_SAT_PER_VB, TX_COUNT FROM GOLD.HISTORY_MEMPOOL_MINUTELY "
            "ORDER BY MINUTE_AT",
        )
    finally:
        rt.close()
    shown = metrics(app)
    assert (shown["High priority (sat/vB)"], shown["Unconfirmed transactions"]) == ("47.0", "2,222")
    assert gold == [(11.0, 1111)]
    assert history == [(11.0, 1111), (47.0, 2222)]
    assert not app.warning


def _title(chart: Any) -> str:
    import json

    spec = json.loads(chart.proto.spec)
    title = spec.get("title")
    if title is None and "layer" in spec:
        title = spec["layer"][0].get("title")
    return title if isinstance(title, str) else (title or {}).get("text", "")


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_each_page_runs_on_its_own(loaded: LocalSnowflake, tmp_path: Path, page: str) -> None:
    """What the benchmark times by itself (Live's refresh reruns Live alone): each page
    needs nothing the main script sets up, and shows what it shows within the app."""
    with app_test(loaded.warehouse, tmp_path / "home", page=page) as alone:
        alone.run()
    assert not alone.exception, [e.value for e in alone.exception]
    assert alone.subheader, page
    assert not [i.value for i in alone.info if "not built yet" in i.value]


def test_each_tab_renders_in_headless_chromium(loaded: LocalSnowflake, tmp_path: Path) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    missing = chromium_missing()
    assert missing is None, missing
    port = free_port()
    service = dashboard_service(loaded.warehouse, tmp_path, port, tmp_path / "dashboard.log")
    service.start()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    headlines = {
        "Live": {"Unconfirmed transactions", "Next block", "BTC price (USD)"},
        "History": {"Fastest-fee samples that made the next block"},
        "Pipeline health": {"Every raw record accounted for", "Failed task runs (24 h)"},
    }
    try:
        with headless_chromium(tmp_path / "chromium") as browser:
            browser.get(f"http://127.0.0.1:{port}")
            wait = WebDriverWait(browser, 90, poll_frequency=0.25)
            wait.until(app_is_idle)
            for index, (tab, expected) in enumerate(headlines.items()):

                def open_tab(b: Any, index: int = index) -> bool:
                    # Live redraws every few seconds: a tab button replaced under the
                    # read is looked up again.
                    try:
                        tabs = b.find_elements(By.CSS_SELECTOR, 'button[role="tab"]')
                        if [t.text for t in tabs] != list(headlines):
                            return False
                        tabs[index].click()
                    except StaleElementReferenceException:
                        return False
                    return True

                wait.until(open_tab)
                wait.until(app_is_idle)
                wait.until(lambda b, expected=expected: expected <= metric_labels(b))
                assert browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]') == []
                browser.save_screenshot(str(SCREENSHOTS / f"{tab.lower().replace(' ', '-')}.png"))
    finally:
        service.stop()
