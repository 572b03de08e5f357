"""BUILD_PRICES: one row per price time from WebSocket/REST `conversions` and backfilled
`historical-price`; the usual currencies as columns (-1, "unavailable", becomes NULL),
every currency kept in CURRENCIES."""

from __future__ import annotations

from typing import Any

from mempool_procs.common import quarantine, release, sql, take_from_stream
from mempool_procs.plausible import (
    MAX_MEASURE,
    array_or_null,
    is_object,
    number_reason,
    unix_time_reason,
)

CONSUMER = "prices"
STREAM = "SILVER.EVENTS_PRICES_STRM"
TOPICS = ["conversions", "historical-price"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "CHF", "AUD", "JPY"]
# mempool.space's "unavailable"; any other price at or below zero is impossible.
UNAVAILABLE = -1
# A price row without a plausible time (a whole number of seconds, from genesis to now),
# or with a currency that is not a positive number, is quarantined (stage `prices`):
# casting it would fail every later run, and a false time would be the newest price.
REASON = (
    f"CASE WHEN NOT {is_object('P')} THEN 'type drift: price is not an object' "
    f"{unix_time_reason('P:time', 'price time', 'EVENT_LOADED_AT')} "
    + " ".join(
        f"{number_reason(f'P:{c}', c, UNAVAILABLE, MAX_MEASURE, integral=False)} "
        f"WHEN P:{c} IS NOT NULL AND TRY_TO_DOUBLE(TO_JSON(P:{c})) <= 0 "
        f"AND TRY_TO_DOUBLE(TO_JSON(P:{c})) <> {UNAVAILABLE} "
        f"THEN 'implausible: {c} price not positive'"
        for c in CURRENCIES
    )
    + " END"
)


def run(session: Any) -> str:
    held = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if held.count == 0:
        return "BUILD_PRICES: nothing new"
    source = held.events()
    cols = ", ".join(f"NULLIF(P:{c}::FLOAT, -1) AS {c}" for c in CURRENCIES)
    rows = f"""(SELECT e.PAYLOAD AS P, e.TOPIC, e.EVENT_KEY, e.RECEIVED_AT, e.SOURCE_FILE,
                       e.SOURCE_ROW, e.LOADED_AT AS EVENT_LOADED_AT
                FROM {source} e WHERE e.TOPIC = 'conversions'
                UNION ALL
                SELECT p.value AS P, e.TOPIC, e.EVENT_KEY, e.RECEIVED_AT, e.SOURCE_FILE,
                       e.SOURCE_ROW, e.LOADED_AT
                FROM {source} e, LATERAL FLATTEN(input => {array_or_null("e.PAYLOAD:prices")}) p
                WHERE e.TOPIC = 'historical-price') x"""
    quarantine(
        session,
        "prices",
        f"""SELECT SOURCE_FILE, SOURCE_ROW, TOPIC, P AS RECORD, EVENT_KEY, {REASON} AS REASON
            FROM {rows}
            UNION ALL
            SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD, e.EVENT_KEY,
                   'type drift: prices is not an array'
            FROM {source} e
            WHERE e.TOPIC = 'historical-price'
              AND NOT COALESCE(IS_ARRAY(e.PAYLOAD:prices), FALSE)""",
    )
    sql(
        session,
        f"""
        MERGE INTO SILVER.PRICES t
        USING (
          SELECT P:time::NUMBER AS PRICE_TIME_S, TOPIC AS SOURCE_TOPIC, {cols},
                 P AS OTHER_CURRENCIES, EVENT_KEY, RECEIVED_AT, SYSDATE() AS LOADED_AT
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
           RECEIVED_AT, LOADED_AT)
        VALUES (s.PRICE_TIME_S, s.SOURCE_TOPIC, {", ".join("s." + c for c in CURRENCIES)},
                s.OTHER_CURRENCIES, s.EVENT_KEY, s.RECEIVED_AT, s.LOADED_AT)""",
    )
    release(session, held)
    return f"BUILD_PRICES: {held.count} events"
