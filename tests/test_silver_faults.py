"""Faults at the edge of SILVER that used to stop a builder for good, or let an impossible
value through: each ends in quarantine with its reason, good data keeps flowing, and no
reader ever sees a builder's work half done, whatever statement a run dies after.

Length: one fault per test, sharing the runtime fixture and the land-and-check helpers.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ingest import contract
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.snowflake_local.streams import TaskKilled
from tests.conftest import new_runtime
from tests.warehouse_helpers import T0, cycle, land, q, rec

pytestmark = pytest.mark.stack


def raw(topic: str, payload: Any, seq: int, origin: str = "c", **fields: Any) -> dict[str, Any]:
    """A contract line as any writer could put it in S3 (contract.Record checks more)."""
    record = {
        "v": 1,
        "source": "ws",
        "topic": topic,
        "origin_id": origin,
        "frame_seq": seq,
        "received_at": T0,
        "payload": payload,
    }
    return {**record, **fields}


def ndjson(*records: dict[str, Any] | contract.Record) -> bytes:
    return b"".join(
        r.to_line() if isinstance(r, contract.Record) else (json.dumps(r) + "\n").encode()
        for r in records
    )


def reasons(rt: LocalSnowflake, stage: str) -> list[str]:
    return [r[0] for r in q(rt, f"SELECT REASON FROM OPS.QUARANTINE WHERE STAGE = '{stage}'")]


def balanced(rt: LocalSnowflake) -> bool:
    rows = q(rt, "SELECT IS_BALANCED, PENDING_ROWS FROM OPS.RECONCILIATION")
    return bool(rows) and all(ok and pending == 0 for ok, pending in rows)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def test_a_received_at_that_is_no_real_time_is_quarantined_and_loading_goes_on(
    rt: LocalSnowflake,
) -> None:
    """The 30th of February matched the format, passed the check, and then failed
    TO_TIMESTAMP_NTZ on every retry: the task suspended itself."""
    ahead = datetime.now(UTC) + timedelta(days=365 * 200)
    bad = {
        "2026-02-30T10:00:00.000Z": "invalid received_at (not a real time)",
        "2023-02-29T10:00:00.000Z": "invalid received_at (not a real time)",
        "2026-01-13T24:00:00.000Z": "invalid received_at (not a real time)",
        "2026-01-13T10:60:00.000Z": "invalid received_at (not a real time)",
        "2026-01-13T10:00:00.1234567891Z": "invalid received_at",
        "2008-12-31T23:59:59.000Z": "implausible: received_at before Bitcoin existed",
        iso(ahead): "implausible: received_at ahead of the warehouse clock",
    }
    good = ["2024-02-29T10:00:00.000Z", "2026-01-13T10:00:00.123456789Z", T0]
    lines = [raw("fees", {"fastestFee": 3}, i, received_at=t) for i, t in enumerate(bad)]
    lines += [raw("fees", {"fastestFee": 4}, 100 + i, received_at=t) for i, t in enumerate(good)]
    land(rt, contract.PREFIX_STREAM, ndjson(*lines))
    cycle(rt)
    assert sorted(reasons(rt, "load")) == sorted(bad.values())
    assert q(rt, "SELECT COUNT(*) FROM SILVER.RECOMMENDED_FEES") == [(len(good),)]
    land(rt, contract.PREFIX_STREAM, ndjson(raw("fees", {"fastestFee": 5}, 200)))
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM SILVER.RECOMMENDED_FEES") == [(len(good) + 1,)]
    assert balanced(rt)


def test_topics_with_a_colon_are_refused_so_every_event_key_names_one_record(
    rt: LocalSnowflake,
) -> None:
    """`origin:frame_seq:topic` split two ways when a topic held a colon: ('a', 1, '2:x')
    and ('a:1', 2, 'x') were one key, and the second record was counted a duplicate."""
    land(
        rt,
        contract.PREFIX_STREAM,
        ndjson(raw("2:x", {"a": 1}, 1, origin="a"), raw("x", {"a": 2}, 2, origin="a:1")),
    )
    cycle(rt)
    assert reasons(rt, "load") == ["invalid topic"]
    assert q(rt, "SELECT EVENT_KEY FROM SILVER.EVENTS") == [("a:1:2:x",)]


def projected(seq: int, frame: int, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    return raw(
        "projected-block-transactions", {"index": 0, "sequence": seq, **(payload or {})}, frame
    )


def tx(i: int) -> list[Any]:
    return [f"{i:064x}", 500 + i, 250.0, 10_000, 2.0 + i / 100, 0, 1_760_000_000]


def test_malformed_projected_payloads_are_quarantined_and_the_builder_keeps_going(
    rt: LocalSnowflake,
) -> None:
    """A null in a transaction array, a list that is not one, a delta that is not an
    object: each raised in the rebuild on every run, while the other builders
    quarantined. Each is quarantined, counts as an update whose content is lost, and the
    next full set brings the state back."""
    full = {"blockTransactions": [tx(i) for i in range(5)]}
    lines = [
        projected(10, 0, full),
        projected(11, 1, {"delta": {"added": [tx(7)], "removed": [], "changed": []}}),
        projected(12, 2, {"delta": {"added": [None], "removed": []}}),
        projected(13, 3, {"delta": [1, 2]}),
        projected(14, 4, {"blockTransactions": {"not": "a list"}}),
        projected(15, 5, {"delta": {"added": [tx(8)]}}),
        projected(16, 6, {"blockTransactions": [tx(i) for i in range(3)] + [[None, 1, 2]]}),
        projected(17, 7, {"delta": {"added": [tx(9)] * (20_001)}}),
        raw("projected-block-transactions", {"index": 0, "sequence": "eighteen"}, 8),
        projected(19, 9, full),
    ]
    land(rt, contract.PREFIX_STREAM, ndjson(*lines))
    cycle(rt)
    assert sorted(reasons(rt, "projected")) == sorted(
        [
            "a transaction is not an array of at least 3 items",
            "delta is not an object",
            "blockTransactions is not an array",
            "a transaction without a valid txid",
            "delta.added lists more than 20000 transactions",
            "sequence is not a whole number from 0",
        ]
    )
    states = q(
        rt,
        "SELECT FRAME_SEQ, IS_VALID, FLAGS, TX_COUNT FROM SILVER.PROJECTED_BLOCK_STATES ORDER BY 1",
    )
    assert [(f, v) for f, v, _, _ in states] == [
        (0, True), (1, True), (2, False), (3, False), (4, False), (5, False), (6, False),
        (7, False), (9, True),
    ]  # fmt: skip
    assert "malformed_update" in states[2][2]
    assert states[-1][3] == 5
    assert cycle(rt) == [] and balanced(rt)


def test_values_no_column_can_hold_are_quarantined_and_stats_keep_flowing(
    rt: LocalSnowflake,
) -> None:
    """A number beyond a column's range failed BUILD_STATS on every run ("could not
    convert ... to INT64"): SILVER stats and every minute mart stopped."""
    info = {"size": 10, "bytes": 1000, "usage": 5000, "total_fee": 0.5, "maxmempool": 3e8}
    lines = [
        raw("mempoolInfo", {**info, "size": 1e40}, 1),
        raw("mempoolInfo", {**info, "size": -5}, 2),
        raw("mempoolInfo", {**info, "size": 10.5}, 3),
        raw("mempoolInfo", {**info, "total_fee": 9e20}, 4),
        raw("mempoolInfo", [1, 2, 3], 5),
        raw("vBytesPerSecond", "fast", 6),
        raw("mempool-blocks", {"blockSize": 1}, 7),
        raw("mempool-blocks", [{"blockSize": 1, "nTx": n} for n in range(60)], 8),
        raw("da", {"remainingTime": -4000, "progressPercent": 10.0}, 9),
        raw("mempoolInfo", info, 10),
    ]
    land(rt, contract.PREFIX_STREAM, ndjson(*lines))
    cycle(rt)
    assert sorted(reasons(rt, "stats")) == sorted(
        [
            "implausible: size outside [0, 2.1e+15]",
            "implausible: size outside [0, 2.1e+15]",
            "type drift: size is not a whole number",
            "implausible: total_fee outside [0, 2.1e+07]",
            "type drift: payload is not an object",
            "type drift: payload is not a number",
            "type drift: payload is not an array",
            *["implausible: more than 50 items"] * 10,
        ]
    )
    assert q(rt, "SELECT TX_COUNT FROM SILVER.MEMPOOL_INFO") == [(10,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.MEMPOOL_BLOCKS") == [(50,)]
    assert q(rt, "SELECT REMAINING_TIME_MS FROM SILVER.DIFFICULTY_ADJUSTMENTS") == [(-4000,)]
    assert balanced(rt)


def blocks(model: Model) -> list[dict[str, Any]]:
    return [b.to_api() for b in model.chain]


def test_a_block_at_an_impossible_height_never_enters_the_chain(rt: LocalSnowflake) -> None:
    """A block at an absurd height made the gap computation list every height between the
    tip and it (the local runtime grew to 23 GB), and the canonical chain followed it."""
    model = Model(seed=71, start_time=1_760_000_000, history_blocks=12)
    chain = blocks(model)
    tip = chain[-1]
    hostile = [
        {**tip, "id": "f" * 64, "height": 10**12},
        {**tip, "id": "e" * 64, "height": -1},
        {**tip, "id": "d" * 64, "height": tip["height"] + 0.5},
        {**tip, "id": "c" * 64, "height": tip["height"] + 1_000_000},
    ]
    # A loop of claims at one height: each names the other as its parent.
    loop = [
        {**tip, "id": "a" * 64, "height": tip["height"] + 1, "previousblockhash": "b" * 64},
        {**tip, "id": "b" * 64, "height": tip["height"] + 1, "previousblockhash": "a" * 64},
    ]
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", chain, origin_id="p1", received_at=T0)
        ),
    )
    cycle(rt)
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", hostile + loop, origin_id="p2", received_at=T0)
        ),
    )
    cycle(rt)
    assert sorted(reasons(rt, "blocks")) == sorted(
        [
            "implausible: height below 0 or above what the chain can have reached",
            "implausible: height below 0 or above what the chain can have reached",
            "type drift: height is not a whole number",
            "implausible: height below 0 or above what the chain can have reached",
        ]
    )
    canonical = q(rt, "SELECT HEIGHT, BLOCK_HASH FROM SILVER.BLOCKS WHERE IS_CANONICAL ORDER BY 1")
    # The loop's blocks are one height above the tip: the first seen leads, its claimed
    # parent (at the same height) is no parent, and the chain continues below it.
    assert canonical[:-1] == [(b["height"], b["id"]) for b in chain]
    assert canonical[-1][0] == tip["height"] + 1
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCK_GAPS") == [(0,)]


