"""Pure functions for the WebSocket side: what to send, and how a received frame becomes
contract records (with sequence flags). No I/O here, so every rule is unit-testable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ingest import contract, fastjson

WANTED = ["blocks", "stats", "mempool-blocks", "live-2h-chart"]


def subscribe_messages(track_index: int = 0) -> list[str]:
    """Sent on every (re)connect: subscriptions do not survive a reconnect."""
    return [
        json.dumps({"action": "init"}),
        json.dumps({"action": "want", "data": WANTED}),
        json.dumps({"track-mempool-block": track_index}),
    ]


def resync_message(track_index: int = 0) -> str:
    """Subscribing again makes the server send the projected block's full set."""
    return json.dumps({"track-mempool-block": track_index})


PING = json.dumps({"action": "ping"})


class FrameError(ValueError):
    """A frame that is not a JSON object; stored as a record of topic `_unparsed`."""


def decode_frame(text: str | bytes) -> dict[str, Any]:
    try:
        frame = fastjson.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameError(f"unparsable frame: {exc.msg}") from exc
    if not isinstance(frame, dict):
        raise FrameError("frame is not a JSON object")
    return frame


@dataclass
class SequenceTracker:
    """Watches mempool.space's projected-block `sequence` on one connection."""

    last: int | None = None
    # Set when the projected block can no longer be rebuilt from deltas (a gap or a
    # restart): the client asks for a full set again, as mempool.space's own frontend does.
    resync_requested: bool = False

    def flags_for(self, projected: Any) -> tuple[str, ...]:
        flags = self._flags_for(projected)
        if contract.FLAG_SEQUENCE_GAP in flags or contract.FLAG_SEQUENCE_RESTART in flags:
            self.resync_requested = True
        return flags

    def _flags_for(self, projected: Any) -> tuple[str, ...]:
        if not isinstance(projected, dict) or not isinstance(projected.get("sequence"), int):
            return ()
        seq: int = projected["sequence"]
        is_full = "blockTransactions" in projected
        previous, self.last = self.last, seq
        if previous is None:
            return () if is_full else (contract.FLAG_SEQUENCE_GAP,)
        if seq == previous + 1:
            return ()
        if seq == previous:
            # A full set right after subscribing carries the current sequence again.
            return () if is_full else (contract.FLAG_DUPLICATE_SEQUENCE,)
        if seq < previous:
            return (contract.FLAG_SEQUENCE_RESTART,)
        return () if is_full else (contract.FLAG_SEQUENCE_GAP,)


def frame_to_records(
    frame: dict[str, Any],
    *,
    origin_id: str,
    frame_seq: int,
    received_at: str,
    tracker: SequenceTracker,
) -> list[contract.Record]:
    flags: dict[str, tuple[str, ...]] = {}
    if contract.TOPIC_PROJECTED in frame:
        flags[contract.TOPIC_PROJECTED] = tracker.flags_for(frame[contract.TOPIC_PROJECTED])
    return contract.records_from_frame(
        frame,
        origin_id=origin_id,
        frame_seq=frame_seq,
        received_at=received_at,
        flags_by_topic=flags,
    )


def unparsed_record(
    text: str | bytes, *, origin_id: str, frame_seq: int, received_at: str
) -> contract.Record:
    """A frame we could not decode is kept (as text) rather than dropped."""
    raw = text.decode(errors="replace") if isinstance(text, bytes) else text
    return contract.Record(
        source="ws",
        topic="_unparsed",
        origin_id=origin_id,
        frame_seq=frame_seq,
        received_at=received_at,
        payload=raw,
    )


def route(record: contract.Record) -> str:
    """Which delivery stream a record goes to: conversions have their own."""
    return "conversions" if record.topic == contract.TOPIC_CONVERSIONS else "stream"
