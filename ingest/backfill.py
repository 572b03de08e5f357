"""`mempool backfill`: history in the same contract, to the same prefixes, so Snowpipe
loads it like live data.

Idempotent by construction: a block's record is keyed by the block itself (origin
`backfill-block-<hash>`, frame_seq its height) and a price's by the hour (origin
`backfill-prices-<currency>`), so a re-run produces the same dedup keys for the same
data, and new keys for a block that replaced another at its height. Resumable: a
checkpoint file records the next position after every object written. Polite: a
configurable request rate, and backoff on 429/5xx.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from ingest import contract
from ingest.mempool_api import MempoolApi, Retryable

log = logging.getLogger("mempool.backfill")


class Progress:
    """A one-line progress bar on stderr (no dependencies: this runs anywhere)."""

    def __init__(self, total: int, label: str, stream: TextIO = sys.stderr) -> None:
        self.total = max(1, total)
        self.label = label
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()

    def advance(self, n: int) -> None:
        self.done += n
        frac = min(1.0, self.done / self.total)
        rate = self.done / max(1e-6, time.monotonic() - self.started)
        eta = (self.total - self.done) / rate if rate > 0 else 0
        bar = "#" * int(frac * 30)
        self.stream.write(
            f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {frac:5.1%} eta {eta:4.0f}s"
        )
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\n")


@dataclass
class Pacer:
    """At most `rate_per_s` requests per second."""

    rate_per_s: float
    sleep: Callable[[float], None] = time.sleep
    _last: float = 0.0

    def wait(self) -> None:
        if self.rate_per_s <= 0:
            return
        gap = 1.0 / self.rate_per_s - (time.monotonic() - self._last)
        if gap > 0:
            self.sleep(gap)
        self._last = time.monotonic()


class Checkpoint:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
            return data
        except FileNotFoundError:
            return None

    def save(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(self.path)


def _with_retries(
    call: Callable[[], Any],
    pacer: Pacer,
    attempts: int = 6,
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    for attempt in range(1, attempts + 1):
        pacer.wait()
        try:
            return call()
        except Retryable as exc:
            if attempt == attempts:
                raise
            delay = min(60.0, 2.0**attempt)
            log.warning("%s; backing off %.0fs", exc, delay)
            sleep(delay)
    raise AssertionError("unreachable")


def object_key(prefix: str, now: datetime, origin: str, records: list[contract.Record]) -> str:
    """Where an object of a run lands. The digest of what was fetched (not of when) is
    part of the name: a re-run that fetched the same data writes the same object again,
    and one that fetched other data (a reorg) a new one, which Snowpipe loads (it skips
    a name it has loaded)."""
    fetched = json.dumps([r.payload for r in records], sort_keys=True).encode()
    digest = hashlib.sha256(fetched).hexdigest()[:16]
    first, last = records[0].frame_seq, records[-1].frame_seq
    return f"{prefix}{now:%Y/%m/%d/%H}/{origin}-{first}-{last}-{digest}.ndjson"


def block_origin(block_hash: str) -> str:
    """The origin of a backfilled block's record: `backfill-block-<hash>`."""
    return f"backfill-block-{block_hash}"


