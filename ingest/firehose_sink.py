"""Deliver contract records to Kinesis Data Firehose without losing any.

- Batches respect PutRecordBatch's limits: 500 records, 4 MiB per call.
- Consecutive NDJSON lines travel packed into one Firehose record of up to 1,000 KiB:
  Firehose concatenates record data into the S3 object, so the object is the same
  NDJSON byte for byte, while ingestion (billed per record, rounded up to 5 KB) costs
  what the bytes weigh instead of 5 KB per line.
- A record above Firehose's 1,000 KiB limit is stored whole in S3 under `oversize/`
  and a pointer record takes its place.
- After a partial failure only the failed records are resent, with backoff.
- When Firehose stays unavailable, records go to an on-disk journal (the spool) and
  are replayed in order once it answers again; while anything is spooled for a
  stream, new records queue behind it so order is kept.
- Once a stop is under way (`stop_by`), no call starts after the deadline: whatever
  Firehose has not taken by then is spooled, so a stop is prompt and loses nothing.
- After the last flush of a stop, what the spool still holds is written straight to S3
  under the prefix Firehose writes to (`rescue`): the spool lives on the instance's disk,
  and an instance that is replaced (each new streamer package replaces it) takes the
  disk along.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest import contract, fastjson
from ingest.spool import ReplayStalled, Spool

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 4 * 1024 * 1024
# A stop's rescue object: a few writes for a long outage's spool, each within what one
# PUT sends in seconds; Snowpipe bills per file as well as per byte.
RESCUE_OBJECT_BYTES = 64 * 1024 * 1024


class DeliveryUnavailable(RuntimeError):
    """Firehose did not take these records after the allowed attempts."""

    def __init__(self, message: str, remaining: list[bytes]) -> None:
        super().__init__(message)
        self.remaining = remaining


@dataclass
class SinkCounters:
    records: int = 0  # contract records (lines) delivered
    firehose_records: int = 0  # Firehose records they travelled in (what is billed)
    batches: int = 0
    retried_records: int = 0
    spooled: int = 0
    replayed: int = 0
    replayed_batches: int = 0
    oversize: int = 0
    rescued: int = 0  # spooled records written straight to S3 at a stop

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class FirehoseSink:
    firehose: Any
    s3: Any
    bucket: str
    deliveries: dict[str, str]  # route ("stream", "conversions") -> delivery stream name
    spool: Spool
    # route -> the S3 prefix its Firehose stream writes to (where a stop's rescue goes)
    landing: dict[str, str] = field(default_factory=dict)
    max_attempts: int = 5
    base_backoff_s: float = 0.2
    max_backoff_s: float = 5.0
    sleep: Callable[[float], None] = time.sleep
    counters: SinkCounters = field(default_factory=SinkCounters)

    def __post_init__(self) -> None:
        self._buffers: dict[str, list[bytes]] = {route: [] for route in self.deliveries}
        self._sizes: dict[str, int] = dict.fromkeys(self.deliveries, 0)
        self._lock = threading.Lock()
        self._deadline: float | None = None

    def stop_by(self, deadline: float) -> None:
        """From now on, give up on Firehose at `deadline` (time.monotonic) and spool."""
        self._deadline = deadline

    def _past_deadline(self) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    # -- buffering ---------------------------------------------------------------------

    def add(self, route: str, record: contract.Record) -> bool:
        """Buffer one record; True when a batch is full and should be flushed."""
        line = fastjson.dumps_line(record.to_dict())
        if len(line) > contract.MAX_RECORD_BYTES:
            line = self._store_oversize(record, line)
        with self._lock:
            self._buffers[route].append(line)
            self._sizes[route] += len(line)
            # Lines travel packed, so a call is bounded by bytes, not by lines.
            return self._sizes[route] >= MAX_BATCH_BYTES

    def buffered(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._buffers.values())

    def buffered_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def _store_oversize(self, record: contract.Record, line: bytes) -> bytes:
        key = (
            f"{contract.PREFIX_OVERSIZE}{record.origin_id}/"
            f"{record.frame_seq:012d}-{record.topic}.json"
        )
        self.s3.put_object(
            Bucket=self.bucket, Key=key, Body=line, ContentType="application/x-ndjson"
        )
        self.counters.oversize += 1
        log.warning(
            "record %s is %d bytes: stored whole at s3://%s/%s",
            record.dedup_key,
            len(line),
            self.bucket,
            key,
        )
        pointer = contract.Record(
            source=record.source,
            topic=record.topic,
            origin_id=record.origin_id,
            frame_seq=record.frame_seq,
            received_at=record.received_at,
            payload={"s3_key": key, "bytes": len(line), "sha256": hashlib.sha256(line).hexdigest()},
            flags=(*record.flags, contract.FLAG_OVERSIZE),
        )
        return pointer.to_line()

    # -- at a stop ---------------------------------------------------------------------

    def rescue(self, deadline: float | None = None) -> int:
        """Write what the spool holds for each stream to S3 as NDJSON objects under that
        stream's landing prefix, where the pipe loads them as it loads Firehose's (the
        lines are the same bytes Firehose would have written). S3 is another service,
        seldom down when Firehose is; what it refuses, or what is left at `deadline`
        (time.monotonic: the stop's budget), stays spooled for the next start. An object
        is named by its content's digest, so a retried write is the same object; objects
        are large (RESCUE_OBJECT_BYTES) so a long outage's spool is a few writes.
        Returns the number of records written."""
        rescued = 0
        for route, name in self.deliveries.items():
            prefix = self.landing.get(route)
            if prefix is None or not self.spool.has_pending(name):
                continue
            try:
                rescued += self.spool.replay(
                    name,
                    functools.partial(self._put_object, prefix, deadline),
                    batch_records=RESCUE_OBJECT_BYTES,
                    batch_bytes=RESCUE_OBJECT_BYTES,
                )
            except ReplayStalled:
                log.warning(
                    "firehose %s: %d spooled records stay on disk for the next start",
                    name,
                    self.spool.pending(name),
                )
        self.counters.rescued += rescued
        return rescued

    def _put_object(self, prefix: str, deadline: float | None, lines: list[bytes]) -> list[bytes]:
        if deadline is not None and time.monotonic() >= deadline:
            return lines
        body = b"".join(lines)
        key = f"{prefix}rescued/{hashlib.sha256(body).hexdigest()}.ndjson"
        try:
            self.s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType="application/x-ndjson"
            )
        except Exception as exc:
            log.warning("could not write s3://%s/%s (%s)", self.bucket, key, type(exc).__name__)
            return lines
        log.warning(
            "%d records Firehose did not take before the stop: written to s3://%s/%s",
            len(lines),
            self.bucket,
            key,
        )
        return []

    # -- sending -----------------------------------------------------------------------

    def flush(self) -> None:
        """Deliver everything buffered (spooling what Firehose will not take)."""
        for route, name in self.deliveries.items():
            with self._lock:
                lines, self._buffers[route] = self._buffers[route], []
                self._sizes[route] = 0
            self._deliver(name, lines)

    def _deliver(self, name: str, lines: list[bytes]) -> None:
        if self.spool.has_pending(name):
            # Firehose was down: one call with the oldest batch tells whether it is back.
            # Retrying here with backoff would hold this flush for seconds while new
            # records pile up in memory; they go to disk at once instead.
            try:
                self.counters.replayed += self.spool.replay(
                    name, lambda b: self._try_put(name, b, attempts=1)
                )
            except ReplayStalled:
                # The journal keeps its own checkpoint; new records queue behind it.
                self._to_spool(name, lines)
                return
        batches = split_batches(lines)
        for i, batch in enumerate(batches):
            try:
                self._put(name, batch)
            except DeliveryUnavailable as exc:
                later = [line for b in batches[i + 1 :] for line in b]
                self._to_spool(name, exc.remaining + later)
                return

    def _to_spool(self, name: str, lines: list[bytes]) -> None:
        if lines:
            self.spool.append(name, lines)
            self.counters.spooled += len(lines)
            log.warning("firehose %s unavailable: spooled %d records", name, len(lines))

    def _try_put(self, name: str, batch: list[bytes], attempts: int | None = None) -> list[bytes]:
        """Deliver a batch; return the lines that could not be delivered."""
        try:
            self._put(name, batch, attempts)
        except DeliveryUnavailable as exc:
            return exc.remaining
        self.counters.replayed_batches += 1
        return []

    def _put(self, name: str, batch: list[bytes], attempts: int | None = None) -> None:
        """PutRecordBatch with per-record retries; DeliveryUnavailable when out of attempts.
        `batch` is lines; they are sent packed, and a failed record's lines are resent."""
        pending = pack_records(batch)
        max_attempts = attempts or self.max_attempts
        for attempt in range(1, max_attempts + 1):
            if self._past_deadline():
                raise DeliveryUnavailable(f"{name}: stopping; left for the spool", unpack(pending))
            try:
                resp = self.firehose.put_record_batch(
                    DeliveryStreamName=name, Records=[{"Data": b"".join(r)} for r in pending]
                )
            except Exception as exc:
                if attempt == max_attempts:
                    raise DeliveryUnavailable(
                        f"{name}: {type(exc).__name__}: {exc}", unpack(pending)
                    ) from exc
                log.info("firehose %s call failed (%s); retry %d", name, exc, attempt)
                self.sleep(self._backoff(attempt))
                continue
            failed = int(resp.get("FailedPutCount", 0))
            if failed == 0:
                self.counters.records += sum(len(r) for r in pending)
                self.counters.firehose_records += len(pending)
                self.counters.batches += 1
                return
            results = resp["RequestResponses"]
            retry = [rec for rec, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            delivered = [
                rec for rec, r in zip(pending, results, strict=True) if not r.get("ErrorCode")
            ]
            self.counters.records += sum(len(r) for r in delivered)
            self.counters.firehose_records += len(delivered)
            self.counters.retried_records += sum(len(r) for r in retry)
            codes = sorted({r["ErrorCode"] for r in results if r.get("ErrorCode")})
            log.info(
                "firehose %s: %d of %d records failed (%s); resending those",
                name,
                len(retry),
                len(pending),
                ", ".join(codes),
            )
            pending = retry
            if attempt < max_attempts:
                self.sleep(self._backoff(attempt))
        raise DeliveryUnavailable(f"{name}: {len(pending)} records still failing", unpack(pending))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.base_backoff_s * 2 ** (attempt - 1))
        delay = random.uniform(ceiling / 2, ceiling)
        if self._deadline is not None:
            delay = max(0.0, min(delay, self._deadline - time.monotonic()))
        return delay


def group_lines(
    lines: list[bytes], max_bytes: int, max_count: int | None = None
) -> list[list[bytes]]:
    """Consecutive lines in groups of at most `max_bytes` (and `max_count` lines); a line
    above `max_bytes` makes a group of its own."""
    groups: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for line in lines:
        full = max_count is not None and len(current) >= max_count
        if current and (full or size + len(line) > max_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        groups.append(current)
    return groups


def pack_records(lines: list[bytes]) -> list[list[bytes]]:
    """Lines packed into Firehose records of at most 1,000 KiB (a longer line never gets
    here: it went to oversize/)."""
    return group_lines(lines, contract.MAX_RECORD_BYTES)


def unpack(records: list[list[bytes]]) -> list[bytes]:
    return [line for record in records for line in record]


def split_batches(lines: list[bytes]) -> list[list[bytes]]:
    """Group lines into PutRecordBatch calls of at most 4 MiB. Packed into records of up
    to 1,000 KiB, a call holds at most five records, far within its 500."""
    return group_lines(lines, MAX_BATCH_BYTES)
