"""A bad byte, a bad line or a hostile value never drops a file, stalls the pipeline or
reaches SQL as text: every line is clean, a duplicate or quarantined, and a count says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from ingest import contract
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import new_runtime
from tests.warehouse_helpers import cycle, land, q, rec

pytestmark = pytest.mark.stack

REPO = Path(__file__).resolve().parent.parent


def balanced(rt: LocalSnowflake) -> tuple[Any, ...]:
    return q(
        rt,
        "SELECT SUM(RAW_ROWS), SUM(CLEAN_ROWS) + SUM(DUPLICATE_ROWS) + SUM(QUARANTINED_ROWS), "
        "BOOLAND_AGG(IS_BALANCED) FROM OPS.RECONCILIATION",
    )[0]


def test_invalid_utf8_keeps_the_file_and_quarantines_the_line(rt: LocalSnowflake) -> None:
    """Snowpipe's default ON_ERROR (SKIP_FILE) would drop the whole file for one bad
    byte; the pipes continue, the format replaces it, and LOAD_EVENTS quarantines it."""
    good = [rec("fees", {"fastestFee": float(i)}, i) for i in range(3)]
    broken = rec("mempoolInfo", {"size": 1, "note": "caf"}, 3).to_line()
    broken = broken.replace(b'"caf"', b'"caf\xe9 \xff"')
    land(
        rt,
        contract.PREFIX_STREAM,
        good[0].to_line() + broken + good[1].to_line() + good[2].to_line(),
    )
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM SILVER.RECOMMENDED_FEES") == [(3,)]
    assert q(rt, "SELECT SOURCE_ROW, REASON FROM OPS.QUARANTINE") == [
        (2, "invalid UTF-8 (replaced with U+FFFD at load)")
    ]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.MEMPOOL_INFO") == [(0,)]
    assert balanced(rt) == (4, 4, True)


def test_a_line_that_is_not_json_is_kept_as_text_in_quarantine(rt: LocalSnowflake) -> None:
    land(rt, contract.PREFIX_STREAM, b"<html>429 Too Many Requests</html>\n")
    cycle(rt)
    assert q(rt, "SELECT REASON, LINE FROM OPS.QUARANTINE") == [
        ("unparsable JSON", "<html>429 Too Many Requests</html>")
    ]
    assert balanced(rt) == (1, 1, True)


@pytest.mark.parametrize(
    ("frame_seq", "accepted"),
    [(7, True), ("7", False), (-1, False), (1.5, False), (None, False), (True, False)],
)
def test_frame_seq_must_be_an_integer_of_zero_or_more(
    rt: LocalSnowflake, frame_seq: Any, accepted: bool
) -> None:
    record = {**rec("fees", {"fastestFee": 1.0}, 0).to_dict(), "frame_seq": frame_seq}
    land(rt, contract.PREFIX_STREAM, (json.dumps(record) + "\n").encode())
    cycle(rt)
    reasons = [r[0] for r in q(rt, "SELECT REASON FROM OPS.QUARANTINE")]
    assert reasons == ([] if accepted else ["invalid frame_seq (an integer >= 0)"])


def test_an_integer_frame_seq_is_not_a_duplicate_of_a_string_one(rt: LocalSnowflake) -> None:
    as_string = {**rec("fees", {"fastestFee": 1.0}, 0).to_dict(), "frame_seq": "7"}
    as_int = rec("fees", {"fastestFee": 2.0}, 7)
    land(rt, contract.PREFIX_STREAM, (json.dumps(as_string) + "\n").encode() + as_int.to_line())
    cycle(rt)
    assert q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES") == [(2.0,)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.QUARANTINE") == [(1,)]


INJECTIONS = ["x\\' OR 1=1 --", "x' OR '1'='1", "x\\\\'; DELETE FROM SILVER.EVENTS; --"]


def test_injection_strings_in_ids_are_quarantined_and_change_nothing(
    rt: LocalSnowflake,
) -> None:
    """One origin id `x\\' OR 1=1 --` once emptied PROJECTED_BLOCK_STATES: `lit()`
    doubled quotes but not backslashes. Ids are now checked at load and never inlined."""
    txs = [[f"{i:064x}", 1000 + i, 200.0, 5000, 5.0] for i in range(3)]
    full = {"sequence": 1, "blockTransactions": txs}
    land(rt, contract.PREFIX_STREAM, rec("projected-block-transactions", full, 0, "c1").to_line())
    cycle(rt)
    before = q(rt, "SELECT COUNT(*) FROM SILVER.PROJECTED_BLOCK_STATES")
    assert before == [(1,)]
    hostile = [
        rec("projected-block-transactions", {"sequence": 2, "delta": {"added": []}}, 1, origin)
        for origin in INJECTIONS
    ]
    hostile_topic = {**rec("fees", {}, 9).to_dict(), "topic": "fees' OR 1=1 --"}
    body = contract.encode_ndjson(hostile) + (json.dumps(hostile_topic) + "\n").encode()
    land(rt, contract.PREFIX_STREAM, body)
    cycle(rt)
    reasons = sorted(r[0] for r in q(rt, "SELECT REASON FROM OPS.QUARANTINE"))
    assert reasons == ["invalid origin_id"] * len(INJECTIONS) + ["invalid topic"]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.PROJECTED_BLOCK_STATES") == before
    # Later good data still flows.
    land(
        rt,
        contract.PREFIX_STREAM,
        rec(
            "projected-block-transactions",
            {"sequence": 2, "delta": {"removed": [txs[0][0]]}},
            1,
            "c1",
        ).to_line(),
    )
    cycle(rt)
    assert q(rt, "SELECT MAX(TX_COUNT) FROM SILVER.PROJECTED_BLOCK_STATES WHERE FRAME_SEQ = 1") == [
        (2,)
    ]
    assert balanced(rt)[2] is True


def test_injection_strings_inside_payloads_are_data_not_sql(rt: LocalSnowflake) -> None:
    """Strings inside payloads travel as bind parameters or JSON: they land verbatim."""
    txs = [[f"{i:064x}", 1000, 200.0, 5000, 5.0] for i in range(2)]
    txs.append([INJECTIONS[0], 1000, 200.0, 5000, 5.0])
    land(
        rt,
        contract.PREFIX_STREAM,
        rec(
            "projected-block-transactions", {"sequence": 1, "blockTransactions": txs}, 0, "c1"
        ).to_line(),
    )
    cycle(rt)
    # Not a txid mempool.space could send: the update is quarantined, the string in it
    # kept verbatim as data, and the state is unknown until the next full set.
    [(record, reason)] = q(
        rt, "SELECT RECORD, REASON FROM OPS.QUARANTINE WHERE STAGE = 'projected'"
    )
    assert INJECTIONS[0] in json.loads(record)["blockTransactions"][2]
    assert reason == "a transaction without a valid txid"
    assert q(rt, "SELECT IS_VALID FROM SILVER.PROJECTED_BLOCK_STATES") == [(False,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.PROJECTED_BLOCK_TXS") == [(0,)]


class RecordingSession:
    """A Snowpark session that remembers the size of every statement it was given."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.sizes: list[int] = []

    def sql(self, text: str, params: Any = None) -> Any:
        self.sizes.append(len(text))
        return self.session.sql(text, params=params) if params else self.session.sql(text)