def backfill_blocks(
    api: MempoolApi,
    s3: Any,
    bucket: str,
    from_height: int,
    to_height: int,
    checkpoint: Checkpoint,
    rate_per_s: float = 2.0,
    pages_per_object: int = 10,
    show_progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Blocks from_height..to_height (inclusive), newest first, 15 a page."""
    if from_height > to_height:
        raise ValueError("--from must not be above --to")
    origin = f"backfill-blocks-{from_height}-{to_height}"
    state = checkpoint.load() or {}
    if state.get("origin") not in (None, origin):
        raise ValueError(f"checkpoint {checkpoint.path} belongs to {state['origin']}")
    next_height = int(state.get("next_height", to_height))
    # Pages fetched but not yet written travel in the checkpoint: a stop costs at most
    # the page in flight, however many pages an object holds.
    pending: list[Any] = list(state.get("pending", []))
    pages = int(state.get("pending_pages", 0))
    pacer = Pacer(rate_per_s, sleep)
    progress = Progress(to_height - from_height + 1, "blocks") if show_progress else None
    if progress:
        progress.advance(to_height - next_height - len(pending))
    written = 0
    while next_height >= from_height or pending:
        while pages < pages_per_object and next_height >= from_height:
            start = next_height
            page = _with_retries(partial(api.blocks, start), pacer, sleep=sleep)
            page = [b for b in page if from_height <= b["height"] <= start]
            if not page:
                next_height = from_height - 1
                break
            pending.extend(page)
            pages += 1
            next_height = min(b["height"] for b in page) - 1
            checkpoint.save(
                {
                    "origin": origin,
                    "next_height": next_height,
                    "pending": pending,
                    "pending_pages": pages,
                }
            )
        if pending:
            now = datetime.now(UTC)
            records = [
                contract.Record(
                    source="backfill",
                    topic=contract.TOPIC_BLOCK,
                    # A block's key names the block, not the run's range: a re-run after a
                    # reorg sees another block at a height, which must not be taken for a
                    # copy of the first; the same block fetched again is one.
                    origin_id=block_origin(b["id"]),
                    frame_seq=b["height"],
                    received_at=contract.format_time(now),
                    payload=b,
                )
                for b in sorted(pending, key=lambda b: b["height"])
            ]
            body = contract.encode_ndjson(records)
            s3.put_object(
                Bucket=bucket,
                Key=object_key(contract.PREFIX_BLOCKS, now, origin, records),
                Body=body,
            )
            written += len(records)
            if progress:
                progress.advance(len(records))
        pending, pages = [], 0
        checkpoint.save({"origin": origin, "next_height": next_height})
    if progress:
        progress.close()
    return written


def backfill_prices(
    api: MempoolApi,
    s3: Any,
    bucket: str,
    since: datetime,
    until: datetime,
    checkpoint: Checkpoint,
    currency: str = "USD",
    rate_per_s: float = 2.0,
    hours_per_object: int = 24,
    show_progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """One historical price per hour from `since` to `until`."""
    first = int(since.timestamp()) // 3600 * 3600
    last = int(until.timestamp()) // 3600 * 3600
    origin = f"backfill-prices-{currency}"
    state = checkpoint.load() or {}
    next_ts = max(first, int(state.get("next_ts", first)))
    # Prices fetched but not yet written travel in the checkpoint (see backfill_blocks).
    pending: list[dict[str, Any]] = list(state.get("pending", []))
    pacer = Pacer(rate_per_s, sleep)
    total = (last - first) // 3600 + 1
    progress = Progress(total, "prices") if show_progress else None
    if progress:
        progress.advance((next_ts - first) // 3600 - len(pending))
    written = 0
    while next_ts <= last or pending:
        while len(pending) < hours_per_object and next_ts <= last:
            ts = next_ts
            payload = _with_retries(partial(api.historical_price, currency, ts), pacer, sleep=sleep)
            pending.append(
                contract.Record(
                    source="backfill",
                    topic=contract.TOPIC_HISTORICAL_PRICE,
                    origin_id=origin,
                    frame_seq=ts // 3600,
                    received_at=contract.utc_now_iso(),
                    payload={"currency": currency, "timestamp": ts, **payload},
                ).to_dict()
            )
            next_ts += 3600
            checkpoint.save({"origin": origin, "next_ts": next_ts, "pending": pending})
        records = [contract.validate(r) for r in pending]
        now = datetime.now(UTC)
        body = contract.encode_ndjson(records)
        s3.put_object(
            Bucket=bucket,
            Key=object_key(contract.PREFIX_PRICES, now, origin, records),
            Body=body,
        )
        written += len(records)
        pending = []
        checkpoint.save({"origin": origin, "next_ts": next_ts})
        if progress:
            progress.advance(len(records))
    if progress:
        progress.close()
    return written
