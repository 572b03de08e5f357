"""The Snowflake side on the local runtime: the same SQL files and procedure handlers
production runs, against fakesnow, fed through moto S3 -> SQS like Snowpipe."""

from __future__ import annotations

import dataclasses
import json
import random
from decimal import Decimal
from typing import Any

import pytest

from ingest import contract
from sandbox import aws_local
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import SHARED_FIXTURES, next_database
from tests.warehouse_helpers import T0, cycle, land, q, rec

pytestmark = pytest.mark.stack


def snapshot(rt: LocalSnowflake) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        r[0]
        for r in rt.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema IN ('SILVER', 'OPS') AND table_type = 'BASE TABLE' "
            # The requests for a silver run are the viewer's (the cycle's stand-in), not
            # what a run makes.
            "AND table_name NOT IN ('LOAD_LEDGER', 'SILVER_REQUESTS')"
        )
    ]
    out = {}
    for table in sorted(tables):
        cols = [
            r[0]
            for r in rt.execute(
                f"SELECT column_name FROM information_schema.columns WHERE table_schema || '.' || "
                f"table_name = '{table}' AND column_name NOT IN ('LOADED_AT', 'DETECTED_AT', "
                "'QUARANTINED_AT') ORDER BY ordinal_position"
            )
        ]
        rows = rt.execute(f"SELECT {', '.join(cols)} FROM {table}")
        out[table] = sorted(tuple(str(v) for v in r) for r in rows)
    return out


def test_duplicates_in_exactly_one_out_and_counts_reconcile(rt: LocalSnowflake) -> None:
    records = [rec("mempoolInfo", {"size": i, "total_fee": 0.5}, i) for i in range(5)]
    body = contract.encode_ndjson(records)
    land(rt, contract.PREFIX_STREAM, body)
    land(rt, contract.PREFIX_STREAM, body + records[0].to_line())  # redelivered, and again
    cycle(rt)
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(records[2:]))  # a later replay
    cycle(rt)
    assert q(rt, "SELECT COUNT(*), COUNT(DISTINCT EVENT_KEY) FROM SILVER.EVENTS") == [(5, 5)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.MEMPOOL_INFO") == [(5,)]
    assert q(rt, "SELECT TOTAL_FEE_BTC, TOTAL_FEE_SAT FROM SILVER.MEMPOOL_INFO LIMIT 1") == [
        (Decimal("0.5"), 50_000_000)
    ]
    recon = q(
        rt,
        "SELECT TOPIC, RAW_ROWS, CLEAN_ROWS, DUPLICATE_ROWS, QUARANTINED_ROWS, "
        "PENDING_ROWS, IS_BALANCED FROM OPS.RECONCILIATION",
    )
    assert recon == [("mempoolInfo", 14, 5, 9, 0, 0, True)]


def test_a_copy_delivered_days_later_and_a_backfill_rerun_stay_duplicates(
    rt: LocalSnowflake,
) -> None:
    """LOAD_EVENTS looks for a live record's key only around its received_at (a copy
    carries the first copy's); a backfill re-run re-emits its keys with a new received_at,
    so its rows are matched without that window."""
    live = rec("fees", {"fastestFee": 3}, 0)
    backfill = contract.Record(
        source="backfill",
        topic="block",
        origin_id="backfill-blocks-1-9",
        frame_seq=5,
        received_at=T0,
        payload={"id": "a" * 64, "height": 5},
    )
    land(rt, contract.PREFIX_STREAM, live.to_line())
    land(rt, contract.PREFIX_BLOCKS, backfill.to_line())
    cycle(rt)
    # Many hours of later traffic in between, then the copies.
    later = [
        contract.Record(
            source="ws",
            topic="fees",
            origin_id="conn-2",
            frame_seq=i,
            received_at=f"2026-01-{14 + i:02d}T10:00:00.000Z",
            payload={"fastestFee": 4},
        )
        for i in range(3)
    ]
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(later))
    cycle(rt)
    rerun = dataclasses.replace(backfill, received_at="2026-01-20T08:00:00.000Z")
    land(rt, contract.PREFIX_STREAM, live.to_line())
    land(rt, contract.PREFIX_BLOCKS, rerun.to_line())
    cycle(rt)
    assert q(rt, "SELECT COUNT(*), COUNT(DISTINCT EVENT_KEY) FROM SILVER.EVENTS") == [(5, 5)]
    recon = dict(
        (r[0], r[1:])
        for r in q(
            rt, "SELECT TOPIC, CLEAN_ROWS, DUPLICATE_ROWS, IS_BALANCED FROM OPS.RECONCILIATION"
        )
    )
    assert recon == {"fees": (4, 1, True), "block": (1, 1, True)}


