"""Gold under late files, corrections, reorgs and false clocks: each fault a review found
that left a mart wrong or frozen, replayed through the pipes, procedures and dbt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from sandbox.dbt_local import run_dbt
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.test_silver_faults import iso, ndjson, projected, raw, tx
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt]

MARTS = "fct_blocks fct_mempool_minutely fct_mempool_blocks fct_projected_block fct_prices"


def dbt_run(rt: LocalSnowflake, tmp_path: Path, select: str) -> None:
    """`dbt run` of these models and what they read (staging views included)."""
    models = [f"+{name}" for name in select.split()]
    result = run_dbt(rt.warehouse, "run", "--select", *models, target_dir=tmp_path / "dbt-target")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def at(moment: datetime, **fields: Any) -> dict[str, Any]:
    return {"received_at": iso(moment), **fields}


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0, tzinfo=None)


def ntz(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def info(size: int) -> dict[str, Any]:
    return {"size": size, "bytes": 1000, "usage": 5000, "total_fee": 0.5, "maxmempool": 3e8}


def strip(count: int, n_tx: int) -> list[dict[str, Any]]:
    return [
        {"blockSize": 1000, "blockVSize": 999.0, "nTx": n_tx, "totalFees": 12_345_678_901,
         "medianFee": 3.0, "feeRange": [1.0, 2.0, 9.0]}
        for _ in range(count)
    ]  # fmt: skip


def test_late_files_and_corrections_reach_gold(rt: LocalSnowflake, tmp_path: Path) -> None:
    """Incremental marts windowed on the client's received_at: a row reaching SILVER more
    than `late_arrival_minutes` after it was received never reached gold; a later frame
    with fewer projected blocks left the earlier frame's extra ones; a corrected first
    sighting and a block filled in below kept gold's old values; states a rebuild
    dropped stayed; a writer with a clock centuries ahead froze the minutely mart."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    early, recent = now - timedelta(hours=3), now - timedelta(minutes=20)
    model = Model(seed=91, start_time=int(early.timestamp()) - 4000, history_blocks=6)
    chain = [b.to_api() for b in model.chain]
    missing = chain[3]
    centuries_ahead = iso(now + timedelta(days=365 * 300))
    land(
        rt,
        contract.PREFIX_STREAM,
        ndjson(
            raw("mempoolInfo", info(100), 1, **at(early + timedelta(seconds=10))),
            raw("mempoolInfo", info(200), 2, **at(recent + timedelta(seconds=10))),
            raw("fees", {"fastestFee": 9.0}, 2, **at(recent + timedelta(seconds=10))),
            raw("mempool-blocks", strip(3, 10), 3, **at(recent + timedelta(seconds=11))),
            raw("mempoolInfo", info(666), 4, received_at=centuries_ahead),
            raw("fees", {"fastestFee": 666.0}, 4, received_at=centuries_ahead),
            projected(10, 20, {"blockTransactions": [tx(i) for i in range(4)]}),
            projected(11, 22, {"delta": {"added": [tx(5)]}}),
            projected(12, 23, {"delta": {"added": [tx(6)]}}),
        ),
    )
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records(
                "block", [b for b in chain if b is not missing], origin_id="poll-1",
                received_at=iso(recent),
            )
        ),
    )  # fmt: skip
    cycle(rt)
    dbt_run(rt, tmp_path, MARTS)
    assert q(rt, "SELECT MAX(MINUTE_AT) FROM GOLD.FCT_MEMPOOL_MINUTELY") == [(minute(recent),)]

    # An hour later a file lands with what was received hours ago; the streamer's copies
    # of the blocks, received before the poller's; the block that was missing.
    land(
        rt,
        contract.PREFIX_STREAM,
        ndjson(
            raw("mempoolInfo", info(150), 5, **at(early + timedelta(seconds=50))),
            raw("mempoolInfo", info(50), 6, **at(early - timedelta(minutes=30))),
            raw("mempool-blocks", strip(2, 20), 7, **at(recent + timedelta(seconds=40))),
            raw("blocks", chain, 8, **at(recent - timedelta(minutes=5))),
            projected(11, 21, {"delta": {"added": [tx(5)]}}),
            raw("mempoolInfo", info(300), 9, **at(now)),
        ),
    )
    cycle(rt)
    dbt_run(rt, tmp_path, MARTS)
    minutes = dict(q(rt, "SELECT MINUTE_AT, TX_COUNT FROM GOLD.FCT_MEMPOOL_MINUTELY"))
    assert minutes == {
        minute(early - timedelta(minutes=30)): 50,
        minute(early): 150,
        minute(recent): 200,
        minute(now): 300,
    }
    assert q(rt, "SELECT MAX(FASTEST_FEE_SAT_PER_VB) FROM GOLD.FCT_MEMPOOL_MINUTELY") == [(9.0,)]
    assert q(rt, "SELECT BLOCK_INDEX, TX_COUNT FROM GOLD.FCT_MEMPOOL_BLOCKS ORDER BY 1") == [
        (0, 20),
        (1, 20),
    ]
    assert q(rt, "SELECT DISTINCT TOTAL_FEES_BTC FROM GOLD.FCT_MEMPOOL_BLOCKS") == [
        (Decimal("123.45678901"),)
    ]
    blocks = q(
        rt,
        "SELECT HEIGHT, FIRST_SEEN_AT, SECONDS_SINCE_PREVIOUS_BLOCK FROM GOLD.FCT_BLOCKS "
        "ORDER BY 1",
    )
    assert [h for h, _, _ in blocks] == [b["height"] for b in chain]
    assert {seen for _, seen, _ in blocks} == {minute(recent) - timedelta(minutes=5)}
    assert all(gap is not None for _, _, gap in blocks[1:])
    # Frame 22 repeated sequence 11 once frame 21 arrived: its state is gone, in gold too.
    assert q(rt, "SELECT FRAME_SEQ FROM GOLD.FCT_PROJECTED_BLOCK ORDER BY 1") == [
        (20,), (21,), (23,)
    ]  # fmt: skip
    horizon = q(rt, "SELECT MAX(MINUTE_AT) <= SYSDATE() FROM GOLD.FCT_MEMPOOL_MINUTELY")
    assert horizon == [(True,)]


