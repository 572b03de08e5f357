"""BUILD_STATS: stats topics -> typed SILVER tables, units explicit in column names.

One spec per topic: the target table and how each column is read from the payload.
Every target is merged by its key, so a re-run changes nothing. A payload whose typed
field is not a JSON number (type drift: `"size": "abc"`), or a number no column of its
kind can hold (a count of 1e40, a negative size), is quarantined under the stage `stats`
with the field named, and everything else still flows: one bad record must never fail
every later run. Each row carries LOADED_AT, when it reached SILVER: the marts' watermark.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mempool_procs.common import quarantine, release, sql, take_from_stream
from mempool_procs.plausible import (
    GENESIS_TIME_S,
    MAX_AMOUNT,
    MAX_MEASURE,
    array_or_null,
    is_array,
    is_json_number,
    is_object,
    number_array_reason,
    number_reason,
)

CONSUMER = "stats"
STREAM = "SILVER.EVENTS_STATS_STRM"


@dataclass(frozen=True)
class Spec:
    topics: tuple[str, ...]
    table: str
    columns: dict[str, str]  # column -> expression over e (event) and p (payload element)
    key: tuple[str, ...] = ("EVENT_KEY",)
    flatten: bool = False  # one row per element of a payload array
    # (low, high) of a payload field, by its path, where the defaults do not fit: whole
    # numbers in [0, MAX_AMOUNT] for NUMBER columns, [0, MAX_MEASURE] for FLOAT (fee
    # rates, sizes, rates of inflow: none is negative, and gold's tests say so too).
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    shape: str = "object"  # the payload's JSON type: object, array, or a scalar ("number")
    checks: tuple[str, ...] = ()  # further `WHEN ... THEN reason` clauses of this topic


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
        # BTC here: at most the supply, and its satoshis must fit TOTAL_FEE_SAT.
        ranges={"total_fee": (0, 21_000_000)},
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
        shape="number",
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
        shape="array",
        checks=(
            f"WHEN NOT {is_object('p.value')} "
            "THEN 'type drift: a projected block is not an object'",
            number_array_reason("p.value:feeRange", "feeRange"),
        ),
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
        # Times to or since a retarget may run past it (negative while a block is late);
        # a difficulty change is a signed percentage.
        ranges={
            "remainingTime": (-MAX_AMOUNT, MAX_AMOUNT),
            "estimatedRetargetDate": (-MAX_AMOUNT, MAX_AMOUNT),
            "difficultyChange": (-MAX_MEASURE, MAX_MEASURE),
            "previousRetarget": (-MAX_MEASURE, MAX_MEASURE),
        },
    ),
    Spec(
        ("live-2h-chart",),
        "SILVER.LIVE_2H_CHART",
        {
            "EVENT_KEY": "e.EVENT_KEY",
            "RECEIVED_AT": "e.RECEIVED_AT",
            # Older servers sent an ISO `added` (no time here) and `unconfirmed_transactions`.
            "ADDED_AT_S": f"CASE WHEN {is_json_number('e.PAYLOAD:added')} "
            "THEN CAST(e.PAYLOAD:added AS NUMBER) END",
            "TX_COUNT": (
                "COALESCE(e.PAYLOAD:count::NUMBER, e.PAYLOAD:unconfirmed_transactions::NUMBER)"
            ),
            "VBYTES_PER_SECOND": "e.PAYLOAD:vbytes_per_second::FLOAT",
            "MEMPOOL_BYTE_WEIGHT": "e.PAYLOAD:mempool_byte_weight::NUMBER",
            "TOTAL_FEE_SAT": "e.PAYLOAD:total_fee::NUMBER",
            "MIN_FEE": "e.PAYLOAD:min_fee::FLOAT",
            "VSIZES": "e.PAYLOAD:vsizes",
        },
        checks=(
            f"WHEN {is_json_number('e.PAYLOAD:added')} AND NOT COALESCE("
            f"TRY_TO_DOUBLE(TO_JSON(e.PAYLOAD:added)) BETWEEN {GENESIS_TIME_S} AND {2**40} "
            "AND TRY_TO_DOUBLE(TO_JSON(e.PAYLOAD:added)) = "
            "FLOOR(TRY_TO_DOUBLE(TO_JSON(e.PAYLOAD:added))), FALSE) "
            "THEN 'implausible: added is not a time'",
        ),
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
# NUMBER(p, s) with a scale holds fractions; a plain NUMBER holds whole numbers.
NUMERIC_READ = re.compile(
    r"((?:e\.PAYLOAD|p\.value)(?::[\w.]+)?)::(NUMBER|FLOAT)(?:\(\d+,\s*(\d+)\))?"
)
# What each payload must be: its JSON type, checked before any field is read.
SHAPES: dict[str, Callable[[str], str]] = {"object": is_object, "array": is_array}
# mempool.space sends at most 8 projected blocks; an index far beyond is not one of them.
MAX_BLOCK_INDEX = 50


def field_label(path: str) -> str:
    return path.split(":", 1)[-1] if ":" in path else "payload"


def drift_reason(spec: Spec) -> str:
    """The first typed field of the spec that is not a number its column can hold, as a
    SQL CASE (NULL when the row is fine)."""
    reads = sorted({read for expr in spec.columns.values() for read in NUMERIC_READ.findall(expr)})
    whens = []
    if spec.flatten:
        whens.append(
            f"WHEN p.index >= {MAX_BLOCK_INDEX} THEN 'implausible: more than "
            f"{MAX_BLOCK_INDEX} items'"
        )
    for path, kind, scale in reads:
        label = field_label(path)
        integral = kind == "NUMBER" and not scale
        low, high = spec.ranges.get(label, (0, MAX_AMOUNT) if integral else (0, MAX_MEASURE))
        whens.append(number_reason(path, label, low, high, integral))
    whens.extend(spec.checks)
    return f"CASE {' '.join(whens)} END" if whens else "CAST(NULL AS VARCHAR)"


def source_rows(spec: Spec, source: str) -> str:
    topics = ", ".join(f"'{t}'" for t in spec.topics)
    frm = f"{source} e"
    if spec.flatten:
        frm += f", LATERAL FLATTEN(input => {array_or_null('e.PAYLOAD')}) p"
    return f"{frm} WHERE e.TOPIC IN ({topics})"


def rejected_rows(spec: Spec, source: str) -> str:
    """Events whose payload is not the spec's shape, and items with a field in drift."""
    record = "p.value" if spec.flatten else "e.PAYLOAD"
    fields = f"""SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, {record} AS RECORD, e.EVENT_KEY,
                        {drift_reason(spec)} AS REASON
                 FROM {source_rows(spec, source)}"""
    if spec.shape not in SHAPES:
        return fields
    topics = ", ".join(f"'{t}'" for t in spec.topics)
    return f"""SELECT e.SOURCE_FILE, e.SOURCE_ROW, e.TOPIC, e.PAYLOAD AS RECORD, e.EVENT_KEY,
                      CASE WHEN NOT {SHAPES[spec.shape]("e.PAYLOAD")}
                           THEN 'type drift: payload is not an {spec.shape}' END AS REASON
               FROM {source} e WHERE e.TOPIC IN ({topics})
               UNION ALL {fields}"""


def merge_sql(spec: Spec, source: str) -> str:
    cols = [*spec.columns, "LOADED_AT"]
    select = ", ".join(f"{expr} AS {col}" for col, expr in spec.columns.items())
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    shape = f"AND {SHAPES[spec.shape]('e.PAYLOAD')}" if spec.shape in SHAPES else ""
    return f"""
        MERGE INTO {spec.table} t
        USING (SELECT {select}, SYSDATE() AS LOADED_AT FROM {source_rows(spec, source)}
               {shape} AND {drift_reason(spec)} IS NULL) s
        ON {on}
        WHEN NOT MATCHED THEN INSERT ({", ".join(cols)})
        VALUES ({", ".join("s." + c for c in cols)})"""


def run(session: Any) -> str:
    held = take_from_stream(session, CONSUMER, STREAM, TOPICS)
    if held.count == 0:
        return "BUILD_STATS: nothing new"
    source = held.events()
    for spec in SPECS:
        quarantine(session, "stats", rejected_rows(spec, source))
        sql(session, merge_sql(spec, source))
    release(session, held)
    return f"BUILD_STATS: {held.count} events into {len(SPECS)} tables"
