"""The clients' edges under generated hostile input (Hypothesis): what a hostile or
broken mempool.space, or anything in the middle, can send.

Frames and REST answers that are huge, deep, of the wrong types, invalid UTF-8, with
NaN or Infinity, duplicate keys or keys that are no topics go through the frame decoder,
the contract writer, the streamer's message handler and the poller. Each must end as
contract records or as one `_unparsed` record (the streamer), or as a skipped resource
(the poller), with no exception, and the streamer must keep nothing of a message once it
is handled: its memory is bounded by the largest message it accepts, which
`test_the_largest_message_the_streamer_accepts_fits_its_instance` measures.

Length: one strategy and property per client edge, sharing the hostile-value strategies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import string
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest import contract, fastjson, frames
from ingest.firehose_sink import FirehoseSink
from ingest.mempool_api import ApiError, MempoolApi
from ingest.poll_state import PollState
from ingest.poller import Poller, PollOptions, PollResult
from ingest.spool import Spool
from ingest.streamer import Backoff, Streamer, StreamerOptions
from tests.fakes import MemoryS3, StubFirehose

# Examples are drawn afresh on every run, with no example database (CI's fresh clone
# would have none anyway); a failure prints the example and the @reproduce_failure line
# that replays it.
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- hostile input ---------------------------------------------------------------------

TOPIC_CHARS = string.ascii_letters + string.digits + "_.-"
REAL_TOPICS = [
    "mempoolInfo",
    "vBytesPerSecond",
    "mempool-blocks",
    "projected-block-transactions",
    "blocks",
    "block",
    "conversions",
    "fees",
    "da",
    "live-2h-chart",
]
topics = st.one_of(st.sampled_from(REAL_TOPICS), st.text(TOPIC_CHARS, min_size=1, max_size=64))
odd_keys = st.one_of(
    topics,
    st.text(max_size=80),
    st.text(st.characters(categories=["Cs", "Cc", "Zl", "Zp"]), min_size=1, max_size=4),
    st.integers(60, 1_500).map(lambda n: "k" * n),
    st.sampled_from(["a:b", "fees\n", "fees\nCRITICAL forged", "", " ", "fees ", "ü"]),
)
# Scalars as text can carry them: NaN and Infinity (JSON has neither), numbers beyond
# the float range and past Python's 4,300 digits, lone surrogates.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(),
    st.text(max_size=40),
    st.text(st.characters(categories=["Cs"]), min_size=1, max_size=3),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(odd_keys, inner, max_size=6),
    max_leaves=40,
)


def dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True)


@st.composite
def serialised(draw: st.DrawFn, top: st.SearchStrategy[Any]) -> str:
    return dumps(draw(top), draw(st.booleans()))


@st.composite
def duplicate_keys(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(st.sampled_from(["fees", "blocks", "a:b"]), values)))
    return "{" + ",".join(f"{json.dumps(k)}:{dumps(v, True)}" for k, v in pairs) + "}"


@st.composite
def deep(draw: st.DrawFn) -> str:
    depth = draw(st.integers(1, 3_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('[{"a":', "}]")]))
    inner = opener * depth + "0" + closer * depth
    if draw(st.booleans()):
        inner = opener * depth  # never closed
    return '{"mempoolInfo":' + inner + "}" if draw(st.booleans()) else inner


@st.composite
def huge(draw: st.DrawFn) -> str:
    """Around Firehose's 1,000 KiB record limit (the oversize path), or long numbers."""
    n = draw(st.integers(0, contract.MAX_RECORD_BYTES + 4_096))
    kind = draw(st.sampled_from(["string", "number", "keys", "array"]))
    if kind == "string":
        return json.dumps({draw(topics): "x" * n})
    if kind == "number":
        return '{"fees":' + "9" * (n % 12_000 + 1) + "}"
    if kind == "keys":
        return json.dumps({f"t{i}": i for i in range(n % 200)})
    return '{"blocks":[' + ",".join(["[0,1.5]"] * (n % 60_000 // 8)) + "]}"


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    """A well-formed frame with bytes replaced, inserted or cut (invalid UTF-8 among
    them)."""
    body = bytearray(dumps(draw(st.dictionaries(topics, values, max_size=4)), True).encode())
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(body)))
        action = draw(st.sampled_from(["replace", "insert", "cut"]))
        chunk = draw(st.binary(min_size=1, max_size=4))
        if action == "cut":
            del body[at:]
        elif action == "insert":
            body[at:at] = chunk
        else:
            body[at : at + len(chunk)] = chunk
    return bytes(body)


texts = st.one_of(
    serialised(st.dictionaries(odd_keys, values, max_size=8)),
    serialised(values),
    duplicate_keys(),
    deep(),
    huge(),
    st.text(max_size=200),
    st.sampled_from(["", "{}", "[]", "null", "NaN", '{"fees":NaN}', '{"a":"\\ud800"}']),
)


