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
from pathlib import Path
from typing import Any

from benchmarks.stack import report

WARMUP_S = 60.0
LAYERS = {
    "silver": "SELECT DATEDIFF('millisecond', MAX(RECEIVED_AT), SYSDATE()) / 1000.0 "
    "FROM SILVER.PROJECTED_BLOCK_STATES",
    "live": "SELECT DATEDIFF('millisecond', MAX(PROJECTED_AT), SYSDATE()) / 1000.0 "
    "FROM GOLD.LIVE_PROJECTED_BLOCK",
    "gold": "SELECT DATEDIFF('millisecond', MAX(PROJECTED_AT), SYSDATE()) / 1000.0 "
    "FROM GOLD.FCT_PROJECTED_BLOCK",
    "history": "SELECT DATEDIFF('millisecond', MAX(MINUTE_AT), SYSDATE()) / 1000.0 "
    "FROM GOLD.HISTORY_MEMPOOL_MINUTELY",
}


def tile_ages(view: list[tuple[float, float]], refresh_s: float, ttl_s: float) -> list[float]:
    """The Live tile's age at each sample time, from the view's (time, age) samples: the
    tile shows what the last fetch returned, a fetch being a refresh whose cached answer
    had expired (older than the TTL), aged by the time since that fetch."""
    if not view:
        return []
    start = view[0][0]
    fetched_at, fetched_age = start, view[0][1]
    ages = []
    for t, age in view:
        last_refresh = start + (t - start) // refresh_s * refresh_s
        if last_refresh - fetched_at >= ttl_s:
            fetched_at, fetched_age = t, age  # this refresh queried the warehouse
        ages.append(fetched_age + (t - fetched_at))
    return ages


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def sample(home: Path, seconds: float) -> dict[str, list[float]]:
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
    ages: dict[str, list[float]] = {name: [] for name in LAYERS}
    view: list[tuple[float, float]] = []
    started = time.monotonic()
    try:
        while time.monotonic() - started < WARMUP_S + seconds:
            tick = time.monotonic()
            warm = tick - started >= WARMUP_S
            for name, sql in LAYERS.items():
                try:
                    cur = conn.cursor()
                    cur.execute(sql)
                    (age,) = cur.fetchone() or (None,)
                except Exception:
                    age = None  # gold's table may not exist before the first dbt build
                if warm and age is not None:
                    ages[name].append(float(age))
                    if name == "live":
                        view.append((tick, float(age)))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    finally:
        conn.close()
    from operations.budget import Assumptions, live_stages

    app = {stage.name: stage.worst_s for stage in live_stages(Assumptions())}
    ages["live tile"] = tile_ages(view, app["Live page refresh"], app["app query cache"])
    return ages


def run(seconds: float) -> dict[str, Any]:
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
            ages = sample(home, seconds)
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=300)
    return {
        "seconds": seconds,
        "samples": {name: len(values) for name, values in ages.items()},
        "p50_s": {n: round(percentile(v, 50), 1) for n, v in ages.items() if v},
        "p95_s": {n: round(percentile(v, 95), 1) for n, v in ages.items() if v},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.seconds), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
