"""BUILD_BLOCKS: one row per block hash from every source (WebSocket `block`/`blocks`,
poller, backfill); the canonical chain re-derived; stale blocks flagged, never deleted;
runs of heights with no canonical block recorded as gaps. Also what each block mined
(`block-txids`, from the poller), one row per hash.

A block must be plausible before it can enter the chain: a whole height from 0 to what
Bitcoin's schedule and the known tip allow (plausible.max_plausible_height). The chain's
flags and its gaps change in one transaction, so a gold build never sees two canonical
blocks at a height, or none where the chain has one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mempool_procs.chain import BlockLink, canonical_hashes, clusters, missing_runs
from mempool_procs.common import (
    Held,
    json_param,
    quarantine,
    release,
    sql,
    take_from_stream,
    time_text,
    transaction,
)
from mempool_procs.plausible import (
    MAX_AMOUNT,
    MAX_MEASURE,
    array_or_null,
    is_json_number,
    is_object,
    max_plausible_height,
    number_array_reason,
    number_reason,
)

CONSUMER = "blocks"
# How far below the lowest new block the chain is re-derived: deeper than any reorg in
# Bitcoin's history (53 blocks, in 2010); coinbase outputs mature after 100 blocks for
# the same reason.
REORG_WINDOW = 100
STREAM = "SILVER.EVENTS_BLOCKS_STRM"
TOPICS = ["block", "blocks", "block-txids"]
HASH = "'^\"[0-9a-f]{64}\"$'"

TXIDS_REASON = f"""CASE
  WHEN NOT REGEXP_LIKE(COALESCE(TO_JSON(e.PAYLOAD:id), ''), {HASH}) THEN 'invalid block hash'
  WHEN NOT COALESCE(IS_ARRAY(e.PAYLOAD:txids), FALSE) THEN 'type drift: txids is not an array'
END"""


# The block's numbers (path, low, high, whole): whole ones up to the supply, a header
# time up to 2^40, measures finite and none negative; at least the coinbase. A value no
# column holds, or that gold's tests refuse, goes to quarantine, never into a failing
# cast or a failing mart.
BLOCK_NUMBERS = [
    ("timestamp", 0, 2**40, True),
    ("tx_count", 1, MAX_AMOUNT, True),
    ("size", 0, MAX_AMOUNT, True),
    ("weight", 0, MAX_AMOUNT, True),
    ("extras.totalFees", 0, MAX_AMOUNT, True),
    ("extras.reward", 0, MAX_AMOUNT, True),
    ("extras.virtualSize", 0, MAX_MEASURE, False),
    ("extras.medianFee", 0, MAX_MEASURE, False),
]
# Why a block cannot be used (NULL when it can): the first rule it breaks. Its one bind
# parameter is the highest plausible height (plausible.max_plausible_height).
BLOCK_REASON = f"""CASE
  WHEN NOT {is_object("r.B")} THEN 'type drift: block is not an object'
  WHEN r.B:id IS NULL THEN 'block without id'
  WHEN NOT REGEXP_LIKE(TO_JSON(r.B:id), {HASH}) THEN 'invalid block hash'
  WHEN r.B:height IS NULL THEN 'block without a numeric height'
  WHEN NOT {is_json_number("r.B:height")} THEN 'type drift: height is not a number'
  WHEN NOT COALESCE(TRY_TO_DOUBLE(TO_JSON(r.B:height)) BETWEEN 0 AND ?, FALSE)
    THEN 'implausible: height below 0 or above what the chain can have reached'
  WHEN TRY_TO_DOUBLE(TO_JSON(r.B:height)) <> FLOOR(TRY_TO_DOUBLE(TO_JSON(r.B:height)))
    THEN 'type drift: height is not a whole number'
  WHEN r.B:timestamp IS NULL THEN 'block without a time'
  {" ".join(number_reason(f"r.B:{p}", p, lo, hi, whole) for p, lo, hi, whole in BLOCK_NUMBERS)}
  {number_array_reason("r.B:extras.feeRange", "extras.feeRange")}
  WHEN r.B:previousblockhash IS NOT NULL AND TO_JSON(r.B:previousblockhash) <> 'null'
       AND NOT REGEXP_LIKE(TO_JSON(r.B:previousblockhash), {HASH})
    THEN 'invalid previous block hash'