class Msg:
    """A message, shown short: Hypothesis shows (and warns about) whole arguments, and a
    megabyte says nothing (the @reproduce_failure line replays it)."""

    __slots__ = ("value",)

    def __init__(self, value: str | bytes) -> None:
        self.value = value

    def __repr__(self) -> str:
        text = repr(self.value)
        return text if len(text) <= 300 else f"<{text[:200]}... ({len(self.value):,} long)>"


@st.composite
def messages(draw: st.DrawFn) -> Msg:
    """What a WebSocket message can be: text, or bytes (a binary frame)."""
    if draw(st.integers(0, 5)) == 0:
        return Msg(draw(st.one_of(mangled(), st.binary(max_size=300))))
    text = draw(texts)
    if draw(st.booleans()):
        return Msg(text.encode("utf-8", "surrogatepass"))
    return Msg(text)


# -- the frame decoder -----------------------------------------------------------------


@FUZZ
@given(messages())
def test_the_frame_decoder_returns_a_frame_of_topics_or_raises_frame_error(
    message: Msg,
) -> None:
    try:
        frame = frames.decode_frame(message.value)
    except frames.FrameError:
        return
    assert isinstance(frame, dict) and len(frame) <= frames.MAX_FRAME_TOPICS
    assert all(contract.is_topic(k) for k in frame)
    assert fastjson.depth_within(frame, fastjson.MAX_DEPTH)
    # Whatever it returns, a UTF-8 line can carry.
    json.dumps(frame, ensure_ascii=False, allow_nan=False).encode()


# -- the contract writer ---------------------------------------------------------------


def decodable(value: Any) -> Any:
    """`value` as the decoder would hand it over (the writer's whole domain), or None
    when the decoder refuses its text."""
    try:
        return fastjson.loads(dumps(value, True))
    except json.JSONDecodeError:
        return None


@FUZZ
@given(odd_keys, values, st.sampled_from(sorted(contract.SOURCES)), st.integers(0, 2**63))
def test_the_contract_writer_writes_one_line_that_reads_back_as_the_record(
    topic: str, value: Any, source: contract.Source, frame_seq: int
) -> None:
    payload = decodable(value)
    try:
        record = contract.Record(
            source, topic, "conn-1", frame_seq, "2026-01-01T00:00:00.000Z", payload
        )
    except contract.ContractError:
        assert not contract.is_topic(topic)
        return
    assert contract.is_topic(topic)
    line = record.to_line()
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert contract.parse_line(line) == record
    # The streamer's encoder writes the same record.
    assert json.loads(fastjson.dumps_line(record.to_dict())) == json.loads(line)


# -- the streamer's message handler ----------------------------------------------------


