"""LOAD_EVENTS: RAW streams -> SILVER.EVENTS, deduplicated; bad records -> quarantine.

Exactly once out of at-least-once in: records are keyed by (origin_id, frame_seq,
topic); a key already in SILVER.EVENTS, or seen twice in one batch, is a duplicate.
Every raw row is accounted for in OPS.LOAD_LEDGER: clean + duplicates + quarantined.
"""

from __future__ import annotations

from typing import Any

from mempool_procs.common import new_batch_id, sql
from mempool_procs.plausible import timestamp_text_reason

RAW_STREAMS = {
    "RAW.STREAM_EVENTS": "RAW.STREAM_EVENTS_STRM",
    "RAW.CONVERSIONS": "RAW.CONVERSIONS_STRM",
    "RAW.BLOCKS": "RAW.BLOCKS_STRM",
    "RAW.PRICES": "RAW.PRICES_STRM",
    "RAW.REST_STATS": "RAW.REST_STATS_STRM",
    "RAW.OVERSIZE": "RAW.OVERSIZE_STRM",
}

# A pointer to a record stored whole under oversize/ (docs/data-contract.md): it shares
# the record's key, so it is counted as a duplicate of it and never becomes the event.
IS_POINTER = "CONTAINS(COALESCE(TO_JSON(RECORD:flags), ''), '\"oversize\"')"

# What the landing file format puts where a line held invalid UTF-8 (REPLACE_INVALID_CHARACTERS).
REPLACEMENT_CHARACTER = "\ufffd"

# The contract's rules (docs/data-contract.md, ingest/contract.py), in SQL both Snowflake
# and the local engine evaluate alike. TO_JSON tells a JSON number from a string ("7").
# Why a raw row is quarantined, or NULL. Decided once, when the row enters OPS.LOAD_BATCH
# (stored as REASON, '' for a clean row): a rule that reads the clock (the skew) must not
# change its answer between the statements, or the retries, that process the row.
REASON_RULES = f"""CASE
  WHEN RECORD IS NULL THEN 'unparsable JSON'
  WHEN CONTAINS(COALESCE(LINE, TO_JSON(RECORD)), '{REPLACEMENT_CHARACTER}')
    THEN 'invalid UTF-8 (replaced with U+FFFD at load)'
  WHEN RECORD:v IS NULL OR TO_JSON(RECORD:v) <> '1' THEN 'unsupported contract version'
  WHEN RECORD:source::VARCHAR IS NULL OR RECORD:source::VARCHAR NOT IN ('ws', 'rest', 'backfill')
    THEN 'unknown source'
  WHEN RECORD:topic::VARCHAR IS NULL OR RECORD:topic::VARCHAR = '' THEN 'missing topic'
  WHEN NOT REGEXP_LIKE(TO_JSON(RECORD:topic), '^"[A-Za-z0-9_.-]{{1,64}}"$') THEN 'invalid topic'
  WHEN RECORD:origin_id::VARCHAR IS NULL OR RECORD:origin_id::VARCHAR = '' THEN 'missing origin_id'
  WHEN NOT REGEXP_LIKE(TO_JSON(RECORD:origin_id), '^"[A-Za-z0-9_.:-]{{1,128}}"$')
    THEN 'invalid origin_id'
  WHEN RECORD:frame_seq IS NULL OR NOT REGEXP_LIKE(TO_JSON(RECORD:frame_seq), '^[0-9]{{1,18}}$')
    THEN 'invalid frame_seq (an integer >= 0)'
  WHEN RECORD:received_at::VARCHAR IS NULL
    OR NOT REGEXP_LIKE(TO_JSON(RECORD:received_at),
       '^"[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}([.][0-9]{{1,9}})?Z"$')
    THEN 'invalid received_at'
  {timestamp_text_reason("RECORD:received_at::VARCHAR", "received_at")}
  WHEN RECORD:payload IS NULL THEN 'missing payload'
END"""

