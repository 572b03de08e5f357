"""BUILD_BLOCKS: one row per block hash from every source (WebSocket `block`/`blocks`,
poller, backfill); the canonical chain re-derived; stale blocks flagged, never deleted;
heights with no canonical block recorded as gaps. Also what each block mined
(`block-txids`, from the poller), one row per hash."""

from __future__ import annotations

from typing import Any

from mempool_procs.chain import BlockLink, canonical_hashes, missing_heights
from mempool_procs.common import (
    json_param,
    pending_events,
    release,
    sql,
    take_from_stream,
)

CONSUMER = "blocks"
# How far below the lowest new block the chain is re-derived: deeper than any reorg in
# Bitcoin's history (53 blocks, in 2010); coinbase outputs mature after 100 blocks for
# the same reason.
REORG_WINDOW = 100
STREAM = "SILVER.EVENTS_BLOCKS_STRM"
TOPICS = ["block", "blocks", "block-txids"]

TXIDS_REASON = """CASE
  WHEN NOT REGEXP_LIKE(COALESCE(TO_JSON(e.PAYLOAD:id), ''), '^"[0-9a-f]{64}"$')
    THEN 'invalid block hash'
  WHEN NOT IS_ARRAY(e.PAYLOAD:txids) THEN 'type drift: txids is not an array'
END"""

# A block is usable when its hash is a block hash and its height a number; anything else
# goes to quarantine with the first rule it breaks.
BLOCK_REASON = """CASE
  WHEN r.B:id IS NULL THEN 'block without id'
  WHEN NOT REGEXP_LIKE(TO_JSON(r.B:id), '^"[0-9a-f]{64}"$') THEN 'invalid block hash'
  WHEN TRY_TO_NUMBER(TO_JSON(r.B:height)) IS NULL THEN 'block without a numeric height'
  WHEN r.B:timestamp IS NOT NULL AND TRY_TO_NUMBER(TO_JSON(r.B:timestamp)) IS NULL
    THEN 'type drift: timestamp is not a number'
  WHEN r.B:previousblockhash IS NOT NULL AND TO_JSON(r.B:previousblockhash) <> 'null'
       AND NOT REGEXP_LIKE(TO_JSON(r.B:previousblockhash), '^"[0-9a-f]{64}"$')
    THEN 'invalid previous block hash'
END"""


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
        USING (SELECT r.*, {BLOCK_REASON} AS REASON FROM ({rows}) r) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'blocks'
           AND q.RECORD = s.B
        WHEN NOT MATCHED AND s.REASON IS NOT NULL THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, 'block', 'blocks',
                s.REASON, s.B, s.EVENT_KEY, SYSDATE())""",
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.BLOCKS t
        USING (
          SELECT r.B:id::VARCHAR AS BLOCK_HASH, TRY_TO_NUMBER(TO_JSON(r.B:height)) AS HEIGHT,
                 r.B:previousblockhash::VARCHAR AS PREVIOUS_BLOCK_HASH,
                 TRY_TO_NUMBER(TO_JSON(r.B:timestamp)) AS MINED_AT_S,
                 TRY_TO_NUMBER(TO_JSON(r.B:tx_count)) AS TX_COUNT,
                 TRY_TO_NUMBER(TO_JSON(r.B:size)) AS SIZE_BYTES,
                 TRY_TO_NUMBER(TO_JSON(r.B:weight)) AS WEIGHT_WU,
                 TRY_TO_DOUBLE(TO_JSON(r.B:extras.virtualSize)) AS VSIZE,
                 TRY_TO_NUMBER(TO_JSON(r.B:extras.totalFees)) AS TOTAL_FEES_SAT,
                 TRY_TO_DOUBLE(TO_JSON(r.B:extras.medianFee)) AS MEDIAN_FEE_RATE,
                 r.B:extras.feeRange AS FEE_RANGE,
                 TRY_TO_NUMBER(TO_JSON(r.B:extras.reward)) AS REWARD_SAT,
                 r.B:extras.pool.name::VARCHAR AS POOL_NAME,
                 r.B:extras.pool.slug::VARCHAR AS POOL_SLUG,
                 r.RECEIVED_AT AS FIRST_SEEN_AT, r.B AS PAYLOAD
          FROM ({rows}) r
          WHERE {BLOCK_REASON} IS NULL
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
                FALSE, s.PAYLOAD, SYSDATE())""",
    )
    lowest = sql(
        session,
        f"""SELECT MIN(TRY_TO_NUMBER(TO_JSON(r.B:height))) FROM ({rows}) r
            WHERE {BLOCK_REASON} IS NULL""",
    )[0][0]
    load_txids(session)
    summary = "no new block"
    if lowest is not None:
        canonical, stale = resolve_chain(session, int(lowest) - REORG_WINDOW)
        summary = f"from height {int(lowest) - REORG_WINDOW}: {canonical} canonical, {stale} stale"
    release(session, CONSUMER)
    return f"BUILD_BLOCKS: {pending} events; {summary}"