class NoForgedLines(logging.Handler):
    """Counts log lines that hold a newline (forged from input), keeping nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.forged = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.forged += "\n" in record.getMessage()


@contextlib.contextmanager
def watched_logs() -> Iterator[NoForgedLines]:
    """The clients' loggers to a counting handler only: pytest's capture would keep
    every record, which the memory check below would count."""
    handler = NoForgedLines()
    loggers = [logging.getLogger(n) for n in ("mempool.stream", "ingest.firehose_sink")]
    saved = [(lg.handlers, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.handlers, lg.propagate = [handler], False
    try:
        yield handler
    finally:
        for lg, (handlers, propagate) in zip(loggers, saved, strict=True):
            lg.handlers, lg.propagate = handlers, propagate


def streamer_and_sink(spool_dir: Path) -> tuple[Streamer, FirehoseSink, MemoryS3]:
    s3 = MemoryS3()
    sink = FirehoseSink(
        StubFirehose(), s3, "b", {"stream": "s", "conversions": "c"}, Spool(spool_dir)
    )
    return Streamer("ws://127.0.0.1:9/api/v1/ws", sink), sink, s3


def expected_topics(message: str | bytes) -> list[str]:
    try:
        return list(frames.decode_frame(message))
    except frames.FrameError:
        return [frames.TOPIC_UNPARSED]


def warm_up(streamer: Streamer) -> None:
    """Every path of the handler once: what a first use allocates for good (imports,
    compiled patterns, logging's and orjson's caches) is not what a message leaves."""
    big = json.dumps({"mempoolInfo": "x" * contract.MAX_RECORD_BYTES})
    for seq, message in enumerate([GOOD, "{", b"\xff", '{"a:b":1}', big, "x" * 2_000_000]):
        streamer._on_message(message, "conn-0", seq, frames.SequenceTracker())
    streamer.sink.flush()


GOOD = json.dumps({"mempoolInfo": {"size": 5}, "fees": {"fastestFee": 3}})
# What handling a message may leave allocated for good: orjson caches dict keys (up to
# 2,048 of them), so a message of new keys adds a few dozen KiB; a kept message is more.
HELD_AT_MOST = 256 * 1024


def utf8_cache(message: str | bytes) -> int:
    """What a str message gains when orjson asks for its UTF-8 (CPython keeps it in the
    str, for as long as the message is kept: the frame before, for replays)."""
    if isinstance(message, bytes) or message.isascii():
        return 0
    return len(message.encode("utf-8", "surrogatepass"))


@settings(FUZZ, max_examples=100)
@given(st.lists(messages(), min_size=1, max_size=3))
def test_the_streamer_handles_any_message_and_keeps_nothing_of_it(batch: list[Msg]) -> None:
    with tempfile.TemporaryDirectory() as spool, watched_logs() as logs:
        streamer, sink, s3 = streamer_and_sink(Path(spool))
        warm_up(streamer)
        sink.firehose.delivered.clear()
        sink.firehose.records.clear()
        s3.objects.clear()
        tracker = frames.SequenceTracker()
        for seq, message in enumerate(m.value for m in batch):
            tracemalloc.start()
            try:
                handled = streamer._on_message(message, "conn-1", seq, tracker)
                sink.flush()
                lines = [ln for lines in sink.firehose.delivered.values() for ln in lines]
                stored = dict(s3.objects)
                sink.firehose.delivered.clear()
                sink.firehose.records.clear()
                s3.objects.clear()
                # Every line a contract record; only their keys are kept from here on.
                keys = [contract.parse_line(ln).dedup_key for ln in lines]
                stored_keys = {
                    key: [r.dedup_key for r in contract.iter_ndjson(body)]
                    for key, body in stored.items()
                }
                replayed = [r.dedup_key for r in handled.records()]
                del lines, stored
                gc.collect()
                held, _ = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            # Nothing of the message stays (a Handled keeps its keys, and the text that
            # was allocated before): memory does not grow with what a server sends.
            kept = HELD_AT_MOST + utf8_cache(message)
            assert held < kept, f"{held} bytes held after a {len(message)}-long message"
            assert [topic for _, _, topic in keys] == expected_topics(message)
            assert all(k[:2] == ("conn-1", seq) for k in keys)
            for key, in_object in stored_keys.items():
                # An oversize record: stored whole under a key S3 takes, a pointer sent.
                assert len(key.encode()) <= 1024 and key.isprintable()
                assert len(in_object) == 1 and in_object[0] in keys
            # A replay of the message rebuilds the very same records.
            assert replayed == keys
        assert sink.spool.pending("s") == 0 and logs.forged == 0
        assert streamer.counters.frames == len(batch) + 6


@settings(FUZZ, max_examples=4)
@given(st.lists(messages(), min_size=1, max_size=6))
def test_the_streamer_keeps_its_connection_through_hostile_frames(batch: list[Msg]) -> None:
    """The same messages over a real connection, a good frame after them: one
    connection all along, every message accounted for."""
    from websockets.asyncio.server import ServerConnection, serve

    good = json.dumps({"mempoolInfo": {"size": 5}})
    on_wire = [
        m.value.encode("utf-8", "surrogatepass") if isinstance(m.value, str) else m.value
        for m in batch
    ]

    async def handler(conn: ServerConnection) -> None:
        async for request in conn:
            if json.loads(request).get("track-mempool-block") == 0:
                for message in [*on_wire, good]:
                    await conn.send(message)

    async def scenario(spool: Path) -> tuple[Streamer, list[contract.Record]]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            streamer, sink, _ = streamer_and_sink(spool)
            streamer.url = f"ws://127.0.0.1:{port}/api/v1/ws"
            streamer.opts = StreamerOptions(flush_interval_s=0.1, open_timeout_s=2)
            streamer.backoff = Backoff(base_s=5)
            stop = asyncio.Event()
            run = asyncio.create_task(streamer.run(stop))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 20
            counters = streamer.counters
            while counters.frames + counters.replayed < len(batch) + 1 and not run.done():
                assert loop.time() < deadline, "the streamer stopped handling frames"
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(run, 10)
            firehose: StubFirehose = sink.firehose
            lines = [ln for lines in firehose.delivered.values() for ln in lines]
            return streamer, [contract.parse_line(ln) for ln in lines]

    with tempfile.TemporaryDirectory() as spool, watched_logs():
        streamer, records = asyncio.run(scenario(Path(spool)))
    assert streamer.counters.connections == 1
    # A replayed message (the same bytes twice in a row) goes out again under its keys.
    expected = [t for m in on_wire for t in expected_topics(m)] + ["mempoolInfo"]
    assert sorted(r.topic for r in records) == sorted(expected)


# -- the poller ------------------------------------------------------------------------

PAGE = [
    {"id": f"{height:064x}", "height": height, "timestamp": 1_800_000_000 + 600 * height}
    for height in range(900_029, 900_014, -1)
]


@st.composite
def answers(draw: st.DrawFn, good: Any) -> tuple[bytes, str]:
    """A REST answer: mostly hostile, sometimes the good one, under any content type."""
    content_type = draw(st.sampled_from(["application/json", "text/html", ""]))
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return json.dumps(good).encode(), "application/json"
    if choice == 1 and isinstance(good, list) and good:
        # The good answer with one element broken: a field dropped or of another type.
        broken = [dict(b) if isinstance(b, dict) else b for b in good]
        at = draw(st.integers(0, len(broken) - 1))
        if isinstance(broken[at], dict):
            field = draw(st.sampled_from(["height", "id", "timestamp"]))
            broken[at][field] = draw(values)
        else:
            broken[at] = draw(values)
        return json.dumps(broken, allow_nan=True).encode(), "application/json"
    message = draw(messages()).value
    body = message.encode("utf-8", "surrogatepass") if isinstance(message, str) else message
    return body, content_type


class HostileApi(MempoolApi):
    """The client, its network replaced by answers drawn as the poller asks."""

    def __init__(self, data: st.DataObject) -> None:
        super().__init__("https://mempool.invalid/api")
        object.__setattr__(self, "data", data)

    def _get(
        self, path: str, params: dict[str, Any] | None = None, timeout_s: float | None = None
    ) -> tuple[bytes, str]:
        good: Any = {}
        if path.startswith("/v1/blocks"):
            good = PAGE
        elif path.endswith("/txids"):
            good = ["ab" * 32]
        data: st.DataObject = self.data  # type: ignore[attr-defined]
        answer: tuple[bytes, str] = data.draw(answers(good), label=path)
        return answer


@settings(FUZZ, max_examples=100)
@given(st.data())
def test_the_poller_writes_contract_records_or_skips_whatever_the_api_answers(
    data: st.DataObject,
) -> None:
    s3 = MemoryS3()
    ticks = iter(range(10_000))
    poller = Poller(
        HostileApi(data),
        s3,
        "bucket",
        "state/poller.json",
        PollOptions(lookback_blocks=40, budget_s=30, request_timeout_s=1),
        clock=lambda: float(next(ticks)),
    )
    with watched_logs():
        for _ in range(2):  # a second run starts from the state the first one left
            result = poller.run()
            assert isinstance(result, PollResult)
    for key, body in s3.objects.items():
        if key == "state/poller.json":
            PollState.from_json(body)
        else:
            assert list(contract.iter_ndjson(body))


@FUZZ
@given(st.data())
def test_every_api_call_returns_its_type_or_raises_api_error(data: st.DataObject) -> None:
    api = HostileApi(data)
    checks: list[tuple[Any, type | tuple[type, ...]]] = [
        (api.blocks, list),
        (lambda: api.block_txids("ab" * 32), list),
        (api.tip_height, int),
        (lambda: api.historical_price("USD", 0), dict),
        (api.prices, (dict, list, str, int, float, bool, type(None))),
    ]
    for call, kind in checks:
        try:
            assert isinstance(call(), kind)
        except ApiError:
            pass


# -- the memory bound ------------------------------------------------------------------

WORST_MESSAGES = textwrap.dedent(
    """
    import json, resource, sys, tempfile
    from pathlib import Path

    from ingest import frames
    from tests.test_fuzz import streamer_and_sink

    streamer, sink, s3 = streamer_and_sink(Path(tempfile.mkdtemp()))
    at_rest = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for unit in ('{"":0},', "{},", "[],"):
        # The largest message accepted, of the smallest objects that parse.
        body = unit * ((frames.MAX_FRAME_BYTES - 32) // len(unit))
        message = '{"mempoolInfo":[' + body + "0]}"
        previous = None  # as the connection loop keeps it, for replays
        for seq in range(2):
            previous = streamer._on_message(message, "conn-1", seq, frames.SequenceTracker())
            sink.flush()
            sink.firehose.delivered.clear()
            s3.objects.clear()
        del message, body, previous
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"grew_mib": (peak - at_rest) / 1024}))
    """
)


def test_the_largest_message_the_streamer_accepts_fits_its_instance() -> None:
    """MAX_FRAME_BYTES of the costliest shapes to parse, twice each (the frame before
    is not kept parsed): the streamer grows by at most 360 MiB, which a t4g.nano
    (512 MiB) holds beside the ~100 MiB the streamer takes at rest."""
    out = subprocess.run(
        [sys.executable, "-c", WORST_MESSAGES],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=Path(__file__).resolve().parent.parent,
    )
    grew = json.loads(out.stdout.splitlines()[-1])["grew_mib"]
    assert grew < 360, f"the streamer grew by {grew:.0f} MiB"
