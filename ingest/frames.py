"""Pure functions for the WebSocket side: what to send, and how a received frame becomes
contract records (with sequence flags). No I/O here, so every rule is unit-testable."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ingest import contract, fastjson

WANTED = ["blocks", "stats", "mempool-blocks", "live-2h-chart"]

# The largest message the connection accepts, after permessage-deflate: a larger one
# closes the connection (1009) before it is decompressed any further, so a small
# compressed message cannot expand without limit. mempool.space's largest frame is a
# projected block's full set: at most ~17,000 transactions (a block of the smallest
# ones) of ~110 bytes, under 2 MB; 8 MiB is four times that. Parsed, a frame takes 2-3
# times its size, a hostile one up to ~35 times, and the streamer holds one parsed frame
# at a time: 8 MiB of `{"":0},` makes it ~310 MiB larger, within a t4g.nano's 512 MiB
# (tests/test_fuzz.py measures it).
MAX_FRAME_BYTES = 8 * 1024 * 1024
# Each key of a frame becomes a record (~300 bytes of Python each): an 8 MiB frame of
# tiny keys would be 850,000 of them. mempool.space's most is the init frame's 11.
MAX_FRAME_TOPICS = 64
# Messages received but not yet handled, as websockets counts them (frames): with
# MAX_FRAME_BYTES, at most 4 x 8 MiB waits while one is parsed (the default of 16 would
# allow 128 MiB). mempool.space sends a frame every ~2 s; the streamer handles one in
# well under a millisecond.
MAX_QUEUED_FRAMES = 4


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
    """A frame that is not a JSON object whose keys are topics; stored as a record of
    topic `_unparsed`."""


def decode_frame(text: str | bytes) -> dict[str, Any]:
    """The frame, or FrameError: nothing else, whatever a hostile server sends (the
    decoder's bounds are fastjson's: strict JSON, at most MAX_DEPTH levels)."""
    try:
        frame = fastjson.loads(text)
    except json.JSONDecodeError as exc:
        raise FrameError(f"unparsable frame: {exc.msg}") from exc
    if not isinstance(frame, dict):
        raise FrameError("frame is not a JSON object")
    if len(frame) > MAX_FRAME_TOPICS:
        raise FrameError(f"frame has {len(frame)} keys (at most {MAX_FRAME_TOPICS} are topics)")
    # Every key becomes a topic: checked before anything (the sequence tracker) sees the
    # frame, so a frame kept as `_unparsed` has changed no state.
    for key in frame:
        try:
            contract.check_topic(key)
        except contract.ContractError as exc:
            raise FrameError(str(exc)) from None
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


TOPIC_UNPARSED = "_unparsed"


def unparsed_record(
    text: str | bytes, *, origin_id: str, frame_seq: int, received_at: str
) -> contract.Record:
    """A frame we could not decode is kept (as text) rather than dropped. What no UTF-8
    line can carry (invalid bytes, lone surrogates) is replaced with U+FFFD."""
    if isinstance(text, bytes):
        raw = text.decode(errors="replace")
    else:
        raw = text.encode(errors="surrogatepass").decode(errors="replace")
    return contract.Record(
        source="ws",
        topic=TOPIC_UNPARSED,
        origin_id=origin_id,
        frame_seq=frame_seq,
        received_at=received_at,
        payload=raw,
    )


def route(record: contract.Record) -> str:
    """Which delivery stream a record goes to: conversions have their own."""
    return "conversions" if record.topic == contract.TOPIC_CONVERSIONS else "stream"
