"""What a well-typed value may be: the plausibility rules at the edge of SILVER.

A record can match the contract's types and still be impossible: a time centuries ahead,
a block a million heights above the chain, a count beyond any column's range. One such
record must never stop a builder or freeze a mart, so each rule here sends the record to
OPS.QUARANTINE with its reason, and every value that passes fits its column. The rules
are SQL both Snowflake and the local engine evaluate alike (no TRY_ conversion that one
of them raises on), or pure Python.
"""

from __future__ import annotations

# How far ahead of the warehouse's clock a client's timestamp may be. Clients run on
# NTP-synchronised hosts (Amazon Time Sync on EC2 and Lambda); minutes of skew mean a
# broken clock, and a time in the future would become every mart's newest minute.
MAX_CLOCK_SKEW_MINUTES = 10
# Nothing about Bitcoin happened before its genesis block (2009-01-03 18:15:05 UTC).
GENESIS_TIME_S = 1_231_006_505
GENESIS_DATE = "2009-01-03"
# No count, size or amount in this data can exceed the supply in satoshis (21M BTC).
MAX_AMOUNT = 2_100_000_000_000_000
# Fee rates, percentages and other measures: finite and far from any real value.
MAX_MEASURE = 1e15
# Mainnet blocks arrive every 600 s on average; over any span longer than a day the
# chain has never run more than a few percent ahead of that. Twice the schedule plus a
# day's worth leaves room for any hash-rate surge and rejects only the impossible.
BLOCK_INTERVAL_S = 600
BLOCKS_PER_DAY = 144


def max_plausible_height(now_s: float, tip_height: int | None, tip_mined_s: float | None) -> int:
    """The highest block height a record may claim at `now_s`: no more than Bitcoin's
    schedule since genesis allows, and, once a chain is known, no more above its tip
    than twice the blocks expected since that tip was mined (plus a day's worth)."""
    by_schedule = int(2 * (now_s - GENESIS_TIME_S) / BLOCK_INTERVAL_S) + BLOCKS_PER_DAY
    if tip_height is None or tip_mined_s is None:
        return by_schedule
    elapsed = max(0.0, now_s - tip_mined_s)
    by_tip = tip_height + BLOCKS_PER_DAY + int(2 * elapsed / BLOCK_INTERVAL_S)
    return min(by_schedule, by_tip)


def is_object(path: str) -> str:
    """SQL: the value at `path` is a JSON object (IS_OBJECT, in a form the local engine
    also has: an object's JSON text is the only one that starts with a brace)."""
    return f"COALESCE(LEFT(TO_JSON({path}), 1) = '{{', FALSE)"


def is_array(path: str) -> str:
    return f"COALESCE(IS_ARRAY({path}), FALSE)"


def array_or_null(path: str) -> str:
    """What FLATTEN may be given: the value at `path` if it is an array, else NULL (no
    rows). The local engine fails on a scalar, and a payload can hold anything."""
    return f"CASE WHEN {is_array(path)} THEN {path} END"


# A JSON array of numbers as TO_JSON writes it (no spaces): a fee range. No backslash
# (string literals escape with it in Snowflake, not in the local engine): `[[]` and `[]]`
# are the brackets themselves.
NUMBER = "-?[0-9]{1,15}([.][0-9]+)?([eE][-+]?[0-9]{1,2})?"
NUMBER_ARRAY = f"^[[]({NUMBER}(,{NUMBER})*)?[]]$"


def number_array_reason(path: str, label: str) -> str:
    """SQL `WHEN ... THEN reason`: the value at `path`, if present, is an array of numbers
    (marts read its items as FLOAT)."""
    return (
        f"WHEN {path} IS NOT NULL AND NOT COALESCE(REGEXP_LIKE(TO_JSON({path}), "
        f"'{NUMBER_ARRAY}'), FALSE) THEN 'type drift: {label} is not an array of numbers'"
    )


def is_json_number(path: str) -> str:
    """SQL: the value at `path` is a JSON number (TO_JSON tells 7 from "7")."""
    return f"REGEXP_LIKE(TO_JSON({path}), '^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$')"


