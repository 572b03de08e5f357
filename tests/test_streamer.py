"""The streamer against the simulator: subscriptions, reconnects, shutdown flush.

Length: one scenario per streamer behaviour, all on the same simulator fixtures.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest import contract, frames
from ingest.firehose_sink import FirehoseSink
from ingest.spool import Spool
from ingest.streamer import Backoff, Streamer, StreamerOptions, is_retryable
from sandbox.simulator.server import SimOptions, Simulator
from tests.fakes import MemoryS3, StubFirehose


def delivered_records(stub: StubFirehose) -> list[contract.Record]:
    return [contract.parse_line(line) for lines in stub.delivered.values() for line in lines]


async def run_against_sim(tmp_path: Path, scenario) -> tuple[Streamer, StubFirehose]:  # type: ignore[no-untyped-def]
    sim = Simulator(
        SimOptions(seed=2, speed=60.0, port=0, start_time=1_800_000_000, history_blocks=8)
    )
    ready, stop_sim = asyncio.Event(), asyncio.Event()
    sim_task = asyncio.create_task(sim.serve(ready=ready, stop=stop_sim))
    await ready.wait()
    stub = StubFirehose()
    sink = FirehoseSink(
        firehose=stub,
        s3=None,
        bucket="b",
        deliveries={"stream": "s", "conversions": "c"},
        spool=Spool(tmp_path / "spool"),
        sleep=lambda _s: None,
    )
    streamer = Streamer(
        f"ws://127.0.0.1:{sim.port}/api/v1/ws",
        sink,
        StreamerOptions(flush_interval_s=0.2, silence_s=5, pong_timeout_s=1),
        Backoff(base_s=0.05, cap_s=0.2, rng=random.Random(1)),
    )
    stop = asyncio.Event()
    run = asyncio.create_task(streamer.run(stop))
    try:
        await scenario(sim, streamer)
    finally:
        stop.set()
        await asyncio.wait_for(run, 20)
        stop_sim.set()
        await sim_task
    return streamer, stub


async def wait_until(cond, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_resubscribes_after_every_reconnect_and_flushes_on_stop(tmp_path: Path) -> None:
    async def scenario(sim: Simulator, streamer: Streamer) -> None:
        await wait_until(lambda: streamer.counters.frames >= 5)
        for client in list(sim.clients):
            await client.conn.close(1011, "test: dropped")
        await wait_until(
            lambda: streamer.counters.connections >= 2 and streamer.counters.frames >= 12
        )

    streamer, stub = asyncio.run(run_against_sim(tmp_path, scenario))
    records = delivered_records(stub)
    assert len(records) == streamer.counters.records  # the stop flushed everything
    origins = streamer.origins
    assert len(origins) >= 2 and len(set(origins)) == len(origins)
    for origin in origins[:2]:
        mine = [r for r in records if r.origin_id == origin]
        topics = {r.topic for r in mine}
        assert {"mempoolInfo", "blocks", "conversions", "projected-block-transactions"} <= topics
        first_projected = next(
            r
            for r in sorted(mine, key=lambda r: r.frame_seq)
            if r.topic == "projected-block-transactions"
        )
        assert "blockTransactions" in first_projected.payload  # a full set after subscribing
        seqs = sorted({r.frame_seq for r in mine})
        assert seqs == list(range(len(seqs)))  # frame_seq counts every frame, from 0
    assert streamer.counters.reconnects >= 1
    conv = stub.delivered.get("c", [])
    assert conv and all(json.loads(c)["topic"] == "conversions" for c in conv)


def test_retryable_versus_fatal_connect_errors() -> None:
    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidStatus, InvalidURI
    from websockets.http11 import Response

    assert is_retryable(ConnectionRefusedError())
    assert is_retryable(TimeoutError())
    assert is_retryable(InvalidStatus(Response(503, "x", Headers())))
    assert is_retryable(InvalidStatus(Response(429, "x", Headers())))
    assert not is_retryable(InvalidStatus(Response(404, "x", Headers())))
    assert not is_retryable(InvalidURI("ftp://x", "bad scheme"))


def test_backoff_grows_with_failures_and_resets_after_a_healthy_connection() -> None:
    backoff = Backoff(base_s=1, cap_s=60, healthy_after_s=60, rng=random.Random(3))
    delays = [backoff.next_delay(connected_for_s=1) for _ in range(5)]
    assert delays[-1] > delays[0]
    assert all(d <= 60 for d in delays)
    healthy = backoff.next_delay(connected_for_s=3600)
    assert 2.0 <= healthy <= 4.0 and backoff.failures == 0
    assert backoff.next_delay(connected_for_s=1) <= 2.0


def test_ec2_entry_point_refuses_to_start_without_a_bucket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import stream_main

    env_file = tmp_path / "mempool.env"
    env_file.write_text("AWS_REGION=eu-west-1\n")  # as user_data writes it, minus the bucket
    monkeypatch.setenv("MEMPOOL_ENV_FILE", str(env_file))
    monkeypatch.delenv("MEMPOOL_BUCKET", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    from ingest.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="MEMPOOL_BUCKET"):
        stream_main.build_streamer(Settings.load(), "eu-west-1")


class SilentEndpoint:
    """A TCP server that accepts connections and never answers (a hung Firehose)."""

    def __init__(self) -> None:
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.held.append(conn)

    def close(self) -> None:
        self._stop.set()
        self.thread.join(2)
        for conn in self.held:
            conn.close()
        self.server.close()


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def streamer_with(sink: FirehoseSink, ws_port: int) -> Streamer:
    return Streamer(
        f"ws://127.0.0.1:{ws_port}/api/v1/ws",
        sink,
        StreamerOptions(flush_interval_s=0.2, open_timeout_s=1, stop_flush_s=2.0),
        Backoff(base_s=0.5, cap_s=2.0, rng=random.Random(1)),
    )


async def against_scripted_server(
    handler: Any, tmp_path: Path, until: Callable[[Streamer], bool], s3: Any = None
) -> tuple[Streamer, StubFirehose]:
    """The streamer against a scripted WebSocket server, until `until(streamer)`."""
    from websockets.asyncio.server import serve

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        stub = StubFirehose()
        sink = FirehoseSink(stub, s3, "b", {"stream": "s", "conversions": "c"}, Spool(tmp_path))
        streamer = streamer_with(sink, port)
        stop = asyncio.Event()
        run = asyncio.create_task(streamer.run(stop))
        await wait_until(lambda: until(streamer))
        stop.set()
        await asyncio.wait_for(run, 10)
        return streamer, stub


async def stop_after(streamer: Streamer, delay_s: float) -> float:
    stop = asyncio.Event()
    run = asyncio.create_task(streamer.run(stop))
    await asyncio.sleep(delay_s)
    loop = asyncio.get_running_loop()
    started = loop.time()
    stop.set()
    await asyncio.wait_for(run, 60)
    return loop.time() - started


def test_a_stop_while_the_server_is_unreachable_is_prompt(tmp_path: Path) -> None:
    """Reconnecting (connect retries with backoff by itself) used to ignore SIGTERM."""
    stub = StubFirehose()
    sink = FirehoseSink(stub, None, "b", {"stream": "s", "conversions": "c"}, Spool(tmp_path))
    streamer = streamer_with(sink, closed_port())
    took = asyncio.run(stop_after(streamer, 2.5))
    assert took < 3.0
    assert streamer.counters.connections == 0


def test_a_stop_while_firehose_hangs_lands_every_record_within_seconds(tmp_path: Path) -> None:
    """An endpoint that accepts TCP and never answers: each call used to wait ~40 s and
    a stop lost what was buffered. Now the stop ends in seconds with all of it spooled,
    and the spool written to the stream's landing prefix in S3 (the instance's disk does
    not outlive a replaced instance)."""
    import boto3

    from ingest import aws
    from tests.fakes import MemoryS3

    endpoint = SilentEndpoint()
    try:
        firehose = boto3.client(
            "firehose",
            region_name="us-east-1",
            endpoint_url=f"http://127.0.0.1:{endpoint.port}",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=aws.STREAM_CLIENT_CONFIG,
        )
        spool = Spool(tmp_path / "spool")
        s3 = MemoryS3()
        sink = FirehoseSink(
            firehose,
            s3,
            "b",
            {"stream": "s", "conversions": "c"},
            spool,
            landing={"stream": contract.PREFIX_STREAM},
            base_backoff_s=0.05,
        )
        for i in range(300):
            sink.add("stream", contract.Record("ws", "fees", "o-1", i, contract.utc_now_iso(), {}))
        streamer = streamer_with(sink, closed_port())
        took = asyncio.run(stop_after(streamer, 1.0))
    finally:
        endpoint.close()
    assert took < 10.0, f"stop took {took:.1f}s"
    assert sink.buffered() == 0
    assert spool.pending("s") == 0
    [(key, body)] = s3.objects.items()
    assert key.startswith(f"{contract.PREFIX_STREAM}rescued/")
    assert [json.loads(line)["frame_seq"] for line in body.splitlines()] == list(range(300))


def test_a_sequence_gap_asks_the_server_for_a_full_set_at_once(tmp_path: Path) -> None:
    """Without a resync the projected block stays invalid until the next block's full
    set (about ten minutes); mempool.space's frontend re-sends track-mempool-block."""
    from websockets.asyncio.server import ServerConnection

    received: list[str] = []
    full = {"projected-block-transactions": {"sequence": 1, "blockTransactions": []}}
    frames_to_send = [
        full,
        {"projected-block-transactions": {"sequence": 2, "delta": {"added": []}}},
        {"projected-block-transactions": {"sequence": 5, "delta": {"added": []}}},  # a gap
    ]

    async def handler(conn: ServerConnection) -> None:
        async for message in conn:
            received.append(str(message))
            if json.loads(message).get("track-mempool-block") == 0 and len(received) == 3:
                for frame in frames_to_send:
                    await conn.send(json.dumps(frame))

    streamer, _ = asyncio.run(
        against_scripted_server(handler, tmp_path, lambda _s: len(received) >= 4)
    )
    tracks = [m for m in received if "track-mempool-block" in m]
    assert tracks == ['{"track-mempool-block": 0}'] * 2
    assert streamer.counters.resyncs == 1


