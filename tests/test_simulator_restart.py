"""A seed means one chain: whenever the simulator starts, and across a restart on the
same workspace. And its ground truth is complete whenever it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from sandbox.pipeline import simulator_argv
from sandbox.services import free_port, http_ok
from sandbox.simulator.model import Model
from sandbox.simulator.server import SimOptions, Simulator, clock_file
from sandbox.simulator.truth import read_truth


def hashes(model: Model) -> list[str]:
    return [b.hash for b in model.chain]


def test_the_same_seed_makes_the_same_chain_at_any_start_time() -> None:
    early = Model(seed=11, start_time=1_700_000_000, history_blocks=10, tx_per_s=0.2)
    late = Model(seed=11, start_time=1_800_000_000, history_blocks=10, tx_per_s=0.2)
    assert hashes(early) == hashes(late)
    early.advance(early.now + 3 * 3600)
    late.advance(late.now + 3 * 3600)
    assert len(early.chain) > 10 and hashes(early) == hashes(late)
    other = Model(seed=12, start_time=1_700_000_000, history_blocks=10, tx_per_s=0.2)
    assert hashes(other) != hashes(late)


def test_a_restarted_simulator_continues_its_chain(tmp_path: Path) -> None:
    """After a restart (or a killed demo) the simulator used to start another chain:
    GOLD then matched 0 of 25 heights of the ground truth."""
    opts = SimOptions(seed=4, speed=600.0, truth_path=tmp_path / "truth.jsonl", history_blocks=6)
    first = Simulator(opts)
    until = first.model.start_time + 1800 / opts.speed  # three blocks' time
    first.model.advance(until)
    seen = hashes(first.model)
    first.truth.close(first.model)
    assert json.loads(clock_file(opts.truth_path).read_text())["seed"] == 4  # type: ignore[union-attr]

    time.sleep(0.5)
    again = Simulator(opts)
    assert again.model.start_time == first.model.start_time
    assert again.sim_now() >= first.model.start_time + 0.5  # time went on
    again.model.advance(until)
    assert hashes(again.model) == seen
    assert sorted(again.model.mempool) == sorted(first.model.mempool)
    again.truth.close(again.model)

    other = Simulator(SimOptions(seed=5, speed=600.0, truth_path=opts.truth_path))
    other.truth.close(other.model)
    assert hashes(other.model)[0] != seen[0]


def test_sigterm_completes_the_ground_truth_at_once(tmp_path: Path) -> None:
    """With a client that stopped reading, the final line used to be missing."""
    import asyncio

    from websockets.asyncio.client import connect

    port = free_port()
    truth = tmp_path / "truth.jsonl"
    proc = subprocess.Popen(
        simulator_argv(port, "--seed", "3", "--speed", "120", "--truth", str(truth)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
    )
    try:
        deadline = time.monotonic() + 30
        while not http_ok(f"http://127.0.0.1:{port}/api/blocks/tip/height", timeout_s=1.0):
            assert time.monotonic() < deadline
            time.sleep(0.2)

        async def subscribe_and_stall() -> None:
            async with connect(f"ws://127.0.0.1:{port}/api/v1/ws", max_queue=1) as ws:
                await ws.send(json.dumps({"action": "want", "data": ["blocks", "stats"]}))
                await ws.send(json.dumps({"track-mempool-block": 0}))
                await asyncio.sleep(3)  # reads nothing: the server's sends back up
                started = time.monotonic()
                proc.send_signal(signal.SIGTERM)
                while proc.poll() is None and time.monotonic() - started < 8:
                    await asyncio.sleep(0.1)

        asyncio.run(subscribe_and_stall())
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = read_truth(truth)
    assert lines[-1]["kind"] == "final" and lines[-1]["canonical"]


class Reentrant:
    """A truth file caught mid-write by the stop signal, as a buffered file is when a
    flush retried after EINTR runs the handler: it refuses the handler's write once."""

    def __init__(self, file: Any) -> None:
        self.file, self.refused = file, False

    def write(self, text: str) -> int:
        if not self.refused:
            self.refused = True
            raise RuntimeError("reentrant call inside <_io.BufferedWriter name='truth.jsonl'>")
        return int(self.file.write(text))

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


def test_a_stop_signal_during_a_truth_write_still_ends_the_truth_with_its_final_line(
    tmp_path: Path,
) -> None:
    """The handler's close raised out of the signal handler: the event loop was never told
    to stop, the supervisor killed the simulator, and the truth had no final line (the
    bounded demo test failed on it). Now the handler stops serving whatever happens, and
    the final line is written as serve() ends."""
    opts = SimOptions(seed=4, speed=600.0, truth_path=tmp_path / "truth.jsonl", history_blocks=6)
    sim = Simulator(opts)
    sim.truth._file = Reentrant(sim.truth._file)  # type: ignore[assignment]
    sim.stop()  # what the signal handler calls
    assert sim.stopping
    sim.truth.close(sim.model)  # what serve() does as it ends
    kinds = [json.loads(line)["kind"] for line in opts.truth_path.read_text().splitlines()]
    assert kinds[-1] == "final" and kinds.count("final") == 1
