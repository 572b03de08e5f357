"""The streamer's memory while Firehose is down (a benchmark, not a test).

`python -m ingest.stream_main`, unchanged, receives a replay of real-shaped stats
frames while its Firehose endpoint refuses every connection (an outage from the first
frame to the last second of the run). Its resident memory is sampled every half second
and the on-disk spool measured: memory should stay flat while the spool grows, however
long the outage lasts.

    python -m benchmarks.outage --seconds 120 --frames 20000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.stack import report
from benchmarks.streamer import last_counters, replay_server_process
from sandbox import aws_local
from sandbox.services import free_port, port_open


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run(seconds: float, frames: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
        spool = Path(tmp) / "spool"
        port = free_port()
        mark = Path(tmp) / "first-frame"
        server = replay_server_process(frames, port, mark)
        while not port_open("127.0.0.1", port):
            time.sleep(0.05)
        # Nothing listens on the Firehose port: every call fails, for the whole run.
        dead = f"http://127.0.0.1:{free_port()}"
        env = {
            **os.environ,
            **aws_local.client_env(dead),
            "MEMPOOL_BUCKET": "bench-outage",
            "MEMPOOL_WS_URL": f"ws://127.0.0.1:{port}/api/v1/ws",
            "MEMPOOL_STREAM_DELIVERY": "bench-outage-stream",
            "MEMPOOL_CONVERSIONS_DELIVERY": "bench-outage-conversions",
            "MEMPOOL_SPOOL_DIR": str(spool),
        }
        streamer = subprocess.Popen(
            [sys.executable, "-m", "ingest.stream_main"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(Path(tmp) / "streamer.log").open("wb"),
        )
        samples: list[tuple[float, float, int]] = []
        try:
            while not mark.exists():
                time.sleep(0.05)
            started = time.monotonic()
            while (elapsed := time.monotonic() - started) < seconds:
                samples.append((elapsed, rss_mib(streamer.pid), folder_bytes(spool)))
                time.sleep(0.5)
        finally:
            streamer.terminate()
            streamer.wait(timeout=60)
            server.terminate()
            server.wait()
            counters = last_counters(Path(tmp) / "streamer.log")
    early = [rss for t, rss, _ in samples if t >= 10][:1] or [samples[0][1]]
    return {
        "seconds": seconds,
        "frames_replayed": frames,
        "rss_mib_at_10_s": round(early[0], 1),
        "rss_mib_at_end": round(samples[-1][1], 1),
        "peak_rss_mib": round(max(rss for _, rss, _ in samples), 1),
        "spool_mib_at_end": round(samples[-1][2] / 2**20, 1),
        "streamer_counters": counters,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)
    return report(run(args.seconds, args.frames), args.json)


if __name__ == "__main__":
    raise SystemExit(main())