def test_a_replayed_frame_goes_out_again_under_the_same_keys(tmp_path: Path) -> None:
    """mempool.space never sends a frame twice; a replaying proxy can. The copy's records
    keep the original's keys (so Snowflake counts them as duplicates), the sequence
    tracker does not see it, and the frame after it gets the next frame_seq."""
    from websockets.asyncio.server import ServerConnection

    stats = {"mempoolInfo": {"size": 5}, "fees": {"fastestFee": 3}}
    later = {"mempoolInfo": {"size": 6}}

    async def handler(conn: ServerConnection) -> None:
        async for message in conn:
            if json.loads(message).get("track-mempool-block") == 0:
                for frame in (stats, stats, later):
                    await conn.send(json.dumps(frame))

    streamer, stub = asyncio.run(
        against_scripted_server(
            handler, tmp_path, lambda s: s.counters.frames >= 2 and s.counters.replayed > 0
        )
    )
    keys = [(r.frame_seq, r.topic) for r in delivered_records(stub)]
    assert keys == [
        (0, "mempoolInfo"),
        (0, "fees"),
        (0, "mempoolInfo"),
        (0, "fees"),
        (1, "mempoolInfo"),
    ]
    assert streamer.counters.replayed == 1


def scripted(*per_connection: list[str]) -> Any:
    """A server handler that answers each connection's subscription with its frames."""
    from websockets.asyncio.server import ServerConnection

    served: list[ServerConnection] = []

    async def handler(conn: ServerConnection) -> None:
        served.append(conn)
        script = per_connection[min(len(served), len(per_connection)) - 1]
        async for message in conn:
            if json.loads(message).get("track-mempool-block") == 0:
                for frame in script:
                    await conn.send(frame)

    handler.served = served  # type: ignore[attr-defined]
    return handler


