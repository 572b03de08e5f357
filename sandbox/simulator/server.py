"""`mempool sim`: one loopback server that speaks mempool.space's WebSocket
(`/api/v1/ws`) and REST (`/api/...`) as our clients use them.

The model runs on the wall clock; `--speed` makes the network that many times as busy
(blocks, transactions and prices more often), never its clock run ahead. Every event
is fanned out to the connected clients according to what each asked for, framed as
mempool/mempool's backend frames it (each rule cites the function it mirrors), and
written to the ground-truth file that `mempool verify` reads. `--chaos` adds reorgs of
depth 1-3, blocks that leave nothing to project (sequence gaps), server restarts,
dropped connections, 429s with an HTML body, 5xx and slow responses, and one transport
fault the real server never makes: a frame delivered twice.

Length: mempool.space's WebSocket and REST framing rules, each citing its backend function.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import re
import signal
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from sandbox.simulator import prices
from sandbox.simulator.model import ChaosPlan, Event, Model, Update
from sandbox.simulator.truth import TruthWriter

log = logging.getLogger("mempool.sim")

WS_PATH = "/api/v1/ws"
MAX_CLIENT_MESSAGE = 50_000
# backend/src/config.ts: the blocks sent on `init` and `want`.
INITIAL_BLOCKS_AMOUNT = 8


@dataclass
class SimOptions:
    seed: int = 1
    speed: float = 10.0
    host: str = "127.0.0.1"
    port: int = 0
    chaos: bool = False
    truth_path: Path | None = None
    start_time: int | None = None
    history_blocks: int = 24
    start_race: bool = True


@dataclass
class ChaosRates:
    """Probabilities per event (WebSocket) or per request (REST)."""

    drop_connection: float = 0.0
    replay_frame: float = 0.0
    http_429: float = 0.0
    http_5xx: float = 0.0
    slow_response: float = 0.0

    @classmethod
    def for_chaos(cls, enabled: bool) -> ChaosRates:
        if not enabled:
            return cls()
        return cls(
            drop_connection=0.002,
            replay_frame=0.02,
            http_429=0.05,
            http_5xx=0.03,
            slow_response=0.03,
        )


@dataclass(eq=False)
class Client:
    conn: ServerConnection
    wants: set[str] = field(default_factory=set)
    track_index: int | None = None


def frame_for(
    model: Model, wants: set[str], track_index: int | None, event: Event
) -> dict[str, Any]:
    """The frame a client with these subscriptions receives for one model event.

    Mirrors websocket-handler.ts: `$handleMempoolChange` (stats with the latest
    transactions, mempool-blocks, the projected block's delta), `handleNewBlock` (the
    block with stats, mempool-blocks and block 0 as a delta or full set, in one frame),
    `handleReorg` (the rebuilt block cache and `da`, the new tip in the next frame) and
    `handleNewStatistic` (`live-2h-chart`).
    """
    frame: dict[str, Any] = {}
    if event.kind == "live2h":
        if "live-2h-chart" in wants:
            frame["live-2h-chart"] = event.data
        return frame
    if event.kind == "reorg":
        if "blocks" in wants:
            frame["blocks"] = event.data["blocks"]
        if "stats" in wants:
            frame["da"] = model.difficulty_adjustment()
        return frame
    if event.kind not in ("update", "block"):
        return frame
    update: Update | None = event.data if event.kind == "update" else event.update
    if event.kind == "block" and "blocks" in wants:
        frame["block"] = event.data.to_api()
    if "stats" in wants and update is not None:
        # The mempool as of the event, which is what the frame reports.
        frame["mempoolInfo"] = update.mempool_info
        frame["vBytesPerSecond"] = update.vbytes_per_s
        if event.kind == "update":
            frame["transactions"] = model.latest_transactions()
        frame["fees"] = model.recommended_fees()
        frame["da"] = model.difficulty_adjustment()
    if "mempool-blocks" in wants:
        frame["mempool-blocks"] = model.mempool_blocks()
    if track_index == 0 and update is not None and (payload := update.payload()) is not None:
        frame["projected-block-transactions"] = payload
    return frame


def _json_response(body: Any, status: int = 200) -> Response:
    data = json.dumps(body).encode()
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return Response(status, HTTPStatus(status).phrase, headers, data)


def _text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    data = text.encode()
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return Response(status, HTTPStatus(status).phrase, headers, data)


def clock_file(truth_path: Path | None) -> Path | None:
    return None if truth_path is None else truth_path.with_name("simulator-clock.json")


def resume_clock(opts: SimOptions) -> tuple[int, float]:
    """(simulated start time, wall-clock start) for this run.

    With a truth file, the simulator's clock lives beside it: a restart with the same
    seed and speed continues the same chain at the same simulated time (it replays
    from the seed, so every block keeps its hash), instead of starting another one.
    """
    now = time.time()
    path = clock_file(opts.truth_path)
    if opts.start_time is not None or path is None:
        return (opts.start_time if opts.start_time is not None else int(now)), now
    try:
        saved = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        saved = None
    if saved and saved.get("seed") == opts.seed and saved.get("speed") == opts.speed:
        log.info("resuming the chain of seed %d started at %s", opts.seed, saved["wall_start"])
        return int(saved["start_time"]), float(saved["wall_start"])
    if saved:
        log.warning(
            "%s holds a chain made with seed %s at speed %s; seed %d at speed %s makes "
            "another one, and the old blocks will show as stale (start with --fresh)",
            path.parent,
            saved.get("seed"),
            saved.get("speed"),
            opts.seed,
            opts.speed,
        )
    clock = {"seed": opts.seed, "speed": opts.speed, "start_time": int(now), "wall_start": now}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clock))
    return int(now), now


def busier(speed: float, chaos: ChaosPlan) -> dict[str, Any]:
    """At `--speed S` the network is S times as busy, not S times as fast: blocks every
    600/S seconds, S times the transactions, prices every 300/S seconds, and every time it
    serves (block headers, prices, the mempool chart) is the wall clock's. Data from a
    clock running ahead would be data from the future, which the warehouse rightly
    quarantines."""
    defaults = {f.name: f.default for f in dataclasses.fields(Model)}

    def scaled(name: str, factor: float) -> float:
        return float(defaults[name]) * factor  # type: ignore[arg-type]

    return {
        "tx_per_s": scaled("tx_per_s", speed),
        "block_interval_s": scaled("block_interval_s", 1 / speed),
        "update_interval_s": scaled("update_interval_s", 1 / speed),
        "conversions_interval_s": scaled("conversions_interval_s", 1 / speed),
        "chaos": dataclasses.replace(chaos, restart_every_s=chaos.restart_every_s / speed),
    }


class Simulator:
    def __init__(self, opts: SimOptions) -> None:
        self.opts = opts
        start, wall_start = resume_clock(opts)
        plan = (
            ChaosPlan(reorg_probability=0.25, restart_every_s=1500, clearing_block_probability=0.1)
            if opts.chaos
            else ChaosPlan()
        )
        self.model = Model(
            seed=opts.seed,
            start_time=start,
            history_blocks=opts.history_blocks,
            start_race=opts.start_race,
            **busier(opts.speed, plan),
        )
        self.chaos = ChaosRates.for_chaos(opts.chaos)
        self.chaos_rng = random.Random(opts.seed * 7919 + 1)
        self.clients: set[Client] = set()
        self.truth = TruthWriter(opts.truth_path)
        # The simulated clock is the wall clock, across restarts (see `busier`).
        self.real_start = time.monotonic() - (time.time() - wall_start)
        self.latest_conversions = prices.conversions(opts.seed, start)
        self.counters = {
            "connections": 0,
            "frames": 0,
            "rest_requests": 0,
            "rest_errors": 0,
            "dropped": 0,
            "replayed": 0,
            "restarts": 0,
        }
        self.truth.history(self.model.chain)
        self.port = 0
        self.stopping = False

    # -- time ----------------------------------------------------------------------------

    def sim_now(self) -> float:
        return self.model.start_time + (time.monotonic() - self.real_start)

    async def clock(self) -> None:
        while not self.stopping:
            for event in self.model.advance(self.sim_now()):
                await self.dispatch(event)
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        """From a signal handler, between two bytecodes: nothing is served after the
        ground truth's final line, so the truth holds everything that went out. A signal
        that lands while the main thread is itself writing the truth (a flush retried
        after EINTR runs the handler) finds the buffered file refusing a reentrant write:
        the final line is then written as serve() ends, nothing having been served since
        (`stopping` turns requests away and ends the clock)."""
        self.stopping = True
        with contextlib.suppress(RuntimeError):
            self.truth.close(self.model)

    # -- WebSocket -----------------------------------------------------------------------

    async def handle(self, conn: ServerConnection) -> None:
        client = Client(conn)
        self.clients.add(client)
        self.counters["connections"] += 1
        try:
            async for message in conn:
                if isinstance(message, bytes) or len(message) > MAX_CLIENT_MESSAGE:
                    await conn.close(1009, "message too big")
                    return
                try:
                    request = json.loads(message)
                except json.JSONDecodeError:
                    await conn.close(1003, "unparsable message")
                    return
                await self.on_message(client, request)
        except ConnectionClosed:
            pass
        finally:
            self.clients.discard(client)

    async def on_message(self, client: Client, request: dict[str, Any]) -> None:
        """One client message, answered as websocket-handler.ts does: the init data in a
        frame of its own, then one frame with everything the message asked for."""
        m = self.model
        reply: dict[str, Any] = {}
        action = request.get("action")
        if action == "init":
            await self.send(client, self.init_snapshot())
        if action == "ping":
            reply["pong"] = True
        if action == "want":
            new = set(request.get("data") or [])
            fresh = new - client.wants
            client.wants = new
            # `want` answers blocks, mempool-blocks and stats at once; `live-2h-chart` is
            # only pushed with the next statistic (`handleNewStatistic`).
            if "blocks" in fresh:
                reply["blocks"] = m.blocks_view()[-INITIAL_BLOCKS_AMOUNT:]
            if "mempool-blocks" in fresh:
                reply["mempool-blocks"] = m.mempool_blocks()
            if "stats" in fresh:
                stats = m.stats_payloads()
                reply.update(
                    {k: stats[k] for k in ("mempoolInfo", "vBytesPerSecond", "fees", "da")}
                )
        if request.get("refresh-blocks"):
            reply["blocks"] = m.blocks_view()[-INITIAL_BLOCKS_AMOUNT:]
        if "track-mempool-block" in request:
            index = request["track-mempool-block"]
            if isinstance(index, int) and not isinstance(index, bool) and 0 <= index <= 7:
                client.track_index = index
                reply["projected-block-transactions"] = m.full_set_payload(index)
            else:
                client.track_index = None
        if reply:
            await self.send(client, reply)

    def init_snapshot(self) -> dict[str, Any]:
        """The init data, with the keys `updateSocketData` and `$handleMempoolChange` keep."""
        m = self.model
        stats = m.stats_payloads()
        return {
            "backend": "esplora",
            **{k: v for k, v in stats.items() if k != "fees"},
            "blocks": m.blocks_view()[-INITIAL_BLOCKS_AMOUNT:],
            "conversions": self.latest_conversions,
            "mempool-blocks": m.mempool_blocks(),
            "transactions": m.latest_transactions(),
            "backendInfo": {
                "hostname": "simulator",
                "version": "3.1.0-sim",
                "gitCommit": "sim",
                "lightning": False,
            },
            "loadingIndicators": {},
            "fees": stats["fees"],
            "rbfSummary": [],
        }

    async def send(self, client: Client, frame: dict[str, Any], epoch: int | None = None) -> None:
        if self.stopping:
            return
        text = json.dumps(frame)
        try:
            await client.conn.send(text)
            self.counters["frames"] += 1
            self.truth.served_frame(frame, self.model.epoch if epoch is None else epoch)
            # A transport fault, not server behaviour: mempool.space never sends a frame
            # twice, but a replaying proxy or a retrying load balancer can deliver one twice.
            if self.chaos_rng.random() < self.chaos.replay_frame:
                await client.conn.send(text)
                self.counters["replayed"] += 1
        except ConnectionClosed:
            self.clients.discard(client)

    async def dispatch(self, event: Event) -> None:
        m = self.model
        self.truth.event(event, m)
        if event.kind == "restart":
            # A restarted mempool.space drops every connection and counts from 0 again.
            self.counters["restarts"] += 1
            for client in list(self.clients):
                await client.conn.close(1012, "service restart")
            return
        if event.kind == "conversions":
            self.latest_conversions = event.data
            for client in list(self.clients):
                await self.send(client, {"conversions": event.data})
            return
        if self.clients and self.chaos_rng.random() < self.chaos.drop_connection:
            victim = self.chaos_rng.choice(sorted(self.clients, key=id))
            self.counters["dropped"] += 1
            await victim.conn.close(1011, "chaos: dropped")
        update = event.data if event.kind == "update" else event.update
        for client in list(self.clients):
            frame = frame_for(m, client.wants, client.track_index, event)
            if frame:
                await self.send(client, frame, update.epoch if update else None)

    # -- REST ----------------------------------------------------------------------------

    async def process_request(self, conn: ServerConnection, request: Request) -> Response | None:
        path = urlsplit(request.path).path
        if self.stopping:
            return _text_response("stopping", 503, "text/plain")
        if path == WS_PATH:
            return None
        self.counters["rest_requests"] += 1
        roll = self.chaos_rng.random()
        if roll < self.chaos.http_429:
            self.counters["rest_errors"] += 1
            return _text_response(
                "<html><body><h1>429 Too Many Requests</h1></body></html>", 429, "text/html"
            )
        if roll < self.chaos.http_429 + self.chaos.http_5xx:
            self.counters["rest_errors"] += 1
            return _text_response("<html><body>502 Bad Gateway</body></html>", 502, "text/html")
        if roll < self.chaos.http_429 + self.chaos.http_5xx + self.chaos.slow_response:
            await asyncio.sleep(3.0)
        return self.rest(request.path)

    def rest(self, raw_path: str) -> Response:
        m = self.model
        parts = urlsplit(raw_path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/api/blocks/tip/height":
            return _text_response(str(m.tip.height))
        if path == "/api/blocks/tip/hash":
            return _text_response(m.tip.hash)
        if match := re.fullmatch(r"/api/v1/blocks(?:/(\d+))?", path):
            start = int(match.group(1)) if match.group(1) else m.tip.height
            blocks = [b for h in range(start, start - 15, -1) if (b := m.block_at(h))]
            for block in blocks:
                self.truth.served("block", hash=block.hash)
            return _json_response([b.to_api() for b in blocks])
        if match := re.fullmatch(r"/api/v1/block/([0-9a-f]{64})", path):
            found = m.by_hash.get(match.group(1))
            if found is None:
                return _text_response("Block not found", 404)
            body = found.to_api()
            self.truth.served("block", hash=found.hash)
            if found.stale:
                canonical = m.block_at(found.height)
                body["canonical"] = canonical.hash if canonical else None
            return _json_response(body)
        if match := re.fullmatch(r"/api/block/([0-9a-f]{64})/txids", path):
            found = m.by_hash.get(match.group(1))
            if found is None:
                return _text_response("Block not found", 404)
            return _json_response(found.api_txids())
        if match := re.fullmatch(r"/api/block-height/(\d+)", path):
            at = m.block_at(int(match.group(1)))
            return (
                _text_response(at.hash) if at else _text_response("Block height out of range", 404)
            )
        if path == "/api/v1/prices":
            self.truth.served("price", time=self.latest_conversions["time"])
            return _json_response(self.latest_conversions)
        if path == "/api/v1/historical-price":
            currency = query.get("currency", ["USD"])[0]
            ts = int(query.get("timestamp", [str(int(m.now))])[0])
            return _json_response(prices.historical_price(self.opts.seed, currency, ts))
        if path == "/api/v1/fees/recommended":
            return _json_response(m.recommended_fees(whole=True))
        if path == "/api/v1/fees/mempool-blocks":
            return _json_response(m.mempool_blocks())
        if path == "/api/mempool":
            return _json_response(m.rest_mempool())
        if path == "/api/v1/difficulty-adjustment":
            return _json_response(m.difficulty_adjustment())
        if path == "/api/v1/init-data":
            return _json_response(self.init_snapshot())
        return _text_response("Not found", 404)

    # -- lifecycle -----------------------------------------------------------------------

    async def serve(
        self, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None
    ) -> None:
        stop = stop or asyncio.Event()
        async with serve(
            self.handle,
            self.opts.host,
            self.opts.port,
            process_request=self.process_request,
            max_size=2**20,
            ping_interval=None,
            close_timeout=2,
        ) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            log.info(
                "simulator on http://%s:%d (ws %s), seed %d, speed %.1fx%s",
                self.opts.host,
                self.port,
                WS_PATH,
                self.opts.seed,
                self.opts.speed,
                ", chaos" if self.opts.chaos else "",
            )
            if ready:
                ready.set()
            clock = asyncio.create_task(self.clock())
            try:
                await stop.wait()
            finally:
                clock.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await clock
                self.truth.close(self.model)
                log.info("simulator stopped: %s", self.counters)


def run(opts: SimOptions) -> int:
    async def main() -> None:
        sim = Simulator(opts)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int, frame: Any) -> None:
            # The ground truth is complete the moment a stop is asked for, even while the
            # event loop is busy catching up (an asyncio handler waits for the loop: on a
            # loaded machine the supervisor's SIGKILL came first and the final line was
            # never written). Python runs this between two bytecodes of the main thread,
            # so never inside the write of another truth line.
            try:
                sim.stop()
            finally:
                loop.call_soon_threadsafe(stop.set)

        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)
        await sim.serve(stop=stop)

    asyncio.run(main())
    return 0
