"""`mempool status` on the local warehouse: OK on a healthy one, and exit 1 naming the
object and the figure for each problem it checks. One warehouse, loaded once with data
received minutes ago and built through gold; each problem test makes its problem, reads
the status and puts the warehouse back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from operations.cli import main
from operations.status import CHECKS, run_status
from sandbox.dbt_local import run_dbt
from sandbox.paths import Workspace
from sandbox.simulator.model import Model
from sandbox.snowflake_local.account import AccountConnection
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt]


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


def stats_frame(model: Model, seq: int, at: datetime) -> list[contract.Record]:
    frame = {
        "mempoolInfo": model.mempool_info(),
        "fees": model.recommended_fees(),
        "vBytesPerSecond": 900,
        "mempool-blocks": model.mempool_blocks(),
        "conversions": {"time": int(at.timestamp()), "USD": 91000},
    }
    return contract.records_from_frame(frame, origin_id="c", frame_seq=seq, received_at=iso(at))


def fill_recent(rt: LocalSnowflake) -> tuple[Model, int]:
    """Forty minutes of a chain (blocks seen arriving, projected-block updates, their
    txids) received over the last few minutes, with stats before: every GOLD table has a
    row within its target once built. The model and its next frame number are returned
    for the stats that follow the build."""
    now = datetime.now(UTC)
    start = now - timedelta(minutes=9)
    model = Model(seed=35, start_time=int(now.timestamp()) - 2460, history_blocks=10)
    stream = [
        *stats_frame(model, 0, start),
        contract.Record("ws", "blocks", "c", 1, iso(start), [b.to_api() for b in model.chain[-8:]]),
        contract.Record(
            "ws",
            "projected-block-transactions",
            "c",
            2,
            iso(start),
            {
                "index": 0,
                "sequence": model.sequence,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
        ),
    ]
    events = model.advance(model.start_time + 2400)
    mined = [e.data for e in events if e.kind == "block"]
    assert mined, "the model mined no block in forty minutes"
    frame = 3
    for event in events:
        update = event.data if event.kind == "update" else event.update
        received = iso(start + timedelta(seconds=min(frame, 400)))
        if event.kind == "block":
            stream.append(contract.Record("ws", "block", "c", frame, received, event.data.to_api()))
        if update is not None and (payload := update.payload()) is not None:
            stream.append(
                contract.Record("ws", "projected-block-transactions", "c", frame, received, payload)
            )
        frame += 1
    recent = now - timedelta(minutes=1)
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(stream))
    history = contract.rest_records(
        "block", [b.to_api() for b in model.chain], origin_id="poll-1", received_at=iso(recent)
    )
    txids = contract.rest_records(
        contract.TOPIC_BLOCK_TXIDS,
        [{"id": b.hash, "txids": b.api_txids()} for b in mined],
        origin_id="poll-1",
        received_at=iso(recent),
    )
    land(rt, contract.PREFIX_BLOCKS, contract.encode_ndjson(history + txids))
    cycle(rt)
    return model, frame


@pytest.fixture(scope="module")
def healthy(
    moto_endpoint: str, fakesnow_server: LocalWarehouse, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalSnowflake]:
    with landing_zone(moto_endpoint, "status") as landing:
        rt = new_runtime(landing, fakesnow_server)
        rt.deploy()
        model, frame = fill_recent(rt)
        target = tmp_path_factory.mktemp("status-dbt")
        result = run_dbt(rt.warehouse, "build", target_dir=target)
        assert result.returncode == 0, result.stdout[-4000:]
        # SILVER's 5-minute targets count from here, not from before the gold build: a
        # slow build on a busy machine must not make the healthy warehouse stale.
        land(
            rt,
            contract.PREFIX_STREAM,
            contract.encode_ndjson(stats_frame(model, frame, datetime.now(UTC))),
        )
        cycle(rt)
        try:
            yield rt
        finally:
            rt.close()


def status(rt: LocalSnowflake, capsys: pytest.CaptureFixture[str], *only: str) -> tuple[int, str]:
    import snowflake.connector

    @contextmanager
    def local(schema: str | None) -> Iterator[Any]:
        conn = snowflake.connector.connect(**rt.warehouse.connect_kwargs(schema))
        try:
            yield AccountConnection(conn)
        finally:
            conn.close()

    capsys.readouterr()
    code = run_status(None, rt.database, only=list(only), local_connection=local)
    return code, capsys.readouterr().out


def attention(out: str, name: str) -> str:
    line = next((x for x in out.splitlines() if x.split()[:2] == ["ATTENTION", name]), None)
    assert line is not None, out
    return line


def test_a_healthy_warehouse_passes_every_check(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = status(healthy, capsys)
    assert code == 0, out
    for spec in CHECKS:
        assert any(x.split()[:2] == ["OK", spec.name] for x in out.splitlines()), out
    assert "RAW.STREAM_EVENTS_PIPE RUNNING" in out and "OPS.REFRESH_SILVER started" in out
    assert out.rstrip().endswith("all checks OK")


def test_the_command_line_answers_json_for_ci(
    healthy: LocalSnowflake,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """Through the CLI and the sandbox's local hook: the workspace's warehouse is the
    shared test server, the database the loaded one."""
    import os

    ws = Workspace(tmp_path / ".mempool").ensure()
    server = healthy.warehouse
    ws.runtime_file.write_text(
        json.dumps({"pid": os.getpid(), "fakesnow": {"host": server.host, "port": server.port}})
    )
    monkeypatch.setenv("MEMPOOL_HOME", str(ws.root))
    capsys.readouterr()
    code = main(["status", "--database", healthy.database, "--format", "json"])
    checks = json.loads(capsys.readouterr().out)
    assert code == 0, checks
    assert [c["name"] for c in checks] == [c.name for c in CHECKS]
    assert all(c["ok"] and c["verdict"] == "OK" for c in checks)


def test_no_warehouse_to_reach_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("MEMPOOL_HOME", str(tmp_path / ".mempool"))
    assert main(["status"]) == 2
    assert "no local warehouse" in capsys.readouterr().err


def test_a_builder_backlog_needs_attention(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    db = healthy.database
    healthy.execute(
        f"INSERT INTO {db}.OPS.CONSUMER_BATCH VALUES ('BUILD_BLOCKS', 'k1', 'blocks', 'b-1'), "
        "('BUILD_BLOCKS', 'k2', 'blocks', 'b-1')"
    )
    try:
        code, out = status(healthy, capsys, "backlog")
    finally:
        healthy.execute(f"DELETE FROM {db}.OPS.CONSUMER_BATCH WHERE BATCH_ID = 'b-1'")
    assert code == 1
    assert "BUILD_BLOCKS 2 events pending since batch b-1" in attention(out, "backlog")
    assert out.rstrip().endswith("needs attention: backlog")


def test_a_failed_task_run_needs_attention(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    db = healthy.database
    at = datetime.now(UTC).replace(tzinfo=None)
    healthy.execute(
        f"INSERT INTO {db}.OPS.TASK_RUNS (TASK_NAME, STATE, SCHEDULED_AT, STARTED_AT, "
        "COMPLETED_AT, ERROR_MESSAGE) VALUES ('REFRESH_SILVER', 'FAILED', ?, ?, ?, "
        "'ProgrammingError: division by zero')",
        [at, at, at],
    )
    try:
        code, out = status(healthy, capsys, "tasks")
    finally:
        healthy.execute(f"DELETE FROM {db}.OPS.TASK_RUNS WHERE STATE = 'FAILED'")
    assert code == 1
    line = attention(out, "tasks")
    assert "OPS.REFRESH_SILVER started, last run FAILED" in line
    assert "division by zero" in line


def test_a_suspended_task_needs_attention(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    healthy._apply(f"ALTER TASK {healthy.database}.OPS.REFRESH_SILVER SUSPEND")
    try:
        code, out = status(healthy, capsys, "tasks")
    finally:
        healthy._apply(f"ALTER TASK {healthy.database}.OPS.REFRESH_SILVER RESUME")
    assert code == 1
    assert "OPS.REFRESH_SILVER suspended" in attention(out, "tasks")
    assert status(healthy, capsys, "tasks")[0] == 0


def test_a_stale_table_needs_attention(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    """The newest price is two days old: no new data has come since."""
    db = healthy.database
    healthy.execute(f"UPDATE {db}.SILVER.PRICES SET RECEIVED_AT = DATEADD(DAY, -2, RECEIVED_AT)")
    try:
        code, out = status(healthy, capsys, "freshness")
    finally:
        healthy.execute(f"UPDATE {db}.SILVER.PRICES SET RECEIVED_AT = DATEADD(DAY, 2, RECEIVED_AT)")
    assert code == 1
    line = attention(out, "freshness")
    # 30 for the source, 10 with nobody watching (the deploy's silver_idle_minutes).
    assert "SILVER.PRICES" in line and "(target 40 min)" in line
    age = float(line.split("SILVER.PRICES ")[1].split(" min old")[0])
    assert 2 * 24 * 60 <= age < 2 * 24 * 60 + 60


def test_raw_rows_without_a_ledger_unbalance_the_reconciliation(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file the pipe loaded and no loader run took: its rows are raw without a ledger."""
    record = contract.Record(
        source="ws",
        topic="fees",
        origin_id="c",
        frame_seq=50,
        received_at=iso(datetime.now(UTC)),
        payload={"fastestFee": 9, "halfHourFee": 8, "hourFee": 7, "economyFee": 2, "minimumFee": 1},
    )
    land(healthy, contract.PREFIX_STREAM, contract.encode_ndjson([record]))
    healthy.drain_notifications()
    try:
        code, out = status(healthy, capsys, "reconciliation")
    finally:
        healthy.request_silver("TEST")
        healthy.run_graph()
    assert code == 1
    assert "fees" in attention(out, "reconciliation") and "+ 1 pending" in out
    assert status(healthy, capsys, "reconciliation")[0] == 0