def test_a_file_delivered_twice_is_loaded_once(rt: LocalSnowflake) -> None:
    key = land(rt, contract.PREFIX_STREAM, rec("fees", {"fastestFee": 3}, 0).to_line())
    rt.load_object(key)
    rt.load_object(key)
    assert q(rt, "SELECT COUNT(*) FROM RAW.STREAM_EVENTS") == [(1,)]
    assert rt.counters["duplicate_files"] >= 1


def test_bad_records_are_quarantined_with_reason_file_and_row(rt: LocalSnowflake) -> None:
    good = rec("fees", {"fastestFee": 3.5, "halfHourFee": 2}, 0)
    bad_version = {**rec("fees", {}, 1).to_dict(), "v": 9}
    no_origin = {k: v for k, v in rec("fees", {}, 2).to_dict().items() if k != "origin_id"}
    bad_time = {**rec("fees", {}, 3).to_dict(), "received_at": "yesterday"}
    no_payload = {k: v for k, v in rec("fees", {}, 4).to_dict().items() if k != "payload"}
    lines = [good.to_line(), b"{not json at all\n"]
    lines += [
        (json.dumps(o) + "\n").encode() for o in (bad_version, no_origin, bad_time, no_payload)
    ]
    key = land(rt, contract.PREFIX_STREAM, b"".join(lines))
    cycle(rt)
    quarantined = q(
        rt, "SELECT SOURCE_ROW, REASON, SOURCE_FILE FROM OPS.QUARANTINE ORDER BY SOURCE_ROW"
    )
    assert [(r[0], r[1]) for r in quarantined] == [
        (2, "unparsable JSON"),
        (3, "unsupported contract version"),
        (4, "missing origin_id"),
        (5, "invalid received_at"),
        (6, "missing payload"),
    ]
    assert {r[2] for r in quarantined} == {key.split("/", 1)[1]}
    assert q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES") == [(3.5,)]
    totals = q(
        rt,
        "SELECT SUM(RAW_ROWS), SUM(CLEAN_ROWS) + SUM(DUPLICATE_ROWS) + "
        "SUM(QUARANTINED_ROWS), BOOLAND_AGG(IS_BALANCED) FROM OPS.RECONCILIATION",
    )
    assert totals == [(6, 6, True)]


def blocks_of(model: Model, heights: range) -> list[dict[str, Any]]:
    return [b.to_api() for h in heights if (b := model.block_at(h))]


def test_a_two_block_reorg_flips_canonical_flags_and_keeps_stale_blocks(
    rt: LocalSnowflake,
) -> None:
    model = Model(seed=21, start_time=1_760_000_000, history_blocks=10)
    first = blocks_of(model, range(900_000, 900_010))
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", first, origin_id="poll-1", received_at=T0)
        ),
    )
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE IS_CANONICAL") == [(10,)]
    stale = [b.hash for b in model.chain[-2:]]
    model._reorg(int(model.now) + 60, depth=2)
    # The WebSocket re-sends the whole `blocks` array on a reorg.
    ws_blocks = [b.to_api() for b in model.chain[-8:]]
    land(rt, contract.PREFIX_STREAM, rec("blocks", ws_blocks, 3).to_line())
    cycle(rt)
    flags = dict(q(rt, "SELECT BLOCK_HASH, IS_STALE FROM SILVER.BLOCKS"))
    assert all(flags[h] for h in stale)
    canonical = q(
        rt, "SELECT HEIGHT, BLOCK_HASH FROM SILVER.BLOCKS WHERE IS_CANONICAL ORDER BY HEIGHT"
    )
    assert [h for h, _ in canonical] == list(range(900_000, 900_011))
    assert [bh for _, bh in canonical][-3:] == [b.hash for b in model.chain[-3:]]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS") == [(13,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCK_GAPS") == [(0,)]