def test_snowflake_json_semantics_hold_in_the_pipe_emulation(rt: LocalSnowflake) -> None:
    """Snowflake's TRY_PARSE_JSON is strict by default: an object with a duplicate key is
    NULL (the local engine kept the first value, Python keeps the last). A byte-order
    mark before a file's first line is skipped (SKIP_BYTE_ORDER_MARK, default TRUE).
    https://docs.snowflake.com/en/sql-reference/functions/try_parse_json
    https://docs.snowflake.com/en/sql-reference/sql/create-file-format"""
    duplicate = b'{"v":1,"v":1,"source":"ws","topic":"fees","origin_id":"d","frame_seq":1,' + (
        b'"received_at":"2026-01-13T10:00:00.000Z","payload":{"fastestFee":1,"fastestFee":900}}\n'
    )
    land(rt, contract.PREFIX_STREAM, b"\xef\xbb\xbf" + rec("fees", {"fastestFee": 2}, 0).to_line())
    land(rt, contract.PREFIX_STREAM, duplicate)
    cycle(rt)
    assert reasons(rt, "load") == ["unparsable JSON"]
    assert q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES") == [(2.0,)]


# -- half-finished runs -------------------------------------------------------------------


def reorg_and_late_delta(rt: LocalSnowflake, step: int) -> None:
    """Two landings: a chain, stats, a price and a connection's projected block with one
    delta missing; then the missing delta (late: a rebuild) and a two-block reorg seen
    on the same connection."""
    model = Model(seed=81, start_time=1_760_000_000, history_blocks=8, tx_per_s=2.0)
    if step == 0:
        full = {"blockTransactions": [tx(i) for i in range(6)]}
        lines: list[Any] = [projected(50, 0, full)]
        lines += [
            projected(50 + k, k, {"delta": {"added": [tx(10 + k)], "removed": [tx(k)[0]]}})
            for k in (1, 2, 4, 5)
        ]
        lines += [
            raw("mempoolInfo", model.mempool_info(), 10),
            raw("fees", model.recommended_fees(), 10),
            raw("conversions", {"time": 1_760_000_000, "USD": 90_000}, 11),
            raw("blocks", blocks(model)[-6:], 12),
        ]
        land(rt, contract.PREFIX_STREAM, ndjson(*lines))
        return
    model._reorg(int(model.now) + 60, depth=2)
    tip = model.chain[-1].to_api()
    late = projected(53, 3, {"delta": {"added": [tx(13)], "removed": [tx(3)[0]]}})
    land(
        rt,
        contract.PREFIX_STREAM,
        ndjson(late, raw("blocks", blocks(model)[-4:-1], 13), raw("block", tip, 14),
               projected(56, 15, {"blockTransactions": [tx(i) for i in range(20, 24)]})),
    )  # fmt: skip