def test_quarantine_in_the_last_day_needs_attention(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    db = healthy.database
    healthy.execute(
        f"INSERT INTO {db}.OPS.QUARANTINE (SOURCE_TABLE, TOPIC, STAGE, REASON, BATCH_ID, "
        "QUARANTINED_AT) VALUES ('RAW.STREAM_EVENTS', 'fees', 'load', 'received_at in the "
        "future', 'q-1', SYSDATE()), ('RAW.STREAM_EVENTS', 'fees', 'load', 'old', 'q-1', "
        "DATEADD(DAY, -3, SYSDATE()))"
    )
    try:
        code, out = status(healthy, capsys, "quarantine")
    finally:
        healthy.execute(f"DELETE FROM {db}.OPS.QUARANTINE WHERE BATCH_ID = 'q-1'")
    assert code == 1
    line = attention(out, "quarantine")
    assert "1 records quarantined in the last day: 1 fees (received_at in the future)" in line


def test_a_paused_pipe_needs_attention_and_loads_what_it_held_when_resumed(
    healthy: LocalSnowflake, capsys: pytest.CaptureFixture[str]
) -> None:
    db = healthy.database
    healthy._apply(f"ALTER PIPE {db}.RAW.PRICES_PIPE SET PIPE_EXECUTION_PAUSED = TRUE")
    try:
        land(healthy, contract.PREFIX_PRICES, b"")
        healthy.drain_notifications()
        code, out = status(healthy, capsys, "pipes")
    finally:
        healthy._apply(f"ALTER PIPE {db}.RAW.PRICES_PIPE SET PIPE_EXECUTION_PAUSED = FALSE")
    assert code == 1
    line = attention(out, "pipes")
    assert "RAW.PRICES_PIPE PAUSED, 1 pending" in line
    assert "STREAM_EVENTS_PIPE" not in line
    code, out = status(healthy, capsys, "pipes")
    assert code == 0 and "RAW.PRICES_PIPE RUNNING, 0 pending, last load 0 min ago" in out
    assert q(healthy, f"SELECT COUNT(*) FROM {db}._LOCAL.PIPE_PENDING") == [(0,)]


def test_an_unknown_check_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_status(None, "MEMPOOL", only=["pipez"]) == 2
    assert "no check named pipez" in capsys.readouterr().err


def test_each_check_declares_the_sql_it_runs() -> None:
    assert len({c.name for c in CHECKS}) == len(CHECKS) >= 7
    for spec in CHECKS:
        assert spec.sql and all("{db}" in s for s in spec.sql), spec.name
