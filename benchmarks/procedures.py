"""Whether the procedures' cost follows new data or history (a benchmark, not a test).

For each history size, a fresh local database gets the production SQL, then SILVER.EVENTS
and SILVER.BLOCKS are filled with that many rows of history (received over the 30 days
before now, the blocks one chain). Then, a few rounds over: 1,000 new records land in S3
(stats frames' records and a new block each round), the pipe emulation loads them, and
LOAD_EVENTS and BUILD_BLOCKS are each timed on them, as the task graph calls them.
The figure is the median time per procedure, and its ratio between the largest history
and the smallest (target <= 1.5); beside it, the chain re-derived whole, as BUILD_BLOCKS
did before its window.

    python -m benchmarks.procedures --sizes 10000 1000000
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.stack import Emulators, emulators, report
from ingest import contract
from sandbox.snowflake_local.runtime import LocalSnowflake

NEW_RECORDS = 1_000
ROUNDS = 3


def fill_history(rt: LocalSnowflake, rows: int, now: datetime) -> None:
    """`rows` events over the 30 days before `now`, in received_at order (as they are
    appended) and in a batch older than any LOAD_EVENTS makes, and a chain of `rows`
    blocks ending just below the new ones."""
    span_s = 30 * 86400
    start = (now - timedelta(seconds=span_s)).strftime("%Y-%m-%d %H:%M:%S")
    rt.execute(
        f"""INSERT INTO SILVER.EVENTS (EVENT_KEY, ORIGIN_ID, FRAME_SEQ, TOPIC, SOURCE,
                RECEIVED_AT, PAYLOAD, SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, BATCH_ID,
                LOADED_AT)
            SELECT 'history:' || SEQ4() || ':fees', 'history', SEQ4(), 'fees', 'ws',
                   DATEADD(MILLISECOND, SEQ4() * {span_s * 1000 // rows}, '{start}'::TIMESTAMP_NTZ),
                   PARSE_JSON('{{"fastestFee": 5}}'), 'RAW.STREAM_EVENTS', 'history.ndjson',
                   SEQ4(), '00000000T000000-history', SYSDATE()
            FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"""
    )
    rt.execute(
        f"""INSERT INTO SILVER.BLOCKS (BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH, MINED_AT_S,
                FIRST_SEEN_AT, IS_CANONICAL, IS_STALE, UPDATED_AT)
            SELECT LPAD(TO_VARCHAR(SEQ4()), 64, '0'), SEQ4(),
                   CASE WHEN SEQ4() > 0 THEN LPAD(TO_VARCHAR(SEQ4() - 1), 64, '0') END,
                   SEQ4() * 600, '{start}'::TIMESTAMP_NTZ, TRUE, FALSE, SYSDATE()
            FROM TABLE(GENERATOR(ROWCOUNT => {rows}))"""
    )


def new_records(round_no: int, height: int, now: datetime) -> list[contract.Record]:
    """NEW_RECORDS records received just now: one block (extending the chain) and fees."""
    received = contract.format_time(now + timedelta(seconds=round_no))
    block = {
        "id": f"{height:064d}",
        "height": height,
        "previousblockhash": f"{height - 1:064d}",
        "timestamp": height * 600,
        "tx_count": 1,
        "extras": {"totalFees": 0, "feeRange": [1, 1, 1, 1, 1, 1, 1]},
    }
    records = [
        contract.Record(
            source="rest",
            topic="block",
            origin_id=f"bench-poll-{round_no}",
            frame_seq=0,
            received_at=received,
            payload=block,
        )
    ]
    records += [
        contract.Record(
            source="ws",
            topic="fees",
            origin_id=f"bench-{round_no}",
            frame_seq=i,
            received_at=received,
            payload={"fastestFee": 5 + i % 7},
        )
        for i in range(NEW_RECORDS - 1)
    ]
    return records


def timed(rt: LocalSnowflake, procedure: str) -> float:
    started = time.perf_counter()
    result = rt.call(procedure)
    elapsed = time.perf_counter() - started
    print(f"    {elapsed:6.3f} s  {result}", flush=True)
    return elapsed


def measure(rows: int, stack: Emulators) -> dict[str, Any]:
    rt = stack.runtime(f"bench_procs_{rows}")
    now = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    fill_history(rt, rows, now)
    print(f"  {rows:>9,} rows of history in {time.perf_counter() - started:.1f} s", flush=True)
    load, blocks = [], []
    for round_no in range(ROUNDS):
        body = contract.encode_ndjson(new_records(round_no, rows + round_no, now))
        key = f"{contract.PREFIX_STREAM}bench/{round_no}.ndjson"
        rt.s3.put_object(Bucket=rt.bucket, Key=key, Body=body)
        rt.drain_notifications()
        load.append(timed(rt, "SILVER.LOAD_EVENTS"))
        blocks.append(timed(rt, "SILVER.BUILD_BLOCKS"))
        # The other builders take their share of the stream too, as the graph runs them.
        for other in ("SILVER.BUILD_STATS", "SILVER.BUILD_PRICES", "SILVER.BUILD_PROJECTED"):
            rt.call(other)
    # Side by side: the whole chain re-derived, as BUILD_BLOCKS did before its window.
    from mempool_procs.build_blocks import resolve_chain

    started = time.perf_counter()
    resolve_chain(rt.session, 0, 10**9)
    full_chain = time.perf_counter() - started
    print(f"    {full_chain:6.3f} s  the whole chain re-derived (no window)", flush=True)
    events = rt.execute("SELECT COUNT(*) FROM SILVER.EVENTS")[0][0]
    rt.close()
    return {
        "history_rows": rows,
        "events_after": int(events),
        "load_events_s": [round(x, 3) for x in load],
        "build_blocks_s": [round(x, 3) for x in blocks],
        "load_events_median_s": round(statistics.median(load), 3),
        "build_blocks_median_s": round(statistics.median(blocks), 3),
        "whole_chain_s": round(full_chain, 3),
    }


def run(sizes: list[int]) -> dict[str, Any]:
    with emulators() as stack:
        results = [measure(rows, stack) for rows in sizes]
    return {"new_records": NEW_RECORDS, "rounds": ROUNDS, "results": results}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.sizes), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
