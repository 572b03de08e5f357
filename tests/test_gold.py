"""dbt owns gold: the production project, built with dbt-snowflake against the local
warehouse after the production procedures filled SILVER."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest import contract
from sandbox.dbt_local import run_dbt
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.warehouse_helpers import T0, cycle, land, q, rec

pytestmark = [pytest.mark.stack, pytest.mark.dbt]

MODEL = "fct_block_projection_accuracy"


def dbt(rt: LocalSnowflake, tmp_path: Path, *args: str) -> str:
    result = run_dbt(rt.warehouse, *args, target_dir=tmp_path / "dbt-target")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return result.stdout


def summary(stdout: str) -> dict[str, int]:
    match = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", stdout)
    assert match, stdout[-2000:]
    return dict(zip(["pass", "warn", "error", "skip"], map(int, match.groups()), strict=True))


def fill_silver(rt: LocalSnowflake) -> Model:
    """A chain with a 2-block reorg, stats, prices and projected-block updates."""
    model = Model(seed=31, start_time=1_760_000_000, history_blocks=12, tx_per_s=2.0)
    blocks = [b.to_api() for b in model.chain]
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", blocks, origin_id="poll-1", received_at=T0)
        ),
    )
    frame = {
        "mempoolInfo": model.mempool_info(),
        "fees": model.recommended_fees(),
        "vBytesPerSecond": 900,
        "mempool-blocks": model.mempool_blocks(),
        "conversions": {"time": 1_760_000_000, "USD": 91000},
    }
    records = contract.records_from_frame(frame, origin_id="c", frame_seq=0, received_at=T0)
    records.append(
        rec(
            "projected-block-transactions",
            {
                "index": 0,
                "sequence": 0,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
            1,
            "c",
        )
    )
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(records))
    cycle(rt)
    model._reorg(int(model.now) + 60, depth=2)
    # Seen 5 minutes after the projection above, so the accuracy model has a pair.
    tip = [b.to_api() for b in model.chain[-3:]]
    land(
        rt,
        contract.PREFIX_STREAM,
        contract.encode_ndjson(
            [
                contract.Record(
                    source="ws",
                    topic="blocks",
                    origin_id="c",
                    frame_seq=2,
                    received_at="2026-01-13T10:05:00.000Z",
                    payload=tip,
                )
            ]
        ),
    )
    cycle(rt)
    return model


def test_dbt_build_is_green_and_gold_follows_the_canonical_chain(
    rt: LocalSnowflake,
    tmp_path: Path,
) -> None:
    model = fill_silver(rt)
    first = summary(dbt(rt, tmp_path, "build"))
    assert first["error"] == 0 and first["warn"] == 0 and first["skip"] == 0
    assert first["pass"] >= 70
    canonical = [(b.height, b.hash) for b in model.chain]
    assert q(rt, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCKS ORDER BY 1") == canonical
    stale = q(
        rt,
        "SELECT s.BLOCK_HASH, s.REPLACED_BY_BLOCK_HASH, b.HEIGHT "
        "FROM GOLD.FCT_STALE_BLOCKS s JOIN GOLD.FCT_BLOCKS b "
        "ON b.BLOCK_HASH = s.REPLACED_BY_BLOCK_HASH ORDER BY 3",
    )
    assert sorted(r[0] for r in stale) == sorted(h for h, b in model.by_hash.items() if b.stale)
    assert len(stale) == 2
    counts = {
        t: q(rt, f"SELECT COUNT(*) FROM GOLD.{t}")[0][0]
        for t in (
            "FCT_BLOCKS",
            "FCT_STALE_BLOCKS",
            "FCT_MEMPOOL_MINUTELY",
            "FCT_PRICES",
            "FCT_PRICES_HOURLY",
            "FCT_PROJECTED_BLOCK",
            "FCT_BLOCK_PROJECTION_ACCURACY",
            "FCT_DAILY_SUMMARY",
            "FCT_MEMPOOL_BLOCKS",
        )
    }
    assert all(n > 0 for n in counts.values()), counts
    # Incremental models re-run on the same data change nothing.
    again = summary(dbt(rt, tmp_path, "build"))
    assert again["error"] == 0
    assert {t: q(rt, f"SELECT COUNT(*) FROM GOLD.{t}")[0][0] for t in counts} == counts
    assert q(rt, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCKS ORDER BY 1") == canonical


def test_unit_tests_run_and_stale_sources_fail_freshness(
    rt: LocalSnowflake,
    tmp_path: Path,
) -> None:
    fill_silver(rt)
    out = dbt(rt, tmp_path, "build")
    passed_unit_tests = re.findall(r"PASS ((?:fct|live|history)_\w+::\w+)", out)
    assert sorted(passed_unit_tests) == [
        "fct_block_projection_accuracy::"
        "accuracy_counts_the_overlap_again_only_when_its_inputs_changed",
        "fct_block_projection_accuracy::accuracy_uses_the_projection_each_block_ended",
        "fct_daily_summary::daily_percentiles_and_peaks",
        "fct_fee_recommendation_accuracy::minutes_are_scored_against_the_next_block_seen",
        "fct_mempool_blocks::mempool_blocks_keeps_the_last_frame_of_each_minute",
        "fct_prices_hourly::hourly_rollup_takes_first_last_extremes_and_mean",
        "fct_projected_block::projected_block_follows_one_connection_at_a_time",
        "history_blocks::history_blocks_before_gold_are_the_tip",
        "history_blocks::history_blocks_read_silver_above_the_mart_through_a_reorg",
        "history_mempool_minutely::history_mempool_before_gold_is_lives_window",
        "history_mempool_minutely::"
        "history_mempool_takes_the_mart_then_silver_from_its_newest_minute",
        "live_blocks::live_blocks_are_the_top_canonical_heights_with_their_predecessors",
        "live_mempool_blocks::live_mempool_blocks_shows_only_the_newest_frame",
        "live_mempool_fee_bands::live_fee_bands_keep_each_statistic_once",
        "live_mempool_minutely::live_mempool_averages_inflow_over_one_streamer",
        "live_mempool_minutely::live_mempool_reads_only_the_window_and_keeps_the_newest_sample",
        "live_prices::live_price_is_the_newest_priced_not_the_newest_received",
        "live_projected_block::live_projected_block_is_the_newest_valid_state",
    ]
    # These records were received on 2026-01-13: far past the freshness limits.
    freshness = run_dbt(rt.warehouse, "source", "freshness", target_dir=tmp_path / "dbt-target")
    assert freshness.returncode != 0
    assert re.search(r"ERROR STALE freshness of silver\.mempool_info", freshness.stdout)


def test_a_reorg_between_dbt_runs_replaces_gold_rows_of_orphaned_blocks(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    model = Model(seed=32, start_time=1_760_000_000, history_blocks=8, tx_per_s=2.0)
    land(
        rt,
        contract.PREFIX_STREAM,
        contract.Record(
            source="ws",
            topic="projected-block-transactions",
            origin_id="c",
            frame_seq=0,
            received_at="2026-01-13T09:58:00.000Z",
            payload={
                "index": 0,
                "sequence": 0,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
        ).to_line(),
    )
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records(
                "block", [b.to_api() for b in model.chain], origin_id="poll-1", received_at=T0
            )
        ),
    )
    cycle(rt)
    dbt(rt, tmp_path, "build")
    before = dict(q(rt, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY"))
    assert before[model.tip.height] == model.tip.hash

    model._reorg(int(model.now) + 60, depth=2)
    land(
        rt,
        contract.PREFIX_STREAM,
        contract.Record(
            source="ws",
            topic="blocks",
            origin_id="c",
            frame_seq=1,
            received_at="2026-01-13T10:05:00.000Z",
            payload=[b.to_api() for b in model.chain[-8:]],
        ).to_line(),
    )
    cycle(rt)
    assert summary(dbt(rt, tmp_path, "build"))["error"] == 0
    canonical = {b.hash for b in model.chain}
    accuracy = q(rt, "SELECT BLOCK_HASH FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY")
    assert {r[0] for r in accuracy} <= canonical
    assert q(rt, "SELECT COUNT(*) FROM GOLD.FCT_BLOCKS") == [(len(model.chain),)]
    assert len(q(rt, "SELECT * FROM GOLD.FCT_STALE_BLOCKS")) == 2


def at(seconds: int) -> str:
    return f"2026-01-13T10:{seconds // 60:02d}:{seconds % 60:02d}.000Z"


def test_each_block_gets_the_projection_made_for_its_height_and_our_own_overlap(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    """Ten blocks loaded together from history had no projection of their own (they all
    used to get the same one); a block the connection saw arrive gets the projection that
    stood just before it, and our overlap of projected and mined txids equals the
    simulator's truth."""
    # Busy enough that no block empties the mempool (a sequence gap would need a resync).
    model = Model(seed=35, start_time=1_760_000_000, history_blocks=10)
    stream = [
        contract.Record("ws", "blocks", "c", 0, at(0), [b.to_api() for b in model.chain[-8:]]),
        contract.Record(
            "ws",
            "projected-block-transactions",
            "c",
            1,
            at(1),
            {
                "index": 0,
                "sequence": model.sequence,
                "blockTransactions": [t.projected() for t in model.projected.values()],
            },
        ),
    ]
    events = model.advance(model.start_time + 2400)
    block_events = [e for e in events if e.kind == "block"]
    assert block_events, "the model mined no block in an hour"
    frame = 2
    for event in events:
        update = event.data if event.kind == "update" else event.update
        received = at(min(3599, 2 + frame))
        if event.kind == "block":
            stream.append(contract.Record("ws", "block", "c", frame, received, event.data.to_api()))
        if update is not None and (payload := update.payload()) is not None:
            stream.append(
                contract.Record("ws", "projected-block-transactions", "c", frame, received, payload)
            )
        frame += 1
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(stream))
    history = contract.rest_records(
        "block", [b.to_api() for b in model.chain], origin_id="poll-1", received_at=at(3599)
    )
    mined = [e.data for e in block_events]
    txids = contract.rest_records(
        contract.TOPIC_BLOCK_TXIDS,
        [{"id": b.hash, "txids": b.api_txids()} for b in mined],
        origin_id="poll-1",
        received_at=at(3599),
    )
    land(rt, contract.PREFIX_BLOCKS, contract.encode_ndjson(history + txids))
    cycle(rt)
    assert summary(dbt(rt, tmp_path, "build"))["error"] == 0
    rows = {
        r[0]: r[1:]
        for r in q(
            rt,
            "SELECT HEIGHT, PROJECTED_STATE_ID, TX_OVERLAP_PCT, MATCH_RATE_PCT "
            "FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY",
        )
    }
    history_heights = [b.height for b in model.chain if b not in mined]
    assert all(rows[h][0] is None for h in history_heights)
    for block in mined:
        state_id, overlap, match_rate = rows[block.height]
        assert state_id is not None and state_id.startswith("c:")
        assert overlap == pytest.approx(block.seen_overlap_pct, abs=0.01)
        assert match_rate == pytest.approx(block.match_rate)
    assert len({rows[b.height][0] for b in mined}) == len(mined)

    # The overlap is counted once per pair of block and projection: a run with nothing
    # new, every height still inside the watermark's lookback, re-examines them all,
    # counts none again (the costly CTE is empty) and keeps every count.
    assert summary(dbt(rt, tmp_path, "run", "--select", MODEL))["error"] == 0
    compiled = tmp_path / "dbt-target" / "compiled" / "mempool" / "models" / "marts"
    sql = (compiled / f"{MODEL}.sql").read_text()
    ctes = sql[: sql.index("projected_txids as (")].rstrip().rstrip(",")
    assert q(rt, f"{ctes}\nselect count(*) from compared")[0][0] >= len(mined)
    assert q(rt, f"{ctes}\nselect count(*) from to_count") == [(0,)]
    assert {
        r[0]: r[1:]
        for r in q(
            rt,
            "SELECT HEIGHT, PROJECTED_STATE_ID, TX_OVERLAP_PCT, MATCH_RATE_PCT "
            "FROM GOLD.FCT_BLOCK_PROJECTION_ACCURACY",
        )
    } == rows