def number_reason(path: str, label: str, low: float, high: float, integral: bool) -> str:
    """SQL `WHEN ... THEN reason` clauses for a numeric field: a JSON number (or absent),
    within [low, high], and whole when its column is an integer. The range is checked on
    a DOUBLE, which holds any JSON number, before any cast that could fail."""
    value = f"TRY_TO_DOUBLE(TO_JSON({path}))"
    whens = [
        f"WHEN {path} IS NOT NULL AND NOT {is_json_number(path)} "
        f"THEN 'type drift: {label} is not a number'",
        f"WHEN {path} IS NOT NULL AND NOT COALESCE({value} BETWEEN {low!r} AND {high!r}, FALSE) "
        f"THEN 'implausible: {label} outside [{low:g}, {high:g}]'",
    ]
    if integral:
        whens.append(
            f"WHEN {path} IS NOT NULL AND NOT COALESCE({value} = FLOOR({value}), FALSE) "
            f"THEN 'type drift: {label} is not a whole number'"
        )
    return " ".join(whens)


def timestamp_text_reason(text: str, label: str) -> str:
    """SQL `WHEN ... THEN reason` clauses for an ISO-8601 UTC text (`...T...Z`): a real
    calendar time, from genesis to the warehouse's clock plus the allowed skew. Checked
    with arithmetic on its digits, so TO_TIMESTAMP_NTZ never meets an impossible date
    (Snowflake's TRY_ variant returns NULL there; the local engine raises)."""

    def digits(start: int, length: int) -> str:
        return f"TRY_TO_NUMBER(SUBSTR({text}, {start}, {length}))"

    year, month, day = digits(1, 4), digits(6, 2), digits(9, 2)
    leap = f"(MOD({year}, 4) = 0 AND (MOD({year}, 100) <> 0 OR MOD({year}, 400) = 0))"
    month_days = (
        f"CASE WHEN {month} IN (4, 6, 9, 11) THEN 30 "
        f"WHEN {month} = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END ELSE 31 END"
    )
    fields_ok = (
        f"{month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {month_days} "
        f"AND {digits(12, 2)} <= 23 AND {digits(15, 2)} <= 59 AND {digits(18, 2)} <= 59"
    )
    return (
        f"WHEN NOT COALESCE({fields_ok}, FALSE) THEN 'invalid {label} (not a real time)' "
        f"WHEN {text} < '{GENESIS_DATE}' THEN 'implausible: {label} before Bitcoin existed' "
        f"WHEN TO_TIMESTAMP_NTZ({text}) > DATEADD(MINUTE, {MAX_CLOCK_SKEW_MINUTES}, SYSDATE()) "
        f"THEN 'implausible: {label} ahead of the warehouse clock'"
    )


def unix_time_reason(path: str, label: str, clock: str) -> str:
    """SQL `WHEN ... THEN reason` clauses for a Unix time in seconds (a JSON number):
    from genesis to `clock` (a UTC TIMESTAMP_NTZ: when the record reached SILVER, so the
    answer never changes between the statements, or the retries, that ask) plus the
    allowed skew."""
    value = f"TRY_TO_DOUBLE(TO_JSON({path}))"
    skew_s = MAX_CLOCK_SKEW_MINUTES * 60
    now_s = f"DATEDIFF(SECOND, '1970-01-01'::TIMESTAMP_NTZ, {clock}) + {skew_s}"
    return (
        f"WHEN {path} IS NULL OR NOT {is_json_number(path)} "
        f"THEN '{label} is not a number' "
        f"WHEN NOT COALESCE({value} = FLOOR({value}), FALSE) "
        f"THEN 'type drift: {label} is not a whole number' "
        f"WHEN {value} < {GENESIS_TIME_S} "
        f"THEN 'implausible: {label} before Bitcoin existed' "
        f"WHEN {value} > {now_s} "
        f"THEN 'implausible: {label} ahead of the warehouse clock'"
    )