def test_build_blocks_statements_do_not_grow_with_the_chain(rt: LocalSnowflake) -> None:
    """Every canonical hash used to be inlined four times into one UPDATE (about 270
    bytes a block, past Snowflake's recommended 1 MB after ~4k blocks)."""
    from mempool_procs import build_blocks

    from sandbox.simulator.model import Model

    def load(model: Model, count: int) -> int:
        blocks = [b.to_api() for b in model.chain[-count:]]
        land(
            rt,
            contract.PREFIX_BLOCKS,
            contract.encode_ndjson(
                contract.rest_records(
                    "block", blocks, origin_id="poll-x", received_at="2026-01-13T10:00:00.000Z"
                )
            ),
        )
        rt.drain_notifications()
        rt.call("SILVER.LOAD_EVENTS")
        recorder = RecordingSession(rt.session)
        build_blocks.run(recorder)
        return max(recorder.sizes)

    small = load(Model(seed=5, start_time=1_760_000_000, history_blocks=20), 20)
    large = load(Model(seed=6, start_time=1_700_000_000, history_blocks=400), 400)
    assert large == small
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS WHERE IS_CANONICAL") == [(400,)]


def test_the_pipe_emulation_follows_the_pipes_own_options(
    landing: Any, fakesnow_server: LocalWarehouse, tmp_path: Path
) -> None:
    """Without REPLACE_INVALID_CHARACTERS and ON_ERROR (Snowflake's defaults), one bad byte
    skips the whole file, locally as in Snowflake: the emulation reads the definitions."""

    sql_dir = tmp_path / "sql"
    shutil.copytree(REPO / "snowflake" / "sql", sql_dir)
    landing_sql = sql_dir / "15_landing.sql"
    landing_sql.write_text(
        landing_sql.read_text()
        .replace("\n  REPLACE_INVALID_CHARACTERS = TRUE;", ";")
        .replace("SET REPLACE_INVALID_CHARACTERS = TRUE", "SET REPLACE_INVALID_CHARACTERS = FALSE")
    )
    raw_sql = sql_dir / "20_raw.sql"
    raw_sql.write_text(raw_sql.read_text().replace("\n  ON_ERROR = CONTINUE", ""))
    runtime = new_runtime(landing, fakesnow_server)
    try:
        runtime.deploy(sql_dir)
        assert {p.on_error for p in runtime.plan.pipes} == {"SKIP_FILE"}
        land(runtime, contract.PREFIX_STREAM, rec("fees", {}, 0).to_line() + b'{"x": "\xff"}\n')
        runtime.drain_notifications()
        assert q(runtime, "SELECT COUNT(*) FROM RAW.STREAM_EVENTS") == [(0,)]
        assert runtime.counters["files_rejected"] == 1
        errors = q(runtime, "SELECT SOURCE_ROW, ERROR FROM _LOCAL.LOAD_ERRORS")
        assert [r[0] for r in errors] == [2] and "Invalid UTF8" in errors[0][1]
    finally:
        runtime.close()