def test_history_older_than_gold_still_lands_in_fct_blocks(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    model = Model(seed=33, start_time=1_760_000_000, history_blocks=30, tx_per_s=2.0)
    recent = [b.to_api() for b in model.chain[-8:]]  # what the WebSocket sends first
    land(rt, contract.PREFIX_STREAM, rec("blocks", recent, 0, "c").to_line())
    cycle(rt)
    dbt(rt, tmp_path, "build")
    assert q(rt, "SELECT COUNT(*) FROM GOLD.FCT_BLOCKS") == [(8,)]
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records(
                "block", [b.to_api() for b in model.chain], origin_id="poll-1", received_at=T0
            )
        ),
    )
    cycle(rt)
    assert summary(dbt(rt, tmp_path, "build"))["error"] == 0
    assert q(rt, "SELECT HEIGHT, BLOCK_HASH FROM GOLD.FCT_BLOCKS ORDER BY 1") == [
        (b.height, b.hash) for b in model.chain
    ]


def test_block_gaps_warn_and_never_fail_the_gold_build(rt: LocalSnowflake, tmp_path: Path) -> None:
    """Gaps are the normal state while history catches up: a failing gap test would fail
    REFRESH_GOLD on every run until the task graph suspended itself."""
    model = Model(seed=34, start_time=1_760_000_000, history_blocks=10, tx_per_s=2.0)
    with_gap = [b.to_api() for b in model.chain if b.height != model.chain[4].height]
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", with_gap, origin_id="poll-1", received_at=T0)
        ),
    )
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCK_GAPS") == [(1,)]
    result = summary(dbt(rt, tmp_path, "build"))
    assert result["error"] == 0 and result["warn"] == 1