def silver_state(rt: LocalSnowflake) -> dict[str, list[tuple[Any, ...]]]:
    tables = {
        "SILVER.EVENTS": "EVENT_KEY",
        "SILVER.BLOCKS": "BLOCK_HASH, HEIGHT, IS_CANONICAL, IS_STALE",
        "SILVER.BLOCK_GAPS": "HEIGHT, LAST_HEIGHT",
        "SILVER.PROJECTED_BLOCK_STATES": "ORIGIN_ID, FRAME_SEQ, IS_VALID, TX_COUNT, FLAGS",
        "SILVER.PROJECTED_BLOCK_TXS": "TXID, AS_OF_FRAME_SEQ",
        "SILVER.BLOCK_PROJECTIONS": "FRAME_SEQ, HEIGHT, ENDED_BY_HASH, TX_COUNT",
        "SILVER.MEMPOOL_INFO": "EVENT_KEY, TX_COUNT",
        "SILVER.RECOMMENDED_FEES": "EVENT_KEY",
        "SILVER.PRICES": "PRICE_TIME_S, USD",
        "OPS.QUARANTINE": "SOURCE_FILE, SOURCE_ROW, STAGE, REASON",
        "OPS.CONSUMER_BATCH": "CONSUMER",
        "OPS.LOAD_BATCH": "BATCH_ID",
    }
    return {t: sorted(q(rt, f"SELECT {cols} FROM {t}")) for t, cols in tables.items()}


