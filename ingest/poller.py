"""One run of the REST poller (the Lambda, every minute).

Per run: new blocks since the stored tip (re-fetching back to the fork point after a
reorg), then older gaps while the time budget lasts, then prices, recommended fees and
the mempool summary, then what each new block mined (`/block/:hash/txids`, one request
per new block; the ones the budget leaves wait in the state for the next run). Each
topic is written as one NDJSON object under its prefix; the state object advances only
after the data it describes is in S3, and only by a conditional write.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from ingest import contract
from ingest.mempool_api import ApiError, MempoolApi, NotFound, Retryable
from ingest.poll_state import (
    RECENT_KEPT,
    TXIDS_PENDING_KEPT,
    PollState,
    StateConflict,
    StateStore,
)

log = logging.getLogger("mempool.poll")

PAGE = 15


@dataclass
class PollOptions:
    budget_s: float = 6.0  # well inside the Lambda's 10 s timeout
    lookback_blocks: int = 144  # how far back the first run fills history
    request_timeout_s: float = 2.5
    source: contract.Source = "rest"


@dataclass
class PollResult:
    run_id: str
    blocks_written: int = 0
    txids_written: int = 0
    reorg_depth: int = 0
    gaps_left: int = 0
    tip_height: int | None = None
    advanced: bool = False
    stopped: str = "done"
    objects: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # resources that failed this run

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def object_key(prefix: str, run_id: str, now: datetime, label: str) -> str:
    return f"{prefix}{now:%Y/%m/%d/%H}/{label}-{run_id}.ndjson"


class Poller:
    def __init__(
        self,
        api: MempoolApi,
        s3: Any,
        bucket: str,
        state_key: str,
        opts: PollOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.api = api
        self.s3 = s3
        self.bucket = bucket
        self.store = StateStore(s3, bucket, state_key)
        self.opts = opts or PollOptions()
        self.clock = clock

    def run(self) -> PollResult:
        started = self.clock()
        deadline = started + self.opts.budget_s
        run_id = f"poll-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        result = PollResult(run_id=run_id)
        self._backed_off: Retryable | None = None
        self._blocks_failed: Retryable | None = None
        state, etag = self.store.load()
        blocks: dict[str, Any] = {}
        new_state: PollState | None = state
        try:
            new_state = self._fetch_blocks(state, deadline, blocks, result)
        except ApiError as exc:
            result.stopped = f"api error: {exc}"
            log.error("run %s: %s", run_id, exc)

        if self._backed_off is not None:
            result.stopped = f"backed off: {self._backed_off}"
            log.warning("run %s: %s", run_id, self._backed_off)
        elif self._blocks_failed is not None:
            result.skipped.append("blocks")
            log.warning("run %s: blocks skipped (retryable): %s", run_id, self._blocks_failed)
        now = datetime.now(UTC)
        received_at = contract.format_time(now)
        if blocks:
            ordered = sorted(blocks.values(), key=lambda b: b["height"])
            records = contract.rest_records(
                contract.TOPIC_BLOCK,
                ordered,
                origin_id=run_id,
                received_at=received_at,
                source=self.opts.source,
            )
            result.objects.append(self._put(contract.PREFIX_BLOCKS, run_id, now, "blocks", records))
            result.blocks_written = len(ordered)

        if not result.stopped.startswith("backed off"):
            self._poll_stats(run_id, now, received_at, deadline, result)
        if new_state is not None and not result.stopped.startswith("backed off"):
            new_state = self._fetch_txids(new_state, state, run_id, now, deadline, result)

        if new_state is not None and new_state is not state:
            try:
                self.store.save(new_state, etag)
                result.advanced = True
            except StateConflict as exc:
                # Another run got there first; our objects are duplicates that
                # Snowflake removes by key. Nothing else to undo.
                result.stopped = f"state conflict: {exc}"
                log.warning("run %s: %s", run_id, exc)
        if new_state is not None:
            result.tip_height = new_state.tip_height
            result.gaps_left = sum(hi - lo + 1 for lo, hi in new_state.gaps)
        log.info("poll run %s: %s", run_id, result.as_dict())
        return result

    # -- blocks ------------------------------------------------------------------------

    def _time_left(self, deadline: float) -> float:
        return deadline - self.clock()

    def _page(self, start: int | None, deadline: float) -> list[Any] | None:
        """One page of 15 blocks, or None when the budget is spent or the API pushes back
        (what was fetched so far is still written and recorded in the state)."""
        if self._backed_off is not None or self._time_left(deadline) < self.opts.request_timeout_s:
            return None
        try:
            return self.api.blocks(start, timeout_s=self.opts.request_timeout_s)
        except Retryable as exc:
            if exc.status == 429:
                self._backed_off = exc
            else:
                self._blocks_failed = exc
            return None

    def _fetch_blocks(
        self, state: PollState | None, deadline: float, blocks: dict[str, Any], result: PollResult
    ) -> PollState | None:
        """Fetch what is missing; return the state that describes what will be written."""
        top = self._page(None, deadline)
        if not top:
            return state
        fetched: dict[int, Any] = {b["height"]: b for b in top}
        tip = max(fetched.values(), key=lambda b: b["height"])

        if state is None:
            floor = max(0, tip["height"] - self.opts.lookback_blocks + 1)
            kept = {h: b for h, b in fetched.items() if h >= floor}
            blocks.update({b["id"]: b for b in kept.values()})
            low = min(kept)
            new = PollState(
                tip_height=tip["height"],
                tip_hash=tip["id"],
                floor_height=floor,
                recent={h: b["id"] for h, b in kept.items()},
                gaps=[(floor, low - 1)] if low > floor else [],
                txids_pending=[kept[h]["id"] for h in sorted(kept)],
            )
            self._fill_gaps(new, deadline, blocks)
            return new

        # Walk down from the tip until a height whose hash we already wrote: the fork
        # point (or the old tip itself when there was no reorg).
        ancestor: int | None = None
        low = min(fetched)
        while True:
            for h in sorted((h for h in fetched if h >= low), reverse=True):
                if state.recent.get(h) == fetched[h]["id"]:
                    ancestor = h
                    break
            if ancestor is not None or low <= state.floor_height:
                break
            if state.recent and low <= min(state.recent):
                break  # deeper than we remember: write all we fetched
            page = self._page(low - 1, deadline)
            if not page:
                break
            fetched.update({b["height"]: b for b in page})
            low = min(fetched)

        if ancestor is not None and tip["id"] == state.tip_hash:
            new = replace(state, recent=dict(state.recent), gaps=list(state.gaps))
            changed = self._fill_gaps(new, deadline, blocks)
            return new if changed else state

        cutoff = ancestor if ancestor is not None else low - 1
        to_write = {h: b for h, b in fetched.items() if h > cutoff}
        blocks.update({b["id"]: b for b in to_write.values()})
        if ancestor is not None and ancestor < state.tip_height:
            result.reorg_depth = state.tip_height - ancestor
            log.warning("reorg: %d block(s) replaced above height %d", result.reorg_depth, ancestor)
        gaps = list(state.gaps)
        if ancestor is None and low > state.tip_height + 1:
            # The budget ran out before we reached the old tip: remember the hole.
            gaps.insert(0, (state.tip_height + 1, low - 1))
        recent = {**state.recent, **{h: b["id"] for h, b in to_write.items()}}
        recent = {h: recent[h] for h in sorted(recent)[-RECENT_KEPT:] if h <= tip["height"]}
        new = PollState(
            tip_height=tip["height"],
            tip_hash=tip["id"],
            floor_height=state.floor_height,
            recent=recent,
            gaps=gaps,
            txids_pending=state.txids_pending + [to_write[h]["id"] for h in sorted(to_write)],
        )
        self._fill_gaps(new, deadline, blocks)
        return new

    def _fill_gaps(self, state: PollState, deadline: float, blocks: dict[str, Any]) -> bool:
        """Fill older gaps, highest first, while the budget lasts. True if any progress."""
        progress = False
        while state.gaps:
            lo, hi = state.gaps[0]
            page = self._page(hi, deadline)
            if page is None:
                break
            got = [b for b in page if lo <= b["height"] <= hi]
            blocks.update({b["id"]: b for b in got})
            progress = True
            bottom = min((b["height"] for b in page), default=lo)
            if not page or bottom <= lo or len(page) < PAGE:
                state.gaps.pop(0)  # filled, or the chain has nothing lower
            else:
                state.gaps[0] = (lo, bottom - 1)
        return progress

    # -- what new blocks mined ---------------------------------------------------------

    def _fetch_txids(
        self,
        state: PollState,
        loaded: PollState | None,
        run_id: str,
        now: datetime,
        deadline: float,
        result: PollResult,
    ) -> PollState:
        """Fetch the pending blocks' txids, oldest first, while the budget lasts; the
        state returned drops the ones written (and is `state` itself when nothing moved)."""
        pending = list(dict.fromkeys(state.txids_pending))
        if len(pending) > TXIDS_PENDING_KEPT:
            given_up = pending[:-TXIDS_PENDING_KEPT]
            log.warning("run %s: txids of %d old block(s) given up", run_id, len(given_up))
            result.skipped.extend(f"txids {h}" for h in given_up)
            pending = pending[-TXIDS_PENDING_KEPT:]
        done: dict[str, list[str]] = {}
        for block_hash in pending:
            if self._time_left(deadline) < self.opts.request_timeout_s:
                break
            try:
                done[block_hash] = self.api.block_txids(
                    block_hash, timeout_s=self.opts.request_timeout_s
                )
            except NotFound:
                # Reorged away before we asked: its txids are no longer served.
                log.warning("run %s: txids of %s not found", run_id, block_hash)
                result.skipped.append(f"txids {block_hash}")
                done[block_hash] = []
            except (Retryable, ApiError) as exc:
                log.warning("run %s: txids skipped (retryable): %s", run_id, exc)
                result.skipped.append("txids")
                break
        written = {h: txids for h, txids in done.items() if txids}
        if written:
            records = contract.rest_records(
                contract.TOPIC_BLOCK_TXIDS,
                [{"id": h, "txids": txids} for h, txids in written.items()],
                origin_id=run_id,
                received_at=contract.format_time(now),
                source=self.opts.source,
            )
            result.objects.append(self._put(contract.PREFIX_BLOCKS, run_id, now, "txids", records))
            result.txids_written = len(written)
        remaining = [h for h in pending if h not in done]
        if remaining == state.txids_pending and state is loaded:
            return state
        return replace(state, txids_pending=remaining)

    # -- the other topics --------------------------------------------------------------

    def _poll_stats(
        self, run_id: str, now: datetime, received_at: str, deadline: float, result: PollResult
    ) -> None:
        calls: list[tuple[str, str, str, Callable[[], Any]]] = [
            (contract.PREFIX_PRICES, "prices", contract.TOPIC_CONVERSIONS, self.api.prices),
            (contract.PREFIX_STATS, "fees", contract.TOPIC_FEES, self.api.fees_recommended),
            (contract.PREFIX_STATS, "mempool", contract.TOPIC_MEMPOOL, self.api.mempool),
        ]
        for prefix, label, topic, call in calls:
            if self._time_left(deadline) < self.opts.request_timeout_s:
                result.stopped = "time budget"
                return
            try:
                payload = call()
            except Retryable as exc:
                if exc.status == 429:
                    # Rate limited: every further request would be refused too.
                    result.stopped = f"backed off: {exc}"
                    return
                # A 503 from one resource (mempool.space answers /v1/fees/recommended so
                # while its mempool is not in sync) says nothing about the others.
                result.skipped.append(label)
                log.warning("run %s: %s skipped (retryable): %s", run_id, label, exc)
                continue
            except ApiError as exc:
                result.skipped.append(label)
                log.warning("run %s: %s skipped: %s", run_id, label, exc)
                continue
            records = contract.rest_records(
                topic, [payload], origin_id=run_id, received_at=received_at, source=self.opts.source
            )
            result.objects.append(self._put(prefix, run_id, now, label, records))

    def _put(
        self, prefix: str, run_id: str, now: datetime, label: str, records: list[contract.Record]
    ) -> str:
        key = object_key(prefix, run_id, now, label)
        self.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=contract.encode_ndjson(records),
            ContentType="application/x-ndjson",
        )
        return key
