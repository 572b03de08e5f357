"""The chaos proof, short: `mempool demo --chaos` with every fault turned on (Firehose
partial failures, throttling, 5xx, a hang and an outage; redelivered files; task runs
killed half-way and run twice; overlapping poller runs; WebSocket drops, server restarts,
sequence gaps, reorgs and replayed frames), then `mempool verify` finds nothing lost,
duplicated or wrong. Two streamers run, each stopped (SIGTERM) and restarted in turn,
and GOLD has every minute at least one of them was up. And verify does fail when the
warehouse is wrong. The longer run on fresh seeds, with a kill -9 and restart, is
`make chaos`; a streamer killed for good is tests/test_redundant_streamers.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import snowflake.connector

from sandbox.chaos_proof import demo_argv
from sandbox.paths import Workspace
from sandbox.services import free_port
from sandbox.verify import MIN_COVERED_S, covered_minutes, streamer_coverage
from sandbox.warehouse import LocalWarehouse
from tests.conftest import run_verify, start_fakesnow

pytestmark = [pytest.mark.stack, pytest.mark.slow]

SEED = 77


@pytest.fixture(scope="module")
def chaos_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("chaos") / "home"
    out = subprocess.run(
        demo_argv(
            SEED, "--duration", "80", "--streamers", "2", "--streamer-chaos", "restart-in-turn"
        ),
        env={**os.environ, "MEMPOOL_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return home, out.stdout


def counter(stdout: str, component: str, name: str) -> int:
    match = re.search(rf"{re.escape(component)}\s+{re.escape(name)}\s+(\d+)", stdout)
    assert match, f"{component} {name} not in the summary"
    return int(match.group(1))


def test_a_chaos_run_verifies_with_nothing_lost_duplicated_or_wrong(
    chaos_home: tuple[Path, str],
) -> None:
    home, stdout = chaos_home
    # The faults did happen (each is drawn from the seed).
    assert counter(stdout, "firehose faults", "records_failed") > 0
    assert counter(stdout, "firehose faults", "refused") > 0  # the outage
    assert (
        counter(stdout, "firehose faults", "throttled")
        + counter(stdout, "firehose faults", "server_errors")
        > 0
    )
    assert counter(stdout, "poller", "overlapping runs") > 0
    # Each streamer was stopped and restarted once, one at a time: while one was down the
    # other was up (started before the stop, still up after the restart).
    ups = json.loads((home / "streamers.json").read_text())["streamers"]
    assert sorted(ups) == ["streamer-1", "streamer-2"]
    for name, other in (("streamer-1", "streamer-2"), ("streamer-2", "streamer-1")):
        assert counter(stdout, name, "connections opened") >= 2
        first, again = ups[name]
        assert (first["how"], again["how"]) == ("SIGTERM", "stop")
        assert any(
            up["from"] < first["to"] and (up["to"] is None or up["to"] > again["from"])
            for up in ups[other]
        ), ups
    result = run_verify(home)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    summary = re.search(
        r"verified: (\d+) blocks, (\d+) prices, (\d+) states, (\d+) stats samples, "
        r"(\d+) projections, (\d+) gold minutes, (\d+) fee scores, (\d+) streamer minutes; "
        r"lost 0, duplicated 0, wrong 0",
        result.stdout,
    )
    assert summary, result.stdout
    blocks, prices, states, stats, _, minutes, _, covered = map(int, summary.groups())
    assert blocks >= 24 and prices >= 1 and states > 100 and stats > 100 and minutes > 0
    # No minute lost in FCT_MEMPOOL_MINUTELY, FCT_MEMPOOL_BLOCKS or FCT_PROJECTED_BLOCK
    # while a streamer was up (lost 0 above), and there were such minutes to check.
    spans = streamer_coverage(home / "streamers.json")
    assert spans is not None
    assert covered == sum(s >= MIN_COVERED_S for s in covered_minutes(spans).values()) >= 1


def test_verify_reports_what_is_lost_duplicated_or_wrong(chaos_home: tuple[Path, str]) -> None:
    home, _ = chaos_home
    spans = streamer_coverage(home / "streamers.json") or []
    required = min(at for at, s in covered_minutes(spans).items() if s >= MIN_COVERED_S)
    port = free_port()
    service = start_fakesnow(Workspace(home), home / "warehouse", port)
    try:
        with snowflake.connector.connect(**LocalWarehouse("127.0.0.1", port).connect_kwargs()) as c:
            cur = c.cursor()
            cur.execute("SELECT BLOCK_HASH FROM SILVER.BLOCKS WHERE IS_CANONICAL ORDER BY HEIGHT")
            lost = cur.fetchall()[3][0]
            cur.execute(f"DELETE FROM SILVER.BLOCKS WHERE BLOCK_HASH = '{lost}'")
            cur.execute(
                "INSERT INTO SILVER.PRICES SELECT * FROM SILVER.PRICES "
                "WHERE SOURCE_TOPIC = 'conversions' LIMIT 1"
            )
            cur.execute("UPDATE SILVER.MEMPOOL_INFO SET TX_COUNT = TX_COUNT + 1")
            cur.execute(
                "UPDATE SILVER.PROJECTED_BLOCK_STATES SET TX_COUNT = TX_COUNT + 1 "
                "WHERE FRAME_SEQ = (SELECT MAX(FRAME_SEQ) FROM SILVER.PROJECTED_BLOCK_STATES "
                "WHERE IS_VALID)"
            )
            # Gold wrong against what is below it: a BTC amount off by 100 sat, a minute
            # of the projected-block strip missing a block.
            cur.execute("UPDATE GOLD.FCT_BLOCKS SET TOTAL_FEES_BTC = TOTAL_FEES_BTC + 0.000001")
            cur.execute(
                "DELETE FROM GOLD.FCT_MEMPOOL_BLOCKS WHERE BLOCK_INDEX = 0 AND MINUTE_AT = "
                "(SELECT MAX(MINUTE_AT) FROM GOLD.FCT_MEMPOOL_BLOCKS)"
            )
            # A minute a streamer was up, gone from the projected-block mart (no other
            # check looks at that mart's minutes).
            cur.execute(
                "DELETE FROM GOLD.FCT_PROJECTED_BLOCK WHERE DATE_TRUNC('minute', PROJECTED_AT) "
                f"= '{required}'"
            )
    finally:
        service.stop()
    # A demo that ran with --mix-chains on top of seed 42's chain: verify names the cause.
    (home / "mixed-seeds.json").write_text("[42]")
    result = run_verify(home)
    assert result.returncode == 1, result.stdout
    assert "also holds the chain of seed(s) 42" in result.stdout
    assert re.search(r"lost [1-9]\d*, duplicated [1-9]\d*, wrong [1-9]\d*", result.stdout)
    assert "lost: block" in result.stdout and lost in result.stdout
    assert "duplicated: SILVER.PRICES" in result.stdout
    assert "wrong: projected state" in result.stdout
    assert "wrong: stats sample" in result.stdout
    listed = run_verify(home, "--json").stdout
    found = json.JSONDecoder().raw_decode(listed[listed.index("{") :])[0]
    wrong = found["wrong"]
    # (Past the first 20 lost items the text report lists: the JSON has them all.)
    assert any(
        lost.startswith(f"GOLD.FCT_PROJECTED_BLOCK {required}: no row, while streamer(s)")
        for lost in found["lost"]
    ), found["lost"]
    for found in (
        "GOLD.FCT_MEMPOOL_MINUTELY",
        "GOLD.FCT_BLOCKS: TOTAL_FEES_SAT",
        "GOLD.FCT_MEMPOOL_BLOCKS",
    ):
        assert any(w.startswith(found) for w in wrong), found
