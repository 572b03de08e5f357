"""Simulated history, landed the way production lands it.

Days of the simulator's world are played forward in simulated time; each event becomes
the frame a subscribed client would receive (the simulator's own `frame_for`), split
into contract records by the streamer's own `frame_to_records`, and each new block is
also fetched as the poller would (`block`, `block-txids`). The records are written to
the landing bucket as NDJSON objects, one per hour and delivery stream, so the local
runtime loads them through the pipes, the procedures and dbt like any other data.
Used for the dashboard's fixtures and its 30-day render benchmark.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ingest import contract
from ingest.frames import SequenceTracker, frame_to_records, route
from sandbox.simulator.model import Model
from sandbox.simulator.server import frame_for

# What the streamer subscribes to (ingest/stream_main.py), tracking projected block 0.
WANTS = {"blocks", "stats", "mempool-blocks"}
PREFIXES = {
    "stream": contract.PREFIX_STREAM,
    "conversions": contract.PREFIX_CONVERSIONS,
    "blocks": contract.PREFIX_BLOCKS,
}


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    seed: int
    hours: float
    end_time: int  # Unix seconds: the history ends here (usually now)
    sample_every_s: float = 60.0  # one stats frame per interval (mempool.space: ~2 s)
    tx_per_s: float = 1.0
    # Seconds from an event to our receipt of it: the WebSocket frame, the poller's fetch.
    ws_delay_s: float = 1.0
    poll_delay_s: float = 20.0
    # Hours at the end during which the client tracks the projected block (its deltas
    # are the bulk of the volume); None: all along.
    projected_hours: float | None = None
    # Hours of records per landing object (Firehose writes one every minute or 128 MiB;
    # bigger objects load faster locally and change nothing downstream).
    object_hours: int = 1

    @property
    def start_time(self) -> int:
        return int(self.end_time - self.hours * 3600)


@dataclass(frozen=True, slots=True)
class LandingObject:
    key: str
    body: bytes
    records: int
    until: int  # Unix seconds: the end of the span its records cover


def _iso(seconds: float) -> str:
    return contract.format_time(datetime.fromtimestamp(seconds, UTC))


def history_objects(plan: HistoryPlan) -> Iterator[LandingObject]:
    """The landing objects of the whole history, `object_hours` by `object_hours`, in
    time order."""
    model = Model(
        seed=plan.seed,
        start_time=plan.start_time,
        history_blocks=6,
        tx_per_s=plan.tx_per_s,
        update_interval_s=plan.sample_every_s,
        conversions_interval_s=600.0,
    )
    origin = f"history-{plan.seed}-{plan.start_time}"
    tracker = SequenceTracker()
    frame_seq = 0
    rest_seq = 0
    tracked = False
    hour_start = plan.start_time
    while hour_start < plan.end_time:
        hour_end = min(hour_start + plan.object_hours * 3600, plan.end_time)
        by_stream: dict[str, list[contract.Record]] = defaultdict(list)
        step: float = hour_start
        while step < hour_end:
            step = min(step + plan.sample_every_s, hour_end)
            # Advance one sample at a time: a frame reports the model as of its event.
            tracking = plan.projected_hours is None or (
                step > plan.end_time - plan.projected_hours * 3600
            )
            if tracking and not tracked:
                # Subscribing to the projected block: the full set first, as the server
                # answers `track-mempool-block`.
                tracked = True
                subscribed = {contract.TOPIC_PROJECTED: model.full_set_payload()}
                for record in frame_to_records(
                    subscribed,
                    origin_id=origin,
                    frame_seq=frame_seq,
                    received_at=_iso(model.now),
                    tracker=tracker,
                ):
                    by_stream[route(record)].append(record)
                frame_seq += 1
            for event in model.advance(step):
                received = _iso(event.time + plan.ws_delay_s)
                frame: dict[str, Any] = (
                    {contract.TOPIC_CONVERSIONS: event.data}
                    if event.kind == "conversions"
                    else frame_for(model, WANTS, 0 if tracking else None, event)
                )
                if frame:
                    for record in frame_to_records(
                        frame,
                        origin_id=origin,
                        frame_seq=frame_seq,
                        received_at=received,
                        tracker=tracker,
                    ):
                        by_stream[route(record)].append(record)
                    frame_seq += 1
                if event.kind == "block":
                    fetched = _iso(event.time + plan.poll_delay_s)
                    block = event.data
                    by_stream["blocks"] += contract.rest_records(
                        "block",
                        [block.to_api()],
                        origin_id=origin,
                        received_at=fetched,
                        first_seq=rest_seq,
                    )
                    by_stream["blocks"] += contract.rest_records(
                        "block-txids",
                        [{"id": block.hash, "txids": block.api_txids()}],
                        origin_id=origin,
                        received_at=fetched,
                        first_seq=rest_seq + 1,
                    )
                    rest_seq += 2
        folder = datetime.fromtimestamp(hour_start, UTC).strftime("%Y/%m/%d/%H")
        for stream, records in sorted(by_stream.items()):
            yield LandingObject(
                key=f"{PREFIXES[stream]}{folder}/{origin}-{hour_start}.ndjson",
                body=contract.encode_ndjson(records),
                records=len(records),
                until=hour_end,
            )
        hour_start = hour_end


def land_history(
    s3: Any,
    bucket: str,
    plan: HistoryPlan,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write the history to the landing bucket; return the number of records."""
    total = 0
    started = last_report = time.monotonic()
    for landed in history_objects(plan):
        s3.put_object(Bucket=bucket, Key=landed.key, Body=landed.body)
        total += landed.records
        if progress and time.monotonic() - last_report >= 5:
            last_report = time.monotonic()
            done = (landed.until - plan.start_time) / 3600
            progress(
                f"landed {done:,.0f} of {plan.hours:,.0f} hours ({total:,} records, "
                f"{last_report - started:.0f} s)"
            )
    return total
