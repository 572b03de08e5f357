"""Upgrade in place: the previous release deployed to a local warehouse, data flowing,
then this tree deployed over it with this tree's `mempool deploy` plan while data keeps
landing between every step of the deploy.

The previous release is commit 33ee476 (the last landed before the deploy learned to
upgrade; there are no tags), taken from git: its own plan (its sandbox/deploy.py), its
SQL files, the procedure archive the pinned Snowflake CLI builds from its tree, and its
dbt project. The local runtime plays Snowflake for both: the pipes keep loading during
the deploy, and the task graph runs whenever its root is resumed, with the procedures
the last procedures step put in place (what a live account does meanwhile).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from operations.artifacts import build_procedures
from sandbox.dbt_local import run_dbt
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake, Release, current_release
from tests.conftest import new_runtime
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
PREVIOUS_RELEASE = "33ee476"
T0 = datetime(2026, 1, 13, 10, 0, tzinfo=UTC)


def previous_release(dest: Path, config: Any) -> Release:
    """The previous release's tree from git, its procedure archive built by the pinned
    Snowflake CLI, and its deploy plan, from its own sandbox/deploy.py."""
    tree = subprocess.run(
        ["git", "archive", "--format=tar", PREVIOUS_RELEASE],
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
        tar.extractall(dest, filter="data")
    archive = build_procedures(dest)
    # The previous release's own plan, computed by its own code in a process of its own:
    # its modules import each other by the paths they had then (sandbox.deploy imported
    # sandbox.artifacts, which has moved since).
    probe = (
        "import json, sys\n"
        "from sandbox.deploy import DeployConfig, build_plan\n"
        "config = DeployConfig(**json.loads(sys.argv[1]))\n"
        "print(json.dumps([(s.name, s.sql_file) for s in build_plan(config).steps]))\n"
    )
    settings = {
        "database": config.database,
        "warehouse": config.warehouse,
        "bucket": config.bucket,
        "storage_role_arn": config.storage_role_arn,
        "error_topic_arn": config.error_topic_arn,
        "error_role_arn": config.error_role_arn,
    }
    planned = subprocess.run(
        [sys.executable, "-c", probe, json.dumps(settings)],
        cwd=dest,
        env={**os.environ, "PYTHONPATH": str(dest)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    steps = tuple((name, sql_file) for name, sql_file in json.loads(planned.stdout))
    return Release(
        steps,
        dest / "snowflake" / "sql",
        archive,
        dest / "snowflake" / "dbt",
        dest / "snowflake.yml",
    )


class Feed:
    """What mempool.space and the poller keep sending: stream frames and blocks, landed in
    S3 as Firehose and the poller land them, every one counted."""

    def __init__(self, rt: LocalSnowflake) -> None:
        self.rt = rt
        self.model = Model(seed=47, start_time=1_760_000_000, history_blocks=8, tx_per_s=2.0)
        self.frame_seq = 0
        self.minute = 0
        self.lines = 0

    def _land(self, prefix: str, records: list[contract.Record]) -> None:
        land(self.rt, prefix, contract.encode_ndjson(records))
        self.lines += len(records)

    def received_at(self) -> str:
        at = T0 + timedelta(minutes=self.minute)
        self.minute += 1
        return at.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def frame(self, full_set: bool = False) -> None:
        frame = {
            "mempoolInfo": self.model.mempool_info(),
            "fees": self.model.recommended_fees(),
            "vBytesPerSecond": 900 + self.frame_seq,
            "mempool-blocks": self.model.mempool_blocks(),
            "conversions": {"time": 1_760_000_000 + 60 * self.frame_seq, "USD": 91000},
        }
        at = self.received_at()
        records = contract.records_from_frame(
            frame, origin_id="conn-1", frame_seq=self.frame_seq, received_at=at
        )
        self.frame_seq += 1
        if full_set:
            payload = {
                "index": 0,
                "sequence": self.frame_seq,
                "blockTransactions": [t.projected() for t in self.model.projected.values()],
            }
            records.append(
                contract.Record(
                    source="ws",
                    topic="projected-block-transactions",
                    origin_id="conn-1",
                    frame_seq=self.frame_seq,
                    received_at=at,
                    payload=payload,
                )
            )
            self.frame_seq += 1
        self._land(contract.PREFIX_STREAM, records)

    def blocks(self, count: int) -> None:
        blocks = [b.to_api() for b in self.model.chain[-count:]]
        self._land(
            contract.PREFIX_BLOCKS,
            contract.rest_records(
                "block", blocks, origin_id=f"poll-{self.minute}", received_at=self.received_at()
            ),
        )

    def mine(self) -> None:
        """The chain grows by a block (the simulator's own mining)."""
        tip = self.model.tip.height
        while self.model.tip.height == tip:
            self.model.advance(self.model.now + 60)


class FakeGoldRun:
    """REFRESH_GOLD as a recorder: which task ran it, during which deploy step."""

    def __init__(self) -> None:
        self.step = ""
        self.runs: list[str] = []

    def __call__(self, args: str = "run --target prod") -> str:
        if args.startswith("run"):  # the tests that may follow are not a gold run
            self.runs.append(self.step)
        return "recorded"


def dbt_build(rt: LocalSnowflake, target: Path) -> dict[str, int]:
    """EXECUTE DBT PROJECT, locally: `dbt build` of the project the deploy put in place."""
    result = run_dbt(rt.warehouse, "build", target_dir=target, project_dir=rt.dbt_dir)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    match = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", result.stdout)
    assert match, result.stdout[-2000:]
    return dict(zip(["pass", "warn", "error", "skip"], map(int, match.groups()), strict=True))


def columns(rt: LocalSnowflake, schema: str, table: str) -> set[str]:
    rows = q(
        rt,
        "SELECT UPPER(COLUMN_NAME) FROM INFORMATION_SCHEMA.COLUMNS "
        f"WHERE UPPER(TABLE_SCHEMA) = '{schema}' AND UPPER(TABLE_NAME) = '{table}'",
    )
    return {r[0] for r in rows}


# The deploy steps that change what the tasks read or run.
CHANGES = ("silver", "streams", "procedures", "dbt", "tasks")

# Incremental gold models and the key each keeps its rows by.
INCREMENTAL = {
    "FCT_BLOCKS": "HEIGHT",
    "FCT_PRICES": "PRICE_TIME_S",
    "FCT_MEMPOOL_MINUTELY": "MINUTE_AT",
    "FCT_MEMPOOL_BLOCKS": "MINUTE_AT",
    "FCT_PROJECTED_BLOCK": "PROJECTED_STATE_ID",
}


def added_columns() -> list[tuple[str, str, str]]:
    """(schema, table, column) this tree adds to tables an earlier release made: SILVER's
    ADD COLUMN IF NOT EXISTS, and the gold models' ensure_column pre-hooks."""
    silver = (REPO / "snowflake" / "sql" / "30_silver.sql").read_text()
    out = [
        (schema, table, column)
        for schema, table, column in re.findall(
            r"ALTER TABLE <% database %>\.(\w+)\.(\w+) ADD COLUMN IF NOT EXISTS (\w+)", silver
        )
    ]
    for model in sorted((REPO / "snowflake" / "dbt" / "models" / "marts").glob("*.sql")):
        for column in re.findall(r"ensure_column\('(\w+)'", model.read_text()):
            out.append(("GOLD", model.stem.upper(), column.upper()))
    return out


@pytest.fixture
def upgraded_rt(landing: Any, fakesnow_server: Any) -> Iterator[LocalSnowflake]:
    rt = new_runtime(landing, fakesnow_server)
    yield rt
    rt.close()


def test_an_upgrade_in_place_loses_nothing_and_the_graph_runs_again(
    upgraded_rt: LocalSnowflake, tmp_path: Path
) -> None:
    rt = upgraded_rt
    old = previous_release(tmp_path / "previous", rt.config)
    assert [n for n, _ in old.steps].index("suspend") > [n for n, _ in old.steps].index("dbt")

    # The previous release, deployed and running: data lands, the graph and gold run.
    rt.deploy(release=old)
    assert rt.procedures == old.archive and rt.dbt_dir == old.dbt_dir
    feed = Feed(rt)
    feed.blocks(8)
    feed.frame(full_set=True)
    feed.frame()
    cycle(rt)
    assert dbt_build(rt, tmp_path / "dbt-old")["error"] == 0
    events_before = {r[0] for r in q(rt, "SELECT EVENT_KEY FROM SILVER.EVENTS")}
    gold_before = {
        table: {r[0] for r in q(rt, f"SELECT {key} FROM GOLD.{table}")}
        for table, key in INCREMENTAL.items()
    }
    assert events_before and all(gold_before.values()), gold_before
    added = added_columns()
    missing_before = [(s, t, c) for s, t, c in added if c not in columns(rt, s, t)]
    assert missing_before, "the previous release already had every column: nothing to upgrade"

    # This tree over it, with this tree's plan. Between every two steps a frame lands (the
    # streamer never stops) and the live pipeline does what it does: the pipes load it,
    # a resumed root runs the graph, a resumed REFRESH_GOLD builds gold.
    gold_runs = FakeGoldRun()
    rt.dbt_runner = gold_runs
    # Every pass is a scheduled run: the schedule is not what this test is about.
    rt.schedule_override_s = 0.0
    graph_runs: dict[str, int] = {}

    def live(step: str) -> None:
        gold_runs.step = step
        if step == "silver":
            feed.mine()
            feed.blocks(2)
        feed.frame()
        before = rt.counters["graph_runs"]
        cycle(rt)
        rt.run_scheduled()
        graph_runs[step] = rt.counters["graph_runs"] - before

    new = current_release(rt.config)
    rt.deploy(release=new, between_steps=live)
    steps = [n for n, _ in new.steps]
    # From the first step that changes what the tasks read or run until the resume, no
    # task ran: none ran new code on old tables, or old code on changed ones.
    changing = steps[min(steps.index(s) for s in CHANGES) : steps.index("resume")]
    assert [s for s in changing if graph_runs[s]] == []
    assert [s for s in gold_runs.runs if s in changing] == []
    # Before the suspend the old graph and the old gold task still ran; after the resume
    # the new graph loaded the backlog and only the new gold task (in GOLD) runs.
    assert graph_runs["resume"] == 1
    assert gold_runs.runs[-1] == "resume" and gold_runs.runs.count("resume") == 1
    assert rt.procedures == new.archive and rt.dbt_dir == new.dbt_dir
    assert sorted(t.name for t in rt.plan.tasks) == [
        "GOLD.GOLD_TICK",
        "GOLD.REFRESH_GOLD",
        "GOLD.TEST_GOLD",
        "OPS.REFRESH_SILVER",
        "OPS.SILVER_TICK",
    ]
    assert all(t.started for t in rt.plan.tasks)

    # Data keeps flowing after the upgrade; then gold is built by the new dbt project.
    feed.mine()
    feed.blocks(2)
    feed.frame(full_set=True)
    cycle(rt)
    assert cycle(rt) == []  # nothing left pending in any stream
    result = dbt_build(rt, tmp_path / "dbt-new")
    assert result["error"] == 0 and result["skip"] == 0, result

    # Nothing lost or doubled: every landed line is clean, a duplicate or quarantined,
    # nothing pending, every event once, every event of before still there.
    ((raw, clean, duplicates, quarantined, pending),) = q(
        rt,
        "SELECT SUM(RAW_ROWS), SUM(CLEAN_ROWS), SUM(DUPLICATE_ROWS), SUM(QUARANTINED_ROWS), "
        "SUM(PENDING_ROWS) FROM OPS.RECONCILIATION",
    )
    assert raw == feed.lines and pending == 0
    assert clean + duplicates + quarantined == raw and duplicates == 0
    ((events, distinct),) = q(rt, "SELECT COUNT(*), COUNT(DISTINCT EVENT_KEY) FROM SILVER.EVENTS")
    assert events == distinct == clean
    assert events_before <= {r[0] for r in q(rt, "SELECT EVENT_KEY FROM SILVER.EVENTS")}
    assert q(rt, "SELECT COUNT(*) FROM OPS.BUILDER_BACKLOG") == [(0,)]

    # The columns this release added are on the old tables, and filled for new rows.
    assert [(s, t, c) for s, t, c in added if c not in columns(rt, s, t)] == []
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE UPDATED_AT IS NULL") == [(0,)]
    for schema, table, column in missing_before:
        if schema == "SILVER":
            ((rows, filled),) = q(rt, f"SELECT COUNT(*), COUNT({column}) FROM {schema}.{table}")
            assert filled > 0 or rows == 0, (table, column)

    # Incremental gold kept its rows and grew; the canonical chain is all there.
    for table, key in INCREMENTAL.items():
        after = {r[0] for r in q(rt, f"SELECT {key} FROM GOLD.{table}")}
        assert gold_before[table] <= after, table
    canonical = [(b.height, b.hash) for b in feed.model.chain]
    assert q(rt, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCKS ORDER BY 1") == canonical
    # What reached SILVER while the upgrade ran (written by the old procedures, without the
    # new watermark columns) reached gold too: every minute, price and state.
    for silver, gold in (
        ("SELECT DISTINCT DATE_TRUNC('MINUTE', RECEIVED_AT) FROM SILVER.MEMPOOL_INFO",
         "SELECT MINUTE_AT FROM GOLD.FCT_MEMPOOL_MINUTELY"),
        ("SELECT PRICE_TIME_S FROM SILVER.PRICES", "SELECT PRICE_TIME_S FROM GOLD.FCT_PRICES"),
        ("SELECT ORIGIN_ID || ':' || FRAME_SEQ FROM SILVER.PROJECTED_BLOCK_STATES",
         "SELECT PROJECTED_STATE_ID FROM GOLD.FCT_PROJECTED_BLOCK"),
    ):  # fmt: skip
        assert set(q(rt, silver)) <= set(q(rt, gold)), gold
    # BTC amounts the old release rounded are exact to the satoshi, rows of before included.
    for table in ("FCT_BLOCKS", "FCT_MEMPOOL_BLOCKS", "FCT_PROJECTED_BLOCK"):
        inexact = q(
            rt,
            f"SELECT COUNT(*) FROM GOLD.{table} WHERE TOTAL_FEES_BTC * 100000000 <> TOTAL_FEES_SAT",
        )
        assert inexact == [(0,)], table

    # Every task run, the old release's and the new one's, succeeded; the new gold tests
    # ran after the new gold's first run (no run had set them due before it).
    runs = q(
        rt,
        "SELECT TASK_NAME, STATE, ERROR_MESSAGE FROM OPS.TASK_RUNS "
        "WHERE STATE NOT IN ('SUCCEEDED', 'SKIPPED')",
    )
    assert runs == []
    tested = q(rt, "SELECT COUNT(*) FROM OPS.TASK_RUNS WHERE TASK_NAME = 'TEST_GOLD'")
    assert tested == [(1,)]