TOPIC = "COALESCE(RECORD:topic::VARCHAR, '(unparsable)')"
# origin:frame_seq:topic. One key names one record: frame_seq is digits and a topic has
# no ':', so the key splits back into its parts from the right, whatever the origin holds.
EVENT_KEY = (
    "RECORD:origin_id::VARCHAR || ':' || RECORD:frame_seq::VARCHAR || ':' || RECORD:topic::VARCHAR"
)


RECEIVED_AT = "TO_TIMESTAMP_NTZ(RECORD:received_at::VARCHAR)"
# Margin around the batch's received_at range (copies of a record share it exactly).
WINDOW_SLACK_HOURS = 1


def merge_events(rows: str, window: str) -> str:
    """Insert the batch's clean events (those matching `rows`) whose key SILVER.EVENTS
    does not hold yet, looking for the key only where `window` allows."""
    return f"""
        MERGE INTO SILVER.EVENTS e
        USING (
          SELECT * FROM (
            SELECT {EVENT_KEY} AS EVENT_KEY, RECORD:origin_id::VARCHAR AS ORIGIN_ID,
                   RECORD:frame_seq::NUMBER AS FRAME_SEQ, RECORD:topic::VARCHAR AS TOPIC,
                   RECORD:source::VARCHAR AS SOURCE, {RECEIVED_AT} AS RECEIVED_AT,
                   RECORD:flags AS FLAGS, RECORD:payload AS PAYLOAD, SOURCE_TABLE, SOURCE_FILE,
                   SOURCE_ROW, BATCH_ID
            FROM OPS.LOAD_BATCH
            WHERE REASON = '' AND NOT {IS_POINTER}
            QUALIFY ROW_NUMBER() OVER (PARTITION BY {EVENT_KEY}
                                       ORDER BY SOURCE_FILE, SOURCE_ROW) = 1
          ) WHERE {rows}
        ) s
        ON e.EVENT_KEY = s.EVENT_KEY {window}
        WHEN NOT MATCHED THEN INSERT
          (EVENT_KEY, ORIGIN_ID, FRAME_SEQ, TOPIC, SOURCE, RECEIVED_AT, FLAGS, PAYLOAD,
           SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, BATCH_ID, LOADED_AT)
        VALUES (s.EVENT_KEY, s.ORIGIN_ID, s.FRAME_SEQ, s.TOPIC, s.SOURCE, s.RECEIVED_AT,
                s.FLAGS, s.PAYLOAD, s.SOURCE_TABLE, s.SOURCE_FILE, s.SOURCE_ROW, s.BATCH_ID,
                SYSDATE())"""