def test_a_file_of_hostile_records_changes_nothing_and_later_data_reaches_gold(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    """Injection strings in every identifying field, type drift in typed fields and bad
    frame_seqs, all in one landing file: each is quarantined with its reason, nothing
    else changes, later good data flows to GOLD, and reconciliation balances."""
    import json

    model = fill_silver(rt)
    dbt(rt, tmp_path, "build")
    before = {
        t: q(rt, f"SELECT COUNT(*) FROM {t}")[0][0]
        for t in (
            "SILVER.EVENTS",
            "SILVER.BLOCKS",
            "SILVER.PROJECTED_BLOCK_STATES",
            "GOLD.FCT_BLOCKS",
        )
    }
    evil = "x\\' OR 1=1 --"
    base = rec("fees", {"fastestFee": 3.0}, 900, "hostile-1").to_dict()
    hostile = [
        {**base, "origin_id": evil},
        {**base, "topic": evil},
        {**base, "source": evil},
        {**base, "received_at": evil},
        {**base, "v": evil},
        {**base, "frame_seq": "7"},
        {**base, "frame_seq": -1},
        {**base, "frame_seq": 1.5},
        {**rec("mempoolInfo", {"size": "abc"}, 901, "hostile-1").to_dict()},
        {**rec("fees", {"fastestFee": evil}, 902, "hostile-1").to_dict()},
        {**rec("conversions", {"time": 1_760_000_000, "USD": evil}, 903, "hostile-1").to_dict()},
        {**rec("block", {**model.chain[-1].to_api(), "id": evil}, 904, "hostile-1").to_dict()},
        {**rec("block", {**model.chain[-1].to_api(), "height": evil}, 905, "hostile-1").to_dict()},
    ]
    land(rt, contract.PREFIX_STREAM, b"".join((json.dumps(r) + "\n").encode() for r in hostile))
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM OPS.QUARANTINE") == [(len(hostile),)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.QUARANTINE WHERE REASON IS NULL") == [(0,)]
    after = {t: q(rt, f"SELECT COUNT(*) FROM {t}")[0][0] for t in before}
    # The typed-field records are clean events (quarantined by their builder), nothing more.
    assert after["SILVER.EVENTS"] == before["SILVER.EVENTS"] + 5
    assert {k: v for k, v in after.items() if k != "SILVER.EVENTS"} == {
        k: v for k, v in before.items() if k != "SILVER.EVENTS"
    }
    # Later good data, with an injection string as plain data (a pool name), reaches GOLD.
    model.advance(model.now + 3 * 3600)
    newest = {**model.chain[-1].to_api()}
    newest["extras"] = {**newest["extras"], "pool": {"name": evil, "slug": "evil"}}
    land(rt, contract.PREFIX_STREAM, rec("block", newest, 906, "good-1").to_line())
    cycle(rt)
    assert summary(dbt(rt, tmp_path, "build"))["error"] == 0
    assert q(rt, f"SELECT POOL_NAME FROM GOLD.FCT_BLOCKS WHERE BLOCK_HASH = '{newest['id']}'") == [
        (evil,)
    ]
    assert q(rt, "SELECT BOOLAND_AGG(IS_BALANCED) FROM OPS.RECONCILIATION") == [(True,)]