END"""


def highest_plausible(session: Any) -> int:
    """What plausible.max_plausible_height allows now, from the canonical tip and its
    header time: a tip first seen today may have been mined months ago (history filled
    in while live ingestion was down), and the chain has grown since it was mined."""
    tip = sql(
        session,
        """SELECT HEIGHT, MINED_AT_S FROM SILVER.BLOCKS
           WHERE IS_CANONICAL AND MINED_AT_S IS NOT NULL ORDER BY HEIGHT DESC LIMIT 1""",
    )
    now = datetime.now(UTC).timestamp()
    if not tip:
        return max_plausible_height(now, None, None)
    # A header time may run two hours ahead of the clock (Bitcoin's own rule).
    mined = min(float(tip[0][1]), now)
    return max_plausible_height(now, int(tip[0][0]), mined)


def block_rows(source: str) -> str:
    """Every block object in the pending events, whichever topic carried it."""
    return f"""
        SELECT e.PAYLOAD AS B, e.RECEIVED_AT, e.EVENT_KEY, e.SOURCE_FILE, e.SOURCE_ROW
        FROM {source} e WHERE e.TOPIC = 'block'
        UNION ALL
        SELECT p.value AS B, e.RECEIVED_AT, e.EVENT_KEY, e.SOURCE_FILE, e.SOURCE_ROW
        FROM {source} e, LATERAL FLATTEN(input => {array_or_null("e.PAYLOAD")}) p
        WHERE e.TOPIC = 'blocks'"""


def admitted(rows: str, reason: str) -> str:
    """The blocks of `rows` that break no rule and were not quarantined by an earlier try."""
    return f"""
        SELECT r.* FROM ({rows}) r
        LEFT JOIN OPS.QUARANTINE q
          ON q.STAGE = 'blocks' AND q.SOURCE_FILE = r.SOURCE_FILE
             AND q.SOURCE_ROW = r.SOURCE_ROW AND TO_JSON(q.RECORD) = TO_JSON(r.B)
        WHERE q.SOURCE_FILE IS NULL AND {reason} IS NULL"""


def run(session: Any) -> str:
    held = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if held.count == 0:
        return "BUILD_BLOCKS: nothing new"
    source = held.events()
    rows = block_rows(source)
    reason, ceiling = BLOCK_REASON, [highest_plausible(session)]
    # The ceiling moves with the clock and the tip: a run killed half-way and retried must
    # not take a block it quarantined, nor quarantine a block it took. Each block is
    # decided once: neither the same block already in SILVER.BLOCKS goes to quarantine,
    # nor a quarantined one into SILVER.BLOCKS.
    quarantine(
        session,
        "blocks",
        f"""SELECT r.SOURCE_FILE, r.SOURCE_ROW, 'block' AS TOPIC, r.B AS RECORD, r.EVENT_KEY,
                   {reason} AS REASON
            FROM ({rows}) r
            LEFT JOIN SILVER.BLOCKS b
              ON b.BLOCK_HASH = r.B:id::VARCHAR AND TO_JSON(b.PAYLOAD) = TO_JSON(r.B)
            WHERE b.BLOCK_HASH IS NULL
            UNION ALL
            SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD, e.EVENT_KEY,
                   'type drift: blocks is not an array'
            FROM {source} e
            WHERE e.TOPIC = 'blocks' AND NOT COALESCE(IS_ARRAY(e.PAYLOAD), FALSE)""",
        ceiling,
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.BLOCKS t
        USING (
          SELECT r.B:id::VARCHAR AS BLOCK_HASH, r.B:height::NUMBER AS HEIGHT,
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
          FROM ({admitted(rows, reason)}) r
          QUALIFY ROW_NUMBER() OVER (PARTITION BY r.B:id::VARCHAR
                                     ORDER BY r.RECEIVED_AT, r.EVENT_KEY) = 1
        ) s
        ON t.BLOCK_HASH = s.BLOCK_HASH
        -- An earlier sighting (the WebSocket copy landing after the poller's) corrects
        -- FIRST_SEEN_AT, and gold must see the change.
        WHEN MATCHED AND s.FIRST_SEEN_AT < t.FIRST_SEEN_AT THEN
          UPDATE SET FIRST_SEEN_AT = s.FIRST_SEEN_AT, UPDATED_AT = SYSDATE()
        WHEN NOT MATCHED THEN INSERT
          (BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH, MINED_AT_S, TX_COUNT, SIZE_BYTES, WEIGHT_WU,
           VSIZE, TOTAL_FEES_SAT, MEDIAN_FEE_RATE, FEE_RANGE, REWARD_SAT, POOL_NAME, POOL_SLUG,
           FIRST_SEEN_AT, IS_CANONICAL, IS_STALE, PAYLOAD, UPDATED_AT)
        VALUES (s.BLOCK_HASH, s.HEIGHT, s.PREVIOUS_BLOCK_HASH, s.MINED_AT_S, s.TX_COUNT,
                s.SIZE_BYTES, s.WEIGHT_WU, s.VSIZE, s.TOTAL_FEES_SAT, s.MEDIAN_FEE_RATE,
                s.FEE_RANGE, s.REWARD_SAT, s.POOL_NAME, s.POOL_SLUG, s.FIRST_SEEN_AT, FALSE,
                FALSE, s.PAYLOAD, SYSDATE())""",
        ceiling,
    )
    heights = [
        int(r[0])
        for r in sql(
            session,
            f"SELECT DISTINCT r.B:height::NUMBER FROM ({admitted(rows, reason)}) r",
            ceiling,
        )
    ]
    load_txids(session, held)
    canonical = stale = 0
    # Each neighbourhood of new blocks is re-derived on its own, the highest first.
    for low, high in clusters(heights, 2 * REORG_WINDOW):
        c, s_ = resolve_chain(session, low - REORG_WINDOW, high + REORG_WINDOW)
        canonical, stale = canonical + c, stale + s_
    release(session, held)
    summary = f"{canonical} canonical, {stale} stale re-derived" if heights else "no new block"
    return f"BUILD_BLOCKS: {held.count} events; {summary}"