def run(session: Any) -> str:
    batch = new_batch_id()
    union = " UNION ALL ".join(
        f"SELECT ?, '{table}', RECORD, LINE, SOURCE_FILE, SOURCE_ROW, SCANNED_AT, "
        f"COALESCE({REASON_RULES}, '') FROM {stream}"
        for table, stream in RAW_STREAMS.items()
    )
    # Consumes all five streams in one committed statement.
    sql(
        session,
        f"""INSERT INTO OPS.LOAD_BATCH
        (BATCH_ID, SOURCE_TABLE, RECORD, LINE, SOURCE_FILE, SOURCE_ROW, SCANNED_AT, REASON)
        {union}""",
        [batch] * len(RAW_STREAMS),
    )
    # Rows an older release left half-way have no decision yet.
    sql(
        session,
        f"UPDATE OPS.LOAD_BATCH SET REASON = COALESCE({REASON_RULES}, '') WHERE REASON IS NULL",
    )

    # Everything below works on all of OPS.LOAD_BATCH (this batch and any left by a run
    # that failed half-way) and is idempotent, so a retry finishes the job.
    sql(
        session,
        f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT BATCH_ID, SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, RECORD, LINE,
                      {TOPIC} AS TOPIC, NULLIF(REASON, '') AS REASON
               FROM OPS.LOAD_BATCH) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'load'
        WHEN NOT MATCHED AND s.REASON IS NOT NULL THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, LINE, BATCH_ID,
           QUARANTINED_AT)
        VALUES (s.SOURCE_TABLE, s.SOURCE_FILE, s.SOURCE_ROW, s.TOPIC, 'load', s.REASON,
                s.RECORD, s.LINE, s.BATCH_ID, SYSDATE())""",
    )

    # The window: a duplicate is a record delivered again, so it carries the received_at
    # of the first copy. SILVER.EVENTS is appended in received_at order, so a match
    # bounded by the batch's received_at range reads only those micro-partitions (no
    # clustering key needed) and costs the same however long the history grows.
    # Backfill runs re-emit their keys with a new received_at: their rows, few and
    # occasional, are matched against the backfilled events without the window.
    lo, hi, backfill = sql(
        session,
        f"""SELECT DATEADD(HOUR, -{WINDOW_SLACK_HOURS}, MIN({RECEIVED_AT})),
                   DATEADD(HOUR, {WINDOW_SLACK_HOURS}, MAX({RECEIVED_AT})),
                   COUNT_IF(RECORD:source::VARCHAR = 'backfill')
            FROM OPS.LOAD_BATCH WHERE REASON = ''""",
    )[0]
    if lo is not None:
        sql(
            session,
            merge_events("SOURCE <> 'backfill'", "AND e.RECEIVED_AT BETWEEN ? AND ?"),
            [lo, hi],
        )
    if backfill:
        sql(session, merge_events("SOURCE = 'backfill'", "AND e.SOURCE = 'backfill'"))

    sql(
        session,
        f"""
        MERGE INTO OPS.LOAD_LEDGER l
        USING (
          SELECT b.BATCH_ID, b.TOPIC, b.RAW_ROWS, b.QUARANTINED_ROWS,
                 COALESCE(c.CLEAN_ROWS, 0) AS CLEAN_ROWS,
                 b.RAW_ROWS - b.QUARANTINED_ROWS - COALESCE(c.CLEAN_ROWS, 0) AS DUPLICATE_ROWS
          FROM (SELECT BATCH_ID, {TOPIC} AS TOPIC, COUNT(*) AS RAW_ROWS,
                       SUM(CASE WHEN REASON = '' THEN 0 ELSE 1 END) AS QUARANTINED_ROWS
                FROM OPS.LOAD_BATCH GROUP BY 1, 2) b
          LEFT JOIN (SELECT BATCH_ID, TOPIC, COUNT(*) AS CLEAN_ROWS FROM SILVER.EVENTS
                     WHERE BATCH_ID IN (SELECT DISTINCT BATCH_ID FROM OPS.LOAD_BATCH)
                       AND RECEIVED_AT BETWEEN ? AND ?
                     GROUP BY 1, 2) c
            ON c.BATCH_ID = b.BATCH_ID AND c.TOPIC = b.TOPIC
        ) s
        ON l.BATCH_ID = s.BATCH_ID AND l.TOPIC = s.TOPIC
        WHEN NOT MATCHED THEN INSERT
          (BATCH_ID, TOPIC, RAW_ROWS, CLEAN_ROWS, DUPLICATE_ROWS, QUARANTINED_ROWS, LOADED_AT)
        VALUES (s.BATCH_ID, s.TOPIC, s.RAW_ROWS, s.CLEAN_ROWS, s.DUPLICATE_ROWS,
                s.QUARANTINED_ROWS, SYSDATE())""",
        # Every event of these batches came from a row of OPS.LOAD_BATCH: in the window.
        [lo, hi],
    )

    totals = sql(session, """SELECT COUNT(*) FROM OPS.LOAD_BATCH""")
    sql(session, "DELETE FROM OPS.LOAD_BATCH")
    return f"LOAD_EVENTS batch {batch}: {int(totals[0][0])} raw rows processed"
