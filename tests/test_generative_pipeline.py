"""Hostile records nobody here wrote, generated: contract records with values that are
well typed but impossible (extreme and boundary numbers, NaN and Infinity, times far
past and future, heights far off the chain, duplicate keys, huge arrays), landed beside
good data through the real pipes, procedures and dbt on the local engine. Whatever they
hold, these invariants stand after every step:

- every raw record is clean, a duplicate or quarantined with a reason (the ledger
  balances, nothing pending);
- no builder fails: one bad record never stops a stage;
- gold builds with its tests green (what SILVER admits, gold's tests accept), keeps
  advancing as good data arrives, and nothing in it lies past the warehouse clock plus
  the skew the load allows;
- the warehouse server's memory stays bounded.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import contract
from sandbox import aws_local
from sandbox.dbt_local import run_dbt
from sandbox.simulator.model import Model
from sandbox.snowflake_local.runtime import LocalSnowflake
from sandbox.warehouse import LocalWarehouse
from tests.conftest import landing_zone, new_runtime
from tests.warehouse_helpers import cycle, land, q

pytestmark = [pytest.mark.stack, pytest.mark.dbt, pytest.mark.slow]

NOW = datetime.now(UTC).replace(microsecond=0)
MODEL = Model(seed=101, start_time=int(NOW.timestamp()) - 3 * 3600, history_blocks=4)
BLOCK = MODEL.chain[-1].to_api()
# How much the warehouse server may grow over a whole run (the absurd-height record grew
# it to 23 GB before the gap computation was bounded).
MEMORY_BOUND_MB = 1500

# -- values ------------------------------------------------------------------------------

EDGES = [0, -1, 1, 2**31, 2**53, 2**63 - 1, 2**63, -(2**63), 2**64, 10**18, 10**40]
EDGES += [2_100_000_000_000_000, 21_000_000, 0.5, -0.0, 1e308, -1e308, 5e-324, 1e-9]
NON_FINITE = [float("nan"), float("inf"), float("-inf")]

numbers = st.one_of(
    st.sampled_from(EDGES),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(numbers, st.text(max_size=12), st.none(), st.booleans())
# JSON has no NaN or Infinity: a writer that sends them writes a line no strict parser
# takes, so they come one value in twenty (each makes its whole record unparsable).
values = st.integers(0, 19).flatmap(
    lambda k: st.sampled_from(NON_FINITE) if k == 0
    else scalars if k < 4 else st.lists(scalars, max_size=3) if k < 6 else numbers
)  # fmt: skip


def rarely(odd: st.SearchStrategy[Any], usual: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`odd` one time in ten, else `usual`: most records reach the builders."""
    return st.integers(0, 9).flatmap(lambda k: odd if k == 0 else usual)


