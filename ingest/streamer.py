"""The WebSocket streamer (the EC2 service): mempool.space frames -> contract records ->
Firehose, unattended for months.

- `async for ws in connect(...)` reconnect loop; opening errors are classified as
  retryable (network, 429, 5xx) or fatal (bad URL, other 4xx).
- Subscribes (init, want, track-mempool-block 0) on every connection: subscriptions do
  not survive a reconnect.
- Application-level ping after 30 s of silence; 5 s without an answer means dead.
- Reconnect delay: mempool.space's own 2-4 s after a healthy connection, otherwise
  exponential backoff with jitter, reset once a connection is healthy again.
- A hostile or broken server cannot take it down: messages above
  `frames.MAX_FRAME_BYTES` (after decompression) close the connection, and any frame
  that does not decode (bad JSON, too deep, keys that are not topics) is kept as an
  `_unparsed` record.
- SIGTERM (the `stop` event) is honoured in every state (connected, connecting, backing
  off, sending): the socket is closed, and within `stop_flush_s` every buffered record is
  delivered or written to the on-disk spool, which the next start replays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import CloseCode

from ingest import contract, frames
from ingest.firehose_sink import FirehoseSink

log = logging.getLogger("mempool.stream")


def is_retryable(exc: BaseException) -> bool:
    """Whether opening the connection may succeed later."""
    if isinstance(exc, InvalidURI):
        return False
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        return status == 429 or status >= 500
    return isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | InvalidHandshake)


class FatalStreamError(RuntimeError):
    pass


@dataclass
class Backoff:
    """Delay before reconnecting; resets after a healthy connection."""

    base_s: float = 1.0
    cap_s: float = 60.0
    healthy_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, connected_for_s: float) -> float:
        if connected_for_s >= self.healthy_after_s:
            self.failures = 0
            return self.rng.uniform(2.0, 4.0)
        self.failures += 1
        ceiling = min(self.cap_s, self.base_s * 2**self.failures)
        return self.rng.uniform(ceiling / 2, ceiling)


@dataclass
class StreamCounters:
    frames: int = 0
    records: int = 0
    unparsed: int = 0
    connections: int = 0
    reconnects: int = 0
    pings: int = 0
    dead_connections: int = 0
    flagged: int = 0
    resyncs: int = 0
    replayed: int = 0
    too_big: int = 0  # messages above frames.MAX_FRAME_BYTES (each closed its connection)


@dataclass
class StreamerOptions:
    silence_s: float = 30.0
    pong_timeout_s: float = 5.0
    flush_interval_s: float = 1.0
    counters_interval_s: float = 60.0
    open_timeout_s: float = 10.0
    track_index: int = 0
    # After a stop, how long Firehose may take before the rest goes to the spool.
    stop_flush_s: float = 3.0
    # Then S3 gets this long for what Firehose did not take (FirehoseSink.rescue); with
    # the flush and a call already under way it stays inside systemd's TimeoutStopSec.
    stop_rescue_s: float = 30.0


@dataclass(frozen=True)
class Handled:
    """What a replay of a frame needs: its text and its records' keys and flags, not the
    records themselves, whose payloads would keep a second parsed frame in memory while
    the next one is parsed. A replay decodes the text again (replays are rare)."""

    message: str | bytes
    origin_id: str
    frame_seq: int
    received_at: str
    flags: dict[str, tuple[str, ...]]
    unparsed: bool

    def records(self) -> list[contract.Record]:
        if self.unparsed:
            return [
                frames.unparsed_record(
                    self.message,
                    origin_id=self.origin_id,
                    frame_seq=self.frame_seq,
                    received_at=self.received_at,
                )
            ]
        return contract.records_from_frame(
            frames.decode_frame(self.message),
            origin_id=self.origin_id,
            frame_seq=self.frame_seq,
            received_at=self.received_at,
            flags_by_topic=self.flags,
        )


class Streamer:
    def __init__(
        self,
        url: str,
        sink: FirehoseSink,
        opts: StreamerOptions | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.url = url
        self.sink = sink
        self.opts = opts or StreamerOptions()
        self.backoff = backoff or Backoff()
        self.counters = StreamCounters()
        self.host = socket.gethostname().split(".")[0] or "stream"
        self._flush_now = asyncio.Event()
        self.origins: list[str] = []

    def new_origin_id(self) -> str:
        return f"{self.host}-{uuid.uuid4().hex[:16]}"

    # -- the connection loop -------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        flusher = asyncio.create_task(self._flush_loop(stop))
        reporter = asyncio.create_task(self._report_loop(stop))
        connections = asyncio.create_task(self._connect_loop(stop))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({connections, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not connections.done():
                # `connect` retries on its own while the server is unreachable and never
                # looks at the stop event: a served connection closes itself on stop
                # (`_close_on_stop`); anything else is cancelled.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(connections), 1.0)
                connections.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connections
        finally:
            stop.set()
            stopping.cancel()
            # From here Firehose gets `stop_flush_s`; what it has not taken by then is spooled.
            self.sink.stop_by(time.monotonic() + self.opts.stop_flush_s)
            for task in (flusher, reporter):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(self.sink.flush)
            rescue_by = time.monotonic() + self.opts.stop_rescue_s
            await asyncio.to_thread(self.sink.rescue, rescue_by)
            self._log_counters()

    async def _connect_loop(self, stop: asyncio.Event) -> None:
        async for ws in connect(
            self.url,
            open_timeout=self.opts.open_timeout_s,
            ping_interval=None,
            max_size=frames.MAX_FRAME_BYTES,
            max_queue=frames.MAX_QUEUED_FRAMES,
            process_exception=self._process_exception,
            user_agent_header="mempool-platform/0.1",
        ):
            if stop.is_set():
                await ws.close()
                break
            connected_at = time.monotonic()
            await self._serve_connection(ws, stop)
            if stop.is_set():
                break
            delay = self.backoff.next_delay(time.monotonic() - connected_at)
            log.info("connection ended; reconnecting in %.1fs", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                break
            self.counters.reconnects += 1

    def _process_exception(self, exc: Exception) -> Exception | None:
        if is_retryable(exc):
            log.warning("connect failed (retryable): %s", exc)
            return None
        log.error("connect failed (fatal): %s", exc)
        return FatalStreamError(str(exc))

    async def _serve_connection(self, ws: ClientConnection, stop: asyncio.Event) -> None:
        origin = self.new_origin_id()
        self.origins.append(origin)
        self.counters.connections += 1
        tracker = frames.SequenceTracker()
        log.info("connected to %s as %s", self.url, origin)
        for request in frames.subscribe_messages(self.opts.track_index):
            await ws.send(request)
        closer = asyncio.create_task(self._close_on_stop(ws, stop))
        frame_seq = 0
        previous: Handled | None = None
        try:
            while True:
                try:
                    message = await asyncio.wait_for(self._recv(ws), self.opts.silence_s)
                except TimeoutError:
                    self.counters.pings += 1
                    await ws.send(frames.PING)
                    try:
                        message = await asyncio.wait_for(self._recv(ws), self.opts.pong_timeout_s)
                    except TimeoutError:
                        self.counters.dead_connections += 1
                        log.warning(
                            "%s: no answer %.0fs after ping: treating as dead",
                            origin,
                            self.opts.pong_timeout_s,
                        )
                        await ws.close(1001, "pong timeout")
                        return
                if previous is not None and message == previous.message:
                    # The frame before, delivered again (a transport replay: mempool.space
                    # never sends the same frame twice). Its records go out again under
                    # the same keys, so Snowflake counts them as duplicates.
                    self.counters.replayed += 1
                    self._emit(previous.records())
                    continue
                previous = self._on_message(message, origin, frame_seq, tracker)
                frame_seq += 1
                if tracker.resync_requested:
                    tracker.resync_requested = False
                    self.counters.resyncs += 1
                    log.info("%s: projected block out of sequence; asking for a full set", origin)
                    await ws.send(frames.resync_message(self.opts.track_index))
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                self.counters.too_big += 1
                log.warning(
                    "%s: a message above %d bytes; connection closed, not read",
                    origin,
                    frames.MAX_FRAME_BYTES,
                )
            elif not stop.is_set():
                log.info("%s closed: %s", origin, exc)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    @staticmethod
    async def _recv(ws: ClientConnection) -> str | bytes:
        return await ws.recv()

    @staticmethod
    async def _close_on_stop(ws: ClientConnection, stop: asyncio.Event) -> None:
        await stop.wait()
        await ws.close(1001, "shutting down")

    def _on_message(
        self, message: str | bytes, origin: str, frame_seq: int, tracker: frames.SequenceTracker
    ) -> Handled:
        """One message in, its records buffered for Firehose: one per topic, or one
        `_unparsed` record. Raises nothing for any message (tests/test_fuzz.py)."""
        received_at = contract.utc_now_iso()
        self.counters.frames += 1
        unparsed = False
        try:
            frame = frames.decode_frame(message)
            records = frames.frame_to_records(
                frame,
                origin_id=origin,
                frame_seq=frame_seq,
                received_at=received_at,
                tracker=tracker,
            )
        except frames.FrameError as exc:
            log.warning("%s frame %d: %s; kept as _unparsed", origin, frame_seq, exc)
            self.counters.unparsed += 1
            unparsed = True
            records = [
                frames.unparsed_record(
                    message, origin_id=origin, frame_seq=frame_seq, received_at=received_at
                )
            ]
        for record in records:
            if record.flags:
                self.counters.flagged += 1
                log.warning(
                    "%s frame %d %s: %s", origin, frame_seq, record.topic, ",".join(record.flags)
                )
        self._emit(records)
        return Handled(
            message=message,
            origin_id=origin,
            frame_seq=frame_seq,
            received_at=received_at,
            flags={r.topic: r.flags for r in records if r.flags},
            unparsed=unparsed,
        )

    def _emit(self, records: list[contract.Record]) -> None:
        full = False
        for record in records:
            full = self.sink.add(frames.route(record), record) or full
            self.counters.records += 1
        if full:
            self._flush_now.set()

    # -- background work ---------------------------------------------------------------

    async def _flush_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._flush_now.wait(), self.opts.flush_interval_s)
            self._flush_now.clear()
            await asyncio.to_thread(self.sink.flush)

    async def _report_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.opts.counters_interval_s)
            self._log_counters()

    def counters_line(self) -> dict[str, Any]:
        sink = self.sink.counters
        return {
            "event": "stream_counters",
            "frames": self.counters.frames,
            "records": self.counters.records,
            "unparsed": self.counters.unparsed,
            "flagged": self.counters.flagged,
            "connections": self.counters.connections,
            "reconnects": self.counters.reconnects,
            "dead_connections": self.counters.dead_connections,
            "resyncs": self.counters.resyncs,
            "delivered": sink.records,
            "firehose_records": sink.firehose_records,
            "retries": sink.retried_records,
            "spooled": sink.spooled,
            "replayed": sink.replayed,
            "oversize": sink.oversize,
            "too_big": self.counters.too_big,
            "buffered": self.sink.buffered(),
        }

    def _log_counters(self) -> None:
        log.info(json.dumps(self.counters_line(), separators=(",", ":")))