PROCEDURES = ["LOAD_EVENTS", "BUILD_STATS", "BUILD_BLOCKS", "BUILD_PRICES", "BUILD_PROJECTED"]
# The graph's own procedure: its statements (serving the requests, purging) before it
# calls the stages, which the scenario then calls again directly.
REFRESH = "REFRESH_SILVER"


def run_scenario(rt: LocalSnowflake, killed: str | None = None, statements: int = 0) -> None:
    """The scenario, with the second landing's procedures called in the graph's order.
    `killed` dies after its first statement, is run again and dies after its second, and
    so on up to `statements`, then runs to the end (as its retries would)."""
    reorg_and_late_delta(rt, 0)
    cycle(rt)
    reorg_and_late_delta(rt, 1)
    rt.drain_notifications()
    for procedure in [REFRESH] * (killed == REFRESH) + PROCEDURES:
        if procedure == killed:
            for after in range(1, statements + 1):
                rt.kill_switch = lambda _, after=after: after
                try:
                    rt.call(f"SILVER.{procedure}")
                except TaskKilled:
                    pass
                finally:
                    rt.kill_switch = None
        rt.call(f"SILVER.{procedure}")
    cycle(rt)


def consistent(rt: LocalSnowflake) -> list[str]:
    """What a reader (a gold build) must never see, read from another connection."""
    problems = []
    doubled = q(
        rt,
        "SELECT HEIGHT FROM SILVER.BLOCKS WHERE IS_CANONICAL GROUP BY 1 HAVING COUNT(*) > 1",
    )
    if doubled:
        problems.append(f"two canonical blocks at {doubled}")
    gap_on_block = q(
        rt,
        "SELECT g.HEIGHT FROM SILVER.BLOCK_GAPS g JOIN SILVER.BLOCKS b ON b.IS_CANONICAL "
        "AND b.HEIGHT BETWEEN g.HEIGHT AND g.LAST_HEIGHT",
    )
    if gap_on_block:
        problems.append(f"a gap over a canonical block at {gap_on_block}")
    txs = q(
        rt,
        "SELECT t.ORIGIN_ID, t.AS_OF, t.N, s.LAST FROM "
        "(SELECT ORIGIN_ID, MAX(AS_OF_FRAME_SEQ) AS AS_OF, COUNT(*) AS N "
        " FROM SILVER.PROJECTED_BLOCK_TXS GROUP BY 1) t "
        "JOIN (SELECT ORIGIN_ID, MAX(FRAME_SEQ) AS LAST FROM SILVER.PROJECTED_BLOCK_STATES "
        " GROUP BY 1) s ON s.ORIGIN_ID = t.ORIGIN_ID",
    )
    for origin, as_of, count, last in txs:
        state = q(
            rt,
            f"SELECT TX_COUNT, IS_VALID FROM SILVER.PROJECTED_BLOCK_STATES "
            f"WHERE ORIGIN_ID = '{origin}' AND FRAME_SEQ = {int(last)}",
        )
        if as_of != last or state != [(count, True)]:
            problems.append(f"tx set of {origin} as of {as_of} beside state {last} {state}")
    return problems


