"""BUILD_PRICES: one row per price time from WebSocket/REST `conversions` and backfilled
`historical-price`; the usual currencies as columns (-1, "unavailable", becomes NULL),
every currency kept in CURRENCIES."""

from __future__ import annotations

from typing import Any

from mempool_procs.common import pending_events, release, sql, take_from_stream

CONSUMER = "prices"
STREAM = "SILVER.EVENTS_PRICES_STRM"
TOPICS = ["conversions", "historical-price"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "CHF", "AUD", "JPY"]
JSON_NUMBER = "^(null|-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?)$"
# A price row without a numeric time, or with a currency that is not a number, is
# quarantined (stage `prices`); casting it would fail every later run.
REASON = "CASE WHEN TRY_TO_NUMBER(TO_JSON(P:time)) IS NULL THEN 'price without a numeric time' " + (
    " ".join(
        f"WHEN P:{c} IS NOT NULL AND NOT REGEXP_LIKE(TO_JSON(P:{c}), '{JSON_NUMBER}') "
        f"THEN 'type drift: {c} is not a number'"
        for c in CURRENCIES
    )
    + " END"
)


def run(session: Any) -> str:
    pending = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if pending == 0:
        return "BUILD_PRICES: nothing new"
    source = pending_events(CONSUMER)
    cols = ", ".join(f"NULLIF(P:{c}::FLOAT, -1) AS {c}" for c in CURRENCIES)
    rows = f"""(SELECT e.PAYLOAD AS P, e.TOPIC, e.EVENT_KEY, e.RECEIVED_AT, e.SOURCE_FILE,
                       e.SOURCE_ROW
                FROM {source} e WHERE e.TOPIC = 'conversions'
                UNION ALL
                SELECT p.value AS P, e.TOPIC, e.EVENT_KEY, e.RECEIVED_AT, e.SOURCE_FILE,
                       e.SOURCE_ROW
                FROM {source} e, LATERAL FLATTEN(input => e.PAYLOAD:prices) p
                WHERE e.TOPIC = 'historical-price') x"""
    sql(
        session,
        f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT SOURCE_FILE, SOURCE_ROW, TOPIC, P, EVENT_KEY, {REASON} AS REASON
               FROM {rows}) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'prices'
           AND q.RECORD = s.P
        WHEN NOT MATCHED AND s.REASON IS NOT NULL THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, s.TOPIC, 'prices', s.REASON,
                s.P, s.EVENT_KEY, SYSDATE())""",
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.PRICES t
        USING (
          SELECT P:time::NUMBER AS PRICE_TIME_S, TOPIC AS SOURCE_TOPIC, {cols},
                 P AS OTHER_CURRENCIES, EVENT_KEY, RECEIVED_AT
          FROM {rows}
          WHERE {REASON} IS NULL
          -- Live conversions win over backfilled hourly prices at the same time.
          QUALIFY ROW_NUMBER() OVER (PARTITION BY P:time::NUMBER
                                     ORDER BY CASE TOPIC WHEN 'conversions' THEN 0 ELSE 1 END,
                                              RECEIVED_AT, EVENT_KEY) = 1
        ) s
        ON t.PRICE_TIME_S = s.PRICE_TIME_S
        WHEN NOT MATCHED THEN INSERT
          (PRICE_TIME_S, SOURCE_TOPIC, {", ".join(CURRENCIES)}, OTHER_CURRENCIES, EVENT_KEY,
           RECEIVED_AT)
        VALUES (s.PRICE_TIME_S, s.SOURCE_TOPIC, {", ".join("s." + c for c in CURRENCIES)},
                s.OTHER_CURRENCIES, s.EVENT_KEY, s.RECEIVED_AT)""",
    )
    release(session, CONSUMER)
    return f"BUILD_PRICES: {pending} events"