GOOD = json.dumps({"mempoolInfo": {"size": 5}})


def test_a_compressed_message_above_the_limit_is_refused_before_it_expands(
    tmp_path: Path,
) -> None:
    """The streamer connected with max_size=None under permessage-deflate: a small
    compressed message expanded without limit (a t4g ran out of memory). Now a message
    above MAX_FRAME_BYTES closes the connection unread, and the next one carries on."""
    bomb = json.dumps({"mempoolInfo": {"note": "a" * frames.MAX_FRAME_BYTES}})
    handler = scripted([bomb], [GOOD])
    s3 = MemoryS3()
    streamer, stub = asyncio.run(
        against_scripted_server(handler, tmp_path, lambda s: s.counters.frames >= 1, s3)
    )
    first = handler.served[0]
    assert "permessage-deflate" in first.response.headers["Sec-WebSocket-Extensions"]
    assert streamer.counters.too_big == 1
    assert streamer.counters.frames == 1 and streamer.counters.connections == 2
    assert [(r.origin_id, r.payload) for r in delivered_records(stub)] == [
        (streamer.origins[1], {"size": 5})
    ]
    assert s3.objects == {}  # nothing of it was stored either


def test_a_frame_nested_too_deep_is_kept_unparsed_and_the_stream_goes_on(
    tmp_path: Path,
) -> None:
    """1,100 nested arrays raised RecursionError in the handler and ended the run."""
    deep = '{"mempoolInfo":' + "[" * 1_100 + "]" * 1_100 + "}"
    streamer, stub = asyncio.run(
        against_scripted_server(scripted([deep, GOOD]), tmp_path, lambda s: s.counters.frames >= 2)
    )
    records = delivered_records(stub)
    assert [(r.topic, r.frame_seq) for r in records] == [("_unparsed", 0), ("mempoolInfo", 1)]
    assert records[0].payload == deep
    assert streamer.counters.unparsed == 1 and streamer.counters.connections == 1