def times(anchor: datetime) -> st.SearchStrategy[str]:
    """received_at texts: real and recent, far past and future, impossible, malformed."""
    offsets = st.sampled_from(
        [timedelta(0), -timedelta(minutes=30), timedelta(minutes=9), timedelta(hours=2),
         timedelta(days=365 * 300), -timedelta(days=365 * 20)]
    )  # fmt: skip
    good = offsets.map(lambda d: (anchor + d).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
    bad = st.sampled_from(
        ["2026-02-30T10:00:00.000Z", "2025-13-01T00:00:00Z", "2026-01-13T24:00:00Z",
         "2026-01-13 10:00:00", "", "9999-12-31T23:59:59.999999999Z"]
    )  # fmt: skip
    # Mostly plausible: the hostile values that matter most are inside the payloads.
    return rarely(st.one_of(bad, st.integers().map(str)), good)


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    """A real payload with one to three of its fields (at any depth) given hostile values,
    or now and then replaced whole: well typed around, impossible inside."""
    if draw(st.integers(0, 9)) == 0 or not isinstance(base, (dict, list)):
        return draw(values)
    value = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        target, key = value, None
        while True:
            keys = list(range(len(target))) if isinstance(target, list) else sorted(target)
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            inner = target[key]
            if not isinstance(inner, (dict, list)) or not inner or draw(st.booleans()):
                break
            target = inner
        if key is not None:
            target[key] = draw(values)
    return value


def huge(item: Any, above: int) -> st.SearchStrategy[list[Any]]:
    return st.integers(above + 1, above + 3000).map(lambda n: [item] * n)


TX = [("ab" * 32), 12_345, 250.0, 100_000, 49.38, 0, 1_760_000_000]
FULL_SET = {"index": 0, "sequence": 10, "blockTransactions": [TX, ["cd" * 32, *TX[1:]]]}
DELTA = {"index": 0, "sequence": 11, "delta": {"added": [TX], "removed": ["ef" * 32],
                                                "changed": [["ab" * 32, 60.0, 0]]}}  # fmt: skip
BASES: dict[str, list[Any]] = {
    "mempoolInfo": [MODEL.mempool_info()],
    "fees": [MODEL.recommended_fees()],
    "vBytesPerSecond": [1234],
    "mempool-blocks": [MODEL.mempool_blocks()],
    "da": [MODEL.difficulty_adjustment()],
    "live-2h-chart": [MODEL.live_2h_chart(int(NOW.timestamp()) - 120)],
    "block": [BLOCK],
    "blocks": [[b.to_api() for b in MODEL.chain]],
    "block-txids": [{"id": BLOCK["id"], "txids": MODEL.chain[-1].txids[:3]}],
    "conversions": [{"time": int(NOW.timestamp()) - 600, "USD": 90_000, "EUR": 82_000}],
    "historical-price": [{"prices": [{"time": int(NOW.timestamp()) - 7200, "USD": 88_000}]}],
    "projected-block-transactions": [FULL_SET, DELTA],
}
PAYLOADS: dict[str, st.SearchStrategy[Any]] = {
    topic: st.sampled_from(bases).flatmap(mutated) for topic, bases in BASES.items()
}
# Arrays longer than any builder takes: 50 projected blocks, 20,000 transactions.
PAYLOADS["mempool-blocks"] |= huge(MODEL.mempool_blocks()[0], 50)
PAYLOADS["projected-block-transactions"] |= huge(TX, 20_000).map(
    lambda txs: {"index": 0, "sequence": 12, "blockTransactions": txs}
)


@st.composite
def records(draw: st.DrawFn, anchor: datetime) -> list[bytes]:
    """Lines as any writer could put them in S3, a duplicate key now and then."""
    out = []
    for _ in range(draw(st.integers(4, 12))):
        topic = draw(st.sampled_from(sorted(PAYLOADS)))
        record = {
            "v": 1,
            "source": draw(st.sampled_from(["ws", "rest", "backfill"])),
            "topic": topic,
            "origin_id": draw(st.sampled_from(["gen-a", "gen-b"])),
            "frame_seq": draw(rarely(numbers, st.integers(0, 50))),
            "received_at": draw(times(anchor)),
            "payload": draw(PAYLOADS[topic]),
        }
        text = json.dumps(record, separators=(",", ":"))  # NaN/Infinity as JSON5 tokens
        if draw(st.integers(0, 9)) == 0 and text.startswith('{"v":1'):
            text = '{"v":1,' + text[1:]  # a duplicate key
        out.append(text.encode())
    return out


def server_rss_mb(port: int) -> float:
    """Resident memory of the fakesnow server serving `port` (Linux /proc)."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"sandbox.fakesnow_server" in cmdline and str(port).encode() in cmdline:
            status = (entry / "status").read_text()
            kb = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS"))
            return int(kb) / 1024
    raise AssertionError(f"no fakesnow server on port {port}")


# -- the run ----------------------------------------------------------------------------


def land_good(rt: LocalSnowflake, n: int) -> datetime:
    """A mempool sample in the n-th minute of the last hour, twice (Firehose may)."""
    at = NOW - timedelta(minutes=60) + timedelta(minutes=n)
    record = contract.Record(
        source="ws",
        topic="mempoolInfo",
        origin_id="good",
        frame_seq=n,
        received_at=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        payload=MODEL.mempool_info(),
    )
    land(rt, contract.PREFIX_STREAM, record.to_line() * 2)
    return at.replace(second=0, tzinfo=None)


def accounted_for(rt: LocalSnowflake) -> None:
    rows = q(rt, "SELECT TOPIC, IS_BALANCED, PENDING_ROWS FROM OPS.RECONCILIATION")
    assert rows and all(ok and pending == 0 for _, ok, pending in rows), rows
    assert q(rt, "SELECT COUNT(*) FROM OPS.QUARANTINE WHERE COALESCE(REASON, '') = ''") == [(0,)]
    assert q(rt, "SELECT COUNT(*) FROM OPS.CONSUMER_BATCH") == [(0,)]


def gold_holds(rt: LocalSnowflake, workdir: Path, newest_good: datetime) -> None:
    # `build`: gold's own tests too. What SILVER admits must never fail them, or one
    # record would stop gold (dbt skips what depends on a failed test).
    result = run_dbt(rt.warehouse, "build", target_dir=workdir / "dbt-target")
    assert result.returncode == 0, result.stdout[-3000:]
    [(latest,)] = q(rt, "SELECT MAX(MINUTE_AT) FROM GOLD.FCT_MEMPOOL_MINUTELY")
    assert latest is not None and latest >= newest_good, "gold stopped advancing"
    limit = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=10)
    for table, column in OUR_CLOCKS:
        [(newest,)] = q(rt, f"SELECT MAX({column}) FROM GOLD.{table}")
        assert newest is None or newest <= limit, (table, newest)
    assert q(rt, "SELECT HEIGHT FROM GOLD.FCT_BLOCKS GROUP BY 1 HAVING COUNT(*) > 1") == []


OUR_CLOCKS = [
    ("FCT_MEMPOOL_MINUTELY", "MINUTE_AT"),
    ("FCT_BLOCKS", "FIRST_SEEN_AT"),
    ("FCT_PRICES", "RECEIVED_AT"),
    ("FCT_PROJECTED_BLOCK", "PROJECTED_AT"),
]


@pytest.fixture(scope="module")
def generative_landing(moto_endpoint: str) -> Any:
    with landing_zone(moto_endpoint, "generative") as land_:
        yield land_


def test_hostile_records_never_stop_or_falsify_the_pipeline(
    generative_landing: aws_local.Landing,
    fakesnow_server: LocalWarehouse,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rss_at_start = server_rss_mb(fakesnow_server.port)

    @settings(
        max_examples=int(os.environ.get("MEMPOOL_GENERATIVE_RUNS", "3")),
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(batches=st.lists(records(NOW), min_size=3, max_size=6))
    def run(batches: list[list[bytes]]) -> None:
        rt = new_runtime(generative_landing, fakesnow_server)
        rt.deploy()
        try:
            newest = NOW
            for n, lines in enumerate(batches):
                land(rt, contract.PREFIX_STREAM, b"\n".join(lines) + b"\n")
                newest = land_good(rt, n)
                cycle(rt)  # raises if any builder fails
                accounted_for(rt)
            gold_holds(rt, tmp_path_factory.mktemp("dbt"), newest)
            grown = server_rss_mb(fakesnow_server.port) - rss_at_start
            assert grown < MEMORY_BOUND_MB, f"the warehouse server grew by {grown:.0f} MiB"
        finally:
            rt.close()

    run()
