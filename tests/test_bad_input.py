"""The bad-input catalogue: one test per kind of bad input that can reach the landing
bucket. Each ends in SILVER or in quarantine with its reason, good data landed after it
still flows, and the ledger holds: raw rows = clean + duplicates + quarantined."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ingest import contract
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from tests.warehouse_helpers import cycle, land, q, rec

pytestmark = pytest.mark.stack

BLOCK = Model(seed=61, start_time=1_760_000_000, history_blocks=2).chain[-1].to_api()


def line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record) + "\n").encode()


def good(seq: int) -> contract.Record:
    return rec("fees", {"fastestFee": 5.0, "halfHourFee": 4.0, "hourFee": 3.0}, seq, "good")


@dataclass(frozen=True)
class Case:
    body: bytes
    prefix: str = contract.PREFIX_STREAM
    # What the bad lines become: quarantine reasons, or rows in SILVER.EVENTS by topic.
    quarantined: tuple[str, ...] = ()
    clean_topics: tuple[str, ...] = ()
    duplicates: int = 0
    extra: Callable[[LocalSnowflake], None] | None = None


def as_string_height() -> dict[str, Any]:
    return {**BLOCK, "height": str(BLOCK["height"])}


def block_without_previous() -> dict[str, Any]:
    return {k: v for k, v in BLOCK.items() if k != "previousblockhash"}


def check_missing_field(rt: LocalSnowflake) -> None:
    assert q(rt, "SELECT PREVIOUS_BLOCK_HASH, HEIGHT FROM SILVER.BLOCKS") == [
        (None, BLOCK["height"])
    ]


def check_new_field(rt: LocalSnowflake) -> None:
    assert q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES ORDER BY 1") == [
        (5.0,),
        (7.0,),
    ]


CASES: dict[str, Case] = {
    "malformed JSON": Case(b'{"v": 1, "topic": "fees", \n', quarantined=("unparsable JSON",)),
    "invalid UTF-8": Case(
        rec("fees", {"note": "caf"}, 0).to_line().replace(b'"caf"', b'"caf\xe9\xff"'),
        quarantined=("invalid UTF-8 (replaced with U+FFFD at load)",),
    ),
    "empty file": Case(b""),
    "last line without newline": Case(
        rec("fees", {"fastestFee": 7.0}, 0).to_line()
        + rec("fees", {"fastestFee": 8.0}, 1).to_line().rstrip(b"\n"),
        clean_topics=("fees", "fees"),
    ),
    "oversize line": Case(
        rec("transactions", [{"txid": "ab" * 32, "note": "x" * 2000}] * 600, 0).to_line(),
        clean_topics=("transactions",),
    ),
    "unknown topic": Case(
        rec("newTopicFromUpstream", {"anything": 1}, 0).to_line(),
        clean_topics=("newTopicFromUpstream",),
    ),
    "contract version 2": Case(
        line({**rec("fees", {"fastestFee": 1.0}, 0).to_dict(), "v": 2}),
        quarantined=("unsupported contract version",),
    ),
    "type drift: a number as a string": Case(
        rec("block", as_string_height(), 0).to_line(),
        clean_topics=("block",),
        quarantined=("type drift: height is not a number",),
    ),
    "type drift: a new field": Case(
        rec("fees", {"fastestFee": 7.0, "brandNewFee": 2.0}, 0).to_line(),
        clean_topics=("fees",),
        extra=check_new_field,
    ),
    "type drift: a missing field": Case(
        rec("block", block_without_previous(), 0).to_line(),
        clean_topics=("block",),
        extra=check_missing_field,
    ),
    "HTML 429 body": Case(
        b"<html><body><h1>429 Too Many Requests</h1></body></html>\n",
        quarantined=("unparsable JSON",),
    ),
}


def slug(kind: str) -> str:
    """A test id that can also name a bucket."""
    return "".join(c if c.isalnum() else "-" for c in kind.lower()).strip("-")


@pytest.mark.parametrize("kind", list(CASES), ids=[slug(k) for k in CASES])
def test_bad_input(rt: LocalSnowflake, kind: str) -> None:
    case = CASES[kind]
    land(rt, case.prefix, case.body)
    cycle(rt)
    land(rt, contract.PREFIX_STREAM, good(1000).to_line())
    cycle(rt)
    reasons = sorted(r[0] for r in q(rt, "SELECT REASON FROM OPS.QUARANTINE"))
    assert reasons == sorted(case.quarantined)
    topics = sorted(
        r[0] for r in q(rt, "SELECT TOPIC FROM SILVER.EVENTS WHERE ORIGIN_ID <> 'good'")
    )
    assert topics == sorted(case.clean_topics)
    # Later good data still flows, all the way to its SILVER table.
    assert q(rt, "SELECT COUNT(*) FROM SILVER.EVENTS WHERE ORIGIN_ID = 'good'") == [(1,)]
    assert (5.0,) in q(rt, "SELECT FASTEST_FEE_SAT_PER_VB FROM SILVER.RECOMMENDED_FEES")
    if case.extra:
        case.extra(rt)
    assert_ledger_holds(rt)


def test_the_same_file_under_two_keys_is_loaded_once(rt: LocalSnowflake) -> None:
    """A Firehose retry (or a copy) puts the same records under a second key: the pipe
    loads both files, LOAD_EVENTS keeps each record once and counts the rest as
    duplicates."""
    body = contract.encode_ndjson([good(i) for i in range(5)])
    land(rt, contract.PREFIX_STREAM, body)
    land(rt, contract.PREFIX_STREAM, body)
    cycle(rt)
    assert q(rt, "SELECT COUNT(*) FROM SILVER.EVENTS") == [(5,)]
    assert q(rt, "SELECT SUM(DUPLICATE_ROWS) FROM OPS.LOAD_LEDGER") == [(5,)]
    assert_ledger_holds(rt)


def assert_ledger_holds(rt: LocalSnowflake) -> None:
    raw, accounted, balanced, pending = q(
        rt,
        "SELECT SUM(RAW_ROWS), SUM(CLEAN_ROWS) + SUM(DUPLICATE_ROWS) + SUM(QUARANTINED_ROWS), "
        "BOOLAND_AGG(IS_BALANCED), SUM(PENDING_ROWS) FROM OPS.RECONCILIATION",
    )[0]
    assert (raw, balanced, pending) == (accounted, True, 0)
