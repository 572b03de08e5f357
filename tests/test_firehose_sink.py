"""Delivery to Firehose: limits, partial failures, outages, oversize records."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from ingest import contract
from ingest.firehose_sink import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    FirehoseSink,
    pack_records,
    split_batches,
)
from ingest.spool import Spool
from sandbox import aws_local
from tests.fakes import StubFirehose


def rec(i: int, size: int = 10, topic: str = "fees") -> contract.Record:
    return contract.Record(
        source="ws",
        topic=topic,
        origin_id="conn",
        frame_seq=i,
        received_at="2026-01-01T00:00:00.000Z",
        payload={"x": "y" * size},
    )


def sink(stub: StubFirehose, tmp_path: Path, s3: object = None) -> FirehoseSink:
    return FirehoseSink(
        firehose=stub,
        s3=s3,
        bucket="b",
        deliveries={"stream": "mempool-stream", "conversions": "mempool-conv"},
        spool=Spool(tmp_path / "spool"),
        sleep=lambda _s: None,
    )


def seqs(lines: list[bytes]) -> list[int]:
    return [json.loads(line)["frame_seq"] for line in lines]


def test_batches_respect_record_and_byte_limits() -> None:
    many = [rec(i).to_line() for i in range(20_001)]
    batches = split_batches(many)
    assert [sum(map(len, b)) <= MAX_BATCH_BYTES for b in batches] == [True] * len(batches)
    assert sum(len(b) for b in batches) == 20_001
    assert all(len(pack_records(b)) <= MAX_BATCH_RECORDS for b in batches)
    big = [rec(i, size=900_000).to_line() for i in range(10)]
    batches = split_batches(big)
    assert all(sum(map(len, b)) <= 4 * 1024 * 1024 for b in batches)
    assert sum(len(b) for b in batches) == 10


def test_lines_travel_packed_and_objects_stay_byte_identical(tmp_path: Path) -> None:
    """Firehose bills each record rounded up to 5 KB: lines are packed into records of
    up to 1,000 KiB, whose concatenation (the S3 object) is the same NDJSON."""
    stub = StubFirehose()
    s = sink(stub, tmp_path)
    records = [rec(i, size=300) for i in range(400)]
    for r in records:
        s.add("stream", r)
    s.flush()
    assert len(stub.records["mempool-stream"]) == 1
    assert b"".join(stub.records["mempool-stream"]) == b"".join(r.to_line() for r in records)
    assert s.counters.records == 400 and s.counters.firehose_records == 1


def test_partial_failure_resends_exactly_the_failed_records(tmp_path: Path) -> None:
    stub = StubFirehose(fail_record_indexes=[{1}, {0}])
    s = sink(stub, tmp_path)
    for i in range(5):
        s.add("stream", rec(i, size=400_000))  # two lines fit in one Firehose record
    s.flush()
    # Call 1 delivers records [0, 1] and [4]; [2, 3] fails, is resent, fails again, and
    # goes through on call 3.
    assert stub.calls == 3
    assert sorted(seqs(stub.delivered["mempool-stream"])) == [0, 1, 2, 3, 4]
    assert len(stub.delivered["mempool-stream"]) == 5
    assert s.counters.retried_records == 4


def test_an_outage_spools_and_replays_in_order_with_nothing_lost_or_doubled(
    tmp_path: Path,
) -> None:
    stub = StubFirehose()
    s = sink(stub, tmp_path)
    for i in range(3):
        s.add("stream", rec(i))
    s.flush()
    stub.fail_calls = 10**6  # Firehose goes away
    for i in range(3, 1300):
        s.add("stream", rec(i))
        if i % 400 == 0:
            s.flush()
    s.flush()
    assert s.spool.pending("mempool-stream") == 1297
    stub.fail_calls = 0  # back again
    s.add("stream", rec(1300))
    s.flush()
    delivered = seqs(stub.delivered["mempool-stream"])
    assert delivered == list(range(1301))
    assert s.spool.pending("mempool-stream") == 0


def test_a_replay_interrupted_by_partial_failures_resumes_without_doubles(
    tmp_path: Path,
) -> None:
    stub = StubFirehose(fail_calls=10**6)
    s = sink(stub, tmp_path)
    for i in range(700):
        s.add("stream", rec(i))
    s.flush()
    stub.fail_calls = 0
    # During replay, the first batch partially fails on five calls in a row: each flush
    # probes once, so the replay stalls five times and resumes.
    stub.fail_record_indexes = [{0}] * 5
    s.flush()
    assert s.spool.pending("mempool-stream") > 0
    for _ in range(6):
        s.flush()
    assert s.spool.pending("mempool-stream") == 0
    delivered = seqs(stub.delivered["mempool-stream"])
    assert sorted(delivered) == list(range(700))
    assert len(delivered) == 700


def test_memory_stays_bounded_while_spooling(tmp_path: Path) -> None:
    stub = StubFirehose(fail_calls=10**6)
    s = sink(stub, tmp_path)
    for i in range(2000):
        if s.add("stream", rec(i)):
            s.flush()
        assert s.buffered_bytes() <= MAX_BATCH_BYTES
    s.flush()
    assert s.buffered() == 0
    assert s.spool.pending("mempool-stream") == 2000


@pytest.mark.stack
def test_an_oversize_record_is_stored_whole_in_s3_with_a_pointer(
    moto_endpoint: str, landing: aws_local.Landing, tmp_path: Path
) -> None:
    s3 = boto3.client("s3")
    stub = StubFirehose()
    s = FirehoseSink(
        firehose=stub,
        s3=s3,
        bucket=landing.bucket,
        deliveries={"stream": "mempool-stream"},
        spool=Spool(tmp_path),
        sleep=lambda _s: None,
    )
    huge = rec(9, size=1_100_000, topic="projected-block-transactions")
    s.add("stream", huge)
    s.flush()
    (line,) = stub.delivered["mempool-stream"]
    pointer = contract.parse_line(line)
    assert contract.FLAG_OVERSIZE in pointer.flags
    assert pointer.dedup_key == huge.dedup_key
    body = s3.get_object(Bucket=landing.bucket, Key=pointer.payload["s3_key"])["Body"].read()
    assert pointer.payload["s3_key"].startswith(contract.PREFIX_OVERSIZE)
    assert contract.parse_line(body) == huge


def test_during_an_outage_a_flush_probes_once_and_spools_at_once(tmp_path: Path) -> None:
    """Once records wait in the spool, a flush tries Firehose with one call and, when it
    fails, puts the new records on disk straight away: nothing piles up in memory behind
    a flush that retries for seconds."""
    stub = StubFirehose(fail_calls=10**6)
    s = sink(stub, tmp_path)
    s.add("stream", rec(0))
    s.flush()  # the outage begins: retried with backoff, then spooled
    assert stub.calls == s.max_attempts
    for i in range(1, 4):
        s.add("stream", rec(i))
        before = stub.calls
        s.flush()
        assert stub.calls - before == 1
    assert s.spool.pending("mempool-stream") == 4
    stub.fail_calls = 0
    s.add("stream", rec(4))
    s.flush()
    assert seqs(stub.delivered["mempool-stream"]) == list(range(5))


def test_a_stop_writes_what_firehose_did_not_take_to_the_landing_prefix(
    tmp_path: Path,
) -> None:
    """Firehose down through a stop: the records are spooled on the instance's disk,
    which a replaced instance takes along. The stop writes them under the stream's
    landing prefix (loaded by the same pipe), leaves nothing spooled, and a second
    stop writes nothing more."""
    from tests.fakes import MemoryS3

    s3 = MemoryS3()
    stub = StubFirehose(fail_calls=10**6)
    s = sink(stub, tmp_path, s3)
    s.landing = {"stream": contract.PREFIX_STREAM, "conversions": contract.PREFIX_CONVERSIONS}
    for i in range(30):
        s.add("stream", rec(i))
    s.add("conversions", rec(30, topic="conversions"))
    s.flush()
    assert s.spool.has_pending("mempool-stream")

    assert s.rescue() == 31
    assert not s.spool.has_pending("mempool-stream") and not s.spool.has_pending("mempool-conv")
    by_prefix = {
        prefix: [k for k in s3.objects if k.startswith(f"{prefix}rescued/")]
        for prefix in (contract.PREFIX_STREAM, contract.PREFIX_CONVERSIONS)
    }
    assert [len(keys) for keys in by_prefix.values()] == [1, 1]
    stream_lines = s3.objects[by_prefix[contract.PREFIX_STREAM][0]].splitlines(keepends=True)
    assert stream_lines == [rec(i).to_line() for i in range(30)]
    assert s.counters.rescued == 31
    assert s.rescue() == 0 and len(s3.objects) == 2


def test_a_stop_keeps_the_spool_when_s3_refuses_too(tmp_path: Path) -> None:
    class RefusingS3:
        def put_object(self, **_kw: object) -> None:
            raise ConnectionError("s3 unavailable")

    stub = StubFirehose(fail_calls=10**6)
    s = sink(stub, tmp_path, RefusingS3())
    s.landing = {"stream": contract.PREFIX_STREAM}
    for i in range(5):
        s.add("stream", rec(i))
    s.flush()
    assert s.rescue() == 0
    assert s.spool.has_pending("mempool-stream")
    stub.fail_calls = 0
    s.flush()
    assert seqs(stub.delivered["mempool-stream"]) == list(range(5))


def test_a_rescue_stops_at_its_deadline_and_keeps_the_rest(tmp_path: Path) -> None:
    import time

    from tests.fakes import MemoryS3

    s3 = MemoryS3()
    s = sink(StubFirehose(fail_calls=10**6), tmp_path, s3)
    s.landing = {"stream": contract.PREFIX_STREAM}
    for i in range(5):
        s.add("stream", rec(i))
    s.flush()
    assert s.rescue(deadline=time.monotonic()) == 0
    assert s3.objects == {} and s.spool.pending("mempool-stream") == 5


def test_a_torn_spool_write_does_not_join_the_next_record(tmp_path: Path) -> None:
    """A kill during an append can leave half a line: the next append starts a segment of
    its own, so only the torn record is unreadable (it was never whole)."""
    spool = Spool(tmp_path / "spool")
    spool.append("s", [rec(0).to_line()])
    [segment] = sorted((tmp_path / "spool" / "s").glob("*.ndjson"))
    with segment.open("ab") as fh:
        fh.write(rec(1).to_line()[:20])
    spool.append("s", [rec(2).to_line()])
    sent: list[bytes] = []

    def send(batch: list[bytes]) -> list[bytes]:
        sent.extend(batch)
        return []

    spool.replay("s", send)
    readable = [json.loads(line)["frame_seq"] for line in sent if line.endswith(b"\n")]
    assert readable == [0, 2] and len(sent) == 3