def test_type_drift_is_quarantined_per_builder_and_later_data_flows(rt: LocalSnowflake) -> None:
    """`"size": "abc"` once failed BUILD_STATS on every run (a cast error) and froze
    everything downstream while OPS said all was well."""
    from sandbox.simulator.model import Model

    model = Model(seed=8, start_time=1_760_000_000, history_blocks=3)
    good_block, bad_block = model.chain[-1].to_api(), {**model.chain[-2].to_api()}
    bad_block["timestamp"] = "abc"
    hostile = [
        rec("mempoolInfo", {"size": "abc", "bytes": 10}, 0),
        rec("mempool-blocks", [{"blockSize": 1, "nTx": "many", "medianFee": 2.0}], 1),
        rec("vBytesPerSecond", "fast", 2),
        rec("conversions", {"time": 1_760_000_000, "USD": "abc"}, 3),
        rec("block", bad_block, 4),
    ]
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(hostile))
    cycle(rt)
    reasons = sorted((r[0], r[1]) for r in q(rt, "SELECT STAGE, REASON FROM OPS.QUARANTINE"))
    assert reasons == [
        ("blocks", "type drift: timestamp is not a number"),
        ("prices", "type drift: USD is not a number"),
        ("stats", "type drift: nTx is not a number"),
        ("stats", "type drift: payload is not a number"),
        ("stats", "type drift: size is not a number"),
    ]
    later = [
        rec("mempoolInfo", {"size": 5, "bytes": 10, "total_fee": 0.1}, 5),
        rec("conversions", {"time": 1_760_000_060, "USD": 97000}, 6),
        rec("block", good_block, 7),
    ]
    land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(later))
    cycle(rt)
    assert q(rt, "SELECT TX_COUNT FROM SILVER.MEMPOOL_INFO") == [(5,)]
    assert q(rt, "SELECT USD FROM SILVER.PRICES") == [(97000.0,)]
    assert q(rt, "SELECT BLOCK_HASH FROM SILVER.BLOCKS") == [(good_block["id"],)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH") == [(0,)]
    assert len(q(rt, "SELECT * FROM OPS.QUARANTINE")) == 5


def test_an_oversize_record_is_loaded_from_its_object_not_its_pointer(
    rt: LocalSnowflake, tmp_path: Path
) -> None:
    """A projected full set of ~12k transactions is above Firehose's record limit: the
    streamer stores it whole under oversize/ and sends a pointer. Nothing read it back,
    so its epoch stayed invalid."""
    from ingest.firehose_sink import FirehoseSink
    from ingest.spool import Spool
    from tests.fakes import StubFirehose

    # Small transactions (a block holds at most 1,000,000 vB: 12,000 of 80 vB fit).
    txs = [[f"{i:064x}", 1000 + i, 80.0, 5000, 12.5] for i in range(12000)]
    full = rec("projected-block-transactions", {"sequence": 1, "blockTransactions": txs}, 0, "c9")
    assert len(full.to_line()) > contract.MAX_RECORD_BYTES
    stub = StubFirehose()
    sink = FirehoseSink(stub, rt.s3, rt.bucket, {"stream": "s"}, Spool(tmp_path / "spool"))
    sink.add("stream", full)
    sink.flush()
    pointer = stub.delivered["s"][0]
    assert b'"oversize"' in pointer and len(pointer) < 1000
    land(rt, contract.PREFIX_STREAM, pointer)
    cycle(rt)
    assert q(rt, "SELECT TX_COUNT, IS_VALID FROM SILVER.PROJECTED_BLOCK_STATES") == [(12000, True)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.PROJECTED_BLOCK_TXS") == [(12000,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.EVENTS") == [(1,)]
    assert q(
        rt,
        "SELECT TOPIC, RAW_ROWS, CLEAN_ROWS, DUPLICATE_ROWS, IS_BALANCED FROM OPS.RECONCILIATION",
    ) == [("projected-block-transactions", 2, 1, 1, True)]


def test_a_task_graph_killed_half_way_and_rerun_loses_and_doubles_nothing(
    rt: LocalSnowflake,
) -> None:
    """Each procedure killed after each of its first statements (what committed stays,
    as on Snowflake: a stream moves when the DML reading it commits). The next run, which
    the next landed file triggers, finishes the killed run's work: every record ends in
    SILVER once and the ledger balances."""
    from sandbox.simulator.model import Model
    from sandbox.snowflake_local.streams import TaskKilled

    model = Model(seed=9, start_time=1_760_000_000, history_blocks=16)
    blocks = [b.to_api() for b in model.chain]
    procedures = ["LOAD_EVENTS", "BUILD_STATS", "BUILD_BLOCKS", "BUILD_PRICES", "BUILD_PROJECTED"]
    keys = 0
    kills = 0
    for round_no, (procedure, kill_after) in enumerate(
        (p, k) for p in procedures for k in (1, 2, 3)
    ):
        records = [
            rec("fees", {"fastestFee": float(round_no)}, 3 * round_no, "kill-test"),
            rec("block", blocks[round_no], 3 * round_no + 1, "kill-test"),
            rec("conversions", {"time": 1_760_000_000 + round_no, "USD": 90000}, 3 * round_no + 2),
        ]
        land(rt, contract.PREFIX_STREAM, contract.encode_ndjson(records))
        keys += len(records)
        rt.drain_notifications()
        rt.kill_switch = lambda name, p=procedure, k=kill_after: (
            k if name.endswith(f".{p}") else None
        )
        rt.request_silver("TEST")
        try:
            rt.run_graph()
        except TaskKilled:
            kills += 1
        rt.kill_switch = None
    tick = rec("fees", {"fastestFee": 1.0}, 10_000, "kill-test")
    land(rt, contract.PREFIX_STREAM, tick.to_line())
    keys += 1
    cycle(rt)
    assert kills == 15
    assert q(rt, "SELECT COUNT(*), COUNT(DISTINCT EVENT_KEY) FROM SILVER.EVENTS") == [(keys, keys)]
    assert balanced(rt)[2] is True
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH") == [(0,)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.LOAD_BATCH") == [(0,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS") == [(15,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.PRICES") == [(15,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.RECOMMENDED_FEES") == [(16,)]


def test_a_failing_stage_fails_the_run_and_every_other_stage_still_runs(
    rt: LocalSnowflake,
) -> None:
    """REFRESH_SILVER runs the load and the four builders in one task run. A builder that
    fails (a bug, a privilege gone: an error, not a kill) must not starve the others: the
    same run still loads, and still builds blocks and prices; and the run fails, naming
    the stage and its error, so the task history and TASKS_ALERT see it. Once the stage
    works again, the events it had taken reach SILVER, once."""
    from sandbox.simulator.model import Model

    block = Model(seed=3, start_time=1_760_000_000, history_blocks=2).chain[0].to_api()
    land(
        rt,
        contract.PREFIX_STREAM,
        contract.encode_ndjson(
            [
                rec("fees", {"fastestFee": 7.0}, 0, "stage-test"),
                rec("block", block, 1, "stage-test"),
                rec("conversions", {"time": 1_760_000_000, "USD": 91000}, 2, "stage-test"),
            ]
        ),
    )
    rt.fail_switch = lambda procedure: 1 if procedure == "SILVER.BUILD_STATS" else None
    try:
        with pytest.raises(Exception, match=r"SILVER\.BUILD_STATS: ProcedureFailed") as failed:
            cycle(rt)
    finally:
        rt.fail_switch = None
    assert "1 of 5 stages failed" in str(failed.value)
    ((state, error),) = q(
        rt,
        "SELECT STATE, ERROR_MESSAGE FROM OPS.TASK_RUNS WHERE TASK_NAME = 'REFRESH_SILVER' "
        "ORDER BY STARTED_AT DESC LIMIT 1",
    )
    assert state == "FAILED" and "SILVER.BUILD_STATS" in error
    assert q(rt, "SELECT COUNT(*) FROM SILVER.EVENTS") == [(3,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.BLOCKS") == [(1,)]
    assert q(rt, "SELECT USD FROM SILVER.PRICES") == [(91000.0,)]
    assert q(rt, "SELECT COUNT(*) FROM SILVER.RECOMMENDED_FEES") == [(0,)]
    assert q(rt, "SELECT CONSUMER FROM OPS.CONSUMER_BATCH") == [("stats",)]

    land(rt, contract.PREFIX_STREAM, rec("fees", {"fastestFee": 8.0}, 3, "stage-test").to_line())
    cycle(rt)
    fees = q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES ORDER BY 1")
    assert fees == [(7.0,), (8.0,)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH") == [(0,)]


def test_two_overlapping_runs_of_a_builder_lose_nothing(rt: LocalSnowflake) -> None:
    """A builder called by hand while the task runs it (or an older release's run still
    finishing during an upgrade): run B takes new events from the stream after run A
    merged a table and before A released its batch. A must release only what it held,
    so B's events stay held until a run finishes them, and every mempoolInfo sample
    reaches SILVER.MEMPOOL_INFO once."""
    from sandbox.snowflake_local.streams import TaskKilled

    def sample(seq: int) -> bytes:
        return rec("mempoolInfo", {"size": seq + 1, "bytes": 1000, "usage": 2000}, seq).to_line()

    land(rt, contract.PREFIX_STREAM, sample(0))
    rt.drain_notifications()
    rt.call("SILVER.LOAD_EVENTS")
    interleaved: list[int] = []

    def between(text: str, _number: int) -> None:
        if interleaved or not text.lstrip().upper().startswith("MERGE"):
            return
        if "SILVER.MEMPOOL_INFO" not in text:
            return
        # Run B, in the middle of run A: a new sample loaded, then B takes it from the
        # stream and ends there (killed after its take).
        interleaved.append(1)
        rt.between_statements = None
        land(rt, contract.PREFIX_STREAM, sample(1))
        rt.drain_notifications()
        rt.call("SILVER.LOAD_EVENTS")
        rt.kill_switch = lambda procedure: 1 if procedure == "SILVER.BUILD_STATS" else None
        try:
            rt.call("SILVER.BUILD_STATS")
        except TaskKilled:
            pass
        finally:
            rt.kill_switch = None

    rt.between_statements = between
    try:
        rt.call("SILVER.BUILD_STATS")  # run A
    finally:
        rt.between_statements = None
    assert interleaved
    # B's batch outlived A's release; the next run finishes it.
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH WHERE CONSUMER = 'stats'") == [(1,)]
    rt.call("SILVER.BUILD_STATS")
    assert q(rt, "SELECT TX_COUNT FROM SILVER.MEMPOOL_INFO ORDER BY 1") == [(1,), (2,)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH") == [(0,)]