def test_accuracy_scores_each_block_against_the_projection_it_ended(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    """A block that replaced another at its height was scored against the projection
    made for the next height; and a projection committed while the accuracy model was
    reading was skipped for good (the model's watermark was its own clock)."""
    now = datetime.now(UTC).replace(microsecond=0)
    model = Model(seed=93, start_time=int(now.timestamp()) - 7200, history_blocks=5)
    chain = [b.to_api() for b in model.chain]
    replaced = chain[-1]
    model._reorg(int(now.timestamp()) - 600, depth=1)
    sibling, above = model.chain[-2].to_api(), model.chain[-1].to_api()
    assert sibling["height"] == replaced["height"]
    seen = now - timedelta(minutes=30)

    def t(seconds: int) -> dict[str, Any]:
        return at(seen + timedelta(seconds=seconds))

    full = {"blockTransactions": [tx(i) for i in range(5)]}
    land(
        rt,
        contract.PREFIX_STREAM,
        ndjson(
            raw("blocks", chain[:-1], 0, **t(0)),
            projected(1, 1, full) | t(1),
            raw("block", replaced, 2, **t(60)),
            projected(2, 3, {"delta": {"added": [tx(9)]}}) | t(61),
            raw("block", sibling, 4, **t(120)),
            projected(3, 5, {"delta": {"added": [tx(10)]}}) | t(121),
            raw("block", above, 6, **t(180)),
        ),
    )
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block-txids", [
                {"id": b["id"], "txids": ["cb", tx(1)[0], tx(9)[0]]}
                for b in (replaced, sibling, above)
            ], origin_id="poll-1", received_at=iso(now))
        ),
    )  # fmt: skip
    cycle(rt)
    projections = q(rt, "SELECT HEIGHT, ENDED_BY_HASH FROM SILVER.BLOCK_PROJECTIONS ORDER BY 1")
    assert projections == [(replaced["height"], replaced["id"]), (above["height"], above["id"])]
    dbt_run(rt, tmp_path, "fct_blocks fct_block_projection_accuracy")
    scored = dict(
        q(rt, "SELECT BLOCK_HASH, PROJECTED_STATE_ID FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY")
    )
    assert scored[sibling["id"]] is None
    assert scored[above["id"]] == "c:5"

    # A projection whose transaction committed while that build was reading: stamped
    # before the build's end, visible only after it.
    rt.execute(
        "INSERT INTO SILVER.BLOCK_PROJECTIONS (ORIGIN_ID, FRAME_SEQ, HEIGHT, ENDED_BY_HASH, "
        "BLOCK_SEEN_AT, STATE_FRAME_SEQ, PROJECTED_AT, TX_COUNT, TOTAL_FEES_SAT, TXIDS, "
        "LOADED_AT) SELECT 'other', 7, ?, ?, ?, 6, ?, 1, 500, PARSE_JSON('[\"x\"]'), "
        "DATEADD(MINUTE, -3, SYSDATE())",
        [sibling["height"], sibling["id"], ntz(seen + timedelta(seconds=120)), ntz(seen)],
    )
    dbt_run(rt, tmp_path, "fct_blocks fct_block_projection_accuracy")
    scored = dict(
        q(rt, "SELECT BLOCK_HASH, PROJECTED_STATE_ID FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY")
    )
    assert scored[sibling["id"]] == "other:6"