def test_no_reader_sees_a_builder_half_done(rt: LocalSnowflake) -> None:
    """Flags of a reorg were changed in two UPDATEs and a projected rebuild deleted before
    it inserted: a gold build in between saw two canonical blocks at one height (fct_blocks'
    unique test failed and REFRESH_GOLD suspended) or a tx set with no state. The checks
    run from another connection after every statement of every builder."""
    seen: list[str] = []

    def check(statement: str, number: int) -> None:
        seen.extend(f"after statement {number}: {p}" for p in consistent(rt))

    rt.between_statements = check
    run_scenario(rt)
    rt.between_statements = None
    assert seen == []
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE IS_STALE") == [(2,)]


def statement_counts(rt: LocalSnowflake) -> dict[str, int]:
    """How many statements each procedure runs at most in the scenario."""
    counted: dict[str, int] = {}
    current = [""]
    call = rt.call

    def counting_call(procedure: str) -> str:
        current[0] = procedure.split(".")[-1]
        return call(procedure)

    def count(statement: str, number: int) -> None:
        counted[current[0]] = max(counted.get(current[0], 0), number)

    rt.call = counting_call  # type: ignore[method-assign]
    rt.between_statements = count
    try:
        run_scenario(rt)
    finally:
        rt.between_statements = None
        del rt.call
    return counted


@pytest.mark.slow
def test_runs_killed_after_any_statement_end_as_runs_never_killed(
    landing: Any, fakesnow_server: Any
) -> None:
    """The kill test stopped runs after their first four statements only. Here every
    procedure dies after each of its statements in turn, during a late delta's rebuild
    and a reorg, and its next run finishes the job: SILVER ends as if nothing was killed."""
    reference = new_runtime(landing, fakesnow_server)
    reference.deploy()
    counts = statement_counts(reference)
    expected = silver_state(reference)
    reference.close()
    assert set(counts) == {*PROCEDURES, REFRESH} and min(counts.values()) >= 3, counts
    for procedure in [*PROCEDURES, REFRESH]:
        rt = new_runtime(landing, fakesnow_server)
        rt.deploy()
        try:
            run_scenario(rt, procedure, counts[procedure])
            assert silver_state(rt) == expected, procedure
        finally:
            rt.close()


@pytest.mark.parametrize("first_ceiling", ["low", "high"])
def test_a_block_is_decided_once_whatever_the_clock_says_on_retry(
    rt: LocalSnowflake, monkeypatch: pytest.MonkeyPatch, first_ceiling: str
) -> None:
    """The highest plausible height moves with the clock and the tip. A run killed after
    deciding a block and retried with another ceiling took a block it had quarantined,
    or quarantined one it had taken: the block was counted twice."""
    from mempool_procs import build_blocks

    chain = blocks(Model(seed=73, start_time=1_760_000_000, history_blocks=4))
    tip = chain[-1]
    ceilings = {"low": tip["height"] - 1, "high": tip["height"] + 10}
    order = [first_ceiling, "high" if first_ceiling == "low" else "low"]
    monkeypatch.setattr(build_blocks, "highest_plausible", lambda _: ceilings[order[0]])
    land(
        rt,
        contract.PREFIX_BLOCKS,
        contract.encode_ndjson(
            contract.rest_records("block", chain, origin_id="p", received_at=T0)
        ),
    )
    rt.drain_notifications()
    rt.call("SILVER.LOAD_EVENTS")
    rt.kill_switch = lambda _: 4  # take (insert, count), quarantine, merge: then killed
    with pytest.raises(TaskKilled):
        rt.call("SILVER.BUILD_BLOCKS")
    rt.kill_switch = None
    order.pop(0)
    rt.call("SILVER.BUILD_BLOCKS")
    quarantined = q(rt, "SELECT COUNT(*) FROM OPS.QUARANTINE WHERE STAGE = 'blocks'")[0][0]
    stored = q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS")[0][0]
    assert quarantined + stored == len(chain)
    assert quarantined == (1 if first_ceiling == "low" else 0)