def load_txids(session: Any, held: Held) -> None:
    source = f"(SELECT * FROM {held.events()} x WHERE x.TOPIC = 'block-txids')"
    quarantine(
        session,
        "blocks",
        f"""SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD AS RECORD, e.EVENT_KEY,
                   {TXIDS_REASON} AS REASON FROM {source} e""",
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


def links(rows: list[Any]) -> list[BlockLink]:
    return [BlockLink(str(r[0]), int(r[1]), r[2], str(r[3])) for r in rows]


LINK_COLUMNS = f"BLOCK_HASH, HEIGHT, PREVIOUS_BLOCK_HASH, {time_text('FIRST_SEEN_AT')}"


def resolve_chain(session: Any, low: int, high: int) -> tuple[int, int]:
    """Re-derive the canonical chain between heights `low` and `high`. New blocks change
    which blocks are canonical only at and above the point where their branch forks, and
    reorgs are shallow: below the window the flags stand, and above it the chain is
    settled, so it continues through the lowest canonical block over the window. The
    work follows the new blocks, not the length of the chain."""
    rows = sql(
        session,
        f"""SELECT {LINK_COLUMNS}, IS_CANONICAL, IS_STALE FROM SILVER.BLOCKS
            WHERE HEIGHT BETWEEN ? AND ?""",
        [low, high],
    )
    above_rows = sql(
        session,
        f"""SELECT {LINK_COLUMNS} FROM SILVER.BLOCKS
            WHERE IS_CANONICAL AND HEIGHT > ? ORDER BY HEIGHT LIMIT 1""",
        [high],
    )
    above = links(above_rows)[0] if above_rows else None
    canonical = canonical_hashes(links(rows), above)
    # Only rows whose flags change are rewritten, as one bound JSON array of
    # [hash, is_canonical]: the statement's size does not grow with the chain.
    changed = sorted(
        [str(r[0]), r[0] in canonical]
        for r in rows
        if bool(r[4]) != (r[0] in canonical) or bool(r[5]) == (r[0] in canonical)
    )
    below = sql(
        session,
        "SELECT MAX(HEIGHT) FROM SILVER.BLOCKS WHERE IS_CANONICAL AND HEIGHT < ?",
        [low],
    )[0][0]
    present = [int(r[1]) for r in rows if r[0] in canonical]
    present += [h for h in (below, above.height if above else None) if h is not None]
    # Gaps are maximal runs between canonical heights; `below` and the top are canonical,
    # so every run between them lies wholly inside and is rewritten here.
    floor = int(below) if below is not None else min(present, default=low) - 1
    top = max(present, default=high)
    with transaction(session):
        if changed:
            sql(
                session,
                """UPDATE SILVER.BLOCKS t
                   SET IS_CANONICAL = s.IS_CANONICAL, IS_STALE = NOT s.IS_CANONICAL,
                       UPDATED_AT = SYSDATE()
                   FROM (SELECT f.value[0]::VARCHAR AS BLOCK_HASH,
                                f.value[1]::BOOLEAN AS IS_CANONICAL
                         FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f) s
                   WHERE t.BLOCK_HASH = s.BLOCK_HASH""",
                [json_param(changed)],
            )
        sql(
            session,
            "DELETE FROM SILVER.BLOCK_GAPS WHERE HEIGHT > ? AND HEIGHT < ?",
            [floor, top],
        )
        gaps = missing_runs(present)
        if gaps:
            sql(
                session,
                """INSERT INTO SILVER.BLOCK_GAPS (HEIGHT, LAST_HEIGHT, DETECTED_AT)
                   SELECT f.value[0]::NUMBER, f.value[1]::NUMBER, SYSDATE()
                   FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f""",
                [json_param([list(g) for g in gaps])],
            )
    return len(canonical), len(rows) - len(canonical)