def test_a_key_that_is_not_a_topic_is_kept_unparsed_never_a_key_or_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 1,100-character key with a large payload crashed the oversize path (S3 refuses
    keys above 1,024 bytes); a key with a newline forged a log line through the oversize
    object's key."""
    big = "x" * (contract.MAX_RECORD_BYTES + 1)
    long_key = json.dumps({"k" * 1_100: big})
    forged = json.dumps({"fees\nCRITICAL forged": big})
    s3 = MemoryS3()
    streamer, stub = asyncio.run(
        against_scripted_server(
            scripted([long_key, forged, GOOD]), tmp_path, lambda s: s.counters.frames >= 3, s3
        )
    )
    records = delivered_records(stub)
    assert [(r.topic, r.flags) for r in records] == [
        ("_unparsed", ("oversize",)),
        ("_unparsed", ("oversize",)),
        ("mempoolInfo", ()),
    ]
    assert sorted(k.rsplit("/", 1)[1] for k in s3.objects) == [
        "000000000000-_unparsed.json",
        "000000000001-_unparsed.json",
    ]
    assert all("\n" not in r.getMessage() for r in caplog.records)
    assert streamer.counters.connections == 1


def test_the_frame_before_is_kept_as_text_not_as_parsed_records(tmp_path: Path) -> None:
    """A replay needs the frame before; holding its records kept a second parsed frame
    (up to ~35 times its text) in memory while the next was parsed."""
    import gc
    import tracemalloc

    sink = FirehoseSink(
        StubFirehose(), None, "b", {"stream": "s", "conversions": "c"}, Spool(tmp_path)
    )
    streamer = streamer_with(sink, closed_port())
    message = json.dumps({"mempoolInfo": [[0, 0]] * 120_000})
    tracemalloc.start()
    try:
        kept = streamer._on_message(message, "o-1", 0, frames.SequenceTracker())
        sink.flush()
        sink.firehose.delivered.clear()
        sink.firehose.records.clear()
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < len(message) / 10, f"{held} bytes held for a {len(message)}-byte frame"
    assert [r.payload for r in kept.records()] == [[[0, 0]] * 120_000]


def test_a_stop_fits_in_the_time_systemd_gives_it() -> None:
    """systemd kills the service TimeoutStopSec after SIGTERM (terraform/ec2.tf): the
    socket's close, Firehose's flush deadline, a call already under way when it passes
    (connect + read timeout) and S3's rescue window must add up to less, or the kill
    leaves the spool on a disk a replaced instance does not keep."""
    import re

    from ingest import aws

    tf = (Path(__file__).parents[1] / "terraform" / "ec2.tf").read_text()
    systemd_s = float(re.search(r"stop_timeout_s\s*=\s*(\d+)", tf)[1])  # type: ignore[index]
    opts = StreamerOptions()
    config: Any = aws.STREAM_CLIENT_CONFIG
    call_s = config.connect_timeout + config.read_timeout
    close_s = 1.0  # Streamer.run waits this long for a served connection to close
    worst = close_s + opts.stop_flush_s + call_s + opts.stop_rescue_s + call_s
    assert worst < systemd_s, f"a stop may take {worst:.0f}s of systemd's {systemd_s:.0f}s"
