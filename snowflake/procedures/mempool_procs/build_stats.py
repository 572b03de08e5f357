"""BUILD_STATS: stats topics -> typed SILVER tables, units explicit in column names.

One spec per topic: the target table and how each column is read from the payload.
Every target is merged by its key, so a re-run changes nothing. A payload whose typed
field is not a JSON number (type drift: `"size": "abc"`) is quarantined under the
stage `stats` with the field named, and everything else still flows: one bad record
must never fail every later run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mempool_procs.common import pending_events, release, sql, take_from_stream

CONSUMER = "stats"
STREAM = "SILVER.EVENTS_STATS_STRM"


@dataclass(frozen=True)
class Spec:
    topics: tuple[str, ...]
    table: str
    columns: dict[str, str]  # column -> expression over e (event) and p (payload element)
    key: tuple[str, ...] = ("EVENT_KEY",)
    flatten: bool = False  # one row per element of a payload array


SPECS = [
    Spec(
        ("mempoolInfo",),
        "SILVER.MEMPOOL_INFO",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "ORIGIN_ID": "e.ORIGIN_ID",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "TX_COUNT": "e.PAYLOAD:size::NUMBER",
            "SIZE_BYTES": "e.PAYLOAD:bytes::NUMBER",
            "USAGE_BYTES": "e.PAYLOAD:usage::NUMBER",
            # mempool.space sends total_fee in BTC here (sat everywhere else).
            "TOTAL_FEE_BTC": "e.PAYLOAD:total_fee::NUMBER(20, 8)",
            "TOTAL_FEE_SAT": "ROUND(e.PAYLOAD:total_fee::FLOAT * 100000000)::NUMBER",
            "MIN_FEE_BTC_PER_KVB": "e.PAYLOAD:mempoolminfee::FLOAT",
            "MIN_FEE_SAT_PER_VB": "e.PAYLOAD:mempoolminfee::FLOAT * 100000",
            "MAX_MEMPOOL_BYTES": "e.PAYLOAD:maxmempool::NUMBER",
        },
    ),
    Spec(
        ("fees",),
        "SILVER.RECOMMENDED_FEES",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "SOURCE": "e.SOURCE",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "FASTEST_FEE_SAT_PER_VB": "e.PAYLOAD:fastestFee::FLOAT",
            "HALF_HOUR_FEE_SAT_PER_VB": "e.PAYLOAD:halfHourFee::FLOAT",
            "HOUR_FEE_SAT_PER_VB": "e.PAYLOAD:hourFee::FLOAT",
            "ECONOMY_FEE_SAT_PER_VB": "e.PAYLOAD:economyFee::FLOAT",
            "MINIMUM_FEE_SAT_PER_VB": "e.PAYLOAD:minimumFee::FLOAT",
        },
    ),
    Spec(
        ("vBytesPerSecond",),
        "SILVER.VBYTES_PER_SECOND",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "VBYTES_PER_SECOND": "e.PAYLOAD::FLOAT",
        },
    ),
    Spec(
        ("mempool-blocks",),
        "SILVER.MEMPOOL_BLOCKS",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "BLOCK_INDEX": "p.index",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "BLOCK_SIZE_BYTES": "p.value:blockSize::NUMBER",
            "BLOCK_VSIZE": "p.value:blockVSize::FLOAT",
            "TX_COUNT": "p.value:nTx::NUMBER",
            "TOTAL_FEES_SAT": "p.value:totalFees::NUMBER",
            "MEDIAN_FEE_RATE": "p.value:medianFee::FLOAT",
            "FEE_RANGE": "p.value:feeRange",
        },
        key=("EVENT_KEY", "BLOCK_INDEX"),
        flatten=True,
    ),
    Spec(
        ("da",),
        "SILVER.DIFFICULTY_ADJUSTMENTS",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "PROGRESS_PERCENT": "e.PAYLOAD:progressPercent::FLOAT",
            "DIFFICULTY_CHANGE_PERCENT": "e.PAYLOAD:difficultyChange::FLOAT",
            # `da` mixes milliseconds and seconds: the suffix says which.
            "ESTIMATED_RETARGET_MS": "e.PAYLOAD:estimatedRetargetDate::NUMBER",
            "REMAINING_BLOCKS": "e.PAYLOAD:remainingBlocks::NUMBER",
            "REMAINING_TIME_MS": "e.PAYLOAD:remainingTime::NUMBER",
            "PREVIOUS_RETARGET_PERCENT": "e.PAYLOAD:previousRetarget::FLOAT",
            "PREVIOUS_RETARGET_S": "e.PAYLOAD:previousTime::NUMBER",
            "NEXT_RETARGET_HEIGHT": "e.PAYLOAD:nextRetargetHeight::NUMBER",
            "TIME_AVG_MS": "e.PAYLOAD:timeAvg::NUMBER",
        },
    ),
    Spec(
        ("live-2h-chart",),
        "SILVER.LIVE_2H_CHART",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "RECEIVED_AT": "e.RECEIVED_AT",
            # Older servers sent an ISO `added` and `unconfirmed_transactions`.
            "ADDED_AT_S": "TRY_TO_NUMBER(e.PAYLOAD:added::VARCHAR)",
            "TX_COUNT": (
                "COALESCE(e.PAYLOAD:count::NUMBER, e.PAYLOAD:unconfirmed_transactions::NUMBER)"
            ),
            "VBYTES_PER_SECOND": "e.PAYLOAD:vbytes_per_second::FLOAT",
            "MEMPOOL_BYTE_WEIGHT": "e.PAYLOAD:mempool_byte_weight::NUMBER",
            "TOTAL_FEE_SAT": "e.PAYLOAD:total_fee::NUMBER",
            "MIN_FEE": "e.PAYLOAD:min_fee::FLOAT",
            "VSIZES": "e.PAYLOAD:vsizes",
        },
    ),
    Spec(
        ("mempool",),
        "SILVER.MEMPOOL_SUMMARY",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "RECEIVED_AT": "e.RECEIVED_AT",
            "TX_COUNT": "e.PAYLOAD:count::NUMBER",
            "VSIZE": "e.PAYLOAD:vsize::NUMBER",
            "TOTAL_FEE_SAT": "e.PAYLOAD:total_fee::NUMBER",
            "FEE_HISTOGRAM": "e.PAYLOAD:fee_histogram",
        },
    ),
]

TOPICS = sorted({t for spec in SPECS for t in spec.topics})


# A payload value read with a numeric cast: `e.PAYLOAD:size::NUMBER`, `p.value:x::FLOAT`.
NUMERIC_READ = re.compile(r"((?:e\.PAYLOAD|p\.value)(?::[\w.]+)?)::(?:NUMBER|FLOAT)")
# What TO_JSON gives for a JSON number (or null): anything else would fail the cast.
JSON_NUMBER = "^(null|-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?)$"


def drift_reason(spec: Spec) -> str:
    """The first typed field of the spec that does not hold a number, as a SQL CASE."""
    paths = sorted({m for expr in spec.columns.values() for m in NUMERIC_READ.findall(expr)})
    whens = " ".join(
        f"WHEN {path} IS NOT NULL AND NOT REGEXP_LIKE(TO_JSON({path}), '{JSON_NUMBER}') "
        f"THEN 'type drift: {path.split(':', 1)[-1] if ':' in path else 'payload'} "
        "is not a number'"
        for path in paths
    )
    return f"CASE {whens} END" if whens else "CAST(NULL AS VARCHAR)"


def source_rows(spec: Spec, source: str) -> str:
    topics = ", ".join(f"'{t}'" for t in spec.topics)
    frm = f"{source} e"
    if spec.flatten:
        frm += ", LATERAL FLATTEN(input => e.PAYLOAD) p"
    return f"{frm} WHERE e.TOPIC IN ({topics})"


def quarantine_sql(spec: Spec, source: str) -> str:
    return f"""
        MERGE INTO OPS.QUARANTINE q
        USING (SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD, e.EVENT_KEY,
                      {drift_reason(spec)} AS REASON
               FROM {source_rows(spec, source)}) s
        ON q.SOURCE_FILE = s.SOURCE_FILE AND q.SOURCE_ROW = s.SOURCE_ROW AND q.STAGE = 'stats'
        WHEN NOT MATCHED AND s.REASON IS NOT NULL THEN INSERT
          (SOURCE_TABLE, SOURCE_FILE, SOURCE_ROW, TOPIC, STAGE, REASON, RECORD, BATCH_ID,
           QUARANTINED_AT)
        VALUES ('SILVER.EVENTS', s.SOURCE_FILE, s.SOURCE_ROW, s.TOPIC, 'stats', s.REASON,
                s.PAYLOAD, s.EVENT_KEY, SYSDATE())"""


def merge_sql(spec: Spec, source: str) -> str:
    cols = list(spec.columns)
    select = ", ".join(f"{expr} AS {col}" for col, expr in spec.columns.items())
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    return f"""
        MERGE INTO {spec.table} t
        USING (SELECT {select} FROM {source_rows(spec, source)}
               AND {drift_reason(spec)} IS NULL) s
        ON {on}
        WHEN NOT MATCHED THEN INSERT ({", ".join(cols)})
        VALUES ({", ".join("s." + c for c in cols)})"""


def run(session: Any) -> str:
    pending = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if pending == 0:
        return "BUILD_STATS: nothing new"
    source = pending_events(CONSUMER)
    for spec in SPECS:
        sql(session, quarantine_sql(spec, source))
        sql(session, merge_sql(spec, source))
    release(session, CONSUMER)
    return f"BUILD_STATS: {pending} events into {len(SPECS)} tables"
