"""Freshness of the local pipeline at demo speed 1 (a benchmark, not a test).

`mempool demo --speed 1` runs in a workspace of its own; once data flows, the newest
projected-block state is looked up once a second in SILVER
(PROJECTED_BLOCK_STATES.RECEIVED_AT), in the view the Live tab reads
(GOLD.LIVE_PROJECTED_BLOCK.PROJECTED_AT) and in the mart (GOLD.FCT_PROJECTED_BLOCK), all
the streamer's receipt time, against the warehouse's clock (UTC); and the newest minute
of the view History's mempool charts read (GOLD.HISTORY_MEMPOOL_MINUTELY.MINUTE_AT, a
minute's start: its age includes up to a minute of the minute itself). The simulator
sends a projected-block update every 2 s, so the age of the newest row is how far each
layer trails the source: p50 and p95 over the run.

The Live tile is the view as the app last fetched it: the page reruns every LIVE_REFRESH
and each run queries through a cache of the app's TTL, so at any moment the tile shows
the view as it was at the last refresh that reached the warehouse, aged since. Its ages
are computed from the view's samples with the app's own two settings (what `mempool
budget` reads), not measured in a browser.

Event to Live tile: the newest row's age counts, besides the pipeline, the time since the
source last sent a state (up to its 2 s) and only the states a sample caught as the
newest. So each event's latency is measured too: every projected-block state SILVER
received during the run (its RECEIVED_AT), to the first sample at which SILVER, the view
and the tile show a state at least that new (within the sampling's second).

    python -m benchmarks.freshness --seconds 180
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.stack import report

WARMUP_S = 60.0
# Each layer's newest row: (table or view, its time column).
LAYERS = {
    "silver": ("SILVER.PROJECTED_BLOCK_STATES", "RECEIVED_AT"),
    "live": ("GOLD.LIVE_PROJECTED_BLOCK", "PROJECTED_AT"),
    "gold": ("GOLD.FCT_PROJECTED_BLOCK", "PROJECTED_AT"),
    "history": ("GOLD.HISTORY_MEMPOOL_MINUTELY", "MINUTE_AT"),
}
# The layers whose every event's latency is measured (the events: SILVER's rows).
EVENT_LAYERS = ("silver", "live", "live tile")


def tile_view(
    view: list[tuple[float, float]], refresh_s: float, ttl_s: float
) -> list[tuple[float, float]]:
    """What the Live tile shows at each sample, from the view's (time, newest row's time)
    samples: the newest row of the last fetch. A refresh fetches when the cached answer
    has expired (its age, from the refresh that fetched it, at least the TTL), and reads
    the view as the last sample at or before the refresh saw it."""
    if not view:
        return []
    start = view[0][0]
    fetched_at, fetched = start, view[0][1]
    before = view[0]
    shown = []
    for t, newest in view:
        last_refresh = start + (t - start) // refresh_s * refresh_s
        if last_refresh - fetched_at >= ttl_s - 1e-6:
            fetched_at = last_refresh
            fetched = newest if t <= last_refresh else before[1]
        shown.append((t, fetched))
        before = (t, newest)
    return shown


def event_latencies(events: list[float], shown: list[tuple[float, float]]) -> list[float]:
    """Each event's latency to a layer: from its time to the first sample at which the
    layer's newest row is at least as new (`shown`: (sample time, newest row's time), in
    sample order, on one clock). Unlike the newest row's age, it counts every event, not
    only those a sample caught as the newest, and not the time since the source last sent
    one. Events before the first sample, or not shown by the last, are left out."""
    if not shown:
        return []
    newest_so_far, latest = [], float("-inf")
    for t, newest in shown:
        latest = max(latest, newest)
        newest_so_far.append((t, latest))
    latencies, i = [], 0
    for event in sorted(e for e in events if e > shown[0][1]):
        while i < len(newest_so_far) and newest_so_far[i][1] < event:
            i += 1
        if i == len(newest_so_far):
            break
        latencies.append(newest_so_far[i][0] - event)
    return latencies


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def epoch_s(at: Any) -> float:
    """A warehouse TIMESTAMP_NTZ (UTC) as seconds since the epoch."""
    return float(at.replace(tzinfo=UTC).timestamp())


def sample(home: Path, duration: float) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """The newest row's age in each layer, once a second, and each event's latency to
    SILVER, the Live view and the Live tile."""
    import snowflake.connector

    from sandbox.paths import Workspace
    from sandbox.warehouse import LocalWarehouse, StackNotRunning, local_from_workspace

    ws = Workspace(home)
    deadline = time.monotonic() + 120
    local: LocalWarehouse | None = None
    while local is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the demo did not start")
        time.sleep(0.5)
        try:
            local = local_from_workspace(ws)
        except StackNotRunning:
            continue
    conn = snowflake.connector.connect(**local.connect_kwargs())
    newest: dict[str, list[tuple[float, float]]] = {name: [] for name in LAYERS}
    started = time.monotonic()
    try:
        while time.monotonic() - started < WARMUP_S + duration:
            tick = time.monotonic()
            warm = tick - started >= WARMUP_S
            for name, (table, column) in LAYERS.items():
                try:
                    cur = conn.cursor()
                    cur.execute(f"SELECT MAX({column}), SYSDATE() FROM {table}")
                    row = cur.fetchone()
                except Exception:
                    row = None  # gold's table may not exist before the first dbt build
                if warm and row is not None and row[0] is not None:
                    newest[name].append((epoch_s(row[1]), epoch_s(row[0])))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        since = min((t for t, _ in newest["silver"]), default=0.0)
        cur = conn.cursor()
        # A time this code made: no value from outside is spliced in.
        since_at = datetime.fromtimestamp(since - 60, UTC).strftime("%Y-%m-%d %H:%M:%S")
        cur.execute(
            "SELECT DISTINCT RECEIVED_AT FROM SILVER.PROJECTED_BLOCK_STATES "
            f"WHERE RECEIVED_AT >= '{since_at}'::TIMESTAMP_NTZ"
        )
        events = [epoch_s(at) for (at,) in cur.fetchall()]
    finally:
        conn.close()
    from operations.budget import APP_CACHE, LIVE_REFRESH, app_seconds

    app = app_seconds()
    newest["live tile"] = tile_view(newest["live"], app[LIVE_REFRESH], app[APP_CACHE])
    ages = {name: [t - at for t, at in shown] for name, shown in newest.items()}
    latencies = {name: event_latencies(events, newest[name]) for name in EVENT_LAYERS}
    return ages, latencies


def run(duration: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "MEMPOOL_HOME": str(home)}
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "operations.cli",
                "demo",
                "--speed",
                "1",
                "--no-dashboard",
                "--seed",
                "5",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ages, latencies = sample(home, duration)
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=300)
    return {
        "seconds": duration,
        "samples": {name: len(values) for name, values in ages.items()},
        "p50_s": {n: round(percentile(v, 50), 1) for n, v in ages.items() if v},
        "p95_s": {n: round(percentile(v, 95), 1) for n, v in ages.items() if v},
        "events": {name: len(values) for name, values in latencies.items()},
        "latency_p50_s": {n: round(percentile(v, 50), 1) for n, v in latencies.items() if v},
        "latency_p95_s": {n: round(percentile(v, 95), 1) for n, v in latencies.items() if v},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.seconds), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
