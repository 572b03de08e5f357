"""`mempool demo` brings the stack up and down: exit 0, a summary, no process left."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import snowflake.connector

from sandbox.paths import Workspace
from sandbox.services import free_port
from sandbox.simulator.truth import read_truth
from sandbox.warehouse import LocalWarehouse
from tests.conftest import run_verify, start_fakesnow

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def processes_with_env(marker: str) -> list[int]:
    """PIDs whose environment carries `marker` (every process the demo started does)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def demo_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "operations.cli", "demo", "--no-dashboard", *args]


def test_bounded_demo_runs_the_pipeline_end_to_end_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    home = tmp_path / "demo-home"
    env = {**os.environ, "MEMPOOL_HOME": str(home)}
    out = subprocess.run(
        # Seed 7's first block (a one-block reorg) comes 504 simulated seconds in. At 30x
        # the 90 s are 45 production minutes: the 15-minute alerts run every 30 s.
        demo_cmd("--duration", "90", "--seed", "7", "--speed", "30"),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # A call IAM refused (a permission terraform/ does not grant) fails the demo.
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-2000:]
    assert "summary after" in out.stdout and "stopping took" in out.stdout
    # The stop says what it waits for.
    assert "stopping snowflake runtime: a last pass" in out.stdout
    assert "iam every call was allowed by the policies in terraform/" in out.stdout
    assert not (home / "stack.json").exists()
    time.sleep(0.5)
    assert processes_with_env(str(home)) == []
    # Two streamers by default, as production runs them, each with its own log.
    assert "stopping streamer-1:" in out.stdout and "stopping streamer-2:" in out.stdout
    for log in (
        "moto",
        "fakesnow",
        "simulator",
        "streamer-1",
        "streamer-2",
        "poller",
        "snowflake-runtime",
        "dbt",
    ):
        assert (home / "logs" / f"{log}.log").exists(), log

    landed = dict(re.findall(r"s3  mempool-data/(\w+)/\s+(\d+) objects", out.stdout))
    assert {"stream", "conversions", "blocks", "prices", "stats"} <= set(landed)
    rows = {t: int(n) for t, n in re.findall(r"sf  (\S+)\s+(\d+) rows", out.stdout)}
    silver = {t: n for t, n in rows.items() if t.startswith("SILVER.")}
    assert {
        "SILVER.EVENTS",
        "SILVER.MEMPOOL_INFO",
        "SILVER.RECOMMENDED_FEES",
        "SILVER.VBYTES_PER_SECOND",
        "SILVER.MEMPOOL_BLOCKS",
        "SILVER.DIFFICULTY_ADJUSTMENTS",
        "SILVER.LIVE_2H_CHART",
        "SILVER.MEMPOOL_SUMMARY",
        "SILVER.BLOCKS",
        "SILVER.PRICES",
        "SILVER.PROJECTED_BLOCK_STATES",
        "SILVER.PROJECTED_BLOCK_TXS",
    } <= set(silver)
    # Every SILVER table fills from simulated data (no gaps is the correct outcome).
    assert all(n > 0 for t, n in silver.items() if t != "SILVER.BLOCK_GAPS"), silver
    gold = {t: n for t, n in rows.items() if t.startswith("GOLD.")}
    assert set(gold) == {
        "GOLD.FCT_BLOCKS",
        "GOLD.FCT_STALE_BLOCKS",
        "GOLD.FCT_MEMPOOL_MINUTELY",
        "GOLD.FCT_PRICES",
        "GOLD.FCT_PRICES_HOURLY",
        "GOLD.FCT_PROJECTED_BLOCK",
        "GOLD.FCT_BLOCK_PROJECTION_ACCURACY",
        "GOLD.FCT_DAILY_SUMMARY",
        "GOLD.FCT_MEMPOOL_BLOCKS",
        "GOLD.FCT_FEE_RECOMMENDATION_ACCURACY",
    }
    assert all(n > 0 for n in gold.values()), gold
    # Gold's run and its tests, as the two gold tasks run them: the stop's last pass runs
    # both, so a short demo has at least one of each, none failed.
    assert re.search(r"dbt runs\s+[1-9]", out.stdout) and re.search(
        r"dbt tests\s+[1-9]", out.stdout
    )
    assert re.search(r"failed dbt runs\s+0\b", out.stdout)
    assert re.search(r"failed dbt tests\s+0\b", out.stdout)

    # GOLD.FCT_BLOCKS holds exactly the canonical chain the simulator produced.
    truth = read_truth(home / "truth.jsonl")
    final = truth[-1]
    assert final["kind"] == "final"
    port = free_port()
    service = start_fakesnow(Workspace(home), home / "warehouse", port)
    try:
        with snowflake.connector.connect(**LocalWarehouse("127.0.0.1", port).connect_kwargs()) as c:
            cur = c.cursor()
            cur.execute("SELECT BLOCK_HASH FROM GOLD.FCT_BLOCKS ORDER BY HEIGHT")
            assert [r[0] for r in cur.fetchall()] == final["canonical"]
            cur.execute("SELECT BLOCK_HASH FROM GOLD.FCT_STALE_BLOCKS ORDER BY HEIGHT")
            assert [r[0] for r in cur.fetchall()] == final["stale"]
            cur.execute(
                "SELECT BOOLAND_AGG(IS_BALANCED), SUM(PENDING_ROWS) FROM OPS.RECONCILIATION"
            )
            assert cur.fetchall() == [(True, 0)]
            # A clean demo fires no alert: the alerts ran on their schedules (scaled by
            # --speed), none failed, and the only firing allowed is FRESHNESS_ALERT saying
            # a table has no rows yet (a fresh pipeline before its first block and
            # projection: production's first deploy says the same), never one too old.
            cur.execute("SELECT ALERT_NAME, STATE, COMPLETED_AT, ERROR_MESSAGE FROM OPS.ALERT_RUNS")
            alert_runs = cur.fetchall()
            runs = [(name, state) for name, state, _, _ in alert_runs]
            ran = {name for name, _ in runs}
            assert {"FRESHNESS_ALERT", "BACKLOG_ALERT", "TASKS_ALERT", "PIPES_ALERT"} <= ran
            # The one failure the runbook calls expected: FRESHNESS_ALERT before the first
            # gold build has made its view (dbt makes OPS.TABLE_FRESHNESS). Production's
            # 15-minute alert comes long after its 5-minute gold run; at --speed 30 the
            # alert's 30 s do not wait for a dbt run that took longer on a busy machine.
            cur.execute(
                "SELECT MIN(COMPLETED_AT) FROM OPS.TASK_RUNS "
                "WHERE TASK_NAME = 'REFRESH_GOLD' AND STATE = 'SUCCEEDED'"
            )
            ((first_gold_at,),) = cur.fetchall()
            failed = [r for r in alert_runs if r[1] not in {"CONDITION_FALSE", "TRIGGERED"}]
            for name, state, completed_at, error in failed:
                assert (name, state) == ("FRESHNESS_ALERT", "CONDITION_FAILED"), failed
                assert "TABLE_FRESHNESS" in error and "does not exist" in error, failed
                assert completed_at < first_gold_at, (failed, first_gold_at)
            fired = {name for name, state in runs if state == "TRIGGERED"}
            assert fired <= {"FRESHNESS_ALERT"}, runs
            cur.execute("SELECT MESSAGE FROM _LOCAL.ALERT_NOTIFICATIONS")
            for (message,) in cur.fetchall():
                figures = json.loads(message)["message"].split("; ")
                assert all(": has no rows (target " in f for f in figures), message
    finally:
        service.stop()


