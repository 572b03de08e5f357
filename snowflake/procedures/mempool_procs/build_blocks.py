"""BUILD_BLOCKS: one row per block hash from every source (WebSocket `block`/`blocks`,
poller, backfill); the canonical chain re-derived; stale blocks flagged, never deleted;
heights with no canonical block recorded as gaps."""

from __future__ import annotations

from typing import Any

from mempool_procs.chain import BlockLink, canonical_hashes, missing_heights
from mempool_procs.common import (
    lit,
    pending_events,
    release,
    sql,
    take_from_stream,
)

CONSUMER = "blocks"
STREAM = "SILVER.EVENTS_BLOCKS_STRM"
TOPICS = ["block", "blocks"]


def block_rows(source: str) -> str:
    """Every block object in the pending events, whichever topic carried it."""
    return f"""
        SELECT e.PAYLOAD AS B, e.RECEIVED_AT, e.EVENT_KEY, e.SOURCE_FILE, e.SOURCE_ROW
        FROM {source} e WHERE e.TOPIC = 'block'
        UNION ALL
        SELECT p.value AS B, e.RECEIVED_AT, e.EVENT_KEY, e.SOURCE_FILE, e.SOURCE_ROW
        FROM {source} e, LATERAL FLATTEN(input => e.PAYLOAD) p WHERE e.TOPIC = 'blocks'"""


def run(session: Any) -> str:
    pending = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if pending == 0:
        return "BUILD_BLOCKS: nothing new"
    rows = block_rows(pending_events(CONSUMER))
    sql(
        session,
        f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT * FROM ({rows}) r
               WHERE r.B:id::VARCHAR IS NULL OR TRY_TO_NUMBER(r.B:height::VARCHAR) IS NULL) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'blocks'
        WHEN NOT MATCHED THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, 'block', 'blocks',
                'block without id or height', s.B, s.EVENT_KEY, CURRENT_TIMESTAMP())""",
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.BLOCKS t
        USING (
          SELECT r.B:id::VARCHAR AS BLOCK_HASH, r.B:height::NUMBER AS HEIGHT,
                 r.B:previousblockhash::VARCHAR AS PREVIOUS_BLOCK_HASH,
                 r.B:timestamp::NUMBER AS MINED_AT_S, r.B:tx_count::NUMBER AS TX_COUNT,
                 r.B:size::NUMBER AS SIZE_BYTES, r.B:weight::NUMBER AS WEIGHT_WU,
                 r.B:extras.virtualSize::FLOAT AS VSIZE,
                 r.B:extras.totalFees::NUMBER AS TOTAL_FEES_SAT,
                 r.B:extras.medianFee::FLOAT AS MEDIAN_FEE_RATE,
                 r.B:extras.feeRange AS FEE_RANGE, r.B:extras.reward::NUMBER AS REWARD_SAT,
                 r.B:extras.pool.name::VARCHAR AS POOL_NAME,
                 r.B:extras.pool.slug::VARCHAR AS POOL_SLUG,
                 r.RECEIVED_AT AS FIRST_SEEN_AT, r.B AS PAYLOAD
          FROM ({rows}) r
          WHERE r.B:id::VARCHAR IS NOT NULL AND TRY_TO_NUMBER(r.B:height::VARCHAR) IS NOT NULL
          QUALIFY ROW_NUMBER() OVER (PARTITION BY r.B:id::VARCHAR
                                     ORDER BY r.RECEIVED_AT, r.EVENT_KEY) = 1
        ) s
        ON t.BLOCK_HASH = s.BLOCK_HASH
        WHEN MATCHED AND s.FIRST_SEEN_AT < t.FIRST_SEEN_AT THEN
          UPDATE SET FIRST_SEEN_AT = s.FIRST_SEEN_AT
        WHEN NOT MATCHED THEN INSERT
          (BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH, MINED_AT_S, TX_COUNT, SIZE_BYTES, WEIGHT_WU,
           VSIZE, TOTAL_FEES_SAT, MEDIAN_FEE_RATE, FEE_RANGE, REWARD_SAT, POOL_NAME, POOL_SLUG,
           FIRST_SEEN_AT, IS_CANONICAL, IS_STALE, PAYLOAD, UPDATED_AT)
        VALUES (s.BLOCK_HASH, s.HEIGHT, s.PREVIOUS_BLOCK_HASH, s.MINED_AT_S, s.TX_COUNT,
                s.SIZE_BYTES, s.WEIGHT_WU, s.VSIZE, s.TOTAL_FEES_SAT, s.MEDIAN_FEE_RATE,
                s.FEE_RANGE, s.REWARD_SAT, s.POOL_NAME, s.POOL_SLUG, s.FIRST_SEEN_AT, FALSE,
                FALSE, s.PAYLOAD, CURRENT_TIMESTAMP())""",
    )
    canonical, stale = resolve_chain(session)
    release(session, CONSUMER)
    return f"BUILD_BLOCKS: {pending} events; {canonical} canonical, {stale} stale"


def resolve_chain(session: Any) -> tuple[int, int]:
    links = [
        BlockLink(str(r[0]), int(r[1]), r[2], str(r[3]))
        for r in sql(
            session,
            """SELECT BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH,
                                        TO_VARCHAR(FIRST_SEEN_AT) FROM SILVER.BLOCKS""",
        )
    ]
    canonical = canonical_hashes(links)
    if links:
        in_list = ", ".join(lit(h) for h in sorted(canonical))
        sql(
            session,
            f"""UPDATE SILVER.BLOCKS
                SET IS_CANONICAL = BLOCK_HASH IN ({in_list}),
                    IS_STALE = NOT (BLOCK_HASH IN ({in_list})),
                    UPDATED_AT = CURRENT_TIMESTAMP()
                WHERE IS_CANONICAL <> (BLOCK_HASH IN ({in_list}))
                   OR IS_STALE = (BLOCK_HASH IN ({in_list}))""",
        )
    gaps = missing_heights(b.height for b in links if b.block_hash in canonical)
    sql(session, "DELETE FROM SILVER.BLOCK_GAPS")
    if gaps:
        values = ", ".join(f"({h}, CURRENT_TIMESTAMP())" for h in gaps)
        sql(session, f"INSERT INTO SILVER.BLOCK_GAPS (HEIGHT, DETECTED_AT) VALUES {values}")
    return len(canonical), len(links) - len(canonical)