def test_missing_heights_are_recorded_as_gaps(rt: LocalSnowflake) -> None:
    model = Model(seed=22, start_time=1_760_000_000, history_blocks=10)
    some = [
        b
        for b in blocks_of(model, range(900_000, 900_010))
        if b["height"] not in (900_004, 900_005)
    ]
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", some, origin_id="poll-1", received_at=T0)
        ),
    )
    cycle(rt)
    # One row per run of missing heights, however long the run.
    assert q(rt, "SELECT HEIGHT, LAST_HEIGHT FROM SILVER.BLOCK_GAPS") == [(900_004, 900_005)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE IS_CANONICAL") == [(8,)]


def test_the_chain_is_rederived_only_near_new_blocks_and_gaps_stay_exact(
    rt: LocalSnowflake,
) -> None:
    """BUILD_BLOCKS re-derives the chain from 100 blocks below the lowest new one: a gap
    deep below stays recorded (once), and filling it later, from history, clears it."""
    model = Model(seed=24, start_time=1_760_000_000, history_blocks=140, tx_per_s=0.5)
    heights = range(900_000, 900_140)
    deep_gap = 900_005

    def land_blocks(blocks: list[dict[str, Any]], origin: str) -> None:
        land(
            rt,
            contract.PREFIX_BLOCKS,
            contract.encode_ndjson(
                contract.rest_records("block", blocks, origin_id=origin, received_at=T0)
            ),
        )
        cycle(rt)

    land_blocks([b for b in blocks_of(model, heights) if b["height"] != deep_gap], "poll-1")
    assert q(rt, "SELECT HEIGHT FROM SILVER.BLOCK_GAPS") == [(deep_gap,)]
    model.advance(model.now + 3600)
    newest = [b.to_api() for b in model.chain if b.height >= 900_140]
    assert newest
    land_blocks(newest, "poll-2")
    assert q(rt, "SELECT HEIGHT FROM SILVER.BLOCK_GAPS") == [(deep_gap,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE NOT IS_CANONICAL") == [(0,)]
    land_blocks(blocks_of(model, range(deep_gap, deep_gap + 1)), "backfill-1")
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCK_GAPS") == [(0,)]
    top = model.tip.height
    assert q(
        rt, "SELECT COUNT(*), MIN(HEIGHT), MAX(HEIGHT) FROM SILVER.BLOCKS WHERE IS_CANONICAL"
    ) == [(top - 900_000 + 1, 900_000, top)]


def projected_records(origin: str = "conn-9") -> list[contract.Record]:
    model = Model(seed=23, start_time=1_760_000_000, history_blocks=3, tx_per_s=2.0)
    out = [
        rec(
            "projected-block-transactions",
            {
                "index": 0,
                "sequence": model.sequence,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
            0,
            origin,
        )
    ]
    frame = 1
    for event in model.advance(model.start_time + 120):
        update = event.data if event.kind == "update" else event.update
        if update is not None and (payload := update.payload()) is not None:
            out.append(rec("projected-block-transactions", payload, frame, origin))
            frame += 1
    return out


STATE_COLS = (
    "FRAME_SEQ, SEQUENCE, IS_VALID, TX_COUNT, TOTAL_FEES_SAT, ROUND(TOTAL_VSIZE, 2), "
    "ROUND(FEE_RATE_P50, 6)"
)


def test_out_of_order_deltas_rebuild_the_same_states_as_in_order(
    landing: aws_local.Landing, fakesnow_server: LocalWarehouse, rt: LocalSnowflake
) -> None:
    records = projected_records()
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(records))
    cycle(rt)
    expected = q(rt, f"SELECT {STATE_COLS} FROM SILVER.PROJECTED_BLOCK_STATES ORDER BY 1")
    expected_txs = q(rt, "SELECT TXID FROM SILVER.PROJECTED_BLOCK_TXS ORDER BY 1")
    assert len(expected) == len(records) and all(r[2] for r in expected)

    other = LocalSnowflake(
        LocalWarehouse(fakesnow_server.host, fakesnow_server.port, database=next_database()),
        rt.bucket,
        rt.s3,
        rt.sqs,
        rt.queue_url,
    )
    other.deploy()
    try:
        shuffled = records[:]
        random.Random(5).shuffle(shuffled)
        for i in range(0, len(shuffled), 9):  # unordered files, several task runs
            land(other, contract.PREFIX_STREAM, contract.encode_ndjson(shuffled[i : i + 9]))
            cycle(other)
        got = q(other, f"SELECT {STATE_COLS} FROM SILVER.PROJECTED_BLOCK_STATES ORDER BY 1")
        assert got == expected
        assert q(other, "SELECT TXID FROM SILVER.PROJECTED_BLOCK_TXS ORDER BY 1") == expected_txs
    finally:
        other.close()


def test_a_sequence_restart_is_flagged_and_resynced(rt: LocalSnowflake) -> None:
    records = projected_records("conn-r")[:6]
    restart = [
        rec(
            "projected-block-transactions",
            {"index": 0, "sequence": 0, "delta": {"added": [], "removed": [], "changed": []}},
            6,
            "conn-r",
        ),
        rec(
            "projected-block-transactions",
            {"index": 0, "sequence": 0, "blockTransactions": [["t1", 500, 100.0, 1, 5.0, 0, 1]]},
            7,
            "conn-r",
        ),
    ]
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(records + restart))
    cycle(rt)
    rows = q(
        rt,
        "SELECT FRAME_SEQ, IS_VALID, FLAGS, TX_COUNT FROM SILVER.PROJECTED_BLOCK_STATES ORDER BY 1",
    )
    assert rows[6][1] is False and "sequence_restart" in rows[6][2]
    assert rows[7][1] is True and rows[7][3] == 1


def test_rerunning_the_task_graph_is_a_no_op(rt: LocalSnowflake) -> None:
    model = Model(seed=24, start_time=1_760_000_000, history_blocks=5)
    frame = {
        "mempoolInfo": model.mempool_info(),
        "fees": model.recommended_fees(),
        "vBytesPerSecond": 1200,
        "mempool-blocks": model.mempool_blocks(),
        "da": model.difficulty_adjustment(),
        "live-2h-chart": model.live_2h_chart(1_760_000_000),
        "blocks": blocks_of(model, range(900_000, 900_005)),
        "conversions": {"time": 1_760_000_000, "USD": 90000, "EUR": -1, "XAU": 40},
    }
    recs = contract.records_from_frame(frame, origin_id="c", frame_seq=0, received_at=T0)
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(recs + projected_records("c2")[:5]))
    cycle(rt)
    before = snapshot(rt)
    assert all(
        before[t]
        for t in (
            "SILVER.MEMPOOL_INFO",
            "SILVER.RECOMMENDED_FEES",
            "SILVER.MEMPOOL_BLOCKS",
            "SILVER.DIFFICULTY_ADJUSTMENTS",
            "SILVER.LIVE_2H_CHART",
            "SILVER.BLOCKS",
            "SILVER.PRICES",
            "SILVER.PROJECTED_BLOCK_STATES",
            "SILVER.VBYTES_PER_SECOND",
        )
    )
    # The task graph again with nothing new, and every procedure called once more directly.
    assert cycle(rt) == []
    for proc in (
        "SILVER.LOAD_EVENTS",
        "SILVER.BUILD_STATS",
        "SILVER.BUILD_BLOCKS",
        "SILVER.BUILD_PRICES",
        "SILVER.BUILD_PROJECTED",
    ):
        rt.call(proc)
    assert snapshot(rt) == before
    assert q(rt, "SELECT USD, EUR FROM SILVER.PRICES") == [(90000.0, None)]


@pytest.mark.contract
@pytest.mark.skipif(not SHARED_FIXTURES.is_dir(), reason="../shared/reference/fixtures is absent")
def test_recorded_init_frame_flows_into_silver(rt: LocalSnowflake) -> None:
    path = SHARED_FIXTURES / "frontend/cypress/fixtures/mainnet_mempoolInfo.json"
    frame = json.loads(path.read_text())
    recs = contract.records_from_frame(frame, origin_id="rec", frame_seq=0, received_at=T0)
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(recs))
    cycle(rt)
    assert q(rt, "SELECT TX_COUNT, TOTAL_FEE_BTC, TOTAL_FEE_SAT FROM SILVER.MEMPOOL_INFO") == [
        (112686, Decimal("5.10536864"), 510536864)
    ]
    assert q(
        rt, "SELECT COUNT(*), MIN(HEIGHT), MAX(HEIGHT) FROM SILVER.BLOCKS WHERE IS_CANONICAL"
    ) == [(8, 837043, 837050)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.MEMPOOL_BLOCKS") == [(8,)]


def test_task_runs_are_recorded_where_the_task_history_view_reads(rt: LocalSnowflake) -> None:
    """Production's OPS.TASK_RUNS is a view over TASK_HISTORY; locally the runtime records
    each run under that name, with the view's own columns, as SUCCEEDED or FAILED."""
    import re

    from sandbox.snowflake_local.plan import SQL_DIR
    from sandbox.snowflake_local.streams import TaskKilled

    view = re.search(
        r"CREATE OR REPLACE VIEW <% database %>\.OPS\.TASK_RUNS AS\s+SELECT (.*?)\s+FROM TABLE",
        (SQL_DIR / "30_silver.sql").read_text(),
        re.S,
    )
    assert view
    aliases = [item.split()[-1] for item in view[1].split(",\n")]
    cur = rt.conn.cursor()
    cur.execute("SELECT * FROM OPS.TASK_RUNS LIMIT 0")
    assert [d[0] for d in cur.description] == aliases

    land(rt, contract.PREFIX_STREAM, rec("fees", {"fastestFee": 3}, 0).to_line())
    cycle(rt)
    runs = q(rt, "SELECT TASK_NAME, STATE, ERROR_MESSAGE FROM OPS.TASK_RUNS ORDER BY 1")
    assert runs == [("REFRESH_SILVER", "SUCCEEDED", None)]

    # A run killed in any stage ends whole, as a run killed on Snowflake does.
    land(rt, contract.PREFIX_STREAM, rec("fees", {"fastestFee": 4}, 1).to_line())
    rt.kill_switch = lambda procedure: 1 if procedure == "SILVER.BUILD_STATS" else None
    with pytest.raises(TaskKilled):
        cycle(rt)
    rt.kill_switch = None
    ((state, error),) = q(
        rt,
        "SELECT STATE, ERROR_MESSAGE FROM OPS.TASK_RUNS WHERE TASK_NAME = 'REFRESH_SILVER' "
        "ORDER BY STARTED_AT DESC LIMIT 1",
    )
    assert state == "FAILED" and error.startswith("TaskKilled")
    ((started, completed),) = q(rt, "SELECT MIN(STARTED_AT), MAX(COMPLETED_AT) FROM OPS.TASK_RUNS")
    assert started <= completed