def test_sigterm_stops_the_stack_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "demo-term"
    env = {**os.environ, "MEMPOOL_HOME": str(home)}
    proc = subprocess.Popen(
        demo_cmd(), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (home / "stack.json").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "stack did not come up"
        time.sleep(0.5)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr[-3000:]
    assert "summary after" in stdout
    time.sleep(0.5)
    assert processes_with_env(str(home)) == []


def test_a_killed_demo_leaves_nothing_behind_and_the_next_one_keeps_its_data(
    tmp_path: Path,
) -> None:
    """`kill -9` of the demo used to leave moto, fakesnow, the simulator and the streamer
    running; the next demo then failed on fakesnow's database lock while the orphan's
    open port passed the health check."""

    home = tmp_path / "demo-kill"
    env = {**os.environ, "MEMPOOL_HOME": str(home)}
    proc = subprocess.Popen(
        demo_cmd("--speed", "30"),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    info_file = home / "stack.json"
    deadline = time.monotonic() + 180
    events = 0
    while events == 0:
        assert proc.poll() is None, "demo exited early"
        assert time.monotonic() < deadline, "no event reached the warehouse"
        time.sleep(2)
        if not info_file.exists() or "fakesnow" not in info_file.read_text():
            continue
        fake = json.loads(info_file.read_text())["fakesnow"]
        try:
            wh = LocalWarehouse(fake["host"], int(fake["port"]))
            with snowflake.connector.connect(**wh.connect_kwargs()) as c:
                cur = c.cursor()
                cur.execute("SELECT COUNT(*) FROM SILVER.EVENTS")
                events = int(cur.fetchall()[0][0])
        except Exception:
            continue
    proc.kill()
    proc.wait(timeout=10)
    deadline = time.monotonic() + 20
    while processes_with_env(str(home)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert processes_with_env(str(home)) == [], "services outlived the killed demo"

    again = subprocess.run(
        demo_cmd("--duration", "30", "--speed", "30"),
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    port = free_port()
    service = start_fakesnow(Workspace(home), home / "warehouse", port)
    try:
        with snowflake.connector.connect(**LocalWarehouse("127.0.0.1", port).connect_kwargs()) as c:
            cur = c.cursor()
            cur.execute("SELECT COUNT(*) FROM SILVER.EVENTS")
            assert int(cur.fetchall()[0][0]) > events
            cur.execute("SELECT BOOLAND_AGG(IS_BALANCED) FROM OPS.RECONCILIATION")
            assert cur.fetchall() == [(True,)]
    finally:
        service.stop()
    # And the warehouse agrees with what the restarted simulator served.
    verified = run_verify(home)
    assert verified.returncode == 0, verified.stdout + verified.stderr[-2000:]
    assert "lost 0, duplicated 0, wrong 0" in verified.stdout