def load_txids(session: Any) -> None:
    source = f"(SELECT * FROM {pending_events(CONSUMER)} x WHERE x.TOPIC = 'block-txids')"
    sql(
        session,
        f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT e.*, {TXIDS_REASON} AS REASON FROM {source} e) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'blocks'
        WHEN NOT MATCHED AND s.REASON IS NOT NULL THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, s.TOPIC, 'blocks', s.REASON,
                s.PAYLOAD, s.EVENT_KEY, SYSDATE())""",
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.BLOCK_TXIDS t
        USING (
          SELECT e.PAYLOAD:id::VARCHAR AS BLOCK_HASH, ARRAY_SIZE(e.PAYLOAD:txids) AS TX_COUNT,
                 e.PAYLOAD:txids AS TXIDS, e.RECEIVED_AT
          FROM {source} e
          WHERE {TXIDS_REASON} IS NULL
          QUALIFY ROW_NUMBER() OVER (PARTITION BY e.PAYLOAD:id::VARCHAR
                                     ORDER BY e.RECEIVED_AT, e.EVENT_KEY) = 1
        ) s
        ON t.BLOCK_HASH = s.BLOCK_HASH
        WHEN NOT MATCHED THEN INSERT (BLOCK_HASH, TX_COUNT, TXIDS, RECEIVED_AT, LOADED_AT)
        VALUES (s.BLOCK_HASH, s.TX_COUNT, s.TXIDS, s.RECEIVED_AT, SYSDATE())""",
    )


def resolve_chain(session: Any, from_height: int) -> tuple[int, int]:
    """Re-derive the canonical chain from `from_height` up. New blocks can only change
    which blocks are canonical at and above the point where their branch forks, and
    reorgs are shallow, so the blocks below the window keep their flags: the work
    follows the new blocks, not the length of the chain."""
    rows = sql(
        session,
        """SELECT BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH, TO_VARCHAR(FIRST_SEEN_AT),
                  IS_CANONICAL, IS_STALE FROM SILVER.BLOCKS WHERE HEIGHT >= ?""",
        [from_height],
    )
    links = [BlockLink(str(r[0]), int(r[1]), r[2], str(r[3])) for r in rows]
    canonical = canonical_hashes(links)
    # Only rows whose flags change are rewritten, and their hashes travel as one bound
    # JSON array: the statement's size does not grow with the chain.
    changed = sorted(
        str(r[0])
        for r in rows
        if bool(r[4]) != (r[0] in canonical) or bool(r[5]) == (r[0] in canonical)
    )
    for flag, hashes in (
        (True, [h for h in changed if h in canonical]),
        (False, [h for h in changed if h not in canonical]),
    ):
        if hashes:
            sql(
                session,
                """UPDATE SILVER.BLOCKS
                   SET IS_CANONICAL = ?, IS_STALE = ?, UPDATED_AT = SYSDATE()
                   WHERE BLOCK_HASH IN (SELECT f.value::VARCHAR
                                        FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f)""",
                [flag, not flag, json_param(hashes)],
            )
    # Gaps in the window, measured from the highest canonical block below it.
    below = sql(
        session,
        "SELECT MAX(HEIGHT) FROM SILVER.BLOCKS WHERE IS_CANONICAL AND HEIGHT < ?",
        [from_height],
    )[0][0]
    heights = [b.height for b in links if b.block_hash in canonical]
    if below is not None:
        heights.append(int(below))
    gaps = missing_heights(heights)
    sql(
        session,
        "DELETE FROM SILVER.BLOCK_GAPS WHERE HEIGHT > ?",
        [int(below) if below is not None else from_height - 1],
    )
    if gaps:
        sql(
            session,
            """INSERT INTO SILVER.BLOCK_GAPS (HEIGHT, DETECTED_AT)
               SELECT f.value::NUMBER, SYSDATE()
               FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f""",
            [json_param(gaps)],
        )
    return len(canonical), len(links) - len(canonical)
